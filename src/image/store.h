/* store: the content-addressed image store (default /var/lib/coop/images).
 *
 *   blobs/sha256/<hex>      every blob, verified (size and digest) before it appears
 *   ingest/<hex>.partial    a download in progress (kept across retries for Range resume)
 *   ingest/<hex>.lock       flock: one downloader per blob, others wait and reuse it
 *   layers/<hex>/diff       a layer blob unpacked once (overlay whiteout format), shared
 *   l/<short>               short symlink -> ../layers/<hex>/diff (overlay's option length)
 *   refs.json               name -> {target, manifest}, replaced atomically under flock
 *   lock                    flock for refs.json and prune
 *   gc.lock                 flock: shared by pulls in progress (img_store_hold), exclusive by prune
 *
 * A crash at any point leaves the store consistent: files appear by rename only, and
 * img_store_open() discards leftovers that no live process holds (unlocked partials,
 * half-unpacked layer dirs). */
#ifndef COOP_IMAGE_STORE_H
#define COOP_IMAGE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

#define IMG_STORE_DEFAULT "/var/lib/coop/images"

struct img_store;

/* Creates the layout if needed and cleans leftovers. root NULL = $COOP_IMAGE_STORE or
 * the default. */
int img_store_open(const char *root, struct img_store **ret, struct err *err);
/* Opens for reading only — no layout made, no leftovers cleaned, no directory scanned:
 * the container start path (resolving a local image, mounting its layers), which
 * would otherwise pay a scan of every layer and blob per start. Before writing, call
 * img_store_prepare (what img_store_open does). */
int img_store_open_reader(const char *root, struct img_store **ret, struct err *err);
int img_store_prepare(struct img_store *st, struct err *err);
void img_store_close(struct img_store *st);
const char *img_store_root(const struct img_store *st);

/* Keeps prune away while content is written but not yet named by a reference: a pull
 * holds the store from before its first blob until after img_store_ref_set. Nests;
 * released by img_store_release or img_store_close. Prune waits for every holder (and
 * fails with -EBUSY when called on a handle that holds). */
int img_store_hold(struct img_store *st, struct err *err);
void img_store_release(struct img_store *st);

/* ---- blobs ---- */
bool img_store_has_blob(struct img_store *st, const char *digest);
/* NULL for an invalid digest. */
char *img_store_blob_path(struct img_store *st, const char *digest);
/* Reads a small blob (manifest, config) whole, refusing more than max bytes, and
 * re-verifies its digest. */
int img_store_read_blob(struct img_store *st, const char *digest, size_t max, char **ret,
			size_t *ret_len, struct err *err);
/* Stores data; digest NULL = computed; a given digest that does not match is an error.
 * ret_digest (optional) receives the digest (caller frees). */
int img_store_put_blob(struct img_store *st, const char *digest, const void *data, size_t len,
		       char **ret_digest, struct err *err);

/* Streaming ingestion with resume and per-blob locking. */
struct img_ingest;
/* Locks the blob (waiting while another process downloads it; the same blob twice
 * through one handle is -EDEADLK, not a wait). *ret_exists is set when the blob is
 * already in the store (nothing to do: *ret is NULL). size < 0 when unknown. */
int img_ingest_begin(struct img_store *st, const char *digest, int64_t size,
		     struct img_ingest **ret, bool *ret_exists, struct err *err);
/* Bytes already in the partial file (resume with Range from here; the hash has been
 * primed with them). */
int64_t img_ingest_offset(const struct img_ingest *in);
/* Discards the partial content (a server that ignored Range sends it all again). */
int img_ingest_reset(struct img_ingest *in, struct err *err);
int img_ingest_write(struct img_ingest *in, const void *data, size_t len, struct err *err);
/* Verifies size and digest, fsyncs and renames into blobs/, unlocks, frees.
 * On mismatch the partial is deleted and the error says expected vs got. */
int img_ingest_commit(struct img_ingest *in, struct err *err);
/* Unlocks and frees; keep = leave the partial for a later resume. */
void img_ingest_abort(struct img_ingest *in, bool keep);

/* ---- layers ---- */
/* Unpacks the layer blob (once: later calls and concurrent callers reuse it) and
 * returns the short overlay name ("l/ABCDEFGHIJ", relative to the store root).
 * what names the layer in errors ("image busybox:latest layer 2/3 sha256:ab12..."). */
int img_store_layer(struct img_store *st, const char *blob_digest, const char *media_type,
		    const char *what, char **ret_short, struct err *err);
bool img_store_has_layer(struct img_store *st, const char *blob_digest);

/* ---- references ---- */
/* target: what the name points at (an index or a manifest); manifest: the manifest
 * chosen for this platform (equal to target for single-platform images). */
int img_store_ref_set(struct img_store *st, const char *name, const char *target,
		      const char *manifest, struct err *err);
/* -ENOENT "image 'x' not found" when absent. Either output may be NULL. */
int img_store_ref_get(struct img_store *st, const char *name, char **ret_target,
		      char **ret_manifest, struct err *err);
int img_store_ref_del(struct img_store *st, const char *name, struct err *err);
/* {name: {"target":..., "manifest":...}} (caller decrefs). */
int img_store_refs(struct img_store *st, json_t **ret, struct err *err);

/* Removes blobs and layers that no reference reaches (through index, manifest, config
 * and layers) and that no lock holds. Reports what was freed. */
int img_store_prune(struct img_store *st, uint64_t *ret_blobs, uint64_t *ret_bytes,
		    struct err *err);

#endif
