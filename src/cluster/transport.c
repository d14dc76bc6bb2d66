/* transport: libraft's raft_uv_transport over mutually authenticated TLS. A connection
 * walks CONNECTING → HANDSHAKE → HELLO → BRIDGED; only a BRIDGED one is visible to
 * libraft, as a uv_pipe_t on one end of a socketpair whose other end is pumped to and
 * from the GnuTLS session. Everything is driven by uv_poll on raw nonblocking fds. */
#include "cluster/transport.h"

#include <arpa/inet.h>
#include <endian.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <sys/socket.h>

#include "base/dl_gnutls.h"
#include "base/log.h"
#include "base/util.h"
#include "cluster/pki.h"

#define MAGIC "COOPRFT1"
#define HELLO_HDR (8 + 8 + 2) /* magic, id (le64), address length (le16) */
#define HELLO_ACK 0x01
#define BUF_SIZE 32768
/* only coop talks to coop: TLS 1.3, the library's default suites and groups */
#define PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3"

struct creds {
	gnutls_certificate_credentials_t c;
	unsigned refs;
};

enum cstate { C_CONNECTING, C_HANDSHAKE, C_HELLO, C_BRIDGED };

struct rtls;

struct conn {
	struct rtls *tr;
	struct conn *prev, *next;
	bool out, dead, checked, acked;
	enum cstate st;
	int fd, pfd;	       /* TCP; our end of the socketpair */
	uv_poll_t poll, ppoll; /* on fd; on pfd */
	int poll_ev, ppoll_ev; /* events currently polled */
	bool ppoll_init;
	uv_timer_t timer; /* handshake deadline; also reports an immediate connect error */
	unsigned handles; /* uv handles not yet closed */
	int connect_err;
	gnutls_session_t s;
	struct creds *creds;
	struct raft_uv_connect *req;
	raft_uv_connect_cb cb;
	raft_id peer_id;
	char peer_addr[RTLS_ADDR_MAX]; /* dialled (out) or advertised in the hello (in) */
	char peer_host[RTLS_ADDR_MAX];
	struct pki_cert_info cert; /* the peer's, once its handshake is done */
	unsigned char hello[HELLO_HDR + RTLS_ADDR_MAX];
	size_t hlen, hoff;
	bool want_write;
	unsigned char up[BUF_SIZE], down[BUF_SIZE]; /* libraft → TLS; TLS → libraft */
	size_t up_len, up_off, down_len, down_off;
};

struct rtls {
	struct raft_uv_transport *t;
	uv_loop_t *loop;
	raft_id id;
	char address[RTLS_ADDR_MAX];
	struct creds *creds;
	unsigned timeout_ms;
	int lfd;
	uv_poll_t lpoll;
	uv_timer_t anchor; /* closed last, so the close callback is always asynchronous */
	bool inited, closing;
	unsigned refs; /* open handles + live connections */
	raft_uv_accept_cb accept_cb;
	raft_uv_transport_close_cb close_cb;
	struct conn *conns;
	unsigned pending_in;
	struct rtls_stats stats;
	rtls_peer_check_fn check;
	void *check_ctx;
	char last_warn[256]; /* the same refusal over and over is logged once a minute */
	uint64_t last_warn_ms;
};

static void conn_step(struct conn *c);

/* ---- credentials ---- */

static void creds_unref(struct creds *cr)
{
	if (cr && --cr->refs == 0) {
		gnutls_certificate_free_credentials(cr->c);
		free(cr);
	}
}

static gnutls_datum_t datum(const char *s)
{
	return (gnutls_datum_t){.data = (unsigned char *)s, .size = s ? (unsigned)strlen(s) : 0};
}

