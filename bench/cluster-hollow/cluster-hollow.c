/* cluster-hollow: the control plane through the real log. Three libraft voters
 * (raft_uv: segments and fsync on disk; raft_uv_tcp: plain TCP on 127.0.0.1) each in its
 * own process — so the leader's RSS is its own and the leader has a core to itself as a
 * daemon would — with the daemon's Raft settings. The leader process drives: 1,000
 * hollow nodes register (node.register), 1,000 workloads of 100 replicas are put
 * (workload.put), sched_reconcile plans over the model as the daemon's leader does, the
 * plan is committed as task.place batches of FSM_MAX_BATCH, hollow agents report every
 * task running (task.status batches), and then single small writes arrive at 20/s for a
 * while (node.label and one-task task.status, alternating), each timed from propose to
 * applied on the leader. Everything goes through sraft_propose (fsm_validate, padding to
 * 8 bytes, raft_apply) and fsm_apply on all three replicas. No HTTP, no TLS.
 *
 * Then a snapshot of the whole model: the followers are restarted with the daemon's
 * election timeout, every voter is told to take one at its next apply (the followers
 * by SIGUSR1), the churn goes on for SNAP_S seconds, and the leader measures the time its
 * loop spends in the fsm's snapshot callback, the encoding, the snapshot's size, the
 * longest stall of its loop (a 1 ms timer), its peak RSS meanwhile (VmHWM after
 * clear_refs), the writes' latency, and whether it stays leader in the same term.
 * Follower 3 is then killed and restarted on its own data (load + restore of its
 * snapshot), and again on an empty directory (the leader sends it the snapshot:
 * InstallSnapshot). The followers report their figures through a pipe.
 * Built and run by bench/cluster-hollow/run, which prints the report.
 *
 *   cluster-hollow [-n NODES] [-w WORKLOADS] [-r REPLICAS] [-c CHURN_S] [-p PORT]
 *                  [-e ELECTION_MS] [-b BATCHES] [-S] [-A] [-N] [-g STAGGER] -d DIR
 *
 * -e: the leader's election timeout while loading (default 800 ms; a leader whose loop
 * is busy for longer than that loses its leadership; the snapshot phase uses the
 * daemon's 600 ms on every voter); -b: task.place / task.status
 * batches in flight (default 2); -S: snapshots encoded on the loop (libraft fsm
 * version 1, as coop did before), for comparison with the default (version 3: the loop
 * copies the model, a worker thread encodes it); -A: every voter snapshots at the same
 * index (the daemon staggers them by Raft id; here each follower -g entries (default
 * 40: 2 s of churn) after
 * the one before); -N: the same phase without any snapshot (a control: does the
 * leadership hold on this machine at the daemon's timeout at all?). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "base/util.h"
#include "cluster/plan.h"
#include "sched/sched.h"
#include "state/fsm.h"
#include "state/raft.h"

#define N_VOTERS 3
#define ELECTION_MS 800	    /* while loading: 10,000-entry batches on a busy machine */
#define DAEMON_ELECTION_MS 600 /* the daemon's (cluster/cluster.c), for the snapshot */
#define HEARTBEAT_MS 100
#define WINDOW 64	 /* single commands in flight while loading */
#define CHURN_PER_S 20
/* Voter i snapshots (i-1)*opt.stagger entries after the leader, as the daemon staggers
 * its voters' thresholds by Raft id (-A: all at the same index, the worst case); the
 * churn goes on until the last has had 6 s to store its snapshot. */
#define SNAP_S (6 + 2 * opt.stagger / CHURN_PER_S)

static struct {
	unsigned nodes, workloads, replicas, churn_s, port, election_ms, batch_window;
	const char *dir;
	bool sync_snapshots, all_at_once, no_snapshot;
	unsigned stagger;
} opt = { 1000, 1000, 100, 30, 29100, ELECTION_MS, 2, NULL, false, false, false, 40 };

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long status_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return v;
}

/* ---- one voter ---- */

struct voter {
	uv_loop_t loop;
	struct raft_uv_transport transport;
	struct raft_io io;
	struct raft raft;
	struct sraft sr;
	double start_ms; /* raft_start: loading the log and restoring a snapshot */
	unsigned id;
	uv_signal_t usr1;
	uv_timer_t watch;
	unsigned snapshots_seen, restores_seen;
	bool reported_caught_up;
};

static int report_fd = -1; /* followers -> leader: one line per figure */

static pid_t kids[N_VOTERS + 1];

/* The followers go with the leader, however it ends. */
static void kill_kids(void)
{
	for (unsigned id = 2; id <= N_VOTERS; id++)
		if (kids[id] > 0) {
			kill(kids[id], SIGKILL);
			waitpid(kids[id], NULL, 0);
			kids[id] = 0;
		}
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "cluster-hollow: %s: %s\n", what, msg);
	exit(1);
}

