/* metrics: a container's resource use from its cgroup (v1: cpuacct.usage,
 * memory.usage_in_bytes, pids.current, blkio.throttle.io_service_bytes; v2: cpu.stat
 * usage_usec, memory.current, pids.current, io.stat) and its network counters from
 * /proc/<init>/net/dev; CPU % against the previous sample. Parsers are pure. */
#ifndef COOP_AGENT_METRICS_H
#define COOP_AGENT_METRICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

struct ag_metrics_sample {
	bool valid;
	uint64_t t_ns;   /* monotonic */
	uint64_t cpu_ns; /* cumulative CPU time */
};

/* "key value" lines: the value of key; -ENOENT when absent. */
int ag_parse_keyed(const char *text, const char *key, uint64_t *ret);
/* blkio.throttle.io_service_bytes (v1): the Read/Write sums over devices. */
void ag_parse_blkio_v1(const char *text, uint64_t *ret_read, uint64_t *ret_write);
/* io.stat (v2): rbytes/wbytes summed over devices. */
void ag_parse_io_v2(const char *text, uint64_t *ret_read, uint64_t *ret_write);
/* /proc/PID/net/dev: rx/tx bytes summed over every interface but lo. */
void ag_parse_net_dev(const char *text, uint64_t *ret_rx, uint64_t *ret_tx);
/* CPU % of one CPU (100 = one full core) between two samples; 0 without a previous. */
double ag_cpu_percent(const struct ag_metrics_sample *prev, const struct ag_metrics_sample *cur);

/* {cpu_percent, cpu_ns, memory_bytes, memory_limit, pids, net_rx, net_tx, blk_read,
 * blk_write}; prev is updated. cgroup: the runtime's recorded cgroup path. */
int ag_metrics_collect(const char *cgroup, pid_t init, struct ag_metrics_sample *prev,
		       json_t **ret, struct err *err);

#endif
