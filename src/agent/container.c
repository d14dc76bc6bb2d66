/* container: the daemon's side of one container — its record, the monitor that runs
 * it (spawned as a fresh process in its own session, watched through a pidfd, so a
 * re-adopted monitor after a daemon restart is watched the same way), the restart
 * policy with backoff when it dies, stop, removal and exec. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/image.h"
#include "agent/priv.h"
#include "agent/spec.h"
#include "base/fs.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "image/disk.h"
#include "image/rootfs.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"
#include "runtime/state.h"

static void on_monitor_exit(uv_poll_t *h, int status, int events);
struct sync_read;
static void sync_close(struct sync_read *s);

/* ---- handles ---- */

static void free_handle(uv_handle_t *h) { free(h); }

static void close_handle(void *hp)
{
	uv_handle_t **h = hp;
	if (*h && !uv_is_closing(*h))
		uv_close(*h, free_handle);
	*h = NULL;
}

static void timer_start(struct ag_container *c, uv_timer_cb cb, uint64_t ms)
{
	if (!c->timer) {
		c->timer = xcalloc(1, sizeof(*c->timer));
		uv_timer_init(c->a->loop, c->timer);
		c->timer->data = c;
	}
	uv_timer_start(c->timer, cb, ms, 0);
}

static void timer_stop(struct ag_container *c)
{
	if (c->timer)
		uv_timer_stop(c->timer);
}

/* ---- records ---- */

/* durable: fsynced (ag_json_write); one being removed needs its record only across a
 * crash of the daemon, which the page cache survives (ag_json_replace). */
static int record_save(struct ag_container *c, bool durable, struct err *err)
{
	json_object_set_new(c->rec, "stopped", json_boolean(c->user_stopped));
	return (durable ? ag_json_write : ag_json_replace)(c->dir, "config.json", c->rec, err);
}

int ag_container_save(struct ag_container *c, struct err *err)
{
	return record_save(c, true, err);
}

static struct ag_container *container_alloc(struct agent *a, const char *id, json_t *rec)
{
	struct ag_container *c = xcalloc(1, sizeof(*c));

	c->a = a;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->dir = xasprintf("%s/containers/%s", a->state_dir, id);
	c->rec = json_incref(rec);
	c->name = xstrdup(json_string_value(json_object_get(rec, "name")) ?: id);
	if (json_string_value(json_object_get(rec, "workload")))
		c->workload = xstrdup(json_string_value(json_object_get(rec, "workload")));
	c->replica = (int)json_integer_value(json_object_get(rec, "replica"));
	c->user_stopped = json_is_true(json_object_get(rec, "stopped"));
	c->pidfd = -1;
	c->state = AG_EXITED;
	c->next = a->containers;
	a->containers = c;
	a->n_containers++;
	return c;
}

static void container_unlink_free(struct ag_container *c)
{
	struct agent *a = c->a;

	for (struct ag_container **p = &a->containers; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			a->n_containers--;
			break;
		}
	ag_health_stop(c);
	close_handle(&c->poll);
	close_handle(&c->timer);
	if (c->pidfd >= 0)
		close(c->pidfd);
	for (struct ag_waiter *w = c->waiters, *n; w; w = n) {
		n = w->next;
		free(w);
	}
	ag_exit_clear(&c->exit);
	json_decref(c->rec);
	free(c->health_status);
	free(c->name);
	free(c->workload);
	free(c->dir);
	free(c);
}

void ag_container_free_all(struct agent *a)
{
	ag_spare_free(a);
	while (a->syncs)
		sync_close(a->syncs);
	while (a->containers)
		container_unlink_free(a->containers);
}

/* ---- the writable layer's limit (resources.disk) ---- */

static int64_t spec_disk(json_t *spec)
{
	return json_integer_value(json_object_get(json_object_get(spec, "resources"), "disk"));
}

/* c's limit as its record keeps it; false when it has none. */
static bool rec_disk(json_t *rec, struct img_disk *ret)
{
	json_t *j = json_object_get(rec, "disk");
	return j && img_disk_from_json(j, ret, &(struct err){ 0 }) == 0;
}

int ag_disk_check(struct agent *a, json_t *spec, struct err *err)
{
	_cleanup_free_ char *cdir = xasprintf("%s/containers", a->state_dir);
	struct img_disk d = { 0 };

	return spec_disk(spec) > 0 ? img_disk_probe(cdir, &d, err) : 0;
}

/* The limit of a new container (NULL when its spec has none): the way this node
 * enforces it and, for project quotas, an id none of our containers has, its limit set
 * at once so that the id is held. The record keeps it; disk_unclaim gives it back. */
static int disk_claim(struct agent *a, json_t *spec, json_t **ret, struct err *err)
{
	_cleanup_free_ char *cdir = xasprintf("%s/containers", a->state_dir);
	_cleanup_free_ uint32_t *used = xcalloc(a->n_containers + 1, sizeof(*used));
	struct img_disk d = { .bytes = spec_disk(spec) }, o;
	size_t n = 0;
	int r;

	*ret = NULL;
	if (d.bytes <= 0)
		return 0;
	if ((r = img_disk_probe(cdir, &d, err)) < 0)
		return r;
	for (struct ag_container *c = a->containers; c; c = c->next)
		if (rec_disk(c->rec, &o) && o.projid)
			used[n++] = o.projid;
	if ((r = img_disk_claim(cdir, &d, used, n, err)) < 0)
		return r;
	*ret = img_disk_to_json(&d);
	return 0;
}

