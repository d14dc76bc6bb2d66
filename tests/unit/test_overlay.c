/* Unit tests for net/overlay's pure parts: the peer file, validation (each refusal
 * names what clashes), vtep MACs, the diff between the kernel's entries and the wanted
 * ones, and the isolation table. Plus netstate's per-node subnet choice. No kernel work. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "base/fs.h"
#include "base/util.h"
#include "net/overlay.h"

static struct in_addr ip4(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static struct net_cidr cidr(const char *s)
{
	struct net_cidr c;
	assert_int_equal(net_ipam_cidr_parse(s, &c, NULL), 0);
	return c;
}

static void expect_err(int r, const char *want, const struct err *err)
{
	assert_true(r < 0);
	if (!strstr(err->msg, want))
		fail_msg("want '%s', got '%s'", want, err->msg);
}

/* VPC "app" 10.60.0.0/16 whose subnet here is 10.60.1.0/24. */
static struct net_vpc vpc(void)
{
	struct net_vpc v = { .id = "0123456789ab", .name = "app", .bridge = "cb-01234567" };
	v.cidr = cidr("10.60.0.0/16");
	v.subnet = cidr("10.60.1.0/24");
	return v;
}

static struct net_overlay_self self_h1(void)
{
	return (struct net_overlay_self){ .node = "h1", .vni = 42, .underlay = ip4("10.250.0.1"),
					  .underlay_dev = "eth0", .underlay_mtu = 1500,
					  .subnet = cidr("10.60.1.0/24") };
}

static size_t parse(const char *text, struct net_overlay_peer **peers)
{
	struct err err = { 0 };
	size_t n = 0;
	if (net_overlay_peers_parse(text, "peers.json", peers, &n, &err) < 0)
		fail_msg("parse: %s", err.msg);
	return n;
}

#define TWO_PEERS                                                                          \
	"[{\"node\": \"h2\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.2.0/24\"},"  \
	" {\"node\": \"h3\", \"underlay\": \"10.250.0.3\", \"subnet\": \"10.60.3.0/24\"}]"

static void test_parse(void **state)
{
	struct net_overlay_peer *p = NULL;
	struct err err = { 0 };
	size_t n = parse(TWO_PEERS, &p);
	char a[20];

	assert_int_equal(n, 2);
	assert_string_equal(p[1].node, "h3");
	assert_int_equal(p[1].underlay.s_addr, ip4("10.250.0.3").s_addr);
	assert_string_equal(net_ipam_cidr_fmt(&p[1].subnet, a), "10.60.3.0/24");
	assert_false(p[0].has_mac);
	net_overlay_peers_free(p, n);

	n = parse("[{\"node\": \"h2\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.2.0/24\","
		  " \"mac\": \"02:aa:bb:cc:dd:ee\"}]", &p);
	assert_true(p[0].has_mac);
	assert_int_equal(p[0].mac[1], 0xaa);
	net_overlay_peers_free(p, n);

	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "{}", "expected an array" },
		{ "[1]", "peers.json[0]: expected an object" },
		{ "[{\"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.2.0/24\"}]", "node" },
		{ "[{\"node\": \"h 2\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.2.0/24\"}]",
		  "invalid node name" },
		{ "[{\"node\": \"h2\", \"underlay\": \"10.250.0\", \"subnet\": \"10.60.2.0/24\"}]",
		  "peers.json[0].underlay: invalid IPv4 address '10.250.0'" },
		{ "[{\"node\": \"h2\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.2.1/24\"}]",
		  "peers.json[0].subnet" },
		{ "[{\"node\": \"h2\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.2.0/24\", \"mac\": \"01:00:5e:00:00:01\"}]",
		  "invalid unicast MAC" },
		{ "[", "peers.json" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		p = NULL;
		n = 0;
		err_clear(&err);
		expect_err(net_overlay_peers_parse(bad[i].text, "peers.json", &p, &n, &err),
			   bad[i].want, &err);
		assert_null(p);
	}
}

static void test_mac(void **state)
{
	uint8_t a[6], b[6], c[6];

	net_overlay_vtep_mac("h1", 42, a);
	net_overlay_vtep_mac("h1", 42, b);
	net_overlay_vtep_mac("h1", 43, c);
	assert_memory_equal(a, b, 6);
	assert_memory_not_equal(a, c, 6);
	assert_int_equal(a[0], 0x02); /* locally administered unicast */
	net_overlay_vtep_mac("h2", 42, b);
	assert_memory_not_equal(a, b, 6);

	struct net_vpc v = vpc();
	char dev[16];
	net_overlay_dev_name(&v, dev);
	assert_string_equal(dev, "cx-01234567");
}

