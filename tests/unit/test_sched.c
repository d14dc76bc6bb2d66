/* Unit tests for sched: spread, constraints, capacity, failure domains, rescheduling and
 * scale down, driven in-process from tables. Each test builds a small cluster, applies
 * the plan the way the leader would, and checks that the next round has nothing to do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/util.h"
#include "sched/sched.h"

#define MiB (1024ull * 1024)
#define GiB (1024 * MiB)
#define MAX_NODES 96
#define MAX_TASKS 512

/* A node in a table: labels as "k=v,k=v". */
struct node_spec {
	const char *name;
	enum sched_node_state state;
	const char *labels;
	uint64_t cpu, mem;
};

struct fx {
	struct sched_node nodes[MAX_NODES];
	struct sched_label labels[MAX_NODES][4];
	char label_buf[MAX_NODES][64];
	size_t n_nodes;
	struct sched_task tasks[MAX_TASKS];
	char ids[MAX_TASKS][16];
	size_t n_tasks;
	const char *domain_key;
};

static void fx_init(struct fx *f, const struct node_spec *ns, const char *domain_key)
{
	memset(f, 0, sizeof(*f));
	f->domain_key = domain_key;
	for (; ns[f->n_nodes].name; f->n_nodes++) {
		const struct node_spec *s = &ns[f->n_nodes];
		struct sched_node *n = &f->nodes[f->n_nodes];
		char *buf = f->label_buf[f->n_nodes], *save = NULL;

		*n = (struct sched_node){.name = s->name,
					 .state = s->state,
					 .labels = f->labels[f->n_nodes],
					 .cpu_millis = s->cpu ? s->cpu : 4000,
					 .memory_bytes = s->mem ? s->mem : 8 * GiB};
		snprintf(buf, 64, "%s", s->labels ? s->labels : "");
		for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(kv, '=');
			struct sched_label *l = &f->labels[f->n_nodes][n->n_labels++];
			if (eq)
				*eq = '\0';
			*l = (struct sched_label){kv, eq ? eq + 1 : ""};
		}
	}
}

static struct sched_cluster fx_cluster(struct fx *f)
{
	return (struct sched_cluster){f->nodes, f->n_nodes, f->domain_key};
}

static struct sched_node *fx_node(struct fx *f, const char *name)
{
	for (size_t i = 0; i < f->n_nodes; i++)
		if (streq(f->nodes[i].name, name))
			return &f->nodes[i];
	return NULL;
}

static const struct sched_workload *find_wl(const struct sched_workload *ws, size_t n,
					    const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(ws[i].name, name))
			return &ws[i];
	return NULL;
}

static void fx_add_task(struct fx *f, const struct sched_workload *w, const char *node,
			unsigned replica, uint64_t gen, enum sched_task_state st)
{
	struct sched_task *t = &f->tasks[f->n_tasks];
	struct sched_node *n = fx_node(f, node);

	assert_true(f->n_tasks < MAX_TASKS);
	snprintf(f->ids[f->n_tasks], sizeof(f->ids[0]), "t%zu", f->n_tasks);
	*t = (struct sched_task){f->ids[f->n_tasks], w->name, node, replica, gen, st};
	f->n_tasks++;
	if (n) {
		n->alloc_cpu_millis += w->cpu_millis;
		n->alloc_memory_bytes += w->memory_bytes;
	}
}

/* What the leader does with a plan: stopped tasks release their node's resources, placed
 * ones become running tasks. */
static void fx_apply(struct fx *f, const struct sched_workload *ws, size_t n_ws,
		     const struct sched_plan *p)
{
	for (size_t i = 0; i < p->n_stops; i++) {
		struct sched_task *t = &f->tasks[p->stops[i].task - f->tasks];
		const struct sched_workload *w = find_wl(ws, n_ws, t->workload);
		struct sched_node *n = fx_node(f, t->node);

		assert_true(t->state == SCHED_TASK_RUNNING || t->state == SCHED_TASK_ASSIGNED);
		t->state = SCHED_TASK_STOPPED;
		if (n && w) {
			n->alloc_cpu_millis -= w->cpu_millis;
			n->alloc_memory_bytes -= w->memory_bytes;
		}
	}
	for (size_t i = 0; i < p->n_placements; i++) {
		const struct sched_placement *pl = &p->placements[i];
		fx_add_task(f, find_wl(ws, n_ws, pl->workload), pl->node, pl->replica,
			    pl->generation, SCHED_TASK_RUNNING);
	}
}

