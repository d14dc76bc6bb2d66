/* session: an interactive exec's process, its pty or pipes, and the relay to the client.
 * Sources (the pty master, or stdout/stderr pipes, and the runtime's own stderr) become
 * frames on the client's stream; the client's frames become stdin and resizes. Each way
 * pauses reading while more than API_SESSION_QUEUE_MAX bytes wait to be written. */
#include "api/session.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>

#include "agent/record.h"
#include "api/frame.h"
#include "api/routes.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "runtime/terminal.h"

#define DRAIN_MS 500   /* after the process exited: output still in the pty */
#define FLUSH_MS 5000  /* after the exit frame: a client that reads no more is cut */
#define EARLY_ERR_MAX 2048

struct api_session {
	uv_loop_t *loop;
	bool tty, stdin;
	unsigned rows, cols;
	struct api_session_set *set; /* NULL once the set let go of it */
	struct api_session *prev, *next;
	api_session_ready_fn ready;
	void *ready_ctx;
	bool ready_called;

	uv_process_t proc;
	uv_pipe_t in, out, err; /* runtime's stdio: in/out only without a tty */
	uv_poll_t lpoll, cpoll; /* the console socket: listening, then the connection */
	char *sock_path;
	uv_pipe_t master;
	uv_pipe_t sock; /* the client's stream (a dup of the upgraded fd) */
	struct api_upgrade *up;
	uv_timer_t timer;
	int open; /* handles not yet closed */

	struct api_frame_dec dec;
	char early[EARLY_ERR_MAX]; /* the runtime's stderr before the stream: for errors */
	size_t early_len;
	bool attached, client_gone, exited, finishing, ending;
	int code;
	char buf[65536];
};

struct wreq {
	uv_write_t w;
	struct api_session *s;
	uint8_t hdr[API_FRAME_HDR];
	size_t len;
	char data[];
};

static void maybe_finish(struct api_session *s);
static void start_sources(struct api_session *s);
static void console_now(struct api_session *s);

static bool is_open(void *h)
{
	uv_handle_t *x = h;
	return x->loop && !uv_is_closing(x);
}

static void set_unlink(struct api_session *s)
{
	if (!s->set)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		s->set->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->set->n--;
	s->set = NULL;
}

static void on_closed(uv_handle_t *h)
{
	struct api_session *s = h->data;
	if (--s->open > 0)
		return;
	api_frame_dec_free(&s->dec);
	api_upgrade_close(s->up);
	set_unlink(s);
	free(s);
}

static void close_h(void *h)
{
	if (is_open(h))
		uv_close(h, on_closed);
}

/* uv_poll leaves its fd open; it may be closed once the handle stopped watching it. */
static void close_poll(uv_poll_t *p)
{
	uv_os_fd_t fd;
	if (!is_open(p))
		return;
	int r = uv_fileno((uv_handle_t *)p, &fd);
	uv_close((uv_handle_t *)p, on_closed);
	if (r == 0)
		close(fd);
}

static void unlink_console(struct api_session *s)
{
	if (s->sock_path) {
		unlink(s->sock_path);
		free(s->sock_path);
		s->sock_path = NULL;
	}
}

/* Everything closes; the last close frees the session. */
static void session_end(struct api_session *s)
{
	s->ending = true;
	unlink_console(s);
	close_poll(&s->lpoll);
	close_poll(&s->cpoll);
	close_h(&s->in);
	close_h(&s->out);
	close_h(&s->err);
	close_h(&s->master);
	close_h(&s->sock);
	close_h(&s->timer);
	if (!s->exited && s->proc.pid > 0)
		kill(s->proc.pid, SIGHUP); /* ending with the process alive: the daemon stops */
	close_h(&s->proc);
}

static void hang_up(struct api_session *s)
{
	s->client_gone = true;
	close_h(&s->sock);
	if (!s->exited && s->proc.pid > 0)
		kill(s->proc.pid, SIGHUP); /* the runtime passes it on */
	close_h(&s->in);
	maybe_finish(s);
}

