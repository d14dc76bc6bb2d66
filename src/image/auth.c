/* auth: parsers for the registry client's headers and small documents. Everything here
 * is pure so it can be unit-tested and fuzzed; registry.c does the talking. */
#include "image/auth.h"

#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/js.h"
#include "base/util.h"

/* ---- WWW-Authenticate ---- */

static bool is_tchar(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static char *read_token(const char **pp)
{
	const char *p = *pp, *s = p;
	while (is_tchar(*p))
		p++;
	*pp = p;
	return p > s ? strndup(s, p - s) : NULL;
}

/* A quoted-string with backslash escapes, or a token (with '/' and ':' allowed, as
 * some servers leave URLs unquoted). NULL when unterminated or empty. */
static char *read_value(const char **pp)
{
	const char *p = *pp;
	if (*p == '"') {
		size_t n = 0, cap = strlen(p) + 1;
		char *out = xmalloc(cap);
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			out[n++] = *p;
		}
		if (*p != '"') {
			free(out);
			return NULL;
		}
		out[n] = '\0';
		*pp = p + 1;
		return out;
	}
	const char *s = p;
	while (is_tchar(*p) || *p == '/' || *p == ':' || *p == '=')
		p++;
	*pp = p;
	return p > s ? strndup(s, p - s) : NULL;
}

static enum img_auth_scheme scheme_of(const char *s)
{
	if (strcasecmp(s, "Bearer") == 0)
		return IMG_AUTH_BEARER;
	if (strcasecmp(s, "Basic") == 0)
		return IMG_AUTH_BASIC;
	return IMG_AUTH_NONE;
}

static void set_param(struct img_auth_challenge *c, const char *name, char *value)
{
	char **slot = NULL;
	if (strcasecmp(name, "realm") == 0)
		slot = &c->realm;
	else if (strcasecmp(name, "service") == 0)
		slot = &c->service;
	else if (strcasecmp(name, "scope") == 0)
		slot = &c->scope;
	else if (strcasecmp(name, "error") == 0)
		slot = &c->error;
	if (slot && !*slot)
		*slot = value;
	else
		free(value);
}

/* Parses the params after a scheme up to the next challenge (a token not followed by
 * '='), which is left in *pp. */
static int parse_params(const char **pp, struct img_auth_challenge *c)
{
	const char *p = *pp;
	for (;;) {
		p = skip_ws(p);
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		const char *start = p;
		_cleanup_free_ char *name = read_token(&p);
		if (!name)
			return -EINVAL;
		p = skip_ws(p);
		if (*p != '=') {
			p = start; /* the next challenge's scheme */
			break;
		}
		p = skip_ws(p + 1);
		if (!*p || *p == ',') { /* token68 padding ("abc==") or an empty value */
			continue;
		}
		char *value = read_value(&p);
		if (!value)
			return -EINVAL;
		set_param(c, name, value);
	}
	*pp = p;
	return 0;
}

int img_auth_challenge_parse(const char *header, struct img_auth_challenge *ret, struct err *err)
{
	struct img_auth_challenge best = {0};
	const char *p = header ? header : "";
	bool any = false;

	while (*(p = skip_ws(p))) {
		while (*p == ',')
			p++;
		p = skip_ws(p);
		if (!*p)
			break;
		_cleanup_free_ char *scheme = read_token(&p);
		if (!scheme || (*p && *p != ' ' && *p != '\t' && *p != ',')) {
			img_auth_challenge_free(&best);
			return err_msg(err, EINVAL, "WWW-Authenticate '%.80s': malformed", header);
		}
		struct img_auth_challenge c = {.scheme = scheme_of(scheme)};
		if (parse_params(&p, &c) < 0) {
			img_auth_challenge_free(&c);
			img_auth_challenge_free(&best);
			return err_msg(err, EINVAL, "WWW-Authenticate '%.80s': malformed", header);
		}
		any = true;
		if (c.scheme != IMG_AUTH_NONE && c.scheme > best.scheme) {
			img_auth_challenge_free(&best);
			best = c;
		} else {
			img_auth_challenge_free(&c);
		}
	}
	if (best.scheme == IMG_AUTH_NONE)
		return err_msg(err, any ? ENOTSUP : EINVAL,
			       "WWW-Authenticate '%.80s': no Basic or Bearer challenge", header);
	if (best.scheme == IMG_AUTH_BEARER && (!best.realm || !*best.realm)) {
		img_auth_challenge_free(&best);
		return err_msg(err, EINVAL, "WWW-Authenticate '%.80s': Bearer without realm",
			       header);
	}
	*ret = best;
	return 0;
}

