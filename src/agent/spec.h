/* spec: the pure rules of the agent — validation of a workload spec (the bun_to_json
 * shape, re-checked because the API is a trust boundary), restart policies and their
 * backoff, and the OCI config.json a replica runs with. No I/O here. */
#ifndef COOP_AGENT_SPEC_H
#define COOP_AGENT_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "image/manifest.h"

#define AG_NAME_MAX 63
#define AG_MAX_REPLICAS 256     /* per workload on one node */
#define AG_BACKOFF_FIRST_MS 100
#define AG_BACKOFF_MAX_MS 30000
#define AG_BACKOFF_RESET_MS 10000 /* a container that ran this long starts over */

/* Docker's container-name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most AG_NAME_MAX. */
bool ag_name_valid(const char *s);
/* Checks spec in place and fills defaults (replicas {1,1}, restart "no", empty arrays);
 * errors name the field ("ports[1].container_port: out of range 1-65535"). */
int ag_spec_validate(json_t *spec, struct err *err);

enum ag_restart { AG_RESTART_NO, AG_RESTART_ON_FAILURE, AG_RESTART_ALWAYS,
		  AG_RESTART_UNLESS_STOPPED };
/* "no", "on-failure", "on-failure:N", "always", "unless-stopped"; -EINVAL otherwise.
 * ret_max: N for on-failure:N (0 = unlimited). */
int ag_restart_parse(const char *s, enum ag_restart *ret, int *ret_max);
/* The spec's policy (restart + restart_max). */
void ag_spec_restart(json_t *spec, enum ag_restart *ret, int *ret_max);
/* Whether a container that exited with exit_code, restarted `restarts` times already,
 * comes back. user_stopped: `stop` was asked for (no policy brings it back). */
bool ag_restart_wanted(enum ag_restart policy, int max, int exit_code, unsigned restarts,
		       bool user_stopped);
/* Delay before restart number attempt (0-based): 100 ms doubling, capped at 30 s. */
uint64_t ag_backoff_ms(unsigned attempt);

/* The identity a replica's config carries. */
struct ag_oci_ident {
	const char *id, *name, *workload;
	int replica;
	const char *volumes_dir; /* named volumes live here: <volumes_dir>/<name> */
};

/* The OCI config.json document for spec: rt_config_default(false), the image config
 * applied with the spec's overrides (command, entrypoint, env, user, workdir), the
 * resources, volumes as bind mounts, hostname, cgroupsPath /coop/<id>, annotations.
 * rootfs: the mounted image (for users in its /etc/passwd); ic may be NULL. */
int ag_oci_config(json_t *spec, const struct ag_oci_ident *who, const struct img_config *ic,
		  const char *rootfs, json_t **ret, struct err *err);

#endif
