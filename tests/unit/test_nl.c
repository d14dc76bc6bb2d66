/* Unit tests for net/nl: CIDR parsing, then rtnetlink against the real kernel. Each
 * test runs in network namespaces of its own, held only by file descriptors: the test
 * process enters "host" for the test and returns in teardown, so nothing is left behind
 * and the root namespace's links are never touched. Traffic (ping) stays inside them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "base/util.h"
#include "net/nl.h"

struct fx {
	int orig;	/* the namespace we came from */
	int host, b, c; /* fresh namespaces: "host" (the test runs here), two "containers" */
	struct net_nl *nl;
};

static int ns_new(int orig)
{
	int fd;

	assert_int_equal(unshare(CLONE_NEWNET), 0);
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(setns(orig, CLONE_NEWNET), 0);
	return fd;
}

static char *ns_path(int fd)
{
	return xasprintf("/proc/self/fd/%d", fd);
}

static void lo_up(struct net_nl *nl)
{
	struct net_link_change c = {.up = 1, .netns_fd = -1};
	struct err err = {0};

	assert_int_equal(net_link_set(nl, 1, &c, &err), 0);
}

/* Runs sh -c cmd inside namespace fd; returns the exit status, output in *out if asked. */
static int run_in(int fd, const char *cmd, char **out)
{
	int p[2];
	pid_t pid;
	char *buf = xcalloc(1, 65536);
	size_t len = 0;
	ssize_t n;
	int st;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setns(fd, CLONE_NEWNET) < 0)
			_exit(126);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], buf + len, 65535 - len)) > 0)
		len += n;
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static bool out_has(int fd, const char *cmd, const char *needle)
{
	_cleanup_free_ char *out = NULL;

	run_in(fd, cmd, &out);
	if (!strstr(out, needle)) {
		print_message("'%s' output lacks '%s':\n%s\n", cmd, needle, out);
		return false;
	}
	return true;
}

static bool out_lacks(int fd, const char *cmd, const char *needle)
{
	_cleanup_free_ char *out = NULL;

	run_in(fd, cmd, &out);
	if (strstr(out, needle)) {
		print_message("'%s' output has '%s':\n%s\n", cmd, needle, out);
		return false;
	}
	return true;
}

static int setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	struct err err = {0};

	fx->orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(fx->orig >= 0);
	fx->host = ns_new(fx->orig);
	fx->b = ns_new(fx->orig);
	fx->c = ns_new(fx->orig);
	assert_int_equal(setns(fx->host, CLONE_NEWNET), 0);
	assert_int_equal(net_nl_open(&fx->nl, &err), 0);
	lo_up(fx->nl);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	net_nl_close(fx->nl);
	assert_int_equal(setns(fx->orig, CLONE_NEWNET), 0);
	close(fx->host), close(fx->b), close(fx->c), close(fx->orig);
	free(fx);
	return 0;
}

static struct in_addr ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static int idx(struct net_nl *nl, const char *name)
{
	struct err err = {0};
	int i = net_link_index(nl, name, &err);

	if (i < 0)
		print_message("%s\n", err.msg);
	assert_true(i > 0);
	return i;
}

/* ---- pure ---- */

