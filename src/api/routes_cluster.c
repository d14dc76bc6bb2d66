/* routes_cluster: cluster-mode handlers. Reads answer at once from the local model;
 * writes hold the request until cluster_write's callback (a callback never fires when
 * the call itself fails, so each path releases exactly once). JSON handed to the cluster
 * functions is borrowed: they take their own references. */
#include "api/routes_cluster.h"

#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "agent/spec.h"
#include "api/routes.h"
#include "base/fs.h"
#include "base/js.h"
#include "base/util.h"
#include "cluster/cluster.h"

#define LABEL_KEY_MAX 253
#define LABEL_VALUE_MAX 253

/* ================= pure parts ================= */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The map's values sorted by their key (every model map's key points into its value,
 * and the key is the name or id the API sorts by). Caller frees the array. */
static void **sorted_values(const struct hmap *map, size_t *ret_n)
{
	const char **keys = xcalloc(map->len + 1, sizeof(*keys));
	void **vals = xcalloc(map->len + 1, sizeof(*vals));
	size_t i = 0, n = 0;
	const char *k;
	void *v;

	while (hmap_next(map, &i, &k, &v))
		keys[n++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (size_t j = 0; j < n; j++)
		vals[j] = hmap_get(map, keys[j]);
	free(keys);
	*ret_n = n;
	return vals;
}

static bool task_running(const struct model_task *t)
{
	return t->desired == MODEL_DESIRED_RUNNING && t->observed == MODEL_OBS_RUNNING;
}

static json_int_t node_tasks_running(const struct model *m, const char *name)
{
	size_t i = 0;
	const char *k;
	void *v;
	json_int_t n = 0;
	while (hmap_next(&m->tasks, &i, &k, &v)) {
		const struct model_task *t = v;
		n += t->node && streq(t->node, name) && task_running(t);
	}
	return n;
}

json_t *api_cluster_node_json(const struct model *m, const char *name)
{
	const struct model_node *n = model_node(m, name);
	if (!n)
		return NULL;
	json_t *j = model_node_json(n);
	json_object_set_new(j, "tasks_running", json_integer(node_tasks_running(m, name)));
	return j;
}

json_t *api_cluster_nodes_json(const struct model *m)
{
	json_t *counts = json_object(), *out = json_array();
	size_t i = 0, n;
	const char *k;
	void *v;

	/* one pass over the tasks, not one per node */
	while (hmap_next(&m->tasks, &i, &k, &v)) {
		const struct model_task *t = v;
		if (!t->node || !task_running(t))
			continue;
		json_t *c = json_object_get(counts, t->node);
		json_object_set_new(counts, t->node,
				    json_integer(json_integer_value(c) + 1));
	}
	void **nodes = sorted_values(&m->nodes, &n);
	for (size_t x = 0; x < n; x++) {
		const struct model_node *node = nodes[x];
		json_t *j = model_node_json(node);
		json_object_set_new(j, "tasks_running",
				    json_integer(json_integer_value(json_object_get(counts, node->name))));
		json_array_append_new(out, j);
	}
	free(nodes);
	json_decref(counts);
	return out;
}

json_t *api_cluster_tasks_json(const struct model *m, const char *workload)
{
	json_t *out = json_array();
	size_t n;
	void **tasks = sorted_values(&m->tasks, &n);
	for (size_t i = 0; i < n; i++) {
		const struct model_task *t = tasks[i];
		if (!workload || streq(t->workload, workload))
			json_array_append_new(out, model_task_json(t));
	}
	free(tasks);
	return out;
}

json_t *api_cluster_workloads_json(const struct model *m)
{
	json_t *by_wl = json_object(), *out = json_array();
	size_t n, nw;
	void **tasks = sorted_values(&m->tasks, &n);

	for (size_t i = 0; i < n; i++) {
		const struct model_task *t = tasks[i];
		json_t *g = json_object_get(by_wl, t->workload);
		if (!g) {
			g = json_pack("{s:[],s:I}", "tasks", "running", (json_int_t)0);
			json_object_set_new(by_wl, t->workload, g);
		}
		json_array_append_new(json_object_get(g, "tasks"), model_task_json(t));
		if (task_running(t))
			json_object_set_new(g, "running",
					    json_integer(json_integer_value(json_object_get(g, "running")) + 1));
	}
	void **wls = sorted_values(&m->workloads, &nw);
	for (size_t i = 0; i < nw; i++) {
		const struct model_workload *w = wls[i];
		json_t *j = model_workload_json(w), *g = json_object_get(by_wl, w->name);
		json_t *ts = json_object_get(g, "tasks");
		json_object_set_new(j, "tasks", ts ? json_incref(ts) : json_array());
		json_object_set_new(j, "running",
				    json_integer(json_integer_value(json_object_get(g, "running"))));
		json_array_append_new(out, j);
	}
	free(tasks);
	free(wls);
	json_decref(by_wl);
	return out;
}

static bool label_key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > LABEL_KEY_MAX)
		return false;
	for (const char *p = k; *p; p++)
		if (*p <= ' ' || *p == '=' || *p == 0x7f)
			return false;
	return true;
}

