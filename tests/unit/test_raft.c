/* Unit tests for state/raft over libraft's deterministic in-memory fixture: a 3-server
 * cluster elects a leader and all FSMs end identical; a leader crash loses no
 * acknowledged write (checked against a history of acks, with retries of unknown
 * outcomes under the same ids); a partitioned minority cannot commit and converges
 * after healing; a lagging follower catches up from a snapshot; retries are idempotent;
 * barriers; a malformed snapshot is refused; a snapshot encoded on another thread
 * (fsm version 3) is the model at the moment it was asked for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <raft/fixture.h>

#include "base/util.h"
#include "state/raft.h"
#include "state/snapshot.h"

#define N 3

struct cluster {
	struct raft_fixture f;
	struct sraft s[N];
};

static void cluster_start(struct cluster *c, unsigned threshold)
{
	struct raft_configuration conf;
	struct err err = {0};

	memset(c, 0, sizeof(*c));
	assert_int_equal(raft_fixture_initialize(&c->f), 0);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(sraft_init(&c->s[i], &err), 0);
		/* the fixture's raft_io has no async_work: snapshots are encoded in place
		 * here; test_async_snapshot drives the version-3 callbacks itself */
		sraft_snapshot_sync(&c->s[i]);
		assert_int_equal(raft_fixture_grow(&c->f, &c->s[i].fsm), 0);
		sraft_attach(&c->s[i], raft_fixture_get(&c->f, i));
		if (threshold) {
			raft_set_snapshot_threshold(raft_fixture_get(&c->f, i), threshold);
			raft_set_snapshot_trailing(raft_fixture_get(&c->f, i), 2);
		}
	}
	assert_int_equal(raft_fixture_configuration(&c->f, N, &conf), 0);
	assert_int_equal(raft_fixture_bootstrap(&c->f, &conf), 0);
	raft_configuration_close(&conf);
	assert_int_equal(raft_fixture_start(&c->f), 0);
	assert_true(raft_fixture_step_until_has_leader(&c->f, 10000));
}

static void cluster_stop(struct cluster *c)
{
	raft_fixture_close(&c->f);
	for (unsigned i = 0; i < N; i++)
		sraft_close(&c->s[i]);
}

static unsigned leader(struct cluster *c)
{
	assert_true(raft_fixture_step_until_has_leader(&c->f, 10000));
	unsigned l = raft_fixture_leader_index(&c->f);
	assert_true(l < N);
	return l;
}

struct pending {
	struct sraft_propose req;
	bool done;
	int status;
	struct fsm_result res;
	char id[32];
};

static void pending_cb(struct sraft_propose *req, int status, const struct fsm_result *res)
{
	struct pending *p = req->data;

	p->done = true;
	p->status = status;
	if (res)
		p->res = *res;
}

static int propose(struct cluster *c, unsigned i, struct pending *p, struct err *err,
		   const char *fmt, ...)
{
	va_list ap;
	char *s;
	json_error_t je;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	for (char *q = s; *q; q++)
		if (*q == '\'')
			*q = '"';
	json_t *cmd = json_loads(s, 0, &je);
	assert_non_null(cmd);
	free(s);
	memset(p, 0, sizeof(*p));
	p->req.data = p;
	int r = sraft_propose(&c->s[i], &p->req, cmd, pending_cb, err);
	json_decref(cmd);
	return r;
}

static bool is_done(struct raft_fixture *f, void *arg)
{
	return ((struct pending *)arg)->done;
}

/* proposes on the leader and waits for the outcome */
static void commit(struct cluster *c, struct pending *p, const char *json)
{
	struct err err = {0};

	if (propose(c, leader(c), p, &err, "%s", json) < 0)
		fail_msg("propose: %s", err.msg);
	assert_true(raft_fixture_step_until(&c->f, is_done, p, 5000));
	assert_int_equal(p->status, 0);
}

static bool all_applied(struct cluster *c, bool *alive)
{
	unsigned l = leader(c);
	raft_index idx = raft_last_applied(raft_fixture_get(&c->f, l));
	for (unsigned i = 0; i < N; i++)
		if ((!alive || alive[i]) && !raft_fixture_step_until_applied(&c->f, i, idx, 10000))
			return false;
	return true;
}