static void fx_reconcile(struct fx *f, const struct sched_workload *ws, size_t n,
			 struct sched_plan *p)
{
	struct sched_cluster c = fx_cluster(f);
	struct err err = {0};

	if (sched_reconcile(&c, ws, n, f->tasks, f->n_tasks, p, &err) < 0)
		fail_msg("reconcile: %s", err.msg);
}

/* Reconciles, applies, and checks the next round is empty. */
static void fx_converge(struct fx *f, const struct sched_workload *ws, size_t n)
{
	struct sched_plan p;

	fx_reconcile(f, ws, n, &p);
	fx_apply(f, ws, n, &p);
	sched_plan_free(&p);
	fx_reconcile(f, ws, n, &p);
	if (!sched_plan_empty(&p))
		fail_msg("second round not empty: %zu placements, %zu stops, %zu unplaced",
			 p.n_placements, p.n_stops, p.n_unplaced);
	sched_plan_free(&p);
}

static unsigned live_on(const struct fx *f, const char *wl, const char *node)
{
	unsigned k = 0;

	for (size_t i = 0; i < f->n_tasks; i++) {
		const struct sched_task *t = &f->tasks[i];
		if ((t->state == SCHED_TASK_RUNNING || t->state == SCHED_TASK_ASSIGNED) &&
		    streq(t->workload, wl) && streq(t->node, node))
			k++;
	}
	return k;
}

/* "n1=2,n2=0,..." for every node, to compare a whole spread at once. */
static const char *spread_str(const struct fx *f, const char *wl, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < f->n_nodes; i++)
		len += snprintf(buf + len, size - len, "%s%s=%u", i ? "," : "", f->nodes[i].name,
				live_on(f, wl, f->nodes[i].name));
	return buf;
}

static void assert_spread(const struct fx *f, const char *wl, const char *want)
{
	char buf[512];

	if (!streq(spread_str(f, wl, buf, sizeof(buf)), want))
		fail_msg("%s: got %s, want %s", wl, buf, want);
}

/* ---- the issue's case and constraints ---- */

static const struct node_spec issue_nodes[] = {
    {.name = "agent1", .state = SCHED_NODE_READY, .labels = "role=agent"},
    {.name = "agent2", .state = SCHED_NODE_READY, .labels = "role=agent,gpu=1"},
    {.name = "server1", .state = SCHED_NODE_READY, .labels = "role=server,zone=a"},
    {.name = "server2", .state = SCHED_NODE_READY, .labels = "role=server,zone=b,ssd"},
    {.name = "server3", .state = SCHED_NODE_READY, .labels = "role=server,zone=c,ssd"},
    {0},
};

