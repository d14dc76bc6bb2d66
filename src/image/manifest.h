/* manifest: OCI image manifests and indexes and their Docker schema2 equivalents
 * (manifest, manifest list) — parsing with limits, platform selection, and the image
 * config document. Pure: bytes in, structs out; fuzzed. */
#ifndef COOP_IMAGE_MANIFEST_H
#define COOP_IMAGE_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define IMG_MANIFEST_MAX (4u << 20) /* larger manifests are refused */

#define IMG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define IMG_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define IMG_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define IMG_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMG_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define IMG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMG_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define IMG_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"
/* What to send as Accept for manifests (all four kinds). */
#define IMG_MANIFEST_ACCEPT                                                            \
	IMG_MT_OCI_MANIFEST ", " IMG_MT_OCI_INDEX ", " IMG_MT_DOCKER_MANIFEST ", "    \
	IMG_MT_DOCKER_LIST

enum img_compression { IMG_COMP_NONE, IMG_COMP_GZIP, IMG_COMP_ZSTD };

struct img_descriptor {
	char *media_type;
	char *digest; /* validated "sha256:..." */
	int64_t size;
	/* index entries only */
	char *os, *arch, *variant;
};

enum img_manifest_kind { IMG_KIND_MANIFEST, IMG_KIND_INDEX };

struct img_manifest {
	enum img_manifest_kind kind;
	char *media_type; /* from the document, else the Content-Type, else inferred */
	/* kind == MANIFEST */
	struct img_descriptor config;
	struct img_descriptor *layers;
	size_t n_layers;
	/* kind == INDEX */
	struct img_descriptor *manifests;
	size_t n_manifests;
};

/* Parses a manifest or index. content_type may be NULL (umoci omits mediaType: take it
 * from Content-Type or infer from the shape). Unknown media types, bad digests, sizes
 * < 0 and documents over IMG_MANIFEST_MAX are errors naming the field. */
int img_manifest_parse(const char *data, size_t len, const char *content_type,
		       struct img_manifest **ret, struct err *err);
void img_manifest_free(struct img_manifest *m);
/* Layer media type -> compression; -EINVAL for anything that is not a layer we unpack
 * (foreign/non-distributable layers included). */
int img_layer_compression(const char *media_type, enum img_compression *ret, struct err *err);

/* Picks the entry for os/arch[/variant] from an index ("linux", "amd64", NULL = any
 * variant; arm64 defaults to v8). Returns the entry or NULL with an error listing what
 * the index offers. */
const struct img_descriptor *img_index_select(const struct img_manifest *idx, const char *os,
					      const char *arch, const char *variant,
					      struct err *err);
/* This machine's platform in OCI terms (GOARCH names: amd64, arm64, arm + variant). */
void img_platform_native(const char **os, const char **arch, const char **variant);

/* The image config (the "config" blob): what the runtime config is built from. */
struct img_config {
	char *user;
	char **env;
	char **entrypoint;
	char **cmd;
	char *working_dir;
	char **exposed_ports;  /* "80/tcp" */
	char **volumes;        /* "/data" */
	char *stop_signal;
	json_t *labels;        /* object or NULL */
	char **diff_ids;       /* rootfs.diff_ids, one per layer, uncompressed digests */
	size_t n_diff_ids;
	char *os, *arch;
};

int img_config_parse(const char *data, size_t len, struct img_config **ret, struct err *err);
void img_config_free(struct img_config *c);

#endif
