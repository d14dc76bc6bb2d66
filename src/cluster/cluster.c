/* cluster: Raft on the daemon's loop, the leader's duties (joins, voters, node health,
 * placement) and every node's (registration, heartbeats, running its tasks). See
 * cluster.h. */
#include "cluster/cluster.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <raft/uv.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "api/client.h"
#include "base/fs.h"
#include "base/hmap.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "cluster/pki.h"
#include "cluster/plan.h"
#include "cluster/priv.h"
#include "cluster/transport.h"
#include "sched/sched.h"
#include "state/gc.h"
#include "state/raft.h"

#define TICK_MS CLUSTER_HEARTBEAT_MS
#define ELECTION_MS 600
#define RAFT_HEARTBEAT_MS 100
#define FORWARD_TIMEOUT_MS 2000
/* A heartbeat must not wait on a dead leader longer than its successor waits for it:
 * with one heartbeat in flight, a 3 s wait after an election had every node marked down. */
#define HEARTBEAT_TIMEOUT_MS (CLUSTER_DOWN_MS / 2)
/* After an election every node gets this long to find the new leader before the
 * 1 s rule applies (followers learn the leader only from its first append). */
#define LEADER_GRACE_MS (CLUSTER_DOWN_MS + CLUSTER_DOWN_MS / 2)
/* A node stopped on purpose (SIGTERM: a restart, an upgrade) keeps its tasks this long. */
#define RESTART_GRACE_MS 30000
/* A write that finds no leader waits this long for an election to end. */
#define LEADER_WAIT_MS 5000
#define REGISTER_RETRY_MS 1000
/* A renewal that failed (no leader, a refusal) is tried again this much later. */
#define RENEW_RETRY_S 10
#define CERT_RECORD_RETRY_MS 2000

/* A node's connection to the leader for its heartbeats: kept open (one TLS handshake,
 * not one every 200 ms), used only from the one heartbeat work in flight. */
struct keep {
	struct api_client *client;
	char *endpoint;
};

struct beat {
	uint64_t last_ms;    /* loop time of the last heartbeat */
	uint64_t hold_until; /* a node restarting on purpose is not marked down until */
	bool inflight;	  /* a node.state for this node is being proposed */
};

struct cluster {
	uv_loop_t *loop;
	struct agent *agent;
	char *state_dir, *name, *ip, *role, *raft_addr, *listen;
	unsigned api_port, raft_port;
	raft_id id;
	bool bootstrap;
	char *ca_file, *cert_file, *key_file;
	/* node.crt and node.key in one file, for the forwarding client on the thread pool:
	 * a renewal replaces both in one rename, so it never reads a new key with an old
	 * certificate */
	char *bundle_file;
	char *ca_pem, *ca_key_pem, *cert_pem, *key_pem;
	char ca_fp[PKI_FP_HEX + 1];
	json_t *cfg, *labels;
	int lock_fd;

	/* this node's certificate: when it is due, and its serial as the model records it */
	int64_t cert_ttl_s;	 /* what this cluster's CA signs for (servers sign) */
	time_t renew_at;	 /* wall clock */
	char serial[PKI_SERIAL_HEX + 1];
	bool renew_inflight;
	char *renew_key;	 /* the key of the certificate being requested */
	bool cert_rec_inflight;
	uint64_t cert_rec_next_ms;
	size_t revoked_seen;	 /* model revoked list length last checked against Raft peers */
	bool hb_keep_stale;	 /* the heartbeat connection still presents the old certificate */
	cluster_creds_fn on_creds;
	void *creds_ctx;

	struct raft_uv_transport transport;
	struct raft_io io;
	struct raft raft;
	struct sraft sr;
	bool raft_inited;

	uv_timer_t tick, kick;
	bool kick_armed;
	bool caught_up, synced_once, net_failed;
	uint64_t ticks;
	bool leading;
	uint64_t leader_since;

	struct hmap beats;    /* leader: node name -> struct beat */
	bool hb_inflight;     /* this node's heartbeat to the leader */
	struct keep hb_keep;
	bool registered, reg_inflight;
	uint64_t reg_next_ms;
	bool tokens_done, tokens_inflight;

	bool reconcile_inflight, reconcile_again;
	bool gc_inflight, gc_again; /* the leader's task.remove (state/gc.h) */
	char *last_unplaced;

	bool change_inflight;
	struct raft_change change;

	json_t *local;	 /* workloads assigned on this node: name -> true */
	json_t *net;	 /* the network view last given to the agent */
	bool vpc_inflight;
	json_t *reports; /* task id -> pending task.status report */
	bool report_inflight;

	unsigned works; /* forwarded requests on the thread pool */
	bool fwd_second; /* set around the re-forward of a failed write */
	bool closing;
	void (*done)(void *ctx);
	void *done_ctx;
	unsigned handles;
	struct cluster_listener *listeners; /* cluster_listen_applies */
};

static void kick_arm(struct cluster *c);
static void renew_cert(struct cluster *c);
static void renew_tick(struct cluster *c);
static void cert_state(struct cluster *c);
static int bundle_write(struct cluster *c, struct err *err);
static void cert_record(struct cluster *c);
static bool caught_up(struct cluster *c);

/* ---- small helpers ---- */

static char *pem_or_null(const char *dir, const char *file)
{
	char *pem = NULL;
	struct err e = { 0 };

	if (pki_read(dir, file, &pem, &e) < 0)
		return NULL;
	return pem;
}

/* "IP:RAFTPORT" of a member -> "IP:APIPORT" */
static char *api_of_raft(const char *raft_addr)
{
	const char *colon = strrchr(raft_addr, ':');
	if (!colon)
		return xstrdup(raft_addr);
	return xasprintf("%.*s:%lu", (int)(colon - raft_addr), raft_addr,
			 strtoul(colon + 1, NULL, 10) - 1);
}

static char *raft_of_api(const char *api_addr)
{
	const char *colon = strrchr(api_addr, ':');
	if (!colon)
		return xstrdup(api_addr);
	return xasprintf("%.*s:%lu", (int)(colon - api_addr), api_addr,
			 strtoul(colon + 1, NULL, 10) + 1);
}

static const struct raft_server *member_by_addr(const struct raft *r, const char *raft_addr)
{
	for (unsigned i = 0; i < r->configuration.n; i++)
		if (streq(r->configuration.servers[i].address, raft_addr))
			return &r->configuration.servers[i];
	return NULL;
}

static const struct model_node *node_of_member(const struct cluster *c,
					       const struct raft_server *s)
{
	_cleanup_free_ char *api = api_of_raft(s->address);
	size_t i = 0;
	const char *k;
	void *v;

	while (hmap_next(&c->sr.model->nodes, &i, &k, &v))
		if (streq(((struct model_node *)v)->address, api))
			return v;
	return NULL;
}

static const char *raft_role_name(int role)
{
	switch (role) {
	case RAFT_VOTER: return "voter";
	case RAFT_STANDBY: return "standby";
	default: return "spare";
	}
}

static const char *state_name(int st)
{
	static const char *const names[] = { "unavailable", "follower", "candidate", "leader" };
	return st >= 0 && st < 4 ? names[st] : "unknown";
}

const struct model *cluster_model(const struct cluster *c) { return c->sr.model; }
bool cluster_is_leader(const struct cluster *c)
{
	return c->raft_inited && raft_state((struct raft *)&c->raft) == RAFT_LEADER;
}
const char *cluster_ca_file(const struct cluster *c) { return c->ca_file; }
const char *cluster_cert_file(const struct cluster *c) { return c->cert_file; }
const char *cluster_key_file(const struct cluster *c) { return c->key_file; }
const char *cluster_listen(const struct cluster *c) { return c->listen; }
const char *cluster_node_name(const struct cluster *c) { return c->name; }

/* ---- forwarding to the leader (blocking HTTPS on the thread pool) ---- */

struct fwd {
	uv_work_t work;
	struct cluster *c;
	struct keep *keep; /* NULL: a fresh connection */
	long timeout_ms;
	bool retried; /* a second attempt: no third */
	char *endpoint, *method, *path;
	json_t *body, *ret;
	int status;
	struct err err;
	cluster_done_fn done;
	void *ctx;
};

static void fwd_work(uv_work_t *w)
{
	struct fwd *f = w->data;
	struct api_client *cl = NULL;
	struct api_client_opts o = { .endpoint = f->endpoint, .ca = f->c->ca_file,
				     .cert = f->c->bundle_file, .key = f->c->bundle_file,
				     .timeout_ms = f->timeout_ms };

	struct keep *k = f->keep;

	if (k && k->client && streq(k->endpoint, f->endpoint)) {
		f->status = api_call(k->client, f->method, f->path, f->body, &f->ret, &f->err);
		if (f->status < 0) { /* a fresh connection next time */
			api_client_free(k->client);
			k->client = NULL;
		}
		return;
	}
	o.keepalive = k != NULL;
	f->status = api_client_new(&o, &cl, &f->err);
	if (f->status == 0)
		f->status = api_call(cl, f->method, f->path, f->body, &f->ret, &f->err);
	if (k && f->status == 0) {
		api_client_free(k->client);
		free(k->endpoint);
		k->client = cl;
		k->endpoint = xstrdup(f->endpoint);
		return;
	}
	api_client_free(cl);
}

static void cluster_maybe_done(struct cluster *c);

static void wait_leader(struct cluster *c, const char *method, const char *path, json_t *body,
			const char *avoid, cluster_done_fn done, void *ctx);

static void fwd_after(uv_work_t *w, int status)
{
	struct fwd *f = w->data;
	struct cluster *c = f->c;

	if (status == UV_ECANCELED && f->status == 0)
		f->status = err_msg(&f->err, ECANCELED, "cancelled");
	if (f->status == 0 && !f->ret)
		f->ret = json_object();
	/* a write sent to a leader that died or stepped down meanwhile goes to the next
	 * one (commands carry an id: a repeat is answered with the first outcome) */
	if ((f->status == -ECONNREFUSED || f->status == -EIO || f->status == -EREMOTE) &&
	    !f->retried && !c->closing && streq(f->path, "/v1/cluster/propose")) {
		const char *api = f->endpoint + strlen("https://");
		log_debug("cluster: %s: %s; waiting for another leader", api, f->err.msg);
		wait_leader(c, f->method, f->path, f->body, api, f->done, f->ctx);
	} else {
		f->done(f->ctx, f->status, f->status == 0 ? f->ret : NULL, &f->err);
	}
	json_decref(f->ret);
	json_decref(f->body);
	free(f->endpoint);
	free(f->method);
	free(f->path);
	free(f);
	c->works--;
	cluster_maybe_done(c);
}

