/* The agent engine end to end in one process, against real containers: a libuv loop,
 * agent_new on a temp state dir, a busybox image imported into a private store, the
 * monitors spawned from the built binary ($BUILD/coop). Workloads start replicas;
 * on-failure restarts with backoff and gives up after N; stop is not undone by the
 * policy; exec, metrics and logs work; a new agent re-adopts running containers
 * (live restore); remove leaves nothing. Skipped without root or busybox-static. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "base/fs.h"
#include "base/js.h"
#include "base/util.h"
#include "image/archive.h"
#include "image/store.h"

struct env {
	uv_loop_t loop;
	char *dir, *state, *run, *store, *exe;
	struct agent *a;
	json_t *events; /* every event seen */
	int done_calls;
	char out[4096];
	size_t out_n;
	int exec_code;
	bool exec_done;
};

static void on_event(void *ctx, const struct agent_event *ev)
{
	struct env *e = ctx;
	json_array_append_new(e->events, json_pack("{s:I,s:s,s:s,s:s,s:O}", "seq", (json_int_t)ev->seq,
						   "type", ev->type, "action", ev->action, "id", ev->id,
						   "attrs", ev->attrs));
}

static int count_events(struct env *e, const char *action, const char *id)
{
	json_t *v;
	size_t i;
	int n = 0;

	json_array_foreach(e->events, i, v) if (streq(json_string_value(json_object_get(v, "action")), action) &&
						 (!id || streq(json_string_value(json_object_get(v, "id")), id))) n++;
	return n;
}

/* Runs the loop until cond holds or ms pass. */
static bool run_until(struct env *e, bool (*cond)(struct env *, void *), void *arg, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		uv_run(&e->loop, UV_RUN_NOWAIT);
		if (cond(e, arg))
			return true;
		usleep(10000);
	}
	return cond(e, arg);
}

static const char *status_of(struct env *e, const char *ref, json_t **keep)
{
	struct err err = { 0 };
	json_decref(*keep);
	*keep = NULL;
	if (agent_container_get(e->a, ref, keep, &err) < 0)
		return "gone";
	return json_string_value(json_object_get(*keep, "status"));
}

static bool is_running(struct env *e, void *ref)
{
	json_t *k = NULL;
	bool r = streq(status_of(e, ref, &k), "running");
	json_decref(k);
	return r;
}

static bool is_gone(struct env *e, void *ref)
{
	json_t *k = NULL;
	bool r = streq(status_of(e, ref, &k), "gone");
	json_decref(k);
	return r;
}

/* No directory left under dir (a removed container's goes on a worker thread). */
static bool no_subdirs(struct env *e, void *dir)
{
	struct stat sb;
	return stat(dir, &sb) == 0 && sb.st_nlink == 2;
}

static bool n_events(struct env *e, void *arg)
{
	const char **x = arg; /* action, count */
	return count_events(e, x[0], NULL) >= atoi(x[1]);
}

static bool done_called(struct env *e, void *arg) { return e->done_calls >= *(int *)arg; }
static bool exec_finished(struct env *e, void *arg) { return e->exec_done; }

static void on_done(void *ctx, int status, const struct err *err)
{
	((struct env *)ctx)->done_calls++;
}

