/* registry: img_pull — the distribution v2 client. One pull: ping /v2/ to learn the
 * auth challenge, resolve the reference to a manifest (through an index for this
 * platform), fetch the config, download the layers that are not in the store with the
 * curl multi interface (resumable partials, retries with backoff), unpack them, and
 * point the name at the manifest. Parsers live in auth.c, the display in progress.c. */
#include "image/registry.h"

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>

#include "base/dl_curl.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/util.h"
#include "image/auth.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/progress.h"
#include "image/ref.h"

#define CERTS_DIR_DEFAULT "/etc/coop/certs.d"
#define SYSTEM_CA_DIR "/etc/ssl/certs"
#define ERR_BODY_MAX (64u << 10) /* an error body is quoted, not stored */
#define CONNECT_TIMEOUT 10L
#define LOW_SPEED_BYTES 1024L /* below this many bytes/s ... */
#define LOW_SPEED_TIME 30L    /* ... for this long, a transfer is abandoned */
#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS 30000

struct client {
	struct img_store *st;
	const struct img_pull_opts *o;
	struct img_ref ref;
	const char *host; /* what we connect to: "127.0.0.1:5000", "registry-1.docker.io" */
	char *base;	  /* "https://host" or "http://host" */
	bool insecure;	  /* listed in o->insecure: no verification, HTTP fallback */
	char *cafile, *certfile, *keyfile;
	char *user, *pass;
	struct img_auth_challenge chal;
	char *token;
	time_t token_exp;
	int retries, parallel;
	curl_off_t limit_rate;
	struct img_progress *prog;
};

/* ---- responses ---- */

struct resp {
	long code;
	char *body;
	size_t len, max;
	bool too_big;
	char *content_type, *digest, *www_auth, *retry_after, *content_range;
};

static void resp_reset_headers(struct resp *r)
{
	free(r->content_type);
	free(r->digest);
	free(r->www_auth);
	free(r->retry_after);
	free(r->content_range);
	r->content_type = r->digest = r->www_auth = r->retry_after = r->content_range = NULL;
}

static void resp_free(struct resp *r)
{
	resp_reset_headers(r);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static void resp_append(struct resp *r, const char *data, size_t n)
{
	if (r->too_big || r->len + n > r->max) {
		r->too_big = true;
		return;
	}
	r->body = xrealloc(r->body, r->len + n + 1);
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
}

/* A new status line starts a new response (redirects, 100 Continue): forget the last. */
static size_t header_cb(char *buf, size_t size, size_t n, void *ud)
{
	struct resp *r = ud;
	size_t len = size * n, k;
	char *line = strndup(buf, len), *colon;

	while ((k = strlen(line)) && (line[k - 1] == '\r' || line[k - 1] == '\n'))
		line[k - 1] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		const char *sp = strchr(line, ' ');
		r->code = sp ? strtol(sp + 1, NULL, 10) : 0;
		resp_reset_headers(r);
		free(r->body);
		r->body = NULL;
		r->len = 0;
		r->too_big = false;
	} else if ((colon = strchr(line, ':'))) {
		*colon = '\0';
		const char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		static const struct {
			const char *name;
			size_t off;
		} want[] = {
		    {"Content-Type", offsetof(struct resp, content_type)},
		    {"Docker-Content-Digest", offsetof(struct resp, digest)},
		    {"WWW-Authenticate", offsetof(struct resp, www_auth)},
		    {"Retry-After", offsetof(struct resp, retry_after)},
		    {"Content-Range", offsetof(struct resp, content_range)},
		};
		for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
			char **slot = (char **)((char *)r + want[i].off);
			if (strcasecmp(line, want[i].name) == 0 && !*slot)
				*slot = xstrdup(v);
		}
	}
	free(line);
	return len;
}

static size_t body_cb(char *buf, size_t size, size_t n, void *ud)
{
	resp_append(ud, buf, size * n);
	return size * n;
}

/* ---- small helpers ---- */

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Exponential backoff from BACKOFF_FIRST_MS with a little jitter; Retry-After wins. */
static long backoff_ms(int attempt, const char *retry_after)
{
	if (retry_after) {
		long s = img_auth_retry_after(retry_after, time(NULL), BACKOFF_MAX_MS / 1000);
		if (s >= 0)
			return s * 1000 + 100;
	}
	long ms = BACKOFF_FIRST_MS << (attempt < 10 ? attempt : 10);
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	return ms + rand() % (ms / 4 + 1);
}

static bool curl_transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static bool http_transient(long code)
{
	return code == 429 || code == 408 || (code >= 500 && code <= 599);
}

static bool tls_failure(CURLcode rc)
{
	return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
	       rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM ||
	       rc == CURLE_SSL_ISSUER_ERROR;
}

