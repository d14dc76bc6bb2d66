/* fastpath: the overlay's tc BPF shortcut (net/bpf/fastpath.bpf.c says what it does to a
 * packet). One program instance per VPC with an overlay on this node, attached to the
 * ingress of the VPC's VXLAN device, of its containers' host veths and of the underlay
 * device (one filter per VPC there, its handle from the VNI); its maps (cfg,
 * eps, stats) live as long as it is attached. Nothing is pinned: any coop process of the
 * node (daemon, CLI) finds the instance through the VXLAN device's tc filter, so a daemon
 * restart re-derives it from the state and adopts what is attached.
 *
 * It is an optimisation: everything it passes over works on the normal path (bridge,
 * routing, nft) as before. A node that cannot load it (no libbpf1, no BPF in the kernel,
 * not permitted) logs one warning per overlay apply and carries the overlay there.
 * COOP_NET_FASTPATH=off (in the environment of the daemon or `coop net` command) turns it
 * off and detaches it; =nomesh loads it without its part for published ports (the part
 * that needs nf_conntrack_tcp_be_liberal, which the loader sets otherwise). */
#ifndef COOP_NET_FASTPATH_H
#define COOP_NET_FASTPATH_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/netstate.h"
#include "net/nl.h"
#include "net/overlay.h"

#define NET_FASTPATH_ENV "COOP_NET_FASTPATH"

/* The MAC of the interface holding ip in a VPC: 0a:58 and the IPv4 address. A container's
 * eth0 and a VPC's bridge (its gateway address) get it (net/attach.c), so the program
 * needs no MAC table. */
void net_fastpath_mac(uint32_t ip, uint8_t mac[6]);

/* The program's objects, embedded (net/bpf/fastpath_obj.S): with the routing mesh's part
 * and without. */
extern const unsigned char coop_fastpath_obj[];
extern const unsigned char coop_fastpath_obj_end[];
extern const unsigned char coop_fastpath_mesh_obj[];
extern const unsigned char coop_fastpath_mesh_obj_end[];

/* After vpc's overlay device (vxlan_idx) was set up on the underlay device ul_idx with
 * address local: the program attached to both and to each container veth of vpc, eps
 * exactly vpc's leases, peers exactly peers (validated); loaded when absent or of another version, detached when
 * COOP_NET_FASTPATH=off. Returns true when on. */
bool net_fastpath_sync(struct net_nl *nl, const struct net_vpc *vpc, int vxlan_idx, int ul_idx,
		       struct in_addr local, const struct net_overlay_peer *peers, size_t n_peers);
/* A container of vpc at ip, host veth veth_idx, was just plumbed: on when vpc's overlay
 * has the program here. Failures are warnings. */
void net_fastpath_add(struct net_nl *nl, const struct net_vpc *vpc, int veth_idx, uint32_t ip);
/* The container at ip leaves vpc (its veth, and with it the filter, goes next). */
void net_fastpath_del(struct net_nl *nl, const struct net_vpc *vpc, uint32_t ip);
/* vpc's overlay goes: the program off its containers' veths (the device's goes with it). */
void net_fastpath_off(struct net_nl *nl, const struct net_vpc *vpc);

struct net_fastpath_stats {
	bool on;
	uint64_t out;  /* packets redirected from containers to the VXLAN device */
	uint64_t in;   /* packets redirected from the VXLAN device into containers */
	uint64_t decap; /* VXLAN packets it decapsulated itself into containers */
	uint64_t encap; /* container packets it encapsulated itself to the underlay */
	uint64_t mesh_out;  /* published ports' segments it translated to their backend */
	uint64_t mesh_back; /* and the answers it translated back to the client */
	bool mesh;     /* it carries published ports' established connections */
	unsigned eps;  /* containers it delivers to */
};
/* What vpc's instance here did; on = false when there is none. */
void net_fastpath_read(struct net_nl *nl, const struct net_vpc *vpc,
		       struct net_fastpath_stats *ret);

#endif
