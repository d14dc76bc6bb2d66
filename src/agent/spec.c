/* spec: workload spec validation, restart policies with backoff, and the OCI config
 * of a replica. Pure: unit-tested in tests/unit/test_agent_spec.c. */
#include "agent/spec.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/record.h"
#include "base/js.h"
#include "base/util.h"
#include "sched/sched.h"
#include "image/disk.h"
#include "image/imgconfig.h"
#include "runtime/config.h"

bool ag_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > AG_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

/* ---- validation ---- */

static int need_strv(json_t *spec, const char *key, bool nonempty, struct err *err)
{
	json_t *v = json_object_get(spec, key);
	size_t i;
	json_t *e;

	if (!v)
		return 0;
	if (!json_is_array(v))
		return err_msg(err, EINVAL, "%s: expected an array of strings", key);
	json_array_foreach(v, i, e) if (!json_is_string(e)) return err_msg(
		err, EINVAL, "%s[%zu]: expected a string", key, i);
	if (nonempty && json_array_size(v) == 0)
		return err_msg(err, EINVAL, "%s: must not be empty", key);
	return 0;
}

static int check_int(json_t *obj, const char *path, const char *key, json_int_t lo, json_int_t hi,
		     bool required, json_int_t dflt, json_int_t *ret, struct err *err)
{
	json_t *v = json_object_get(obj, key);
	json_int_t x;

	if (!v) {
		if (required)
			return err_msg(err, EINVAL, "%s%s: missing", path, key);
		if (ret)
			*ret = dflt;
		return 0;
	}
	if (!json_is_integer(v))
		return err_msg(err, EINVAL, "%s%s: expected an integer", path, key);
	x = json_integer_value(v);
	if (x < lo || x > hi)
		return err_msg(err, EINVAL, "%s%s: %" JSON_INTEGER_FORMAT " out of range %" JSON_INTEGER_FORMAT "-%" JSON_INTEGER_FORMAT,
			       path, key, x, lo, hi);
	if (ret)
		*ret = x;
	return 0;
}

static int check_ports(json_t *spec, struct err *err)
{
	json_t *ports = json_object_get(spec, "ports"), *p;
	size_t i;
	char path[64];

	if (!ports)
		return json_object_set_new(spec, "ports", json_array()), 0;
	if (!json_is_array(ports))
		return err_msg(err, EINVAL, "ports: expected an array");
	json_array_foreach(ports, i, p)
	{
		snprintf(path, sizeof(path), "ports[%zu].", i);
		if (!json_is_object(p))
			return err_msg(err, EINVAL, "ports[%zu]: expected an object", i);
		const char *proto = json_string_value(json_object_get(p, "protocol"));
		int r;
		if ((r = check_int(p, path, "container_port", 1, 65535, true, 0, NULL, err)) < 0 ||
		    (r = check_int(p, path, "host_port", 0, 65535, false, 0, NULL, err)) < 0)
			return r;
		if (!proto)
			json_object_set_new(p, "protocol", json_string("tcp"));
		else if (!streq(proto, "tcp") && !streq(proto, "udp"))
			return err_msg(err, EINVAL, "%sprotocol: '%s' is not tcp or udp", path, proto);
	}
	return 0;
}