void img_auth_challenge_free(struct img_auth_challenge *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
	free(c->error);
	memset(c, 0, sizeof(*c));
}

/* ---- token endpoint ---- */

int img_auth_token_parse(const char *body, size_t len, char **ret_token, long *ret_expires_in,
			 struct err *err)
{
	json_error_t je;
	_cleanup_json_ json_t *doc = json_loadb(body, len, 0, &je);
	const char *tok = NULL;

	if (!json_is_object(doc))
		return err_msg(err, EPROTO, "token response: not a JSON object");
	json_t *t = json_object_get(doc, "token");
	if (!json_is_string(t) || !*json_string_value(t))
		t = json_object_get(doc, "access_token");
	if (json_is_string(t))
		tok = json_string_value(t);
	if (!tok || !*tok)
		return err_msg(err, EPROTO, "token response: no \"token\" or \"access_token\"");
	long exp = 60;
	json_t *e = json_object_get(doc, "expires_in");
	if (json_is_integer(e) && json_integer_value(e) > 0)
		exp = json_integer_value(e) > LONG_MAX / 2 ? LONG_MAX / 2 : json_integer_value(e);
	*ret_token = xstrdup(tok);
	*ret_expires_in = exp;
	return 0;
}

/* ---- docker config.json ---- */

/* "https://host:port/v1/" -> "host:port"; docker.io's spellings -> "docker.io". */
static char *normalize_host(const char *s)
{
	const char *p = strstr(s, "://");
	p = p ? p + 3 : s;
	size_t n = strcspn(p, "/");
	char *h = strndup(p, n);
	for (char *q = h; *q; q++)
		*q = tolower((unsigned char)*q);
	static const char *const hub[] = {"index.docker.io", "registry-1.docker.io",
					  "registry.docker.io", "docker.io"};
	for (size_t i = 0; i < ARRAY_SIZE(hub); i++)
		if (streq(h, hub[i])) {
			free(h);
			return xstrdup("docker.io");
		}
	return h;
}

static int creds_from_entry(json_t *ent, const char *key, char **ret_user, char **ret_pass,
			    struct err *err)
{
	json_t *a = json_object_get(ent, "auth");
	if (json_is_string(a) && *json_string_value(a)) {
		_cleanup_free_ char *dec = NULL;
		size_t n;
		if (img_auth_base64_decode(json_string_value(a), &dec, &n) < 0)
			return err_msg(err, EINVAL, "docker config: auths.\"%s\".auth: not base64",
				       key);
		char *colon = memchr(dec, ':', n);
		if (!colon || strlen(dec) != n)
			return err_msg(
			    err, EINVAL,
			    "docker config: auths.\"%s\".auth: expected base64 of user:password",
			    key);
		*colon = '\0';
		*ret_user = xstrdup(dec);
		*ret_pass = xstrdup(colon + 1);
		return 1;
	}
	json_t *u = json_object_get(ent, "username"), *p = json_object_get(ent, "password");
	if (json_is_string(u) && json_is_string(p)) {
		*ret_user = xstrdup(json_string_value(u));
		*ret_pass = xstrdup(json_string_value(p));
		return 1;
	}
	return 0;
}