/* The leader's API address, or an error saying there is none. */
static int leader_api(struct cluster *c, char **ret, struct err *err)
{
	raft_id id = 0;
	const char *addr = NULL;

	raft_leader(&c->raft, &id, &addr);
	if (!id || !addr)
		return err_msg(err, EAGAIN, "no leader is known yet (the cluster is electing one, "
					    "or too few servers are up for a quorum)");
	*ret = api_of_raft(addr);
	return 0;
}

static int forward_keep(struct cluster *c, const char *method, const char *path, json_t *body,
			struct keep *keep, cluster_done_fn done, void *ctx, struct err *err);

/* A request that arrived while no leader is known (an election) waits for one, up to
 * LEADER_WAIT_MS, instead of failing at once. */
struct lwait {
	uv_timer_t timer;
	struct cluster *c;
	char *method, *path;
	json_t *body;
	uint64_t deadline;
	char *avoid;	       /* a leader that just failed us: wait for another, a while */
	uint64_t avoid_until;
	cluster_done_fn done;
	void *ctx;
};

static void lwait_closed(uv_handle_t *h)
{
	struct lwait *w = h->data;
	struct cluster *c = w->c;

	json_decref(w->body);
	free(w->method);
	free(w->path);
	free(w->avoid);
	free(w);
	c->works--;
	cluster_maybe_done(c);
}

static void lwait_tick(uv_timer_t *t)
{
	struct lwait *w = t->data;
	struct cluster *c = w->c;
	struct err err = { 0 };
	raft_id id = 0;
	const char *addr = NULL;
	int r;

	raft_leader(&c->raft, &id, &addr);
	uint64_t now = uv_now(c->loop);
	_cleanup_free_ char *api = id && addr ? api_of_raft(addr) : NULL;
	bool same = api && w->avoid && streq(api, w->avoid) && now < w->avoid_until;
	if (!c->closing && (!id || same) && now < w->deadline)
		return;
	if (c->closing)
		r = err_msg(&err, ECANCELED, "the daemon is stopping");
	else if (cluster_is_leader(c) && streq(w->path, "/v1/cluster/propose"))
		r = cluster_write(c, w->body, w->done, w->ctx, &err); /* we won the election */
	else {
		c->fwd_second = w->avoid != NULL; /* this is the retry of a failed forward */
		r = forward_keep(c, w->method, w->path, w->body, NULL, w->done, w->ctx, &err);
		c->fwd_second = false;
	}
	if (r < 0)
		w->done(w->ctx, r, NULL, &err);
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, lwait_closed);
}

static void wait_leader(struct cluster *c, const char *method, const char *path, json_t *body,
			const char *avoid, cluster_done_fn done, void *ctx)
{
	struct lwait *w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->method = xstrdup(method);
	w->path = xstrdup(path);
	w->body = body ? json_incref(body) : NULL;
	w->deadline = uv_now(c->loop) + LEADER_WAIT_MS;
	w->avoid = avoid ? xstrdup(avoid) : NULL;
	w->avoid_until = uv_now(c->loop) + 2 * ELECTION_MS;
	w->done = done;
	w->ctx = ctx;
	uv_timer_init(c->loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, lwait_tick, 100, 100);
	c->works++;
}

static int forward(struct cluster *c, const char *method, const char *path, json_t *body,
		   cluster_done_fn done, void *ctx, struct err *err)
{
	int r = forward_keep(c, method, path, body, NULL, done, ctx, err);

	if (r != -EAGAIN || c->closing)
		return r;
	wait_leader(c, method, path, body, NULL, done, ctx);
	return 0;
}

static int forward_keep(struct cluster *c, const char *method, const char *path, json_t *body,
			struct keep *keep, cluster_done_fn done, void *ctx, struct err *err)
{
	_cleanup_free_ char *api = NULL;
	int r = leader_api(c, &api, err);

	if (r < 0)
		return r;
	if (c->closing)
		return err_msg(err, ECANCELED, "the daemon is stopping");
	struct fwd *f = xcalloc(1, sizeof(*f));
	f->c = c;
	f->keep = keep;
	f->retried = c->fwd_second;
	f->timeout_ms = strstr(path, "/heartbeat") ? HEARTBEAT_TIMEOUT_MS : FORWARD_TIMEOUT_MS;
	f->endpoint = xasprintf("https://%s", api);
	f->method = xstrdup(method);
	f->path = xstrdup(path);
	f->body = body ? json_incref(body) : NULL;
	f->done = done;
	f->ctx = ctx;
	f->work.data = f;
	if ((r = uv_queue_work(c->loop, &f->work, fwd_work, fwd_after)) < 0) {
		json_decref(f->body);
		free(f->endpoint);
		free(f->method);
		free(f->path);
		free(f);
		return err_msg(err, -r, "forward to the leader: %s", uv_strerror(r));
	}
	c->works++;
	return 0;
}

/* ---- writes ---- */

struct wreq {
	struct sraft_propose p;
	cluster_done_fn done;
	void *ctx;
};

static json_t *result_json(const struct fsm_result *res)
{
	return json_pack("{s:I,s:i,s:s,s:b}", "index", (json_int_t)res->index, "code", res->code,
			 "message", res->msg, "duplicate", res->duplicate);
}

static void propose_cb(struct sraft_propose *p, int status, const struct fsm_result *res)
{
	struct wreq *w = p->data;
	struct err err = { 0 };
	_cleanup_json_ json_t *out = NULL;

	if (status < 0)
		err_msg(&err, -status,
			status == -ECONNABORTED ? "leadership lost: the outcome is unknown, retry"
						: "not committed: %s",
			strerror(-status));
	else
		out = result_json(res);
	w->done(w->ctx, status, out, &err);
	free(w);
}

static void ensure_id(json_t *cmd)
{
	static uint64_t seq;
	char id[48];

	if (json_object_get(cmd, "id"))
		return;
	snprintf(id, sizeof(id), "%d-%" PRIu64 "-%" PRIu64, getpid(), (uint64_t)time(NULL), ++seq);
	json_object_set_new(cmd, "id", json_string(id));
}

int cluster_write(struct cluster *c, json_t *cmd, cluster_done_fn done, void *ctx,
		  struct err *err)
{
	int r;

	if (!json_is_object(cmd))
		return err_msg(err, EINVAL, "command: expected an object");
	ensure_id(cmd);
	if (cluster_is_leader(c)) {
		struct wreq *w = xcalloc(1, sizeof(*w));
		w->p.data = w;
		w->done = done;
		w->ctx = ctx;
		r = sraft_propose(&c->sr, &w->p, cmd, propose_cb, err);
		if (r == 0)
			return 0;
		free(w);
		if (r != -EREMOTE)
			return r;
	}
	/* validate here first: a bad command is refused by the node that got it */
	if ((r = fsm_validate(c->sr.model, cmd, err)) < 0)
		return r;
	return forward(c, "POST", "/v1/cluster/propose", cmd, done, ctx, err);
}

/* A write whose outcome only the log cares about. */
static void log_done(void *ctx, int status, json_t *result, const struct err *err)
{
	const char *what = ctx;
	int code = (int)json_integer_value(json_object_get(result, "code"));

	if (status < 0)
		log_warn("cluster: %s: %s", what, err->msg);
	else if (code < 0)
		log_warn("cluster: %s: refused: %s", what,
			 json_string_value(json_object_get(result, "message")));
}

/* ---- barrier ---- */

struct breq {
	struct sraft_barrier b;
	struct cluster *c;
	uint64_t wait_index;
	uv_timer_t *timer;
	cluster_done_fn done;
	void *ctx;
};

static void barrier_cb(struct sraft_barrier *b, int status)
{
	struct breq *q = b->data;
	struct err err = { 0 };

	if (status < 0)
		err_msg(&err, -status, "barrier: %s", strerror(-status));
	q->done(q->ctx, status, NULL, &err);
	free(q);
}

static void wait_close(uv_handle_t *h)
{
	free(h->data);
	free(h);
}

static void wait_applied(uv_timer_t *t)
{
	struct breq *q = t->data;
	_cleanup_json_ json_t *ok = json_object();

	if (q->c->sr.model->index < q->wait_index && !q->c->closing)
		return;
	q->done(q->ctx, 0, ok, NULL);
	uv_timer_stop(t);
	t->data = q;
	uv_close((uv_handle_t *)t, wait_close);
}

/* a follower's barrier: commit a barrier on the leader, then wait until it is applied
 * here */
static void fbarrier_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct breq *q = ctx;

	if (status < 0) {
		q->done(q->ctx, status, NULL, err);
		free(q);
		return;
	}
	q->wait_index = (uint64_t)json_integer_value(json_object_get(result, "index"));
	q->timer = xcalloc(1, sizeof(*q->timer));
	uv_timer_init(q->c->loop, q->timer);
	q->timer->data = q;
	uv_timer_start(q->timer, wait_applied, 0, 5);
}

int cluster_barrier(struct cluster *c, cluster_done_fn done, void *ctx, struct err *err)
{
	struct breq *q = xcalloc(1, sizeof(*q));
	int r;

	q->c = c;
	q->done = done;
	q->ctx = ctx;
	q->b.data = q;
	if (cluster_is_leader(c)) {
		if ((r = sraft_barrier(&c->sr, &q->b, barrier_cb, err)) == 0)
			return 0;
		if (r != -EREMOTE) {
			free(q);
			return r;
		}
	}
	_cleanup_json_ json_t *cmd = json_pack("{s:s}", "op", "barrier");
	ensure_id(cmd);
	if ((r = forward(c, "POST", "/v1/cluster/propose", cmd, fbarrier_done, q, err)) < 0)
		free(q);
	return r;
}

/* ---- this node's tasks ---- */

static void report_flush(struct cluster *c);

static void report_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct cluster *c = ctx;

	c->report_inflight = false;
	if (status < 0)
		log_debug("cluster: task reports: %s (retried)", err->msg);
	if (!c->closing && json_object_size(c->reports))
		report_flush(c);
}