static int creds_new(const struct rtls_config *cfg, struct creds **ret, struct err *err)
{
	gnutls_certificate_credentials_t c;
	gnutls_datum_t ca = datum(cfg->ca_pem), crt = datum(cfg->cert_pem),
		       key = datum(cfg->key_pem);
	int rv;

	if (!ca.size || !crt.size || !key.size)
		return err_msg(err, EINVAL, "TLS transport: CA, certificate and key are required");
	if ((rv = gnutls_certificate_allocate_credentials(&c)) < 0)
		return err_msg(err, ENOMEM, "TLS credentials: %s", gnutls_strerror(rv));
	rv = gnutls_certificate_set_x509_trust_mem(c, &ca, GNUTLS_X509_FMT_PEM);
	if (rv <= 0) {
		gnutls_certificate_free_credentials(c);
		return err_msg(err, EINVAL, "load the cluster CA: %s",
			       rv < 0 ? gnutls_strerror(rv) : "no certificate");
	}
	rv = gnutls_certificate_set_x509_key_mem(c, &crt, &key, GNUTLS_X509_FMT_PEM);
	if (rv < 0) {
		gnutls_certificate_free_credentials(c);
		return err_msg(err, EINVAL, "load the node certificate and key: %s",
			       gnutls_strerror(rv));
	}
	*ret = xmalloc(sizeof(**ret));
	(*ret)->c = c;
	(*ret)->refs = 1;
	return 0;
}

/* "a.b.c.d:port" or "[v6]:port" → sockaddr and host text. */
static int addr_parse(const char *addr, struct sockaddr_storage *ss, char host[RTLS_ADDR_MAX])
{
	const char *h = addr, *end, *port;
	char *e;
	unsigned long p;

	if (!addr || strlen(addr) >= RTLS_ADDR_MAX)
		return -EINVAL;
	if (addr[0] == '[') {
		h = addr + 1;
		end = strchr(h, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		port = end + 2;
	} else {
		end = strrchr(addr, ':');
		if (!end)
			return -EINVAL;
		port = end + 1;
	}
	memcpy(host, h, end - h);
	host[end - h] = '\0';
	errno = 0;
	p = strtoul(port, &e, 10);
	if (errno || *e || e == port || p == 0 || p > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (addr[0] == '[')
		return uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)ss) ? -EINVAL : 0;
	return uv_ip4_addr(host, (int)p, (struct sockaddr_in *)ss) ? -EINVAL : 0;
}

/* ---- connection lifetime ---- */

static void tr_unref(struct rtls *tr)
{
	if (--tr->refs == 0 && tr->closing && tr->close_cb)
		tr->close_cb(tr->t);
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct rtls *tr = c->tr;

	if (--c->handles > 0)
		return;
	if (c->s)
		gnutls_deinit(c->s);
	if (c->fd >= 0)
		close(c->fd);
	if (c->pfd >= 0)
		close(c->pfd);
	creds_unref(c->creds);
	free(c);
	tr_unref(tr);
}

/* Unlinks c and closes its handles; memory goes once they are closed. Idempotent. */
static void conn_destroy(struct conn *c)
{
	struct rtls *tr = c->tr;

	if (c->dead)
		return;
	c->dead = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		tr->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->st == C_BRIDGED) {
		tr->stats.bridged--;
		gnutls_bye(c->s, GNUTLS_SHUT_WR); /* best effort, nonblocking */
	} else if (!c->out) {
		tr->pending_in--;
	}
	uv_close((uv_handle_t *)&c->poll, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	if (c->ppoll_init)
		uv_close((uv_handle_t *)&c->ppoll, conn_handle_closed);
}

