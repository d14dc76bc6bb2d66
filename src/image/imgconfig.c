/* imgconfig: turns an image config plus the user's overrides into the process part of an
 * OCI runtime config, with Docker's semantics for Entrypoint/Cmd, Env, WorkingDir and
 * User. The image's /etc/passwd and /etc/group are read with RESOLVE_IN_ROOT, so a
 * symlink in the image cannot make us read (and leak ids from) the host's files. */
#include "image/imgconfig.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/js.h"
#include "base/util.h"

#define ID_FILE_MAX (4u << 20) /* a passwd or group file larger than this is refused */
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define ID_MAX 0x7fffffffu /* as Docker: uids and gids are 0..2^31-1 */

/* ---- /etc/passwd and /etc/group inside the rootfs ---- */

/* Reads rootfs/rel resolved as if rootfs were "/". A missing file is *ret = NULL. */
static int read_in_root(const char *rootfs, const char *rel, char **ret, struct err *err)
{
	struct open_how how = {
	    .flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	_cleanup_close_ int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat sb;
	size_t len = 0;

	*ret = NULL;
	if (root < 0)
		return err_sys(err, errno, "open rootfs '%s'", rootfs);
	fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (fd < 0)
		return err_sys(err, errno, "open '/%s' in the image", rel);
	if (fstat(fd, &sb) < 0)
		return err_sys(err, errno, "stat '/%s' in the image", rel);
	if (!S_ISREG(sb.st_mode))
		return err_msg(err, EINVAL, "'/%s' in the image is not a regular file", rel);
	if ((uint64_t)sb.st_size > ID_FILE_MAX)
		return err_msg(err, EFBIG, "'/%s' in the image is larger than %u bytes", rel,
			       ID_FILE_MAX);
	buf = xmalloc(sb.st_size + 1);
	while (len < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + len, sb.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, errno, "read '/%s' in the image", rel);
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	*ret = take_ptr(buf);
	return 0;
}

static bool parse_id(const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || errno || v > ID_MAX)
		return false;
	*ret = (unsigned)v;
	return true;
}

/* Splits one line into at most n ':' fields (in place); returns how many. */
static size_t split_fields(char *line, char **f, size_t n)
{
	size_t i = 0;

	f[i++] = line;
	for (char *p = line; *p && i < n; p++)
		if (*p == ':') {
			*p = '\0';
			f[i++] = p + 1;
		}
	return i;
}

struct pw_match {
	const char *name; /* match by name, or by uid when NULL */
	unsigned uid;
	char *found_name;
	unsigned found_uid, found_gid;
	bool found;
};

/* name:password:uid:gid:gecos:home:shell — the first match wins, as in libc. */
static void passwd_find(char *text, struct pw_match *m)
{
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line && !m->found;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[7];
		unsigned uid, gid;

		if (line[0] == '#' || split_fields(line, f, 7) < 4)
			continue;
		if (!parse_id(f[2], &uid) || !parse_id(f[3], &gid))
			continue;
		if (m->name ? !streq(f[0], m->name) : uid != m->uid)
			continue;
		m->found = true;
		m->found_name = xstrdup(f[0]);
		m->found_uid = uid;
		m->found_gid = gid;
	}
}

static bool has_member(char *list, const char *member)
{
	char *save = NULL;

	for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save))
		if (streq(u, member))
			return true;
	return false;
}

/* name:password:gid:member,member — with want_group, the first group of that name (or
 * gid, when numeric); otherwise every group that lists member. */
static void group_find(char *text, const char *want_group, const char *member, unsigned **gids,
		       size_t *n)
{
	unsigned want_gid = 0;
	bool numeric = want_group && parse_id(want_group, &want_gid);
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4];
		size_t nf;
		unsigned gid;
		bool hit;

		if (line[0] == '#' || (nf = split_fields(line, f, 4)) < 3 || !parse_id(f[2], &gid))
			continue;
		if (want_group)
			hit = numeric ? gid == want_gid : streq(f[0], want_group);
		else
			hit = member && nf == 4 && has_member(f[3], member);
		if (!hit)
			continue;
		*gids = xrealloc(*gids, (*n + 1) * sizeof(**gids));
		(*gids)[(*n)++] = gid;
		if (want_group)
			return;
	}
}

/* The explicit group of "user:group": by name or gid in /etc/group, else a bare number. */
static int resolve_group(char *group_text, const char *g, unsigned *ret_gid, struct err *err)
{
	_cleanup_free_ unsigned *gids = NULL;
	size_t n = 0;

	if (group_text)
		group_find(group_text, g, NULL, &gids, &n);
	if (n > 0)
		*ret_gid = gids[0];
	else if (!parse_id(g, ret_gid))
		return err_msg(err, ENOENT, "group '%s' not found in the image's /etc/group", g);
	return 0;
}