static void report_flush(struct cluster *c)
{
	struct err err = { 0 };
	json_t *list = json_array();
	const char *k;
	json_t *v;

	if (c->report_inflight || !json_object_size(c->reports)) {
		json_decref(list);
		return;
	}
	json_object_foreach (c->reports, k, v)
		json_array_append(list, v);
	_cleanup_json_ json_t *cmd = json_pack("{s:s,s:o}", "op", "task.status", "reports", list);
	if (cluster_write(c, cmd, report_done, c, &err) < 0) {
		log_debug("cluster: task reports: %s (retried)", err.msg);
		return; /* kept; the next tick retries */
	}
	json_object_clear(c->reports);
	c->report_inflight = true;
}

static const char *observed_of(json_t *ctr)
{
	const char *st = json_string_value(json_object_get(ctr, "status"));

	const char *health = json_string_value(json_object_get(ctr, "health"));

	if (!st)
		return "failed";
	/* only a running replica that passes its check (or has none) takes traffic */
	if (streq(st, "running"))
		return !health || streq(health, "healthy") ? "running"
		       : streq(health, "unhealthy")	    ? "failed"
							    : "starting";
	if (streq(st, "exited"))
		return "exited";
	return "starting"; /* created, restarting */
}

static void on_task(void *ctx, const char *task, uint64_t generation, json_t *ctr,
		    const char *msg)
{
	struct cluster *c = ctx;
	const struct model_task *t = model_task(c->sr.model, task);
	json_t *rep;

	/* fencing: only the current generation of a task placed here is reported */
	if (!t || t->generation != generation || !t->node || !streq(t->node, c->name))
		return;
	if (!ctr && t->desired == MODEL_DESIRED_STOPPED)
		return;
	rep = json_pack("{s:s,s:I,s:s,s:s}", "task", task, "generation", (json_int_t)generation,
			"node", c->name, "state", ctr ? observed_of(ctr) : "failed");
	if (ctr) {
		json_t *v;
		if ((v = json_object_get(ctr, "id")) && json_is_string(v))
			json_object_set(rep, "container", v);
		if ((v = json_object_get(ctr, "ip")) && json_is_string(v))
			json_object_set(rep, "ip", v);
		if ((v = json_object_get(ctr, "exit_code")) && json_is_integer(v))
			json_object_set(rep, "exit_code", v);
	}
	if (ctr && !msg && streq(observed_of(ctr), "failed"))
		msg = "unhealthy";
	if (msg) {
		char line[200];
		snprintf(line, sizeof(line), "%s", msg);
		model_text_clean(line);
		json_object_set_new(rep, "message", json_string(line));
	}
	json_object_set_new(c->reports, task, rep);
	report_flush(c);
}

/* Makes the agent run exactly the tasks placed here. Cheap enough to run after every
 * apply: one pass over the tasks, and the agent ignores an unchanged assignment. */
static void local_sync(struct cluster *c)
{
	const struct model *m = c->sr.model;
	_cleanup_json_ json_t *want = json_object(); /* workload -> [task...] */
	size_t i = 0;
	const char *k;
	void *v;
	json_t *jv;

	while (hmap_next(&m->tasks, &i, &k, &v)) {
		const struct model_task *t = v;
		if (!t->node || !streq(t->node, c->name) || t->desired != MODEL_DESIRED_RUNNING ||
		    !model_workload(m, t->workload))
			continue;
		json_t *list = json_object_get(want, t->workload);
		if (!list)
			json_object_set_new(want, t->workload, list = json_array());
		json_array_append_new(list, json_pack("{s:s,s:i,s:I}", "id", t->id, "replica",
						      t->replica, "generation",
						      (json_int_t)t->generation));
	}
	json_object_foreach (want, k, jv) {
		const struct model_workload *w = model_workload(m, k);
		size_t n = json_array_size(jv);
		_cleanup_free_ struct agent_task *ts = xcalloc(n, sizeof(*ts));
		struct err err = { 0 };
		for (size_t j = 0; j < n; j++) {
			json_t *it = json_array_get(jv, j);
			ts[j].id = json_string_value(json_object_get(it, "id"));
			ts[j].replica = (int)json_integer_value(json_object_get(it, "replica"));
			ts[j].generation = (uint64_t)json_integer_value(json_object_get(it, "generation"));
		}
		if (agent_workload_assign(c->agent, k, w->spec, ts, n, &err) < 0) {
			log_warn("cluster: workload '%s': %s", k, err.msg);
			for (size_t j = 0; j < n; j++)
				on_task(c, ts[j].id, ts[j].generation, NULL, err.msg);
		}
		json_object_set_new(c->local, k, json_true());
	}
	/* workloads that had tasks here and have none now */
	void *tmp;
	json_object_foreach_safe (c->local, tmp, k, jv) {
		struct err err = { 0 };
		if (json_object_get(want, k))
			continue;
		if (agent_workload_assign(c->agent, k, NULL, NULL, 0, &err) < 0)
			log_warn("cluster: workload '%s': %s", k, err.msg);
		json_object_del(c->local, k);
	}
}

/* ---- networks: VPCs, subnets, overlay peers and published ports from the model ---- */

static char *addr_ip(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	return colon ? xasprintf("%.*s", (int)(colon - addr), addr) : xstrdup(addr);
}

static json_t *vpc_view(const struct cluster *c, const struct model_vpc *v)
{
	const struct model *m = c->sr.model;
	const struct model_lease *mine = hmap_get(&v->leases, c->name);
	json_t *peers = json_array();
	size_t i = 0;
	const char *k;
	void *val;

	while (hmap_next(&v->leases, &i, &k, &val)) {
		const struct model_lease *l = val;
		const struct model_node *n = model_node(m, l->node);
		if (streq(l->node, c->name) || !n || n->state == MODEL_NODE_DOWN)
			continue;
		_cleanup_free_ char *ip = addr_ip(n->address);
		json_array_append_new(peers, json_pack("{s:s,s:s,s:s}", "node", n->name, "underlay",
						       ip, "subnet", l->subnet));
	}
	return json_pack("{s:s,s:s,s:I,s:s?,s:o}", "name", v->name, "cidr", v->cidr, "vni",
			 (json_int_t)v->vni, "subnet", mine ? mine->subnet : NULL, "peers", peers);
}

static json_t *service_view(const struct cluster *c, const struct model_workload *w)
{
	const struct model *m = c->sr.model;
	json_t *ports = json_object_get(w->spec, "ports"), *vpc = json_object_get(w->spec, "vpc");
	json_t *backends = json_array();
	size_t i = 0;
	const char *k;
	void *v;

	while (hmap_next(&m->tasks, &i, &k, &v)) {
		const struct model_task *t = v;
		const struct model_node *n = t->node ? model_node(m, t->node) : NULL;
		if (!streq(t->workload, w->name) || t->desired != MODEL_DESIRED_RUNNING || !t->ip ||
		    !n || n->state == MODEL_NODE_DOWN)
			continue;
		json_array_append_new(backends,
				      json_pack("{s:s,s:s,s:s,s:b,s:b}", "task", t->id, "node",
						t->node, "ip", t->ip, "local",
						streq(t->node, c->name), "healthy",
						t->observed == MODEL_OBS_RUNNING));
	}
	return json_pack("{s:s,s:s,s:o,s:o}", "workload", w->name, "vpc",
			 json_is_string(vpc) ? json_string_value(vpc) : "default", "ports",
			 ports ? json_incref(ports) : json_array(), "backends", backends);
}

/* What this node's networking should be, as JSON (agent.h, agent_net_sync). */
static json_t *net_view(const struct cluster *c)
{
	const struct model *m = c->sr.model;
	json_t *vpcs = json_array(), *svcs = json_array();
	size_t i = 0;
	const char *k;
	void *v;

	while (hmap_next(&m->vpcs, &i, &k, &v))
		json_array_append_new(vpcs, vpc_view(c, v));
	i = 0;
	while (hmap_next(&m->workloads, &i, &k, &v)) {
		const struct model_workload *w = v;
		/* networked workloads: their ports and names (DNS) reach every node */
		if (json_array_size(json_object_get(w->spec, "ports")) ||
		    json_is_string(json_object_get(w->spec, "vpc")))
			json_array_append_new(svcs, service_view(c, w));
	}
	return json_pack("{s:s,s:s,s:o,s:o}", "node", c->name, "underlay", c->ip, "vpcs", vpcs,
			 "services", svcs);
}

static void net_sync(struct cluster *c)
{
	_cleanup_json_ json_t *view = net_view(c);
	struct err err = { 0 };

	if (c->net && json_equal(c->net, view))
		return;
	uint64_t t0 = uv_hrtime();
	int r = agent_net_sync(c->agent, view, &err);
	uint64_t ms = (uv_hrtime() - t0) / 1000000;
	if (ms > 200) /* netlink and one nft transaction: milliseconds when all is well */
		log_warn("cluster: networks: the sync took %" PRIu64 " ms", ms);
	c->net_failed = r < 0;
	if (r < 0) {
		log_warn("cluster: networks: %s", err.msg);
		return; /* tried again after the next change or tick */
	}
	json_decref(c->net);
	c->net = json_incref(view);
}

static void vpc_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct cluster *c = ctx;

	c->vpc_inflight = false;
	log_done("networks", status, result, err);
	if (!c->closing)
		kick_arm(c);
}

/* The leader keeps the default VPC in the model and gives every node a subnet of
 * every VPC, one command at a time. */
static void check_vpcs(struct cluster *c)
{
	const struct model *m = c->sr.model;
	_cleanup_json_ json_t *cmd = NULL;
	struct err err = { 0 };
	size_t i = 0, j;
	const char *k, *nk;
	void *v, *nv;

	if (c->vpc_inflight)
		return;
	if (!model_vpc(m, "default"))
		cmd = json_pack("{s:s,s:s,s:s,s:s}", "op", "vpc.create", "id", "vpc-default",
				"name", "default", "cidr", "10.213.0.0/16");
	while (!cmd && hmap_next(&m->vpcs, &i, &k, &v)) {
		const struct model_vpc *vpc = v;
		j = 0;
		while (!cmd && hmap_next(&m->nodes, &j, &nk, &nv))
			if (!hmap_get(&vpc->leases, nk))
				cmd = json_pack("{s:s,s:s,s:s}", "op", "lease.subnet", "vpc", vpc->name,
						"node", nk);
	}
	if (!cmd)
		return;
	if (cluster_write(c, cmd, vpc_done, c, &err) == 0)
		c->vpc_inflight = true;
	else
		log_warn("cluster: networks: %s", err.msg);
}

/* ---- the leader: placement ---- */

