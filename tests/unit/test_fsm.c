/* Unit tests for state/model, state/fsm and state/snapshot: every command's happy path
 * and refusals, apply turning a command that became invalid into a recorded no-op,
 * idempotent retries, fencing by generation, leases, watches and the event ring,
 * snapshot round trips and refusals, and the apply rate of big placement batches
 * (printed, not asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <time.h>

#include "base/util.h"
#include "state/fsm.h"
#include "state/gc.h"
#include "state/model.h"
#include "state/snapshot.h"

/* JSON from a printf format with ' for " (readable literals) */
static json_t *J(const char *fmt, ...)
{
	va_list ap;
	char *s;
	json_error_t je;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	json_t *j = json_loads(s, 0, &je);
	if (!j)
		fail_msg("bad test JSON: %s: %s", s, je.text);
	free(s);
	return j;
}

static uint64_t next_index = 1;

/* validate then apply; returns the result code */
static int run(struct model *m, struct fsm_result *res, const char *fmt, ...)
{
	va_list ap;
	char *s;
	struct err err = {0};
	struct fsm_result local;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	json_t *cmd = J("%s", s);
	free(s);
	int r = fsm_validate(m, cmd, &err);
	if (r < 0) {
		if (res)
			snprintf(res->msg, sizeof(res->msg), "%.*s", (int)sizeof(res->msg) - 1,
				 err.msg);
		json_decref(cmd);
		return r;
	}
	fsm_apply(m, cmd, next_index++, res ? res : &local);
	json_decref(cmd);
	struct err cerr = {0};
	if (model_check(m, &cerr) < 0)
		fail_msg("invariant broken: %s", cerr.msg);
	return (res ? res : &local)->code;
}

/* validate only: the error message */
static int refused(struct model *m, char *msg, const char *fmt, ...)
{
	va_list ap;
	char *s;
	struct err err = {0};

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	json_t *cmd = J("%s", s);
	free(s);
	int r = fsm_validate(m, cmd, &err);
	json_decref(cmd);
	strcpy(msg, err.msg);
	return r;
}

static void setup_cluster(struct model *m, int nodes)
{
	for (int i = 0; i < nodes; i++)
		assert_int_equal(
		    run(m, NULL,
			"{'op':'node.register','name':'n%d','address':'10.0.0.%d:7946',"
			"'role':'%s','capacity':{'cpu_milli':4000,'memory':8589934592},"
			"'labels':{'zone':'z%d'}}",
			i, i + 1, i < 3 ? "server" : "agent", i % 2),
		    0);
	assert_int_equal(
	    run(m, NULL,
		"{'op':'workload.put','name':'web','spec':{'name':'web','image':'nginx',"
		"'replicas':{'min':3,'max':5},'resources':{'cpus':0.5,'memory_limit':"
		"268435456}}}"),
	    0);
}

static void test_basic_flow(void **state)
{
	struct model *m = model_new();
	struct fsm_result res;

	setup_cluster(m, 3);
	struct model_workload *w = model_workload(m, "web");
	assert_non_null(w);
	assert_int_equal(w->replicas, 3);
	assert_int_equal(w->request.cpu_milli, 500);
	assert_int_equal(w->request.memory, 268435456);
	assert_int_equal(w->generation, 1);

	assert_int_equal(run(m, &res,
			     "{'op':'task.place','id':'p1','placements':["
			     "{'workload':'web','replica':0,'node':'n0','generation':0},"
			     "{'workload':'web','replica':1,'node':'n1'},"
			     "{'workload':'web','replica':2,'node':'n2'}]}"),
			 0);
	struct model_task *t = model_task(m, "web.1");
	assert_non_null(t);
	assert_string_equal(t->node, "n1");
	assert_int_equal(t->generation, 1);
	assert_int_equal(t->observed, MODEL_OBS_ASSIGNED);
	assert_int_equal(model_node(m, "n1")->allocated.cpu_milli, 500);
	assert_int_equal(model_node(m, "n1")->n_tasks, 1);

	assert_int_equal(run(m, &res,
			     "{'op':'task.status','reports':[{'task':'web.1','generation':1,"
			     "'node':'n1','state':'running','container':'c1','ip':'10.88.0.2'}]}"),
			 0);
	assert_int_equal(t->observed, MODEL_OBS_RUNNING);
	assert_string_equal(t->ip, "10.88.0.2");
	assert_string_equal(res.msg, "1 reports, 0 stale");

	/* move web.1 to n0: generation 2, allocation follows */
	assert_int_equal(run(m, NULL,
			     "{'op':'task.place','placements':[{'workload':'web','replica':1,"
			     "'node':'n0','generation':1}]}"),
			 0);
	assert_int_equal(t->generation, 2);
	assert_null(t->container_id);
	assert_int_equal(model_node(m, "n1")->allocated.cpu_milli, 0);
	assert_int_equal(model_node(m, "n0")->allocated.cpu_milli, 1000);
	/* the old node's late report is fenced off */
	assert_int_equal(run(m, &res,
			     "{'op':'task.status','reports':[{'task':'web.1','generation':1,"
			     "'node':'n1','state':'exited','exit_code':0}]}"),
			 0);
	assert_string_equal(res.msg, "1 reports, 1 stale");
	assert_int_equal(t->observed, MODEL_OBS_ASSIGNED);

	/* workload spec change bumps generation, replicas-only does not */
	assert_int_equal(run(m, NULL,
			     "{'op':'workload.put','name':'web','replicas':4,'spec':{'name':'web',"
			     "'image':'nginx','replicas':{'min':3,'max':5},'resources':{'cpus':0.5,"
			     "'memory_limit':268435456}}}"),
			 0);
	assert_int_equal(w->generation, 1);
	assert_int_equal(w->replicas, 4);
	assert_int_equal(
	    run(m, NULL,
		"{'op':'workload.put','name':'web','spec':{'name':'web','image':'nginx:2'}}"),
	    0);
	assert_int_equal(w->generation, 2);
	assert_int_equal(w->replicas, 1);

	/* delete: tasks stop; their terminal reports remove them */
	assert_int_equal(run(m, NULL, "{'op':'workload.delete','name':'web'}"), 0);
	assert_null(model_workload(m, "web"));
	assert_int_equal(t->desired, MODEL_DESIRED_STOPPED);
	assert_int_equal(model_node(m, "n0")->allocated.cpu_milli, 0);
	assert_int_equal(m->tasks.len, 3);
	assert_int_equal(run(m, NULL,
			     "{'op':'task.status','reports':[{'task':'web.1','generation':2,"
			     "'node':'n0','state':'stopped'},{'task':'web.0','generation':1,"
			     "'node':'n0','state':'exited','exit_code':137}]}"),
			 0);
	assert_int_equal(m->tasks.len, 1);
	assert_null(model_task(m, "web.1"));
	model_free(m);
}

