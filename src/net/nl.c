/* nl: rtnetlink through libmnl. Every request carries NLM_F_ACK and waits for its ack;
 * an error becomes one line naming the object, with the kernel's extended-ack text when
 * it sent one. Replies are matched by sequence number and port id, so leftovers of an
 * aborted exchange are skipped rather than mistaken for an answer. */
#include "net/nl.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/veth.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <time.h>

#include "base/util.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* Big enough that the kernel never truncates a dump message (it fills up to 32 KiB). */
#define NL_RECV_SIZE 32768
/* Requests are small; one page-sized buffer holds any of them. */
#define NL_SEND_SIZE 8192

struct net_nl {
	struct mnl_socket *sock;
	unsigned portid;
	unsigned seq;
	char rbuf[NL_RECV_SIZE];
};

/* Called for every reply message that is not an ack/done/error. */
typedef int (*nl_cb)(const struct nlmsghdr *nlh, void *data);

/* ---- sockets ---- */

static int nl_socket(struct net_nl **ret, struct err *err)
{
	struct net_nl *nl = xcalloc(1, sizeof(*nl));
	int one = 1;

	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock) {
		int e = errno;
		free(nl);
		return err_sys(err, e, "open rtnetlink socket");
	}
	/* best effort: extended acks give the kernel's reason; capped acks keep them short */
	setsockopt(mnl_socket_get_fd(nl->sock), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(mnl_socket_get_fd(nl->sock), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;
		mnl_socket_close(nl->sock);
		free(nl);
		return err_sys(err, e, "bind rtnetlink socket");
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (unsigned)time(NULL);
	*ret = nl;
	return 0;
}

int net_nl_open(struct net_nl **ret, struct err *err)
{
	return nl_socket(ret, err);
}

int net_nl_open_ns(const char *netns_path, struct net_nl **ret, struct err *err)
{
	_cleanup_close_ int orig = -1, target = -1;
	struct net_nl *nl = NULL;
	int r;

	orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig < 0)
		return err_sys(err, errno, "open current network namespace");
	target = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (target < 0)
		return err_sys(err, errno, "open network namespace '%s'", netns_path);
	if (setns(target, CLONE_NEWNET) < 0)
		return err_sys(err, errno, "enter network namespace '%s'", netns_path);
	r = nl_socket(&nl, err);
	/* restored whether or not the socket opened: the thread must not stay behind */
	if (setns(orig, CLONE_NEWNET) < 0) {
		int e = errno;
		if (nl)
			net_nl_close(nl);
		return err_sys(err, e, "return from network namespace '%s'", netns_path);
	}
	if (r < 0)
		return err_wrap(err, "in network namespace '%s'", netns_path);
	*ret = nl;
	return 0;
}

void net_nl_close(struct net_nl *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->sock);
	free(nl);
}

/* ---- one request, one answer ---- */

struct nl_ack {
	int error;     /* negative errno from the kernel, 0 ok */
	char ext[256]; /* extended-ack message, may be empty */
};

static int nl_ext_attr(const struct nlattr *a, void *data)
{
	struct nl_ack *ack = data;

	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		snprintf(ack->ext, sizeof(ack->ext), "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

static void nl_parse_error(const struct nlmsghdr *nlh, struct nl_ack *ack)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*e);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		ack->error = -EBADMSG;
		return;
	}
	ack->error = e->error;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (mnl_nlmsg_size(off) <= nlh->nlmsg_len)
		mnl_attr_parse(nlh, off, nl_ext_attr, ack);
}

/* Reads until the ack (or NLMSG_DONE of a dump) of request seq; other messages with
 * that seq go to cb. Returns 0, the kernel's negative errno (ack filled), or a negative
 * errno of the socket itself (ack->error left 0). */
