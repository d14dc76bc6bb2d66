/* cgroup_res: parsing and merging of OCI linux.resources, and the v1 → v2 unit
 * conversions. No I/O: everything here is checked by the unit tests. */
#include "runtime/cgroup_res.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "base/js.h"
#include "base/util.h"

#define MAX_LIST 4096 /* device rules, throttle entries, unified keys: a sane cap */
#define DEV_MAX INT32_MAX

const struct rt_dev_rule rt_default_devices[] = {
    {true, 'c', 1, 3, RT_DEV_RWM},		    /* null */
    {true, 'c', 1, 5, RT_DEV_RWM},		    /* zero */
    {true, 'c', 1, 7, RT_DEV_RWM},		    /* full */
    {true, 'c', 1, 8, RT_DEV_RWM},		    /* random */
    {true, 'c', 1, 9, RT_DEV_RWM},		    /* urandom */
    {true, 'c', 5, 0, RT_DEV_RWM},		    /* tty */
    {true, 'c', 5, 1, RT_DEV_RWM},		    /* console */
    {true, 'c', 5, 2, RT_DEV_RWM},		    /* ptmx */
    {true, 'c', 136, RES_DEV_WILDCARD, RT_DEV_RWM}, /* pts */
    {true, 'c', 10, 200, RT_DEV_RWM},		    /* net/tun */
};
const size_t rt_n_default_devices = ARRAY_SIZE(rt_default_devices);

