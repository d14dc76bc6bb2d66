/* ctl: `coop ps|status|inspect|stop|rm|metrics|events|version|token|workload` — and the
 * dispatch of run/logs/exec (cli/run.c). Every verb talks to the daemon through
 * api/client; reads print aligned tables for people and `-o json` for scripts; errors
 * are one line "coop: ..." (exit 1), usage errors exit 2. */
#include "cli/ctl.h"
#include "cli/opts.h"

#include <inttypes.h>
#include <time.h>

#include "api/routes_cluster.h"
#include "base/js.h"
#include "base/util.h"
#include "cli/cluster.h"
#include "cli/run.h"
#include "state/bun.h"

#ifndef COOP_VERSION
#define COOP_VERSION "0.1.0"
#endif

static struct api_client_opts G;

int ctl_fail(const struct err *e)
{
	fprintf(stderr, "coop: %s\n", e->msg);
	return 1;
}

int ctl_usage(const char *verb, const char *fmt, const char *arg)
{
	return cli_usage("coop", verb, fmt, arg);
}

int ctl_parse(int argc, char **argv, const char *shorts, const struct option *longs,
	      ctl_opt_fn fn, void *ctx, const char *help)
{
	return cli_parse("coop", argc, argv, shorts, longs, fn, ctx, help);
}

bool ctl_operands(int argc, char **argv, int first, int lo, int hi, const char *what)
{
	return cli_operands("coop", argc, argv, first, lo, hi, what);
}

int ctl_client(struct api_client **ret, struct err *err)
{
	return api_client_new(&G, ret, err);
}

static void client_freep(struct api_client **c) { api_client_free(*c); }
#define _cleanup_client_ _cleanup_(client_freep)

void ctl_print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
}

char *ctl_path(const char *prefix, const char *ref, const char *suffix)
{
	_cleanup_free_ char *e = api_escape(ref);
	return xasprintf("%s/%s%s", prefix, e, suffix ? suffix : "");
}

/* ---- tables ---- */

void ctl_table_row(struct ctl_table *t, ...)
{
	va_list ap;
	va_start(ap, t);
	t->cells = xrealloc(t->cells, (t->rows + 1) * t->cols * sizeof(char *));
	for (size_t i = 0; i < t->cols; i++) {
		const char *s = va_arg(ap, const char *);
		t->cells[t->rows * t->cols + i] = xstrdup(s ? s : "");
	}
	t->rows++;
	va_end(ap);
}

void ctl_table_print(struct ctl_table *t, bool header)
{
	size_t *w = xcalloc(t->cols, sizeof(*w));
	for (size_t r = header ? 0 : 1; r < t->rows; r++)
		for (size_t c = 0; c < t->cols; c++)
			if (strlen(t->cells[r * t->cols + c]) > w[c])
				w[c] = strlen(t->cells[r * t->cols + c]);
	for (size_t r = header ? 0 : 1; r < t->rows; r++) {
		for (size_t c = 0; c < t->cols; c++) {
			const char *s = t->cells[r * t->cols + c];
			if (c + 1 == t->cols)
				printf("%s\n", s);
			else
				printf("%-*s   ", (int)w[c], s);
		}
	}
	for (size_t i = 0; i < t->rows * t->cols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(w);
}

const char *ctl_jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

void ctl_human_size(double v, char *buf, size_t n)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t i = 0;
	while (v >= 1024 && i + 1 < ARRAY_SIZE(u)) {
		v /= 1024;
		i++;
	}
	snprintf(buf, n, i ? "%.1f%s" : "%.0f%s", v, u[i]);
}

/* "2024-05-01T10:00:00Z" -> "5 minutes ago" */
static void ago(const char *t, char *buf, size_t n)
{
	struct tm tm = { 0 };
	if (!t || !strptime(t, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, n, "%s", t ? t : "");
		return;
	}
	long d = (long)difftime(time(NULL), timegm(&tm));
	if (d < 60)
		snprintf(buf, n, "%ld seconds ago", d < 0 ? 0 : d);
	else if (d < 3600)
		snprintf(buf, n, "%ld minutes ago", d / 60);
	else if (d < 86400)
		snprintf(buf, n, "%ld hours ago", d / 3600);
	else
		snprintf(buf, n, "%ld days ago", d / 86400);
}

static char *ports_text(json_t *ports)
{
	char *out = xstrdup("");
	size_t i;
	json_t *p;
	json_array_foreach(ports, i, p)
	{
		json_int_t h = json_integer_value(json_object_get(p, "host_port"));
		char *n = h ? xasprintf("%s%s%" JSON_INTEGER_FORMAT "->%" JSON_INTEGER_FORMAT "/%s",
					out, *out ? ", " : "", h,
					json_integer_value(json_object_get(p, "container_port")),
					ctl_jstr(p, "protocol"))
			    : xasprintf("%s%s%" JSON_INTEGER_FORMAT "/%s", out, *out ? ", " : "",
					json_integer_value(json_object_get(p, "container_port")),
					ctl_jstr(p, "protocol"));
		free(out);
		out = n;
	}
	return out;
}

static void status_text(json_t *c, char *buf, size_t n)
{
	const char *st = ctl_jstr(c, "status");
	char when[64];
	if (streq(st, "running")) {
		ago(ctl_jstr(c, "started_at"), when, sizeof(when));
		snprintf(buf, n, "Up since %s", when);
		if (strstr(buf, " ago"))
			snprintf(buf, n, "Up (started %s)", when);
	} else if (streq(st, "exited") && json_object_get(c, "exit_code")) {
		ago(ctl_jstr(c, "finished_at"), when, sizeof(when));
		snprintf(buf, n, "Exited (%" JSON_INTEGER_FORMAT ") %s",
			 json_integer_value(json_object_get(c, "exit_code")), when);
	} else {
		snprintf(buf, n, "%s", st);
	}
}