static int nl_wait(struct net_nl *nl, unsigned seq, nl_cb cb, void *data, struct nl_ack *ack)
{
	int cb_r = 0;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->rbuf, sizeof(nl->rbuf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)nl->rbuf;
		int len = (int)n;
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != nl->portid)
				continue; /* stale: belongs to an earlier, aborted exchange */
			switch (nlh->nlmsg_type) {
			case NLMSG_ERROR:
				nl_parse_error(nlh, ack);
				return ack->error < 0 ? ack->error : cb_r;
			case NLMSG_DONE:
				if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int))
					ack->error = *(const int *)mnl_nlmsg_get_payload(nlh);
				return ack->error < 0 ? ack->error : cb_r;
			case NLMSG_NOOP:
				break;
			case NLMSG_OVERRUN:
				return -ENOBUFS;
			default:
				if (cb && cb_r == 0)
					cb_r = cb(nlh, data);
			}
		}
	}
}

/* Sends nlh and waits for its answer. On error the message is "<what>: <reason>". */
static int nl_talk(struct net_nl *nl, struct nlmsghdr *nlh, nl_cb cb, void *data, struct err *err,
		   const char *what_fmt, ...) __attribute__((format(printf, 6, 7)));

static int nl_talk(struct net_nl *nl, struct nlmsghdr *nlh, nl_cb cb, void *data, struct err *err,
		   const char *what_fmt, ...)
{
	struct nl_ack ack = {0};
	char what[256];
	va_list ap;
	int r;

	va_start(ap, what_fmt);
	vsnprintf(what, sizeof(what), what_fmt, ap);
	va_end(ap);

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return err_sys(err, errno, "%s: send", what);
	r = nl_wait(nl, nlh->nlmsg_seq, cb, data, &ack);
	if (r == 0)
		return 0;
	if (ack.ext[0])
		return err_msg(err, -r, "%s: %s (%s)", what, strerror(-r), ack.ext);
	return err_sys(err, -r, "%s", what);
}

static struct nlmsghdr *nl_msg(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, NL_SEND_SIZE);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

static struct ifinfomsg *nl_ifinfo(struct nlmsghdr *nlh, int family, int ifindex)
{
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = family;
	ifi->ifi_index = ifindex;
	return ifi;
}

static int check_ifname(const char *what, const char *name, struct err *err)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= IFNAMSIZ)
		return err_msg(err, EINVAL, "%s name '%s' must have 1 to %d characters", what,
			       name ? name : "", IFNAMSIZ - 1);
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f)
			return err_msg(err, EINVAL, "%s name '%s' has an invalid character", what,
				       name);
	if (streq(name, ".") || streq(name, ".."))
		return err_msg(err, EINVAL, "%s name '%s' is invalid", what, name);
	return 0;
}

/* ---- links: lookup ---- */

struct link_info {
	int index;
	uint8_t mac[6];
	bool have_mac;
};

static int link_info_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_info *li = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	li->index = ifi->ifi_index;
	mnl_attr_for_each(a, nlh, sizeof(*ifi))
	{
		if (mnl_attr_get_type(a) == IFLA_ADDRESS && mnl_attr_get_payload_len(a) == 6) {
			memcpy(li->mac, mnl_attr_get_payload(a), 6);
			li->have_mac = true;
		}
	}
	return 0;
}

int net_link_index(struct net_nl *nl, const char *name, struct err *err)
{
	char buf[NL_SEND_SIZE];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_GETLINK, 0);
	struct link_info li = {0};
	int r;

	if ((r = check_ifname("link", name, err)) < 0)
		return r;
	nl_ifinfo(nlh, AF_UNSPEC, 0);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	r = nl_talk(nl, nlh, link_info_cb, &li, err, "find link '%s'", name);
	if (r < 0)
		return r;
	if (li.index <= 0)
		return err_msg(err, ENODEV, "find link '%s': %s", name, strerror(ENODEV));
	return li.index;
}

int net_link_mac(struct net_nl *nl, int ifindex, uint8_t mac[6], struct err *err)
{
	char buf[NL_SEND_SIZE];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_GETLINK, 0);
	struct link_info li = {0};
	int r;

	nl_ifinfo(nlh, AF_UNSPEC, ifindex);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	r = nl_talk(nl, nlh, link_info_cb, &li, err, "read MAC of link %d", ifindex);
	if (r < 0)
		return r;
	if (!li.have_mac)
		return err_msg(err, EADDRNOTAVAIL, "link %d has no Ethernet address", ifindex);
	memcpy(mac, li.mac, 6);
	return 0;
}

