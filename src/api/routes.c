/* routes: the /v1 route table, request decoding and the handlers. Handlers answer at
 * once, or hold the request and answer from an engine callback; streams (events, logs,
 * exec) write JSON lines as the engine produces them. */
#include "api/routes.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>

#include "api/routes_cluster.h"
#include "api/session.h"
#include "base/fs.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "cluster/cluster.h"
#include "image/auth.h"
#include "image/disk.h"
#include "image/ref.h"
#include "image/registry.h"
#include "image/store.h"
#include "state/bun.h"

struct ev_sub;
struct follower;
struct barrier;

struct api_routes {
	struct api_routes_config cfg;
	const struct api_engine *e;
	struct ev_sub *subs;
	struct follower *followers;
	int n_streams;
	struct api_session_set sessions; /* interactive execs */
	struct barrier *barriers;	 /* ?consistent=1 reads waiting for their read point */
};

const struct api_routes_config *api_routes_config(const struct api_routes *rt)
{
	return &rt->cfg;
}

/* ================= pure parts ================= */

bool api_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > API_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

unsigned api_status_for(int r, const char **ret_code)
{
	static const struct {
		int err;
		unsigned status;
		const char *code;
	} map[] = {
		{ ENOENT, 404, "not_found" },      { EEXIST, 409, "conflict" },
		{ EBUSY, 409, "conflict" },        { EALREADY, 409, "conflict" },
		{ ENOSPC, 409, "limit_reached" },  { EINVAL, 422, "invalid" },
		{ ENOTSUP, 422, "not_supported" }, { EBADMSG, 400, "bad_request" },
		{ E2BIG, 413, "too_large" },       { EFBIG, 413, "too_large" },
		{ EACCES, 403, "forbidden" },      { EPERM, 403, "forbidden" },
		{ ESRCH, 404, "not_found" },       { EREMOTE, 421, "not_leader" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (-r == map[i].err) {
			*ret_code = map[i].code;
			return map[i].status;
		}
	*ret_code = "internal";
	return 500;
}

char *api_error_field(const char *msg)
{
	size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.[]");
	if (n == 0 || n > 128 || strncmp(msg + n, ": ", 2) != 0 || !isalpha((unsigned char)msg[0]))
		return NULL;
	char *f = strndup(msg, n);
	/* file names and words like "image 'x'" are not fields */
	if (strstr(f, ".bun") || strstr(f, ".json")) {
		free(f);
		return NULL;
	}
	return f;
}

int api_body_object(const char *body, size_t len, json_t **ret, struct err *err)
{
	json_error_t je;
	json_t *j;

	if (len == 0)
		return err_msg(err, EBADMSG, "request body: expected a JSON object, got nothing");
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return err_msg(err, EBADMSG, "request body: malformed JSON at line %d column %d: %s",
			       je.line, je.column, je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return err_msg(err, EBADMSG, "request body: expected a JSON object");
	}
	*ret = j;
	return 0;
}

/* ---- the run request ---- */

void api_run_req_free(struct api_run_req *r)
{
	free(r->image);
	free(r->name);
	free(r->vpc);
	free(r->user);
	free(r->workdir);
	strv_free(r->env);
	strv_free(r->command);
	strv_free(r->volumes);
	strv_free(r->ports);
	free(r->stop_signal);
	memset(r, 0, sizeof(*r));
}

static int field_fail(char **ret_field, const char *field, struct err *err, int code,
		      const char *fmt, const char *arg)
{
	if (ret_field)
		*ret_field = xstrdup(field);
	err_msg(err, code, "%s: ", field);
	size_t n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, fmt, arg);
	return -code;
}

/* A js_* failure: its message starts with the field. */
static int js_field(int r, char **ret_field, struct err *err)
{
	if (r < 0 && ret_field)
		*ret_field = api_error_field(err->msg);
	return r;
}

static int run_memory(json_t *body, struct api_run_req *ret, char **ret_field, struct err *err)
{
	json_t *m = json_object_get(body, "memory");
	if (!m || json_is_null(m))
		return 0;
	if (json_is_integer(m))
		ret->memory = json_integer_value(m);
	else if (!json_is_string(m) || bun_size_bytes(json_string_value(m), &ret->memory) < 0)
		return field_fail(ret_field, "memory", err, EINVAL,
				  "expected a size like 512m%s", "");
	if (ret->memory < (4 << 20))
		return field_fail(ret_field, "memory", err, EINVAL, "below the 4 MiB minimum%s", "");
	return 0;
}

static int run_cpu(json_t *body, struct api_run_req *ret, char **ret_field, struct err *err)
{
	json_t *c = json_object_get(body, "cpu");
	char *end;
	if (!c || json_is_null(c))
		return 0;
	if (json_is_number(c))
		ret->cpus = json_number_value(c);
	else if (json_is_string(c)) {
		errno = 0;
		ret->cpus = strtod(json_string_value(c), &end);
		if (errno || *end || end == json_string_value(c))
			ret->cpus = -1;
	} else
		ret->cpus = -1;
	if (!(ret->cpus > 0 && ret->cpus <= 1024) || isnan(ret->cpus))
		return field_fail(ret_field, "cpu", err, EINVAL,
				  "expected a number of CPUs above 0 like 0.5%s", "");
	return 0;
}

static int check_strv(char **v, const char *key, bool (*ok)(const char *), const char *want,
		      char **ret_field, struct err *err)
{
	for (size_t i = 0; v && v[i]; i++)
		if (!ok(v[i])) {
			_cleanup_free_ char *f = js_index(key, i);
			return field_fail(ret_field, f, err, EINVAL, want, v[i]);
		}
	return 0;
}

static bool env_ok(const char *s)
{
	const char *eq = strchr(s, '=');
	return eq && eq != s;
}

static bool port_num(const char *s, size_t n)
{
	if (n == 0 || n > 5 || strspn(s, "0123456789") < n)
		return false;
	unsigned long v = strtoul(s, NULL, 10);
	return v >= 1 && v <= 65535;
}

static bool port_ok(const char *s)
{
	const char *colon = strchr(s, ':'), *slash = strchr(s, '/');
	if (!colon || (slash && slash < colon))
		return false;
	size_t cn = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
	if (!port_num(s, colon - s) || !port_num(colon + 1, cn))
		return false;
	return !slash || streq(slash, "/tcp") || streq(slash, "/udp");
}

static bool path_clean(const char *p)
{
	/* absolute, no ".." component */
	if (p[0] != '/')
		return false;
	for (const char *c = p; (c = strstr(c, "..")); c += 2)
		if ((c == p || c[-1] == '/') && (c[2] == '\0' || c[2] == '/'))
			return false;
	return true;
}

static bool volume_ok(const char *s)
{
	_cleanup_free_ char *v = xstrdup(s);
	char *dst = strchr(v, ':'), *mode;
	if (!dst || dst == v)
		return false;
	*dst++ = '\0';
	if ((mode = strchr(dst, ':'))) {
		*mode++ = '\0';
		if (!streq(mode, "ro") && !streq(mode, "rw"))
			return false;
	}
	if (!path_clean(dst))
		return false;
	return v[0] == '/' ? path_clean(v) : api_name_valid(v);
}

static const char *const run_fields[] = { "image", "name", "vpc", "volumes", "memory",
					  "cpu", "user", "env", "workdir", "ports",
					  "command", "rm", "disk", "tty", "stdin",
					  "init", "stop_signal" };

static int run_fields_known(json_t *body, char **ret_field, struct err *err)
{
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(run_fields); i++)
			known |= streq(k, run_fields[i]);
		if (!known)
			return field_fail(ret_field, k, err, EINVAL, "unknown field%s", "");
	}
	return 0;
}

/* "1G" or bytes, within image/disk.h's bounds */
static int run_disk(json_t *body, struct api_run_req *ret, char **ret_field, struct err *err)
{
	json_t *d = json_object_get(body, "disk");
	struct err e = { 0 };
	char shown[32];
	int r;

	if (!d || json_is_null(d))
		return 0;
	if (json_is_string(d)) {
		r = bun_disk_bytes(json_string_value(d), &ret->disk, &e);
	} else if (json_is_integer(d)) {
		ret->disk = json_integer_value(d);
		snprintf(shown, sizeof(shown), "%" PRId64, ret->disk);
		r = img_disk_size_check(ret->disk, shown, &e);
	} else {
		r = err_msg(&e, EINVAL, "expected a size like 1G");
	}
	return r < 0 ? field_fail(ret_field, "disk", err, EINVAL, "%s", e.msg) : 0;
}

