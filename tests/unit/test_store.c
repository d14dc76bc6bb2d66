/* Unit tests for image/store against a real directory: blobs (verified on the way in and
 * out), ingestion with resume, two processes ingesting the same blob at once, cleanup of
 * leftovers at open, layers unpacked once with their short links, refs.json, and prune.
 * Each test gets its own store under /tmp, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/dl_archive.h"
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/util.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/store.h"

struct fx {
	char dir[64];
	struct img_store *st;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct err err = {0};

	strcpy(f->dir, "/tmp/coop-store-XXXXXX");
	if (!mkdtemp(f->dir) || img_store_open(f->dir, &f->st, &err) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	img_store_close(f->st);
	fs_rm_rf(f->dir, NULL);
	free(f);
	return 0;
}

static char *at(struct fx *f, const char *rel)
{
	return xasprintf("%s/%s", f->dir, rel);
}

static bool exists(struct fx *f, const char *rel)
{
	_cleanup_free_ char *p = at(f, rel);
	struct stat sb;
	return lstat(p, &sb) == 0;
}

static void touch(struct fx *f, const char *rel, const char *content)
{
	_cleanup_free_ char *p = at(f, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

/* A pid that no process has: a child that has exited and been reaped. */
static pid_t dead_pid(void)
{
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	waitpid(p, NULL, 0);
	return p;
}

static void test_layout(void **state)
{
	struct fx *f = *state;
	static const char *const dirs[] = {"blobs/sha256", "ingest", "layers", "l"};
	struct stat sb;

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *p = at(f, dirs[i]);
		assert_int_equal(stat(p, &sb), 0);
		assert_true(S_ISDIR(sb.st_mode));
		assert_int_equal(sb.st_mode & 0777, 0700);
	}
	assert_string_equal(img_store_root(f->st), f->dir);
}

static void test_blobs(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	char d[IMG_DIGEST_LEN + 1];
	_cleanup_free_ char *got = NULL, *data = NULL, *path = NULL;
	size_t len;

	img_digest_buf("hello", 5, d);
	assert_false(img_store_has_blob(f->st, d));
	assert_int_equal(img_store_put_blob(f->st, NULL, "hello", 5, &got, &err), 0);
	assert_string_equal(got, d);
	assert_true(img_store_has_blob(f->st, d));
	assert_int_equal(img_store_put_blob(f->st, d, "hello", 5, NULL, &err), 0); /* again */
	assert_int_equal(img_store_read_blob(f->st, d, 100, &data, &len, &err), 0);
	assert_int_equal(len, 5);
	assert_string_equal(data, "hello");

	/* a given digest must match */
	assert_int_equal(img_store_put_blob(f->st, d, "world", 5, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "hashes to"));
	assert_int_equal(img_store_put_blob(f->st, "sha256:nope", "x", 1, NULL, &err), -EINVAL);
	/* size limit */
	free(data);
	data = NULL;
	assert_int_equal(img_store_read_blob(f->st, d, 4, &data, &len, &err), -EFBIG);
	/* not there */
	assert_int_equal(img_store_read_blob(f->st,
					     "sha256:"
					     "00000000000000000000000000000000"
					     "00000000000000000000000000000000",
					     100, &data, &len, &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "not in the store"));
	/* a blob changed on disk is caught when read */
	path = img_store_blob_path(f->st, d);
	assert_int_equal(fs_write_atomic(path, "jello", 5, 0644, &err), 0);
	assert_int_equal(img_store_read_blob(f->st, d, 100, &data, &len, &err), -EIO);
	assert_non_null(strstr(err.msg, "corrupt"));
	/* invalid digests are never paths */
	assert_null(img_store_blob_path(f->st, "sha256:../../etc/passwd"));
	assert_false(img_store_has_blob(f->st, "../x"));
	/* no temp files stay behind */
	assert_false(exists(f, "blobs/sha256/.tmp-0"));
}