static void test_refusals(void **state)
{
	struct model *m = model_new();
	char msg[ERR_MSG_MAX];

	setup_cluster(m, 3);
	assert_int_equal(refused(m, msg, "[1]"), -EINVAL);
	assert_string_equal(msg, "command: expected a JSON object");
	assert_int_equal(refused(m, msg, "{'op':'nope'}"), -EINVAL);
	assert_string_equal(msg, "op: unknown operation 'nope'");
	assert_int_equal(refused(m, msg, "{'op':'workload.put','name':'Web','spec':{}}"), -EINVAL);
	assert_non_null(strstr(msg, "workload.put: name: 'Web' is not a valid name"));
	assert_int_equal(refused(m, msg, "{'op':'workload.put','name':'x'}"), -EINVAL);
	assert_string_equal(msg, "workload.put: spec: missing required field");
	assert_int_equal(refused(m, msg, "{'op':'workload.put','name':'x','spec':{'name':'y'}}"),
			 -EINVAL);
	assert_int_equal(refused(m, msg, "{'op':'workload.put','name':'x','spec':{'vpc':'v'}}"),
			 -ENOENT);
	assert_string_equal(msg, "workload.put: spec.vpc: vpc 'v' does not exist");
	assert_int_equal(
	    refused(m, msg, "{'op':'workload.put','name':'web','version':1,'spec':{}}"), -ESTALE);
	assert_int_equal(refused(m, msg,
				 "{'op':'node.register','name':'n1','address':'10.9.9.9:1',"
				 "'role':'agent'}"),
			 -EEXIST);
	assert_string_equal(msg, "node.register: node name 'n1' is already taken by 10.0.0.2:7946");
	/* an underlay address is one node's (another port on that host is no way around) */
	assert_int_equal(refused(m, msg,
				 "{'op':'node.register','name':'n9','address':'10.0.0.2:8000',"
				 "'role':'agent'}"),
			 -EEXIST);
	assert_string_equal(msg, "node.register: address 10.0.0.2:8000: node 'n1' is at "
				 "10.0.0.2:7946 already (each node needs its own underlay address)");
	assert_int_equal(
	    refused(m, msg, "{'op':'node.register','name':'n9','address':'a','role':'boss'}"),
	    -EINVAL);
	assert_int_equal(refused(m, msg,
				 "{'op':'task.place','placements':[{'workload':'web','replica':0,"
				 "'node':'n7'}]}"),
			 -ENOENT);
	assert_string_equal(msg, "task.place: placements[0]: node 'n7' does not exist");
	assert_int_equal(refused(m, msg,
				 "{'op':'task.place','placements':[{'workload':'web','replica':0,"
				 "'node':'n0'},{'workload':'web','replica':0,'node':'n1'}]}"),
			 -EINVAL);
	assert_string_equal(msg,
			    "task.place: placements[1]: task 'web.0' appears twice in the batch");
	assert_int_equal(refused(m, msg, "{'op':'task.place','placements':[]}"), -EINVAL);
	assert_int_equal(refused(m, msg,
				 "{'op':'task.place','placements':[{'workload':'web','replica':0,"
				 "'node':'n0','generation':3}]}"),
			 -ESTALE);
	/* capacity: 4000m per node, 500m per replica: 9 on one node do not fit */
	char big[4096] = "{'op':'task.place','placements':[";
	for (int i = 0; i < 9; i++)
		sprintf(big + strlen(big), "%s{'workload':'web','replica':%d,'node':'n0'}",
			i ? "," : "", i);
	strcat(big, "]}");
	assert_int_equal(refused(m, msg, "%s", big), -ENOSPC);
	assert_string_equal(msg, "task.place: placements[0]: node 'n0' has 4000m CPU free, the "
				 "batch needs 4500m");
	assert_int_equal(run(m, NULL, "{'op':'node.state','name':'n2','state':'draining'}"), 0);
	assert_int_equal(refused(m, msg,
				 "{'op':'task.place','placements':[{'workload':'web','replica':0,"
				 "'node':'n2'}]}"),
			 -EAGAIN);
	assert_string_equal(msg, "task.place: placements[0]: node 'n2' is draining");
	assert_int_equal(refused(m, msg, "{'op':'node.state','name':'n2','state':'gone'}"),
			 -EINVAL);
	assert_int_equal(refused(m, msg,
				 "{'op':'node.state','name':'n2','state':'down',"
				 "'heartbeat_gen':7}"),
			 -ESTALE);
	assert_int_equal(refused(m, msg, "{'op':'vpc.create','name':'v','cidr':'10.1.0.1/16'}"),
			 -EINVAL);
	assert_int_equal(run(m, NULL, "{'op':'vpc.create','name':'v','cidr':'10.1.0.0/16'}"), 0);
	assert_int_equal(refused(m, msg, "{'op':'vpc.create','name':'w','cidr':'10.1.128.0/17'}"),
			 -EEXIST);
	assert_string_equal(msg, "vpc.create: cidr: 10.1.128.0/17 overlaps vpc 'v' (10.1.0.0/16)");
	assert_int_equal(refused(m, msg,
				 "{'op':'vpc.create','name':'w','cidr':'10.2.0.0/16',"
				 "'vni':4096}"),
			 -EEXIST);
	assert_int_equal(run(m, NULL, "{'op':'workload.put','name':'db','spec':{'vpc':'v'}}"), 0);
	assert_int_equal(refused(m, msg, "{'op':'vpc.delete','name':'v'}"), -EBUSY);
	assert_string_equal(msg, "vpc.delete: vpc 'v' is used by workload 'db'");
	assert_int_equal(refused(m, msg,
				 "{'op':'token.put','name':'t','role':'agent','salt':'xy',"
				 "'hash':'00'}"),
			 -EINVAL);
	assert_int_equal(refused(m, msg, "{'op':'token.delete','name':'t'}"), -ENOENT);
	assert_int_equal(refused(m, msg, "{'op':'node.label','name':'n0','set':{'a=b':'c'}}"),
			 -EINVAL);
	assert_int_equal(refused(m, msg, "{'op':'barrier','id':'has space'}"), -EINVAL);
	model_free(m);
}

