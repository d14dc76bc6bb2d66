/* bun: the .bun parser. libyaml builds the node tree (with marks for line:column); a
 * table per mapping dispatches each key to its handler. Aliases are followed by
 * reference, so a node budget bounds the walk against alias bombs. */
#include "state/bun.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <yaml.h>

#include "base/fs.h"
#include "base/util.h"
#include "image/disk.h"
#include "sched/sched.h"

#define NODE_BUDGET 100000

struct ctx {
	const char *file;
	const char *base_dir;
	yaml_document_t *doc;
	struct bun_spec *s;
	struct err *err;
	long budget;
	struct bun_port *port;  /* the list element being read */
	struct bun_volume *vol;
};

typedef int (*field_fn)(struct ctx *c, yaml_node_t *n, const char *path);

struct field {
	const char *name;
	field_fn fn;
};

/* ---- errors and scalars ---- */

static int failf(struct ctx *c, yaml_node_t *n, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int failf(struct ctx *c, yaml_node_t *n, const char *path, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* values from the file are quoted in the message: keep it one printable line */
	for (char *p = what; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return err_msg(c->err, EINVAL, "%s:%zu:%zu: %s%s%s", c->file,
		       n ? n->start_mark.line + 1 : 1, n ? n->start_mark.column + 1 : 1, path,
		       *path ? ": " : "", what);
}

static void warnf(struct ctx *c, yaml_node_t *n, const char *fmt, const char *arg)
{
	char *w = xasprintf("%s:%zu:%zu: ", c->file, n->start_mark.line + 1, n->start_mark.column + 1);
	char *m = xasprintf(fmt, arg);
	char *line = xasprintf("%s%s", w, m);
	c->s->warnings = strv_append(c->s->warnings, line);
	free(w);
	free(m);
	free(line);
}

static int spend(struct ctx *c, yaml_node_t *n, const char *path)
{
	if (--c->budget < 0)
		return failf(c, n, path, "document too complex (alias expansion?)");
	return 0;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int get_str(struct ctx *c, yaml_node_t *n, const char *path, char **ret)
{
	const char *v = scalar(n);
	if (!v)
		return failf(c, n, path, "expected a string");
	free(*ret);
	*ret = xstrdup(v);
	return 0;
}

static int get_int(struct ctx *c, yaml_node_t *n, const char *path, long long min, long long max,
		   long long *ret)
{
	const char *v = scalar(n);
	char *end;
	long long x;

	if (!v || !*v)
		return failf(c, n, path, "expected an integer");
	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno || *end)
		return failf(c, n, path, "expected an integer, got '%s'", v);
	if (x < min || x > max)
		return failf(c, n, path, "%lld is out of range %lld..%lld", x, min, max);
	*ret = x;
	return 0;
}

static int get_strv(struct ctx *c, yaml_node_t *n, const char *path, char ***ret)
{
	char **v = xcalloc(1, sizeof(char *));

	if (n->type == YAML_SCALAR_NODE) {
		/* a single string is a one-element list, as YAML users expect */
		v = strv_append(v, scalar(n));
	} else if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			yaml_node_t *e = yaml_document_get_node(c->doc, *it);
			if (spend(c, e, path) < 0 || !scalar(e)) {
				strv_free(v);
				return c->err->code ? -c->err->code
						    : failf(c, e, path, "expected a list of strings");
			}
			v = strv_append(v, scalar(e));
		}
	} else {
		strv_free(v);
		return failf(c, n, path, "expected a list of strings");
	}
	strv_free(*ret);
	*ret = v;
	return 0;
}

/* Walks a mapping, calling the table's handler for each key. */
static int walk_map(struct ctx *c, yaml_node_t *n, const char *path, const struct field *t,
		    size_t nt)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return failf(c, n, path, "expected a mapping");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		const char *key = scalar(k);
		bool found = false;
		int r;

		if ((r = spend(c, v, path)) < 0)
			return r;
		if (!key)
			return failf(c, k, path, "keys must be strings");
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++)
			if (streq(scalar(yaml_document_get_node(c->doc, q->key)) ?: "", key))
				return failf(c, k, path, "duplicate key '%s'", key);
		for (size_t i = 0; i < nt; i++) {
			if (!streq(t[i].name, key))
				continue;
			_cleanup_free_ char *sub = *path ? xasprintf("%s.%s", path, key) : xstrdup(key);
			if ((r = t[i].fn(c, v, sub)) < 0)
				return r;
			found = true;
		}
		if (!found)
			warnf(c, k, "unknown field '%s' (ignored)", key);
	}
	return 0;
}

