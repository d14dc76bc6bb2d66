/* sched: pure placement. From nodes, workloads and their tasks to a plan: tasks to start
 * (replica → node) and tasks to stop, each with a reason. No I/O, no globals, no randomness.
 * The same input gives the same plan, and every tie is broken by node name. The state
 * machine and the daemon turn their own objects into these plain structs; sched knows
 * neither of them.
 *
 * Policy, in order:
 *   1. A node is eligible for a workload when it is ready and meets every constraint.
 *      A replica needs a node whose free CPU and memory cover the request.
 *   2. Spread. A new replica goes to the failure domain holding the fewest replicas of its
 *      workload. The domain is the value of the spread label; nodes without the label form
 *      one domain of their own. Within the domain it goes to the node holding the fewest
 *      replicas of the workload, then to the least allocated node (dominant share of CPU
 *      or memory; load only breaks ties), then by node name.
 *   3. Only what must move moves. A task is stopped when its node is down, draining,
 *      unknown or no longer meets a constraint, when a newer generation of its replica
 *      exists, or when its workload shrank or is gone. Stopped replicas are placed again
 *      elsewhere in the same plan. Replicas on healthy nodes never move to rebalance.
 *   4. Scale down takes from the most loaded failure domain, then from the node with the
 *      most replicas of the workload (then the most allocated, then the last name). On that
 *      node it takes tasks not yet running first, then the highest replica number.
 *
 * Capacity freed by a stop counts only from the next round, once the stop is committed.
 * A new replica never lands on CPU or memory that a stopping task still holds.
 *
 * Cost: building the view sorts the nodes. Each workload scans the nodes once for
 * eligibility and heapifies the eligible ones. Each placement or scale-down victim then
 * costs O(log nodes): a heap of failure domains over a heap of nodes per domain. A node
 * that cannot fit a request leaves the workload's heap for good, since free capacity only
 * shrinks within a plan.
 *
 * Proposed `.bun` field (the bun parser is state/bun's; this is the shape sched expects):
 *
 *   placement:
 *     constraints: ["zone==a", "disk!=hdd", "gpu"]   # key==value, key!=value, key (exists)
 *     spread: zone                                   # failure-domain label; default: the
 *                                                    # cluster's domain key, e.g. "zone"
 *
 * It maps onto struct sched_workload's constraints/spread. Requests come from
 * resources.cpu (millis) and resources.memory (bytes). The API validates each expression
 * with sched_constraint_check() before proposing, so a bad one never reaches the log.
 */
#ifndef COOP_SCHED_SCHED_H
#define COOP_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define SCHED_MAX_NODES 100000
#define SCHED_MAX_REPLICAS 100000 /* per workload */
#define SCHED_MAX_CONSTRAINTS 32  /* per workload */
#define SCHED_MAX_EXPR 256	  /* bytes in one constraint expression */

enum sched_node_state {
	SCHED_NODE_READY,
	SCHED_NODE_DOWN,
	SCHED_NODE_DRAINING,
};

struct sched_label {
	const char *key, *value;
};

#define SCHED_NODE_NAME_KEY "node.name" /* a constraint key every node answers: its name */

struct sched_node {
	const char *name; /* unique */
	enum sched_node_state state;
	const struct sched_label *labels;
	size_t n_labels;
	uint64_t cpu_millis, memory_bytes; /* capacity */
	/* Held by every task on the node, the input's own tasks included. */
	uint64_t alloc_cpu_millis, alloc_memory_bytes;
};

struct sched_workload {
	const char *name; /* unique */
	unsigned replicas;
	uint64_t cpu_millis, memory_bytes; /* request of one replica */
	const char *const *constraints;	   /* "key==value", "key!=value", "key" */
	size_t n_constraints;
	const char *spread; /* label key to spread over; NULL: the cluster's domain key */
};

/* Only ASSIGNED and RUNNING tasks are live and count as replicas. The rest are history:
 * they hold no replica, and a new task for their replica gets a newer generation. */