int api_run_decode(const char *body, size_t len, struct api_run_req *ret, char **ret_field,
		   struct err *err)
{
	_cleanup_json_ json_t *j = NULL;
	struct api_run_req r = { .memory = -1 };
	int x;

	if (ret_field)
		*ret_field = NULL;
	if ((x = api_body_object(body, len, &j, err)) < 0)
		return x;
	if ((x = run_fields_known(j, ret_field, err)) < 0)
		return x;
	if ((x = js_field(js_str(j, "", "image", true, &r.image, err), ret_field, err)) < 0 ||
	    (x = js_field(js_str(j, "", "name", false, &r.name, err), ret_field, err)) < 0 ||
	    (x = js_field(js_str(j, "", "vpc", false, &r.vpc, err), ret_field, err)) < 0 ||
	    (x = js_field(js_str(j, "", "user", false, &r.user, err), ret_field, err)) < 0 ||
	    (x = js_field(js_str(j, "", "workdir", false, &r.workdir, err), ret_field, err)) < 0 ||
	    (x = js_field(js_strv(j, "", "env", false, &r.env, err), ret_field, err)) < 0 ||
	    (x = js_field(js_strv(j, "", "command", false, &r.command, err), ret_field, err)) < 0 ||
	    (x = js_field(js_strv(j, "", "volumes", false, &r.volumes, err), ret_field, err)) < 0 ||
	    (x = js_field(js_strv(j, "", "ports", false, &r.ports, err), ret_field, err)) < 0 ||
	    (x = js_field(js_bool(j, "", "rm", &r.rm, err), ret_field, err)) < 0 ||
	    (x = js_field(js_bool(j, "", "tty", &r.tty, err), ret_field, err)) < 0 ||
	    (x = js_field(js_bool(j, "", "stdin", &r.stdin, err), ret_field, err)) < 0 ||
	    (x = js_field(js_bool(j, "", "init", &r.init, err), ret_field, err)) < 0 ||
	    (x = js_field(js_str(j, "", "stop_signal", false, &r.stop_signal, err), ret_field,
			  err)) < 0)
		goto fail;
	if ((x = run_memory(j, &r, ret_field, err)) < 0 || (x = run_cpu(j, &r, ret_field, err)) < 0 ||
	    (x = run_disk(j, &r, ret_field, err)) < 0)
		goto fail;
	x = -EINVAL;
	if (!*r.image || strlen(r.image) > 255) {
		field_fail(ret_field, "image", err, EINVAL, "expected an image reference%s", "");
		goto fail;
	}
	if (r.name && !api_name_valid(r.name)) {
		field_fail(ret_field, "name", err, EINVAL,
			   "'%.64s' is not a valid name ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 63)",
			   r.name);
		goto fail;
	}
	if (r.vpc && !api_name_valid(r.vpc)) {
		field_fail(ret_field, "vpc", err, EINVAL, "'%.64s' is not a valid VPC name", r.vpc);
		goto fail;
	}
	if (r.workdir && r.workdir[0] != '/') {
		field_fail(ret_field, "workdir", err, EINVAL, "'%.200s' is not an absolute path",
			   r.workdir);
		goto fail;
	}
	if (strv_len(r.command) > API_MAX_ARGV || strv_len(r.env) > API_MAX_ARGV) {
		field_fail(ret_field, strv_len(r.env) > API_MAX_ARGV ? "env" : "command", err,
			   E2BIG, "more than 1024 entries%s", "");
		goto fail;
	}
	if ((x = check_strv(r.env, "env", env_ok, "expected KEY=value, got '%.200s'", ret_field,
			    err)) < 0 ||
	    (x = check_strv(r.ports, "ports", port_ok,
			    "expected HOST:CONTAINER[/tcp|/udp] with ports 1-65535, got '%.100s'",
			    ret_field, err)) < 0 ||
	    (x = check_strv(r.volumes, "volumes", volume_ok,
			    "expected SOURCE:/TARGET[:ro] (an absolute source without '..', or a volume name), got '%.200s'",
			    ret_field, err)) < 0)
		goto fail;
	*ret = r;
	return 0;
fail:
	api_run_req_free(&r);
	return x;
}

static json_t *strv_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *run_port(const char *s)
{
	unsigned long host = strtoul(s, NULL, 10), ctr = strtoul(strchr(s, ':') + 1, NULL, 10);
	const char *slash = strchr(s, '/');
	return json_pack("{s:i,s:i,s:s,s:s}", "container_port", (int)ctr, "host_port", (int)host,
			 "protocol", slash ? slash + 1 : "tcp", "publish", "host");
}

static json_t *run_volume(const char *s)
{
	_cleanup_free_ char *v = xstrdup(s);
	char *dst = strchr(v, ':'), *mode;
	*dst++ = '\0';
	if ((mode = strchr(dst, ':')))
		*mode++ = '\0';
	return json_pack("{s:s,s:s,s:s,s:b}", "source", v, "target", dst, "mode",
			 mode ? mode : "rw", "named", v[0] != '/');
}

/* A name for an unnamed container: the image's last path element and 6 random hex. */
static char *run_name(const char *image)
{
	const char *base = strrchr(image, '/');
	char out[API_NAME_MAX + 1];
	size_t n = 0;
	base = base ? base + 1 : image;
	for (; *base && *base != ':' && *base != '@' && n < 40; base++)
		if (isalnum((unsigned char)*base) || strchr("_.-", *base))
			out[n++] = *base;
	if (n == 0 || !isalnum((unsigned char)out[0]))
		out[n = 0] = '\0', n = snprintf(out, sizeof(out), "c");
	FILE *f = fopen("/dev/urandom", "re");
	unsigned char b[3] = { 0 };
	if (f) {
		if (fread(b, 1, 3, f) != 3)
			memset(b, 0, 3);
		fclose(f);
	}
	snprintf(out + n, sizeof(out) - n, "-%02x%02x%02x", b[0], b[1], b[2]);
	return xstrdup(out);
}

int api_run_to_spec(const struct api_run_req *r, json_t **ret, char **ret_field,
		    struct err *err)
{
	_cleanup_free_ char *name = r->name ? xstrdup(r->name) : run_name(r->image);
	json_t *s = json_pack("{s:s,s:s,s:s,s:{s:i,s:i},s:s,s:i,s:o,s:[],s:[],s:{}}", "version",
			      "1.0", "name", name, "image", r->image, "replicas", "min", 1, "max",
			      1, "restart", "no", "restart_max", 0, "environment",
			      strv_json(r->env), "ports", "volumes", "resources");
	json_t *labels = json_pack("{s:s}", "coop.run", "1");

	if (r->rm)
		json_object_set_new(labels, "coop.rm", json_string("1"));
	json_object_set_new(s, "labels", labels);
	for (size_t i = 0; r->ports && r->ports[i]; i++)
		json_array_append_new(json_object_get(s, "ports"), run_port(r->ports[i]));
	for (size_t i = 0; r->volumes && r->volumes[i]; i++)
		json_array_append_new(json_object_get(s, "volumes"), run_volume(r->volumes[i]));
	if (r->memory > 0)
		json_object_set_new(json_object_get(s, "resources"), "memory_limit",
				    json_integer(r->memory));
	if (r->cpus > 0)
		json_object_set_new(json_object_get(s, "resources"), "cpus", json_real(r->cpus));
	if (r->disk > 0)
		json_object_set_new(json_object_get(s, "resources"), "disk", json_integer(r->disk));
	if (r->command)
		json_object_set_new(s, "command", strv_json(r->command));
	if (r->user)
		json_object_set_new(s, "user", json_string(r->user));
	if (r->workdir)
		json_object_set_new(s, "workdir", json_string(r->workdir));
	if (r->vpc)
		json_object_set_new(s, "vpc", json_string(r->vpc));
	if (r->tty) {
		json_object_set_new(s, "tty", json_true());
		json_object_set_new(s, "stdin", json_boolean(r->stdin));
	}
	if (r->init)
		json_object_set_new(s, "init", json_true());
	if (r->stop_signal)
		json_object_set_new(s, "stop_signal", json_string(r->stop_signal));
	*ret = s;
	return 0;
}

