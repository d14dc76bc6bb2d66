/* fastpath.bpf: the overlay's shortcut for container traffic, a tc (clsact ingress)
 * program, one instance per VPC with an overlay on this node (net/fastpath.c loads it).
 *
 * Attached to the ingress of the VPC's VXLAN device and of each of its containers' host
 * veths. A packet that the normal path would only forward between the two — a container
 * of the VPC talking to one on another node — skips the bridge, the IP forward and
 * netfilter, which is most of what the overlay costs per packet:
 *
 *   from a container: both addresses in the VPC's CIDR and the kernel's route for the
 *     destination leaves through the VPC's VXLAN device -> the route's MACs, TTL - 1,
 *     bpf_redirect to the VXLAN device (its FDB still picks the peer's underlay address);
 *   from the VXLAN device: the source in the VPC's CIDR and the destination a container
 *     of this VPC on this node (the eps map) -> its MAC, TTL - 1, bpf_redirect_peer into
 *     its namespace, without the host veth's second pass through the backlog.
 *
 * Anything else — other VPCs, the host's own addresses, published ports (DNAT), ARP,
 * IPv6, TTL 1, a packet bigger than the route's MTU, a route without a resolved
 * neighbour — goes on unchanged (TC_ACT_OK) to the normal path, whose nft rules decide
 * as before. Isolation holds by construction: the program sees only its VPC's CIDR,
 * redirects only to its VPC's device, and its eps map holds only its VPC's containers.
 *
 * Built with clang -target bpf; the object is embedded in coop (fastpath_obj.S). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "net/bpf/fastpath.h"

#ifndef AF_INET
#define AF_INET 2
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fp_cfg);
} cfg SEC(".maps");

/* A container of the VPC on this node: its address (network order) -> its host veth. The
 * loader sizes it to the node's subnet. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct fp_ep);
} eps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FP_STAT_N);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &k);
	if (v)
		*v += 1;
}

/* TTL - 1 with the header checksum updated in place (RFC 1624), as ip_decrease_ttl. */
static __always_inline void ttl_dec(struct iphdr *ip)
{
	__u32 check = ip->check;

	check += bpf_htons(0x0100);
	ip->check = (__u16)(check + (check >= 0xffff));
	ip->ttl--;
}

static __always_inline int in_vpc(const struct fp_cfg *c, __u32 addr)
{
	return (addr & c->mask) == c->net;
}

SEC("tc")
int coop_fastpath(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct fp_cfg *c = bpf_map_lookup_elem(&cfg, &zero);
	void *data, *end;
	struct ethhdr *eth;
	struct iphdr *ip;

	if (!c || !c->vxlan_ifindex || skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	if (data + sizeof(*eth) + sizeof(*ip) > end) {
		if (bpf_skb_pull_data(skb, sizeof(*eth) + sizeof(*ip)) < 0)
			return TC_ACT_OK;
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		if (data + sizeof(*eth) + sizeof(*ip) > end)
			return TC_ACT_OK;
	}
	eth = data;
	ip = data + sizeof(*eth);
	if (ip->version != 4 || ip->ttl <= 1 || !in_vpc(c, ip->saddr))
		return TC_ACT_OK;

	if (skb->ingress_ifindex == c->vxlan_ifindex) {
		__u32 daddr = ip->daddr;
		struct fp_ep *e = bpf_map_lookup_elem(&eps, &daddr);

		if (!e)
			return TC_ACT_OK;
		/* the container's MAC follows from its address (net/attach.c sets it so) */
		eth->h_dest[0] = 0x0a;
		eth->h_dest[1] = 0x58;
		__builtin_memcpy(&eth->h_dest[2], &daddr, 4);
		__builtin_memcpy(eth->h_source, c->gw_mac, ETH_ALEN);
		ttl_dec(ip);
		count(FP_STAT_IN);
		return bpf_redirect_peer(e->ifindex, 0);
	}

	if (!in_vpc(c, ip->daddr))
		return TC_ACT_OK;
	struct bpf_fib_lookup f = {
		.family = AF_INET,
		.tos = ip->tos,
		.l4_protocol = ip->protocol,
		.tot_len = 0, /* 0: the MTU is checked against the skb, GSO-aware */
		.ifindex = skb->ingress_ifindex,
		.ipv4_src = ip->saddr,
		.ipv4_dst = ip->daddr,
	};
	if (bpf_fib_lookup(skb, &f, sizeof(f), 0) != BPF_FIB_LKUP_RET_SUCCESS ||
	    f.ifindex != c->vxlan_ifindex)
		return TC_ACT_OK;
	/* the helper may have moved the data: load the pointers again */
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
	ip = data + sizeof(*eth);
	if ((void *)(ip + 1) > end)
		return TC_ACT_OK;
	__builtin_memcpy(eth->h_dest, f.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, f.smac, ETH_ALEN);
	ttl_dec(ip);
	count(FP_STAT_OUT);
	return bpf_redirect(f.ifindex, 0);
}

/* bpf_fib_lookup and bpf_redirect_peer are for GPL-compatible programs only */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
