/* priv: what cluster.c and setup.c share. */
#ifndef COOP_CLUSTER_PRIV_H
#define COOP_CLUSTER_PRIV_H

#include <jansson.h>

#include "base/err.h"
#include "cluster/join.h"

/* <state>/cluster[/file] */
char *cl_path(const char *state_dir, const char *file);
int cl_config_write(const char *state_dir, json_t *cfg, struct err *err);
/* Node names: what the model accepts for a node ([a-z0-9][a-z0-9.-]*, at most 63). */
int cl_name_check(const char *name, struct err *err);
/* A new join token for the CA ca_fp, and the token.put command storing its record. */
int cl_token_new(const char *ca_fp, enum join_role role, int64_t ttl_s,
		 char text[JOIN_TOKEN_MAX], json_t **ret_cmd, struct err *err);

#endif
