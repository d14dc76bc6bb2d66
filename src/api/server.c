/* server: libmicrohttpd (external epoll, suspend/resume) on the daemon's libuv loop.
 * Each listener (the unix socket; TCP+TLS with --listen) is one MHD daemon whose epoll
 * fd sits under a uv_poll; MHD_run is called when it is readable and when the timer
 * armed from MHD_get_timeout fires. Requests wait for their reply, or for stream data,
 * suspended — never by blocking the loop. */
#include "api/server.h"

#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "base/dl_gnutls.h"
#include "base/dl_mhd.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/util.h"

struct listener {
	struct api_server *srv;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	bool tcp;
};

/* The certificate the TLS listener presents, chosen per handshake (cert_retrieve) so
 * that a renewed one replaces it without restarting the listener. Older ones stay
 * until TLS_IDENT_KEEP newer ones exist: a handshake that began with one may still
 * be using it. */
#define TLS_IDENT_KEEP 8
struct tls_ident {
	gnutls_pcert_st pcert;
	gnutls_privkey_t key;
	struct tls_ident *older;
};

struct api_server {
	uv_loop_t *loop;
	struct api_server *next_srv; /* every server this process runs (cert_retrieve) */
	struct tls_ident *ident;
	struct listener l[2];
	int n_listeners;
	struct api_server_config cfg;
	char *unix_path;
	char *tls_key, *tls_cert, *tls_ca; /* PEM contents (MHD keeps pointers) */
	uv_timer_t heartbeat;
	int open_handles;
	bool stopping;
	struct api_req *reqs; /* every live request, for heartbeats and shutdown */
	struct api_upgrade *upgrades; /* every upgraded stream not yet closed */
};

struct api_upgrade {
	struct listener *l;
	struct MHD_UpgradeResponseHandle *urh; /* NULL once closed */
	struct api_upgrade *prev, *next;
};

struct api_req {
	struct api_server *srv;
	struct listener *l;
	struct MHD_Connection *conn; /* NULL once the connection is done */
	struct api_req *prev, *next;
	char *method, *path;
	char *body;
	size_t len;
	bool too_big;
	enum auth_role role;
	char *peer_cn, *peer_serial; /* a node certificate's CN and serial (hex) */
	int refs;
	bool linked, dispatched, suspended, answered;
	unsigned status;
	struct MHD_Response *resp; /* made, not yet queued */
	/* streaming */
	bool streaming, ended, queued;
	char *out;
	size_t out_len, out_off;
	api_close_fn on_close;
	void *close_ctx;
	/* upgrade: fn not yet called */
	api_upgrade_fn up_fn;
	void *up_ctx;
};

/* ---- requests ---- */

static struct api_req *req_new(struct listener *l, struct MHD_Connection *conn, const char *url,
			       const char *method)
{
	struct api_req *r = xcalloc(1, sizeof(*r));
	r->srv = l->srv;
	r->l = l;
	r->conn = conn;
	r->method = xstrdup(method);
	r->path = xstrdup(url);
	r->refs = 1;
	r->next = r->srv->reqs;
	if (r->next)
		r->next->prev = r;
	r->srv->reqs = r;
	r->linked = true;
	return r;
}

/* Once its connection is done a request leaves the server's list: a holder may
 * outlive the server itself. */
static void req_unlink(struct api_req *r)
{
	if (!r->linked)
		return;
	r->linked = false;
	if (r->prev)
		r->prev->next = r->next;
	else
		r->srv->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

static void req_free(struct api_req *r)
{
	req_unlink(r);
	if (r->resp)
		MHD_destroy_response(r->resp);
	free(r->method);
	free(r->path);
	free(r->body);
	free(r->out);
	free(r->peer_cn);
	free(r->peer_serial);
	free(r);
}

struct api_req *api_req_hold(struct api_req *r)
{
	r->refs++;
	return r;
}

void api_req_release(struct api_req *r)
{
	if (r && --r->refs == 0)
		req_free(r);
}

const char *api_req_method(const struct api_req *r) { return r->method; }
const char *api_req_path(const struct api_req *r) { return r->path; }
enum auth_role api_req_role(const struct api_req *r) { return r->role; }
const char *api_req_peer_cn(const struct api_req *r) { return r->peer_cn; }
bool api_req_local(const struct api_req *r) { return !r->l->tcp; }
bool api_req_alive(const struct api_req *r) { return r->conn && !r->srv->stopping; }

const char *api_req_body(const struct api_req *r, size_t *ret_len)
{
	if (ret_len)
		*ret_len = r->len;
	return r->body ? r->body : "";
}

const char *api_req_query(struct api_req *r, const char *key)
{
	return r->conn ? MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key) : NULL;
}

