/* Unit tests for image/rootfs: synthetic images (layer tars built in-process, config,
 * manifest, ref) in a temp store, mounted as overlays — layer order, whiteouts across
 * layers, writes landing in upper, a 128-layer image, mounting by manifest digest, and
 * the errors for unknown images. Needs root; teardown unmounts even after a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/dl_archive.h"
#include <jansson.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "base/fs.h"
#include "base/util.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/rootfs.h"
#include "image/store.h"

struct fx {
	char dir[64];
	char *store, *cdir, *target;
	struct img_store *st;
};

static void add_file(struct archive *a, const char *path, mode_t type, const char *data)
{
	struct archive_entry *e = archive_entry_new();
	size_t len = data ? strlen(data) : 0;

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, 1000, 0);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (len)
		assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

/* Layer i: "layerI" (unique), "common" (top wins), "gone" in layer 0 whited out by 1,
 * "dir/" made opaque by the last layer. Returns the tar bytes. */
static char *layer_tar(size_t i, size_t n, size_t *ret_len)
{
	struct archive *a = archive_write_new();
	int fd = memfd_create("l", MFD_CLOEXEC);
	_cleanup_free_ char *own = xasprintf("layer%zu", i), *num = xasprintf("%zu", i);
	_cleanup_free_ char *inner = xasprintf("dir/f%zu", i);
	struct stat sb;
	char *buf;

	archive_write_set_format_pax_restricted(a);
	archive_write_open_fd(a, fd);
	add_file(a, own, AE_IFREG, num);
	add_file(a, "common", AE_IFREG, num);
	add_file(a, inner, AE_IFREG, num);
	if (i == 0)
		add_file(a, "gone", AE_IFREG, "x");
	if (i == 1)
		add_file(a, ".wh.gone", AE_IFREG, NULL);
	if (i == n - 1 && n > 1)
		add_file(a, "dir/.wh..wh..opq", AE_IFREG, NULL);
	archive_write_close(a);
	archive_write_free(a);
	assert_int_equal(fstat(fd, &sb), 0);
	buf = xmalloc((size_t)sb.st_size);
	assert_int_equal(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	*ret_len = (size_t)sb.st_size;
	return buf;
}

/* An n-layer image named name; returns its manifest digest. */
static char *make_image(struct img_store *st, size_t n, const char *name)
{
	struct err err = {0};
	json_t *layers = json_array(), *diffs = json_array();
	char *mdigest = NULL, *cdigest = NULL;

	for (size_t i = 0; i < n; i++) {
		size_t len;
		_cleanup_free_ char *tar = layer_tar(i, n, &len);
		char *d = NULL;
		assert_int_equal(img_store_put_blob(st, NULL, tar, len, &d, &err), 0);
		json_array_append_new(layers,
				      json_pack("{s:s,s:s,s:I}", "mediaType", IMG_MT_OCI_LAYER,
						"digest", d, "size", (json_int_t)len));
		json_array_append_new(diffs, json_string(d));
		free(d);
	}
	json_t *cfg = json_pack("{s:s,s:s,s:{s:s,s:o}}", "architecture", "amd64", "os", "linux",
				"rootfs", "type", "layers", "diff_ids", diffs);
	_cleanup_free_ char *ctext = json_dumps(cfg, JSON_COMPACT);
	assert_int_equal(img_store_put_blob(st, NULL, ctext, strlen(ctext), &cdigest, &err), 0);
	json_t *man =
	    json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:o}", "schemaVersion", 2, "mediaType",
		      IMG_MT_OCI_MANIFEST, "config", "mediaType", IMG_MT_OCI_CONFIG, "digest",
		      cdigest, "size", (json_int_t)strlen(ctext), "layers", layers);
	_cleanup_free_ char *mtext = json_dumps(man, JSON_COMPACT);
	assert_int_equal(img_store_put_blob(st, NULL, mtext, strlen(mtext), &mdigest, &err), 0);
	if (name)
		assert_int_equal(img_store_ref_set(st, name, mdigest, mdigest, &err), 0);
	json_decref(cfg);
	json_decref(man);
	free(cdigest);
	return mdigest;
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct err err = {0};

	strcpy(f->dir, "/tmp/coop-rootfs-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->store = xasprintf("%s/store", f->dir);
	f->cdir = xasprintf("%s/ctr", f->dir);
	f->target = xasprintf("%s/mnt", f->dir);
	assert_int_equal(mkdir(f->target, 0755), 0);
	assert_int_equal(img_store_open(f->store, &f->st, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct err err = {0};

	umount2(f->target, MNT_DETACH); /* whatever the test left */
	img_store_close(f->st);
	assert_int_equal(fs_rm_rf(f->dir, &err), 0);
	free(f->store);
	free(f->cdir);
	free(f->target);
	free(f);
	return 0;
}

static void assert_content(struct fx *f, const char *rel, const char *want)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", f->target, rel), *s = NULL;
	struct err err = {0};
	assert_int_equal(fs_read(p, &s, &err), 0);
	assert_string_equal(s, want);
}

static bool exists(struct fx *f, const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", f->target, rel);
	struct stat sb;
	return lstat(p, &sb) == 0;
}

static void test_mount_layers(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *d = make_image(f->st, 3, "test/three:1");
	_cleanup_free_ char *w = xasprintf("%s/new", f->target);
	_cleanup_free_ char *up = xasprintf("%s/upper/new", f->cdir);
	_cleanup_free_ char *work = xasprintf("%s/work", f->cdir);
	struct stat sb;

	assert_int_equal(img_rootfs_mount(f->st, "test/three:1", f->cdir, f->target, false, &err), 0);
	assert_content(f, "layer0", "0");
	assert_content(f, "layer2", "2");
	assert_content(f, "common", "2");
	assert_false(exists(f, "gone"));
	assert_true(exists(f, "dir/f2"));
	assert_false(exists(f, "dir/f0")); /* opaque in the top layer */
	assert_int_equal(fs_write_atomic(w, "n", 1, 0644, &err), 0);
	assert_int_equal(lstat(up, &sb), 0);
	assert_int_equal(stat(work, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(img_rootfs_umount(f->target, &err), 0);
	assert_false(exists(f, "layer0"));
}

/* `run --rm`'s layer: mounted volatile (where the kernel has it: 5.10+), and mounted
 * again after its unmount (a start after a daemon restart), which overlay refuses while
 * the volatile mark is in the work dir. */
static void test_mount_ephemeral(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *d = make_image(f->st, 2, "test/rm:1");
	_cleanup_free_ char *w = xasprintf("%s/new", f->target);

	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *info = NULL, *line = NULL;
		assert_int_equal(img_rootfs_mount(f->st, "test/rm:1", f->cdir, f->target, true, &err), 0);
		assert_content(f, "layer1", "1");
		assert_int_equal(fs_write_atomic(w, "n", 1, 0644, &err), 0);
		assert_int_equal(fs_read("/proc/self/mountinfo", &info, &err), 0);
		for (char *s = info, *nl; s && *s; s = nl ? nl + 1 : NULL) {
			nl = strchr(s, '\n');
			if (strstr(s, f->target) && strstr(s, " overlay "))
				line = nl ? strndup(s, (size_t)(nl - s)) : xstrdup(s);
		}
		assert_non_null(line);
		struct utsname u;
		unsigned maj = 0, min = 0;
		if (uname(&u) == 0 && sscanf(u.release, "%u.%u", &maj, &min) == 2 &&
		    (maj > 5 || (maj == 5 && min >= 10)))
			assert_non_null(strstr(line, "volatile"));
		assert_int_equal(img_rootfs_umount(f->target, &err), 0);
	}
}

static void test_mount_128(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *d = make_image(f->st, 128, "test/deep:1");

	assert_int_equal(img_rootfs_mount(f->st, "test/deep:1", f->cdir, f->target, false, &err), 0);
	assert_content(f, "layer0", "0");
	assert_content(f, "layer127", "127");
	assert_content(f, "common", "127");
	assert_false(exists(f, "gone"));
	assert_int_equal(img_rootfs_umount(f->target, &err), 0);
}

static void test_mount_by_digest(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *d = make_image(f->st, 1, NULL);

	assert_int_equal(img_rootfs_mount(f->st, d, f->cdir, f->target, false, &err), 0);
	assert_content(f, "common", "0");
	assert_int_equal(img_rootfs_umount(f->target, &err), 0);
}

/* The mount(2) path older kernels take: short links relative to the store root. */
static void test_mount_legacy(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *d = make_image(f->st, 128, "test/legacy:1");
	char cwd[4096], after[4096];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	setenv("COOP_OVERLAY_LEGACY", "1", 1);
	int r = img_rootfs_mount(f->st, "test/legacy:1", f->cdir, f->target, false, &err);
	unsetenv("COOP_OVERLAY_LEGACY");
	if (r < 0)
		fprintf(stderr, "# %s\n", err.msg);
	assert_int_equal(r, 0);
	assert_non_null(getcwd(after, sizeof(after)));
	assert_string_equal(cwd, after);
	assert_content(f, "layer0", "0");
	assert_content(f, "common", "127");
	assert_false(exists(f, "gone"));
	assert_false(exists(f, "dir/f0"));
	assert_int_equal(img_rootfs_umount(f->target, &err), 0);
}

static void test_errors(void **state)
{
	struct fx *f = *state;
	struct err err = {0};

	assert_true(img_rootfs_mount(f->st, "nothere:1", f->cdir, f->target, false, &err) < 0);
	assert_non_null(strstr(err.msg, "not found"));
	assert_true(img_rootfs_mount(
			f->st,
			"sha256:0000000000000000000000000000000000000000000000000000000000000000",
			f->cdir, f->target, false, &err) < 0);
	assert_true(img_rootfs_umount(f->target, &err) < 0);
	assert_non_null(strstr(err.msg, "unmount"));
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_rootfs: needs root, skipped\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mount_layers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mount_ephemeral, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mount_128, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mount_by_digest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mount_legacy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
