/* container: lifecycle operations, the runtime's (parent) side. */
#include "runtime/container.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "base/fs.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "runtime/cgroup.h"
#include "runtime/hooks.h"
#include "runtime/linux.h"
#include "runtime/seccomp.h"
#include "runtime/state.h"
#include "runtime/terminal.h"

/* ---- small helpers ---- */

static char *now_rfc3339(void)
{
	struct timespec ts;
	struct tm tm;
	char buf[64];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = (int)strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%09ldZ", ts.tv_nsec);
	return xstrdup(buf);
}

static int write_pid_file(const char *file, pid_t pid, struct err *err)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", pid);
	return file ? fs_replace(file, buf, n, 0644, err) : 0;
}

static int write_id_map(pid_t pid, const char *file, const struct rt_id_map *m, size_t n,
			struct err *err)
{
	char path[64], buf[4096];
	size_t len = 0;

	for (size_t i = 0; i < n && len < sizeof(buf) - 40; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n", m[i].container_id,
				m[i].host_id, m[i].size);
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	if (fs_write(path, buf, err) < 0)
		return err_wrap(err, "linux.%s", streq(file, "uid_map") ? "uidMappings" : "gidMappings");
	return 0;
}

static int write_id_maps(pid_t pid, const struct rt_config *c, struct err *err)
{
	if (write_id_map(pid, "uid_map", c->uid_maps, c->n_uid_maps, err) < 0 ||
	    write_id_map(pid, "gid_map", c->gid_maps, c->n_gid_maps, err) < 0)
		return -err->code;
	return 0;
}

static char *state_json_string(const struct rt_state *st, enum rt_status status)
{
	struct rt_state copy = *st;
	_cleanup_json_ json_t *j = NULL;

	copy.status = status;
	j = rt_state_json(&copy);
	return json_dumps(j, JSON_COMPACT);
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Waits until pid (not necessarily our child) is gone; reaps it when it is ours. */
static void wait_gone(pid_t pid, int timeout_ms)
{
	_cleanup_close_ int pfd = pidfd_open_(pid);

	if (pfd >= 0) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		poll(&p, 1, timeout_ms);
	}
	waitpid(pid, NULL, WNOHANG);
}

/* ---- create ---- */

struct creation {
	struct rt_config *cfg;
	json_t *doc;
	struct rt_state st;
	struct rt_cgroup *cg;
	int sync[2];
	int fifo_fd;
	int console_fd;
	pid_t pid;      /* the container init */
	pid_t stage1;   /* two-stage creation only */
	bool dir_made;
};

static void creation_undo(struct creation *cr)
{
	struct err ignored;

	if (cr->stage1 > 0) {
		kill(cr->stage1, SIGKILL);
		waitpid(cr->stage1, NULL, 0);
	}
	if (cr->pid > 0) {
		kill(cr->pid, SIGKILL);
		wait_gone(cr->pid, 1000);
	}
	if (cr->cg)
		rt_cgroup_destroy(cr->cg, &ignored);
	if (cr->dir_made)
		fs_rm_rf(cr->st.dir, &ignored);
}

static void creation_free(struct creation *cr)
{
	if (cr->cg)
		rt_cgroup_free(cr->cg);
	rt_config_free(cr->cfg);
	if (cr->doc)
		json_decref(cr->doc);
	free(cr->st.id);
	free(cr->st.dir);
	free(cr->st.bundle);
	free(cr->st.rootfs);
	free(cr->st.created);
	free(cr->st.cgroup);
	for (int i = 0; i < 2; i++)
		if (cr->sync[i] >= 0)
			close(cr->sync[i]);
	if (cr->fifo_fd >= 0)
		close(cr->fifo_fd);
	if (cr->console_fd >= 0)
		close(cr->console_fd);
}

static int load_bundle(const struct rt_create_opts *o, struct creation *cr, struct err *err)
{
	char real[4096];
	_cleanup_free_ char *file = NULL;
	struct stat sb;
	int r;

	if (!realpath(o->bundle ? o->bundle : ".", real))
		return err_sys(err, errno, "bundle '%s'", o->bundle ? o->bundle : ".");
	file = xasprintf("%s/config.json", real);
	if ((r = js_load_file(file, &cr->doc, err)) < 0)
		return r;
	if ((r = rt_config_parse(cr->doc, real, &cr->cfg, err)) < 0)
		return err_wrap(err, "%s", file);
	if (stat(cr->cfg->root_path, &sb) < 0)
		return err_sys(err, errno, "%s: root.path '%s'", file, cr->cfg->root_path);
	if (!S_ISDIR(sb.st_mode))
		return err_msg(err, ENOTDIR, "%s: root.path '%s' is not a directory", file,
			       cr->cfg->root_path);
	cr->st.bundle = xstrdup(real);
	cr->st.rootfs = xstrdup(cr->cfg->root_path);
	return 0;
}

