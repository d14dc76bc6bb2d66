/* rtcli: coop-runtime's verbs, dispatched from a table. Global options come before the
 * verb, as runc takes them; single-dash long options (-root) are accepted too. Each
 * verb prints at most one error line and returns the exit status. */
#include "cli/rtcli.h"

#include "cli/opts.h"

#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "runtime/config.h"
#include "runtime/container.h"
#include "runtime/seccomp.h"
#include "runtime/state.h"

#ifndef COOP_VERSION
#define COOP_VERSION "0.1.0"
#endif

struct globals {
	const char *root;
	bool debug;
	bool log_to_file; /* engines (podman) read errors from --log */
};

static struct globals G = { .root = RT_DEFAULT_ROOT };

static int fail(const struct err *e)
{
	fprintf(stderr, "coop-runtime: %s\n", e->msg);
	if (G.log_to_file)
		log_error("%s", e->msg);
	return 1;
}

static int usage_error(const char *verb, const char *fmt, const char *arg)
{
	return cli_usage("coop-runtime", verb, fmt, arg);
}

#define HELP_OPT CLI_HELP_OPT
#define PARSE(shorts, longs, fn, ctx, help)                                                  \
	int first = cli_parse("coop-runtime", argc, argv, "+" shorts "h", longs, fn, ctx, help); \
	if (first == -1)                                                       \
		return 0;                                                      \
	if (first < 0)                                                         \
		return 2

static const char *need_id(int argc, char **argv, int first)
{
	if (first >= argc) {
		usage_error(argv[0], "%s", "missing container id");
		return NULL;
	}
	return argv[first];
}

/* ---- create / run ---- */

struct create_ctx {
	struct rt_create_opts o;
	bool detach;
};

static int create_opt(int c, const char *arg, void *ctx)
{
	struct create_ctx *x = ctx;
	switch (c) {
	case 'b': x->o.bundle = arg; break;
	case 'p': x->o.pid_file = arg; break;
	case 'c': x->o.console_socket = arg; break;
	case 'P': x->o.no_pivot = true; break;
	case 'd': x->detach = true; break;
	case 'f': x->o.preserve_fds = atoi(arg); break;
	default: break; /* accepted for compatibility, no effect */
	}
	return 0;
}

static const struct option create_longs[] = {
	{ "bundle", required_argument, NULL, 'b' }, { "pid-file", required_argument, NULL, 'p' },
	{ "console-socket", required_argument, NULL, 'c' }, { "no-pivot", no_argument, NULL, 'P' },
	{ "detach", no_argument, NULL, 'd' }, { "preserve-fds", required_argument, NULL, 'f' },
	{ "no-new-keyring", no_argument, NULL, 'K' }, { "no-subreaper", no_argument, NULL, 'S' },
	{ "keep", no_argument, NULL, 'k' }, HELP_OPT, { 0 },
};

static const char create_help[] =
	"Usage: coop-runtime create [OPTIONS] ID\n"
	"Create a container from an OCI bundle and leave its process waiting for `start`.\n\n"
	"  -b, --bundle DIR          bundle holding config.json (default: .)\n"
	"      --pid-file FILE       write the container's init pid here\n"
	"      --console-socket SOCK send the pty master here (process.terminal)\n"
	"      --no-pivot            MS_MOVE + chroot instead of pivot_root\n"
	"      --preserve-fds N      pass N extra fds (from 3) to the process\n";

static const char run_help[] =
	"Usage: coop-runtime run [OPTIONS] ID\n"
	"Create and start a container. In the foreground, signals are forwarded, the\n"
	"exit code is the container's (128+N when killed by signal N), and the container\n"
	"is deleted when it exits.\n\n"
	"  -d, --detach              return once started\n"
	"  -b, --bundle DIR          bundle holding config.json (default: .)\n"
	"      --pid-file FILE       write the container's init pid here\n"
	"      --console-socket SOCK send the pty master here (process.terminal)\n"
	"      --no-pivot            MS_MOVE + chroot instead of pivot_root\n"
	"      --preserve-fds N      pass N extra fds (from 3) to the process\n";

