/* sched: placement as pure functions. It builds a name-sorted view of the nodes, then
 * schedules each workload with a heap of failure domains over a heap of nodes per domain
 * (see sched.h for the policy). */
#include "sched/sched.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>

#include "base/util.h"

/* ---- constraints ---- */

enum con_op { CON_EQ, CON_NE, CON_EXISTS };

struct con {
	enum con_op op;
	char *key, *value;
	const char *text;
};

static bool key_char(int c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/' || c == ':';
}

static char *trimmed(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	char *r = xmalloc(n + 1);

	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

static int con_validate(const struct con *c, struct err *err)
{
	if (!*c->key)
		return err_msg(err, EINVAL, "constraint '%s': empty label key", c->text);
	for (const char *p = c->key; *p; p++)
		if (!key_char((unsigned char)*p))
			return err_msg(err, EINVAL,
				       "constraint '%s': label key '%s' may hold only letters, "
				       "digits and . _ - / :",
				       c->text, c->key);
	if (c->op == CON_EXISTS)
		return 0;
	if (!*c->value)
		return err_msg(err, EINVAL, "constraint '%s': empty value", c->text);
	for (const char *p = c->value; *p; p++)
		if (!isgraph((unsigned char)*p))
			return err_msg(err, EINVAL, "constraint '%s': value has spaces", c->text);
	return 0;
}

static void con_free(struct con *c)
{
	free(c->key);
	free(c->value);
	c->key = c->value = NULL;
}

static int con_parse(const char *text, struct con *c, struct err *err)
{
	const char *eq, *ne, *op;
	int r;

	*c = (struct con){.text = text ? text : ""};
	if (!text || strlen(text) > SCHED_MAX_EXPR)
		return err_msg(err, EINVAL, "constraint: missing or longer than %d bytes",
			       SCHED_MAX_EXPR);
	eq = strstr(text, "==");
	ne = strstr(text, "!=");
	op = eq && (!ne || eq < ne) ? eq : ne;
	if (op) {
		c->op = op == eq ? CON_EQ : CON_NE;
		c->key = trimmed(text, op - text);
		c->value = trimmed(op + 2, strlen(op + 2));
		if (strpbrk(c->value, "=!<>"))
			r = err_msg(err, EINVAL, "constraint '%s': one operator only", text);
		else
			r = con_validate(c, err);
	} else if (strpbrk(text, "=!<>")) {
		r = err_msg(err, EINVAL,
			    "constraint '%s': unknown operator (use key==value, key!=value or key)",
			    text);
	} else {
		c->op = CON_EXISTS;
		c->key = trimmed(text, strlen(text));
		r = con_validate(c, err);
	}
	if (r < 0)
		con_free(c);
	return r;
}

int sched_constraint_check(const char *expr, struct err *err)
{
	struct con c;
	int r = con_parse(expr, &c, err);

	if (r == 0)
		con_free(&c);
	return r;
}

/* A node's labels, and node.name: its own name (`coop run --image` pins a container
 * to the node it was asked on with node.name==NAME). */
static const char *label_get(const struct sched_node *n, const char *key)
{
	if (streq(key, SCHED_NODE_NAME_KEY))
		return n->name;
	for (size_t i = 0; i < n->n_labels; i++)
		if (n->labels[i].key && streq(n->labels[i].key, key))
			return n->labels[i].value ? n->labels[i].value : "";
	return NULL;
}

static bool con_match(const struct con *c, const struct sched_node *n)
{
	const char *v = label_get(n, c->key);

	switch (c->op) {
	case CON_EQ:
		return v && streq(v, c->value);
	case CON_NE:
		return !v || !streq(v, c->value);
	case CON_EXISTS:
		return v != NULL;
	}
	return false;
}

/* ---- heaps of node or domain indexes, ordered by a comparator over a context ---- */

typedef bool (*less_fn)(const void *ctx, uint32_t a, uint32_t b);

static void sift_down(uint32_t *h, size_t n, size_t i, less_fn less, const void *ctx)
{
	uint32_t x = h[i];

	for (;;) {
		size_t l = 2 * i + 1, m;
		if (l >= n)
			break;
		m = l + 1 < n && less(ctx, h[l + 1], h[l]) ? l + 1 : l;
		if (!less(ctx, h[m], x))
			break;
		h[i] = h[m];
		i = m;
	}
	h[i] = x;
}

static void heapify(uint32_t *h, size_t n, less_fn less, const void *ctx)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(h, n, i, less, ctx);
}

static void heap_pop(uint32_t *h, size_t *n, less_fn less, const void *ctx)
{
	h[0] = h[--*n];
	if (*n)
		sift_down(h, *n, 0, less, ctx);
}

