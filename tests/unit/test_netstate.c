/* Unit tests for net/netstate: VPC rules (names, overlaps, subnets), leases and their
 * log, ports and backends, DNS lookups, the JSON round trip. No kernel work; files only
 * in a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "base/fs.h"
#include "base/util.h"
#include "net/netstate.h"

static char tmpdir[64];

static int setup(void **state)
{
	strcpy(tmpdir, "/tmp/test_netstate.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	fs_rm_rf(tmpdir, NULL);
	return 0;
}

static struct netstate *open_state(void)
{
	struct netstate *ns = NULL;
	struct err err = { 0 };
	if (netstate_open(tmpdir, true, &ns, &err) < 0)
		fail_msg("open: %s", err.msg);
	return ns;
}

static void expect_err(int r, const char *want, const struct err *err)
{
	assert_true(r < 0);
	if (!strstr(err->msg, want))
		fail_msg("want '%s', got '%s'", want, err->msg);
}

static void test_vpcs(void **state)
{
	struct netstate *ns = open_state();
	struct net_vpc *v;
	struct err err = { 0 };
	char buf[20];

	assert_int_equal(ns->n_vpcs, 1);
	v = netstate_vpc_find(ns, "default");
	assert_non_null(v);
	assert_string_equal(net_ipam_cidr_fmt(&v->subnet, buf), "10.213.0.0/24");
	assert_int_equal(strlen(v->id), 12);
	assert_true(strncmp(v->bridge, "cb-", 3) == 0 && strncmp(v->bridge + 3, v->id, 8) == 0);
	assert_ptr_equal(netstate_vpc_find(ns, v->id), v);

	expect_err(netstate_vpc_create(ns, "b", "10.213.4.0/24", 0, 0, NULL, &err),
		   "VPC 'b' 10.213.4.0/24 overlaps VPC 'default' 10.213.0.0/16", &err);
	expect_err(netstate_vpc_create(ns, "b", "10.0.0.0/31", 0, 0, NULL, &err), "/8 and /29",
		   &err);
	expect_err(netstate_vpc_create(ns, "b", "127.0.0.0/16", 0, 0, NULL, &err), "loopback",
		   &err);
	expect_err(netstate_vpc_create(ns, "Bad", "10.1.0.0/16", 0, 0, NULL, &err),
		   "invalid VPC name", &err);
	expect_err(netstate_vpc_create(ns, "default", "10.1.0.0/16", 0, 0, NULL, &err),
		   "already exists", &err);
	assert_int_equal(netstate_vpc_create(ns, "big", "100.64.0.0/10", 0, 0, &v, &err), 0);
	assert_string_equal(net_ipam_cidr_fmt(&v->subnet, buf), "100.64.0.0/18");
	assert_int_equal(netstate_vpc_create(ns, "tiny", "172.16.0.0/29", 0, 0, &v, &err), 0);
	assert_string_equal(net_ipam_cidr_fmt(&v->subnet, buf), "172.16.0.0/29");
	if (netstate_vpc_create(ns, "sized", "172.17.0.0/16", 20, 9000, &v, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(net_ipam_cidr_fmt(&v->subnet, buf), "172.17.0.0/20");
	assert_int_equal(v->mtu, 9000);
	expect_err(netstate_vpc_create(ns, "x", "172.18.0.0/24", 16, 0, NULL, &err),
		   "does not fit", &err);
	assert_int_equal(netstate_vpc_delete(ns, netstate_vpc_find(ns, "big"), &err), 0);
	assert_null(netstate_vpc_find(ns, "big"));
	netstate_close(ns);
}

static void test_leases(void **state)
{
	struct netstate *ns = open_state();
	struct net_vpc *tiny, *def = netstate_vpc_find(ns, "default");
	struct err err = { 0 };
	uint32_t ip;
	char a[16], name[16];

	assert_int_equal(netstate_vpc_create(ns, "tiny", "10.50.0.0/29", 0, 0, &tiny, &err), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		assert_int_equal(netstate_lease(ns, tiny, name, "w", NULL, &ip, &err), 0);
		char want[24];
		snprintf(want, sizeof(want), "10.50.0.%d", i + 2);
		assert_string_equal(net_ipam_addr_fmt(ip, a), want);
	}
	expect_err(netstate_lease(ns, tiny, "t5", NULL, NULL, &ip, &err),
		   "VPC 'tiny': subnet 10.50.0.0/29 is full (5 addresses leased)", &err);
	expect_err(netstate_lease(ns, def, "t1", NULL, NULL, &ip, &err),
		   "'t1' is already attached to VPC 'tiny' (10.50.0.3)", &err);
	expect_err(netstate_lease(ns, def, "bad name", NULL, NULL, &ip, &err),
		   "invalid container name", &err);
	expect_err(netstate_vpc_delete(ns, tiny, &err),
		   "VPC 'tiny' is in use by 5 containers: t0, t1, t2, t3, t4", &err);
	assert_int_equal(netstate_release(ns, "t1", &err), 0);
	expect_err(netstate_release(ns, "t1", &err), "not attached", &err);
	/* the freed address is not handed out at once */
	assert_int_equal(netstate_lease(ns, tiny, "t5", NULL, NULL, &ip, &err), 0);
	assert_string_equal(net_ipam_addr_fmt(ip, a), "10.50.0.3");
	assert_int_equal(netstate_save(ns, &err), 0);
	netstate_close(ns);

	/* logged changes survive a reload and are folded into state.json by a save */
	ns = open_state();
	assert_int_equal(netstate_lease(ns, netstate_vpc_find(ns, "default"), "web", "site",
					"/run/netns/web", &ip, &err),
			 0);
	assert_int_equal(netstate_log(ns, NETSTATE_LOG_LEASE, "web", &err), 0);
	assert_int_equal(netstate_release(ns, "t2", &err), 0);
	assert_int_equal(netstate_log(ns, NETSTATE_LOG_RELEASE, "t2", &err), 0);
	netstate_close(ns);
	ns = open_state();
	struct net_vpc *v;
	struct net_lease *l = netstate_lease_find(ns, "web", &v);
	assert_non_null(l);
	assert_string_equal(v->name, "default");
	assert_string_equal(l->workload, "site");
	assert_string_equal(net_ipam_addr_fmt(l->ip, a), "10.213.0.2");
	assert_null(netstate_lease_find(ns, "t2", NULL));
	assert_true(net_ipam_in_use(&v->pool, l->ip));
	/* replaying the same log again changes nothing (a crash between save and truncate) */
	_cleanup_free_ char *log = xasprintf("%s/leases.log", tmpdir), *text = NULL;
	assert_int_equal(fs_read(log, &text, &err), 0);
	assert_int_equal(netstate_save(ns, &err), 0);
	assert_int_equal(fs_write_atomic(log, text, strlen(text), 0644, &err), 0);
	netstate_close(ns);
	ns = open_state();
	assert_int_equal(netstate_vpc_find(ns, "default")->n_leases, 1);
	assert_int_equal(netstate_vpc_find(ns, "tiny")->n_leases, 4);
	netstate_close(ns);
}

