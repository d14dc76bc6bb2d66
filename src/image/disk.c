/* disk: the limit on a container's writable layer (see disk.h) — project quotas set
 * through quotactl where the filesystem enforces them, else an ext4 image of the
 * limit's size on a self-clearing loop device. No daemon state: everything a later
 * call needs is in struct img_disk, which the container's record keeps. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <linux/quota.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/util.h"
#include "image/disk.h"

#ifndef QCMD
#define QCMD(cmd, type) (((cmd) << 8) | ((type) & 0xff))
#endif
#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443
#endif

#define LOOP_TRIES 16 /* another process may take the free device we were given */

/* ---- pure ---- */

int img_disk_size_check(int64_t bytes, const char *shown, struct err *err)
{
	if (bytes < IMG_DISK_MIN)
		return err_msg(err, EINVAL, "%.64s is below the 16 MiB minimum", shown);
	if (bytes > IMG_DISK_MAX)
		return err_msg(err, EINVAL, "%.64s is above the 8 TiB maximum", shown);
	return 0;
}

uint64_t img_disk_quota_units(int64_t bytes, enum img_disk_fs fs)
{
	uint64_t unit = fs == IMG_DISK_FS_XFS ? 512 : QIF_DQBLKSIZE;
	return bytes <= 0 ? 0 : ((uint64_t)bytes + unit - 1) / unit;
}