/* Docker's (runc's GetExecUser) rules: "" is uid 0 looked up as such; a name must be in
 * /etc/passwd; a number need not be (gid 0 then); an explicit group replaces the
 * passwd gid and drops supplementary groups, which otherwise come from /etc/group. */
int img_resolve_user(const char *rootfs, const char *user, unsigned *ret_uid, unsigned *ret_gid,
		     unsigned **ret_groups, size_t *ret_n_groups, struct err *err)
{
	_cleanup_free_ char *spec = xstrdup(user ? user : "");
	_cleanup_free_ char *passwd = NULL, *group = NULL;
	_cleanup_free_ unsigned *groups = NULL;
	struct pw_match m = {0};
	char *colon = strchr(spec, ':');
	const char *u = spec, *g = colon && colon[1] ? colon + 1 : NULL;
	unsigned uid = 0, gid = 0, num = 0;
	bool numeric;
	size_t n = 0;
	int r;

	if (colon)
		*colon = '\0';
	numeric = parse_id(u, &num);
	if (*u && !numeric && strchr(u, '\n'))
		return err_msg(err, EINVAL, "invalid user '%s'", u);
	CHECK(read_in_root(rootfs, "etc/passwd", &passwd, err));
	CHECK(read_in_root(rootfs, "etc/group", &group, err));
	m.name = *u && !numeric ? u : NULL;
	m.uid = numeric ? num : 0;
	if (passwd)
		passwd_find(passwd, &m);
	if (m.found) {
		uid = m.found_uid;
		gid = m.found_gid;
	} else if (*u && !numeric) {
		return err_msg(err, ENOENT, "user '%s' not found in the image's /etc/passwd", u);
	} else {
		uid = num;
	}
	r = 0;
	if (g)
		r = resolve_group(group, g, &gid, err);
	else if (m.found && group)
		group_find(group, NULL, m.found_name, &groups, &n);
	free(m.found_name);
	if (r < 0)
		return r;
	*ret_uid = uid;
	*ret_gid = gid;
	if (ret_groups)
		*ret_groups = take_ptr(groups);
	if (ret_n_groups)
		*ret_n_groups = n;
	return 0;
}

/* ---- the runtime config ---- */

static int append_str(json_t *arr, const char *s, const char *what, struct err *err)
{
	json_t *v = json_string(s);

	if (!v)
		return err_msg(err, EINVAL, "%s '%.100s' is not valid UTF-8", what, s);
	json_array_append_new(arr, v);
	return 0;
}

/* Entrypoint + Cmd; overriding the entrypoint drops the image's Cmd (Docker). */
static int build_args(const struct img_config *ic, const struct img_overrides *ov, json_t **ret,
		      struct err *err)
{
	char *const *ep = ov->entrypoint ? ov->entrypoint : ic->entrypoint;
	char *const *cmd = ov->cmd ? ov->cmd : ov->entrypoint ? NULL : ic->cmd;
	_cleanup_json_ json_t *args = json_array();

	for (size_t i = 0; ep && ep[i]; i++)
		CHECK(append_str(args, ep[i], "argument", err));
	for (size_t i = 0; cmd && cmd[i]; i++)
		CHECK(append_str(args, cmd[i], "argument", err));
	if (json_array_size(args) == 0)
		return err_msg(err, EINVAL, "image has no command: give one");
	*ret = take_ptr(args);
	return 0;
}

static ssize_t env_find(char **env, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], kv, klen) == 0 && env[i][klen] == '=')
			return (ssize_t)i;
	return -1;
}

static char **env_set(char **env, const char *kv)
{
	ssize_t i = env_find(env, kv);

	if (i < 0)
		return strv_append(env, kv);
	free(env[i]);
	env[i] = xstrdup(kv);
	return env;
}

/* Image Env, then the overrides replacing same keys, PATH when nobody set one, and TERM
 * for a terminal (as Docker does). */
static int build_env(const struct img_config *ic, const struct img_overrides *ov, bool terminal,
		     json_t **ret, struct err *err)
{
	_cleanup_strv_ char **env = NULL;
	json_t *out;

	for (size_t i = 0; ic->env && ic->env[i]; i++)
		env = env_set(env, ic->env[i]);
	for (size_t i = 0; ov->env && ov->env[i]; i++) {
		if (!strchr(ov->env[i], '=') || ov->env[i][0] == '=')
			return err_msg(err, EINVAL, "environment '%s': expected KEY=VALUE",
				       ov->env[i]);
		env = env_set(env, ov->env[i]);
	}
	if (env_find(env, "PATH=") < 0)
		env = strv_append(env, DEFAULT_PATH);
	if (terminal && env_find(env, "TERM=") < 0)
		env = strv_append(env, "TERM=xterm");
	out = json_array();
	for (size_t i = 0; env && env[i]; i++) {
		int r = append_str(out, env[i], "environment variable", err);
		if (r < 0) {
			json_decref(out);
			return r;
		}
	}
	*ret = out;
	return 0;
}