static char *short_digest(const char *d)
{
	const char *hex = strchr(d, ':');
	return xasprintf("sha256:%.12s…", hex ? hex + 1 : d);
}

/* ---- curl handles ---- */

static void setup_tls(struct client *c, CURL *h)
{
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->cafile) {
		/* The registry's own CA, and the system's too: CAINFO takes one file, CAPATH
		 * adds the system directory (GnuTLS reads both). */
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cafile);
		curl_easy_setopt(h, CURLOPT_CAPATH, SYSTEM_CA_DIR);
	}
	if (c->certfile && c->keyfile) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->certfile);
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->keyfile);
	}
}

/* Credentials go only to the registry (and its token realm): libcurl drops both the
 * Basic credentials and a custom Authorization header when a redirect leads to another
 * host, port or scheme (we never set CURLOPT_UNRESTRICTED_AUTH). */
static struct curl_slist *setup_auth(struct client *c, CURL *h, struct curl_slist *hdrs)
{
	if (c->chal.scheme == IMG_AUTH_BASIC && c->user) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, c->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->pass ? c->pass : "");
	} else if (c->chal.scheme == IMG_AUTH_BEARER && c->token) {
		_cleanup_free_ char *a = xasprintf("Authorization: Bearer %s", c->token);
		hdrs = curl_slist_append(hdrs, a);
	}
	return hdrs;
}

static CURL *new_handle(struct client *c, const char *url, struct resp *r)
{
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "coop/0.1 (distribution client)");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (c->limit_rate > 0)
		curl_easy_setopt(h, CURLOPT_MAX_RECV_SPEED_LARGE, c->limit_rate);
	setup_tls(c, h);
	return h;
}

static int curl_error(struct client *c, CURLcode rc, const char *url, const char *ebuf,
		      struct err *err)
{
	const char *why = ebuf && *ebuf ? ebuf : curl_easy_strerror(rc);
	const char *certs = c->o->certs_dir ? c->o->certs_dir : CERTS_DIR_DEFAULT;
	if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
	    rc == CURLE_SSL_ISSUER_ERROR)
		return err_msg(err, EPROTO,
			       "%s: TLS: certificate not trusted: %s (put the registry's CA in "
			       "%s/%s/ca.crt, or allow it with --insecure %s)",
			       c->host, why, certs, c->host, c->host);
	if (tls_failure(rc))
		return err_msg(err, EPROTO,
			       "%s: TLS handshake failed: %s (a registry on plain HTTP needs "
			       "--insecure %s)",
			       c->host, why, c->host);
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
		return err_msg(err, ECONNREFUSED, "%s: cannot connect: %s", c->host, why);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return err_msg(err, ETIMEDOUT, "%s: timed out: %s", c->host, why);
	return err_msg(err, EIO, "%s: %s", url, why);
}

/* The message for an HTTP failure: the registry's own words when it sent JSON
 * errors, with advice for 401/403 and the status in parentheses. */
static int http_error(const struct resp *r, const char *fallback, struct err *err)
{
	_cleanup_free_ char *code = NULL;
	_cleanup_free_ char *msg = img_auth_registry_error(r->body, r->len, &code);
	const char *m = msg ? msg : fallback;

	switch (r->code) {
	case 401:
		return err_msg(err, EACCES,
			       "unauthorized: %s: check --username/--password or "
			       "~/.docker/config.json (401)",
			       m ? m : "authentication required");
	case 403:
		return err_msg(err, EACCES, "denied: %s (403)", m ? m : "access forbidden");
	case 404:
		return err_msg(err, ENOENT, "%s (404)", m ? m : "not found");
	case 429:
		return err_msg(err, EBUSY, "%s (429)", m ? m : "too many requests");
	default:
		return err_msg(err, EIO, "%s (%ld)", m ? m : "unexpected response", r->code);
	}
}

/* ---- auth ---- */

static int load_docker_config(struct client *c, struct err *err)
{
	_cleanup_free_ char *path = NULL, *data = NULL;
	size_t len;

	if (c->o->docker_config)
		path = xstrdup(c->o->docker_config);
	else if (getenv("DOCKER_CONFIG"))
		path = xasprintf("%s/config.json", getenv("DOCKER_CONFIG"));
	else if (getenv("HOME"))
		path = xasprintf("%s/.docker/config.json", getenv("HOME"));
	if (!path)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : err_sys(err, errno, "open '%s'", path);
	close(fd);
	if (fs_read_at(AT_FDCWD, path, &data, &len, err) < 0)
		return -err->code;
	int r = img_auth_docker_config(data, len, c->ref.domain, &c->user, &c->pass, err);
	if (r < 0)
		return err_wrap(err, "%s", path);
	if (r > 0)
		log_debug("credentials for %s from %s", c->ref.domain, path);
	return 0;
}

