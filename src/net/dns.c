/* dns: the DNS message codec (one-question queries in; A answers and bare response codes
 * out) and the node's UDP resolver built on it: names of the lookup callback answered
 * here, the rest relayed to upstream resolvers under fresh ids. */
#include "net/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/util.h"

#define DNS_HDR_LEN 12
#define DNS_QR 0x8000
#define DNS_OPCODE 0x7800
#define DNS_AA 0x0400
#define DNS_TC 0x0200
#define DNS_RD 0x0100
#define DNS_RA 0x0080
#define DNS_TYPE_A 1
#define DNS_TYPE_ANY 255
#define DNS_CLASS_IN 1
#define DNS_CLASS_ANY 255
#define DNS_RR_A_LEN 16	    /* name pointer 2, type 2, class 2, ttl 4, rdlength 2, address 4 */
#define DNS_NAME_PTR 0xC00C /* the question's name, right after the header */

enum { DNS_NOERROR, DNS_FORMERR, DNS_SERVFAIL, DNS_NXDOMAIN, DNS_NOTIMP, DNS_REFUSED };

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* QNAME at *off into name (lowercased, dotted, no trailing dot). Queries are not
 * compressed (RFC 1035 4.1.4 only saves space in answers), so a pointer is refused
 * rather than followed: no loops to bound. NUL and '.' inside a label are refused too,
 * as they would make two different wire names read the same as a C string. */
static int parse_qname(const uint8_t *msg, size_t len, size_t *off, char name[256], struct err *err)
{
	size_t p = *off, wire = 0, n = 0;

	for (;;) {
		uint8_t l;

		if (p >= len)
			return err_msg(err, EBADMSG, "parse DNS query: name runs past the end");
		l = msg[p++];
		if ((l & 0xC0) == 0xC0)
			return err_msg(err, EBADMSG,
				       "parse DNS query: compression pointer in the question");
		if (l > 63)
			return err_msg(err, EBADMSG, "parse DNS query: label of %u bytes (max 63)",
				       l);
		wire += 1 + l;
		if (wire > 255 || (l > 0 && wire == 255)) /* the root label still follows */
			return err_msg(err, EBADMSG, "parse DNS query: name longer than 255 bytes");
		if (l == 0)
			break;
		if (l > len - p)
			return err_msg(err, EBADMSG, "parse DNS query: label runs past the end");
		if (n)
			name[n++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t c = msg[p + i];
			if (c == '\0' || c == '.')
				return err_msg(err, EBADMSG,
					       "parse DNS query: label holds a NUL or a dot");
			name[n++] = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
		}
		p += l;
	}
	name[n] = '\0';
	*off = p;
	return 0;
}

int dns_parse_query(const uint8_t *msg, size_t len, struct dns_query *ret, struct err *err)
{
	struct dns_query q = {0};
	size_t off = DNS_HDR_LEN;
	int r;

	if (len < DNS_HDR_LEN)
		return err_msg(err, EBADMSG, "parse DNS query: %zu bytes, shorter than the header",
			       len);
	q.id = get16(msg);
	q.flags = get16(msg + 2);
	if (q.flags & DNS_QR)
		return err_msg(err, EBADMSG, "parse DNS query: it is a response (QR set)");
	if (get16(msg + 4) != 1)
		return err_msg(err, EBADMSG, "parse DNS query: %u questions (want 1)",
			       get16(msg + 4));
	if (get16(msg + 6) || get16(msg + 8))
		return err_msg(err, EBADMSG, "parse DNS query: answer or authority records");
	/* additional records (an EDNS OPT) are allowed and ignored: replies carry none */
	r = parse_qname(msg, len, &off, q.name, err);
	if (r < 0)
		return r;
	if (len - off < 4)
		return err_msg(err, EBADMSG, "parse DNS query: question runs past the end");
	q.qtype = get16(msg + off);
	q.qclass = get16(msg + off + 2);
	q.question_end = off + 4;
	*ret = q;
	return 0;
}

