/* config: parsing of config.json into struct rt_config. Everything that can be
 * checked without touching the system is checked here, so a bad config fails before
 * any namespace, mount or cgroup exists. */
#include "runtime/config.h"

#include <ctype.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "base/js.h"
#include "base/util.h"
#include "runtime/cgroup.h"
#include "runtime/seccomp.h"

/* ---- tables ---- */

static const struct {
	const char *name, *proc;
	int type;
} ns_table[] = {
	{ "pid", "pid", CLONE_NEWPID },       { "network", "net", CLONE_NEWNET },
	{ "mount", "mnt", CLONE_NEWNS },      { "ipc", "ipc", CLONE_NEWIPC },
	{ "uts", "uts", CLONE_NEWUTS },       { "user", "user", CLONE_NEWUSER },
	{ "cgroup", "cgroup", CLONE_NEWCGROUP }, { "time", "time", 0x80 /* CLONE_NEWTIME */ },
};

int rt_namespace_type(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_table); i++)
		if (streq(ns_table[i].name, name))
			return ns_table[i].type;
	return 0;
}

const char *rt_namespace_name(int type)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_table); i++)
		if (ns_table[i].type == type)
			return ns_table[i].name;
	return NULL;
}

const char *rt_namespace_proc(int type)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_table); i++)
		if (ns_table[i].type == type)
			return ns_table[i].proc;
	return NULL;
}

const struct rt_namespace *rt_config_namespace(const struct rt_config *cfg, int type)
{
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		if (cfg->namespaces[i].type == type)
			return &cfg->namespaces[i];
	return NULL;
}