static void assert_identical(struct cluster *c, bool *alive)
{
	struct err err = {0};
	char *first = NULL, *buf;
	size_t flen = 0, len;

	assert_true(all_applied(c, alive));
	for (unsigned i = 0; i < N; i++) {
		if (alive && !alive[i])
			continue;
		assert_int_equal(model_check(c->s[i].model, &err), 0);
		assert_int_equal(snapshot_encode(c->s[i].model, &buf, &len, &err), 0);
		if (!first) {
			first = buf;
			flen = len;
			continue;
		}
		if (len != flen || memcmp(buf, first, len)) {
			FILE *a = fopen("/tmp/st/a.json", "w"), *b = fopen("/tmp/st/b.json", "w");
			fwrite(first, 1, flen, a);
			fwrite(buf, 1, len, b);
			fclose(a);
			fclose(b);
			fail_msg("server %u's state differs from the first alive one's", i);
		}
		free(buf);
	}
	free(first);
}

static void register_nodes(struct cluster *c)
{
	struct pending p;
	char cmd[256];

	for (int i = 0; i < 3; i++) {
		snprintf(cmd, sizeof(cmd),
			 "{'op':'node.register','id':'reg-%d','name':'n%d','address':'10.0.0.%d',"
			 "'role':'server','capacity':{'cpu_milli':8000,'memory':17179869184}}",
			 i, i, i + 1);
		commit(c, &p, cmd);
		assert_int_equal(p.res.code, 0);
	}
}

static void test_commit_identical(void **state)
{
	struct cluster c;
	struct pending p;
	struct err err = {0};

	cluster_start(&c, 0);
	register_nodes(&c);
	commit(&c, &p,
	       "{'op':'workload.put','id':'w','name':'web','spec':{'name':'web',"
	       "'image':'nginx','replicas':{'min':3,'max':3},'resources':{'cpus':1}}}");
	assert_int_equal(p.res.code, 0);
	commit(&c, &p,
	       "{'op':'task.place','id':'p','placements':[{'workload':'web','replica':0,"
	       "'node':'n0'},{'workload':'web','replica':1,'node':'n1'},{'workload':"
	       "'web','replica':2,'node':'n2'}]}");
	assert_int_equal(p.res.code, 0);
	assert_string_equal(p.res.msg, "3 placements");
	commit(&c, &p,
	       "{'op':'task.status','reports':[{'task':'web.2','generation':1,'node':"
	       "'n2','state':'running','ip':'10.88.0.5'}]}");
	/* the index the FSM saw is raft's */
	unsigned l = leader(&c);
	assert_int_equal(c.s[l].model->index, raft_last_applied(raft_fixture_get(&c.f, l)));
	assert_int_equal(p.res.index, c.s[l].model->index);
	/* a command the state refuses never reaches the log */
	assert_int_equal(propose(&c, l, &p, &err,
				 "{'op':'task.place','placements':[{'workload':"
				 "'nope','replica':0,'node':'n0'}]}"),
			 -ENOENT);
	assert_false(p.done);
	/* followers refuse writes and name the leader */
	unsigned f = (l + 1) % N;
	assert_int_equal(propose(&c, f, &p, &err, "{'op':'barrier'}"), -EREMOTE);
	assert_non_null(strstr(err.msg, "not the leader; the leader is"));
	assert_identical(&c, NULL);
	assert_string_equal(model_task(c.s[f].model, "web.2")->ip, "10.88.0.5");
	cluster_stop(&c);
}

struct bwait {
	struct sraft_barrier req;
	bool done;
	int status;
};

static void bcb(struct sraft_barrier *req, int status)
{
	struct bwait *b = req->data;
	b->done = true;
	b->status = status;
}

static bool b_done(struct raft_fixture *f, void *arg)
{
	return ((struct bwait *)arg)->done;
}

/* A history of acknowledged writes survives the leader's crash. Writes in flight when
 * it died have an unknown outcome; retried with their ids on the new leader, each
 * applies exactly once. */