/* ---- the view: nodes sorted by name (index = rank), with running free capacity ---- */

struct vnode {
	const struct sched_node *n;
	uint64_t free_cpu, free_mem;
	uint32_t score; /* dominant allocated share, parts per million */
};

struct view {
	struct vnode *v;
	size_t n;
	const char *domain_key;
	uint32_t *slot; /* open-addressing name → index + 1 (0: empty) */
	size_t mask;
	uint32_t *dom; /* domain of each node under domain_key */
	uint32_t n_dom;
	/* per-workload scratch, sized for n nodes (+1 domain for "no label") */
	uint32_t *count, *wdom, *seg, *dstart, *dsize, *dcount, *dheap;
	uint8_t *elig;
};

enum { ELIG_OK, ELIG_DOWN, ELIG_DRAINING, ELIG_CON /* + constraint index */ };

static uint64_t sub_floor(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static uint32_t share(uint64_t cap, uint64_t free)
{
	return cap ? (uint32_t)((unsigned __int128)(cap - free) * 1000000 / cap) : 0;
}

static void vnode_update_score(struct vnode *x)
{
	uint32_t c = share(x->n->cpu_millis, x->free_cpu),
		 m = share(x->n->memory_bytes, x->free_mem);

	x->score = c > m ? c : m;
}

static int vnode_cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct vnode *)a)->n->name, ((const struct vnode *)b)->n->name);
}

/* Domains are numbered in the order of their label value; nodes without it come first. */
struct domsort {
	const char *value;
	uint32_t node;
};

static int domsort_cmp(const void *a, const void *b)
{
	const struct domsort *x = a, *y = b;
	int r;

	if (!x->value || !y->value)
		r = !!x->value - !!y->value;
	else
		r = strcmp(x->value, y->value);
	return r ? r : (x->node > y->node) - (x->node < y->node);
}

static bool same_value(const char *a, const char *b)
{
	return a == b || (a && b && streq(a, b));
}

/* Few distinct values (zones, racks): a short list and no sort of all nodes. */
#define FEW_DOMAINS 64

static bool view_domains_few(const struct view *v, const char *key, uint32_t *ids, uint32_t *ret_n)
{
	struct domsort d[FEW_DOMAINS];
	uint32_t remap[FEW_DOMAINS], n_dom = 0;

	for (size_t i = 0; i < v->n; i++) {
		const char *value = label_get(v->v[i].n, key);
		uint32_t k = 0;
		while (k < n_dom && !same_value(d[k].value, value))
			k++;
		if (k == n_dom) {
			if (n_dom == FEW_DOMAINS)
				return false;
			d[n_dom++] = (struct domsort){value, k};
		}
		ids[i] = k;
	}
	qsort(d, n_dom, sizeof(*d), domsort_cmp);
	for (uint32_t k = 0; k < n_dom; k++)
		remap[d[k].node] = k;
	for (size_t i = 0; i < v->n; i++)
		ids[i] = remap[ids[i]];
	*ret_n = n_dom;
	return true;
}

static void view_domains(const struct view *v, const char *key, uint32_t *ids, uint32_t *ret_n)
{
	_cleanup_free_ struct domsort *ds = NULL;
	uint32_t n_dom = 0;

	if (!key || !v->n) {
		memset(ids, 0, v->n * sizeof(*ids));
		*ret_n = 1;
		return;
	}
	if (view_domains_few(v, key, ids, ret_n))
		return;
	ds = xmalloc(v->n * sizeof(*ds));
	for (size_t i = 0; i < v->n; i++)
		ds[i] = (struct domsort){label_get(v->v[i].n, key), (uint32_t)i};
	qsort(ds, v->n, sizeof(*ds), domsort_cmp);
	for (size_t i = 0; i < v->n; i++) {
		if (i && !same_value(ds[i].value, ds[i - 1].value))
			n_dom++;
		ids[ds[i].node] = n_dom;
	}
	*ret_n = n_dom + 1;
}

static uint32_t name_hash(const char *s) /* FNV-1a */
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void view_index(struct view *v)
{
	size_t size = 16;

	while (size < 2 * v->n)
		size *= 2;
	v->mask = size - 1;
	v->slot = xcalloc(size, sizeof(*v->slot));
	for (size_t i = 0; i < v->n; i++) {
		size_t h = name_hash(v->v[i].n->name) & v->mask;
		while (v->slot[h])
			h = (h + 1) & v->mask;
		v->slot[h] = (uint32_t)i + 1;
	}
}

