/* run: `coop run`, `coop logs`, `coop exec` — the verbs that start things and stream
 * their output back. `run --image` asks the daemon for a one-replica workload named
 * after the container (POST /v1/containers) and, without -d, follows its logs until
 * it exits and returns its exit code. */
#include "cli/run.h"

#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>

#include "api/frame.h"

#include "base/js.h"
#include "base/util.h"
#include "cli/ctl.h"
#include "image/auth.h"
#include "state/bun.h"

static void client_freep(struct api_client **c) { api_client_free(*c); }
#define _cleanup_client_ _cleanup_(client_freep)

/* ---- logs output ---- */

struct log_state {
	int exit; /* from the stream's last line; INT32_MIN when not seen */
};

static int print_log_line(void *ctx, json_t *line)
{
	struct log_state *st = ctx;
	json_t *e = json_object_get(line, "exit");
	if (e) {
		st->exit = json_integer_value(e);
		return 0;
	}
	const char *l = json_string_value(json_object_get(line, "l"));
	const char *s = json_string_value(json_object_get(line, "s"));
	FILE *out = s && streq(s, "stderr") ? stderr : stdout;
	if (!l)
		return 0;
	fputs(l, out);
	if (!json_is_true(json_object_get(line, "p")))
		fputc('\n', out);
	fflush(out);
	return 0;
}

struct logs_opts {
	bool follow;
	const char *tail, *since;
};

static int logs_opt(int c, const char *arg, void *ctx)
{
	struct logs_opts *o = ctx;
	switch (c) {
	case 'f': o->follow = true; break;
	case 'n':
		if (!*arg || strspn(arg, "0123456789") != strlen(arg)) {
			if (streq(arg, "all")) {
				o->tail = NULL;
				break;
			}
			return ctl_usage("logs", "--tail: expected a number of lines, got '%s'", arg), -1;
		}
		o->tail = arg;
		break;
	case 's': o->since = arg; break;
	}
	return 0;
}

static int follow_logs(struct api_client *cl, const char *ref, const char *query,
		       struct log_state *st, struct err *err)
{
	_cleanup_free_ char *p = ctl_path("/v1/containers", ref, "/logs");
	_cleanup_free_ char *path = xasprintf("%s%s", p, query);
	return api_stream(cl, "GET", path, NULL, print_log_line, st, err);
}

int run_cmd_logs(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "tail", required_argument, NULL, 'n' },
		{ "since", required_argument, NULL, 's' },
		CTL_HELP_OPT,
		{ 0 },
	};
	struct logs_opts o = { 0 };
	_cleanup_client_ struct api_client *cl = NULL;
	struct err err = { 0 };
	struct log_state st = { INT32_MIN };
	PARSE("fn:", longs, logs_opt, &o,
	      "Usage: coop logs [-f] [--tail N] [--since TIME] ID|NAME\n"
	      "Print a container's output: its stdout to stdout, its stderr to stderr. The\n"
	      "daemon keeps the last few files of it (rotated by size); -f follows new output\n"
	      "across rotations until the container exits.\n\n"
	      "  -f, --follow        keep printing new output\n"
	      "  -n, --tail N        only the last N lines (default all)\n"
	      "      --since TIME    only lines from TIME on: 2024-05-01T10:00:00Z, a duration\n"
	      "                      ago (10m, 1h30m) or seconds since the epoch\n\n"
	      "Examples:\n"
	      "  coop logs --tail 20 web-1\n"
	      "  coop logs -f --since 5m web-1\n");
	if (!ctl_operands(argc, argv, first, 1, 1, "container ID or name"))
		return 2;
	_cleanup_free_ char *since = o.since ? api_escape(o.since) : NULL;
	_cleanup_free_ char *q = xasprintf("?follow=%d%s%s%s%s", o.follow, o.tail ? "&tail=" : "",
					   o.tail ? o.tail : "", since ? "&since=" : "",
					   since ? since : "");
	if (ctl_client(&cl, &err) < 0 || follow_logs(cl, argv[first], q, &st, &err) < 0)
		return ctl_fail(&err);
	return 0;
}

/* ---- exec ---- */

struct exec_opts {
	char **env;
	const char *user, *cwd;
	bool tty, stdin;
};

static int exec_opt(int c, const char *arg, void *ctx)
{
	struct exec_opts *o = ctx;
	switch (c) {
	case 'e':
		if (!strchr(arg, '=') || arg[0] == '=')
			return ctl_usage("exec", "-e: expected KEY=value, got '%s'", arg), -1;
		o->env = strv_append(o->env, arg);
		break;
	case 'u': o->user = arg; break;
	case 'w': o->cwd = arg; break;
	case 'i': o->stdin = true; break;
	case 't': o->tty = true; break;
	}
	return 0;
}

static int attach_opt(int c, const char *arg, void *ctx)
{
	if (c == 'n')
		*(bool *)ctx = true;
	return 0;
}

/* ---- interactive exec: the local terminal and the upgraded stream ----
 * The terminal goes raw (with -it on a terminal) and is restored on every way out:
 * return, exit, and the signals that end us. SIGWINCH becomes a resize frame; it is
 * blocked except inside ppoll, so none is lost between a check and the wait. */

