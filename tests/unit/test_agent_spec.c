/* Unit tests for the agent's pure parts: spec validation, restart policies and
 * backoff, the OCI config of a replica, log records/rotation, exit.json, metrics
 * parsers, event sequence numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <sys/stat.h>

#include "agent/events.h"
#include "agent/health.h"
#include "agent/logs.h"
#include "agent/metrics.h"
#include "agent/record.h"
#include "agent/spec.h"
#include "base/fs.h"
#include "base/js.h"
#include "base/util.h"

static json_t *parse(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);
	assert_non_null(j);
	return j;
}

static void expect_invalid(const char *doc, const char *needle)
{
	_cleanup_json_ json_t *j = parse(doc);
	struct err err = { 0 };

	assert_int_equal(ag_spec_validate(j, &err), -EINVAL);
	if (!strstr(err.msg, needle))
		fail_msg("'%s': error '%s' lacks '%s'", doc, err.msg, needle);
}

static void test_spec_valid_and_defaults(void **state)
{
	_cleanup_json_ json_t *j = parse("{\"name\":\"web\",\"image\":\"busybox\",\"ports\":[{\"container_port\":80}],"
					 "\"volumes\":[{\"source\":\"data\",\"target\":\"/d\"}],"
					 "\"healthcheck\":{\"type\":\"http\"}}");
	struct err err = { 0 };

	assert_int_equal(ag_spec_validate(j, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "replicas"), "min")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "restart")), "no");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "ports"), 0), "protocol")), "tcp");
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(j, "volumes"), 0), "named")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "healthcheck"), "path")), "/");
}

static void test_spec_invalid(void **state)
{
	expect_invalid("[]", "expected an object");
	expect_invalid("{\"image\":\"x\"}", "name: missing");
	expect_invalid("{\"name\":\"../x\",\"image\":\"x\"}", "not a valid name");
	expect_invalid("{\"name\":\"web\"}", "image");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"replicas\":{\"min\":3,\"max\":1}}", "replicas.max");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"replicas\":{\"min\":100000}}", "replicas.min");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"ports\":[{\"container_port\":70000}]}", "ports[0].container_port");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"ports\":[{\"container_port\":80,\"protocol\":\"sctp\"}]}", "ports[0].protocol");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"volumes\":[{\"source\":\"/a/../b\",\"target\":\"/d\"}]}", "'..'");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"volumes\":[{\"source\":\"/a\",\"target\":\"rel\"}]}", "volumes[0].target");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"environment\":[\"NOEQUALS\"]}", "environment[0]");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"restart\":\"sometimes\"}", "restart");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"healthcheck\":{\"type\":\"http\"}}", "no ports");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"healthcheck\":{\"type\":\"exec\"}}", "healthcheck.command");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"workdir\":\"rel\"}", "workdir");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"resources\":{\"cpus\":-1}}", "resources.cpus");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"resources\":{\"disk\":1048576}}", "resources.disk");
	expect_invalid("{\"name\":\"web\",\"image\":\"x\",\"resources\":{\"disk\":\"1G\"}}", "resources.disk: expected an integer");
	assert_false(ag_name_valid(""));
	assert_false(ag_name_valid("-a"));
	assert_true(ag_name_valid("web-1.a_b"));
}

static void test_restart_rules(void **state)
{
	enum ag_restart p;
	int max;

	assert_int_equal(ag_restart_parse("on-failure:3", &p, &max), 0);
	assert_int_equal(p, AG_RESTART_ON_FAILURE);
	assert_int_equal(max, 3);
	assert_int_equal(ag_restart_parse("on-failure:x", &p, &max), -EINVAL);
	assert_int_equal(ag_restart_parse("unless-stopped", &p, &max), 0);
	assert_int_equal(p, AG_RESTART_UNLESS_STOPPED);

	assert_false(ag_restart_wanted(AG_RESTART_NO, 0, 1, 0, false));
	assert_true(ag_restart_wanted(AG_RESTART_ON_FAILURE, 0, 1, 100, false));
	assert_false(ag_restart_wanted(AG_RESTART_ON_FAILURE, 0, 0, 0, false));
	assert_true(ag_restart_wanted(AG_RESTART_ON_FAILURE, 2, 1, 1, false));
	assert_false(ag_restart_wanted(AG_RESTART_ON_FAILURE, 2, 1, 2, false));
	assert_true(ag_restart_wanted(AG_RESTART_ALWAYS, 0, 0, 0, false));
	assert_false(ag_restart_wanted(AG_RESTART_ALWAYS, 0, 0, 0, true));
	assert_false(ag_restart_wanted(AG_RESTART_UNLESS_STOPPED, 0, 1, 0, true));

	assert_int_equal(ag_backoff_ms(0), 100);
	assert_int_equal(ag_backoff_ms(1), 200);
	assert_int_equal(ag_backoff_ms(4), 1600);
	assert_int_equal(ag_backoff_ms(8), 25600);
	assert_int_equal(ag_backoff_ms(9), 30000);
	assert_int_equal(ag_backoff_ms(1000), 30000);
}

static char *tmpdir(void);

static void test_oci_config(void **state)
{
	_cleanup_free_ char *rootfs = tmpdir();
	const char *cfg = "{\"config\":{\"Entrypoint\":[\"/bin/ep\"],\"Cmd\":[\"x\"],\"Env\":[\"A=1\"],\"WorkingDir\":\"/w\"},"
			  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"os\":\"linux\",\"architecture\":\"amd64\"}";
	struct img_config *ic = NULL;
	struct err err = { 0 };
	_cleanup_json_ json_t *spec = parse(
		"{\"name\":\"web\",\"image\":\"x\",\"command\":[\"serve\",\"-v\"],\"environment\":[\"B=2\"],"
		"\"resources\":{\"memory_limit\":1048576,\"cpus\":1.5,\"pids_limit\":10,\"cpu_shares\":512},"
		"\"volumes\":[{\"source\":\"data\",\"target\":\"/d\",\"mode\":\"ro\"},{\"source\":\"/h\",\"target\":\"/h\"}],"
		"\"labels\":{\"team\":\"a\"}}");
	_cleanup_json_ json_t *oci = NULL;
	struct ag_oci_ident who = { .id = "0123456789ab", .name = "web-2", .workload = "web", .replica = 2,
				    .volumes_dir = "/var/lib/coop/volumes" };

	assert_int_equal(ag_spec_validate(spec, &err), 0);
	assert_int_equal(img_config_parse(cfg, strlen(cfg), &ic, &err), 0);
	assert_int_equal(ag_oci_config(spec, &who, ic, rootfs, &oci, &err), 0);
	rmdir(rootfs);
	img_config_free(ic);
	_cleanup_free_ char *s = json_dumps(json_object_get(oci, "process"), JSON_COMPACT);
	json_t *args = json_object_get(json_object_get(oci, "process"), "args");
	assert_int_equal(json_array_size(args), 3);
	assert_string_equal(json_string_value(json_array_get(args, 0)), "/bin/ep");
	assert_string_equal(json_string_value(json_array_get(args, 1)), "serve");
	assert_non_null(strstr(s, "\"B=2\""));
	assert_non_null(strstr(s, "\"A=1\""));
	assert_true(json_is_false(json_object_get(json_object_get(oci, "process"), "terminal")));
	assert_string_equal(json_string_value(json_object_get(oci, "hostname")), "web-2");
	json_t *lx = json_object_get(oci, "linux"), *res = json_object_get(lx, "resources");
	assert_string_equal(json_string_value(json_object_get(lx, "cgroupsPath")), "/coop/0123456789ab");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "memory"), "limit")), 1048576);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "quota")), 150000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "period")), 100000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "shares")), 512);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")), 10);
	_cleanup_free_ char *m = json_dumps(json_object_get(oci, "mounts"), JSON_COMPACT);
	assert_non_null(strstr(m, "{\"destination\":\"/d\",\"type\":\"bind\",\"source\":\"/var/lib/coop/volumes/data\",\"options\":[\"rbind\",\"ro\"]}"));
	assert_non_null(strstr(m, "\"source\":\"/h\",\"options\":[\"rbind\",\"rw\"]"));
	json_t *ann = json_object_get(oci, "annotations");
	assert_string_equal(json_string_value(json_object_get(ann, "coop.replica")), "2");
	assert_string_equal(json_string_value(json_object_get(ann, "team")), "a");
}

static char *tmpdir(void)
{
	char t[] = "/tmp/agent-test-XXXXXX";
	assert_non_null(mkdtemp(t));
	return xstrdup(t);
}

static void test_log_records_and_rotation(void **state)
{
	_cleanup_free_ char *dir = tmpdir();
	_cleanup_free_ char *path = xasprintf("%s/log.json", dir);
	struct ag_log l = { .fd = -1 };
	struct ag_linebuf lb = { .stream = "stdout" };
	struct err err = { 0 };
	char line[64];

	_cleanup_free_ char *rec = ag_log_record("T", "stderr", "a\xff" "b\"", 4, true);
	assert_string_equal(rec, "{\"t\":\"T\",\"s\":\"stderr\",\"l\":\"a\xef\xbf\xbd" "b\\\"\",\"p\":true}\n");

	assert_int_equal(ag_log_open(&l, path, 1000, &err), 0);
	assert_int_equal(ag_linebuf_feed(&lb, &l, "one\ntw", 6, &err), 0);
	assert_int_equal(ag_linebuf_feed(&lb, &l, "o\n", 2, &err), 0);
	for (int i = 0; i < 60; i++) {
		snprintf(line, sizeof(line), "line %d\n", i);
		assert_int_equal(ag_linebuf_feed(&lb, &l, line, strlen(line), &err), 0);
	}
	assert_int_equal(ag_linebuf_feed(&lb, &l, "end", 3, &err), 0);
	assert_int_equal(ag_linebuf_flush(&lb, &l, &err), 0);
	ag_log_close(&l);
	_cleanup_strv_ char **files = ag_log_files(path);
	assert_int_equal(strv_len(files), 3);
	assert_true(strstr(files[0], "log.json.2") != NULL);
	assert_string_equal(files[2], path);
	_cleanup_free_ char *last = NULL;
	assert_int_equal(fs_read(path, &last, &err), 0);
	assert_non_null(strstr(last, "\"l\":\"end\",\"p\":true}\n"));
	for (size_t i = 0; files[i]; i++) {
		struct stat sb;
		assert_int_equal(stat(files[i], &sb), 0);
		assert_true(sb.st_size <= 1000);
	}
	/* a line longer than the buffer is split into partial records */
	char *big = xmalloc(AG_LOG_LINE_MAX + 10);
	memset(big, 'x', AG_LOG_LINE_MAX + 9);
	big[AG_LOG_LINE_MAX + 9] = '\n';
	assert_int_equal(ag_log_open(&l, path, 1 << 20, &err), 0);
	assert_int_equal(ag_linebuf_feed(&lb, &l, big, AG_LOG_LINE_MAX + 10, &err), 0);
	ag_log_close(&l);
	free(big);
	free(last);
	last = NULL;
	assert_int_equal(fs_read(path, &last, &err), 0);
	assert_non_null(strstr(last, "\"p\":true}\n{\"t\""));
	assert_non_null(strstr(last, "\"l\":\"xxxxxxxxx\"}\n"));
	fs_rm_rf(dir, &err);
}