const char *api_req_header(struct api_req *r, const char *key)
{
	return r->conn ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key) : NULL;
}

/* ---- driving MHD from the loop ---- */

static void on_timer(uv_timer_t *t);

static void run_mhd(struct listener *l)
{
	MHD_UNSIGNED_LONG_LONG to;

	if (!l->mhd)
		return;
	MHD_run(l->mhd);
	if (MHD_get_timeout(l->mhd, &to) == MHD_YES)
		uv_timer_start(&l->timer, on_timer, to > 3600000 ? 3600000 : to, 0);
	else
		uv_timer_stop(&l->timer);
}

static void on_timer(uv_timer_t *t)
{
	run_mhd(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	run_mhd(p->data);
}

/* MHD processes a resumed connection on its next run: soon, not from inside the
 * caller (which may itself be inside MHD_run). */
static void kick(struct listener *l)
{
	if (l->mhd)
		uv_timer_start(&l->timer, on_timer, 0, 0);
}

static void resume(struct api_req *r)
{
	if (r->suspended && r->conn) {
		r->suspended = false;
		MHD_resume_connection(r->conn);
		kick(r->l);
	}
}

/* ---- replies ---- */

static void set_response(struct api_req *r, unsigned status, struct MHD_Response *resp)
{
	if (r->answered || !r->conn) {
		MHD_destroy_response(resp);
		return;
	}
	r->answered = true;
	r->status = status;
	r->resp = resp;
	resume(r);
}

void api_reply_json(struct api_req *r, unsigned status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (r->answered || !r->conn || !s) {
		free(s);
		return;
	}
	size_t n = strlen(s);
	s[n] = '\n'; /* replace the NUL: curl output ends in a newline */
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(n + 1, s, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	set_response(r, status, resp);
}

void api_reply_error(struct api_req *r, unsigned status, const char *code, const char *field,
		     const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *e = json_pack("{s:s,s:s}", "code", code, "message", msg);
	if (!e) /* message not UTF-8: say so rather than lose the reply */
		e = json_pack("{s:s,s:s}", "code", code, "message", "(message not UTF-8)");
	if (field)
		json_object_set_new(e, "field", json_string(field));
	api_reply_json(r, status, json_pack("{s:o}", "error", e));
}

/* ---- streams ---- */

static void stream_closed(struct api_req *r)
{
	api_close_fn fn = r->on_close;
	r->on_close = NULL;
	if (fn)
		fn(r->close_ctx);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct api_req *r = cls;
	size_t n = r->out_len - r->out_off;

	if (n > 0) {
		if (n > max)
			n = max;
		memcpy(buf, r->out + r->out_off, n);
		r->out_off += n;
		if (r->out_off == r->out_len)
			r->out_off = r->out_len = 0;
		return n;
	}
	if (r->ended || r->srv->stopping)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* nothing yet: wait without spinning; api_stream_write resumes */
	r->suspended = true;
	MHD_suspend_connection(r->conn);
	return 0;
}

void api_stream_begin(struct api_req *r, unsigned status, api_close_fn on_close, void *ctx)
{
	if (r->answered || !r->conn) {
		if (on_close)
			on_close(ctx);
		return;
	}
	struct MHD_Response *resp =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, r, NULL);
	MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	r->streaming = true;
	r->on_close = on_close;
	r->close_ctx = ctx;
	set_response(r, status, resp);
}

void api_stream_write(struct api_req *r, const char *data, size_t len)
{
	if (!r->streaming || r->ended || !r->conn || len == 0)
		return;
	if (r->out_off > 0 && r->out_off == r->out_len)
		r->out_off = r->out_len = 0;
	r->out = xrealloc(r->out, r->out_len + len);
	memcpy(r->out + r->out_len, data, len);
	r->out_len += len;
	resume(r);
}

void api_stream_json(struct api_req *r, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		return;
	size_t n = strlen(s);
	s[n] = '\n';
	api_stream_write(r, s, n + 1);
	free(s);
}

void api_stream_end(struct api_req *r)
{
	if (!r->streaming || r->ended)
		return;
	r->ended = true;
	stream_closed(r);
	resume(r);
}

size_t api_stream_pending(const struct api_req *r)
{
	return r->out_len - r->out_off;
}

/* ---- MHD callbacks ---- */

bool api_server_open_route(const char *method, const char *path)
{
	static const struct {
		const char *method, *path;
	} open[] = {
		{ "GET", "/v1/cluster/ca" },
		{ "POST", "/v1/cluster/join" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(open); i++)
		if (streq(method, open[i].method) && streq(path, open[i].path))
			return true;
	return false;
}

static bool peer_role(struct api_req *r)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t n = sizeof(cred);
	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &n) < 0) {
		api_reply_error(r, 403, "forbidden", NULL, "cannot read peer credentials");
		return false;
	}
	r->role = auth_peer_role(cred.uid);
	if (r->role == AUTH_NONE) {
		api_reply_error(r, 403, "forbidden", NULL,
				"permission denied: the coop socket is for root only");
		return false;
	}
	return true;
}

