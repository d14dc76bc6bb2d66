/* Unit tests for the registry client's parsers (image/auth): WWW-Authenticate
 * challenges, token responses, docker config.json credentials, base64, Content-Range,
 * Retry-After and the registry's JSON errors; and progress's size formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "base/util.h"
#include "image/auth.h"
#include "image/progress.h"

static void challenge_ok(const char *h, enum img_auth_scheme scheme, const char *realm,
			 const char *service, const char *scope, const char *error)
{
	struct img_auth_challenge c;
	struct err err = {0};

	assert_int_equal(img_auth_challenge_parse(h, &c, &err), 0);
	assert_int_equal(c.scheme, scheme);
#define EXPECT(f)                                                                                   \
	if (f)                                                                                     \
		assert_string_equal(c.f, f);                                                       \
	else                                                                                       \
		assert_null(c.f);
	EXPECT(realm);
	EXPECT(service);
	EXPECT(scope);
	EXPECT(error);
#undef CHECK
	img_auth_challenge_free(&c);
}

static void test_challenge(void **state)
{
	challenge_ok("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
		     "scope=\"repository:library/busybox:pull\"",
		     IMG_AUTH_BEARER, "https://auth.docker.io/token", "registry.docker.io",
		     "repository:library/busybox:pull", NULL);
	/* any order, spaces, case of names and scheme, an error param */
	challenge_ok("bearer  service=\"reg\" , error=\"invalid_token\",REALM=\"http://h:1/t?x=1\"",
		     IMG_AUTH_BEARER, "http://h:1/t?x=1", "reg", NULL, "invalid_token");
	/* scope with a comma inside quotes; escaped quote */
	challenge_ok("Bearer realm=\"r\",scope=\"repository:a:pull,push\",service=\"s\\\"x\"",
		     IMG_AUTH_BEARER, "r", "s\"x", "repository:a:pull,push", NULL);
	challenge_ok("Basic realm=\"coop-test\"", IMG_AUTH_BASIC, "coop-test", NULL, NULL, NULL);
	challenge_ok("Basic", IMG_AUTH_BASIC, NULL, NULL, NULL, NULL);
	/* unquoted token values, as some servers send */
	challenge_ok("Bearer realm=https://x/token,service=reg", IMG_AUTH_BEARER, "https://x/token",
		     "reg", NULL, NULL);
	/* several challenges: Bearer preferred over Basic, unknown ones skipped */
	challenge_ok("Basic realm=\"b\", Bearer realm=\"t\",service=\"s\"", IMG_AUTH_BEARER, "t",
		     "s", NULL, NULL);
	challenge_ok("Negotiate abc==, Basic realm=\"b\"", IMG_AUTH_BASIC, "b", NULL, NULL, NULL);
}

static void test_challenge_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "   ",
	    "Bearer service=\"s\"", /* no realm */
	    "Bearer realm=\"unterminated",
	    "Bearer realm=\"\"",
	    "\"quoted\" realm=x",
	    "Bearer realm=\"r\", =x",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct img_auth_challenge c = {0};
		struct err err = {0};
		assert_true(img_auth_challenge_parse(bad[i], &c, &err) < 0);
		assert_true(err.msg[0] != '\0');
	}
	struct img_auth_challenge c;
	struct err err = {0};
	assert_int_equal(img_auth_challenge_parse("Digest realm=\"x\", nonce=\"y\"", &c, &err),
			 -ENOTSUP);
	assert_int_equal(img_auth_challenge_parse(NULL, &c, &err), -EINVAL);
}

