/* ipam: address management, pure — CIDR arithmetic, per-node subnets carved from a
 * network's CIDR (a /24 of a /16 by default), and address leases within a subnet as
 * a bitmap (.1 is the gateway; network and broadcast are never handed out). The
 * persistent form lives in netstate; this file does no I/O. */
#ifndef COOP_NET_IPAM_H
#define COOP_NET_IPAM_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct net_cidr {
	uint32_t addr; /* host byte order, host bits zero */
	int prefix;    /* 0..32 */
};

/* "10.1.0.0/16" (strict: host bits must be zero); errors name the text. */
int net_ipam_cidr_parse(const char *s, struct net_cidr *ret, struct err *err);
/* Writes "10.1.0.0/16" into buf (at least 19 bytes). */
char *net_ipam_cidr_fmt(const struct net_cidr *c, char *buf);
char *net_ipam_addr_fmt(uint32_t addr, char *buf); /* buf >= 16 */
bool net_ipam_overlap(const struct net_cidr *a, const struct net_cidr *b);
bool net_ipam_contains(const struct net_cidr *c, uint32_t addr);
/* Number of usable host addresses (excluding network, broadcast and the gateway). */
uint32_t net_ipam_capacity(const struct net_cidr *c);

/* The first subnet of size sub_prefix inside c that overlaps none of taken[0..n).
 * -ENOSPC with "network 10.1.0.0/16 has no free /24 left (256 in use)". */
int net_ipam_subnet_alloc(const struct net_cidr *c, int sub_prefix, const struct net_cidr *taken,
			  size_t n, struct net_cidr *ret, struct err *err);

/* A subnet's leases. */
struct net_ipam_pool {
	struct net_cidr subnet;
	uint32_t size;  /* addresses in the subnet */
	uint8_t *bits;  /* 1 = in use (network, gateway and broadcast are set) */
	uint32_t next;  /* where the next search starts: addresses are not reused at once */
};

int net_ipam_pool_init(struct net_ipam_pool *p, const struct net_cidr *subnet, struct err *err);
void net_ipam_pool_free(struct net_ipam_pool *p);
uint32_t net_ipam_gateway(const struct net_cidr *subnet);
/* Leases a free address; -ENOSPC "subnet 10.1.3.0/24 is full (253 addresses leased)". */
int net_ipam_lease(struct net_ipam_pool *p, uint32_t *ret, struct err *err);
/* Marks a specific address leased (restoring state); -EEXIST when taken, -EINVAL outside. */
int net_ipam_reserve(struct net_ipam_pool *p, uint32_t addr, struct err *err);
void net_ipam_release(struct net_ipam_pool *p, uint32_t addr);
bool net_ipam_in_use(const struct net_ipam_pool *p, uint32_t addr);

#endif
