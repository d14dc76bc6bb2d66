/* model: object lifecycle with derived counters kept exact, the event ring, the
 * request-id table, the objects' JSON views and the invariant check. */
#include "state/model.h"

#include <inttypes.h>

#include "base/util.h"

static const char *const role_names[] = {"server", "agent"};
static const char *const node_state_names[] = {"ready", "down", "draining"};
static const char *const desired_names[] = {"running", "stopped"};
static const char *const observed_names[] = {"assigned", "preparing", "starting", "running",
					     "failed",	 "exited",    "stopped"};

const char *model_role_name(enum model_role r)
{
	return role_names[r];
}
const char *model_node_state_name(enum model_node_state s)
{
	return node_state_names[s];
}
const char *model_desired_name(enum model_desired d)
{
	return desired_names[d];
}
const char *model_observed_name(enum model_observed o)
{
	return observed_names[o];
}

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (streq(names[i], s))
			return (int)i;
	return -EINVAL;
}

#define PARSER(fn, type, names)                                                                    \
	int fn(const char *s, type *ret)                                                           \
	{                                                                                          \
		int i = name_index(names, ARRAY_SIZE(names), s);                                   \
		if (i < 0)                                                                         \
			return i;                                                                  \
		*ret = (type)i;                                                                    \
		return 0;                                                                          \
	}
PARSER(model_role_parse, enum model_role, role_names)
PARSER(model_node_state_parse, enum model_node_state, node_state_names)
PARSER(model_desired_parse, enum model_desired, desired_names)
PARSER(model_observed_parse, enum model_observed, observed_names)
#undef PARSER

bool model_observed_terminal(enum model_observed o)
{
	return o == MODEL_OBS_FAILED || o == MODEL_OBS_EXITED || o == MODEL_OBS_STOPPED;
}

struct model *model_new(void)
{
	struct model *m = xcalloc(1, sizeof(*m));

	m->events = xcalloc(MODEL_EVENTS, sizeof(*m->events));
	m->recent_ring = xcalloc(MODEL_RECENT, sizeof(*m->recent_ring));
	return m;
}

static void node_free(struct model_node *n)
{
	free(n->name);
	free(n->address);
	json_decref(n->labels);
	free(n);
}

static void workload_free(struct model_workload *w)
{
	free(w->name);
	json_decref(w->spec);
	free(w);
}

static void task_free(struct model_task *t)
{
	free(t->id);
	free(t->workload);
	free(t->node);
	free(t->container_id);
	free(t->ip);
	free(t->message);
	free(t);
}

static void lease_free(struct model_lease *l)
{
	free(l->node);
	free(l->subnet);
	free(l);
}

static void vpc_free(struct model_vpc *v)
{
	struct model_lease *l;
	size_t i = 0;

	while (hmap_next(&v->leases, &i, NULL, (void **)&l))
		lease_free(l);
	hmap_free(&v->leases);
	hmap_free(&v->by_subnet);
	free(v->name);
	free(v->cidr);
	free(v);
}

static void token_free(struct model_token *t)
{
	free(t->id);
	free(t->salt);
	free(t->hash);
	free(t);
}

static void cert_free(struct model_cert *c)
{
	free(c->serial);
	free(c->node);
	free(c);
}

/* Tasks per workload name, kept apart from the workloads: a deleted workload's tasks
 * linger until stopped, and a workload of the same name may be created meanwhile. */
struct task_count {
	char *name;
	size_t n;
};

static void count_free(struct task_count *c)
{
	free(c->name);
	free(c);
}

static void arena_free(void *head);

#define FREE_ALL(map, type, fn)                                                                    \
	do {                                                                                       \
		type *o_;                                                                          \
		size_t i_ = 0;                                                                     \
		while (hmap_next(map, &i_, NULL, (void **)&o_))                                    \
			fn(o_);                                                                    \
		hmap_free(map);                                                                    \
	} while (0)

