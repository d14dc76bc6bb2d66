/* digest: sha256 content digests — the one algorithm registries serve — validated as
 * strings and computed streaming, so a blob is verified as it is written. With Nettle,
 * GnuTLS's own crypto library (linked, tiny, no initialisation), not GnuTLS: a monitor
 * verifies its image's manifest and config at every start, and loading GnuTLS for that
 * cost each one ~3 ms of CPU (issue 5). */
#include "image/digest.h"

#include <nettle/sha2.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

#define SHA256_LEN SHA256_DIGEST_SIZE
#define PREFIX "sha256:"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

struct img_hasher {
	struct sha256_ctx ctx;
};

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int img_digest_validate(const char *d, struct err *err)
{
	const char *colon;
	size_t n;

	if (!d || !*d)
		return err_msg(err, EINVAL, "invalid digest '': empty");
	colon = strchr(d, ':');
	if (!colon)
		return err_msg(err, EINVAL, "invalid digest '%.80s': expected 'sha256:<hex>'", d);
	if ((size_t)(colon - d) != PREFIX_LEN - 1 || strncmp(d, PREFIX, PREFIX_LEN) != 0)
		return err_msg(err, EINVAL,
			       "invalid digest '%.80s': unsupported algorithm '%.*s' (only sha256)",
			       d, (int)((colon - d) > 32 ? 32 : (colon - d)), d);
	n = strlen(colon + 1);
	if (n != 2 * SHA256_LEN)
		return err_msg(err, EINVAL,
			       "invalid digest '%.80s': expected 64 hex characters, got %zu", d, n);
	for (const char *p = colon + 1; *p; p++)
		if (!is_lower_hex(*p))
			return err_msg(err, EINVAL,
				       "invalid digest '%.80s': not lowercase hexadecimal", d);
	return 0;
}

const char *img_digest_hex(const char *d)
{
	return strncmp(d, PREFIX, PREFIX_LEN) == 0 ? d + PREFIX_LEN : d;
}

struct img_hasher *img_hasher_new(void)
{
	struct img_hasher *h = xcalloc(1, sizeof(*h));

	sha256_init(&h->ctx);
	return h;
}

void img_hasher_update(struct img_hasher *h, const void *data, size_t len)
{
	if (len > 0)
		sha256_update(&h->ctx, len, data);
}

static void to_hex(const unsigned char *raw, char out[IMG_DIGEST_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	memcpy(out, PREFIX, PREFIX_LEN);
	for (size_t i = 0; i < SHA256_LEN; i++) {
		out[PREFIX_LEN + 2 * i] = hex[raw[i] >> 4];
		out[PREFIX_LEN + 2 * i + 1] = hex[raw[i] & 15];
	}
	out[IMG_DIGEST_LEN] = '\0';
}

void img_hasher_final(struct img_hasher *h, char out[IMG_DIGEST_LEN + 1])
{
	unsigned char raw[SHA256_LEN];

	sha256_digest(&h->ctx, SHA256_LEN, raw);
	free(h);
	to_hex(raw, out);
}

void img_hasher_free(struct img_hasher *h)
{
	free(h);
}

void img_digest_buf(const void *data, size_t len, char out[IMG_DIGEST_LEN + 1])
{
	struct img_hasher *h = img_hasher_new();

	img_hasher_update(h, data, len);
	img_hasher_final(h, out);
}

/* The whole file from offset 0 whatever the fd's position (pread leaves it alone). */
int img_digest_file(int fd, char out[IMG_DIGEST_LEN + 1], struct err *err)
{
	struct img_hasher *h = img_hasher_new();
	_cleanup_free_ char *buf = xmalloc(1 << 16);
	off_t off = 0;

	for (;;) {
		ssize_t n = pread(fd, buf, 1 << 16, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			img_hasher_free(h);
			return err_sys(err, errno, "read blob for its digest");
		}
		if (n == 0)
			break;
		img_hasher_update(h, buf, n);
		off += n;
	}
	img_hasher_final(h, out);
	return 0;
}
