/* overlay: one VPC's VXLAN device on this node and its static forwarding to the other
 * nodes of the VPC (flannel's routed design: FDB + neighbour + onlink route per peer),
 * the VPC's MTU following the underlay, and VPC isolation across hosts in nft. */
#include "net/overlay.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "net/fastpath.h"
#include "net/nft.h"

/* ---- pure: names, MACs, the peer file ---- */

void net_overlay_dev_name(const struct net_vpc *vpc, char buf[16])
{
	snprintf(buf, 16, NET_OVERLAY_PREFIX "%.8s", vpc->id);
}

void net_overlay_vtep_mac(const char *node, uint32_t vni, uint8_t mac[6])
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a over node, NUL, vni (big endian) */
	uint8_t v[4] = { vni >> 24, vni >> 16, vni >> 8, vni };

	for (const char *p = node; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	h = (h ^ 0) * 0x100000001b3ULL;
	for (size_t i = 0; i < 4; i++)
		h = (h ^ v[i]) * 0x100000001b3ULL;
	mac[0] = 0x02; /* locally administered, unicast */
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * (i - 1)));
}

static void mac_fmt(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

static bool mac_parse(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6 || strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	/* a vtep MAC must be unicast and not all zero (that is the flood entry) */
	return !(mac[0] & 1) && (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]);
}

static bool node_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
			return false;
	return true;
}

void net_overlay_peers_free(struct net_overlay_peer *peers, size_t n)
{
	for (size_t i = 0; peers && i < n; i++)
		free(peers[i].node);
	free(peers);
}

static int peer_parse(json_t *o, const char *path, struct net_overlay_peer *p, struct err *err)
{
	_cleanup_free_ char *ul = NULL, *subnet = NULL, *mac = NULL;
	int r;

	if (!json_is_object(o))
		return err_msg(err, EINVAL, "%s: expected an object", path);
	if ((r = js_str(o, path, "node", true, &p->node, err)) < 0 ||
	    (r = js_str(o, path, "underlay", true, &ul, err)) < 0 ||
	    (r = js_str(o, path, "subnet", true, &subnet, err)) < 0 ||
	    (r = js_str(o, path, "mac", false, &mac, err)) < 0)
		return r;
	if (!node_valid(p->node))
		return err_msg(err, EINVAL, "%s.node: invalid node name '%s'", path, p->node);
	if (inet_pton(AF_INET, ul, &p->underlay) != 1 || p->underlay.s_addr == 0)
		return err_msg(err, EINVAL, "%s.underlay: invalid IPv4 address '%s'", path, ul);
	if ((r = net_ipam_cidr_parse(subnet, &p->subnet, err)) < 0)
		return err_wrap(err, "%s.subnet", path);
	if (mac && !(p->has_mac = mac_parse(mac, p->mac)))
		return err_msg(err, EINVAL, "%s.mac: invalid unicast MAC address '%s'", path, mac);
	return 0;
}

int net_overlay_peers_parse(const char *text, const char *what, struct net_overlay_peer **ret,
			    size_t *ret_n, struct err *err)
{
	_cleanup_json_ json_t *doc = NULL;
	struct net_overlay_peer *peers;
	size_t n;
	int r;

	if ((r = js_load_string(what, text, &doc, err)) < 0)
		return r;
	if (!json_is_array(doc))
		return err_msg(err, EINVAL, "%s: expected an array of peers", what);
	n = json_array_size(doc);
	if (n > NET_OVERLAY_MAX_PEERS)
		return err_msg(err, E2BIG, "%s: %zu peers (limit %d)", what, n,
			       NET_OVERLAY_MAX_PEERS);
	peers = xcalloc(n + 1, sizeof(*peers));
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = xasprintf("%s[%zu]", what, i);
		if ((r = peer_parse(json_array_get(doc, i), path, &peers[i], err)) < 0) {
			net_overlay_peers_free(peers, n);
			return r;
		}
	}
	*ret = peers;
	*ret_n = n;
	return 0;
}

/* ---- pure: validation ---- */

static int check_self(const struct net_vpc *vpc, const struct net_overlay_self *s,
		      struct err *err)
{
	char a[20], b[20];

