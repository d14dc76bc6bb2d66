/* container: the lifecycle operations of the OCI runtime — create, start, run, exec,
 * kill, delete, pause/resume, update, ps — on top of config, state, cgroup and linux.
 * Each is one call a CLI verb (or, later, the daemon) makes. */
#ifndef COOP_RUNTIME_CONTAINER_H
#define COOP_RUNTIME_CONTAINER_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/err.h"
#include "runtime/config.h"

struct rt_resources;

struct rt_create_opts {
	const char *root;           /* state root (--root) */
	const char *id;
	const char *bundle;         /* default "." */
	const char *pid_file;       /* optional */
	const char *console_socket; /* optional */
	bool no_pivot;
	int preserve_fds;
};

int rt_container_create(const struct rt_create_opts *o, pid_t *ret_pid, struct err *err);
int rt_container_start(const char *root, const char *id, struct err *err);
/* create + start. Detached: returns once started. Foreground: forwards signals, proxies
 * the terminal, waits, deletes the container and returns the exit code (128+N for
 * death by signal N) in *ret_exit. */
int rt_container_run(const struct rt_create_opts *o, bool detach, int *ret_exit, struct err *err);

struct rt_exec_opts {
	const char *root;
	const char *id;
	struct rt_process *proc; /* NULL: the container's own, with args/flags below */
	char **args;
	char **env;              /* appended */
	const char *cwd;
	const char *user;        /* "uid[:gid]" */
	char **caps;             /* added */
	bool tty;
	bool no_new_privs;
	bool detach;
	const char *pid_file;
	const char *console_socket;
	int preserve_fds;
};

int rt_container_exec(const struct rt_exec_opts *o, int *ret_exit, struct err *err);
int rt_container_kill(const char *root, const char *id, int sig, bool all, struct err *err);
int rt_container_delete(const char *root, const char *id, bool force, struct err *err);
int rt_container_pause(const char *root, const char *id, bool pause, struct err *err);
int rt_container_update(const char *root, const char *id, const struct rt_resources *res,
			struct err *err);
int rt_container_pids(const char *root, const char *id, pid_t **ret, size_t *ret_n,
		      struct err *err);

/* CVE-2019-5736: re-executes the runtime from a sealed memfd copy of itself, so that
 * no process in a container can ever reach the binary on disk writable through
 * /proc/PID/exe. A no-op when already running from such a copy. argv NULL: the
 * command line we were started with (/proc/self/cmdline), whatever callers shifted. */
int rt_ensure_sealed_binary(char **argv, struct err *err);
/* A sealed memfd copy of the running binary (O_CLOEXEC). A daemon makes one at start
 * and spawns its monitors from /proc/PID/fd/N: they then run sealed from the first
 * instruction and skip the copy and re-exec of their own. */
int rt_sealed_copy(struct err *err);

#endif