/* ---- exec ---- */

void api_exec_req_free(struct api_exec_req *r)
{
	strv_free(r->argv);
	strv_free(r->env);
	free(r->user);
	free(r->cwd);
	memset(r, 0, sizeof(*r));
}

static bool exec_field_known(const char *k)
{
	static const char *const known[] = { "argv", "env", "user", "cwd",
					     "tty", "stdin", "rows", "cols" };
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (streq(k, known[i]))
			return true;
	return false;
}

int api_exec_decode(const char *body, size_t len, struct api_exec_req *ret, char **ret_field,
		    struct err *err)
{
	_cleanup_json_ json_t *j = NULL;
	struct api_exec_req r = { 0 };
	const char *k;
	json_t *v;
	int x;

	if (ret_field)
		*ret_field = NULL;
	if ((x = api_body_object(body, len, &j, err)) < 0)
		return x;
	uint64_t rows = 0, cols = 0;
	json_object_foreach(j, k, v) if (!exec_field_known(k)) return
		field_fail(ret_field, k, err, EINVAL, "unknown field%s", "");
	if ((x = js_field(js_strv(j, "", "argv", true, &r.argv, err), ret_field, err)) < 0 ||
	    (x = js_field(js_strv(j, "", "env", false, &r.env, err), ret_field, err)) < 0 ||
	    (x = js_field(js_str(j, "", "user", false, &r.user, err), ret_field, err)) < 0 ||
	    (x = js_field(js_str(j, "", "cwd", false, &r.cwd, err), ret_field, err)) < 0 ||
	    (x = js_field(js_bool(j, "", "tty", &r.tty, err), ret_field, err)) < 0 ||
	    (x = js_field(js_bool(j, "", "stdin", &r.stdin, err), ret_field, err)) < 0 ||
	    (x = js_field(js_u64(j, "", "rows", 65535, &rows, err), ret_field, err)) < 0 ||
	    (x = js_field(js_u64(j, "", "cols", 65535, &cols, err), ret_field, err)) < 0)
		goto fail;
	r.rows = rows;
	r.cols = cols;
	x = -EINVAL;
	if (!r.argv[0] || !r.argv[0][0]) {
		field_fail(ret_field, "argv", err, EINVAL, "expected a command%s", "");
		goto fail;
	}
	if (strv_len(r.argv) > API_MAX_ARGV || strv_len(r.env) > API_MAX_ARGV) {
		field_fail(ret_field, "argv", err, E2BIG, "more than 1024 entries%s", "");
		goto fail;
	}
	if ((x = check_strv(r.env, "env", env_ok, "expected KEY=value, got '%.200s'", ret_field,
			    err)) < 0)
		goto fail;
	if (r.cwd && r.cwd[0] != '/') {
		x = field_fail(ret_field, "cwd", err, EINVAL, "'%.200s' is not an absolute path",
			       r.cwd);
		goto fail;
	}
	*ret = r;
	return 0;
fail:
	api_exec_req_free(&r);
	return x;
}

/* ---- events filters ---- */

static const char *const filter_keys[] = { "type", "action", "id", "name", "workload" };

int api_filter_check(const char *filter, struct err *err)
{
	const char *eq = strchr(filter, '=');
	if (!eq || eq == filter || !eq[1])
		return err_msg(err, EINVAL, "filter: expected KEY=VALUE, got '%.100s'", filter);
	for (size_t i = 0; i < ARRAY_SIZE(filter_keys); i++)
		if (strlen(filter_keys[i]) == (size_t)(eq - filter) &&
		    strncmp(filter, filter_keys[i], eq - filter) == 0)
			return 0;
	return err_msg(err, EINVAL,
		       "filter: unknown key in '%.100s' (type, action, id, name, workload)", filter);
}

bool api_event_matches(json_t *ev, char *const *filters)
{
	for (size_t i = 0; filters && filters[i]; i++) {
		const char *eq = strchr(filters[i], '=');
		_cleanup_free_ char *k = strndup(filters[i], eq - filters[i]);
		json_t *v = json_object_get(ev, k);
		if (!v)
			v = json_object_get(json_object_get(ev, "attrs"), k);
		if (!json_is_string(v) || !streq(json_string_value(v), eq + 1))
			return false;
	}
	return true;
}

/* ---- the route table ---- */

typedef void (*route_fn)(struct api_routes *rt, struct api_req *req, char **params);

#define H(n) static void n(struct api_routes *rt, struct api_req *req, char **p)
H(h_version);
H(h_info);
H(h_workload_apply);
H(h_workloads);
H(h_workload_rm);
H(h_run);
H(h_containers);
H(h_container);
H(h_stop);
H(h_container_rm);
H(h_logs);
H(h_exec);
H(h_metrics);
H(h_events);
H(h_images);
H(h_image_pull);
H(h_image_rm);
H(h_token_create);
H(h_tokens);
H(h_token_rm);
H(h_watch);

/* "{}" matches one path segment, "{*}" the rest of the path (image names have '/'). */
static const struct route {
	const char *method, *pattern;
	route_fn fn;
	api_cluster_fn cfn; /* a cluster route: 404 not_clustered without a cluster */
} routes[] = {
	{ "GET", "/v1/version", h_version, NULL },
	{ "GET", "/v1/info", h_info, NULL },
	{ "POST", "/v1/workloads", h_workload_apply, NULL },
	{ "GET", "/v1/workloads", h_workloads, NULL },
	{ "DELETE", "/v1/workloads/{}", h_workload_rm, NULL },
	{ "POST", "/v1/containers", h_run, NULL },
	{ "GET", "/v1/containers", h_containers, NULL },
	{ "GET", "/v1/containers/{}", h_container, NULL },
	{ "POST", "/v1/containers/{}/stop", h_stop, NULL },
	{ "DELETE", "/v1/containers/{}", h_container_rm, NULL },
	{ "GET", "/v1/containers/{}/logs", h_logs, NULL },
	{ "POST", "/v1/containers/{}/exec", h_exec, NULL },
	{ "POST", "/v1/containers/{}/attach", api_attach_route, NULL },
	{ "GET", "/v1/containers/{}/metrics", h_metrics, NULL },
	{ "GET", "/v1/events", h_events, NULL },
	{ "GET", "/v1/images", h_images, NULL },
	{ "POST", "/v1/images", h_image_pull, NULL },
	{ "DELETE", "/v1/images/{*}", h_image_rm, NULL },
	{ "POST", "/v1/tokens", h_token_create, NULL },
	{ "GET", "/v1/tokens", h_tokens, NULL },
	{ "DELETE", "/v1/tokens/{}", h_token_rm, NULL },
	{ "POST", "/v1/tokens/join", .cfn = api_cluster_token_join },
	{ "GET", "/v1/cluster", .cfn = api_cluster_get },
	{ "GET", "/v1/cluster/ca", .cfn = api_cluster_ca },
	{ "POST", "/v1/cluster/join", .cfn = api_cluster_join },
	{ "POST", "/v1/cluster/propose", .cfn = api_cluster_propose },
	{ "POST", "/v1/cluster/heartbeat", .cfn = api_cluster_heartbeat },
	{ "POST", "/v1/cluster/renew", .cfn = api_cluster_renew },
	{ "GET", "/v1/nodes", .cfn = api_cluster_nodes },
	{ "GET", "/v1/nodes/{}", .cfn = api_cluster_node },
	{ "DELETE", "/v1/nodes/{}", .cfn = api_cluster_node_rm },
	{ "POST", "/v1/nodes/{}/labels", .cfn = api_cluster_node_labels },
	{ "POST", "/v1/nodes/{}/drain", .cfn = api_cluster_node_drain },
	{ "POST", "/v1/nodes/{}/activate", .cfn = api_cluster_node_activate },
	{ "GET", "/v1/tasks", .cfn = api_cluster_tasks },
	{ "GET", "/v1/watch", h_watch, NULL }, /* a cluster route that needs the loop */
};

