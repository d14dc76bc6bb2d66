/* fs: file helpers. */
#include "base/fs.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

int fs_write_at(int dirfd, const char *path, const char *s, struct err *err)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(s);
	ssize_t n;

	if (fd < 0)
		return err_sys(err, errno, "open '%s'", path);
	n = write(fd, s, len);
	if (n < 0)
		return err_sys(err, errno, "write '%s' to '%s'", s, path);
	if ((size_t)n != len)
		return err_msg(err, EIO, "short write to '%s'", path);
	return 0;
}

int fs_write(const char *path, const char *s, struct err *err)
{
	return fs_write_at(AT_FDCWD, path, s, err);
}

int fs_read_at(int dirfd, const char *path, char **ret, size_t *ret_len, struct err *err)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, len = 0;
	_cleanup_free_ char *buf = NULL;
	ssize_t n;

	if (fd < 0)
		return err_sys(err, errno, "open '%s'", path);
	buf = xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap)
			buf = xrealloc(buf, cap *= 2);
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(err, errno, "read '%s'", path);
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	*ret = take_ptr(buf);
	return 0;
}

int fs_read(const char *path, char **ret, struct err *err)
{
	return fs_read_at(AT_FDCWD, path, ret, NULL, err);
}

static int replace(const char *path, const void *data, size_t len, mode_t mode, bool sync,
		   struct err *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, getpid());
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	const char *p = data;

	if (fd < 0)
		return err_sys(err, errno, "create '%s'", tmp);
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err_sys(err, errno, "write '%s'", tmp);
			unlink(tmp);
			return -err->code;
		}
		p += n;
		len -= n;
	}
	if ((sync && fsync(fd) < 0) || rename(tmp, path) < 0) {
		err_sys(err, errno, "replace '%s'", path);
		unlink(tmp);
		return -err->code;
	}
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    struct err *err)
{
	return replace(path, data, len, mode, true, err);
}

int fs_replace(const char *path, const void *data, size_t len, mode_t mode, struct err *err)
{
	return replace(path, data, len, mode, false, err);
}

int fs_mkdir_p(const char *path, mode_t mode, struct err *err)
{
	_cleanup_free_ char *p = xstrdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return err_sys(err, errno, "mkdir '%s'", p);
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return err_sys(err, errno, "mkdir '%s'", p);
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(p) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(p) < 0 && errno != ENOENT ? -1 : 0;
}

int fs_rm_rf(const char *path, struct err *err)
{
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
		return err_sys(err, errno, "remove '%s'", path);
	return 0;
}