/* ---- links: create ---- */

static int link_create(struct net_nl *nl, struct nlmsghdr *nlh, const char *kind, const char *desc,
		       struct err *err)
{
	return nl_talk(nl, nlh, NULL, NULL, err, "add %s %s", kind, desc);
}

static struct nlmsghdr *newlink_start(char *buf, const char *name, unsigned mtu)
{
	struct nlmsghdr *nlh = nl_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);

	nl_ifinfo(nlh, AF_UNSPEC, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return nlh;
}

int net_bridge_add(struct net_nl *nl, const char *name, unsigned mtu, struct err *err)
{
	char buf[NL_SEND_SIZE], desc[64];
	struct nlmsghdr *nlh;
	struct nlattr *info;
	int r;

	if ((r = check_ifname("bridge", name, err)) < 0)
		return r;
	nlh = newlink_start(buf, name, mtu);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
	mnl_attr_nest_end(nlh, info);
	snprintf(desc, sizeof(desc), "'%s'", name);
	return link_create(nl, nlh, "bridge", desc, err);
}

int net_veth_add(struct net_nl *nl, const char *name, const char *peer_name, int peer_netns_fd,
		 unsigned mtu, struct err *err)
{
	char buf[NL_SEND_SIZE], desc[96];
	struct nlmsghdr *nlh;
	struct nlattr *info, *data, *peer;
	struct ifinfomsg *pifi;
	int r;

	if ((r = check_ifname("veth", name, err)) < 0 ||
	    (r = check_ifname("veth peer", peer_name, err)) < 0)
		return r;
	nlh = newlink_start(buf, name, mtu);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	/* the peer's attributes follow its own ifinfomsg inside the nest */
	pifi = mnl_nlmsg_get_payload_tail(nlh);
	nlh->nlmsg_len += MNL_ALIGN(sizeof(*pifi));
	memset(pifi, 0, sizeof(*pifi));
	pifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	if (peer_netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	snprintf(desc, sizeof(desc), "'%s' peer '%s'", name, peer_name);
	return link_create(nl, nlh, "veth", desc, err);
}

int net_vxlan_add(struct net_nl *nl, const char *name, uint32_t vni, struct in_addr local,
		  int dev_ifindex, uint16_t port, unsigned mtu, struct err *err)
{
	char buf[NL_SEND_SIZE], desc[64];
	struct nlmsghdr *nlh;
	struct nlattr *info, *data;
	int r;

	if ((r = check_ifname("vxlan", name, err)) < 0)
		return r;
	if (vni == 0 || vni > 0xffffff)
		return err_msg(err, EINVAL, "add vxlan '%s': VNI %u is out of range 1..16777215",
			       name, vni);
	nlh = newlink_start(buf, name, mtu);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "vxlan");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u32(nlh, IFLA_VXLAN_ID, vni);
	if (local.s_addr)
		mnl_attr_put(nlh, IFLA_VXLAN_LOCAL, sizeof(local), &local);
	if (dev_ifindex > 0)
		mnl_attr_put_u32(nlh, IFLA_VXLAN_LINK, (uint32_t)dev_ifindex);
	mnl_attr_put_u16(nlh, IFLA_VXLAN_PORT, htons(port ? port : 4789));
	mnl_attr_put_u8(nlh, IFLA_VXLAN_LEARNING, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	snprintf(desc, sizeof(desc), "'%s' (vni %u)", name, vni);
	return link_create(nl, nlh, "vxlan", desc, err);
}

/* ---- links: change, delete, list ---- */

int net_link_set(struct net_nl *nl, int ifindex, const struct net_link_change *c, struct err *err)
{
	char buf[NL_SEND_SIZE];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = nl_ifinfo(nlh, AF_UNSPEC, ifindex);
	int r;

	if (ifindex <= 0)
		return err_msg(err, ENODEV, "change link %d: no such interface index", ifindex);
	if (c->name && (r = check_ifname("link", c->name, err)) < 0)
		return r;
	if (c->up >= 0) {
		ifi->ifi_change = IFF_UP;
		ifi->ifi_flags = c->up ? IFF_UP : 0;
	}
	if (c->mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, c->mtu);
	if (c->master)
		mnl_attr_put_u32(nlh, IFLA_MASTER, c->master > 0 ? (uint32_t)c->master : 0);
	if (c->name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, c->name);
	if (c->netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)c->netns_fd);
	if (c->mac)
		mnl_attr_put(nlh, IFLA_ADDRESS, 6, c->mac);
	return nl_talk(nl, nlh, NULL, NULL, err, "change link %d%s%s%s", ifindex,
		       c->name ? " (to '" : "", c->name ? c->name : "", c->name ? "')" : "");
}

