/* auth: roles, token hashing and the token file. */
#include "api/auth.h"

#include <ctype.h>
#include <time.h>

#include "base/dl_gnutls.h"
#include "base/fs.h"
#include "base/js.h"
#include "base/util.h"

struct auth_store {
	char *path;
	json_t *tokens; /* array of {access_token,name,role,created,salt,hash,iterations} */
};

enum auth_role auth_role_parse(const char *s)
{
	if (s && streq(s, "admin"))
		return AUTH_ADMIN;
	if (s && streq(s, "read"))
		return AUTH_READ;
	return AUTH_NONE;
}

const char *auth_role_name(enum auth_role r)
{
	switch (r) {
	case AUTH_ADMIN: return "admin";
	case AUTH_READ: return "read";
	case AUTH_NODE: return "node";
	default: return "none";
	}
}

bool auth_role_allows(enum auth_role r, const char *method)
{
	if (r == AUTH_ADMIN || r == AUTH_NODE)
		return true;
	return r == AUTH_READ && (streq(method, "GET") || streq(method, "HEAD"));
}

bool auth_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int auth_hash(const char *secret, const uint8_t *salt, size_t salt_len, unsigned iterations,
	      uint8_t out[AUTH_HASH_LEN], struct err *err)
{
	gnutls_datum_t key = { (unsigned char *)secret, strlen(secret) };
	gnutls_datum_t s = { (unsigned char *)salt, salt_len };
	int r = gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &s, iterations, out, AUTH_HASH_LEN);
	if (r < 0)
		return err_msg(err, EIO, "hash token secret: %s", gnutls_strerror(r));
	return 0;
}

enum auth_role auth_peer_role(uid_t uid)
{
	return uid == 0 ? AUTH_ADMIN : AUTH_NONE;
}

int auth_parse_bearer(const char *header, char **ret_buf, const char **ret_access,
		      const char **ret_secret)
{
	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return -EINVAL;
	header += 7;
	while (*header == ' ')
		header++;
	char *buf = xstrdup(header), *colon = strchr(buf, ':');
	size_t n = strlen(buf);
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	if (!colon || colon == buf || !colon[1]) {
		free(buf);
		return -EINVAL;
	}
	*colon = '\0';
	*ret_buf = buf;
	*ret_access = buf;
	*ret_secret = colon + 1;
	return 0;
}

/* ---- hex ---- */

static void hex_encode(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static int hex_decode(const char *s, uint8_t *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = v;
	}
	return 0;
}

static int random_hex(size_t bytes, char *out, struct err *err)
{
	uint8_t b[64];
	int r = gnutls_rnd(GNUTLS_RND_KEY, b, bytes);
	if (r < 0)
		return err_msg(err, EIO, "generate random token: %s", gnutls_strerror(r));
	hex_encode(b, bytes, out);
	return 0;
}

/* ---- the store ---- */

static bool name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > AUTH_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

int auth_store_open(const char *path, struct auth_store **ret, struct err *err)
{
	json_t *doc = NULL, *tokens;
	int r;

	if (access(path, F_OK) == 0) {
		if ((r = js_load_file(path, &doc, err)) < 0)
			return r;
	} else {
		doc = json_pack("{s:[]}", "tokens");
	}
	tokens = json_object_get(doc, "tokens");
	if (!json_is_array(tokens)) {
		json_decref(doc);
		return err_msg(err, EINVAL, "%s: expected {\"tokens\": [...]}", path);
	}
	struct auth_store *st = xcalloc(1, sizeof(*st));
	st->path = xstrdup(path);
	st->tokens = json_incref(tokens);
	json_decref(doc);
	*ret = st;
	return 0;
}

void auth_store_free(struct auth_store *st)
{
	if (!st)
		return;
	json_decref(st->tokens);
	free(st->path);
	free(st);
}

static int store_save(struct auth_store *st, struct err *err)
{
	_cleanup_json_ json_t *doc = json_pack("{s:O}", "tokens", st->tokens);
	_cleanup_free_ char *s = json_dumps(doc, JSON_INDENT(2));
	if (!s)
		return err_msg(err, ENOMEM, "encode %s", st->path);
	return fs_write_atomic(st->path, s, strlen(s), 0600, err);
}

static const char *tok_str(json_t *t, const char *k)
{
	const char *s = json_string_value(json_object_get(t, k));
	return s ? s : "";
}

enum auth_role auth_store_check(struct auth_store *st, const char *access, const char *secret)
{
	static const uint8_t dummy_salt[AUTH_SALT_LEN];
	uint8_t salt[AUTH_SALT_LEN], want[AUTH_HASH_LEN], got[AUTH_HASH_LEN];
	struct err err = { 0 };
	json_t *t, *found = NULL;
	size_t i;