static void test_exit_json(void **state)
{
	_cleanup_free_ char *dir = tmpdir();
	struct ag_exit e = { .exit_code = 137, .signal = 9, .oom_killed = true }, back = { 0 };
	struct err err = { 0 };

	snprintf(e.finished_at, sizeof(e.finished_at), "2026-01-01T00:00:00Z");
	assert_int_equal(ag_exit_read(dir, &back, &err), -ENOENT);
	assert_int_equal(ag_exit_write(dir, &e, &err), 0);
	assert_int_equal(ag_exit_read(dir, &back, &err), 0);
	assert_int_equal(back.exit_code, 137);
	assert_int_equal(back.signal, 9);
	assert_true(back.oom_killed);
	assert_string_equal(back.finished_at, "2026-01-01T00:00:00Z");
	assert_null(back.error);
	_cleanup_json_ json_t *bad = parse("{\"signal\":1}");
	assert_int_equal(ag_exit_parse(bad, &back, &err), -EINVAL);
	_cleanup_json_ json_t *bad2 = parse("{\"exit_code\":999}");
	assert_int_equal(ag_exit_parse(bad2, &back, &err), -EINVAL);
	_cleanup_json_ json_t *withe = parse("{\"exit_code\":-1,\"error\":\"no such image\"}");
	assert_int_equal(ag_exit_parse(withe, &back, &err), 0);
	assert_string_equal(back.error, "no such image");
	ag_exit_clear(&back);
	fs_rm_rf(dir, &err);
}

