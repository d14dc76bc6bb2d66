/* The fast path's maps as both sides see them: the tc program (fastpath.bpf.c, built
 * with clang -target bpf) and its loader (net/fastpath.c). Addresses are in network
 * order. FP_VERSION changes whenever the program or these layouts do: a loader finding
 * another version attached replaces it. */
#ifndef COOP_NET_BPF_FASTPATH_H
#define COOP_NET_BPF_FASTPATH_H

#include <linux/types.h>

#define FP_VERSION 1

struct fp_cfg {
	__u32 version;       /* FP_VERSION of the loader that wrote it */
	__u32 vxlan_ifindex; /* the VPC's VXLAN device; 0: off (everything goes on) */
	__u32 net;           /* the VPC's CIDR: net & mask */
	__u32 mask;
	__u8 gw_mac[6];      /* source MAC of what is delivered to a container: its bridge's */
	__u8 pad[2];
};

struct fp_ep {
	__u32 ifindex;       /* the host side of the container's veth */
};

enum { FP_STAT_OUT, FP_STAT_IN, FP_STAT_N };

#endif