static bool path_has_dotdot(const char *p)
{
	const char *s = p;

	while ((s = strstr(s, "..")) != NULL) {
		if ((s == p || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
			return true;
		s += 2;
	}
	return false;
}

static int check_volume(json_t *v, size_t i, struct err *err)
{
	const char *src = json_string_value(json_object_get(v, "source"));
	const char *dst = json_string_value(json_object_get(v, "target"));
	const char *mode = json_string_value(json_object_get(v, "mode"));
	json_t *named = json_object_get(v, "named");

	if (!src || !*src)
		return err_msg(err, EINVAL, "volumes[%zu].source: missing", i);
	if (!dst || dst[0] != '/' || path_has_dotdot(dst))
		return err_msg(err, EINVAL, "volumes[%zu].target: expected an absolute path without '..'", i);
	if (mode && !streq(mode, "ro") && !streq(mode, "rw"))
		return err_msg(err, EINVAL, "volumes[%zu].mode: '%s' is not ro or rw", i, mode);
	if (named && !json_is_boolean(named))
		return err_msg(err, EINVAL, "volumes[%zu].named: expected a boolean", i);
	if (src[0] != '/') {
		if (!ag_name_valid(src))
			return err_msg(err, EINVAL, "volumes[%zu].source: '%s' is neither an absolute path nor a valid volume name", i, src);
		json_object_set_new(v, "named", json_true());
	} else if (path_has_dotdot(src)) {
		return err_msg(err, EINVAL, "volumes[%zu].source: '%s' must not contain '..'", i, src);
	} else {
		json_object_set_new(v, "named", json_false());
	}
	return 0;
}

static int check_volumes(json_t *spec, struct err *err)
{
	json_t *vols = json_object_get(spec, "volumes"), *v;
	size_t i;
	int r;

	if (!vols)
		return json_object_set_new(spec, "volumes", json_array()), 0;
	if (!json_is_array(vols))
		return err_msg(err, EINVAL, "volumes: expected an array");
	json_array_foreach(vols, i, v)
	{
		if (!json_is_object(v))
			return err_msg(err, EINVAL, "volumes[%zu]: expected an object", i);
		if ((r = check_volume(v, i, err)) < 0)
			return r;
	}
	return 0;
}

static int check_env(json_t *spec, struct err *err)
{
	json_t *env = json_object_get(spec, "environment"), *e;
	size_t i;
	int r;

	if (!env)
		return json_object_set_new(spec, "environment", json_array()), 0;
	if ((r = need_strv(spec, "environment", false, err)) < 0)
		return r;
	json_array_foreach(env, i, e)
	{
		const char *s = json_string_value(e);
		if (s[0] == '=' || !strchr(s, '='))
			return err_msg(err, EINVAL, "environment[%zu]: '%s' is not K=V", i, s);
	}
	return 0;
}

static int check_resources(json_t *spec, struct err *err)
{
	static const char *const keys[] = { "cpu_shares", "cpu_quota", "memory_limit",
					    "memory_swap", "blkio_weight", "pids_limit" };
	json_t *res = json_object_get(spec, "resources"), *cpus;
	int r;

	if (!res)
		return json_object_set_new(spec, "resources", json_object()), 0;
	if (!json_is_object(res))
		return err_msg(err, EINVAL, "resources: expected an object");
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if ((r = check_int(res, "resources.", keys[i], streq(keys[i], "memory_swap") ? -1 : 0,
				   INT64_MAX, false, 0, NULL, err)) < 0)
			return r;
	if ((r = check_int(res, "resources.", "blkio_weight", 0, 1000, false, 0, NULL, err)) < 0 ||
	    (r = check_int(res, "resources.", "disk", IMG_DISK_MIN, IMG_DISK_MAX, false, 0, NULL, err)) < 0)
		return r;
	cpus = json_object_get(res, "cpus");
	if (cpus && (!json_is_number(cpus) || json_number_value(cpus) < 0 ||
		     json_number_value(cpus) > 1024))
		return err_msg(err, EINVAL, "resources.cpus: expected a number of CPUs (0-1024)");
	return 0;
}

static int check_health(json_t *spec, struct err *err)
{
	json_t *h = json_object_get(spec, "healthcheck");
	const char *type;
	int r;

	if (!h || json_is_null(h))
		return 0;
	if (!json_is_object(h))
		return err_msg(err, EINVAL, "healthcheck: expected an object");
	type = json_string_value(json_object_get(h, "type"));
	if (!type)
		json_object_set_new(h, "type", json_string(type = "http"));
	if (!streq(type, "http") && !streq(type, "tcp") && !streq(type, "exec"))
		return err_msg(err, EINVAL, "healthcheck.type: '%s' is not http, tcp or exec", type);
	if ((r = check_int(h, "healthcheck.", "interval_ms", 1, 86400000, false, 0, NULL, err)) < 0 ||
	    (r = check_int(h, "healthcheck.", "timeout_ms", 1, 86400000, false, 0, NULL, err)) < 0 ||
	    (r = check_int(h, "healthcheck.", "start_period_ms", 0, 86400000, false, 0, NULL, err)) < 0 ||
	    (r = check_int(h, "healthcheck.", "retries", 1, 1000, false, 0, NULL, err)) < 0 ||
	    (r = check_int(h, "healthcheck.", "port", 0, 65535, false, 0, NULL, err)) < 0)
		return r;
	if (streq(type, "exec")) {
		if (!json_object_get(h, "command"))
			return err_msg(err, EINVAL, "healthcheck.command: missing (type exec)");
		return need_strv(h, "command", true, err) < 0
			       ? err_wrap(err, "healthcheck")
			       : 0;
	}
	json_int_t port = json_integer_value(json_object_get(h, "port"));
	json_t *p0 = json_array_get(json_object_get(spec, "ports"), 0);
	if (port == 0 && !p0)
		return err_msg(err, EINVAL, "healthcheck.port: missing and the workload has no ports");
	if (streq(type, "http")) {
		const char *path = json_string_value(json_object_get(h, "path"));
		if (!path)
			json_object_set_new(h, "path", json_string("/"));
		else if (path[0] != '/' || strpbrk(path, " \r\n"))
			return err_msg(err, EINVAL, "healthcheck.path: '%s' is not an absolute URL path", path);
	}
	return 0;
}

static int check_restart(json_t *spec, struct err *err)
{
	json_t *rs = json_object_get(spec, "restart");
	enum ag_restart pol;
	int max = 0, r;

	if (!rs)
		return json_object_set_new(spec, "restart", json_string("no")), 0;
	if (!json_is_string(rs) || ag_restart_parse(json_string_value(rs), &pol, &max) < 0)
		return err_msg(err, EINVAL, "restart: expected no, on-failure[:N], always or unless-stopped");
	if ((r = check_int(spec, "", "restart_max", 0, 1000000, false, 0, NULL, err)) < 0)
		return r;
	return 0;
}

static int check_replicas(json_t *spec, struct err *err)
{
	json_t *rep = json_object_get(spec, "replicas");
	json_int_t min, max;
	int r;

	if (!rep) {
		json_object_set_new(spec, "replicas", json_pack("{s:i,s:i}", "min", 1, "max", 1));
		return 0;
	}
	if (!json_is_object(rep))
		return err_msg(err, EINVAL, "replicas: expected an object {min, max}");
	if ((r = check_int(rep, "replicas.", "min", 0, AG_MAX_REPLICAS, false, 1, &min, err)) < 0 ||
	    (r = check_int(rep, "replicas.", "max", 0, AG_MAX_REPLICAS, false, min, &max, err)) < 0)
		return r;
	if (max < min)
		return err_msg(err, EINVAL, "replicas.max: %" JSON_INTEGER_FORMAT " is below min %" JSON_INTEGER_FORMAT, max, min);
	json_object_set_new(rep, "min", json_integer(min));
	json_object_set_new(rep, "max", json_integer(max));
	return 0;
}

/* placement: {constraints: [expr...], spread: key} for the cluster's scheduler; checked
 * here because a bad expression must never reach the log */
static int placement_validate(json_t *pl, struct err *err)
{
	json_t *cs = json_object_get(pl, "constraints"), *sp = json_object_get(pl, "spread"), *v;
	size_t i;
	int r;

	if (!pl)
		return 0;
	if (!json_is_object(pl) || (cs && !json_is_array(cs)) || (sp && !json_is_string(sp)))
		return err_msg(err, EINVAL,
			       "placement: expected {\"constraints\": [...], \"spread\": KEY}");
	if (json_array_size(cs) > SCHED_MAX_CONSTRAINTS)
		return err_msg(err, EINVAL, "placement.constraints: more than %d",
			       SCHED_MAX_CONSTRAINTS);
	json_array_foreach (cs, i, v) {
		if (!json_is_string(v))
			return err_msg(err, EINVAL, "placement.constraints[%zu]: expected a string", i);
		if ((r = sched_constraint_check(json_string_value(v), err)) < 0)
			return err_wrap(err, "placement.constraints[%zu]", i);
	}
	if (sp && (sched_constraint_check(json_string_value(sp), err) < 0 ||
		   strchr(json_string_value(sp), '=')))
		return err_msg(err, EINVAL, "placement.spread: expected a node label key");
	return 0;
}

int ag_spec_validate(json_t *spec, struct err *err)
{
	const char *name, *image;
	int r;

	if (!json_is_object(spec))
		return err_msg(err, EINVAL, "workload: expected an object");
	name = json_string_value(json_object_get(spec, "name"));
	if (!name)
		return err_msg(err, EINVAL, "name: missing");
	if (!ag_name_valid(name) || strlen(name) > AG_NAME_MAX - 4)
		return err_msg(err, EINVAL, "name: '%s' is not a valid name ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most %d characters)",
			       name, AG_NAME_MAX - 4);
	image = json_string_value(json_object_get(spec, "image"));
	if (!image || !*image || strlen(image) > 4096 || strpbrk(image, " \t\r\n"))
		return err_msg(err, EINVAL, "image: missing or not an image reference");
	if ((r = check_replicas(spec, err)) < 0 || (r = check_ports(spec, err)) < 0 ||
	    (r = check_volumes(spec, err)) < 0 || (r = check_env(spec, err)) < 0 ||
	    (r = check_resources(spec, err)) < 0 || (r = check_health(spec, err)) < 0 ||
	    (r = check_restart(spec, err)) < 0 || (r = need_strv(spec, "command", false, err)) < 0 ||
	    (r = need_strv(spec, "entrypoint", false, err)) < 0)
		return r;
	static const char *const strs[] = { "workdir", "user", "vpc", "version" };
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		json_t *v = json_object_get(spec, strs[i]);
		if (v && !json_is_string(v))
			return err_msg(err, EINVAL, "%s: expected a string", strs[i]);
	}
	static const char *const bools[] = { "tty", "stdin", "init" };
	for (size_t i = 0; i < ARRAY_SIZE(bools); i++) {
		json_t *v = json_object_get(spec, bools[i]);
		if (v && !json_is_boolean(v))
			return err_msg(err, EINVAL, "%s: expected true or false", bools[i]);
	}
	json_t *ss = json_object_get(spec, "stop_signal");
	if (ss && (!json_is_string(ss) || rt_signal_parse(json_string_value(ss)) <= 0))
		return err_msg(err, EINVAL, "stop_signal: expected a signal name or number (SIGTERM, USR1, 15)");
	const char *wd = json_string_value(json_object_get(spec, "workdir"));
	if (wd && wd[0] != '/')
		return err_msg(err, EINVAL, "workdir: '%s' is not an absolute path", wd);
	json_t *labels = json_object_get(spec, "labels");
	if (labels && !json_is_object(labels))
		return err_msg(err, EINVAL, "labels: expected an object");
	return placement_validate(json_object_get(spec, "placement"), err);
}

/* ---- restart policies ---- */

int ag_restart_parse(const char *s, enum ag_restart *ret, int *ret_max)
{
	static const char *const names[] = { "no", "on-failure", "always", "unless-stopped" };
	char *end;

	*ret_max = 0;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (streq(s, names[i])) {
			*ret = (enum ag_restart)i;
			return 0;
		}
	if (strncmp(s, "on-failure:", 11) == 0 && isdigit((unsigned char)s[11])) {
		errno = 0;
		long n = strtol(s + 11, &end, 10);
		if (*end || errno || n < 0 || n > 1000000)
			return -EINVAL;
		*ret = AG_RESTART_ON_FAILURE;
		*ret_max = (int)n;
		return 0;
	}
	return -EINVAL;
}

void ag_spec_restart(json_t *spec, enum ag_restart *ret, int *ret_max)
{
	const char *s = json_string_value(json_object_get(spec, "restart"));
	json_t *m = json_object_get(spec, "restart_max");

	if (!s || ag_restart_parse(s, ret, ret_max) < 0) {
		*ret = AG_RESTART_NO;
		*ret_max = 0;
	}
	if (json_integer_value(m) > 0)
		*ret_max = (int)json_integer_value(m);
}

bool ag_restart_wanted(enum ag_restart policy, int max, int exit_code, unsigned restarts,
		       bool user_stopped)
{
	if (user_stopped)
		return false;
	switch (policy) {
	case AG_RESTART_NO:
		return false;
	case AG_RESTART_ON_FAILURE:
		return exit_code != 0 && (max == 0 || restarts < (unsigned)max);
	case AG_RESTART_ALWAYS:
	case AG_RESTART_UNLESS_STOPPED:
		return true;
	}
	return false;
}

uint64_t ag_backoff_ms(unsigned attempt)
{
	uint64_t ms = AG_BACKOFF_FIRST_MS;

	while (attempt-- > 0 && ms < AG_BACKOFF_MAX_MS)
		ms *= 2;
	return ms < AG_BACKOFF_MAX_MS ? ms : AG_BACKOFF_MAX_MS;
}

/* ---- the OCI config ---- */

static json_t *jget_path(json_t *obj, const char *a, const char *b)
{
	json_t *x = json_object_get(obj, a);
	if (!x) {
		x = json_object();
		json_object_set_new(obj, a, x);
	}
	if (!b)
		return x;
	json_t *y = json_object_get(x, b);
	if (!y) {
		y = json_object();
		json_object_set_new(x, b, y);
	}
	return y;
}

static int64_t res_get(json_t *res, const char *key)
{
	json_t *v = json_object_get(res, key);
	return json_is_integer(v) ? json_integer_value(v) : -1;
}

static void apply_resources(json_t *spec, json_t *linux_)
{
	json_t *res = json_object_get(spec, "resources");
	json_t *out = jget_path(linux_, "resources", NULL);
	int64_t v;
	double cpus = json_number_value(json_object_get(res, "cpus"));

	if ((v = res_get(res, "memory_limit")) > 0)
		json_object_set_new(jget_path(out, "memory", NULL), "limit", json_integer(v));
	/* swap -1: unlimited (OCI); 0 is "unset" */
	if (json_object_get(res, "memory_swap") && (v = res_get(res, "memory_swap")) != 0)
		json_object_set_new(jget_path(out, "memory", NULL), "swap", json_integer(v));
	if ((v = res_get(res, "cpu_shares")) > 0)
		json_object_set_new(jget_path(out, "cpu", NULL), "shares", json_integer(v));
	if ((v = res_get(res, "cpu_quota")) > 0) {
		json_object_set_new(jget_path(out, "cpu", NULL), "quota", json_integer(v));
		json_object_set_new(jget_path(out, "cpu", NULL), "period", json_integer(100000));
	} else if (cpus > 0) {
		json_int_t q = (json_int_t)(cpus * 100000 + 0.5);
		json_object_set_new(jget_path(out, "cpu", NULL), "quota", json_integer(q < 1000 ? 1000 : q));
		json_object_set_new(jget_path(out, "cpu", NULL), "period", json_integer(100000));
	}
	if ((v = res_get(res, "pids_limit")) > 0)
		json_object_set_new(jget_path(out, "pids", NULL), "limit", json_integer(v));
	if ((v = res_get(res, "blkio_weight")) > 0)
		json_object_set_new(jget_path(out, "blockIO", NULL), "weight", json_integer(v));
}

static void apply_volumes(json_t *spec, const struct ag_oci_ident *who, json_t *oci)
{
	json_t *mounts = json_object_get(oci, "mounts"), *v;
	size_t i;

	if (!mounts) {
		mounts = json_array();
		json_object_set_new(oci, "mounts", mounts);
	}
	json_array_foreach(json_object_get(spec, "volumes"), i, v)
	{
		const char *src = json_string_value(json_object_get(v, "source"));
		const char *mode = json_string_value(json_object_get(v, "mode"));
		_cleanup_free_ char *path = json_is_true(json_object_get(v, "named"))
						    ? xasprintf("%s/%s", who->volumes_dir, src)
						    : xstrdup(src);
		json_array_append_new(mounts,
				      json_pack("{s:s,s:s,s:s,s:[s,s]}", "destination",
						json_string_value(json_object_get(v, "target")), "type",
						"bind", "source", path, "options", "rbind",
						mode && streq(mode, "ro") ? "ro" : "rw"));
	}
}

static char **strv_of(json_t *spec, const char *key)
{
	json_t *a = json_object_get(spec, key), *e;
	char **v;
	size_t i;

	if (!json_is_array(a))
		return NULL;
	v = xcalloc(json_array_size(a) + 1, sizeof(char *));
	json_array_foreach(a, i, e) v[i] = xstrdup(json_string_value(e));
	return v;
}

int ag_oci_config(json_t *spec, const struct ag_oci_ident *who, const struct img_config *ic,
		  const char *rootfs, json_t **ret, struct err *err)
{
	_cleanup_json_ json_t *oci = rt_config_default(false);
	_cleanup_strv_ char **ep = strv_of(spec, "entrypoint"), **cmd = strv_of(spec, "command"),
			    **env = strv_of(spec, "environment");
	struct img_overrides ov = {
		.entrypoint = ep,
		.cmd = cmd,
		.env = env,
		.user = json_string_value(json_object_get(spec, "user")),
		.workdir = json_string_value(json_object_get(spec, "workdir")),
	};
	json_t *linux_, *ann, *labels;
	char buf[32];
	const char *k;
	json_t *lv;
	int r;

	/* before the image's config: a terminal gets TERM=xterm unless it sets one */
	json_object_set_new(json_object_get(oci, "process"), "terminal",
			    json_boolean(json_is_true(json_object_get(spec, "tty"))));
	if ((r = img_apply_config(ic, rootfs, &ov, oci, err)) < 0)
		return err_wrap(err, "container '%s'", who->name);
	json_object_set_new(json_object_get(oci, "root"), "path", json_string("rootfs"));
	json_object_set_new(json_object_get(oci, "root"), "readonly", json_false());
	json_object_set_new(oci, "hostname", json_string(who->name));
	linux_ = jget_path(oci, "linux", NULL);
	_cleanup_free_ char *cg = xasprintf("/coop/%s", who->id);
	json_object_set_new(linux_, "cgroupsPath", json_string(cg));
	apply_resources(spec, linux_);
	apply_volumes(spec, who, oci);
	ann = jget_path(oci, "annotations", NULL);
	labels = json_object_get(spec, "labels");
	json_object_foreach(labels, k, lv) if (json_is_string(lv))
		json_object_set(ann, k, lv);
	/* the spec's stop signal overrides the image's StopSignal, in the annotation the
	 * image's is recorded in (the daemon reads it there to stop the container) */
	if (json_string_value(json_object_get(spec, "stop_signal")))
		json_object_set(ann, AG_STOP_SIGNAL_ANN, json_object_get(spec, "stop_signal"));
	if (json_is_true(json_object_get(spec, "init")))
		json_object_set_new(ann, RT_INIT_ANNOTATION, json_string("true"));
	json_object_set_new(ann, "coop.id", json_string(who->id));
	json_object_set_new(ann, "coop.name", json_string(who->name));
	if (who->workload) {
		json_object_set_new(ann, "coop.workload", json_string(who->workload));
		snprintf(buf, sizeof(buf), "%d", who->replica);
		json_object_set_new(ann, "coop.replica", json_string(buf));
	}
	*ret = take_ptr(oci);
	return 0;
}
