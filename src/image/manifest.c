/* manifest: OCI manifests/indexes and Docker schema2 manifests/lists parsed into one
 * model, the image config document, layer compressions and platform selection.
 * Pure (bytes in, structs out) so every rule is unit-tested and fuzzed. */
#include "image/manifest.h"

#include <string.h>
#include <sys/utsname.h>

#include "base/js.h"
#include "base/util.h"
#include "image/digest.h"

static const struct {
	const char *type;
	enum img_manifest_kind kind;
} manifest_types[] = {
    {IMG_MT_OCI_MANIFEST, IMG_KIND_MANIFEST},
    {IMG_MT_DOCKER_MANIFEST, IMG_KIND_MANIFEST},
    {IMG_MT_OCI_INDEX, IMG_KIND_INDEX},
    {IMG_MT_DOCKER_LIST, IMG_KIND_INDEX},
};

/* Content-Types that say nothing about the document: infer from its shape instead. */
static const char *const generic_types[] = {
    "",
    "application/json",
    "text/plain",
    "application/octet-stream",
};

static const struct {
	const char *type;
	int comp; /* enum img_compression, or -1: refused */
} layer_types[] = {
    {IMG_MT_OCI_LAYER, IMG_COMP_NONE},
    {IMG_MT_OCI_LAYER_GZIP, IMG_COMP_GZIP},
    {IMG_MT_OCI_LAYER_ZSTD, IMG_COMP_ZSTD},
    {IMG_MT_DOCKER_LAYER, IMG_COMP_GZIP},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", -1},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", -1},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", -1},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", -1},
};

int img_layer_compression(const char *media_type, enum img_compression *ret, struct err *err)
{
	if (!media_type)
		return err_msg(err, EINVAL, "layer has no media type");
	for (size_t i = 0; i < ARRAY_SIZE(layer_types); i++) {
		if (!streq(media_type, layer_types[i].type))
			continue;
		if (layer_types[i].comp < 0)
			return err_msg(err, EINVAL,
				       "foreign (non-distributable) layer '%s' is not supported",
				       media_type);
		*ret = (enum img_compression)layer_types[i].comp;
		return 0;
	}
	return err_msg(err, EINVAL, "unsupported layer media type '%.200s'", media_type);
}

/* ---- parsing ---- */

static void descriptor_free(struct img_descriptor *d)
{
	free(d->media_type);
	free(d->digest);
	free(d->os);
	free(d->arch);
	free(d->variant);
}

void img_manifest_free(struct img_manifest *m)
{
	if (!m)
		return;
	free(m->media_type);
	descriptor_free(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		descriptor_free(&m->layers[i]);
	free(m->layers);
	for (size_t i = 0; i < m->n_manifests; i++)
		descriptor_free(&m->manifests[i]);
	free(m->manifests);
	free(m);
}

static int parse_platform(json_t *o, const char *path, struct img_descriptor *d, struct err *err)
{
	json_t *p = NULL;
	_cleanup_free_ char *pp = js_path(path, "platform");

	CHECK(js_get(o, path, "platform", JSON_OBJECT, false, &p, err));
	if (!p)
		return 0;
	CHECK(js_str(p, pp, "os", false, &d->os, err));
	CHECK(js_str(p, pp, "architecture", false, &d->arch, err));
	CHECK(js_str(p, pp, "variant", false, &d->variant, err));
	return 0;
}

static int parse_descriptor(json_t *o, const char *path, bool platform, struct img_descriptor *d,
			    struct err *err)
{
	_cleanup_free_ char *dp = js_path(path, "digest");

	if (!json_is_object(o))
		return err_msg(err, EINVAL, "%s: expected an object", path);
	CHECK(js_str(o, path, "mediaType", true, &d->media_type, err));
	CHECK(js_str(o, path, "digest", true, &d->digest, err));
	if (img_digest_validate(d->digest, err) < 0)
		return err_wrap(err, "%s", dp);
	d->size = -1;
	CHECK(js_i64(o, path, "size", &d->size, err));
	if (d->size < 0) {
		_cleanup_free_ char *sp = js_path(path, "size");
		return err_msg(err, EINVAL, "%s: %s", sp,
			       json_object_get(o, "size") ? "must not be negative"
							  : "missing required field");
	}
	return platform ? parse_platform(o, path, d, err) : 0;
}

static int parse_descriptors(json_t *doc, const char *key, bool platform,
			     struct img_descriptor **ret, size_t *ret_n, struct err *err)
{
	json_t *arr = NULL, *e;
	size_t i;

	CHECK(js_get(doc, "", key, JSON_ARRAY, true, &arr, err));
	*ret = xcalloc(json_array_size(arr), sizeof(**ret));
	json_array_foreach(arr, i, e)
	{
		_cleanup_free_ char *p = js_index(key, i);
		*ret_n = i + 1;
		CHECK(parse_descriptor(e, p, platform, &(*ret)[i], err));
	}
	return 0;
}

/* "type/subtype; charset=..." -> "type/subtype" */
static char *bare_type(const char *ct)
{
	size_t n = strcspn(ct, "; \t");
	char *s = strndup(ct, n);
	if (!s)
		abort();
	return s;
}

static int kind_of(const char *type, enum img_manifest_kind *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(manifest_types); i++)
		if (streq(type, manifest_types[i].type)) {
			*ret = manifest_types[i].kind;
			return 0;
		}
	return -1;
}

