/* Unit tests for image/manifest: OCI and Docker manifests and indexes, media types from
 * the document, the Content-Type or the shape, the errors for each kind of bad input,
 * layer compressions, platform selection, and the image config. Pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "base/util.h"
#include "image/manifest.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

#define DESC(mt, d, sz) "{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":" #sz "}"
#define PLAT(os, arch) "\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\"}"
#define PLATV(os, arch, v)                                                                         \
	"\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\",\"variant\":\"" v "\"}"
#define ENTRY(d, plat)                                                                             \
	"{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"" d "\",\"size\":10," plat "}"

static const char oci_manifest[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\","
    "\"config\":" DESC(IMG_MT_OCI_CONFIG, D1,
		       100) ","
			    "\"layers\":[" DESC(IMG_MT_OCI_LAYER_GZIP, D2,
						2000) "," DESC(IMG_MT_OCI_LAYER, D3, 0) "]}";

static const char umoci_manifest[] = /* no mediaType */
    "{\"schemaVersion\":2,\"config\":" DESC(IMG_MT_OCI_CONFIG, D1, 1) ",\"layers\":[]}";

static const char docker_list[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_DOCKER_LIST
    "\",\"manifests\":[" ENTRY(D1, PLAT("linux", "amd64")) "," ENTRY(
	D2, PLATV("linux", "arm64", "v8")) "," ENTRY(D3, PLAT("linux", "s390x")) "]}";

static int parse(const char *s, const char *ct, struct img_manifest **m, struct err *err)
{
	return img_manifest_parse(s, strlen(s), ct, m, err);
}

static void test_oci_manifest(void **state)
{
	struct img_manifest *m = NULL;
	struct err err = {0};

	assert_int_equal(parse(oci_manifest, NULL, &m, &err), 0);
	assert_int_equal(m->kind, IMG_KIND_MANIFEST);
	assert_string_equal(m->media_type, IMG_MT_OCI_MANIFEST);
	assert_string_equal(m->config.digest, D1);
	assert_int_equal(m->config.size, 100);
	assert_int_equal(m->n_layers, 2);
	assert_string_equal(m->layers[0].media_type, IMG_MT_OCI_LAYER_GZIP);
	assert_int_equal(m->layers[0].size, 2000);
	assert_int_equal(m->layers[1].size, 0);
	img_manifest_free(m);
}

static void test_media_type_sources(void **state)
{
	struct img_manifest *m = NULL;
	struct err err = {0};

	/* inferred from the shape */
	assert_int_equal(parse(umoci_manifest, NULL, &m, &err), 0);
	assert_int_equal(m->kind, IMG_KIND_MANIFEST);
	assert_string_equal(m->media_type, IMG_MT_OCI_MANIFEST);
	img_manifest_free(m);
	/* from the Content-Type, parameters dropped */
	assert_int_equal(parse(umoci_manifest, IMG_MT_DOCKER_MANIFEST "; charset=utf-8", &m, &err),
			 0);
	assert_string_equal(m->media_type, IMG_MT_DOCKER_MANIFEST);
	img_manifest_free(m);
	/* a generic Content-Type says nothing */
	assert_int_equal(parse(umoci_manifest, "application/json", &m, &err), 0);
	assert_string_equal(m->media_type, IMG_MT_OCI_MANIFEST);
	img_manifest_free(m);
	/* the document wins over the Content-Type */
	assert_int_equal(parse(docker_list, IMG_MT_OCI_MANIFEST, &m, &err), 0);
	assert_int_equal(m->kind, IMG_KIND_INDEX);
	assert_string_equal(m->media_type, IMG_MT_DOCKER_LIST);
	assert_int_equal(m->n_manifests, 3);
	assert_string_equal(m->manifests[1].variant, "v8");
	img_manifest_free(m);
	/* an index without mediaType */
	assert_int_equal(parse("{\"schemaVersion\":2,\"manifests\":[]}", NULL, &m, &err), 0);
	assert_int_equal(m->kind, IMG_KIND_INDEX);
	assert_string_equal(m->media_type, IMG_MT_OCI_INDEX);
	img_manifest_free(m);
}

static const struct {
	const char *doc, *ct, *msg;
} bad[] = {
    {"{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}", NULL,
     "schema 1 manifests are not supported"},
    {"{\"schemaVersion\":2,\"mediaType\":"
     "\"application/vnd.docker.distribution.manifest.v1+prettyjws\"}",
     NULL, "schema 1 manifests are not supported"},
    {"{\"schemaVersion\":2}", "application/vnd.docker.distribution.manifest.v1+prettyjws",
     "schema 1 manifests are not supported"},
    {"{\"schemaVersion\":3,\"manifests\":[]}", NULL, "schemaVersion: must be 2"},
    {"{\"manifests\":[]}", NULL, "schemaVersion: missing required field"},
    {"{\"schemaVersion\":\"2\",\"manifests\":[]}", NULL, "schemaVersion: expected an integer"},
    {"{\"schemaVersion\":2,\"mediaType\":\"application/x-foo\"}", NULL,
     "unsupported manifest type 'application/x-foo'"},
    {"{\"schemaVersion\":2,\"manifests\":[]}", "application/x-bar",
     "unsupported manifest type 'application/x-bar'"},
    {"{\"schemaVersion\":2}", NULL, "not an image manifest or index"},
    {"[]", NULL, "expected a JSON object"},
    {"{", NULL, "invalid JSON"},
    {"{\"schemaVersion\":2,\"schemaVersion\":2}", NULL, "invalid JSON"},
    {"{\"schemaVersion\":2,\"config\":" DESC("x", "sha256:12", 1) ",\"layers\":[]}", NULL,
     "config.digest: invalid digest 'sha256:12'"},
    {"{\"schemaVersion\":2,\"config\":" DESC("x", D1, -1) ",\"layers\":[]}", NULL,
     "config.size: must not be negative"},
    {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\"},"
     "\"layers\":[]}",
     NULL, "config.size: missing required field"},
    {"{\"schemaVersion\":2,\"config\":" DESC("x", D1, 1) ",\"layers\":[" DESC(
	 "x", D2, 1) ",{\"digest\":\"" D1 "\",\"size\":1}]}",
     NULL, "layers[1].mediaType: missing required field"},
    {"{\"schemaVersion\":2,\"config\":" DESC("x", D1, 1) ",\"layers\":[1]}", NULL,
     "layers[0]: expected an object"},
    {"{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"manifests\":[]}", NULL,
     "config: missing required field"},
    {"{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_INDEX "\",\"manifests\":["
     "{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1,\"platform\":{\"os\":1}}]}",
     NULL, "manifests[0].platform.os: expected a string"},
    {"{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_INDEX "\",\"manifests\":{}}", NULL,
     "manifests: expected an array"},
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct img_manifest *m = NULL;
		struct err err = {0};

		assert_true(parse(bad[i].doc, bad[i].ct, &m, &err) < 0);
		assert_null(m);
		print_message("%s\n", err.msg);
		assert_non_null(strstr(err.msg, bad[i].msg));
	}
}

