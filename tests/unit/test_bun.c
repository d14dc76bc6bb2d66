/* Unit tests for state/bun: Budgie's README example and coop's extensions parse to
 * the right values; every file in tests/bun/bad/ fails with the error its first line
 * documents ("# error: ..."); units; unknown fields warn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/js.h"
#include "base/util.h"
#include "state/bun.h"

static void test_budgie_example(void **state)
{
	struct bun_spec *s = NULL;
	struct err err = { 0 };
	char cwd[PATH_MAX];

	assert_int_equal(bun_parse_file("tests/bun/good/budgie.bun", &s, &err), 0);
	assert_string_equal(s->name, "web");
	assert_string_equal(s->image, "nginx:alpine");
	assert_int_equal(s->n_ports, 1);
	assert_int_equal(s->ports[0].container_port, 80);
	assert_int_equal(s->ports[0].host_port, 8080);
	assert_string_equal(s->ports[0].proto, "tcp");
	assert_int_equal(s->n_volumes, 1);
	/* relative sources resolve against the .bun's directory */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	_cleanup_free_ char *want = xasprintf("%s/tests/bun/good/data", cwd);
	assert_string_equal(s->volumes[0].source, want);
	assert_true(s->volumes[0].readonly);
	assert_string_equal(s->env[1], "NGINX_PORT=80");
	assert_non_null(s->health);
	assert_int_equal(s->health->kind, BUN_HEALTH_HTTP);
	assert_int_equal(s->health->interval_ms, 30000);
	assert_int_equal(s->health->timeout_ms, 5000);
	assert_int_equal(s->health->retries, 3);
	assert_int_equal(s->health->port, 80);
	assert_int_equal(s->replicas_min, 2);
	assert_int_equal(s->replicas_max, 5);
	assert_null(s->warnings);
	bun_spec_free(s);
}

static void test_extensions(void **state)
{
	struct bun_spec *s = NULL;
	struct err err = { 0 };

	assert_int_equal(bun_parse_file("tests/bun/good/extended.bun", &s, &err), 0);
	assert_string_equal(s->command[2], "9000");
	assert_string_equal(s->entrypoint[0], "/bin/app");
	assert_string_equal(s->workdir, "/srv");
	assert_string_equal(s->user, "app:app");
	assert_string_equal(s->vpc, "backend");
	assert_int_equal(s->restart, BUN_RESTART_ON_FAILURE);
	assert_int_equal(s->restart_max, 5);
	assert_string_equal(json_string_value(json_object_get(s->labels, "tier")), "backend");
	json_t *cons = json_object_get(s->placement, "constraints");
	assert_int_equal(json_array_size(cons), 2);
	assert_string_equal(json_string_value(json_array_get(cons, 0)), "zone!=c");
	assert_string_equal(json_string_value(json_object_get(s->placement, "spread")), "zone");
	_cleanup_json_ json_t *pj = bun_to_json(s);
	assert_true(json_equal(json_object_get(pj, "placement"), s->placement));
	assert_true(s->ports[0].host_mode);
	assert_string_equal(s->ports[1].proto, "udp");
	assert_int_equal(s->ports[1].host_port, 0);
	assert_true(s->volumes[0].named);
	assert_string_equal(s->volumes[0].source, "appdata");
	assert_int_equal(s->res.memory_limit, 256 << 20);
	assert_true(s->res.cpus > 0.49 && s->res.cpus < 0.51);
	assert_int_equal(s->res.pids_limit, 100);
	assert_int_equal(s->res.blkio_weight, -1);
	assert_int_equal(s->res.disk, 1LL << 30);
	assert_int_equal(s->health->kind, BUN_HEALTH_TCP);
	assert_int_equal(s->health->start_period_ms, 10000);
	assert_int_equal(s->health->port, 9000);
	assert_int_equal(s->replicas_min, 3);
	assert_int_equal(s->replicas_max, 3);
	json_t *j = bun_to_json(s);
	assert_string_equal(json_string_value(json_object_get(j, "restart")), "on-failure");
	assert_true(s->init);
	assert_true(json_is_true(json_object_get(j, "init")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "resources"),
							    "memory_limit")),
			 256 << 20);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "resources"), "disk")),
			 1LL << 30);
	json_decref(j);
	bun_spec_free(s);
}

