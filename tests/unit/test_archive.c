/* Unit tests for image/archive: docker-save archives and OCI layouts built in-process
 * imported into a temp store (names, layers unpacked, diff_ids verified, paths that
 * try to leave the archive), rootfs tarballs (gzip) as one-layer images, and save ->
 * import round trips in both formats that give back the same manifest. Needs root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/dl_archive.h"
#include <fcntl.h>
#include <jansson.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/js.h"
#include "base/util.h"
#include "image/archive.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/store.h"
#include "image/unpack.h"

struct fx {
	char dir[64];
	struct img_store *st, *st2;
};

/* ---- tar building ---- */

struct member {
	const char *name;
	const char *data;
	size_t len; /* 0 = strlen(data) */
};

static void write_tar(const char *path, int filter, const struct member *m, size_t n)
{
	struct archive *a = archive_write_new();

	archive_write_set_format_pax_restricted(a);
	if (filter != ARCHIVE_FILTER_NONE)
		archive_write_add_filter(a, filter);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		size_t len = m[i].len ? m[i].len : strlen(m[i].data);
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)len);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, m[i].data, len), (la_ssize_t)len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static char *file_bytes(const char *path, size_t *len)
{
	char *s = NULL;
	struct err err = {0};
	struct stat sb;
	assert_int_equal(fs_read(path, &s, &err), 0);
	assert_int_equal(stat(path, &sb), 0);
	*len = (size_t)sb.st_size;
	return s;
}

