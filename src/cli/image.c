/* image: `coop image VERB` — the local image store from the command line: pull from a
 * registry, list, inspect, tag, remove, import, save, prune, and mount an image or
 * write its runtime config for debugging. Verbs come from a table; each prints at
 * most one error line ("coop: ...") and returns 0, 1 (failure) or 2 (usage). */
#include "cli/image.h"
#include "cli/opts.h"

#include <getopt.h>
#include <sys/stat.h>
#include <time.h>

#include "base/fs.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "image/archive.h"
#include "image/digest.h"
#include "image/imgconfig.h"
#include "image/manifest.h"
#include "image/progress.h"
#include "image/ref.h"
#include "image/registry.h"
#include "image/rootfs.h"
#include "image/store.h"
#include "runtime/config.h"

struct globals {
	const char *store;     /* --store; NULL = $COOP_IMAGE_STORE or the default */
	const char *certs_dir; /* --certs-dir or $COOP_CERTS_DIR; NULL = /etc/coop/certs.d */
};

static struct globals G;

static int fail(const struct err *e)
{
	fprintf(stderr, "coop: %s\n", e->msg);
	return 1;
}

static int usage_error(const char *verb, const char *fmt, const char *arg)
{
	return cli_usage("coop image", verb, fmt, arg);
}

#define HELP_OPT CLI_HELP_OPT
#define PARSE(shorts, longs, fn, ctx, help)                                                        \
	int first = cli_parse("coop image", argc, argv, shorts "h", longs, fn, ctx, help);         \
	if (first == -1)                                                                           \
		return 0;                                                                          \
	if (first < 0)                                                                             \
	return 2

static bool operands(int argc, char **argv, int first, int lo, int hi, const char *what)
{
	return cli_operands("coop image", argc, argv, first, lo, hi, what);
}

static int open_store(struct img_store **st, struct err *err)
{
	return img_store_open(G.store, st, err);
}

static void store_closep(struct img_store **st)
{
	if (*st)
		img_store_close(*st);
}
#define _cleanup_store_ _cleanup_(store_closep)

static int output_opt(const char *arg, bool *json, const char *verb, bool table_ok)
{
	if (streq(arg, "json"))
		*json = true;
	else if (table_ok && streq(arg, "table"))
		*json = false;
	else
		return usage_error(verb,
				   table_ok ? "-o: expected json or table, got '%s'"
					    : "-o: expected json, got '%s'",
				   arg),
		       -1;
	return 0;
}

static void print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
}

/* ---- resolving what the user typed ---- */

/* The store name for a reference ("busybox" -> docker.io/library/busybox:latest), or the
 * text as typed when it does not parse (imported names may be anything). */
static char *normalized(const char *s)
{
	struct img_ref r;
	struct err e = {0};
	if (img_ref_parse(s, &r, &e) < 0)
		return xstrdup(s);
	char *n = img_ref_string(&r);
	img_ref_free(&r);
	return n;
}

static bool is_hex_prefix(const char *s)
{
	size_t n = strlen(s);
	if (n < 4 || n > 64)
		return false;
	return strspn(s, "0123456789abcdef") == n;
}

static char *config_digest_of(struct img_store *st, const char *manifest);

/* A name in the store for s: the reference normalized, the name as typed, or an image
 * ID / manifest digest (or a unique prefix of at least 4 hex digits). */
static int resolve_name(struct img_store *st, const char *s, char **ret, struct err *err)
{
	_cleanup_free_ char *n = normalized(s);
	_cleanup_json_ json_t *refs = NULL;
	const char *key, *want = strncmp(s, "sha256:", 7) == 0 ? s + 7 : s;
	json_t *v;
	char *found = NULL;
	int matches = 0;

	if (img_store_ref_get(st, n, NULL, NULL, NULL) == 0) {
		*ret = take_ptr(n);
		return 0;
	}
	if (img_store_ref_get(st, s, NULL, NULL, NULL) == 0) {
		*ret = xstrdup(s);
		return 0;
	}
	if (is_hex_prefix(want) && img_store_refs(st, &refs, err) == 0) {
		_cleanup_free_ char *seen = NULL; /* the image matched, by manifest */
		json_object_foreach(refs, key, v)
		{
			const char *m = json_string_value(json_object_get(v, "manifest"));
			if (!m)
				continue;
			_cleanup_free_ char *cfg = config_digest_of(st, m);
			bool hit = strncmp(img_digest_hex(m), want, strlen(want)) == 0 ||
				   (cfg && strncmp(img_digest_hex(cfg), want, strlen(want)) == 0);
			if (!hit)
				continue;
			if (!seen || !streq(seen, m))
				matches++;
			if (!seen)
				seen = xstrdup(m);
			if (!found)
				found = xstrdup(key);
		}
		if (matches == 1) {
			*ret = found;
			return 0;
		}
		free(found);
		if (matches > 1)
			return err_msg(
			    err, EINVAL,
			    "'%s' matches more than one image: use more digits or a name", s);
	}
	return err_msg(err, ENOENT, "image '%s' not found (see 'coop image ls')", s);
}