uint64_t rt_cpu_shares_to_weight(uint64_t shares)
{
	if (shares == 0)
		return 0;
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t rt_blkio_weight_to_io_weight(uint64_t weight)
{
	if (weight == 0)
		return 0;
	if (weight < 10)
		weight = 10;
	if (weight > 1000)
		weight = 1000;
	return 1 + ((weight - 10) * 9999) / 990;
}

int rt_swap_to_v2(int64_t limit, int64_t swap, int64_t *ret, bool *ret_set, struct err *err)
{
	*ret_set = false;
	if (swap == 0)
		return 0;
	if (swap == -1) {
		*ret = -1;
		*ret_set = true;
		return 0;
	}
	if (limit == 0 || limit == -1)
		return err_msg(err, EINVAL, "a swap limit needs a memory limit");
	if (swap < limit)
		return err_msg(err, EINVAL,
			       "%" PRId64 " is below memory.limit %" PRId64
			       " (swap is memory+swap)",
			       swap, limit);
	*ret = swap - limit;
	*ret_set = true;
	return 0;
}

/* Scalar fields, one row each: where they live in the JSON and in the struct. */
enum scalar_kind { K_I64_MEM, K_I64, K_U64, K_BOOL, K_STR_CPULIST };

struct scalar {
	const char *section, *key;
	enum scalar_kind kind;
	uint64_t max;
	size_t off;
	enum rt_res_field field;
};

#define OFF(m) offsetof(struct rt_resources, m)
static const struct scalar scalars[] = {
    {"memory", "limit", K_I64_MEM, 0, OFF(mem_limit), RES_MEM_LIMIT},
    {"memory", "reservation", K_I64_MEM, 0, OFF(mem_reservation), RES_MEM_RESERVATION},
    {"memory", "swap", K_I64_MEM, 0, OFF(mem_swap), RES_MEM_SWAP},
    {"memory", "swappiness", K_U64, 100, OFF(mem_swappiness), RES_MEM_SWAPPINESS},
    {"memory", "disableOOMKiller", K_BOOL, 0, OFF(mem_disable_oom), RES_MEM_NO_OOM},
    {"cpu", "shares", K_U64, UINT64_MAX, OFF(cpu_shares), RES_CPU_SHARES},
    {"cpu", "quota", K_I64, 0, OFF(cpu_quota), RES_CPU_QUOTA},
    {"cpu", "period", K_U64, UINT64_MAX, OFF(cpu_period), RES_CPU_PERIOD},
    {"cpu", "realtimeRuntime", K_I64, 0, OFF(cpu_rt_runtime), RES_CPU_RT_RUNTIME},
    {"cpu", "realtimePeriod", K_U64, UINT64_MAX, OFF(cpu_rt_period), RES_CPU_RT_PERIOD},
    {"cpu", "cpus", K_STR_CPULIST, 0, OFF(cpu_cpus), RES_CPU_CPUS},
    {"cpu", "mems", K_STR_CPULIST, 0, OFF(cpu_mems), RES_CPU_MEMS},
    {"cpu", "idle", K_I64, 0, OFF(cpu_idle), RES_CPU_IDLE},
    {"pids", "limit", K_I64, 0, OFF(pids_limit), RES_PIDS_LIMIT},
    {"blockIO", "weight", K_U64, 1000, OFF(blkio_weight), RES_BLKIO_WEIGHT},
    {"blockIO", "leafWeight", K_U64, 1000, OFF(blkio_leaf_weight), RES_BLKIO_LEAF_WEIGHT},
};

static bool valid_cpulist(const char *s)
{
	return strspn(s, "0123456789,- ") == strlen(s);
}

static int parse_scalar(json_t *sec, const char *spath, const struct scalar *sc,
			struct rt_resources *res, struct err *err)
{
	char *p = (char *)res + sc->off;
	int r;

	switch (sc->kind) {
	case K_I64_MEM:
	case K_I64:
		r = js_i64(sec, spath, sc->key, (int64_t *)p, err);
		if (r > 0 && sc->kind == K_I64_MEM && *(int64_t *)p < -1) {
			_cleanup_free_ char *f = js_path(spath, sc->key);
			return err_msg(err, EINVAL, "%s: invalid %" PRId64 " (bytes, or -1)", f,
				       *(int64_t *)p);
		}
		break;
	case K_U64:
		r = js_u64(sec, spath, sc->key, sc->max, (uint64_t *)p, err);
		break;
	case K_BOOL:
		r = js_bool(sec, spath, sc->key, (bool *)p, err);
		break;
	case K_STR_CPULIST:
		r = js_str(sec, spath, sc->key, false, (char **)p, err);
		if (r > 0 && !valid_cpulist(*(char **)p)) {
			_cleanup_free_ char *f = js_path(spath, sc->key);
			return err_msg(err, EINVAL, "%s: invalid '%s'", f, *(char **)p);
		}
		break;
	default:
		r = 0;
	}
	if (r > 0)
		res->set |= RES_BIT(sc->field);
	return r < 0 ? r : 0;
}

static int parse_scalars(json_t *obj, const char *path, struct rt_resources *res, struct err *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(scalars); i++) {
		const struct scalar *sc = &scalars[i];
		_cleanup_free_ char *spath = js_path(path, sc->section);
		json_t *sec = NULL;
		int r = js_get(obj, path, sc->section, JSON_OBJECT, false, &sec, err);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		r = parse_scalar(sec, spath, sc, res, err);
		if (r < 0)
			return r;
	}
	if (rt_res_has(res, RES_BLKIO_WEIGHT) && res->blkio_weight != 0 && res->blkio_weight < 10)
		return err_msg(err, EINVAL, "%s.blockIO.weight: %" PRIu64 " out of range 10..1000",
			       path, res->blkio_weight);
	if (rt_res_has(res, RES_CPU_IDLE) && res->cpu_idle != 0 && res->cpu_idle != 1)
		return err_msg(err, EINVAL, "%s.cpu.idle: invalid %" PRId64 " (0 or 1)", path,
			       res->cpu_idle);
	return 0;
}

/* Iterates an optional array field: fetches it, checks its size and that each element
 * is an object, and hands each to fn with its path ("x.devices[2]"). */
typedef int (*elem_fn)(json_t *e, const char *epath, void *out, struct err *err);
static int parse_hugepage(json_t *e, const char *epath, void *out, struct err *err);

static void hugepage_free(struct rt_hugepage *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(h[i].size);
	free(h);
}

static int parse_array(json_t *obj, const char *path, const char *key, size_t elem_size, elem_fn fn,
		       void **ret, size_t *ret_n, struct err *err)
{
	_cleanup_free_ char *apath = js_path(path, key);
	_cleanup_free_ char *items = NULL;
	json_t *arr = NULL, *e;
	size_t i, n;
	int r = js_get(obj, path, key, JSON_ARRAY, false, &arr, err);

	if (r <= 0)
		return r;
	n = json_array_size(arr);
	if (n > MAX_LIST)
		return err_msg(err, E2BIG, "%s: more than %d entries", apath, MAX_LIST);
	items = xcalloc(n, elem_size);
	json_array_foreach(arr, i, e)
	{
		_cleanup_free_ char *epath = js_index(apath, i);
		if (!json_is_object(e))
			return err_msg(err, EINVAL, "%s: expected an object", epath);
		r = fn(e, epath, items + i * elem_size, err);
		if (r < 0) {
			/* only hugepage entries own memory (their pageSize) */
			if (fn == parse_hugepage)
				hugepage_free((struct rt_hugepage *)take_ptr(items), i + 1);
			return r;
		}
	}
	*ret = take_ptr(items);
	*ret_n = n;
	return 1;
}

