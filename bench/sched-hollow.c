/* sched-hollow: the pure scheduler against a hollow cluster (as kubemark does): 1,000
 * simulated nodes, 1,000 workloads, 100,000 replicas. No daemons, no Raft, no containers:
 * this measures sched_reconcile/sched_place alone, the ceiling for the leader's commit
 * rate. Built and run by bench/sched-hollow, which prints the markdown report.
 *
 *   sched-hollow [-n NODES] [-w WORKLOADS] [-r REPLICAS] [-k ROUNDS] [-s SEED]
 */
#include <getopt.h>
#include <stdbool.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/util.h"
#include "sched/sched.h"

#define MiB (1024ull * 1024)
#define GiB (1024 * MiB)

static uint64_t rng_state;

static uint32_t rng(void) /* splitmix64: deterministic from the seed */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct hollow {
	struct sched_node *nodes;
	struct sched_label (*labels)[4];
	size_t n_nodes;
	struct sched_workload *ws;
	size_t n_ws;
	struct sched_task *tasks;
	size_t n_tasks, cap_tasks;
	struct sched_cluster c;
};

static const char *zones[] = {"z0", "z1", "z2", "z3", "z4"};
static const char *con_ssd[] = {"disk==ssd"};
static const char *con_zone[] = {"zone!=z1"};
static const char *con_gpu[] = {"gpu", "disk==ssd"};

static void hollow_init(struct hollow *h, size_t n_nodes, size_t n_ws, unsigned replicas)
{
	static const uint64_t cpus[] = {50, 100, 200}, mems[] = {128, 256, 512};

	*h = (struct hollow){.n_nodes = n_nodes, .n_ws = n_ws};
	h->nodes = xcalloc(n_nodes, sizeof(*h->nodes));
	h->labels = xcalloc(n_nodes, sizeof(*h->labels));
	for (size_t i = 0; i < n_nodes; i++) {
		struct sched_label *l = h->labels[i];
		size_t nl = 0;
		l[nl++] = (struct sched_label){"zone", zones[i % ARRAY_SIZE(zones)]};
		l[nl++] = (struct sched_label){"disk", i % 2 ? "ssd" : "hdd"};
		if (i % 10 == 3)
			l[nl++] = (struct sched_label){"gpu", "a100"};
		h->nodes[i] = (struct sched_node){.name = xasprintf("hollow-%05zu", i),
						  .labels = l,
						  .n_labels = nl,
						  .cpu_millis = 32000,
						  .memory_bytes = 128 * GiB};
	}
	h->ws = xcalloc(n_ws, sizeof(*h->ws));
	for (size_t i = 0; i < n_ws; i++) {
		struct sched_workload *w = &h->ws[i];
		uint32_t pick = rng() % 100;
		*w = (struct sched_workload){.name = xasprintf("wl-%05zu", i),
					     .replicas = replicas,
					     .cpu_millis = cpus[rng() % 3],
					     .memory_bytes = mems[rng() % 3] * MiB};
		/* 20% want ssd, 10% avoid a zone, 5% want a gpu (on ssd), the rest anywhere */
		if (pick < 20)
			w->constraints = con_ssd, w->n_constraints = 1;
		else if (pick < 30)
			w->constraints = con_zone, w->n_constraints = 1;
		else if (pick < 35)
			w->constraints = con_gpu, w->n_constraints = 2;
	}
	h->c = (struct sched_cluster){h->nodes, n_nodes, "zone"};
}

/* Back to an empty cluster (names and workloads kept). */
static void hollow_reset(struct hollow *h)
{
	for (size_t i = 0; i < h->n_tasks; i++)
		free((char *)h->tasks[i].id);
	h->n_tasks = 0;
	for (size_t i = 0; i < h->n_nodes; i++) {
		h->nodes[i].alloc_cpu_millis = h->nodes[i].alloc_memory_bytes = 0;
		h->nodes[i].state = SCHED_NODE_READY;
	}
}

static struct sched_node *node_by_name(struct hollow *h, const char *name)
{
	/* names are hollow-%05zu in index order */
	return &h->nodes[strtoul(name + 7, NULL, 10)];
}

static const struct sched_workload *wl_by_name(struct hollow *h, const char *name)
{
	return &h->ws[strtoul(name + 3, NULL, 10)];
}

/* The leader's commit, hollow: placements become running tasks, stops release. The task
 * array may move, so stops are applied first, by index. */
