/* client: requests to the daemon, whole or streamed as JSON lines. To its unix socket the
 * client speaks HTTP/1.0 itself (see "the local socket"); to an --endpoint (TLS, tokens)
 * through libcurl, which is loaded only then. */
#include "api/client.h"

#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "base/dl_curl.h"
#include "base/util.h"

struct api_client {
	char *socket, *endpoint, *access, *secret, *ca, *cert, *key;
	char *target;
	bool insecure;
	long timeout_ms;
	bool keepalive;
	CURL *keep; /* with keepalive: the handle reused across calls */
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
	struct api_client *c = xcalloc(1, sizeof(*c));

	c->endpoint = dup_or_null(env_or(o->endpoint, "COOP_ENDPOINT"));
	c->socket = xstrdup(env_or(o->socket, "COOP_SOCKET") ?: API_SOCKET_DEFAULT);
	c->cert = dup_or_null(o->cert && *o->cert ? o->cert : NULL);
	c->key = dup_or_null(o->key && *o->key ? o->key : NULL);
	c->insecure = o->insecure;
	c->timeout_ms = o->timeout_ms;
	c->keepalive = o->keepalive;
	if (!c->cert && !o->anonymous) { /* a node speaks for itself, never with a token */
		c->access = dup_or_null(env_or(o->access_token, "COOP_ACCESS_TOKEN"));
		c->secret = dup_or_null(env_or(o->secret_key, "COOP_SECRET_KEY"));
	}
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
		if (!c->cert != !c->key) {
			err_msg(err, EINVAL, "a client certificate needs its key (--cert and --key)");
			api_client_free(c);
			return -EINVAL;
		}
		if (!c->cert && !o->anonymous && !o->insecure && (!c->access || !c->secret)) {
			err_msg(err, EINVAL, "--endpoint needs --access-token and --secret-key (or COOP_ACCESS_TOKEN and COOP_SECRET_KEY)");
			api_client_free(c);
			return -EINVAL;
		}
		if (dl_load(&dl_curl, err) < 0) {
			api_client_free(c);
			return -err->code;
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
	free(c->cert);
	free(c->key);
	free(c->target);
	if (c->keep)
		curl_easy_cleanup(c->keep);
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
	case 421: return EREMOTE;
	case 503: return EAGAIN;
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

static void tls_setopts(struct api_client *c, CURL *curl)
{
	if (c->ca)
		curl_easy_setopt(curl, CURLOPT_CAINFO, c->ca);
	if (c->cert) {
		curl_easy_setopt(curl, CURLOPT_SSLCERT, c->cert);
		curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(curl, CURLOPT_SSLKEY, c->key);
		curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (c->insecure) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

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

/* Takes len more bytes of a reply with this status; false to stop the transfer. */
static bool xfer_take(struct xfer *x, long status, const char *data, size_t len)
{
	if (x->len + len > API_CLIENT_MAX_REPLY) {
		x->too_big = true;
		return false;
	}
	x->buf = xrealloc(x->buf, x->len + len + 1);
	memcpy(x->buf + x->len, data, len);
	x->len += len;
	if (x->fn && status >= 200 && status < 300) {
		deliver_lines(x);
		if (x->stop)
			return false;
	}
	return true;
}

static size_t on_data(char *data, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	return xfer_take(x, status_of(x->curl), data, len) ? len : 0;
}

static int local_transfer(struct api_client *c, const char *method, const char *path,
			  json_t *body, struct xfer *x, struct err *err);

static int transfer(struct api_client *c, const char *method, const char *path, json_t *body,
		    struct xfer *x, struct err *err)
{
	_cleanup_free_ char *url = NULL, *data = NULL, *h1 = NULL, *h2 = NULL;
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cr;
	int r = 0;

	if (!c->endpoint)
		return local_transfer(c, method, path, body, x, err);
	if (c->keepalive && c->keep)
		curl_easy_reset(c->keep); /* options go; the open connection stays */
	else if (c->keepalive)
		c->keep = curl_easy_init();
	x->curl = c->keepalive ? c->keep : curl_easy_init();
	if (!x->curl)
		return err_msg(err, ENOMEM, "initialize libcurl");
	if (c->endpoint) {
		url = xasprintf("%s%s", c->endpoint, path);
		if (c->access && c->secret) {
			h1 = xasprintf("X-Coop-Access-Token: %s", c->access);
			h2 = xasprintf("X-Coop-Secret-Key: %s", c->secret);
			hdrs = curl_slist_append(hdrs, h1);
			hdrs = curl_slist_append(hdrs, h2);
		}
		tls_setopts(c, x->curl);
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
	curl_easy_setopt(x->curl, CURLOPT_CONNECTTIMEOUT_MS,
			 c->timeout_ms > 0 && c->timeout_ms < 10000 ? c->timeout_ms : 10000L);
	if (c->timeout_ms > 0)
		curl_easy_setopt(x->curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
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
	if (c->keepalive) /* nothing of this call may outlive it in the kept handle */
		curl_easy_setopt(x->curl, CURLOPT_ERRORBUFFER, NULL);
	else
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

/* ---- upgraded streams ----
 * libcurl connects (and does TLS) with CONNECT_ONLY; the request and the reply's
 * head are written and parsed here, since libcurl 7.88 cannot hand over a connection
 * after a 101. */

#define HEAD_MAX (16u * 1024)

struct api_conn {
	CURL *curl; /* NULL: a plain socket to the daemon's unix socket */
	curl_socket_t fd;
	int wait_ms; /* how long one wait for the daemon may take; -1: no limit */
	char *pending; /* stream bytes that came with the reply's head */
	size_t pending_len, pending_off;
};

static void conn_close(struct api_conn *k)
{
	if (k->curl)
		curl_easy_cleanup(k->curl);
	else if (k->fd >= 0)
		close(k->fd);
	free(k->pending);
}

void api_conn_free(struct api_conn *k)
{
	if (!k)
		return;
	conn_close(k);
	free(k);
}

int api_conn_fd(struct api_conn *k) { return (int)k->fd; }

static int wait_fd(struct api_conn *k, short events, struct err *err)
{
	struct pollfd p = { .fd = k->fd, .events = events };
	int n;

	while ((n = poll(&p, 1, k->wait_ms)) < 0 && errno == EINTR)
		;
	if (n == 0)
		return err_msg(err, ETIMEDOUT, "the coop daemon does not answer");
	return 0;
}

int api_conn_recv(struct api_conn *k, void *buf, size_t len, size_t *ret_n, struct err *err)
{
	if (k->pending_off < k->pending_len) {
		size_t n = k->pending_len - k->pending_off;
		if (n > len)
			n = len;
		memcpy(buf, k->pending + k->pending_off, n);
		k->pending_off += n;
		*ret_n = n;
		return 0;
	}
	if (!k->curl) {
		ssize_t n;
		while ((n = recv(k->fd, buf, len, 0)) < 0 && errno == EINTR)
			;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -EAGAIN;
		if (n < 0)
			return err_sys(err, errno, "read from the coop daemon");
		*ret_n = n;
		return 0;
	}
	CURLcode cr = curl_easy_recv(k->curl, buf, len, ret_n);
	if (cr == CURLE_AGAIN)
		return -EAGAIN;
	if (cr != CURLE_OK)
		return err_msg(err, EIO, "read from the coop daemon: %s", curl_easy_strerror(cr));
	return 0;
}

int api_conn_send(struct api_conn *k, const void *p, size_t len, size_t *ret_n, struct err *err)
{
	if (!k->curl) {
		ssize_t n;
		while ((n = send(k->fd, p, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
			;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -EAGAIN;
		if (n < 0)
			return err_sys(err, errno, "write to the coop daemon");
		*ret_n = n;
		return 0;
	}
	CURLcode cr = curl_easy_send(k->curl, p, len, ret_n);
	if (cr == CURLE_AGAIN)
		return -EAGAIN;
	if (cr != CURLE_OK)
		return err_msg(err, EIO, "write to the coop daemon: %s", curl_easy_strerror(cr));
	return 0;
}

static int send_all(struct api_conn *k, const char *p, size_t len, struct err *err)
{
	while (len > 0) {
		size_t n = 0;
		int r = api_conn_send(k, p, len, &n, err);
		if (r == -EAGAIN) {
			CHECK(wait_fd(k, POLLOUT, err));
			continue;
		}
		CHECK(r);
		p += n;
		len -= n;
	}
	return 0;
}

static char *request_head(struct api_client *c, const char *method, const char *path,
			  size_t body_len)
{
	_cleanup_free_ char *host = NULL, *auth = NULL;
	if (c->endpoint) {
		const char *h = strstr(c->endpoint, "://") + 3;
		host = strndup(h, strcspn(h, "/"));
		if (c->access && c->secret)
			auth = xasprintf("X-Coop-Access-Token: %s\r\nX-Coop-Secret-Key: %s\r\n",
					 c->access, c->secret);
	}
	return xasprintf("%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: coop-cli\r\n"
			 "Connection: Upgrade\r\nUpgrade: tcp\r\n%s"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			 method, path, host ? host : "coop", auth ? auth : "", body_len);
}

/* Reads until the end of the reply's head; bytes past it stay in k->pending. */
static int read_head(struct api_conn *k, char **ret_buf, size_t *ret_len, size_t *ret_head,
		     struct err *err)
{
	_cleanup_free_ char *buf = xmalloc(HEAD_MAX + 1);
	size_t len = 0;
	char *end;

	for (;;) {
		size_t n = 0;
		int r = api_conn_recv(k, buf + len, HEAD_MAX - len, &n, err);
		if (r == -EAGAIN) {
			CHECK(wait_fd(k, POLLIN, err));
			continue;
		}
		CHECK(r);
		if (n == 0)
			return err_msg(err, EPROTO, "the coop daemon closed the connection");
		len += n;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")))
			break;
		if (len == HEAD_MAX)
			return err_msg(err, EPROTO, "the daemon's reply head is too long");
	}
	*ret_head = end + 4 - buf;
	*ret_len = len;
	*ret_buf = take_ptr(buf);
	return 0;
}

/* A non-101 reply: its body (Content-Length, else to the end) is the error. */
static int reply_error(struct api_conn *k, long status, char *buf, size_t len, size_t head,
		       struct err *err)
{
	const char *cl = strcasestr(buf, "\r\nContent-Length:");
	size_t want = cl ? strtoul(cl + 17, NULL, 10) : HEAD_MAX;
	_cleanup_free_ char *body = xmalloc(HEAD_MAX + 1);
	size_t n = len - head;

	if (want > HEAD_MAX)
		want = HEAD_MAX;
	memcpy(body, buf + head, n);
	while (n < want) {
		size_t got = 0;
		int r = api_conn_recv(k, body + n, want - n, &got, err);
		if (r == -EAGAIN) {
			if (wait_fd(k, POLLIN, err) < 0)
				break;
			continue;
		}
		if (r < 0 || got == 0)
			break;
		n += got;
	}
	return api_error_from_reply(status, body, n, err);
}

/* ---- the local socket ----
 * To the daemon's unix socket the client writes HTTP/1.0 requests itself and reads the
 * reply as api_upgrade does: the head parsed here, then the body up to its
 * Content-Length or the close (a 1.0 reply is never chunked; the daemon closes after
 * it). One connection per request. Every CLI command talks to the daemon, and libcurl
 * with its ~20 libraries (GnuTLS, Kerberos, LDAP, libssh2 and OpenSSL's libcrypto) cost
 * each of them ~11 ms of CPU to load (issue 5); an --endpoint still goes through it. */

static int local_open(struct api_client *c, struct api_conn *k, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(c->socket) >= sizeof(sa.sun_path))
		return err_msg(err, ENAMETOOLONG, "the daemon's socket path is too long: %s", c->socket);
	strcpy(sa.sun_path, c->socket);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return err_sys(err, errno, "socket");
	/* blocking connect (a full backlog waits instead of failing), non-blocking after */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return err_msg(err, ECONNREFUSED,
			       "cannot reach the coop daemon at %s: is `coop daemon` running?", c->socket);
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		return err_sys(err, e, "socket to the coop daemon");
	}
	k->fd = fd;
	return 0;
}

static int conn_open(struct api_client *c, struct api_conn *k, struct err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	_cleanup_free_ char *url = c->endpoint ? xasprintf("%s/", c->endpoint) : xstrdup("http://coop/");

	k->wait_ms = 30000;
	if (!c->endpoint)
		return local_open(c, k, err);
	if (!(k->curl = curl_easy_init()))
		return err_msg(err, ENOMEM, "initialize libcurl");
	curl_easy_setopt(k->curl, CURLOPT_URL, url);
	if (c->endpoint)
		tls_setopts(c, k->curl);
	if (!c->endpoint)
		curl_easy_setopt(k->curl, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	curl_easy_setopt(k->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(k->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(k->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode cr = curl_easy_perform(k->curl);
	curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, NULL); /* errbuf is ours only here */
	if (cr != CURLE_OK)
		return c->endpoint ? err_msg(err, ECONNREFUSED, "cannot reach the coop daemon at %s: %s",
					     c->endpoint, errbuf[0] ? errbuf : curl_easy_strerror(cr))
				   : err_msg(err, ECONNREFUSED,
					     "cannot reach the coop daemon at %s: is `coop daemon` running?",
					     c->socket);
	if (curl_easy_getinfo(k->curl, CURLINFO_ACTIVESOCKET, &k->fd) != CURLE_OK ||
	    k->fd == CURL_SOCKET_BAD)
		return err_msg(err, EIO, "no socket to the coop daemon");
	return 0;
}

/* The status of a reply head ("HTTP/1.1 200 OK\r\n..."), 0 if it is not one. */
static long head_status(const char *buf)
{
	long status = 0;
	return sscanf(buf, "HTTP/1.%*d %ld", &status) == 1 ? status : 0;
}

/* The reply's Content-Length, or -1 without one. */
static long long head_length(const char *buf, size_t head)
{
	for (const char *p = strstr(buf, "\r\n"); p && p < buf + head; p = strstr(p + 2, "\r\n"))
		if (strncasecmp(p + 2, "Content-Length:", 15) == 0)
			return strtoll(p + 17, NULL, 10);
	return -1;
}

static int local_transfer(struct api_client *c, const char *method, const char *path,
			  json_t *body, struct xfer *x, struct err *err)
{
	_cleanup_free_ char *data = body ? json_dumps(body, JSON_COMPACT) : NULL;
	_cleanup_free_ char *head = NULL, *buf = NULL;
	struct api_conn k = { .fd = -1, .wait_ms = c->timeout_ms > 0 ? (int)c->timeout_ms : -1 };
	size_t len = 0, hlen = 0, dlen = data ? strlen(data) : 0;
	char chunk[16384];
	long status;
	long long want, got;
	int r;

	if ((r = local_open(c, &k, err)) < 0)
		return r;
	head = xasprintf("%s %s HTTP/1.0\r\nHost: coop\r\nUser-Agent: coop-cli\r\n%s"
			 "Content-Length: %zu\r\n\r\n",
			 method, path, data ? "Content-Type: application/json\r\n" : "", dlen);
	if ((r = send_all(&k, head, strlen(head), err)) < 0 ||
	    (r = send_all(&k, data ? data : "", dlen, err)) < 0) {
		/* The daemon answers a body over its limit (413) without reading it, and closes:
		 * its reply is still there to read. */
		if (r != -EPIPE && r != -ECONNRESET)
			goto out;
		err_clear(err);
	}
	if ((r = read_head(&k, &buf, &len, &hlen, err)) < 0)
		goto out;
	if (!(status = head_status(buf))) {
		r = err_msg(err, EPROTO, "the daemon's reply is not HTTP");
		goto out;
	}
	want = head_length(buf, hlen);
	got = len - hlen;
	if (want >= 0 && got > want)
		got = want;
	bool more = xfer_take(x, status, buf + hlen, got);
	while (more && (want < 0 || got < want)) {
		size_t n = 0;
		r = api_conn_recv(&k, chunk, want >= 0 && want - got < (long long)sizeof(chunk) ? (size_t)(want - got) : sizeof(chunk), &n, err);
		if (r == -EAGAIN) {
			if ((r = wait_fd(&k, POLLIN, err)) < 0)
				goto out;
			continue;
		}
		if (r < 0)
			goto out;
		if (n == 0) {
			if (want >= 0) {
				r = err_msg(err, EIO, "talk to the coop daemon at %s: the reply ended early",
					    c->socket);
				goto out;
			}
			break;
		}
		got += n;
		more = xfer_take(x, status, chunk, n);
	}
	if (x->stop)
		r = x->stop;
	else if (x->too_big)
		r = err_msg(err, E2BIG, "reply from the daemon above %u bytes", API_CLIENT_MAX_REPLY);
	else if (status >= 300 || status < 200)
		r = api_error_from_reply(status, x->buf, x->len, err);
out:
	conn_close(&k);
	return r;
}

int api_upgrade(struct api_client *c, const char *method, const char *path, json_t *body,
		struct api_conn **ret, struct err *err)
{
	struct api_conn *k = xcalloc(1, sizeof(*k));

	k->fd = -1;
	_cleanup_free_ char *data = body ? json_dumps(body, JSON_COMPACT) : xstrdup("");
	_cleanup_free_ char *head = NULL, *buf = NULL;
	size_t len = 0, hlen = 0;
	long status = 0;
	int r;

	if ((r = conn_open(c, k, err)) < 0)
		goto fail;
	head = request_head(c, method, path, strlen(data));
	if ((r = send_all(k, head, strlen(head), err)) < 0 ||
	    (r = send_all(k, data, strlen(data), err)) < 0 ||
	    (r = read_head(k, &buf, &len, &hlen, err)) < 0)
		goto fail;
	if (sscanf(buf, "HTTP/1.%*d %ld", &status) != 1) {
		r = err_msg(err, EPROTO, "the daemon's reply is not HTTP");
		goto fail;
	}
	if (status != 101) {
		r = status >= 200 && status < 300
			    ? err_msg(err, EPROTO, "the daemon did not switch protocols (HTTP %ld): is it older than this client?", status)
			    : reply_error(k, status, buf, len, hlen, err);
		goto fail;
	}
	k->pending_len = len - hlen;
	k->pending = xmalloc(k->pending_len + 1);
	memcpy(k->pending, buf + hlen, k->pending_len);
	*ret = k;
	return 0;
fail:
	api_conn_free(k);
	return r;
}
