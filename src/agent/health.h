/* health: see priv.h (ag_health_start/stop). Checks run on the loop: http (GET path,
 * 2xx/3xx healthy), tcp (connect) and exec (exit 0). A container without an address
 * of its own is checked from inside its network namespace (a socket made there,
 * connected to 127.0.0.1), so checks work before and without VPC networking. */
#ifndef COOP_AGENT_HEALTH_H
#define COOP_AGENT_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

/* The status code of an HTTP response's first line ("HTTP/1.1 200 OK"); -1 when the
 * text is not (yet) a status line. */
int ag_http_status(const char *buf, size_t len);

#endif