static void test_ingest_resume(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	struct img_ingest *in = NULL;
	char d[IMG_DIGEST_LEN + 1];
	bool ex = true;
	const char *body = "0123456789abcdef";

	img_digest_buf(body, 16, d);
	assert_int_equal(img_ingest_begin(f->st, d, 16, &in, &ex, &err), 0);
	assert_false(ex);
	assert_int_equal(img_ingest_offset(in), 0);
	assert_int_equal(img_ingest_write(in, body, 6, &err), 0);
	img_ingest_abort(in, true); /* the connection dropped */

	assert_int_equal(img_ingest_begin(f->st, d, 16, &in, &ex, &err), 0);
	assert_int_equal(img_ingest_offset(in), 6); /* resume with Range: bytes=6- */
	assert_int_equal(img_ingest_write(in, body + 6, 10, &err), 0);
	assert_int_equal(img_ingest_write(in, "x", 1, &err), -EIO); /* beyond its size */
	assert_int_equal(img_ingest_commit(in, &err), 0);
	assert_true(img_store_has_blob(f->st, d));
	assert_false(exists(f, "ingest/"
			       "partial")); /* nothing left in ingest/ */
	{
		_cleanup_closedir_ DIR *dir = NULL;
		_cleanup_free_ char *p = at(f, "ingest");
		struct dirent *e;
		int n = 0;
		dir = opendir(p);
		while ((e = readdir(dir)))
			n += e->d_name[0] != '.';
		assert_int_equal(n, 0);
	}

	/* the same blob twice from one handle is refused, not a deadlock */
	{
		struct img_ingest *a = NULL, *b = NULL;
		char d2[IMG_DIGEST_LEN + 1];

		img_digest_buf("twice", 5, d2);
		assert_int_equal(img_ingest_begin(f->st, d2, 5, &a, &ex, &err), 0);
		assert_int_equal(img_ingest_begin(f->st, d2, 5, &b, &ex, &err), -EDEADLK);
		img_ingest_abort(a, false);
		assert_int_equal(img_ingest_begin(f->st, d2, 5, &b, &ex, &err), 0);
		img_ingest_abort(b, false);
	}

	/* already there: nothing to do */
	assert_int_equal(img_ingest_begin(f->st, d, 16, &in, &ex, &err), 0);
	assert_true(ex);
	assert_null(in);
}

static void test_ingest_verify(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	struct img_ingest *in = NULL;
	char d[IMG_DIGEST_LEN + 1];
	bool ex;
	_cleanup_free_ char *partial = NULL;

	img_digest_buf("good", 4, d);
	partial = xasprintf("ingest/%s.partial", img_digest_hex(d));
	/* wrong content: refused, partial gone */
	assert_int_equal(img_ingest_begin(f->st, d, -1, &in, &ex, &err), 0);
	assert_int_equal(img_ingest_write(in, "evil", 4, &err), 0);
	assert_int_equal(img_ingest_commit(in, &err), -EIO);
	assert_non_null(strstr(err.msg, "digest mismatch"));
	assert_false(img_store_has_blob(f->st, d));
	assert_false(exists(f, partial));
	/* short content */
	assert_int_equal(img_ingest_begin(f->st, d, 4, &in, &ex, &err), 0);
	assert_int_equal(img_ingest_write(in, "goo", 3, &err), 0);
	assert_int_equal(img_ingest_commit(in, &err), -EIO);
	assert_non_null(strstr(err.msg, "expected 4 bytes, got 3"));
	/* a server that ignored Range: reset and take it all */
	assert_int_equal(img_ingest_begin(f->st, d, 4, &in, &ex, &err), 0);
	assert_int_equal(img_ingest_write(in, "go", 2, &err), 0);
	assert_int_equal(img_ingest_reset(in, &err), 0);
	assert_int_equal(img_ingest_offset(in), 0);
	assert_int_equal(img_ingest_write(in, "good", 4, &err), 0);
	assert_int_equal(img_ingest_commit(in, &err), 0);
	assert_true(img_store_has_blob(f->st, d));
	/* a partial longer than the blob starts over */
	img_digest_buf("abc", 3, d);
	free(partial);
	partial = xasprintf("ingest/%s.partial", img_digest_hex(d));
	touch(f, partial, "abcdef");
	assert_int_equal(img_ingest_begin(f->st, d, 3, &in, &ex, &err), 0);
	assert_int_equal(img_ingest_offset(in), 0);
	img_ingest_abort(in, false);
	assert_false(exists(f, partial));
}

