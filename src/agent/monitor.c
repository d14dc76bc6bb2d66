/* monitor: `coop monitor ID --state DIR --run DIR`, one per container (the conmon
 * role). Started by the daemon as a fresh process in its own session, it outlives the
 * daemon: it mounts the image, writes the OCI config, creates and starts the container
 * through the runtime library in-process (so the init is its child, or is reparented to
 * it as a subreaper), keeps the container's output as rotated JSON-line logs, and when
 * the init exits records exit.json, deletes the container and unmounts the rootfs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/attach.h"
#include "agent/image.h"
#include "agent/logs.h"
#include "agent/net.h"
#include "agent/record.h"
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
#include "runtime/terminal.h"

#define DRAIN_MS 2000 /* output still arriving after the init exited */

struct mon {
	const char *id, *state_dir, *run_dir, *store_root, *net_dir;
	char *dir, *bundle, *rootfs, *rtroot;
	uint64_t log_max;
	int sync_fd;
	int cmd_fd;   /* a spare: its container's id comes here (read_id) */
	char idbuf[16];
	json_t *rec;
	pid_t init;
	struct rt_cgroup *cg;
	bool mounted, created, net;
	struct img_disk disk; /* resources.disk: upper/work live in dir/rw */
	bool disk_ready;
	int fds[2]; /* read ends: stdout, stderr */
	struct ag_log log;
	struct ag_linebuf lb[2];
	int status; /* wait status of the init */
	bool exited;
	bool tty;               /* process.terminal: fds[0] is the pty master */
	int stop_sig;           /* what SIGTERM from the daemon becomes */
	struct ag_attach *att;  /* tty: attach.sock */
};

static volatile sig_atomic_t term_pending;
static void on_term(int sig) { term_pending = sig; }

static void sync_report(struct mon *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sync_report(struct mon *m, const char *fmt, ...)
{
	char buf[ERR_MSG_MAX + 64];
	va_list ap;
	int n;

	if (m->sync_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && write(m->sync_fd, buf, strlen(buf)) < 0)
		log_debug("sync pipe: %s", strerror(errno));
}

/* The pipe says "started PID" (or "error MSG"), then "exited CODE SIGNAL OOM" once the
 * process is over and its output is in the log, before the cleanup; then it closes. A
 * daemon that restarted meanwhile has no end of it: writes fail, harmlessly. */
static void sync_close(struct mon *m)
{
	if (m->sync_fd >= 0)
		close(m->sync_fd);
	m->sync_fd = -1;
}

/* ---- preparing the bundle ---- */

static int make_volumes(struct mon *m, json_t *spec, struct err *err)
{
	json_t *v;
	size_t i;
	int r;

	json_array_foreach(json_object_get(spec, "volumes"), i, v)
	{
		if (!json_is_true(json_object_get(v, "named")))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/volumes/%s", m->state_dir,
						   json_string_value(json_object_get(v, "source")));
		if ((r = fs_mkdir_p(p, 0755, err)) < 0)
			return r;
	}
	return 0;
}

