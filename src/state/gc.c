/* gc: the leader's selection of tasks to remove (see gc.h): one pass over the tasks,
 * the candidates sorted by workload and age, the newest few of a live workload kept. */
#include "state/gc.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

bool gc_task_unwanted(const struct model *m, const struct model_task *t)
{
	const struct model_workload *w = model_workload(m, t->workload);

	if (t->desired != MODEL_DESIRED_STOPPED)
		return false;
	return !w || t->replica >= w->replicas;
}

/* by workload, then newest first, then id: the order replicas would agree on */
static int cmp_candidate(const void *a, const void *b)
{
	const struct model_task *x = *(const struct model_task *const *)a;
	const struct model_task *y = *(const struct model_task *const *)b;
	int r = strcmp(x->workload, y->workload);

	if (r)
		return r;
	if (x->version != y->version)
		return x->version > y->version ? -1 : 1;
	return strcmp(x->id, y->id);
}

json_t *gc_command(const struct model *m, size_t keep, size_t max)
{
	const struct model_task **c = NULL;
	size_t n = 0, cap = 0, i = 0;
	struct model_task *t;
	json_t *list = json_array();

	while (hmap_next(&m->tasks, &i, NULL, (void **)&t)) {
		if (!gc_task_unwanted(m, t))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			c = xrealloc(c, cap * sizeof(*c));
		}
		c[n++] = t;
	}
	if (n)
		qsort(c, n, sizeof(*c), cmp_candidate);
	for (size_t j = 0, kept = 0; j < n && json_array_size(list) < max; j++) {
		if (j == 0 || strcmp(c[j]->workload, c[j - 1]->workload))
			kept = 0;
		if (model_workload(m, c[j]->workload) && kept < keep) {
			kept++;
			continue;
		}
		json_array_append_new(list, json_pack("{s:s,s:I}", "task", c[j]->id, "generation",
						      (json_int_t)c[j]->generation));
	}
	free(c);
	if (!json_array_size(list)) {
		json_decref(list);
		return NULL;
	}
	return json_pack("{s:s,s:o}", "op", "task.remove", "tasks", list);
}
