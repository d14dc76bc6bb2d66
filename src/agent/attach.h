/* attach: the monitor's side of `coop attach` for a container with a terminal (the
 * conmon role). The monitor holds the pty master; this serves it on
 * containers/<id>/attach.sock (0600) to any number of clients (the daemon's bridges, up
 * to AG_ATTACH_MAX) in api/frame.h frames: stdin, resizes and stdin's end in, the
 * terminal's output and finally {"exit":N} out. Output produced before anyone attached
 * (the last AG_ATTACH_EARLY_MAX bytes) goes to the first client, so `coop run -it` sees
 * the first prompt. Never blocks: a client that reads no more than AG_ATTACH_QUEUE_MAX
 * behind is cut. Driven by the monitor's poll loop; one process, no threads. */
#ifndef COOP_AGENT_ATTACH_H
#define COOP_AGENT_ATTACH_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define AG_ATTACH_MAX 16
#define AG_ATTACH_QUEUE_MAX (1u << 20)
#define AG_ATTACH_EARLY_MAX (64u << 10)
#define AG_ATTACH_FDS (2 + AG_ATTACH_MAX) /* pollfds ag_attach_pollfds may fill */

struct ag_attach;

/* Listens on dir/attach.sock; master (non-blocking, borrowed) receives stdin when
 * stdin is true, resizes always. */
int ag_attach_new(const char *dir, int master, bool stdin, struct ag_attach **ret,
		  struct err *err);
/* The master was closed (its output ended): input is dropped from now on. */
void ag_attach_master_gone(struct ag_attach *a);
/* Fills p with what to poll (at most AG_ATTACH_FDS); *ret_n entries. */
void ag_attach_pollfds(struct ag_attach *a, struct pollfd *p, size_t *ret_n);
/* Handles what poll reported on the entries ag_attach_pollfds filled. */
void ag_attach_events(struct ag_attach *a, const struct pollfd *p, size_t n);
/* The terminal's output, for every client (or the first one to come). */
void ag_attach_output(struct ag_attach *a, const char *p, size_t len);
/* The end: no more clients; each gets {"exit":code} and what is queued, until
 * deadline_ms (ag_mono_ms); then everything is closed, the socket removed, a freed. */
void ag_attach_finish(struct ag_attach *a, int code, uint64_t deadline_ms);

#endif
