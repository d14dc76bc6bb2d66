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
 * A third entry point, coop_fastpath_ul, sits on the underlay device: a VXLAN packet for
 * this node with the VPC's VNI whose inner packet is for a container of the VPC here is
 * decapsulated by the program (bpf_skb_adjust_room) and goes straight into the container
 * (bpf_redirect_peer), skipping the outer packet's IP input, netfilter, UDP socket and
 * VXLAN device. Other VXLAN packets, and everything else, go on to the next filter and
 * the kernel (TC_ACT_UNSPEC), which decapsulates them as before. Likewise a packet from a
 * container to a peer in the peers map is encapsulated by the program and sent out of the
 * underlay device (bpf_redirect_neigh), so with the fast path on at both ends the VXLAN
 * devices carry only what the programs pass over.
 *
 * Anything else — other VPCs, the host's own addresses, ARP, IPv6, TTL 1, a packet
 * bigger than the route's MTU, a route without a resolved neighbour — goes on unchanged
 * (TC_ACT_OK) to the normal path, whose nft rules decide as before. Isolation holds by
 * construction: the program sees only its VPC's CIDR, redirects only to its VPC's
 * device, and its eps map holds only its VPC's containers.
 *
 * Built with FP_MESH (the object coop loads first), both entry points also carry the
 * established TCP connections of published ports, the routing mesh's included (see
 * "Published ports and the routing mesh" below); without it (a kernel lacking
 * conntrack's BPF functions or BTF), that traffic stays on the kernel's path.
 *
 * Built with clang -target bpf; the objects are embedded in coop (fastpath_obj.S). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
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

/* The VPC's other nodes: their VXLAN address -> their underlay address (the loader keeps
 * it equal to the peer list). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct fp_peer);
} peers SEC(".maps");

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

/* Into the container: its MAC (from its address: net/attach.c sets it so), the bridge's
 * as source, TTL - 1. */
static __always_inline int deliver(const struct fp_cfg *c, struct ethhdr *eth, struct iphdr *ip,
				   const struct fp_ep *e, __u32 daddr, __u32 stat)
{
	eth->h_dest[0] = 0x0a;
	eth->h_dest[1] = 0x58;
	__builtin_memcpy(&eth->h_dest[2], &daddr, 4);
	__builtin_memcpy(eth->h_source, c->gw_mac, ETH_ALEN);
	ttl_dec(ip);
	count(stat);
	return bpf_redirect_peer(e->ifindex, 0);
}

/* The IPv4 header at l3 once helpers may have moved the data, or NULL. */
static __always_inline struct iphdr *ip_at(struct __sk_buff *skb, __u32 l3)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;

	if (data + l3 + sizeof(struct iphdr) > end)
		return NULL;
	return data + l3;
}

/* Out of route f's device to its next hop (its MACs), TTL - 1. The Ethernet header is at
 * the start of the data, the IPv4 header after it (checked before any helper moved it). */
static __always_inline int forward(struct __sk_buff *skb, const struct bpf_fib_lookup *f,
				   __u32 stat)
{
	struct iphdr *ip = ip_at(skb, sizeof(struct ethhdr));
	struct ethhdr *eth = (void *)ip - sizeof(*eth);

	if (!ip)
		return TC_ACT_SHOT; /* cannot happen: the header was there */
	__builtin_memcpy(eth->h_dest, f->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, f->smac, ETH_ALEN);
	ttl_dec(ip);
	count(stat);
	return bpf_redirect(f->ifindex, 0);
}

/* The outer and inner headers of a VXLAN packet, as they lie after the outer Ethernet
 * header (outer IPv4 without options). */
struct fp_vxlan {
	struct iphdr oip;
	struct udphdr udp;
	__u8 flags;
	__u8 rsvd[3];
	__u8 vni[3];
	__u8 rsvd2;
	struct ethhdr ieth;
	struct iphdr iip;
} __attribute__((packed));

