/* pki: cluster CA, node keys, CSRs and certificates with GnuTLS's x509 API, plus the
 * on-disk layout under /etc/coop/pki. PEM in, PEM out; time is always injected. */
#include "cluster/pki.h"

#include <arpa/inet.h>
#include <limits.h>
#include <sys/stat.h>

#include "base/dl_gnutls.h"
#include "base/fs.h"
#include "base/util.h"

#define DAY 86400
#define BACKDATE 3600 /* tolerate an hour of clock skew between nodes */

static void crtp(gnutls_x509_crt_t *p)
{
	if (*p)
		gnutls_x509_crt_deinit(*p);
}
static void keyp(gnutls_x509_privkey_t *p)
{
	if (*p)
		gnutls_x509_privkey_deinit(*p);
}
static void crqp(gnutls_x509_crq_t *p)
{
	if (*p)
		gnutls_x509_crq_deinit(*p);
}
#define _cleanup_crt_ _cleanup_(crtp)
#define _cleanup_key_ _cleanup_(keyp)
#define _cleanup_crq_ _cleanup_(crqp)

static int tls_err(struct err *err, int rv, const char *what)
{
	return err_msg(err, EINVAL, "%s: %s", what, gnutls_strerror(rv));
}

static gnutls_datum_t datum(const char *pem)
{
	return (gnutls_datum_t){.data = (unsigned char *)pem, .size = (unsigned)strlen(pem)};
}

/* Copies a gnutls-allocated datum into a NUL-terminated string of ours. */
static char *take_datum(gnutls_datum_t *d)
{
	char *s = xmalloc(d->size + 1);
	memcpy(s, d->data, d->size);
	s[d->size] = '\0';
	gnutls_free(d->data);
	d->data = NULL;
	return s;
}

static int crt_load(const char *pem, gnutls_x509_crt_t *ret, const char *what, struct err *err)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t d;
	int rv;

	if (!pem || strlen(pem) > PKI_PEM_MAX)
		return err_msg(err, EINVAL, "read %s: missing or too large", what);
	d = datum(pem);
	if ((rv = gnutls_x509_crt_init(&crt)) < 0)
		return tls_err(err, rv, "init certificate");
	if ((rv = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM)) < 0) {
		gnutls_x509_crt_deinit(crt);
		return err_msg(err, EINVAL, "read %s: %s", what, gnutls_strerror(rv));
	}
	*ret = crt;
	return 0;
}

static int key_load(const char *pem, gnutls_x509_privkey_t *ret, struct err *err)
{
	gnutls_x509_privkey_t key;
	gnutls_datum_t d;
	int rv;

	if (!pem || strlen(pem) > PKI_PEM_MAX)
		return err_msg(err, EINVAL, "read private key: missing or too large");
	d = datum(pem);
	if ((rv = gnutls_x509_privkey_init(&key)) < 0)
		return tls_err(err, rv, "init private key");
	if ((rv = gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		gnutls_x509_privkey_deinit(key);
		return tls_err(err, rv, "read private key");
	}
	*ret = key;
	return 0;
}

static int key_new(gnutls_x509_privkey_t *ret, struct err *err)
{
	gnutls_x509_privkey_t key;
	int rv;

	if ((rv = gnutls_x509_privkey_init(&key)) < 0)
		return tls_err(err, rv, "init private key");
	rv = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (rv < 0) {
		gnutls_x509_privkey_deinit(key);
		return tls_err(err, rv, "generate ECDSA P-256 key");
	}
	*ret = key;
	return 0;
}

static int key_export(gnutls_x509_privkey_t key, char **ret, struct err *err)
{
	gnutls_datum_t d = {0};
	int rv = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
						   GNUTLS_PKCS_PLAIN, &d);
	if (rv < 0)
		return tls_err(err, rv, "export private key");
	*ret = take_datum(&d);
	return 0;
}

static int crt_export(gnutls_x509_crt_t crt, char **ret, struct err *err)
{
	gnutls_datum_t d = {0};
	int rv = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d);
	if (rv < 0)
		return tls_err(err, rv, "export certificate");
	*ret = take_datum(&d);
	return 0;
}

