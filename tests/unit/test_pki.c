/* Unit tests for cluster/pki and cluster/join: a CA issues node certificates that verify
 * against it and not against another CA; expiry and the renewal window with an injected
 * clock; the CSR flow signs only what the CA decides; files are 0600 under a 0700 dir;
 * join tokens round-trip and every kind of bad token is refused with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gnutls/x509.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/util.h"
#include "cluster/join.h"
#include "cluster/pki.h"

#define NOW ((time_t)1800000000)
#define DAY 86400

static const char *const ips[] = {"127.0.0.1", "10.0.0.7", "fd00::7", NULL};
static const struct pki_names node1 = {.name = "node1", .ips = ips};

static void test_ca_and_node(void **state)
{
	_cleanup_free_ char *ca = NULL, *ca_key = NULL, *crt = NULL, *key = NULL;
	_cleanup_free_ char *ca2 = NULL, *ca2_key = NULL, *crt2 = NULL, *key2 = NULL;
	struct err err = {0};
	time_t from, to;

	assert_int_equal(pki_ca_create(NULL, NOW, &ca, &ca_key, &err), 0);
	assert_non_null(strstr(ca, "BEGIN CERTIFICATE"));
	assert_int_equal(pki_cert_times(ca, &from, &to, &err), 0);
	assert_true(to - from >= (time_t)PKI_CA_DAYS * DAY);

	assert_int_equal(pki_node_issue(ca, ca_key, &node1, NOW, PKI_NODE_DAYS, &crt, &key, &err),
			 0);
	assert_int_equal(pki_verify(ca, crt, NOW, &err), 0);
	assert_int_equal(pki_cert_times(crt, &from, &to, &err), 0);
	assert_int_equal(to, NOW + PKI_NODE_DAYS * DAY);

	/* SANs: name and IPs, usable for hostname/IP checks */
	gnutls_x509_crt_t c;
	gnutls_datum_t d = {(unsigned char *)crt, strlen(crt)};
	assert_int_equal(gnutls_x509_crt_init(&c), 0);
	assert_int_equal(gnutls_x509_crt_import(c, &d, GNUTLS_X509_FMT_PEM), 0);
	assert_true(gnutls_x509_crt_check_hostname(c, "node1"));
	assert_true(gnutls_x509_crt_check_hostname(c, "10.0.0.7"));
	assert_false(gnutls_x509_crt_check_hostname(c, "node2"));
	assert_false(gnutls_x509_crt_check_hostname(c, "10.0.0.8"));
	gnutls_x509_crt_deinit(c);

	/* another CA's certificate is refused, and a CA is not a node certificate */
	assert_int_equal(pki_ca_create(NULL, NOW, &ca2, &ca2_key, &err), 0);
	assert_int_equal(pki_node_issue(ca2, ca2_key, &node1, NOW, 90, &crt2, &key2, &err), 0);
	assert_int_equal(pki_verify(ca, crt2, NOW, &err), -EACCES);
	assert_non_null(strstr(err.msg, "not issued by this cluster's CA"));
	assert_int_equal(pki_verify(ca2, crt, NOW, &err), -EACCES);
	assert_int_equal(pki_verify(ca, ca, NOW, &err), -EACCES);

	/* expiry with an injected clock */
	assert_int_equal(pki_verify(ca, crt, NOW + 91 * DAY, &err), -EKEYEXPIRED);
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal(pki_verify(ca, crt, NOW - 2 * 3600, &err), -EACCES);
	assert_non_null(strstr(err.msg, "not valid yet"));

	/* bad inputs */
	assert_int_equal(pki_verify(ca, "garbage", NOW, &err), -EINVAL);
	const struct pki_names bad = {.name = "Node_1"};
	_cleanup_free_ char *x = NULL, *y = NULL;
	assert_int_equal(pki_node_issue(ca, ca_key, &bad, NOW, 90, &x, &y, &err), -EINVAL);
	const char *const badip[] = {"10.0.0.300", NULL};
	const struct pki_names bad2 = {.name = "n", .ips = badip};
	assert_int_equal(pki_node_issue(ca, ca_key, &bad2, NOW, 90, &x, &y, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not an IP address"));
}

static void test_csr_flow(void **state)
{
	_cleanup_free_ char *ca = NULL, *ca_key = NULL, *key = NULL, *csr = NULL, *crt = NULL;
	_cleanup_free_ char *other = NULL;
	struct err err = {0};
	time_t from, to;

	assert_int_equal(pki_ca_create(NULL, NOW, &ca, &ca_key, &err), 0);
	assert_int_equal(pki_key_create(&key, &err), 0);
	assert_int_equal(pki_csr_create(key, "node2", &csr, &err), 0);
	/* the CSR must name the node the server signs for */
	assert_int_equal(pki_csr_sign(ca, ca_key, csr, &node1, NOW, 90, &other, &err), -EACCES);
	assert_non_null(strstr(err.msg, "is for 'node2'"));
	const struct pki_names n2 = {.name = "node2", .ips = ips};
	assert_int_equal(pki_csr_sign(ca, ca_key, csr, &n2, NOW, 90, &crt, &err), 0);
	assert_int_equal(pki_verify(ca, crt, NOW, &err), 0);
	/* lifetime is capped by the CA's */
	free(crt);
	crt = NULL;
	assert_int_equal(pki_csr_sign(ca, ca_key, csr, &n2, NOW + 3640L * DAY, 90, &crt, &err), 0);
	assert_int_equal(pki_cert_times(crt, &from, &to, &err), 0);
	assert_true(to <= NOW + 3650L * DAY);
	/* a tampered CSR is refused */
	_cleanup_free_ char *bad = xstrdup(csr);
	char *p = strstr(bad, "-----END") - 10;
	*p = *p == 'A' ? 'B' : 'A';
	assert_true(pki_csr_sign(ca, ca_key, bad, &n2, NOW, 90, &other, &err) < 0);
}

static void test_renewal_window(void **state)
{
	time_t from = NOW, to = NOW + 90 * DAY;

	assert_false(pki_needs_renewal(from, to, NOW));
	assert_false(pki_needs_renewal(from, to, NOW + 59 * DAY));
	assert_false(pki_needs_renewal(from, to, NOW + 60 * DAY)); /* exactly 1/3 left */
	assert_true(pki_needs_renewal(from, to, NOW + 60 * DAY + 1));
	assert_true(pki_needs_renewal(from, to, to));
	assert_true(pki_needs_renewal(from, to, to + 1));
	assert_true(pki_needs_renewal(to, from, NOW)); /* nonsense window */
}

/* A short lifetime (coop init --cert-ttl): backdated by a tenth, so the renewal rule
 * fires after two thirds of the TTL; too short a TTL is refused. The identity a TLS
 * peer's certificate carries (CN, serial) reads the same from PEM and DER. */
static void test_short_ttl_and_info(void **state)
{
	_cleanup_free_ char *ca = NULL, *ca_key = NULL, *key = NULL, *csr = NULL, *crt = NULL;
	_cleanup_free_ char *crt2 = NULL, *key2 = NULL, *x = NULL;
	struct pki_cert_info a, b, d;
	struct err err = {0};

	assert_int_equal(pki_ca_create(NULL, NOW, &ca, &ca_key, &err), 0);
	assert_int_equal(pki_key_create(&key, &err), 0);
	assert_int_equal(pki_csr_create(key, "node1", &csr, &err), 0);
	assert_int_equal(pki_csr_sign_ttl(ca, ca_key, csr, &node1, NOW, 59, &x, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "lifetime"));
	assert_null(x);
	assert_int_equal(pki_csr_sign_ttl(ca, ca_key, csr, &node1, NOW, 180, &crt, &err), 0);
	assert_int_equal(pki_cert_info(crt, &a, &err), 0);
	assert_string_equal(a.cn, "node1");
	assert_int_equal(a.not_after, NOW + 180);
	assert_int_equal(a.not_before, NOW - 18);
	assert_false(pki_needs_renewal(a.not_before, a.not_after, NOW + 100));
	assert_true(pki_needs_renewal(a.not_before, a.not_after, NOW + 121));
	assert_int_equal(strlen(a.serial), 32);
	assert_true(pki_pair_matches(crt, key));
	/* a second certificate for the same key has another serial */
	assert_int_equal(pki_node_issue_ttl(ca, ca_key, &node1, NOW, 3600, &crt2, &key2, &err), 0);
	assert_int_equal(pki_cert_info(crt2, &b, &err), 0);
	assert_string_not_equal(a.serial, b.serial);
	assert_false(pki_pair_matches(crt2, key));
	/* DER, as gnutls_certificate_get_peers() gives it */
	gnutls_x509_crt_t c;
	gnutls_datum_t in = {(unsigned char *)crt, strlen(crt)}, der = {0};
	assert_int_equal(gnutls_x509_crt_init(&c), 0);
	assert_int_equal(gnutls_x509_crt_import(c, &in, GNUTLS_X509_FMT_PEM), 0);
	assert_int_equal(gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_DER, &der), 0);
	assert_int_equal(pki_cert_info_der(der.data, der.size, &d, &err), 0);
	assert_string_equal(d.serial, a.serial);
	assert_string_equal(d.cn, "node1");
	assert_int_equal(pki_cert_info_der("junk", 4, &d, &err), -EINVAL);
	gnutls_free(der.data);
	gnutls_x509_crt_deinit(c);
}

