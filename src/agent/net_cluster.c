/* net_cluster: cluster mode's node networking (agent_net_sync) — makes the local network
 * state follow the view the cluster derives from its model: each VPC with this node's
 * subnet and a VXLAN overlay to the peers (net/overlay); each service's host ports
 * published here as "mesh" ports balanced over its backends on every node (net/ports:
 * one nft transaction); the remote replicas' names for the node's resolver. Everything
 * is re-derived from the view on every call, so a restart or a repeated call changes
 * nothing. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/priv.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "net/attach.h"
#include "net/netstate.h"
#include "net/overlay.h"
#include "net/ports.h"

static void state_closep(struct netstate **ns)
{
	if (*ns)
		netstate_close(*ns);
}
#define _cleanup_state_ _cleanup_(state_closep)

/* The node itself: its name, underlay address, the device holding it and its MTU. */
struct self {
	const char *node;
	struct in_addr underlay;
	char dev[IFNAMSIZ];
	unsigned mtu;
};

/* The device carrying addr (getifaddrs) and its MTU (ioctl: works without /sys). */
static int underlay_find(struct in_addr addr, char dev[IFNAMSIZ], unsigned *ret_mtu,
			 struct err *err)
{
	struct ifaddrs *ifs = NULL;
	struct ifreq ifr = { 0 };
	char a[INET_ADDRSTRLEN];
	bool found = false;

	if (getifaddrs(&ifs) < 0)
		return err_sys(err, errno, "list the host's addresses");
	for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == addr.s_addr) {
			snprintf(dev, IFNAMSIZ, "%s", i->ifa_name);
			found = true;
		}
	freeifaddrs(ifs);
	inet_ntop(AF_INET, &addr, a, sizeof(a));
	if (!found)
		return err_msg(err, EADDRNOTAVAIL, "underlay address %s is on no device of this host", a);
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(err, errno, "socket");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
		return err_sys(err, errno, "read the MTU of '%s'", dev);
	*ret_mtu = (unsigned)ifr.ifr_mtu;
	return 0;
}

static int self_get(json_t *view, struct self *s, struct err *err)
{
	const char *ul = json_string_value(json_object_get(view, "underlay"));

	memset(s, 0, sizeof(*s));
	s->node = json_string_value(json_object_get(view, "node"));
	if (!s->node || !ul || inet_pton(AF_INET, ul, &s->underlay) != 1)
		return err_msg(err, EINVAL, "network view: no node name or underlay address");
	return underlay_find(s->underlay, s->dev, &s->mtu, err);
}

/* ---- VPCs ---- */

/* The local VPC named like the cluster's, made when missing, with this node's subnet. */
static int vpc_local(struct netstate *ns, const char *name, const char *cidr, const char *subnet,
		     struct net_vpc **ret, struct err *err)
{
	struct net_vpc *v = netstate_vpc_find(ns, name);
	struct net_cidr want, sub;
	char have[20];
	int r;

	if ((r = net_ipam_cidr_parse(cidr, &want, err)) < 0 ||
	    (r = net_ipam_cidr_parse(subnet, &sub, err)) < 0)
		return err_wrap(err, "VPC '%s'", name);
	if (v && !streq(v->name, name))
		v = NULL; /* a prefix of another VPC's id, not this one */
	if (!v) {
		if ((r = netstate_vpc_create(ns, name, cidr, sub.prefix, 0, &v, err)) < 0)
			return err_wrap(err, "create VPC '%s' of the cluster", name);
	} else if (v->cidr.addr != want.addr || v->cidr.prefix != want.prefix) {
		return err_msg(err, EEXIST, "VPC '%s' is %s on this node, %s in the cluster: remove it here ('coop vpc rm %s')",
			       name, net_ipam_cidr_fmt(&v->cidr, have), cidr, name);
	}
	if ((r = netstate_vpc_set_subnet(ns, v, subnet, err)) < 0) {
		if (r == -EBUSY)
			return err_msg(err, EBUSY,
				       "VPC '%s': this node's containers hold addresses in %s, the cluster gives it %s: skipped until they are gone",
				       name, net_ipam_cidr_fmt(&v->subnet, have), subnet);
		return err_wrap(err, "VPC '%s'", name);
	}
	*ret = v;
	return 0;
}

static int peers_get(json_t *jp, const char *vpc, struct net_overlay_peer **ret, size_t *ret_n,
		     struct err *err)
{
	_cleanup_free_ char *text = json_dumps(jp ? jp : json_array(), JSON_COMPACT);
	_cleanup_free_ char *what = xasprintf("VPC '%s' peers", vpc);