/* A connection that never reached libraft: say why, count it, fail the connect. */
static void conn_fail(struct conn *c, bool warn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void conn_fail(struct conn *c, bool warn, const char *fmt, ...)
{
	struct rtls *tr = c->tr;
	struct raft_uv_connect *req = take_ptr(c->req);
	raft_uv_connect_cb cb = c->cb;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tr->t->errmsg, sizeof(tr->t->errmsg), fmt, ap);
	va_end(ap);
	if (warn && (!streq(tr->last_warn, tr->t->errmsg) ||
		     uv_now(tr->loop) >= tr->last_warn_ms + 60000)) {
		log_warn("raft transport: %s", tr->t->errmsg);
		snprintf(tr->last_warn, sizeof(tr->last_warn), "%s", tr->t->errmsg);
		tr->last_warn_ms = uv_now(tr->loop);
	} else {
		log_debug("raft transport: %s", tr->t->errmsg);
	}
	if (c->out)
		tr->stats.refused_out++;
	else
		tr->stats.refused_in++;
	conn_destroy(c);
	if (req)
		cb(req, NULL, RAFT_NOCONNECTION);
}

static const char *peer_name(struct conn *c)
{
	return c->out ? c->peer_addr : "incoming connection";
}

static void tls_fail(struct conn *c, int rv, const char *what)
{
	gnutls_datum_t out = {0};
	unsigned status;

	if (c->st == C_HANDSHAKE)
		gnutls_alert_send_appropriate(c->s, rv); /* best effort: tell the peer why */
	if (rv == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		status = gnutls_session_get_verify_cert_status(c->s);
		gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0);
		conn_fail(c, true, "%s %s: peer certificate refused: %s", what, peer_name(c),
			  out.data ? (char *)out.data : "invalid");
		gnutls_free(out.data);
	} else if (rv == GNUTLS_E_FATAL_ALERT_RECEIVED || rv == GNUTLS_E_WARNING_ALERT_RECEIVED) {
		conn_fail(c, true, "%s %s: peer refused us: %s", what, peer_name(c),
			  gnutls_alert_get_name(gnutls_alert_get(c->s)));
	} else if (c->out && c->st == C_HELLO &&
		   (rv == GNUTLS_E_PULL_ERROR || rv == GNUTLS_E_PREMATURE_TERMINATION)) {
		/* TLS 1.3: our handshake ends before the server has checked our certificate;
		 * a refusal shows up as a reset or a close while we wait for the ack */
		conn_fail(c, true,
			  "%s %s: the peer closed the connection (it refused our "
			  "certificate or hello)",
			  what, peer_name(c));
	} else {
		conn_fail(c, c->st != C_BRIDGED, "%s %s: %s", what, peer_name(c),
			  gnutls_strerror(rv));
	}
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct conn *c = p->data;

	if (status < 0) {
		/* libuv stopped the poll (POLLERR); one more step picks up a TLS alert
		 * or the socket error, which says more than the poll status */
		if (p == &c->poll)
			c->poll_ev = 0;
		else
			c->ppoll_ev = 0;
		conn_step(c);
		if (c->dead)
			return;
		if (c->st == C_BRIDGED)
			return conn_destroy(c);
		return conn_fail(c, false, "connection with %s: %s", peer_name(c),
				 uv_strerror(status));
	}
	conn_step(c);
}

static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->connect_err)
		conn_fail(c, false, "connect to %s: %s", c->peer_addr, strerror(c->connect_err));
	else
		conn_fail(c, true, "TLS handshake with %s timed out", peer_name(c));
}

static void poll_set(struct conn *c, uv_poll_t *p, int *cur, int ev)
{
	if (ev == *cur)
		return;
	*cur = ev;
	if (ev)
		uv_poll_start(p, ev, on_poll);
	else
		uv_poll_stop(p);
}

static void tls_wait(struct conn *c)
{
	poll_set(c, &c->poll, &c->poll_ev,
		 gnutls_record_get_direction(c->s) ? UV_WRITABLE : UV_READABLE);
}

