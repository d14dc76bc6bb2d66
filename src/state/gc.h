/* gc: which tasks the leader removes from the model, as a task.remove command (fsm.h).
 * A task whose desired state is stopped and that is no longer wanted — its workload is
 * gone, or its replica is beyond the workload's replicas (a scale-down) — stays in the
 * model until its node reports it finished (fsm.c's task_gc drops it then). A node that
 * never does (down for good, or whose agent removed the container without a report)
 * left it there forever. The leader's sweep removes such tasks: all of a deleted
 * workload's, and a live workload's beyond the newest GC_KEEP (the short history of
 * stopped replicas `coop tasks` shows, like Swarm's task history limit), in batches.
 * Removing a task is safe for its node: an agent runs only the running tasks of
 * existing workloads, so a task that leaves the model is stopped just as a stopped one.
 * Pure: reads the model only. */
#ifndef COOP_STATE_GC_H
#define COOP_STATE_GC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "state/model.h"

#define GC_KEEP 5     /* stopped, unwanted tasks kept per live workload */
#define GC_BATCH 1000 /* tasks per task.remove: its events stay well inside the ring */

/* Desired stopped and no longer wanted: the workload is gone or has fewer replicas. */
bool gc_task_unwanted(const struct model *m, const struct model_task *t);

/* {"op":"task.remove","tasks":[{"task","generation"}...]} with at most max tasks to
 * remove, keeping the newest `keep` (by version, then id) of each live workload; NULL
 * when there is nothing to remove. Deterministic for a given model. */
json_t *gc_command(const struct model *m, size_t keep, size_t max);

#endif