static void test_bad_corpus(void **state)
{
	_cleanup_closedir_ DIR *d = opendir("tests/bun/bad");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		if (!strstr(de->d_name, ".bun"))
			continue;
		_cleanup_free_ char *path = xasprintf("tests/bun/bad/%s", de->d_name);
		_cleanup_free_ char *text = NULL;
		struct bun_spec *s = NULL;
		struct err err = { 0 };

		assert_int_equal(fs_read(path, &text, &err), 0);
		if (strncmp(text, "# error: ", 9) != 0)
			fail_msg("%s: first line must be '# error: <expected message>'", path);
		char *want = text + 9;
		*strchr(want, '\n') = '\0';
		if (bun_parse_file(path, &s, &err) == 0)
			fail_msg("%s: parsed, expected error '%s'", path, want);
		if (!strstr(err.msg, want))
			fail_msg("%s: got '%s', expected '%s'", path, err.msg, want);
		assert_null(strchr(err.msg, '\n'));
		n++;
	}
	assert_true(n >= 25);
}

static void test_warnings(void **state)
{
	static const char doc[] = "version: \"1.0\"\nimage:\n  docker_image: busybox\n  tagg: x\nimagee: y\n";
	struct bun_spec *s = NULL;
	struct err err = { 0 };

	assert_int_equal(bun_parse("w.bun", doc, sizeof(doc) - 1, NULL, &s, &err), 0);
	assert_int_equal(strv_len(s->warnings), 2);
	assert_string_equal(s->warnings[0], "w.bun:4:3: unknown field 'tagg' (ignored)");
	assert_string_equal(s->warnings[1], "w.bun:5:1: unknown field 'imagee' (ignored)");
	assert_string_equal(s->name, "w");
	/* image as a plain string, replicas default to 1 */
	bun_spec_free(s);
	static const char doc2[] = "version: '1.0'\nimage: busybox\n";
	assert_int_equal(bun_parse("x.bun", doc2, sizeof(doc2) - 1, NULL, &s, &err), 0);
	assert_string_equal(s->image, "busybox");
	assert_int_equal(s->replicas_min, 1);
	bun_spec_free(s);
}

static void test_units(void **state)
{
	uint64_t ms;
	int64_t b;

	assert_int_equal(bun_duration_ms("30s", &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(bun_duration_ms("1m30s", &ms), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(bun_duration_ms("500ms", &ms), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(bun_duration_ms("1.5h", &ms), 0);
	assert_int_equal(ms, 5400000);
	assert_int_equal(bun_duration_ms("30", &ms), -EINVAL);
	assert_int_equal(bun_duration_ms("-1s", &ms), -EINVAL);
	assert_int_equal(bun_duration_ms("1y", &ms), -EINVAL);
	assert_int_equal(bun_size_bytes("256m", &b), 0);
	assert_int_equal(b, 256 << 20);
	assert_int_equal(bun_size_bytes("1g", &b), 0);
	assert_int_equal(b, 1 << 30);
	assert_int_equal(bun_size_bytes("64KiB", &b), 0);
	assert_int_equal(b, 64 << 10);
	assert_int_equal(bun_size_bytes("12345", &b), 0);
	assert_int_equal(b, 12345);
	assert_int_equal(bun_size_bytes("1x", &b), -EINVAL);
	assert_int_equal(bun_size_bytes("", &b), -EINVAL);
}

/* A symlink inside the .bun's directory that points outside is caught. */
static void test_symlink_escape(void **state)
{
	char dir[] = "/tmp/coop-bun-XXXXXX";
	static const char doc[] = "version: '1.0'\nimage: busybox\nvolumes:\n  - {source: ./link, target: /d}\n";
	struct bun_spec *s = NULL;
	struct err err = { 0 };

	assert_non_null(mkdtemp(dir));
	_cleanup_free_ char *link = xasprintf("%s/link", dir);
	assert_int_equal(symlink("/etc", link), 0);
	int r = bun_parse("s.bun", doc, sizeof(doc) - 1, dir, &s, &err);
	unlink(link);
	rmdir(dir);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(err.msg, "leaves the .bun's directory (resolves to /etc)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budgie_example), cmocka_unit_test(test_extensions),
		cmocka_unit_test(test_bad_corpus),     cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_units),          cmocka_unit_test(test_symlink_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
