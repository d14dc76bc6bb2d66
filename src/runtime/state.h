/* state: a container's on-disk record under the runtime root (--root, default
 * /run/coop-runtime): <root>/<id>/state.json, written atomically, and exec.fifo, whose
 * presence means "created, not started". Status is derived, never stored: a dead or
 * recycled pid means stopped. */
#ifndef COOP_RUNTIME_STATE_H
#define COOP_RUNTIME_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define RT_DEFAULT_ROOT "/run/coop-runtime"

enum rt_status { RT_CREATING, RT_CREATED, RT_RUNNING, RT_PAUSED, RT_STOPPED };

struct rt_state {
	char *id;
	char *dir;      /* <root>/<id> */
	pid_t pid;
	uint64_t start_time; /* /proc/PID/stat starttime, guards against pid reuse */
	char *bundle;
	char *rootfs;
	char *created;  /* RFC 3339 */
	char *cgroup;   /* rt_cgroup_path() */
	json_t *config; /* the config.json document it was created from */
	int own_pidns;  /* the container has its own pid namespace */
	enum rt_status status;
};

const char *rt_status_name(enum rt_status s);
/* Container ids: [A-Za-z0-9][A-Za-z0-9_.+-]*, at most 1024 bytes. */
int rt_id_validate(const char *id, struct err *err);
char *rt_state_dir(const char *root, const char *id);
/* Loads <root>/<id> and computes the status; -ENOENT "container 'x' does not exist". */
int rt_state_load(const char *root, const char *id, struct rt_state **ret, struct err *err);
int rt_state_save(const struct rt_state *st, struct err *err);
void rt_state_free(struct rt_state *st);
/* Re-derives st->status from the process and the cgroup. */
void rt_state_refresh(struct rt_state *st);
/* The OCI state JSON (ociVersion, id, status, pid, bundle, annotations) plus rootfs,
 * created and owner, as runc prints it. */
json_t *rt_state_json(const struct rt_state *st);
/* Every id under root, sorted. */
int rt_state_list(const char *root, char ***ret, struct err *err);
/* starttime of pid (field 22 of /proc/PID/stat); 0 if gone. */
uint64_t rt_proc_start_time(pid_t pid);

#endif
