/* dl_gnutls: GnuTLS, loaded on first use (see base/dl.h): digests and tokens (image/digest.c,
 * api/auth.c), the TLS listener (api/server.c) and the cluster (PKI, join, transport). Include
 * this instead of <gnutls/...>. Its library constructor initialises it on dlopen. gnutls_free
 * is a variable (a function pointer) in GnuTLS 3.7, so its slot holds its address. */
#ifndef COOP_BASE_DL_GNUTLS_H
#define COOP_BASE_DL_GNUTLS_H

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "base/dl.h"

#define DL_GNUTLS_SONAME "libgnutls.so.30"
#define DL_GNUTLS_PACKAGE "libgnutls30"

/* The functions coop calls; adding a call to another one means adding it here. */
#define DL_GNUTLS_FUNCS(X) \
	X(gnutls_free) X(gnutls_alert_get) X(gnutls_alert_get_name) \
	X(gnutls_alert_send_appropriate) X(gnutls_bye) \
	X(gnutls_certificate_allocate_credentials) X(gnutls_certificate_free_credentials) \
	X(gnutls_certificate_get_peers) X(gnutls_certificate_server_set_request) \
	X(gnutls_certificate_set_x509_key_mem) X(gnutls_certificate_set_x509_trust_mem) \
	X(gnutls_certificate_type_get) X(gnutls_certificate_verification_status_print) \
	X(gnutls_certificate_verify_peers2) X(gnutls_credentials_set) X(gnutls_deinit) \
	X(gnutls_handshake) X(gnutls_hash) X(gnutls_hash_deinit) X(gnutls_hash_fast) \
	X(gnutls_hash_init) X(gnutls_hmac_fast) X(gnutls_init) X(gnutls_memset) \
	X(gnutls_pbkdf2) X(gnutls_pcert_deinit) X(gnutls_pcert_import_x509_raw) \
	X(gnutls_priority_set_direct) X(gnutls_privkey_deinit) \
	X(gnutls_privkey_import_x509_raw) X(gnutls_privkey_init) \
	X(gnutls_record_get_direction) X(gnutls_record_recv) X(gnutls_record_send) \
	X(gnutls_rnd) X(gnutls_session_get_ptr) X(gnutls_session_get_verify_cert_status) \
	X(gnutls_session_set_verify_cert) X(gnutls_strerror) X(gnutls_x509_crq_deinit) \
	X(gnutls_x509_crq_export2) X(gnutls_x509_crq_get_dn_by_oid) X(gnutls_x509_crq_import) \
	X(gnutls_x509_crq_init) X(gnutls_x509_crq_set_dn_by_oid) X(gnutls_x509_crq_set_key) \
	X(gnutls_x509_crq_set_version) X(gnutls_x509_crq_sign2) X(gnutls_x509_crq_verify) \
	X(gnutls_x509_crt_check_hostname) X(gnutls_x509_crt_deinit) X(gnutls_x509_crt_export2) \
	X(gnutls_x509_crt_get_activation_time) X(gnutls_x509_crt_get_basic_constraints) \
	X(gnutls_x509_crt_get_dn_by_oid) X(gnutls_x509_crt_get_expiration_time) \
	X(gnutls_x509_crt_get_fingerprint) X(gnutls_x509_crt_get_key_id) \
	X(gnutls_x509_crt_get_serial) X(gnutls_x509_crt_get_subject_key_id) \
	X(gnutls_x509_crt_import) X(gnutls_x509_crt_init) \
	X(gnutls_x509_crt_set_activation_time) X(gnutls_x509_crt_set_authority_key_id) \
	X(gnutls_x509_crt_set_basic_constraints) X(gnutls_x509_crt_set_crq) \
	X(gnutls_x509_crt_set_dn_by_oid) X(gnutls_x509_crt_set_expiration_time) \
	X(gnutls_x509_crt_set_key) X(gnutls_x509_crt_set_key_purpose_oid) \
	X(gnutls_x509_crt_set_key_usage) X(gnutls_x509_crt_set_serial) \
	X(gnutls_x509_crt_set_subject_alt_name) X(gnutls_x509_crt_set_subject_key_id) \
	X(gnutls_x509_crt_set_version) X(gnutls_x509_crt_sign2) X(gnutls_x509_crt_verify) \
	X(gnutls_x509_privkey_deinit) X(gnutls_x509_privkey_export2_pkcs8) \
	X(gnutls_x509_privkey_generate) X(gnutls_x509_privkey_get_key_id) \
	X(gnutls_x509_privkey_import2) X(gnutls_x509_privkey_init) \
	X(gnutls_transport_set_int2)

struct dl_gnutls_fns {
	DL_GNUTLS_FUNCS(DL_MEMBER)
};
extern struct dl_lib dl_gnutls;
extern struct dl_gnutls_fns dl_gnutls_fns;

