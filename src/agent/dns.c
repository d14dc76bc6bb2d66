/* dns: the daemon hosts the node's resolver (net/resolver: one DNS server per VPC
 * with containers, on its gateway) on the agent's loop — a timer follows the network
 * state, a uv_poll per server answers queries. */
#include "agent/dns.h"

#include "agent/priv.h"
#include "base/log.h"
#include "base/util.h"
#include "net/resolver.h"

#define DNS_TICK_MS 1000
#define DNS_RETRY_TICKS 10 /* a failed bind (bridge not up yet) is retried this often */

struct ag_dns {
	struct net_resolver *r;
	uv_timer_t *timer;
	uv_poll_t **polls;
	size_t n;
	unsigned tick;
};

static void free_handle(uv_handle_t *h) { free(h); }

static void on_query(uv_poll_t *p, int status, int events)
{
	if (status == 0)
		dns_server_process(p->data);
}

/* The servers' fds are closed by a refresh that stops them: the watchers leave the
 * loop first (uv_poll_stop deregisters at once), and come back on what is there. */
static void polls_stop(struct ag_dns *d)
{
	for (size_t i = 0; i < d->n; i++)
		uv_poll_stop(d->polls[i]);
}

static void polls_close(struct ag_dns *d)
{
	for (size_t i = 0; i < d->n; i++)
		uv_close((uv_handle_t *)d->polls[i], free_handle);
	free(d->polls);
	d->polls = NULL;
	d->n = 0;
}

static void polls_start(struct agent *a, struct ag_dns *d, bool rebuild)
{
	if (rebuild) {
		polls_close(d);
		d->n = net_resolver_count(d->r);
		d->polls = xcalloc(d->n + 1, sizeof(*d->polls));
		for (size_t i = 0; i < d->n; i++) {
			struct dns_server *s = net_resolver_server(d->r, i);
			d->polls[i] = xcalloc(1, sizeof(*d->polls[i]));
			uv_poll_init(a->loop, d->polls[i], dns_server_fd(s));
			d->polls[i]->data = s;
		}
	}
	for (size_t i = 0; i < d->n; i++)
		uv_poll_start(d->polls[i], UV_READABLE, on_query);
}

void ag_dns_refresh(struct agent *a, bool force)
{
	struct ag_dns *d = a->dns;

	if (!d)
		return;
	polls_stop(d);
	polls_start(a, d, net_resolver_refresh(d->r, force));
}

static void on_tick(uv_timer_t *t)
{
	struct agent *a = t->data;

	ag_dns_refresh(a, a->dns->tick++ % DNS_RETRY_TICKS == 0);
}

int ag_dns_start(struct agent *a, struct err *err)
{
	struct ag_dns *d = xcalloc(1, sizeof(*d));
	int r;

	if ((r = net_resolver_new(a->net_dir, NULL, NULL, 0, &d->r, err)) < 0) {
		free(d);
		return r;
	}
	d->timer = xcalloc(1, sizeof(*d->timer));
	uv_timer_init(a->loop, d->timer);
	d->timer->data = a;
	uv_unref((uv_handle_t *)d->timer); /* the resolver alone does not keep the loop up */
	uv_timer_start(d->timer, on_tick, 0, DNS_TICK_MS);
	a->dns = d;
	return 0;
}

void ag_dns_stop(struct agent *a)
{
	struct ag_dns *d = a->dns;

	if (!d)
		return;
	polls_stop(d);
	polls_close(d);
	uv_close((uv_handle_t *)d->timer, free_handle);
	net_resolver_free(d->r);
	free(d);
	a->dns = NULL;
}
