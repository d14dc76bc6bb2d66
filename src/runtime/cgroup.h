/* cgroup: the container's control group on cgroup v1, v2 and hybrid hosts (v1
 * controllers plus a v2 "unified" tree, as on these machines): creation, limits from
 * linux.resources, freezing, listing and killing its processes, and removal.
 * Owns the parsing of `linux.resources` (also used by `update`). */
#ifndef COOP_RUNTIME_CGROUP_H
#define COOP_RUNTIME_CGROUP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

enum rt_cgroup_mode { RT_CGROUP_V1, RT_CGROUP_V2, RT_CGROUP_HYBRID };

struct rt_resources; /* opaque: the parsed linux.resources */

/* Parses a linux.resources object; errors name the field under `path`
 * ("linux.resources.memory.limit: expected an integer"). */
int rt_resources_parse(json_t *obj, const char *path, struct rt_resources **ret, struct err *err);
void rt_resources_free(struct rt_resources *res);
/* Copies every field set in src over dst (`update` merges flags into the stored config). */
void rt_resources_merge(struct rt_resources *dst, const struct rt_resources *src);

/* Root of the cgroup hierarchy, default /sys/fs/cgroup; tests point it at a cgroup2
 * mount of their own. Call before any other function. */
void rt_cgroup_set_root(const char *root);
int rt_cgroup_detect(enum rt_cgroup_mode *ret, struct err *err);

struct rt_cgroup; /* a container's cgroup, in every hierarchy it spans */

/* The canonical cgroup path for a linux.cgroupsPath: NULL/"" → "/coop/<id>",
 * "x/y" → "/x/y", systemd "slice:prefix:name" → "/slice/prefix-name.scope" (slices
 * expanded: "a-b.slice" → "/a.slice/a-b.slice"); ".." is refused. */
int rt_cgroup_resolve_path(const char *cgroups_path, const char *id, char **ret,
			   struct err *err);

/* Creates the cgroup at cgroups_path (OCI linux.cgroupsPath: absolute, relative to the
 * root, or NULL for "/coop/<id>"), applies res (may be NULL) plus allow rules for the
 * default devices, and moves pid into it. On v1 a new cpuset cgroup gets cpus/mems from
 * its parent. On failure nothing it created is left. */
int rt_cgroup_create(const char *cgroups_path, const char *id, const struct rt_resources *res,
		     pid_t pid, struct rt_cgroup **ret, struct err *err);
/* Starts the kernel's wait that a process's first move into a cgroup pays (an RCU
 * grace period, 7-11 ms here), on a thread of its own, so that a create or exec that
 * follows within a few ms does not wait for it. Best effort; never fails. */
void rt_cgroup_prime(void);
/* Waits for that thread to end: before a raw clone() of this process (fork is safe). */
void rt_cgroup_prime_wait(void);
/* Re-opens the cgroup of an existing container from its recorded path (rt_cgroup_path). */
int rt_cgroup_open(const char *path, struct rt_cgroup **ret, struct err *err);
/* The path to record in the container's state, relative to the hierarchy roots. */
const char *rt_cgroup_path(const struct rt_cgroup *cg);
/* Moves pid into the cgroup (exec joins the container's cgroup). */
int rt_cgroup_enter(const struct rt_cgroup *cg, pid_t pid, struct err *err);
int rt_cgroup_update(struct rt_cgroup *cg, const struct rt_resources *res, struct err *err);
int rt_cgroup_freeze(struct rt_cgroup *cg, bool frozen, struct err *err);
/* 1 frozen, 0 not, < 0 error. */
int rt_cgroup_is_frozen(const struct rt_cgroup *cg, struct err *err);
/* Every pid in the cgroup (and its children); caller frees *ret. */
int rt_cgroup_pids(const struct rt_cgroup *cg, pid_t **ret, size_t *ret_n, struct err *err);
int rt_cgroup_kill_all(const struct rt_cgroup *cg, int sig, struct err *err);
/* Number of OOM kills seen in this cgroup (memory.events oom_kill on v2,
 * memory.oom_control oom_kill on v1); 0 when unknown. */
int rt_cgroup_oom_kills(const struct rt_cgroup *cg, uint64_t *ret, struct err *err);
/* Read-only, for metrics: the directory holding a controller's files ("cpuacct",
 * "memory", "pids", "blkio") — its v1 hierarchy, else the v2 tree (*ret_v2 set);
 * NULL when the cgroup spans neither. */
const char *rt_cgroup_stat_dir(const struct rt_cgroup *cg, const char *controller, bool *ret_v2);
/* Mounts the container's view of the cgroup hierarchy at dest (an absolute path on
 * the host side, inside the container rootfs, before pivot_root): cgroup2 on v2;
 * a tmpfs with one mount per v1 controller on v1/hybrid. Called in the container's
 * mount namespace; with cgroupns the kernel shows the container's cgroup as root,
 * otherwise the container's own directories are bind-mounted. */
int rt_cgroup_mount(const struct rt_cgroup *cg, const char *dest, unsigned long flags,
		    bool in_cgroupns, struct err *err);
/* Kills what is left, removes every directory it created (retrying on EBUSY). */
int rt_cgroup_destroy(struct rt_cgroup *cg, struct err *err);
void rt_cgroup_free(struct rt_cgroup *cg);
/* The host's mode, as the cgroup was created or opened (decides e.g. whether a
 * cgroup namespace shows a v2 tree). */
enum rt_cgroup_mode rt_cgroup_get_mode(const struct rt_cgroup *cg);

#endif