static void hollow_apply(struct hollow *h, const struct sched_plan *p)
{
	for (size_t i = 0; i < p->n_stops; i++) {
		struct sched_task *t = &h->tasks[p->stops[i].task - h->tasks];
		const struct sched_workload *w = wl_by_name(h, t->workload);
		struct sched_node *n = node_by_name(h, t->node);
		t->state = SCHED_TASK_STOPPED;
		n->alloc_cpu_millis -= w->cpu_millis;
		n->alloc_memory_bytes -= w->memory_bytes;
	}
	for (size_t i = 0; i < p->n_placements; i++) {
		const struct sched_placement *pl = &p->placements[i];
		const struct sched_workload *w = wl_by_name(h, pl->workload);
		struct sched_node *n = node_by_name(h, pl->node);
		if (h->n_tasks == h->cap_tasks) {
			h->cap_tasks = h->cap_tasks ? 2 * h->cap_tasks : 1024;
			h->tasks = xrealloc(h->tasks, h->cap_tasks * sizeof(*h->tasks));
		}
		h->tasks[h->n_tasks] = (struct sched_task){
		    .id = xasprintf("%s.%u.%" PRIu64, w->name, pl->replica, pl->generation),
		    .workload = w->name,
		    .node = n->name,
		    .replica = pl->replica,
		    .generation = pl->generation,
		    .state = SCHED_TASK_RUNNING,
		};
		h->n_tasks++;
		n->alloc_cpu_millis += w->cpu_millis;
		n->alloc_memory_bytes += w->memory_bytes;
	}
}

static void reconcile(struct hollow *h, struct sched_plan *p)
{
	struct err err = {0};

	if (sched_reconcile(&h->c, h->ws, h->n_ws, h->tasks, h->n_tasks, p, &err) < 0) {
		fprintf(stderr, "sched-hollow: %s\n", err.msg);
		exit(1);
	}
}

struct result {
	const char *name;
	double ms[64];
	size_t placed, stopped, unplaced;
};

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), dbl_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void row(const struct result *r, size_t rounds)
{
	double ms[64];
	memcpy(ms, r->ms, sizeof(ms));
	double m = median(ms, rounds), lo = ms[0], hi = ms[rounds - 1];
	char rate[32] = "—";

	if (r->placed)
		snprintf(rate, sizeof(rate), "%.0f", r->placed / (m / 1e3));
	printf("| %s | %zu | %zu | %zu | %.2f (%.2f–%.2f) | %s |\n", r->name, r->placed, r->stopped,
	       r->unplaced, m, lo, hi, rate);
}

static size_t heap_used(void)
{
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd; /* small chunks + mmapped ones */
}