static int cmd_create(int argc, char **argv)
{
	struct create_ctx x = { .o = { .root = G.root } };
	struct err err = { 0 };
	PARSE("b:p:c:f:", create_longs, create_opt, &x, create_help);
	if (!(x.o.id = need_id(argc, argv, first)))
		return 2;
	return rt_container_create(&x.o, NULL, &err) < 0 ? fail(&err) : 0;
}

static int cmd_run(int argc, char **argv)
{
	struct create_ctx x = { .o = { .root = G.root } };
	struct err err = { 0 };
	int code = 0;
	PARSE("b:p:c:f:d", create_longs, create_opt, &x, run_help);
	if (!(x.o.id = need_id(argc, argv, first)))
		return 2;
	if (rt_container_run(&x.o, x.detach, &code, &err) < 0)
		return fail(&err);
	return code;
}

/* ---- verbs on one container ---- */

static int no_opt(int c, const char *arg, void *ctx)
{
	return 0;
}

static const struct option help_only[] = { HELP_OPT, { 0 } };

static int cmd_start(int argc, char **argv)
{
	struct err err = { 0 };
	const char *id;
	PARSE("", help_only, no_opt, NULL,
	      "Usage: coop-runtime start ID\nStart a created container's process.\n");
	if (!(id = need_id(argc, argv, first)))
		return 2;
	return rt_container_start(G.root, id, &err) < 0 ? fail(&err) : 0;
}

static int cmd_state(int argc, char **argv)
{
	struct rt_state *st = NULL;
	struct err err = { 0 };
	const char *id;
	PARSE("", help_only, no_opt, NULL,
	      "Usage: coop-runtime state ID\nPrint the container's OCI state as JSON.\n");
	if (!(id = need_id(argc, argv, first)))
		return 2;
	if (rt_state_load(G.root, id, &st, &err) < 0)
		return fail(&err);
	json_t *j = rt_state_json(st);
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(j);
	rt_state_free(st);
	return 0;
}

struct kill_ctx {
	bool all;
};

static int kill_opt(int c, const char *arg, void *ctx)
{
	if (c == 'a')
		((struct kill_ctx *)ctx)->all = true;
	return 0;
}

static int cmd_kill(int argc, char **argv)
{
	static const struct option longs[] = { { "all", no_argument, NULL, 'a' }, HELP_OPT, { 0 } };
	struct kill_ctx x = { 0 };
	struct err err = { 0 };
	const char *id;
	int sig = SIGTERM;
	PARSE("a", longs, kill_opt, &x,
	      "Usage: coop-runtime kill [--all] ID [SIGNAL]\n"
	      "Send SIGNAL (a name like TERM or SIGKILL, or a number; default TERM) to the\n"
	      "container's init, or with --all to every process in it.\n");
	if (!(id = need_id(argc, argv, first)))
		return 2;
	if (first + 1 < argc && (sig = rt_signal_parse(argv[first + 1])) < 0) {
		fprintf(stderr, "coop-runtime: unknown signal '%s'\n", argv[first + 1]);
		return 1;
	}
	return rt_container_kill(G.root, id, sig, x.all, &err) < 0 ? fail(&err) : 0;
}

static int force_opt(int c, const char *arg, void *ctx)
{
	if (c == 'f')
		*(bool *)ctx = true;
	return 0;
}

static int cmd_delete(int argc, char **argv)
{
	static const struct option longs[] = { { "force", no_argument, NULL, 'f' }, HELP_OPT, { 0 } };
	bool force = false;
	struct err err = { 0 };
	const char *id;
	PARSE("f", longs, force_opt, &force,
	      "Usage: coop-runtime delete [--force] ID\n"
	      "Delete a stopped container: its cgroup, state and poststop hooks. --force\n"
	      "kills it first if it still runs.\n");
	if (!(id = need_id(argc, argv, first)))
		return 2;
	return rt_container_delete(G.root, id, force, &err) < 0 ? fail(&err) : 0;
}