static void view_free(struct view *v)
{
	free(v->v);
	free(v->slot);
	free(v->dom);
	free(v->count);
	free(v->wdom);
	free(v->seg);
	free(v->dstart);
	free(v->dsize);
	free(v->dcount);
	free(v->dheap);
	free(v->elig);
}

static int view_init(struct view *v, const struct sched_cluster *c, struct err *err)
{
	size_t n = c->n_nodes;

	*v = (struct view){.n = n, .domain_key = c->domain_key};
	if (n > SCHED_MAX_NODES)
		return err_msg(err, E2BIG, "%zu nodes: at most %d", n, SCHED_MAX_NODES);
	v->v = xcalloc(n + 1, sizeof(*v->v));
	for (size_t i = 0; i < n; i++) {
		struct vnode *x = &v->v[i];
		if (!c->nodes[i].name || !*c->nodes[i].name)
			return err_msg(err, EINVAL, "node %zu has no name", i + 1);
		x->n = &c->nodes[i];
		x->free_cpu = sub_floor(x->n->cpu_millis, x->n->alloc_cpu_millis);
		x->free_mem = sub_floor(x->n->memory_bytes, x->n->alloc_memory_bytes);
		vnode_update_score(x);
	}
	/* callers often keep nodes in name order already: check before sorting */
	for (size_t i = 1; i < n; i++)
		if (strcmp(v->v[i - 1].n->name, v->v[i].n->name) > 0) {
			qsort(v->v, n, sizeof(*v->v), vnode_cmp_name);
			break;
		}
	for (size_t i = 1; i < n; i++)
		if (streq(v->v[i].n->name, v->v[i - 1].n->name))
			return err_msg(err, EINVAL, "node name '%s' given twice", v->v[i].n->name);
	view_index(v);
	v->dom = xmalloc((n + 1) * sizeof(uint32_t));
	view_domains(v, v->domain_key, v->dom, &v->n_dom);
	v->count = xmalloc((n + 1) * sizeof(uint32_t));
	v->wdom = xmalloc((n + 1) * sizeof(uint32_t));
	v->seg = xmalloc((n + 1) * sizeof(uint32_t));
	v->dstart = xmalloc((n + 2) * sizeof(uint32_t));
	v->dsize = xmalloc((n + 2) * sizeof(uint32_t));
	v->dcount = xmalloc((n + 2) * sizeof(uint32_t));
	v->dheap = xmalloc((n + 2) * sizeof(uint32_t));
	v->elig = xmalloc(n + 1);
	return 0;
}

static ssize_t view_find(const struct view *v, const char *name)
{
	size_t h;

	if (!name)
		return -1;
	for (h = name_hash(name) & v->mask; v->slot[h]; h = (h + 1) & v->mask) {
		const char *x = v->v[v->slot[h] - 1].n->name;
		if (x == name || streq(x, name))
			return v->slot[h] - 1;
	}
	return -1;
}

/* ---- the plan ---- */

#define PUSH(arr, n, cap)                                                                          \
	({                                                                                         \
		if ((n) == (cap)) {                                                                \
			(cap) = (cap) ? 2 * (cap) : 16;                                            \
			(arr) = xrealloc((arr), (cap) * sizeof(*(arr)));                           \
		}                                                                                  \
		&(arr)[(n)++];                                                                     \
	})

static void plan_stop(struct sched_plan *p, const struct sched_task *t, enum sched_stop_reason r,
		      const struct sched_workload *w)
{
	*PUSH(p->stops, p->n_stops, p->cap_stops) =
	    (struct sched_stop){.task = t, .reason = r, .workload = w};
}

static void plan_unplaced(struct sched_plan *p, const char *w, unsigned replica, char *msg)
{
	*PUSH(p->unplaced, p->n_unplaced, p->cap_unplaced) =
	    (struct sched_unplaced){.workload = w, .replica = replica, .msg = msg};
}

bool sched_plan_empty(const struct sched_plan *p)
{
	return !p->n_placements && !p->n_stops && !p->n_unplaced;
}

void sched_plan_free(struct sched_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_unplaced; i++)
		free(p->unplaced[i].msg);
	free(p->placements);
	free(p->stops);
	free(p->unplaced);
	*p = (struct sched_plan){0};
}

static const char *const stop_reasons[] = {
    [SCHED_STOP_NODE_DOWN] = "node down",
    [SCHED_STOP_NODE_DRAINING] = "node draining",
    [SCHED_STOP_NODE_UNKNOWN] = "node unknown",
    [SCHED_STOP_CONSTRAINT] = "constraint not met",
    [SCHED_STOP_SUPERSEDED] = "superseded",
    [SCHED_STOP_SCALE_DOWN] = "scaled down",
    [SCHED_STOP_WORKLOAD_GONE] = "workload removed",
};