static void call_ready(struct api_session *s, const struct err *err)
{
	if (s->ready_called)
		return;
	s->ready_called = true;
	s->ready(s->ready_ctx, err ? NULL : s, err);
}

/* ---- client-bound ---- */

static bool sock_full(struct api_session *s)
{
	return is_open(&s->sock) &&
	       uv_stream_get_write_queue_size((uv_stream_t *)&s->sock) > API_SESSION_QUEUE_MAX;
}

static void on_sock_written(uv_write_t *w, int status)
{
	struct wreq *q = (struct wreq *)w;
	struct api_session *s = q->s;
	free(q);
	if (!s->ending && !s->finishing && !sock_full(s))
		start_sources(s);
}

static void send_frame(struct api_session *s, enum api_frame_type t, const char *p, size_t len)
{
	if (!is_open(&s->sock) || s->client_gone)
		return;
	while (len > 0 || t == API_FRAME_EXIT) {
		size_t n = len > API_FRAME_MAX ? API_FRAME_MAX : len;
		struct wreq *q = xmalloc(sizeof(*q) + n);
		q->s = s;
		q->len = n;
		api_frame_header(q->hdr, t, n);
		memcpy(q->data, p, n);
		uv_buf_t b[2] = { uv_buf_init((char *)q->hdr, API_FRAME_HDR), uv_buf_init(q->data, n) };
		if (uv_write(&q->w, (uv_stream_t *)&s->sock, b, 2, on_sock_written) < 0) {
			free(q);
			return;
		}
		p += n;
		len -= n;
		if (t == API_FRAME_EXIT)
			break;
	}
}

static void alloc_buf(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct api_session *s = h->data;
	b->base = s->buf;
	b->len = sizeof(s->buf);
}

static void on_source(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct api_session *s = st->data;
	enum api_frame_type t = st == (uv_stream_t *)&s->err ? API_FRAME_STDERR : API_FRAME_STDOUT;

	if (n < 0) { /* EOF, or EIO from a master whose last slave closed */
		close_h(st);
		maybe_finish(s);
		return;
	}
	if (!s->attached) { /* only the runtime's stderr is read early: keep it for errors */
		size_t k = (size_t)n > EARLY_ERR_MAX - 1 - s->early_len ? EARLY_ERR_MAX - 1 - s->early_len
									 : (size_t)n;
		memcpy(s->early + s->early_len, b->base, k);
		s->early_len += k;
		return;
	}
	send_frame(s, t, b->base, n);
	if (sock_full(s))
		uv_read_stop(st);
}

static void start_sources(struct api_session *s)
{
	uv_pipe_t *src[] = { &s->master, &s->out, &s->err };
	for (size_t i = 0; i < ARRAY_SIZE(src); i++)
		if (is_open(src[i]))
			uv_read_start((uv_stream_t *)src[i], alloc_buf, on_source);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct api_session *s = req->data;
	free(req);
	session_end(s);
}

static void on_flush_timeout(uv_timer_t *t)
{
	session_end(t->data);
}

/* The process exited and its output is out: the exit frame, then the stream ends. */
static void finish(struct api_session *s)
{
	s->finishing = true;
	if (!s->attached || s->client_gone || !is_open(&s->sock))
		return session_end(s);
	_cleanup_free_ char *j = xasprintf("{\"exit\":%d}", s->code);
	send_frame(s, API_FRAME_EXIT, j, strlen(j));
	uv_shutdown_t *req = xmalloc(sizeof(*req));
	req->data = s;
	if (uv_shutdown(req, (uv_stream_t *)&s->sock, on_shutdown) < 0) {
		free(req);
		return session_end(s);
	}
	uv_timer_start(&s->timer, on_flush_timeout, FLUSH_MS, 0);
}

static void maybe_finish(struct api_session *s)
{
	if (s->finishing || s->ending || !s->exited)
		return;
	if (s->attached && !s->client_gone &&
	    (is_open(&s->master) || is_open(&s->out) || is_open(&s->err)))
		return;
	finish(s);
}

