/* dns: the node's small resolver — a DNS message codec (RFC 1035, A queries answered,
 * everything else forwarded or refused) and a UDP server that answers names from a
 * lookup callback (container and workload names of one VPC, round-robin over replicas,
 * under the "coop" search domain) and forwards the rest to the host's resolvers.
 * The codec is pure and fuzzed. */
#ifndef COOP_NET_DNS_H
#define COOP_NET_DNS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define DNS_MAX_MSG 512 /* UDP without EDNS */

struct dns_query {
	uint16_t id;
	uint16_t flags;
	char name[256];      /* lowercased, no trailing dot */
	uint16_t qtype, qclass;
	size_t question_end; /* offset after the question section */
};

/* Parses a query with exactly one question; malformed input (compression loops,
 * labels past the end, a response bit) is an error. */
int dns_parse_query(const uint8_t *msg, size_t len, struct dns_query *ret, struct err *err);
/* An answer to q with n A records (rcode NOERROR), or NXDOMAIN when n == 0. Writes
 * into out (cap bytes); truncates (TC bit) when the answers do not fit. */
int dns_build_answer(const uint8_t *query, const struct dns_query *q, const struct in_addr *addrs,
		     size_t n, uint32_t ttl, uint8_t *out, size_t cap, size_t *ret_len,
		     struct err *err);
/* An answer with only a response code (NOERROR=0 i.e. NODATA, FORMERR=1, SERVFAIL=2,
 * NXDOMAIN=3, NOTIMP=4, REFUSED=5; any 0..15) and the question echoed. q NULL: the
 * header alone (FORMERR for a query whose question does not parse); query must then
 * hold at least the 12-byte header. out may be query itself (built in place). */
int dns_build_rcode(const uint8_t *query, const struct dns_query *q, int rcode, uint8_t *out,
		    size_t cap, size_t *ret_len, struct err *err);

/* Returns how many addresses it wrote for name (0 = ours but unknown: NXDOMAIN), or
 * -ENOENT when name is not ours (forward it). name is lowercased, without the domain
 * suffix when it had one. */
typedef int (*dns_lookup_fn)(void *ctx, const char *name, struct in_addr *out, size_t max);

struct dns_server;

/* The IPv4 nameservers of a resolv.conf text (port 53), in order, at most max; IPv6
 * lines and garbage are skipped. Returns how many it wrote. */
size_t dns_resolv_conf_servers(const char *text, struct sockaddr_in *out, size_t max);

/* Binds UDP bind_ip:port (0 = 53). upstream NULL = the nameservers of
 * /etc/resolv.conf; otherwise "ip[:port]" (up to 3, comma-separated), "" = none (names
 * that are not ours get SERVFAIL). domain = "coop" (names "web.coop" and "web" both
 * resolve; NULL = "coop"). Names under the domain are never forwarded. Limits: 1024
 * forwarded queries in flight (the next gets SERVFAIL), each forgotten after 5 s. */
int dns_server_new(const char *bind_ip, uint16_t port, const char *domain, const char *upstream,
		   dns_lookup_fn lookup, void *ctx, struct dns_server **ret, struct err *err);
/* An epoll fd holding both of the server's sockets (the one clients query and the one
 * upstream replies arrive on): watch it for EPOLLIN/POLLIN, level-triggered, and call
 * dns_server_process when it is readable. Owned by the server; do not close it. */
int dns_server_fd(const struct dns_server *s);
/* Handles every datagram that is ready on both sockets (queries and forwarded replies),
 * at most 1024 per socket per call so a flood cannot starve the caller's loop (the fd
 * then stays readable); never blocks. */
void dns_server_process(struct dns_server *s);
void dns_server_free(struct dns_server *s);

#endif
