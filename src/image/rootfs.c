/* rootfs: mounts an image as a container's root — overlayfs with the image's unpacked
 * layers as lower directories (the manifest's last layer on top) and a per-container
 * upper/work pair. The new mount API appends layers one by one (`lowerdir+`, Linux 6.8),
 * so no option page limits the depth; older kernels get mount(2) with short layer links
 * relative to the store root. COOP_OVERLAY_LEGACY=1 forces the latter (tests). */
#include <fcntl.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "base/fs.h"
#include "base/util.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/rootfs.h"

struct layers {
	char **shorts; /* manifest order: bottom first */
	size_t n;
};

static void layers_done(struct layers *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->shorts[i]);
	free(l->shorts);
}

static void manifest_freep(struct img_manifest **m)
{
	img_manifest_free(*m);
}

/* The manifest digest `name` stands for: a digest as is, else the reference (which
 * the store normalizes: "busybox" is docker.io/library/busybox:latest). */
static int resolve_manifest(struct img_store *st, const char *name, char **ret, struct err *err)
{
	int r;

	if (strncmp(name, "sha256:", 7) == 0) {
		if ((r = img_digest_validate(name, err)) < 0)
			return r;
		*ret = xstrdup(name);
		return 0;
	}
	return img_store_ref_get(st, name, NULL, ret, err);
}

static int load_manifest(struct img_store *st, const char *digest, struct img_manifest **ret,
			 struct err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r;

	if ((r = img_store_read_blob(st, digest, IMG_MANIFEST_MAX, &data, &len, err)) < 0)
		return r;
	return img_manifest_parse(data, len, NULL, ret, err);
}

/* The manifest for this machine: an index (a digest given by hand) picks the native
 * platform's entry. */
static int image_manifest(struct img_store *st, const char *name, struct img_manifest **ret,
			  struct err *err)
{
	_cleanup_free_ char *digest = NULL;
	_cleanup_(manifest_freep) struct img_manifest *m = NULL;
	const char *os, *arch, *variant;
	const struct img_descriptor *d;
	int r;

	if ((r = resolve_manifest(st, name, &digest, err)) < 0)
		return r;
	if ((r = load_manifest(st, digest, &m, err)) < 0)
		return err_wrap(err, "image '%s': manifest %s", name, digest);
	if (m->kind == IMG_KIND_INDEX) {
		img_platform_native(&os, &arch, &variant);
		if (!(d = img_index_select(m, os, arch, variant, err)))
			return err_wrap(err, "image '%s'", name);
		free(digest);
		digest = xstrdup(d->digest);
		img_manifest_free(take_ptr(m));
		if ((r = load_manifest(st, digest, &m, err)) < 0)
			return err_wrap(err, "image '%s': manifest %s", name, digest);
		if (m->kind != IMG_KIND_MANIFEST)
			return err_msg(err, EINVAL, "image '%s': index entry %s is not a manifest",
				       name, digest);
	}
	if (m->n_layers == 0)
		return err_msg(err, EINVAL, "image '%s' has no layers", name);
	*ret = take_ptr(m);
	return 0;
}

static int ensure_layers(struct img_store *st, const char *name, const struct img_manifest *m,
			 struct layers *l, struct err *err)
{
	l->shorts = xcalloc(m->n_layers, sizeof(char *));
	for (size_t i = 0; i < m->n_layers; i++) {
		const struct img_descriptor *d = &m->layers[i];
		_cleanup_free_ char *what =
		    xasprintf("image %s layer %zu/%zu %.19s", name, i + 1, m->n_layers, d->digest);
		int r = img_store_layer(st, d->digest, d->media_type, what, &l->shorts[i], err);
		if (r < 0)
			return r;
		l->n++;
	}
	return 0;
}

/* The kernel's own words on a failed fsconfig/fsmount ("e overlay: ..."). */
static const char *fs_log(int fsfd, char *buf, size_t size)
{
	ssize_t n = read(fsfd, buf, size - 1);
	if (n <= 2)
		return "";
	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return buf + 2;
}

static int fscfg(int fsfd, const char *key, const char *val, struct err *err)
{
	char log[256];
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, key, val, 0) == 0)
		return 0;
	int e = errno;
	const char *kmsg = fs_log(fsfd, log, sizeof(log));
	return err_sys(err, e, "overlay %s '%s'%s%s", key, val, *kmsg ? ": " : "", kmsg);
}

/* fsopen/fsconfig/fsmount/move_mount. -ENOSYS (returned without a message) when
 * this kernel lacks the API or `lowerdir+`: the caller falls back to mount(2). */
