/* dns: the node's resolver hosted on the agent's loop (see net/resolver.h): container
 * and workload names of each VPC answered on its gateway, port 53. */
#ifndef COOP_AGENT_DNS_H
#define COOP_AGENT_DNS_H

#include <stdbool.h>

#include "base/err.h"

struct agent;

/* Follows the network state from now on (a timer each second). */
int ag_dns_start(struct agent *a, struct err *err);
/* Re-reads the state now (e.g. after a container attached); force retries failed binds. */
void ag_dns_refresh(struct agent *a, bool force);
void ag_dns_stop(struct agent *a);

#endif