/* Version, random positive 128-bit serial, validity. */
static int crt_basics(gnutls_x509_crt_t crt, time_t from, time_t to, struct err *err)
{
	unsigned char serial[16];
	int rv;

	if ((rv = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
		return tls_err(err, rv, "random serial");
	serial[0] = (serial[0] & 0x7f) | 0x40; /* positive, full length */
	if ((rv = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (rv = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
	    (rv = gnutls_x509_crt_set_activation_time(crt, from)) < 0 ||
	    (rv = gnutls_x509_crt_set_expiration_time(crt, to)) < 0)
		return tls_err(err, rv, "set certificate fields");
	return 0;
}

static int set_cn(gnutls_x509_crt_t crt, const char *cn, struct err *err)
{
	int rv = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn));
	return rv < 0 ? tls_err(err, rv, "set certificate name") : 0;
}

int pki_ca_create(const char *cn, time_t now, char **ret_cert_pem, char **ret_key_pem,
		  struct err *err)
{
	_cleanup_key_ gnutls_x509_privkey_t key = NULL;
	_cleanup_crt_ gnutls_x509_crt_t crt = NULL;
	_cleanup_free_ char *kpem = NULL;
	unsigned char kid[64];
	size_t kid_len = sizeof(kid);
	int rv;

	if ((rv = key_new(&key, err)) < 0)
		return rv;
	if ((rv = gnutls_x509_crt_init(&crt)) < 0)
		return tls_err(err, rv, "init CA certificate");
	if ((rv = crt_basics(crt, now - BACKDATE, now + (time_t)PKI_CA_DAYS * DAY, err)) < 0 ||
	    (rv = set_cn(crt, cn ? cn : "coop cluster CA", err)) < 0)
		return rv;
	if ((rv = gnutls_x509_crt_set_key(crt, key)) < 0 ||
	    (rv = gnutls_x509_crt_set_basic_constraints(crt, 1, 0)) < 0 ||
	    (rv =
		 gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
							GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (rv = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, kid, &kid_len)) < 0 ||
	    (rv = gnutls_x509_crt_set_subject_key_id(crt, kid, kid_len)) < 0)
		return tls_err(err, rv, "set CA extensions");
	if ((rv = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0)
		return tls_err(err, rv, "self-sign CA certificate");
	if ((rv = key_export(key, &kpem, err)) < 0 || (rv = crt_export(crt, ret_cert_pem, err)) < 0)
		return rv;
	*ret_key_pem = take_ptr(kpem);
	return 0;
}

int pki_key_create(char **ret_key_pem, struct err *err)
{
	_cleanup_key_ gnutls_x509_privkey_t key = NULL;
	int rv = key_new(&key, err);
	return rv < 0 ? rv : key_export(key, ret_key_pem, err);
}

/* A node name is a DNS name: what it lands in (CN, SAN, file names, logs) stays tame. */
static int name_check(const char *name, struct err *err)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > PKI_NAME_MAX)
		return err_msg(err, EINVAL, "node name must be 1 to %d characters", PKI_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return err_msg(err, EINVAL,
				       "node name '%s': only a-z, 0-9, '-' and '.' are allowed",
				       name);
	}
	if (name[0] == '-' || name[0] == '.')
		return err_msg(err, EINVAL, "node name '%s' must start with a letter or digit",
			       name);
	return 0;
}

int pki_csr_create(const char *key_pem, const char *name, char **ret_csr_pem, struct err *err)
{
	_cleanup_key_ gnutls_x509_privkey_t key = NULL;
	_cleanup_crq_ gnutls_x509_crq_t crq = NULL;
	gnutls_datum_t d = {0};
	int rv;

	if ((rv = name_check(name, err)) < 0 || (rv = key_load(key_pem, &key, err)) < 0)
		return rv;
	if ((rv = gnutls_x509_crq_init(&crq)) < 0 ||
	    (rv = gnutls_x509_crq_set_version(crq, 1)) < 0 ||
	    (rv = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, name,
						strlen(name))) < 0 ||
	    (rv = gnutls_x509_crq_set_key(crq, key)) < 0 ||
	    (rv = gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0)) < 0 ||
	    (rv = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &d)) < 0)
		return tls_err(err, rv, "create certificate request");
	*ret_csr_pem = take_datum(&d);
	return 0;
}

