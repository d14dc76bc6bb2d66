/* archive: images in and out of files. Import reads a docker-save tar or an OCI layout
 * (a directory, or a tar of one unpacked safely into a temp dir first), copies every
 * blob into the store verified, unpacks the layers and names the images; a plain rootfs
 * tarball becomes a one-layer image. Save writes either format as a pax tar. Paths
 * inside an archive are opened with openat2(RESOLVE_IN_ROOT): its symlinks stay in it. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "base/dl_archive.h"
#include "base/fs.h"
#include "base/js.h"
#include "base/util.h"
#include "image/archive.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/ref.h"
#include "image/unpack.h"

#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
#define CONFIG_MAX (32u << 20)
#define FIXED_CREATED "1970-01-01T00:00:00Z"
#define BUFSZ (1 << 16)

static void manifest_freep(struct img_manifest **m)
{
	img_manifest_free(*m);
}

static void config_freep(struct img_config **c)
{
	img_config_free(*c);
}

/* ---- reading an image directory ---- */

static int open_in(int root, const char *rel, struct err *err)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = IN_ROOT};
	int fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
	return fd >= 0 ? fd : err_sys(err, errno, "open '%s'", rel);
}

static bool exists_in(int root, const char *rel)
{
	struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = IN_ROOT};
	int fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int read_fd_max(int fd, const char *rel, size_t max, char **ret, size_t *ret_len,
		       struct err *err)
{
	size_t len = 0, cap = 4096;
	_cleanup_free_ char *buf = xmalloc(cap + 1);

	for (;;) {
		ssize_t n;
		if (len == cap) {
			if (cap > max)
				return err_msg(err, EFBIG, "'%s' is larger than %zu bytes", rel,
					       max);
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, errno, "read '%s'", rel);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max)
		return err_msg(err, EFBIG, "'%s' is larger than %zu bytes", rel, max);
	buf[len] = '\0';
	*ret = take_ptr(buf);
	*ret_len = len;
	return 0;
}

static int read_in(int root, const char *rel, size_t max, char **ret, size_t *ret_len,
		   struct err *err)
{
	_cleanup_close_ int fd = open_in(root, rel, err);
	if (fd < 0)
		return fd;
	return read_fd_max(fd, rel, max, ret, ret_len, err);
}

static int load_json_in(int root, const char *rel, json_t **ret, struct err *err)
{
	_cleanup_free_ char *s = NULL;
	size_t len;
	int r;

	if ((r = read_in(root, rel, IMG_MANIFEST_MAX, &s, &len, err)) < 0)
		return r;
	return js_load_string(rel, s, ret, err);
}

static char *blob_rel(const char *digest)
{
	return xasprintf("blobs/sha256/%s", img_digest_hex(digest));
}

/* Streams a file into the store; digest NULL = computed first. The store verifies. */
static int copy_blob(struct img_store *st, int fd, const char *digest, char **ret_digest,
		     struct err *err)
{
	char d[IMG_DIGEST_LEN + 1];
	_cleanup_free_ char *buf = NULL;
	struct img_ingest *in = NULL;
	struct stat sb;
	bool exists = false;
	off_t off = 0;
	int r;

	if (!digest) {
		if ((r = img_digest_file(fd, d, err)) < 0)
			return r;
		digest = d;
	}
	if (fstat(fd, &sb) < 0)
		return err_sys(err, errno, "stat blob %s", digest);
	if ((r = img_ingest_begin(st, digest, sb.st_size, &in, &exists, err)) < 0)
		return r;
	if (!exists && img_ingest_offset(in) > 0 && (r = img_ingest_reset(in, err)) < 0)
		goto fail;
	buf = xmalloc(BUFSZ);
	while (!exists) {
		ssize_t n = pread(fd, buf, BUFSZ, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_sys(err, errno, "read blob %s", digest);
			goto fail;
		}
		if (n == 0)
			break;
		if ((r = img_ingest_write(in, buf, (size_t)n, err)) < 0)
			goto fail;
		off += n;
	}
	if (!exists && (r = img_ingest_commit(in, err)) < 0)
		return r;
	if (ret_digest)
		*ret_digest = xstrdup(digest);
	return 0;
fail:
	img_ingest_abort(in, false);
	return r;
}

/* Reads a compressed (or plain) stream and writes its decompressed bytes to out (-1:
 * nowhere), hashing them: a layer's diff_id. */
