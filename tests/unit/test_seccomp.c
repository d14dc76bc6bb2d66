/* Unit tests for runtime/seccomp: parsing (errors name the field), loading filters in
 * forked children, Docker's default profile, and how long applying it takes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>

#include "base/js.h"
#include "base/util.h"
#include "runtime/caps.h"
#include "runtime/seccomp.h"

static struct rt_seccomp *parse_ok(const char *text)
{
	struct err err = {0};
	json_t *j = NULL;
	struct rt_seccomp *sc = NULL;

	assert_int_equal(js_load_string("test", text, &j, &err), 0);
	if (rt_seccomp_parse(j, "linux.seccomp", &sc, &err) < 0)
		fail_msg("parse failed: %s", err.msg);
	json_decref(j);
	return sc;
}

static void test_parse_valid(void **state)
{
	struct rt_seccomp *sc = parse_ok(
	    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1,"
	    "\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\",\"SCMP_ARCH_AARCH64\"],"
	    "\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\",\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"],"
	    "\"listenerPath\":\"/ignored\",\"somethingNew\":{},"
	    "\"syscalls\":[{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\"},"
	    "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":"
	    "[{\"index\":0,\"value\":8,\"op\":\"SCMP_CMP_EQ\"}]},"
	    "{\"names\":[\"mmap\"],\"action\":\"SCMP_ACT_TRACE\",\"errnoRet\":7,\"args\":"
	    "[{\"index\":2,\"value\":4,\"valueTwo\":4,\"op\":\"SCMP_CMP_MASKED_EQ\"}]},"
	    "{\"name\":\"getpid\",\"action\":\"SCMP_ACT_KILL_PROCESS\"},"
	    "{\"names\":[\"no_such_syscall\"],\"action\":\"SCMP_ACT_LOG\"}]}");
	rt_seccomp_free(sc);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
	    {"[]", "linux.seccomp: expected an object"},
	    {"{}", "linux.seccomp.defaultAction: missing required field"},
	    {"{\"defaultAction\":\"SCMP_ACT_NOPE\"}",
	     "linux.seccomp.defaultAction: unknown action 'SCMP_ACT_NOPE'"},
	    {"{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}",
	     "linux.seccomp: SCMP_ACT_NOTIFY not supported"},
	    {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":-1}",
	     "linux.seccomp.defaultErrnoRet: -1 out of range 0..65535"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_VAX\"]}",
	     "linux.seccomp.architectures[0]: unknown architecture 'SCMP_ARCH_VAX'"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\","
	     "\"SECCOMP_FILTER_FLAG_BOGUS\"]}",
	     "linux.seccomp.flags[1]: unknown flag 'SECCOMP_FILTER_FLAG_BOGUS'"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":{}}",
	     "linux.seccomp.syscalls: expected an array"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"action\":\"SCMP_ACT_KILL\"}]}",
	     "linux.seccomp.syscalls[0].names: missing required field"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"]}]}",
	     "linux.seccomp.syscalls[0].action: missing required field"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
	     "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":\"x\"}]}",
	     "linux.seccomp.syscalls[0].errnoRet: expected an integer"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
	     "\"action\":\"SCMP_ACT_NOTIFY\"}]}",
	     "linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY not supported"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],"
	     "\"action\":\"SCMP_ACT_KILL\"},{\"names\":[\"b\"],\"action\":\"SCMP_ACT_KILL\"},"
	     "{\"names\":[\"c\"],\"action\":\"SCMP_ACT_KILL\"},{\"names\":[\"d\"],\"action\":"
	     "\"SCMP_ACT_KILL\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_FOO\"}]}]}",
	     "linux.seccomp.syscalls[3].args[0].op: unknown operator 'SCMP_CMP_FOO'"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],\"action\":"
	     "\"SCMP_ACT_KILL\",\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
	     "linux.seccomp.syscalls[0].args[0].index: 6 out of range 0..5"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],\"action\":"
	     "\"SCMP_ACT_KILL\",\"args\":[{\"index\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
	     "linux.seccomp.syscalls[0].args[0].value: missing required field"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\",3],"
	     "\"action\":\"SCMP_ACT_KILL\"}]}",
	     "linux.seccomp.syscalls[0].names[1]: expected a string"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct err err = {0};
		json_t *j = NULL;
		struct rt_seccomp *sc = NULL;

		assert_int_equal(js_load_string("test", cases[i].json, &j, &err), 0);
		int r = rt_seccomp_parse(j, "linux.seccomp", &sc, &err);
		json_decref(j);
		if (r >= 0 || strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("case %zu: r=%d msg '%s', want '%s'", i, r, err.msg, cases[i].msg);
		assert_null(sc);
	}
}

/* Runs fn in a child; the child's exit status is 0 on success or the line that failed. */
typedef int (*child_fn)(void *arg);

