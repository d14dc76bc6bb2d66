/* config: the OCI runtime config.json model (runtime-spec, Linux) — parsing with
 * errors that name the field, validation of what can be checked before anything is
 * created, and the inverse (the default `spec`). Unknown fields are ignored. */
#ifndef COOP_RUNTIME_CONFIG_H
#define COOP_RUNTIME_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "runtime/caps.h"

struct rt_seccomp;
struct rt_resources;

struct rt_rlimit {
	int resource; /* RLIMIT_* */
	uint64_t soft, hard;
};

struct rt_process {
	bool terminal;
	unsigned console_height, console_width;
	uid_t uid;
	gid_t gid;
	gid_t *additional_gids;
	size_t n_additional_gids;
	bool has_umask;
	mode_t umask;
	char **args; /* NULL-terminated, at least one */
	char **env;
	char *cwd;
	struct rt_caps caps;
	struct rt_rlimit *rlimits;
	size_t n_rlimits;
	bool no_new_privileges;
	bool has_oom_score_adj;
	int oom_score_adj;
};

struct rt_mount {
	char *destination;
	char *type;
	char *source;
	unsigned long flags;        /* MS_* set */
	unsigned long clear;        /* MS_* explicitly cleared (rw, suid...) */
	unsigned long propagation;  /* MS_PRIVATE|MS_SLAVE|MS_SHARED|MS_UNBINDABLE (|MS_REC) */
	bool bind;                  /* bind or rbind (MS_BIND in flags, MS_REC for rbind) */
	char *data;                 /* filesystem options, comma separated (size=, mode=) */
};

struct rt_namespace {
	int type;   /* CLONE_NEW* */
	char *path; /* join this one instead of creating; NULL = new */
};

struct rt_id_map {
	uint32_t container_id, host_id, size;
};

struct rt_device {
	char type; /* 'c', 'b', 'u', 'p' */
	char *path;
	int64_t major, minor;
	bool has_mode;
	mode_t mode;
	bool has_uid, has_gid;
	uid_t uid;
	gid_t gid;
};

struct rt_hook {
	char *path;
	char **args;
	char **env;
	int timeout; /* seconds, 0 = none */
};

enum rt_hook_kind { RT_HOOK_PRESTART, RT_HOOK_CREATE_RUNTIME, RT_HOOK_CREATE_CONTAINER,
		    RT_HOOK_START_CONTAINER, RT_HOOK_POSTSTART, RT_HOOK_POSTSTOP, RT_HOOK_NKINDS };

struct rt_hooks {
	struct rt_hook *hook[RT_HOOK_NKINDS];
	size_t n[RT_HOOK_NKINDS];
};

struct rt_sysctl {
	char *key, *value;
};

struct rt_config {
	char *oci_version;
	struct rt_process *process; /* NULL when absent (checked where used) */
	char *root_path;            /* absolute, resolved against the bundle */
	bool root_readonly;
	char *hostname;
	char *domainname;
	struct rt_mount *mounts;
	size_t n_mounts;
	struct rt_hooks hooks;
	/* linux */
	struct rt_namespace *namespaces;
	size_t n_namespaces;
	struct rt_id_map *uid_maps, *gid_maps;
	size_t n_uid_maps, n_gid_maps;
	struct rt_device *devices;
	size_t n_devices;
	char *cgroups_path;
	struct rt_resources *resources;
	struct rt_seccomp *seccomp;
	char **masked_paths;
	char **readonly_paths;
	unsigned long rootfs_propagation; /* 0 = default (rprivate) */
	struct rt_sysctl *sysctl;
	size_t n_sysctl;
	char *mount_label;
	json_t *annotations; /* object, may be NULL */
	bool init;           /* annotation coop.init "true": a minimal init is PID 1 (linux.c) */
};

#define RT_INIT_ANNOTATION "coop.init"

/* Parses a config.json document; bundle resolves a relative root.path. Errors read
 * "config.json: process.args: expected an array of strings". */
int rt_config_parse(json_t *doc, const char *bundle, struct rt_config **ret, struct err *err);
int rt_config_load(const char *bundle, struct rt_config **ret, struct err *err);
void rt_config_free(struct rt_config *cfg);

/* Parses a process object (config's `process`, or `exec --process FILE`). */
int rt_process_parse(json_t *obj, const char *path, struct rt_process **ret, struct err *err);
void rt_process_free(struct rt_process *p);

/* Mount option string ("ro,nosuid,size=64m") into flags/clear/propagation/data; errors
 * name the option. Exposed for `exec` flags and tests. */
int rt_mount_options(char *const *opts, const char *path, struct rt_mount *m, struct err *err);

/* Namespace name ("network", "pid", ...) -> CLONE_NEW*; 0 when unknown. */
int rt_namespace_type(const char *name);
const char *rt_namespace_name(int type);
/* The /proc/PID/ns/<file> name of a CLONE_NEW* type. */
const char *rt_namespace_proc(int type);
const struct rt_namespace *rt_config_namespace(const struct rt_config *cfg, int type);

/* Signal name ("TERM", "SIGKILL", "9") -> number; -1 when unknown. */
int rt_signal_parse(const char *s);

/* Default config.json for `spec` (busybox sh in rootfs/, Docker's default capability
 * set and seccomp profile, the standard mounts and masked paths). */
json_t *rt_config_default(bool rootless);

#endif
