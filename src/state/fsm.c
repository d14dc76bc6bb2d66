/* fsm: command checks and their mutations. Each op is one function run twice: with
 * c->apply false it only checks (fsm_validate), with c->apply true it checks the same
 * things against the state at its log position and, past the last check, mutates. The
 * mutation half allocates but never fails, so apply is all or nothing. */
#include "state/fsm.h"

#include "state/gc.h"

#include <ctype.h>
#include <inttypes.h>

#include "base/js.h"
#include "base/util.h"

struct ctx {
	struct model *m;
	bool apply;
	uint64_t index, ts;
	char msg[MODEL_RESULT_MSG]; /* what happened, for the result */
};

enum name_kind {
	NAME_DNS,  /* workloads, VPCs: lower-case letters, digits, '-' inside */
	NAME_NODE, /* node names: host names, letters, digits, '.', '-', '_' */
	NAME_ID,   /* token and request ids: printable ASCII without spaces or quotes */
};

static bool name_ok(const char *s, enum name_kind kind, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		bool ok;
		switch (kind) {
		case NAME_DNS:
			ok = islower(ch) || isdigit(ch) || (ch == '-' && i && i + 1 < n);
			break;
		case NAME_NODE:
			ok = isalnum(ch) || (i && (ch == '.' || ch == '-' || ch == '_'));
			break;
		default:
			ok = ch > ' ' && ch < 127 && ch != '"' && ch != '\\';
		}
		if (!ok)
			return false;
	}
	return true;
}

/* A string field borrowed from the command (no copy: the hot path). */
static int str_field(json_t *obj, const char *path, const char *key, bool required,
		     const char **ret, struct err *err)
{
	json_t *v;
	int r = js_get(obj, path, key, JSON_STRING, required, &v, err);

	if (r > 0)
		*ret = json_string_value(v);
	return r;
}

static int name_field(json_t *obj, const char *path, const char *key, enum name_kind kind,
		      bool required, const char **ret, struct err *err)
{
	static const char *const rules[] = {
	    "lower-case letters, digits and inner '-', at most 63",
	    "letters, digits, '.', '-' and '_', at most 63",
	    "printable characters without spaces or quotes, at most 64",
	};
	int r = str_field(obj, path, key, required, ret, err);

	if (r > 0 && !name_ok(*ret, kind, kind == NAME_ID ? FSM_ID_MAX : MODEL_NAME_MAX)) {
		_cleanup_free_ char *p = js_path(path, key);
		return err_msg(err, EINVAL, "%s: '%.80s' is not a valid name (%s)", p, *ret,
			       rules[kind]);
	}
	return r;
}

static int i64_field(json_t *obj, const char *path, const char *key, int64_t max, int64_t *ret,
		     struct err *err)
{
	uint64_t v;
	int r = js_u64(obj, path, key, (uint64_t)max, &v, err);

	if (r > 0)
		*ret = (int64_t)v;
	return r;
}

static int res_field(json_t *obj, const char *path, const char *key, struct model_res *ret,
		     struct err *err)
{
	_cleanup_free_ char *p = js_path(path, key);
	json_t *v = NULL;
	int r = js_get(obj, path, key, JSON_OBJECT, false, &v, err);

	if (r <= 0)
		return r;
	r = i64_field(v, p, "cpu_milli", INT64_C(1) << 40, &ret->cpu_milli, err);
	if (r >= 0)
		r = i64_field(v, p, "memory", INT64_C(1) << 56, &ret->memory, err);
	return r < 0 ? r : 1;
}

/* Labels: an object of at most MODEL_MAX_LABELS strings, keys like Kubernetes'. */
static int label_ok(const char *path, const char *k, json_t *v, struct err *err)
{
	if (!name_ok(k, NAME_ID, MODEL_NAME_MAX) || strchr(k, '='))
		return err_msg(err, EINVAL, "%s: '%.80s' is not a valid label key", path, k);
	if (v && (!json_is_string(v) || json_string_length(v) > 255 ||
		  strpbrk(json_string_value(v), "\n\r\t\"")))
		return err_msg(err, EINVAL, "%s.%s: expected a one-line string of at most 255",
			       path, k);
	return 0;
}

static int labels_field(json_t *obj, const char *path, const char *key, json_t **ret,
			struct err *err)
{
	_cleanup_free_ char *p = js_path(path, key);
	const char *k;
	json_t *o = NULL, *v;
	int r = js_get(obj, path, key, JSON_OBJECT, false, &o, err);

	if (r <= 0)
		return r;
	if (json_object_size(o) > MODEL_MAX_LABELS)
		return err_msg(err, E2BIG, "%s: more than %d labels", p, MODEL_MAX_LABELS);
	json_object_foreach(o, k, v)
	{
		r = label_ok(p, k, v, err);
		if (r < 0)
			return r;
	}
	*ret = o;
	return 1;
}

static int cas(const char *what, const char *name, uint64_t have, json_t *cmd, struct err *err)
{
	uint64_t want;
	int r = js_u64(cmd, "", "version", UINT64_MAX >> 1, &want, err);

	if (r > 0 && want != have)
		return err_msg(err, ESTALE, "%s '%s' is at version %" PRIu64 ", not %" PRIu64, what,
			       name, have, want);
	return r < 0 ? r : 0;
}

static void say(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
}

static void event(struct ctx *c, const char *type, const char *action, json_t *obj)
{
	model_event_add(c->m, c->index, c->ts, type, action, obj);
}

/* ---- workloads ---- */

/* A replica's request from spec.resources: cpu (millicores) or cpus (cores), memory
 * or memory_limit (bytes). */
static int spec_request(json_t *spec, struct model_res *ret, struct err *err)
{
	json_t *res = NULL, *cpus;
	struct model_res out = {0, 0};
	int r = js_get(spec, "spec", "resources", JSON_OBJECT, false, &res, err);

	if (r <= 0) {
		*ret = out;
		return r;
	}
	cpus = json_object_get(res, "cpus");
	if (cpus && json_is_number(cpus)) {
		double v = json_number_value(cpus);
		if (!(v >= 0 && v <= 1e6))
			return err_msg(err, EINVAL, "spec.resources.cpus: out of range");
		out.cpu_milli = (int64_t)(v * 1000 + 0.5);
	}
	if (i64_field(res, "spec.resources", "cpu", INT64_C(1) << 40, &out.cpu_milli, err) < 0)
		return -EINVAL;
	json_t *ml = json_object_get(res, "memory_limit");
	if (ml && json_is_integer(ml) && json_integer_value(ml) > 0)
		out.memory = json_integer_value(ml);
	if (i64_field(res, "spec.resources", "memory", INT64_C(1) << 56, &out.memory, err) < 0)
		return -EINVAL;
	*ret = out;
	return 0;
}

