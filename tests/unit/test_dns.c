/* Unit tests for net/dns: the codec on hand-built packets (queries good and malformed,
 * answers of 0/1/3/100 addresses, response codes), resolv.conf parsing, and the server
 * end to end on 127.0.0.1 with raw UDP: local answers rotating over replicas, NXDOMAIN,
 * NODATA, FORMERR, forwarding through a fake upstream, the in-flight limit, a rate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "net/dns.h"

#define QR 0x80 /* in byte 2 */
#define AA 0x04
#define TC 0x02
#define RD 0x01
#define RA 0x80 /* in byte 3 */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* A one-question query for name (dotted) and qtype; edns adds an OPT record. */
static size_t mkquery(uint8_t *b, uint16_t id, const char *name, uint16_t qtype, int edns)
{
	size_t n = 12;

	memset(b, 0, 12);
	b[0] = id >> 8, b[1] = id & 0xff;
	b[2] = RD;
	b[5] = 1;
	b[11] = edns ? 1 : 0;
	for (const char *p = name; *p;) {
		size_t l = strcspn(p, ".");
		b[n++] = l;
		memcpy(b + n, p, l);
		n += l;
		p += l + (p[l] == '.');
	}
	b[n++] = 0;
	b[n++] = qtype >> 8, b[n++] = qtype & 0xff;
	b[n++] = 0, b[n++] = 1;
	if (edns) {
		static const uint8_t opt[] = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0};
		memcpy(b + n, opt, sizeof(opt));
		n += sizeof(opt);
	}
	return n;
}

/* --- codec --- */

static void test_parse_a(void **state)
{
	uint8_t b[512];
	size_t n = mkquery(b, 0xbeef, "WeB.CoOp", 1, 0);
	struct dns_query q;
	struct err err = {0};

	assert_int_equal(dns_parse_query(b, n, &q, &err), 0);
	assert_int_equal(q.id, 0xbeef);
	assert_int_equal(q.flags, 0x0100);
	assert_string_equal(q.name, "web.coop");
	assert_int_equal(q.qtype, 1);
	assert_int_equal(q.qclass, 1);
	assert_int_equal(q.question_end, 12 + 10 + 4);
	assert_int_equal(q.question_end, n);
}

static void test_parse_edns(void **state)
{
	uint8_t b[512];
	size_t n = mkquery(b, 7, "example.com", 28, 1);
	struct dns_query q;
	struct err err = {0};

	assert_int_equal(dns_parse_query(b, n, &q, &err), 0);
	assert_string_equal(q.name, "example.com");
	assert_int_equal(q.qtype, 28);
	assert_int_equal(q.question_end, n - 11);
}

static void test_parse_root(void **state)
{
	uint8_t b[64];
	size_t n = mkquery(b, 1, "", 2, 0);
	struct dns_query q;
	struct err err = {0};

	assert_int_equal(dns_parse_query(b, n, &q, &err), 0);
	assert_string_equal(q.name, "");
	assert_int_equal(q.question_end, 17);
}

static void expect_bad(const uint8_t *b, size_t n, const char *what)
{
	struct dns_query q = {.id = 42};
	struct err err = {0};

	assert_int_equal(dns_parse_query(b, n, &q, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, what));
	assert_int_equal(q.id, 42); /* untouched on failure */
}

static void test_parse_long_names(void **state)
{
	char name[400], l63[64], l64[65];
	uint8_t b[600];
	struct dns_query q;
	struct err err = {0};

	memset(l63, 'a', 63), l63[63] = '\0';
	memset(l64, 'b', 64), l64[64] = '\0';
	snprintf(name, sizeof(name), "%s.coop", l64);
	expect_bad(b, mkquery(b, 1, name, 1, 0), "label of 64 bytes");

	/* 3 x 63 + 61: 255 bytes on the wire with the root, the most there is */
	snprintf(name, sizeof(name), "%s.%s.%s.%.61s", l63, l63, l63, l63);
	assert_int_equal(dns_parse_query(b, mkquery(b, 1, name, 1, 0), &q, &err), 0);
	assert_int_equal(strlen(q.name), 253);
	snprintf(name, sizeof(name), "%s.%s.%s.%.62s", l63, l63, l63, l63);
	expect_bad(b, mkquery(b, 1, name, 1, 0), "longer than 255");
	snprintf(name, sizeof(name), "%s.%s.%s.%s.%s", l63, l63, l63, l63, l63);
	expect_bad(b, mkquery(b, 1, name, 1, 0), "longer than 255");
}