static int fetch_token(struct client *c, struct err *err)
{
	_cleanup_free_ char *url = NULL, *scope = NULL;
	char ebuf[CURL_ERROR_SIZE] = "";
	struct resp r = {.max = IMG_MANIFEST_MAX};
	CURL *h = curl_easy_init();
	char *svc = NULL, *sc = NULL;
	int ret = 0;

	if (!h)
		return err_msg(err, ENOMEM, "curl_easy_init failed");
	scope = xasprintf("repository:%s:pull", c->ref.path);
	sc = curl_easy_escape(h, scope, 0);
	if (c->chal.service)
		svc = curl_easy_escape(h, c->chal.service, 0);
	url = xasprintf("%s%sscope=%s%s%s", c->chal.realm, strchr(c->chal.realm, '?') ? "&" : "?",
			sc, svc ? "&service=" : "", svc ? svc : "");
	curl_free(sc);
	curl_free(svc);
	curl_easy_cleanup(h);

	for (int attempt = 0;; attempt++) {
		resp_free(&r);
		r.max = IMG_MANIFEST_MAX;
		h = new_handle(c, url, &r);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
		if (c->user) {
			curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(h, CURLOPT_USERNAME, c->user);
			curl_easy_setopt(h, CURLOPT_PASSWORD, c->pass ? c->pass : "");
		}
		CURLcode rc = curl_easy_perform(h);
		curl_easy_cleanup(h);
		if ((rc != CURLE_OK && curl_transient(rc)) ||
		    (rc == CURLE_OK && http_transient(r.code))) {
			if (attempt < c->retries) {
				sleep_ms(backoff_ms(attempt, r.retry_after));
				continue;
			}
		}
		if (rc != CURLE_OK) {
			ret = curl_error(c, rc, url, ebuf, err);
			break;
		}
		if (r.code != 200) {
			ret = http_error(&r, NULL, err);
			if (r.code == 401 || r.code == 403)
				ret = err_msg(
				    err, EACCES,
				    "unauthorized: token server refused %s: check "
				    "--username/--password or ~/.docker/config.json (%ld)",
				    c->user ? "the credentials" : "anonymous access", r.code);
			break;
		}
		long exp;
		free(c->token);
		c->token = NULL;
		if ((ret = img_auth_token_parse(r.body ? r.body : "", r.len, &c->token, &exp,
						err)) < 0)
			break;
		/* renew a little early so a token never expires in flight */
		c->token_exp = time(NULL) + (exp > 20 ? exp - 10 : exp / 2);
		break;
	}
	resp_free(&r);
	return ret < 0 ? err_wrap(err, "token from %s", c->chal.realm) : 0;
}

static int ensure_token(struct client *c, struct err *err)
{
	if (c->chal.scheme != IMG_AUTH_BEARER)
		return 0;
	if (c->token && time(NULL) < c->token_exp)
		return 0;
	return fetch_token(c, err);
}

/* GET /v2/: decides the scheme (HTTPS, or HTTP for an insecure registry that does not
 * speak TLS) and learns the auth challenge. */
static int ping(struct client *c, struct err *err)
{
	const char *schemes[] = {"https", "http"};
	char ebuf[CURL_ERROR_SIZE];

	for (size_t s = 0; s < (c->insecure ? 2u : 1u); s++) {
		_cleanup_free_ char *url = xasprintf("%s://%s/v2/", schemes[s], c->host);
		struct resp r = {.max = ERR_BODY_MAX};
		CURLcode rc = CURLE_OK;
		for (int attempt = 0;; attempt++) {
			resp_free(&r);
			r.max = ERR_BODY_MAX;
			ebuf[0] = '\0';
			CURL *h = new_handle(c, url, &r);
			curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
			rc = curl_easy_perform(h);
			curl_easy_cleanup(h);
			bool again = rc != CURLE_OK ? curl_transient(rc) : http_transient(r.code);
			/* nobody listening is most likely a wrong address: say so now; and an
			 * insecure registry on plain HTTP goes on to HTTP at once */
			if (rc == CURLE_COULDNT_CONNECT ||
			    (rc != CURLE_OK && c->insecure && s == 0))
				again = false;
			if (!again || attempt >= c->retries)
				break;
			sleep_ms(backoff_ms(attempt, r.retry_after));
		}
		if (rc != CURLE_OK) {
			resp_free(&r);
			if (c->insecure && s == 0) {
				log_debug("%s: HTTPS failed (%s), trying HTTP", c->host, ebuf);
				continue;
			}
			return curl_error(c, rc, url, ebuf, err);
		}
		int ret = 0;
		if (r.code == 401) {
			ret = img_auth_challenge_parse(r.www_auth, &c->chal, err);
			if (ret < 0)
				err_wrap(err, "%s", url);
		} else if (r.code == 404) {
			ret =
			    err_msg(err, ENOENT, "%s: not a registry (no /v2/ API, 404)", c->host);
		} else if (r.code < 200 || r.code > 299) {
			ret = http_error(&r, NULL, err);
			err_wrap(err, "%s", url);
		}
		if (ret == 0 && c->chal.scheme == IMG_AUTH_BASIC && !c->user)
			ret = err_msg(
			    err, EACCES,
			    "%s: unauthorized: the registry wants a user name and password: "
			    "check --username/--password or ~/.docker/config.json (401)",
			    c->host);
		resp_free(&r);
		if (ret < 0)
			return ret;
		c->base = xasprintf("%s://%s", schemes[s], c->host);
		return 0;
	}
	return err_msg(err, EIO, "%s: unreachable", c->host); /* not reached */
}