/* Calls fn for each element of a sequence with path "field[i]". */
static int walk_seq(struct ctx *c, yaml_node_t *n, const char *path,
		    int (*fn)(struct ctx *c, yaml_node_t *e, const char *path, size_t i))
{
	size_t i = 0;

	if (n->type != YAML_SEQUENCE_NODE)
		return failf(c, n, path, "expected a list");
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		yaml_node_t *e = yaml_document_get_node(c->doc, *it);
		_cleanup_free_ char *sub = xasprintf("%s[%zu]", path, i);
		int r;
		if ((r = spend(c, e, sub)) < 0 || (r = fn(c, e, sub, i)) < 0)
			return r;
	}
	return 0;
}

/* ---- units ---- */

int bun_duration_ms(const char *s, uint64_t *ret)
{
	uint64_t total = 0;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		char *end;
		double v = strtod(p, &end);
		uint64_t unit;

		if (end == p || v < 0 || !isfinite(v) || *p == '+' || *p == '-')
			return -EINVAL;
		p = end;
		if (p[0] == 'm' && p[1] == 's')
			unit = 1, p += 2;
		else if (*p == 's')
			unit = 1000, p++;
		else if (*p == 'm')
			unit = 60000, p++;
		else if (*p == 'h')
			unit = 3600000, p++;
		else
			return -EINVAL;
		if (v > 1e12)
			return -EINVAL;
		total += (uint64_t)(v * unit);
		if (total > 365ull * 24 * 3600 * 1000)
			return -EINVAL;
	}
	*ret = total;
	return 0;
}

int bun_size_bytes(const char *s, int64_t *ret)
{
	char *end;
	double v;
	int64_t mult = 1;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || !isfinite(v))
		return -EINVAL;
	switch (tolower((unsigned char)*end)) {
	case '\0': break;
	case 'k': mult = 1LL << 10; end++; break;
	case 'm': mult = 1LL << 20; end++; break;
	case 'g': mult = 1LL << 30; end++; break;
	case 't': mult = 1LL << 40; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'b' || *end == 'B' || (*end == 'i' && (end[1] == 'b' || end[1] == 'B')))
		end += *end == 'i' ? 2 : 1;
	if (*end || v * mult > (double)INT64_MAX)
		return -EINVAL;
	*ret = (int64_t)(v * mult);
	return 0;
}

int bun_disk_bytes(const char *s, int64_t *ret, struct err *err)
{
	if (bun_size_bytes(s, ret) < 0)
		return err_msg(err, EINVAL, "expected a size like 512M or 1G, got '%.64s'", s ? s : "");
	return img_disk_size_check(*ret, s, err);
}

/* ---- fields ---- */

#define SPEC (c->s)

static int f_version(struct ctx *c, yaml_node_t *n, const char *path)
{
	int r = get_str(c, n, path, &SPEC->version);
	if (r == 0 && !streq(SPEC->version, "1.0") && !streq(SPEC->version, "1"))
		return failf(c, n, path, "unsupported version '%s' (this coop reads 1.0)",
			     SPEC->version);
	return r;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
		      s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

static int f_name(struct ctx *c, yaml_node_t *n, const char *path)
{
	int r = get_str(c, n, path, &SPEC->name);
	if (r == 0 && !valid_name(SPEC->name))
		return failf(c, n, path,
			     "invalid name '%s': use 1-63 lowercase letters, digits, '-', '_', '.'",
			     SPEC->name);
	return r;
}

static int f_docker_image(struct ctx *c, yaml_node_t *n, const char *path)
{
	int r = get_str(c, n, path, &SPEC->image);
	if (r == 0 && (!*SPEC->image || strchr(SPEC->image, ' ')))
		return failf(c, n, path, "invalid image reference '%s'", SPEC->image);
	return r;
}

static int f_command(struct ctx *c, yaml_node_t *n, const char *path)
{
	return get_strv(c, n, path, &SPEC->command);
}

static int f_entrypoint(struct ctx *c, yaml_node_t *n, const char *path)
{
	return get_strv(c, n, path, &SPEC->entrypoint);
}

static int f_workdir(struct ctx *c, yaml_node_t *n, const char *path)
{
	int r = get_str(c, n, path, &SPEC->workdir);
	if (r == 0 && SPEC->workdir[0] != '/')
		return failf(c, n, path, "must be an absolute path, got '%s'", SPEC->workdir);
	return r;
}

static int f_user(struct ctx *c, yaml_node_t *n, const char *path)
{
	return get_str(c, n, path, &SPEC->user);
}

static int f_vpc(struct ctx *c, yaml_node_t *n, const char *path)
{
	return get_str(c, n, path, &SPEC->vpc);
}

/* YAML 1.1's spellings of a boolean, as users write them. */
static int get_bool(struct ctx *c, yaml_node_t *n, const char *path, bool *ret)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "on", "On" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "off", "Off" };
	const char *v = scalar(n);
	for (size_t i = 0; v && i < ARRAY_SIZE(yes); i++)
		if (streq(v, yes[i]) || streq(v, no[i])) {
			*ret = streq(v, yes[i]);
			return 0;
		}
	return failf(c, n, path, "expected true or false, got '%s'", v ? v : "a list or mapping");
}