static int cmd_pause_resume(int argc, char **argv, bool pause)
{
	struct err err = { 0 };
	const char *id;
	PARSE("", help_only, no_opt, NULL,
	      pause ? "Usage: coop-runtime pause ID\nFreeze every process of the container.\n"
		    : "Usage: coop-runtime resume ID\nThaw a paused container.\n");
	if (!(id = need_id(argc, argv, first)))
		return 2;
	return rt_container_pause(G.root, id, pause, &err) < 0 ? fail(&err) : 0;
}

static int cmd_pause(int argc, char **argv)
{
	return cmd_pause_resume(argc, argv, true);
}

static int cmd_resume(int argc, char **argv)
{
	return cmd_pause_resume(argc, argv, false);
}

struct fmt_ctx {
	const char *format;
	bool quiet;
};

static int fmt_opt(int c, const char *arg, void *ctx)
{
	struct fmt_ctx *x = ctx;
	if (c == 'f')
		x->format = arg;
	else if (c == 'q')
		x->quiet = true;
	return 0;
}

static const struct option fmt_longs[] = {
	{ "format", required_argument, NULL, 'f' }, { "quiet", no_argument, NULL, 'q' }, HELP_OPT, { 0 },
};

/* As runc does: the host's ps (default -ef), filtered to the container's pids. */
static void ps_table(int argc, char **argv, const pid_t *pids, size_t n)
{
	_cleanup_free_ char *cmd = xstrdup("ps");
	char line[4096];
	int pid_col = -1;
	FILE *f;

	for (int i = 0; i < argc; i++) {
		char *q = xasprintf("%s '%s'", cmd, argv[i]);
		free(cmd);
		cmd = q;
	}
	if (argc == 0) {
		free(cmd);
		cmd = xstrdup("ps -ef");
	}
	f = popen(cmd, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		_cleanup_free_ char *copy = xstrdup(line);
		char *save = NULL, *tok = strtok_r(copy, " \t\n", &save);
		if (pid_col < 0) {
			for (int col = 0; tok; col++, tok = strtok_r(NULL, " \t\n", &save))
				if (streq(tok, "PID"))
					pid_col = col;
			fputs(line, stdout);
			continue;
		}
		for (int col = 0; tok && col < pid_col; col++)
			tok = strtok_r(NULL, " \t\n", &save);
		for (size_t i = 0; tok && i < n; i++)
			if (atoi(tok) == pids[i])
				fputs(line, stdout);
	}
	pclose(f);
}

static int cmd_ps(int argc, char **argv)
{
	struct fmt_ctx x = { .format = "table" };
	struct err err = { 0 };
	pid_t *pids = NULL;
	size_t n = 0;
	const char *id;
	PARSE("f:", fmt_longs, fmt_opt, &x,
	      "Usage: coop-runtime ps [-f table|json] ID [PS OPTIONS]\n"
	      "List the processes in the container: the host's ps output (default -ef) for\n"
	      "its pids, or with -f json just the pids.\n");
	if (!(id = need_id(argc, argv, first)))
		return 2;
	if (rt_container_pids(G.root, id, &pids, &n, &err) < 0)
		return fail(&err);
	if (streq(x.format, "json")) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, json_integer(pids[i]));
		json_dumpf(a, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(a);
	} else {
		ps_table(argc - first - 1, argv + first + 1, pids, n);
	}
	free(pids);
	return 0;
}

