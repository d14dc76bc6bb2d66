/* Unit tests for net/nft: the rendered script (golden substrings, validation), then the
 * real thing inside network namespaces held only by file descriptors — apply, replace,
 * remove, and one end-to-end published port: client ns -> "host" ns -> DNAT -> backend ns.
 * The root namespace's tables are never touched; traffic stays in our namespaces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "base/fs.h"
#include "base/util.h"
#include "net/nft.h"
#include "net/nl.h"

/* ---- namespaces ---- */

struct fx {
	int orig, host, b, c, d;
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

static int run_in(int fd, const char *cmd, char **out)
{
	int p[2], st;
	pid_t pid;
	char *buf = xcalloc(1, 65536);
	size_t len = 0;
	ssize_t n;

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

static char *nft_list(int fd)
{
	char *out = NULL;

	run_in(fd, "nft list table inet coop", &out);
	return out;
}

static int setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	struct err err = {0};
	struct net_link_change up = {.up = 1, .netns_fd = -1};

	fx->orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(fx->orig >= 0);
	fx->host = ns_new(fx->orig);
	fx->b = ns_new(fx->orig);
	fx->c = ns_new(fx->orig);
	fx->d = ns_new(fx->orig);
	assert_int_equal(setns(fx->host, CLONE_NEWNET), 0);
	assert_int_equal(net_nl_open(&fx->nl, &err), 0);
	assert_int_equal(net_link_set(fx->nl, 1, &up, &err), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	net_nl_close(fx->nl);
	assert_int_equal(setns(fx->orig, CLONE_NEWNET), 0);
	close(fx->host), close(fx->b), close(fx->c), close(fx->d), close(fx->orig);
	free(fx);
	return 0;
}

/* ---- a configuration: 2 VPCs, a port with 3 backends, one with 1, one with none ---- */

static const struct net_nft_network nets[] = {
    {"alpha", "cbr-a", "10.88.0.0/16", "10.88.3.0/24"},
    {"beta", "cbr-b", "10.89.0.0/16", "10.89.1.0/24"},
};
static const struct net_nft_backend web[] = {
    {"10.88.3.2", 8080}, {"10.88.3.3", 8080}, {"10.88.3.4", 8081}};
static const struct net_nft_backend dns[] = {{"10.89.1.5", 53}};
static const struct net_nft_port ports[] = {
    {"tcp", 8080, "alpha", web, 3},
    {"udp", 5353, "beta", dns, 1},
    {"tcp", 9090, "alpha", NULL, 0},
    {"udp", 9091, "beta", NULL, 0},
};
static const struct net_nft_config cfg = {nets, 2, ports, 4};

static void assert_has(const char *s, const char *needle)
{
	if (!strstr(s, needle))
		fail_msg("missing '%s' in:\n%s", needle, s);
}

static void test_render(void **state)
{
	struct err err = {0};
	_cleanup_free_ char *s = NULL;

	assert_int_equal(net_nft_render(&cfg, &s, &err), 0);
	assert_true(strncmp(s, "add table inet coop\ndelete table inet coop\ntable inet coop {\n",
			    60) == 0);
	assert_has(s, "elements = { \"cbr-a\", \"cbr-b\" }");
	assert_has(s, "chain pub-tcp-8080 {\n\t\tmeta l4proto tcp dnat ip to numgen inc mod 3 map "
		      "{ 0 : 10.88.3.2 . 8080, 1 : 10.88.3.3 . 8080, 2 : 10.88.3.4 . 8081 } "
		      "comment \"vpc alpha: tcp/8080 -> 3 backends\"");
	assert_has(
	    s,
	    "meta l4proto udp dnat ip to 10.89.1.5:53 comment \"vpc beta: udp/5353 -> 1 backend\"");
	assert_has(s, "meta l4proto . th dport vmap { tcp . 8080 : jump pub-tcp-8080, udp . 5353 : "
		      "jump pub-udp-5353 }");
	assert_has(s, "type nat hook prerouting priority dstnat; policy accept;\n"
		      "\t\tmeta nfproto ipv4 fib daddr type local jump published");
	assert_has(s, "type nat hook output priority -100; policy accept;\n"
		      "\t\tmeta nfproto ipv4 fib daddr type local jump published");
	assert_has(s, "ip saddr 10.88.3.0/24 ip daddr != 10.88.0.0/16 masquerade comment \"vpc "
		      "alpha: leaving the vpc\"");
	assert_has(s, "ct status dnat ip saddr 10.88.3.0/24 ip daddr 10.88.3.0/24 masquerade "
		      "comment \"vpc alpha: hairpin\"");
	assert_has(s, "ct status dnat ip daddr 10.89.0.0/16 ip daddr != 10.89.1.0/24 masquerade");
	assert_has(s, "fib daddr type local tcp dport { 9090 } reject with tcp reset");
	assert_has(s, "fib daddr type local udp dport { 9091 } reject comment");
	assert_has(s, "type filter hook forward priority filter; policy accept;\n"
		      "\t\tct status dnat accept");
	assert_has(s, "iifname \"cbr-a\" oifname @bridges oifname != { \"cbr-a\" } drop comment "
		      "\"vpc alpha: isolation\"");
	assert_has(s, "iifname \"cbr-b\" oifname @bridges oifname != { \"cbr-b\" } drop");
	assert_null(strstr(s, "pub-tcp-9090")); /* no DNAT for a port without backends */
	assert_null(strstr(s, "flush"));

	/* empty configuration: a valid, empty table */
	struct net_nft_config none = {0};
	free(s);
	s = NULL;
	assert_int_equal(net_nft_render(&none, &s, &err), 0);
	assert_null(strstr(s, "@bridges"));
	assert_has(s, "chain forward");
}

static int render_err(const struct net_nft_config *c, const char *expect)
{
	struct err err = {0};
	char *s = NULL;
	int r = net_nft_render(c, &s, &err);

	assert_true(r < 0);
	assert_null(s);
	if (!strstr(err.msg, expect))
		fail_msg("error '%s' lacks '%s'", err.msg, expect);
	return r;
}

static void test_render_invalid(void **state)
{
	struct net_nft_network n[2] = {nets[0], nets[1]};
	struct net_nft_port p[2] = {ports[0], ports[1]};
	struct net_nft_config c = {n, 2, p, 2};
	struct net_nft_backend bad_b[1] = {{"10.88.3.2", 80}};

	n[0].bridge = "cbr\"; flush ruleset; \"";
	render_err(&c, "bridge name");
	n[0].bridge = "cbr-way-too-long0";
	render_err(&c, "bridge name 'cbr-way-too-long0'");
	n[0].bridge = "";
	render_err(&c, "bridge name");
	n[0].bridge = "cbr-b";
	render_err(&c, "bridge 'cbr-b' is used by two networks");
	n[0] = nets[0];
	n[0].name = "al pha";
	render_err(&c, "network name 'al pha'");
	n[0] = nets[0];
	n[0].cidr = "10.88.0.1/16";
	render_err(&c, "network 'alpha' cidr: CIDR '10.88.0.1/16': host bits set");
	n[0] = nets[0];
	n[0].subnet = "10.90.3.0/24";
	render_err(&c, "subnet 10.90.3.0/24 is not inside 10.88.0.0/16");
	n[0] = nets[0];
	n[0].cidr = "10.88.0.0/16 } ; flush ruleset";
	render_err(&c, "CIDR");
	n[0] = nets[0];

	p[0].proto = "sctp";
	render_err(&c, "protocol 'sctp' is not tcp or udp");
	p[0] = ports[0];
	p[0].host_port = 0;
	render_err(&c, "port must be 1-65535");
	p[0] = ports[0];
	p[1] = ports[0];
	assert_int_equal(render_err(&c, "port tcp/8080 is published twice"), -EEXIST);
	p[1] = ports[1];
	p[0].network = "gamma";
	render_err(&c, "no network 'gamma'");
	p[0] = ports[0];
	bad_b[0].ip = "10.88.3.2 . 80 }; flush ruleset; #";
	p[0].backends = bad_b;
	p[0].n_backends = 1;
	render_err(&c, "backend address");
	bad_b[0].ip = "10.89.1.2";
	render_err(&c, "backend 10.89.1.2 is outside network 'alpha'");
	bad_b[0].ip = "10.88.3.2";
	bad_b[0].port = 0;
	render_err(&c, "backend 10.88.3.2 has port 0");
}

/* ---- the kernel ---- */

static void test_apply_replace_remove(void **state)
{
	struct fx *fx = *state;
	struct err err = {0};
	_cleanup_free_ char *l1 = NULL, *l2 = NULL, *l3 = NULL, *others = NULL;

	/* somebody else's table must survive everything we do */
	assert_int_equal(run_in(fx->host,
				"nft add table ip other && nft add chain ip other c "
				"'{ type filter hook forward priority 0; policy accept; }' && "
				"nft add rule ip other c counter",
				NULL),
			 0);

	assert_int_equal(net_nft_apply(&cfg, &err), 0);
	l1 = nft_list(fx->host);
	assert_has(l1, "dnat ip to numgen inc mod 3 map { 0 : 10.88.3.2 . 8080, 1 : 10.88.3.3 . "
		       "8080, 2 : 10.88.3.4 . 8081 }");
	assert_has(l1, "meta l4proto . th dport vmap");
	/* nft lists one-element sets without braces */
	assert_has(l1, "fib daddr type local tcp dport 9090 reject with tcp reset");
	assert_has(l1, "iifname \"cbr-a\" oifname @bridges oifname != \"cbr-a\" drop");

	/* twice: the same table, not two */
	assert_int_equal(net_nft_apply(&cfg, &err), 0);
	l2 = nft_list(fx->host);
	assert_string_equal(l1, l2);

	/* a changed backend set replaces the old one atomically */
	struct net_nft_port p[1] = {ports[0]};
	p[0].n_backends = 2;
	struct net_nft_config c2 = {nets, 2, p, 1};
	assert_int_equal(net_nft_apply(&c2, &err), 0);
	l3 = nft_list(fx->host);
	assert_has(l3, "numgen inc mod 2 map { 0 : 10.88.3.2 . 8080, 1 : 10.88.3.3 . 8080 }");
	assert_null(strstr(l3, "10.88.3.4"));
	assert_null(strstr(l3, "5353"));

	/* an invalid configuration is refused before anything reaches the kernel */
	struct net_nft_network bad[2] = {nets[0], nets[1]};
	bad[1].bridge = "cbr b";
	struct net_nft_config c3 = {bad, 2, p, 1};
	assert_int_equal(net_nft_apply(&c3, &err), -EINVAL);
	assert_has(err.msg, "bridge name 'cbr b'");
	free(l2);
	l2 = nft_list(fx->host);
	assert_string_equal(l2, l3);

	/* remove, twice; the other table is still there with its rule */
	assert_int_equal(net_nft_remove(&err), 0);
	assert_int_equal(net_nft_remove(&err), 0);
	run_in(fx->host, "nft list tables; nft list table ip other", &others);
	assert_null(strstr(others, "coop"));
	assert_has(others, "table ip other");
	assert_has(others, "counter packets");
}

static void test_apply_timing(void **state)
{
	struct err err = {0};
	struct net_nft_backend be[10][3];
	struct net_nft_port p[10];
	char ips[10][3][24];
	struct net_nft_config c = {nets, 2, p, 10};
	struct timespec t0, t1, t2;

	for (int i = 0; i < 10; i++) {
		for (int j = 0; j < 3; j++) {
			snprintf(ips[i][j], sizeof(ips[i][j]), "10.%d.3.%d", i % 2 ? 89 : 88,
				 10 + i * 3 + j);
			be[i][j] = (struct net_nft_backend){ips[i][j], 8000 + i};
		}
		p[i] = (struct net_nft_port){"tcp", 30000 + i, i % 2 ? "beta" : "alpha", be[i], 3};
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(net_nft_apply(&c, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(net_nft_apply(&c, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	print_message("timing: net_nft_apply 2 vpcs + 10 ports x 3 backends: first %.2f ms, "
		      "replace %.2f ms\n",
		      (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6,
		      (t2.tv_sec - t1.tv_sec) * 1e3 + (t2.tv_nsec - t1.tv_nsec) / 1e6);
	assert_int_equal(net_nft_remove(&err), 0);
}

/* ---- end to end ---- */

static struct in_addr ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

/* A socket that belongs to namespace ns (sockets keep the namespace they were made in). */
static int socket_in(struct fx *fx, int ns, int type)
{
	int s;

	assert_int_equal(setns(ns, CLONE_NEWNET), 0);
	s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	assert_int_equal(setns(fx->host, CLONE_NEWNET), 0);
	assert_true(s >= 0);
	return s;
}

static struct sockaddr_in sa(const char *ip, uint16_t port)
{
	return (struct sockaddr_in){
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = ip4(ip)};
}

/* Connects within ms; returns 0 or -errno. */
static int connect_ms(int s, const char *ip, uint16_t port, int ms)
{
	struct sockaddr_in a = sa(ip, port);
	struct pollfd pfd = {s, POLLOUT, 0};
	int e = 0;
	socklen_t el = sizeof(e);

	fcntl(s, F_SETFL, O_NONBLOCK);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	if (poll(&pfd, 1, ms) != 1)
		return -ETIMEDOUT;
	getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el);
	return -e;
}

static int connect_to(int s, const char *ip, uint16_t port)
{
	return connect_ms(s, ip, port, 3000);
}

/* One connection from socket cl to the published port; the listener (in the backend)
 * accepts it and says which of its addresses was dialled. */
static void one_request(int lst, int cl, const char *dial_ip, uint16_t port, char *ret_local)
{
	struct pollfd pfd = {lst, POLLIN, 0};
	struct sockaddr_in local;
	socklen_t ll = sizeof(local);
	char buf[32] = "";
	int a, r;

	r = connect_to(cl, dial_ip, port);
	if (r < 0)
		fail_msg("connect %s:%u: %s", dial_ip, port, strerror(-r));
	assert_int_equal(poll(&pfd, 1, 3000), 1);
	a = accept4(lst, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	assert_int_equal(getsockname(a, (struct sockaddr *)&local, &ll), 0);
	inet_ntop(AF_INET, &local.sin_addr, ret_local, INET_ADDRSTRLEN);
	assert_int_equal(write(a, "hi", 2), 2);
	close(a);
	pfd = (struct pollfd){cl, POLLIN, 0};
	assert_int_equal(poll(&pfd, 1, 3000), 1);
	assert_int_equal(read(cl, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "hi", 2);
	close(cl);
}

/* host: cbr-a 10.88.3.1/24 -- backend ns (eth0: .2 .3 .4); up0 10.123.0.1/24 -- client ns */
static void e2e_plumb(struct fx *fx)
{
	struct err err = {0};
	struct net_link_change up = {.up = 1, .netns_fd = -1};
	struct net_nl *nlb = NULL, *nlc = NULL, *nld = NULL;
	_cleanup_free_ char *pd = xasprintf("/proc/self/fd/%d", fx->d);
	_cleanup_free_ char *pb = xasprintf("/proc/self/fd/%d", fx->b);
	_cleanup_free_ char *pc = xasprintf("/proc/self/fd/%d", fx->c);

	assert_int_equal(fs_write("/proc/sys/net/ipv4/ip_forward", "1", &err), 0);
	assert_int_equal(net_bridge_add(fx->nl, "cbr-a", 1450, &err), 0);
	int br = net_link_index(fx->nl, "cbr-a", &err);
	assert_int_equal(net_addr_add(fx->nl, br, ip4("10.88.3.1"), 24, &err), 0);
	assert_int_equal(net_link_set(fx->nl, br, &up, &err), 0);
	assert_int_equal(net_veth_add(fx->nl, "vb0", "eth0", fx->b, 1450, &err), 0);
	int vb = net_link_index(fx->nl, "vb0", &err);
	struct net_link_change port = {.up = 1, .master = br, .netns_fd = -1};
	assert_int_equal(net_link_set(fx->nl, vb, &port, &err), 0);
	assert_int_equal(net_bridge_port_hairpin(fx->nl, vb, true, &err), 0);
	assert_int_equal(net_veth_add(fx->nl, "up0", "eth0", fx->c, 0, &err), 0);
	int up0 = net_link_index(fx->nl, "up0", &err);
	assert_int_equal(net_addr_add(fx->nl, up0, ip4("10.123.0.1"), 24, &err), 0);
	assert_int_equal(net_link_set(fx->nl, up0, &up, &err), 0);
	int e0;

	/* a container of another vpc: d on cbr-b 10.89.1.2/24 */
	assert_int_equal(net_bridge_add(fx->nl, "cbr-b", 1450, &err), 0);
	int brb = net_link_index(fx->nl, "cbr-b", &err);
	assert_int_equal(net_addr_add(fx->nl, brb, ip4("10.89.1.1"), 24, &err), 0);
	assert_int_equal(net_link_set(fx->nl, brb, &up, &err), 0);
	assert_int_equal(net_veth_add(fx->nl, "vd0", "eth0", fx->d, 1450, &err), 0);
	port.master = brb;
	assert_int_equal(net_link_set(fx->nl, net_link_index(fx->nl, "vd0", &err), &port, &err), 0);
	assert_int_equal(net_nl_open_ns(pd, &nld, &err), 0);
	e0 = net_link_index(nld, "eth0", &err);
	assert_int_equal(net_addr_add(nld, e0, ip4("10.89.1.2"), 24, &err), 0);
	assert_int_equal(net_link_set(nld, e0, &up, &err), 0);
	assert_int_equal(
	    net_route_set(nld, (struct in_addr){0}, 0, ip4("10.89.1.1"), e0, false, &err), 0);
	net_nl_close(nld);

	assert_int_equal(net_nl_open_ns(pb, &nlb, &err), 0);
	assert_int_equal(net_link_set(nlb, 1, &up, &err), 0);
	e0 = net_link_index(nlb, "eth0", &err);
	for (int i = 2; i <= 4; i++) {
		char ip[24];
		snprintf(ip, sizeof(ip), "10.88.3.%d", i);
		assert_int_equal(net_addr_add(nlb, e0, ip4(ip), 24, &err), 0);
	}
	assert_int_equal(net_link_set(nlb, e0, &up, &err), 0);
	assert_int_equal(
	    net_route_set(nlb, (struct in_addr){0}, 0, ip4("10.88.3.1"), e0, false, &err), 0);
	assert_int_equal(net_nl_open_ns(pc, &nlc, &err), 0);
	e0 = net_link_index(nlc, "eth0", &err);
	assert_int_equal(net_addr_add(nlc, e0, ip4("10.123.0.2"), 24, &err), 0);
	assert_int_equal(net_link_set(nlc, e0, &up, &err), 0);
	net_nl_close(nlb);
	net_nl_close(nlc);
}

static void test_e2e(void **state)
{
	struct fx *fx = *state;
	struct err err = {0};
	char local[3][INET_ADDRSTRLEN], one[INET_ADDRSTRLEN];
	int lst, on = 1;
	struct sockaddr_in any = sa("0.0.0.0", 8080);

	e2e_plumb(fx);
	static const struct net_nft_network n[] = {
	    {"alpha", "cbr-a", "10.88.0.0/16", "10.88.3.0/24"},
	    {"beta", "cbr-b", "10.89.0.0/16", "10.89.1.0/24"}};
	static const struct net_nft_backend be[] = {
	    {"10.88.3.2", 8080}, {"10.88.3.3", 8080}, {"10.88.3.4", 8080}};
	static const struct net_nft_port p[] = {{"tcp", 80, "alpha", be, 3},
						{"tcp", 9090, "alpha", NULL, 0}};
	struct net_nft_config c = {n, 2, p, 2};

	lst = socket_in(fx, fx->b, SOCK_STREAM);
	setsockopt(lst, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	assert_int_equal(bind(lst, (struct sockaddr *)&any, sizeof(any)), 0);
	assert_int_equal(listen(lst, 16), 0);

	/* before coop's rules, the beta container reaches alpha's directly; after, not */
	one_request(lst, socket_in(fx, fx->d, SOCK_STREAM), "10.88.3.2", 8080, one);
	assert_int_equal(net_nft_apply(&c, &err), 0);
	int s = socket_in(fx, fx->d, SOCK_STREAM);
	assert_int_equal(connect_ms(s, "10.88.3.2", 8080, 1000), -ETIMEDOUT);
	close(s);
	/* ...but alpha's published port is public, from beta too */
	one_request(lst, socket_in(fx, fx->d, SOCK_STREAM), "10.89.1.1", 80, one);

	/* from the client namespace: round robin over the three backends */
	for (int i = 0; i < 3; i++)
		one_request(lst, socket_in(fx, fx->c, SOCK_STREAM), "10.123.0.1", 80, local[i]);
	assert_true(strcmp(local[0], local[1]) && strcmp(local[1], local[2]) &&
		    strcmp(local[0], local[2]));
	/* from the host itself (nat output chain) */
	one_request(lst, socket_in(fx, fx->host, SOCK_STREAM), "10.123.0.1", 80, one);
	/* hairpin: the backend reaching its own published port through the host */
	one_request(lst, socket_in(fx, fx->b, SOCK_STREAM), "10.123.0.1", 80, one);
	/* a published port without backends is refused, not black-holed */
	s = socket_in(fx, fx->c, SOCK_STREAM);
	assert_int_equal(connect_to(s, "10.123.0.1", 9090), -ECONNREFUSED);
	close(s);
	close(lst);

	/* leaving the vpc, a container's traffic is masqueraded: the client sees the host */
	struct sockaddr_in a8 = sa("0.0.0.0", 8081), peer;
	socklen_t pl = sizeof(peer);
	char ptext[INET_ADDRSTRLEN];
	lst = socket_in(fx, fx->c, SOCK_STREAM);
	assert_int_equal(bind(lst, (struct sockaddr *)&a8, sizeof(a8)), 0);
	assert_int_equal(listen(lst, 4), 0);
	s = socket_in(fx, fx->b, SOCK_STREAM);
	assert_int_equal(connect_to(s, "10.123.0.2", 8081), 0);
	int a = accept4(lst, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
	assert_true(a >= 0);
	inet_ntop(AF_INET, &peer.sin_addr, ptext, sizeof(ptext));
	assert_string_equal(ptext, "10.123.0.1");
	close(a), close(s), close(lst);
	assert_int_equal(net_nft_remove(&err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_render_invalid),
	    cmocka_unit_test_setup_teardown(test_apply_replace_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_apply_timing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_e2e, setup, teardown),
	};

	if (geteuid() != 0) {
		print_message("needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