/* Header and echoed question, shared by every reply; returns the length written. The
 * question is copied from the query as sent (case preserved, which resolvers using
 * 0x20 mixed case rely on). memmove: out may be the query buffer itself. */
static int build_head(const uint8_t *query, const struct dns_query *q, int rcode, uint8_t *out,
		      size_t cap, size_t *ret_len, struct err *err)
{
	uint16_t flags;

	if (rcode < 0 || rcode > 15)
		return err_msg(err, EINVAL, "build DNS reply: response code %d", rcode);
	if (q->question_end < DNS_HDR_LEN + 5 || q->question_end > DNS_HDR_LEN + 255 + 4)
		return err_msg(err, EINVAL, "build DNS reply: question ends at %zu",
			       q->question_end);
	if (cap < q->question_end)
		return err_msg(err, ENOBUFS, "build DNS reply: %zu bytes cannot hold the question",
			       cap);
	flags = DNS_QR | (q->flags & (DNS_OPCODE | DNS_RD)) | DNS_RA | rcode;
	/* authoritative for our zone: its answers and its NXDOMAIN, not our failures */
	if (rcode == DNS_NOERROR || rcode == DNS_NXDOMAIN)
		flags |= DNS_AA;
	memmove(out + DNS_HDR_LEN, query + DNS_HDR_LEN, q->question_end - DNS_HDR_LEN);
	put16(out, q->id);
	put16(out + 2, flags);
	put16(out + 4, 1);
	put16(out + 6, 0);
	put16(out + 8, 0);
	put16(out + 10, 0);
	*ret_len = q->question_end;
	return 0;
}

static bool wants_a(const struct dns_query *q)
{
	return (q->qtype == DNS_TYPE_A || q->qtype == DNS_TYPE_ANY) &&
	       (q->qclass == DNS_CLASS_IN || q->qclass == DNS_CLASS_ANY);
}

int dns_build_answer(const uint8_t *query, const struct dns_query *q, const struct in_addr *addrs,
		     size_t n, uint32_t ttl, uint8_t *out, size_t cap, size_t *ret_len,
		     struct err *err)
{
	size_t len, fit, k;
	int r;

	r = build_head(query, q, n ? DNS_NOERROR : DNS_NXDOMAIN, out, cap, &len, err);
	if (r < 0)
		return r;
	/* the name exists: other types get NOERROR with no answers (NODATA) */
	k = wants_a(q) ? n : 0;
	fit = (cap - len) / DNS_RR_A_LEN;
	if (k > fit) {
		k = fit;
		put16(out + 2, get16(out + 2) | DNS_TC);
	}
	for (size_t i = 0; i < k; i++, len += DNS_RR_A_LEN) {
		put16(out + len, DNS_NAME_PTR);
		put16(out + len + 2, DNS_TYPE_A);
		put16(out + len + 4, DNS_CLASS_IN);
		put32(out + len + 6, ttl);
		put16(out + len + 10, 4);
		memcpy(out + len + 12, &addrs[i].s_addr, 4); /* already network order */
	}
	put16(out + 6, k);
	*ret_len = len;
	return 0;
}

int dns_build_rcode(const uint8_t *query, const struct dns_query *q, int rcode, uint8_t *out,
		    size_t cap, size_t *ret_len, struct err *err)
{
	uint16_t flags;

	if (q)
		return build_head(query, q, rcode, out, cap, ret_len, err);
	if (rcode < 0 || rcode > 15)
		return err_msg(err, EINVAL, "build DNS reply: response code %d", rcode);
	if (cap < DNS_HDR_LEN)
		return err_msg(err, ENOBUFS, "build DNS reply: %zu bytes cannot hold the header",
			       cap);
	flags = DNS_QR | (get16(query + 2) & (DNS_OPCODE | DNS_RD)) | DNS_RA | rcode;
	memmove(out, query, 2);
	put16(out + 2, flags);
	memset(out + 4, 0, DNS_HDR_LEN - 4);
	*ret_len = DNS_HDR_LEN;
	return 0;
}

/* resolv.conf(5): "nameserver <address>" at the start of a line; the rest of the line
 * is ignored, as glibc does. */
