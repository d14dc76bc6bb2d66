/* priv: the agent's in-memory model, shared by agent.c (workloads, reconcile, events),
 * container.c (records, monitors, restarts, stop/remove/exec), health.c and metrics.c.
 * Everything here runs on the loop thread. */
#ifndef COOP_AGENT_PRIV_H
#define COOP_AGENT_PRIV_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/dns.h"
#include "agent/events.h"
#include "agent/metrics.h"
#include "agent/net.h"
#include "agent/record.h"

#define AG_MAX_CONTAINERS 4096 /* per node: every resource a user can create has a limit */

enum ag_state { AG_CREATED, AG_RUNNING, AG_EXITED, AG_RESTARTING };

struct ag_waiter {
	agent_done_fn done;
	void *ctx;
	struct ag_waiter *next;
};

struct ag_health;

struct ag_container {
	struct agent *a;
	char id[13];
	char *name, *workload;
	int replica;
	char *dir;
	json_t *rec; /* containers/<id>/config.json */
	enum ag_state state;
	pid_t mon_pid, init_pid;
	int pidfd;
	uv_poll_t *poll;
	uv_timer_t *timer;   /* restart backoff, or the stop timeout */
	uint64_t started_ms; /* monotonic, for the backoff reset */
	char started_at[AG_TIME_MAX];
	unsigned attempts;
	bool user_stopped;   /* stop asked for: no policy brings it back */
	bool force_restart;  /* unhealthy: comes back whatever the policy */
	bool removing;
	bool has_exit;
	bool died; /* the process is over, its monitor still cleaning up (exited_early) */
	struct ag_exit exit;
	struct ag_waiter *waiters; /* called when the monitor is gone */
	struct ag_health *health;
	char *health_status; /* NULL (no check), "starting", "healthy", "unhealthy" */
	struct ag_metrics_sample prev;
	struct ag_container *next;
};

/* A task the cluster placed here (agent_task, owned). */
struct ag_task {
	char *id;
	int replica;
	uint64_t generation;
};

struct ag_workload {
	char *name;
	json_t *spec;
	uint64_t generation;
	char *image_ref; /* resolved in the store, NULL until pulled */
	bool pulling;
	char *pull_error;
	bool assigned;         /* cluster mode: runs its tasks, not replicas 1..min */
	struct ag_task *tasks; /* sorted by replica, distinct replicas */
	size_t n_tasks;
	struct ag_workload *next;
};

struct sync_read;
struct ag_spare;

struct agent {
	uv_loop_t *loop;
	char *state_dir, *run_dir, *rtroot, *image_store, *net_dir, *exe;
	uint64_t log_max;
	struct ag_container *containers;
	size_t n_containers;
	struct ag_workload *workloads;
	struct ag_dns *dns; /* the node's resolver (dns.c) */
	struct ag_events events;
	agent_event_fn event_fn;
	void *event_ctx;
	agent_task_fn task_fn;
	void *task_ctx;
	struct ag_spare *spare; /* a monitor started ahead (container.c) */
	struct sync_read *syncs; /* monitors' sync pipes being read (container.c) */
	uv_timer_t *spare_timer;
	uint64_t spare_last_ms;
};

/* agent.c */
void ag_emit(struct agent *a, const char *type, const char *action, const char *id,
	     json_t *attrs /* stolen, may be NULL */);
struct ag_workload *ag_workload_find(struct agent *a, const char *name);
void ag_reconcile(struct agent *a, struct ag_workload *w);
/* The one door to the task callback (a no-op without one, or without a task):
 * container is borrowed, NULL when the task's container is gone or was not made. */
void ag_task_notify(struct agent *a, const char *task, uint64_t gen, json_t *container,
		    const char *msg);
/* w's task for replica, NULL when it has none (or is not in cluster mode). */
const struct ag_task *ag_task_find(const struct ag_workload *w, int replica);
/* Calls done(ctx, status, err) from the loop, soon (never from inside the caller). */
void ag_defer(struct agent *a, agent_done_fn done, void *ctx, int status, const struct err *err);

/* container.c */
int ag_container_new(struct agent *a, struct ag_workload *w, int replica, const char *name,
		     struct ag_container **ret, struct err *err);
int ag_container_spawn(struct ag_container *c, struct err *err);
/* Lets the spare monitor go and stops its timer (the agent's end). */
void ag_spare_free(struct agent *a);
/* Removes the tree at path on a worker thread (synchronously if none can be queued). */
void ag_rm_later(struct agent *a, const char *path);
/* Stops the container (SIGTERM, SIGKILL after timeout_ms); user: by the user (no
 * restart); done (may be NULL) when the monitor is gone. */
int ag_container_stop(struct ag_container *c, uint64_t timeout_ms, bool user, agent_done_fn done,
		      void *ctx, struct err *err);
/* Stops (if needed) and removes; done (may be NULL) when it is gone. */
/* Stops (SIGTERM, SIGKILL after timeout_ms; 0 = at once) and removes c. */
void ag_container_destroy(struct ag_container *c, uint64_t timeout_ms, agent_done_fn done,
			  void *ctx);
#define AG_STOP_TIMEOUT_MS 10000 /* Docker's default grace before SIGKILL */
int ag_container_save(struct ag_container *c, struct err *err);
/* Whether a spec's resources.disk can be enforced on this node (image/disk.h's probe
 * of the containers directory); 0 when the spec sets none. */
int ag_disk_check(struct agent *a, json_t *spec, struct err *err);
struct ag_container *ag_container_find(struct agent *a, const char *ref, struct err *err);
json_t *ag_container_json(struct ag_container *c);
/* Tells the task callback about c, when c runs a task: its JSON, or NULL when gone
 * (then msg says why; msg may also come with a live container, e.g. a failed restart). */
void ag_container_report(struct ag_container *c, bool gone, const char *msg);
/* Loads containers/<id> and re-adopts it; -EEXIST when already known. */
int ag_container_restore(struct agent *a, const char *id, struct err *err);
void ag_container_free_all(struct agent *a);
/* Sets c's place in its workload's published ports (logged, not returned: the
 * container runs either way). */
void ag_container_backend(struct ag_container *c, enum ag_backend state);
int ag_exec_spawn(struct ag_container *c, char *const *argv, char *const *env, const char *user,
		  const char *cwd, uint64_t timeout_ms, agent_output_fn out, agent_exit_fn done,
		  void *ctx, struct err *err);

/* health.c */
void ag_health_start(struct ag_container *c);
void ag_health_stop(struct ag_container *c);

#endif