static void test_constraints(void **state)
{
	static const struct {
		const char *cons[3];
		unsigned replicas;
		const char *want;
	} cases[] = {
	    /* 3 servers + 2 agents, 6 replicas, 2 nodes ruled out: 2 per eligible node */
	    {{"role==server"}, 6, "agent1=0,agent2=0,server1=2,server2=2,server3=2"},
	    {{"role!=agent"}, 6, "agent1=0,agent2=0,server1=2,server2=2,server3=2"},
	    {{"zone"}, 6, "agent1=0,agent2=0,server1=2,server2=2,server3=2"},
	    {{"ssd"}, 4, "agent1=0,agent2=0,server1=0,server2=2,server3=2"},
	    /* != also matches nodes without the label */
	    {{"zone!=a"}, 4, "agent1=1,agent2=1,server1=0,server2=1,server3=1"},
	    {{"role==agent", "gpu"}, 2, "agent1=0,agent2=2,server1=0,server2=0,server3=0"},
	    {{" role == server ", "zone != b"},
	     4,
	     "agent1=0,agent2=0,server1=2,server2=0,server3=2"},
	    /* no constraint: everyone, spread evenly */
	    {{NULL}, 5, "agent1=1,agent2=1,server1=1,server2=1,server3=1"},
	    /* node.name: every node's own name, no label needed */
	    {{"node.name==server2"}, 3, "agent1=0,agent2=0,server1=0,server2=3,server3=0"},
	    {{"node.name!=agent1", "role==agent"}, 2, "agent1=0,agent2=2,server1=0,server2=0,server3=0"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct fx f;
		size_t nc = 0;
		while (nc < 3 && cases[i].cons[nc])
			nc++;
		struct sched_workload w = {.name = "web",
					   .replicas = cases[i].replicas,
					   .cpu_millis = 100,
					   .memory_bytes = 64 * MiB,
					   .constraints = cases[i].cons,
					   .n_constraints = nc};
		fx_init(&f, issue_nodes, NULL);
		fx_converge(&f, &w, 1);
		assert_spread(&f, "web", cases[i].want);
	}
}

static void test_bad_constraints(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"zone=a", "unknown operator"},    {"zone<a", "unknown operator"},
	    {"==a", "empty label key"},	       {"zone==", "empty value"},
	    {"zone==a==b", "one operator"},    {"zo ne==a", "may hold only"},
	    {"zone==a b", "value has spaces"}, {"", "empty label key"},
	};
	static const char *good[] = {"zone==a", "zone!=a", "ssd", "topology.kubernetes.io/zone"};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct err err = {0};
		assert_int_equal(sched_constraint_check(cases[i].in, &err), -EINVAL);
		if (!strstr(err.msg, cases[i].want))
			fail_msg("'%s': got '%s'", cases[i].in, err.msg);
	}
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct err err = {0};
		if (sched_constraint_check(good[i], &err) < 0)
			fail_msg("'%s': %s", good[i], err.msg);
	}

	/* sched_place refuses the workload; reconcile reports it and goes on with the rest */
	const char *bad[] = {"zone=a"};
	struct sched_workload ws[] = {
	    {.name = "bad", .replicas = 2, .constraints = bad, .n_constraints = 1},
	    {.name = "ok", .replicas = 2},
	};
	struct fx f;
	struct sched_plan p = {0};
	struct err err = {0};
	fx_init(&f, issue_nodes, NULL);
	struct sched_cluster c = fx_cluster(&f);
	assert_int_equal(sched_place(&c, &ws[0], NULL, 0, &p, &err), -EINVAL);
	assert_string_equal(err.msg, "workload 'bad': constraint 'zone=a': unknown operator "
				     "(use key==value, key!=value or key)");
	assert_null(p.placements);
	fx_reconcile(&f, ws, 2, &p);
	assert_int_equal(p.n_placements, 2);
	assert_int_equal(p.n_unplaced, 1);
	assert_int_equal(p.unplaced[0].replica, 0);
	assert_string_equal(p.unplaced[0].workload, "bad");
	sched_plan_free(&p);
}

/* ---- capacity ---- */

