/* Unit tests for image/unpack: layer tars built in-process with libarchive's write API
 * (ustar, PAX, GNU; plain, gzip, zstd) applied to a temp dir — files, dirs, links,
 * owners, modes, times, long names, whiteouts in any order, device nodes, and every
 * escape attempt we know (each must fail or stay inside dest). Needs root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/dl_archive.h"
#include <fcntl.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "base/fs.h"
#include "base/util.h"
#include "image/unpack.h"

/* ---- a tar builder ---- */

struct tb {
	struct archive *a;
	int fd;
};

static struct tb *tb_new(int format, int filter)
{
	struct tb *t = xcalloc(1, sizeof(*t));
	t->fd = memfd_create("layer", MFD_CLOEXEC);
	assert_true(t->fd >= 0);
	t->a = archive_write_new();
	assert_int_equal(archive_write_set_format(t->a, format), ARCHIVE_OK);
	if (filter != ARCHIVE_FILTER_NONE)
		assert_int_equal(archive_write_add_filter(t->a, filter), ARCHIVE_OK);
	assert_int_equal(archive_write_open_fd(t->a, t->fd), ARCHIVE_OK);
	return t;
}

struct ent {
	const char *path;
	mode_t type;
	mode_t perm;
	const char *data; /* regular files */
	const char *link; /* symlink target */
	const char *hard; /* hardlink target */
	unsigned uid, gid;
	time_t mtime;
	dev_t rdev;
	const char *xattr; /* name=value */
};

