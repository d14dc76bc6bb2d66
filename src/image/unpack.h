/* unpack: a layer tar (plain, gzip or zstd) applied to an empty directory with
 * libarchive, safely: no entry can write outside the directory (".." and absolute
 * paths are refused; every path is resolved with openat2(RESOLVE_IN_ROOT), so a
 * symlink in the layer cannot lead out); device nodes only when permitted. Docker/OCI
 * whiteouts become overlayfs ones: ".wh.NAME" -> a 0:0 character device NAME,
 * ".wh..wh..opq" -> the directory's trusted.overlay.opaque=y, whatever the order of
 * entries and whether or not the parent directory has an entry of its own. */
#ifndef COOP_IMAGE_UNPACK_H
#define COOP_IMAGE_UNPACK_H

#include <stdbool.h>

#include "base/err.h"
#include "image/manifest.h"

struct img_unpack_opts {
	bool allow_devices; /* mknod block/char devices from the layer (root, no userns) */
	bool set_owners;    /* chown entries to their uid/gid (root) */
	const char *what;   /* names the layer in errors */
};

/* Reads the archive from fd and applies it to dest (an existing empty directory). */
int img_unpack_fd(int fd, enum img_compression comp, const char *dest,
		  const struct img_unpack_opts *o, struct err *err);

#endif