static int session_new(struct conn *c, struct err *err)
{
	unsigned flags = GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL | GNUTLS_NO_TICKETS;
	int rv;

	flags |= c->out ? GNUTLS_CLIENT : GNUTLS_SERVER;
	if ((rv = gnutls_init(&c->s, flags)) < 0 ||
	    (rv = gnutls_priority_set_direct(c->s, PRIORITY, NULL)) < 0 ||
	    (rv = gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, c->creds->c)) < 0)
		return err_msg(err, EIO, "TLS session: %s", gnutls_strerror(rv));
	if (!c->out)
		gnutls_certificate_server_set_request(c->s, GNUTLS_CERT_REQUIRE);
	/* the handshake fails unless the peer's chain verifies against the cluster CA
	 * (and, dialling out, names the host we dialled) */
	gnutls_session_set_verify_cert(c->s, c->out ? c->peer_host : NULL, 0);
	gnutls_transport_set_int(c->s, c->fd);
	return 0;
}

/* Takes fd. Outgoing when peer_addr (what we dial) and peer_host (its host part, which
 * the peer's certificate must name) are given. */
static int conn_new(struct rtls *tr, int fd, const char *peer_addr, const char *peer_host,
		    struct conn **ret, struct err *err)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	bool out = peer_addr != NULL;
	int one = 1, rv;

	c->tr = tr;
	c->out = out;
	if (out) {
		snprintf(c->peer_addr, sizeof(c->peer_addr), "%s", peer_addr);
		snprintf(c->peer_host, sizeof(c->peer_host), "%s", peer_host);
	}
	c->fd = fd;
	c->pfd = -1;
	c->creds = tr->creds;
	c->creds->refs++;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((rv = uv_poll_init_socket(tr->loop, &c->poll, fd)) < 0) {
		close(fd);
		creds_unref(c->creds);
		free(c);
		return err_msg(err, -rv, "poll socket: %s", uv_strerror(rv));
	}
	uv_timer_init(tr->loop, &c->timer);
	c->poll.data = c->timer.data = c;
	c->handles = 2;
	tr->refs++;
	c->next = tr->conns;
	if (tr->conns)
		tr->conns->prev = c;
	tr->conns = c;
	if (!out)
		tr->pending_in++;
	if ((rv = session_new(c, err)) < 0) {
		conn_destroy(c);
		return rv;
	}
	*ret = c;
	return 0;
}

/* ---- hello: who the client is, checked against its certificate ---- */

static bool peer_cert_names(struct conn *c, const char *host)
{
	unsigned n = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(c->s, &n);
	gnutls_x509_crt_t crt;
	bool ok = false;

	if (!certs || n == 0 || gnutls_x509_crt_init(&crt) < 0)
		return false;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0)
		ok = gnutls_x509_crt_check_hostname(crt, host) != 0;
	gnutls_x509_crt_deinit(crt);
	return ok;
}

/* The peer's certificate's identity and the owner's check of it (rtls_peer_check_fn).
 * 0, or -EIO with c failed. */
static int peer_identity(struct conn *c)
{
	unsigned n = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(c->s, &n);
	struct err err = {0};

	if (!certs || n == 0 || pki_cert_info_der(certs[0].data, certs[0].size, &c->cert, &err) < 0)
		return conn_fail(c, true, "%s: unreadable peer certificate: %s", peer_name(c),
				 err.msg),
		       -EIO;
	return 0;
}

static int peer_check(struct conn *c)
{
	struct rtls *tr = c->tr;
	struct rtls_peer p = {.id = c->peer_id, .address = c->peer_addr, .cn = c->cert.cn,
			      .serial = c->cert.serial, .incoming = !c->out};
	struct err err = {0};

	if (!tr->check || tr->check(tr->check_ctx, &p, &err) == 0)
		return 0;
	conn_fail(c, true, "%s %s refused: %s", c->out ? "connection to" : "connection from",
		  c->peer_addr, err.msg);
	return -EIO;
}

static void hello_build(struct conn *c)
{
	uint64_t id = htole64(c->tr->id);
	uint16_t n = htole16((uint16_t)strlen(c->tr->address));

	memcpy(c->hello, MAGIC, 8);
	memcpy(c->hello + 8, &id, 8);
	memcpy(c->hello + 16, &n, 2);
	memcpy(c->hello + HELLO_HDR, c->tr->address, le16toh(n));
	c->hlen = HELLO_HDR + le16toh(n);
	c->hoff = 0;
}

