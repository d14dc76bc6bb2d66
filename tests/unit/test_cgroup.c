/* test_cgroup: linux.resources parsing, the v1→v2 conversions, the device rule
 * emulator and its BPF program (run in a small interpreter here), and — as root —
 * real cgroups on this host: the hybrid/v1 layout under /sys/fs/cgroup, and a v2 tree
 * under the cgroup2 mount at /sys/fs/cgroup/unified (or /sys/fs/cgroup on pure v2).
 * Every test makes its cgroups under a name with its pid and removes them in teardown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include "base/fs.h"
#include "base/js.h"
#include "base/util.h"
#include "runtime/cgroup.h"
#include "runtime/cgroup_bpf.h"
#include "runtime/cgroup_res.h"

/* --- parsing ----------------------------------------------------------------------- */

static struct rt_resources *parse_ok(const char *json)
{
	_cleanup_json_ json_t *j = NULL;
	struct rt_resources *res = NULL;
	struct err err = {0};

	assert_int_equal(js_load_string("test", json, &j, &err), 0);
	if (rt_resources_parse(j, "linux.resources", &res, &err) < 0)
		fail_msg("parse failed: %s", err.msg);
	return res;
}

static void parse_fails(const char *json, const char *msg)
{
	_cleanup_json_ json_t *j = NULL;
	struct rt_resources *res = NULL;
	struct err err = {0};

	assert_int_equal(js_load_string("test", json, &j, &err), 0);
	assert_true(rt_resources_parse(j, "linux.resources", &res, &err) < 0);
	assert_null(res);
	if (!strstr(err.msg, msg))
		fail_msg("for %s\n  got:  %s\n  want: %s", json, err.msg, msg);
}

static void test_parse_valid(void **state)
{
	struct rt_resources *r = parse_ok(
	    "{\"memory\":{\"limit\":67108864,\"reservation\":1024,\"swap\":-1,\"kernel\":5,"
	    "\"swappiness\":10,\"disableOOMKiller\":true},"
	    "\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000,\"cpus\":\"0-1\","
	    "\"mems\":\"0\",\"idle\":1,\"realtimeRuntime\":10,\"realtimePeriod\":1000},"
	    "\"pids\":{\"limit\":32},"
	    "\"blockIO\":{\"weight\":500,\"leafWeight\":300,"
	    "\"weightDevice\":[{\"major\":8,\"minor\":0,\"weight\":100}],"
	    "\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0,\"rate\":1048576}]},"
	    "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":4194304}],"
	    "\"devices\":[{\"allow\":false,\"access\":\"rwm\"},"
	    "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rw\"}],"
	    "\"unified\":{\"memory.high\":\"1G\"},\"network\":{\"classID\":1},\"future\":1}");
	(void)state;
	assert_int_equal(r->mem_limit, 67108864);
	assert_int_equal(r->mem_reservation, 1024);
	assert_int_equal(r->mem_swap, -1);
	assert_int_equal(r->mem_swappiness, 10);
	assert_true(r->mem_disable_oom);
	assert_int_equal(r->cpu_shares, 512);
	assert_int_equal(r->cpu_quota, 50000);
	assert_int_equal(r->cpu_period, 100000);
	assert_string_equal(r->cpu_cpus, "0-1");
	assert_string_equal(r->cpu_mems, "0");
	assert_int_equal(r->cpu_idle, 1);
	assert_int_equal(r->cpu_rt_runtime, 10);
	assert_int_equal(r->pids_limit, 32);
	assert_int_equal(r->blkio_weight, 500);
	assert_int_equal(r->blkio_leaf_weight, 300);
	assert_int_equal(r->n_weight_dev, 1);
	assert_int_equal(r->weight_dev[0].weight, 100);
	assert_false(r->weight_dev[0].has_leaf_weight);
	assert_int_equal(r->n_throttle[RT_THR_READ_BPS], 1);
	assert_int_equal(r->throttle[RT_THR_READ_BPS][0].rate, 1048576);
	assert_int_equal(r->n_huge, 1);
	assert_string_equal(r->huge[0].size, "2MB");
	assert_int_equal(r->n_devices, 2);
	assert_false(r->devices[0].allow);
	assert_int_equal(r->devices[0].type, 'a');
	assert_int_equal(r->devices[0].major, RES_DEV_WILDCARD);
	assert_int_equal(r->devices[1].access, RT_DEV_READ | RT_DEV_WRITE);
	assert_int_equal(r->n_unified, 1);
	assert_string_equal(r->unified[0].key, "memory.high");
	assert_true(rt_res_has(r, RES_MEM_LIMIT) && rt_res_has(r, RES_DEVICES) &&
		    rt_res_has(r, RES_BLKIO_THROTTLE) && rt_res_has(r, RES_UNIFIED));
	rt_resources_free(r);
}

