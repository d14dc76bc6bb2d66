/* Tests for cluster/transport on 127.0.0.1: bytes cross the TLS bridge intact both ways
 * under backpressure, with the peer's id and address; a peer with a foreign CA, an
 * expired certificate or a certificate for another address never gets a stream (and
 * the listener never hands one to libraft); three real raft_uv servers elect a leader
 * and commit over TLS; commit latency p50/p99 over TLS vs libraft's plain TCP is
 * printed (not asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/util.h"
#include "cluster/pki.h"
#include "cluster/transport.h"

#define DAY 86400
#define N 3

struct pair {
	char *crt, *key;
};

static char *ca_pem, *ca_key;
static char *fca_pem, *fca_key; /* a foreign CA */

static const char *const lo[] = {"127.0.0.1", NULL};

static struct pair issue(const char *ca, const char *key, const char *name, const char *const *ips,
			 time_t now)
{
	struct pair p;
	struct err err = {0};
	const struct pki_names names = {.name = name, .ips = ips};

	assert_int_equal(pki_node_issue(ca, key, &names, now, PKI_NODE_DAYS, &p.crt, &p.key, &err),
			 0);
	return p;
}

static void pair_free(struct pair *p)
{
	free(p->crt);
	free(p->key);
}

static int setup(void **state)
{
	struct err err = {0};
	assert_int_equal(pki_ca_create(NULL, time(NULL), &ca_pem, &ca_key, &err), 0);
	assert_int_equal(pki_ca_create(NULL, time(NULL), &fca_pem, &fca_key, &err), 0);
	return 0;
}

static int teardown(void **state)
{
	free(ca_pem);
	free(ca_key);
	free(fca_pem);
	free(fca_key);
	return 0;
}

/* A loopback TCP port that binds now, below the kernel's ephemeral range: the kernel
 * hands a port inside that range to outgoing connections, so one could take it before
 * the test's listener binds it (EADDRINUSE). */
static int free_port(void)
{
	_cleanup_free_ char *range = NULL;
	int lo = 0;

	if (fs_read("/proc/sys/net/ipv4/ip_local_port_range", &range, NULL) == 0)
		lo = atoi(range);
	if (lo <= 21024)
		lo = 32768;
	for (int i = 0; i < 200; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
					 .sin_port = htons((uint16_t)(20000 + rand() % (lo - 20000)))};
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

		assert_true(fd >= 0);
		ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (ok)
			return ntohs(sa.sin_port);
	}
	fail_msg("no free port below %d", lo);
	return -1;
}

static void transport_new(struct raft_uv_transport *t, uv_loop_t *loop, const char *ca,
			  struct pair *p)
{
	struct err err = {0};
	struct rtls_config cfg = {
	    .ca_pem = ca, .cert_pem = p->crt, .key_pem = p->key, .handshake_timeout_ms = 2000};
	memset(t, 0, sizeof(*t));
	assert_int_equal(rtls_init(t, loop, &cfg, &err), 0);
}

static void transport_closed(struct raft_uv_transport *t)
{
	(*(int *)t->data)++;
}

static void transport_close(struct raft_uv_transport *t, uv_loop_t *loop)
{
	int closed = 0;
	t->data = &closed;
	t->close(t, transport_closed);
	while (!closed)
		uv_run(loop, UV_RUN_ONCE);
	rtls_free(t);
}

/* ---- bridge round trip ---- */

#define BIG (1 << 20)

struct echo {
	uv_loop_t *loop;
	uv_stream_t *in, *out;
	raft_id in_id;
	char in_addr[64];
	int conn_status, conn_done;
	unsigned char *got;
	size_t got_len;
	char rbuf[65536];
};

static void on_accept(struct raft_uv_transport *t, raft_id id, const char *address,
		      uv_stream_t *stream)
{
	struct echo *e = t->data;
	e->in = stream;
	e->in_id = id;
	snprintf(e->in_addr, sizeof(e->in_addr), "%s", address);
}

