/* cgroup: a container's control group on v1, v2 and hybrid hosts. Discovers the
 * hierarchies once per process (statfs of the root, then /proc/self/mountinfo on
 * v1/hybrid), creates the container's directory in each, writes only the limits that
 * were asked for, and removes exactly what it created. */
#include "runtime/cgroup.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/util.h"
#include "runtime/cgroup_bpf.h"
#include "runtime/cgroup_res.h"

enum ctrl {
	CT_CPU,
	CT_CPUACCT,
	CT_CPUSET,
	CT_MEMORY,
	CT_DEVICES,
	CT_FREEZER,
	CT_BLKIO,
	CT_PIDS,
	CT_HUGETLB,
	CT_NET_CLS,
	CT_NET_PRIO,
	CT_PERF_EVENT,
	CT_RDMA,
	CT_MISC,
	CT__MAX
};
#define CT(c) (1u << (c))

/* v1 name, v2 name (NULL when v2 has no such controller). */
static const struct {
	const char *v1, *v2;
} ctrl_names[CT__MAX] = {
    [CT_CPU] = {"cpu", "cpu"},
    [CT_CPUACCT] = {"cpuacct", NULL},
    [CT_CPUSET] = {"cpuset", "cpuset"},
    [CT_MEMORY] = {"memory", "memory"},
    [CT_DEVICES] = {"devices", NULL},
    [CT_FREEZER] = {"freezer", NULL},
    [CT_BLKIO] = {"blkio", "io"},
    [CT_PIDS] = {"pids", "pids"},
    [CT_HUGETLB] = {"hugetlb", "hugetlb"},
    [CT_NET_CLS] = {"net_cls", NULL},
    [CT_NET_PRIO] = {"net_prio", NULL},
    [CT_PERF_EVENT] = {"perf_event", "perf_event"},
    [CT_RDMA] = {"rdma", "rdma"},
    [CT_MISC] = {"misc", "misc"},
};

/* One hierarchy: a v1 mount under the root, or the v2 tree (the root itself on v2,
 * <root>/unified on hybrid). */
struct hier {
	char *name;	/* directory under the root; "" for the v2 root */
	char *opts;	/* v1 mount options: "cpu,cpuacct", "name=systemd" */
	unsigned ctrls; /* CT() bits; for v2 the available controllers */
	bool v2;
	char *mnt;     /* absolute mount point */
	char *dir;     /* the container's directory in it */
	int created;   /* trailing components of the path this container created */
	bool attached; /* the pid was moved here by create */
};

struct rt_cgroup {
	enum rt_cgroup_mode mode;
	char *path;  /* "/coop/<id>" */
	char *state; /* what rt_cgroup_path returns */
	int created; /* max of the hierarchies' `created` */
	struct hier *h;
	size_t nh;
};

/* Discovery, cached for the process: the CLI runs one command per process, the
 * daemon many, and mounts do not change under a running host. */
static char cg_root[PATH_MAX] = "/sys/fs/cgroup";
static struct {
	bool done;
	enum rt_cgroup_mode mode;
	struct hier *h; /* templates: name, opts, ctrls, v2, mnt */
	size_t nh;
} disc;

static void hier_clear(struct hier *h)
{
	free(h->name);
	free(h->opts);
	free(h->mnt);
	free(h->dir);
}

static pid_t prime_owner; /* whose the prime's target is (0: not found yet) */

static void disc_reset(void)
{
	prime_owner = 0; /* the prime's target is found again (rt_cgroup_prime) */
	for (size_t i = 0; i < disc.nh; i++)
		hier_clear(&disc.h[i]);
	free(disc.h);
	memset(&disc, 0, sizeof(disc));
}

void rt_cgroup_set_root(const char *root)
{
	snprintf(cg_root, sizeof(cg_root), "%s", root ? root : "/sys/fs/cgroup");
	disc_reset();
}

static struct hier *disc_add(void)
{
	disc.h = xrealloc(disc.h, (disc.nh + 1) * sizeof(*disc.h));
	memset(&disc.h[disc.nh], 0, sizeof(*disc.h));
	return &disc.h[disc.nh++];
}

static int v2_controllers(const char *mnt, unsigned *ret, struct err *err)
{
	_cleanup_free_ char *file = xasprintf("%s/cgroup.controllers", mnt);
	_cleanup_free_ char *s = NULL;
	char *save = NULL;
	int r = fs_read(file, &s, err);

	*ret = 0;
	if (r < 0)
		return r;
	for (char *t = strtok_r(s, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
		for (int c = 0; c < CT__MAX; c++)
			if (ctrl_names[c].v2 && streq(t, ctrl_names[c].v2))
				*ret |= CT(c);
	return 0;
}

/* Super options "rw,cpu,cpuacct" → controllers and the -o string to mount it again. */
static void parse_v1_opts(const char *super, struct hier *h)
{
	_cleanup_free_ char *s = xstrdup(super);
	char *save = NULL, *opts = NULL;

	for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		bool keep = strncmp(t, "name=", 5) == 0;
		for (int c = 0; c < CT__MAX && !keep; c++)
			if (streq(t, ctrl_names[c].v1)) {
				h->ctrls |= CT(c);
				keep = true;
			}
		if (!keep)
			continue;
		char *n = opts ? xasprintf("%s,%s", opts, t) : xstrdup(t);
		free(opts);
		opts = n;
	}
	h->opts = opts ? opts : xstrdup("none");
}

/* A mountinfo line: "id parent maj:min root mountpoint opts [tags] - fstype src super". */
static void parse_mount_line(char *line, size_t root_len, bool *ret_unified)
{
	char *f[5], *save = NULL, *dash, *fstype, *super;
	int i = 0;

	dash = strstr(line, " - ");
	if (!dash)
		return;
	*dash = '\0';
	for (char *t = strtok_r(line, " ", &save); t && i < 5; t = strtok_r(NULL, " ", &save))
		f[i++] = t;
	if (i < 5 || strncmp(f[4], cg_root, root_len) != 0 || f[4][root_len] != '/' ||
	    strchr(f[4] + root_len + 1, '/'))
		return;
	save = NULL;
	fstype = strtok_r(dash + 3, " ", &save);
	(void)strtok_r(NULL, " ", &save);
	super = strtok_r(NULL, " \n", &save);
	if (!fstype || !super)
		return;
	if (streq(fstype, "cgroup2") && streq(f[4] + root_len + 1, "unified")) {
		*ret_unified = true;
	} else if (streq(fstype, "cgroup")) {
		/* one mount point listed twice (a hierarchy mounted over an older one, or a
		 * new sysfs over /sys with the cgroup mounts moved onto it): the later line
		 * is the one in sight, the earlier is covered and would be mounted twice */
		struct hier *h = NULL;
		for (size_t k = 0; k < disc.nh && !h; k++)
			if (disc.h[k].mnt && streq(disc.h[k].mnt, f[4]))
				h = &disc.h[k];
		if (h) {
			hier_clear(h);
			memset(h, 0, sizeof(*h));
		} else {
			h = disc_add();
		}
		h->name = xstrdup(f[4] + root_len + 1);
		h->mnt = xstrdup(f[4]);
		parse_v1_opts(super, h);
	}
}

static int discover_v1(struct err *err)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, root_len = strlen(cg_root);
	bool unified = false;

	if (!f)
		return err_sys(err, errno, "open '/proc/self/mountinfo'");
	while (getline(&line, &cap, f) > 0)
		parse_mount_line(line, root_len, &unified);
	if (disc.nh == 0)
		return err_msg(err, ENOENT, "no cgroup hierarchy mounted under '%s'", cg_root);
	disc.mode = RT_CGROUP_V1;
	if (unified) {
		struct hier *h = disc_add();
		h->name = xstrdup("unified");
		h->mnt = xasprintf("%s/unified", cg_root);
		h->v2 = true;
		disc.mode = RT_CGROUP_HYBRID;
		return v2_controllers(h->mnt, &h->ctrls, err);
	}
	return 0;
}