/* ---- reading an image from the store ---- */

struct info {
	char *name, *target, *manifest;
	struct img_manifest *mf;
	json_t *config; /* the config blob's document */
	int64_t size;	/* sum of the layer blobs */
};

static void info_free(struct info *i)
{
	free(i->name);
	free(i->target);
	free(i->manifest);
	img_manifest_free(i->mf);
	json_decref(i->config);
	memset(i, 0, sizeof(*i));
}

static int info_load(struct img_store *st, const char *name, struct info *ret, struct err *err)
{
	_cleanup_free_ char *mdata = NULL, *cdata = NULL;
	size_t mlen, clen;
	struct info i = {.name = xstrdup(name)};
	json_error_t je;
	int r;

	if ((r = img_store_ref_get(st, name, &i.target, &i.manifest, err)) < 0)
		goto fail;
	if ((r = img_store_read_blob(st, i.manifest, IMG_MANIFEST_MAX, &mdata, &mlen, err)) < 0 ||
	    (r = img_manifest_parse(mdata, mlen, NULL, &i.mf, err)) < 0)
		goto fail;
	if (i.mf->kind != IMG_KIND_MANIFEST) {
		r = err_msg(err, EPROTO, "image '%s': %s is not a manifest", name, i.manifest);
		goto fail;
	}
	if ((r = img_store_read_blob(st, i.mf->config.digest, IMG_MANIFEST_MAX, &cdata, &clen,
				     err)) < 0)
		goto fail;
	if (!(i.config = json_loadb(cdata, clen, 0, &je))) {
		r = err_msg(err, EPROTO, "image '%s': config %s: %s", name, i.mf->config.digest,
			    je.text);
		goto fail;
	}
	for (size_t k = 0; k < i.mf->n_layers; k++)
		i.size += i.mf->layers[k].size;
	*ret = i;
	return 0;
fail:
	info_free(&i);
	return r;
}

static char *config_digest_of(struct img_store *st, const char *manifest)
{
	_cleanup_free_ char *data = NULL;
	struct img_manifest *mf = NULL;
	size_t len;
	char *d = NULL;

	if (img_store_read_blob(st, manifest, IMG_MANIFEST_MAX, &data, &len, NULL) == 0 &&
	    img_manifest_parse(data, len, NULL, &mf, NULL) == 0) {
		if (mf->kind == IMG_KIND_MANIFEST)
			d = xstrdup(mf->config.digest);
		img_manifest_free(mf);
	}
	return d;
}

static const char *cfg_str(json_t *config, const char *key)
{
	const char *s = json_string_value(json_object_get(config, key));
	return s ? s : "";
}

/* "busybox:latest" -> repository "busybox", tag "latest"; digests give "<none>". */
static void split_name(const char *name, char **repo, char **tag)
{
	struct img_ref r;
	struct err e = {0};
	if (img_ref_parse(name, &r, &e) < 0) {
		*repo = xstrdup(name);
		*tag = xstrdup("<none>");
		return;
	}
	char *fam = img_ref_familiar(&r);
	char *at = strchr(fam, '@');
	if (at)
		*at = '\0';
	if (r.tag) {
		size_t fl = strlen(fam), tl = strlen(r.tag);
		if (fl > tl && fam[fl - tl - 1] == ':' && streq(fam + fl - tl, r.tag))
			fam[fl - tl - 1] = '\0';
	}
	*repo = fam;
	*tag = xstrdup(r.tag ? r.tag : "<none>");
	img_ref_free(&r);
}

