/* progress: per-layer bars on a terminal, plain event lines elsewhere. */
#include "image/progress.h"

#include <stdarg.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

struct layer {
	char short_digest[32]; /* "sha256:ab12cd34ef56…" */
	int64_t size, done;
	char state[96];
	bool final;
};

struct img_progress {
	FILE *out;
	bool tty;
	size_t n;
	struct layer *layers;
	size_t drawn;	      /* lines drawn last time (to move back over them) */
	bool finished;	      /* img_progress_done: no more redrawing */
	struct timespec last; /* last redraw */
};

void img_progress_size(int64_t n, char *buf, size_t len)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = n < 0 ? 0 : (double)n;
	size_t u = 0;
	while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lld B", (long long)(n < 0 ? 0 : n));
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

struct img_progress *img_progress_new(FILE *out, size_t n_layers)
{
	if (!out)
		return NULL;
	struct img_progress *p = xcalloc(1, sizeof(*p));
	p->out = out;
	p->tty = isatty(fileno(out)) && getenv("TERM") && !streq(getenv("TERM"), "dumb");
	p->n = n_layers;
	p->layers = xcalloc(n_layers ? n_layers : 1, sizeof(*p->layers));
	for (size_t i = 0; i < n_layers; i++) {
		snprintf(p->layers[i].state, sizeof(p->layers[i].state), "waiting");
		p->layers[i].size = -1;
	}
	return p;
}

void img_progress_free(struct img_progress *p)
{
	if (!p)
		return;
	free(p->layers);
	free(p);
}

static void bar(char *buf, size_t width, int64_t done, int64_t size, bool final)
{
	size_t fill = final ? width : size > 0 ? (size_t)((double)done / size * width) : 0;
	if (fill > width)
		fill = width;
	for (size_t k = 0; k < width; k++)
		buf[k] = k < fill ? '=' : k == fill ? '>' : ' ';
	buf[width] = '\0';
}

static void redraw(struct img_progress *p, bool force)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (now.tv_sec - p->last.tv_sec) * 1000 + (now.tv_nsec - p->last.tv_nsec) / 1000000;
	if (p->finished || (!force && p->drawn && ms < 100))
		return;
	p->last = now;
	if (p->drawn)
		fprintf(p->out, "\033[%zuA", p->drawn);
	int64_t all = 0, got = 0;
	size_t finished = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct layer *l = &p->layers[i];
		char b[32], d[16], s[16];
		bar(b, 30, l->done, l->size, l->final);
		img_progress_size(l->final ? l->size : l->done, d, sizeof(d));
		img_progress_size(l->size, s, sizeof(s));
		fprintf(p->out, "\r\033[K%-21s [%s] %9s / %-9s %.40s\n", l->short_digest, b, d, s,
			l->state);
		all += l->size > 0 ? l->size : 0;
		got += l->final ? (l->size > 0 ? l->size : 0) : l->done;
		finished += l->final;
	}
	char b[32], d[16], s[16];
	bar(b, 30, got, all, p->n && finished == p->n);
	img_progress_size(got, d, sizeof(d));
	img_progress_size(all, s, sizeof(s));
	fprintf(p->out, "\r\033[K%-21s [%s] %9s / %-9s %zu/%zu layers\n", "total", b, d, s,
		finished, p->n);
	p->drawn = p->n + 1;
	fflush(p->out);
}

void img_progress_layer(struct img_progress *p, size_t i, const char *digest, int64_t size)
{
	if (!p || i >= p->n)
		return;
	const char *hex = strchr(digest, ':');
	snprintf(p->layers[i].short_digest, sizeof(p->layers[i].short_digest), "sha256:%.12s…",
		 hex ? hex + 1 : digest);
	p->layers[i].size = size;
}

void img_progress_bytes(struct img_progress *p, size_t i, int64_t done)
{
	if (!p || i >= p->n)
		return;
	p->layers[i].done = done;
	if (p->tty)
		redraw(p, false);
}

void img_progress_state(struct img_progress *p, size_t i, const char *state, int final)
{
	if (!p || i >= p->n)
		return;
	struct layer *l = &p->layers[i];
	snprintf(l->state, sizeof(l->state), "%s", state);
	l->final = final;
	if (p->tty) {
		redraw(p, true);
		return;
	}
	if (streq(state, "waiting") || streq(state, "downloading"))
		return; /* plain output: outcomes only */
	char s[16];
	img_progress_size(final ? l->size : l->done, s, sizeof(s));
	fprintf(p->out, "layer %s %s %s\n", l->short_digest, s, state);
	fflush(p->out);
}

void img_progress_note(struct img_progress *p, const char *fmt, ...)
{
	va_list ap;
	if (!p)
		return;
	p->drawn = 0; /* bars drawn so far stay above; the next redraw starts below */
	va_start(ap, fmt);
	vfprintf(p->out, fmt, ap);
	va_end(ap);
	fputc('\n', p->out);
	fflush(p->out);
}

void img_progress_done(struct img_progress *p)
{
	if (!p)
		return;
	if (p->tty && p->n)
		redraw(p, true);
	p->drawn = 0;
	p->finished = true;
}