static int discover(struct err *err)
{
	struct statfs sfs;
	int r;

	if (disc.done)
		return 0;
	if (statfs(cg_root, &sfs) < 0)
		return err_sys(err, errno, "statfs '%s'", cg_root);
	if (sfs.f_type == CGROUP2_SUPER_MAGIC) {
		struct hier *h = disc_add();
		h->name = xstrdup("");
		h->mnt = xstrdup(cg_root);
		h->v2 = true;
		disc.mode = RT_CGROUP_V2;
		r = v2_controllers(h->mnt, &h->ctrls, err);
	} else if (sfs.f_type == TMPFS_MAGIC) {
		r = discover_v1(err);
	} else {
		r = err_msg(err, EINVAL,
			    "'%s' is neither a cgroup2 mount nor a tmpfs of cgroup mounts",
			    cg_root);
	}
	if (r < 0) {
		disc_reset();
		return r;
	}
	disc.done = true;
	return 0;
}

int rt_cgroup_detect(enum rt_cgroup_mode *ret, struct err *err)
{
	int r = discover(err);
	if (r < 0)
		return r;
	*ret = disc.mode;
	return 0;
}

enum rt_cgroup_mode rt_cgroup_get_mode(const struct rt_cgroup *cg)
{
	return cg->mode;
}

/* --- cgroupsPath ------------------------------------------------------------ */

/* systemd's "a-b.slice" lives at "a.slice/a-b.slice"; "-.slice" is the root. */
static int expand_slice(const char *slice, char **ret, struct err *err)
{
	size_t n = strlen(slice);
	char *out = xstrdup("");

	if (streq(slice, "-.slice") || !*slice) {
		*ret = out;
		return 0;
	}
	if (n <= 6 || !streq(slice + n - 6, ".slice") || strchr(slice, '/') || slice[0] == '-') {
		free(out);
		return err_msg(err, EINVAL, "cgroupsPath: invalid slice '%s'", slice);
	}
	for (size_t i = 0; i < n - 6; i++) {
		if (slice[i] != '-')
			continue;
		char *p = xasprintf("%s/%.*s.slice", out, (int)i, slice);
		free(out);
		out = p;
	}
	char *p = xasprintf("%s/%s", out, slice);
	free(out);
	*ret = p;
	return 0;
}

static int systemd_path(const char *in, char **ret, struct err *err)
{
	_cleanup_free_ char *s = xstrdup(in), *slice = NULL;
	char *prefix = strchr(s, ':'), *name;
	int r;

	*prefix++ = '\0';
	name = strchr(prefix, ':');
	*name++ = '\0';
	if (!*name || strchr(name, '/') || strchr(prefix, '/'))
		return err_msg(err, EINVAL, "cgroupsPath: invalid '%s' (slice:prefix:name)", in);
	if ((r = expand_slice(*s ? s : "system.slice", &slice, err)) < 0)
		return r;
	if (*prefix)
		*ret = xasprintf("%s/%s-%s.scope", slice, prefix, name);
	else
		*ret = xasprintf("%s/%s.scope", slice, name);
	return 0;
}

/* Canonical "/a/b": no empty, "." or ".." components, never the root itself. */
int rt_cgroup_resolve_path(const char *in, const char *id, char **ret, struct err *err)
{
	_cleanup_free_ char *s = NULL, *out = xstrdup("");
	char *save = NULL;
	int r;

	if (!in || !*in) {
		if (!id || !*id || strchr(id, '/') || streq(id, ".") || streq(id, ".."))
			return err_msg(err, EINVAL, "cgroup: invalid container id '%s'",
				       id ? id : "");
		in = s = xasprintf("/coop/%s", id);
	} else if (in[0] != '/' && strchr(in, ':') && strchr(strchr(in, ':') + 1, ':')) {
		if ((r = systemd_path(in, &s, err)) < 0)
			return r;
		in = s;
	}
	_cleanup_free_ char *copy = xstrdup(in);
	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (streq(t, "."))
			continue;
		if (streq(t, ".."))
			return err_msg(err, EINVAL, "cgroupsPath: '%s' must not contain '..'", in);
		char *n = xasprintf("%s/%s", out, t);
		free(out);
		out = n;
	}
	if (!*out)
		return err_msg(err, EINVAL, "cgroupsPath: '%s' names the root cgroup", in);
	*ret = take_ptr(out);
	return 0;
}

/* --- the container's cgroup object ----------------------------------------- */

void rt_cgroup_free(struct rt_cgroup *cg)
{
	if (!cg)
		return;
	for (size_t i = 0; i < cg->nh; i++)
		hier_clear(&cg->h[i]);
	free(cg->h);
	free(cg->path);
	free(cg->state);
	free(cg);
}

static void cg_freep(struct rt_cgroup **cg)
{
	rt_cgroup_free(*cg);
}

/* The recorded path is the cgroup path, with "#N" when this container created N != 1
 * trailing components (N = 2 for "/coop/<id>" when it also made "/coop"). */
static void cg_set_state(struct rt_cgroup *cg)
{
	free(cg->state);
	if (cg->created == 1 && !strchr(cg->path, '#'))
		cg->state = xstrdup(cg->path);
	else
		cg->state = xasprintf("%s#%d", cg->path, cg->created);
}

static struct rt_cgroup *cg_new(const char *path)
{
	struct rt_cgroup *cg = xcalloc(1, sizeof(*cg));

	cg->mode = disc.mode;
	cg->path = xstrdup(path);
	cg->h = xcalloc(disc.nh, sizeof(*cg->h));
	cg->nh = disc.nh;
	for (size_t i = 0; i < disc.nh; i++) {
		struct hier *h = &cg->h[i], *t = &disc.h[i];
		h->name = xstrdup(t->name);
		h->opts = t->opts ? xstrdup(t->opts) : NULL;
		h->mnt = xstrdup(t->mnt);
		h->ctrls = t->ctrls;
		h->v2 = t->v2;
		h->dir = xasprintf("%s%s", t->mnt, path);
	}
	return cg;
}

const char *rt_cgroup_path(const struct rt_cgroup *cg)
{
	return cg->state;
}

int rt_cgroup_open(const char *path, struct rt_cgroup **ret, struct err *err)
{
	_cleanup_free_ char *p = xstrdup(path), *norm = NULL;
	char *hash = strrchr(p, '#');
	int created = 1, r;

	if (hash && hash[1] && strspn(hash + 1, "0123456789") == strlen(hash + 1)) {
		created = atoi(hash + 1);
		*hash = '\0';
	}
	if ((r = discover(err)) < 0)
		return r;
	if (p[0] != '/')
		return err_msg(err, EINVAL, "cgroup: invalid recorded path '%s'", path);
	if ((r = rt_cgroup_resolve_path(p, NULL, &norm, err)) < 0)
		return r;
	struct rt_cgroup *cg = cg_new(norm);
	cg->created = created;
	for (size_t i = 0; i < cg->nh; i++)
		cg->h[i].created = created;
	cg_set_state(cg);
	*ret = cg;
	return 0;
}

