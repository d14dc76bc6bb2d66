/* rootfs: a container's root filesystem — an overlay of an image's unpacked layers
 * (read-only, shared) with a per-container upper and work directory. */
#ifndef COOP_IMAGE_ROOTFS_H
#define COOP_IMAGE_ROOTFS_H

#include "base/err.h"
#include "image/store.h"

/* Mounts the image `name` (a reference in the store, or a manifest digest) at target,
 * with upper/work under container_dir (created). Layer paths are the short l/ links,
 * relative to the store root, so hundreds of layers fit in overlay's option page.
 * ephemeral: the writable layer goes with the container (`run --rm`), so the mount is
 * volatile — overlay never syncs the upper filesystem, not even at unmount — and a
 * crash may leave the layer incomplete. */
int img_rootfs_mount(struct img_store *st, const char *name, const char *container_dir,
		     const char *target, bool ephemeral, struct err *err);
int img_rootfs_umount(const char *target, struct err *err);

#endif