/* ---- small GETs (manifests, config) ---- */

/* GET base/v2/<repo>/<kind>/<what> into r (body limited to max), with retries of
 * transient failures and one token refresh on 401. r->code tells the outcome. */
static int get_small(struct client *c, const char *kind, const char *what, const char *accept,
		     size_t max, struct resp *r, struct err *err)
{
	_cleanup_free_ char *url = xasprintf("%s/v2/%s/%s/%s", c->base, c->ref.path, kind, what);
	char ebuf[CURL_ERROR_SIZE];
	bool refreshed = false;

	for (int attempt = 0;; attempt++) {
		int ret = ensure_token(c, err);
		if (ret < 0)
			return ret;
		resp_free(r);
		r->max = max;
		ebuf[0] = '\0';
		CURL *h = new_handle(c, url, r);
		struct curl_slist *hdrs = NULL;
		if (accept) {
			_cleanup_free_ char *a = xasprintf("Accept: %s", accept);
			hdrs = curl_slist_append(hdrs, a);
		}
		hdrs = setup_auth(c, h, hdrs);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
		CURLcode rc = curl_easy_perform(h);
		curl_easy_cleanup(h);
		curl_slist_free_all(hdrs);
		if (rc == CURLE_WRITE_ERROR && r->too_big)
			return err_msg(err, EFBIG, "%s %s: larger than %zu bytes", kind, what, max);
		if (rc == CURLE_OK && r->too_big)
			return err_msg(err, EFBIG, "%s %s: larger than %zu bytes", kind, what, max);
		if (rc == CURLE_OK && r->code == 401 && c->chal.scheme == IMG_AUTH_BEARER &&
		    !refreshed) {
			refreshed = true; /* an expired or revoked token: one fresh one */
			free(c->token);
			c->token = NULL;
			attempt--;
			continue;
		}
		bool again = rc != CURLE_OK ? curl_transient(rc) : http_transient(r->code);
		if (again && attempt < c->retries) {
			long ms = backoff_ms(attempt, r->retry_after);
			img_progress_note(c->prog, "retrying %s in %.1fs (%s)", what, ms / 1000.0,
					  rc != CURLE_OK ? curl_easy_strerror(rc) : "server busy");
			sleep_ms(ms);
			continue;
		}
		if (rc != CURLE_OK)
			return curl_error(c, rc, url, ebuf, err);
		return 0;
	}
}

/* A manifest or index by tag or digest; verified (against want when given, else
 * against Docker-Content-Digest when sent) and stored. */
static int fetch_manifest(struct client *c, const char *reference, const char *want,
			  struct img_manifest **ret, char digest[IMG_DIGEST_LEN + 1],
			  struct err *err)
{
	struct resp r = {0};
	int ret_code;

	if ((ret_code = get_small(c, "manifests", reference, IMG_MANIFEST_ACCEPT, IMG_MANIFEST_MAX,
				  &r, err)) < 0)
		goto out;
	if (r.code != 200) {
		ret_code = http_error(&r, "manifest unknown", err);
		goto out;
	}
	img_digest_buf(r.body ? r.body : "", r.len, digest);
	const char *expect = want ? want : r.digest;
	if (expect && !streq(expect, digest)) {
		ret_code =
		    err_msg(err, EBADMSG, "manifest %s: digest mismatch (expected %s, got %s)",
			    reference, expect, digest);
		goto out;
	}
	if ((ret_code = img_manifest_parse(r.body ? r.body : "", r.len, r.content_type, ret, err)) <
	    0) {
		err_wrap(err, "manifest %s", reference);
		goto out;
	}
	if ((ret_code = img_store_put_blob(c->st, digest, r.body ? r.body : "", r.len, NULL, err)) <
	    0) {
		img_manifest_free(*ret);
		*ret = NULL;
	}
out:
	resp_free(&r);
	return ret_code;
}