/* validate passes, the state moves on, apply then refuses: a recorded no-op */
static void test_apply_rechecks(void **state)
{
	struct model *m = model_new();
	struct err err = {0};
	struct fsm_result res;

	setup_cluster(m, 2);
	json_t *cmd = J("{'op':'task.place','id':'late','placements':[{'workload':'web',"
			"'replica':0,'node':'n0'},{'workload':'web','replica':1,'node':'n1'}]}");
	assert_int_equal(fsm_validate(m, cmd, &err), 0);
	assert_int_equal(run(m, NULL, "{'op':'node.state','name':'n1','state':'down'}"), 0);
	json_t *before = snapshot_json(m);
	uint64_t seq = m->event_seq;
	fsm_apply(m, cmd, next_index++, &res);
	json_decref(cmd);
	assert_int_equal(res.code, -EAGAIN);
	assert_string_equal(res.msg, "task.place: placements[1]: node 'n1' is down");
	/* nothing placed, not even the first entry */
	assert_int_equal(m->tasks.len, 0);
	assert_int_equal(m->event_seq, seq + 1);
	const struct model_event *e = model_event_get(m, m->event_seq);
	assert_string_equal(e->type, "command");
	assert_string_equal(e->action, "rejected");
	assert_string_equal(json_string_value(json_object_get(e->object, "id")), "late");
	/* the retry gets the same answer, without another event */
	cmd = J("{'op':'task.place','id':'late','placements':[{'workload':'web','replica':0,"
		"'node':'n0'}]}");
	fsm_apply(m, cmd, next_index++, &res);
	json_decref(cmd);
	assert_true(res.duplicate);
	assert_int_equal(res.code, -EAGAIN);
	assert_int_equal(m->event_seq, seq + 1);
	assert_int_equal(model_check(m, &err), 0);
	json_decref(before);

	/* a log entry that is not JSON at all */
	fsm_apply_buf(m, "{oops", 5, next_index++, &res);
	assert_int_equal(res.code, -EINVAL);
	assert_non_null(strstr(res.msg, "malformed log entry"));
	model_free(m);
}

static void test_idempotent(void **state)
{
	struct model *m = model_new();
	struct fsm_result res;
	const char *reg =
	    "{'op':'node.register','id':'r-1','name':'a','address':'x','role':'agent'}";

	assert_int_equal(run(m, &res, reg), 0);
	assert_false(res.duplicate);
	uint64_t first = res.index, seq = m->event_seq;
	assert_int_equal(model_node(m, "a")->heartbeat_gen, 1);
	assert_int_equal(run(m, &res, reg), 0);
	assert_true(res.duplicate);
	assert_int_equal(res.index, first);
	assert_int_equal(model_node(m, "a")->heartbeat_gen, 1);
	assert_int_equal(m->event_seq, seq);
	/* the table is bounded: the oldest ids are forgotten */
	for (int i = 0; i < MODEL_RECENT + 5; i++)
		assert_int_equal(run(m, NULL, "{'op':'barrier','id':'b-%d'}", i), 0);
	assert_int_equal(m->n_recent, MODEL_RECENT);
	assert_null(model_recent_get(m, "r-1"));
	assert_null(model_recent_get(m, "b-4"));
	assert_non_null(model_recent_get(m, "b-5"));
	model_free(m);
}