static int spec_replicas(json_t *spec, json_t *cmd, int *ret, struct err *err)
{
	uint64_t n = 1;
	json_t *rep = json_object_get(spec, "replicas"), *min = json_object_get(rep, "min");
	int r;

	if (json_is_integer(rep))
		min = rep;
	if (json_is_integer(min) && json_integer_value(min) >= 0 &&
	    json_integer_value(min) <= MODEL_MAX_REPLICAS)
		n = (uint64_t)json_integer_value(min);
	r = js_u64(cmd, "", "replicas", MODEL_MAX_REPLICAS, &n, err);
	if (r < 0)
		return r;
	*ret = (int)n;
	return 0;
}

static int op_workload_put(struct ctx *c, json_t *cmd, struct err *err)
{
	const char *name = NULL, *sname = NULL, *vpc = NULL;
	json_t *spec = NULL;
	struct model_res req;
	int replicas, r;

	if ((r = name_field(cmd, "", "name", NAME_DNS, true, &name, err)) < 0 ||
	    (r = js_get(cmd, "", "spec", JSON_OBJECT, true, &spec, err)) < 0 ||
	    (r = str_field(spec, "spec", "name", false, &sname, err)) < 0 ||
	    (r = str_field(spec, "spec", "vpc", false, &vpc, err)) < 0 ||
	    (r = spec_request(spec, &req, err)) < 0 ||
	    (r = res_field(cmd, "", "request", &req, err)) < 0 ||
	    (r = spec_replicas(spec, cmd, &replicas, err)) < 0)
		return r;
	if (sname && !streq(sname, name))
		return err_msg(err, EINVAL,
			       "spec.name: '%.80s' differs from the workload's name '%s'", sname,
			       name);
	if (vpc && !model_vpc(c->m, vpc))
		return err_msg(err, ENOENT, "spec.vpc: vpc '%.80s' does not exist", vpc);
	struct model_workload *w = model_workload(c->m, name);
	if ((r = cas("workload", name, w ? w->version : 0, cmd, err)) < 0)
		return r;
	if (!w && c->m->workloads.len >= MODEL_MAX_WORKLOADS)
		return err_msg(err, ENOSPC, "the cluster already has %d workloads, the limit",
			       MODEL_MAX_WORKLOADS);
	if (!c->apply)
		return 0;

	if (!w) {
		w = model_workload_add(c->m, name);
		w->created = c->index;
	}
	if (!w->generation || !json_equal(w->spec, spec)) {
		w->generation++;
		json_decref(w->spec);
		w->spec = json_incref(spec);
	}
	w->replicas = replicas;
	w->request = req;
	w->version = c->index;
	event(c, "workload", "put", model_workload_json(w));
	say(c, "workload '%s' generation %" PRIu64 ", %d replicas", name, w->generation, replicas);
	return 0;
}

/* A task that is stopped for good and no longer wanted leaves the model. */
static void task_gc(struct ctx *c, struct model_task *t)
{
	if (!model_observed_terminal(t->observed) || !gc_task_unwanted(c->m, t))
		return;
	event(c, "task", "delete",
	      json_pack("{s:s,s:s,s:s?}", "id", t->id, "workload", t->workload, "node", t->node));
	model_task_remove(c->m, t);
}

static void task_stop(struct ctx *c, struct model_task *t)
{
	if (t->desired != MODEL_DESIRED_STOPPED) {
		model_task_assign(c->m, t, t->node, MODEL_DESIRED_STOPPED, NULL);
		t->version = c->index;
		event(c, "task", "stop", model_task_json(t));
	}
	task_gc(c, t);
}

static int op_workload_delete(struct ctx *c, json_t *cmd, struct err *err)
{
	const char *name = NULL;
	struct model_workload *w;
	int r;

	if ((r = name_field(cmd, "", "name", NAME_DNS, true, &name, err)) < 0)
		return r;
	w = model_workload(c->m, name);
	if (!w)
		return err_msg(err, ENOENT, "workload '%s' does not exist", name);
	if ((r = cas("workload", name, w->version, cmd, err)) < 0)
		return r;
	if (!c->apply)
		return 0;

	/* the workload goes first so task_gc drops its finished tasks at once */
	size_t left = model_workload_tasks(c->m, name), n = left;
	model_workload_remove(c->m, w);
	for (int i = 0; left && i < MODEL_MAX_REPLICAS; i++) {
		char id[MODEL_NAME_MAX + 16];
		snprintf(id, sizeof(id), "%s.%d", name, i);
		struct model_task *t = model_task(c->m, id);
		if (t) {
			left--;
			task_stop(c, t);
		}
	}
	event(c, "workload", "delete", json_pack("{s:s}", "name", name));
	say(c, "workload '%s' deleted, %zu tasks stopping", name, n);
	return 0;
}

/* ---- nodes ---- */

static int cmp_task_ptr(const void *a, const void *b)
{
	return strcmp((*(struct model_task *const *)a)->id, (*(struct model_task *const *)b)->id);
}

static int cmp_vpc_ptr(const void *a, const void *b)
{
	return strcmp((*(struct model_vpc *const *)a)->name, (*(struct model_vpc *const *)b)->name);
}

static int node_get(struct ctx *c, json_t *cmd, struct model_node **ret, struct err *err)
{
	const char *name = NULL;
	int r = name_field(cmd, "", "name", NAME_NODE, true, &name, err);

	if (r < 0)
		return r;
	*ret = model_node(c->m, name);
	if (!*ret)
		return err_msg(err, ENOENT, "node '%s' does not exist", name);
	return 0;
}