static void test_metrics_parsers(void **state)
{
	uint64_t v, r, w;

	assert_int_equal(ag_parse_keyed("usage_usec 1500\nuser_usec 1000\n", "usage_usec", &v), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(ag_parse_keyed("usage_usecs 1\n", "usage_usec", &v), -ENOENT);
	ag_parse_blkio_v1("8:0 Read 4096\n8:0 Write 512\n8:0 Sync 1\n8:16 Read 4\nTotal 4612\n", &r, &w);
	assert_int_equal(r, 4100);
	assert_int_equal(w, 512);
	ag_parse_io_v2("8:0 rbytes=100 wbytes=20 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n", &r, &w);
	assert_int_equal(r, 101);
	assert_int_equal(w, 22);
	ag_parse_net_dev("Inter-|   Receive                            |  Transmit\n"
			 " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
			 "    lo:     999       9    0    0    0     0          0         0      999       9    0    0    0     0       0          0\n"
			 "  eth0:    1000      10    0    0    0     0          0         0      200       2    0    0    0     0       0          0\n"
			 "  eth1:      24       1    0    0    0     0          0         0        6       1    0    0    0     0       0          0\n",
			 &r, &w);
	assert_int_equal(r, 1024);
	assert_int_equal(w, 206);
	struct ag_metrics_sample a = { .valid = true, .t_ns = 1000000000, .cpu_ns = 0 },
				 b = { .valid = true, .t_ns = 2000000000, .cpu_ns = 500000000 }, none = { 0 };
	assert_true(ag_cpu_percent(&a, &b) > 49.9 && ag_cpu_percent(&a, &b) < 50.1);
	assert_true(ag_cpu_percent(&none, &b) == 0);
	assert_int_equal(ag_http_status("HTTP/1.1 404 Not Found\r\n", 24), 404);
	assert_int_equal(ag_http_status("HTTP/1.0 2", 10), -1);
	assert_int_equal(ag_http_status("garbage\r\n", 9), -1);
}

static void test_events_seq_resumes(void **state)
{
	_cleanup_free_ char *dir = tmpdir();
	_cleanup_free_ char *path = xasprintf("%s/events.jsonl", dir);
	struct ag_events ev = { .fd = -1 };
	struct err err = { 0 };
	json_t *e = NULL, *all = NULL;

	assert_int_equal(ag_events_last_seq("{\"seq\":3}\n{\"seq\":7}\n{\"seq\":"), 7);
	assert_int_equal(ag_events_open(&ev, path, 400, &err), 0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(ag_events_append(&ev, "container", "start", "abc", NULL, &e, &err), 0);
		json_decref(e);
	}
	ag_events_close(&ev);
	assert_int_equal(ag_events_open(&ev, path, 400, &err), 0);
	assert_int_equal(ev.seq, 10);
	assert_int_equal(ag_events_append(&ev, "workload", "create", "web", json_pack("{s:i}", "x", 1), &e, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(e, "seq")), 11);
	json_decref(json_object_get(e, "attrs")); /* the caller's reference to attrs */
	json_decref(e);
	ag_events_close(&ev);
	/* rotated: the older file still serves replays */
	assert_int_equal(ag_events_read(path, 8, &all, &err), 0);
	assert_int_equal(json_array_size(all), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(all, 0), "seq")), 9);
	json_decref(all);
	fs_rm_rf(dir, &err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_valid_and_defaults),
		cmocka_unit_test(test_spec_invalid),
		cmocka_unit_test(test_restart_rules),
		cmocka_unit_test(test_oci_config),
		cmocka_unit_test(test_log_records_and_rotation),
		cmocka_unit_test(test_exit_json),
		cmocka_unit_test(test_metrics_parsers),
		cmocka_unit_test(test_events_seq_resumes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