static void test_leases(void **state)
{
	struct model *m = model_new();
	struct fsm_result res;
	char msg[ERR_MSG_MAX];

	setup_cluster(m, 5);
	assert_int_equal(run(m, &res, "{'op':'vpc.create','name':'v','cidr':'10.5.0.0/22'}"), 0);
	struct model_vpc *v = model_vpc(m, "v");
	assert_int_equal(v->node_prefix, 28); /* /22 + 8 capped at /28: 64 subnets */
	assert_int_equal(v->vni, 4096);
	assert_int_equal(run(m, &res,
			     "{'op':'vpc.create','name':'s','cidr':'10.6.0.0/24',"
			     "'node_prefix':25}"),
			 0);
	assert_int_equal(model_vpc(m, "s")->vni, 4097);
	assert_int_equal(run(m, &res, "{'op':'lease.subnet','vpc':'s','node':'n0'}"), 0);
	assert_string_equal(res.msg, "10.6.0.0/25");
	assert_int_equal(run(m, &res, "{'op':'lease.subnet','vpc':'s','node':'n1'}"), 0);
	assert_string_equal(res.msg, "10.6.0.128/25");
	assert_int_equal(run(m, &res, "{'op':'lease.subnet','vpc':'s','node':'n0'}"), 0);
	assert_string_equal(res.msg, "10.6.0.0/25"); /* stable */
	assert_int_equal(refused(m, msg, "{'op':'lease.subnet','vpc':'s','node':'n2'}"), -ENOSPC);
	assert_string_equal(msg, "lease.subnet: vpc 's' (10.6.0.0/24) has no free /25 subnet left");
	assert_int_equal(run(m, &res, "{'op':'lease.subnet','vpc':'s','node':'n0','release':true}"),
			 0);
	assert_int_equal(run(m, &res, "{'op':'lease.subnet','vpc':'s','node':'n2'}"), 0);
	assert_string_equal(res.msg, "10.6.0.0/25"); /* the first free one again */
	assert_int_equal(run(m, &res, "{'op':'lease.subnet','vpc':'v','node':'n2'}"), 0);
	assert_string_equal(res.msg, "10.5.0.0/28");
	/* deleting a node releases its leases everywhere */
	assert_int_equal(run(m, &res, "{'op':'node.delete','name':'n2'}"), 0);
	assert_int_equal(model_vpc(m, "s")->leases.len, 1);
	assert_int_equal(v->leases.len, 0);
	assert_int_equal(run(m, &res, "{'op':'vpc.delete','name':'v'}"), 0);
	assert_null(model_vpc(m, "v"));
	model_free(m);
}

static void test_nodes_tokens(void **state)
{
	struct model *m = model_new();
	struct fsm_result res;
	char msg[ERR_MSG_MAX];

	setup_cluster(m, 2);
	assert_int_equal(run(m, NULL,
			     "{'op':'node.label','name':'n0','set':{'disk':'ssd'},"
			     "'remove':['zone']}"),
			 0);
	json_t *l = model_node(m, "n0")->labels;
	assert_string_equal(json_string_value(json_object_get(l, "disk")), "ssd");
	assert_null(json_object_get(l, "zone"));
	/* re-registration from the same address bumps the heartbeat generation and makes a
	 * stale "down" from before it lose */
	assert_int_equal(run(m, NULL,
			     "{'op':'node.register','name':'n1','address':'10.0.0.2:7946',"
			     "'role':'agent'}"),
			 0);
	assert_int_equal(model_node(m, "n1")->heartbeat_gen, 2);
	assert_int_equal(refused(m, msg,
				 "{'op':'node.state','name':'n1','state':'down',"
				 "'heartbeat_gen':1}"),
			 -ESTALE);
	assert_int_equal(run(m, NULL,
			     "{'op':'task.place','placements':[{'workload':'web',"
			     "'replica':0,'node':'n1'}]}"),
			 0);
	assert_int_equal(refused(m, msg, "{'op':'node.delete','name':'n1'}"), -EBUSY);
	assert_int_equal(run(m, &res, "{'op':'node.delete','name':'n1','force':true}"), 0);
	assert_int_equal(m->tasks.len, 0);
	assert_int_equal(model_workload_tasks(m, "web"), 0);

	assert_int_equal(run(m, NULL,
			     "{'op':'token.put','name':'agent-1','role':'agent',"
			     "'salt':'00112233445566778899aabbccddeeff','hash':"
			     "'00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff'}"),
			 0);
	struct model_token *t = model_token(m, "agent-1");
	assert_non_null(t);
	assert_int_equal(t->role, MODEL_ROLE_AGENT);
	/* events never carry the hash */
	const struct model_event *e = model_event_get(m, m->event_seq);
	assert_null(json_object_get(e->object, "hash"));
	assert_int_equal(run(m, NULL, "{'op':'token.delete','name':'agent-1'}"), 0);
	assert_null(model_token(m, "agent-1"));
	model_free(m);
}

/* Node certificates: recorded by serial, revoked by node.delete (all of that node's,
 * nobody else's), refused again once revoked, both lists dropping what expired by the
 * command's time; a snapshot keeps both. */