static void test_token(void **state)
{
	struct err err = {0};
	char *tok = NULL;
	long exp = 0;

	const char *a =
	    "{\"token\":\"abc\",\"expires_in\":300,\"issued_at\":\"2024-01-01T00:00:00Z\"}";
	assert_int_equal(img_auth_token_parse(a, strlen(a), &tok, &exp, &err), 0);
	assert_string_equal(tok, "abc");
	assert_int_equal(exp, 300);
	free(tok);
	/* access_token only (OAuth2 style); default expiry 60 */
	const char *b = "{\"access_token\":\"xyz\"}";
	assert_int_equal(img_auth_token_parse(b, strlen(b), &tok, &exp, &err), 0);
	assert_string_equal(tok, "xyz");
	assert_int_equal(exp, 60);
	free(tok);
	/* an empty token falls back to access_token; a non-positive expiry is ignored */
	const char *c = "{\"token\":\"\",\"access_token\":\"q\",\"expires_in\":-5}";
	assert_int_equal(img_auth_token_parse(c, strlen(c), &tok, &exp, &err), 0);
	assert_string_equal(tok, "q");
	assert_int_equal(exp, 60);
	free(tok);
	static const char *const bad[] = {
	    "", "[]", "{}", "{\"token\":5}", "{\"token\":\"\"}", "not json"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_true(img_auth_token_parse(bad[i], strlen(bad[i]), &tok, &exp, &err) < 0);
}

static int creds(const char *json, const char *host, char **u, char **p)
{
	struct err err = {0};
	*u = *p = NULL;
	return img_auth_docker_config(json, strlen(json), host, u, p, &err);
}

static void test_docker_config(void **state)
{
	char *u, *p;
	/* YWxpY2U6czNjcjN0 = alice:s3cr3t; Ym9iOnA6dw== = bob:p:w */
	const char *cfg =
	    "{\"auths\":{"
	    "\"https://index.docker.io/v1/\":{\"auth\":\"YWxpY2U6czNjcjN0\"},"
	    "\"127.0.0.1:5000\":{\"auth\":\"Ym9iOnA6dw==\"},"
	    "\"http://Reg.Example.com:8443/v2/\":{\"username\":\"u\",\"password\":\"pw\"},"
	    "\"empty:1\":{}"
	    "},\"credsStore\":\"desktop\"}";

	assert_int_equal(creds(cfg, "registry-1.docker.io", &u, &p), 1);
	assert_string_equal(u, "alice");
	assert_string_equal(p, "s3cr3t");
	free(u), free(p);
	assert_int_equal(creds(cfg, "docker.io", &u, &p), 1);
	free(u), free(p);
	assert_int_equal(creds(cfg, "127.0.0.1:5000", &u, &p), 1);
	assert_string_equal(u, "bob");
	assert_string_equal(p, "p:w"); /* the password may hold colons */
	free(u), free(p);
	assert_int_equal(creds(cfg, "reg.example.com:8443", &u, &p), 1);
	assert_string_equal(u, "u");
	assert_string_equal(p, "pw");
	free(u), free(p);
	assert_int_equal(creds(cfg, "127.0.0.1:5001", &u, &p), 0);
	assert_int_equal(creds(cfg, "empty:1", &u, &p), 0);
	assert_int_equal(creds("{}", "x", &u, &p), 0);
	assert_null(u);

	assert_true(creds("{\"auths\":[]}", "x", &u, &p) < 0);
	assert_true(creds("not json", "x", &u, &p) < 0);
	assert_true(creds("{\"auths\":{\"x\":{\"auth\":\"!!!!\"}}}", "x", &u, &p) < 0);
	/* base64 of "nocolon" */
	assert_true(creds("{\"auths\":{\"x\":{\"auth\":\"bm9jb2xvbg==\"}}}", "x", &u, &p) < 0);
}

static void test_base64(void **state)
{
	static const struct {
		const char *plain, *b64;
	} v[] = {{"", ""},
		 {"f", "Zg=="},
		 {"fo", "Zm8="},
		 {"foo", "Zm9v"},
		 {"foob", "Zm9vYg=="},
		 {"fooba", "Zm9vYmE="},
		 {"foobar", "Zm9vYmFy"}};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char *e = img_auth_base64_encode(v[i].plain, strlen(v[i].plain));
		assert_string_equal(e, v[i].b64);
		free(e);
		char *d;
		size_t n;
		assert_int_equal(img_auth_base64_decode(v[i].b64, &d, &n), 0);
		assert_int_equal(n, strlen(v[i].plain));
		assert_memory_equal(d, v[i].plain, n);
		free(d);
	}
	unsigned char bin[256];
	for (int i = 0; i < 256; i++)
		bin[i] = (unsigned char)i;
	char *e = img_auth_base64_encode(bin, sizeof(bin)), *d;
	size_t n;
	assert_int_equal(img_auth_base64_decode(e, &d, &n), 0);
	assert_int_equal(n, sizeof(bin));
	assert_memory_equal(d, bin, n);
	free(e), free(d);
	static const char *const bad[] = {"Zg=",   "Z===", "Zm9v=", "Zg==Zg==", "Zm 9",
					  "Zm9\n", "=Zm9", "Zm=v",  "Zh==",	"Zm9="};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(img_auth_base64_decode(bad[i], &d, &n), -EINVAL);
}

