/* unpack: applies one layer tar to a directory without ever writing outside it.
 * Every entry's parent is resolved from the layer root with openat2(RESOLVE_IN_ROOT),
 * and the entry itself is made with an *at() call that does not follow its last
 * component; symlinks in the layer are data. Whiteouts become overlayfs whiteouts. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "base/dl_archive.h"
#include "base/log.h"
#include "base/util.h"
#include "image/unpack.h"

#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
#define NAME_MAX_LEN 4096
#define WH_PREFIX ".wh."
#define WH_META ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"

/* A directory whose mtime is set once the whole layer is written (entries created
 * in it afterwards would change it again). */
struct dir_time {
	char *path;
	struct timespec ts[2];
};

struct unpack {
	int root; /* O_PATH fd of dest */
	const struct img_unpack_opts *o;
	const char *what;
	struct dir_time *dirs;
	size_t n_dirs, cap_dirs;
};

static int openat2_(int dirfd, const char *path, int flags, mode_t mode, unsigned long long res)
{
	struct open_how how = {.flags = flags, .mode = mode, .resolve = res};
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

/* Docker treats entry names as relative to the layer root: a leading "/" is dropped,
 * "." and empty components vanish, ".." that stays inside is folded, ".." that climbs
 * above the root is refused. Returns "" for the root itself. */
static int clean_path(const char *raw, char **ret)
{
	size_t len = strlen(raw);
	_cleanup_free_ char *out = xmalloc(len + 1);
	size_t o = 0;
	const char *p = raw;

	while (*p) {
		const char *s = p;
		size_t n;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - s);
		if (*p == '/')
			p++;
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (o == 0)
				return -EXDEV;
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the slash before the dropped component */
			continue;
		}
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, s, n);
		o += n;
	}
	out[o] = '\0';
	*ret = take_ptr(out);
	return 0;
}

/* Opens the directory `rel` (cleaned, relative) inside the root, creating missing
 * components with mode 0755. Each prefix is resolved from the root with
 * RESOLVE_IN_ROOT, so a symlink in the layer can only lead somewhere inside it. */
static int open_dir_in_root(int root, const char *rel, bool create, struct err *err)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int prev = -1;
	int fd;

	if (!*rel) {
		fd = fcntl(root, F_DUPFD_CLOEXEC, 3);
		return fd >= 0 ? fd : err_sys(err, errno, "dup layer root");
	}
	fd = openat2_(root, rel, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, IN_ROOT);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT || !create)
		return err_sys(err, errno, "open directory '%s'", rel);
	buf = xstrdup(rel);
	prev = fcntl(root, F_DUPFD_CLOEXEC, 3);
	if (prev < 0)
		return err_sys(err, errno, "dup layer root");
	for (char *s = buf;; s++) {
		bool last = (*s == '\0');
		char *comp;
		if (*s != '/' && !last)
			continue;
		*s = '\0';
		comp = strrchr(buf, '/');
		comp = comp ? comp + 1 : buf;
		fd = openat2_(root, buf, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, IN_ROOT);
		if (fd < 0 && errno == ENOENT) {
			if (mkdirat(prev, comp, 0755) == 0) {
				/* whatever the umask (our own new directory: no link to follow) */
				if (fchmodat(prev, comp, 0755, 0) < 0)
					return err_sys(err, errno, "chmod directory '%s'", buf);
			} else if (errno != EEXIST) {
				return err_sys(err, errno, "create directory '%s'", buf);
			}
			fd = openat2_(root, buf, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, IN_ROOT);
		}
		if (fd < 0)
			return err_sys(err, errno, "open directory '%s'", buf);
		close(prev);
		prev = fd;
		if (last)
			break;
		*s = '/';
	}
	return take_fd(prev);
}

/* Splits a cleaned path into its parent (opened, created as needed) and last name. */
static int open_parent(struct unpack *u, const char *path, bool create, const char **ret_name,
		       struct err *err)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *dir = slash ? strndup(path, (size_t)(slash - path)) : xstrdup("");

	*ret_name = slash ? slash + 1 : path;
	return open_dir_in_root(u->root, dir, create, err);
}

