/* logs: JSON-lines log files with size-limited rotation, written by the monitor. */
#include "agent/logs.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/record.h"
#include "base/util.h"

int ag_log_open(struct ag_log *l, const char *path, uint64_t max, struct err *err)
{
	struct stat sb;

	l->path = xstrdup(path);
	l->max = max ? max : AG_LOG_DEFAULT_MAX;
	l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (l->fd < 0) {
		int r = err_sys(err, errno, "open '%s'", path);
		free(l->path);
		l->path = NULL;
		return r;
	}
	l->size = fstat(l->fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	return 0;
}

void ag_log_close(struct ag_log *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	free(l->path);
	l->path = NULL;
}

/* log.json.2 is dropped, .1 -> .2, log.json -> .1, a fresh log.json. Readers following
 * the file see it renamed (inode kept) and reopen the path. */
static int log_rotate(struct ag_log *l, struct err *err)
{
	for (int i = AG_LOG_KEEP - 1; i >= 1; i--) {
		_cleanup_free_ char *from = i == 1 ? xstrdup(l->path) : xasprintf("%s.%d", l->path, i - 1);
		_cleanup_free_ char *to = xasprintf("%s.%d", l->path, i);
		if (rename(from, to) < 0 && errno != ENOENT)
			return err_sys(err, errno, "rename '%s' to '%s'", from, to);
	}
	close(l->fd);
	l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (l->fd < 0)
		return err_sys(err, errno, "open '%s'", l->path);
	l->size = 0;
	return 0;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

char *ag_log_record(const char *time, const char *stream, const char *data, size_t len,
		    bool partial)
{
	char *clean = xmalloc(len * 3 + 1), *rec;
	size_t n = 0;
	json_t *j;

	for (size_t i = 0; i < len;) {
		size_t k = utf8_seq((const unsigned char *)data + i, len - i);
		if (k == 0) {
			memcpy(clean + n, "\xef\xbf\xbd", 3);
			n += 3;
			i++;
		} else {
			memcpy(clean + n, data + i, k);
			n += k;
			i += k;
		}
	}
	j = json_pack("{s:s,s:s,s:s%}", "t", time, "s", stream, "l", clean, n);
	free(clean);
	if (partial)
		json_object_set_new(j, "p", json_true());
	rec = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	n = strlen(rec);
	rec = xrealloc(rec, n + 2);
	rec[n] = '\n';
	rec[n + 1] = '\0';
	return rec;
}

int ag_log_write(struct ag_log *l, const char *stream, const char *data, size_t len, bool partial,
		 struct err *err)
{
	char t[AG_TIME_MAX];
	_cleanup_free_ char *rec = NULL;
	size_t n;
	int r;

	ag_time_now(true, t);
	rec = ag_log_record(t, stream, data, len, partial);
	n = strlen(rec);
	if (l->size > 0 && l->size + n > l->max && (r = log_rotate(l, err)) < 0)
		return r;
	/* O_APPEND and one write per record: readers never see half a line */
	ssize_t w = write(l->fd, rec, n);
	if (w < 0)
		return err_sys(err, errno, "write '%s'", l->path);
	l->size += (uint64_t)w;
	return 0;
}

char **ag_log_files(const char *path)
{
	char **v = NULL;

	for (int i = AG_LOG_KEEP - 1; i >= 0; i--) {
		_cleanup_free_ char *p = i ? xasprintf("%s.%d", path, i) : xstrdup(path);
		if (access(p, F_OK) == 0)
			v = strv_append(v, p);
	}
	return v ? v : xcalloc(1, sizeof(char *));
}

int ag_linebuf_feed(struct ag_linebuf *b, struct ag_log *l, const char *data, size_t len,
		    struct err *err)
{
	int r;

	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		size_t room = sizeof(b->buf) - b->n;

		if (take > room) { /* a line longer than the buffer goes out in pieces */
			memcpy(b->buf + b->n, data, room);
			if ((r = ag_log_write(l, b->stream, b->buf, sizeof(b->buf), true, err)) < 0)
				return r;
			b->n = 0;
			data += room;
			len -= room;
			continue;
		}
		memcpy(b->buf + b->n, data, take);
		b->n += take;
		data += take;
		len -= take;
		if (!nl)
			break;
		if ((r = ag_log_write(l, b->stream, b->buf, b->n, false, err)) < 0)
			return r;
		b->n = 0;
		data++; /* the newline */
		len--;
	}
	return 0;
}

int ag_linebuf_flush(struct ag_linebuf *b, struct ag_log *l, struct err *err)
{
	int r = 0;

	if (b->n > 0)
		r = ag_log_write(l, b->stream, b->buf, b->n, true, err);
	b->n = 0;
	return r;
}
