/* seccomp: the OCI linux.seccomp section through libseccomp — parsing (every field of
 * the spec: defaultAction, defaultErrnoRet, architectures, flags, syscalls with names,
 * action, errnoRet and argument filters) and loading; plus Docker's default profile. */
#ifndef COOP_RUNTIME_SECCOMP_H
#define COOP_RUNTIME_SECCOMP_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"

struct rt_seccomp; /* opaque */

/* Errors name the field: "linux.seccomp.syscalls[3].action: unknown action 'X'". */
int rt_seccomp_parse(json_t *obj, const char *path, struct rt_seccomp **ret, struct err *err);
void rt_seccomp_free(struct rt_seccomp *sc);
/* Compiles and loads the filter for the calling process. Called in the container's
 * init right before execve when noNewPrivileges is set, otherwise while it still holds
 * CAP_SYS_ADMIN. Syscall names unknown to this libseccomp are skipped (as runc does). */
int rt_seccomp_apply(const struct rt_seccomp *sc, struct err *err);
/* Optional, and recommended: compiles the filter now, in the runtime before it clones
 * the container, so that rt_seccomp_apply() in the init is one seccomp(2) call (~50 us)
 * instead of a libseccomp build (~10 ms for Docker's profile on x86_64). With cache_dir
 * (created 0700 if missing; e.g. "<state root>/seccomp"), compiled filters are kept
 * there keyed by the profile's content, the libseccomp version and the kernel release,
 * so each profile is compiled once per boot. Cache failures are not errors. */
int rt_seccomp_prepare(struct rt_seccomp *sc, const char *cache_dir, struct err *err);
/* Docker's default profile as an OCI linux.seccomp object: allows its list, denies the
 * rest with EPERM; syscalls Docker allows only with a capability are allowed when
 * `caps` (a bit mask of CAP_* numbers) holds it. */
json_t *rt_seccomp_default_profile(uint64_t caps);

#endif