/* Encapsulates the container's packet for peer p as the VPC's VXLAN device would (same
 * VNI, port, MACs and a UDP source port from the flow's hash, no UDP checksum) and sends
 * it out of the underlay device through the neighbour table: no VXLAN device, outer
 * route cache or netfilter hooks on the way. GSO packets stay GSO (UDP tunnel). */
static __always_inline int encap(struct __sk_buff *skb, const struct fp_cfg *c,
				 const struct bpf_fib_lookup *f, const struct fp_peer *p)
{
	const __u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 |
			    BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2_ETH |
			    BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN);
	__u32 hash = bpf_get_hash_recalc(skb), len = skb->len + FP_ENCAP_LEN;
	struct fp_vxlan *v;
	void *data, *end;
	__s64 sum;

	if (bpf_skb_adjust_room(skb, FP_ENCAP_LEN, BPF_ADJ_ROOM_MAC, flags) < 0)
		return TC_ACT_OK; /* unchanged: the normal path takes it */
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	if (data + sizeof(struct ethhdr) + sizeof(*v) > end)
		return TC_ACT_SHOT;
	v = data + sizeof(struct ethhdr);
	v->ieth.h_proto = bpf_htons(ETH_P_IP);
	__builtin_memcpy(v->ieth.h_dest, f->dmac, ETH_ALEN);
	__builtin_memcpy(v->ieth.h_source, f->smac, ETH_ALEN);
	ttl_dec((struct iphdr *)((void *)v + __builtin_offsetof(struct fp_vxlan, iip)));
	v->flags = 0x08;
	v->rsvd[0] = v->rsvd[1] = v->rsvd[2] = v->rsvd2 = 0;
	v->vni[0] = c->vni >> 16;
	v->vni[1] = c->vni >> 8;
	v->vni[2] = c->vni;
	v->udp.source = bpf_htons((__u16)((((__u64)hash * 28232) >> 32) + 32768));
	v->udp.dest = bpf_htons(FP_VXLAN_PORT);
	v->udp.len = bpf_htons((__u16)(len - sizeof(struct ethhdr) - sizeof(struct iphdr)));
	v->udp.check = 0;
	v->oip.version = 4;
	v->oip.ihl = 5;
	v->oip.tos = v->iip.tos;
	v->oip.tot_len = bpf_htons((__u16)(len - sizeof(struct ethhdr)));
	v->oip.id = 0;
	v->oip.frag_off = 0;
	v->oip.ttl = 64;
	v->oip.protocol = IPPROTO_UDP;
	v->oip.check = 0;
	v->oip.saddr = c->local;
	v->oip.daddr = p->underlay;
	sum = bpf_csum_diff(0, 0, (__be32 *)(void *)v, sizeof(struct iphdr), 0);
	if (sum < 0)
		return TC_ACT_SHOT;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	v->oip.check = (__u16)~sum;
	count(FP_STAT_ENCAP);
	return bpf_redirect_neigh(c->ul_ifindex, NULL, 0, 0);
}