static void on_connect(struct raft_uv_connect *req, uv_stream_t *stream, int status)
{
	struct echo *e = req->data;
	e->out = stream;
	e->conn_status = status;
	e->conn_done = 1;
}

static void echo_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
	struct echo *e = h->data;
	*buf = uv_buf_init(e->rbuf, sizeof(e->rbuf));
}

static void echo_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct echo *e = s->data;
	if (n > 0) {
		assert_true(e->got_len + n <= BIG);
		memcpy(e->got + e->got_len, buf->base, n);
		e->got_len += n;
	}
}

static void written(uv_write_t *w, int status)
{
	assert_int_equal(status, 0);
}

static void pipe_free(uv_handle_t *h)
{
	raft_free(h);
}

static void deadline_cb(uv_timer_t *t)
{
	*(int *)t->data = 1;
}

/* Runs the loop (blocking on events, no polling delays) until *flag or ms pass. */
static void run_until(uv_loop_t *loop, int *flag, int ms)
{
	uv_timer_t timer;
	int expired = 0;

	uv_timer_init(loop, &timer);
	timer.data = &expired;
	uv_timer_start(&timer, deadline_cb, ms, 0);
	while (!*flag && !expired)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

static void test_bridge(void **state)
{
	uv_loop_t loop;
	struct raft_uv_transport a, b;
	struct pair pa = issue(ca_pem, ca_key, "a", lo, time(NULL));
	struct pair pb = issue(ca_pem, ca_key, "b", lo, time(NULL));
	struct echo e = {.loop = &loop};
	struct raft_uv_connect req = {.data = &e};
	char addr_a[64], addr_b[64];
	struct rtls_stats st;
	uv_write_t w;
	unsigned char *data = xmalloc(BIG);

	e.got = xmalloc(BIG);
	for (size_t i = 0; i < BIG; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 11));
	assert_int_equal(uv_loop_init(&loop), 0);
	snprintf(addr_a, sizeof(addr_a), "127.0.0.1:%d", free_port());
	snprintf(addr_b, sizeof(addr_b), "127.0.0.1:%d", free_port());
	transport_new(&a, &loop, ca_pem, &pa);
	transport_new(&b, &loop, ca_pem, &pb);
	a.data = &e;
	assert_int_equal(a.init(&a, 1, addr_a), 0);
	assert_int_equal(b.init(&b, 2, addr_b), 0);
	assert_int_equal(a.listen(&a, on_accept), 0);
	assert_int_equal(b.connect(&b, &req, 1, addr_a, on_connect), 0);
	run_until(&loop, &e.conn_done, 5000);
	assert_int_equal(e.conn_status, 0);
	assert_non_null(e.out);
	for (int i = 0; i < 100 && !e.in; i++) {
		int never = 0;
		run_until(&loop, &never, 20);
	}
	assert_int_equal(e.in_id, 2);
	assert_string_equal(e.in_addr, addr_b);

	/* 1 MiB through: more than every buffer on the way, so backpressure is exercised */
	e.in->data = &e;
	assert_int_equal(uv_read_start(e.in, echo_alloc, echo_read), 0);
	uv_buf_t buf = uv_buf_init((char *)data, BIG);
	assert_int_equal(uv_write(&w, e.out, &buf, 1, written), 0);
	for (int i = 0; i < 500 && e.got_len < BIG; i++) {
		int never = 0;
		run_until(&loop, &never, 10);
	}
	assert_int_equal(e.got_len, BIG);
	assert_memory_equal(e.got, data, BIG);
	rtls_stats(&a, &st);
	assert_int_equal(st.accepted, 1);
	rtls_stats(&b, &st);
	assert_int_equal(st.connected, 1);

	uv_close((uv_handle_t *)e.out, pipe_free);
	uv_close((uv_handle_t *)e.in, pipe_free);
	e.in = NULL;

	/* renewal: new connections present the new certificate — a foreign one fails, a
	 * renewed one from the cluster CA works again */
	struct err err = {0};
	struct pair pf = issue(fca_pem, fca_key, "b", lo, time(NULL));
	struct pair pr = issue(ca_pem, ca_key, "b", lo, time(NULL));
	struct rtls_config cf = {.ca_pem = ca_pem, .cert_pem = pf.crt, .key_pem = pf.key};
	struct rtls_config cr = {.ca_pem = ca_pem, .cert_pem = pr.crt, .key_pem = pr.key};
	assert_int_equal(rtls_set_credentials(&b, &cf, &err), 0);
	e.conn_done = 0;
	e.out = NULL;
	assert_int_equal(b.connect(&b, &req, 1, addr_a, on_connect), 0);
	run_until(&loop, &e.conn_done, 5000);
	assert_int_equal(e.conn_status, RAFT_NOCONNECTION);
	assert_null(e.out);
	assert_int_equal(rtls_set_credentials(&b, &cr, &err), 0);
	e.conn_done = 0;
	assert_int_equal(b.connect(&b, &req, 1, addr_a, on_connect), 0);
	run_until(&loop, &e.conn_done, 5000);
	assert_int_equal(e.conn_status, 0);
	assert_non_null(e.out);
	uv_close((uv_handle_t *)e.out, pipe_free);
	for (int i = 0; i < 50 && !e.in; i++) {
		int never = 0;
		run_until(&loop, &never, 20);
	}
	rtls_stats(&a, &st);
	assert_int_equal(st.accepted, 2);
	assert_int_equal(st.refused_in, 1);
	uv_close((uv_handle_t *)e.in, pipe_free);
	cr.cert_pem = "junk";
	assert_int_equal(rtls_set_credentials(&b, &cr, &err), -EINVAL);
	pair_free(&pf);
	pair_free(&pr);

	transport_close(&a, &loop);
	transport_close(&b, &loop);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	pair_free(&pa);
	pair_free(&pb);
	free(data);
	free(e.got);
}

