/* log: the process-wide logger. */
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static int log_json;
static enum log_level log_lvl = LOG_WARN;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

int log_setup(const char *file, int json, enum log_level level)
{
	if (file && *file) {
		int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		log_fd = fd;
	}
	log_json = json;
	log_lvl = level;
	return 0;
}

enum log_level log_level(void)
{
	return log_lvl;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[2048], line[4096], ts[64];
	struct timespec now;
	struct tm tm;
	va_list ap;
	int n;

	if (level > log_lvl)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%09ldZ", now.tv_nsec);
	if (log_json) {
		json_t *j = json_pack("{s:s,s:s,s:s}", "level", level_names[level], "msg", msg,
				      "time", ts);
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
		n = snprintf(line, sizeof(line), "%s\n", s ? s : "{}");
		free(s);
		json_decref(j);
	} else {
		n = snprintf(line, sizeof(line), "%s %s %s\n", ts, level_names[level], msg);
	}
	if (n > (int)sizeof(line))
		n = sizeof(line);
	if (write(log_fd, line, n) < 0) {
		/* nowhere left to report a logging failure */
	}
}