static int clone_flags(const struct rt_config *c, bool *two_stage)
{
	int flags = 0;
	bool paths = false, user_new = false;

	for (size_t i = 0; i < c->n_namespaces; i++) {
		const struct rt_namespace *ns = &c->namespaces[i];
		if (ns->path) {
			paths = true;
			if (ns->type == CLONE_NEWUSER || ns->type == CLONE_NEWPID)
				*two_stage = true;
			continue;
		}
		/* CLONE_NEWTIME shares clone()'s exit-signal bits: only unshare() takes it,
		 * and only for children, hence two stages */
		if (ns->type == 0x80 /* CLONE_NEWTIME */)
			*two_stage = true;
		/* the init unshares its cgroup namespace once it is in its cgroup */
		if (ns->type != CLONE_NEWCGROUP)
			flags |= ns->type;
		if (ns->type == CLONE_NEWUSER)
			user_new = true;
	}
	/* namespaces joined from inside a new user namespace would be out of reach */
	if (paths && user_new)
		*two_stage = true;
	return flags;
}

static void stage1_main(struct rt_init *in, int flags)
{
	const struct rt_config *c = in->cfg;
	struct rt_sync_msg *msg = xmalloc(sizeof(*msg));
	struct err err = { 0 };
	const struct rt_namespace *user = rt_config_namespace(c, CLONE_NEWUSER);
	pid_t pid;

	/* the user namespace first: the others may belong to it */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < c->n_namespaces; i++) {
			const struct rt_namespace *ns = &c->namespaces[i];
			if (!ns->path || (pass == 0) != (ns->type == CLONE_NEWUSER))
				continue;
			int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
			if (fd < 0 || setns(fd, ns->type) < 0) {
				err_sys(&err, errno, "linux.namespaces: join %s namespace '%s'",
					rt_namespace_name(ns->type), ns->path);
				goto fail;
			}
			close(fd);
		}
	}
	if (user && !user->path) {
		if (unshare(CLONE_NEWUSER) < 0) {
			err_sys(&err, errno, "create user namespace");
			goto fail;
		}
		rt_sync_send(in->sync_fd, RT_SYNC_MAP, getpid(), NULL);
		if (rt_sync_expect(in->sync_fd, RT_SYNC_GO, msg, &err) < 0)
			_exit(1);
	}
	if (unshare(flags & ~CLONE_NEWUSER) < 0) {
		err_sys(&err, errno, "create namespaces");
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		err_sys(&err, errno, "fork container init");
		goto fail;
	}
	if (pid == 0) {
		rt_init_main(in);
		_exit(1);
	}
	rt_sync_send(in->sync_fd, RT_SYNC_PID, pid, NULL);
	_exit(0);
fail:
	rt_sync_send(in->sync_fd, RT_SYNC_ERROR, err.code, err.msg);
	_exit(1);
}