/* "3 days ago" from an RFC 3339 time. */
static void since(const char *created, char *buf, size_t len)
{
	struct tm tm = {0};
	if (!created || !strptime(created, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, len, "unknown");
		return;
	}
	long d = (long)(time(NULL) - timegm(&tm));
	static const struct {
		long secs;
		const char *unit;
	} units[] = {{365L * 86400, "year"}, {30L * 86400, "month"}, {7L * 86400, "week"},
		     {86400, "day"},	     {3600, "hour"},	     {60, "minute"}};
	if (d < 60) {
		snprintf(buf, len, d < 0 ? "in the future" : "less than a minute ago");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (d >= units[i].secs) {
			long n = d / units[i].secs;
			snprintf(buf, len, "%ld %s%s ago", n, units[i].unit, n == 1 ? "" : "s");
			return;
		}
}

/* ---- pull ---- */

struct pull_ctx {
	struct img_pull_opts o;
	char **insecure;
	bool password_stdin, quiet;
	char *platform;
};

static int pull_opt(int c, const char *arg, void *ctx)
{
	struct pull_ctx *x = ctx;
	switch (c) {
	case 'u':
		x->o.username = arg;
		break;
	case 'P':
		x->o.password = arg;
		break;
	case 'S':
		x->password_stdin = true;
		break;
	case 'i':
		x->insecure = strv_append(x->insecure, arg);
		break;
	case 'p':
		x->platform = xstrdup(arg);
		break;
	case 'q':
		x->quiet = true;
		break;
	case 'r':
	case 'j': {
		char *end;
		long v = strtol(arg, &end, 10);
		if (*end || v < 1 || v > 64)
			return usage_error("pull", "expected a number from 1 to 64, got '%s'", arg);
		if (c == 'r')
			x->o.retries = (int)v;
		else
			x->o.parallel = (int)v;
		break;
	}
	default:
		break;
	}
	return 0;
}

static const char pull_help[] =
    "Usage: coop image pull [OPTIONS] REF\n"
    "Download an image from a registry into the local store and unpack its layers.\n"
    "REF is what `docker pull` takes: busybox, ghcr.io/org/app:1.2, HOST:PORT/x@sha256:...\n"
    "Layers already in the store are not downloaded again; an interrupted pull resumes\n"
    "where it stopped.\n\n"
    "  -u, --username USER      registry user (else ~/.docker/config.json \"auths\")\n"
    "      --password PASS      its password (visible in ps: prefer --password-stdin)\n"
    "      --password-stdin     read the password from the first line of stdin\n"
    "      --insecure HOST:PORT allow this registry without TLS verification or over\n"
    "                           plain HTTP (repeatable)\n"
    "      --platform OS/ARCH[/VARIANT]  pick this platform from a multi-arch image\n"
    "                           (default: this machine's)\n"
    "      --parallel N         layers downloaded at once (default 4)\n"
    "      --retries N          attempts per request after a transient failure (default 5)\n"
    "  -q, --quiet              print only the image's name when done\n\n"
    "Registries' CAs: /etc/coop/certs.d/HOST:PORT/ca.crt (and client.cert/client.key),\n"
    "as Docker's certs.d.\n\n"
    "Examples:\n"
    "  coop image pull busybox\n"
    "  echo \"$TOKEN\" | coop image pull -u ci --password-stdin registry.example.com/app:2\n"
    "  coop image pull --insecure 127.0.0.1:5000 127.0.0.1:5000/test:1\n";

static int read_password_stdin(char **ret)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);
	if (n < 0) {
		free(line);
		return -1;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	*ret = line;
	return 0;
}

static int cmd_pull(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"username", required_argument, NULL, 'u'},
	    {"password", required_argument, NULL, 'P'},
	    {"password-stdin", no_argument, NULL, 'S'},
	    {"insecure", required_argument, NULL, 'i'},
	    {"platform", required_argument, NULL, 'p'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"retries", required_argument, NULL, 'r'},
	    {"parallel", required_argument, NULL, 'j'},
	    HELP_OPT,
	    {0},
	};
	struct pull_ctx x = {0};
	_cleanup_strv_ char **insecure = NULL;
	_cleanup_free_ char *password = NULL, *platform = NULL, *manifest = NULL;
	_cleanup_store_ struct img_store *st = NULL;
	struct err err = {0};
	int first = cli_parse("coop image", argc, argv, "u:qh", longs, pull_opt, &x, pull_help);

	insecure = x.insecure;
	platform = x.platform;
	if (first == -1)
		return 0;
	if (first < 0)
		return 2;
	if (!operands(argc, argv, first, 1, 1, "image reference (e.g. busybox:latest)"))
		return 2;
	if (x.password_stdin) {
		if (x.o.password)
			return usage_error("pull", "%s",
					   "--password and --password-stdin exclude each other");
		if (read_password_stdin(&password) < 0)
			return usage_error("pull", "%s", "--password-stdin: nothing on stdin");
		x.o.password = password;
	}
	if (x.o.password && !x.o.username)
		return usage_error("pull", "%s", "a password needs --username");
	if (platform) {
		char *a = strchr(platform, '/'), *v = a ? strchr(a + 1, '/') : NULL;
		if (!a || a == platform || !a[1] || (v && !v[1]))
			return usage_error(
			    "pull", "--platform: expected OS/ARCH[/VARIANT], got '%s'", platform);
		*a = '\0';
		if (v)
			*v = '\0';
		x.o.os = platform;
		x.o.arch = a + 1;
		x.o.variant = v ? v + 1 : NULL;
	}
	x.o.insecure = insecure;
	x.o.certs_dir = G.certs_dir;
	x.o.progress = x.quiet ? NULL : stdout;
	if (open_store(&st, &err) < 0 || img_pull(st, argv[first], &x.o, &manifest, &err) < 0)
		return fail(&err);
	if (x.quiet) {
		_cleanup_free_ char *n = normalized(argv[first]);
		printf("%s\n", n);
	}
	return 0;
}