/* Two processes pull the same blob at once: one downloads, the other waits on the
 * blob's lock and then finds it in the store. */
static void test_ingest_concurrent(void **state)
{
	struct fx *f = *state;
	char d[IMG_DIGEST_LEN + 1];
	int ready[2], status;
	pid_t a, b;
	char c;

	img_digest_buf("shared layer", 12, d);
	assert_int_equal(pipe(ready), 0);
	a = fork();
	if (a == 0) {
		struct img_ingest *in = NULL;
		struct err err = {0};
		bool ex;

		if (img_ingest_begin(f->st, d, 12, &in, &ex, &err) < 0 || ex)
			_exit(10);
		(void)!write(ready[1], "x", 1); /* B may start now: it must wait for us */
		usleep(300 * 1000);
		if (img_ingest_write(in, "shared ", 7, &err) < 0)
			_exit(11);
		usleep(100 * 1000);
		if (img_ingest_write(in, "layer", 5, &err) < 0 || img_ingest_commit(in, &err) < 0)
			_exit(12);
		_exit(1); /* 1 = wrote it */
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	b = fork();
	if (b == 0) {
		struct img_store *st = NULL;
		struct img_ingest *in = NULL;
		struct err err = {0};
		bool ex = false;

		/* its own handle, as another process would have; A's partial must survive
		 * this open, since A holds its lock */
		if (img_store_open(f->dir, &st, &err) < 0)
			_exit(20);
		if (img_ingest_begin(st, d, 12, &in, &ex, &err) < 0)
			_exit(21);
		if (!ex) {
			img_ingest_abort(in, false);
			_exit(22);
		}
		img_store_close(st);
		_exit(2); /* 2 = found it */
	}
	assert_int_equal(waitpid(a, &status, 0), a);
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_int_equal(waitpid(b, &status, 0), b);
	assert_int_equal(WEXITSTATUS(status), 2);
	assert_true(img_store_has_blob(f->st, d));
	close(ready[0]);
	close(ready[1]);
}

static void test_open_cleans(void **state)
{
	struct fx *f = *state;
	struct img_store *st = NULL;
	struct err err = {0};
	char hex1[65], hex2[65];
	_cleanup_free_ char *p1 = NULL, *p2 = NULL, *l2 = NULL, *tmpl = NULL, *tmpb = NULL,
			    *held_lock = NULL, *live = NULL;
	int lockfd;
	pid_t dead = dead_pid();

	memset(hex1, 'a', 64);
	memset(hex2, 'b', 64);
	hex1[64] = hex2[64] = '\0';
	p1 = xasprintf("ingest/%s.partial", hex1);
	p2 = xasprintf("ingest/%s.partial", hex2);
	l2 = xasprintf("ingest/%s.lock", hex2);
	tmpl = xasprintf("layers/%s.tmp-%d", hex1, (int)dead);
	live = xasprintf("layers/%s.tmp-%d", hex2, (int)getppid());
	tmpb = xasprintf("blobs/sha256/.tmp-%d-0", (int)dead);
	touch(f, p1, "stale");
	touch(f, p2, "in use");
	touch(f, tmpb, "x");
	{
		_cleanup_free_ char *a = at(f, tmpl), *b = at(f, live);
		_cleanup_free_ char *ad = xasprintf("%s/diff", a);
		assert_int_equal(mkdir(a, 0700), 0);
		assert_int_equal(mkdir(ad, 0700), 0);
		assert_int_equal(mkdir(b, 0700), 0);
	}
	/* a live download holds hex2's lock (and a live unpacker hex2's layer) */
	held_lock = at(f, l2);
	lockfd = open(held_lock, O_RDWR | O_CREAT, 0600);
	assert_int_equal(flock(lockfd, LOCK_EX), 0);
	{
		_cleanup_free_ char *ll = xasprintf("%s/layers/%s.lock", f->dir, hex2);
		int fd2 = open(ll, O_RDWR | O_CREAT, 0600);
		assert_int_equal(flock(fd2, LOCK_EX), 0);

		assert_int_equal(img_store_open(f->dir, &st, &err), 0);
		img_store_close(st);
		close(fd2);
	}
	assert_false(exists(f, p1));
	assert_true(exists(f, p2));
	assert_false(exists(f, tmpl));
	assert_true(exists(f, live));
	assert_false(exists(f, tmpb));
	close(lockfd);
	/* once nobody holds it, the next open removes it */
	assert_int_equal(img_store_open(f->dir, &st, &err), 0);
	img_store_close(st);
	assert_false(exists(f, p2));
	assert_false(exists(f, live));
}

/* The container start path's open: it makes nothing and cleans nothing, and reads what
 * is there; img_store_prepare then does what img_store_open does. */
static void test_open_reader(void **state)
{
	struct fx *f = *state;
	struct img_store *st = NULL;
	struct err err = {0};
	char hex[65];
	_cleanup_free_ char *p = NULL, *none = xasprintf("%s/none", f->dir);

	memset(hex, 'c', 64);
	hex[64] = '\0';
	p = xasprintf("ingest/%s.partial", hex);
	touch(f, p, "stale"); /* no live writer holds it */
	assert_int_equal(img_store_open_reader(f->dir, &st, &err), 0);
	assert_true(exists(f, p));
	assert_string_equal(img_store_root(st), f->dir);
	assert_int_equal(img_store_prepare(st, &err), 0);
	assert_false(exists(f, p));
	img_store_close(st);
	/* a store that is not there is not made */
	assert_int_equal(img_store_open_reader(none, &st, &err), 0);
	img_store_close(st);
	assert_int_equal(access(none, F_OK), -1);
}

/* ---- layers ---- */

static void add_entry(struct archive *a, const char *path, int type, const char *data)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_size(e, data ? strlen(data) : 0);
	archive_entry_set_mtime(e, 1700000000, 0);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (data)
		assert_int_equal(archive_write_data(a, data, strlen(data)), (ssize_t)strlen(data));
	archive_entry_free(e);
}

