/* hooks: running OCI hooks — the state JSON on stdin, an optional timeout. */
#ifndef COOP_RUNTIME_HOOKS_H
#define COOP_RUNTIME_HOOKS_H

#include "base/err.h"
#include "runtime/config.h"

/* Runs every hook of `kind` in order; stops at the first failure. state_json is what
 * each hook reads on stdin. */
int rt_hooks_run(const struct rt_hooks *hooks, enum rt_hook_kind kind, const char *state_json,
		 struct err *err);
const char *rt_hook_kind_name(enum rt_hook_kind kind);

#endif
