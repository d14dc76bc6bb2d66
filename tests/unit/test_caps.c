/* Unit tests for runtime/caps: names, parsing, JSON, and applying the sets in forked
 * children (as root, and as a non-root uid keeping an ambient capability). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <grp.h>
#include <inttypes.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "base/js.h"
#include "base/util.h"
#include "runtime/caps.h"

#define BIT(c) (1ULL << (c))

static void test_names(void **state)
{
	int last = rt_cap_last();

	assert_true(last >= CAP_AUDIT_READ && last < 64);
	for (int c = 0; c <= last && c <= CAP_LAST_CAP; c++) {
		const char *n = rt_cap_name(c);
		assert_non_null(n);
		assert_int_equal(rt_cap_from_name(n), c);
		assert_int_equal(rt_cap_from_name(n + 4), c); /* without CAP_ */
		/* agrees with libcap ("cap_chown") */
		char *lc = cap_to_name(c);
		assert_int_equal(strcasecmp(lc, n), 0);
		cap_free(lc);
	}
	assert_int_equal(rt_cap_from_name("sys_admin"), CAP_SYS_ADMIN);
	assert_int_equal(rt_cap_from_name("cap_Net_Bind_Service"), CAP_NET_BIND_SERVICE);
	assert_int_equal(rt_cap_from_name("CAP_FOO"), -1);
	assert_int_equal(rt_cap_from_name(""), -1);
	assert_int_equal(rt_cap_from_name("CAP_"), -1);
	assert_null(rt_cap_name(-1));
	assert_null(rt_cap_name(64));
}

static int parse(const char *text, struct rt_caps *caps, struct err *err)
{
	json_t *j = NULL;
	int r;

	assert_int_equal(js_load_string("test", text, &j, err), 0);
	r = rt_caps_parse(j, "process.capabilities", caps, err);
	json_decref(j);
	return r;
}

static void test_parse(void **state)
{
	struct err err = {0};
	struct rt_caps caps;

	if (parse("{\"bounding\":[\"CAP_CHOWN\",\"kill\"],\"effective\":[\"CAP_KILL\"],"
		  "\"permitted\":[\"CAP_KILL\",\"CAP_CHOWN\"],\"inheritable\":[],"
		  "\"ambient\":[\"KILL\"],\"futureSet\":[\"x\"]}",
		  &caps, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(caps.present);
	assert_int_equal(caps.set[RT_CAP_BOUNDING], BIT(CAP_CHOWN) | BIT(CAP_KILL));
	assert_int_equal(caps.set[RT_CAP_EFFECTIVE], BIT(CAP_KILL));
	assert_int_equal(caps.set[RT_CAP_PERMITTED], BIT(CAP_CHOWN) | BIT(CAP_KILL));
	assert_int_equal(caps.set[RT_CAP_INHERITABLE], 0);
	assert_int_equal(caps.set[RT_CAP_AMBIENT], BIT(CAP_KILL));

	assert_int_equal(rt_caps_parse(NULL, "process.capabilities", &caps, &err), 0);
	assert_false(caps.present);
	assert_int_equal(caps.set[RT_CAP_BOUNDING], 0);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
	    {"{\"bounding\":[\"CAP_CHOWN\",\"CAP_KILL\",\"CAP_FOO\"]}",
	     "process.capabilities.bounding[2]: unknown capability 'CAP_FOO'"},
	    {"{\"ambient\":[\"\"]}", "process.capabilities.ambient[0]: unknown capability ''"},
	    {"{\"effective\":\"CAP_KILL\"}", "process.capabilities.effective: expected an array"},
	    {"{\"permitted\":[1]}", "process.capabilities.permitted[0]: expected a string"},
	    {"[]", "process.capabilities: expected an object"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct err err = {0};
		struct rt_caps caps = {{1, 2, 3, 4, 5}, true};
		int r = parse(cases[i].json, &caps, &err);
		if (r >= 0 || !streq(err.msg, cases[i].msg))
			fail_msg("case %zu: r=%d msg '%s', want '%s'", i, r, err.msg, cases[i].msg);
		assert_int_equal(caps.set[0], 1); /* untouched on failure */
	}
}

static void test_json_roundtrip(void **state)
{
	struct err err = {0};
	struct rt_caps a = {{0}, true}, b;
	json_t *j;

	for (int s = 0; s < RT_CAP_NSETS; s++)
		a.set[s] = rt_caps_default_mask() >> s;
	a.set[RT_CAP_AMBIENT] |= BIT(CAP_SYS_ADMIN);
	j = rt_caps_to_json(&a);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "ambient"), 0)),
			    "CAP_CHOWN"); /* FSETID (4) shifted down by 4 */
	assert_int_equal(rt_caps_parse(j, "process.capabilities", &b, &err), 0);
	json_decref(j);
	for (int s = 0; s < RT_CAP_NSETS; s++)
		assert_int_equal(a.set[s], b.set[s]);
}