int net_bridge_port_hairpin(struct net_nl *nl, int ifindex, bool on, struct err *err)
{
	char buf[NL_SEND_SIZE];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_SETLINK, 0);
	struct nlattr *pi;

	nl_ifinfo(nlh, AF_BRIDGE, ifindex);
	pi = mnl_attr_nest_start(nlh, IFLA_PROTINFO);
	mnl_attr_put_u8(nlh, IFLA_BRPORT_MODE, on ? 1 : 0);
	mnl_attr_nest_end(nlh, pi);
	return nl_talk(nl, nlh, NULL, NULL, err, "set hairpin %s on bridge port %d",
		       on ? "on" : "off", ifindex);
}

int net_link_del(struct net_nl *nl, const char *name, struct err *err)
{
	char buf[NL_SEND_SIZE];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_DELLINK, 0);
	struct err e2 = {0};
	int r;

	if ((r = check_ifname("link", name, err)) < 0)
		return r;
	nl_ifinfo(nlh, AF_UNSPEC, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	r = nl_talk(nl, nlh, NULL, NULL, &e2, "delete link '%s'", name);
	if (r == -ENODEV)
		return 0;
	if (r < 0 && err)
		*err = e2;
	return r;
}

struct link_list {
	const char *prefix;
	char **names;
};

static int link_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_list *ll = data;
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg))
	{
		if (mnl_attr_get_type(a) != IFLA_IFNAME ||
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
			continue;
		const char *n = mnl_attr_get_str(a);
		if (strncmp(n, ll->prefix, strlen(ll->prefix)) == 0)
			ll->names = strv_append(ll->names, n);
	}
	return 0;
}

int net_link_list(struct net_nl *nl, const char *prefix, char ***ret, struct err *err)
{
	char buf[NL_SEND_SIZE];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_GETLINK, NLM_F_DUMP);
	struct link_list ll = {prefix ? prefix : "", NULL};
	int r;

	nl_ifinfo(nlh, AF_UNSPEC, 0);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	r = nl_talk(nl, nlh, link_list_cb, &ll, err, "list links");
	if (r < 0) {
		strv_free(ll.names);
		return r;
	}
	*ret = ll.names ? ll.names : xcalloc(1, sizeof(char *));
	return 0;
}

/* ---- addresses ---- */

static int addr_msg(struct net_nl *nl, uint16_t type, uint16_t flags, int ifindex,
		    struct in_addr addr, int prefixlen, const char *verb, struct err *err)
{
	char buf[NL_SEND_SIZE], text[INET_ADDRSTRLEN];
	struct nlmsghdr *nlh = nl_msg(buf, type, flags);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

	inet_ntop(AF_INET, &addr, text, sizeof(text));
	if (prefixlen < 0 || prefixlen > 32)
		return err_msg(err, EINVAL, "%s address %s/%d: prefix length out of range 0..32",
			       verb, text, prefixlen);
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = prefixlen;
	ifa->ifa_index = ifindex;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	mnl_attr_put(nlh, IFA_LOCAL, sizeof(addr), &addr);
	mnl_attr_put(nlh, IFA_ADDRESS, sizeof(addr), &addr);
	return nl_talk(nl, nlh, NULL, NULL, err, "%s address %s/%d on link %d", verb, text,
		       prefixlen, ifindex);
}

