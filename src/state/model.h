/* model: the cluster's objects as the replicated state machine holds them — nodes,
 * workloads, tasks (one per replica, fenced by a generation), VPCs with per-node subnet
 * leases, join tokens, the event ring and the recent client request ids. Every object
 * carries `version`, the Raft index that last changed it. Pure data: no I/O, no clock,
 * no randomness, so every replica that applies the same log holds the same model.
 * Objects are indexed by name in hash maps (base/hmap.h); each map's key points into its
 * object. Only state/fsm.c mutates a model; everybody else reads it. */
#ifndef COOP_STATE_MODEL_H
#define COOP_STATE_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/hmap.h"

/* limits: every object a user can create has one */
#define MODEL_MAX_NODES 10000
#define MODEL_MAX_WORKLOADS 10000
#define MODEL_MAX_TASKS 1000000
#define MODEL_MAX_REPLICAS 100000 /* per workload */
#define MODEL_MAX_VPCS 1024
#define MODEL_MAX_TOKENS 1024
#define MODEL_MAX_CERTS 40000 /* node certificates known (issued or revoked, unexpired) */
#define MODEL_MAX_LABELS 64
#define MODEL_NAME_MAX 63
#define MODEL_EVENTS 8192 /* the event ring: watchers further behind must re-list */
#define MODEL_RECENT 4096 /* client request ids remembered for idempotent retries */
#define MODEL_RESULT_MSG 200

enum model_role { MODEL_ROLE_SERVER, MODEL_ROLE_AGENT };
enum model_node_state { MODEL_NODE_READY, MODEL_NODE_DOWN, MODEL_NODE_DRAINING };
enum model_desired { MODEL_DESIRED_RUNNING, MODEL_DESIRED_STOPPED };
/* what the node's agent last reported; ASSIGNED until it reports at all */
enum model_observed {
	MODEL_OBS_ASSIGNED,
	MODEL_OBS_PREPARING,
	MODEL_OBS_STARTING,
	MODEL_OBS_RUNNING,
	MODEL_OBS_FAILED,
	MODEL_OBS_EXITED,
	MODEL_OBS_STOPPED,
};

/* CPU in millicores, memory in bytes; 0 = none requested / capacity unknown */
struct model_res {
	int64_t cpu_milli;
	int64_t memory;
};

struct model_node {
	char *name, *address;
	enum model_role role;
	enum model_node_state state;
	json_t *labels; /* object of strings; replaced, never changed in place (events share it) */
	struct model_res capacity;
	struct model_res allocated; /* sum over its tasks whose desired state is running */
	uint64_t heartbeat_gen;	    /* bumped at each registration; fences stale node.state */
	size_t n_tasks;		    /* tasks placed here, any desired state */
	uint64_t version, created;
	/* scratch for checking a placement batch in O(batch); valid when mark == m->mark */
	uint64_t mark;
	struct model_res delta;
};

struct model_workload {
	char *name;
	json_t *spec;		  /* as bun_to_json makes it */
	uint64_t generation;	  /* bumped when the spec changes */
	int replicas;		  /* desired */
	struct model_res request; /* per replica, from spec.resources */
	size_t n_tasks;
	uint64_t version, created;
};

struct model_task {
	char *id; /* "<workload>.<replica>" */
	char *workload;
	int replica;
	char *node;
	uint64_t generation; /* bumped at each placement: an agent runs only the current one */
	uint64_t spec_gen;   /* the workload generation it was placed with */
	struct model_res request;
	enum model_desired desired;
	enum model_observed observed;
	char *container_id, *ip, *message; /* NULL until reported */
	int exit_code;
	uint64_t version, created;
	uint64_t mark; /* scratch: seen in the current batch */
};

struct model_lease {
	char *node;
	char *subnet; /* "10.1.3.0/24" */
	uint64_t version;
};

struct model_vpc {
	char *name, *cidr;
	uint32_t net;	 /* host byte order */
	int prefix;	 /* of cidr */
	int node_prefix; /* of each node's subnet */
	uint32_t vni;
	struct hmap leases;    /* node name -> struct model_lease */
	struct hmap by_subnet; /* subnet -> struct model_lease */
	uint64_t version, created;
};