#ifndef DL_IMPL
#define gnutls_free (*DL_CALLS(gnutls).gnutls_free)
#define gnutls_alert_get (DL_CALLS(gnutls).gnutls_alert_get)
#define gnutls_alert_get_name (DL_CALLS(gnutls).gnutls_alert_get_name)
#define gnutls_alert_send_appropriate (DL_CALLS(gnutls).gnutls_alert_send_appropriate)
#define gnutls_bye (DL_CALLS(gnutls).gnutls_bye)
#define gnutls_certificate_allocate_credentials (DL_CALLS(gnutls).gnutls_certificate_allocate_credentials)
#define gnutls_certificate_free_credentials (DL_CALLS(gnutls).gnutls_certificate_free_credentials)
#define gnutls_certificate_get_peers (DL_CALLS(gnutls).gnutls_certificate_get_peers)
#define gnutls_certificate_server_set_request (DL_CALLS(gnutls).gnutls_certificate_server_set_request)
#define gnutls_certificate_set_x509_key_mem (DL_CALLS(gnutls).gnutls_certificate_set_x509_key_mem)
#define gnutls_certificate_set_x509_trust_mem (DL_CALLS(gnutls).gnutls_certificate_set_x509_trust_mem)
#define gnutls_certificate_type_get (DL_CALLS(gnutls).gnutls_certificate_type_get)
#define gnutls_certificate_verification_status_print (DL_CALLS(gnutls).gnutls_certificate_verification_status_print)
#define gnutls_certificate_verify_peers2 (DL_CALLS(gnutls).gnutls_certificate_verify_peers2)
#define gnutls_credentials_set (DL_CALLS(gnutls).gnutls_credentials_set)
#define gnutls_deinit (DL_CALLS(gnutls).gnutls_deinit)
#define gnutls_handshake (DL_CALLS(gnutls).gnutls_handshake)
#define gnutls_hash (DL_CALLS(gnutls).gnutls_hash)
#define gnutls_hash_deinit (DL_CALLS(gnutls).gnutls_hash_deinit)
#define gnutls_hash_fast (DL_CALLS(gnutls).gnutls_hash_fast)
#define gnutls_hash_init (DL_CALLS(gnutls).gnutls_hash_init)
#define gnutls_hmac_fast (DL_CALLS(gnutls).gnutls_hmac_fast)
#define gnutls_init (DL_CALLS(gnutls).gnutls_init)
#define gnutls_memset (DL_CALLS(gnutls).gnutls_memset)
#define gnutls_pbkdf2 (DL_CALLS(gnutls).gnutls_pbkdf2)
#define gnutls_pcert_deinit (DL_CALLS(gnutls).gnutls_pcert_deinit)
#define gnutls_pcert_import_x509_raw (DL_CALLS(gnutls).gnutls_pcert_import_x509_raw)
#define gnutls_priority_set_direct (DL_CALLS(gnutls).gnutls_priority_set_direct)
#define gnutls_privkey_deinit (DL_CALLS(gnutls).gnutls_privkey_deinit)
#define gnutls_privkey_import_x509_raw (DL_CALLS(gnutls).gnutls_privkey_import_x509_raw)
#define gnutls_privkey_init (DL_CALLS(gnutls).gnutls_privkey_init)
#define gnutls_record_get_direction (DL_CALLS(gnutls).gnutls_record_get_direction)
#define gnutls_record_recv (DL_CALLS(gnutls).gnutls_record_recv)
#define gnutls_record_send (DL_CALLS(gnutls).gnutls_record_send)
#define gnutls_rnd (DL_CALLS(gnutls).gnutls_rnd)
#define gnutls_session_get_ptr (DL_CALLS(gnutls).gnutls_session_get_ptr)
#define gnutls_session_get_verify_cert_status (DL_CALLS(gnutls).gnutls_session_get_verify_cert_status)
#define gnutls_session_set_verify_cert (DL_CALLS(gnutls).gnutls_session_set_verify_cert)
#define gnutls_strerror (DL_CALLS(gnutls).gnutls_strerror)
#define gnutls_x509_crq_deinit (DL_CALLS(gnutls).gnutls_x509_crq_deinit)
#define gnutls_x509_crq_export2 (DL_CALLS(gnutls).gnutls_x509_crq_export2)
#define gnutls_x509_crq_get_dn_by_oid (DL_CALLS(gnutls).gnutls_x509_crq_get_dn_by_oid)
#define gnutls_x509_crq_import (DL_CALLS(gnutls).gnutls_x509_crq_import)
#define gnutls_x509_crq_init (DL_CALLS(gnutls).gnutls_x509_crq_init)
#define gnutls_x509_crq_set_dn_by_oid (DL_CALLS(gnutls).gnutls_x509_crq_set_dn_by_oid)
#define gnutls_x509_crq_set_key (DL_CALLS(gnutls).gnutls_x509_crq_set_key)
#define gnutls_x509_crq_set_version (DL_CALLS(gnutls).gnutls_x509_crq_set_version)
#define gnutls_x509_crq_sign2 (DL_CALLS(gnutls).gnutls_x509_crq_sign2)
#define gnutls_x509_crq_verify (DL_CALLS(gnutls).gnutls_x509_crq_verify)
#define gnutls_x509_crt_check_hostname (DL_CALLS(gnutls).gnutls_x509_crt_check_hostname)
#define gnutls_x509_crt_deinit (DL_CALLS(gnutls).gnutls_x509_crt_deinit)
#define gnutls_x509_crt_export2 (DL_CALLS(gnutls).gnutls_x509_crt_export2)
#define gnutls_x509_crt_get_activation_time (DL_CALLS(gnutls).gnutls_x509_crt_get_activation_time)
#define gnutls_x509_crt_get_basic_constraints (DL_CALLS(gnutls).gnutls_x509_crt_get_basic_constraints)
#define gnutls_x509_crt_get_dn_by_oid (DL_CALLS(gnutls).gnutls_x509_crt_get_dn_by_oid)
#define gnutls_x509_crt_get_expiration_time (DL_CALLS(gnutls).gnutls_x509_crt_get_expiration_time)
#define gnutls_x509_crt_get_fingerprint (DL_CALLS(gnutls).gnutls_x509_crt_get_fingerprint)
#define gnutls_x509_crt_get_key_id (DL_CALLS(gnutls).gnutls_x509_crt_get_key_id)
#define gnutls_x509_crt_get_serial (DL_CALLS(gnutls).gnutls_x509_crt_get_serial)
#define gnutls_x509_crt_get_subject_key_id (DL_CALLS(gnutls).gnutls_x509_crt_get_subject_key_id)
#define gnutls_x509_crt_import (DL_CALLS(gnutls).gnutls_x509_crt_import)
#define gnutls_x509_crt_init (DL_CALLS(gnutls).gnutls_x509_crt_init)
#define gnutls_x509_crt_set_activation_time (DL_CALLS(gnutls).gnutls_x509_crt_set_activation_time)
#define gnutls_x509_crt_set_authority_key_id (DL_CALLS(gnutls).gnutls_x509_crt_set_authority_key_id)
#define gnutls_x509_crt_set_basic_constraints (DL_CALLS(gnutls).gnutls_x509_crt_set_basic_constraints)
#define gnutls_x509_crt_set_crq (DL_CALLS(gnutls).gnutls_x509_crt_set_crq)
#define gnutls_x509_crt_set_dn_by_oid (DL_CALLS(gnutls).gnutls_x509_crt_set_dn_by_oid)
#define gnutls_x509_crt_set_expiration_time (DL_CALLS(gnutls).gnutls_x509_crt_set_expiration_time)
#define gnutls_x509_crt_set_key (DL_CALLS(gnutls).gnutls_x509_crt_set_key)
#define gnutls_x509_crt_set_key_purpose_oid (DL_CALLS(gnutls).gnutls_x509_crt_set_key_purpose_oid)
#define gnutls_x509_crt_set_key_usage (DL_CALLS(gnutls).gnutls_x509_crt_set_key_usage)
#define gnutls_x509_crt_set_serial (DL_CALLS(gnutls).gnutls_x509_crt_set_serial)
#define gnutls_x509_crt_set_subject_alt_name (DL_CALLS(gnutls).gnutls_x509_crt_set_subject_alt_name)
#define gnutls_x509_crt_set_subject_key_id (DL_CALLS(gnutls).gnutls_x509_crt_set_subject_key_id)
#define gnutls_x509_crt_set_version (DL_CALLS(gnutls).gnutls_x509_crt_set_version)
#define gnutls_x509_crt_sign2 (DL_CALLS(gnutls).gnutls_x509_crt_sign2)
#define gnutls_x509_crt_verify (DL_CALLS(gnutls).gnutls_x509_crt_verify)
#define gnutls_x509_privkey_deinit (DL_CALLS(gnutls).gnutls_x509_privkey_deinit)
#define gnutls_x509_privkey_export2_pkcs8 (DL_CALLS(gnutls).gnutls_x509_privkey_export2_pkcs8)
#define gnutls_x509_privkey_generate (DL_CALLS(gnutls).gnutls_x509_privkey_generate)
#define gnutls_x509_privkey_get_key_id (DL_CALLS(gnutls).gnutls_x509_privkey_get_key_id)
#define gnutls_x509_privkey_import2 (DL_CALLS(gnutls).gnutls_x509_privkey_import2)
#define gnutls_x509_privkey_init (DL_CALLS(gnutls).gnutls_x509_privkey_init)
#define gnutls_transport_set_int2 (DL_CALLS(gnutls).gnutls_transport_set_int2)
DL_GNUTLS_FUNCS(DL_CHECK)
#endif

#endif