/* rm -rf of dirfd/name, never following a symlink. */
static int remove_at(int pdir, const char *name, struct err *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	if (unlinkat(pdir, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return err_sys(err, errno, "remove '%s'", name);
	fd = openat(pdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, errno, "open '%s' to remove it", name);
	d = fdopendir(fd);
	if (!d)
		return err_sys(err, errno, "read directory '%s'", name);
	fd = -1; /* owned by d */
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (remove_at(dirfd(d), de->d_name, err) < 0)
			return -err->code;
	}
	if (unlinkat(pdir, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return err_sys(err, errno, "remove directory '%s'", name);
	return 0;
}

/* Within one layer a later entry replaces an earlier one, except that a directory
 * entry over an existing directory keeps what is inside (whiteouts and children may
 * have come first). Returns 1 when an existing directory is to be kept. */
static int make_room(int pfd, const char *name, bool is_dir, struct err *err)
{
	struct stat st;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_sys(err, errno, "stat '%s'", name);
	}
	if (is_dir && S_ISDIR(st.st_mode))
		return 1;
	return remove_at(pfd, name, err);
}

static bool xattr_forbidden(const char *name)
{
	/* overlay's own attributes (redirect, metacopy, opaque) must come from our whiteout
	 * conversion only: a layer carrying them could point overlay elsewhere. */
	return strncmp(name, "trusted.overlay.", 16) == 0 ||
	       strncmp(name, "user.overlay.", 13) == 0;
}

static int apply_xattrs(int fd, struct archive_entry *e, const char *path, struct err *err)
{
	const char *name;
	const void *val;
	size_t len;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &len) == ARCHIVE_OK) {
		if (xattr_forbidden(name)) {
			log_debug("unpack: '%s': dropping xattr %s", path, name);
			continue;
		}
		if (fsetxattr(fd, name, val, len, 0) == 0)
			continue;
		if (errno == EOPNOTSUPP || errno == ENOTSUP ||
		    (errno == EPERM &&
		     (strncmp(name, "security.", 9) == 0 || strncmp(name, "trusted.", 8) == 0))) {
			log_debug("unpack: '%s': xattr %s not kept: %s", path, name,
				  strerror(errno));
			continue;
		}
		return err_sys(err, errno, "set xattr %s on '%s'", name, path);
	}
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (!archive_entry_mtime_is_set(e))
		ts[1].tv_nsec = UTIME_NOW;
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		ts[0] = ts[1];
	}
}

/* Owner, mode (after chown, which clears set-id bits), xattrs; fd is the open entry. */
static int apply_meta_fd(struct unpack *u, int fd, struct archive_entry *e, const char *path,
			 struct err *err)
{
	if (u->o->set_owners &&
	    fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
		return err_sys(err, errno, "chown '%s'", path);
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return err_sys(err, errno, "chmod '%s'", path);
	return apply_xattrs(fd, e, path, err);
}

static int write_data(struct archive *a, int fd, const char *path, struct err *err)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		const char *p = buf;
		while (len > 0) {
			ssize_t n = pwrite(fd, p, len, off);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return err_sys(err, errno, "write '%s'", path);
			}
			p += n;
			off += n;
			len -= (size_t)n;
		}
	}
	if (r != ARCHIVE_EOF)
		return err_msg(err, EIO, "read data of '%s': %s", path, archive_error_string(a));
	return 0;
}

static int do_file(struct unpack *u, struct archive *a, struct archive_entry *e, int pfd,
		   const char *name, const char *path, struct err *err)
{
	_cleanup_close_ int fd = -1;
	struct timespec ts[2];
	int r;

	if ((r = make_room(pfd, name, false, err)) < 0)
		return r;
	fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, errno, "create '%s'", path);
	if ((r = write_data(a, fd, path, err)) < 0)
		return r;
	/* sparse entries end in a hole: the size is the header's */
	if (archive_entry_size_is_set(e) && ftruncate(fd, archive_entry_size(e)) < 0)
		return err_sys(err, errno, "truncate '%s'", path);
	if ((r = apply_meta_fd(u, fd, e, path, err)) < 0)
		return r;
	entry_times(e, ts);
	if (futimens(fd, ts) < 0)
		return err_sys(err, errno, "set times of '%s'", path);
	return 0;
}

