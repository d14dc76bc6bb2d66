/* resolver: one dns_server per VPC with containers on this node, following the
 * network state on disk (moved here from `coop dns serve` so the daemon hosts the same
 * thing). */
#include "net/resolver.h"

#include <errno.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/util.h"
#include "net/ipam.h"
#include "net/netstate.h"

struct server {
	char vpc_id[13];
	struct dns_server *srv;
	struct lookup_ctx *ctx;
};

struct lookup_ctx {
	struct net_resolver *r;
	char vpc_id[13];
	unsigned rotate; /* round-robin over a workload's replicas */
};

struct net_resolver {
	char *dir, *only, *upstream;
	uint16_t port;
	uint64_t sig;           /* of the state files last loaded */
	struct netstate *state; /* shared by all servers, replaced on change */
	struct server *servers;
	size_t n;
};

static int lookup(void *ctx, const char *name, struct in_addr *out, size_t max)
{
	struct lookup_ctx *c = ctx;
	struct net_vpc *v = c->r->state ? netstate_vpc_find(c->r->state, c->vpc_id) : NULL;

	if (!v)
		return -ENOENT;
	return netstate_dns_lookup(v, name, c->rotate++, out, max);
}

int net_resolver_new(const char *dir, const char *only, const char *upstream, uint16_t port,
		     struct net_resolver **ret, struct err *err)
{
	struct net_resolver *r = xcalloc(1, sizeof(*r));

	r->dir = xstrdup(netstate_dir(dir));
	r->only = only ? xstrdup(only) : NULL;
	r->upstream = upstream ? xstrdup(upstream) : NULL;
	r->port = port;
	r->servers = xcalloc(NETSTATE_MAX_VPCS, sizeof(*r->servers));
	*ret = r;
	return 0;
}

/* Reloads the state when state.json or leases.log changed (mtime or size); returns
 * true if it did. */
static bool reload(struct net_resolver *r)
{
	static const char *const files[] = { "state.json", "leases.log" };
	struct netstate *ns;
	struct err err = { 0 };
	uint64_t now = 1469598103934665603ull;

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", r->dir, files[i]);
		struct stat st = { 0 };
		stat(path, &st);
		uint64_t v[3] = { (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec,
				  (uint64_t)st.st_size };
		for (size_t k = 0; k < 3; k++)
			now = (now ^ v[k]) * 1099511628211ull;
	}
	if (r->state && now == r->sig)
		return false;
	if (netstate_open(r->dir, false, &ns, &err) < 0) {
		log_warn("dns: %s (keeping the previous state)", err.msg);
		return false;
	}
	netstate_close(r->state);
	r->state = ns;
	r->sig = now;
	return true;
}

static void server_free(struct server *s)
{
	dns_server_free(s->srv);
	free(s->ctx);
}

/* Starts servers for VPCs that have a bridge now, stops those whose VPC went. */
static bool reconcile(struct net_resolver *r)
{
	bool changed = false;

	for (size_t i = 0; i < r->n;) {
		struct net_vpc *v = netstate_vpc_find(r->state, r->servers[i].vpc_id);
		if (v && v->n_leases) {
			i++;
			continue;
		}
		server_free(&r->servers[i]);
		r->servers[i] = r->servers[--r->n];
		changed = true;
	}
	for (size_t k = 0; k < r->state->n_vpcs && r->n < NETSTATE_MAX_VPCS; k++) {
		struct net_vpc *v = &r->state->vpcs[k];
		struct err err = { 0 };
		bool have = false;
		char gw[16];
		if (!v->n_leases || (r->only && !streq(r->only, v->name) && !streq(r->only, v->id)))
			continue;
		for (size_t i = 0; i < r->n && !have; i++)
			have = streq(r->servers[i].vpc_id, v->id);
		if (have)
			continue;
		struct lookup_ctx *c = xcalloc(1, sizeof(*c));
		c->r = r;
		memcpy(c->vpc_id, v->id, sizeof(c->vpc_id));
		struct server *s = &r->servers[r->n];
		if (dns_server_new(net_ipam_addr_fmt(v->gateway, gw), r->port, "coop", r->upstream,
				   lookup, c, &s->srv, &err) < 0) {
			/* the bridge may not carry its address yet: retried later */
			log_warn("dns: VPC '%s': %s", v->name, err.msg);
			free(c);
			continue;
		}
		log_info("dns: serving VPC '%s' on %s:%u", v->name, gw, r->port ? r->port : 53);
		memcpy(s->vpc_id, v->id, sizeof(s->vpc_id));
		s->ctx = c;
		r->n++;
		changed = true;
	}
	return changed;
}

bool net_resolver_refresh(struct net_resolver *r, bool force)
{
	if (!reload(r) && !force)
		return false;
	return r->state ? reconcile(r) : false;
}

size_t net_resolver_count(const struct net_resolver *r) { return r->n; }

struct dns_server *net_resolver_server(const struct net_resolver *r, size_t i)
{
	return i < r->n ? r->servers[i].srv : NULL;
}

void net_resolver_free(struct net_resolver *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		server_free(&r->servers[i]);
	free(r->servers);
	netstate_close(r->state);
	free(r->dir);
	free(r->only);
	free(r->upstream);
	free(r);
}
