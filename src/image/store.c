/* store: the content-addressed image store — verified blobs, resumable per-blob
 * ingestion, layers unpacked once with short overlay links, refs.json, and prune.
 *
 * Concurrency: every mutation is guarded by an flock that other processes honour:
 * ingest/<hex>.lock per blob download, layers/<hex>.lock per layer unpack, <root>/lock
 * for refs.json and prune, <root>/gc.lock (shared by img_store_hold) keeping prune away
 * from content a pull has written but not yet named. Per-object lock files are unlinked
 * by their holder when done; lock_file() re-checks after locking that the path still
 * names the inode it locked, so a waiter on an unlinked lock file simply retries.
 * Crash consistency: blobs and layer directories appear by rename only; leftovers are
 * recognised by name and removed at open when no live process holds them. */
#include "image/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/js.h"
#include "base/util.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/ref.h"
#include "image/unpack.h"

#define SHORT_LEN 10
#define WALK_DEPTH 4 /* index -> index -> manifest is as deep as real images go */

struct img_store {
	char *root;
	int hold_fd; /* shared flock on gc.lock while held */
	unsigned holds;
	struct img_ingest *active; /* this handle's ingests, to refuse a self-deadlock */
};

struct img_ingest {
	struct img_store *st;
	char *digest, *partial, *lock;
	int64_t size, offset;
	int fd, lock_fd;
	struct img_hasher *h;
	struct img_ingest *next; /* in st->active */
};

static const char *const layout_dirs[] = {"blobs", "blobs/sha256", "ingest", "layers", "l"};

/* ---- small helpers ---- */

static bool is_hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static char *spath(const struct img_store *st, const char *fmt, const char *a)
{
	_cleanup_free_ char *rel = xasprintf(fmt, a);
	return xasprintf("%s/%s", st->root, rel);
}

static int write_all(int fd, const void *data, size_t len, const char *what, struct err *err)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(err, errno, "write '%s'", what);
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int fsync_dir(const char *dir, struct err *err)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return err_sys(err, errno, "fsync '%s'", dir);
	return 0;
}

static bool pid_dead(const char *s)
{
	char *end;
	long pid = strtol(s, &end, 10);

	if (end == s || pid <= 0 || (*end && *end != '-'))
		return false;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Locks path (created if needed). nonblock: -EWOULDBLOCK at once if held, no message.
 * Retries when the file was unlinked or replaced between open and flock. */
static int lock_file(const char *path, bool nonblock, int *ret_fd, struct err *err)
{
	for (;;) {
		_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		struct stat a, b;

		if (fd < 0)
			return err_sys(err, errno, "open lock '%s'", path);
		while (flock(fd, LOCK_EX | (nonblock ? LOCK_NB : 0)) < 0) {
			if (errno == EWOULDBLOCK && nonblock)
				return -EWOULDBLOCK;
			if (errno != EINTR)
				return err_sys(err, errno, "lock '%s'", path);
		}
		if (fstat(fd, &a) < 0)
			return err_sys(err, errno, "stat lock '%s'", path);
		if (stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
			*ret_fd = take_fd(fd);
			return 0;
		}
	}
}

/* Unlinks the lock file while still holding it, then releases it. */
static void unlock_file(const char *path, int fd)
{
	if (fd < 0)
		return;
	unlink(path);
	close(fd);
}

static int lock_store(struct img_store *st, int op, int *ret_fd, struct err *err)
{
	_cleanup_free_ char *p = spath(st, "%s", "lock");
	_cleanup_close_ int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return err_sys(err, errno, "open '%s'", p);
	while (flock(fd, op) < 0)
		if (errno != EINTR)
			return err_sys(err, errno, "lock '%s'", p);
	*ret_fd = take_fd(fd);
	return 0;
}

static int check_digest(const char *digest, struct err *err)
{
	return img_digest_validate(digest, err);
}

/* ---- open and cleanup ---- */

/* ingest/<hex>.partial or .lock that nobody holds: a download that died. */
static void clean_ingest(struct img_store *st)
{
	_cleanup_free_ char *dir = spath(st, "%s", "ingest");
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		_cleanup_free_ char *hex = NULL, *lock = NULL, *partial = NULL;
		int fd = -1;

		if (!is_hex64(e->d_name, strcspn(e->d_name, ".")))
			continue;
		hex = strndup(e->d_name, 64);
		lock = xasprintf("%s/%s.lock", dir, hex);
		partial = xasprintf("%s/%s.partial", dir, hex);
		if (lock_file(lock, true, &fd, NULL) < 0)
			continue;
		unlink(partial);
		unlock_file(lock, fd);
	}
}