static int f_init(struct ctx *c, yaml_node_t *n, const char *path)
{
	return get_bool(c, n, path, &SPEC->init);
}

static int f_image(struct ctx *c, yaml_node_t *n, const char *path)
{
	static const struct field t[] = {
		{ "docker_image", f_docker_image }, { "command", f_command },
		{ "entrypoint", f_entrypoint },     { "workdir", f_workdir },
	};
	if (n->type == YAML_SCALAR_NODE) /* "image: busybox" reads naturally too */
		return f_docker_image(c, n, path);
	return walk_map(c, n, path, t, ARRAY_SIZE(t));
}

/* ports[] */


static int f_port_num(struct ctx *c, yaml_node_t *n, const char *path, uint16_t *out)
{
	long long v;
	int r = get_int(c, n, path, 1, 65535, &v);
	if (r == 0)
		*out = (uint16_t)v;
	return r;
}

static int f_container_port(struct ctx *c, yaml_node_t *n, const char *path)
{
	return f_port_num(c, n, path, &c->port->container_port);
}

static int f_host_port(struct ctx *c, yaml_node_t *n, const char *path)
{
	return f_port_num(c, n, path, &c->port->host_port);
}

static int f_protocol(struct ctx *c, yaml_node_t *n, const char *path)
{
	const char *v = scalar(n);
	if (!v || (!streq(v, "tcp") && !streq(v, "udp")))
		return failf(c, n, path, "expected tcp or udp, got '%s'", v ? v : "?");
	strcpy(c->port->proto, v);
	return 0;
}

static int f_publish(struct ctx *c, yaml_node_t *n, const char *path)
{
	const char *v = scalar(n);
	if (!v || (!streq(v, "ingress") && !streq(v, "host")))
		return failf(c, n, path, "expected ingress or host, got '%s'", v ? v : "?");
	c->port->host_mode = streq(v, "host");
	return 0;
}

static int one_port(struct ctx *c, yaml_node_t *e, const char *path, size_t i)
{
	static const struct field t[] = {
		{ "container_port", f_container_port }, { "host_port", f_host_port },
		{ "protocol", f_protocol },             { "publish", f_publish },
	};
	int r;

	c->port = &SPEC->ports[i];
	strcpy(c->port->proto, "tcp");
	if ((r = walk_map(c, e, path, t, ARRAY_SIZE(t))) < 0)
		return r;
	if (!c->port->container_port)
		return failf(c, e, path, "container_port is required");
	for (size_t k = 0; k < i; k++) {
		struct bun_port *o = &SPEC->ports[k];
		if (c->port->host_port && o->host_port == c->port->host_port &&
		    streq(o->proto, c->port->proto))
			return failf(c, e, path, "host_port %u/%s is published twice",
				     c->port->host_port, c->port->proto);
	}
	SPEC->n_ports = i + 1;
	return 0;
}

static int f_ports(struct ctx *c, yaml_node_t *n, const char *path)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return failf(c, n, path, "expected a list");
	SPEC->ports = xcalloc(n->data.sequence.items.top - n->data.sequence.items.start + 1,
			      sizeof(struct bun_port));
	return walk_seq(c, n, path, one_port);
}

/* volumes[] */