#ifdef FP_MESH
/* ---- Published ports and the routing mesh ----
 *
 * A client reaches a published port on this node's address; the kernel's nft rules
 * (net/nft.c) DNAT the connection's first packet to a backend — a container here, or one
 * on another node, then also masqueraded to this node's VXLAN address — and conntrack
 * records the translations. From then on every packet of the connection would take the
 * kernel's whole forward path (conntrack, nat, routing, forward and postrouting hooks,
 * the bridge or the VXLAN device). Here, for a connection that conntrack has ESTABLISHED
 * with a DNAT, the program looks the entry up (bpf_skb_ct_lookup), applies its
 * translations itself and sends the segment on:
 *   client -> here (underlay, no VXLAN): into the backend's namespace when it is a
 *     container of the VPC here (mesh_out -> deliver), else encapsulated to its node;
 *   remote backend -> here (VXLAN of this VPC, not for a container): decapsulated and
 *     out to the client (mesh_back);
 *   local backend -> its host veth, for outside the VPC: out to the client (mesh_reply).
 * It refreshes the entry's timeout as conntrack would. SYN, FIN and RST segments, GSO
 * packets from the underlay, and anything the route or its MTU does not allow go to the
 * kernel, so conntrack still sees each connection open and close; the loader sets
 * nf_conntrack_tcp_be_liberal, since conntrack no longer sees every segment's sequence
 * numbers (the window checks would otherwise mark those it does see invalid). */

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
/* The parts of conntrack's entry read here; CO-RE finds them in the kernel's BTF. */
union nf_inet_addr {
	__u32 all[4];
	__be32 ip;
};
union nf_conntrack_man_proto {
	__be16 all;
};
struct nf_conntrack_man {
	union nf_inet_addr u3;
	union nf_conntrack_man_proto u;
};
struct nf_conntrack_tuple {
	struct nf_conntrack_man src;
	struct {
		union nf_inet_addr u3;
		union {
			__be16 all;
		} u;
	} dst;
};
struct nf_conntrack_tuple_hash {
	struct nf_conntrack_tuple tuple;
};
struct ip_ct_tcp {
	__u8 state;
};
union nf_conntrack_proto {
	struct ip_ct_tcp tcp;
};
struct nf_conn {
	struct nf_conntrack_tuple_hash tuplehash[2];
	unsigned long status;
	union nf_conntrack_proto proto;
};
#pragma clang attribute pop

struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *skb, struct bpf_sock_tuple *tuple,
					 __u32 tuple_len, struct bpf_ct_opts *opts,
					 __u32 opts_len) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;
extern int bpf_ct_change_timeout(struct nf_conn *ct, __u32 msecs) __ksym;

#define CT_SRC_NAT (1UL << 4)  /* IPS_SRC_NAT */
#define CT_DST_NAT (1UL << 5)  /* IPS_DST_NAT */
#define CT_TCP_ESTABLISHED 3   /* TCP_CONNTRACK_ESTABLISHED */
#define TCP_NO_FAST 0x07       /* FIN, SYN, RST: for conntrack to see */

/* One side of a translation: address and port, network order. */
struct mesh_ep {
	__u32 ip;
	__u16 port;
};

/* Whether tuple t is the packet's from[0] -> from[1]. */
static __always_inline int ct_is(const struct nf_conntrack_tuple *t, const struct mesh_ep from[2])
{
	return t->src.u3.ip == from[0].ip && t->src.u.all == from[0].port &&
	       t->dst.u3.ip == from[1].ip && t->dst.u.all == from[1].port;
}

/* A packet answering tuple t goes from t's destination to t's source. */
static __always_inline int ct_to(const struct nf_conntrack_tuple *t, struct mesh_ep to[2])
{
	to[0].ip = t->dst.u3.ip;
	to[0].port = t->dst.u.all;
	to[1].ip = t->src.u3.ip;
	to[1].port = t->src.u.all;
	return 1;
}

/* A published port's translation for the segment from[0] -> from[1], when conntrack has
 * the connection ESTABLISHED with a DNAT and the segment goes in direction dir (0: client
 * -> published port, 1: backend -> client): to = its new source and destination. Returns
 * the entry's NAT bits (CT_DST_NAT, and CT_SRC_NAT when masqueraded), 0 for none;
 * refreshes the entry's timeout. */
static __always_inline unsigned long mesh_ct(struct __sk_buff *skb, const struct fp_cfg *c,
					     const struct mesh_ep from[2], int dir,
					     struct mesh_ep to[2])
{
	struct bpf_sock_tuple t = {
		.ipv4 = { .saddr = from[0].ip,
			  .daddr = from[1].ip,
			  .sport = from[0].port,
			  .dport = from[1].port },
	};
	struct bpf_ct_opts o = { 0 };
	struct nf_conn *ct;
	unsigned long nat;
	int ok;