static int crq_load(const char *pem, const char *want_name, gnutls_x509_crq_t *ret, struct err *err)
{
	_cleanup_crq_ gnutls_x509_crq_t crq = NULL;
	char cn[PKI_NAME_MAX + 2];
	size_t cn_len = sizeof(cn);
	gnutls_datum_t d;
	int rv;

	if (!pem || strlen(pem) > PKI_PEM_MAX)
		return err_msg(err, EINVAL, "read certificate request: missing or too large");
	d = datum(pem);
	if ((rv = gnutls_x509_crq_init(&crq)) < 0)
		return tls_err(err, rv, "init certificate request");
	if ((rv = gnutls_x509_crq_import(crq, &d, GNUTLS_X509_FMT_PEM)) < 0)
		return tls_err(err, rv, "read certificate request");
	if ((rv = gnutls_x509_crq_verify(crq, 0)) < 0)
		return err_msg(err, EACCES, "certificate request: bad signature");
	rv = gnutls_x509_crq_get_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_len);
	if (rv < 0)
		return err_msg(err, EINVAL, "certificate request: no usable common name");
	if (!streq(cn, want_name))
		return err_msg(err, EACCES, "certificate request is for '%s', not '%s'", cn,
			       want_name);
	*ret = take_ptr(crq);
	return 0;
}

static int set_sans(gnutls_x509_crt_t crt, const struct pki_names *names, struct err *err)
{
	size_t n = 0;
	int rv;

	rv = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, names->name,
						  strlen(names->name), GNUTLS_FSAN_APPEND);
	if (rv < 0)
		return tls_err(err, rv, "set DNS name");
	for (const char *const *ip = names->ips; ip && *ip; ip++, n++) {
		unsigned char raw[16];
		unsigned len = 4;
		if (n >= PKI_MAX_IPS)
			return err_msg(err, E2BIG, "more than %d IP addresses", PKI_MAX_IPS);
		if (inet_pton(AF_INET, *ip, raw) != 1) {
			len = 16;
			if (inet_pton(AF_INET6, *ip, raw) != 1)
				return err_msg(err, EINVAL, "'%s' is not an IP address", *ip);
		}
		rv = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, raw, len,
							  GNUTLS_FSAN_APPEND);
		if (rv < 0)
			return tls_err(err, rv, "set IP address");
	}
	return 0;
}

/* Node extensions: not a CA, signatures only, TLS client and server. */
static int node_exts(gnutls_x509_crt_t crt, gnutls_x509_crt_t ca, struct err *err)
{
	unsigned char kid[64];
	size_t kid_len = sizeof(kid);
	int rv;

	if ((rv = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (rv = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (rv = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
	    (rv = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0)) < 0)
		return tls_err(err, rv, "set node extensions");
	if (gnutls_x509_crt_get_subject_key_id(ca, kid, &kid_len, NULL) >= 0 &&
	    (rv = gnutls_x509_crt_set_authority_key_id(crt, kid, kid_len)) < 0)
		return tls_err(err, rv, "set authority key id");
	kid_len = sizeof(kid);
	if ((rv = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, kid, &kid_len)) < 0 ||
	    (rv = gnutls_x509_crt_set_subject_key_id(crt, kid, kid_len)) < 0)
		return tls_err(err, rv, "set subject key id");
	return 0;
}

int pki_csr_sign(const char *ca_cert_pem, const char *ca_key_pem, const char *csr_pem,
		 const struct pki_names *names, time_t now, unsigned days, char **ret_cert_pem,
		 struct err *err)
{
	if (days == 0 || days > PKI_CA_DAYS)
		return err_msg(err, EINVAL, "certificate lifetime must be 1 to %d days",
			       PKI_CA_DAYS);
	return pki_csr_sign_ttl(ca_cert_pem, ca_key_pem, csr_pem, names, now,
				(int64_t)days * DAY, ret_cert_pem, err);
}

/* Clock skew tolerance: an hour, but at most a tenth of the lifetime (a 3-minute
 * certificate backdated by an hour would be due for renewal as soon as it is made). */
static time_t backdate(int64_t ttl_s)
{
	return ttl_s / 10 < BACKDATE ? (time_t)(ttl_s / 10) : BACKDATE;
}

int pki_csr_sign_ttl(const char *ca_cert_pem, const char *ca_key_pem, const char *csr_pem,
		     const struct pki_names *names, time_t now, int64_t ttl_s,
		     char **ret_cert_pem, struct err *err)
{
	_cleanup_crt_ gnutls_x509_crt_t ca = NULL, crt = NULL;
	_cleanup_key_ gnutls_x509_privkey_t ca_key = NULL;
	_cleanup_crq_ gnutls_x509_crq_t crq = NULL;
	time_t to, ca_to;
	int rv;

	if ((rv = name_check(names->name, err)) < 0)
		return rv;
	if (ttl_s < PKI_TTL_MIN || ttl_s > (int64_t)PKI_CA_DAYS * DAY)
		return err_msg(err, EINVAL, "certificate lifetime must be %d s to %d days",
			       PKI_TTL_MIN, PKI_CA_DAYS);
	if ((rv = crt_load(ca_cert_pem, &ca, "CA certificate", err)) < 0 ||
	    (rv = key_load(ca_key_pem, &ca_key, err)) < 0 ||
	    (rv = crq_load(csr_pem, names->name, &crq, err)) < 0)
		return rv;
	ca_to = gnutls_x509_crt_get_expiration_time(ca);
	if (ca_to <= now)
		return err_msg(err, EKEYEXPIRED, "the cluster CA expired");
	to = now + (time_t)ttl_s;
	if (to > ca_to)
		to = ca_to;
	if ((rv = gnutls_x509_crt_init(&crt)) < 0)
		return tls_err(err, rv, "init node certificate");
	if ((rv = gnutls_x509_crt_set_crq(crt, crq)) < 0) /* subject + public key only */
		return tls_err(err, rv, "copy certificate request");
	if ((rv = crt_basics(crt, now - backdate(ttl_s), to, err)) < 0 ||
	    (rv = set_sans(crt, names, err)) < 0 || (rv = node_exts(crt, ca, err)) < 0)
		return rv;
	if ((rv = gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0)) < 0)
		return tls_err(err, rv, "sign node certificate");
	return crt_export(crt, ret_cert_pem, err);
}