/* ---- refusals ---- */

/* client dials server at its address; returns the connect status; *ret_accepted: how
 * many streams the server handed out. */
/* The owner's check (the cluster's: which node a raft id is, revocations): each side
 * accepts only the CN given here (NULL: anyone), and sees the id and the serial. */
static const char *server_wants, *client_wants;
static raft_id checked_id;

static int check_cn(void *ctx, const struct rtls_peer *p, struct err *err)
{
	const char *want = ctx ? *(const char **)ctx : NULL;

	checked_id = p->id;
	if (strlen(p->serial) != 32)
		return err_msg(err, EPROTO, "no serial");
	if (want && !streq(p->cn, want))
		return err_msg(err, EACCES, "raft id %llu is node '%s', not '%s'",
			       (unsigned long long)p->id, want, p->cn);
	return 0;
}

static int try_connect(struct pair *server, const char *server_ca, struct pair *client,
		       const char *client_ca, unsigned *ret_accepted, unsigned *ret_refused_in,
		       char *errmsg, size_t errlen)
{
	uv_loop_t loop;
	struct raft_uv_transport s, c;
	struct echo e = {.loop = &loop};
	struct raft_uv_connect req = {.data = &e};
	char addr_s[64], addr_c[64];
	struct rtls_stats st;
	int idle = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	snprintf(addr_s, sizeof(addr_s), "127.0.0.1:%d", free_port());
	snprintf(addr_c, sizeof(addr_c), "127.0.0.1:%d", free_port());
	transport_new(&s, &loop, server_ca, server);
	transport_new(&c, &loop, client_ca, client);
	rtls_set_peer_check(&s, check_cn, &server_wants);
	rtls_set_peer_check(&c, check_cn, &client_wants);
	s.data = &e;
	assert_int_equal(s.init(&s, 1, addr_s), 0);
	assert_int_equal(c.init(&c, 2, addr_c), 0);
	assert_int_equal(s.listen(&s, on_accept), 0);
	assert_int_equal(c.connect(&c, &req, 1, addr_s, on_connect), 0);
	run_until(&loop, &e.conn_done, 5000);
	assert_true(e.conn_done);
	run_until(&loop, &idle, 200); /* let the server side finish too */
	snprintf(errmsg, errlen, "%s", c.errmsg);
	rtls_stats(&s, &st);
	*ret_accepted = st.accepted;
	*ret_refused_in = st.refused_in;
	if (e.out)
		uv_close((uv_handle_t *)e.out, pipe_free);
	if (e.in)
		uv_close((uv_handle_t *)e.in, pipe_free);
	transport_close(&s, &loop);
	transport_close(&c, &loop);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	if (e.conn_status != 0)
		assert_null(e.out);
	return e.conn_status;
}