static int parse_devnum(json_t *e, const char *epath, const char *key, bool required, int64_t *ret,
			struct err *err)
{
	int r = js_i64(e, epath, key, ret, err);
	if (r < 0)
		return r;
	if (r == 0 && required) {
		_cleanup_free_ char *f = js_path(epath, key);
		return err_msg(err, EINVAL, "%s: missing required field", f);
	}
	if (*ret < -1 || *ret > DEV_MAX) {
		_cleanup_free_ char *f = js_path(epath, key);
		return err_msg(err, EINVAL, "%s: invalid %" PRId64, f, *ret);
	}
	return 0;
}

static int parse_access(const char *s, unsigned *ret)
{
	unsigned acc = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		switch (*s) {
		case 'r':
			acc |= RT_DEV_READ;
			break;
		case 'w':
			acc |= RT_DEV_WRITE;
			break;
		case 'm':
			acc |= RT_DEV_MKNOD;
			break;
		default:
			return -EINVAL;
		}
	}
	*ret = acc;
	return 0;
}

static int parse_device(json_t *e, const char *epath, void *out, struct err *err)
{
	struct rt_dev_rule *d = out;
	_cleanup_free_ char *type = NULL, *access = NULL;
	int r;

	d->major = d->minor = RES_DEV_WILDCARD;
	d->access = RT_DEV_RWM;
	d->type = 'a';
	if ((r = js_bool(e, epath, "allow", &d->allow, err)) < 0)
		return r;
	if (r == 0)
		return err_msg(err, EINVAL, "%s.allow: missing required field", epath);
	if ((r = js_str(e, epath, "type", false, &type, err)) < 0)
		return r;
	if (type && (strlen(type) != 1 || !strchr("acb", type[0])))
		return err_msg(err, EINVAL, "%s.type: invalid '%s' (a, c or b)", epath, type);
	if (type)
		d->type = type[0];
	if ((r = parse_devnum(e, epath, "major", false, &d->major, err)) < 0 ||
	    (r = parse_devnum(e, epath, "minor", false, &d->minor, err)) < 0)
		return r;
	if ((r = js_str(e, epath, "access", false, &access, err)) < 0)
		return r;
	if (access && parse_access(access, &d->access) < 0)
		return err_msg(err, EINVAL, "%s.access: invalid '%s'", epath, access);
	return 0;
}

static int parse_weight_dev(json_t *e, const char *epath, void *out, struct err *err)
{
	struct rt_blkio_dev *d = out;
	int r;

	if ((r = parse_devnum(e, epath, "major", true, &d->major, err)) < 0 ||
	    (r = parse_devnum(e, epath, "minor", true, &d->minor, err)) < 0)
		return r;
	if ((r = js_u64(e, epath, "weight", 1000, &d->weight, err)) < 0)
		return r;
	d->has_weight = r > 0;
	if ((r = js_u64(e, epath, "leafWeight", 1000, &d->leaf_weight, err)) < 0)
		return r;
	d->has_leaf_weight = r > 0;
	return 0;
}

static int parse_throttle(json_t *e, const char *epath, void *out, struct err *err)
{
	struct rt_throttle *t = out;
	int r;

	if ((r = parse_devnum(e, epath, "major", true, &t->major, err)) < 0 ||
	    (r = parse_devnum(e, epath, "minor", true, &t->minor, err)) < 0)
		return r;
	if ((r = js_u64(e, epath, "rate", UINT64_MAX, &t->rate, err)) < 0)
		return r;
	if (r == 0)
		return err_msg(err, EINVAL, "%s.rate: missing required field", epath);
	return 0;
}

static bool valid_page_size(const char *s)
{
	size_t n = strspn(s, "0123456789");
	return n > 0 && s[n] && strchr("KMGT", s[n]) && streq(s + n + 1, "B");
}

