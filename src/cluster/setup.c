/* setup: the offline half of the cluster — `coop init` (a CA, this server's
 * certificate, a bootstrapped one-voter configuration and the first join tokens) and
 * the joiner's side of `coop daemon --join` (trust the seed's CA only if the token's
 * fingerprint says so, send a CSR, store what the leader signed). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/client.h"
#include "base/fs.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "cluster/cluster.h"
#include "cluster/pki.h"
#include "cluster/priv.h"

int cluster_addr_parse(const char *s, struct cluster_addr *ret, struct err *err)
{
	const char *colon = strrchr(s, ':');
	size_t iplen = colon ? (size_t)(colon - s) : strlen(s);
	struct in_addr in;
	unsigned long port = CLUSTER_API_PORT;

	memset(ret, 0, sizeof(*ret));
	if (iplen == 0 || iplen >= sizeof(ret->ip))
		return err_msg(err, EINVAL, "address '%s': expected IPv4[:PORT]", s);
	memcpy(ret->ip, s, iplen);
	ret->ip[iplen] = '\0';
	if (inet_pton(AF_INET, ret->ip, &in) != 1)
		return err_msg(err, EINVAL, "address '%s': '%s' is not an IPv4 address", s, ret->ip);
	if (in.s_addr == htonl(INADDR_ANY) || in.s_addr == htonl(INADDR_LOOPBACK))
		return err_msg(err, EINVAL,
			       "address '%s': give the address other nodes reach this one at", s);
	if (colon) {
		char *end;
		port = strtoul(colon + 1, &end, 10);
		if (*end || port == 0 || port > 65534)
			return err_msg(err, EINVAL, "address '%s': port must be 1..65534", s);
	}
	ret->api_port = (unsigned)port;
	ret->raft_port = (unsigned)port + 1;
	return 0;
}

char *cl_path(const char *state_dir, const char *file)
{
	return xasprintf("%s/cluster%s%s", state_dir, file ? "/" : "", file ? file : "");
}

bool cluster_configured(const char *state_dir)
{
	_cleanup_free_ char *p = cl_path(state_dir, "cluster.json");
	return access(p, F_OK) == 0;
}

static int cfg_write(const char *state_dir, json_t *cfg, struct err *err)
{
	_cleanup_free_ char *p = cl_path(state_dir, "cluster.json");
	_cleanup_free_ char *text = json_dumps(cfg, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (!text)
		return err_msg(err, ENOMEM, "cluster.json: cannot encode");
	return fs_write_atomic(p, text, strlen(text), 0600, err);
}

int cl_config_write(const char *state_dir, json_t *cfg, struct err *err)
{
	return cfg_write(state_dir, cfg, err);
}

int cl_name_check(const char *name, struct err *err)
{
	size_t n = strlen(name);

	if (n == 0 || n > MODEL_NAME_MAX || !strchr("abcdefghijklmnopqrstuvwxyz0123456789", name[0]))
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789-.", name[i]))
			goto bad;
	return 0;
bad:
	return err_msg(err, EINVAL,
		       "node name '%.80s': expected lower-case letters, digits, '-' and '.', "
		       "at most %d, starting with a letter or digit (--name)",
		       name, MODEL_NAME_MAX);
}

/* A token and the token.put command that stores its record. */
int cl_token_new(const char *ca_fp, enum join_role role, int64_t ttl_s,
		 char text[JOIN_TOKEN_MAX], json_t **ret_cmd, struct err *err)
{
	struct join_token t;
	struct join_record rec;
	char salt[JOIN_SALT_LEN * 2 + 1], hash[JOIN_HASH_LEN * 2 + 1];
	int64_t expires = ttl_s > 0 ? (int64_t)time(NULL) + ttl_s : 0;
	int r;

	if ((r = join_token_new(ca_fp, role, expires, &t, &rec, err)) < 0 ||
	    (r = join_token_format(&t, text, err)) < 0)
		return r;
	for (size_t i = 0; i < JOIN_SALT_LEN; i++)
		sprintf(salt + 2 * i, "%02x", rec.salt[i]);
	for (size_t i = 0; i < JOIN_HASH_LEN; i++)
		sprintf(hash + 2 * i, "%02x", rec.hash[i]);
	/* the token's name: "join-" and the first 12 hex digits of its hash */
	char name[20];
	snprintf(name, sizeof(name), "join-%.12s", hash);
	*ret_cmd = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "op", "token.put", "name", name,
			     "role", join_role_name(role), "salt", salt, "hash", hash,
			     "expires_ms", (json_int_t)(expires * 1000));
	return 0;
}

static const char *const *one_ip(const char *ip, const char *ips[2])
{
	ips[0] = ip;
	ips[1] = NULL;
	return ips;
}

