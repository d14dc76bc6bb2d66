/* netstate: the node's network state file — VPCs, leases, ports — its JSON form, the
 * lock that serializes the commands changing it, and the checks that keep it sane
 * (names, overlapping CIDRs, host ports, VPCs in use). No kernel work here. */
#include "net/netstate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/js.h"
#include "base/util.h"

#define STATE_VERSION 1

const char *netstate_dir(const char *dir)
{
	const char *env = getenv("COOP_NET_DIR");
	if (dir && *dir)
		return dir;
	return env && *env ? env : NETSTATE_DEFAULT_DIR;
}

static char *now_rfc3339(void)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

/* ---- names ---- */

bool netstate_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > NETSTATE_NAME_MAX || !(islower(name[0]) || isdigit(name[0])))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

bool netstate_owner_valid(const char *owner)
{
	size_t n = strlen(owner);
	if (n == 0 || n > NETSTATE_OWNER_MAX || !isalnum((unsigned char)owner[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)owner[i]) && !strchr("_.-", owner[i]))
			return false;
	return true;
}

void netstate_veth_name(const char *owner, char buf[16])
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = owner; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(buf, 16, "cv%08x", h);
}

static void random_id(char out[13])
{
	uint8_t b[6];
	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
		memcpy(b, &x, sizeof(b));
	}
	for (int i = 0; i < 6; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* ---- freeing ---- */

static void lease_free(struct net_lease *l)
{
	free(l->owner);
	free(l->workload);
	free(l->netns);
	free(l->created);
}

static void names_free(struct net_name *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i].name);
	free(names);
}

static void vpc_free(struct net_vpc *v)
{
	names_free(v->names, v->n_names);
	for (size_t i = 0; i < v->n_leases; i++)
		lease_free(&v->leases[i]);
	free(v->leases);
	free(v->name);
	free(v->created);
	net_ipam_pool_free(&v->pool);
}

static void port_free(struct net_port *p)
{
	for (size_t i = 0; i < p->n_backends; i++)
		free(p->backends[i].owner);
	free(p->backends);
	free(p->name);
	free(p->created);
}

static void state_clear(struct netstate *ns)
{
	for (size_t i = 0; i < ns->n_vpcs; i++)
		vpc_free(&ns->vpcs[i]);
	for (size_t i = 0; i < ns->n_ports; i++)
		port_free(&ns->ports[i]);
	free(ns->vpcs);
	free(ns->ports);
	free(ns->nft_applied);
	ns->vpcs = NULL;
	ns->ports = NULL;
	ns->nft_applied = NULL;
	ns->n_vpcs = ns->n_ports = 0;
}

void netstate_close(struct netstate *ns)
{
	if (!ns)
		return;
	state_clear(ns);
	if (ns->lock_fd >= 0)
		close(ns->lock_fd); /* drops the flock */
	free(ns->dir);
	free(ns);
}

/* ---- VPCs ---- */

struct net_vpc *netstate_vpc_find(struct netstate *ns, const char *key)
{
	struct net_vpc *hit = NULL;
	size_t n = strlen(key);
	int matches = 0;

	for (size_t i = 0; i < ns->n_vpcs; i++)
		if (streq(ns->vpcs[i].id, key) || streq(ns->vpcs[i].name, key))
			return &ns->vpcs[i];
	if (n < 4 || n > 12 || strspn(key, "0123456789abcdef") != n)
		return NULL;
	for (size_t i = 0; i < ns->n_vpcs; i++)
		if (strncmp(ns->vpcs[i].id, key, n) == 0) {
			hit = &ns->vpcs[i];
			matches++;
		}
	return matches == 1 ? hit : NULL;
}

static const struct {
	const char *cidr, *why;
} reserved[] = {
	{ "0.0.0.0/8", "\"this\" network" },  { "127.0.0.0/8", "loopback" },
	{ "169.254.0.0/16", "link-local" },   { "224.0.0.0/4", "multicast" },
	{ "240.0.0.0/4", "reserved" },
};

static int cidr_check(struct netstate *ns, const char *name, const char *text,
		      struct net_cidr *c, struct err *err)
{
	char a[20], b[20];
	int r;

	if ((r = net_ipam_cidr_parse(text, c, err)) < 0)
		return r;
	if (c->prefix < 8 || c->prefix > 29)
		return err_msg(err, EINVAL, "invalid CIDR '%s': a VPC is between /8 and /29", text);
	for (size_t i = 0; i < ARRAY_SIZE(reserved); i++) {
		struct net_cidr rc;
		net_ipam_cidr_parse(reserved[i].cidr, &rc, NULL);
		if (net_ipam_overlap(c, &rc))
			return err_msg(err, EINVAL, "invalid CIDR '%s': overlaps %s (%s)", text,
				       reserved[i].cidr, reserved[i].why);
	}
	for (size_t i = 0; i < ns->n_vpcs; i++)
		if (net_ipam_overlap(c, &ns->vpcs[i].cidr))
			return err_msg(err, EEXIST, "VPC '%s' %s overlaps VPC '%s' %s", name,
				       net_ipam_cidr_fmt(c, a), ns->vpcs[i].name,
				       net_ipam_cidr_fmt(&ns->vpcs[i].cidr, b));
	return 0;
}

static uint32_t next_vni(struct netstate *ns)
{
	for (uint32_t v = 100;; v++) {
		bool used = false;
		for (size_t i = 0; i < ns->n_vpcs && !used; i++)
			used = ns->vpcs[i].vni == v;
		if (!used)
			return v;
	}
}