	/* set one by one: an initialised struct would be copied from a .rodata map */
	o.netns_id = BPF_F_CURRENT_NETNS;
	o.l4proto = IPPROTO_TCP;
	if (!(ct = bpf_skb_ct_lookup(skb, &t, sizeof(t.ipv4), &o, sizeof(o))))
		return 0;
	/* the segment's own tuple is tuplehash[dir]; the other is what it becomes, reversed.
	 * Constant indices: CO-RE relocates each access path, not a computed index. */
	nat = ct->status & (CT_SRC_NAT | CT_DST_NAT);
	ok = (nat & CT_DST_NAT) && ct->proto.tcp.state == CT_TCP_ESTABLISHED &&
	     (dir ? ct_is(&ct->tuplehash[1].tuple, from) && ct_to(&ct->tuplehash[0].tuple, to)
		  : ct_is(&ct->tuplehash[0].tuple, from) && ct_to(&ct->tuplehash[1].tuple, to));
	if (ok)
		bpf_ct_change_timeout(ct, c->ct_est_ms);
	bpf_ct_release(ct);
	return ok ? nat : 0;
}

/* The TCP segment whose IPv4 header is at l3, pulled into the linear data, when it may
 * take the fast path (no IP options, not a fragment, TTL > 1, none of SYN, FIN, RST):
 * from = its source and destination. */
static __always_inline int mesh_seg(struct __sk_buff *skb, __u32 l3, struct mesh_ep from[2])
{
	const __u32 need = l3 + sizeof(struct iphdr) + sizeof(struct tcphdr);
	struct iphdr *ip;
	struct tcphdr *th;
	void *data, *end;

	if (skb->len < need || bpf_skb_pull_data(skb, need) < 0)
		return 0;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	if (data + need > end)
		return 0;
	ip = data + l3;
	th = (void *)(ip + 1);
	if (ip->protocol != IPPROTO_TCP || ip->ihl != 5 || ip->ttl <= 1 ||
	    (ip->frag_off & bpf_htons(0x3fff)) || (((__u8 *)th)[13] & TCP_NO_FAST))
		return 0;
	from[0] = (struct mesh_ep){ ip->saddr, th->source };
	from[1] = (struct mesh_ep){ ip->daddr, th->dest };
	return 1;
}

#define TCP_CSUM_OFF(l4) ((l4) + __builtin_offsetof(struct tcphdr, check))

/* Rewrites the IPv4/TCP packet at l3 (options-free) to to[0] -> to[1], both checksums
 * updated incrementally (the pseudo header's addresses included; a partial checksum is
 * kept so). */
static __always_inline int mesh_nat(struct __sk_buff *skb, __u32 l3, const struct mesh_ep from[2],
				    const struct mesh_ep to[2])
{
	const __u32 l4 = l3 + sizeof(struct iphdr);

	/* saddr and daddr, source and dest lie next to each other (no table: it would be a
	 * .rodata map) */
	for (int i = 0; i < 2; i++) {
		__u32 ipoff = l3 + __builtin_offsetof(struct iphdr, saddr) + 4 * i,
		      portoff = l4 + __builtin_offsetof(struct tcphdr, source) + 2 * i;

		if (from[i].ip != to[i].ip &&
		    (bpf_l4_csum_replace(skb, TCP_CSUM_OFF(l4), from[i].ip, to[i].ip,
					 BPF_F_PSEUDO_HDR | sizeof(__u32)) < 0 ||
		     bpf_l3_csum_replace(skb, l3 + __builtin_offsetof(struct iphdr, check),
					 from[i].ip, to[i].ip, sizeof(__u32)) < 0 ||
		     bpf_skb_store_bytes(skb, ipoff, &to[i].ip, sizeof(__u32), 0) < 0))
			return -1;
		if (from[i].port != to[i].port &&
		    (bpf_l4_csum_replace(skb, TCP_CSUM_OFF(l4), from[i].port, to[i].port,
					 sizeof(__u16)) < 0 ||
		     bpf_skb_store_bytes(skb, portoff, &to[i].port, sizeof(__u16), 0) < 0))
			return -1;
	}
	return 0;
}

/* The route from a translated packet's source to its destination (to), arriving on
 * ingress: success only; f filled. */