static void tb_add(struct tb *t, const struct ent *x)
{
	struct archive_entry *e = archive_entry_new();
	size_t len = x->data ? strlen(x->data) : 0;

	archive_entry_set_pathname(e, x->path);
	archive_entry_set_filetype(e, x->type ? x->type : AE_IFREG);
	archive_entry_set_perm(e, x->perm ? x->perm : 0644);
	archive_entry_set_uid(e, x->uid);
	archive_entry_set_gid(e, x->gid);
	archive_entry_set_mtime(e, x->mtime ? x->mtime : 1000000, 0);
	if (x->link)
		archive_entry_set_symlink(e, x->link);
	if (x->hard)
		archive_entry_set_hardlink(e, x->hard);
	if (x->rdev)
		archive_entry_set_rdev(e, x->rdev);
	if (x->xattr) {
		const char *eq = strchr(x->xattr, '=');
		_cleanup_free_ char *name = strndup(x->xattr, (size_t)(eq - x->xattr));
		archive_entry_xattr_add_entry(e, name, eq + 1, strlen(eq + 1));
	}
	archive_entry_set_size(
	    e, (x->type == 0 || x->type == AE_IFREG) && !x->hard ? (la_int64_t)len : 0);
	assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
	if (len && !x->hard)
		assert_int_equal(archive_write_data(t->a, x->data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

/* Finishes the archive; returns an fd at offset 0 (caller closes). */
static int tb_finish(struct tb *t)
{
	int fd = t->fd;
	assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
	archive_write_free(t->a);
	free(t);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static int unpack_ents(const char *dest, int format, int filter, const struct ent *ents, size_t n,
		       const struct img_unpack_opts *o, struct err *err)
{
	struct tb *t = tb_new(format, filter);
	int fd, r;

	for (size_t i = 0; i < n; i++)
		tb_add(t, &ents[i]);
	fd = tb_finish(t);
	r = img_unpack_fd(fd, IMG_COMP_NONE, dest, o, err);
	if (r < 0)
		fprintf(stderr, "# unpack: %s\n", err->msg);
	close(fd);
	return r;
}

/* ---- fixture: parent/{dest/, victim, victimdir/} ---- */

struct fx {
	char parent[64];
	char dest[128];
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	strcpy(f->parent, "/tmp/coop-unpack-XXXXXX");
	assert_non_null(mkdtemp(f->parent));
	snprintf(f->dest, sizeof(f->dest), "%s/dest", f->parent);
	assert_int_equal(mkdir(f->dest, 0755), 0);
	_cleanup_free_ char *victim = xasprintf("%s/victim", f->parent);
	_cleanup_free_ char *vdir = xasprintf("%s/victimdir", f->parent);
	struct err err = {0};
	assert_int_equal(fs_write_atomic(victim, "original", 8, 0644, &err), 0);
	assert_int_equal(mkdir(vdir, 0755), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	fs_rm_rf(f->parent, &err);
	free(f);
	return 0;
}

static const char *walk_dest;
static int walk_bad;

static int walk_cb(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	size_t n = strlen(walk_dest);
	const char *base = p + ftw->base;

	if (ftw->level == 0 || (strncmp(p, walk_dest, n) == 0 && (p[n] == '\0' || p[n] == '/')))
		return 0;
	if (ftw->level == 1 && (streq(base, "victim") || streq(base, "victimdir")))
		return 0;
	fprintf(stderr, "outside dest: %s\n", p);
	walk_bad++;
	return 0;
}

/* Nothing outside dest changed. */
static void assert_contained(struct fx *f)
{
	struct err err = {0};
	_cleanup_free_ char *victim = xasprintf("%s/victim", f->parent);
	_cleanup_free_ char *s = NULL;
	struct stat st;

	walk_dest = f->dest;
	walk_bad = 0;
	assert_int_equal(nftw(f->parent, walk_cb, 16, FTW_PHYS), 0);
	assert_int_equal(walk_bad, 0);
	assert_int_equal(fs_read(victim, &s, &err), 0);
	assert_string_equal(s, "original");
	assert_int_equal(lstat(victim, &st), 0);
	assert_int_equal(st.st_nlink, 1); /* no hard link to it from inside */
	assert_int_equal(st.st_mode & 07777, 0644);
	_cleanup_free_ char *vdir = xasprintf("%s/victimdir", f->parent);
	assert_int_equal(lstat(vdir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_nlink, 2); /* nothing made inside it */
}

static void dstat(struct fx *f, const char *rel, struct stat *st)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", f->dest, rel);
	assert_int_equal(lstat(p, st), 0);
}

static bool dexists(struct fx *f, const char *rel)
{
	struct stat st;
	_cleanup_free_ char *p = xasprintf("%s/%s", f->dest, rel);
	return lstat(p, &st) == 0;
}

static const struct img_unpack_opts owners = {.set_owners = true, .what = "layer 1/1"};

/* ---- tests ---- */

static void test_basic(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	struct stat st;
	char buf[64];
	_cleanup_free_ char *p = NULL;
	const struct ent ents[] = {
	    {.path = "etc/", .type = AE_IFDIR, .perm = 0750, .mtime = 1111},
	    {.path = "etc/passwd",
	     .perm = 0640,
	     .uid = 1,
	     .gid = 2,
	     .data = "root:x:0:0::/:/bin/sh\n",
	     .mtime = 2222},
	    {.path = "./etc/hl", .hard = "etc/passwd"},
	    {.path = "bin/sh", .type = AE_IFLNK, .link = "busybox", .uid = 3, .gid = 4},
	    {.path = "run/fifo", .type = AE_IFIFO, .perm = 0600},
	    {.path = "usr/bin/su", .perm = 04755, .uid = 0, .data = "x"},
	    {.path = "x", .data = "first"},
	    {.path = "x", .data = "second"},
	    {.path = "sub/", .type = AE_IFDIR, .perm = 01777, .mtime = 3333},
	    {.path = "sub/f", .data = "f", .xattr = "user.test=hello"},
	};

	assert_int_equal(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
				     ARCHIVE_FILTER_NONE, ents, ARRAY_SIZE(ents), &owners, &err),
			 0);
	dstat(f, "etc", &st);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(st.st_mtime, 1111);
	dstat(f, "etc/passwd", &st);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, 1);
	assert_int_equal(st.st_gid, 2);
	assert_int_equal(st.st_mtime, 2222);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(st.st_size, 22);
	dstat(f, "bin/sh", &st);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_uid, 3);
	p = xasprintf("%s/bin/sh", f->dest);
	assert_int_equal(readlink(p, buf, sizeof(buf)), 7);
	dstat(f, "bin", &st);
	assert_int_equal(st.st_mode & 07777, 0755);
	dstat(f, "run/fifo", &st);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	dstat(f, "usr/bin/su", &st);
	assert_int_equal(st.st_mode & 07777, 04755);
	dstat(f, "x", &st);
	assert_int_equal(st.st_size, 6);
	dstat(f, "sub", &st);
	assert_int_equal(st.st_mode & 07777, 01777);
	assert_int_equal(st.st_mtime, 3333);
	free(p);
	p = xasprintf("%s/sub/f", f->dest);
	ssize_t n = getxattr(p, "user.test", buf, sizeof(buf));
	if (n >= 0) /* tmpfs before 6.6 has no user xattrs */
		assert_memory_equal(buf, "hello", 5);
	assert_contained(f);
}

static void test_long_names(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	char longdir[220], longpath[512], longlink[400];
	struct stat st;
	int formats[] = {ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FORMAT_TAR_GNUTAR};

	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[sizeof(longdir) - 1] = '\0';
	memset(longlink, 'l', sizeof(longlink) - 1);
	longlink[sizeof(longlink) - 1] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		snprintf(longpath, sizeof(longpath), "%s/%zu%s", longdir, i, longdir);
		const struct ent ents[] = {
		    {.path = longpath, .data = "long"},
		    {.path = "ln", .type = AE_IFLNK, .link = longlink},
		};
		assert_int_equal(
		    unpack_ents(f->dest, formats[i], ARCHIVE_FILTER_NONE, ents, 2, &owners, &err),
		    0);
		dstat(f, longpath, &st);
		assert_int_equal(st.st_size, 4);
		dstat(f, "ln", &st);
		assert_int_equal(st.st_size, (off_t)strlen(longlink));
	}
	assert_contained(f);
}

static void test_compression(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	int filters[] = {ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_ZSTD};
	struct stat st;

	for (size_t i = 0; i < ARRAY_SIZE(filters); i++) {
		_cleanup_free_ char *name = xasprintf("f%zu", i);
		const struct ent ents[] = {{.path = name, .data = "compressed"}};
		assert_int_equal(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_USTAR, filters[i], ents, 1,
					     &owners, &err),
				 0);
		dstat(f, name, &st);
		assert_int_equal(st.st_size, 10);
	}
}