static int op_node_register(struct ctx *c, json_t *cmd, struct err *err)
{
	const char *name = NULL, *addr = NULL, *role_s = NULL;
	json_t *labels = NULL;
	struct model_res cap = {0, 0};
	enum model_role role;
	bool replace = false;
	int r;

	if ((r = name_field(cmd, "", "name", NAME_NODE, true, &name, err)) < 0 ||
	    (r = name_field(cmd, "", "address", NAME_ID, true, &addr, err)) < 0 ||
	    (r = str_field(cmd, "", "role", true, &role_s, err)) < 0 ||
	    (r = labels_field(cmd, "", "labels", &labels, err)) < 0 ||
	    (r = res_field(cmd, "", "capacity", &cap, err)) < 0 ||
	    (r = js_bool(cmd, "", "replace", &replace, err)) < 0)
		return r;
	if (model_role_parse(role_s, &role) < 0)
		return err_msg(err, EINVAL, "role: '%.40s' is not server or agent", role_s);
	struct model_node *n = model_node(c->m, name);
	if (n && !streq(n->address, addr) && !replace)
		return err_msg(err, EEXIST, "node name '%s' is already taken by %s", name,
			       n->address);
	const struct model_node *other = model_node_at(c->m, addr, name);
	if (other)
		return err_msg(err, EEXIST, "address %s: node '%s' is at %s already (each node "
			       "needs its own underlay address)", addr, other->name, other->address);
	if (!n && c->m->nodes.len >= MODEL_MAX_NODES)
		return err_msg(err, ENOSPC, "the cluster already has %d nodes, the limit",
			       MODEL_MAX_NODES);
	if (!c->apply)
		return 0;

	if (!n) {
		n = model_node_add(c->m, name);
		n->created = c->index;
	}
	free(n->address);
	n->address = xstrdup(addr);
	n->role = role;
	n->state = MODEL_NODE_READY;
	n->capacity = cap;
	if (labels) {
		json_decref(n->labels);
		n->labels = json_deep_copy(labels);
	}
	n->heartbeat_gen++;
	n->version = c->index;
	event(c, "node", "register", model_node_json(n));
	say(c, "node '%s' registered at %s (heartbeat generation %" PRIu64 ")", name, addr,
	    n->heartbeat_gen);
	return 0;
}

static int op_node_state(struct ctx *c, json_t *cmd, struct err *err)
{
	const char *st = NULL;
	struct model_node *n = NULL;
	enum model_node_state state;
	uint64_t gen;
	int r;

	if ((r = node_get(c, cmd, &n, err)) < 0 ||
	    (r = str_field(cmd, "", "state", true, &st, err)) < 0)
		return r;
	if (model_node_state_parse(st, &state) < 0)
		return err_msg(err, EINVAL, "state: '%.40s' is not ready, down or draining", st);
	r = js_u64(cmd, "", "heartbeat_gen", UINT64_MAX >> 1, &gen, err);
	if (r < 0)
		return r;
	if (r > 0 && gen != n->heartbeat_gen)
		return err_msg(err, ESTALE,
			       "node '%s' registered again (heartbeat generation %" PRIu64
			       ", not %" PRIu64 ")",
			       n->name, n->heartbeat_gen, gen);
	if (!c->apply)
		return 0;

	n->state = state;
	n->version = c->index;
	event(c, "node", "state", model_node_json(n));
	say(c, "node '%s' is %s", n->name, st);
	return 0;
}

static int op_node_label(struct ctx *c, json_t *cmd, struct err *err)
{
	struct model_node *n = NULL;
	json_t *set = NULL, *rm = NULL, *v;
	const char *k;
	size_t i, total;
	int r;

	if ((r = node_get(c, cmd, &n, err)) < 0 ||
	    (r = labels_field(cmd, "", "set", &set, err)) < 0 ||
	    (r = js_get(cmd, "", "remove", JSON_ARRAY, false, &rm, err)) < 0)
		return r;
	total = json_object_size(n->labels);
	json_object_foreach(set, k, v) total += !json_object_get(n->labels, k);
	json_array_foreach(rm, i, v)
	{
		if (!json_is_string(v) || label_ok("remove", json_string_value(v), NULL, err) < 0)
			return err_msg(err, EINVAL, "remove[%zu]: expected a label key", i);
	}
	if (total > MODEL_MAX_LABELS)
		return err_msg(err, E2BIG, "node '%s' would have more than %d labels", n->name,
			       MODEL_MAX_LABELS);
	if (!c->apply)
		return 0;

	/* copy on write: earlier events share the old labels object */
	json_t *labels = json_deep_copy(n->labels);
	json_array_foreach(rm, i, v)
	{
		json_object_del(labels, json_string_value(v));
	}
	json_object_foreach(set, k, v)
	{
		json_object_set_new(labels, k, json_string(json_string_value(v)));
	}
	json_decref(n->labels);
	n->labels = labels;
	n->version = c->index;
	event(c, "node", "label", model_node_json(n));
	say(c, "node '%s' has %zu labels", n->name, json_object_size(n->labels));
	return 0;
}

/* ---- node certificates: recorded when issued, revoked when their node is removed ---- */

static int u64_req(json_t *obj, const char *path, const char *key, uint64_t max, uint64_t *ret,
		   struct err *err);

static int cmp_cert_ptr(const void *a, const void *b)
{
	return strcmp((*(struct model_cert *const *)a)->serial,
		      (*(struct model_cert *const *)b)->serial);
}

/* Drops the entries of certificates that expired by the command's time: they are
 * refused for their dates anyway, and this keeps both lists bounded. */
static void certs_prune(struct ctx *c, struct hmap *map)
{
	struct model_cert *ct, **drop;
	size_t i = 0, n = 0;

	if (!c->ts || !map->len)
		return;
	drop = xcalloc(map->len, sizeof(*drop));
	while (hmap_next(map, &i, NULL, (void **)&ct))
		if (ct->expires_ms <= c->ts)
			drop[n++] = ct;
	for (size_t j = 0; j < n; j++)
		model_cert_remove(map, drop[j]);
	free(drop);
}

/* Moves every recorded certificate of `node` to the revoked list; how many. */
static size_t certs_revoke(struct ctx *c, const char *node)
{
	struct model_cert *ct, **move;
	size_t i = 0, n = 0;

	certs_prune(c, &c->m->certs);
	certs_prune(c, &c->m->revoked);
	move = xcalloc(c->m->certs.len + 1, sizeof(*move));
	while (hmap_next(&c->m->certs, &i, NULL, (void **)&ct))
		if (streq(ct->node, node))
			move[n++] = ct;
	qsort(move, n, sizeof(*move), cmp_cert_ptr); /* events in the same order everywhere */
	for (size_t j = 0; j < n; j++) {
		struct model_cert *r = model_cert_add(&c->m->revoked, move[j]->serial, node,
						      move[j]->expires_ms);
		r->version = c->index;
		event(c, "cert", "revoke", model_cert_json(r));
		model_cert_remove(&c->m->certs, move[j]);
	}
	free(move);
	return n;
}

