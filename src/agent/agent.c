/* agent: workloads and the reconcile loop (replicas up to replicas.min, or in cluster
 * mode the tasks placed here; images pulled in work threads first), events, restore
 * after a daemon restart, and the public agent.h entry points over containers
 * (container.c), health (health.c) and metrics. */
#include "agent/agent.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/image.h"
#include "agent/logs.h"
#include "agent/priv.h"
#include "agent/spec.h"
#include "base/fs.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "runtime/cgroup.h"
#include "runtime/state.h"

#define AG_MAX_WORKLOADS 1024

static void task_health(struct agent *a, const char *id);

/* ---- events ---- */

void ag_emit(struct agent *a, const char *type, const char *action, const char *id, json_t *attrs)
{
	struct err err = { 0 };
	json_t *e = NULL;

	if (ag_events_append(&a->events, type, action, id, attrs, &e, &err) < 0)
		log_warn("%s", err.msg);
	if (a->event_fn) {
		struct agent_event ev = {
			.seq = (uint64_t)json_integer_value(json_object_get(e, "seq")),
			.time = json_string_value(json_object_get(e, "time")),
			.type = type,
			.action = action,
			.id = id ? id : "",
			.attrs = json_object_get(e, "attrs"),
		};
		a->event_fn(a->event_ctx, &ev);
	}
	json_decref(e);
	json_decref(attrs);
	if (streq(type, "container") && id && strncmp(action, "health_status: ", 15) == 0)
		task_health(a, id);
}

void agent_set_event_cb(struct agent *a, agent_event_fn fn, void *ctx)
{
	a->event_fn = fn;
	a->event_ctx = ctx;
}

int agent_events_since(struct agent *a, uint64_t since, json_t **ret, struct err *err)
{
	return ag_events_read(a->events.path, since, ret, err);
}

/* ---- deferred calls ---- */

struct deferred {
	uv_timer_t t;
	agent_done_fn done;
	void *ctx;
	int status;
	bool has_err;
	struct err err;
};

static void deferred_free(uv_handle_t *h) { free(h->data); }

static void deferred_run(uv_timer_t *t)
{
	struct deferred *d = t->data;

	d->done(d->ctx, d->status, d->has_err ? &d->err : NULL);
	uv_close((uv_handle_t *)t, deferred_free);
}

void ag_defer(struct agent *a, agent_done_fn done, void *ctx, int status, const struct err *err)
{
	struct deferred *d = xcalloc(1, sizeof(*d));

	d->done = done;
	d->ctx = ctx;
	d->status = status;
	if (err) {
		d->has_err = true;
		d->err = *err;
	}
	uv_timer_init(a->loop, &d->t);
	d->t.data = d;
	uv_timer_start(&d->t, deferred_run, 0, 0);
}

/* ---- workloads ---- */

struct ag_workload *ag_workload_find(struct agent *a, const char *name)
{
	for (struct ag_workload *w = a->workloads; w; w = w->next)
		if (streq(w->name, name))
			return w;
	return NULL;
}

static size_t n_workloads(struct agent *a)
{
	size_t n = 0;
	for (struct ag_workload *w = a->workloads; w; w = w->next)
		n++;
	return n;
}

/* ---- task sets (cluster mode) ---- */

static void tasks_free(struct ag_task *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i].id);
	free(t);
}

static int task_cmp(const void *x, const void *y)
{
	const struct ag_task *p = x, *q = y;

	return (p->replica > q->replica) - (p->replica < q->replica);
}

/* A sorted copy of in[0..n) (n > 0), checked: ids given, replicas >= 1 and distinct. */
static int tasks_copy(const struct agent_task *in, size_t n, struct ag_task **ret,
		      struct err *err)
{
	struct ag_task *t;

