/* resolver: the node's DNS service as one object — a dns_server on the gateway of each
 * VPC that has containers here, answering their container and workload names from the
 * network state, which it re-reads when state.json or leases.log change. It does no
 * waiting itself: `coop dns serve` polls it, the daemon drives it from its libuv loop. */
#ifndef COOP_NET_RESOLVER_H
#define COOP_NET_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "net/dns.h"

struct net_resolver;

/* dir: the state directory (NULL: netstate_dir's default); only: serve this VPC (id or
 * name) alone, NULL = all; upstream and port as dns_server_new. Serves nothing until
 * the first net_resolver_refresh. */
int net_resolver_new(const char *dir, const char *only, const char *upstream, uint16_t port,
		     struct net_resolver **ret, struct err *err);
/* Re-reads the state if it changed (or always, with force) and starts servers for VPCs
 * that gained containers (a failed bind is logged and retried on the next forced
 * refresh), stops those of VPCs that have none. Returns true when the set of servers
 * changed: the caller then re-reads their fds. */
bool net_resolver_refresh(struct net_resolver *r, bool force);
size_t net_resolver_count(const struct net_resolver *r);
/* The i-th server (i < count): watch dns_server_fd, call dns_server_process. */
struct dns_server *net_resolver_server(const struct net_resolver *r, size_t i);
void net_resolver_free(struct net_resolver *r);

#endif