int cluster_init(const char *state_dir, const char *name, const struct cluster_addr *addr,
		 int64_t cert_ttl_s, char server_token[JOIN_TOKEN_MAX],
		 char agent_token[JOIN_TOKEN_MAX], struct err *err)
{
	int64_t ttl_s = cert_ttl_s ? cert_ttl_s : PKI_NODE_TTL;
	_cleanup_free_ char *dir = cl_path(state_dir, NULL);
	_cleanup_free_ char *pki = cl_path(state_dir, "pki");
	_cleanup_json_ json_t *cfg = NULL, *tokens = json_array();
	const char *ips[2];
	struct pki_names names = { .name = name, .ips = one_ip(addr->ip, ips) };
	char fp[PKI_FP_HEX + 1];
	json_t *cmd;
	int r;

	if (cluster_configured(state_dir))
		return err_msg(err, EEXIST,
			       "%s already belongs to a cluster (remove %s to start over)",
			       state_dir, dir);
	if ((r = cl_name_check(name, err)) < 0)
		return r;
	if (ttl_s < PKI_TTL_MIN || ttl_s > (int64_t)PKI_CA_DAYS * 86400)
		return err_msg(err, EINVAL, "certificate lifetime %" PRId64 " s: expected %d s to %d days",
			       ttl_s, PKI_TTL_MIN, PKI_CA_DAYS);
	if ((r = fs_mkdir_p(dir, 0700, err)) < 0)
		return r;
	/* a half-made dir from an interrupted init is started over */
	if ((r = fs_rm_rf(pki, err)) < 0 || (r = pki_init_dir(pki, &names, time(NULL), ttl_s, fp, err)) < 0)
		return r;
	if ((r = cl_token_new(fp, JOIN_ROLE_SERVER, 0, server_token, &cmd, err)) < 0)
		return r;
	json_array_append_new(tokens, cmd);
	if ((r = cl_token_new(fp, JOIN_ROLE_AGENT, 0, agent_token, &cmd, err)) < 0)
		return r;
	json_array_append_new(tokens, cmd);
	cfg = json_pack("{s:s,s:s,s:i,s:i,s:s,s:i,s:b,s:O}", "name", name, "address", addr->ip,
			"api_port", (int)addr->api_port, "raft_port", (int)addr->raft_port, "role",
			"server", "raft_id", 1, "bootstrap", 1, "init_tokens", tokens);
	json_object_set_new(cfg, "cert_ttl_s", json_integer((json_int_t)ttl_s));
	return cfg_write(state_dir, cfg, err);
}

/* ---- joining ---- */

static int seed_client(const char *seed, const char *ca, bool insecure, struct api_client **ret,
		       struct err *err)
{
	/* a seed is a name (resolved by libcurl; nothing runs on a loop yet) or an IP,
	 * with or without its API port */
	_cleanup_free_ char *ep = strchr(seed, ':') ? xasprintf("https://%s", seed)
						   : xasprintf("https://%s:%d", seed, CLUSTER_API_PORT);
	int r;

	struct api_client_opts o = { .endpoint = ep, .ca = ca, .insecure = insecure,
				     .anonymous = true, .timeout_ms = 10000 };
	if ((r = api_client_new(&o, ret, err)) < 0)
		return r;
	return 0;
}

/* A seed that answers but cannot act yet (its cluster has no leader it knows of, or its
 * leader has not applied its log — the first tokens of `coop init` among it: 503; it is
 * not the leader and knows none: 421 — a server that has just joined, or a cluster
 * electing) has done nothing: the same request is asked again, for up to JOIN_RETRY_MS.
 * A seed that cannot be reached fails at once (the next seed is tried), and timeouts are
 * not retried (the join may have happened). */
#define JOIN_RETRY_MS 30000

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool join_retry(int r, uint64_t start_ms, const char *seed, const struct err *err)
{
	static bool said;
	if ((r != -EAGAIN && r != -EREMOTE) ||
	    mono_ms() - start_ms >= JOIN_RETRY_MS)
		return false;
	if (!said)
		log_info("join through %s: %s; asking again for up to %d s", seed, err->msg,
			 JOIN_RETRY_MS / 1000);
	said = true;
	nanosleep(&(struct timespec){ 0, 500 * 1000 * 1000 }, NULL);
	return true;
}

/* GET /v1/cluster/ca without trusting anyone yet, then trust it only if its
 * fingerprint is the token's. */
static int fetch_ca(const char *seed, const struct join_token *t, char **ret_pem,
		    struct err *err)
{
	struct api_client *cl = NULL;
	_cleanup_json_ json_t *reply = NULL;
	const char *pem;
	int r;

