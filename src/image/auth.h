/* auth: the pure parts of talking to a registry — WWW-Authenticate challenges, token
 * responses, docker config.json credentials, Basic base64, Content-Range, Retry-After
 * and the registry's JSON error bodies. No I/O: bytes in, values out; fuzzed. */
#ifndef COOP_IMAGE_AUTH_H
#define COOP_IMAGE_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"

enum img_auth_scheme { IMG_AUTH_NONE, IMG_AUTH_BASIC, IMG_AUTH_BEARER };

struct img_auth_challenge {
	enum img_auth_scheme scheme;
	char *realm, *service, *scope, *error; /* each NULL when absent */
};

/* Parses one WWW-Authenticate value (RFC 7235: scheme, then auth-params with quoted or
 * token values, in any order, commas between). When a header offers several
 * challenges, Bearer is preferred over Basic. Unknown schemes are -ENOTSUP; a Bearer
 * challenge without realm is -EINVAL. */
int img_auth_challenge_parse(const char *header, struct img_auth_challenge *ret, struct err *err);
void img_auth_challenge_free(struct img_auth_challenge *c);

/* A token endpoint's answer: "token" or else "access_token"; expires_in (seconds,
 * default 60 as the distribution spec says, at least 1). */
int img_auth_token_parse(const char *body, size_t len, char **ret_token, long *ret_expires_in,
			 struct err *err);

/* Looks host ("127.0.0.1:5000", "registry-1.docker.io") up in a docker config.json
 * document's "auths": keys may carry a scheme and a path ("https://index.docker.io/v1/")
 * and docker.io has several spellings. "auth" is base64(user:pass); separate
 * "username"/"password" fields are accepted too. Returns 1 and the credentials when
 * found, 0 when the host has no entry. */
int img_auth_docker_config(const char *json, size_t len, const char *host, char **ret_user,
			   char **ret_pass, struct err *err);

/* Standard base64 (RFC 4648) with padding. decode: -EINVAL on bad input; the output is
 * NUL-terminated (*ret_len without it). */
char *img_auth_base64_encode(const void *data, size_t len);
int img_auth_base64_decode(const char *s, char **ret, size_t *ret_len);

/* "bytes START-END/TOTAL" (TOTAL may be "*": -1). -EINVAL when malformed. */
int img_auth_content_range(const char *v, int64_t *ret_start, int64_t *ret_end, int64_t *ret_total);

/* Retry-After: delta-seconds or an HTTP-date (relative to now). Returns seconds >= 0,
 * capped at max; -EINVAL when unparsable. */
long img_auth_retry_after(const char *v, time_t now, long max);

/* The registry's {"errors":[{"code","message","detail"}]} as "message" (joined with
 * "; " for several); NULL when the body is not such a document. Caller frees. */
char *img_auth_registry_error(const char *body, size_t len, char **ret_code);

#endif