int net_addr_add(struct net_nl *nl, int ifindex, struct in_addr addr, int prefixlen,
		 struct err *err)
{
	/* replace: adding what is already there (re-adoption) is not an error */
	return addr_msg(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, addr, prefixlen,
			"add", err);
}

int net_addr_del(struct net_nl *nl, int ifindex, struct in_addr addr, int prefixlen,
		 struct err *err)
{
	struct err e2 = {0};
	int r = addr_msg(nl, RTM_DELADDR, 0, ifindex, addr, prefixlen, "delete", &e2);

	if (r == -EADDRNOTAVAIL)
		return 0;
	if (r < 0 && err)
		*err = e2;
	return r;
}

/* ---- routes ---- */

static struct rtmsg *route_start(struct nlmsghdr *nlh, struct in_addr dst, int prefixlen)
{
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = prefixlen;
	rtm->rtm_table = RT_TABLE_MAIN;
	if (prefixlen > 0)
		mnl_attr_put(nlh, RTA_DST, sizeof(dst), &dst);
	return rtm;
}

int net_route_set(struct net_nl *nl, struct in_addr dst, int prefixlen, struct in_addr gw,
		  int ifindex, bool onlink, struct err *err)
{
	char buf[NL_SEND_SIZE], dtext[INET_ADDRSTRLEN], gtext[INET_ADDRSTRLEN];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
	struct rtmsg *rtm;

	inet_ntop(AF_INET, &dst, dtext, sizeof(dtext));
	inet_ntop(AF_INET, &gw, gtext, sizeof(gtext));
	if (prefixlen < 0 || prefixlen > 32)
		return err_msg(err, EINVAL, "set route %s/%d: prefix length out of range 0..32",
			       dtext, prefixlen);
	rtm = route_start(nlh, dst, prefixlen);
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_type = RTN_UNICAST;
	rtm->rtm_scope = gw.s_addr ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	if (onlink)
		rtm->rtm_flags |= RTNH_F_ONLINK;
	if (gw.s_addr)
		mnl_attr_put(nlh, RTA_GATEWAY, sizeof(gw), &gw);
	if (ifindex > 0)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	return nl_talk(nl, nlh, NULL, NULL, err, "set route %s/%d via %s dev %d%s", dtext,
		       prefixlen, gw.s_addr ? gtext : "-", ifindex, onlink ? " onlink" : "");
}

int net_route_del(struct net_nl *nl, struct in_addr dst, int prefixlen, int ifindex,
		  struct err *err)
{
	char buf[NL_SEND_SIZE], dtext[INET_ADDRSTRLEN];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_DELROUTE, 0);
	struct err e2 = {0};
	struct rtmsg *rtm;
	int r;

	inet_ntop(AF_INET, &dst, dtext, sizeof(dtext));
	if (prefixlen < 0 || prefixlen > 32)
		return err_msg(err, EINVAL, "delete route %s/%d: prefix length out of range 0..32",
			       dtext, prefixlen);
	rtm = route_start(nlh, dst, prefixlen);
	rtm->rtm_scope = RT_SCOPE_NOWHERE; /* any scope */
	if (ifindex > 0)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	r = nl_talk(nl, nlh, NULL, NULL, &e2, "delete route %s/%d dev %d", dtext, prefixlen,
		    ifindex);
	if (r == -ESRCH)
		return 0;
	if (r < 0 && err)
		*err = e2;
	return r;
}

/* ---- neighbours and FDB ---- */

static struct ndmsg *neigh_start(struct nlmsghdr *nlh, int family, int ifindex)
{
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));

	ndm->ndm_family = family;
	ndm->ndm_ifindex = ifindex;
	ndm->ndm_state = NUD_PERMANENT;
	return ndm;
}