static void test_ports(void **state)
{
	struct netstate *ns = open_state();
	struct net_vpc *def = netstate_vpc_find(ns, "default"), *other;
	struct net_port *p;
	struct err err = { 0 };
	uint16_t hp, cp;
	const char *proto;
	uint32_t ip;

	assert_int_equal(netstate_port_spec_parse("8080:80", &hp, &cp, &proto, &err), 0);
	assert_int_equal(hp, 8080);
	assert_int_equal(cp, 80);
	assert_string_equal(proto, "tcp");
	assert_int_equal(netstate_port_spec_parse("53:5353/udp", &hp, &cp, &proto, &err), 0);
	assert_string_equal(proto, "udp");
	expect_err(netstate_port_spec_parse("80", &hp, &cp, &proto, &err), "HOST:CONTAINER", &err);
	expect_err(netstate_port_spec_parse("0:80", &hp, &cp, &proto, &err), "1-65535", &err);
	expect_err(netstate_port_spec_parse("80:80/sctp", &hp, &cp, &proto, &err), "tcp or udp",
		   &err);

	assert_int_equal(netstate_vpc_create(ns, "other", "10.60.0.0/16", 0, 0, &other, &err), 0);
	def = netstate_vpc_find(ns, "default");
	assert_int_equal(netstate_lease(ns, def, "a", NULL, NULL, &ip, &err), 0);
	assert_int_equal(netstate_lease(ns, other, "b", NULL, NULL, &ip, &err), 0);
	assert_int_equal(netstate_port_publish(ns, "web", "tcp", 8080, def, 80, &p, &err), 0);
	expect_err(netstate_port_publish(ns, "web2", "tcp", 8080, def, 81, NULL, &err),
		   "host port 8080/tcp is already published by 'web'", &err);
	assert_int_equal(netstate_port_publish(ns, "dns", "udp", 8080, def, 53, NULL, &err), 0);
	p = netstate_port_find(ns, "web");
	assert_int_equal(netstate_backend_add(ns, p, "a", true, &err), 0);
	expect_err(netstate_backend_add(ns, p, "b", true, &err), "'b' is on VPC 'other'", &err);
	expect_err(netstate_backend_add(ns, p, "zz", true, &err), "not attached", &err);
	assert_int_equal(netstate_backend_health(ns, p, "a", false, &err), 0);
	assert_false(p->backends[0].healthy);
	assert_int_equal(p->backends[0].port, 80);
	expect_err(netstate_vpc_delete(ns, def, &err), "in use", &err);

	/* round trip through the document */
	_cleanup_free_ char *doc = netstate_dump(ns);
	struct netstate copy = { .lock_fd = -1 };
	assert_int_equal(netstate_parse(doc, &copy, &err), 0);
	_cleanup_free_ char *doc2 = netstate_dump(&copy);
	assert_string_equal(doc, doc2);
	free(copy.dir);
	copy.dir = NULL;

	/* a released owner leaves every backend set */
	assert_int_equal(netstate_release(ns, "a", &err), 0);
	assert_int_equal(netstate_port_find(ns, "web")->n_backends, 0);
	assert_int_equal(netstate_port_remove(ns, "web", &err), 0);
	expect_err(netstate_port_remove(ns, "web", &err), "not published", &err);
	netstate_close(ns);
	/* copy's arrays are freed through a throwaway handle */
	struct netstate *h = xcalloc(1, sizeof(*h));
	*h = copy;
	netstate_close(h);
}