	if (n > AG_MAX_REPLICAS)
		return err_msg(err, ENOSPC, "too many tasks for one node: %zu (limit %d)", n,
			       AG_MAX_REPLICAS);
	for (size_t i = 0; i < n; i++)
		if (!in[i].id || !in[i].id[0] || in[i].replica < 1)
			return err_msg(err, EINVAL, "task %zu: expected an id and a replica >= 1", i);
	t = xcalloc(n, sizeof(*t));
	for (size_t i = 0; i < n; i++)
		t[i] = (struct ag_task){ xstrdup(in[i].id), in[i].replica, in[i].generation };
	qsort(t, n, sizeof(*t), task_cmp);
	for (size_t i = 1; i < n; i++)
		if (t[i].replica == t[i - 1].replica) {
			err_msg(err, EINVAL, "tasks '%s' and '%s' are both replica %d", t[i - 1].id,
				t[i].id, t[i].replica);
			tasks_free(t, n);
			return -EINVAL;
		}
	*ret = t;
	return 0;
}

static bool tasks_equal(const struct ag_workload *w, const struct ag_task *t, size_t n)
{
	if (!w->assigned || w->n_tasks != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (w->tasks[i].replica != t[i].replica || w->tasks[i].generation != t[i].generation ||
		    !streq(w->tasks[i].id, t[i].id))
			return false;
	return true;
}

static json_t *tasks_json(const struct ag_workload *w)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < w->n_tasks; i++)
		json_array_append_new(arr, json_pack("{s:s,s:i,s:I}", "id", w->tasks[i].id, "replica",
						     w->tasks[i].replica, "generation",
						     (json_int_t)w->tasks[i].generation));
	return arr;
}

/* The task set workloads.json holds (tasks_json's shape). */
static int tasks_from_json(json_t *arr, struct ag_task **ret, size_t *ret_n, struct err *err)
{
	size_t n = json_array_size(arr), i;
	_cleanup_free_ struct agent_task *in = xcalloc(n ?: 1, sizeof(*in));
	json_t *v;
	int r;

	if (n == 0)
		return err_msg(err, EINVAL, "tasks: expected a non-empty array");
	json_array_foreach(arr, i, v)
	{
		in[i].id = json_string_value(json_object_get(v, "id"));
		in[i].replica = (int)json_integer_value(json_object_get(v, "replica"));
		in[i].generation = (uint64_t)json_integer_value(json_object_get(v, "generation"));
	}
	if ((r = tasks_copy(in, n, ret, err)) < 0)
		return r;
	*ret_n = n;
	return 0;
}

const struct ag_task *ag_task_find(const struct ag_workload *w, int replica)
{
	for (size_t i = 0; w->assigned && i < w->n_tasks; i++)
		if (w->tasks[i].replica == replica)
			return &w->tasks[i];
	return NULL;
}

static int workloads_save(struct agent *a, struct err *err)
{
	_cleanup_json_ json_t *doc = json_object();

	for (struct ag_workload *w = a->workloads; w; w = w->next) {
		json_t *v = json_pack("{s:O,s:I}", "spec", w->spec, "generation",
				      (json_int_t)w->generation);
		if (w->assigned) {
			json_object_set_new(v, "assigned", json_true());
			json_object_set_new(v, "tasks", tasks_json(w));
		}
		json_object_set_new(doc, w->name, v);
	}
	return ag_json_write(a->state_dir, "workloads.json", doc, err);
}

static struct ag_workload *workload_add(struct agent *a, const char *name, json_t *spec,
					uint64_t gen)
{
	struct ag_workload *w = xcalloc(1, sizeof(*w));

	w->name = xstrdup(name);
	w->spec = json_incref(spec);
	w->generation = gen;
	w->next = a->workloads;
	a->workloads = w;
	return w;
}

static void workload_free(struct ag_workload *w)
{
	tasks_free(w->tasks, w->n_tasks);
	json_decref(w->spec);
	free(w->name);
	free(w->image_ref);
	free(w->pull_error);
	free(w);
}