	return net_overlay_peers_parse(text, what, ret, ret_n, err);
}

static int vpc_sync(struct netstate *ns, const struct self *s, json_t *jv, struct err *err)
{
	const char *name = json_string_value(json_object_get(jv, "name"));
	const char *cidr = json_string_value(json_object_get(jv, "cidr"));
	const char *subnet = json_string_value(json_object_get(jv, "subnet"));
	json_int_t vni = json_integer_value(json_object_get(jv, "vni"));
	struct net_overlay_peer *peers = NULL;
	struct net_vpc *v = NULL;
	size_t n = 0;
	int r;

	if (!name || !cidr)
		return err_msg(err, EINVAL, "network view: a VPC without name or CIDR");
	if (!subnet)
		return 0; /* no subnet for this node yet: nothing to do */
	if ((r = vpc_local(ns, name, cidr, subnet, &v, err)) < 0)
		return r;
	if ((r = peers_get(json_object_get(jv, "peers"), name, &peers, &n, err)) < 0)
		return r;
	struct net_overlay_self self = { .node = s->node, .vni = (uint32_t)vni,
					 .underlay = s->underlay, .underlay_dev = s->dev,
					 .underlay_mtu = s->mtu, .subnet = v->subnet };
	r = net_overlay_apply(ns, v, &self, peers, n, err);
	net_overlay_peers_free(peers, n);
	return r < 0 ? r : 0;
}


/* ---- services: the routing mesh ---- */

/* The view's VPC named name, NULL if none. */
static json_t *view_vpc(json_t *view, const char *name)
{
	json_t *jv;
	size_t i;

	json_array_foreach(json_object_get(view, "vpcs"), i, jv)
		if (streq(json_string_value(json_object_get(jv, "name")) ?: "", name))
			return jv;
	return NULL;
}

/* Whether node is one of the VPC's peers in the view (nodes that are not down). */
static bool peer_alive(json_t *jv, const char *node)
{
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(jv, "peers"), i, p)
		if (streq(json_string_value(json_object_get(p, "node")) ?: "", node))
			return true;
	return false;
}

/* The lease of this node holding ip in v, NULL when none (the container is gone). */
static const struct net_lease *lease_by_ip(const struct net_vpc *v, uint32_t ip)
{
	for (size_t i = 0; i < v->n_leases; i++)
		if (v->leases[i].ip == ip)
			return &v->leases[i];
	return NULL;
}

/* A service's backends as the view has them, resolved here: a local one by the lease
 * holding its address (its owner, so attach/detach/health in agent/net.c name the same
 * entry; none: the container is gone, skipped), a remote one as "task@node" while its
 * node is up. */
struct svc_backends {
	struct net_backend *b;
	char **owners;
	size_t n;
	bool any_local; /* a replica runs here (placed, healthy or not) */
};

static void svc_backends_free(struct svc_backends *sb)
{
	for (size_t i = 0; i < sb->n; i++)
		free(sb->owners[i]);
	free(sb->owners);
	free(sb->b);
}

static void svc_backends_get(json_t *svc, json_t *jv, const struct net_vpc *v,
			     struct svc_backends *sb)
{
	json_t *bs = json_object_get(svc, "backends"), *b;
	size_t i;

	memset(sb, 0, sizeof(*sb));
	sb->b = xcalloc(json_array_size(bs) + 1, sizeof(*sb->b));
	sb->owners = xcalloc(json_array_size(bs) + 1, sizeof(*sb->owners));
	json_array_foreach(bs, i, b)
	{
		const char *task = json_string_value(json_object_get(b, "task"));
		const char *node = json_string_value(json_object_get(b, "node"));
		const char *ip = json_string_value(json_object_get(b, "ip"));
		bool local = json_is_true(json_object_get(b, "local"));
		const struct net_lease *l = NULL;
		struct in_addr a;
		if (!task || !node || !ip || inet_pton(AF_INET, ip, &a) != 1 ||
		    !net_ipam_contains(&v->cidr, ntohl(a.s_addr)))
			continue;
		if (local) {
			sb->any_local = true;
			if (!(l = lease_by_ip(v, ntohl(a.s_addr))))
				continue;
		} else if (!peer_alive(jv, node)) {
			continue;
		}
		if (sb->n >= NETSTATE_MAX_BACKENDS)
			break;
		sb->owners[sb->n] = local ? xstrdup(l->owner) : xasprintf("%s@%s", task, node);
		sb->b[sb->n] = (struct net_backend){ .owner = sb->owners[sb->n], .ip = ntohl(a.s_addr),
						     .healthy = json_is_true(json_object_get(b, "healthy")) };
		sb->n++;
	}
}