static void test_capacity(void **state)
{
	static const struct node_spec nodes[] = {
	    {.name = "n1", .state = SCHED_NODE_DOWN},
	    {.name = "n2", .state = SCHED_NODE_READY, .cpu = 4000, .mem = 256 * MiB},
	    {.name = "n3", .state = SCHED_NODE_READY, .cpu = 4000, .mem = 256 * MiB},
	    {0},
	};
	static const struct node_spec mixed[] = {
	    {.name = "n1", .state = SCHED_NODE_DRAINING},
	    {.name = "n2",
	     .state = SCHED_NODE_READY,
	     .labels = "zone=a",
	     .cpu = 1000,
	     .mem = 2 * GiB},
	    {.name = "n3",
	     .state = SCHED_NODE_READY,
	     .labels = "zone=a",
	     .cpu = 4000,
	     .mem = 1536 * MiB},
	    {.name = "n4",
	     .state = SCHED_NODE_READY,
	     .labels = "zone=b",
	     .cpu = 4000,
	     .mem = 8 * GiB},
	    {0},
	};
	static const struct node_spec none[] = {{0}};
	static const char *zone_a[] = {"zone==a"};
	static const struct {
		const struct node_spec *nodes;
		struct sched_workload w;
		size_t placed;
		const char *want; /* the last unplaced replica's message */
	} cases[] = {
	    {nodes,
	     {.name = "web", .replicas = 5, .cpu_millis = 100, .memory_bytes = 512 * MiB},
	     0,
	     "replica 5 of web: no node fits (3 nodes: 1 down, 2 lack memory: need 512 MiB, "
	     "free 256 MiB)"},
	    /* n2 takes 2 (1000m / 500m), n3 takes 3 (1536 MiB / 512 MiB), n4 is in zone b */
	    {mixed,
	     {.name = "api",
	      .replicas = 7,
	      .cpu_millis = 500,
	      .memory_bytes = 512 * MiB,
	      .constraints = zone_a,
	      .n_constraints = 1},
	     5,
	     "replica 7 of api: no node fits (4 nodes: 1 draining, 1 don't match zone==a, "
	     "1 lack cpu: need 500m, free 0m, 1 lack memory: need 512 MiB, free 0 B)"},
	    {none,
	     {.name = "web", .replicas = 1},
	     0,
	     "replica 1 of web: no node fits (no nodes in the cluster)"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct fx f;
		struct sched_plan p;
		fx_init(&f, cases[i].nodes, NULL);
		fx_reconcile(&f, &cases[i].w, 1, &p);
		assert_int_equal(p.n_placements, cases[i].placed);
		assert_int_equal(p.n_unplaced, cases[i].w.replicas - cases[i].placed);
		assert_int_equal(p.unplaced[p.n_unplaced - 1].replica, cases[i].w.replicas);
		assert_string_equal(p.unplaced[p.n_unplaced - 1].msg, cases[i].want);
		/* what fits is placed, within capacity */
		fx_apply(&f, &cases[i].w, 1, &p);
		sched_plan_free(&p);
		for (size_t j = 0; j < f.n_nodes; j++) {
			assert_true(f.nodes[j].alloc_cpu_millis <= f.nodes[j].cpu_millis);
			assert_true(f.nodes[j].alloc_memory_bytes <= f.nodes[j].memory_bytes);
		}
	}
}

/* Workloads share capacity: the first (by name) takes what it needs, the next gets the
 * rest; a node over capacity keeps its tasks (nothing is evicted for load). */
static void test_shared_capacity(void **state)
{
	static const struct node_spec nodes[] = {
	    {.name = "n1", .state = SCHED_NODE_READY, .cpu = 1000, .mem = 1 * GiB},
	    {.name = "n2", .state = SCHED_NODE_READY, .cpu = 1000, .mem = 1 * GiB},
	    {0},
	};
	struct sched_workload ws[] = {
	    {.name = "b", .replicas = 2, .cpu_millis = 500},
	    {.name = "a", .replicas = 3, .cpu_millis = 500},
	};
	struct fx f;
	struct sched_plan p;

	fx_init(&f, nodes, NULL);
	fx_reconcile(&f, ws, 2, &p);
	assert_int_equal(p.n_placements, 4);
	assert_string_equal(p.placements[0].workload, "a");
	assert_int_equal(p.n_unplaced, 1);
	assert_string_equal(p.unplaced[0].msg, "replica 2 of b: no node fits (2 nodes: 2 lack "
					       "cpu: need 500m, free 0m)");
	fx_apply(&f, ws, 2, &p);
	sched_plan_free(&p);
	/* overcommit n1 behind the scheduler's back: its tasks stay */
	fx_node(&f, "n1")->alloc_cpu_millis += 5000;
	fx_reconcile(&f, ws, 2, &p);
	assert_int_equal(p.n_stops, 0);
	assert_int_equal(p.n_placements, 0);
	assert_int_equal(p.n_unplaced, 1);
	sched_plan_free(&p);
}

/* ---- rescheduling: only what must move moves ---- */

static void test_down_and_draining(void **state)
{
	static const struct node_spec nodes[] = {
	    {.name = "n1", .state = SCHED_NODE_READY},
	    {.name = "n2", .state = SCHED_NODE_READY},
	    {.name = "n3", .state = SCHED_NODE_READY},
	    {.name = "n4", .state = SCHED_NODE_READY},
	    {0},
	};
	static const struct {
		const char *node;
		enum sched_node_state state;
		enum sched_stop_reason reason;
		const char *want;
	} cases[] = {
	    {"n2", SCHED_NODE_DOWN, SCHED_STOP_NODE_DOWN, "n1=3,n2=0,n3=3,n4=3"},
	    {"n3", SCHED_NODE_DRAINING, SCHED_STOP_NODE_DRAINING, "n1=3,n2=3,n3=0,n4=3"},
	};
	struct sched_workload w = {.name = "web", .replicas = 9, .memory_bytes = 64 * MiB};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct fx f;
		struct sched_plan p;
		char before[512], line[256];
		unsigned moved[16] = {0};
		size_t n_moved = 0;

		fx_init(&f, nodes, NULL);
		fx_converge(&f, &w, 1);
		spread_str(&f, "web", before, sizeof(before));
		assert_string_equal(before, "n1=3,n2=2,n3=2,n4=2");
		fx_node(&f, cases[i].node)->state = cases[i].state;
		fx_reconcile(&f, &w, 1, &p);
		/* exactly the tasks on that node stop, and their replicas come back elsewhere
		 * with a newer generation */
		assert_int_equal(p.n_stops, live_on(&f, "web", cases[i].node));
		for (size_t j = 0; j < p.n_stops; j++) {
			assert_string_equal(p.stops[j].task->node, cases[i].node);
			assert_int_equal(p.stops[j].reason, cases[i].reason);
			moved[n_moved++] = p.stops[j].task->replica;
		}
		sched_stop_fmt(&p.stops[0], line, sizeof(line));
		assert_non_null(
		    strstr(line, cases[i].state == SCHED_NODE_DOWN ? "is down" : "is draining"));
		assert_int_equal(p.n_placements, n_moved);
		for (size_t j = 0; j < p.n_placements; j++) {
			assert_string_not_equal(p.placements[j].node, cases[i].node);
			assert_int_equal(p.placements[j].replica, moved[j]);
			assert_int_equal(p.placements[j].generation, 2);
		}
		fx_apply(&f, &w, 1, &p);
		sched_plan_free(&p);
		assert_spread(&f, "web", cases[i].want);
		fx_reconcile(&f, &w, 1, &p);
		assert_true(sched_plan_empty(&p));
		sched_plan_free(&p);
		/* the node comes back: nothing moves back to it */
		fx_node(&f, cases[i].node)->state = SCHED_NODE_READY;
		fx_reconcile(&f, &w, 1, &p);
		assert_true(sched_plan_empty(&p));
		sched_plan_free(&p);
	}
}