static int op_cert_add(struct ctx *c, json_t *cmd, struct err *err)
{
	const char *serial = NULL, *node = NULL;
	uint64_t expires = 0;
	size_t n;
	int r;

	if ((r = str_field(cmd, "", "serial", true, &serial, err)) < 0 ||
	    (r = name_field(cmd, "", "node", NAME_NODE, true, &node, err)) < 0 ||
	    (r = u64_req(cmd, "", "expires_ms", UINT64_MAX >> 1, &expires, err)) < 0)
		return r;
	n = strlen(serial);
	if (n == 0 || n > 40 || strspn(serial, "0123456789abcdef") != n)
		return err_msg(err, EINVAL, "serial: expected 1 to 40 lower-case hex digits");
	if (hmap_get(&c->m->revoked, serial))
		return err_msg(err, EACCES, "certificate %s of node '%s' was revoked", serial, node);
	struct model_cert *ct = hmap_get(&c->m->certs, serial);
	if (ct && !streq(ct->node, node))
		return err_msg(err, EEXIST, "certificate %s is recorded for node '%s'", serial,
			       ct->node);
	if (!ct && c->m->certs.len + c->m->revoked.len >= MODEL_MAX_CERTS) {
		/* expired entries make room (apply drops them first) */
		size_t live = 0, i = 0;
		struct model_cert *x;
		while (hmap_next(&c->m->certs, &i, NULL, (void **)&x))
			live += !c->ts || x->expires_ms > c->ts;
		for (i = 0; hmap_next(&c->m->revoked, &i, NULL, (void **)&x);)
			live += !c->ts || x->expires_ms > c->ts;
		if (live >= MODEL_MAX_CERTS)
			return err_msg(err, ENOSPC, "the cluster already knows %d certificates, the limit",
				       MODEL_MAX_CERTS);
	}
	if (!c->apply)
		return 0;
	certs_prune(c, &c->m->certs);
	certs_prune(c, &c->m->revoked);
	ct = hmap_get(&c->m->certs, serial);
	if (!ct)
		ct = model_cert_add(&c->m->certs, serial, node, expires);
	ct->expires_ms = expires;
	ct->version = c->index;
	event(c, "cert", "put", model_cert_json(ct));
	say(c, "certificate %s of node '%s' recorded", serial, node);
	return 0;
}

static int op_node_delete(struct ctx *c, json_t *cmd, struct err *err)
{
	struct model_node *n = NULL;
	struct model_task *t;
	struct model_vpc *v;
	bool force = false;
	size_t i = 0;
	int r;

	if ((r = node_get(c, cmd, &n, err)) < 0 || (r = js_bool(cmd, "", "force", &force, err)) < 0)
		return r;
	if (n->n_tasks && !force)
		return err_msg(err, EBUSY,
			       "node '%s' still holds %zu tasks; drain it first, or force", n->name,
			       n->n_tasks);
	if (!c->apply)
		return 0;

	/* collect first (a map must not change while iterated), then sort: events must come
	 * out in the same order on every replica, whatever each map's history */
	size_t k = 0, cnt = n->n_tasks;
	struct model_task **drop = xcalloc(cnt + 1, sizeof(*drop));
	while (cnt && hmap_next(&c->m->tasks, &i, NULL, (void **)&t))
		if (t->node && streq(t->node, n->name) && k < cnt)
			drop[k++] = t;
	qsort(drop, k, sizeof(*drop), cmp_task_ptr);
	for (size_t j = 0; j < k; j++) {
		event(c, "task", "delete",
		      json_pack("{s:s,s:s,s:s}", "id", drop[j]->id, "workload", drop[j]->workload,
				"node", n->name));
		model_task_remove(c->m, drop[j]);
	}
	free(drop);
	size_t nv = 0;
	struct model_vpc **vpcs = xcalloc(c->m->vpcs.len + 1, sizeof(*vpcs));
	i = 0;
	while (hmap_next(&c->m->vpcs, &i, NULL, (void **)&v))
		vpcs[nv++] = v;
	qsort(vpcs, nv, sizeof(*vpcs), cmp_vpc_ptr);
	for (size_t j = 0; j < nv; j++) {
		struct model_lease *l = hmap_get(&vpcs[j]->leases, n->name);
		if (l) {
			event(c, "lease", "delete", model_lease_json(vpcs[j], l));
			model_lease_remove(vpcs[j], l);
			vpcs[j]->version = c->index;
		}
	}
	free(vpcs);
	size_t nrev = certs_revoke(c, n->name);
	event(c, "node", "delete", json_pack("{s:s}", "name", n->name));
	say(c, "node '%s' deleted with %zu tasks, %zu certificates revoked", n->name, k, nrev);
	model_node_remove(c->m, n);
	return 0;
}

/* ---- tasks ---- */

static int u64_req(json_t *obj, const char *path, const char *key, uint64_t max, uint64_t *ret,
		   struct err *err)
{
	json_t *v;
	int r = js_get(obj, path, key, JSON_INTEGER, true, &v, err);

	if (r < 0)
		return r;
	return js_u64(obj, path, key, max, ret, err);
}

static void res_add_delta(struct model_res *a, const struct model_res *b, int sign)
{
	a->cpu_milli += sign * b->cpu_milli;
	a->memory += sign * b->memory;
}

struct place {
	const char *workload, *node;
	int replica;
	enum model_desired desired;
	struct model_task *t;
	struct model_workload *w;
	struct model_node *n;
	char id[MODEL_NAME_MAX + 16];
};

/* The batch's change to a node's allocation, in per-node scratch valid for this batch. */
static struct model_res *node_delta(struct ctx *c, struct model_node *n)
{
	if (n->mark != c->m->mark) {
		n->mark = c->m->mark;
		n->delta = (struct model_res){0, 0};
	}
	return &n->delta;
}

static int place_parse(struct ctx *c, json_t *it, const char *path, struct place *p,
		       struct err *err)
{
	const char *desired = NULL;
	uint64_t replica, gen;
	int r;