int api_cluster_label_cmd(const char *name, json_t *body, json_t **ret, struct err *err)
{
	json_t *set = json_object_get(body, "set"), *rm = json_object_get(body, "remove"), *v;
	const char *k;
	size_t i;

	json_object_foreach(body, k, v)
		if (!streq(k, "set") && !streq(k, "remove"))
			return err_msg(err, EINVAL, "%s: unknown field (set, remove)", k);
	if (set && !json_is_object(set))
		return err_msg(err, EINVAL, "set: expected an object of strings");
	if (rm && !json_is_array(rm))
		return err_msg(err, EINVAL, "remove: expected an array of label keys");
	if (json_object_size(set) + json_array_size(rm) == 0)
		return err_msg(err, EINVAL, "set: expected labels to set or remove");
	if (json_object_size(set) > MODEL_MAX_LABELS)
		return err_msg(err, E2BIG, "set: more than %d labels", MODEL_MAX_LABELS);
	json_object_foreach(set, k, v) {
		if (!label_key_ok(k))
			return err_msg(err, EINVAL, "set: '%.64s' is not a label key", k);
		if (!json_is_string(v) || strlen(json_string_value(v)) > LABEL_VALUE_MAX)
			return err_msg(err, EINVAL, "set: the value of '%.64s' must be a string of at most %d bytes",
				       k, LABEL_VALUE_MAX);
	}
	json_array_foreach(rm, i, v)
		if (!json_is_string(v) || !label_key_ok(json_string_value(v)))
			return err_msg(err, EINVAL, "remove[%zu]: expected a label key", i);
	*ret = json_pack("{s:s,s:s,s:o,s:o}", "op", "node.label", "name", name, "set",
			 set ? json_incref(set) : json_object(), "remove",
			 rm ? json_incref(rm) : json_array());
	return 0;
}

int api_cluster_speaks_for(const struct model *m, const char *cn, const char *name,
			   const char *what, struct err *err)
{
	const struct model_node *n;

	if (!cn || !name || streq(cn, name))
		return 0;
	n = model_node(m, cn);
	if (n && n->role == MODEL_ROLE_SERVER)
		return 0;
	return err_msg(err, EACCES, "%s for node '%.63s' sent with the certificate of node '%.63s'",
		       what, name, cn);
}

int api_cluster_cmd_identity(const struct model *m, const char *cn, json_t *cmd,
			     struct err *err)
{
	const char *op = json_string_value(json_object_get(cmd, "op"));
	json_t *it;
	size_t i;
	int r;

