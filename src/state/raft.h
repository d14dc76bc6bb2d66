/* raft: glue between libraft (canonical raft 0.15) and the state machine. It owns the
 * model and the struct raft_fsm that libraft drives: apply decodes a log entry and
 * applies it (never failing), snapshot writes the model as JSON — the loop takes a
 * copy, the threadpool encodes it (fsm version 3) —, restore swaps in a model read from
 * a snapshot (refusing a malformed one). Proposals are validated
 * against the local model first; only valid commands reach the log.
 *
 * Everything runs on the loop thread that drives the struct raft; nothing here is
 * thread-safe (neither is libraft).
 *
 * Gotchas this glue hides or documents (measured on 0.15):
 *  - fsm->apply must not fail: a failed apply stalls the replica; ours records refusals.
 *  - one entry per raft_apply: with several, libraft calls back on the first only.
 *  - a follower's raft_apply fails with RAFT_NOTLEADER: -EREMOTE here, with the leader's
 *    id and address in the message, so the API can forward the write.
 *  - RAFT_LEADERSHIPLOST (-ECONNABORTED here) means the outcome is unknown: retry the
 *    same command, same "id", on the new leader; the state machine answers a repeat
 *    with the first outcome.
 *  - an entry's size must be a multiple of 8 or a follower's segment is written
 *    wrong (canonical/raft#189): proposals are padded with blanks.
 *  - a linearizable read is a barrier (sraft_barrier) followed by a read of the model. */
#ifndef COOP_STATE_RAFT_H
#define COOP_STATE_RAFT_H

#include <jansson.h>
#include <raft.h>
#include <stdint.h>

#include "base/err.h"
#include "state/fsm.h"
#include "state/model.h"

#define SRAFT_RESULTS 1024 /* apply results kept for callbacks, by index */

struct sraft_slot {
	uint64_t index;
	struct fsm_result res;
};

struct sraft {
	struct raft_fsm fsm; /* give &fsm to raft_init() or raft_fixture_grow() */
	struct raft *raft;   /* set by sraft_attach(); not owned */
	struct model *model; /* owned; replaced on restore: do not keep the pointer */
	struct sraft_slot results[SRAFT_RESULTS];
	/* called after each applied command and after a restore (index = model->index) */
	void (*on_apply)(struct sraft *s, uint64_t index, void *data);
	void *data;
	unsigned n_snapshots, n_restores;
	struct err last_err; /* why the last snapshot or restore failed */
	/* Snapshots (libraft fsm version 3 unless sraft_snapshot_sync): the loop only
	 * copies the model (model_copy); a threadpool worker encodes the copy. Figures of
	 * the last one, for logs and benchmarks: */
	bool sync_snapshots;	 /* set before raft_init: encode on the loop (fsm v1) */
	struct model *pending;	 /* the copy being encoded, owned by the worker */
	double snapshot_loop_ms; /* time the loop spent in the snapshot callback */
	double snapshot_loop_cpu_ms; /* the CPU it used meanwhile (less on a busy machine) */
	double snapshot_encode_ms; /* encoding (on the worker, or the loop when sync) */
	size_t snapshot_bytes;
	double restore_ms; /* decoding and checking a snapshot (always on the loop) */
	int snapshot_status; /* of the last encode: 0 or a negative errno */
};

int sraft_init(struct sraft *s, struct err *err);
/* Encode snapshots on the loop (libraft fsm version 1), for a raft_io without
 * async_work and for comparison. Call between sraft_init and raft_init. */
void sraft_snapshot_sync(struct sraft *s);
/* Call between raft_uv_init (or any raft_io's init) and raft_init: snapshots go to the
 * io's threadpool (io->async_work) when it has one, else they are encoded on the loop.
 * libraft 0.15's raft_uv implements async_work but still says version 1, which
 * raft_init refuses for a version-3 fsm: an io with async_work is marked version 2. */
void sraft_use_io(struct sraft *s, struct raft_io *io);
/* Call once the struct raft exists (after raft_init / raft_fixture_grow). */
void sraft_attach(struct sraft *s, struct raft *r);
/* After the struct raft is closed. */
void sraft_close(struct sraft *s);

/* Maps a libraft error code to a negative errno. */
int sraft_errno(int raft_rv);

struct sraft_propose;
/* status 0: committed and applied; res->code says whether the state machine applied it
 * (0) or recorded a refusal (< 0); res->duplicate when the id had been applied before.
 * status < 0: not committed as far as this server knows (-ECONNABORTED: unknown; retry
 * with the same id), res is NULL. */
typedef void (*sraft_propose_cb)(struct sraft_propose *req, int status,
				 const struct fsm_result *res);

/* A caller-owned request; it must stay valid until its callback runs. */
struct sraft_propose {
	void *data;
	struct raft_apply apply; /* private */
	sraft_propose_cb cb;
};

/* Validates `cmd` against the local model, stamps "ts" (ms, wall clock) when missing,
 * and appends it to the log. On error the callback is never called. */
int sraft_propose(struct sraft *s, struct sraft_propose *req, json_t *cmd, sraft_propose_cb cb,
		  struct err *err);

struct sraft_barrier;
typedef void (*sraft_barrier_cb)(struct sraft_barrier *req, int status);
struct sraft_barrier {
	void *data;
	struct raft_barrier barrier; /* private */
	sraft_barrier_cb cb;
};

/* Completes once every entry before it is applied here: read the model then for a
 * linearizable read. Leader only (-EREMOTE otherwise). On error no callback. */
int sraft_barrier(struct sraft *s, struct sraft_barrier *req, sraft_barrier_cb cb, struct err *err);

#endif
