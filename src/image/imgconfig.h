/* imgconfig: an image's config applied to an OCI runtime config — Entrypoint and Cmd
 * with overrides, Env, WorkingDir, User resolved through the image's /etc/passwd and
 * /etc/group, StopSignal, Labels (as annotations), ExposedPorts and Volumes (recorded
 * as annotations for the layers above). */
#ifndef COOP_IMAGE_IMGCONFIG_H
#define COOP_IMAGE_IMGCONFIG_H

#include <jansson.h>

#include "base/err.h"
#include "image/manifest.h"

struct img_overrides {
	char **entrypoint; /* NULL = the image's; an empty vector clears it */
	char **cmd;        /* NULL = the image's (dropped when entrypoint is overridden) */
	char **env;        /* K=V added or replacing */
	const char *user;  /* "name", "uid", "uid:gid", "name:group" */
	const char *workdir;
};

/* Edits oci (a config.json document, e.g. from rt_config_default) in place. rootfs is
 * the image's root directory (for /etc/passwd and /etc/group), read without following
 * links out of it. Errors: no command at all, an unknown user or group. */
int img_apply_config(const struct img_config *ic, const char *rootfs,
		     const struct img_overrides *ov, json_t *oci, struct err *err);
/* Resolves a Docker "user" string against rootfs's passwd/group files. */
int img_resolve_user(const char *rootfs, const char *user, unsigned *ret_uid, unsigned *ret_gid,
		     unsigned **ret_groups, size_t *ret_n_groups, struct err *err);

#endif