static void workload_unlink(struct agent *a, struct ag_workload *w)
{
	for (struct ag_workload **p = &a->workloads; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	workload_free(w);
}

static json_t *workload_json(struct agent *a, struct ag_workload *w)
{
	json_t *ids = json_array();
	int running = 0;

	for (struct ag_container *c = a->containers; c; c = c->next)
		if (c->workload && streq(c->workload, w->name)) {
			json_array_append_new(ids, json_string(c->id));
			running += c->state == AG_RUNNING;
		}
	json_t *j = json_pack("{s:s,s:O,s:I,s:o,s:i}", "name", w->name, "spec", w->spec,
			      "generation", (json_int_t)w->generation, "containers", ids, "running",
			      running);
	if (w->pull_error)
		json_object_set_new(j, "error", json_string(w->pull_error));
	if (w->assigned) {
		json_object_set_new(j, "assigned", json_true());
		json_object_set_new(j, "tasks", tasks_json(w));
	}
	return j;
}

/* A new spec: a new generation (its containers are replaced) and, for another image,
 * a new pull. */
static void workload_set_spec(struct ag_workload *w, json_t *spec)
{
	bool same_image = json_equal(json_object_get(w->spec, "image"), json_object_get(spec, "image"));

	json_decref(w->spec);
	w->spec = json_incref(spec);
	w->generation++;
	if (!same_image) {
		free(w->image_ref);
		w->image_ref = NULL;
	}
}

json_t *agent_workloads(struct agent *a)
{
	json_t *arr = json_array();

	for (struct ag_workload *w = a->workloads; w; w = w->next)
		json_array_append_new(arr, workload_json(a, w));
	return arr;
}

/* ---- pulls ---- */

struct pull {
	uv_work_t req;
	struct agent *a;
	char *name, *image, *store, *ref;
	bool pulled;
	int r;
	struct err err;
};

static void pull_work(uv_work_t *req)
{
	struct pull *p = req->data;

	p->r = ag_image_ensure(p->store, p->image, &p->ref, &p->pulled, &p->err);
}

/* None of w's tasks can be made (its image cannot be had): each hears why. The
 * callback may change w, so a copy of the set is walked. */
static void tasks_failed(struct agent *a, struct ag_workload *w, const char *msg)
{
	_cleanup_json_ json_t *ts = tasks_json(w);
	json_t *t;
	size_t i;

	json_array_foreach(ts, i, t)
	{
		ag_task_notify(a, json_string_value(json_object_get(t, "id")),
			       (uint64_t)json_integer_value(json_object_get(t, "generation")), NULL, msg);
	}
}

static void pull_done(uv_work_t *req, int status)
{
	struct pull *p = req->data;
	struct ag_workload *w = ag_workload_find(p->a, p->name);

	if (p->pulled)
		ag_emit(p->a, "image", "pull", p->image, json_pack("{s:s,s:s}", "ref", p->ref, "workload", p->name));
	if (p->r < 0)
		ag_emit(p->a, "image", "pull_failed", p->image,
			json_pack("{s:s,s:s}", "workload", p->name, "error", p->err.msg));
	if (w && w->pulling && streq(json_string_value(json_object_get(w->spec, "image")), p->image)) {
		w->pulling = false;
		free(w->pull_error);
		w->pull_error = p->r < 0 ? xstrdup(p->err.msg) : NULL;
		if (p->r == 0) {
			free(w->image_ref);
			w->image_ref = take_ptr(p->ref);
			ag_reconcile(p->a, w);
		} else {
			tasks_failed(p->a, w, p->err.msg);
		}
	}
	free(p->name);
	free(p->image);
	free(p->store);
	free(p->ref);
	free(p);
}

static void start_pull(struct agent *a, struct ag_workload *w)
{
	struct pull *p = xcalloc(1, sizeof(*p));
	int r;

	p->a = a;
	p->req.data = p;
	p->name = xstrdup(w->name);
	p->image = xstrdup(json_string_value(json_object_get(w->spec, "image")));
	p->store = xstrdup(a->image_store);
	w->pulling = true;
	if ((r = uv_queue_work(a->loop, &p->req, pull_work, pull_done)) < 0) {
		w->pulling = false;
		log_error("queue the pull of '%s': %s", p->image, uv_strerror(r));
		free(p->name);
		free(p->image);
		free(p->store);
		free(p);
	}
}

/* ---- reconcile ---- */

static void start_replica(struct agent *a, struct ag_workload *w, int n)
{
	struct ag_container *c = NULL;
	struct err err = { 0 };

	if (ag_container_new(a, w, n, NULL, &c, &err) < 0 || ag_container_spawn(c, &err) < 0) {
		const struct ag_task *t = ag_task_find(w, n);
		log_error("workload '%s' replica %d: %s", w->name, n, err.msg);
		ag_emit(a, "workload", "error", w->name, json_pack("{s:i,s:s}", "replica", n, "error", err.msg));
		if (t)
			ag_task_notify(a, t->id, t->generation, NULL, err.msg);
	}
}

/* A replica being removed keeps its name until it is gone; its removal reconciles
 * again and the replacement comes then. */
static bool replica_name_held(struct agent *a, const char *wl, int n)
{
	_cleanup_free_ char *name = xasprintf("%s-%d", wl, n);

	for (struct ag_container *c = a->containers; c; c = c->next)
		if (streq(c->name, name))
			return true;
	return false;
}

/* Replicas 1..min exist (of this generation); others (higher replicas, older
 * generations) are removed. */
static void reconcile_replicas(struct agent *a, struct ag_workload *w)
{
	int min = (int)json_integer_value(json_object_get(json_object_get(w->spec, "replicas"), "min"));
	bool *have = xcalloc((size_t)min + 1, sizeof(bool));

	for (struct ag_container *c = a->containers, *next; c; c = next) {
		next = c->next;
		if (!c->workload || !streq(c->workload, w->name) || c->removing)
			continue;
		uint64_t gen = (uint64_t)json_integer_value(json_object_get(c->rec, "generation"));
		if (c->replica < 1 || c->replica > min || gen != w->generation ||
		    have[c->replica]) {
			ag_container_destroy(c, AG_STOP_TIMEOUT_MS, NULL, NULL);
			continue;
		}
		have[c->replica] = true;
	}
	for (int n = 1; n <= min; n++)
		if (!have[n] && !replica_name_held(a, w->name, n))
			start_replica(a, w, n);
	free(have);
}

/* Which of w's tasks c runs (its index), -1 when none: a container of another
 * replica, spec generation or task generation is not one of them. */
static ssize_t task_of(struct ag_workload *w, struct ag_container *c)
{
	const struct ag_task *t = ag_task_find(w, c->replica);
	json_t *tg = json_object_get(c->rec, "task_generation");

	if (!t || !json_is_integer(tg) || (uint64_t)json_integer_value(tg) != t->generation ||
	    (uint64_t)json_integer_value(json_object_get(c->rec, "generation")) != w->generation)
		return -1;
	return t - w->tasks;
}

/* Exactly the tasks placed here run. The starts call the task callback, which may
 * change the workload: each one looks again. */
static void reconcile_tasks(struct agent *a, struct ag_workload *w)
{
	_cleanup_free_ bool *have = xcalloc(w->n_tasks, sizeof(bool));
	_cleanup_free_ int *todo = xcalloc(w->n_tasks, sizeof(int));
	_cleanup_free_ char *name = xstrdup(w->name);
	size_t n = 0;

	for (struct ag_container *c = a->containers, *next; c; c = next) {
		next = c->next;
		if (!c->workload || !streq(c->workload, w->name) || c->removing)
			continue;
		ssize_t i = task_of(w, c);
		if (i < 0 || have[i]) {
			ag_container_destroy(c, AG_STOP_TIMEOUT_MS, NULL, NULL);
			continue;
		}
		have[i] = true;
	}
	for (size_t i = 0; i < w->n_tasks; i++)
		if (!have[i])
			todo[n++] = w->tasks[i].replica;
	for (size_t i = 0; i < n; i++) {
		w = ag_workload_find(a, name);
		if (w && ag_task_find(w, todo[i]) && !replica_name_held(a, name, todo[i]))
			start_replica(a, w, todo[i]);
	}
}

/* Brings the workload's containers to its spec — a removal calls back here when it
 * is done, so the replacement follows. */
void ag_reconcile(struct agent *a, struct ag_workload *w)
{
	if (!w->image_ref) {
		if (!w->pulling)
			start_pull(a, w);
		return;
	}
	if (w->assigned)
		reconcile_tasks(a, w);
	else
		reconcile_replicas(a, w);
}

int agent_workload_apply(struct agent *a, json_t *spec, bool replace, json_t **ret,
			 struct err *err)
{
	_cleanup_json_ json_t *s = json_deep_copy(spec);
	struct ag_workload *w;
	const char *name;
	int r;

	if (!s)
		return err_msg(err, EINVAL, "workload: expected an object");
	if ((r = ag_spec_validate(s, err)) < 0)
		return r;
	name = json_string_value(json_object_get(s, "name"));
	w = ag_workload_find(a, name);
	if (w && !replace)
		return err_msg(err, EEXIST, "workload '%s' exists", name);
	if (w && w->assigned)
		return err_msg(err, EBUSY, "workload '%s' is placed by the cluster", name);
	if (!w && n_workloads(a) >= AG_MAX_WORKLOADS)
		return err_msg(err, ENOSPC, "too many workloads (limit %d)", AG_MAX_WORKLOADS);
	if (w && json_equal(w->spec, s)) {
		*ret = workload_json(a, w);
		return 0;
	}
	/* so does a disk limit this node cannot enforce */
	if ((r = ag_disk_check(a, s, err)) < 0)
		return err_wrap(err, "workload '%s'", name);
	/* a host port in use refuses the workload before anything of it exists */
	if ((r = ag_net_publish(a->net_dir, name, s, w ? w->spec : NULL, err)) < 0)
		return err_wrap(err, "workload '%s'", name);
	if (w)
		workload_set_spec(w, s);
	else
		w = workload_add(a, name, s, 1);
	rt_cgroup_prime(); /* its containers attach to their cgroups within ms */
	if ((r = workloads_save(a, err)) < 0)
		return r;
	ag_emit(a, "workload", w->generation > 1 ? "update" : "create", name,
		json_pack("{s:I}", "generation", (json_int_t)w->generation));
	ag_reconcile(a, w);
	*ret = workload_json(a, w);
	return 0;
}

int agent_workload_remove(struct agent *a, const char *name, uint64_t timeout_ms,
			  struct err *err)
{
	struct ag_workload *w = ag_workload_find(a, name);
	int r;

	if (!w)
		return err_msg(err, ENOENT, "workload '%s' not found", name);
	struct err e = { 0 };
	if (ag_net_unpublish(a->net_dir, name, w->spec, &e) < 0)
		log_warn("workload '%s': %s", name, e.msg);
	workload_unlink(a, w);
	if ((r = workloads_save(a, err)) < 0)
		return r;
	for (struct ag_container *c = a->containers, *next; c; c = next) {
		next = c->next;
		if (c->workload && streq(c->workload, name) && !c->removing)
			ag_container_destroy(c, timeout_ms, NULL, NULL);
	}
	ag_emit(a, "workload", "remove", name, NULL);
	return 0;
}

/* ---- cluster mode ---- */

void agent_set_task_cb(struct agent *a, agent_task_fn fn, void *ctx)
{
	a->task_fn = fn;
	a->task_ctx = ctx;
}

void ag_task_notify(struct agent *a, const char *task, uint64_t gen, json_t *container,
		    const char *msg)
{
	if (a->task_fn && task)
		a->task_fn(a->task_ctx, task, gen, container, msg);
}

/* health.c tells of a health change only by its event: the task hears of it here. */
static void task_health(struct agent *a, const char *id)
{
	struct ag_container *c = a->task_fn ? ag_container_find(a, id, &(struct err){ 0 }) : NULL;

	if (c)
		ag_container_report(c, false, NULL);
}

/* The spec an assignment brings, validated (a copy, *ret), for a workload of that
 * name and within the limit of workloads. */
static int assign_spec(struct agent *a, const char *name, json_t *spec, json_t **ret,
		       struct err *err)
{
	_cleanup_json_ json_t *s = json_deep_copy(spec);
	int r;

	if (!json_is_object(s))
		return err_msg(err, EINVAL, "workload '%s': expected an object", name);
	if ((r = ag_spec_validate(s, err)) < 0)
		return err_wrap(err, "workload '%s'", name);
	if (!streq(json_string_value(json_object_get(s, "name")), name))
		return err_msg(err, EINVAL, "workload '%s': the spec is named '%s'", name,
			       json_string_value(json_object_get(s, "name")));
	if (!ag_workload_find(a, name) && n_workloads(a) >= AG_MAX_WORKLOADS)
		return err_msg(err, ENOSPC, "too many workloads (limit %d)", AG_MAX_WORKLOADS);
	*ret = take_ptr(s);
	return 0;
}

/* Gives the workload (made when new) spec s and the task set t (taken). */
static int assign_apply(struct agent *a, const char *name, json_t *s, struct ag_task *t,
			size_t n, struct err *err)
{
	struct ag_workload *w = ag_workload_find(a, name);
	bool same_spec = w && json_equal(w->spec, s);
	const char *action = !w ? "create" : same_spec ? "assign" : "update";
	int r;

	/* a host port in use refuses the change before anything of it exists */
	if (!same_spec && (r = ag_net_publish(a->net_dir, name, s, w ? w->spec : NULL, err)) < 0) {
		tasks_free(t, n);
		return err_wrap(err, "workload '%s'", name);
	}
	if (!w)
		w = workload_add(a, name, s, 1);
	else if (!same_spec)
		workload_set_spec(w, s);
	tasks_free(w->tasks, w->n_tasks);
	w->tasks = t;
	w->n_tasks = n;
	w->assigned = true;
	if ((r = workloads_save(a, err)) < 0)
		return r;
	ag_emit(a, "workload", action, name,
		json_pack("{s:I,s:o}", "generation", (json_int_t)w->generation, "tasks", tasks_json(w)));
	ag_reconcile(a, w);
	return 0;
}

int agent_workload_assign(struct agent *a, const char *name, json_t *spec,
			  const struct agent_task *tasks, size_t n, struct err *err)
{
	_cleanup_json_ json_t *s = NULL;
	struct ag_workload *w;
	struct ag_task *t = NULL;
	int r;

	if (!name)
		return err_msg(err, EINVAL, "assign: no workload name");
	w = ag_workload_find(a, name);
	if (n == 0) /* none here: forgotten on this node */
		return w ? agent_workload_remove(a, name, AG_STOP_TIMEOUT_MS, err) : 0;
	if ((r = assign_spec(a, name, spec, &s, err)) < 0)
		return r;
	if ((r = tasks_copy(tasks, n, &t, err)) < 0)
		return err_wrap(err, "workload '%s'", name);
	if (w && json_equal(w->spec, s) && tasks_equal(w, t, n)) {
		tasks_free(t, n); /* the same again (every Raft apply): nothing changes */
		return 0;
	}
	return assign_apply(a, name, s, t, n, err);
}

/* ---- lifecycle ---- */

static char *dflt(const char *v, const char *base, const char *sub)
{
	return v ? xstrdup(v) : xasprintf("%s/%s", base, sub);
}

int agent_new(uv_loop_t *loop, const struct agent_config *cfg, struct agent **ret,
	      struct err *err)
{
	struct agent *a = xcalloc(1, sizeof(*a));
	_cleanup_free_ char *cdir = NULL, *vdir = NULL, *evf = NULL;
	char exe[PATH_MAX];
	int r;

	a->loop = loop;
	a->events.fd = -1;
	a->state_dir = xstrdup(cfg->state_dir ? cfg->state_dir : "/var/lib/coop");
	a->run_dir = xstrdup(cfg->run_dir ? cfg->run_dir : "/run/coop");
	a->rtroot = xasprintf("%s/runtime", a->run_dir);
	a->image_store = dflt(cfg->image_store, a->state_dir, "images");
	a->net_dir = dflt(cfg->net_dir, a->state_dir, "net");
	if (cfg->exe) {
		a->exe = xstrdup(cfg->exe);
	} else {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0) {
			r = err_sys(err, errno, "readlink /proc/self/exe");
			goto fail;
		}
		exe[n] = '\0';
		a->exe = xstrdup(exe);
	}
	a->log_max = cfg->log_max_bytes ? cfg->log_max_bytes : AG_LOG_DEFAULT_MAX;
	cdir = xasprintf("%s/containers", a->state_dir);
	vdir = xasprintf("%s/volumes", a->state_dir);
	evf = xasprintf("%s/events.jsonl", a->state_dir);
	if ((r = fs_mkdir_p(cdir, 0700, err)) < 0 || (r = fs_mkdir_p(vdir, 0755, err)) < 0 ||
	    (r = fs_mkdir_p(a->rtroot, 0700, err)) < 0 ||
	    (r = ag_events_open(&a->events, evf, 0, err)) < 0)
		goto fail;
	*ret = a;
	return 0;
fail:
	agent_free(a);
	return r;
}