static bool pattern_match(const char *pat, const char *path, char *params[API_MAX_PARAMS])
{
	int np = 0;
	while (*pat && *path) {
		if (strncmp(pat, "{*}", 3) == 0) {
			if (np >= API_MAX_PARAMS)
				return false;
			params[np++] = xstrdup(path);
			return true;
		}
		if (strncmp(pat, "{}", 2) == 0) {
			size_t n = strcspn(path, "/");
			if (n == 0 || np >= API_MAX_PARAMS)
				return false;
			params[np++] = strndup(path, n);
			pat += 2;
			path += n;
			continue;
		}
		if (*pat++ != *path++)
			return false;
	}
	return *pat == '\0' && *path == '\0';
}

int api_route_match(const char *method, const char *path, int *ret_index,
		    char *params[API_MAX_PARAMS])
{
	bool path_seen = false;
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		char *pp[API_MAX_PARAMS] = { 0 };
		bool m = pattern_match(routes[i].pattern, path, pp);
		if (m && streq(routes[i].method, method)) {
			memcpy(params, pp, sizeof(pp));
			*ret_index = i;
			return 0;
		}
		for (int k = 0; k < API_MAX_PARAMS; k++)
			free(pp[k]);
		path_seen |= m;
	}
	return path_seen ? -EOPNOTSUPP : -ENOENT;
}

/* ================= handlers ================= */

/* GET /v1/watch (api/routes_cluster.h): its stream runs a timer on the daemon's loop,
 * which cluster routes are not handed. */
H(h_watch)
{
	if (!rt->cfg.cluster)
		return api_reply_error(req, 404, "not_clustered", NULL,
				       "this daemon runs alone, not in a cluster (see coop init)");
	api_cluster_watch(rt->cfg.cluster, rt->cfg.loop, req);
}

static void reply_err(struct api_req *req, int r, const struct err *err, const char *field)
{
	const char *code;
	unsigned status = api_status_for(r, &code);
	_cleanup_free_ char *f = field ? NULL : api_error_field(err->msg);
	api_reply_error(req, status, code, field ? field : f, "%s",
			err->msg[0] ? err->msg : strerror(-r));
}

static bool query_flag(struct api_req *req, const char *key)
{
	const char *v = api_req_query(req, key);
	return v && (streq(v, "1") || streq(v, "true") || streq(v, "yes") || !*v);
}

/* ?key=N: 0 and *ret untouched when absent; false (reply sent) when malformed. */
static bool query_u64(struct api_req *req, const char *key, uint64_t max, uint64_t *ret)
{
	const char *v = api_req_query(req, key);
	char *end;
	if (!v)
		return true;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (!*v || *end || errno || n > max || v[0] == '-') {
		api_reply_error(req, 400, "bad_request", key,
				"query %s: expected an integer 0..%" PRIu64 ", got '%.40s'", key,
				max, v);
		return false;
	}
	*ret = n;
	return true;
}

H(h_version)
{
	api_reply_json(req, 200, json_pack("{s:s,s:s}", "version", rt->cfg.version, "api",
					   API_VERSION));
}

static size_t count_status(json_t *cs, const char *status)
{
	size_t i, n = 0;
	json_t *c;
	json_array_foreach(cs, i, c)
	{
		const char *s = json_string_value(json_object_get(c, "status"));
		n += s && streq(s, status);
	}
	return n;
}

H(h_info)
{
	_cleanup_json_ json_t *cs = rt->e->containers(rt->cfg.agent, true);
	_cleanup_json_ json_t *ws = rt->e->workloads(rt->cfg.agent);
	api_reply_json(req, 200,
		       json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:I,s:I},s:I,s:i}", "version",
				 rt->cfg.version, "api", API_VERSION, "state_dir",
				 rt->cfg.state_dir ? rt->cfg.state_dir : "", "run_dir",
				 rt->cfg.run_dir ? rt->cfg.run_dir : "", "image_store",
				 rt->cfg.image_store ? rt->cfg.image_store : "", "containers",
				 "total", (json_int_t)json_array_size(cs), "running",
				 (json_int_t)count_status(cs, "running"), "workloads",
				 (json_int_t)json_array_size(ws), "streams", rt->n_streams));
}

static void apply(struct api_routes *rt, struct api_req *req, json_t *spec, bool replace,
		  unsigned status)
{
	struct err err = { 0 };
	json_t *out = NULL;
	int r = rt->e->workload_apply(rt->cfg.agent, spec, replace, &out, &err);
	if (r < 0)
		return reply_err(req, r, &err, NULL);
	api_reply_json(req, status, out ? out : json_object());
}

H(h_workload_apply)
{
	_cleanup_json_ json_t *spec = NULL;
	struct err err = { 0 };
	size_t len;
	const char *body = api_req_body(req, &len);
	int r = api_body_object(body, len, &spec, &err);
	if (r < 0)
		return reply_err(req, r, &err, NULL);
	json_t *name = json_object_get(spec, "name");
	if (!json_is_string(name) || !api_name_valid(json_string_value(name)))
		return api_reply_error(req, 422, "invalid", "name",
				       "name: expected a workload name ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 63)");
	if (rt->cfg.cluster)
		return api_cluster_workload_put(rt->cfg.cluster, req, spec,
						!query_flag(req, "replace"));
	apply(rt, req, spec, query_flag(req, "replace"), 201);
}

H(h_workloads)
{
	if (rt->cfg.cluster && !query_flag(req, "local"))
		return api_cluster_workloads(rt->cfg.cluster, req, p);
	api_reply_json(req, 200, rt->e->workloads(rt->cfg.agent));
}

/* In a cluster, a workload of this node's agent that the cluster did not place: what
 * `coop run --image` runs here (as `docker run` on a Swarm node). */
static bool standalone(struct api_routes *rt, const char *name)
{
	_cleanup_json_ json_t *ws = rt->e->workloads(rt->cfg.agent);
	size_t i;
	json_t *w;
	json_array_foreach(ws, i, w)
		if (streq(json_string_value(json_object_get(w, "name")) ?: "", name))
			return !json_is_true(json_object_get(w, "assigned"));
	return false;
}

H(h_workload_rm)
{
	struct err err = { 0 };
	uint64_t timeout = 10000;
	if (rt->cfg.cluster && !standalone(rt, p[0]))
		return api_cluster_workload_rm(rt->cfg.cluster, req, p);
	if (!query_u64(req, "timeout_ms", 3600000, &timeout))
		return;
	int r = rt->e->workload_remove(rt->cfg.agent, p[0], timeout, &err);
	if (r < 0)
		return reply_err(req, r, &err, NULL);
	api_reply_json(req, 200, json_pack("{s:s}", "removed", p[0]));
}

H(h_run)
{
	struct api_run_req run;
	_cleanup_free_ char *field = NULL;
	_cleanup_json_ json_t *spec = NULL;
	struct err err = { 0 };
	size_t len;
	const char *body = api_req_body(req, &len);
	int r = api_run_decode(body, len, &run, &field, &err);
	if (r < 0)
		return reply_err(req, r, &err, field);
	r = api_run_to_spec(&run, &spec, &field, &err);
	api_run_req_free(&run);
	if (r < 0)
		return reply_err(req, r, &err, field);
	apply(rt, req, spec, false, 201);
}

H(h_containers)
{
	api_reply_json(req, 200, rt->e->containers(rt->cfg.agent, query_flag(req, "all")));
}

H(h_container)
{
	struct err err = { 0 };
	json_t *c = NULL;
	int r = rt->e->container_get(rt->cfg.agent, p[0], &c, &err);
	if (r < 0)
		return reply_err(req, r, &err, NULL);
	api_reply_json(req, 200, c);
}

H(h_metrics)
{
	struct err err = { 0 };
	json_t *m = NULL;
	int r = rt->e->container_metrics(rt->cfg.agent, p[0], &m, &err);
	if (r < 0)
		return reply_err(req, r, &err, NULL);
	api_reply_json(req, 200, m);
}

/* ---- stop / rm: answered when the engine is done ---- */

struct done_ctx {
	struct api_routes *rt;
	struct api_req *req;
	char *ref, *workload; /* rm: the `coop run` workload to remove with its container */
	const char *verb;
};

static void done_free(struct done_ctx *d)
{
	api_req_release(d->req);
	free(d->ref);
	free(d->workload);
	free(d);
}

