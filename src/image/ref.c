/* ref: parsing and normalizing image references with Docker's rules (distribution's
 * reference grammar plus its "familiar" docker.io shortcuts), so a name means the same
 * image here as under `docker pull`. Pure string work; fuzzed by fuzz/fuzz_ref.c. */
#include "image/ref.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "base/util.h"
#include "image/digest.h"

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128
#define DEFAULT_DOMAIN "docker.io"
#define DEFAULT_TAG "latest"
#define OFFICIAL_PREFIX "library/"

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* over s[0..n) */
static bool path_component_ok(const char *s, size_t n)
{
	size_t i = 0;

	for (;;) {
		if (i >= n || !lower_alnum(s[i]))
			return false;
		while (i < n && lower_alnum(s[i]))
			i++;
		if (i == n)
			return true;
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
		else if (s[i] == '-')
			while (i < n && s[i] == '-')
				i++;
		else
			return false;
	}
}

/* host label: [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])? */
static bool host_label_ok(const char *s, size_t n)
{
	if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

/* host(:port)? where host is dotted labels or a bracketed IPv6 address */
static bool domain_ok(const char *d)
{
	const char *port = NULL, *end;

	if (d[0] == '[') {
		end = strchr(d, ']');
		if (!end || end == d + 1)
			return false;
		for (const char *p = d + 1; p < end; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return false;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return false;
	} else {
		const char *colon = strchr(d, ':');
		const char *host_end = colon ? colon : d + strlen(d);
		const char *p = d;

		for (;;) {
			const char *dot = memchr(p, '.', host_end - p);
			const char *le = dot ? dot : host_end;
			if (!host_label_ok(p, le - p))
				return false;
			if (!dot)
				break;
			p = dot + 1;
		}
		if (colon)
			port = colon + 1;
	}
	if (port) {
		if (!*port || strlen(port) > 5)
			return false;
		for (const char *p = port; *p; p++)
			if (!isdigit((unsigned char)*p))
				return false;
	}
	return true;
}

static bool tag_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > TAG_MAX_LEN || !word_char(t[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!word_char(t[i]) && t[i] != '.' && t[i] != '-')
			return false;
	return true;
}

static bool is_hex64(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

/* A first component names a registry when it looks like a host, as Docker decides. */
static bool looks_like_domain(const char *s, size_t n)
{
	return memchr(s, '.', n) || memchr(s, ':', n) ||
	       (n == strlen("localhost") && strncmp(s, "localhost", n) == 0);
}

static int check_path(const char *ref, const char *path, struct err *err)
{
	const char *p = path;

	for (const char *c = path; *c; c++)
		if (isupper((unsigned char)*c))
			return err_msg(err, EINVAL,
				       "invalid reference '%s': repository name must be lowercase",
				       ref);
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (!path_component_ok(p, n))
			return err_msg(err, EINVAL,
				       "invalid reference '%s': invalid repository name component "
				       "'%.*s'",
				       ref, (int)n, p);
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

/* Splits name into domain and path, applying docker.io's defaults. */
static int split_name(const char *ref, const char *name, struct img_ref *r, struct err *err)
{
	const char *slash = strchr(name, '/');

	if (slash && looks_like_domain(name, slash - name)) {
		r->domain = strndup(name, slash - name);
		r->path = xstrdup(slash + 1);
		if (!r->domain)
			abort();
		if (!domain_ok(r->domain))
			return err_msg(err, EINVAL, "invalid reference '%s': invalid registry '%s'",
				       ref, r->domain);
	} else {
		r->domain = xstrdup(DEFAULT_DOMAIN);
		r->path = xstrdup(name);
	}
	if (streq(r->domain, "index.docker.io")) {
		free(r->domain);
		r->domain = xstrdup(DEFAULT_DOMAIN);
	}
	if (streq(r->domain, DEFAULT_DOMAIN) && !strchr(r->path, '/')) {
		char *p = xasprintf(OFFICIAL_PREFIX "%s", r->path);
		free(r->path);
		r->path = p;
	}
	return check_path(ref, r->path, err);
}

static int parse(const char *s, struct img_ref *r, struct err *err)
{
	_cleanup_free_ char *name = NULL;
	const char *at = strchr(s, '@'), *slash, *colon;
	size_t name_len;
	int r_rc;

	if (!*s)
		return err_msg(err, EINVAL, "invalid reference '': empty");
	if (at) {
		if (img_digest_validate(at + 1, err) < 0)
			return err_wrap(err, "invalid reference '%s'", s);
		r->digest = xstrdup(at + 1);
	}
	name_len = at ? (size_t)(at - s) : strlen(s);
	name = strndup(s, name_len);
	if (!name)
		abort();
	slash = strrchr(name, '/');
	colon = strrchr(name, ':');
	if (colon && (!slash || colon > slash)) {
		if (!tag_ok(colon + 1))
			return err_msg(err, EINVAL, "invalid reference '%s': invalid tag '%s'", s,
				       colon + 1);
		r->tag = xstrdup(colon + 1);
		name[colon - name] = '\0';
	}
	if (!*name)
		return err_msg(err, EINVAL, "invalid reference '%s': empty repository name", s);
	if (is_hex64(name))
		return err_msg(err, EINVAL,
			       "invalid reference '%s': a 64-character hexadecimal string is an "
			       "image ID, not a repository name",
			       s);
	if (strstr(name, "//") || name[0] == '/' || name[strlen(name) - 1] == '/')
		return err_msg(err, EINVAL, "invalid reference '%s': empty path component", s);
	r_rc = split_name(s, name, r, err);
	if (r_rc < 0)
		return r_rc;
	/* measured normalized, as Docker does: "docker.io/library/" counts */
	if (strlen(r->domain) + 1 + strlen(r->path) > NAME_MAX_LEN)
		return err_msg(
		    err, EINVAL,
		    "invalid reference '%.64s...': repository name longer than %d characters", s,
		    NAME_MAX_LEN);
	if (!r->tag && !r->digest)
		r->tag = xstrdup(DEFAULT_TAG);
	return 0;
}

int img_ref_parse(const char *s, struct img_ref *ret, struct err *err)
{
	struct img_ref r = {0};
	int rc;

	if (!s)
		return err_msg(err, EINVAL, "invalid reference '': empty");
	if (strlen(s) > 4096)
		return err_msg(err, EINVAL, "invalid reference '%.64s...': too long", s);
	rc = parse(s, &r, err);
	if (rc < 0) {
		img_ref_free(&r);
		return rc;
	}
	*ret = r;
	return 0;
}

void img_ref_free(struct img_ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	*r = (struct img_ref){0};
}

static char *with_suffix(const char *name, const struct img_ref *r)
{
	return xasprintf("%s%s%s%s%s", name, r->tag ? ":" : "", r->tag ? r->tag : "",
			 r->digest ? "@" : "", r->digest ? r->digest : "");
}

char *img_ref_repo(const struct img_ref *r)
{
	return xasprintf("%s/%s", r->domain, r->path);
}

char *img_ref_string(const struct img_ref *r)
{
	_cleanup_free_ char *repo = img_ref_repo(r);
	return with_suffix(repo, r);
}

const char *img_ref_registry_host(const struct img_ref *r)
{
	return streq(r->domain, DEFAULT_DOMAIN) ? "registry-1.docker.io" : r->domain;
}

char *img_ref_familiar(const struct img_ref *r)
{
	_cleanup_free_ char *name = NULL;

	const char *slash = strchr(r->path, '/');

	/* "docker.io/a.b/c" must keep its domain: "a.b/c" would name registry a.b */
	if (streq(r->domain, DEFAULT_DOMAIN) &&
	    !(slash && looks_like_domain(r->path, slash - r->path))) {
		const char *p = r->path;
		if (strncmp(p, OFFICIAL_PREFIX, strlen(OFFICIAL_PREFIX)) == 0 &&
		    !strchr(p + strlen(OFFICIAL_PREFIX), '/'))
			p += strlen(OFFICIAL_PREFIX);
		name = xstrdup(p);
	} else {
		name = img_ref_repo(r);
	}
	return with_suffix(name, r);
}