static int setup(void **state)
{
	struct env *e = xcalloc(1, sizeof(*e));
	char t[] = "/tmp/agent-engine-XXXXXX";
	struct err err = { 0 };
	struct img_store *st = NULL;
	const char *build = getenv("BUILD") ?: "build";

	if (geteuid() != 0 || access("/bin/busybox", X_OK) != 0) {
		free(e);
		*state = NULL;
		return 0;
	}
	assert_non_null(mkdtemp(t));
	e->dir = xstrdup(t);
	e->state = xasprintf("%s/var", t);
	e->run = xasprintf("%s/run", t);
	e->store = xasprintf("%s/var/images", t);
	e->exe = realpath(xasprintf("%s/coop", build), NULL);
	assert_non_null(e->exe);
	_cleanup_free_ char *cmd = xasprintf("scripts/mkrootfs.sh %s/rootfs >/dev/null && tar -C %s/rootfs -cf %s/rootfs.tar .",
					     t, t, t);
	assert_int_equal(system(cmd), 0);
	_cleanup_free_ char *tar = xasprintf("%s/rootfs.tar", t);
	assert_int_equal(img_store_open(e->store, &st, &err), 0);
	assert_int_equal(img_import_rootfs(st, tar, "enginetest:1", &err), 0);
	img_store_close(st);
	uv_loop_init(&e->loop);
	e->events = json_array();
	struct agent_config cfg = { .state_dir = e->state, .run_dir = e->run, .exe = e->exe, .log_max_bytes = 1 << 20 };
	if (agent_new(&e->loop, &cfg, &e->a, &err) < 0)
		fail_msg("agent_new: %s", err.msg);
	agent_set_event_cb(e->a, on_event, e);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	struct err err = { 0 };

	if (!e)
		return 0;
	/* whatever is left: workloads first (they would replace removed replicas), then
	 * containers, through the agent */
	json_t *wls = agent_workloads(e->a), *w;
	size_t j;
	json_array_foreach(wls, j, w) agent_workload_remove(e->a, json_string_value(json_object_get(w, "name")), 5000, &err);
	json_decref(wls);
	json_t *all = agent_containers(e->a, true), *c;
	size_t i;
	int want = 0;
	json_array_foreach(all, i, c)
	{
		if (agent_container_remove(e->a, json_string_value(json_object_get(c, "id")), true, on_done, e, &err) == 0)
			want++;
	}
	json_decref(all);
	e->done_calls = 0;
	run_until(e, done_called, &want, 30000);
	agent_free(e->a);
	uv_run(&e->loop, UV_RUN_NOWAIT);
	uv_loop_close(&e->loop);
	fs_rm_rf(e->dir, &err);
	json_decref(e->events);
	free(e->dir);
	free(e->state);
	free(e->run);
	free(e->store);
	free(e->exe);
	free(e);
	return 0;
}

static json_t *wl(const char *name, const char *restart, const char *script)
{
	return json_pack("{s:s,s:s,s:s,s:[s,s,s],s:{s:i,s:i}}", "name", name, "image", "enginetest:1",
			 "restart", restart, "command", "sh", "-c", script, "replicas", "min", 2, "max", 2);
}

static void test_restart_backoff_and_limit(void **state)
{
	struct env *e = *state;
	struct err err = { 0 };
	json_t *ret = NULL, *keep = NULL;

	if (!e)
		skip();
	_cleanup_json_ json_t *spec = json_pack("{s:s,s:s,s:s,s:[s,s,s]}", "name", "crash", "image",
						"enginetest:1", "restart", "on-failure:2", "command", "sh",
						"-c", "echo boom; exit 3");
	assert_int_equal(agent_workload_apply(e->a, spec, false, &ret, &err), 0);
	json_decref(ret);
	assert_int_equal(agent_workload_apply(e->a, spec, false, &ret, &err), -EEXIST);
	/* 1 run + 2 restarts: 3 deaths, backoff 100 ms then 200 ms */
	const char *want[] = { "die", "3" };
	assert_true(run_until(e, n_events, want, 20000));
	run_until(e, n_events, (const char *[]){ "die", "4" }, 1000);
	assert_int_equal(count_events(e, "die", NULL), 3);
	assert_int_equal(count_events(e, "restart", NULL), 2);
	assert_string_equal(status_of(e, "crash-1", &keep), "exited");
	assert_int_equal(json_integer_value(json_object_get(keep, "exit_code")), 3);
	assert_int_equal(json_integer_value(json_object_get(keep, "restarts")), 2);
	json_decref(keep);
	/* logs: three runs' output in one file */
	char **files = NULL;
	bool running = true;
	assert_int_equal(agent_container_logs(e->a, "crash-1", &files, &running, &err), 0);
	assert_false(running);
	_cleanup_free_ char *text = NULL;
	assert_int_equal(fs_read(files[strv_len(files) - 1], &text, &err), 0);
	int n = 0;
	for (char *p = text; (p = strstr(p, "\"l\":\"boom\"")); p++)
		n++;
	assert_int_equal(n, 3);
	strv_free(files);
	/* the event log resumes: replay from 0 has them all, in order */
	json_t *evs = NULL;
	assert_int_equal(agent_events_since(e->a, 0, &evs, &err), 0);
	assert_int_equal(json_array_size(evs), json_array_size(e->events));
	json_decref(evs);
}