static void disk_unclaim(struct agent *a, json_t *rec)
{
	_cleanup_free_ char *cdir = xasprintf("%s/containers", a->state_dir);
	struct err err = { 0 };
	struct img_disk d;

	if (rec_disk(rec, &d) && img_disk_unclaim(cdir, &d, &err) < 0)
		log_warn("%s", err.msg);
}

static bool name_taken(struct agent *a, const char *name)
{
	for (struct ag_container *c = a->containers; c; c = c->next)
		if (streq(c->name, name))
			return true;
	return false;
}

int ag_container_new(struct agent *a, struct ag_workload *w, int replica, const char *name,
		     struct ag_container **ret, struct err *err)
{
	unsigned char rnd[6];
	char id[13], t[AG_TIME_MAX];
	_cleanup_free_ char *nm = name ? xstrdup(name) : xasprintf("%s-%d", w->name, replica);
	_cleanup_free_ char *dir = NULL;
	_cleanup_json_ json_t *rec = NULL, *disk = NULL;
	const struct ag_task *task;
	struct ag_container *c;
	int r;

	if (a->n_containers >= AG_MAX_CONTAINERS)
		return err_msg(err, ENOSPC, "too many containers on this node (limit %d)", AG_MAX_CONTAINERS);
	if (name_taken(a, nm))
		return err_msg(err, EEXIST, "a container named '%s' exists", nm);
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return err_sys(err, errno, "getrandom");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	dir = xasprintf("%s/containers/%s", a->state_dir, id);
	if (mkdir(dir, 0700) < 0)
		return err_sys(err, errno, "mkdir '%s'", dir);
	if ((r = disk_claim(a, w->spec, &disk, err)) < 0) {
		rmdir(dir);
		return r;
	}
	ag_time_now(false, t);
	rec = json_pack("{s:s,s:s,s:s,s:i,s:s,s:O,s:I,s:s,s:i,s:b}", "id", id, "name", nm,
			"workload", w->name, "replica", replica, "image",
			json_string_value(json_object_get(w->spec, "image")), "spec", w->spec,
			"generation", (json_int_t)w->generation, "created", t, "restarts", 0,
			"stopped", 0);
	if (w->image_ref)
		json_object_set_new(rec, "image_ref", json_string(w->image_ref));
	/* a terminal held by the monitor (attach.sock), and whether it takes input */
	json_object_set_new(rec, "tty", json_boolean(json_is_true(json_object_get(w->spec, "tty"))));
	json_object_set_new(rec, "stdin", json_boolean(json_is_true(json_object_get(w->spec, "stdin"))));
	if ((task = ag_task_find(w, replica))) {
		json_object_set_new(rec, "task", json_string(task->id));
		json_object_set_new(rec, "task_generation", json_integer((json_int_t)task->generation));
	}
	if (disk)
		json_object_set(rec, "disk", disk);
	if ((r = ag_json_write(dir, "config.json", rec, err)) < 0) {
		disk_unclaim(a, rec);
		fs_rm_rf(dir, &(struct err){ 0 });
		return r;
	}
	c = container_alloc(a, id, rec);
	c->state = AG_CREATED;
	ag_emit(a, "container", "create", c->id,
		json_pack("{s:s,s:s,s:i}", "name", c->name, "workload", w->name, "replica", replica));
	ag_container_report(c, false, NULL);
	*ret = c;
	return 0;
}

/* ---- monitors ---- */

static void on_process_exit(uv_process_t *p, int64_t status, int sig)
{
	uv_close((uv_handle_t *)p, free_handle);
}

/* A monitor's sync pipe, read for the life of its container: unref'd (a daemon that
 * stops does not wait for it) and listed in the agent, whose end closes them all. */
struct sync_read {
	uv_pipe_t pipe;
	char buf[ERR_MSG_MAX + 64];
	size_t n;
	struct agent *a;
	char id[13];
	struct sync_read *next;
};

static void sync_read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

static void sync_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct sync_read *s = h->data;
	b->base = s->buf + s->n;
	b->len = sizeof(s->buf) - 1 - s->n;
}

static void sync_start(struct sync_read *s)
{
	uv_unref((uv_handle_t *)&s->pipe);
	uv_read_start((uv_stream_t *)&s->pipe, sync_alloc, sync_read_cb);
	s->next = s->a->syncs;
	s->a->syncs = s;
}