static void test_parse_empty(void **state)
{
	struct rt_resources *r = parse_ok("{}");
	(void)state;
	assert_int_equal(r->set, 0);
	rt_resources_free(r);
}

static void test_parse_invalid(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
	    {"{\"memory\":{\"limit\":\"1G\"}}",
	     "linux.resources.memory.limit: expected an integer"},
	    {"{\"memory\":{\"limit\":-5}}", "linux.resources.memory.limit: invalid -5"},
	    {"{\"memory\":{\"swappiness\":101}}",
	     "linux.resources.memory.swappiness: 101 out of range"},
	    {"{\"memory\":7}", "linux.resources.memory: expected an object"},
	    {"{\"cpu\":{\"shares\":-1}}", "linux.resources.cpu.shares: -1 out of range"},
	    {"{\"cpu\":{\"cpus\":\"0-1;rm\"}}", "linux.resources.cpu.cpus: invalid '0-1;rm'"},
	    {"{\"cpu\":{\"idle\":2}}", "linux.resources.cpu.idle: invalid 2"},
	    {"{\"pids\":{\"limit\":true}}", "linux.resources.pids.limit: expected an integer"},
	    {"{\"blockIO\":{\"weight\":5}}",
	     "linux.resources.blockIO.weight: 5 out of range 10..1000"},
	    {"{\"blockIO\":{\"weight\":1001}}",
	     "linux.resources.blockIO.weight: 1001 out of range"},
	    {"{\"blockIO\":{\"weightDevice\":[{\"minor\":0}]}}",
	     "linux.resources.blockIO.weightDevice[0].major: missing required field"},
	    {"{\"blockIO\":{\"throttleWriteIOPSDevice\":[{\"major\":8,\"minor\":0}]}}",
	     "linux.resources.blockIO.throttleWriteIOPSDevice[0].rate: missing required field"},
	    {"{\"hugepageLimits\":[{\"pageSize\":\"2XB\",\"limit\":1}]}",
	     "linux.resources.hugepageLimits[0].pageSize: invalid '2XB'"},
	    {"{\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":1},{\"pageSize\":\"1GB\"}]}",
	     "linux.resources.hugepageLimits[1].limit: missing required field"},
	    {"{\"devices\":[{\"allow\":true},{\"allow\":true},{\"allow\":true,\"access\":\"rwx\"}]"
	     "}",
	     "linux.resources.devices[2].access: invalid 'rwx'"},
	    {"{\"devices\":[{\"type\":\"c\"}]}",
	     "linux.resources.devices[0].allow: missing required field"},
	    {"{\"devices\":[{\"allow\":true,\"type\":\"u\"}]}",
	     "linux.resources.devices[0].type: invalid 'u'"},
	    {"{\"devices\":[{\"allow\":true,\"major\":-2}]}",
	     "linux.resources.devices[0].major: invalid -2"},
	    {"{\"devices\":[{\"allow\":true,\"access\":\"\"}]}",
	     "linux.resources.devices[0].access: invalid ''"},
	    {"{\"devices\":[1]}", "linux.resources.devices[0]: expected an object"},
	    {"{\"devices\":{}}", "linux.resources.devices: expected an array"},
	    {"{\"unified\":{\"../etc/passwd\":\"x\"}}",
	     "linux.resources.unified: invalid key '../etc/passwd'"},
	    {"{\"unified\":{\"memory.max\":5}}",
	     "linux.resources.unified.memory.max: expected a string"},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		parse_fails(cases[i].json, cases[i].msg);
}

static void test_merge(void **state)
{
	struct rt_resources *a = parse_ok("{\"memory\":{\"limit\":100},\"cpu\":{\"cpus\":\"0\"},"
					  "\"unified\":{\"a.b\":\"1\",\"c.d\":\"2\"}}");
	struct rt_resources *b =
	    parse_ok("{\"memory\":{\"swap\":200},\"cpu\":{\"cpus\":\"1\"},"
		     "\"pids\":{\"limit\":5},\"unified\":{\"c.d\":\"3\"},"
		     "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":2}]}");
	(void)state;
	rt_resources_merge(a, b);
	assert_int_equal(a->mem_limit, 100);
	assert_int_equal(a->mem_swap, 200);
	assert_string_equal(a->cpu_cpus, "1");
	assert_int_equal(a->pids_limit, 5);
	assert_true(rt_res_has(a, RES_PIDS_LIMIT) && rt_res_has(a, RES_MEM_LIMIT));
	assert_int_equal(a->n_unified, 2);
	assert_string_equal(a->unified[1].value, "3");
	assert_int_equal(a->n_huge, 1);
	rt_resources_free(a);
	rt_resources_free(b);
}