/* Fills the derived fields (bridge, gateway, pool) of a VPC whose id, cidr and subnet
 * are set. */
static int vpc_derive(struct net_vpc *v, struct err *err)
{
	snprintf(v->bridge, sizeof(v->bridge), "cb-%.8s", v->id);
	v->gateway = net_ipam_gateway(&v->subnet);
	return net_ipam_pool_init(&v->pool, &v->subnet, err);
}

int netstate_vpc_create(struct netstate *ns, const char *name, const char *cidr,
			int subnet_prefix, unsigned mtu, struct net_vpc **ret, struct err *err)
{
	struct net_vpc v = { 0 };
	char id[13];
	int r;

	if (!netstate_name_valid(name))
		return err_msg(err, EINVAL,
			       "invalid VPC name '%s': use 1-%d of a-z, 0-9 and '-', starting with a letter or digit",
			       name, NETSTATE_NAME_MAX);
	if (netstate_vpc_find(ns, name))
		return err_msg(err, EEXIST, "VPC '%s' already exists", name);
	if (ns->n_vpcs >= NETSTATE_MAX_VPCS)
		return err_msg(err, ENOSPC, "too many VPCs on this node (limit %d)",
			       NETSTATE_MAX_VPCS);
	if ((r = cidr_check(ns, name, cidr, &v.cidr, err)) < 0)
		return r;
	if (subnet_prefix == 0) {
		subnet_prefix = v.cidr.prefix + 8 < 24 ? v.cidr.prefix + 8 : 24;
		if (subnet_prefix < v.cidr.prefix)
			subnet_prefix = v.cidr.prefix;
	}
	if (subnet_prefix < v.cidr.prefix || subnet_prefix < 16 || subnet_prefix > 29)
		return err_msg(err, EINVAL,
			       "subnet size /%d does not fit VPC '%s' %s (a node's subnet is /16 to /29, inside the CIDR)",
			       subnet_prefix, name, cidr);
	if (mtu && (mtu < 576 || mtu > 9000))
		return err_msg(err, EINVAL, "MTU %u out of range 576..9000", mtu);
	/* one node: its subnet is the first of the CIDR; the cluster layer hands out others */
	if ((r = net_ipam_subnet_alloc(&v.cidr, subnet_prefix, NULL, 0, &v.subnet, err)) < 0)
		return r;
	do
		random_id(id);
	while (netstate_vpc_find(ns, id));
	memcpy(v.id, id, sizeof(v.id));
	if ((r = vpc_derive(&v, err)) < 0)
		return r;
	v.name = xstrdup(name);
	v.vni = next_vni(ns);
	v.mtu = mtu ? mtu : NETSTATE_DEFAULT_MTU;
	v.created = now_rfc3339();
	ns->vpcs = xrealloc(ns->vpcs, (ns->n_vpcs + 1) * sizeof(*ns->vpcs));
	ns->vpcs[ns->n_vpcs] = v;
	if (ret)
		*ret = &ns->vpcs[ns->n_vpcs];
	ns->n_vpcs++;
	return 0;
}

int netstate_vpc_set_subnet(struct netstate *ns, struct net_vpc *vpc, const char *subnet,
			    struct err *err)
{
	struct net_cidr c;
	struct net_vpc next;
	char a[20];
	int r;

	if ((r = net_ipam_cidr_parse(subnet, &c, err)) < 0)
		return r;
	if (c.prefix < vpc->cidr.prefix || c.prefix < 16 || c.prefix > 29 ||
	    !net_ipam_contains(&vpc->cidr, c.addr))
		return err_msg(err, EINVAL,
			       "subnet %s does not fit VPC '%s' %s (a node's subnet is /16 to /29, inside the CIDR)",
			       subnet, vpc->name, net_ipam_cidr_fmt(&vpc->cidr, a));
	if (c.addr == vpc->subnet.addr && c.prefix == vpc->subnet.prefix)
		return 0;
	if (vpc->n_leases)
		return err_msg(err, EBUSY, "VPC '%s' has %zu containers here: its subnet can't change",
			       vpc->name, vpc->n_leases);
	next = *vpc;
	next.subnet = c;
	if ((r = vpc_derive(&next, err)) < 0)
		return r;
	net_ipam_pool_free(&vpc->pool);
	*vpc = next;
	return 0;
}

int netstate_vpc_delete(struct netstate *ns, struct net_vpc *vpc, struct err *err)
{
	size_t i = (size_t)(vpc - ns->vpcs);

	if (vpc->n_leases) {
		_cleanup_free_ char *who = xstrdup("");
		for (size_t k = 0; k < vpc->n_leases && k < 5; k++) {
			char *w = xasprintf("%s%s%s", who, k ? ", " : "", vpc->leases[k].owner);
			free(who);
			who = w;
		}
		return err_msg(err, EBUSY, "VPC '%s' is in use by %zu container%s: %s%s", vpc->name,
			       vpc->n_leases, vpc->n_leases == 1 ? "" : "s", who,
			       vpc->n_leases > 5 ? ", ..." : "");
	}
	for (size_t k = 0; k < ns->n_ports; k++)
		if (streq(ns->ports[k].vpc, vpc->id))
			return err_msg(err, EBUSY, "VPC '%s' is in use by published port '%s'",
				       vpc->name, ns->ports[k].name);
	vpc_free(vpc);
	memmove(&ns->vpcs[i], &ns->vpcs[i + 1], (ns->n_vpcs - i - 1) * sizeof(*ns->vpcs));
	ns->n_vpcs--;
	return 0;
}