/* The hierarchy holding controller c: a v1 mount, else the v2 tree when it has it. */
static struct hier *hier_for(const struct rt_cgroup *cg, enum ctrl c)
{
	struct hier *v2 = NULL;

	for (size_t i = 0; i < cg->nh; i++) {
		if (!cg->h[i].v2 && (cg->h[i].ctrls & CT(c)))
			return &cg->h[i];
		if (cg->h[i].v2)
			v2 = &cg->h[i];
	}
	return v2 && (v2->ctrls & CT(c)) ? v2 : NULL;
}

static struct hier *hier_v2(const struct rt_cgroup *cg)
{
	for (size_t i = 0; i < cg->nh; i++)
		if (cg->h[i].v2)
			return &cg->h[i];
	return NULL;
}

/* Where the processes are listed: the v2 tree when there is one, else a v1 hierarchy
 * every process joins. */
static struct hier *hier_procs(const struct rt_cgroup *cg)
{
	static const enum ctrl pref[] = {CT_PIDS, CT_MEMORY, CT_FREEZER, CT_CPU};
	struct hier *h = hier_v2(cg);

	for (size_t i = 0; !h && i < ARRAY_SIZE(pref); i++)
		h = hier_for(cg, pref[i]);
	return h ? h : &cg->h[0];
}

static int cg_write(const char *dir, const char *file, const char *val, struct err *err)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
	return fs_write(p, val, err);
}

static int cg_read(const char *dir, const char *file, char **ret, struct err *err)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
	return fs_read(p, ret, err);
}

static bool cg_has(const char *dir, const char *file)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
	return access(p, F_OK) == 0;
}

/* "key N" from a flat-keyed file (memory.events, cgroup.events, memory.oom_control). */
static int keyed_value(const char *text, const char *key, uint64_t *ret)
{
	size_t n = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, n) == 0 && l[n] == ' ') {
			*ret = strtoull(l + n + 1, NULL, 10);
			return 0;
		}
	}
	return -ENOENT;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* --- directories -------------------------------------------------------------- */

/* mkdir -p that counts what it made; tries the leaf first since the parents
 * ("/coop") usually exist. */