	if (!op)
		return 0; /* the state machine refuses it */
	if (streq(op, "node.register"))
		return api_cluster_speaks_for(m, cn, json_string_value(json_object_get(cmd, "name")),
					      "registration", err);
	if (streq(op, "cert.add"))
		return api_cluster_speaks_for(m, cn, json_string_value(json_object_get(cmd, "node")),
					      "certificate record", err);
	if (!streq(op, "task.status"))
		return 0;
	json_array_foreach(json_object_get(cmd, "reports"), i, it)
		if ((r = api_cluster_speaks_for(m, cn, json_string_value(json_object_get(it, "node")),
						"task report", err)) < 0)
			return r;
	return 0;
}

json_t *api_cluster_watch_next(const struct model *m, uint64_t *after, size_t max,
			       bool *ret_stale)
{
	struct err err = { 0 };
	json_t *lines = NULL;

	*ret_stale = false;
	if (*after >= m->event_seq)
		return json_array();
	if (model_watch(m, *after, max, &lines, &err) < 0) {
		*ret_stale = true;
		return json_pack("[{s:{s:s,s:s},s:I,s:I}]", "error", "code", "stale", "message",
				 err.msg, "first", (json_int_t)model_event_first(m), "seq",
				 (json_int_t)m->event_seq);
	}
	size_t n = json_array_size(lines);
	if (n)
		*after = json_integer_value(json_object_get(json_array_get(lines, n - 1), "seq"));
	return lines;
}

static const char *const watch_filter_keys[] = { "type", "action", "name", "workload", "node" };

int api_cluster_filter_check(const char *filter, struct err *err)
{
	const char *eq = strchr(filter, '=');
	if (!eq || eq == filter || !eq[1])
		return err_msg(err, EINVAL, "filter: expected KEY=VALUE, got '%.100s'", filter);
	for (size_t i = 0; i < ARRAY_SIZE(watch_filter_keys); i++)
		if (strlen(watch_filter_keys[i]) == (size_t)(eq - filter) &&
		    strncmp(filter, watch_filter_keys[i], eq - filter) == 0)
			return 0;
	return err_msg(err, EINVAL,
		       "filter: unknown key in '%.100s' (type, action, name, workload, node)", filter);
}

const char *api_cluster_event_name(json_t *ev, char *buf, size_t n)
{
	json_t *o = json_object_get(ev, "object");
	const char *s = json_string_value(json_object_get(o, "name"));
	if (s || (s = json_string_value(json_object_get(o, "id"))))
		return s;
	const char *vpc = json_string_value(json_object_get(o, "vpc"));
	const char *node = json_string_value(json_object_get(o, "node"));
	if (vpc && node) {
		snprintf(buf, n, "%s/%s", vpc, node);
		return buf;
	}
	return "";
}

/* The value of filter key k for an event, or NULL. */
static const char *event_field(json_t *ev, const char *k, char *buf, size_t n)
{
	json_t *o = json_object_get(ev, "object");
	const char *type = json_string_value(json_object_get(ev, "type"));
	if (streq(k, "type") || streq(k, "action"))
		return json_string_value(json_object_get(ev, k));
	if (streq(k, "name"))
		return api_cluster_event_name(ev, buf, n);
	/* workload, node: the task's (or lease's) own, or the object itself */
	if (type && streq(type, k))
		return json_string_value(json_object_get(o, "name"));
	return json_string_value(json_object_get(o, k));
}

bool api_cluster_event_matches(json_t *ev, char *const *filters)
{
	for (size_t i = 0; filters && filters[i]; i++) {
		const char *eq = strchr(filters[i], '=');
		char buf[2 * MODEL_NAME_MAX + 2];
		if (!eq)
			return false;
		_cleanup_free_ char *k = strndup(filters[i], eq - filters[i]);
		const char *v = event_field(ev, k, buf, sizeof(buf));
		if (!v || !streq(v, eq + 1))
			return false;
	}
	return true;
}