/* ---- leases ---- */

struct net_lease *netstate_lease_find(struct netstate *ns, const char *owner,
				      struct net_vpc **ret_vpc)
{
	for (size_t i = 0; i < ns->n_vpcs; i++)
		for (size_t k = 0; k < ns->vpcs[i].n_leases; k++)
			if (streq(ns->vpcs[i].leases[k].owner, owner)) {
				if (ret_vpc)
					*ret_vpc = &ns->vpcs[i];
				return &ns->vpcs[i].leases[k];
			}
	return NULL;
}

static int lease_push(struct net_vpc *vpc, uint32_t ip, const char *owner, const char *workload,
		      const char *netns, char *created)
{
	vpc->leases = xrealloc(vpc->leases, (vpc->n_leases + 1) * sizeof(*vpc->leases));
	vpc->leases[vpc->n_leases++] = (struct net_lease){
		.ip = ip,
		.owner = xstrdup(owner),
		.workload = workload && *workload ? xstrdup(workload) : NULL,
		.netns = netns ? xstrdup(netns) : NULL,
		.created = created,
	};
	return 0;
}

int netstate_lease(struct netstate *ns, struct net_vpc *vpc, const char *owner,
		   const char *workload, const char *netns, uint32_t *ret_ip, struct err *err)
{
	struct net_vpc *other;
	char a[16];
	uint32_t ip;
	int r;

	if (!netstate_owner_valid(owner))
		return err_msg(err, EINVAL,
			       "invalid container name '%s': use 1-%d of letters, digits, '_', '.' and '-'",
			       owner, NETSTATE_OWNER_MAX);
	if (workload && *workload && !netstate_owner_valid(workload))
		return err_msg(err, EINVAL, "invalid workload name '%s'", workload);
	struct net_lease *l = netstate_lease_find(ns, owner, &other);
	if (l)
		return err_msg(err, EEXIST, "'%s' is already attached to VPC '%s' (%s)", owner,
			       other->name, net_ipam_addr_fmt(l->ip, a));
	if ((r = net_ipam_lease(&vpc->pool, &ip, err)) < 0)
		return err_wrap(err, "VPC '%s'", vpc->name);
	lease_push(vpc, ip, owner, workload, netns, now_rfc3339());
	*ret_ip = ip;
	return 0;
}

static void backends_drop_owner(struct netstate *ns, const char *owner)
{
	for (size_t i = 0; i < ns->n_ports; i++) {
		struct net_port *p = &ns->ports[i];
		for (size_t k = 0; k < p->n_backends;) {
			if (streq(p->backends[k].owner, owner)) {
				free(p->backends[k].owner);
				memmove(&p->backends[k], &p->backends[k + 1],
					(p->n_backends - k - 1) * sizeof(*p->backends));
				p->n_backends--;
			} else {
				k++;
			}
		}
	}
}

int netstate_release(struct netstate *ns, const char *owner, struct err *err)
{
	struct net_vpc *vpc;
	struct net_lease *l = netstate_lease_find(ns, owner, &vpc);
	size_t i;

	if (!l)
		return err_msg(err, ENOENT, "'%s' is not attached to any VPC", owner);
	i = (size_t)(l - vpc->leases);
	net_ipam_release(&vpc->pool, l->ip);
	lease_free(l);
	memmove(&vpc->leases[i], &vpc->leases[i + 1], (vpc->n_leases - i - 1) * sizeof(*l));
	vpc->n_leases--;
	backends_drop_owner(ns, owner);
	return 0;
}

/* ---- names in DNS ---- */

int netstate_dns_lookup(const struct net_vpc *vpc, const char *name, unsigned rotate,
			struct in_addr *out, size_t max)
{
	uint32_t hits[NETSTATE_MAX_BACKENDS];
	size_t n = 0;

	for (size_t i = 0; i < vpc->n_leases && n < ARRAY_SIZE(hits); i++) {
		const struct net_lease *l = &vpc->leases[i];
		if (strcasecmp(l->owner, name) == 0 || (l->workload && strcasecmp(l->workload, name) == 0))
			hits[n++] = l->ip;
	}
	for (size_t i = 0; i < vpc->n_names && n < ARRAY_SIZE(hits); i++) {
		bool dup = false;
		if (strcasecmp(vpc->names[i].name, name) != 0)
			continue;
		for (size_t k = 0; k < n && !dup; k++)
			dup = hits[k] == vpc->names[i].ip;
		if (!dup)
			hits[n++] = vpc->names[i].ip;
	}
	if (n == 0)
		return strchr(name, '.') ? -ENOENT : 0;
	for (size_t k = 0; k < n && k < max; k++)
		out[k].s_addr = htonl(hits[(k + rotate) % n]);
	return (int)(n < max ? n : max);
}

/* ---- ports ---- */

struct net_port *netstate_port_find(struct netstate *ns, const char *name)
{
	for (size_t i = 0; i < ns->n_ports; i++)
		if (streq(ns->ports[i].name, name))
			return &ns->ports[i];
	return NULL;
}

