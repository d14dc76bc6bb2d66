/* agent: the node's container engine inside `coop daemon` — workloads (from .bun
 * specs or `coop run --image`) become replica containers; each container runs under its
 * own monitor process (`coop monitor`, the conmon role) that owns its logs and exit
 * status, so the daemon can die (kill -9) and come back without touching a running
 * container (live restore). Restart policies with exponential backoff, health checks
 * (http/tcp/exec) driving published-port backends, metrics from cgroups, events.
 *
 * Threading: everything here runs on the daemon's libuv loop thread. Slow work (image
 * pulls, unpacking, starting a container) happens in monitor processes or uv work
 * requests and never blocks the loop. When a function taking a callback returns an
 * error, the callback is never called.
 *
 * On disk (all paths under cfg->state_dir, default /var/lib/coop):
 *   workloads.json                 name -> spec (bun_to_json form) + generation, atomic
 *   containers/<id>/config.json    the container record (workload, replica, image, ip, ...)
 *   containers/<id>/bundle/        OCI bundle: config.json + rootfs (overlay mount point)
 *   containers/<id>/monitor.pid    the monitor's pid and start time
 *   containers/<id>/exit.json      written by the monitor when the container exits
 *   containers/<id>/log.json[.1..] JSON lines {"t":RFC3339Nano,"s":"stdout|stderr","l":...}
 *   events.jsonl                   the event log (bounded; rotated)
 */
#ifndef COOP_AGENT_AGENT_H
#define COOP_AGENT_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"

struct agent_config {
	const char *state_dir;   /* /var/lib/coop */
	const char *run_dir;     /* /run/coop (runtime state under run_dir/runtime) */
	const char *image_store; /* NULL = state_dir/images */
	const char *net_dir;     /* NULL = state_dir/net */
	const char *exe;         /* path of the coop binary (for monitors); NULL = /proc/self/exe */
	uint64_t log_max_bytes;  /* per file before rotation (default 10 MiB), 3 files kept */
};

struct agent;

/* An event: every change clients may react to (container and workload lifecycle,
 * health changes, image pulls). seq is monotonic across restarts. */
struct agent_event {
	uint64_t seq;
	const char *time;   /* RFC 3339 */
	const char *type;   /* "container", "workload", "image" */
	const char *action; /* "create", "start", "die", "health_status: healthy", "pull", ... */
	const char *id;     /* container id / workload name / image ref */
	json_t *attrs;      /* name, workload, exit code, ... (borrowed) */
};
typedef void (*agent_event_fn)(void *ctx, const struct agent_event *ev);

int agent_new(uv_loop_t *loop, const struct agent_config *cfg, struct agent **ret,
	      struct err *err);
/* Re-adopts what exists: workloads, containers whose monitors still run (their exit
 * is watched again), containers that exited while we were away (restart policy
 * applies). Idempotent; never duplicates a container. */
int agent_restore(struct agent *a, struct err *err);
void agent_set_event_cb(struct agent *a, agent_event_fn fn, void *ctx);
/* Events with seq > since from the log (for --since replays and resumed streams);
 * caller decrefs the array. */
int agent_events_since(struct agent *a, uint64_t since, json_t **ret, struct err *err);
/* Stops timers, leaves containers running. */
void agent_free(struct agent *a);

/* ---- workloads ---- */
/* Creates or updates a workload from its JSON spec (the bun_to_json shape; validated
 * here again: the API is a trust boundary). Replicas are started asynchronously;
 * *ret describes the workload (caller decrefs). -EEXIST when a workload of that name
 * exists and !replace. */
int agent_workload_apply(struct agent *a, json_t *spec, bool replace, json_t **ret,
			 struct err *err);
int agent_workload_remove(struct agent *a, const char *name, uint64_t timeout_ms,
			  struct err *err);
json_t *agent_workloads(struct agent *a);

/* ---- containers ---- */
/* Every container (all = include exited ones): id, name, workload, image, status
 * (created/running/exited/restarting), health, ip, ports, created, exit code. */