static void sync_close(struct sync_read *s)
{
	for (struct sync_read **p = &s->a->syncs; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	uv_close((uv_handle_t *)&s->pipe, free_handle);
}

/* "die" (and "oom") for c's exit as c->exit has it. */
static void emit_die(struct ag_container *c)
{
	ag_emit(c->a, "container", "die", c->id,
		json_pack("{s:s,s:s?,s:i,s:b,s:s?}", "name", c->name, "workload", c->workload,
			  "exit_code", c->exit.exit_code, "oom_killed", c->exit.oom_killed,
			  "error", c->exit.error));
	if (c->exit.oom_killed)
		ag_emit(c->a, "container", "oom", c->id, json_pack("{s:s}", "name", c->name));
}

/* The monitor's word that the process is over (its cleanup follows, then it exits):
 * "die" goes out now, so that log followers — a foreground `coop run` — end at once, and
 * the container shows as exited. The rest (the exit record, restarts, waiters) comes
 * when the monitor is gone (container_exited), as it does without this word. */
static void exited_early(struct ag_container *c, int code, int sig, bool oom)
{
	if (c->state != AG_RUNNING || c->died)
		return;
	c->died = true;
	ag_health_stop(c);
	ag_container_backend(c, AG_BACKEND_REMOVE); /* traffic stops going to it now */
	ag_exit_clear(&c->exit);
	c->exit.exit_code = code;
	c->exit.signal = sig;
	c->exit.oom_killed = oom;
	ag_time_now(true, c->exit.finished_at);
	c->has_exit = true;
	emit_die(c);
}

static void sync_line(struct sync_read *s, const char *line)
{
	struct ag_container *c = ag_container_find(s->a, s->id, &(struct err){ 0 });
	int pid, code, sig, oom;

	if (c && sscanf(line, "exited %d %d %d", &code, &sig, &oom) == 3) {
		exited_early(c, code, sig, oom != 0);
	} else if (c && sscanf(line, "started %d", &pid) == 1 && c->state == AG_CREATED) {
		c->state = AG_RUNNING;
		c->init_pid = pid;
		c->started_ms = ag_mono_ms();
		ag_time_now(true, c->started_at);
		ag_emit(s->a, "container", "start", c->id,
			json_pack("{s:s,s:s?,s:i}", "name", c->name, "workload", c->workload, "pid", pid));
		ag_health_start(c);
		/* with a health check it serves once healthy; without, at once */
		ag_container_backend(c, c->health ? AG_BACKEND_UNHEALTHY : AG_BACKEND_HEALTHY);
		ag_dns_refresh(s->a, false); /* its name resolves from now on */
		ag_container_report(c, false, NULL);
	}
}

/* Line by line until the monitor closes its end (an overlong line ends the reading). */
static void sync_read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct sync_read *s = st->data;
	char *nl;

	if (n == 0)
		return;
	if (n > 0) {
		s->n += (size_t)n;
		while ((nl = memchr(s->buf, '\n', s->n))) {
			*nl = '\0';
			sync_line(s, s->buf);
			s->n -= (size_t)(nl + 1 - s->buf);
			memmove(s->buf, nl + 1, s->n);
		}
		if (s->n < sizeof(s->buf) - 1)
			return;
	}
	s->buf[s->n] = '\0';
	if (s->n)
		sync_line(s, s->buf);
	uv_read_stop(st);
	sync_close(s);
}

static int watch_monitor(struct ag_container *c, pid_t pid, struct err *err)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0)
		return err_sys(err, errno, "pidfd_open %d (monitor of '%s')", (int)pid, c->name);
	c->mon_pid = pid;
	c->pidfd = fd;
	c->poll = xcalloc(1, sizeof(*c->poll));
	uv_poll_init(c->a->loop, c->poll, fd);
	c->poll->data = c;
	uv_poll_start(c->poll, UV_READABLE, on_monitor_exit);
	return 0;
}

/* ---- a spare monitor ----
 * A monitor's exec and dynamic linking are ~1.5 ms of a short container's ~15 ms. Once
 * containers start, the daemon keeps one monitor started ahead, waiting on a pipe for
 * its container's id, and the next start hands it the id instead of spawning one. None
 * while idle: the first start spawns the spare (SPARE_DELAY_MS after, off that
 * container's path), each start the next one, and a spare unused for SPARE_IDLE_MS is
 * let go. It exits by itself when the daemon goes (its pipe closes). */
#define SPARE_DELAY_MS 50
#define SPARE_IDLE_MS 60000

struct ag_spare {
	uv_process_t proc;
	uv_pipe_t cmd; /* its fd 4: the container's id, one line */
	struct sync_read *s;
	struct agent *a; /* NULL once used or let go */
	int open;	 /* handles not yet closed */
};

static void spare_closed(uv_handle_t *h)
{
	struct ag_spare *sp = h->data;

	if (--sp->open == 0)
		free(sp);
}

/* Not the spare any more: used (its id written) or let go (it reads EOF and exits). */
static void spare_release(struct agent *a)
{
	struct ag_spare *sp = a->spare;

	if (!sp)
		return;
	a->spare = NULL;
	sp->a = NULL;
	uv_close((uv_handle_t *)&sp->cmd, spare_closed);
}

static void on_spare_exit(uv_process_t *p, int64_t status, int sig)
{
	struct ag_spare *sp = p->data;

	if (sp->a && sp->a->spare == sp) /* died unused */
		spare_release(sp->a);
	uv_close((uv_handle_t *)p, spare_closed);
}

/* coop monitor ID|--spare 4 --state DIR ... --sync-fd 3 */
static char **monitor_args(struct agent *a, const char *id)
{
	char logmax[32];
	snprintf(logmax, sizeof(logmax), "%" PRIu64, a->log_max);
	const char *const v[] = { "coop", "monitor", id ? id : "--spare", id ? NULL : "4",
				  "--state", a->state_dir, "--run", a->run_dir, "--store",
				  a->image_store, "--net-dir", a->net_dir, "--log-max", logmax,
				  "--sync-fd", "3" };
	char **args = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		if (v[i])
			args = strv_append(args, v[i]);
	return args;
}

/* Spawns `coop monitor` for container id — or, id NULL, a spare reading its id from cmd
 * (its fd 4) — with its sync pipe (fd 3) read from now on. The caller closes p on
 * failure (and cmd, if any). */
