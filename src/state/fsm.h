/* fsm: the cluster's state machine. A command is a JSON document
 *   {"op": "<name>", "id": "<client request id>", "ts": <ms since the epoch>, ...}
 * proposed through Raft and applied, in log order, by every server to its own model.
 *
 * Two steps, one set of checks. fsm_validate() runs on the proposer against its current
 * state and refuses anything malformed or impossible with a clear error; only then is the
 * command proposed. fsm_apply() runs the same checks again against the state at its log
 * position (cheap: hash lookups) because the world may have changed in between; a
 * command that became invalid is recorded as a no-op (a "command rejected" event and a
 * result with a negative code), never half-applied, never a crash. Past the checks the
 * mutation cannot fail.
 *
 * Idempotency: a command carrying an id already applied (MODEL_RECENT ids are kept, in
 * the snapshot too) is not applied again; its result is the first outcome, flagged
 * duplicate. So a command whose outcome is unknown (RAFT_LEADERSHIPLOST) is retried
 * with the same id.
 *
 * Determinism: apply reads nothing but the model, the command and the Raft index — no
 * clock (time comes from the command's "ts", set by the proposer), no randomness, and
 * hash-map order never reaches the output.
 *
 * Commands (fields; * = required):
 *   workload.put     name*, spec* (bun_to_json), replicas (default spec.replicas.min or
 *                    1), request {cpu_milli, memory} (default from spec.resources),
 *                    version (compare-and-set: the expected version, 0 = must not exist)
 *   workload.delete  name*, version; its tasks are set to stop
 *   node.register    name*, address*, role* (server|agent), labels {k: v},
 *                    capacity {cpu_milli, memory}, replace (take a name held by another
 *                    address); bumps heartbeat_gen, state ready
 *   node.state       name*, state* (ready|down|draining), heartbeat_gen (fence)
 *   node.label       name*, set {k: v}, remove [k]
 *   node.delete      name*, force (also drop its tasks; otherwise it must have none);
 *                    revokes every recorded certificate of the node
 *   task.place       placements*: [{workload*, replica*, node, desired (running|stopped),
 *                    generation (fence: the task's current one, 0 = new)}] — all or none
 *   task.status      reports*: [{task*, generation*, node*, state*, container, ip,
 *                    exit_code, message}] — reports of an old generation or another node
 *                    are skipped (fencing) and counted in the result
 *   task.remove      tasks*: [{task*, generation*}] — the leader's garbage collection
 *                    (state/gc.h): removes each task still at that generation, stopped
 *                    and unwanted (workload gone, or replica beyond its replicas); the
 *                    others are skipped and counted, so a repeat is harmless
 *   vpc.create       name*, cidr*, vni (default: the lowest free from 4096), node_prefix
 *   vpc.delete       name* (refused while a workload uses it)
 *   lease.subnet     vpc*, node*, release; a node's subnet in a VPC, first free, stable
 *   token.put        name*, role*, salt* (hex), hash* (hex), expires_ms
 *   token.delete     name*   (the token's id: "id" is the request id)
 *   cert.add         serial* (hex), node*, expires_ms*: records an issued node
 *                    certificate, so that node.delete can revoke it; refused for a
 *                    revoked serial. Both certificate lists drop expired entries.
 *   barrier          nothing: a no-op entry */
#ifndef COOP_STATE_FSM_H
#define COOP_STATE_FSM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "state/model.h"

#define FSM_MAX_BATCH 10000	   /* placements or reports in one command */
#define FSM_MAX_COMMAND (8u << 20) /* bytes of one encoded command */
#define FSM_ID_MAX 64

struct fsm_result {
	uint64_t index;
	int code;	/* 0: applied; < 0: refused at apply time, recorded as a no-op */
	bool duplicate; /* the id was applied before: code and msg are from that time */
	char msg[MODEL_RESULT_MSG];
};

/* Checks a command against the state; 0 when proposing it makes sense. A command whose
 * id was already applied is valid (it will be a duplicate no-op). Reads the model only
 * (it uses the per-node scratch fields). */
int fsm_validate(struct model *m, json_t *cmd, struct err *err);
/* Applies a committed command at Raft `index`; never fails. */
void fsm_apply(struct model *m, json_t *cmd, uint64_t index, struct fsm_result *res);
/* The same for an encoded log entry; an undecodable one is a recorded no-op. */
void fsm_apply_buf(struct model *m, const void *buf, size_t len, uint64_t index,
		   struct fsm_result *res);
/* Decodes a log entry (strict JSON, one object). */
int fsm_decode(const void *buf, size_t len, json_t **ret, struct err *err);

#endif
