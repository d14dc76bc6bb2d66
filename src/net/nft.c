/* nft: renders coop's whole ruleset (one `table inet coop`) from a description and
 * replaces it in one libnftables transaction. Every string that reaches the script is
 * validated first, and addresses are re-rendered from their parsed values, so no user
 * text is ever pasted into nft's input. */
#include "net/nft.h"

#include <arpa/inet.h>

#include "base/dl_nft.h"
#include "base/util.h"
#include "net/nl.h"

#define NFT_TABLE "inet coop"
/* A published port's backends form one numgen map; past this, use more ports. */
#define NFT_MAX_BACKENDS 1024
#define NFT_MAX_NETWORKS 4096
#define NFT_NAME_MAX 64

struct net4 {
	uint32_t addr; /* host order */
	int prefix;
};

/* A network after validation: texts safe to print, prefixes parsed. */
struct vnet {
	const char *name, *bridge;
	struct net4 cidr, subnet;
};

/* ---- validation ---- */

static bool name_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

static uint32_t mask4(int prefix)
{
	return prefix ? ~0u << (32 - prefix) : 0;
}

static bool net4_contains(struct net4 outer, struct net4 inner)
{
	return inner.prefix >= outer.prefix && (inner.addr & mask4(outer.prefix)) == outer.addr;
}

static int parse_net(const char *what, const char *vpc, const char *s, struct net4 *ret,
		     struct err *err)
{
	struct in_addr a;
	int p, r;

	if ((r = net_cidr_parse(s, &a, &p, err)) < 0)
		return err_wrap(err, "network '%s' %s", vpc, what);
	ret->addr = ntohl(a.s_addr);
	ret->prefix = p;
	return 0;
}

static int check_network(const struct net_nft_network *n, struct vnet *v, struct err *err)
{
	int r;

	if (!name_ok(n->name, NFT_NAME_MAX))
		return err_msg(err, EINVAL,
			       "network name '%s' must be 1-%d characters of [A-Za-z0-9_.-]",
			       n->name ? n->name : "", NFT_NAME_MAX);
	if (!name_ok(n->bridge, 15))
		return err_msg(
		    err, EINVAL,
		    "network '%s': bridge name '%s' must be 1-15 characters of [A-Za-z0-9_.-]",
		    n->name, n->bridge ? n->bridge : "");
	if ((r = parse_net("cidr", n->name, n->cidr, &v->cidr, err)) < 0 ||
	    (r = parse_net("subnet", n->name, n->subnet, &v->subnet, err)) < 0)
		return r;
	if (!net4_contains(v->cidr, v->subnet))
		return err_msg(err, EINVAL, "network '%s': subnet %s is not inside %s", n->name,
			       n->subnet, n->cidr);
	v->name = n->name;
	v->bridge = n->bridge;
	return 0;
}

static int check_networks(const struct net_nft_config *cfg, struct vnet *v, struct err *err)
{
	int r;

	if (cfg->n_networks > NFT_MAX_NETWORKS)
		return err_msg(err, E2BIG, "%zu networks: at most %d per node", cfg->n_networks,
			       NFT_MAX_NETWORKS);
	for (size_t i = 0; i < cfg->n_networks; i++) {
		if ((r = check_network(&cfg->networks[i], &v[i], err)) < 0)
			return r;
		for (size_t j = 0; j < i; j++) {
			if (streq(v[j].bridge, v[i].bridge))
				return err_msg(err, EINVAL, "bridge '%s' is used by two networks",
					       v[i].bridge);
			if (streq(v[j].name, v[i].name) && (v[j].cidr.addr != v[i].cidr.addr ||
							    v[j].cidr.prefix != v[i].cidr.prefix))
				return err_msg(err, EINVAL, "network '%s' has two CIDRs",
					       v[i].name);
		}
	}
	return 0;
}

static const struct vnet *find_vnet(const struct vnet *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (name && streq(v[i].name, name))
			return &v[i];
	return NULL;
}

static int check_port(const struct net_nft_port *p, const struct vnet *v, size_t nv, uint8_t *seen,
		      struct err *err)
{
	const struct vnet *net;
	bool tcp = p->proto && streq(p->proto, "tcp");
	size_t bit;