static int spawn_init(const struct rt_create_opts *o, struct creation *cr, struct err *err)
{
	const struct rt_config *c = cr->cfg;
	bool two_stage = false;
	int flags = clone_flags(c, &two_stage);
	struct rt_init in = {
		.cfg = c, .proc = c->process, .cgroup = cr->cg, .sync_fd = cr->sync[1],
		.fifo_fd = cr->fifo_fd, .console_fd = cr->console_fd,
		.preserve_fds = o->preserve_fds, .no_pivot = o->no_pivot,
		.userns = rt_config_namespace(c, CLONE_NEWUSER) != NULL,
		.cgroupns = rt_config_namespace(c, CLONE_NEWCGROUP) &&
			    !rt_config_namespace(c, CLONE_NEWCGROUP)->path,
		.two_stage = two_stage,
	};
	pid_t parent = getpid(), pid;
	struct rt_sync_msg *msg;
	int r;

	pid = (pid_t)syscall(SYS_clone, (two_stage ? 0 : flags) | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return err_sys(err, errno, "create container namespaces");
	if (pid == 0) {
		close(cr->sync[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent && !(flags & CLONE_NEWPID))
			_exit(1);
		/* nothing in here may be read through /proc/PID by the container */
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		if (two_stage)
			stage1_main(&in, flags);
		rt_init_main(&in);
		_exit(1);
	}
	close(take_fd(cr->sync[1]));
	if (!two_stage) {
		cr->pid = pid;
		if ((flags & CLONE_NEWUSER) && (r = write_id_maps(pid, c, err)) < 0)
			return r;
		return 0;
	}
	cr->stage1 = pid;
	msg = xmalloc(sizeof(*msg));
	for (;;) {
		if ((r = rt_sync_recv(cr->sync[0], msg, err)) < 0)
			break;
		if (msg->type == RT_SYNC_MAP) {
			if ((r = write_id_maps(msg->value, c, err)) < 0)
				break;
			rt_sync_send(cr->sync[0], RT_SYNC_GO, 0, NULL);
		} else if (msg->type == RT_SYNC_PID) {
			cr->pid = msg->value;
			waitpid(cr->stage1, NULL, 0);
			cr->stage1 = 0;
			break;
		} else {
			r = err_msg(err, EPROTO, "container init: unexpected message %d", msg->type);
			break;
		}
	}
	free(msg);
	return r;
}

static int set_oom_score(pid_t pid, const struct rt_process *p, struct err *err)
{
	char path[64], val[16];

	if (!p || !p->has_oom_score_adj)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", pid);
	snprintf(val, sizeof(val), "%d", p->oom_score_adj);
	if (fs_write(path, val, err) < 0)
		return err_wrap(err, "process.oomScoreAdj");
	return 0;
}

/* Talks the init through setup: runs the hooks it asks for, until it says created. */
static int drive_init(struct creation *cr, struct err *err)
{
	_cleanup_free_ char *creating = state_json_string(&cr->st, RT_CREATING);
	_cleanup_free_ struct rt_sync_msg *msg = xmalloc(sizeof(*msg));
	int r;

	if (rt_sync_send(cr->sync[0], RT_SYNC_GO, 0, creating) < 0)
		return err_sys(err, errno, "start container init");
	for (;;) {
		if ((r = rt_sync_recv(cr->sync[0], msg, err)) < 0)
			return r;
		switch (msg->type) {
		case RT_SYNC_HOOKS:
			if ((r = rt_hooks_run(&cr->cfg->hooks, RT_HOOK_PRESTART, creating, err)) < 0 ||
			    (r = rt_hooks_run(&cr->cfg->hooks, RT_HOOK_CREATE_RUNTIME, creating, err)) < 0)
				return r;
			rt_sync_send(cr->sync[0], RT_SYNC_GO, 0, NULL);
			break;
		case RT_SYNC_CREATED:
			return 0;
		default:
			return err_msg(err, EPROTO, "container init: unexpected message %d", msg->type);
		}
	}
}

/* Compiles the filter before clone, from a cache under the state root: libseccomp
 * takes ~11 ms to build Docker's profile, loading a compiled one ~0.5 ms. */
static int prepare_seccomp(const char *root, struct rt_seccomp *sc, struct err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/.seccomp-cache", root);
	return rt_seccomp_prepare(sc, dir, err);
}

static int do_create(const struct rt_create_opts *o, int console_fd, struct creation *cr,
		     struct err *err)
{
	_cleanup_free_ char *fifo = NULL;
	int r;

	if ((r = rt_id_validate(o->id, err)) < 0 || (r = load_bundle(o, cr, err)) < 0)
		return r;
	rt_cgroup_prime(); /* its grace period passes while we set up (rt_cgroup_prime) */
	if ((r = fs_mkdir_p(o->root, 0700, err)) < 0)
		return r;
	cr->st.id = xstrdup(o->id);
	cr->st.dir = rt_state_dir(o->root, o->id);
	if (mkdir(cr->st.dir, 0700) < 0) {
		if (errno == EEXIST)
			return err_msg(err, EEXIST, "container '%s' already exists", o->id);
		return err_sys(err, errno, "mkdir '%s'", cr->st.dir);
	}
	cr->dir_made = true;
	fifo = xasprintf("%s/exec.fifo", cr->st.dir);
	if (mkfifo(fifo, 0600) < 0)
		return err_sys(err, errno, "mkfifo '%s'", fifo);
	/* O_RDWR never blocks; init's read on it blocks until `start` writes */
	cr->fifo_fd = open(fifo, O_RDWR | O_CLOEXEC);
	if (cr->fifo_fd < 0)
		return err_sys(err, errno, "open '%s'", fifo);
	if (console_fd >= 0 && (cr->console_fd = fcntl(console_fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return err_sys(err, errno, "dup console socket");
	if (o->console_socket && (cr->console_fd = rt_console_connect(o->console_socket, err)) < 0)
		return cr->console_fd;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cr->sync) < 0)
		return err_sys(err, errno, "create socket pair");
	if (cr->cfg->seccomp && (r = prepare_seccomp(o->root, cr->cfg->seccomp, err)) < 0)
		return r;
	if ((r = rt_cgroup_create(cr->cfg->cgroups_path, o->id, cr->cfg->resources, 0, &cr->cg, err)) < 0)
		return r;
	cr->st.cgroup = xstrdup(rt_cgroup_path(cr->cg));
	rt_cgroup_prime_wait(); /* before spawn_init's raw clone() */
	if ((r = spawn_init(o, cr, err)) < 0)
		return r;
	if ((r = rt_cgroup_enter(cr->cg, cr->pid, err)) < 0 ||
	    (r = set_oom_score(cr->pid, cr->cfg->process, err)) < 0)
		return r;
	cr->st.pid = cr->pid;
	cr->st.start_time = rt_proc_start_time(cr->pid);
	cr->st.created = now_rfc3339();
	cr->st.config = cr->doc;
	cr->st.own_pidns = rt_config_namespace(cr->cfg, CLONE_NEWPID) &&
			   !rt_config_namespace(cr->cfg, CLONE_NEWPID)->path;
	if ((r = drive_init(cr, err)) < 0)
		return r;
	if ((r = rt_state_save(&cr->st, err)) < 0 || (r = write_pid_file(o->pid_file, cr->pid, err)) < 0)
		return r;
	return 0;
}

static int container_create(const struct rt_create_opts *o, int console_fd, pid_t *ret_pid,
			    struct err *err)
{
	struct creation cr = { .sync = { -1, -1 }, .fifo_fd = -1, .console_fd = -1 };
	int r;

	/* orphaned grandchildren of a two-stage create come back to us, not to PID 1 */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	r = do_create(o, console_fd, &cr, err);
	if (r < 0)
		creation_undo(&cr);
	else if (ret_pid)
		*ret_pid = cr.pid;
	cr.st.config = NULL; /* borrowed from cr.doc */
	creation_free(&cr);
	return r;
}

int rt_container_create(const struct rt_create_opts *o, pid_t *ret_pid, struct err *err)
{
	return container_create(o, -1, ret_pid, err);
}

/* ---- start, kill, delete, pause, update, ps ---- */

static int load_config(const struct rt_state *st, struct rt_config **ret, struct err *err)
{
	if (!st->config)
		return err_msg(err, EINVAL, "container '%s': state has no config", st->id);
	return rt_config_parse(st->config, st->bundle, ret, err);
}

static void run_hooks_warn(const struct rt_state *st, enum rt_hook_kind kind)
{
	struct rt_config *cfg = NULL;
	struct err err = { 0 };
	_cleanup_free_ char *js = NULL;

	if (!st->config || !json_object_get(st->config, "hooks") || load_config(st, &cfg, &err) < 0)
		return;
	if (cfg->hooks.n[kind]) {
		js = state_json_string(st, st->status);
		if (rt_hooks_run(&cfg->hooks, kind, js, &err) < 0)
			log_warn("%s", err.msg);
	}
	rt_config_free(cfg);
}

int rt_container_start(const char *root, const char *id, struct err *err)
{
	struct rt_state *st = NULL;
	_cleanup_free_ char *fifo = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if ((r = rt_state_load(root, id, &st, err)) < 0)
		return r;
	if (st->status != RT_CREATED) {
		r = err_msg(err, EINVAL, "container '%s' is %s, not created: cannot start it", id,
			    rt_status_name(st->status));
		goto out;
	}
	fifo = xasprintf("%s/exec.fifo", st->dir);
	fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = errno == ENXIO ? err_msg(err, ESRCH, "container '%s' init has exited", id)
				   : err_sys(err, errno, "open '%s'", fifo);
		goto out;
	}
	if (write(fd, "0", 1) != 1) {
		r = err_sys(err, errno, "start container '%s'", id);
		goto out;
	}
	unlink(fifo);
	st->status = RT_RUNNING;
	run_hooks_warn(st, RT_HOOK_POSTSTART);
	r = 0;
out:
	rt_state_free(st);
	return r;
}

static int signal_pid(const struct rt_state *st, int sig, struct err *err)
{
	_cleanup_close_ int pfd = pidfd_open_(st->pid);

	/* a pidfd pins the process: the signal cannot reach a recycled pid */
	if (pfd < 0 || rt_proc_start_time(st->pid) != st->start_time)
		return err_msg(err, ESRCH, "container '%s' is not running", st->id);
	if (syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0) < 0)
		return err_sys(err, errno, "send signal %d to container '%s'", sig, st->id);
	return 0;
}

static void state_freep(struct rt_state **st)
{
	rt_state_free(*st);
}

static void cgroup_freep(struct rt_cgroup **cg)
{
	if (*cg)
		rt_cgroup_free(*cg);
}

#define _cleanup_state_ _cleanup_(state_freep)
#define _cleanup_cgroup_ _cleanup_(cgroup_freep)

static int with_cgroup(const struct rt_state *st, struct rt_cgroup **ret, struct err *err)
{
	if (!st->cgroup)
		return err_msg(err, ENOENT, "container '%s' has no cgroup", st->id);
	return rt_cgroup_open(st->cgroup, ret, err);
}

int rt_container_kill(const char *root, const char *id, int sig, bool all, struct err *err)
{
	_cleanup_state_ struct rt_state *st = NULL;
	_cleanup_cgroup_ struct rt_cgroup *cg = NULL;
	int r;

	if ((r = rt_state_load(root, id, &st, err)) < 0)
		return r;
	if (st->status == RT_STOPPED || st->status == RT_CREATING) {
		r = err_msg(err, ESRCH, "container '%s' is %s: nothing to signal", id,
			    rt_status_name(st->status));
	} else if (all) {
		if ((r = with_cgroup(st, &cg, err)) == 0)
			r = rt_cgroup_kill_all(cg, sig, err);
	} else {
		r = signal_pid(st, sig, err);
	}
	return r;
}

int rt_container_delete(const char *root, const char *id, bool force, struct err *err)
{
	struct rt_state *st = NULL;
	struct rt_cgroup *cg = NULL;
	int r;

	if ((r = rt_state_load(root, id, &st, err)) < 0)
		return r;
	if (st->status != RT_STOPPED && !force) {
		r = err_msg(err, EBUSY, "container '%s' is %s: stop it first or use --force", id,
			    rt_status_name(st->status));
		goto out;
	}
	if (st->cgroup && rt_cgroup_open(st->cgroup, &cg, NULL) == 0) {
		/* a paused container cannot die until it is thawed */
		if (st->status == RT_PAUSED)
			rt_cgroup_freeze(cg, false, NULL);
		rt_cgroup_kill_all(cg, SIGKILL, NULL);
	}
	if (st->status != RT_STOPPED && st->pid > 0) {
		signal_pid(st, SIGKILL, NULL);
		wait_gone(st->pid, 2000);
	}
	if (cg && (r = rt_cgroup_destroy(cg, err)) < 0)
		goto out;
	st->status = RT_STOPPED;
	run_hooks_warn(st, RT_HOOK_POSTSTOP);
	r = fs_rm_rf(st->dir, err);
out:
	if (cg)
		rt_cgroup_free(cg);
	rt_state_free(st);
	return r;
}

int rt_container_pause(const char *root, const char *id, bool pause, struct err *err)
{
	_cleanup_state_ struct rt_state *st = NULL;
	_cleanup_cgroup_ struct rt_cgroup *cg = NULL;
	enum rt_status want = pause ? RT_RUNNING : RT_PAUSED;
	int r;

	if ((r = rt_state_load(root, id, &st, err)) < 0)
		return r;
	if (st->status != want)
		r = err_msg(err, EINVAL, "container '%s' is %s: cannot %s it", id,
			    rt_status_name(st->status), pause ? "pause" : "resume");
	else if ((r = with_cgroup(st, &cg, err)) == 0)
		r = rt_cgroup_freeze(cg, pause, err);
	return r;
}

int rt_container_update(const char *root, const char *id, const struct rt_resources *res,
			struct err *err)
{
	_cleanup_state_ struct rt_state *st = NULL;
	_cleanup_cgroup_ struct rt_cgroup *cg = NULL;
	int r;

	if ((r = rt_state_load(root, id, &st, err)) < 0)
		return r;
	if (st->status == RT_STOPPED)
		r = err_msg(err, ESRCH, "container '%s' is stopped", id);
	else if ((r = with_cgroup(st, &cg, err)) == 0)
		r = rt_cgroup_update(cg, res, err);
	return r;
}

int rt_container_pids(const char *root, const char *id, pid_t **ret, size_t *ret_n,
		      struct err *err)
{
	_cleanup_state_ struct rt_state *st = NULL;
	_cleanup_cgroup_ struct rt_cgroup *cg = NULL;
	int r;

	if ((r = rt_state_load(root, id, &st, err)) < 0)
		return r;
	if ((r = with_cgroup(st, &cg, err)) == 0)
		r = rt_cgroup_pids(cg, ret, ret_n, err);
	return r;
}

/* ---- waiting in the foreground ---- */

/* Forwards every signal we get to pid, proxies the terminal master (if any), reaps
 * orphans (we are a subreaper) and returns pid's exit code, 128+N for signal N. */
static int wait_foreground(pid_t pid, int master)
{
	sigset_t all;
	int sfd, code = 255;
	struct pollfd p[3];
	char buf[8192];

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	sfd = signalfd(-1, &all, SFD_CLOEXEC);
	p[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = master, .events = POLLIN };
	p[2] = (struct pollfd){ .fd = master >= 0 ? 0 : -1, .events = POLLIN };
	for (;;) {
		int status;
		pid_t w;

		while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
			if (w != pid)
				continue;
			code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			goto done;
		}
		if (w < 0 && errno == ECHILD)
			goto done;
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			goto done;
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGCHLD)
				kill(pid, (int)si.ssi_signo);
		}
		if (p[1].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(master, buf, sizeof(buf));
			if (n <= 0)
				p[1].fd = -1;
			else if (write(1, buf, n) < 0)
				p[1].fd = -1;
		}
		if (p[2].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n <= 0 || write(master, buf, n) < 0)
				p[2].fd = -1;
		}
	}