static int mkdir_counted(char *p, size_t base_len, int *created)
{
	char *slash;
	int r;

	if (mkdir(p, 0755) == 0) {
		(*created)++;
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	slash = strrchr(p, '/');
	if (!slash || (size_t)(slash - p) <= base_len)
		return -ENOENT;
	*slash = '\0';
	r = mkdir_counted(p, base_len, created);
	*slash = '/';
	if (r < 0)
		return r;
	if (mkdir(p, 0755) == 0) {
		(*created)++;
		return 0;
	}
	return errno == EEXIST ? 0 : -errno;
}

static int hier_mkdir(struct hier *h, struct err *err)
{
	_cleanup_free_ char *p = xstrdup(h->dir);
	int r = mkdir_counted(p, strlen(h->mnt), &h->created);

	if (r < 0)
		return err_sys(err, -r, "create cgroup '%s'", h->dir);
	return 0;
}

/* Removes dir and any cgroups the container made below it, deepest first. */
static int rmdir_tree(const char *dir)
{
	/* most have no child cgroup: one rmdir, no directory walk (10 per container on v1) */
	if (rmdir(dir) == 0 || errno == ENOENT)
		return 0;
	if (errno != EBUSY && errno != ENOTEMPTY)
		return -errno;
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		_cleanup_free_ char *sub = xasprintf("%s/%s", dir, de->d_name);
		int q = rmdir_tree(sub);
		if (q < 0 && r == 0)
			r = q;
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		return -errno;
	return r;
}

/* The intermediate directories this container made ("/coop"), once each: another
 * container may still use them (EBUSY), which is fine. */
static void rmdir_parents(const struct hier *h)
{
	_cleanup_free_ char *p = xstrdup(h->dir);
	size_t base = strlen(h->mnt);

	for (int i = 1; i < h->created; i++) {
		char *slash = strrchr(p, '/');
		if (!slash || (size_t)(slash - p) <= base)
			return;
		*slash = '\0';
		if (rmdir(p) < 0)
			return;
	}
}

/* --- limits ------------------------------------------------------------------- */

/* Writes one value for one field; failures name the field ("x.memory.limit: ..."). */
static int set_field(const struct rt_resources *res, const char *field, const char *dir,
		     const char *file, const char *val, struct err *err)
{
	int r = cg_write(dir, file, val, err);
	if (r < 0)
		err_wrap(err, "%s.%s", res->path, field);
	return r;
}

static int set_i64(const struct rt_resources *res, const char *field, const char *dir,
		   const char *file, int64_t v, bool v2_max, struct err *err)
{
	char buf[32];

	if (v2_max && v < 0)
		snprintf(buf, sizeof(buf), "max");
	else
		snprintf(buf, sizeof(buf), "%" PRId64, v);
	return set_field(res, field, dir, file, buf, err);
}

static struct hier *need(const struct rt_cgroup *cg, const struct rt_resources *res, enum ctrl c,
			 const char *field, struct err *err)
{
	struct hier *h = hier_for(cg, c);
	if (!h)
		err_msg(err, ENOTSUP, "%s.%s: no '%s' cgroup controller on this host", res->path,
			field, ctrl_names[c].v1);
	return h;
}

static int memory_v1(const struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	bool lim = rt_res_has(res, RES_MEM_LIMIT), swap = rt_res_has(res, RES_MEM_SWAP);
	struct hier *h = need(cg, res, CT_MEMORY, "memory", err);
	int r = 0;

	if (!h)
		return -ENOTSUP;
	if (swap && !cg_has(h->dir, "memory.memsw.limit_in_bytes"))
		return err_msg(err, ENOTSUP,
			       "%s.memory.swap: swap accounting is not enabled "
			       "(no memory.memsw.limit_in_bytes)",
			       res->path);
	/* memory <= memory+swap at every step: raise memsw first when the limit would
	 * pass the current one */
	if (lim)
		r = set_i64(res, "memory.limit", h->dir, "memory.limit_in_bytes", res->mem_limit,
			    false, err);
	if (swap && (r == 0 || r == -EINVAL)) {
		int q = set_i64(res, "memory.swap", h->dir, "memory.memsw.limit_in_bytes",
				res->mem_swap, false, err);
		if (q < 0)
			return q;
		if (r < 0)
			r = set_i64(res, "memory.limit", h->dir, "memory.limit_in_bytes",
				    res->mem_limit, false, err);
	}
	if (r == 0 && rt_res_has(res, RES_MEM_RESERVATION))
		r = set_i64(res, "memory.reservation", h->dir, "memory.soft_limit_in_bytes",
			    res->mem_reservation, false, err);
	if (r == 0 && rt_res_has(res, RES_MEM_SWAPPINESS))
		r = set_i64(res, "memory.swappiness", h->dir, "memory.swappiness",
			    (int64_t)res->mem_swappiness, false, err);
	if (r == 0 && rt_res_has(res, RES_MEM_NO_OOM))
		r = set_field(res, "memory.disableOOMKiller", h->dir, "memory.oom_control",
			      res->mem_disable_oom ? "1" : "0", err);
	return r;
}

static int memory_v2(const struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	struct hier *h = need(cg, res, CT_MEMORY, "memory", err);
	int64_t swap;
	bool swap_set;
	int r = 0;

	if (!h)
		return -ENOTSUP;
	if (rt_res_has(res, RES_MEM_SWAP)) {
		int64_t lim = rt_res_has(res, RES_MEM_LIMIT) ? res->mem_limit : 0;
		if ((r = rt_swap_to_v2(lim, res->mem_swap, &swap, &swap_set, err)) < 0)
			return err_wrap(err, "%s.memory.swap", res->path);
		if (swap_set && !cg_has(h->dir, "memory.swap.max"))
			return err_msg(err, ENOTSUP,
				       "%s.memory.swap: swap accounting is not enabled "
				       "(no memory.swap.max)",
				       res->path);
	}
	if (rt_res_has(res, RES_MEM_LIMIT))
		r = set_i64(res, "memory.limit", h->dir, "memory.max", res->mem_limit, true, err);
	if (r == 0 && rt_res_has(res, RES_MEM_SWAP) && swap_set)
		r = set_i64(res, "memory.swap", h->dir, "memory.swap.max", swap, true, err);
	if (r == 0 && rt_res_has(res, RES_MEM_RESERVATION))
		r = set_i64(res, "memory.reservation", h->dir, "memory.low", res->mem_reservation,
			    true, err);
	/* swappiness and disableOOMKiller have no v2 equivalent; the kernel's knobs are
	 * ignored as the spec allows */
	return r;
}

static int cpu_v1(const struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	struct hier *h = need(cg, res, CT_CPU, "cpu", err);
	int r = 0;

	if (!h)
		return -ENOTSUP;
	if (rt_res_has(res, RES_CPU_SHARES))
		r = set_i64(res, "cpu.shares", h->dir, "cpu.shares", (int64_t)res->cpu_shares,
			    false, err);
	if (r == 0 && rt_res_has(res, RES_CPU_PERIOD))
		r = set_i64(res, "cpu.period", h->dir, "cpu.cfs_period_us",
			    (int64_t)res->cpu_period, false, err);
	if (r == 0 && rt_res_has(res, RES_CPU_QUOTA))
		r = set_i64(res, "cpu.quota", h->dir, "cpu.cfs_quota_us",
			    res->cpu_quota > 0 ? res->cpu_quota : -1, false, err);
	if (r == 0 && rt_res_has(res, RES_CPU_RT_PERIOD))
		r = set_i64(res, "cpu.realtimePeriod", h->dir, "cpu.rt_period_us",
			    (int64_t)res->cpu_rt_period, false, err);
	if (r == 0 && rt_res_has(res, RES_CPU_RT_RUNTIME))
		r = set_i64(res, "cpu.realtimeRuntime", h->dir, "cpu.rt_runtime_us",
			    res->cpu_rt_runtime, false, err);
	if (r == 0 && rt_res_has(res, RES_CPU_IDLE))
		r = set_i64(res, "cpu.idle", h->dir, "cpu.idle", res->cpu_idle, false, err);
	return r;
}

static int cpu_v2(const struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	struct hier *h = need(cg, res, CT_CPU, "cpu", err);
	char buf[64];
	int r = 0;

	if (!h)
		return -ENOTSUP;
	if (rt_res_has(res, RES_CPU_RT_RUNTIME) || rt_res_has(res, RES_CPU_RT_PERIOD))
		return err_msg(err, ENOTSUP, "%s.cpu.realtimeRuntime: not supported on cgroup v2",
			       res->path);
	if (rt_res_has(res, RES_CPU_SHARES) && res->cpu_shares)
		r = set_i64(res, "cpu.shares", h->dir, "cpu.weight",
			    (int64_t)rt_cpu_shares_to_weight(res->cpu_shares), false, err);
	if (r == 0 && (rt_res_has(res, RES_CPU_QUOTA) || rt_res_has(res, RES_CPU_PERIOD))) {
		int n = rt_res_has(res, RES_CPU_QUOTA) && res->cpu_quota > 0
			    ? snprintf(buf, sizeof(buf), "%" PRId64, res->cpu_quota)
			    : snprintf(buf, sizeof(buf), "max");
		if (rt_res_has(res, RES_CPU_PERIOD) && res->cpu_period)
			snprintf(buf + n, sizeof(buf) - n, " %" PRIu64, res->cpu_period);
		r = set_field(res, "cpu.quota", h->dir, "cpu.max", buf, err);
	}
	if (r == 0 && rt_res_has(res, RES_CPU_IDLE))
		r = set_i64(res, "cpu.idle", h->dir, "cpu.idle", res->cpu_idle, false, err);
	return r;
}

/* A new v1 cpuset cgroup starts with no cpus and no mems (clone_children=0) and
 * refuses tasks; fill each empty level from its parent, top down. The `known_empty`
 * levels from dir up are ones this container just made, so they are not read. */
static int cpuset_fill(const char *dir, const char *mnt, int known_empty, struct err *err)
{
	static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
	_cleanup_free_ char *cpus = NULL, *mems = NULL;
	char **cur[2] = {&cpus, &mems};
	_cleanup_free_ char *parent = xstrdup(dir);
	char *slash = strrchr(parent, '/');
	bool empty[2] = {true, true};
	int r;

	if (strlen(dir) <= strlen(mnt) || !slash)
		return 0;
	*slash = '\0';
	for (size_t i = 0; known_empty <= 0 && i < 2; i++) {
		if ((r = cg_read(dir, files[i], cur[i], err)) < 0)
			return r;
		empty[i] = !(*cur[i])[strspn(*cur[i], " \n")];
	}
	if (!empty[0] && !empty[1])
		return 0;
	if ((r = cpuset_fill(parent, mnt, known_empty - 1, err)) < 0)
		return r;
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *val = NULL;
		if (!empty[i])
			continue;
		if ((r = cg_read(parent, files[i], &val, err)) < 0 ||
		    (r = cg_write(dir, files[i], val, err)) < 0)
			return r;
	}
	return 0;
}

static int cpuset_apply(const struct rt_cgroup *cg, const struct rt_resources *res, bool fresh,
			struct err *err)
{
	bool cpus = rt_res_has(res, RES_CPU_CPUS), mems = rt_res_has(res, RES_CPU_MEMS);
	struct hier *h = hier_for(cg, CT_CPUSET);
	int r = 0;

	if (!h && (cpus || mems))
		return err_msg(err, ENOTSUP,
			       "%s.cpu.cpus: no 'cpuset' cgroup controller on this host",
			       res->path);
	if (!h)
		return 0;
	if (fresh && !h->v2 && (r = cpuset_fill(h->dir, h->mnt, h->created, err)) < 0)
		return err_wrap(err, "copy cpuset from the parent cgroup");
	if (cpus && *res->cpu_cpus)
		r = set_field(res, "cpu.cpus", h->dir, "cpuset.cpus", res->cpu_cpus, err);
	if (r == 0 && mems && *res->cpu_mems)
		r = set_field(res, "cpu.mems", h->dir, "cpuset.mems", res->cpu_mems, err);
	return r;
}

static int pids_apply(const struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	struct hier *h = need(cg, res, CT_PIDS, "pids", err);
	if (!h)
		return -ENOTSUP;
	return set_i64(res, "pids.limit", h->dir, "pids.max",
		       res->pids_limit > 0 ? res->pids_limit : -1, true, err);
}