/* node: this node's name in a cluster (a NODE column), NULL when the daemon runs alone */
static void containers_table(json_t *cs, bool quiet, const char *node)
{
	struct ctl_table t = { .cols = node ? 9 : 8 };
	size_t i;
	json_t *c;
	if (node)
		ctl_table_row(&t, "CONTAINER ID", "NAME", "NODE", "IMAGE", "STATUS", "HEALTH", "IP",
			      "PORTS", "WORKLOAD");
	else
		ctl_table_row(&t, "CONTAINER ID", "NAME", "IMAGE", "STATUS", "HEALTH", "IP", "PORTS",
			      "WORKLOAD");
	json_array_foreach(cs, i, c)
	{
		char id[13], st[96], created[64];
		if (quiet) {
			printf("%.12s\n", ctl_jstr(c, "id"));
			continue;
		}
		snprintf(id, sizeof(id), "%.12s", ctl_jstr(c, "id"));
		status_text(c, st, sizeof(st));
		ago(ctl_jstr(c, "created"), created, sizeof(created));
		_cleanup_free_ char *ports = ports_text(json_object_get(c, "ports"));
		const char *health = json_is_string(json_object_get(c, "health")) ? ctl_jstr(c, "health") : "-";
		const char *ip = json_is_string(json_object_get(c, "ip")) ? ctl_jstr(c, "ip") : "-";
		if (node)
			ctl_table_row(&t, id, ctl_jstr(c, "name"), node, ctl_jstr(c, "image"), st,
				      health, ip, ports, ctl_jstr(c, "workload"));
		else
			ctl_table_row(&t, id, ctl_jstr(c, "name"), ctl_jstr(c, "image"), st, health, ip,
				      ports, ctl_jstr(c, "workload"));
	}
	if (!quiet)
		ctl_table_print(&t, true);
	else
		ctl_table_print(&t, false);
}

/* ---- options shared by reads ---- */

struct out_opts {
	bool json, quiet, all, all_nodes;
	const char *verb;
};

static int out_opt(int c, const char *arg, void *ctx)
{
	struct out_opts *o = ctx;
	switch (c) {
	case 'o':
		if (streq(arg, "json"))
			o->json = true;
		else if (!streq(arg, "table"))
			return ctl_usage(o->verb, "-o: expected json or table, got '%s'", arg), -1;
		break;
	case 'q': o->quiet = true; break;
	case 'a': o->all = true; break;
	case 'A': o->all_nodes = true; break;
	}
	return 0;
}

static const struct option out_longs[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "all", no_argument, NULL, 'a' },
	CTL_HELP_OPT,
	{ 0 },
};

/* ---- ps / status / inspect ---- */

/* Whether the daemon is a cluster member (GET /v1/cluster answers 200): true with this
 * node's name in *ret_name (caller frees); false when it is not (err->code ENOENT) or
 * cannot say (err says why; a single-node path then reports what is wrong, as it
 * always did). */
bool ctl_cluster_member(struct api_client *cl, char **ret_name, struct err *err)
{
	_cleanup_json_ json_t *st = NULL;
	if (api_call(cl, "GET", "/v1/cluster", NULL, &st, err) < 0)
		return false;
	if (ret_name)
		*ret_name = xstrdup(*ctl_jstr(st, "name") ? ctl_jstr(st, "name") : "?");
	return true;
}

static bool task_listed(json_t *t, bool all)
{
	return all || streq(ctl_jstr(t, "desired"), "running");
}

/* coop ps -A: every node's tasks (GET /v1/tasks) — those meant to run, or all with -a */
static int ps_all_nodes(struct api_client *cl, const struct out_opts *o)
{
	_cleanup_json_ json_t *ts = NULL;
	struct err err = { 0 };
	struct ctl_table t = { .cols = 6 };
	size_t i;
	json_t *x;

	if (api_call(cl, "GET", "/v1/tasks", NULL, &ts, &err) < 0)
		return ctl_fail(&err);
	_cleanup_json_ json_t *out = json_array();
	json_array_foreach(ts, i, x)
		if (task_listed(x, o->all))
			json_array_append(out, x);
	if (o->json) {
		ctl_print_json(out);
		return 0;
	}
	ctl_table_row(&t, "ID", "NODE", "STATE", "CONTAINER ID", "IP", "WORKLOAD");
	json_array_foreach(out, i, x)
	{
		char ctr[13];
		const char *msg = ctl_jstr(x, "message");
		snprintf(ctr, sizeof(ctr), "%.12s", ctl_jstr(x, "container"));
		if (o->quiet) {
			if (*ctr)
				printf("%s\n", ctr);
			continue;
		}
		_cleanup_free_ char *st = *msg ? xasprintf("%s: %.60s", ctl_jstr(x, "observed"), msg)
					       : xstrdup(ctl_jstr(x, "observed"));
		ctl_table_row(&t, ctl_jstr(x, "id"), *ctl_jstr(x, "node") ? ctl_jstr(x, "node") : "-",
			      st, *ctr ? ctr : "-", *ctl_jstr(x, "ip") ? ctl_jstr(x, "ip") : "-",
			      ctl_jstr(x, "workload"));
	}
	ctl_table_print(&t, !o->quiet);
	return 0;
}