static void note_unplaced(struct cluster *c, const struct sched_plan *p)
{
	_cleanup_free_ char *msg = p->n_unplaced ? xstrdup(p->unplaced[0].msg) : NULL;

	if ((msg == NULL) != (c->last_unplaced == NULL) ||
	    (msg && !streq(msg, c->last_unplaced))) {
		if (msg)
			log_warn("cluster: %zu replica(s) cannot be placed: %s", p->n_unplaced, msg);
		free(c->last_unplaced);
		c->last_unplaced = msg ? xstrdup(msg) : NULL;
	}
}

static void reconcile(struct cluster *c);

static void reconcile_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct cluster *c = ctx;

	log_done("placement", status, result, err);
	c->reconcile_inflight = false;
	if (c->reconcile_again && !c->closing)
		reconcile(c);
}

static void reconcile(struct cluster *c)
{
	const struct model *m = c->sr.model;
	struct plan_view s = { 0 };
	struct sched_plan plan = { 0 };
	struct err err = { 0 };

	if (!cluster_is_leader(c) || c->closing)
		return;
	if (c->reconcile_inflight) {
		c->reconcile_again = true;
		return;
	}
	c->reconcile_again = false;
	plan_view_build(&s, m);
	struct sched_cluster sc = { .nodes = s.nodes, .n_nodes = s.n_nodes };
	if (sched_reconcile(&sc, s.ws, s.n_ws, s.tasks, s.n_tasks, &plan, &err) < 0) {
		log_warn("cluster: placement: %s", err.msg);
		plan_view_free(&s);
		return;
	}
	note_unplaced(c, &plan);
	bool more = false;
	_cleanup_json_ json_t *cmd = plan_command(m, &plan, &more);
	sched_plan_free(&plan);
	plan_view_free(&s);
	if (!cmd)
		return;
	if (cluster_write(c, cmd, reconcile_done, c, &err) == 0) {
		c->reconcile_inflight = true;
		c->reconcile_again = more;
	}
	else
		log_warn("cluster: placement: %s", err.msg);
}

/* ---- the leader: stopped tasks nobody will report on (state/gc.h) ---- */

#define GC_EVERY_TICKS 5 /* a sweep a second; batch after batch while there is more */

static void gc_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct cluster *c = ctx;

	log_done("task removal", status, result, err);
	c->gc_inflight = false;
	c->gc_again = status == 0;
}

static void collect_tasks(struct cluster *c)
{
	struct err err = { 0 };

	if (c->gc_inflight || (!c->gc_again && c->ticks % GC_EVERY_TICKS))
		return;
	c->gc_again = false;
	_cleanup_json_ json_t *cmd = gc_command(c->sr.model, GC_KEEP, GC_BATCH);
	if (!cmd)
		return;
	if (cluster_write(c, cmd, gc_done, c, &err) < 0)
		log_warn("cluster: task removal: %s", err.msg);
	else
		c->gc_inflight = true;
}

/* ---- the leader: node health ---- */

struct state_req {
	struct cluster *c;
	char *name;
};

static void state_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct state_req *q = ctx;
	struct beat *b = hmap_get(&q->c->beats, q->name);

	log_done("node state", status, result, err);
	if (b)
		b->inflight = false;
	free(q->name);
	free(q);
}

static struct beat *beat_of(struct cluster *c, const char *name)
{
	struct beat *b = hmap_get(&c->beats, name);

	if (!b) {
		b = xcalloc(1, sizeof(*b));
		hmap_put(&c->beats, xstrdup(name), b);
	}
	return b;
}

static void set_node_state(struct cluster *c, const struct model_node *n, const char *state)
{
	struct beat *b = beat_of(c, n->name);
	struct err err = { 0 };

	if (b->inflight)
		return;
	_cleanup_json_ json_t *cmd = json_pack("{s:s,s:s,s:s,s:I}", "op", "node.state", "name",
					       n->name, "state", state, "heartbeat_gen",
					       (json_int_t)n->heartbeat_gen);
	struct state_req *q = xcalloc(1, sizeof(*q));
	q->c = c;
	q->name = xstrdup(n->name);
	if (cluster_write(c, cmd, state_done, q, &err) < 0) {
		log_warn("cluster: node '%s' %s: %s", n->name, state, err.msg);
		free(q->name);
		free(q);
		return;
	}
	b->inflight = true;
	if (streq(state, "down"))
		log_warn("cluster: node '%s' missed its heartbeats for %d ms: marking it down",
			 n->name, CLUSTER_DOWN_MS);
	else
		log_info("cluster: node '%s' is back", n->name);
}

int cluster_heartbeat(struct cluster *c, json_t *req, struct err *err)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const struct model_node *n;

	if (!name)
		return err_msg(err, EINVAL, "name: missing required field");
	if (!cluster_is_leader(c))
		return err_msg(err, EREMOTE, "heartbeat: not the leader");
	struct beat *b = beat_of(c, name);
	b->last_ms = uv_now(c->loop);
	b->hold_until = json_is_true(json_object_get(req, "restarting"))
				? b->last_ms + RESTART_GRACE_MS
				: 0;
	n = model_node(c->sr.model, name);
	if (n && n->state == MODEL_NODE_DOWN)
		set_node_state(c, n, "ready");
	return 0;
}

static void check_nodes(struct cluster *c)
{
	const struct model *m = c->sr.model;
	uint64_t now = uv_now(c->loop);
	size_t i = 0;
	const char *k;
	void *v;

	while (hmap_next(&m->nodes, &i, &k, &v)) {
		const struct model_node *n = v;
		if (streq(n->name, c->name) || n->state != MODEL_NODE_READY)
			continue;
		struct beat *b = beat_of(c, n->name);
		uint64_t since = c->leader_since + LEADER_GRACE_MS - CLUSTER_DOWN_MS;
		uint64_t last = b->last_ms > since ? b->last_ms : since;
		if (b->hold_until > now)
			continue;
		if (now > last && now - last > CLUSTER_DOWN_MS)
			set_node_state(c, n, "down");
	}
}

/* ---- the leader: voters ---- */

static void change_done(struct raft_change *req, int status)
{
	struct cluster *c = req->data;

	c->change_inflight = false;
	if (status != 0)
		log_warn("cluster: membership change: %s", raft_strerror(status));
}

/* Voters: as many ready servers as possible, an odd number, at most five; the others
 * stand by. A down voter is replaced by a ready standby and then demoted. */
static void check_voters(struct cluster *c)
{
	const struct raft_configuration *conf = &c->raft.configuration;
	unsigned voters = 0, ready_voters = 0, ready_servers = 0, target;
	const struct raft_server *promote = NULL, *demote = NULL;

	if (c->change_inflight)
		return;
	for (unsigned i = 0; i < conf->n; i++) {
		const struct raft_server *s = &conf->servers[i];
		const struct model_node *n = node_of_member(c, s);
		bool ready = s->id == c->id || (n && n->state == MODEL_NODE_READY);
		bool server = s->id == c->id || (n && n->role == MODEL_ROLE_SERVER);
		if (s->role == RAFT_VOTER) {
			voters++;
			ready_voters += ready;
			if (!ready && s->id != c->id)
				demote = s;
		}
		if (server && ready) {
			ready_servers++;
			if (s->role != RAFT_VOTER && (!promote || s->id < promote->id))
				promote = s;
		}
	}
	target = ready_servers > CLUSTER_MAX_VOTERS ? CLUSTER_MAX_VOTERS : ready_servers;
	if (target % 2 == 0 && target > 1)
		target--;
	if (target < 1)
		target = 1;
	const struct raft_server *s = NULL;
	int role = RAFT_VOTER;
	if (ready_voters < target && promote)
		s = promote;
	else if (voters > target && demote)
		s = demote, role = RAFT_STANDBY;
	if (!s)
		return;
	c->change.data = c;
	int rv = raft_assign(&c->raft, &c->change, s->id, role, change_done);
	if (rv != 0) {
		log_warn("cluster: make %s a %s: %s", s->address, raft_role_name(role),
			 raft_strerror(rv));
		return;
	}
	log_info("cluster: %s becomes a %s", s->address, raft_role_name(role));
	c->change_inflight = true;
}

/* ---- every node: registration, heartbeat, first tokens ---- */

static void register_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct cluster *c = ctx;

	c->reg_inflight = false;
	if (status == 0 && json_integer_value(json_object_get(result, "code")) == 0)
		c->registered = true;
	else
		log_done("registration", status, result, err);
}

static void self_register(struct cluster *c)
{
	struct sysinfo si;
	struct err err = { 0 };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t now = uv_now(c->loop);

	if (c->registered || c->reg_inflight || now < c->reg_next_ms)
		return;
	c->reg_next_ms = now + REGISTER_RETRY_MS;
	if (sysinfo(&si) < 0)
		si.totalram = 0, si.mem_unit = 1;
	_cleanup_json_ json_t *cmd = json_pack(
	    "{s:s,s:s,s:s,s:s,s:b,s:{s:I,s:I}}", "op", "node.register", "name", c->name, "address",
	    c->listen, "role", c->role, "replace", 1, "capacity", "cpu_milli",
	    (json_int_t)(cpus > 0 ? cpus * 1000 : 1000), "memory",
	    (json_int_t)((uint64_t)si.totalram * si.mem_unit));
	if (c->labels)
		json_object_set(cmd, "labels", c->labels);
	if (cluster_write(c, cmd, register_done, c, &err) == 0)
		c->reg_inflight = true;
	else
		log_debug("cluster: registration: %s (retried)", err.msg);
}

static void heartbeat_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct cluster *c = ctx;

	c->hb_inflight = false;
	if (status < 0)
		log_debug("cluster: heartbeat: %s", err->msg);
}

static void send_heartbeat(struct cluster *c)
{
	struct err err = { 0 };
	_cleanup_json_ json_t *body = json_pack("{s:s}", "name", c->name);

	if (c->hb_inflight)
		return;
	if (c->hb_keep_stale) { /* renewed: the next beat connects with the new certificate */
		api_client_free(c->hb_keep.client);
		c->hb_keep.client = NULL;
		c->hb_keep_stale = false;
	}
	if (forward_keep(c, "POST", "/v1/cluster/heartbeat", body, &c->hb_keep, heartbeat_done, c,
			 &err) == 0)
		c->hb_inflight = true;
}

static void tokens_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct cluster *c = ctx;

	c->tokens_inflight = false; /* the next tick proposes the next one, if any */
	log_done("first join tokens", status, result, err);
}