json_t *agent_containers(struct agent *a, bool all);
/* By id, unique id prefix or name; -ENOENT / -EINVAL (ambiguous) otherwise. */
int agent_container_get(struct agent *a, const char *ref, json_t **ret, struct err *err);
/* SIGTERM (or the image's StopSignal), SIGKILL after timeout; the restart policy does
 * not bring it back (it is "stopped by the user"). done(ctx, err) when it is down. */
typedef void (*agent_done_fn)(void *ctx, int status, const struct err *err);
int agent_container_stop(struct agent *a, const char *ref, uint64_t timeout_ms,
			 agent_done_fn done, void *ctx, struct err *err);
/* Removes a stopped container (force: stop it first): rootfs, network lease, records. */
int agent_container_remove(struct agent *a, const char *ref, bool force, agent_done_fn done,
			   void *ctx, struct err *err);
/* CPU % (since the previous sample), memory, pids, network rx/tx, block I/O. */
int agent_container_metrics(struct agent *a, const char *ref, json_t **ret, struct err *err);
/* The log files to read, oldest first, and whether the container still runs (logs -f
 * follows the newest file across rotation). */
int agent_container_logs(struct agent *a, const char *ref, char ***ret_files, bool *ret_running,
			 struct err *err);

/* exec: runs argv in the container (every namespace, its cgroup) in a child process;
 * output arrives through out(ctx, stream 1|2, data, len); done with the exit code. */
typedef void (*agent_output_fn)(void *ctx, int stream, const char *data, size_t len);
typedef void (*agent_exit_fn)(void *ctx, int exit_code, const struct err *err);
int agent_container_exec(struct agent *a, const char *ref, char *const *argv, char *const *env,
			 const char *user, const char *cwd, agent_output_fn out,
			 agent_exit_fn done, void *ctx, struct err *err);

/* Interactive exec (api/session.c runs `coop-runtime exec` and relays its pty or pipes):
 * the running container's id (*ret_id) and the runtime root it is in (*ret_rtroot), both
 * to free; EBUSY when the container is not running. */
int agent_container_exec_target(struct agent *a, const char *ref, char **ret_id, char **ret_rtroot,
				struct err *err);

/* ---- cluster mode (cluster/cluster.c drives these) ---- */
/* A task the cluster placed on this node: one replica of a workload, fenced by the
 * task's generation (a container of another generation is replaced). */
struct agent_task {
	const char *id; /* "<workload>.<replica>" */
	int replica;	/* 1-based */
	uint64_t generation;
};
/* This node runs exactly `tasks` of workload `name` with `spec` (the bun_to_json shape)
 * instead of replicas 1..min: containers of other replicas or generations are removed,
 * missing ones started (pulling the image first). n == 0 (spec may be NULL): none here;
 * the workload is forgotten on this node. Idempotent: the same call again changes
 * nothing. A workload assigned this way stays in cluster mode across restarts. */
int agent_workload_assign(struct agent *a, const char *name, json_t *spec,
			  const struct agent_task *tasks, size_t n, struct err *err);
/* Called whenever a task's container changes state (created, running, exited,
 * restarting, removed, health): task id and generation, and the container as
 * agent_containers shows it (borrowed; NULL when it was removed or could not be made,
 * then msg says why). */
typedef void (*agent_task_fn)(void *ctx, const char *task, uint64_t generation,
			      json_t *container, const char *msg);
void agent_set_task_cb(struct agent *a, agent_task_fn fn, void *ctx);

/* Cluster mode: makes this node's networking match `view`, which the cluster derives
 * from its model after every change (same view again: not called):
 *   {"node": "h1", "underlay": "10.250.0.1",
 *    "vpcs": [{"name", "cidr", "vni", "subnet": this node's subnet or null,
 *              "peers": [{"node", "underlay", "subnet"}]}],      (nodes not down)
 *    "services": [{"workload", "vpc", "ports": [spec ports],
 *                  "backends": [{"task", "node", "ip", "local", "healthy"}]}]}
 * Each VPC exists locally with this node's subnet and an overlay to the peers; each
 * service's host ports answer on this node and balance over its healthy backends
 * anywhere (the routing mesh). Idempotent; what is no longer in the view goes. */
int agent_net_sync(struct agent *a, json_t *view, struct err *err);

/* `coop monitor ID`: the monitor process's main (never returns). */
int agent_monitor_main(int argc, char **argv);

#endif
