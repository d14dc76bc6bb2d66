/* ref: image references as Docker users write them, normalized the way Docker does:
 * "busybox" -> docker.io/library/busybox:latest, "host:5000/x@sha256:..." keeps its
 * digest, "ghcr.io/org/app:1.2". Pure functions; fuzzed. */
#ifndef COOP_IMAGE_REF_H
#define COOP_IMAGE_REF_H

#include "base/err.h"

struct img_ref {
	char *domain;  /* "docker.io", "ghcr.io", "127.0.0.1:5000", "localhost" */
	char *path;    /* "library/busybox", "org/app" */
	char *tag;     /* "latest" when neither tag nor digest was given; NULL with a digest only */
	char *digest;  /* "sha256:<64 hex>" or NULL */
};

/* Parses and normalizes s; errors name the reference and what is wrong with it. */
int img_ref_parse(const char *s, struct img_ref *ret, struct err *err);
void img_ref_free(struct img_ref *r);
/* "docker.io/library/busybox:latest", "host/x@sha256:..", "host/x:tag@sha256:.." */
char *img_ref_string(const struct img_ref *r);
/* "docker.io/library/busybox" (no tag or digest): the repository name. */
char *img_ref_repo(const struct img_ref *r);
/* The host to contact: docker.io -> registry-1.docker.io; others unchanged. */
const char *img_ref_registry_host(const struct img_ref *r);
/* The short form users type: "busybox:latest", "ghcr.io/org/app:1.2". */
char *img_ref_familiar(const struct img_ref *r);

#endif