/* ---- ls ---- */

struct out_ctx {
	bool json, quiet;
	const char *verb;
	bool table_ok;
};

static int out_opt(int c, const char *arg, void *ctx)
{
	struct out_ctx *x = ctx;
	if (c == 'o')
		return output_opt(arg, &x->json, x->verb, x->table_ok);
	if (c == 'q')
		x->quiet = true;
	return 0;
}

static const struct option out_longs[] = {
    {"output", required_argument, NULL, 'o'},
    {"quiet", no_argument, NULL, 'q'},
    HELP_OPT,
    {0},
};

static json_t *info_summary(const struct info *i)
{
	_cleanup_free_ char *repo = NULL, *tag = NULL;
	split_name(i->name, &repo, &tag);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "name", i->name, "repository", repo,
			 "tag", tag, "id", i->mf->config.digest, "digest", i->manifest, "created",
			 cfg_str(i->config, "created"), "size", (json_int_t)i->size);
}

static int cmd_ls(int argc, char **argv)
{
	struct out_ctx x = {.verb = "ls", .table_ok = true};
	_cleanup_store_ struct img_store *st = NULL;
	_cleanup_json_ json_t *refs = NULL, *rows = json_array();
	struct err err = {0};
	const char *name;
	json_t *v;
	PARSE("o:q", out_longs, out_opt, &x,
	      "Usage: coop image ls [-o json|table] [-q]\n"
	      "List the images in the local store: NAME, TAG, IMAGE ID (the config digest, as\n"
	      "Docker shows it), CREATED and SIZE (the compressed layers, as downloaded).\n\n"
	      "  -o, --output json|table  format (default table)\n"
	      "  -q, --quiet              only the image IDs\n\n"
	      "Example:\n"
	      "  coop image ls -o json | jq -r '.[].name'\n");
	if (!operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (open_store(&st, &err) < 0 || img_store_refs(st, &refs, &err) < 0)
		return fail(&err);
	const char **names = xcalloc(json_object_size(refs) + 1, sizeof(*names));
	size_t n = 0;
	json_object_foreach(refs, name, v) names[n++] = name;
	qsort(names, n, sizeof(*names), (int (*)(const void *, const void *))strcmp);
	for (size_t k = 0; k < n; k++) {
		struct info i;
		if (info_load(st, names[k], &i, &err) < 0) {
			free(names);
			return fail(&err);
		}
		json_array_append_new(rows, info_summary(&i));
		info_free(&i);
	}
	free(names);
	if (x.json) {
		print_json(rows);
		return 0;
	}
	size_t idx;
	if (!x.quiet)
		printf("%-40s %-16s %-14s %-18s %s\n", "NAME", "TAG", "IMAGE ID", "CREATED",
		       "SIZE");
	json_array_foreach(rows, idx, v)
	{
		const char *id = img_digest_hex(json_string_value(json_object_get(v, "id")));
		char created[32], size[16];
		if (x.quiet) {
			printf("%.12s\n", id);
			continue;
		}
		since(json_string_value(json_object_get(v, "created")), created, sizeof(created));
		img_progress_size(json_integer_value(json_object_get(v, "size")), size,
				  sizeof(size));
		printf("%-40s %-16s %-14.12s %-18s %s\n",
		       json_string_value(json_object_get(v, "repository")),
		       json_string_value(json_object_get(v, "tag")), id, created, size);
	}
	return 0;
}

/* ---- inspect ---- */

static json_t *descriptor_json(const struct img_descriptor *d)
{
	return json_pack("{s:s,s:s,s:I}", "mediaType", d->media_type ? d->media_type : "", "digest",
			 d->digest, "size", (json_int_t)d->size);
}

static json_t *info_json(const struct info *i)
{
	json_t *layers = json_array();
	for (size_t k = 0; k < i->mf->n_layers; k++)
		json_array_append_new(layers, descriptor_json(&i->mf->layers[k]));
	json_t *rootfs = json_object_get(i->config, "rootfs");
	json_t *cfg = json_object_get(i->config, "config");
	json_t *j = json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:O,s:O}", "Id", i->mf->config.digest,
	    "Name", i->name, "Digest", i->manifest, "Target", i->target, "MediaType",
	    i->mf->media_type ? i->mf->media_type : "", "Created", cfg_str(i->config, "created"),
	    "Os", cfg_str(i->config, "os"), "Architecture", cfg_str(i->config, "architecture"),
	    "Size", (json_int_t)i->size, "ConfigDescriptor", descriptor_json(&i->mf->config),
	    "Layers", layers, "Config", cfg ? cfg : json_null(), "DiffIds",
	    json_object_get(rootfs, "diff_ids") ? json_object_get(rootfs, "diff_ids")
						: json_null());
	const char *variant = cfg_str(i->config, "variant");
	if (*variant)
		json_object_set_new(j, "Variant", json_string(variant));
	return j;
}