static void test_default_mask(void **state)
{
	uint64_t m = rt_caps_default_mask();

	assert_int_equal(__builtin_popcountll(m), 14);
	assert_true(m & BIT(CAP_NET_BIND_SERVICE));
	assert_true(m & BIT(CAP_AUDIT_WRITE));
	assert_false(m & BIT(CAP_SYS_ADMIN));
	assert_false(m & BIT(CAP_NET_ADMIN));
}

/* "CapEff:\t0000000000000021" from /proc/self/status */
static uint64_t status_mask(const char *field)
{
	char line[256];
	uint64_t v = ~0ULL;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return v;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 16);
	fclose(f);
	return v;
}

#define EXPECT(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "child: %s:%d: %s (errno %d)\n", __FILE__, __LINE__,       \
				#cond, errno);                                                     \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

static int run_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int apply(const struct rt_caps *caps)
{
	struct err err = {0};

	if (rt_caps_apply(caps, &err) < 0) {
		fprintf(stderr, "child: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int child_root(void *arg)
{
	uint64_t m = BIT(CAP_CHOWN) | BIT(CAP_KILL);
	struct rt_caps caps = {{m, m, 0, m, 0}, true};

	EXPECT(apply(&caps) == 0);
	EXPECT(status_mask("CapEff") == m);
	EXPECT(status_mask("CapPrm") == m);
	EXPECT(status_mask("CapBnd") == m);
	EXPECT(status_mask("CapInh") == 0);
	EXPECT(status_mask("CapAmb") == 0);
	EXPECT(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) == 0);
	/* again, now without CAP_SETPCAP: nothing left to drop, so it still works */
	EXPECT(apply(&caps) == 0);
	EXPECT(status_mask("CapBnd") == m);
	return 0;
}

static void test_apply_root(void **state)
{
	if (geteuid() != 0)
		skip();
	assert_int_equal(run_child(child_root, NULL), 0);
}

static int child_absent(void *arg)
{
	struct rt_caps caps = {{0}, false};

	EXPECT(apply(&caps) == 0);
	EXPECT(status_mask("CapEff") == 0);
	EXPECT(status_mask("CapPrm") == 0);
	EXPECT(status_mask("CapBnd") == 0);
	return 0;
}

static void test_apply_absent(void **state)
{
	if (geteuid() != 0)
		skip();
	assert_int_equal(run_child(child_absent, NULL), 0);
}

/* The container init's order: keepcaps, setresgid/setresuid, then rt_caps_apply. */
static int child_nonroot(void *arg)
{
	uint64_t nbs = BIT(CAP_NET_BIND_SERVICE), bnd = rt_caps_default_mask();
	struct rt_caps caps = {{bnd, nbs, nbs, nbs, nbs}, true};

	EXPECT(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0);
	EXPECT(setgroups(0, NULL) == 0);
	EXPECT(setresgid(1000, 1000, 1000) == 0);
	EXPECT(setresuid(1000, 1000, 1000) == 0);
	EXPECT(status_mask("CapEff") == 0);
	EXPECT(apply(&caps) == 0);
	EXPECT(status_mask("CapAmb") == nbs);
	EXPECT(status_mask("CapEff") == nbs);
	EXPECT(status_mask("CapBnd") == bnd);
	/* ambient survives exec of an unprivileged binary as a non-root uid */
	execl("/bin/sh", "sh", "-c",
	      "grep -q '^CapEff:[[:space:]]*0000000000000400$' /proc/self/status && "
	      "grep -q '^CapAmb:[[:space:]]*0000000000000400$' /proc/self/status",
	      (char *)NULL);
	return 2;
}

static void test_apply_nonroot_ambient(void **state)
{
	if (geteuid() != 0)
		skip();
	assert_int_equal(run_child(child_nonroot, NULL), 0);
}

static int child_bad_effective(void *arg)
{
	struct err err = {0};
	struct rt_caps caps = {{0, BIT(CAP_KILL), 0, 0, 0}, true};

	EXPECT(rt_caps_apply(&caps, &err) == -EPERM);
	EXPECT(strstr(err.msg, "set capabilities: ") == err.msg);
	return 0;
}

static void test_apply_error(void **state)
{
	if (geteuid() != 0)
		skip();
	assert_int_equal(run_child(child_bad_effective, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),	 cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_json_roundtrip),
	    cmocka_unit_test(test_default_mask), cmocka_unit_test(test_apply_root),
	    cmocka_unit_test(test_apply_absent), cmocka_unit_test(test_apply_nonroot_ambient),
	    cmocka_unit_test(test_apply_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
