/* The API's cluster parts that need no running cluster: the new routes' matching, the
 * open-route rule, the node role, the model-to-JSON views (on a model built here), the
 * label command — and a real server (unix socket + TLS on 127.0.0.1) with a test CA:
 * single-node mode answers 404 not_clustered, a client certificate signed by the CA
 * authenticates as a node without a token, other callers fall back to tokens (401), and
 * the open routes pass authentication without any credentials. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/client.h"
#include "api/routes.h"
#include "api/routes_cluster.h"
#include "api/server.h"
#include "base/fs.h"
#include "base/util.h"
#include "cluster/pki.h"

/* ---- pure parts ---- */

static void test_routes(void **state)
{
	static const struct {
		const char *method, *path;
		int want;
		const char *p0;
	} cases[] = {
		{ "GET", "/v1/cluster", 0, NULL },
		{ "GET", "/v1/cluster/ca", 0, NULL },
		{ "POST", "/v1/cluster/join", 0, NULL },
		{ "POST", "/v1/cluster/propose", 0, NULL },
		{ "POST", "/v1/cluster/heartbeat", 0, NULL },
		{ "POST", "/v1/cluster/renew", 0, NULL },
		{ "GET", "/v1/cluster/heartbeat", -EOPNOTSUPP, NULL },
		{ "GET", "/v1/nodes", 0, NULL },
		{ "GET", "/v1/nodes/node-1", 0, "node-1" },
		{ "DELETE", "/v1/nodes/node-1", 0, "node-1" },
		{ "POST", "/v1/nodes/n2/labels", 0, "n2" },
		{ "POST", "/v1/nodes/n2/drain", 0, "n2" },
		{ "POST", "/v1/nodes/n2/activate", 0, "n2" },
		{ "GET", "/v1/nodes/n2/drain", -EOPNOTSUPP, NULL },
		{ "POST", "/v1/nodes/n2/reboot", -ENOENT, NULL },
		{ "GET", "/v1/tasks", 0, NULL },
		{ "POST", "/v1/tokens/join", 0, NULL },
		{ "DELETE", "/v1/tokens/join", 0, "join" }, /* an access token named "join" */
		{ "POST", "/v1/tokens", 0, NULL },
		{ "GET", "/v1/watch", 0, NULL },
		{ "POST", "/v1/watch", -EOPNOTSUPP, NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *p[API_MAX_PARAMS] = { 0 };
		int idx = -1, r = api_route_match(cases[i].method, cases[i].path, &idx, p);
		if (r != cases[i].want)
			fail_msg("%s %s: got %d, want %d", cases[i].method, cases[i].path, r,
				 cases[i].want);
		if (cases[i].p0)
			assert_string_equal(p[0], cases[i].p0);
		for (int k = 0; k < API_MAX_PARAMS; k++)
			free(p[k]);
	}
}

static void test_open_routes_and_roles(void **state)
{
	assert_true(api_server_open_route("GET", "/v1/cluster/ca"));
	assert_true(api_server_open_route("POST", "/v1/cluster/join"));
	assert_false(api_server_open_route("POST", "/v1/cluster/ca"));
	assert_false(api_server_open_route("GET", "/v1/cluster"));
	assert_false(api_server_open_route("POST", "/v1/cluster/propose"));
	assert_false(api_server_open_route("GET", "/v1/cluster/ca/"));
	assert_false(api_server_open_route("GET", "/v1/version"));
	assert_true(auth_role_allows(AUTH_NODE, "POST"));
	assert_true(auth_role_allows(AUTH_NODE, "DELETE"));
	assert_true(auth_role_allows(AUTH_NODE, "GET"));
	assert_string_equal(auth_role_name(AUTH_NODE), "node");
	assert_int_equal(auth_role_parse("node"), AUTH_NONE); /* never a token's role */
	const char *code;
	assert_int_equal(api_status_for(-EREMOTE, &code), 421);
	assert_string_equal(code, "not_leader");
}

static struct model *sample_model(void)
{
	struct model *m = model_new();
	struct model_node *b = model_node_add(m, "b"), *a = model_node_add(m, "a");
	model_node_add(m, "c");
	free(a->address);
	a->address = xstrdup("10.0.0.1:7443");
	free(b->address);
	b->address = xstrdup("10.0.0.2:7443");
	model_workload_add(m, "web");
	model_workload_add(m, "db");
	struct model_task *t;
	t = model_task_add(m, "web", 2);
	model_task_assign(m, t, "a", MODEL_DESIRED_RUNNING, NULL);
	t->observed = MODEL_OBS_RUNNING;
	t = model_task_add(m, "web", 1);
	model_task_assign(m, t, "a", MODEL_DESIRED_RUNNING, NULL);
	t->observed = MODEL_OBS_RUNNING;
	t = model_task_add(m, "web", 3);
	model_task_assign(m, t, "b", MODEL_DESIRED_RUNNING, NULL);
	t->observed = MODEL_OBS_STARTING;
	t = model_task_add(m, "db", 1);
	model_task_assign(m, t, "b", MODEL_DESIRED_STOPPED, NULL);
	t->observed = MODEL_OBS_RUNNING; /* still running, but to be stopped: not counted */
	return m;
}

static void test_model_views(void **state)
{
	_cleanup_model_ struct model *m = sample_model();
	json_t *ns = api_cluster_nodes_json(m);
	assert_int_equal(json_array_size(ns), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ns, 0), "name")), "a");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ns, 2), "name")), "c");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(ns, 0), "tasks_running")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(ns, 1), "tasks_running")), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ns, 1), "address")),
			    "10.0.0.2:7443");
	json_decref(ns);

	json_t *n = api_cluster_node_json(m, "a");
	assert_int_equal(json_integer_value(json_object_get(n, "tasks_running")), 2);
	json_decref(n);
	assert_null(api_cluster_node_json(m, "zz"));

	json_t *ts = api_cluster_tasks_json(m, NULL);
	assert_int_equal(json_array_size(ts), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ts, 0), "id")), "db.1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ts, 3), "id")), "web.3");
	json_decref(ts);
	ts = api_cluster_tasks_json(m, "web");
	assert_int_equal(json_array_size(ts), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ts, 0), "id")), "web.1");
	json_decref(ts);
	ts = api_cluster_tasks_json(m, "nope");
	assert_int_equal(json_array_size(ts), 0);
	json_decref(ts);

	json_t *ws = api_cluster_workloads_json(m);
	assert_int_equal(json_array_size(ws), 2);
	json_t *db = json_array_get(ws, 0), *web = json_array_get(ws, 1);
	assert_string_equal(json_string_value(json_object_get(db, "name")), "db");
	assert_int_equal(json_integer_value(json_object_get(db, "running")), 0);
	assert_int_equal(json_array_size(json_object_get(db, "tasks")), 1);
	assert_int_equal(json_integer_value(json_object_get(web, "running")), 2);
	assert_int_equal(json_array_size(json_object_get(web, "tasks")), 3);
	json_decref(ws);

	struct model *empty = model_new();
	ws = api_cluster_workloads_json(empty);
	assert_int_equal(json_array_size(ws), 0);
	json_decref(ws);
	model_free(empty);
}

