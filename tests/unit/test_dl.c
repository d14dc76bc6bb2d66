/* Unit tests for base/dl: libraries loaded on first use. A library that is not there and
 * one that lacks a symbol each give one line naming the library, its file and the Debian
 * package, and keep giving it; the real tables load, resolve every listed name and call
 * through; a listed call made before any dl_load loads the library itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dlfcn.h>
#include <link.h>

#include "base/dl_archive.h"
#include "base/dl_bpf.h"
#include "base/dl_curl.h"
#include "base/dl_gnutls.h"
#include "base/dl_mhd.h"
#include "base/dl_nft.h"
#include "base/util.h"

/* Whether this process has soname mapped, without loading it. */
static bool mapped(const char *soname)
{
	void *h = dlopen(soname, RTLD_NOLOAD | RTLD_LAZY);
	if (h)
		dlclose(h);
	return h != NULL;
}

static void test_missing_library(void **state)
{
	static const char *const syms[] = {"coop_dl_nothing"};
	void *fns[1] = {0};
	struct dl_lib lib = {.name = "libcoopmissing", .soname = "libcoopmissing.so.7",
			     .package = "libcoopmissing7", .syms = syms, .fns = fns, .n = 1};
	struct err err = {0};

	assert_int_equal(dl_load(&lib, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "libcoopmissing (libcoopmissing.so.7) could not be loaded"));
	assert_non_null(strstr(err.msg, "install the Debian package libcoopmissing7"));
	assert_null(strchr(err.msg, '\n'));
	/* the failure is kept: the second use says the same, without another dlopen */
	err_clear(&err);
	assert_int_equal(dl_load(&lib, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "libcoopmissing7"));
	assert_int_equal(lib.ready, 0);
}

static void test_missing_symbol(void **state)
{
	/* libc is always there; the second name is not in it */
	static const char *const syms[] = {"strlen", "coop_dl_no_such_function"};
	void *fns[2] = {0};
	struct dl_lib lib = {.name = "libc", .soname = "libc.so.6", .package = "libc6",
			     .syms = syms, .fns = fns, .n = 2};
	struct err err = {0};

	assert_int_equal(dl_load(&lib, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "libc (libc.so.6) lacks coop_dl_no_such_function"));
	assert_non_null(strstr(err.msg, "libc6"));
	assert_null(fns[0]); /* nothing half-filled is left behind */
	assert_int_equal(lib.ready, 0);
}

static int failing_init(struct err *err) { return err_msg(err, EIO, "libfake: init refused"); }

static void test_init_failure(void **state)
{
	static const char *const syms[] = {"strlen"};
	void *fns[1] = {0};
	struct dl_lib lib = {.name = "libc", .soname = "libc.so.6", .package = "libc6",
			     .syms = syms, .fns = fns, .n = 1, .init = failing_init};
	struct err err = {0};

	assert_int_equal(dl_load(&lib, &err), -EIO);
	assert_string_equal(err.msg, "libfake: init refused");
	err_clear(&err);
	assert_int_equal(dl_load(&lib, &err), -EIO);
	assert_string_equal(err.msg, "libfake: init refused");
	assert_int_equal(lib.ready, 0);
}

/* Every slot of a real table is filled once loaded. */
static void assert_table_full(const struct dl_lib *lib)
{
	assert_int_equal(lib->ready, 1);
	for (size_t i = 0; i < lib->n; i++)
		if (!lib->fns[i])
			fail_msg("%s: %s not resolved", lib->name, lib->syms[i]);
}

static void test_curl_loads(void **state)
{
	struct err err = {0};
	char *esc;

	assert_int_equal(dl_load(&dl_curl, &err), 0);
	assert_table_full(&dl_curl);
	assert_true(mapped(DL_CURL_SONAME));
	esc = curl_easy_escape(NULL, "a b/c", 0);
	assert_string_equal(esc, "a%20b%2Fc");
	curl_free(esc);
	assert_string_equal(curl_easy_strerror(CURLE_OK), "No error");
}

/* A listed call with no dl_load before it loads the library itself (DL_CALLS). */
static void test_first_call_loads(void **state)
{
	struct archive *a;

	assert_int_equal(dl_archive.ready, 0);
	assert_false(mapped(DL_ARCHIVE_SONAME));
	a = archive_read_new();
	assert_non_null(a);
	assert_int_equal(archive_read_free(a), ARCHIVE_OK);
	assert_table_full(&dl_archive);
	assert_true(mapped(DL_ARCHIVE_SONAME));
}

static void test_nft_loads(void **state)
{
	struct err err = {0};
	struct nft_ctx *ctx;

	assert_int_equal(dl_load(&dl_nft, &err), 0);
	assert_table_full(&dl_nft);
	ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	assert_non_null(ctx);
	nft_ctx_free(ctx);
}

static void test_gnutls_mhd_load(void **state)
{
	struct err err = {0};
	uint8_t d[32];

	assert_int_equal(dl_load(&dl_gnutls, &err), 0);
	assert_table_full(&dl_gnutls);
	assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA256, "abc", 3, d), 0);
	assert_int_equal(d[0], 0xba); /* sha256("abc") = ba7816bf... */
	assert_int_equal(d[31], 0xad);
	assert_non_null(gnutls_free); /* a variable, reached through its address */
	assert_int_equal(dl_load(&dl_mhd, &err), 0);
	assert_table_full(&dl_mhd);
	struct MHD_Response *r = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
	assert_non_null(r);
	assert_int_equal(MHD_add_response_header(r, "X-Coop", "1"), MHD_YES);
	MHD_destroy_response(r);
}

/* The point of it all: none of these is linked, so a process that never uses them never
 * maps them. Runs first, before the tests above load them. GnuTLS and libmicrohttpd stay
 * in LDLIBS under --as-needed: this fails if a direct call to one of them (a name not in
 * its base/dl_LIB.h list) links it back in. */
static void test_not_linked(void **state)
{
	assert_false(mapped(DL_CURL_SONAME));
	assert_false(mapped(DL_ARCHIVE_SONAME));
	assert_false(mapped(DL_NFT_SONAME));
	assert_false(mapped(DL_BPF_SONAME));
	assert_false(mapped("libelf.so.1")); /* comes in through libbpf */
	assert_false(mapped(DL_GNUTLS_SONAME));
	assert_false(mapped(DL_MHD_SONAME));
	assert_false(mapped("libcrypto.so.3")); /* came in through libcurl's libssh2 */
	assert_false(mapped("libxml2.so.2"));   /* came in through libarchive */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_not_linked),
	    cmocka_unit_test(test_missing_library),
	    cmocka_unit_test(test_missing_symbol),
	    cmocka_unit_test(test_init_failure),
	    cmocka_unit_test(test_first_call_loads),
	    cmocka_unit_test(test_curl_loads),
	    cmocka_unit_test(test_nft_loads),
	    cmocka_unit_test(test_gnutls_mhd_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