static struct termios saved_tio;
static volatile sig_atomic_t tio_raw, winch;

static void tty_restore(void)
{
	if (tio_raw) {
		tcsetattr(0, TCSANOW, &saved_tio);
		tio_raw = 0;
	}
}

static void on_fatal_signal(int sig)
{
	tty_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_winch(int sig) { winch = 1; }

static int tty_raw(struct err *err)
{
	static const int fatal[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE };
	struct termios raw;

	if (tcgetattr(0, &saved_tio) < 0)
		return err_sys(err, errno, "read the terminal's settings");
	raw = saved_tio;
	cfmakeraw(&raw);
	for (size_t i = 0; i < ARRAY_SIZE(fatal); i++)
		signal(fatal[i], on_fatal_signal);
	atexit(tty_restore);
	if (tcsetattr(0, TCSANOW, &raw) < 0)
		return err_sys(err, errno, "put the terminal in raw mode");
	tio_raw = 1;
	return 0;
}

struct isession {
	struct api_conn *k;
	struct api_frame_dec dec;
	bool tty, stdin_open, eof;
	bool detach_keys;     /* attach: Ctrl-P Ctrl-Q leaves the container running */
	bool ctrl_p, detached; /* a ^P held back; the keys were typed */
	bool output;           /* some output came */
	int exit; /* INT32_MIN until the exit frame */
};

static void write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= n;
	}
}

static int on_frame_out(void *ctx, enum api_frame_type t, const uint8_t *p, size_t len)
{
	struct isession *s = ctx;
	if (t == API_FRAME_STDOUT || t == API_FRAME_STDERR) {
		s->output = true;
		write_all(t == API_FRAME_STDOUT ? 1 : 2, p, len);
	} else if (t == API_FRAME_EXIT) {
		_cleanup_json_ json_t *j = json_loadb((const char *)p, len, 0, NULL);
		const char *msg = json_string_value(json_object_get(j, "error"));
		s->exit = json_is_integer(json_object_get(j, "exit"))
				  ? json_integer_value(json_object_get(j, "exit")) : -1;
		if (msg) {
			tty_restore();
			fprintf(stderr, "coop: %s\n", msg);
		}
	}
	return 0;
}

/* Everything the daemon sent so far (until the socket has no more). */
static int drain(struct isession *s, struct err *err)
{
	char buf[65536];
	for (;;) {
		size_t n = 0;
		int r = api_conn_recv(s->k, buf, sizeof(buf), &n, err);
		if (r == -EAGAIN)
			return 0;
		CHECK(r);
		if (n == 0) {
			s->eof = true;
			return 0;
		}
		CHECK(api_frame_feed(&s->dec, buf, n, on_frame_out, s, err));
	}
}

/* Sends a whole frame, reading what comes meanwhile (the daemon may be waiting for us
 * to read before it reads on). */
static int send_frame(struct isession *s, enum api_frame_type t, const void *p, size_t len,
		      struct err *err)
{
	_cleanup_free_ uint8_t *f = xmalloc(API_FRAME_HDR + len);
	size_t off = 0, total = API_FRAME_HDR + len;

	api_frame_header(f, t, len);
	memcpy(f + API_FRAME_HDR, p, len);
	while (off < total && !s->eof) {
		size_t n = 0;
		int r = api_conn_send(s->k, f + off, total - off, &n, err);
		if (r == -EAGAIN) {
			struct pollfd pf = { .fd = api_conn_fd(s->k), .events = POLLIN | POLLOUT };
			if (poll(&pf, 1, -1) > 0 && (pf.revents & POLLIN))
				CHECK(drain(s, err));
			continue;
		}
		CHECK(r);
		off += n;
	}
	return 0;
}

static void term_size(unsigned *rows, unsigned *cols)
{
	struct winsize ws = { 0 };
	if (ioctl(1, TIOCGWINSZ, &ws) < 0)
		ioctl(0, TIOCGWINSZ, &ws);
	*rows = ws.ws_row;
	*cols = ws.ws_col;
}

static int send_resize(struct isession *s, struct err *err)
{
	unsigned rows, cols;
	uint8_t f[API_FRAME_HDR + 4];

	term_size(&rows, &cols);
	if (!rows || !cols)
		return 0;
	api_frame_resize(f, rows, cols);
	return send_frame(s, API_FRAME_RESIZE, f + API_FRAME_HDR, 4, err);
}

/* Docker's detach keys, Ctrl-P Ctrl-Q: a ^P ending a read is held back until the next
 * byte says whether it was one. */
static int send_keys(struct isession *s, char *buf, size_t n, struct err *err)
{
	char *p = buf;

	if (s->ctrl_p) {
		s->ctrl_p = false;
		if (buf[0] == '\021') {
			s->detached = true;
			return 0;
		}
		CHECK(send_frame(s, API_FRAME_STDIN, "\020", 1, err));
	}
	while ((p = memchr(p, '\020', n - (size_t)(p - buf)))) {
		if ((size_t)(p - buf) + 1 == n) {
			s->ctrl_p = true;
			n--;
			break;
		}
		if (p[1] == '\021') {
			s->detached = true;
			n = (size_t)(p - buf);
			break;
		}
		p++;
	}
	return n ? send_frame(s, API_FRAME_STDIN, buf, n, err) : 0;
}

