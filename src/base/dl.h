/* dl: libraries loaded on first use instead of at every start.
 * coop is one binary that is the CLI, the daemon, the monitor and the runtime; most starts
 * need neither pulls (libcurl) nor archives (libarchive) nor nft rules (libnftables), and
 * linking them costs every start ~10 ms and the idle daemon ~6 MiB of library pages. Each
 * such library has a header, base/dl_LIB.h, that includes the library's own header, lists
 * the functions coop calls (an X-macro), and redirects those names to a table of pointers
 * that dlopen/dlsym fill on first use. Code calls the library as usual. */
#ifndef COOP_BASE_DL_H
#define COOP_BASE_DL_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct dl_lib {
	const char *name;    /* "libcurl" */
	const char *soname;  /* what dlopen opens: "libcurl-gnutls.so.4" */
	const char *package; /* the Debian package that ships it: "libcurl3-gnutls" */
	const char *const *syms;
	void **fns; /* n slots, filled in syms' order */
	size_t n;
	/* Optional, run once after every symbol resolved (e.g. curl_global_init); through the
	 * table, as the names are not redirected in the file that defines it. */
	int (*init)(struct err *err);
	int ready;   /* 1 once loaded and initialised (atomic) */
	int failed;  /* a negative errno once a load failed; kept, so later uses fail the same */
	char error[ERR_MSG_MAX];
};

/* Loads lib if it is not loaded yet; safe from any thread. A missing library or symbol is
 * one line naming the library, its file and the Debian package to install. */
int dl_load(struct dl_lib *lib, struct err *err);
/* dl_load for a call site reached before its module loaded the library: a missing library
 * there is a bug in coop (every entry point calls dl_load first), so this aborts with the
 * same line rather than calling a NULL pointer. */
void dl_need(struct dl_lib *lib);

/* For the per-library headers. DL_CALLS is how a redirected name reaches the table. */
#define DL_MEMBER(f) __typeof__(f) *f;
#define DL_NAME(f) #f,
#define DL_STR_(x) #x
#define DL_STR(x) DL_STR_(x)
/* Every listed name must be redirected: a redirected name expands to something longer. */
#define DL_CHECK(f) _Static_assert(sizeof(DL_STR(f)) > sizeof(#f), "base/dl: " #f " is listed but not redirected");
#define DL_CALLS(lib)                                                    \
	(*(__builtin_expect(__atomic_load_n(&dl_##lib.ready, __ATOMIC_ACQUIRE), 1) \
		   ? &dl_##lib##_fns                                      \
		   : (dl_need(&dl_##lib), &dl_##lib##_fns)))

#endif