int main(int argc, char **argv)
{
	size_t n_nodes = 1000, n_ws = 1000, rounds = 5, fail_nodes = 10;
	unsigned replicas = 100;
	uint64_t seed = 1;
	struct result cold = {.name = "cold: reconcile, empty cluster"},
		      inc = {.name = "incremental: sched_place per workload"},
		      steady = {.name = "steady: reconcile, nothing to do"},
		      fail = {.name = "failure: 10 nodes down, full reconcile"},
		      fail1 = {.name = "failure: 10 nodes down, sched_place per hit workload"},
		      scale = {.name = "scale up: +10% replicas"};
	size_t plan_bytes = 0, input_bytes = 0;
	struct hollow h;
	int opt;

	while ((opt = getopt(argc, argv, "n:w:r:k:s:")) != -1) {
		switch (opt) {
		case 'n':
			n_nodes = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			n_ws = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			replicas = strtoul(optarg, NULL, 10);
			break;
		case 'k':
			rounds = strtoul(optarg, NULL, 10);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: sched-hollow [-n NODES] [-w WORKLOADS] "
					"[-r REPLICAS] [-k ROUNDS] [-s SEED]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > 64 || n_nodes < fail_nodes || n_nodes > 99999 || n_ws > 99999) {
		fprintf(stderr, "sched-hollow: rounds 1..64, nodes %zu..99999, workloads ≤ 99999\n",
			fail_nodes);
		return 2;
	}
	rng_state = seed;
	hollow_init(&h, n_nodes, n_ws, replicas);

	for (size_t k = 0; k < rounds; k++) {
		struct sched_plan p;
		size_t before;
		double t;

		hollow_reset(&h);
		for (size_t i = 0; i < n_ws; i++)
			h.ws[i].replicas = replicas;

		before = heap_used();
		t = now_ms();
		reconcile(&h, &p);
		cold.ms[k] = now_ms() - t;
		plan_bytes = heap_used() - before;
		cold.placed = p.n_placements, cold.unplaced = p.n_unplaced;
		before = heap_used();
		hollow_apply(&h, &p);
		input_bytes = heap_used() - before;
		sched_plan_free(&p);

		t = now_ms();
		reconcile(&h, &p);
		steady.ms[k] = now_ms() - t;
		steady.placed = p.n_placements, steady.stopped = p.n_stops;
		steady.unplaced = p.n_unplaced;
		sched_plan_free(&p);

		for (size_t i = 0; i < fail_nodes; i++)
			h.nodes[i * (n_nodes / fail_nodes)].state = SCHED_NODE_DOWN;
		t = now_ms();
		reconcile(&h, &p);
		fail.ms[k] = now_ms() - t;
		fail.placed = p.n_placements, fail.stopped = p.n_stops,
		fail.unplaced = p.n_unplaced;

		/* what a leader does on a node failure: place again only the workloads that had
		 * a task there (after the cold apply, workload i's tasks are a contiguous run) */
		fail1.placed = fail1.stopped = fail1.unplaced = 0;
		double sum1 = 0;
		for (size_t i = 0; i < n_ws; i++) {
			struct sched_task *ts = h.tasks + i * replicas;
			struct sched_plan q;
			struct err err = {0};
			bool hit = false;
			for (unsigned j = 0; j < replicas && !hit; j++)
				hit = node_by_name(&h, ts[j].node)->state == SCHED_NODE_DOWN;
			if (!hit)
				continue;
			t = now_ms();
			if (sched_place(&h.c, &h.ws[i], ts, replicas, &q, &err) < 0) {
				fprintf(stderr, "sched-hollow: %s\n", err.msg);
				return 1;
			}
			sum1 += now_ms() - t;
			fail1.placed += q.n_placements, fail1.stopped += q.n_stops;
			fail1.unplaced += q.n_unplaced;
			sched_plan_free(&q);
		}
		fail1.ms[k] = sum1;
		hollow_apply(&h, &p);
		sched_plan_free(&p);

		for (size_t i = 0; i < n_ws; i++)
			h.ws[i].replicas = replicas + replicas / 10;
		t = now_ms();
		reconcile(&h, &p);
		scale.ms[k] = now_ms() - t;
		scale.placed = p.n_placements, scale.stopped = p.n_stops;
		scale.unplaced = p.n_unplaced;
		sched_plan_free(&p);

		/* incremental: each workload placed alone as it arrives, with the tasks so far */
		hollow_reset(&h);
		for (size_t i = 0; i < n_ws; i++)
			h.ws[i].replicas = replicas;
		inc.placed = inc.unplaced = 0;
		double sum = 0;
		for (size_t i = 0; i < n_ws; i++) {
			struct err err = {0};
			t = now_ms();
			if (sched_place(&h.c, &h.ws[i], NULL, 0, &p, &err) < 0) {
				fprintf(stderr, "sched-hollow: %s\n", err.msg);
				return 1;
			}
			sum += now_ms() - t;
			inc.placed += p.n_placements, inc.unplaced += p.n_unplaced;
			hollow_apply(&h, &p);
			sched_plan_free(&p);
		}
		inc.ms[k] = sum;
		fprintf(stderr, "round %zu/%zu: cold %.1f ms, incremental %.1f ms\n", k + 1, rounds,
			cold.ms[k], inc.ms[k]);
	}

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("%zu hollow nodes (5 zones, half ssd, 10%% gpu), %zu workloads × %u replicas "
	       "(35%% constrained), spread over \"zone\"; %zu rounds, seed %" PRIu64 ".\n\n",
	       n_nodes, n_ws, replicas, rounds, seed);
	printf("| scenario | placements | stops | unplaced | ms, median (min–max) | "
	       "placements/s |\n");
	printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
	row(&cold, rounds);
	row(&inc, rounds);
	row(&steady, rounds);
	row(&fail, rounds);
	row(&fail1, rounds);
	row(&scale, rounds);
	printf("\n| memory | |\n| --- | ---: |\n");
	printf("| plan of %zu placements (heap) | %.1f MiB |\n", cold.placed,
	       plan_bytes / (double)MiB);
	printf("| hollow state: %zu tasks with ids (heap) | %.1f MiB |\n", cold.placed,
	       input_bytes / (double)MiB);
	printf("| peak RSS of the whole process | %.1f MiB |\n", ru.ru_maxrss / 1024.0);
	return 0;
}
