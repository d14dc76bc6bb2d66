/* Unit tests for the upgraded-stream framing (api/frame) and the interactive fields of
 * the exec request (api/routes): headers, resizes, decoding split at every byte,
 * protocol errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/frame.h"
#include "api/routes.h"
#include "base/util.h"

struct got {
	int n;
	enum api_frame_type type[8];
	char data[8][64];
	size_t len[8];
};

static int collect(void *ctx, enum api_frame_type t, const uint8_t *p, size_t len)
{
	struct got *g = ctx;
	if (g->n >= 8)
		return -ENOSPC;
	g->type[g->n] = t;
	g->len[g->n] = len;
	memcpy(g->data[g->n], p, len < 64 ? len : 64);
	g->n++;
	return 0;
}

/* stdin "hi", a resize 24x80, an empty close */
static size_t sample(uint8_t *b)
{
	size_t n = 0;
	api_frame_header(b, API_FRAME_STDIN, 2);
	memcpy(b + 8, "hi", 2);
	n = 10;
	api_frame_resize(b + n, 24, 80);
	n += 12;
	api_frame_header(b + n, API_FRAME_CLOSE, 0);
	return n + 8;
}

static void check_sample(const struct got *g)
{
	unsigned rows, cols;
	assert_int_equal(g->n, 3);
	assert_int_equal(g->type[0], API_FRAME_STDIN);
	assert_int_equal(g->len[0], 2);
	assert_memory_equal(g->data[0], "hi", 2);
	assert_int_equal(g->type[1], API_FRAME_RESIZE);
	assert_int_equal(api_frame_resize_parse((const uint8_t *)g->data[1], g->len[1], &rows, &cols), 0);
	assert_int_equal(rows, 24);
	assert_int_equal(cols, 80);
	assert_int_equal(g->type[2], API_FRAME_CLOSE);
	assert_int_equal(g->len[2], 0);
}

static void test_header(void **state)
{
	uint8_t h[8];
	api_frame_header(h, API_FRAME_STDERR, 0x01020304);
	static const uint8_t want[8] = { 2, 0, 0, 0, 1, 2, 3, 4 };
	assert_memory_equal(h, want, 8);
}

static void test_decode_whole(void **state)
{
	uint8_t b[64];
	size_t n = sample(b);
	struct api_frame_dec d = { 0 };
	struct got g = { 0 };
	struct err err = { 0 };
	assert_int_equal(api_frame_feed(&d, b, n, collect, &g, &err), 0);
	check_sample(&g);
	api_frame_dec_free(&d);
}

static void test_decode_split(void **state)
{
	uint8_t b[64];
	size_t n = sample(b);
	for (size_t cut = 0; cut <= n; cut++) { /* two pieces, cut anywhere */
		struct api_frame_dec d = { 0 };
		struct got g = { 0 };
		struct err err = { 0 };
		assert_int_equal(api_frame_feed(&d, b, cut, collect, &g, &err), 0);
		assert_int_equal(api_frame_feed(&d, b + cut, n - cut, collect, &g, &err), 0);
		check_sample(&g);
		api_frame_dec_free(&d);
	}
	struct api_frame_dec d = { 0 }; /* one byte at a time */
	struct got g = { 0 };
	struct err err = { 0 };
	for (size_t i = 0; i < n; i++)
		assert_int_equal(api_frame_feed(&d, b + i, 1, collect, &g, &err), 0);
	check_sample(&g);
	api_frame_dec_free(&d);
}

static void test_decode_errors(void **state)
{
	struct err err = { 0 };
	struct got g = { 0 };
	uint8_t h[8];
	struct api_frame_dec d = { 0 };

	api_frame_header(h, API_FRAME_STDIN, API_FRAME_MAX + 1);
	assert_int_equal(api_frame_feed(&d, h, 8, collect, &g, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "limit"));
	api_frame_dec_free(&d);
	api_frame_header(h, 9, 0);
	assert_int_equal(api_frame_feed(&d, h, 8, collect, &g, &err), -EPROTO);
	api_frame_dec_free(&d);
	api_frame_header(h, API_FRAME_STDIN, 0);
	h[2] = 1;
	assert_int_equal(api_frame_feed(&d, h, 8, collect, &g, &err), -EPROTO);
	api_frame_dec_free(&d);
	assert_int_equal(g.n, 0);
	unsigned r, c;
	assert_int_equal(api_frame_resize_parse((const uint8_t *)"\0\0\0\1", 4, &r, &c), -EINVAL);
	assert_int_equal(api_frame_resize_parse((const uint8_t *)"\0\1\0", 3, &r, &c), -EINVAL);
}

static void test_exec_interactive_decode(void **state)
{
	struct api_exec_req e;
	struct err err = { 0 };
	char *field = NULL;
	const char *b = "{\"argv\":[\"sh\"],\"tty\":true,\"stdin\":true,\"rows\":40,\"cols\":120}";
	assert_int_equal(api_exec_decode(b, strlen(b), &e, &field, &err), 0);
	assert_true(e.tty);
	assert_true(e.stdin);
	assert_int_equal(e.rows, 40);
	assert_int_equal(e.cols, 120);
	api_exec_req_free(&e);
	b = "{\"argv\":[\"sh\"]}";
	assert_int_equal(api_exec_decode(b, strlen(b), &e, &field, &err), 0);
	assert_false(e.tty || e.stdin);
	api_exec_req_free(&e);
	b = "{\"argv\":[\"sh\"],\"rows\":70000}";
	assert_int_equal(api_exec_decode(b, strlen(b), &e, &field, &err), -EINVAL);
	assert_string_equal(field, "rows");
	free(field);
	b = "{\"argv\":[\"sh\"],\"tty\":\"yes\"}";
	assert_int_equal(api_exec_decode(b, strlen(b), &e, &field, &err), -EINVAL);
	assert_string_equal(field, "tty");
	free(field);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_decode_whole),
		cmocka_unit_test(test_decode_split),
		cmocka_unit_test(test_decode_errors),
		cmocka_unit_test(test_exec_interactive_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