/* Whether the TLS client presented a certificate that verifies against the cluster CA
 * (chain, signature and validity period; GnuTLS checks them against the trust list
 * MHD_OPTION_HTTPS_MEM_TRUST installed). No certificate at all is simply "no". */
static bool node_cert_ok(struct api_req *r)
{
	const union MHD_ConnectionInfo *ci;
	unsigned status = 0;

	if (!r->srv->tls_ca)
		return false;
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return false;
	if (gnutls_certificate_type_get(ci->tls_session) != GNUTLS_CRT_X509 ||
	    gnutls_certificate_verify_peers2(ci->tls_session, &status) != 0)
		return false;
	if (status != 0)
		log_debug("http: a client certificate does not verify against the cluster CA (status %#x)",
			  status);
	return status == 0;
}

/* What a connection's client certificate says, worked out at its first request:
 * verifying the chain and reading the name cost a few hundred microseconds, and a
 * node's heartbeats reuse one connection for thousands of requests (TLS 1.3: the
 * certificate cannot change on a connection). Allocated and freed by on_connection. */
struct conn_id {
	bool checked, node, usable;
	char cn[256], serial[2 * 20 + 1];
};

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = xcalloc(1, sizeof(struct conn_id));
	} else {
		free(*socket_context);
		*socket_context = NULL;
	}
}

/* The CN and serial of the (verified) client certificate, for the routes that bind a
 * node's name to it and for the owner's revocation check. */
static bool node_identity(struct api_req *r, struct conn_id *id)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	unsigned n = 0;
	const gnutls_datum_t *certs = ci ? gnutls_certificate_get_peers(ci->tls_session, &n) : NULL;
	gnutls_x509_crt_t crt;
	char cn[256];
	unsigned char serial[64];
	size_t cn_len = sizeof(cn), slen = sizeof(serial);
	bool ok = false;

	if (!certs || n == 0 || gnutls_x509_crt_init(&crt) < 0)
		return false;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0 &&
	    gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_len) >= 0 &&
	    gnutls_x509_crt_get_serial(crt, serial, &slen) >= 0 && slen > 0 && slen <= 20) {
		snprintf(id->cn, sizeof(id->cn), "%s", cn);
		for (size_t i = 0; i < slen; i++)
			sprintf(id->serial + 2 * i, "%02x", serial[i]);
		ok = true;
	}
	gnutls_x509_crt_deinit(crt);
	return ok;
}

