/* hmap: open addressing, linear probing, load factor <= 1/2, backward-shift delete. */
#include "base/hmap.h"

#include <string.h>

#include "base/util.h"

uint64_t hmap_hash(const char *key)
{
	/* FNV-1a, then a final mix so linear probing sees well-spread low bits */
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

void hmap_free(struct hmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->len = 0;
}

static struct hmap_slot *find(const struct hmap *m, const char *key, uint64_t h)
{
	size_t mask = m->cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct hmap_slot *s = &m->slots[i];
		if (!s->hash)
			return s;
		if (s->hash == h && streq(s->key, key))
			return s;
	}
}

static void grow(struct hmap *m)
{
	struct hmap_slot *old = m->slots;
	size_t old_cap = m->cap;

	m->cap = old_cap ? old_cap * 2 : 16;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].hash)
			*find(m, old[i].key, old[i].hash) = old[i];
	free(old);
}

void *hmap_get(const struct hmap *m, const char *key)
{
	if (!m->len)
		return NULL;
	struct hmap_slot *s = find(m, key, hmap_hash(key));
	return s->hash ? s->val : NULL;
}

void *hmap_put(struct hmap *m, const char *key, void *val)
{
	uint64_t h = hmap_hash(key);
	struct hmap_slot *s;
	void *old;

	if ((m->len + 1) * 2 > m->cap)
		grow(m);
	s = find(m, key, h);
	if (!s->hash) {
		*s = (struct hmap_slot){h, key, val};
		m->len++;
		return NULL;
	}
	old = s->val;
	s->key = key;
	s->val = val;
	return old;
}

void *hmap_del(struct hmap *m, const char *key)
{
	size_t mask = m->cap - 1, i, j;
	struct hmap_slot *s;
	void *val;

	if (!m->len)
		return NULL;
	s = find(m, key, hmap_hash(key));
	if (!s->hash)
		return NULL;
	val = s->val;
	i = (size_t)(s - m->slots);
	/* backward shift: pull later members of the probe run into the hole */
	for (j = (i + 1) & mask; m->slots[j].hash; j = (j + 1) & mask) {
		size_t home = m->slots[j].hash & mask;
		/* the entry at j may move to i only if its home is not in (i, j] */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i] = (struct hmap_slot){0};
	m->len--;
	return val;
}

int hmap_next(const struct hmap *m, size_t *i, const char **ret_key, void **ret_val)
{
	for (; *i < m->cap; (*i)++) {
		struct hmap_slot *s = &m->slots[*i];
		if (s->hash) {
			if (ret_key)
				*ret_key = s->key;
			if (ret_val)
				*ret_val = s->val;
			(*i)++;
			return 1;
		}
	}
	return 0;
}

void hmap_copy(struct hmap *dst, const struct hmap *src,
	       void *(*dup)(void *ctx, const void *val, const char **ret_key), void *ctx)
{
	*dst = (struct hmap)HMAP_INIT;
	if (!src->cap)
		return;
	dst->slots = xcalloc(src->cap, sizeof(*dst->slots));
	dst->cap = src->cap;
	dst->len = src->len;
	for (size_t i = 0; i < src->cap; i++) {
		if (!src->slots[i].hash)
			continue;
		dst->slots[i].hash = src->slots[i].hash;
		dst->slots[i].val = dup(ctx, src->slots[i].val, &dst->slots[i].key);
	}
}