/* A one-file layer (plain tar) stored as a blob; returns its digest. */
static char *make_layer(struct fx *f, const char *name, const char *content)
{
	struct archive *a = archive_write_new();
	size_t cap = 1 << 16, used = 0;
	char *buf = xmalloc(cap), *digest = NULL;
	struct err err = {0};

	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_none(a);
	assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
	add_entry(a, "etc/", AE_IFDIR, NULL);
	add_entry(a, name, AE_IFREG, content);
	archive_write_close(a);
	archive_write_free(a);
	assert_int_equal(img_store_put_blob(f->st, NULL, buf, used, &digest, &err), 0);
	free(buf);
	return digest;
}

static void check_short(struct fx *f, const char *shortname, const char *digest, const char *file,
			const char *content)
{
	_cleanup_free_ char *p = xasprintf("%s/%s/%s", f->dir, shortname, file);
	_cleanup_free_ char *link = xasprintf("%s/%s", f->dir, shortname);
	_cleanup_free_ char *want = xasprintf("../layers/%s/diff", img_digest_hex(digest));
	_cleanup_free_ char *s = NULL;
	char target[PATH_MAX];
	ssize_t n;
	struct err err = {0};

	assert_int_equal(strlen(shortname), 2 + 10);
	assert_memory_equal(shortname, "l/", 2);
	for (const char *c = shortname + 2; *c; c++)
		assert_true((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'));
	n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, want);
	assert_int_equal(fs_read_at(AT_FDCWD, p, &s, NULL, &err), 0);
	assert_string_equal(s, content);
}

static void test_layer(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *d = make_layer(f, "etc/hello", "hi\n");
	_cleanup_free_ char *s1 = NULL, *s2 = NULL, *linkf = NULL, *name = NULL;

	assert_false(img_store_has_layer(f->st, d));
	assert_int_equal(img_store_layer(f->st, d, IMG_MT_OCI_LAYER, "layer 1/1", &s1, &err), 0);
	assert_true(img_store_has_layer(f->st, d));
	check_short(f, s1, d, "etc/hello", "hi\n");
	/* once: the same short name again */
	assert_int_equal(img_store_layer(f->st, d, IMG_MT_OCI_LAYER, "layer 1/1", &s2, &err), 0);
	assert_string_equal(s1, s2);
	/* layers/<hex>/link holds the short name */
	linkf = xasprintf("%s/layers/%s/link", f->dir, img_digest_hex(d));
	assert_int_equal(fs_read_at(AT_FDCWD, linkf, &name, NULL, &err), 0);
	assert_string_equal(name, s1 + 2);
	/* errors name the layer */
	free(s2);
	s2 = NULL;
	assert_int_equal(img_store_layer(f->st, d, "text/plain", "image x layer 2/3", &s2, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "image x layer 2/3"));
	assert_int_equal(img_store_layer(f->st,
					 "sha256:"
					 "0123456789012345678901234567890123456789"
					 "012345678901234567890123",
					 IMG_MT_OCI_LAYER, "layer 3", &s2, &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "layer 3"));
}

static void test_layer_concurrent(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *d = make_layer(f, "etc/x", "x");
	int p[2], status;
	char a[64] = {0}, b[64] = {0};
	pid_t pids[2];

	assert_int_equal(pipe(p), 0);
	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct err err = {0};
			char *s = NULL, line[32];

			if (img_store_layer(f->st, d, IMG_MT_OCI_LAYER, "l", &s, &err) < 0)
				_exit(1);
			snprintf(line, sizeof(line), "%-12s", s);
			(void)!write(p[1], line, 12);
			_exit(0);
		}
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(read(p[0], a, 12), 12);
	assert_int_equal(read(p[0], b, 12), 12);
	assert_string_equal(a, b); /* unpacked once, one short name */
	close(p[0]);
	close(p[1]);
}

