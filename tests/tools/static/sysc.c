/* sysc — calls one syscall by name with harmless, deliberately invalid arguments and
 * prints "NAME errno=N (text)" or "NAME ok". Built static (gcc -static) by the bats
 * helpers and copied into the busybox rootfs, to tell seccomp EPERM from the kernel's
 * own answer (EINVAL, ENOSYS, EOPNOTSUPP). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct call {
	const char *name;
	long nr;
	long a[4];
};

/* Arguments are chosen so that the call fails or does nothing if it gets through:
 * an unknown keyctl operation, kexec with invalid flags, unshare of nothing. */
static const struct call calls[] = {
	{ "keyctl", SYS_keyctl, { 9999, 0, 0, 0 } },
	{ "add_key", SYS_add_key, { 0, 0, 0, 0 } },
	{ "request_key", SYS_request_key, { 0, 0, 0, 0 } },
	{ "kexec_load", SYS_kexec_load, { 0, 1000000, 0, -1 } },
	{ "unshare", SYS_unshare, { 0, 0, 0, 0 } },
	{ "getpid", SYS_getpid, { 0, 0, 0, 0 } },
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: sysc NAME\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		const struct call *c = &calls[i];
		if (strcmp(c->name, argv[1]) != 0)
			continue;
		errno = 0;
		long r = syscall(c->nr, c->a[0], c->a[1], c->a[2], c->a[3]);
		if (r < 0) {
			printf("%s errno=%d (%s)\n", c->name, errno, strerror(errno));
			return 1;
		}
		printf("%s ok\n", c->name);
		return 0;
	}
	fprintf(stderr, "sysc: unknown syscall '%s'\n", argv[1]);
	return 2;
}