static void on_done(void *ctx, int status, const struct err *err)
{
	struct done_ctx *d = ctx;
	if (status < 0) {
		reply_err(d->req, status, err, NULL);
	} else {
		if (d->workload) {
			struct err e2 = { 0 };
			if (d->rt->e->workload_remove(d->rt->cfg.agent, d->workload, 0, &e2) < 0 &&
			    e2.code != ENOENT)
				log_warn("remove workload %s: %s", d->workload, e2.msg);
		}
		api_reply_json(d->req, 200, json_pack("{s:s}", d->verb, d->ref));
	}
	done_free(d);
}

static struct done_ctx *done_new(struct api_routes *rt, struct api_req *req, const char *ref,
				 const char *verb)
{
	struct done_ctx *d = xcalloc(1, sizeof(*d));
	d->rt = rt;
	d->req = api_req_hold(req);
	d->ref = xstrdup(ref);
	d->verb = verb;
	return d;
}

H(h_stop)
{
	struct err err = { 0 };
	uint64_t timeout = 10000;
	if (!query_u64(req, "timeout_ms", 3600000, &timeout))
		return;
	struct done_ctx *d = done_new(rt, req, p[0], "stopped");
	int r = rt->e->container_stop(rt->cfg.agent, p[0], timeout, on_done, d, &err);
	if (r < 0) {
		reply_err(req, r, &err, NULL);
		done_free(d);
	}
}

/* The workload a `coop run --image` container came from (removed with it). */
static char *run_workload_of(struct api_routes *rt, json_t *c)
{
	const char *w = json_string_value(json_object_get(c, "workload"));
	_cleanup_json_ json_t *ws = w ? rt->e->workloads(rt->cfg.agent) : NULL;
	size_t i;
	json_t *x;
	json_array_foreach(ws, i, x)
	{
		json_t *spec = json_object_get(x, "spec") ? json_object_get(x, "spec") : x;
		const char *n = json_string_value(json_object_get(spec, "name"));
		if (n && streq(n, w) &&
		    json_object_get(json_object_get(spec, "labels"), "coop.run"))
			return xstrdup(w);
	}
	return NULL;
}

H(h_container_rm)
{
	struct err err = { 0 };
	_cleanup_json_ json_t *c = NULL;
	int r = rt->e->container_get(rt->cfg.agent, p[0], &c, &err);
	if (r < 0)
		return reply_err(req, r, &err, NULL);
	struct done_ctx *d = done_new(rt, req, p[0], "removed");
	d->workload = run_workload_of(rt, c);
	r = rt->e->container_remove(rt->cfg.agent, p[0], query_flag(req, "force"), on_done, d,
				    &err);
	if (r < 0) {
		reply_err(req, r, &err, NULL);
		done_free(d);
	}
}

/* ---- events: replay from the log, then live; resumable by seq ---- */

struct ev_sub {
	struct api_routes *rt;
	struct api_req *req;
	char **filters;
	uint64_t last; /* highest seq sent or skipped */
	struct ev_sub *prev, *next;
};

static void sub_close(void *ctx)
{
	struct ev_sub *s = ctx;
	if (s->prev)
		s->prev->next = s->next;
	else
		s->rt->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->rt->n_streams--;
	api_req_release(s->req);
	strv_free(s->filters);
	free(s);
}

static void sub_send(struct ev_sub *s, json_t *ev)
{
	uint64_t seq = json_integer_value(json_object_get(ev, "seq"));
	if (seq <= s->last)
		return; /* already sent: a replay and a live event may overlap */
	s->last = seq;
	if (api_event_matches(ev, s->filters))
		api_stream_json(s->req, ev);
}

static bool streams_full(struct api_routes *rt, struct api_req *req)
{
	if (rt->n_streams < API_MAX_STREAMS)
		return false;
	api_reply_error(req, 409, "limit_reached", NULL,
			"too many open streams (at most %d): close some followers", API_MAX_STREAMS);
	return true;
}

H(h_events)
{
	struct err err = { 0 };
	uint64_t since = 0;
	_cleanup_json_ json_t *past = NULL;
	_cleanup_strv_ char **filters = NULL;
	const char *f = api_req_query(req, "filter");
	size_t i;
	json_t *ev;

	if (!query_u64(req, "since", UINT64_MAX, &since))
		return;
	if (f && *f) {
		_cleanup_free_ char *copy = xstrdup(f);
		for (char *tok, *save = NULL, *s = copy; (tok = strtok_r(s, ",", &save)); s = NULL) {
			if (api_filter_check(tok, &err) < 0)
				return api_reply_error(req, 422, "invalid", "filter", "%s", err.msg);
			filters = strv_append(filters, tok);
		}
	}
	bool follow = query_flag(req, "follow");
	if (follow && streams_full(rt, req))
		return;
	int r = rt->e->events_since(rt->cfg.agent, since, &past, &err);
	if (r < 0)
		return reply_err(req, r, &err, NULL);
	struct ev_sub *s = xcalloc(1, sizeof(*s));
	s->rt = rt;
	s->req = api_req_hold(req);
	s->filters = take_ptr(filters);
	s->last = since;
	s->next = rt->subs;
	if (s->next)
		s->next->prev = s;
	rt->subs = s;
	rt->n_streams++;
	api_stream_begin(req, 200, sub_close, s);
	json_array_foreach(past, i, ev) sub_send(s, ev);
	if (!follow)
		api_stream_end(req);
}

/* ---- logs ---- */

struct follower {
	struct api_routes *rt;
	struct api_req *req;
	char *id, *path, *since;
	int fd;
	ino_t ino;
	char *partial; /* an incomplete last line */
	size_t partial_len;
	uv_timer_t timer;
	bool closed;
	struct follower *prev, *next;
};

#define FOLLOW_TICK_MS 200

static bool line_after(const char *line, size_t len, const char *since)
{
	if (!since)
		return true;
	const char *t = memmem(line, len, "\"t\":\"", 5);
	if (!t)
		return true;
	t += 5;
	size_t n = strlen(since);
	if ((size_t)(line + len - t) < n)
		return true;
	return strncmp(t, since, n) >= 0;
}

/* Sends the complete lines of buf (kept in f->partial otherwise). */
static void send_lines(struct follower *f, const char *buf, size_t len)
{
	f->partial = xrealloc(f->partial, f->partial_len + len + 1);
	memcpy(f->partial + f->partial_len, buf, len);
	f->partial_len += len;
	char *start = f->partial, *end = f->partial + f->partial_len, *nl;
	while (start < end && (nl = memchr(start, '\n', end - start))) {
		if (nl > start && line_after(start, nl - start, f->since))
			api_stream_write(f->req, start, nl - start + 1);
		start = nl + 1;
	}
	f->partial_len = end - start;
	memmove(f->partial, start, f->partial_len);
}

static void read_to_end(struct follower *f)
{
	char buf[16384];
	ssize_t n;
	while (f->fd >= 0 && (n = read(f->fd, buf, sizeof(buf))) > 0) {
		send_lines(f, buf, n);
		if (api_stream_pending(f->req) > API_STREAM_MAX_PENDING)
			break;
	}
}

/* After rotation the path names a new file: finish the old one, start the new. */
static void check_rotation(struct follower *f)
{
	struct stat st;
	if (!f->path || stat(f->path, &st) < 0 || st.st_ino == f->ino)
		return;
	read_to_end(f);
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	close(f->fd);
	f->fd = fd;
	f->ino = st.st_ino;
	f->partial_len = 0;
}

static int exit_code_of(json_t *c)
{
	static const char *const keys[] = { "exit_code", "exitCode", "exit" };
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_t *v = json_object_get(c, keys[i]);
		if (json_is_integer(v))
			return json_integer_value(v);
	}
	return -1;
}

static bool still_running(const char *status)
{
	return status && (streq(status, "running") || streq(status, "restarting") ||
			  streq(status, "created") || streq(status, "starting"));
}

/* A container that had written nothing yet had no log file to follow: pick it up
 * once it exists. */
static void follower_open(struct follower *f)
{
	_cleanup_strv_ char **files = NULL;
	struct err err = { 0 };
	struct stat st;
	bool running;

	if (f->fd >= 0 ||
	    f->rt->e->container_logs(f->rt->cfg.agent, f->id, &files, &running, &err) < 0 ||
	    strv_len(files) == 0)
		return;
	free(f->path);
	f->path = xstrdup(files[strv_len(files) - 1]);
	f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (f->fd >= 0 && fstat(f->fd, &st) == 0)
		f->ino = st.st_ino;
}

