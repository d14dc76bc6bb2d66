/* net: `coop vpc|net|port|dns VERB` — VPCs, attaching containers' network namespaces,
 * published ports and their backends, and the per-VPC resolver, on this node. Verbs come
 * from tables; each prints at most one error line ("coop: ...") and returns 0, 1
 * (failure) or 2 (usage). The state lives in --net-dir / $COOP_NET_DIR. */
#include "cli/net.h"
#include "cli/opts.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "api/client.h"
#include "cli/ctl.h"
#include "net/attach.h"
#include "net/dns.h"
#include "net/fastpath.h"
#include "net/netstate.h"
#include "net/overlay.h"
#include "net/ports.h"
#include "net/resolver.h"

static const char *net_dir; /* --net-dir; NULL = $COOP_NET_DIR or the default */
static const char *group;   /* "vpc", "net", "port" or "dns" */

static int fail(const struct err *e)
{
	fprintf(stderr, "coop: %s\n", e->msg);
	return 1;
}

static int usage_error(const char *verb, const char *fmt, const char *arg)
{
	_cleanup_free_ char *prog = xasprintf("coop %s", group);
	return cli_usage(prog, verb, fmt, arg);
}

/* What the verbs' options fill in. */
struct opts {
	const char *vpc, *name, *cidr, *etc, *workload, *hostname, *publish, *upstream;
	const char *subnet, *underlay_dev, *local, *peers, *node;
	const char *verb;
	long subnet_size, mtu, port, vni, underlay_mtu;
	bool json, healthy, unhealthy;
};

static int number(const char *verb, const char *arg, long lo, long hi, long *ret)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (!*arg || *end || v < lo || v > hi) {
		fprintf(stderr, "coop %s %s: expected a number from %ld to %ld, got '%s'\n", group,
			verb, lo, hi, arg);
		return -1;
	}
	*ret = v;
	return 0;
}

static int opt_set(struct opts *o, int c, const char *arg)
{
	switch (c) {
	case 'v': o->vpc = arg; break;
	case 'n': o->name = arg; break;
	case 'c': o->cidr = arg; break;
	case 'e': o->etc = arg; break;
	case 'w': o->workload = arg; break;
	case 'H': o->hostname = arg; break;
	case 'p': o->publish = arg; break;
	case 'u': o->upstream = arg; break;
	case 's': o->subnet = arg; break;
	case 'U': o->underlay_dev = arg; break;
	case 'L': o->local = arg; break;
	case 'F': o->peers = arg; break;
	case 'O': o->node = arg; break;
	case 'I': return number(o->verb, arg, 1, 16777215, &o->vni);
	case 'M': return number(o->verb, arg, 576 + NET_OVERLAY_OVERHEAD, 65535, &o->underlay_mtu);
	case 'S': return number(o->verb, arg, 16, 29, &o->subnet_size);
	case 'm': return number(o->verb, arg, 576, 9000, &o->mtu);
	case 'P': return number(o->verb, arg, 1, 65535, &o->port);
	case 'y': o->healthy = true; break;
	case 'N': o->unhealthy = true; break;
	case 'o':
		if (!streq(arg, "json") && !streq(arg, "table")) {
			usage_error(o->verb, "-o: expected json or table, got '%s'", arg);
			return -1;
		}
		o->json = streq(arg, "json");
		break;
	}
	return 0;
}

static int opt_cb(int c, const char *arg, void *ctx)
{
	return opt_set(ctx, c, arg);
}

/* Parses a verb's options into o; returns the index of the first operand, -1 after
 * --help (printed), -2 on a usage error (printed). */
static int parse(int argc, char **argv, const char *shorts, const struct option *longs,
		 struct opts *o, const char *help)
{
	_cleanup_free_ char *prog = xasprintf("coop %s", group);

	memset(o, 0, sizeof(*o));
	o->verb = argv[0];
	return cli_parse(prog, argc, argv, shorts, longs, opt_cb, o, help);
}

#define HELP_OPT CLI_HELP_OPT
#define OUT_OPT { "output", required_argument, NULL, 'o' }
#undef PARSE /* cli/ctl.h's, for coop's own verbs: these parse into struct opts */
#define PARSE(shorts, longs, help)                                           \
	struct opts o;                                                       \
	int first = parse(argc, argv, shorts "h", longs, &o, help);            \
	if (first == -1)                                                     \
		return 0;                                                    \
	if (first < 0)                                                       \
		return 2

static bool operands(int argc, char **argv, int first, int lo, int hi, const char *what)
{
	_cleanup_free_ char *prog = xasprintf("coop %s", group);
	return cli_operands(prog, argc, argv, first, lo, hi, what);
}

static void state_closep(struct netstate **ns)
{
	netstate_close(*ns);
}
#define _cleanup_state_ _cleanup_(state_closep)

static void print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
}

static int find_vpc(struct netstate *ns, const char *key, struct net_vpc **ret, struct err *err)
{
	*ret = netstate_vpc_find(ns, key ? key : NETSTATE_DEFAULT_VPC);
	if (!*ret)
		return err_msg(err, ENOENT, "VPC '%s' not found (see 'coop vpc list')",
			       key ? key : NETSTATE_DEFAULT_VPC);
	return 0;
}

/* ---- vpc ---- */

/* In a cluster VPCs belong to the cluster: created and deleted through its log, after
 * which every node takes a subnet and an overlay (the daemon's network sync). 1 when
 * the daemon is not a cluster member (or not running): the caller works on this node. */
static int vpc_cluster(json_t *cmd, const char *what)
{
	struct api_client *cl = NULL;
	_cleanup_json_ json_t *res = NULL;
	struct err err = { 0 };
	int r;

	if (ctl_client(&cl, &err) < 0)
		return 1;
	if (!ctl_cluster_member(cl, NULL, &err)) {
		api_client_free(cl);
		return 1;
	}
	r = api_call(cl, "POST", "/v1/cluster/propose", cmd, &res, &err);
	api_client_free(cl);
	if (r < 0)
		return fail(&err);
	printf("%s\n", what);
	return 0;
}

