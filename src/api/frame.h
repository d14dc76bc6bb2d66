/* frame: the framing of an upgraded exec/attach connection (docs/api.md, "Interactive
 * exec"). Both directions carry frames with Docker's 8-byte stdcopy header — the frame
 * type, three zero bytes, the payload length big-endian — so one byte stream carries
 * stdin, stdout, stderr, resizes, stdin's end and the exit status. Pure: no I/O. */
#ifndef COOP_API_FRAME_H
#define COOP_API_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define API_FRAME_HDR 8
#define API_FRAME_MAX (64u * 1024) /* payload; a larger frame is a protocol error */

enum api_frame_type {
	API_FRAME_STDIN = 0,  /* client -> daemon: bytes for the process's stdin / pty */
	API_FRAME_STDOUT = 1, /* daemon -> client (a tty's output is all stdout) */
	API_FRAME_STDERR = 2, /* daemon -> client */
	API_FRAME_EXIT = 3,   /* daemon -> client, last: JSON {"exit":N[,"error":"..."]} */
	API_FRAME_RESIZE = 4, /* client -> daemon: rows, cols as two big-endian uint16 */
	API_FRAME_CLOSE = 5,  /* client -> daemon: stdin ended (empty payload) */
};

/* Writes the header for a frame of type and len payload bytes into hdr. */
void api_frame_header(uint8_t hdr[API_FRAME_HDR], enum api_frame_type type, size_t len);
/* A resize frame, header and payload. */
void api_frame_resize(uint8_t out[API_FRAME_HDR + 4], unsigned rows, unsigned cols);
/* The payload of a resize frame -> rows, cols: -EINVAL unless 4 bytes, both non-zero. */
int api_frame_resize_parse(const uint8_t *p, size_t len, unsigned *ret_rows,
			   unsigned *ret_cols);

/* Incremental decoder: feed bytes as they arrive; each complete frame goes to fn.
 * fn returning < 0 stops decoding with that value. */
typedef int (*api_frame_fn)(void *ctx, enum api_frame_type type, const uint8_t *p,
			    size_t len);
struct api_frame_dec {
	uint8_t hdr[API_FRAME_HDR];
	size_t hdr_len;
	uint8_t *buf; /* the payload being gathered */
	size_t want, have;
	bool in_payload;
};
/* -EPROTO (with a message) on a bad header: unknown type, non-zero padding, too long. */
int api_frame_feed(struct api_frame_dec *d, const void *data, size_t len, api_frame_fn fn,
		   void *ctx, struct err *err);
void api_frame_dec_free(struct api_frame_dec *d);

#endif