static void test_content_range(void **state)
{
	int64_t s, e, t;
	assert_int_equal(img_auth_content_range("bytes 100-199/200", &s, &e, &t), 0);
	assert_true(s == 100 && e == 199 && t == 200);
	assert_int_equal(img_auth_content_range("bytes 0-0/*", &s, &e, &t), 0);
	assert_true(s == 0 && e == 0 && t == -1);
	assert_int_equal(img_auth_content_range("  Bytes 5-9/10 ", &s, &e, &t), 0);
	assert_int_equal(
	    img_auth_content_range("bytes 1-9223372036854775806/9223372036854775807", &s, &e, &t),
	    0);
	static const char *const bad[] = {"",
					  "bytes",
					  "bytes */200",
					  "bytes 10-5/20",
					  "bytes 0-20/20",
					  "bytes 0-1",
					  "items 0-1/2",
					  "bytes -1-5/9",
					  "bytes 0-1/2x",
					  "bytes 0-99999999999999999999/1"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(img_auth_content_range(bad[i], &s, &e, &t), -EINVAL);
}

static void test_retry_after(void **state)
{
	time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
	assert_int_equal(img_auth_retry_after("5", now, 30), 5);
	assert_int_equal(img_auth_retry_after(" 120 ", now, 30), 30);
	assert_int_equal(img_auth_retry_after("0", now, 30), 0);
	assert_int_equal(img_auth_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now, 30), 10);
	assert_int_equal(img_auth_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now, 30), 0);
	assert_int_equal(img_auth_retry_after("Wed, 15 Nov 2023 22:00:00 GMT", now, 30), 30);
	assert_int_equal(img_auth_retry_after("soon", now, 30), -EINVAL);
	assert_int_equal(img_auth_retry_after("5s", now, 30), -EINVAL);
	assert_int_equal(img_auth_retry_after("", now, 30), -EINVAL);
}

static void test_registry_error(void **state)
{
	char *code = NULL, *m;
	const char *one = "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest "
			  "unknown\",\"detail\":{\"Tag\":\"1\"}}]}";
	m = img_auth_registry_error(one, strlen(one), &code);
	assert_string_equal(m, "manifest unknown");
	assert_string_equal(code, "MANIFEST_UNKNOWN");
	free(m), free(code);
	const char *two = "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication "
			  "required\"},{\"code\":\"DENIED\"}]}";
	m = img_auth_registry_error(two, strlen(two), NULL);
	assert_string_equal(m, "authentication required; DENIED");
	free(m);
	static const char *const none[] = {"",
					   "{}",
					   "{\"errors\":[]}",
					   "{\"errors\":{}}",
					   "<html>502</html>",
					   "{\"errors\":[{}]}"};
	for (size_t i = 0; i < ARRAY_SIZE(none); i++)
		assert_null(img_auth_registry_error(none[i], strlen(none[i]), NULL));
	assert_null(img_auth_registry_error(NULL, 0, NULL));
}

static void test_sizes(void **state)
{
	char b[16];
	img_progress_size(0, b, sizeof(b));
	assert_string_equal(b, "0 B");
	img_progress_size(999, b, sizeof(b));
	assert_string_equal(b, "999 B");
	img_progress_size(12345678, b, sizeof(b));
	assert_string_equal(b, "12.3 MB");
	img_progress_size(1500000000, b, sizeof(b));
	assert_string_equal(b, "1.5 GB");
	img_progress_size(-1, b, sizeof(b));
	assert_string_equal(b, "0 B");
	assert_null(img_progress_new(NULL, 3)); /* quiet */
	img_progress_state(NULL, 0, "done", 1);
	img_progress_free(NULL);
}

/* Plain (non-terminal) output: outcomes only, one line each. */
static void test_progress_lines(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct img_progress *p = img_progress_new(f, 2);
	img_progress_layer(p, 0, "sha256:abcdef0123456789abcdef", 12300000);
	img_progress_layer(p, 1, "sha256:0000000000001111", 10);
	img_progress_state(p, 0, "downloading", 0);
	img_progress_bytes(p, 0, 100);
	img_progress_state(p, 0, "done", 1);
	img_progress_state(p, 1, "exists", 1);
	img_progress_done(p);
	img_progress_free(p);
	fclose(f);
	assert_string_equal(buf, "layer sha256:abcdef012345… 12.3 MB done\n"
				 "layer sha256:000000000000… 10 B exists\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_challenge),	cmocka_unit_test(test_challenge_bad),
	    cmocka_unit_test(test_token),	cmocka_unit_test(test_docker_config),
	    cmocka_unit_test(test_base64),	cmocka_unit_test(test_content_range),
	    cmocka_unit_test(test_retry_after), cmocka_unit_test(test_registry_error),
	    cmocka_unit_test(test_sizes),	cmocka_unit_test(test_progress_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