static void on_out(void *ctx, int stream, const char *data, size_t len)
{
	struct env *e = ctx;
	if (e->out_n + len < sizeof(e->out)) {
		memcpy(e->out + e->out_n, data, len);
		e->out_n += len;
	}
}

static void on_exec_exit(void *ctx, int code, const struct err *err)
{
	struct env *e = ctx;
	e->exec_code = code;
	e->exec_done = true;
}

static void test_replicas_exec_metrics_stop_restore(void **state)
{
	struct env *e = *state;
	struct err err = { 0 };
	json_t *ret = NULL, *keep = NULL;

	if (!e)
		skip();
	_cleanup_json_ json_t *spec = wl("web", "unless-stopped", "echo up; while :; do sleep 0.2; done");
	assert_int_equal(agent_workload_apply(e->a, spec, false, &ret, &err), 0);
	json_decref(ret);
	assert_true(run_until(e, is_running, "web-1", 20000));
	assert_true(run_until(e, is_running, "web-2", 20000));

	char *argv[] = { "sh", "-c", "echo in-$(hostname); exit 5", NULL };
	assert_int_equal(agent_container_exec(e->a, "web-1", argv, NULL, NULL, NULL, on_out, on_exec_exit, e, &err), 0);
	assert_true(run_until(e, exec_finished, NULL, 10000));
	e->out[e->out_n] = '\0';
	if (e->exec_code != 5)
		fail_msg("exec: %d: %s", e->exec_code, e->out);
	assert_string_equal(e->out, "in-web-1\n");

	json_t *m = NULL;
	assert_int_equal(agent_container_metrics(e->a, "web-1", &m, &err), 0);
	assert_true(json_integer_value(json_object_get(m, "pids")) >= 1);
	assert_true(json_integer_value(json_object_get(m, "memory_bytes")) > 0);
	assert_non_null(json_object_get(m, "cpu_percent"));
	json_decref(m);

	/* stop: not brought back by the policy */
	int one = 1;
	e->done_calls = 0;
	assert_int_equal(agent_container_stop(e->a, "web-2", 5000, on_done, e, &err), 0);
	assert_true(run_until(e, done_called, &one, 10000));
	run_until(e, n_events, (const char *[]){ "restart", "1" }, 500);
	assert_string_equal(status_of(e, "web-2", &keep), "exited");
	json_decref(keep);
	keep = NULL;

	/* live restore: a new agent on the same dirs re-adopts web-1, keeps web-2 stopped */
	_cleanup_json_ json_t *before = NULL;
	assert_int_equal(agent_container_get(e->a, "web-1", &before, &err), 0);
	agent_free(e->a);
	uv_run(&e->loop, UV_RUN_NOWAIT);
	struct agent_config cfg = { .state_dir = e->state, .run_dir = e->run, .exe = e->exe };
	assert_int_equal(agent_new(&e->loop, &cfg, &e->a, &err), 0);
	agent_set_event_cb(e->a, on_event, e);
	assert_int_equal(agent_restore(e->a, &err), 0);
	assert_int_equal(agent_restore(e->a, &err), 0); /* idempotent */
	json_t *all = agent_containers(e->a, true);
	assert_int_equal(json_array_size(all), 2);
	json_decref(all);
	assert_string_equal(status_of(e, "web-1", &keep), "running");
	assert_int_equal(json_integer_value(json_object_get(keep, "pid")),
			 json_integer_value(json_object_get(before, "pid")));
	assert_string_equal(status_of(e, "web-2", &keep), "exited");
	json_decref(keep);

	/* remove a running container: refused without force */
	assert_int_equal(agent_container_remove(e->a, "web-1", false, on_done, e, &err), -EBUSY);
	/* the workload's removal stops and removes its replicas */
	assert_int_equal(agent_workload_remove(e->a, "web", 5000, &err), 0);
	assert_true(run_until(e, is_gone, "web-1", 15000));
	assert_true(run_until(e, is_gone, "web-2", 15000));
	_cleanup_free_ char *rt = xasprintf("%s/runtime", e->run);
	_cleanup_strv_ char **left = NULL;
	_cleanup_free_ char *cdir = xasprintf("%s/containers", e->state);
	assert_true(run_until(e, no_subdirs, cdir, 5000)); /* no container dirs left */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_restart_backoff_and_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replicas_exec_metrics_stop_restore, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