static int fetch_config(struct client *c, const struct img_descriptor *d, struct err *err)
{
	struct resp r = {0};
	char got[IMG_DIGEST_LEN + 1];
	int ret;

	if (img_store_has_blob(c->st, d->digest))
		return 0;
	if (d->size > (int64_t)IMG_MANIFEST_MAX)
		return err_msg(err, EFBIG, "config %s: %lld bytes is more than %u", d->digest,
			       (long long)d->size, IMG_MANIFEST_MAX);
	if ((ret = get_small(c, "blobs", d->digest, NULL, IMG_MANIFEST_MAX, &r, err)) < 0)
		goto out;
	if (r.code != 200) {
		ret = http_error(&r, "blob unknown", err);
		goto out;
	}
	img_digest_buf(r.body ? r.body : "", r.len, got);
	if (!streq(got, d->digest) || (int64_t)r.len != d->size) {
		ret = err_msg(err, EBADMSG,
			      "digest mismatch (expected %s, %lld bytes; got %s, %zu bytes)",
			      d->digest, (long long)d->size, got, r.len);
		goto out;
	}
	ret = img_store_put_blob(c->st, d->digest, r.body ? r.body : "", r.len, NULL, err);
out:
	resp_free(&r);
	return ret < 0 ? err_wrap(err, "config %s", d->digest) : 0;
}

/* ---- layers: concurrent, resumable downloads ---- */

enum xstate { X_WAITING, X_ACTIVE, X_DONE };

struct xfer {
	struct client *c;
	const struct img_descriptor *d;
	size_t idx, n;	       /* layer idx+1 of n, for messages */
	struct img_ingest *in; /* held from begin to commit/abort */
	CURL *h;
	struct curl_slist *hdrs;
	struct resp r; /* headers; the body only when it is an error */
	enum xstate state;
	int attempts;
	bool refreshed;
	long not_before;   /* ms, monotonic */
	int64_t start_off; /* where this request resumes */
	long body_code;	   /* the status the body bytes belong to (0: not decided) */
	bool werr_set;
	struct err werr; /* why a write callback stopped the transfer */
	char ebuf[CURL_ERROR_SIZE];
};

static int xfer_fail(struct xfer *x, struct err *err)
{
	_cleanup_free_ char *sd = short_digest(x->d->digest);
	return err_wrap(err, "layer %zu/%zu %s", x->idx + 1, x->n, sd);
}

/* Body bytes: the blob goes to the partial (after checking a 206 resumes where we
 * are), anything else is an error body kept for the message. */
static size_t layer_write_cb(char *buf, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;

	if (x->r.code != 200 && x->r.code != 206) {
		resp_append(&x->r, buf, len);
		return len;
	}
	if (x->body_code != x->r.code) {
		x->body_code = x->r.code;
		if (x->r.code == 206) {
			int64_t s, e, t;
			if (!x->r.content_range ||
			    img_auth_content_range(x->r.content_range, &s, &e, &t) < 0 ||
			    s != x->start_off) {
				x->werr_set = true;
				err_msg(&x->werr, EPROTO,
					"bad Content-Range '%s' for a resume at %lld",
					x->r.content_range ? x->r.content_range : "",
					(long long)x->start_off);
				return 0;
			}
		} else if (img_ingest_offset(x->in) > 0 &&
			   img_ingest_reset(x->in, &x->werr) < 0) { /* Range ignored: all again */
			x->werr_set = true;
			return 0;
		}
	}
	if (img_ingest_write(x->in, buf, len, &x->werr) < 0) {
		x->werr_set = true;
		return 0;
	}
	img_progress_bytes(x->c->prog, x->idx, img_ingest_offset(x->in));
	return len;
}

static int xfer_start(struct xfer *x, CURLM *m, struct err *err)
{
	struct client *c = x->c;
	_cleanup_free_ char *url = NULL;
	int ret;

	if ((ret = ensure_token(c, err)) < 0)
		return ret;
	x->start_off = img_ingest_offset(x->in);
	if (x->start_off > x->d->size && img_ingest_reset(x->in, err) < 0)
		return -err->code;
	x->start_off = img_ingest_offset(x->in);
	url = xasprintf("%s/v2/%s/blobs/%s", c->base, c->ref.path, x->d->digest);
	resp_free(&x->r);
	x->r.max = ERR_BODY_MAX;
	x->body_code = 0;
	x->werr_set = false;
	x->ebuf[0] = '\0';
	if (!(x->h = new_handle(c, url, &x->r)))
		return err_msg(err, ENOMEM, "curl_easy_init failed");
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, layer_write_cb);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->ebuf);
	x->hdrs = NULL;
	if (x->start_off > 0) {
		char range[64];
		snprintf(range, sizeof(range), "Range: bytes=%lld-", (long long)x->start_off);
		x->hdrs = curl_slist_append(x->hdrs, range);
	}
	x->hdrs = setup_auth(c, x->h, x->hdrs);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
	if (curl_multi_add_handle(m, x->h) != CURLM_OK)
		return err_msg(err, EIO, "curl_multi_add_handle failed");
	x->state = X_ACTIVE;
	img_progress_state(c->prog, x->idx, x->start_off ? "resuming" : "downloading", 0);
	return 0;
}

