/* Unit tests for the API's pure parts: token hashing, constant-time compare, roles and
 * the token file (api/auth); route matching, request decoding and error mapping
 * (api/routes); the client's error formatting (api/client). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/auth.h"
#include "api/client.h"
#include "api/routes.h"
#include "base/fs.h"
#include "base/js.h"
#include "base/util.h"

static void test_hash(void **state)
{
	uint8_t salt[AUTH_SALT_LEN] = { 1, 2, 3 }, a[AUTH_HASH_LEN], b[AUTH_HASH_LEN];
	struct err err = { 0 };

	assert_int_equal(auth_hash("secret", salt, sizeof(salt), 1000, a, &err), 0);
	assert_int_equal(auth_hash("secret", salt, sizeof(salt), 1000, b, &err), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(auth_hash("secreT", salt, sizeof(salt), 1000, b, &err), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	salt[0] = 9; /* another salt, another hash */
	assert_int_equal(auth_hash("secret", salt, sizeof(salt), 1000, b, &err), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	/* RFC 7914 test vector for PBKDF2-HMAC-SHA256 ("passwd", "salt", 1) */
	uint8_t v[AUTH_HASH_LEN];
	static const uint8_t want[8] = { 0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f };
	assert_int_equal(auth_hash("passwd", (const uint8_t *)"salt", 4, 1, v, &err), 0);
	assert_memory_equal(v, want, sizeof(want));
}

static void test_ct_equal(void **state)
{
	assert_true(auth_ct_equal("abcd", "abcd", 4));
	assert_false(auth_ct_equal("abcd", "abce", 4));
	assert_false(auth_ct_equal("xbcd", "abcd", 4));
	assert_true(auth_ct_equal("", "", 0));
}

static void test_roles(void **state)
{
	assert_int_equal(auth_role_parse("admin"), AUTH_ADMIN);
	assert_int_equal(auth_role_parse("read"), AUTH_READ);
	assert_int_equal(auth_role_parse("root"), AUTH_NONE);
	assert_int_equal(auth_role_parse(NULL), AUTH_NONE);
	assert_true(auth_role_allows(AUTH_ADMIN, "DELETE"));
	assert_true(auth_role_allows(AUTH_READ, "GET"));
	assert_false(auth_role_allows(AUTH_READ, "POST"));
	assert_false(auth_role_allows(AUTH_READ, "DELETE"));
	assert_false(auth_role_allows(AUTH_NONE, "GET"));
	assert_int_equal(auth_peer_role(0), AUTH_ADMIN);
	assert_int_equal(auth_peer_role(1000), AUTH_NONE);
}

static void test_bearer(void **state)
{
	char *buf = NULL;
	const char *a, *s;
	assert_int_equal(auth_parse_bearer("Bearer ck_1:sec:ret ", &buf, &a, &s), 0);
	assert_string_equal(a, "ck_1");
	assert_string_equal(s, "sec:ret");
	free(buf);
	assert_int_equal(auth_parse_bearer("bearer x:y", &buf, &a, &s), 0);
	free(buf);
	assert_int_equal(auth_parse_bearer("Basic eDp5", &buf, &a, &s), -EINVAL);
	assert_int_equal(auth_parse_bearer("Bearer nocolon", &buf, &a, &s), -EINVAL);
	assert_int_equal(auth_parse_bearer("Bearer :x", &buf, &a, &s), -EINVAL);
	assert_int_equal(auth_parse_bearer(NULL, &buf, &a, &s), -EINVAL);
}