/* validate TEXT against h1 (and an overlay of VPC "other" with VNI 7): the error. */
static int check(const char *text, struct err *err)
{
	struct net_vpc v = vpc();
	struct net_overlay_self s = self_h1();
	struct net_overlay_other others[] = { { "other", 7 } };
	struct net_overlay_peer *p = NULL;
	size_t n = parse(text, &p);
	int r = net_overlay_validate(&v, &s, p, n, others, 1, err);
	net_overlay_peers_free(p, n);
	return r;
}

static void test_validate(void **state)
{
	struct err err = { 0 };

	assert_int_equal(check(TWO_PEERS, &err), 0);
	assert_int_equal(check("[]", &err), 0);
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "[{\"node\": \"h2\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.2.0/24\"},"
		  " {\"node\": \"h3\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.3.0/24\"}]",
		  "underlay address 10.250.0.2 is claimed by h2 and h3" },
		{ "[{\"node\": \"h2\", \"underlay\": \"10.250.0.1\", \"subnet\": \"10.60.2.0/24\"}]",
		  "underlay address 10.250.0.1 is claimed by h1 (this node) and h2" },
		{ "[{\"node\": \"h2\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.2.0/24\"},"
		  " {\"node\": \"h3\", \"underlay\": \"10.250.0.3\", \"subnet\": \"10.60.2.128/25\"}]",
		  "subnet 10.60.2.128/25 of h3 overlaps 10.60.2.0/24 of h2" },
		{ "[{\"node\": \"h2\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.1.0/24\"}]",
		  "subnet 10.60.1.0/24 of h2 overlaps 10.60.1.0/24 of h1 (this node)" },
		{ "[{\"node\": \"h2\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.99.2.0/24\"}]",
		  "subnet 10.99.2.0/24 of h2 is outside VPC 'app' 10.60.0.0/16" },
		{ "[{\"node\": \"h2\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.2.0/24\"},"
		  " {\"node\": \"h2\", \"underlay\": \"10.250.0.3\", \"subnet\": \"10.60.3.0/24\"}]",
		  "node h2 is listed twice" },
		{ "[{\"node\": \"h1\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.2.0/24\"}]",
		  "peer h1 is this node" },
		{ "[{\"node\": \"h2\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.2.0/24\", \"mac\": \"02:00:00:00:00:01\"},"
		  " {\"node\": \"h3\", \"underlay\": \"10.250.0.3\", \"subnet\": \"10.60.3.0/24\", \"mac\": \"02:00:00:00:00:01\"}]",
		  "vtep MAC 02:00:00:00:00:01 is claimed by h2 and h3" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err_clear(&err);
		expect_err(check(bad[i].text, &err), bad[i].want, &err);
	}

	/* self: VNI clash, range, MTU, subnet */
	struct net_vpc v = vpc();
	struct net_overlay_self s = self_h1();
	struct net_overlay_other others[] = { { "other", 42 } };
	expect_err(net_overlay_validate(&v, &s, NULL, 0, others, 1, &err),
		   "VNI 42 is already used by VPC 'other' on this node", &err);
	s.vni = 1 << 24;
	expect_err(net_overlay_validate(&v, &s, NULL, 0, NULL, 0, &err), "out of range", &err);
	s = self_h1();
	s.underlay_mtu = 600;
	expect_err(net_overlay_validate(&v, &s, NULL, 0, NULL, 0, &err), "underlay MTU 600", &err);
	s = self_h1();
	s.subnet = cidr("10.60.3.0/24");
	expect_err(net_overlay_validate(&v, &s, NULL, 0, NULL, 0, &err),
		   "subnet 10.60.3.0/24 is not VPC 'app''s subnet on this node (10.60.1.0/24", &err);
}

static size_t count(const struct net_overlay_op *ops, size_t n, enum net_overlay_op_kind k)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ops[i].kind == k;
	return c;
}

static void want_of(const char *text, struct net_overlay_entries *ret)
{
	struct net_vpc v = vpc();
	struct net_overlay_self s = self_h1();
	struct net_overlay_peer *p = NULL;
	struct err err = { 0 };
	size_t n = parse(text, &p);
	assert_int_equal(net_overlay_validate(&v, &s, p, n, NULL, 0, &err), 0);
	net_overlay_want(p, n, ret);
	net_overlay_peers_free(p, n);
}