static void test_certs(void **state)
{
	struct model *m = model_new(), *back = NULL;
	struct fsm_result res;
	struct err err = {0};
	char msg[ERR_MSG_MAX], *buf;
	size_t len;

	setup_cluster(m, 4);
	assert_int_equal(run(m, NULL, "{'op':'cert.add','serial':'a1','node':'n3','expires_ms':5000,"
				      "'ts':1000}"), 0);
	assert_int_equal(run(m, NULL, "{'op':'cert.add','serial':'a2','node':'n3','expires_ms':9000,"
				      "'ts':1000}"), 0);
	assert_int_equal(run(m, NULL, "{'op':'cert.add','serial':'b1','node':'n2','expires_ms':9000,"
				      "'ts':1000}"), 0);
	assert_int_equal(m->certs.len, 3);
	/* bad input: one clear error each */
	assert_int_equal(refused(m, msg, "{'op':'cert.add','serial':'XY','node':'n3','expires_ms':1}"),
			 -EINVAL);
	assert_non_null(strstr(msg, "serial"));
	assert_int_equal(refused(m, msg, "{'op':'cert.add','serial':'a1','node':'n3'}"), -EINVAL);
	assert_non_null(strstr(msg, "expires_ms"));
	assert_int_equal(refused(m, msg, "{'op':'cert.add','serial':'a1','node':'n2','expires_ms':1}"),
			 -EEXIST);
	/* removing n3 revokes both of its certificates, and only those */
	assert_int_equal(run(m, &res, "{'op':'node.delete','name':'n3','ts':2000}"), 0);
	assert_non_null(strstr(res.msg, "2 certificates revoked"));
	assert_true(model_cert_revoked(m, "a1"));
	assert_true(model_cert_revoked(m, "a2"));
	assert_false(model_cert_revoked(m, "b1"));
	assert_int_equal(m->certs.len, 1);
	const struct model_event *e = model_event_get(m, m->event_seq - 1);
	assert_string_equal(e->type, "cert");
	assert_string_equal(e->action, "revoke");
	/* a revoked serial cannot be recorded again (a removed node's own record) */
	assert_int_equal(refused(m, msg, "{'op':'cert.add','serial':'a2','node':'n3','expires_ms':9000}"),
			 -EACCES);
	assert_non_null(strstr(msg, "revoked"));
	/* the node joins again: its new certificate is recorded and good */
	assert_int_equal(run(m, NULL, "{'op':'cert.add','serial':'a3','node':'n3','expires_ms':20000,"
				      "'ts':3000}"), 0);
	assert_false(model_cert_revoked(m, "a3"));
	/* a snapshot keeps both lists */
	assert_int_equal(snapshot_encode(m, &buf, &len, &err), 0);
	assert_int_equal(snapshot_decode(buf, len, &back, &err), 0);
	free(buf);
	assert_true(model_cert_revoked(back, "a2"));
	assert_non_null(hmap_get(&back->certs, "a3"));
	assert_int_equal(back->revoked.len, 2);
	model_free(back);
	/* a snapshot from before certificates were recorded loads, with none */
	json_t *doc = snapshot_json(m);
	json_object_del(doc, "certs");
	json_object_del(doc, "revoked");
	assert_int_equal(snapshot_load(doc, &back, &err), 0);
	assert_int_equal(back->certs.len + back->revoked.len, 0);
	model_free(back);
	json_decref(doc);
	/* but a malformed entry is refused, naming it */
	doc = snapshot_json(m);
	json_object_set_new(json_array_get(json_object_get(doc, "revoked"), 0), "serial",
			    json_string("NOT-HEX"));
	assert_int_equal(snapshot_load(doc, &back, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "snapshot.revoked[0].serial"));
	json_decref(doc);
	/* past 5000 ms a1 is dropped from the revoked list, a2 stays until 9000 */
	assert_int_equal(run(m, NULL, "{'op':'cert.add','serial':'c1','node':'n1','expires_ms':30000,"
				      "'ts':6000}"), 0);
	assert_false(model_cert_revoked(m, "a1"));
	assert_true(model_cert_revoked(m, "a2"));
	assert_int_equal(run(m, NULL, "{'op':'cert.add','serial':'c2','node':'n1','expires_ms':30000,"
				      "'ts':10000}"), 0);
	assert_int_equal(m->revoked.len, 0);
	assert_null(hmap_get(&m->certs, "b1"));
	assert_int_equal(m->certs.len, 3); /* a3, c1, c2 */
	model_free(m);
}

static void test_watch(void **state)
{
	struct model *m = model_new();
	struct err err = {0};
	json_t *ev;

	setup_cluster(m, 2);
	uint64_t mid = m->event_seq;
	assert_int_equal(run(m, NULL, "{'op':'node.state','name':'n0','state':'draining'}"), 0);
	assert_int_equal(model_watch(m, mid, 0, &ev, &err), 0);
	assert_int_equal(json_array_size(ev), 1);
	json_t *e = json_array_get(ev, 0);
	assert_int_equal(json_integer_value(json_object_get(e, "seq")), mid + 1);
	assert_string_equal(json_string_value(json_object_get(e, "action")), "state");
	json_decref(ev);
	assert_int_equal(model_watch(m, 0, 2, &ev, &err), 0);
	assert_int_equal(json_array_size(ev), 2);
	json_decref(ev);
	/* a watcher further behind than the ring must list again */
	for (int i = 0; i < MODEL_EVENTS; i++)
		assert_int_equal(run(m, NULL, "{'op':'node.state','name':'n0','state':'%s'}",
				     i % 2 ? "ready" : "draining"),
				 0);
	assert_int_equal(model_watch(m, mid, 0, &ev, &err), -ESTALE);
	assert_non_null(strstr(err.msg, "list again and watch from"));
	assert_int_equal(model_watch(m, m->event_seq - 3, 0, &ev, &err), 0);
	assert_int_equal(json_array_size(ev), 3);
	json_decref(ev);
	model_free(m);
}