struct model_token {
	char *id;
	enum model_role role;
	char *salt, *hash;   /* hex; the secret itself never enters the log */
	uint64_t expires_ms; /* 0: never */
	uint64_t version, created;
};

/* A node certificate the cluster knows by its serial: issued and recorded (certs), or
 * revoked by `node rm` (revoked). Both lists keep only unexpired certificates: past
 * expires_ms a certificate is refused anyway, so its entry is dropped. */
struct model_cert {
	char *serial; /* lowercase hex, as pki_cert_info gives it */
	char *node;   /* the certificate's CN */
	uint64_t expires_ms;
	uint64_t version;
};

struct model_event {
	uint64_t seq, index, ts;
	char type[16];	 /* node, workload, task, vpc, lease, token, command */
	char action[16]; /* put, delete, register, state, label, place, stop, status, ... */
	json_t *object;	 /* shared with readers: never change it */
};

/* the outcome of one command, remembered under its client request id */
struct model_recent {
	char *id;
	uint64_t index;
	int code; /* 0 or a negative errno */
	char msg[MODEL_RESULT_MSG];
};

struct model {
	struct hmap nodes, workloads, tasks, vpcs, tokens, recent;
	struct hmap certs, revoked; /* serial -> struct model_cert */
	struct hmap task_counts;    /* workload name -> its tasks' count (private) */
	uint64_t index;		    /* last applied Raft index */
	uint64_t event_seq;	    /* seq of the newest event; 0 before any */
	struct model_event *events; /* ring of MODEL_EVENTS, seq s at s % MODEL_EVENTS */
	size_t n_events;
	struct model_recent **recent_ring; /* FIFO for eviction, MODEL_RECENT slots */
	size_t recent_head, n_recent;
	uint64_t mark; /* scratch epoch, see model_node.mark */
	void *arena;   /* a model_copy's tasks and their strings, in one block */
};

struct model *model_new(void);
void model_free(struct model *m);
/* A deep copy for a snapshot taken off the loop (state/raft.c): the objects and their
 * strings are copied, the JSON values (labels, specs, event objects) are shared with
 * json_incref — they are never changed in place, and jansson's reference counts are
 * atomic, so the copy may be read and freed on another thread while the loop goes on
 * changing the original. Every field snapshot_json writes must be copied here. */
struct model *model_copy(const struct model *m);
static inline void model_freep(struct model **m)
{
	model_free(*m);
}
#define _cleanup_model_ __attribute__((cleanup(model_freep)))

static inline struct model_node *model_node(const struct model *m, const char *name)
{
	return hmap_get(&m->nodes, name);
}
/* The node other than `except` whose address ("IP:PORT") has the host of `address`:
 * a node's host is its underlay address, and two nodes cannot share one. */
const struct model_node *model_node_at(const struct model *m, const char *address,
				       const char *except);
static inline struct model_workload *model_workload(const struct model *m, const char *name)
{
	return hmap_get(&m->workloads, name);
}
static inline struct model_task *model_task(const struct model *m, const char *id)
{
	return hmap_get(&m->tasks, id);
}
static inline struct model_vpc *model_vpc(const struct model *m, const char *name)
{
	return hmap_get(&m->vpcs, name);
}
static inline struct model_token *model_token(const struct model *m, const char *id)
{
	return hmap_get(&m->tokens, id);
}

/* Object constructors and destructors: insert into / remove from the model, keeping
 * the derived counters (allocations, task counts) right. No checks: fsm.c checks. */
struct model_node *model_node_add(struct model *m, const char *name);
void model_node_remove(struct model *m, struct model_node *n);
struct model_workload *model_workload_add(struct model *m, const char *name);
void model_workload_remove(struct model *m, struct model_workload *w);
struct model_task *model_task_add(struct model *m, const char *workload, int replica);
/* Tasks whose workload has that name (it may have been deleted since). */
size_t model_workload_tasks(const struct model *m, const char *workload);
void model_task_remove(struct model *m, struct model_task *t);
/* Moves a task to `node` and/or changes its desired state and request (NULL: keep),
 * moving its reservation between the nodes' allocations. */
