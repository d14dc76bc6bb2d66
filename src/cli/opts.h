/* opts: what every command line here shares — option parsing for a verb (long options
 * with one or two dashes, --help printing the verb's help), usage errors that point at
 * --help, and operand counting. `prog` names the command in messages: "coop image",
 * "coop-runtime". */
#ifndef COOP_CLI_OPTS_H
#define COOP_CLI_OPTS_H

#include <getopt.h>
#include <stdbool.h>

#define CLI_HELP_OPT { "help", no_argument, NULL, 'h' }

/* Called for each option; < 0 stops parsing (the callback printed why). */
typedef int (*cli_opt_fn)(int c, const char *arg, void *ctx);

/* "PROG VERB: <fmt % arg> (see 'PROG VERB --help')" on stderr; returns 2. */
int cli_usage(const char *prog, const char *verb, const char *fmt, const char *arg);
/* Parses argv (argv[0] is the verb). shorts may start with "+" to stop at the first
 * operand. Returns the index of the first operand, -1 after --help (printed), -2 after
 * a usage error (printed). */
int cli_parse(const char *prog, int argc, char **argv, const char *shorts,
	      const struct option *longs, cli_opt_fn fn, void *ctx, const char *help);
/* Between lo and hi operands (hi < 0: no upper bound); prints the usage error. */
bool cli_operands(const char *prog, int argc, char **argv, int first, int lo, int hi,
		  const char *what);

#endif