static void test_snapshot_roundtrip(void **state)
{
	struct model *m = model_new(), *back = NULL;
	struct err err = {0};
	char *buf;
	size_t len;

	setup_cluster(m, 4);
	assert_int_equal(run(m, NULL, "{'op':'vpc.create','name':'v','cidr':'10.7.0.0/16'}"), 0);
	assert_int_equal(run(m, NULL, "{'op':'lease.subnet','vpc':'v','node':'n3','id':'l'}"), 0);
	assert_int_equal(run(m, NULL,
			     "{'op':'task.place','placements':[{'workload':'web',"
			     "'replica':0,'node':'n1'},{'workload':'web','replica':1,"
			     "'node':'n3'}]}"),
			 0);
	assert_int_equal(run(m, NULL,
			     "{'op':'token.put','name':'s1','role':'server','salt':"
			     "'0011223344556677','hash':'00112233445566778899aabbccddeeff'}"),
			 0);
	assert_int_equal(snapshot_encode(m, &buf, &len, &err), 0);
	assert_int_equal(snapshot_decode(buf, len, &back, &err), 0);
	char *buf2;
	size_t len2;
	assert_int_equal(snapshot_encode(back, &buf2, &len2, &err), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	free(buf);
	free(buf2);
	/* both go on identically */
	uint64_t idx = next_index;
	const char *more =
	    "{'op':'task.place','id':'l','placements':[{'workload':'web','replica':2,"
	    "'node':'n0'}]}";
	next_index = idx;
	run(m, NULL, more);
	next_index = idx;
	run(back, NULL, more); /* "l" was applied before the snapshot: a duplicate in both */
	assert_int_equal(back->tasks.len, 2);
	assert_int_equal(snapshot_encode(m, &buf, &len, &err), 0);
	assert_int_equal(snapshot_encode(back, &buf2, &len2, &err), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	free(buf);
	free(buf2);
	model_free(back);
	model_free(m);
}

static void test_snapshot_refused(void **state)
{
	struct model *m = model_new(), *back = NULL;
	struct err err = {0};

	setup_cluster(m, 2);
	run(m, NULL,
	    "{'op':'task.place','placements':[{'workload':'web','replica':0,'node':'n1'}]}");
	assert_int_equal(snapshot_decode("nope", 4, &back, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "snapshot: not JSON"));

	json_t *doc = snapshot_json(m);
	json_object_set_new(doc, "version", json_integer(2));
	assert_int_equal(snapshot_load(doc, &back, &err), -ENOTSUP);
	assert_string_equal(err.msg,
			    "snapshot: format version 2 is not supported (this coop reads 1)");
	json_decref(doc);

	doc = snapshot_json(m);
	json_object_set_new(doc, "format", json_string("etcd"));
	assert_int_equal(snapshot_load(doc, &back, &err), -EINVAL);
	json_decref(doc);

	doc = snapshot_json(m);
	json_object_set_new(json_array_get(json_object_get(doc, "nodes"), 1), "role",
			    json_string("king"));
	assert_int_equal(snapshot_load(doc, &back, &err), -EINVAL);
	assert_string_equal(err.msg, "snapshot.nodes[1].role: unknown value 'king'");
	json_decref(doc);

	/* a task on a node the snapshot does not have */
	doc = snapshot_json(m);
	json_object_set_new(json_array_get(json_object_get(doc, "tasks"), 0), "node",
			    json_string("ghost"));
	assert_int_equal(snapshot_load(doc, &back, &err), -EUCLEAN);
	assert_string_equal(err.msg,
			    "snapshot: inconsistent: task 'web.0': node 'ghost' does not exist");
	json_decref(doc);

	doc = snapshot_json(m);
	json_array_append(json_object_get(doc, "nodes"),
			  json_array_get(json_object_get(doc, "nodes"), 0));
	assert_int_equal(snapshot_load(doc, &back, &err), -EINVAL);
	assert_string_equal(err.msg, "snapshot.nodes[2]: node 'n0' appears twice");
	json_decref(doc);
	model_free(m);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 1,000 nodes, 100,000 replicas placed in batches of 1,000 through the encoded path
 * (encode, validate, decode, apply): the rate is printed for the benchmark notes. */
static void test_apply_rate(void **state)
{
	struct model *m = model_new();
	struct fsm_result res;
	struct err err = {0};
	const int nodes = 1000, replicas = 100000, batch = 1000;

	for (int i = 0; i < nodes; i++)
		assert_int_equal(run(m, NULL,
				     "{'op':'node.register','name':'h%04d','address':"
				     "'10.1.%d.%d:1','role':'agent','capacity':"
				     "{'cpu_milli':64000,'memory':68719476736}}",
				     i, i / 250, i % 250 + 1),
				 0);
	assert_int_equal(run(m, NULL,
			     "{'op':'workload.put','name':'hollow','replicas':%d,"
			     "'spec':{'name':'hollow','image':'busybox','resources':"
			     "{'cpus':0.1,'memory_limit':16777216}}}",
			     replicas),
			 0);
	double t_validate = 0, t_apply = 0, t0;
	for (int b = 0; b < replicas / batch; b++) {
		json_t *ps = json_array();
		for (int i = 0; i < batch; i++) {
			int r = b * batch + i;
			char node[16];
			snprintf(node, sizeof(node), "h%04d", r % nodes);
			json_array_append_new(ps, json_pack("{s:s,s:i,s:s,s:i}", "workload",
							    "hollow", "replica", r, "node", node,
							    "generation", 0));
		}
		json_t *cmd = json_pack("{s:s,s:s%,s:o}", "op", "task.place", "id", "bench", 5,
					"placements", ps);
		json_object_set_new(cmd, "id", json_sprintf("place-%d", b));
		t0 = now_s();
		assert_int_equal(fsm_validate(m, cmd, &err), 0);
		char *buf = json_dumps(cmd, JSON_COMPACT);
		t_validate += now_s() - t0;
		t0 = now_s();
		fsm_apply_buf(m, buf, strlen(buf), next_index++, &res);
		t_apply += now_s() - t0;
		assert_int_equal(res.code, 0);
		free(buf);
		json_decref(cmd);
	}
	assert_int_equal(m->tasks.len, replicas);
	assert_int_equal(model_check(m, &err), 0);
	t0 = now_s();
	char *snap;
	size_t len;
	assert_int_equal(snapshot_encode(m, &snap, &len, &err), 0);
	double t_snap = now_s() - t0;
	t0 = now_s();
	struct model *back = NULL;
	assert_int_equal(snapshot_decode(snap, len, &back, &err), 0);
	double t_restore = now_s() - t0;
	print_message("apply rate: %d placements in batches of %d: validate+encode %.0f/s, "
		      "decode+apply %.0f/s, both %.0f/s; snapshot %.1f MB in %.2f s, restore "
		      "%.2f s\n",
		      replicas, batch, replicas / t_validate, replicas / t_apply,
		      replicas / (t_validate + t_apply), len / 1e6, t_snap, t_restore);
	free(snap);
	model_free(back);
	model_free(m);
}

static json_t *gc_cmd(struct model *m, size_t keep, size_t max)
{
	return gc_command(m, keep, max);
}

/* The ids a task.remove command names, comma-separated. */
static char *gc_ids(json_t *cmd)
{
	static char buf[1024];
	json_t *it;
	size_t i;

	buf[0] = 0;
	json_array_foreach(json_object_get(cmd, "tasks"), i, it)
	{
		if (i)
			strcat(buf, ",");
		strcat(buf, json_string_value(json_object_get(it, "task")));
	}
	return buf;
}

/* Applies a task.remove as the leader would (validate, then apply at the next index). */
static int gc_apply(struct model *m, json_t *cmd, struct fsm_result *res)
{
	struct err err = {0};

	if (fsm_validate(m, cmd, &err) < 0)
		fail_msg("task.remove refused: %s", err.msg);
	fsm_apply(m, cmd, next_index++, res);
	assert_int_equal(model_check(m, &err), 0);
	return res->code;
}

/* Garbage collection of tasks (state/gc.h + task.remove): a live workload keeps its
 * newest GC_KEEP stopped, unwanted tasks; a deleted workload's all go; batches are
 * bounded; a task placed again since the selection (another generation), a running one
 * and one whose workload came back are skipped; a repeat removes nothing; malformed
 * commands are refused with the field named. */
static void test_gc(void **state)
{
	struct model *m = model_new();
	struct fsm_result res;
	char msg[ERR_MSG_MAX], place[4096];
	json_t *cmd;
	int n;

	setup_cluster(m, 4);
	assert_int_equal(run(m, NULL, "{'op':'workload.put','name':'web','replicas':10,'spec':"
				      "{'name':'web','image':'nginx'}}"), 0);
	n = snprintf(place, sizeof(place), "{'op':'task.place','placements':[");
	for (int i = 0; i < 10; i++)
		n += snprintf(place + n, sizeof(place) - n, "%s{'workload':'web','replica':%d,"
			      "'node':'n%d'}", i ? "," : "", i, i % 4);
	snprintf(place + n, sizeof(place) - n, "]}");
	assert_int_equal(run(m, NULL, "%s", place), 0);
	assert_null(gc_cmd(m, GC_KEEP, GC_BATCH)); /* nothing stopped yet */

	/* scale down to 2, the scheduler stops 2..9 one by one (web.2 oldest): their nodes
	 * never report (down, or the container went without a word) */
	assert_int_equal(run(m, NULL, "{'op':'workload.put','name':'web','replicas':2,'spec':"
				      "{'name':'web','image':'nginx'}}"), 0);
	for (int i = 2; i < 10; i++)
		assert_int_equal(run(m, NULL, "{'op':'task.place','placements':[{'workload':'web',"
					      "'replica':%d,'desired':'stopped'}]}", i), 0);
	cmd = gc_cmd(m, GC_KEEP, GC_BATCH);
	assert_non_null(cmd);
	assert_string_equal(gc_ids(cmd), "web.4,web.3,web.2"); /* the 5 newest stay */
	json_decref(cmd);
	cmd = gc_cmd(m, GC_KEEP, 2); /* a bounded batch */
	assert_int_equal(json_array_size(json_object_get(cmd, "tasks")), 2);
	/* between selection and apply, web.4 is placed again (new generation) */
	assert_int_equal(run(m, NULL, "{'op':'task.place','placements':[{'workload':'web',"
				      "'replica':4,'node':'n0','generation':1}]}"), 0);
	json_decref(cmd);
	cmd = gc_cmd(m, GC_KEEP, GC_BATCH);
	assert_string_equal(gc_ids(cmd), "web.3,web.2");
	json_decref(cmd);
	cmd = gc_cmd(m, 0, GC_BATCH);
	assert_string_equal(gc_ids(cmd), "web.9,web.8,web.7,web.6,web.5,web.3,web.2");
	assert_int_equal(run(m, NULL, "{'op':'task.place','placements':[{'workload':'web',"
				      "'replica':9,'node':'n1','generation':1}]}"), 0);
	size_t before = m->tasks.len;
	assert_int_equal(gc_apply(m, cmd, &res), 0);
	assert_string_equal(res.msg, "6 tasks removed, 1 skipped"); /* web.9 runs again */
	assert_int_equal(m->tasks.len, before - 6);
	assert_non_null(model_task(m, "web.9"));
	const struct model_event *e = model_event_get(m, m->event_seq);
	assert_string_equal(e->type, "task");
	assert_string_equal(e->action, "delete");
	/* the same command again (a retry after a lost leader): nothing left to do */
	json_object_del(cmd, "id");
	assert_int_equal(gc_apply(m, cmd, &res), 0);
	assert_string_equal(res.msg, "0 tasks removed, 7 skipped");
	json_decref(cmd);

	/* a deleted workload: every stopped task goes, whatever its node says */
	assert_int_equal(run(m, NULL, "{'op':'workload.delete','name':'web'}"), 0);
	assert_int_equal(model_workload_tasks(m, "web"), 4); /* web.0, .1, .4, .9 */
	cmd = gc_cmd(m, GC_KEEP, GC_BATCH);
	assert_int_equal(json_array_size(json_object_get(cmd, "tasks")), 4);
	/* ... unless the workload comes back before the command applies */
	assert_int_equal(run(m, NULL, "{'op':'workload.put','name':'web','replicas':1,'spec':"
				      "{'name':'web','image':'nginx'}}"), 0);
	assert_int_equal(gc_apply(m, cmd, &res), 0);
	assert_string_equal(res.msg, "3 tasks removed, 1 skipped"); /* web.0 is wanted */
	assert_non_null(model_task(m, "web.0"));
	json_decref(cmd);
	assert_null(gc_cmd(m, GC_KEEP, GC_BATCH));

	/* bad input: one clear error, nothing applied */
	assert_int_equal(refused(m, msg, "{'op':'task.remove','tasks':[]}"), -EINVAL);
	assert_string_equal(msg, "task.remove: tasks: expected 1 to 10000 entries, not 0");
	assert_int_equal(refused(m, msg, "{'op':'task.remove','tasks':[{'task':'web.0'}]}"),
			 -EINVAL);
	assert_non_null(strstr(msg, "tasks[0].generation"));
	assert_int_equal(refused(m, msg, "{'op':'task.remove','tasks':[{'task':'web.0',"
					 "'generation':1},{'task':'web.0','generation':1}]}"),
			 -EINVAL);
	assert_non_null(strstr(msg, "tasks[1]: task 'web.0' appears twice"));
	assert_int_equal(refused(m, msg, "{'op':'task.remove','tasks':['web.0']}"), -EINVAL);
	assert_non_null(strstr(msg, "tasks[0]: expected an object"));
	model_free(m);
}

/* model_copy (a snapshot's consistent copy, encoded off the loop): encodes exactly as
 * the original, every kind of object included; stays as it was while the original
 * changes; frees on its own. */
static void test_model_copy(void **state)
{
	struct model *m = model_new();
	struct err err = {0};
	char *a, *b, *c;
	size_t la, lb, lc;

	setup_cluster(m, 4);
	assert_int_equal(run(m, NULL, "{'op':'vpc.create','name':'v1','cidr':'10.9.0.0/16'}"), 0);
	assert_int_equal(run(m, NULL, "{'op':'lease.subnet','vpc':'v1','node':'n1'}"), 0);
	assert_int_equal(run(m, NULL, "{'op':'token.put','id':'t1','name':'tok','role':'agent',"
				      "'salt':'00112233445566778899','hash':'%s'}",
			     "00112233445566778899aabbccddeeff"),
			 0);
	assert_int_equal(run(m, NULL, "{'op':'cert.add','serial':'c1','node':'n2','expires_ms':9000,"
				      "'ts':1000}"), 0);
	assert_int_equal(run(m, NULL, "{'op':'cert.add','serial':'c2','node':'n3','expires_ms':9000,"
				      "'ts':1000}"), 0);
	assert_int_equal(run(m, NULL, "{'op':'task.place','id':'p1','placements':["
				      "{'workload':'web','replica':0,'node':'n0'},"
				      "{'workload':'web','replica':1,'node':'n1'}]}"), 0);
	assert_int_equal(run(m, NULL, "{'op':'task.status','reports':[{'task':'web.0','generation':1,"
				      "'node':'n0','state':'running','ip':'10.88.0.2','container':"
				      "'c0','message':'ok'}]}"), 0);
	assert_int_equal(run(m, NULL, "{'op':'node.delete','name':'n3','ts':2000}"), 0);
	assert_true(m->revoked.len > 0);

	struct model *copy = model_copy(m);
	assert_int_equal(model_check(copy, &err), 0);
	assert_int_equal(snapshot_encode(m, &a, &la, &err), 0);
	assert_int_equal(snapshot_encode(copy, &b, &lb, &err), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	/* the original moves on; the copy does not */
	assert_int_equal(run(m, NULL, "{'op':'node.label','name':'n1','set':{'zone':'z9'}}"), 0);
	assert_int_equal(run(m, NULL, "{'op':'task.status','reports':[{'task':'web.0','generation':1,"
				      "'node':'n0','state':'exited','exit_code':1}]}"), 0);
	assert_int_equal(run(m, NULL, "{'op':'workload.delete','name':'web'}"), 0);
	model_free(m); /* the copy shares only reference-counted JSON with it */
	assert_int_equal(snapshot_encode(copy, &c, &lc, &err), 0);
	assert_int_equal(lc, la);
	assert_memory_equal(c, a, la);
	model_free(copy);
	free(a);
	free(b);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic_flow),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_apply_rechecks),
	    cmocka_unit_test(test_idempotent),
	    cmocka_unit_test(test_leases),
	    cmocka_unit_test(test_nodes_tokens),
	    cmocka_unit_test(test_certs),
	    cmocka_unit_test(test_watch),
	    cmocka_unit_test(test_snapshot_roundtrip),
	    cmocka_unit_test(test_snapshot_refused),
	    cmocka_unit_test(test_gc),
	    cmocka_unit_test(test_model_copy),
	    cmocka_unit_test(test_apply_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
