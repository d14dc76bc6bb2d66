/* hmap: a small open-addressing hash map from C strings to pointers, for the hot paths
 * where jansson objects are too slow (the state machine applies 100,000 placements in
 * batches). Linear probing with backward-shift deletion (no tombstones); the map does
 * not own keys or values: a key must stay valid while its entry is in the map (usually
 * it points into the value). Iteration order depends on history: sort before output. */
#ifndef COOP_BASE_HMAP_H
#define COOP_BASE_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_slot {
	uint64_t hash; /* 0: empty */
	const char *key;
	void *val;
};

struct hmap {
	struct hmap_slot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t len;
};

#define HMAP_INIT                                                                                  \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void hmap_free(struct hmap *m);
void *hmap_get(const struct hmap *m, const char *key);
/* Inserts or replaces; returns the value replaced, or NULL. */
void *hmap_put(struct hmap *m, const char *key, void *val);
/* Removes; returns the value removed, or NULL. */
void *hmap_del(struct hmap *m, const char *key);
/* Iteration: `size_t i = 0; while (hmap_next(m, &i, &key, &val)) ...`. The map must
 * not change during iteration. */
int hmap_next(const struct hmap *m, size_t *i, const char **ret_key, void **ret_val);
uint64_t hmap_hash(const char *key);
/* dst becomes a copy of src (same layout, no rehashing) whose values are dup(ctx, val,
 * &key): dup copies a value and points *key at the copy's own key. */
void hmap_copy(struct hmap *dst, const struct hmap *src,
	       void *(*dup)(void *ctx, const void *val, const char **ret_key), void *ctx);

#endif
