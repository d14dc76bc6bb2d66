/* dl_mhd: libmicrohttpd, loaded on first use (see base/dl.h): the API server (api/server.c)
 * only, so the CLI and the monitors do not load it (nor GnuTLS, which it needs).
 * api_server_start calls dl_load(&dl_mhd, err) first, for a clear error. */
#ifndef COOP_BASE_DL_MHD_H
#define COOP_BASE_DL_MHD_H

#include <microhttpd.h>

#include "base/dl.h"

#define DL_MHD_SONAME "libmicrohttpd.so.12"
#define DL_MHD_PACKAGE "libmicrohttpd12"

/* The functions coop calls; adding a call to another one means adding it here. */
#define DL_MHD_FUNCS(X) \
	X(MHD_add_response_header) X(MHD_create_response_for_upgrade) \
	X(MHD_create_response_from_buffer) X(MHD_create_response_from_callback) \
	X(MHD_destroy_response) X(MHD_get_connection_info) X(MHD_get_daemon_info) \
	X(MHD_get_timeout) X(MHD_lookup_connection_value) X(MHD_queue_response) \
	X(MHD_resume_connection) X(MHD_run) X(MHD_set_connection_option) X(MHD_start_daemon) \
	X(MHD_stop_daemon) X(MHD_suspend_connection) X(MHD_upgrade_action)

struct dl_mhd_fns {
	DL_MHD_FUNCS(DL_MEMBER)
};
extern struct dl_lib dl_mhd;
extern struct dl_mhd_fns dl_mhd_fns;

#ifndef DL_IMPL
#define MHD_add_response_header (DL_CALLS(mhd).MHD_add_response_header)
#define MHD_create_response_for_upgrade (DL_CALLS(mhd).MHD_create_response_for_upgrade)
#define MHD_create_response_from_buffer (DL_CALLS(mhd).MHD_create_response_from_buffer)
#define MHD_create_response_from_callback (DL_CALLS(mhd).MHD_create_response_from_callback)
#define MHD_destroy_response (DL_CALLS(mhd).MHD_destroy_response)
#define MHD_get_connection_info (DL_CALLS(mhd).MHD_get_connection_info)
#define MHD_get_daemon_info (DL_CALLS(mhd).MHD_get_daemon_info)
#define MHD_get_timeout (DL_CALLS(mhd).MHD_get_timeout)
#define MHD_lookup_connection_value (DL_CALLS(mhd).MHD_lookup_connection_value)
#define MHD_queue_response (DL_CALLS(mhd).MHD_queue_response)
#define MHD_resume_connection (DL_CALLS(mhd).MHD_resume_connection)
#define MHD_run (DL_CALLS(mhd).MHD_run)
#define MHD_set_connection_option (DL_CALLS(mhd).MHD_set_connection_option)
#define MHD_start_daemon (DL_CALLS(mhd).MHD_start_daemon)
#define MHD_stop_daemon (DL_CALLS(mhd).MHD_stop_daemon)
#define MHD_suspend_connection (DL_CALLS(mhd).MHD_suspend_connection)
#define MHD_upgrade_action (DL_CALLS(mhd).MHD_upgrade_action)
DL_MHD_FUNCS(DL_CHECK)
#endif

#endif
