/* seccomp: parsing the OCI linux.seccomp object into a compact form and loading it
 * through libseccomp. Parsing does every check that can be done without the kernel,
 * so that apply (which runs in the container's init on every start) only builds the
 * filter and loads it. Docker's default profile lives in seccomp_default.c. */
#include "runtime/seccomp.h"

#include <ctype.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "base/js.h"
#include "base/util.h"

/* libseccomp learned SCMP_FLTATR_CTL_WAITKILL in 2.6; only meaningful with a listener. */
enum { SC_FLAG_TSYNC = 1, SC_FLAG_LOG = 2, SC_FLAG_SPEC_ALLOW = 4, SC_FLAG_WAIT_KILLABLE = 8 };

struct sc_arg {
	unsigned int index;
	enum scmp_compare op;
	uint64_t value, value2;
};

struct sc_rule {
	char **names;
	uint32_t action;
	struct sc_arg *args;
	size_t nargs;
	bool split; /* two comparisons on one argument: one rule per comparison (runc) */
};

struct rt_seccomp {
	uint32_t default_action;
	uint32_t *archs;
	size_t narchs;
	unsigned int flags;
	struct sc_rule *rules;
	size_t nrules;
	struct sock_filter *bpf; /* set by rt_seccomp_prepare */
	size_t bpf_len;		 /* in instructions */
};

static const struct {
	const char *name;
	uint32_t action;
	bool has_ret; /* the low 16 bits come from errnoRet */
} actions[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP, false},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG, false},
    {"SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY, false},
};

static const struct {
	const char *name;
	enum scmp_compare op;
} operators[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static const struct {
	const char *name;
	unsigned int flag;
} filter_flags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", SC_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SC_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SC_FLAG_SPEC_ALLOW},
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SC_FLAG_WAIT_KILLABLE},
};

void rt_seccomp_free(struct rt_seccomp *sc)
{
	if (!sc)
		return;
	for (size_t i = 0; i < sc->nrules; i++) {
		strv_free(sc->rules[i].names);
		free(sc->rules[i].args);
	}
	free(sc->rules);
	free(sc->archs);
	free(sc->bpf);
	free(sc);
}

static void rt_seccomp_freep(struct rt_seccomp **sc)
{
	rt_seccomp_free(*sc);
}

/* obj[action_key] with obj[ret_key] as errno (ERRNO) or message (TRACE), EPERM when
 * absent, as runc does. */
static int parse_action(json_t *obj, const char *path, const char *action_key, const char *ret_key,
			uint32_t *ret, struct err *err)
{
	_cleanup_free_ char *name = NULL;
	uint64_t code = EPERM;
	int r;

	r = js_str(obj, path, action_key, true, &name, err);
	if (r < 0)
		return r;
	r = js_u64(obj, path, ret_key, 0xffff, &code, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(actions); i++) {
		if (!streq(actions[i].name, name))
			continue;
		if (actions[i].action == SCMP_ACT_NOTIFY)
			return err_msg(err, EOPNOTSUPP, "%s: SCMP_ACT_NOTIFY not supported", path);
		*ret = actions[i].action | (actions[i].has_ret ? (uint32_t)code : 0);
		return 0;
	}
	_cleanup_free_ char *p = js_path(path, action_key);
	return err_msg(err, EINVAL, "%s: unknown action '%s'", p, name);
}

/* "SCMP_ARCH_X86_64" -> libseccomp's token for "x86_64"; 0 when unknown. */
static uint32_t arch_from_name(const char *name)
{
	char buf[32];
	size_t i;

	if (strncmp(name, "SCMP_ARCH_", 10) == 0)
		name += 10;
	for (i = 0; name[i] && i < sizeof(buf) - 1; i++)
		buf[i] = tolower((unsigned char)name[i]);
	if (name[i])
		return 0;
	buf[i] = '\0';
	return seccomp_arch_resolve_name(buf);
}

static int parse_archs(json_t *obj, const char *path, struct rt_seccomp *sc, struct err *err)
{
	_cleanup_strv_ char **names = NULL;
	int r = js_strv(obj, path, "architectures", false, &names, err);

	if (r <= 0)
		return r;
	sc->archs = xcalloc(strv_len(names), sizeof(uint32_t));
	for (size_t i = 0; names[i]; i++) {
		uint32_t a = arch_from_name(names[i]);
		if (a == 0) {
			_cleanup_free_ char *p = js_path(path, "architectures");
			_cleanup_free_ char *pi = js_index(p, i);
			return err_msg(err, EINVAL, "%s: unknown architecture '%s'", pi, names[i]);
		}
		sc->archs[sc->narchs++] = a;
	}
	return 0;
}

