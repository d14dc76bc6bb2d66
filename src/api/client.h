/* client: the CLI's side of the API — libcurl over the daemon's unix socket (default
 * /run/coop/coop.sock or $COOP_SOCKET), or over HTTPS to --endpoint/$COOP_ENDPOINT with
 * an access token and secret key ($COOP_ACCESS_TOKEN, $COOP_SECRET_KEY) and an optional
 * CA (--ca, $COOP_CA) — or with a cluster node's certificate and key instead of a token
 * (what cluster nodes use to talk to each other). Error replies become one line: the
 * server's message. Blocking: the CLI has nothing else to do meanwhile; the daemon calls
 * it from uv worker threads.
 *
 * Threads: a client belongs to one thread at a time; different clients may be used
 * from different threads at once (each transfer has its own curl handle, and nothing
 * here is global but libcurl's one-time initialisation, done under pthread_once). */
#ifndef COOP_API_CLIENT_H
#define COOP_API_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define API_SOCKET_DEFAULT "/run/coop/coop.sock"
#define API_CLIENT_MAX_REPLY (64u << 20)

struct api_client_opts {
	const char *socket;   /* NULL = $COOP_SOCKET or the default */
	const char *endpoint; /* NULL = $COOP_ENDPOINT or the socket */
	const char *access_token, *secret_key, *ca; /* NULL = the environment */
	/* A client certificate and its key (PEM files), presented on https endpoints: a
	 * node certificate signed by the cluster CA authenticates without a token (the
	 * environment's token is then not read). Not read from the environment. */
	const char *cert, *key;
	/* Skip the server's certificate check. ONLY to fetch GET /v1/cluster/ca, whose
	 * fingerprint the caller then checks against its join token. */
	bool insecure;
	/* No credentials at all: only the open routes answer (GET /v1/cluster/ca, POST
	 * /v1/cluster/join). Otherwise an endpoint needs a token or a certificate. */
	bool anonymous;
	/* Whole-request time limit for api_call (0: none); the connect limit is 10 s or
	 * this, whichever is shorter. Nodes calling each other set it. */
	long timeout_ms;
	/* Keep one connection (and its TLS session) open across calls on this client, as
	 * nodes do for their heartbeats. Such a client is used by one thread at a time. */
	bool keepalive;
};

struct api_client;
int api_client_new(const struct api_client_opts *o, struct api_client **ret, struct err *err);
void api_client_free(struct api_client *c);
/* Where requests go, for messages ("/run/coop/coop.sock" or the endpoint URL). */
const char *api_client_target(const struct api_client *c);

/* One request: body (may be NULL) sent as JSON; a 2xx reply's JSON in *ret (optional;
 * caller decrefs). A non-2xx reply fails with its error message and an errno that
 * matches the status (404 -ENOENT, 409 -EEXIST, 401/403 -EACCES, 400/422 -EINVAL,
 * 413 -E2BIG, 421 -EREMOTE (not the cluster's leader: the message names it), 503
 * -EAGAIN, others -EIO). */
int api_call(struct api_client *c, const char *method, const char *path, json_t *body,
	     json_t **ret, struct err *err);

/* A streaming request: fn gets each JSON line as it arrives (blank heartbeat lines are
 * skipped); fn returning < 0 stops the stream (its value is returned). */
typedef int (*api_line_fn)(void *ctx, json_t *line);
int api_stream(struct api_client *c, const char *method, const char *path, json_t *body,
	       api_line_fn fn, void *ctx, struct err *err);

/* An upgraded request (interactive exec, docs/api.md): sends body with "Connection:
 * Upgrade" and "Upgrade: tcp" over the same transport as api_call (unix socket, or TLS
 * with the token); a 101 reply gives a raw two-way byte stream, any other reply fails
 * as api_call does. */
struct api_conn;
int api_upgrade(struct api_client *c, const char *method, const char *path, json_t *body,
		struct api_conn **ret, struct err *err);
/* The socket to poll; after it polls readable, call api_conn_recv until -EAGAIN (TLS
 * may hold decrypted bytes the socket no longer shows). */
int api_conn_fd(struct api_conn *k);
/* Up to len bytes into buf: 0 with *ret_n > 0, 0 with *ret_n == 0 at the end of the
 * stream, -EAGAIN when nothing is there yet. */
int api_conn_recv(struct api_conn *k, void *buf, size_t len, size_t *ret_n, struct err *err);
/* Some of p (at least one byte unless -EAGAIN): *ret_n says how much. */
int api_conn_send(struct api_conn *k, const void *p, size_t len, size_t *ret_n, struct err *err);
void api_conn_free(struct api_conn *k);

/* The error a non-2xx reply stands for (pure): {"error":{"message"}} gives the message;
 * another body, "HTTP <status>: <first line of the body>". Returns the negative errno. */
int api_error_from_reply(long status, const char *body, size_t len, struct err *err);
/* "a b/c" -> "a%20b%2Fc" for a path segment or query value; caller frees. */
char *api_escape(const char *s);

#endif