	if (!json_is_object(it))
		return err_msg(err, EINVAL, "%s: expected an object", path);
	if ((r = name_field(it, path, "workload", NAME_DNS, true, &p->workload, err)) < 0 ||
	    (r = u64_req(it, path, "replica", MODEL_MAX_REPLICAS - 1, &replica, err)) < 0 ||
	    (r = name_field(it, path, "node", NAME_NODE, false, &p->node, err)) < 0 ||
	    (r = str_field(it, path, "desired", false, &desired, err)) < 0)
		return r;
	p->replica = (int)replica;
	p->desired = MODEL_DESIRED_RUNNING;
	if (desired && model_desired_parse(desired, &p->desired) < 0)
		return err_msg(err, EINVAL, "%s.desired: '%.40s' is not running or stopped", path,
			       desired);
	snprintf(p->id, sizeof(p->id), "%s.%d", p->workload, p->replica);
	p->t = model_task(c->m, p->id);
	p->w = model_workload(c->m, p->workload);
	r = js_u64(it, path, "generation", UINT64_MAX >> 1, &gen, err);
	if (r < 0)
		return r;
	if (r > 0 && gen != (p->t ? p->t->generation : 0))
		return err_msg(err, ESTALE,
			       "%s: task '%s' is at generation %" PRIu64 ", not %" PRIu64, path,
			       p->id, p->t ? p->t->generation : 0, gen);
	if (p->desired == MODEL_DESIRED_STOPPED) {
		if (!p->t)
			return err_msg(err, ENOENT, "%s: task '%s' does not exist", path, p->id);
		return 0;
	}
	if (!p->w)
		return err_msg(err, ENOENT, "%s: workload '%s' does not exist", path, p->workload);
	if (!p->node)
		return err_msg(err, EINVAL, "%s.node: missing required field", path);
	p->n = model_node(c->m, p->node);
	if (!p->n)
		return err_msg(err, ENOENT, "%s: node '%s' does not exist", path, p->node);
	if (p->n->state != MODEL_NODE_READY)
		return err_msg(err, EAGAIN, "%s: node '%s' is %s", path, p->node,
			       model_node_state_name(p->n->state));
	if (p->t && p->t->desired == MODEL_DESIRED_RUNNING && p->t->node) {
		struct model_node *old = model_node(c->m, p->t->node);
		if (old)
			res_add_delta(node_delta(c, old), &p->t->request, -1);
	}
	res_add_delta(node_delta(c, p->n), &p->w->request, +1);
	return 0;
}

static int place_fits(struct ctx *c, const struct place *p, const char *path, struct err *err)
{
	const struct model_node *n = p->n;
	const struct model_res *d = &n->delta;

	if (n->capacity.cpu_milli && d->cpu_milli > 0 &&
	    n->allocated.cpu_milli + d->cpu_milli > n->capacity.cpu_milli)
		return err_msg(
		    err, ENOSPC,
		    "%s: node '%s' has %" PRId64 "m CPU free, the batch needs %" PRId64 "m", path,
		    n->name, n->capacity.cpu_milli - n->allocated.cpu_milli, d->cpu_milli);
	if (n->capacity.memory && d->memory > 0 &&
	    n->allocated.memory + d->memory > n->capacity.memory)
		return err_msg(err, ENOSPC,
			       "%s: node '%s' has %" PRId64
			       " bytes of memory free, the batch needs %" PRId64,
			       path, n->name, n->capacity.memory - n->allocated.memory, d->memory);
	return 0;
}

static void place_do(struct ctx *c, struct place *p)
{
	struct model_task *t = p->t;

	if (p->desired == MODEL_DESIRED_STOPPED) {
		task_stop(c, t);
		return;
	}
	if (!t) {
		t = model_task_add(c->m, p->workload, p->replica);
		t->created = c->index;
	}
	t->generation++;
	t->spec_gen = p->w->generation;
	t->observed = MODEL_OBS_ASSIGNED;
	t->exit_code = 0;
	free(t->container_id);
	free(t->ip);
	free(t->message);
	t->container_id = t->ip = t->message = NULL;
	model_task_assign(c->m, t, p->node, MODEL_DESIRED_RUNNING, &p->w->request);
	t->version = c->index;
	event(c, "task", "place", model_task_json(t));
}

static int place_check(struct ctx *c, json_t *list, struct place *ps, struct err *err)
{
	struct hmap seen = HMAP_INIT;
	size_t n = json_array_size(list), added = 0, i;
	char path[48];
	int r = 0;

	c->m->mark++;
	for (i = 0; i < n && !r; i++) {
		snprintf(path, sizeof(path), "placements[%zu]", i);
		r = place_parse(c, json_array_get(list, i), path, &ps[i], err);
		if (r < 0)
			break;
		if (hmap_put(&seen, ps[i].id, &ps[i]))
			r = err_msg(err, EINVAL, "%s: task '%s' appears twice in the batch", path,
				    ps[i].id);
		added += !ps[i].t;
	}
	for (i = 0; i < n && !r; i++) {
		snprintf(path, sizeof(path), "placements[%zu]", i);
		if (ps[i].desired == MODEL_DESIRED_RUNNING)
			r = place_fits(c, &ps[i], path, err);
	}
	if (!r && c->m->tasks.len + added > MODEL_MAX_TASKS)
		r = err_msg(err, ENOSPC, "the cluster would have more than %d tasks, the limit",
			    MODEL_MAX_TASKS);
	hmap_free(&seen);
	return r;
}

static int op_task_place(struct ctx *c, json_t *cmd, struct err *err)
{
	json_t *list = NULL;
	size_t n;
	int r = js_get(cmd, "", "placements", JSON_ARRAY, true, &list, err);

	if (r < 0)
		return r;
	n = json_array_size(list);
	if (n == 0 || n > FSM_MAX_BATCH)
		return err_msg(err, EINVAL, "placements: expected 1 to %d entries, not %zu",
			       FSM_MAX_BATCH, n);
	_cleanup_free_ struct place *ps = xcalloc(n, sizeof(*ps));
	r = place_check(c, list, ps, err);
	if (r < 0 || !c->apply)
		return r;
	for (size_t i = 0; i < n; i++)
		place_do(c, &ps[i]);
	say(c, "%zu placements", n);
	return 0;
}

struct report {
	const char *task, *node, *container, *ip, *message;
	uint64_t generation;
	enum model_observed state;
	int64_t exit_code;
	bool has_exit;
};

static int report_parse(json_t *it, const char *path, struct report *rp, struct err *err)
{
	const char *st = NULL;
	int r;

	if (!json_is_object(it))
		return err_msg(err, EINVAL, "%s: expected an object", path);
	if ((r = name_field(it, path, "task", NAME_ID, true, &rp->task, err)) < 0 ||
	    (r = u64_req(it, path, "generation", UINT64_MAX >> 1, &rp->generation, err)) < 0 ||
	    (r = name_field(it, path, "node", NAME_NODE, true, &rp->node, err)) < 0 ||
	    (r = str_field(it, path, "state", true, &st, err)) < 0 ||
	    (r = name_field(it, path, "container", NAME_ID, false, &rp->container, err)) < 0 ||
	    (r = name_field(it, path, "ip", NAME_ID, false, &rp->ip, err)) < 0 ||
	    (r = str_field(it, path, "message", false, &rp->message, err)) < 0 ||
	    (r = js_i64(it, path, "exit_code", &rp->exit_code, err)) < 0)
		return r;
	rp->has_exit = r > 0;
	if (model_observed_parse(st, &rp->state) < 0)
		return err_msg(err, EINVAL, "%s.state: '%.40s' is not a task state", path, st);
	if (rp->exit_code < -1000 || rp->exit_code > 1000)
		return err_msg(err, EINVAL, "%s.exit_code: out of range", path);
	if (rp->message && (strlen(rp->message) > 512 || strpbrk(rp->message, "\n\r")))
		return err_msg(err, EINVAL, "%s.message: expected one line of at most 512 bytes",
			       path);
	return 0;
}