int netstate_port_spec_parse(const char *s, uint16_t *ret_host, uint16_t *ret_container,
			     const char **ret_proto, struct err *err)
{
	unsigned long h, c;
	char *end;
	const char *proto = "tcp";

	errno = 0;
	h = strtoul(s, &end, 10);
	if (end == s || *end != ':' || h < 1 || h > 65535)
		goto bad;
	const char *cs = end + 1;
	c = strtoul(cs, &end, 10);
	if (end == cs || c < 1 || c > 65535)
		goto bad;
	if (*end == '/') {
		if (streq(end + 1, "tcp"))
			proto = "tcp";
		else if (streq(end + 1, "udp"))
			proto = "udp";
		else
			return err_msg(err, EINVAL, "invalid port '%s': protocol must be tcp or udp", s);
	} else if (*end) {
		goto bad;
	}
	*ret_host = (uint16_t)h;
	*ret_container = (uint16_t)c;
	*ret_proto = proto;
	return 0;
bad:
	return err_msg(err, EINVAL,
		       "invalid port '%s': expected HOST:CONTAINER[/tcp|udp] with ports 1-65535", s);
}

int netstate_port_publish(struct netstate *ns, const char *name, const char *proto,
			  uint16_t host_port, struct net_vpc *vpc, uint16_t container_port,
			  struct net_port **ret, struct err *err)
{
	struct net_port p = { 0 };

	if (!netstate_name_valid(name))
		return err_msg(err, EINVAL,
			       "invalid service name '%s': use 1-%d of a-z, 0-9 and '-', starting with a letter or digit",
			       name, NETSTATE_NAME_MAX);
	if (!streq(proto, "tcp") && !streq(proto, "udp"))
		return err_msg(err, EINVAL, "invalid protocol '%s': expected tcp or udp", proto);
	if (netstate_port_find(ns, name))
		return err_msg(err, EEXIST, "service '%s' is already published", name);
	for (size_t i = 0; i < ns->n_ports; i++)
		if (ns->ports[i].host_port == host_port && streq(ns->ports[i].proto, proto))
			return err_msg(err, EADDRINUSE, "host port %u/%s is already published by '%s'",
				       host_port, proto, ns->ports[i].name);
	if (ns->n_ports >= NETSTATE_MAX_PORTS)
		return err_msg(err, ENOSPC, "too many published ports on this node (limit %d)",
			       NETSTATE_MAX_PORTS);
	p.name = xstrdup(name);
	snprintf(p.proto, sizeof(p.proto), "%s", proto);
	p.host_port = host_port;
	memcpy(p.vpc, vpc->id, sizeof(p.vpc));
	p.container_port = container_port;
	p.created = now_rfc3339();
	ns->ports = xrealloc(ns->ports, (ns->n_ports + 1) * sizeof(*ns->ports));
	ns->ports[ns->n_ports] = p;
	if (ret)
		*ret = &ns->ports[ns->n_ports];
	ns->n_ports++;
	return 0;
}

int netstate_port_remove(struct netstate *ns, const char *name, struct err *err)
{
	struct net_port *p = netstate_port_find(ns, name);
	size_t i;

	if (!p)
		return err_msg(err, ENOENT, "service '%s' is not published (see 'coop port ls')", name);
	i = (size_t)(p - ns->ports);
	port_free(p);
	memmove(&ns->ports[i], &ns->ports[i + 1], (ns->n_ports - i - 1) * sizeof(*p));
	ns->n_ports--;
	return 0;
}

static struct net_backend *backend_find(struct net_port *p, const char *owner)
{
	for (size_t i = 0; i < p->n_backends; i++)
		if (streq(p->backends[i].owner, owner))
			return &p->backends[i];
	return NULL;
}

int netstate_backend_add(struct netstate *ns, struct net_port *p, const char *owner,
			 bool healthy, struct err *err)
{
	struct net_vpc *vpc;
	struct net_lease *l = netstate_lease_find(ns, owner, &vpc);
	struct net_backend *b = backend_find(p, owner);

	if (!l)
		return err_msg(err, ENOENT, "'%s' is not attached to any VPC (see 'coop net ls')",
			       owner);
	if (!streq(vpc->id, p->vpc)) {
		struct net_vpc *pv = netstate_vpc_find(ns, p->vpc);
		return err_msg(err, EINVAL, "'%s' is on VPC '%s', service '%s' on VPC '%s'", owner,
			       vpc->name, p->name, pv ? pv->name : p->vpc);
	}
	if (b) {
		b->healthy = healthy;
		b->ip = l->ip;
		return 0;
	}
	if (p->n_backends >= NETSTATE_MAX_BACKENDS)
		return err_msg(err, ENOSPC, "service '%s' has too many backends (limit %d)", p->name,
			       NETSTATE_MAX_BACKENDS);
	p->backends = xrealloc(p->backends, (p->n_backends + 1) * sizeof(*p->backends));
	p->backends[p->n_backends++] = (struct net_backend){
		.owner = xstrdup(owner), .ip = l->ip, .port = p->container_port, .healthy = healthy
	};
	return 0;
}

int netstate_backend_remove(struct netstate *ns, struct net_port *p, const char *owner,
			    struct err *err)
{
	struct net_backend *b = backend_find(p, owner);
	size_t i;

	if (!b)
		return err_msg(err, ENOENT, "'%s' is not a backend of service '%s'", owner, p->name);
	i = (size_t)(b - p->backends);
	free(b->owner);
	memmove(&p->backends[i], &p->backends[i + 1], (p->n_backends - i - 1) * sizeof(*b));
	p->n_backends--;
	return 0;
}

int netstate_backend_health(struct netstate *ns, struct net_port *p, const char *owner,
			    bool healthy, struct err *err)
{
	struct net_backend *b = backend_find(p, owner);

	if (!b)
		return err_msg(err, ENOENT, "'%s' is not a backend of service '%s'", owner, p->name);
	b->healthy = healthy;
	return 0;
}