static bool is_schema1(const char *type)
{
	return strncmp(type, "application/vnd.docker.distribution.manifest.v1", 47) == 0;
}

/* mediaType from the document, else the Content-Type, else the document's shape. */
static int media_type(json_t *doc, const char *content_type, struct img_manifest *m,
		      struct err *err)
{
	_cleanup_free_ char *ct = content_type ? bare_type(content_type) : NULL;

	CHECK(js_str(doc, "", "mediaType", false, &m->media_type, err));
	if (m->media_type) {
		if (is_schema1(m->media_type))
			return err_msg(err, ENOTSUP, "schema 1 manifests are not supported");
		if (kind_of(m->media_type, &m->kind) < 0)
			return err_msg(err, EINVAL, "mediaType: unsupported manifest type '%.200s'",
				       m->media_type);
		return 0;
	}
	if (ct && is_schema1(ct))
		return err_msg(err, ENOTSUP, "schema 1 manifests are not supported");
	if (ct && kind_of(ct, &m->kind) == 0) {
		m->media_type = take_ptr(ct);
		return 0;
	}
	for (size_t i = 0; ct && i < ARRAY_SIZE(generic_types); i++)
		if (streq(ct, generic_types[i]))
			ct = (free(ct), NULL);
	if (ct)
		return err_msg(err, EINVAL, "unsupported manifest type '%.200s'", ct);
	if (json_object_get(doc, "manifests")) {
		m->kind = IMG_KIND_INDEX;
		m->media_type = xstrdup(IMG_MT_OCI_INDEX);
	} else if (json_object_get(doc, "config") && json_object_get(doc, "layers")) {
		m->kind = IMG_KIND_MANIFEST;
		m->media_type = xstrdup(IMG_MT_OCI_MANIFEST);
	} else {
		return err_msg(err, EINVAL,
			       "not an image manifest or index (no mediaType, no \"manifests\", "
			       "no \"config\" and \"layers\")");
	}
	return 0;
}

static int parse_doc(json_t *doc, const char *content_type, struct img_manifest *m, struct err *err)
{
	json_t *cfg = NULL;
	int64_t version = 0;

	if (!json_is_object(doc))
		return err_msg(err, EINVAL, "manifest: expected a JSON object");
	CHECK(js_i64(doc, "", "schemaVersion", &version, err));
	if (version == 1)
		return err_msg(err, ENOTSUP, "schema 1 manifests are not supported");
	if (version != 2)
		return err_msg(err, EINVAL, "schemaVersion: %s",
			       version ? "must be 2" : "missing required field");
	CHECK(media_type(doc, content_type, m, err));
	if (m->kind == IMG_KIND_INDEX)
		return parse_descriptors(doc, "manifests", true, &m->manifests, &m->n_manifests,
					 err);
	CHECK(js_get(doc, "", "config", JSON_OBJECT, true, &cfg, err));
	CHECK(parse_descriptor(cfg, "config", false, &m->config, err));
	return parse_descriptors(doc, "layers", false, &m->layers, &m->n_layers, err);
}

int img_manifest_parse(const char *data, size_t len, const char *content_type,
		       struct img_manifest **ret, struct err *err)
{
	json_error_t je;
	json_t *doc;
	struct img_manifest *m;
	int r;

