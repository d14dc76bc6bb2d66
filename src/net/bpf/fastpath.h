/* The fast path's maps as both sides see them: the tc program (fastpath.bpf.c, built
 * with clang -target bpf) and its loader (net/fastpath.c). Addresses are in network
 * order. FP_VERSION changes whenever the program or these layouts do: a loader finding
 * another version attached replaces it. */
#ifndef COOP_NET_BPF_FASTPATH_H
#define COOP_NET_BPF_FASTPATH_H

#include <linux/types.h>

#define FP_VERSION 3

struct fp_cfg {
	__u32 version;       /* FP_VERSION of the loader that wrote it */
	__u32 vxlan_ifindex; /* the VPC's VXLAN device; 0: off (everything goes on) */
	__u32 net;           /* the VPC's CIDR: net & mask */
	__u32 mask;
	__u8 gw_mac[6];      /* source MAC of what is delivered to a container: its bridge's */
	__u8 pad[2];
	__u32 ul_ifindex;    /* the underlay device (coop_fastpath_ul's) */
	__u32 local;         /* this node's underlay address */
	__u32 vni;           /* the VPC's VNI */
	__u32 ct_est_ms;     /* conntrack's ESTABLISHED timeout; 0: the mesh's part off */
	__u32 mesh_obj;      /* 1: the object with the mesh's part (the loader's note) */
};

struct fp_ep {
	__u32 ifindex;       /* the host side of the container's veth */
};

/* A peer node of the VPC, by its VXLAN device's address (its subnet's .0, the next hop
 * of the route to its subnet). */
struct fp_peer {
	__u32 underlay;      /* its underlay address */
};

/* out: container -> VXLAN device; in: VXLAN device -> container; decap: underlay device
 * -> container, decapsulated by the program; encap: container -> underlay device,
 * encapsulated by the program; mesh_out: a client's segment for a published port here,
 * translated to its backend (into its container here, or encapsulated to its node);
 * mesh_back: the backend's answer, translated back to the client */
enum {
	FP_STAT_OUT,
	FP_STAT_IN,
	FP_STAT_DECAP,
	FP_STAT_ENCAP,
	FP_STAT_MESH_OUT,
	FP_STAT_MESH_BACK,
	FP_STAT_N
};

#define FP_VXLAN_PORT 4789
#define FP_VXLAN_HLEN 8
/* outer IPv4 + UDP + VXLAN + inner Ethernet: what a decapsulation removes */
#define FP_ENCAP_LEN (20 + 8 + FP_VXLAN_HLEN + 14)

#endif