done:
	close(sfd);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	return code;
}

/* A console socket of our own, for foreground runs with a terminal. */
static int own_console(int sv[2], struct err *err)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_sys(err, errno, "create console socket pair");
	return 0;
}

int rt_container_run(const struct rt_create_opts *o, bool detach, int *ret_exit, struct err *err)
{
	struct rt_create_opts co = *o;
	int sv[2] = { -1, -1 }, master = -1, r;
	bool terminal = false;
	pid_t pid;

	if (!detach && !o->console_socket) {
		/* peek at process.terminal: a foreground tty run is proxied by us */
		_cleanup_free_ char *file = xasprintf("%s/config.json", o->bundle ? o->bundle : ".");
		_cleanup_json_ json_t *doc = json_load_file(file, 0, NULL);
		terminal = json_is_true(json_object_get(json_object_get(doc, "process"), "terminal"));
	}
	if (terminal) {
		if ((r = own_console(sv, err)) < 0)
			return r;
		co.console_socket = NULL;
	}
	r = container_create(&co, sv[1], &pid, err);
	if (sv[1] >= 0)
		close(sv[1]);
	if (r < 0)
		goto out;
	if (terminal && (r = rt_fd_recv(sv[0], &master, err)) < 0)
		goto fail;
	if ((r = rt_container_start(o->root, o->id, err)) < 0)
		goto fail;
	if (detach)
		goto out;
	*ret_exit = wait_foreground(pid, master);
	r = rt_container_delete(o->root, o->id, true, err);
	goto out;
fail:
	rt_container_delete(o->root, o->id, true, NULL);
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (master >= 0)
		close(master);
	return r;
}