/* --- conversions --------------------------------------------------------------------- */

static void test_shares_to_weight(void **state)
{
	(void)state;
	assert_int_equal(rt_cpu_shares_to_weight(0), 0);
	assert_int_equal(rt_cpu_shares_to_weight(2), 1);
	assert_int_equal(rt_cpu_shares_to_weight(1024), 39);
	assert_int_equal(rt_cpu_shares_to_weight(262144), 10000);
	assert_int_equal(rt_cpu_shares_to_weight(1), 1);
	assert_int_equal(rt_cpu_shares_to_weight(1000000), 10000);
	assert_int_equal(rt_blkio_weight_to_io_weight(10), 1);
	assert_int_equal(rt_blkio_weight_to_io_weight(1000), 10000);
	assert_int_equal(rt_blkio_weight_to_io_weight(500), 4950);
}

static void test_swap_to_v2(void **state)
{
	struct err err = {0};
	int64_t v = 0;
	bool set;
	(void)state;

	assert_int_equal(rt_swap_to_v2(100, 0, &v, &set, &err), 0);
	assert_false(set);
	assert_int_equal(rt_swap_to_v2(100, -1, &v, &set, &err), 0);
	assert_true(set);
	assert_int_equal(v, -1);
	assert_int_equal(rt_swap_to_v2(100, 300, &v, &set, &err), 0);
	assert_int_equal(v, 200);
	assert_int_equal(rt_swap_to_v2(100, 100, &v, &set, &err), 0);
	assert_int_equal(v, 0);
	assert_true(rt_swap_to_v2(0, 300, &v, &set, &err) < 0);
	assert_non_null(strstr(err.msg, "needs a memory limit"));
	assert_true(rt_swap_to_v2(-1, 300, &v, &set, &err) < 0);
	assert_true(rt_swap_to_v2(400, 300, &v, &set, &err) < 0);
	assert_non_null(strstr(err.msg, "below memory.limit"));
}

static void test_resolve_path(void **state)
{
	static const struct {
		const char *in, *id, *out;
	} ok[] = {
	    {NULL, "abc", "/coop/abc"},
	    {"", "abc", "/coop/abc"},
	    {"/a/b", "x", "/a/b"},
	    {"a//b/./c/", "x", "/a/b/c"},
	    {"system.slice:coop:abc", "x", "/system.slice/coop-abc.scope"},
	    {"machine-foo.slice:coop:abc", "x", "/machine.slice/machine-foo.slice/coop-abc.scope"},
	    {":coop:abc", "x", "/system.slice/coop-abc.scope"},
	    {"-.slice::abc", "x", "/abc.scope"},
	};
	static const char *const bad[] = {"/a/../b", "/", "x.slice/:a:b", "bad:coop:abc"};
	struct err err = {0};
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		_cleanup_free_ char *p = NULL;
		if (rt_cgroup_resolve_path(ok[i].in, ok[i].id, &p, &err) < 0)
			fail_msg("%s: %s", ok[i].in, err.msg);
		assert_string_equal(p, ok[i].out);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *p = NULL;
		if (rt_cgroup_resolve_path(bad[i], "x", &p, &err) == 0)
			fail_msg("%s accepted as %s", bad[i], p);
	}
	assert_true(rt_cgroup_resolve_path(NULL, "../x", &(char *){NULL}, &err) < 0);
}

/* --- devices ------------------------------------------------------------------------ */

#define R(allow, type, maj, min, acc)                                                              \
	{                                                                                          \
		allow, type, maj, min, acc                                                         \
	}
#define ANYN RES_DEV_WILDCARD

