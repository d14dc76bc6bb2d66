/* Unit tests for image/disk: the pure parts (sizes, quota units, project id choice,
 * mountinfo, the record) and, as root, the two ways a limit is enforced for real — an
 * ext4 image on a loop device (writes past the limit fail with ENOSPC, unmounting
 * frees the device, a failed setup leaves none) and project quotas on an ext4 made
 * with -O quota,project and mounted prjquota (skipped, with the kernel's reason, where
 * the kernel cannot mount one). Teardown unmounts and removes even after a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/util.h"
#include "image/disk.h"
#include "state/bun.h"

/* ---- pure ---- */

static void test_sizes(void **state)
{
	static const struct {
		const char *s;
		int64_t want; /* -1: refused */
		const char *msg;
	} cases[] = {
		{ "512M", 512LL << 20, NULL },   { "1G", 1LL << 30, NULL },
		{ "2GiB", 2LL << 30, NULL },     { "16m", 16LL << 20, NULL },
		{ "8t", 8LL << 40, NULL },       { "1073741824", 1LL << 30, NULL },
		{ "15m", -1, "15m is below the 16 MiB minimum" },
		{ "9T", -1, "9T is above the 8 TiB maximum" },
		{ "lots", -1, "expected a size like 512M or 1G, got 'lots'" },
		{ "", -1, "expected a size" },   { "-1G", -1, "expected a size" },
		{ "1G1", -1, "expected a size" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct err err = { 0 };
		int64_t b = 0;
		int r = bun_disk_bytes(cases[i].s, &b, &err);
		if (cases[i].want < 0) {
			if (r != -EINVAL || !strstr(err.msg, cases[i].msg))
				fail_msg("'%s': got %d '%s'", cases[i].s, r, err.msg);
		} else if (r != 0 || b != cases[i].want) {
			fail_msg("'%s': got %d %lld '%s'", cases[i].s, r, (long long)b, err.msg);
		}
	}
}

static void test_quota_units(void **state)
{
	assert_int_equal(img_disk_quota_units(1, IMG_DISK_FS_EXT4), 1);
	assert_int_equal(img_disk_quota_units(1024, IMG_DISK_FS_EXT4), 1);
	assert_int_equal(img_disk_quota_units(1025, IMG_DISK_FS_EXT4), 2);
	assert_int_equal(img_disk_quota_units(1LL << 30, IMG_DISK_FS_EXT4), 1 << 20);
	assert_int_equal(img_disk_quota_units(512, IMG_DISK_FS_XFS), 1);
	assert_int_equal(img_disk_quota_units(513, IMG_DISK_FS_XFS), 2);
	assert_int_equal(img_disk_quota_units(1LL << 30, IMG_DISK_FS_XFS), 1 << 21);
	assert_int_equal(img_disk_quota_units(0, IMG_DISK_FS_EXT4), 0); /* lifts the limit */
}

static void test_projid_next(void **state)
{
	const uint32_t B = IMG_DISK_PROJID_BASE, last = B + IMG_DISK_PROJID_COUNT - 1;
	uint32_t used[] = { B + 1, B, B + 3 };

	assert_int_equal(img_disk_projid_next(NULL, 0, 0), B);
	assert_int_equal(img_disk_projid_next(used, 3, 0), B + 2);
	assert_int_equal(img_disk_projid_next(used, 3, B + 3), B + 4);
	assert_int_equal(img_disk_projid_next(used, 3, B + 2), B + 2);
	assert_int_equal(img_disk_projid_next(&last, 1, last), 0); /* none left */
	assert_int_equal(img_disk_projid_next(NULL, 0, last + 1), 0);
}

static void test_mountinfo(void **state)
{
	static const char mi[] =
	    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
	    "30 22 0:25 / /proc rw - proc proc rw\n"
	    "41 22 7:3 / /var/lib/coop rw,relatime shared:7 master:2 - xfs /dev/loop3 rw,prjquota\n"
	    "42 22 8:17 / /srv rw - ext4 /dev/disk\\040one rw\n"
	    "43 22 8:1 / /b rw - ext4 /dev/sda1 rw";
	char *s;

	assert_string_equal(s = img_disk_mountinfo_source(mi, 254, 0), "/dev/vda");
	free(s);
	assert_string_equal(s = img_disk_mountinfo_source(mi, 7, 3), "/dev/loop3");
	free(s);
	assert_string_equal(s = img_disk_mountinfo_source(mi, 8, 17), "/dev/disk one");
	free(s);
	assert_string_equal(s = img_disk_mountinfo_source(mi, 8, 1), "/dev/sda1"); /* no \n */
	free(s);
	assert_null(img_disk_mountinfo_source(mi, 8, 2));
	assert_null(img_disk_mountinfo_source(mi, 25, 0)); /* "0:25" is not "25:0" */
	assert_null(img_disk_mountinfo_source("", 1, 1));
}

static void test_record(void **state)
{
	struct img_disk q = { .kind = IMG_DISK_PRJQUOTA, .fs = IMG_DISK_FS_XFS, .bytes = 1LL << 30,
			      .projid = IMG_DISK_PROJID_BASE + 7 };
	struct img_disk l = { .kind = IMG_DISK_LOOP, .bytes = 64LL << 20 }, out;
	struct err err = { 0 };
	json_t *j;

	j = img_disk_to_json(&q);
	assert_int_equal(img_disk_from_json(j, &out, &err), 0);
	assert_true(out.kind == q.kind && out.fs == q.fs && out.bytes == q.bytes &&
		    out.projid == q.projid);
	json_decref(j);
	j = img_disk_to_json(&l);
	assert_null(json_object_get(j, "projid"));
	assert_int_equal(img_disk_from_json(j, &out, &err), 0);
	assert_true(out.kind == l.kind && out.bytes == l.bytes && out.projid == 0);
	json_decref(j);

	static const char *const bad[] = {
		"{}", "{\"kind\":\"none\",\"bytes\":1}", "{\"kind\":\"loop\"}",
		"{\"kind\":\"loop\",\"bytes\":0}", "{\"kind\":\"zfs\",\"bytes\":1}",
		"{\"kind\":\"prjquota\",\"bytes\":1,\"fs\":\"ext4\"}",
		"{\"kind\":\"prjquota\",\"bytes\":1,\"fs\":\"btrfs\",\"projid\":5}",
		"{\"kind\":\"prjquota\",\"bytes\":1,\"fs\":\"ext4\",\"projid\":4294967296}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		j = json_loads(bad[i], 0, NULL);
		assert_non_null(j);
		if (img_disk_from_json(j, &out, &err) != -EINVAL)
			fail_msg("%s: accepted", bad[i]);
		json_decref(j);
	}
}

/* ---- on the host (root) ---- */

struct fx {
	char dir[64];
	char *cdir, *rw, *img;
	pid_t holder; /* hold_copy's, killed by the teardown */
};

static int fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/coop-test-disk-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->cdir = xasprintf("%s/c1", f->dir);
	f->rw = xasprintf("%s/rw", f->cdir);
	f->img = xasprintf("%s/rw.img", f->cdir);
	if (mkdir(f->cdir, 0700) < 0)
		return -1;
	*state = f;
	return 0;
}

