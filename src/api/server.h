/* server: the daemon's HTTP/1.1 server — libmicrohttpd in external-epoll mode driven
 * from the daemon's one libuv loop (its epoll fd under a uv_poll, its timeout on a
 * uv_timer), on a unix socket created here (root only) and optionally on TCP with TLS.
 * It authenticates (auth.h: peer uid, cluster node certificate, access token), limits
 * bodies, and hands each complete request to a
 * dispatch function; replies may come at once or later (the connection is suspended
 * meanwhile), and streaming replies send JSON lines as they are produced.
 *
 * Everything runs on the loop thread. A request (struct api_req) lives until the
 * connection is done with it AND every api_req_hold() was released: code that replies
 * later holds it, and replying to a request whose client went away does nothing. */
#ifndef COOP_API_SERVER_H
#define COOP_API_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "api/auth.h"
#include "base/err.h"

#define API_BODY_MAX (1u << 20)
#define API_MAX_CONNECTIONS 512
#define API_HEARTBEAT_MS 15000 /* idle streams send "\n" so dead clients are noticed */

struct api_server;
struct api_req;

typedef void (*api_dispatch_fn)(void *ctx, struct api_req *req);

struct api_server_config {
	const char *unix_path;           /* created here, mode 0600 */
	const char *listen;              /* "ADDR:PORT" for TCP+TLS, or NULL */
	const char *tls_cert, *tls_key;  /* PEM files; required with listen */
	const char *tls_ca;              /* PEM file of the cluster CA, or NULL: TLS clients
					  * may then present a certificate it signed (role
					  * node); others fall back to access tokens */
	struct auth_store *tokens;       /* for TCP callers; borrowed */
	/* A node certificate that verified against tls_ca is still checked here (the
	 * cluster's revocation list): < 0 refuses the request, 403 with err's message. */
	int (*peer_check)(void *ctx, const char *cn, const char *serial, struct err *err);
	void *peer_ctx;
	api_dispatch_fn dispatch;
	void *ctx;
};

/* The routes TCP callers reach without any credentials: GET /v1/cluster/ca (the CA
 * certificate, which a joiner checks against its token's fingerprint) and POST
 * /v1/cluster/join (the join token in the body is the credential). Their handlers see
 * role AUTH_NONE unless the caller did authenticate. Pure. */
bool api_server_open_route(const char *method, const char *path);

/* Binds and starts serving. The unix socket must not exist (the daemon removes a
 * stale one after checking no daemon answers on it). */
int api_server_start(uv_loop_t *loop, const struct api_server_config *cfg,
		     struct api_server **ret, struct err *err);
/* Ends every stream, stops MHD, closes the handles and unlinks the socket; the server
 * is freed once the loop has closed its handles. */
void api_server_stop(struct api_server *s);
/* A renewed certificate for the TLS listener: handshakes from now on present it (open
 * connections keep theirs). */
int api_server_set_tls(struct api_server *s, const char *cert_pem, const char *key_pem,
		       struct err *err);

/* ---- the request ---- */
const char *api_req_method(const struct api_req *r);
const char *api_req_path(const struct api_req *r);
/* A query argument (URL-decoded), NULL when absent. */
const char *api_req_query(struct api_req *r, const char *key);
const char *api_req_header(struct api_req *r, const char *key);
const char *api_req_body(const struct api_req *r, size_t *ret_len);
enum auth_role api_req_role(const struct api_req *r);
/* The CN of the node certificate the request came with (role AUTH_NODE), else NULL. */
const char *api_req_peer_cn(const struct api_req *r);
/* Whether the request came over the unix socket (not TCP). */
bool api_req_local(const struct api_req *r);
/* Whether the client is still there to be answered. */
bool api_req_alive(const struct api_req *r);
struct api_req *api_req_hold(struct api_req *r);
void api_req_release(struct api_req *r);

/* ---- replies (each request gets exactly one; later ones are ignored) ---- */
/* Steals body. */
void api_reply_json(struct api_req *r, unsigned status, json_t *body);
/* {"error":{"code","message","field"}}; field may be NULL. */
void api_reply_error(struct api_req *r, unsigned status, const char *code, const char *field,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A streaming reply (chunked, application/x-ndjson): begin, write any number of
 * times, end. on_close(ctx) is called once when the client goes away or the stream
 * is ended, after which the producer must stop writing (writes are then ignored). */
typedef void (*api_close_fn)(void *ctx);
void api_stream_begin(struct api_req *r, unsigned status, api_close_fn on_close, void *ctx);
void api_stream_write(struct api_req *r, const char *data, size_t len);
/* One JSON value and a newline. */
void api_stream_json(struct api_req *r, json_t *v);
void api_stream_end(struct api_req *r);
/* Bytes written but not yet sent (producers slow down past a limit). */
size_t api_stream_pending(const struct api_req *r);

/* ---- upgraded connections: 101 Switching Protocols, "Upgrade: tcp" ----
 * The reply to a request that asked for it (api_req_wants_upgrade). Once the 101 is
 * sent, fn(ctx, fd, extra, extra_len, u) gets the raw byte stream: fd (for TLS, the
 * plain end of a socket pair the server encrypts for) and the bytes the client sent
 * early. The taker owns the stream from then on and ends it with api_upgrade_close(u),
 * which closes fd (the taker must not close it itself). If the client goes away before
 * the 101 is sent, fn is called with fd -1 and u NULL: fn is always called once. */
struct api_upgrade;
typedef void (*api_upgrade_fn)(void *ctx, int fd, const char *extra, size_t extra_len,
			       struct api_upgrade *u);
bool api_req_wants_upgrade(struct api_req *r);
void api_reply_upgrade(struct api_req *r, api_upgrade_fn fn, void *ctx);
void api_upgrade_close(struct api_upgrade *u);

#endif