static void test_files(void **state)
{
	char tmpl[] = "/tmp/coop-pki-XXXXXX";
	char *dir = mkdtemp(tmpl);
	_cleanup_free_ char *pki = NULL, *ca = NULL, *crt = NULL, *crt2 = NULL;
	char fp[PKI_FP_HEX + 1], fp2[PKI_FP_HEX + 1];
	struct err err = {0};
	struct stat st;
	bool renewed;

	assert_non_null(dir);
	pki = xasprintf("%s/pki", dir);
	assert_int_equal(pki_init_dir(pki, &node1, NOW, PKI_NODE_TTL, fp, &err), 0);
	assert_int_equal(strlen(fp), PKI_FP_HEX);
	assert_int_equal(stat(pki, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	const char *files[] = {"ca.crt", "ca.key", "node.crt", "node.key"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", pki, files[i]);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	assert_int_equal(pki_init_dir(pki, &node1, NOW, PKI_NODE_TTL, NULL, &err), -EEXIST);
	assert_int_equal(pki_read(pki, "ca.crt", &ca, &err), 0);
	assert_int_equal(pki_fingerprint(ca, fp2, &err), 0);
	assert_string_equal(fp, fp2);

	assert_int_equal(pki_renew_dir(pki, &node1, NOW + 30 * DAY, PKI_NODE_TTL, &renewed, &err), 0);
	assert_false(renewed);
	assert_int_equal(pki_read(pki, "node.crt", &crt, &err), 0);
	assert_int_equal(pki_renew_dir(pki, &node1, NOW + 61 * DAY, PKI_NODE_TTL, &renewed, &err), 0);
	assert_true(renewed);
	assert_int_equal(pki_read(pki, "node.crt", &crt2, &err), 0);
	assert_string_not_equal(crt, crt2);
	assert_int_equal(pki_verify(ca, crt2, NOW + 100 * DAY, &err), 0);
	/* a torn renewal (new key, old certificate) is repaired by the next call */
	_cleanup_free_ char *key = NULL;
	assert_int_equal(pki_key_create(&key, &err), 0);
	assert_int_equal(pki_write(pki, "node.key", key, &err), 0);
	assert_int_equal(pki_renew_dir(pki, &node1, NOW + 62 * DAY, PKI_NODE_TTL, &renewed, &err), 0);
	assert_true(renewed);
	assert_int_equal(pki_renew_dir(pki, &node1, NOW + 62 * DAY, PKI_NODE_TTL, &renewed, &err), 0);
	assert_false(renewed);
	assert_int_equal(fs_rm_rf(dir, &err), 0);
}

static void test_token_roundtrip(void **state)
{
	_cleanup_free_ char *ca = NULL, *ca_key = NULL;
	char fp[PKI_FP_HEX + 1], buf[JOIN_TOKEN_MAX], rec[JOIN_RECORD_MAX];
	struct join_token t, t2;
	struct join_record r, r2;
	struct err err = {0};

	assert_int_equal(pki_ca_create(NULL, NOW, &ca, &ca_key, &err), 0);
	assert_int_equal(pki_fingerprint(ca, fp, &err), 0);
	assert_int_equal(join_token_new(fp, JOIN_ROLE_SERVER, NOW + DAY, &t, &r, &err), 0);
	assert_int_equal(join_token_format(&t, buf, &err), 0);
	assert_int_equal(strlen(buf), 119);
	assert_memory_equal(buf, "COOP1-", 6);
	assert_non_null(strstr(buf, "-server-"));
	assert_int_equal(join_token_parse(buf, &t2, &err), 0);
	assert_memory_equal(&t, &t2, sizeof(t));
	/* the secret is accepted in lowercase too */
	char low[JOIN_TOKEN_MAX];
	strcpy(low, buf);
	for (char *p = low + 6 + 64 + 8; p < low + 6 + 64 + 8 + 32; p++)
		*p = (*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p;
	assert_int_equal(join_token_parse(low, &t2, &err), 0);
	assert_string_equal(t2.secret, t.secret);

	assert_int_equal(join_record_format(&r, rec, &err), 0);
	assert_int_equal(join_record_parse(rec, &r2, &err), 0);
	assert_memory_equal(&r, &r2, sizeof(r));
	assert_null(strstr(rec, t.secret)); /* only the hash is stored */

	/* the server accepts it, for its role, before expiry */
	assert_int_equal(join_check(&r, 1, fp, buf, JOIN_ROLE_SERVER, NOW, &err), 0);
	/* joiner side: the real CA passes, another CA (a fake seed) does not */
	assert_int_equal(join_ca_check(&t, ca, &err), 0);
	_cleanup_free_ char *fake = NULL, *fake_key = NULL;
	assert_int_equal(pki_ca_create(NULL, NOW, &fake, &fake_key, &err), 0);
	assert_int_equal(join_ca_check(&t, fake, &err), -EPERM);
	assert_non_null(strstr(err.msg, "refusing to trust"));
}

static void test_token_rejects(void **state)
{
	_cleanup_free_ char *ca = NULL, *ca_key = NULL, *key = NULL, *csr = NULL, *crt = NULL;
	char fp[PKI_FP_HEX + 1], buf[JOIN_TOKEN_MAX], abuf[JOIN_TOKEN_MAX], bad[JOIN_TOKEN_MAX];
	struct join_token t, a;
	struct join_record r[2];
	struct err err = {0};

	assert_int_equal(pki_ca_create(NULL, NOW, &ca, &ca_key, &err), 0);
	assert_int_equal(pki_fingerprint(ca, fp, &err), 0);
	assert_int_equal(join_token_new(fp, JOIN_ROLE_SERVER, NOW + DAY, &t, &r[0], &err), 0);
	assert_int_equal(join_token_new(fp, JOIN_ROLE_AGENT, 0, &a, &r[1], &err), 0);
	assert_int_equal(join_token_format(&t, buf, &err), 0);
	assert_int_equal(join_token_format(&a, abuf, &err), 0);

	/* malformed */
	const char *malformed[] = {"",	    "COOP2-",	"COOP1-", "COOP1-ab-server-X-12345678",
				   "hello", "COOP1----"};
	for (size_t i = 0; i < ARRAY_SIZE(malformed); i++) {
		assert_int_equal(join_check(r, 2, fp, malformed[i], JOIN_ROLE_SERVER, NOW, &err),
				 -EINVAL);
		assert_non_null(strstr(err.msg, "malformed join token"));
	}
	/* a typo anywhere is caught by the checksum */
	strcpy(bad, buf);
	bad[80] = bad[80] == 'A' ? 'B' : 'A';
	assert_int_equal(join_check(r, 2, fp, bad, JOIN_ROLE_SERVER, NOW, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "checksum"));
	/* truncated */
	strcpy(bad, buf);
	bad[strlen(bad) - 1] = '\0';
	assert_int_equal(join_check(r, 2, fp, bad, JOIN_ROLE_SERVER, NOW, &err), -EINVAL);

	/* wrong role both ways */
	assert_int_equal(join_check(r, 2, fp, abuf, JOIN_ROLE_SERVER, NOW, &err), -EACCES);
	assert_non_null(strstr(err.msg, "grants role agent, not server"));
	assert_int_equal(join_check(r, 2, fp, abuf, JOIN_ROLE_AGENT, NOW, &err), 0);
	/* a role edited in the text (checksum recomputed) matches no record */
	struct join_token forged = t;
	forged.role = JOIN_ROLE_AGENT;
	assert_int_equal(join_token_format(&forged, bad, &err), 0);
	assert_int_equal(join_check(r, 2, fp, bad, JOIN_ROLE_AGENT, NOW, &err), -EACCES);
	assert_non_null(strstr(err.msg, "not valid"));

	/* expired (agent token: never expires) */
	assert_int_equal(join_check(r, 2, fp, buf, JOIN_ROLE_SERVER, NOW + DAY, &err), -EACCES);
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal(join_check(r, 2, fp, abuf, JOIN_ROLE_AGENT, NOW + 999 * DAY, &err), 0);

	/* another cluster's token, and a revoked one (no record) */
	char fp2[PKI_FP_HEX + 1];
	memcpy(fp2, fp, sizeof(fp));
	fp2[0] = fp2[0] == '0' ? '1' : '0';
	assert_int_equal(join_check(r, 2, fp2, buf, JOIN_ROLE_SERVER, NOW, &err), -EACCES);
	assert_non_null(strstr(err.msg, "another cluster"));
	assert_int_equal(join_check(&r[1], 1, fp, buf, JOIN_ROLE_SERVER, NOW, &err), -EACCES);
	assert_non_null(strstr(err.msg, "not valid"));
	/* a guessed secret */
	struct join_token guess = t;
	guess.secret[0] = guess.secret[0] == 'A' ? 'B' : 'A';
	assert_int_equal(join_token_format(&guess, bad, &err), 0);
	assert_int_equal(join_check(r, 2, fp, bad, JOIN_ROLE_SERVER, NOW, &err), -EACCES);

	/* records: malformed storage refused */
	struct join_record rr;
	assert_int_equal(join_record_parse("v1:server:1:zz:zz", &rr, &err), -EINVAL);
	assert_int_equal(
	    join_record_parse("v1:root:1:"
			      "00000000000000000000000000000000:"
			      "0000000000000000000000000000000000000000000000000000000000000000",
			      &rr, &err),
	    -EINVAL);

	/* the whole server step: token + CSR → certificate; bad token → nothing signed */
	assert_int_equal(pki_key_create(&key, &err), 0);
	assert_int_equal(pki_csr_create(key, "node1", &csr, &err), 0);
	assert_int_equal(
	    join_sign(ca, ca_key, r, 2, abuf, JOIN_ROLE_SERVER, csr, &node1, NOW, PKI_NODE_TTL, &crt, &err),
	    -EACCES);
	assert_null(crt);
	assert_int_equal(
	    join_sign(ca, ca_key, r, 2, buf, JOIN_ROLE_SERVER, csr, &node1, NOW, PKI_NODE_TTL, &crt, &err), 0);
	assert_int_equal(pki_verify(ca, crt, NOW, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ca_and_node),	    cmocka_unit_test(test_csr_flow),
	    cmocka_unit_test(test_renewal_window),  cmocka_unit_test(test_files),
	    cmocka_unit_test(test_short_ttl_and_info),
	    cmocka_unit_test(test_token_roundtrip), cmocka_unit_test(test_token_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