static void test_leader_crash(void **state)
{
	struct cluster c;
	struct pending acked[10], inflight[5], retry[5];
	struct err err = {0};
	bool alive[N] = {true, true, true};
	char cmd[256];

	cluster_start(&c, 0);
	register_nodes(&c);
	for (int i = 0; i < 10; i++) {
		snprintf(cmd, sizeof(cmd),
			 "{'op':'workload.put','id':'put-%d','name':'w%d',"
			 "'spec':{'image':'busybox'}}",
			 i, i);
		commit(&c, &acked[i], cmd);
		assert_int_equal(acked[i].res.code, 0);
	}
	unsigned old = leader(&c);
	for (int i = 0; i < 5; i++)
		assert_int_equal(propose(&c, old, &inflight[i], &err,
					 "{'op':'workload.put','id':'late-%d','name':'x%d','spec':"
					 "{'image':'busybox'}}",
					 i, i),
				 0);
	raft_fixture_step_n(&c.f, 20); /* some reach the followers, none is acked */
	raft_fixture_kill(&c.f, old);
	alive[old] = false;
	assert_true(raft_fixture_step_until_has_no_leader(&c.f, 10000));
	assert_true(raft_fixture_step_until_has_leader(&c.f, 10000));
	unsigned l = leader(&c);
	assert_int_not_equal(l, old);
	/* a new leader knows what is committed only once an entry of its own term is: read
	 * after a barrier (the linearizable read) */
	struct bwait b = {.req.data = &b};
	assert_int_equal(sraft_barrier(&c.s[l], &b.req, bcb, &err), 0);
	assert_true(raft_fixture_step_until(&c.f, b_done, &b, 5000));
	assert_int_equal(b.status, 0);
	/* every acknowledged write is on the new leader */
	for (int i = 0; i < 10; i++) {
		char name[16];
		snprintf(name, sizeof(name), "w%d", i);
		struct model_workload *w = model_workload(c.s[l].model, name);
		assert_non_null(w);
		assert_int_equal(w->version, acked[i].res.index);
	}
	/* unknown outcomes: retry with the same ids */
	int dup = 0;
	for (int i = 0; i < 5; i++) {
		if (inflight[i].done && inflight[i].status == 0)
			continue;
		snprintf(cmd, sizeof(cmd),
			 "{'op':'workload.put','id':'late-%d','name':'x%d',"
			 "'spec':{'image':'busybox'}}",
			 i, i);
		commit(&c, &retry[i], cmd);
		assert_int_equal(retry[i].res.code, 0);
		dup += retry[i].res.duplicate;
	}
	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof(name), "x%d", i);
		struct model_workload *w = model_workload(c.s[l].model, name);
		assert_non_null(w);
		assert_int_equal(w->generation, 1); /* applied once */
	}
	print_message("leader crash: %d of 5 in-flight writes had committed before it\n", dup);
	/* the fixture is deterministic: with 20 steps both kinds of unknown outcome occur */
	assert_true(dup > 0 && dup < 5);
	assert_identical(&c, alive);
	/* the old leader comes back and converges */
	raft_fixture_revive(&c.f, old);
	alive[old] = true;
	struct pending p;
	commit(&c, &p, "{'op':'barrier','id':'after-revive'}");
	assert_identical(&c, alive);
	cluster_stop(&c);
}

/* The leader cut off from both followers cannot commit; the majority elects another
 * leader and goes on; after healing, everyone holds the majority's history. */
static void test_partition(void **state)
{
	struct cluster c;
	struct pending lost, p;
	struct err err = {0};

	cluster_start(&c, 0);
	register_nodes(&c);
	unsigned old = leader(&c);
	for (unsigned j = 0; j < N; j++) {
		if (j != old) {
			/* saturate, not disconnect: the fixture's leader detection knows it */
			raft_fixture_saturate(&c.f, old, j);
			raft_fixture_saturate(&c.f, j, old);
		}
	}
	assert_int_equal(propose(&c, old, &lost, &err,
				 "{'op':'workload.put','id':'minority',"
				 "'name':'lost','spec':{}}"),
			 0);
	raft_fixture_step_until_elapsed(&c.f, 3000);
	assert_true(!lost.done || lost.status != 0);
	assert_null(model_workload(c.s[old].model, "lost"));
	/* the majority has a leader of its own */
	assert_true(raft_fixture_step_until_has_leader(&c.f, 10000));
	unsigned l = leader(&c);
	assert_int_not_equal(l, old);
	commit(&c, &p, "{'op':'workload.put','id':'majority','name':'kept','spec':{}}");
	assert_int_equal(p.res.code, 0);
	for (unsigned j = 0; j < N; j++) {
		if (j != old) {
			raft_fixture_desaturate(&c.f, old, j);
			raft_fixture_desaturate(&c.f, j, old);
		}
	}
	commit(&c, &p, "{'op':'barrier','id':'healed'}");
	assert_identical(&c, NULL);
	assert_non_null(model_workload(c.s[old].model, "kept"));
	assert_null(model_workload(c.s[old].model, "lost"));
	if (lost.done)
		assert_int_not_equal(lost.status, 0);
	cluster_stop(&c);
}

