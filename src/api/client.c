/* client: libcurl requests to the daemon, whole or streamed as JSON lines. */
#include "api/client.h"

#include <ctype.h>
#include <curl/curl.h>

#include "base/util.h"

struct api_client {
	char *socket, *endpoint, *access, *secret, *ca;
	char *target;
};

static const char *env_or(const char *v, const char *env)
{
	if (v && *v)
		return v;
	v = getenv(env);
	return v && *v ? v : NULL;
}

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

int api_client_new(const struct api_client_opts *o, struct api_client **ret, struct err *err)
{
	static bool inited;
	struct api_client *c = xcalloc(1, sizeof(*c));

	if (!inited) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		inited = true;
	}
	c->endpoint = dup_or_null(env_or(o->endpoint, "COOP_ENDPOINT"));
	c->socket = xstrdup(env_or(o->socket, "COOP_SOCKET") ?: API_SOCKET_DEFAULT);
	c->access = dup_or_null(env_or(o->access_token, "COOP_ACCESS_TOKEN"));
	c->secret = dup_or_null(env_or(o->secret_key, "COOP_SECRET_KEY"));
	c->ca = dup_or_null(env_or(o->ca, "COOP_CA"));
	if (c->endpoint) {
		size_t n = strlen(c->endpoint);
		while (n > 0 && c->endpoint[n - 1] == '/')
			c->endpoint[--n] = '\0';
		if (strncmp(c->endpoint, "https://", 8) != 0 && strncmp(c->endpoint, "http://", 7) != 0) {
			err_msg(err, EINVAL, "--endpoint: expected https://HOST:PORT, got '%s'",
				c->endpoint);
			api_client_free(c);
			return -EINVAL;
		}
		if (!c->access || !c->secret) {
			err_msg(err, EINVAL, "--endpoint needs --access-token and --secret-key (or COOP_ACCESS_TOKEN and COOP_SECRET_KEY)");
			api_client_free(c);
			return -EINVAL;
		}
	}
	c->target = xstrdup(c->endpoint ? c->endpoint : c->socket);
	*ret = c;
	return 0;
}

void api_client_free(struct api_client *c)
{
	if (!c)
		return;
	free(c->socket);
	free(c->endpoint);
	free(c->access);
	free(c->secret);
	free(c->ca);
	free(c->target);
	free(c);
}

const char *api_client_target(const struct api_client *c) { return c->target; }

char *api_escape(const char *s)
{
	char *out = xmalloc(3 * strlen(s) + 1), *o = out;
	for (; *s; s++) {
		unsigned char ch = *s;
		if (isalnum(ch) || strchr("-._~:@", ch))
			*o++ = ch;
		else
			o += sprintf(o, "%%%02X", ch);
	}
	*o = '\0';
	return out;
}

static int errno_for(long status)
{
	switch (status) {
	case 400:
	case 422: return EINVAL;
	case 401:
	case 403: return EACCES;
	case 404: return ENOENT;
	case 409: return EEXIST;
	case 413: return E2BIG;
	default: return EIO;
	}
}

int api_error_from_reply(long status, const char *body, size_t len, struct err *err)
{
	json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
	int code = errno_for(status);

	if (msg && *msg) {
		err_msg(err, code, "%s", msg);
	} else {
		size_t n = 0;
		while (body && n < len && n < 200 && body[n] != '\n' && body[n] != '\r')
			n++;
		if (n)
			err_msg(err, code, "HTTP %ld: %.*s", status, (int)n, body);
		else
			err_msg(err, code, "HTTP %ld", status);
	}
	/* one printable line whatever the server sent */
	for (char *p = err->msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	json_decref(j);
	return -code;
}

/* ---- transfers ---- */

struct xfer {
	CURL *curl;
	char *buf;
	size_t len;
	bool too_big;
	api_line_fn fn; /* streaming: lines go here on a 2xx reply */
	void *ctx;
	int stop; /* fn's negative return */
};

static long status_of(CURL *curl)
{
	long s = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &s);
	return s;
}

static void deliver_lines(struct xfer *x)
{
	char *start = x->buf, *end = x->buf + x->len, *nl;
	while (!x->stop && start < end && (nl = memchr(start, '\n', end - start))) {
		size_t n = nl - start;
		if (n > 0 && !(n == 1 && start[0] == '\r')) {
			json_t *j = json_loadb(start, n, 0, NULL);
			if (j) {
				int r = x->fn(x->ctx, j);
				if (r < 0)
					x->stop = r;
				json_decref(j);
			}
		}
		start = nl + 1;
	}
	x->len = end - start;
	memmove(x->buf, start, x->len);
}

