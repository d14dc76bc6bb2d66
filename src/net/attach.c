/* attach: a container's network plumbing on this node (bridge, veth, addresses, route,
 * /etc files) through net/nl, and its removal. The state is committed first and the
 * kernel follows; a failure unwinds what this call built, newest first. */
#include "net/attach.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <time.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/util.h"
#include "net/fastpath.h"
#include "net/nl.h"
#include "net/ports.h"

static void nl_closep(struct net_nl **nl)
{
	if (*nl)
		net_nl_close(*nl);
}
#define _cleanup_nl_ _cleanup_(nl_closep)

static struct in_addr in4(uint32_t host_order)
{
	return (struct in_addr){ .s_addr = htonl(host_order) };
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static int sysctl_set(const char *path, const char *value, struct err *err)
{
	_cleanup_free_ char *cur = NULL;
	/* reading first avoids a write (and its cost) on every attach */
	if (fs_read(path, &cur, NULL) == 0 && strncmp(cur, value, strlen(value)) == 0)
		return 0;
	return fs_write(path, value, err);
}

/* The VPC's bridge with its gateway address, up; created when missing, adopted when
 * present. *ret_created tells the caller whether to remove it on unwind. */
static int bridge_ensure(struct net_nl *nl, const struct net_vpc *vpc, int *ret_index,
			 bool *ret_created, struct err *err)
{
	uint8_t mac[6];
	/* a MAC of its own (from the gateway address): not the lowest of its ports', which
	 * changes as containers come and go */
	struct net_link_change up = { .up = 1, .master = 0, .netns_fd = -1, .mac = mac };
	char path[128];
	int idx, r;

	*ret_created = false;
	net_fastpath_mac(vpc->gateway, mac);
	idx = net_link_index(nl, vpc->bridge, NULL);
	if (idx >= 0) {
		*ret_index = idx;
		return 0;
	}
	if ((r = net_bridge_add(nl, vpc->bridge, vpc->mtu, err)) < 0)
		return r;
	*ret_created = true;
	if ((idx = net_link_index(nl, vpc->bridge, err)) < 0)
		return idx;
	r = net_addr_add(nl, idx, in4(vpc->gateway), vpc->subnet.prefix, err);
	if (r < 0 && r != -EEXIST)
		return r;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", vpc->bridge);
	if ((r = sysctl_set(path, "0", err)) < 0)
		return r;
	/* the host reaching a published port on 127.0.0.1: DNATed, then routed out here */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", vpc->bridge);
	if ((r = sysctl_set(path, "1", err)) < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/send_redirects", vpc->bridge);
	if ((r = sysctl_set(path, "0", err)) < 0 ||
	    (r = sysctl_set("/proc/sys/net/ipv4/ip_forward", "1", err)) < 0 ||
	    (r = net_link_set(nl, idx, &up, err)) < 0)
		return r;
	*ret_index = idx;
	return 0;
}

int net_bridge_remove(const struct net_vpc *vpc, struct err *err)
{
	_cleanup_nl_ struct net_nl *nl = NULL;
	int r;

	if ((r = net_nl_open(&nl, err)) < 0)
		return r;
	return net_link_del(nl, vpc->bridge, err);
}

/* Inside the container: lo up, eth0 with its address and MAC (net_fastpath_mac), up,
 * default route via gw. */
static int inside_setup(const char *netns_path, const struct net_vpc *vpc, uint32_t ip,
			struct err *err)
{
	_cleanup_nl_ struct net_nl *nl = NULL;
	struct net_link_change up = { .up = 1, .master = 0, .netns_fd = -1 };
	uint8_t mac[6];
	struct net_link_change eth_up = { .up = 1, .netns_fd = -1, .mac = mac };
	int lo, eth, r;

	if ((r = net_nl_open_ns(netns_path, &nl, err)) < 0)
		return r;
	if ((lo = net_link_index(nl, "lo", err)) < 0 || (r = net_link_set(nl, lo, &up, err)) < 0)
		return lo < 0 ? lo : r;
	if ((eth = net_link_index(nl, "eth0", err)) < 0)
		return eth;
	net_fastpath_mac(ip, mac);
	if ((r = net_addr_add(nl, eth, in4(ip), vpc->subnet.prefix, err)) < 0 ||
	    (r = net_link_set(nl, eth, &eth_up, err)) < 0 ||
	    (r = net_route_set(nl, in4(0), 0, in4(vpc->gateway), eth, false, err)) < 0)
		return r;
	return 0;
}

static int etc_write(const char *dir, const char *file, const char *text, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
	return fs_replace(path, text, strlen(text), 0644, err);
}

/* hosts (localhost + own name), hostname, resolv.conf (the VPC's resolver on its gateway). */
static int etc_files(const char *dir, const struct net_vpc *vpc, const char *hostname,
		     uint32_t ip, struct err *err)
{
	char a[16], g[16];
	_cleanup_free_ char *hosts = xasprintf(
		"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s %s.coop\n",
		net_ipam_addr_fmt(ip, a), hostname, hostname);
	_cleanup_free_ char *hn = xasprintf("%s\n", hostname);
	_cleanup_free_ char *resolv = xasprintf("nameserver %s\nsearch coop\n",
						net_ipam_addr_fmt(vpc->gateway, g));
	int r;

	if ((r = fs_mkdir_p(dir, 0755, err)) < 0 || (r = etc_write(dir, "hosts", hosts, err)) < 0 ||
	    (r = etc_write(dir, "hostname", hn, err)) < 0 ||
	    (r = etc_write(dir, "resolv.conf", resolv, err)) < 0)
		return r;
	return 0;
}

/* The kernel part of an attach; on failure, what it built is removed again. */
static int plumb(struct netstate *ns, struct net_vpc *vpc, const char *owner,
		 const char *netns_path, unsigned mtu, uint32_t ip, struct err *err)
{
	_cleanup_nl_ struct net_nl *nl = NULL;
	_cleanup_close_ int nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
	struct net_link_change port = { .up = 1, .netns_fd = -1 };
	char veth[16];
	bool br_created = false, veth_created = false;
	int br, idx, r;

	netstate_veth_name(owner, veth);
	if (nsfd < 0)
		return err_sys(err, errno, "open network namespace '%s'", netns_path);
	if ((r = net_nl_open(&nl, err)) < 0)
		return r;
	if ((r = bridge_ensure(nl, vpc, &br, &br_created, err)) < 0)
		goto unwind;
	log_debug("bridge ensured");
	if (net_link_index(nl, veth, NULL) >= 0) {
		r = err_msg(err, EEXIST, "interface '%s' (for '%s') already exists on this host",
			    veth, owner);
		goto unwind;
	}
	if ((r = net_veth_add(nl, veth, "eth0", nsfd, mtu, err)) < 0) {
		err_wrap(err, "network namespace '%s'", netns_path);
		goto unwind;
	}
	veth_created = true;
	log_debug("veth added");
	port.master = br;
	if ((idx = r = net_link_index(nl, veth, err)) < 0 ||
	    (r = net_link_set(nl, idx, &port, err)) < 0 ||
	    (r = net_bridge_port_hairpin(nl, idx, true, err)) < 0 ||
	    (r = inside_setup(netns_path, vpc, ip, err)) < 0)
		goto unwind;
	net_fastpath_add(nl, vpc, idx, ip);
	return 0;
unwind:
	if (veth_created)
		net_link_del(nl, veth, NULL);
	if (br_created)
		net_link_del(nl, vpc->bridge, NULL);
	return r;
}


int net_attach(struct netstate *ns, struct net_vpc *vpc, const char *owner,
	       const char *netns_path, const struct net_attach_opts *opts, uint32_t *ret_ip,
	       struct err *err)
{
	static const struct net_attach_opts none = { 0 };
	const struct net_attach_opts *o = opts ? opts : &none;
	unsigned mtu = o->mtu ? o->mtu : vpc->mtu;
	_cleanup_free_ char *applied = NULL;
	struct timespec t0;
	uint32_t ip;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((r = netstate_lease(ns, vpc, owner, o->workload, netns_path, &ip, err)) < 0)
		return r;
	/* the lease is on disk before the kernel knows the address: a crash cannot leak it */
	if ((r = netstate_log(ns, NETSTATE_LOG_LEASE, owner, err)) < 0)
		goto release;
	applied = ns->nft_applied ? xstrdup(ns->nft_applied) : NULL;
	log_debug("attach '%s': lease saved at %.3f ms", owner, ms_since(&t0));
	if ((r = plumb(ns, vpc, owner, netns_path, mtu, ip, err)) < 0)
		goto release;
	log_debug("attach '%s': plumbed at %.3f ms", owner, ms_since(&t0));
	if ((r = net_ports_apply(ns, false, err)) < 0)
		goto unplumb;
	if (o->etc_dir && (r = etc_files(o->etc_dir, vpc, o->hostname ? o->hostname : owner, ip,
					 err)) < 0)
		goto unplumb;
	/* the ruleset was applied anew: remember its digest */
	if (!streq(applied ? applied : "", ns->nft_applied ? ns->nft_applied : "") &&
	    (r = netstate_log(ns, NETSTATE_LOG_NFT, NULL, err)) < 0)
		goto unplumb;
	log_debug("attach '%s' to VPC '%s': %.3f ms", owner, vpc->name, ms_since(&t0));
	*ret_ip = ip;
	return 0;
unplumb: {
	_cleanup_nl_ struct net_nl *nl = NULL;
	char veth[16];
	netstate_veth_name(owner, veth);
	if (net_nl_open(&nl, NULL) == 0) {
		net_link_del(nl, veth, NULL);
		if (vpc->n_leases == 1)
			net_link_del(nl, vpc->bridge, NULL);
	}
}
release:
	netstate_release(ns, owner, NULL);
	netstate_log(ns, NETSTATE_LOG_RELEASE, owner, NULL);
	net_ports_apply(ns, false, NULL);
	netstate_log(ns, NETSTATE_LOG_NFT, NULL, NULL);
	return r;
}

int net_detach(struct netstate *ns, const char *owner, struct err *err)
{
	_cleanup_nl_ struct net_nl *nl = NULL;
	struct net_vpc *vpc;
	struct err e2 = { 0 };
	char veth[16], bridge[16];
	uint32_t ip;
	bool last;
	int r, r2;

	struct net_lease *l = netstate_lease_find(ns, owner, &vpc);
	if (!l)
		return err_msg(err, ENOENT, "'%s' is not attached to any VPC (see 'coop net ls')",
			       owner);
	ip = l->ip;
	netstate_veth_name(owner, veth);
	memcpy(bridge, vpc->bridge, sizeof(bridge));
	last = vpc->n_leases == 1;
	if ((r = netstate_release(ns, owner, err)) < 0 ||
	    (r = netstate_log(ns, NETSTATE_LOG_RELEASE, owner, err)) < 0)
		return r;
	/* traffic stops going to it before its link goes */
	r = net_ports_apply(ns, false, err);
	if ((r2 = netstate_log(ns, NETSTATE_LOG_NFT, NULL, r < 0 ? &e2 : err)) < 0 && r == 0)
		r = r2;
	if ((r2 = net_nl_open(&nl, r < 0 ? &e2 : err)) < 0)
		return r < 0 ? r : r2;
	net_fastpath_del(nl, vpc, ip);
	if ((r2 = net_link_del(nl, veth, r < 0 ? &e2 : err)) < 0 && r == 0)
		r = r2;
	if (last && (r2 = net_link_del(nl, bridge, r < 0 ? &e2 : err)) < 0 && r == 0)
		r = r2;
	return r;
}

int net_sync(struct netstate *ns, struct err *err)
{
	_cleanup_nl_ struct net_nl *nl = NULL;
	int r;

	if ((r = net_nl_open(&nl, err)) < 0)
		return r;
	for (size_t i = 0; i < ns->n_vpcs; i++) {
		int idx;
		bool created;
		if (!ns->vpcs[i].n_leases)
			continue;
		if ((r = bridge_ensure(nl, &ns->vpcs[i], &idx, &created, err)) < 0)
			return r;
	}
	if ((r = net_ports_apply(ns, true, err)) < 0)
		return r;
	return netstate_save(ns, err);
}