static bool str_same(const char *a, const char *b)
{
	return a == b || (a && b && streq(a, b));
}

static void str_set(char **dst, const char *v)
{
	if (v && !str_same(*dst, v)) {
		free(*dst);
		*dst = xstrdup(v);
	}
}

/* Returns false for a stale report: an old generation or a node that no longer owns
 * the task (fencing). */
static bool report_do(struct ctx *c, const struct report *rp)
{
	struct model_task *t = model_task(c->m, rp->task);

	if (!t || t->generation != rp->generation || !t->node || !streq(t->node, rp->node))
		return false;
	if (t->observed != rp->state ||
	    !str_same(t->container_id, rp->container ? rp->container : t->container_id) ||
	    !str_same(t->ip, rp->ip ? rp->ip : t->ip) ||
	    !str_same(t->message, rp->message ? rp->message : t->message) ||
	    (rp->has_exit && rp->exit_code != t->exit_code)) {
		t->observed = rp->state;
		str_set(&t->container_id, rp->container);
		str_set(&t->ip, rp->ip);
		str_set(&t->message, rp->message);
		if (rp->has_exit)
			t->exit_code = (int)rp->exit_code;
		t->version = c->index;
		event(c, "task", "status", model_task_json(t));
	}
	task_gc(c, t);
	return true;
}

static int op_task_status(struct ctx *c, json_t *cmd, struct err *err)
{
	json_t *list = NULL;
	size_t n, stale = 0;
	char path[48];
	int r = js_get(cmd, "", "reports", JSON_ARRAY, true, &list, err);

	if (r < 0)
		return r;
	n = json_array_size(list);
	if (n == 0 || n > FSM_MAX_BATCH)
		return err_msg(err, EINVAL, "reports: expected 1 to %d entries, not %zu",
			       FSM_MAX_BATCH, n);
	_cleanup_free_ struct report *rs = xcalloc(n, sizeof(*rs));
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "reports[%zu]", i);
		r = report_parse(json_array_get(list, i), path, &rs[i], err);
		if (r < 0)
			return r;
	}
	if (!c->apply)
		return 0;
	for (size_t i = 0; i < n; i++)
		stale += !report_do(c, &rs[i]);
	say(c, "%zu reports, %zu stale", n, stale);
	return 0;
}

/* The leader's garbage collection (state/gc.h). Each task goes only if it is still at
 * the generation the leader saw and still stopped and unwanted; anything else (gone
 * already, placed again, its workload back) is skipped: a repeat removes nothing. */
static int op_task_remove(struct ctx *c, json_t *cmd, struct err *err)
{
	json_t *list = NULL, *it;
	struct hmap seen = HMAP_INIT;
	size_t n, removed = 0;
	char path[48];
	int r = js_get(cmd, "", "tasks", JSON_ARRAY, true, &list, err);

	if (r < 0)
		return r;
	n = json_array_size(list);
	if (n == 0 || n > FSM_MAX_BATCH)
		return err_msg(err, EINVAL, "tasks: expected 1 to %d entries, not %zu",
			       FSM_MAX_BATCH, n);
	_cleanup_free_ const char **ids = xcalloc(n, sizeof(*ids));
	_cleanup_free_ uint64_t *gens = xcalloc(n, sizeof(*gens));
	for (size_t i = 0; i < n && r >= 0; i++) {
		snprintf(path, sizeof(path), "tasks[%zu]", i);
		it = json_array_get(list, i);
		if (!json_is_object(it))
			r = err_msg(err, EINVAL, "%s: expected an object", path);
		else if ((r = name_field(it, path, "task", NAME_ID, true, &ids[i], err)) >= 0 &&
			 (r = u64_req(it, path, "generation", UINT64_MAX >> 1, &gens[i], err)) >= 0 &&
			 hmap_put(&seen, ids[i], &gens[i]))
			r = err_msg(err, EINVAL, "%s: task '%s' appears twice", path, ids[i]);
	}
	hmap_free(&seen);
	if (r < 0 || !c->apply)
		return r < 0 ? r : 0;
	for (size_t i = 0; i < n; i++) {
		struct model_task *t = model_task(c->m, ids[i]);
		if (!t || t->generation != gens[i] || !gc_task_unwanted(c->m, t))
			continue;
		event(c, "task", "delete",
		      json_pack("{s:s,s:s,s:s?}", "id", t->id, "workload", t->workload, "node",
				t->node));
		model_task_remove(c->m, t);
		removed++;
	}
	say(c, "%zu tasks removed, %zu skipped", removed, n - removed);
	return 0;
}

/* ---- VPCs and subnet leases ---- */

static uint32_t prefix_mask(int p)
{
	return p ? ~0u << (32 - p) : 0;
}

static bool vni_used(const struct model *m, uint64_t vni)
{
	struct model_vpc *v;
	size_t i = 0;

	while (hmap_next(&m->vpcs, &i, NULL, (void **)&v))
		if (v->vni == vni)
			return true;
	return false;
}