static bool mounted_at(const char *path)
{
	_cleanup_free_ char *m = NULL;
	_cleanup_free_ char *needle = xasprintf(" %s ", path);
	return fs_read("/proc/self/mounts", &m, &(struct err){ 0 }) == 0 && strstr(m, needle);
}

/* How many loop devices are bound to path (their sysfs backing_file). */
static int loop_count(const char *path)
{
	_cleanup_closedir_ DIR *d = opendir("/sys/block");
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		_cleanup_free_ char *p = xasprintf("/sys/block/%s/loop/backing_file", de->d_name);
		_cleanup_free_ char *b = NULL;
		if (fs_read(p, &b, &(struct err){ 0 }) == 0 && strncmp(b, path, strlen(path)) == 0 &&
		    (b[strlen(path)] == '\n' || b[strlen(path)] == '\0'))
			n++;
	}
	return n;
}

static bool loop_bound(const char *path) { return loop_count(path) > 0; }

/* A detached mount frees its device once the last reference goes: allow it 10 s
 * (a loaded machine is slow to). */
static bool loop_gone(const char *path)
{
	for (int i = 0; i < 200; i++) {
		if (!loop_bound(path))
			return true;
		usleep(50 * 1000);
	}
	return false;
}

/* Processes of other mount namespaces that hold a mount of path — namespaces made
 * (private, as on a host whose / is not shared) while it was mounted keep their copy
 * until they end: "pid 123 (comm)" for the first few; "" when none. */
