/* util: allocation wrappers and string vectors. */
#include "base/util.h"

#include <stdarg.h>

static void oom(void)
{
	fputs("coop: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom();
	return s;
}

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

char **strv_dup(char *const *v)
{
	size_t n = strv_len(v);
	char **r = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(v[i]);
	return r;
}

char **strv_append(char **v, const char *s)
{
	size_t n = strv_len(v);
	v = xrealloc(v, (n + 2) * sizeof(char *));
	v[n] = xstrdup(s);
	v[n + 1] = NULL;
	return v;
}

static char *title_start;
static size_t title_len;

void proc_title_init(int argc, char **argv)
{
	char *end = NULL;
	for (int i = 0; i < argc; i++)
		if (argv[i] + strlen(argv[i]) + 1 > end)
			end = argv[i] + strlen(argv[i]) + 1;
	if (argc > 0) {
		title_start = argv[0];
		title_len = (size_t)(end - argv[0]);
	}
}

void proc_title_set(const char *t)
{
	if (!title_start)
		return;
	size_t n = strlen(t) < title_len ? strlen(t) : title_len - 1;
	memset(title_start, 0, title_len);
	memcpy(title_start, t, n);
}
