/* libFuzzer target: manifest/index parsing (with each Content-Type kind), platform
 * selection over what parsed, layer compressions, and the image config parser. Any
 * input must parse or fail cleanly with a message: no crash, no leak. Build: make fuzz;
 * run: build/fuzz/fuzz_manifest -max_total_time=60 fuzz/corpus/manifest */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/manifest.h"

static const char *const content_types[] = {
    NULL,
    IMG_MT_OCI_MANIFEST,
    IMG_MT_DOCKER_LIST,
    "application/json",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *ct = content_types[size % 4];
	struct img_manifest *m = NULL;
	struct img_config *c = NULL;
	struct err err = {0};
	enum img_compression comp;

	if (img_manifest_parse((const char *)data, size, ct, &m, &err) == 0) {
		for (size_t i = 0; i < m->n_layers; i++)
			(void)img_layer_compression(m->layers[i].media_type, &comp, &err);
		(void)img_index_select(m, "linux", "amd64", NULL, &err);
		(void)img_index_select(m, "linux", "arm", "v7", &err);
		img_manifest_free(m);
	} else if (err.msg[0] == '\0') {
		abort();
	}
	err.msg[0] = '\0';
	if (img_config_parse((const char *)data, size, &c, &err) == 0)
		img_config_free(c);
	else if (err.msg[0] == '\0')
		abort();
	return 0;
}