static void test_parse_truncated(void **state)
{
	uint8_t b[512];
	size_t n = mkquery(b, 1, "web.coop", 1, 0);

	expect_bad(b, 0, "shorter than the header");
	expect_bad(b, 11, "shorter than the header");
	expect_bad(b, 12, "name runs past the end");
	expect_bad(b, 15, "label runs past the end");
	expect_bad(b, n - 4, "question runs past the end");
	expect_bad(b, n - 1, "question runs past the end");
}

static void test_parse_rejects(void **state)
{
	uint8_t b[512];
	size_t n = mkquery(b, 1, "web.coop", 1, 0);

	b[2] |= QR;
	expect_bad(b, n, "response");
	b[2] &= ~QR;

	b[5] = 2;
	expect_bad(b, n, "2 questions");
	b[5] = 0;
	expect_bad(b, n, "0 questions");
	b[5] = 1;
	b[7] = 1;
	expect_bad(b, n, "answer or authority");
	b[7] = 0;
	b[9] = 1;
	expect_bad(b, n, "answer or authority");
	b[9] = 0;

	/* "web" then a pointer back to offset 12 (a loop, were it followed) */
	b[16] = 0xC0, b[17] = 12;
	expect_bad(b, n, "compression pointer");
	n = mkquery(b, 1, "web.coop", 1, 0);
	b[16] = 0x40; /* extended label type */
	expect_bad(b, n, "label of 64 bytes");

	n = mkquery(b, 1, "we.coop", 1, 0);
	b[14] = '\0';
	expect_bad(b, n, "NUL or a dot");
	b[14] = '.';
	expect_bad(b, n, "NUL or a dot");
}

static void parse(const uint8_t *b, size_t n, struct dns_query *q)
{
	struct err err = {0};
	assert_int_equal(dns_parse_query(b, n, q, &err), 0);
}

static const struct in_addr *addrs(size_t n)
{
	static struct in_addr a[100];
	for (size_t i = 0; i < n; i++)
		a[i].s_addr = htonl(0x0a000001 + i);
	return a;
}

static void test_build_answers(void **state)
{
	uint8_t b[512], out[512];
	size_t n = mkquery(b, 0x1234, "Web.coop", 1, 1), len;
	struct dns_query q;
	struct err err = {0};
	static const uint8_t rr[] = {0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 1};

	parse(b, n, &q);
	/* 0: NXDOMAIN, question echoed as sent (case kept), no OPT */
	assert_int_equal(dns_build_answer(b, &q, addrs(0), 0, 30, out, 512, &len, &err), 0);
	assert_int_equal(len, q.question_end);
	assert_int_equal(get16(out), 0x1234);
	assert_int_equal(out[2], QR | AA | RD);
	assert_int_equal(out[3], RA | 3);
	assert_int_equal(get16(out + 4), 1);
	assert_int_equal(get16(out + 6), 0);
	assert_int_equal(get16(out + 10), 0);
	assert_memory_equal(out + 12, b + 12, q.question_end - 12);

	/* 1: exact bytes of the record */
	assert_int_equal(dns_build_answer(b, &q, addrs(1), 1, 30, out, 512, &len, &err), 0);
	assert_int_equal(len, q.question_end + 16);
	assert_int_equal(out[3], RA);
	assert_int_equal(get16(out + 6), 1);
	assert_memory_equal(out + q.question_end, rr, sizeof(rr));

	/* 3 */
	assert_int_equal(dns_build_answer(b, &q, addrs(3), 3, 30, out, 512, &len, &err), 0);
	assert_int_equal(len, q.question_end + 48);
	assert_int_equal(get16(out + 6), 3);
	assert_int_equal(out[2] & TC, 0);
	assert_int_equal(out[q.question_end + 32 + 15], 3);

	/* 100 do not fit in 512: TC, and as many as fit */
	assert_int_equal(dns_build_answer(b, &q, addrs(100), 100, 30, out, 512, &len, &err), 0);
	assert_int_equal(get16(out + 6), (512 - q.question_end) / 16);
	assert_int_equal(len, q.question_end + 16 * ((512 - q.question_end) / 16));
	assert_true(len <= 512);
	assert_int_equal(out[2], QR | AA | TC | RD);

	/* no room for any: TC with none */
	assert_int_equal(
	    dns_build_answer(b, &q, addrs(1), 1, 30, out, q.question_end + 15, &len, &err), 0);
	assert_int_equal(get16(out + 6), 0);
	assert_true(out[2] & TC);

	/* not even the question */
	assert_int_equal(dns_build_answer(b, &q, addrs(1), 1, 30, out, 20, &len, &err), -ENOBUFS);
}

