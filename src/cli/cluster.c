/* cluster (CLI): the cluster verbs. `init` runs here, offline (cluster_init writes
 * <state>/cluster before any daemon runs); the others ask the local daemon, whose
 * replica of the model answers reads (a daemon that runs alone answers 404
 * "not_clustered", printed as one line). */
#include "cli/cluster.h"

#include <inttypes.h>
#include <unistd.h>

#include "base/js.h"
#include "base/util.h"
#include "cli/ctl.h"
#include "cluster/cluster.h"
#include "cluster/pki.h"
#include "state/bun.h"

static void client_freep(struct api_client **c) { api_client_free(*c); }
#define _cleanup_client_ _cleanup_(client_freep)

/* ---- -o json|table ---- */

struct out {
	const char *verb;
	bool json, force;
	const char *address, *name, *state, *cert_ttl;
};

static int out_opt(int c, const char *arg, void *ctx)
{
	struct out *o = ctx;
	switch (c) {
	case 'o':
		if (!streq(arg, "json") && !streq(arg, "table"))
			return ctl_usage(o->verb, "-o: expected json or table, got '%s'", arg), -1;
		o->json = streq(arg, "json");
		break;
	case 'f': o->force = true; break;
	case 'a': o->address = arg; break;
	case 'n': o->name = arg; break;
	case 's': o->state = arg; break;
	case 'T': o->cert_ttl = arg; break;
	}
	return 0;
}

static const struct option out_longs[] = {
	{ "output", required_argument, NULL, 'o' },
	CTL_HELP_OPT,
	{ 0 },
};

/* GET path -> *ret, or one error line. */
static int get(const char *path, json_t **ret)
{
	_cleanup_client_ struct api_client *cl = NULL;
	struct err err = { 0 };
	if (ctl_client(&cl, &err) < 0 || api_call(cl, "GET", path, NULL, ret, &err) < 0)
		return ctl_fail(&err);
	return 0;
}

/* ---- init ---- */

static const char init_help[] =
	"Usage: coop init --address IP[:PORT] [--name NAME] [--state DIR] [--cert-ttl DURATION]\n"
	"Make this host the first server of a new cluster: a cluster CA, this node's\n"
	"certificate and a one-member Raft configuration under <state>/cluster, and two\n"
	"join tokens. No daemon needed (run it before `coop daemon`).\n\n"
	"  --address IP[:PORT]  the address other nodes reach this one at (API port,\n"
	"                       default 7443; Raft uses PORT+1)\n"
	"  --name NAME          this node's name (default: the host name)\n"
	"  --state DIR          the daemon's state directory (default /var/lib/coop)\n"
	"  --cert-ttl DURATION  how long the node certificates the cluster's CA signs are\n"
	"                       valid (default 2160h: 90 days; 60s to 8760h); nodes\n"
	"                       renew theirs when a third of it is left\n"
	"\n"
	"Examples:\n"
	"  coop init --address 10.0.0.1\n"
	"  coop init --address 10.0.0.1:7443 --name node1 --state /var/lib/coop\n";