static void test_dns(void **state)
{
	struct netstate *ns = open_state();
	struct net_vpc *def = netstate_vpc_find(ns, "default");
	struct err err = { 0 };
	struct in_addr out[8];
	uint32_t ip;
	char a[16];

	assert_int_equal(netstate_lease(ns, def, "web-1", "web", NULL, &ip, &err), 0);
	assert_int_equal(netstate_lease(ns, def, "web-2", "web", NULL, &ip, &err), 0);
	assert_int_equal(netstate_lease(ns, def, "db", NULL, NULL, &ip, &err), 0);
	assert_int_equal(netstate_dns_lookup(def, "db", 0, out, 8), 1);
	assert_string_equal(inet_ntop(AF_INET, &out[0], a, sizeof(a)), "10.213.0.4");
	assert_int_equal(netstate_dns_lookup(def, "WEB-1", 0, out, 8), 1);
	assert_int_equal(netstate_dns_lookup(def, "web", 0, out, 8), 2);
	assert_string_equal(inet_ntop(AF_INET, &out[0], a, sizeof(a)), "10.213.0.2");
	assert_int_equal(netstate_dns_lookup(def, "web", 1, out, 8), 2);
	assert_string_equal(inet_ntop(AF_INET, &out[0], a, sizeof(a)), "10.213.0.3");
	assert_int_equal(netstate_dns_lookup(def, "web", 0, out, 1), 1);
	assert_int_equal(netstate_dns_lookup(def, "nosuch", 0, out, 8), 0);
	assert_int_equal(netstate_dns_lookup(def, "example.com", 0, out, 8), -ENOENT);
	netstate_close(ns);
}

static void test_names(void **state)
{
	char a[16], b[16];

	assert_true(netstate_name_valid("a"));
	assert_true(netstate_name_valid("web-1"));
	assert_false(netstate_name_valid("-web"));
	assert_false(netstate_name_valid("Web"));
	assert_false(netstate_name_valid(""));
	assert_false(netstate_name_valid("abcdefghijklmnopqrstuvwxyz0123456"));
	assert_true(netstate_owner_valid("My_app.1"));
	assert_false(netstate_owner_valid("a b"));
	netstate_veth_name("web-1", a);
	netstate_veth_name("web-2", b);
	assert_int_equal(strlen(a), 10);
	assert_true(strncmp(a, "cv", 2) == 0);
	assert_string_not_equal(a, b);
}

static void test_bad_documents(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{\"vpcs\": [{\"id\": \"zz\", \"name\": \"x\", \"cidr\": \"10.0.0.0/16\", \"subnet\": \"10.0.0.0/24\"}]}",
		"{\"vpcs\": [{\"id\": \"0123456789ab\", \"name\": \"x\", \"cidr\": \"10.0.0.0/16\", \"subnet\": \"10.0.0.0/24\", \"leases\": {\"10.9.0.2\": \"a\"}}]}",
		"{\"ports\": [{\"name\": \"w\", \"proto\": \"sctp\", \"vpc\": \"x\"}]}",
		"{\"vpcs\": 3}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct netstate ns = { .lock_fd = -1 };
		struct err err = { 0 };
		if (netstate_parse(bad[i], &ns, &err) >= 0)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(ns.n_vpcs, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vpcs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dns, setup, teardown),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bad_documents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