	if (!s->node || !node_valid(s->node))
		return err_msg(err, EINVAL, "invalid node name '%s'", s->node ? s->node : "");
	if (s->vni == 0 || s->vni > 0xffffff)
		return err_msg(err, EINVAL, "VNI %u out of range 1..16777215", s->vni);
	if (s->underlay.s_addr == 0)
		return err_msg(err, EINVAL, "this node's underlay address is missing");
	if (s->underlay_mtu < 576 + NET_OVERLAY_OVERHEAD || s->underlay_mtu > 65535)
		return err_msg(err, EINVAL,
			       "underlay MTU %u leaves too little for the overlay (it needs at least %d)",
			       s->underlay_mtu, 576 + NET_OVERLAY_OVERHEAD);
	if (s->subnet.addr != vpc->subnet.addr || s->subnet.prefix != vpc->subnet.prefix)
		return err_msg(err, EINVAL,
			       "subnet %s is not VPC '%s''s subnet on this node (%s; choose it with 'coop vpc create --subnet')",
			       net_ipam_cidr_fmt(&s->subnet, a), vpc->name,
			       net_ipam_cidr_fmt(&vpc->subnet, b));
	return 0;
}

static int check_peer(const struct net_vpc *vpc, const struct net_overlay_self *s,
		      const struct net_overlay_peer *p, struct err *err)
{
	char a[20], b[20], u[INET_ADDRSTRLEN];

	if (streq(p->node, s->node))
		return err_msg(err, EINVAL, "peer %s is this node", p->node);
	if (p->underlay.s_addr == s->underlay.s_addr)
		return err_msg(err, EEXIST, "underlay address %s is claimed by %s (this node) and %s",
			       inet_ntop(AF_INET, &p->underlay, u, sizeof(u)), s->node, p->node);
	if (p->subnet.prefix < vpc->cidr.prefix || !net_ipam_contains(&vpc->cidr, p->subnet.addr))
		return err_msg(err, EINVAL, "subnet %s of %s is outside VPC '%s' %s",
			       net_ipam_cidr_fmt(&p->subnet, a), p->node, vpc->name,
			       net_ipam_cidr_fmt(&vpc->cidr, b));
	if (net_ipam_overlap(&p->subnet, &s->subnet))
		return err_msg(err, EEXIST, "subnet %s of %s overlaps %s of %s (this node)",
			       net_ipam_cidr_fmt(&p->subnet, a), p->node,
			       net_ipam_cidr_fmt(&s->subnet, b), s->node);
	return 0;
}

/* Two peers may share nothing: name, underlay address, subnet or MAC. */
static int check_pair(const struct net_overlay_peer *p, const struct net_overlay_peer *q,
		      struct err *err)
{
	char a[20], b[20], u[INET_ADDRSTRLEN];

	if (streq(p->node, q->node))
		return err_msg(err, EEXIST, "node %s is listed twice", p->node);
	if (p->underlay.s_addr == q->underlay.s_addr)
		return err_msg(err, EEXIST, "underlay address %s is claimed by %s and %s",
			       inet_ntop(AF_INET, &p->underlay, u, sizeof(u)), p->node, q->node);
	if (net_ipam_overlap(&p->subnet, &q->subnet))
		return err_msg(err, EEXIST, "subnet %s of %s overlaps %s of %s",
			       net_ipam_cidr_fmt(&q->subnet, a), q->node,
			       net_ipam_cidr_fmt(&p->subnet, b), p->node);
	if (memcmp(p->mac, q->mac, 6) == 0)
		return err_msg(err, EEXIST, "vtep MAC %s is claimed by %s and %s",
			       (mac_fmt(p->mac, a), a), p->node, q->node);
	return 0;
}