static bool has_dotdot(const char *p)
{
	for (const char *s = p; (s = strstr(s, "..")); s += 2)
		if ((s == p || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
			return true;
	return false;
}

static int f_vol_source(struct ctx *c, yaml_node_t *n, const char *path)
{
	return get_str(c, n, path, &c->vol->source);
}

static int f_vol_target(struct ctx *c, yaml_node_t *n, const char *path)
{
	int r = get_str(c, n, path, &c->vol->target);
	if (r == 0 && c->vol->target[0] != '/')
		return failf(c, n, path, "must be an absolute path, got '%s'", c->vol->target);
	if (r == 0 && has_dotdot(c->vol->target))
		return failf(c, n, path, "must not contain '..', got '%s'", c->vol->target);
	return r;
}

static int f_vol_mode(struct ctx *c, yaml_node_t *n, const char *path)
{
	const char *v = scalar(n);
	if (!v || (!streq(v, "rw") && !streq(v, "ro")))
		return failf(c, n, path, "expected rw or ro, got '%s'", v ? v : "?");
	c->vol->readonly = streq(v, "ro");
	return 0;
}

/* A relative source is a path under the .bun's directory and may not leave it (by
 * ".." or through a symlink); a bare word is a named volume. */
static int resolve_source(struct ctx *c, yaml_node_t *e, const char *path)
{
	char *src = c->vol->source;
	char real[PATH_MAX], base[PATH_MAX];

	if (src[0] == '/')
		return 0;
	if (!strchr(src, '/') && src[0] != '.') {
		if (!valid_name(src))
			return failf(c, e, path, "invalid volume name '%s'", src);
		c->vol->named = true;
		return 0;
	}
	if (!c->base_dir)
		return failf(c, e, path, "relative source '%s' needs a .bun file's directory", src);
	if (!realpath(c->base_dir, base))
		return failf(c, e, path, "cannot resolve '%s': %s", c->base_dir, strerror(errno));
	while (src[0] == '.' && src[1] == '/')
		src += 2; /* "./data" is "data" */
	_cleanup_free_ char *joined = xasprintf("%s/%s", base, src);
	/* a source that does not exist yet is created later; check it lexically */
	if (!realpath(joined, real)) {
		if (strstr(src, ".."))
			return failf(c, e, path, "source '%s' leaves the .bun's directory", src);
		free(c->vol->source);
		c->vol->source = take_ptr(joined);
		return 0;
	}
	size_t bl = strlen(base);
	if (strncmp(real, base, bl) != 0 || (real[bl] != '/' && real[bl] != '\0'))
		return failf(c, e, path, "source '%s' leaves the .bun's directory (resolves to %s)",
			     src, real);
	free(c->vol->source);
	c->vol->source = xstrdup(real);
	return 0;
}

static int one_volume(struct ctx *c, yaml_node_t *e, const char *path, size_t i)
{
	static const struct field t[] = {
		{ "source", f_vol_source }, { "target", f_vol_target }, { "mode", f_vol_mode },
	};
	int r;

	c->vol = &SPEC->volumes[i];
	if ((r = walk_map(c, e, path, t, ARRAY_SIZE(t))) < 0)
		return r;
	if (!c->vol->source || !c->vol->target)
		return failf(c, e, path, "source and target are required");
	SPEC->n_volumes = i + 1;
	return resolve_source(c, e, path);
}

static int f_volumes(struct ctx *c, yaml_node_t *n, const char *path)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return failf(c, n, path, "expected a list");
	SPEC->volumes = xcalloc(n->data.sequence.items.top - n->data.sequence.items.start + 1,
				sizeof(struct bun_volume));
	return walk_seq(c, n, path, one_volume);
}

static int one_env(struct ctx *c, yaml_node_t *e, const char *path, size_t i)
{
	const char *v = scalar(e);
	const char *eq = v ? strchr(v, '=') : NULL;

	if (!v)
		return failf(c, e, path, "expected a string KEY=value");
	if (!eq || eq == v)
		return failf(c, e, path, "expected KEY=value, got '%s'", v);
	for (const char *p = v; p < eq; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_') || isdigit((unsigned char)v[0]))
			return failf(c, e, path, "invalid variable name in '%s'", v);
	SPEC->env = strv_append(SPEC->env, v);
	return 0;
}

static int f_environment(struct ctx *c, yaml_node_t *n, const char *path)
{
	if (!SPEC->env)
		SPEC->env = xcalloc(1, sizeof(char *));
	return walk_seq(c, n, path, one_env);
}

/* resources */

static int res_int(struct ctx *c, yaml_node_t *n, const char *path, long long min, long long max,
		   int64_t *out)
{
	long long v;
	int r = get_int(c, n, path, min, max, &v);
	if (r == 0)
		*out = v;
	return r;
}

static int res_size(struct ctx *c, yaml_node_t *n, const char *path, int64_t *out)
{
	const char *v = scalar(n);
	if (!v || bun_size_bytes(v, out) < 0)
		return failf(c, n, path, "expected a size in bytes (like 268435456 or 256m), got '%s'",
			     v ? v : "?");
	if (*out < 4096 * 1024)
		return failf(c, n, path, "%s is below the 4 MiB minimum", v);
	return 0;
}

static int f_cpu_shares(struct ctx *c, yaml_node_t *n, const char *p)
{
	return res_int(c, n, p, 2, 262144, &SPEC->res.cpu_shares);
}
static int f_cpu_quota(struct ctx *c, yaml_node_t *n, const char *p)
{
	return res_int(c, n, p, 1000, 100000LL * 1024, &SPEC->res.cpu_quota);
}
static int f_memory_limit(struct ctx *c, yaml_node_t *n, const char *p)
{
	return res_size(c, n, p, &SPEC->res.memory_limit);
}
static int f_memory_swap(struct ctx *c, yaml_node_t *n, const char *p)
{
	return res_size(c, n, p, &SPEC->res.memory_swap);
}
static int f_disk(struct ctx *c, yaml_node_t *n, const char *p)
{
	struct err e = { 0 };
	const char *v = scalar(n);
	if (bun_disk_bytes(v ? v : "?", &SPEC->res.disk, &e) < 0)
		return failf(c, n, p, "%s", e.msg);
	return 0;
}
static int f_blkio_weight(struct ctx *c, yaml_node_t *n, const char *p)
{
	return res_int(c, n, p, 10, 1000, &SPEC->res.blkio_weight);
}
static int f_pids_limit(struct ctx *c, yaml_node_t *n, const char *p)
{
	return res_int(c, n, p, 1, 4194304, &SPEC->res.pids_limit);
}
static int f_cpus(struct ctx *c, yaml_node_t *n, const char *p)
{
	const char *v = scalar(n);
	char *end;
	double d = v ? strtod(v, &end) : 0;
	if (!v || end == v || *end || !(d >= 0.01 && d <= 1024))
		return failf(c, n, p, "expected a number of CPUs between 0.01 and 1024, got '%s'",
			     v ? v : "?");
	SPEC->res.cpus = d;
	return 0;
}

static int f_resources(struct ctx *c, yaml_node_t *n, const char *path)
{
	static const struct field t[] = {
		{ "cpu_shares", f_cpu_shares },   { "cpu_quota", f_cpu_quota },
		{ "memory_limit", f_memory_limit }, { "memory_swap", f_memory_swap },
		{ "blkio_weight", f_blkio_weight }, { "pids_limit", f_pids_limit },
		{ "memory", f_memory_limit },     { "cpu", f_cpus },
		{ "cpus", f_cpus },		    { "disk", f_disk },
	};
	int r = walk_map(c, n, path, t, ARRAY_SIZE(t));
	if (r == 0 && SPEC->res.memory_swap >= 0 && SPEC->res.memory_limit >= 0 &&
	    SPEC->res.memory_swap < SPEC->res.memory_limit)
		return failf(c, n, path, "memory_swap (memory + swap) is below memory_limit");
	if (r == 0 && SPEC->res.memory_swap >= 0 && SPEC->res.memory_limit < 0)
		return failf(c, n, path, "memory_swap needs memory_limit");
	return r;
}

/* healthcheck */

static int h_duration(struct ctx *c, yaml_node_t *n, const char *path, uint64_t *out)
{
	const char *v = scalar(n);
	if (!v || bun_duration_ms(v, out) < 0)
		return failf(c, n, path, "expected a duration like 30s, 1m or 500ms, got '%s'",
			     v ? v : "?");
	return 0;
}

static int h_path(struct ctx *c, yaml_node_t *n, const char *p)
{
	int r = get_str(c, n, p, &SPEC->health->path);
	if (r == 0 && SPEC->health->path[0] != '/')
		return failf(c, n, p, "must start with '/', got '%s'", SPEC->health->path);
	return r;
}
static int h_interval(struct ctx *c, yaml_node_t *n, const char *p)
{
	return h_duration(c, n, p, &SPEC->health->interval_ms);
}
static int h_timeout(struct ctx *c, yaml_node_t *n, const char *p)
{
	return h_duration(c, n, p, &SPEC->health->timeout_ms);
}
static int h_start_period(struct ctx *c, yaml_node_t *n, const char *p)
{
	return h_duration(c, n, p, &SPEC->health->start_period_ms);
}
static int h_retries(struct ctx *c, yaml_node_t *n, const char *p)
{
	long long v;
	int r = get_int(c, n, p, 1, 100, &v);
	if (r == 0)
		SPEC->health->retries = (int)v;
	return r;
}
static int h_port(struct ctx *c, yaml_node_t *n, const char *p)
{
	return f_port_num(c, n, p, &SPEC->health->port);
}
static int h_type(struct ctx *c, yaml_node_t *n, const char *p)
{
	const char *v = scalar(n);
	if (v && streq(v, "http"))
		SPEC->health->kind = BUN_HEALTH_HTTP;
	else if (v && streq(v, "tcp"))
		SPEC->health->kind = BUN_HEALTH_TCP;
	else if (v && streq(v, "exec"))
		SPEC->health->kind = BUN_HEALTH_EXEC;
	else
		return failf(c, n, p, "expected http, tcp or exec, got '%s'", v ? v : "?");
	return 0;
}
static int h_command(struct ctx *c, yaml_node_t *n, const char *p)
{
	return get_strv(c, n, p, &SPEC->health->command);
}

static int f_healthcheck(struct ctx *c, yaml_node_t *n, const char *path)
{
	static const struct field t[] = {
		{ "path", h_path },       { "interval", h_interval }, { "timeout", h_timeout },
		{ "retries", h_retries }, { "start_period", h_start_period },
		{ "type", h_type },       { "command", h_command },   { "port", h_port },
	};
	struct bun_health *h = SPEC->health = xcalloc(1, sizeof(*h));
	int r;

	h->interval_ms = 30000, h->timeout_ms = 5000, h->retries = 3;
	if ((r = walk_map(c, n, path, t, ARRAY_SIZE(t))) < 0)
		return r;
	if (h->kind == BUN_HEALTH_HTTP && !h->path)
		return failf(c, n, path, "path is required for an http check");
	if (h->kind == BUN_HEALTH_EXEC && (!h->command || !h->command[0]))
		return failf(c, n, path, "command is required for an exec check");
	if (h->interval_ms < 100)
		return failf(c, n, path, "interval must be at least 100ms");
	if (h->timeout_ms == 0 || h->timeout_ms > h->interval_ms)
		return failf(c, n, path, "timeout must be above 0 and at most the interval");
	return 0;
}

/* replicas */

static int r_min(struct ctx *c, yaml_node_t *n, const char *p)
{
	long long v;
	int r = get_int(c, n, p, 0, 10000, &v);
	if (r == 0)
		SPEC->replicas_min = (int)v;
	return r;
}
static int r_max(struct ctx *c, yaml_node_t *n, const char *p)
{
	long long v;
	int r = get_int(c, n, p, 1, 10000, &v);
	if (r == 0)
		SPEC->replicas_max = (int)v;
	return r;
}

static int f_replicas(struct ctx *c, yaml_node_t *n, const char *path)
{
	static const struct field t[] = { { "min", r_min }, { "max", r_max } };
	long long v;
	int r;

	if (n->type == YAML_SCALAR_NODE) { /* "replicas: 3" */
		if ((r = get_int(c, n, path, 0, 10000, &v)) < 0)
			return r;
		SPEC->replicas_min = SPEC->replicas_max = (int)v;
		return 0;
	}
	SPEC->replicas_max = -1;
	if ((r = walk_map(c, n, path, t, ARRAY_SIZE(t))) < 0)
		return r;
	if (SPEC->replicas_max < 0)
		SPEC->replicas_max = SPEC->replicas_min;
	if (SPEC->replicas_max < SPEC->replicas_min)
		return failf(c, n, path, "max (%d) is below min (%d)", SPEC->replicas_max,
			     SPEC->replicas_min);
	return 0;
}

static int f_restart(struct ctx *c, yaml_node_t *n, const char *path)
{
	const char *v = scalar(n);
	char *end;

	if (!v)
		return failf(c, n, path, "expected a string");
	if (streq(v, "no") || streq(v, "false"))
		SPEC->restart = BUN_RESTART_NO;
	else if (streq(v, "always"))
		SPEC->restart = BUN_RESTART_ALWAYS;
	else if (streq(v, "unless-stopped"))
		SPEC->restart = BUN_RESTART_UNLESS_STOPPED;
	else if (strncmp(v, "on-failure", 10) == 0 && (v[10] == '\0' || v[10] == ':')) {
		SPEC->restart = BUN_RESTART_ON_FAILURE;
		if (v[10] == ':') {
			long k = strtol(v + 11, &end, 10);
			if (!v[11] || *end || k < 1 || k > 1000)
				return failf(c, n, path, "expected on-failure:N with N 1..1000, got '%s'", v);
			SPEC->restart_max = (int)k;
		}
	} else {
		return failf(c, n, path,
			     "expected no, on-failure[:N], always or unless-stopped, got '%s'", v);
	}
	return 0;
}

static int f_labels(struct ctx *c, yaml_node_t *n, const char *path)
{
	if (n->type != YAML_MAPPING_NODE)
		return failf(c, n, path, "expected a mapping of strings");
	SPEC->labels = json_object();
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		if (!scalar(k) || !scalar(v))
			return failf(c, k, path, "expected a mapping of strings");
		if (json_object_get(SPEC->labels, scalar(k)))
			return failf(c, k, path, "duplicate key '%s'", scalar(k));
		json_object_set_new(SPEC->labels, scalar(k), json_string(scalar(v)));
	}
	return 0;
}

/* placement: {constraints: ["zone==a", "disk!=hdd", "gpu"], spread: zone} — where the
 * cluster's scheduler may put replicas (src/sched/sched.h) */
static int f_constraints(struct ctx *c, yaml_node_t *n, const char *path)
{
	json_t *list = json_array();
	struct err e = { 0 };

	json_object_set_new(SPEC->placement, "constraints", list);
	if (n->type != YAML_SEQUENCE_NODE)
		return failf(c, n, path, "expected a list of constraints (\"key==value\", "
					 "\"key!=value\" or \"key\")");
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *v = yaml_document_get_node(c->doc, *it);
		if (!scalar(v))
			return failf(c, v, path, "expected a string");
		if (json_array_size(list) >= SCHED_MAX_CONSTRAINTS)
			return failf(c, v, path, "more than %d constraints", SCHED_MAX_CONSTRAINTS);
		if (sched_constraint_check(scalar(v), &e) < 0)
			return failf(c, v, path, "%s", e.msg);
		json_array_append_new(list, json_string(scalar(v)));
	}
	return 0;
}