static void test_dev_emulate(void **state)
{
	static const struct rt_dev_rule spec[] = {
	    R(false, 'a', ANYN, ANYN, RT_DEV_RWM), R(true, 'c', 1, 11, RT_DEV_READ),
	    R(true, 'b', 7, ANYN, RT_DEV_RWM),	   R(false, 'b', 7, ANYN, RT_DEV_MKNOD),
	    R(true, 'c', 1, 11, RT_DEV_WRITE),
	};
	struct rt_dev_state st;
	char buf[64];
	(void)state;

	rt_dev_emulate(spec, ARRAY_SIZE(spec), true, &st);
	assert_false(st.allow_default);
	assert_int_equal(st.n, 2 + rt_n_default_devices);
	assert_true(rt_dev_check(&st, 'c', 1, 11, RT_DEV_READ | RT_DEV_WRITE));
	assert_false(rt_dev_check(&st, 'c', 1, 11, RT_DEV_MKNOD));
	assert_true(rt_dev_check(&st, 'b', 7, 3, RT_DEV_READ));
	assert_false(rt_dev_check(&st, 'b', 7, 3, RT_DEV_MKNOD));
	assert_false(rt_dev_check(&st, 'c', 7, 3, RT_DEV_READ));
	assert_true(rt_dev_check(&st, 'c', 1, 3, RT_DEV_RWM));	   /* default: null */
	assert_true(rt_dev_check(&st, 'c', 136, 42, RT_DEV_READ)); /* default: pts */
	assert_false(rt_dev_check(&st, 'c', 1, 1, RT_DEV_READ));   /* /dev/mem */
	rt_dev_format(&st.ex[0], buf, sizeof(buf));
	assert_string_equal(buf, "c 1:11 rw");
	rt_dev_format(&st.ex[1], buf, sizeof(buf));
	assert_string_equal(buf, "b 7:* rw");
	rt_dev_state_clear(&st);

	/* privileged: allow all, then a deny; the defaults do not reopen it */
	static const struct rt_dev_rule priv[] = {
	    R(true, 'a', ANYN, ANYN, RT_DEV_RWM),
	    R(false, 'c', 1, 1, RT_DEV_WRITE),
	    R(false, 'c', 1, 3, RT_DEV_RWM),
	};
	rt_dev_emulate(priv, ARRAY_SIZE(priv), true, &st);
	assert_true(st.allow_default);
	assert_int_equal(st.n, 1);
	assert_true(rt_dev_check(&st, 'c', 1, 1, RT_DEV_READ));
	assert_false(rt_dev_check(&st, 'c', 1, 1, RT_DEV_READ | RT_DEV_WRITE));
	assert_true(rt_dev_check(&st, 'c', 1, 3, RT_DEV_WRITE));
	assert_true(rt_dev_check(&st, 'b', 8, 0, RT_DEV_RWM));
	rt_dev_state_clear(&st);

	/* no rules: deny everything but the defaults; an "a" rule with partial access
	 * stands for c and b */
	static const struct rt_dev_rule part[] = {R(true, 'a', ANYN, ANYN, RT_DEV_READ)};
	rt_dev_emulate(NULL, 0, false, &st);
	assert_int_equal(st.n, 0);
	assert_false(rt_dev_check(&st, 'c', 1, 3, RT_DEV_READ));
	rt_dev_state_clear(&st);
	rt_dev_emulate(part, 1, false, &st);
	assert_int_equal(st.n, 2);
	assert_true(rt_dev_check(&st, 'b', 8, 0, RT_DEV_READ));
	assert_false(rt_dev_check(&st, 'b', 8, 0, RT_DEV_WRITE));
	rt_dev_state_clear(&st);
}

/* A tiny interpreter for the instructions rt_devbpf_build emits. */
static int run_prog(const struct bpf_insn *p, size_t n, unsigned type, unsigned acc, unsigned major,
		    unsigned minor)
{
	uint32_t ctx[3] = {(acc << 16) | type, major, minor};
	uint64_t reg[11] = {0};
	size_t pc = 0;

	while (pc < n) {
		const struct bpf_insn *i = &p[pc++];
		uint64_t src =
		    BPF_SRC(i->code) == BPF_X ? reg[i->src_reg] : (uint64_t)(int64_t)i->imm;
		switch (i->code) {
		case BPF_LDX | BPF_MEM | BPF_W:
			assert_int_equal(i->src_reg, 1);
			reg[i->dst_reg] = ctx[i->off / 4];
			break;
		case BPF_ALU64 | BPF_MOV | BPF_X:
		case BPF_ALU64 | BPF_MOV | BPF_K:
			reg[i->dst_reg] = src;
			break;
		case BPF_ALU64 | BPF_AND | BPF_K:
			reg[i->dst_reg] &= src;
			break;
		case BPF_ALU64 | BPF_RSH | BPF_K:
			reg[i->dst_reg] >>= src;
			break;
		case BPF_JMP | BPF_JNE | BPF_K:
			if (reg[i->dst_reg] != src)
				pc += i->off;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			if (reg[i->dst_reg] == src)
				pc += i->off;
			break;
		case BPF_JMP | BPF_EXIT:
			return (int)reg[0];
		default:
			fail_msg("unexpected opcode 0x%x at %zu", i->code, pc - 1);
		}
	}
	fail_msg("fell off the program");
	return -1;
}