const char *sched_stop_reason_str(enum sched_stop_reason r)
{
	return (size_t)r < ARRAY_SIZE(stop_reasons) ? stop_reasons[r] : "unknown";
}

const char *sched_stop_fmt(const struct sched_stop *s, char *buf, size_t size)
{
	const struct sched_task *t = s->task;
	const char *node = t->node ? t->node : "?";
	int n = snprintf(buf, size, "%s.%u (task %s) on %s: ", t->workload ? t->workload : "?",
			 t->replica, t->id ? t->id : "?", node);

	if (n < 0 || (size_t)n >= size)
		return buf;
	buf += n, size -= n;
	switch (s->reason) {
	case SCHED_STOP_NODE_DOWN:
		snprintf(buf, size, "node %s is down", node);
		break;
	case SCHED_STOP_NODE_DRAINING:
		snprintf(buf, size, "node %s is draining", node);
		break;
	case SCHED_STOP_NODE_UNKNOWN:
		snprintf(buf, size, "node %s is not in the cluster", node);
		break;
	case SCHED_STOP_CONSTRAINT:
		snprintf(buf, size, "node %s no longer meets '%s'", node, s->constraint);
		break;
	case SCHED_STOP_SUPERSEDED:
		snprintf(buf, size, "generation %" PRIu64 " of replica %u supersedes %" PRIu64,
			 s->newer_generation, t->replica, t->generation);
		break;
	case SCHED_STOP_SCALE_DOWN:
		snprintf(buf, size, "%s scaled down to %u replicas", s->workload->name,
			 s->workload->replicas);
		break;
	case SCHED_STOP_WORKLOAD_GONE:
		snprintf(buf, size, "workload %s was removed", t->workload ? t->workload : "?");
		break;
	}
	return buf - n;
}

/* ---- one workload ---- */

struct wl {
	struct view *v;
	const struct sched_workload *w;
	struct con cons[SCHED_MAX_CONSTRAINTS];
	size_t n_cons;
	const uint32_t *dom; /* domain of each node for this workload */
	uint32_t n_dom;
	/* live tasks that stay (before scale down), in replica order, with their node */
	const struct sched_task **surv;
	uint32_t *surv_node;
	size_t n_surv;
};

static bool task_live(const struct sched_task *t)
{
	return t->state == SCHED_TASK_ASSIGNED || t->state == SCHED_TASK_RUNNING;
}

static void wl_free(struct wl *x)
{
	for (size_t i = 0; i < x->n_cons; i++)
		con_free(&x->cons[i]);
	free(x->surv);
	free(x->surv_node);
}

static int wl_init(struct wl *x, struct view *v, const struct sched_workload *w, struct err *err)
{
	int r;

	*x = (struct wl){.v = v, .w = w};
	if (!w->name || !*w->name)
		return err_msg(err, EINVAL, "workload without a name");
	if (w->replicas > SCHED_MAX_REPLICAS)
		return err_msg(err, E2BIG, "workload '%s': %u replicas: at most %d", w->name,
			       w->replicas, SCHED_MAX_REPLICAS);
	if (w->n_constraints > SCHED_MAX_CONSTRAINTS)
		return err_msg(err, E2BIG, "workload '%s': %zu constraints: at most %d", w->name,
			       w->n_constraints, SCHED_MAX_CONSTRAINTS);
	for (; x->n_cons < w->n_constraints; x->n_cons++) {
		r = con_parse(w->constraints[x->n_cons], &x->cons[x->n_cons], err);
		if (r < 0)
			return err_wrap(err, "workload '%s'", w->name);
	}
	if (w->spread && !*w->spread)
		return err_msg(err, EINVAL, "workload '%s': empty spread label", w->name);
	return 0;
}

/* Eligibility of every node, and the workload's domains. */
static void wl_classify(struct wl *x)
{
	struct view *v = x->v;
	const char *key = x->w->spread ? x->w->spread : v->domain_key;

	for (size_t i = 0; i < v->n; i++) {
		const struct sched_node *n = v->v[i].n;
		uint8_t e = n->state == SCHED_NODE_DOWN	      ? ELIG_DOWN
			    : n->state == SCHED_NODE_DRAINING ? ELIG_DRAINING
							      : ELIG_OK;
		for (size_t c = 0; e == ELIG_OK && c < x->n_cons; c++)
			if (!con_match(&x->cons[c], n))
				e = ELIG_CON + c;
		v->elig[i] = e;
	}
	if (key == v->domain_key || (key && v->domain_key && streq(key, v->domain_key))) {
		x->dom = v->dom;
		x->n_dom = v->n_dom;
	} else {
		view_domains(v, key, v->wdom, &x->n_dom);
		x->dom = v->wdom;
	}
	memset(v->count, 0, v->n * sizeof(uint32_t));
	memset(v->dcount, 0, x->n_dom * sizeof(uint32_t));
}