/* A node's certificate speaks for that node only; a server's for any (it forwards). */
static void test_identity(void **state)
{
	_cleanup_model_ struct model *m = sample_model();
	struct err err = { 0 };

	model_node(m, "a")->role = MODEL_ROLE_SERVER;
	model_node(m, "b")->role = MODEL_ROLE_AGENT;
	assert_int_equal(api_cluster_speaks_for(m, "b", "b", "heartbeat", &err), 0);
	assert_int_equal(api_cluster_speaks_for(m, NULL, "b", "heartbeat", &err), 0); /* root */
	assert_int_equal(api_cluster_speaks_for(m, "a", "b", "heartbeat", &err), 0);
	assert_int_equal(api_cluster_speaks_for(m, "b", "a", "heartbeat", &err), -EACCES);
	assert_string_equal(err.msg, "heartbeat for node 'a' sent with the certificate of node 'b'");
	/* a certificate whose node the model does not know (removed) speaks for nobody else */
	assert_int_equal(api_cluster_speaks_for(m, "gone", "b", "heartbeat", &err), -EACCES);

	json_t *ok = json_pack("{s:s,s:[{s:s},{s:s}]}", "op", "task.status", "reports", "node", "b",
			       "node", "b");
	json_t *bad = json_pack("{s:s,s:[{s:s},{s:s}]}", "op", "task.status", "reports", "node",
				"b", "node", "c");
	json_t *reg = json_pack("{s:s,s:s}", "op", "node.register", "name", "c");
	json_t *cert = json_pack("{s:s,s:s}", "op", "cert.add", "node", "c");
	json_t *label = json_pack("{s:s,s:s}", "op", "node.label", "name", "c");
	assert_int_equal(api_cluster_cmd_identity(m, "b", ok, &err), 0);
	assert_int_equal(api_cluster_cmd_identity(m, "b", bad, &err), -EACCES);
	assert_non_null(strstr(err.msg, "task report for node 'c'"));
	assert_int_equal(api_cluster_cmd_identity(m, "a", bad, &err), 0);
	assert_int_equal(api_cluster_cmd_identity(m, "b", reg, &err), -EACCES);
	assert_int_equal(api_cluster_cmd_identity(m, "b", cert, &err), -EACCES);
	/* a user's command forwarded by an agent is not on a node's own behalf */
	assert_int_equal(api_cluster_cmd_identity(m, "b", label, &err), 0);
	json_decref(ok);
	json_decref(bad);
	json_decref(reg);
	json_decref(cert);
	json_decref(label);
}

