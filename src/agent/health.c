/* health: per-container health checks driving starting/healthy/unhealthy, and the
 * restart of an unhealthy replica. */
#include "agent/health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/priv.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"

#define DEFAULT_INTERVAL_MS 30000
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_RETRIES 3

struct ag_health {
	struct ag_container *c;
	uv_timer_t *timer;
	struct check *cur;
	int failures;
	uint64_t started_ms;
	uint64_t interval_ms, timeout_ms, start_period_ms;
	int retries;
	json_t *hc; /* the spec's healthcheck (borrowed from the record) */
};

/* One check in flight. It outlives its ag_health when that is stopped meanwhile
 * (h = NULL): it then only closes its handles. */
struct check {
	struct ag_health *h;
	uv_tcp_t tcp;
	uv_connect_t conn;
	uv_write_t wr;
	uv_timer_t to;
	int open;
	bool http, done;
	char req[512];
	char buf[256];
	size_t n;
};

int ag_http_status(const char *buf, size_t len)
{
	int code;
	char line[64];
	size_t n = len < sizeof(line) - 1 ? len : sizeof(line) - 1;

	memcpy(line, buf, n);
	line[n] = '\0';
	if (!memchr(line, '\n', n) && n < sizeof(line) - 1)
		return -1;
	if (sscanf(line, "HTTP/%*d.%*d %3d", &code) != 1 || code < 100 || code > 599)
		return -1;
	return code;
}

static void next_check(struct ag_health *h);
#define STARTING_PROBE_MS 250

static void set_status(struct ag_container *c, const char *status)
{
	if (c->health_status && streq(c->health_status, status))
		return;
	free(c->health_status);
	c->health_status = xstrdup(status);
	if (streq(status, "healthy") || streq(status, "unhealthy"))
		ag_container_backend(c, streq(status, "healthy") ? AG_BACKEND_HEALTHY
								 : AG_BACKEND_UNHEALTHY);
	_cleanup_free_ char *action = xasprintf("health_status: %s", status);
	ag_emit(c->a, "container", action, c->id,
		json_pack("{s:s,s:s?}", "name", c->name, "workload", c->workload));
}

static void result(struct ag_health *h, bool ok)
{
	struct ag_container *c = h->c;
	struct err err = { 0 };

	h->cur = NULL;
	if (ok) {
		h->failures = 0;
		set_status(c, "healthy");
	} else if (streq(c->health_status, "starting") &&
		   ag_mono_ms() - h->started_ms < MAX(h->start_period_ms, h->interval_ms)) {
		/* failures in the start period do not count, nor those of the quick probes
		 * before the first regular check */
	} else if (++h->failures >= h->retries) {
		set_status(c, "unhealthy");
		/* out of its ports' backend sets (when networking is integrated) goes with
		 * the stop; it comes back through the restart logic whatever the policy */
		c->force_restart = true;
		if (ag_container_stop(c, 10000, false, NULL, NULL, &err) < 0)
			log_warn("%s", err.msg);
		return;
	}
	next_check(h);
}

/* ---- tcp and http ---- */

static void check_closed(uv_handle_t *hd)
{
	struct check *k = hd->data;

	if (--k->open == 0)
		free(k);
}

static void check_end(struct check *k, bool ok)
{
	if (k->done)
		return;
	k->done = true;
	uv_close((uv_handle_t *)&k->tcp, check_closed);
	uv_close((uv_handle_t *)&k->to, check_closed);
	if (k->h)
		result(k->h, ok);
}

static void check_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *b)
{
	struct check *k = hd->data;
	b->base = k->buf + k->n;
	b->len = sizeof(k->buf) - 1 - k->n;
}

static void check_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct check *k = s->data;
	int code;

	if (n < 0) {
		check_end(k, false);
		return;
	}
	k->n += (size_t)n;
	code = ag_http_status(k->buf, k->n);
	if (code >= 0)
		check_end(k, code >= 200 && code < 400);
	else if (k->n >= sizeof(k->buf) - 1)
		check_end(k, false);
}

static void check_written(uv_write_t *w, int status)
{
	struct check *k = w->data;

	if (status < 0)
		check_end(k, false);
	else if (!k->done)
		uv_read_start((uv_stream_t *)&k->tcp, check_alloc, check_read);
}

static void check_connected(uv_connect_t *cr, int status)
{
	struct check *k = cr->data;

	if (status < 0 || !k->http) {
		check_end(k, status == 0);
		return;
	}
	uv_buf_t b = uv_buf_init(k->req, (unsigned)strlen(k->req));
	k->wr.data = k;
	if (uv_write(&k->wr, (uv_stream_t *)&k->tcp, &b, 1, check_written) < 0)
		check_end(k, false);
}

static void check_timeout(uv_timer_t *t) { check_end(t->data, false); }

/* A socket in the container's network namespace: this thread enters it just long
 * enough to make the socket (a socket keeps the namespace it was made in). */