/* Keeps the newest live task of each replica if its node still qualifies; stops the rest.
 * tasks are sorted by replica, then newest generation first. */
static void wl_sort_out(struct wl *x, const struct sched_task **tasks, size_t n,
			struct sched_plan *p)
{
	struct view *v = x->v;
	const struct sched_task *keep = NULL;

	x->surv = xmalloc((n + 1) * sizeof(*x->surv));
	x->surv_node = xmalloc((n + 1) * sizeof(*x->surv_node));
	for (size_t i = 0; i < n; i++) {
		const struct sched_task *t = tasks[i];
		ssize_t node;

		if (!task_live(t))
			continue;
		if (keep && keep->replica == t->replica) {
			plan_stop(p, t, SCHED_STOP_SUPERSEDED, x->w);
			p->stops[p->n_stops - 1].newer_generation = keep->generation;
			continue;
		}
		keep = t;
		node = view_find(v, t->node);
		if (node < 0) {
			plan_stop(p, t, SCHED_STOP_NODE_UNKNOWN, x->w);
		} else if (v->elig[node] == ELIG_DOWN) {
			plan_stop(p, t, SCHED_STOP_NODE_DOWN, x->w);
		} else if (v->elig[node] == ELIG_DRAINING) {
			plan_stop(p, t, SCHED_STOP_NODE_DRAINING, x->w);
		} else if (v->elig[node] != ELIG_OK) {
			plan_stop(p, t, SCHED_STOP_CONSTRAINT, x->w);
			p->stops[p->n_stops - 1].constraint =
			    x->cons[v->elig[node] - ELIG_CON].text;
		} else {
			x->surv[x->n_surv] = t;
			x->surv_node[x->n_surv++] = (uint32_t)node;
			v->count[node]++;
			v->dcount[x->dom[node]]++;
		}
	}
}

/* Placement order: fewest replicas of the workload, least allocated, name. */
static bool node_less(const void *ctx, uint32_t a, uint32_t b)
{
	const struct view *v = ctx;

	if (v->count[a] != v->count[b])
		return v->count[a] < v->count[b];
	if (v->v[a].score != v->v[b].score)
		return v->v[a].score < v->v[b].score;
	return a < b;
}

static bool dom_less(const void *ctx, uint32_t a, uint32_t b)
{
	const struct view *v = ctx;

	return v->dcount[a] != v->dcount[b] ? v->dcount[a] < v->dcount[b] : a < b;
}

/* Scale-down order: the reverse. */
static bool node_more(const void *ctx, uint32_t a, uint32_t b)
{
	return node_less(ctx, b, a);
}

static bool dom_more(const void *ctx, uint32_t a, uint32_t b)
{
	return dom_less(ctx, b, a);
}

/* Groups the nodes that pass `want` by domain into v->seg (a heap segment per domain) and
 * fills v->dheap with the non-empty domains; returns the number of domains in it. */
static size_t wl_heaps(struct wl *x, bool (*want)(const struct view *, uint32_t), less_fn nless,
		       less_fn dless)
{
	struct view *v = x->v;
	size_t nd = 0, off = 0;

	memset(v->dsize, 0, x->n_dom * sizeof(uint32_t));
	for (uint32_t i = 0; i < v->n; i++)
		if (want(v, i))
			v->dsize[x->dom[i]]++;
	for (uint32_t d = 0; d < x->n_dom; d++) {
		v->dstart[d] = off;
		off += v->dsize[d];
		v->dsize[d] = 0;
	}
	for (uint32_t i = 0; i < v->n; i++)
		if (want(v, i)) {
			uint32_t d = x->dom[i];
			v->seg[v->dstart[d] + v->dsize[d]++] = i;
		}
	for (uint32_t d = 0; d < x->n_dom; d++)
		if (v->dsize[d]) {
			heapify(v->seg + v->dstart[d], v->dsize[d], nless, v);
			v->dheap[nd++] = d;
		}
	heapify(v->dheap, nd, dless, v);
	return nd;
}

static void seg_pop(struct view *v, uint32_t d, less_fn less)
{
	size_t n = v->dsize[d];

	heap_pop(v->seg + v->dstart[d], &n, less, v);
	v->dsize[d] = (uint32_t)n;
}

static bool want_eligible(const struct view *v, uint32_t i)
{
	return v->elig[i] == ELIG_OK;
}

static bool want_loaded(const struct view *v, uint32_t i)
{
	return v->count[i] > 0;
}

