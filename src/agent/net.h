/* net: the agent's one door to node networking — a container joins its VPC (address,
 * veth, published ports) when it has ports or a vpc, and leaves it when it ends. Until
 * net/attach is integrated, a container runs in its own network namespace with only lo. */
#ifndef COOP_AGENT_NET_H
#define COOP_AGENT_NET_H

#include <jansson.h>

#include "base/err.h"

/* rec: the container record (spec.ports, spec.vpc, name, workload); netns: the
 * container's /proc/PID/ns/net. Records what it did in dir/net.json ({"ip":...}). */
int ag_net_attach(const char *net_dir, const char *dir, const char *id, json_t *rec,
		  const char *netns, struct err *err);
int ag_net_detach(const char *net_dir, const char *dir, const char *id, struct err *err);

#endif