/* TCP: a node certificate, else an access token; the open routes need neither. */
static bool authenticate(struct api_req *r)
{
	struct api_server *s = r->srv;
	bool open = api_server_open_route(r->method, r->path);

	if (!r->l->tcp)
		return peer_role(r);
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn_id local = { 0 }, *id = ci && ci->socket_context ? ci->socket_context : &local;
	if (!id->checked) {
		id->checked = true;
		id->node = node_cert_ok(r);
		id->usable = id->node && node_identity(r, id);
	}
	if (id->node) {
		struct err err = { 0 };
		if (!id->usable) {
			api_reply_error(r, 403, "forbidden", NULL,
					"the client certificate has no usable name or serial");
			return false;
		}
		r->peer_cn = xstrdup(id->cn);
		r->peer_serial = xstrdup(id->serial);
		if (s->cfg.peer_check &&
		    s->cfg.peer_check(s->cfg.peer_ctx, r->peer_cn, r->peer_serial, &err) < 0) {
			api_reply_error(r, 403, "forbidden", NULL, "%s", err.msg);
			return false;
		}
		r->role = AUTH_NODE;
		return true;
	}
	const char *access = api_req_header(r, "X-Coop-Access-Token");
	const char *secret = api_req_header(r, "X-Coop-Secret-Key");
	_cleanup_free_ char *buf = NULL;
	if (!access && !secret)
		auth_parse_bearer(api_req_header(r, "Authorization"), &buf, &access, &secret);
	if (!access || !secret) {
		r->role = AUTH_NONE;
		if (!open)
			api_reply_error(r, 401, "unauthorized", NULL,
					"an access token and secret key are required");
		return open;
	}
	r->role = s->cfg.tokens ? auth_store_check(s->cfg.tokens, access, secret) : AUTH_NONE;
	if (r->role == AUTH_NONE && !open) {
		api_reply_error(r, 401, "unauthorized", NULL, "invalid access token or secret key");
		return false;
	}
	return true;
}

static bool admit(struct api_req *r)
{
	if (!authenticate(r))
		return false;
	if (r->role != AUTH_NONE && !auth_role_allows(r->role, r->method)) {
		api_reply_error(r, 403, "forbidden", NULL,
				"a %s token cannot change anything (%s %s)", auth_role_name(r->role),
				r->method, r->path);
		return false;
	}
	const char *cl = api_req_header(r, "Content-Length");
	if (cl && strtoull(cl, NULL, 10) > API_BODY_MAX) {
		api_reply_error(r, 413, "too_large", NULL, "request body above the %u byte limit",
				API_BODY_MAX);
		return false;
	}
	return true;
}

static enum MHD_Result queue(struct api_req *r)
{
	enum MHD_Result ret = MHD_queue_response(r->conn, r->status, r->resp);
	MHD_destroy_response(r->resp);
	r->resp = NULL;
	r->queued = true;
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct listener *l = cls;
	struct api_req *r = *con_cls;

	if (!r) {
		r = req_new(l, conn, url, method);
		*con_cls = r;
		if (l->srv->stopping)
			api_reply_error(r, 503, "unavailable", NULL, "the daemon is shutting down");
		else
			admit(r);
		return r->resp ? queue(r) : MHD_YES;
	}
	if (r->resp)
		return queue(r);
	if (*upload_size) {
		if (!r->too_big && r->len + *upload_size <= API_BODY_MAX) {
			r->body = xrealloc(r->body, r->len + *upload_size + 1);
			memcpy(r->body + r->len, upload_data, *upload_size);
			r->len += *upload_size;
			r->body[r->len] = '\0';
		} else {
			r->too_big = true; /* read on and drop, then answer 413 */
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->dispatched) {
		r->dispatched = true;
		if (r->too_big)
			api_reply_error(r, 413, "too_large", NULL,
					"request body above the %u byte limit", API_BODY_MAX);
		else
			l->srv->cfg.dispatch(l->srv->cfg.ctx, r);
		if (r->resp)
			return queue(r);
	}
	if (!r->answered) { /* the reply comes later */
		r->suspended = true;
		MHD_suspend_connection(conn);
	}
	return MHD_YES;
}

/* ---- upgrades ---- */

bool api_req_wants_upgrade(struct api_req *r)
{
	const char *conn = api_req_header(r, "Connection");
	const char *up = api_req_header(r, "Upgrade");
	return conn && up && strcasestr(conn, "upgrade") && strcasecmp(up, "tcp") == 0;
}

static void upgrade_abandon(struct api_req *r)
{
	api_upgrade_fn fn = r->up_fn;
	r->up_fn = NULL;
	if (fn)
		fn(r->up_ctx, -1, NULL, 0, NULL);
}

/* MHD calls this right after the 101 went out, before the request completes. */
static void on_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra,
			size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct api_req *r = con_cls;
	struct api_upgrade *u = xcalloc(1, sizeof(*u));
	api_upgrade_fn fn = r->up_fn;

