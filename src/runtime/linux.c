/* linux: the container init's side of container creation. Runs in the child after
 * clone; every error goes back to the parent as one line over the sync socket. */
#include "runtime/linux.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "base/util.h"
#include "runtime/caps.h"
#include "runtime/hooks.h"
#include "runtime/cgroup.h"
#include "runtime/seccomp.h"
#include "runtime/terminal.h"

#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* ---- sync socket ---- */

int rt_sync_send(int fd, int type, int value, const char *text)
{
	struct {
		int type, value;
	} hdr = { type, value };
	size_t tlen = text ? strnlen(text, RT_SYNC_TEXT_MAX - 1) : 0;
	struct iovec iov[3] = { { &hdr, sizeof(hdr) }, { (void *)text, tlen }, { "", 1 } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = text ? 3 : 1 };

	/* only the header and the used part of the text travel */
	while (sendmsg(fd, &m, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

int rt_sync_recv(int fd, struct rt_sync_msg *msg, struct err *err)
{
	ssize_t n;

	msg->type = 0;
	msg->text[0] = '\0';
	do
		n = recv(fd, msg, sizeof(*msg), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_sys(err, errno, "read from container init");
	if (n == 0)
		return err_msg(err, EPIPE, "container init exited during setup");
	if ((size_t)n < offsetof(struct rt_sync_msg, text))
		return err_msg(err, EPROTO, "short message from container init");
	if ((size_t)n == offsetof(struct rt_sync_msg, text))
		msg->text[0] = '\0';
	msg->text[sizeof(msg->text) - 1] = '\0';
	if (msg->type == RT_SYNC_ERROR)
		return err_msg(err, msg->value ? msg->value : EINVAL, "%s", msg->text);
	return 0;
}

int rt_sync_expect(int fd, int type, struct rt_sync_msg *msg, struct err *err)
{
	int r = rt_sync_recv(fd, msg, err);
	if (r < 0)
		return r;
	if (msg->type != type)
		return err_msg(err, EPROTO, "container init: unexpected message %d (wanted %d)",
			       msg->type, type);
	return 0;
}

/* ---- safe paths inside the rootfs ---- */

static int openat2_(int dirfd, const char *path, int flags, mode_t mode, unsigned long long res)
{
	struct open_how how = { .flags = flags, .mode = mode, .resolve = res };
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

/* Opens (creating if needed) rel inside the root at rootfd, resolving every symlink
 * as if rootfd were "/": nothing can lead outside. Returns an O_PATH fd. */
static int open_in_root(int rootfd, const char *rel, bool dir, mode_t mode, struct err *err)
{
	_cleanup_free_ char *buf = xstrdup(rel);
	char *p = buf;
	int fd;

	while (*p == '/')
		p++;
	if (!*p)
		return fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	fd = openat2_(rootfd, p, O_PATH | O_CLOEXEC | (dir ? O_DIRECTORY : 0), 0, IN_ROOT);
	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : err_sys(err, errno, "open '%s' in rootfs", rel);
	/* create the missing components one at a time, each resolved from the root */
	for (char *s = p;; s++) {
		bool last = (*s == '\0');
		if (*s != '/' && !last)
			continue;
		*s = '\0';
		_cleanup_close_ int cur = openat2_(rootfd, p, O_PATH | O_CLOEXEC, 0, IN_ROOT);
		if (cur < 0 && errno == ENOENT) {
			char *slash = strrchr(p, '/');
			_cleanup_close_ int parent = -1;
			const char *name = slash ? slash + 1 : p;

			if (slash) {
				*slash = '\0';
				parent = openat2_(rootfd, p, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, IN_ROOT);
				*slash = '/';
			} else {
				parent = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
			}
			if (parent < 0)
				return err_sys(err, errno, "open parent of '%s' in rootfs", rel);
			if (last && !dir) {
				int f = openat2_(parent, name, O_CREAT | O_WRONLY | O_CLOEXEC, mode,
						 IN_ROOT);
				if (f < 0)
					return err_sys(err, errno, "create '%s' in rootfs", rel);
				close(f);
			} else if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST) {
				return err_sys(err, errno, "mkdir '%s' in rootfs", p);
			}
		} else if (cur < 0) {
			return err_sys(err, errno, "open '%s' in rootfs", p);
		}
		if (last)
			break;
		*s = '/';
	}
	fd = openat2_(rootfd, p, O_PATH | O_CLOEXEC | (dir ? O_DIRECTORY : 0), 0, IN_ROOT);
	if (fd < 0)
		return err_sys(err, errno, "open '%s' in rootfs", rel);
	return fd;
}

static char *fd_path(int fd)
{
	return xasprintf("/proc/self/fd/%d", fd);
}

/* ---- mounts ---- */

static bool source_is_dir(const char *src)
{
	struct stat st;
	return stat(src, &st) < 0 || S_ISDIR(st.st_mode);
}

static int reopen_target(int rootfd, const struct rt_mount *m, bool dir, int *fd, char **target,
			 struct err *err)
{
	close(*fd);
	free(*target);
	*target = NULL;
	*fd = open_in_root(rootfd, m->destination, dir, 0644, err);
	if (*fd < 0)
		return *fd;
	*target = fd_path(*fd);
	return 0;
}

static int do_mount(int rootfd, const struct rt_init *in, const struct rt_mount *m,
		    struct err *err)
{
	const char *type = m->type;
	bool dir = m->bind ? source_is_dir(m->source) : true;
	_cleanup_close_ int fd = open_in_root(rootfd, m->destination, dir, 0644, err);
	_cleanup_free_ char *target = NULL;
	unsigned long flags = m->flags & ~(MS_REMOUNT | MS_BIND | MS_REC);
	int r;

	if (fd < 0)
		return fd;
	target = fd_path(fd);
	if (type && streq(type, "cgroup")) {
		char real[4096];
		ssize_t n = readlink(target, real, sizeof(real) - 1);
		if (n < 0)
			return err_sys(err, errno, "resolve mount target '%s'", m->destination);
		real[n] = '\0';
		if (!in->cgroup)
			return err_msg(err, EINVAL, "mount '%s': no cgroup to mount", m->destination);
		if (rt_cgroup_mount(in->cgroup, real, flags, in->cgroupns, err) < 0)
			return err_wrap(err, "mount cgroup on '%s'", m->destination);
		return 0;
	}
	if (m->bind) {
		if (mount(m->source, target, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
			return err_sys(err, errno, "bind mount '%s' on '%s'", m->source,
				       m->destination);
		/* our fd still names what lies under the new mount: reopen to reach it */
		if ((r = reopen_target(rootfd, m, dir, &fd, &target, err)) < 0)
			return r;
		if (flags & ~(MS_SILENT)) {
			/* bind ignores other flags: they need a remount */
			if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0 &&
			    !(errno == EPERM && in->userns))
				return err_sys(err, errno, "remount '%s' with its options",
					       m->destination);
		}
	} else if (mount(m->source ? m->source : type, target, type, flags, m->data) < 0) {
		int e = errno;
		/* sysfs cannot be mounted in a user namespace that does not own the netns */
		if (streq(type, "sysfs") && (e == EPERM || e == EBUSY) &&
		    mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) == 0)
			return 0;
		if (streq(type, "mqueue") && (e == EPERM) &&
		    mount("/dev/mqueue", target, NULL, MS_BIND, NULL) == 0)
			return 0;
		return err_sys(err, e, "mount %s on '%s'%s%s", type, m->destination,
			       m->data ? " with options " : "", m->data ? m->data : "");
	} else if (m->propagation && (r = reopen_target(rootfd, m, dir, &fd, &target, err)) < 0) {
		return r;
	}
	if (m->propagation && mount(NULL, target, NULL, m->propagation, NULL) < 0)
		return err_sys(err, errno, "set propagation of '%s'", m->destination);
	return 0;
}

/* ---- devices ---- */

struct dev_spec {
	const char *path;
	char type;
	unsigned major, minor;
	mode_t mode;
};

static const struct dev_spec default_devices[] = {
	{ "/dev/null", 'c', 1, 3, 0666 },    { "/dev/zero", 'c', 1, 5, 0666 },
	{ "/dev/full", 'c', 1, 7, 0666 },    { "/dev/random", 'c', 1, 8, 0666 },
	{ "/dev/urandom", 'c', 1, 9, 0666 }, { "/dev/tty", 'c', 5, 0, 0666 },
};

static int make_device(int rootfd, const struct rt_init *in, const char *path, char type,
		       unsigned major, unsigned minor, mode_t mode, uid_t uid, gid_t gid,
		       struct err *err)
{
	_cleanup_free_ char *rel = xstrdup(path);
	char *slash = strrchr(rel, '/');
	_cleanup_close_ int parent = -1;
	mode_t fmt = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;

	*slash = '\0';
	parent = open_in_root(rootfd, *rel ? rel : "/", true, 0, err);
	if (parent < 0)
		return parent;
	if (in->userns && type != 'p') {
		/* no mknod in a user namespace: bind the host's node onto an empty file */
		_cleanup_close_ int f = open_in_root(rootfd, path, false, 0644, err);
		_cleanup_free_ char *t = NULL;
		if (f < 0)
			return f;
		t = fd_path(f);
		if (mount(path, t, NULL, MS_BIND, NULL) < 0)
			return err_sys(err, errno, "bind device '%s'", path);
		return 0;
	}
	if (mknodat(parent, slash + 1, fmt | (mode & 07777), makedev(major, minor)) < 0) {
		if (errno != EEXIST)
			return err_sys(err, errno, "mknod '%s'", path);
		/* replace whatever the image had with the node we were asked for */
		unlinkat(parent, slash + 1, 0);
		if (mknodat(parent, slash + 1, fmt | (mode & 07777), makedev(major, minor)) < 0)
			return err_sys(err, errno, "mknod '%s'", path);
	}
	if (fchownat(parent, slash + 1, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(err, errno, "chown '%s'", path);
	return 0;
}

static int setup_devices(int rootfd, const struct rt_init *in, struct err *err)
{
	const struct rt_config *c = in->cfg;
	static const char *const links[][2] = {
		{ "/proc/self/fd", "fd" },     { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
		{ "pts/ptmx", "ptmx" },
	};
	_cleanup_close_ int dev = open_in_root(rootfd, "/dev", true, 0, err);
	int r;

	if (dev < 0)
		return dev;
	for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++) {
		const struct dev_spec *d = &default_devices[i];
		bool overridden = false;
		for (size_t j = 0; j < c->n_devices; j++)
			overridden |= streq(c->devices[j].path, d->path);
		if (overridden)
			continue;
		r = make_device(rootfd, in, d->path, d->type, d->major, d->minor, d->mode, 0, 0, err);
		if (r < 0)
			return r;
	}
	for (size_t j = 0; j < c->n_devices; j++) {
		const struct rt_device *d = &c->devices[j];
		r = make_device(rootfd, in, d->path, d->type == 'u' ? 'c' : d->type, d->major,
				d->minor, d->has_mode ? d->mode : 0666, d->has_uid ? d->uid : 0,
				d->has_gid ? d->gid : 0, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		_cleanup_close_ int pts = -1;
		if (streq(links[i][1], "ptmx")) {
			/* only when /dev/pts is a devpts of the container's own */
			struct statfs sf;
			pts = openat(dev, "pts", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (pts < 0 || fstatfs(pts, &sf) < 0 || sf.f_type != 0x1cd1 /* DEVPTS */)
				continue;
			unlinkat(dev, "ptmx", 0);
		}
		if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST)
			return err_sys(err, errno, "symlink '/dev/%s'", links[i][1]);
	}
	return 0;
}

/* ---- rootfs ---- */

static int prepare_rootfs(const struct rt_init *in, int *ret_rootfd, struct err *err)
{
	const struct rt_config *c = in->cfg;
	unsigned long prop = c->rootfs_propagation & (MS_SHARED | MS_SLAVE) ? MS_SLAVE : MS_PRIVATE;
	int rootfd;

	if (mount(NULL, "/", NULL, MS_REC | prop, NULL) < 0)
		return err_sys(err, errno, "make / private");
	if (mount(c->root_path, c->root_path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return err_sys(err, errno, "bind mount rootfs '%s'", c->root_path);
	rootfd = open(c->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return err_sys(err, errno, "open rootfs '%s'", c->root_path);
	*ret_rootfd = rootfd;
	for (size_t i = 0; i < c->n_mounts; i++) {
		int r = do_mount(rootfd, in, &c->mounts[i], err);
		if (r < 0)
			return r;
	}
	return setup_devices(rootfd, in, err);
}

static int pivot_root_(const char *new_root, const char *put_old)
{
	return (int)syscall(SYS_pivot_root, new_root, put_old);
}

static int enter_rootfs(const struct rt_init *in, struct err *err)
{
	const struct rt_config *c = in->cfg;
	struct statfs sf;
	bool pivot = !in->no_pivot;

	if (chdir(c->root_path) < 0)
		return err_sys(err, errno, "chdir to rootfs '%s'", c->root_path);
	if (pivot && statfs(".", &sf) == 0 && sf.f_type == RAMFS_MAGIC)
		pivot = false; /* pivot_root refuses the initramfs */
	if (pivot) {
		/* pivot onto ourselves, then lazily detach the old root stacked below */
		if (pivot_root_(".", ".") < 0)
			return err_sys(err, errno, "pivot_root to '%s'", c->root_path);
		if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
			return err_sys(err, errno, "make old root a slave");
		if (umount2(".", MNT_DETACH) < 0)
			return err_sys(err, errno, "detach old root");
	} else {
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
			return err_sys(err, errno, "move rootfs to /");
		if (chroot(".") < 0)
			return err_sys(err, errno, "chroot to rootfs");
	}
	if (chdir("/") < 0)
		return err_sys(err, errno, "chdir to /");
	if (c->rootfs_propagation && mount(NULL, "/", NULL, c->rootfs_propagation, NULL) < 0)
		return err_sys(err, errno, "set rootfs propagation");
	return 0;
}

static int mask_paths(const struct rt_config *c, struct err *err)
{
	for (size_t i = 0; c->masked_paths && c->masked_paths[i]; i++) {
		const char *p = c->masked_paths[i];
		struct stat st;
		if (lstat(p, &st) < 0) {
			if (errno == ENOENT)
				continue;
			return err_sys(err, errno, "mask '%s'", p);
		}
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0k,nr_inodes=1") < 0)
				return err_sys(err, errno, "mask '%s'", p);
		} else if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0) {
			return err_sys(err, errno, "mask '%s'", p);
		}
	}
	for (size_t i = 0; c->readonly_paths && c->readonly_paths[i]; i++) {
		const char *p = c->readonly_paths[i];
		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
			if (errno == ENOENT)
				continue;
			return err_sys(err, errno, "make '%s' read-only", p);
		}
		if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV |
						MS_NOEXEC, NULL) < 0 &&
		    mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
			return err_sys(err, errno, "make '%s' read-only", p);
	}
	return 0;
}

static int apply_sysctl(const struct rt_config *c, struct err *err)
{
	for (size_t i = 0; i < c->n_sysctl; i++) {
		char path[512];
		int n = snprintf(path, sizeof(path), "/proc/sys/%s", c->sysctl[i].key);
		for (char *p = path + 10; p < path + n; p++)
			if (*p == '.')
				*p = '/';
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return err_sys(err, errno, "linux.sysctl: %s", c->sysctl[i].key);
		ssize_t w = write(fd, c->sysctl[i].value, strlen(c->sysctl[i].value));
		int e = errno;
		close(fd);
		if (w < 0)
			return err_sys(err, e, "linux.sysctl: set %s=%s", c->sysctl[i].key,
				       c->sysctl[i].value);
	}
	return 0;
}

static int set_names(const struct rt_config *c, struct err *err)
{
	bool own_uts = rt_config_namespace(c, CLONE_NEWUTS) != NULL;

	if ((c->hostname || c->domainname) && !own_uts)
		return err_msg(err, EINVAL, "hostname: set without a uts namespace");
	if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
		return err_sys(err, errno, "hostname: set '%s'", c->hostname);
	if (c->domainname && setdomainname(c->domainname, strlen(c->domainname)) < 0)
		return err_sys(err, errno, "domainname: set '%s'", c->domainname);
	return 0;
}

/* ---- namespaces given by path ---- */

static int join_namespaces(const struct rt_config *c, struct err *err)
{
	for (size_t i = 0; i < c->n_namespaces; i++) {
		const struct rt_namespace *ns = &c->namespaces[i];
		if (!ns->path || ns->type == CLONE_NEWUSER || ns->type == CLONE_NEWPID)
			continue;
		_cleanup_close_ int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return err_sys(err, errno, "linux.namespaces: open %s namespace '%s'",
				       rt_namespace_name(ns->type), ns->path);
		if (setns(fd, ns->type) < 0)
			return err_sys(err, errno, "linux.namespaces: join %s namespace '%s'",
				       rt_namespace_name(ns->type), ns->path);
	}
	return 0;
}

/* ---- the process ---- */

/* Finds args[0] in the container's PATH (from the process env) as execvp would. */
static int find_executable(const struct rt_process *p, char **ret, struct err *err)
{
	const char *name = p->args[0];
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	struct stat st;

	if (strchr(name, '/')) {
		if (stat(name, &st) < 0)
			return err_sys(err, errno, "process.args[0]: '%s'", name);
		if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111))
			return err_sys(err, EACCES, "process.args[0]: '%s'", name);
		*ret = xstrdup(name);
		return 0;
	}
	for (size_t i = 0; p->env && p->env[i]; i++)
		if (strncmp(p->env[i], "PATH=", 5) == 0)
			path = p->env[i] + 5;
	_cleanup_free_ char *dirs = xstrdup(path);
	char *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *cand = xasprintf("%s/%s", *d ? d : ".", name);
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) {
			*ret = take_ptr(cand);
			return 0;
		}
	}
	return err_msg(err, ENOENT, "process.args[0]: executable '%s' not found in $PATH (%s)",
		       name, path);
}

static int set_rlimits(const struct rt_process *p, struct err *err)
{
	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct rlimit rl = { .rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard };
		if (setrlimit(p->rlimits[i].resource, &rl) < 0)
			return err_sys(err, errno, "process.rlimits[%zu]: set %llu:%llu", i,
				       (unsigned long long)rl.rlim_cur,
				       (unsigned long long)rl.rlim_max);
	}
	return 0;
}

static int set_user(const struct rt_process *p, struct err *err)
{
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return err_sys(err, errno, "keep capabilities");
	if (setgroups(p->n_additional_gids, p->additional_gids) < 0 &&
	    !(errno == EPERM && p->n_additional_gids == 0))
		return err_sys(err, errno, "process.user.additionalGids: setgroups");
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		return err_sys(err, errno, "process.user.gid: setgid %u", p->gid);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		return err_sys(err, errno, "process.user.uid: setuid %u", p->uid);
	return 0;
}

static int close_extra_fds(int preserve)
{
	return (int)syscall(SYS_close_range, 3 + preserve, ~0U, CLOSE_RANGE_CLOEXEC);
}

/* The container's PID 1 with coop.init (`coop run --init`, `init: true`), as tini or
 * `docker run --init`: the process runs as its child, in its own process group (the
 * terminal's foreground one); signals sent to PID 1 are passed on to it (a PID 1
 * without a handler would ignore SIGTERM); orphans are reaped; PID 1 exits with the
 * process's status (128+N when signal N ended it). It keeps the process's identity,
 * capabilities and seccomp filter, and is not dumpable. Signals stay blocked and are
 * taken with sigwaitinfo: the kernel queues blocked signals even for a namespace's
 * init, which drops unhandled ones. */
static void sync_signals(sigset_t *s)
{
	static const int sync[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT };
	sigfillset(s);
	for (size_t i = 0; i < ARRAY_SIZE(sync); i++)
		sigdelset(s, sync[i]);
}

static void __attribute__((noreturn)) init_reap(pid_t child, const sigset_t *set)
{
	siginfo_t si;
	int st;
	pid_t p;

	proc_title_set("coop-init");
	prctl(PR_SET_NAME, "coop-init", 0, 0, 0);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	syscall(SYS_close_range, 3, ~0U, 0);
	for (;;) {
		int sig = sigwaitinfo(set, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			if (p == child)
				_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
}

/* With init, forks: returns in the child (the process to be), never in PID 1. */
static int start_init(const struct rt_process *p, struct err *err)
{
	sigset_t set, old;
	pid_t child;

	sync_signals(&set);
	sigprocmask(SIG_BLOCK, &set, &old);
	if ((child = fork()) < 0)
		return err_sys(err, errno, "init: fork the process");
	if (child > 0)
		init_reap(child, &set);
	if (setpgid(0, 0) < 0)
		return err_sys(err, errno, "init: a process group for the process");
	/* SIGTTOU is still blocked: a background group may take the terminal */
	if (p->terminal && tcsetpgrp(0, getpid()) < 0)
		return err_sys(err, errno, "init: give the terminal to the process");
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}

/* The common tail of init and exec: identity, privileges, exec. */
static int become_process(const struct rt_process *p, const struct rt_config *c,
			  const char *exe, int preserve_fds, bool init, struct err *err)
{
	int r;

	if (set_rlimits(p, err) < 0)
		return -EINVAL;
	if (chdir(p->cwd) < 0)
		return err_sys(err, errno, "process.cwd: chdir '%s'", p->cwd);
	if (c->seccomp && !p->no_new_privileges && (r = rt_seccomp_apply(c->seccomp, err)) < 0)
		return r;
	if ((r = set_user(p, err)) < 0)
		return r;
	if ((r = rt_caps_apply(&p->caps, err)) < 0)
		return r;
	if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_sys(err, errno, "set no_new_privs");
	umask(p->has_umask ? p->umask : 022);
	if (c->seccomp && p->no_new_privileges && (r = rt_seccomp_apply(c->seccomp, err)) < 0)
		return r;
	close_extra_fds(preserve_fds);
	if (init && (r = start_init(p, err)) < 0)
		return r;
	execve(exe, p->args, p->env ? p->env : (char *[]){ NULL });
	return err_sys(err, errno, "exec '%s'", exe);
}

static int setup_terminal(const struct rt_process *p, int console_fd, bool console_node,
			  struct err *err)
{
	int master, slave, r;

	if (!p->terminal)
		return 0;
	if (console_fd < 0)
		return err_msg(err, EINVAL, "process.terminal is true but no console socket was given");
	r = rt_pty_open(p->console_height, p->console_width, &master, &slave, err);
	if (r < 0)
		return r;
	if (console_node) {
		/* /dev/console is the container's terminal, as on a real machine */
		int f = open("/dev/console", O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (f >= 0)
			close(f);
		char sp[64];
		snprintf(sp, sizeof(sp), "/proc/self/fd/%d", slave);
		if (f < 0 || mount(sp, "/dev/console", NULL, MS_BIND, NULL) < 0) {
			/* not fatal: a container without /dev/console still works */
		}
	}
	r = rt_fd_send(console_fd, master, err);
	close(master);
	if (r < 0)
		return r;
	close(console_fd);
	return rt_pty_attach(slave, err);
}

static int init_setup(struct rt_init *in, char **ret_exe, struct err *err)
{
	const struct rt_config *c = in->cfg;
	struct rt_sync_msg msg;
	_cleanup_close_ int rootfd = -1;
	int r;

	if (!in->two_stage && (r = join_namespaces(c, err)) < 0)
		return r;
	if (rt_config_namespace(c, CLONE_NEWNS) && !rt_config_namespace(c, CLONE_NEWNS)->path) {
		if ((r = prepare_rootfs(in, &rootfd, err)) < 0)
			return r;
	}
	if (c->hooks.n[RT_HOOK_PRESTART] || c->hooks.n[RT_HOOK_CREATE_RUNTIME]) {
		rt_sync_send(in->sync_fd, RT_SYNC_HOOKS, 0, NULL);
		if ((r = rt_sync_expect(in->sync_fd, RT_SYNC_GO, &msg, err)) < 0)
			return r;
	}
	/* createContainer hooks: in the container's namespaces, before pivot_root */
	if (c->hooks.n[RT_HOOK_CREATE_CONTAINER] &&
	    (r = rt_hooks_run(&c->hooks, RT_HOOK_CREATE_CONTAINER, in->state_json, err)) < 0)
		return r;
	if (rootfd >= 0) {
		if ((r = enter_rootfs(in, err)) < 0 || (r = mask_paths(c, err)) < 0)
			return r;
	}
	if ((r = apply_sysctl(c, err)) < 0 || (r = set_names(c, err)) < 0)
		return r;
	if ((r = setup_terminal(in->proc, in->console_fd, rootfd >= 0, err)) < 0)
		return r;
	if (c->root_readonly && rootfd >= 0 &&
	    mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		return err_sys(err, errno, "remount root read-only");
	return find_executable(in->proc, ret_exe, err);
}

static void init_fail(int sync_fd, const struct err *err)
{
	rt_sync_send(sync_fd, RT_SYNC_ERROR, err->code, err->msg);
	_exit(1);
}

void rt_init_main(struct rt_init *in)
{
	struct rt_sync_msg *msg = xmalloc(sizeof(*msg));
	struct err err = { 0 };
	_cleanup_free_ char *exe = NULL;
	char b;
	ssize_t n;

	/* device nodes get exactly the modes asked for */
	umask(0);
	if (rt_sync_expect(in->sync_fd, RT_SYNC_GO, msg, &err) < 0)
		_exit(1);
	in->state_json = xstrdup(msg->text);
	free(msg);
	/* in a user namespace we keep the host's (unmapped) ids until we take the
	 * namespace's root: files we create would otherwise belong to nobody */
	if (in->userns && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
		err_sys(&err, errno, "become root in the user namespace (is 0 mapped?)");
		init_fail(in->sync_fd, &err);
	}
	/* only now are we in the container's cgroup: a cgroup namespace made earlier
	 * would have the runtime's cgroup as its root */
	if (in->cgroupns && unshare(CLONE_NEWCGROUP) < 0) {
		err_sys(&err, errno, "create cgroup namespace");
		init_fail(in->sync_fd, &err);
	}
	if (!in->proc) {
		err_msg(&err, EINVAL, "process: missing (nothing to run)");
		init_fail(in->sync_fd, &err);
	}
	if (init_setup(in, &exe, &err) < 0)
		init_fail(in->sync_fd, &err);
	/* from here on the runtime may exit: it must not take us with it */
	prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	rt_sync_send(in->sync_fd, RT_SYNC_CREATED, 0, NULL);
	close(in->sync_fd);
	do
		n = read(in->fifo_fd, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(1);
	close(in->fifo_fd);
	if (in->cfg->hooks.n[RT_HOOK_START_CONTAINER]) {
		/* started, but not yet running the user's process: still "created" */
		json_t *st = json_loads(in->state_json, 0, NULL);
		char *js;
		json_object_set_new(st, "status", json_string("created"));
		js = json_dumps(st, JSON_COMPACT);
		json_decref(st);
		if (rt_hooks_run(&in->cfg->hooks, RT_HOOK_START_CONTAINER, js, &err) < 0)
			goto fail;
		free(js);
	}
	become_process(in->proc, in->cfg, exe, in->preserve_fds, in->cfg->init, &err);
fail:
	dprintf(2, "coop-runtime: %s\n", err.msg);
	_exit(127);
}

void rt_exec_main(const struct rt_process *proc, const struct rt_config *cfg, int sync_fd,
		  int console_fd, int preserve_fds)
{
	struct rt_sync_msg *msg = xmalloc(sizeof(*msg));
	struct err err = { 0 };
	_cleanup_free_ char *exe = NULL;

	if (rt_sync_expect(sync_fd, RT_SYNC_GO, msg, &err) < 0)
		_exit(1);
	free(msg);
	if (setup_terminal(proc, console_fd, false, &err) < 0 ||
	    find_executable(proc, &exe, &err) < 0)
		init_fail(sync_fd, &err);
	prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	rt_sync_send(sync_fd, RT_SYNC_CREATED, 0, NULL);
	close(sync_fd);
	become_process(proc, cfg, exe, preserve_fds, false, &err);
	dprintf(2, "coop-runtime: %s\n", err.msg);
	_exit(127);
}
