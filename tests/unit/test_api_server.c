/* The API server end to end in one process: the real server (libmicrohttpd on a libuv
 * loop in a thread of its own), the real routes and the real client over a unix socket
 * — with a FAKE container engine defined here (a test double for agent.h: a few canned
 * containers, timers instead of processes). Checks status codes and error JSON, body
 * limits, async replies, and the streams (events resumed by seq, logs, exec). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/client.h"
#include "api/routes.h"
#include "api/server.h"
#include "base/fs.h"
#include "base/util.h"
#include "image/auth.h"

/* ---- the fake engine (test double) ---- */

struct agent {
	uv_loop_t *loop;
	agent_event_fn ev_fn;
	void *ev_ctx;
	uint64_t seq;
	uv_timer_t ticker;
	char log_path[256];
};

static json_t *fake_event(uint64_t seq)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:s}", "seq", (json_int_t)seq, "time",
			 "2024-01-01T00:00:00Z", "type", seq % 2 ? "container" : "image", "action",
			 "start", "id", "c1");
}

static void fake_set_event_cb(struct agent *a, agent_event_fn fn, void *ctx)
{
	a->ev_fn = fn;
	a->ev_ctx = ctx;
}

static int fake_events_since(struct agent *a, uint64_t since, json_t **ret, struct err *err)
{
	json_t *arr = json_array();
	for (uint64_t s = since + 1; s <= a->seq; s++)
		json_array_append_new(arr, fake_event(s));
	*ret = arr;
	return 0;
}

static void on_tick(uv_timer_t *t)
{
	struct agent *a = t->data;
	struct agent_event ev = { .seq = ++a->seq, .time = "2024-01-01T00:00:00Z",
				  .type = a->seq % 2 ? "container" : "image", .action = "start",
				  .id = "c1" };
	if (a->ev_fn)
		a->ev_fn(a->ev_ctx, &ev);
}

static int fake_apply(struct agent *a, json_t *spec, bool replace, json_t **ret, struct err *err)
{
	const char *n = json_string_value(json_object_get(spec, "name"));
	if (streq(n, "dup") && !replace)
		return err_msg(err, EEXIST, "workload 'dup' exists");
	*ret = json_pack("{s:O}", "spec", spec);
	return 0;
}

static int fake_wl_remove(struct agent *a, const char *name, uint64_t t, struct err *err)
{
	return streq(name, "web") ? 0 : err_msg(err, ENOENT, "no such workload: %s", name);
}

static json_t *fake_workloads(struct agent *a) { return json_array(); }

static json_t *fake_containers(struct agent *a, bool all)
{
	return json_pack("[{s:s,s:s,s:s,s:s}]", "id", "c1", "name", "web", "status", "exited",
			 "workload", "web");
}

static int fake_get(struct agent *a, const char *ref, json_t **ret, struct err *err)
{
	if (!streq(ref, "c1") && !streq(ref, "web"))
		return err_msg(err, ENOENT, "no such container: %s", ref);
	*ret = json_pack("{s:s,s:s,s:s,s:i}", "id", "c1", "name", "web", "status", "exited",
			 "exit_code", 3);
	return 0;
}

struct later {
	uv_timer_t t;
	agent_done_fn done;
	agent_output_fn out;
	agent_exit_fn exit;
	void *ctx;
};

static void later_free(uv_handle_t *h) { free(h->data); }

static void on_later(uv_timer_t *t)
{
	struct later *l = t->data;
	if (l->done)
		l->done(l->ctx, 0, NULL);
	if (l->out) {
		l->out(l->ctx, 1, "hello\n", 6);
		l->out(l->ctx, 2, "oops", 4);
		l->exit(l->ctx, 7, NULL);
	}
	uv_close((uv_handle_t *)t, later_free);
}

static void later(struct agent *a, agent_done_fn done, agent_output_fn out, agent_exit_fn ex,
		  void *ctx)
{
	struct later *l = xcalloc(1, sizeof(*l));
	l->done = done;
	l->out = out;
	l->exit = ex;
	l->ctx = ctx;
	l->t.data = l;
	uv_timer_init(a->loop, &l->t);
	uv_timer_start(&l->t, on_later, 50, 0);
}