static void test_store(void **state)
{
	char dir[] = "/tmp/coop-auth-XXXXXX";
	struct auth_store *st = NULL;
	struct err err = { 0 };
	json_t *admin = NULL, *rd = NULL, *list;

	assert_non_null(mkdtemp(dir));
	_cleanup_free_ char *path = xasprintf("%s/tokens.json", dir);
	assert_int_equal(auth_store_open(path, &st, &err), 0);
	assert_int_equal(auth_store_create(st, AUTH_ADMIN, "ci", &admin, &err), 0);
	assert_int_equal(auth_store_create(st, AUTH_READ, NULL, &rd, &err), 0);
	assert_int_equal(auth_store_create(st, AUTH_READ, "ci", &list, &err), -EEXIST);
	assert_int_equal(auth_store_create(st, AUTH_READ, "../x", &list, &err), -EINVAL);
	const char *acc = json_string_value(json_object_get(admin, "access_token"));
	const char *sec = json_string_value(json_object_get(admin, "secret_key"));
	assert_int_equal(auth_store_check(st, acc, sec), AUTH_ADMIN);
	assert_int_equal(auth_store_check(st, acc, "wrong"), AUTH_NONE);
	assert_int_equal(auth_store_check(st, "ck_unknown", sec), AUTH_NONE);
	assert_int_equal(auth_store_check(st,
					  json_string_value(json_object_get(rd, "access_token")),
					  json_string_value(json_object_get(rd, "secret_key"))),
			 AUTH_READ);
	/* the file holds no secret, only salted hashes; reopened, it still verifies */
	_cleanup_free_ char *text = NULL;
	assert_int_equal(fs_read(path, &text, &err), 0);
	assert_null(strstr(text, sec));
	assert_non_null(strstr(text, "\"salt\""));
	auth_store_free(st);
	assert_int_equal(auth_store_open(path, &st, &err), 0);
	assert_int_equal(auth_store_check(st, acc, sec), AUTH_ADMIN);
	list = auth_store_list(st);
	assert_int_equal(json_array_size(list), 2);
	assert_null(json_object_get(json_array_get(list, 0), "hash"));
	assert_null(json_object_get(json_array_get(list, 0), "secret_key"));
	json_decref(list);
	assert_int_equal(auth_store_remove(st, "ci", &err), 0);
	assert_int_equal(auth_store_check(st, acc, sec), AUTH_NONE);
	assert_int_equal(auth_store_remove(st, "ci", &err), -ENOENT);
	auth_store_free(st);
	json_decref(admin);
	json_decref(rd);
	fs_rm_rf(dir, &err);
}