static void test_build_nodata(void **state)
{
	uint8_t b[512], out[512];
	size_t n = mkquery(b, 9, "web.coop", 28 /* AAAA */, 0), len;
	struct dns_query q;
	struct err err = {0};

	parse(b, n, &q);
	assert_int_equal(dns_build_answer(b, &q, addrs(3), 3, 30, out, 512, &len, &err), 0);
	assert_int_equal(out[3] & 0xf, 0);
	assert_int_equal(get16(out + 6), 0);
	assert_int_equal(len, n);

	/* in place: out is the query buffer */
	n = mkquery(b, 9, "web.coop", 1, 0);
	parse(b, n, &q);
	assert_int_equal(dns_build_answer(b, &q, addrs(2), 2, 30, b, 512, &len, &err), 0);
	assert_int_equal(get16(b + 6), 2);
	assert_int_equal(b[2], QR | AA | RD);
}

static void test_build_rcode(void **state)
{
	uint8_t b[512], out[512];
	size_t n = mkquery(b, 0x4242, "x.example", 1, 0), len;
	struct dns_query q;
	struct err err = {0};
	static const int codes[] = {2, 3, 5};

	parse(b, n, &q);
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		assert_int_equal(dns_build_rcode(b, &q, codes[i], out, 512, &len, &err), 0);
		assert_int_equal(len, n);
		assert_int_equal(get16(out), 0x4242);
		assert_int_equal(out[3], RA | codes[i]);
		assert_int_equal(out[2] & AA, codes[i] == 3 ? AA : 0);
		assert_int_equal(get16(out + 4), 1);
		assert_int_equal(get16(out + 6), 0);
	}
	assert_int_equal(dns_build_rcode(b, &q, 16, out, 512, &len, &err), -EINVAL);
	assert_int_equal(dns_build_rcode(b, &q, 2, out, 10, &len, &err), -ENOBUFS);

	/* header only: FORMERR for a question that did not parse */
	b[16] = 0xC0;
	assert_int_equal(dns_build_rcode(b, NULL, 1, out, 512, &len, &err), 0);
	assert_int_equal(len, 12);
	assert_int_equal(get16(out), 0x4242);
	assert_int_equal(out[2], QR | RD);
	assert_int_equal(out[3], RA | 1);
	assert_int_equal(get16(out + 4), 0);
}

static void test_resolv_conf(void **state)
{
	struct sockaddr_in sa[3];
	const char *text = "# generated\nsearch coop\n"
			   "nameserver 10.0.0.2\n\n"
			   "nameserver ::1\n"
			   "  nameserver 10.0.0.9\n" /* not at the start of the line */
			   "nameserver 1.1.1.1 # comment\n"
			   "nameserver bogus\n"
			   "nameserver 8.8.8.8\n"
			   "nameserver 9.9.9.9";

	assert_int_equal(dns_resolv_conf_servers(text, sa, 3), 3);
	assert_int_equal(ntohl(sa[0].sin_addr.s_addr), 0x0a000002);
	assert_int_equal(ntohl(sa[1].sin_addr.s_addr), 0x01010101);
	assert_int_equal(ntohl(sa[2].sin_addr.s_addr), 0x08080808);
	assert_int_equal(ntohs(sa[2].sin_port), 53);
	assert_int_equal(dns_resolv_conf_servers("nameserver 9.9.9.9", sa, 1), 1);
	assert_int_equal(dns_resolv_conf_servers("", sa, 3), 0);
}