static int stdin_ready(struct isession *s, struct err *err)
{
	char buf[32768];
	ssize_t n = read(0, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n > 0 && s->detach_keys)
		return send_keys(s, buf, (size_t)n, err);
	if (n > 0)
		return send_frame(s, API_FRAME_STDIN, buf, n, err);
	s->stdin_open = false; /* the end of our stdin is the end of its */
	return send_frame(s, API_FRAME_CLOSE, NULL, 0, err);
}

static int relay(struct isession *s, struct err *err)
{
	sigset_t block, wait_mask;

	sigemptyset(&block);
	sigaddset(&block, SIGWINCH);
	sigprocmask(SIG_BLOCK, &block, &wait_mask);
	sigdelset(&wait_mask, SIGWINCH);
	if (s->tty)
		signal(SIGWINCH, on_winch);
	CHECK(drain(s, err));
	while (!s->eof && s->exit == INT32_MIN && !s->detached) { /* the exit frame is the last */
		struct pollfd pf[2] = { { .fd = api_conn_fd(s->k), .events = POLLIN },
					{ .fd = s->stdin_open ? 0 : -1, .events = POLLIN } };
		if (winch) {
			winch = 0;
			CHECK(send_resize(s, err));
		}
		if (ppoll(pf, 2, NULL, &wait_mask) < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(err, errno, "poll");
		}
		if (pf[0].revents)
			CHECK(drain(s, err));
		if (pf[1].revents && !s->eof)
			CHECK(stdin_ready(s, err));
	}
	return 0;
}

static int exec_interactive(const struct exec_opts *o, json_t *body, const char *path)
{
	_cleanup_client_ struct api_client *cl = NULL;
	struct isession s = { .tty = o->tty, .stdin_open = o->stdin, .exit = INT32_MIN };
	struct err err = { 0 };
	unsigned rows = 0, cols = 0;
	int r;

	if (o->tty && o->stdin && !isatty(0)) {
		fprintf(stderr, "coop: exec -it: the input is not a terminal (use -i alone)\n");
		return 1;
	}
	json_object_set_new(body, "tty", json_boolean(o->tty));
	json_object_set_new(body, "stdin", json_boolean(o->stdin));
	if (o->tty) {
		term_size(&rows, &cols);
		if (rows && cols) {
			json_object_set_new(body, "rows", json_integer(rows));
			json_object_set_new(body, "cols", json_integer(cols));
		}
	}
	if (ctl_client(&cl, &err) < 0 || api_upgrade(cl, "POST", path, body, &s.k, &err) < 0)
		return ctl_fail(&err);
	if (o->tty && o->stdin && (r = tty_raw(&err)) < 0) {
		api_conn_free(s.k);
		return ctl_fail(&err);
	}
	r = relay(&s, &err);
	tty_restore();
	api_conn_free(s.k);
	api_frame_dec_free(&s.dec);
	if (r < 0)
		return ctl_fail(&err);
	if (s.exit == INT32_MIN) {
		fprintf(stderr, "coop: the exec stream ended without an exit code\n");
		return 1;
	}
	return s.exit < 0 ? 1 : s.exit > 255 ? 255 : s.exit;
}

/* ---- attach: a container's terminal, held by its monitor (POST .../attach) ---- */

enum { ATTACH_DETACHED = -1000, ATTACH_LOST = -1001, ATTACH_MISSED = -1002 };

/* Relays our terminal (stdin when in) to ref's until it exits (*ret its exit code), we
 * detach with Ctrl-P Ctrl-Q (ATTACH_DETACHED) or the stream ends without an exit code
 * (ATTACH_LOST: the daemon went away, or the process ended as we came; ATTACH_MISSED:
 * the same, and not a byte of output came). */
static int attach_relay(struct api_client *cl, const char *ref, bool in, int *ret,
			struct err *err)
{
	struct isession s = { .tty = true, .stdin_open = in, .detach_keys = in && isatty(0),
			      .exit = INT32_MIN };
	_cleanup_free_ char *path = ctl_path("/v1/containers", ref, "/attach");
	_cleanup_json_ json_t *body = json_object();
	int r;

	CHECK(api_upgrade(cl, "POST", path, body, &s.k, err));
	r = in && isatty(0) ? tty_raw(err) : 0;
	if (r == 0)
		r = send_resize(&s, err); /* the container's terminal takes our size */
	if (r == 0)
		r = relay(&s, err);
	tty_restore();
	api_conn_free(s.k);
	api_frame_dec_free(&s.dec);
	if (r < 0)
		return r;
	*ret = s.detached	      ? ATTACH_DETACHED
	       : s.exit != INT32_MIN ? s.exit
	       : s.output	      ? ATTACH_LOST
				      : ATTACH_MISSED;
	return 0;
}

/* After a stream that ended without an exit code: 1 and *ret_code the exit code once
 * ref has ended, 0 if it still runs. The exit can reach the daemon after the stream
 * ended (a process that exits as we attach), so it is asked for up to 3 s. */
