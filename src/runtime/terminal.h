/* terminal: ptys for containers — creating one inside the container, passing its
 * master over --console-socket (SCM_RIGHTS), and receiving one. */
#ifndef COOP_RUNTIME_TERMINAL_H
#define COOP_RUNTIME_TERMINAL_H

#include "base/err.h"

/* Connects to the unix socket at path. */
int rt_console_connect(const char *path, struct err *err);
/* Opens a new pty pair from /dev/ptmx (in the current mount namespace); sets the size
 * when rows/cols are non-zero. */
int rt_pty_open(unsigned rows, unsigned cols, int *ret_master, int *ret_slave, struct err *err);
/* Makes slave the controlling terminal and stdio of the calling process. */
int rt_pty_attach(int slave, struct err *err);
int rt_fd_send(int sock, int fd, struct err *err);
int rt_fd_recv(int sock, int *ret_fd, struct err *err);
/* Copies between the local terminal (stdin/stdout) and master until master hangs up. */
void rt_pty_proxy(int master);

#endif