static void test_cidr_parse(void **state)
{
	struct err err = {0};
	struct in_addr a;
	int p;

	assert_int_equal(net_cidr_parse("10.1.2.0/24", &a, &p, &err), 0);
	assert_int_equal(a.s_addr, ip4("10.1.2.0").s_addr);
	assert_int_equal(p, 24);
	assert_int_equal(net_cidr_parse("0.0.0.0/0", &a, &p, &err), 0);
	assert_int_equal(p, 0);
	assert_int_equal(net_cidr_parse("10.1.2.3/32", &a, &p, &err), 0);

	assert_int_equal(net_cidr_parse("10.1.2.3/24", &a, &p, &err), -EINVAL);
	assert_string_equal(err.msg, "CIDR '10.1.2.3/24': host bits set");
	static const char *bad[] = {"10.1.2.0",
				    "10.1.2.0/33",
				    "/24",
				    "a/24",
				    "10.1.2.0/",
				    "10.1.2.0/-1",
				    "10.1.2.0/ 8",
				    "10.1.2/24",
				    "10.1.2.0/024",
				    "10.1.2.0/8x",
				    "",
				    "256.1.1.0/24"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err_clear(&err);
		assert_int_equal(net_cidr_parse(bad[i], &a, &p, &err), -EINVAL);
		assert_non_null(strstr(err.msg, bad[i]));
	}
	assert_int_equal(net_cidr_parse(NULL, &a, &p, &err), -EINVAL);

	assert_int_equal(net_addr_parse("10.1.2.3/24", &a, &p, &err), 0);
	assert_int_equal(a.s_addr, ip4("10.1.2.3").s_addr);
	assert_int_equal(p, 24);
	assert_int_equal(net_addr_parse("10.1.2.3", &a, &p, &err), -EINVAL);
	assert_int_equal(net_addr_parse("10.1.2.3/40", &a, &p, &err), -EINVAL);
	assert_string_equal(err.msg, "address '10.1.2.3/40': prefix length must be 0..32");
}

/* ---- kernel ---- */