static int ended(struct api_client *cl, const char *ref, int *ret_code, struct err *err)
{
	for (int i = 0;; i++) {
		_cleanup_json_ json_t *c = NULL;
		_cleanup_free_ char *path = ctl_path("/v1/containers", ref, NULL);
		CHECK(api_call(cl, "GET", path, NULL, &c, err));
		if (json_is_integer(json_object_get(c, "exit_code")) &&
		    !streq(json_string_value(json_object_get(c, "status")) ?: "", "running")) {
			*ret_code = (int)json_integer_value(json_object_get(c, "exit_code"));
			return 1;
		}
		if (i >= 60)
			return 0;
		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
	}
}

/* The exit status for an attach's outcome (what coop exits with). *ret_code becomes the
 * exit code when the stream was lost but the container has ended. */
static int attach_outcome(struct api_client *cl, const char *ref, int *ret_code)
{
	struct err err = { 0 };
	int r;

	if (*ret_code == ATTACH_DETACHED) {
		fprintf(stderr, "\r\ncoop: detached from %s (coop attach %s to come back)\n", ref, ref);
		return 0;
	}
	if (*ret_code == ATTACH_LOST || *ret_code == ATTACH_MISSED) {
		if ((r = ended(cl, ref, ret_code, &err)) < 0)
			return ctl_fail(&err);
		if (r == 0)
			return fprintf(stderr, "coop: the attach stream ended; %s still runs "
					       "(coop attach %s)\n", ref, ref), 1;
	}
	return *ret_code < 0 ? 1 : *ret_code > 255 ? 255 : *ret_code;
}

int run_cmd_attach(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "no-stdin", no_argument, NULL, 'n' },
		CTL_HELP_OPT,
		{ 0 },
	};
	bool no_stdin = false;
	_cleanup_client_ struct api_client *cl = NULL;
	_cleanup_json_ json_t *c = NULL;
	struct err err = { 0 };
	int code;
	int first = ctl_parse(argc, argv, "+h", longs, attach_opt, &no_stdin,
			      "Usage: coop attach [--no-stdin] ID|NAME\n"
			      "Attach our terminal to a running container's (one started with -t, as\n"
			      "`coop run -it`): its output here, our keys there, window size changes\n"
			      "follow. coop exits with the container's exit code when it ends;\n"
			      "Ctrl-P Ctrl-Q detaches and leaves it running. Works across daemon\n"
			      "restarts: the container's monitor holds its terminal.\n\n"
			      "      --no-stdin  only watch: our keys are not sent\n\n"
			      "Examples:\n"
			      "  coop run -d -it --image busybox --name box -- sh\n"
			      "  coop attach box\n");
	if (first == -1)
		return 0;
	if (first < 0)
		return 2;
	if (!ctl_operands(argc, argv, first, 1, 1, "container ID or name"))
		return 2;
	_cleanup_free_ char *path = ctl_path("/v1/containers", argv[first], NULL);
	if (ctl_client(&cl, &err) < 0 || api_call(cl, "GET", path, NULL, &c, &err) < 0)
		return ctl_fail(&err);
	bool in = !no_stdin && json_is_true(json_object_get(c, "stdin"));
	if (attach_relay(cl, argv[first], in, &code, &err) < 0)
		return ctl_fail(&err);
	return attach_outcome(cl, argv[first], &code);
}

static int print_exec(void *ctx, json_t *line)
{
	struct log_state *st = ctx;
	json_t *e = json_object_get(line, "exit");
	const char *d = json_string_value(json_object_get(line, "data"));
	if (e) {
		st->exit = json_integer_value(e);
		const char *msg = json_string_value(json_object_get(line, "error"));
		if (msg)
			fprintf(stderr, "coop: %s\n", msg);
		return 0;
	}
	if (!d)
		return 0;
	char *out;
	size_t n;
	if (img_auth_base64_decode(d, &out, &n) < 0)
		return 0;
	FILE *f = json_integer_value(json_object_get(line, "stream")) == 2 ? stderr : stdout;
	fwrite(out, 1, n, f);
	fflush(f);
	free(out);
	return 0;
}