static int cmd_ps(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "all", no_argument, NULL, 'a' },
		{ "all-nodes", no_argument, NULL, 'A' },
		CTL_HELP_OPT,
		{ 0 },
	};
	struct out_opts o = { .verb = "ps" };
	_cleanup_client_ struct api_client *cl = NULL;
	_cleanup_json_ json_t *cs = NULL;
	_cleanup_free_ char *node = NULL;
	struct err err = { 0 };
	PARSE("o:qaA", longs, out_opt, &o,
	      "Usage: coop ps [-a] [-A] [-q] [-o json|table]\n"
	      "List containers: running ones, or all of them with -a (exited, restarting).\n"
	      "In a cluster the table names this node (NODE), and -A lists the tasks of every\n"
	      "node instead: each replica the cluster placed, where, and what its node reports.\n\n"
	      "  -a, --all                 include containers that are not running (with -A:\n"
	      "                            tasks that were stopped too)\n"
	      "  -A, --all-nodes           every node's tasks (cluster mode)\n"
	      "  -q, --quiet               only the container IDs\n"
	      "  -o, --output json|table   format (default table)\n\n"
	      "Examples:\n"
	      "  coop ps -a\n"
	      "  coop ps -A\n"
	      "  coop ps -o json | jq -r '.[] | select(.health == \"unhealthy\") | .name'\n");
	if (!ctl_operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (ctl_client(&cl, &err) < 0)
		return ctl_fail(&err);
	bool member = ctl_cluster_member(cl, &node, &err);
	if (o.all_nodes && !member && err.code != ENOENT)
		return ctl_fail(&err);
	if (o.all_nodes && !member)
		return fprintf(stderr, "coop: ps --all-nodes needs a cluster: this daemon runs alone (see coop init --help)\n"), 1;
	if (o.all_nodes)
		return ps_all_nodes(cl, &o);
	if (api_call(cl, "GET", o.all ? "/v1/containers?all=1" : "/v1/containers", NULL, &cs, &err) < 0)
		return ctl_fail(&err);
	if (o.json) {
		size_t i;
		json_t *c;
		json_array_foreach(cs, i, c)
			if (node)
				json_object_set_new(c, "node", json_string(node));
		ctl_print_json(cs);
	} else {
		containers_table(cs, o.quiet, node);
	}
	return 0;
}

/* GETs each ref's path; prints them as a table (fmt NULL) or JSON; one error line per
 * missing ref and exit 1 if any. */
static int get_each(int argc, char **argv, int first, const char *suffix, json_t *out,
		    struct api_client *cl)
{
	int rc = 0;
	for (int i = first; i < argc; i++) {
		struct err err = { 0 };
		_cleanup_free_ char *path = ctl_path("/v1/containers", argv[i], suffix);
		json_t *j = NULL;
		if (api_call(cl, "GET", path, NULL, &j, &err) < 0) {
			rc = ctl_fail(&err);
			continue;
		}
		if (suffix && !json_object_get(j, "id"))
			json_object_set_new(j, "id", json_string(argv[i]));
		json_array_append_new(out, j);
	}
	return rc;
}

static int cmd_status(int argc, char **argv)
{
	struct out_opts o = { .verb = "status" };
	_cleanup_client_ struct api_client *cl = NULL;
	_cleanup_json_ json_t *cs = json_array();
	struct err err = { 0 };
	PARSE("o:", out_longs, out_opt, &o,
	      "Usage: coop status [-o json|table] ID|NAME...\n"
	      "Show containers' state: status, health, IP, ports, exit code.\n\n"
	      "  -o, --output json|table   format (default table)\n\n"
	      "Example:\n"
	      "  coop status web-1 web-2\n");
	if (!ctl_operands(argc, argv, first, 1, -1, "container ID or name"))
		return 2;
	if (ctl_client(&cl, &err) < 0)
		return ctl_fail(&err);
	int rc = get_each(argc, argv, first, NULL, cs, cl);
	if (o.json)
		ctl_print_json(cs);
	else if (json_array_size(cs))
		containers_table(cs, false, NULL);
	return rc;
}

static int cmd_inspect(int argc, char **argv)
{
	struct out_opts o = { .verb = "inspect" };
	_cleanup_client_ struct api_client *cl = NULL;
	_cleanup_json_ json_t *cs = json_array();
	struct err err = { 0 };
	PARSE("", out_longs, NULL, &o,
	      "Usage: coop inspect ID|NAME...\n"
	      "Print containers' full records as JSON (an array, like docker inspect).\n\n"
	      "Example:\n"
	      "  coop inspect web-1 | jq '.[0].ip'\n");
	if (!ctl_operands(argc, argv, first, 1, -1, "container ID or name"))
		return 2;
	if (ctl_client(&cl, &err) < 0)
		return ctl_fail(&err);
	int rc = get_each(argc, argv, first, NULL, cs, cl);
	ctl_print_json(cs);
	return rc;
}