static char *foreign_holders(const char *path)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	char self[64] = "", ns[64];
	struct dirent *de;
	char *out = xstrdup("");
	ssize_t k;
	int n = 0;

	if ((k = readlink("/proc/self/ns/mnt", self, sizeof(self) - 1)) > 0)
		self[k] = '\0';
	while (d && (de = readdir(d)) && n < 4) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		_cleanup_free_ char *nsl = xasprintf("/proc/%s/ns/mnt", de->d_name);
		_cleanup_free_ char *mi = xasprintf("/proc/%s/mountinfo", de->d_name);
		_cleanup_free_ char *cl = xasprintf("/proc/%s/comm", de->d_name);
		_cleanup_free_ char *text = NULL, *comm = NULL;
		if ((k = readlink(nsl, ns, sizeof(ns) - 1)) <= 0)
			continue;
		ns[k] = '\0';
		if (streq(ns, self) || fs_read(mi, &text, &(struct err){ 0 }) < 0 ||
		    !strstr(text, path))
			continue;
		fs_read(cl, &comm, &(struct err){ 0 });
		if (comm && strchr(comm, '\n'))
			*strchr(comm, '\n') = '\0';
		char *o = xasprintf("%s pid %s (%s, %s)", out, de->d_name, comm ? comm : "?", ns);
		free(out);
		out = o;
		n++;
	}
	return out;
}

/* Our unmount freed the device — or, on a busy shared host, a foreign mount namespace
 * copied the mount meanwhile and holds it (said, not failed: nothing of ours is left).
 * Bound with no foreign holder is our leak. */
#define assert_loop_gone(img, rw)                                                            \
	do {                                                                                 \
		if (!loop_gone(img)) {                                                       \
			_cleanup_free_ char *h = foreign_holders(rw);                        \
			if (!*h)                                                             \
				fail_msg("a loop device still holds %s, and no other mount " \
					 "namespace has it mounted", img);                   \
			print_message("note: %s stays bound while other mount namespaces " \
				      "hold a copy of its mount:%s\n", img, h);            \
		}                                                                            \
	} while (0)

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	if (f->holder > 0) {
		kill(f->holder, SIGKILL);
		waitpid(f->holder, NULL, 0);
	}
	for (int i = 0; i < 3 && mounted_at(f->rw); i++)
		umount2(f->rw, MNT_DETACH);
	_cleanup_free_ char *q = xasprintf("%s/q", f->dir);
	for (int i = 0; i < 3 && mounted_at(q); i++)
		umount2(q, MNT_DETACH);
	fs_rm_rf(f->dir, &(struct err){ 0 });
	free(f->cdir);
	free(f->rw);
	free(f->img);
	free(f);
	return 0;
}

/* Writes n MiB to path; the errno of the first failed write, 0 when all went. */
static int write_mib(const char *path, int n)
{
	static char buf[1 << 20];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), e = 0;

	if (fd < 0)
		return errno;
	for (int i = 0; i < n && !e; i++)
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			e = errno ? errno : ENOSPC;
	if (!e && fsync(fd) < 0)
		e = errno;
	close(fd);
	return e;
}

static void test_loop(void **state)
{
	struct fx *f = *state;
	struct img_disk d = { .kind = IMG_DISK_LOOP, .bytes = 32LL << 20 };
	struct err err = { 0 };
	_cleanup_free_ char *big = xasprintf("%s/big", f->rw), *small = xasprintf("%s/small", f->rw);
	int64_t used = 0;
	struct stat st;

	if (getuid() != 0)
		skip();
	if (img_disk_setup(f->cdir, &d, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(mounted_at(f->rw));
	assert_true(loop_bound(f->img));
	assert_int_equal(stat(f->img, &st), 0);
	assert_int_equal(st.st_size, 32LL << 20);
	assert_true(st.st_blocks * 512 < st.st_size / 2); /* sparse: not written out */
	assert_int_equal(write_mib(big, 40), ENOSPC);
	unlink(big);
	assert_int_equal(write_mib(small, 8), 0);
	assert_int_equal(img_disk_usage(f->cdir, &d, &used, &err), 0);
	assert_true(used >= 8LL << 20 && used < 16LL << 20);
	/* a second setup (the container's next start) finds it mounted */
	assert_int_equal(img_disk_setup(f->cdir, &d, &err), 0);
	assert_int_equal(img_disk_release(f->cdir, &d, &err), 0);
	assert_false(mounted_at(f->rw));
	assert_loop_gone(f->img, f->rw);
	assert_int_equal(img_disk_release(f->cdir, &d, &err), 0); /* idempotent */
	/* mounted again: the layer kept what was written */
	assert_int_equal(img_disk_setup(f->cdir, &d, &err), 0);
	assert_int_equal(stat(small, &st), 0);
	assert_int_equal(st.st_size, 8 << 20);
	assert_int_equal(img_disk_release(f->cdir, &d, &err), 0);
	assert_loop_gone(f->img, f->rw);
	assert_int_equal(img_disk_usage(f->cdir, &d, &used, &err), -ENOENT);
}

/* A process in a mount namespace of its own, made (private) while rw was mounted: it
 * keeps a copy of the mount, as a namespace made by `unshare -m` then would. */
static pid_t hold_copy(void)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p) < 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		close(p[0]);
		/* not the test's output: a reader of it would wait for this process too */
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
			_exit(1);
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		pid = -1;
	close(p[0]);
	return pid;
}