/* layers/<hex>.tmp-<pid>: an unpack (or a prune's delete) that died. */
static void clean_layers(struct img_store *st)
{
	_cleanup_free_ char *dir = spath(st, "%s", "layers");
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		const char *tmp = strstr(e->d_name, ".tmp-");
		_cleanup_free_ char *lock = NULL, *path = NULL;
		int fd = -1;

		if (!tmp || !is_hex64(e->d_name, tmp - e->d_name))
			continue;
		lock = xasprintf("%s/%.64s.lock", dir, e->d_name);
		path = xasprintf("%s/%s", dir, e->d_name);
		if (pid_dead(tmp + 5)) {
			fs_rm_rf(path, NULL);
		} else if (lock_file(lock, true, &fd, NULL) == 0) {
			fs_rm_rf(path, NULL); /* its pid lives on in someone else */
			unlock_file(lock, fd);
		}
	}
}

static void clean_tmp_in(const char *dir, const char *prefix)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	size_t n = strlen(prefix);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strncmp(e->d_name, prefix, n) == 0 && pid_dead(e->d_name + n)) {
			_cleanup_free_ char *p = xasprintf("%s/%s", dir, e->d_name);
			unlink(p);
		}
}

static int short_target(const char *dir, const char *name, char **ret_hex)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	char buf[256];
	ssize_t n = readlink(p, buf, sizeof(buf) - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	/* "../layers/<hex>/diff" */
	if (n != 10 + 64 + 5 || strncmp(buf, "../layers/", 10) != 0 || !is_hex64(buf + 10, 64))
		return -EINVAL;
	*ret_hex = strndup(buf + 10, 64);
	return 0;
}

/* l/<short> links whose layer is gone (a crash between link and rename, or in prune). */
static void clean_links(struct img_store *st)
{
	_cleanup_free_ char *dir = spath(st, "%s", "l");
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		_cleanup_free_ char *hex = NULL, *lock = NULL, *diff = NULL, *link = NULL;
		int fd = -1;

		if (e->d_name[0] == '.' || short_target(dir, e->d_name, &hex) < 0)
			continue;
		diff = spath(st, "layers/%s/diff", hex);
		if (access(diff, F_OK) == 0)
			continue;
		lock = spath(st, "layers/%s.lock", hex);
		if (lock_file(lock, true, &fd, NULL) < 0)
			continue;
		if (access(diff, F_OK) < 0) {
			link = xasprintf("%s/%s", dir, e->d_name);
			unlink(link);
		}
		unlock_file(lock, fd);
	}
}

static void clean_leftovers(struct img_store *st)
{
	_cleanup_free_ char *blobs = spath(st, "%s", "blobs/sha256");

	clean_ingest(st);
	clean_layers(st);
	clean_links(st);
	clean_tmp_in(blobs, ".tmp-");
	clean_tmp_in(st->root, "refs.json.tmp.");
}

static int make_layout(const char *root, struct err *err)
{
	struct stat sb;

	CHECK(fs_mkdir_p(root, 0700, err));
	if (stat(root, &sb) < 0)
		return err_sys(err, errno, "stat '%s'", root);
	if (!S_ISDIR(sb.st_mode))
		return err_msg(err, ENOTDIR, "image store '%s' is not a directory", root);
	for (size_t i = 0; i < ARRAY_SIZE(layout_dirs); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", root, layout_dirs[i]);
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return err_sys(err, errno, "mkdir '%s'", p);
	}
	return 0;
}

int img_store_open_reader(const char *root, struct img_store **ret, struct err *err)
{
	struct img_store *st;
	size_t n;

	if (!root)
		root = getenv("COOP_IMAGE_STORE");
	if (!root || !*root)
		root = IMG_STORE_DEFAULT;
	st = xcalloc(1, sizeof(*st));
	st->root = xstrdup(root);
	n = strlen(st->root);
	while (n > 1 && st->root[n - 1] == '/')
		st->root[--n] = '\0';
	st->hold_fd = -1;
	*ret = st;
	return 0;
}

