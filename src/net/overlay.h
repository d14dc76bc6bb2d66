/* overlay: a VPC across hosts — flannel's routed VXLAN design, one VXLAN device per VPC
 * ("cx-" + 8 hex of the VPC id), no learning, no multicast. Each node owns one subnet of
 * the VPC; the device carries the subnet's .0 as a /32 and a MAC derived from node + VNI.
 * For every peer: a permanent FDB entry (its MAC -> its underlay address), a permanent
 * neighbour (its .0 -> its MAC) and an onlink route to its subnet via its .0. An nft
 * table (ip coop_overlay) keeps VPCs isolated across hosts.
 *
 * The validation, peer-file parsing and the diff between what the kernel has and what is
 * wanted are pure (unit-tested); apply reads the kernel, then changes only what differs. */
#ifndef COOP_NET_OVERLAY_H
#define COOP_NET_OVERLAY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "net/ipam.h"
#include "net/netstate.h"
#include "net/nl.h"

#define NET_OVERLAY_PREFIX "cx-"
#define NET_OVERLAY_PORT 4789
#define NET_OVERLAY_OVERHEAD 50     /* outer IPv4 20 + UDP 8 + VXLAN 8 + Ethernet 14 */
#define NET_OVERLAY_MAX_PEERS 1024  /* per VPC */
#define NET_OVERLAY_NFT_TABLE "ip coop_overlay"

/* This node in one VPC's overlay. */
struct net_overlay_self {
	const char *node;         /* its name: the vtep MAC is derived from it and the VNI */
	uint32_t vni;             /* the same on every node of the VPC */
	struct in_addr underlay;  /* this node's underlay address */
	const char *underlay_dev; /* the device it is on */
	unsigned underlay_mtu;    /* the overlay gets underlay_mtu - 50 */
	struct net_cidr subnet;   /* this node's subnet of the VPC (the VPC's subnet here) */
};

struct net_overlay_peer {
	char *node;
	struct in_addr underlay;
	struct net_cidr subnet;
	uint8_t mac[6];           /* its vtep MAC; derived from node + VNI unless has_mac */
	bool has_mac;
};

/* What is (or should be) programmed on one VXLAN device. */
struct net_overlay_entries {
	struct net_fdb_entry *fdb;
	size_t n_fdb;
	struct net_neigh_entry *neigh;
	size_t n_neigh;
	struct net_route_entry *routes;
	size_t n_routes;
};

enum net_overlay_op_kind {
	NET_OVERLAY_FDB_SET,
	NET_OVERLAY_NEIGH_SET,
	NET_OVERLAY_ROUTE_SET,
	NET_OVERLAY_ROUTE_DEL,
	NET_OVERLAY_NEIGH_DEL,
	NET_OVERLAY_FDB_DEL,
};

struct net_overlay_op {
	enum net_overlay_op_kind kind;
	struct net_fdb_entry fdb;
	struct net_neigh_entry neigh;
	struct net_route_entry route;
};

/* Another VPC's overlay on this node (for the VNI clash check). */
struct net_overlay_other {
	const char *vpc;
	uint32_t vni;
};

/* ---- pure ---- */

/* "cx-" + the first 8 hex of the VPC id. */
void net_overlay_dev_name(const struct net_vpc *vpc, char buf[16]);
/* 02:xx:xx:xx:xx:xx, locally administered, unicast, from a hash of node and vni. */
void net_overlay_vtep_mac(const char *node, uint32_t vni, uint8_t mac[6]);
/* Parses a peer list: [{"node": "h2", "underlay": "10.250.0.2", "subnet": "10.213.2.0/24",
 * "mac": "02:..."(optional)}, ...]. what names the source in errors. */
int net_overlay_peers_parse(const char *text, const char *what, struct net_overlay_peer **ret,
			    size_t *ret_n, struct err *err);
void net_overlay_peers_free(struct net_overlay_peer *peers, size_t n);
/* Checks self and peers against the VPC and the other overlays here, and fills in the
 * peers' derived MACs. Refuses: a bad VNI or MTU, self's subnet not the VPC's subnet
 * here, a peer subnet outside the CIDR or overlapping another's (or self's), an underlay
 * address claimed twice, a node or MAC named twice, a VNI used by another VPC. */
int net_overlay_validate(const struct net_vpc *vpc, const struct net_overlay_self *self,
			 struct net_overlay_peer *peers, size_t n,
			 const struct net_overlay_other *others, size_t n_others, struct err *err);
/* The entries the peers need (validated peers). Free with net_overlay_entries_free. */
void net_overlay_want(const struct net_overlay_peer *peers, size_t n,
		      struct net_overlay_entries *ret);
void net_overlay_entries_free(struct net_overlay_entries *e);
/* The changes turning have into want: sets first (fdb, neigh, route), then deletions
 * (route, neigh, fdb). Entries already right are not touched. Returns the count;
 * *ret is the caller's to free (NULL when 0). */
size_t net_overlay_plan(const struct net_overlay_entries *have,
			const struct net_overlay_entries *want, struct net_overlay_op **ret);
/* The isolation table for the VPCs of ns that have an overlay (has[i] for ns->vpcs[i]). */
char *net_overlay_nft_render(const struct netstate *ns, const bool *has);

/* ---- kernel ---- */

/* Converges this node's overlay of vpc to exactly self + peers (idempotent): validates
 * everything first (nothing is programmed on bad input), creates or re-creates the
 * device, applies the plan, sets the VPC's MTU (state, bridge and attached containers)
 * to underlay - 50 and the isolation table. ns must be opened with the lock held; it is
 * saved. Returns the number of changes made. */
int net_overlay_apply(struct netstate *ns, struct net_vpc *vpc, const struct net_overlay_self *self,
		      struct net_overlay_peer *peers, size_t n, struct err *err);
/* Deletes vpc's overlay device (and with it its entries); absent is fine. */
int net_overlay_remove(struct netstate *ns, struct net_vpc *vpc, struct err *err);

struct net_overlay_info {
	char dev[16];
	uint32_t vni;
	struct in_addr local;
	struct net_overlay_entries have;
};
/* What vpc's overlay device carries; -ENODEV when it has none. */
int net_overlay_read(const struct net_vpc *vpc, struct net_overlay_info *ret, struct err *err);

#endif