size_t dns_resolv_conf_servers(const char *text, struct sockaddr_in *out, size_t max)
{
	size_t n = 0;

	for (const char *line = text; line && *line && n < max;) {
		const char *end = strchrnul(line, '\n');
		size_t len = end - line;
		char buf[256], addr[64];

		if (len < sizeof(buf)) {
			struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};

			memcpy(buf, line, len);
			buf[len] = '\0';
			if (sscanf(buf, "nameserver %63s", addr) == 1 &&
			    inet_pton(AF_INET, addr, &sa.sin_addr) == 1)
				out[n++] = sa;
		}
		line = *end ? end + 1 : end;
	}
	return n;
}

/* --- server --- */

#define DNS_UPSTREAM_MAX 3 /* MAXNS of resolv.conf */
#define DNS_PENDING_MAX 1024
#define DNS_PENDING_MS 5000
#define DNS_LOOKUP_MAX 16
#define DNS_LOCAL_TTL 5 /* short: replicas come and go */
#define DNS_DRAIN_MAX 1024

/* A forwarded query waiting for its upstream reply; expiry 0 = free. */
struct dns_pending {
	uint64_t expiry_ms;
	uint64_t qhash; /* of the question as sent: a reply must echo it */
	struct sockaddr_in client;
	uint16_t id, client_id, qlen;
	uint8_t upstream;
};