static void voter_start(struct voter *v, unsigned id, unsigned election_ms, const char *subdir)
{
	char dir[4096], addr[64];
	struct raft_configuration conf;
	struct err err = { 0 };
	int rv;

	snprintf(dir, sizeof(dir), "%s/%s", opt.dir, subdir);
	mkdir(dir, 0700);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", opt.port + id);
	uv_loop_init(&v->loop);
	if ((rv = raft_uv_tcp_init(&v->transport, &v->loop)) != 0)
		die("raft_uv_tcp_init", raft_strerror(rv));
	if ((rv = raft_uv_init(&v->io, &v->loop, dir, &v->transport)) != 0)
		die("raft_uv_init", raft_strerror(rv));
	raft_uv_set_connect_retry_delay(&v->io, 200);
	if (sraft_init(&v->sr, &err) < 0)
		die("sraft_init", err.msg);
	sraft_use_io(&v->sr, &v->io);
	if (opt.sync_snapshots)
		sraft_snapshot_sync(&v->sr);
	if ((rv = raft_init(&v->raft, &v->io, &v->sr.fsm, id, addr)) != 0)
		die("raft_init", raft_strerror(rv));
	sraft_attach(&v->sr, &v->raft);
	raft_set_election_timeout(&v->raft, election_ms);
	raft_set_heartbeat_timeout(&v->raft, HEARTBEAT_MS);
	raft_set_pre_vote(&v->raft, true); /* as the daemon */
	raft_set_snapshot_threshold(&v->raft, 4096);
	raft_set_snapshot_trailing(&v->raft, 1024);
	raft_configuration_init(&conf);
	for (unsigned i = 1; i <= N_VOTERS; i++) {
		char a[64];
		snprintf(a, sizeof(a), "127.0.0.1:%u", opt.port + i);
		raft_configuration_add(&conf, i, a, RAFT_VOTER);
	}
	if ((rv = raft_bootstrap(&v->raft, &conf)) != 0 && rv != RAFT_CANTBOOTSTRAP)
		die("raft_bootstrap", raft_strerror(rv)); /* CANTBOOTSTRAP: a restart */
	raft_configuration_close(&conf);
	double t0 = now_ms();
	if ((rv = raft_start(&v->raft)) != 0)
		die("raft_start", raft_strerror(rv));
	v->start_ms = now_ms() - t0;
}

/* ---- the driver: commands, in flight at most `window` at a time ---- */

struct driver;
struct pending {
	struct sraft_propose req;
	struct driver *d;
	double t0;
	bool timed;
};

struct driver {
	struct voter *v;
	json_t **cmds; /* to propose, in order */
	size_t n_cmds, next, done, window, inflight, refused;
	uv_timer_t timer;
	double lat[1 << 16];
	size_t n_lat;
	bool churn; /* single timed writes: the churn timer ends the run */
	bool churn_over;
	size_t lost; /* writes not committed (leadership lost), counted in the snapshot phase */
	bool tolerate_loss;
};

static void pump(struct driver *d);

static void on_done(struct sraft_propose *req, int status, const struct fsm_result *res)
{
	struct pending *p = req->data;
	struct driver *d = p->d;
	if (status < 0 && !d->tolerate_loss) /* the rest of the run would miss its work */
		die("commit", "a command was not committed: the leader lost its leadership (its "
			      "loop was busy longer than the election timeout: try -b 1 or a "
			      "larger -e)");
	if (status < 0 && d->tolerate_loss)
		d->lost++;
	if ((status < 0 && !d->tolerate_loss) || (status == 0 && res->code < 0)) {
		d->refused++;
		fprintf(stderr, "cluster-hollow: command %zu: %s\n", d->done,
			status < 0 ? "not committed" : res->msg);
	}
	if (p->timed && d->n_lat < ARRAY_SIZE(d->lat))
		d->lat[d->n_lat++] = now_ms() - p->t0;
	d->done++;
	d->inflight--;
	free(p);
	pump(d);
}

static void pump(struct driver *d)
{
	while (d->inflight < d->window && d->next < d->n_cmds) {
		struct pending *p = xcalloc(1, sizeof(*p));
		struct err err = { 0 };
		json_t *cmd = d->cmds[d->next];
		p->d = d;
		p->req.data = p;
		p->t0 = now_ms();
		if (sraft_propose(&d->v->sr, &p->req, cmd, on_done, &err) < 0)
			die("propose", err.msg);
		json_decref(cmd);
		d->cmds[d->next++] = NULL;
		d->inflight++;
	}
	if (d->churn ? d->churn_over && d->inflight == 0 : d->done == d->n_cmds)
		uv_stop(&d->v->loop);
}

/* Proposes cmds (taken) and runs the loop until all are applied; returns the ms taken. */
static double run_cmds(struct driver *d, json_t **cmds, size_t n, size_t window)
{
	double t0 = now_ms();
	d->cmds = cmds;
	d->n_cmds = n;
	d->next = d->done = d->inflight = 0;
	d->window = window;
	pump(d);
	if (d->done < n)
		uv_run(&d->v->loop, UV_RUN_DEFAULT);
	return now_ms() - t0;
}

static void on_poll(uv_timer_t *t)
{
	struct voter *v = t->data;
	if (raft_state(&v->raft) == RAFT_LEADER)
		uv_stop(&v->loop);
}