static int vpc_create(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "cidr", required_argument, NULL, 'c' },
		{ "subnet-size", required_argument, NULL, 'S' },
		{ "subnet", required_argument, NULL, 's' },
		{ "mtu", required_argument, NULL, 'm' },
		HELP_OPT,
		{ 0 },
	};
	_cleanup_state_ struct netstate *ns = NULL;
	struct net_vpc *v;
	struct err err = { 0 };
	PARSE("n:c:", longs,
	      "Usage: coop vpc create --name NAME --cidr CIDR [--subnet-size N|--subnet CIDR]\n"
	      "                       [--mtu N]\n"
	      "Create a VPC: a private network for containers. Each node takes one subnet of\n"
	      "the CIDR (a /24 of a /16 by default) and bridges its containers there; VPCs\n"
	      "cannot reach each other. Prints the new VPC's id. In a cluster the VPC is the\n"
	      "cluster's: every node gets a subnet and a VXLAN overlay joins them (prints its\n"
	      "name; --subnet and --mtu are for a node alone).\n\n"
	      "  -n, --name NAME       1-32 of a-z, 0-9, '-'\n"
	      "  -c, --cidr CIDR       e.g. 10.50.0.0/16 (/8 to /29; may not overlap another VPC)\n"
	      "      --subnet-size N   this node's subnet prefix (default: CIDR prefix + 8, at\n"
	      "                        most /24, at least the CIDR itself)\n"
	      "      --subnet CIDR     this node's subnet (default: the CIDR's first): nodes of\n"
	      "                        one VPC take different ones (see coop net overlay)\n"
	      "      --mtu N           MTU of the bridge and containers (default 1500)\n\n"
	      "Example:\n"
	      "  coop vpc create --name backend --cidr 10.50.0.0/16\n");
	if (!operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (!o.name || !o.cidr)
		return usage_error("create", "%s", o.name ? "missing --cidr" : "missing --name");
	if (!o.subnet && !o.mtu) {
		_cleanup_json_ json_t *cmd = json_pack("{s:s,s:s,s:s}", "op", "vpc.create", "name",
						       o.name, "cidr", o.cidr);
		if (o.subnet_size)
			json_object_set_new(cmd, "node_prefix", json_integer((json_int_t)o.subnet_size));
		int r = vpc_cluster(cmd, o.name);
		if (r != 1)
			return r;
	}
	if (netstate_open(net_dir, true, &ns, &err) < 0 ||
	    netstate_vpc_create(ns, o.name, o.cidr, (int)o.subnet_size, (unsigned)o.mtu, &v,
				&err) < 0 ||
	    (o.subnet && netstate_vpc_set_subnet(ns, v, o.subnet, &err) < 0) ||
	    netstate_save(ns, &err) < 0)
		return fail(&err);
	printf("%s\n", v->id);
	return 0;
}

static json_t *vpc_row(const struct net_vpc *v)
{
	char c[20], s[20], g[16];
	json_t *owners = json_array();
	for (size_t i = 0; i < v->n_leases; i++)
		json_array_append_new(owners, json_string(v->leases[i].owner));
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:o}", "id", v->id, "name", v->name,
			 "cidr", net_ipam_cidr_fmt(&v->cidr, c), "subnet",
			 net_ipam_cidr_fmt(&v->subnet, s), "gateway",
			 net_ipam_addr_fmt(v->gateway, g), "bridge", v->bridge, "vni",
			 (json_int_t)v->vni, "mtu", (json_int_t)v->mtu, "created",
			 v->created ? v->created : "", "containers", owners);
}