int img_store_prepare(struct img_store *st, struct err *err)
{
	CHECK(make_layout(st->root, err));
	clean_leftovers(st);
	return 0;
}

int img_store_open(const char *root, struct img_store **ret, struct err *err)
{
	struct img_store *st;
	int r;

	CHECK(img_store_open_reader(root, &st, err));
	if ((r = img_store_prepare(st, err)) < 0) {
		img_store_close(st);
		return r;
	}
	*ret = st;
	return 0;
}

void img_store_close(struct img_store *st)
{
	if (!st)
		return;
	if (st->hold_fd >= 0)
		close(st->hold_fd);
	free(st->root);
	free(st);
}

const char *img_store_root(const struct img_store *st)
{
	return st->root;
}

int img_store_hold(struct img_store *st, struct err *err)
{
	_cleanup_free_ char *p = NULL;
	_cleanup_close_ int fd = -1;

	if (st->holds++ > 0)
		return 0;
	p = spath(st, "%s", "gc.lock");
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		st->holds = 0;
		return err_sys(err, errno, "open '%s'", p);
	}
	while (flock(fd, LOCK_SH) < 0)
		if (errno != EINTR) {
			st->holds = 0;
			return err_sys(err, errno, "lock '%s'", p);
		}
	st->hold_fd = take_fd(fd);
	return 0;
}

void img_store_release(struct img_store *st)
{
	if (st->holds == 0 || --st->holds > 0)
		return;
	close(st->hold_fd);
	st->hold_fd = -1;
}

/* ---- blobs ---- */

char *img_store_blob_path(struct img_store *st, const char *digest)
{
	if (check_digest(digest, NULL) < 0)
		return NULL;
	return spath(st, "blobs/sha256/%s", img_digest_hex(digest));
}

bool img_store_has_blob(struct img_store *st, const char *digest)
{
	_cleanup_free_ char *p = img_store_blob_path(st, digest);
	return p && access(p, F_OK) == 0;
}