static void follower_finish(struct follower *f, int exit_code)
{
	follower_open(f);
	read_to_end(f);
	if (exit_code != INT32_MIN)
		api_stream_json(f->req, json_pack("{s:i}", "exit", exit_code));
	api_stream_end(f->req); /* -> follower_close */
}

static void on_follow_tick(uv_timer_t *t)
{
	struct follower *f = t->data;
	struct err err = { 0 };
	_cleanup_json_ json_t *c = NULL;

	if (api_stream_pending(f->req) > API_STREAM_MAX_PENDING)
		return; /* the client is slow: wait */
	follower_open(f);
	read_to_end(f);
	check_rotation(f);
	if (f->rt->e->container_get(f->rt->cfg.agent, f->id, &c, &err) < 0)
		return follower_finish(f, INT32_MIN);
	if (!still_running(json_string_value(json_object_get(c, "status"))))
		follower_finish(f, exit_code_of(c));
}

static void follower_free(uv_handle_t *h)
{
	struct follower *f = h->data;
	if (f->fd >= 0)
		close(f->fd);
	free(f->id);
	free(f->path);
	free(f->since);
	free(f->partial);
	free(f);
}

static void follower_close(void *ctx)
{
	struct follower *f = ctx;
	if (f->closed)
		return;
	f->closed = true;
	if (f->prev)
		f->prev->next = f->next;
	else
		f->rt->followers = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->rt->n_streams--;
	api_req_release(f->req);
	uv_timer_stop(&f->timer);
	uv_close((uv_handle_t *)&f->timer, follower_free);
}

/* "2024-05-01T10:00:00Z", "10m" (ago) or seconds since the epoch -> the RFC 3339
 * prefix log lines at or after it compare >= to. */
static int since_cutoff(const char *s, char **ret)
{
	uint64_t ms;
	char *end;
	time_t t;
	struct tm tm;
	char buf[32];

	if (strlen(s) >= 19 && s[4] == '-' && s[10] == 'T') {
		*ret = strndup(s, 19);
		return 0;
	}
	if (bun_duration_ms(s, &ms) == 0 && !isdigit((unsigned char)s[strlen(s) - 1])) {
		t = time(NULL) - (time_t)(ms / 1000);
	} else {
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (errno || *end || end == s || v < 0)
			return -EINVAL;
		t = v;
	}
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
	*ret = xstrdup(buf);
	return 0;
}

/* The last `tail` lines (0 = all) of the files, at or after since. */
static void dump_logs(struct follower *f, char **files, uint64_t tail, off_t *ret_last_size)
{
	size_t total = 0, n_lines = 0, cap = 0;
	struct line {
		const char *p;
		size_t n;
	} *lines = NULL;
	char **bufs = xcalloc(strv_len(files) + 1, sizeof(*bufs));

	for (size_t i = 0; files[i]; i++) {
		struct err err = { 0 };
		size_t len = 0;
		if (fs_read_at(AT_FDCWD, files[i], &bufs[i], &len, &err) < 0)
			continue;
		if (!files[i + 1])
			*ret_last_size = len;
		total += len;
		for (char *s = bufs[i], *e = bufs[i] + len, *nl; s < e && (nl = memchr(s, '\n', e - s));
		     s = nl + 1) {
			if (nl == s || !line_after(s, nl - s, f->since))
				continue;
			if (n_lines == cap)
				lines = xrealloc(lines, (cap = cap ? 2 * cap : 256) * sizeof(*lines));
			lines[n_lines++] = (struct line){ s, nl - s + 1 };
		}
	}
	size_t from = tail && tail < n_lines ? n_lines - tail : 0;
	for (size_t i = from; i < n_lines; i++)
		api_stream_write(f->req, lines[i].p, lines[i].n);
	free(lines);
	for (size_t i = 0; files[i]; i++)
		free(bufs[i]);
	free(bufs);
	(void)total;
}

H(h_logs)
{
	struct err err = { 0 };
	_cleanup_strv_ char **files = NULL;
	_cleanup_json_ json_t *c = NULL;
	bool running = false, follow = query_flag(req, "follow");
	uint64_t tail = 0;
	const char *since = api_req_query(req, "since");
	_cleanup_free_ char *cutoff = NULL;
	off_t last_size = 0;
	int r;

	if (!query_u64(req, "tail", API_LOG_TAIL_MAX, &tail))
		return;
	if (since && *since && since_cutoff(since, &cutoff) < 0)
		return api_reply_error(req, 400, "bad_request", "since",
				       "since: expected a time (2024-05-01T10:00:00Z), a duration (10m) or epoch seconds, got '%.40s'",
				       since);
	if ((r = rt->e->container_get(rt->cfg.agent, p[0], &c, &err)) < 0 ||
	    (r = rt->e->container_logs(rt->cfg.agent, p[0], &files, &running, &err)) < 0)
		return reply_err(req, r, &err, NULL);
	if (follow && streams_full(rt, req))
		return;
	struct follower *f = xcalloc(1, sizeof(*f));
	f->rt = rt;
	f->req = api_req_hold(req);
	f->id = xstrdup(json_string_value(json_object_get(c, "id")) ?: p[0]);
	f->since = take_ptr(cutoff);
	f->fd = -1;
	uv_timer_init(rt->cfg.loop, &f->timer);
	f->timer.data = f;
	f->next = rt->followers;
	if (f->next)
		f->next->prev = f;
	rt->followers = f;
	rt->n_streams++;
	api_stream_begin(req, 200, follower_close, f);
	if (f->closed)
		return;
	dump_logs(f, files, tail, &last_size);
	size_t n = strv_len(files);
	if (!follow)
		return api_stream_end(req);
	if (n > 0) { /* go on from where the dump ended */
		struct stat st;
		f->path = xstrdup(files[n - 1]);
		f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
		if (f->fd >= 0 && fstat(f->fd, &st) == 0) {
			f->ino = st.st_ino;
			lseek(f->fd, last_size, SEEK_SET);
		}
	}
	if (!running) /* exited already: the logs, then how it ended */
		return follower_finish(f, exit_code_of(c));
	uv_timer_start(&f->timer, on_follow_tick, FOLLOW_TICK_MS, FOLLOW_TICK_MS);
}

/* ---- exec ---- */

struct exec_ctx {
	struct api_req *req;
	bool begun;
};

static void exec_begin(struct exec_ctx *x)
{
	if (!x->begun) {
		x->begun = true;
		api_stream_begin(x->req, 200, NULL, NULL);
	}
}

static void exec_out(void *ctx, int stream, const char *data, size_t len)
{
	struct exec_ctx *x = ctx;
	exec_begin(x);
	if (!api_req_alive(x->req) || api_stream_pending(x->req) > API_STREAM_MAX_PENDING)
		return;
	_cleanup_free_ char *b64 = img_auth_base64_encode(data, len);
	api_stream_json(x->req, json_pack("{s:i,s:s}", "stream", stream, "data", b64));
}

static void exec_done(void *ctx, int exit_code, const struct err *err)
{
	struct exec_ctx *x = ctx;
	exec_begin(x);
	json_t *last = json_pack("{s:i}", "exit", exit_code);
	if (err && err->msg[0])
		json_object_set_new(last, "error", json_string(err->msg));
	api_stream_json(x->req, last);
	json_decref(last);
	api_stream_end(x->req);
	api_req_release(x->req);
	free(x);
}

/* ---- interactive exec: a session over an upgraded stream (api/session.h) ---- */

static void session_upgraded(void *ctx, int fd, const char *extra, size_t n, struct api_upgrade *u)
{
	api_session_attach(ctx, fd, extra, n, u);
}

static void session_ready(void *ctx, struct api_session *s, const struct err *err)
{
	struct api_req *req = ctx;
	if (err)
		api_reply_error(req, 500, "exec_failed", NULL, "%s", err->msg);
	else
		api_reply_upgrade(req, session_upgraded, s);
	api_req_release(req);
}