int run_cmd_exec(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "user", required_argument, NULL, 'u' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		CTL_HELP_OPT,
		{ 0 },
	};
	struct exec_opts o = { 0 };
	_cleanup_client_ struct api_client *cl = NULL;
	struct err err = { 0 };
	struct log_state st = { INT32_MIN };
	int first = ctl_parse(argc, argv, "+e:u:w:ith", longs, exec_opt, &o,
			      "Usage: coop exec [-it] [-e K=V]... [-u USER] [-w DIR] ID|NAME CMD [ARG...]\n"
			      "Run a command in a running container (its namespaces, cgroup and\n"
			      "environment), print its output and exit with its exit code.\n\n"
			      "  -i, --interactive  feed our stdin to the command\n"
			      "  -t, --tty          give it a terminal (with -i: ours goes raw meanwhile,\n"
			      "                     and window size changes follow)\n"
			      "  -e, --env K=V      add to the environment (repeatable)\n"
			      "  -u, --user USER    run as USER[:GROUP] (name or id; default the container's)\n"
			      "  -w, --workdir DIR  working directory\n"
			      "\nExamples:\n"
			      "  coop exec web-1 cat /etc/hostname\n"
			      "  coop exec -it web-1 sh\n"
			      "  echo hello | coop exec -i web-1 cat\n");
	_cleanup_strv_ char **env = o.env;
	if (first == -1)
		return 0;
	if (first < 0)
		return 2;
	if (!ctl_operands(argc, argv, first, 2, -1, "container and command"))
		return 2;
	json_t *argvj = json_array(), *envj = json_array();
	for (int i = first + 1; i < argc; i++)
		json_array_append_new(argvj, json_string(argv[i]));
	for (size_t i = 0; env && env[i]; i++)
		json_array_append_new(envj, json_string(env[i]));
	_cleanup_json_ json_t *body = json_pack("{s:o,s:o,s:s?,s:s?}", "argv", argvj, "env", envj,
						"user", o.user, "cwd", o.cwd);
	_cleanup_free_ char *path = ctl_path("/v1/containers", argv[first], "/exec");
	if (!body)
		return ctl_usage("exec", "%s", "arguments must be UTF-8");
	if (o.tty || o.stdin)
		return exec_interactive(&o, body, path);
	if (ctl_client(&cl, &err) < 0 || api_stream(cl, "POST", path, body, print_exec, &st, &err) < 0)
		return ctl_fail(&err);
	if (st.exit == INT32_MIN) {
		fprintf(stderr, "coop: the exec stream ended without an exit code\n");
		return 1;
	}
	return st.exit < 0 ? 1 : st.exit > 255 ? 255 : st.exit;
}

/* ---- run ---- */

struct run_opts {
	const char *image, *name, *vpc, *memory, *cpu, *disk, *user, *workdir, *stop_signal;
	char **volumes, **env, **ports;
	bool detach, rm, tty, stdin, replace, init;
};

static int run_opt(int c, const char *arg, void *ctx)
{
	struct run_opts *o = ctx;
	switch (c) {
	case 'I': o->image = arg; break;
	case 'N': o->name = arg; break;
	case 'V': o->vpc = arg; break;
	case 'v': o->volumes = strv_append(o->volumes, arg); break;
	case 'M': o->memory = arg; break;
	case 'C': o->cpu = arg; break;
	case 'D': o->disk = arg; break;
	case 'u': o->user = arg; break;
	case 'e': o->env = strv_append(o->env, arg); break;
	case 'w': o->workdir = arg; break;
	case 'p': o->ports = strv_append(o->ports, arg); break;
	case 'd': o->detach = true; break;
	case 'R': o->rm = true; break;
	case 'P': o->replace = true; break;
	case 'i': o->stdin = true; break;
	case 't': o->tty = true; break;
	case 'S': o->stop_signal = arg; break;
	case 'n': o->init = true; break;
	}
	return 0;
}

static const char run_help[] =
	"Usage: coop run [--replace] FILE.bun\n"
	"       coop run --image IMAGE [OPTIONS] [--] [CMD [ARG...]]\n\n"
	"Run a workload described by a .bun file (its replicas, ports, volumes, health check,\n"
	"restart policy), or one container from an image. A container runs in the\n"
	"foreground (its output here, coop exits with its exit code) unless -d.\n"
	"In a cluster (coop init) a .bun workload's replicas are placed on the nodes, and\n"
	"coop waits (up to 5 minutes) until they run, showing where; --image containers\n"
	"run on this node.\n\n"
	"  --image IMAGE            the image (pulled if it is not in the store)\n"
	"  --name NAME              the container's name (default IMAGE-xxxxxx)\n"
	"  --vpc VPC                attach to this VPC (default: the default network)\n"
	"  -v, --volume SRC:DST[:ro]  bind a host path (absolute or ./relative) or a named\n"
	"                           volume (created under /var/lib/coop/volumes) (repeatable)\n"
	"  --memory SIZE            memory limit: 512m, 1g\n"
	"  --cpu N                  CPUs: 0.5, 2\n"
	"  --disk SIZE              limit on the container's writable layer: 512M, 1G (min 16M)\n"
	"  -u, --user USER[:GROUP]  run as this user (name or id)\n"
	"  -e, --env K=V            set an environment variable (repeatable)\n"
	"  -w, --dir DIR            working directory\n"
	"  -p HOST:CONTAINER[/udp]  publish a container port on a host port (repeatable)\n"
	"  -d, --detach             start it and return (prints the name); in a cluster,\n"
	"                           (.bun) do not wait for the replicas to run\n"
	"  -i, --interactive        with -t: our keys go to the container (its stdin)\n"
	"  -t, --tty                give it a terminal, attached to ours: Docker's\n"
	"                           `run -it IMAGE sh`; Ctrl-P Ctrl-Q detaches (see coop attach)\n"
	"      --stop-signal SIG    what coop stop sends first (default: the image's\n"
	"                           StopSignal, else SIGTERM; SIGKILL after the timeout)\n"
	"      --init               a minimal init as PID 1: passes signals on to CMD (a\n"
	"                           shell as PID 1 ignores SIGTERM) and reaps orphans\n"
	"      --rm                 remove the container when it exits\n"
	"      --replace            (.bun) update an existing workload of that name\n\n"
	"Examples:\n"
	"  coop run examples/web.bun\n"
	"  coop run --image busybox --rm -- echo hello\n"
	"  coop run -it --rm --image busybox -- sh\n"
	"  coop run -d --image coop-demo/httpd:1 --name web -p 8080:80 --memory 64m\n";