/* Client: send the hello, wait for the ack. 0 done, -EAGAIN wait, -EIO failed (c dead). */
static int hello_out(struct conn *c)
{
	unsigned char ack;
	int rv;

	while (c->hoff < c->hlen) {
		rv = gnutls_record_send(c->s, c->hello + c->hoff, c->hlen - c->hoff);
		if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED)
			return -EAGAIN;
		if (rv < 0)
			return tls_fail(c, rv, "send hello to"), -EIO;
		c->hoff += rv;
	}
	rv = gnutls_record_recv(c->s, &ack, 1);
	if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED)
		return -EAGAIN;
	if (rv < 0)
		return tls_fail(c, rv, "hello with"), -EIO;
	if (rv == 0 || ack != HELLO_ACK)
		return conn_fail(c, true,
				 "%s closed the connection: it refused our certificate "
				 "or hello",
				 c->peer_addr),
		       -EIO;
	return 0;
}

static int hello_check(struct conn *c)
{
	struct sockaddr_storage ss;
	char host[RTLS_ADDR_MAX];
	uint64_t id;
	size_t n = c->hlen - HELLO_HDR;

	memcpy(&id, c->hello + 8, 8);
	c->peer_id = le64toh(id);
	memcpy(c->peer_addr, c->hello + HELLO_HDR, n);
	c->peer_addr[n] = '\0';
	if (c->peer_id == 0 || strlen(c->peer_addr) != n || addr_parse(c->peer_addr, &ss, host) < 0)
		return conn_fail(c, true, "incoming hello: bad id or address"), -EIO;
	/* a node may only speak for the address its certificate names */
	if (!peer_cert_names(c, host))
		return conn_fail(c, true,
				 "incoming hello: node %llu claims address %s, which its "
				 "certificate does not name",
				 (unsigned long long)c->peer_id, c->peer_addr),
		       -EIO;
	/* ... and for the raft id the cluster gave that node */
	if (peer_identity(c) < 0 || peer_check(c) < 0)
		return -EIO;
	return 0;
}

/* Server: read and check the hello, send the ack. */
static int hello_in(struct conn *c)
{
	unsigned char ack = HELLO_ACK;
	int rv;

	while (!c->checked) {
		size_t need = HELLO_HDR;
		if (c->hlen >= HELLO_HDR) {
			uint16_t n;
			memcpy(&n, c->hello + 16, 2);
			n = le16toh(n);
			if (memcmp(c->hello, MAGIC, 8) != 0 || n == 0 || n >= RTLS_ADDR_MAX)
				return conn_fail(c, true, "incoming hello: not a coop raft peer"),
				       -EIO;
			need += n;
		}
		if (c->hlen == need) {
			if (hello_check(c) < 0)
				return -EIO;
			c->checked = true;
			break;
		}
		rv = gnutls_record_recv(c->s, c->hello + c->hlen, need - c->hlen);
		if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED)
			return -EAGAIN;
		if (rv <= 0)
			return tls_fail(c, rv ? rv : GNUTLS_E_PREMATURE_TERMINATION, "hello from"),
			       -EIO;
		c->hlen += rv;
	}
	rv = gnutls_record_send(c->s, &ack, 1);
	if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED)
		return -EAGAIN;
	if (rv < 0)
		return tls_fail(c, rv, "ack to"), -EIO;
	return 0;
}

/* ---- the bridge: libraft's uv_pipe_t <-> socketpair <-> TLS ---- */

static void free_pipe(uv_handle_t *h)
{
	raft_free(h);
}