static int cmd_metrics(int argc, char **argv)
{
	struct out_opts o = { .verb = "metrics" };
	_cleanup_client_ struct api_client *cl = NULL;
	_cleanup_json_ json_t *ms = json_array();
	struct err err = { 0 };
	PARSE("o:", out_longs, out_opt, &o,
	      "Usage: coop metrics [-o json|table] ID|NAME...\n"
	      "Resource use of containers, read from their cgroups: CPU % (since the previous\n"
	      "sample), memory (and its limit), processes, network and block I/O.\n\n"
	      "  -o, --output json|table   format (default table)\n\n"
	      "Example:\n"
	      "  coop metrics $(coop ps -q)\n");
	if (!ctl_operands(argc, argv, first, 1, -1, "container ID or name"))
		return 2;
	if (ctl_client(&cl, &err) < 0)
		return ctl_fail(&err);
	int rc = get_each(argc, argv, first, "/metrics", ms, cl);
	if (o.json) {
		ctl_print_json(ms);
		return rc;
	}
	struct ctl_table t = { .cols = 6 };
	size_t i;
	json_t *m;
	ctl_table_row(&t, "CONTAINER", "CPU %", "MEM USAGE / LIMIT", "PIDS", "NET RX / TX", "BLOCK R / W");
	json_array_foreach(ms, i, m)
	{
		char cpu[32], mu[16], ml[16], rx[16], tx[16], br[16], bw[16], mem[40], net[40], blk[40], pids[24];
		snprintf(cpu, sizeof(cpu), "%.2f%%", json_number_value(json_object_get(m, "cpu_percent")));
		ctl_human_size(json_number_value(json_object_get(m, "memory_bytes")), mu, sizeof(mu));
		if (json_integer_value(json_object_get(m, "memory_limit")) > 0)
			ctl_human_size(json_number_value(json_object_get(m, "memory_limit")), ml, sizeof(ml));
		else
			strcpy(ml, "-");
		ctl_human_size(json_number_value(json_object_get(m, "net_rx")), rx, sizeof(rx));
		ctl_human_size(json_number_value(json_object_get(m, "net_tx")), tx, sizeof(tx));
		ctl_human_size(json_number_value(json_object_get(m, "blk_read")), br, sizeof(br));
		ctl_human_size(json_number_value(json_object_get(m, "blk_write")), bw, sizeof(bw));
		snprintf(mem, sizeof(mem), "%s / %s", mu, ml);
		snprintf(net, sizeof(net), "%s / %s", rx, tx);
		snprintf(blk, sizeof(blk), "%s / %s", br, bw);
		snprintf(pids, sizeof(pids), "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(m, "pids")));
		ctl_table_row(&t, ctl_jstr(m, "id"), cpu, mem, pids, net, blk);
	}
	ctl_table_print(&t, true);
	return rc;
}

/* ---- stop / rm ---- */

struct stop_opts {
	uint64_t timeout_ms;
	bool force;
};

static int stop_opt(int c, const char *arg, void *ctx)
{
	struct stop_opts *o = ctx;
	if (c == 't') {
		uint64_t ms;
		char *end;
		unsigned long long n = strtoull(arg, &end, 10);
		if (*arg && !*end) /* a bare number is seconds, as docker's -t */
			ms = n * 1000;
		else if (bun_duration_ms(arg, &ms) < 0)
			return ctl_usage("stop", "--timeout: expected a duration like 30s, got '%s'", arg), -1;
		o->timeout_ms = ms;
	} else if (c == 'f') {
		o->force = true;
	}
	return 0;
}

static int each_ref(int argc, char **argv, int first, const char *method, const char *suffix,
		    const char *query)
{
	_cleanup_client_ struct api_client *cl = NULL;
	struct err err = { 0 };
	int rc = 0;

	if (ctl_client(&cl, &err) < 0)
		return ctl_fail(&err);
	for (int i = first; i < argc; i++) {
		_cleanup_free_ char *p = ctl_path("/v1/containers", argv[i], suffix);
		_cleanup_free_ char *path = xasprintf("%s%s", p, query ? query : "");
		if (api_call(cl, method, path, NULL, NULL, &err) < 0) {
			rc = ctl_fail(&err);
			if (err.code == ECONNREFUSED)
				break;
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return rc;
}

static int cmd_stop(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "timeout", required_argument, NULL, 't' },
		CTL_HELP_OPT,
		{ 0 },
	};
	struct stop_opts o = { .timeout_ms = 10000 };
	PARSE("t:", longs, stop_opt, &o,
	      "Usage: coop stop [--timeout 30s] ID|NAME...\n"
	      "Stop containers: SIGTERM (or the image's stop signal), then SIGKILL after the\n"
	      "timeout. A stopped container stays stopped whatever its restart policy; its\n"
	      "workload's other replicas keep running.\n\n"
	      "  -t, --timeout DURATION   grace period before SIGKILL (default 10s; a bare number\n"
	      "                           is seconds)\n\n"
	      "Example:\n"
	      "  coop stop --timeout 30s web-1\n");
	if (!ctl_operands(argc, argv, first, 1, -1, "container ID or name"))
		return 2;
	char q[64];
	snprintf(q, sizeof(q), "?timeout_ms=%" PRIu64, o.timeout_ms);
	return each_ref(argc, argv, first, "POST", "/stop", q);
}

static int cmd_rm(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "force", no_argument, NULL, 'f' },
		CTL_HELP_OPT,
		{ 0 },
	};
	struct stop_opts o = { 0 };
	PARSE("f", longs, stop_opt, &o,
	      "Usage: coop rm [-f] ID|NAME...\n"
	      "Remove stopped containers: their root filesystem, network address and records\n"
	      "(a container made by `coop run --image` takes its workload with it).\n\n"
	      "  -f, --force   stop running containers first (SIGKILL)\n\n"
	      "Example:\n"
	      "  coop rm -f web-1\n");
	if (!ctl_operands(argc, argv, first, 1, -1, "container ID or name"))
		return 2;
	return each_ref(argc, argv, first, "DELETE", NULL, o.force ? "?force=1" : NULL);
}

/* ---- events ---- */

struct ev_opts {
	bool follow, json, local;
	char *since;
	char **filters;
};

static int ev_opt(int c, const char *arg, void *ctx)
{
	struct ev_opts *o = ctx;
	switch (c) {
	case 'f': o->follow = true; break;
	case 's':
		if (strspn(arg, "0123456789") != strlen(arg) || !*arg)
			return ctl_usage("events", "--since: expected an event number (seq), got '%s'", arg), -1;
		o->since = (char *)arg;
		break;
	case 'F': o->filters = strv_append(o->filters, arg); break;
	case 'L': o->local = true; break;
	case 'o':
		if (!streq(arg, "json") && !streq(arg, "table"))
			return ctl_usage("events", "-o: expected json or table, got '%s'", arg), -1;
		o->json = streq(arg, "json");
		break;
	}
	return 0;
}

static int print_event(void *ctx, json_t *ev)
{
	struct ev_opts *o = ctx;
	if (o->json) {
		json_dumpf(ev, stdout, JSON_COMPACT);
		putchar('\n');
	} else {
		_cleanup_free_ char *attrs = NULL;
		json_t *a = json_object_get(ev, "attrs");
		const char *k;
		json_t *v;
		attrs = xstrdup("");
		json_object_foreach(a, k, v)
		{
			_cleanup_free_ char *val = json_is_string(v) ? xstrdup(json_string_value(v))
								     : json_dumps(v, JSON_ENCODE_ANY);
			char *n = xasprintf("%s%s%s=%s", attrs, *attrs ? ", " : "", k, val ? val : "");
			free(attrs);
			attrs = n;
		}
		printf("%" JSON_INTEGER_FORMAT " %s %s %s %s%s%s%s\n",
		       json_integer_value(json_object_get(ev, "seq")), ctl_jstr(ev, "time"), ctl_jstr(ev, "type"),
		       ctl_jstr(ev, "action"), ctl_jstr(ev, "id"), *attrs ? " (" : "", attrs, *attrs ? ")" : "");
	}
	fflush(stdout);
	return 0;
}