static void assert_whiteout(struct fx *f, const char *rel)
{
	struct stat st;
	dstat(f, rel, &st);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
}

static void assert_opaque(struct fx *f, const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", f->dest, rel);
	char v[4];
	assert_int_equal(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
	assert_int_equal(v[0], 'y');
}

static void test_whiteouts(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	struct stat st;
	const struct ent ents[] = {
	    {.path = ".wh.gone"},
	    /* whiteouts before their parent's own entry, and without one at all */
	    {.path = "a/b/.wh.x"},
	    {.path = "a/", .type = AE_IFDIR, .perm = 0700, .mtime = 4444},
	    {.path = "o/.wh..wh..opq"},
	    {.path = "o/keep", .data = "k"},
	    {.path = "o/", .type = AE_IFDIR, .perm = 0711, .mtime = 5555},
	    {.path = "p/q/.wh..wh..opq"},
	    {.path = ".wh..wh.plnk/123", .data = "aufs"},
	    {.path = "r/.wh..wh..opq"},
	    /* a file, then its own whiteout in the same layer: the later one wins */
	    {.path = "z", .data = "z"},
	    {.path = ".wh.z"},
	};

	assert_int_equal(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
				     ARCHIVE_FILTER_NONE, ents, ARRAY_SIZE(ents), &owners, &err),
			 0);
	assert_whiteout(f, "gone");
	assert_whiteout(f, "a/b/x");
	assert_whiteout(f, "z");
	assert_false(dexists(f, ".wh.gone"));
	dstat(f, "a", &st);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_mtime, 4444);
	dstat(f, "a/b", &st);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_opaque(f, "o");
	assert_opaque(f, "p/q");
	assert_opaque(f, "r");
	assert_true(dexists(f, "o/keep"));
	assert_false(dexists(f, "o/.wh..wh..opq"));
	dstat(f, "o", &st);
	assert_int_equal(st.st_mode & 07777, 0711);
	assert_int_equal(st.st_mtime, 5555);
	assert_false(dexists(f, ".wh..wh.plnk"));
	assert_contained(f);
}

static void test_overlay_xattrs_dropped(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *p = xasprintf("%s/d", f->dest);
	char v[64];
	const struct ent ents[] = {
	    {.path = "d/", .type = AE_IFDIR, .xattr = "trusted.overlay.redirect=/etc"},
	};

	assert_int_equal(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
				     ARCHIVE_FILTER_NONE, ents, 1, &owners, &err),
			 0);
	assert_true(getxattr(p, "trusted.overlay.redirect", v, sizeof(v)) < 0);
}