static int write_bundle(struct mon *m, struct err *err)
{
	json_t *spec = json_object_get(m->rec, "spec");
	const char *image = json_string_value(json_object_get(m->rec, "image_ref"));
	_cleanup_free_ char *name = NULL, *vols = xasprintf("%s/volumes", m->state_dir);
	_cleanup_free_ char *rwdir = NULL;
	_cleanup_json_ json_t *oci = NULL;
	struct img_store *st = NULL;
	struct img_config *ic = NULL;
	struct ag_oci_ident who = {
		.id = m->id,
		.name = json_string_value(json_object_get(m->rec, "name")),
		.workload = json_string_value(json_object_get(m->rec, "workload")),
		.replica = (int)json_integer_value(json_object_get(m->rec, "replica")),
		.volumes_dir = vols,
	};
	int r;

	if (!json_is_object(spec) || !who.name)
		return err_msg(err, EINVAL, "'%s/config.json': no spec or name", m->dir);
	if (!image)
		image = json_string_value(json_object_get(spec, "image"));
	if ((r = img_store_open_reader(m->store_root, &st, err)) < 0)
		return r;
	if ((r = ag_image_resolve(st, image ? image : "", &name, err)) < 0 ||
	    (r = ag_image_config(st, name, &ic, err)) < 0)
		goto out;
	if ((r = fs_mkdir_p(m->rootfs, 0755, err)) < 0)
		goto out;
	umount2(m->rootfs, MNT_DETACH); /* a previous monitor's, if it died mid-way */
	if (json_object_get(m->rec, "disk")) {
		if ((r = img_disk_from_json(json_object_get(m->rec, "disk"), &m->disk, err)) < 0 ||
		    (r = img_disk_setup(m->dir, &m->disk, err)) < 0)
			goto out;
		m->disk_ready = true;
		rwdir = xasprintf("%s/rw", m->dir);
	}
	/* `run --rm`: its writable layer goes with it */
	bool ephemeral = json_object_get(json_object_get(spec, "labels"), "coop.rm") != NULL;
	if ((r = img_rootfs_mount(st, name, rwdir ? rwdir : m->dir, m->rootfs, ephemeral,
				  err)) < 0)
		goto out;
	m->mounted = true;
	if ((r = make_volumes(m, spec, err)) < 0 ||
	    (r = ag_oci_config(spec, &who, ic, m->rootfs, &oci, err)) < 0 ||
	    (r = ag_net_prepare(m->dir, m->rec, oci, err)) < 0 ||
	    (r = ag_json_replace(m->bundle, "config.json", oci, err)) < 0)
		goto out;
	m->stop_sig = rt_signal_parse(json_string_value(
		json_object_get(json_object_get(oci, "annotations"), AG_STOP_SIGNAL_ANN)));
out:
	img_config_free(ic);
	img_store_close(st);
	return r;
}

/* ---- creating and starting ---- */

/* The init inherits fds 0-2: the write ends of our pipes go there for the duration of
 * create, and back to /dev/null after. Signals are unblocked while it forks (the mask
 * is inherited across exec); a SIGTERM meanwhile is remembered by on_term. */
/* A terminal's master, sent by the container's init over the console socket during
 * create (the init sends it before it reports "created"). */