static void test_open_ns(void **state)
{
	struct fx *fx = *state;
	struct err err = {0};
	struct net_nl *nl = NULL;
	struct stat before, after;
	_cleanup_free_ char *path = ns_path(fx->b);

	assert_int_equal(stat("/proc/thread-self/ns/net", &before), 0);
	assert_int_equal(net_nl_open_ns(path, &nl, &err), 0);
	assert_int_equal(stat("/proc/thread-self/ns/net", &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	/* the handle works in b: its lo is there and comes up */
	lo_up(nl);
	assert_int_equal(net_link_index(nl, "lo", &err), 1);
	net_nl_close(nl);

	assert_true(net_nl_open_ns("/nonexistent/ns", &nl, &err) < 0);
	assert_string_equal(err.msg,
			    "open network namespace '/nonexistent/ns': No such file or directory");
	/* a path that is not a netns: setns fails, we are still home */
	assert_int_equal(net_nl_open_ns("/proc/self/ns/mnt", &nl, &err), -EINVAL);
	assert_int_equal(stat("/proc/thread-self/ns/net", &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
}

/* bridge in host, a veth into each of b and c (as eth0), addresses, routes, ping */
static void plumb(struct fx *fx, struct net_nl *nlb, struct net_nl *nlc)
{
	struct err err = {0};
	struct net_link_change up = {.up = 1, .master = 0, .netns_fd = -1};
	int br, v1, v2;

	assert_int_equal(net_bridge_add(fx->nl, "cbr-t", 1450, &err), 0);
	br = idx(fx->nl, "cbr-t");
	assert_int_equal(net_veth_add(fx->nl, "vt1", "eth0", fx->b, 1450, &err), 0);
	assert_int_equal(net_veth_add(fx->nl, "vt2", "eth0", fx->c, 1450, &err), 0);
	v1 = idx(fx->nl, "vt1");
	v2 = idx(fx->nl, "vt2");
	struct net_link_change port = {.up = 1, .master = br, .netns_fd = -1};
	assert_int_equal(net_link_set(fx->nl, v1, &port, &err), 0);
	assert_int_equal(net_link_set(fx->nl, v2, &port, &err), 0);
	assert_int_equal(net_link_set(fx->nl, br, &up, &err), 0);
	assert_int_equal(net_addr_add(fx->nl, br, ip4("10.77.0.1"), 24, &err), 0);
	/* again: replace, not an error */
	assert_int_equal(net_addr_add(fx->nl, br, ip4("10.77.0.1"), 24, &err), 0);

	int e0 = idx(nlb, "eth0");
	assert_int_equal(net_link_set(nlb, e0, &up, &err), 0);
	assert_int_equal(net_addr_add(nlb, e0, ip4("10.77.0.2"), 24, &err), 0);
	assert_int_equal(net_route_set(nlb, ip4("0.0.0.0"), 0, ip4("10.77.0.1"), e0, false, &err),
			 0);
	e0 = idx(nlc, "eth0");
	assert_int_equal(net_link_set(nlc, e0, &up, &err), 0);
	assert_int_equal(net_addr_add(nlc, e0, ip4("10.77.0.3"), 24, &err), 0);
}

static void test_bridge_veth(void **state)
{
	struct fx *fx = *state;
	struct err err = {0};
	struct net_nl *nlb = NULL, *nlc = NULL;
	_cleanup_free_ char *pb = ns_path(fx->b), *pc = ns_path(fx->c);
	char **names = NULL;

	assert_int_equal(net_nl_open_ns(pb, &nlb, &err), 0);
	assert_int_equal(net_nl_open_ns(pc, &nlc, &err), 0);
	lo_up(nlb);
	lo_up(nlc);
	plumb(fx, nlb, nlc);

	assert_true(out_has(fx->host, "ip -o link show cbr-t", "mtu 1450"));
	assert_true(out_has(fx->host, "ip -o link show vt1", "master cbr-t"));
	assert_true(out_has(fx->b, "ip -o link show eth0", "mtu 1450"));
	assert_true(out_has(fx->b, "ip -o link show eth0", "state UP"));
	assert_true(out_has(fx->b, "ip -o addr show eth0", "inet 10.77.0.2/24"));
	assert_true(
	    out_has(fx->b, "ip route show default", "default via 10.77.0.1 dev eth0 proto static"));

	/* the two namespaces talk through the bridge, and to the bridge's address */
	assert_int_equal(run_in(fx->b, "busybox ping -c1 -W2 10.77.0.3 >/dev/null", NULL), 0);
	assert_int_equal(run_in(fx->c, "busybox ping -c1 -W2 10.77.0.1 >/dev/null", NULL), 0);

	/* hairpin */
	int v1 = idx(fx->nl, "vt1");
	assert_true(out_has(fx->host, "bridge -d link show dev vt1", "hairpin off"));
	assert_int_equal(net_bridge_port_hairpin(fx->nl, v1, true, &err), 0);
	assert_true(out_has(fx->host, "bridge -d link show dev vt1", "hairpin on"));
	assert_int_equal(net_bridge_port_hairpin(fx->nl, v1, false, &err), 0);
	assert_true(out_has(fx->host, "bridge -d link show dev vt1", "hairpin off"));

	/* MAC read back agrees with ip */
	uint8_t mac[6];
	char text[32];
	assert_int_equal(net_link_mac(nlb, idx(nlb, "eth0"), mac, &err), 0);
	snprintf(text, sizeof(text), "link/ether %02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
	assert_true(out_has(fx->b, "ip -o link show eth0", text));
	assert_int_equal(net_link_mac(nlb, 1, mac, &err), 0); /* lo: all zeros, 6 bytes */

	/* onlink route to a next hop not on any subnet; replace is idempotent */
	int e0 = idx(nlb, "eth0");
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		    net_route_set(nlb, ip4("10.99.0.0"), 24, ip4("10.200.0.1"), e0, true, &err), 0);
	assert_true(out_has(fx->b, "ip route show 10.99.0.0/24",
			    "via 10.200.0.1 dev eth0 proto static onlink"));
	struct in_addr none = {0};
	assert_int_equal(net_route_set(nlb, ip4("10.98.0.0"), 16, none, e0, false, &err), 0);
	assert_true(
	    out_has(fx->b, "ip route show 10.98.0.0/16", "dev eth0 proto static scope link"));
	assert_int_equal(net_route_del(nlb, ip4("10.98.0.0"), 16, e0, &err), 0);
	assert_int_equal(net_route_del(nlb, ip4("10.98.0.0"), 16, e0, &err), 0); /* gone: ok */
	assert_true(out_lacks(fx->b, "ip route show 10.98.0.0/16", "10.98"));

	/* permanent neighbour */
	uint8_t nmac[6] = {0x02, 0x42, 0x0a, 0x4d, 0x00, 0x09};
	assert_int_equal(net_neigh_set(nlb, e0, ip4("10.77.0.9"), nmac, &err), 0);
	assert_int_equal(net_neigh_set(nlb, e0, ip4("10.77.0.9"), nmac, &err), 0);
	assert_true(
	    out_has(fx->b, "ip neigh show 10.77.0.9", "lladdr 02:42:0a:4d:00:09 PERMANENT"));
	assert_int_equal(net_neigh_del(nlb, e0, ip4("10.77.0.9"), &err), 0);
	assert_int_equal(net_neigh_del(nlb, e0, ip4("10.77.0.9"), &err), 0);

	/* address removal */
	assert_int_equal(net_addr_del(nlc, idx(nlc, "eth0"), ip4("10.77.0.3"), 24, &err), 0);
	assert_int_equal(net_addr_del(nlc, idx(nlc, "eth0"), ip4("10.77.0.3"), 24, &err), 0);
	assert_true(out_lacks(fx->c, "ip -o addr show eth0", "10.77.0.3"));

	/* listing by prefix */
	assert_int_equal(net_link_list(fx->nl, "vt", &names, &err), 0);
	assert_int_equal(strv_len(names), 2);
	assert_true((streq(names[0], "vt1") && streq(names[1], "vt2")) ||
		    (streq(names[0], "vt2") && streq(names[1], "vt1")));
	strv_free(names);
	assert_int_equal(net_link_list(fx->nl, "zz", &names, &err), 0);
	assert_int_equal(strv_len(names), 0);
	strv_free(names);

	/* delete: the veth's peer in b goes with it; deleting again is fine */
	assert_int_equal(net_link_del(fx->nl, "vt1", &err), 0);
	assert_int_equal(net_link_index(fx->nl, "vt1", &err), -ENODEV);
	assert_int_equal(net_link_index(nlb, "eth0", &err), -ENODEV);
	assert_int_equal(net_link_del(fx->nl, "vt1", &err), 0);

	net_nl_close(nlb);
	net_nl_close(nlc);
}

/* a veth made here, its peer moved into b and renamed in one request */
static void test_move_rename(void **state)
{
	struct fx *fx = *state;
	struct err err = {0};
	struct net_nl *nlb = NULL;
	_cleanup_free_ char *pb = ns_path(fx->b);

	assert_int_equal(net_veth_add(fx->nl, "mv0", "mv1", -1, 0, &err), 0);
	struct net_link_change c = {.up = -1, .name = "eth0", .netns_fd = fx->b};
	assert_int_equal(net_link_set(fx->nl, idx(fx->nl, "mv1"), &c, &err), 0);
	assert_int_equal(net_link_index(fx->nl, "mv1", &err), -ENODEV);
	assert_int_equal(net_nl_open_ns(pb, &nlb, &err), 0);
	int e0 = idx(nlb, "eth0");
	struct net_link_change m = {.up = 1, .mtu = 1400, .netns_fd = -1};
	assert_int_equal(net_link_set(nlb, e0, &m, &err), 0);
	assert_true(out_has(fx->b, "ip -o link show eth0", "mtu 1400"));
	/* rename back within b, then nomaster on a link without a master is harmless */
	struct net_link_change r = {.up = 0, .name = "eth9", .master = -1, .netns_fd = -1};
	assert_int_equal(net_link_set(nlb, e0, &r, &err), 0);
	assert_int_equal(idx(nlb, "eth9"), e0);
	net_nl_close(nlb);
}

static void test_vxlan_fdb(void **state)
{
	struct fx *fx = *state;
	struct err err = {0};
	struct net_link_change up = {.up = 1, .netns_fd = -1};
	uint8_t mac[6] = {0xaa, 0xbb, 0xcc, 0x00, 0x00, 0x01}, zero[6] = {0};

	/* underlay: a veth with an address */
	assert_int_equal(net_veth_add(fx->nl, "ul0", "ul0p", fx->b, 1500, &err), 0);
	int ul = idx(fx->nl, "ul0");
	assert_int_equal(net_link_set(fx->nl, ul, &up, &err), 0);
	assert_int_equal(net_addr_add(fx->nl, ul, ip4("10.66.0.1"), 24, &err), 0);

	assert_int_equal(net_vxlan_add(fx->nl, "vx-t", 42, ip4("10.66.0.1"), ul, 4789, 1450, &err),
			 0);
	int vx = idx(fx->nl, "vx-t");
	assert_int_equal(net_link_set(fx->nl, vx, &up, &err), 0);
	assert_true(
	    out_has(fx->host, "ip -d link show vx-t", "vxlan id 42 local 10.66.0.1 dev ul0"));
	assert_true(out_has(fx->host, "ip -d link show vx-t", "dstport 4789 nolearning"));
	assert_true(out_has(fx->host, "ip -d link show vx-t", "mtu 1450"));

	assert_int_equal(net_fdb_set(fx->nl, vx, mac, ip4("10.66.0.2"), &err), 0);
	assert_int_equal(net_fdb_set(fx->nl, vx, mac, ip4("10.66.0.3"), &err), 0); /* replaces */
	assert_true(out_has(fx->host, "bridge fdb show dev vx-t",
			    "aa:bb:cc:00:00:01 dst 10.66.0.3 self permanent"));
	assert_true(out_lacks(fx->host, "bridge fdb show dev vx-t", "dst 10.66.0.2"));
	assert_int_equal(net_fdb_append(fx->nl, vx, zero, ip4("10.66.0.4"), &err), 0);
	assert_int_equal(net_fdb_append(fx->nl, vx, zero, ip4("10.66.0.5"), &err), 0);
	assert_true(out_has(fx->host, "bridge fdb show dev vx-t",
			    "00:00:00:00:00:00 dst 10.66.0.4 self permanent"));
	assert_true(out_has(fx->host, "bridge fdb show dev vx-t",
			    "00:00:00:00:00:00 dst 10.66.0.5 self permanent"));
	assert_int_equal(net_fdb_del(fx->nl, vx, mac, ip4("10.66.0.3"), &err), 0);
	assert_int_equal(net_fdb_del(fx->nl, vx, mac, ip4("10.66.0.3"), &err), 0);
	assert_true(out_lacks(fx->host, "bridge fdb show dev vx-t", "aa:bb:cc:00:00:01"));

	/* a neighbour and an onlink route over the vxlan, as the routed overlay programs them */
	assert_int_equal(net_neigh_set(fx->nl, vx, ip4("10.244.2.0"), mac, &err), 0);
	assert_int_equal(
	    net_route_set(fx->nl, ip4("10.244.2.0"), 24, ip4("10.244.2.0"), vx, true, &err), 0);
	assert_true(out_has(fx->host, "ip route show 10.244.2.0/24",
			    "via 10.244.2.0 dev vx-t proto static onlink"));
	assert_int_equal(net_link_del(fx->nl, "vx-t", &err), 0);
}

static void test_errors(void **state)
{
	struct fx *fx = *state;
	struct err err = {0};
	struct net_link_change up = {.up = 1, .netns_fd = -1};

	assert_int_equal(net_bridge_add(fx->nl, "cbr-x", 0, &err), 0);
	assert_int_equal(net_bridge_add(fx->nl, "cbr-x", 0, &err), -EEXIST);
	assert_string_equal(err.msg, "add bridge 'cbr-x': File exists");
	assert_int_equal(net_veth_add(fx->nl, "cbr-x", "p0", -1, 0, &err), -EEXIST);
	assert_string_equal(err.msg, "add veth 'cbr-x' peer 'p0': File exists");

	assert_int_equal(net_link_set(fx->nl, 999999, &up, &err), -ENODEV);
	assert_string_equal(err.msg, "change link 999999: No such device");
	assert_int_equal(net_link_index(fx->nl, "nope0", &err), -ENODEV);
	assert_string_equal(err.msg, "find link 'nope0': No such device");
	assert_int_equal(net_link_mac(fx->nl, 999999, (uint8_t[6]){0}, &err), -ENODEV);
	assert_non_null(strstr(err.msg, "link 999999"));
	assert_int_equal(net_addr_add(fx->nl, 999999, ip4("10.5.0.1"), 24, &err), -ENODEV);
	/* the kernel's extended ack rides along in parentheses */
	assert_non_null(strstr(err.msg, "add address 10.5.0.1/24 on link 999999: No such device"));
	assert_int_equal(net_addr_add(fx->nl, 1, ip4("10.5.0.1"), 33, &err), -EINVAL);
	assert_int_equal(
	    net_route_set(fx->nl, ip4("10.5.0.0"), 24, ip4("10.6.0.1"), 1, false, &err),
	    -ENETUNREACH); /* gateway on no connected subnet, not onlink */
	assert_non_null(strstr(err.msg, "set route 10.5.0.0/24 via 10.6.0.1"));

	assert_int_equal(net_bridge_add(fx->nl, "a-name-way-too-long", 0, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'a-name-way-too-long'"));
	assert_int_equal(net_bridge_add(fx->nl, "bad/name", 0, &err), -EINVAL);
	assert_int_equal(net_bridge_add(fx->nl, "", 0, &err), -EINVAL);
	assert_int_equal(net_vxlan_add(fx->nl, "vx0", 0, ip4("10.5.0.1"), 1, 4789, 0, &err),
			 -EINVAL);
	assert_int_equal(net_veth_add(fx->nl, "v0", "p0", 9999, 0, &err), -EBADF);
	assert_non_null(strstr(err.msg, "add veth 'v0' peer 'p0': Bad file descriptor"));
	/* nothing half-made remains */
	assert_int_equal(net_link_index(fx->nl, "v0", &err), -ENODEV);
	assert_int_equal(net_link_del(fx->nl, "cbr-x", &err), 0);
}

/* The start path of a container's network: bridge (once per node) + veth + address + route. */
static void test_timing(void **state)
{
	struct fx *fx = *state;
	struct err err = {0};
	struct net_nl *nlb = NULL;
	_cleanup_free_ char *pb = ns_path(fx->b);
	struct timespec t0, t1, t2;
	struct net_link_change up = {.up = 1, .netns_fd = -1};

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(net_bridge_add(fx->nl, "cbr-b", 1450, &err), 0);
	int br = idx(fx->nl, "cbr-b");
	assert_int_equal(net_addr_add(fx->nl, br, ip4("10.78.0.1"), 24, &err), 0);
	assert_int_equal(net_link_set(fx->nl, br, &up, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(net_veth_add(fx->nl, "vb1", "eth0", fx->b, 1450, &err), 0);
	struct net_link_change port = {.up = 1, .master = br, .netns_fd = -1};
	assert_int_equal(net_link_set(fx->nl, idx(fx->nl, "vb1"), &port, &err), 0);
	assert_int_equal(net_nl_open_ns(pb, &nlb, &err), 0);
	int e0 = idx(nlb, "eth0");
	assert_int_equal(net_addr_add(nlb, e0, ip4("10.78.0.2"), 24, &err), 0);
	assert_int_equal(net_link_set(nlb, e0, &up, &err), 0);
	assert_int_equal(
	    net_route_set(nlb, (struct in_addr){0}, 0, ip4("10.78.0.1"), e0, false, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	print_message("timing: bridge+addr+up %.3f ms; veth+master+open_ns+addr+up+route %.3f ms\n",
		      (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6,
		      (t2.tv_sec - t1.tv_sec) * 1e3 + (t2.tv_nsec - t1.tv_nsec) / 1e6);
	net_nl_close(nlb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cidr_parse),
	    cmocka_unit_test_setup_teardown(test_open_ns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bridge_veth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_move_rename, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vxlan_fdb, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timing, setup, teardown),
	};

	if (geteuid() != 0) {
		print_message("needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
