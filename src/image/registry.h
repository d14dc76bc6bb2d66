/* registry: the distribution v2 client — pulls images into the store over HTTP(S) with
 * libcurl: /v2/ ping, Bearer (realm/service/scope, anonymous or with credentials,
 * refreshed on expiry or 401) and Basic auth, credentials from flags or
 * ~/.docker/config.json "auths", system CAs plus /etc/coop/certs.d/HOST:PORT/ca.crt,
 * plain HTTP only for registries configured insecure, redirects followed for blobs,
 * layers fetched concurrently (curl multi), resumed with Range, verified, retried with
 * backoff; progress per layer and in total. */
#ifndef COOP_IMAGE_REGISTRY_H
#define COOP_IMAGE_REGISTRY_H

#include <stdbool.h>
#include <stdio.h>

#include "base/err.h"
#include "image/store.h"

struct img_pull_opts {
	const char *username, *password; /* flags; else docker config; else anonymous */
	const char *docker_config;       /* NULL = $DOCKER_CONFIG/config.json or ~/.docker/config.json */
	const char *certs_dir;           /* NULL = /etc/coop/certs.d */
	char *const *insecure;           /* "host:port" registries allowed over plain HTTP */
	const char *os, *arch, *variant; /* NULL = this machine */
	int parallel;                    /* concurrent layer downloads (default 4) */
	int retries;                     /* per request (default 5) */
	FILE *progress;                  /* NULL = quiet; a TTY gets bars, else lines */
};

/* Pulls ref into the store, unpacks its layers, points the name at it. The error
 * names the image (and the layer, for a layer's failure). ret_manifest optional. */
int img_pull(struct img_store *st, const char *ref, const struct img_pull_opts *o,
	     char **ret_manifest, struct err *err);

#endif