static int vpc_list(int argc, char **argv)
{
	static const struct option longs[] = { OUT_OPT, HELP_OPT, { 0 } };
	_cleanup_state_ struct netstate *ns = NULL;
	struct err err = { 0 };
	PARSE("o:", longs,
	      "Usage: coop vpc list [-o json|table]\n"
	      "List the VPCs: ID, NAME, CIDR, this node's SUBNET and GATEWAY, its BRIDGE and\n"
	      "how many CONTAINERS are attached here.\n\n"
	      "Example:\n"
	      "  coop vpc list -o json | jq -r '.[].name'\n");
	if (!operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (netstate_open(net_dir, false, &ns, &err) < 0)
		return fail(&err);
	if (o.json) {
		_cleanup_json_ json_t *rows = json_array();
		for (size_t i = 0; i < ns->n_vpcs; i++)
			json_array_append_new(rows, vpc_row(&ns->vpcs[i]));
		print_json(rows);
		return 0;
	}
	printf("%-12s  %-16s %-18s %-18s %-15s %-11s %s\n", "ID", "NAME", "CIDR", "SUBNET",
	       "GATEWAY", "BRIDGE", "CONTAINERS");
	for (size_t i = 0; i < ns->n_vpcs; i++) {
		const struct net_vpc *v = &ns->vpcs[i];
		char c[20], s[20], g[16];
		printf("%-12s  %-16s %-18s %-18s %-15s %-11s %zu\n", v->id, v->name,
		       net_ipam_cidr_fmt(&v->cidr, c), net_ipam_cidr_fmt(&v->subnet, s),
		       net_ipam_addr_fmt(v->gateway, g), v->bridge, v->n_leases);
	}
	return 0;
}

static int vpc_delete(int argc, char **argv)
{
	static const struct option longs[] = { HELP_OPT, { 0 } };
	_cleanup_state_ struct netstate *ns = NULL;
	struct err err = { 0 }, first_err = { 0 };
	PARSE("", longs,
	      "Usage: coop vpc delete ID|NAME...\n"
	      "Delete VPCs and their bridges on this node. A VPC with containers attached or\n"
	      "ports published is refused; an id that is already gone succeeds (deleting is\n"
	      "idempotent). The default VPC stays. Prints each id deleted.\n\n"
	      "Example:\n"
	      "  coop vpc delete backend\n");
	if (!operands(argc, argv, first, 1, -1, "VPC id or name"))
		return 2;
	for (int i = first; i < argc; i++) {
		_cleanup_json_ json_t *cmd = json_pack("{s:s,s:s}", "op", "vpc.delete", "name", argv[i]);
		int r = vpc_cluster(cmd, argv[i]);
		if (r == 1)
			break; /* not a cluster: this node's VPCs below */
		if (r != 0)
			return r;
		if (i + 1 == argc)
			return 0;
	}
	if (netstate_open(net_dir, true, &ns, &err) < 0)
		return fail(&err);
	for (int i = first; i < argc; i++) {
		struct net_vpc *v = netstate_vpc_find(ns, argv[i]);
		struct net_vpc copy;
		if (!v) {
			printf("%s\n", argv[i]);
			continue;
		}
		if (streq(v->name, NETSTATE_DEFAULT_VPC)) {
			if (!first_err.code)
				err_msg(&first_err, EPERM, "the default VPC cannot be deleted");
			continue;
		}
		copy = *v; /* the bridge name outlives the entry */
		if (netstate_vpc_delete(ns, v, &err) < 0) {
			if (!first_err.code)
				first_err = err;
			continue;
		}
		if (netstate_save(ns, &err) < 0 || net_bridge_remove(&copy, &err) < 0)
			return fail(&err);
		printf("%s\n", copy.id);
	}
	if (net_ports_apply(ns, false, &err) < 0 || netstate_save(ns, &err) < 0)
		return fail(&err);
	return first_err.code ? fail(&first_err) : 0;
}

/* ---- net ---- */

static int net_attach_cmd(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "vpc", required_argument, NULL, 'v' },
		{ "name", required_argument, NULL, 'n' },
		{ "workload", required_argument, NULL, 'w' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "etc", required_argument, NULL, 'e' },
		{ "mtu", required_argument, NULL, 'm' },
		HELP_OPT,
		{ 0 },
	};
	_cleanup_state_ struct netstate *ns = NULL;
	_cleanup_free_ char *path = NULL, *name = NULL;
	struct net_vpc *v;
	struct err err = { 0 };
	uint32_t ip;
	char a[16];
	PARSE("v:n:w:e:", longs,
	      "Usage: coop net attach [--vpc VPC] [--name NAME] [--workload W] [--etc DIR]\n"
	      "                       NETNS_PATH|PID\n"
	      "Connect a network namespace (a container's) to a VPC on this node: lease an\n"
	      "address, create the VPC's bridge if needed, put a veth into the namespace as\n"
	      "eth0 with that address and a default route via the VPC's gateway. Prints the\n"
	      "address. Undo with `coop net detach NAME`.\n\n"
	      "  -v, --vpc VPC        id or name (default: default)\n"
	      "  -n, --name NAME      the container's name: its DNS name and the key for detach\n"
	      "                       and port backends (default: the namespace's file name,\n"
	      "                       or pid-PID)\n"
	      "  -w, --workload W     a name shared by replicas: DNS answers it with all of them\n"
	      "      --hostname H     the name written into DIR/hostname and DIR/hosts\n"
	      "  -e, --etc DIR        write hosts, hostname and resolv.conf for it into DIR\n"
	      "      --mtu N          eth0's MTU (default: the VPC's)\n\n"
	      "Example:\n"
	      "  ip netns add c1 && coop net attach --vpc default --name web-1 /run/netns/c1\n"
	      "  coop net attach --name db $(cat /run/db.pid)\n");
	if (!operands(argc, argv, first, 1, 1, "network namespace path or PID"))
		return 2;
	const char *target = argv[first];
	if (strspn(target, "0123456789") == strlen(target)) {
		path = xasprintf("/proc/%s/ns/net", target);
		name = xasprintf("pid-%s", target);
	} else {
		const char *slash = strrchr(target, '/');
		path = xstrdup(target);
		name = xstrdup(slash ? slash + 1 : target);
	}
	struct net_attach_opts ao = { .workload = o.workload, .hostname = o.hostname,
				      .etc_dir = o.etc, .mtu = (unsigned)o.mtu };
	if (netstate_open(net_dir, true, &ns, &err) < 0 || find_vpc(ns, o.vpc, &v, &err) < 0 ||
	    net_attach(ns, v, o.name ? o.name : name, path, &ao, &ip, &err) < 0)
		return fail(&err);
	printf("%s\n", net_ipam_addr_fmt(ip, a));
	return 0;
}

static int net_detach_cmd(int argc, char **argv)
{
	static const struct option longs[] = { HELP_OPT, { 0 } };
	_cleanup_state_ struct netstate *ns = NULL;
	struct err err = { 0 };
	PARSE("", longs,
	      "Usage: coop net detach NAME...\n"
	      "Disconnect containers: release their addresses, take them out of published\n"
	      "ports' backends and delete their veths (the VPC's bridge goes with its last\n"
	      "container).\n\n"
	      "Example:\n"
	      "  coop net detach web-1\n");
	if (!operands(argc, argv, first, 1, -1, "container name"))
		return 2;
	if (netstate_open(net_dir, true, &ns, &err) < 0)
		return fail(&err);
	for (int i = first; i < argc; i++)
		if (net_detach(ns, argv[i], &err) < 0)
			return fail(&err);
	return 0;
}