int net_overlay_validate(const struct net_vpc *vpc, const struct net_overlay_self *self,
			 struct net_overlay_peer *peers, size_t n,
			 const struct net_overlay_other *others, size_t n_others, struct err *err)
{
	uint8_t mine[6];
	char m[18];
	int r;

	if ((r = check_self(vpc, self, err)) < 0)
		return r;
	for (size_t i = 0; i < n_others; i++)
		if (others[i].vni == self->vni)
			return err_msg(err, EEXIST, "VNI %u is already used by VPC '%s' on this node",
				       self->vni, others[i].vpc);
	if (n > NET_OVERLAY_MAX_PEERS)
		return err_msg(err, E2BIG, "%zu peers (limit %d)", n, NET_OVERLAY_MAX_PEERS);
	net_overlay_vtep_mac(self->node, self->vni, mine);
	for (size_t i = 0; i < n; i++) {
		if (!peers[i].has_mac)
			net_overlay_vtep_mac(peers[i].node, self->vni, peers[i].mac);
		if ((r = check_peer(vpc, self, &peers[i], err)) < 0)
			return r;
		if (memcmp(peers[i].mac, mine, 6) == 0)
			return err_msg(err, EEXIST, "vtep MAC %s is claimed by %s (this node) and %s",
				       (mac_fmt(mine, m), m), self->node, peers[i].node);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			if ((r = check_pair(&peers[i], &peers[k], err)) < 0)
				return r;
	return 0;
}

/* ---- pure: the diff ---- */

void net_overlay_want(const struct net_overlay_peer *peers, size_t n,
		      struct net_overlay_entries *ret)
{
	*ret = (struct net_overlay_entries){
		.fdb = xcalloc(n + 1, sizeof(*ret->fdb)), .n_fdb = n,
		.neigh = xcalloc(n + 1, sizeof(*ret->neigh)), .n_neigh = n,
		.routes = xcalloc(n + 1, sizeof(*ret->routes)), .n_routes = n,
	};
	for (size_t i = 0; i < n; i++) {
		struct in_addr vtep = { htonl(peers[i].subnet.addr) };
		memcpy(ret->fdb[i].mac, peers[i].mac, 6);
		ret->fdb[i].dst = peers[i].underlay;
		ret->neigh[i].ip = vtep;
		memcpy(ret->neigh[i].mac, peers[i].mac, 6);
		ret->routes[i] = (struct net_route_entry){ vtep, peers[i].subnet.prefix, vtep };
	}
}

void net_overlay_entries_free(struct net_overlay_entries *e)
{
	free(e->fdb);
	free(e->neigh);
	free(e->routes);
	*e = (struct net_overlay_entries){ 0 };
}

static bool fdb_has(const struct net_fdb_entry *v, size_t n, const struct net_fdb_entry *e)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(v[i].mac, e->mac, 6) && v[i].dst.s_addr == e->dst.s_addr)
			return true;
	return false;
}

/* The entry of v for e's address, or NULL. */
static const struct net_neigh_entry *neigh_of(const struct net_neigh_entry *v, size_t n,
					      const struct net_neigh_entry *e)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].ip.s_addr == e->ip.s_addr)
			return &v[i];
	return NULL;
}

static const struct net_route_entry *route_of(const struct net_route_entry *v, size_t n,
					      const struct net_route_entry *e)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].dst.s_addr == e->dst.s_addr && v[i].prefixlen == e->prefixlen)
			return &v[i];
	return NULL;
}

static struct net_overlay_op *op_push(struct net_overlay_op **ops, size_t *n,
				      enum net_overlay_op_kind kind)
{
	*ops = xrealloc(*ops, (*n + 1) * sizeof(**ops));
	memset(&(*ops)[*n], 0, sizeof(**ops));
	(*ops)[*n].kind = kind;
	return &(*ops)[(*n)++];
}

size_t net_overlay_plan(const struct net_overlay_entries *have,
			const struct net_overlay_entries *want, struct net_overlay_op **ret)
{
	struct net_overlay_op *ops = NULL;
	const struct net_neigh_entry *ne;
	const struct net_route_entry *re;
	size_t n = 0;

	for (size_t i = 0; i < want->n_fdb; i++)
		if (!fdb_has(have->fdb, have->n_fdb, &want->fdb[i]))
			op_push(&ops, &n, NET_OVERLAY_FDB_SET)->fdb = want->fdb[i];
	for (size_t i = 0; i < want->n_neigh; i++)
		if (!(ne = neigh_of(have->neigh, have->n_neigh, &want->neigh[i])) ||
		    memcmp(ne->mac, want->neigh[i].mac, 6))
			op_push(&ops, &n, NET_OVERLAY_NEIGH_SET)->neigh = want->neigh[i];
	for (size_t i = 0; i < want->n_routes; i++)
		if (!(re = route_of(have->routes, have->n_routes, &want->routes[i])) ||
		    re->gw.s_addr != want->routes[i].gw.s_addr)
			op_push(&ops, &n, NET_OVERLAY_ROUTE_SET)->route = want->routes[i];
	for (size_t i = 0; i < have->n_routes; i++)
		if (!route_of(want->routes, want->n_routes, &have->routes[i]))
			op_push(&ops, &n, NET_OVERLAY_ROUTE_DEL)->route = have->routes[i];
	for (size_t i = 0; i < have->n_neigh; i++)
		if (!neigh_of(want->neigh, want->n_neigh, &have->neigh[i]))
			op_push(&ops, &n, NET_OVERLAY_NEIGH_DEL)->neigh = have->neigh[i];
	for (size_t i = 0; i < have->n_fdb; i++)
		if (!fdb_has(want->fdb, want->n_fdb, &have->fdb[i]))
			op_push(&ops, &n, NET_OVERLAY_FDB_DEL)->fdb = have->fdb[i];
	*ret = ops;
	return n;
}

