/* net: the agent's one door to node networking — a container joins its VPC (address,
 * veth, /etc files) when it has ports or a vpc, and leaves it when it ends; a
 * workload's host ports are published once and its replicas are their backends,
 * healthy or not as their health checks say. Containers without ports or a vpc keep
 * their own network namespace with only lo. */
#ifndef COOP_AGENT_NET_H
#define COOP_AGENT_NET_H

#include <stdbool.h>

#include <jansson.h>

#include "base/err.h"
#include "net/netstate.h"

/* ---- in the monitor ---- */

/* Whether a container of this spec is attached to a VPC (it has ports or a vpc). */
bool ag_net_wanted(json_t *spec);
/* Before the container is created: dir/{hosts,hostname,resolv.conf} (placeholders,
 * filled in place by ag_net_attach) and their bind mounts onto /etc in oci. Nothing
 * when the container is not networked. */
int ag_net_prepare(const char *dir, json_t *rec, json_t *oci, struct err *err);
/* rec: the container record (spec.ports, spec.vpc, name, workload); netns: the
 * container's /proc/PID/ns/net. Records what it did in dir/net.json ({"ip","vpc",
 * "gateway","owner"}). A no-op for a container that is not networked. */
int ag_net_attach(const char *net_dir, const char *dir, const char *id, json_t *rec,
		  const char *netns, struct err *err);
/* Releases what dir/net.json records (lease, backends, veth); a no-op without it. */
int ag_net_detach(const char *net_dir, const char *dir, const char *id, struct err *err);

/* ---- in the daemon ---- */

/* One published port of a workload, named the same way by the node's own publish and
 * the cluster's mesh: the first after the workload, the others "<workload>-p<N>". */
struct ag_port {
	char name[NETSTATE_NAME_MAX + 8];
	const char *proto;
	uint16_t host, container;
	bool host_mode; /* "mode": "host": only on the nodes running a replica */
};
/* The i-th entry of ports[] with a host_port; false past the last. */
bool ag_net_port_get(const char *workload, json_t *ports, size_t i, struct ag_port *ret);

/* Publishes the host ports of workload's spec (the first port is named after the
 * workload, the others "<workload>-p<N>") in its VPC, replacing what old (its
 * previous spec, may be NULL) published. A port in use is -EEXIST with a message
 * naming it; on failure nothing changes. */
int ag_net_publish(const char *net_dir, const char *workload, json_t *spec, json_t *old,
		   struct err *err);
/* Unpublishes what spec published (ports already gone are fine). */
int ag_net_unpublish(const char *net_dir, const char *workload, json_t *spec, struct err *err);

enum ag_backend { AG_BACKEND_HEALTHY, AG_BACKEND_UNHEALTHY, AG_BACKEND_REMOVE };
/* Sets owner's place in the backend sets of every port workload's spec publishes:
 * added (healthy or not) or removed. A no-op when the spec publishes nothing. */
int ag_net_backend(const char *net_dir, const char *workload, json_t *spec, const char *owner,
		   enum ag_backend state, struct err *err);

#endif