static int op_vpc_create(struct ctx *c, json_t *cmd, struct err *err)
{
	const char *name = NULL, *cidr = NULL;
	uint64_t vni = 0, node_prefix;
	uint32_t net;
	int prefix, r;
	struct model_vpc *o;
	size_t i = 0;

	if ((r = name_field(cmd, "", "name", NAME_DNS, true, &name, err)) < 0 ||
	    (r = str_field(cmd, "", "cidr", true, &cidr, err)) < 0 ||
	    (r = js_u64(cmd, "", "vni", 0xffffff, &vni, err)) < 0)
		return r;
	if (model_vpc(c->m, name))
		return err_msg(err, EEXIST, "vpc '%s' already exists", name);
	if (c->m->vpcs.len >= MODEL_MAX_VPCS)
		return err_msg(err, ENOSPC, "the cluster already has %d vpcs, the limit",
			       MODEL_MAX_VPCS);
	if (model_cidr_parse(cidr, &net, &prefix) < 0 || prefix < 8 || prefix > 30)
		return err_msg(
		    err, EINVAL,
		    "cidr: '%.40s' is not an IPv4 network a.b.c.d/8..30 without host bits", cidr);
	node_prefix =
	    prefix + 8 < 28 ? (uint64_t)prefix + 8 : (prefix > 28 ? (uint64_t)prefix : 28);
	if ((r = js_u64(cmd, "", "node_prefix", 30, &node_prefix, err)) < 0)
		return r;
	if ((int)node_prefix < prefix)
		return err_msg(err, EINVAL, "node_prefix: /%d is wider than the vpc's /%d",
			       (int)node_prefix, prefix);
	while (hmap_next(&c->m->vpcs, &i, NULL, (void **)&o)) {
		uint32_t mask = prefix_mask(o->prefix < prefix ? o->prefix : prefix);
		if ((o->net & mask) == (net & mask))
			return err_msg(err, EEXIST, "cidr: %s overlaps vpc '%s' (%s)", cidr,
				       o->name, o->cidr);
	}
	if (vni == 0 && r >= 0)
		for (vni = 4096; vni_used(c->m, vni); vni++)
			;
	else if (vni_used(c->m, vni))
		return err_msg(err, EEXIST, "vni: %" PRIu64 " is taken", vni);
	if (!c->apply)
		return 0;

	struct model_vpc *v = model_vpc_add(c->m, name);
	free(v->cidr);
	v->cidr = xstrdup(cidr);
	v->net = net;
	v->prefix = prefix;
	v->node_prefix = (int)node_prefix;
	v->vni = (uint32_t)vni;
	v->version = v->created = c->index;
	event(c, "vpc", "create", model_vpc_json(v));
	say(c, "vpc '%s' %s vni %u", name, cidr, v->vni);
	return 0;
}

static int op_vpc_delete(struct ctx *c, json_t *cmd, struct err *err)
{
	const char *name = NULL;
	struct model_workload *w;
	struct model_vpc *v;
	size_t i = 0;
	int r;

	if ((r = name_field(cmd, "", "name", NAME_DNS, true, &name, err)) < 0)
		return r;
	v = model_vpc(c->m, name);
	if (!v)
		return err_msg(err, ENOENT, "vpc '%s' does not exist", name);
	while (hmap_next(&c->m->workloads, &i, NULL, (void **)&w)) {
		const char *wv = json_string_value(json_object_get(w->spec, "vpc"));
		if (wv && streq(wv, name))
			return err_msg(err, EBUSY, "vpc '%s' is used by workload '%s'", name,
				       w->name);
	}
	if (!c->apply)
		return 0;
	event(c, "vpc", "delete", json_pack("{s:s}", "name", name));
	model_vpc_remove(c->m, v);
	say(c, "vpc '%s' deleted", name);
	return 0;
}

static uint64_t vpc_subnets(const struct model_vpc *v)
{
	return UINT64_C(1) << (v->node_prefix - v->prefix);
}

static int op_lease_subnet(struct ctx *c, json_t *cmd, struct err *err)
{
	const char *vname = NULL, *node = NULL;
	bool release = false;
	struct model_vpc *v;
	struct model_lease *l;
	int r;

	if ((r = name_field(cmd, "", "vpc", NAME_DNS, true, &vname, err)) < 0 ||
	    (r = name_field(cmd, "", "node", NAME_NODE, true, &node, err)) < 0 ||
	    (r = js_bool(cmd, "", "release", &release, err)) < 0)
		return r;
	v = model_vpc(c->m, vname);
	if (!v)
		return err_msg(err, ENOENT, "vpc '%s' does not exist", vname);
	l = hmap_get(&v->leases, node);
	if (release && !l)
		return err_msg(err, ENOENT, "node '%s' holds no subnet in vpc '%s'", node, vname);
	if (!release && !model_node(c->m, node))
		return err_msg(err, ENOENT, "node '%s' does not exist", node);
	if (!release && !l && v->leases.len >= vpc_subnets(v))
		return err_msg(err, ENOSPC, "vpc '%s' (%s) has no free /%d subnet left", vname,
			       v->cidr, v->node_prefix);
	if (!c->apply)
		return 0;

	if (release) {
		event(c, "lease", "delete", model_lease_json(v, l));
		say(c, "node '%s' released %s in vpc '%s'", node, l->subnet, vname);
		model_lease_remove(v, l);
	} else if (l) {
		say(c, "%s", l->subnet); /* already held: the same answer again */
		return 0;
	} else {
		/* the first free subnet: deterministic, so every replica picks the same */
		char sub[20];
		uint32_t size = 1u << (32 - v->node_prefix);
		for (uint64_t k = 0;; k++) {
			model_cidr_format(v->net + (uint32_t)k * size, v->node_prefix, sub);
			if (!hmap_get(&v->by_subnet, sub))
				break;
		}
		l = model_lease_add(v, node, sub);
		l->version = c->index;
		event(c, "lease", "put", model_lease_json(v, l));
		say(c, "%s", sub);
	}
	v->version = c->index;
	return 0;
}

/* ---- tokens ---- */

static int hex_field(json_t *cmd, const char *key, size_t min, size_t max, const char **ret,
		     struct err *err)
{
	int r = str_field(cmd, "", key, true, ret, err);
	size_t n;

	if (r < 0)
		return r;
	n = strlen(*ret);
	if (n < min || n > max || strspn(*ret, "0123456789abcdef") != n)
		return err_msg(err, EINVAL, "%s: expected %zu to %zu lower-case hex digits", key,
			       min, max);
	return 0;
}

static int op_token_put(struct ctx *c, json_t *cmd, struct err *err)
{
	const char *id = NULL, *role_s = NULL, *salt = NULL, *hash = NULL;
	uint64_t expires = 0;
	enum model_role role;
	int r;

	if ((r = name_field(cmd, "", "name", NAME_ID, true, &id, err)) < 0 ||
	    (r = str_field(cmd, "", "role", true, &role_s, err)) < 0 ||
	    (r = hex_field(cmd, "salt", 16, 128, &salt, err)) < 0 ||
	    (r = hex_field(cmd, "hash", 32, 128, &hash, err)) < 0 ||
	    (r = js_u64(cmd, "", "expires_ms", UINT64_MAX >> 1, &expires, err)) < 0)
		return r;
	if (model_role_parse(role_s, &role) < 0)
		return err_msg(err, EINVAL, "role: '%.40s' is not server or agent", role_s);
	struct model_token *t = model_token(c->m, id);
	if (!t && c->m->tokens.len >= MODEL_MAX_TOKENS)
		return err_msg(err, ENOSPC, "the cluster already has %d tokens, the limit",
			       MODEL_MAX_TOKENS);
	if (!c->apply)
		return 0;
	if (!t) {
		t = model_token_add(c->m, id);
		t->created = c->index;
	}
	t->role = role;
	free(t->salt);
	free(t->hash);
	t->salt = xstrdup(salt);
	t->hash = xstrdup(hash);
	t->expires_ms = expires;
	t->version = c->index;
	event(c, "token", "put", model_token_json(t, false));
	say(c, "token '%s' for %ss", id, role_s);
	return 0;
}

