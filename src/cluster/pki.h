/* pki: the cluster's certificate authority and node certificates (GnuTLS x509).
 * Everything crosses this API as PEM text so callers can store it (files, Raft) and hand
 * it to the TLS layers unchanged. Time is always passed in (`now`, unix seconds) so
 * expiry and renewal are tested without clocks.
 *
 *   CA:    ECDSA P-256, self-signed, CA:TRUE pathlen 0, 10 years.
 *   node:  ECDSA P-256 key made on the node itself; a CSR carries only the public key
 *          and a name; the CA decides the SANs (DNS name + IPs), usage client+server,
 *          90 days unless the cluster says otherwise (coop init --cert-ttl, at least
 *          PKI_TTL_MIN). Renew when less than a third of the lifetime is left.
 *   files: <dir>/ca.crt, ca.key (servers only), node.crt, node.key; 0600, dir 0700,
 *          written atomically (temp + fsync + rename). */
#ifndef COOP_CLUSTER_PKI_H
#define COOP_CLUSTER_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"

#define PKI_DIR_DEFAULT "/etc/coop/pki"
#define PKI_CA_DAYS 3650
#define PKI_NODE_DAYS 90
#define PKI_NODE_TTL ((int64_t)PKI_NODE_DAYS * 86400)
#define PKI_TTL_MIN 60	  /* seconds: a node certificate's shortest lifetime */
#define PKI_SERIAL_HEX 40 /* at most 20 bytes of serial, as lowercase hex */
#define PKI_FP_HEX 64	  /* SHA-256 of the DER certificate, lowercase hex */
#define PKI_MAX_IPS 16	  /* IP SANs on one node certificate */
#define PKI_NAME_MAX 253  /* a DNS name */
#define PKI_PEM_MAX 16384 /* any PEM we accept from a peer */

/* What the CA writes into a node certificate. name: CN and DNS SAN ([a-z0-9.-], 1..253);
 * ips: textual IPv4/IPv6 addresses, NULL-terminated, at most PKI_MAX_IPS. */
struct pki_names {
	const char *name;
	const char *const *ips;
};

/* A new CA (key and self-signed certificate) valid from now - 1h for PKI_CA_DAYS. */
int pki_ca_create(const char *cn, time_t now, char **ret_cert_pem, char **ret_key_pem,
		  struct err *err);

/* A new ECDSA P-256 private key (PKCS#8 PEM). */
int pki_key_create(char **ret_key_pem, struct err *err);

/* The joiner's half: a CSR for key_pem naming `name` (CN), self-signed. */
int pki_csr_create(const char *key_pem, const char *name, char **ret_csr_pem, struct err *err);

/* The CA's half: checks the CSR's signature and that its CN equals names->name, then
 * issues a node certificate for the CSR's public key with exactly `names` as SANs
 * (anything else the CSR asks for is ignored), valid from now - 1h for `days`
 * (capped by the CA's own expiry). */
int pki_csr_sign(const char *ca_cert_pem, const char *ca_key_pem, const char *csr_pem,
		 const struct pki_names *names, time_t now, unsigned days, char **ret_cert_pem,
		 struct err *err);
/* The same with the lifetime in seconds (PKI_TTL_MIN .. PKI_CA_DAYS days). The
 * certificate is backdated by an hour for clock skew, or by a tenth of a short
 * lifetime, so that the renewal rule still means "after two thirds of ttl_s". */
int pki_csr_sign_ttl(const char *ca_cert_pem, const char *ca_key_pem, const char *csr_pem,
		     const struct pki_names *names, time_t now, int64_t ttl_s,
		     char **ret_cert_pem, struct err *err);

/* key + CSR + sign in one step, for the CA's own node (coop init, renewal on a server). */
int pki_node_issue(const char *ca_cert_pem, const char *ca_key_pem, const struct pki_names *names,
		   time_t now, unsigned days, char **ret_cert_pem, char **ret_key_pem,
		   struct err *err);
int pki_node_issue_ttl(const char *ca_cert_pem, const char *ca_key_pem,
		       const struct pki_names *names, time_t now, int64_t ttl_s,
		       char **ret_cert_pem, char **ret_key_pem, struct err *err);

/* What identifies a node certificate: its subject's CN (the node name), its serial
 * (lowercase hex, as the cluster's revocation list keys it) and validity. */
struct pki_cert_info {
	char cn[PKI_NAME_MAX + 1];
	char serial[PKI_SERIAL_HEX + 1];
	time_t not_before, not_after;
};
int pki_cert_info(const char *cert_pem, struct pki_cert_info *ret, struct err *err);
/* The same from a DER certificate (what a TLS peer presented). */
int pki_cert_info_der(const void *der, size_t len, struct pki_cert_info *ret, struct err *err);
/* Whether key_pem is the private key of cert_pem's public key. */
bool pki_pair_matches(const char *cert_pem, const char *key_pem);

/* 0 when cert_pem is signed by ca_pem and both are valid at `now`; -EACCES otherwise,
 * with the reason (other CA, expired, not yet valid, not a node certificate). */
int pki_verify(const char *ca_pem, const char *cert_pem, time_t now, struct err *err);

/* SHA-256 fingerprint of the DER certificate as 64 lowercase hex digits + NUL. */
int pki_fingerprint(const char *cert_pem, char ret_hex[PKI_FP_HEX + 1], struct err *err);

int pki_cert_times(const char *cert_pem, time_t *ret_not_before, time_t *ret_not_after,
		   struct err *err);

/* Pure: true when less than a third of [not_before, not_after] is left at `now`
 * (or the certificate is already expired, or the window is empty). */
bool pki_needs_renewal(time_t not_before, time_t not_after, time_t now);

/* Writes <dir>/<file> with mode 0600 atomically, creating dir 0700 if missing. */
int pki_write(const char *dir, const char *file, const char *pem, struct err *err);
int pki_read(const char *dir, const char *file, char **ret_pem, struct err *err);

/* coop init: a new CA and this node's certificate under dir (default PKI_DIR_DEFAULT).
 * Refuses (-EEXIST) when dir already holds a ca.crt. ret_fp (optional) gets the CA
 * fingerprint that join tokens carry. */
int pki_init_dir(const char *dir, const struct pki_names *names, time_t now, int64_t ttl_s,
		 char ret_fp[PKI_FP_HEX + 1], struct err *err);

/* Renews <dir>/node.crt + node.key from <dir>/ca.* when pki_needs_renewal() says so, or
 * when node.key does not match node.crt (a crash between the two writes);
 * *ret_renewed (optional) tells whether it did. Servers only (needs ca.key). */
int pki_renew_dir(const char *dir, const struct pki_names *names, time_t now, int64_t ttl_s,
		  bool *ret_renewed, struct err *err);

#endif
