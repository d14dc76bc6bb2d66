/* libFuzzer target: the config.json parser (with the resources and seccomp sections it
 * hands to cgroup and seccomp). Any input must parse or fail cleanly: no crash, no leak,
 * and a failure always carries a message. Build: make fuzz; run:
 * build/fuzz/fuzz_config -max_total_time=60 fuzz/corpus/config */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/js.h"
#include "runtime/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	json_t *doc = NULL;
	struct rt_config *cfg = NULL;
	struct err err = { 0 };

	memcpy(s, data, size);
	s[size] = '\0';
	if (js_load_string("config.json", s, &doc, &err) == 0) {
		if (rt_config_parse(doc, "/bundle", &cfg, &err) == 0)
			rt_config_free(cfg);
		else if (err.msg[0] == '\0')
			abort(); /* a failure must say why */
		json_decref(doc);
	}
	free(s);
	return 0;
}