/* ---- exec ---- */

static int parse_user_flag(const char *s, struct rt_process *p, struct err *err)
{
	char *end;
	unsigned long uid = strtoul(s, &end, 10), gid;

	if (end == s || (*end && *end != ':'))
		return err_msg(err, EINVAL, "--user: expected UID[:GID], got '%s'", s);
	p->uid = uid;
	if (*end == ':') {
		gid = strtoul(end + 1, &end, 10);
		if (*end)
			return err_msg(err, EINVAL, "--user: expected UID[:GID], got '%s'", s);
		p->gid = gid;
	}
	return 0;
}

/* The process to exec: --process FILE, or the container's process with overrides. */
static int exec_process(const struct rt_exec_opts *o, const struct rt_config *cfg,
			struct rt_process **ret, struct err *err)
{
	struct rt_process *p;
	int r;

	if (o->proc) {
		*ret = o->proc;
		return 0;
	}
	if (!o->args || !o->args[0])
		return err_msg(err, EINVAL, "exec: nothing to run: give a command or --process FILE");
	p = xcalloc(1, sizeof(*p));
	if (cfg->process) {
		const struct rt_process *c = cfg->process;
		p->uid = c->uid, p->gid = c->gid, p->caps = c->caps;
		p->env = strv_dup(c->env);
		p->no_new_privileges = c->no_new_privileges;
		if (c->n_additional_gids) {
			p->additional_gids = xcalloc(c->n_additional_gids, sizeof(gid_t));
			memcpy(p->additional_gids, c->additional_gids, c->n_additional_gids * sizeof(gid_t));
			p->n_additional_gids = c->n_additional_gids;
		}
		p->cwd = xstrdup(c->cwd);
	} else {
		p->cwd = xstrdup("/");
	}
	p->args = strv_dup(o->args);
	for (size_t i = 0; o->env && o->env[i]; i++)
		p->env = strv_append(p->env, o->env[i]);
	if (o->cwd) {
		free(p->cwd);
		p->cwd = xstrdup(o->cwd);
	}
	p->terminal = o->tty;
	p->no_new_privileges |= o->no_new_privs;
	if (o->user && (r = parse_user_flag(o->user, p, err)) < 0)
		goto fail;
	for (size_t i = 0; o->caps && o->caps[i]; i++) {
		int cap = rt_cap_from_name(o->caps[i]);
		if (cap < 0) {
			r = err_msg(err, EINVAL, "--cap: unknown capability '%s'", o->caps[i]);
			goto fail;
		}
		p->caps.present = true;
		for (int s = 0; s < RT_CAP_NSETS; s++)
			if (s != RT_CAP_AMBIENT)
				p->caps.set[s] |= 1ULL << cap;
	}
	*ret = p;
	return 0;
fail:
	rt_process_free(p);
	return r;
}

