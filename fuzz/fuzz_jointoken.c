/* libFuzzer target: the join token and join record parsers (cluster/join). Any input
 * must parse or fail with a message; whatever parses must format back to a string that
 * parses to the same value (round trip), and a record must re-format identically.
 * Build: make fuzz; run: build/fuzz/fuzz_jointoken -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cluster/join.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	struct err err = {0};

	if (size < 1)
		return 0;
	s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] & 1) {
		struct join_token t, t2;
		char buf[JOIN_TOKEN_MAX];
		if (join_token_parse(s, &t, &err) == 0) {
			if (join_token_format(&t, buf, &err) < 0 ||
			    join_token_parse(buf, &t2, &err) < 0 || !streq(t.fp, t2.fp) ||
			    !streq(t.secret, t2.secret) || t.role != t2.role ||
			    strcasecmp(buf, s) != 0)
				abort();
		} else if (!err.msg[0]) {
			abort();
		}
	} else {
		struct join_record r, r2;
		char buf[JOIN_RECORD_MAX];
		if (join_record_parse(s, &r, &err) == 0) {
			if (join_record_format(&r, buf, &err) < 0 ||
			    join_record_parse(buf, &r2, &err) < 0 || r.role != r2.role ||
			    r.expires != r2.expires || memcmp(r.salt, r2.salt, sizeof(r.salt)) ||
			    memcmp(r.hash, r2.hash, sizeof(r.hash)))
				abort();
		} else if (!err.msg[0]) {
			abort();
		}
	}
	free(s);
	return 0;
}
