/* libFuzzer target: the DNS query codec. Any bytes must parse or fail cleanly (with a
 * message); what parses must build an answer of 0..3 addresses into 512 bytes that fits,
 * echoes the question byte for byte and parses back as a response header. Build: make
 * fuzz; run: build/fuzz/fuzz_dns -max_total_time=60 fuzz/corpus/dns */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/dns.h"

static void check_reply(const uint8_t *msg, size_t len, const struct dns_query *q,
			const uint8_t *out, size_t n, size_t ancount)
{
	if (n > DNS_MAX_MSG || n < q->question_end)
		abort();
	if (memcmp(out, msg, 2) != 0 || !(out[2] & 0x80))
		abort(); /* same id, QR set */
	if (memcmp(out + 12, msg + 12, q->question_end - 12) != 0)
		abort(); /* the question echoed */
	if (((size_t)out[6] << 8 | out[7]) != ancount || n != q->question_end + 16 * ancount)
		abort();
	(void)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in_addr addrs[3] = {{htonl(0x0a000001)}, {htonl(0x0a000002)}, {htonl(0x0a000003)}};
	uint8_t out[DNS_MAX_MSG];
	struct dns_query q;
	struct err err = {0};
	size_t n, k;

	if (dns_parse_query(data, size, &q, &err) < 0) {
		if (err.msg[0] == '\0')
			abort(); /* a failure must say why */
		return 0;
	}
	if (q.question_end > size || strlen(q.name) > 253)
		abort();
	k = size ? data[size - 1] % 4 : 0;
	if (dns_build_answer(data, &q, addrs, k, 60, out, sizeof(out), &n, &err) == 0) {
		int a = (q.qtype == 1 || q.qtype == 255) && (q.qclass == 1 || q.qclass == 255);
		check_reply(data, size, &q, out, n, a ? k : 0);
	} else if (q.question_end <= sizeof(out)) {
		abort(); /* only a question too big for 512 bytes may fail */
	}
	if (dns_build_rcode(data, &q, 2, out, sizeof(out), &n, &err) == 0)
		check_reply(data, size, &q, out, n, 0);
	if (dns_build_rcode(data, NULL, 1, out, sizeof(out), &n, &err) != 0 || n != 12)
		abort();
	return 0;
}