static void exec_interactive(struct api_routes *rt, struct api_req *req, const char *ref,
			     const struct api_exec_req *e)
{
	struct err err = { 0 };
	_cleanup_free_ char *id = NULL, *rtroot = NULL;
	if (!api_req_wants_upgrade(req))
		return api_reply_error(req, 400, "bad_request", "tty",
				       "tty/stdin exec needs \"Connection: Upgrade\" and \"Upgrade: tcp\"");
	int r = rt->e->container_exec_target(rt->cfg.agent, ref, &id, &rtroot, &err);
	if (r < 0)
		return reply_err(req, r, &err, NULL);
	_cleanup_free_ char *dir = xasprintf("%s/exec", rt->cfg.run_dir);
	if ((r = fs_mkdir_p(dir, 0700, &err)) < 0)
		return reply_err(req, r, &err, NULL);
	struct api_session_opts o = {
		/* the daemon's own binary, even if replaced on disk since it started */
		.exe = "/proc/self/exe", .rtroot = rtroot, .sock_dir = dir, .id = id, .argv = e->argv,
		.env = e->env, .user = e->user, .cwd = e->cwd, .tty = e->tty, .stdin = e->stdin,
		.rows = e->rows, .cols = e->cols, .set = &rt->sessions,
	};
	api_req_hold(req);
	if ((r = api_session_start(rt->cfg.loop, &o, session_ready, req, &err)) < 0) {
		api_req_release(req);
		return reply_err(req, r, &err, NULL);
	}
}

H(h_exec)
{
	struct api_exec_req e;
	_cleanup_free_ char *field = NULL;
	struct err err = { 0 };
	size_t len;
	const char *body = api_req_body(req, &len);
	int r = api_exec_decode(body, len, &e, &field, &err);
	if (r < 0)
		return reply_err(req, r, &err, field);
	if (e.tty || e.stdin) {
		exec_interactive(rt, req, p[0], &e);
		api_exec_req_free(&e);
		return;
	}
	struct exec_ctx *x = xcalloc(1, sizeof(*x));
	x->req = api_req_hold(req);
	r = rt->e->container_exec(rt->cfg.agent, p[0], e.argv, e.env, e.user, e.cwd, exec_out,
				  exec_done, x, &err);
	api_exec_req_free(&e);
	if (r < 0) {
		api_req_release(x->req);
		free(x);
		return reply_err(req, r, &err, NULL);
	}
	exec_begin(x);
}

/* ---- images ---- */

static void store_closep(struct img_store **st)
{
	if (*st)
		img_store_close(*st);
}

H(h_images)
{
	_cleanup_(store_closep) struct img_store *st = NULL;
	_cleanup_json_ json_t *refs = NULL;
	struct err err = { 0 };
	json_t *out = json_array(), *v;
	const char *name;
	int r;

	if ((r = img_store_open(rt->cfg.image_store, &st, &err)) < 0 ||
	    (r = img_store_refs(st, &refs, &err)) < 0) {
		json_decref(out);
		return reply_err(req, r, &err, NULL);
	}
	json_object_foreach(refs, name, v)
		json_array_append_new(out, json_pack("{s:s,s:O?,s:O?}", "name", name, "target",
						     json_object_get(v, "target"), "manifest",
						     json_object_get(v, "manifest")));
	api_reply_json(req, 200, out);
}

struct pull_work {
	uv_work_t w;
	struct api_req *req;
	char *store, *ref, *manifest;
	char **insecure;
	int r;
	struct err err;
};

static void pull_run(uv_work_t *w)
{
	struct pull_work *pw = w->data;
	struct img_store *st = NULL;
	struct img_pull_opts o = { .insecure = pw->insecure };

	pw->r = img_store_open(pw->store, &st, &pw->err);
	if (pw->r == 0)
		pw->r = img_pull(st, pw->ref, &o, &pw->manifest, &pw->err);
	if (st)
		img_store_close(st);
}

static void pull_after(uv_work_t *w, int status)
{
	struct pull_work *pw = w->data;
	if (pw->r < 0) {
		const char *code;
		unsigned st = api_status_for(pw->r, &code);
		if (st == 500 || st == 422)
			st = 502, code = "pull_failed"; /* the registry's fault more often than not */
		api_reply_error(pw->req, st, code, NULL, "%s", pw->err.msg);
	} else {
		api_reply_json(pw->req, 200, json_pack("{s:s,s:s}", "name", pw->ref, "manifest",
						       pw->manifest ? pw->manifest : ""));
	}
	api_req_release(pw->req);
	free(pw->store);
	free(pw->ref);
	free(pw->manifest);
	strv_free(pw->insecure);
	free(pw);
}

H(h_image_pull)
{
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *ref = NULL;
	_cleanup_strv_ char **insecure = NULL;
	struct err err = { 0 };
	size_t len;
	const char *b = api_req_body(req, &len);
	int r;

	if ((r = api_body_object(b, len, &body, &err)) < 0 ||
	    (r = js_str(body, "", "ref", true, &ref, &err)) < 0 ||
	    (r = js_strv(body, "", "insecure", false, &insecure, &err)) < 0)
		return reply_err(req, r, &err, NULL);
	struct img_ref parsed;
	if ((r = img_ref_parse(ref, &parsed, &err)) < 0)
		return reply_err(req, -EINVAL, &err, "ref");
	img_ref_free(&parsed);
	struct pull_work *pw = xcalloc(1, sizeof(*pw));
	pw->w.data = pw;
	pw->req = api_req_hold(req);
	pw->store = rt->cfg.image_store ? xstrdup(rt->cfg.image_store) : NULL;
	pw->ref = take_ptr(ref);
	pw->insecure = take_ptr(insecure);
	if ((r = uv_queue_work(rt->cfg.loop, &pw->w, pull_run, pull_after)) < 0) {
		pw->r = -EIO;
		snprintf(pw->err.msg, sizeof(pw->err.msg), "queue pull: %s", uv_strerror(r));
		pull_after(&pw->w, r);
	}
}

H(h_image_rm)
{
	_cleanup_(store_closep) struct img_store *st = NULL;
	struct err err = { 0 };
	int r;

	if ((r = img_store_open(rt->cfg.image_store, &st, &err)) < 0)
		return reply_err(req, r, &err, NULL);
	r = img_store_ref_del(st, p[0], &err);
	if (r == -ENOENT) { /* "busybox" means docker.io/library/busybox:latest */
		struct img_ref ref;
		struct err e2 = { 0 };
		if (img_ref_parse(p[0], &ref, &e2) == 0) {
			_cleanup_free_ char *n = img_ref_string(&ref);
			img_ref_free(&ref);
			if (img_store_ref_del(st, n, &e2) == 0)
				r = 0;
		}
	}
	if (r < 0)
		return reply_err(req, r, &err, NULL);
	api_reply_json(req, 200, json_pack("{s:s}", "removed", p[0]));
}

/* ---- tokens ---- */

H(h_token_create)
{
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *role = NULL, *name = NULL;
	struct err err = { 0 };
	json_t *out = NULL;
	size_t len;
	const char *b = api_req_body(req, &len);
	int r;

	if (!rt->cfg.tokens)
		return api_reply_error(req, 500, "internal", NULL, "no token store");
	if ((r = api_body_object(b, len, &body, &err)) < 0 ||
	    (r = js_str(body, "", "role", true, &role, &err)) < 0 ||
	    (r = js_str(body, "", "name", false, &name, &err)) < 0)
		return reply_err(req, r, &err, NULL);
	if (auth_role_parse(role) == AUTH_NONE)
		return api_reply_error(req, 422, "invalid", "role",
				       "role: expected admin or read, got '%.40s'", role);
	if ((r = auth_store_create(rt->cfg.tokens, auth_role_parse(role), name, &out, &err)) < 0)
		return reply_err(req, r, &err, NULL);
	api_reply_json(req, 201, out);
}

H(h_tokens)
{
	if (!rt->cfg.tokens)
		return api_reply_json(req, 200, json_array());
	api_reply_json(req, 200, auth_store_list(rt->cfg.tokens));
}

H(h_token_rm)
{
	struct err err = { 0 };
	int r;
	if (!rt->cfg.tokens)
		return api_reply_error(req, 404, "not_found", NULL, "no tokens");
	if ((r = auth_store_remove(rt->cfg.tokens, p[0], &err)) < 0)
		return reply_err(req, r, &err, NULL);
	api_reply_json(req, 200, json_pack("{s:s}", "removed", p[0]));
}

/* ================= events in, dispatch ================= */