void model_free(struct model *m)
{
	if (!m)
		return;
	FREE_ALL(&m->nodes, struct model_node, node_free);
	FREE_ALL(&m->workloads, struct model_workload, workload_free);
	if (m->arena)
		hmap_free(&m->tasks); /* a copy's tasks live in its arena */
	else
		FREE_ALL(&m->tasks, struct model_task, task_free);
	arena_free(m->arena);
	FREE_ALL(&m->vpcs, struct model_vpc, vpc_free);
	FREE_ALL(&m->tokens, struct model_token, token_free);
	FREE_ALL(&m->certs, struct model_cert, cert_free);
	FREE_ALL(&m->revoked, struct model_cert, cert_free);
	hmap_free(&m->recent);
	FREE_ALL(&m->task_counts, struct task_count, count_free);
	for (size_t i = 0; i < MODEL_RECENT; i++) {
		if (m->recent_ring[i]) {
			free(m->recent_ring[i]->id);
			free(m->recent_ring[i]);
		}
	}
	for (size_t i = 0; i < MODEL_EVENTS; i++)
		json_decref(m->events[i].object);
	free(m->recent_ring);
	free(m->events);
	free(m);
}

struct model_node *model_node_add(struct model *m, const char *name)
{
	struct model_node *n = xcalloc(1, sizeof(*n));

	n->name = xstrdup(name);
	n->address = xstrdup("");
	n->labels = json_object();
	hmap_put(&m->nodes, n->name, n);
	return n;
}

void model_node_remove(struct model *m, struct model_node *n)
{
	hmap_del(&m->nodes, n->name);
	node_free(n);
}

struct model_workload *model_workload_add(struct model *m, const char *name)
{
	struct model_workload *w = xcalloc(1, sizeof(*w));

	w->name = xstrdup(name);
	w->spec = json_object();
	hmap_put(&m->workloads, w->name, w);
	return w;
}

void model_workload_remove(struct model *m, struct model_workload *w)
{
	hmap_del(&m->workloads, w->name);
	workload_free(w);
}

static void res_add(struct model_res *a, const struct model_res *b, int sign)
{
	a->cpu_milli += sign * b->cpu_milli;
	a->memory += sign * b->memory;
}

/* A task's reservation counts on its node while its desired state is running. */
static void task_reserve(struct model *m, struct model_task *t, int sign)
{
	struct model_node *n = t->node ? model_node(m, t->node) : NULL;

	if (!n)
		return;
	n->n_tasks += sign;
	if (t->desired == MODEL_DESIRED_RUNNING)
		res_add(&n->allocated, &t->request, sign);
}

static void count_add(struct model *m, const char *workload, int sign)
{
	struct task_count *c = hmap_get(&m->task_counts, workload);

	if (!c) {
		c = xcalloc(1, sizeof(*c));
		c->name = xstrdup(workload);
		hmap_put(&m->task_counts, c->name, c);
	}
	c->n += sign;
	if (c->n == 0) {
		hmap_del(&m->task_counts, c->name);
		free(c->name);
		free(c);
	}
}

size_t model_workload_tasks(const struct model *m, const char *workload)
{
	struct task_count *c = hmap_get(&m->task_counts, workload);

	return c ? c->n : 0;
}

struct model_task *model_task_add(struct model *m, const char *workload, int replica)
{
	struct model_task *t = xcalloc(1, sizeof(*t));

	t->id = xasprintf("%s.%d", workload, replica);
	t->workload = xstrdup(workload);
	t->replica = replica;
	t->desired = MODEL_DESIRED_STOPPED;
	hmap_put(&m->tasks, t->id, t);
	count_add(m, workload, +1);
	return t;
}

void model_task_remove(struct model *m, struct model_task *t)
{
	task_reserve(m, t, -1);
	count_add(m, t->workload, -1);
	hmap_del(&m->tasks, t->id);
	task_free(t);
}