/* Opens the namespaces of pid that differ from ours, in the order they must be joined. */
static int open_namespaces(pid_t pid, int fds[8], int types[8], size_t *ret_n, struct err *err)
{
	static const int order[] = { CLONE_NEWUSER, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET,
				     CLONE_NEWPID, CLONE_NEWCGROUP, CLONE_NEWNS };
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		const char *name = rt_namespace_proc(order[i]);
		char theirs[64], ours[64];
		struct stat a, b;

		snprintf(theirs, sizeof(theirs), "/proc/%d/ns/%s", pid, name);
		snprintf(ours, sizeof(ours), "/proc/self/ns/%s", name);
		if (stat(theirs, &a) < 0)
			return err_sys(err, errno, "open %s namespace of pid %d", name, pid);
		if (stat(ours, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			continue;
		fds[n] = open(theirs, O_RDONLY | O_CLOEXEC);
		if (fds[n] < 0)
			return err_sys(err, errno, "open '%s'", theirs);
		types[n++] = order[i];
	}
	*ret_n = n;
	return 0;
}

static void exec_stage1(const struct rt_process *p, const struct rt_config *cfg, int sync_fd,
			int console_fd, int preserve, int *fds, int *types, size_t n)
{
	struct err err = { 0 };
	pid_t pid;

	for (size_t i = 0; i < n; i++) {
		if (setns(fds[i], types[i]) < 0) {
			err_sys(&err, errno, "join %s namespace", rt_namespace_name(types[i]));
			rt_sync_send(sync_fd, RT_SYNC_ERROR, err.code, err.msg);
			_exit(1);
		}
		close(fds[i]);
	}
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		rt_exec_main(p, cfg, sync_fd, console_fd, preserve);
		_exit(1);
	}
	if (pid < 0) {
		err_sys(&err, errno, "fork");
		rt_sync_send(sync_fd, RT_SYNC_ERROR, err.code, err.msg);
		_exit(1);
	}
	rt_sync_send(sync_fd, RT_SYNC_PID, pid, NULL);
	_exit(0);
}