static int net_ls(int argc, char **argv)
{
	static const struct option longs[] = { OUT_OPT, HELP_OPT, { 0 } };
	_cleanup_state_ struct netstate *ns = NULL;
	_cleanup_json_ json_t *rows = json_array();
	struct err err = { 0 };
	PARSE("o:", longs,
	      "Usage: coop net ls [-o json|table]\n"
	      "List the containers attached on this node: NAME, VPC, IP, host-side VETH,\n"
	      "WORKLOAD.\n\n"
	      "Example:\n"
	      "  coop net ls -o json | jq -r '.[] | select(.vpc == \"default\") | .ip'\n");
	if (!operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (netstate_open(net_dir, false, &ns, &err) < 0)
		return fail(&err);
	for (size_t i = 0; i < ns->n_vpcs; i++)
		for (size_t k = 0; k < ns->vpcs[i].n_leases; k++) {
			const struct net_lease *l = &ns->vpcs[i].leases[k];
			char a[16], veth[16];
			netstate_veth_name(l->owner, veth);
			json_array_append_new(
				rows, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "name", l->owner,
						"vpc", ns->vpcs[i].name, "ip",
						net_ipam_addr_fmt(l->ip, a), "veth", veth, "workload",
						l->workload ? l->workload : "", "netns",
						l->netns ? l->netns : "", "created",
						l->created ? l->created : ""));
		}
	if (o.json) {
		print_json(rows);
		return 0;
	}
	size_t i;
	json_t *r;
	printf("%-24s %-16s %-15s %-11s %s\n", "NAME", "VPC", "IP", "VETH", "WORKLOAD");
	json_array_foreach(rows, i, r)
		printf("%-24s %-16s %-15s %-11s %s\n", json_string_value(json_object_get(r, "name")),
		       json_string_value(json_object_get(r, "vpc")),
		       json_string_value(json_object_get(r, "ip")),
		       json_string_value(json_object_get(r, "veth")),
		       json_string_value(json_object_get(r, "workload")));
	return 0;
}

