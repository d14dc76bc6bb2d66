/* libFuzzer target: the .bun parser. Any bytes must parse or fail with a one-line
 * message; no crash, no leak; relative volume sources are refused (no base dir), so
 * the fuzzer never touches the filesystem. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state/bun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bun_spec *s = NULL;
	struct err err = { 0 };

	if (bun_parse("f.bun", (const char *)data, size, NULL, &s, &err) == 0) {
		json_t *j = bun_to_json(s);
		json_decref(j);
		bun_spec_free(s);
	} else if (!err.msg[0] || strchr(err.msg, '\n')) {
		abort();
	}
	return 0;
}
