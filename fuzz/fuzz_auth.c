/* libFuzzer target: the registry client's parsers of what a server sends — the
 * WWW-Authenticate challenge, token responses, Content-Range, Retry-After, JSON error
 * bodies — and docker config.json / base64. The first byte picks the parser; any input
 * must parse or fail cleanly (no crash, no leak; a failed challenge says why).
 * Build: make fuzz; run: build/fuzz/fuzz_auth -max_total_time=60 fuzz/corpus/auth */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *s = malloc(size);
	struct err err = {0};
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 6) {
	case 0: {
		struct img_auth_challenge c;
		if (img_auth_challenge_parse(s, &c, &err) == 0) {
			if (c.scheme == IMG_AUTH_BEARER && !c.realm)
				abort();
			img_auth_challenge_free(&c);
		} else if (!err.msg[0]) {
			abort();
		}
		break;
	}
	case 1: {
		char *tok = NULL;
		long exp;
		if (img_auth_token_parse(s, size - 1, &tok, &exp, &err) == 0 && (exp < 1 || !*tok))
			abort();
		free(tok);
		break;
	}
	case 2: {
		int64_t a, b, t;
		if (img_auth_content_range(s, &a, &b, &t) == 0 && (a < 0 || b < a))
			abort();
		long r = img_auth_retry_after(s, 1700000000, 30);
		if (r > 30)
			abort();
		break;
	}
	case 3: {
		char *code = NULL;
		free(img_auth_registry_error(s, size - 1, &code));
		free(code);
		break;
	}
	case 4: {
		char *u = NULL, *p = NULL;
		img_auth_docker_config(s, size - 1, "127.0.0.1:5000", &u, &p, &err);
		free(u);
		free(p);
		break;
	}
	default: {
		char *d = NULL;
		size_t n;
		if (img_auth_base64_decode(s, &d, &n) == 0) {
			char *e = img_auth_base64_encode(d, n);
			if (strcmp(e, s) != 0) /* only canonical input decodes */
				abort();
			free(e);
			free(d);
		}
		break;
	}
	}
	free(s);
	return 0;
}
