/* netstate: the node's network state — VPCs, address leases, published ports and their
 * backends — kept in <dir>/state.json, written atomically, under an exclusive flock on
 * <dir>/lock while a command changes it. The in-memory operations here do no kernel
 * work (attach.c and ports.c do), so they are unit-tested against a temp dir. */
#ifndef COOP_NET_NETSTATE_H
#define COOP_NET_NETSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <netinet/in.h>

#include "base/err.h"
#include "net/ipam.h"

#define NETSTATE_DEFAULT_DIR "/var/lib/coop/net"
#define NETSTATE_DEFAULT_VPC "default"
#define NETSTATE_DEFAULT_CIDR "10.213.0.0/16"
#define NETSTATE_DEFAULT_MTU 1500
#define NETSTATE_MAX_VPCS 256     /* every resource a user can create has a limit */
#define NETSTATE_MAX_PORTS 1024
#define NETSTATE_MAX_BACKENDS 256 /* per port */
#define NETSTATE_NAME_MAX 32      /* VPC and service names */
#define NETSTATE_OWNER_MAX 64     /* container names */
#define NETSTATE_MAX_NAMES 4096   /* remote names per VPC */

/* One leased address: the container ("owner") that holds it. */
struct net_lease {
	uint32_t ip;      /* host byte order */
	char *owner;
	char *workload;   /* replicas share it; DNS answers it with all of them (may be NULL) */
	char *netns;      /* where it was attached (information; may be NULL) */
	char *created;    /* RFC 3339 */
};

/* A name the node's resolver answers in a VPC besides its own leases: a container on
 * another node (cluster mode, from the cluster's view). */
struct net_name {
	char *name;
	uint32_t ip;      /* host byte order */
};

struct net_vpc {
	char id[13];      /* 12 hex */
	char *name;
	struct net_cidr cidr;
	struct net_cidr subnet; /* this node's part */
	uint32_t gateway;
	uint32_t vni;
	unsigned mtu;
	char bridge[16];  /* "cb-" + first 8 of id */
	char *created;
	struct net_lease *leases;
	size_t n_leases;
	struct net_ipam_pool pool; /* rebuilt from the leases on load */
	struct net_name *names;    /* remote names (netstate_vpc_set_names) */
	size_t n_names;
};

struct net_backend {
	char *owner;
	uint32_t ip;
	uint16_t port;
	bool healthy;
};

struct net_port {
	char *name;        /* the service */
	char proto[4];     /* "tcp" or "udp" */
	uint16_t host_port;
	char vpc[13];      /* VPC id */
	uint16_t container_port;
	char *created;
	struct net_backend *backends;
	size_t n_backends;
	bool mesh;         /* cluster mode: the cluster's view sets it and its backends */
};

struct netstate {
	char *dir;
	int lock_fd;       /* -1 when opened read-only */
	struct net_vpc *vpcs;
	size_t n_vpcs;
	struct net_port *ports;
	size_t n_ports;
	char *nft_applied; /* digest of the last ruleset applied (skips identical re-applies) */
};

/* The state directory: dir, else $COOP_NET_DIR, else the default. */
const char *netstate_dir(const char *dir);
/* Loads the state (a fresh one with the "default" VPC when there is none). With lock,
 * holds an exclusive flock on <dir>/lock until netstate_close. */
int netstate_open(const char *dir, bool lock, struct netstate **ret, struct err *err);
int netstate_save(struct netstate *ns, struct err *err);
/* Records one change in <dir>/leases.log (an append, cheap on the start path; see
 * netstate.c) instead of rewriting state.json: a lease or release of owner, or the
 * digest of the ruleset just applied. */
enum netstate_log_op { NETSTATE_LOG_LEASE, NETSTATE_LOG_RELEASE, NETSTATE_LOG_NFT };
int netstate_log(struct netstate *ns, enum netstate_log_op op, const char *owner,
		 struct err *err);
void netstate_close(struct netstate *ns);
/* Parses a state document (pure; used by open and by tests). */
int netstate_parse(const char *text, struct netstate *ns, struct err *err);
/* The document (caller frees). */
char *netstate_dump(const struct netstate *ns);