static int bridge(struct conn *c)
{
	struct rtls *tr = c->tr;
	struct raft_uv_connect *req;
	uv_pipe_t *p;
	int sv[2], rv;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return conn_fail(c, true, "socketpair: %s", strerror(errno)), -EIO;
	/* libraft uv_close()s the stream and frees it with raft_free */
	p = raft_malloc(sizeof(*p));
	if (!p || uv_pipe_init(tr->loop, p, 0) < 0) {
		raft_free(p);
		close(sv[0]);
		close(sv[1]);
		return conn_fail(c, true, "bridge: out of memory"), -EIO;
	}
	if ((rv = uv_pipe_open(p, sv[0])) < 0 ||
	    (rv = uv_poll_init_socket(tr->loop, &c->ppoll, sv[1])) < 0) {
		close(sv[0]);
		close(sv[1]);
		uv_close((uv_handle_t *)p, free_pipe);
		return conn_fail(c, true, "bridge: %s", uv_strerror(rv)), -EIO;
	}
	c->pfd = sv[1];
	c->ppoll.data = c;
	c->ppoll_init = true;
	c->handles++;
	uv_timer_stop(&c->timer);
	c->st = C_BRIDGED;
	tr->stats.bridged++;
	if (c->out) {
		tr->stats.connected++;
		req = take_ptr(c->req);
		c->cb(req, (uv_stream_t *)p, 0);
	} else {
		tr->pending_in--;
		tr->stats.accepted++;
		tr->accept_cb(tr->t, c->peer_id, c->peer_addr, (uv_stream_t *)p);
	}
	return 0;
}

/* Moves bytes both ways until nothing moves, then polls for what would move next. */
static void pump(struct conn *c)
{
	bool progress = true;
	ssize_t n;
	int rv;

	c->want_write = false;
	while (progress) {
		progress = false;
		if (c->up_len == 0) {
			n = read(c->pfd, c->up, sizeof(c->up));
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				return conn_destroy(c); /* libraft closed its end */
			if (n > 0) {
				c->up_len = n;
				c->up_off = 0;
				progress = true;
			}
		}
		if (c->up_len > 0) {
			rv = gnutls_record_send(c->s, c->up + c->up_off, c->up_len - c->up_off);
			if (rv > 0) {
				c->up_off += rv;
				if (c->up_off == c->up_len)
					c->up_len = c->up_off = 0;
				progress = true;
			} else if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED) {
				c->want_write = gnutls_record_get_direction(c->s) == 1;
			} else {
				return conn_destroy(c);
			}
		}
		if (c->down_len == 0) {
			rv = gnutls_record_recv(c->s, c->down, sizeof(c->down));
			if (rv > 0) {
				c->down_len = rv;
				c->down_off = 0;
				progress = true;
			} else if (rv != GNUTLS_E_AGAIN && rv != GNUTLS_E_INTERRUPTED) {
				return conn_destroy(c); /* peer closed or broke the session */
			}
		}
		if (c->down_len > 0) {
			n = send(c->pfd, c->down + c->down_off, c->down_len - c->down_off,
				 MSG_NOSIGNAL);
			if (n > 0) {
				c->down_off += n;
				if (c->down_off == c->down_len)
					c->down_len = c->down_off = 0;
				progress = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				return conn_destroy(c);
			}
		}
	}
	poll_set(c, &c->poll, &c->poll_ev,
		 (c->down_len == 0 ? UV_READABLE : 0) | (c->want_write ? UV_WRITABLE : 0));
	poll_set(c, &c->ppoll, &c->ppoll_ev,
		 (c->up_len == 0 ? UV_READABLE : 0) | (c->down_len > 0 ? UV_WRITABLE : 0));
}

static void conn_step(struct conn *c)
{
	int rv, e = 0;
	socklen_t len = sizeof(e);

	if (c->st == C_CONNECTING) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
			e = errno;
		if (e)
			return conn_fail(c, false, "connect to %s: %s", c->peer_addr, strerror(e));
		c->st = C_HANDSHAKE;
	}
	if (c->st == C_HANDSHAKE) {
		rv = gnutls_handshake(c->s);
		if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED)
			return tls_wait(c);
		if (rv < 0)
			return tls_fail(c, rv, "TLS handshake with");
		c->st = C_HELLO;
		if (c->out && (peer_identity(c) < 0 || peer_check(c) < 0))
			return;
		if (c->out)
			hello_build(c);
	}
	if (c->st == C_HELLO) {
		rv = c->out ? hello_out(c) : hello_in(c);
		if (rv == -EAGAIN)
			return tls_wait(c);
		if (rv < 0 || bridge(c) < 0 || c->dead)
			return;
	}
	pump(c);
}