	if (!p->proto || (!tcp && !streq(p->proto, "udp")))
		return err_msg(err, EINVAL, "published port %u: protocol '%s' is not tcp or udp",
			       p->host_port, p->proto ? p->proto : "");
	if (p->host_port == 0)
		return err_msg(err, EINVAL, "published port %s/0: port must be 1-65535", p->proto);
	bit = (size_t)p->host_port * 2 + tcp;
	if (seen[bit / 8] & (1u << (bit % 8)))
		return err_msg(err, EEXIST, "port %s/%u is published twice", p->proto,
			       p->host_port);
	seen[bit / 8] |= 1u << (bit % 8);
	if (!(net = find_vnet(v, nv, p->network)))
		return err_msg(err, ENOENT, "port %s/%u: no network '%s' on this node", p->proto,
			       p->host_port, p->network ? p->network : "");
	if (p->n_backends > NFT_MAX_BACKENDS)
		return err_msg(err, E2BIG, "port %s/%u: %zu backends, at most %d", p->proto,
			       p->host_port, p->n_backends, NFT_MAX_BACKENDS);
	for (size_t i = 0; i < p->n_backends; i++) {
		const struct net_nft_backend *b = &p->backends[i];
		struct in_addr a;
		if (!b->ip || inet_pton(AF_INET, b->ip, &a) != 1)
			return err_msg(err, EINVAL, "port %s/%u: backend address '%s' is invalid",
				       p->proto, p->host_port, b->ip ? b->ip : "");
		if (!net4_contains(net->cidr, (struct net4){ntohl(a.s_addr), 32}))
			return err_msg(err, EINVAL,
				       "port %s/%u: backend %s is outside network '%s'", p->proto,
				       p->host_port, b->ip, net->name);
		if (b->port == 0)
			return err_msg(err, EINVAL, "port %s/%u: backend %s has port 0", p->proto,
				       p->host_port, b->ip);
	}
	return 0;
}

/* ---- rendering ---- */

static void put_net(FILE *f, struct net4 n)
{
	struct in_addr a = {htonl(n.addr)};
	char t[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a, t, sizeof(t));
	fprintf(f, "%s/%d", t, n.prefix);
}

static void put_ip(FILE *f, const char *text)
{
	struct in_addr a;
	char t[INET_ADDRSTRLEN];

	/* validated before; re-rendered so "010.1.1.1"-style oddities never reach nft */
	inet_pton(AF_INET, text, &a);
	inet_ntop(AF_INET, &a, t, sizeof(t));
	fputs(t, f);
}

/* One chain per published port, reached from a verdict map on proto . port. */
static void render_port_chain(FILE *f, const struct net_nft_port *p)
{
	fprintf(f, "\tchain pub-%s-%u {\n\t\tmeta l4proto %s dnat ip to ", p->proto, p->host_port,
		p->proto);
	if (p->n_backends == 1) {
		put_ip(f, p->backends[0].ip);
		fprintf(f, ":%u", p->backends[0].port);
	} else {
		fprintf(f, "numgen inc mod %zu map { ", p->n_backends);
		for (size_t i = 0; i < p->n_backends; i++) {
			fprintf(f, "%s%zu : ", i ? ", " : "", i);
			put_ip(f, p->backends[i].ip);
			fprintf(f, " . %u", p->backends[i].port);
		}
		fputs(" }", f);
	}
	fprintf(f, " comment \"vpc %s: %s/%u -> %zu backend%s\"\n\t}\n", p->network, p->proto,
		p->host_port, p->n_backends, p->n_backends == 1 ? "" : "s");
}