static void test_size_limit(void **state)
{
	size_t n = IMG_MANIFEST_MAX + 1;
	char *big = xmalloc(n);
	struct img_manifest *m = NULL;
	struct err err = {0};

	memset(big, ' ', n);
	assert_int_equal(img_manifest_parse(big, n, NULL, &m, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "larger than"));
	free(big);
}

static void test_compression(void **state)
{
	enum img_compression c;
	struct err err = {0};

	assert_int_equal(img_layer_compression(IMG_MT_OCI_LAYER, &c, &err), 0);
	assert_int_equal(c, IMG_COMP_NONE);
	assert_int_equal(img_layer_compression(IMG_MT_OCI_LAYER_GZIP, &c, &err), 0);
	assert_int_equal(c, IMG_COMP_GZIP);
	assert_int_equal(img_layer_compression(IMG_MT_OCI_LAYER_ZSTD, &c, &err), 0);
	assert_int_equal(c, IMG_COMP_ZSTD);
	assert_int_equal(img_layer_compression(IMG_MT_DOCKER_LAYER, &c, &err), 0);
	assert_int_equal(c, IMG_COMP_GZIP);
	assert_int_equal(img_layer_compression(
			     "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", &c, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "foreign"));
	assert_int_equal(
	    img_layer_compression("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
				  &c, &err),
	    -EINVAL);
	assert_int_equal(img_layer_compression("text/plain", &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unsupported layer media type 'text/plain'"));
}

static void test_select(void **state)
{
	static const char arm[] =
	    "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_INDEX
	    "\",\"manifests\":[" ENTRY(D1, PLATV("linux", "arm", "v6")) "," ENTRY(
		D2, PLATV("linux", "arm", "v7")) "," ENTRY(D3, PLAT("linux", "arm64")) "]}";
	struct img_manifest *m = NULL;
	struct err err = {0};
	const struct img_descriptor *d;

	assert_int_equal(parse(docker_list, NULL, &m, &err), 0);
	d = img_index_select(m, "linux", "amd64", NULL, &err);
	assert_non_null(d);
	assert_string_equal(d->digest, D1);
	d = img_index_select(m, "linux", "x86_64", NULL, &err);
	assert_string_equal(d->digest, D1);
	d = img_index_select(m, "linux", "aarch64", NULL, &err);
	assert_string_equal(d->digest, D2);
	d = img_index_select(m, "linux", "arm64", "v8", &err);
	assert_string_equal(d->digest, D2);
	assert_null(img_index_select(m, "linux", "riscv64", NULL, &err));
	assert_string_equal(err.msg, "no linux/riscv64 image in index "
				     "(has linux/amd64, linux/arm64/v8, linux/s390x)");
	assert_null(img_index_select(m, "windows", "amd64", NULL, &err));
	img_manifest_free(m);

	assert_int_equal(parse(arm, NULL, &m, &err), 0);
	d = img_index_select(m, "linux", "arm", "v7", &err);
	assert_string_equal(d->digest, D2);
	d = img_index_select(m, "linux", "arm", "v6", &err);
	assert_string_equal(d->digest, D1);
	d = img_index_select(m, "linux", "arm", "v8", &err); /* v8 runs v7 */
	assert_string_equal(d->digest, D2);
	assert_null(img_index_select(m, "linux", "arm", "v5", &err));
	d = img_index_select(m, "linux", "arm64", NULL, &err); /* no variant = v8 */
	assert_string_equal(d->digest, D3);
	img_manifest_free(m);

	static const char amd[] =
	    "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_INDEX "\",\"manifests\":[" ENTRY(
		D1, PLATV("linux", "amd64", "v3")) "," ENTRY(D2, PLAT("linux", "amd64")) "]}";
	assert_int_equal(parse(amd, NULL, &m, &err), 0);
	d = img_index_select(m, "linux", "amd64", NULL, &err); /* plain beats v3 */
	assert_string_equal(d->digest, D2);
	d = img_index_select(m, "linux", "amd64", "v3", &err);
	assert_string_equal(d->digest, D1);
	img_manifest_free(m);
}

static void test_native(void **state)
{
	const char *os, *arch, *variant;

	img_platform_native(&os, &arch, &variant);
	assert_string_equal(os, "linux");
	assert_non_null(arch);
	assert_null(strchr(arch, '_')); /* GOARCH names: never x86_64 */
}

static const char config_doc[] =
    "{\"architecture\":\"amd64\",\"os\":\"linux\","
    "\"config\":{\"User\":\"www:web\",\"Env\":[\"PATH=/bin\",\"A=1=2\"],"
    "\"Entrypoint\":[\"/init\"],\"Cmd\":[\"-v\"],\"WorkingDir\":\"/srv\","
    "\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}},\"Volumes\":{\"/data\":{}},"
    "\"StopSignal\":\"SIGQUIT\",\"Labels\":{\"a\":\"b\"},\"ArgsEscaped\":true},"
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]},"
    "\"history\":[{\"created_by\":\"x\"}]}";

