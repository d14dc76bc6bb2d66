/* cluster (CLI): `coop init` (a new cluster, offline: no daemon needed), `coop cluster
 * status`, `coop nodes`, `coop node label|drain|activate|rm|inspect`, `coop tasks` —
 * clients of the daemon's cluster routes (docs/api.md), printing tables or -o json. */
#ifndef COOP_CLI_CLUSTER_H
#define COOP_CLI_CLUSTER_H

int cluster_cmd_init(int argc, char **argv);
int cluster_cmd_cluster(int argc, char **argv);
int cluster_cmd_nodes(int argc, char **argv);
int cluster_cmd_node(int argc, char **argv);
int cluster_cmd_tasks(int argc, char **argv);

#endif