uint32_t img_disk_projid_next(const uint32_t *used, size_t n_used, uint32_t from)
{
	if (from < IMG_DISK_PROJID_BASE)
		from = IMG_DISK_PROJID_BASE;
	for (uint32_t id = from; id < IMG_DISK_PROJID_BASE + IMG_DISK_PROJID_COUNT; id++) {
		bool taken = false;
		for (size_t i = 0; i < n_used && !taken; i++)
			taken = used[i] == id;
		if (!taken)
			return id;
	}
	return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *unescape(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 3 < n && isdigit((unsigned char)s[i + 1]) &&
		    isdigit((unsigned char)s[i + 2]) && isdigit((unsigned char)s[i + 3])) {
			*o++ = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* A line: "36 35 98:0 /root /mnt opts [optional...] - fstype source superopts". */
char *img_disk_mountinfo_source(const char *mountinfo, unsigned major, unsigned minor)
{
	char want[32];
	int wn = snprintf(want, sizeof(want), "%u:%u ", major, minor);

	for (const char *line = mountinfo; line && *line;) {
		const char *end = strchrnul(line, '\n'), *p = line, *sep, *src, *srcend;
		for (int f = 0; f < 2; f++) { /* past the mount id and the parent's */
			const char *sp = memchr(p, ' ', (size_t)(end - p));
			p = sp ? sp + 1 : end;
		}
		if (end - p > wn && memcmp(p, want, (size_t)wn) == 0 &&
		    (sep = memmem(p, (size_t)(end - p), " - ", 3))) {
			src = memchr(sep + 3, ' ', (size_t)(end - sep - 3)); /* after the fs type */
			if (src) {
				src++;
				srcend = memchr(src, ' ', (size_t)(end - src));
				return unescape(src, (size_t)((srcend ? srcend : end) - src));
			}
		}
		line = *end ? end + 1 : end;
	}
	return NULL;
}

static const char *const kind_names[] = { "none", "prjquota", "loop" };
static const char *const fs_names[] = { "other", "ext4", "xfs" };

const char *img_disk_kind_name(enum img_disk_kind k)
{
	return k < ARRAY_SIZE(kind_names) ? kind_names[k] : "?";
}

json_t *img_disk_to_json(const struct img_disk *d)
{
	json_t *j = json_pack("{s:s,s:I}", "kind", img_disk_kind_name(d->kind), "bytes",
			      (json_int_t)d->bytes);
	if (d->kind == IMG_DISK_PRJQUOTA) {
		json_object_set_new(j, "fs", json_string(fs_names[d->fs]));
		json_object_set_new(j, "projid", json_integer(d->projid));
	}
	return j;
}

static int name_index(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (streq(s, names[i]))
			return (int)i;
	return -1;
}

int img_disk_from_json(json_t *j, struct img_disk *ret, struct err *err)
{
	struct img_disk d = { 0 };
	int k = name_index(json_string_value(json_object_get(j, "kind")), kind_names,
			   ARRAY_SIZE(kind_names));
	json_t *bytes = json_object_get(j, "bytes"), *projid = json_object_get(j, "projid");

	if (k <= IMG_DISK_NONE || !json_is_integer(bytes) || json_integer_value(bytes) <= 0)
		return err_msg(err, EINVAL, "disk: expected {kind: prjquota|loop, bytes: N}");
	d.kind = (enum img_disk_kind)k;
	d.bytes = json_integer_value(bytes);
	if (d.kind == IMG_DISK_PRJQUOTA) {
		int fs = name_index(json_string_value(json_object_get(j, "fs")), fs_names,
				    ARRAY_SIZE(fs_names));
		if (fs <= IMG_DISK_FS_OTHER || !json_is_integer(projid) ||
		    json_integer_value(projid) <= 0 || json_integer_value(projid) > UINT32_MAX)
			return err_msg(err, EINVAL, "disk: a prjquota limit needs fs and projid");
		d.fs = (enum img_disk_fs)fs;
		d.projid = (uint32_t)json_integer_value(projid);
	}
	*ret = d;
	return 0;
}

/* ---- quotactl ---- */

/* quotactl_fd (Linux 5.14) names the filesystem by any fd on it; before that, quotactl
 * needs its block device, found in mountinfo by the directory's st_dev. */
static int quota_call(const char *dir, int cmd, uint32_t id, void *addr, const char *what,
		      struct err *err)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *mi = NULL, *dev = NULL;
	struct stat st;

	if (fd < 0)
		return err_sys(err, errno, "open '%s'", dir);
	if (syscall(SYS_quotactl_fd, fd, cmd, id, addr) == 0)
		return 0;
	if (errno != ENOSYS)
		return err_sys(err, errno, "%s (project %u) on '%s'", what, id, dir);
	if (fstat(fd, &st) < 0)
		return err_sys(err, errno, "stat '%s'", dir);
	if (fs_read("/proc/self/mountinfo", &mi, err) < 0)
		return -ENOSYS;
	if (!(dev = img_disk_mountinfo_source(mi, major(st.st_dev), minor(st.st_dev))))
		return err_msg(err, ENOSYS, "%s on '%s': its device is not in mountinfo", what, dir);
	if (syscall(SYS_quotactl, cmd, dev, id, addr) < 0)
		return err_sys(err, errno, "%s (project %u) on '%s' (%s)", what, id, dir, dev);
	return 0;
}

/* The block hard (and soft) limit of project id; 0 lifts it. */
static int set_limit(const char *dir, enum img_disk_fs fs, uint32_t id, int64_t bytes,
		     struct err *err)
{
	uint64_t u = img_disk_quota_units(bytes, fs);

	if (fs == IMG_DISK_FS_XFS) {
		struct fs_disk_quota q = { .d_version = FS_DQUOT_VERSION, .d_flags = FS_PROJ_QUOTA,
					   .d_id = id, .d_fieldmask = FS_DQ_BHARD | FS_DQ_BSOFT,
					   .d_blk_hardlimit = u, .d_blk_softlimit = u };
		return quota_call(dir, QCMD(Q_XSETQLIM, PRJQUOTA), id, &q, "set the quota", err);
	}
	struct if_dqblk q = { .dqb_bhardlimit = u, .dqb_bsoftlimit = u, .dqb_valid = QIF_BLIMITS };
	return quota_call(dir, QCMD(Q_SETQUOTA, PRJQUOTA), id, &q, "set the quota", err);
}

/* Bytes charged to project id, and whether anything holds it (usage or a limit). */
static int get_quota(const char *dir, enum img_disk_fs fs, uint32_t id, int64_t *ret_used,
		     bool *ret_held, struct err *err)
{
	struct err e = { 0 };
	int r;

	if (fs == IMG_DISK_FS_XFS) {
		struct fs_disk_quota q = { 0 };
		r = quota_call(dir, QCMD(Q_XGETQUOTA, PRJQUOTA), id, &q, "read the quota", &e);
		if (r == -ENOENT) /* XFS: no dquot for that id yet */
			q = (struct fs_disk_quota){ 0 };
		else if (r < 0)
			return *err = e, r;
		*ret_used = (int64_t)q.d_bcount * 512;
		*ret_held = q.d_bcount || q.d_icount || q.d_blk_hardlimit || q.d_blk_softlimit ||
			    q.d_ino_hardlimit || q.d_ino_softlimit;
		return 0;
	}
	struct if_dqblk q = { 0 };
	if ((r = quota_call(dir, QCMD(Q_GETQUOTA, PRJQUOTA), id, &q, "read the quota", err)) < 0)
		return r;
	*ret_used = (int64_t)q.dqb_curspace;
	*ret_held = q.dqb_curspace || q.dqb_curinodes || q.dqb_bhardlimit || q.dqb_bsoftlimit ||
		    q.dqb_ihardlimit || q.dqb_isoftlimit;
	return 0;
}

static int set_projid(const char *path, uint32_t id, struct err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct fsxattr fa;

	if (fd < 0)
		return err_sys(err, errno, "open '%s'", path);
	if (ioctl(fd, FS_IOC_FSGETXATTR, &fa) < 0)
		return err_sys(err, errno, "read the project of '%s'", path);
	if (fa.fsx_projid == id && (fa.fsx_xflags & FS_XFLAG_PROJINHERIT))
		return 0;
	fa.fsx_projid = id;
	fa.fsx_xflags |= FS_XFLAG_PROJINHERIT;
	if (ioctl(fd, FS_IOC_FSSETXATTR, &fa) < 0)
		return err_sys(err, errno, "set project %u on '%s'", id, path);
	return 0;
}

/* ---- probing ---- */

/* A program in $PATH (the default PATH when unset); NULL if absent. */
static char *find_prog(const char *name)
{
	const char *path = getenv("PATH") ?: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	_cleanup_free_ char *dup = xstrdup(path);
	char *save = NULL;

	for (char *d = strtok_r(dup, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", *d ? d : ".", name);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/* Why loop devices cannot back a limit here, or 0 when they can. */
static int loop_usable(char *why, size_t n)
{
	_cleanup_close_ int fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	_cleanup_free_ char *mkfs = NULL;
	struct stat st;

	if (fd < 0)
		return snprintf(why, n, "open /dev/loop-control: %s", strerror(errno)), -1;
	/* misc 10:237 (LOOP_CTRL_MINOR): not /dev/null bound over it, as some sandboxes do */
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 10 ||
	    minor(st.st_rdev) != 237)
		return snprintf(why, n, "/dev/loop-control is not the loop control device"), -1;
	if (!(mkfs = find_prog("mkfs.ext4")))
		return snprintf(why, n, "mkfs.ext4 is not in PATH (install e2fsprogs)"), -1;
	return 0;
}

int img_disk_probe(const char *dir, struct img_disk *ret, struct err *err)
{
	struct statfs sf;
	char why[256], lwhy[256];

	if (statfs(dir, &sf) < 0)
		return err_sys(err, errno, "statfs '%s'", dir);
	ret->fs = sf.f_type == EXT4_SUPER_MAGIC  ? IMG_DISK_FS_EXT4
		  : sf.f_type == XFS_SUPER_MAGIC ? IMG_DISK_FS_XFS
						 : IMG_DISK_FS_OTHER;
	if (ret->fs != IMG_DISK_FS_OTHER) {
		struct fs_quota_stat qs = { 0 };
		struct err e = { 0 };
		if (quota_call(dir, QCMD(Q_XGETQSTAT, PRJQUOTA), 0, &qs, "read the quota state", &e) == 0 &&
		    (qs.qs_flags & FS_QUOTA_PDQ_ENFD)) {
			ret->kind = IMG_DISK_PRJQUOTA;
			return 0;
		}
		snprintf(why, sizeof(why), "'%s' (%s) does not enforce project quotas (%s)", dir,
			 fs_names[ret->fs],
			 ret->fs == IMG_DISK_FS_XFS ? "mount it with prjquota"
						    : "needs mkfs -O quota,project and the prjquota mount option");
	} else {
		snprintf(why, sizeof(why), "'%s' is not on ext4 or XFS, the filesystems with project quotas", dir);
	}
	if (loop_usable(lwhy, sizeof(lwhy)) < 0)
		return err_msg(err, ENOTSUP,
			       "--disk/resources.disk cannot be enforced here: %s, and the "
			       "loop-device fallback is unavailable: %s",
			       why, lwhy);
	ret->kind = IMG_DISK_LOOP;
	return 0;
}

int img_disk_claim(const char *dir, struct img_disk *d, const uint32_t *used, size_t n_used,
		   struct err *err)
{
	uint32_t from = IMG_DISK_PROJID_BASE;
	int64_t bytes;
	bool held;
	int r;

	if (d->kind != IMG_DISK_PRJQUOTA)
		return 0;
	for (int tries = 0; tries < 4096; tries++) {
		uint32_t id = img_disk_projid_next(used, n_used, from);
		if (!id)
			return err_msg(err, ENOSPC, "no free project id in %u-%u", IMG_DISK_PROJID_BASE,
				       IMG_DISK_PROJID_BASE + IMG_DISK_PROJID_COUNT - 1);
		if ((r = get_quota(dir, d->fs, id, &bytes, &held, err)) < 0)
			return r;
		if (!held) {
			d->projid = id;
			return set_limit(dir, d->fs, id, d->bytes, err);
		}
		from = id + 1; /* someone else's: files or a limit on it already */
	}
	return err_msg(err, ENOSPC, "no free project id on '%s' (4096 tried from %u)", dir,
		       IMG_DISK_PROJID_BASE);
}

int img_disk_unclaim(const char *dir, const struct img_disk *d, struct err *err)
{
	if (d->kind != IMG_DISK_PRJQUOTA || !d->projid)
		return 0;
	return set_limit(dir, d->fs, d->projid, 0, err);
}

/* ---- the loop fallback ---- */

static bool is_mountpoint(const char *cdir, const char *rw)
{
	struct stat a, b;
	return stat(cdir, &a) == 0 && stat(rw, &b) == 0 && a.st_dev != b.st_dev;
}

/* Runs argv (argv[0] a path) with stderr kept; its last line goes into the error. */
static int run_tool(char *const *argv, struct err *err)
{
	char out[1024];
	size_t n = 0;
	int pfd[2], status;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return err_sys(err, errno, "pipe");
	if ((pid = fork()) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return err_sys(err, errno, "fork %s", argv[0]);
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(pfd[1], 1) < 0 || dup2(pfd[1], 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	for (ssize_t k; n < sizeof(out) - 1 &&
			(k = read(pfd[0], out + n, sizeof(out) - 1 - n)) != 0;)
		if (k > 0)
			n += (size_t)k;
		else if (errno != EINTR)
			break;
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_sys(err, errno, "wait for %s", argv[0]);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	while (n > 0 && isspace((unsigned char)out[n - 1]))
		n--;
	out[n] = '\0';
	char *last = strrchr(out, '\n');
	return err_msg(err, EIO, "%s failed (%s %d)%s%s", argv[0],
		       WIFEXITED(status) ? "exit" : "signal",
		       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), n ? ": " : "",
		       last ? last + 1 : out);
}

/* The journal's MiB for a layer of `bytes`: 1/128 of it, at least mke2fs's minimum of 1024
 * blocks (1 KiB blocks below 512 MiB, 4 KiB from there), at most 64 MiB. mke2fs's own
 * choice (32 MiB at 1 GiB) would take 3% of the limit from the container. */
static unsigned journal_mib(int64_t bytes)
{
	int64_t mib = bytes / 128 / (1 << 20);
	int64_t min = bytes >= (512LL << 20) ? 4 : 1;
	return (unsigned)(mib < min ? min : mib > 64 ? 64 : mib);
}

/* An ext4 with no reserved blocks (the container's writes may use all of it) and no
 * room kept for growing it (it never grows). The file is sparse and known to be zero,
 * which spares mke2fs (1.47+) zeroing the inode tables and the journal; an older mke2fs
 * refuses the option and gets lazy init instead. */
static int run_mkfs(const char *path, int64_t bytes, struct err *err)
{
	_cleanup_free_ char *mkfs = find_prog("mkfs.ext4");
	char journal[32];
	char *argv[] = { mkfs, "-q", "-F", "-m", "0", "-O", "^resize_inode", "-J", journal,
			 "-L", "coop-rw", "-E", "nodiscard,assume_storage_prezeroed=1",
			 (char *)path, NULL };
	struct err e = { 0 };

	if (!mkfs)
		return err_msg(err, ENOENT, "mkfs.ext4 is not in PATH (install e2fsprogs)");
	snprintf(journal, sizeof(journal), "size=%u", journal_mib(bytes));
	if (run_tool(argv, &e) == 0)
		return 0;
	if (!strstr(e.msg, "assume_storage_prezeroed"))
		return *err = e, -e.code;
	argv[12] = "nodiscard,lazy_itable_init=1,lazy_journal_init=1";
	return run_tool(argv, err);
}

/* rw.img, made under a temporary name and renamed once formatted: a crash midway
 * never leaves an unformatted image that a later start would try to mount. */
static int make_image(const char *img, int64_t bytes, struct err *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", img);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0)
		return err_sys(err, errno, "create '%s'", tmp);
	if (ftruncate(fd, (off_t)bytes) < 0)
		r = err_sys(err, errno, "size '%s' to %lld bytes", tmp, (long long)bytes);
	close(fd);
	if (r == 0)
		r = run_mkfs(tmp, bytes, err);
	if (r == 0 && rename(tmp, img) < 0)
		r = err_sys(err, errno, "rename '%s'", tmp);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* LOOP_CONFIGURE (Linux 5.8) in one step, else LOOP_SET_FD + LOOP_SET_STATUS64. */
static int loop_configure(int lfd, int ffd, const char *img)
{
	struct loop_config cfg = { .fd = (uint32_t)ffd, .info.lo_flags = LO_FLAGS_AUTOCLEAR };

	/* informational (losetup shows it); the kernel keeps 63 bytes */
	snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", img);
	if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOTTY)
		return -errno;
	if (ioctl(lfd, LOOP_SET_FD, ffd) < 0)
		return -errno;
	if (ioctl(lfd, LOOP_SET_STATUS64, &cfg.info) < 0) {
		int e = errno;
		ioctl(lfd, LOOP_CLR_FD, 0);
		return -e;
	}
	return 0;
}

/* A free loop device bound to img that clears itself on its last close: once our fd
 * closes, only the mount holds it, and unmounting frees it. */
static int loop_attach(const char *img, char *dev, size_t n, int *ret_fd, struct err *err)
{
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	_cleanup_close_ int ffd = open(img, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	int r;

	if (ctl < 0)
		return err_sys(err, errno, "open /dev/loop-control");
	if (ffd < 0)
		return err_sys(err, errno, "open '%s'", img);
	for (int i = 0; i < LOOP_TRIES; i++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0)
			return err_sys(err, errno, "find a free loop device");
		snprintf(dev, n, "/dev/loop%d", nr);
		_cleanup_close_ int lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0)
			return err_sys(err, errno, "open '%s'", dev);
		if ((r = loop_configure(lfd, ffd, img)) == 0) {
			*ret_fd = take_fd(lfd);
			return 0;
		}
		if (r != -EBUSY)
			return err_sys(err, -r, "bind '%s' to '%s'", dev, img);
	}
	return err_msg(err, EBUSY, "bind a loop device to '%s': %d in a row were taken", img,
		       LOOP_TRIES);
}

/* The loop device still bound to img (absolute), if any: its filesystem was unmounted
 * here but a mount namespace made while it was mounted (private propagation: nothing
 * unmounts its copy) holds it. Mounting that device again gives the same superblock;
 * binding a second device would mount one ext4 twice, and the older one's last write at
 * its unmount would tear the newer one's. */
static int loop_find(const char *img, char *dev, size_t n)
{
	_cleanup_closedir_ DIR *d = opendir("/sys/block");
	struct dirent *de;
	size_t len = strlen(img);

	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		_cleanup_free_ char *p = xasprintf("/sys/block/%s/loop/backing_file", de->d_name);
		_cleanup_free_ char *b = NULL;
		if (fs_read(p, &b, &(struct err){ 0 }) < 0 || strncmp(b, img, len) != 0 ||
		    (b[len] != '\n' && b[len] != '\0'))
			continue;
		snprintf(dev, n, "/dev/%.20s", de->d_name); /* loopN */
		return 0;
	}
	return -ENOENT;
}

static int loop_setup(const char *cdir, const char *rw, const struct img_disk *d,
		      struct err *err)
{
	_cleanup_free_ char *img = xasprintf("%s/rw.img", cdir), *abs = NULL;
	_cleanup_close_ int lfd = -1;
	char dev[32];
	int r;

	if (is_mountpoint(cdir, rw))
		return 0; /* a previous monitor's, still there */
	if (access(img, F_OK) < 0) {
		if (errno != ENOENT)
			return err_sys(err, errno, "access '%s'", img);
		if ((r = make_image(img, d->bytes, err)) < 0)
			return r;
	}
	if ((abs = realpath(img, NULL)) && loop_find(abs, dev, sizeof(dev)) == 0 &&
	    mount(dev, rw, "ext4", 0, "") == 0)
		return 0; /* (gone meanwhile: the mount fails, a new device is bound) */
	if ((r = loop_attach(img, dev, sizeof(dev), &lfd, err)) < 0)
		return r;
	if (mount(dev, rw, "ext4", 0, "") < 0)
		return err_sys(err, errno, "mount '%s' (%s) on '%s'", img, dev, rw);
	return 0; /* lfd closes: the mount alone holds the device now */
}

/* ---- the writable layer ---- */

int img_disk_setup(const char *cdir, const struct img_disk *d, struct err *err)
{
	_cleanup_free_ char *rw = xasprintf("%s/rw", cdir);
	int r;

	if (mkdir(rw, 0755) < 0 && errno != EEXIST)
		return err_sys(err, errno, "mkdir '%s'", rw);
	switch (d->kind) {
	case IMG_DISK_PRJQUOTA:
		if ((r = set_projid(rw, d->projid, err)) < 0)
			return r;
		return set_limit(rw, d->fs, d->projid, d->bytes, err);
	case IMG_DISK_LOOP:
		return loop_setup(cdir, rw, d, err);
	default:
		return err_msg(err, EINVAL, "disk: no limit kind");
	}
}

int img_disk_release(const char *cdir, const struct img_disk *d, struct err *err)
{
	_cleanup_free_ char *rw = xasprintf("%s/rw", cdir);

	if (d->kind != IMG_DISK_LOOP || !is_mountpoint(cdir, rw))
		return 0;
	if (umount2(rw, MNT_DETACH) < 0)
		return err_sys(err, errno, "unmount '%s'", rw);
	return 0;
}

int img_disk_usage(const char *cdir, const struct img_disk *d, int64_t *ret, struct err *err)
{
	_cleanup_free_ char *rw = xasprintf("%s/rw", cdir);
	struct statfs sf;
	bool held;

	if (d->kind == IMG_DISK_PRJQUOTA)
		return get_quota(rw, d->fs, d->projid, ret, &held, err);
	if (!is_mountpoint(cdir, rw))
		return err_msg(err, ENOENT, "'%s' is not mounted", rw);
	if (statfs(rw, &sf) < 0)
		return err_sys(err, errno, "statfs '%s'", rw);
	*ret = (int64_t)(sf.f_blocks - sf.f_bfree) * (int64_t)sf.f_bsize;
	return 0;
}