static int socket_in_netns(pid_t pid)
{
	char path[64];
	int self, target, fd = -1, r;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	if ((target = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if ((self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0) {
		r = -errno;
		close(target);
		return r;
	}
	if (setns(target, CLONE_NEWNET) == 0) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		r = fd < 0 ? -errno : 0;
		if (setns(self, CLONE_NEWNET) < 0) {
			/* the loop thread must not stay in a container's namespace */
			log_error("health: cannot return to the host network namespace: %s", strerror(errno));
			abort();
		}
	} else {
		r = -errno;
	}
	close(self);
	close(target);
	return fd >= 0 ? fd : r;
}

static const char *container_ip(struct ag_container *c, char *buf, size_t len)
{
	_cleanup_free_ char *netf = xasprintf("%s/net.json", c->dir);
	_cleanup_json_ json_t *net = json_load_file(netf, 0, NULL);
	const char *ip = json_string_value(json_object_get(net, "ip"));

	if (!ip)
		return NULL;
	snprintf(buf, len, "%s", ip);
	return buf;
}

static int start_tcp(struct ag_health *h, bool http)
{
	struct ag_container *c = h->c;
	struct agent *a = c->a;
	struct check *k = xcalloc(1, sizeof(*k));
	char ipbuf[64];
	const char *ip = container_ip(c, ipbuf, sizeof(ipbuf));
	int port = (int)json_integer_value(json_object_get(h->hc, "port"));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int r;

	if (port == 0)
		port = (int)json_integer_value(json_object_get(
			json_array_get(json_object_get(json_object_get(c->rec, "spec"), "ports"), 0),
			"container_port"));
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip ? ip : "127.0.0.1", &sa.sin_addr);
	k->h = h;
	k->http = http;
	snprintf(k->req, sizeof(k->req),
		 "GET %s HTTP/1.0\r\nHost: %s:%d\r\nUser-Agent: coop-health\r\nConnection: close\r\n\r\n",
		 json_string_value(json_object_get(h->hc, "path")) ?: "/", ip ? ip : "localhost", port);
	uv_tcp_init(a->loop, &k->tcp);
	uv_timer_init(a->loop, &k->to);
	k->tcp.data = k->to.data = k->conn.data = k;
	k->open = 2;
	h->cur = k;
	if (!ip) {
		int fd = socket_in_netns(c->init_pid);
		if (fd < 0 || (r = uv_tcp_open(&k->tcp, fd)) < 0) {
			if (fd >= 0)
				close(fd);
			check_end(k, false);
			return 0;
		}
	}
	uv_timer_start(&k->to, check_timeout, h->timeout_ms, 0);
	if ((r = uv_tcp_connect(&k->conn, &k->tcp, (struct sockaddr *)&sa, check_connected)) < 0)
		check_end(k, false);
	return 0;
}

/* ---- exec ---- */

struct exec_check {
	struct ag_health *h;
};

static void exec_done(void *ctx, int code, const struct err *err)
{
	struct exec_check *x = ctx;

	if (x->h)
		result(x->h, code == 0 && !err);
	free(x);
}

static void start_exec(struct ag_health *h)
{
	struct exec_check *x = xcalloc(1, sizeof(*x));
	_cleanup_strv_ char **argv = NULL;
	json_t *e;
	size_t i;
	struct err err = { 0 };

	json_array_foreach(json_object_get(h->hc, "command"), i, e)
		argv = strv_append(argv, json_string_value(e));
	x->h = h;
	h->cur = (struct check *)x; /* marks "in flight"; stop orphans it via exec_check */
	if (ag_exec_spawn(h->c, argv, NULL, NULL, NULL, h->timeout_ms, NULL, exec_done, x, &err) < 0) {
		free(x);
		result(h, false);
	}
}

/* ---- scheduling ---- */

static void run_check(uv_timer_t *t)
{
	struct ag_health *h = t->data;
	const char *type = json_string_value(json_object_get(h->hc, "type")) ?: "http";

	if (h->c->state != AG_RUNNING || h->c->init_pid <= 0)
		return;
	if (streq(type, "exec"))
		start_exec(h);
	else
		start_tcp(h, streq(type, "http"));
}

/* Until a replica is first healthy it is probed every STARTING_PROBE_MS (as Docker's
 * start_interval), so it takes traffic — and a replacement after a failover counts as
 * running — a moment after it answers, not a whole interval later. */
static void next_check(struct ag_health *h)
{
	bool starting = h->c->health_status && streq(h->c->health_status, "starting");
	uint64_t ms = starting ? MIN(h->interval_ms, STARTING_PROBE_MS) : h->interval_ms;

	uv_timer_start(h->timer, run_check, ms, 0);
}

static uint64_t ms_or(json_t *hc, const char *key, uint64_t dflt)
{
	json_int_t v = json_integer_value(json_object_get(hc, key));
	return v > 0 ? (uint64_t)v : dflt;
}

void ag_health_start(struct ag_container *c)
{
	json_t *hc = json_object_get(json_object_get(c->rec, "spec"), "healthcheck");
	struct ag_health *h;

	if (!json_is_object(hc) || c->health)
		return;
	h = xcalloc(1, sizeof(*h));
	h->c = c;
	h->hc = hc;
	h->interval_ms = ms_or(hc, "interval_ms", DEFAULT_INTERVAL_MS);
	h->timeout_ms = ms_or(hc, "timeout_ms", DEFAULT_TIMEOUT_MS);
	h->start_period_ms = ms_or(hc, "start_period_ms", 0);
	h->retries = (int)ms_or(hc, "retries", DEFAULT_RETRIES);
	h->started_ms = ag_mono_ms();
	h->timer = xcalloc(1, sizeof(*h->timer));
	uv_timer_init(c->a->loop, h->timer);
	h->timer->data = h;
	c->health = h;
	free(c->health_status);
	c->health_status = xstrdup("starting");
	next_check(h);
}

static void free_handle(uv_handle_t *hd) { free(hd); }

void ag_health_stop(struct ag_container *c)
{
	struct ag_health *h = c->health;
	const char *type;

	if (!h)
		return;
	type = json_string_value(json_object_get(h->hc, "type")) ?: "http";
	if (h->cur) {
		if (streq(type, "exec"))
			((struct exec_check *)h->cur)->h = NULL;
		else
			h->cur->h = NULL;
	}
	uv_close((uv_handle_t *)h->timer, free_handle);
	free(h);
	c->health = NULL;
}