static void mac_text(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

int net_neigh_set(struct net_nl *nl, int ifindex, struct in_addr ip, const uint8_t mac[6],
		  struct err *err)
{
	char buf[NL_SEND_SIZE], itext[INET_ADDRSTRLEN], mtext[18];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
	struct ndmsg *ndm = neigh_start(nlh, AF_INET, ifindex);

	ndm->ndm_type = RTN_UNICAST;
	mnl_attr_put(nlh, NDA_DST, sizeof(ip), &ip);
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	inet_ntop(AF_INET, &ip, itext, sizeof(itext));
	mac_text(mac, mtext);
	return nl_talk(nl, nlh, NULL, NULL, err, "set neighbour %s lladdr %s on link %d", itext,
		       mtext, ifindex);
}

int net_neigh_del(struct net_nl *nl, int ifindex, struct in_addr ip, struct err *err)
{
	char buf[NL_SEND_SIZE], itext[INET_ADDRSTRLEN];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_DELNEIGH, 0);
	struct err e2 = {0};
	int r;

	neigh_start(nlh, AF_INET, ifindex);
	mnl_attr_put(nlh, NDA_DST, sizeof(ip), &ip);
	inet_ntop(AF_INET, &ip, itext, sizeof(itext));
	r = nl_talk(nl, nlh, NULL, NULL, &e2, "delete neighbour %s on link %d", itext, ifindex);
	if (r == -ENOENT)
		return 0;
	if (r < 0 && err)
		*err = e2;
	return r;
}

static int fdb_msg(struct net_nl *nl, uint16_t type, uint16_t flags, int ifindex,
		   const uint8_t mac[6], struct in_addr dst, const char *verb, struct err *err)
{
	char buf[NL_SEND_SIZE], dtext[INET_ADDRSTRLEN], mtext[18];
	struct nlmsghdr *nlh = nl_msg(buf, type, flags);
	struct ndmsg *ndm = neigh_start(nlh, AF_BRIDGE, ifindex);

	ndm->ndm_flags = NTF_SELF;
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	mnl_attr_put(nlh, NDA_DST, sizeof(dst), &dst);
	inet_ntop(AF_INET, &dst, dtext, sizeof(dtext));
	mac_text(mac, mtext);
	return nl_talk(nl, nlh, NULL, NULL, err, "%s fdb entry %s dst %s on link %d", verb, mtext,
		       dtext, ifindex);
}

int net_fdb_set(struct net_nl *nl, int ifindex, const uint8_t mac[6], struct in_addr dst,
		struct err *err)
{
	return fdb_msg(nl, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, ifindex, mac, dst, "set",
		       err);
}

int net_fdb_append(struct net_nl *nl, int ifindex, const uint8_t mac[6], struct in_addr dst,
		   struct err *err)
{
	return fdb_msg(nl, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, ifindex, mac, dst, "append",
		       err);
}

int net_fdb_del(struct net_nl *nl, int ifindex, const uint8_t mac[6], struct in_addr dst,
		struct err *err)
{
	struct err e2 = {0};
	int r = fdb_msg(nl, RTM_DELNEIGH, 0, ifindex, mac, dst, "delete", &e2);

	if (r == -ENOENT)
		return 0;
	if (r < 0 && err)
		*err = e2;
	return r;
}

/* ---- dumps of one link's entries ---- */

/* A growing array of fixed-size entries filled by a dump callback. */
struct dump {
	int ifindex;
	void *items;
	size_t n, size;
};

static void *dump_push(struct dump *d)
{
	d->items = xrealloc(d->items, (d->n + 1) * d->size);
	memset((char *)d->items + d->n * d->size, 0, d->size);
	return (char *)d->items + d->n++ * d->size;
}

static int dump_run(struct net_nl *nl, struct nlmsghdr *nlh, nl_cb cb, struct dump *d, void **ret,
		    size_t *ret_n, struct err *err, const char *what)
{
	int r = nl_talk(nl, nlh, cb, d, err, "%s of link %d", what, d->ifindex);

	if (r < 0) {
		free(d->items);
		return r;
	}
	*ret = d->items;
	*ret_n = d->n;
	return 0;
}

