/* err: the error object every fallible function takes last.
 * A failing function fills it with one line saying what was being done to what,
 * and returns a negative errno. Callers add context or print it; nobody exits. */
#ifndef COOP_BASE_ERR_H
#define COOP_BASE_ERR_H

#include <errno.h>
#include <stdarg.h>

#define ERR_MSG_MAX 1024

struct err {
	int code;              /* positive errno, 0 when empty */
	char msg[ERR_MSG_MAX]; /* one line, no trailing newline */
};

/* "what: strerror(code)"; returns -code. */
int err_sys(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "what" only (validation errors); returns -code. */
int err_msg(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with "what: "; returns -e->code. */
int err_wrap(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(struct err *e);

#endif