static char *event_details(json_t *ev)
{
	json_t *o = json_object_get(ev, "object");
	const char *type = json_string_value(json_object_get(ev, "type"));
	const char *node = json_string_value(json_object_get(o, "node"));
	const char *msg = json_string_value(json_object_get(o, "message"));

	if (!type)
		return NULL;
	if (streq(type, "task") && json_object_get(o, "observed"))
		return xasprintf("node=%s, desired=%s, observed=%s%s%.80s", node ? node : "-",
				 json_string_value(json_object_get(o, "desired")) ?: "",
				 json_string_value(json_object_get(o, "observed")) ?: "",
				 msg ? ": " : "", msg ? msg : "");
	if (streq(type, "node") && json_object_get(o, "state")) {
		_cleanup_free_ char *labels = json_object_size(json_object_get(o, "labels"))
			? json_dumps(json_object_get(o, "labels"), JSON_COMPACT | JSON_SORT_KEYS)
			: NULL;
		return xasprintf("state=%s%s%.200s", json_string_value(json_object_get(o, "state")) ?: "",
				 labels ? ", labels=" : "", labels ? labels : "");
	}
	if (streq(type, "lease") && json_object_get(o, "subnet"))
		return xasprintf("subnet=%s", json_string_value(json_object_get(o, "subnet")) ?: "");
	if (streq(type, "command") && json_object_get(o, "error"))
		return xasprintf("op=%s: %.200s", json_string_value(json_object_get(o, "op")) ?: "?",
				 json_string_value(json_object_get(o, "error")) ?: "");
	return NULL;
}

char *api_cluster_event_text(json_t *ev)
{
	json_int_t ts = json_integer_value(json_object_get(ev, "ts"));
	time_t secs = (time_t)(ts / 1000);
	struct tm tm;
	char when[40] = "-", nbuf[2 * MODEL_NAME_MAX + 2];

	if (ts > 0 && gmtime_r(&secs, &tm))
		snprintf(when + strftime(when, sizeof(when) - 8, "%Y-%m-%dT%H:%M:%S", &tm), 8,
			 ".%03dZ", (int)(ts % 1000));
	const char *name = api_cluster_event_name(ev, nbuf, sizeof(nbuf));
	_cleanup_free_ char *d = event_details(ev);
	return xasprintf("%" JSON_INTEGER_FORMAT " %s %s %s %s%s%s%s",
			 json_integer_value(json_object_get(ev, "seq")), when,
			 json_string_value(json_object_get(ev, "type")) ?: "?",
			 json_string_value(json_object_get(ev, "action")) ?: "?", *name ? name : "-",
			 d ? " (" : "", d ? d : "", d ? ")" : "");
}

/* ================= replies ================= */

static bool unavailable_errno(int e)
{
	return e == EAGAIN || e == ETIMEDOUT || e == ENOTCONN || e == ECONNREFUSED ||
	       e == EHOSTUNREACH || e == ESHUTDOWN || e == ECANCELED || e == ECONNRESET;
}

static void reply_status(struct api_req *req, int status, const struct err *err)
{
	const char *msg = err && err->msg[0] ? err->msg : strerror(-status);
	const char *code;
	unsigned st;

	if (unavailable_errno(-status))
		st = 503, code = "unavailable";
	else
		st = api_status_for(status, &code);
	_cleanup_free_ char *field = st == 422 ? api_error_field(msg) : NULL;
	api_reply_error(req, st, code, field, "%s", msg);
}

void api_cluster_reply(struct api_req *req, int status, json_t *result, const struct err *err)
{
	if (status < 0)
		return reply_status(req, status, err);
	json_int_t code = json_integer_value(json_object_get(result, "code"));
	if (code < 0) {
		const char *m = json_string_value(json_object_get(result, "message"));
		return api_reply_error(req, 409, "rejected", NULL, "%s",
				       m && *m ? m : strerror((int)-code));
	}
	api_reply_json(req, 200, result ? json_deep_copy(result) : json_object());
}

static void on_write_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct api_req *req = ctx;
	api_cluster_reply(req, status, result, err);
	api_req_release(req);
}