static int fake_stop(struct agent *a, const char *ref, uint64_t t, agent_done_fn done, void *ctx,
		     struct err *err)
{
	json_t *c;
	int r = fake_get(a, ref, &c, err);
	if (r < 0)
		return r;
	json_decref(c);
	later(a, done, NULL, NULL, ctx);
	return 0;
}

static int fake_remove(struct agent *a, const char *ref, bool force, agent_done_fn done,
		       void *ctx, struct err *err)
{
	return fake_stop(a, ref, 0, done, ctx, err);
}

static int fake_metrics(struct agent *a, const char *ref, json_t **ret, struct err *err)
{
	*ret = json_pack("{s:f}", "cpu_percent", 1.5);
	return 0;
}

static int fake_logs(struct agent *a, const char *ref, char ***files, bool *running,
		     struct err *err)
{
	*files = strv_append(NULL, a->log_path);
	*running = false;
	return 0;
}

static int fake_exec(struct agent *a, const char *ref, char *const *argv, char *const *env,
		     const char *user, const char *cwd, agent_output_fn out, agent_exit_fn done,
		     void *ctx, struct err *err)
{
	if (!streq(ref, "c1"))
		return err_msg(err, ENOENT, "no such container: %s", ref);
	later(a, NULL, out, done, ctx);
	return 0;
}

static const struct api_engine fake_engine = {
	.set_event_cb = fake_set_event_cb,
	.events_since = fake_events_since,
	.workload_apply = fake_apply,
	.workload_remove = fake_wl_remove,
	.workloads = fake_workloads,
	.containers = fake_containers,
	.container_get = fake_get,
	.container_stop = fake_stop,
	.container_remove = fake_remove,
	.container_metrics = fake_metrics,
	.container_logs = fake_logs,
	.container_exec = fake_exec,
};

/* ---- the server in its thread ---- */

static struct {
	char dir[64], sock[128];
	uv_loop_t loop;
	uv_async_t stop, tick; /* the only thread-safe ways into the loop */
	struct agent agent;
	struct api_server *srv;
	struct api_routes *rt;
	pthread_t thread;
	struct api_client *cl;
} T;

static void on_stop(uv_async_t *a)
{
	api_routes_free(T.rt);
	api_server_stop(T.srv);
	uv_close((uv_handle_t *)&T.agent.ticker, NULL);
	uv_close((uv_handle_t *)&T.stop, NULL);
	uv_close((uv_handle_t *)&T.tick, NULL);
}

static void on_start_ticker(uv_async_t *a)
{
	uv_timer_start(&T.agent.ticker, on_tick, 30, 30);
}

static void *serve(void *arg)
{
	uv_run(&T.loop, UV_RUN_DEFAULT);
	return NULL;
}

static int setup(void **state)
{
	struct err err = { 0 };
	strcpy(T.dir, "/tmp/coop-api-XXXXXX");
	assert_non_null(mkdtemp(T.dir));
	snprintf(T.sock, sizeof(T.sock), "%s/coop.sock", T.dir);
	snprintf(T.agent.log_path, sizeof(T.agent.log_path), "%s/log.json", T.dir);
	const char *log = "{\"t\":\"2024-01-01T00:00:01Z\",\"s\":\"stdout\",\"l\":\"one\"}\n"
			  "{\"t\":\"2024-01-01T00:00:02Z\",\"s\":\"stderr\",\"l\":\"two\"}\n"
			  "{\"t\":\"2024-01-01T00:00:03Z\",\"s\":\"stdout\",\"l\":\"three\"}\n";
	assert_int_equal(fs_write_atomic(T.agent.log_path, log, strlen(log), 0600, &err), 0);
	uv_loop_init(&T.loop);
	T.agent.loop = &T.loop;
	T.agent.seq = 3;
	uv_timer_init(&T.loop, &T.agent.ticker);
	T.agent.ticker.data = &T.agent;
	uv_async_init(&T.loop, &T.stop, on_stop);
	uv_async_init(&T.loop, &T.tick, on_start_ticker);
	struct api_routes_config rc = { .loop = &T.loop, .engine = &fake_engine,
					.agent = &T.agent, .version = "test" };
	assert_int_equal(api_routes_new(&rc, &T.rt, &err), 0);
	struct api_server_config sc = { .unix_path = T.sock, .dispatch = api_routes_dispatch,
					.ctx = T.rt };
	if (api_server_start(&T.loop, &sc, &T.srv, &err) < 0)
		fail_msg("%s", err.msg);
	pthread_create(&T.thread, NULL, serve, NULL);
	struct api_client_opts o = { .socket = T.sock };
	assert_int_equal(api_client_new(&o, &T.cl, &err), 0);
	return 0;
}

