/* plan: from the replicated model to sched's input, and from a sched plan back to the
 * task.place command that commits it. */
#ifndef COOP_CLUSTER_PLAN_H
#define COOP_CLUSTER_PLAN_H

#include <jansson.h>
#include <stdbool.h>

#include "sched/sched.h"
#include "state/model.h"

/* The model's nodes (labels plus "coop.vpc/NAME" for each VPC the node has a subnet
 * of), workloads (constraints plus "coop.vpc/VPC" for networked ones) and placed tasks,
 * as sched's structs. Strings borrow from the model: it must not change meanwhile. */
struct plan_view {
	char **strs; /* labels and constraints made here */
	struct sched_node *nodes;
	struct sched_label **labels;
	struct sched_workload *ws;
	const char ***cons;
	struct sched_task *tasks;
	size_t n_nodes, n_ws, n_tasks;
};

void plan_view_build(struct plan_view *s, const struct model *m);
void plan_view_free(struct plan_view *s);
/* One task.place of at most FSM_MAX_BATCH entries; *more when the plan holds more (the
 * rest goes in the next round, once this one is committed: the loop never encodes and
 * validates a whole 100,000-replica plan in one turn). */
json_t *plan_command(const struct model *m, const struct sched_plan *p, bool *more);

#endif