static int cmd_inspect(int argc, char **argv)
{
	struct out_ctx x = {.verb = "inspect", .json = true};
	_cleanup_store_ struct img_store *st = NULL;
	_cleanup_json_ json_t *all = json_array();
	struct err err = {0};
	PARSE("o:", out_longs, out_opt, &x,
	      "Usage: coop image inspect [-o json] REF...\n"
	      "Print what the store knows of images, as a JSON array (as docker inspect does):\n"
	      "Id (config digest), Digest (manifest), Target (what the name points at: an\n"
	      "index for multi-arch images), Os/Architecture, Created, Size, the layers and\n"
	      "the image config (Cmd, Env, WorkingDir, ...). REF may be a name or an ID prefix.\n\n"
	      "Example:\n"
	      "  coop image inspect busybox | jq -r '.[0].Config.Cmd'\n");
	if (!operands(argc, argv, first, 1, -1, "image reference"))
		return 2;
	if (open_store(&st, &err) < 0)
		return fail(&err);
	for (int k = first; k < argc; k++) {
		_cleanup_free_ char *name = NULL;
		struct info i;
		if (resolve_name(st, argv[k], &name, &err) < 0 || info_load(st, name, &i, &err) < 0)
			return fail(&err);
		json_array_append_new(all, info_json(&i));
		info_free(&i);
	}
	print_json(all);
	return 0;
}

/* ---- rm, tag ---- */

static const struct option help_only[] = {HELP_OPT, {0}};

static int cmd_rm(int argc, char **argv)
{
	_cleanup_store_ struct img_store *st = NULL;
	struct err err = {0};
	int rc = 0;
	PARSE("", help_only, NULL, NULL,
	      "Usage: coop image rm REF...\n"
	      "Remove names from the store. The content stays until `coop image prune`\n"
	      "removes what no name reaches any more (other names may share it).\n\n"
	      "Example:\n"
	      "  coop image rm busybox:latest && coop image prune\n");
	if (!operands(argc, argv, first, 1, -1, "image reference"))
		return 2;
	if (open_store(&st, &err) < 0)
		return fail(&err);
	for (int k = first; k < argc; k++) {
		_cleanup_free_ char *name = NULL;
		if (resolve_name(st, argv[k], &name, &err) < 0 ||
		    img_store_ref_del(st, name, &err) < 0) {
			rc = fail(&err); /* go on with the others, as docker rmi does */
			continue;
		}
		printf("untagged: %s\n", name);
	}
	return rc;
}

static int cmd_tag(int argc, char **argv)
{
	_cleanup_store_ struct img_store *st = NULL;
	_cleanup_free_ char *src = NULL, *dst = NULL, *target = NULL, *manifest = NULL;
	struct err err = {0};
	struct img_ref r;
	PARSE("", help_only, NULL, NULL,
	      "Usage: coop image tag SOURCE TARGET\n"
	      "Give an image in the store another name (no copy is made).\n\n"
	      "Example:\n"
	      "  coop image tag busybox:latest registry.local:5000/tools/busybox:1.36\n");
	if (!operands(argc, argv, first, 2, 2, "SOURCE and TARGET"))
		return 2;
	if (img_ref_parse(argv[first + 1], &r, &err) < 0)
		return fail(&err);
	dst = img_ref_string(&r);
	img_ref_free(&r);
	if (open_store(&st, &err) < 0 || resolve_name(st, argv[first], &src, &err) < 0 ||
	    img_store_ref_get(st, src, &target, &manifest, &err) < 0 ||
	    img_store_ref_set(st, dst, target, manifest, &err) < 0)
		return fail(&err);
	return 0;
}

/* ---- import, save, prune ---- */

struct import_ctx {
	const char *name;
	bool rootfs;
};

static int import_opt(int c, const char *arg, void *ctx)
{
	struct import_ctx *x = ctx;
	if (c == 'n')
		x->name = arg;
	else if (c == 'r')
		x->rootfs = true;
	return 0;
}