static int hugetlb_apply(const struct rt_cgroup *cg, const struct rt_resources *res,
			 struct err *err)
{
	struct hier *h = need(cg, res, CT_HUGETLB, "hugepageLimits", err);
	int r = 0;

	if (!h)
		return -ENOTSUP;
	for (size_t i = 0; i < res->n_huge && r == 0; i++) {
		_cleanup_free_ char *file =
		    xasprintf("hugetlb.%s.%s", res->huge[i].size, h->v2 ? "max" : "limit_in_bytes");
		_cleanup_free_ char *field = xasprintf("hugepageLimits[%zu]", i);
		if (!cg_has(h->dir, file))
			return err_msg(err, ENOTSUP,
				       "%s.%s.pageSize: no %s huge pages on this host", res->path,
				       field, res->huge[i].size);
		r = set_i64(res, field, h->dir, file, (int64_t)res->huge[i].limit, false, err);
	}
	return r;
}

static int devlist_write(const struct rt_resources *res, const char *field, const char *dir,
			 const char *file, const char *fmt_key, int64_t maj, int64_t min,
			 uint64_t v, struct err *err)
{
	char buf[96];
	snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %s%" PRIu64, maj, min, fmt_key, v);
	return set_field(res, field, dir, file, buf, err);
}

static const char *const thr_v1[RT_THR__MAX] = {
    "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
    "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device"};
static const char *const thr_v2[RT_THR__MAX] = {"rbps=", "wbps=", "riops=", "wiops="};

static int blkio_v1(const struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	struct hier *h = need(cg, res, CT_BLKIO, "blockIO", err);
	int r = 0;

	if (!h)
		return -ENOTSUP;
	if (rt_res_has(res, RES_BLKIO_WEIGHT) && res->blkio_weight) {
		if (!cg_has(h->dir, "blkio.weight"))
			return err_msg(err, ENOTSUP,
				       "%s.blockIO.weight: not supported by this kernel "
				       "(no blkio.weight)",
				       res->path);
		r = set_i64(res, "blockIO.weight", h->dir, "blkio.weight",
			    (int64_t)res->blkio_weight, false, err);
	}
	if (r == 0 && rt_res_has(res, RES_BLKIO_LEAF_WEIGHT) && res->blkio_leaf_weight) {
		if (!cg_has(h->dir, "blkio.leaf_weight"))
			return err_msg(err, ENOTSUP,
				       "%s.blockIO.leafWeight: not supported by this "
				       "kernel (no blkio.leaf_weight)",
				       res->path);
		r = set_i64(res, "blockIO.leafWeight", h->dir, "blkio.leaf_weight",
			    (int64_t)res->blkio_leaf_weight, false, err);
	}
	for (size_t i = 0; r == 0 && i < res->n_weight_dev; i++) {
		const struct rt_blkio_dev *d = &res->weight_dev[i];
		if (!cg_has(h->dir, "blkio.weight_device"))
			return err_msg(err, ENOTSUP,
				       "%s.blockIO.weightDevice: not supported by this "
				       "kernel (no blkio.weight_device)",
				       res->path);
		if (d->has_weight)
			r = devlist_write(res, "blockIO.weightDevice", h->dir,
					  "blkio.weight_device", "", d->major, d->minor, d->weight,
					  err);
		if (r == 0 && d->has_leaf_weight)
			r = devlist_write(res, "blockIO.weightDevice", h->dir,
					  "blkio.leaf_weight_device", "", d->major, d->minor,
					  d->leaf_weight, err);
	}
	for (int t = 0; t < RT_THR__MAX; t++)
		for (size_t i = 0; r == 0 && i < res->n_throttle[t]; i++)
			r = devlist_write(res, "blockIO.throttle", h->dir, thr_v1[t], "",
					  res->throttle[t][i].major, res->throttle[t][i].minor,
					  res->throttle[t][i].rate, err);
	return r;
}

static int io_v2(const struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	struct hier *h = need(cg, res, CT_BLKIO, "blockIO", err);
	bool bfq;
	int r = 0;

	if (!h)
		return -ENOTSUP;
	bfq = cg_has(h->dir, "io.bfq.weight");
	if (rt_res_has(res, RES_BLKIO_WEIGHT) && res->blkio_weight)
		r = set_i64(res, "blockIO.weight", h->dir, bfq ? "io.bfq.weight" : "io.weight",
			    (int64_t)(bfq ? res->blkio_weight
					  : rt_blkio_weight_to_io_weight(res->blkio_weight)),
			    false, err);
	for (size_t i = 0; r == 0 && i < res->n_weight_dev; i++) {
		const struct rt_blkio_dev *d = &res->weight_dev[i];
		if (d->has_weight)
			r = devlist_write(
			    res, "blockIO.weightDevice", h->dir,
			    bfq ? "io.bfq.weight" : "io.weight", "", d->major, d->minor,
			    bfq ? d->weight : rt_blkio_weight_to_io_weight(d->weight), err);
	}
	for (int t = 0; t < RT_THR__MAX; t++)
		for (size_t i = 0; r == 0 && i < res->n_throttle[t]; i++)
			r = devlist_write(res, "blockIO.throttle", h->dir, "io.max", thr_v2[t],
					  res->throttle[t][i].major, res->throttle[t][i].minor,
					  res->throttle[t][i].rate, err);
	return r;
}

static int unified_apply(const struct rt_cgroup *cg, const struct rt_resources *res,
			 struct err *err)
{
	struct hier *h = hier_v2(cg);
	int r = 0;

	if (!h)
		return err_msg(err, ENOTSUP, "%s.unified: needs cgroup v2 (this host is v1)",
			       res->path);
	for (size_t i = 0; i < res->n_unified && r == 0; i++) {
		_cleanup_free_ char *field = xasprintf("unified.%s", res->unified[i].key);
		r = set_field(res, field, h->dir, res->unified[i].key, res->unified[i].value, err);
	}
	return r;
}

/* --- devices ------------------------------------------------------------------- */

static void dev_state_clearp(struct rt_dev_state *st)
{
	rt_dev_state_clear(st);
}

static int devices_v1(const struct hier *h, const struct rt_dev_state *st, struct err *err)
{
	_cleanup_free_ char *allow = xasprintf("%s/devices.allow", h->dir);
	_cleanup_free_ char *deny = xasprintf("%s/devices.deny", h->dir);
	_cleanup_close_ int fa = open(allow, O_WRONLY | O_CLOEXEC);
	_cleanup_close_ int fd = open(deny, O_WRONLY | O_CLOEXEC);
	int reset = st->allow_default ? fa : fd, ex = st->allow_default ? fd : fa;
	char buf[64];

	if (fa < 0 || fd < 0)
		return err_sys(err, errno, "open '%s'", fa < 0 ? allow : deny);
	if (write(reset, "a", 1) < 0)
		return err_sys(err, errno, "write 'a' to '%s'", st->allow_default ? allow : deny);
	for (size_t i = 0; i < st->n; i++) {
		rt_dev_format(&st->ex[i], buf, sizeof(buf));
		if (write(ex, buf, strlen(buf)) < 0)
			return err_sys(err, errno, "write '%s' to '%s'", buf,
				       st->allow_default ? deny : allow);
	}
	return 0;
}

static int devices_v2(const struct hier *h, const struct rt_dev_state *st, bool replace,
		      struct err *err)
{
	_cleanup_free_ struct bpf_insn *prog = NULL;
	_cleanup_close_ int pfd = -1, dfd = -1;
	size_t n;
	int r;