/* Each escape attempt either fails with a message naming the layer and the entry, or
 * lands inside dest. */
static void test_escapes(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	_cleanup_free_ char *victim = xasprintf("%s/victim", f->parent);
	_cleanup_free_ char *vdir = xasprintf("%s/victimdir", f->parent);
	_cleanup_free_ char *inside = NULL;
	struct stat st;

	{
		const struct ent e[] = {{.path = "../x", .data = "x"}};
		assert_true(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
					ARCHIVE_FILTER_NONE, e, 1, &owners, &err) < 0);
		assert_string_equal(err.msg, "layer 1/1: entry '../x' escapes the layer");
	}
	{
		const struct ent e[] = {{.path = "a/../../victim", .data = "pwned"}};
		assert_true(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
					ARCHIVE_FILTER_NONE, e, 1, &owners, &err) < 0);
		assert_non_null(strstr(err.msg, "escapes the layer"));
	}
	{
		const struct ent e[] = {{.path = "a/../b", .data = "folded"}};
		assert_int_equal(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
					     ARCHIVE_FILTER_NONE, e, 1, &owners, &err),
				 0);
		assert_true(dexists(f, "b"));
	}
	{
		/* absolute names are relative to the layer root */
		inside = xasprintf("%s", victim);
		const struct ent e[] = {{.path = inside, .data = "pwned"}};
		assert_int_equal(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
					     ARCHIVE_FILTER_NONE, e, 1, &owners, &err),
				 0);
		assert_true(dexists(f, inside + 1));
	}
	{
		/* a symlink to the outside, then a file through it: resolved inside dest,
		 * where the target does not exist */
		const struct ent e[] = {
		    {.path = "evil", .type = AE_IFLNK, .link = vdir},
		    {.path = "evil/x", .data = "pwned"},
		};
		assert_true(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
					ARCHIVE_FILTER_NONE, e, 2, &owners, &err) < 0);
		assert_non_null(strstr(err.msg, "entry 'evil/x'"));
	}
	{
		const struct ent e[] = {
		    {.path = "rel", .type = AE_IFLNK, .link = "../victimdir"},
		    {.path = "rel/y", .data = "pwned"},
		};
		assert_true(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
					ARCHIVE_FILTER_NONE, e, 2, &owners, &err) < 0);
	}
	{
		/* ... and where it does exist inside, the file lands there */
		_cleanup_free_ char *in = xasprintf("%s/x", vdir + 1);
		const struct ent e[] = {
		    {.path = vdir, .type = AE_IFDIR},
		    {.path = "evil2", .type = AE_IFLNK, .link = vdir},
		    {.path = "evil2/x", .data = "pwned"},
		    {.path = "up", .type = AE_IFLNK, .link = "../../.."},
		    {.path = "up/victim", .data = "pwned"},
		};
		assert_int_equal(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
					     ARCHIVE_FILTER_NONE, e, ARRAY_SIZE(e), &owners, &err),
				 0);
		assert_true(dexists(f, in));
		assert_true(dexists(f, "victim"));
	}
	{
		/* replacing a symlink to the outside replaces the link, not its target */
		const struct ent e[] = {
		    {.path = "s", .type = AE_IFLNK, .link = victim},
		    {.path = "s", .data = "pwned"},
		    {.path = "sd", .type = AE_IFLNK, .link = vdir},
		    {.path = "sd", .type = AE_IFDIR, .perm = 0700},
		    {.path = "sw", .type = AE_IFLNK, .link = vdir},
		    {.path = "sw/.wh..wh..opq"},
		    {.path = "sw/.wh.gone"},
		};
		assert_int_equal(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
					     ARCHIVE_FILTER_NONE, e, ARRAY_SIZE(e), &owners, &err),
				 0);
		dstat(f, "s", &st);
		assert_true(S_ISREG(st.st_mode));
		dstat(f, "sd", &st);
		assert_true(S_ISDIR(st.st_mode));
	}
	{
		/* implicit parents below a symlink to the outside: never created there */
		const struct ent e[] = {
		    {.path = "sv", .type = AE_IFLNK, .link = vdir},
		    {.path = "sv/new/.wh.y"},
		    {.path = "sv2", .type = AE_IFLNK, .link = "../victimdir"},
		    {.path = "sv2/new/f", .data = "pwned"},
		};
		unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, e,
			    ARRAY_SIZE(e), &owners, &err);
	}
	{
		const struct ent e[] = {{.path = "hl", .hard = "../../victim"}};
		assert_true(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
					ARCHIVE_FILTER_NONE, e, 1, &owners, &err) < 0);
		assert_non_null(strstr(err.msg, "entry 'hl'"));
		assert_non_null(strstr(err.msg, "escapes the layer"));
	}
	{
		/* a hard link through a symlink to the outside resolves inside dest (to the
		 * copy an earlier case put there), never to the real victim */
		const struct ent e[] = {
		    {.path = "out", .type = AE_IFLNK, .link = f->parent},
		    {.path = "hl2", .hard = "out/victim"},
		};
		assert_int_equal(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
					     ARCHIVE_FILTER_NONE, e, 2, &owners, &err),
				 0);
		dstat(f, inside + 1, &st);
		assert_int_equal(st.st_nlink, 2);
	}
	{
		/* a hard link to a symlink links the symlink, never its target */
		const struct ent e[] = {
		    {.path = "ls", .type = AE_IFLNK, .link = victim},
		    {.path = "hl3", .hard = "ls"},
		};
		assert_int_equal(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
					     ARCHIVE_FILTER_NONE, e, 2, &owners, &err),
				 0);
		dstat(f, "hl3", &st);
		assert_true(S_ISLNK(st.st_mode));
	}
	assert_contained(f);
}