static void on_drain_timeout(uv_timer_t *t)
{
	struct api_session *s = t->data;
	close_h(&s->master); /* something in the container still holds the pty: stop here */
	close_h(&s->err);
	maybe_finish(s);
}

static void on_proc_exit(uv_process_t *p, int64_t status, int sig)
{
	struct api_session *s = p->data;

	s->exited = true;
	s->code = sig ? 128 + sig : (int)status;
	close_h(&s->proc);
	if (!s->ready_called && s->tty)
		console_now(s); /* a quick process: the master may be waiting unread */
	if (!s->ready_called && !s->tty)
		call_ready(s, NULL); /* its output is in the pipes, for the stream */
	if (!s->ready_called) {
		struct err err = { 0 };
		size_t n = s->early_len;
		while (n > 0 && (s->early[n - 1] == '\n' || s->early[n - 1] == '\r'))
			n--;
		s->early[n] = '\0';
		const char *m = s->early;
		if (!strncmp(m, "coop-runtime: ", 14))
			m += 14;
		if (n)
			err_msg(&err, EIO, "exec: %s", m);
		else
			err_msg(&err, EIO, "exec: the runtime exited with code %d", s->code);
		call_ready(s, &err);
		return session_end(s);
	}
	if (s->attached && is_open(&s->master))
		uv_timer_start(&s->timer, on_drain_timeout, DRAIN_MS, 0);
	maybe_finish(s);
}

/* ---- process-bound ---- */

static void on_sock_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

static void on_in_written(uv_write_t *w, int status)
{
	struct wreq *q = (struct wreq *)w;
	struct api_session *s = q->s;
	free(q);
	if (!s->ending && is_open(&s->sock) && !s->client_gone)
		uv_read_start((uv_stream_t *)&s->sock, alloc_buf, on_sock_read);
}

static void to_process(struct api_session *s, const uint8_t *p, size_t len)
{
	uv_pipe_t *dst = s->tty ? &s->master : &s->in;
	if (!s->stdin || !is_open(dst) || len == 0)
		return;
	struct wreq *q = xmalloc(sizeof(*q) + len);
	q->s = s;
	memcpy(q->data, p, len);
	uv_buf_t b = uv_buf_init(q->data, len);
	if (uv_write(&q->w, (uv_stream_t *)dst, &b, 1, on_in_written) < 0) {
		free(q);
		return;
	}
	if (uv_stream_get_write_queue_size((uv_stream_t *)dst) > API_SESSION_QUEUE_MAX)
		uv_read_stop((uv_stream_t *)&s->sock); /* resumes in on_in_written */
}

static void resize(struct api_session *s, unsigned rows, unsigned cols)
{
	uv_os_fd_t fd;
	struct winsize ws = { .ws_row = rows, .ws_col = cols };
	if (is_open(&s->master) && uv_fileno((uv_handle_t *)&s->master, &fd) == 0)
		ioctl(fd, TIOCSWINSZ, &ws);
}

static int on_frame(void *ctx, enum api_frame_type t, const uint8_t *p, size_t len)
{
	struct api_session *s = ctx;
	unsigned rows, cols;

	switch (t) {
	case API_FRAME_STDIN: to_process(s, p, len); break;
	case API_FRAME_RESIZE:
		if (api_frame_resize_parse(p, len, &rows, &cols) == 0)
			resize(s, rows, cols);
		break;
	case API_FRAME_CLOSE:
		if (s->tty)
			to_process(s, (const uint8_t *)"\004", 1); /* ^D: the pty's end of file */
		else
			close_h(&s->in);
		break;
	default: break; /* daemon-bound frames only; others are ignored */
	}
	return 0;
}

static void feed(struct api_session *s, const char *p, size_t n)
{
	struct err err = { 0 };
	if (api_frame_feed(&s->dec, p, n, on_frame, s, &err) < 0) {
		log_warn("exec session: %s", err.msg);
		hang_up(s);
	}
}

static void on_sock_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct api_session *s = st->data;
	if (n < 0)
		return hang_up(s);
	feed(s, b->base, n);
}