static void test_route_match(void **state)
{
	static const struct {
		const char *method, *path;
		int want;
		const char *p0, *p1;
	} cases[] = {
		{ "GET", "/v1/version", 0, NULL, NULL },
		{ "GET", "/v1/containers/web-1/logs", 0, "web-1", NULL },
		{ "POST", "/v1/containers/abc/stop", 0, "abc", NULL },
		{ "DELETE", "/v1/images/coop-demo/httpd:1", 0, "coop-demo/httpd:1", NULL },
		{ "DELETE", "/v1/containers/abc", 0, "abc", NULL },
		{ "PUT", "/v1/containers/abc", -EOPNOTSUPP, NULL, NULL },
		{ "GET", "/v1/containers/abc/nope", -ENOENT, NULL, NULL },
		{ "GET", "/v1/containers//logs", -ENOENT, NULL, NULL },
		{ "GET", "/v2/version", -ENOENT, NULL, NULL },
		{ "GET", "/v1/version/", -ENOENT, NULL, NULL },
		{ "GET", "", -ENOENT, NULL, NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *p[API_MAX_PARAMS] = { 0 };
		int idx = -1, r = api_route_match(cases[i].method, cases[i].path, &idx, p);
		if (r != cases[i].want)
			fail_msg("%s %s: got %d, want %d", cases[i].method, cases[i].path, r,
				 cases[i].want);
		if (cases[i].p0)
			assert_string_equal(p[0], cases[i].p0);
		for (int k = 0; k < API_MAX_PARAMS; k++)
			free(p[k]);
	}
}

static void test_status_map(void **state)
{
	const char *code;
	assert_int_equal(api_status_for(-ENOENT, &code), 404);
	assert_string_equal(code, "not_found");
	assert_int_equal(api_status_for(-EEXIST, &code), 409);
	assert_int_equal(api_status_for(-EINVAL, &code), 422);
	assert_int_equal(api_status_for(-EBADMSG, &code), 400);
	assert_int_equal(api_status_for(-E2BIG, &code), 413);
	assert_int_equal(api_status_for(-EACCES, &code), 403);
	assert_int_equal(api_status_for(-EIO, &code), 500);
	assert_string_equal(code, "internal");
	char *f = api_error_field("ports[1].container_port: out of range");
	assert_string_equal(f, "ports[1].container_port");
	free(f);
	assert_null(api_error_field("web.bun:3:1: bad"));
	assert_null(api_error_field("image 'x' not found"));
	assert_null(api_error_field("no colon"));
}

static int run_decode(const char *body, struct api_run_req *r, char **field, struct err *err)
{
	return api_run_decode(body, strlen(body), r, field, err);
}

static void test_run_decode(void **state)
{
	static const struct {
		const char *body;
		int want;
		const char *field, *msg;
	} bad[] = {
		{ "", -EBADMSG, NULL, "expected a JSON object" },
		{ "{\"image\":", -EBADMSG, NULL, "malformed JSON" },
		{ "[]", -EBADMSG, NULL, "expected a JSON object" },
		{ "{}", -EINVAL, "image", "image" },
		{ "{\"image\":1}", -EINVAL, "image", "expected a string" },
		{ "{\"image\":\"b\",\"name\":\"../etc\"}", -EINVAL, "name", "not a valid name" },
		{ "{\"image\":\"b\",\"name\":\"-x\"}", -EINVAL, "name", "not a valid name" },
		{ "{\"image\":\"b\",\"imagee\":1}", -EINVAL, "imagee", "unknown field" },
		{ "{\"image\":\"b\",\"disk\":\"lots\"}", -EINVAL, "disk", "expected a size like 512M" },
		{ "{\"image\":\"b\",\"disk\":\"4m\"}", -EINVAL, "disk", "4m is below the 16 MiB minimum" },
		{ "{\"image\":\"b\",\"disk\":1024}", -EINVAL, "disk", "1024 is below the 16 MiB" },
		{ "{\"image\":\"b\",\"disk\":\"9t\"}", -EINVAL, "disk", "above the 8 TiB maximum" },
		{ "{\"image\":\"b\",\"disk\":[1]}", -EINVAL, "disk", "expected a size" },
		{ "{\"image\":\"b\",\"ports\":[\"70000:80\"]}", -EINVAL, "ports[0]", "65535" },
		{ "{\"image\":\"b\",\"ports\":[\"80\"]}", -EINVAL, "ports[0]", "HOST:CONTAINER" },
		{ "{\"image\":\"b\",\"ports\":[\"8080:80/sctp\"]}", -EINVAL, "ports[0]", "udp" },
		{ "{\"image\":\"b\",\"volumes\":[\"/a/../b:/c\"]}", -EINVAL, "volumes[0]", "'..'" },
		{ "{\"image\":\"b\",\"volumes\":[\"/a:rel\"]}", -EINVAL, "volumes[0]", "SOURCE" },
		{ "{\"image\":\"b\",\"volumes\":[\"/a:/b:rx\"]}", -EINVAL, "volumes[0]", "SOURCE" },
		{ "{\"image\":\"b\",\"env\":[\"NOEQ\"]}", -EINVAL, "env[0]", "KEY=value" },
		{ "{\"image\":\"b\",\"memory\":\"lots\"}", -EINVAL, "memory", "size" },
		{ "{\"image\":\"b\",\"memory\":100}", -EINVAL, "memory", "4 MiB" },
		{ "{\"image\":\"b\",\"cpu\":-1}", -EINVAL, "cpu", "above 0" },
		{ "{\"image\":\"b\",\"cpu\":\"x\"}", -EINVAL, "cpu", "above 0" },
		{ "{\"image\":\"b\",\"workdir\":\"rel\"}", -EINVAL, "workdir", "absolute" },
		{ "{\"image\":\"b\",\"rm\":\"yes\"}", -EINVAL, "rm", "boolean" },
		{ "{\"image\":\"b\",\"image\":\"c\"}", -EBADMSG, NULL, "duplicate" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct api_run_req r;
		struct err err = { 0 };
		char *field = NULL;
		int x = run_decode(bad[i].body, &r, &field, &err);
		if (x != bad[i].want || !strstr(err.msg, bad[i].msg) ||
		    (bad[i].field ? !field || !streq(field, bad[i].field) : field != NULL))
			fail_msg("%s: got %d '%s' field '%s'", bad[i].body, x, err.msg,
				 field ? field : "(null)");
		free(field);
	}

	struct api_run_req r;
	struct err err = { 0 };
	char *field = NULL;
	json_t *spec;
	assert_int_equal(run_decode("{\"image\":\"busybox\",\"name\":\"web\",\"ports\":[\"8080:80\","
				    "\"53:53/udp\"],\"volumes\":[\"/srv:/data:ro\",\"cache:/c\"],"
				    "\"memory\":\"64m\",\"cpu\":0.5,\"env\":[\"A=1\"],"
				    "\"command\":[\"sh\",\"-c\",\"true\"],\"rm\":true,\"disk\":\"1G\"}",
				    &r, &field, &err),
			 0);
	assert_int_equal(r.memory, 64 << 20);
	assert_int_equal(r.disk, 1LL << 30);
	assert_int_equal(api_run_to_spec(&r, &spec, &field, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(spec, "resources"), "disk")),
			 1LL << 30);
	assert_string_equal(json_string_value(json_object_get(spec, "name")), "web");
	assert_string_equal(json_string_value(json_object_get(spec, "restart")), "no");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(spec, "replicas"), "min")), 1);
	json_t *p1 = json_array_get(json_object_get(spec, "ports"), 1);
	assert_int_equal(json_integer_value(json_object_get(p1, "host_port")), 53);
	assert_string_equal(json_string_value(json_object_get(p1, "protocol")), "udp");
	json_t *v1 = json_array_get(json_object_get(spec, "volumes"), 1);
	assert_true(json_is_true(json_object_get(v1, "named")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(spec, "volumes"), 0), "mode")), "ro");
	assert_non_null(json_object_get(json_object_get(spec, "labels"), "coop.rm"));
	json_decref(spec);
	api_run_req_free(&r);
	/* no name: one is made from the image */
	assert_int_equal(run_decode("{\"image\":\"registry:5000/team/app:1\"}", &r, &field, &err), 0);
	assert_int_equal(api_run_to_spec(&r, &spec, &field, &err), 0);
	const char *n = json_string_value(json_object_get(spec, "name"));
	assert_true(strncmp(n, "app-", 4) == 0 && api_name_valid(n));
	assert_null(json_object_get(spec, "placement"));
	json_decref(spec);
	api_run_req_free(&r);
	/* a terminal, init, stop signal */
	assert_int_equal(run_decode("{\"image\":\"busybox\",\"tty\":true,\"stdin\":true,"
				    "\"init\":true,\"stop_signal\":\"SIGHUP\"}", &r, &field, &err), 0);
	assert_int_equal(api_run_to_spec(&r, &spec, &field, &err), 0);
	assert_true(json_is_true(json_object_get(spec, "tty")));
	assert_true(json_is_true(json_object_get(spec, "stdin")));
	assert_true(json_is_true(json_object_get(spec, "init")));
	assert_string_equal(json_string_value(json_object_get(spec, "stop_signal")), "SIGHUP");
	json_decref(spec);
	api_run_req_free(&r);
	assert_int_equal(run_decode("{\"image\":\"busybox\",\"init\":\"yes\"}", &r, &field, &err), -EINVAL);
	assert_string_equal(field, "init");
	free(field);
	field = NULL;
}

