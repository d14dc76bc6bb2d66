/* image: resolving, loading and pulling the images workloads name. */
#include "agent/image.h"

#include <string.h>

#include "base/js.h"
#include "base/util.h"
#include "image/ref.h"
#include "image/registry.h"

#define CONFIG_MAX (4u << 20)

int ag_image_resolve(struct img_store *st, const char *s, char **ret, struct err *err)
{
	struct img_ref r;
	struct err e = { 0 };
	_cleanup_free_ char *n = NULL;

	if (img_ref_parse(s, &r, &e) == 0) {
		n = img_ref_string(&r);
		img_ref_free(&r);
		if (img_store_ref_get(st, n, NULL, NULL, &e) == 0) {
			*ret = take_ptr(n);
			return 0;
		}
	}
	if (img_store_ref_get(st, s, NULL, NULL, &e) == 0) {
		*ret = xstrdup(s);
		return 0;
	}
	return err_msg(err, ENOENT, "image '%s' not found", s);
}

int ag_image_config(struct img_store *st, const char *name, struct img_config **ret,
		    struct err *err)
{
	_cleanup_free_ char *man = NULL, *mdata = NULL, *cdata = NULL;
	size_t mlen, clen;
	struct img_manifest *m = NULL;
	int r;

	if ((r = img_store_ref_get(st, name, NULL, &man, err)) < 0 ||
	    (r = img_store_read_blob(st, man, CONFIG_MAX, &mdata, &mlen, err)) < 0 ||
	    (r = img_manifest_parse(mdata, mlen, NULL, &m, err)) < 0)
		return r;
	if (m->kind != IMG_KIND_MANIFEST || !m->config.digest) {
		img_manifest_free(m);
		return err_msg(err, EINVAL, "image '%s': %s is not an image manifest", name, man);
	}
	r = img_store_read_blob(st, m->config.digest, CONFIG_MAX, &cdata, &clen, err);
	if (r == 0)
		r = img_config_parse(cdata, clen, ret, err);
	if (r < 0)
		err_wrap(err, "image '%s': config %s", name, m->config.digest);
	img_manifest_free(m);
	return r;
}

int ag_image_ensure(const char *store_root, const char *s, char **ret, bool *ret_pulled,
		    struct err *err)
{
	struct img_store *st = NULL;
	struct img_pull_opts o = { 0 };
	int r;

	*ret_pulled = false;
	if ((r = img_store_open_reader(store_root, &st, err)) < 0)
		return r;
	if (ag_image_resolve(st, s, ret, err) == 0)
		goto out;
	err_clear(err);
	if ((r = img_store_prepare(st, err)) < 0 || (r = img_pull(st, s, &o, NULL, err)) < 0)
		goto out;
	*ret_pulled = true;
	r = ag_image_resolve(st, s, ret, err);
out:
	img_store_close(st);
	return r;
}