/* A label change that breaks a constraint moves only the tasks on that node. */
static void test_constraint_change(void **state)
{
	static const struct node_spec nodes[] = {
	    {.name = "n1", .state = SCHED_NODE_READY, .labels = "disk=ssd"},
	    {.name = "n2", .state = SCHED_NODE_READY, .labels = "disk=ssd"},
	    {.name = "n3", .state = SCHED_NODE_READY, .labels = "disk=ssd"},
	    {0},
	};
	static const char *cons[] = {"disk==ssd"};
	struct sched_workload w = {
	    .name = "db", .replicas = 3, .constraints = cons, .n_constraints = 1};
	struct fx f;
	struct sched_plan p;
	char line[256];

	fx_init(&f, nodes, NULL);
	fx_converge(&f, &w, 1);
	f.labels[1][0].value = "hdd";
	fx_reconcile(&f, &w, 1, &p);
	assert_int_equal(p.n_stops, 1);
	assert_int_equal(p.stops[0].reason, SCHED_STOP_CONSTRAINT);
	assert_string_equal(sched_stop_fmt(&p.stops[0], line, sizeof(line)),
			    "db.2 (task t1) on n2: node n2 no longer meets 'disk==ssd'");
	assert_int_equal(p.n_placements, 1);
	assert_string_equal(p.placements[0].node, "n1");
	sched_plan_free(&p);
}

/* ---- failure domains ---- */

