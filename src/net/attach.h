/* attach: plugs a container's network namespace into a VPC on this node — lease, the
 * VPC's bridge, a veth whose peer is born inside the container as eth0, addresses and
 * the default route, the nft ruleset, /etc files — and takes it out again. Every step
 * is unwound in reverse when a later one fails, so a failed attach leaves nothing. */
#ifndef COOP_NET_ATTACH_H
#define COOP_NET_ATTACH_H

#include <stdint.h>

#include "base/err.h"
#include "net/netstate.h"

struct net_attach_opts {
	const char *workload; /* replicas' shared name in DNS; NULL: none */
	const char *hostname; /* NULL: the owner */
	const char *etc_dir;  /* write hosts, hostname, resolv.conf here; NULL: don't */
	unsigned mtu;         /* 0: the VPC's */
};

/* ns must be opened with the lock held; the lease is saved before any kernel work. */
int net_attach(struct netstate *ns, struct net_vpc *vpc, const char *owner,
	       const char *netns_path, const struct net_attach_opts *opts, uint32_t *ret_ip,
	       struct err *err);
/* Releases owner's lease, drops it from port backends, re-applies nft, and deletes the
 * host side of its veth last (slow in the kernel); the VPC's bridge goes with its last
 * container. */
int net_detach(struct netstate *ns, const char *owner, struct err *err);
/* Deletes a VPC's bridge (absent is fine). */
int net_bridge_remove(const struct net_vpc *vpc, struct err *err);
/* Re-creates what the state describes and the kernel lacks (bridges of VPCs in use,
 * the ruleset) — after a reboot or a manual flush; existing objects are adopted. */
int net_sync(struct netstate *ns, struct err *err);

#endif