static int cmd_list(int argc, char **argv)
{
	struct fmt_ctx x = { .format = "table" };
	struct err err = { 0 };
	_cleanup_strv_ char **ids = NULL;
	json_t *arr = json_array();
	PARSE("f:q", fmt_longs, fmt_opt, &x,
	      "Usage: coop-runtime list [-f table|json] [-q]\nList containers under --root.\n");
	(void)first;
	if (rt_state_list(G.root, &ids, &err) < 0)
		return fail(&err);
	if (!x.quiet && !streq(x.format, "json"))
		printf("%-20s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE",
		       "CREATED", "OWNER");
	for (size_t i = 0; ids[i]; i++) {
		struct rt_state *st = NULL;
		if (rt_state_load(G.root, ids[i], &st, NULL) < 0)
			continue;
		json_t *j = rt_state_json(st);
		if (x.quiet)
			printf("%s\n", st->id);
		else if (streq(x.format, "json"))
			json_array_append(arr, j);
		else
			printf("%-20s %-8d %-10s %-40s %-30s %s\n", st->id,
			       (int)json_integer_value(json_object_get(j, "pid")),
			       rt_status_name(st->status), st->bundle ? st->bundle : "",
			       st->created ? st->created : "", "root");
		json_decref(j);
		rt_state_free(st);
	}
	if (streq(x.format, "json") && !x.quiet) {
		json_dumpf(arr, stdout, JSON_COMPACT);
		putchar('\n');
	}
	json_decref(arr);
	return 0;
}

/* ---- exec ---- */

static int exec_opt(int c, const char *arg, void *ctx)
{
	struct rt_exec_opts *o = ctx;
	struct err err = { 0 };
	_cleanup_json_ json_t *doc = NULL;

	switch (c) {
	case 'p':
		if (js_load_file(arg, &doc, &err) < 0 ||
		    rt_process_parse(doc, "process", &o->proc, &err) < 0) {
			fprintf(stderr, "coop-runtime: --process %s: %s\n", arg, err.msg);
			return -1;
		}
		break;
	case 't': o->tty = true; break;
	case 'd': o->detach = true; break;
	case 'P': o->pid_file = arg; break;
	case 'c': o->console_socket = arg; break;
	case 'w': o->cwd = arg; break;
	case 'e': o->env = strv_append(o->env, arg); break;
	case 'u': o->user = arg; break;
	case 'C': o->caps = strv_append(o->caps, arg); break;
	case 'n': o->no_new_privs = true; break;
	case 'f': o->preserve_fds = atoi(arg); break;
	default: break;
	}
	return 0;
}

static const char exec_help[] =
	"Usage: coop-runtime exec [OPTIONS] ID [COMMAND [ARG...]]\n"
	"Run a new process inside a running container: it joins every namespace and the\n"
	"cgroup of the container, with the container's capabilities and seccomp filter.\n\n"
	"  -p, --process FILE        the process as OCI JSON (instead of COMMAND)\n"
	"  -t, --tty                 allocate a pty\n"
	"  -d, --detach              do not wait for the process\n"
	"      --pid-file FILE       write the process's pid here\n"
	"      --console-socket SOCK send the pty master here\n"
	"      --cwd DIR             working directory\n"
	"  -e, --env K=V             add an environment variable (repeatable)\n"
	"  -u, --user UID[:GID]      run as this user\n"
	"  -c, --cap CAP             add a capability (repeatable)\n"
	"      --no-new-privs        set no_new_privs\n"
	"      --preserve-fds N      pass N extra fds (from 3)\n";

static int cmd_exec(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "process", required_argument, NULL, 'p' }, { "tty", no_argument, NULL, 't' },
		{ "detach", no_argument, NULL, 'd' }, { "pid-file", required_argument, NULL, 'P' },
		{ "console-socket", required_argument, NULL, 'c' },
		{ "cwd", required_argument, NULL, 'w' }, { "env", required_argument, NULL, 'e' },
		{ "user", required_argument, NULL, 'u' }, { "cap", required_argument, NULL, 'C' },
		{ "no-new-privs", no_argument, NULL, 'n' },
		{ "preserve-fds", required_argument, NULL, 'f' },
		{ "process-label", required_argument, NULL, 'L' },
		{ "apparmor", required_argument, NULL, 'A' }, HELP_OPT, { 0 },
	};
	struct rt_exec_opts o = { .root = G.root };
	struct err err = { 0 };
	int code = 0, r;
	PARSE("p:tde:u:", longs, exec_opt, &o, exec_help);
	if (!(o.id = need_id(argc, argv, first)))
		return 2;
	o.args = argv + first + 1;
	r = rt_container_exec(&o, &code, &err);
	strv_free(o.env);
	strv_free(o.caps);
	rt_process_free(o.proc);
	return r < 0 ? fail(&err) : code;
}