/* NDA_LLADDR and an IPv4 NDA_DST of a neighbour message; false if either is missing. */
static bool neigh_attrs(const struct nlmsghdr *nlh, uint8_t mac[6], struct in_addr *ip)
{
	const struct nlattr *a;
	bool have_mac = false, have_ip = false;

	mnl_attr_for_each(a, nlh, sizeof(struct ndmsg))
	{
		if (mnl_attr_get_type(a) == NDA_LLADDR && mnl_attr_get_payload_len(a) == 6) {
			memcpy(mac, mnl_attr_get_payload(a), 6);
			have_mac = true;
		} else if (mnl_attr_get_type(a) == NDA_DST && mnl_attr_get_payload_len(a) == 4) {
			memcpy(ip, mnl_attr_get_payload(a), 4);
			have_ip = true;
		}
	}
	return have_mac && have_ip;
}

static int fdb_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	const struct ndmsg *ndm = mnl_nlmsg_get_payload(nlh);
	struct net_fdb_entry e = {0};

	if (nlh->nlmsg_type == RTM_NEWNEIGH && ndm->ndm_ifindex == d->ifindex &&
	    neigh_attrs(nlh, e.mac, &e.dst))
		*(struct net_fdb_entry *)dump_push(d) = e;
	return 0;
}

int net_fdb_list(struct net_nl *nl, int ifindex, struct net_fdb_entry **ret, size_t *ret_n,
		 struct err *err)
{
	char buf[NL_SEND_SIZE];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_GETNEIGH, NLM_F_DUMP);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	struct dump d = {ifindex, NULL, 0, sizeof(**ret)};

	ndm->ndm_family = AF_BRIDGE;
	return dump_run(nl, nlh, fdb_list_cb, &d, (void **)ret, ret_n, err, "list fdb entries");
}

static int neigh_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	const struct ndmsg *ndm = mnl_nlmsg_get_payload(nlh);
	struct net_neigh_entry e = {0};

	if (nlh->nlmsg_type == RTM_NEWNEIGH && ndm->ndm_ifindex == d->ifindex &&
	    ndm->ndm_family == AF_INET && neigh_attrs(nlh, e.mac, &e.ip))
		*(struct net_neigh_entry *)dump_push(d) = e;
	return 0;
}

int net_neigh_list(struct net_nl *nl, int ifindex, struct net_neigh_entry **ret, size_t *ret_n,
		   struct err *err)
{
	char buf[NL_SEND_SIZE];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_GETNEIGH, NLM_F_DUMP);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	struct dump d = {ifindex, NULL, 0, sizeof(**ret)};

	ndm->ndm_family = AF_INET;
	return dump_run(nl, nlh, neigh_list_cb, &d, (void **)ret, ret_n, err, "list neighbours");
}

static int route_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	struct net_route_entry e = {.prefixlen = rtm->rtm_dst_len};
	int oif = 0;

	if (nlh->nlmsg_type != RTM_NEWROUTE || rtm->rtm_family != AF_INET ||
	    rtm->rtm_table != RT_TABLE_MAIN || rtm->rtm_type != RTN_UNICAST)
		return 0;
	mnl_attr_for_each(a, nlh, sizeof(*rtm))
	{
		uint16_t t = mnl_attr_get_type(a);
		if (t == RTA_DST && mnl_attr_get_payload_len(a) == 4)
			memcpy(&e.dst, mnl_attr_get_payload(a), 4);
		else if (t == RTA_GATEWAY && mnl_attr_get_payload_len(a) == 4)
			memcpy(&e.gw, mnl_attr_get_payload(a), 4);
		else if (t == RTA_OIF && mnl_attr_get_payload_len(a) == 4)
			oif = (int)mnl_attr_get_u32(a);
	}
	if (oif == d->ifindex)
		*(struct net_route_entry *)dump_push(d) = e;
	return 0;
}

int net_route_list(struct net_nl *nl, int ifindex, struct net_route_entry **ret, size_t *ret_n,
		   struct err *err)
{
	char buf[NL_SEND_SIZE];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	struct dump d = {ifindex, NULL, 0, sizeof(**ret)};

	rtm->rtm_family = AF_INET;
	return dump_run(nl, nlh, route_list_cb, &d, (void **)ret, ret_n, err, "list routes");
}

struct vxlan_info {
	bool is_vxlan;
	uint32_t vni;
	struct in_addr local;
};

