/* js: jansson glue with field-naming errors. */
#include "base/js.h"

#include <inttypes.h>

#include "base/util.h"

static const char *type_name(json_type t)
{
	switch (t) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

char *js_path(const char *path, const char *key)
{
	if (!path || !*path)
		return xstrdup(key);
	return xasprintf("%s.%s", path, key);
}

char *js_index(const char *path, size_t i)
{
	return xasprintf("%s[%zu]", path ? path : "", i);
}

static int js_fail(const char *path, const char *key, const char *what, struct err *err)
{
	_cleanup_free_ char *p = js_path(path, key);
	return err_msg(err, EINVAL, "%s: %s", p, what);
}

int js_get(json_t *obj, const char *path, const char *key, json_type type, bool required,
	   json_t **ret, struct err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		if (required)
			return js_fail(path, key, "missing required field", err);
		return 0;
	}
	if (json_typeof(v) != type &&
	    !(type == JSON_TRUE && json_is_boolean(v))) {
		_cleanup_free_ char *w = xasprintf("expected %s", type_name(type));
		return js_fail(path, key, w, err);
	}
	*ret = v;
	return 1;
}

int js_str(json_t *obj, const char *path, const char *key, bool required, char **ret,
	   struct err *err)
{
	json_t *v;
	int r = js_get(obj, path, key, JSON_STRING, required, &v, err);
	if (r <= 0)
		return r;
	free(*ret);
	*ret = xstrdup(json_string_value(v));
	return 1;
}

int js_bool(json_t *obj, const char *path, const char *key, bool *ret, struct err *err)
{
	json_t *v;
	int r = js_get(obj, path, key, JSON_TRUE, false, &v, err);
	if (r <= 0)
		return r;
	*ret = json_is_true(v);
	return 1;
}

int js_i64(json_t *obj, const char *path, const char *key, int64_t *ret, struct err *err)
{
	json_t *v;
	int r = js_get(obj, path, key, JSON_INTEGER, false, &v, err);
	if (r <= 0)
		return r;
	*ret = json_integer_value(v);
	return 1;
}

int js_u64(json_t *obj, const char *path, const char *key, uint64_t max, uint64_t *ret,
	   struct err *err)
{
	json_t *v;
	json_int_t n;
	int r = js_get(obj, path, key, JSON_INTEGER, false, &v, err);
	if (r <= 0)
		return r;
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n > max) {
		_cleanup_free_ char *w =
			xasprintf("%" JSON_INTEGER_FORMAT " out of range 0..%" PRIu64, n, max);
		return js_fail(path, key, w, err);
	}
	*ret = (uint64_t)n;
	return 1;
}

int js_strv(json_t *obj, const char *path, const char *key, bool required, char ***ret,
	    struct err *err)
{
	json_t *v, *e;
	size_t i;
	char **out;
	int r = js_get(obj, path, key, JSON_ARRAY, required, &v, err);
	if (r <= 0)
		return r;
	out = xcalloc(json_array_size(v) + 1, sizeof(char *));
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			_cleanup_free_ char *p = js_path(path, key);
			_cleanup_free_ char *pi = js_index(p, i);
			strv_free(out);
			return err_msg(err, EINVAL, "%s: expected a string", pi);
		}
		out[i] = xstrdup(json_string_value(e));
	}
	strv_free(*ret);
	*ret = out;
	return 1;
}

int js_load_file(const char *file, json_t **ret, struct err *err)
{
	json_error_t je;
	json_t *j = json_load_file(file, JSON_REJECT_DUPLICATES, &je);

	if (!j) {
		if (je.line <= 0 && errno)
			return err_sys(err, errno, "read '%s'", file);
		return err_msg(err, EINVAL, "%s:%d:%d: invalid JSON: %s", file, je.line,
			       je.column, je.text);
	}
	*ret = j;
	return 0;
}

int js_load_string(const char *what, const char *s, json_t **ret, struct err *err)
{
	json_error_t je;
	json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &je);

	if (!j)
		return err_msg(err, EINVAL, "%s:%d:%d: invalid JSON: %s", what, je.line,
			       je.column, je.text);
	*ret = j;
	return 0;
}