static void test_domains(void **state)
{
	/* zone a has one node, zone b three: domains first, so a1 takes half */
	static const struct node_spec nodes[] = {
	    {.name = "a1", .state = SCHED_NODE_READY, .labels = "zone=a"},
	    {.name = "b1", .state = SCHED_NODE_READY, .labels = "zone=b"},
	    {.name = "b2", .state = SCHED_NODE_READY, .labels = "zone=b"},
	    {.name = "b3", .state = SCHED_NODE_READY, .labels = "zone=b"},
	    {0},
	};
	static const struct {
		const char *domain_key, *spread;
		const char *want;
	} cases[] = {
	    {"zone", NULL, "a1=2,b1=1,b2=1,b3=0"},
	    {NULL, "zone", "a1=2,b1=1,b2=1,b3=0"},
	    {NULL, NULL, "a1=1,b1=1,b2=1,b3=1"},
	    {"zone", "rack", "a1=1,b1=1,b2=1,b3=1"}, /* nobody has a rack: one domain */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sched_workload w = {.name = "web", .replicas = 4, .spread = cases[i].spread};
		struct fx f;
		fx_init(&f, nodes, cases[i].domain_key);
		fx_converge(&f, &w, 1);
		assert_spread(&f, "web", cases[i].want);
	}

	/* 2 zones of 2 nodes, 4 replicas → 2+2; zone a goes down → all 4 in zone b */
	static const struct node_spec two[] = {
	    {.name = "a1", .state = SCHED_NODE_READY, .labels = "zone=a"},
	    {.name = "a2", .state = SCHED_NODE_READY, .labels = "zone=a"},
	    {.name = "b1", .state = SCHED_NODE_READY, .labels = "zone=b"},
	    {.name = "b2", .state = SCHED_NODE_READY, .labels = "zone=b"},
	    {0},
	};
	struct sched_workload w = {.name = "web", .replicas = 4};
	struct fx f;
	fx_init(&f, two, "zone");
	fx_converge(&f, &w, 1);
	assert_spread(&f, "web", "a1=1,a2=1,b1=1,b2=1");
	w.replicas = 2;
	fx_converge(&f, &w, 1); /* scale down keeps one per zone */
	assert_int_equal(live_on(&f, "web", "a1") + live_on(&f, "web", "a2"), 1);
	w.replicas = 4;
	fx_converge(&f, &w, 1);
	assert_spread(&f, "web", "a1=1,a2=1,b1=1,b2=1");
	fx_node(&f, "a1")->state = SCHED_NODE_DOWN;
	fx_node(&f, "a2")->state = SCHED_NODE_DOWN;
	fx_converge(&f, &w, 1);
	assert_spread(&f, "web", "a1=0,a2=0,b1=2,b2=2");
}

/* More distinct domains than the short-list path holds (one rack per node). */
static void test_many_domains(void **state)
{
	static char names[80][8], labels[80][16];
	struct node_spec ns[81] = {{0}};
	struct sched_workload w = {.name = "web", .replicas = 80, .spread = "rack"};
	struct fx f;

	for (int i = 0; i < 80; i++) {
		snprintf(names[i], sizeof(names[i]), "n%02d", 79 - i); /* out of name order */
		snprintf(labels[i], sizeof(labels[i]), "rack=r%02d", i % 70);
		ns[i] = (struct node_spec){.name = names[i], .labels = labels[i]};
	}
	fx_init(&f, ns, NULL);
	fx_converge(&f, &w, 1);
	for (int i = 0; i < 80; i++)
		assert_int_equal(live_on(&f, "web", names[i]), 1);
	w.replicas = 140; /* 70 racks: 2 per rack, the 10 shared racks' nodes take 1 each */
	fx_converge(&f, &w, 1);
	for (int r = 0; r < 70; r++) {
		unsigned k = 0;
		for (int i = r; i < 80; i += 70)
			k += live_on(&f, "web", names[i]);
		assert_int_equal(k, 2);
	}
}

/* ---- scale down ---- */