	rt_devbpf_build(st, &prog, &n);
	if ((r = rt_devbpf_load(prog, n, &pfd, err)) < 0)
		return r;
	dfd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_sys(err, errno, "open '%s'", h->dir);
	return rt_devbpf_attach(dfd, pfd, replace, err);
}

static int devices_apply(const struct rt_cgroup *cg, const struct rt_resources *res, bool fresh,
			 struct err *err)
{
	_cleanup_(dev_state_clearp) struct rt_dev_state st = {0};
	struct hier *h = hier_for(cg, CT_DEVICES);
	const char *path = res ? res->path : "linux.resources";
	int r;

	rt_dev_emulate(res ? res->devices : NULL, res ? res->n_devices : 0, true, &st);
	if (h)
		r = devices_v1(h, &st, err);
	else if (cg->mode == RT_CGROUP_V2)
		r = devices_v2(hier_v2(cg), &st, !fresh, err);
	else
		return 0; /* v1 without a devices controller: nothing to enforce with */
	return r < 0 ? err_wrap(err, "%s.devices", path) : 0;
}

static const enum rt_res_field mem_fields[] = {RES_MEM_LIMIT, RES_MEM_RESERVATION, RES_MEM_SWAP,
					       RES_MEM_SWAPPINESS, RES_MEM_NO_OOM};
static const enum rt_res_field cpu_fields[] = {RES_CPU_SHARES,	  RES_CPU_QUOTA,
					       RES_CPU_PERIOD,	  RES_CPU_RT_RUNTIME,
					       RES_CPU_RT_PERIOD, RES_CPU_IDLE};
static const enum rt_res_field io_fields[] = {RES_BLKIO_WEIGHT, RES_BLKIO_LEAF_WEIGHT,
					      RES_BLKIO_WEIGHT_DEVICE, RES_BLKIO_THROTTLE};

static bool any(const struct rt_resources *res, const enum rt_res_field *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rt_res_has(res, f[i]))
			return true;
	return false;
}
#define ANY(res, f) any(res, f, ARRAY_SIZE(f))

/* Writes what res sets, nothing else. v1 and hybrid use the v1 files (hybrid falls
 * back to the unified tree for controllers only it has, like hugetlb here). */
static int apply(const struct rt_cgroup *cg, const struct rt_resources *res, bool fresh,
		 struct err *err)
{
	bool v2 = cg->mode == RT_CGROUP_V2;
	int r;

	if (res && ANY(res, mem_fields) && (r = (v2 ? memory_v2 : memory_v1)(cg, res, err)) < 0)
		return r;
	if (res && ANY(res, cpu_fields) && (r = (v2 ? cpu_v2 : cpu_v1)(cg, res, err)) < 0)
		return r;
	if ((fresh || rt_res_has(res, RES_CPU_CPUS) || rt_res_has(res, RES_CPU_MEMS)) &&
	    (r = cpuset_apply(cg, res, fresh, err)) < 0)
		return r;
	if (rt_res_has(res, RES_PIDS_LIMIT) && (r = pids_apply(cg, res, err)) < 0)
		return r;
	if (res && ANY(res, io_fields) && (r = (v2 ? io_v2 : blkio_v1)(cg, res, err)) < 0)
		return r;
	if (rt_res_has(res, RES_HUGEPAGES) && res->n_huge && (r = hugetlb_apply(cg, res, err)) < 0)
		return r;
	if (rt_res_has(res, RES_UNIFIED) && res->n_unified && (r = unified_apply(cg, res, err)) < 0)
		return r;
	if ((fresh || rt_res_has(res, RES_DEVICES)) && (r = devices_apply(cg, res, fresh, err)) < 0)
		return r;
	return 0;
}

/* --- lifecycle ----------------------------------------------------------------- */

/* v2 limits need the controller enabled in every ancestor's subtree_control. On v2
 * that is every available controller (later updates and stats need them); on hybrid
 * only what is applied through the unified tree. */
static unsigned v2_wanted(const struct rt_cgroup *cg, const struct hier *h,
			  const struct rt_resources *res)
{
	if (cg->mode == RT_CGROUP_V2)
		return h->ctrls;
	if (rt_res_has(res, RES_UNIFIED))
		return h->ctrls;
	if (rt_res_has(res, RES_HUGEPAGES) && hier_for(cg, CT_HUGETLB) == h)
		return h->ctrls & CT(CT_HUGETLB);
	return 0;
}

static void enable_each(const char *dir, unsigned want)
{
	struct err e = {0};

	for (int c = 0; c < CT__MAX; c++) {
		if (!(want & CT(c)))
			continue;
		_cleanup_free_ char *one = xasprintf("+%s", ctrl_names[c].v2);
		if (cg_write(dir, "cgroup.subtree_control", one, &e) < 0)
			log_debug("cgroup: %s", e.msg);
	}
}

static int enable_v2(const struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	struct hier *h = hier_v2(cg);
	unsigned want = h ? v2_wanted(cg, h, res) : 0;
	char buf[256] = "";
	struct err e = {0};

	if (!want)
		return 0;
	for (int c = 0; c < CT__MAX; c++)
		if (want & CT(c))
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s+%s",
				 *buf ? " " : "", ctrl_names[c].v2);
	_cleanup_free_ char *p = xstrdup(h->dir);
	char *leaf = strrchr(p, '/');

	/* the root first, then each level down to the leaf's parent */
	for (char *s = p + strlen(h->mnt); s && s <= leaf; s = strchr(s + 1, '/')) {
		char c = *s;
		*s = '\0';
		if (cg_write(p, "cgroup.subtree_control", buf, &e) < 0)
			enable_each(p, want); /* one at a time: keep what the kernel allows */
		*s = c;
	}
	(void)err;
	return 0;
}

int rt_cgroup_update(struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	int r;

	if (!res)
		return 0;
	/* on hybrid, a controller only the unified tree has may be needed for the first time */
	if (cg->mode == RT_CGROUP_HYBRID && (r = enable_v2(cg, res, err)) < 0)
		return r;
	return apply(cg, res, false, err);
}

static int attach(struct rt_cgroup *cg, pid_t pid, bool track, struct err *err)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	for (size_t i = 0; i < cg->nh; i++) {
		int r = cg_write(cg->h[i].dir, "cgroup.procs", buf, err);
		if (r < 0)
			return err_wrap(err, "move process %d into cgroup", (int)pid);
		if (track)
			cg->h[i].attached = true;
	}
	return 0;
}

int rt_cgroup_enter(const struct rt_cgroup *cg, pid_t pid, struct err *err)
{
	return attach((struct rt_cgroup *)cg, pid, false, err);
}

/* Undoes a failed create: the pid goes back to each root, the directories go. */
static void unwind(struct rt_cgroup *cg, pid_t pid)
{
	char buf[24];
	struct err e = {0};

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	for (size_t i = cg->nh; i-- > 0;) {
		struct hier *h = &cg->h[i];
		if (h->attached)
			cg_write(h->mnt, "cgroup.procs", buf, &e);
		if (h->created > 0 && rmdir(h->dir) == 0)
			rmdir_parents(h);
	}
}

