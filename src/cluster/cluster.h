/* cluster: the control plane inside `coop daemon` — a Raft member (libraft on the
 * daemon's loop, mutual TLS between nodes through cluster/transport), the replicated
 * model (state/raft), and the node's two roles in it:
 *
 *   every node   registers itself, sends heartbeats to the leader, and makes its local
 *                agent run exactly the tasks placed on it (agent_workload_assign),
 *                reporting what becomes of them (task.status);
 *   the leader   signs joins, grows the voters 1 -> 3 -> 5 from ready servers (others
 *                stand by), marks nodes whose heartbeats stop down, and reconciles:
 *                sched_reconcile over the model, proposed as one task.place.
 *
 * Every node is a Raft member: servers are voters or standbys, agent-only nodes are
 * standbys that are never promoted — so every node holds the model and reads locally.
 * (Replicating to every node costs the leader one stream per node: fine for tens to a
 * few hundred nodes; past that agents should watch a server instead.)
 *
 * Layout under <state>/cluster:
 *   cluster.json   {"name","address","api_port","raft_port","role","raft_id","cert_ttl_s",
 *                   "init_tokens":[records to propose once a leader exists]}
 *   pki/           ca.crt, ca.key (servers), node.crt, node.key (cluster/pki), node.pem
 *                  (both in one file: what forwarded requests present)
 *   raft/          libraft's log and snapshots
 *
 * Ports: a node's API (HTTPS, node certificates or access tokens) is ADDRESS:api_port
 * (default 7443); its Raft transport is ADDRESS:raft_port (default api_port + 1). The
 * model's node.address is "ADDRESS:api_port", so any node can reach the leader's API.
 *
 * Loop thread only. */
#ifndef COOP_CLUSTER_CLUSTER_H
#define COOP_CLUSTER_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent/agent.h"
#include "base/err.h"
#include "cluster/join.h"
#include "state/model.h"

#define CLUSTER_API_PORT 7443
#define CLUSTER_HEARTBEAT_MS 200 /* a node's heartbeat to the leader */
#define CLUSTER_DOWN_MS 1000	 /* no heartbeat for this long: the node is down */
#define CLUSTER_MAX_VOTERS 5

struct cluster_addr {
	char ip[64];
	unsigned api_port, raft_port;
};

/* "IP[:PORT]" -> address with PORT (default CLUSTER_API_PORT) and raft_port = PORT+1. */
int cluster_addr_parse(const char *s, struct cluster_addr *ret, struct err *err);

/* Whether <state>/cluster/cluster.json exists (the daemon then runs in cluster mode). */
bool cluster_configured(const char *state_dir);

/* `coop init`: a new cluster of one server in <state>/cluster — CA and node
 * certificate, a bootstrapped one-voter Raft configuration, and a server and an agent
 * join token (printed by the caller; their records enter the model once the daemon
 * starts). cert_ttl_s: the lifetime of every node certificate the cluster's CA signs
 * (0: PKI_NODE_TTL, 90 days), kept in cluster.json and handed to joiners. -EEXIST when
 * the state dir already belongs to a cluster. */
int cluster_init(const char *state_dir, const char *name, const struct cluster_addr *addr,
		 int64_t cert_ttl_s, char server_token[JOIN_TOKEN_MAX],
		 char agent_token[JOIN_TOKEN_MAX], struct err *err);

/* `coop daemon --join SEEDS --token T`, before the loop runs (blocking): fetches a
 * seed's CA and checks it against the token's fingerprint, sends a CSR with the token
 * to the seed (followed to the leader), and writes <state>/cluster with the signed
 * certificate and the Raft id the leader gave. seeds: "HOST[:PORT][,HOST[:PORT]...]".
 * A node that already joined (cluster.json exists) is left alone (returns 0). */
int cluster_join(const char *state_dir, const char *name, const struct cluster_addr *addr,
		 const char *seeds, const char *token, struct err *err);

/* Called after this node's certificate was renewed and installed in the cluster's own
 * connections, with the new PEM (borrowed): whoever else presents it (the API listener)
 * takes it from here. */
typedef void (*cluster_creds_fn)(void *ctx, const char *cert_pem, const char *key_pem);

struct cluster_config {
	uv_loop_t *loop;
	const char *state_dir;
	struct agent *agent; /* the node's container engine */
	json_t *labels;	     /* this node's labels (object of strings), may be NULL */
	cluster_creds_fn on_creds;
	void *creds_ctx;
};

