/* daemon: `coop daemon`. Takes <run>/daemon.lock (flock + pid: one daemon per run
 * dir), removes a stale socket only when nothing answers on it, re-adopts running
 * containers (agent_restore), serves the API, and on SIGTERM/SIGINT closes the server
 * and exits — leaving every container running for the next daemon to adopt. */
#include "cli/daemon.h"

#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "agent/agent.h"
#include "api/auth.h"
#include "api/routes.h"
#include "api/server.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/util.h"
#include "cluster/cluster.h"
#include "runtime/container.h"

#ifndef COOP_VERSION
#define COOP_VERSION "0.1.0"
#endif

static const struct api_engine agent_engine = {
	.restore = agent_restore,
	.set_event_cb = agent_set_event_cb,
	.events_since = agent_events_since,
	.workload_apply = agent_workload_apply,
	.workload_remove = agent_workload_remove,
	.workloads = agent_workloads,
	.containers = agent_containers,
	.container_get = agent_container_get,
	.container_stop = agent_container_stop,
	.container_remove = agent_container_remove,
	.container_metrics = agent_container_metrics,
	.container_logs = agent_container_logs,
	.container_exec = agent_container_exec,
	.container_exec_target = agent_container_exec_target,
};

struct daemon {
	uv_loop_t *loop;
	uv_signal_t sigterm, sigint;
	struct agent *agent;
	struct cluster *cluster;
	struct auth_store *tokens;
	struct api_routes *routes;
	struct api_server *server;
	int sealed_fd; /* the sealed copy of our binary monitors are started from */
};

static const char help[] =
	"Usage: coop daemon [--state DIR] [--run DIR] [--image-store DIR]\n"
	"                   [--listen ADDR:PORT --tls-cert FILE --tls-key FILE] [--debug]\n"
	"       coop daemon --join SEED[,SEED...] --token TOKEN --address IP[:PORT]\n"
	"                   [--name NAME] [--label KEY=VALUE]... [other options]\n\n"
	"The node agent: runs workloads and containers and serves the API the coop\n"
	"commands use, on <run>/coop.sock (root only) and, with --listen, on TCP with TLS\n"
	"for clients holding an access token (coop token create). Containers outlive the\n"
	"daemon: stop it (SIGTERM) or kill it, start it again, and it adopts them.\n\n"
	"  --state DIR          images, containers, volumes, tokens (default /var/lib/coop)\n"
	"  --run DIR            socket, lock, runtime state (default /run/coop)\n"
	"  --image-store DIR    the image store (default <state>/images)\n"
	"  --listen ADDR:PORT   also serve HTTPS here (e.g. 0.0.0.0:7443)\n"
	"  --tls-cert FILE      its certificate (PEM)\n"
	"  --tls-key FILE       its private key (PEM)\n"
	"  --debug              log what happens (or COOP_DEBUG=1 in the environment)\n\n"
	"Cluster (see docs/cluster.md):\n"
	"  After `coop init --address IP` the daemon is the first server of a cluster; it\n"
	"  serves the cluster API and Raft on IP:7443 and IP:7444 with certificates from\n"
	"  the cluster CA. Another host joins with:\n"
	"  --join SEED,...      any member's address (IP[:PORT]); tried in order\n"
	"  --token TOKEN        a join token (coop init prints two; coop token create --join)\n"
	"                       a server token makes a server, an agent token a worker\n"
	"  --address IP[:PORT]  the address other nodes reach this one at (API port,\n"
	"                       Raft on PORT+1; default 7443)\n"
	"  --name NAME          this node's name (default: the host name)\n"
	"  --label KEY=VALUE    a node label for placement constraints (repeatable)\n"
	"  Once joined, a restart needs none of these: the membership is in <state>/cluster.\n\n"
	"Examples:\n"
	"  coop daemon &\n"
	"  coop daemon --listen 0.0.0.0:7443 --tls-cert /etc/coop/api.crt --tls-key /etc/coop/api.key\n";

/* One daemon per run dir: an exclusive flock on daemon.lock, which holds our pid. */
static int take_lock(const char *run_dir, int *ret_fd, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/daemon.lock", run_dir);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	char buf[32] = "";

	if (fd < 0)
		return err_sys(err, errno, "open '%s'", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return err_sys(err, errno, "lock '%s'", path);
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		return err_msg(err, EBUSY, "another coop daemon runs with --run %s (pid %s)", run_dir,
			       *buf ? buf : "?");
	}
	int n = snprintf(buf, sizeof(buf), "%d\n", getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, n, 0) != n)
		return err_sys(err, errno, "write '%s'", path);
	*ret_fd = take_fd(fd);
	return 0;
}