int pki_node_issue(const char *ca_cert_pem, const char *ca_key_pem, const struct pki_names *names,
		   time_t now, unsigned days, char **ret_cert_pem, char **ret_key_pem,
		   struct err *err)
{
	if (days == 0 || days > PKI_CA_DAYS)
		return err_msg(err, EINVAL, "certificate lifetime must be 1 to %d days",
			       PKI_CA_DAYS);
	return pki_node_issue_ttl(ca_cert_pem, ca_key_pem, names, now, (int64_t)days * DAY,
				  ret_cert_pem, ret_key_pem, err);
}

int pki_node_issue_ttl(const char *ca_cert_pem, const char *ca_key_pem,
		       const struct pki_names *names, time_t now, int64_t ttl_s,
		       char **ret_cert_pem, char **ret_key_pem, struct err *err)
{
	_cleanup_free_ char *key = NULL, *csr = NULL, *crt = NULL;
	int rv;

	if ((rv = pki_key_create(&key, err)) < 0 ||
	    (rv = pki_csr_create(key, names->name, &csr, err)) < 0 ||
	    (rv = pki_csr_sign_ttl(ca_cert_pem, ca_key_pem, csr, names, now, ttl_s, &crt, err)) < 0)
		return rv;
	*ret_cert_pem = take_ptr(crt);
	*ret_key_pem = take_ptr(key);
	return 0;
}

static int time_check(gnutls_x509_crt_t crt, const char *what, time_t now, struct err *err)
{
	time_t from = gnutls_x509_crt_get_activation_time(crt);
	time_t to = gnutls_x509_crt_get_expiration_time(crt);

	if (from == (time_t)-1 || to == (time_t)-1)
		return err_msg(err, EACCES, "%s has no usable validity period", what);
	if (now < from)
		return err_msg(err, EACCES, "%s is not valid yet", what);
	if (now >= to)
		return err_msg(err, EKEYEXPIRED, "%s expired", what);
	return 0;
}