/* ---- references and prune ---- */

static void test_refs(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	char d1[IMG_DIGEST_LEN + 1], d2[IMG_DIGEST_LEN + 1];
	_cleanup_free_ char *t = NULL, *m = NULL;
	json_t *all = NULL;

	img_digest_buf("1", 1, d1);
	img_digest_buf("2", 1, d2);
	assert_int_equal(img_store_ref_get(f->st, "busybox", &t, &m, &err), -ENOENT);
	assert_string_equal(err.msg, "image 'busybox' not found");
	assert_int_equal(img_store_ref_set(f->st, "busybox", d1, d2, &err), 0);
	assert_int_equal(img_store_ref_set(f->st, "ghcr.io/o/app:1", d2, NULL, &err), 0);
	/* any spelling of the same name */
	assert_int_equal(img_store_ref_get(f->st, "docker.io/library/busybox:latest", &t, &m, &err),
			 0);
	assert_string_equal(t, d1);
	assert_string_equal(m, d2);
	free(m);
	m = NULL;
	assert_int_equal(img_store_ref_get(f->st, "ghcr.io/o/app:1", NULL, &m, &err), 0);
	assert_string_equal(m, d2);
	assert_int_equal(img_store_refs(f->st, &all, &err), 0);
	assert_int_equal(json_object_size(all), 2);
	assert_non_null(json_object_get(all, "docker.io/library/busybox:latest"));
	json_decref(all);
	assert_int_equal(img_store_ref_del(f->st, "busybox:latest", &err), 0);
	assert_int_equal(img_store_ref_del(f->st, "busybox:latest", &err), -ENOENT);
	assert_int_equal(img_store_ref_set(f->st, "Bad", d1, NULL, &err), -EINVAL);
	assert_int_equal(img_store_ref_set(f->st, "ok", "sha256:x", NULL, &err), -EINVAL);
}

static char *put(struct fx *f, const char *s)
{
	char *d = NULL;
	struct err err = {0};
	assert_int_equal(img_store_put_blob(f->st, NULL, s, strlen(s), &d, &err), 0);
	return d;
}

