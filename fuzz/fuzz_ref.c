/* libFuzzer target: image reference parsing and its string forms. Any input must parse
 * or fail with a message; a parsed reference must print to a string that parses back to
 * the same reference (normalization is idempotent). Build: make fuzz; run:
 * build/fuzz/fuzz_ref -max_total_time=60 fuzz/corpus/ref */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	struct img_ref r = {0};
	struct err err = {0};

	if (img_ref_parse(s, &r, &err) == 0) {
		char *full = img_ref_string(&r), *fam = img_ref_familiar(&r),
		     *repo = img_ref_repo(&r);
		const char *forms[] = {full, fam};

		(void)img_ref_registry_host(&r);
		for (size_t i = 0; i < 2; i++) {
			struct img_ref again = {0};
			char *full2;

			if (img_ref_parse(forms[i], &again, &err) < 0)
				abort(); /* our own output must parse */
			full2 = img_ref_string(&again);
			if (strcmp(full, full2) != 0)
				abort(); /* and mean the same image */
			free(full2);
			img_ref_free(&again);
		}
		free(full);
		free(fam);
		free(repo);
		img_ref_free(&r);
	} else if (err.msg[0] == '\0') {
		abort(); /* a failure must say why */
	}
	free(s);
	return 0;
}