static void test_server_bad_args(void **state)
{
	struct dns_server *s = NULL;
	struct err err = {0};

	assert_int_equal(dns_server_new("::1", 5353, "coop", "", NULL, NULL, &s, &err), -EINVAL);
	assert_int_equal(dns_server_new("127.0.0.1", 5353, "coop", "1.2.3.4:0", (dns_lookup_fn)1,
					NULL, &s, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "bad port"));
	assert_int_equal(dns_server_new("127.0.0.1", 5353, "coop",
					"1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4", (dns_lookup_fn)1, NULL,
					&s, &err),
			 -EINVAL);
	assert_int_equal(dns_server_new("127.0.0.1", 5353, "coop", "example.com", (dns_lookup_fn)1,
					NULL, &s, &err),
			 -EINVAL);
	assert_null(s);
}

/* --- server, end to end --- */

struct fixture {
	struct dns_server *srv;
	struct sockaddr_in addr; /* the server's */
	int client;
	int upstream; /* fake upstream, -1 when none */
	int lookups;
};

static int lookup(void *ctx, const char *name, struct in_addr *out, size_t max)
{
	struct fixture *f = ctx;

	f->lookups++;
	if (streq(name, "web")) {
		for (size_t i = 0; i < 3 && i < max; i++)
			out[i].s_addr = htonl(0x0a000001 + i);
		return 3;
	}
	if (streq(name, "db"))
		return 0;
	if (streq(name, "broken"))
		return -EIO;
	return -ENOENT;
}

static int udp_socket(struct sockaddr_in *ret)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	if (ret)
		*ret = sa;
	return fd;
}

static void fixture_start(struct fixture *f, int with_upstream)
{
	struct sockaddr_in up;
	char spec[64] = "";
	struct err err = {0};
	int r = -1;

	memset(f, 0, sizeof(*f));
	f->upstream = -1;
	if (with_upstream) {
		f->upstream = udp_socket(&up);
		snprintf(spec, sizeof(spec), "127.0.0.1:%u", ntohs(up.sin_port));
	}
	/* a free port: the kernel's pick, released just before the server binds it */
	for (int tries = 0; tries < 10 && r < 0; tries++) {
		int fd = udp_socket(&f->addr);
		close(fd);
		r = dns_server_new("127.0.0.1", ntohs(f->addr.sin_port), "coop", spec, lookup, f,
				   &f->srv, &err);
	}
	if (r < 0)
		fail_msg("%s", err.msg);
	f->client = udp_socket(NULL);
}

static void fixture_stop(struct fixture *f)
{
	dns_server_free(f->srv);
	close(f->client);
	if (f->upstream >= 0)
		close(f->upstream);
}

static int readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, ms) == 1;
}

/* Waits (1 s at most) for the server's fd, as an event loop would, and processes. */
static void serve(struct fixture *f)
{
	assert_true(readable(dns_server_fd(f->srv), 1000));
	dns_server_process(f->srv);
}

static ssize_t recv_reply(int fd, uint8_t *buf, size_t cap, int ms)
{
	if (!readable(fd, ms))
		return -1;
	return recv(fd, buf, cap, MSG_DONTWAIT);
}

static void ask(struct fixture *f, const uint8_t *q, size_t n)
{
	assert_int_equal(sendto(f->client, q, n, 0, (struct sockaddr *)&f->addr, sizeof(f->addr)),
			 n);
}

/* One query answered locally; the reply in r, its length returned. */
static size_t query(struct fixture *f, uint16_t id, const char *name, uint16_t qtype, uint8_t *r)
{
	uint8_t b[512];
	size_t n = mkquery(b, id, name, qtype, 0);
	ssize_t len;

	ask(f, b, n);
	serve(f);
	len = recv_reply(f->client, r, 512, 1000);
	assert_true(len >= 12);
	assert_int_equal(get16(r), id);
	assert_true(r[2] & QR);
	return len;
}

static void test_server_round_robin(void **state)
{
	struct fixture f;
	uint8_t r[512];
	uint8_t first[6];
	size_t len;

	fixture_start(&f, 0);
	for (int i = 0; i < 6; i++) {
		len = query(&f, 100 + i, i % 2 ? "web" : "WEB.coop", 1, r);
		assert_int_equal(r[3] & 0xf, 0);
		assert_true(r[2] & AA);
		assert_int_equal(get16(r + 6), 3);
		assert_int_equal(len, 12 + (i % 2 ? 5 : 10) + 4 + 48);
		first[i] = r[len - 48 + 15]; /* last octet of the first answer */
	}
	/* consecutive queries start at the next replica */
	for (int i = 1; i < 6; i++)
		assert_int_equal(first[i], (first[i - 1] % 3) + 1);
	assert_int_equal(f.lookups, 6);
	fixture_stop(&f);
}