/* ---- the console socket ---- */

static void on_console_conn(uv_poll_t *p, int status, int events)
{
	struct api_session *s = p->data;
	struct err err = { 0 };
	int fd, master = -1, r = 0;

	if (uv_fileno((uv_handle_t *)p, &fd) < 0 || (r = rt_fd_recv(fd, &master, &err)) < 0) {
		if (r == -EAGAIN)
			return; /* polled early (console_now): not there yet */
		log_warn("exec session: %s", err.msg);
		close_poll(p);
		return; /* the runtime's exit says why */
	}
	close_poll(p);
	unlink_console(s);
	if (s->rows && s->cols) {
		struct winsize ws = { .ws_row = s->rows, .ws_col = s->cols };
		ioctl(master, TIOCSWINSZ, &ws);
	}
	uv_pipe_init(s->loop, &s->master, 0);
	s->master.data = s;
	s->open++;
	if ((r = uv_pipe_open(&s->master, master)) < 0) {
		close(master);
		err_msg(&err, -r, "exec: open the terminal: %s", uv_strerror(r));
		call_ready(s, &err);
		return session_end(s);
	}
	call_ready(s, NULL);
}

static void on_console_listen(uv_poll_t *p, int status, int events)
{
	struct api_session *s = p->data;
	uv_os_fd_t lfd;
	int fd;

	if (uv_fileno((uv_handle_t *)p, &lfd) < 0 ||
	    (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0)
		return;
	close_poll(p); /* one runtime, one connection */
	uv_poll_init(s->loop, &s->cpoll, fd);
	s->cpoll.data = s;
	s->open++;
	uv_poll_start(&s->cpoll, UV_READABLE, on_console_conn);
}

static int console_listen(struct api_session *s, const char *dir, struct err *err)
{
	static unsigned seq;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *path = xasprintf("%s/exec-%d-%u.sock", dir, getpid(), ++seq);

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_msg(err, ENAMETOOLONG, "console socket path '%s' too long", path);
	strcpy(sa.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_sys(err, errno, "create console socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
		return err_sys(err, errno, "listen on '%s'", path);
	uv_poll_init(s->loop, &s->lpoll, fd);
	s->lpoll.data = s;
	s->open++;
	fd = -1; /* closed with the handle (close_poll) */
	s->sock_path = take_ptr(path);
	uv_poll_start(&s->lpoll, UV_READABLE, on_console_listen);
	return 0;
}

/* Takes a console connection and its master now, if they are there already. */
static void console_now(struct api_session *s)
{
	if (is_open(&s->lpoll))
		on_console_listen(&s->lpoll, 0, UV_READABLE);
	if (is_open(&s->cpoll))
		on_console_conn(&s->cpoll, 0, UV_READABLE);
}

/* ---- starting ---- */

static bool has_term(char *const *env)
{
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], "TERM=", 5))
			return true;
	return false;
}

static char **runtime_args(const struct api_session_opts *o, const char *console)
{
	char **a = NULL;
	/* argv[0] "coop-runtime" selects the runtime CLI, as the agent's exec does */
	a = strv_append(a, "coop-runtime");
	a = strv_append(a, "--root");
	a = strv_append(a, o->rtroot);
	a = strv_append(a, "exec");
	if (o->tty) {
		a = strv_append(a, "-t");
		a = strv_append(a, "--console-socket");
		a = strv_append(a, console);
	}
	for (size_t i = 0; o->env && o->env[i]; i++) {
		a = strv_append(a, "--env");
		a = strv_append(a, o->env[i]);
	}
	if (o->tty && !has_term(o->env)) { /* as docker does: programs need to know */
		a = strv_append(a, "--env");
		a = strv_append(a, "TERM=xterm");
	}
	if (o->user) {
		a = strv_append(a, "--user");
		a = strv_append(a, o->user);
	}
	if (o->cwd) {
		a = strv_append(a, "--cwd");
		a = strv_append(a, o->cwd);
	}
	a = strv_append(a, o->id);
	for (size_t i = 0; o->argv[i]; i++)
		a = strv_append(a, o->argv[i]);
	return a;
}