static void test_config(void **state)
{
	struct img_config *c = NULL;
	struct err err = {0};

	assert_int_equal(img_config_parse(config_doc, strlen(config_doc), &c, &err), 0);
	assert_string_equal(c->user, "www:web");
	assert_string_equal(c->env[1], "A=1=2");
	assert_string_equal(c->entrypoint[0], "/init");
	assert_string_equal(c->cmd[0], "-v");
	assert_string_equal(c->working_dir, "/srv");
	assert_int_equal(strv_len(c->exposed_ports), 2);
	assert_string_equal(c->exposed_ports[0], "80/tcp");
	assert_string_equal(c->volumes[0], "/data");
	assert_string_equal(c->stop_signal, "SIGQUIT");
	assert_string_equal(json_string_value(json_object_get(c->labels, "a")), "b");
	assert_int_equal(c->n_diff_ids, 2);
	assert_string_equal(c->diff_ids[1], D2);
	assert_string_equal(c->os, "linux");
	assert_string_equal(c->arch, "amd64");
	img_config_free(c);

	/* minimal: no config section, null Cmd */
	static const char min[] = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},"
				  "\"config\":{\"Cmd\":null}}";
	assert_int_equal(img_config_parse(min, strlen(min), &c, &err), 0);
	assert_null(c->cmd);
	assert_null(c->labels);
	img_config_free(c);
}