static void test_scale_down(void **state)
{
	static const struct node_spec nodes[] = {
	    {.name = "n1", .state = SCHED_NODE_READY},
	    {.name = "n2", .state = SCHED_NODE_READY},
	    {.name = "n3", .state = SCHED_NODE_READY},
	    {0},
	};
	/* n1 holds 3 (replica 2 not yet running), n2 2, n3 1 */
	static const struct {
		const char *node;
		unsigned replica;
		enum sched_task_state st;
	} tasks[] = {
	    {"n1", 1, SCHED_TASK_RUNNING}, {"n1", 2, SCHED_TASK_ASSIGNED},
	    {"n1", 3, SCHED_TASK_RUNNING}, {"n2", 4, SCHED_TASK_RUNNING},
	    {"n2", 5, SCHED_TASK_RUNNING}, {"n3", 6, SCHED_TASK_RUNNING},
	};
	static const struct {
		unsigned replicas;
		const char *want;
		unsigned first_victim;
	} cases[] = {
	    {5, "n1=2,n2=2,n3=1", 2},
	    {3, "n1=1,n2=1,n3=1", 2},
	    {1, "n1=1,n2=0,n3=0", 2}, /* ties: the last name goes first */
	    {0, "n1=0,n2=0,n3=0", 2},
	    {8, "n1=3,n2=3,n3=2", 0}, /* scale up: n3 first, then n2 by name; n1 keeps 3 */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sched_workload w = {.name = "web", .replicas = cases[i].replicas};
		struct fx f;
		struct sched_plan p;
		fx_init(&f, nodes, NULL);
		for (size_t j = 0; j < ARRAY_SIZE(tasks); j++)
			fx_add_task(&f, &w, tasks[j].node, tasks[j].replica, 1, tasks[j].st);
		fx_reconcile(&f, &w, 1, &p);
		if (cases[i].first_victim) {
			assert_int_equal(p.stops[0].task->replica, cases[i].first_victim);
			assert_int_equal(p.stops[0].reason, SCHED_STOP_SCALE_DOWN);
		} else {
			/* new replicas take the lowest free numbers */
			assert_int_equal(p.placements[0].replica, 7);
			assert_int_equal(p.placements[1].replica, 8);
		}
		sched_plan_free(&p);
		fx_converge(&f, &w, 1);
		assert_spread(&f, "web", cases[i].want);
	}
}

/* ---- reconcile: generations, removed workloads, many workloads ---- */

static void test_generations_and_orphans(void **state)
{
	static const struct node_spec nodes[] = {
	    {.name = "n1", .state = SCHED_NODE_READY},
	    {.name = "n2", .state = SCHED_NODE_READY},
	    {0},
	};
	struct sched_workload ws[] = {{.name = "web", .replicas = 2}};
	struct sched_workload gone = {.name = "old"};
	struct fx f;
	struct sched_plan p;
	char line[256];

	fx_init(&f, nodes, NULL);
	/* replica 1 twice after a partition healed: generation 3 wins */
	fx_add_task(&f, &ws[0], "n1", 1, 2, SCHED_TASK_RUNNING);
	fx_add_task(&f, &ws[0], "n2", 1, 3, SCHED_TASK_RUNNING);
	/* replica 2 failed at generation 4; its next task is generation 5 */
	fx_add_task(&f, &ws[0], "n2", 2, 4, SCHED_TASK_FAILED);
	fx_add_task(&f, &gone, "n1", 1, 1, SCHED_TASK_RUNNING);
	fx_add_task(&f, &ws[0], "gone-node", 7, 1, SCHED_TASK_STOPPED);
	fx_reconcile(&f, ws, 1, &p);
	assert_int_equal(p.n_stops, 2);
	assert_string_equal(p.stops[0].task->id, "t3");
	assert_int_equal(p.stops[0].reason, SCHED_STOP_WORKLOAD_GONE);
	assert_string_equal(p.stops[1].task->id, "t0");
	assert_string_equal(sched_stop_fmt(&p.stops[1], line, sizeof(line)),
			    "web.1 (task t0) on n1: generation 3 of replica 1 supersedes 2");
	assert_int_equal(p.n_placements, 1);
	assert_int_equal(p.placements[0].replica, 2);
	assert_int_equal(p.placements[0].generation, 5);
	assert_string_equal(p.placements[0].node, "n1");
	sched_plan_free(&p);

	/* a task on a node the cluster no longer has */
	fx_init(&f, nodes, NULL);
	fx_add_task(&f, &ws[0], "n9", 1, 1, SCHED_TASK_RUNNING);
	fx_reconcile(&f, ws, 1, &p);
	assert_int_equal(p.n_stops, 1);
	assert_int_equal(p.stops[0].reason, SCHED_STOP_NODE_UNKNOWN);
	assert_int_equal(p.n_placements, 2);
	sched_plan_free(&p);
}

