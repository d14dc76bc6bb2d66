/* logs: a container's output as JSON lines {"t":RFC3339Nano,"s":"stdout|stderr","l":TEXT}
 * ("p":true on a partial line: one longer than AG_LOG_LINE_MAX, or the last one without
 * a newline), appended to log.json and rotated at a size limit: log.json -> .1 -> .2
 * (3 files kept). Written by the monitor only. */
#ifndef COOP_AGENT_LOGS_H
#define COOP_AGENT_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define AG_LOG_LINE_MAX 16384
#define AG_LOG_KEEP 3
#define AG_LOG_DEFAULT_MAX (10u << 20)

struct ag_log {
	char *path; /* .../log.json */
	int fd;
	uint64_t size, max;
};

int ag_log_open(struct ag_log *l, const char *path, uint64_t max, struct err *err);
/* One record; rotates first when it would not fit (a single record bigger than max
 * still goes in, alone). */
int ag_log_write(struct ag_log *l, const char *stream, const char *data, size_t len, bool partial,
		 struct err *err);
void ag_log_close(struct ag_log *l);
/* The record's text with its newline (caller frees); invalid UTF-8 becomes U+FFFD. */
char *ag_log_record(const char *time, const char *stream, const char *data, size_t len,
		    bool partial);
/* The files that exist, oldest first (caller strv_frees). */
char **ag_log_files(const char *path);

/* Splits a stream into lines. */
struct ag_linebuf {
	const char *stream;
	char buf[AG_LOG_LINE_MAX];
	size_t n;
};
/* Writes every complete line of data (and full buffers as partial lines) to l. */
int ag_linebuf_feed(struct ag_linebuf *b, struct ag_log *l, const char *data, size_t len,
		    struct err *err);
/* At end of stream: what is left, as a partial line. */
int ag_linebuf_flush(struct ag_linebuf *b, struct ag_log *l, struct err *err);

#endif
