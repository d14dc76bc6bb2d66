/* caps: capability names, the five OCI capability sets, and applying them to the
 * container's init. The sets are bit masks; the kernel interfaces are used directly
 * (prctl for bounding and ambient, capset for the rest) since masks map onto them. */
#include "runtime/caps.h"

#include <linux/capability.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/capability.h>

#include "base/js.h"
#include "base/util.h"

#define N(c) [c] = #c
static const char *const cap_names[] = {
    N(CAP_CHOWN),
    N(CAP_DAC_OVERRIDE),
    N(CAP_DAC_READ_SEARCH),
    N(CAP_FOWNER),
    N(CAP_FSETID),
    N(CAP_KILL),
    N(CAP_SETGID),
    N(CAP_SETUID),
    N(CAP_SETPCAP),
    N(CAP_LINUX_IMMUTABLE),
    N(CAP_NET_BIND_SERVICE),
    N(CAP_NET_BROADCAST),
    N(CAP_NET_ADMIN),
    N(CAP_NET_RAW),
    N(CAP_IPC_LOCK),
    N(CAP_IPC_OWNER),
    N(CAP_SYS_MODULE),
    N(CAP_SYS_RAWIO),
    N(CAP_SYS_CHROOT),
    N(CAP_SYS_PTRACE),
    N(CAP_SYS_PACCT),
    N(CAP_SYS_ADMIN),
    N(CAP_SYS_BOOT),
    N(CAP_SYS_NICE),
    N(CAP_SYS_RESOURCE),
    N(CAP_SYS_TIME),
    N(CAP_SYS_TTY_CONFIG),
    N(CAP_MKNOD),
    N(CAP_LEASE),
    N(CAP_AUDIT_WRITE),
    N(CAP_AUDIT_CONTROL),
    N(CAP_SETFCAP),
    N(CAP_MAC_OVERRIDE),
    N(CAP_MAC_ADMIN),
    N(CAP_SYSLOG),
    N(CAP_WAKE_ALARM),
    N(CAP_BLOCK_SUSPEND),
    N(CAP_AUDIT_READ),
    N(CAP_PERFMON),
    N(CAP_BPF),
    N(CAP_CHECKPOINT_RESTORE),
};
#undef N

static const char *const set_keys[RT_CAP_NSETS] = {
    [RT_CAP_BOUNDING] = "bounding",	  [RT_CAP_EFFECTIVE] = "effective",
    [RT_CAP_INHERITABLE] = "inheritable", [RT_CAP_PERMITTED] = "permitted",
    [RT_CAP_AMBIENT] = "ambient",
};

int rt_cap_from_name(const char *name)
{
	if (!name)
		return -1;
	if (strncasecmp(name, "CAP_", 4) == 0)
		name += 4;
	for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
		if (cap_names[i] && strcasecmp(cap_names[i] + 4, name) == 0)
			return (int)i;
	return -1;
}

const char *rt_cap_name(int cap)
{
	if (cap < 0 || (size_t)cap >= ARRAY_SIZE(cap_names))
		return NULL;
	return cap_names[cap];
}

int rt_cap_last(void)
{
	static int last = -1;
	_cleanup_fclose_ FILE *f = NULL;
	int v;

	if (last >= 0)
		return last;
	f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (f && fscanf(f, "%d", &v) == 1 && v >= 0 && v < 64)
		last = v;
	else
		last = (int)cap_max_bits() - 1;
	return last;
}

static int parse_set(json_t *obj, const char *path, enum rt_cap_set set, uint64_t *ret,
		     struct err *err)
{
	_cleanup_strv_ char **names = NULL;
	int last = rt_cap_last();
	int r = js_strv(obj, path, set_keys[set], false, &names, err);

	if (r <= 0)
		return r;
	for (size_t i = 0; names[i]; i++) {
		int cap = rt_cap_from_name(names[i]);
		if (cap < 0) {
			_cleanup_free_ char *p = js_path(path, set_keys[set]);
			_cleanup_free_ char *pi = js_index(p, i);
			return err_msg(err, EINVAL, "%s: unknown capability '%s'", pi, names[i]);
		}
		if (cap > last)
			continue; /* known name, older kernel: nothing to grant or drop */
		*ret |= 1ULL << cap;
	}
	return 0;
}