static void test_label_cmd(void **state)
{
	struct err err = { 0 };
	json_t *cmd = NULL;
	json_t *body = json_pack("{s:{s:s},s:[s]}", "set", "disk", "ssd", "remove", "zone");
	assert_int_equal(api_cluster_label_cmd("n1", body, &cmd, &err), 0);
	assert_string_equal(json_string_value(json_object_get(cmd, "op")), "node.label");
	assert_string_equal(json_string_value(json_object_get(cmd, "name")), "n1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(cmd, "set"), "disk")), "ssd");
	assert_string_equal(json_string_value(json_array_get(json_object_get(cmd, "remove"), 0)), "zone");
	json_decref(cmd);
	json_decref(body);

	body = json_pack("{s:[s]}", "remove", "zone");
	assert_int_equal(api_cluster_label_cmd("n1", body, &cmd, &err), 0);
	assert_int_equal(json_object_size(json_object_get(cmd, "set")), 0);
	json_decref(cmd);
	json_decref(body);

	static const char *const bad[] = {
		"{}", "{\"set\":[]}", "{\"set\":{\"a\":1}}", "{\"set\":{\"a b\":\"x\"}}",
		"{\"remove\":[\"\"]}", "{\"remove\":\"x\"}", "{\"colour\":{}}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		body = json_loads(bad[i], 0, NULL);
		assert_non_null(body);
		cmd = NULL;
		if (api_cluster_label_cmd("n1", body, &cmd, &err) != -EINVAL)
			fail_msg("%s: accepted", bad[i]);
		assert_null(cmd);
		json_decref(body);
	}
}

/* ---- a real server: unix socket and TLS with a test CA ---- */

static const struct api_engine no_engine = { 0 };

static struct {
	char dir[64], sock[128], endpoint[64];
	char ca[128], srv_crt[128], srv_key[128], cli_crt[128], cli_key[128], other_crt[128],
		other_key[128];
	uv_loop_t loop;
	uv_async_t stop;
	struct api_server *srv;
	struct api_routes *rt;
	pthread_t thread;
	char revoked[PKI_SERIAL_HEX + 1]; /* what peer_check refuses */
} T;

static int peer_check(void *ctx, const char *cn, const char *serial, struct err *err)
{
	if (streq(serial, T.revoked))
		return err_msg(err, EACCES, "the certificate of node '%s' was revoked", cn);
	return 0;
}

static void on_stop(uv_async_t *a)
{
	api_routes_free(T.rt);
	api_server_stop(T.srv);
	uv_close((uv_handle_t *)&T.stop, NULL);
}

static void *serve(void *arg)
{
	uv_run(&T.loop, UV_RUN_DEFAULT);
	return NULL;
}

static void write_file(const char *path, const char *s)
{
	struct err err = { 0 };
	if (fs_write_atomic(path, s, strlen(s), 0600, &err) < 0)
		fail_msg("%s", err.msg);
}

/* A CA; the server's and a client's certificates from it; a client certificate from
 * another CA. */
static void make_pki(void)
{
	static const char *const ips[] = { "127.0.0.1", NULL };
	struct pki_names srv = { .name = "server1", .ips = ips }, cli = { .name = "node2", .ips = ips };
	char *ca_crt, *ca_key, *crt, *key, *o_crt, *o_key;
	struct err err = { 0 };
	time_t now = time(NULL);

	snprintf(T.ca, sizeof(T.ca), "%s/ca.crt", T.dir);
	snprintf(T.srv_crt, sizeof(T.srv_crt), "%s/srv.crt", T.dir);
	snprintf(T.srv_key, sizeof(T.srv_key), "%s/srv.key", T.dir);
	snprintf(T.cli_crt, sizeof(T.cli_crt), "%s/cli.crt", T.dir);
	snprintf(T.cli_key, sizeof(T.cli_key), "%s/cli.key", T.dir);
	snprintf(T.other_crt, sizeof(T.other_crt), "%s/other.crt", T.dir);
	snprintf(T.other_key, sizeof(T.other_key), "%s/other.key", T.dir);
	if (pki_ca_create("coop test CA", now, &ca_crt, &ca_key, &err) < 0 ||
	    pki_node_issue(ca_crt, ca_key, &srv, now, 1, &crt, &key, &err) < 0)
		fail_msg("%s", err.msg);
	write_file(T.ca, ca_crt);
	write_file(T.srv_crt, crt);
	write_file(T.srv_key, key);
	free(crt);
	free(key);
	if (pki_node_issue(ca_crt, ca_key, &cli, now, 1, &crt, &key, &err) < 0)
		fail_msg("%s", err.msg);
	write_file(T.cli_crt, crt);
	write_file(T.cli_key, key);
	free(crt);
	free(key);
	free(ca_crt);
	free(ca_key);
	if (pki_ca_create("another CA", now, &ca_crt, &ca_key, &err) < 0 ||
	    pki_node_issue(ca_crt, ca_key, &cli, now, 1, &o_crt, &o_key, &err) < 0)
		fail_msg("%s", err.msg);
	write_file(T.other_crt, o_crt);
	write_file(T.other_key, o_key);
	free(o_crt);
	free(o_key);
	free(ca_crt);
	free(ca_key);
}

static int setup(void **state)
{
	struct err err = { 0 };
	char listen[32];
	strcpy(T.dir, "/tmp/coop-apicl-XXXXXX");
	assert_non_null(mkdtemp(T.dir));
	snprintf(T.sock, sizeof(T.sock), "%s/coop.sock", T.dir);
	make_pki();
	uv_loop_init(&T.loop);
	uv_async_init(&T.loop, &T.stop, on_stop);
	struct api_routes_config rc = { .loop = &T.loop, .engine = &no_engine, .version = "test" };
	assert_int_equal(api_routes_new(&rc, &T.rt, &err), 0);
	/* a port of our own: tests of other builds may run at the same time */
	for (int tries = 0; tries < 20; tries++) {
		unsigned port = 20000 + (getpid() * 7 + tries * 131) % 40000;
		snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
		snprintf(T.endpoint, sizeof(T.endpoint), "https://127.0.0.1:%u", port);
		struct api_server_config sc = { .unix_path = T.sock, .listen = listen,
						.tls_cert = T.srv_crt, .tls_key = T.srv_key,
						.tls_ca = T.ca, .dispatch = api_routes_dispatch,
						.ctx = T.rt, .peer_check = peer_check };
		if (api_server_start(&T.loop, &sc, &T.srv, &err) == 0)
			break;
		T.srv = NULL;
		uv_run(&T.loop, UV_RUN_NOWAIT); /* close the failed server's handles */
	}
	if (!T.srv)
		fail_msg("start the server: %s", err.msg);
	pthread_create(&T.thread, NULL, serve, NULL);
	return 0;
}

static int teardown(void **state)
{
	struct err err = { 0 };
	uv_async_send(&T.stop);
	pthread_join(T.thread, NULL);
	uv_loop_close(&T.loop);
	fs_rm_rf(T.dir, &err);
	return 0;
}

static struct api_client *client(const struct api_client_opts *o)
{
	struct api_client *c = NULL;
	struct err err = { 0 };
	if (api_client_new(o, &c, &err) < 0)
		fail_msg("%s", err.msg);
	return c;
}

static const char *error_code(json_t *reply)
{
	return json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
}

static void test_not_clustered(void **state)
{
	struct err err = { 0 };
	struct api_client *c = client(&(struct api_client_opts){ .socket = T.sock });
	static const char *const paths[] = { "/v1/cluster", "/v1/nodes", "/v1/nodes/x",
					     "/v1/tasks", "/v1/cluster/ca", "/v1/watch?since=3" };
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		assert_int_equal(api_call(c, "GET", paths[i], NULL, NULL, &err), -ENOENT);
		assert_non_null(strstr(err.msg, "not in a cluster"));
	}
	json_t *body = json_pack("{s:s}", "role", "agent");
	assert_int_equal(api_call(c, "POST", "/v1/tokens/join", body, NULL, &err), -ENOENT);
	json_decref(body);
	api_client_free(c);
	(void)error_code;
}