	if (len > IMG_MANIFEST_MAX)
		return err_msg(err, EFBIG, "manifest of %zu bytes is larger than the %u allowed",
			       len, IMG_MANIFEST_MAX);
	doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		return err_msg(err, EINVAL, "manifest:%d:%d: invalid JSON: %s", je.line, je.column,
			       je.text);
	m = xcalloc(1, sizeof(*m));
	r = parse_doc(doc, content_type, m, err);
	json_decref(doc);
	if (r < 0) {
		img_manifest_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

/* ---- platforms ---- */

static const struct {
	const char *machine, *arch, *variant;
} arch_table[] = {
    {"x86_64", "amd64", NULL},
    {"amd64", "amd64", NULL},
    {"aarch64", "arm64", "v8"},
    {"arm64", "arm64", "v8"},
    {"armv8l", "arm", "v8"},
    {"armv7l", "arm", "v7"},
    {"armv7", "arm", "v7"},
    {"armv6l", "arm", "v6"},
    {"armv5tel", "arm", "v5"},
    {"i386", "386", NULL},
    {"i486", "386", NULL},
    {"i586", "386", NULL},
    {"i686", "386", NULL},
    {"ppc64le", "ppc64le", NULL},
    {"ppc64", "ppc64", NULL},
    {"s390x", "s390x", NULL},
    {"riscv64", "riscv64", NULL},
    {"mips64", "mips64", NULL},
    {"loongarch64", "loong64", NULL},
};

/* uname/GOARCH spellings to GOARCH; *variant set only when the name implies one. */
static const char *norm_arch(const char *a, const char **variant)
{
	for (size_t i = 0; i < ARRAY_SIZE(arch_table); i++)
		if (streq(a, arch_table[i].machine)) {
			if (variant)
				*variant = arch_table[i].variant;
			return arch_table[i].arch;
		}
	if (variant)
		*variant = NULL;
	return a;
}

void img_platform_native(const char **os, const char **arch, const char **variant)
{
	static struct utsname u;
	static const char *a, *v;

	if (!a) {
		if (uname(&u) < 0)
			strcpy(u.machine, "x86_64");
		a = norm_arch(u.machine, &v);
	}
	*os = "linux";
	*arch = a;
	*variant = v;
}

/* Higher score = better fit, 0 = none: the exact variant, else (arm: a v7 machine runs
 * v6 and v5 images too) the nearest older one, else an entry that names no variant;
 * when no variant is asked for, an entry without one beats those with one (amd64/v3). */
static int variant_score(const char *arch, const char *want, const char *have)
{
	if (!have || !*have)
		return want ? 1 : 100; /* with no variant asked, the plain entry is safest */
	if (!want || streq(want, have))
		return want ? 100 : 50;
	if (streq(arch, "arm") && want[0] == 'v' && have[0] == 'v' && have[1] < want[1] &&
	    strlen(have) == 2 && strlen(want) == 2)
		return 10 + have[1] - '0';
	return 0;
}

static int entry_score(const struct img_descriptor *d, const char *os, const char *arch,
		       const char *variant)
{
	const char *dv = d->variant;

	if (!d->os || !d->arch || !streq(d->os, os) || !streq(norm_arch(d->arch, NULL), arch))
		return 0;
	/* arm64 with no variant means v8 on both sides */
	if (streq(arch, "arm64") && (!dv || !*dv))
		dv = "v8";
	return variant_score(arch, variant, dv);
}

static char *offered(const struct img_manifest *idx)
{
	char *s = xstrdup("");

	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct img_descriptor *d = &idx->manifests[i];
		char *n = xasprintf("%s%s%s/%s%s%s", s, i ? ", " : "", d->os ? d->os : "unknown",
				    d->arch ? d->arch : "unknown", d->variant ? "/" : "",
				    d->variant ? d->variant : "");
		free(s);
		s = n;
		if (strlen(s) > 400) {
			n = xasprintf("%s, ...", s);
			free(s);
			return n;
		}
	}
	return s;
}

const struct img_descriptor *img_index_select(const struct img_manifest *idx, const char *os,
					      const char *arch, const char *variant,
					      struct err *err)
{
	const struct img_descriptor *best = NULL;
	const char *want_arch = norm_arch(arch, NULL);
	const char *want_variant = variant;
	int best_score = 0;