int netstate_port_set_backends(struct netstate *ns, struct net_port *p,
			       const struct net_backend *bs, size_t n, struct err *err)
{
	struct net_vpc *v = netstate_vpc_find(ns, p->vpc);
	struct net_backend *next;
	char a[16];

	if (n > NETSTATE_MAX_BACKENDS)
		return err_msg(err, ENOSPC, "service '%s': %zu backends, the limit is %d", p->name, n,
			       NETSTATE_MAX_BACKENDS);
	for (size_t i = 0; i < n; i++) {
		if (!bs[i].owner || !*bs[i].owner)
			return err_msg(err, EINVAL, "service '%s': a backend without a name", p->name);
		if (v && !net_ipam_contains(&v->cidr, bs[i].ip))
			return err_msg(err, EINVAL, "service '%s': backend %s (%s) is outside VPC '%s'",
				       p->name, bs[i].owner, net_ipam_addr_fmt(bs[i].ip, a), v->name);
		for (size_t k = 0; k < i; k++)
			if (streq(bs[k].owner, bs[i].owner))
				return err_msg(err, EEXIST, "service '%s': backend %s named twice",
					       p->name, bs[i].owner);
	}
	next = xcalloc(n + 1, sizeof(*next));
	for (size_t i = 0; i < n; i++) {
		next[i] = bs[i];
		next[i].owner = xstrdup(bs[i].owner);
		if (!next[i].port)
			next[i].port = p->container_port;
	}
	for (size_t i = 0; i < p->n_backends; i++)
		free(p->backends[i].owner);
	free(p->backends);
	p->backends = next;
	p->n_backends = n;
	return 0;
}

int netstate_vpc_set_names(struct netstate *ns, struct net_vpc *vpc, const struct net_name *names,
			   size_t n, struct err *err)
{
	struct net_name *next;
	char a[16];

	if (n > NETSTATE_MAX_NAMES)
		return err_msg(err, ENOSPC, "VPC '%s': %zu remote names, the limit is %d", vpc->name,
			       n, NETSTATE_MAX_NAMES);
	for (size_t i = 0; i < n; i++) {
		if (!names[i].name || !*names[i].name || strlen(names[i].name) > 253)
			return err_msg(err, EINVAL, "VPC '%s': a remote name must be 1-253 characters",
				       vpc->name);
		if (!net_ipam_contains(&vpc->cidr, names[i].ip))
			return err_msg(err, EINVAL, "VPC '%s': '%s' (%s) is outside its CIDR",
				       vpc->name, names[i].name, net_ipam_addr_fmt(names[i].ip, a));
	}
	next = xcalloc(n + 1, sizeof(*next));
	for (size_t i = 0; i < n; i++)
		next[i] = (struct net_name){ xstrdup(names[i].name), names[i].ip };
	names_free(vpc->names, vpc->n_names);
	vpc->names = next;
	vpc->n_names = n;
	return 0;
}

/* ---- the document ---- */

static json_t *vpc_json(const struct net_vpc *v)
{
	char c[20], s[20], g[16];
	json_t *leases = json_object();

	for (size_t i = 0; i < v->n_leases; i++) {
		char a[16];
		json_object_set_new(leases, net_ipam_addr_fmt(v->leases[i].ip, a),
				    json_string(v->leases[i].owner));
	}
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:o, s:I}", "id", v->id,
			 "name", v->name, "cidr", net_ipam_cidr_fmt(&v->cidr, c), "subnet",
			 net_ipam_cidr_fmt(&v->subnet, s), "gateway", net_ipam_addr_fmt(v->gateway, g),
			 "vni", (json_int_t)v->vni, "mtu", (json_int_t)v->mtu, "bridge", v->bridge,
			 "created", v->created ? v->created : "", "leases", leases, "next",
			 (json_int_t)v->pool.next);
	if (v->n_names) {
		json_t *names = json_array();
		for (size_t i = 0; i < v->n_names; i++) {
			char a[16];
			json_array_append_new(names, json_pack("{s:s,s:s}", "name", v->names[i].name,
							       "ip", net_ipam_addr_fmt(v->names[i].ip, a)));
		}
		json_object_set_new(j, "names", names);
	}
	return j;
}

static json_t *port_json(const struct net_port *p)
{
	json_t *bs = json_array();
	for (size_t i = 0; i < p->n_backends; i++) {
		char a[16];
		const struct net_backend *b = &p->backends[i];
		json_array_append_new(bs, json_pack("{s:s, s:s, s:I, s:b}", "owner", b->owner, "ip",
						    net_ipam_addr_fmt(b->ip, a), "port",
						    (json_int_t)b->port, "healthy", b->healthy));
	}
	json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:o}", "name", p->name, "proto",
			      p->proto, "host_port", (json_int_t)p->host_port, "vpc", p->vpc,
			      "container_port", (json_int_t)p->container_port, "created",
			      p->created ? p->created : "", "backends", bs);
	if (p->mesh)
		json_object_set_new(j, "mesh", json_true());
	return j;
}

