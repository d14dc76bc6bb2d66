/* Unit tests for runtime/config: parsing a full config.json, the errors that name the
 * field for each kind of bad input, mount options, signals, namespaces, and the
 * default `spec` document parsing back cleanly. Pure: nothing touches the system. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "base/js.h"
#include "base/util.h"
#include "runtime/config.h"

static int parse(const char *text, struct rt_config **ret, struct err *err)
{
	json_t *doc = NULL;
	int r = js_load_string("config.json", text, &doc, err);
	if (r < 0)
		return r;
	r = rt_config_parse(doc, "/b", ret, err);
	json_decref(doc);
	return r;
}

static const char full[] =
	"{\"ociVersion\":\"1.3.0\",\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
	"\"hostname\":\"h\",\"domainname\":\"d\","
	"\"process\":{\"terminal\":true,\"consoleSize\":{\"height\":24,\"width\":80},"
	" \"user\":{\"uid\":1,\"gid\":2,\"umask\":18,\"additionalGids\":[3,4]},"
	" \"args\":[\"sh\",\"-c\",\"x\"],\"env\":[\"A=1\"],\"cwd\":\"/w\","
	" \"capabilities\":{\"bounding\":[\"CAP_KILL\"],\"effective\":[\"KILL\"]},"
	" \"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":10,\"hard\":20}],"
	" \"noNewPrivileges\":true,\"oomScoreAdj\":-5,\"unknownField\":1},"
	"\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	" {\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/srv\","
	"  \"options\":[\"rbind\",\"ro\",\"nosuid\",\"rslave\"]},"
	" {\"destination\":\"/t\",\"type\":\"tmpfs\",\"options\":[\"size=64k\",\"mode=700\",\"noexec\"]}],"
	"\"hooks\":{\"prestart\":[{\"path\":\"/bin/a\",\"args\":[\"a\",\"1\"],\"timeout\":3}],"
	" \"poststop\":[{\"path\":\"/bin/b\"}]},"
	"\"annotations\":{\"k\":\"v\"},"
	"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\",\"path\":\"/run/netns/x\"},"
	"  {\"type\":\"user\"},{\"type\":\"mount\"}],"
	" \"uidMappings\":[{\"containerID\":0,\"hostID\":1000,\"size\":10}],"
	" \"gidMappings\":[{\"containerID\":0,\"hostID\":1000,\"size\":10}],"
	" \"devices\":[{\"type\":\"c\",\"path\":\"/dev/fuse\",\"major\":10,\"minor\":229,\"fileMode\":438}],"
	" \"cgroupsPath\":\"/x/y\",\"resources\":{\"memory\":{\"limit\":1048576},\"pids\":{\"limit\":5}},"
	" \"maskedPaths\":[\"/proc/kcore\"],\"readonlyPaths\":[\"/proc/sys\"],"
	" \"rootfsPropagation\":\"rslave\",\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"}}}";

static void test_full(void **state)
{
	struct rt_config *c = NULL;
	struct err err = { 0 };

	assert_int_equal(parse(full, &c, &err), 0);
	assert_string_equal(c->root_path, "/b/rootfs");
	assert_true(c->root_readonly);
	assert_string_equal(c->hostname, "h");
	assert_true(c->process->terminal);
	assert_int_equal(c->process->console_width, 80);
	assert_int_equal(c->process->uid, 1);
	assert_int_equal(c->process->gid, 2);
	assert_int_equal(c->process->n_additional_gids, 2);
	assert_int_equal(c->process->umask, 18);
	assert_string_equal(c->process->args[2], "x");
	assert_string_equal(c->process->cwd, "/w");
	assert_true(c->process->caps.present);
	assert_int_equal(c->process->caps.set[RT_CAP_BOUNDING], 1ULL << 5 /* CAP_KILL */);
	assert_int_equal(c->process->rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(c->process->rlimits[0].hard, 20);
	assert_int_equal(c->process->oom_score_adj, -5);
	assert_int_equal(c->n_mounts, 3);
	assert_true(c->mounts[1].bind);
	assert_int_equal(c->mounts[1].flags & (MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID),
			 MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID);
	assert_int_equal(c->mounts[1].propagation, MS_SLAVE | MS_REC);
	assert_string_equal(c->mounts[2].data, "size=64k,mode=700");
	assert_true(c->mounts[2].flags & MS_NOEXEC);
	assert_int_equal(c->hooks.n[RT_HOOK_PRESTART], 1);
	assert_int_equal(c->hooks.hook[RT_HOOK_PRESTART][0].timeout, 3);
	assert_int_equal(c->hooks.n[RT_HOOK_POSTSTOP], 1);
	assert_non_null(rt_config_namespace(c, CLONE_NEWUSER));
	assert_string_equal(rt_config_namespace(c, CLONE_NEWNET)->path, "/run/netns/x");
	assert_null(rt_config_namespace(c, CLONE_NEWUTS));
	assert_int_equal(c->uid_maps[0].host_id, 1000);
	assert_int_equal(c->devices[0].mode, 0666);
	assert_non_null(c->resources);
	assert_string_equal(c->cgroups_path, "/x/y");
	assert_int_equal(c->rootfs_propagation, MS_SLAVE | MS_REC);
	assert_string_equal(c->sysctl[0].key, "net.ipv4.ip_forward");
	assert_string_equal(json_string_value(json_object_get(c->annotations, "k")), "v");
	assert_false(c->init);
	rt_config_free(c);
}