/* Unmounted here but held by another namespace, the filesystem is mounted again through
 * the device that still has it — one superblock, never one ext4 mounted twice. */
static void test_loop_held_elsewhere(void **state)
{
	struct fx *f = *state;
	struct img_disk d = { .kind = IMG_DISK_LOOP, .bytes = 32LL << 20 };
	struct err err = { 0 };
	_cleanup_free_ char *a = xasprintf("%s/a", f->rw), *img = NULL;
	struct stat st;

	if (getuid() != 0)
		skip();
	assert_int_equal(img_disk_setup(f->cdir, &d, &err), 0);
	assert_non_null(img = realpath(f->img, NULL));
	assert_true((f->holder = hold_copy()) > 0);
	assert_int_equal(img_disk_release(f->cdir, &d, &err), 0);
	assert_false(mounted_at(f->rw));
	usleep(200 * 1000);
	assert_int_equal(loop_count(img), 1); /* the holder's copy keeps it */
	assert_int_equal(img_disk_setup(f->cdir, &d, &err), 0);
	assert_true(mounted_at(f->rw));
	assert_int_equal(loop_count(img), 1); /* the same device, not a second one */
	assert_int_equal(write_mib(a, 1), 0);
	assert_int_equal(img_disk_release(f->cdir, &d, &err), 0);
	kill(f->holder, SIGKILL);
	waitpid(f->holder, NULL, 0);
	f->holder = 0;
	assert_loop_gone(img, f->rw);
	/* and what was written through the shared superblock is there */
	assert_int_equal(img_disk_setup(f->cdir, &d, &err), 0);
	assert_int_equal(stat(a, &st), 0);
	assert_int_equal(st.st_size, 1 << 20);
	assert_int_equal(img_disk_release(f->cdir, &d, &err), 0);
	assert_loop_gone(img, f->rw);
}

/* A setup that fails midway holds no loop device and no mount. */
static void test_loop_failures(void **state)
{
	struct fx *f = *state;
	struct img_disk d = { .kind = IMG_DISK_LOOP, .bytes = 32LL << 20 };
	struct err err = { 0 };
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", f->img);
	int fd;

	if (getuid() != 0)
		skip();
	/* an image that is no filesystem: the mount fails after the device was bound */
	fd = open(f->img, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 32LL << 20), 0);
	close(fd);
	assert_true(img_disk_setup(f->cdir, &d, &err) < 0);
	assert_non_null(strstr(err.msg, "mount"));
	assert_false(mounted_at(f->rw));
	assert_loop_gone(f->img, f->rw);
	unlink(f->img);
	/* no mkfs.ext4: nothing made, not even the temporary image */
	const char *path = getenv("PATH");
	_cleanup_free_ char *saved = path ? xstrdup(path) : NULL;
	setenv("PATH", "/nonexistent", 1);
	int r = img_disk_setup(f->cdir, &d, &err);
	if (saved)
		setenv("PATH", saved, 1);
	assert_int_equal(r, -ENOENT);
	assert_non_null(strstr(err.msg, "mkfs.ext4 is not in PATH"));
	assert_int_equal(access(f->img, F_OK), -1);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_false(mounted_at(f->rw));
}

/* Where the filesystem has no project quotas, the probe picks the loop fallback, and
 * names both missing pieces when that is not there either. */
static void test_probe(void **state)
{
	struct fx *f = *state;
	struct img_disk d = { 0 };
	struct err err = { 0 };

	if (getuid() != 0)
		skip();
	assert_int_equal(img_disk_probe(f->dir, &d, &err), 0);
	if (d.kind == IMG_DISK_PRJQUOTA)
		skip(); /* this /tmp enforces project quotas: no fallback to see */
	assert_int_equal(d.kind, IMG_DISK_LOOP);
	const char *path = getenv("PATH");
	_cleanup_free_ char *saved = path ? xstrdup(path) : NULL;
	setenv("PATH", "/nonexistent", 1);
	int r = img_disk_probe(f->dir, &d, &err);
	if (saved)
		setenv("PATH", saved, 1);
	assert_int_equal(r, -ENOTSUP);
	assert_non_null(strstr(err.msg, "does not enforce project quotas"));
	assert_non_null(strstr(err.msg, "mkfs.ext4 is not in PATH"));
	assert_null(strchr(err.msg, '\n'));
}