/* ---- update ---- */

struct update_ctx {
	json_t *res;
	const char *file;
};

static int update_opt(int c, const char *arg, void *ctx)
{
	struct update_ctx *x = ctx;
	static const struct {
		int c;
		const char *section, *key;
	} map[] = {
		{ 'm', "memory", "limit" }, { 'R', "memory", "reservation" },
		{ 's', "memory", "swap" },  { 'q', "cpu", "quota" },
		{ 'P', "cpu", "period" },   { 'S', "cpu", "shares" },
		{ 'l', "pids", "limit" },   { 'w', "blockIO", "weight" },
	};
	char *end;

	if (c == 'r') {
		x->file = arg;
		return 0;
	}
	if (c == 'C' || c == 'M') {
		json_t *cpu = json_object_get(x->res, "cpu");
		if (!cpu)
			json_object_set_new(x->res, "cpu", cpu = json_object());
		json_object_set_new(cpu, c == 'C' ? "cpus" : "mems", json_string(arg));
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		if (map[i].c != c)
			continue;
		long long v = strtoll(arg, &end, 10);
		/* memory sizes may carry a unit, as docker's flags do */
		if (*end == 'k' || *end == 'K') v <<= 10, end++;
		else if (*end == 'm' || *end == 'M') v <<= 20, end++;
		else if (*end == 'g' || *end == 'G') v <<= 30, end++;
		if (*end || end == arg) {
			fprintf(stderr, "coop-runtime update: invalid number '%s'\n", arg);
			return -1;
		}
		json_t *sec = json_object_get(x->res, map[i].section);
		if (!sec)
			json_object_set_new(x->res, map[i].section, sec = json_object());
		json_object_set_new(sec, map[i].key, json_integer(v));
	}
	return 0;
}

static int cmd_update(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "resources", required_argument, NULL, 'r' }, { "memory", required_argument, NULL, 'm' },
		{ "memory-reservation", required_argument, NULL, 'R' },
		{ "memory-swap", required_argument, NULL, 's' },
		{ "cpu-quota", required_argument, NULL, 'q' }, { "cpu-period", required_argument, NULL, 'P' },
		{ "cpu-share", required_argument, NULL, 'S' }, { "cpu-shares", required_argument, NULL, 'S' },
		{ "cpuset-cpus", required_argument, NULL, 'C' },
		{ "cpuset-mems", required_argument, NULL, 'M' },
		{ "pids-limit", required_argument, NULL, 'l' },
		{ "blkio-weight", required_argument, NULL, 'w' }, HELP_OPT, { 0 },
	};
	_cleanup_json_ json_t *res = json_object();
	struct update_ctx x = { .res = res };
	struct rt_resources *r = NULL;
	struct err err = { 0 };
	const char *id;
	int rc;
	PARSE("r:", longs, update_opt, &x,
	      "Usage: coop-runtime update [OPTIONS] ID\n"
	      "Change the resource limits of a running container.\n\n"
	      "  -r, --resources FILE      linux.resources JSON (- for stdin)\n"
	      "      --memory N[kmg]       memory limit\n"
	      "      --memory-reservation N, --memory-swap N\n"
	      "      --cpu-quota N, --cpu-period N, --cpu-shares N\n"
	      "      --cpuset-cpus LIST, --cpuset-mems LIST\n"
	      "      --pids-limit N, --blkio-weight N\n");
	if (!(id = need_id(argc, argv, first)))
		return 2;
	if (x.file) {
		json_error_t je;
		json_t *f = streq(x.file, "-") ? json_loadf(stdin, 0, &je) : json_load_file(x.file, 0, &je);
		if (!f) {
			fprintf(stderr, "coop-runtime: %s:%d:%d: invalid JSON: %s\n", x.file, je.line,
				je.column, je.text);
			return 1;
		}
		json_object_update(f, res);
		json_decref(res);
		res = f;
	}
	if (rt_resources_parse(res, "resources", &r, &err) < 0)
		return fail(&err);
	rc = rt_container_update(G.root, id, r, &err);
	rt_resources_free(r);
	return rc < 0 ? fail(&err) : 0;
}