static int monitor_start(struct agent *a, const char *id, uv_process_t *p, uv_exit_cb on_exit,
			 uv_pipe_t *cmd, struct sync_read **ret, struct err *err)
{
	_cleanup_strv_ char **args = monitor_args(a, id);
	struct sync_read *s = xcalloc(1, sizeof(*s));
	uv_stdio_container_t stdio[5] = { { .flags = UV_IGNORE }, { .flags = UV_IGNORE },
					  { .flags = UV_IGNORE } };
	uv_process_options_t o = { .exit_cb = on_exit, .file = a->exe, .args = args,
				   .flags = UV_PROCESS_DETACHED, .stdio_count = cmd ? 5 : 4,
				   .stdio = stdio };
	int r;

	uv_pipe_init(a->loop, &s->pipe, 0);
	s->pipe.data = s;
	s->a = a;
	if (id)
		snprintf(s->id, sizeof(s->id), "%s", id);
	stdio[3].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[3].data.stream = (uv_stream_t *)&s->pipe;
	if (cmd) {
		stdio[4].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
		stdio[4].data.stream = (uv_stream_t *)cmd;
	}
	if ((r = uv_spawn(a->loop, p, &o)) < 0) {
		uv_close((uv_handle_t *)&s->pipe, free_handle);
		return err_msg(err, -r, "spawn a monitor (%s): %s", a->exe, uv_strerror(r));
	}
	uv_unref((uv_handle_t *)p);
	sync_start(s);
	if (ret)
		*ret = s;
	return 0;
}

static void spare_spawn(struct agent *a)
{
	struct ag_spare *sp = xcalloc(1, sizeof(*sp));
	struct err err = { 0 };

	uv_pipe_init(a->loop, &sp->cmd, 0);
	sp->cmd.data = sp;
	sp->proc.data = sp;
	sp->open = 2;
	if (monitor_start(a, NULL, &sp->proc, on_spare_exit, &sp->cmd, &sp->s, &err) < 0) {
		log_debug("spare: %s", err.msg);
		uv_close((uv_handle_t *)&sp->proc, spare_closed);
		uv_close((uv_handle_t *)&sp->cmd, spare_closed);
		return;
	}
	sp->a = a;
	a->spare = sp;
}

static void on_spare_timer(uv_timer_t *t)
{
	struct agent *a = t->data;

	if (ag_mono_ms() - a->spare_last_ms >= SPARE_IDLE_MS) {
		spare_release(a);
		return;
	}
	if (!a->spare)
		spare_spawn(a);
	uv_timer_start(t, on_spare_timer, SPARE_IDLE_MS, 0);
}

/* A start happened: the next spare comes a little later, the idle clock restarts. */
static void spare_schedule(struct agent *a)
{
	if (!a->spare_timer) {
		a->spare_timer = xcalloc(1, sizeof(*a->spare_timer));
		uv_timer_init(a->loop, a->spare_timer);
		a->spare_timer->data = a;
		uv_unref((uv_handle_t *)a->spare_timer);
	}
	a->spare_last_ms = ag_mono_ms();
	uv_timer_start(a->spare_timer, on_spare_timer, SPARE_DELAY_MS, 0);
}

/* Hands c's id to the spare: its pid, or 0 when there is none or it is gone. */
static pid_t spare_take(struct ag_container *c)
{
	struct agent *a = c->a;
	struct ag_spare *sp = a->spare;
	char line[16];

	if (!sp)
		return 0;
	int n = snprintf(line, sizeof(line), "%s\n", c->id);
	uv_buf_t b = uv_buf_init(line, (unsigned)n);
	pid_t pid = sp->proc.pid;
	bool ok = uv_try_write((uv_stream_t *)&sp->cmd, &b, 1) == n;
	if (ok)
		memcpy(sp->s->id, c->id, sizeof(sp->s->id)); /* its sync pipe speaks for c now */
	spare_release(a);
	return ok ? pid : 0;
}

void ag_spare_free(struct agent *a)
{
	spare_release(a);
	close_handle(&a->spare_timer);
}

int ag_container_spawn(struct ag_container *c, struct err *err)
{
	struct agent *a = c->a;
	_cleanup_free_ char *exitf = xasprintf("%s/exit.json", c->dir);
	_cleanup_free_ char *startf = xasprintf("%s/started.json", c->dir);
	pid_t pid;
	int r;

	rt_cgroup_prime(); /* the monitor attaches the container within ms (rt_cgroup_prime) */
	unlink(exitf);
	unlink(startf);
	spare_schedule(a);
	if ((pid = spare_take(c)) == 0) {
		uv_process_t *p = xcalloc(1, sizeof(*p));
		if ((r = monitor_start(a, c->id, p, on_process_exit, NULL, NULL, err)) < 0) {
			uv_close((uv_handle_t *)p, free_handle);
			return err_wrap(err, "container '%s'", c->name);
		}
		pid = p->pid;
	}
	c->state = AG_CREATED;
	c->has_exit = false;
	if ((r = watch_monitor(c, pid, err)) < 0) {
		/* cannot watch it: stop it rather than leave it unwatched */
		kill(pid, SIGTERM);
		return r;
	}
	return 0;
}

/* What a monitor that died without writing exit.json leaves: the container, its
 * mount. */