static int cmd_import(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"rootfs", no_argument, NULL, 'r'},
	    HELP_OPT,
	    {0},
	};
	struct import_ctx x = {0};
	_cleanup_store_ struct img_store *st = NULL;
	_cleanup_strv_ char **names = NULL;
	_cleanup_free_ char *name = NULL;
	struct err err = {0};
	PARSE("n:", longs, import_opt, &x,
	      "Usage: coop image import [--name NAME] [--rootfs] FILE\n"
	      "Add images from a file: a `docker save` archive or an OCI image layout (a\n"
	      "directory or a tar of one), told apart by their content. With --rootfs, FILE is\n"
	      "a root filesystem tarball (any compression) made into a one-layer image, and\n"
	      "--name is required.\n\n"
	      "  -n, --name NAME   name the (single) image; default: the names in the archive\n"
	      "      --rootfs      FILE is a rootfs tarball\n\n"
	      "Examples:\n"
	      "  docker save busybox | gzip > bb.tar.gz; coop image import bb.tar.gz\n"
	      "  coop image import --rootfs --name mybase:1 rootfs.tar.xz\n");
	if (!operands(argc, argv, first, 1, 1, "FILE"))
		return 2;
	if (x.rootfs && !x.name)
		return usage_error("import", "%s", "--rootfs needs --name");
	if (x.name)
		name = normalized(x.name);
	if (open_store(&st, &err) < 0)
		return fail(&err);
	if (x.rootfs) {
		if (img_import_rootfs(st, argv[first], name, &err) < 0)
			return fail(&err);
		printf("%s\n", name);
		return 0;
	}
	if (img_import(st, argv[first], name, &names, &err) < 0)
		return fail(&err);
	for (size_t k = 0; names && names[k]; k++)
		printf("%s\n", names[k]);
	return 0;
}

struct save_ctx {
	const char *out;
	enum img_archive_format fmt;
};

static int save_opt(int c, const char *arg, void *ctx)
{
	struct save_ctx *x = ctx;
	if (c == 'o')
		x->out = arg;
	else if (c == 'f') {
		if (streq(arg, "docker"))
			x->fmt = IMG_ARCHIVE_DOCKER;
		else if (streq(arg, "oci"))
			x->fmt = IMG_ARCHIVE_OCI;
		else
			return usage_error("save", "--format: expected docker or oci, got '%s'",
					   arg);
	}
	return 0;
}

static int cmd_save(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"format", required_argument, NULL, 'f'},
	    HELP_OPT,
	    {0},
	};
	struct save_ctx x = {.fmt = IMG_ARCHIVE_DOCKER};
	_cleanup_store_ struct img_store *st = NULL;
	_cleanup_strv_ char **names = NULL;
	struct err err = {0};
	PARSE("o:f:", longs, save_opt, &x,
	      "Usage: coop image save [--format docker|oci] -o FILE REF...\n"
	      "Write images to a tar: `docker load` reads the docker format; the oci format is\n"
	      "an OCI image layout (skopeo, podman, umoci read it).\n\n"
	      "  -o, --output FILE            the tar to write\n"
	      "      --format docker|oci      default docker\n\n"
	      "Example:\n"
	      "  coop image save -o bb.tar busybox && docker load -i bb.tar\n");
	if (!operands(argc, argv, first, 1, -1, "image reference"))
		return 2;
	if (!x.out)
		return usage_error("save", "%s", "missing -o FILE");
	if (open_store(&st, &err) < 0)
		return fail(&err);
	for (int k = first; k < argc; k++) {
		_cleanup_free_ char *name = NULL;
		if (resolve_name(st, argv[k], &name, &err) < 0)
			return fail(&err);
		names = strv_append(names, name);
	}
	if (img_save(st, names, x.fmt, x.out, &err) < 0)
		return fail(&err);
	return 0;
}

static int cmd_prune(int argc, char **argv)
{
	struct out_ctx x = {.verb = "prune", .table_ok = false};
	_cleanup_store_ struct img_store *st = NULL;
	struct err err = {0};
	uint64_t blobs = 0, bytes = 0;
	char size[16];
	PARSE("o:", out_longs, out_opt, &x,
	      "Usage: coop image prune [-o json]\n"
	      "Delete the blobs and unpacked layers that no image name reaches (after\n"
	      "`coop image rm`), and print what was freed. Downloads in progress are kept.\n\n"
	      "Example:\n"
	      "  coop image rm old:1 && coop image prune\n");
	if (!operands(argc, argv, first, 0, 0, ""))
		return 2;
	if (open_store(&st, &err) < 0 || img_store_prune(st, &blobs, &bytes, &err) < 0)
		return fail(&err);
	if (x.json) {
		_cleanup_json_ json_t *j =
		    json_pack("{s:I,s:I}", "blobs", (json_int_t)blobs, "bytes", (json_int_t)bytes);
		print_json(j);
		return 0;
	}
	img_progress_size((int64_t)bytes, size, sizeof(size));
	printf("freed %llu blob%s, %s\n", (unsigned long long)blobs, blobs == 1 ? "" : "s", size);
	return 0;
}

/* ---- mount, umount, config ---- */

/* The upper/work directory of a mount made by `image mount DIR`: in the store, named
 * by a hash of DIR's real path, so `umount DIR` finds it again. */
static int mount_rw_dir(struct img_store *st, const char *dir, char **ret, char **ret_real,
			struct err *err)
{
	char dg[IMG_DIGEST_LEN + 1];
	char *real = realpath(dir, NULL);
	if (!real)
		return err_sys(err, errno, "'%s'", dir);
	img_digest_buf(real, strlen(real), dg);
	*ret = xasprintf("%s/mounts/%.16s", img_store_root(st), img_digest_hex(dg));
	*ret_real = real;
	return 0;
}