char *netstate_dump(const struct netstate *ns)
{
	_cleanup_json_ json_t *doc = json_object();
	json_t *vpcs = json_array(), *ports = json_array(), *eps = json_object();

	for (size_t i = 0; i < ns->n_vpcs; i++) {
		const struct net_vpc *v = &ns->vpcs[i];
		json_array_append_new(vpcs, vpc_json(v));
		for (size_t k = 0; k < v->n_leases; k++) {
			const struct net_lease *l = &v->leases[k];
			json_t *e = json_object();
			if (l->workload)
				json_object_set_new(e, "workload", json_string(l->workload));
			if (l->netns)
				json_object_set_new(e, "netns", json_string(l->netns));
			if (l->created)
				json_object_set_new(e, "created", json_string(l->created));
			json_object_set_new(eps, l->owner, e);
		}
	}
	for (size_t i = 0; i < ns->n_ports; i++)
		json_array_append_new(ports, port_json(&ns->ports[i]));
	json_object_set_new(doc, "version", json_integer(STATE_VERSION));
	json_object_set_new(doc, "vpcs", vpcs);
	json_object_set_new(doc, "endpoints", eps);
	json_object_set_new(doc, "ports", ports);
	if (ns->nft_applied)
		json_object_set_new(doc, "nft_applied", json_string(ns->nft_applied));
	char *s = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!s)
		abort();
	return s;
}

static int addr_parse(const char *path, const char *s, uint32_t *ret, struct err *err)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return err_msg(err, EINVAL, "%s: invalid address '%s'", path, s);
	*ret = ntohl(a.s_addr);
	return 0;
}

static int names_parse(json_t *o, const char *path, struct net_vpc *v, struct err *err)
{
	json_t *names = NULL, *e;
	size_t i;
	int r;

	if ((r = js_get(o, path, "names", JSON_ARRAY, false, &names, err)) < 0)
		return r;
	if (json_array_size(names) > NETSTATE_MAX_NAMES)
		return err_msg(err, ENOSPC, "%s.names: more than %d", path, NETSTATE_MAX_NAMES);
	v->names = xcalloc(json_array_size(names) + 1, sizeof(*v->names));
	json_array_foreach(names, i, e) {
		_cleanup_free_ char *np = js_index("names", i), *ip = NULL;
		struct net_name *n = &v->names[v->n_names];
		if ((r = js_str(e, np, "name", true, &n->name, err)) < 0)
			return err_wrap(err, "%s", path);
		v->n_names++;
		if ((r = js_str(e, np, "ip", true, &ip, err)) < 0 ||
		    (r = addr_parse(np, ip, &n->ip, err)) < 0)
			return err_wrap(err, "%s", path);
	}
	return 0;
}

static int vpc_parse(json_t *o, const char *path, json_t *eps, struct net_vpc *v,
		     struct err *err)
{
	_cleanup_free_ char *id = NULL, *cidr = NULL, *subnet = NULL;
	uint64_t vni = 0, mtu = NETSTATE_DEFAULT_MTU, next = 0;
	json_t *leases = NULL, *owner;
	const char *ip;
	int r;

	if ((r = js_str(o, path, "id", true, &id, err)) < 0 ||
	    (r = js_str(o, path, "name", true, &v->name, err)) < 0 ||
	    (r = js_str(o, path, "cidr", true, &cidr, err)) < 0 ||
	    (r = js_str(o, path, "subnet", true, &subnet, err)) < 0 ||
	    (r = js_str(o, path, "created", false, &v->created, err)) < 0 ||
	    (r = js_u64(o, path, "vni", 16777215, &vni, err)) < 0 ||
	    (r = js_u64(o, path, "mtu", 9000, &mtu, err)) < 0 ||
	    (r = js_u64(o, path, "next", UINT32_MAX, &next, err)) < 0 ||
	    (r = js_get(o, path, "leases", JSON_OBJECT, false, &leases, err)) < 0)
		return r;
	if (strlen(id) != 12 || strspn(id, "0123456789abcdef") != 12)
		return err_msg(err, EINVAL, "%s.id: expected 12 hex digits", path);
	memcpy(v->id, id, 13);
	v->vni = (uint32_t)vni;
	v->mtu = (unsigned)mtu;
	if ((r = net_ipam_cidr_parse(cidr, &v->cidr, err)) < 0 ||
	    (r = net_ipam_cidr_parse(subnet, &v->subnet, err)) < 0 || (r = vpc_derive(v, err)) < 0)
		return err_wrap(err, "%s", path);
	/* where the next lease search starts: a released address is not handed out again
	 * at once, even by the next process */
	if (next >= 2 && next < v->pool.size)
		v->pool.next = (uint32_t)next;
	json_object_foreach(leases, ip, owner) {
		uint32_t a = 0;
		json_t *e;
		if (!json_is_string(owner))
			return err_msg(err, EINVAL, "%s.leases.%s: expected a string", path, ip);
		if ((r = addr_parse(path, ip, &a, err)) < 0 ||
		    (r = net_ipam_reserve(&v->pool, a, err)) < 0)
			return err_wrap(err, "%s.leases", path);
		e = json_object_get(eps, json_string_value(owner));
		lease_push(v, a, json_string_value(owner),
			   json_string_value(json_object_get(e, "workload")),
			   json_string_value(json_object_get(e, "netns")),
			   json_object_get(e, "created")
				   ? xstrdup(json_string_value(json_object_get(e, "created")))
				   : NULL);
	}
	return names_parse(o, path, v, err);
}