/* Whether the daemon belongs to a cluster: GET /v1/cluster answers (a daemon that
 * runs alone answers 404 not_clustered; an older one 404 no such endpoint). */
static bool cluster_mode(struct api_client *cl)
{
	struct err err = { 0 };
	return ctl_cluster_member(cl, NULL, &err);
}

/* Cluster mode: the workload's replicas are tasks the scheduler places on nodes; waits
 * (up to 5 minutes, as for a container) until `want` of them run, printing each task's
 * state as it changes. */
static int wait_tasks(struct api_client *cl, const char *name, int want, struct err *err)
{
	_cleanup_json_ json_t *seen = json_object(); /* task id -> "state node message" */
	_cleanup_free_ char *e = api_escape(name);
	_cleanup_free_ char *path = xasprintf("/v1/tasks?workload=%s", e);
	json_int_t running = 0;

	for (int i = 0; i < 3000; i++) {
		_cleanup_json_ json_t *ts = NULL;
		size_t k;
		json_t *t;
		int r = api_call(cl, "GET", path, NULL, &ts, err);
		if (r < 0)
			return r;
		running = 0;
		json_array_foreach(ts, k, t)
		{
			const char *id = json_string_value(json_object_get(t, "id")) ?: "?";
			const char *obs = json_string_value(json_object_get(t, "observed")) ?: "";
			const char *des = json_string_value(json_object_get(t, "desired")) ?: "";
			const char *node = json_string_value(json_object_get(t, "node"));
			const char *msg = json_string_value(json_object_get(t, "message"));
			const char *ip = json_string_value(json_object_get(t, "ip"));
			if (!streq(des, "running"))
				continue;
			running += streq(obs, "running");
			_cleanup_free_ char *now = xasprintf("%s %s %s", obs, node ?: "-", msg ?: "");
			if (streq(json_string_value(json_object_get(seen, id)) ?: "", now))
				continue;
			json_object_set_new(seen, id, json_string(now));
			bool up = streq(obs, "running");
			_cleanup_free_ char *where = node ? xasprintf(" on %s", node) : xstrdup("");
			_cleanup_free_ char *addr = up && ip ? xasprintf(" (%s)", ip) : xstrdup("");
			printf("  %s: %s%s%s%s%s\n", id, node ? obs : "waiting for a node", where, addr,
			       msg ? ": " : "", msg ?: "");
			fflush(stdout);
		}
		if (running >= want)
			return 0;
		struct timespec ts2 = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts2, NULL);
	}
	return err_msg(err, ETIMEDOUT,
		       "workload '%s': %" JSON_INTEGER_FORMAT " of %d replicas running after 5 minutes (see coop tasks %s)",
		       name, running, want, name);
}

static int run_bun(struct api_client *cl, const char *file, bool replace, bool detach)
{
	struct bun_spec *spec = NULL;
	struct err err = { 0 };
	_cleanup_json_ json_t *out = NULL;

	if (bun_parse_file(file, &spec, &err) < 0)
		return ctl_fail(&err);
	for (size_t i = 0; spec->warnings && spec->warnings[i]; i++)
		fprintf(stderr, "coop: warning: %s\n", spec->warnings[i]);
	_cleanup_json_ json_t *body = bun_to_json(spec);
	int reps = spec->replicas_min;
	bun_spec_free(spec);
	if (!body)
		return fprintf(stderr, "coop: %s: cannot encode the workload\n", file), 1;
	bool clustered = cluster_mode(cl);
	if (api_call(cl, "POST", replace ? "/v1/workloads?replace=1" : "/v1/workloads", body, &out,
		     &err) < 0)
		return ctl_fail(&err);
	const char *name = json_string_value(json_object_get(body, "name"));
	if (!clustered) {
		printf("workload %s: %d replica%s (see coop ps)\n", name, reps, reps == 1 ? "" : "s");
		return 0;
	}
	printf("workload %s: %d replica%s (see coop tasks %s)\n", name, reps, reps == 1 ? "" : "s",
	       name);
	fflush(stdout);
	if (!detach && wait_tasks(cl, name, reps, &err) < 0)
		return ctl_fail(&err);
	return 0;
}