	if (!want_variant && streq(want_arch, "arm64"))
		want_variant = "v8";
	for (size_t i = 0; idx->kind == IMG_KIND_INDEX && i < idx->n_manifests; i++) {
		int s = entry_score(&idx->manifests[i], os, want_arch, want_variant);
		if (s > best_score) {
			best = &idx->manifests[i];
			best_score = s;
		}
	}
	if (!best) {
		_cleanup_free_ char *has = offered(idx);
		err_msg(err, ENOENT, "no %s/%s%s%s image in index (has %s)", os, want_arch,
			variant ? "/" : "", variant ? variant : "", *has ? has : "nothing");
	}
	return best;
}

/* ---- the image config ---- */

void img_config_free(struct img_config *c)
{
	if (!c)
		return;
	free(c->user);
	strv_free(c->env);
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	free(c->working_dir);
	strv_free(c->exposed_ports);
	strv_free(c->volumes);
	free(c->stop_signal);
	json_decref(c->labels);
	strv_free(c->diff_ids);
	free(c->os);
	free(c->arch);
	free(c);
}

/* ExposedPorts and Volumes are objects whose keys are the values ({"80/tcp": {}}). */
static int object_keys(json_t *o, const char *path, const char *key, char ***ret, struct err *err)
{
	json_t *v = NULL, *e;
	const char *k;
	char **out;
	size_t i = 0;

	CHECK(js_get(o, path, key, JSON_OBJECT, false, &v, err));
	if (!v)
		return 0;
	out = xcalloc(json_object_size(v) + 1, sizeof(char *));
	json_object_foreach(v, k, e) out[i++] = xstrdup(k);
	*ret = out;
	return 0;
}

static int parse_labels(json_t *o, const char *path, json_t **ret, struct err *err)
{
	json_t *v = NULL, *e;
	const char *k;

	CHECK(js_get(o, path, "Labels", JSON_OBJECT, false, &v, err));
	if (!v)
		return 0;
	json_object_foreach(v, k, e) if (!json_is_string(e))
	{
		_cleanup_free_ char *p = js_path(path, "Labels");
		return err_msg(err, EINVAL, "%s.%s: expected a string", p, k);
	}
	*ret = json_incref(v);
	return 0;
}

static int parse_container_config(json_t *doc, struct img_config *c, struct err *err)
{
	json_t *o = NULL;
	const char *p = "config";

	CHECK(js_get(doc, "", "config", JSON_OBJECT, false, &o, err));
	if (!o)
		return 0;
	CHECK(js_str(o, p, "User", false, &c->user, err));
	CHECK(js_strv(o, p, "Env", false, &c->env, err));
	CHECK(js_strv(o, p, "Entrypoint", false, &c->entrypoint, err));
	CHECK(js_strv(o, p, "Cmd", false, &c->cmd, err));
	CHECK(js_str(o, p, "WorkingDir", false, &c->working_dir, err));
	CHECK(object_keys(o, p, "ExposedPorts", &c->exposed_ports, err));
	CHECK(object_keys(o, p, "Volumes", &c->volumes, err));
	CHECK(js_str(o, p, "StopSignal", false, &c->stop_signal, err));
	CHECK(parse_labels(o, p, &c->labels, err));
	for (size_t i = 0; c->env && c->env[i]; i++)
		if (!strchr(c->env[i], '=') || c->env[i][0] == '=')
			return err_msg(err, EINVAL,
				       "config.Env[%zu]: expected KEY=VALUE, got '%.100s'", i,
				       c->env[i]);
	return 0;
}

static int parse_rootfs(json_t *doc, struct img_config *c, struct err *err)
{
	json_t *o = NULL;
	_cleanup_free_ char *type = NULL;

	CHECK(js_get(doc, "", "rootfs", JSON_OBJECT, true, &o, err));
	CHECK(js_str(o, "rootfs", "type", false, &type, err));
	if (type && !streq(type, "layers"))
		return err_msg(err, EINVAL, "rootfs.type: expected \"layers\", got '%.100s'", type);
	CHECK(js_strv(o, "rootfs", "diff_ids", true, &c->diff_ids, err));
	c->n_diff_ids = strv_len(c->diff_ids);
	for (size_t i = 0; i < c->n_diff_ids; i++)
		if (img_digest_validate(c->diff_ids[i], err) < 0)
			return err_wrap(err, "rootfs.diff_ids[%zu]", i);
	return 0;
}

int img_config_parse(const char *data, size_t len, struct img_config **ret, struct err *err)
{
	json_error_t je;
	json_t *doc;
	struct img_config *c;
	int r;

	if (len > IMG_MANIFEST_MAX)
		return err_msg(err, EFBIG,
			       "image config of %zu bytes is larger than the %u allowed", len,
			       IMG_MANIFEST_MAX);
	doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		return err_msg(err, EINVAL, "image config:%d:%d: invalid JSON: %s", je.line,
			       je.column, je.text);
	c = xcalloc(1, sizeof(*c));
	r = json_is_object(doc) ? 0 : err_msg(err, EINVAL, "image config: expected an object");
	if (r == 0)
		r = parse_container_config(doc, c, err);
	if (r == 0)
		r = parse_rootfs(doc, c, err);
	if (r == 0)
		r = js_str(doc, "", "os", false, &c->os, err);
	if (r >= 0)
		r = js_str(doc, "", "architecture", false, &c->arch, err);
	json_decref(doc);
	if (r < 0) {
		img_config_free(c);
		return r;
	}
	*ret = c;
	return 0;
}