static void test_prune(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *keep_layer = make_layer(f, "etc/a", "a");
	_cleanup_free_ char *drop_layer = make_layer(f, "etc/b", "b");
	_cleanup_free_ char *cfg = put(f, "{\"rootfs\":{\"diff_ids\":[]}}");
	_cleanup_free_ char *orphan = put(f, "orphan");
	_cleanup_free_ char *man = NULL, *idx = NULL, *s1 = NULL, *s2 = NULL, *doc = NULL;
	_cleanup_free_ char *idoc = NULL, *l2 = NULL;
	uint64_t n = 0, bytes = 0;

	doc = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\","
			"\"config\":{\"mediaType\":\"" IMG_MT_OCI_CONFIG "\",\"digest\":\"%s\","
			"\"size\":1},\"layers\":[{\"mediaType\":\"" IMG_MT_OCI_LAYER "\","
			"\"digest\":\"%s\",\"size\":1}]}",
			cfg, keep_layer);
	man = put(f, doc);
	/* an index naming our manifest and another platform's we never pulled */
	idoc = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" IMG_MT_OCI_MANIFEST
			 "\",\"digest\":\"%s\",\"size\":1},{\"mediaType\":\"" IMG_MT_OCI_MANIFEST
			 "\",\"digest\":\"sha256:%064d\",\"size\":1}]}",
			 man, 7);
	idx = put(f, idoc);
	assert_int_equal(img_store_layer(f->st, keep_layer, IMG_MT_OCI_LAYER, "k", &s1, &err), 0);
	assert_int_equal(img_store_layer(f->st, drop_layer, IMG_MT_OCI_LAYER, "d", &s2, &err), 0);
	assert_int_equal(img_store_ref_set(f->st, "app", idx, man, &err), 0);

	/* a pull in progress in this handle: prune refuses rather than deadlock */
	assert_int_equal(img_store_hold(f->st, &err), 0);
	assert_int_equal(img_store_prune(f->st, &n, &bytes, &err), -EBUSY);
	img_store_release(f->st);

	assert_int_equal(img_store_prune(f->st, &n, &bytes, &err), 0);
	assert_int_equal(n, 2); /* the orphan and the dropped layer's blob */
	assert_true(bytes >= strlen("orphan") + 1);
	assert_true(img_store_has_blob(f->st, idx));
	assert_true(img_store_has_blob(f->st, man));
	assert_true(img_store_has_blob(f->st, cfg));
	assert_true(img_store_has_blob(f->st, keep_layer));
	assert_true(img_store_has_layer(f->st, keep_layer));
	assert_false(img_store_has_blob(f->st, orphan));
	assert_false(img_store_has_blob(f->st, drop_layer));
	assert_false(img_store_has_layer(f->st, drop_layer));
	assert_true(exists(f, s1));
	assert_false(exists(f, s2));

	/* without the reference, everything goes */
	assert_int_equal(img_store_ref_del(f->st, "app", &err), 0);
	assert_int_equal(img_store_prune(f->st, &n, &bytes, &err), 0);
	assert_int_equal(n, 4);
	assert_false(img_store_has_layer(f->st, keep_layer));
	assert_false(exists(f, s1));
	(void)l2;
}

/* A blob whose download lock is held is not pruned (it is about to be used). */
static void test_prune_skips_locked(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *d = put(f, "in flight");
	_cleanup_free_ char *lock = xasprintf("%s/ingest/%s.lock", f->dir, img_digest_hex(d));
	int fd = open(lock, O_RDWR | O_CREAT, 0600);
	uint64_t n = 9;

	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(img_store_prune(f->st, &n, NULL, &err), 0);
	assert_int_equal(n, 0);
	assert_true(img_store_has_blob(f->st, d));
	close(fd);
	assert_int_equal(img_store_prune(f->st, &n, NULL, &err), 0);
	assert_int_equal(n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_blobs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ingest_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ingest_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ingest_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_cleans, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_reader, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_layer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_layer_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prune_skips_locked, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
