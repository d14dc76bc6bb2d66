/* session: one interactive exec — `coop-runtime exec` with a pty (-t: the runtime passes
 * the pty master over a console socket the session listens on) and/or with its stdin
 * fed (-i), relayed over an upgraded connection in frames (api/frame.h): stdin and
 * resizes in, output and finally the exit code out. Everything runs on the loop and
 * never blocks; the session frees itself once the process exited and the stream ended.
 *
 * Why not agent_container_exec: that one collects output for a request/reply exec with
 * no stdin; a session's streams are wired to a client for as long as it stays. */
#ifndef COOP_API_SESSION_H
#define COOP_API_SESSION_H

#include <stdbool.h>
#include <uv.h>

#include "api/server.h"
#include "base/err.h"

#define API_MAX_SESSIONS 64
#define API_SESSION_QUEUE_MAX (1u << 20) /* bytes queued one way before reading pauses */

struct api_session;
/* The sessions of one owner: for the limit, and to end them all when it stops. */
struct api_session_set {
	struct api_session *head;
	int n;
};
/* Ends every session of set: processes hung up (SIGHUP), streams closed (their clients
 * get no exit code), ready callbacks not yet called get an error. The sessions free
 * themselves later, on the loop. */
void api_session_set_close(struct api_session_set *set);

struct api_session_opts {
	const char *exe;      /* the coop binary */
	const char *rtroot;   /* the runtime's --root */
	const char *sock_dir; /* where the console socket is made (exists, 0700) */
	const char *id;       /* container id */
	char *const *argv, *const *env;
	const char *user, *cwd;
	bool tty, stdin;
	unsigned rows, cols; /* the pty's first size; 0 = leave it */
	struct api_session_set *set; /* the session belongs here while it exists */
};

/* Called once: err NULL when the process runs and waits for its stream
 * (api_session_attach must follow), else why it did not start (the session then frees
 * itself; do not touch it). */
typedef void (*api_session_ready_fn)(void *ctx, struct api_session *s, const struct err *err);

int api_session_start(uv_loop_t *loop, const struct api_session_opts *o,
		      api_session_ready_fn ready, void *ctx, struct err *err);
/* The upgraded stream (api_reply_upgrade's callback arguments); fd -1 means the client
 * went away: the process is hung up. */
void api_session_attach(struct api_session *s, int fd, const char *extra, size_t extra_len,
			struct api_upgrade *u);

/* ---- attach: POST /v1/containers/{ref}/attach, upgraded ----
 * A container with a terminal (run -t) has its pty master in its monitor, served on
 * containers/<id>/attach.sock in the same frames (agent/attach.h). The daemon only
 * bridges bytes between the client's upgraded stream and that socket, so a session
 * survives nothing of the daemon but the container survives the daemon: after a
 * restart, attach again. The bridges end with api_session_set_close (daemon stop). */
struct api_routes;
/* The route handler (routes.c's table): 409 when the container has no terminal or
 * runs no more, 400 without an upgrade. */
void api_attach_route(struct api_routes *rt, struct api_req *req, char **params);

#endif
