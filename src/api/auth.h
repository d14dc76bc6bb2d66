/* auth: who may call the API. Unix-socket callers are judged by their peer credentials
 * (uid 0 = admin, everyone else refused); TCP callers present a node certificate signed
 * by the cluster CA (role node: another member of the cluster) or an access token and its
 * secret key. Tokens live in <state>/tokens.json: the access token in clear (it names the
 * token, like a user name) and the secret only as a salted PBKDF2-SHA256 hash, compared
 * in constant time. A "read" token may only GET. Pure apart from the file and the RNG. */
#ifndef COOP_API_AUTH_H
#define COOP_API_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define AUTH_SALT_LEN 16
#define AUTH_HASH_LEN 32
#define AUTH_ITERATIONS 20000
#define AUTH_MAX_TOKENS 1024
#define AUTH_NAME_MAX 63

enum auth_role { AUTH_NONE, AUTH_READ, AUTH_ADMIN, AUTH_NODE };

/* "admin" / "read" -> role; AUTH_NONE for anything else (node is never a token's role:
 * only a client certificate gives it). */
enum auth_role auth_role_parse(const char *s);
const char *auth_role_name(enum auth_role r);
/* Whether role may call method: admin and node anything, read only GET and HEAD. */
bool auth_role_allows(enum auth_role r, const char *method);

/* Equality of two buffers in time independent of where they differ. */
bool auth_ct_equal(const void *a, const void *b, size_t n);
/* PBKDF2-HMAC-SHA256(secret, salt, iterations) -> AUTH_HASH_LEN bytes. */
int auth_hash(const char *secret, const uint8_t *salt, size_t salt_len, unsigned iterations,
	      uint8_t out[AUTH_HASH_LEN], struct err *err);

/* The caller's role from a unix socket's peer uid. */
enum auth_role auth_peer_role(uid_t uid);

/* Splits "Bearer ACCESS:SECRET" (case-insensitive scheme); -EINVAL otherwise.
 * The outputs point into a copy the caller frees through *ret_buf. */
int auth_parse_bearer(const char *header, char **ret_buf, const char **ret_access,
		      const char **ret_secret);

/* The token file, loaded once and saved atomically on every change. */
struct auth_store;
int auth_store_open(const char *path, struct auth_store **ret, struct err *err);
void auth_store_free(struct auth_store *st);
/* AUTH_NONE when the pair does not match a token (the same answer, and about the same
 * time, whether the access token is unknown or the secret wrong). */
enum auth_role auth_store_check(struct auth_store *st, const char *access, const char *secret);
/* Creates a token; *ret = {"access_token","secret_key","name","role","created"} — the
 * only time the secret is seen. name NULL = "token-N". -EEXIST for a taken name,
 * -ENOSPC past AUTH_MAX_TOKENS. */
int auth_store_create(struct auth_store *st, enum auth_role role, const char *name,
		      json_t **ret, struct err *err);
/* [{"access_token","name","role","created"}], no secrets or hashes. */
json_t *auth_store_list(struct auth_store *st);
/* By access token or name; -ENOENT otherwise. */
int auth_store_remove(struct auth_store *st, const char *ref, struct err *err);

#endif
