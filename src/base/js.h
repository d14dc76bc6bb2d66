/* js: typed field access on jansson objects with errors that name the field.
 * `path` is the dotted location of `obj` in the document ("process.user"); errors read
 * "process.user.uid: expected an unsigned integer". A missing optional field leaves the
 * output untouched and returns 0; returns 1 when the field was present and stored. */
#ifndef COOP_BASE_JS_H
#define COOP_BASE_JS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

/* jansson provides json_decrefp */
#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))

/* Fetches obj[key] checking its type (JSON_STRING, ...); with required, absence fails. */
int js_get(json_t *obj, const char *path, const char *key, json_type type, bool required,
	   json_t **ret, struct err *err);
int js_str(json_t *obj, const char *path, const char *key, bool required, char **ret,
	   struct err *err);
int js_bool(json_t *obj, const char *path, const char *key, bool *ret, struct err *err);
int js_i64(json_t *obj, const char *path, const char *key, int64_t *ret, struct err *err);
/* Unsigned, with an inclusive maximum. */
int js_u64(json_t *obj, const char *path, const char *key, uint64_t max, uint64_t *ret,
	   struct err *err);
/* An array of strings as a NULL-terminated vector. */
int js_strv(json_t *obj, const char *path, const char *key, bool required, char ***ret,
	    struct err *err);
/* "path.key" or "path[i]" for nested error paths; caller frees. */
char *js_path(const char *path, const char *key);
char *js_index(const char *path, size_t i);

/* Loads a JSON file; errors name the file, line and column. */
int js_load_file(const char *file, json_t **ret, struct err *err);
int js_load_string(const char *what, const char *s, json_t **ret, struct err *err);

#endif