static int port_parse(json_t *o, const char *path, struct net_port *p, struct err *err)
{
	_cleanup_free_ char *proto = NULL, *vpc = NULL;
	uint64_t hp = 0, cp = 0;
	json_t *bs = NULL, *b;
	size_t i;
	int r;

	if ((r = js_str(o, path, "name", true, &p->name, err)) < 0 ||
	    (r = js_str(o, path, "proto", true, &proto, err)) < 0 ||
	    (r = js_str(o, path, "vpc", true, &vpc, err)) < 0 ||
	    (r = js_str(o, path, "created", false, &p->created, err)) < 0 ||
	    (r = js_u64(o, path, "host_port", 65535, &hp, err)) < 0 ||
	    (r = js_u64(o, path, "container_port", 65535, &cp, err)) < 0 ||
	    (r = js_get(o, path, "backends", JSON_ARRAY, false, &bs, err)) < 0 ||
	    (r = js_bool(o, path, "mesh", &p->mesh, err)) < 0)
		return r;
	if (!streq(proto, "tcp") && !streq(proto, "udp"))
		return err_msg(err, EINVAL, "%s.proto: expected tcp or udp", path);
	snprintf(p->proto, sizeof(p->proto), "%s", proto);
	snprintf(p->vpc, sizeof(p->vpc), "%s", vpc);
	p->host_port = (uint16_t)hp;
	p->container_port = (uint16_t)cp;
	p->backends = xcalloc(json_array_size(bs) + 1, sizeof(*p->backends));
	json_array_foreach(bs, i, b) {
		_cleanup_free_ char *bp = js_index(path, i), *ip = NULL;
		struct net_backend *nb = &p->backends[p->n_backends];
		uint64_t port = p->container_port;
		bool healthy = true;
		if ((r = js_str(b, bp, "owner", true, &nb->owner, err)) < 0)
			return r;
		p->n_backends++;
		if ((r = js_str(b, bp, "ip", true, &ip, err)) < 0 ||
		    (r = js_u64(b, bp, "port", 65535, &port, err)) < 0 ||
		    (r = js_bool(b, bp, "healthy", &healthy, err)) < 0 ||
		    (r = addr_parse(bp, ip, &nb->ip, err)) < 0)
			return r;
		nb->port = (uint16_t)port;
		nb->healthy = healthy;
	}
	return 0;
}

int netstate_parse(const char *text, struct netstate *ns, struct err *err)
{
	_cleanup_json_ json_t *doc = NULL;
	json_t *vpcs = NULL, *ports = NULL, *eps = NULL, *o;
	size_t i;
	int r;

	if ((r = js_load_string("state.json", text, &doc, err)) < 0)
		return r;
	if (!json_is_object(doc))
		return err_msg(err, EINVAL, "state.json: expected an object");
	if ((r = js_get(doc, "", "vpcs", JSON_ARRAY, false, &vpcs, err)) < 0 ||
	    (r = js_get(doc, "", "ports", JSON_ARRAY, false, &ports, err)) < 0 ||
	    (r = js_get(doc, "", "endpoints", JSON_OBJECT, false, &eps, err)) < 0 ||
	    (r = js_str(doc, "", "nft_applied", false, &ns->nft_applied, err)) < 0)
		goto fail;
	ns->vpcs = xcalloc(json_array_size(vpcs) + 1, sizeof(*ns->vpcs));
	json_array_foreach(vpcs, i, o) {
		_cleanup_free_ char *path = js_index("vpcs", i);
		ns->n_vpcs++;
		if ((r = vpc_parse(o, path, eps, &ns->vpcs[i], err)) < 0)
			goto fail;
	}
	ns->ports = xcalloc(json_array_size(ports) + 1, sizeof(*ns->ports));
	json_array_foreach(ports, i, o) {
		_cleanup_free_ char *path = js_index("ports", i);
		ns->n_ports++;
		if ((r = port_parse(o, path, &ns->ports[i], err)) < 0)
			goto fail;
	}
	return 0;
fail:
	state_clear(ns);
	return r;
}

/* ---- the file ---- */

static char *log_path(const struct netstate *ns)
{
	return xasprintf("%s/leases.log", ns->dir);
}


int netstate_save(struct netstate *ns, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/state.json", ns->dir);
	_cleanup_free_ char *s = netstate_dump(ns);
	size_t len = strlen(s);

	_cleanup_free_ char *log = log_path(ns);
	int r;

	s[len] = '\n'; /* replaces the NUL: write len + 1 bytes below */
	if ((r = fs_write_atomic(path, s, len + 1, 0644, err)) < 0)
		return r;
	/* folded into state.json now; replaying it again would change nothing */
	if (truncate(log, 0) < 0 && errno != ENOENT)
		return err_sys(err, errno, "truncate '%s'", log);
	return 0;
}

/* ---- the lease log ----
 * Lease changes are on the container start path. Replacing state.json costs 1-20 ms
 * here even without fsync (ext4 flushes a file renamed over another: auto_da_alloc),
 * so they are appended to <dir>/leases.log instead, one JSON line each, and replayed
 * over state.json on load. A full save folds the log into state.json and empties it.
 * Replay is idempotent (a lease already held, a release of nothing are skipped), so
 * a crash between those two steps is harmless; a torn last line ends the replay.
 * Leases describe kernel objects a power loss destroys anyway, so no fsync. */

#define LOG_COMPACT_BYTES (256 * 1024)

int netstate_log(struct netstate *ns, enum netstate_log_op op, const char *owner,
		 struct err *err)
{
	_cleanup_json_ json_t *rec = NULL;
	_cleanup_free_ char *path = log_path(ns), *line = NULL;
	_cleanup_close_ int fd = -1;
	struct net_vpc *vpc;
	struct net_lease *l;
	char a[16];