/* ---- events in a cluster: the model's changes (GET /v1/watch), followed across
 * reconnects ---- */

#define WATCH_RETRY_MS 60000 /* a follower reconnects for this long after losing the daemon */
#define WATCH_RETRY_STEP_MS 500

struct watch_ctx {
	const struct ev_opts *o;
	uint64_t last; /* highest seq printed: the resume point */
	bool resume;   /* last is a resume point (--since, or a line was printed) */
	bool got;      /* a line arrived on this connection */
	json_t *stale; /* the stale line, when the daemon sent it */
};

static int print_watch_line(void *ctx, json_t *ev)
{
	struct watch_ctx *w = ctx;
	if (json_object_get(ev, "error")) {
		w->stale = json_incref(ev);
		return -ESTALE;
	}
	uint64_t seq = json_integer_value(json_object_get(ev, "seq"));
	w->got = true;
	if (w->resume && seq <= w->last)
		return 0; /* seen before this reconnect: never twice */
	w->last = seq;
	w->resume = true;
	if (w->o->json) {
		json_dumpf(ev, stdout, JSON_COMPACT);
		putchar('\n');
	} else {
		_cleanup_free_ char *line = api_cluster_event_text(ev);
		puts(line);
	}
	fflush(stdout);
	return 0;
}

static bool watch_retryable(int e)
{
	return e == ECONNREFUSED || e == EIO || e == EAGAIN || e == ETIMEDOUT ||
	       e == ECONNRESET || e == EPROTO || e == ENOTCONN;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* fl: the filters, escaped and joined. A stream that ends or breaks while following is
 * opened again from the last seq printed, so nothing is missed or printed twice; the
 * daemon may be gone for up to WATCH_RETRY_MS (a restart). */
static int cluster_events(struct api_client *cl, const struct ev_opts *o, const char *fl)
{
	struct watch_ctx w = { .o = o };
	uint64_t deadline = mono_ms() + WATCH_RETRY_MS;

	if (o->since) {
		w.last = strtoull(o->since, NULL, 10);
		w.resume = true;
	}
	for (;;) {
		struct err err = { 0 };
		char since[40] = "";
		if (w.resume)
			snprintf(since, sizeof(since), "since=%" PRIu64 "&", w.last);
		_cleanup_free_ char *path = xasprintf("/v1/watch?%sfollow=%d%s%s", since, o->follow,
						      *fl ? "&filter=" : "", fl);
		uint64_t t0 = mono_ms();
		w.got = false;
		int r = api_stream(cl, "GET", path, NULL, print_watch_line, &w, &err);
		if (w.stale) {
			json_t *e = json_object_get(w.stale, "error");
			fprintf(stderr, "coop: %s: list again (coop nodes, coop tasks) and go on with "
					"--since %" JSON_INTEGER_FORMAT "\n",
				ctl_jstr(e, "message"), json_integer_value(json_object_get(w.stale, "seq")));
			json_decref(w.stale);
			return 1;
		}
		if (!o->follow || (r < 0 && !watch_retryable(err.code)))
			return r < 0 ? ctl_fail(&err) : 0;
		if (r == 0)
			err_msg(&err, ECONNRESET, "the daemon ended the event stream");
		/* the stream had worked: a new minute of retries, said once */
		if (w.got || mono_ms() - t0 >= 1000) {
			deadline = mono_ms() + WATCH_RETRY_MS;
			fprintf(stderr, "coop: events: %s; reconnecting from %" PRIu64 "...\n", err.msg,
				w.last);
		} else if (mono_ms() > deadline) {
			return ctl_fail(&err);
		}
		usleep(WATCH_RETRY_STEP_MS * 1000);
	}
}

static int cmd_events(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 's' },
		{ "filter", required_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "local", no_argument, NULL, 'L' },
		CTL_HELP_OPT,
		{ 0 },
	};
	struct ev_opts o = { 0 };
	_cleanup_client_ struct api_client *cl = NULL;
	struct err err = { 0 };
	int first = ctl_parse(argc, argv, "fo:h", longs, ev_opt, &o,
			      "Usage: coop events [-f] [--since SEQ] [--filter KEY=VALUE]... [-o json] [--local]\n"
			      "Every change the daemon makes, as numbered events: containers created,\n"
			      "started, dead, health changes, workloads applied and removed, image pulls.\n"
			      "Each line starts with the event's number (seq): --since SEQ replays from\n"
			      "after it, so a consumer that reconnects misses nothing and sees nothing twice.\n\n"
			      "In a cluster the events are the cluster's: every change to its nodes,\n"
			      "workloads, tasks, networks and tokens, numbered alike on every node\n"
			      "(SEQ TIME TYPE ACTION NAME (DETAILS)). With -f a lost connection is opened\n"
			      "again (for a minute) from the last event printed. When the events after SEQ\n"
			      "are no longer kept it says so and exits 1: list again, then go on from the\n"
			      "number it gives.\n\n"
			      "  -f, --follow            keep streaming new events\n"
			      "      --since SEQ         replay events after number SEQ (default: all kept)\n"
			      "      --filter KEY=VALUE  type, action, id, name or workload (repeatable: all\n"
			      "                          must match); in a cluster: type, action, name,\n"
			      "                          workload, node\n"
			      "  -o, --output json       one JSON object per line\n"
			      "      --local             in a cluster, this node's own daemon events\n\n"
			      "Examples:\n"
			      "  coop events -f --filter type=container --filter action=die\n"
			      "  coop events --since 120 -o json | jq -r .action\n"
			      "  coop events -f --filter type=task --filter node=node2   # in a cluster\n");
	_cleanup_strv_ char **filters = o.filters;
	if (first == -1)
		return 0;
	if (first < 0)
		return 2;
	if (!ctl_operands(argc, argv, first, 0, 0, ""))
		return 2;
	_cleanup_free_ char *fl = xstrdup("");
	for (size_t i = 0; filters && filters[i]; i++) {
		_cleanup_free_ char *e = api_escape(filters[i]);
		char *n = xasprintf("%s%s%s", fl, i ? "," : "", e);
		free(fl);
		fl = n;
	}
	if (ctl_client(&cl, &err) < 0)
		return ctl_fail(&err);
	_cleanup_free_ char *node = NULL;
	if (!o.local && ctl_cluster_member(cl, &node, &err))
		return cluster_events(cl, &o, fl);
	_cleanup_free_ char *path = xasprintf("/v1/events?since=%s%s%s%s", o.since ? o.since : "0",
					      o.follow ? "&follow=1" : "", *fl ? "&filter=" : "", fl);
	if (api_stream(cl, "GET", path, NULL, print_event, &o, &err) < 0)
		return ctl_fail(&err);
	return 0;
}