static void render_published(FILE *f, const struct net_nft_config *cfg)
{
	bool any = false;

	for (size_t i = 0; i < cfg->n_ports; i++)
		if (cfg->ports[i].n_backends)
			render_port_chain(f, &cfg->ports[i]);
	fputs("\tchain published {\n", f);
	for (size_t i = 0; i < cfg->n_ports; i++) {
		const struct net_nft_port *p = &cfg->ports[i];
		if (!p->n_backends)
			continue;
		fprintf(f, "%s%s . %u : jump pub-%s-%u",
			any ? ", " : "\t\tmeta l4proto . th dport vmap { ", p->proto, p->host_port,
			p->proto, p->host_port);
		any = true;
	}
	fputs(any ? " }\n\t}\n" : "\t}\n", f);
	fputs("\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
	      "\t\tmeta nfproto ipv4 fib daddr type local jump published\n\t}\n",
	      f);
	/* nft 1.0.6 refuses "priority dstnat" on the output hook */
	fputs("\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n"
	      "\t\tmeta nfproto ipv4 fib daddr type local jump published\n\t}\n",
	      f);
}

static void render_postrouting(FILE *f, const struct vnet *v, size_t nv)
{
	fputs("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy "
	      "accept;\n",
	      f);
	for (size_t i = 0; i < nv; i++) {
		fputs("\t\tip saddr ", f), put_net(f, v[i].subnet);
		fputs(" ip daddr != ", f), put_net(f, v[i].cidr);
		fprintf(f, " masquerade comment \"vpc %s: leaving the vpc\"\n", v[i].name);
		/* a container reaching a published port served on its own subnet */
		fputs("\t\tct status dnat ip saddr ", f), put_net(f, v[i].subnet);
		fputs(" ip daddr ", f), put_net(f, v[i].subnet);
		fprintf(f, " masquerade comment \"vpc %s: hairpin\"\n", v[i].name);
		/* a backend on another node must answer through this one */
		fputs("\t\tct status dnat ip daddr ", f), put_net(f, v[i].cidr);
		fputs(" ip daddr != ", f), put_net(f, v[i].subnet);
		fprintf(f, " masquerade comment \"vpc %s: remote backends\"\n", v[i].name);
	}
	/* the host's own 127.0.0.1:port (needs route_localnet on the bridge to leave lo) */
	fputs("\t\tct status dnat ip saddr 127.0.0.0/8 masquerade comment \"host loopback\"\n\t}\n",
	      f);
}

static void render_refused(FILE *f, const struct net_nft_config *cfg, const char *proto)
{
	bool any = false;

	for (size_t i = 0; i < cfg->n_ports; i++) {
		const struct net_nft_port *p = &cfg->ports[i];
		if (p->n_backends || !streq(p->proto, proto))
			continue;
		fprintf(f, "%s%u", any ? ", " : "", p->host_port);
		any = true;
	}
}

static void render_input(FILE *f, const struct net_nft_config *cfg)
{
	static const struct {
		const char *proto, *verdict;
	} kinds[] = {{"tcp", "reject with tcp reset"}, {"udp", "reject"}};
	size_t refused = 0;

	/* a base chain costs every packet delivered here a pass, even empty: only when
	 * there is something to refuse */
	for (size_t i = 0; i < cfg->n_ports; i++)
		refused += !cfg->ports[i].n_backends;
	if (!refused)
		return;
	fputs("\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n", f);
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		size_t n = 0;
		for (size_t i = 0; i < cfg->n_ports; i++)
			n +=
			    !cfg->ports[i].n_backends && streq(cfg->ports[i].proto, kinds[k].proto);
		if (!n)
			continue;
		fprintf(f, "\t\tfib daddr type local %s dport { ", kinds[k].proto);
		render_refused(f, cfg, kinds[k].proto);
		fprintf(f, " } %s comment \"published %s ports without backends\"\n",
			kinds[k].verdict, kinds[k].proto);
	}
	fputs("\t}\n", f);
}

static void render_forward(FILE *f, const struct vnet *v, size_t nv)
{
	fputs("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n",
	      f);
	if (nv) /* published ports are public: reachable from any vpc */
		fputs("\t\tct status dnat accept comment \"published ports\"\n", f);
	for (size_t i = 0; i < nv; i++) {
		bool first = true;
		fprintf(f, "\t\tiifname \"%s\" oifname @bridges oifname != { ", v[i].bridge);
		for (size_t j = 0; j < nv; j++) {
			if (!streq(v[j].name, v[i].name))
				continue;
			fprintf(f, "%s\"%s\"", first ? "" : ", ", v[j].bridge);
			first = false;
		}
		fprintf(f, " } drop comment \"vpc %s: isolation\"\n", v[i].name);
	}
	fputs("\t}\n", f);
}