static int recv_master(struct mon *m, int lfd, int *ret, struct err *err)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	_cleanup_close_ int fd = -1;

	if (poll(&p, 1, 5000) <= 0 || (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return err_msg(err, EIO, "container '%s': no terminal came over the console socket", m->id);
	return rt_fd_recv(fd, ret, err);
}

static int create_container(struct mon *m, struct err *err)
{
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, null = -1, r;
	struct rt_create_opts o = { .root = m->rtroot, .id = m->id, .bundle = m->bundle };
	_cleanup_close_ int cons = -1, dfd = -1;
	_cleanup_free_ char *cpath = NULL;
	int master = -1;
	sigset_t set;

	if (m->tty) {
		/* the runtime connects by path: ours may be longer than sun_path */
		if ((cons = ag_sock_listen(m->dir, "console.sock", err)) < 0)
			return cons;
		if ((dfd = open(m->dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			return err_sys(err, errno, "open '%s'", m->dir);
		o.console_socket = cpath = xasprintf("/proc/self/fd/%d/console.sock", dfd);
	}
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    (null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		r = err_sys(err, errno, "create output pipes");
		goto fail;
	}
	dup2(null, 0);
	dup2(out[1], 1);
	dup2(errp[1], 2);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	r = rt_container_create(&o, &m->init, err);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	dup2(null, 1);
	dup2(null, 2);
	close(out[1]);
	close(errp[1]);
	close(null);
	if (r == 0)
		m->created = true;
	if (r == 0 && m->tty)
		r = recv_master(m, cons, &master, err);
	if (m->tty) {
		_cleanup_free_ char *p = xasprintf("%s/console.sock", m->dir);
		unlink(p);
	}
	if (r < 0) {
		close(out[0]);
		close(errp[0]);
		return r;
	}
	m->fds[0] = out[0];
	m->fds[1] = errp[0];
	if (m->tty) { /* the init's stdio is the terminal: its output is the master's */
		close(out[0]);
		close(errp[0]);
		m->fds[0] = master;
		m->fds[1] = -1;
	}
	fcntl(m->fds[0], F_SETFL, O_NONBLOCK);
	if (m->fds[1] >= 0)
		fcntl(m->fds[1], F_SETFL, O_NONBLOCK);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	if (null >= 0)
		close(null);
	return r;
}

static int open_cgroup(struct mon *m, struct err *err)
{
	struct rt_state *st = NULL;
	int r;

	if ((r = rt_state_load(m->rtroot, m->id, &st, err)) < 0)
		return r;
	r = st->cgroup ? rt_cgroup_open(st->cgroup, &m->cg, err) : 0;
	rt_state_free(st);
	return r;
}

static int start(struct mon *m, struct err *err)
{
	char t[AG_TIME_MAX];
	_cleanup_free_ char *logp = xasprintf("%s/log.json", m->dir);
	_cleanup_free_ char *netns = NULL;
	_cleanup_json_ json_t *started = NULL;
	int r;

	if ((r = write_bundle(m, err)) < 0 || (r = ag_log_open(&m->log, logp, m->log_max, err)) < 0 ||
	    (r = create_container(m, err)) < 0)
		return r;
	if ((r = open_cgroup(m, err)) < 0)
		return r;
	if (m->tty &&
	    (r = ag_attach_new(m->dir, m->fds[0], json_is_true(json_object_get(json_object_get(m->rec, "spec"), "stdin")),
			       &m->att, err)) < 0)
		return r;
	netns = xasprintf("/proc/%d/ns/net", (int)m->init);
	if ((r = ag_net_attach(m->net_dir, m->dir, m->id, m->rec, netns, err)) < 0)
		return r;
	m->net = true;
	if (term_pending)
		return err_msg(err, EINTR, "container '%s': stopped while starting", m->id);
	if ((r = rt_container_start(m->rtroot, m->id, err)) < 0)
		return r;
	ag_time_now(true, t);
	started = json_pack("{s:i,s:s}", "pid", (int)m->init, "started_at", t);
	return ag_json_replace(m->dir, "started.json", started, err);
}

/* ---- the loop ---- */

static void reap(struct mon *m)
{
	int status;
	pid_t p;

	while ((p = waitpid(-1, &status, WNOHANG)) > 0)
		if (p == m->init) {
			m->status = status;
			m->exited = true;
		}
}

/* Reads what is there; returns false at EOF (or error) of fds[i]. */
static bool pump(struct mon *m, int i)
{
	char buf[65536];
	struct err err = { 0 };

	for (;;) {
		ssize_t n = read(m->fds[i], buf, sizeof(buf));
		if (n > 0) {
			if (ag_linebuf_feed(&m->lb[i], &m->log, buf, (size_t)n, &err) < 0)
				log_warn("%s", err.msg);
			if (m->att)
				ag_attach_output(m->att, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		/* EOF, or EIO from a master whose last slave closed */
		if (m->att && i == 0 && m->tty)
			ag_attach_master_gone(m->att);
		close(m->fds[i]);
		m->fds[i] = -1;
		if (ag_linebuf_flush(&m->lb[i], &m->log, &err) < 0)
			log_warn("%s", err.msg);
		return false;
	}
}

static void forward_signal(struct mon *m, int sig)
{
	struct err err = { 0 };

	if (sig == SIGTERM && m->stop_sig > 0) /* the daemon's stop: the image's StopSignal */
		sig = m->stop_sig;
	if (!m->exited && rt_container_kill(m->rtroot, m->id, sig, false, &err) < 0)
		log_warn("%s", err.msg);
}

static void loop(struct mon *m, int sfd)
{
	uint64_t deadline = 0;
	bool killed = false;

	if (term_pending)
		forward_signal(m, term_pending);
	reap(m);
	for (;;) {
		struct pollfd p[3 + AG_ATTACH_FDS] = { { .fd = sfd, .events = POLLIN },
						       { .fd = m->fds[0], .events = POLLIN },
						       { .fd = m->fds[1], .events = POLLIN } };
		size_t na = 0;
		int timeout = -1;

		if (m->exited) {
			if (m->fds[0] < 0 && m->fds[1] < 0)
				return;
			if (!deadline)
				deadline = ag_mono_ms() + DRAIN_MS;
			if (ag_mono_ms() >= deadline)
				return;
			timeout = (int)(deadline - ag_mono_ms());
		}
		if (m->att)
			ag_attach_pollfds(m->att, p + 3, &na);
		if (poll(p, 3 + na, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			return;
		}
		if (m->att)
			ag_attach_events(m->att, p + 3, na);
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					reap(m);
				else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
					forward_signal(m, (int)si.ssi_signo);
			}
		}
		for (int i = 0; i < 2; i++)
			if (m->fds[i] >= 0 && (p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
				pump(m, i);
		if (m->exited && !killed && (m->fds[0] >= 0 || m->fds[1] >= 0)) {
			/* processes the init left behind (no pid namespace) still hold the
			 * pipes: kill them so the output ends */
			struct err err = { 0 };
			if (m->cg && rt_cgroup_kill_all(m->cg, SIGKILL, &err) < 0)
				log_warn("%s", err.msg);
			killed = true;
		}
	}
}

/* ---- the end ---- */

static void finish(struct mon *m, const struct err *start_err)
{
	struct ag_exit e = { .exit_code = -1 };
	struct err err = { 0 };
	uint64_t ooms = 0;

	if (m->exited) {
		if (WIFEXITED(m->status)) {
			e.exit_code = WEXITSTATUS(m->status);
		} else if (WIFSIGNALED(m->status)) {
			e.signal = WTERMSIG(m->status);
			e.exit_code = 128 + e.signal;
		}
	}
	if (m->cg && rt_cgroup_oom_kills(m->cg, &ooms, &err) == 0 && ooms > 0)
		e.oom_killed = true;
	if (start_err)
		e.error = (char *)start_err->msg;
	/* the daemon hears of the exit before the cleanup below (a few ms: cgroups, mounts,
	 * state), so that a foreground `coop run` ends at once; all the output is in the
	 * log by now (both pipes at EOF) */
	if (m->exited && !start_err && m->fds[0] < 0 && m->fds[1] < 0)
		sync_report(m, "exited %d %d %d\n", e.exit_code, e.signal, e.oom_killed ? 1 : 0);
	sync_close(m);
	ag_time_now(true, e.finished_at);
	if (m->created && rt_container_delete(m->rtroot, m->id, true, &err) < 0)
		log_warn("%s", err.msg);
	for (int i = 0; i < 2; i++) /* whatever the killed processes wrote last */
		if (m->fds[i] >= 0)
			pump(m, i);
	if (m->net && ag_net_detach(m->net_dir, m->dir, m->id, &err) < 0)
		log_warn("%s", err.msg);
	if (m->mounted && img_rootfs_umount(m->rootfs, &err) < 0)
		log_warn("%s", err.msg);
	/* a loop-backed layer is mounted again by the next start: no device is held by a
	 * container that does not run */
	if (m->disk_ready && img_disk_release(m->dir, &m->disk, &err) < 0)
		log_warn("%s", err.msg);
	if (ag_exit_write(m->dir, &e, &err) < 0)
		log_error("%s", err.msg);
	if (m->att) /* attached clients learn the exit code (after exit.json is there) */
		ag_attach_finish(m->att, e.exit_code, ag_mono_ms() + DRAIN_MS);
	m->att = NULL;
	for (int i = 0; i < 2; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	ag_log_close(&m->log);
	if (m->cg)
		rt_cgroup_free(m->cg);
}

/* ---- main ---- */

/* A container id as the daemon makes them, and usable as a path component. */
static bool id_ok(const char *id)
{
	return id[0] && rt_id_validate(id, &(struct err){ 0 }) == 0 && !strchr(id, '/');
}

static int parse_args(struct mon *m, int argc, char **argv)
{
	static const struct option longs[] = {
		{ "state", required_argument, NULL, 's' }, { "run", required_argument, NULL, 'r' },
		{ "store", required_argument, NULL, 'i' }, { "net-dir", required_argument, NULL, 'n' },
		{ "log-max", required_argument, NULL, 'm' }, { "sync-fd", required_argument, NULL, 'f' },
		{ "spare", required_argument, NULL, 'S' },
		{ 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 's': m->state_dir = optarg; break;
		case 'r': m->run_dir = optarg; break;
		case 'i': m->store_root = optarg; break;
		case 'n': m->net_dir = optarg; break;
		case 'm': m->log_max = strtoull(optarg, NULL, 10); break;
		case 'f': m->sync_fd = atoi(optarg); break;
		case 'S': m->cmd_fd = atoi(optarg); break;
		default: return -1;
		}
	}
	if (!m->state_dir || !m->run_dir)
		return -1;
	if (m->cmd_fd >= 0) /* a spare: no id yet */
		return optind == argc ? 0 : -1;
	if (optind != argc - 1)
		return -1;
	m->id = argv[optind];
	return id_ok(m->id) ? 0 : -1;
}

static int monitor_run(struct mon *m)
{
	struct err err = { 0 };
	struct sigaction sa = { .sa_handler = on_term };
	sigset_t set;
	int sfd, r;

	/* the container's cgroup attach comes in a few ms: its wait starts now */
	rt_cgroup_prime();
	if (m->sync_fd >= 0) /* the container's processes must not hold it open */
		fcntl(m->sync_fd, F_SETFD, FD_CLOEXEC);
	m->dir = xasprintf("%s/containers/%s", m->state_dir, m->id);
	m->bundle = xasprintf("%s/bundle", m->dir);
	m->rootfs = xasprintf("%s/bundle/rootfs", m->dir);
	m->rtroot = xasprintf("%s/runtime", m->run_dir);
	_cleanup_free_ char *logf = xasprintf("%s/monitor.log", m->dir);
	_cleanup_free_ char *cfgf = xasprintf("%s/config.json", m->dir);
	if (log_setup(logf, 0, LOG_INFO) < 0)
		return 1;
	if (ag_pidfile_write(m->dir, getpid(), rt_proc_start_time(getpid()), &err) < 0) {
		log_error("%s", err.msg);
		sync_report(m, "error %s\n", err.msg);
		return 1;
	}
	_cleanup_free_ char *exitf = xasprintf("%s/exit.json", m->dir);
	_cleanup_free_ char *startf = xasprintf("%s/started.json", m->dir);
	unlink(exitf);
	unlink(startf);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	r = js_load_file(cfgf, &m->rec, &err);
	m->tty = r == 0 && json_is_true(json_object_get(json_object_get(m->rec, "spec"), "tty"));
	if (r == 0)
		r = start(m, &err);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (r < 0) {
		log_error("%s", err.msg);
		sync_report(m, "error %s\n", err.msg);
		reap(m);
		finish(m, &err);
		return 1;
	}
	sync_report(m, "started %d\n", (int)m->init);
	log_info("container %s started, init pid %d", m->id, (int)m->init);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_error("signalfd: %s", strerror(errno));
		forward_signal(m, SIGKILL);
	} else {
		loop(m, sfd);
		close(sfd);
	}
	finish(m, NULL);
	log_info("container %s exited (status %d)", m->id, m->status);
	return 0;
}

/* A spare monitor (`--spare FD`), started ahead by the daemon, waits for its container's
 * id, one line on FD; the daemon closing FD first means it is not needed. */
static int read_id(struct mon *m)
{
	size_t n = 0;

	while (n < sizeof(m->idbuf) - 1) {
		ssize_t r = read(m->cmd_fd, m->idbuf + n, sizeof(m->idbuf) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(m->idbuf, '\n', n))
			break;
	}
	close(m->cmd_fd);
	m->cmd_fd = -1;
	m->idbuf[n] = '\0';
	m->idbuf[strcspn(m->idbuf, "\n")] = '\0';
	if (!id_ok(m->idbuf))
		return -1;
	m->id = m->idbuf;
	return 0;
}

int agent_monitor_main(int argc, char **argv)
{
	struct mon m = { .sync_fd = -1, .cmd_fd = -1, .fds = { -1, -1 }, .log = { .fd = -1 } };
	struct err err = { 0 };

	m.lb[0].stream = "stdout";
	m.lb[1].stream = "stderr";
	if (parse_args(&m, argc, argv) < 0) {
		fprintf(stderr, "Usage: coop monitor ID|--spare FD --state DIR --run DIR [--store DIR] "
				"[--net-dir DIR] [--log-max BYTES] [--sync-fd FD]\n"
				"(internal: the daemon runs one per container)\n");
		return 2;
	}
	/* The init is forked from this process: run from a sealed copy of the binary so
	 * the container can never reach ours on disk (CVE-2019-5736). */
	if (rt_ensure_sealed_binary(NULL, &err) < 0) {
		fprintf(stderr, "coop monitor: %s\n", err.msg);
		return 1;
	}
	setsid(); /* fails harmlessly when the daemon already made us a session leader */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	if (m.cmd_fd >= 0) {
		if (read_id(&m) < 0)
			return 0; /* not needed after all */
		/* the title is written over argv, where the options point: copies first */
		const char **opts[] = { &m.state_dir, &m.run_dir, &m.store_root, &m.net_dir };
		for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
			if (*opts[i])
				*opts[i] = xstrdup(*opts[i]);
		char title[32];
		snprintf(title, sizeof(title), "coop monitor %s", m.id);
		proc_title_set(title);
	}
	return monitor_run(&m);
}