static void test_node_certificate(void **state)
{
	struct err err = { 0 };
	json_t *j = NULL;

	/* a node certificate from the cluster CA: no token needed */
	struct api_client *node = client(&(struct api_client_opts){
		.endpoint = T.endpoint, .ca = T.ca, .cert = T.cli_crt, .key = T.cli_key });
	assert_int_equal(api_call(node, "GET", "/v1/version", NULL, &j, &err), 0);
	assert_string_equal(json_string_value(json_object_get(j, "version")), "test");
	json_decref(j);
	api_client_free(node);

	/* certificate and key in one file (what the cluster's forwarding client uses, so a
	 * renewal swaps both in one rename) */
	_cleanup_free_ char *bundle = xasprintf("%s/bundle.pem", T.dir), *c_pem = NULL, *k_pem = NULL;
	assert_int_equal(fs_read(T.cli_crt, &c_pem, &err), 0);
	assert_int_equal(fs_read(T.cli_key, &k_pem, &err), 0);
	_cleanup_free_ char *both = xasprintf("%s%s", c_pem, k_pem);
	write_file(bundle, both);
	struct api_client *nb = client(&(struct api_client_opts){
		.endpoint = T.endpoint, .ca = T.ca, .cert = bundle, .key = bundle });
	assert_int_equal(api_call(nb, "GET", "/v1/version", NULL, NULL, &err), 0);
	api_client_free(nb);

	/* a certificate from another CA authenticates nobody: tokens, then 401 */
	struct api_client *other = client(&(struct api_client_opts){
		.endpoint = T.endpoint, .ca = T.ca, .cert = T.other_crt, .key = T.other_key });
	assert_int_equal(api_call(other, "GET", "/v1/version", NULL, NULL, &err), -EACCES);
	assert_non_null(strstr(err.msg, "access token"));
	api_client_free(other);

	/* no credentials: only the open routes pass (here: to 404 not_clustered) */
	struct api_client *anon = client(&(struct api_client_opts){
		.endpoint = T.endpoint, .ca = T.ca, .anonymous = true });
	assert_int_equal(api_call(anon, "GET", "/v1/version", NULL, NULL, &err), -EACCES);
	assert_int_equal(api_call(anon, "GET", "/v1/cluster", NULL, NULL, &err), -EACCES);
	assert_int_equal(api_call(anon, "POST", "/v1/cluster/propose", NULL, NULL, &err), -EACCES);
	assert_int_equal(api_call(anon, "GET", "/v1/cluster/ca", NULL, NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "not in a cluster"));
	json_t *body = json_pack("{s:s}", "token", "x");
	assert_int_equal(api_call(anon, "POST", "/v1/cluster/join", body, NULL, &err), -ENOENT);
	json_decref(body);
	api_client_free(anon);

	/* insecure: the server's certificate is not checked (only to fetch the CA) */
	struct api_client *ins = client(&(struct api_client_opts){ .endpoint = T.endpoint,
								    .insecure = true });
	assert_int_equal(api_call(ins, "GET", "/v1/cluster/ca", NULL, NULL, &err), -ENOENT);
	api_client_free(ins);

	/* without the CA the server's certificate does not verify */
	struct api_client *strict = client(&(struct api_client_opts){
		.endpoint = T.endpoint, .ca = T.other_crt, .anonymous = true });
	assert_true(api_call(strict, "GET", "/v1/cluster/ca", NULL, NULL, &err) < 0);
	assert_true(err.code != ENOENT);
	api_client_free(strict);

	/* an endpoint needs credentials unless asked otherwise */
	struct api_client *c = NULL;
	setenv("COOP_ACCESS_TOKEN", "", 1);
	assert_int_equal(api_client_new(&(struct api_client_opts){ .endpoint = T.endpoint }, &c, &err),
			 -EINVAL);
	assert_int_equal(api_client_new(&(struct api_client_opts){ .endpoint = T.endpoint,
								    .cert = T.cli_crt },
					&c, &err),
			 -EINVAL); /* a certificate without its key */
}

