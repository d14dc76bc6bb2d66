/* ports: the node's nftables ruleset, rendered from netstate and applied whole (net/nft),
 * and the host-port probe behind `coop port publish`. */
#include "net/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "base/log.h"
#include "base/util.h"
#include "net/nft.h"

/* The strings a net_nft_config points into, kept together so one free releases them. */
struct nft_build {
	struct net_nft_config cfg;
	struct net_nft_network *nets;
	struct net_nft_port *ports;
	struct net_nft_backend *backends;
	char (*cidrs)[2][20];
	char (*ips)[16];
};

static void build_free(struct nft_build *b)
{
	free(b->nets);
	free(b->ports);
	free(b->backends);
	free(b->cidrs);
	free(b->ips);
}

/* A VPC is described only while it has containers (its bridge exists then) or ports
 * here. */
static void build(struct netstate *ns, struct nft_build *b)
{
	size_t nb = 0, k = 0;

	memset(b, 0, sizeof(*b));
	for (size_t i = 0; i < ns->n_ports; i++)
		nb += ns->ports[i].n_backends;
	b->nets = xcalloc(ns->n_vpcs + 1, sizeof(*b->nets));
	b->cidrs = xcalloc(ns->n_vpcs + 1, sizeof(*b->cidrs));
	b->ports = xcalloc(ns->n_ports + 1, sizeof(*b->ports));
	b->backends = xcalloc(nb + 1, sizeof(*b->backends));
	b->ips = xcalloc(nb + 1, sizeof(*b->ips));
	for (size_t i = 0; i < ns->n_vpcs; i++) {
		struct net_vpc *v = &ns->vpcs[i];
		size_t n = b->cfg.n_networks;
		bool published = false;
		for (size_t k = 0; k < ns->n_ports && !published; k++)
			published = streq(ns->ports[k].vpc, v->id);
		if (!v->n_leases && !published)
			continue;
		b->nets[n] = (struct net_nft_network){
			.name = v->name,
			.bridge = v->bridge,
			.cidr = net_ipam_cidr_fmt(&v->cidr, b->cidrs[n][0]),
			.subnet = net_ipam_cidr_fmt(&v->subnet, b->cidrs[n][1]),
		};
		b->cfg.n_networks++;
	}
	for (size_t i = 0; i < ns->n_ports; i++) {
		struct net_port *p = &ns->ports[i];
		struct net_vpc *v = netstate_vpc_find(ns, p->vpc);
		struct net_nft_port *np = &b->ports[i];
		*np = (struct net_nft_port){ .proto = p->proto, .host_port = p->host_port,
					     .network = v ? v->name : p->vpc,
					     .backends = &b->backends[k] };
		for (size_t j = 0; j < p->n_backends; j++) {
			if (!p->backends[j].healthy)
				continue;
			b->backends[k].ip = net_ipam_addr_fmt(p->backends[j].ip, b->ips[k]);
			b->backends[k].port = p->backends[j].port;
			k++;
			np->n_backends++;
		}
	}
	b->cfg.networks = b->nets;
	b->cfg.ports = b->ports;
	b->cfg.n_ports = ns->n_ports;
}

int net_ports_render(struct netstate *ns, char **ret, struct err *err)
{
	struct nft_build b;
	int r;

	build(ns, &b);
	r = net_nft_render(&b.cfg, ret, err);
	build_free(&b);
	return r;
}

static char *digest(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a 64: change detection, not security */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return xasprintf("%016llx", (unsigned long long)h);
}

int net_ports_apply(struct netstate *ns, bool force, struct err *err)
{
	_cleanup_free_ char *script = NULL, *d = NULL;
	struct nft_build b;
	int r;

	build(ns, &b);
	if (b.cfg.n_networks == 0 && b.cfg.n_ports == 0) {
		build_free(&b);
		if (!ns->nft_applied && !force)
			return 0;
		if ((r = net_nft_remove(err)) < 0)
			return r;
		free(ns->nft_applied);
		ns->nft_applied = NULL;
		return 0;
	}
	if ((r = net_nft_render(&b.cfg, &script, err)) < 0)
		goto out;
	d = digest(script);
	if (!force && ns->nft_applied && streq(ns->nft_applied, d)) {
		log_debug("nft: ruleset unchanged (%s)", d);
		goto out;
	}
	if ((r = net_nft_apply(&b.cfg, err)) < 0)
		goto out;
	free(ns->nft_applied);
	ns->nft_applied = take_ptr(d);
out:
	build_free(&b);
	return r;
}

int net_port_probe(const char *proto, uint16_t port, struct err *err)
{
	bool udp = streq(proto, "udp");
	_cleanup_close_ int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1;

	if (fd < 0)
		return err_sys(err, errno, "probe host port %u/%s", port, proto);
	/* SO_REUSEADDR: a closed connection in TIME_WAIT does not hold the port, a listener does */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EADDRINUSE)
			return err_msg(err, EADDRINUSE, "host port %u/%s is in use on this host",
				       port, proto);
		return err_sys(err, errno, "probe host port %u/%s", port, proto);
	}
	return 0;
}