	r->up_fn = NULL;
	u->l = r->l;
	u->urh = urh;
	u->next = r->srv->upgrades;
	if (u->next)
		u->next->prev = u;
	r->srv->upgrades = u;
	/* the stream lives as long as its taker wants: no idle timeout */
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	fn(r->up_ctx, sock, extra, extra_len, u);
}

void api_reply_upgrade(struct api_req *r, api_upgrade_fn fn, void *ctx)
{
	if (r->answered || !r->conn || r->srv->stopping) {
		fn(ctx, -1, NULL, 0, NULL);
		return;
	}
	struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, NULL);
	MHD_add_response_header(resp, "Upgrade", "tcp");
	r->up_fn = fn;
	r->up_ctx = ctx;
	set_response(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}

static void upgrade_unlink(struct api_upgrade *u)
{
	struct api_server *s = u->l->srv;
	if (u->prev)
		u->prev->next = u->next;
	else if (s->upgrades == u)
		s->upgrades = u->next;
	if (u->next)
		u->next->prev = u->prev;
	u->prev = u->next = NULL;
}

void api_upgrade_close(struct api_upgrade *u)
{
	if (!u)
		return;
	if (u->urh) { /* not already closed by api_server_stop */
		upgrade_unlink(u);
		MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
		kick(u->l);
	}
	free(u);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api_req *r = *con_cls;
	if (!r)
		return;
	*con_cls = NULL;
	r->conn = NULL;
	r->suspended = false;
	req_unlink(r);
	stream_closed(r);
	upgrade_abandon(r);
	api_req_release(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	if (log_level() >= LOG_DEBUG) {
		char buf[512];
		vsnprintf(buf, sizeof(buf), fmt, ap);
		buf[strcspn(buf, "\n")] = '\0';
		log_debug("http: %s", buf);
	}
}

/* ---- heartbeats ---- */

static void on_heartbeat(uv_timer_t *t)
{
	struct api_server *s = t->data;
	for (struct api_req *r = s->reqs; r; r = r->next)
		if (r->streaming && !r->ended && r->queued && api_stream_pending(r) == 0)
			api_stream_write(r, "\n", 1);
}

/* ---- sockets ---- */

static int unix_socket(const char *path, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_msg(err, ENAMETOOLONG, "socket path '%s' too long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_sys(err, errno, "create unix socket");
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return err_sys(err, errno, "bind '%s'", path);
	if (chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
		r = err_sys(err, errno, "listen on '%s'", path);
		unlink(path);
		return r;
	}
	return take_fd(fd);
}

static int tcp_socket(const char *listen_addr, struct err *err)
{
	_cleanup_free_ char *host = xstrdup(listen_addr);
	char *colon = strrchr(host, ':'), *h = host;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST };
	struct addrinfo *ai = NULL;
	_cleanup_close_ int fd = -1;
	int one = 1, r;

	if (!colon || !colon[1])
		return err_msg(err, EINVAL, "--listen: expected ADDR:PORT, got '%s'", listen_addr);
	*colon = '\0';
	if (*h == '[' && colon > h && colon[-1] == ']') {
		h++;
		colon[-1] = '\0';
	}
	if ((r = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai)) != 0)
		return err_msg(err, EINVAL, "--listen '%s': %s", listen_addr, gai_strerror(r));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		r = err_sys(err, errno, "listen on %s", listen_addr);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	return take_fd(fd);
}