void model_task_assign(struct model *m, struct model_task *t, const char *node,
		       enum model_desired desired, const struct model_res *request);
struct model_vpc *model_vpc_add(struct model *m, const char *name);
void model_vpc_remove(struct model *m, struct model_vpc *v);
struct model_lease *model_lease_add(struct model_vpc *v, const char *node, const char *subnet);
void model_lease_remove(struct model_vpc *v, struct model_lease *l);
struct model_token *model_token_add(struct model *m, const char *id);
void model_token_remove(struct model *m, struct model_token *t);
/* map: &m->certs or &m->revoked */
struct model_cert *model_cert_add(struct hmap *map, const char *serial, const char *node,
				  uint64_t expires_ms);
void model_cert_remove(struct hmap *map, struct model_cert *c);
static inline bool model_cert_revoked(const struct model *m, const char *serial)
{
	return serial && hmap_get(&m->revoked, serial) != NULL;
}

/* Appends an event (takes `object`); the oldest falls off the ring. */
void model_event_add(struct model *m, uint64_t index, uint64_t ts, const char *type,
		     const char *action, json_t *object);
/* The event with that seq, or NULL when not (or no longer) in the ring. */
const struct model_event *model_event_get(const struct model *m, uint64_t seq);
/* The smallest seq still in the ring (event_seq + 1 when it is empty). */
uint64_t model_event_first(const struct model *m);
json_t *model_event_json(const struct model_event *e);
/* Events with seq > after, at most max (0: all), as a JSON array. -ESTALE when events
 * after `after` have already fallen off the ring: the watcher must list the objects
 * again and watch from m->event_seq. */
int model_watch(const struct model *m, uint64_t after, size_t max, json_t **ret, struct err *err);

/* Request-id table: lookup and record (the oldest id is forgotten past MODEL_RECENT). */
const struct model_recent *model_recent_get(const struct model *m, const char *id);
void model_recent_put(struct model *m, const char *id, uint64_t index, int code, const char *msg);

/* The objects as the API shows them (and events carry); tokens without their hash. */
json_t *model_node_json(const struct model_node *n);
json_t *model_workload_json(const struct model_workload *w);
json_t *model_task_json(const struct model_task *t);
json_t *model_vpc_json(const struct model_vpc *v);
json_t *model_lease_json(const struct model_vpc *v, const struct model_lease *l);
json_t *model_token_json(const struct model_token *t, bool secret);
json_t *model_cert_json(const struct model_cert *c);

/* Names of enum values and back (-EINVAL for an unknown name). */
const char *model_role_name(enum model_role r);
const char *model_node_state_name(enum model_node_state s);
const char *model_desired_name(enum model_desired d);
const char *model_observed_name(enum model_observed o);
int model_role_parse(const char *s, enum model_role *ret);
int model_node_state_parse(const char *s, enum model_node_state *ret);
int model_desired_parse(const char *s, enum model_desired *ret);
int model_observed_parse(const char *s, enum model_observed *ret);
bool model_observed_terminal(enum model_observed o);

/* Replaces control characters and bytes that are not valid UTF-8 (a message cut
 * mid-character, raw bytes from a bad entry) with '?', in place: messages stay one
 * printable line and can go into JSON. */
void model_text_clean(char *s);

/* "10.1.0.0/16" -> network (host order) and prefix; -EINVAL when malformed or when host
 * bits are set. */
int model_cidr_parse(const char *s, uint32_t *ret_net, int *ret_prefix);
void model_cidr_format(uint32_t net, int prefix, char buf[20]);

/* The invariants every reachable state keeps: indexes agree with objects, allocations
 * are the sums of their tasks, references resolve, leases lie in their VPC and do not
 * overlap, events are contiguous. The fuzzer and restore call it. */
int model_check(const struct model *m, struct err *err);

#endif