	if (!access || !secret)
		return AUTH_NONE;
	json_array_foreach(st->tokens, i, t) if (streq(tok_str(t, "access_token"), access)) found = t;
	if (!found || hex_decode(tok_str(found, "salt"), salt, sizeof(salt)) < 0 ||
	    hex_decode(tok_str(found, "hash"), want, sizeof(want)) < 0) {
		/* same work as a real check, so timing does not tell which tokens exist */
		auth_hash(secret, dummy_salt, sizeof(dummy_salt), AUTH_ITERATIONS, got, &err);
		return AUTH_NONE;
	}
	json_int_t iter = json_integer_value(json_object_get(found, "iterations"));
	if (iter <= 0 || iter > 10000000)
		iter = AUTH_ITERATIONS;
	if (auth_hash(secret, salt, sizeof(salt), iter, got, &err) < 0 ||
	    !auth_ct_equal(got, want, sizeof(got)))
		return AUTH_NONE;
	return auth_role_parse(tok_str(found, "role"));
}

static json_t *find(struct auth_store *st, const char *ref, size_t *ret_index)
{
	size_t i;
	json_t *t;
	json_array_foreach(st->tokens, i, t)
	{
		if (streq(tok_str(t, "access_token"), ref) || streq(tok_str(t, "name"), ref)) {
			if (ret_index)
				*ret_index = i;
			return t;
		}
	}
	return NULL;
}

static void now_rfc3339(char *buf, size_t n)
{
	time_t now = time(NULL);
	struct tm tm;
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
}

int auth_store_create(struct auth_store *st, enum auth_role role, const char *name,
		      json_t **ret, struct err *err)
{
	char access[3 + 2 * 12 + 1] = "ck_", secret[2 * 24 + 1], salt_hex[2 * AUTH_SALT_LEN + 1];
	char hash_hex[2 * AUTH_HASH_LEN + 1], created[32];
	uint8_t salt[AUTH_SALT_LEN], hash[AUTH_HASH_LEN];
	_cleanup_free_ char *auto_name = NULL;
	int r;

	if (role == AUTH_NONE)
		return err_msg(err, EINVAL, "role: expected admin or read");
	if (json_array_size(st->tokens) >= AUTH_MAX_TOKENS)
		return err_msg(err, ENOSPC, "too many tokens (at most %d): remove some first",
			       AUTH_MAX_TOKENS);
	if (!name) {
		for (size_t n = json_array_size(st->tokens) + 1;; n++) {
			free(auto_name);
			auto_name = xasprintf("token-%zu", n);
			if (!find(st, auto_name, NULL))
				break;
		}
		name = auto_name;
	}
	if (!name_valid(name))
		return err_msg(err, EINVAL, "name: '%.64s' is not a valid name ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most %d)",
			       name, AUTH_NAME_MAX);
	if (find(st, name, NULL))
		return err_msg(err, EEXIST, "name: a token named '%s' exists", name);
	if ((r = random_hex(12, access + 3, err)) < 0 || (r = random_hex(24, secret, err)) < 0)
		return r;
	if ((r = gnutls_rnd(GNUTLS_RND_NONCE, salt, sizeof(salt))) < 0)
		return err_msg(err, EIO, "generate salt: %s", gnutls_strerror(r));
	if ((r = auth_hash(secret, salt, sizeof(salt), AUTH_ITERATIONS, hash, err)) < 0)
		return r;
	hex_encode(salt, sizeof(salt), salt_hex);
	hex_encode(hash, sizeof(hash), hash_hex);
	now_rfc3339(created, sizeof(created));
	json_array_append_new(st->tokens,
			      json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i}", "access_token", access,
					"name", name, "role", auth_role_name(role), "created", created,
					"salt", salt_hex, "hash", hash_hex, "iterations",
					AUTH_ITERATIONS));
	if ((r = store_save(st, err)) < 0) {
		json_array_remove(st->tokens, json_array_size(st->tokens) - 1);
		return r;
	}
	*ret = json_pack("{s:s,s:s,s:s,s:s,s:s}", "access_token", access, "secret_key", secret,
			 "name", name, "role", auth_role_name(role), "created", created);
	return 0;
}

json_t *auth_store_list(struct auth_store *st)
{
	json_t *out = json_array(), *t;
	size_t i;
	json_array_foreach(st->tokens, i, t)
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s}", "access_token",
						     tok_str(t, "access_token"), "name",
						     tok_str(t, "name"), "role", tok_str(t, "role"),
						     "created", tok_str(t, "created")));
	return out;
}

int auth_store_remove(struct auth_store *st, const char *ref, struct err *err)
{
	size_t i;
	if (!find(st, ref, &i))
		return err_msg(err, ENOENT, "token '%.80s' not found (see 'coop token ls')", ref);
	_cleanup_json_ json_t *old = json_incref(json_array_get(st->tokens, i));
	json_array_remove(st->tokens, i);
	int r = store_save(st, err);
	if (r < 0)
		json_array_insert(st->tokens, i, old);
	return r;
}
