/* snapshot: writing sorts each map; loading rebuilds through the model's constructors
 * (so derived counters come out right) and checks the invariants before handing over. */
#include "state/snapshot.h"

#include <inttypes.h>

#include "base/js.h"
#include "base/util.h"

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The map's keys, sorted; caller frees the array (not the keys). */
static const char **sorted_keys(const struct hmap *map)
{
	const char **keys = xcalloc(map->len + 1, sizeof(*keys));
	size_t i = 0, n = 0;

	while (hmap_next(map, &i, &keys[n], NULL))
		n++;
	qsort(keys, n, sizeof(*keys), cmp_key);
	return keys;
}

static json_t *vpc_full(const struct model_vpc *v)
{
	json_t *j = model_vpc_json(v), *ls = json_array();
	_cleanup_free_ const char **keys = sorted_keys(&v->leases);

	for (size_t i = 0; keys[i]; i++) {
		const struct model_lease *l = hmap_get(&v->leases, keys[i]);
		json_array_append_new(ls, json_pack("{s:s,s:s,s:I}", "node", l->node, "subnet",
						    l->subnet, "version", (json_int_t)l->version));
	}
	json_object_set_new(j, "leases", ls);
	return j;
}

static json_t *token_full(const struct model_token *t)
{
	return model_token_json(t, true);
}

#define DUMP(doc, key, map, type, fn)                                                              \
	do {                                                                                       \
		json_t *a_ = json_array();                                                         \
		_cleanup_free_ const char **k_ = sorted_keys(map);                                 \
		for (size_t i_ = 0; k_[i_]; i_++)                                                  \
			json_array_append_new(a_, fn((const type *)hmap_get(map, k_[i_])));        \
		json_object_set_new(doc, key, a_);                                                 \
	} while (0)

json_t *snapshot_json(const struct model *m)
{
	json_t *doc =
	    json_pack("{s:s,s:i,s:I,s:I}", "format", SNAPSHOT_FORMAT, "version", SNAPSHOT_VERSION,
		      "index", (json_int_t)m->index, "event_seq", (json_int_t)m->event_seq);
	json_t *recent = json_array(), *events = json_array();

	DUMP(doc, "nodes", &m->nodes, struct model_node, model_node_json);
	DUMP(doc, "workloads", &m->workloads, struct model_workload, model_workload_json);
	DUMP(doc, "tasks", &m->tasks, struct model_task, model_task_json);
	DUMP(doc, "vpcs", &m->vpcs, struct model_vpc, vpc_full);
	DUMP(doc, "tokens", &m->tokens, struct model_token, token_full);
	DUMP(doc, "certs", &m->certs, struct model_cert, model_cert_json);
	DUMP(doc, "revoked", &m->revoked, struct model_cert, model_cert_json);
	for (size_t k = 0; k < m->n_recent; k++) {
		const struct model_recent *r = m->recent_ring[(m->recent_head + k) % MODEL_RECENT];
		json_array_append_new(recent, json_pack("{s:s,s:I,s:i,s:s}", "id", r->id, "index",
							(json_int_t)r->index, "code", r->code,
							"msg", r->msg));
	}
	for (uint64_t s = model_event_first(m); s && s <= m->event_seq; s++)
		json_array_append_new(events, model_event_json(model_event_get(m, s)));
	json_object_set_new(doc, "recent", recent);
	json_object_set_new(doc, "events", events);
	return doc;
}

/* ---- loading ---- */

static int u64f(json_t *o, const char *path, const char *key, uint64_t *ret, struct err *err)
{
	return js_u64(o, path, key, UINT64_MAX >> 1, ret, err);
}

static int strf(json_t *o, const char *path, const char *key, const char **ret, struct err *err)
{
	json_t *v;
	int r = js_get(o, path, key, JSON_STRING, true, &v, err);

	if (r > 0)
		*ret = json_string_value(v);
	return r;
}

static int optstr(json_t *o, const char *path, const char *key, char **ret, struct err *err)
{
	json_t *v = NULL;
	int r = js_get(o, path, key, JSON_STRING, false, &v, err);

	if (r > 0) {
		free(*ret);
		*ret = xstrdup(json_string_value(v));
	}
	return r;
}

