/* err: formatting of the one-line error messages. */
#include "base/err.h"

#include <stdio.h>
#include <string.h>

static int err_vset(struct err *e, int code, int with_errno, const char *fmt, va_list ap)
{
	int n;

	if (code < 0)
		code = -code;
	if (code == 0)
		code = EINVAL;
	if (!e)
		return -code;
	e->code = code;
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	if (with_errno && n >= 0 && (size_t)n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(code));
	return -code;
}

int err_sys(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = err_vset(e, code, 1, fmt, ap);
	va_end(ap);
	return r;
}

int err_msg(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = err_vset(e, code, 0, fmt, ap);
	va_end(ap);
	return r;
}

int err_wrap(struct err *e, const char *fmt, ...)
{
	char old[ERR_MSG_MAX], prefix[ERR_MSG_MAX];
	va_list ap;
	int n;

	if (!e)
		return -EINVAL;
	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (n < 0)
		prefix[0] = '\0';
	/* truncation is fine: the message is for people */
	size_t pl = strnlen(prefix, sizeof(e->msg) - 3);
	memcpy(e->msg, prefix, pl);
	memcpy(e->msg + pl, ": ", 2);
	size_t ol = strnlen(old, sizeof(e->msg) - pl - 3);
	memcpy(e->msg + pl + 2, old, ol);
	e->msg[pl + 2 + ol] = '\0';
	if (e->code == 0)
		e->code = EINVAL;
	return -e->code;
}

void err_clear(struct err *e)
{
	e->code = 0;
	e->msg[0] = '\0';
}
