/* raft: libraft's fsm callbacks over state/fsm, and proposals and barriers with
 * callbacks that carry the state machine's result. */
#include "state/raft.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/resource.h>
#include <time.h>

#include "base/util.h"
#include "state/snapshot.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

int sraft_errno(int rv)
{
	switch (rv) {
	case 0:
		return 0;
	case RAFT_NOMEM:
		return -ENOMEM;
	case RAFT_NOTLEADER:
		return -EREMOTE;
	case RAFT_LEADERSHIPLOST:
		return -ECONNABORTED;
	case RAFT_SHUTDOWN:
	case RAFT_CANCELED:
		return -ECANCELED;
	case RAFT_TOOBIG:
		return -E2BIG;
	case RAFT_BUSY:
		return -EBUSY;
	case RAFT_NOSPACE:
		return -ENOSPC;
	case RAFT_MALFORMED:
	case RAFT_CORRUPT:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

/* The raft index of the entry being applied. libraft advances last_applied after
 * fsm->apply returns, and every entry type (barriers, configurations) takes an index,
 * so the entry in hand is the one after last_applied. */
static uint64_t applying_index(struct sraft *s)
{
	if (s->raft)
		return raft_last_applied(s->raft) + 1;
	return s->model->index + 1;
}

static int fsm_apply_cb(struct raft_fsm *f, const struct raft_buffer *buf, void **result)
{
	struct sraft *s = f->data;
	uint64_t index = applying_index(s);
	struct sraft_slot *slot = &s->results[index % SRAFT_RESULTS];

	slot->index = index;
	fsm_apply_buf(s->model, buf->base, buf->len, index, &slot->res);
	*result = slot;
	if (s->on_apply)
		s->on_apply(s, index, s->data);
	return 0; /* always: a refusal is recorded in the model, not returned */
}

static double clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

static double cpu_ms(void)
{
	return clock_ms(CLOCK_THREAD_CPUTIME_ID);
}

/* version 1: the whole encoding on the loop; libraft frees the array and its buffers */
static int fsm_snapshot_sync_cb(struct raft_fsm *f, struct raft_buffer *bufs[], unsigned *n)
{
	struct sraft *s = f->data;
	_cleanup_free_ char *doc = NULL;
	double t0 = mono_ms(), c0 = cpu_ms();
	size_t len;

	if (snapshot_encode(s->model, &doc, &len, &s->last_err) < 0)
		return RAFT_NOMEM;
	*bufs = raft_malloc(sizeof(**bufs));
	if (!*bufs)
		return RAFT_NOMEM;
	(*bufs)[0].base = raft_malloc(len);
	if (!(*bufs)[0].base) {
		raft_free(*bufs);
		return RAFT_NOMEM;
	}
	memcpy((*bufs)[0].base, doc, len);
	(*bufs)[0].len = len;
	*n = 1;
	s->n_snapshots++;
	s->snapshot_bytes = len;
	s->snapshot_loop_ms = s->snapshot_encode_ms = mono_ms() - t0;
	s->snapshot_loop_cpu_ms = cpu_ms() - c0;
	return 0;
}

/* version 3, on the loop: a consistent copy of the model at this index (tens of ms
 * for 100,000 tasks, where encoding takes over a second: longer than an election
 * timeout). The buffer array is ours (freed by finalize); its one buffer is filled by
 * the worker. */
static int fsm_snapshot_cb(struct raft_fsm *f, struct raft_buffer *bufs[], unsigned *n)
{
	struct sraft *s = f->data;
	double t0 = mono_ms(), c0 = cpu_ms();

	if (s->pending)
		return RAFT_BUSY; /* libraft retries at a later apply */
	*bufs = calloc(1, sizeof(**bufs));
	if (!*bufs)
		return RAFT_NOMEM;
	*n = 1;
	s->pending = model_copy(s->model);
	s->snapshot_loop_ms = mono_ms() - t0;
	s->snapshot_loop_cpu_ms = cpu_ms() - c0;
	return 0;
}

/* version 3, on a threadpool worker: encodes the copy. Reads nothing the loop changes;
 * writes only the figures, which the loop reads after finalize. It runs at the lowest
 * priority (Linux nice values are per thread): on two cores the voters' loops, which
 * keep the leadership, must not wait for a core. It frees nothing the loop allocated:
 * that takes the allocator's main arena, and a starved low-priority thread holding it
 * stalled the loop for seconds — the copy is freed by finalize, on the loop (a few ms:
 * its tasks are in a few arena blocks). */
static int fsm_snapshot_async_cb(struct raft_fsm *f, struct raft_buffer *bufs[], unsigned *n)
{
	struct sraft *s = f->data;
	double t0 = mono_ms();
	char *doc = NULL;
	size_t len = 0;
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, 0);
	bool reniced = errno == 0 && setpriority(PRIO_PROCESS, 0, 19) == 0;

	s->snapshot_status = snapshot_encode(s->pending, &doc, &len, &s->last_err);
	if (reniced) /* back (unprivileged, the pool thread stays low: harmless) */
		(void)setpriority(PRIO_PROCESS, 0, nice);
	s->snapshot_encode_ms = mono_ms() - t0;
	if (s->snapshot_status < 0)
		return RAFT_NOMEM;
	(*bufs)[0].base = doc;
	(*bufs)[0].len = len;
	s->snapshot_bytes = len;
	return 0;
}

/* version 3, on the loop, after the snapshot is stored or has failed: ours to free. */
static int fsm_snapshot_finalize_cb(struct raft_fsm *f, struct raft_buffer *bufs[], unsigned *n)
{
	struct sraft *s = f->data;

	if (*bufs) {
		for (unsigned i = 0; i < *n; i++)
			free((*bufs)[i].base);
		free(*bufs);
	}
	*bufs = NULL;
	*n = 0;
	model_free(s->pending);
	s->pending = NULL;
	s->n_snapshots++;
	return 0;
}

struct garbage {
	json_t *doc;
	struct model *model;
};

static void *garbage_free(void *arg)
{
	struct garbage *g = arg;

	json_decref(g->doc);
	model_free(g->model);
	free(g);
	return NULL;
}

/* What a restore leaves behind — the parsed snapshot and the model it replaces, a third
 * of the time of a restore for 100,000 tasks — is freed by a detached thread: nothing
 * else refers to either (the JSON they share with API streams is reference counted,
 * atomically). Inline when no thread can be started. */
static void free_off_loop(json_t *doc, struct model *old)
{
	struct garbage *g = malloc(sizeof(*g));
	pthread_attr_t attr;
	pthread_t t;
	int r = -1;

	if (g && pthread_attr_init(&attr) == 0) {
		*g = (struct garbage){doc, old};
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		r = pthread_create(&t, &attr, garbage_free, g);
		pthread_attr_destroy(&attr);
	}
	if (r != 0) {
		free(g);
		json_decref(doc);
		model_free(old);
	}
}

static int fsm_restore_cb(struct raft_fsm *f, struct raft_buffer *buf)
{
	struct sraft *s = f->data;
	struct model *m = NULL;
	json_t *doc = NULL;
	double t0 = mono_ms();

	if (snapshot_decode_doc(buf->base, buf->len, &m, &doc, &s->last_err) < 0)
		return RAFT_MALFORMED; /* libraft keeps the buffer and reports the failure */
	free_off_loop(doc, s->model);
	s->model = m;
	raft_free(buf->base); /* on success the buffer is ours */
	s->n_restores++;
	s->restore_ms = mono_ms() - t0;
	if (s->on_apply)
		s->on_apply(s, m->index, s->data);
	return 0;
}

int sraft_init(struct sraft *s, struct err *err)
{
	memset(s, 0, sizeof(*s));
	s->model = model_new();
	s->fsm.version = 3;
	s->fsm.data = s;
	s->fsm.apply = fsm_apply_cb;
	s->fsm.snapshot = fsm_snapshot_cb;
	s->fsm.snapshot_async = fsm_snapshot_async_cb;
	s->fsm.snapshot_finalize = fsm_snapshot_finalize_cb;
	s->fsm.restore = fsm_restore_cb;
	return 0;
}

void sraft_snapshot_sync(struct sraft *s)
{
	s->sync_snapshots = true;
	s->fsm.version = 1;
	s->fsm.snapshot = fsm_snapshot_sync_cb;
	s->fsm.snapshot_async = NULL;
	s->fsm.snapshot_finalize = NULL;
}

void sraft_use_io(struct sraft *s, struct raft_io *io)
{
	if (!io->async_work)
		sraft_snapshot_sync(s);
	else if (io->version < 2)
		io->version = 2;
}

void sraft_attach(struct sraft *s, struct raft *r)
{
	s->raft = r;
}

void sraft_close(struct sraft *s)
{
	model_free(s->model);
	s->model = NULL;
	s->raft = NULL;
}

static int not_leader(struct sraft *s, const char *what, struct err *err)
{
	raft_id id = 0;
	const char *addr = NULL;

	if (s->raft)
		raft_leader(s->raft, &id, &addr);
	if (!id)
		return err_msg(err, EREMOTE, "%s: not the leader, and no leader is known", what);
	return err_msg(err, EREMOTE, "%s: not the leader; the leader is %llu at %s", what,
		       (unsigned long long)id, addr ? addr : "?");
}

static void apply_cb(struct raft_apply *a, int status, void *result)
{
	struct sraft_propose *req = container_of(a, struct sraft_propose, apply);
	struct sraft_slot *slot = result;
	struct fsm_result gone;

	if (status != 0) {
		req->cb(req, sraft_errno(status), NULL);
		return;
	}
	if (!slot || slot->index != a->index) {
		/* the result was overwritten before this callback ran: committed, details lost */
		gone = (struct fsm_result){.index = a->index};
		snprintf(gone.msg, sizeof(gone.msg), "applied (result no longer kept)");
		req->cb(req, 0, &gone);
		return;
	}
	req->cb(req, 0, &slot->res);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int sraft_propose(struct sraft *s, struct sraft_propose *req, json_t *cmd, sraft_propose_cb cb,
		  struct err *err)
{
	const char *op = json_string_value(json_object_get(cmd, "op"));
	struct raft_buffer buf;
	char *text;
	int r;

	if (!op)
		op = "command";
	if (!s->raft || raft_state(s->raft) != RAFT_LEADER)
		return not_leader(s, op, err);
	r = fsm_validate(s->model, cmd, err);
	if (r < 0)
		return r;
	if (!json_object_get(cmd, "ts"))
		json_object_set_new(cmd, "ts", json_integer((json_int_t)wall_ms()));
	text = json_dumps(cmd, JSON_COMPACT);
	if (!text)
		return err_msg(err, ENOMEM, "%s: cannot encode", op);
	buf.len = strlen(text);
	/* libraft's disk format needs entries whose size is a multiple of 8 (uv_segment.c's
	 * TODO; canonical/raft#189, #304): a follower otherwise writes what it received
	 * at shifted offsets and its segment loads back "malformed" after a restart,
	 * found by restarting a follower of a 3-node cluster. JSON allows trailing
	 * blanks, so every entry is padded with spaces to 8. */
	size_t padded = (buf.len + 7) & ~(size_t)7;
	if (buf.len > FSM_MAX_COMMAND) {
		free(text);
		return err_msg(err, E2BIG, "%s: %zu bytes, more than %u", op, buf.len,
			       FSM_MAX_COMMAND);
	}
	buf.base = raft_malloc(padded);
	if (!buf.base) {
		free(text);
		return err_msg(err, ENOMEM, "%s: out of memory", op);
	}
	memcpy(buf.base, text, buf.len);
	memset((char *)buf.base + buf.len, ' ', padded - buf.len);
	buf.len = padded;
	free(text);
	req->cb = cb;
	r = raft_apply(s->raft, &req->apply, &buf, 1, apply_cb);
	if (r != 0) {
		raft_free(buf.base);
		if (r == RAFT_NOTLEADER)
			return not_leader(s, op, err);
		return err_msg(err, -sraft_errno(r), "%s: propose: %s", op, raft_strerror(r));
	}
	return 0;
}

static void barrier_cb(struct raft_barrier *b, int status)
{
	struct sraft_barrier *req = container_of(b, struct sraft_barrier, barrier);

	req->cb(req, sraft_errno(status));
}

int sraft_barrier(struct sraft *s, struct sraft_barrier *req, sraft_barrier_cb cb, struct err *err)
{
	int r;

	if (!s->raft || raft_state(s->raft) != RAFT_LEADER)
		return not_leader(s, "barrier", err);
	req->cb = cb;
	r = raft_barrier(s->raft, &req->barrier, barrier_cb);
	if (r == RAFT_NOTLEADER)
		return not_leader(s, "barrier", err);
	if (r != 0)
		return err_msg(err, -sraft_errno(r), "barrier: %s", raft_strerror(r));
	return 0;
}