static int net_sync_cmd(int argc, char **argv)
{
	static const struct option longs[] = { HELP_OPT, { 0 } };
	_cleanup_state_ struct netstate *ns = NULL;
	struct err err = { 0 };
	PARSE("", longs,
	      "Usage: coop net sync\n"
	      "Re-create what the state describes and the kernel lacks: the bridges of VPCs\n"
	      "with containers here and coop's nftables ruleset (applied again even if\n"
	      "unchanged). Existing bridges are adopted, never duplicated.\n\n"
	      "Example:\n"
	      "  coop net sync\n");
	if (!operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (netstate_open(net_dir, true, &ns, &err) < 0 || net_sync(ns, &err) < 0)
		return fail(&err);
	return 0;
}

static int net_rules(int argc, char **argv)
{
	static const struct option longs[] = { HELP_OPT, { 0 } };
	_cleanup_state_ struct netstate *ns = NULL;
	_cleanup_free_ char *script = NULL;
	struct err err = { 0 };
	PARSE("", longs,
	      "Usage: coop net rules\n"
	      "Print the nftables script coop applies for the current state (what\n"
	      "`nft list table inet coop` should show).\n\n"
	      "Example:\n"
	      "  coop net rules | less\n");
	if (!operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (netstate_open(net_dir, false, &ns, &err) < 0 || net_ports_render(ns, &script, &err) < 0)
		return fail(&err);
	fputs(script, stdout);
	return 0;
}

/* ---- net overlay ---- */

/* The MTU of an underlay device, from the kernel (works without /sys). */
static int link_mtu(const char *dev, unsigned *ret, struct err *err)
{
	struct ifreq ifr = { 0 };
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return err_sys(err, errno, "socket");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
		return err_sys(err, errno, "read MTU of '%s'", dev);
	*ret = (unsigned)ifr.ifr_mtu;
	return 0;
}

/* self from the options: the VPC's subnet and the host name unless given. */
static int overlay_self(const struct opts *o, const struct net_vpc *v, char *host,
			struct net_overlay_self *self, struct err *err)
{
	int r;

	*self = (struct net_overlay_self){ .node = o->node, .vni = (uint32_t)o->vni,
					   .underlay_dev = o->underlay_dev,
					   .underlay_mtu = (unsigned)o->underlay_mtu,
					   .subnet = v->subnet };
	if (!self->node) {
		if (gethostname(host, 256) < 0)
			return err_sys(err, errno, "gethostname");
		host[255] = 0;
		self->node = host;
	}
	if (inet_pton(AF_INET, o->local, &self->underlay) != 1 || !self->underlay.s_addr)
		return err_msg(err, EINVAL, "--local: invalid IPv4 address '%s'", o->local);
	if (o->subnet && (r = net_ipam_cidr_parse(o->subnet, &self->subnet, err)) < 0)
		return err_wrap(err, "--subnet");
	if (!self->underlay_mtu && (r = link_mtu(o->underlay_dev, &self->underlay_mtu, err)) < 0)
		return r;
	return 0;
}

static int overlay_apply(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "vpc", required_argument, NULL, 'v' },
		{ "vni", required_argument, NULL, 'I' },
		{ "underlay-dev", required_argument, NULL, 'U' },
		{ "underlay-mtu", required_argument, NULL, 'M' },
		{ "local", required_argument, NULL, 'L' },
		{ "subnet", required_argument, NULL, 's' },
		{ "peers", required_argument, NULL, 'F' },
		{ "node", required_argument, NULL, 'O' },
		HELP_OPT,
		{ 0 },
	};
	_cleanup_state_ struct netstate *ns = NULL;
	_cleanup_free_ char *text = NULL;
	struct net_overlay_peer *peers = NULL;
	struct net_overlay_self self;
	struct net_vpc *v;
	struct err err = { 0 };
	char host[256], dev[16];
	size_t n = 0;
	int k;
	PARSE("v:", longs,
	      "Usage: coop net overlay apply [--vpc VPC] --vni N --underlay-dev DEV --local ADDR\n"
	      "                              [--subnet CIDR] [--node NAME] [--underlay-mtu N]\n"
	      "                              --peers FILE.json\n"
	      "Make this node's part of a VPC's VXLAN overlay exactly what is given: the device\n"
	      "cx-<vpc id> (VNI N, UDP 4789, no learning, no multicast, MTU = underlay - 50,\n"
	      "address = this subnet's .0/32) and, per peer, a permanent FDB entry, neighbour\n"
	      "and onlink route to its subnet; peers no longer listed are removed. The VPC's\n"
	      "bridge and containers take the overlay's MTU. Containers' traffic to and from\n"
	      "other nodes takes a tc/eBPF fast path that does VXLAN itself, and so do\n"
	      "established TCP connections to published ports (their NAT done from\n"
	      "conntrack's entry; this sets net.netfilter.nf_conntrack_tcp_be_liberal=1).\n"
	      "See docs/network.md; COOP_NET_FASTPATH=off in the environment turns it off and\n"
	      "detaches it, =nomesh leaves published ports (and the setting) to the kernel.\n"
	      "Idempotent; bad input changes nothing. Prints the device and the number of\n"
	      "changes.\n\n"
	      "  -v, --vpc VPC          id or name (default: default)\n"
	      "      --vni N            1..16777215, the same on every node of the VPC\n"
	      "      --underlay-dev DEV the device with this node's underlay address\n"
	      "      --local ADDR       this node's underlay address\n"
	      "      --subnet CIDR      this node's subnet (default and required: the VPC's here)\n"
	      "      --node NAME        this node's name (default: the host name); the vtep MAC\n"
	      "                         is derived from it and the VNI\n"
	      "      --underlay-mtu N   default: DEV's MTU\n"
	      "      --peers FILE       [{\"node\":\"h2\",\"underlay\":\"10.250.0.2\",\n"
	      "                           \"subnet\":\"10.213.2.0/24\", \"mac\": optional}, ...]\n\n"
	      "Example:\n"
	      "  coop net overlay apply --vpc app --vni 42 --underlay-dev eth0 \\\n"
	      "      --local 10.250.0.1 --peers peers.json\n");
	if (!operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (!o.vni || !o.underlay_dev || !o.local || !o.peers)
		return usage_error("apply", "%s",
				   !o.vni ? "missing --vni" : !o.underlay_dev ? "missing --underlay-dev" :
				   !o.local ? "missing --local" : "missing --peers");
	if (fs_read(o.peers, &text, &err) < 0 ||
	    net_overlay_peers_parse(text, o.peers, &peers, &n, &err) < 0)
		return fail(&err);
	if (netstate_open(net_dir, true, &ns, &err) < 0 || find_vpc(ns, o.vpc, &v, &err) < 0 ||
	    overlay_self(&o, v, host, &self, &err) < 0 ||
	    (k = net_overlay_apply(ns, v, &self, peers, n, &err)) < 0) {
		net_overlay_peers_free(peers, n);
		return fail(&err);
	}
	net_overlay_peers_free(peers, n);
	net_overlay_dev_name(v, dev);
	printf("%s: %zu peer%s, %d change%s\n", dev, n, n == 1 ? "" : "s", k, k == 1 ? "" : "s");
	return 0;
}

/* A VPC's overlay as the kernel has it: peers joined from routes, neighbours, FDB. */
static json_t *overlay_row(const struct net_vpc *v, const struct net_overlay_info *in,
			   const struct net_fastpath_stats *fp)
{
	const struct net_overlay_entries *h = &in->have;
	json_t *peers = json_array();
	char l[INET_ADDRSTRLEN], s[20], g[INET_ADDRSTRLEN], u[INET_ADDRSTRLEN] = "", m[18] = "";

	for (size_t i = 0; i < h->n_routes; i++) {
		const struct net_route_entry *r = &h->routes[i];
		struct net_cidr c = { ntohl(r->dst.s_addr), r->prefixlen };
		for (size_t k = 0; k < h->n_neigh; k++) {
			if (h->neigh[k].ip.s_addr != r->gw.s_addr)
				continue;
			const uint8_t *a = h->neigh[k].mac;
			snprintf(m, sizeof(m), "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2],
				 a[3], a[4], a[5]);
			for (size_t f = 0; f < h->n_fdb; f++)
				if (!memcmp(h->fdb[f].mac, a, 6))
					inet_ntop(AF_INET, &h->fdb[f].dst, u, sizeof(u));
		}
		json_array_append_new(peers, json_pack("{s:s,s:s,s:s,s:s}", "subnet",
						       net_ipam_cidr_fmt(&c, s), "vtep",
						       inet_ntop(AF_INET, &r->gw, g, sizeof(g)),
						       "mac", m, "underlay", u));
	}
	return json_pack("{s:s,s:s,s:I,s:s,s:I,s:o,s:{s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I}}",
			 "vpc", v->name, "device", in->dev, "vni", (json_int_t)in->vni, "local",
			 inet_ntop(AF_INET, &in->local, l, sizeof(l)), "mtu", (json_int_t)v->mtu,
			 "peers", peers, "fastpath", "on", fp->on, "mesh", fp->mesh, "containers",
			 (json_int_t)fp->eps, "out", (json_int_t)fp->out, "in", (json_int_t)fp->in,
			 "decap", (json_int_t)fp->decap, "encap", (json_int_t)fp->encap,
			 "mesh_out", (json_int_t)fp->mesh_out, "mesh_back",
			 (json_int_t)fp->mesh_back);
}

static int overlay_ls(int argc, char **argv)
{
	static const struct option longs[] = { OUT_OPT, HELP_OPT, { 0 } };
	_cleanup_state_ struct netstate *ns = NULL;
	_cleanup_json_ json_t *rows = json_array();
	struct net_nl *nl = NULL;
	struct err err = { 0 };
	size_t i;
	json_t *r;
	PARSE("o:", longs,
	      "Usage: coop net overlay ls [-o json|table]\n"
	      "List the VPCs with an overlay on this node as the kernel has them: VPC, DEVICE,\n"
	      "VNI, LOCAL underlay address, MTU, FAST (the tc fast path for container traffic:\n"
	      "on or off; -o json adds whether it also carries published ports' connections\n"
	      "(mesh) and how many packets it passed: out to the VXLAN device, in from it, those\n"
	      "it encapsulated or decapsulated itself, and published ports' segments it\n"
	      "translated to their backend (mesh_out) and back (mesh_back)) and PEERS\n"
	      "(subnet@underlay).\n\n"
	      "Example:\n"
	      "  coop net overlay ls -o json | jq '.[].peers[].underlay'\n");
	if (!operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (netstate_open(net_dir, false, &ns, &err) < 0 || net_nl_open(&nl, &err) < 0)
		return fail(&err);
	for (size_t k = 0; k < ns->n_vpcs; k++) {
		struct net_overlay_info in;
		struct net_fastpath_stats fp;
		int rc = net_overlay_read(&ns->vpcs[k], &in, &err);
		if (rc == -ENODEV)
			continue;
		if (rc < 0) {
			net_nl_close(nl);
			return fail(&err);
		}
		net_fastpath_read(nl, &ns->vpcs[k], &fp);
		json_array_append_new(rows, overlay_row(&ns->vpcs[k], &in, &fp));
		net_overlay_entries_free(&in.have);
	}
	net_nl_close(nl);
	if (o.json) {
		print_json(rows);
		return 0;
	}
	printf("%-16s %-11s %-8s %-15s %-5s %-4s %s\n", "VPC", "DEVICE", "VNI", "LOCAL", "MTU",
	       "FAST", "PEERS");
	json_array_foreach(rows, i, r) {
		size_t k;
		json_t *p;
		printf("%-16s %-11s %-8lld %-15s %-5lld %-4s",
		       json_string_value(json_object_get(r, "vpc")),
		       json_string_value(json_object_get(r, "device")),
		       json_integer_value(json_object_get(r, "vni")),
		       json_string_value(json_object_get(r, "local")),
		       json_integer_value(json_object_get(r, "mtu")),
		       json_is_true(json_object_get(json_object_get(r, "fastpath"), "on")) ? "on"
											   : "off");
		json_array_foreach(json_object_get(r, "peers"), k, p)
			printf("%s%s@%s", k ? ", " : " ", json_string_value(json_object_get(p, "subnet")),
			       json_string_value(json_object_get(p, "underlay")));
		printf("\n");
	}
	return 0;
}

static int overlay_rm(int argc, char **argv)
{
	static const struct option longs[] = { HELP_OPT, { 0 } };
	_cleanup_state_ struct netstate *ns = NULL;
	struct err err = { 0 };
	struct net_vpc *v;
	PARSE("", longs,
	      "Usage: coop net overlay rm VPC...\n"
	      "Delete VPCs' overlay devices on this node (their FDB, neighbour and route\n"
	      "entries go with them); the VPCs and their local containers stay. A VPC without\n"
	      "an overlay is fine.\n\n"
	      "Example:\n"
	      "  coop net overlay rm app\n");
	if (!operands(argc, argv, first, 1, -1, "VPC id or name"))
		return 2;
	if (netstate_open(net_dir, true, &ns, &err) < 0)
		return fail(&err);
	for (int i = first; i < argc; i++)
		if (find_vpc(ns, argv[i], &v, &err) < 0 || net_overlay_remove(ns, v, &err) < 0)
			return fail(&err);
	return 0;
}

static int net_overlay_cmd(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} verbs[] = { { "apply", overlay_apply }, { "ls", overlay_ls }, { "list", overlay_ls },
		      { "rm", overlay_rm } };
	const char *help = "Usage: coop net overlay apply|ls|rm ...\n"
			   "A VPC across hosts: this node's VXLAN device for it and static\n"
			   "forwarding to the other nodes. See 'coop net overlay apply --help'.\n";

	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		fputs(help, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (streq(argv[1], verbs[i].name))
			return verbs[i].fn(argc - 1, argv + 1);
	return usage_error("overlay", "expected apply, ls or rm, got '%s'", argv[1]);
}

/* ---- port ---- */

static int port_publish(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "vpc", required_argument, NULL, 'v' },
		{ "publish", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' },
		HELP_OPT,
		{ 0 },
	};
	_cleanup_state_ struct netstate *ns = NULL;
	struct err err = { 0 };
	struct net_vpc *v;
	uint16_t hp, cp;
	const char *proto;
	PARSE("v:p:n:", longs,
	      "Usage: coop port publish [--vpc VPC] -p HOST:CONTAINER[/tcp|udp] --name SERVICE\n"
	      "Publish a host port: connections to any address of this host on HOST (from\n"
	      "other hosts, the host itself and its containers) are balanced over the\n"
	      "service's healthy backends' CONTAINER port, in the kernel (nftables). Add\n"
	      "backends with `coop port backend add`; with none healthy the port refuses\n"
	      "connections.\n\n"
	      "  -v, --vpc VPC        the backends' VPC (default: default)\n"
	      "  -p, --publish SPEC   8080:80, 5353:53/udp\n"
	      "  -n, --name SERVICE   1-32 of a-z, 0-9, '-'\n\n"
	      "Example:\n"
	      "  coop port publish -p 8080:80 --name web && coop port backend add web web-1\n");
	if (!operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (!o.publish || !o.name)
		return usage_error("publish", "%s", o.name ? "missing -p HOST:CONTAINER" : "missing --name");
	if (netstate_port_spec_parse(o.publish, &hp, &cp, &proto, &err) < 0)
		return fail(&err);
	if (netstate_open(net_dir, true, &ns, &err) < 0 || find_vpc(ns, o.vpc, &v, &err) < 0 ||
	    netstate_port_publish(ns, o.name, proto, hp, v, cp, NULL, &err) < 0 ||
	    net_port_probe(proto, hp, &err) < 0 || net_ports_apply(ns, false, &err) < 0 ||
	    netstate_save(ns, &err) < 0)
		return fail(&err);
	return 0;
}

static int find_port(struct netstate *ns, const char *name, struct net_port **ret,
		     struct err *err)
{
	*ret = netstate_port_find(ns, name);
	if (!*ret)
		return err_msg(err, ENOENT, "service '%s' is not published (see 'coop port ls')",
			       name);
	return 0;
}

static int port_backend(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "healthy", no_argument, NULL, 'y' },
		{ "unhealthy", no_argument, NULL, 'N' },
		HELP_OPT,
		{ 0 },
	};
	_cleanup_state_ struct netstate *ns = NULL;
	struct err err = { 0 };
	struct net_port *p;
	int r;
	PARSE("", longs,
	      "Usage: coop port backend add|rm|health SERVICE NAME [--healthy|--unhealthy]\n"
	      "Change a published port's backends: add a container (by the name it was\n"
	      "attached with; healthy unless --unhealthy), remove it, or mark it healthy or\n"
	      "unhealthy. Only healthy backends receive new connections; the change is\n"
	      "applied to the kernel atomically before the command returns.\n\n"
	      "Example:\n"
	      "  coop port backend health web web-2 --unhealthy\n");
	if (!operands(argc, argv, first, 3, 3, "add|rm|health SERVICE NAME"))
		return 2;
	const char *op = argv[first], *svc = argv[first + 1], *owner = argv[first + 2];
	if (o.healthy && o.unhealthy)
		return usage_error("backend", "%s", "--healthy and --unhealthy exclude each other");
	if (streq(op, "health") && !o.healthy && !o.unhealthy)
		return usage_error("backend", "%s", "health needs --healthy or --unhealthy");
	if (!streq(op, "add") && !streq(op, "rm") && !streq(op, "health"))
		return usage_error("backend", "expected add, rm or health, got '%s'", op);
	if (netstate_open(net_dir, true, &ns, &err) < 0 || find_port(ns, svc, &p, &err) < 0)
		return fail(&err);
	if (streq(op, "add"))
		r = netstate_backend_add(ns, p, owner, !o.unhealthy, &err);
	else if (streq(op, "rm"))
		r = netstate_backend_remove(ns, p, owner, &err);
	else
		r = netstate_backend_health(ns, p, owner, o.healthy, &err);
	if (r < 0 || net_ports_apply(ns, false, &err) < 0 || netstate_save(ns, &err) < 0)
		return fail(&err);
	return 0;
}