/* ---- pure: isolation across hosts ---- */

/* coop's own forward rules (table inet coop) drop traffic between two VPC bridges; with
 * an overlay, VPC B's traffic could still be routed out of VPC A's VXLAN device (a node
 * routes every VPC it is in), and arrive on A's bridge elsewhere. This table allows a
 * VXLAN device to exchange traffic with its own VPC's bridge only, and only the VPC's
 * own addresses to arrive through it. Published ports (DNAT) stay reachable, as in the
 * main table.
 *
 * Every forwarded packet passes this chain, so it is laid out for the common case: one
 * verdict-map lookup on the input device, then a chain of at most four short rules for
 * that device (a rule list with ifname sets cost 4 set lookups and 6 name loads per
 * packet). (Exempting the VXLAN packets from conntrack with notrack rules was tried and
 * measured no gain: the two raw chains every packet then passes cost what the outer
 * conntrack lookups saved — docs/benchmarks.md.) */
char *net_overlay_nft_render(const struct netstate *ns, const bool *has)
{
	char *buf = NULL, dev[16], c[20];
	size_t len = 0, k = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f) /* out of memory, as xmalloc treats it */
		abort();
	fputs("add table " NET_OVERLAY_NFT_TABLE "\ndelete table " NET_OVERLAY_NFT_TABLE "\n", f);
	for (size_t i = 0; i < ns->n_vpcs; i++)
		k += has[i];
	if (!k)
		goto out;
	fputs("table " NET_OVERLAY_NFT_TABLE " {\n\tset vteps {\n\t\ttype ifname\n\t\telements = { ", f);
	for (size_t i = 0, j = 0; i < ns->n_vpcs; i++)
		if (has[i])
			net_overlay_dev_name(&ns->vpcs[i], dev), fprintf(f, "%s\"%s\"", j++ ? ", " : "", dev);
	fputs(" }\n\t}\n\tset bridges {\n\t\ttype ifname\n\t\telements = { ", f);
	for (size_t i = 0; i < ns->n_vpcs; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : "", ns->vpcs[i].bridge);
	fputs(" }\n\t}\n", f);
	for (size_t i = 0; i < ns->n_vpcs; i++) {
		const struct net_vpc *v = &ns->vpcs[i];
		net_overlay_dev_name(v, dev);
		if (has[i])
			fprintf(f, "\tchain in-%s {\n"
				   "\t\tip saddr != %s drop comment \"vpc %s: only its addresses arrive\"\n"
				   "\t\toifname \"%s\" accept\n"
				   "\t\toifname @vteps drop comment \"no transit\"\n"
				   "\t\toifname @bridges drop comment \"vpc isolation across hosts\"\n\t}\n",
				dev, net_ipam_cidr_fmt(&v->cidr, c), v->name, v->bridge);
		fprintf(f, "\tchain in-%s {\n\t\toifname @vteps ", v->bridge);
		if (has[i])
			fprintf(f, "oifname != \"%s\" ", dev);
		fputs("drop comment \"vpc isolation across hosts\"\n\t}\n", f);
	}
	fputs("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
	      "\t\tct status dnat accept comment \"published ports\"\n\t\tiifname vmap { ", f);
	for (size_t i = 0, j = 0; i < ns->n_vpcs; i++) {
		const struct net_vpc *v = &ns->vpcs[i];
		net_overlay_dev_name(v, dev);
		if (has[i])
			fprintf(f, "%s\"%s\" : jump in-%s", j++ ? ", " : "", dev, dev);
		fprintf(f, "%s\"%s\" : jump in-%s", j++ ? ", " : "", v->bridge, v->bridge);
	}
	fputs(" }\n\t}\n}\n", f);