static void on_settled(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Runs the loop for ms: the followers finish applying the big batches before the
 * churn is timed (steady state, not the tail of the load). */
static void settle(struct voter *v, unsigned ms)
{
	uv_timer_t t;
	uv_timer_init(&v->loop, &t);
	uv_timer_start(&t, on_settled, ms, 0);
	uv_run(&v->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&v->loop, UV_RUN_NOWAIT);
}

static void wait_leader(struct voter *v)
{
	uv_timer_t t;
	uv_timer_init(&v->loop, &t);
	t.data = v;
	uv_timer_start(&t, on_poll, 10, 10);
	uv_run(&v->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&t);
	uv_close((uv_handle_t *)&t, NULL);
}

/* ---- the hollow cluster's commands ---- */

static const char *zones[] = { "z0", "z1", "z2", "z3", "z4" };

static json_t **node_cmds(void)
{
	json_t **c = xcalloc(opt.nodes, sizeof(*c));
	for (unsigned i = 0; i < opt.nodes; i++) {
		char name[32], addr[32];
		snprintf(name, sizeof(name), "hollow-%05u", i);
		snprintf(addr, sizeof(addr), "10.%u.%u.%u:7443", i >> 16 & 255, i >> 8 & 255, i & 255);
		c[i] = json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s},s:{s:I,s:I}}", "op", "node.register",
				 "name", name, "address", addr, "role", "agent", "labels", "zone",
				 zones[i % 5], "disk", i % 2 ? "ssd" : "hdd", "capacity", "cpu_milli",
				 (json_int_t)32000, "memory", (json_int_t)128 << 30);
	}
	return c;
}

static json_t **workload_cmds(void)
{
	static const int cpus[] = { 50, 100, 200 }, mems[] = { 128, 256, 512 };
	json_t **c = xcalloc(opt.workloads, sizeof(*c));
	for (unsigned i = 0; i < opt.workloads; i++) {
		char name[32];
		snprintf(name, sizeof(name), "wl-%05u", i);
		json_t *spec = json_pack("{s:s,s:s,s:{s:i,s:i},s:{s:i,s:I}}", "name", name, "image",
					 "docker.io/library/nginx:1.27", "replicas", "min",
					 (int)opt.replicas, "max", (int)opt.replicas, "resources",
					 "cpu", cpus[i % 3], "memory", (json_int_t)mems[i / 3 % 3] << 20);
		if (i % 5 == 0) /* a fifth want ssd */
			json_object_set_new(spec, "placement",
					    json_pack("{s:[s]}", "constraints", "disk==ssd"));
		c[i] = json_pack("{s:s,s:s,s:o}", "op", "workload.put", "name", name, "spec", spec);
	}
	return c;
}

/* The plan as task.place commands of at most FSM_MAX_BATCH placements. */
static json_t **place_cmds(const struct sched_plan *p, size_t *ret_n)
{
	size_t n = (p->n_placements + FSM_MAX_BATCH - 1) / FSM_MAX_BATCH;
	json_t **c = xcalloc(n + 1, sizeof(*c));
	for (size_t i = 0; i < p->n_placements; i++) {
		const struct sched_placement *pl = &p->placements[i];
		if (i % FSM_MAX_BATCH == 0)
			c[i / FSM_MAX_BATCH] = json_pack("{s:s,s:[]}", "op", "task.place", "placements");
		json_array_append_new(json_object_get(c[i / FSM_MAX_BATCH], "placements"),
				      json_pack("{s:s,s:i,s:s,s:i}", "workload", pl->workload,
						"replica", (int)pl->replica, "node", pl->node,
						"generation", 0));
	}
	*ret_n = n;
	return c;
}

/* Every placed task reported running by its hollow agent, FSM_MAX_BATCH per command. */
static json_t **status_cmds(const struct model *m, size_t *ret_n)
{
	size_t i = 0, k = 0, n = (m->tasks.len + FSM_MAX_BATCH - 1) / FSM_MAX_BATCH;
	json_t **c = xcalloc(n + 1, sizeof(*c));
	const char *key;
	void *val;
	while (hmap_next(&m->tasks, &i, &key, &val)) {
		const struct model_task *t = val;
		char ctr[24], ip[24];
		snprintf(ctr, sizeof(ctr), "c%015zx", k);
		snprintf(ip, sizeof(ip), "10.200.%zu.%zu", k >> 8 & 255, k & 255);
		if (k % FSM_MAX_BATCH == 0)
			c[k / FSM_MAX_BATCH] = json_pack("{s:s,s:[]}", "op", "task.status", "reports");
		json_array_append_new(json_object_get(c[k / FSM_MAX_BATCH], "reports"),
				      json_pack("{s:s,s:I,s:s,s:s,s:s,s:s}", "task", t->id,
						"generation", (json_int_t)t->generation, "node",
						t->node, "state", "running", "container", ctr, "ip",
						ip));
		k++;
	}
	*ret_n = n;
	return c;
}