struct exec_run {
	struct rt_state *st;
	struct rt_config *cfg;
	struct rt_process *proc;
	struct rt_cgroup *cg;
	int sync[2], console[2], console_fd, nsfds[8], nstypes[8];
	size_t n_ns;
	pid_t pid, stage1;
};

static int exec_spawn(const struct rt_exec_opts *o, struct exec_run *x, struct err *err)
{
	_cleanup_free_ struct rt_sync_msg *msg = xmalloc(sizeof(*msg));
	int r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, x->sync) < 0)
		return err_sys(err, errno, "create socket pair");
	x->stage1 = fork();
	if (x->stage1 < 0)
		return err_sys(err, errno, "fork");
	if (x->stage1 == 0) {
		close(x->sync[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		exec_stage1(x->proc, x->cfg, x->sync[1], x->console_fd, o->preserve_fds, x->nsfds,
			    x->nstypes, x->n_ns);
	}
	close(take_fd(x->sync[1]));
	if ((r = rt_sync_expect(x->sync[0], RT_SYNC_PID, msg, err)) < 0)
		return r;
	x->pid = msg->value;
	waitpid(x->stage1, NULL, 0);
	x->stage1 = 0;
	if (x->cg && (r = rt_cgroup_enter(x->cg, x->pid, err)) < 0)
		return r;
	rt_sync_send(x->sync[0], RT_SYNC_GO, 0, NULL);
	return rt_sync_expect(x->sync[0], RT_SYNC_CREATED, msg, err);
}

static int exec_prepare(const struct rt_exec_opts *o, struct exec_run *x, struct err *err)
{
	int r;

	if ((r = rt_state_load(o->root, o->id, &x->st, err)) < 0)
		return r;
	if (x->st->status != RT_RUNNING && x->st->status != RT_CREATED)
		return err_msg(err, EINVAL, "container '%s' is %s: cannot exec in it", o->id,
			       rt_status_name(x->st->status));
	if ((r = load_config(x->st, &x->cfg, err)) < 0 || (r = exec_process(o, x->cfg, &x->proc, err)) < 0)
		return r;
	if (x->cfg->seccomp && (r = prepare_seccomp(o->root, x->cfg->seccomp, err)) < 0)
		return r;
	if (x->st->cgroup && (r = rt_cgroup_open(x->st->cgroup, &x->cg, err)) < 0)
		return r;
	if (x->cg)
		rt_cgroup_prime(); /* its grace period passes while we join the namespaces */
	if ((r = open_namespaces(x->st->pid, x->nsfds, x->nstypes, &x->n_ns, err)) < 0)
		return r;
	if (x->proc->terminal) {
		if (o->console_socket) {
			if ((x->console_fd = rt_console_connect(o->console_socket, err)) < 0)
				return x->console_fd;
		} else if (o->detach) {
			return err_msg(err, EINVAL, "exec: -t with -d needs --console-socket");
		} else {
			if ((r = own_console(x->console, err)) < 0)
				return r;
			x->console_fd = x->console[1];
		}
	}
	return 0;
}

int rt_container_exec(const struct rt_exec_opts *o, int *ret_exit, struct err *err)
{
	struct exec_run x = { .sync = { -1, -1 }, .console = { -1, -1 }, .console_fd = -1 };
	int master = -1, r;

	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	if ((r = exec_prepare(o, &x, err)) < 0 || (r = exec_spawn(o, &x, err)) < 0)
		goto out;
	if (x.console[0] >= 0 && (r = rt_fd_recv(x.console[0], &master, err)) < 0)
		goto out;
	if ((r = write_pid_file(o->pid_file, x.pid, err)) < 0)
		goto out;
	if (!o->detach)
		*ret_exit = wait_foreground(x.pid, master);
	x.pid = 0;
out:
	if (r < 0 && x.pid > 0) {
		kill(x.pid, SIGKILL);
		wait_gone(x.pid, 1000);
	}
	if (x.stage1 > 0) {
		kill(x.stage1, SIGKILL);
		waitpid(x.stage1, NULL, 0);
	}
	for (size_t i = 0; i < x.n_ns; i++)
		close(x.nsfds[i]);
	for (int i = 0; i < 2; i++) {
		if (x.sync[i] >= 0)
			close(x.sync[i]);
		if (x.console[i] >= 0)
			close(x.console[i]);
	}
	if (x.console_fd >= 0 && x.console_fd != x.console[1])
		close(x.console_fd);
	if (master >= 0)
		close(master);
	if (x.proc != o->proc)
		rt_process_free(x.proc);
	if (x.cg)
		rt_cgroup_free(x.cg);
	rt_config_free(x.cfg);
	rt_state_free(x.st);
	return r;
}

/* ---- the sealed binary ---- */

/* argv as the kernel holds it: main() callers may have shifted theirs. */
static int own_cmdline(char ***ret, struct err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	char **v = xcalloc(1, sizeof(char *));

	if (fs_read_at(AT_FDCWD, "/proc/self/cmdline", &buf, &len, err) < 0) {
		free(v);
		return -err->code;
	}
	for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
		v = strv_append(v, buf + i);
	*ret = v;
	return 0;
}

/* A binary already running from a sealed copy needs no other. */
static bool running_sealed(int exe)
{
	int seals = fcntl(exe, F_GET_SEALS);
	return seals >= 0 && (seals & F_SEAL_WRITE);
}

int rt_sealed_copy(struct err *err)
{
	_cleanup_close_ int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int mfd = -1;
	struct stat st;

	if (exe < 0 || fstat(exe, &st) < 0)
		return err_sys(err, errno, "open /proc/self/exe");
	mfd = memfd_create("coop-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return err_sys(err, errno, "memfd_create");
	for (off_t off = 0; off < st.st_size;) {
		ssize_t n = sendfile(mfd, exe, &off, st.st_size - off);
		if (n <= 0)
			return err_sys(err, n < 0 ? errno : EIO, "copy runtime binary");
	}
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
		return err_sys(err, errno, "seal runtime binary");
	return take_fd(mfd);
}

int rt_ensure_sealed_binary(char **argv, struct err *err)
{
	_cleanup_close_ int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), mfd = -1;
	_cleanup_strv_ char **own = NULL;
	extern char **environ;
	int r;

	if (exe >= 0 && running_sealed(exe))
		return 0;
	if ((mfd = rt_sealed_copy(err)) < 0)
		return mfd;
	if (!argv && (r = own_cmdline(&own, err)) < 0)
		return r;
	fexecve(mfd, argv ? argv : own, environ);
	return err_sys(err, errno, "re-exec sealed runtime binary");
}