static void test_server_local_codes(void **state)
{
	struct fixture f;
	uint8_t r[512];

	fixture_start(&f, 0);
	query(&f, 1, "db.coop", 1, r); /* ours, no replicas */
	assert_int_equal(r[3] & 0xf, 3);
	assert_true(r[2] & AA);
	query(&f, 2, "nothere.coop", 1, r); /* ours per suffix, unknown: never forwarded */
	assert_int_equal(r[3] & 0xf, 3);
	query(&f, 3, "web.coop", 28, r); /* AAAA of a name that exists: NODATA */
	assert_int_equal(r[3] & 0xf, 0);
	assert_int_equal(get16(r + 6), 0);
	query(&f, 4, "coop", 1, r); /* the apex */
	assert_int_equal(r[3] & 0xf, 0);
	assert_int_equal(get16(r + 6), 0);
	query(&f, 5, "broken", 1, r); /* the lookup failed */
	assert_int_equal(r[3] & 0xf, 2);
	query(&f, 6, "example.com", 1, r); /* not ours, no upstream */
	assert_int_equal(r[3] & 0xf, 2);
	fixture_stop(&f);
}

static void test_server_malformed(void **state)
{
	struct fixture f;
	uint8_t b[512], r[512];
	size_t n;

	fixture_start(&f, 0);
	n = mkquery(b, 0x5150, "web.coop", 1, 0);
	b[16] = 0xC0, b[17] = 12;
	ask(&f, b, n);
	serve(&f);
	assert_int_equal(recv_reply(f.client, r, sizeof(r), 1000), 12);
	assert_int_equal(get16(r), 0x5150);
	assert_int_equal(r[3] & 0xf, 1); /* FORMERR */

	/* a response and a runt: dropped silently */
	n = mkquery(b, 1, "web.coop", 1, 0);
	b[2] |= QR;
	ask(&f, b, n);
	ask(&f, b, 5);
	serve(&f);
	assert_int_equal(recv_reply(f.client, r, sizeof(r), 100), -1);

	/* opcode STATUS: NOTIMP */
	n = mkquery(b, 2, "web.coop", 1, 0);
	b[2] |= 2 << 3;
	ask(&f, b, n);
	serve(&f);
	assert_true(recv_reply(f.client, r, sizeof(r), 1000) > 0);
	assert_int_equal(r[3] & 0xf, 4);
	fixture_stop(&f);
}

/* The fake upstream: answers the query it gets (id and question kept) with one A
 * record 93.184.216.34; returns the id it saw. */
static uint16_t upstream_answer(struct fixture *f, uint8_t *seen, size_t *seen_len)
{
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	uint8_t b[512];
	ssize_t n;
	static const uint8_t rr[] = {0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 93, 184, 216, 34};

	assert_true(readable(f->upstream, 1000));
	n = recvfrom(f->upstream, b, sizeof(b), 0, (struct sockaddr *)&from, &flen);
	assert_true(n > 12);
	memcpy(seen, b, n);
	*seen_len = n;
	b[2] |= QR;
	b[3] = RA;
	b[7] = 1;
	b[11] = 0; /* drop any OPT: the canned reply is question + rr */
	{
		struct dns_query q;
		struct err err = {0};
		assert_int_equal(dns_parse_query(seen, n, &q, &err), 0);
		n = q.question_end;
	}
	memcpy(b + n, rr, sizeof(rr));
	n += sizeof(rr);
	assert_int_equal(sendto(f->upstream, b, n, 0, (struct sockaddr *)&from, flen), n);
	return get16(b);
}