static int resf(json_t *o, const char *path, const char *key, struct model_res *ret,
		struct err *err)
{
	_cleanup_free_ char *p = js_path(path, key);
	json_t *v;
	uint64_t cpu = 0, mem = 0;
	int r = js_get(o, path, key, JSON_OBJECT, true, &v, err);

	if (r < 0 || (r = js_u64(v, p, "cpu_milli", INT64_C(1) << 40, &cpu, err)) < 0 ||
	    (r = js_u64(v, p, "memory", INT64_C(1) << 56, &mem, err)) < 0)
		return r;
	ret->cpu_milli = (int64_t)cpu;
	ret->memory = (int64_t)mem;
	return 0;
}

static int enumf(json_t *o, const char *path, const char *key, int (*parse)(const char *, void *),
		 void *ret, struct err *err)
{
	const char *s = NULL;
	int r = strf(o, path, key, &s, err);

	if (r < 0)
		return r;
	if (parse(s, ret) < 0) {
		_cleanup_free_ char *p = js_path(path, key);
		return err_msg(err, EINVAL, "%s: unknown value '%.40s'", p, s);
	}
	return 0;
}
/* typed adapters, so no function is called through a pointer of another type */
#define ADAPT(fn, type)                                                                            \
	static int fn##_v(const char *s, void *ret)                                                \
	{                                                                                          \
		return fn(s, (type *)ret);                                                         \
	}
ADAPT(model_role_parse, enum model_role)
ADAPT(model_node_state_parse, enum model_node_state)
ADAPT(model_desired_parse, enum model_desired)
ADAPT(model_observed_parse, enum model_observed)
#undef ADAPT
#define ENUMF(o, p, k, fn, ret, err) enumf(o, p, k, fn##_v, ret, err)

static int twice(const char *path, const char *what, const char *name, struct err *err)
{
	return err_msg(err, EINVAL, "%s: %s '%.80s' appears twice", path, what, name);
}

static int load_node(struct model *m, json_t *o, const char *path, struct err *err)
{
	const char *name = NULL;
	json_t *labels = NULL;
	int r = strf(o, path, "name", &name, err);

	if (r < 0)
		return r;
	if (model_node(m, name))
		return twice(path, "node", name, err);
	struct model_node *n = model_node_add(m, name);
	if ((r = optstr(o, path, "address", &n->address, err)) < 0 ||
	    (r = ENUMF(o, path, "role", model_role_parse, &n->role, err)) < 0 ||
	    (r = ENUMF(o, path, "state", model_node_state_parse, &n->state, err)) < 0 ||
	    (r = js_get(o, path, "labels", JSON_OBJECT, true, &labels, err)) < 0 ||
	    (r = resf(o, path, "capacity", &n->capacity, err)) < 0 ||
	    (r = u64f(o, path, "heartbeat_gen", &n->heartbeat_gen, err)) < 0 ||
	    (r = u64f(o, path, "version", &n->version, err)) < 0 ||
	    (r = u64f(o, path, "created", &n->created, err)) < 0)
		return r;
	json_decref(n->labels);
	n->labels = json_deep_copy(labels);
	return 0;
}

static int load_workload(struct model *m, json_t *o, const char *path, struct err *err)
{
	const char *name = NULL;
	json_t *spec = NULL;
	uint64_t replicas = 0;
	int r = strf(o, path, "name", &name, err);

	if (r < 0)
		return r;
	if (model_workload(m, name))
		return twice(path, "workload", name, err);
	struct model_workload *w = model_workload_add(m, name);
	if ((r = js_get(o, path, "spec", JSON_OBJECT, true, &spec, err)) < 0 ||
	    (r = u64f(o, path, "generation", &w->generation, err)) < 0 ||
	    (r = js_u64(o, path, "replicas", MODEL_MAX_REPLICAS, &replicas, err)) < 0 ||
	    (r = resf(o, path, "request", &w->request, err)) < 0 ||
	    (r = u64f(o, path, "version", &w->version, err)) < 0 ||
	    (r = u64f(o, path, "created", &w->created, err)) < 0)
		return r;
	json_decref(w->spec);
	w->spec = json_deep_copy(spec);
	w->replicas = (int)replicas;
	return 0;
}