/* Many workloads, shuffled input: the same plan, and a second round with nothing to do. */
static void test_deterministic(void **state)
{
	static const struct node_spec nodes[] = {
	    {.name = "n1", .state = SCHED_NODE_READY, .labels = "zone=a,role=server"},
	    {.name = "n2", .state = SCHED_NODE_READY, .labels = "zone=a"},
	    {.name = "n3", .state = SCHED_NODE_READY, .labels = "zone=b,role=server"},
	    {.name = "n4", .state = SCHED_NODE_READY, .labels = "zone=b"},
	    {.name = "n5", .state = SCHED_NODE_READY, .labels = "zone=c"},
	    {0},
	};
	static const char *srv[] = {"role==server"};
	struct sched_workload ws[] = {
	    {.name = "web", .replicas = 7, .cpu_millis = 300, .memory_bytes = 256 * MiB},
	    {.name = "db",
	     .replicas = 2,
	     .cpu_millis = 1000,
	     .memory_bytes = 2 * GiB,
	     .constraints = srv,
	     .n_constraints = 1},
	    {.name = "cache", .replicas = 5, .memory_bytes = GiB},
	};
	struct sched_workload rev[] = {ws[2], ws[1], ws[0]};
	struct fx f, g;
	struct sched_plan p, q;
	struct sched_cluster c;
	struct err err = {0};

	fx_init(&f, nodes, "zone");
	fx_converge(&f, ws, 3);
	/* nodes and tasks in reverse order plan the same */
	fx_node(&f, "n3")->state = SCHED_NODE_DOWN;
	fx_reconcile(&f, ws, 3, &p);
	g = f;
	for (size_t i = 0; i < f.n_nodes; i++) {
		g.nodes[i] = f.nodes[f.n_nodes - 1 - i];
		g.nodes[i].labels = g.labels[f.n_nodes - 1 - i];
	}
	for (size_t i = 0; i < f.n_tasks; i++)
		g.tasks[i] = f.tasks[f.n_tasks - 1 - i];
	c = fx_cluster(&g);
	assert_int_equal(sched_reconcile(&c, rev, 3, g.tasks, g.n_tasks, &q, &err), 0);
	assert_int_equal(p.n_placements, q.n_placements);
	assert_int_equal(p.n_stops, q.n_stops);
	for (size_t i = 0; i < p.n_placements; i++) {
		assert_string_equal(p.placements[i].node, q.placements[i].node);
		assert_string_equal(p.placements[i].workload, q.placements[i].workload);
		assert_int_equal(p.placements[i].replica, q.placements[i].replica);
	}
	for (size_t i = 0; i < p.n_stops; i++)
		assert_string_equal(p.stops[i].task->id, q.stops[i].task->id);
	sched_plan_free(&q);
	fx_apply(&f, ws, 3, &p);
	sched_plan_free(&p);
	fx_reconcile(&f, ws, 3, &p);
	assert_true(sched_plan_empty(&p));
	sched_plan_free(&p);
}

static void test_bad_input(void **state)
{
	static const struct node_spec dup[] = {
	    {.name = "n1", .state = SCHED_NODE_READY},
	    {.name = "n1", .state = SCHED_NODE_READY},
	    {0},
	};
	struct sched_workload ws[] = {{.name = "a", .replicas = 1}, {.name = "a", .replicas = 1}};
	struct sched_workload big = {.name = "big", .replicas = SCHED_MAX_REPLICAS + 1};
	struct sched_plan p = {0};
	struct err err = {0};
	struct fx f;
	struct sched_cluster c;

	fx_init(&f, dup, NULL);
	c = fx_cluster(&f);
	assert_int_equal(sched_reconcile(&c, ws, 1, NULL, 0, &p, &err), -EINVAL);
	assert_string_equal(err.msg, "node name 'n1' given twice");
	fx_init(&f, issue_nodes, NULL);
	c = fx_cluster(&f);
	assert_int_equal(sched_reconcile(&c, ws, 2, NULL, 0, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'a' given twice"));
	assert_int_equal(sched_place(&c, &big, NULL, 0, &p, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "at most"));
	assert_null(p.placements);
	assert_true(sched_plan_empty(&p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_constraints),
	    cmocka_unit_test(test_bad_constraints),
	    cmocka_unit_test(test_capacity),
	    cmocka_unit_test(test_shared_capacity),
	    cmocka_unit_test(test_down_and_draining),
	    cmocka_unit_test(test_constraint_change),
	    cmocka_unit_test(test_domains),
	    cmocka_unit_test(test_many_domains),
	    cmocka_unit_test(test_scale_down),
	    cmocka_unit_test(test_generations_and_orphans),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