static void test_refusals(void **state)
{
	time_t now = time(NULL);
	struct pair good_s = issue(ca_pem, ca_key, "s", lo, now);
	struct pair good_c = issue(ca_pem, ca_key, "c", lo, now);
	struct pair foreign = issue(fca_pem, fca_key, "c", lo, now);
	struct pair expired = issue(ca_pem, ca_key, "c", lo, now - 100 * DAY);
	const char *const other_ip[] = {"10.9.9.9", NULL};
	struct pair misnamed = issue(ca_pem, ca_key, "s", other_ip, now);
	unsigned acc, ref;
	char msg[RAFT_ERRMSG_BUF_SIZE];

	assert_int_equal(
	    try_connect(&good_s, ca_pem, &good_c, ca_pem, &acc, &ref, msg, sizeof(msg)), 0);
	assert_int_equal(acc, 1);

	/* a stranger with a foreign CA's certificate (who trusts ours): refused by the
	 * cluster, which never hands libraft a stream */
	assert_int_equal(
	    try_connect(&good_s, ca_pem, &foreign, ca_pem, &acc, &ref, msg, sizeof(msg)),
	    RAFT_NOCONNECTION);
	assert_int_equal(acc, 0);
	assert_int_equal(ref, 1);
	printf("foreign client: %s\n", msg);

	/* a fake server (foreign CA) is refused by a real node dialling it */
	assert_int_equal(
	    try_connect(&foreign, fca_pem, &good_c, ca_pem, &acc, &ref, msg, sizeof(msg)),
	    RAFT_NOCONNECTION);
	assert_int_equal(acc, 0);
	assert_non_null(strstr(msg, "peer certificate refused"));
	printf("fake server: %s\n", msg);

	/* an expired client certificate */
	assert_int_equal(
	    try_connect(&good_s, ca_pem, &expired, ca_pem, &acc, &ref, msg, sizeof(msg)),
	    RAFT_NOCONNECTION);
	assert_int_equal(acc, 0);
	printf("expired client: %s\n", msg);

	/* a server whose certificate does not name the address we dialled */
	assert_int_equal(
	    try_connect(&misnamed, ca_pem, &good_c, ca_pem, &acc, &ref, msg, sizeof(msg)),
	    RAFT_NOCONNECTION);
	assert_int_equal(acc, 0);
	printf("misnamed server: %s\n", msg);

	/* a client whose certificate does not name the address it advertises */
	struct pair misnamed_c = issue(ca_pem, ca_key, "c", other_ip, now);
	assert_int_equal(
	    try_connect(&good_s, ca_pem, &misnamed_c, ca_pem, &acc, &ref, msg, sizeof(msg)),
	    RAFT_NOCONNECTION);
	assert_int_equal(acc, 0);
	assert_int_equal(ref, 1);

	/* the owner's check: the node that raft id 2 is must be named "x", not "c" */
	server_wants = "x";
	assert_int_equal(
	    try_connect(&good_s, ca_pem, &good_c, ca_pem, &acc, &ref, msg, sizeof(msg)),
	    RAFT_NOCONNECTION);
	assert_int_equal(acc, 0);
	assert_int_equal(ref, 1);
	assert_int_equal(checked_id, 2);
	server_wants = "c";
	assert_int_equal(
	    try_connect(&good_s, ca_pem, &good_c, ca_pem, &acc, &ref, msg, sizeof(msg)), 0);
	assert_int_equal(acc, 1);
	/* dialling out, the server we reach is checked too (raft id 1 must be "s") */
	server_wants = NULL;
	client_wants = "y";
	assert_int_equal(
	    try_connect(&good_s, ca_pem, &good_c, ca_pem, &acc, &ref, msg, sizeof(msg)),
	    RAFT_NOCONNECTION);
	assert_non_null(strstr(msg, "refused: raft id 1 is node 'y', not 's'"));
	assert_int_equal(acc, 0);
	client_wants = NULL;

	pair_free(&good_s);
	pair_free(&good_c);
	pair_free(&foreign);
	pair_free(&expired);
	pair_free(&misnamed);
	pair_free(&misnamed_c);
}