int img_auth_docker_config(const char *json, size_t len, const char *host, char **ret_user,
			   char **ret_pass, struct err *err)
{
	json_error_t je;
	_cleanup_json_ json_t *doc = json_loadb(json, len, 0, &je);
	_cleanup_free_ char *want = normalize_host(host);
	const char *key;
	json_t *ent;

	if (!json_is_object(doc))
		return err_msg(err, EINVAL, "docker config: line %d: %s", je.line, je.text);
	json_t *auths = json_object_get(doc, "auths");
	if (!auths)
		return 0;
	if (!json_is_object(auths))
		return err_msg(err, EINVAL, "docker config: auths: expected an object");
	json_object_foreach(auths, key, ent)
	{
		_cleanup_free_ char *h = normalize_host(key);
		if (!streq(h, want) || !json_is_object(ent))
			continue;
		int r = creds_from_entry(ent, key, ret_user, ret_pass, err);
		if (r != 0)
			return r;
	}
	return 0;
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *img_auth_base64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	if (i < len) {
		uint32_t v = in[i] << 16 | (i + 1 < len ? in[i + 1] << 8 : 0);
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

int img_auth_base64_decode(const char *s, char **ret, size_t *ret_len)
{
	size_t n = strlen(s);
	if (n % 4)
		return -EINVAL;
	char *out = xmalloc(n / 4 * 3 + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			char c = s[i + k];
			const char *q = c ? strchr(b64, c) : NULL;
			if (c == '=' && i + 4 == n && k >= 2 && (k == 3 || s[i + 3] == '=')) {
				pad++;
				v <<= 6;
				continue;
			}
			if (!q || pad) {
				free(out);
				return -EINVAL;
			}
			v = v << 6 | (uint32_t)(q - b64);
		}
		if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff))) {
			free(out); /* non-zero bits after the data: not canonical */
			return -EINVAL;
		}
		out[o++] = v >> 16;
		if (pad < 2)
			out[o++] = (v >> 8) & 255;
		if (pad < 1)
			out[o++] = v & 255;
	}
	out[o] = '\0';
	*ret = out;
	*ret_len = o;
	return 0;
}

/* ---- Content-Range, Retry-After ---- */

static bool parse_i64(const char **pp, int64_t *ret)
{
	const char *p = *pp;
	int64_t v = 0;
	if (!isdigit((unsigned char)*p))
		return false;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	*pp = p;
	*ret = v;
	return true;
}

int img_auth_content_range(const char *v, int64_t *ret_start, int64_t *ret_end, int64_t *ret_total)
{
	int64_t s, e, t = -1;
	const char *p = skip_ws(v);

	if (strncasecmp(p, "bytes", 5) != 0)
		return -EINVAL;
	p = skip_ws(p + 5);
	if (!parse_i64(&p, &s) || *p++ != '-' || !parse_i64(&p, &e) || *p++ != '/')
		return -EINVAL;
	if (*p == '*')
		p++;
	else if (!parse_i64(&p, &t))
		return -EINVAL;
	p = skip_ws(p);
	if (*p || e < s || (t >= 0 && e >= t))
		return -EINVAL;
	*ret_start = s;
	*ret_end = e;
	*ret_total = t;
	return 0;
}

long img_auth_retry_after(const char *v, time_t now, long max)
{
	const char *p = skip_ws(v);
	int64_t secs;

	if (parse_i64(&p, &secs)) {
		if (*skip_ws(p))
			return -EINVAL;
		return secs > max ? max : (long)secs;
	}
	struct tm tm = {0};
	const char *end = strptime(p, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *skip_ws(end))
		return -EINVAL;
	time_t when = timegm(&tm);
	if (when <= now)
		return 0;
	return when - now > max ? max : (long)(when - now);
}

/* ---- registry errors ---- */

char *img_auth_registry_error(const char *body, size_t len, char **ret_code)
{
	json_error_t je;
	_cleanup_json_ json_t *doc = body ? json_loadb(body, len, 0, &je) : NULL;
	json_t *errs = json_object_get(doc, "errors"), *e;
	char *out = NULL, *code = NULL;
	size_t i;

	if (!json_is_array(errs) || json_array_size(errs) == 0)
		return NULL;
	json_array_foreach(errs, i, e)
	{
		const char *m = json_string_value(json_object_get(e, "message"));
		const char *c = json_string_value(json_object_get(e, "code"));
		if (!m || !*m)
			m = c;
		if (!m)
			continue;
		if (c && !code)
			code = xstrdup(c);
		char *n = out ? xasprintf("%s; %s", out, m) : xstrdup(m);
		free(out);
		out = n;
		if (i >= 4)
			break;
	}
	if (ret_code)
		*ret_code = code;
	else
		free(code);
	return out;
}