static int load_workloads(struct agent *a, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/workloads.json", a->state_dir);
	_cleanup_json_ json_t *doc = NULL;
	const char *name;
	json_t *v;
	int r;

	if (access(path, F_OK) < 0)
		return 0;
	if ((r = js_load_file(path, &doc, err)) < 0)
		return r;
	json_object_foreach(doc, name, v)
	{
		json_t *spec = json_object_get(v, "spec");
		bool assigned = json_is_true(json_object_get(v, "assigned"));
		struct ag_task *t = NULL;
		size_t n = 0;
		struct err e = { 0 };
		if (ag_workload_find(a, name))
			continue;
		/* a cluster-mode workload without its tasks would fall back to 1..min: skipped */
		if (ag_spec_validate(spec, &e) < 0 ||
		    (assigned && tasks_from_json(json_object_get(v, "tasks"), &t, &n, &e) < 0)) {
			log_warn("workloads.json: workload '%s': %s (skipped)", name, e.msg);
			continue;
		}
		struct ag_workload *w = workload_add(a, name, spec,
						     (uint64_t)json_integer_value(json_object_get(v, "generation")));
		w->assigned = assigned;
		w->tasks = t;
		w->n_tasks = n;
	}
	return 0;
}

int agent_restore(struct agent *a, struct err *err)
{
	_cleanup_free_ char *cdir = xasprintf("%s/containers", a->state_dir);
	_cleanup_closedir_ DIR *d = opendir(cdir);
	struct dirent *de;
	int r;

	if ((r = load_workloads(a, err)) < 0)
		return r;
	if (!d)
		return err_sys(err, errno, "open '%s'", cdir);
	while ((de = readdir(d))) {
		struct err e = { 0 };
		if (strncmp(de->d_name, ".gone-", 6) == 0) { /* a removal cut short */
			_cleanup_free_ char *p = xasprintf("%s/%s", cdir, de->d_name);
			ag_rm_later(a, p);
		}
		if (de->d_name[0] == '.')
			continue;
		r = ag_container_restore(a, de->d_name, &e);
		if (r < 0 && r != -EEXIST)
			log_warn("restore container %s: %s", de->d_name, e.msg);
	}
	for (struct ag_workload *w = a->workloads; w; w = w->next) {
		struct err e = { 0 };
		/* the network state may have been reset meanwhile: publish again (a no-op
		 * for ports that are there) */
		if (ag_net_publish(a->net_dir, w->name, w->spec, NULL, &e) < 0)
			log_warn("workload '%s': %s", w->name, e.msg);
		ag_reconcile(a, w);
	}
	struct err e = { 0 };
	if (!a->dns && ag_dns_start(a, &e) < 0)
		log_warn("dns: %s (names will not resolve in containers)", e.msg);
	return 0;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	ag_dns_stop(a);
	ag_container_free_all(a);
	while (a->workloads) {
		struct ag_workload *w = a->workloads;
		a->workloads = w->next;
		workload_free(w);
	}
	ag_events_close(&a->events);
	free(a->state_dir);
	free(a->run_dir);
	free(a->rtroot);
	free(a->image_store);
	free(a->net_dir);
	free(a->exe);
	free(a);
}