struct dns_server {
	int fd, fwd_fd, epfd;
	char domain[254];
	size_t domain_len;
	dns_lookup_fn lookup;
	void *ctx;
	struct sockaddr_in bound;
	struct sockaddr_in upstreams[DNS_UPSTREAM_MAX];
	size_t n_upstreams, next_upstream;
	unsigned rr; /* round-robin counter over replicas */
	struct dns_pending pending[DNS_PENDING_MAX];
	uint8_t buf[65536]; /* one UDP datagram, however large */
	uint8_t out[DNS_MAX_MSG];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

static bool sin_eq(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

static void send_to(int fd, const uint8_t *msg, size_t len, const struct sockaddr_in *to)
{
	/* never blocks: a full socket buffer drops the datagram and the client retries */
	if (sendto(fd, msg, len, MSG_DONTWAIT, (const struct sockaddr *)to, sizeof(*to)) < 0)
		log_debug("dns: send to %s:%u: %s", inet_ntoa(to->sin_addr), ntohs(to->sin_port),
			  strerror(errno));
}

static void reply_rcode(struct dns_server *s, const uint8_t *query, const struct dns_query *q,
			int rcode, const struct sockaddr_in *to)
{
	struct err err = {0};
	size_t len;

	if (dns_build_rcode(query, q, rcode, s->out, sizeof(s->out), &len, &err) < 0) {
		log_debug("dns: %s", err.msg);
		return;
	}
	send_to(s->fd, s->out, len, to);
}

/* Rotates the replicas by a per-server counter, so consecutive queries start at
 * different ones (clients mostly take the first address). */
static void reply_addrs(struct dns_server *s, const uint8_t *query, const struct dns_query *q,
			const struct in_addr *addrs, size_t n, const struct sockaddr_in *to)
{
	struct in_addr rot[DNS_LOOKUP_MAX];
	size_t start = n ? s->rr++ % n : 0, len;
	struct err err = {0};

	for (size_t i = 0; i < n; i++)
		rot[i] = addrs[(start + i) % n];
	if (dns_build_answer(query, q, rot, n, DNS_LOCAL_TTL, s->out, sizeof(s->out), &len, &err) <
	    0) {
		log_debug("dns: %s", err.msg);
		return;
	}
	send_to(s->fd, s->out, len, to);
}

/* A free (or expired) slot and a random id no live entry uses; random ids because the
 * forward socket's port is fixed and the id is then what a spoofed reply must guess. */
static struct dns_pending *pending_new(struct dns_server *s, uint64_t now)
{
	struct dns_pending *slot = NULL;
	uint16_t id;
	bool taken;

	for (size_t i = 0; i < DNS_PENDING_MAX && !slot; i++)
		if (s->pending[i].expiry_ms <= now)
			slot = &s->pending[i];
	if (!slot)
		return NULL;
	do {
		id = arc4random() & 0xffff;
		taken = false;
		for (size_t i = 0; i < DNS_PENDING_MAX && !taken; i++)
			taken = s->pending[i].expiry_ms > now && s->pending[i].id == id;
	} while (taken);
	slot->id = id;
	return slot;
}

static void forward(struct dns_server *s, uint8_t *msg, size_t len, const struct dns_query *q,
		    const struct sockaddr_in *from)
{
	uint64_t now = now_ms();
	struct dns_pending *p;
	size_t up;

	if (s->n_upstreams == 0) {
		reply_rcode(s, msg, q, DNS_SERVFAIL, from);
		return;
	}
	p = pending_new(s, now);
	if (!p) {
		log_debug("dns: %d forwarded queries in flight; refusing '%s'", DNS_PENDING_MAX,
			  q->name);
		reply_rcode(s, msg, q, DNS_SERVFAIL, from);
		return;
	}
	up = s->next_upstream++ % s->n_upstreams;
	p->client = *from;
	p->client_id = q->id;
	p->upstream = up;
	p->qlen = q->question_end - DNS_HDR_LEN;
	p->qhash = fnv1a(msg + DNS_HDR_LEN, p->qlen);
	put16(msg, p->id);
	if (sendto(s->fwd_fd, msg, len, MSG_DONTWAIT, (struct sockaddr *)&s->upstreams[up],
		   sizeof(s->upstreams[up])) < 0) {
		log_debug("dns: forward '%s': %s", q->name, strerror(errno));
		put16(msg, q->id);
		reply_rcode(s, msg, q, DNS_SERVFAIL, from);
		return;
	}
	p->expiry_ms = now + DNS_PENDING_MS;
}

/* name without ".<domain>" into local; true when the name is under (or is) the domain. */
static bool strip_domain(const struct dns_server *s, const char *name, char local[256], bool *apex)
{
	size_t n = strlen(name);

	*apex = streq(name, s->domain);
	if (n > s->domain_len && name[n - s->domain_len - 1] == '.' &&
	    streq(name + n - s->domain_len, s->domain)) {
		memcpy(local, name, n - s->domain_len - 1);
		local[n - s->domain_len - 1] = '\0';
		return true;
	}
	memcpy(local, name, n + 1);
	return *apex;
}

enum { DNS_ACT_FORWARD = -1, DNS_ACT_ANSWER = -2 };

/* What a query gets: a response code (>= 0), DNS_ACT_FORWARD, or DNS_ACT_ANSWER with
 * *ret_n addresses of ours in addrs. Names under the domain are never forwarded. */
static int decide(struct dns_server *s, const struct dns_query *q, struct in_addr *addrs,
		  size_t *ret_n)
{
	char local[256];
	bool apex, ours = strip_domain(s, q->name, local, &apex);
	int n;

	if (q->flags & DNS_OPCODE)
		return DNS_NOTIMP;
	if (apex)
		return DNS_NOERROR; /* the zone exists and has no A record: NODATA */
	if (q->qclass != DNS_CLASS_IN && q->qclass != DNS_CLASS_ANY)
		return ours ? DNS_REFUSED : DNS_ACT_FORWARD;
	if (local[0] == '\0')
		return DNS_ACT_FORWARD; /* the root */
	n = s->lookup(s->ctx, local, addrs, DNS_LOOKUP_MAX);
	if (n == -ENOENT)
		return ours ? DNS_NXDOMAIN : DNS_ACT_FORWARD;
	if (n < 0) {
		log_debug("dns: lookup '%s': %s", local, strerror(-n));
		return DNS_SERVFAIL;
	}
	*ret_n = n > DNS_LOOKUP_MAX ? DNS_LOOKUP_MAX : n;
	return DNS_ACT_ANSWER;
}

static void handle_query(struct dns_server *s, size_t len, const struct sockaddr_in *from)
{
	struct in_addr addrs[DNS_LOOKUP_MAX];
	struct err err = {0};
	struct dns_query q;
	size_t n = 0;
	int act;

	/* responses are never answered: two servers would answer each other forever */
	if (len < DNS_HDR_LEN || (get16(s->buf + 2) & DNS_QR))
		return;
	if (dns_parse_query(s->buf, len, &q, &err) < 0) {
		log_debug("dns: from %s: %s", inet_ntoa(from->sin_addr), err.msg);
		reply_rcode(s, s->buf, NULL, DNS_FORMERR, from);
		return;
	}
	act = decide(s, &q, addrs, &n);
	if (act == DNS_ACT_FORWARD)
		forward(s, s->buf, len, &q, from);
	else if (act == DNS_ACT_ANSWER)
		reply_addrs(s, s->buf, &q, addrs, n, from);
	else
		reply_rcode(s, s->buf, &q, act, from);
}

/* An upstream reply: relayed only when it comes from the upstream asked, carries a live
 * id and echoes the question that was sent. */
static void handle_reply(struct dns_server *s, size_t len, const struct sockaddr_in *from)
{
	uint64_t now = now_ms();
	uint16_t id;

	if (len < DNS_HDR_LEN || !(get16(s->buf + 2) & DNS_QR) || get16(s->buf + 4) != 1)
		return;
	id = get16(s->buf);
	for (size_t i = 0; i < DNS_PENDING_MAX; i++) {
		struct dns_pending *p = &s->pending[i];

		if (p->expiry_ms <= now || p->id != id ||
		    !sin_eq(from, &s->upstreams[p->upstream]) ||
		    len < DNS_HDR_LEN + (size_t)p->qlen ||
		    fnv1a(s->buf + DNS_HDR_LEN, p->qlen) != p->qhash)
			continue;
		put16(s->buf, p->client_id);
		send_to(s->fd, s->buf, len, &p->client);
		p->expiry_ms = 0;
		return;
	}
	log_debug("dns: dropped an unexpected reply from %s", inet_ntoa(from->sin_addr));
}

static void drain(struct dns_server *s, int fd,
		  void (*handle)(struct dns_server *, size_t, const struct sockaddr_in *))
{
	for (int i = 0; i < DNS_DRAIN_MAX; i++) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(fd, s->buf, sizeof(s->buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fromlen);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_debug("dns: receive: %s", strerror(errno));
			return;
		}
		if (fromlen == sizeof(from) && from.sin_family == AF_INET)
			handle(s, n, &from);
	}
}

void dns_server_process(struct dns_server *s)
{
	drain(s, s->fd, handle_query);
	drain(s, s->fwd_fd, handle_reply);
}

int dns_server_fd(const struct dns_server *s)
{
	return s->epfd;
}

void dns_server_free(struct dns_server *s)
{
	if (!s)
		return;
	closep(&s->epfd);
	closep(&s->fwd_fd);
	closep(&s->fd);
	free(s);
}

static void dns_server_freep(struct dns_server **s)
{
	dns_server_free(*s);
}

/* "ip[:port]" entries separated by commas or spaces. */
static int parse_upstreams(struct dns_server *s, const char *spec, struct err *err)
{
	_cleanup_free_ char *copy = xstrdup(spec);
	char *save = NULL;

	for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
		char *colon = strchr(tok, ':'), *end;

		if (s->n_upstreams == DNS_UPSTREAM_MAX)
			return err_msg(err, EINVAL, "DNS upstream '%s': more than %d upstreams",
				       spec, DNS_UPSTREAM_MAX);
		if (colon) {
			unsigned long port;

			*colon = '\0';
			errno = 0;
			port = strtoul(colon + 1, &end, 10);
			if (errno || *end || end == colon + 1 || port == 0 || port > 65535)
				return err_msg(err, EINVAL, "DNS upstream '%s': bad port", spec);
			sa.sin_port = htons(port);
		}
		if (inet_pton(AF_INET, tok, &sa.sin_addr) != 1)
			return err_msg(err, EINVAL,
				       "DNS upstream '%s': '%s' is not an IPv4 address", spec, tok);
		s->upstreams[s->n_upstreams++] = sa;
	}
	return 0;
}

