/* transport: a struct raft_uv_transport that carries libraft's traffic over mutually
 * authenticated TLS 1.3 (GnuTLS), for raft_uv_init() in place of raft_uv_tcp_init().
 *
 * Each connection: nonblocking TCP + a GnuTLS session, both driven by uv_poll on the
 * loop. Both sides present a node certificate and require the peer's to chain to the
 * cluster CA (and be in its validity period); the connecting side also requires the
 * certificate to name the address it dialled (IP SAN or DNS SAN). Then a small hello
 * inside TLS ("COOPRFT1", raft id, advertised address) which the acceptor checks against
 * the client's certificate (its advertised host must be one of the certificate's
 * names), and a one-byte ack. Only then does libraft get a stream: one end of a
 * socketpair as a uv_pipe_t; the other end is pumped to and from the TLS session.
 * Until then nothing reaches libraft: a failed handshake (other CA, expired, wrong
 * name, timeout) fails the connect with RAFT_NOCONNECTION, or silently drops the
 * incoming connection, and the reason goes to t->errmsg and the log.
 *
 * Addresses are "a.b.c.d:port" or "[v6]:port" (numeric, no DNS lookups on the loop).
 * Loop thread only; nothing here is thread-safe (neither is libraft).
 *
 * Lifetime (as raft_uv_tcp): rtls_init → raft_uv_init(io, loop, dir, t) → ... →
 * raft_close → raft_uv_close → rtls_free. libraft calls t->close during raft_close;
 * it cancels pending connects (RAFT_CANCELED), drops every connection and calls back
 * once all handles are closed. */
#ifndef COOP_CLUSTER_TRANSPORT_H
#define COOP_CLUSTER_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "base/err.h"

#define RTLS_HANDSHAKE_TIMEOUT_MS 5000
#define RTLS_MAX_PENDING 64 /* incoming connections still handshaking */
#define RTLS_ADDR_MAX 128

struct rtls_config {
	const char *ca_pem;	       /* the cluster CA */
	const char *cert_pem;	       /* this node's certificate ... */
	const char *key_pem;	       /* ... and key */
	unsigned handshake_timeout_ms; /* 0: RTLS_HANDSHAKE_TIMEOUT_MS */
};

struct rtls_stats {
	unsigned connected;   /* outgoing connections handed to libraft */
	unsigned accepted;    /* incoming connections handed to libraft */
	unsigned refused_out; /* outgoing connections that failed TCP/TLS/hello */
	unsigned refused_in;  /* incoming connections dropped before libraft saw them */
	unsigned bridged;     /* connections open now */
};

int rtls_init(struct raft_uv_transport *t, uv_loop_t *loop, const struct rtls_config *cfg,
	      struct err *err);
/* Renewal: connections made from now on present the new certificate (and trust the
 * given CA); open ones keep theirs. */
int rtls_set_credentials(struct raft_uv_transport *t, const struct rtls_config *cfg,
			 struct err *err);
void rtls_stats(struct raft_uv_transport *t, struct rtls_stats *ret);

/* Who a peer is, once its certificate verified against the CA: the Raft id it claims
 * in its hello (incoming) or that we dialled (outgoing), its address, and its
 * certificate's CN and serial (lowercase hex). */
struct rtls_peer {
	raft_id id;
	const char *address, *cn, *serial;
	bool incoming;
};
/* The owner's say on a peer (the cluster: not revoked, the node its model records for
 * that id): 0 accepts; < 0 drops the connection before libraft sees it, with err's
 * reason in one warning line (the same refusal is logged again at most once a minute). */
typedef int (*rtls_peer_check_fn)(void *ctx, const struct rtls_peer *p, struct err *err);
void rtls_set_peer_check(struct raft_uv_transport *t, rtls_peer_check_fn fn, void *ctx);
/* Runs the check again on every open connection (after a revocation) and drops the
 * ones it now refuses. */
void rtls_recheck(struct raft_uv_transport *t);
/* Frees the implementation, after t->close has called back (or if it was never used). */
void rtls_free(struct raft_uv_transport *t);

#endif