/* A socket file left by a daemon that died: removed only if nothing answers on it. */
static int clear_stale_socket(const char *path, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return err_msg(err, EEXIST, "'%s' exists and is not a socket", path);
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_msg(err, ENAMETOOLONG, "socket path '%s' too long", path);
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return err_msg(err, EBUSY, "a daemon answers on '%s' already", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return err_sys(err, errno, "remove stale socket '%s'", path);
	return 0;
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;
	log_info("coop daemon: %s: closing the API (containers keep running)", strsignal(signum));
	api_routes_free(d->routes);
	d->routes = NULL;
	if (d->server)
		api_server_stop(d->server);
	d->server = NULL;
	if (d->cluster)
		cluster_stop(d->cluster, NULL, NULL); /* Raft closes; containers keep running */
	d->cluster = NULL;
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	if (d->agent)
		agent_free(d->agent); /* stops timers, leaves containers running */
	d->agent = NULL;
}

struct opts {
	const char *state, *run, *store, *listen, *cert, *key;
	const char *join, *token, *address, *name;
	json_t *labels;
	bool debug;
};

static int add_label(struct opts *o, const char *kv)
{
	const char *eq = strchr(kv, '=');

	if (!eq || eq == kv) {
		fprintf(stderr, "coop daemon: --label '%s': expected KEY=VALUE\n", kv);
		return -2;
	}
	if (!o->labels)
		o->labels = json_object();
	_cleanup_free_ char *k = xasprintf("%.*s", (int)(eq - kv), kv);
	json_object_set_new(o->labels, k, json_string(eq + 1));
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "state", required_argument, NULL, 's' },   { "run", required_argument, NULL, 'r' },
		{ "image-store", required_argument, NULL, 'i' },
		{ "listen", required_argument, NULL, 'l' },  { "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' }, { "debug", no_argument, NULL, 'd' },
		{ "join", required_argument, NULL, 'J' },    { "token", required_argument, NULL, 'T' },
		{ "address", required_argument, NULL, 'A' }, { "name", required_argument, NULL, 'N' },
		{ "label", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },          { 0 },
	};
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long_only(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 's': o->state = optarg; break;
		case 'r': o->run = optarg; break;
		case 'i': o->store = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'c': o->cert = optarg; break;
		case 'k': o->key = optarg; break;
		case 'd': o->debug = true; break;
		case 'J': o->join = optarg; break;
		case 'T': o->token = optarg; break;
		case 'A': o->address = optarg; break;
		case 'N': o->name = optarg; break;
		case 'L':
			if (add_label(o, optarg) < 0)
				return -2;
			break;
		case 'h': fputs(help, stdout); return -1;
		default:
			fprintf(stderr, "coop daemon: unknown or incomplete option '%s' (see 'coop daemon --help')\n",
				argv[optind - 1]);
			return -2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "coop daemon: unexpected argument '%s' (see 'coop daemon --help')\n",
			argv[optind]);
		return -2;
	}
	if (o->join && (!o->token || !o->address)) {
		fprintf(stderr, "coop daemon: --join needs --token and --address (see 'coop daemon --help')\n");
		return -2;
	}
	if (o->listen && (!o->cert || !o->key)) {
		fprintf(stderr, "coop daemon: --listen needs --tls-cert and --tls-key (see 'coop daemon --help')\n");
		return -2;
	}
	return 0;
}

/* --join: become a member before serving (blocking: there is nothing else to do yet). */
static int join(const struct opts *o, struct err *err)
{
	struct cluster_addr addr;
	char host[256] = "";
	int r;

	if (!o->join) {
		if (o->token || o->address || o->name)
			return err_msg(err, EINVAL, "--token, --address and --name go with --join "
						    "(a member's identity is in <state>/cluster)");
		return 0;
	}
	if (cluster_configured(o->state)) {
		log_info("--join: %s already belongs to a cluster; joining again is not needed",
			 o->state);
		return 0;
	}
	if ((r = cluster_addr_parse(o->address, &addr, err)) < 0)
		return err_wrap(err, "--address");
	if (!o->name)
		gethostname(host, sizeof(host) - 1);
	printf("coop daemon: joining through %s as %s...\n", o->join, o->name ?: host);
	fflush(stdout);
	if ((r = cluster_join(o->state, o->name ?: host, &addr, o->join, o->token, err)) < 0)
		return err_wrap(err, "--join");
	return 0;
}

/* A renewed node certificate reaches the TLS listener too. */
static void on_creds(void *ctx, const char *cert_pem, const char *key_pem)
{
	struct daemon *d = ctx;
	struct err err = { 0 };

	if (d->server && api_server_set_tls(d->server, cert_pem, key_pem, &err) < 0)
		log_warn("cluster: the API listener keeps its old certificate: %s", err.msg);
}

/* A node certificate presented to the API must not be revoked. */
static int peer_check(void *ctx, const char *cn, const char *serial, struct err *err)
{
	struct daemon *d = ctx;

	return d->cluster ? cluster_cert_check(d->cluster, cn, serial, err) : 0;
}

