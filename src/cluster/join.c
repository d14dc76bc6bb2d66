/* join: the join token's text format (pure), its stored salted hash, and the server's
 * check-then-sign step. See join.h for the format and the flow. */
#include "cluster/join.h"

#include <inttypes.h>

#include "base/dl_gnutls.h"
#include "base/util.h"

#define PREFIX "COOP1-"
#define CHECK_HEX 8

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static const struct {
	const char *name;
	enum join_role role;
} roles[] = {
    {"server", JOIN_ROLE_SERVER},
    {"agent", JOIN_ROLE_AGENT},
};

const char *join_role_name(enum join_role role)
{
	for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
		if (roles[i].role == role)
			return roles[i].name;
	return "?";
}

static int role_parse(const char *s, size_t n, enum join_role *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
		if (strlen(roles[i].name) == n && memcmp(roles[i].name, s, n) == 0) {
			*ret = roles[i].role;
			return 0;
		}
	return -EINVAL;
}

static bool ct_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
	volatile unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int unhex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int unhex(const char *s, size_t n_bytes, unsigned char *out)
{
	for (size_t i = 0; i < n_bytes; i++) {
		int hi = unhex_digit(s[2 * i]), lo = unhex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* First 4 bytes of SHA-256 over body, as 8 lowercase hex digits. */
static void checksum(const char *body, size_t n, char out[CHECK_HEX + 1])
{
	unsigned char h[32];
	gnutls_hash_fast(GNUTLS_DIG_SHA256, body, n, h);
	hex(h, CHECK_HEX / 2, out);
}

int join_token_format(const struct join_token *t, char buf[JOIN_TOKEN_MAX], struct err *err)
{
	char check[CHECK_HEX + 1];
	int n;

	n = snprintf(buf, JOIN_TOKEN_MAX, PREFIX "%s-%s-%s", t->fp, join_role_name(t->role),
		     t->secret);
	if (n < 0 || n + 1 + CHECK_HEX >= JOIN_TOKEN_MAX)
		return err_msg(err, EINVAL, "format join token: fields too long");
	checksum(buf, n, check);
	snprintf(buf + n, JOIN_TOKEN_MAX - n, "-%s", check);
	return 0;
}

/* Splits "a-b-c-d" after the prefix into exactly 4 fields (pointers into s, lengths). */
static int split4(const char *s, const char *f[4], size_t len[4])
{
	size_t i = 0;
	f[0] = s;
	for (const char *p = s;; p++) {
		if (*p == '-' || *p == '\0') {
			len[i] = p - f[i];
			if (*p == '\0')
				break;
			if (++i == 4)
				return -EINVAL;
			f[i] = p + 1;
		}
	}
	return i == 3 ? 0 : -EINVAL;
}

int join_token_parse(const char *s, struct join_token *ret, struct err *err)
{
	const char *f[4];
	size_t len[4];
	char check[CHECK_HEX + 1];
	struct join_token t = {0};

	if (!s || strnlen(s, JOIN_TOKEN_MAX) >= JOIN_TOKEN_MAX)
		return err_msg(err, EINVAL, "malformed join token: too long");
	if (strncmp(s, PREFIX, strlen(PREFIX)) != 0)
		return err_msg(err, EINVAL, "malformed join token: does not start with " PREFIX);
	if (split4(s + strlen(PREFIX), f, len) < 0)
		return err_msg(err, EINVAL,
			       "malformed join token: expected COOP1-<fingerprint>-<role>-<secret>-"
			       "<check>");
	if (len[0] != PKI_FP_HEX)
		return err_msg(err, EINVAL,
			       "malformed join token: fingerprint must be %d hex digits",
			       PKI_FP_HEX);
	for (size_t i = 0; i < PKI_FP_HEX; i++) {
		int d = unhex_digit(f[0][i]);
		if (d < 0)
			return err_msg(err, EINVAL, "malformed join token: fingerprint is not hex");
		t.fp[i] = "0123456789abcdef"[d];
	}
	if (role_parse(f[1], len[1], &t.role) < 0)
		return err_msg(err, EINVAL, "malformed join token: role must be server or agent");
	if (len[2] != JOIN_SECRET_CHARS)
		return err_msg(err, EINVAL, "malformed join token: secret must be %d characters",
			       JOIN_SECRET_CHARS);
	for (size_t i = 0; i < JOIN_SECRET_CHARS; i++) {
		char c = f[2][i];
		if (c >= 'a' && c <= 'z')
			c = c - 'a' + 'A';
		if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')))
			return err_msg(err, EINVAL, "malformed join token: secret is not base32");
		t.secret[i] = c;
	}
	if (len[3] != CHECK_HEX)
		return err_msg(err, EINVAL, "malformed join token: checksum must be %d hex digits",
			       CHECK_HEX);
	/* the checksum covers the canonical text, so case changes don't break it */
	char canon[JOIN_TOKEN_MAX];
	if (join_token_format(&t, canon, err) < 0)
		return -EINVAL;
	memcpy(check, canon + strlen(canon) - CHECK_HEX, CHECK_HEX + 1);
	if (strncasecmp(check, f[3], CHECK_HEX) != 0)
		return err_msg(err, EINVAL,
			       "malformed join token: checksum mismatch (mistyped or truncated)");
	*ret = t;
	return 0;
}

static void secret_hash(const unsigned char salt[JOIN_SALT_LEN], const char *secret,
			unsigned char out[JOIN_HASH_LEN])
{
	gnutls_hmac_fast(GNUTLS_MAC_SHA256, salt, JOIN_SALT_LEN, secret, JOIN_SECRET_CHARS, out);
}

int join_token_new(const char *ca_fp, enum join_role role, int64_t expires,
		   struct join_token *ret_token, struct join_record *ret_record, struct err *err)
{
	unsigned char rnd[JOIN_SECRET_CHARS];
	struct join_token t = {.role = role};
	struct join_record r = {.role = role, .expires = expires};
	int rv;

	if (!ca_fp || strlen(ca_fp) != PKI_FP_HEX)
		return err_msg(err, EINVAL, "new join token: bad CA fingerprint");
	memcpy(t.fp, ca_fp, PKI_FP_HEX + 1);
	/* 32 x 5 bits: each random byte's low 5 bits pick a character (unbiased) */
	if ((rv = gnutls_rnd(GNUTLS_RND_KEY, rnd, sizeof(rnd))) < 0 ||
	    (rv = gnutls_rnd(GNUTLS_RND_NONCE, r.salt, sizeof(r.salt))) < 0)
		return err_msg(err, EIO, "new join token: %s", gnutls_strerror(rv));
	for (size_t i = 0; i < JOIN_SECRET_CHARS; i++)
		t.secret[i] = b32[rnd[i] & 31];
	secret_hash(r.salt, t.secret, r.hash);
	gnutls_memset(rnd, 0, sizeof(rnd));
	*ret_token = t;
	*ret_record = r;
	return 0;
}

int join_record_format(const struct join_record *r, char buf[JOIN_RECORD_MAX], struct err *err)
{
	char salt[2 * JOIN_SALT_LEN + 1], hash[2 * JOIN_HASH_LEN + 1];

	hex(r->salt, JOIN_SALT_LEN, salt);
	hex(r->hash, JOIN_HASH_LEN, hash);
	if (snprintf(buf, JOIN_RECORD_MAX, "v1:%s:%" PRId64 ":%s:%s", join_role_name(r->role),
		     r->expires, salt, hash) >= JOIN_RECORD_MAX)
		return err_msg(err, EINVAL, "format join record: too long");
	return 0;
}

int join_record_parse(const char *s, struct join_record *ret, struct err *err)
{
	char role[8], salt[2 * JOIN_SALT_LEN + 1], hash[2 * JOIN_HASH_LEN + 1];
	struct join_record r = {0};
	int n = 0;

	if (!s || strnlen(s, JOIN_RECORD_MAX) >= JOIN_RECORD_MAX ||
	    sscanf(s, "v1:%7[a-z]:%" SCNd64 ":%32[0-9a-f]:%64[0-9a-f]%n", role, &r.expires, salt,
		   hash, &n) != 4 ||
	    s[n] != '\0' || strlen(salt) != 2 * JOIN_SALT_LEN ||
	    strlen(hash) != 2 * JOIN_HASH_LEN || role_parse(role, strlen(role), &r.role) < 0 ||
	    r.expires < 0)
		return err_msg(err, EINVAL, "malformed join token record");
	unhex(salt, JOIN_SALT_LEN, r.salt);
	unhex(hash, JOIN_HASH_LEN, r.hash);
	*ret = r;
	return 0;
}

int join_ca_check(const struct join_token *t, const char *ca_pem, struct err *err)
{
	char fp[PKI_FP_HEX + 1];
	int rv = pki_fingerprint(ca_pem, fp, err);

	if (rv < 0)
		return err_wrap(err, "check the seed's CA");
	if (!streq(fp, t->fp))
		return err_msg(err, EPERM,
			       "the seed's CA (sha256 %.16s…) is not the one the token names "
			       "(%.16s…): refusing to trust it",
			       fp, t->fp);
	return 0;
}

int join_check(const struct join_record *recs, size_t n, const char *ca_fp, const char *token,
	       enum join_role want, time_t now, struct err *err)
{
	struct join_token t;
	const struct join_record *hit = NULL;
	unsigned char h[JOIN_HASH_LEN];
	int rv;

	if ((rv = join_token_parse(token, &t, err)) < 0)
		return rv;
	if (!ca_fp || !streq(t.fp, ca_fp))
		return err_msg(err, EACCES, "join token is for another cluster (CA fingerprint)");
	if (t.role != want)
		return err_msg(err, EACCES, "join token grants role %s, not %s",
			       join_role_name(t.role), join_role_name(want));
	/* every record is hashed and compared, hit or not: no timing hint which matched */
	for (size_t i = 0; i < n; i++) {
		secret_hash(recs[i].salt, t.secret, h);
		if (ct_equal(h, recs[i].hash, JOIN_HASH_LEN) && !hit)
			hit = &recs[i];
	}
	gnutls_memset(&t, 0, sizeof(t));
	if (!hit || hit->role != want)
		return err_msg(err, EACCES, "join token is not valid (unknown or revoked)");
	if (hit->expires && now >= hit->expires)
		return err_msg(err, EACCES, "join token expired");
	return 0;
}

int join_sign(const char *ca_cert_pem, const char *ca_key_pem, const struct join_record *recs,
	      size_t n, const char *token, enum join_role want, const char *csr_pem,
	      const struct pki_names *names, time_t now, int64_t ttl_s, char **ret_cert_pem,
	      struct err *err)
{
	char fp[PKI_FP_HEX + 1];
	int rv;

	if ((rv = pki_fingerprint(ca_cert_pem, fp, err)) < 0 ||
	    (rv = join_check(recs, n, fp, token, want, now, err)) < 0)
		return rv;
	return pki_csr_sign_ttl(ca_cert_pem, ca_key_pem, csr_pem, names, now, ttl_s, ret_cert_pem,
				err);
}
