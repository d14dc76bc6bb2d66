/* routes: the /v1 API — a table of (method, path pattern, handler) — and the request
 * decoders that turn JSON bodies into validated requests. Handlers call the container
 * engine through struct api_engine, a table of the agent.h functions (bound to the real
 * agent by `coop daemon`; unit tests bind a fake), so routing and validation are
 * tested in-process. Every error is {"error":{"code","message","field"}}.
 *
 * In cluster mode (config.cluster set) the cluster's routes answer (api/routes_cluster.h)
 * and workloads are the replicated model's; without a cluster those routes answer 404
 * with code "not_clustered" and everything works on this node alone. Containers (and
 * their logs, exec, metrics) are always this node's. A GET with ?consistent=1 in cluster
 * mode first waits for a linearizable read point (cluster_barrier). */
#ifndef COOP_API_ROUTES_H
#define COOP_API_ROUTES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent/agent.h"
#include "api/auth.h"
#include "api/server.h"
#include "base/err.h"

#define API_VERSION "v1"
#define API_NAME_MAX 63
#define API_MAX_PARAMS 2
#define API_MAX_ARGV 1024
#define API_LOG_TAIL_MAX 100000
#define API_STREAM_MAX_PENDING (4u << 20) /* a stream whose client reads no more is cut */
#define API_MAX_STREAMS 256

/* The agent.h functions the API uses, so tests can put a fake behind the routes. */
struct api_engine {
	int (*restore)(struct agent *a, struct err *err);
	void (*set_event_cb)(struct agent *a, agent_event_fn fn, void *ctx);
	int (*events_since)(struct agent *a, uint64_t since, json_t **ret, struct err *err);
	int (*workload_apply)(struct agent *a, json_t *spec, bool replace, json_t **ret,
			      struct err *err);
	int (*workload_remove)(struct agent *a, const char *name, uint64_t timeout_ms,
			       struct err *err);
	json_t *(*workloads)(struct agent *a);
	json_t *(*containers)(struct agent *a, bool all);
	int (*container_get)(struct agent *a, const char *ref, json_t **ret, struct err *err);
	int (*container_stop)(struct agent *a, const char *ref, uint64_t timeout_ms,
			      agent_done_fn done, void *ctx, struct err *err);
	int (*container_remove)(struct agent *a, const char *ref, bool force, agent_done_fn done,
				void *ctx, struct err *err);
	int (*container_metrics)(struct agent *a, const char *ref, json_t **ret, struct err *err);
	int (*container_logs)(struct agent *a, const char *ref, char ***ret_files,
			      bool *ret_running, struct err *err);
	int (*container_exec)(struct agent *a, const char *ref, char *const *argv,
			      char *const *env, const char *user, const char *cwd,
			      agent_output_fn out, agent_exit_fn done, void *ctx, struct err *err);
	int (*container_exec_target)(struct agent *a, const char *ref, char **ret_id,
				     char **ret_rtroot, struct err *err);
};

struct cluster;

struct api_routes_config {
	uv_loop_t *loop;
	struct cluster *cluster; /* NULL: single-node mode */
	const struct api_engine *engine;
	struct agent *agent;
	struct auth_store *tokens;
	const char *image_store; /* the agent's image store (pulls, lists, removals) */
	const char *version;
	const char *state_dir, *run_dir;
};

struct api_routes;
int api_routes_new(const struct api_routes_config *cfg, struct api_routes **ret,
		   struct err *err);
/* Ends streams (clients see the end), forgets subscriptions. */
void api_routes_free(struct api_routes *rt);
/* The configuration the routes were made with (handlers in other files read it). */
const struct api_routes_config *api_routes_config(const struct api_routes *rt);
/* The server's dispatch function (ctx = the routes). */
void api_routes_dispatch(void *ctx, struct api_req *req);

/* ---- pure parts (tested and fuzzed alone) ---- */

/* Finds the route for method and path: 0 and the route index with its {params}
 * copied into params[] (caller frees); -ENOENT (404) when no pattern matches the path,
 * -EOPNOTSUPP (405) when one does but not for this method. */
int api_route_match(const char *method, const char *path, int *ret_index,
		    char *params[API_MAX_PARAMS]);
/* The HTTP status and error code for a negative errno. */
unsigned api_status_for(int r, const char **ret_code);
/* The field an error message starts with ("ports[1].container_port: ..." ->
 * "ports[1].container_port"), or NULL; caller frees. */
char *api_error_field(const char *msg);
bool api_name_valid(const char *s);

/* POST /v1/containers — `coop run --image`. */
struct api_run_req {
	char *image, *name, *vpc, *user, *workdir;
	char **env, **command;
	char **volumes;           /* "SRC:DST[:ro]" */
	char **ports;             /* "HOST:CONTAINER[/udp]" */
	int64_t memory;           /* bytes, -1 unset */
	double cpus;              /* 0 unset */
	int64_t disk;             /* bytes of the writable layer, 0 unset */
	bool rm;
	bool tty, stdin, init;    /* a terminal (stdin: open), a minimal init as PID 1 */
	char *stop_signal;        /* NULL: the image's */
};
/* Body text -> request; errors name the field (ret_field: caller frees, may be NULL
 * when the body is not JSON at all). -EBADMSG malformed JSON, -EINVAL invalid. */
int api_run_decode(const char *body, size_t len, struct api_run_req *ret, char **ret_field,
		   struct err *err);
void api_run_req_free(struct api_run_req *r);
/* The workload the request becomes: named after the container, 1 replica, restart
 * "no", label coop.rm when --rm. It runs on this node, in a cluster too (as `docker
 * run` on a Swarm node: a standalone container, not one the scheduler places). */
int api_run_to_spec(const struct api_run_req *r, json_t **ret, char **ret_field,
		    struct err *err);

/* POST /v1/containers/{ref}/exec */
struct api_exec_req {
	char **argv, **env;
	char *user, *cwd;
	bool tty, stdin;     /* either: an interactive session over an upgraded stream */
	unsigned rows, cols; /* the pty's first size (tty only; 0 = unset) */
};
int api_exec_decode(const char *body, size_t len, struct api_exec_req *ret, char **ret_field,
		    struct err *err);
void api_exec_req_free(struct api_exec_req *r);

/* A JSON object body (POST /v1/workloads, /v1/images, /v1/tokens). */
int api_body_object(const char *body, size_t len, json_t **ret, struct err *err);

/* Events filters: "type=container", "action=die", "id=...", "name=..."; several
 * filters must all match. -EINVAL for an unknown key. */
int api_filter_check(const char *filter, struct err *err);
bool api_event_matches(json_t *ev, char *const *filters);

#endif
