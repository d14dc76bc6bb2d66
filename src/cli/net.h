/* net: the node-networking commands — `coop vpc`, `coop net`, `coop port`, `coop dns`. */
#ifndef COOP_CLI_NET_H
#define COOP_CLI_NET_H

/* argv[0] is the group ("vpc", "net", "port" or "dns"); returns the exit status. */
int net_cli_main(int argc, char **argv);

#endif