/* The owner's check of a node certificate (the cluster's revocation list) refuses it:
 * 403 with the reason, no fallback to tokens; a new connection after it is lifted
 * passes. */
static void test_revoked_certificate(void **state)
{
	_cleanup_free_ char *pem = NULL;
	struct pki_cert_info ci;
	struct err err = { 0 };

	assert_int_equal(fs_read(T.cli_crt, &pem, &err), 0);
	assert_int_equal(pki_cert_info(pem, &ci, &err), 0);
	snprintf(T.revoked, sizeof(T.revoked), "%s", ci.serial);
	struct api_client *node = client(&(struct api_client_opts){
		.endpoint = T.endpoint, .ca = T.ca, .cert = T.cli_crt, .key = T.cli_key });
	assert_int_equal(api_call(node, "GET", "/v1/version", NULL, NULL, &err), -EACCES);
	assert_string_equal(err.msg, "the certificate of node 'node2' was revoked");
	T.revoked[0] = '\0';
	assert_int_equal(api_call(node, "GET", "/v1/version", NULL, NULL, &err), 0);
	api_client_free(node);
}

/* Watches: from a seq, in order, each line with its seq; nothing when caught up or
 * ahead; bounded by max; the stale line once events fell off the ring. */
static void test_watch_next(void **state)
{
	struct model *m = model_new();
	uint64_t after = 0;
	bool stale = true;
	json_t *l;

	l = api_cluster_watch_next(m, &after, 0, &stale); /* no events yet */
	assert_int_equal(json_array_size(l), 0);
	assert_false(stale);
	json_decref(l);
	for (int i = 1; i <= 5; i++)
		model_event_add(m, i, 1000 + i, "node", "register",
				json_pack("{s:s}", "name", i % 2 ? "a" : "b"));
	l = api_cluster_watch_next(m, &after, 0, &stale);
	assert_int_equal(json_array_size(l), 5);
	for (size_t i = 0; i < 5; i++) {
		json_t *e = json_array_get(l, i);
		assert_int_equal(json_integer_value(json_object_get(e, "seq")), i + 1);
		assert_string_equal(json_string_value(json_object_get(e, "type")), "node");
		assert_string_equal(json_string_value(json_object_get(e, "action")), "register");
		assert_non_null(json_object_get(json_object_get(e, "object"), "name"));
	}
	assert_int_equal(after, 5);
	json_decref(l);
	l = api_cluster_watch_next(m, &after, 0, &stale); /* caught up */
	assert_int_equal(json_array_size(l), 0);
	json_decref(l);
	after = 2; /* a resume: from 3 on, two at a time */
	l = api_cluster_watch_next(m, &after, 2, &stale);
	assert_int_equal(json_array_size(l), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "seq")), 3);
	assert_int_equal(after, 4);
	json_decref(l);
	after = 99; /* ahead of this replica: wait, not stale */
	l = api_cluster_watch_next(m, &after, 0, &stale);
	assert_int_equal(json_array_size(l), 0);
	assert_false(stale);
	assert_int_equal(after, 99);
	json_decref(l);

	/* a full ring and then some: seq 1..MODEL_EVENTS+10 */
	for (uint64_t i = 6; i <= MODEL_EVENTS + 10; i++)
		model_event_add(m, i, 1000 + i, "task", "status", json_object());
	after = 5;
	l = api_cluster_watch_next(m, &after, 0, &stale);
	assert_true(stale);
	assert_int_equal(json_array_size(l), 1);
	json_t *e = json_array_get(l, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"), "code")),
			    "stale");
	assert_non_null(json_object_get(json_object_get(e, "error"), "message"));
	assert_int_equal(json_integer_value(json_object_get(e, "first")), 11);
	assert_int_equal(json_integer_value(json_object_get(e, "seq")), MODEL_EVENTS + 10);
	assert_int_equal(after, 5);
	json_decref(l);
	after = 10; /* just in time: 11 is the oldest kept */
	l = api_cluster_watch_next(m, &after, 0, &stale);
	assert_false(stale);
	assert_int_equal(json_array_size(l), MODEL_EVENTS);
	assert_int_equal(after, MODEL_EVENTS + 10);
	json_decref(l);
	model_free(m);
}