static int run_child(child_fn fn, void *arg)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return 1000 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

#define EXPECT(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "child: %s:%d: %s (errno %d)\n", __FILE__, __LINE__,       \
				#cond, errno);                                                     \
			return __LINE__ & 0xff ? __LINE__ & 0xff : 1;                              \
		}                                                                                  \
	} while (0)

static int load(struct rt_seccomp *sc)
{
	struct err err = {0};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (rt_seccomp_apply(sc, &err) < 0) {
		fprintf(stderr, "child: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int child_getpid_errno(void *arg)
{
	EXPECT(load(arg) == 0);
	errno = 0;
	EXPECT(syscall(SYS_getpid) == -1 && errno == 42);
	EXPECT(syscall(SYS_getppid) > 0);
	return 0;
}

static void test_apply_errno(void **state)
{
	struct rt_seccomp *sc =
	    parse_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getpid\","
		     "\"not_a_syscall\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":42},"
		     "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ALLOW\"}]}");
	assert_int_equal(run_child(child_getpid_errno, sc), 0);
	rt_seccomp_free(sc);
}

static int child_personality(void *arg)
{
	EXPECT(load(arg) == 0);
	EXPECT(personality(0) >= 0);
	errno = 0;
	EXPECT(personality(PER_LINUX32) == -1 && errno == EACCES);
	errno = 0;
	EXPECT(personality(0xffffffff) == -1 && errno == EACCES);
	return 0;
}

static void test_apply_args(void **state)
{
	struct rt_seccomp *sc = parse_ok(
	    "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"personality\"],"
	    "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13,\"args\":[{\"index\":0,\"value\":0,"
	    "\"op\":\"SCMP_CMP_NE\"}]}]}");
	assert_int_equal(run_child(child_personality, sc), 0);
	rt_seccomp_free(sc);
}

static int child_kill_process(void *arg)
{
	EXPECT(load(arg) == 0);
	syscall(SYS_getpid);
	return 2; /* not reached */
}

static void test_apply_kill(void **state)
{
	struct rt_seccomp *sc =
	    parse_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getpid\"],"
		     "\"action\":\"SCMP_ACT_KILL_PROCESS\"}]}");
	assert_int_equal(run_child(child_kill_process, sc), 1000 + SIGSYS);
	rt_seccomp_free(sc);
}

static struct rt_seccomp *default_profile(uint64_t caps)
{
	struct err err = {0};
	struct rt_seccomp *sc = NULL;
	json_t *j = rt_seccomp_default_profile(caps);

	assert_non_null(j);
	if (rt_seccomp_parse(j, "linux.seccomp", &sc, &err) < 0)
		fail_msg("default profile: %s", err.msg);
	json_decref(j);
	return sc;
}

#define DENIED(call, e) (errno = 0, (call) == -1 && errno == (e))