static int do_dir(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
		  const char *path, struct err *err)
{
	_cleanup_close_ int fd = -1;
	struct dir_time *dt;
	int r;

	if (!*path) {
		fd = openat(u->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		if ((r = make_room(pfd, name, true, err)) < 0)
			return r;
		if (r == 0 && mkdirat(pfd, name, 0700) < 0)
			return err_sys(err, errno, "create directory '%s'", path);
		fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return err_sys(err, errno, "open directory '%s'", *path ? path : ".");
	if ((r = apply_meta_fd(u, fd, e, *path ? path : ".", err)) < 0)
		return r;
	if (u->n_dirs == u->cap_dirs) {
		u->cap_dirs = u->cap_dirs ? 2 * u->cap_dirs : 64;
		u->dirs = xrealloc(u->dirs, u->cap_dirs * sizeof(*u->dirs));
	}
	dt = &u->dirs[u->n_dirs++];
	dt->path = xstrdup(path);
	entry_times(e, dt->ts);
	return 0;
}

static int do_symlink(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
		      const char *path, struct err *err)
{
	const char *target = archive_entry_symlink(e);
	struct timespec ts[2];
	int r;

	if (!target || !*target)
		return err_msg(err, EINVAL, "symlink '%s' has no target", path);
	if (strlen(target) > NAME_MAX_LEN)
		return err_msg(err, ENAMETOOLONG, "symlink '%s': target too long", path);
	if ((r = make_room(pfd, name, false, err)) < 0)
		return r;
	if (symlinkat(target, pfd, name) < 0)
		return err_sys(err, errno, "create symlink '%s'", path);
	if (u->o->set_owners && fchownat(pfd, name, (uid_t)archive_entry_uid(e),
					 (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(err, errno, "chown '%s'", path);
	entry_times(e, ts);
	if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(err, errno, "set times of '%s'", path);
	return 0;
}

/* A hard link: both ends resolved inside the root; linkat() does not follow the
 * target's last component either. */
static int do_hardlink(struct unpack *u, const char *raw_target, int pfd, const char *name,
		       const char *path, struct err *err)
{
	_cleanup_free_ char *target = NULL;
	_cleanup_close_ int tfd = -1;
	const char *tname;
	int r;

	if (strlen(raw_target) > NAME_MAX_LEN)
		return err_msg(err, ENAMETOOLONG, "hard link '%s': target name too long", path);
	if (clean_path(raw_target, &target) < 0)
		return err_msg(err, EXDEV, "hard link target '%s' escapes the layer", raw_target);
	if (!*target)
		return err_msg(err, EINVAL, "hard link '%s' to the layer root", path);
	if (streq(target, path))
		return 0; /* a link to itself: nothing to do */
	tfd = open_parent(u, target, false, &tname, err);
	if (tfd < 0)
		return err_wrap(err, "hard link '%s' to '%s'", path, target);
	if ((r = make_room(pfd, name, false, err)) < 0)
		return r;
	if (linkat(tfd, tname, pfd, name, 0) < 0)
		return err_sys(err, errno, "hard link '%s' to '%s'", path, target);
	return 0;
}

static int do_node(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
		   const char *path, struct err *err)
{
	mode_t type = archive_entry_filetype(e);
	struct timespec ts[2];
	int r;

	if ((type == AE_IFCHR || type == AE_IFBLK) && !u->o->allow_devices) {
		log_warn("%s: skipping device node '%s' (devices not allowed)", u->what, path);
		return 0;
	}
	if ((r = make_room(pfd, name, false, err)) < 0)
		return r;
	if (mknodat(pfd, name, type | (archive_entry_perm(e) & 07777),
		    type == AE_IFIFO ? 0 : archive_entry_rdev(e)) < 0)
		return err_sys(err, errno, "create %s '%s'",
			       type == AE_IFIFO ? "fifo" : "device node", path);
	if (u->o->set_owners && fchownat(pfd, name, (uid_t)archive_entry_uid(e),
					 (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(err, errno, "chown '%s'", path);
	/* mknod applied the umask */
	if (fchmodat(pfd, name, archive_entry_perm(e) & 07777, 0) < 0)
		return err_sys(err, errno, "chmod '%s'", path);
	entry_times(e, ts);
	if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(err, errno, "set times of '%s'", path);
	return 0;
}

/* ".wh..wh..opq" in D: D hides everything below it. ".wh.NAME": NAME is deleted. */
static int do_whiteout(struct unpack *u, int pfd, const char *name, const char *path,
		       struct err *err)
{
	const char *target = name + strlen(WH_PREFIX);
	int r;

	if (streq(name, WH_OPAQUE)) {
		_cleanup_close_ int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return err_sys(err, errno, "open directory of '%s'", path);
		if (fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
			return err_sys(err, errno, "mark directory of '%s' opaque%s", path,
				       errno == EPERM ? " (needs root)" : "");
		return 0;
	}
	if (strncmp(name, WH_META, strlen(WH_META)) == 0)
		return 0; /* .wh..wh.plnk and friends: aufs bookkeeping */
	if (!*target || streq(target, ".") || streq(target, ".."))
		return err_msg(err, EINVAL, "bad whiteout '%s'", path);
	if ((r = make_room(pfd, target, false, err)) < 0)
		return r;
	if (mknodat(pfd, target, S_IFCHR | 0, makedev(0, 0)) < 0)
		return err_sys(err, errno, "create whiteout for '%s'%s", path,
			       errno == EPERM ? " (whiteouts need root)" : "");
	if (u->o->set_owners && fchownat(pfd, target, 0, 0, AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(err, errno, "chown whiteout '%s'", path);
	return 0;
}

static int apply_entry(struct unpack *u, struct archive *a, struct archive_entry *e,
		       const char *path, struct err *err)
{
	const char *hardlink = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	const char *name = path;
	_cleanup_close_ int pfd = -1;

	if (!*path) {
		if (type != AE_IFDIR || hardlink)
			return err_msg(err, EINVAL, "not a directory");
		return do_dir(u, e, -1, "", "", err);
	}
	pfd = open_parent(u, path, true, &name, err);
	if (pfd < 0)
		return pfd;
	if (strncmp(name, WH_PREFIX, strlen(WH_PREFIX)) == 0)
		return do_whiteout(u, pfd, name, path, err);
	if (hardlink)
		return do_hardlink(u, hardlink, pfd, name, path, err);
	switch (type) {
	case AE_IFREG:
		return do_file(u, a, e, pfd, name, path, err);
	case AE_IFDIR:
		return do_dir(u, e, pfd, name, path, err);
	case AE_IFLNK:
		return do_symlink(u, e, pfd, name, path, err);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return do_node(u, e, pfd, name, path, err);
	default:
		return err_msg(err, EINVAL, "unsupported entry type 0%o", (unsigned)type);
	}
}

/* Directory times last: creating entries in a directory changes its mtime. */
static int finish_dirs(struct unpack *u, struct err *err)
{
	for (size_t i = 0; i < u->n_dirs; i++) {
		struct dir_time *dt = &u->dirs[i];
		const char *name;
		_cleanup_close_ int pfd = -1;
		struct stat st;

		if (!*dt->path) {
			if (utimensat(u->root, ".", dt->ts, 0) < 0)
				return err_sys(err, errno, "set times of the layer root");
			continue;
		}
		pfd = open_parent(u, dt->path, false, &name, err);
		if (pfd < 0)
			continue; /* replaced later in the layer */
		if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (utimensat(pfd, name, dt->ts, AT_SYMLINK_NOFOLLOW) < 0)
			return err_sys(err, errno, "set times of '%s'", dt->path);
	}
	return 0;
}

/* Entry names are bytes from the archive: the one-line error must stay one line. */
static void err_printable(struct err *err)
{
	for (char *c = err->msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

static void unpack_done(struct unpack *u)
{
	for (size_t i = 0; i < u->n_dirs; i++)
		free(u->dirs[i].path);
	free(u->dirs);
	if (u->root >= 0)
		close(u->root);
}

static int open_archive(int fd, struct archive **ret, struct err *err)
{
	struct archive *a = archive_read_new();

	/* The media type names the compression, but layers in the wild lie about it
	 * (docker-save tars labelled gzip): detect from the bytes, as containerd does. */
	archive_read_support_filter_none(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 128 * 1024) != ARCHIVE_OK) {
		int r = err_msg(err, EINVAL, "open archive: %s", archive_error_string(a));
		archive_read_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

int img_unpack_fd(int fd, enum img_compression comp, const char *dest,
		  const struct img_unpack_opts *o, struct err *err)
{
	static const struct img_unpack_opts defaults = {0};
	struct unpack u = {.root = -1, .o = o ? o : &defaults};
	_cleanup_(archive_freep) struct archive *a = NULL;
	struct archive_entry *e;
	int r = 0, ar;

	(void)comp;
	u.what = u.o->what ? u.o->what : "layer";
	if ((r = dl_load(&dl_archive, err)) < 0)
		return err_wrap(err, "%s", u.what);
	u.root = open(dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (u.root < 0)
		return err_sys(err, errno, "%s: open '%s'", u.what, dest);
	if ((r = open_archive(fd, &a, err)) < 0) {
		err_wrap(err, "%s", u.what);
		goto out;
	}
	while ((ar = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		const char *raw;
		_cleanup_free_ char *path = NULL;

		if (ar == ARCHIVE_WARN) {
			log_debug("%s: %s", u.what, archive_error_string(a));
		} else if (ar != ARCHIVE_OK) {
			r = err_msg(err, EINVAL, "%s: read archive: %s", u.what,
				    archive_error_string(a));
			goto out;
		}
		raw = archive_entry_pathname(e);
		if (!raw) {
			r = err_msg(err, EINVAL, "%s: entry without a name", u.what);
			goto out;
		}
		if (strlen(raw) > NAME_MAX_LEN) {
			r = err_msg(err, ENAMETOOLONG,
				    "%s: entry name longer than %d bytes ('%.64s...')", u.what,
				    NAME_MAX_LEN, raw);
			goto out;
		}
		if (clean_path(raw, &path) < 0) {
			r = err_msg(err, EXDEV, "%s: entry '%s' escapes the layer", u.what, raw);
			goto out;
		}
		if (strncmp(path, WH_META, strlen(WH_META)) == 0) {
			/* aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content */
			continue;
		}
		if ((r = apply_entry(&u, a, e, path, err)) < 0) {
			err_wrap(err, "%s: entry '%s'", u.what, raw);
			goto out;
		}
	}
	if ((r = finish_dirs(&u, err)) < 0)
		err_wrap(err, "%s", u.what);
out:
	unpack_done(&u);
	if (r < 0)
		err_printable(err);
	return r;
}