int img_store_read_blob(struct img_store *st, const char *digest, size_t max, char **ret,
			size_t *ret_len, struct err *err)
{
	_cleanup_free_ char *p = NULL, *buf = NULL;
	_cleanup_close_ int fd = -1;
	char got[IMG_DIGEST_LEN + 1];
	struct stat sb;
	size_t len = 0;

	CHECK(check_digest(digest, err));
	p = img_store_blob_path(st, digest);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return err_msg(err, ENOENT, "blob %s is not in the store", digest);
	if (fd < 0 || fstat(fd, &sb) < 0)
		return err_sys(err, errno, "open '%s'", p);
	if ((uint64_t)sb.st_size > max)
		return err_msg(err, EFBIG, "blob %s is %lld bytes, more than the %zu allowed",
			       digest, (long long)sb.st_size, max);
	buf = xmalloc(sb.st_size + 1);
	while (len < (size_t)sb.st_size) {
		ssize_t n = pread(fd, buf + len, sb.st_size - len, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, errno, "read '%s'", p);
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	img_digest_buf(buf, len, got);
	if (!streq(got, digest))
		return err_msg(err, EIO, "blob %s is corrupt: its content hashes to %s", digest,
			       got);
	if (ret_len)
		*ret_len = len;
	*ret = take_ptr(buf);
	return 0;
}

/* temp (named for our pid, so open can tell a dead writer's) + fsync + rename. */
static int write_blob(struct img_store *st, const char *digest, const void *data, size_t len,
		      struct err *err)
{
	static unsigned counter;
	_cleanup_free_ char *dir = spath(st, "%s", "blobs/sha256");
	_cleanup_free_ char *tmp =
	    xasprintf("%s/.tmp-%d-%u", dir, (int)getpid(), __atomic_fetch_add(&counter, 1, 0));
	_cleanup_free_ char *dst = img_store_blob_path(st, digest);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int r;

	if (fd < 0)
		return err_sys(err, errno, "create '%s'", tmp);
	r = write_all(fd, data, len, tmp, err);

	if (r == 0 && (fsync(fd) < 0 || rename(tmp, dst) < 0))
		r = err_sys(err, errno, "store blob '%s'", dst);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return fsync_dir(dir, err);
}

int img_store_put_blob(struct img_store *st, const char *digest, const void *data, size_t len,
		       char **ret_digest, struct err *err)
{
	char got[IMG_DIGEST_LEN + 1];

	img_digest_buf(data, len, got);
	if (digest) {
		CHECK(check_digest(digest, err));
		if (!streq(digest, got))
			return err_msg(err, EINVAL, "blob %s: content hashes to %s", digest, got);
	}
	if (!img_store_has_blob(st, got))
		CHECK(write_blob(st, got, data, len, err));
	if (ret_digest)
		*ret_digest = xstrdup(got);
	return 0;
}

/* ---- ingestion ---- */

static void ingest_free(struct img_ingest *in)
{
	for (struct img_ingest **p = &in->st->active; *p; p = &(*p)->next)
		if (*p == in) {
			*p = in->next;
			break;
		}
	if (in->fd >= 0)
		close(in->fd);
	unlock_file(in->lock, in->lock_fd);
	img_hasher_free(in->h);
	free(in->digest);
	free(in->partial);
	free(in->lock);
	free(in);
}

/* Feeds what an earlier attempt left in the partial file to the hasher. */
static int ingest_prime(struct img_ingest *in, struct err *err)
{
	_cleanup_free_ char *buf = xmalloc(1 << 16);

	in->h = img_hasher_new();
	in->offset = 0;
	for (;;) {
		ssize_t n = pread(in->fd, buf, 1 << 16, in->offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, errno, "read '%s'", in->partial);
		if (n == 0)
			return 0;
		img_hasher_update(in->h, buf, n);
		in->offset += n;
	}
}

int img_ingest_begin(struct img_store *st, const char *digest, int64_t size,
		     struct img_ingest **ret, bool *ret_exists, struct err *err)
{
	struct img_ingest *in;
	const char *hex;
	int r;

	CHECK(check_digest(digest, err));
	/* a second flock on the blob from this process would wait for ourselves forever */
	for (struct img_ingest *a = st->active; a; a = a->next)
		if (streq(a->digest, digest))
			return err_msg(err, EDEADLK,
				       "blob %s is already being downloaded by this "
				       "process",
				       digest);
	hex = img_digest_hex(digest);
	in = xcalloc(1, sizeof(*in));
	in->st = st;
	in->digest = xstrdup(digest);
	in->size = size < 0 ? -1 : size;
	in->fd = in->lock_fd = -1;
	in->lock = spath(st, "ingest/%s.lock", hex);
	in->partial = spath(st, "ingest/%s.partial", hex);
	in->next = st->active;
	st->active = in;
	r = lock_file(in->lock, false, &in->lock_fd, err);
	if (r == 0 && img_store_has_blob(st, digest)) {
		unlink(in->partial); /* a leftover from before it was stored */
		ingest_free(in);
		*ret = NULL;
		*ret_exists = true;
		return 0;
	}
	if (r == 0) {
		in->fd = open(in->partial, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		r = in->fd < 0 ? err_sys(err, errno, "open '%s'", in->partial)
			       : ingest_prime(in, err);
	}
	/* more than the blob can hold: start over rather than fail forever */
	if (r == 0 && in->size >= 0 && in->offset > in->size)
		r = img_ingest_reset(in, err);
	if (r < 0) {
		ingest_free(in);
		return r;
	}
	*ret = in;
	*ret_exists = false;
	return 0;
}

int64_t img_ingest_offset(const struct img_ingest *in)
{
	return in->offset;
}

int img_ingest_reset(struct img_ingest *in, struct err *err)
{
	if (ftruncate(in->fd, 0) < 0)
		return err_sys(err, errno, "truncate '%s'", in->partial);
	img_hasher_free(in->h);
	in->h = img_hasher_new();
	in->offset = 0;
	return 0;
}

int img_ingest_write(struct img_ingest *in, const void *data, size_t len, struct err *err)
{
	if (in->size >= 0 && (uint64_t)in->offset + len > (uint64_t)in->size)
		return err_msg(err, EIO, "blob %s: more data than its size of %lld bytes",
			       in->digest, (long long)in->size);
	CHECK(write_all(in->fd, data, len, in->partial, err));
	img_hasher_update(in->h, data, len);
	in->offset += len;
	return 0;
}

static int ingest_finish(struct img_ingest *in, struct err *err)
{
	char got[IMG_DIGEST_LEN + 1];
	_cleanup_free_ char *dst = img_store_blob_path(in->st, in->digest);
	_cleanup_free_ char *dir = spath(in->st, "%s", "blobs/sha256");

	if (in->size >= 0 && in->offset != in->size) {
		unlink(in->partial);
		return err_msg(err, EIO, "blob %s: expected %lld bytes, got %lld", in->digest,
			       (long long)in->size, (long long)in->offset);
	}
	img_hasher_final(in->h, got);
	in->h = NULL;
	if (!streq(got, in->digest)) {
		unlink(in->partial);
		return err_msg(err, EIO, "blob %s: digest mismatch: got %s", in->digest, got);
	}
	if (fchmod(in->fd, 0644) < 0 || fsync(in->fd) < 0)
		return err_sys(err, errno, "fsync '%s'", in->partial);
	if (rename(in->partial, dst) < 0)
		return err_sys(err, errno, "rename '%s' to '%s'", in->partial, dst);
	return fsync_dir(dir, err);
}

int img_ingest_commit(struct img_ingest *in, struct err *err)
{
	int r = ingest_finish(in, err);

	ingest_free(in);
	return r;
}

void img_ingest_abort(struct img_ingest *in, bool keep)
{
	if (!in)
		return;
	if (!keep)
		unlink(in->partial);
	ingest_free(in);
}

/* ---- layers ---- */

static int read_short(struct img_store *st, const char *hex, char **ret, struct err *err)
{
	_cleanup_free_ char *p = spath(st, "layers/%s/link", hex);
	_cleanup_free_ char *s = NULL;

	CHECK(fs_read_at(AT_FDCWD, p, &s, NULL, err));
	s[strcspn(s, "\n")] = '\0';
	if (strlen(s) != SHORT_LEN || strchr(s, '/'))
		return err_msg(err, EINVAL, "'%s': not a short layer name", p);
	*ret = take_ptr(s);
	return 0;
}

/* l/<10 of [A-Z0-9]> -> ../layers/<hex>/diff, as Docker's overlay2 names them. */
static int make_short(struct img_store *st, const char *hex, char **ret, struct err *err)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	_cleanup_free_ char *target = xasprintf("../layers/%s/diff", hex);

	for (int tries = 0; tries < 100; tries++) {
		unsigned char rnd[SHORT_LEN];
		char name[SHORT_LEN + 1];
		_cleanup_free_ char *link = NULL;

		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			return err_sys(err, errno, "getrandom");
		for (int i = 0; i < SHORT_LEN; i++)
			name[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
		name[SHORT_LEN] = '\0';
		link = spath(st, "l/%s", name);
		if (symlink(target, link) == 0) {
			*ret = xstrdup(name);
			return 0;
		}
		if (errno != EEXIST)
			return err_sys(err, errno, "symlink '%s'", link);
	}
	return err_msg(err, EEXIST, "no free short layer name in '%s/l'", st->root);
}

/* Unpacks into layers/<hex>.tmp-<pid>, links, then renames: layers/<hex> exists only
 * complete, with its link file and its l/ link. Caller holds the layer lock. */
static int unpack_layer(struct img_store *st, const char *digest, enum img_compression comp,
			const char *what, char **ret_short, struct err *err)
{
	const char *hex = img_digest_hex(digest);
	_cleanup_free_ char *blob = img_store_blob_path(st, digest);
	_cleanup_free_ char *tmp = xasprintf("%s/layers/%s.tmp-%d", st->root, hex, (int)getpid());
	_cleanup_free_ char *diff = xasprintf("%s/diff", tmp);
	_cleanup_free_ char *linkf = xasprintf("%s/link", tmp);
	_cleanup_free_ char *dst = spath(st, "layers/%s", hex);
	_cleanup_free_ char *layers = spath(st, "%s", "layers");
	_cleanup_free_ char *name = NULL, *link = NULL;
	_cleanup_close_ int fd = open(blob, O_RDONLY | O_CLOEXEC);
	struct img_unpack_opts o = {
	    .allow_devices = geteuid() == 0, .set_owners = geteuid() == 0, .what = what};
	int r;

	if (fd < 0 && errno == ENOENT)
		return err_msg(err, ENOENT, "%s: blob %s is not in the store", what, digest);
	if (fd < 0)
		return err_sys(err, errno, "open '%s'", blob);
	fs_rm_rf(tmp, NULL);
	if (mkdir(tmp, 0700) < 0 || mkdir(diff, 0755) < 0)
		return err_sys(err, errno, "mkdir '%s'", diff);
	r = img_unpack_fd(fd, comp, diff, &o, err);
	if (r == 0)
		r = make_short(st, hex, &name, err);
	if (r == 0) {
		link = spath(st, "l/%s", name);
		r = fs_write_atomic(linkf, name, strlen(name), 0600, err);
	}
	if (r == 0 && rename(tmp, dst) < 0)
		r = err_sys(err, errno, "rename '%s' to '%s'", tmp, dst);
	if (r == 0)
		r = fsync_dir(layers, err);
	if (r < 0) {
		if (link)
			unlink(link);
		fs_rm_rf(tmp, NULL);
		return r;
	}
	*ret_short = xasprintf("l/%s", name);
	return 0;
}

/* An existing layer: its short name, relinked if l/ lost it. */
static int existing_layer(struct img_store *st, const char *hex, char **ret_short, struct err *err)
{
	_cleanup_free_ char *name = NULL, *link = NULL;
	_cleanup_free_ char *target = xasprintf("../layers/%s/diff", hex);

	CHECK(read_short(st, hex, &name, err));
	link = spath(st, "l/%s", name);
	if (symlink(target, link) < 0 && errno != EEXIST)
		return err_sys(err, errno, "symlink '%s'", link);
	*ret_short = xasprintf("l/%s", name);
	return 0;
}

int img_store_layer(struct img_store *st, const char *blob_digest, const char *media_type,
		    const char *what, char **ret_short, struct err *err)
{
	enum img_compression comp;
	_cleanup_free_ char *lock = NULL, *diff = NULL;
	int fd = -1, r;

	if (!what)
		what = blob_digest;
	if (check_digest(blob_digest, err) < 0 || img_layer_compression(media_type, &comp, err) < 0)
		return err_wrap(err, "%s", what);
	lock = spath(st, "layers/%s.lock", img_digest_hex(blob_digest));
	diff = spath(st, "layers/%s/diff", img_digest_hex(blob_digest));
	CHECK(lock_file(lock, false, &fd, err));
	if (access(diff, F_OK) == 0)
		r = existing_layer(st, img_digest_hex(blob_digest), ret_short, err);
	else
		r = unpack_layer(st, blob_digest, comp, what, ret_short, err);
	unlock_file(lock, fd);
	return r;
}

bool img_store_has_layer(struct img_store *st, const char *blob_digest)
{
	_cleanup_free_ char *diff = NULL;

	if (check_digest(blob_digest, NULL) < 0)
		return false;
	diff = spath(st, "layers/%s/diff", img_digest_hex(blob_digest));
	return access(diff, F_OK) == 0;
}

/* ---- references ---- */

static int refs_load(struct img_store *st, json_t **ret, struct err *err)
{
	_cleanup_free_ char *p = spath(st, "%s", "refs.json");
	_cleanup_free_ char *s = NULL;
	json_t *j = NULL;

	struct err e = {0};

	if (fs_read_at(AT_FDCWD, p, &s, NULL, &e) < 0) {
		if (e.code != ENOENT)
			return err_msg(err, e.code, "%s", e.msg);
		*ret = json_object();
		return 0;
	}
	CHECK(js_load_string(p, s, &j, err));
	if (!json_is_object(j)) {
		json_decref(j);
		return err_msg(err, EINVAL, "'%s': expected an object", p);
	}
	*ret = j;
	return 0;
}

static int refs_save(struct img_store *st, json_t *refs, struct err *err)
{
	_cleanup_free_ char *p = spath(st, "%s", "refs.json");
	_cleanup_free_ char *s = json_dumps(refs, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (!s)
		return err_msg(err, ENOMEM, "serialize '%s'", p);
	CHECK(fs_write_atomic(p, s, strlen(s), 0600, err));
	return fsync_dir(st->root, err);
}

static int normalize(const char *name, char **ret, struct err *err)
{
	struct img_ref r;

	CHECK(img_ref_parse(name, &r, err));
	*ret = img_ref_string(&r);
	img_ref_free(&r);
	return 0;
}

int img_store_ref_set(struct img_store *st, const char *name, const char *target,
		      const char *manifest, struct err *err)
{
	_cleanup_free_ char *key = NULL;
	_cleanup_close_ int lock = -1;
	_cleanup_json_ json_t *refs = NULL;

	if (!manifest)
		manifest = target;
	CHECK(normalize(name, &key, err));
	if (check_digest(target, err) < 0)
		return err_wrap(err, "image '%s' target", name);
	if (check_digest(manifest, err) < 0)
		return err_wrap(err, "image '%s' manifest", name);
	CHECK(lock_store(st, LOCK_EX, &lock, err));
	CHECK(refs_load(st, &refs, err));
	json_object_set_new(refs, key,
			    json_pack("{s:s,s:s}", "target", target, "manifest", manifest));
	return refs_save(st, refs, err);
}

int img_store_ref_get(struct img_store *st, const char *name, char **ret_target,
		      char **ret_manifest, struct err *err)
{
	_cleanup_free_ char *key = NULL, *target = NULL, *manifest = NULL;
	_cleanup_json_ json_t *refs = NULL;
	json_t *e;

	CHECK(normalize(name, &key, err));
	CHECK(refs_load(st, &refs, err)); /* replaced by rename: no lock needed to read */
	e = json_object_get(refs, key);
	if (!e)
		return err_msg(err, ENOENT, "image '%s' not found", name);
	CHECK(js_str(e, key, "target", true, &target, err));
	CHECK(js_str(e, key, "manifest", true, &manifest, err));
	if (ret_target)
		*ret_target = take_ptr(target);
	if (ret_manifest)
		*ret_manifest = take_ptr(manifest);
	return 0;
}

int img_store_ref_del(struct img_store *st, const char *name, struct err *err)
{
	_cleanup_free_ char *key = NULL;
	_cleanup_close_ int lock = -1;
	_cleanup_json_ json_t *refs = NULL;

	CHECK(normalize(name, &key, err));
	CHECK(lock_store(st, LOCK_EX, &lock, err));
	CHECK(refs_load(st, &refs, err));
	if (json_object_del(refs, key) < 0)
		return err_msg(err, ENOENT, "image '%s' not found", name);
	return refs_save(st, refs, err);
}

int img_store_refs(struct img_store *st, json_t **ret, struct err *err)
{
	return refs_load(st, ret, err);
}

/* ---- prune ---- */

struct marks {
	json_t *blobs, *layers; /* objects used as sets of hex digests */
};

/* Marks digest and, when it is a manifest or an index, everything it reaches.
 * Blobs that are absent or are not manifests end the walk quietly. */
static void mark(struct img_store *st, struct marks *m, const char *digest, int depth)
{
	_cleanup_free_ char *data = NULL;
	struct img_manifest *mf = NULL;
	size_t len;

	if (check_digest(digest, NULL) < 0)
		return;
	json_object_set_new(m->blobs, img_digest_hex(digest), json_true());
	if (depth >= WALK_DEPTH ||
	    img_store_read_blob(st, digest, IMG_MANIFEST_MAX, &data, &len, NULL) < 0 ||
	    img_manifest_parse(data, len, NULL, &mf, NULL) < 0)
		return;
	for (size_t i = 0; i < mf->n_manifests; i++)
		mark(st, m, mf->manifests[i].digest, depth + 1);
	if (mf->kind == IMG_KIND_MANIFEST) {
		json_object_set_new(m->blobs, img_digest_hex(mf->config.digest), json_true());
		for (size_t i = 0; i < mf->n_layers; i++) {
			const char *hex = img_digest_hex(mf->layers[i].digest);
			json_object_set_new(m->blobs, hex, json_true());
			json_object_set_new(m->layers, hex, json_true());
		}
	}
	img_manifest_free(mf);
}

static __thread uint64_t du_bytes;

static int du_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)p;
	(void)ftw;
	if (flag == FTW_F)
		du_bytes += sb->st_size;
	return 0;
}

static uint64_t tree_bytes(const char *path)
{
	du_bytes = 0;
	nftw(path, du_one, 16, FTW_PHYS | FTW_MOUNT);
	return du_bytes;
}

static void sweep_blobs(struct img_store *st, struct marks *m, uint64_t *n, uint64_t *bytes)
{
	_cleanup_free_ char *dir = spath(st, "%s", "blobs/sha256");
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		_cleanup_free_ char *p = NULL, *lock = NULL;
		struct stat sb;
		int fd = -1;

		if (!is_hex64(e->d_name, strlen(e->d_name)) || json_object_get(m->blobs, e->d_name))
			continue;
		/* a download holding the blob's lock is about to use it */
		lock = spath(st, "ingest/%s.lock", e->d_name);
		if (lock_file(lock, true, &fd, NULL) < 0)
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (lstat(p, &sb) == 0 && unlink(p) == 0) {
			(*n)++;
			*bytes += sb.st_size;
		}
		unlock_file(lock, fd);
	}
}