static int op_token_delete(struct ctx *c, json_t *cmd, struct err *err)
{
	const char *id = NULL;
	struct model_token *t;
	int r;

	if ((r = name_field(cmd, "", "name", NAME_ID, true, &id, err)) < 0)
		return r;
	t = model_token(c->m, id);
	if (!t)
		return err_msg(err, ENOENT, "token '%s' does not exist", id);
	if (!c->apply)
		return 0;
	event(c, "token", "delete", json_pack("{s:s}", "id", id));
	model_token_remove(c->m, t);
	say(c, "token '%s' deleted", id);
	return 0;
}

static int op_barrier(struct ctx *c, json_t *cmd, struct err *err)
{
	if (c->apply)
		say(c, "barrier");
	return 0;
}

/* ---- dispatch ---- */

static const struct op {
	const char *name;
	int (*fn)(struct ctx *c, json_t *cmd, struct err *err);
} ops[] = {
    {"workload.put", op_workload_put},	 {"workload.delete", op_workload_delete},
    {"node.register", op_node_register}, {"node.state", op_node_state},
    {"node.label", op_node_label},	 {"node.delete", op_node_delete},
    {"task.place", op_task_place},	 {"task.status", op_task_status},
    {"task.remove", op_task_remove},
    {"vpc.create", op_vpc_create},	 {"vpc.delete", op_vpc_delete},
    {"lease.subnet", op_lease_subnet},	 {"token.put", op_token_put},
    {"token.delete", op_token_delete},	 {"barrier", op_barrier},
    {"cert.add", op_cert_add},
};

/* The envelope: op, id, ts. */
static int envelope(json_t *cmd, const struct op **ret_op, const char **ret_id, uint64_t *ret_ts,
		    struct err *err)
{
	const char *op = NULL;
	int r;

	if (!json_is_object(cmd))
		return err_msg(err, EINVAL, "command: expected a JSON object");
	if ((r = str_field(cmd, "", "op", true, &op, err)) < 0 ||
	    (r = name_field(cmd, "", "id", NAME_ID, false, ret_id, err)) < 0 ||
	    (r = js_u64(cmd, "", "ts", UINT64_MAX >> 1, ret_ts, err)) < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		if (streq(ops[i].name, op)) {
			*ret_op = &ops[i];
			return 0;
		}
	}
	return err_msg(err, EINVAL, "op: unknown operation '%.40s'", op);
}

int fsm_validate(struct model *m, json_t *cmd, struct err *err)
{
	struct ctx c = {.m = m, .apply = false};
	const struct op *op = NULL;
	const char *id = NULL;
	int r = envelope(cmd, &op, &id, &c.ts, err);

	if (r < 0) {
		model_text_clean(err->msg);
		return r;
	}
	if (id && model_recent_get(m, id))
		return 0; /* applied before: proposing it again yields that outcome */
	r = op->fn(&c, cmd, err);
	if (r < 0) {
		err_wrap(err, "%s", op->name);
		model_text_clean(err->msg); /* it may quote what the command held */
		return r;
	}
	return 0;
}

static void rejected(struct ctx *c, const char *op, const char *id, struct err *err,
		     struct fsm_result *res)
{
	res->code = -(err->code ? err->code : EINVAL);
	model_text_clean(err->msg);
	/* the message is for people: a long one is cut */
	snprintf(res->msg, sizeof(res->msg), "%.*s", (int)sizeof(res->msg) - 1, err->msg);
	model_text_clean(res->msg);
	event(c, "command", "rejected",
	      json_pack("{s:s?,s:s?,s:s}", "op", op, "id", id, "error", err->msg));
}

void fsm_apply(struct model *m, json_t *cmd, uint64_t index, struct fsm_result *res)
{
	struct ctx c = {.m = m, .apply = true, .index = index};
	const struct op *op = NULL;
	const struct model_recent *prev;
	const char *id = NULL;
	struct err err = {0};

	*res = (struct fsm_result){.index = index};
	if (index > m->index)
		m->index = index;
	if (envelope(cmd, &op, &id, &c.ts, &err) < 0) {
		const char *name = json_string_value(json_object_get(cmd, "op"));
		rejected(&c, name, NULL, &err, res);
		return;
	}
	prev = id ? model_recent_get(m, id) : NULL;
	if (prev) {
		res->index = prev->index;
		res->code = prev->code;
		res->duplicate = true;
		snprintf(res->msg, sizeof(res->msg), "%s", prev->msg);
		return;
	}
	if (op->fn(&c, cmd, &err) < 0) {
		err_wrap(&err, "%s", op->name);
		rejected(&c, op->name, id, &err, res);
	} else {
		snprintf(res->msg, sizeof(res->msg), "%s", c.msg);
		model_text_clean(res->msg);
	}
	if (id)
		model_recent_put(m, id, index, res->code, res->msg);
}

int fsm_decode(const void *buf, size_t len, json_t **ret, struct err *err)
{
	json_error_t je;
	json_t *j;

	if (len > FSM_MAX_COMMAND)
		return err_msg(err, E2BIG, "command: %zu bytes, more than %u", len,
			       FSM_MAX_COMMAND);
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return err_msg(err, EINVAL, "command: not JSON: %s at byte %d", je.text,
			       je.position);
	if (!json_is_object(j)) {
		json_decref(j);
		return err_msg(err, EINVAL, "command: expected a JSON object");
	}
	*ret = j;
	return 0;
}

void fsm_apply_buf(struct model *m, const void *buf, size_t len, uint64_t index,
		   struct fsm_result *res)
{
	struct ctx c = {.m = m, .apply = true, .index = index};
	struct err err = {0};
	json_t *cmd = NULL;

	if (fsm_decode(buf, len, &cmd, &err) < 0) {
		*res = (struct fsm_result){.index = index};
		if (index > m->index)
			m->index = index;
		err_wrap(&err, "malformed log entry %" PRIu64, index);
		rejected(&c, NULL, NULL, &err, res);
		return;
	}
	fsm_apply(m, cmd, index, res);
	json_decref(cmd);
}
