/* ports: turns the node's network state into coop's nftables ruleset (VPC egress and
 * isolation, published ports balanced over their healthy backends) and applies it in
 * one transaction; probes whether a host port is free before it is published. */
#ifndef COOP_NET_PORTS_H
#define COOP_NET_PORTS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "net/netstate.h"

/* Renders the ruleset for ns (VPCs with containers on this node, every published port,
 * only healthy backends) and applies it; skipped when it is the one applied last
 * (ns->nft_applied) unless force. With nothing to describe, coop's tables are removed.
 * Updates ns->nft_applied; the caller saves ns. */
int net_ports_apply(struct netstate *ns, bool force, struct err *err);
/* The ruleset ns describes, without applying it (`coop net rules`); caller frees. */
int net_ports_render(struct netstate *ns, char **ret, struct err *err);
/* -EADDRINUSE "host port 8080/tcp is in use on this host" when a socket in this network
 * namespace holds proto/port on 0.0.0.0. */
int net_port_probe(const char *proto, uint16_t port, struct err *err);

#endif