static int child_default(void *arg)
{
	char c = 'x';
	int p[2], status, fd;
	pid_t pid;

	EXPECT(load(arg) == 0);
	EXPECT(DENIED(syscall(SYS_keyctl, 0, 0, 0, 0, 0), EPERM));
	EXPECT(DENIED(syscall(SYS_add_key, "user", "k", "v", 1, 0), EPERM));
	EXPECT(DENIED(syscall(SYS_request_key, "user", "k", NULL, 0), EPERM));
	EXPECT(DENIED(unshare(CLONE_NEWNS), EPERM));
	EXPECT(DENIED(setns(0, 0), EPERM));
	EXPECT(DENIED(syscall(SYS_kexec_load, 0, 0, NULL, 0), EPERM));
	EXPECT(DENIED(mount("none", "/mnt", "tmpfs", 0, NULL), EPERM));
	EXPECT(DENIED(umount2("/mnt", 0), EPERM));
	EXPECT(DENIED(syscall(SYS_bpf, 0, NULL, 0), EPERM));
	EXPECT(DENIED(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), EPERM));
	EXPECT(DENIED(syscall(SYS_userfaultfd, 0), EPERM));
	EXPECT(DENIED(syscall(SYS_swapoff, "/nonexistent"), EPERM));
	EXPECT(DENIED(syscall(SYS_reboot, 0, 0, 0, NULL), EPERM));
	EXPECT(DENIED(syscall(SYS_init_module, NULL, 0, ""), EPERM));
	EXPECT(DENIED(syscall(SYS_open_by_handle_at, -1, NULL, 0), EPERM));
	EXPECT(DENIED(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0), EPERM));
	EXPECT(DENIED(syscall(SYS_clone3, NULL, 0), ENOSYS));
	EXPECT(DENIED(socket(40 /* AF_VSOCK */, SOCK_STREAM, 0), EPERM));
	EXPECT(DENIED(personality(0x1234), EPERM));
	EXPECT(personality(0xffffffff) >= 0);

	EXPECT(syscall(SYS_getpid) == getpid());
	EXPECT(pipe(p) == 0 && write(p[1], &c, 1) == 1 && read(p[0], &c, 1) == 1);
	EXPECT((fd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0 && close(fd) == 0);
	EXPECT(chroot("/") == 0); /* CAP_SYS_CHROOT is a Docker default */
	pid = fork();		 /* clone without namespace flags */
	EXPECT(pid >= 0);
	if (pid == 0)
		_exit(7);
	EXPECT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 7);
	return 0;
}

static void test_default_profile(void **state)
{
	struct rt_seccomp *sc = default_profile(rt_caps_default_mask());
	assert_int_equal(run_child(child_default, sc), 0);
	rt_seccomp_free(sc);
}

static int child_default_sysadmin(void *arg)
{
	int status;
	pid_t pid;

	EXPECT(load(arg) == 0);
	EXPECT(unshare(CLONE_NEWUTS) == 0);
	pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
	EXPECT(pid >= 0);
	if (pid == 0)
		_exit(3);
	EXPECT(waitpid(pid, &status, 0) == pid && WEXITSTATUS(status) == 3);
	EXPECT(DENIED(syscall(SYS_keyctl, 0, 0, 0, 0, 0), EPERM));
	return 0;
}

static void test_default_profile_sysadmin(void **state)
{
	if (geteuid() != 0)
		skip();
	struct rt_seccomp *sc = default_profile(rt_caps_default_mask() | 1ULL << CAP_SYS_ADMIN);
	assert_int_equal(run_child(child_default_sysadmin, sc), 0);
	rt_seccomp_free(sc);
}

static void test_default_profile_json(void **state)
{
	json_t *j = rt_seccomp_default_profile(0), *calls, *c;
	size_t i, clone_rules = 0;

	assert_string_equal(json_string_value(json_object_get(j, "defaultAction")),
			    "SCMP_ACT_ERRNO");
	assert_int_equal(json_integer_value(json_object_get(j, "defaultErrnoRet")), EPERM);
	calls = json_object_get(j, "syscalls");
	json_array_foreach(calls, i, c)
	{
		json_t *names = json_object_get(c, "names"), *n;
		size_t k;
		json_array_foreach(names, k, n)
		{
			const char *s = json_string_value(n);
			assert_false(streq(s, "mount") || streq(s, "keyctl") || streq(s, "chroot"));
			if (streq(s, "clone") || streq(s, "clone3"))
				clone_rules++;
		}
	}
	assert_int_equal(clone_rules, 2);
	json_decref(j);
}

static struct rt_seccomp *prepared;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int child_timed(void *arg)
{
	int *fd = arg;
	struct rt_seccomp *sc = default_profile(rt_caps_default_mask());
	double t0 = now_us(), dt;