static void on_ready_timer(uv_timer_t *t)
{
	call_ready(t->data, NULL);
}

static int spawn(struct api_session *s, const struct api_session_opts *o, struct err *err)
{
	_cleanup_strv_ char **args = runtime_args(o, s->sock_path);
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_IGNORE },
		{ .flags = UV_IGNORE },
		{ .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&s->err },
	};
	if (!o->tty) {
		stdio[0] = (uv_stdio_container_t){ .flags = UV_CREATE_PIPE | UV_READABLE_PIPE,
						   .data.stream = (uv_stream_t *)&s->in };
		stdio[1] = (uv_stdio_container_t){ .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
						   .data.stream = (uv_stream_t *)&s->out };
		uv_pipe_init(s->loop, &s->in, 0);
		uv_pipe_init(s->loop, &s->out, 0);
		s->in.data = s->out.data = s;
		s->open += 2;
	}
	uv_pipe_init(s->loop, &s->err, 0);
	s->err.data = s;
	s->open++;
	uv_process_options_t po = { .exit_cb = on_proc_exit, .file = o->exe, .args = args,
				    .stdio_count = 3, .stdio = stdio };
	s->proc.data = s;
	int r = uv_spawn(s->loop, &s->proc, &po);
	s->open++; /* uv_spawn initializes the handle even when it fails */
	if (r < 0) {
		s->exited = true;
		return err_msg(err, -r, "exec: start the runtime: %s", uv_strerror(r));
	}
	/* the runtime's stderr: its own errors before the stream, the process's after */
	uv_read_start((uv_stream_t *)&s->err, alloc_buf, on_source);
	return 0;
}

int api_session_start(uv_loop_t *loop, const struct api_session_opts *o,
		      api_session_ready_fn ready, void *ctx, struct err *err)
{
	struct api_session *s;
	int r;

	if (o->set && o->set->n >= API_MAX_SESSIONS)
		return err_msg(err, EBUSY, "exec: %d interactive sessions already run (the limit)",
			       API_MAX_SESSIONS);
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->tty = o->tty;
	s->stdin = o->stdin;
	s->rows = o->rows;
	s->cols = o->cols;
	s->ready = ready;
	s->ready_ctx = ctx;
	if ((s->set = o->set)) {
		s->next = s->set->head;
		if (s->next)
			s->next->prev = s;
		s->set->head = s;
		s->set->n++;
	}
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	s->open = 1;
	if ((o->tty && (r = console_listen(s, o->sock_dir, err)) < 0) || (r = spawn(s, o, err)) < 0) {
		s->ready_called = true; /* an error return: ready never fires */
		session_end(s);
		return r;
	}
	if (!o->tty) /* nothing to wait for; ready comes from the loop, never from here */
		uv_timer_start(&s->timer, on_ready_timer, 0, 0);
	return 0;
}

void api_session_attach(struct api_session *s, int fd, const char *extra, size_t extra_len,
			struct api_upgrade *u)
{
	int dfd, r;

	s->up = u;
	if (fd < 0 || s->ending)
		return hang_up(s);
	/* our own descriptor: the server closes fd itself in api_upgrade_close */
	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return hang_up(s);
	uv_pipe_init(s->loop, &s->sock, 0);
	s->sock.data = s;
	s->open++;
	if ((r = uv_pipe_open(&s->sock, dfd)) < 0) {
		close(dfd);
		log_warn("exec session: open the stream: %s", uv_strerror(r));
		return hang_up(s);
	}
	s->attached = true;
	uv_timer_stop(&s->timer);
	uv_read_start((uv_stream_t *)&s->sock, alloc_buf, on_sock_read);
	if (extra_len)
		feed(s, extra, extra_len);
	if (s->ending || s->client_gone)
		return;
	/* early runtime stderr that was not an error is the process's: pass it on */
	if (s->early_len)
		send_frame(s, API_FRAME_STDERR, s->early, s->early_len);
	start_sources(s);
	if (s->exited && is_open(&s->master))
		uv_timer_start(&s->timer, on_drain_timeout, DRAIN_MS, 0);
	maybe_finish(s);
}

