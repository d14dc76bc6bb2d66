/* digest: sha256 content digests ("sha256:<64 lowercase hex>") — validation, and a
 * streaming hasher (GnuTLS) for verifying blobs as they are written. */
#ifndef COOP_IMAGE_DIGEST_H
#define COOP_IMAGE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define IMG_DIGEST_LEN 71 /* "sha256:" + 64 */

/* Only sha256 is accepted (as every registry serves); errors say what is wrong. */
int img_digest_validate(const char *d, struct err *err);
/* The 64 hex characters after "sha256:". */
const char *img_digest_hex(const char *d);

struct img_hasher; /* opaque */
struct img_hasher *img_hasher_new(void);
void img_hasher_update(struct img_hasher *h, const void *data, size_t len);
/* Writes "sha256:<hex>" into out[IMG_DIGEST_LEN + 1] and frees h. */
void img_hasher_final(struct img_hasher *h, char out[IMG_DIGEST_LEN + 1]);
void img_hasher_free(struct img_hasher *h);
/* Digest of a buffer / of a whole file. */
void img_digest_buf(const void *data, size_t len, char out[IMG_DIGEST_LEN + 1]);
int img_digest_file(int fd, char out[IMG_DIGEST_LEN + 1], struct err *err);

#endif