/* ---- version ---- */

static int cmd_version(int argc, char **argv)
{
	struct out_opts o = { .verb = "version" };
	_cleanup_client_ struct api_client *cl = NULL;
	_cleanup_json_ json_t *v = NULL;
	struct err err = { 0 };
	PARSE("o:", out_longs, out_opt, &o,
	      "Usage: coop version [-o json]\n"
	      "The version of this coop and of the daemon it talks to (when one answers).\n\n"
	      "Example:\n"
	      "  coop version\n");
	int r = ctl_client(&cl, &err);
	if (r == 0)
		r = api_call(cl, "GET", "/v1/version", NULL, &v, &err);
	if (o.json) {
		json_t *out = json_pack("{s:s,s:O?}", "client", COOP_VERSION, "daemon",
					json_object_get(v, "version"));
		ctl_print_json(out);
		json_decref(out);
	} else {
		printf("coop version %s\n", COOP_VERSION);
		if (r == 0)
			printf("daemon version %s (API %s)\n", ctl_jstr(v, "version"), ctl_jstr(v, "api"));
	}
	if (r < 0 && err.code != ECONNREFUSED)
		return ctl_fail(&err);
	return 0;
}

/* ---- token ---- */

struct tok_opts {
	const char *role, *name, *join, *ttl;
	bool json, quiet;
};

static int tok_opt(int c, const char *arg, void *ctx)
{
	struct tok_opts *o = ctx;
	switch (c) {
	case 'r': o->role = arg; break;
	case 'n': o->name = arg; break;
	case 'j': o->join = arg; break;
	case 't': o->ttl = arg; break;
	case 'q': o->quiet = true; break;
	case 'o':
		if (!streq(arg, "json") && !streq(arg, "table"))
			return ctl_usage("token", "-o: expected json or table, got '%s'", arg), -1;
		o->json = streq(arg, "json");
		break;
	}
	return 0;
}

/* `coop token create --join server|agent [--ttl 24h]`: a cluster join token. */
static int token_create_join(const struct tok_opts *o, struct api_client *cl)
{
	_cleanup_json_ json_t *t = NULL;
	struct err err = { 0 };
	uint64_t ttl_ms = 0;

	if (!streq(o->join, "server") && !streq(o->join, "agent"))
		return ctl_usage("token create", "--join: expected server or agent, got '%s'", o->join);
	if (o->ttl && (bun_duration_ms(o->ttl, &ttl_ms) < 0 || ttl_ms < 1000))
		return ctl_usage("token create", "--ttl: expected a duration like 24h or 30m, got '%s'",
				 o->ttl);
	json_t *body = json_pack("{s:s,s:I}", "role", o->join, "ttl_s", (json_int_t)(ttl_ms / 1000));
	int r = api_call(cl, "POST", "/v1/tokens/join", body, &t, &err);
	json_decref(body);
	if (r < 0 && err.code == ENOENT)
		return fprintf(stderr, "coop: join tokens need a cluster: this daemon runs alone (see coop init --help)\n"), 1;
	if (r < 0)
		return ctl_fail(&err);
	if (o->json)
		ctl_print_json(t);
	else
		printf("%s\n", ctl_jstr(t, "token"));
	return 0;
}