static void xfer_release(struct xfer *x, CURLM *m)
{
	if (x->h) {
		curl_multi_remove_handle(m, x->h);
		curl_easy_cleanup(x->h);
		x->h = NULL;
	}
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
}

static int xfer_commit(struct xfer *x, struct err *err)
{
	int ret = img_ingest_commit(x->in, err);
	x->in = NULL; /* commit frees it, whatever the outcome */
	x->state = X_DONE;
	if (ret < 0)
		return xfer_fail(x, err);
	img_progress_state(x->c->prog, x->idx, "done", 1);
	return 0;
}

/* Schedules another attempt, or fails when they are used up. */
static int xfer_retry(struct xfer *x, const char *why, struct err *err)
{
	if (x->attempts >= x->c->retries) {
		err_msg(err, EIO, "%s (gave up after %d attempts)", why, x->attempts + 1);
		return xfer_fail(x, err);
	}
	long ms = backoff_ms(x->attempts, x->r.retry_after);
	x->attempts++;
	x->not_before = now_ms() + ms;
	x->state = X_WAITING;
	char msg[160];
	snprintf(msg, sizeof(msg), "retrying in %.1fs: %s", ms / 1000.0, why);
	img_progress_state(x->c->prog, x->idx, msg, 0);
	return 0;
}

/* One finished request: commit, retry, or fail. */
static int xfer_finished(struct xfer *x, CURLM *m, CURLcode rc, struct err *err)
{
	struct client *c = x->c;
	long code = x->r.code;
	char why[CURL_ERROR_SIZE + 64];

	xfer_release(x, m);
	if (x->werr_set) {
		*err = x->werr;
		if (err->code == EPROTO) { /* a bad resume: start over */
			if (img_ingest_reset(x->in, err) < 0)
				return xfer_fail(x, err);
			return xfer_retry(x, x->werr.msg, err);
		}
		return xfer_fail(x, err);
	}
	if (rc != CURLE_OK) {
		snprintf(why, sizeof(why), "%s", x->ebuf[0] ? x->ebuf : curl_easy_strerror(rc));
		if (curl_transient(rc))
			return xfer_retry(x, why, err);
		curl_error(c, rc, "blob", x->ebuf, err);
		return xfer_fail(x, err);
	}
	if (code == 200 || code == 206)
		return xfer_commit(x, err);
	if (code == 401 && c->chal.scheme == IMG_AUTH_BEARER && !x->refreshed) {
		x->refreshed = true;
		free(c->token);
		c->token = NULL;
		x->state = X_WAITING;
		x->not_before = 0;
		return 0;
	}
	if (code == 416) { /* our partial is longer than the blob: start over */
		if (img_ingest_reset(x->in, err) < 0)
			return xfer_fail(x, err);
		return xfer_retry(x, "range not satisfiable", err);
	}
	if (http_transient(code)) {
		snprintf(why, sizeof(why), "HTTP %ld", code);
		return xfer_retry(x, why, err);
	}
	http_error(&x->r, "blob unknown", err);
	return xfer_fail(x, err);
}

static int start_ready(struct xfer *xs, size_t nx, CURLM *m, long *ret_wait, struct err *err)
{
	size_t active = 0;
	long now = now_ms(), wait = 1000;

	for (size_t i = 0; i < nx; i++)
		active += xs[i].state == X_ACTIVE;
	for (size_t i = 0; i < nx && active < (size_t)xs[0].c->parallel; i++) {
		struct xfer *x = &xs[i];
		if (x->state != X_WAITING)
			continue;
		if (x->not_before > now) {
			if (x->not_before - now < wait)
				wait = x->not_before - now;
			continue;
		}
		if (img_ingest_offset(x->in) == x->d->size) { /* a complete partial */
			int ret = xfer_commit(x, err);
			if (ret < 0)
				return ret;
			continue;
		}
		int ret = xfer_start(x, m, err);
		if (ret < 0)
			return xfer_fail(x, err);
		active++;
	}
	*ret_wait = wait;
	return 0;
}