static void test_exec_decode(void **state)
{
	struct api_exec_req e;
	struct err err = { 0 };
	char *field = NULL;
	const char *ok = "{\"argv\":[\"sh\",\"-c\",\"id\"],\"env\":[\"A=1\"],\"cwd\":\"/tmp\"}";
	assert_int_equal(api_exec_decode(ok, strlen(ok), &e, &field, &err), 0);
	assert_string_equal(e.argv[2], "id");
	api_exec_req_free(&e);
	static const char *const bad[] = { "{}", "{\"argv\":[]}", "{\"argv\":[\"\"]}",
					   "{\"argv\":\"sh\"}", "{\"argv\":[\"sh\"],\"cwd\":\"x\"}",
					   "{\"argv\":[\"sh\"],\"tty\":1}", "nope" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int x = api_exec_decode(bad[i], strlen(bad[i]), &e, &field, &err);
		if (x != -EINVAL && x != -EBADMSG)
			fail_msg("%s: got %d", bad[i], x);
		free(field);
		field = NULL;
	}
}

static void test_filters(void **state)
{
	struct err err = { 0 };
	json_t *ev = json_pack("{s:s,s:s,s:{s:s}}", "type", "container", "action", "die", "attrs",
			       "name", "web-1");
	char *f1[] = { "type=container", NULL }, *f2[] = { "type=image", NULL },
	     *f3[] = { "type=container", "name=web-1", NULL };
	assert_true(api_event_matches(ev, f1));
	assert_false(api_event_matches(ev, f2));
	assert_true(api_event_matches(ev, f3));
	assert_true(api_event_matches(ev, NULL));
	assert_int_equal(api_filter_check("type=container", &err), 0);
	assert_int_equal(api_filter_check("colour=red", &err), -EINVAL);
	assert_int_equal(api_filter_check("type", &err), -EINVAL);
	json_decref(ev);
}

static void test_client_errors(void **state)
{
	struct err err = { 0 };
	const char *body = "{\"error\":{\"code\":\"not_found\",\"message\":\"no such container: x\"}}";
	assert_int_equal(api_error_from_reply(404, body, strlen(body), &err), -ENOENT);
	assert_string_equal(err.msg, "no such container: x");
	assert_int_equal(api_error_from_reply(502, "Bad gateway\nmore", 16, &err), -EIO);
	assert_string_equal(err.msg, "HTTP 502: Bad gateway");
	assert_int_equal(api_error_from_reply(403, NULL, 0, &err), -EACCES);
	assert_string_equal(err.msg, "HTTP 403");
	body = "{\"error\":{\"message\":\"two\\nlines\"}}";
	assert_int_equal(api_error_from_reply(422, body, strlen(body), &err), -EINVAL);
	assert_string_equal(err.msg, "two lines");
	char *e = api_escape("coop-demo/httpd:1 x");
	assert_string_equal(e, "coop-demo%2Fhttpd:1%20x");
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash),        cmocka_unit_test(test_ct_equal),
		cmocka_unit_test(test_roles),       cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_store),       cmocka_unit_test(test_route_match),
		cmocka_unit_test(test_status_map),  cmocka_unit_test(test_run_decode),
		cmocka_unit_test(test_exec_decode), cmocka_unit_test(test_filters),
		cmocka_unit_test(test_client_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