static int f_spread(struct ctx *c, yaml_node_t *n, const char *path)
{
	struct err e = { 0 };
	const char *v = scalar(n);

	/* a label key: what an "exists" constraint accepts */
	if (!v || sched_constraint_check(v, &e) < 0 || strchr(v, '='))
		return failf(c, n, path, "expected a node label key such as zone");
	json_object_set_new(SPEC->placement, "spread", json_string(v));
	return 0;
}

static int f_placement(struct ctx *c, yaml_node_t *n, const char *path)
{
	static const struct field t[] = {
		{ "constraints", f_constraints },
		{ "spread", f_spread },
	};
	json_decref(SPEC->placement);
	SPEC->placement = json_object();
	return walk_map(c, n, path, t, ARRAY_SIZE(t));
}

static const struct field top_fields[] = {
	{ "version", f_version },       { "name", f_name },
	{ "image", f_image },           { "ports", f_ports },
	{ "volumes", f_volumes },       { "environment", f_environment },
	{ "env", f_environment },       { "resources", f_resources },
	{ "healthcheck", f_healthcheck }, { "replicas", f_replicas },
	{ "command", f_command },       { "entrypoint", f_entrypoint },
	{ "workdir", f_workdir },       { "user", f_user },
	{ "vpc", f_vpc },               { "restart", f_restart },
	{ "labels", f_labels },         { "placement", f_placement },
	{ "init", f_init },
};