static size_t on_data(char *data, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	if (x->len + len > API_CLIENT_MAX_REPLY) {
		x->too_big = true;
		return 0;
	}
	x->buf = xrealloc(x->buf, x->len + len + 1);
	memcpy(x->buf + x->len, data, len);
	x->len += len;
	long st = status_of(x->curl);
	if (x->fn && st >= 200 && st < 300) {
		deliver_lines(x);
		if (x->stop)
			return 0;
	}
	return len;
}

static int transfer(struct api_client *c, const char *method, const char *path, json_t *body,
		    struct xfer *x, struct err *err)
{
	_cleanup_free_ char *url = NULL, *data = NULL, *h1 = NULL, *h2 = NULL;
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cr;
	int r = 0;

	x->curl = curl_easy_init();
	if (!x->curl)
		return err_msg(err, ENOMEM, "initialize libcurl");
	if (c->endpoint) {
		url = xasprintf("%s%s", c->endpoint, path);
		h1 = xasprintf("X-Coop-Access-Token: %s", c->access);
		h2 = xasprintf("X-Coop-Secret-Key: %s", c->secret);
		hdrs = curl_slist_append(hdrs, h1);
		hdrs = curl_slist_append(hdrs, h2);
		if (c->ca)
			curl_easy_setopt(x->curl, CURLOPT_CAINFO, c->ca);
	} else {
		url = xasprintf("http://coop%s", path);
		curl_easy_setopt(x->curl, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	}
	curl_easy_setopt(x->curl, CURLOPT_URL, url);
	curl_easy_setopt(x->curl, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		data = json_dumps(body, JSON_COMPACT);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(x->curl, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(x->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(data));
	} else if (streq(method, "POST")) {
		curl_easy_setopt(x->curl, CURLOPT_POSTFIELDS, "");
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(x->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(x->curl, CURLOPT_USERAGENT, "coop-cli");
	curl_easy_setopt(x->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(x->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->curl, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->curl, CURLOPT_ERRORBUFFER, errbuf);
	cr = curl_easy_perform(x->curl);
	long status = status_of(x->curl);
	if (x->stop) {
		r = x->stop;
	} else if (cr == CURLE_COULDNT_CONNECT || cr == CURLE_COULDNT_RESOLVE_HOST ||
		   (cr != CURLE_OK && status == 0 && !c->endpoint)) {
		r = c->endpoint ? err_msg(err, ECONNREFUSED, "cannot reach the coop daemon at %s: %s",
					  c->endpoint, errbuf[0] ? errbuf : curl_easy_strerror(cr))
				: err_msg(err, ECONNREFUSED,
					  "cannot reach the coop daemon at %s: is `coop daemon` running?",
					  c->socket);
	} else if (x->too_big) {
		r = err_msg(err, E2BIG, "reply from the daemon above %u bytes", API_CLIENT_MAX_REPLY);
	} else if (status >= 300 || (cr == CURLE_OK && status < 200)) {
		r = api_error_from_reply(status, x->buf, x->len, err);
	} else if (cr != CURLE_OK) {
		r = err_msg(err, EIO, "talk to the coop daemon at %s: %s", c->target,
			    errbuf[0] ? errbuf : curl_easy_strerror(cr));
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(x->curl);
	return r;
}

int api_call(struct api_client *c, const char *method, const char *path, json_t *body,
	     json_t **ret, struct err *err)
{
	struct xfer x = { 0 };
	json_error_t je;
	int r = transfer(c, method, path, body, &x, err);

	if (r == 0 && ret) {
		*ret = x.len ? json_loadb(x.buf, x.len, 0, &je) : json_null();
		if (!*ret)
			r = err_msg(err, EPROTO, "the daemon's reply is not JSON: %s", je.text);
	}
	free(x.buf);
	return r;
}

int api_stream(struct api_client *c, const char *method, const char *path, json_t *body,
	       api_line_fn fn, void *ctx, struct err *err)
{
	struct xfer x = { .fn = fn, .ctx = ctx };
	int r = transfer(c, method, path, body, &x, err);
	if (r == 0 && x.len > 0) { /* a last line without its newline */
		x.buf = xrealloc(x.buf, x.len + 1);
		x.buf[x.len++] = '\n';
		deliver_lines(&x);
		if (x.stop)
			r = x.stop;
	}
	free(x.buf);
	return r;
}