/* ---- a real raft cluster ---- */

struct node {
	struct raft_uv_transport t;
	struct raft_io io;
	struct raft_fsm fsm;
	struct raft raft;
	char dir[64];
	char addr[64];
	unsigned long applied;
	struct pair cert;
	bool tls;
	int closed;
};

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	struct node *n = fsm->data;
	n->applied++;
	*result = NULL;
	return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct node *n = fsm->data;
	*bufs = raft_malloc(sizeof(**bufs));
	(*bufs)[0].len = 8;
	(*bufs)[0].base = raft_malloc(8);
	memcpy((*bufs)[0].base, &n->applied, 8);
	*n_bufs = 1;
	return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct node *n = fsm->data;
	memcpy(&n->applied, buf->base, 8);
	raft_free(buf->base);
	return 0;
}

struct bench {
	uv_loop_t loop;
	struct node n[N];
	struct raft_apply req;
	struct raft *leader;
	unsigned done, total;
	uint64_t started;
	uint64_t *lat;
	int finished;
};

static void cluster_start(struct bench *b, bool tls)
{
	struct raft_configuration conf;
	struct err err = {0};

	assert_int_equal(uv_loop_init(&b->loop), 0);
	raft_configuration_init(&conf);
	for (unsigned i = 0; i < N; i++) {
		struct node *n = &b->n[i];
		char name[8];
		n->tls = tls;
		snprintf(n->addr, sizeof(n->addr), "127.0.0.1:%d", free_port());
		snprintf(name, sizeof(name), "n%u", i + 1);
		assert_int_equal(raft_configuration_add(&conf, i + 1, n->addr, RAFT_VOTER), 0);
		if (tls) {
			n->cert = issue(ca_pem, ca_key, name, lo, time(NULL));
			transport_new(&n->t, &b->loop, ca_pem, &n->cert);
		} else {
			assert_int_equal(raft_uv_tcp_init(&n->t, &b->loop), 0);
		}
	}
	for (unsigned i = 0; i < N; i++) {
		struct node *n = &b->n[i];
		strcpy(n->dir, "/tmp/coop-rtls-XXXXXX");
		assert_non_null(mkdtemp(n->dir));
		assert_int_equal(raft_uv_init(&n->io, &b->loop, n->dir, &n->t), 0);
		raft_uv_set_connect_retry_delay(&n->io, 50);
		n->fsm = (struct raft_fsm){.version = 1,
					   .data = n,
					   .apply = fsm_apply,
					   .snapshot = fsm_snapshot,
					   .restore = fsm_restore};
		assert_int_equal(raft_init(&n->raft, &n->io, &n->fsm, i + 1, n->addr), 0);
		raft_set_election_timeout(&n->raft, 300);
		raft_set_heartbeat_timeout(&n->raft, 50);
		assert_int_equal(raft_bootstrap(&n->raft, &conf), 0);
		assert_int_equal(raft_start(&n->raft), 0);
	}
	raft_configuration_close(&conf);
	(void)err;
}

