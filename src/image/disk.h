/* disk: a size limit on a container's writable layer (`coop run --disk`, `.bun`
 * resources.disk). The overlay's upper and work directories live together in one
 * directory, <container dir>/rw, limited one of two ways:
 *   prjquota  the containers directory is on XFS or ext4 with project quotas enforced:
 *             rw gets its own project id (inherited by everything created below it)
 *             and a block hard limit on that id — what Docker and podman do;
 *   loop      anywhere else: rw is an ext4 filesystem of exactly that size, made in a
 *             sparse file <container dir>/rw.img and mounted through a loop device
 *             that frees itself when unmounted (LO_FLAGS_AUTOCLEAR).
 * Either way a write past the limit fails inside the container (EDQUOT / ENOSPC). */
#ifndef COOP_IMAGE_DISK_H
#define COOP_IMAGE_DISK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define IMG_DISK_MIN (16LL << 20) /* an ext4 of 16 MiB still leaves ~14 MiB to write */
#define IMG_DISK_MAX (8LL << 40)
#define IMG_DISK_PROJID_BASE 2000000u /* coop's project ids: base.. base+COUNT-1 */
#define IMG_DISK_PROJID_COUNT 1000000u

enum img_disk_kind { IMG_DISK_NONE, IMG_DISK_PRJQUOTA, IMG_DISK_LOOP };
enum img_disk_fs { IMG_DISK_FS_OTHER, IMG_DISK_FS_EXT4, IMG_DISK_FS_XFS };

/* A container's limit as its record keeps it ("disk" in config.json). */
struct img_disk {
	enum img_disk_kind kind;
	enum img_disk_fs fs; /* prjquota: which quotactl dialect */
	int64_t bytes;
	uint32_t projid;     /* prjquota */
};

/* ---- pure ---- */

/* bytes within IMG_DISK_MIN..IMG_DISK_MAX, else -EINVAL with the message ("4M is below
 * the 16 MiB minimum"); shown: the size as the user wrote it. The caller names the
 * field (parsing "512M" is bun_size_bytes'). */
int img_disk_size_check(int64_t bytes, const char *shown, struct err *err);
/* The hard limit in the unit of the fs's quotactl: 1 KiB blocks (Q_SETQUOTA, ext4) or
 * 512-byte basic blocks (Q_XSETQLIM, XFS); rounded up. */
uint64_t img_disk_quota_units(int64_t bytes, enum img_disk_fs fs);
/* The lowest id >= from in coop's range that is not in used[]; 0 when none is left. */
uint32_t img_disk_projid_next(const uint32_t *used, size_t n_used, uint32_t from);
/* The mount source of the filesystem with device major:minor in a mountinfo text
 * (caller frees); NULL if not listed. */
char *img_disk_mountinfo_source(const char *mountinfo, unsigned major, unsigned minor);
/* The record's "disk" object and back; from_json: -EINVAL on a malformed one. */
json_t *img_disk_to_json(const struct img_disk *d);
int img_disk_from_json(json_t *j, struct img_disk *ret, struct err *err);
const char *img_disk_kind_name(enum img_disk_kind k);

/* ---- on the host ---- */

/* Which way a limit can be set for writable layers under dir (the containers
 * directory): prjquota if its filesystem enforces project quotas, else loop if loop
 * devices and mkfs.ext4 are there; otherwise -ENOTSUP with one line naming what is
 * missing. Fills ret->kind and ret->fs. */
int img_disk_probe(const char *dir, struct img_disk *ret, struct err *err);
/* prjquota: picks a free project id (not in used[], no usage or limit on the fs: an id
 * someone else holds is skipped) and sets the limit on it, so it is held from now on.
 * Nothing to do for loop. */
int img_disk_claim(const char *dir, struct img_disk *d, const uint32_t *used, size_t n_used,
		   struct err *err);
/* Makes <cdir>/rw ready to hold upper and work; idempotent (a restart of the container
 * finds it ready or remounts it). prjquota: the directory with its project id and
 * inheritance, limit (re)set. loop: <cdir>/rw.img made (once, atomically) and mounted
 * on rw. A failure leaves no loop device or mount behind. */
int img_disk_setup(const char *cdir, const struct img_disk *d, struct err *err);
/* Unmounts <cdir>/rw if mounted (loop; its device goes with it). Idempotent. */
int img_disk_release(const char *cdir, const struct img_disk *d, struct err *err);
/* prjquota: clears the limit on d->projid (the id is free again once the record goes).
 * dir: the containers directory. */
int img_disk_unclaim(const char *dir, const struct img_disk *d, struct err *err);
/* Bytes used in the writable layer (quota usage or the filesystem's used blocks). */
int img_disk_usage(const char *cdir, const struct img_disk *d, int64_t *ret, struct err *err);

#endif
