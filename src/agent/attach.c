/* attach: a tty container's pty master served to attach clients in frames. */
#include "agent/attach.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "agent/record.h"
#include "api/frame.h"
#include "base/log.h"
#include "base/util.h"

struct buf {
	char *p;
	size_t len;
};

struct client {
	int fd;
	struct api_frame_dec dec;
	struct buf out;
};

struct ag_attach {
	char *dir;
	int lfd, master;
	bool stdin, attached_once;
	struct client cl[AG_ATTACH_MAX];
	size_t n;
	struct buf in;    /* for the master, not yet written */
	struct buf early; /* output before the first client */
};

static void buf_add(struct buf *b, const void *p, size_t len)
{
	b->p = xrealloc(b->p, b->len + len + 1);
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

static void buf_consume(struct buf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
}

int ag_attach_new(const char *dir, int master, bool stdin, struct ag_attach **ret,
		  struct err *err)
{
	int fd = ag_sock_listen(dir, "attach.sock", err);
	struct ag_attach *a;

	if (fd < 0)
		return fd;
	a = xcalloc(1, sizeof(*a));
	a->dir = xstrdup(dir);
	a->lfd = fd;
	a->master = master;
	a->stdin = stdin;
	*ret = a;
	return 0;
}

void ag_attach_master_gone(struct ag_attach *a)
{
	a->master = -1;
	buf_free(&a->in);
}

static void drop(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	api_frame_dec_free(&c->dec);
	buf_free(&c->out);
}

/* Removes dropped clients, keeping the order. */
static void compact(struct ag_attach *a)
{
	size_t k = 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->cl[i].fd >= 0)
			a->cl[k++] = a->cl[i];
	a->n = k;
}

static void flush(struct client *c)
{
	while (c->fd >= 0 && c->out.len) {
		ssize_t n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			return drop(c);
		buf_consume(&c->out, (size_t)n);
	}
}

static void queue_frame(struct client *c, enum api_frame_type t, const char *p, size_t len)
{
	do {
		size_t k = len > API_FRAME_MAX ? API_FRAME_MAX : len;
		uint8_t hdr[API_FRAME_HDR];
		api_frame_header(hdr, t, k);
		buf_add(&c->out, hdr, sizeof(hdr));
		buf_add(&c->out, p, k);
		p += k;
		len -= k;
	} while (len > 0);
	if (c->out.len > AG_ATTACH_QUEUE_MAX + API_FRAME_MAX) {
		log_warn("attach: a client reads no more (%zu bytes queued): cut", c->out.len);
		return drop(c);
	}
	flush(c);
}

void ag_attach_output(struct ag_attach *a, const char *p, size_t len)
{
	if (!a->attached_once) {
		buf_add(&a->early, p, len);
		if (a->early.len > AG_ATTACH_EARLY_MAX)
			buf_consume(&a->early, a->early.len - AG_ATTACH_EARLY_MAX);
		return;
	}
	for (size_t i = 0; i < a->n; i++)
		if (a->cl[i].fd >= 0)
			queue_frame(&a->cl[i], API_FRAME_STDOUT, p, len);
	compact(a);
}

