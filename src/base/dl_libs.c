/* dl_libs: the table of each library loaded on first use (see base/dl.h), built from the
 * lists in the base/dl_LIB.h headers. Names are not redirected here (DL_IMPL). */
#define DL_IMPL
#include "base/dl_archive.h"
#include "base/dl_bpf.h"
#include "base/dl_curl.h"
#include "base/dl_gnutls.h"
#include "base/dl_mhd.h"
#include "base/dl_nft.h"

#include "base/util.h"

#define DL_TABLE(lib, up, what, init_fn)                                                  \
	static const char *const lib##_syms[] = {DL_##up##_FUNCS(DL_NAME)};               \
	struct dl_##lib##_fns dl_##lib##_fns;                                             \
	_Static_assert(sizeof(dl_##lib##_fns) == ARRAY_SIZE(lib##_syms) * sizeof(void *), \
		       "dl_" #lib "_fns: one pointer per name");                         \
	struct dl_lib dl_##lib = {                                                        \
	    .name = what,                                                                 \
	    .soname = DL_##up##_SONAME,                                                   \
	    .package = DL_##up##_PACKAGE,                                                 \
	    .syms = lib##_syms,                                                           \
	    .fns = (void **)&dl_##lib##_fns,                                              \
	    .n = ARRAY_SIZE(lib##_syms),                                                  \
	    .init = init_fn,                                                              \
	}

/* Once per process, before any other curl call: the table is published only after it. */
static int curl_init(struct err *err)
{
	CURLcode rc = dl_curl_fns.curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK)
		return err_msg(err, EIO, "libcurl: global init failed (code %d)", (int)rc);
	return 0;
}

DL_TABLE(archive, ARCHIVE, "libarchive", NULL);
DL_TABLE(bpf, BPF, "libbpf", NULL);
DL_TABLE(curl, CURL, "libcurl", curl_init);
DL_TABLE(gnutls, GNUTLS, "libgnutls", NULL);
DL_TABLE(mhd, MHD, "libmicrohttpd", NULL);
DL_TABLE(nft, NFT, "libnftables", NULL);