/* Renamed to a .tmp- name first: the layer vanishes at once, and a crash mid-delete
 * leaves a leftover open() removes, never a half-deleted layer that looks whole. */
static void remove_layer(struct img_store *st, const char *hex, uint64_t *bytes)
{
	_cleanup_free_ char *dir = spath(st, "layers/%s", hex);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", dir, (int)getpid());
	_cleanup_free_ char *lf = xasprintf("%s/link", tmp);
	_cleanup_free_ char *name = NULL, *link = NULL;

	if (rename(dir, tmp) < 0)
		return;
	if (fs_read_at(AT_FDCWD, lf, &name, NULL, NULL) == 0) {
		name[strcspn(name, "\n/")] = '\0';
		link = spath(st, "l/%s", name);
		if (*name)
			unlink(link);
	}
	*bytes += tree_bytes(tmp);
	fs_rm_rf(tmp, NULL);
}

static void sweep_layers(struct img_store *st, struct marks *m, uint64_t *bytes)
{
	_cleanup_free_ char *dir = spath(st, "%s", "layers");
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		_cleanup_free_ char *lock = NULL;
		int fd = -1;

		if (!is_hex64(e->d_name, strlen(e->d_name)) ||
		    json_object_get(m->layers, e->d_name))
			continue;
		lock = spath(st, "layers/%s.lock", e->d_name);
		if (lock_file(lock, true, &fd, NULL) < 0)
			continue;
		remove_layer(st, e->d_name, bytes);
		unlock_file(lock, fd);
	}
}