/* The tokens `coop init` printed enter the model once this node first leads. */
static void propose_init_tokens(struct cluster *c)
{
	json_t *list = json_object_get(c->cfg, "init_tokens"), *it;
	struct err err = { 0 };
	size_t i;

	if (c->tokens_done || c->tokens_inflight)
		return;
	json_array_foreach (list, i, it) {
		const char *name = json_string_value(json_object_get(it, "name"));
		if (!name || model_token(c->sr.model, name))
			continue;
		_cleanup_json_ json_t *cmd = json_deep_copy(it);
		json_object_set_new(cmd, "id", json_sprintf("init-%s", name));
		if (cluster_write(c, cmd, tokens_done, c, &err) < 0)
			log_warn("cluster: first join tokens: %s", err.msg);
		else
			c->tokens_inflight = true;
		return; /* one at a time */
	}
	c->tokens_done = true;
	/* all in the model: a restart has nothing to propose again */
	if (json_object_get(c->cfg, "init_tokens")) {
		json_object_del(c->cfg, "init_tokens");
		if (cl_config_write(c->state_dir, c->cfg, &err) < 0)
			log_warn("cluster: %s", err.msg);
	}
}

static void on_tick(uv_timer_t *t)
{
	struct cluster *c = t->data;
	bool leading = cluster_is_leader(c);

	if (c->closing)
		return;
	if (leading && !c->leading) {
		c->leader_since = uv_now(c->loop);
		log_info("cluster: %s leads (term %llu)", c->name,
			 (unsigned long long)c->raft.current_term);
		kick_arm(c);
	}
	c->leading = leading;
	c->ticks++;
	renew_tick(c);
	self_register(c);
	if (caught_up(c))
		cert_record(c);
	report_flush(c);
	if (c->net_failed)
		net_sync(c); /* a failed sync is retried; changes come through on_kick */
	if (!c->synced_once && caught_up(c)) { /* the first sync after a start */
		c->synced_once = true;
		kick_arm(c);
	}
	if (!leading) {
		raft_id id = 0;
		const char *addr = NULL;
		raft_leader(&c->raft, &id, &addr);
		if (id)
			send_heartbeat(c);
		return;
	}
	propose_init_tokens(c);
	check_vpcs(c);
	check_nodes(c);
	check_voters(c);
	reconcile(c);
	collect_tasks(c);
}

/* ---- after every apply: run what is placed here; the leader places ---- */

/* Whether this node's replica of the model has caught up with the cluster since the
 * daemon started: a leader is known and everything it committed is applied here.
 * Until then the (empty or old) model must not drive the agent — it would stop what
 * is still placed here. Once true it stays true. */
static bool caught_up(struct cluster *c)
{
	raft_id id = 0;
	const char *addr = NULL;

	if (c->caught_up)
		return true;
	raft_leader(&c->raft, &id, &addr);
	if (!id || c->raft.commit_index == 0 || raft_last_applied(&c->raft) < c->raft.commit_index)
		return false;
	log_debug("cluster: caught up at index %llu", (unsigned long long)c->raft.commit_index);
	return c->caught_up = true;
}

static void on_kick(uv_timer_t *t)
{
	struct cluster *c = t->data;

	c->kick_armed = false;
	if (c->closing || !caught_up(c))
		return;
	/* a node removed meanwhile: its open Raft connections go too */
	if (c->sr.model->revoked.len != c->revoked_seen) {
		c->revoked_seen = c->sr.model->revoked.len;
		rtls_recheck(&c->transport);
	}
	local_sync(c);
	net_sync(c);
	if (cluster_is_leader(c))
		check_vpcs(c); /* leases chain one commit after another, not one per tick */
	reconcile(c);
}

static void kick_arm(struct cluster *c)
{
	if (c->kick_armed || c->closing)
		return;
	c->kick_armed = true;
	uv_timer_start(&c->kick, on_kick, 5, 0); /* coalesces a burst of applies */
}

static void on_apply(struct sraft *s, uint64_t index, void *data)
{
	struct cluster *c = data;

	kick_arm(c);
	for (struct cluster_listener *l = c->listeners; l; l = l->next)
		l->fn(l);
}

void cluster_listen_applies(struct cluster *c, struct cluster_listener *l)
{
	l->c = c;
	l->prev = NULL;
	l->next = c->listeners;
	if (l->next)
		l->next->prev = l;
	c->listeners = l;
}

void cluster_unlisten_applies(struct cluster_listener *l)
{
	if (!l->c)
		return;
	if (l->prev)
		l->prev->next = l->next;
	else
		l->c->listeners = l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->c = NULL;
	l->prev = l->next = NULL;
}

/* ---- joins (leader) ---- */

static int unhex(const char *s, unsigned char *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (unsigned char)v;
	}
	return 0;
}

/* The model's token records in join's form. */
static struct join_record *join_records(const struct model *m, size_t *ret_n)
{
	struct join_record *recs = xcalloc(m->tokens.len + 1, sizeof(*recs));
	size_t i = 0, n = 0;
	const char *k;
	void *v;

	while (hmap_next(&m->tokens, &i, &k, &v)) {
		const struct model_token *t = v;
		struct join_record *r = &recs[n];
		r->role = t->role == MODEL_ROLE_SERVER ? JOIN_ROLE_SERVER : JOIN_ROLE_AGENT;
		r->expires = (int64_t)(t->expires_ms / 1000);
		if (unhex(t->salt, r->salt, JOIN_SALT_LEN) == 0 &&
		    unhex(t->hash, r->hash, JOIN_HASH_LEN) == 0)
			n++;
	}
	*ret_n = n;
	return recs;
}

struct jreq {
	struct cluster *c;
	struct raft_change change;
	raft_id id;
	json_t *reply;
	cluster_done_fn done;
	void *ctx;
};

static void jreq_finish(struct jreq *q, int rv)
{
	struct err err = { 0 };

	q->c->change_inflight = false;
	if (rv != 0)
		err_msg(&err, EAGAIN, "join: adding the node to the cluster failed: %s (retry)",
			raft_strerror(rv));
	q->done(q->ctx, rv ? -EAGAIN : 0, rv ? NULL : q->reply, &err);
	json_decref(q->reply);
	free(q);
}

static void join_assigned(struct raft_change *req, int status)
{
	jreq_finish(req->data, status);
}

static void join_added(struct raft_change *req, int status)
{
	struct jreq *q = req->data;
	int rv = status;

	if (rv == 0)
		rv = raft_assign(&q->c->raft, &q->change, q->id, RAFT_STANDBY, join_assigned);
	if (rv != 0)
		jreq_finish(q, rv);
}

static int join_validate(struct cluster *c, json_t *req, const char **ret_name,
			 char **ret_api, struct join_token *ret_t, struct err *err)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *ip = json_string_value(json_object_get(req, "address"));
	const char *token = json_string_value(json_object_get(req, "token"));
	json_int_t port = json_integer_value(json_object_get(req, "api_port"));
	struct cluster_addr a;
	int r;

	if (!name || !ip || !token || !json_is_string(json_object_get(req, "csr")))
		return err_msg(err, EINVAL, "join: expected token, name, address and csr");
	if ((r = cl_name_check(name, err)) < 0 || (r = cluster_addr_parse(ip, &a, err)) < 0)
		return r;
	if (port <= 0 || port > 65534)
		port = CLUSTER_API_PORT;
	if ((r = join_token_parse(token, ret_t, err)) < 0)
		return r;
	*ret_api = xasprintf("%s:%d", a.ip, (int)port);
	const struct model_node *n = model_node(c->sr.model, name);
	if (n && !streq(n->address, *ret_api)) {
		r = err_msg(err, EEXIST, "join: node name '%s' is taken by %s; choose another --name",
			    name, n->address);
		free(*ret_api);
		return r;
	}
	if ((n = model_node_at(c->sr.model, *ret_api, name))) {
		r = err_msg(err, EEXIST, "join: address %s is taken by node '%s'; each node needs "
			    "its own --address", a.ip, n->name);
		free(*ret_api);
		return r;
	}
	*ret_name = name;
	return 0;
}

int cluster_join_request(struct cluster *c, json_t *req, cluster_done_fn done, void *ctx,
			 struct err *err)
{
	const char *name = NULL;
	_cleanup_free_ char *api = NULL, *raft_addr = NULL, *cert = NULL;
	_cleanup_free_ struct join_record *recs = NULL;
	const char *ips[2] = { NULL, NULL };
	struct join_token t;
	size_t n;
	int r;

	if (!cluster_is_leader(c))
		return forward(c, "POST", "/v1/cluster/join", req, done, ctx, err);
	if (!c->ca_key_pem)
		return err_msg(err, EPERM, "join: this server has no CA key");
	/* early, not wrong (503: the joiner asks again): the tokens `coop init` printed reach
	 * the model once this first leader has proposed them (propose_init_tokens), and a
	 * leader that just started may not have applied its log yet */
	if (json_object_get(c->cfg, "init_tokens") || !caught_up(c))
		return err_msg(err, EAGAIN, "join: the seed is still applying its log; retry");
	if ((r = join_validate(c, req, &name, &api, &t, err)) < 0)
		return r;
	if (c->change_inflight)
		return err_msg(err, EAGAIN, "join: another membership change is in progress; retry");
	recs = join_records(c->sr.model, &n);
	raft_addr = raft_of_api(api);
	_cleanup_free_ char *ip = xasprintf("%.*s", (int)(strrchr(api, ':') - api), api);
	ips[0] = ip;
	struct pki_names names = { .name = name, .ips = ips };
	r = join_sign(c->ca_pem, c->ca_key_pem, recs, n, json_string_value(json_object_get(req, "token")),
		      t.role, json_string_value(json_object_get(req, "csr")), &names, time(NULL),
		      c->cert_ttl_s, &cert, err);
	if (r < 0)
		return r;
	/* recorded before the reply (this entry precedes the membership change the reply
	 * waits for), so that a `node rm` right after the join revokes it */
	struct pki_cert_info ci;
	if (pki_cert_info(cert, &ci, err) < 0)
		return err_wrap(err, "join");
	_cleanup_json_ json_t *rec = json_pack("{s:s,s:s,s:s,s:I}", "op", "cert.add", "serial",
					       ci.serial, "node", name, "expires_ms",
					       (json_int_t)ci.not_after * 1000);
	if ((r = cluster_write(c, rec, log_done, (void *)"join certificate", err)) < 0)
		return err_wrap(err, "join");