struct cluster;
int cluster_start(const struct cluster_config *cfg, struct cluster **ret, struct err *err);
/* Closes Raft and the timers; done(ctx) once every handle is closed. Containers stay. */
void cluster_stop(struct cluster *c, void (*done)(void *ctx), void *ctx);

/* The TLS material for this node's API listener and its client calls (file paths). */
const char *cluster_ca_file(const struct cluster *c);
const char *cluster_cert_file(const struct cluster *c);
const char *cluster_key_file(const struct cluster *c);
/* "ADDRESS:api_port": where the daemon listens with TLS. */
const char *cluster_listen(const struct cluster *c);
const char *cluster_node_name(const struct cluster *c);

/* ---- reads (local; the model is this node's replica) ---- */
const struct model *cluster_model(const struct cluster *c);
bool cluster_is_leader(const struct cluster *c);
/* {"name","leader":{"name","address"}|null,"term","index","role","members":[{"id",
 * "name","address","raft_address","role":"voter|standby|spare"}]} */
json_t *cluster_status(struct cluster *c);

/* ---- apply listeners ----
 * fn runs on the loop thread after every command this node applies and after a
 * snapshot restore (the model may then be another one: read it again through
 * cluster_model), in the same loop turn — so a watcher hears of a change at once, not
 * at its next poll. It runs once per applied entry: keep it cheap (mark, start a
 * handle), and do not add or remove listeners from inside it. Caller-owned; listening
 * until removed, or until the cluster is freed (removal is then a no-op). */
struct cluster_listener {
	void (*fn)(struct cluster_listener *l);
	void *data;
	struct cluster *c; /* private */
	struct cluster_listener *prev, *next;
};
void cluster_listen_applies(struct cluster *c, struct cluster_listener *l);
void cluster_unlisten_applies(struct cluster_listener *l);

/* ---- writes ----
 * A command (state/fsm.h) goes to the leader: proposed here when this node leads,
 * otherwise forwarded to the leader's API (POST /v1/cluster/propose). done gets the
 * outcome: status 0 and result {"index","code","message","duplicate"} when committed
 * (code < 0: the state machine refused it, message says why), or status < 0 and err
 * (no leader, leader unreachable, validation failed). The command gets an "id" when it
 * has none, so a retry after a lost leader is idempotent. */
typedef void (*cluster_done_fn)(void *ctx, int status, json_t *result, const struct err *err);
int cluster_write(struct cluster *c, json_t *cmd, cluster_done_fn done, void *ctx,
		  struct err *err);
/* A linearizable read point: done once everything committed before it is applied
 * here (leader: a barrier; follower: asks the leader for its commit index and waits). */
int cluster_barrier(struct cluster *c, cluster_done_fn done, void *ctx, struct err *err);

/* ---- what the API routes call on a server ---- */
/* POST /v1/cluster/join {token, name, address, csr}: checks the token against the
 * model's token records, signs the CSR, adds the node to Raft (standby), registers
 * it. Replies {"ca","cert","ca_key" (server tokens only),"raft_id","role"}. A follower
 * answers -EREMOTE with the leader's API address in err (the joiner retries there). */
int cluster_join_request(struct cluster *c, json_t *req, cluster_done_fn done, void *ctx,
			 struct err *err);
/* POST /v1/cluster/renew {csr}: a node renews its certificate. caller_cn is the CN of
 * the client certificate the request came with: the CSR must be for that name (else
 * -EACCES), the node must be in the model, and any server signs (they all hold the CA
 * key; an agent answers -EREMOTE). The new certificate is recorded in the model
 * (cert.add, so that `node rm` revokes it) before done gets {"cert","ca"}. */
int cluster_renew_request(struct cluster *c, const char *caller_cn, json_t *req,
			  cluster_done_fn done, void *ctx, struct err *err);
/* Whether a node certificate presented to the API is still good: -EACCES when the
 * model lists its serial as revoked (its node was removed). */
int cluster_cert_check(struct cluster *c, const char *cn, const char *serial, struct err *err);
/* POST /v1/cluster/heartbeat {name, heartbeat_gen}: leader only. */
int cluster_heartbeat(struct cluster *c, json_t *req, struct err *err);
/* POST /v1/tokens/join {role, ttl_s}: a new join token (leader proposes its record). */
int cluster_token_create(struct cluster *c, const char *role, int64_t ttl_s,
			 cluster_done_fn done, void *ctx, struct err *err);
/* DELETE /v1/nodes/{name}: removes the node from Raft and the model (force: even with
 * tasks, which are placed elsewhere). */
int cluster_node_remove(struct cluster *c, const char *name, bool force, cluster_done_fn done,
			void *ctx, struct err *err);

#endif