static void vxlan_data(const struct nlattr *data, struct vxlan_info *vi)
{
	const struct nlattr *c;

	mnl_attr_for_each_nested(c, data)
	{
		if (mnl_attr_get_type(c) == IFLA_VXLAN_ID && mnl_attr_get_payload_len(c) == 4)
			vi->vni = mnl_attr_get_u32(c);
		else if (mnl_attr_get_type(c) == IFLA_VXLAN_LOCAL &&
			 mnl_attr_get_payload_len(c) == 4)
			memcpy(&vi->local, mnl_attr_get_payload(c), 4);
	}
}

static int vxlan_info_cb(const struct nlmsghdr *nlh, void *data)
{
	struct vxlan_info *vi = data;
	const struct nlattr *a, *b;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg))
	{
		if (mnl_attr_get_type(a) != IFLA_LINKINFO)
			continue;
		mnl_attr_for_each_nested(b, a)
		{
			if (mnl_attr_get_type(b) == IFLA_INFO_KIND &&
			    mnl_attr_validate(b, MNL_TYPE_NUL_STRING) == 0)
				vi->is_vxlan = streq(mnl_attr_get_str(b), "vxlan");
			else if (mnl_attr_get_type(b) == IFLA_INFO_DATA)
				vxlan_data(b, vi);
		}
	}
	return 0;
}

int net_vxlan_info(struct net_nl *nl, int ifindex, uint32_t *ret_vni, struct in_addr *ret_local,
		   struct err *err)
{
	char buf[NL_SEND_SIZE];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_GETLINK, 0);
	struct vxlan_info vi = {0};
	int r;

	nl_ifinfo(nlh, AF_UNSPEC, ifindex);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	if ((r = nl_talk(nl, nlh, vxlan_info_cb, &vi, err, "read link %d", ifindex)) < 0)
		return r;
	if (!vi.is_vxlan)
		return err_msg(err, EMEDIUMTYPE, "link %d is not a VXLAN device", ifindex);
	if (ret_vni)
		*ret_vni = vi.vni;
	if (ret_local)
		*ret_local = vi.local;
	return 0;
}

/* ---- text ---- */

static int parse_prefixed(const char *s, struct in_addr *addr, int *prefix, const char *what,
			  struct err *err)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = s ? strchr(s, '/') : NULL;
	char *end;
	long p;

	if (!slash)
		return err_msg(err, EINVAL, "%s '%s': expected a.b.c.d/prefix", what, s ? s : "");
	if ((size_t)(slash - s) >= sizeof(ip) || slash == s)
		return err_msg(err, EINVAL, "%s '%s': invalid address", what, s);
	memcpy(ip, s, slash - s);
	ip[slash - s] = '\0';
	if (inet_pton(AF_INET, ip, addr) != 1)
		return err_msg(err, EINVAL, "%s '%s': invalid address", what, s);
	if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 2)
		return err_msg(err, EINVAL, "%s '%s': invalid prefix length", what, s);
	errno = 0;
	p = strtol(slash + 1, &end, 10);
	if (*end || p < 0 || p > 32)
		return err_msg(err, EINVAL, "%s '%s': prefix length must be 0..32", what, s);
	*prefix = (int)p;
	return 0;
}

int net_cidr_parse(const char *s, struct in_addr *ret_addr, int *ret_prefix, struct err *err)
{
	struct in_addr a;
	int p, r;

	if ((r = parse_prefixed(s, &a, &p, "CIDR", err)) < 0)
		return r;
	uint32_t mask = p ? htonl(~0u << (32 - p)) : 0;
	if (a.s_addr & ~mask)
		return err_msg(err, EINVAL, "CIDR '%s': host bits set", s);
	*ret_addr = a;
	*ret_prefix = p;
	return 0;
}

int net_addr_parse(const char *s, struct in_addr *ret_addr, int *ret_prefix, struct err *err)
{
	struct in_addr a;
	int p, r;

	if ((r = parse_prefixed(s, &a, &p, "address", err)) < 0)
		return r;
	*ret_addr = a;
	*ret_prefix = p;
	return 0;
}
