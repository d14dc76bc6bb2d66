/* caps: process capabilities — names, the five OCI sets, and applying them with libcap. */
#ifndef COOP_RUNTIME_CAPS_H
#define COOP_RUNTIME_CAPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

enum rt_cap_set { RT_CAP_BOUNDING, RT_CAP_EFFECTIVE, RT_CAP_INHERITABLE, RT_CAP_PERMITTED,
		  RT_CAP_AMBIENT, RT_CAP_NSETS };

struct rt_caps {
	uint64_t set[RT_CAP_NSETS]; /* bit n = capability n */
	bool present;               /* process.capabilities was given */
};

/* "CAP_SYS_ADMIN" or "SYS_ADMIN" (any case) -> number; -1 when unknown. */
int rt_cap_from_name(const char *name);
const char *rt_cap_name(int cap); /* "CAP_SYS_ADMIN"; NULL when unknown */
int rt_cap_last(void);            /* highest capability this kernel knows */

/* Parses process.capabilities; unknown names are an error naming the field. */
int rt_caps_parse(json_t *obj, const char *path, struct rt_caps *ret, struct err *err);
json_t *rt_caps_to_json(const struct rt_caps *caps);
/* Docker's default set (CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID,
 * SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE). */
uint64_t rt_caps_default_mask(void);
/* Applies caps to the calling process, after setresuid() with PR_SET_KEEPCAPS:
 * drops the bounding set, then sets permitted/effective/inheritable, then ambient.
 * With !caps->present the process keeps nothing beyond what its uid gives. */
int rt_caps_apply(const struct rt_caps *caps, struct err *err);

#endif