/* ---- entry points ---- */

static struct bun_spec *spec_new(void)
{
	struct bun_spec *s = xcalloc(1, sizeof(*s));
	s->res = (struct bun_resources){ -1, -1, -1, -1, -1, -1, -1, 0 };
	s->replicas_min = s->replicas_max = 1;
	s->restart = BUN_RESTART_NO;
	return s;
}

static int yaml_fail(const char *name, yaml_parser_t *p, struct err *err)
{
	const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
	return err_msg(err, EINVAL, "%s:%zu:%zu: invalid YAML: %s%s%s", name, m->line + 1,
		       m->column + 1, p->problem ? p->problem : "syntax error",
		       p->context ? " " : "", p->context ? p->context : "");
}

int bun_parse(const char *name, const char *data, size_t len, const char *base_dir,
	      struct bun_spec **ret, struct err *err)
{
	struct bun_spec *s = spec_new();
	struct ctx c = { .file = name, .base_dir = base_dir, .s = s, .err = err,
			 .budget = NODE_BUDGET };
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int r;

	if (len > BUN_MAX_FILE) {
		bun_spec_free(s);
		return err_msg(err, EFBIG, "%s: file too large (%zu bytes, at most %u)", name, len,
			       BUN_MAX_FILE);
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = yaml_fail(name, &parser, err);
		yaml_parser_delete(&parser);
		bun_spec_free(s);
		return r;
	}
	c.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root)
		r = err_msg(err, EINVAL, "%s:1:1: empty file: expected version and image", name);
	else
		r = walk_map(&c, root, "", top_fields, ARRAY_SIZE(top_fields));
	if (r == 0 && !s->version)
		r = failf(&c, root, "version", "missing (add: version: \"1.0\")");
	if (r == 0 && !s->image)
		r = failf(&c, root, "image.docker_image", "missing: which image to run?");
	if (r == 0 && s->health && s->health->kind != BUN_HEALTH_EXEC && !s->health->port) {
		if (s->n_ports == 0)
			r = failf(&c, root, "healthcheck", "needs a port: add ports or healthcheck.port");
		else
			s->health->port = s->ports[0].container_port;
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (r < 0) {
		bun_spec_free(s);
		return r;
	}
	if (!s->name) {
		/* the file's name without .bun */
		const char *b = strrchr(name, '/');
		_cleanup_free_ char *n = xstrdup(b ? b + 1 : name);
		char *dot = strstr(n, ".bun");
		if (dot)
			*dot = '\0';
		s->name = xstrdup(valid_name(n) ? n : "workload");
	}
	*ret = s;
	return 0;
}

