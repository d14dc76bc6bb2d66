/* plan: the model as the scheduler sees it, and a plan back as a task.place command —
 * what the daemon's leader does each round (cluster.c) and bench/cluster-hollow
 * measures through the real log. Pure: model, sched and jansson only. */
#include "cluster/plan.h"

#include <string.h>

#include "base/hmap.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "state/fsm.h"

static enum sched_task_state sched_state(const struct model_task *t)
{
	if (t->desired == MODEL_DESIRED_STOPPED)
		return model_observed_terminal(t->observed) ? SCHED_TASK_STOPPED : SCHED_TASK_STOPPING;
	/* restarts on a node are its agent's business (the restart policy): the cluster
	 * moves a task only when its node goes down, drains or no longer fits */
	return t->observed == MODEL_OBS_RUNNING ? SCHED_TASK_RUNNING : SCHED_TASK_ASSIGNED;
}


void plan_view_free(struct plan_view *s)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		free(s->labels[i]);
	for (size_t i = 0; i < s->n_ws; i++)
		free(s->cons[i]);
	strv_free(s->strs);
	free(s->nodes);
	free(s->labels);
	free(s->ws);
	free(s->cons);
	free(s->tasks);
}

static void sview_nodes(struct plan_view *s, const struct model *m)
{
	size_t i = 0, j = 0;
	const char *k;
	void *v;

	s->nodes = xcalloc(m->nodes.len + 1, sizeof(*s->nodes));
	s->labels = xcalloc(m->nodes.len + 1, sizeof(*s->labels));
	while (hmap_next(&m->nodes, &i, &k, &v)) {
		const struct model_node *n = v;
		struct sched_node *sn = &s->nodes[j];
		const char *lk;
		json_t *lv;
		size_t l = 0;

		s->labels[j] = xcalloc(json_object_size(n->labels) + m->vpcs.len + 1,
				       sizeof(struct sched_label));
		json_object_foreach (n->labels, lk, lv)
			s->labels[j][l++] = (struct sched_label){ lk, json_string_value(lv) };
		/* "coop.vpc/NAME" on a node with a subnet of that VPC: a networked replica
		 * goes only where its VPC already reaches */
		size_t vi = 0;
		const char *vk;
		void *vv;
		while (hmap_next(&m->vpcs, &vi, &vk, &vv)) {
			if (!hmap_get(&((struct model_vpc *)vv)->leases, n->name))
				continue;
			_cleanup_free_ char *key = xasprintf("coop.vpc/%s", vk);
			s->strs = strv_append(s->strs, key);
			s->labels[j][l++] = (struct sched_label){ s->strs[strv_len(s->strs) - 1], "1" };
		}
		sn->name = n->name;
		sn->state = n->state == MODEL_NODE_READY ? SCHED_NODE_READY
			    : n->state == MODEL_NODE_DOWN ? SCHED_NODE_DOWN
							  : SCHED_NODE_DRAINING;
		sn->labels = s->labels[j];
		sn->n_labels = l;
		sn->cpu_millis = (uint64_t)n->capacity.cpu_milli;
		sn->memory_bytes = (uint64_t)n->capacity.memory;
		sn->alloc_cpu_millis = (uint64_t)n->allocated.cpu_milli;
		sn->alloc_memory_bytes = (uint64_t)n->allocated.memory;
		j++;
	}
	s->n_nodes = j;
}

