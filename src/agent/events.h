/* events: the node's event log — events.jsonl, one JSON object per line
 * {seq, time, type, action, id, attrs}, appended, rotated to events.jsonl.1 at a size
 * limit (two files kept); seq resumes after a restart from the last line written. */
#ifndef COOP_AGENT_EVENTS_H
#define COOP_AGENT_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"

#define AG_EVENTS_MAX (5u << 20)

struct ag_events {
	char *path;
	int fd;
	uint64_t seq, size, max;
};

int ag_events_open(struct ag_events *ev, const char *path, uint64_t max, struct err *err);
void ag_events_close(struct ag_events *ev);
/* Records an event (attrs borrowed, may be NULL); *ret the event object (caller
 * decrefs). The event gets its seq even when the write fails (reported in err). */
int ag_events_append(struct ag_events *ev, const char *type, const char *action, const char *id,
		     json_t *attrs, json_t **ret, struct err *err);
/* Events with seq > since, oldest first, from both files. */
int ag_events_read(const char *path, uint64_t since, json_t **ret, struct err *err);
/* The highest seq in a JSON-lines text (0 when none); torn last lines are skipped. */
uint64_t ag_events_last_seq(const char *text);

#endif
