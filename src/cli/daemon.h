/* daemon: `coop daemon` — the node agent: one libuv loop running the container
 * engine (agent) and the API server on its unix socket (and TCP+TLS with --listen). */
#ifndef COOP_CLI_DAEMON_H
#define COOP_CLI_DAEMON_H

int daemon_main(int argc, char **argv);

#endif