/* ---- the raft_uv_transport interface ---- */

static void anchor_closed(uv_handle_t *h)
{
	tr_unref(h->data);
}

static int tr_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	struct rtls *tr = t->impl;

	if (!address || strlen(address) >= RTLS_ADDR_MAX) {
		snprintf(t->errmsg, sizeof(t->errmsg), "address too long");
		return RAFT_INVALID;
	}
	tr->id = id;
	strcpy(tr->address, address);
	uv_timer_init(tr->loop, &tr->anchor);
	tr->anchor.data = tr;
	tr->refs++;
	tr->inited = true;
	return 0;
}

static void on_listen(uv_poll_t *p, int status, int events)
{
	struct rtls *tr = p->data;
	struct conn *c;
	struct err err = {0};

	for (;;) {
		int fd = accept4(tr->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("raft transport: accept on %s: %m", tr->address);
			return;
		}
		if (tr->pending_in >= RTLS_MAX_PENDING) {
			close(fd);
			tr->stats.refused_in++;
			continue;
		}
		if (conn_new(tr, fd, NULL, NULL, &c, &err) < 0) {
			log_warn("raft transport: %s", err.msg);
			continue;
		}
		uv_timer_start(&c->timer, on_timer, tr->timeout_ms, 0);
		c->st = C_HANDSHAKE;
		conn_step(c);
	}
}

static void listen_closed(uv_handle_t *h)
{
	struct rtls *tr = h->data;

	close(tr->lfd);
	tr->lfd = -1;
	tr_unref(tr);
}

static int tr_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct rtls *tr = t->impl;
	struct sockaddr_storage ss;
	char host[RTLS_ADDR_MAX];
	int fd, one = 1, rv;

	if (addr_parse(tr->address, &ss, host) < 0) {
		snprintf(t->errmsg, sizeof(t->errmsg), "bad listen address '%s'", tr->address);
		return RAFT_INVALID;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sizeof(ss)) < 0 || listen(fd, 128) < 0) {
		snprintf(t->errmsg, sizeof(t->errmsg), "listen on %s: %s", tr->address,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return RAFT_IOERR;
	}
	if ((rv = uv_poll_init_socket(tr->loop, &tr->lpoll, fd)) < 0) {
		close(fd);
		snprintf(t->errmsg, sizeof(t->errmsg), "poll %s: %s", tr->address, uv_strerror(rv));
		return RAFT_IOERR;
	}
	tr->lfd = fd;
	tr->lpoll.data = tr;
	tr->refs++;
	tr->accept_cb = cb;
	uv_poll_start(&tr->lpoll, UV_READABLE, on_listen);
	return 0;
}

static int tr_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
		      const char *address, raft_uv_connect_cb cb)
{
	struct rtls *tr = t->impl;
	struct sockaddr_storage ss;
	struct conn *c;
	struct err err = {0};
	char host[RTLS_ADDR_MAX];
	int fd;

	if (tr->closing)
		return RAFT_CANCELED;
	if (addr_parse(address, &ss, host) < 0) {
		snprintf(t->errmsg, sizeof(t->errmsg), "bad peer address '%s'", address);
		return RAFT_NOCONNECTION;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(t->errmsg, sizeof(t->errmsg), "socket: %s", strerror(errno));
		return RAFT_NOCONNECTION;
	}
	if (conn_new(tr, fd, address, host, &c, &err) < 0) {
		snprintf(t->errmsg, sizeof(t->errmsg), "%.200s", err.msg);
		return RAFT_NOCONNECTION;
	}
	c->req = req;
	c->cb = cb;
	c->peer_id = id;
	if (connect(fd, (struct sockaddr *)&ss,
		    ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
					    : sizeof(struct sockaddr_in6)) < 0 &&
	    errno != EINPROGRESS) {
		c->connect_err = errno; /* reported from the loop, never from inside connect */
		uv_timer_start(&c->timer, on_timer, 0, 0);
		return 0;
	}
	uv_timer_start(&c->timer, on_timer, tr->timeout_ms, 0);
	poll_set(c, &c->poll, &c->poll_ev, UV_WRITABLE);
	return 0;
}