void model_task_assign(struct model *m, struct model_task *t, const char *node,
		       enum model_desired desired, const struct model_res *request)
{
	task_reserve(m, t, -1);
	if (request)
		t->request = *request;
	if (node != t->node) {
		char *copy = node ? xstrdup(node) : NULL;
		free(t->node);
		t->node = copy;
	}
	t->desired = desired;
	task_reserve(m, t, +1);
}

struct model_vpc *model_vpc_add(struct model *m, const char *name)
{
	struct model_vpc *v = xcalloc(1, sizeof(*v));

	v->name = xstrdup(name);
	v->cidr = xstrdup("");
	hmap_put(&m->vpcs, v->name, v);
	return v;
}

void model_vpc_remove(struct model *m, struct model_vpc *v)
{
	hmap_del(&m->vpcs, v->name);
	vpc_free(v);
}

struct model_lease *model_lease_add(struct model_vpc *v, const char *node, const char *subnet)
{
	struct model_lease *l = xcalloc(1, sizeof(*l));

	l->node = xstrdup(node);
	l->subnet = xstrdup(subnet);
	hmap_put(&v->leases, l->node, l);
	hmap_put(&v->by_subnet, l->subnet, l);
	return l;
}

void model_lease_remove(struct model_vpc *v, struct model_lease *l)
{
	hmap_del(&v->leases, l->node);
	hmap_del(&v->by_subnet, l->subnet);
	lease_free(l);
}

struct model_token *model_token_add(struct model *m, const char *id)
{
	struct model_token *t = xcalloc(1, sizeof(*t));

	t->id = xstrdup(id);
	t->salt = xstrdup("");
	t->hash = xstrdup("");
	hmap_put(&m->tokens, t->id, t);
	return t;
}

void model_token_remove(struct model *m, struct model_token *t)
{
	hmap_del(&m->tokens, t->id);
	token_free(t);
}

struct model_cert *model_cert_add(struct hmap *map, const char *serial, const char *node,
				  uint64_t expires_ms)
{
	struct model_cert *c = xcalloc(1, sizeof(*c));

	c->serial = xstrdup(serial);
	c->node = xstrdup(node);
	c->expires_ms = expires_ms;
	hmap_put(map, c->serial, c);
	return c;
}

void model_cert_remove(struct hmap *map, struct model_cert *c)
{
	hmap_del(map, c->serial);
	cert_free(c);
}

/* ---- copies: struct copies first, so scalar fields come along; then every pointer
 * gets its own copy (strings) or a reference (JSON values, never changed in place) ---- */

static void *node_dup(void *ctx, const void *val, const char **ret_key)
{
	struct model_node *c = xmalloc(sizeof(*c));

	*c = *(const struct model_node *)val;
	c->name = xstrdup(c->name);
	c->address = xstrdup(c->address);
	c->labels = json_incref(c->labels);
	*ret_key = c->name;
	return c;
}

static void *workload_dup(void *ctx, const void *val, const char **ret_key)
{
	struct model_workload *c = xmalloc(sizeof(*c));

	*c = *(const struct model_workload *)val;
	c->name = xstrdup(c->name);
	c->spec = json_incref(c->spec);
	*ret_key = c->name;
	return c;
}

/* Tasks are most of a big model: a copy puts them and their strings in big blocks
 * chained through their first word (100,000 tasks: a few allocations instead of
 * 600,000, and one pass over the tasks). */
#define ARENA_BLOCK (4u << 20)

struct arena {
	void **head; /* the newest block; its first word points to the one before */
	char *next, *end;
};

static void *arena_alloc(struct arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if ((size_t)(a->end - a->next) < n) {
		size_t size = n + 16 > ARENA_BLOCK ? n + 16 : ARENA_BLOCK;
		void **block = xmalloc(size);
		*block = a->head;
		a->head = block;
		a->next = (char *)block + 16;
		a->end = (char *)block + size;
	}
	a->next += n;
	return a->next - n;
}

static void arena_free(void *head)
{
	while (head) {
		void *prev = *(void **)head;
		free(head);
		head = prev;
	}
}