static void render(FILE *f, const struct net_nft_config *cfg, const struct vnet *v, size_t nv)
{
	/* add+delete makes the replacement work whether or not the table exists */
	fputs("add table " NFT_TABLE "\ndelete table " NFT_TABLE "\ntable " NFT_TABLE " {\n", f);
	if (nv) {
		fputs("\tset bridges {\n\t\ttype ifname\n\t\telements = { ", f);
		for (size_t i = 0; i < nv; i++)
			fprintf(f, "%s\"%s\"", i ? ", " : "", v[i].bridge);
		fputs(" }\n\t}\n", f);
	}
	render_published(f, cfg);
	render_postrouting(f, v, nv);
	render_input(f, cfg);
	render_forward(f, v, nv);
	fputs("}\n", f);
}

int net_nft_render(const struct net_nft_config *cfg, char **ret, struct err *err)
{
	_cleanup_free_ struct vnet *v = NULL;
	_cleanup_free_ uint8_t *seen = xcalloc(1, 65536 * 2 / 8);
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	v = xcalloc(cfg->n_networks + 1, sizeof(*v));
	if ((r = check_networks(cfg, v, err)) < 0)
		return r;
	for (size_t i = 0; i < cfg->n_ports; i++)
		if ((r = check_port(&cfg->ports[i], v, cfg->n_networks, seen, err)) < 0)
			return r;
	f = open_memstream(&buf, &len);
	if (!f)
		return err_sys(err, errno, "render nftables ruleset");
	render(f, cfg, v, cfg->n_networks);
	if (fclose(f) != 0) {
		free(buf);
		return err_sys(err, ENOMEM, "render nftables ruleset");
	}
	*ret = buf;
	return 0;
}

/* ---- applying ---- */

/* nft says "Error: Could not process rule: No such file or directory"; recover the errno. */
static int nft_errno(const char *line)
{
	for (int e = 1; e < 134; e++) {
		const char *s = strerror(e);
		if (s && strstr(line, s))
			return e;
	}
	return EINVAL;
}

static void nft_ctx_freep(struct nft_ctx **c)
{
	if (*c)
		nft_ctx_free(*c);
}

int net_nft_run(const char *script, const char *what, struct err *err)
{
	__attribute__((cleanup(nft_ctx_freep))) struct nft_ctx *ctx = NULL;
	char line[512] = "";
	const char *eb;

	if (dl_load(&dl_nft, err) < 0)
		return err_wrap(err, "%s", what);
	if (!(ctx = nft_ctx_new(NFT_CTX_DEFAULT)))
		return err_msg(err, ENOMEM, "%s: cannot create nftables context", what);
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	if (nft_run_cmd_from_buffer(ctx, script) == 0)
		return 0;
	eb = nft_ctx_get_error_buffer(ctx);
	/* the first non-empty line says what; the rest quotes the script with carets */
	for (const char *p = eb ? eb : ""; *p;) {
		size_t n = strcspn(p, "\n");
		if (n) {
			snprintf(line, sizeof(line), "%.*s", (int)n, p);
			break;
		}
		p += n + (p[n] == '\n');
	}
	if (!line[0])
		snprintf(line, sizeof(line), "nft failed");
	return err_msg(err, nft_errno(line), "%s: %s", what, line);
}

int net_nft_apply(const struct net_nft_config *cfg, struct err *err)
{
	_cleanup_free_ char *script = NULL;
	int r;

	if ((r = net_nft_render(cfg, &script, err)) < 0)
		return r;
	return net_nft_run(script, "apply nftables table " NFT_TABLE, err);
}

int net_nft_remove(struct err *err)
{
	/* add first, so a missing table is not an error and the pair stays atomic */
	return net_nft_run("add table " NFT_TABLE "\ndelete table " NFT_TABLE "\n",
		       "remove nftables table " NFT_TABLE, err);
}
