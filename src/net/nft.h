/* nft: coop's packet filtering and NAT through libnftables. Everything lives in coop's
 * own table (table inet coop: nat and filter chains together, which nft 1.0.6 and the
 * kernel accept) — nobody else's table is flushed or touched. The whole ruleset is rendered from a description and replaced in one
 * transaction, so backend sets change atomically and a failure changes nothing. */
#ifndef COOP_NET_NFT_H
#define COOP_NET_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct net_nft_network {
	const char *name;    /* VPC name (comments, set names) */
	const char *bridge;  /* its bridge on this node */
	const char *cidr;    /* the VPC's CIDR ("10.88.0.0/16") */
	const char *subnet;  /* this node's part of it ("10.88.3.0/24") */
};

struct net_nft_backend {
	const char *ip;  /* container address */
	uint16_t port;   /* container port */
};

struct net_nft_port {
	const char *proto;     /* "tcp" or "udp" */
	uint16_t host_port;
	const char *network;   /* VPC the backends are on */
	const struct net_nft_backend *backends;
	size_t n_backends;     /* 0: the port is refused rather than black-holed */
};

struct net_nft_config {
	const struct net_nft_network *networks;
	size_t n_networks;
	const struct net_nft_port *ports;
	size_t n_ports;
};

/* Pure: the nft script for cfg ("add table ...; delete table ...; table inet coop {...}").
 * Rules: masquerade of each VPC's traffic leaving it; VPC isolation (nothing forwarded
 * between two coop bridges); published ports DNATed from prerouting (other hosts,
 * containers) and output (the host itself) through a numgen map over the backends;
 * masquerade of hairpin and host-originated DNATed flows so replies come back. */
int net_nft_render(const struct net_nft_config *cfg, char **ret, struct err *err);
/* Renders and applies atomically. */
int net_nft_apply(const struct net_nft_config *cfg, struct err *err);
/* Runs an nft script in one transaction; errors read "<what>: <nft's first line>". */
int net_nft_run(const char *script, const char *what, struct err *err);
/* Removes coop's tables (nothing else). */
int net_nft_remove(struct err *err);

#endif
