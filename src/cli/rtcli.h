/* rtcli: the coop-runtime command line (runc/crun compatible). */
#ifndef COOP_CLI_RTCLI_H
#define COOP_CLI_RTCLI_H

int rtcli_main(int argc, char **argv);

#endif