static int token_create(int argc, char **argv, struct api_client *cl)
{
	static const struct option longs[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'n' },
		{ "join", required_argument, NULL, 'j' },
		{ "ttl", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		CTL_HELP_OPT,
		{ 0 },
	};
	struct tok_opts o = { 0 };
	_cleanup_json_ json_t *t = NULL;
	struct err err = { 0 };
	PARSE("o:", longs, tok_opt, &o,
	      "Usage: coop token create --role admin|read [--name NAME] [-o json]\n"
	      "       coop token create --join server|agent [--ttl DURATION] [-o json]\n"
	      "Create an access token for remote clients (coop --endpoint). The secret key is\n"
	      "shown this once: the daemon keeps only a salted hash of it.\n"
	      "With --join: a token that lets another host join this cluster (coop daemon\n"
	      "--join ... --token TOKEN) as a server (a Raft voter candidate) or an agent (runs\n"
	      "containers only); the cluster keeps only a salted hash of its secret.\n\n"
	      "  --role admin|read      admin may do anything; read may only look (GET)\n"
	      "  --name NAME            a name to recognise it by (default token-N)\n"
	      "  --join server|agent    a cluster join token instead of an access token\n"
	      "  --ttl DURATION         the join token expires after this long (default: never)\n"
	      "  -o json                print the token as JSON\n\n"
	      "Examples:\n"
	      "  coop token create --role read --name dashboard\n"
	      "  COOP_ENDPOINT=https://node1:7443 COOP_ACCESS_TOKEN=ck_... COOP_SECRET_KEY=... coop ps\n"
	      "  coop token create --join agent --ttl 1h\n");
	if (!ctl_operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (o.join && (o.role || o.name))
		return ctl_usage("token create", "%s", "--join makes a join token: it takes no --role or --name");
	if (o.join)
		return token_create_join(&o, cl);
	if (o.ttl)
		return ctl_usage("token create", "%s", "--ttl is for join tokens (--join)");
	if (!o.role)
		return ctl_usage("token create", "%s", "--role admin|read (or --join server|agent) is required");
	json_t *body = json_pack("{s:s,s:s?}", "role", o.role, "name", o.name);
	int r = api_call(cl, "POST", "/v1/tokens", body, &t, &err);
	json_decref(body);
	if (r < 0)
		return ctl_fail(&err);
	if (o.json) {
		ctl_print_json(t);
		return 0;
	}
	printf("name:         %s\nrole:         %s\naccess token: %s\nsecret key:   %s\n\n"
	       "The secret key is not shown again: store it now.\n",
	       ctl_jstr(t, "name"), ctl_jstr(t, "role"), ctl_jstr(t, "access_token"), ctl_jstr(t, "secret_key"));
	return 0;
}

static int token_ls(int argc, char **argv, struct api_client *cl)
{
	static const struct option longs[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		CTL_HELP_OPT,
		{ 0 },
	};
	struct tok_opts o = { 0 };
	_cleanup_json_ json_t *ts = NULL;
	struct err err = { 0 };
	PARSE("o:q", longs, tok_opt, &o,
	      "Usage: coop token ls [-q] [-o json]\n"
	      "List access tokens (never their secrets).\n\n"
	      "Example:\n"
	      "  coop token ls\n");
	if (!ctl_operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (api_call(cl, "GET", "/v1/tokens", NULL, &ts, &err) < 0)
		return ctl_fail(&err);
	if (o.json) {
		ctl_print_json(ts);
		return 0;
	}
	struct ctl_table t = { .cols = 4 };
	size_t i;
	json_t *x;
	ctl_table_row(&t, "ACCESS TOKEN", "NAME", "ROLE", "CREATED");
	json_array_foreach(ts, i, x)
	{
		if (o.quiet)
			printf("%s\n", ctl_jstr(x, "access_token"));
		else
			ctl_table_row(&t, ctl_jstr(x, "access_token"), ctl_jstr(x, "name"), ctl_jstr(x, "role"),
				  ctl_jstr(x, "created"));
	}
	ctl_table_print(&t, !o.quiet);
	return 0;
}

static int token_rm(int argc, char **argv, struct api_client *cl)
{
	struct tok_opts o = { 0 };
	static const struct option longs[] = { CTL_HELP_OPT, { 0 } };
	int rc = 0;
	PARSE("", longs, tok_opt, &o,
	      "Usage: coop token rm ACCESS-TOKEN|NAME...\n"
	      "Revoke tokens: requests presenting them are refused from now on.\n\n"
	      "Example:\n"
	      "  coop token rm dashboard\n");
	if (!ctl_operands(argc, argv, first, 1, -1, "token (access token or name)"))
		return 2;
	for (int i = first; i < argc; i++) {
		struct err err = { 0 };
		_cleanup_free_ char *path = ctl_path("/v1/tokens", argv[i], NULL);
		if (api_call(cl, "DELETE", path, NULL, NULL, &err) < 0)
			rc = ctl_fail(&err);
		else
			printf("%s\n", argv[i]);
	}
	return rc;
}

static int cmd_token(int argc, char **argv)
{
	static const char help[] =
		"Usage: coop token create|ls|rm ...\n"
		"Access tokens for clients that reach the daemon over TCP (coop daemon --listen):\n"
		"an access token names the token, its secret key proves it.\n\n"
		"  create --role admin|read [--name N]   make one (the secret is shown once)\n"
		"  create --join server|agent [--ttl D]  a cluster join token\n"
		"  ls                                    list them\n"
		"  rm TOKEN|NAME...                      revoke\n\n"
		"Example:\n"
		"  coop token create --role admin --name ci\n";
	_cleanup_client_ struct api_client *cl = NULL;
	struct err err = { 0 };
	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		fputs(help, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	int (*fn)(int, char **, struct api_client *) = streq(argv[1], "create") ? token_create
						       : streq(argv[1], "ls") || streq(argv[1], "list") ? token_ls
						       : streq(argv[1], "rm") ? token_rm : NULL;
	if (!fn)
		return ctl_usage("token", "unknown command '%s'", argv[1]);
	bool help_only = false;
	for (int i = 2; i < argc; i++)
		help_only |= streq(argv[i], "--help") || streq(argv[i], "-h");
	if (!help_only && ctl_client(&cl, &err) < 0)
		return ctl_fail(&err);
	return fn(argc - 1, argv + 1, cl);
}

/* ---- workload ---- */

/* The daemon stops a removed workload's containers in the background (SIGTERM, then
 * SIGKILL after their timeout); `rm` returns once they are gone, as docker rm -f does. */
void ctl_poll_pause(int i)
{
	long ms = i < 6 ? 2L << i : 100;
	nanosleep(&(struct timespec){ 0, ms * 1000 * 1000 }, NULL);
}

int ctl_workload_wait_gone(struct api_client *cl, const char *name, struct err *err)
{
	for (int tries = 0; tries < 600; tries++) {
		_cleanup_json_ json_t *cs = NULL;
		size_t i, left = 0;
		json_t *c;

		if (api_call(cl, "GET", "/v1/containers?all=1", NULL, &cs, err) < 0)
			return -err->code;
		json_array_foreach(cs, i, c)
			left += streq(ctl_jstr(c, "workload"), name);
		if (left == 0)
			return 0;
		ctl_poll_pause(tries);
	}
	return err_msg(err, ETIMEDOUT, "workload '%s' removed, but its containers are still "
				       "stopping after 60 s (see coop ps -a)", name);
}

static int cmd_workload(int argc, char **argv)
{
	static const char help[] =
		"Usage: coop workload ls [-o json] | rm NAME...\n"
		"Workloads: what `coop run FILE.bun` (or `coop run --image`) asked for — an image\n"
		"and its settings, run as replicas.\n\n"
		"  ls [-o json]   list workloads with their running replicas\n"
		"  rm NAME...     stop and remove a workload's containers, and the workload\n\n"
		"Example:\n"
		"  coop workload rm web\n";
	_cleanup_client_ struct api_client *cl = NULL;
	struct err err = { 0 };
	bool json = false;

	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		fputs(help, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	bool ls = streq(argv[1], "ls") || streq(argv[1], "list"), rm = streq(argv[1], "rm");
	if (!ls && !rm)
		return ctl_usage("workload", "unknown command '%s'", argv[1]);
	for (int i = 2; i < argc; i++) {
		if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
			fputs(help, stdout);
			return 0;
		}
		if (ls && (streq(argv[i], "-o") || streq(argv[i], "--output")) && i + 1 < argc &&
		    streq(argv[i + 1], "json")) {
			json = true;
			i++;
		} else if (ls || argv[i][0] == '-') {
			return ctl_usage("workload", "unexpected argument '%s'", argv[i]);
		}
	}
	if (rm && argc < 3)
		return ctl_usage("workload", "%s", "rm needs a workload name");
	if (ctl_client(&cl, &err) < 0)
		return ctl_fail(&err);
	if (rm) {
		int rc = 0;
		for (int i = 2; i < argc; i++) {
			_cleanup_free_ char *path = ctl_path("/v1/workloads", argv[i], NULL);
			if (api_call(cl, "DELETE", path, NULL, NULL, &err) < 0)
				rc = ctl_fail(&err);
			else if (ctl_workload_wait_gone(cl, argv[i], &err) < 0)
				rc = ctl_fail(&err);
			else
				printf("%s\n", argv[i]);
		}
		return rc;
	}
	_cleanup_json_ json_t *ws = NULL;
	if (api_call(cl, "GET", "/v1/workloads", NULL, &ws, &err) < 0)
		return ctl_fail(&err);
	if (json) {
		ctl_print_json(ws);
		return 0;
	}
	struct ctl_table t = { .cols = 5 };
	size_t i;
	json_t *w;
	ctl_table_row(&t, "NAME", "IMAGE", "REPLICAS", "PORTS", "ERROR");
	json_array_foreach(ws, i, w)
	{
		json_t *spec = json_object_get(w, "spec");
		char rep[48];
		snprintf(rep, sizeof(rep), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(w, "running")),
			 json_integer_value(json_object_get(json_object_get(spec, "replicas"), "min")));
		_cleanup_free_ char *ports = ports_text(json_object_get(spec, "ports"));
		ctl_table_row(&t, ctl_jstr(w, "name"), ctl_jstr(spec, "image"), rep, ports, ctl_jstr(w, "error"));
	}
	ctl_table_print(&t, true);
	return 0;
}

/* ---- dispatch ---- */

static const struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} verbs[] = {
	{ "run", run_cmd_run, "run a workload from a .bun file, or a container from an image" },
	{ "ps", cmd_ps, "list containers" },
	{ "status", cmd_status, "show containers' state" },
	{ "inspect", cmd_inspect, "print containers' records as JSON" },
	{ "stop", cmd_stop, "stop containers" },
	{ "rm", cmd_rm, "remove containers" },
	{ "logs", run_cmd_logs, "print (and follow) a container's output" },
	{ "exec", run_cmd_exec, "run a command in a running container" },
	{ "attach", run_cmd_attach, "attach to a running container's terminal" },
	{ "metrics", cmd_metrics, "CPU, memory, processes, network and disk I/O of containers" },
	{ "events", cmd_events, "stream what the daemon does" },
	{ "workload", cmd_workload, "list and remove workloads" },
	{ "token", cmd_token, "create, list and revoke access tokens and cluster join tokens" },
	{ "init", cluster_cmd_init, "make this host the first server of a new cluster" },
	{ "cluster", cluster_cmd_cluster, "the cluster's leader, term and members" },
	{ "nodes", cluster_cmd_nodes, "list the cluster's nodes" },
	{ "node", cluster_cmd_node, "label, drain, activate, remove, inspect a node" },
	{ "tasks", cluster_cmd_tasks, "where the cluster placed each replica" },
	{ "version", cmd_version, "the client's and the daemon's versions" },
};

static const struct option conn_longs[] = {
	{ "endpoint", required_argument, NULL, 'E' },
	{ "access-token", required_argument, NULL, 'A' },
	{ "secret-key", required_argument, NULL, 'S' },
	{ "ca", required_argument, NULL, 'C' },
	{ "socket", required_argument, NULL, 'U' },
	{ "cert", required_argument, NULL, 'T' },
	{ "key", required_argument, NULL, 'K' },
	{ 0 },
};

bool ctl_handles(const char *verb)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (streq(verb, verbs[i].name))
			return true;
	for (size_t i = 0; conn_longs[i].name; i++)
		if (strncmp(verb, "--", 2) == 0 && strncmp(verb + 2, conn_longs[i].name, strlen(conn_longs[i].name)) == 0)
			return true;
	return false;
}

void ctl_verbs_help(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		printf("  %-14s %s\n", verbs[i].name, verbs[i].summary);
}

int ctl_main(int argc, char **argv)
{
	int c;
	/* connection options come before the verb */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", conn_longs, NULL)) != -1) {
		switch (c) {
		case 'E': G.endpoint = optarg; break;
		case 'A': G.access_token = optarg; break;
		case 'S': G.secret_key = optarg; break;
		case 'C': G.ca = optarg; break;
		case 'U': G.socket = optarg; break;
		case 'T': G.cert = optarg; break;
		case 'K': G.key = optarg; break;
		default:
			fprintf(stderr, "coop: unknown or incomplete option '%s' (see coop --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "coop: missing command (see coop --help)\n");
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (streq(argv[optind], verbs[i].name))
			return verbs[i].fn(argc - optind, argv + optind);
	fprintf(stderr, "coop: unknown command '%s' (see coop --help)\n", argv[optind]);
	return 2;
}