/* ---- the listener's certificate ---- */

static struct api_server *servers; /* cert_retrieve finds its server among these */

static void ident_free(struct tls_ident *id)
{
	while (id) {
		struct tls_ident *older = id->older;
		gnutls_pcert_deinit(&id->pcert);
		gnutls_privkey_deinit(id->key);
		free(id);
		id = older;
	}
}

static int ident_new(const char *cert_pem, const char *key_pem, struct tls_ident **ret,
		     struct err *err)
{
	struct tls_ident *id = xcalloc(1, sizeof(*id));
	gnutls_datum_t c = { (unsigned char *)cert_pem, (unsigned)strlen(cert_pem) };
	gnutls_datum_t k = { (unsigned char *)key_pem, (unsigned)strlen(key_pem) };
	int rv;

	if ((rv = gnutls_pcert_import_x509_raw(&id->pcert, &c, GNUTLS_X509_FMT_PEM, 0)) < 0) {
		free(id);
		return err_msg(err, EINVAL, "TLS certificate: %s", gnutls_strerror(rv));
	}
	if ((rv = gnutls_privkey_init(&id->key)) < 0 ||
	    (rv = gnutls_privkey_import_x509_raw(id->key, &k, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		gnutls_pcert_deinit(&id->pcert);
		if (id->key)
			gnutls_privkey_deinit(id->key);
		free(id);
		return err_msg(err, EINVAL, "TLS key: %s", gnutls_strerror(rv));
	}
	*ret = id;
	return 0;
}

/* GnuTLS asks, per handshake, what to present: the newest identity of the server
 * whose MHD daemon holds the connection (MHD sets the session pointer to it). */
static int cert_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
			 const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
			 gnutls_pcert_st **pcert, unsigned int *pcert_length,
			 gnutls_privkey_t *privkey)
{
	struct MHD_Connection *conn = gnutls_session_get_ptr(session);
	const union MHD_ConnectionInfo *ci =
		conn ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON) : NULL;

	for (struct api_server *s = servers; ci && s; s = s->next_srv)
		for (int i = 0; i < 2; i++)
			if (s->l[i].mhd == ci->daemon && s->ident) {
				*pcert = &s->ident->pcert;
				*pcert_length = 1;
				*privkey = s->ident->key;
				return 0;
			}
	log_warn("http: TLS handshake: no certificate to present");
	return -1;
}

int api_server_set_tls(struct api_server *s, const char *cert_pem, const char *key_pem,
		       struct err *err)
{
	struct tls_ident *id = NULL, *p;
	int r = ident_new(cert_pem, key_pem, &id, err);

	if (r < 0)
		return r;
	id->older = s->ident;
	s->ident = id;
	p = id;
	for (int n = 1; p && n < TLS_IDENT_KEEP; n++)
		p = p->older;
	if (p) {
		ident_free(p->older);
		p->older = NULL;
	}
	return 0;
}

static int listener_start(struct api_server *s, struct listener *l, int fd, bool tls,
			  struct err *err)
{
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	int r;

	l->srv = s;
	l->tcp = tls;
	if (tls)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem tls_opts[4];
	int n = 0;
	if (tls) {
		tls_opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
							 (void *)cert_retrieve };
		/* with a trust list MHD asks clients for a certificate (not requires it) */
		if (s->tls_ca)
			tls_opts[n++] =
				(struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, s->tls_ca };
	}
	tls_opts[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	l->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, l,
		/* first, so that MHD's messages about the options below reach it */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, l, MHD_OPTION_NOTIFY_CONNECTION,
		on_connection, NULL, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)API_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
		MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
	if (!l->mhd) {
		close(fd);
		return err_msg(err, EIO, "start the HTTP server%s", tls ? " (TLS: check the certificate and key)" : "");
	}
	di = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!di)
		return err_msg(err, EIO, "HTTP server without an epoll fd");
	if ((r = uv_poll_init(s->loop, &l->poll, di->epoll_fd)) < 0)
		return err_msg(err, -r, "watch the HTTP server: %s", uv_strerror(r));
	uv_timer_init(s->loop, &l->timer);
	l->poll.data = l->timer.data = l;
	s->open_handles += 2;
	uv_poll_start(&l->poll, UV_READABLE, on_poll);
	s->n_listeners++;
	run_mhd(l);
	return 0;
}