	struct jreq *q = xcalloc(1, sizeof(*q));
	const struct raft_server *s = member_by_addr(&c->raft, raft_addr);
	raft_id max = 0;
	for (unsigned i = 0; i < c->raft.configuration.n; i++)
		if (c->raft.configuration.servers[i].id > max)
			max = c->raft.configuration.servers[i].id;
	q->c = c;
	q->id = s ? s->id : max + 1;
	q->done = done;
	q->ctx = ctx;
	q->change.data = q;
	q->reply = json_pack("{s:s,s:s,s:I,s:s,s:I}", "ca", c->ca_pem, "cert", cert, "raft_id",
			     (json_int_t)q->id, "role", join_role_name(t.role), "cert_ttl_s",
			     (json_int_t)c->cert_ttl_s);
	if (t.role == JOIN_ROLE_SERVER)
		json_object_set_new(q->reply, "ca_key", json_string(c->ca_key_pem));
	c->change_inflight = true;
	log_info("cluster: %s joins as %s (raft id %llu at %s)", name, join_role_name(t.role),
		 (unsigned long long)q->id, raft_addr);
	if (s && s->role != RAFT_SPARE)
		r = 0, jreq_finish(q, 0);
	else if (s)
		r = raft_assign(&c->raft, &q->change, q->id, RAFT_STANDBY, join_assigned);
	else
		r = raft_add(&c->raft, &q->change, q->id, raft_addr, join_added);
	if (r != 0) {
		c->change_inflight = false;
		json_decref(q->reply);
		free(q);
		return err_msg(err, EAGAIN, "join: %s (retry)", raft_strerror(r));
	}
	return 0;
}

/* ---- tokens, node removal ---- */

struct treq {
	char token[JOIN_TOKEN_MAX];
	cluster_done_fn done;
	void *ctx;
};

static void token_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct treq *q = ctx;

	if (status == 0 && json_integer_value(json_object_get(result, "code")) == 0)
		json_object_set_new(result, "token", json_string(q->token));
	q->done(q->ctx, status, result, err);
	explicit_bzero(q->token, sizeof(q->token));
	free(q);
}

int cluster_token_create(struct cluster *c, const char *role, int64_t ttl_s,
			 cluster_done_fn done, void *ctx, struct err *err)
{
	enum join_role jr;
	json_t *cmd = NULL;
	int r;

	if (!role || (!streq(role, "server") && !streq(role, "agent")))
		return err_msg(err, EINVAL, "role: expected server or agent");
	jr = streq(role, "server") ? JOIN_ROLE_SERVER : JOIN_ROLE_AGENT;
	if (ttl_s < 0)
		return err_msg(err, EINVAL, "ttl_s: must not be negative");
	if (!cluster_is_leader(c)) {
		_cleanup_json_ json_t *body = json_pack("{s:s,s:I}", "role", role, "ttl_s",
							(json_int_t)ttl_s);
		return forward(c, "POST", "/v1/tokens/join", body, done, ctx, err);
	}
	struct treq *q = xcalloc(1, sizeof(*q));
	q->done = done;
	q->ctx = ctx;
	if ((r = cl_token_new(c->ca_fp, jr, ttl_s, q->token, &cmd, err)) < 0 ||
	    (r = cluster_write(c, cmd, token_done, q, err)) < 0)
		free(q);
	json_decref(cmd);
	return r;
}

struct rreq {
	struct cluster *c;
	struct raft_change change;
	char *name, *raft_addr;
	json_t *result;
	cluster_done_fn done;
	void *ctx;
};

static void rreq_free(struct rreq *q)
{
	json_decref(q->result);
	free(q->name);
	free(q->raft_addr);
	free(q);
}

static void removed(struct raft_change *req, int status)
{
	struct rreq *q = req->data;
	struct err err = { 0 };

	q->c->change_inflight = false;
	if (status != 0)
		err_msg(&err, EIO, "node '%s' left the model but not Raft: %s", q->name,
			raft_strerror(status));
	q->done(q->ctx, status ? -EIO : 0, status ? NULL : q->result, &err);
	rreq_free(q);
}

static void node_deleted(void *ctx, int status, json_t *result, const struct err *err)
{
	struct rreq *q = ctx;
	struct cluster *c = q->c;
	const struct raft_server *s = member_by_addr(&c->raft, q->raft_addr);
	int rv;

	if (status < 0 || json_integer_value(json_object_get(result, "code")) < 0 || !s ||
	    c->change_inflight || !cluster_is_leader(c)) {
		q->done(q->ctx, status, result, err);
		rreq_free(q);
		return;
	}
	q->result = json_incref(result);
	q->change.data = q;
	rv = raft_remove(&c->raft, &q->change, s->id, removed);
	if (rv != 0) {
		struct err e = { 0 };
		err_msg(&e, EIO, "node '%s' left the model but not Raft: %s", q->name,
			raft_strerror(rv));
		q->done(q->ctx, -EIO, NULL, &e);
		rreq_free(q);
		return;
	}
	c->change_inflight = true;
}

int cluster_node_remove(struct cluster *c, const char *name, bool force, cluster_done_fn done,
			void *ctx, struct err *err)
{
	const struct model_node *n = model_node(c->sr.model, name);
	int r;

	if (!n)
		return err_msg(err, ENOENT, "node '%s' not found", name);
	if (streq(name, c->name))
		return err_msg(err, EINVAL, "node '%s' is this node: remove it from another one",
			       name);
	if (!cluster_is_leader(c)) {
		_cleanup_free_ char *path = xasprintf("/v1/nodes/%s%s", name, force ? "?force=1" : "");
		return forward(c, "DELETE", path, NULL, done, ctx, err);
	}
	struct rreq *q = xcalloc(1, sizeof(*q));
	q->c = c;
	q->name = xstrdup(name);
	q->raft_addr = raft_of_api(n->address);
	q->done = done;
	q->ctx = ctx;
	_cleanup_json_ json_t *cmd = json_pack("{s:s,s:s,s:b}", "op", "node.delete", "name", name,
					       "force", force);
	if ((r = cluster_write(c, cmd, node_deleted, q, err)) < 0)
		rreq_free(q);
	return r;
}

/* ---- status ---- */

json_t *cluster_status(struct cluster *c)
{
	const struct raft_configuration *conf = &c->raft.configuration;
	json_t *members = json_array(), *leader = json_null();
	raft_id lid = 0;
	const char *laddr = NULL;

	raft_leader(&c->raft, &lid, &laddr);
	for (unsigned i = 0; i < conf->n; i++) {
		const struct raft_server *s = &conf->servers[i];
		const struct model_node *n = node_of_member(c, s);
		_cleanup_free_ char *api = api_of_raft(s->address);
		json_t *m = json_pack("{s:I,s:s,s:s,s:s,s:s,s:b}", "id", (json_int_t)s->id, "name",
				      n ? n->name : "", "address", api, "raft_address", s->address,
				      "role", raft_role_name(s->role), "leader", s->id == lid);
		if (n)
			json_object_set_new(m, "state", json_string(model_node_state_name(n->state)));
		json_array_append_new(members, m);
		if (s->id == lid) {
			json_decref(leader);
			leader = json_pack("{s:s,s:s,s:I}", "name", n ? n->name : "", "address", api,
					   "id", (json_int_t)s->id);
		}
	}
	const struct raft_server *me = member_by_addr(&c->raft, c->raft_addr);
	return json_pack("{s:s,s:s,s:s,s:o,s:I,s:I,s:I,s:s,s:o,s:I}", "name", c->name,
			 "role", me ? raft_role_name(me->role) : "joining", "address",
			 c->listen, "leader", leader, "term", (json_int_t)c->raft.current_term,
			 "index", (json_int_t)c->sr.model->index, "commit_index",
			 (json_int_t)c->raft.commit_index, "raft_state",
			 state_name(raft_state(&c->raft)), "members", members, "id",
			 (json_int_t)c->id);
}

/* ---- start and stop ---- */

static int load_config(struct cluster *c, struct err *err)
{
	_cleanup_free_ char *file = cl_path(c->state_dir, "cluster.json");
	_cleanup_free_ char *pki = cl_path(c->state_dir, "pki");
	json_int_t id;
	int r;

	if ((r = js_load_file(file, &c->cfg, err)) < 0)
		return r;
	c->name = xstrdup(json_string_value(json_object_get(c->cfg, "name")) ?: "");
	c->ip = xstrdup(json_string_value(json_object_get(c->cfg, "address")) ?: "");
	c->role = xstrdup(json_string_value(json_object_get(c->cfg, "role")) ?: "agent");
	c->api_port = (unsigned)json_integer_value(json_object_get(c->cfg, "api_port"));
	c->raft_port = (unsigned)json_integer_value(json_object_get(c->cfg, "raft_port"));
	id = json_integer_value(json_object_get(c->cfg, "raft_id"));
	c->bootstrap = json_is_true(json_object_get(c->cfg, "bootstrap"));
	c->cert_ttl_s = json_integer_value(json_object_get(c->cfg, "cert_ttl_s"));
	if (c->cert_ttl_s < PKI_TTL_MIN)
		c->cert_ttl_s = PKI_NODE_TTL;
	if (!*c->name || !*c->ip || !c->api_port || !c->raft_port || id <= 0)
		return err_msg(err, EINVAL, "%s: name, address, api_port, raft_port or raft_id "
					    "missing (remove the cluster dir and init or join again)",
			       file);
	c->id = (raft_id)id;
	c->listen = xasprintf("%s:%u", c->ip, c->api_port);
	c->raft_addr = xasprintf("%s:%u", c->ip, c->raft_port);
	c->ca_file = xasprintf("%s/ca.crt", pki);
	c->cert_file = xasprintf("%s/node.crt", pki);
	c->key_file = xasprintf("%s/node.key", pki);
	c->bundle_file = xasprintf("%s/node.pem", pki);
	c->ca_key_pem = pem_or_null(pki, "ca.key");
	if ((r = pki_read(pki, "ca.crt", &c->ca_pem, err)) < 0 ||
	    (r = pki_read(pki, "node.crt", &c->cert_pem, err)) < 0 ||
	    (r = pki_read(pki, "node.key", &c->key_pem, err)) < 0 ||
	    (r = pki_fingerprint(c->ca_pem, c->ca_fp, err)) < 0 ||
	    (r = bundle_write(c, err)) < 0)
		return err_wrap(err, "cluster certificates");
	cert_state(c);
	return 0;
}