/* ---- churn: single small writes at CHURN_PER_S, timed ---- */

struct churn {
	struct driver *d;
	uv_timer_t timer;
	unsigned sent, total;
	const struct model_task **tasks;
	size_t n_tasks;
	/* the snapshot phase's timeline, ms from its start (0: not seen) */
	double t0, stored_at, lost_at;
};

static void on_churn(uv_timer_t *t)
{
	struct churn *ch = t->data;
	struct driver *d = ch->d;
	struct err err = { 0 };
	json_t *cmd;
	char name[32];

	if (ch->t0 && !ch->stored_at && d->v->sr.n_snapshots)
		ch->stored_at = now_ms() - ch->t0;
	if (ch->t0 && !ch->lost_at && raft_state(&d->v->raft) != RAFT_LEADER)
		ch->lost_at = now_ms() - ch->t0;
	if (ch->sent == ch->total) {
		uv_timer_stop(t);
		d->churn_over = true;
		if (d->inflight == 0)
			uv_stop(&d->v->loop);
		return;
	}
	unsigned i = ch->sent++;
	if (i % 2 == 0) {
		snprintf(name, sizeof(name), "hollow-%05u", (i * 7919) % opt.nodes);
		cmd = json_pack("{s:s,s:s,s:{s:s}}", "op", "node.label", "name", name, "set", "churn",
				i % 4 ? "a" : "b");
	} else {
		const struct model_task *tk = ch->tasks[(i * 104729) % ch->n_tasks];
		cmd = json_pack("{s:s,s:[{s:s,s:I,s:s,s:s}]}", "op", "task.status", "reports", "task",
				tk->id, "generation", (json_int_t)tk->generation, "node", tk->node,
				"state", "running");
	}
	struct pending *p = xcalloc(1, sizeof(*p));
	p->d = d;
	p->req.data = p;
	p->t0 = now_ms();
	p->timed = true;
	if (sraft_propose(&d->v->sr, &p->req, cmd, on_done, &err) < 0) {
		if (!d->tolerate_loss)
			die("churn propose", err.msg);
		d->lost++; /* not the leader any more */
		free(p);
		json_decref(cmd);
		return;
	}
	json_decref(cmd);
	d->inflight++;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	return n ? v[(size_t)(p * (n - 1) + 0.5)] : 0;
}

/* ---- the snapshot phase: the followers' reports, a loop-stall meter ---- */

struct freport {
	double snap_loop_ms, snap_encode_ms;
	size_t snap_bytes;
	bool snapped, started, restored, caught_up;
	double start_ms, restore_ms, caught_up_at;
	unsigned start_restores;
	long restore_hwm_kib;
};

static struct freport freports[N_VOTERS + 1];
static char rbuf[4096];
static size_t rlen;