static void tr_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	struct rtls *tr = t->impl;

	tr->closing = true;
	tr->close_cb = cb;
	if (tr->lfd >= 0)
		uv_close((uv_handle_t *)&tr->lpoll, listen_closed);
	while (tr->conns) {
		struct conn *c = tr->conns;
		struct raft_uv_connect *req = take_ptr(c->req);
		raft_uv_connect_cb ccb = c->cb;
		conn_destroy(c);
		if (req)
			ccb(req, NULL, RAFT_CANCELED);
	}
	if (tr->inited)
		uv_close((uv_handle_t *)&tr->anchor, anchor_closed);
	else if (tr->refs == 0 && cb)
		cb(t);
}

int rtls_init(struct raft_uv_transport *t, uv_loop_t *loop, const struct rtls_config *cfg,
	      struct err *err)
{
	struct rtls *tr;
	struct creds *cr;
	int rv;

	if ((rv = creds_new(cfg, &cr, err)) < 0)
		return rv;
	tr = xcalloc(1, sizeof(*tr));
	tr->t = t;
	tr->loop = loop;
	tr->creds = cr;
	tr->lfd = -1;
	tr->timeout_ms =
	    cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : RTLS_HANDSHAKE_TIMEOUT_MS;
	t->impl = tr;
	t->errmsg[0] = '\0';
	t->init = tr_init;
	t->listen = tr_listen;
	t->connect = tr_connect;
	t->close = tr_close;
	return 0;
}

int rtls_set_credentials(struct raft_uv_transport *t, const struct rtls_config *cfg,
			 struct err *err)
{
	struct rtls *tr = t->impl;
	struct creds *cr;
	int rv;

	if ((rv = creds_new(cfg, &cr, err)) < 0)
		return rv;
	creds_unref(tr->creds);
	tr->creds = cr;
	return 0;
}

void rtls_set_peer_check(struct raft_uv_transport *t, rtls_peer_check_fn fn, void *ctx)
{
	struct rtls *tr = t->impl;

	tr->check = fn;
	tr->check_ctx = ctx;
}

void rtls_recheck(struct raft_uv_transport *t)
{
	struct rtls *tr = t->impl;
	struct conn *c, *next;

	if (!tr || !tr->check || tr->closing)
		return;
	for (c = tr->conns; c; c = next) {
		next = c->next;
		if (c->dead || c->st != C_BRIDGED || !c->cert.serial[0])
			continue;
		struct rtls_peer p = {.id = c->peer_id, .address = c->peer_addr, .cn = c->cert.cn,
				      .serial = c->cert.serial, .incoming = !c->out};
		struct err err = {0};
		if (tr->check(tr->check_ctx, &p, &err) == 0)
			continue;
		log_warn("raft transport: dropping the connection %s %s: %s",
			 c->out ? "to" : "from", c->peer_addr, err.msg);
		conn_destroy(c);
	}
}

void rtls_stats(struct raft_uv_transport *t, struct rtls_stats *ret)
{
	*ret = ((struct rtls *)t->impl)->stats;
}

void rtls_free(struct raft_uv_transport *t)
{
	struct rtls *tr = t->impl;

	if (!tr)
		return;
	creds_unref(tr->creds);
	free(tr);
	t->impl = NULL;
}