static int load_task(struct model *m, json_t *o, const char *path, struct err *err)
{
	const char *id = NULL, *wl = NULL, *node = NULL;
	uint64_t replica = 0;
	int64_t code = 0;
	enum model_desired desired;
	struct model_res req;
	int r;

	if ((r = strf(o, path, "id", &id, err)) < 0 ||
	    (r = strf(o, path, "workload", &wl, err)) < 0 ||
	    (r = js_u64(o, path, "replica", MODEL_MAX_REPLICAS - 1, &replica, err)) < 0 ||
	    (r = strf(o, path, "node", &node, err)) < 0 ||
	    (r = ENUMF(o, path, "desired", model_desired_parse, &desired, err)) < 0 ||
	    (r = resf(o, path, "request", &req, err)) < 0)
		return r;
	if (model_task(m, id))
		return twice(path, "task", id, err);
	if (strlen(wl) > MODEL_NAME_MAX)
		return err_msg(err, EINVAL, "%s.workload: too long", path);
	struct model_task *t = model_task_add(m, wl, (int)replica);
	if (!streq(t->id, id))
		return err_msg(err, EINVAL, "%s.id: '%.80s' is not %s", path, id, t->id);
	model_task_assign(m, t, node, desired, &req);
	if ((r = ENUMF(o, path, "observed", model_observed_parse, &t->observed, err)) < 0 ||
	    (r = u64f(o, path, "generation", &t->generation, err)) < 0 ||
	    (r = u64f(o, path, "spec_gen", &t->spec_gen, err)) < 0 ||
	    (r = optstr(o, path, "container", &t->container_id, err)) < 0 ||
	    (r = optstr(o, path, "ip", &t->ip, err)) < 0 ||
	    (r = optstr(o, path, "message", &t->message, err)) < 0 ||
	    (r = js_i64(o, path, "exit_code", &code, err)) < 0 ||
	    (r = u64f(o, path, "version", &t->version, err)) < 0 ||
	    (r = u64f(o, path, "created", &t->created, err)) < 0)
		return r;
	t->exit_code = (int)code;
	return 0;
}

static int load_vpc(struct model *m, json_t *o, const char *path, struct err *err)
{
	const char *name = NULL, *cidr = NULL;
	uint64_t np = 0, vni = 0;
	json_t *leases = NULL, *l;
	size_t i;
	int r = strf(o, path, "name", &name, err);

	if (r < 0)
		return r;
	if (model_vpc(m, name))
		return twice(path, "vpc", name, err);
	struct model_vpc *v = model_vpc_add(m, name);
	if ((r = strf(o, path, "cidr", &cidr, err)) < 0 ||
	    (r = js_u64(o, path, "node_prefix", 32, &np, err)) < 0 ||
	    (r = js_u64(o, path, "vni", 0xffffff, &vni, err)) < 0 ||
	    (r = js_get(o, path, "leases", JSON_ARRAY, true, &leases, err)) < 0 ||
	    (r = u64f(o, path, "version", &v->version, err)) < 0 ||
	    (r = u64f(o, path, "created", &v->created, err)) < 0)
		return r;
	if (model_cidr_parse(cidr, &v->net, &v->prefix) < 0)
		return err_msg(err, EINVAL, "%s.cidr: '%.40s' is not a network", path, cidr);
	free(v->cidr);
	v->cidr = xstrdup(cidr);
	v->node_prefix = (int)np;
	v->vni = (uint32_t)vni;
	json_array_foreach(leases, i, l)
	{
		_cleanup_free_ char *lp = xasprintf("%s.leases[%zu]", path, i);
		const char *node = NULL, *sub = NULL;
		uint64_t ver = 0;
		if ((r = strf(l, lp, "node", &node, err)) < 0 ||
		    (r = strf(l, lp, "subnet", &sub, err)) < 0 ||
		    (r = u64f(l, lp, "version", &ver, err)) < 0)
			return r;
		if (hmap_get(&v->leases, node) || hmap_get(&v->by_subnet, sub))
			return twice(lp, "lease", node, err);
		model_lease_add(v, node, sub)->version = ver;
	}
	return 0;
}