static size_t str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static void *task_dup(void *ctx, const void *val, const char **ret_key)
{
	const struct model_task *t = val;
	const char *strs[6] = {t->id, t->workload, t->node, t->container_id, t->ip, t->message};
	size_t lens[6], total = sizeof(*t);

	for (int i = 0; i < 6; i++)
		total += lens[i] = str_size(strs[i]);
	struct model_task *c = arena_alloc(ctx, total);
	char *p = (char *)(c + 1), *copies[6];
	for (int i = 0; i < 6; i++) {
		copies[i] = strs[i] ? memcpy(p, strs[i], lens[i]) : NULL;
		p += lens[i];
	}
	*c = *t;
	c->id = copies[0];
	c->workload = copies[1];
	c->node = copies[2];
	c->container_id = copies[3];
	c->ip = copies[4];
	c->message = copies[5];
	*ret_key = c->id;
	return c;
}

static void *vpc_dup(void *ctx, const void *val, const char **ret_key)
{
	const struct model_vpc *v = val;
	struct model_vpc *c = xmalloc(sizeof(*c));
	struct model_lease *l;
	size_t i = 0;

	*c = *v;
	c->name = xstrdup(v->name);
	c->cidr = xstrdup(v->cidr);
	c->leases = (struct hmap)HMAP_INIT;
	c->by_subnet = (struct hmap)HMAP_INIT;
	while (hmap_next(&v->leases, &i, NULL, (void **)&l))
		model_lease_add(c, l->node, l->subnet)->version = l->version;
	*ret_key = c->name;
	return c;
}

static void *token_dup(void *ctx, const void *val, const char **ret_key)
{
	struct model_token *c = xmalloc(sizeof(*c));

	*c = *(const struct model_token *)val;
	c->id = xstrdup(c->id);
	c->salt = xstrdup(c->salt);
	c->hash = xstrdup(c->hash);
	*ret_key = c->id;
	return c;
}

static void *cert_dup(void *ctx, const void *val, const char **ret_key)
{
	struct model_cert *c = xmalloc(sizeof(*c));

	*c = *(const struct model_cert *)val;
	c->serial = xstrdup(c->serial);
	c->node = xstrdup(c->node);
	*ret_key = c->serial;
	return c;
}

static void *count_dup(void *ctx, const void *val, const char **ret_key)
{
	struct task_count *c = xmalloc(sizeof(*c));

	*c = *(const struct task_count *)val;
	c->name = xstrdup(c->name);
	*ret_key = c->name;
	return c;
}

struct model *model_copy(const struct model *m)
{
	struct model *c = model_new();
	struct model_event *events = c->events;
	struct model_recent **ring = c->recent_ring;

	*c = *m;
	c->events = events;
	c->recent_ring = ring;
	hmap_copy(&c->nodes, &m->nodes, node_dup, NULL);
	hmap_copy(&c->workloads, &m->workloads, workload_dup, NULL);
	struct arena a = {NULL, NULL, NULL};
	hmap_copy(&c->tasks, &m->tasks, task_dup, &a);
	c->arena = a.head;
	hmap_copy(&c->vpcs, &m->vpcs, vpc_dup, NULL);
	hmap_copy(&c->tokens, &m->tokens, token_dup, NULL);
	hmap_copy(&c->certs, &m->certs, cert_dup, NULL);
	hmap_copy(&c->revoked, &m->revoked, cert_dup, NULL);
	hmap_copy(&c->task_counts, &m->task_counts, count_dup, NULL);
	c->recent = (struct hmap)HMAP_INIT;
	for (size_t k = 0; k < m->n_recent; k++) {
		size_t at = (m->recent_head + k) % MODEL_RECENT;
		struct model_recent *r = xmalloc(sizeof(*r));
		*r = *m->recent_ring[at];
		r->id = xstrdup(r->id);
		ring[at] = r;
		hmap_put(&c->recent, r->id, r);
	}
	for (size_t i = 0; i < MODEL_EVENTS; i++) {
		events[i] = m->events[i];
		events[i].object = m->events[i].object ? json_incref(m->events[i].object) : NULL;
	}
	return c;
}

