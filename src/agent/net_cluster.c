/* net_cluster: cluster mode's node networking (agent_net_sync) — makes the local network
 * state follow the view the cluster derives from its model: each VPC with this node's
 * subnet and a VXLAN overlay to the peers (net/overlay). Everything is re-derived from
 * the view on every call, so a restart or a repeated call changes nothing. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/priv.h"
#include "base/log.h"
#include "base/util.h"
#include "net/netstate.h"
#include "net/overlay.h"

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
	if ((r = netstate_save(ns, err)) < 0)
		return r;
	if (rc)
		*err = first;
	return rc;
}