static int teardown(void **state)
{
	struct err err = { 0 };
	api_client_free(T.cl);
	uv_async_send(&T.stop);
	pthread_join(T.thread, NULL);
	uv_loop_close(&T.loop);
	assert_int_equal(access(T.sock, F_OK), -1); /* the socket went with the server */
	fs_rm_rf(T.dir, &err);
	return 0;
}

static void test_basics(void **state)
{
	struct err err = { 0 };
	json_t *j = NULL;

	assert_int_equal(api_call(T.cl, "GET", "/v1/version", NULL, &j, &err), 0);
	assert_string_equal(json_string_value(json_object_get(j, "version")), "test");
	json_decref(j);
	struct stat st;
	assert_int_equal(stat(T.sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(api_call(T.cl, "GET", "/v1/nope", NULL, NULL, &err), -ENOENT);
	assert_string_equal(err.msg, "no such endpoint: /v1/nope");
	assert_int_equal(api_call(T.cl, "PUT", "/v1/version", NULL, NULL, &err), -EIO);
	assert_non_null(strstr(err.msg, "not allowed"));
	assert_int_equal(api_call(T.cl, "GET", "/v1/containers/zz", NULL, NULL, &err), -ENOENT);
	assert_string_equal(err.msg, "no such container: zz");
	assert_int_equal(api_call(T.cl, "GET", "/v1/containers/web/metrics", NULL, &j, &err), 0);
	json_decref(j);
	assert_int_equal(api_call(T.cl, "GET", "/v1/info", NULL, &j, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "containers"), "total")), 1);
	json_decref(j);
}

static void test_bad_requests(void **state)
{
	struct err err = { 0 };
	json_t *body = json_pack("{s:s,s:s}", "image", "busybox", "name", "bad/name");
	assert_int_equal(api_call(T.cl, "POST", "/v1/containers", body, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "name: 'bad/name' is not a valid name"));
	json_decref(body);
	body = json_pack("{s:s,s:s}", "image", "busybox", "name", "dup");
	assert_int_equal(api_call(T.cl, "POST", "/v1/containers", body, NULL, &err), -EEXIST);
	json_decref(body);
	/* a body past the limit: 413 with the error JSON */
	char *big = xmalloc(API_BODY_MAX + 100);
	memset(big, ' ', API_BODY_MAX + 99);
	big[API_BODY_MAX + 99] = '\0';
	body = json_pack("{s:s}", "image", big);
	assert_int_equal(api_call(T.cl, "POST", "/v1/containers", body, NULL, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "byte limit"));
	json_decref(body);
	free(big);
	assert_int_equal(api_call(T.cl, "POST", "/v1/workloads", NULL, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "expected a JSON object"));
	assert_int_equal(api_call(T.cl, "GET", "/v1/events?since=x", NULL, NULL, &err), -EINVAL);
	assert_int_equal(api_call(T.cl, "GET", "/v1/events?filter=colour=red", NULL, NULL, &err),
			 -EINVAL);
	json_t *ok = json_pack("{s:s,s:s}", "image", "busybox", "name", "web");
	json_t *j = NULL;
	assert_int_equal(api_call(T.cl, "POST", "/v1/containers", ok, &j, &err), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "spec"), "restart")), "no");
	json_decref(j);
	json_decref(ok);
}

static void test_async(void **state)
{
	struct err err = { 0 };
	json_t *j = NULL;
	assert_int_equal(api_call(T.cl, "POST", "/v1/containers/web/stop?timeout_ms=100", NULL, &j, &err), 0);
	assert_string_equal(json_string_value(json_object_get(j, "stopped")), "web");
	json_decref(j);
	assert_int_equal(api_call(T.cl, "DELETE", "/v1/containers/web?force=1", NULL, &j, &err), 0);
	json_decref(j);
	assert_int_equal(api_call(T.cl, "POST", "/v1/containers/web/stop?timeout_ms=-1", NULL, NULL, &err), -EINVAL);
}