static int cmd_mount(int argc, char **argv)
{
	_cleanup_store_ struct img_store *st = NULL;
	_cleanup_free_ char *name = NULL, *rw = NULL, *real = NULL;
	struct err err = {0};
	PARSE("", help_only, NULL, NULL,
	      "Usage: coop image mount REF DIR\n"
	      "Mount the image's root filesystem at DIR (created if missing): an overlay of\n"
	      "its layers, read-only and shared, under a writable layer of its own. Useful to\n"
	      "look inside an image, or as a bundle's rootfs (see `coop image config`).\n"
	      "Undo with `coop image umount DIR`, which also drops the writes.\n\n"
	      "Example:\n"
	      "  coop image mount busybox /tmp/b/rootfs && ls /tmp/b/rootfs/bin | head\n");
	if (!operands(argc, argv, first, 2, 2, "REF and DIR"))
		return 2;
	if (open_store(&st, &err) < 0 || resolve_name(st, argv[first], &name, &err) < 0 ||
	    fs_mkdir_p(argv[first + 1], 0755, &err) < 0 ||
	    mount_rw_dir(st, argv[first + 1], &rw, &real, &err) < 0)
		return fail(&err);
	if (access(rw, F_OK) == 0) {
		err_msg(&err, EBUSY, "'%s': already an image mount (coop image umount it first)",
			argv[first + 1]);
		return fail(&err);
	}
	if (img_rootfs_mount(st, name, rw, real, false, &err) < 0) {
		struct err e2 = {0};
		fs_rm_rf(rw, &e2);
		return fail(&err);
	}
	return 0;
}

static int cmd_umount(int argc, char **argv)
{
	_cleanup_store_ struct img_store *st = NULL;
	_cleanup_free_ char *rw = NULL, *real = NULL;
	struct err err = {0};
	PARSE("", help_only, NULL, NULL,
	      "Usage: coop image umount DIR\n"
	      "Unmount an image mounted with `coop image mount` and delete its writable layer.\n\n"
	      "Example:\n"
	      "  coop image umount /tmp/b/rootfs\n");
	if (!operands(argc, argv, first, 1, 1, "DIR"))
		return 2;
	if (open_store(&st, &err) < 0 || mount_rw_dir(st, argv[first], &rw, &real, &err) < 0 ||
	    img_rootfs_umount(real, &err) < 0 || fs_rm_rf(rw, &err) < 0)
		return fail(&err);
	return 0;
}

struct config_ctx {
	const char *bundle, *rootfs;
	bool tty;
};

static int config_opt(int c, const char *arg, void *ctx)
{
	struct config_ctx *x = ctx;
	if (c == 'b')
		x->bundle = arg;
	else if (c == 'r')
		x->rootfs = arg;
	else if (c == 't')
		x->tty = true;
	return 0;
}

static int load_img_config(struct img_store *st, const char *name, struct img_config **ret,
			   struct err *err)
{
	struct info i;
	int r;
	if ((r = info_load(st, name, &i, err)) < 0)
		return r;
	char *s = json_dumps(i.config, JSON_COMPACT);
	r = img_config_parse(s, strlen(s), ret, err);
	free(s);
	if (r < 0)
		err_wrap(err, "image '%s': config %s", name, i.mf->config.digest);
	info_free(&i);
	return r;
}