static void cleanup_after_monitor(struct ag_container *c)
{
	struct err err = { 0 };
	_cleanup_free_ char *rootfs = xasprintf("%s/bundle/rootfs", c->dir);
	struct img_disk d;

	if (rt_container_delete(c->a->rtroot, c->id, true, &err) < 0 && err.code != ENOENT)
		log_warn("%s", err.msg);
	if (umount2(rootfs, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		log_warn("umount '%s': %s", rootfs, strerror(errno));
	if (rec_disk(c->rec, &d) && img_disk_release(c->dir, &d, &err) < 0)
		log_warn("%s", err.msg);
	if (ag_net_detach(c->a->net_dir, c->dir, c->id, &err) < 0)
		log_warn("%s", err.msg);
}

static void read_exit(struct ag_container *c)
{
	struct err err = { 0 };

	ag_exit_clear(&c->exit);
	if (ag_exit_read(c->dir, &c->exit, &err) < 0) {
		cleanup_after_monitor(c);
		memset(&c->exit, 0, sizeof(c->exit));
		c->exit.exit_code = -1;
		c->exit.error = xasprintf("the monitor died without recording the exit: %s", err.msg);
		ag_time_now(true, c->exit.finished_at);
	}
	c->has_exit = true;
}

static void restart_now(uv_timer_t *t)
{
	struct ag_container *c = t->data;
	struct err err = { 0 };

	if (c->state != AG_RESTARTING)
		return;
	c->state = AG_EXITED;
	if (ag_container_spawn(c, &err) < 0) {
		log_error("%s", err.msg);
		ag_emit(c->a, "container", "restart_failed", c->id,
			json_pack("{s:s,s:s}", "name", c->name, "error", err.msg));
		ag_container_report(c, false, err.msg);
		return;
	}
	ag_emit(c->a, "container", "restart", c->id,
		json_pack("{s:s,s:I}", "name", c->name, "restarts",
			  json_integer_value(json_object_get(c->rec, "restarts"))));
	ag_container_report(c, false, NULL);
}

static void schedule_restart(struct ag_container *c)
{
	uint64_t ran = c->started_ms ? ag_mono_ms() - c->started_ms : 0;
	json_int_t n = json_integer_value(json_object_get(c->rec, "restarts")) + 1;
	uint64_t delay;
	struct err err = { 0 };

	if (ran >= AG_BACKOFF_RESET_MS)
		c->attempts = 0;
	delay = ag_backoff_ms(c->attempts++);
	json_object_set_new(c->rec, "restarts", json_integer(n));
	if (ag_container_save(c, &err) < 0)
		log_warn("%s", err.msg);
	c->state = AG_RESTARTING;
	c->force_restart = false;
	timer_start(c, restart_now, delay);
	ag_container_report(c, false, NULL);
}

static void fire_waiters(struct ag_container *c)
{
	struct ag_waiter *w = c->waiters;

	c->waiters = NULL;
	while (w) {
		struct ag_waiter *n = w->next;
		w->done(w->ctx, 0, NULL);
		free(w);
		w = n;
	}
}

/* The monitor is gone: the container has exited (exit.json tells how). */
static void container_exited(struct ag_container *c)
{
	enum ag_restart pol;
	int max;

	timer_stop(c);
	ag_health_stop(c);
	read_exit(c);
	ag_container_backend(c, AG_BACKEND_REMOVE); /* the monitor's detach did, unless it died */
	c->state = AG_EXITED;
	c->init_pid = 0;
	if (!c->died) /* else the monitor's word came first (exited_early) */
		emit_die(c);
	c->died = false;
	ag_container_report(c, false, NULL);
	ag_spec_restart(json_object_get(c->rec, "spec"), &pol, &max);
	bool again = !c->removing &&
		     (c->force_restart ||
		      ag_restart_wanted(pol, max, c->exit.exit_code,
					(unsigned)json_integer_value(json_object_get(c->rec, "restarts")),
					c->user_stopped));
	if (again)
		schedule_restart(c);
	fire_waiters(c);
}

static void on_monitor_exit(uv_poll_t *h, int status, int events)
{
	struct ag_container *c = h->data;

	close_handle(&c->poll);
	close(c->pidfd);
	c->pidfd = -1;
	c->mon_pid = 0;
	container_exited(c);
}

/* ---- stop and remove ---- */

static void stop_timeout(uv_timer_t *t)
{
	struct ag_container *c = t->data;
	struct err err = { 0 };

	if (c->mon_pid && rt_container_kill(c->a->rtroot, c->id, SIGKILL, true, &err) < 0)
		log_warn("%s", err.msg);
}

static void add_waiter(struct ag_container *c, agent_done_fn done, void *ctx)
{
	struct ag_waiter *w = xcalloc(1, sizeof(*w)), **p = &c->waiters;

	w->done = done;
	w->ctx = ctx;
	while (*p)
		p = &(*p)->next;
	*p = w;
}

/* The signal `stop` sends first: the spec's stop_signal, else the image's StopSignal
 * as the monitor wrote it into the bundle's annotations, else SIGTERM. */
static int stop_signal(struct ag_container *c)
{
	_cleanup_free_ char *cfg = xasprintf("%s/bundle/config.json", c->dir);
	_cleanup_json_ json_t *oci = NULL;
	const char *s = json_string_value(json_object_get(c->rec, "stop_signal"));
	int sig;

	if (!s)
		s = json_string_value(json_object_get(json_object_get(c->rec, "spec"), "stop_signal"));
	if (!s && (oci = json_load_file(cfg, 0, NULL)))
		s = json_string_value(json_object_get(json_object_get(oci, "annotations"),
						      AG_STOP_SIGNAL_ANN));
	sig = s ? rt_signal_parse(s) : -1;
	return sig > 0 ? sig : SIGTERM;
}

int ag_container_stop(struct ag_container *c, uint64_t timeout_ms, bool user, agent_done_fn done,
		      void *ctx, struct err *err)
{
	struct err e = { 0 };

	if (user && !c->user_stopped) {
		c->user_stopped = true;
		if (record_save(c, !c->removing, err) < 0)
			return err->code ? -err->code : -EIO;
	}
	if (c->state == AG_RESTARTING) {
		timer_stop(c);
		c->state = AG_EXITED;
	}
	if (!c->mon_pid) { /* not running */
		if (done)
			ag_defer(c->a, done, ctx, 0, NULL);
		return 0;
	}
	if (done)
		add_waiter(c, done, ctx);
	if (c->died) /* the process is over and its monitor about to exit: nothing to stop */
		return 0;
	/* traffic stops going to it before it is asked to stop */
	ag_container_backend(c, AG_BACKEND_REMOVE);
	if (c->state == AG_CREATED && !c->init_pid) {
		/* still starting: the monitor forwards SIGTERM to the container once made */
		kill(c->mon_pid, SIGTERM);
	} else if (rt_container_kill(c->a->rtroot, c->id, stop_signal(c), false, &e) < 0) {
		log_debug("%s", e.msg);
	}
	timer_start(c, stop_timeout, timeout_ms);
	ag_emit(c->a, "container", "kill", c->id, json_pack("{s:s,s:b}", "name", c->name, "user", user));
	return 0;
}

struct destroy_ctx {
	struct ag_container *c;
	agent_done_fn done;
	void *ctx;
};

/* ---- removal of a container's directory ----
 * Its writable layer can hold any number of files: the directory is renamed out of the
 * way (".gone-<id>", which a restore skips and removes) and the loop goes on while a
 * worker removes it. */
struct rm_job {
	uv_work_t req;
	char *path;
};

static void rm_work(uv_work_t *req)
{
	struct rm_job *j = req->data;
	struct err err = { 0 };

	if (fs_rm_rf(j->path, &err) < 0)
		log_warn("%s", err.msg);
}

static void rm_done(uv_work_t *req, int status)
{
	struct rm_job *j = req->data;

	free(j->path);
	free(j);
}

void ag_rm_later(struct agent *a, const char *path)
{
	struct rm_job *j = xcalloc(1, sizeof(*j));

	j->path = xstrdup(path);
	j->req.data = j;
	if (uv_queue_work(a->loop, &j->req, rm_work, rm_done) < 0) {
		rm_work(&j->req);
		rm_done(&j->req, 0);
	}
}

static void remove_dir(struct ag_container *c)
{
	struct agent *a = c->a;
	struct err err = { 0 };
	struct img_disk d;
	_cleanup_free_ char *gone = xasprintf("%s/containers/.gone-%s", a->state_dir, c->id);

	/* a disk's quota id stays held while its files are there: freed after them */
	if (!rec_disk(c->rec, &d) && rename(c->dir, gone) == 0) {
		ag_rm_later(a, gone);
		return;
	}
	if (fs_rm_rf(c->dir, &err) < 0)
		log_warn("%s", err.msg);
	disk_unclaim(a, c->rec); /* after its files went: a quota id with usage stays held */
}

static void destroy_now(void *p, int status, const struct err *e)
{
	struct destroy_ctx *d = p;
	struct ag_container *c = d->c;
	struct agent *a = c->a;
	char id[13];
	_cleanup_free_ char *name = xstrdup(c->name);
	_cleanup_free_ char *wl = c->workload ? xstrdup(c->workload) : NULL;

	memcpy(id, c->id, sizeof(id));
	cleanup_after_monitor(c);
	remove_dir(c);
	ag_container_report(c, true, "removed");
	container_unlink_free(c);
	ag_emit(a, "container", "destroy", id, json_pack("{s:s,s:s?}", "name", name, "workload", wl));
	if (d->done)
		d->done(d->ctx, 0, NULL);
	free(d);
	struct ag_workload *w = wl ? ag_workload_find(a, wl) : NULL;
	if (w)
		ag_reconcile(a, w);
}

void ag_container_destroy(struct ag_container *c, uint64_t timeout_ms, agent_done_fn done,
			  void *ctx)
{
	struct destroy_ctx *d = xcalloc(1, sizeof(*d));
	struct err err = { 0 };

	d->c = c;
	d->done = done;
	d->ctx = ctx;
	c->removing = true;
	if (ag_container_stop(c, timeout_ms, true, destroy_now, d, &err) < 0) {
		log_warn("%s", err.msg);
		ag_defer(c->a, destroy_now, d, 0, NULL);
	}
}

void ag_container_backend(struct ag_container *c, enum ag_backend state)
{
	struct ag_workload *w = c->workload ? ag_workload_find(c->a, c->workload) : NULL;
	struct err err = { 0 };

	if (w && ag_net_backend(c->a->net_dir, w->name, w->spec, c->name, state, &err) < 0)
		log_warn("container '%s': %s", c->name, err.msg);
}

/* ---- lookup and description ---- */

struct ag_container *ag_container_find(struct agent *a, const char *ref, struct err *err)
{
	struct ag_container *hit = NULL;
	size_t n = strlen(ref);
	int hits = 0;

	for (struct ag_container *c = a->containers; c; c = c->next)
		if (streq(c->id, ref) || streq(c->name, ref))
			return c;
	for (struct ag_container *c = a->containers; c && n >= 1; c = c->next)
		if (strncmp(c->id, ref, n) == 0) {
			hit = c;
			hits++;
		}
	if (hits == 1)
		return hit;
	if (hits > 1)
		err_msg(err, EINVAL, "container '%s' is ambiguous: %d containers match", ref, hits);
	else
		err_msg(err, ENOENT, "container '%s' not found", ref);
	return NULL;
}

static const char *state_name(const struct ag_container *c)
{
	static const char *const names[] = { "created", "running", "exited", "restarting" };
	return c->died ? "exited" : names[c->state]; /* its monitor is cleaning up */
}

json_t *ag_container_json(struct ag_container *c)
{
	json_t *spec = json_object_get(c->rec, "spec");
	json_t *j = json_pack("{s:s,s:s,s:s?,s:i,s:O?,s:s,s:O?,s:O?,s:O?,s:b}", "id", c->id, "name",
			      c->name, "workload", c->workload, "replica", c->replica, "image",
			      json_object_get(c->rec, "image"), "status", state_name(c), "created",
			      json_object_get(c->rec, "created"), "restarts",
			      json_object_get(c->rec, "restarts"), "ports",
			      json_object_get(spec, "ports"), "stopped", c->user_stopped);
	_cleanup_free_ char *netf = xasprintf("%s/net.json", c->dir);
	_cleanup_json_ json_t *net = json_load_file(netf, 0, NULL);

	json_object_set(j, "ip", json_object_get(net, "ip") ?: json_null());
	json_object_set_new(j, "health", c->health_status ? json_string(c->health_status) : json_null());
	if (c->init_pid)
		json_object_set_new(j, "pid", json_integer(c->init_pid));
	if (c->started_at[0])
		json_object_set_new(j, "started_at", json_string(c->started_at));
	if (c->has_exit) {
		json_object_set_new(j, "exit_code", json_integer(c->exit.exit_code));
		json_object_set_new(j, "finished_at", json_string(c->exit.finished_at));
		json_object_set_new(j, "oom_killed", json_boolean(c->exit.oom_killed));
		if (c->exit.error)
			json_object_set_new(j, "error", json_string(c->exit.error));
	}
	if (json_is_true(json_object_get(spec, "tty"))) {
		json_object_set_new(j, "tty", json_true());
		json_object_set_new(j, "stdin", json_boolean(json_is_true(json_object_get(spec, "stdin"))));
	}
	struct img_disk d;
	int64_t used;
	if (rec_disk(c->rec, &d)) {
		json_t *dj = json_pack("{s:I,s:s}", "limit", (json_int_t)d.bytes, "kind",
				       img_disk_kind_name(d.kind));
		if (img_disk_usage(c->dir, &d, &used, &(struct err){ 0 }) == 0)
			json_object_set_new(dj, "used", json_integer(used));
		json_object_set_new(j, "disk", dj);
	}
	if (json_object_get(c->rec, "task")) {
		json_object_set(j, "task", json_object_get(c->rec, "task"));
		json_object_set(j, "task_generation", json_object_get(c->rec, "task_generation"));
	}
	return j;
}

void ag_container_report(struct ag_container *c, bool gone, const char *msg)
{
	const char *task = json_string_value(json_object_get(c->rec, "task"));
	uint64_t gen = (uint64_t)json_integer_value(json_object_get(c->rec, "task_generation"));
	_cleanup_json_ json_t *j = NULL;

	if (!task || !c->a->task_fn)
		return;
	_cleanup_free_ char *id = xstrdup(task); /* the callback may change c->rec */
	j = gone ? NULL : ag_container_json(c);
	ag_task_notify(c->a, id, gen, j, msg);
}

/* ---- restore ---- */

static void restore_running(struct ag_container *c, pid_t mon)
{
	_cleanup_free_ char *startf = xasprintf("%s/started.json", c->dir);
	_cleanup_json_ json_t *st = json_load_file(startf, 0, NULL);
	struct err err = { 0 };

	if (watch_monitor(c, mon, &err) < 0) {
		log_warn("%s", err.msg);
		return;
	}
	if (st) {
		c->state = AG_RUNNING;
		c->init_pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
		snprintf(c->started_at, sizeof(c->started_at), "%s",
			 json_string_value(json_object_get(st, "started_at")) ?: "");
		c->started_ms = ag_mono_ms(); /* unknown: counts from now for the backoff */
		ag_health_start(c);
		if (!c->health)
			ag_container_backend(c, AG_BACKEND_HEALTHY);
	} else {
		c->state = AG_CREATED; /* still starting: its sync pipe went with the old daemon */
	}
	ag_container_report(c, false, NULL);
}

int ag_container_restore(struct agent *a, const char *id, struct err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/containers/%s", a->state_dir, id);
	_cleanup_free_ char *cfg = xasprintf("%s/config.json", dir);
	_cleanup_json_ json_t *rec = NULL;
	struct ag_container *c;
	enum ag_restart pol;
	pid_t mon;
	int r, max;

	for (c = a->containers; c; c = c->next)
		if (streq(c->id, id))
			return -EEXIST;
	if ((r = js_load_file(cfg, &rec, err)) < 0)
		return r;
	c = container_alloc(a, id, rec);
	if (ag_pidfile_alive(dir, &mon)) {
		restore_running(c, mon);
		return 0;
	}
	_cleanup_free_ char *exitf = xasprintf("%s/exit.json", dir);
	_cleanup_free_ char *pidf = xasprintf("%s/monitor.pid", dir);
	if (access(exitf, F_OK) < 0 && access(pidf, F_OK) < 0) {
		/* made but never started: the daemon died before spawning its monitor */
		c->state = AG_CREATED;
		if (!c->user_stopped && (r = ag_container_spawn(c, err)) < 0)
			return r;
		ag_container_report(c, false, NULL);
		return 0;
	}
	read_exit(c);
	c->state = AG_EXITED;
	ag_container_report(c, false, NULL);
	ag_spec_restart(json_object_get(rec, "spec"), &pol, &max);
	if (pol == AG_RESTART_ALWAYS && c->user_stopped) {
		/* Docker's rule: "always" brings back even a stopped container when the
		 * daemon starts; "unless-stopped" does not */
		c->user_stopped = false;
		ag_container_save(c, &(struct err){ 0 });
	}
	if (ag_restart_wanted(pol, max, c->exit.exit_code,
			      (unsigned)json_integer_value(json_object_get(rec, "restarts")),
			      c->user_stopped))
		schedule_restart(c);
	return 0;
}

/* ---- exec ---- */

struct exec_run {
	uv_process_t proc;
	uv_pipe_t out, err;
	uv_timer_t timer;
	agent_output_fn outfn;
	agent_exit_fn done;
	void *ctx;
	int open; /* handles not yet closed */
	int64_t status;
	int sig;
	bool exited, timed_out;
	char buf[65536];
};

static void exec_closed(uv_handle_t *h)
{
	struct exec_run *x = h->data;

	if (--x->open > 0)
		return;
	int code = x->sig ? 128 + x->sig : (int)x->status;
	if (!x->done) {
		;
	} else if (x->timed_out) {
		struct err e = { 0 };
		err_msg(&e, ETIMEDOUT, "exec timed out");
		x->done(x->ctx, -1, &e);
	} else {
		x->done(x->ctx, code, NULL);
	}
	free(x);
}

static void exec_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct exec_run *x = h->data;
	b->base = x->buf;
	b->len = sizeof(x->buf);
}

static void exec_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct exec_run *x = s->data;

	if (n > 0 && x->outfn)
		x->outfn(x->ctx, s == (uv_stream_t *)&x->out ? 1 : 2, b->base, (size_t)n);
	else if (n < 0)
		uv_close((uv_handle_t *)s, exec_closed);
}