static int run_transfers(struct xfer *xs, size_t nx, struct err *err)
{
	CURLM *m = curl_multi_init();
	int ret = 0;

	if (!m)
		return err_msg(err, ENOMEM, "curl_multi_init failed");
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)xs[0].c->parallel);
	for (;;) {
		long wait = 1000;
		if ((ret = start_ready(xs, nx, m, &wait, err)) < 0)
			break;
		bool pending = false;
		for (size_t i = 0; i < nx; i++)
			pending |= xs[i].state != X_DONE;
		if (!pending)
			break;
		int running;
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		bool finished = false;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct xfer *x;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			if ((ret = xfer_finished(x, m, msg->data.result, err)) < 0)
				goto out;
			finished = true;
		}
		/* a transfer just ended: start the next one (or stop) before waiting, else
		 * the last layer of every pull waits out a whole poll timeout for nothing */
		if (finished)
			continue;
		curl_multi_poll(m, NULL, 0, (int)(wait < 10 ? 10 : wait), NULL);
	}
out:
	for (size_t i = 0; i < nx; i++)
		xfer_release(&xs[i], m);
	curl_multi_cleanup(m);
	return ret;
}

static int cmp_xfer(const void *a, const void *b)
{
	return strcmp(((const struct xfer *)a)->d->digest, ((const struct xfer *)b)->d->digest);
}

/* Downloads the layers that are not in the store. Each blob is locked (begin) before
 * any download starts, in digest order, so two pulls sharing layers in any order never
 * wait on each other in a cycle; a blob another process is fetching is waited for and
 * then found present. Partials stay on failure, for the next pull to resume. */
static int fetch_layers(struct client *c, const struct img_manifest *mf, struct err *err)
{
	size_t n = mf->n_layers, nx = 0;
	struct xfer *xs = xcalloc(n ? n : 1, sizeof(*xs));
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		enum img_compression comp;
		img_progress_layer(c->prog, i, mf->layers[i].digest, mf->layers[i].size);
		if ((ret = img_layer_compression(mf->layers[i].media_type, &comp, err)) < 0) {
			xs[0] = (struct xfer){.d = &mf->layers[i], .idx = i, .n = n};
			ret = xfer_fail(&xs[0], err);
			goto out;
		}
		bool dup = false;
		for (size_t k = 0; k < nx; k++)
			dup |= streq(xs[k].d->digest, mf->layers[i].digest);
		if (dup)
			img_progress_state(c->prog, i, "same as an earlier layer", 1);
		else
			xs[nx++] = (struct xfer){.c = c, .d = &mf->layers[i], .idx = i, .n = n};
	}
	qsort(xs, nx, sizeof(*xs), cmp_xfer);
	for (size_t i = 0; i < nx; i++) {
		bool exists = false;
		if ((ret = img_ingest_begin(c->st, xs[i].d->digest, xs[i].d->size, &xs[i].in,
					    &exists, err)) < 0) {
			ret = xfer_fail(&xs[i], err);
			goto out;
		}
		xs[i].state = exists ? X_DONE : X_WAITING;
		if (exists)
			img_progress_state(c->prog, xs[i].idx, "exists", 1);
	}
	if (nx)
		ret = run_transfers(xs, nx, err);
out:
	for (size_t i = 0; i < nx; i++) {
		if (xs[i].in)
			img_ingest_abort(xs[i].in, true);
		resp_free(&xs[i].r);
	}
	free(xs);
	return ret;
}

/* ---- the pull ---- */