	if ((r = seed_client(seed, NULL, true, &cl, err)) < 0)
		return r;
	for (uint64_t t0 = mono_ms();;) {
		json_decref(reply);
		reply = NULL;
		r = api_call(cl, "GET", "/v1/cluster/ca", NULL, &reply, err);
		if (r >= 0 || !join_retry(r, t0, seed, err))
			break;
	}
	api_client_free(cl);
	if (r < 0)
		return err_wrap(err, "seed %s", seed);
	pem = json_string_value(json_object_get(reply, "ca"));
	if (!pem)
		return err_msg(err, EPROTO, "seed %s: no CA certificate in its answer", seed);
	if ((r = join_ca_check(t, pem, err)) < 0)
		return err_wrap(err, "seed %s", seed);
	*ret_pem = xstrdup(pem);
	return 0;
}

static int join_one(const char *state_dir, const char *name, const struct cluster_addr *addr,
		    const char *seed, const char *token, const struct join_token *t,
		    struct err *err)
{
	_cleanup_free_ char *dir = cl_path(state_dir, NULL);
	_cleanup_free_ char *pki = cl_path(state_dir, "pki");
	_cleanup_free_ char *ca = NULL, *key = NULL, *csr = NULL, *ca_file = NULL;
	_cleanup_json_ json_t *req = NULL, *reply = NULL, *cfg = NULL;
	struct api_client *cl = NULL;
	const char *cert, *ca_key;
	int r;

	if ((r = fetch_ca(seed, t, &ca, err)) < 0)
		return r;
	if ((r = fs_mkdir_p(dir, 0700, err)) < 0 || (r = fs_rm_rf(pki, err)) < 0 ||
	    (r = pki_write(pki, "ca.crt", ca, err)) < 0)
		return r;
	ca_file = xasprintf("%s/ca.crt", pki);
	if ((r = pki_key_create(&key, err)) < 0 || (r = pki_csr_create(key, name, &csr, err)) < 0)
		return r;
	req = json_pack("{s:s,s:s,s:s,s:s}", "token", token, "name", name, "address",
			addr->ip, "csr", csr);
	json_object_set_new(req, "api_port", json_integer(addr->api_port));
	if ((r = seed_client(seed, ca_file, false, &cl, err)) < 0)
		return r;
	for (uint64_t t0 = mono_ms();;) {
		json_decref(reply);
		reply = NULL;
		r = api_call(cl, "POST", "/v1/cluster/join", req, &reply, err);
		if (r >= 0 || !join_retry(r, t0, seed, err))
			break;
	}
	api_client_free(cl);
	if (r < 0)
		return err_wrap(err, "join through %s", seed);
	cert = json_string_value(json_object_get(reply, "cert"));
	ca_key = json_string_value(json_object_get(reply, "ca_key"));
	json_int_t id = json_integer_value(json_object_get(reply, "raft_id"));
	if (!cert || id <= 0)
		return err_msg(err, EPROTO, "join through %s: the answer has no certificate or id",
			       seed);
	if ((r = pki_write(pki, "node.key", key, err)) < 0 ||
	    (r = pki_write(pki, "node.crt", cert, err)) < 0 ||
	    (ca_key && (r = pki_write(pki, "ca.key", ca_key, err)) < 0))
		return r;
	cfg = json_pack("{s:s,s:s,s:i,s:i,s:s,s:I}", "name", name, "address", addr->ip,
			"api_port", (int)addr->api_port, "raft_port", (int)addr->raft_port, "role",
			join_role_name(t->role), "raft_id", id);
	/* the lifetime the cluster's CA gives certificates: a server signs with it too */
	json_int_t ttl = json_integer_value(json_object_get(reply, "cert_ttl_s"));
	if (ttl >= PKI_TTL_MIN)
		json_object_set_new(cfg, "cert_ttl_s", json_integer(ttl));
	return cfg_write(state_dir, cfg, err);
}

int cluster_join(const char *state_dir, const char *name, const struct cluster_addr *addr,
		 const char *seeds, const char *token, struct err *err)
{
	_cleanup_free_ char *list = xstrdup(seeds);
	_cleanup_free_ char *dir = cl_path(state_dir, NULL);
	struct join_token t;
	char *save = NULL;
	int r = -EINVAL;

	if (cluster_configured(state_dir))
		return 0;
	if ((r = cl_name_check(name, err)) < 0)
		return r;
	if ((r = join_token_parse(token, &t, err)) < 0)
		return err_wrap(err, "--token");
	r = err_msg(err, EINVAL, "no seed given");
	char *next = strtok_r(list, ",", &save);
	while (next) {
		char *s = next;
		next = strtok_r(NULL, ",", &save);
		if (!*s)
			continue;
		r = join_one(state_dir, name, addr, s, token, &t, err);
		if (r == 0)
			return 0;
		/* a refused token is refused by every seed: stop at once */
		if (r == -EACCES || r == -EPERM || !next)
			break;
		log_warn("%s; trying the next seed", err->msg);
	}
	struct err e2 = { 0 };
	fs_rm_rf(dir, &e2); /* nothing half-joined stays behind */
	return r;
}