/* ---- priming the attach ----
 * Every move of a process between cgroups, v1 or v2, takes the kernel's global
 * cgroup_threadgroup_rwsem for writing, and the first writer after a quiet spell waits
 * for an RCU grace period (rcu_sync): 7-11 ms on these VMs, half of what a short
 * container takes in all. A writer that comes while another writer's grace period is
 * under way waits only for the rest of it, and one that comes within a grace period
 * after the last writer left does not wait at all. So whoever will attach a container
 * soon primes first: a thread moves this process into the cgroup it is already in (the
 * kernel takes the lock before it finds there is nothing to move, and calls no
 * controller), and the grace period passes while the caller mounts the rootfs and
 * writes the bundle. Best effort: errors are ignored, and nothing else is changed.
 *
 * The thread's start and end take libc locks (its stack cache's) that a raw clone()
 * made meanwhile would inherit held — a container's init hung on one — so the runtime
 * joins it first (rt_cgroup_prime_wait): that waits for the rest of the grace period,
 * which the attach right after would have waited for anyway. fork() is safe. One at a
 * time per process: a second prime while one waits would wait for the same grace
 * period. Called from one thread (the daemon's loop, the runtime's main). */
static atomic_bool prime_busy;
static bool prime_joinable;
static pthread_t prime_tid;
static char prime_file[PATH_MAX], prime_pid[24]; /* what the thread writes where */

static void *prime_thread(void *arg)
{
	int fd = open(prime_file, O_WRONLY | O_CLOEXEC);

	(void)arg;
	if (fd >= 0) {
		if (write(fd, prime_pid, strlen(prime_pid)) < 0) {
			/* best effort: nothing to undo */
		}
		close(fd);
	}
	atomic_store(&prime_busy, false);
	return NULL;
}

/* This process's cgroup in hierarchy h, from /proc/self/cgroup: "0::/p" for the v2
 * tree, "N:<its controllers>:/p" for a v1 one. */
static char *own_cgroup(const struct hier *h)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	while (f && getline(&line, &cap, f) > 0) {
		char *ctrls = strchr(line, ':'), *path = ctrls ? strchr(ctrls + 1, ':') : NULL;
		if (!path)
			continue;
		*ctrls++ = '\0';
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if (h->v2 ? streq(line, "0") && !*ctrls : streq(ctrls, h->opts ?: ""))
			return xstrdup(path);
	}
	return NULL;
}

void rt_cgroup_prime_wait(void)
{
	if (prime_joinable)
		pthread_join(prime_tid, NULL);
	prime_joinable = false;
}

/* Found once per process (and again after rt_cgroup_set_root): this process's
 * cgroup.procs in the v2 tree when there is one, else in the first v1 hierarchy. Only
 * called while no prime thread runs. */
static bool prime_target(void)
{
	struct err err = { 0 };
	struct hier *h = NULL;

	if (prime_owner == getpid())
		return prime_file[0] != '\0';
	prime_owner = getpid();
	prime_file[0] = '\0';
	if (discover(&err) < 0)
		return false;
	for (size_t i = 0; i < disc.nh && !h; i++)
		if (disc.h[i].v2)
			h = &disc.h[i];
	if (!h)
		h = &disc.h[0];
	_cleanup_free_ char *own = own_cgroup(h);
	if (!own || (size_t)snprintf(prime_file, sizeof(prime_file), "%s%s/cgroup.procs",
				     h->mnt, streq(own, "/") ? "" : own) >= sizeof(prime_file)) {
		prime_file[0] = '\0';
		return false;
	}
	snprintf(prime_pid, sizeof(prime_pid), "%d", (int)prime_owner);
	return true;
}

void rt_cgroup_prime(void)
{
	pthread_attr_t attr;

	if (atomic_exchange(&prime_busy, true))
		return;
	rt_cgroup_prime_wait(); /* the last one, done */
	if (!prime_target()) {
		atomic_store(&prime_busy, false);
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	if (pthread_create(&prime_tid, &attr, prime_thread, NULL) == 0)
		prime_joinable = true;
	else
		atomic_store(&prime_busy, false);
	pthread_attr_destroy(&attr);
}

int rt_cgroup_create(const char *cgroups_path, const char *id, const struct rt_resources *res,
		     pid_t pid, struct rt_cgroup **ret, struct err *err)
{
	_cleanup_(cg_freep) struct rt_cgroup *cg = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	if ((r = discover(err)) < 0 ||
	    (r = rt_cgroup_resolve_path(cgroups_path, id, &path, err)) < 0)
		return r;
	cg = cg_new(path);
	for (size_t i = 0; i < cg->nh; i++) {
		if ((r = hier_mkdir(&cg->h[i], err)) < 0)
			goto fail;
		if (cg->h[i].created > cg->created)
			cg->created = cg->h[i].created;
	}
	cg_set_state(cg);
	if ((r = enable_v2(cg, res, err)) < 0 || (r = apply(cg, res, true, err)) < 0)
		goto fail;
	if (pid > 0 && (r = attach(cg, pid, true, err)) < 0)
		goto fail;
	*ret = take_ptr(cg);
	return 0;
fail:
	unwind(cg, pid);
	return r;
}

/* The freezer: v1's freezer.state when mounted, else the v2 tree's cgroup.freeze. */
static int freezer(const struct rt_cgroup *cg, struct hier **ret, struct err *err)
{
	struct hier *h = hier_for(cg, CT_FREEZER);

	if (!h)
		h = hier_v2(cg);
	if (!h)
		return err_msg(err, ENOTSUP, "freeze cgroup '%s': no freezer on this host",
			       cg->path);
	*ret = h;
	return 0;
}

static int read_frozen(const struct hier *h, struct err *err)
{
	_cleanup_free_ char *s = NULL;
	uint64_t v = 0;
	int r;

	if (!h->v2) {
		if ((r = cg_read(h->dir, "freezer.state", &s, err)) < 0)
			return r;
		return strncmp(s, "FROZEN", 6) == 0;
	}
	if ((r = cg_read(h->dir, "cgroup.events", &s, err)) < 0)
		return r;
	keyed_value(s, "frozen", &v);
	return v == 1;
}

int rt_cgroup_is_frozen(const struct rt_cgroup *cg, struct err *err)
{
	struct hier *h;
	int r = freezer(cg, &h, err);
	return r < 0 ? r : read_frozen(h, err);
}

int rt_cgroup_freeze(struct rt_cgroup *cg, bool frozen, struct err *err)
{
	const char *file, *val;
	struct hier *h;
	long deadline = now_ms() + 5000, wait = 1;
	int r;

	if ((r = freezer(cg, &h, err)) < 0)
		return r;
	file = h->v2 ? "cgroup.freeze" : "freezer.state";
	val = h->v2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED");
	for (;;) {
		/* v1 re-writes FROZEN: tasks forked meanwhile must be caught too */
		if ((r = cg_write(h->dir, file, val, err)) < 0)
			return err_wrap(err, "%s cgroup", frozen ? "freeze" : "thaw");
		if ((r = read_frozen(h, err)) < 0)
			return r;
		if (r == frozen)
			return 0;
		if (now_ms() > deadline)
			return err_msg(err, ETIMEDOUT, "%s cgroup '%s': timed out",
				       frozen ? "freeze" : "thaw", h->dir);
		sleep_ms(wait);
		wait = wait < 50 ? wait * 2 : 50;
	}
}

static int pids_collect(const char *dir, pid_t **v, size_t *n, size_t *cap, struct err *err)
{
	_cleanup_free_ char *s = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int r = cg_read(dir, "cgroup.procs", &s, err);

	if (r < 0)
		return r == -ENOENT ? 0 : r;
	for (char *p = s, *end; *p; p = end) {
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid <= 0)
			continue;
		if (*n == *cap)
			*v = xrealloc(*v, (*cap = *cap ? *cap * 2 : 16) * sizeof(pid_t));
		(*v)[(*n)++] = (pid_t)pid;
	}
	if (!(d = opendir(dir)))
		return 0;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *sub = xasprintf("%s/%s", dir, de->d_name);
		if ((r = pids_collect(sub, v, n, cap, err)) < 0)
			return r;
	}
	return 0;
}