out:
	if (fclose(f) != 0)
		abort();
	return buf;
}

/* ---- kernel ---- */

static void nl_closep(struct net_nl **nl)
{
	net_nl_close(*nl);
}
#define _cleanup_nl_ _cleanup_(nl_closep)

/* Which VPCs of ns have an overlay device here (has[i]), and their VNIs (others, all
 * but skip). Returns the number of others. */
static int overlays_here(struct net_nl *nl, struct netstate *ns, const struct net_vpc *skip,
			 bool *has, struct net_overlay_other *others, size_t *ret_n, struct err *err)
{
	size_t n = 0;
	int r;

	for (size_t i = 0; i < ns->n_vpcs; i++) {
		char dev[16];
		uint32_t vni;
		int idx;

		net_overlay_dev_name(&ns->vpcs[i], dev);
		has[i] = false;
		if ((idx = net_link_index(nl, dev, NULL)) < 0)
			continue;
		if ((r = net_vxlan_info(nl, idx, &vni, NULL, err)) < 0)
			return r;
		has[i] = true;
		if (&ns->vpcs[i] != skip)
			others[n++] = (struct net_overlay_other){ ns->vpcs[i].name, vni };
	}
	*ret_n = n;
	return 0;
}

static int nft_follow(struct netstate *ns, const bool *has, struct err *err)
{
	_cleanup_free_ char *script = net_overlay_nft_render(ns, has);
	return net_nft_run(script, "apply nftables table " NET_OVERLAY_NFT_TABLE, err);
}

static int read_entries(struct net_nl *nl, int idx, struct net_overlay_entries *e,
			struct err *err)
{
	int r;

	*e = (struct net_overlay_entries){ 0 };
	if ((r = net_fdb_list(nl, idx, &e->fdb, &e->n_fdb, err)) < 0 ||
	    (r = net_neigh_list(nl, idx, &e->neigh, &e->n_neigh, err)) < 0 ||
	    (r = net_route_list(nl, idx, &e->routes, &e->n_routes, err)) < 0)
		net_overlay_entries_free(e);
	return r;
}

static int op_run(struct net_nl *nl, int idx, const struct net_overlay_op *op, struct err *err)
{
	switch (op->kind) {
	case NET_OVERLAY_FDB_SET: return net_fdb_set(nl, idx, op->fdb.mac, op->fdb.dst, err);
	case NET_OVERLAY_NEIGH_SET: return net_neigh_set(nl, idx, op->neigh.ip, op->neigh.mac, err);
	case NET_OVERLAY_ROUTE_SET:
		return net_route_set(nl, op->route.dst, op->route.prefixlen, op->route.gw, idx, true,
				     err);
	case NET_OVERLAY_ROUTE_DEL:
		return net_route_del(nl, op->route.dst, op->route.prefixlen, idx, err);
	case NET_OVERLAY_NEIGH_DEL: return net_neigh_del(nl, idx, op->neigh.ip, err);
	case NET_OVERLAY_FDB_DEL: return net_fdb_del(nl, idx, op->fdb.mac, op->fdb.dst, err);
	}
	return err_msg(err, EINVAL, "unknown overlay change %d", op->kind);
}

/* GRO off on the VXLAN device. What arrives from the underlay was merged already: by the
 * NIC's GRO, which strips VXLAN and merges the inner TCP segments (the UDP tunnel GRO of
 * the kernel's VXLAN socket), or by the sender's GSO on a veth underlay. A second pass in
 * the device's GRO cell merges nothing more and costs ~9 % of the overlay's CPU per GB
 * here (docs/benchmarks.md); without it a decapsulated packet goes on through the
 * backlog like any received one. A tuning: if the kernel refuses it, the overlay works
 * all the same (a warning, not an error). */