static void test_server_forward(void **state)
{
	struct fixture f;
	uint8_t b[512], seen[512], r[512];
	size_t n, seen_len;
	ssize_t len;

	fixture_start(&f, 1);
	for (int i = 0; i < 3; i++) {
		uint16_t id = 0x1234 + i;
		n = mkquery(b, id, "Example.COM", 1, i == 2);
		ask(&f, b, n);
		serve(&f);
		upstream_answer(&f, seen, &seen_len);
		/* relayed as is but for the id */
		assert_int_equal(seen_len, n);
		assert_memory_equal(seen + 2, b + 2, n - 2);
		serve(&f);
		len = recv_reply(f.client, r, sizeof(r), 1000);
		assert_int_equal(len, (i == 2 ? n - 11 : n) + 16);
		assert_int_equal(get16(r), id); /* the client's own id again */
		assert_int_equal(r[3] & 0xf, 0);
		assert_int_equal(get16(r + 6), 1);
		assert_int_equal(r[len - 4], 93);
	}

	/* the domain is never forwarded, whatever lookup says */
	query(&f, 7, "nothere.coop", 1, r);
	assert_int_equal(r[3] & 0xf, 3);
	assert_false(readable(f.upstream, 50));

	/* a reply that does not match a query in flight is dropped */
	{
		struct sockaddr_in fwd;
		n = mkquery(b, 0x7777, "example.com", 1, 0);
		ask(&f, b, n);
		serve(&f);
		assert_true(readable(f.upstream, 1000));
		socklen_t fl = sizeof(fwd);
		assert_true(
		    recvfrom(f.upstream, seen, sizeof(seen), 0, (struct sockaddr *)&fwd, &fl) > 0);
		seen[0] ^= 0xff; /* a wrong id */
		seen[2] |= QR;
		sendto(f.upstream, seen, n, 0, (struct sockaddr *)&fwd, fl);
		serve(&f);
		assert_int_equal(recv_reply(f.client, r, sizeof(r), 100), -1);
	}
	fixture_stop(&f);
}

static void test_server_pending_limit(void **state)
{
	struct fixture f;
	uint8_t b[512], r[512];
	size_t n;
	int i;

	fixture_start(&f, 1); /* the upstream never answers */
	for (i = 0; i < 1024; i++) {
		n = mkquery(b, i, "example.com", 1, 0);
		ask(&f, b, n);
		serve(&f);
	}
	assert_int_equal(recv_reply(f.client, r, sizeof(r), 0), -1);
	n = mkquery(b, 0xffff, "example.com", 1, 0);
	ask(&f, b, n);
	serve(&f);
	assert_true(recv_reply(f.client, r, sizeof(r), 1000) > 0);
	assert_int_equal(get16(r), 0xffff);
	assert_int_equal(r[3] & 0xf, 2); /* SERVFAIL: 1024 in flight */
	fixture_stop(&f);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Queries/s answered locally: one at a time (latency bound), then 64 per process call. */
static void test_server_rate(void **state)
{
	struct fixture f;
	uint8_t b[512], r[512];
	size_t n;
	int count = 0, batch = 64;
	double t0, dt;

	fixture_start(&f, 0);
	n = mkquery(b, 1, "web.coop", 1, 0);
	t0 = now_s();
	while ((dt = now_s() - t0) < 1.0) {
		ask(&f, b, n);
		dns_server_process(f.srv);
		assert_true(recv_reply(f.client, r, sizeof(r), 1000) > 0);
		count++;
	}
	printf("dns: %.0f queries/s answered locally, one at a time\n", count / dt);
	count = 0;
	t0 = now_s();
	while ((dt = now_s() - t0) < 1.0) {
		for (int i = 0; i < batch; i++)
			ask(&f, b, n);
		dns_server_process(f.srv);
		for (int i = 0; i < batch; i++)
			assert_true(recv_reply(f.client, r, sizeof(r), 1000) > 0);
		count += batch;
	}
	printf("dns: %.0f queries/s answered locally, %d per process call\n", count / dt, batch);
	fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_a),
	    cmocka_unit_test(test_parse_edns),
	    cmocka_unit_test(test_parse_root),
	    cmocka_unit_test(test_parse_long_names),
	    cmocka_unit_test(test_parse_truncated),
	    cmocka_unit_test(test_parse_rejects),
	    cmocka_unit_test(test_build_answers),
	    cmocka_unit_test(test_build_nodata),
	    cmocka_unit_test(test_build_rcode),
	    cmocka_unit_test(test_resolv_conf),
	    cmocka_unit_test(test_server_bad_args),
	    cmocka_unit_test(test_server_round_robin),
	    cmocka_unit_test(test_server_local_codes),
	    cmocka_unit_test(test_server_malformed),
	    cmocka_unit_test(test_server_forward),
	    cmocka_unit_test(test_server_pending_limit),
	    cmocka_unit_test(test_server_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