static __always_inline int mesh_route(struct __sk_buff *skb, const struct iphdr *ip,
				      const struct mesh_ep to[2], struct bpf_fib_lookup *f)
{
	*f = (struct bpf_fib_lookup){
		.family = AF_INET,
		.tos = ip->tos,
		.l4_protocol = IPPROTO_TCP,
		.ifindex = skb->ingress_ifindex,
		.ipv4_src = to[0].ip,
		.ipv4_dst = to[1].ip,
	};
	return bpf_fib_lookup(skb, f, sizeof(*f), 0) == BPF_FIB_LKUP_RET_SUCCESS;
}

/* A client's segment for a published port here (plain IPv4 on the underlay): into its
 * backend's namespace when that is a container of the VPC here, else (masqueraded) over
 * the overlay to its node; or TC_ACT_UNSPEC. */
static __always_inline int mesh_out(struct __sk_buff *skb, const struct fp_cfg *c)
{
	const __u32 l3 = sizeof(struct ethhdr);
	struct mesh_ep from[2], to[2];
	struct bpf_fib_lookup f;
	struct iphdr *ip;
	struct fp_peer *p;
	struct fp_ep *e;
	unsigned long nat;
	__u32 nh, daddr;

	if (skb->gso_size || !mesh_seg(skb, l3, from) ||
	    !(nat = mesh_ct(skb, c, from, 0, to)) || !in_vpc(c, to[1].ip))
		return TC_ACT_UNSPEC;
	daddr = to[1].ip;
	if ((e = bpf_map_lookup_elem(&eps, &daddr))) {
		if (mesh_nat(skb, l3, from, to) < 0 || !(ip = ip_at(skb, l3)))
			return TC_ACT_SHOT; /* half rewritten: cannot go on */
		return deliver(c, (void *)ip - l3, ip, e, daddr, FP_STAT_MESH_OUT);
	}
	if (!(nat & CT_SRC_NAT) || !(ip = ip_at(skb, l3)) || !mesh_route(skb, ip, to, &f) ||
	    f.ifindex != c->vxlan_ifindex)
		return TC_ACT_UNSPEC;
	nh = f.ipv4_dst;
	if (!(p = bpf_map_lookup_elem(&peers, &nh)))
		return TC_ACT_UNSPEC;
	if (mesh_nat(skb, l3, from, to) < 0)
		return TC_ACT_SHOT;
	count(FP_STAT_MESH_OUT);
	return encap(skb, c, &f, p);
}

/* A remote backend's segment back (its VXLAN headers validated: for this node, the VPC's
 * VNI, the inner destination no container here): decapsulated, translated back, to the
 * client. */
static __always_inline int mesh_back(struct __sk_buff *skb, const struct fp_cfg *c)
{
	const __u32 l3 = sizeof(struct ethhdr), inner = l3 + FP_ENCAP_LEN;
	struct mesh_ep from[2], to[2];
	struct bpf_fib_lookup f;
	struct iphdr *ip;

	if (skb->gso_size || !mesh_seg(skb, inner, from) ||
	    mesh_ct(skb, c, from, 1, to) != (CT_SRC_NAT | CT_DST_NAT) ||
	    !(ip = ip_at(skb, inner)) || !mesh_route(skb, ip, to, &f) ||
	    bpf_skb_adjust_room(skb, -FP_ENCAP_LEN, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO) < 0)
		return TC_ACT_UNSPEC;
	if (mesh_nat(skb, l3, from, to) < 0)
		return TC_ACT_SHOT; /* half rewritten: cannot go on */
	return forward(skb, &f, FP_STAT_MESH_BACK);
}

/* A container's answer on a connection to a published port here (on its host veth, the
 * destination outside the VPC): translated back to the published address and port and
 * sent to the client, skipping the bridge, the IP forward and netfilter; or TC_ACT_OK. */