static void gro_off(const char *dev)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ethtool_value ev = { .cmd = ETHTOOL_GGRO };
	struct ifreq ifr = { .ifr_data = (char *)&ev };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (fd < 0 || ioctl(fd, SIOCETHTOOL, &ifr) < 0) {
		log_warn("overlay %s: cannot read its GRO setting: %s", dev, strerror(errno));
		return;
	}
	if (!ev.data)
		return;
	ev = (struct ethtool_value){ .cmd = ETHTOOL_SGRO, .data = 0 };
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		log_warn("overlay %s: cannot turn GRO off: %s", dev, strerror(errno));
}

/* The device as self describes it: re-created when its VNI or local address differ.
 * *created tells the caller to delete it again if a later step fails; *ret_ul is the
 * underlay device. */
static int device_ensure(struct net_nl *nl, const struct net_vpc *vpc,
			 const struct net_overlay_self *self, bool *created, int *ret_ul,
			 struct err *err)
{
	char dev[16];
	uint8_t mac[6], have[6];
	struct in_addr local, vtep = { htonl(self->subnet.addr) };
	uint32_t vni;
	int idx, ul, r;

	net_overlay_dev_name(vpc, dev);
	*created = false;
	if ((*ret_ul = ul = net_link_index(nl, self->underlay_dev, err)) < 0)
		return err_wrap(err, "underlay device");
	if ((idx = net_link_index(nl, dev, NULL)) > 0) {
		if ((r = net_vxlan_info(nl, idx, &vni, &local, err)) < 0)
			return r;
		if (vni != self->vni || local.s_addr != self->underlay.s_addr) {
			log_info("overlay %s: VNI or local address changed, re-creating", dev);
			net_fastpath_off(nl, vpc); /* its underlay filter is by the old VNI */
			if ((r = net_link_del(nl, dev, err)) < 0)
				return r;
			idx = -1;
		}
	}
	if (idx <= 0) {
		if ((r = net_vxlan_add(nl, dev, self->vni, self->underlay, ul, NET_OVERLAY_PORT,
				       self->underlay_mtu - NET_OVERLAY_OVERHEAD, err)) < 0)
			return r;
		*created = true;
		if ((idx = net_link_index(nl, dev, err)) < 0)
			return idx;
	}
	net_overlay_vtep_mac(self->node, self->vni, mac);
	/* setting the MAC, even to the same value, flushes the device's neighbours (the
	 * kernel's NETDEV_CHANGEADDR): only when it differs */
	if ((r = net_link_mac(nl, idx, have, err)) < 0)
		return r;
	struct net_link_change c = { .up = 1, .mtu = self->underlay_mtu - NET_OVERLAY_OVERHEAD,
				     .netns_fd = -1, .mac = memcmp(have, mac, 6) ? mac : NULL };
	if ((r = net_link_set(nl, idx, &c, err)) < 0 ||
	    (r = net_addr_add(nl, idx, vtep, 32, err)) < 0)
		return r;
	gro_off(dev);
	return idx;
}

/* The VPC's bridge and its containers' veths (both ends) take the overlay's MTU. A
 * container whose namespace is gone is skipped. */
static int mtu_follow(struct net_nl *nl, struct net_vpc *vpc, unsigned mtu, struct err *err)
{
	struct net_link_change c = { .up = -1, .mtu = mtu, .netns_fd = -1 };
	int idx, r;

	vpc->mtu = mtu;
	if ((idx = net_link_index(nl, vpc->bridge, NULL)) > 0 &&
	    (r = net_link_set(nl, idx, &c, err)) < 0)
		return r;
	for (size_t i = 0; i < vpc->n_leases; i++) {
		const struct net_lease *l = &vpc->leases[i];
		struct net_nl *cnl = NULL;
		char veth[16];

		netstate_veth_name(l->owner, veth);
		if ((idx = net_link_index(nl, veth, NULL)) > 0 &&
		    (r = net_link_set(nl, idx, &c, err)) < 0)
			return r;
		if (!l->netns || net_nl_open_ns(l->netns, &cnl, NULL) < 0)
			continue;
		if ((idx = net_link_index(cnl, "eth0", NULL)) > 0 &&
		    (r = net_link_set(cnl, idx, &c, err)) < 0) {
			net_nl_close(cnl);
			return err_wrap(err, "container '%s'", l->owner);
		}
		net_nl_close(cnl);
	}
	return 0;
}

