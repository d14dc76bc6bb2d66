/* cgroup_res: the parsed form of OCI linux.resources, shared by the cgroup drivers
 * (cgroup.c), the device filter (cgroup_bpf.c) and the unit tests. Pure logic: parsing,
 * merging, and the unit conversions cgroup v2 needs. */
#ifndef COOP_RUNTIME_CGROUP_RES_H
#define COOP_RUNTIME_CGROUP_RES_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/cgroup.h"

/* One bit per optional field; `set` says which were present. */
enum rt_res_field {
	RES_MEM_LIMIT,
	RES_MEM_RESERVATION,
	RES_MEM_SWAP,
	RES_MEM_SWAPPINESS,
	RES_MEM_NO_OOM,
	RES_CPU_SHARES,
	RES_CPU_QUOTA,
	RES_CPU_PERIOD,
	RES_CPU_RT_RUNTIME,
	RES_CPU_RT_PERIOD,
	RES_CPU_CPUS,
	RES_CPU_MEMS,
	RES_CPU_IDLE,
	RES_PIDS_LIMIT,
	RES_BLKIO_WEIGHT,
	RES_BLKIO_LEAF_WEIGHT,
	RES_BLKIO_WEIGHT_DEVICE,
	RES_BLKIO_THROTTLE, /* any of the four throttle lists */
	RES_HUGEPAGES,
	RES_DEVICES,
	RES_UNIFIED,
	RES__MAX
};

#define RES_BIT(f) (UINT64_C(1) << (f))
#define RES_DEV_WILDCARD (-1)

/* Device access bits, the values the kernel's bpf_cgroup_dev_ctx uses. */
enum { RT_DEV_MKNOD = 1, RT_DEV_READ = 2, RT_DEV_WRITE = 4, RT_DEV_RWM = 7 };

struct rt_dev_rule {
	bool allow;
	char type;     /* 'a', 'c' or 'b' */
	int64_t major; /* RES_DEV_WILDCARD for any */
	int64_t minor;
	unsigned access; /* RT_DEV_* bits */
};

struct rt_blkio_dev {
	int64_t major, minor;
	bool has_weight, has_leaf_weight;
	uint64_t weight, leaf_weight;
};

struct rt_throttle {
	int64_t major, minor;
	uint64_t rate;
};

enum { RT_THR_READ_BPS, RT_THR_WRITE_BPS, RT_THR_READ_IOPS, RT_THR_WRITE_IOPS, RT_THR__MAX };

struct rt_hugepage {
	char *size; /* "2MB" */
	uint64_t limit;
};

struct rt_kv {
	char *key, *value;
};

struct rt_resources {
	char *path; /* "linux.resources", prefixes errors found when applying */
	uint64_t set;

	int64_t mem_limit, mem_reservation, mem_swap; /* -1 = unlimited */
	uint64_t mem_swappiness;
	bool mem_disable_oom;

	uint64_t cpu_shares, cpu_period, cpu_rt_period;
	int64_t cpu_quota, cpu_rt_runtime, cpu_idle;
	char *cpu_cpus, *cpu_mems;

	int64_t pids_limit;

	uint64_t blkio_weight, blkio_leaf_weight;
	struct rt_blkio_dev *weight_dev;
	size_t n_weight_dev;
	struct rt_throttle *throttle[RT_THR__MAX];
	size_t n_throttle[RT_THR__MAX];

	struct rt_hugepage *huge;
	size_t n_huge;

	struct rt_dev_rule *devices;
	size_t n_devices;

	struct rt_kv *unified;
	size_t n_unified;
};

static inline bool rt_res_has(const struct rt_resources *r, enum rt_res_field f)
{
	return r && (r->set & RES_BIT(f));
}

/* cpu.shares (2..262144) to cpu.weight (1..10000); 0 stays 0 (unset). */
uint64_t rt_cpu_shares_to_weight(uint64_t shares);
/* blkio.weight (10..1000) to io.weight (1..10000); 0 stays 0. */
uint64_t rt_blkio_weight_to_io_weight(uint64_t weight);
/* OCI swap is memory+swap; memory.swap.max is swap alone. limit/swap 0 = unset,
 * -1 = unlimited. Sets *ret to the swap.max value (-1 = "max"), or returns 0 with
 * *ret_set false when nothing is to be written. */
int rt_swap_to_v2(int64_t limit, int64_t swap, int64_t *ret, bool *ret_set, struct err *err);

/* The runtime's own device allow rules, appended after the spec's (last match wins). */
extern const struct rt_dev_rule rt_default_devices[];
extern const size_t rt_n_default_devices;

#endif