static int parse_hugepage(json_t *e, const char *epath, void *out, struct err *err)
{
	struct rt_hugepage *h = out;
	int r;

	if ((r = js_str(e, epath, "pageSize", true, &h->size, err)) < 0)
		return r;
	if (!valid_page_size(h->size))
		return err_msg(err, EINVAL, "%s.pageSize: invalid '%s' (like 2MB)", epath, h->size);
	if ((r = js_u64(e, epath, "limit", UINT64_MAX, &h->limit, err)) < 0)
		return r;
	if (r == 0)
		return err_msg(err, EINVAL, "%s.limit: missing required field", epath);
	return 0;
}

static const char *const throttle_keys[RT_THR__MAX] = {
    "throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice",
    "throttleWriteIOPSDevice"};

static int parse_blkio_lists(json_t *obj, const char *path, struct rt_resources *res,
			     struct err *err)
{
	_cleanup_free_ char *bpath = js_path(path, "blockIO");
	json_t *b = NULL;
	int r = js_get(obj, path, "blockIO", JSON_OBJECT, false, &b, err);

	if (r <= 0)
		return r;
	r = parse_array(b, bpath, "weightDevice", sizeof(struct rt_blkio_dev), parse_weight_dev,
			(void **)&res->weight_dev, &res->n_weight_dev, err);
	if (r < 0)
		return r;
	if (r > 0)
		res->set |= RES_BIT(RES_BLKIO_WEIGHT_DEVICE);
	for (int i = 0; i < RT_THR__MAX; i++) {
		r = parse_array(b, bpath, throttle_keys[i], sizeof(struct rt_throttle),
				parse_throttle, (void **)&res->throttle[i], &res->n_throttle[i],
				err);
		if (r < 0)
			return r;
		if (r > 0)
			res->set |= RES_BIT(RES_BLKIO_THROTTLE);
	}
	return 0;
}

static bool valid_unified_key(const char *k)
{
	return *k && *k != '.' && !strchr(k, '/') && strchr(k, '.');
}

static int parse_unified(json_t *obj, const char *path, struct rt_resources *res, struct err *err)
{
	_cleanup_free_ char *upath = js_path(path, "unified");
	json_t *u = NULL, *v;
	const char *k;
	int r = js_get(obj, path, "unified", JSON_OBJECT, false, &u, err);

	if (r <= 0)
		return r;
	if (json_object_size(u) > MAX_LIST)
		return err_msg(err, E2BIG, "%s: more than %d keys", upath, MAX_LIST);
	res->unified = xcalloc(json_object_size(u), sizeof(*res->unified));
	json_object_foreach(u, k, v)
	{
		if (!valid_unified_key(k))
			return err_msg(err, EINVAL, "%s: invalid key '%s'", upath, k);
		if (!json_is_string(v))
			return err_msg(err, EINVAL, "%s.%s: expected a string", upath, k);
		res->unified[res->n_unified].key = xstrdup(k);
		res->unified[res->n_unified++].value = xstrdup(json_string_value(v));
	}
	res->set |= RES_BIT(RES_UNIFIED);
	return 0;
}

static void res_free_p(struct rt_resources **r)
{
	rt_resources_free(*r);
}

int rt_resources_parse(json_t *obj, const char *path, struct rt_resources **ret, struct err *err)
{
	_cleanup_(res_free_p) struct rt_resources *res = xcalloc(1, sizeof(*res));
	int r;

	res->path = xstrdup(path ? path : "linux.resources");
	if (!obj || json_is_null(obj)) {
		*ret = take_ptr(res);
		return 0;
	}
	if (!json_is_object(obj))
		return err_msg(err, EINVAL, "%s: expected an object", res->path);
	path = res->path;
	if ((r = parse_scalars(obj, path, res, err)) < 0 ||
	    (r = parse_blkio_lists(obj, path, res, err)) < 0)
		return r;
	r = parse_array(obj, path, "hugepageLimits", sizeof(struct rt_hugepage), parse_hugepage,
			(void **)&res->huge, &res->n_huge, err);
	if (r < 0)
		return r;
	if (r > 0)
		res->set |= RES_BIT(RES_HUGEPAGES);
	r = parse_array(obj, path, "devices", sizeof(struct rt_dev_rule), parse_device,
			(void **)&res->devices, &res->n_devices, err);
	if (r < 0)
		return r;
	if (r > 0)
		res->set |= RES_BIT(RES_DEVICES);
	if ((r = parse_unified(obj, path, res, err)) < 0)
		return r;
	*ret = take_ptr(res);
	return 0;
}