static int mount_new_api(const char *root, const struct layers *l, const char *upper,
			 const char *work, const char *target, bool ephemeral, struct err *err)
{
	_cleanup_close_ int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	_cleanup_close_ int mfd = -1;
	char log[256];
	int r;

	if (fsfd < 0)
		return errno == ENOSYS ? -ENOSYS : err_sys(err, errno, "fsopen overlay");
	for (size_t i = l->n; i-- > 0;) {
		_cleanup_free_ char *p = xasprintf("%s/%s", root, l->shorts[i]);
		if (i == l->n - 1 && fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", p, 0) < 0) {
			if (errno == EINVAL)
				return -ENOSYS; /* before Linux 6.8 */
			return err_sys(err, errno, "overlay lowerdir+ '%s'", p);
		}
		if (i != l->n - 1 && (r = fscfg(fsfd, "lowerdir+", p, err)) < 0)
			return r;
	}
	if ((r = fscfg(fsfd, "upperdir", upper, err)) < 0 ||
	    (r = fscfg(fsfd, "workdir", work, err)) < 0)
		return r;
	/* no sync of the upper filesystem, at its unmount either (a journal commit, ms on
	 * the end of every container's run): where the layer goes with the container.
	 * Before Linux 5.10 there is no such option: then without. */
	if (ephemeral)
		fsconfig(fsfd, FSCONFIG_SET_FLAG, "volatile", NULL, 0);
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		int e = errno;
		const char *kmsg = fs_log(fsfd, log, sizeof(log));
		return err_sys(err, e, "create overlay%s%s", *kmsg ? ": " : "", kmsg);
	}
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
	if (mfd < 0)
		return err_sys(err, errno, "fsmount overlay");
	if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return err_sys(err, errno, "mount overlay on '%s'", target);
	return 0;
}

/* mount(2): the options must fit a page, hence lower paths relative to the store
 * root, which needs the cwd there for the call (restored after). */
static int mount_legacy(const char *root, const struct layers *l, const char *upper,
			const char *work, const char *target, struct err *err)
{
	_cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *opts = NULL;
	size_t len = 0, cap = 64;
	int r = 0;

	if (strpbrk(upper, ",:") || strpbrk(work, ",:"))
		return err_msg(err, EINVAL, "overlay: container directory '%s' has ',' or ':'",
			       upper);
	for (size_t i = 0; i < l->n; i++)
		cap += strlen(l->shorts[i]) + 1;
	cap += strlen(upper) + strlen(work);
	opts = xmalloc(cap);
	len = (size_t)snprintf(opts, cap, "lowerdir=");
	for (size_t i = l->n; i-- > 0;)
		len += (size_t)snprintf(opts + len, cap - len, "%s%s", l->shorts[i], i ? ":" : "");
	len += (size_t)snprintf(opts + len, cap - len, ",upperdir=%s,workdir=%s", upper, work);
	if (len >= (size_t)sysconf(_SC_PAGESIZE))
		return err_msg(err, E2BIG, "overlay: %zu layers do not fit mount options", l->n);
	if (cwd < 0)
		return err_sys(err, errno, "open current directory");
	if (chdir(root) < 0)
		return err_sys(err, errno, "chdir '%s'", root);
	if (mount("overlay", target, "overlay", 0, opts) < 0)
		r = err_sys(err, errno, "mount overlay on '%s'", target);
	if (fchdir(cwd) < 0 && r == 0)
		r = err_sys(err, errno, "restore current directory");
	return r;
}

static int make_dirs(const char *container_dir, char **ret_upper, char **ret_work, struct err *err)
{
	_cleanup_free_ char *abs = NULL, *upper = NULL, *work = NULL;
	int r;

	if ((r = fs_mkdir_p(container_dir, 0755, err)) < 0)
		return r;
	if (!(abs = realpath(container_dir, NULL)))
		return err_sys(err, errno, "resolve '%s'", container_dir);
	upper = xasprintf("%s/upper", abs);
	work = xasprintf("%s/work", abs);
	if (mkdir(upper, 0755) < 0 && errno != EEXIST)
		return err_sys(err, errno, "mkdir '%s'", upper);
	if (mkdir(work, 0700) < 0 && errno != EEXIST)
		return err_sys(err, errno, "mkdir '%s'", work);
	*ret_upper = take_ptr(upper);
	*ret_work = take_ptr(work);
	return 0;
}

int img_rootfs_mount(struct img_store *st, const char *name, const char *container_dir,
		     const char *target, bool ephemeral, struct err *err)
{
	_cleanup_(manifest_freep) struct img_manifest *m = NULL;
	_cleanup_free_ char *upper = NULL, *work = NULL, *root = NULL, *tgt = NULL;
	struct layers l = {0};
	int r;

	if ((r = image_manifest(st, name, &m, err)) < 0)
		return r;
	if ((r = ensure_layers(st, name, m, &l, err)) < 0)
		goto out;
	if ((r = make_dirs(container_dir, &upper, &work, err)) < 0)
		goto out;
	if (!(root = realpath(img_store_root(st), NULL))) {
		r = err_sys(err, errno, "resolve store root '%s'", img_store_root(st));
		goto out;
	}
	if (!(tgt = realpath(target, NULL))) {
		r = err_sys(err, errno, "resolve mount target '%s'", target);
		goto out;
	}
	if (ephemeral) { /* a volatile mount's mark: overlay refuses the dirs again with it */
		_cleanup_free_ char *mark = xasprintf("%s/work/incompat", work);
		fs_rm_rf(mark, NULL);
	}
	r = -ENOSYS;
	if (!getenv("COOP_OVERLAY_LEGACY"))
		r = mount_new_api(root, &l, upper, work, tgt, ephemeral, err);
	if (r == -ENOSYS)
		r = mount_legacy(root, &l, upper, work, tgt, err);
	if (r < 0)
		err_wrap(err, "image '%s'", name);
out:
	layers_done(&l);
	return r;
}

int img_rootfs_umount(const char *target, struct err *err)
{
	if (umount2(target, MNT_DETACH) < 0)
		return err_sys(err, errno, "unmount '%s'", target);
	return 0;
}