static int load_token(struct model *m, json_t *o, const char *path, struct err *err)
{
	const char *id = NULL;
	int r = strf(o, path, "id", &id, err);

	if (r < 0)
		return r;
	if (model_token(m, id))
		return twice(path, "token", id, err);
	struct model_token *t = model_token_add(m, id);
	if ((r = ENUMF(o, path, "role", model_role_parse, &t->role, err)) < 0 ||
	    (r = optstr(o, path, "salt", &t->salt, err)) < 0 ||
	    (r = optstr(o, path, "hash", &t->hash, err)) < 0 ||
	    (r = u64f(o, path, "expires_ms", &t->expires_ms, err)) < 0 ||
	    (r = u64f(o, path, "version", &t->version, err)) < 0 ||
	    (r = u64f(o, path, "created", &t->created, err)) < 0)
		return r;
	return 0;
}

static int load_cert(struct hmap *map, struct model *m, json_t *o, const char *path,
		     struct err *err)
{
	const char *serial = NULL, *node = NULL;
	uint64_t expires = 0, version = 0;
	int r;

	if ((r = strf(o, path, "serial", &serial, err)) < 0 ||
	    (r = strf(o, path, "node", &node, err)) < 0 ||
	    (r = u64f(o, path, "expires_ms", &expires, err)) < 0 ||
	    (r = u64f(o, path, "version", &version, err)) < 0)
		return r;
	if (!*serial || strlen(serial) > 40 || strspn(serial, "0123456789abcdef") != strlen(serial))
		return err_msg(err, EINVAL, "%s.serial: expected 1 to 40 lower-case hex digits", path);
	if (hmap_get(&m->certs, serial) || hmap_get(&m->revoked, serial))
		return twice(path, "certificate", serial, err);
	if (m->certs.len + m->revoked.len >= MODEL_MAX_CERTS)
		return err_msg(err, E2BIG, "%s: more than %d certificates", path, MODEL_MAX_CERTS);
	model_cert_add(map, serial, node, expires)->version = version;
	return 0;
}

static int load_issued(struct model *m, json_t *o, const char *path, struct err *err)
{
	return load_cert(&m->certs, m, o, path, err);
}

static int load_revoked(struct model *m, json_t *o, const char *path, struct err *err)
{
	return load_cert(&m->revoked, m, o, path, err);
}

static int load_recent(struct model *m, json_t *o, const char *path, struct err *err)
{
	const char *id = NULL, *msg = NULL;
	uint64_t index = 0;
	int64_t code = 0;
	int r;

	if ((r = strf(o, path, "id", &id, err)) < 0 || (r = strf(o, path, "msg", &msg, err)) < 0 ||
	    (r = u64f(o, path, "index", &index, err)) < 0 ||
	    (r = js_i64(o, path, "code", &code, err)) < 0)
		return r;
	if (code > 0 || code < -4095)
		return err_msg(err, EINVAL, "%s.code: out of range", path);
	if (model_recent_get(m, id))
		return twice(path, "request id", id, err);
	if (m->n_recent >= MODEL_RECENT)
		return err_msg(err, E2BIG, "%s: more than %d request ids", path, MODEL_RECENT);
	model_recent_put(m, id, index, (int)code, msg);
	return 0;
}

static int load_event(struct model *m, json_t *o, const char *path, struct err *err)
{
	const char *type = NULL, *action = NULL;
	uint64_t seq = 0, index = 0, ts = 0;
	json_t *obj = NULL;
	int r;

	if ((r = u64f(o, path, "seq", &seq, err)) < 0 ||
	    (r = u64f(o, path, "index", &index, err)) < 0 ||
	    (r = u64f(o, path, "ts", &ts, err)) < 0 ||
	    (r = strf(o, path, "type", &type, err)) < 0 ||
	    (r = strf(o, path, "action", &action, err)) < 0 ||
	    (r = js_get(o, path, "object", JSON_OBJECT, true, &obj, err)) < 0)
		return r;
	if (seq != m->event_seq + 1 || m->n_events >= MODEL_EVENTS)
		return err_msg(err, EINVAL, "%s.seq: %" PRIu64 " is out of order or over the ring",
			       path, seq);
	model_event_add(m, index, ts, type, action, json_deep_copy(obj));
	return 0;
}

typedef int (*load_fn)(struct model *m, json_t *o, const char *path, struct err *err);

static int load_list_opt(struct model *m, json_t *doc, const char *key, load_fn fn,
			 bool required, struct err *err);

static int load_list(struct model *m, json_t *doc, const char *key, load_fn fn, struct err *err)
{
	return load_list_opt(m, doc, key, fn, true, err);
}