static void sview_workloads(struct plan_view *s, const struct model *m)
{
	size_t i = 0, j = 0;
	const char *k;
	void *v;

	s->ws = xcalloc(m->workloads.len + 1, sizeof(*s->ws));
	s->cons = xcalloc(m->workloads.len + 1, sizeof(*s->cons));
	while (hmap_next(&m->workloads, &i, &k, &v)) {
		const struct model_workload *w = v;
		json_t *pl = json_object_get(w->spec, "placement");
		json_t *cs = json_object_get(pl, "constraints"), *cv;
		size_t ci;

		size_t nc = json_array_size(cs);
		s->cons[j] = xcalloc(nc + 2, sizeof(char *));
		json_array_foreach (cs, ci, cv)
			s->cons[j][ci] = json_string_value(cv);
		json_t *vpc = json_object_get(w->spec, "vpc");
		if (json_is_string(vpc) || json_array_size(json_object_get(w->spec, "ports"))) {
			_cleanup_free_ char *con = xasprintf(
			    "coop.vpc/%s", json_is_string(vpc) ? json_string_value(vpc) : "default");
			s->strs = strv_append(s->strs, con);
			s->cons[j][nc++] = s->strs[strv_len(s->strs) - 1];
		}
		s->ws[j] = (struct sched_workload){
			.name = w->name,
			.replicas = (unsigned)w->replicas,
			.cpu_millis = (uint64_t)w->request.cpu_milli,
			.memory_bytes = (uint64_t)w->request.memory,
			.constraints = s->cons[j],
			.n_constraints = nc,
			.spread = json_string_value(json_object_get(pl, "spread")),
		};
		j++;
	}
	s->n_ws = j;
}

static void sview_tasks(struct plan_view *s, const struct model *m)
{
	size_t i = 0, j = 0;
	const char *k;
	void *v;

	s->tasks = xcalloc(m->tasks.len + 1, sizeof(*s->tasks));
	while (hmap_next(&m->tasks, &i, &k, &v)) {
		const struct model_task *t = v;
		if (!t->node)
			continue;
		s->tasks[j++] = (struct sched_task){
			.id = t->id,
			.workload = t->workload,
			.node = t->node,
			.replica = (unsigned)t->replica,
			.generation = t->generation,
			.state = sched_state(t),
		};
	}
	s->n_tasks = j;
}

/* One task.place of at most FSM_MAX_BATCH entries; *more when the plan holds more (the
 * rest goes in the next round, once this one is committed: the loop never encodes and
 * validates a whole 100,000-replica plan in one turn). */
json_t *plan_command(const struct model *m, const struct sched_plan *p, bool *more)
{
	json_t *list = json_array();
	_cleanup_json_ json_t *placed = json_object();
	char id[MODEL_NAME_MAX + 16];

	*more = false;
	for (size_t i = 0; i < p->n_placements; i++) {
		const struct sched_placement *pl = &p->placements[i];
		if (json_array_size(list) >= FSM_MAX_BATCH) {
			*more = true;
			break;
		}
		snprintf(id, sizeof(id), "%s.%u", pl->workload, pl->replica);
		const struct model_task *t = model_task(m, id);
		json_array_append_new(list, json_pack("{s:s,s:i,s:s,s:I}", "workload", pl->workload,
						      "replica", (int)pl->replica, "node", pl->node,
						      "generation",
						      (json_int_t)(t ? t->generation : 0)));
		json_object_set_new(placed, id, json_true());
	}
	for (size_t i = 0; i < p->n_stops; i++) {
		const struct sched_task *st = p->stops[i].task;
		const struct model_task *t = model_task(m, st->id);
		char buf[256];
		if (!t || json_object_get(placed, st->id) || t->desired == MODEL_DESIRED_STOPPED)
			continue;
		if (json_array_size(list) >= FSM_MAX_BATCH) {
			*more = true;
			break;
		}
		log_info("cluster: stop %s", sched_stop_fmt(&p->stops[i], buf, sizeof(buf)));
		json_array_append_new(list, json_pack("{s:s,s:i,s:s,s:I}", "workload", t->workload,
						      "replica", t->replica, "desired", "stopped",
						      "generation", (json_int_t)t->generation));
	}
	if (!json_array_size(list)) {
		json_decref(list);
		return NULL;
	}
	return json_pack("{s:s,s:o}", "op", "task.place", "placements", list);
}

void plan_view_build(struct plan_view *s, const struct model *m)
{
	memset(s, 0, sizeof(*s));
	sview_nodes(s, m);
	sview_workloads(s, m);
	sview_tasks(s, m);
}
