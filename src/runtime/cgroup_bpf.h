/* cgroup_bpf: device access control. The OCI rule list is first reduced, the way the
 * v1 devices controller would, to a default (allow or deny) plus exceptions; v1 writes
 * that state to devices.deny/devices.allow, v2 compiles it to a
 * BPF_PROG_TYPE_CGROUP_DEVICE program attached with BPF_F_ALLOW_MULTI. */
#ifndef COOP_RUNTIME_CGROUP_BPF_H
#define COOP_RUNTIME_CGROUP_BPF_H

#include <linux/bpf.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "runtime/cgroup_res.h"

struct rt_dev_state {
	bool allow_default;	/* default policy */
	struct rt_dev_rule *ex; /* exceptions: allows under deny, denies under allow */
	size_t n;
};

/* Starts from deny-all, applies rules in order, then the runtime's default devices
 * (when with_defaults) — the kernel's v1 semantics, so the last matching rule wins. */
void rt_dev_emulate(const struct rt_dev_rule *rules, size_t n, bool with_defaults,
		    struct rt_dev_state *ret);
void rt_dev_state_clear(struct rt_dev_state *st);
/* The verdict for one access (type 'c'/'b', access RT_DEV_* bits): 1 allowed, 0 not. */
int rt_dev_check(const struct rt_dev_state *st, char type, unsigned major, unsigned minor,
		 unsigned access);
/* "c 1:3 rwm" / "b *:* r", as devices.allow wants it. */
void rt_dev_format(const struct rt_dev_rule *r, char *buf, size_t len);

/* The program for st; caller frees *ret. */
void rt_devbpf_build(const struct rt_dev_state *st, struct bpf_insn **ret, size_t *ret_n);
int rt_devbpf_load(const struct bpf_insn *insns, size_t n, int *ret_fd, struct err *err);
/* Attaches prog_fd to the cgroup directory cgfd; with replace, detaches the device
 * programs that were attached before (after the new one is in, so there is no gap). */
int rt_devbpf_attach(int cgfd, int prog_fd, bool replace, struct err *err);

#endif