static void parse_report(char *line)
{
	unsigned id = 0;
	char kind[16];
	int off = 0;
	if (sscanf(line, "%u %15s %n", &id, kind, &off) < 2 || id < 2 || id > N_VOTERS)
		return;
	struct freport *f = &freports[id];
	const char *rest = line + off;
	if (strcmp(kind, "snapshot") == 0 &&
	    sscanf(rest, "%lf %lf %zu", &f->snap_loop_ms, &f->snap_encode_ms, &f->snap_bytes) == 3)
		f->snapped = true;
	else if (strcmp(kind, "started") == 0 &&
		 sscanf(rest, "%lf %u %lf", &f->start_ms, &f->start_restores, &f->restore_ms) == 3)
		f->started = true;
	else if (strcmp(kind, "restore") == 0 &&
		 sscanf(rest, "%lf %ld", &f->restore_ms, &f->restore_hwm_kib) == 2)
		f->restored = true;
	else if (strcmp(kind, "caught_up") == 0) {
		f->caught_up = true;
		f->caught_up_at = now_ms();
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	buf->base = rbuf + rlen;
	buf->len = sizeof(rbuf) - rlen - 1;
}

static void on_report(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	if (n <= 0)
		return;
	rlen += n;
	rbuf[rlen] = 0;
	char *nl;
	while ((nl = strchr(rbuf, '\n'))) {
		*nl = 0;
		parse_report(rbuf);
		memmove(rbuf, nl + 1, rlen - (nl + 1 - rbuf) + 1);
		rlen -= nl + 1 - rbuf;
	}
}

struct until {
	uv_timer_t t;
	bool (*cond)(struct voter *v);
	struct voter *v;
	double deadline;
};

static void on_until(uv_timer_t *t)
{
	struct until *u = t->data;
	if (u->cond(u->v) || now_ms() > u->deadline)
		uv_stop(t->loop);
}

/* Runs the leader's loop until cond holds (checked every 10 ms) or timeout_ms pass. */
static bool run_until(struct voter *v, bool (*cond)(struct voter *v), unsigned timeout_ms)
{
	struct until u = { .cond = cond, .v = v, .deadline = now_ms() + timeout_ms };
	uv_timer_init(&v->loop, &u.t);
	u.t.data = &u;
	uv_timer_start(&u.t, on_until, 10, 10);
	uv_run(&v->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&u.t, NULL);
	uv_run(&v->loop, UV_RUN_NOWAIT);
	return cond(v);
}

static bool all_snapped(struct voter *v)
{
	return v->sr.n_snapshots > 0 && freports[2].snapped && freports[3].snapped;
}
static bool f3_caught_up(struct voter *v)
{
	return freports[3].caught_up;
}

static bool f2_caught_up(struct voter *v)
{
	return freports[2].caught_up;
}

/* The longest gap between two runs of a 1 ms timer: how long the loop was blocked. */
struct meter {
	uv_timer_t t;
	uint64_t last;
	double max_ms;
};

static void on_meter(uv_timer_t *t)
{
	struct meter *mt = t->data;
	uint64_t now = uv_hrtime();
	if (mt->last && (now - mt->last) / 1e6 > mt->max_ms)
		mt->max_ms = (now - mt->last) / 1e6;
	mt->last = now;
}

static void meter_start(struct voter *v, struct meter *mt)
{
	memset(mt, 0, sizeof(*mt));
	uv_timer_init(&v->loop, &mt->t);
	mt->t.data = mt;
	uv_timer_start(&mt->t, on_meter, 1, 1);
}

static void meter_stop(struct meter *mt)
{
	uv_timer_stop(&mt->t);
	uv_close((uv_handle_t *)&mt->t, NULL);
}

static void follower(unsigned id, const char *subdir, bool restarted);

static pid_t spawn_follower(unsigned id, const char *subdir, bool restarted)
{
	pid_t pid = fork();
	if (pid == 0)
		follower(id, subdir, restarted);
	if (pid < 0)
		die("fork", strerror(errno));
	return pid;
}

static void kill_follower(unsigned id)
{
	kill(kids[id], SIGKILL);
	waitpid(kids[id], NULL, 0);
	kids[id] = 0;
	memset(&freports[id], 0, sizeof(freports[id]));
}

/* ---- main ---- */

static void report(unsigned id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(unsigned id, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n = snprintf(line, sizeof(line), "%u ", id);

	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	if (write(report_fd, line, n) != n)
		die("report", strerror(errno));
}

/* Snapshot at the next apply: the threshold is what the log holds now, plus one. */
static void snapshot_soon(struct voter *v)
{
	raft_set_snapshot_threshold(&v->raft, (unsigned)(raft_last_applied(&v->raft) + 1));
}

/* A follower: SIGUSR1 = take a snapshot soon and use the daemon's election timeout. */
static void on_usr1(uv_signal_t *h, int sig)
{
	struct voter *v = h->data;
	raft_set_election_timeout(&v->raft, DAEMON_ELECTION_MS);
	if (opt.no_snapshot)
		return;
	snapshot_soon(v);
	if (!opt.all_at_once)
		raft_set_snapshot_threshold(&v->raft, v->raft.snapshot.threshold +
							  (v->id - 1) * opt.stagger);
}

/* A follower reports each snapshot and restore it completes, and when it has caught up
 * after a restart. */
static void on_watch(uv_timer_t *t)
{
	struct voter *v = t->data;
	if (v->sr.n_snapshots > v->snapshots_seen) {
		v->snapshots_seen = v->sr.n_snapshots;
		raft_set_snapshot_threshold(&v->raft, 1u << 30); /* one is enough */
		report(v->id, "snapshot %.1f %.1f %zu", v->sr.snapshot_loop_ms,
		       v->sr.snapshot_encode_ms, v->sr.snapshot_bytes);
	}
	if (v->sr.n_restores > v->restores_seen) {
		v->restores_seen = v->sr.n_restores;
		report(v->id, "restore %.1f %ld", v->sr.restore_ms, status_kib(getpid(), "VmHWM:"));
	}
	if (!v->reported_caught_up && v->sr.model->tasks.len && v->raft.commit_index &&
	    raft_last_applied(&v->raft) >= v->raft.commit_index) {
		v->reported_caught_up = true;
		report(v->id, "caught_up %llu", (unsigned long long)raft_last_applied(&v->raft));
	}
}

static void follower(unsigned id, const char *subdir, bool restarted)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the leader process */
	struct voter *v = xcalloc(1, sizeof(*v));
	v->id = id;
	v->reported_caught_up = !restarted;
	/* a long election timeout: voter 1 wins the first election and keeps leading even
	 * while it spends a second in sched_reconcile (SIGUSR1 sets the daemon's) */
	voter_start(v, id, restarted ? DAEMON_ELECTION_MS : 10 * ELECTION_MS * 4, subdir);
	raft_set_snapshot_threshold(&v->raft, 1u << 30);
	if (restarted)
		report(id, "started %.1f %u %.1f", v->start_ms, v->sr.n_restores, v->sr.restore_ms);
	v->restores_seen = v->sr.n_restores;
	uv_signal_init(&v->loop, &v->usr1);
	v->usr1.data = v;
	uv_signal_start(&v->usr1, on_usr1, SIGUSR1);
	uv_timer_init(&v->loop, &v->watch);
	v->watch.data = v;
	uv_timer_start(&v->watch, on_watch, 20, 20);
	uv_run(&v->loop, UV_RUN_DEFAULT);
	exit(0);
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "n:w:r:c:p:d:e:b:SANg:")) != -1) {
		switch (c) {
		case 'n': opt.nodes = atoi(optarg); break;
		case 'w': opt.workloads = atoi(optarg); break;
		case 'r': opt.replicas = atoi(optarg); break;
		case 'c': opt.churn_s = atoi(optarg); break;
		case 'p': opt.port = atoi(optarg); break;
		case 'd': opt.dir = optarg; break;
		case 'e': opt.election_ms = atoi(optarg); break;
		case 'b': opt.batch_window = atoi(optarg); break;
		case 'S': opt.sync_snapshots = true; break;
		case 'A': opt.all_at_once = true; break;
		case 'N': opt.no_snapshot = true; break;
		case 'g': opt.stagger = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: cluster-hollow [-n NODES] [-w WORKLOADS] [-r REPLICAS] "
					"[-c CHURN_S] [-p PORT] [-e ELECTION_MS] [-b BATCHES] [-S] [-A] [-N] [-g STAGGER] -d DIR\n");
			return 2;
		}
	}
	if (!opt.dir)
		die("-d", "a directory for the three voters' logs is required");
	signal(SIGPIPE, SIG_IGN);
	int fds[2];
	if (pipe(fds) < 0)
		die("pipe", strerror(errno));
	report_fd = fds[1];
	for (unsigned id = 2; id <= N_VOTERS; id++) {
		char sub[16];
		snprintf(sub, sizeof(sub), "%u", id);
		kids[id] = spawn_follower(id, sub, false);
	}
	atexit(kill_kids);
	alarm(900); /* a hung run ends (and its followers with it) */

	struct voter *v = xcalloc(1, sizeof(*v));
	struct driver *d = xcalloc(1, sizeof(*d));
	d->v = v;
	voter_start(v, 1, opt.election_ms, "1");
	uv_pipe_t rpipe;
	uv_pipe_init(&v->loop, &rpipe, 0);
	uv_pipe_open(&rpipe, fds[0]);
	uv_read_start((uv_stream_t *)&rpipe, on_alloc, on_report);
	double t = now_ms();
	wait_leader(v);
	fprintf(stderr, "leader elected in %.0f ms\n", now_ms() - t);

	const struct model *m;
	double t_nodes = run_cmds(d, node_cmds(), opt.nodes, WINDOW);
	fprintf(stderr, "%u nodes registered in %.0f ms\n", opt.nodes, t_nodes);
	double t_wls = run_cmds(d, workload_cmds(), opt.workloads, WINDOW);
	fprintf(stderr, "%u workloads put in %.0f ms\n", opt.workloads, t_wls);

	/* the leader's reconcile: view, plan, commands */
	t = now_ms();
	m = v->sr.model;
	struct plan_view s = { 0 };
	struct sched_plan plan = { 0 };
	struct err err = { 0 };
	plan_view_build(&s, m); /* as the daemon's leader does */
	struct sched_cluster sc = { .nodes = s.nodes, .n_nodes = s.n_nodes, .domain_key = "zone" };
	if (sched_reconcile(&sc, s.ws, s.n_ws, s.tasks, s.n_tasks, &plan, &err) < 0)
		die("sched_reconcile", err.msg);
	size_t n_place;
	json_t **pc = place_cmds(&plan, &n_place);
	size_t placements = plan.n_placements, unplaced = plan.n_unplaced;
	sched_plan_free(&plan);
	plan_view_free(&s);
	double t_plan = now_ms() - t;
	fprintf(stderr, "plan: %zu placements (%zu unplaced) in %.0f ms, %zu commands\n",
		placements, unplaced, t_plan, n_place);
	/* BATCH_WINDOW batches in flight: each is validated against the model before the
	 * earlier ones apply, which is safe here (the plan fits as a whole); more at once
	 * would hold the loop for seconds (validate + encode) and cost the leadership */
	double t_commit = run_cmds(d, pc, n_place, opt.batch_window);
	free(pc);
	m = v->sr.model;
	fprintf(stderr, "placements committed in %.0f ms (%zu tasks in the model)\n", t_commit,
		(size_t)m->tasks.len);

	size_t n_status;
	json_t **stc = status_cmds(m, &n_status);
	double t_status = run_cmds(d, stc, n_status, opt.batch_window);
	free(stc);
	m = v->sr.model;
	size_t running = 0, i = 0;
	const char *k;
	void *val;
	while (hmap_next(&m->tasks, &i, &k, &val))
		running += ((const struct model_task *)val)->observed == MODEL_OBS_RUNNING;
	fprintf(stderr, "%zu tasks reported running in %.0f ms\n", running, t_status);
	long rss_loaded = status_kib(getpid(), "VmRSS:");

	/* churn */
	settle(v, 3000);
	struct churn ch = { .d = d, .total = opt.churn_s * CHURN_PER_S };
	ch.tasks = xcalloc(m->tasks.len + 1, sizeof(*ch.tasks));
	i = 0;
	while (hmap_next(&m->tasks, &i, &k, &val))
		ch.tasks[ch.n_tasks++] = val;
	d->cmds = NULL;
	d->n_cmds = d->done = d->next = d->inflight = 0;
	d->window = 0;
	d->churn = true;
	uv_timer_init(&v->loop, &ch.timer);
	ch.timer.data = &ch;
	fprintf(stderr, "churn: %u writes at %d/s...\n", ch.total, CHURN_PER_S);
	uv_timer_start(&ch.timer, on_churn, 1000 / CHURN_PER_S, 1000 / CHURN_PER_S);
	uv_run(&v->loop, UV_RUN_DEFAULT);
	qsort(d->lat, d->n_lat, sizeof(double), cmp_d);
	double c_p50 = pct(d->lat, d->n_lat, 0.5), c_p99 = pct(d->lat, d->n_lat, 0.99),
	       c_max = d->n_lat ? d->lat[d->n_lat - 1] : 0;
	size_t c_n = d->n_lat;

	long rss = status_kib(getpid(), "VmRSS:"), hwm = status_kib(getpid(), "VmHWM:");
	long f_rss = status_kib(kids[2], "VmRSS:"), f_hwm = status_kib(kids[2], "VmHWM:");

	/* The followers ran with long election timeouts while loading (the leader's loop is
	 * busy for a second in sched_reconcile); libraft keeps the randomized timeout it drew
	 * until a follower converts, so raft_set_election_timeout alone would not give them
	 * the daemon's. Each is restarted on its own data with it, one at a time (the other
	 * keeps the quorum), before the snapshot phase. */
	for (unsigned id = 2; id <= N_VOTERS; id++) {
		char sub[16];
		snprintf(sub, sizeof(sub), "%u", id);
		kill_follower(id);
		kids[id] = spawn_follower(id, sub, true);
		if (!run_until(v, id == 2 ? f2_caught_up : f3_caught_up, 120000))
			die("restart", "a follower did not catch up within 120 s");
	}
	fprintf(stderr, "followers restarted with the daemon's election timeout\n");
	settle(v, 2000);

	/* the snapshot: every voter at its next apply, the churn going on */
	FILE *cr = fopen("/proc/self/clear_refs", "w"); /* VmHWM from here on */
	if (cr) {
		fputs("5", cr);
		fclose(cr);
	}
	raft_term term0 = v->raft.current_term;
	raft_set_election_timeout(&v->raft, DAEMON_ELECTION_MS);
	struct meter mt;
	meter_start(v, &mt);
	for (unsigned id = 2; id <= N_VOTERS; id++)
		kill(kids[id], SIGUSR1);
	uv_run(&v->loop, UV_RUN_NOWAIT); /* let them get the signal first */
	if (!opt.no_snapshot)
		snapshot_soon(v);
	fprintf(stderr, "snapshot: %zu tasks, churn goes on for %u s...\n", (size_t)m->tasks.len,
		SNAP_S);
	d->n_lat = 0;
	d->churn_over = false;
	d->tolerate_loss = true;
	ch.sent = 0;
	ch.total = SNAP_S * CHURN_PER_S;
	ch.t0 = now_ms();
	uv_timer_start(&ch.timer, on_churn, 1000 / CHURN_PER_S, 1000 / CHURN_PER_S);
	uv_run(&v->loop, UV_RUN_DEFAULT);
	bool snapped = opt.no_snapshot || run_until(v, all_snapped, 30000);
	raft_set_snapshot_threshold(&v->raft, 1u << 30);
	meter_stop(&mt);
	qsort(d->lat, d->n_lat, sizeof(double), cmp_d);
	bool held = raft_state(&v->raft) == RAFT_LEADER && v->raft.current_term == term0;
	long s_hwm = status_kib(getpid(), "VmHWM:");
	fprintf(stderr, "snapshot %s: loop %.1f ms, encode %.1f ms, %zu bytes; leader %s\n",
		snapped ? "taken" : "NOT TAKEN", v->sr.snapshot_loop_ms, v->sr.snapshot_encode_ms,
		v->sr.snapshot_bytes, held ? "held" : "LOST");

	/* follower 3 restarted on its own data, then on an empty directory */
	double f3_snap_ms = freports[3].snap_loop_ms;
	kill_follower(3);
	double t_restart = now_ms();
	kids[3] = spawn_follower(3, "3", true);
	bool r1 = run_until(v, f3_caught_up, 60000);
	struct freport restart = freports[3];
	double restart_catch = r1 ? restart.caught_up_at - t_restart : -1;
	fprintf(stderr, "restarted follower: raft_start %.0f ms (restore %.0f ms), caught up %s\n",
		restart.start_ms, restart.restore_ms, r1 ? "yes" : "NO");
	kill_follower(3);
	struct meter mt2;
	meter_start(v, &mt2);
	double t_fresh = now_ms();
	kids[3] = spawn_follower(3, "3-fresh", true);
	bool r2 = run_until(v, f3_caught_up, 60000);
	meter_stop(&mt2);
	struct freport fresh = freports[3];
	double fresh_catch = r2 ? fresh.caught_up_at - t_fresh : -1;
	fprintf(stderr, "fresh follower: restore %.0f ms, caught up %s\n", fresh.restore_ms,
		r2 ? "yes" : "NO");
	bool held2 = raft_state(&v->raft) == RAFT_LEADER && v->raft.current_term == term0;
	kill_kids();

	printf("| measure | value |\n|---|---|\n");
	printf("| hollow nodes registered (node.register, %d in flight) | %u in %.2f s (%.0f/s) |\n",
	       WINDOW, opt.nodes, t_nodes / 1e3, opt.nodes / (t_nodes / 1e3));
	printf("| workloads put (workload.put) | %u in %.2f s (%.0f/s) |\n", opt.workloads,
	       t_wls / 1e3, opt.workloads / (t_wls / 1e3));
	printf("| plan: sched_reconcile over the model (view + plan + commands) | %zu placements in %.0f ms |\n",
	       placements, t_plan);
	printf("| **placements committed** (%zu task.place of <= %d) | %.2f s: **%.0f/s** |\n",
	       n_place, FSM_MAX_BATCH, t_commit / 1e3, placements / (t_commit / 1e3));
	printf("| placements/s including the plan | %.0f/s |\n",
	       placements / ((t_commit + t_plan) / 1e3));
	printf("| tasks reported running (%zu task.status of <= %d) | %zu in %.2f s (%.0f/s) |\n",
	       n_status, FSM_MAX_BATCH, running, t_status / 1e3, running / (t_status / 1e3));
	printf("| churn: single writes at %d/s for %u s (node.label, task.status) | %zu done, %zu refused |\n",
	       CHURN_PER_S, opt.churn_s, c_n, d->refused);
	printf("| write latency propose -> applied on the leader, p50 / p99 / max | %.1f / %.1f / %.1f ms |\n",
	       c_p50, c_p99, c_max);
	printf("| leader RSS after loading / after churn / peak | %.0f / %.0f / %.0f MiB |\n",
	       rss_loaded / 1024.0, rss / 1024.0, hwm / 1024.0);
	printf("| a follower's RSS / peak | %.0f / %.0f MiB |\n", f_rss / 1024.0, f_hwm / 1024.0);
	printf("| **snapshot** (fsm version %d%s) of %zu tasks: size | %.1f MB |\n",
	       v->sr.fsm.version, opt.sync_snapshots ? ", -S: encoded on the loop" : ", copy on the loop, encoded by a worker",
	       (size_t)m->tasks.len, v->sr.snapshot_bytes / 1e6);
	printf("| leader: loop time in the snapshot callback (its CPU time) / encoding | **%.1f ms** (%.1f ms) / %.1f ms |\n",
	       v->sr.snapshot_loop_ms, v->sr.snapshot_loop_cpu_ms, v->sr.snapshot_encode_ms);
	printf("| followers: loop time in the snapshot callback | %.1f ms, %.1f ms |\n",
	       freports[2].snap_loop_ms, f3_snap_ms);
	printf("| leader: longest loop stall (1 ms timer) while snapshotting | %.0f ms |\n", mt.max_ms);
	printf("| writes at %d/s meanwhile: p50 / p99 / max (not committed) | %.1f / %.1f / %.1f ms (%zu) |\n",
	       CHURN_PER_S, pct(d->lat, d->n_lat, 0.5), pct(d->lat, d->n_lat, 0.99),
	       d->n_lat ? d->lat[d->n_lat - 1] : 0, d->lost);
	printf("| leader: peak RSS while snapshotting | %.0f MiB |\n", s_hwm / 1024.0);
	printf("| voters snapshotting | %s |\n", opt.no_snapshot ? "none (-N, a control)"
					      : opt.all_at_once ? "all at the same index (-A)"
								: "staggered");
	if (!opt.no_snapshot && !opt.all_at_once)
		printf("| stagger | %u entries (%.1f s of churn) |\n", opt.stagger,
		       (double)opt.stagger / CHURN_PER_S);
	printf("| timeline: leader's snapshot stored / leadership lost (s after it was asked for) | %.1f / %.1f |\n",
	       ch.stored_at / 1e3, ch.lost_at / 1e3);
	printf("| leadership (election timeout %d ms, pre-vote) | %s |\n", DAEMON_ELECTION_MS,
	       held && held2 ? "held, same term" : held ? "lost after the snapshot" : "**lost**");
	printf("| follower restarted on its data: raft_start (load + restore) / restore / caught up | %.0f ms / %.0f ms / %.1f s |\n",
	       restart.start_ms, restart.restore_ms, restart_catch / 1e3);
	printf("| fresh follower (InstallSnapshot): restore on its loop / caught up | %.0f ms / %.1f s |\n",
	       fresh.restore_ms, fresh_catch / 1e3);
	printf("| leader: longest loop stall while sending the snapshot | %.0f ms |\n", mt2.max_ms);
	return d->refused || !snapped ? 1 : 0;
}