/* Proposes cmd (borrowed) and answers with its outcome. */
static void write_cmd(struct cluster *c, struct api_req *req, json_t *cmd)
{
	struct err err = { 0 };
	api_req_hold(req);
	int r = cluster_write(c, cmd, on_write_done, req, &err);
	if (r < 0) {
		api_req_release(req);
		reply_status(req, r, &err);
	}
}

static bool body_object(struct api_req *req, json_t **ret)
{
	struct err err = { 0 };
	size_t len;
	const char *b = api_req_body(req, &len);
	int r = api_body_object(b, len, ret, &err);
	if (r < 0)
		reply_status(req, r, &err);
	return r == 0;
}

static const struct model *model_or_reply(struct cluster *c, struct api_req *req)
{
	const struct model *m = cluster_model(c);
	if (!m)
		api_reply_error(req, 503, "unavailable", NULL,
				"the cluster's state is not loaded yet: try again");
	return m;
}

static bool query_flag(struct api_req *req, const char *key)
{
	const char *v = api_req_query(req, key);
	return v && (streq(v, "1") || streq(v, "true") || streq(v, "yes") || !*v);
}

/* Node-to-node routes: a node certificate, or root on the unix socket. */
static bool node_only(struct api_req *req)
{
	enum auth_role r = api_req_role(req);
	if (r == AUTH_NODE || (r == AUTH_ADMIN && api_req_local(req)))
		return true;
	api_reply_error(req, 403, "forbidden", NULL,
			"%s %s is for cluster nodes (a node certificate) only", api_req_method(req),
			api_req_path(req));
	return false;
}

/* ================= the cluster ================= */

void api_cluster_get(struct cluster *c, struct api_req *req, char **p)
{
	json_t *s = cluster_status(c);
	if (!s)
		return api_reply_error(req, 503, "unavailable", NULL, "the cluster's status is not known yet");
	api_reply_json(req, 200, s);
}

void api_cluster_ca(struct cluster *c, struct api_req *req, char **p)
{
	struct err err = { 0 };
	_cleanup_free_ char *pem = NULL;
	const char *path = cluster_ca_file(c);
	int r;
	if (!path)
		return api_reply_error(req, 503, "unavailable", NULL, "this node has no cluster CA yet");
	if ((r = fs_read(path, &pem, &err)) < 0)
		return reply_status(req, r, &err);
	api_reply_json(req, 200, json_pack("{s:s}", "ca", pem));
}

static void on_join_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct api_req *req = ctx;
	if (status < 0)
		reply_status(req, status, err);
	else
		api_reply_json(req, 200, result ? json_deep_copy(result) : json_object());
	api_req_release(req);
}

void api_cluster_join(struct cluster *c, struct api_req *req, char **p)
{
	_cleanup_json_ json_t *body = NULL;
	struct err err = { 0 };
	if (!body_object(req, &body))
		return;
	api_req_hold(req);
	int r = cluster_join_request(c, body, on_join_done, req, &err);
	if (r < 0) {
		api_req_release(req);
		reply_status(req, r, &err);
	}
}

void api_cluster_propose(struct cluster *c, struct api_req *req, char **p)
{
	_cleanup_json_ json_t *cmd = NULL;
	struct err err = { 0 };
	int r;
	if (!node_only(req) || !body_object(req, &cmd))
		return;
	if ((r = api_cluster_cmd_identity(cluster_model(c), api_req_peer_cn(req), cmd, &err)) < 0)
		return reply_status(req, r, &err);
	write_cmd(c, req, cmd);
}

void api_cluster_heartbeat(struct cluster *c, struct api_req *req, char **p)
{
	_cleanup_json_ json_t *body = NULL;
	struct err err = { 0 };
	int r;
	if (!node_only(req) || !body_object(req, &body))
		return;
	const char *name = json_string_value(json_object_get(body, "name"));
	if ((r = api_cluster_speaks_for(cluster_model(c), api_req_peer_cn(req), name, "heartbeat",
					&err)) < 0 ||
	    (r = cluster_heartbeat(c, body, &err)) < 0)
		return reply_status(req, r, &err);
	api_reply_json(req, 200, json_object());
}