/* ---- containers ---- */

json_t *agent_containers(struct agent *a, bool all)
{
	json_t *arr = json_array();

	for (struct ag_container *c = a->containers; c; c = c->next)
		if (all || c->state != AG_EXITED)
			json_array_append_new(arr, ag_container_json(c));
	return arr;
}

int agent_container_get(struct agent *a, const char *ref, json_t **ret, struct err *err)
{
	struct ag_container *c = ag_container_find(a, ref, err);

	if (!c)
		return -err->code;
	*ret = ag_container_json(c);
	return 0;
}

int agent_container_stop(struct agent *a, const char *ref, uint64_t timeout_ms,
			 agent_done_fn done, void *ctx, struct err *err)
{
	struct ag_container *c = ag_container_find(a, ref, err);

	if (!c)
		return -err->code;
	return ag_container_stop(c, timeout_ms, true, done, ctx, err);
}

int agent_container_remove(struct agent *a, const char *ref, bool force, agent_done_fn done,
			   void *ctx, struct err *err)
{
	struct ag_container *c = ag_container_find(a, ref, err);

	if (!c)
		return -err->code;
	if (c->removing)
		return err_msg(err, EBUSY, "container '%s' is being removed", c->name);
	if (c->state != AG_EXITED && c->state != AG_RESTARTING && !force)
		return err_msg(err, EBUSY, "container '%s' is %s: stop it first or force the removal",
			       c->name, c->state == AG_RUNNING ? "running" : "starting");
	/* a workload's replica removed by hand is replaced (its workload still wants
	 * it), as orchestrators do; forced, it is killed at once, as docker rm -f does */
	ag_container_destroy(c, force ? 0 : AG_STOP_TIMEOUT_MS, done, ctx);
	return 0;
}