static json_t *strv_json(char **v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* Relative bind sources ("./data:/data") are the user's cwd's: the daemon has another. */
static char *abs_volume(const char *v)
{
	if (v[0] != '.' )
		return xstrdup(v);
	const char *colon = strchr(v, ':');
	if (!colon)
		return xstrdup(v);
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		return xstrdup(v);
	_cleanup_free_ char *src = strndup(v, colon - v);
	_cleanup_free_ char *rp = realpath(src, NULL);
	return rp ? xasprintf("%s%s", rp, colon) : xasprintf("%s/%s", cwd, v);
}

static json_t *run_body(struct run_opts *o, int argc, char **argv, int first)
{
	json_t *b = json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:b}", "image", o->image,
			      "name", o->name, "vpc", o->vpc, "memory", o->memory, "cpu", o->cpu,
			      "disk", o->disk, "user", o->user, "workdir", o->workdir,
			      /* in the foreground we remove it ourselves, once we have its exit
			       * code: a daemon-side --rm could race our first look at it */
			      "rm", o->rm && o->detach);
	if (!b)
		return NULL;
	json_t *vols = json_array();
	for (size_t i = 0; o->volumes && o->volumes[i]; i++) {
		_cleanup_free_ char *v = abs_volume(o->volumes[i]);
		json_array_append_new(vols, json_string(v));
	}
	json_object_set_new(b, "volumes", vols);
	json_object_set_new(b, "env", strv_json(o->env));
	json_object_set_new(b, "ports", strv_json(o->ports));
	if (o->tty) {
		json_object_set_new(b, "tty", json_true());
		json_object_set_new(b, "stdin", json_boolean(o->stdin));
	}
	if (o->init)
		json_object_set_new(b, "init", json_true());
	if (o->stop_signal)
		json_object_set_new(b, "stop_signal", json_string(o->stop_signal));
	if (first < argc) {
		json_t *cmd = json_array();
		for (int i = first; i < argc; i++)
			json_array_append_new(cmd, json_string(argv[i]));
		json_object_set_new(b, "command", cmd);
	}
	return b;
}

/* The first container of workload name, once the daemon has made it; fails with the
 * workload's error (a failed pull) if it has one. */
static int wait_container(struct api_client *cl, const char *name, char **ret, struct err *err)
{
	for (int i = 0; i < 3000; i++) {
		_cleanup_json_ json_t *ws = NULL;
		size_t k;
		json_t *w;
		/* ?local: this node's workloads, in a cluster too */
		int r = api_call(cl, "GET", "/v1/workloads?local=1", NULL, &ws, err);
		if (r < 0)
			return r;
		json_array_foreach(ws, k, w)
		{
			if (!streq(json_string_value(json_object_get(w, "name")) ?: "", name))
				continue;
			const char *e = json_string_value(json_object_get(w, "error"));
			if (e)
				return err_msg(err, EIO, "%s", e);
			const char *id = json_string_value(json_array_get(json_object_get(w, "containers"), 0));
			if (id) {
				*ret = xstrdup(id);
				return 0;
			}
		}
		ctl_poll_pause(i);
	}
	return err_msg(err, ETIMEDOUT, "container of '%s' not created after 5 minutes", name);
}

static void remove_run(struct api_client *cl, const char *name)
{
	_cleanup_free_ char *path = ctl_path("/v1/workloads", name, NULL);
	struct err e2 = { 0 };
	if (api_call(cl, "DELETE", path, NULL, NULL, &e2) == 0)
		ctl_workload_wait_gone(cl, name, &e2);
}

/* run --rm in the foreground, once the container has ended: DELETE of the container
 * answers when it is removed, and takes its `coop run` workload with it — one request,
 * where removing the workload meant polling until its container was gone. When the
 * daemon's own --rm got there first (409 "being removed", or 404), the workload goes as
 * before and we wait for its container. */
static void remove_ended(struct api_client *cl, const char *name, const char *id)
{
	_cleanup_free_ char *path = ctl_path("/v1/containers", id, "?force=1");
	struct err e = { 0 };

	if (api_call(cl, "DELETE", path, NULL, NULL, &e) == 0)
		return;
	_cleanup_free_ char *wpath = ctl_path("/v1/workloads", name, NULL);
	api_call(cl, "DELETE", wpath, NULL, NULL, &e);
	ctl_workload_wait_gone(cl, name, &e);
}

static int run_foreground(struct api_client *cl, const char *name, bool rm);

/* `coop run -t`: attaches to the container's terminal as soon as its monitor serves
 * it; a process that was over before that is followed through its logs instead. */
