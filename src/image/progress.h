/* progress: what a pull shows while it runs. On a terminal, one bar per layer and a
 * total line, redrawn in place (at most ten times a second); anywhere else, one plain
 * line per event ("layer sha256:ab12cd34ef56… 12.3 MB done"), so logs stay readable.
 * Every function accepts a NULL progress (quiet). Single-threaded. */
#ifndef COOP_IMAGE_PROGRESS_H
#define COOP_IMAGE_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

struct img_progress;

/* NULL when out is NULL. */
struct img_progress *img_progress_new(FILE *out, size_t n_layers);
void img_progress_free(struct img_progress *p);
/* Names layer i (0-based) by its blob digest and size (-1 when unknown). */
void img_progress_layer(struct img_progress *p, size_t i, const char *digest, int64_t size);
/* Bytes of layer i on disk so far (resumed bytes included). */
void img_progress_bytes(struct img_progress *p, size_t i, int64_t done);
/* A new state for layer i ("waiting", "downloading", "exists", "done", "retrying in 2s:
 * ..."); final states fill the bar. */
void img_progress_state(struct img_progress *p, size_t i, const char *state, int final);
/* One line about the image as a whole ("resolved ... to sha256:..."). */
void img_progress_note(struct img_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Draws the final state (terminal) and stops redrawing. */
void img_progress_done(struct img_progress *p);

/* "12.3 MB" (decimal units, as registries and docker show sizes). */
void img_progress_size(int64_t n, char *buf, size_t len);

#endif