static void test_plan(void **state)
{
	struct net_overlay_entries none = { 0 }, two, one, moved;
	struct net_overlay_op *ops = NULL;
	size_t n;

	want_of(TWO_PEERS, &two);
	assert_int_equal(two.n_fdb, 2);
	assert_int_equal(two.neigh[0].ip.s_addr, ip4("10.60.2.0").s_addr);
	assert_int_equal(two.routes[1].dst.s_addr, ip4("10.60.3.0").s_addr);
	assert_int_equal(two.routes[1].gw.s_addr, ip4("10.60.3.0").s_addr);
	assert_int_equal(two.routes[1].prefixlen, 24);
	assert_memory_equal(two.fdb[0].mac, two.neigh[0].mac, 6);

	/* from nothing: 3 sets per peer, fdb before neighbours before routes */
	n = net_overlay_plan(&none, &two, &ops);
	assert_int_equal(n, 6);
	assert_int_equal(ops[0].kind, NET_OVERLAY_FDB_SET);
	assert_int_equal(ops[2].kind, NET_OVERLAY_NEIGH_SET);
	assert_int_equal(ops[5].kind, NET_OVERLAY_ROUTE_SET);
	free(ops);

	/* converged: nothing to do */
	assert_int_equal(net_overlay_plan(&two, &two, &ops), 0);
	assert_null(ops);

	/* h3 left: its route, neighbour and fdb entry go, in that order */
	want_of("[{\"node\": \"h2\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.2.0/24\"}]",
		&one);
	n = net_overlay_plan(&two, &one, &ops);
	assert_int_equal(n, 3);
	assert_int_equal(ops[0].kind, NET_OVERLAY_ROUTE_DEL);
	assert_int_equal(ops[0].route.dst.s_addr, ip4("10.60.3.0").s_addr);
	assert_int_equal(ops[1].kind, NET_OVERLAY_NEIGH_DEL);
	assert_int_equal(ops[2].kind, NET_OVERLAY_FDB_DEL);
	assert_int_equal(ops[2].fdb.dst.s_addr, ip4("10.250.0.3").s_addr);
	free(ops);

	/* everything gone */
	n = net_overlay_plan(&two, &none, &ops);
	assert_int_equal(count(ops, n, NET_OVERLAY_ROUTE_DEL), 2);
	assert_int_equal(count(ops, n, NET_OVERLAY_FDB_DEL), 2);
	free(ops);

	/* h3 moved to another underlay address: its fdb entry only */
	want_of("[{\"node\": \"h2\", \"underlay\": \"10.250.0.2\", \"subnet\": \"10.60.2.0/24\"},"
		" {\"node\": \"h3\", \"underlay\": \"10.250.0.9\", \"subnet\": \"10.60.3.0/24\"}]",
		&moved);
	n = net_overlay_plan(&two, &moved, &ops);
	assert_int_equal(n, 2);
	assert_int_equal(ops[0].kind, NET_OVERLAY_FDB_SET);
	assert_int_equal(ops[0].fdb.dst.s_addr, ip4("10.250.0.9").s_addr);
	assert_int_equal(ops[1].kind, NET_OVERLAY_FDB_DEL);
	assert_int_equal(ops[1].fdb.dst.s_addr, ip4("10.250.0.3").s_addr);
	free(ops);

	/* a neighbour with a stale MAC is replaced, a foreign route removed */
	struct net_overlay_entries have = { 0 };
	struct net_route_entry extra = { ip4("10.70.0.0"), 16, ip4("10.60.2.0") };
	have = two;
	struct net_neigh_entry stale[2] = { two.neigh[0], two.neigh[1] };
	stale[1].mac[5] ^= 1;
	struct net_route_entry routes[3] = { two.routes[0], two.routes[1], extra };
	have.neigh = stale;
	have.routes = routes;
	have.n_routes = 3;
	n = net_overlay_plan(&have, &two, &ops);
	assert_int_equal(n, 2);
	assert_int_equal(ops[0].kind, NET_OVERLAY_NEIGH_SET);
	assert_int_equal(ops[0].neigh.ip.s_addr, ip4("10.60.3.0").s_addr);
	assert_int_equal(ops[1].kind, NET_OVERLAY_ROUTE_DEL);
	assert_int_equal(ops[1].route.dst.s_addr, ip4("10.70.0.0").s_addr);
	free(ops);

	net_overlay_entries_free(&two);
	net_overlay_entries_free(&one);
	net_overlay_entries_free(&moved);
}