static void check_prog_matches(const struct rt_dev_rule *rules, size_t n)
{
	static const unsigned nums[][2] = {{1, 3},   {1, 11}, {7, 0},	 {7, 9},
					   {136, 4}, {8, 0},  {10, 200}, {1, 1}};
	struct rt_dev_state st;
	struct bpf_insn *prog;
	size_t np;

	rt_dev_emulate(rules, n, true, &st);
	rt_devbpf_build(&st, &prog, &np);
	for (size_t d = 0; d < ARRAY_SIZE(nums); d++)
		for (int t = 0; t < 2; t++)
			for (unsigned acc = 1; acc <= RT_DEV_RWM; acc++) {
				char type = t ? 'b' : 'c';
				int want = rt_dev_check(&st, type, nums[d][0], nums[d][1], acc);
				int got =
				    run_prog(prog, np, t ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR,
					     acc, nums[d][0], nums[d][1]);
				if (want != got)
					fail_msg("%c %u:%u acc %u: program %d, emulator %d", type,
						 nums[d][0], nums[d][1], acc, got, want);
			}
	free(prog);
	rt_dev_state_clear(&st);
}

static void test_devbpf_program(void **state)
{
	static const struct rt_dev_rule a[] = {
	    R(false, 'a', ANYN, ANYN, RT_DEV_RWM),
	    R(true, 'c', 1, 11, RT_DEV_READ),
	    R(true, 'b', 7, ANYN, RT_DEV_READ | RT_DEV_MKNOD),
	    R(true, 'c', ANYN, 4, RT_DEV_WRITE),
	};
	static const struct rt_dev_rule b[] = {
	    R(true, 'a', ANYN, ANYN, RT_DEV_RWM),
	    R(false, 'c', 1, 3, RT_DEV_WRITE),
	    R(false, 'b', 7, ANYN, RT_DEV_RWM),
	    R(false, 'c', 1, 1, RT_DEV_READ),
	};
	struct rt_dev_state st;
	struct bpf_insn *prog;
	size_t np;
	(void)state;

	check_prog_matches(a, ARRAY_SIZE(a));
	check_prog_matches(b, ARRAY_SIZE(b));
	check_prog_matches(NULL, 0);
	/* shape: 6 loads, then per exception a block, then the default verdict */
	rt_dev_emulate(NULL, 0, false, &st);
	rt_devbpf_build(&st, &prog, &np);
	assert_int_equal(np, 8);
	assert_int_equal(prog[6].imm, 0);
	free(prog);
}

/* --- real cgroups ------------------------------------------------------------------ */

struct fx {
	char name[64];	/* the test's top directory, under every hierarchy */
	char root[128]; /* v2 test: its private root */
	pid_t child;
	struct rt_cgroup *cg;
	int go[2]; /* child blocks reading until told to probe devices */
};

/* A child that waits on a pipe, then opens /dev/null (allowed) and /dev/kmsg (not)
 * and exits with 0 when the device rules held. */
static pid_t spawn(struct fx *f)
{
	pid_t pid;
	char c;

	assert_int_equal(pipe2(f->go, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (read(f->go[0], &c, 1) != 1)
			_exit(0); /* parent went away or closed: just exit */
		int null_fd = open("/dev/null", O_WRONLY);
		int kmsg_fd = open("/dev/kmsg", O_RDONLY);
		_exit(null_fd >= 0 && kmsg_fd < 0 && errno == EPERM ? 0 : 1);
	}
	close(f->go[0]);
	f->go[0] = -1;
	return pid;
}

static int probe_devices(struct fx *f)
{
	int status = -1;

	assert_int_equal(write(f->go[1], "x", 1), 1);
	assert_int_equal(waitpid(f->child, &status, 0), f->child);
	f->child = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool is_root_hybrid_or_v1(void)
{
	enum rt_cgroup_mode m;
	struct err err = {0};

	rt_cgroup_set_root(NULL);
	return geteuid() == 0 && rt_cgroup_detect(&m, &err) == 0 && m != RT_CGROUP_V2;
}

static void rm_everywhere(const char *base, const char *name)
{
	_cleanup_closedir_ DIR *d = opendir(base);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s/%s", base, de->d_name, name);
		if (access(p, F_OK) == 0)
			fs_rm_rf(p, NULL); /* cgroup dirs: the files go with rmdir */
	}
}

static int fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->name, sizeof(f->name), "coop-unit-%d", (int)getpid());
	f->go[0] = f->go[1] = -1;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	struct err err = {0};

	if (f->go[1] >= 0)
		close(f->go[1]);
	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	if (f->cg && rt_cgroup_destroy(f->cg, &err) < 0)
		print_error("teardown: %s\n", err.msg);
	rt_cgroup_free(f->cg);
	if (f->root[0]) {
		_cleanup_free_ char *coop = xasprintf("%s/coop", f->root);
		rmdir(coop);
		rmdir(f->root);
	} else {
		rm_everywhere("/sys/fs/cgroup", f->name);
	}
	rt_cgroup_set_root(NULL);
	free(f);
	return 0;
}

