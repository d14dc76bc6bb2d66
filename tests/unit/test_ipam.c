/* Unit tests for net/ipam: CIDR parsing and overlap, subnet carving, leases. Pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/util.h"
#include "net/ipam.h"

static struct net_cidr cidr(const char *s)
{
	struct net_cidr c;
	struct err err = { 0 };
	assert_int_equal(net_ipam_cidr_parse(s, &c, &err), 0);
	return c;
}

static void test_parse(void **state)
{
	static const struct {
		const char *in, *want;
	} bad[] = {
		{ "10.1.0.0", "missing /prefix" },     { "10.1.0.0/33", "prefix must be 0..32" },
		{ "10.1.0.0/", "prefix must be 0..32" }, { "10.1.0.300/24", "bad address" },
		{ "10.1.2.3/16", "host bits set (did you mean 10.1.0.0/16?)" },
		{ "x/8", "bad address" },             { "10.0.0.0/8x", "prefix" },
	};
	char buf[20];
	struct net_cidr c = cidr("10.213.0.0/16");

	assert_string_equal(net_ipam_cidr_fmt(&c, buf), "10.213.0.0/16");
	c = cidr("0.0.0.0/0");
	assert_int_equal(c.prefix, 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct err err = { 0 };
		assert_int_equal(net_ipam_cidr_parse(bad[i].in, &c, &err), -EINVAL);
		if (!strstr(err.msg, bad[i].want))
			fail_msg("'%s': got '%s'", bad[i].in, err.msg);
	}
}

static void test_overlap(void **state)
{
	struct net_cidr a = cidr("10.1.0.0/16"), b = cidr("10.1.5.0/24"), c = cidr("10.2.0.0/16");
	struct net_cidr all = cidr("0.0.0.0/0");

	assert_true(net_ipam_overlap(&a, &b));
	assert_true(net_ipam_overlap(&b, &a));
	assert_false(net_ipam_overlap(&a, &c));
	assert_true(net_ipam_overlap(&all, &c));
	assert_true(net_ipam_contains(&b, (10u << 24) | (1 << 16) | (5 << 8) | 7));
	assert_false(net_ipam_contains(&b, (10u << 24) | (1 << 16) | (6 << 8) | 7));
	assert_int_equal(net_ipam_capacity(&b), 253);
}

static void test_subnets(void **state)
{
	struct net_cidr net = cidr("10.9.0.0/22"), taken[4], got;
	struct err err = { 0 };
	char buf[20];

	for (int i = 0; i < 4; i++) {
		assert_int_equal(net_ipam_subnet_alloc(&net, 24, taken, i, &got, &err), 0);
		taken[i] = got;
	}
	assert_string_equal(net_ipam_cidr_fmt(&taken[3], buf), "10.9.3.0/24");
	assert_int_equal(net_ipam_subnet_alloc(&net, 24, taken, 4, &got, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "10.9.0.0/22 has no free /24 left"));
	/* a hole is reused */
	taken[1] = taken[3];
	assert_int_equal(net_ipam_subnet_alloc(&net, 24, taken, 3, &got, &err), 0);
	assert_string_equal(net_ipam_cidr_fmt(&got, buf), "10.9.1.0/24");
	assert_int_equal(net_ipam_subnet_alloc(&net, 16, taken, 0, &got, &err), -EINVAL);
}

static void test_leases(void **state)
{
	struct net_cidr sub = cidr("10.9.3.0/29"); /* 8 addresses: 5 usable */
	struct net_ipam_pool p;
	struct err err = { 0 };
	uint32_t a, got[5];
	char buf[16];

	assert_int_equal(net_ipam_pool_init(&p, &sub, &err), 0);
	assert_string_equal(net_ipam_addr_fmt(net_ipam_gateway(&sub), buf), "10.9.3.1");
	for (int i = 0; i < 5; i++) {
		assert_int_equal(net_ipam_lease(&p, &got[i], &err), 0);
		assert_int_equal(got[i], sub.addr + 2 + i);
	}
	assert_int_equal(net_ipam_lease(&p, &a, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "10.9.3.0/29 is full"));
	/* released addresses come back, gateway and broadcast never do */
	net_ipam_release(&p, got[1]);
	net_ipam_release(&p, sub.addr + 1);
	net_ipam_release(&p, sub.addr + 7);
	assert_int_equal(net_ipam_lease(&p, &a, &err), 0);
	assert_int_equal(a, got[1]);
	assert_int_equal(net_ipam_lease(&p, &a, &err), -ENOSPC);
	/* reserve for restoring state */
	net_ipam_release(&p, got[4]);
	assert_int_equal(net_ipam_reserve(&p, got[4], &err), 0);
	assert_int_equal(net_ipam_reserve(&p, got[4], &err), -EEXIST);
	assert_int_equal(net_ipam_reserve(&p, sub.addr + 100, &err), -EINVAL);
	assert_true(net_ipam_in_use(&p, got[0]));
	net_ipam_pool_free(&p);
	/* pools are bounded */
	sub = cidr("10.0.0.0/8");
	assert_int_equal(net_ipam_pool_init(&p, &sub, &err), -EINVAL);
}

/* Addresses are not reused immediately: a released one comes back only after the rest. */
static void test_no_immediate_reuse(void **state)
{
	struct net_cidr sub = cidr("10.9.4.0/24");
	struct net_ipam_pool p;
	struct err err = { 0 };
	uint32_t a, b;

	assert_int_equal(net_ipam_pool_init(&p, &sub, &err), 0);
	assert_int_equal(net_ipam_lease(&p, &a, &err), 0);
	net_ipam_release(&p, a);
	assert_int_equal(net_ipam_lease(&p, &b, &err), 0);
	assert_int_not_equal(a, b);
	net_ipam_pool_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),   cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_subnets), cmocka_unit_test(test_leases),
		cmocka_unit_test(test_no_immediate_reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