/* A docker-save archive of one single-layer image; diff_id may be forced wrong. */
static char *docker_archive(struct fx *f, const char *layer_name, bool bad_diff)
{
	_cleanup_free_ char *lpath = xasprintf("%s/layer.tar", f->dir);
	_cleanup_free_ char *out = xasprintf("%s/docker.tar", f->dir);
	const struct member lm[] = {{"hello", "world", 0}, {"etc/os-release", "ID=test\n", 0}};
	char diff[IMG_DIGEST_LEN + 1];
	size_t llen;

	write_tar(lpath, ARCHIVE_FILTER_NONE, lm, 2);
	_cleanup_free_ char *layer = file_bytes(lpath, &llen);
	img_digest_buf(layer, llen, diff);
	if (bad_diff)
		diff[10] = diff[10] == '0' ? '1' : '0';
	_cleanup_free_ char *cfg = xasprintf(
	    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/hello\"]},"
	    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
	    diff);
	_cleanup_free_ char *man =
	    xasprintf("[{\"Config\":\"cfg.json\",\"RepoTags\":[\"test/img:1\",\"other:2\"],"
		      "\"Layers\":[\"%s\"]}]",
		      layer_name);
	const struct member m[] = {
	    {"abc/layer.tar", layer, llen},
	    {"cfg.json", cfg, 0},
	    {"manifest.json", man, 0},
	};
	write_tar(out, ARCHIVE_FILTER_NONE, m, 3);
	return take_ptr(out);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct err err = {0};
	_cleanup_free_ char *s1 = NULL, *s2 = NULL;

	strcpy(f->dir, "/tmp/coop-archive-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	s1 = xasprintf("%s/store", f->dir);
	s2 = xasprintf("%s/store2", f->dir);
	assert_int_equal(img_store_open(s1, &f->st, &err), 0);
	assert_int_equal(img_store_open(s2, &f->st2, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct err err = {0};

	img_store_close(f->st);
	img_store_close(f->st2);
	assert_int_equal(fs_rm_rf(f->dir, &err), 0);
	free(f);
	return 0;
}

static char *manifest_of(struct img_store *st, const char *name)
{
	char *m = NULL;
	struct err err = {0};
	int r = img_store_ref_get(st, name, NULL, &m, &err);
	if (r < 0)
		fprintf(stderr, "# %s\n", err.msg);
	assert_int_equal(r, 0);
	return m;
}

static struct img_manifest *load_manifest(struct img_store *st, const char *digest)
{
	_cleanup_free_ char *s = NULL;
	size_t len;
	struct img_manifest *m = NULL;
	struct err err = {0};
	assert_int_equal(img_store_read_blob(st, digest, IMG_MANIFEST_MAX, &s, &len, &err), 0);
	assert_int_equal(img_manifest_parse(s, len, NULL, &m, &err), 0);
	return m;
}

static int import(struct img_store *st, const char *path, const char *name, char ***names,
		  struct err *err)
{
	int r = img_import(st, path, name, names, err);
	if (r < 0)
		fprintf(stderr, "# %s\n", err->msg);
	return r;
}

/* ---- tests ---- */

static void test_docker_import(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *path = docker_archive(f, "abc/layer.tar", false);
	_cleanup_strv_ char **names = NULL;

	assert_int_equal(import(f->st, path, NULL, &names, &err), 0);
	assert_int_equal(strv_len(names), 2);
	assert_string_equal(names[0], "docker.io/test/img:1");
	assert_string_equal(names[1], "docker.io/library/other:2");
	_cleanup_free_ char *d = manifest_of(f->st, "test/img:1");
	struct img_manifest *m = load_manifest(f->st, d);
	assert_int_equal(m->n_layers, 1);
	assert_string_equal(m->layers[0].media_type, IMG_MT_OCI_LAYER);
	assert_true(img_store_has_layer(f->st, m->layers[0].digest));
	_cleanup_free_ char *hello =
	    xasprintf("%s/store/layers/%s/diff/hello", f->dir, img_digest_hex(m->layers[0].digest));
	_cleanup_free_ char *s = NULL;
	assert_int_equal(fs_read(hello, &s, &err), 0);
	assert_string_equal(s, "world");
	img_manifest_free(m);

	/* the name argument overrides the archive's names */
	strv_free(take_ptr(names));
	assert_int_equal(import(f->st2, path, "mine:3", &names, &err), 0);
	assert_int_equal(strv_len(names), 1);
	assert_string_equal(names[0], "docker.io/library/mine:3");
}

static void test_docker_bad(void **state)
{
	struct fx *f = *state;
	struct err err = {0};

	{
		_cleanup_free_ char *path = docker_archive(f, "abc/layer.tar", true);
		assert_true(img_import(f->st, path, NULL, NULL, &err) < 0);
		assert_non_null(strstr(err.msg, "diff_id"));
		assert_null(strchr(err.msg, '\n'));
	}
	{
		_cleanup_free_ char *path = docker_archive(f, "../../../../etc/passwd", false);
		assert_true(img_import(f->st, path, NULL, NULL, &err) < 0);
		assert_non_null(strstr(err.msg, "etc/passwd"));
	}
	{
		_cleanup_free_ char *junk = xasprintf("%s/junk.tar", f->dir);
		const struct member m[] = {{"x", "y", 0}};
		write_tar(junk, ARCHIVE_FILTER_NONE, m, 1);
		assert_true(img_import(f->st, junk, NULL, NULL, &err) < 0);
		assert_non_null(strstr(err.msg, "neither a docker-save archive"));
	}
	_cleanup_json_ json_t *refs = NULL;
	assert_int_equal(img_store_refs(f->st, &refs, &err), 0);
	assert_int_equal(json_object_size(refs), 0);
}

static void test_rootfs_import(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *path = xasprintf("%s/rootfs.tar.gz", f->dir);
	const struct member m[] = {{"bin/true", "#!/bin/sh\n", 0}, {"etc/hostname", "box\n", 0}};
	_cleanup_free_ char *ctext = NULL;
	struct img_config *c = NULL;
	size_t clen;

	write_tar(path, ARCHIVE_FILTER_GZIP, m, 2);
	assert_true(img_import_rootfs(f->st, path, NULL, &err) < 0);
	assert_int_equal(img_import_rootfs(f->st, path, "box:1", &err), 0);
	_cleanup_free_ char *d = manifest_of(f->st, "box:1");
	struct img_manifest *man = load_manifest(f->st, d);
	assert_int_equal(man->n_layers, 1);
	assert_int_equal(
	    img_store_read_blob(f->st, man->config.digest, 1 << 20, &ctext, &clen, &err), 0);
	assert_int_equal(img_config_parse(ctext, clen, &c, &err), 0);
	assert_int_equal(c->n_diff_ids, 1);
	assert_string_equal(c->diff_ids[0], man->layers[0].digest); /* stored uncompressed */
	assert_true(img_store_has_layer(f->st, man->layers[0].digest));
	/* the same tarball gives the same image */
	assert_int_equal(img_import_rootfs(f->st, path, "box:2", &err), 0);
	_cleanup_free_ char *d2 = manifest_of(f->st, "box:2");
	assert_string_equal(d, d2);
	img_config_free(c);
	img_manifest_free(man);
}

/* save -> import into a fresh store -> the same manifest, in both formats; the OCI tar
 * also works unpacked as a layout directory. */
static void test_round_trip(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *path = docker_archive(f, "abc/layer.tar", false);
	_cleanup_free_ char *oci = xasprintf("%s/out-oci.tar", f->dir);
	_cleanup_free_ char *dock = xasprintf("%s/out-docker.tar", f->dir);
	_cleanup_free_ char *layout = xasprintf("%s/layout", f->dir);
	char *names[] = {"test/img:1", "other:2", NULL};
	_cleanup_strv_ char **got = NULL;

	assert_int_equal(import(f->st, path, NULL, NULL, &err), 0);
	_cleanup_free_ char *orig = manifest_of(f->st, "test/img:1");

	assert_int_equal(img_save(f->st, names, IMG_ARCHIVE_OCI, oci, &err), 0);
	assert_int_equal(import(f->st2, oci, NULL, &got, &err), 0);
	assert_int_equal(strv_len(got), 2);
	_cleanup_free_ char *d1 = manifest_of(f->st2, "docker.io/test/img:1");
	assert_string_equal(orig, d1);
	assert_int_equal(img_store_ref_del(f->st2, "test/img:1", &err), 0);

	/* the layout as a directory, with a name */
	assert_int_equal(mkdir(layout, 0755), 0);
	int fd = open(oci, O_RDONLY | O_CLOEXEC);
	assert_int_equal(img_unpack_fd(fd, IMG_COMP_NONE, layout, NULL, &err), 0);
	close(fd);
	assert_true(import(f->st2, layout, "fromdir:1", NULL, &err) < 0); /* two images */
	assert_non_null(strstr(err.msg, "holds 2 images"));

	assert_int_equal(img_save(f->st, names, IMG_ARCHIVE_DOCKER, dock, &err), 0);
	assert_int_equal(import(f->st2, dock, NULL, NULL, &err), 0);
	_cleanup_free_ char *d2 = manifest_of(f->st2, "other:2");
	assert_string_equal(orig, d2);

	assert_true(img_save(f->st, (char *[]){"nothere:1", NULL}, IMG_ARCHIVE_OCI, oci, &err) < 0);
	assert_non_null(strstr(err.msg, "not found"));
}

static void test_oci_dir_single(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *path = docker_archive(f, "abc/layer.tar", false);
	_cleanup_free_ char *oci = xasprintf("%s/one.tar", f->dir);
	_cleanup_free_ char *layout = xasprintf("%s/layout1", f->dir);
	_cleanup_strv_ char **got = NULL;

	assert_int_equal(import(f->st, path, NULL, NULL, &err), 0);
	assert_int_equal(img_save(f->st, (char *[]){"other:2", NULL}, IMG_ARCHIVE_OCI, oci, &err),
			 0);
	assert_int_equal(mkdir(layout, 0755), 0);
	int fd = open(oci, O_RDONLY | O_CLOEXEC);
	assert_int_equal(img_unpack_fd(fd, IMG_COMP_NONE, layout, NULL, &err), 0);
	close(fd);
	assert_int_equal(import(f->st2, layout, "fromdir:1", &got, &err), 0);
	assert_string_equal(got[0], "docker.io/library/fromdir:1");
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_archive: needs root, skipped\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_docker_import, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_docker_bad, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rootfs_import, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oci_dir_single, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