static int cmd_init(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "name", required_argument, NULL, 'n' },
		{ "state", required_argument, NULL, 's' },
		{ "cert-ttl", required_argument, NULL, 'T' },
		CTL_HELP_OPT,
		{ 0 },
	};
	struct out o = { .verb = "init", .state = "/var/lib/coop" };
	uint64_t ttl_ms = 0;
	struct cluster_addr addr;
	char host[256] = "", server_tok[JOIN_TOKEN_MAX], agent_tok[JOIN_TOKEN_MAX];
	struct err err = { 0 };
	PARSE("", longs, out_opt, &o, init_help);
	if (!ctl_operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (!o.address)
		return ctl_usage("init", "%s", "--address IP[:PORT] is required");
	if (cluster_addr_parse(o.address, &addr, &err) < 0)
		return ctl_fail(&err);
	if (o.cert_ttl && (bun_duration_ms(o.cert_ttl, &ttl_ms) < 0 || ttl_ms < PKI_TTL_MIN * 1000))
		return ctl_usage("init",
				 "--cert-ttl: expected a duration from 60s to 8760h (like 2160h or "
				 "3m), got '%s'",
				 o.cert_ttl);
	if (!o.name) {
		if (gethostname(host, sizeof(host) - 1) < 0 || !*host)
			return ctl_usage("init", "%s", "no host name: give --name NAME");
		o.name = host;
	}
	if (cluster_init(o.state, o.name, &addr, (int64_t)(ttl_ms / 1000), server_tok, agent_tok,
			 &err) < 0)
		return ctl_fail(&err);
	printf("Cluster created: %s is its first server (%s:%u, state %s).\n\n"
	       "Join tokens (keep them secret; agents run containers only, servers also vote):\n"
	       "server token: %s\n"
	       "agent token: %s\n\n"
	       "Next steps:\n"
	       "  1. here:              coop daemon%s%s\n"
	       "  2. on another host:   coop daemon --join %s:%u --token TOKEN --address ITS_IP\n"
	       "  3. see the members:   coop nodes\n"
	       "More tokens later:      coop token create --join server|agent [--ttl 24h]\n",
	       o.name, addr.ip, addr.api_port, o.state, server_tok, agent_tok,
	       streq(o.state, "/var/lib/coop") ? "" : " --state ",
	       streq(o.state, "/var/lib/coop") ? "" : o.state, addr.ip, addr.api_port);
	return 0;
}

int cluster_cmd_init(int argc, char **argv) { return cmd_init(argc, argv); }

/* ---- cluster status ---- */

static int cmd_cluster_status(int argc, char **argv)
{
	struct out o = { .verb = "cluster status" };
	_cleanup_json_ json_t *s = NULL;
	PARSE("o:", out_longs, out_opt, &o,
	      "Usage: coop cluster status [-o json]\n"
	      "The cluster as this node's replica sees it: the leader, the Raft term and the\n"
	      "last applied index, and every member with its Raft role (voter, standby, spare).\n\n"
	      "Examples:\n"
	      "  coop cluster status\n"
	      "  coop cluster status -o json | jq -r .leader.name\n");
	if (!ctl_operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (get("/v1/cluster", &s) != 0)
		return 1;
	if (o.json) {
		ctl_print_json(s);
		return 0;
	}
	json_t *leader = json_object_get(s, "leader");
	printf("this node: %s (%s)\n", ctl_jstr(s, "name"), ctl_jstr(s, "role"));
	if (json_is_object(leader))
		printf("leader:    %s (%s)\n", ctl_jstr(leader, "name"), ctl_jstr(leader, "address"));
	else
		printf("leader:    none (no quorum?)\n");
	printf("term:      %" JSON_INTEGER_FORMAT "\nindex:     %" JSON_INTEGER_FORMAT "\n\n",
	       json_integer_value(json_object_get(s, "term")),
	       json_integer_value(json_object_get(s, "index")));
	struct ctl_table t = { .cols = 5 };
	size_t i;
	json_t *m;
	ctl_table_row(&t, "ID", "NAME", "ADDRESS", "RAFT ADDRESS", "ROLE");
	json_array_foreach(json_object_get(s, "members"), i, m)
	{
		char id[32], role[48];
		snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(m, "id")));
		bool lead = json_is_object(leader) && streq(ctl_jstr(m, "name"), ctl_jstr(leader, "name"));
		snprintf(role, sizeof(role), "%s%s", ctl_jstr(m, "role"), lead ? " (leader)" : "");
		ctl_table_row(&t, id, ctl_jstr(m, "name"), ctl_jstr(m, "address"),
			      ctl_jstr(m, "raft_address"), role);
	}
	ctl_table_print(&t, true);
	return 0;
}

static const struct sub {
	const char *name;
	int (*fn)(int argc, char **argv);
} cluster_subs[] = {
	{ "status", cmd_cluster_status },
};

