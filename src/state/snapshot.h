/* snapshot: the whole model as one versioned JSON document and back, for Raft snapshots
 * (and for tests comparing replicas). Objects are sorted by name, so two replicas in the
 * same state write the same bytes. Derived values (allocations, counts) are written for
 * readers but recomputed on load; a document that is malformed, of another format or
 * version, or that fails model_check() is refused with an error naming the field. */
#ifndef COOP_STATE_SNAPSHOT_H
#define COOP_STATE_SNAPSHOT_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"
#include "state/model.h"

#define SNAPSHOT_FORMAT "coop-state"
#define SNAPSHOT_VERSION 1

json_t *snapshot_json(const struct model *m);
int snapshot_load(json_t *doc, struct model **ret, struct err *err);
/* Compact bytes (malloc'd) and back. */
int snapshot_encode(const struct model *m, char **ret, size_t *ret_len, struct err *err);
int snapshot_decode(const void *buf, size_t len, struct model **ret, struct err *err);
/* The same, handing back the parsed document (the model shares nothing with it): freeing
 * a big one is a quarter of the work, which a restore does off the loop. */
int snapshot_decode_doc(const void *buf, size_t len, struct model **ret, json_t **ret_doc,
			struct err *err);

#endif