static void test_nft(void **state)
{
	struct net_vpc vs[2] = { vpc(), vpc() };
	struct netstate ns = { .vpcs = vs, .n_vpcs = 2 };
	bool has[2] = { true, false };
	char *s;

	memcpy(vs[1].id, "ba9876543210", 13);
	vs[1].name = "other";
	memcpy(vs[1].bridge, "cb-ba987654", 12);
	vs[1].cidr = cidr("10.61.0.0/16");
	s = net_overlay_nft_render(&ns, has);
	assert_non_null(strstr(s, "elements = { \"cx-01234567\" }"));
	assert_non_null(strstr(s, "\"cb-01234567\", \"cb-ba987654\""));
	/* one lookup on the input device, then that device's chain */
	assert_non_null(strstr(s, "iifname vmap { \"cx-01234567\" : jump in-cx-01234567, "
				  "\"cb-01234567\" : jump in-cb-01234567, "
				  "\"cb-ba987654\" : jump in-cb-ba987654 }"));
	assert_non_null(strstr(s, "chain in-cx-01234567 {\n\t\tip saddr != 10.60.0.0/16 drop"));
	assert_non_null(strstr(s, "\t\toifname \"cb-01234567\" accept\n\t\toifname @vteps drop"));
	assert_non_null(strstr(s, "chain in-cb-01234567 {\n\t\toifname @vteps oifname != \"cx-01234567\" drop"));
	/* a VPC without an overlay here reaches no VXLAN device */
	assert_non_null(strstr(s, "chain in-cb-ba987654 {\n\t\toifname @vteps drop"));
	assert_null(strstr(s, "cx-ba987654"));
	free(s);
	/* both with an overlay: each bridge reaches its own VXLAN device only */
	has[1] = true;
	s = net_overlay_nft_render(&ns, has);
	assert_non_null(strstr(s, "chain in-cb-01234567 {\n\t\toifname @vteps oifname != \"cx-01234567\" drop"));
	assert_non_null(strstr(s, "chain in-cb-ba987654 {\n\t\toifname @vteps oifname != \"cx-ba987654\" drop"));
	free(s);
	/* no overlay left: the table is only deleted */
	has[0] = has[1] = false;
	s = net_overlay_nft_render(&ns, has);
	assert_string_equal(s, "add table ip coop_overlay\ndelete table ip coop_overlay\n");
	free(s);
}

static void test_node_subnet(void **state)
{
	char dir[] = "/tmp/test_overlay.XXXXXX", a[20], g[16];
	struct netstate *ns = NULL;
	struct net_vpc *v;
	struct err err = { 0 };
	uint32_t ip;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(netstate_open(dir, true, &ns, &err), 0);
	assert_int_equal(netstate_vpc_create(ns, "app", "10.60.0.0/16", 0, 0, &v, &err), 0);
	assert_int_equal(netstate_vpc_set_subnet(ns, v, "10.60.2.0/24", &err), 0);
	assert_string_equal(net_ipam_cidr_fmt(&v->subnet, a), "10.60.2.0/24");
	assert_string_equal(net_ipam_addr_fmt(v->gateway, g), "10.60.2.1");
	assert_int_equal(netstate_lease(ns, v, "c1", NULL, NULL, &ip, &err), 0);
	assert_string_equal(net_ipam_addr_fmt(ip, g), "10.60.2.2");
	assert_int_equal(netstate_save(ns, &err), 0);
	netstate_close(ns);

	/* kept across a reload */
	assert_int_equal(netstate_open(dir, true, &ns, &err), 0);
	v = netstate_vpc_find(ns, "app");
	assert_string_equal(net_ipam_cidr_fmt(&v->subnet, a), "10.60.2.0/24");
	expect_err(netstate_vpc_set_subnet(ns, v, "10.60.3.0/24", &err),
		   "VPC 'app' has 1 containers here", &err);
	assert_int_equal(netstate_vpc_set_subnet(ns, v, "10.60.2.0/24", &err), 0); /* same: fine */
	expect_err(netstate_vpc_set_subnet(ns, v, "10.61.0.0/24", &err), "does not fit", &err);
	expect_err(netstate_vpc_set_subnet(ns, v, "10.60.0.0/15", &err), "does not fit", &err);
	expect_err(netstate_vpc_set_subnet(ns, v, "10.60.2.1/24", &err), "host bits", &err);
	netstate_close(ns);
	fs_rm_rf(dir, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),     cmocka_unit_test(test_mac),
		cmocka_unit_test(test_validate),  cmocka_unit_test(test_plan),
		cmocka_unit_test(test_nft),       cmocka_unit_test(test_node_subnet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