static int program(struct net_nl *nl, int idx, const struct net_overlay_peer *peers, size_t n,
		   struct err *err)
{
	struct net_overlay_entries have, want;
	_cleanup_free_ struct net_overlay_op *ops = NULL;
	size_t k;
	int r;

	if ((r = read_entries(nl, idx, &have, err)) < 0)
		return r;
	net_overlay_want(peers, n, &want);
	k = net_overlay_plan(&have, &want, &ops);
	net_overlay_entries_free(&have);
	net_overlay_entries_free(&want);
	for (size_t i = 0; i < k; i++)
		if ((r = op_run(nl, idx, &ops[i], err)) < 0)
			return r;
	return (int)k;
}

int net_overlay_apply(struct netstate *ns, struct net_vpc *vpc, const struct net_overlay_self *self,
		      struct net_overlay_peer *peers, size_t n, struct err *err)
{
	_cleanup_nl_ struct net_nl *nl = NULL;
	_cleanup_free_ bool *has = xcalloc(ns->n_vpcs + 1, sizeof(*has));
	_cleanup_free_ struct net_overlay_other *others =
		xcalloc(ns->n_vpcs + 1, sizeof(*others));
	size_t n_others;
	bool created;
	char dev[16];
	int idx, ul, k, r;

	if ((r = net_nl_open(&nl, err)) < 0 ||
	    (r = overlays_here(nl, ns, vpc, has, others, &n_others, err)) < 0 ||
	    (r = net_overlay_validate(vpc, self, peers, n, others, n_others, err)) < 0)
		return r;
	net_overlay_dev_name(vpc, dev);
	if ((idx = device_ensure(nl, vpc, self, &created, &ul, err)) < 0 ||
	    (k = program(nl, idx, peers, n, err)) < 0) {
		r = idx < 0 ? idx : k;
		if (created)
			net_link_del(nl, dev, NULL);
		return err_wrap(err, "overlay of VPC '%s'", vpc->name);
	}
	has[vpc - ns->vpcs] = true;
	vpc->vni = self->vni;
	if ((r = mtu_follow(nl, vpc, self->underlay_mtu - NET_OVERLAY_OVERHEAD, err)) < 0 ||
	    (r = nft_follow(ns, has, err)) < 0 || (r = netstate_save(ns, err)) < 0)
		return r;
	bool fast = net_fastpath_sync(nl, vpc, idx, ul, self->underlay, peers, n);
	log_info("overlay %s (VPC '%s', VNI %u): %zu peers, %d changes, fast path %s", dev,
		 vpc->name, self->vni, n, k, fast ? "on" : "off");
	return k;
}

int net_overlay_remove(struct netstate *ns, struct net_vpc *vpc, struct err *err)
{
	_cleanup_nl_ struct net_nl *nl = NULL;
	_cleanup_free_ bool *has = xcalloc(ns->n_vpcs + 1, sizeof(*has));
	_cleanup_free_ struct net_overlay_other *others =
		xcalloc(ns->n_vpcs + 1, sizeof(*others));
	size_t n_others;
	char dev[16];
	int r;

	net_overlay_dev_name(vpc, dev);
	if ((r = net_nl_open(&nl, err)) < 0)
		return r;
	net_fastpath_off(nl, vpc);
	if ((r = net_link_del(nl, dev, err)) < 0 ||
	    (r = overlays_here(nl, ns, NULL, has, others, &n_others, err)) < 0)
		return r;
	return nft_follow(ns, has, err);
}

int net_overlay_read(const struct net_vpc *vpc, struct net_overlay_info *ret, struct err *err)
{
	_cleanup_nl_ struct net_nl *nl = NULL;
	int idx, r;

	memset(ret, 0, sizeof(*ret));
	net_overlay_dev_name(vpc, ret->dev);
	if ((r = net_nl_open(&nl, err)) < 0)
		return r;
	if ((idx = net_link_index(nl, ret->dev, err)) < 0)
		return idx;
	if ((r = net_vxlan_info(nl, idx, &ret->vni, &ret->local, err)) < 0)
		return r;
	return read_entries(nl, idx, &ret->have, err);
}