static __always_inline int mesh_reply(struct __sk_buff *skb, const struct fp_cfg *c)
{
	const __u32 l3 = sizeof(struct ethhdr);
	struct mesh_ep from[2], to[2];
	struct bpf_fib_lookup f;
	struct iphdr *ip;

	/* the kernel's path would route it anywhere but back into the VPC */
	if (!mesh_seg(skb, l3, from) || !mesh_ct(skb, c, from, 1, to) || in_vpc(c, to[1].ip) ||
	    !(ip = ip_at(skb, l3)) || !mesh_route(skb, ip, to, &f) || f.ifindex == c->vxlan_ifindex)
		return TC_ACT_OK;
	if (mesh_nat(skb, l3, from, to) < 0)
		return TC_ACT_SHOT;
	return forward(skb, &f, FP_STAT_MESH_BACK);
}
#endif

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
		return deliver(c, eth, ip, e, daddr, FP_STAT_IN);
	}

	if (!in_vpc(c, ip->daddr)) {
#ifdef FP_MESH
		if (c->ct_est_ms && ip->protocol == IPPROTO_TCP)
			return mesh_reply(skb, c);
#endif
		return TC_ACT_OK;
	}
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
	/* the route's next hop is the peer's VXLAN address (f.ipv4_dst now) */
	__u32 nh = f.ipv4_dst;
	struct fp_peer *p = c->local && c->ul_ifindex ? bpf_map_lookup_elem(&peers, &nh) : NULL;
	if (p)
		return encap(skb, c, &f, p);
	return forward(skb, &f, FP_STAT_OUT);
}

/* bpf_fib_lookup and bpf_redirect_peer are for GPL-compatible programs only */
SEC("tc")
int coop_fastpath_ul(struct __sk_buff *skb)
{
	const __u32 need = sizeof(struct ethhdr) + sizeof(struct fp_vxlan);
	__u32 zero = 0, daddr;
	struct fp_cfg *c = bpf_map_lookup_elem(&cfg, &zero);
	struct fp_vxlan *v;
	struct fp_ep *e;
	void *data, *end;

	if (!c || !c->local || skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
#ifdef FP_MESH
	struct iphdr *ip = data + sizeof(struct ethhdr);
	if (c->ct_est_ms && (void *)(ip + 1) <= end && ip->protocol == IPPROTO_TCP &&
	    ip->daddr == c->local)
		return mesh_out(skb, c);
#endif
	if (data + need > end) {
		if (skb->len < need || bpf_skb_pull_data(skb, need) < 0)
			return TC_ACT_UNSPEC;
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		if (data + need > end)
			return TC_ACT_UNSPEC;
	}
	v = data + sizeof(struct ethhdr);
	if (v->oip.version != 4 || v->oip.ihl != 5 || v->oip.protocol != IPPROTO_UDP ||
	    v->oip.daddr != c->local || (v->oip.frag_off & bpf_htons(0x3fff)) ||
	    v->udp.dest != bpf_htons(FP_VXLAN_PORT) || v->flags != 0x08 ||
	    (((__u32)v->vni[0] << 16) | ((__u32)v->vni[1] << 8) | v->vni[2]) != c->vni ||
	    v->ieth.h_proto != bpf_htons(ETH_P_IP) || v->iip.version != 4 || v->iip.ttl <= 1 ||
	    !in_vpc(c, v->iip.saddr))
		return TC_ACT_UNSPEC;
	daddr = v->iip.daddr;
	if (!(e = bpf_map_lookup_elem(&eps, &daddr))) {
#ifdef FP_MESH
		if (c->ct_est_ms && v->iip.protocol == IPPROTO_TCP)
			return mesh_back(skb, c);
#endif
		return TC_ACT_UNSPEC;
	}
	/* outer IP, UDP, VXLAN and the inner Ethernet header go; the outer Ethernet header
	 * stays for the inner packet. The inner segment size stays (GSO). */
	if (bpf_skb_adjust_room(skb, -FP_ENCAP_LEN, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO) < 0)
		return TC_ACT_UNSPEC;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	if (data + sizeof(struct ethhdr) + sizeof(struct iphdr) > end)
		return TC_ACT_SHOT; /* cannot happen: the inner header was there */
	return deliver(c, data, data + sizeof(struct ethhdr), e, daddr, FP_STAT_DECAP);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