static void exec_exit(uv_process_t *p, int64_t status, int sig)
{
	struct exec_run *x = p->data;

	x->status = status;
	x->sig = sig;
	uv_close((uv_handle_t *)&x->timer, exec_closed);
	uv_close((uv_handle_t *)p, exec_closed);
}

static void exec_timeout(uv_timer_t *t)
{
	struct exec_run *x = t->data;

	x->timed_out = true;
	uv_process_kill(&x->proc, SIGKILL);
}

int ag_exec_spawn(struct ag_container *c, char *const *argv, char *const *env, const char *user,
		  const char *cwd, uint64_t timeout_ms, agent_output_fn out, agent_exit_fn done,
		  void *ctx, struct err *err)
{
	struct agent *a = c->a;
	_cleanup_strv_ char **args = NULL;
	struct exec_run *x;
	int r;

	if (c->state != AG_RUNNING)
		return err_msg(err, EINVAL, "container '%s' is not running", c->name);
	if (!argv || !argv[0])
		return err_msg(err, EINVAL, "exec: no command");
	/* argv[0] "coop-runtime" selects the runtime CLI (as the symlink does); "coop
	 * runtime" would lose its verb when the runtime re-executes itself sealed */
	args = strv_append(args, "coop-runtime");
	args = strv_append(args, "--root");
	args = strv_append(args, a->rtroot);
	args = strv_append(args, "exec");
	for (size_t i = 0; env && env[i]; i++) {
		args = strv_append(args, "--env");
		args = strv_append(args, env[i]);
	}
	if (user) {
		args = strv_append(args, "--user");
		args = strv_append(args, user);
	}
	if (cwd) {
		args = strv_append(args, "--cwd");
		args = strv_append(args, cwd);
	}
	args = strv_append(args, c->id);
	for (size_t i = 0; argv[i]; i++)
		args = strv_append(args, argv[i]);
	x = xcalloc(1, sizeof(*x));
	x->outfn = out;
	x->done = done;
	x->ctx = ctx;
	uv_pipe_init(a->loop, &x->out, 0);
	uv_pipe_init(a->loop, &x->err, 0);
	uv_timer_init(a->loop, &x->timer);
	x->proc.data = x->out.data = x->err.data = x->timer.data = x;
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_IGNORE },
		{ .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&x->out },
		{ .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&x->err },
	};
	uv_process_options_t o = { .exit_cb = exec_exit, .file = a->exe, .args = args,
				   .stdio_count = 3, .stdio = stdio };
	x->open = 4;
	if ((r = uv_spawn(a->loop, &x->proc, &o)) < 0) {
		/* nothing started: close the handles, never call done */
		x->done = NULL;
		uv_close((uv_handle_t *)&x->proc, exec_closed);
		uv_close((uv_handle_t *)&x->out, exec_closed);
		uv_close((uv_handle_t *)&x->err, exec_closed);
		uv_close((uv_handle_t *)&x->timer, exec_closed);
		return err_msg(err, -r, "exec in '%s': %s", c->name, uv_strerror(r));
	}
	uv_read_start((uv_stream_t *)&x->out, exec_alloc, exec_read);
	uv_read_start((uv_stream_t *)&x->err, exec_alloc, exec_read);
	if (timeout_ms)
		uv_timer_start(&x->timer, exec_timeout, timeout_ms, 0);
	return 0;
}