static const struct {
	const char *name;
	int res;
} rlimit_table[] = {
	{ "RLIMIT_AS", RLIMIT_AS },         { "RLIMIT_CORE", RLIMIT_CORE },
	{ "RLIMIT_CPU", RLIMIT_CPU },       { "RLIMIT_DATA", RLIMIT_DATA },
	{ "RLIMIT_FSIZE", RLIMIT_FSIZE },   { "RLIMIT_LOCKS", RLIMIT_LOCKS },
	{ "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
	{ "RLIMIT_NICE", RLIMIT_NICE },     { "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "RLIMIT_NPROC", RLIMIT_NPROC },   { "RLIMIT_RSS", RLIMIT_RSS },
	{ "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "RLIMIT_RTTIME", RLIMIT_RTTIME },
	{ "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING }, { "RLIMIT_STACK", RLIMIT_STACK },
};

static const struct {
	const char *name;
	unsigned long set, clear, prop;
} mount_opt_table[] = {
	{ "defaults", 0, 0, 0 },
	{ "ro", MS_RDONLY, 0, 0 },           { "rw", 0, MS_RDONLY, 0 },
	{ "nosuid", MS_NOSUID, 0, 0 },       { "suid", 0, MS_NOSUID, 0 },
	{ "nodev", MS_NODEV, 0, 0 },         { "dev", 0, MS_NODEV, 0 },
	{ "noexec", MS_NOEXEC, 0, 0 },       { "exec", 0, MS_NOEXEC, 0 },
	{ "sync", MS_SYNCHRONOUS, 0, 0 },    { "async", 0, MS_SYNCHRONOUS, 0 },
	{ "dirsync", MS_DIRSYNC, 0, 0 },     { "remount", MS_REMOUNT, 0, 0 },
	{ "mand", MS_MANDLOCK, 0, 0 },       { "nomand", 0, MS_MANDLOCK, 0 },
	{ "atime", 0, MS_NOATIME, 0 },       { "noatime", MS_NOATIME, 0, 0 },
	{ "diratime", 0, MS_NODIRATIME, 0 }, { "nodiratime", MS_NODIRATIME, 0, 0 },
	{ "relatime", MS_RELATIME, 0, 0 },   { "norelatime", 0, MS_RELATIME, 0 },
	{ "strictatime", MS_STRICTATIME, 0, 0 }, { "nostrictatime", 0, MS_STRICTATIME, 0 },
	{ "lazytime", MS_LAZYTIME, 0, 0 },   { "nolazytime", 0, MS_LAZYTIME, 0 },
	{ "silent", MS_SILENT, 0, 0 },       { "loud", 0, MS_SILENT, 0 },
	{ "bind", MS_BIND, 0, 0 },           { "rbind", MS_BIND | MS_REC, 0, 0 },
	{ "private", 0, 0, MS_PRIVATE },     { "rprivate", 0, 0, MS_PRIVATE | MS_REC },
	{ "shared", 0, 0, MS_SHARED },       { "rshared", 0, 0, MS_SHARED | MS_REC },
	{ "slave", 0, 0, MS_SLAVE },         { "rslave", 0, 0, MS_SLAVE | MS_REC },
	{ "unbindable", 0, 0, MS_UNBINDABLE }, { "runbindable", 0, 0, MS_UNBINDABLE | MS_REC },
};

/* Filesystem options passed through as data; anything else is a typo we report. */
static bool fs_data_option(const char *o)
{
	static const char *const prefixes[] = {
		"size=", "mode=", "uid=", "gid=", "nr_inodes=", "nr_blocks=", "newinstance",
		"ptmxmode=", "lowerdir=", "upperdir=", "workdir=", "context=", "fscontext=",
		"defcontext=", "rootcontext=", "huge=", "mpol=", "inode64", "noacl", "acl",
		"userxattr", "index=", "metacopy=", "redirect_dir=", "xino=", "volatile",
		"max=", "hidepid=", "subset=", "gidmapping", "idmap", "tmpcopyup", "copy-symlink",
		"nr_inodes", "user_xattr", "errors=", "data=", "cgroup", "noswap",
	};
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (strncmp(o, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

int rt_mount_options(char *const *opts, const char *path, struct rt_mount *m, struct err *err)
{
	_cleanup_free_ char *data = NULL;

	for (size_t i = 0; opts && opts[i]; i++) {
		const char *o = opts[i];
		bool found = false;

		for (size_t t = 0; t < ARRAY_SIZE(mount_opt_table); t++) {
			if (!streq(o, mount_opt_table[t].name))
				continue;
			m->flags = (m->flags & ~mount_opt_table[t].clear) | mount_opt_table[t].set;
			m->clear = (m->clear & ~mount_opt_table[t].set) | mount_opt_table[t].clear;
			if (mount_opt_table[t].prop)
				m->propagation = mount_opt_table[t].prop;
			found = true;
		}
		if (found)
			continue;
		if (!fs_data_option(o)) {
			_cleanup_free_ char *p = js_index(path, i);
			return err_msg(err, EINVAL, "%s: unknown mount option '%s'", p, o);
		}
		char *n = data ? xasprintf("%s,%s", data, o) : xstrdup(o);
		free(data);
		data = n;
	}
	if (m->flags & MS_BIND)
		m->bind = true;
	free(m->data);
	m->data = take_ptr(data);
	return 0;
}

int rt_signal_parse(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {
		{ "HUP", SIGHUP },   { "INT", SIGINT },     { "QUIT", SIGQUIT }, { "ILL", SIGILL },
		{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT },   { "IOT", SIGIOT },   { "BUS", SIGBUS },
		{ "FPE", SIGFPE },   { "KILL", SIGKILL },   { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },
		{ "USR2", SIGUSR2 }, { "PIPE", SIGPIPE },   { "ALRM", SIGALRM }, { "TERM", SIGTERM },
		{ "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
		{ "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },   { "TTOU", SIGTTOU }, { "URG", SIGURG },
		{ "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },   { "VTALRM", SIGVTALRM },
		{ "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },     { "POLL", SIGPOLL },
		{ "PWR", SIGPWR },   { "SYS", SIGSYS },
	};
	char *end;
	long n;

	if (!s || !*s)
		return -1;
	if (isdigit((unsigned char)*s)) {
		errno = 0;
		n = strtol(s, &end, 10);
		if (errno || *end || n <= 0 || n > SIGRTMAX)
			return -1;
		return (int)n;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		if (strcasecmp(s, sigs[i].name) == 0)
			return sigs[i].sig;
	if (strncasecmp(s, "RTMIN", 5) == 0 || strncasecmp(s, "RTMAX", 5) == 0) {
		bool min = toupper((unsigned char)s[3]) == 'I';
		long off = 0;
		if (s[5]) {
			off = strtol(s + 5, &end, 10);
			if (*end)
				return -1;
		}
		n = min ? SIGRTMIN + off : SIGRTMAX + off;
		return n >= SIGRTMIN && n <= SIGRTMAX ? (int)n : -1;
	}
	return -1;
}

/* ---- process ---- */

static int parse_user(json_t *proc, const char *path, struct rt_process *p, struct err *err)
{
	_cleanup_free_ char *up = js_path(path, "user");
	json_t *u, *gids, *g;
	uint64_t v;
	size_t i;
	int r;

	r = js_get(proc, path, "user", JSON_OBJECT, false, &u, err);
	if (r <= 0)
		return r;
	if (js_u64(u, up, "uid", UINT32_MAX - 1, &v, err) < 0)
		return -EINVAL;
	p->uid = v, v = 0;
	if (js_u64(u, up, "gid", UINT32_MAX - 1, &v, err) < 0)
		return -EINVAL;
	p->gid = v;
	r = js_u64(u, up, "umask", 07777, &v, err);
	if (r < 0)
		return r;
	if (r > 0)
		p->has_umask = true, p->umask = v;
	r = js_get(u, up, "additionalGids", JSON_ARRAY, false, &gids, err);
	if (r < 0)
		return r;
	if (r == 0)
		return 0;
	p->additional_gids = xcalloc(json_array_size(gids), sizeof(gid_t));
	json_array_foreach(gids, i, g) {
		if (!json_is_integer(g) || json_integer_value(g) < 0 ||
		    json_integer_value(g) >= UINT32_MAX) {
			_cleanup_free_ char *gp = js_path(up, "additionalGids");
			_cleanup_free_ char *ip = js_index(gp, i);
			return err_msg(err, EINVAL, "%s: expected a group id", ip);
		}
		p->additional_gids[p->n_additional_gids++] = json_integer_value(g);
	}
	return 0;
}

static int parse_rlimits(json_t *proc, const char *path, struct rt_process *p, struct err *err)
{
	_cleanup_free_ char *rp = js_path(path, "rlimits");
	json_t *arr, *e;
	size_t i;
	int r = js_get(proc, path, "rlimits", JSON_ARRAY, false, &arr, err);

	if (r <= 0)
		return r;
	p->rlimits = xcalloc(json_array_size(arr), sizeof(*p->rlimits));
	json_array_foreach(arr, i, e) {
		_cleanup_free_ char *ep = js_index(rp, i);
		_cleanup_free_ char *type = NULL;
		struct rt_rlimit *rl = &p->rlimits[p->n_rlimits];
		bool found = false;

		if (!json_is_object(e))
			return err_msg(err, EINVAL, "%s: expected an object", ep);
		CHECK(js_str(e, ep, "type", true, &type, err));
		for (size_t t = 0; t < ARRAY_SIZE(rlimit_table); t++)
			if (streq(type, rlimit_table[t].name))
				rl->resource = rlimit_table[t].res, found = true;
		if (!found)
			return err_msg(err, EINVAL, "%s.type: unknown rlimit '%s'", ep, type);
		CHECK(js_u64(e, ep, "soft", UINT64_MAX >> 1, &rl->soft, err));
		CHECK(js_u64(e, ep, "hard", UINT64_MAX >> 1, &rl->hard, err));
		if (rl->soft > rl->hard)
			return err_msg(err, EINVAL, "%s: soft limit above hard limit", ep);
		p->n_rlimits++;
	}
	return 0;
}

int rt_process_parse(json_t *obj, const char *path, struct rt_process **ret, struct err *err)
{
	struct rt_process *p = xcalloc(1, sizeof(*p));
	json_t *cs, *caps;
	int64_t oom;
	uint64_t v;
	int r;

#define TRY(x)                              \
	do {                                \
		if ((r = (x)) < 0)          \
			goto fail;          \
	} while (0)
	TRY(js_bool(obj, path, "terminal", &p->terminal, err));
	TRY(js_get(obj, path, "consoleSize", JSON_OBJECT, false, &cs, err));
	if (r > 0) {
		_cleanup_free_ char *cp = js_path(path, "consoleSize");
		TRY(js_u64(cs, cp, "height", UINT16_MAX, &v, err));
		p->console_height = v, v = 0;
		TRY(js_u64(cs, cp, "width", UINT16_MAX, &v, err));
		p->console_width = v;
	}
	TRY(parse_user(obj, path, p, err));
	TRY(js_strv(obj, path, "args", false, &p->args, err));
	TRY(js_strv(obj, path, "env", false, &p->env, err));
	TRY(js_str(obj, path, "cwd", false, &p->cwd, err));
	if (!p->cwd)
		p->cwd = xstrdup("/");
	if (p->cwd[0] != '/') {
		r = err_msg(err, EINVAL, "%s.cwd: must be an absolute path, got '%s'", path, p->cwd);
		goto fail;
	}
	TRY(js_get(obj, path, "capabilities", JSON_OBJECT, false, &caps, err));
	if (r > 0) {
		_cleanup_free_ char *cp = js_path(path, "capabilities");
		TRY(rt_caps_parse(caps, cp, &p->caps, err));
	}
	TRY(parse_rlimits(obj, path, p, err));
	TRY(js_bool(obj, path, "noNewPrivileges", &p->no_new_privileges, err));
	TRY(js_i64(obj, path, "oomScoreAdj", &oom, err));
	if (r > 0) {
		if (oom < -1000 || oom > 1000) {
			r = err_msg(err, EINVAL, "%s.oomScoreAdj: %lld out of range -1000..1000",
				    path, (long long)oom);
			goto fail;
		}
		p->has_oom_score_adj = true;
		p->oom_score_adj = (int)oom;
	}
#undef TRY
	*ret = p;
	return 0;
fail:
	rt_process_free(p);
	return r;
}

void rt_process_free(struct rt_process *p)
{
	if (!p)
		return;
	free(p->additional_gids);
	strv_free(p->args);
	strv_free(p->env);
	free(p->cwd);
	free(p->rlimits);
	free(p);
}

/* ---- mounts, namespaces, maps, devices ---- */

static int parse_mounts(json_t *doc, struct rt_config *c, struct err *err)
{
	json_t *arr, *e;
	size_t i;
	int r = js_get(doc, "", "mounts", JSON_ARRAY, false, &arr, err);

	if (r <= 0)
		return r;
	c->mounts = xcalloc(json_array_size(arr), sizeof(*c->mounts));
	json_array_foreach(arr, i, e) {
		_cleanup_free_ char *mp = js_index("mounts", i);
		_cleanup_free_ char *op = js_path(mp, "options");
		_cleanup_strv_ char **opts = NULL;
		struct rt_mount *m = &c->mounts[c->n_mounts++];

		if (!json_is_object(e))
			return err_msg(err, EINVAL, "%s: expected an object", mp);
		CHECK(js_str(e, mp, "destination", true, &m->destination, err));
		CHECK(js_str(e, mp, "type", false, &m->type, err));
		CHECK(js_str(e, mp, "source", false, &m->source, err));
		CHECK(js_strv(e, mp, "options", false, &opts, err));
		if (m->destination[0] != '/')
			return err_msg(err, EINVAL, "%s.destination: must be absolute, got '%s'", mp,
				       m->destination);
		CHECK(rt_mount_options(opts, op, m, err));
		if (m->type && (streq(m->type, "bind") || streq(m->type, "rbind")))
			m->bind = true, m->flags |= MS_BIND | (streq(m->type, "rbind") ? MS_REC : 0);
		if (!m->bind && !m->type)
			return err_msg(err, EINVAL, "%s.type: missing (and not a bind mount)", mp);
		if (m->bind && !m->source)
			return err_msg(err, EINVAL, "%s.source: missing for a bind mount", mp);
	}
	return 0;
}

static int parse_namespaces(json_t *lin, struct rt_config *c, struct err *err)
{
	json_t *arr, *e;
	size_t i;
	int r = js_get(lin, "linux", "namespaces", JSON_ARRAY, false, &arr, err);

	if (r <= 0)
		return r;
	c->namespaces = xcalloc(json_array_size(arr), sizeof(*c->namespaces));
	json_array_foreach(arr, i, e) {
		_cleanup_free_ char *np = js_index("linux.namespaces", i);
		_cleanup_free_ char *type = NULL;
		struct rt_namespace *ns = &c->namespaces[c->n_namespaces];

		if (!json_is_object(e))
			return err_msg(err, EINVAL, "%s: expected an object", np);
		CHECK(js_str(e, np, "type", true, &type, err));
		ns->type = rt_namespace_type(type);
		if (!ns->type)
			return err_msg(err, EINVAL, "%s.type: unknown namespace type '%s'", np, type);
		if (rt_config_namespace(c, ns->type))
			return err_msg(err, EINVAL, "%s.type: namespace '%s' listed twice", np, type);
		c->n_namespaces++;
		CHECK(js_str(e, np, "path", false, &ns->path, err));
		if (ns->path && ns->path[0] != '/')
			return err_msg(err, EINVAL, "%s.path: must be absolute, got '%s'", np,
				       ns->path);
	}
	return 0;
}

static int parse_idmaps(json_t *lin, const char *key, struct rt_id_map **ret, size_t *ret_n,
			struct err *err)
{
	_cleanup_free_ char *kp = js_path("linux", key);
	json_t *arr, *e;
	size_t i;
	int r = js_get(lin, "linux", key, JSON_ARRAY, false, &arr, err);

	if (r <= 0)
		return r;
	*ret = xcalloc(json_array_size(arr), sizeof(**ret));
	json_array_foreach(arr, i, e) {
		_cleanup_free_ char *ep = js_index(kp, i);
		struct rt_id_map *m = &(*ret)[(*ret_n)++];
		uint64_t v = 0;

		if (!json_is_object(e))
			return err_msg(err, EINVAL, "%s: expected an object", ep);
		if (js_u64(e, ep, "containerID", UINT32_MAX, &v, err) < 0)
			return -EINVAL;
		m->container_id = v, v = 0;
		if (js_u64(e, ep, "hostID", UINT32_MAX, &v, err) < 0)
			return -EINVAL;
		m->host_id = v, v = 0;
		if (js_u64(e, ep, "size", UINT32_MAX, &v, err) < 0)
			return -EINVAL;
		if (v == 0)
			return err_msg(err, EINVAL, "%s.size: must be at least 1", ep);
		m->size = v;
	}
	return 0;
}

static int parse_devices(json_t *lin, struct rt_config *c, struct err *err)
{
	json_t *arr, *e;
	size_t i;
	int r = js_get(lin, "linux", "devices", JSON_ARRAY, false, &arr, err);

	if (r <= 0)
		return r;
	c->devices = xcalloc(json_array_size(arr), sizeof(*c->devices));
	json_array_foreach(arr, i, e) {
		_cleanup_free_ char *dp = js_index("linux.devices", i);
		_cleanup_free_ char *type = NULL;
		struct rt_device *d = &c->devices[c->n_devices++];
		uint64_t v;

		if (!json_is_object(e))
			return err_msg(err, EINVAL, "%s: expected an object", dp);
		CHECK(js_str(e, dp, "type", true, &type, err));
		CHECK(js_str(e, dp, "path", true, &d->path, err));
		if (strlen(type) != 1 || !strchr("cbup", type[0]))
			return err_msg(err, EINVAL, "%s.type: unknown device type '%s'", dp, type);
		d->type = type[0];
		if (d->path[0] != '/')
			return err_msg(err, EINVAL, "%s.path: must be absolute", dp);
		CHECK(js_i64(e, dp, "major", &d->major, err));
		CHECK(js_i64(e, dp, "minor", &d->minor, err));
		if (d->type != 'p' && (!json_object_get(e, "major") || !json_object_get(e, "minor")))
			return err_msg(err, EINVAL, "%s: major and minor are required", dp);
		CHECK(r = js_u64(e, dp, "fileMode", 07777, &v, err));
		if (r > 0)
			d->has_mode = true, d->mode = v;
		CHECK(r = js_u64(e, dp, "uid", UINT32_MAX, &v, err));
		if (r > 0)
			d->has_uid = true, d->uid = v;
		CHECK(r = js_u64(e, dp, "gid", UINT32_MAX, &v, err));
		if (r > 0)
			d->has_gid = true, d->gid = v;
	}
	return 0;
}

/* ---- hooks ---- */

static int parse_hooks(json_t *doc, struct rt_config *c, struct err *err)
{
	static const char *const names[RT_HOOK_NKINDS] = {
		"prestart", "createRuntime", "createContainer", "startContainer", "poststart",
		"poststop",
	};
	json_t *hooks, *arr, *e;
	size_t i;
	int r = js_get(doc, "", "hooks", JSON_OBJECT, false, &hooks, err);

	if (r <= 0)
		return r;
	for (int k = 0; k < RT_HOOK_NKINDS; k++) {
		_cleanup_free_ char *kp = js_path("hooks", names[k]);
		r = js_get(hooks, "hooks", names[k], JSON_ARRAY, false, &arr, err);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		c->hooks.hook[k] = xcalloc(json_array_size(arr), sizeof(struct rt_hook));
		json_array_foreach(arr, i, e) {
			_cleanup_free_ char *hp = js_index(kp, i);
			struct rt_hook *h = &c->hooks.hook[k][c->hooks.n[k]++];
			int64_t t = 0;

			if (!json_is_object(e))
				return err_msg(err, EINVAL, "%s: expected an object", hp);
			CHECK(js_str(e, hp, "path", true, &h->path, err));
			if (h->path[0] != '/')
				return err_msg(err, EINVAL, "%s.path: must be absolute", hp);
			CHECK(js_strv(e, hp, "args", false, &h->args, err));
			CHECK(js_strv(e, hp, "env", false, &h->env, err));
			CHECK(js_i64(e, hp, "timeout", &t, err));
			if (t < 0 || (json_object_get(e, "timeout") && t == 0))
				return err_msg(err, EINVAL, "%s.timeout: must be positive", hp);
			h->timeout = (int)t;
		}
	}
	return 0;
}

/* ---- linux ---- */

static int parse_propagation(const char *s, unsigned long *ret)
{
	static const struct {
		const char *n;
		unsigned long f;
	} t[] = {
		{ "private", MS_PRIVATE },  { "rprivate", MS_PRIVATE | MS_REC },
		{ "shared", MS_SHARED },    { "rshared", MS_SHARED | MS_REC },
		{ "slave", MS_SLAVE },      { "rslave", MS_SLAVE | MS_REC },
		{ "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		if (streq(s, t[i].n))
			return *ret = t[i].f, 0;
	return -EINVAL;
}

static int parse_linux(json_t *doc, struct rt_config *c, struct err *err)
{
	_cleanup_free_ char *prop = NULL;
	json_t *lin, *obj, *v;
	const char *key;
	int r = js_get(doc, "", "linux", JSON_OBJECT, false, &lin, err);

	if (r <= 0)
		return r;
	CHECK(parse_namespaces(lin, c, err));
	CHECK(parse_idmaps(lin, "uidMappings", &c->uid_maps, &c->n_uid_maps, err));
	CHECK(parse_idmaps(lin, "gidMappings", &c->gid_maps, &c->n_gid_maps, err));
	CHECK(parse_devices(lin, c, err));
	CHECK(js_str(lin, "linux", "cgroupsPath", false, &c->cgroups_path, err));
	CHECK(r = js_get(lin, "linux", "resources", JSON_OBJECT, false, &obj, err));
	if (r > 0)
		CHECK(rt_resources_parse(obj, "linux.resources", &c->resources, err));
	CHECK(r = js_get(lin, "linux", "seccomp", JSON_OBJECT, false, &obj, err));
	if (r > 0)
		CHECK(rt_seccomp_parse(obj, "linux.seccomp", &c->seccomp, err));
	CHECK(js_strv(lin, "linux", "maskedPaths", false, &c->masked_paths, err));
	CHECK(js_strv(lin, "linux", "readonlyPaths", false, &c->readonly_paths, err));
	CHECK(js_str(lin, "linux", "rootfsPropagation", false, &prop, err));
	if (prop && parse_propagation(prop, &c->rootfs_propagation) < 0)
		return err_msg(err, EINVAL, "linux.rootfsPropagation: unknown value '%s'", prop);
	CHECK(js_str(lin, "linux", "mountLabel", false, &c->mount_label, err));
	CHECK(r = js_get(lin, "linux", "sysctl", JSON_OBJECT, false, &obj, err));
	if (r > 0) {
		c->sysctl = xcalloc(json_object_size(obj), sizeof(*c->sysctl));
		json_object_foreach(obj, key, v) {
			if (!json_is_string(v))
				return err_msg(err, EINVAL, "linux.sysctl.%s: expected a string", key);
			if (strstr(key, "..") || key[0] == '/' || key[0] == '.')
				return err_msg(err, EINVAL, "linux.sysctl: invalid key '%s'", key);
			c->sysctl[c->n_sysctl].key = xstrdup(key);
			c->sysctl[c->n_sysctl++].value = xstrdup(json_string_value(v));
		}
	}
	if ((c->n_uid_maps || c->n_gid_maps) && !rt_config_namespace(c, CLONE_NEWUSER))
		return err_msg(err, EINVAL,
			       "linux.uidMappings: mappings given without a user namespace");
	if (rt_config_namespace(c, CLONE_NEWUSER) && !rt_config_namespace(c, CLONE_NEWUSER)->path &&
	    (!c->n_uid_maps || !c->n_gid_maps))
		return err_msg(err, EINVAL, "linux.uidMappings: a new user namespace needs "
					    "uidMappings and gidMappings");
	return 0;
}

static int parse_root(json_t *doc, const char *bundle, struct rt_config *c, struct err *err)
{
	_cleanup_free_ char *path = NULL;
	json_t *root;
	int r = js_get(doc, "", "root", JSON_OBJECT, true, &root, err);

	if (r < 0)
		return r;
	CHECK(js_str(root, "root", "path", true, &path, err));
	CHECK(js_bool(root, "root", "readonly", &c->root_readonly, err));
	if (path[0] == '/' || !bundle)
		c->root_path = take_ptr(path);
	else
		c->root_path = xasprintf("%s/%s", bundle, path);
	return 0;
}

int rt_config_parse(json_t *doc, const char *bundle, struct rt_config **ret, struct err *err)
{
	struct rt_config *c = xcalloc(1, sizeof(*c));
	json_t *proc, *ann = NULL;
	int r;

	if (!json_is_object(doc)) {
		r = err_msg(err, EINVAL, "expected a JSON object");
		goto fail;
	}
	if ((r = js_str(doc, "", "ociVersion", true, &c->oci_version, err)) < 0)
		goto fail;
	if (strncmp(c->oci_version, "1.", 2) != 0) {
		r = err_msg(err, EINVAL, "ociVersion: unsupported version '%s' (1.x expected)",
			    c->oci_version);
		goto fail;
	}
	if ((r = js_get(doc, "", "process", JSON_OBJECT, false, &proc, err)) < 0)
		goto fail;
	if (r > 0 && (r = rt_process_parse(proc, "process", &c->process, err)) < 0)
		goto fail;
	if ((r = parse_root(doc, bundle, c, err)) < 0 ||
	    (r = js_str(doc, "", "hostname", false, &c->hostname, err)) < 0 ||
	    (r = js_str(doc, "", "domainname", false, &c->domainname, err)) < 0 ||
	    (r = parse_mounts(doc, c, err)) < 0 || (r = parse_hooks(doc, c, err)) < 0 ||
	    (r = parse_linux(doc, c, err)) < 0)
		goto fail;
	if ((r = js_get(doc, "", "annotations", JSON_OBJECT, false, &ann, err)) < 0)
		goto fail;
	if (r > 0)
		c->annotations = json_incref(ann);
	json_t *init = r > 0 ? json_object_get(ann, RT_INIT_ANNOTATION) : NULL;
	if (init && !(json_is_string(init) && (!strcmp(json_string_value(init), "true") ||
					       !strcmp(json_string_value(init), "false")))) {
		r = err_msg(err, EINVAL, "annotations.%s: expected \"true\" or \"false\"",
			    RT_INIT_ANNOTATION);
		goto fail;
	}
	c->init = init && !strcmp(json_string_value(init), "true");
	*ret = c;
	return 0;
fail:
	rt_config_free(c);
	return r;
}

int rt_config_load(const char *bundle, struct rt_config **ret, struct err *err)
{
	_cleanup_free_ char *file = xasprintf("%s/config.json", bundle);
	_cleanup_json_ json_t *doc = NULL;
	int r;

	r = js_load_file(file, &doc, err);
	if (r < 0)
		return r;
	r = rt_config_parse(doc, bundle, ret, err);
	if (r < 0)
		return err_wrap(err, "%s", file);
	return 0;
}

void rt_config_free(struct rt_config *c)
{
	if (!c)
		return;
	free(c->oci_version);
	rt_process_free(c->process);
	free(c->root_path);
	free(c->hostname);
	free(c->domainname);
	for (size_t i = 0; i < c->n_mounts; i++) {
		free(c->mounts[i].destination);
		free(c->mounts[i].type);
		free(c->mounts[i].source);
		free(c->mounts[i].data);
	}
	free(c->mounts);
	for (int k = 0; k < RT_HOOK_NKINDS; k++) {
		for (size_t i = 0; i < c->hooks.n[k]; i++) {
			free(c->hooks.hook[k][i].path);
			strv_free(c->hooks.hook[k][i].args);
			strv_free(c->hooks.hook[k][i].env);
		}
		free(c->hooks.hook[k]);
	}
	for (size_t i = 0; i < c->n_namespaces; i++)
		free(c->namespaces[i].path);
	free(c->namespaces);
	free(c->uid_maps);
	free(c->gid_maps);
	for (size_t i = 0; i < c->n_devices; i++)
		free(c->devices[i].path);
	free(c->devices);
	free(c->cgroups_path);
	rt_resources_free(c->resources);
	rt_seccomp_free(c->seccomp);
	strv_free(c->masked_paths);
	strv_free(c->readonly_paths);
	for (size_t i = 0; i < c->n_sysctl; i++) {
		free(c->sysctl[i].key);
		free(c->sysctl[i].value);
	}
	free(c->sysctl);
	free(c->mount_label);
	if (c->annotations)
		json_decref(c->annotations);
	free(c);
}
