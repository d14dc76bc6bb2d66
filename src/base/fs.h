/* fs: file helpers — whole-file reads and writes, atomic replacement, mkdir -p. */
#ifndef COOP_BASE_FS_H
#define COOP_BASE_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

/* Writes s to an existing file (sysfs, cgroupfs, /proc); dirfd may be AT_FDCWD. */
int fs_write_at(int dirfd, const char *path, const char *s, struct err *err);
int fs_write(const char *path, const char *s, struct err *err);
/* Reads a whole file, NUL-terminated; *ret_len optional. */
int fs_read_at(int dirfd, const char *path, char **ret, size_t *ret_len, struct err *err);
int fs_read(const char *path, char **ret, struct err *err);
/* temp + fsync + rename: readers see the old or the new file, never a torn one, and it
 * survives a power loss. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    struct err *err);
/* temp + rename without the fsync: for files that describe what a power loss destroys
 * anyway (a running container's pid, its start and exit, its runtime state), so only a
 * crash of the process, which the page cache survives, must not tear them. Readers of
 * such files take an empty or missing one after a power loss as "not running". */
int fs_replace(const char *path, const void *data, size_t len, mode_t mode,
	       struct err *err);
int fs_mkdir_p(const char *path, mode_t mode, struct err *err);
/* Removes a tree (no following of symlinks, stays on one filesystem). */
int fs_rm_rf(const char *path, struct err *err);

#endif