static const struct {
	const char *doc, *msg;
} bad_configs[] = {
    {"{}", "rootfs: missing required field"},
    {"{\"rootfs\":{\"type\":\"layers\"}}", "rootfs.diff_ids: missing required field"},
    {"{\"rootfs\":{\"type\":\"zfs\",\"diff_ids\":[]}}", "rootfs.type: expected \"layers\""},
    {"{\"rootfs\":{\"diff_ids\":[\"sha256:x\"]}}", "rootfs.diff_ids[0]: invalid digest"},
    {"{\"rootfs\":{\"diff_ids\":[]},\"config\":{\"Env\":[1]}}", "config.Env[0]: expected a string"},
    {"{\"rootfs\":{\"diff_ids\":[]},\"config\":{\"Env\":[\"NOEQ\"]}}",
     "config.Env[0]: expected KEY=VALUE"},
    {"{\"rootfs\":{\"diff_ids\":[]},\"config\":{\"Cmd\":\"sh\"}}", "config.Cmd: expected an array"},
    {"{\"rootfs\":{\"diff_ids\":[]},\"config\":{\"User\":0}}", "config.User: expected a string"},
    {"{\"rootfs\":{\"diff_ids\":[]},\"config\":{\"ExposedPorts\":[\"80\"]}}",
     "config.ExposedPorts: expected an object"},
    {"{\"rootfs\":{\"diff_ids\":[]},\"config\":{\"Labels\":{\"a\":1}}}",
     "config.Labels.a: expected a string"},
    {"{\"rootfs\":{\"diff_ids\":[]},\"os\":1}", "os: expected a string"},
    {"[1]", "expected an object"},
    {"nope", "invalid JSON"},
};

static void test_config_errors(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_configs); i++) {
		struct img_config *c = NULL;
		struct err err = {0};

		assert_true(
		    img_config_parse(bad_configs[i].doc, strlen(bad_configs[i].doc), &c, &err) < 0);
		print_message("%s\n", err.msg);
		assert_non_null(strstr(err.msg, bad_configs[i].msg));
		assert_null(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_oci_manifest),  cmocka_unit_test(test_media_type_sources),
	    cmocka_unit_test(test_errors),	  cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_compression),	  cmocka_unit_test(test_select),
	    cmocka_unit_test(test_native),	  cmocka_unit_test(test_config),
	    cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
