/* dl_nft: libnftables, loaded on first use (see base/dl.h): port publishing, VPC isolation
 * and the overlay's rules. Include this instead of <nftables/libnftables.h>; net_nft_run
 * calls dl_load(&dl_nft, err) first, for a clear error. */
#ifndef COOP_BASE_DL_NFT_H
#define COOP_BASE_DL_NFT_H

#include <nftables/libnftables.h>

#include "base/dl.h"

#define DL_NFT_SONAME "libnftables.so.1"
#define DL_NFT_PACKAGE "libnftables1"

/* The functions coop calls; adding a call to another one means adding it here. */
#define DL_NFT_FUNCS(X) \
	X(nft_ctx_buffer_error) X(nft_ctx_buffer_output) X(nft_ctx_free) \
	X(nft_ctx_get_error_buffer) X(nft_ctx_new) X(nft_run_cmd_from_buffer)

struct dl_nft_fns {
	DL_NFT_FUNCS(DL_MEMBER)
};
extern struct dl_lib dl_nft;
extern struct dl_nft_fns dl_nft_fns;

#ifndef DL_IMPL
#define nft_ctx_buffer_error (DL_CALLS(nft).nft_ctx_buffer_error)
#define nft_ctx_buffer_output (DL_CALLS(nft).nft_ctx_buffer_output)
#define nft_ctx_free (DL_CALLS(nft).nft_ctx_free)
#define nft_ctx_get_error_buffer (DL_CALLS(nft).nft_ctx_get_error_buffer)
#define nft_ctx_new (DL_CALLS(nft).nft_ctx_new)
#define nft_run_cmd_from_buffer (DL_CALLS(nft).nft_run_cmd_from_buffer)
DL_NFT_FUNCS(DL_CHECK)
#endif

#endif