int bun_parse_file(const char *path, struct bun_spec **ret, struct err *err)
{
	_cleanup_free_ char *data = NULL, *dir = NULL;
	size_t len;
	int r;

	if ((r = fs_read_at(AT_FDCWD, path, &data, &len, err)) < 0)
		return r;
	dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	return bun_parse(path, data, len, *dir ? dir : "/", ret, err);
}

void bun_spec_free(struct bun_spec *s)
{
	if (!s)
		return;
	free(s->version);
	free(s->name);
	free(s->image);
	strv_free(s->entrypoint);
	strv_free(s->command);
	free(s->workdir);
	free(s->user);
	free(s->vpc);
	strv_free(s->env);
	free(s->ports);
	/* the list ends with a zeroed entry; one that failed midway is freed too */
	for (size_t i = 0; s->volumes && (i < s->n_volumes || s->volumes[i].source ||
					  s->volumes[i].target); i++) {
		free(s->volumes[i].source);
		free(s->volumes[i].target);
	}
	free(s->volumes);
	if (s->health) {
		free(s->health->path);
		strv_free(s->health->command);
		free(s->health);
	}
	json_decref(s->labels);
	json_decref(s->placement);
	strv_free(s->warnings);
	free(s);
}

static json_t *strv_json(char **v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *bun_to_json(const struct bun_spec *s)
{
	static const char *const restart[] = { "no", "on-failure", "always", "unless-stopped" };
	json_t *j = json_pack("{s:s,s:s,s:s,s:{s:i,s:i},s:s,s:i}", "version", s->version, "name",
			      s->name, "image", s->image, "replicas", "min", s->replicas_min, "max",
			      s->replicas_max, "restart", restart[s->restart], "restart_max",
			      s->restart_max);
	json_t *ports = json_array(), *vols = json_array(), *res = json_object();

	if (s->entrypoint)
		json_object_set_new(j, "entrypoint", strv_json(s->entrypoint));
	if (s->command)
		json_object_set_new(j, "command", strv_json(s->command));
	if (s->workdir)
		json_object_set_new(j, "workdir", json_string(s->workdir));
	if (s->user)
		json_object_set_new(j, "user", json_string(s->user));
	if (s->vpc)
		json_object_set_new(j, "vpc", json_string(s->vpc));
	json_object_set_new(j, "environment", strv_json(s->env));
	for (size_t i = 0; i < s->n_ports; i++)
		json_array_append_new(ports, json_pack("{s:i,s:i,s:s,s:s}", "container_port",
						       s->ports[i].container_port, "host_port",
						       s->ports[i].host_port, "protocol",
						       s->ports[i].proto, "publish",
						       s->ports[i].host_mode ? "host" : "ingress"));
	json_object_set_new(j, "ports", ports);
	for (size_t i = 0; i < s->n_volumes; i++)
		json_array_append_new(vols, json_pack("{s:s,s:s,s:s,s:b}", "source",
						      s->volumes[i].source, "target",
						      s->volumes[i].target, "mode",
						      s->volumes[i].readonly ? "ro" : "rw", "named",
						      s->volumes[i].named));
	json_object_set_new(j, "volumes", vols);
#define RES(f)                   \
	if (s->res.f >= 0)       \
		json_object_set_new(res, #f, json_integer(s->res.f))
	RES(cpu_shares);
	RES(cpu_quota);
	RES(memory_limit);
	RES(memory_swap);
	RES(blkio_weight);
	RES(pids_limit);
	RES(disk);
#undef RES
	if (s->res.cpus > 0)
		json_object_set_new(res, "cpus", json_real(s->res.cpus));
	json_object_set_new(j, "resources", res);
	if (s->health) {
		static const char *const kinds[] = { "http", "tcp", "exec" };
		json_t *h = json_pack("{s:s,s:i,s:I,s:I,s:I,s:i}", "type", kinds[s->health->kind],
				      "port", s->health->port, "interval_ms",
				      (json_int_t)s->health->interval_ms, "timeout_ms",
				      (json_int_t)s->health->timeout_ms, "start_period_ms",
				      (json_int_t)s->health->start_period_ms, "retries",
				      s->health->retries);
		if (s->health->path)
			json_object_set_new(h, "path", json_string(s->health->path));
		if (s->health->command)
			json_object_set_new(h, "command", strv_json(s->health->command));
		json_object_set_new(j, "healthcheck", h);
	}
	if (s->labels)
		json_object_set(j, "labels", s->labels);
	if (s->placement)
		json_object_set(j, "placement", s->placement);
	if (s->init)
		json_object_set_new(j, "init", json_true());
	return j;
}
