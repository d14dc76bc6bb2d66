/* dl: dlopen on first use, one table of function pointers per library (see dl.h).
 * The tables themselves are defined in dl_libs.c, next to the lists they come from. */
#include "base/dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One lock for every library: loads are rare (once per library per process). */
static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;

static int fail(struct dl_lib *lib, const char *why)
{
	snprintf(lib->error, sizeof(lib->error), "%s (%s) %s; install the Debian package %s",
		 lib->name, lib->soname, why, lib->package);
	lib->failed = -ENOENT;
	return lib->failed;
}

static int load_locked(struct dl_lib *lib, struct err *err)
{
	/* RTLD_LOCAL: nothing else resolves against it; RTLD_NOW: a missing symbol in the
	 * library's own dependencies shows here, not at some later call. */
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		char why[160];
		snprintf(why, sizeof(why), "could not be loaded: %s", e ? e : "dlopen failed");
		return fail(lib, why);
	}
	for (size_t i = 0; i < lib->n; i++) {
		void *f = dlsym(h, lib->syms[i]);
		if (!f) {
			char why[160];
			snprintf(why, sizeof(why), "lacks %s (too old?)", lib->syms[i]);
			dlclose(h);
			memset(lib->fns, 0, lib->n * sizeof(void *));
			return fail(lib, why);
		}
		lib->fns[i] = f;
	}
	/* The handle stays open for the life of the process: the table points into it. */
	if (lib->init) {
		int r = lib->init(err);
		if (r < 0) {
			snprintf(lib->error, sizeof(lib->error), "%s", err->msg);
			lib->failed = r;
			return r;
		}
	}
	__atomic_store_n(&lib->ready, 1, __ATOMIC_RELEASE);
	return 0;
}

int dl_load(struct dl_lib *lib, struct err *err)
{
	int r = 0;

	if (__atomic_load_n(&lib->ready, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&dl_lock);
	if (!lib->ready)
		r = lib->failed ? lib->failed : load_locked(lib, err);
	pthread_mutex_unlock(&dl_lock);
	if (r < 0)
		return err_msg(err, -r, "%s", lib->error);
	return 0;
}

void dl_need(struct dl_lib *lib)
{
	struct err err = {0};

	if (dl_load(lib, &err) < 0) {
		fprintf(stderr, "coop: %s\n", err.msg);
		abort();
	}
}