static struct raft *find_leader(struct bench *b, int ms)
{
	for (int waited = 0; waited < ms; waited += 10) {
		int never = 0;
		for (unsigned i = 0; i < N; i++)
			if (raft_state(&b->n[i].raft) == RAFT_LEADER)
				return &b->n[i].raft;
		run_until(&b->loop, &never, 10);
	}
	return NULL;
}

static void apply_next(struct bench *b);

static void applied(struct raft_apply *req, int status, void *result)
{
	struct bench *b = req->data;
	assert_int_equal(status, 0);
	b->lat[b->done++] = uv_hrtime() - b->started;
	if (b->done == b->total)
		b->finished = 1;
	else
		apply_next(b);
}

static void apply_next(struct bench *b)
{
	struct raft_buffer buf = {.len = 64, .base = raft_malloc(64)};
	memset(buf.base, 'x', 64);
	b->req.data = b;
	b->started = uv_hrtime();
	assert_int_equal(raft_apply(b->leader, &b->req, &buf, 1, applied), 0);
}

static void raft_closed(struct raft *r)
{
	struct node *n = r->data;
	n->closed = 1;
}

static void cluster_stop(struct bench *b)
{
	struct err err = {0};
	for (unsigned i = 0; i < N; i++) {
		b->n[i].raft.data = &b->n[i];
		raft_close(&b->n[i].raft, raft_closed);
	}
	for (unsigned i = 0; i < N; i++)
		while (!b->n[i].closed)
			uv_run(&b->loop, UV_RUN_ONCE);
	for (unsigned i = 0; i < N; i++) {
		raft_uv_close(&b->n[i].io);
		if (b->n[i].tls) {
			rtls_free(&b->n[i].t);
			pair_free(&b->n[i].cert);
		} else {
			raft_uv_tcp_close(&b->n[i].t);
		}
	}
	uv_run(&b->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&b->loop), 0);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(fs_rm_rf(b->n[i].dir, &err), 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Elects, commits `total` entries one after another, checks every FSM applied them,
 * returns p50 and p99 in microseconds. */
static void cluster_run(bool tls, unsigned total, double *p50, double *p99)
{
	struct bench *b = xcalloc(1, sizeof(*b));

	b->total = total;
	b->lat = xcalloc(total, sizeof(*b->lat));
	cluster_start(b, tls);
	b->leader = find_leader(b, 10000);
	assert_non_null(b->leader);
	apply_next(b);
	run_until(&b->loop, &b->finished, 30000);
	assert_true(b->finished);
	/* followers apply once they learn the commit index (next heartbeat) */
	for (int waited = 0; waited < 5000; waited += 10) {
		bool all = true;
		int never = 0;
		for (unsigned i = 0; i < N; i++)
			all = all && b->n[i].applied == total;
		if (all)
			break;
		run_until(&b->loop, &never, 10);
	}
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(b->n[i].applied, total);
	if (tls) {
		struct rtls_stats st;
		for (unsigned i = 0; i < N; i++) {
			rtls_stats(&b->n[i].t, &st);
			assert_true(st.accepted >= 1 && st.connected >= 1);
		}
	}
	qsort(b->lat, total, sizeof(*b->lat), cmp_u64);
	*p50 = b->lat[total / 2] / 1000.0;
	*p99 = b->lat[total * 99 / 100] / 1000.0;
	cluster_stop(b);
	free(b->lat);
	free(b);
}

static void test_raft_cluster(void **state)
{
	double tls50, tls99, tcp50, tcp99;

	cluster_run(true, 500, &tls50, &tls99);
	cluster_run(false, 500, &tcp50, &tcp99);
	printf("3-server commit latency, 500 sequential 64-byte entries on 127.0.0.1:\n"
	       "  TLS (rtls):       p50 %.0f us  p99 %.0f us\n"
	       "  plain raft_uv_tcp: p50 %.0f us  p99 %.0f us\n",
	       tls50, tls99, tcp50, tcp99);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bridge),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_raft_cluster),
	};
	srand((unsigned)time(NULL) ^ (unsigned)getpid()); /* free_port's choices */
	return cmocka_run_group_tests(tests, setup, teardown);
}