/* ---- unplaced replicas: why no node fits ---- */

static void fmt_bytes(char *buf, size_t size, uint64_t b)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;
	double x = (double)b;

	while (x >= 1024 && u + 1 < ARRAY_SIZE(unit))
		x /= 1024, u++;
	if (x == (uint64_t)x)
		snprintf(buf, size, "%" PRIu64 " %s", (uint64_t)x, unit[u]);
	else
		snprintf(buf, size, "%.1f %s", x, unit[u]);
}

struct why {
	char *buf;
	size_t len, cap;
};

static void why_add(struct why *y, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why_add(struct why *y, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(y->buf + y->len, y->cap - y->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		y->len = y->len + n < y->cap ? y->len + n : y->cap - 1;
}

static void why_free(uint64_t lo, uint64_t hi, bool bytes, char *buf, size_t size)
{
	char a[32];

	if (bytes)
		fmt_bytes(a, sizeof(a), hi);
	else
		snprintf(a, sizeof(a), "%" PRIu64 "m", hi);
	snprintf(buf, size, "%s%s", lo == hi ? "" : "at most ", a);
}

/* "3 nodes: 1 down, 2 lack memory: need 512 MiB, free 256 MiB" — each node counted once,
 * under the first reason that rules it out. */
static void wl_why(const struct wl *x, char *out, size_t size)
{
	const struct view *v = x->v;
	size_t down = 0, drain = 0, cpu = 0, mem = 0, con[SCHED_MAX_CONSTRAINTS] = {0};
	uint64_t cpu_lo = UINT64_MAX, cpu_hi = 0, mem_lo = UINT64_MAX, mem_hi = 0;
	struct why y = {out, 0, size};
	char need[32], freeb[48];
	const char *sep = ": ";

	for (size_t i = 0; i < v->n; i++) {
		const struct vnode *n = &v->v[i];
		if (v->elig[i] == ELIG_DOWN) {
			down++;
		} else if (v->elig[i] == ELIG_DRAINING) {
			drain++;
		} else if (v->elig[i] != ELIG_OK) {
			con[v->elig[i] - ELIG_CON]++;
		} else if (n->free_cpu < x->w->cpu_millis) {
			cpu++;
			cpu_lo = n->free_cpu < cpu_lo ? n->free_cpu : cpu_lo;
			cpu_hi = n->free_cpu > cpu_hi ? n->free_cpu : cpu_hi;
		} else {
			mem++;
			mem_lo = n->free_mem < mem_lo ? n->free_mem : mem_lo;
			mem_hi = n->free_mem > mem_hi ? n->free_mem : mem_hi;
		}
	}
	out[0] = '\0';
	if (!v->n) {
		why_add(&y, "no nodes in the cluster");
		return;
	}
	why_add(&y, "%zu node%s", v->n, v->n == 1 ? "" : "s");
	if (down)
		why_add(&y, "%s%zu down", sep, down), sep = ", ";
	if (drain)
		why_add(&y, "%s%zu draining", sep, drain), sep = ", ";
	for (size_t c = 0; c < x->n_cons; c++) {
		if (!con[c])
			continue;
		if (x->cons[c].op == CON_EXISTS)
			why_add(&y, "%s%zu lack label %s", sep, con[c], x->cons[c].key);
		else
			why_add(&y, "%s%zu don't match %s", sep, con[c], x->cons[c].text);
		sep = ", ";
	}
	if (cpu) {
		why_free(cpu_lo, cpu_hi, false, freeb, sizeof(freeb));
		why_add(&y, "%s%zu lack cpu: need %" PRIu64 "m, free %s", sep, cpu,
			x->w->cpu_millis, freeb);
		sep = ", ";
	}
	if (mem) {
		fmt_bytes(need, sizeof(need), x->w->memory_bytes);
		why_free(mem_lo, mem_hi, true, freeb, sizeof(freeb));
		why_add(&y, "%s%zu lack memory: need %s, free %s", sep, mem, need, freeb);
	}
}

/* ---- placing and scaling down ---- */

struct slot {
	unsigned replica;
	uint64_t generation;
};

/* The lowest replica numbers no surviving task holds, each with a generation above every
 * earlier task of that replica. */
static struct slot *wl_free_slots(const struct wl *x, const struct sched_task **tasks, size_t n,
				  size_t need)
{
	struct slot *s = xmalloc((need + 1) * sizeof(*s));
	size_t got = 0, j = 0, k = 0;

	for (unsigned r = 1; got < need; r++) {
		uint64_t gen = 0;
		bool used = false;
		while (j < n && tasks[j]->replica < r)
			j++;
		for (; j < n && tasks[j]->replica == r; j++)
			gen = tasks[j]->generation > gen ? tasks[j]->generation : gen;
		while (k < x->n_surv && x->surv[k]->replica < r)
			k++;
		used = k < x->n_surv && x->surv[k]->replica == r;
		if (!used)
			s[got++] = (struct slot){r, gen + 1};
	}
	return s;
}

static void wl_place(struct wl *x, const struct sched_task **tasks, size_t n, size_t need,
		     struct sched_plan *p)
{
	struct view *v = x->v;
	const struct sched_workload *w = x->w;
	_cleanup_free_ struct slot *slots = wl_free_slots(x, tasks, n, need);
	size_t nd = wl_heaps(x, want_eligible, node_less, dom_less), done = 0;
	char why[512];

	while (done < need && nd) {
		uint32_t d = v->dheap[0], *seg = v->seg + v->dstart[d], i = seg[0];
		struct vnode *nd_ = &v->v[i];

		if (nd_->free_cpu < w->cpu_millis || nd_->free_mem < w->memory_bytes) {
			seg_pop(v, d, node_less);
			if (v->dsize[d] == 0)
				heap_pop(v->dheap, &nd, dom_less, v);
			continue;
		}
		nd_->free_cpu -= w->cpu_millis;
		nd_->free_mem -= w->memory_bytes;
		vnode_update_score(nd_);
		v->count[i]++;
		v->dcount[d]++;
		sift_down(seg, v->dsize[d], 0, node_less, v);
		sift_down(v->dheap, nd, 0, dom_less, v);
		*PUSH(p->placements, p->n_placements, p->cap_placements) = (struct sched_placement){
		    .workload = w->name,
		    .node = nd_->n->name,
		    .replica = slots[done].replica,
		    .generation = slots[done].generation,
		};
		done++;
	}
	if (done == need)
		return;
	wl_why(x, why, sizeof(why));
	for (; done < need; done++)
		plan_unplaced(p, w->name, slots[done].replica,
			      xasprintf("replica %u of %s: no node fits (%s)", slots[done].replica,
					w->name, why));
}

/* Victim order on one node: tasks not yet running first, then the highest replica. */
static int surv_cmp(const void *a, const void *b, void *ctx)
{
	const struct wl *x = ctx;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct sched_task *s = x->surv[i], *t = x->surv[j];

	if (x->surv_node[i] != x->surv_node[j])
		return x->surv_node[i] < x->surv_node[j] ? -1 : 1;
	if ((s->state == SCHED_TASK_RUNNING) != (t->state == SCHED_TASK_RUNNING))
		return s->state == SCHED_TASK_RUNNING ? 1 : -1;
	return s->replica > t->replica ? -1 : s->replica < t->replica;
}

static void wl_scale_down(struct wl *x, size_t excess, struct sched_plan *p)
{
	struct view *v = x->v;
	_cleanup_free_ size_t *order = xmalloc(x->n_surv * sizeof(*order));
	_cleanup_free_ uint32_t *next = xmalloc(v->n * sizeof(*next));
	size_t nd = wl_heaps(x, want_loaded, node_more, dom_more);

	for (size_t i = 0; i < x->n_surv; i++)
		order[i] = i;
	qsort_r(order, x->n_surv, sizeof(*order), surv_cmp, x);
	for (size_t i = x->n_surv; i-- > 0;)
		next[x->surv_node[order[i]]] = i;
	while (excess-- && nd) {
		uint32_t d = v->dheap[0], *seg = v->seg + v->dstart[d], i = seg[0];

		plan_stop(p, x->surv[order[next[i]++]], SCHED_STOP_SCALE_DOWN, x->w);
		v->count[i]--;
		v->dcount[d]--;
		if (v->count[i])
			sift_down(seg, v->dsize[d], 0, node_more, v);
		else
			seg_pop(v, d, node_more);
		if (v->dsize[d])
			sift_down(v->dheap, nd, 0, dom_more, v);
		else
			heap_pop(v->dheap, &nd, dom_more, v);
	}
}

/* Schedules one workload; tasks are its own, sorted by replica then newest first. */
static int wl_schedule(struct view *v, const struct sched_workload *w,
		       const struct sched_task **tasks, size_t n, struct sched_plan *p,
		       struct err *err)
{
	struct wl x;
	int r = wl_init(&x, v, w, err);

	if (r < 0) {
		wl_free(&x);
		return r;
	}
	wl_classify(&x);
	wl_sort_out(&x, tasks, n, p);
	if (x.n_surv > w->replicas)
		wl_scale_down(&x, x.n_surv - w->replicas, p);
	else if (x.n_surv < w->replicas)
		wl_place(&x, tasks, n, w->replicas - x.n_surv, p);
	wl_free(&x);
	return 0;
}

/* ---- entry points ---- */

static int str_cmp0(const char *a, const char *b)
{
	if (a == b) /* tasks often share their workload's name */
		return 0;
	return !a || !b ? !!a - !!b : strcmp(a, b);
}

/* Workload, replica, newest generation first, id: a total order, so input order never
 * shows in the plan. */
static int task_cmp(const void *a, const void *b)
{
	const struct sched_task *s = *(const struct sched_task *const *)a;
	const struct sched_task *t = *(const struct sched_task *const *)b;
	int r = str_cmp0(s->workload, t->workload);

	if (r)
		return r;
	if (s->replica != t->replica)
		return s->replica < t->replica ? -1 : 1;
	if (s->generation != t->generation)
		return s->generation > t->generation ? -1 : 1;
	return str_cmp0(s->id, t->id);
}

static int wl_ptr_cmp(const void *a, const void *b)
{
	return str_cmp0((*(const struct sched_workload *const *)a)->name,
			(*(const struct sched_workload *const *)b)->name);
}

int sched_place(const struct sched_cluster *c, const struct sched_workload *w,
		const struct sched_task *tasks, size_t n_tasks, struct sched_plan *ret_plan,
		struct err *err)
{
	_cleanup_free_ const struct sched_task **mine = xmalloc((n_tasks + 1) * sizeof(*mine));
	struct sched_plan p = {0};
	struct view v;
	size_t n = 0;
	int r;

	r = view_init(&v, c, err);
	for (size_t i = 0; r == 0 && i < n_tasks; i++)
		if (!tasks[i].workload || (w->name && streq(tasks[i].workload, w->name)))
			mine[n++] = &tasks[i];
	if (r == 0) {
		qsort(mine, n, sizeof(*mine), task_cmp);
		r = wl_schedule(&v, w, mine, n, &p, err);
	}
	view_free(&v);
	if (r < 0) {
		sched_plan_free(&p);
		return r;
	}
	*ret_plan = p;
	return 0;
}

static void stop_orphans(const struct sched_task **t, size_t n, struct sched_plan *p)
{
	for (size_t i = 0; i < n; i++)
		if (task_live(t[i]))
			plan_stop(p, t[i], SCHED_STOP_WORKLOAD_GONE, NULL);
}

static int reconcile(struct view *v, const struct sched_workload **ws, size_t n_ws,
		     const struct sched_task **ts, size_t n_ts, struct sched_plan *p,
		     struct err *err)
{
	size_t j = 0;

	for (size_t i = 0; i < n_ws; i++) {
		const struct sched_workload *w = ws[i];
		size_t k, orphans = j;
		struct err e = {0};

		if (!w->name || (i && streq(w->name, ws[i - 1]->name)))
			return err_msg(err, EINVAL, "workload name '%s' given twice or missing",
				       w->name ? w->name : "");
		while (j < n_ts && str_cmp0(ts[j]->workload, w->name) < 0)
			j++;
		stop_orphans(ts + orphans, j - orphans, p);
		for (k = j; k < n_ts && streq(ts[k]->workload, w->name); k++)
			;
		if (wl_schedule(v, w, ts + j, k - j, p, &e) < 0)
			plan_unplaced(p, w->name, 0, xstrdup(e.msg));
		j = k;
	}
	stop_orphans(ts + j, n_ts - j, p);
	return 0;
}

int sched_reconcile(const struct sched_cluster *c, const struct sched_workload *ws, size_t n_ws,
		    const struct sched_task *tasks, size_t n_tasks, struct sched_plan *ret_plan,
		    struct err *err)
{
	_cleanup_free_ const struct sched_workload **wp = xmalloc((n_ws + 1) * sizeof(*wp));
	_cleanup_free_ const struct sched_task **tp = xmalloc((n_tasks + 1) * sizeof(*tp));
	struct sched_plan p = {0};
	struct view v;
	int r;

	for (size_t i = 0; i < n_ws; i++)
		wp[i] = &ws[i];
	for (size_t i = 0; i < n_tasks; i++)
		tp[i] = &tasks[i];
	qsort(wp, n_ws, sizeof(*wp), wl_ptr_cmp);
	qsort(tp, n_tasks, sizeof(*tp), task_cmp);
	r = view_init(&v, c, err);
	if (r == 0)
		r = reconcile(&v, wp, n_ws, tp, n_tasks, &p, err);
	view_free(&v);
	if (r < 0) {
		sched_plan_free(&p);
		return r;
	}
	*ret_plan = p;
	return 0;
}