int agent_container_metrics(struct agent *a, const char *ref, json_t **ret, struct err *err)
{
	struct ag_container *c = ag_container_find(a, ref, err);
	struct rt_state *st = NULL;
	int r;

	if (!c)
		return -err->code;
	if (c->state != AG_RUNNING)
		return err_msg(err, EINVAL, "container '%s' is not running", c->name);
	if ((r = rt_state_load(a->rtroot, c->id, &st, err)) < 0)
		return r;
	if (!st->cgroup)
		r = err_msg(err, ENOENT, "container '%s' has no cgroup", c->name);
	else
		r = ag_metrics_collect(st->cgroup, st->pid, &c->prev, ret, err);
	rt_state_free(st);
	if (r == 0) {
		json_object_set_new(*ret, "id", json_string(c->id));
		json_object_set_new(*ret, "name", json_string(c->name));
	}
	return r;
}

int agent_container_logs(struct agent *a, const char *ref, char ***ret_files, bool *ret_running,
			 struct err *err)
{
	struct ag_container *c = ag_container_find(a, ref, err);

	if (!c)
		return -err->code;
	_cleanup_free_ char *path = xasprintf("%s/log.json", c->dir);
	*ret_files = ag_log_files(path);
	*ret_running = c->state != AG_EXITED;
	return 0;
}

int agent_container_exec(struct agent *a, const char *ref, char *const *argv, char *const *env,
			 const char *user, const char *cwd, agent_output_fn out,
			 agent_exit_fn done, void *ctx, struct err *err)
{
	struct ag_container *c = ag_container_find(a, ref, err);

	if (!c)
		return -err->code;
	return ag_exec_spawn(c, argv, env, user, cwd, 0, out, done, ctx, err);
}

int agent_container_exec_target(struct agent *a, const char *ref, char **ret_id, char **ret_rtroot,
				struct err *err)
{
	struct ag_container *c = ag_container_find(a, ref, err);

	if (!c)
		return -err->code;
	if (c->state != AG_RUNNING)
		return err_msg(err, EBUSY, "container '%s' is not running", c->name);
	*ret_id = xstrdup(c->id);
	*ret_rtroot = xstrdup(a->rtroot);
	return 0;
}
