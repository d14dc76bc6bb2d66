/* metrics: cgroup and /proc counters of a running container. */
#include "agent/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/fs.h"
#include "base/util.h"
#include "runtime/cgroup.h"

int ag_parse_keyed(const char *text, const char *key, uint64_t *ret)
{
	size_t k = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, key, k) == 0 && (l[k] == ' ' || l[k] == '\t') &&
		    sscanf(l + k, "%" SCNu64, ret) == 1)
			return 0;
	return -ENOENT;
}

void ag_parse_blkio_v1(const char *text, uint64_t *ret_read, uint64_t *ret_write)
{
	char op[32];
	uint64_t v;

	*ret_read = *ret_write = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		/* "8:0 Read 4096"; the "Total N" line has no device */
		if (sscanf(l, "%*u:%*u %31s %" SCNu64, op, &v) != 2)
			continue;
		if (streq(op, "Read"))
			*ret_read += v;
		else if (streq(op, "Write"))
			*ret_write += v;
	}
}

void ag_parse_io_v2(const char *text, uint64_t *ret_read, uint64_t *ret_write)
{
	uint64_t v;

	*ret_read = *ret_write = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *end = strchr(l, '\n');
		size_t n = end ? (size_t)(end - l) : strlen(l);
		_cleanup_free_ char *line = strndup(l, n);
		char *save = NULL;
		for (char *f = strtok_r(line, " ", &save); f; f = strtok_r(NULL, " ", &save)) {
			if (sscanf(f, "rbytes=%" SCNu64, &v) == 1)
				*ret_read += v;
			else if (sscanf(f, "wbytes=%" SCNu64, &v) == 1)
				*ret_write += v;
		}
	}
}

void ag_parse_net_dev(const char *text, uint64_t *ret_rx, uint64_t *ret_tx)
{
	char name[64];
	uint64_t rx, tx;

	*ret_rx = *ret_tx = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		/* "  eth0: RXBYTES packets errs drop fifo frame compressed multicast TXBYTES ..." */
		if (sscanf(l, " %63[^:]: %" SCNu64 " %*u %*u %*u %*u %*u %*u %*u %" SCNu64, name, &rx,
			   &tx) != 3 ||
		    streq(name, "lo"))
			continue;
		*ret_rx += rx;
		*ret_tx += tx;
	}
}

double ag_cpu_percent(const struct ag_metrics_sample *prev, const struct ag_metrics_sample *cur)
{
	if (!prev->valid || !cur->valid || cur->t_ns <= prev->t_ns || cur->cpu_ns < prev->cpu_ns)
		return 0;
	return 100.0 * (double)(cur->cpu_ns - prev->cpu_ns) / (double)(cur->t_ns - prev->t_ns);
}

static char *read_in(const char *dir, const char *file)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
	char *s = NULL;
	struct err err = { 0 };

	return fs_read(p, &s, &err) == 0 ? s : NULL;
}

static bool read_u64(const char *dir, const char *file, uint64_t *ret)
{
	_cleanup_free_ char *s = dir ? read_in(dir, file) : NULL;

	return s && sscanf(s, "%" SCNu64, ret) == 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void collect_cpu(const struct rt_cgroup *cg, struct ag_metrics_sample *cur)
{
	bool v2 = false;
	const char *d = rt_cgroup_stat_dir(cg, "cpuacct", &v2);
	uint64_t usec;

	cur->t_ns = now_ns();
	if (d && !v2) {
		cur->valid = read_u64(d, "cpuacct.usage", &cur->cpu_ns);
	} else if (d) {
		_cleanup_free_ char *s = read_in(d, "cpu.stat");
		cur->valid = s && ag_parse_keyed(s, "usage_usec", &usec) == 0;
		cur->cpu_ns = usec * 1000;
	}
}

static void collect_mem_pids_io(const struct rt_cgroup *cg, json_t *j)
{
	bool v2 = false;
	const char *d = rt_cgroup_stat_dir(cg, "memory", &v2);
	uint64_t v, r, w;

	if (d && read_u64(d, v2 ? "memory.current" : "memory.usage_in_bytes", &v))
		json_object_set_new(j, "memory_bytes", json_integer((json_int_t)v));
	if (d && read_u64(d, v2 ? "memory.max" : "memory.limit_in_bytes", &v) && v < (1ull << 62))
		json_object_set_new(j, "memory_limit", json_integer((json_int_t)v));
	d = rt_cgroup_stat_dir(cg, "pids", &v2);
	if (d && read_u64(d, "pids.current", &v))
		json_object_set_new(j, "pids", json_integer((json_int_t)v));
	d = rt_cgroup_stat_dir(cg, "blkio", &v2);
	_cleanup_free_ char *s = d ? read_in(d, v2 ? "io.stat" : "blkio.throttle.io_service_bytes") : NULL;
	if (s) {
		if (v2)
			ag_parse_io_v2(s, &r, &w);
		else
			ag_parse_blkio_v1(s, &r, &w);
		json_object_set_new(j, "blk_read", json_integer((json_int_t)r));
		json_object_set_new(j, "blk_write", json_integer((json_int_t)w));
	}
}

int ag_metrics_collect(const char *cgroup, pid_t init, struct ag_metrics_sample *prev,
		       json_t **ret, struct err *err)
{
	struct rt_cgroup *cg = NULL;
	struct ag_metrics_sample cur = { 0 };
	_cleanup_free_ char *netf = xasprintf("/proc/%d/net/dev", (int)init), *net = NULL;
	uint64_t rx, tx;
	json_t *j;
	int r;

	if ((r = rt_cgroup_open(cgroup, &cg, err)) < 0)
		return r;
	collect_cpu(cg, &cur);
	j = json_pack("{s:f,s:I}", "cpu_percent", ag_cpu_percent(prev, &cur), "cpu_ns",
		      (json_int_t)cur.cpu_ns);
	collect_mem_pids_io(cg, j);
	rt_cgroup_free(cg);
	if (init > 0 && fs_read(netf, &net, err) == 0) {
		ag_parse_net_dev(net, &rx, &tx);
		json_object_set_new(j, "net_rx", json_integer((json_int_t)rx));
		json_object_set_new(j, "net_tx", json_integer((json_int_t)tx));
	}
	err_clear(err);
	*prev = cur;
	*ret = j;
	return 0;
}