void model_event_add(struct model *m, uint64_t index, uint64_t ts, const char *type,
		     const char *action, json_t *object)
{
	uint64_t seq = ++m->event_seq;
	struct model_event *e = &m->events[seq % MODEL_EVENTS];

	json_decref(e->object);
	e->seq = seq;
	e->index = index;
	e->ts = ts;
	snprintf(e->type, sizeof(e->type), "%s", type);
	snprintf(e->action, sizeof(e->action), "%s", action);
	e->object = object ? object : json_object();
	if (m->n_events < MODEL_EVENTS)
		m->n_events++;
}

uint64_t model_event_first(const struct model *m)
{
	return m->event_seq - m->n_events + 1;
}

const struct model_event *model_event_get(const struct model *m, uint64_t seq)
{
	if (seq == 0 || seq > m->event_seq || seq < model_event_first(m))
		return NULL;
	return &m->events[seq % MODEL_EVENTS];
}

json_t *model_event_json(const struct model_event *e)
{
	return json_pack("{s:I,s:I,s:I,s:s,s:s,s:O}", "seq", (json_int_t)e->seq, "index",
			 (json_int_t)e->index, "ts", (json_int_t)e->ts, "type", e->type, "action",
			 e->action, "object", e->object);
}

int model_watch(const struct model *m, uint64_t after, size_t max, json_t **ret, struct err *err)
{
	uint64_t first = model_event_first(m);
	json_t *a;

	if (after + 1 < first)
		return err_msg(err, ESTALE,
			       "events after %" PRIu64 " are gone (oldest kept is %" PRIu64
			       "); list again and watch from %" PRIu64,
			       after, first, m->event_seq);
	a = json_array();
	for (uint64_t s = after + 1; s <= m->event_seq; s++) {
		if (max && json_array_size(a) >= max)
			break;
		json_array_append_new(a, model_event_json(model_event_get(m, s)));
	}
	*ret = a;
	return 0;
}

const struct model_recent *model_recent_get(const struct model *m, const char *id)
{
	return hmap_get(&m->recent, id);
}

void model_recent_put(struct model *m, const char *id, uint64_t index, int code, const char *msg)
{
	struct model_recent *r, **slot;

	if (hmap_get(&m->recent, id))
		return;
	slot = &m->recent_ring[(m->recent_head + m->n_recent) % MODEL_RECENT];
	if (m->n_recent == MODEL_RECENT) {
		/* full: the oldest id is forgotten; its slot is the one we write */
		hmap_del(&m->recent, (*slot)->id);
		free((*slot)->id);
		free(*slot);
		m->recent_head = (m->recent_head + 1) % MODEL_RECENT;
		m->n_recent--;
	}
	r = xcalloc(1, sizeof(*r));
	r->id = xstrdup(id);
	r->index = index;
	r->code = code;
	snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : "");
	model_text_clean(r->msg);
	*slot = r;
	m->n_recent++;
	hmap_put(&m->recent, r->id, r);
}

static json_t *res_json(const struct model_res *r)
{
	return json_pack("{s:I,s:I}", "cpu_milli", (json_int_t)r->cpu_milli, "memory",
			 (json_int_t)r->memory);
}

json_t *model_node_json(const struct model_node *n)
{
	return json_pack(
	    "{s:s,s:s,s:s,s:s,s:O,s:o,s:o,s:I,s:I,s:I,s:I}", "name", n->name, "address", n->address,
	    "role", model_role_name(n->role), "state", model_node_state_name(n->state), "labels",
	    n->labels, "capacity", res_json(&n->capacity), "allocated", res_json(&n->allocated),
	    "heartbeat_gen", (json_int_t)n->heartbeat_gen, "tasks", (json_int_t)n->n_tasks,
	    "version", (json_int_t)n->version, "created", (json_int_t)n->created);
}