static int run_attached(struct api_client *cl, const char *name, bool in, bool rm)
{
	_cleanup_free_ char *id = NULL;
	struct err err = { 0 };
	int code = 0;

	if (wait_container(cl, name, &id, &err) < 0)
		return ctl_fail(&err);
	for (int i = 0;; i++) {
		_cleanup_json_ json_t *c = NULL;
		_cleanup_free_ char *path = ctl_path("/v1/containers", id, NULL);
		if (api_call(cl, "GET", path, NULL, &c, &err) < 0)
			return ctl_fail(&err);
		const char *st = json_string_value(json_object_get(c, "status")) ?: "";
		if (!streq(st, "created") && !streq(st, "running"))
			return run_foreground(cl, name, rm);
		struct err e2 = { 0 };
		if (attach_relay(cl, id, in, &code, &e2) == 0) {
			/* over before we came, its output not seen: its log has it */
			if (code == ATTACH_MISSED && ended(cl, id, &code, &e2) == 1)
				return run_foreground(cl, name, rm);
			break;
		}
		if (i >= 100) /* 5 s: the monitor should have served it long ago */
			return ctl_fail(&e2);
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	int r = attach_outcome(cl, id, &code);
	if (rm && code != ATTACH_DETACHED && code != ATTACH_LOST && code != ATTACH_MISSED)
		remove_run(cl, name);
	return r;
}

static int run_foreground(struct api_client *cl, const char *name, bool rm)
{
	_cleanup_free_ char *id = NULL;
	struct log_state st = { INT32_MIN };
	struct err err = { 0 };

	if (wait_container(cl, name, &id, &err) < 0 ||
	    follow_logs(cl, id, "?follow=1", &st, &err) < 0)
		return ctl_fail(&err);
	if (st.exit == INT32_MIN) {
		_cleanup_json_ json_t *c = NULL;
		_cleanup_free_ char *path = ctl_path("/v1/containers", id, NULL);
		if (api_call(cl, "GET", path, NULL, &c, &err) == 0 &&
		    json_is_integer(json_object_get(c, "exit_code")))
			st.exit = json_integer_value(json_object_get(c, "exit_code"));
	}
	if (rm) /* we remove it: the exit code is ours now */
		remove_ended(cl, name, id);
	if (st.exit == INT32_MIN) {
		fprintf(stderr, "coop: %s: the exit code is unknown\n", name);
		return 1;
	}
	return st.exit < 0 ? 1 : st.exit > 255 ? 255 : st.exit;
}

int run_cmd_run(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "image", required_argument, NULL, 'I' },  { "name", required_argument, NULL, 'N' },
		{ "vpc", required_argument, NULL, 'V' },    { "volume", required_argument, NULL, 'v' },
		{ "memory", required_argument, NULL, 'M' }, { "cpu", required_argument, NULL, 'C' },
		{ "cpus", required_argument, NULL, 'C' },   { "disk", required_argument, NULL, 'D' },
		{ "user", required_argument, NULL, 'u' },   { "env", required_argument, NULL, 'e' },
		{ "dir", required_argument, NULL, 'w' },    { "workdir", required_argument, NULL, 'w' },
		{ "publish", required_argument, NULL, 'p' }, { "detach", no_argument, NULL, 'd' },
		{ "rm", no_argument, NULL, 'R' },           { "replace", no_argument, NULL, 'P' },
		{ "interactive", no_argument, NULL, 'i' },  { "tty", no_argument, NULL, 't' },
		{ "stop-signal", required_argument, NULL, 'S' },
		{ "init", no_argument, NULL, 'n' },
		CTL_HELP_OPT,
		{ 0 },
	};
	struct run_opts o = { 0 };
	_cleanup_client_ struct api_client *cl = NULL;
	_cleanup_json_ json_t *out = NULL;
	struct err err = { 0 };
	int first = ctl_parse(argc, argv, "+v:u:e:w:p:ditmh", longs, run_opt, &o, run_help);
	_cleanup_strv_ char **volumes = o.volumes, **env = o.env, **ports = o.ports;
	if (first == -1)
		return 0;
	if (first < 0)
		return 2;
	if (o.stdin && !o.tty) {
		fprintf(stderr, "coop: run -i without -t is not supported (stdin is given through a "
				"terminal): use -it, or -d then `coop exec -i NAME CMD`\n");
		return 1;
	}
	if (o.tty && !o.image) {
		fprintf(stderr, "coop: run -t needs --image (a .bun workload has no terminal)\n");
		return 1;
	}
	if (o.tty && o.stdin && !o.detach && !isatty(0)) {
		fprintf(stderr, "coop: run -it: the input is not a terminal (use -t alone, or -d "
				"then `coop exec -i`)\n");
		return 1;
	}
	if (o.disk) {
		struct err e = { 0 };
		int64_t bytes;
		if (!o.image) {
			fprintf(stderr, "coop: --disk goes with --image (a .bun sets resources.disk)\n");
			return 1;
		}
		if (bun_disk_bytes(o.disk, &bytes, &e) < 0) {
			fprintf(stderr, "coop: --disk: %s\n", e.msg);
			return 1;
		}
	}
	if (!o.image) {
		if (!ctl_operands(argc, argv, first, 1, 1, "FILE.bun or --image IMAGE"))
			return 2;
		if (ctl_client(&cl, &err) < 0)
			return ctl_fail(&err);
		return run_bun(cl, argv[first], o.replace, o.detach);
	}
	_cleanup_json_ json_t *body = run_body(&o, argc, argv, first);
	if (!body)
		return ctl_usage("run", "%s", "arguments must be UTF-8");
	if (ctl_client(&cl, &err) < 0)
		return ctl_fail(&err);
	if (api_call(cl, "POST", "/v1/containers", body, &out, &err) < 0)
		return ctl_fail(&err);
	const char *name = json_string_value(json_object_get(out, "name"));
	if (!name)
		name = json_string_value(json_object_get(json_object_get(out, "spec"), "name")) ?: "";
	if (o.detach) {
		printf("%s\n", name);
		return 0;
	}
	if (o.tty)
		return run_attached(cl, name, o.stdin, o.rm);
	return run_foreground(cl, name, o.rm);
}