/* One Raft instance per log: two daemons sharing a state dir (with different --run
 * dirs) would interleave their writes. The lock lives as long as the process. */
static int lock_dir(struct cluster *c, struct err *err)
{
	_cleanup_free_ char *path = cl_path(c->state_dir, "raft.lock");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return err_sys(err, errno, "open '%s'", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK)
			return err_msg(err, EBUSY, "another coop daemon runs the cluster state in %s",
				       c->state_dir);
		return err_sys(err, e, "lock '%s'", path);
	}
	c->lock_fd = fd;
	return 0;
}

/* ---- this node's certificate: renewal, and its record in the model ---- */

/* Remembers what the node's certificate is (serial) and when it is due: when less than
 * a third of its life is left (pki_needs_renewal), checked on every tick. */
static void cert_state(struct cluster *c)
{
	struct pki_cert_info ci;
	struct err err = { 0 };

	if (pki_cert_info(c->cert_pem, &ci, &err) < 0) {
		log_warn("cluster: node certificate: %s", err.msg);
		c->serial[0] = '\0';
		c->renew_at = time(NULL) + RENEW_RETRY_S;
		return;
	}
	snprintf(c->serial, sizeof(c->serial), "%s", ci.serial);
	c->renew_at = ci.not_after - (ci.not_after - ci.not_before) / 3 + 1;
}

static int bundle_write(struct cluster *c, struct err *err)
{
	_cleanup_free_ char *both = xasprintf("%s%s", c->cert_pem, c->key_pem);
	int r = fs_write_atomic(c->bundle_file, both, strlen(both), 0600, err);

	explicit_bzero(both, strlen(both));
	return r;
}

/* The new certificate and key go everywhere this node presents them: the Raft
 * transport (connections made from now on), the heartbeat connection (re-made at the
 * next beat), forwarded requests (they read the files each time) and, through
 * on_creds, the API listener. Takes cert and key. */
static void creds_install(struct cluster *c, char *cert, char *key)
{
	struct err err = { 0 };

	free(c->cert_pem);
	free(c->key_pem);
	c->cert_pem = cert;
	c->key_pem = key;
	cert_state(c);
	struct rtls_config tc = { .ca_pem = c->ca_pem, .cert_pem = c->cert_pem,
				  .key_pem = c->key_pem };
	if (c->raft_inited && rtls_set_credentials(&c->transport, &tc, &err) < 0)
		log_warn("cluster: certificate renewal: %s", err.msg);
	/* (on failure forwarding goes on with the old pair, valid until it expires) */
	if (bundle_write(c, &err) < 0)
		log_warn("cluster: certificate renewal: %s", err.msg);
	c->hb_keep_stale = true;
	if (c->on_creds)
		c->on_creds(c->creds_ctx, c->cert_pem, c->key_pem);
	log_info("cluster: node certificate renewed (serial %s, next renewal in %lld s)", c->serial,
		 (long long)(c->renew_at - time(NULL)));
}

/* Servers renew their own certificate (they hold the CA key): at start, and when it is
 * due. */
static void renew_cert(struct cluster *c)
{
	_cleanup_free_ char *pki = cl_path(c->state_dir, "pki");
	const char *ips[2] = { c->ip, NULL };
	struct pki_names names = { .name = c->name, .ips = ips };
	struct err err = { 0 };
	bool renewed = false;

	if (!c->ca_key_pem)
		return;
	if (pki_renew_dir(pki, &names, time(NULL), c->cert_ttl_s, &renewed, &err) < 0) {
		log_warn("cluster: certificate renewal: %s (retried in %d s)", err.msg, RENEW_RETRY_S);
		c->renew_at = time(NULL) + RENEW_RETRY_S;
		return;
	}
	if (!renewed)
		return;
	creds_install(c, pem_or_null(pki, "node.crt"), pem_or_null(pki, "node.key"));
}

static void renew_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct cluster *c = ctx;
	_cleanup_free_ char *pki = cl_path(c->state_dir, "pki");
	_cleanup_free_ char *key = take_ptr(c->renew_key);
	const char *cert = json_string_value(json_object_get(result, "cert"));
	struct pki_cert_info ci;
	struct err e = { 0 };
	int r;

	c->renew_inflight = false;
	if (c->closing)
		return;
	if (status < 0)
		r = err_msg(&e, -status, "%s", err->msg);
	else if (!cert)
		r = err_msg(&e, EPROTO, "the answer has no certificate");
	/* trust nothing we did not ask for: our CA, our key, our name */
	else if ((r = pki_verify(c->ca_pem, cert, time(NULL), &e)) == 0 &&
		 (r = pki_cert_info(cert, &ci, &e)) == 0 && !pki_pair_matches(cert, key))
		r = err_msg(&e, EPROTO, "the new certificate is not for our key");
	else if (r == 0 && !streq(ci.cn, c->name))
		r = err_msg(&e, EPROTO, "the new certificate is for '%s'", ci.cn);
	/* key before certificate: a crash in between leaves a pair that does not match,
	 * which the next start catches (TLS refuses to load it) */
	if (r == 0 && ((r = pki_write(pki, "node.key", key, &e)) < 0 ||
		       (r = pki_write(pki, "node.crt", cert, &e)) < 0))
		log_warn("cluster: certificate renewal: %s", e.msg);
	if (r < 0) {
		log_warn("cluster: certificate renewal: %s (retried in %d s)", e.msg, RENEW_RETRY_S);
		c->renew_at = time(NULL) + RENEW_RETRY_S;
		return;
	}
	creds_install(c, xstrdup(cert), take_ptr(key));
}

/* An agent has no CA key: it sends a CSR to the leader (a server) with its current
 * certificate, which is what the server signs for. */
static void renew_remote(struct cluster *c)
{
	_cleanup_free_ char *key = NULL, *csr = NULL;
	struct err err = { 0 };
	raft_id id = 0;
	const char *addr = NULL;

	raft_leader(&c->raft, &id, &addr);
	if (!id)
		return; /* the next tick, once a leader is known */
	if (pki_key_create(&key, &err) < 0 || pki_csr_create(key, c->name, &csr, &err) < 0) {
		log_warn("cluster: certificate renewal: %s", err.msg);
		c->renew_at = time(NULL) + RENEW_RETRY_S;
		return;
	}
	_cleanup_json_ json_t *body = json_pack("{s:s}", "csr", csr);
	if (forward_keep(c, "POST", "/v1/cluster/renew", body, NULL, renew_done, c, &err) < 0) {
		log_debug("cluster: certificate renewal: %s (retried)", err.msg);
		return;
	}
	c->renew_key = take_ptr(key);
	c->renew_inflight = true;
}

static void renew_tick(struct cluster *c)
{
	if (c->renew_inflight || time(NULL) < c->renew_at)
		return;
	if (c->ca_key_pem)
		renew_cert(c);
	else
		renew_remote(c);
}

static void cert_recorded(void *ctx, int status, json_t *result, const struct err *err)
{
	struct cluster *c = ctx;

	c->cert_rec_inflight = false;
	log_done("certificate record", status, result, err);
}

/* Every node makes sure the model knows its current certificate, so that `node rm`
 * can revoke it: certificates the leader signs are recorded as they are issued, but a
 * server's own (coop init, its renewals) only here. */
static void cert_record(struct cluster *c)
{
	const struct model *m = c->sr.model;
	struct pki_cert_info ci;
	struct err err = { 0 };
	uint64_t now = uv_now(c->loop);

	if (c->cert_rec_inflight || !c->registered || !c->serial[0] || now < c->cert_rec_next_ms ||
	    hmap_get(&m->certs, c->serial) || model_cert_revoked(m, c->serial))
		return;
	c->cert_rec_next_ms = now + CERT_RECORD_RETRY_MS;
	if (pki_cert_info(c->cert_pem, &ci, &err) < 0)
		return;
	_cleanup_json_ json_t *cmd = json_pack("{s:s,s:s,s:s,s:I}", "op", "cert.add", "serial",
					       ci.serial, "node", c->name, "expires_ms",
					       (json_int_t)ci.not_after * 1000);
	if (cluster_write(c, cmd, cert_recorded, c, &err) == 0)
		c->cert_rec_inflight = true;
	else
		log_debug("cluster: certificate record: %s (retried)", err.msg);
}

/* ---- a server's side of renewal, and the checks on peers' certificates ---- */

struct renew_req {
	char *cert;
	cluster_done_fn done;
	void *ctx;
};

static void renew_recorded(void *ctx, int status, json_t *result, const struct err *err)
{
	struct renew_req *q = ctx;
	json_int_t code = json_integer_value(json_object_get(result, "code"));
	struct err e = { 0 };

	if (status < 0)
		q->done(q->ctx, status, NULL, err);
	else if (code < 0) {
		err_msg(&e, (int)-code, "renew: %s",
			json_string_value(json_object_get(result, "message")) ?: "refused");
		q->done(q->ctx, (int)code, NULL, &e);
	} else {
		_cleanup_json_ json_t *out = json_pack("{s:s}", "cert", q->cert);
		q->done(q->ctx, 0, out, NULL);
	}
	free(q->cert);
	free(q);
}

int cluster_renew_request(struct cluster *c, const char *caller_cn, json_t *req,
			  cluster_done_fn done, void *ctx, struct err *err)
{
	const char *csr = json_string_value(json_object_get(req, "csr"));
	const struct model_node *n = caller_cn ? model_node(c->sr.model, caller_cn) : NULL;
	_cleanup_free_ char *cert = NULL, *ip = NULL;
	struct pki_cert_info ci;
	int r;

	if (!caller_cn)
		return err_msg(err, EACCES, "renew: a node certificate is required");
	if (!csr)
		return err_msg(err, EINVAL, "csr: missing required field");
	if (!c->ca_key_pem)
		return err_msg(err, EREMOTE, "renew: node '%s' is an agent without the CA key; ask a server",
			       c->name);
	if (!n)
		return err_msg(err, EACCES, "renew: node '%s' is not a member of the cluster",
			       caller_cn);
	ip = addr_ip(n->address);
	const char *ips[2] = { ip, NULL };
	struct pki_names names = { .name = caller_cn, .ips = ips };
	/* the CSR must name the caller: a node renews its own identity, nobody else's */
	if ((r = pki_csr_sign_ttl(c->ca_pem, c->ca_key_pem, csr, &names, time(NULL), c->cert_ttl_s,
				  &cert, err)) < 0 ||
	    (r = pki_cert_info(cert, &ci, err)) < 0)
		return err_wrap(err, "renew");
	_cleanup_json_ json_t *cmd = json_pack("{s:s,s:s,s:s,s:I}", "op", "cert.add", "serial",
					       ci.serial, "node", caller_cn, "expires_ms",
					       (json_int_t)ci.not_after * 1000);
	struct renew_req *q = xcalloc(1, sizeof(*q));
	q->cert = take_ptr(cert);
	q->done = done;
	q->ctx = ctx;
	if ((r = cluster_write(c, cmd, renew_recorded, q, err)) < 0) {
		free(q->cert);
		free(q);
		return r;
	}
	log_info("cluster: renewed the certificate of '%s' (serial %s)", caller_cn, ci.serial);
	return 0;
}