static int cmd_config(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"bundle", required_argument, NULL, 'b'},
	    {"rootfs", required_argument, NULL, 'r'},
	    {"tty", no_argument, NULL, 't'},
	    HELP_OPT,
	    {0},
	};
	struct config_ctx x = {0};
	_cleanup_store_ struct img_store *st = NULL;
	_cleanup_free_ char *name = NULL, *rootfs = NULL, *file = NULL, *s = NULL;
	_cleanup_json_ json_t *oci = NULL;
	struct img_config *ic = NULL;
	struct img_overrides ov = {0};
	struct err err = {0};
	struct stat sb;
	PARSE("+b:r:t", longs, config_opt, &x, /* "+": CMD may carry options of its own */
	      "Usage: coop image config [--bundle DIR] [--rootfs DIR] [--tty] REF [CMD...]\n"
	      "Write the OCI runtime config (config.json) that runs the image: the runtime's\n"
	      "defaults with the image's Entrypoint/Cmd, Env, WorkingDir and User (looked up\n"
	      "in the image's /etc/passwd) applied. CMD replaces the image's Cmd. Into\n"
	      "DIR/config.json with --bundle (rootfs: DIR/rootfs), else to stdout.\n\n"
	      "  -b, --bundle DIR   write DIR/config.json\n"
	      "  -r, --rootfs DIR   the image's mounted root (default: BUNDLE/rootfs)\n"
	      "  -t, --tty          give the process a terminal (default: none, as docker run)\n\n"
	      "Example:\n"
	      "  coop image mount busybox b/rootfs && coop image config --bundle b busybox\n"
	      "  coop-runtime run --bundle b demo; coop image umount b/rootfs\n");
	if (!operands(argc, argv, first, 1, -1, "image reference"))
		return 2;
	if (!x.bundle && !x.rootfs)
		return usage_error("config", "%s", "need --bundle or --rootfs (the mounted image)");
	rootfs = x.rootfs ? xstrdup(x.rootfs) : xasprintf("%s/rootfs", x.bundle);
	if (stat(rootfs, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		err_msg(&err, ENOENT,
			"rootfs '%s' not found: mount the image first (coop image mount %s %s)",
			rootfs, argv[first], rootfs);
		return fail(&err);
	}
	if (argc - first > 1)
		ov.cmd = argv + first + 1;
	if (open_store(&st, &err) < 0 || resolve_name(st, argv[first], &name, &err) < 0 ||
	    load_img_config(st, name, &ic, &err) < 0)
		return fail(&err);
	oci = rt_config_default(false);
	int r = img_apply_config(ic, rootfs, &ov, oci, &err);
	img_config_free(ic);
	if (r < 0)
		return fail(&err);
	json_object_set_new(json_object_get(oci, "process"), "terminal", json_boolean(x.tty));
	if (x.rootfs) {
		_cleanup_free_ char *abs = realpath(rootfs, NULL);
		json_object_set_new(json_object_get(oci, "root"), "path",
				    json_string(abs ? abs : rootfs));
	}
	s = json_dumps(oci, JSON_INDENT(2));
	if (!x.bundle) {
		printf("%s\n", s);
		return 0;
	}
	file = xasprintf("%s/config.json", x.bundle);
	if (fs_write_atomic(file, s, strlen(s), 0644, &err) < 0)
		return fail(&err);
	return 0;
}

/* ---- dispatch ---- */

static const struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} verbs[] = {
    {"pull", cmd_pull, "download an image from a registry"},
    {"ls", cmd_ls, "list images"},
    {"inspect", cmd_inspect, "show an image's manifest, config and layers as JSON"},
    {"rm", cmd_rm, "remove image names (content goes on prune)"},
    {"tag", cmd_tag, "give an image another name"},
    {"import", cmd_import, "add images from a docker-save/OCI archive or a rootfs tarball"},
    {"save", cmd_save, "write images to a docker or OCI archive"},
    {"prune", cmd_prune, "delete content no image name reaches"},
    {"mount", cmd_mount, "mount an image's root filesystem at a directory"},
    {"umount", cmd_umount, "undo `image mount`"},
    {"config", cmd_config, "write the runtime config.json that runs an image"},
};

static void main_help(void)
{
	printf("Usage: coop image [--store DIR] COMMAND [OPTIONS] [ARGS]\n\n"
	       "The local image store: images pulled from registries or imported from files,\n"
	       "kept once per content (shared layers are stored and unpacked once).\n\n"
	       "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		printf("  %-8s %s\n", verbs[i].name, verbs[i].summary);
	printf("\nOptions:\n"
	       "  --store DIR      the store (default $COOP_IMAGE_STORE or %s)\n"
	       "  --certs-dir DIR  registry CAs and client certs, DIR/HOST:PORT/{ca.crt,\n"
	       "                   client.cert,client.key} (default $COOP_CERTS_DIR or\n"
	       "                   /etc/coop/certs.d)\n"
	       "  --debug          log what happens to stderr\n\n"
	       "Example:\n"
	       "  coop image pull busybox && coop image ls\n"
	       "Run 'coop image COMMAND --help' for a command's options.\n",
	       IMG_STORE_DEFAULT);
}

int image_cli_main(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"store", required_argument, NULL, 's'},
	    {"certs-dir", required_argument, NULL, 'c'},
	    {"debug", no_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool debug = false;
	int c;

	G.certs_dir = getenv("COOP_CERTS_DIR");
	optind = 0; /* 0: glibc re-initializes (permutation state from an earlier parse) */
	opterr = 0;
	while ((c = getopt_long_only(argc, argv, "+h", longs, NULL)) != -1) {
		switch (c) {
		case 's':
			G.store = optarg;
			break;
		case 'c':
			G.certs_dir = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'h':
			main_help();
			return 0;
		default:
			fprintf(stderr,
				"coop image: unknown or incomplete option '%s' (see coop image "
				"--help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	log_setup(NULL, 0, debug ? LOG_DEBUG : LOG_WARN);
	if (optind >= argc) {
		main_help();
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (streq(argv[optind], verbs[i].name))
			return verbs[i].fn(argc - optind, argv + optind);
	if (streq(argv[optind], "list"))
		return cmd_ls(argc - optind, argv + optind);
	fprintf(stderr, "coop image: unknown command '%s' (see coop image --help)\n", argv[optind]);
	return 2;
}
