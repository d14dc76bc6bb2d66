/* coop: one binary, several roles, chosen by the name it is called by (like busybox):
 * `coop-runtime` is the OCI runtime CLI; `coop` is the orchestrator's CLI. */
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "api/client.h"
#include "base/util.h"
#include "cli/ctl.h"
#include "cli/daemon.h"
#include "cli/image.h"
#include "cli/net.h"
#include "cli/rtcli.h"

#ifndef COOP_VERSION
#define COOP_VERSION "0.1.0"
#endif

static void coop_help(void)
{
	printf("Usage: coop [--endpoint URL (--access-token T --secret-key K | --cert F --key F) [--ca F]]\n"
	       "            COMMAND [ARGS]\n\n"
	       "coop turns Linux hosts into a container cluster: `coop daemon` on each host, and\n"
	       "these commands talk to it (its unix socket, /run/coop/coop.sock or $COOP_SOCKET;\n"
	       "or --endpoint https://HOST:PORT / $COOP_ENDPOINT with a token).\n\n"
	       "Commands:\n");
	ctl_verbs_help();
	printf("  daemon         the node agent (run it once per host, as root)\n"
	       "  image ...      pull, list, inspect, tag, remove, import, save, prune images\n"
	       "  vpc ...        create, list, delete VPCs (private networks)\n"
	       "  net ...        attach containers' network namespaces to VPCs\n"
	       "  port ...       publish host ports, balanced over healthy backends\n"
	       "  dns serve      the VPCs' resolver\n"
	       "  runtime ARGS   the OCI runtime (same as running coop-runtime ARGS)\n\n"
	       "See README.md and docs/ for more.\n");
}

int main(int argc, char **argv)
{
	char *name = basename(argv[0]);

	proc_title_init(argc, argv);
	if (strcmp(name, "coop-runtime") == 0)
		return rtcli_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], "runtime") == 0)
		return rtcli_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "monitor") == 0)
		return agent_monitor_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "image") == 0)
		return image_cli_main(argc - 1, argv + 1);
	if (argc > 1 && (strcmp(argv[1], "vpc") == 0 || strcmp(argv[1], "net") == 0 ||
			 strcmp(argv[1], "port") == 0 || strcmp(argv[1], "dns") == 0))
		return net_cli_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "daemon") == 0)
		return daemon_main(argc - 1, argv + 1);
	if (argc > 1 && ctl_handles(argv[1]))
		return ctl_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("coop version %s\n", COOP_VERSION);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "help") != 0) {
		fprintf(stderr, "coop: unknown command '%s' (see coop --help)\n", argv[1]);
		return 2;
	}
	coop_help();
	return argc > 1 ? 0 : 2;
}