/* Makes port q of the service a mesh port here with backends bs (only the local ones
 * for a host-mode port, which exists only where a replica runs). */
static int mesh_port(struct netstate *ns, struct net_vpc *v, const struct ag_port *q,
		     const struct svc_backends *sb, struct err *err)
{
	struct net_port *p = netstate_port_find(ns, q->name);
	_cleanup_free_ struct net_backend *local = xcalloc(sb->n + 1, sizeof(*local));
	const struct net_backend *bs = sb->b;
	size_t n = sb->n;
	int r;

	if (q->host_mode) {
		n = 0;
		for (size_t i = 0; i < sb->n; i++)
			if (!strchr(sb->b[i].owner, '@'))
				local[n++] = sb->b[i];
		bs = local;
		if (!sb->any_local) {
			/* no replica here: a host-mode port is not ours to keep (a standalone
			 * publish of the same name is left alone) */
			if (p && p->mesh && (r = netstate_port_remove(ns, q->name, err)) < 0)
				return r;
			return 0;
		}
	}
	if (p && (!streq(p->proto, q->proto) || p->host_port != q->host ||
		  p->container_port != q->container || !streq(p->vpc, v->id))) {
		if ((r = netstate_port_remove(ns, q->name, err)) < 0)
			return r;
		p = NULL;
	}
	/* (a published port holds no socket: the probe finds only someone else's) */
	if (!p && ((r = net_port_probe(q->proto, q->host, err)) < 0 ||
		   (r = netstate_port_publish(ns, q->name, q->proto, q->host, v, q->container, &p,
					      err)) < 0))
		return r;
	p->mesh = true;
	return netstate_port_set_backends(ns, p, bs, n, err);
}

/* Names the node's resolver answers for containers on other nodes: the workload and
 * the task's container ("<workload>-<replica>" for task "<workload>.<replica>"). */
static void names_add(struct net_name **names, size_t *n, const struct svc_backends *sb,
		      const char *workload)
{
	for (size_t i = 0; i < sb->n; i++) {
		const char *at = strchr(sb->b[i].owner, '@'), *dot;
		if (!at || !sb->b[i].healthy || *n + 2 > NETSTATE_MAX_NAMES)
			continue;
		*names = xrealloc(*names, (*n + 2) * sizeof(**names));
		(*names)[(*n)++] = (struct net_name){ xstrdup(workload), sb->b[i].ip };
		_cleanup_free_ char *task = xasprintf("%.*s", (int)(at - sb->b[i].owner), sb->b[i].owner);
		if ((dot = strrchr(task, '.')))
			task[dot - task] = '-';
		(*names)[(*n)++] = (struct net_name){ take_ptr(task), sb->b[i].ip };
	}
}

static void names_free(struct net_name *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i].name);
	free(names);
}

/* One service: its ports (each its own success or failure), its remote names. */
static int svc_sync(struct netstate *ns, json_t *view, json_t *svc, json_t *wanted,
		    struct net_name **names, size_t *n_names, struct err *err)
{
	const char *wl = json_string_value(json_object_get(svc, "workload"));
	const char *vpc = json_string_value(json_object_get(svc, "vpc")) ?: NETSTATE_DEFAULT_VPC;
	json_t *jv = view_vpc(view, vpc);
	struct net_vpc *v = netstate_vpc_find(ns, vpc);
	struct svc_backends sb;
	struct ag_port q;
	int r, rc = 0;

	if (!wl)
		return err_msg(err, EINVAL, "network view: a service without a workload");
	if (!jv || !v || !streq(v->name, vpc) || !json_is_string(json_object_get(jv, "subnet"))) {
		/* its ports stay as they were until the VPC is here */
		for (size_t i = 0; ag_net_port_get(wl, json_object_get(svc, "ports"), i, &q); i++)
			json_object_set_new(wanted, q.name, json_true());
		return err_msg(err, ENOENT, "workload '%s': VPC '%s' is not set up on this node yet",
			       wl, vpc);
	}
	svc_backends_get(svc, jv, v, &sb);
	for (size_t i = 0; ag_net_port_get(wl, json_object_get(svc, "ports"), i, &q); i++) {
		struct err e = { 0 };
		json_object_set_new(wanted, q.name, json_true());
		if ((r = mesh_port(ns, v, &q, &sb, &e)) < 0 && !rc) {
			rc = r;
			*err = e;
			err_wrap(err, "workload '%s' port %u/%s", wl, q.host, q.proto);
		}
	}
	names_add(&names[v - ns->vpcs], &n_names[v - ns->vpcs], &sb, wl);
	svc_backends_free(&sb);
	return rc;
}