json_t *model_workload_json(const struct model_workload *w)
{
	return json_pack("{s:s,s:O,s:I,s:i,s:o,s:I,s:I}", "name", w->name, "spec", w->spec,
			 "generation", (json_int_t)w->generation, "replicas", w->replicas,
			 "request", res_json(&w->request), "version", (json_int_t)w->version,
			 "created", (json_int_t)w->created);
}

json_t *model_task_json(const struct model_task *t)
{
	json_t *j = json_pack(
	    "{s:s,s:s,s:i,s:s?,s:I,s:I,s:o,s:s,s:s,s:I,s:I}", "id", t->id, "workload", t->workload,
	    "replica", t->replica, "node", t->node, "generation", (json_int_t)t->generation,
	    "spec_gen", (json_int_t)t->spec_gen, "request", res_json(&t->request), "desired",
	    model_desired_name(t->desired), "observed", model_observed_name(t->observed), "version",
	    (json_int_t)t->version, "created", (json_int_t)t->created);
	if (t->container_id)
		json_object_set_new(j, "container", json_string(t->container_id));
	if (t->ip)
		json_object_set_new(j, "ip", json_string(t->ip));
	if (t->message)
		json_object_set_new(j, "message", json_string(t->message));
	if (model_observed_terminal(t->observed))
		json_object_set_new(j, "exit_code", json_integer(t->exit_code));
	return j;
}

json_t *model_vpc_json(const struct model_vpc *v)
{
	return json_pack("{s:s,s:s,s:i,s:I,s:I,s:I,s:I}", "name", v->name, "cidr", v->cidr,
			 "node_prefix", v->node_prefix, "vni", (json_int_t)v->vni, "leases",
			 (json_int_t)v->leases.len, "version", (json_int_t)v->version, "created",
			 (json_int_t)v->created);
}

json_t *model_lease_json(const struct model_vpc *v, const struct model_lease *l)
{
	return json_pack("{s:s,s:s,s:s,s:I}", "vpc", v->name, "node", l->node, "subnet", l->subnet,
			 "version", (json_int_t)l->version);
}

json_t *model_token_json(const struct model_token *t, bool secret)
{
	json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:I}", "id", t->id, "role",
			      model_role_name(t->role), "expires_ms", (json_int_t)t->expires_ms,
			      "version", (json_int_t)t->version, "created", (json_int_t)t->created);
	if (secret) {
		json_object_set_new(j, "salt", json_string(t->salt));
		json_object_set_new(j, "hash", json_string(t->hash));
	}
	return j;
}

json_t *model_cert_json(const struct model_cert *c)
{
	return json_pack("{s:s,s:s,s:I,s:I}", "serial", c->serial, "node", c->node, "expires_ms",
			 (json_int_t)c->expires_ms, "version", (json_int_t)c->version);
}

/* length of the valid UTF-8 sequence at p, 0 when invalid */
static size_t utf8_len(const unsigned char *p)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

void model_text_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		size_t n = utf8_len(p);
		if (n == 0 || *p < ' ' || *p == 0x7f) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

int model_cidr_parse(const char *s, uint32_t *ret_net, int *ret_prefix)
{
	unsigned a[4], p;
	char tail;
	uint32_t net, mask;

	if (!s || sscanf(s, "%3u.%3u.%3u.%3u/%2u%c", &a[0], &a[1], &a[2], &a[3], &p, &tail) != 5)
		return -EINVAL;
	if (a[0] > 255 || a[1] > 255 || a[2] > 255 || a[3] > 255 || p > 32)
		return -EINVAL;
	/* refuse spellings that do not print back the same ("010.1.2.3/08", "+1...") */
	char back[20];
	net = a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
	model_cidr_format(net, (int)p, back);
	if (!streq(back, s))
		return -EINVAL;
	mask = p ? ~0u << (32 - p) : 0;
	if (net & ~mask)
		return -EINVAL;
	*ret_net = net;
	*ret_prefix = (int)p;
	return 0;
}

