/* nl: rtnetlink through libmnl — links (bridges, veth pairs, VXLAN), addresses, routes,
 * neighbours, FDB entries, bridge-port flags. One request, one ack, errors naming the
 * object: "add veth 'cv1a2b3c' peer 'eth0': File exists". Nothing shells out to `ip`.
 * A handle is bound to the network namespace it was opened in. */
#ifndef COOP_NET_NL_H
#define COOP_NET_NL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct net_nl;

/* Opens a NETLINK_ROUTE socket in the current network namespace. */
int net_nl_open(struct net_nl **ret, struct err *err);
/* Opens one in the namespace at path ("/proc/PID/ns/net", "/run/netns/x"): the
 * calling thread enters it only for the socket() call. */
int net_nl_open_ns(const char *netns_path, struct net_nl **ret, struct err *err);
void net_nl_close(struct net_nl *nl);

/* ifindex of name, or -ENODEV (err filled). */
int net_link_index(struct net_nl *nl, const char *name, struct err *err);
int net_link_mac(struct net_nl *nl, int ifindex, uint8_t mac[6], struct err *err);

int net_bridge_add(struct net_nl *nl, const char *name, unsigned mtu, struct err *err);
/* A veth pair; the peer is created directly in the namespace peer_netns_fd (-1: here)
 * under peer_name. */
int net_veth_add(struct net_nl *nl, const char *name, const char *peer_name, int peer_netns_fd,
		 unsigned mtu, struct err *err);
/* A VXLAN device without learning: vni, local underlay address, underlay device,
 * UDP port (4789). Forwarding is static (FDB + neighbours + routes). */
int net_vxlan_add(struct net_nl *nl, const char *name, uint32_t vni, struct in_addr local,
		  int dev_ifindex, uint16_t port, unsigned mtu, struct err *err);

struct net_link_change {
	int up;          /* 1 up, 0 down, -1 unchanged */
	unsigned mtu;    /* 0 unchanged */
	int master;      /* ifindex of a bridge; 0 unchanged; -1 nomaster */
	const char *name;/* rename; NULL unchanged */
	int netns_fd;    /* move; -1 unchanged */
	const uint8_t *mac; /* Ethernet address (6 bytes); NULL unchanged */
};
int net_link_set(struct net_nl *nl, int ifindex, const struct net_link_change *c, struct err *err);
/* Hairpin on a bridge port (a container reaching its own published port). */
int net_bridge_port_hairpin(struct net_nl *nl, int ifindex, bool on, struct err *err);
/* Deletes a link; -ENODEV is success. Slow in the kernel (15-40 ms): keep it off start paths. */
int net_link_del(struct net_nl *nl, const char *name, struct err *err);
/* Names of links starting with prefix (re-adoption after a restart); caller frees. */
int net_link_list(struct net_nl *nl, const char *prefix, char ***ret, struct err *err);

/* Adding replaces (re-adoption is not an error); deleting what is absent succeeds, as do
 * net_route_del, net_neigh_del and net_fdb_del. */
int net_addr_add(struct net_nl *nl, int ifindex, struct in_addr addr, int prefixlen,
		 struct err *err);
int net_addr_del(struct net_nl *nl, int ifindex, struct in_addr addr, int prefixlen,
		 struct err *err);
/* dst/prefixlen (0.0.0.0/0 = default) via gw (0 = directly connected) on ifindex;
 * onlink for next hops not on a connected subnet (VXLAN peers). Replaces. */
int net_route_set(struct net_nl *nl, struct in_addr dst, int prefixlen, struct in_addr gw,
		  int ifindex, bool onlink, struct err *err);
int net_route_del(struct net_nl *nl, struct in_addr dst, int prefixlen, int ifindex,
		  struct err *err);
/* Permanent neighbour entry ip -> mac on ifindex (replaces). */
int net_neigh_set(struct net_nl *nl, int ifindex, struct in_addr ip, const uint8_t mac[6],
		  struct err *err);
int net_neigh_del(struct net_nl *nl, int ifindex, struct in_addr ip, struct err *err);
/* Permanent FDB entry mac -> remote underlay dst on a VXLAN device (replaces). */
int net_fdb_set(struct net_nl *nl, int ifindex, const uint8_t mac[6], struct in_addr dst,
		struct err *err);
/* Adds another destination for mac (00:00:00:00:00:00 = flood list, head-end replication). */
int net_fdb_append(struct net_nl *nl, int ifindex, const uint8_t mac[6], struct in_addr dst,
		   struct err *err);
int net_fdb_del(struct net_nl *nl, int ifindex, const uint8_t mac[6], struct in_addr dst,
		struct err *err);

/* Dumps of what is programmed on one link, for diffing against a wanted set (the
 * overlay). Arrays are the caller's to free; *ret_n entries. */
struct net_fdb_entry {
	uint8_t mac[6];
	struct in_addr dst; /* remote underlay address (VXLAN) */
};
struct net_neigh_entry {
	struct in_addr ip;
	uint8_t mac[6];
};
struct net_route_entry {
	struct in_addr dst;
	int prefixlen;
	struct in_addr gw; /* 0: directly connected */
};
/* FDB entries with a remote destination on ifindex. */
int net_fdb_list(struct net_nl *nl, int ifindex, struct net_fdb_entry **ret, size_t *ret_n,
		 struct err *err);
/* IPv4 neighbours with a link-layer address on ifindex. */
int net_neigh_list(struct net_nl *nl, int ifindex, struct net_neigh_entry **ret, size_t *ret_n,
		   struct err *err);
/* IPv4 unicast routes of the main table leaving through ifindex. */
int net_route_list(struct net_nl *nl, int ifindex, struct net_route_entry **ret, size_t *ret_n,
		   struct err *err);
/* VNI and local address of a VXLAN link; -EMEDIUMTYPE when the link is not one. */
int net_vxlan_info(struct net_nl *nl, int ifindex, uint32_t *ret_vni, struct in_addr *ret_local,
		   struct err *err);

/* "10.1.2.0/24" -> addr + prefix; errors name the text. Strict: host bits must be zero
 * ("10.1.2.3/24" is refused: "host bits set"). */
int net_cidr_parse(const char *s, struct in_addr *ret_addr, int *ret_prefix, struct err *err);
/* An interface address with its prefix, host bits allowed: "10.1.2.3/24". */
int net_addr_parse(const char *s, struct in_addr *ret_addr, int *ret_prefix, struct err *err);

#endif