static void on_renew_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct api_req *req = ctx;
	if (status < 0)
		reply_status(req, status, err);
	else
		api_reply_json(req, 200, json_deep_copy(result));
	api_req_release(req);
}

void api_cluster_renew(struct cluster *c, struct api_req *req, char **p)
{
	_cleanup_json_ json_t *body = NULL;
	struct err err = { 0 };
	const char *cn = api_req_peer_cn(req);
	if (!node_only(req))
		return;
	if (!cn)
		return api_reply_error(req, 403, "forbidden", NULL,
				       "%s %s renews the certificate the request comes with: use a "
				       "node certificate", api_req_method(req), api_req_path(req));
	if (!body_object(req, &body))
		return;
	api_req_hold(req);
	int r = cluster_renew_request(c, cn, body, on_renew_done, req, &err);
	if (r < 0) {
		api_req_release(req);
		reply_status(req, r, &err);
	}
}

/* ================= nodes ================= */

void api_cluster_nodes(struct cluster *c, struct api_req *req, char **p)
{
	const struct model *m = model_or_reply(c, req);
	if (m)
		api_reply_json(req, 200, api_cluster_nodes_json(m));
}

static bool node_exists(struct cluster *c, struct api_req *req, const char *name)
{
	const struct model *m = model_or_reply(c, req);
	if (!m)
		return false;
	if (!model_node(m, name)) {
		api_reply_error(req, 404, "not_found", NULL, "no such node: %.100s", name);
		return false;
	}
	return true;
}

void api_cluster_node(struct cluster *c, struct api_req *req, char **p)
{
	const struct model *m = model_or_reply(c, req);
	json_t *j = m ? api_cluster_node_json(m, p[0]) : NULL;
	if (!m)
		return;
	if (!j)
		return api_reply_error(req, 404, "not_found", NULL, "no such node: %.100s", p[0]);
	api_reply_json(req, 200, j);
}

void api_cluster_node_labels(struct cluster *c, struct api_req *req, char **p)
{
	_cleanup_json_ json_t *body = NULL, *cmd = NULL;
	struct err err = { 0 };
	int r;
	if (!node_exists(c, req, p[0]) || !body_object(req, &body))
		return;
	if ((r = api_cluster_label_cmd(p[0], body, &cmd, &err)) < 0)
		return reply_status(req, r, &err);
	write_cmd(c, req, cmd);
}

static void node_state(struct cluster *c, struct api_req *req, const char *name,
		       const char *state)
{
	if (!node_exists(c, req, name))
		return;
	_cleanup_json_ json_t *cmd =
		json_pack("{s:s,s:s,s:s}", "op", "node.state", "name", name, "state", state);
	write_cmd(c, req, cmd);
}

void api_cluster_node_drain(struct cluster *c, struct api_req *req, char **p)
{
	node_state(c, req, p[0], "draining");
}

void api_cluster_node_activate(struct cluster *c, struct api_req *req, char **p)
{
	node_state(c, req, p[0], "ready");
}

void api_cluster_node_rm(struct cluster *c, struct api_req *req, char **p)
{
	struct err err = { 0 };
	if (!node_exists(c, req, p[0]))
		return;
	api_req_hold(req);
	int r = cluster_node_remove(c, p[0], query_flag(req, "force"), on_write_done, req, &err);
	if (r < 0) {
		api_req_release(req);
		reply_status(req, r, &err);
	}
}

/* ================= tasks, tokens ================= */

void api_cluster_tasks(struct cluster *c, struct api_req *req, char **p)
{
	const struct model *m = model_or_reply(c, req);
	const char *w = api_req_query(req, "workload");
	if (m)
		api_reply_json(req, 200, api_cluster_tasks_json(m, w && *w ? w : NULL));
}