static void accept_clients(struct ag_attach *a)
{
	int fd;

	while ((fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		if (a->n >= AG_ATTACH_MAX) {
			struct client c = { .fd = fd };
			char j[96];
			snprintf(j, sizeof(j), "{\"exit\":-1,\"error\":\"%d clients attached already (the limit)\"}",
				 AG_ATTACH_MAX);
			queue_frame(&c, API_FRAME_EXIT, j, strlen(j));
			drop(&c);
			continue;
		}
		struct client *c = &a->cl[a->n++];
		*c = (struct client){ .fd = fd };
		if (!a->attached_once) {
			a->attached_once = true;
			if (a->early.len)
				queue_frame(c, API_FRAME_STDOUT, a->early.p, a->early.len);
			buf_free(&a->early);
		}
	}
	compact(a);
}

static void to_master(struct ag_attach *a, const void *p, size_t len)
{
	if (a->stdin && a->master >= 0)
		buf_add(&a->in, p, len);
}

static int on_frame(void *ctx, enum api_frame_type t, const uint8_t *p, size_t len)
{
	struct ag_attach *a = ctx;
	unsigned rows, cols;

	switch (t) {
	case API_FRAME_STDIN: to_master(a, p, len); break;
	case API_FRAME_RESIZE:
		if (a->master >= 0 && api_frame_resize_parse(p, len, &rows, &cols) == 0) {
			struct winsize ws = { .ws_row = rows, .ws_col = cols };
			ioctl(a->master, TIOCSWINSZ, &ws);
		}
		break;
	case API_FRAME_CLOSE: to_master(a, "\004", 1); break; /* ^D: the pty's end of file */
	default: break;
	}
	return 0;
}

static void client_read(struct ag_attach *a, struct client *c)
{
	char buf[65536];
	struct err err = { 0 };
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		return drop(c); /* the client went: the container runs on */
	if (api_frame_feed(&c->dec, buf, (size_t)n, on_frame, a, &err) < 0) {
		log_warn("attach: %s", err.msg);
		drop(c);
	}
}

static void master_write(struct ag_attach *a)
{
	while (a->master >= 0 && a->in.len) {
		ssize_t n = write(a->master, a->in.p, a->in.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			return buf_free(&a->in);
		buf_consume(&a->in, (size_t)n);
	}
}

void ag_attach_pollfds(struct ag_attach *a, struct pollfd *p, size_t *ret_n)
{
	size_t k = 0;

	p[k++] = (struct pollfd){ .fd = a->lfd, .events = POLLIN };
	p[k++] = (struct pollfd){ .fd = a->in.len && a->master >= 0 ? a->master : -1,
				  .events = POLLOUT };
	for (size_t i = 0; i < a->n; i++)
		p[k++] = (struct pollfd){
			.fd = a->cl[i].fd,
			/* input waits while the terminal takes no more */
			.events = (a->in.len < AG_ATTACH_QUEUE_MAX ? POLLIN : 0) |
				  (a->cl[i].out.len ? POLLOUT : 0),
		};
	*ret_n = k;
}

void ag_attach_events(struct ag_attach *a, const struct pollfd *p, size_t n)
{
	size_t nc = n > 2 ? n - 2 : 0;

	for (size_t i = 0; i < nc && i < a->n; i++) {
		struct client *c = &a->cl[i];
		if (c->fd < 0 || c->fd != p[2 + i].fd)
			continue;
		if (p[2 + i].revents & POLLOUT)
			flush(c);
		if (c->fd >= 0 && (p[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
			client_read(a, c);
	}
	compact(a);
	master_write(a); /* new input goes at once, the rest when the master is writable */
	if (n > 0 && (p[0].revents & POLLIN))
		accept_clients(a);
}

void ag_attach_finish(struct ag_attach *a, int code, uint64_t deadline_ms)
{
	char j[32];

	close(a->lfd);
	_cleanup_free_ char *path = xasprintf("%s/attach.sock", a->dir);
	unlink(path);
	snprintf(j, sizeof(j), "{\"exit\":%d}", code);
	for (size_t i = 0; i < a->n; i++)
		queue_frame(&a->cl[i], API_FRAME_EXIT, j, strlen(j));
	compact(a);
	for (;;) {
		struct pollfd p[AG_ATTACH_MAX];
		size_t k = 0;
		uint64_t now = ag_mono_ms();
		for (size_t i = 0; i < a->n; i++)
			if (a->cl[i].out.len)
				p[k++] = (struct pollfd){ .fd = a->cl[i].fd, .events = POLLOUT };
		if (k == 0 || now >= deadline_ms)
			break;
		if (poll(p, k, (int)(deadline_ms - now)) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < a->n; i++)
			flush(&a->cl[i]);
		compact(a);
	}
	for (size_t i = 0; i < a->n; i++)
		drop(&a->cl[i]);
	buf_free(&a->in);
	buf_free(&a->early);
	free(a->dir);
	free(a);
}
