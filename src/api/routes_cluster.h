/* routes_cluster: the /v1 routes of cluster mode — the cluster itself (status, CA, joins,
 * proposals and heartbeats between nodes), nodes, tasks, join tokens, and workloads as
 * the replicated model holds them. Reads come from this node's replica of the model
 * (cluster_model); writes become state/fsm.h commands through cluster_write, which
 * forwards them to the leader. routes.c's table calls these handlers only when the
 * daemon runs in a cluster (otherwise it answers 404 "not_clustered"). Loop thread. */
#ifndef COOP_API_ROUTES_CLUSTER_H
#define COOP_API_ROUTES_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/server.h"
#include "base/err.h"
#include "state/model.h"

struct cluster;

/* A handler: the cluster, the request, the path's {params}. */
typedef void (*api_cluster_fn)(struct cluster *c, struct api_req *req, char **p);

void api_cluster_get(struct cluster *c, struct api_req *req, char **p);		/* GET /v1/cluster */
void api_cluster_ca(struct cluster *c, struct api_req *req, char **p);		/* GET /v1/cluster/ca */
void api_cluster_join(struct cluster *c, struct api_req *req, char **p);	/* POST /v1/cluster/join */
void api_cluster_propose(struct cluster *c, struct api_req *req, char **p);	/* POST /v1/cluster/propose */
void api_cluster_heartbeat(struct cluster *c, struct api_req *req, char **p);	/* POST /v1/cluster/heartbeat */
void api_cluster_renew(struct cluster *c, struct api_req *req, char **p);	/* POST /v1/cluster/renew */
void api_cluster_nodes(struct cluster *c, struct api_req *req, char **p);	/* GET /v1/nodes */
void api_cluster_node(struct cluster *c, struct api_req *req, char **p);	/* GET /v1/nodes/{} */
void api_cluster_node_labels(struct cluster *c, struct api_req *req, char **p); /* POST .../labels */
void api_cluster_node_drain(struct cluster *c, struct api_req *req, char **p);	/* POST .../drain */
void api_cluster_node_activate(struct cluster *c, struct api_req *req, char **p); /* POST .../activate */
void api_cluster_node_rm(struct cluster *c, struct api_req *req, char **p);	/* DELETE /v1/nodes/{} */
void api_cluster_tasks(struct cluster *c, struct api_req *req, char **p);	/* GET /v1/tasks */
void api_cluster_token_join(struct cluster *c, struct api_req *req, char **p);	/* POST /v1/tokens/join */
void api_cluster_workloads(struct cluster *c, struct api_req *req, char **p);	/* GET /v1/workloads */
void api_cluster_workload_rm(struct cluster *c, struct api_req *req, char **p); /* DELETE /v1/workloads/{} */
/* GET /v1/watch[?since=SEQ][&follow=0][&filter=K=V,...]: the model's events
 * (model_event_json), one JSON line each, from seq > SEQ (without since: every event the
 * ring still holds), then live as they are applied — unless follow=0, which ends after
 * what is there. Filters as api_cluster_event_matches. When the events after SEQ have
 * fallen off the ring the only line is the stale error (api_cluster_watch_next) and the
 * stream ends. The stream is woken by the cluster after each applied entry (a
 * cluster_listener), not by polling. Watches count against API_CLUSTER_MAX_WATCHES. */
void api_cluster_watch(struct cluster *c, uv_loop_t *loop, struct api_req *req);
/* POST /v1/workloads: spec (borrowed) already a JSON object with a valid name; checked
 * as the single-node engine checks it (agent/spec.h), then proposed as workload.put
 * (create_only: "version":0, the name must be free). */
void api_cluster_workload_put(struct cluster *c, struct api_req *req, json_t *spec,
			      bool create_only);

/* The reply for a cluster_write outcome: 200 with the result; 409 "rejected" when the
 * state machine refused the command (result.code < 0); an error status for status < 0
 * (421 not the leader, 503 no leader reachable, otherwise by errno). */
void api_cluster_reply(struct api_req *req, int status, json_t *result, const struct err *err);

#define API_CLUSTER_MAX_WATCHES 256
#define API_WATCH_RETRY_MS 20 /* a watch held back by a slow client tries again */

/* ---- pure parts (tested without a cluster) ---- */

/* The next lines of a watch that has sent everything up to *after: the events with
 * seq > *after, at most max (0: all), as an array of model_event_json; *after moves to
 * the last one. When events after *after are gone from the ring: one line
 *   {"error":{"code":"stale","message"},"first":OLDEST_KEPT,"seq":NEWEST}
 * and *ret_stale (the watcher must list the objects again, then watch from "seq").
 * *after beyond the newest event (a client that saw a longer log) waits: no lines. */
json_t *api_cluster_watch_next(const struct model *m, uint64_t *after, size_t max,
			       bool *ret_stale);
/* Watch filters (GET /v1/watch?filter=K=V,K=V; coop events --filter): type, action,
 * name (the object's name or id), workload, node; all must match. -EINVAL for anything
 * else. */
int api_cluster_filter_check(const char *filter, struct err *err);
bool api_cluster_event_matches(json_t *ev, char *const *filters);
/* What an event is about: its object's name, or id, or "VPC/NODE" for a lease; "" when
 * none. Points into ev or buf. */
const char *api_cluster_event_name(json_t *ev, char *buf, size_t n);
/* The line `coop events` prints for a watch event:
 *   SEQ TIME TYPE ACTION NAME [(DETAILS)]
 * TIME from "ts" (UTC, ms), DETAILS by type: a task's node, observed state and message, a
 * node's state, a rejected command's op and error. Caller frees. */
char *api_cluster_event_text(json_t *ev);

/* Every node (model_node_json, sorted by name) with "tasks_running": its tasks whose
 * desired and observed states are both running. */
json_t *api_cluster_nodes_json(const struct model *m);
/* One node as above; NULL when there is none of that name. */
json_t *api_cluster_node_json(const struct model *m, const char *name);
/* Tasks (model_task_json) sorted by id; only workload's when it is not NULL. */
json_t *api_cluster_tasks_json(const struct model *m, const char *workload);
/* Workloads (model_workload_json) sorted by name, each with "tasks" (sorted by id) and
 * "running" (desired and observed running). */
json_t *api_cluster_workloads_json(const struct model *m);
/* POST /v1/nodes/{name}/labels {"set":{k:v},"remove":[k]} -> the node.label command;
 * -EINVAL (naming the field) for anything else. */
int api_cluster_label_cmd(const char *name, json_t *body, json_t **ret, struct err *err);
/* Identity: a node's certificate (CN cn) speaks for that node only — its heartbeats,
 * its registration, its task reports, its certificate records. A server's certificate
 * speaks for any node: servers forward other nodes' requests, and they hold the CA key
 * anyway. 0 when allowed; -EACCES naming both nodes otherwise. */
int api_cluster_speaks_for(const struct model *m, const char *cn, const char *name,
			   const char *what, struct err *err);
/* The same for a proposed command: node.register (name), task.status (every report's
 * node), cert.add (node); other commands are not on a node's own behalf. */
int api_cluster_cmd_identity(const struct model *m, const char *cn, json_t *cmd,
			     struct err *err);

#endif