static json_t *event_json(const struct agent_event *ev)
{
	json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:s}", "seq", (json_int_t)ev->seq, "time",
			      ev->time ? ev->time : "", "type", ev->type ? ev->type : "", "action",
			      ev->action ? ev->action : "", "id", ev->id ? ev->id : "");
	if (!j)
		return NULL;
	if (ev->attrs)
		json_object_set(j, "attrs", ev->attrs);
	return j;
}

/* `coop run --rm`: the workload goes when its container dies — after the container's
 * log followers have read to the end and sent its exit code. Deferred to a fresh
 * loop turn: the engine is in the middle of reporting the death. */
struct autorm {
	uv_timer_t t;
	struct api_routes *rt;
	char *id, *workload;
};

static void autorm_free(uv_handle_t *h)
{
	struct autorm *a = h->data;
	free(a->id);
	free(a->workload);
	free(a);
}

static void on_autorm(uv_timer_t *t)
{
	struct autorm *a = t->data;
	struct api_routes *rt = a->rt;
	_cleanup_json_ json_t *c = NULL;
	struct err err = { 0 };

	if (rt->e->container_get(rt->cfg.agent, a->id, &c, &err) == 0) {
		int code = exit_code_of(c);
		for (struct follower *f = rt->followers, *next; f; f = next) {
			next = f->next;
			if (streq(f->id, a->id))
				follower_finish(f, code);
		}
	}
	if (rt->e->workload_remove(rt->cfg.agent, a->workload, 0, &err) < 0 && err.code != ENOENT)
		log_warn("remove workload %s (--rm): %s", a->workload, err.msg);
	uv_close((uv_handle_t *)t, autorm_free);
}

static void maybe_autorm(struct api_routes *rt, const struct agent_event *ev)
{
	if (!ev->type || !streq(ev->type, "container") || !ev->action || !streq(ev->action, "die") ||
	    !ev->id)
		return;
	_cleanup_json_ json_t *c = NULL;
	struct err err = { 0 };
	if (rt->e->container_get(rt->cfg.agent, ev->id, &c, &err) < 0)
		return;
	const char *st = json_string_value(json_object_get(c, "status"));
	if (st && streq(st, "restarting"))
		return;
	_cleanup_free_ char *w = run_workload_of(rt, c);
	if (!w)
		return;
	_cleanup_json_ json_t *ws = rt->e->workloads(rt->cfg.agent);
	bool rm = false;
	size_t i;
	json_t *x;
	json_array_foreach(ws, i, x)
	{
		json_t *spec = json_object_get(x, "spec") ? json_object_get(x, "spec") : x;
		const char *n = json_string_value(json_object_get(spec, "name"));
		if (n && streq(n, w) && json_object_get(json_object_get(spec, "labels"), "coop.rm"))
			rm = true;
	}
	if (!rm)
		return;
	struct autorm *a = xcalloc(1, sizeof(*a));
	a->rt = rt;
	a->id = xstrdup(ev->id);
	a->workload = take_ptr(w);
	a->t.data = a;
	uv_timer_init(rt->cfg.loop, &a->t);
	uv_timer_start(&a->t, on_autorm, 0, 0);
}

static void on_event(void *ctx, const struct agent_event *ev)
{
	struct api_routes *rt = ctx;
	_cleanup_json_ json_t *j = event_json(ev);
	if (!j)
		return;
	for (struct ev_sub *s = rt->subs, *next; s; s = next) {
		next = s->next;
		sub_send(s, j);
		if (api_stream_pending(s->req) > API_STREAM_MAX_PENDING)
			api_stream_end(s->req); /* too slow: it resumes with ?since= */
	}
	/* a follower learns of its container's exit now, not on its next tick: a
	 * foreground `coop run` returns as soon as the process is done */
	if (ev->type && streq(ev->type, "container") && ev->action && streq(ev->action, "die") &&
	    ev->id)
		for (struct follower *f = rt->followers; f; f = f->next)
			if (!f->closed && streq(f->id, ev->id))
				uv_timer_start(&f->timer, on_follow_tick, 0, FOLLOW_TICK_MS);
	maybe_autorm(rt, ev);
}

int api_routes_new(const struct api_routes_config *cfg, struct api_routes **ret,
		   struct err *err)
{
	struct api_routes *rt = xcalloc(1, sizeof(*rt));
	rt->cfg = *cfg;
	rt->e = cfg->engine;
	if (rt->e->set_event_cb)
		rt->e->set_event_cb(cfg->agent, on_event, rt);
	*ret = rt;
	return 0;
}

/* ---- ?consistent=1: the handler runs once the read point is reached ---- */

struct barrier {
	struct api_routes *rt; /* NULL once the routes are gone */
	struct api_req *req;
	int idx;
	char *params[API_MAX_PARAMS];
	struct barrier *prev, *next;
};

static void route_run(struct api_routes *rt, struct api_req *req, int idx, char **params)
{
	const struct route *rte = &routes[idx];
	if (!rte->cfn)
		return rte->fn(rt, req, params);
	if (!rt->cfg.cluster)
		return api_reply_error(req, 404, "not_clustered", NULL,
				       "this daemon runs alone, not in a cluster (see coop init)");
	rte->cfn(rt->cfg.cluster, req, params);
}

static void barrier_unlink(struct barrier *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		b->rt->barriers = b->next;
	if (b->next)
		b->next->prev = b->prev;
	b->prev = b->next = NULL;
}

static void on_barrier(void *ctx, int status, json_t *result, const struct err *err)
{
	struct barrier *b = ctx;
	if (b->rt) {
		barrier_unlink(b);
		if (status < 0)
			api_cluster_reply(b->req, status, NULL, err);
		else if (api_req_alive(b->req))
			route_run(b->rt, b->req, b->idx, b->params);
	}
	for (int i = 0; i < API_MAX_PARAMS; i++)
		free(b->params[i]);
	api_req_release(b->req);
	free(b);
}

/* Takes params. */
static void barrier_then_run(struct api_routes *rt, struct api_req *req, int idx,
			     char **params)
{
	struct barrier *b = xcalloc(1, sizeof(*b));
	struct err err = { 0 };
	b->rt = rt;
	b->req = api_req_hold(req);
	b->idx = idx;
	memcpy(b->params, params, sizeof(b->params));
	memset(params, 0, API_MAX_PARAMS * sizeof(*params));
	b->next = rt->barriers;
	if (b->next)
		b->next->prev = b;
	rt->barriers = b;
	int r = cluster_barrier(rt->cfg.cluster, on_barrier, b, &err);
	if (r < 0) {
		barrier_unlink(b);
		b->rt = NULL; /* on_barrier only frees */
		api_cluster_reply(req, r, NULL, &err);
		on_barrier(b, r, NULL, &err);
	}
}

void api_routes_free(struct api_routes *rt)
{
	if (!rt)
		return;
	if (rt->e->set_event_cb)
		rt->e->set_event_cb(rt->cfg.agent, NULL, NULL);
	while (rt->subs)
		api_stream_end(rt->subs->req);
	while (rt->followers)
		api_stream_end(rt->followers->req);
	/* reads still waiting for the cluster: their callbacks find no routes and only
	 * free (api_server_stop answers them 503) */
	for (struct barrier *b = rt->barriers; b; b = b->next)
		b->rt = NULL;
	api_session_set_close(&rt->sessions);
	free(rt);
}

void api_routes_dispatch(void *ctx, struct api_req *req)
{
	struct api_routes *rt = ctx;
	char *params[API_MAX_PARAMS] = { 0 };
	const char *path = api_req_path(req), *method = api_req_method(req);
	int idx, r = api_route_match(method, path, &idx, params);

	if (r == -ENOENT)
		api_reply_error(req, 404, "not_found", NULL, "no such endpoint: %.200s", path);
	else if (r < 0)
		api_reply_error(req, 405, "method_not_allowed", NULL, "%s is not allowed on %.200s",
				method, path);
	else if (api_req_role(req) == AUTH_NONE && !api_server_open_route(method, path))
		api_reply_error(req, 401, "unauthorized", NULL,
				"an access token and secret key are required");
	else if (rt->cfg.cluster && streq(method, "GET") && query_flag(req, "consistent"))
		barrier_then_run(rt, req, idx, params);
	else
		route_run(rt, req, idx, params);
	for (int i = 0; i < API_MAX_PARAMS; i++)
		free(params[i]);
}