static void bridges_close(void);

void api_session_set_close(struct api_session_set *set)
{
	bridges_close(); /* the daemon stops: attached clients are let go too */
	while (set->head) {
		struct api_session *s = set->head;
		set_unlink(s);
		if (!s->ready_called) {
			struct err err = { 0 };
			err_msg(&err, ESHUTDOWN, "exec: the daemon is shutting down");
			call_ready(s, &err);
		}
		if (!s->ending)
			session_end(s);
	}
}

/* ---- attach: a byte bridge between a client and a tty container's monitor ---- */

struct attach_bridge {
	uv_loop_t *loop;
	uv_pipe_t cli, mon;
	int mon_fd; /* until the upgrade; then mon's */
	struct api_upgrade *up;
	int open;
	bool ending, called, linked;
	struct attach_bridge *prev, *next;
};

struct bwreq {
	uv_write_t w;
	struct attach_bridge *b;
	uv_stream_t *from; /* paused while the other side's queue is full */
	char *data;
};

static struct attach_bridge *bridges; /* every bridge of the daemon */

static void bridge_closed(uv_handle_t *h)
{
	struct attach_bridge *b = h->data;
	if (--b->open > 0)
		return;
	api_upgrade_close(b->up);
	free(b);
}

static void bridge_unlink(struct attach_bridge *b)
{
	if (!b->linked)
		return;
	b->linked = false;
	if (b->prev)
		b->prev->next = b->next;
	else
		bridges = b->next;
	if (b->next)
		b->next->prev = b->prev;
}

static void bridge_end(struct attach_bridge *b)
{
	if (b->ending)
		return;
	b->ending = true;
	bridge_unlink(b);
	if (!b->called)
		return; /* bridge_upgraded comes (always, once) and frees it */
	if (is_open(&b->cli))
		uv_close((uv_handle_t *)&b->cli, bridge_closed);
	if (is_open(&b->mon))
		uv_close((uv_handle_t *)&b->mon, bridge_closed);
}

static void bridge_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	buf->base = xmalloc(65536);
	buf->len = 65536;
}

static void bridge_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void bridge_written(uv_write_t *w, int status)
{
	struct bwreq *q = (struct bwreq *)w;
	struct attach_bridge *b = q->b;
	uv_stream_t *to = q->from == (uv_stream_t *)&b->cli ? (uv_stream_t *)&b->mon
							     : (uv_stream_t *)&b->cli;
	free(q->data);
	if (!b->ending && status == 0 && is_open(q->from) &&
	    uv_stream_get_write_queue_size(to) <= API_SESSION_QUEUE_MAX)
		uv_read_start(q->from, bridge_alloc, bridge_read);
	free(q);
}

static void bridge_shut(uv_shutdown_t *req, int status)
{
	struct attach_bridge *b = req->data;
	free(req);
	bridge_end(b);
}

static void bridge_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct attach_bridge *b = st->data;
	uv_stream_t *to = st == (uv_stream_t *)&b->cli ? (uv_stream_t *)&b->mon
						       : (uv_stream_t *)&b->cli;
	if (n == 0) {
		free(buf->base);
		return;
	}
	if (n < 0) {
		free(buf->base);
		uv_read_stop(st);
		if (st == (uv_stream_t *)&b->mon && is_open(&b->cli)) {
			/* the monitor ended (the exit frame is out): the client gets the rest */
			uv_shutdown_t *req = xmalloc(sizeof(*req));
			req->data = b;
			if (uv_shutdown(req, (uv_stream_t *)&b->cli, bridge_shut) == 0)
				return;
			free(req);
		}
		return bridge_end(b); /* the client went: the container runs on */
	}
	struct bwreq *q = xcalloc(1, sizeof(*q));
	q->b = b;
	q->from = st;
	q->data = buf->base;
	uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
	if (uv_write(&q->w, to, &out, 1, bridge_written) < 0) {
		free(q->data);
		free(q);
		return bridge_end(b);
	}
	if (uv_stream_get_write_queue_size(to) > API_SESSION_QUEUE_MAX)
		uv_read_stop(st); /* resumes in bridge_written */
}