int pki_verify(const char *ca_pem, const char *cert_pem, time_t now, struct err *err)
{
	_cleanup_crt_ gnutls_x509_crt_t ca = NULL, crt = NULL;
	unsigned status = 0, crit = 0, is_ca;
	gnutls_datum_t out = {0};
	int rv;

	if ((rv = crt_load(ca_pem, &ca, "CA certificate", err)) < 0 ||
	    (rv = crt_load(cert_pem, &crt, "certificate", err)) < 0)
		return rv;
	/* times are checked below against the injected clock, not the wall clock */
	rv = gnutls_x509_crt_verify(crt, &ca, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status);
	if (rv < 0)
		return tls_err(err, rv, "verify certificate");
	if (status) {
		gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0);
		err_msg(err, EACCES, "certificate not issued by this cluster's CA: %s",
			out.data ? (char *)out.data : "invalid");
		gnutls_free(out.data);
		return -EACCES;
	}
	is_ca = gnutls_x509_crt_get_basic_constraints(crt, &crit, NULL, NULL) > 0;
	if (is_ca)
		return err_msg(err, EACCES, "certificate is a CA, not a node certificate");
	if ((rv = time_check(ca, "the cluster CA", now, err)) < 0 ||
	    (rv = time_check(crt, "the certificate", now, err)) < 0)
		return rv;
	return 0;
}

int pki_fingerprint(const char *cert_pem, char ret_hex[PKI_FP_HEX + 1], struct err *err)
{
	_cleanup_crt_ gnutls_x509_crt_t crt = NULL;
	unsigned char fp[32];
	size_t len = sizeof(fp);
	int rv;

	if ((rv = crt_load(cert_pem, &crt, "certificate", err)) < 0)
		return rv;
	if ((rv = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp, &len)) < 0)
		return tls_err(err, rv, "fingerprint certificate");
	for (size_t i = 0; i < 32; i++)
		sprintf(ret_hex + 2 * i, "%02x", fp[i]);
	return 0;
}

int pki_cert_times(const char *cert_pem, time_t *ret_not_before, time_t *ret_not_after,
		   struct err *err)
{
	_cleanup_crt_ gnutls_x509_crt_t crt = NULL;
	int rv;

	if ((rv = crt_load(cert_pem, &crt, "certificate", err)) < 0)
		return rv;
	*ret_not_before = gnutls_x509_crt_get_activation_time(crt);
	*ret_not_after = gnutls_x509_crt_get_expiration_time(crt);
	return 0;
}

static int crt_info(gnutls_x509_crt_t crt, struct pki_cert_info *ret, struct err *err)
{
	unsigned char serial[64];
	size_t cn_len = sizeof(ret->cn), slen = sizeof(serial);
	int rv;

	memset(ret, 0, sizeof(*ret));
	rv = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, ret->cn, &cn_len);
	if (rv < 0)
		return err_msg(err, EINVAL, "certificate: no usable common name");
	if ((rv = gnutls_x509_crt_get_serial(crt, serial, &slen)) < 0)
		return tls_err(err, rv, "certificate serial");
	if (slen == 0 || slen * 2 > PKI_SERIAL_HEX)
		return err_msg(err, EINVAL, "certificate: serial of %zu bytes", slen);
	for (size_t i = 0; i < slen; i++)
		sprintf(ret->serial + 2 * i, "%02x", serial[i]);
	ret->not_before = gnutls_x509_crt_get_activation_time(crt);
	ret->not_after = gnutls_x509_crt_get_expiration_time(crt);
	return 0;
}

int pki_cert_info(const char *cert_pem, struct pki_cert_info *ret, struct err *err)
{
	_cleanup_crt_ gnutls_x509_crt_t crt = NULL;
	int rv;

	if ((rv = crt_load(cert_pem, &crt, "certificate", err)) < 0)
		return rv;
	return crt_info(crt, ret, err);
}

int pki_cert_info_der(const void *der, size_t len, struct pki_cert_info *ret, struct err *err)
{
	_cleanup_crt_ gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { .data = (unsigned char *)der, .size = (unsigned)len };
	int rv;

	if (!der || len == 0 || len > PKI_PEM_MAX)
		return err_msg(err, EINVAL, "certificate: missing or too large");
	if ((rv = gnutls_x509_crt_init(&crt)) < 0)
		return tls_err(err, rv, "init certificate");
	if ((rv = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER)) < 0)
		return tls_err(err, rv, "read certificate");
	return crt_info(crt, ret, err);
}