static bool gone_everywhere(const char *name)
{
	_cleanup_closedir_ DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *de;

	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = xasprintf("/sys/fs/cgroup/%s/%s", de->d_name, name);
		if (access(p, F_OK) == 0)
			return false;
	}
	return true;
}

static void assert_file(const char *want, const char *fmt, ...)
{
	_cleanup_free_ char *file = NULL, *got = NULL;
	struct err err = {0};
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&file, fmt, ap) > 0);
	va_end(ap);
	if (fs_read(file, &got, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(got, want);
}

/* Priming moves this process into the cgroup it is in: nothing changes where it is
 * (what it saves — the attach's grace period — is bench/daemon's to measure). */
static void test_prime_moves_nothing(void **state)
{
	_cleanup_free_ char *before = NULL, *after = NULL;
	struct err err = {0};

	(void)state;
	if (geteuid() != 0)
		skip();
	rt_cgroup_set_root(NULL);
	assert_int_equal(fs_read("/proc/self/cgroup", &before, &err), 0);
	for (int i = 0; i < 3; i++) { /* again while one may still run: no second thread */
		rt_cgroup_prime();
		rt_cgroup_prime();
		rt_cgroup_prime_wait();
	}
	rt_cgroup_prime_wait(); /* nothing to join: a no-op */
	assert_int_equal(fs_read("/proc/self/cgroup", &after, &err), 0);
	assert_string_equal(before, after);
	/* a fork after the join is a single-threaded child as before */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_hybrid_cycle(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	struct rt_resources *res;
	_cleanup_free_ char *path = NULL, *file = NULL;
	_cleanup_free_ pid_t *pids = NULL;
	struct rt_cgroup *again = NULL;
	size_t n = 0;
	uint64_t ooms = 99;

	if (!is_root_hybrid_or_v1())
		skip();
	res = parse_ok("{\"memory\":{\"limit\":67108864,\"swappiness\":0},"
		       "\"cpu\":{\"shares\":512,\"quota\":20000,\"period\":100000},"
		       "\"pids\":{\"limit\":16},"
		       "\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}");
	path = xasprintf("/%s/c1", f->name);
	f->child = spawn(f);
	if (rt_cgroup_create(path, "c1", res, f->child, &f->cg, &err) < 0)
		fail_msg("create: %s", err.msg);
	rt_resources_free(res);
	/* we made /<name> and /<name>/c1: the state says so */
	_cleanup_free_ char *want_state = xasprintf("%s#2", path);
	assert_string_equal(rt_cgroup_path(f->cg), want_state);

	assert_file("67108864\n", "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", path);
	assert_file("20000\n", "/sys/fs/cgroup/cpu%s/cpu.cfs_quota_us", path);
	assert_file("16\n", "/sys/fs/cgroup/pids%s/pids.max", path);
	file = xasprintf("/sys/fs/cgroup/unified%s", path);
	assert_int_equal(access(file, F_OK), 0); /* the v2 side of hybrid */

	/* a new process (the CLI) re-opens it from the recorded path */
	if (rt_cgroup_open(rt_cgroup_path(f->cg), &again, &err) < 0)
		fail_msg("open: %s", err.msg);
	assert_int_equal(rt_cgroup_pids(again, &pids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], f->child);
	assert_int_equal(rt_cgroup_is_frozen(again, &err), 0);
	if (rt_cgroup_freeze(again, true, &err) < 0)
		fail_msg("freeze: %s", err.msg);
	assert_int_equal(rt_cgroup_is_frozen(again, &err), 1);
	assert_int_equal(rt_cgroup_freeze(again, false, &err), 0);
	assert_int_equal(rt_cgroup_is_frozen(again, &err), 0);
	assert_int_equal(rt_cgroup_oom_kills(again, &ooms, &err), 0);
	assert_int_equal(ooms, 0);

	/* update: a new memory limit */
	res = parse_ok("{\"memory\":{\"limit\":33554432}}");
	assert_int_equal(rt_cgroup_update(again, res, &err), 0);
	rt_resources_free(res);
	assert_file("33554432\n", "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", path);

	/* the v1 device rules hold: /dev/null yes, /dev/kmsg no */
	assert_int_equal(probe_devices(f), 0);

	if (rt_cgroup_destroy(again, &err) < 0)
		fail_msg("destroy: %s", err.msg);
	rt_cgroup_free(again);
	assert_true(gone_everywhere(f->name));
}

static void test_hybrid_kill_on_destroy(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *path = NULL;
	int status;

	if (!is_root_hybrid_or_v1())
		skip();
	path = xasprintf("/%s/c2", f->name);
	f->child = spawn(f);
	if (rt_cgroup_create(path, "c2", NULL, f->child, &f->cg, &err) < 0)
		fail_msg("create: %s", err.msg);
	assert_int_equal(rt_cgroup_kill_all(f->cg, SIGTERM, &err), 0);
	assert_int_equal(waitpid(f->child, &status, 0), f->child);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	f->child = spawn(f);
	assert_int_equal(rt_cgroup_enter(f->cg, f->child, &err), 0);
	if (rt_cgroup_destroy(f->cg, &err) < 0)
		fail_msg("destroy: %s", err.msg);
	assert_int_equal(waitpid(f->child, &status, 0), f->child);
	f->child = 0;
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	rt_cgroup_free(f->cg);
	f->cg = NULL;
	assert_true(gone_everywhere(f->name));
}

static void test_hybrid_failure_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *path = NULL, *weight = NULL;
	struct rt_resources *res;
	int r;

	if (!is_root_hybrid_or_v1())
		skip();
	weight = xasprintf("/sys/fs/cgroup/blkio/blkio.weight");
	if (access(weight, F_OK) == 0)
		skip(); /* this kernel has blkio.weight: nothing fails */
	res = parse_ok("{\"memory\":{\"limit\":67108864},\"blockIO\":{\"weight\":500}}");
	path = xasprintf("/%s/c3", f->name);
	r = rt_cgroup_create(path, "c3", res, 0, &f->cg, &err);
	rt_resources_free(res);
	assert_true(r < 0);
	assert_null(f->cg);
	assert_string_equal(err.msg, "linux.resources.blockIO.weight: not supported by this "
				     "kernel (no blkio.weight)");
	assert_true(gone_everywhere(f->name));

	res = parse_ok("{\"unified\":{\"memory.high\":\"1\"}}");
	r = rt_cgroup_create(path, "c3", res, 0, &f->cg, &err);
	rt_resources_free(res);
	enum rt_cgroup_mode m;
	assert_int_equal(rt_cgroup_detect(&m, &err), 0);
	if (m == RT_CGROUP_HYBRID) {
		/* memory is not in the unified tree here: the write fails, named */
		assert_true(r < 0);
		assert_non_null(strstr(err.msg, "linux.resources.unified.memory.high: "));
	}
	assert_true(gone_everywhere(f->name));
}

static void test_hybrid_mount(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *path = NULL;
	char dest[] = "/tmp/coop-cgmnt-XXXXXX";
	int status;
	pid_t pid;

	if (!is_root_hybrid_or_v1())
		skip();
	path = xasprintf("/%s/c4", f->name);
	if (rt_cgroup_create(path, "c4", NULL, 0, &f->cg, &err) < 0)
		fail_msg("create: %s", err.msg);
	assert_non_null(mkdtemp(dest));
	pid = fork();
	if (pid == 0) {
		/* both views, in a private mount namespace that dies with the child */
		_cleanup_free_ char *mem = xasprintf("%s/memory/memory.limit_in_bytes", dest);
		_cleanup_free_ char *uni = xasprintf("%s/unified/cgroup.procs", dest);
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(10);
		if (rt_cgroup_mount(f->cg, dest, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
				    false, &err) < 0) {
			fprintf(stderr, "mount: %s\n", err.msg);
			_exit(11);
		}
		if (access(mem, F_OK) < 0 || access(uni, F_OK) < 0)
			_exit(12);
		_cleanup_free_ char *x = xasprintf("%s/x", dest);
		if (mkdir(x, 0755) == 0 || errno != EROFS)
			_exit(13);
		/* with a cgroup namespace: real cgroup mounts rooted at the container */
		if (rt_cgroup_enter(f->cg, getpid(), &err) < 0 || unshare(CLONE_NEWCGROUP) < 0)
			_exit(14);
		if (umount2(dest, MNT_DETACH) < 0 ||
		    rt_cgroup_mount(f->cg, dest, MS_NOSUID, true, &err) < 0) {
			fprintf(stderr, "mount (cgroupns): %s\n", err.msg);
			_exit(15);
		}
		if (access(mem, F_OK) < 0)
			_exit(16);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	rmdir(dest);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* v2: a private root under the cgroup2 mount (the unified tree on hybrid hosts, which
 * has no controllers here, so only the core files and device programs are tested). */
static bool v2_setup(struct fx *f)
{
	const char *mnt = NULL;
	struct statfs sfs;

	if (geteuid() != 0)
		return false;
	if (statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
		mnt = "/sys/fs/cgroup";
	else if (statfs("/sys/fs/cgroup/unified", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
		mnt = "/sys/fs/cgroup/unified";
	if (!mnt)
		return false;
	snprintf(f->root, sizeof(f->root), "%s/%s-v2", mnt, f->name);
	if (mkdir(f->root, 0755) < 0)
		return false;
	rt_cgroup_set_root(f->root);
	return true;
}

static void test_v2_cycle(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	struct rt_cgroup *again = NULL;
	_cleanup_free_ pid_t *pids = NULL;
	_cleanup_free_ char *leaf = NULL;
	enum rt_cgroup_mode m;
	size_t n;
	int status;

	if (!v2_setup(f)) {
		print_message("no usable cgroup2 mount: skipping\n");
		skip();
	}
	assert_int_equal(rt_cgroup_detect(&m, &err), 0);
	assert_int_equal(m, RT_CGROUP_V2);
	f->child = spawn(f);
	if (rt_cgroup_create(NULL, "abc", NULL, f->child, &f->cg, &err) < 0)
		fail_msg("create: %s", err.msg);
	assert_string_equal(rt_cgroup_path(f->cg), "/coop/abc#2");
	leaf = xasprintf("%s/coop/abc", f->root);
	assert_int_equal(access(leaf, F_OK), 0);

	assert_int_equal(rt_cgroup_open("/coop/abc#2", &again, &err), 0);
	assert_int_equal(rt_cgroup_pids(again, &pids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], f->child);
	if (rt_cgroup_freeze(again, true, &err) < 0)
		fail_msg("freeze: %s", err.msg);
	assert_int_equal(rt_cgroup_is_frozen(again, &err), 1);
	assert_int_equal(rt_cgroup_freeze(again, false, &err), 0);
	assert_int_equal(rt_cgroup_is_frozen(again, &err), 0);

	/* the device program is attached: /dev/null works, /dev/kmsg does not */
	assert_int_equal(probe_devices(f), 0);

	/* replacing the program (update) keeps one attached */
	struct rt_resources *res = parse_ok("{\"devices\":[{\"allow\":true,\"type\":\"c\","
					    "\"major\":1,\"minor\":11,\"access\":\"r\"}]}");
	if (rt_cgroup_update(again, res, &err) < 0)
		fail_msg("update: %s", err.msg);
	rt_resources_free(res);

	/* a limit for a controller the tree lacks fails clearly */
	res = parse_ok("{\"pids\":{\"limit\":10}}");
	assert_int_equal(rt_cgroup_get_mode(again), RT_CGROUP_V2);
	int r = rt_cgroup_update(again, res, &err);
	rt_resources_free(res);
	if (r < 0)
		assert_non_null(strstr(err.msg, "linux.resources.pids"));

	/* destroy kills via cgroup.kill */
	f->child = spawn(f);
	assert_int_equal(rt_cgroup_enter(again, f->child, &err), 0);
	if (rt_cgroup_destroy(again, &err) < 0)
		fail_msg("destroy: %s", err.msg);
	assert_int_equal(waitpid(f->child, &status, 0), f->child);
	f->child = 0;
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	rt_cgroup_free(again);
	rt_cgroup_free(f->cg);
	f->cg = NULL;
	assert_int_equal(access(leaf, F_OK), -1);
	_cleanup_free_ char *coop = xasprintf("%s/coop", f->root);
	assert_int_equal(access(coop, F_OK), -1);
}

#define FX(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_valid),
	    cmocka_unit_test(test_parse_empty),
	    cmocka_unit_test(test_parse_invalid),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_shares_to_weight),
	    cmocka_unit_test(test_swap_to_v2),
	    cmocka_unit_test(test_resolve_path),
	    cmocka_unit_test(test_dev_emulate),
	    cmocka_unit_test(test_devbpf_program),
	    cmocka_unit_test(test_prime_moves_nothing),
	    FX(test_hybrid_cycle),
	    FX(test_hybrid_kill_on_destroy),
	    FX(test_hybrid_failure_leaves_nothing),
	    FX(test_hybrid_mount),
	    FX(test_v2_cycle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
