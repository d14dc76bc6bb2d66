/* client: the CLI's side of the API — libcurl over the daemon's unix socket (default
 * /run/coop/coop.sock or $COOP_SOCKET), or over HTTPS to --endpoint/$COOP_ENDPOINT with
 * an access token and secret key ($COOP_ACCESS_TOKEN, $COOP_SECRET_KEY) and an optional
 * CA (--ca, $COOP_CA). Error replies become one line: the server's message. Blocking:
 * the CLI has nothing else to do meanwhile. */
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
};

struct api_client;
int api_client_new(const struct api_client_opts *o, struct api_client **ret, struct err *err);
void api_client_free(struct api_client *c);
/* Where requests go, for messages ("/run/coop/coop.sock" or the endpoint URL). */
const char *api_client_target(const struct api_client *c);

/* One request: body (may be NULL) sent as JSON; a 2xx reply's JSON in *ret (optional;
 * caller decrefs). A non-2xx reply fails with its error message and an errno that
 * matches the status (404 -ENOENT, 409 -EEXIST, 401/403 -EACCES, 400/422 -EINVAL,
 * 413 -E2BIG, others -EIO). */
int api_call(struct api_client *c, const char *method, const char *path, json_t *body,
	     json_t **ret, struct err *err);

/* A streaming request: fn gets each JSON line as it arrives (blank heartbeat lines are
 * skipped); fn returning < 0 stops the stream (its value is returned). */
typedef int (*api_line_fn)(void *ctx, json_t *line);
int api_stream(struct api_client *c, const char *method, const char *path, json_t *body,
	       api_line_fn fn, void *ctx, struct err *err);

/* The error a non-2xx reply stands for (pure): {"error":{"message"}} gives the message;
 * another body, "HTTP <status>: <first line of the body>". Returns the negative errno. */
int api_error_from_reply(long status, const char *body, size_t len, struct err *err);
/* "a b/c" -> "a%20b%2Fc" for a path segment or query value; caller frees. */
char *api_escape(const char *s);

#endif