	EXPECT(load(sc) == 0);
	dt = now_us() - t0;
	EXPECT(write(*fd, &dt, sizeof(dt)) == sizeof(dt));
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Not an assertion: prints the median time to build and load the default profile. */
static void test_default_profile_timing(void **state)
{
	enum { RUNS = 21 };
	double t[RUNS];
	int p[2];

	assert_int_equal(pipe(p), 0);
	for (int i = 0; i < RUNS; i++) {
		assert_int_equal(run_child(child_timed, &p[1]), 0);
		assert_int_equal(read(p[0], &t[i], sizeof(t[i])), sizeof(t[i]));
	}
	close(p[0]);
	close(p[1]);
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	printf("rt_seccomp_apply(default profile): median %.0f us, min %.0f us, max %.0f us\n",
	       t[RUNS / 2], t[0], t[RUNS - 1]);
}

static void rm_rf_dir(const char *dir)
{
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_prepare_cache(void **state)
{
	char dir[] = "/tmp/coop-test-seccomp-XXXXXX";
	struct err err = {0};
	struct rt_seccomp *a, *b, *c;
	_cleanup_free_ char *cache = NULL;
	double t0, miss, hit;
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_non_null(mkdtemp(dir));
	cache = xasprintf("%s/cache", dir);
	a = default_profile(rt_caps_default_mask());
	t0 = now_us();
	if (rt_seccomp_prepare(a, cache, &err) < 0)
		fail_msg("prepare: %s", err.msg);
	miss = now_us() - t0;
	b = default_profile(rt_caps_default_mask());
	t0 = now_us();
	if (rt_seccomp_prepare(b, cache, &err) < 0)
		fail_msg("prepare: %s", err.msg);
	hit = now_us() - t0;
	printf("rt_seccomp_prepare(default profile): %.0f us compiling, %.0f us from cache\n", miss,
	       hit);
	/* a prepared filter behaves like the one libseccomp loads */
	assert_int_equal(run_child(child_default, b), 0);

	/* a different profile gets its own entry; a corrupted entry is recompiled */
	c = default_profile(rt_caps_default_mask() | 1ULL << CAP_SYS_ADMIN);
	assert_int_equal(rt_seccomp_prepare(c, cache, &err), 0);
	assert_non_null(d = opendir(cache));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *f = xasprintf("%s/%s", cache, de->d_name);
		FILE *fp = fopen(f, "r+");
		assert_non_null(fp);
		fputs("garbage", fp);
		fclose(fp);
		n++;
	}
	closedir(d);
	assert_int_equal(n, 2);
	rt_seccomp_free(a);
	a = default_profile(rt_caps_default_mask());
	assert_int_equal(rt_seccomp_prepare(a, cache, &err), 0);
	assert_int_equal(run_child(child_default, a), 0);
	assert_int_equal(run_child(child_default_sysadmin, c), 0);

	/* a world-writable cache directory is not used */
	assert_int_equal(chmod(cache, 0777), 0);
	rt_seccomp_free(a);
	a = default_profile(rt_caps_default_mask() | 1ULL << CAP_SYS_PTRACE);
	assert_int_equal(rt_seccomp_prepare(a, cache, &err), 0);
	n = 0;
	assert_non_null(d = opendir(cache));
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 2);

	rt_seccomp_free(a);
	rt_seccomp_free(b);
	rt_seccomp_free(c);
	rm_rf_dir(dir);
}

static int child_timed_prepared(void *arg)
{
	int *fd = arg;
	double t0 = now_us(), dt;

	EXPECT(load(prepared) == 0);
	dt = now_us() - t0;
	EXPECT(write(*fd, &dt, sizeof(dt)) == sizeof(dt));
	return 0;
}

static void test_prepared_timing(void **state)
{
	enum { RUNS = 21 };
	struct err err = {0};
	double t[RUNS];
	int p[2];

	prepared = default_profile(rt_caps_default_mask());
	assert_int_equal(rt_seccomp_prepare(prepared, NULL, &err), 0);
	assert_int_equal(pipe(p), 0);
	for (int i = 0; i < RUNS; i++) {
		assert_int_equal(run_child(child_timed_prepared, &p[1]), 0);
		assert_int_equal(read(p[0], &t[i], sizeof(t[i])), sizeof(t[i]));
	}
	close(p[0]);
	close(p[1]);
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	printf("rt_seccomp_apply(prepared default profile): median %.0f us, min %.0f us\n",
	       t[RUNS / 2], t[0]);
	rt_seccomp_free(prepared);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_valid),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_apply_errno),
	    cmocka_unit_test(test_apply_args),
	    cmocka_unit_test(test_apply_kill),
	    cmocka_unit_test(test_default_profile_json),
	    cmocka_unit_test(test_default_profile),
	    cmocka_unit_test(test_default_profile_sysadmin),
	    cmocka_unit_test(test_default_profile_timing),
	    cmocka_unit_test(test_prepare_cache),
	    cmocka_unit_test(test_prepared_timing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