static void read_resolv_conf(struct dns_server *s)
{
	_cleanup_free_ char *text = NULL;
	struct err err = {0};

	if (fs_read("/etc/resolv.conf", &text, &err) < 0) {
		log_warn("dns: no upstream resolvers: %s", err.msg);
		return;
	}
	s->n_upstreams = dns_resolv_conf_servers(text, s->upstreams, DNS_UPSTREAM_MAX);
}

/* Drops upstreams that are this server itself, which would forward in a loop. */
static void drop_self(struct dns_server *s)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n_upstreams; i++) {
		struct sockaddr_in *u = &s->upstreams[i];
		bool self = u->sin_port == s->bound.sin_port &&
			    (u->sin_addr.s_addr == s->bound.sin_addr.s_addr ||
			     (s->bound.sin_addr.s_addr == htonl(INADDR_ANY) &&
			      (ntohl(u->sin_addr.s_addr) >> 24) == 127));
		if (self)
			log_warn("dns: upstream %s is this server; skipped",
				 inet_ntoa(u->sin_addr));
		else
			s->upstreams[k++] = *u;
	}
	s->n_upstreams = k;
}

static int open_socket(const struct sockaddr_in *bind_to, struct err *err)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return err_sys(err, errno, "create DNS socket");
	if (!bind_to)
		return take_fd(fd);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return err_sys(err, errno, "set SO_REUSEADDR on the DNS socket");
	if (bind(fd, (const struct sockaddr *)bind_to, sizeof(*bind_to)) < 0)
		return err_sys(err, errno, "bind DNS server to %s:%u", inet_ntoa(bind_to->sin_addr),
			       ntohs(bind_to->sin_port));
	return take_fd(fd);
}