/* argv[1] names one of subs: run it with argv shifted; usage otherwise. */
static int dispatch(int argc, char **argv, const struct sub *subs, size_t n, const char *verb,
		    const char *help)
{
	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		fputs(help, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < n; i++)
		if (streq(argv[1], subs[i].name))
			return subs[i].fn(argc - 1, argv + 1);
	return ctl_usage(verb, "unknown command '%s'", argv[1]);
}

int cluster_cmd_cluster(int argc, char **argv)
{
	return dispatch(argc, argv, cluster_subs, ARRAY_SIZE(cluster_subs), "cluster",
			"Usage: coop cluster status [-o json]\n"
			"The cluster this daemon belongs to (see coop init, coop daemon --join).\n\n"
			"  status   the leader, term, index and members\n\n"
			"Example:\n"
			"  coop cluster status\n");
}

/* ---- nodes ---- */

static char *labels_text(json_t *labels)
{
	char *out = xstrdup("");
	const char *k;
	json_t *v;
	json_object_foreach(labels, k, v)
	{
		char *n = xasprintf("%s%s%s=%s", out, *out ? "," : "", k,
				    json_is_string(v) ? json_string_value(v) : "");
		free(out);
		out = n;
	}
	return out;
}

static void cpu_text(json_t *res, char *buf, size_t n)
{
	json_int_t m = json_integer_value(json_object_get(res, "cpu_milli"));
	if (m % 1000 == 0)
		snprintf(buf, n, "%" JSON_INTEGER_FORMAT, m / 1000);
	else
		snprintf(buf, n, "%.2f", m / 1000.0);
}

static void node_row(struct ctl_table *t, json_t *node)
{
	json_t *cap = json_object_get(node, "capacity"), *al = json_object_get(node, "allocated");
	char cpu[32], mem[16], acpu[32], amem[16], alloc[64], running[24];
	_cleanup_free_ char *labels = labels_text(json_object_get(node, "labels"));

	cpu_text(cap, cpu, sizeof(cpu));
	ctl_human_size(json_integer_value(json_object_get(cap, "memory")), mem, sizeof(mem));
	cpu_text(al, acpu, sizeof(acpu));
	ctl_human_size(json_integer_value(json_object_get(al, "memory")), amem, sizeof(amem));
	snprintf(alloc, sizeof(alloc), "%s CPU / %s", acpu, amem);
	snprintf(running, sizeof(running), "%" JSON_INTEGER_FORMAT,
		 json_integer_value(json_object_get(node, "tasks_running")));
	ctl_table_row(t, ctl_jstr(node, "name"), ctl_jstr(node, "address"), ctl_jstr(node, "role"),
		      ctl_jstr(node, "state"), *labels ? labels : "-", cpu, mem, alloc, running);
}

