/* join: join tokens and the certificate-signing step of `coop daemon --join`.
 *
 * Token format (version 1, 118–119 ASCII characters, no spaces):
 *
 *   COOP1-<fp>-<role>-<secret>-<check>
 *
 *   fp      64 hex digits: SHA-256 of the cluster CA certificate (DER); the joiner
 *           trusts a CA only if its fingerprint equals this, so a fake seed can't
 *           impersonate the cluster.
 *   role    "server" or "agent": what the token lets its holder become.
 *   secret  32 base32 characters (RFC 4648 alphabet A-Z2-7; lowercase accepted),
 *           160 random bits. The cluster stores only a salted HMAC-SHA256 of it.
 *   check   8 hex digits: the first 4 bytes of SHA-256 over everything before "-check"
 *           in canonical case (hex lowercase, base32 uppercase); catches typos and truncation
 * before anything reaches the network.
 *
 * A token does not carry its expiry: the cluster's stored record does (so tokens can be
 * revoked or shortened without reissuing), and an expired one is refused by the server.
 *
 * The flow (the HTTP endpoint is the daemon's; these are the functions it calls):
 *   joiner: join_token_parse(--token) → fetch the seed's CA certificate (the TLS peer
 *           chain of the seed's API) → join_ca_check() → from now on talk to the seed
 *           only over TLS verified against that CA → pki_key_create + pki_csr_create →
 *           POST {token, name, csr} → store ca.crt, node.crt, node.key (pki_write).
 *   server: join_sign(records, token, csr, names) → node certificate PEM, or -EACCES
 *           with the reason (malformed, other cluster, wrong role, expired, bad secret). */
#ifndef COOP_CLUSTER_JOIN_H
#define COOP_CLUSTER_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"
#include "cluster/pki.h"

#define JOIN_SECRET_CHARS 32
#define JOIN_TOKEN_MAX 128 /* with the NUL */
#define JOIN_SALT_LEN 16
#define JOIN_HASH_LEN 32
#define JOIN_RECORD_MAX 160 /* join_record_format() output with the NUL */

enum join_role { JOIN_ROLE_SERVER, JOIN_ROLE_AGENT };

struct join_token {
	char fp[PKI_FP_HEX + 1]; /* lowercase hex */
	enum join_role role;
	char secret[JOIN_SECRET_CHARS + 1]; /* uppercase base32 */
};

/* What the cluster keeps (in the Raft model's tokens) instead of the secret. */
struct join_record {
	enum join_role role;
	int64_t expires; /* unix seconds; 0: never */
	unsigned char salt[JOIN_SALT_LEN];
	unsigned char hash[JOIN_HASH_LEN]; /* HMAC-SHA256(key = salt, secret) */
};

const char *join_role_name(enum join_role role);

/* Pure. Refuses anything but the exact format above, naming the part that is wrong. */
int join_token_parse(const char *s, struct join_token *ret, struct err *err);
/* Pure. buf gets the canonical text (uppercase secret, lowercase hex). */
int join_token_format(const struct join_token *t, char buf[JOIN_TOKEN_MAX], struct err *err);

/* A new token for the CA with fingerprint ca_fp and the record to store for it. */
int join_token_new(const char *ca_fp, enum join_role role, int64_t expires,
		   struct join_token *ret_token, struct join_record *ret_record, struct err *err);

/* Pure. Storage form: "v1:<role>:<expires>:<salt hex>:<hash hex>". */
int join_record_format(const struct join_record *r, char buf[JOIN_RECORD_MAX], struct err *err);
int join_record_parse(const char *s, struct join_record *ret, struct err *err);

/* Joiner: 0 when ca_pem's fingerprint is the token's; -EPERM otherwise (a fake server
 * or another cluster). */
int join_ca_check(const struct join_token *t, const char *ca_pem, struct err *err);

/* Server: checks a presented token against this cluster (fingerprint ca_fp) and its
 * records: -EACCES "token is for another cluster", "...role...", "token expired", "token
 * is not valid" (the secret matched no record; compared in constant time). -EINVAL for
 * a malformed token. */
int join_check(const struct join_record *recs, size_t n, const char *ca_fp, const char *token,
	       enum join_role want, time_t now, struct err *err);

/* Server: join_check() then pki_csr_sign_ttl() for `names`, valid ttl_s seconds. */
int join_sign(const char *ca_cert_pem, const char *ca_key_pem, const struct join_record *recs,
	      size_t n, const char *token, enum join_role want, const char *csr_pem,
	      const struct pki_names *names, time_t now, int64_t ttl_s, char **ret_cert_pem,
	      struct err *err);

#endif