static int build_cwd(const struct img_config *ic, const struct img_overrides *ov, char **ret,
		     struct err *err)
{
	if (ov->workdir && *ov->workdir) {
		if (ov->workdir[0] != '/')
			return err_msg(err, EINVAL,
				       "working directory '%s' is not an absolute path",
				       ov->workdir);
		*ret = xstrdup(ov->workdir);
	} else if (ic->working_dir && *ic->working_dir) {
		/* old builders wrote relative WorkingDirs; Docker reads them from / */
		*ret = ic->working_dir[0] == '/' ? xstrdup(ic->working_dir)
						 : xasprintf("/%s", ic->working_dir);
	} else {
		*ret = xstrdup("/");
	}
	return 0;
}

static int build_user(const struct img_config *ic, const char *rootfs,
		      const struct img_overrides *ov, json_t *user, struct err *err)
{
	_cleanup_free_ unsigned *groups = NULL;
	unsigned uid, gid;
	size_t n = 0;
	json_t *add;

	CHECK(
	    img_resolve_user(rootfs, ov->user ? ov->user : ic->user, &uid, &gid, &groups, &n, err));
	json_object_set_new(user, "uid", json_integer(uid));
	json_object_set_new(user, "gid", json_integer(gid));
	json_object_del(user, "additionalGids");
	if (n == 0)
		return 0;
	add = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(add, json_integer(groups[i]));
	json_object_set_new(user, "additionalGids", add);
	return 0;
}

static char *join(char *const *v)
{
	char *s = xstrdup("");

	for (size_t i = 0; v && v[i]; i++) {
		char *n = xasprintf("%s%s%s", s, i ? "," : "", v[i]);
		free(s);
		s = n;
	}
	return s;
}

/* Labels are copied unless the config already has that annotation (the caller's win). */
static void set_annotations(const struct img_config *ic, json_t *oci)
{
	json_t *ann = json_object_get(oci, "annotations"), *v;
	const char *k;

	if (!json_is_object(ann)) {
		ann = json_object();
		json_object_set_new(oci, "annotations", ann);
	}
	json_object_foreach(ic->labels, k, v) if (!json_object_get(ann, k))
	    json_object_set(ann, k, v);
	if (ic->stop_signal && *ic->stop_signal)
		json_object_set_new(ann, "org.opencontainers.image.stopSignal",
				    json_string(ic->stop_signal));
	if (ic->exposed_ports && ic->exposed_ports[0]) {
		_cleanup_free_ char *s = join(ic->exposed_ports);
		json_object_set_new(ann, "coop.image.exposedPorts", json_string(s));
	}
	if (ic->volumes && ic->volumes[0]) {
		_cleanup_free_ char *s = join(ic->volumes);
		json_object_set_new(ann, "coop.image.volumes", json_string(s));
	}
}

int img_apply_config(const struct img_config *ic, const char *rootfs,
		     const struct img_overrides *ov, json_t *oci, struct err *err)
{
	static const struct img_overrides none = {0};
	_cleanup_json_ json_t *args = NULL, *env = NULL, *jcwd = NULL;
	_cleanup_free_ char *cwd = NULL;
	json_t *proc, *user;

	if (!ov)
		ov = &none;
	if (!json_is_object(oci))
		return err_msg(err, EINVAL, "runtime config: expected an object");
	proc = json_object_get(oci, "process");
	if (!json_is_object(proc)) {
		proc = json_object();
		json_object_set_new(oci, "process", proc);
	}
	user = json_object_get(proc, "user");
	if (!json_is_object(user)) {
		user = json_object();
		json_object_set_new(proc, "user", user);
	}
	CHECK(build_args(ic, ov, &args, err));
	CHECK(build_env(ic, ov, json_is_true(json_object_get(proc, "terminal")), &env, err));
	CHECK(build_cwd(ic, ov, &cwd, err));
	jcwd = json_string(cwd);
	if (!jcwd)
		return err_msg(err, EINVAL, "working directory '%.100s' is not valid UTF-8", cwd);
	CHECK(build_user(ic, rootfs, ov, user, err));
	json_object_set(proc, "args", args);
	json_object_set(proc, "env", env);
	json_object_set_new(proc, "cwd", take_ptr(jcwd));
	set_annotations(ic, oci);
	return 0;
}