int cluster_cmd_nodes(int argc, char **argv)
{
	struct out o = { .verb = "nodes" };
	_cleanup_json_ json_t *ns = NULL;
	PARSE("o:", out_longs, out_opt, &o,
	      "Usage: coop nodes [-o json]\n"
	      "The cluster's nodes: address, role (server or agent), state (ready, draining,\n"
	      "down), labels, capacity (CPU, memory), what the scheduler reserved on it, and\n"
	      "how many containers (tasks) run there.\n\n"
	      "Examples:\n"
	      "  coop nodes\n"
	      "  coop nodes -o json | jq -r '.[] | select(.state == \"down\") | .name'\n");
	if (!ctl_operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (get("/v1/nodes", &ns) != 0)
		return 1;
	if (o.json) {
		ctl_print_json(ns);
		return 0;
	}
	struct ctl_table t = { .cols = 9 };
	size_t i;
	json_t *n;
	ctl_table_row(&t, "NAME", "ADDRESS", "ROLE", "STATE", "LABELS", "CPU", "MEMORY",
		      "ALLOCATED", "CONTAINERS");
	json_array_foreach(ns, i, n)
		node_row(&t, n);
	ctl_table_print(&t, true);
	return 0;
}

/* ---- node label|drain|activate|rm|inspect ---- */

/* POST or DELETE /v1/nodes/NAME<suffix>; prints NAME. */
static int node_call(const char *method, const char *name, const char *suffix, json_t *body)
{
	_cleanup_client_ struct api_client *cl = NULL;
	_cleanup_free_ char *path = ctl_path("/v1/nodes", name, suffix);
	struct err err = { 0 };
	if (ctl_client(&cl, &err) < 0 || api_call(cl, method, path, body, NULL, &err) < 0)
		return ctl_fail(&err);
	printf("%s\n", name);
	return 0;
}

static int node_label(int argc, char **argv)
{
	struct out o = { .verb = "node label" };
	PARSE("", out_longs, NULL, &o,
	      "Usage: coop node label NAME KEY=VALUE... [KEY-]...\n"
	      "Set labels on a node (KEY=VALUE) and remove them (KEY-). Workloads place their\n"
	      "replicas by labels (constraints in the .bun file).\n\n"
	      "Examples:\n"
	      "  coop node label node2 disk=ssd zone=a\n"
	      "  coop node label node2 zone-\n");
	if (!ctl_operands(argc, argv, first, 2, -1, "node name and KEY=VALUE or KEY-"))
		return 2;
	_cleanup_json_ json_t *body = json_pack("{s:{},s:[]}", "set", "remove");
	for (int i = first + 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		size_t n = strlen(a);
		if (eq && eq > a) {
			_cleanup_free_ char *k = strndup(a, eq - a);
			json_object_set_new(json_object_get(body, "set"), k, json_string(eq + 1));
		} else if (!eq && n > 1 && a[n - 1] == '-') {
			json_array_append_new(json_object_get(body, "remove"), json_stringn(a, n - 1));
		} else {
			return ctl_usage("node label", "expected KEY=VALUE or KEY-, got '%s'", a);
		}
	}
	return node_call("POST", argv[first], "/labels", body);
}

/* drain and activate: one node name, one POST */
static int node_state(int argc, char **argv, const char *verb, const char *help)
{
	struct out o = { .verb = verb };
	PARSE("", out_longs, NULL, &o, help);
	if (!ctl_operands(argc, argv, first, 1, 1, "node name"))
		return 2;
	_cleanup_free_ char *path = xasprintf("/%s", verb + strlen("node "));
	return node_call("POST", argv[first], path, NULL);
}

static int node_drain(int argc, char **argv)
{
	return node_state(argc, argv, "node drain",
			  "Usage: coop node drain NAME\n"
			  "Stop placing replicas on a node and move the ones it runs elsewhere (for\n"
			  "maintenance); `coop node activate` takes it back.\n\n"
			  "Example:\n"
			  "  coop node drain node3\n");
}

static int node_activate(int argc, char **argv)
{
	return node_state(argc, argv, "node activate",
			  "Usage: coop node activate NAME\n"
			  "Make a drained node ready again: the scheduler may place replicas on it.\n\n"
			  "Example:\n"
			  "  coop node activate node3\n");
}

static int node_rm(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "force", no_argument, NULL, 'f' },
		CTL_HELP_OPT,
		{ 0 },
	};
	struct out o = { .verb = "node rm" };
	PARSE("f", longs, out_opt, &o,
	      "Usage: coop node rm [--force] NAME\n"
	      "Remove a node from the cluster (its Raft membership and its record). A node\n"
	      "that still has replicas is refused unless --force: they are then placed\n"
	      "elsewhere. Drain it first to move them gracefully.\n\n"
	      "  -f, --force   remove it even with replicas placed on it\n\n"
	      "Examples:\n"
	      "  coop node drain node3 && coop node rm node3\n"
	      "  coop node rm --force node3\n");
	if (!ctl_operands(argc, argv, first, 1, 1, "node name"))
		return 2;
	return node_call("DELETE", argv[first], o.force ? "?force=1" : NULL, NULL);
}