static void on_token_done(void *ctx, int status, json_t *result, const struct err *err)
{
	struct api_req *req = ctx;
	const char *tok = json_string_value(json_object_get(result, "token"));
	if (status == 0 && json_integer_value(json_object_get(result, "code")) >= 0 && !tok)
		api_reply_error(req, 500, "internal", NULL, "the cluster made no token");
	else if (status == 0 && tok)
		api_reply_json(req, 201, json_pack("{s:s,s:O?}", "token", tok, "index",
						   json_object_get(result, "index")));
	else
		api_cluster_reply(req, status, result, err);
	api_req_release(req);
}

void api_cluster_token_join(struct cluster *c, struct api_req *req, char **p)
{
	_cleanup_json_ json_t *body = NULL;
	struct err err = { 0 };
	if (!body_object(req, &body))
		return;
	const char *role = json_string_value(json_object_get(body, "role"));
	json_t *ttl = json_object_get(body, "ttl_s");
	if (!role || (!streq(role, "server") && !streq(role, "agent")))
		return api_reply_error(req, 422, "invalid", "role",
				       "role: expected server or agent");
	if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 0))
		return api_reply_error(req, 422, "invalid", "ttl_s",
				       "ttl_s: expected a number of seconds >= 0 (0: never expires)");
	api_req_hold(req);
	int r = cluster_token_create(c, role, ttl ? json_integer_value(ttl) : 0, on_token_done,
				     req, &err);
	if (r < 0) {
		api_req_release(req);
		reply_status(req, r, &err);
	}
}

/* ================= workloads ================= */

void api_cluster_workloads(struct cluster *c, struct api_req *req, char **p)
{
	const struct model *m = model_or_reply(c, req);
	if (m)
		api_reply_json(req, 200, api_cluster_workloads_json(m));
}

void api_cluster_workload_put(struct cluster *c, struct api_req *req, json_t *spec,
			      bool create_only)
{
	struct err err = { 0 };
	int r = ag_spec_validate(spec, &err);
	if (r < 0)
		return reply_status(req, r, &err);
	_cleanup_json_ json_t *cmd = json_pack("{s:s,s:O,s:O}", "op", "workload.put", "name",
					       json_object_get(spec, "name"), "spec", spec);
	if (create_only)
		json_object_set_new(cmd, "version", json_integer(0));
	write_cmd(c, req, cmd);
}

void api_cluster_workload_rm(struct cluster *c, struct api_req *req, char **p)
{
	const struct model *m = model_or_reply(c, req);
	if (!m)
		return;
	if (!model_workload(m, p[0]))
		return api_reply_error(req, 404, "not_found", NULL, "no such workload: %.100s", p[0]);
	_cleanup_json_ json_t *cmd =
		json_pack("{s:s,s:s}", "op", "workload.delete", "name", p[0]);
	write_cmd(c, req, cmd);
}

/* ================= watches ================= */

/* A watch is woken by the log: the cluster calls its listener after every applied
 * entry and after a snapshot restore, the listener starts a check handle, and the check
 * (after the loop's I/O phase, in the same turn: once however many entries that turn
 * applied) sends everything new. Nothing polls. While the client's unsent bytes pass
 * API_STREAM_MAX_PENDING the watch waits, retrying every API_WATCH_RETRY_MS; a client
 * that stays slow for a whole ring of events gets the stale line. Resuming is by seq
 * (w->after), as before. */
struct watch {
	struct cluster *c;
	struct api_req *req;
	struct cluster_listener listener;
	uv_check_t wake;
	uv_timer_t retry;
	int handles; /* open libuv handles: freed when both are closed */
	uint64_t after;	 /* highest seq sent (or skipped by the filters) */
	char **filters;
	bool follow, closed;
};

static int n_watches;

static void watch_free(uv_handle_t *h)
{
	struct watch *w = h->data;
	if (--w->handles > 0)
		return;
	strv_free(w->filters);
	free(w);
}

static void watch_close(void *ctx)
{
	struct watch *w = ctx;
	if (w->closed)
		return;
	w->closed = true;
	n_watches--;
	api_req_release(w->req);
	cluster_unlisten_applies(&w->listener);
	uv_check_stop(&w->wake);
	uv_timer_stop(&w->retry);
	uv_close((uv_handle_t *)&w->wake, watch_free);
	uv_close((uv_handle_t *)&w->retry, watch_free);
}