/* Each bad document fails with a message that contains the expected words. */
static void test_errors(void **state)
{
	static const struct {
		const char *doc, *want;
	} cases[] = {
		{ "{", "config.json:1:" },
		{ "[]", "expected a JSON object" },
		{ "{\"root\":{\"path\":\"r\"}}", "ociVersion: missing required field" },
		{ "{\"ociVersion\":\"2.0.0\",\"root\":{\"path\":\"r\"}}", "unsupported version '2.0.0'" },
		{ "{\"ociVersion\":\"1.0.0\"}", "root: missing required field" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":1}}", "root.path: expected a string" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\",1]}}",
		  "process.args[1]: expected a string" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"cwd\":\"rel\"}}",
		  "process.cwd: must be an absolute path" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"user\":{\"uid\":-1}}}",
		  "process.user.uid:" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_X\",\"soft\":1,\"hard\":1}]}}",
		  "process.rlimits[0].type: unknown rlimit 'RLIMIT_X'" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":2,\"hard\":1}]}}",
		  "soft limit above hard limit" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"oomScoreAdj\":5000}}",
		  "process.oomScoreAdj: 5000 out of range" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"capabilities\":{\"bounding\":[\"CAP_NOPE\"]}}}",
		  "process.capabilities.bounding[0]" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"namespaces\":[{\"type\":\"bogus\"}]}}",
		  "linux.namespaces[0].type: unknown namespace type 'bogus'" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"pid\"}]}}",
		  "listed twice" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"mounts\":[{\"destination\":\"/x\",\"type\":\"tmpfs\",\"options\":[\"bogus\"]}]}",
		  "mounts[0].options[0]: unknown mount option 'bogus'" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"mounts\":[{\"destination\":\"x\",\"type\":\"tmpfs\"}]}",
		  "mounts[0].destination: must be absolute" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"mounts\":[{\"destination\":\"/x\",\"type\":\"bind\"}]}",
		  "mounts[0].source: missing for a bind mount" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"hooks\":{\"prestart\":[{\"path\":\"rel\"}]}}",
		  "hooks.prestart[0].path: must be absolute" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"hooks\":{\"poststop\":[{\"path\":\"/x\",\"timeout\":0}]}}",
		  "hooks.poststop[0].timeout: must be positive" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"devices\":[{\"type\":\"z\",\"path\":\"/dev/x\"}]}}",
		  "linux.devices[0].type: unknown device type 'z'" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"uidMappings\":[{\"containerID\":0,\"hostID\":0,\"size\":1}]}}",
		  "without a user namespace" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"namespaces\":[{\"type\":\"user\"}]}}",
		  "needs uidMappings and gidMappings" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"rootfsPropagation\":\"sideways\"}}",
		  "linux.rootfsPropagation: unknown value 'sideways'" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"sysctl\":{\"../x\":\"1\"}}}",
		  "linux.sysctl: invalid key" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"resources\":{\"memory\":{\"limit\":\"x\"}}}}",
		  "linux.resources.memory.limit" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_NOPE\"}}}",
		  "linux.seccomp.defaultAction" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"annotations\":{\"coop.init\":\"yes\"}}",
		  "annotations.coop.init: expected \"true\" or \"false\"" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct rt_config *c = NULL;
		struct err err = { 0 };
		int r = parse(cases[i].doc, &c, &err);
		if (r == 0 || !strstr(err.msg, cases[i].want))
			fail_msg("case %zu: got r=%d '%s', wanted '%s'", i, r, err.msg, cases[i].want);
		assert_null(c);
		assert_null(strchr(err.msg, '\n'));
	}
}

static void test_mount_options(void **state)
{
	char *opts[] = { "ro", "rw", "nosuid", "suid", "noatime", "private", "size=1m", NULL };
	struct rt_mount m = { 0 };
	struct err err = { 0 };

	assert_int_equal(rt_mount_options(opts, "o", &m, &err), 0);
	/* later options win: rw undoes ro, suid undoes nosuid */
	assert_false(m.flags & MS_RDONLY);
	assert_true(m.clear & MS_RDONLY);
	assert_false(m.flags & MS_NOSUID);
	assert_true(m.flags & MS_NOATIME);
	assert_int_equal(m.propagation, MS_PRIVATE);
	assert_string_equal(m.data, "size=1m");
	free(m.data);
}

static void test_signals(void **state)
{
	assert_int_equal(rt_signal_parse("KILL"), SIGKILL);
	assert_int_equal(rt_signal_parse("SIGTERM"), SIGTERM);
	assert_int_equal(rt_signal_parse("sigusr1"), SIGUSR1);
	assert_int_equal(rt_signal_parse("9"), 9);
	assert_int_equal(rt_signal_parse("RTMIN+1"), SIGRTMIN + 1);
	assert_int_equal(rt_signal_parse("RTMAX"), SIGRTMAX);
	assert_int_equal(rt_signal_parse("NOPE"), -1);
	assert_int_equal(rt_signal_parse("0"), -1);
	assert_int_equal(rt_signal_parse("99"), -1);
	assert_int_equal(rt_signal_parse("9x"), -1);
	assert_int_equal(rt_signal_parse(""), -1);
}

static void test_namespace_names(void **state)
{
	static const char *const names[] = { "pid", "network", "mount", "ipc", "uts", "user", "cgroup" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		int t = rt_namespace_type(names[i]);
		assert_true(t != 0);
		assert_string_equal(rt_namespace_name(t), names[i]);
		assert_non_null(rt_namespace_proc(t));
	}
	assert_int_equal(rt_namespace_type("net"), 0);
}

/* `spec` output parses back, with Docker's defaults in place. */
static void test_default_spec(void **state)
{
	for (int rootless = 0; rootless < 2; rootless++) {
		json_t *doc = rt_config_default(rootless);
		struct rt_config *c = NULL;
		struct err err = { 0 };
		assert_int_equal(rt_config_parse(doc, "/b", &c, &err), 0);
		assert_non_null(c->seccomp);
		assert_true(c->process->caps.present);
		assert_non_null(rt_config_namespace(c, CLONE_NEWPID));
		assert_true(rootless == (rt_config_namespace(c, CLONE_NEWUSER) != NULL));
		assert_true(c->n_mounts >= 6);
		rt_config_free(c);
		json_decref(doc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),          cmocka_unit_test(test_errors),
		cmocka_unit_test(test_mount_options), cmocka_unit_test(test_signals),
		cmocka_unit_test(test_namespace_names), cmocka_unit_test(test_default_spec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
