/* util: cleanup attributes and small helpers shared by every layer.
 * Resources are freed on every path by scope; ownership leaves with take_ptr/take_fd. */
#ifndef COOP_BASE_UTIL_H
#define COOP_BASE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void closedirp(DIR **d) { if (*d) closedir(*d); }
void strv_free(char **v);
static inline void strv_freep(char ***v) { strv_free(*v); }

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)
#define _cleanup_strv_ _cleanup_(strv_freep)

#define take_ptr(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define take_fd(fd) ({ int _t = (fd); (fd) = -1; _t; })

/* Returns from the calling function when x (a 0-or-negative-errno call) fails. */
#define CHECK(x)                   \
	do {                       \
		int _r = (x);      \
		if (_r < 0)        \
			return _r; \
	} while (0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define streq(a, b) (strcmp((a), (b)) == 0)

/* Allocation failure is not recoverable in a CLI; these abort with a message. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

size_t strv_len(char *const *v);
char **strv_dup(char *const *v);
/* Appends a copy of s; v may be NULL. */
char **strv_append(char **v, const char *s);

/* The process's title: what /proc/PID/cmdline and ps show. proc_title_init (first thing
 * in main) notes where the kernel put the arguments; proc_title_set writes t over them
 * (cut to their length), for a process that stays a copy of coop (a container's init
 * must not show the runtime's command line with host paths). */
void proc_title_init(int argc, char **argv);
void proc_title_set(const char *t);

#endif