enum sched_task_state {
	SCHED_TASK_ASSIGNED, /* placed, not yet reported running */
	SCHED_TASK_RUNNING,
	SCHED_TASK_STOPPING,
	SCHED_TASK_STOPPED,
	SCHED_TASK_FAILED,
};

struct sched_task {
	const char *id;
	const char *workload; /* sched_place: NULL means the workload being placed */
	const char *node;
	unsigned replica; /* 1-based slot: web.1, web.2, … */
	uint64_t generation;
	enum sched_task_state state;
};

struct sched_cluster {
	const struct sched_node *nodes;
	size_t n_nodes;
	const char *domain_key; /* failure-domain label, e.g. "zone"; NULL: none */
};

/* A new task: replica `replica` of `workload` on `node`, with a generation newer than any
 * earlier task of that replica. An agent holding an older one stops it (fencing). */
struct sched_placement {
	const char *workload;
	const char *node;
	unsigned replica;
	uint64_t generation;
};

enum sched_stop_reason {
	SCHED_STOP_NODE_DOWN,
	SCHED_STOP_NODE_DRAINING,
	SCHED_STOP_NODE_UNKNOWN,
	SCHED_STOP_CONSTRAINT,
	SCHED_STOP_SUPERSEDED,
	SCHED_STOP_SCALE_DOWN,
	SCHED_STOP_WORKLOAD_GONE,
};

struct sched_stop {
	const struct sched_task *task;
	enum sched_stop_reason reason;
	const struct sched_workload *workload; /* NULL for SCHED_STOP_WORKLOAD_GONE */
	const char *constraint;		       /* SCHED_STOP_CONSTRAINT: the one not met */
	uint64_t newer_generation;	       /* SCHED_STOP_SUPERSEDED */
};

/* A replica with no node, or (replica 0) a workload that could not be scheduled at all.
 * msg is one line, e.g. "replica 5 of web: no node fits (3 nodes: 1 down, 2 lack memory:
 * need 512 MiB, free 256 MiB)". */
struct sched_unplaced {
	const char *workload;
	unsigned replica;
	char *msg;
};

/* Strings and pointers in a plan borrow from the input, which must outlive it. Only msg
 * is owned. Placements come in workload-name order, then replica order. */
struct sched_plan {
	struct sched_placement *placements;
	size_t n_placements;
	struct sched_stop *stops;
	size_t n_stops;
	struct sched_unplaced *unplaced;
	size_t n_unplaced;
	size_t cap_placements, cap_stops, cap_unplaced; /* private */
};

/* Validates one constraint expression ("workload 'web': ..." is the caller's to add). */
int sched_constraint_check(const char *expr, struct err *err);

/* Places one workload. Tasks of other workloads are ignored; tasks with workload NULL
 * belong to w. Replicas that fit nowhere become unplaced entries, not a failure. Fails
 * (-EINVAL) only on bad input: a bad constraint, duplicate node names, limits exceeded.
 * On failure ret_plan is untouched. */
int sched_place(const struct sched_cluster *c, const struct sched_workload *w,
		const struct sched_task *tasks, size_t n_tasks, struct sched_plan *ret_plan,
		struct err *err);

/* Every workload at once, in name order, sharing the nodes' capacity. Live tasks of a
 * workload not in the list are stopped. A workload with bad input gets one unplaced entry
 * (replica 0) and its tasks are left as they are. Fails only on bad cluster input
 * (duplicate node or workload names, limits). */
int sched_reconcile(const struct sched_cluster *c, const struct sched_workload *ws, size_t n_ws,
		    const struct sched_task *tasks, size_t n_tasks, struct sched_plan *ret_plan,
		    struct err *err);

bool sched_plan_empty(const struct sched_plan *p);
void sched_plan_free(struct sched_plan *p);

const char *sched_stop_reason_str(enum sched_stop_reason r);
/* "web.3 (task t9) on n2: node n2 is down"; returns buf. */
const char *sched_stop_fmt(const struct sched_stop *s, char *buf, size_t size);

#endif