static void bridge_upgraded(void *ctx, int fd, const char *extra, size_t extra_len,
			    struct api_upgrade *u)
{
	struct attach_bridge *b = ctx;
	int dfd;

	b->up = u;
	b->called = true;
	if (fd < 0 || b->ending || (dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		close(b->mon_fd);
		bridge_unlink(b);
		api_upgrade_close(u);
		free(b);
		return;
	}
	uv_pipe_init(b->loop, &b->cli, 0);
	uv_pipe_init(b->loop, &b->mon, 0);
	b->cli.data = b->mon.data = b;
	b->open = 2;
	int mfd = b->mon_fd;
	b->mon_fd = -1;
	if (uv_pipe_open(&b->cli, dfd) < 0) {
		close(dfd);
		close(mfd);
		return bridge_end(b);
	}
	if (uv_pipe_open(&b->mon, mfd) < 0) {
		close(mfd);
		return bridge_end(b);
	}
	if (extra_len) {
		struct bwreq *q = xcalloc(1, sizeof(*q));
		q->b = b;
		q->from = (uv_stream_t *)&b->cli;
		q->data = xmalloc(extra_len);
		memcpy(q->data, extra, extra_len);
		uv_buf_t out = uv_buf_init(q->data, (unsigned)extra_len);
		if (uv_write(&q->w, (uv_stream_t *)&b->mon, &out, 1, bridge_written) < 0) {
			free(q->data);
			free(q);
		}
	}
	uv_read_start((uv_stream_t *)&b->cli, bridge_alloc, bridge_read);
	uv_read_start((uv_stream_t *)&b->mon, bridge_alloc, bridge_read);
}

void api_attach_route(struct api_routes *rt, struct api_req *req, char **params)
{
	/* struct api_routes (routes.c) begins with its config: the handler lives here, with
	 * the rest of the upgraded-stream code, and reads the config through that first
	 * member (C11 6.7.2.1p15) */
	const struct api_routes_config *cfg = api_routes_config(rt);
	struct err err = { 0 };
	_cleanup_json_ json_t *c = NULL;
	const char *code;
	int r, fd;

	if (!api_req_wants_upgrade(req))
		return api_reply_error(req, 400, "bad_request", NULL,
				       "attach needs \"Connection: Upgrade\" and \"Upgrade: tcp\"");
	if ((r = cfg->engine->container_get(cfg->agent, params[0], &c, &err)) < 0) {
		unsigned st = api_status_for(r, &code);
		return api_reply_error(req, st, code, NULL, "%s", err.msg);
	}
	const char *id = json_string_value(json_object_get(c, "id"));
	const char *status = json_string_value(json_object_get(c, "status")) ?: "";
	if (!id || !json_is_true(json_object_get(c, "tty")))
		return api_reply_error(req, 409, "conflict", NULL,
				       "container '%s' has no terminal (run it with -t to attach; see coop logs, coop exec)",
				       params[0]);
	if (!streq(status, "running") && !streq(status, "created"))
		return api_reply_error(req, 409, "conflict", NULL, "container '%s' is not running",
				       params[0]);
	_cleanup_free_ char *dir = xasprintf("%s/containers/%s", cfg->state_dir, id);
	if ((fd = ag_sock_connect(dir, "attach.sock", &err)) < 0)
		return api_reply_error(req, 409, "conflict", NULL,
				       "container '%s' is not running (%s)", params[0], err.msg);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	struct attach_bridge *b = xcalloc(1, sizeof(*b));
	b->loop = cfg->loop;
	b->mon_fd = fd;
	b->linked = true;
	b->next = bridges;
	if (b->next)
		b->next->prev = b;
	bridges = b;
	api_reply_upgrade(req, bridge_upgraded, b);
}

static void bridges_close(void)
{
	while (bridges)
		bridge_end(bridges);
}
