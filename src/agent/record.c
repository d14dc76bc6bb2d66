/* record: files shared by the monitor and the daemon, written atomically. */
#include "agent/record.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/js.h"
#include "base/util.h"
#include "runtime/state.h"

void ag_time_fmt(const struct timespec *ts, bool nano, char buf[AG_TIME_MAX])
{
	struct tm tm;
	size_t n;

	gmtime_r(&ts->tv_sec, &tm);
	n = strftime(buf, AG_TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	if (nano)
		snprintf(buf + n, AG_TIME_MAX - n, ".%09ldZ", ts->tv_nsec);
	else
		snprintf(buf + n, AG_TIME_MAX - n, "Z");
}

void ag_time_now(bool nano, char buf[AG_TIME_MAX])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ag_time_fmt(&ts, nano, buf);
}

uint64_t ag_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int ag_pidfile_write(const char *dir, pid_t pid, uint64_t start_time, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/monitor.pid", dir);
	_cleanup_free_ char *s = xasprintf("%d %" PRIu64 "\n", (int)pid, start_time);

	return fs_replace(path, s, strlen(s), 0644, err);
}

int ag_pidfile_read(const char *dir, pid_t *ret_pid, uint64_t *ret_start, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/monitor.pid", dir), *s = NULL;
	int pid, r;
	uint64_t st;

	if ((r = fs_read(path, &s, err)) < 0)
		return r;
	if (sscanf(s, "%d %" SCNu64, &pid, &st) != 2 || pid <= 0)
		return err_msg(err, EINVAL, "'%s': malformed", path);
	*ret_pid = pid;
	*ret_start = st;
	return 0;
}

bool ag_pidfile_alive(const char *dir, pid_t *ret_pid)
{
	struct err err = { 0 };
	pid_t pid;
	uint64_t st;

	if (ag_pidfile_read(dir, &pid, &st, &err) < 0)
		return false;
	if (ret_pid)
		*ret_pid = pid;
	return st != 0 && rt_proc_start_time(pid) == st;
}

json_t *ag_exit_json(const struct ag_exit *e)
{
	json_t *j = json_pack("{s:i,s:i,s:b,s:s}", "exit_code", e->exit_code, "signal", e->signal,
			      "oom_killed", e->oom_killed, "finished_at", e->finished_at);
	if (e->error)
		json_object_set_new(j, "error", json_string(e->error));
	return j;
}

int ag_exit_parse(json_t *j, struct ag_exit *ret, struct err *err)
{
	struct ag_exit e = { 0 };
	int64_t code = 0, sig = 0;
	_cleanup_free_ char *fin = NULL;
	int r;

	if (!json_is_object(j))
		return err_msg(err, EINVAL, "exit.json: expected an object");
	if ((r = js_i64(j, "exit.json", "exit_code", &code, err)) < 0 ||
	    (r = js_i64(j, "exit.json", "signal", &sig, err)) < 0 ||
	    (r = js_bool(j, "exit.json", "oom_killed", &e.oom_killed, err)) < 0 ||
	    (r = js_str(j, "exit.json", "finished_at", false, &fin, err)) < 0 ||
	    (r = js_str(j, "exit.json", "error", false, &e.error, err)) < 0)
		return r;
	if (!json_object_get(j, "exit_code")) {
		free(e.error);
		return err_msg(err, EINVAL, "exit.json: exit_code: missing");
	}
	if (code < -1 || code > 255 || sig < 0 || sig > 64) {
		free(e.error);
		return err_msg(err, EINVAL, "exit.json: exit_code or signal out of range");
	}
	e.exit_code = (int)code;
	e.signal = (int)sig;
	snprintf(e.finished_at, sizeof(e.finished_at), "%s", fin ? fin : "");
	*ret = e;
	return 0;
}

static int json_file(const char *dir, const char *name, json_t *obj, bool durable,
		     struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *s = json_dumps(obj, JSON_COMPACT);

	if (!s)
		return err_msg(err, EINVAL, "'%s': cannot encode", path);
	size_t n = strlen(s);
	s = xrealloc(s, n + 2);
	s[n] = '\n';
	s[n + 1] = '\0';
	return durable ? fs_write_atomic(path, s, n + 1, 0644, err)
		       : fs_replace(path, s, n + 1, 0644, err);
}

int ag_json_write(const char *dir, const char *name, json_t *obj, struct err *err)
{
	return json_file(dir, name, obj, true, err);
}

int ag_json_replace(const char *dir, const char *name, json_t *obj, struct err *err)
{
	return json_file(dir, name, obj, false, err);
}

int ag_exit_write(const char *dir, const struct ag_exit *e, struct err *err)
{
	_cleanup_json_ json_t *j = ag_exit_json(e);

	return ag_json_replace(dir, "exit.json", j, err);
}

int ag_exit_read(const char *dir, struct ag_exit *ret, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/exit.json", dir);
	_cleanup_json_ json_t *j = NULL;
	int r;

	if (access(path, F_OK) < 0)
		return err_sys(err, errno, "read '%s'", path);
	if ((r = js_load_file(path, &j, err)) < 0)
		return r;
	return ag_exit_parse(j, ret, err);
}

void ag_exit_clear(struct ag_exit *e)
{
	free(e->error);
	e->error = NULL;
}

/* ---- sockets in a container's directory ---- */

static int sock_addr(const char *dir, const char *name, int *ret_dfd, struct sockaddr_un *sa,
		     struct err *err)
{
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return err_sys(err, errno, "open '%s'", dir);
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dfd, name);
	*ret_dfd = dfd;
	return 0;
}

int ag_sock_listen(const char *dir, const char *name, struct err *err)
{
	struct sockaddr_un sa;
	_cleanup_close_ int dfd = -1, fd = -1;
	int r;

	if ((r = sock_addr(dir, name, &dfd, &sa, err)) < 0)
		return r;
	unlinkat(dfd, name, 0);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_sys(err, errno, "create socket '%s/%s'", dir, name);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || fchmodat(dfd, name, 0600, 0) < 0 ||
	    listen(fd, 16) < 0)
		return err_sys(err, errno, "listen on '%s/%s'", dir, name);
	return take_fd(fd);
}

int ag_sock_connect(const char *dir, const char *name, struct err *err)
{
	struct sockaddr_un sa;
	_cleanup_close_ int dfd = -1, fd = -1;
	int r;

	if ((r = sock_addr(dir, name, &dfd, &sa, err)) < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(err, errno, "create socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return err_sys(err, errno, "connect to '%s/%s'", dir, name);
	return take_fd(fd);
}