int cluster_cert_check(struct cluster *c, const char *cn, const char *serial, struct err *err)
{
	if (model_cert_revoked(c->sr.model, serial))
		return err_msg(err, EACCES,
			       "the certificate of node '%s' (serial %s) was revoked when the node "
			       "was removed; join again with a new token",
			       cn ? cn : "?", serial);
	return 0;
}

/* The Raft transport's check of a peer, once its certificate verified against the CA:
 * not revoked; a member of our configuration under that id (unless we have none yet:
 * a node that just joined learns it from the leader); and, when the model knows the
 * node at that member's address, its certificate names that node. */
static int raft_peer_check(void *ctx, const struct rtls_peer *p, struct err *err)
{
	struct cluster *c = ctx;
	const struct raft_configuration *conf = &c->raft.configuration;
	const struct raft_server *s = NULL;
	int r;

	if ((r = cluster_cert_check(c, p->cn, p->serial, err)) < 0)
		return r;
	for (unsigned i = 0; i < conf->n; i++)
		if (conf->servers[i].id == p->id)
			s = &conf->servers[i];
	if (!s)
		return conf->n == 0 ? 0
				    : err_msg(err, EACCES, "raft id %llu (%s, certificate of '%s') is not a member",
					      (unsigned long long)p->id, p->address, p->cn);
	if (!streq(s->address, p->address))
		return err_msg(err, EACCES, "raft id %llu is at %s, not %s (certificate of '%s')",
			       (unsigned long long)p->id, s->address, p->address, p->cn);
	const struct model_node *n = node_of_member(c, s);
	if (n && !streq(n->name, p->cn))
		return err_msg(err, EACCES, "raft id %llu is node '%s', but its certificate names '%s'",
			       (unsigned long long)p->id, n->name, p->cn);
	return 0;
}

static int start_raft(struct cluster *c, struct err *err)
{
	_cleanup_free_ char *dir = cl_path(c->state_dir, "raft");
	struct rtls_config tc = { .ca_pem = c->ca_pem, .cert_pem = c->cert_pem,
				  .key_pem = c->key_pem };
	int rv, r;

	if ((r = fs_mkdir_p(dir, 0700, err)) < 0 || (r = lock_dir(c, err)) < 0)
		return r;
	if ((r = rtls_init(&c->transport, c->loop, &tc, err)) < 0)
		return r;
	rtls_set_peer_check(&c->transport, raft_peer_check, c);
	if ((rv = raft_uv_init(&c->io, c->loop, dir, &c->transport)) != 0)
		return err_msg(err, EIO, "raft: %s: %s", dir, c->io.errmsg);
	raft_uv_set_connect_retry_delay(&c->io, 200);
	if ((r = sraft_init(&c->sr, err)) < 0)
		return r;
	sraft_use_io(&c->sr, &c->io); /* snapshots encoded off the loop */
	c->sr.on_apply = on_apply;
	c->sr.data = c;
	if ((rv = raft_init(&c->raft, &c->io, &c->sr.fsm, c->id, c->raft_addr)) != 0)
		return err_msg(err, EIO, "raft: %s", raft_errmsg(&c->raft));
	c->raft_inited = true;
	sraft_attach(&c->sr, &c->raft);
	raft_set_election_timeout(&c->raft, ELECTION_MS);
	raft_set_heartbeat_timeout(&c->raft, RAFT_HEARTBEAT_MS);
	/* a node back from a partition asks before it campaigns: it cannot depose a
	 * healthy leader with a higher term */
	raft_set_pre_vote(&c->raft, true);
	/* staggered by Raft id: voters that apply the same log would otherwise all stop
	 * their loops to copy the model at the same index (tens of ms each, far more on a
	 * loaded machine), and a majority stalled at once costs the leadership */
	raft_set_snapshot_threshold(&c->raft, 4096 + (unsigned)(c->id % 5) * 400);
	raft_set_snapshot_trailing(&c->raft, 1024);
	if (c->bootstrap) {
		struct raft_configuration conf;
		raft_configuration_init(&conf);
		raft_configuration_add(&conf, c->id, c->raft_addr, RAFT_VOTER);
		rv = raft_bootstrap(&c->raft, &conf);
		raft_configuration_close(&conf);
		if (rv != 0 && rv != RAFT_CANTBOOTSTRAP)
			return err_msg(err, EIO, "raft bootstrap: %s", raft_errmsg(&c->raft));
		json_object_del(c->cfg, "bootstrap");
		if ((r = cl_config_write(c->state_dir, c->cfg, err)) < 0)
			return r;
	}
	if ((rv = raft_start(&c->raft)) != 0)
		return err_msg(err, EIO, "raft start (%s): %s%s%s", dir, raft_strerror(rv),
			       *raft_errmsg(&c->raft) ? ": " : "", raft_errmsg(&c->raft));
	return 0;
}

int cluster_start(const struct cluster_config *cfg, struct cluster **ret, struct err *err)
{
	struct cluster *c = xcalloc(1, sizeof(*c));
	int r;

	c->loop = cfg->loop;
	c->agent = cfg->agent;
	c->state_dir = xstrdup(cfg->state_dir);
	c->labels = cfg->labels ? json_deep_copy(cfg->labels) : NULL;
	c->lock_fd = -1;
	c->local = json_object();
	c->reports = json_object();
	uv_timer_init(c->loop, &c->tick);
	uv_timer_init(c->loop, &c->kick);
	c->tick.data = c->kick.data = c;
	c->handles = 2;
	c->on_creds = cfg->on_creds;
	c->creds_ctx = cfg->creds_ctx;
	/* a server renews a due certificate before anything presents it; an agent asks
	 * a server once a leader is known */
	if ((r = load_config(c, err)) == 0 && time(NULL) >= c->renew_at)
		renew_cert(c);
	if (r < 0 || (r = start_raft(c, err)) < 0) {
		cluster_stop(c, NULL, NULL);
		return r;
	}
	agent_set_task_cb(c->agent, on_task, c);
	/* what the agent runs for the cluster from before a restart: the first sync keeps
	 * what is still placed here and removes the rest (tasks moved while we were away) */
	_cleanup_json_ json_t *ws = agent_workloads(c->agent);
	size_t i;
	json_t *w;
	json_array_foreach (ws, i, w)
		if (json_is_true(json_object_get(w, "assigned")) &&
		    json_is_string(json_object_get(w, "name")))
			json_object_set_new(c->local, json_string_value(json_object_get(w, "name")),
					    json_true());
	uv_timer_start(&c->tick, on_tick, TICK_MS, TICK_MS);
	/* what was placed here before a restart runs again at once */
	kick_arm(c);
	*ret = c;
	return 0;
}

static void cluster_free(struct cluster *c)
{
	size_t i = 0;
	const char *k;
	void *v;

	while (c->listeners) /* listeners that outlive the cluster: removal is a no-op */
		cluster_unlisten_applies(c->listeners);

	while (hmap_next(&c->beats, &i, &k, &v))
		free(v);
	i = 0;
	while (hmap_next(&c->beats, &i, &k, &v))
		free((char *)k);
	hmap_free(&c->beats);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	if (c->sr.model)
		sraft_close(&c->sr);
	json_decref(c->cfg);
	json_decref(c->labels);
	api_client_free(c->hb_keep.client);
	free(c->hb_keep.endpoint);
	json_decref(c->local);
	json_decref(c->net);
	json_decref(c->reports);
	free(c->state_dir);
	free(c->name);
	free(c->ip);
	free(c->role);
	free(c->raft_addr);
	free(c->listen);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->bundle_file);
	free(c->ca_pem);
	free(c->ca_key_pem);
	free(c->cert_pem);
	free(c->key_pem);
	free(c->last_unplaced);
	free(c->renew_key);
	free(c);
}

static void cluster_maybe_done(struct cluster *c)
{
	if (!c->closing || c->handles || c->works)
		return;
	void (*done)(void *) = c->done;
	void *ctx = c->done_ctx;
	cluster_free(c);
	if (done)
		done(ctx);
}

static void handle_closed(uv_handle_t *h)
{
	struct cluster *c = h->data;

	c->handles--;
	cluster_maybe_done(c);
}

static void raft_closed(struct raft *r)
{
	struct cluster *c = r->data;

	raft_uv_close(&c->io);
	rtls_free(&c->transport);
	c->handles--;
	cluster_maybe_done(c);
}

static void quiet_done(void *ctx, int status, json_t *result, const struct err *err)
{
	if (status < 0)
		log_debug("cluster: last heartbeat: %s", err->msg);
}

void cluster_stop(struct cluster *c, void (*done)(void *ctx), void *ctx)
{
	if (c->closing)
		return;
	/* a stop on purpose (SIGTERM) is most often a restart: the leader holds this
	 * node's tasks for RESTART_GRACE_MS instead of moving them after 1 s (a kill or a
	 * dead host sends nothing and fails over as usual) */
	if (c->raft_inited && !cluster_is_leader(c)) {
		struct err err = { 0 };
		_cleanup_json_ json_t *body = json_pack("{s:s,s:b}", "name", c->name, "restarting", 1);
		if (forward_keep(c, "POST", "/v1/cluster/heartbeat", body, NULL, quiet_done, c,
				 &err) < 0)
			log_debug("cluster: last heartbeat: %s", err.msg);
	}
	c->closing = true;
	c->done = done;
	c->done_ctx = ctx;
	if (c->agent)
		agent_set_task_cb(c->agent, NULL, NULL);
	uv_close((uv_handle_t *)&c->tick, handle_closed);
	uv_close((uv_handle_t *)&c->kick, handle_closed);
	if (c->raft_inited) {
		c->handles++;
		c->raft.data = c;
		raft_close(&c->raft, raft_closed);
	}
	cluster_maybe_done(c);
}
