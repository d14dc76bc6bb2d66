/* run: `coop run` (a .bun workload, or one container from an image, followed in the
 * foreground unless -d), `coop logs` and `coop exec` — the verbs that stream. */
#ifndef COOP_CLI_RUN_H
#define COOP_CLI_RUN_H

int run_cmd_run(int argc, char **argv);
int run_cmd_logs(int argc, char **argv);
int run_cmd_exec(int argc, char **argv);
int run_cmd_attach(int argc, char **argv);

#endif
