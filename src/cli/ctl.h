/* ctl: the user's commands — clients of the daemon's API (`coop ps`, `stop`, `rm`,
 * `inspect`, `status`, `metrics`, `events`, `version`, `token`, `workload`, with
 * cli/run.c `run`, `logs`, `exec`, and with cli/cluster.c `init`, `cluster`, `nodes`,
 * `node`, `tasks`). Shared here: the connection options, option
 * parsing, tables and the one-line errors. */
#ifndef COOP_CLI_CTL_H
#define COOP_CLI_CTL_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>

#include "api/client.h"
#include "base/err.h"

/* Whether argv[1] is one of ctl's verbs or a connection option before one. */
bool ctl_handles(const char *verb);
/* One "  verb   summary" line per verb, for coop --help. */
void ctl_verbs_help(void);
int ctl_main(int argc, char **argv);

/* ---- shared with cli/run.c ---- */
int ctl_fail(const struct err *e);
int ctl_usage(const char *verb, const char *fmt, const char *arg);
/* Parses a verb's options; the index of the first operand, -1 after --help (printed),
 * -2 on a usage error (printed). */
typedef int (*ctl_opt_fn)(int c, const char *arg, void *ctx);
int ctl_parse(int argc, char **argv, const char *shorts, const struct option *longs,
	      ctl_opt_fn fn, void *ctx, const char *help);
bool ctl_operands(int argc, char **argv, int first, int lo, int hi, const char *what);
/* The client for this invocation (connection options and environment). */
int ctl_client(struct api_client **ret, struct err *err);
/* Whether the daemon is a cluster member (GET /v1/cluster answers 200): true with this
 * node's name in *ret_name (optional; caller frees); false when it is not or cannot say
 * (err says why). */
bool ctl_cluster_member(struct api_client *cl, char **ret_name, struct err *err);
void ctl_print_json(json_t *j);
/* "/v1/containers/<ref escaped><suffix>"; caller frees. */
char *ctl_path(const char *prefix, const char *ref, const char *suffix);

#define CTL_HELP_OPT { "help", no_argument, NULL, 'h' }

/* Aligned tables: a header row, then rows of cols strings (NULL prints as ""). */
struct ctl_table {
	size_t cols, rows;
	char **cells; /* rows x cols */
};
void ctl_table_row(struct ctl_table *t, ...);
/* Prints (with or without the first row) and frees the cells. */
void ctl_table_print(struct ctl_table *t, bool header);
/* A string member, "" when absent. */
const char *ctl_jstr(json_t *o, const char *k);
/* 1536 -> "1.5KiB" */
void ctl_human_size(double v, char *buf, size_t n);

/* After DELETE /v1/workloads/NAME: waits (up to 60 s) until none of its containers is
 * left, as the daemon stops and removes them in the background. */
struct api_client;
int ctl_workload_wait_gone(struct api_client *cl, const char *name, struct err *err);
/* The pause before poll number i+1 of something the daemon does in the background: 2, 4,
 * 8 ... 64 ms, then 100 ms. What a local daemon does for one container takes a few ms,
 * and a fixed 100 ms step made `coop run --rm` wait ~100 ms for it (issue 5). */
void ctl_poll_pause(int i);

/* A verb's option parsing: returns 0 after --help, 2 after a usage error. */
#define PARSE(shorts, longs, fn, ctx, help)                                  \
	int first = ctl_parse(argc, argv, shorts "h", longs, fn, ctx, help); \
	if (first == -1)                                                     \
		return 0;                                                    \
	if (first < 0)                                                       \
		return 2

#endif