void rt_resources_free(struct rt_resources *res)
{
	if (!res)
		return;
	free(res->path);
	free(res->cpu_cpus);
	free(res->cpu_mems);
	free(res->weight_dev);
	for (int i = 0; i < RT_THR__MAX; i++)
		free(res->throttle[i]);
	hugepage_free(res->huge, res->n_huge);
	free(res->devices);
	for (size_t i = 0; i < res->n_unified; i++) {
		free(res->unified[i].key);
		free(res->unified[i].value);
	}
	free(res->unified);
	free(res);
}

static void *memdup_n(const void *p, size_t n, size_t size)
{
	void *q = xcalloc(n, size);
	if (n)
		memcpy(q, p, n * size);
	return q;
}

/* Lists are replaced whole: a list in `update` is the new list, not an addition. */
static void merge_lists(struct rt_resources *dst, const struct rt_resources *src)
{
	if (rt_res_has(src, RES_BLKIO_WEIGHT_DEVICE)) {
		free(dst->weight_dev);
		dst->weight_dev =
		    memdup_n(src->weight_dev, src->n_weight_dev, sizeof(*src->weight_dev));
		dst->n_weight_dev = src->n_weight_dev;
	}
	if (rt_res_has(src, RES_BLKIO_THROTTLE)) {
		for (int i = 0; i < RT_THR__MAX; i++) {
			free(dst->throttle[i]);
			dst->throttle[i] = memdup_n(src->throttle[i], src->n_throttle[i],
						    sizeof(struct rt_throttle));
			dst->n_throttle[i] = src->n_throttle[i];
		}
	}
	if (rt_res_has(src, RES_HUGEPAGES)) {
		hugepage_free(dst->huge, dst->n_huge);
		dst->huge = xcalloc(src->n_huge, sizeof(*dst->huge));
		for (size_t i = 0; i < src->n_huge; i++) {
			dst->huge[i].size = xstrdup(src->huge[i].size);
			dst->huge[i].limit = src->huge[i].limit;
		}
		dst->n_huge = src->n_huge;
	}
	if (rt_res_has(src, RES_DEVICES)) {
		free(dst->devices);
		dst->devices = memdup_n(src->devices, src->n_devices, sizeof(*src->devices));
		dst->n_devices = src->n_devices;
	}
}

/* unified keys merge one by one: a key in src overrides the same key in dst. */
static void merge_unified(struct rt_resources *dst, const struct rt_resources *src)
{
	for (size_t i = 0; i < src->n_unified; i++) {
		size_t j;
		for (j = 0; j < dst->n_unified; j++)
			if (streq(dst->unified[j].key, src->unified[i].key))
				break;
		if (j == dst->n_unified) {
			dst->unified = xrealloc(dst->unified, (j + 1) * sizeof(*dst->unified));
			dst->unified[j].key = xstrdup(src->unified[i].key);
			dst->n_unified++;
		} else {
			free(dst->unified[j].value);
		}
		dst->unified[j].value = xstrdup(src->unified[i].value);
	}
}

void rt_resources_merge(struct rt_resources *dst, const struct rt_resources *src)
{
	if (!dst || !src)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(scalars); i++) {
		const struct scalar *sc = &scalars[i];
		const char *sp = (const char *)src + sc->off;
		char *dp = (char *)dst + sc->off;

		if (!rt_res_has(src, sc->field))
			continue;
		switch (sc->kind) {
		case K_I64_MEM:
		case K_I64:
			*(int64_t *)dp = *(const int64_t *)sp;
			break;
		case K_U64:
			*(uint64_t *)dp = *(const uint64_t *)sp;
			break;
		case K_BOOL:
			*(bool *)dp = *(const bool *)sp;
			break;
		case K_STR_CPULIST:
			free(*(char **)dp);
			*(char **)dp = xstrdup(*(char *const *)sp);
			break;
		}
	}
	merge_lists(dst, src);
	merge_unified(dst, src);
	dst->set |= src->set;
}
