/* libFuzzer target: the API's request decoders — a JSON body becomes a validated
 * `coop run --image` request (and its workload spec) or an exec request; the first
 * byte picks which. Any input must decode or fail cleanly with a message (no crash,
 * no leak), and what decodes must turn into a spec.
 * Build: make fuzz; run: build/fuzz/fuzz_api -max_total_time=60 fuzz/corpus/api */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err = { 0 };
	char *field = NULL;

	if (size < 1)
		return 0;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	if (data[0] % 2 == 0) {
		struct api_run_req r;
		json_t *spec = NULL;
		if (api_run_decode(body, len, &r, &field, &err) == 0) {
			if (api_run_to_spec(&r, &spec, &field, &err) < 0 || !spec)
				abort();
			json_decref(spec);
			api_run_req_free(&r);
		} else if (!err.msg[0]) {
			abort();
		}
	} else {
		struct api_exec_req e;
		if (api_exec_decode(body, len, &e, &field, &err) == 0)
			api_exec_req_free(&e);
		else if (!err.msg[0])
			abort();
	}
	free(field);
	return 0;
}