static int port_ls(int argc, char **argv)
{
	static const struct option longs[] = { OUT_OPT, HELP_OPT, { 0 } };
	_cleanup_state_ struct netstate *ns = NULL;
	_cleanup_json_ json_t *rows = json_array();
	struct err err = { 0 };
	PARSE("o:", longs,
	      "Usage: coop port ls [-o json|table]\n"
	      "List published ports: SERVICE, PORT (host:container/proto), VPC and BACKENDS\n"
	      "(name=ip, with '!' for unhealthy ones).\n\n"
	      "Example:\n"
	      "  coop port ls -o json | jq '.[] | {name, healthy: [.backends[] | select(.healthy)]}'\n");
	if (!operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (netstate_open(net_dir, false, &ns, &err) < 0)
		return fail(&err);
	if (o.json) {
		for (size_t i = 0; i < ns->n_ports; i++) {
			struct net_port *p = &ns->ports[i];
			struct net_vpc *v = netstate_vpc_find(ns, p->vpc);
			json_t *bs = json_array();
			for (size_t k = 0; k < p->n_backends; k++) {
				char a[16];
				json_array_append_new(bs, json_pack("{s:s,s:s,s:I,s:b}", "name",
						 p->backends[k].owner, "ip",
						 net_ipam_addr_fmt(p->backends[k].ip, a), "port",
						 (json_int_t)p->backends[k].port, "healthy",
						 p->backends[k].healthy));
			}
			json_array_append_new(rows, json_pack("{s:s,s:s,s:I,s:I,s:s,s:o}", "name",
							      p->name, "proto", p->proto, "host_port",
							      (json_int_t)p->host_port,
							      "container_port",
							      (json_int_t)p->container_port, "vpc",
							      v ? v->name : p->vpc, "backends", bs));
		}
		print_json(rows);
		return 0;
	}
	printf("%-16s %-18s %-16s %s\n", "SERVICE", "PORT", "VPC", "BACKENDS");
	for (size_t i = 0; i < ns->n_ports; i++) {
		struct net_port *p = &ns->ports[i];
		struct net_vpc *v = netstate_vpc_find(ns, p->vpc);
		char spec[32];
		snprintf(spec, sizeof(spec), "%u:%u/%s", p->host_port, p->container_port, p->proto);
		printf("%-16s %-18s %-16s", p->name, spec, v ? v->name : p->vpc);
		for (size_t k = 0; k < p->n_backends; k++) {
			char a[16];
			printf("%s%s%s=%s", k ? ", " : " ", p->backends[k].healthy ? "" : "!",
			       p->backends[k].owner, net_ipam_addr_fmt(p->backends[k].ip, a));
		}
		printf("\n");
	}
	return 0;
}

static int port_rm(int argc, char **argv)
{
	static const struct option longs[] = { HELP_OPT, { 0 } };
	_cleanup_state_ struct netstate *ns = NULL;
	struct err err = { 0 };
	PARSE("", longs,
	      "Usage: coop port rm SERVICE...\n"
	      "Unpublish ports (the containers behind them keep running).\n\n"
	      "Example:\n"
	      "  coop port rm web\n");
	if (!operands(argc, argv, first, 1, -1, "service name"))
		return 2;
	if (netstate_open(net_dir, true, &ns, &err) < 0)
		return fail(&err);
	for (int i = first; i < argc; i++)
		if (netstate_port_remove(ns, argv[i], &err) < 0)
			return fail(&err);
	if (net_ports_apply(ns, false, &err) < 0 || netstate_save(ns, &err) < 0)
		return fail(&err);
	return 0;
}

/* ---- dns ---- */

static volatile sig_atomic_t dns_stop;

static void on_signal(int sig)
{
	dns_stop = 1;
}

static int dns_serve(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "vpc", required_argument, NULL, 'v' },
		{ "port", required_argument, NULL, 'P' },
		{ "upstream", required_argument, NULL, 'u' },
		HELP_OPT,
		{ 0 },
	};
	struct net_resolver *rs = NULL;
	struct pollfd *fds = xcalloc(NETSTATE_MAX_VPCS, sizeof(*fds));
	struct err err = { 0 };
	PARSE("v:", longs,
	      "Usage: coop dns serve [--vpc VPC] [--port N] [--upstream IP[:PORT],...]\n"
	      "Run the node's resolver in the foreground: on each VPC's gateway address\n"
	      "(port 53), answer the names of the containers attached to that VPC (NAME and\n"
	      "NAME.coop; a workload name gets all its replicas, rotated) and forward other\n"
	      "names to the host's resolvers. Follows changes to the state as they happen.\n"
	      "Stops on SIGINT/SIGTERM.\n\n"
	      "  -v, --vpc VPC          serve only this VPC\n"
	      "      --port N           port (default 53)\n"
	      "      --upstream LIST    resolvers to forward to (default: /etc/resolv.conf's)\n\n"
	      "Example:\n"
	      "  coop dns serve &   # then, in a container: nslookup web-1\n");
	if (!operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (o.vpc) {
		_cleanup_state_ struct netstate *ns = NULL;
		struct net_vpc *v;
		if (netstate_open(net_dir, false, &ns, &err) < 0 || find_vpc(ns, o.vpc, &v, &err) < 0)
			return fail(&err);
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	net_resolver_new(net_dir, o.vpc, o.upstream, (uint16_t)o.port, &rs, &err);
	unsigned tick = 0;
	while (!dns_stop) {
		/* reconcile on a change, and every few ticks to retry a failed bind */
		net_resolver_refresh(rs, tick++ % 10 == 0);
		size_t n = net_resolver_count(rs);
		for (size_t i = 0; i < n; i++)
			fds[i] = (struct pollfd){ .fd = dns_server_fd(net_resolver_server(rs, i)),
						  .events = POLLIN };
		int k = poll(fds, n, 200);
		if (k < 0 && errno != EINTR) {
			err_sys(&err, errno, "poll");
			break;
		}
		for (size_t i = 0; k > 0 && i < n; i++)
			if (fds[i].revents & POLLIN)
				dns_server_process(net_resolver_server(rs, i));
	}
	net_resolver_free(rs);
	free(fds);
	return err.code ? fail(&err) : 0;
}

/* ---- dispatch ---- */

struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct verb vpc_verbs[] = {
	{ "create", vpc_create, "create a VPC (--name, --cidr)" },
	{ "list", vpc_list, "list VPCs" },
	{ "ls", vpc_list, NULL },
	{ "delete", vpc_delete, "delete VPCs by id or name" },
	{ "rm", vpc_delete, NULL },
	{ 0 },
};
static const struct verb net_verbs[] = {
	{ "attach", net_attach_cmd, "connect a network namespace to a VPC; prints its address" },
	{ "detach", net_detach_cmd, "disconnect containers" },
	{ "ls", net_ls, "list attached containers" },
	{ "list", net_ls, NULL },
	{ "sync", net_sync_cmd, "re-create missing bridges and rules from the state" },
	{ "rules", net_rules, "print the nftables ruleset for the current state" },
	{ "overlay", net_overlay_cmd, "a VPC's VXLAN overlay to other nodes (apply, ls, rm)" },
	{ 0 },
};
static const struct verb port_verbs[] = {
	{ "publish", port_publish, "publish a host port over a service's backends" },
	{ "backend", port_backend, "add, remove, or set the health of a backend" },
	{ "ls", port_ls, "list published ports" },
	{ "list", port_ls, NULL },
	{ "rm", port_rm, "unpublish ports" },
	{ 0 },
};
static const struct verb dns_verbs[] = {
	{ "serve", dns_serve, "run the VPCs' resolver in the foreground" },
	{ 0 },
};

static const struct group {
	const char *name;
	const struct verb *verbs;
	const char *about, *example;
} groups[] = {
	{ "vpc", vpc_verbs, "VPCs: private networks for containers, isolated from each other.",
	  "coop vpc create --name backend --cidr 10.50.0.0/16 && coop vpc list" },
	{ "net", net_verbs, "Containers' network plumbing on this node.",
	  "coop net attach --vpc backend --name db /run/netns/db" },
	{ "port", port_verbs, "Published ports, balanced in the kernel over healthy backends.",
	  "coop port publish -p 8080:80 --name web && coop port backend add web web-1" },
	{ "dns", dns_verbs, "The resolver on each VPC's gateway.", "coop dns serve" },
};

static void group_help(const struct group *g)
{
	printf("Usage: coop %s [--net-dir DIR] COMMAND [OPTIONS] [ARGS]\n\n%s\n\nCommands:\n",
	       g->name, g->about);
	for (const struct verb *v = g->verbs; v->name; v++)
		if (v->summary)
			printf("  %-8s %s\n", v->name, v->summary);
	printf("\nOptions:\n"
	       "  --net-dir DIR  the node's network state (default $COOP_NET_DIR or %s)\n"
	       "  --debug        log what happens to stderr\n\n"
	       "Example:\n  %s\n"
	       "Run 'coop %s COMMAND --help' for a command's options.\n",
	       NETSTATE_DEFAULT_DIR, g->example, g->name);
}

int net_cli_main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "net-dir", required_argument, NULL, 'd' },
		{ "debug", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct group *g = NULL;
	bool debug = false;
	int c;

	for (size_t i = 0; i < ARRAY_SIZE(groups); i++)
		if (streq(argv[0], groups[i].name))
			g = &groups[i];
	if (!g)
		return 2;
	group = g->name;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long_only(argc, argv, "+h", longs, NULL)) != -1) {
		switch (c) {
		case 'd': net_dir = optarg; break;
		case 'D': debug = true; break;
		case 'h': group_help(g); return 0;
		default:
			fprintf(stderr, "coop %s: unknown or incomplete option '%s' (see coop %s --help)\n",
				group, argv[optind - 1], group);
			return 2;
		}
	}
	log_setup(NULL, 0, debug ? LOG_DEBUG : LOG_WARN);
	if (optind >= argc) {
		group_help(g);
		return 2;
	}
	for (const struct verb *v = g->verbs; v->name; v++)
		if (streq(argv[optind], v->name))
			return v->fn(argc - optind, argv + optind);
	fprintf(stderr, "coop %s: unknown command '%s' (see coop %s --help)\n", group,
		argv[optind], group);
	return 2;
}