/* With a low snapshot threshold the leader compacts its log; a follower that was away
 * catches up through InstallSnapshot, i.e. through fsm restore. */
static void test_snapshot_catch_up(void **state)
{
	struct cluster c;
	struct pending p;
	char cmd[256];

	cluster_start(&c, 4);
	register_nodes(&c);
	unsigned l = leader(&c), away = (l + 1) % N;
	raft_fixture_kill(&c.f, away);
	for (int i = 0; i < 20; i++) {
		snprintf(cmd, sizeof(cmd),
			 "{'op':'workload.put','id':'s%d','name':'s%d','spec':{}}", i, i);
		commit(&c, &p, cmd);
	}
	assert_true(c.s[l].n_snapshots > 0);
	raft_fixture_revive(&c.f, away);
	commit(&c, &p, "{'op':'barrier','id':'back'}");
	assert_identical(&c, NULL);
	assert_true(c.s[away].n_restores > 0);
	assert_int_equal(c.s[away].model->workloads.len, 20);
	/* and the restored replica keeps applying like the others */
	commit(&c, &p, "{'op':'node.label','name':'n0','set':{'zone':'a'}}");
	assert_identical(&c, NULL);
	print_message("snapshots taken by the leader: %u, restores on the follower: %u\n",
		      c.s[l].n_snapshots, c.s[away].n_restores);
	cluster_stop(&c);
}

static void test_idempotent_retry(void **state)
{
	struct cluster c;
	struct pending p;
	const char *cmd = "{'op':'node.register','id':'once','name':'x','address':'a','role':"
			  "'agent'}";

	cluster_start(&c, 0);
	commit(&c, &p, cmd);
	assert_false(p.res.duplicate);
	uint64_t first = p.res.index;
	commit(&c, &p, cmd);
	assert_true(p.res.duplicate);
	assert_int_equal(p.res.index, first);
	assert_int_equal(model_node(c.s[leader(&c)].model, "x")->heartbeat_gen, 1);
	assert_identical(&c, NULL);
	cluster_stop(&c);
}

static void test_barrier_and_bad_snapshot(void **state)
{
	struct cluster c;
	struct bwait b = {.req.data = &b};
	struct err err = {0};

	cluster_start(&c, 0);
	register_nodes(&c);
	unsigned l = leader(&c);
	assert_int_equal(sraft_barrier(&c.s[l], &b.req, bcb, &err), 0);
	assert_true(raft_fixture_step_until(&c.f, b_done, &b, 5000));
	assert_int_equal(b.status, 0);
	assert_int_equal(c.s[l].model->nodes.len, 3);
	assert_int_equal(sraft_barrier(&c.s[(l + 1) % N], &b.req, bcb, &err), -EREMOTE);

	/* restore refuses a malformed snapshot and keeps the state it had */
	struct raft_buffer buf = {.base = raft_malloc(16), .len = 16};
	memcpy(buf.base, "{\"format\":\"x\"}  ", 16);
	struct model *before = c.s[l].model;
	assert_int_not_equal(c.s[l].fsm.restore(&c.s[l].fsm, &buf), 0);
	assert_ptr_equal(c.s[l].model, before);
	assert_string_equal(c.s[l].last_err.msg, "snapshot: format 'x' is not 'coop-state'");
	raft_free(buf.base);
	cluster_stop(&c);
}

/* An entry applied through libraft's fsm callback, as raft does (index = model's + 1). */
static void fsm_feed(struct sraft *s, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	void *result = NULL;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (char *q = text; *q; q++)
		if (*q == '\'')
			*q = '"';
	struct raft_buffer buf = {.base = text, .len = strlen(text)};
	assert_int_equal(s->fsm.apply(&s->fsm, &buf, &result), 0);
	assert_int_equal(((struct sraft_slot *)result)->res.code, 0);
}