/* Every service of the view; mesh ports no longer in it are unpublished; each VPC's
 * remote names replaced; then the ruleset applied in one transaction. */
static int services_sync(struct netstate *ns, json_t *view, struct err *err)
{
	_cleanup_json_ json_t *wanted = json_object();
	struct net_name **names = xcalloc(ns->n_vpcs + 1, sizeof(*names));
	size_t *n_names = xcalloc(ns->n_vpcs + 1, sizeof(*n_names)), i;
	struct err first = { 0 };
	json_t *svc;
	int r, rc = 0;

	json_array_foreach(json_object_get(view, "services"), i, svc)
	{
		struct err e = { 0 };
		if ((r = svc_sync(ns, view, svc, wanted, names, n_names, &e)) < 0 && !rc) {
			rc = r;
			first = e;
		}
	}
	for (i = 0; i < ns->n_ports;)
		if (ns->ports[i].mesh && !json_object_get(wanted, ns->ports[i].name))
			netstate_port_remove(ns, ns->ports[i].name, NULL);
		else
			i++;
	for (i = 0; i < ns->n_vpcs; i++) {
		struct err e = { 0 };
		if ((r = netstate_vpc_set_names(ns, &ns->vpcs[i], names[i], n_names[i], &e)) < 0 && !rc) {
			rc = r;
			first = e;
		}
		names_free(names[i], n_names[i]);
	}
	free(names);
	free(n_names);
	if ((r = net_ports_apply(ns, false, err)) < 0)
		return r;
	if (rc)
		*err = first;
	return rc;
}

static bool vpc_has_ports(const struct netstate *ns, const struct net_vpc *v)
{
	for (size_t i = 0; i < ns->n_ports; i++)
		if (streq(ns->ports[i].vpc, v->id))
			return true;
	return false;
}

/* VPCs the cluster deleted: gone here too (bridge, overlay, state) once nothing of this
 * node uses them; the default VPC always stays. */
static int vpcs_prune(struct netstate *ns, json_t *view, struct err *err)
{
	size_t before = ns->n_vpcs;

	for (size_t i = 0; i < ns->n_vpcs;) {
		struct net_vpc *v = &ns->vpcs[i];
		struct net_vpc copy;
		int r;

		if (streq(v->name, NETSTATE_DEFAULT_VPC) || view_vpc(view, v->name) ||
		    v->n_leases || vpc_has_ports(ns, v)) {
			i++;
			continue;
		}
		copy = *v; /* the bridge name outlives the entry */
		if ((r = net_overlay_remove(ns, v, err)) < 0 ||
		    (r = netstate_vpc_delete(ns, v, err)) < 0 || (r = net_bridge_remove(&copy, err)) < 0)
			return err_wrap(err, "VPC '%s' left the cluster", copy.name);
		log_info("VPC '%s' left the cluster: removed here", copy.name);
	}
	/* its masquerade and isolation rules go with it */
	return ns->n_vpcs < before ? net_ports_apply(ns, false, err) : 0;
}

int agent_net_sync(struct agent *a, json_t *view, struct err *err)
{
	_cleanup_state_ struct netstate *ns = NULL;
	struct err first = { 0 };
	struct self s;
	json_t *jv;
	size_t i;
	int r, rc = 0;

	if ((r = self_get(view, &s, err)) < 0 || (r = netstate_open(a->net_dir, true, &ns, err)) < 0)
		return r;
	/* one VPC's trouble does not hold the others back; the first is reported */
	json_array_foreach(json_object_get(view, "vpcs"), i, jv)
	{
		struct err e = { 0 };
		if ((r = vpc_sync(ns, &s, jv, &e)) < 0 && !rc) {
			rc = r;
			first = e;
		}
	}
	struct err e = { 0 };
	if ((r = services_sync(ns, view, &e)) < 0 && !rc) {
		rc = r;
		first = e;
	}
	struct err e2 = { 0 };
	if ((r = vpcs_prune(ns, view, &e2)) < 0 && !rc) {
		rc = r;
		first = e2;
	}
	if ((r = netstate_save(ns, err)) < 0)
		return r;
	if (rc)
		*err = first;
	return rc;
}