static int node_inspect(int argc, char **argv)
{
	struct out o = { .verb = "node inspect" };
	_cleanup_client_ struct api_client *cl = NULL;
	_cleanup_json_ json_t *out = json_array();
	struct err err = { 0 };
	int rc = 0;
	PARSE("", out_longs, NULL, &o,
	      "Usage: coop node inspect NAME...\n"
	      "Print nodes' full records as JSON (an array).\n\n"
	      "Example:\n"
	      "  coop node inspect node1 | jq '.[0].labels'\n");
	if (!ctl_operands(argc, argv, first, 1, -1, "node name"))
		return 2;
	if (ctl_client(&cl, &err) < 0)
		return ctl_fail(&err);
	for (int i = first; i < argc; i++) {
		_cleanup_free_ char *path = ctl_path("/v1/nodes", argv[i], NULL);
		json_t *j = NULL;
		if (api_call(cl, "GET", path, NULL, &j, &err) < 0) {
			rc = ctl_fail(&err);
			continue;
		}
		json_array_append_new(out, j);
	}
	ctl_print_json(out);
	return rc;
}

static const struct sub node_subs[] = {
	{ "label", node_label },     { "drain", node_drain }, { "activate", node_activate },
	{ "rm", node_rm },           { "inspect", node_inspect },
};

int cluster_cmd_node(int argc, char **argv)
{
	return dispatch(argc, argv, node_subs, ARRAY_SIZE(node_subs), "node",
			"Usage: coop node label|drain|activate|rm|inspect ...\n"
			"Manage one node of the cluster (coop nodes lists them).\n\n"
			"  label NAME K=V... [K-]...   set and remove labels\n"
			"  drain NAME                  move its replicas away, place none there\n"
			"  activate NAME               make it ready again\n"
			"  rm [--force] NAME           remove it from the cluster\n"
			"  inspect NAME...             its records as JSON\n\n"
			"Example:\n"
			"  coop node label node2 disk=ssd\n");
}

/* ---- tasks ---- */

int cluster_cmd_tasks(int argc, char **argv)
{
	struct out o = { .verb = "tasks" };
	_cleanup_json_ json_t *ts = NULL;
	PARSE("o:", out_longs, out_opt, &o,
	      "Usage: coop tasks [WORKLOAD] [-o json]\n"
	      "The cluster's tasks (one per replica of a workload): the node it is placed on,\n"
	      "the state wanted (running, stopped) and the state the node reports, its\n"
	      "container and IP.\n\n"
	      "Examples:\n"
	      "  coop tasks\n"
	      "  coop tasks web -o json | jq -r '.[].node'\n");
	if (!ctl_operands(argc, argv, first, 0, 1, ""))
		return 2;
	_cleanup_free_ char *w = first < argc ? api_escape(argv[first]) : NULL;
	_cleanup_free_ char *path = w ? xasprintf("/v1/tasks?workload=%s", w) : xstrdup("/v1/tasks");
	if (get(path, &ts) != 0)
		return 1;
	if (o.json) {
		ctl_print_json(ts);
		return 0;
	}
	struct ctl_table t = { .cols = 6 };
	size_t i;
	json_t *x;
	ctl_table_row(&t, "ID", "NODE", "DESIRED", "STATE", "CONTAINER", "IP");
	json_array_foreach(ts, i, x)
	{
		char ctr[13];
		const char *msg = ctl_jstr(x, "message");
		_cleanup_free_ char *st = *msg ? xasprintf("%s: %.60s", ctl_jstr(x, "observed"), msg)
					       : xstrdup(ctl_jstr(x, "observed"));
		snprintf(ctr, sizeof(ctr), "%.12s", ctl_jstr(x, "container"));
		ctl_table_row(&t, ctl_jstr(x, "id"), *ctl_jstr(x, "node") ? ctl_jstr(x, "node") : "-",
			      ctl_jstr(x, "desired"), st, *ctr ? ctr : "-",
			      *ctl_jstr(x, "ip") ? ctl_jstr(x, "ip") : "-");
	}
	ctl_table_print(&t, true);
	return 0;
}