int img_store_prune(struct img_store *st, uint64_t *ret_blobs, uint64_t *ret_bytes, struct err *err)
{
	_cleanup_free_ char *gc = spath(st, "%s", "gc.lock");
	_cleanup_close_ int gc_fd = -1, lock = -1;
	_cleanup_json_ json_t *refs = NULL;
	struct marks m;
	uint64_t n = 0, bytes = 0;
	const char *name;
	json_t *e;

	if (st->holds)
		return err_msg(err, EBUSY,
			       "prune: this store handle holds content (a pull is "
			       "in progress)");
	/* wait for pulls that hold content not yet named by a reference */
	gc_fd = open(gc, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (gc_fd < 0)
		return err_sys(err, errno, "open '%s'", gc);
	while (flock(gc_fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return err_sys(err, errno, "lock '%s'", gc);
	CHECK(lock_store(st, LOCK_EX, &lock, err));
	CHECK(refs_load(st, &refs, err));
	m = (struct marks){json_object(), json_object()};
	json_object_foreach(refs, name, e)
	{
		mark(st, &m, json_string_value(json_object_get(e, "target")) ?: "", 0);
		mark(st, &m, json_string_value(json_object_get(e, "manifest")) ?: "", 0);
	}
	sweep_blobs(st, &m, &n, &bytes);
	sweep_layers(st, &m, &bytes);
	clean_links(st);
	json_decref(m.blobs);
	json_decref(m.layers);
	if (ret_blobs)
		*ret_blobs = n;
	if (ret_bytes)
		*ret_bytes = bytes;
	return 0;
}