void model_cidr_format(uint32_t net, int prefix, char buf[20])
{
	snprintf(buf, 20, "%u.%u.%u.%u/%d", net >> 24, (net >> 16) & 255, (net >> 8) & 255,
		 net & 255, prefix);
}

/* per-node sums recomputed from the tasks, for model_check */
struct node_sum {
	struct model_res alloc;
	size_t n;
};

static int check_tasks(const struct model *m, struct err *err)
{
	struct hmap idx = HMAP_INIT, wl = HMAP_INIT;
	struct node_sum *sums = xcalloc(m->nodes.len + 1, sizeof(*sums));
	size_t *wcount = xcalloc(m->workloads.len + 1, sizeof(*wcount));
	struct model_node *n;
	struct model_workload *w;
	struct model_task *t;
	size_t i = 0, k = 0;
	int r = 0;

	while (hmap_next(&m->nodes, &i, NULL, (void **)&n))
		hmap_put(&idx, n->name, &sums[k++]);
	i = k = 0;
	while (hmap_next(&m->workloads, &i, NULL, (void **)&w))
		hmap_put(&wl, w->name, &wcount[k++]);
	i = 0;
	while (!r && hmap_next(&m->tasks, &i, NULL, (void **)&t)) {
		char id[MODEL_NAME_MAX + 16];
		struct node_sum *s = t->node ? hmap_get(&idx, t->node) : NULL;
		size_t *wc = hmap_get(&wl, t->workload);

		snprintf(id, sizeof(id), "%s.%d", t->workload, t->replica);
		if (!streq(id, t->id) || t->replica < 0 || t->replica >= MODEL_MAX_REPLICAS)
			r = err_msg(err, EUCLEAN,
				    "task '%s': id does not match its workload and replica", t->id);
		else if (!s)
			r = err_msg(err, EUCLEAN, "task '%s': node '%s' does not exist", t->id,
				    t->node ? t->node : "(none)");
		else if (!wc && t->desired == MODEL_DESIRED_RUNNING)
			r = err_msg(err, EUCLEAN, "task '%s': running without workload", t->id);
		else if (t->generation == 0 || t->version > m->index)
			r = err_msg(err, EUCLEAN, "task '%s': bad generation or version", t->id);
		if (r)
			break;
		s->n++;
		if (t->desired == MODEL_DESIRED_RUNNING)
			res_add(&s->alloc, &t->request, +1);
		if (wc)
			(*wc)++;
	}
	i = 0;
	while (!r && hmap_next(&m->nodes, &i, NULL, (void **)&n)) {
		struct node_sum *s = hmap_get(&idx, n->name);
		if (s->n != n->n_tasks || s->alloc.cpu_milli != n->allocated.cpu_milli ||
		    s->alloc.memory != n->allocated.memory)
			r = err_msg(err, EUCLEAN, "node '%s': allocation does not match its tasks",
				    n->name);
	}
	i = 0;
	while (!r && hmap_next(&m->workloads, &i, NULL, (void **)&w))
		if (*(size_t *)hmap_get(&wl, w->name) != model_workload_tasks(m, w->name))
			r = err_msg(err, EUCLEAN, "workload '%s': task count is wrong", w->name);
	struct task_count *tc;
	size_t total = 0;
	i = 0;
	while (hmap_next(&m->task_counts, &i, NULL, (void **)&tc))
		total += tc->n;
	if (!r && total != m->tasks.len)
		r = err_msg(err, EUCLEAN, "task counts by workload do not add up");
	hmap_free(&idx);
	hmap_free(&wl);
	free(sums);
	free(wcount);
	return r;
}

