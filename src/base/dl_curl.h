/* dl_curl: libcurl, loaded on first use (see base/dl.h): registry pulls, and the API
 * client (the CLI, and a daemon calling its peers). Include this instead of <curl/curl.h>;
 * callers' entry points call dl_load(&dl_curl, err) first, for a clear error. */
#ifndef COOP_BASE_DL_CURL_H
#define COOP_BASE_DL_CURL_H

#include <curl/curl.h>

#include "base/dl.h"

#define DL_CURL_SONAME "libcurl-gnutls.so.4"
#define DL_CURL_PACKAGE "libcurl3-gnutls"

/* The functions coop calls; adding a call to another one means adding it here. */
#define DL_CURL_FUNCS(X)                                                                        \
	X(curl_global_init) X(curl_free) X(curl_slist_append) X(curl_slist_free_all)           \
	X(curl_easy_init) X(curl_easy_setopt) X(curl_easy_perform) X(curl_easy_cleanup)         \
	X(curl_easy_getinfo) X(curl_easy_reset) X(curl_easy_strerror) X(curl_easy_escape)       \
	X(curl_easy_send) X(curl_easy_recv)                                                     \
	X(curl_multi_init) X(curl_multi_setopt) X(curl_multi_add_handle)                        \
	X(curl_multi_remove_handle) X(curl_multi_perform) X(curl_multi_poll)                    \
	X(curl_multi_info_read) X(curl_multi_cleanup)

struct dl_curl_fns {
	DL_CURL_FUNCS(DL_MEMBER)
};
extern struct dl_lib dl_curl;
extern struct dl_curl_fns dl_curl_fns;

#ifndef DL_IMPL
/* curl.h's type-checking wrappers are macros of these names; the table is typed instead. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init (DL_CALLS(curl).curl_global_init)
#define curl_free (DL_CALLS(curl).curl_free)
#define curl_slist_append (DL_CALLS(curl).curl_slist_append)
#define curl_slist_free_all (DL_CALLS(curl).curl_slist_free_all)
#define curl_easy_init (DL_CALLS(curl).curl_easy_init)
#define curl_easy_setopt (DL_CALLS(curl).curl_easy_setopt)
#define curl_easy_perform (DL_CALLS(curl).curl_easy_perform)
#define curl_easy_cleanup (DL_CALLS(curl).curl_easy_cleanup)
#define curl_easy_getinfo (DL_CALLS(curl).curl_easy_getinfo)
#define curl_easy_reset (DL_CALLS(curl).curl_easy_reset)
#define curl_easy_strerror (DL_CALLS(curl).curl_easy_strerror)
#define curl_easy_escape (DL_CALLS(curl).curl_easy_escape)
#define curl_easy_send (DL_CALLS(curl).curl_easy_send)
#define curl_easy_recv (DL_CALLS(curl).curl_easy_recv)
#define curl_multi_init (DL_CALLS(curl).curl_multi_init)
#define curl_multi_setopt (DL_CALLS(curl).curl_multi_setopt)
#define curl_multi_add_handle (DL_CALLS(curl).curl_multi_add_handle)
#define curl_multi_remove_handle (DL_CALLS(curl).curl_multi_remove_handle)
#define curl_multi_perform (DL_CALLS(curl).curl_multi_perform)
#define curl_multi_poll (DL_CALLS(curl).curl_multi_poll)
#define curl_multi_info_read (DL_CALLS(curl).curl_multi_info_read)
#define curl_multi_cleanup (DL_CALLS(curl).curl_multi_cleanup)
DL_CURL_FUNCS(DL_CHECK)
#endif

#endif