/* ---- spec, features, version ---- */

struct spec_ctx {
	const char *bundle;
	bool rootless;
};

static int spec_opt(int c, const char *arg, void *ctx)
{
	struct spec_ctx *x = ctx;
	if (c == 'b')
		x->bundle = arg;
	else if (c == 'r')
		x->rootless = true;
	return 0;
}

static int cmd_spec(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "bundle", required_argument, NULL, 'b' }, { "rootless", no_argument, NULL, 'r' },
		HELP_OPT, { 0 },
	};
	struct spec_ctx x = { .bundle = "." };
	struct err err = { 0 };
	_cleanup_free_ char *file = NULL, *s = NULL;
	json_t *doc;
	PARSE("b:", longs, spec_opt, &x,
	      "Usage: coop-runtime spec [--bundle DIR] [--rootless]\n"
	      "Write a default config.json into DIR: sh in ./rootfs, the standard mounts,\n"
	      "Docker's default capabilities and seccomp profile. Refuses to overwrite.\n");
	(void)first;
	file = xasprintf("%s/config.json", x.bundle);
	if (access(file, F_OK) == 0) {
		fprintf(stderr, "coop-runtime: '%s' exists: remove it first\n", file);
		return 1;
	}
	doc = rt_config_default(x.rootless);
	s = json_dumps(doc, JSON_INDENT(2));
	json_decref(doc);
	if (fs_write_atomic(file, s, strlen(s), 0644, &err) < 0)
		return fail(&err);
	return 0;
}

static int cmd_features(int argc, char **argv)
{
	static const char *const hooks[] = { "prestart", "createRuntime", "createContainer",
					     "startContainer", "poststart", "poststop", NULL };
	static const char *const nss[] = { "cgroup", "ipc", "mount", "network", "pid", "user",
					   "uts", NULL };
	static const char *const mopts[] = {
		"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
		"lazytime", "mand", "noatime", "nodev", "nodiratime", "noexec", "nolazytime",
		"nomand", "norelatime", "nostrictatime", "nosuid", "private", "rbind", "relatime",
		"remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared",
		"slave", "strictatime", "suid", "sync", "unbindable", NULL,
	};
	json_t *caps = json_array(), *h = json_array(), *n = json_array(), *m = json_array();
	PARSE("", help_only, no_opt, NULL,
	      "Usage: coop-runtime features\nPrint what this runtime supports, as OCI features JSON.\n");
	(void)first;
	for (int i = 0; i <= rt_cap_last(); i++)
		if (rt_cap_name(i))
			json_array_append_new(caps, json_string(rt_cap_name(i)));
	for (int i = 0; hooks[i]; i++)
		json_array_append_new(h, json_string(hooks[i]));
	for (int i = 0; nss[i]; i++)
		json_array_append_new(n, json_string(nss[i]));
	for (int i = 0; mopts[i]; i++)
		json_array_append_new(m, json_string(mopts[i]));
	json_t *f = json_pack(
		"{s:s,s:s,s:o,s:o,s:{s:o,s:o,s:{s:b,s:b,s:b,s:b},s:{s:b},s:{s:b},s:{s:b}}}",
		"ociVersionMin", "1.0.0", "ociVersionMax", "1.2.0", "hooks", h, "mountOptions", m,
		"linux", "namespaces", n, "capabilities", caps, "cgroup", "v1", 1, "v2", 1,
		"systemd", 0, "systemdUser", 0, "seccomp", "enabled", 1, "apparmor", "enabled", 0,
		"selinux", "enabled", 0);
	json_dumpf(f, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(f);
	return 0;
}

/* ---- dispatch ---- */

static const struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	bool sealed; /* enters a container: run from the sealed copy */
	const char *summary;
} verbs[] = {
	{ "create", cmd_create, true, "create a container (its process waits for start)" },
	{ "start", cmd_start, false, "start a created container" },
	{ "run", cmd_run, true, "create and start a container" },
	{ "state", cmd_state, false, "print a container's state as JSON" },
	{ "kill", cmd_kill, false, "send a signal to a container" },
	{ "delete", cmd_delete, false, "delete a container" },
	{ "list", cmd_list, false, "list containers" },
	{ "ps", cmd_ps, false, "list a container's processes" },
	{ "exec", cmd_exec, true, "run a process in a running container" },
	{ "pause", cmd_pause, false, "freeze a container" },
	{ "resume", cmd_resume, false, "thaw a paused container" },
	{ "update", cmd_update, false, "change a container's resource limits" },
	{ "spec", cmd_spec, false, "write a default config.json" },
	{ "features", cmd_features, false, "print supported features as JSON" },
};