/* Runs a shell command quietly; its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	int r = system(cmd);
	free(cmd);
	return r;
}

/* The project-quota path for real: an ext4 with the quota and project features,
 * mounted with prjquota, as the containers directory. */
static void test_prjquota(void **state)
{
	struct fx *f = *state;
	/* on the stack: skip() jumps past cleanup attributes */
	char q[80], qimg[96], cdir[96], rw[112], big[128], upper[128], f2[144];
	struct img_disk d = { .bytes = 16LL << 20 }, d2 = { .bytes = 16LL << 20 };
	struct err err = { 0 };
	int64_t used;
	uint32_t used_ids[1];

	if (getuid() != 0)
		skip();
	snprintf(q, sizeof(q), "%s/q", f->dir);
	snprintf(qimg, sizeof(qimg), "%s/q.img", f->dir);
	snprintf(cdir, sizeof(cdir), "%s/c1", q);
	snprintf(rw, sizeof(rw), "%s/rw", cdir);
	snprintf(big, sizeof(big), "%s/big", rw);
	snprintf(upper, sizeof(upper), "%s/upper", rw);
	snprintf(f2, sizeof(f2), "%s/f", upper);
	assert_int_equal(mkdir(q, 0700), 0);
	assert_int_equal(sh("truncate -s 128M %s && mkfs.ext4 -q -I 256 -O quota,project %s", qimg, qimg), 0);
	if (sh("mount -o loop,prjquota %s %s 2>/dev/null", qimg, q) != 0) {
		/* this kernel cannot (CONFIG_QUOTA/CONFIG_QFMT_V2 missing, dmesg says) */
		print_message("[ SKIPPED  ] test_prjquota: the kernel refuses to mount an ext4 "
			      "with -O quota,project and prjquota\n");
		skip();
	}
	assert_int_equal(mkdir(cdir, 0700), 0);
	assert_int_equal(img_disk_probe(q, &d, &err), 0);
	assert_int_equal(d.kind, IMG_DISK_PRJQUOTA);
	assert_int_equal(d.fs, IMG_DISK_FS_EXT4);
	if (img_disk_claim(q, &d, NULL, 0, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(d.projid, IMG_DISK_PROJID_BASE);
	/* the id is held by its limit: the next claim, even unaware of it, takes another */
	d2.kind = d.kind;
	d2.fs = d.fs;
	assert_int_equal(img_disk_claim(q, &d2, NULL, 0, &err), 0);
	assert_int_equal(d2.projid, IMG_DISK_PROJID_BASE + 1);
	assert_int_equal(img_disk_unclaim(q, &d2, &err), 0);
	used_ids[0] = d.projid;
	d2.projid = 0;
	assert_int_equal(img_disk_claim(q, &d2, used_ids, 1, &err), 0);
	assert_int_equal(d2.projid, IMG_DISK_PROJID_BASE + 1); /* freed, taken again */
	assert_int_equal(img_disk_unclaim(q, &d2, &err), 0);

	if (img_disk_setup(cdir, &d, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(mkdir(upper, 0755), 0); /* inherits the project */
	assert_int_equal(write_mib(f2, 24), EDQUOT);
	assert_int_equal(img_disk_usage(cdir, &d, &used, &err), 0);
	assert_true(used >= 15LL << 20 && used <= 16LL << 20);
	unlink(f2);
	assert_int_equal(write_mib(big, 8), 0);
	/* lifted: the same writes go through */
	assert_int_equal(img_disk_unclaim(q, &d, &err), 0);
	assert_int_equal(write_mib(f2, 24), 0);
	assert_int_equal(img_disk_release(cdir, &d, &err), 0); /* nothing to unmount */
	assert_int_equal(umount2(q, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_quota_units),
		cmocka_unit_test(test_projid_next),
		cmocka_unit_test(test_mountinfo),
		cmocka_unit_test(test_record),
		cmocka_unit_test_setup_teardown(test_loop, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_loop_held_elsewhere, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_loop_failures, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_probe, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_prjquota, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
