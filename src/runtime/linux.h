/* linux: what happens inside the container's first process between clone and
 * execve — joining namespaces, building the rootfs (mounts, devices, pivot_root, masked
 * and read-only paths), sysctls, hostname, the terminal, and finally the process's
 * identity: rlimits, user and groups, capabilities, no_new_privs, seccomp, exec. */
#ifndef COOP_RUNTIME_LINUX_H
#define COOP_RUNTIME_LINUX_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/err.h"
#include "runtime/config.h"

struct rt_cgroup;

/* Messages on the parent/child socket (SOCK_SEQPACKET, one struct per message). */
enum rt_sync_type {
	RT_SYNC_GO = 1,      /* parent -> child: ids mapped, cgroup joined, continue */
	RT_SYNC_MAP,         /* child -> parent: write my uid/gid maps (value = pid) */
	RT_SYNC_PID,         /* stage 1 -> parent: the init's pid (value) */
	RT_SYNC_HOOKS,       /* child -> parent: run prestart + createRuntime hooks now */
	RT_SYNC_CREATED,     /* child -> parent: ready, waiting for start */
	RT_SYNC_ERROR,       /* child -> parent: text says what failed */
};

#define RT_SYNC_TEXT_MAX 65536

struct rt_sync_msg {
	int type;
	int value;
	char text[RT_SYNC_TEXT_MAX]; /* errors; the state JSON with GO */
};

int rt_sync_send(int fd, int type, int value, const char *text);
/* Receives one message; an error message turns into err (with its text). */
int rt_sync_recv(int fd, struct rt_sync_msg *msg, struct err *err);
/* Receives and checks the type; anything else (or EOF) is an error. */
int rt_sync_expect(int fd, int type, struct rt_sync_msg *msg, struct err *err);

struct rt_init {
	const struct rt_config *cfg;
	const struct rt_process *proc;  /* what to exec */
	const struct rt_cgroup *cgroup; /* for cgroup mounts; may be NULL */
	int sync_fd;
	int fifo_fd;    /* exec.fifo opened O_RDWR: read blocks until `start` */
	int console_fd; /* --console-socket, or -1 */
	int preserve_fds;
	bool no_pivot;
	bool userns;    /* in a new user namespace (device nodes are bind-mounted) */
	bool cgroupns;  /* in a new cgroup namespace */
	bool two_stage; /* path namespaces were joined by stage 1 */
	char *state_json; /* received with GO: what hooks read on stdin */
};

/* The container's init: never returns on success (execve); on failure sends the
 * error to the parent and returns. */
void rt_init_main(struct rt_init *in);

/* For exec: become proc inside an already-running container whose namespaces the
 * caller has joined. Never returns on success. */
void rt_exec_main(const struct rt_process *proc, const struct rt_config *cfg, int sync_fd,
		  int console_fd, int preserve_fds);

#endif