bool pki_needs_renewal(time_t not_before, time_t not_after, time_t now)
{
	if (not_after <= not_before || now >= not_after)
		return true;
	/* remaining < lifetime / 3, in integers without overflow */
	return (not_after - now) < (not_after - not_before) / 3;
}

int pki_write(const char *dir, const char *file, const char *pem, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
	int rv;

	if ((rv = fs_mkdir_p(dir, 0700, err)) < 0)
		return rv;
	if (chmod(dir, 0700) < 0)
		return err_sys(err, errno, "chmod '%s'", dir);
	return fs_write_atomic(path, pem, strlen(pem), 0600, err);
}

int pki_read(const char *dir, const char *file, char **ret_pem, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
	return fs_read(path, ret_pem, err);
}

int pki_init_dir(const char *dir, const struct pki_names *names, time_t now, int64_t ttl_s,
		 char ret_fp[PKI_FP_HEX + 1], struct err *err)
{
	_cleanup_free_ char *ca = NULL, *ca_key = NULL, *crt = NULL, *key = NULL;
	_cleanup_free_ char *probe = NULL;
	struct stat st;
	int rv;

	if (!dir)
		dir = PKI_DIR_DEFAULT;
	probe = xasprintf("%s/ca.crt", dir);
	if (stat(probe, &st) == 0)
		return err_msg(err, EEXIST, "'%s' exists: this node already has a cluster CA",
			       probe);
	if ((rv = pki_ca_create(NULL, now, &ca, &ca_key, err)) < 0 ||
	    (rv = pki_node_issue_ttl(ca, ca_key, names, now, ttl_s, &crt, &key, err)) < 0)
		return rv;
	/* the key files first: a crash leaves no certificate without its key */
	if ((rv = pki_write(dir, "ca.key", ca_key, err)) < 0 ||
	    (rv = pki_write(dir, "node.key", key, err)) < 0 ||
	    (rv = pki_write(dir, "node.crt", crt, err)) < 0 ||
	    (rv = pki_write(dir, "ca.crt", ca, err)) < 0)
		return rv;
	return ret_fp ? pki_fingerprint(ca, ret_fp, err) : 0;
}

bool pki_pair_matches(const char *cert_pem, const char *key_pem)
{
	_cleanup_crt_ gnutls_x509_crt_t crt = NULL;
	_cleanup_key_ gnutls_x509_privkey_t key = NULL;
	unsigned char a[64], b[64];
	size_t alen = sizeof(a), blen = sizeof(b);

	return crt_load(cert_pem, &crt, "certificate", NULL) == 0 &&
	       key_load(key_pem, &key, NULL) == 0 &&
	       gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &alen) >= 0 &&
	       gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &blen) >= 0 &&
	       alen == blen && memcmp(a, b, alen) == 0;
}

int pki_renew_dir(const char *dir, const struct pki_names *names, time_t now, int64_t ttl_s,
		  bool *ret_renewed, struct err *err)
{
	_cleanup_free_ char *ca = NULL, *ca_key = NULL, *old = NULL, *crt = NULL, *key = NULL;
	time_t from, to;
	int rv;

	if (ret_renewed)
		*ret_renewed = false;
	if (!dir)
		dir = PKI_DIR_DEFAULT;
	_cleanup_free_ char *old_key = NULL;
	if ((rv = pki_read(dir, "node.crt", &old, err)) < 0 ||
	    (rv = pki_cert_times(old, &from, &to, err)) < 0)
		return rv;
	/* a crash between the two writes below leaves a mismatched pair: renew that too */
	if (!pki_needs_renewal(from, to, now) && pki_read(dir, "node.key", &old_key, NULL) == 0 &&
	    pki_pair_matches(old, old_key))
		return 0;
	if ((rv = pki_read(dir, "ca.crt", &ca, err)) < 0 ||
	    (rv = pki_read(dir, "ca.key", &ca_key, err)) < 0 ||
	    (rv = pki_node_issue_ttl(ca, ca_key, names, now, ttl_s, &crt, &key, err)) < 0)
		return rv;
	/* key before certificate: a crash in between leaves a mismatched pair, which the
	 * next call renews (above) */
	if ((rv = pki_write(dir, "node.key", key, err)) < 0 ||
	    (rv = pki_write(dir, "node.crt", crt, err)) < 0)
		return rv;
	if (ret_renewed)
		*ret_renewed = true;
	return 0;
}