static int serve(struct daemon *d, const struct opts *o, struct err *err)
{
	_cleanup_free_ char *sock = xasprintf("%s/coop.sock", o->run);
	_cleanup_free_ char *tokens = xasprintf("%s/tokens.json", o->state);
	_cleanup_free_ char *store = o->store ? xstrdup(o->store) : xasprintf("%s/images", o->state);
	struct agent_config ac = { .state_dir = o->state, .run_dir = o->run, .image_store = store };
	_cleanup_free_ char *exe = NULL;
	int r;

	/* One sealed copy for every monitor (CVE-2019-5736), instead of each monitor
	 * copying the binary and re-executing itself: ~2 MB and an exec per container. */
	if ((d->sealed_fd = rt_sealed_copy(err)) < 0)
		return d->sealed_fd;
	exe = xasprintf("/proc/%d/fd/%d", getpid(), d->sealed_fd);
	ac.exe = exe;
	if ((r = clear_stale_socket(sock, err)) < 0 || (r = auth_store_open(tokens, &d->tokens, err)) < 0 ||
	    (r = agent_new(d->loop, &ac, &d->agent, err)) < 0)
		return r;
	if ((r = agent_restore(d->agent, err)) < 0)
		return err_wrap(err, "restore containers");
	if (cluster_configured(o->state)) {
		struct cluster_config cc = { .loop = d->loop, .state_dir = o->state,
					     .agent = d->agent, .labels = o->labels,
					     .on_creds = on_creds, .creds_ctx = d };
		if (o->listen)
			return err_msg(err, EINVAL, "--listen: a cluster member serves its API on "
						    "its cluster address already");
		if ((r = cluster_start(&cc, &d->cluster, err)) < 0)
			return err_wrap(err, "cluster");
	}
	struct api_routes_config rc = { .loop = d->loop, .engine = &agent_engine, .agent = d->agent,
					.cluster = d->cluster, .tokens = d->tokens,
					.image_store = store, .version = COOP_VERSION,
					.state_dir = o->state, .run_dir = o->run };
	if ((r = api_routes_new(&rc, &d->routes, err)) < 0)
		return r;
	struct api_server_config sc = { .unix_path = sock, .listen = o->listen,
					.tls_cert = o->cert, .tls_key = o->key,
					.tokens = d->tokens, .dispatch = api_routes_dispatch,
					.ctx = d->routes };
	if (d->cluster) {
		sc.listen = cluster_listen(d->cluster);
		sc.tls_cert = cluster_cert_file(d->cluster);
		sc.tls_key = cluster_key_file(d->cluster);
		sc.tls_ca = cluster_ca_file(d->cluster);
		sc.peer_check = peer_check;
		sc.peer_ctx = d;
	}
	if ((r = api_server_start(d->loop, &sc, &d->server, err)) < 0)
		return r;
	printf("coop daemon %s: listening on unix:%s", COOP_VERSION, sock);
	if (sc.listen)
		printf(" and https://%s", sc.listen);
	if (d->cluster)
		printf(" (cluster node %s)", cluster_node_name(d->cluster));
	printf(" (state %s, pid %d)\n", o->state, getpid());
	fflush(stdout);
	return 0;
}

int daemon_main(int argc, char **argv)
{
	struct opts o = { .state = "/var/lib/coop", .run = "/run/coop" };
	struct daemon d = { .loop = uv_default_loop(), .sealed_fd = -1 };
	struct err err = { 0 };
	_cleanup_close_ int lock = -1;
	int r = parse(argc, argv, &o);

	if (r == -1)
		return 0;
	if (r < 0)
		return 2;
	if (getenv("COOP_DEBUG") && *getenv("COOP_DEBUG"))
		o.debug = true; /* for daemons started by scripts and tests */
	log_setup(NULL, 0, o.debug ? LOG_DEBUG : LOG_WARN);
	signal(SIGPIPE, SIG_IGN);
	/* forwarded writes and heartbeats to the leader wait on the thread pool: a slow
	 * leader must not hold up image pulls */
	setenv("UV_THREADPOOL_SIZE", "16", 0);
	if (fs_mkdir_p(o.state, 0711, &err) < 0 || fs_mkdir_p(o.run, 0711, &err) < 0 ||
	    take_lock(o.run, &lock, &err) < 0 || join(&o, &err) < 0) {
		json_decref(o.labels);
		return fprintf(stderr, "coop: %s\n", err.msg), 1;
	}
	uv_signal_init(d.loop, &d.sigterm);
	uv_signal_init(d.loop, &d.sigint);
	d.sigterm.data = d.sigint.data = &d;
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	uv_signal_start(&d.sigint, on_signal, SIGINT);
	if (serve(&d, &o, &err) < 0) {
		fprintf(stderr, "coop: %s\n", err.msg);
		on_signal(&d.sigterm, SIGTERM);
		uv_run(d.loop, UV_RUN_DEFAULT);
		auth_store_free(d.tokens);
		return 1;
	}
	uv_run(d.loop, UV_RUN_DEFAULT);
	auth_store_free(d.tokens);
	json_decref(o.labels);
	return 0;
}