static void test_watch_filters_and_text(void **state)
{
	struct err err = { 0 };
	json_t *task = json_pack(
		"{s:I,s:I,s:I,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s}}", "seq", (json_int_t)42,
		"index", (json_int_t)7, "ts", (json_int_t)1714557600123, "type", "task", "action",
		"status", "object", "id", "web.3", "workload", "web", "node", "n2", "desired",
		"running", "observed", "failed", "message", "exit 1");
	json_t *node = json_pack("{s:I,s:I,s:s,s:s,s:{s:s,s:s}}", "seq", (json_int_t)43, "ts",
				 (json_int_t)0, "type", "node", "action", "state", "object",
				 "name", "n2", "state", "down");
	json_t *lease = json_pack("{s:I,s:s,s:s,s:{s:s,s:s,s:s}}", "seq", (json_int_t)44, "type",
				  "lease", "action", "put", "object", "vpc", "default", "node",
				  "n2", "subnet", "10.1.2.0/24");
	char buf[160];

	assert_int_equal(api_cluster_filter_check("type=task", &err), 0);
	assert_int_equal(api_cluster_filter_check("node=n1", &err), 0);
	assert_int_equal(api_cluster_filter_check("id=x", &err), -EINVAL);
	assert_int_equal(api_cluster_filter_check("type", &err), -EINVAL);
	assert_int_equal(api_cluster_filter_check("type=", &err), -EINVAL);

	assert_string_equal(api_cluster_event_name(task, buf, sizeof(buf)), "web.3");
	assert_string_equal(api_cluster_event_name(node, buf, sizeof(buf)), "n2");
	assert_string_equal(api_cluster_event_name(lease, buf, sizeof(buf)), "default/n2");

	char *none[] = { NULL }, *f1[] = { "type=task", "workload=web", NULL },
	     *f2[] = { "node=n2", NULL }, *f3[] = { "name=web.3", "action=place", NULL },
	     *f4[] = { "workload=web", NULL };
	assert_true(api_cluster_event_matches(task, none));
	assert_true(api_cluster_event_matches(task, NULL));
	assert_true(api_cluster_event_matches(task, f1));
	assert_false(api_cluster_event_matches(node, f1));
	assert_true(api_cluster_event_matches(task, f2)); /* the task's node */
	assert_true(api_cluster_event_matches(node, f2)); /* the node itself */
	assert_true(api_cluster_event_matches(lease, f2));
	assert_false(api_cluster_event_matches(task, f3));
	assert_false(api_cluster_event_matches(node, f4));

	char *t = api_cluster_event_text(task);
	assert_string_equal(t, "42 2024-05-01T10:00:00.123Z task status web.3 "
			       "(node=n2, desired=running, observed=failed: exit 1)");
	free(t);
	t = api_cluster_event_text(node);
	assert_string_equal(t, "43 - node state n2 (state=down)");
	free(t);
	t = api_cluster_event_text(lease);
	assert_string_equal(t, "44 - lease put default/n2 (subnet=10.1.2.0/24)");
	free(t);
	json_decref(task);
	json_decref(node);
	json_decref(lease);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_open_routes_and_roles),
		cmocka_unit_test(test_model_views),
		cmocka_unit_test(test_label_cmd),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_watch_next),
		cmocka_unit_test(test_watch_filters_and_text),
	};
	const struct CMUnitTest served[] = {
		cmocka_unit_test(test_not_clustered),
		cmocka_unit_test(test_node_certificate),
		cmocka_unit_test(test_revoked_certificate),
	};
	int r = cmocka_run_group_tests(pure, NULL, NULL);
	return r | cmocka_run_group_tests(served, setup, teardown);
}
