/* image: the agent's use of the image store — resolving what a spec names to a
 * reference in the store, loading that image's config, pulling when it is missing. */
#ifndef COOP_AGENT_IMAGE_H
#define COOP_AGENT_IMAGE_H

#include "base/err.h"
#include "image/manifest.h"
#include "image/store.h"

/* The store's name for s: its normalized form ("busybox" -> docker.io/library/busybox:latest)
 * or s as stored (imported images may be named anything). -ENOENT when absent. */
int ag_image_resolve(struct img_store *st, const char *s, char **ret, struct err *err);
int ag_image_config(struct img_store *st, const char *name, struct img_config **ret,
		    struct err *err);
/* Resolves, pulling from the registry when the image is not in the store. *ret_pulled
 * tells whether it was pulled. Blocking: called from a work thread. */
int ag_image_ensure(const char *store_root, const char *s, char **ret, bool *ret_pulled,
		    struct err *err);

#endif
