/* record: the small files a monitor and the daemon share in containers/<id>/ —
 * monitor.pid ("PID STARTTIME"), started.json ({pid, started_at}) and exit.json
 * ({exit_code, signal, oom_killed, finished_at[, error]}), each written atomically —
 * and RFC 3339 time stamps. */
#ifndef COOP_AGENT_RECORD_H
#define COOP_AGENT_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "base/err.h"

#define AG_TIME_MAX 48

/* The bundle's annotation naming the signal `stop` sends first: the image's
 * StopSignal (image/imgconfig.c records it there), or the spec's stop_signal. */
#define AG_STOP_SIGNAL_ANN "org.opencontainers.image.stopSignal"

/* "2026-11-02T10:11:12.123456789Z" (nano) or "2026-11-02T10:11:12Z". */
void ag_time_fmt(const struct timespec *ts, bool nano, char buf[AG_TIME_MAX]);
void ag_time_now(bool nano, char buf[AG_TIME_MAX]);
/* Monotonic milliseconds (for backoff and uptime). */
uint64_t ag_mono_ms(void);

int ag_pidfile_write(const char *dir, pid_t pid, uint64_t start_time, struct err *err);
/* -ENOENT when absent; -EINVAL when malformed. */
int ag_pidfile_read(const char *dir, pid_t *ret_pid, uint64_t *ret_start, struct err *err);
/* Whether the process recorded in dir/monitor.pid still runs (pid and start time). */
bool ag_pidfile_alive(const char *dir, pid_t *ret_pid);

struct ag_exit {
	int exit_code;  /* 128+N for death by signal N; -1 when the container never ran */
	int signal;     /* 0 unless killed by a signal */
	bool oom_killed;
	char finished_at[AG_TIME_MAX];
	char *error;    /* why it could not start (NULL when it ran) */
};

json_t *ag_exit_json(const struct ag_exit *e);
int ag_exit_parse(json_t *j, struct ag_exit *ret, struct err *err);
int ag_exit_write(const char *dir, const struct ag_exit *e, struct err *err);
/* -ENOENT when the container has not exited. */
int ag_exit_read(const char *dir, struct ag_exit *ret, struct err *err);
void ag_exit_clear(struct ag_exit *e);

/* Unix sockets in a container's directory (attach.sock, console.sock) whatever the
 * length of its path (sun_path holds 108 bytes): bound or connected through
 * /proc/self/fd/N/NAME of the directory. listen: 0600, non-blocking; connect:
 * blocking. Both close-on-exec; return the socket or a negative errno. */
int ag_sock_listen(const char *dir, const char *name, struct err *err);
int ag_sock_connect(const char *dir, const char *name, struct err *err);

/* Writes obj to dir/name atomically and durably (fs_write_atomic): what must outlive a
 * power loss, as a workload or a container's record. */
int ag_json_write(const char *dir, const char *name, json_t *obj, struct err *err);
/* Atomically, not durably (fs_replace): what a power loss destroys anyway, as a running
 * container's pid, start, exit, network attachment or bundle — off the fsyncs of the
 * start path. */
int ag_json_replace(const char *dir, const char *name, json_t *obj, struct err *err);

#endif
