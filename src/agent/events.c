/* events: the appended, rotated event log and its sequence numbers. */
#include "agent/events.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/record.h"
#include "base/fs.h"
#include "base/util.h"

uint64_t ag_events_last_seq(const char *text)
{
	uint64_t best = 0;
	const char *line = text;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		json_t *j = json_loadb(line, n, 0, NULL);
		json_t *s = json_object_get(j, "seq");
		if (json_is_integer(s) && (uint64_t)json_integer_value(s) > best)
			best = (uint64_t)json_integer_value(s);
		json_decref(j);
		line = nl ? nl + 1 : NULL;
	}
	return best;
}

static uint64_t file_last_seq(const char *path)
{
	_cleanup_free_ char *s = NULL;
	struct err err = { 0 };

	if (fs_read(path, &s, &err) < 0)
		return 0;
	return ag_events_last_seq(s);
}

int ag_events_open(struct ag_events *ev, const char *path, uint64_t max, struct err *err)
{
	_cleanup_free_ char *old = xasprintf("%s.1", path);
	uint64_t a, b;
	struct stat sb;

	ev->path = xstrdup(path);
	ev->max = max ? max : AG_EVENTS_MAX;
	a = file_last_seq(path);
	b = file_last_seq(old);
	ev->seq = a > b ? a : b;
	ev->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (ev->fd < 0) {
		int r = err_sys(err, errno, "open '%s'", path);
		free(ev->path);
		ev->path = NULL;
		return r;
	}
	ev->size = fstat(ev->fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	return 0;
}

void ag_events_close(struct ag_events *ev)
{
	if (ev->fd >= 0)
		close(ev->fd);
	ev->fd = -1;
	free(ev->path);
	ev->path = NULL;
}

static int rotate(struct ag_events *ev, struct err *err)
{
	_cleanup_free_ char *old = xasprintf("%s.1", ev->path);

	if (rename(ev->path, old) < 0)
		return err_sys(err, errno, "rename '%s'", ev->path);
	close(ev->fd);
	ev->fd = open(ev->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (ev->fd < 0)
		return err_sys(err, errno, "open '%s'", ev->path);
	ev->size = 0;
	return 0;
}

int ag_events_append(struct ag_events *ev, const char *type, const char *action, const char *id,
		     json_t *attrs, json_t **ret, struct err *err)
{
	char t[AG_TIME_MAX];
	json_t *e;
	_cleanup_free_ char *s = NULL;
	size_t n;
	int r = 0;

	ag_time_now(true, t);
	e = json_pack("{s:I,s:s,s:s,s:s,s:s}", "seq", (json_int_t)++ev->seq, "time", t, "type", type,
		      "action", action, "id", id ? id : "");
	json_object_set(e, "attrs", attrs ? attrs : json_object());
	if (!attrs)
		json_decref(json_object_get(e, "attrs")); /* json_object_set took its own ref */
	s = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
	n = strlen(s);
	s = xrealloc(s, n + 2);
	s[n++] = '\n';
	s[n] = '\0';
	if (ev->fd < 0)
		r = err_msg(err, EBADF, "event log is not open");
	else if (ev->size + n > ev->max && (r = rotate(ev, err)) < 0)
		;
	else if (write(ev->fd, s, n) != (ssize_t)n)
		r = err_sys(err, errno, "write '%s'", ev->path);
	else
		ev->size += n;
	*ret = e;
	return r;
}

static int read_into(const char *path, uint64_t since, json_t *arr, struct err *err)
{
	_cleanup_free_ char *s = NULL;
	char *line, *save = NULL;
	int r;

	if ((r = fs_read(path, &s, err)) < 0)
		return r == -ENOENT ? (err_clear(err), 0) : r;
	for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(line, 0, NULL);
		json_t *seq = json_object_get(j, "seq");
		if (json_is_integer(seq) && (uint64_t)json_integer_value(seq) > since)
			json_array_append_new(arr, j);
		else
			json_decref(j);
	}
	return 0;
}

int ag_events_read(const char *path, uint64_t since, json_t **ret, struct err *err)
{
	_cleanup_free_ char *old = xasprintf("%s.1", path);
	json_t *arr = json_array();
	int r;

	if ((r = read_into(old, since, arr, err)) < 0 || (r = read_into(path, since, arr, err)) < 0) {
		json_decref(arr);
		return r;
	}
	*ret = arr;
	return 0;
}
