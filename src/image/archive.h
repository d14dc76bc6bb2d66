/* archive: images in and out of files — `docker save` archives, OCI image layouts
 * (a directory or a tar of one), and plain rootfs tarballs imported as one-layer images. */
#ifndef COOP_IMAGE_ARCHIVE_H
#define COOP_IMAGE_ARCHIVE_H

#include "base/err.h"
#include "image/store.h"

enum img_archive_format { IMG_ARCHIVE_DOCKER, IMG_ARCHIVE_OCI };

/* Imports a docker-save tar or an OCI layout (dir or tar), detected from its content.
 * name (optional) tags the (single) image; otherwise the names inside are used.
 * ret_names (optional) lists what was imported. */
int img_import(struct img_store *st, const char *path, const char *name, char ***ret_names,
	       struct err *err);
/* A rootfs tarball (any compression libarchive reads) as a one-layer image named name. */
int img_import_rootfs(struct img_store *st, const char *path, const char *name, struct err *err);
/* Writes the named images to path (a tar) in the given format. */
int img_save(struct img_store *st, char *const *names, enum img_archive_format fmt,
	     const char *path, struct err *err);

#endif