int api_server_start(uv_loop_t *loop, const struct api_server_config *cfg,
		     struct api_server **ret, struct err *err)
{
	struct api_server *s;
	int fd, r;

	if (dl_load(&dl_mhd, err) < 0)
		return -err->code;
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->cfg = *cfg;
	uv_timer_init(loop, &s->heartbeat);
	s->heartbeat.data = s;
	s->open_handles = 1;
	if (cfg->listen) {
		if (!cfg->tls_cert || !cfg->tls_key) {
			r = err_msg(err, EINVAL, "--listen needs --tls-cert and --tls-key");
			goto fail;
		}
		if ((r = fs_read(cfg->tls_cert, &s->tls_cert, err)) < 0 ||
		    (r = fs_read(cfg->tls_key, &s->tls_key, err)) < 0 ||
		    (cfg->tls_ca && (r = fs_read(cfg->tls_ca, &s->tls_ca, err)) < 0) ||
		    (r = api_server_set_tls(s, s->tls_cert, s->tls_key, err)) < 0)
			goto fail;
	}
	s->next_srv = servers;
	servers = s;
	if ((fd = unix_socket(cfg->unix_path, err)) < 0) {
		r = fd;
		goto fail;
	}
	s->unix_path = xstrdup(cfg->unix_path);
	if ((r = listener_start(s, &s->l[0], fd, false, err)) < 0)
		goto fail;
	if (cfg->listen) {
		if ((fd = r = tcp_socket(cfg->listen, err)) < 0 ||
		    (r = listener_start(s, &s->l[1], fd, true, err)) < 0)
			goto fail;
	}
	uv_timer_start(&s->heartbeat, on_heartbeat, API_HEARTBEAT_MS, API_HEARTBEAT_MS);
	*ret = s;
	return 0;
fail:
	api_server_stop(s);
	return r;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct api_server *s = h->data;
	if (--s->open_handles > 0)
		return;
	free(s->tls_cert);
	free(s->tls_key);
	free(s->tls_ca);
	ident_free(s->ident);
	free(s);
}

void api_server_stop(struct api_server *s)
{
	for (struct api_server **p = &servers; *p; p = &(*p)->next_srv)
		if (*p == s) {
			*p = s->next_srv;
			break;
		}
	s->stopping = true;
	/* streams end; requests waiting for a reply get 503; MHD requires every
	 * suspended connection resumed before it stops */
	for (struct api_req *r = s->reqs, *next; r; r = next) {
		next = r->next;
		if (r->streaming)
			api_stream_end(r);
		else if (r->dispatched && !r->answered)
			api_reply_error(r, 503, "unavailable", NULL, "the daemon is shutting down");
		if (r->suspended && r->conn) {
			r->suspended = false;
			MHD_resume_connection(r->conn);
		}
	}
	/* upgraded streams end here; their takers' api_upgrade_close only frees */
	while (s->upgrades) {
		struct api_upgrade *u = s->upgrades;
		upgrade_unlink(u);
		MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
		u->urh = NULL;
	}
	for (int i = 0; i < 2; i++) {
		struct listener *l = &s->l[i];
		if (!l->mhd)
			continue;
		uv_poll_stop(&l->poll);
		MHD_run(l->mhd); /* let resumed connections send what they have */
		MHD_stop_daemon(l->mhd);
		l->mhd = NULL;
		l->poll.data = l->timer.data = s;
		uv_close((uv_handle_t *)&l->poll, on_handle_closed);
		uv_close((uv_handle_t *)&l->timer, on_handle_closed);
	}
	if (s->unix_path) {
		unlink(s->unix_path);
		free(s->unix_path);
		s->unix_path = NULL;
	}
	uv_close((uv_handle_t *)&s->heartbeat, on_handle_closed);
}