int rt_caps_parse(json_t *obj, const char *path, struct rt_caps *ret, struct err *err)
{
	struct rt_caps caps = {0};
	int r;

	if (!path)
		path = "process.capabilities";
	if (obj && !json_is_null(obj)) {
		if (!json_is_object(obj))
			return err_msg(err, EINVAL, "%s: expected an object", path);
		for (int s = 0; s < RT_CAP_NSETS; s++) {
			r = parse_set(obj, path, s, &caps.set[s], err);
			if (r < 0)
				return r;
		}
		caps.present = true;
	}
	*ret = caps;
	return 0;
}

json_t *rt_caps_to_json(const struct rt_caps *caps)
{
	json_t *obj = json_object();

	for (int s = 0; s < RT_CAP_NSETS; s++) {
		json_t *arr = json_array();
		for (size_t c = 0; c < ARRAY_SIZE(cap_names); c++)
			if ((caps->set[s] >> c) & 1)
				json_array_append_new(arr, json_string(cap_names[c]));
		json_object_set_new(obj, set_keys[s], arr);
	}
	return obj;
}

uint64_t rt_caps_default_mask(void)
{
	static const int defaults[] = {
	    CAP_CHOWN,	 CAP_DAC_OVERRIDE, CAP_FSETID,		 CAP_FOWNER,
	    CAP_MKNOD,	 CAP_NET_RAW,	   CAP_SETGID,		 CAP_SETUID,
	    CAP_SETFCAP, CAP_SETPCAP,	   CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
	    CAP_KILL,	 CAP_AUDIT_WRITE,
	};
	uint64_t m = 0;

	for (size_t i = 0; i < ARRAY_SIZE(defaults); i++)
		m |= 1ULL << defaults[i];
	return m;
}

static int capget_masks(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	*inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

static int capset_masks(uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {
	    {(uint32_t)eff, (uint32_t)prm, (uint32_t)inh},
	    {(uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32)},
	};

	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}

static int drop_bounding(uint64_t keep, struct err *err)
{
	int last = rt_cap_last();

	for (int c = 0; c <= last; c++) {
		/* Skipping what is already gone lets a runtime without CAP_SETPCAP (nested,
		 * rootless) apply a bounding set its parent already narrowed. */
		if (((keep >> c) & 1) || prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 0)
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			const char *n = rt_cap_name(c);
			if (n)
				return err_sys(err, errno, "drop capability %s from bounding set",
					       n);
			return err_sys(err, errno, "drop capability %d from bounding set", c);
		}
	}
	return 0;
}

/* The kernel refuses ambient capabilities missing from permitted or inheritable; those
 * are skipped rather than failing, like runc's warning-only behaviour. */
static int set_ambient(uint64_t amb, uint64_t allowed, struct err *err)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
		if (errno == EINVAL && amb == 0)
			return 0; /* kernel before 4.3: nothing to clear */
		return err_sys(err, errno, "clear ambient capabilities");
	}
	for (int c = 0; c < 64; c++) {
		if (!((amb & allowed) >> c & 1))
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			return err_sys(err, errno, "raise ambient capability %s",
				       rt_cap_name(c) ? rt_cap_name(c) : "?");
	}
	return 0;
}

int rt_caps_apply(const struct rt_caps *caps, struct err *err)
{
	static const struct rt_caps none = {{0}, false};
	uint64_t eff = 0, prm = 0, inh = 0;
	int r;

	if (!caps->present)
		caps = &none; /* runc: no capabilities section means no capabilities */
	r = capget_masks(&eff, &prm, &inh);
	if (r < 0)
		return err_sys(err, r, "read capabilities");
	/* setresuid() to a non-root uid cleared the effective set; dropping from the
	 * bounding set needs CAP_SETPCAP effective, so raise what is still permitted. */
	if (eff != prm && (r = capset_masks(prm, prm, inh)) < 0)
		return err_sys(err, r, "raise permitted capabilities");
	r = drop_bounding(caps->set[RT_CAP_BOUNDING], err);
	if (r < 0)
		return r;
	r = capset_masks(caps->set[RT_CAP_EFFECTIVE], caps->set[RT_CAP_PERMITTED],
			 caps->set[RT_CAP_INHERITABLE]);
	if (r < 0)
		return err_sys(err, r, "set capabilities");
	r = set_ambient(caps->set[RT_CAP_AMBIENT],
			caps->set[RT_CAP_PERMITTED] & caps->set[RT_CAP_INHERITABLE], err);
	if (r < 0)
		return r;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return err_sys(err, errno, "clear keep-capabilities flag");
	return 0;
}