static int watch(int epfd, int fd, struct err *err)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return err_sys(err, errno, "watch DNS socket");
	return 0;
}

int dns_server_new(const char *bind_ip, uint16_t port, const char *domain, const char *upstream,
		   dns_lookup_fn lookup, void *ctx, struct dns_server **ret, struct err *err)
{
	_cleanup_(dns_server_freep) struct dns_server *s = NULL;
	int r;

	if (!domain)
		domain = "coop";
	if (!bind_ip || !lookup || !*domain || strlen(domain) >= sizeof(s->domain) ||
	    domain[0] == '.' || domain[strlen(domain) - 1] == '.')
		return err_msg(err, EINVAL, "create DNS server: bad arguments (domain '%s')",
			       domain);
	s = xcalloc(1, sizeof(*s));
	s->fd = s->fwd_fd = s->epfd = -1;
	for (size_t i = 0; domain[i]; i++)
		s->domain[i] = (domain[i] >= 'A' && domain[i] <= 'Z') ? domain[i] + 32 : domain[i];
	s->domain_len = strlen(s->domain);
	s->lookup = lookup;
	s->ctx = ctx;
	s->bound.sin_family = AF_INET;
	s->bound.sin_port = htons(port ? port : 53);
	if (inet_pton(AF_INET, bind_ip, &s->bound.sin_addr) != 1)
		return err_msg(err, EINVAL, "create DNS server: '%s' is not an IPv4 address",
			       bind_ip);
	if (upstream) {
		r = parse_upstreams(s, upstream, err);
		if (r < 0)
			return r;
	} else {
		read_resolv_conf(s);
	}
	drop_self(s);

	s->fd = open_socket(&s->bound, err);
	if (s->fd < 0)
		return s->fd;
	s->fwd_fd = open_socket(NULL, err);
	if (s->fwd_fd < 0)
		return s->fwd_fd;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return err_sys(err, errno, "create DNS server epoll");
	r = watch(s->epfd, s->fd, err);
	if (r == 0)
		r = watch(s->epfd, s->fwd_fd, err);
	if (r < 0)
		return r;
	log_debug("dns: serving %s:%u for '%s', %zu upstreams", bind_ip, port ? port : 53,
		  s->domain, s->n_upstreams);
	*ret = take_ptr(s);
	return 0;
}