static int check_vpc(const struct model *m, const struct model_vpc *v, struct err *err)
{
	struct model_lease *l;
	uint32_t net, size;
	int prefix;
	size_t i = 0;

	if (model_cidr_parse(v->cidr, &net, &prefix) < 0 || net != v->net || prefix != v->prefix ||
	    v->node_prefix < v->prefix || v->node_prefix > 30 || v->vni == 0 || v->vni > 0xffffff ||
	    v->leases.len != v->by_subnet.len)
		return err_msg(err, EUCLEAN, "vpc '%s': inconsistent", v->name);
	size = v->node_prefix == 32 ? 1 : 1u << (32 - v->node_prefix);
	while (hmap_next(&v->leases, &i, NULL, (void **)&l)) {
		uint32_t sn;
		int sp;
		if (!model_node(m, l->node) || hmap_get(&v->by_subnet, l->subnet) != l ||
		    model_cidr_parse(l->subnet, &sn, &sp) < 0 || sp != v->node_prefix ||
		    (sn & (v->prefix ? ~0u << (32 - v->prefix) : 0)) != v->net || (sn & (size - 1)))
			return err_msg(err, EUCLEAN, "vpc '%s': bad lease for node '%s'", v->name,
				       l->node);
	}
	return 0;
}

static int check_vpcs(const struct model *m, struct err *err)
{
	struct model_vpc *v, *o;
	size_t i = 0;
	int r;

	while (hmap_next(&m->vpcs, &i, NULL, (void **)&v)) {
		r = check_vpc(m, v, err);
		if (r < 0)
			return r;
		size_t j = 0;
		while (hmap_next(&m->vpcs, &j, NULL, (void **)&o)) {
			int p = o->prefix < v->prefix ? o->prefix : v->prefix;
			uint32_t mask = p ? ~0u << (32 - p) : 0;
			if (o != v && (o->vni == v->vni || (o->net & mask) == (v->net & mask)))
				return err_msg(err, EUCLEAN, "vpcs '%s' and '%s' overlap", v->name,
					       o->name);
		}
	}
	return 0;
}

static int check_log(const struct model *m, struct err *err)
{
	if (m->n_events > MODEL_EVENTS || m->n_events > m->event_seq)
		return err_msg(err, EUCLEAN, "event ring: bad count");
	for (uint64_t s = model_event_first(m); s <= m->event_seq && s; s++) {
		const struct model_event *e = model_event_get(m, s);
		if (!e || e->seq != s || !e->object || e->index > m->index)
			return err_msg(err, EUCLEAN, "event %" PRIu64 ": missing or out of order",
				       s);
	}
	if (m->n_recent > MODEL_RECENT || m->n_recent != m->recent.len)
		return err_msg(err, EUCLEAN, "request ids: bad count");
	for (size_t k = 0; k < m->n_recent; k++) {
		struct model_recent *r = m->recent_ring[(m->recent_head + k) % MODEL_RECENT];
		if (!r || hmap_get(&m->recent, r->id) != r || r->index > m->index)
			return err_msg(err, EUCLEAN, "request ids: ring and table disagree");
	}
	return 0;
}

int model_check(const struct model *m, struct err *err)
{
	int r;

	if (m->nodes.len > MODEL_MAX_NODES || m->workloads.len > MODEL_MAX_WORKLOADS ||
	    m->tasks.len > MODEL_MAX_TASKS || m->vpcs.len > MODEL_MAX_VPCS ||
	    m->tokens.len > MODEL_MAX_TOKENS || m->certs.len + m->revoked.len > MODEL_MAX_CERTS)
		return err_msg(err, EUCLEAN, "an object count is over its limit");
	r = check_tasks(m, err);
	if (r < 0)
		return r;
	r = check_vpcs(m, err);
	if (r < 0)
		return r;
	return check_log(m, err);
}

static size_t host_len(const char *address)
{
	const char *colon = strrchr(address, ':');
	return colon ? (size_t)(colon - address) : strlen(address);
}

const struct model_node *model_node_at(const struct model *m, const char *address,
				       const char *except)
{
	size_t i = 0, n = host_len(address);
	const char *k;
	struct model_node *nd;

	while (hmap_next(&m->nodes, &i, &k, (void **)&nd))
		if (!(except && streq(k, except)) && nd->address && host_len(nd->address) == n &&
		    !strncmp(nd->address, address, n))
			return nd;
	return NULL;
}