struct seqs {
	uint64_t got[16];
	int n, want;
};

static int collect(void *ctx, json_t *line)
{
	struct seqs *s = ctx;
	s->got[s->n++] = json_integer_value(json_object_get(line, "seq"));
	return s->n >= s->want ? -ECANCELED : 0;
}

static void test_events(void **state)
{
	struct err err = { 0 };
	struct seqs s = { .want = 16 };
	/* replay only: seq > 1 */
	assert_int_equal(api_stream(T.cl, "GET", "/v1/events?since=1", NULL, collect, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.got[0], 2);
	assert_int_equal(s.got[1], 3);
	/* filtered replay */
	memset(&s, 0, sizeof(s));
	s.want = 16;
	assert_int_equal(api_stream(T.cl, "GET", "/v1/events?filter=type=container", NULL, collect, &s, &err), 0);
	assert_int_equal(s.n, 2); /* 1 and 3 */
	/* follow: the replay then live events, each once, in order */
	memset(&s, 0, sizeof(s));
	s.want = 5;
	uv_async_send(&T.tick);
	assert_int_equal(api_stream(T.cl, "GET", "/v1/events?since=2&follow=1", NULL, collect, &s, &err),
			 -ECANCELED);
	for (int i = 0; i < 5; i++)
		assert_int_equal(s.got[i], 3 + i);
}

struct lines {
	char text[4096];
	int exit;
};

static int gather(void *ctx, json_t *line)
{
	struct lines *l = ctx;
	const char *s = json_string_value(json_object_get(line, "l"));
	const char *d = json_string_value(json_object_get(line, "data"));
	if (json_object_get(line, "exit"))
		l->exit = json_integer_value(json_object_get(line, "exit"));
	if (s)
		strcat(strcat(l->text, s), ";");
	if (d) {
		char *out;
		size_t n;
		assert_int_equal(img_auth_base64_decode(d, &out, &n), 0);
		strncat(l->text, out, n);
		free(out);
	}
	return 0;
}

static void test_logs_exec(void **state)
{
	struct err err = { 0 };
	struct lines l = { .exit = -100 };
	assert_int_equal(api_stream(T.cl, "GET", "/v1/containers/web/logs?tail=2", NULL, gather, &l, &err), 0);
	assert_string_equal(l.text, "two;three;");
	memset(&l, 0, sizeof(l));
	l.exit = -100;
	assert_int_equal(api_stream(T.cl, "GET", "/v1/containers/web/logs?since=2024-01-01T00:00:02Z&follow=1",
				    NULL, gather, &l, &err), 0);
	assert_string_equal(l.text, "two;three;");
	assert_int_equal(l.exit, 3); /* exited: the stream ends with its exit code */
	memset(&l, 0, sizeof(l));
	json_t *body = json_pack("{s:[s,s]}", "argv", "echo", "hello");
	assert_int_equal(api_stream(T.cl, "POST", "/v1/containers/c1/exec", body, gather, &l, &err), 0);
	assert_string_equal(l.text, "hello\noops");
	assert_int_equal(l.exit, 7);
	assert_int_equal(api_stream(T.cl, "POST", "/v1/containers/nope/exec", body, gather, &l, &err),
			 -ENOENT);
	json_decref(body);
}

static void test_unreachable(void **state)
{
	struct api_client *c;
	struct err err = { 0 };
	struct api_client_opts o = { .socket = "/nonexistent/coop.sock" };
	assert_int_equal(api_client_new(&o, &c, &err), 0);
	assert_int_equal(api_call(c, "GET", "/v1/version", NULL, NULL, &err), -ECONNREFUSED);
	assert_string_equal(err.msg, "cannot reach the coop daemon at /nonexistent/coop.sock: is `coop daemon` running?");
	api_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basics),     cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_async),      cmocka_unit_test(test_events),
		cmocka_unit_test(test_logs_exec),  cmocka_unit_test(test_unreachable),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