static void main_help(void)
{
	printf("Usage: coop-runtime [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n\n"
	       "coop's OCI runtime: runs containers from OCI bundles (a rootfs and a config.json),\n"
	       "with the runc/crun command line, so podman and other engines can use it.\n\n"
	       "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		printf("  %-10s %s\n", verbs[i].name, verbs[i].summary);
	printf("\nGlobal options:\n"
	       "  --root DIR             state directory (default %s)\n"
	       "  --log FILE             write the log here (default stderr)\n"
	       "  --log-format text|json log line format\n"
	       "  --debug                log debug messages\n"
	       "  --systemd-cgroup       accepted; coop manages cgroups through cgroupfs\n"
	       "  --version, --help\n\n"
	       "Example:\n"
	       "  mkdir -p b/rootfs && coop-runtime spec --bundle b   # then fill b/rootfs\n"
	       "  coop-runtime run -b b demo\n"
	       "Run 'coop-runtime COMMAND --help' for a command's options.\n",
	       RT_DEFAULT_ROOT);
}

int rtcli_main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "root", required_argument, NULL, 'r' }, { "log", required_argument, NULL, 'l' },
		{ "log-format", required_argument, NULL, 'f' }, { "debug", no_argument, NULL, 'd' },
		{ "systemd-cgroup", no_argument, NULL, 's' }, { "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' }, { "rootless", required_argument, NULL, 'R' },
		{ "log-level", required_argument, NULL, 'L' }, { "criu", required_argument, NULL, 'c' },
		{ 0 },
	};
	const char *log_file = NULL, *log_format = "text";
	struct err err = { 0 };
	int c;

	opterr = 0;
	while ((c = getopt_long_only(argc, argv, "+hv", longs, NULL)) != -1) {
		switch (c) {
		case 'r': G.root = optarg; break;
		case 'l': log_file = optarg; break;
		case 'f': log_format = optarg; break;
		case 'd': G.debug = true; break;
		case 'v':
			printf("coop-runtime version %s\nspec: 1.2.0\n", COOP_VERSION);
			return 0;
		case 'h': main_help(); return 0;
		case '?':
			fprintf(stderr, "coop-runtime: unknown option '%s' (see coop-runtime --help)\n",
				argv[optind - 1]);
			return 2;
		default: break;
		}
	}
	if (!streq(log_format, "text") && !streq(log_format, "json")) {
		fprintf(stderr, "coop-runtime: --log-format: expected text or json, got '%s'\n", log_format);
		return 2;
	}
	if (log_setup(log_file, streq(log_format, "json"), G.debug ? LOG_DEBUG : LOG_WARN) < 0) {
		fprintf(stderr, "coop-runtime: --log: cannot open '%s': %s\n", log_file, strerror(errno));
		return 1;
	}
	G.log_to_file = log_file && *log_file;
	if (optind >= argc) {
		main_help();
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		if (!streq(argv[optind], verbs[i].name))
			continue;
		if (verbs[i].sealed && rt_ensure_sealed_binary(NULL, &err) < 0)
			return fail(&err);
		return verbs[i].fn(argc - optind, argv + optind);
	}
	fprintf(stderr, "coop-runtime: unknown command '%s' (see coop-runtime --help)\n", argv[optind]);
	return 2;
}
