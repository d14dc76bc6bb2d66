/* bun: `.bun` workload files — Budgie's format exactly (version, name,
 * image.docker_image/command/workdir, ports, volumes, environment, resources,
 * healthcheck, replicas) plus coop's extensions beside it (entrypoint, command, user,
 * workdir, labels, restart, vpc, resources.memory/cpu/disk, healthcheck type/command/
 * start_period, ports[].publish). Parsed with libyaml; every error names
 * file:line:column and the field; unknown fields are warnings. Pure apart from resolving
 * relative volume sources against the file's directory. */
#ifndef COOP_STATE_BUN_H
#define COOP_STATE_BUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define BUN_MAX_FILE (1u << 20)

struct bun_port {
	uint16_t container_port;
	uint16_t host_port; /* 0: not published */
	char proto[4];      /* "tcp" or "udp" */
	bool host_mode;     /* publish: host (only on the replica's node) vs ingress (mesh) */
};

struct bun_volume {
	char *source; /* absolute host path, or a named volume's name */
	bool named;
	char *target; /* absolute path in the container */
	bool readonly;
};

enum bun_health_kind { BUN_HEALTH_HTTP, BUN_HEALTH_TCP, BUN_HEALTH_EXEC };

struct bun_health {
	enum bun_health_kind kind;
	char *path;     /* http */
	char **command; /* exec */
	uint16_t port;  /* http/tcp: default the first container port */
	uint64_t interval_ms, timeout_ms, start_period_ms;
	int retries;
};

enum bun_restart { BUN_RESTART_NO, BUN_RESTART_ON_FAILURE, BUN_RESTART_ALWAYS,
		   BUN_RESTART_UNLESS_STOPPED };

struct bun_resources {
	int64_t cpu_shares, cpu_quota, memory_limit, memory_swap, blkio_weight, pids_limit;
	int64_t disk; /* bytes of the writable layer (image/disk.h) */
	double cpus; /* "cpu: 0.5" = quota 50000 per 100000 */
};

struct bun_spec {
	char *version;
	char *name;
	char *image;
	char **entrypoint, **command; /* NULL = the image's */
	char *workdir, *user, *vpc;
	char **env;
	struct bun_port *ports;
	size_t n_ports;
	struct bun_volume *volumes;
	size_t n_volumes;
	struct bun_resources res; /* -1 = unset */
	struct bun_health *health;
	int replicas_min, replicas_max;
	enum bun_restart restart;
	int restart_max; /* on-failure:N; 0 = unlimited */
	bool init;       /* a minimal init as PID 1 (reaps, passes signals on) */
	json_t *labels;
	json_t *placement; /* {"constraints": [...], "spread": key}, NULL = anywhere */
	char **warnings; /* "web.bun:7:3: unknown field 'imagee' (ignored)" */
};

/* name: the file name used in messages; base_dir: where relative volume sources
 * start (NULL = refuse relative sources). */
int bun_parse(const char *name, const char *data, size_t len, const char *base_dir,
	      struct bun_spec **ret, struct err *err);
int bun_parse_file(const char *path, struct bun_spec **ret, struct err *err);
void bun_spec_free(struct bun_spec *s);
/* The workload as the API takes it (POST /v1/workloads). */
json_t *bun_to_json(const struct bun_spec *s);

/* "30s", "1m30s", "500ms", "2h" -> milliseconds; -EINVAL when malformed. */
int bun_duration_ms(const char *s, uint64_t *ret);
/* "512m", "1g", "1048576", "64k" -> bytes. */
int bun_size_bytes(const char *s, int64_t *ret);
/* A disk limit ("512M", "1G"): a size within image/disk.h's bounds; the message says
 * what is wrong with s, the caller names the field. */
int bun_disk_bytes(const char *s, int64_t *ret, struct err *err);

#endif