static int load_list_opt(struct model *m, json_t *doc, const char *key, load_fn fn,
			 bool required, struct err *err)
{
	json_t *a = NULL, *o;
	size_t i;
	int r = js_get(doc, "snapshot", key, JSON_ARRAY, required, &a, err);

	if (r <= 0)
		return r;
	json_array_foreach(a, i, o)
	{
		_cleanup_free_ char *p = xasprintf("snapshot.%s[%zu]", key, i);
		if (!json_is_object(o))
			return err_msg(err, EINVAL, "%s: expected an object", p);
		r = fn(m, o, p, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int snapshot_load(json_t *doc, struct model **ret, struct err *err)
{
	_cleanup_model_ struct model *m = model_new();
	const char *format = NULL;
	uint64_t version = 0, seq = 0;
	json_t *events = NULL;
	int r;

	if (!json_is_object(doc))
		return err_msg(err, EINVAL, "snapshot: expected a JSON object");
	if ((r = strf(doc, "snapshot", "format", &format, err)) < 0)
		return r;
	if (!streq(format, SNAPSHOT_FORMAT))
		return err_msg(err, EINVAL, "snapshot: format '%.40s' is not '%s'", format,
			       SNAPSHOT_FORMAT);
	if ((r = js_u64(doc, "snapshot", "version", 1000, &version, err)) < 0)
		return r;
	if (version != SNAPSHOT_VERSION)
		return err_msg(err, ENOTSUP,
			       "snapshot: format version %" PRIu64
			       " is not supported (this coop reads %d)",
			       version, SNAPSHOT_VERSION);
	if ((r = u64f(doc, "snapshot", "index", &m->index, err)) < 0 ||
	    (r = u64f(doc, "snapshot", "event_seq", &seq, err)) < 0 ||
	    (r = js_get(doc, "snapshot", "events", JSON_ARRAY, true, &events, err)) < 0)
		return r;
	/* nodes and workloads first: tasks count against them as they load */
	if ((r = load_list(m, doc, "nodes", load_node, err)) < 0 ||
	    (r = load_list(m, doc, "workloads", load_workload, err)) < 0 ||
	    (r = load_list(m, doc, "tasks", load_task, err)) < 0 ||
	    (r = load_list(m, doc, "vpcs", load_vpc, err)) < 0 ||
	    (r = load_list(m, doc, "tokens", load_token, err)) < 0 ||
	    /* optional: snapshots written before certificates were recorded lack them */
	    (r = load_list_opt(m, doc, "certs", load_issued, false, err)) < 0 ||
	    (r = load_list_opt(m, doc, "revoked", load_revoked, false, err)) < 0 ||
	    (r = load_list(m, doc, "recent", load_recent, err)) < 0)
		return r;
	if (json_array_size(events) > seq)
		return err_msg(err, EINVAL, "snapshot.events: more events than event_seq");
	m->event_seq = seq - json_array_size(events);
	if ((r = load_list(m, doc, "events", load_event, err)) < 0)
		return r;
	if ((r = model_check(m, err)) < 0)
		return err_wrap(err, "snapshot: inconsistent");
	*ret = take_ptr(m);
	return 0;
}

int snapshot_encode(const struct model *m, char **ret, size_t *ret_len, struct err *err)
{
	json_t *doc = snapshot_json(m);
	char *s = json_dumps(doc, JSON_COMPACT);

	json_decref(doc);
	if (!s)
		return err_msg(err, ENOMEM, "snapshot: cannot encode");
	*ret = s;
	*ret_len = strlen(s);
	return 0;
}

int snapshot_decode_doc(const void *buf, size_t len, struct model **ret, json_t **ret_doc,
			struct err *err)
{
	json_error_t je;
	json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	int r;

	if (!doc)
		return err_msg(err, EINVAL, "snapshot: not JSON: %s at byte %d", je.text,
			       je.position);
	r = snapshot_load(doc, ret, err);
	if (r < 0) {
		json_decref(doc);
		return r;
	}
	*ret_doc = doc;
	return 0;
}

int snapshot_decode(const void *buf, size_t len, struct model **ret, struct err *err)
{
	json_t *doc = NULL;
	int r = snapshot_decode_doc(buf, len, ret, &doc, err);

	json_decref(doc);
	return r;
}