int rt_cgroup_pids(const struct rt_cgroup *cg, pid_t **ret, size_t *ret_n, struct err *err)
{
	_cleanup_free_ pid_t *v = NULL;
	size_t n = 0, cap = 0;
	int r = pids_collect(hier_procs(cg)->dir, &v, &n, &cap, err);

	if (r < 0)
		return r;
	*ret = take_ptr(v);
	*ret_n = n;
	return 0;
}

static int signal_each(const struct rt_cgroup *cg, int sig, size_t *ret_n, struct err *err)
{
	_cleanup_free_ pid_t *v = NULL;
	size_t n = 0;
	int r = rt_cgroup_pids(cg, &v, &n, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (kill(v[i], sig) < 0 && errno != ESRCH)
			return err_sys(err, errno, "kill %d", (int)v[i]);
	if (ret_n)
		*ret_n = n;
	return 0;
}

/* cgroup.kill (5.14+) kills the whole subtree at once, with no fork race. */
static bool kill_v2(const struct rt_cgroup *cg)
{
	struct hier *h = hier_v2(cg);
	struct err e = {0};

	return h && cg_write(h->dir, "cgroup.kill", "1", &e) == 0;
}

int rt_cgroup_kill_all(const struct rt_cgroup *cg, int sig, struct err *err)
{
	if (sig == SIGKILL && kill_v2(cg))
		return 0;
	return signal_each(cg, sig, NULL, err);
}

/* Without cgroup.kill, freeze first so nothing forks between listing and killing. */
static void kill_everything(struct rt_cgroup *cg)
{
	struct err e = {0};
	struct hier *h = NULL;
	bool frozen;

	if (kill_v2(cg))
		return;
	frozen = freezer(cg, &h, &e) == 0 && rt_cgroup_freeze(cg, true, &e) == 0;
	signal_each(cg, SIGKILL, NULL, &e);
	if (frozen)
		rt_cgroup_freeze(cg, false, &e);
}

int rt_cgroup_destroy(struct rt_cgroup *cg, struct err *err)
{
	long deadline = now_ms() + 5000, wait = 1; /* slow under load: task exit waits on RCU */
	int ret = 0;

	kill_everything(cg);
	for (size_t i = cg->nh; i-- > 0;) {
		struct hier *h = &cg->h[i];
		int r;

		if (h->created <= 0)
			continue;
		/* killed tasks take a moment to leave: back off from 1ms */
		while ((r = rmdir_tree(h->dir)) == -EBUSY && now_ms() < deadline) {
			struct err e = {0};
			sleep_ms(wait);
			wait = wait < 64 ? wait * 2 : 64;
			if (wait >= 16)
				signal_each(cg, SIGKILL, NULL, &e);
		}
		if (r < 0 && ret == 0)
			ret = err_sys(err, -r, "remove cgroup '%s'", h->dir);
		else if (r == 0)
			rmdir_parents(h);
	}
	return ret;
}

int rt_cgroup_oom_kills(const struct rt_cgroup *cg, uint64_t *ret, struct err *err)
{
	struct hier *h = hier_for(cg, CT_MEMORY);
	_cleanup_free_ char *s = NULL;
	int r;

	*ret = 0;
	if (!h)
		return 0;
	r = cg_read(h->dir, h->v2 ? "memory.events" : "memory.oom_control", &s, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	keyed_value(s, "oom_kill", ret);
	return 0;
}

const char *rt_cgroup_stat_dir(const struct rt_cgroup *cg, const char *controller, bool *ret_v2)
{
	struct hier *h = NULL;

	for (int c = 0; c < CT__MAX && !h; c++)
		if (streq(ctrl_names[c].v1, controller))
			h = hier_for(cg, (enum ctrl)c);
	if (!h)
		h = hier_v2(cg);
	if (!h)
		return NULL;
	*ret_v2 = h->v2;
	return h->dir;
}

/* --- the container's view -------------------------------------------------------- */

#define MOUNT_FLAGS                                                                                \
	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | \
	 MS_STRICTATIME)

/* With cgroupns a fresh mount shows the container's cgroup as its root; without, the
 * container's own directory is bind-mounted (and re-mounted for the flags). */
static int mount_hier(const struct hier *h, const char *target, unsigned long flags,
		      bool in_cgroupns, struct err *err)
{
	if (mkdir(target, 0755) < 0 && errno != EEXIST)
		return err_sys(err, errno, "mkdir '%s'", target);
	if (in_cgroupns) {
		if (mount(h->v2 ? "cgroup2" : "cgroup", target, h->v2 ? "cgroup2" : "cgroup", flags,
			  h->v2 ? NULL : h->opts) < 0)
			return err_sys(err, errno, "mount %s on '%s'", h->v2 ? "cgroup2" : h->opts,
				       target);
		return 0;
	}
	if (mount(h->dir, target, NULL, MS_BIND, NULL) < 0)
		return err_sys(err, errno, "bind mount '%s' on '%s'", h->dir, target);
	if (flags && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
		return err_sys(err, errno, "remount '%s'", target);
	return 0;
}

/* "cpu,cpuacct" is also reachable as cpu/ and cpuacct/, as docker does it. */
static int link_combined(const struct hier *h, const char *dest, struct err *err)
{
	_cleanup_free_ char *names = xstrdup(h->name);
	char *save = NULL;

	if (!strchr(h->name, ','))
		return 0;
	for (char *t = strtok_r(names, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		_cleanup_free_ char *link = xasprintf("%s/%s", dest, t);
		if (symlink(h->name, link) < 0 && errno != EEXIST)
			return err_sys(err, errno, "symlink '%s'", link);
	}
	return 0;
}

int rt_cgroup_mount(const struct rt_cgroup *cg, const char *dest, unsigned long flags,
		    bool in_cgroupns, struct err *err)
{
	int r;

	flags &= MOUNT_FLAGS;
	if ((r = fs_mkdir_p(dest, 0755, err)) < 0)
		return r;
	if (cg->mode == RT_CGROUP_V2)
		return mount_hier(&cg->h[0], dest, flags, in_cgroupns, err);
	if (mount("tmpfs", dest, "tmpfs", (flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=755") < 0)
		return err_sys(err, errno, "mount tmpfs on '%s'", dest);
	for (size_t i = 0; i < cg->nh; i++) {
		const struct hier *h = &cg->h[i];
		_cleanup_free_ char *target = xasprintf("%s/%s", dest, h->name);
		if ((r = mount_hier(h, target, flags, in_cgroupns, err)) < 0 ||
		    (r = link_combined(h, dest, err)) < 0)
			return r;
	}
	if ((flags & MS_RDONLY) &&
	    mount("tmpfs", dest, "tmpfs", MS_REMOUNT | flags | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=755") < 0)
		return err_sys(err, errno, "remount '%s' read-only", dest);
	return 0;
}