bool netstate_name_valid(const char *name);
bool netstate_owner_valid(const char *owner);
/* "cv" + 8 hex of a hash of owner: the host side of its veth (IFNAMSIZ-safe). */
void netstate_veth_name(const char *owner, char buf[16]);

/* By id, unique id prefix (4+ hex) or name; NULL when none. */
struct net_vpc *netstate_vpc_find(struct netstate *ns, const char *key);
/* subnet_prefix 0 = max(cidr prefix, min(cidr prefix + 8, 24)); mtu 0 = 1500. Refuses
 * bad names, duplicates, invalid, reserved or overlapping CIDRs. */
int netstate_vpc_create(struct netstate *ns, const char *name, const char *cidr,
			int subnet_prefix, unsigned mtu, struct net_vpc **ret, struct err *err);
/* Sets this node's subnet of vpc (one part of the CIDR per node: a cluster's nodes
 * take different ones, and the overlay routes between them). Refused once containers
 * hold leases in the old one. */
int netstate_vpc_set_subnet(struct netstate *ns, struct net_vpc *vpc, const char *subnet,
			    struct err *err);
/* Refuses a VPC with leases ("VPC 'x' is in use by 2 containers: a, b") or ports. */
int netstate_vpc_delete(struct netstate *ns, struct net_vpc *vpc, struct err *err);

/* Leases an address in vpc for owner (unique on this node). */
int netstate_lease(struct netstate *ns, struct net_vpc *vpc, const char *owner,
		   const char *workload, const char *netns, uint32_t *ret_ip, struct err *err);
/* The lease of owner (and its VPC), or NULL. */
struct net_lease *netstate_lease_find(struct netstate *ns, const char *owner,
				      struct net_vpc **ret_vpc);
/* Releases owner's lease and removes it from every port's backends; -ENOENT if none. */
int netstate_release(struct netstate *ns, const char *owner, struct err *err);

struct net_port *netstate_port_find(struct netstate *ns, const char *name);
/* proto "tcp"/"udp". Refuses a name or (proto, host_port) already published. */
int netstate_port_publish(struct netstate *ns, const char *name, const char *proto,
			  uint16_t host_port, struct net_vpc *vpc, uint16_t container_port,
			  struct net_port **ret, struct err *err);
int netstate_port_remove(struct netstate *ns, const char *name, struct err *err);
/* owner must hold a lease in the port's VPC. Adding an existing backend sets its health. */
int netstate_backend_add(struct netstate *ns, struct net_port *p, const char *owner,
			 bool healthy, struct err *err);
int netstate_backend_remove(struct netstate *ns, struct net_port *p, const char *owner,
			    struct err *err);
int netstate_backend_health(struct netstate *ns, struct net_port *p, const char *owner,
			    bool healthy, struct err *err);
/* Replaces p's backends with bs[0..n) (copied; owners are names, not leases: a backend
 * may be on another node). Refuses an address outside the port's VPC, a duplicate owner
 * or more than the limit; then p is unchanged. */
int netstate_port_set_backends(struct netstate *ns, struct net_port *p,
			       const struct net_backend *bs, size_t n, struct err *err);
/* Replaces vpc's remote names (copied; same limits and checks as above). */
int netstate_vpc_set_names(struct netstate *ns, struct net_vpc *vpc, const struct net_name *names,
			   size_t n, struct err *err);

/* DNS within vpc: the addresses of the container named name, or of every replica of the
 * workload named name (its leases, then its remote names, each address once), starting
 * at rotate % n (round-robin); at most max. Returns how
 * many (0: a single-label name nobody has: NXDOMAIN) or -ENOENT (not ours: forward). */
int netstate_dns_lookup(const struct net_vpc *vpc, const char *name, unsigned rotate,
			struct in_addr *out, size_t max);

/* Parses "8080:80", "8080:80/udp" -> host, container, proto. */
int netstate_port_spec_parse(const char *s, uint16_t *ret_host, uint16_t *ret_container,
			     const char **ret_proto, struct err *err);

#endif