static void on_watch_retry(uv_timer_t *t);

/* Sends what is new; ends the stream after a stale line, or when not following. */
static void watch_send(struct watch *w)
{
	const struct model *m = cluster_model(w->c);
	bool stale = false;
	size_t i;
	json_t *line;

	if (!m)
		return;
	if (api_stream_pending(w->req) > API_STREAM_MAX_PENDING) {
		if (!uv_is_active((uv_handle_t *)&w->retry))
			uv_timer_start(&w->retry, on_watch_retry, API_WATCH_RETRY_MS, 0);
		return;
	}
	_cleanup_json_ json_t *lines = api_cluster_watch_next(m, &w->after, 0, &stale);
	json_array_foreach(lines, i, line)
	{
		if (!stale && !api_cluster_event_matches(line, w->filters))
			continue;
		api_stream_json(w->req, line);
		if (w->closed)
			return;
	}
	if (stale || !w->follow)
		api_stream_end(w->req); /* -> watch_close */
}

static void on_watch_retry(uv_timer_t *t)
{
	watch_send(t->data);
}

static void on_watch_wake(uv_check_t *h)
{
	uv_check_stop(h);
	watch_send(h->data);
}

/* Called by the cluster once per applied entry: only arms the check. */
static void on_watch_applied(struct cluster_listener *l)
{
	struct watch *w = l->data;
	uv_check_start(&w->wake, on_watch_wake);
}

/* ?since=N: true with *ret set (untouched when absent); false after replying 400. */
static bool query_seq(struct api_req *req, uint64_t *ret, bool *ret_set)
{
	const char *v = api_req_query(req, "since");
	char *end;

	*ret_set = v != NULL;
	if (!v)
		return true;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (!*v || *end || errno || v[0] == '-') {
		api_reply_error(req, 400, "bad_request", "since",
				"query since: expected an event number (seq), got '%.40s'", v);
		return false;
	}
	*ret = n;
	return true;
}

void api_cluster_watch(struct cluster *c, uv_loop_t *loop, struct api_req *req)
{
	const struct model *m = model_or_reply(c, req);
	uint64_t since = 0;
	bool since_set;
	const char *f = api_req_query(req, "follow"), *fl = api_req_query(req, "filter");
	_cleanup_strv_ char **filters = NULL;
	struct err err = { 0 };

	if (!m || !query_seq(req, &since, &since_set))
		return;
	if (fl && *fl) {
		_cleanup_free_ char *copy = xstrdup(fl);
		for (char *tok, *save = NULL, *s = copy; (tok = strtok_r(s, ",", &save)); s = NULL) {
			if (api_cluster_filter_check(tok, &err) < 0)
				return api_reply_error(req, 422, "invalid", "filter", "%s", err.msg);
			filters = strv_append(filters, tok);
		}
	}
	if (n_watches >= API_CLUSTER_MAX_WATCHES)
		return api_reply_error(req, 409, "limit_reached", NULL,
				       "too many open watches (at most %d): close some",
				       API_CLUSTER_MAX_WATCHES);
	struct watch *w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->req = api_req_hold(req);
	w->filters = take_ptr(filters);
	/* no since: every event still kept, never stale */
	w->after = since_set ? since : model_event_first(m) - 1;
	w->follow = !(f && (streq(f, "0") || streq(f, "false") || streq(f, "no")));
	uv_check_init(loop, &w->wake);
	uv_timer_init(loop, &w->retry);
	w->wake.data = w->retry.data = w;
	w->handles = 2;
	w->listener.fn = on_watch_applied;
	w->listener.data = w;
	n_watches++;
	api_stream_begin(req, 200, watch_close, w);
	if (w->closed)
		return;
	cluster_listen_applies(c, &w->listener);
	watch_send(w);
}