	switch (op) {
	case NETSTATE_LOG_LEASE:
		if (!(l = netstate_lease_find(ns, owner, &vpc)))
			return err_msg(err, ENOENT, "'%s' holds no lease", owner);
		rec = json_pack("{s:s,s:s,s:s,s:s}", "op", "lease", "vpc", vpc->id, "ip",
				net_ipam_addr_fmt(l->ip, a), "owner", l->owner);
		if (l->workload)
			json_object_set_new(rec, "workload", json_string(l->workload));
		if (l->netns)
			json_object_set_new(rec, "netns", json_string(l->netns));
		if (l->created)
			json_object_set_new(rec, "created", json_string(l->created));
		break;
	case NETSTATE_LOG_RELEASE:
		rec = json_pack("{s:s,s:s}", "op", "release", "owner", owner);
		break;
	case NETSTATE_LOG_NFT:
		rec = json_pack("{s:s,s:s?}", "op", "nft", "digest", ns->nft_applied);
		break;
	}
	line = json_dumps(rec, JSON_COMPACT);
	if (!line)
		abort();
	_cleanup_free_ char *nl = xasprintf("%s\n", line);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_sys(err, errno, "open '%s'", path);
	/* one write(2) with O_APPEND: readers see the whole line or none of it */
	ssize_t n = write(fd, nl, strlen(nl));
	if (n < 0)
		return err_sys(err, errno, "append to '%s'", path);
	if ((size_t)n != strlen(nl))
		return err_msg(err, EIO, "append to '%s': short write", path);
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_size > LOG_COMPACT_BYTES)
		return netstate_save(ns, err);
	return 0;
}

static void replay_one(struct netstate *ns, json_t *rec)
{
	const char *op = json_string_value(json_object_get(rec, "op"));
	const char *owner = json_string_value(json_object_get(rec, "owner"));

	if (!op)
		return;
	if (streq(op, "nft")) {
		const char *d = json_string_value(json_object_get(rec, "digest"));
		free(ns->nft_applied);
		ns->nft_applied = d ? xstrdup(d) : NULL;
	} else if (streq(op, "release") && owner) {
		netstate_release(ns, owner, NULL);
	} else if (streq(op, "lease") && owner) {
		const char *vid = json_string_value(json_object_get(rec, "vpc"));
		const char *ip = json_string_value(json_object_get(rec, "ip"));
		struct net_vpc *v = vid ? netstate_vpc_find(ns, vid) : NULL;
		const char *created = json_string_value(json_object_get(rec, "created"));
		uint32_t a = 0;
		if (!v || !ip || netstate_lease_find(ns, owner, NULL) ||
		    addr_parse("leases.log", ip, &a, NULL) < 0 || net_ipam_reserve(&v->pool, a, NULL) < 0)
			return;
		v->pool.next = (a - v->subnet.addr + 1) % v->pool.size;
		lease_push(v, a, owner, json_string_value(json_object_get(rec, "workload")),
			   json_string_value(json_object_get(rec, "netns")),
			   created ? xstrdup(created) : NULL);
	}
}

static int replay(struct netstate *ns, struct err *err)
{
	_cleanup_free_ char *path = log_path(ns), *text = NULL;
	char *line, *nl;
	int r = fs_read(path, &text, err);

	if (r == -ENOENT) {
		err_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	for (line = text; (nl = strchr(line, '\n')); line = nl + 1) {
		json_t *rec;
		*nl = '\0';
		if (!(rec = json_loads(line, 0, NULL)))
			break;
		replay_one(ns, rec);
		json_decref(rec);
	}
	return 0;
}

static int lock_dir(const char *dir, int *ret_fd, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/lock", dir);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		return err_sys(err, errno, "open '%s'", path);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return err_sys(err, errno, "lock '%s'", path);
	*ret_fd = take_fd(fd);
	return 0;
}

int netstate_open(const char *dir, bool lock, struct netstate **ret, struct err *err)
{
	struct netstate *ns = xcalloc(1, sizeof(*ns));
	_cleanup_free_ char *path = NULL, *text = NULL;
	int r;

	ns->lock_fd = -1;
	ns->dir = xstrdup(netstate_dir(dir));
	path = xasprintf("%s/state.json", ns->dir);
	if (lock && ((r = fs_mkdir_p(ns->dir, 0755, err)) < 0 ||
		     (r = lock_dir(ns->dir, &ns->lock_fd, err)) < 0))
		goto fail;
	r = fs_read(path, &text, err);
	if (r == -ENOENT && !lock) {
		/* the first reader creates the file, so the default VPC's id is stable */
		int fd = -1;
		err_clear(err);
		if ((r = fs_mkdir_p(ns->dir, 0755, err)) < 0 || (r = lock_dir(ns->dir, &fd, err)) < 0)
			goto fail;
		r = fs_read(path, &text, err);
		if (r == -ENOENT)
			ns->lock_fd = fd; /* create and save below, then drop it */
		else
			close(fd);
	}
	if (r == -ENOENT) {
		err_clear(err);
		r = netstate_vpc_create(ns, NETSTATE_DEFAULT_VPC, NETSTATE_DEFAULT_CIDR, 0, 0, NULL,
					err);
		if (r == 0)
			r = netstate_save(ns, err);
		if (!lock && ns->lock_fd >= 0) {
			close(ns->lock_fd);
			ns->lock_fd = -1;
		}
	} else if (r == 0) {
		r = netstate_parse(text, ns, err);
		if (r < 0)
			err_wrap(err, "'%s'", path);
		else
			r = replay(ns, err);
	}
	if (r < 0)
		goto fail;
	*ret = ns;
	return 0;
fail:
	netstate_close(ns);
	return r;
}