static int parse_flags(json_t *obj, const char *path, struct rt_seccomp *sc, struct err *err)
{
	_cleanup_strv_ char **names = NULL;
	int r = js_strv(obj, path, "flags", false, &names, err);

	if (r <= 0)
		return r;
	for (size_t i = 0; names[i]; i++) {
		size_t k;
		for (k = 0; k < ARRAY_SIZE(filter_flags); k++)
			if (streq(filter_flags[k].name, names[i]))
				break;
		if (k == ARRAY_SIZE(filter_flags)) {
			_cleanup_free_ char *p = js_path(path, "flags");
			_cleanup_free_ char *pi = js_index(p, i);
			return err_msg(err, EINVAL, "%s: unknown flag '%s'", pi, names[i]);
		}
		sc->flags |= filter_flags[k].flag;
	}
	return 0;
}

/* value/valueTwo are uint64 in the spec; JSON integers are signed, so take the bits. */
static int parse_u64_bits(json_t *obj, const char *path, const char *key, bool required,
			  uint64_t *ret, struct err *err)
{
	json_t *v;
	int r = js_get(obj, path, key, JSON_INTEGER, required, &v, err);

	if (r <= 0)
		return r;
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_arg(json_t *obj, const char *path, struct sc_arg *ret, struct err *err)
{
	_cleanup_free_ char *op = NULL;
	uint64_t index = 0;
	json_t *v;
	int r;

	if (!json_is_object(obj))
		return err_msg(err, EINVAL, "%s: expected an object", path);
	if ((r = js_get(obj, path, "index", JSON_INTEGER, true, &v, err)) < 0 ||
	    (r = js_u64(obj, path, "index", 5, &index, err)) < 0)
		return r;
	ret->index = index;
	if ((r = parse_u64_bits(obj, path, "value", true, &ret->value, err)) < 0 ||
	    (r = parse_u64_bits(obj, path, "valueTwo", false, &ret->value2, err)) < 0 ||
	    (r = js_str(obj, path, "op", true, &op, err)) < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(operators); i++) {
		if (streq(operators[i].name, op)) {
			ret->op = operators[i].op;
			return 0;
		}
	}
	_cleanup_free_ char *p = js_path(path, "op");
	return err_msg(err, EINVAL, "%s: unknown operator '%s'", p, op);
}

static int parse_args(json_t *obj, const char *path, struct sc_rule *rule, struct err *err)
{
	_cleanup_free_ char *p = NULL;
	json_t *args, *a;
	size_t i;
	int r = js_get(obj, path, "args", JSON_ARRAY, false, &args, err);

	if (r <= 0)
		return r;
	p = js_path(path, "args");
	rule->args = xcalloc(json_array_size(args), sizeof(*rule->args));
	json_array_foreach(args, i, a)
	{
		_cleanup_free_ char *pi = js_index(p, i);
		r = parse_arg(a, pi, &rule->args[i], err);
		if (r < 0)
			return r;
		for (size_t k = 0; k < i; k++)
			if (rule->args[k].index == rule->args[i].index)
				rule->split = true;
		rule->nargs++;
	}
	return 0;
}

static int parse_rule(json_t *obj, const char *path, struct sc_rule *rule, struct err *err)
{
	_cleanup_free_ char *name = NULL;
	int r;

	if (!json_is_object(obj))
		return err_msg(err, EINVAL, "%s: expected an object", path);
	r = js_strv(obj, path, "names", false, &rule->names, err);
	if (r < 0)
		return r;
	if (r == 0) {
		/* Docker's older profiles name one syscall per entry. */
		r = js_str(obj, path, "name", false, &name, err);
		if (r < 0)
			return r;
		if (r == 0)
			return js_strv(obj, path, "names", true, &rule->names, err);
		rule->names = strv_append(NULL, name);
	}
	r = parse_action(obj, path, "action", "errnoRet", &rule->action, err);
	if (r < 0)
		return r;
	return parse_args(obj, path, rule, err);
}

static int parse_rules(json_t *obj, const char *path, struct rt_seccomp *sc, struct err *err)
{
	_cleanup_free_ char *p = NULL;
	json_t *calls, *c;
	size_t i;
	int r = js_get(obj, path, "syscalls", JSON_ARRAY, false, &calls, err);

	if (r <= 0)
		return r;
	p = js_path(path, "syscalls");
	sc->rules = xcalloc(json_array_size(calls), sizeof(*sc->rules));
	json_array_foreach(calls, i, c)
	{
		_cleanup_free_ char *pi = js_index(p, i);
		struct sc_rule *rule = &sc->rules[sc->nrules];

		r = parse_rule(c, pi, rule, err);
		sc->nrules++; /* owned by sc from here, even when half-parsed */
		if (r < 0)
			return r;
		/* libseccomp refuses rules whose action is the default one; they are
		 * no-ops anyway. */
		if (rule->action == sc->default_action) {
			strv_free(rule->names);
			free(rule->args);
			memset(rule, 0, sizeof(*rule));
			sc->nrules--;
		}
	}
	return 0;
}

int rt_seccomp_parse(json_t *obj, const char *path, struct rt_seccomp **ret, struct err *err)
{
	_cleanup_(rt_seccomp_freep) struct rt_seccomp *sc = NULL;
	int r;

	if (!path)
		path = "linux.seccomp";
	if (!json_is_object(obj))
		return err_msg(err, EINVAL, "%s: expected an object", path);
	sc = xcalloc(1, sizeof(*sc));
	if ((r = parse_action(obj, path, "defaultAction", "defaultErrnoRet", &sc->default_action,
			      err)) < 0 ||
	    (r = parse_archs(obj, path, sc, err)) < 0 ||
	    (r = parse_flags(obj, path, sc, err)) < 0 || (r = parse_rules(obj, path, sc, err)) < 0)
		return r;
	*ret = take_ptr(sc);
	return 0;
}

static void seccomp_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

static int set_attr(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t v, const char *what,
		    struct err *err)
{
	int r = seccomp_attr_set(ctx, attr, v);
	if (r < 0)
		return err_sys(err, -r, "set seccomp attribute %s", what);
	return 0;
}

static int add_rule(scmp_filter_ctx ctx, const struct sc_rule *rule, int nr, const char *name,
		    struct err *err)
{
	struct scmp_arg_cmp cmp[6];
	int r = 0;

	if (rule->split) {
		for (size_t i = 0; i < rule->nargs && r >= 0; i++) {
			const struct sc_arg *a = &rule->args[i];
			cmp[0] = SCMP_CMP64(a->index, a->op, a->value, a->value2);
			r = seccomp_rule_add_array(ctx, rule->action, nr, 1, cmp);
		}
	} else {
		for (size_t i = 0; i < rule->nargs; i++) {
			const struct sc_arg *a = &rule->args[i];
			cmp[i] = SCMP_CMP64(a->index, a->op, a->value, a->value2);
		}
		r = seccomp_rule_add_array(ctx, rule->action, nr, rule->nargs, cmp);
	}
	if (r < 0)
		return err_sys(err, -r, "add seccomp rule for '%s'", name);
	return 0;
}

/* The filter context with everything but loading done. optimize 2 lays the syscall
 * checks out as a binary tree: ~50% slower to compile but 2-3x faster for the kernel to
 * load (it emulates the filter once per syscall number to build its cache of allowed
 * syscalls, which a linear filter makes quadratic) and faster to run. */
static int build(const struct rt_seccomp *sc, uint32_t optimize, scmp_filter_ctx *ret,
		 struct err *err)
{
	_cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(sc->default_action);
	int r;

	if (!ctx)
		return err_msg(err, EINVAL, "initialize seccomp filter: libseccomp refused");
	for (size_t i = 0; i < sc->narchs; i++) {
		r = seccomp_arch_add(ctx, sc->archs[i]);
		if (r < 0 && r != -EEXIST)
			return err_sys(err, -r, "add seccomp architecture %#x", sc->archs[i]);
	}
	/* The runtime sets no_new_privs itself when the spec asks for it; real errnos
	 * from the kernel rather than libseccomp's ECANCELED. */
	if ((r = set_attr(ctx, SCMP_FLTATR_CTL_NNP, 0, "NNP", err)) < 0 ||
	    (r = set_attr(ctx, SCMP_FLTATR_API_SYSRAWRC, 1, "SYSRAWRC", err)) < 0 ||
	    (r = set_attr(ctx, SCMP_FLTATR_CTL_OPTIMIZE, optimize, "OPTIMIZE", err)) < 0)
		return r;
	if ((sc->flags & SC_FLAG_TSYNC) &&
	    (r = set_attr(ctx, SCMP_FLTATR_CTL_TSYNC, 1, "TSYNC", err)) < 0)
		return r;
	if ((sc->flags & SC_FLAG_LOG) &&
	    (r = set_attr(ctx, SCMP_FLTATR_CTL_LOG, 1, "LOG", err)) < 0)
		return r;
	if ((sc->flags & SC_FLAG_SPEC_ALLOW) &&
	    (r = set_attr(ctx, SCMP_FLTATR_CTL_SSB, 1, "SPEC_ALLOW", err)) < 0)
		return r;
	for (size_t i = 0; i < sc->nrules; i++) {
		const struct sc_rule *rule = &sc->rules[i];
		for (char **n = rule->names; *n; n++) {
			int nr = seccomp_syscall_resolve_name(*n);
			if (nr == __NR_SCMP_ERROR)
				continue; /* unknown to this libseccomp: skipped, as runc does */
			r = add_rule(ctx, rule, nr, *n, err);
			if (r < 0)
				return r;
		}
	}
	*ret = take_ptr(ctx);
	return 0;
}

/* Compiled filters are cached because libseccomp takes ~10 ms to build Docker's profile
 * for three architectures, against ~50 us to load it. A cache entry is the magic, the
 * key's length, the key, then the raw BPF program. The key is a canonical dump of the
 * parsed profile plus the libseccomp version and kernel release; entries are found by
 * its hash and only used when the stored key matches byte for byte. */
#define CACHE_MAGIC "COOPBPF1"
#define CACHE_MAX_ENTRIES 512

static char *cache_key(const struct rt_seccomp *sc)
{
	const struct scmp_version *v = seccomp_version();
	struct utsname u = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	uname(&u);
	fprintf(f, "libseccomp %u.%u.%u api %u kernel %s %s\n", v->major, v->minor, v->micro,
		seccomp_api_get(), u.release, u.machine);
	fprintf(f, "default %#x flags %#x archs", sc->default_action, sc->flags);
	for (size_t i = 0; i < sc->narchs; i++)
		fprintf(f, " %#x", sc->archs[i]);
	for (size_t i = 0; i < sc->nrules; i++) {
		const struct sc_rule *r = &sc->rules[i];
		fprintf(f, "\nrule %#x %d", r->action, r->split);
		for (size_t k = 0; k < r->nargs; k++)
			fprintf(f, " [%u %d %#llx %#llx]", r->args[k].index, r->args[k].op,
				(unsigned long long)r->args[k].value,
				(unsigned long long)r->args[k].value2);
		for (char **n = r->names; *n; n++)
			fprintf(f, " %s", *n);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static char *cache_path(const char *dir, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return xasprintf("%s/%016llx.bpf", dir, (unsigned long long)h);
}

/* A filter read from disk is loaded as is, so only files nobody else could have
 * written count: ours, not group- or world-writable. */
static bool trusted(const struct stat *st)
{
	return st->st_uid == geteuid() && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/* 1 and the program on a hit; 0 on a miss or an unusable entry. */
static int cache_read(const char *file, const char *key, struct sock_filter **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t klen = strlen(key), hdr = sizeof(CACHE_MAGIC) - 1 + sizeof(uint32_t);
	struct stat st;
	uint32_t stored;

	if (fd < 0 || fstat(fd, &st) < 0 || !trusted(&st) || (size_t)st.st_size < hdr + klen ||
	    (st.st_size - hdr - klen) % sizeof(struct sock_filter) != 0)
		return 0;
	buf = xmalloc(st.st_size);
	if (read(fd, buf, st.st_size) != st.st_size)
		return 0;
	memcpy(&stored, buf + sizeof(CACHE_MAGIC) - 1, sizeof(stored));
	if (memcmp(buf, CACHE_MAGIC, sizeof(CACHE_MAGIC) - 1) != 0 || stored != klen ||
	    memcmp(buf + hdr, key, klen) != 0)
		return 0;
	*ret_len = (st.st_size - hdr - klen) / sizeof(struct sock_filter);
	*ret = xmalloc(st.st_size - hdr - klen);
	memcpy(*ret, buf + hdr + klen, st.st_size - hdr - klen);
	return 1;
}

static bool cache_full(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		if (++n > CACHE_MAX_ENTRIES)
			return true;
	return false;
}

/* Best effort: a cache that cannot be written only costs the next start time. */
static void cache_write(const char *dir, const char *file, const char *key,
			const struct sock_filter *bpf, size_t len)
{
	_cleanup_free_ char *tmp = xasprintf("%s.%d.tmp", file, getpid());
	uint32_t klen = strlen(key);
	bool ok;
	int fd;

	if (cache_full(dir))
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	ok = write(fd, CACHE_MAGIC, sizeof(CACHE_MAGIC) - 1) == sizeof(CACHE_MAGIC) - 1 &&
	     write(fd, &klen, sizeof(klen)) == sizeof(klen) &&
	     write(fd, key, klen) == (ssize_t)klen &&
	     write(fd, bpf, len * sizeof(*bpf)) == (ssize_t)(len * sizeof(*bpf));
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, file) < 0)
		unlink(tmp);
}

static int export_bpf(scmp_filter_ctx ctx, struct sock_filter **ret, size_t *ret_len,
		      struct err *err)
{
	_cleanup_close_ int fd = memfd_create("coop-seccomp", MFD_CLOEXEC);
	struct stat st;
	void *bpf;
	int r;

	if (fd < 0)
		return err_sys(err, errno, "export seccomp filter: memfd_create");
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return err_sys(err, -r, "export seccomp filter");
	if (fstat(fd, &st) < 0)
		return err_sys(err, errno, "export seccomp filter: fstat");
	if (st.st_size == 0 || st.st_size % sizeof(struct sock_filter) != 0)
		return err_msg(err, EINVAL, "export seccomp filter: odd size %lld",
			       (long long)st.st_size);
	bpf = xmalloc(st.st_size);
	if (pread(fd, bpf, st.st_size, 0) != st.st_size) {
		free(bpf);
		return err_sys(err, errno ? errno : EIO, "export seccomp filter: read");
	}
	*ret = bpf;
	*ret_len = st.st_size / sizeof(struct sock_filter);
	return 0;
}

int rt_seccomp_prepare(struct rt_seccomp *sc, const char *cache_dir, struct err *err)
{
	_cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
	_cleanup_free_ char *key = NULL, *file = NULL;
	struct stat st;
	int r;

	if (sc->bpf)
		return 0;
	if (cache_dir && (mkdir(cache_dir, 0700) == 0 || errno == EEXIST) &&
	    stat(cache_dir, &st) == 0 && trusted(&st) && (key = cache_key(sc))) {
		file = cache_path(cache_dir, key);
		if (cache_read(file, key, &sc->bpf, &sc->bpf_len) > 0)
			return 0;
	}
	r = build(sc, 2, &ctx, err);
	if (r < 0)
		return r;
	r = export_bpf(ctx, &sc->bpf, &sc->bpf_len, err);
	if (r < 0)
		return r;
	if (file)
		cache_write(cache_dir, file, key, sc->bpf, sc->bpf_len);
	return 0;
}

static int load_bpf(const struct rt_seccomp *sc, struct err *err)
{
	struct sock_fprog prog = {.len = sc->bpf_len, .filter = sc->bpf};
	unsigned int flags = 0;
	long r;

	if (sc->flags & SC_FLAG_TSYNC)
		flags |= SECCOMP_FILTER_FLAG_TSYNC;
	if (sc->flags & SC_FLAG_LOG)
		flags |= SECCOMP_FILTER_FLAG_LOG;
	if (sc->flags & SC_FLAG_SPEC_ALLOW)
		flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
	r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (r < 0 && errno == ENOSYS && flags == 0)
		r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
	if (r > 0) /* TSYNC: the id of a thread that could not be synchronized */
		return err_msg(err, EBUSY, "load seccomp filter: thread %ld cannot be synced", r);
	if (r < 0 && errno == EACCES)
		return err_sys(err, errno,
			       "load seccomp filter (needs no_new_privs or CAP_SYS_ADMIN)");
	if (r < 0)
		return err_sys(err, errno, "load seccomp filter");
	return 0;
}

int rt_seccomp_apply(const struct rt_seccomp *sc, struct err *err)
{
	_cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
	int r;

	if (sc->bpf)
		return load_bpf(sc, err);
	r = build(sc, 1, &ctx, err); /* compile time dominates here: see build() */
	if (r < 0)
		return r;
	r = seccomp_load(ctx);
	if (r == -EACCES)
		return err_sys(err, -r,
			       "load seccomp filter (needs no_new_privs or CAP_SYS_ADMIN)");
	if (r < 0)
		return err_sys(err, -r, "load seccomp filter");
	return 0;
}