static int unpack_layers(struct client *c, const char *name, const struct img_manifest *mf,
			 struct err *err)
{
	for (size_t i = 0; i < mf->n_layers; i++) {
		const struct img_descriptor *d = &mf->layers[i];
		_cleanup_free_ char *what =
		    xasprintf("image %s layer %zu/%zu %s", name, i + 1, mf->n_layers, d->digest);
		_cleanup_free_ char *shortname = NULL;
		int ret = img_store_layer(c->st, d->digest, d->media_type, what, &shortname, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static bool listed(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (streq(*v, s))
			return true;
	return false;
}

static int client_init(struct client *c, struct img_store *st, const char *ref,
		       const struct img_pull_opts *o, struct err *err)
{
	_cleanup_free_ char *dir = NULL;
	const char *certs = o->certs_dir ? o->certs_dir : CERTS_DIR_DEFAULT;
	struct stat sb;
	int ret;

	c->st = st;
	c->o = o;
	c->retries = o->retries > 0 ? o->retries : 5;
	c->parallel = o->parallel > 0 ? o->parallel : 4;
	if (getenv("COOP_PULL_LIMIT_RATE")) /* bytes/s; tests use it to interrupt a pull */
		c->limit_rate = strtoll(getenv("COOP_PULL_LIMIT_RATE"), NULL, 10);
	if ((ret = img_ref_parse(ref, &c->ref, err)) < 0)
		return ret;
	c->host = img_ref_registry_host(&c->ref);
	c->insecure = listed(o->insecure, c->host) || listed(o->insecure, c->ref.domain);
	dir = xasprintf("%s/%s", certs, c->host);
	c->cafile = xasprintf("%s/ca.crt", dir);
	c->certfile = xasprintf("%s/client.cert", dir);
	c->keyfile = xasprintf("%s/client.key", dir);
	if (stat(c->cafile, &sb) < 0) {
		free(c->cafile);
		c->cafile = NULL;
	}
	if (stat(c->certfile, &sb) < 0 || stat(c->keyfile, &sb) < 0) {
		free(c->certfile);
		free(c->keyfile);
		c->certfile = c->keyfile = NULL;
	}
	if (o->username) {
		c->user = xstrdup(o->username);
		c->pass = xstrdup(o->password ? o->password : "");
	} else if ((ret = load_docker_config(c, err)) < 0) {
		return ret;
	}
	return 0;
}

static void client_free(struct client *c)
{
	img_ref_free(&c->ref);
	free(c->base);
	free(c->cafile);
	free(c->certfile);
	free(c->keyfile);
	free(c->user);
	free(c->pass);
	free(c->token);
	img_auth_challenge_free(&c->chal);
	img_progress_free(c->prog);
}

static int resolve(struct client *c, struct img_manifest **ret_mf, char target[IMG_DIGEST_LEN + 1],
		   char manifest[IMG_DIGEST_LEN + 1], struct err *err)
{
	const char *reference = c->ref.digest ? c->ref.digest : c->ref.tag;
	struct img_manifest *mf = NULL;
	int ret;

	if ((ret = fetch_manifest(c, reference, c->ref.digest, &mf, target, err)) < 0)
		return ret;
	strcpy(manifest, target);
	if (mf->kind == IMG_KIND_INDEX) {
		const char *os = c->o->os, *arch = c->o->arch, *variant = c->o->variant;
		if (!os && !arch)
			img_platform_native(&os, &arch, &variant);
		const struct img_descriptor *d =
		    img_index_select(mf, os ? os : "linux", arch, variant, err);
		if (!d) {
			img_manifest_free(mf);
			return -err->code;
		}
		_cleanup_free_ char *want = xstrdup(d->digest);
		img_manifest_free(mf);
		mf = NULL;
		if ((ret = fetch_manifest(c, want, want, &mf, manifest, err)) < 0)
			return ret;
		if (mf->kind != IMG_KIND_MANIFEST) {
			img_manifest_free(mf);
			return err_msg(err, EPROTO, "manifest %s: an index inside an index", want);
		}
	}
	*ret_mf = mf;
	return 0;
}

static int pull(struct client *c, char **ret_manifest, struct err *err)
{
	struct img_manifest *mf = NULL;
	char target[IMG_DIGEST_LEN + 1], manifest[IMG_DIGEST_LEN + 1];
	_cleanup_free_ char *name = img_ref_string(&c->ref);
	int ret;

	if ((ret = ping(c, err)) < 0)
		return ret;
	/* from the first blob stored until the name points at them, keep prune away */
	if ((ret = img_store_hold(c->st, err)) < 0)
		return ret;
	if ((ret = resolve(c, &mf, target, manifest, err)) < 0) {
		img_store_release(c->st);
		return ret;
	}
	c->prog = img_progress_new(c->o->progress, mf->n_layers);
	img_progress_note(c->prog, "%s: manifest %s, %zu layer%s", name, manifest, mf->n_layers,
			  mf->n_layers == 1 ? "" : "s");
	if ((ret = fetch_config(c, &mf->config, err)) < 0)
		goto out;
	if ((ret = fetch_layers(c, mf, err)) < 0)
		goto out;
	img_progress_done(c->prog);
	if ((ret = unpack_layers(c, name, mf, err)) < 0)
		goto out;
	if ((ret = img_store_ref_set(c->st, name, target, manifest, err)) < 0)
		goto out;
	img_progress_note(c->prog, "%s: pulled %s", name, manifest);
	if (ret_manifest)
		*ret_manifest = xstrdup(manifest);
out:
	img_store_release(c->st);
	img_progress_done(c->prog);
	img_manifest_free(mf);
	return ret;
}

int img_pull(struct img_store *st, const char *ref, const struct img_pull_opts *o,
	     char **ret_manifest, struct err *err)
{
	static const struct img_pull_opts none = {0};
	struct client c = {0};
	int ret;

	if ((ret = dl_load(&dl_curl, err)) < 0)
		return err_wrap(err, "pull %s", ref);
	if ((ret = client_init(&c, st, ref, o ? o : &none, err)) == 0)
		ret = pull(&c, ret_manifest, err);
	client_free(&c);
	return ret < 0 ? err_wrap(err, "pull %s", ref) : 0;
}