static void test_devices(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	struct img_unpack_opts o = {.set_owners = true, .what = "layer"};
	struct stat st;
	const struct ent e[] = {
	    {.path = "dev/null", .type = AE_IFCHR, .perm = 0666, .rdev = makedev(1, 3)},
	    {.path = "dev/sda", .type = AE_IFBLK, .perm = 0660, .rdev = makedev(8, 0)},
	};

	assert_int_equal(
	    unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, e, 2, &o, &err), 0);
	assert_false(dexists(f, "dev/null"));
	assert_false(dexists(f, "dev/sda"));
	o.allow_devices = true;
	assert_int_equal(
	    unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, e, 2, &o, &err), 0);
	dstat(f, "dev/null", &st);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(1, 3));
	assert_int_equal(st.st_mode & 07777, 0666);
	dstat(f, "dev/sda", &st);
	assert_true(S_ISBLK(st.st_mode));
}

/* A layer with no entries at all (Docker makes them for metadata-only steps). */
static void test_empty(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	char zeros[1024] = {0};
	int fd = memfd_create("empty", MFD_CLOEXEC);

	assert_int_equal(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(img_unpack_fd(fd, IMG_COMP_NONE, f->dest, &owners, &err), 0);
	close(fd);
	assert_int_equal(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
				     ARCHIVE_FILTER_GZIP, NULL, 0, &owners, &err),
			 0);
}

static void test_bad_input(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	int fd = memfd_create("junk", MFD_CLOEXEC);
	char junk[1024];
	char name[5000];

	memset(junk, 'j', sizeof(junk));
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	lseek(fd, 0, SEEK_SET);
	assert_true(img_unpack_fd(fd, IMG_COMP_GZIP, f->dest, &owners, &err) < 0);
	assert_non_null(strstr(err.msg, "layer 1/1: "));
	assert_null(strchr(err.msg, '\n'));
	close(fd);

	/* names are bytes: the error stays on one line */
	const struct ent nl[] = {{.path = "x\n/../../y", .data = "x"}};
	assert_true(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, nl,
				1, &owners, &err) < 0);
	assert_null(strchr(err.msg, '\n'));
	assert_non_null(strstr(err.msg, "'x?/../../y'"));

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	for (size_t i = 100; i < sizeof(name) - 1; i += 100)
		name[i] = '/';
	const struct ent e[] = {{.path = name, .data = "x"}};
	assert_true(unpack_ents(f->dest, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, e,
				1, &owners, &err) < 0);
	assert_non_null(strstr(err.msg, "longer than 4096"));
	assert_contained(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compression, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overlay_xattrs_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_devices, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