struct encode_job {
	struct sraft *s;
	struct raft_buffer *bufs;
	unsigned n;
	int rv;
};

static void *encode_thread(void *arg)
{
	struct encode_job *j = arg;

	j->rv = j->s->fsm.snapshot_async(&j->s->fsm, &j->bufs, &j->n);
	return NULL;
}

/* fsm version 3: the snapshot is the model at the moment of the callback, though the
 * encoding runs on another thread while the model goes on changing; a second snapshot
 * while one is pending is refused with RAFT_BUSY; the bytes restore to the same model. */
static void test_async_snapshot(void **state)
{
	struct sraft a, b;
	struct err err = {0};
	_cleanup_free_ char *want = NULL, *got = NULL;
	size_t want_len, got_len;
	struct raft_buffer *other = NULL;
	unsigned n_other = 0;

	assert_int_equal(sraft_init(&a, &err), 0);
	assert_int_equal(a.fsm.version, 3);
	for (int i = 0; i < 3; i++)
		fsm_feed(&a, "{'op':'node.register','name':'n%d','address':'10.0.0.%d',"
			     "'role':'server','labels':{'zone':'z%d'}}", i, i + 1, i);
	fsm_feed(&a, "{'op':'workload.put','id':'w1','name':'web','spec':{'name':'web',"
		     "'image':'nginx','replicas':2}}");
	fsm_feed(&a, "{'op':'task.place','placements':[{'workload':'web','replica':0,"
		     "'node':'n0'},{'workload':'web','replica':1,'node':'n1'}]}");
	fsm_feed(&a, "{'op':'task.status','reports':[{'task':'web.0','generation':1,"
		     "'node':'n0','state':'running','ip':'10.88.0.2','container':'c0'}]}");
	assert_int_equal(snapshot_encode(a.model, &want, &want_len, &err), 0);

	struct encode_job j = {.s = &a};
	assert_int_equal(a.fsm.snapshot(&a.fsm, &j.bufs, &j.n), 0);
	assert_non_null(a.pending);
	assert_int_equal(a.fsm.snapshot(&a.fsm, &other, &n_other), RAFT_BUSY);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, encode_thread, &j), 0);
	/* the loop goes on while the worker encodes */
	fsm_feed(&a, "{'op':'node.label','name':'n1','set':{'zone':'moved'}}");
	fsm_feed(&a, "{'op':'task.status','reports':[{'task':'web.0','generation':1,"
		     "'node':'n0','state':'exited','exit_code':3}]}");
	fsm_feed(&a, "{'op':'workload.delete','name':'web'}");
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(j.rv, 0);
	assert_non_null(a.pending); /* freed by finalize, on the loop */
	assert_int_equal(j.n, 1);
	assert_int_equal(j.bufs[0].len, want_len);
	assert_memory_equal(j.bufs[0].base, want, want_len);
	assert_int_equal(a.snapshot_bytes, want_len);

	/* a follower restores those bytes to the same model */
	assert_int_equal(sraft_init(&b, &err), 0);
	struct raft_buffer copy = {.base = raft_malloc(want_len), .len = want_len};
	memcpy(copy.base, j.bufs[0].base, want_len);
	assert_int_equal(b.fsm.restore(&b.fsm, &copy), 0);
	assert_int_equal(snapshot_encode(b.model, &got, &got_len, &err), 0);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);

	assert_int_equal(a.fsm.snapshot_finalize(&a.fsm, &j.bufs, &j.n), 0);
	assert_null(j.bufs);
	assert_null(a.pending);
	assert_int_equal(a.n_snapshots, 1);
	/* finalize without a worker run (libraft could not queue it) frees the copy too */
	assert_int_equal(a.fsm.snapshot(&a.fsm, &j.bufs, &j.n), 0);
	assert_int_equal(a.fsm.snapshot_finalize(&a.fsm, &j.bufs, &j.n), 0);
	assert_null(a.pending);
	sraft_close(&a);
	sraft_close(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_commit_identical),
	    cmocka_unit_test(test_leader_crash),
	    cmocka_unit_test(test_partition),
	    cmocka_unit_test(test_snapshot_catch_up),
	    cmocka_unit_test(test_idempotent_retry),
	    cmocka_unit_test(test_barrier_and_bad_snapshot),
	    cmocka_unit_test(test_async_snapshot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