static int decompress(int in, int out, char digest[IMG_DIGEST_LEN + 1], int64_t *ret_size,
		      struct err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct img_hasher *h = img_hasher_new();
	int64_t total = 0;
	const void *buf;
	size_t len;
	la_int64_t off;
	int r = 0, ar;

	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (lseek(in, 0, SEEK_SET) < 0 || archive_read_open_fd(a, in, BUFSZ) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		r = err_msg(err, EINVAL, "read: %s",
			    archive_error_string(a) ? archive_error_string(a) : "empty input");
		goto out;
	}
	while ((ar = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		img_hasher_update(h, buf, len);
		total += (int64_t)len;
		for (const char *p = buf; out >= 0 && len > 0;) {
			ssize_t n = write(out, p, len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r = err_sys(err, errno, "write decompressed data");
				goto out;
			}
			p += n;
			len -= (size_t)n;
		}
	}
	if (ar != ARCHIVE_EOF)
		r = err_msg(err, EIO, "decompress: %s", archive_error_string(a));
out:
	archive_read_free(a);
	if (r < 0) {
		img_hasher_free(h);
		return r;
	}
	img_hasher_final(h, digest);
	if (ret_size)
		*ret_size = total;
	return 0;
}

static int sniff_compression(int fd, enum img_compression *ret, struct err *err)
{
	unsigned char m[4] = {0};
	ssize_t n = pread(fd, m, sizeof(m), 0);

	if (n < 0)
		return err_sys(err, errno, "read layer");
	if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
		*ret = IMG_COMP_GZIP;
	else if (n == 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
		*ret = IMG_COMP_ZSTD;
	else
		*ret = IMG_COMP_NONE;
	return 0;
}

static const char *layer_media_type(enum img_compression c)
{
	return c == IMG_COMP_GZIP   ? IMG_MT_OCI_LAYER_GZIP
	       : c == IMG_COMP_ZSTD ? IMG_MT_OCI_LAYER_ZSTD
				    : IMG_MT_OCI_LAYER;
}

/* Unpacks every layer of a manifest already in the store. */
static int unpack_layers(struct img_store *st, const char *label, const struct img_manifest *m,
			 struct err *err)
{
	for (size_t i = 0; i < m->n_layers; i++) {
		_cleanup_free_ char *what = xasprintf("image %s layer %zu/%zu %.19s", label, i + 1,
						      m->n_layers, m->layers[i].digest);
		_cleanup_free_ char *s = NULL;
		int r = img_store_layer(st, m->layers[i].digest, m->layers[i].media_type, what, &s,
					err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Names the image: the ref, and its normalized form in the list returned. */
static int name_image(struct img_store *st, const char *name, const char *target,
		      const char *manifest, char ***names, struct err *err)
{
	struct img_ref ref;
	int r;

	if ((r = img_ref_parse(name, &ref, err)) < 0)
		return r;
	_cleanup_free_ char *s = img_ref_string(&ref);
	img_ref_free(&ref);
	if ((r = img_store_ref_set(st, s, target, manifest, err)) < 0)
		return r;
	*names = strv_append(*names, s);
	return 0;
}

/* ---- OCI layouts ---- */

static int oci_manifest(struct img_store *st, int root, const char *digest, const char *mt,
			const char *label, struct err *err)
{
	_cleanup_free_ char *rel = blob_rel(digest), *data = NULL, *crel = NULL, *cdata = NULL;
	_cleanup_(manifest_freep) struct img_manifest *m = NULL;
	size_t len, clen;
	int r;

	if ((r = read_in(root, rel, IMG_MANIFEST_MAX, &data, &len, err)) < 0 ||
	    (r = img_store_put_blob(st, digest, data, len, NULL, err)) < 0 ||
	    (r = img_manifest_parse(data, len, mt, &m, err)) < 0)
		return r;
	if (m->kind != IMG_KIND_MANIFEST)
		return err_msg(err, EINVAL, "%s: nested index", digest);
	crel = blob_rel(m->config.digest);
	if ((r = read_in(root, crel, CONFIG_MAX, &cdata, &clen, err)) < 0 ||
	    (r = img_store_put_blob(st, m->config.digest, cdata, clen, NULL, err)) < 0)
		return r;
	for (size_t i = 0; i < m->n_layers; i++) {
		_cleanup_free_ char *lrel = blob_rel(m->layers[i].digest);
		_cleanup_close_ int fd = open_in(root, lrel, err);
		if (fd < 0)
			return fd;
		if ((r = copy_blob(st, fd, m->layers[i].digest, NULL, err)) < 0)
			return err_wrap(err, "layer %zu/%zu", i + 1, m->n_layers);
	}
	return unpack_layers(st, label, m, err);
}

/* An index.json entry: a manifest, or an index whose native platform entry we take. */
static int oci_entry(struct img_store *st, int root, const char *digest, const char *mt,
		     const char *label, char **ret_manifest, struct err *err)
{
	_cleanup_free_ char *rel = blob_rel(digest), *data = NULL;
	_cleanup_(manifest_freep) struct img_manifest *m = NULL;
	const char *os, *arch, *variant;
	const struct img_descriptor *d;
	size_t len;
	int r;

	if ((r = read_in(root, rel, IMG_MANIFEST_MAX, &data, &len, err)) < 0 ||
	    (r = img_manifest_parse(data, len, mt, &m, err)) < 0)
		return r;
	if (m->kind == IMG_KIND_MANIFEST) {
		if ((r = oci_manifest(st, root, digest, m->media_type, label, err)) < 0)
			return r;
		*ret_manifest = xstrdup(digest);
		return 0;
	}
	if ((r = img_store_put_blob(st, digest, data, len, NULL, err)) < 0)
		return r;
	img_platform_native(&os, &arch, &variant);
	if (!(d = img_index_select(m, os, arch, variant, err)))
		return -err->code;
	if ((r = oci_manifest(st, root, d->digest, d->media_type, label, err)) < 0)
		return r;
	*ret_manifest = xstrdup(d->digest);
	return 0;
}

/* The name an index.json entry carries: containerd's full name, else the OCI ref.name. */
static const char *oci_entry_name(json_t *ent)
{
	json_t *ann = json_object_get(ent, "annotations");
	const char *s = json_string_value(json_object_get(ann, "io.containerd.image.name"));
	return s ? s : json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
}

static int oci_import(struct img_store *st, int root, const char *name, char ***names,
		      struct err *err)
{
	_cleanup_json_ json_t *idx = NULL;
	json_t *mans, *ent;
	size_t i;
	int r;

	if ((r = load_json_in(root, "index.json", &idx, err)) < 0)
		return r;
	if ((r = js_get(idx, "index.json", "manifests", JSON_ARRAY, true, &mans, err)) < 0)
		return r;
	if (json_array_size(mans) == 0)
		return err_msg(err, EINVAL, "index.json: no images");
	if (name && json_array_size(mans) != 1)
		return err_msg(err, EINVAL, "a name was given but the layout holds %zu images",
			       json_array_size(mans));
	json_array_foreach(mans, i, ent)
	{
		_cleanup_free_ char *path = js_index("index.json.manifests", i), *digest = NULL,
				    *mt = NULL, *manifest = NULL;
		const char *n = name ? name : oci_entry_name(ent);

		if ((r = js_str(ent, path, "digest", true, &digest, err)) < 0 ||
		    (r = js_str(ent, path, "mediaType", false, &mt, err)) < 0)
			return r;
		if ((r = img_digest_validate(digest, err)) < 0)
			return err_wrap(err, "%s.digest", path);
		if ((r = oci_entry(st, root, digest, mt, n ? n : digest, &manifest, err)) < 0)
			return err_wrap(err, "image %s", n ? n : digest);
		if (n && (r = name_image(st, n, digest, manifest, names, err)) < 0)
			return r;
		if (!n)
			*names = strv_append(*names, digest);
	}
	return 0;
}

/* ---- docker-save archives ---- */

/* A docker-save layer: stored as it is, checked against the config's diff_id. */
static int docker_layer(struct img_store *st, int root, const char *rel, const char *diff_id,
			json_t *layers, struct err *err)
{
	_cleanup_close_ int fd = open_in(root, rel, err);
	char blob[IMG_DIGEST_LEN + 1], diff[IMG_DIGEST_LEN + 1];
	enum img_compression comp;
	struct stat sb;
	int r;

	if (fd < 0)
		return fd;
	if ((r = sniff_compression(fd, &comp, err)) < 0 || (r = img_digest_file(fd, blob, err)) < 0)
		return r;
	if (comp == IMG_COMP_NONE)
		memcpy(diff, blob, sizeof(diff));
	else if ((r = decompress(fd, -1, diff, NULL, err)) < 0)
		return err_wrap(err, "'%s'", rel);
	if (!streq(diff, diff_id))
		return err_msg(err, EINVAL, "'%s' has digest %s but the config's diff_id is %s",
			       rel, diff, diff_id);
	if ((r = copy_blob(st, fd, blob, NULL, err)) < 0)
		return r;
	if (fstat(fd, &sb) < 0)
		return err_sys(err, errno, "stat '%s'", rel);
	json_array_append_new(layers,
			      json_pack("{s:s,s:s,s:I}", "mediaType", layer_media_type(comp),
					"digest", blob, "size", (json_int_t)sb.st_size));
	return 0;
}

/* One manifest.json entry: config and layers into the store, an OCI manifest made up
 * for them. */
static int docker_image(struct img_store *st, int root, json_t *ent, const char *path,
			const char *label, char **ret_manifest, struct err *err)
{
	_cleanup_free_ char *cfg_rel = NULL, *cdata = NULL, *cdigest = NULL, *mdigest = NULL;
	_cleanup_free_ char *mtext = NULL;
	_cleanup_strv_ char **lrels = NULL;
	_cleanup_(config_freep) struct img_config *c = NULL;
	_cleanup_json_ json_t *layers = json_array(), *man = NULL;
	_cleanup_(manifest_freep) struct img_manifest *m = NULL;
	size_t clen, n;
	int r;

	if ((r = js_str(ent, path, "Config", true, &cfg_rel, err)) < 0 ||
	    (r = js_strv(ent, path, "Layers", true, &lrels, err)) < 0)
		return r;
	if ((r = read_in(root, cfg_rel, CONFIG_MAX, &cdata, &clen, err)) < 0 ||
	    (r = img_config_parse(cdata, clen, &c, err)) < 0)
		return err_wrap(err, "config '%s'", cfg_rel);
	n = strv_len(lrels);
	if (n != c->n_diff_ids)
		return err_msg(err, EINVAL, "%zu layers but the config lists %zu diff_ids", n,
			       c->n_diff_ids);
	if ((r = img_store_put_blob(st, NULL, cdata, clen, &cdigest, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if ((r = docker_layer(st, root, lrels[i], c->diff_ids[i], layers, err)) < 0)
			return err_wrap(err, "layer %zu/%zu", i + 1, n);
	man = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:O}", "schemaVersion", 2, "mediaType",
			IMG_MT_OCI_MANIFEST, "config", "mediaType", IMG_MT_OCI_CONFIG, "digest",
			cdigest, "size", (json_int_t)clen, "layers", layers);
	mtext = json_dumps(man, JSON_COMPACT);
	if ((r = img_store_put_blob(st, NULL, mtext, strlen(mtext), &mdigest, err)) < 0 ||
	    (r = img_manifest_parse(mtext, strlen(mtext), IMG_MT_OCI_MANIFEST, &m, err)) < 0 ||
	    (r = unpack_layers(st, label, m, err)) < 0)
		return r;
	*ret_manifest = take_ptr(mdigest);
	return 0;
}

static int docker_import(struct img_store *st, int root, const char *name, char ***names,
			 struct err *err)
{
	_cleanup_json_ json_t *doc = NULL;
	json_t *ent;
	size_t i;
	int r;

	if ((r = load_json_in(root, "manifest.json", &doc, err)) < 0)
		return r;
	if (!json_is_array(doc) || json_array_size(doc) == 0)
		return err_msg(err, EINVAL, "manifest.json: expected a non-empty array");
	if (name && json_array_size(doc) != 1)
		return err_msg(err, EINVAL, "a name was given but the archive holds %zu images",
			       json_array_size(doc));
	json_array_foreach(doc, i, ent)
	{
		_cleanup_free_ char *path = js_index("manifest.json", i), *manifest = NULL;
		_cleanup_strv_ char **tags = NULL;

		if (!json_is_object(ent))
			return err_msg(err, EINVAL, "%s: expected an object", path);
		if ((r = js_strv(ent, path, "RepoTags", false, &tags, err)) < 0)
			return r;
		if (name) {
			strv_free(tags);
			tags = strv_append(NULL, name);
		}
		if ((r = docker_image(st, root, ent, path, tags && tags[0] ? tags[0] : path,
				      &manifest, err)) < 0)
			return err_wrap(err, "image %s", tags && tags[0] ? tags[0] : path);
		for (size_t t = 0; tags && tags[t]; t++)
			if ((r = name_image(st, tags[t], manifest, manifest, names, err)) < 0)
				return r;
		if (!tags || !tags[0])
			*names = strv_append(*names, manifest);
	}
	return 0;
}

/* ---- import ---- */

/* Names from an archive are its bytes: the one-line error must stay one line. */
static int err_printable(struct err *err, int r)
{
	for (char *c = err->msg; r < 0 && *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return r;
}

static const char *tmp_base(void)
{
	const char *t = getenv("TMPDIR");
	return t && *t ? t : "/var/tmp";
}

/* A tar (of either kind) unpacked into a private temp dir, safely. */
static int unpack_archive(const char *path, char **ret_tmp, struct err *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s/coop-import-XXXXXX", tmp_base());
	_cleanup_free_ char *what = NULL, *dest = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct img_unpack_opts o = {0};
	int r;

	if (fd < 0)
		return err_sys(err, errno, "open '%s'", path);
	if (!mkdtemp(tmp))
		return err_sys(err, errno, "create a temp dir in '%s'", tmp_base());
	what = xstrdup("archive");
	dest = xasprintf("%s/root", tmp);
	o.what = what;
	if (mkdir(dest, 0700) < 0)
		r = err_sys(err, errno, "mkdir '%s'", dest);
	else
		r = img_unpack_fd(fd, IMG_COMP_NONE, dest, &o, err);
	if (r < 0) {
		fs_rm_rf(tmp, NULL);
		return r;
	}
	*ret_tmp = take_ptr(tmp);
	return 0;
}

static int import_root(struct img_store *st, int root, const char *path, const char *name,
		       char ***names, struct err *err)
{
	int r;

	if (exists_in(root, "manifest.json"))
		r = docker_import(st, root, name, names, err);
	else if (exists_in(root, "index.json") && exists_in(root, "oci-layout"))
		r = oci_import(st, root, name, names, err);
	else
		return err_msg(err, EINVAL,
			       "import '%s': neither a docker-save archive (manifest.json) nor an "
			       "OCI layout (oci-layout, index.json)",
			       path);
	return r < 0 ? err_printable(err, err_wrap(err, "import '%s'", path)) : 0;
}

int img_import(struct img_store *st, const char *path, const char *name, char ***ret_names,
	       struct err *err)
{
	_cleanup_free_ char *tmp = NULL, *rootp = NULL;
	_cleanup_close_ int root = -1;
	_cleanup_strv_ char **names = NULL;
	struct stat sb;
	int r;

	if (stat(path, &sb) < 0)
		return err_sys(err, errno, "import '%s'", path);
	if (dl_load(&dl_archive, err) < 0)
		return err_wrap(err, "import '%s'", path);
	if (!S_ISDIR(sb.st_mode)) {
		if ((r = unpack_archive(path, &tmp, err)) < 0)
			return err_wrap(err, "import '%s'", path);
		rootp = xasprintf("%s/root", tmp);
	}
	root = open(rootp ? rootp : path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		r = err_sys(err, errno, "open '%s'", rootp ? rootp : path);
		goto out;
	}
	if ((r = img_store_hold(st, err)) < 0)
		goto out;
	r = import_root(st, root, path, name, &names, err);
	img_store_release(st);
	if (r == 0 && ret_names)
		*ret_names = take_ptr(names);
out:
	if (tmp)
		fs_rm_rf(tmp, NULL);
	return r;
}

/* ---- rootfs tarballs ---- */

static int tmpfile_fd(struct err *err)
{
	int fd = open(tmp_base(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		_cleanup_free_ char *p = xasprintf("%s/coop-layer-XXXXXX", tmp_base());
		fd = mkostemp(p, O_CLOEXEC);
		if (fd < 0)
			return err_sys(err, errno, "create a temp file in '%s'", tmp_base());
		unlink(p);
	}
	return fd;
}

static json_t *rootfs_config(const char *diff_id)
{
	const char *os, *arch, *variant;
	json_t *c;

	img_platform_native(&os, &arch, &variant);
	c = json_pack("{s:s,s:s,s:s,s:{s:[s]},s:{s:s,s:[s]},s:[{s:s,s:s}]}", "created",
		      FIXED_CREATED, "architecture", arch, "os", os, "config", "Env",
		      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "rootfs",
		      "type", "layers", "diff_ids", diff_id, "history", "created", FIXED_CREATED,
		      "created_by", "coop image import");
	if (variant)
		json_object_set_new(c, "variant", json_string(variant));
	return c;
}

static int put_json(struct img_store *st, json_t *doc, char **ret_digest, size_t *ret_len,
		    struct err *err)
{
	_cleanup_free_ char *s = json_dumps(doc, JSON_COMPACT);
	if (!s)
		return err_msg(err, ENOMEM, "serialize JSON");
	*ret_len = strlen(s);
	return img_store_put_blob(st, NULL, s, *ret_len, ret_digest, err);
}

static int import_rootfs(struct img_store *st, const char *path, const char *name, struct err *err)
{
	_cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC), tmp = -1;
	_cleanup_free_ char *cdigest = NULL, *mdigest = NULL, *mtext = NULL;
	_cleanup_json_ json_t *cfg = NULL, *man = NULL;
	_cleanup_(manifest_freep) struct img_manifest *m = NULL;
	_cleanup_strv_ char **names = NULL;
	char diff[IMG_DIGEST_LEN + 1];
	int64_t size = 0;
	size_t clen = 0;
	int r;

	if (in < 0)
		return err_sys(err, errno, "open '%s'", path);
	if ((tmp = tmpfile_fd(err)) < 0)
		return tmp;
	/* stored uncompressed, byte for byte: the blob digest is the diff_id */
	if ((r = decompress(in, tmp, diff, &size, err)) < 0 ||
	    (r = copy_blob(st, tmp, diff, NULL, err)) < 0)
		return r;
	cfg = rootfs_config(diff);
	if ((r = put_json(st, cfg, &cdigest, &clen, err)) < 0)
		return r;
	man = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:[{s:s,s:s,s:I}]}", "schemaVersion", 2,
			"mediaType", IMG_MT_OCI_MANIFEST, "config", "mediaType", IMG_MT_OCI_CONFIG,
			"digest", cdigest, "size", (json_int_t)clen, "layers", "mediaType",
			IMG_MT_OCI_LAYER, "digest", diff, "size", (json_int_t)size);
	mtext = json_dumps(man, JSON_COMPACT);
	if ((r = img_store_put_blob(st, NULL, mtext, strlen(mtext), &mdigest, err)) < 0 ||
	    (r = img_manifest_parse(mtext, strlen(mtext), IMG_MT_OCI_MANIFEST, &m, err)) < 0 ||
	    (r = unpack_layers(st, name, m, err)) < 0)
		return r;
	return name_image(st, name, mdigest, mdigest, &names, err);
}

int img_import_rootfs(struct img_store *st, const char *path, const char *name, struct err *err)
{
	struct img_ref ref;
	int r;

	if (!name || !*name)
		return err_msg(err, EINVAL, "import '%s': a rootfs tarball needs a name", path);
	if ((r = img_ref_parse(name, &ref, err)) < 0)
		return err_wrap(err, "import '%s'", path);
	img_ref_free(&ref);
	if (dl_load(&dl_archive, err) < 0)
		return err_wrap(err, "import '%s'", path);
	if ((r = img_store_hold(st, err)) < 0)
		return r;
	r = import_rootfs(st, path, name, err);
	img_store_release(st);
	return r < 0 ? err_wrap(err, "import '%s'", path) : 0;
}

/* ---- save ---- */

struct saver {
	struct archive *a;
	char **written; /* archive paths already in the tar */
	json_t *docker_manifest, *repositories, *index;
};

static int tar_header(struct saver *s, const char *name, mode_t type, int64_t size, struct err *err)
{
	struct archive_entry *e = archive_entry_new();
	int ar;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_size(e, type == AE_IFDIR ? 0 : size);
	archive_entry_set_mtime(e, 0, 0);
	ar = archive_write_header(s->a, e);
	archive_entry_free(e);
	if (ar != ARCHIVE_OK)
		return err_msg(err, EIO, "write '%s': %s", name, archive_error_string(s->a));
	s->written = strv_append(s->written, name);
	return 0;
}

static bool written(struct saver *s, const char *name)
{
	for (size_t i = 0; s->written && s->written[i]; i++)
		if (streq(s->written[i], name))
			return true;
	return false;
}

static int tar_mem(struct saver *s, const char *name, const void *data, size_t len, struct err *err)
{
	int r;

	if (written(s, name))
		return 0;
	if ((r = tar_header(s, name, AE_IFREG, (int64_t)len, err)) < 0)
		return r;
	if (len && archive_write_data(s->a, data, len) != (la_ssize_t)len)
		return err_msg(err, EIO, "write '%s': %s", name, archive_error_string(s->a));
	return 0;
}

static int tar_dir(struct saver *s, const char *name, struct err *err)
{
	return written(s, name) ? 0 : tar_header(s, name, AE_IFDIR, 0, err);
}

static int tar_fd(struct saver *s, const char *name, int fd, struct err *err)
{
	_cleanup_free_ char *buf = NULL;
	struct stat sb;
	off_t off = 0;
	int r;

	if (written(s, name))
		return 0;
	if (fstat(fd, &sb) < 0)
		return err_sys(err, errno, "stat data for '%s'", name);
	if ((r = tar_header(s, name, AE_IFREG, sb.st_size, err)) < 0)
		return r;
	buf = xmalloc(BUFSZ);
	while (off < sb.st_size) {
		ssize_t n = pread(fd, buf, BUFSZ, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_sys(err, n < 0 ? errno : EIO, "read data for '%s'", name);
		if (archive_write_data(s->a, buf, (size_t)n) != n)
			return err_msg(err, EIO, "write '%s': %s", name,
				       archive_error_string(s->a));
		off += n;
	}
	return 0;
}

static int tar_blob(struct saver *s, struct img_store *st, const char *digest, const char *name,
		    struct err *err)
{
	_cleanup_free_ char *p = img_store_blob_path(st, digest);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_sys(err, errno, "open blob %s", digest);
	return tar_fd(s, name, fd, err);
}

struct saved_image {
	char *name; /* normalized */
	char *manifest;
	char *mtext;
	size_t mlen;
	struct img_manifest *m;
	struct img_config *c;
	char *ctext;
	size_t clen;
};

static void saved_done(struct saved_image *im)
{
	free(im->name);
	free(im->manifest);
	free(im->mtext);
	img_manifest_free(im->m);
	img_config_free(im->c);
	free(im->ctext);
}

static int load_image(struct img_store *st, const char *name, struct saved_image *im,
		      struct err *err)
{
	struct img_ref ref;
	int r;

	if ((r = img_ref_parse(name, &ref, err)) < 0)
		return r;
	im->name = img_ref_string(&ref);
	img_ref_free(&ref);
	if ((r = img_store_ref_get(st, im->name, NULL, &im->manifest, err)) < 0 ||
	    (r = img_store_read_blob(st, im->manifest, IMG_MANIFEST_MAX, &im->mtext, &im->mlen,
				     err)) < 0 ||
	    (r = img_manifest_parse(im->mtext, im->mlen, NULL, &im->m, err)) < 0)
		return r;
	if (im->m->kind != IMG_KIND_MANIFEST)
		return err_msg(err, EINVAL, "manifest %s is an index", im->manifest);
	if ((r = img_store_read_blob(st, im->m->config.digest, CONFIG_MAX, &im->ctext, &im->clen,
				     err)) < 0 ||
	    (r = img_config_parse(im->ctext, im->clen, &im->c, err)) < 0)
		return r;
	if (im->c->n_diff_ids != im->m->n_layers)
		return err_msg(err, EINVAL, "config lists %zu diff_ids for %zu layers",
			       im->c->n_diff_ids, im->m->n_layers);
	return 0;
}

static int save_oci(struct saver *s, struct img_store *st, struct saved_image *im, struct err *err)
{
	_cleanup_free_ char *mrel = blob_rel(im->manifest), *crel = blob_rel(im->m->config.digest);
	int r;

	if ((r = tar_mem(s, mrel, im->mtext, im->mlen, err)) < 0 ||
	    (r = tar_mem(s, crel, im->ctext, im->clen, err)) < 0)
		return r;
	for (size_t i = 0; i < im->m->n_layers; i++) {
		_cleanup_free_ char *lrel = blob_rel(im->m->layers[i].digest);
		if ((r = tar_blob(s, st, im->m->layers[i].digest, lrel, err)) < 0)
			return r;
	}
	json_array_append_new(json_object_get(s->index, "manifests"),
			      json_pack("{s:s,s:s,s:I,s:{s:s,s:s}}", "mediaType",
					im->m->media_type ? im->m->media_type : IMG_MT_OCI_MANIFEST,
					"digest", im->manifest, "size", (json_int_t)im->mlen,
					"annotations", "io.containerd.image.name", im->name,
					"org.opencontainers.image.ref.name", im->name));
	return 0;
}

/* Docker wants uncompressed layer tars named by layer; we name them by diff_id. */
static int save_docker(struct saver *s, struct img_store *st, struct saved_image *im,
		       struct err *err)
{
	_cleanup_free_ char *crel = xasprintf("%s.json", img_digest_hex(im->m->config.digest));
	_cleanup_free_ char *familiar = NULL, *top = NULL;
	json_t *layers = json_array(), *tags;
	struct img_ref ref;
	int r;

	if ((r = tar_mem(s, crel, im->ctext, im->clen, err)) < 0)
		goto out;
	for (size_t i = 0; i < im->m->n_layers; i++) {
		const char *diff = img_digest_hex(im->c->diff_ids[i]);
		_cleanup_free_ char *dir = xasprintf("%s/", diff);
		_cleanup_free_ char *rel = xasprintf("%s/layer.tar", diff);
		_cleanup_free_ char *bp = img_store_blob_path(st, im->m->layers[i].digest);
		_cleanup_close_ int fd = open(bp, O_RDONLY | O_CLOEXEC), plain = -1;
		enum img_compression comp;
		char got[IMG_DIGEST_LEN + 1];

		if (fd < 0) {
			r = err_sys(err, errno, "open blob %s", im->m->layers[i].digest);
			goto out;
		}
		if ((r = tar_dir(s, dir, err)) < 0 || (r = sniff_compression(fd, &comp, err)) < 0)
			goto out;
		if (comp != IMG_COMP_NONE && !written(s, rel)) {
			if ((plain = tmpfile_fd(err)) < 0 ||
			    (r = decompress(fd, plain, got, NULL, err)) < 0) {
				r = plain < 0 ? plain : r;
				goto out;
			}
			if (!streq(got, im->c->diff_ids[i])) {
				r = err_msg(err, EINVAL,
					    "layer %s decompresses to %s, not diff_id %s",
					    im->m->layers[i].digest, got, im->c->diff_ids[i]);
				goto out;
			}
		}
		if ((r = tar_fd(s, rel, plain >= 0 ? plain : fd, err)) < 0)
			goto out;
		json_array_append_new(layers, json_string(rel));
		free(top);
		top = xstrdup(diff);
	}
	if ((r = img_ref_parse(im->name, &ref, err)) < 0)
		goto out;
	familiar = img_ref_familiar(&ref);
	if (ref.tag) {
		_cleanup_free_ char *frepo = xstrdup(familiar);
		char *colon = strrchr(frepo, ':');
		if (colon)
			*colon = '\0';
		json_t *rj = json_object_get(s->repositories, frepo);
		if (!rj)
			json_object_set_new(s->repositories, frepo, rj = json_object());
		json_object_set_new(rj, ref.tag, json_string(top ? top : ""));
	}
	tags = ref.tag ? json_pack("[s]", familiar) : json_array();
	img_ref_free(&ref);
	json_array_append_new(s->docker_manifest, json_pack("{s:s,s:o,s:O}", "Config", crel,
							    "RepoTags", tags, "Layers", layers));
out:
	json_decref(layers);
	return r;
}

static int save_finish(struct saver *s, enum img_archive_format fmt, struct err *err)
{
	_cleanup_free_ char *a = NULL, *b = NULL;
	int r;

	if (fmt == IMG_ARCHIVE_OCI) {
		a = json_dumps(s->index, JSON_COMPACT);
		return tar_mem(s, "index.json", a, strlen(a), err);
	}
	a = json_dumps(s->docker_manifest, JSON_COMPACT);
	b = json_dumps(s->repositories, JSON_COMPACT);
	if ((r = tar_mem(s, "manifest.json", a, strlen(a), err)) < 0)
		return r;
	return tar_mem(s, "repositories", b, strlen(b), err);
}

static int save_all(struct saver *s, struct img_store *st, char *const *names,
		    enum img_archive_format fmt, struct err *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	int r;

	if (fmt == IMG_ARCHIVE_OCI &&
	    ((r = tar_mem(s, "oci-layout", layout, strlen(layout), err)) < 0 ||
	     (r = tar_dir(s, "blobs/", err)) < 0 || (r = tar_dir(s, "blobs/sha256/", err)) < 0))
		return r;
	for (size_t i = 0; names[i]; i++) {
		struct saved_image im = {0};
		r = load_image(st, names[i], &im, err);
		if (r == 0)
			r = fmt == IMG_ARCHIVE_OCI ? save_oci(s, st, &im, err)
						   : save_docker(s, st, &im, err);
		saved_done(&im);
		if (r < 0)
			return err_wrap(err, "image '%s'", names[i]);
	}
	return save_finish(s, fmt, err);
}

int img_save(struct img_store *st, char *const *names, enum img_archive_format fmt,
	     const char *path, struct err *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
	struct saver s = {0};
	int r;

	if (!names || !names[0])
		return err_msg(err, EINVAL, "save: no images named");
	if ((r = dl_load(&dl_archive, err)) < 0)
		return err_wrap(err, "save");
	s.a = archive_write_new();
	s.index = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType", IMG_MT_OCI_INDEX,
			    "manifests");
	s.docker_manifest = json_array();
	s.repositories = json_object();
	archive_write_set_format_pax_restricted(s.a);
	if (archive_write_open_filename(s.a, tmp) != ARCHIVE_OK) {
		r = err_msg(err, EIO, "save: create '%s': %s", tmp, archive_error_string(s.a));
		goto out;
	}
	if ((r = save_all(&s, st, names, fmt, err)) < 0)
		err_wrap(err, "save '%s'", path);
	if (archive_write_close(s.a) != ARCHIVE_OK && r == 0)
		r = err_msg(err, EIO, "save: write '%s': %s", tmp, archive_error_string(s.a));
	if (r == 0 && rename(tmp, path) < 0)
		r = err_sys(err, errno, "save: rename '%s' to '%s'", tmp, path);
out:
	if (r < 0)
		unlink(tmp);
	archive_write_free(s.a);
	strv_free(s.written);
	json_decref(s.index);
	json_decref(s.docker_manifest);
	json_decref(s.repositories);
	return r;
}
