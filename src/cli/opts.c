/* opts: shared command-line parsing. */
#include "cli/opts.h"

#include <stdio.h>

int cli_usage(const char *prog, const char *verb, const char *fmt, const char *arg)
{
	fprintf(stderr, "%s %s: ", prog, verb);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see '%s %s --help')\n", prog, verb);
	return 2;
}

int cli_parse(const char *prog, int argc, char **argv, const char *shorts,
	      const struct option *longs, cli_opt_fn fn, void *ctx, const char *help)
{
	int c;

	optind = 0; /* 0, not 1: glibc then re-reads the ordering ("+") and resets its state */
	opterr = 0;
	while ((c = getopt_long_only(argc, argv, shorts, longs, NULL)) != -1) {
		if (c == 'h') {
			fputs(help, stdout);
			return -1;
		}
		if (c == '?' || c == ':') {
			cli_usage(prog, argv[0], "unknown or incomplete option '%s'", argv[optind - 1]);
			return -2;
		}
		if (fn && fn(c, optarg, ctx) < 0)
			return -2;
	}
	return optind;
}

bool cli_operands(const char *prog, int argc, char **argv, int first, int lo, int hi,
		  const char *what)
{
	int n = argc - first;

	if (n < lo) {
		cli_usage(prog, argv[0], "missing %s", what);
		return false;
	}
	if (hi >= 0 && n > hi) {
		cli_usage(prog, argv[0], "unexpected argument '%s'", argv[first + hi]);
		return false;
	}
	return true;
}
