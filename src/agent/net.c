/* net: networking for agent containers over net/ — the monitor attaches a container
 * to its VPC between create and start (and detaches it after it exits); the daemon
 * publishes a workload's host ports and keeps each replica's place in their backend
 * sets as it starts, turns healthy or unhealthy, and stops. Every call takes the
 * node's network state lock only for its own few milliseconds. */
#include "agent/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/record.h"
#include "base/fs.h"
#include "base/js.h"
#include "base/log.h"
#include "base/util.h"
#include "net/attach.h"
#include "net/ipam.h"
#include "net/netstate.h"
#include "net/ports.h"

/* The files a networked container gets bind-mounted onto /etc, as Docker does: the
 * rootfs is the image's overlay, and writing through it would follow the image's
 * symlinks. They are made before create and filled in place after the attach (a
 * rename would leave the mount on the old inode). */
static const char *const etc_files[] = { "hosts", "hostname", "resolv.conf" };

static void state_closep(struct netstate **ns)
{
	if (*ns)
		netstate_close(*ns);
}
#define _cleanup_state_ _cleanup_(state_closep)

static const char *vpc_of(json_t *spec)
{
	const char *v = json_string_value(json_object_get(spec, "vpc"));
	return v && *v ? v : NETSTATE_DEFAULT_VPC;
}

bool ag_net_wanted(json_t *spec)
{
	const char *v = json_string_value(json_object_get(spec, "vpc"));
	return json_array_size(json_object_get(spec, "ports")) > 0 || (v && *v);
}

static int find_vpc(struct netstate *ns, json_t *spec, struct net_vpc **ret, struct err *err)
{
	const char *name = vpc_of(spec);

	if (!(*ret = netstate_vpc_find(ns, name)))
		return err_msg(err, ENOENT, "VPC '%s' not found (see 'coop vpc list')", name);
	return 0;
}

/* ---- the container's side (in the monitor) ---- */

/* Rewrites path's content without replacing its inode. */
static int write_in_place(const char *path, const char *text, struct err *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	size_t len = strlen(text);

	if (fd < 0)
		return err_sys(err, errno, "open '%s'", path);
	if (write(fd, text, len) != (ssize_t)len)
		return err_sys(err, errno ? errno : EIO, "write '%s'", path);
	return 0;
}

int ag_net_prepare(const char *dir, json_t *rec, json_t *oci, struct err *err)
{
	json_t *mounts = json_object_get(oci, "mounts");
	const char *name = json_string_value(json_object_get(rec, "name"));
	_cleanup_free_ char *hn = xasprintf("%s\n", name ? name : "");
	const char *text[] = { "127.0.0.1\tlocalhost\n", hn, "" };
	int r;

	if (!ag_net_wanted(json_object_get(rec, "spec")))
		return 0;
	if (!mounts) {
		mounts = json_array();
		json_object_set_new(oci, "mounts", mounts);
	}
	for (size_t i = 0; i < ARRAY_SIZE(etc_files); i++) {
		_cleanup_free_ char *src = xasprintf("%s/%s", dir, etc_files[i]);
		_cleanup_free_ char *dst = xasprintf("/etc/%s", etc_files[i]);
		if ((r = fs_replace(src, text[i], strlen(text[i]), 0644, err)) < 0)
			return r;
		json_array_append_new(mounts, json_pack("{s:s,s:s,s:s,s:[s,s]}", "destination", dst,
							"type", "bind", "source", src, "options",
							"bind", "rw"));
	}
	return 0;
}

/* net_attach wrote the files into stage: copy them onto the mounted ones. */
static int etc_fill(const char *dir, const char *stage, struct err *err)
{
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(etc_files); i++) {
		_cleanup_free_ char *from = xasprintf("%s/%s", stage, etc_files[i]);
		_cleanup_free_ char *to = xasprintf("%s/%s", dir, etc_files[i]);
		_cleanup_free_ char *text = NULL;
		if ((r = fs_read(from, &text, err)) < 0 || (r = write_in_place(to, text, err)) < 0)
			return r;
	}
	return 0;
}

static int net_record(const char *dir, const struct net_vpc *v, const char *owner, uint32_t ip,
		      struct err *err)
{
	char a[16], g[16];
	_cleanup_json_ json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "ip", net_ipam_addr_fmt(ip, a),
					     "vpc", v->name, "gateway",
					     net_ipam_addr_fmt(v->gateway, g), "owner", owner);
	return ag_json_replace(dir, "net.json", j, err);
}

int ag_net_attach(const char *net_dir, const char *dir, const char *id, json_t *rec,
		  const char *netns, struct err *err)
{
	json_t *spec = json_object_get(rec, "spec");
	const char *owner = json_string_value(json_object_get(rec, "name"));
	_cleanup_state_ struct netstate *ns = NULL;
	_cleanup_free_ char *stage = xasprintf("%s/etc.net", dir);
	struct net_vpc *v;
	uint32_t ip;
	int r;

	if (!ag_net_wanted(spec))
		return 0;
	if (!owner)
		return err_msg(err, EINVAL, "container '%s': no name to attach it by", id);
	struct net_attach_opts o = { .workload = json_string_value(json_object_get(rec, "workload")),
				     .hostname = owner,
				     .etc_dir = stage };
	if ((r = netstate_open(net_dir, true, &ns, err)) < 0 || (r = find_vpc(ns, spec, &v, err)) < 0)
		return err_wrap(err, "container '%s'", owner), r;
	if (netstate_lease_find(ns, owner, NULL)) {
		/* a monitor that was killed before it could detach: its lease is stale */
		struct err e = { 0 };
		log_warn("container '%s': dropping a stale lease", owner);
		if (net_detach(ns, owner, &e) < 0)
			log_warn("%s", e.msg);
	}
	if ((r = net_attach(ns, v, owner, netns, &o, &ip, err)) < 0)
		return err_wrap(err, "attach container '%s' to VPC '%s'", owner, v->name), r;
	if ((r = etc_fill(dir, stage, err)) < 0 || (r = net_record(dir, v, owner, ip, err)) < 0) {
		net_detach(ns, owner, NULL);
		return r;
	}
	fs_rm_rf(stage, NULL);
	return 0;
}

int ag_net_detach(const char *net_dir, const char *dir, const char *id, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/net.json", dir);
	_cleanup_json_ json_t *j = json_load_file(path, 0, NULL);
	const char *owner = json_string_value(json_object_get(j, "owner"));
	_cleanup_state_ struct netstate *ns = NULL;
	int r;

	if (!owner)
		return 0;
	if ((r = netstate_open(net_dir, true, &ns, err)) < 0)
		return r;
	r = net_detach(ns, owner, err);
	if (r == -ENOENT)
		r = 0;
	if (r == 0)
		unlink(path);
	return r;
}

/* ---- published ports (in the daemon) ---- */

/* The i-th published port of ports[] (only entries with a host_port count); false past
 * the last. */
bool ag_net_port_get(const char *workload, json_t *ports, size_t i, struct ag_port *ret)
{
	json_t *p;
	size_t k, n = 0;

	json_array_foreach(ports, k, p)
	{
		json_int_t host = json_integer_value(json_object_get(p, "host_port"));
		const char *mode = json_string_value(json_object_get(p, "mode"));
		if (host <= 0 || host > 65535 || n++ != i)
			continue;
		if (i == 0)
			snprintf(ret->name, sizeof(ret->name), "%s", workload);
		else
			snprintf(ret->name, sizeof(ret->name), "%s-p%zu", workload, i);
		ret->proto = json_string_value(json_object_get(p, "protocol")) ?: "tcp";
		ret->host = (uint16_t)host;
		ret->container = (uint16_t)json_integer_value(json_object_get(p, "container_port"));
		ret->host_mode = mode && streq(mode, "host");
		return true;
	}
	return false;
}

static bool pub_get(const char *workload, json_t *spec, size_t i, struct ag_port *ret)
{
	return ag_net_port_get(workload, json_object_get(spec, "ports"), i, ret);
}

static bool pub_same(const struct net_port *p, const struct ag_port *q, const struct net_vpc *v)
{
	return streq(p->proto, q->proto) && p->host_port == q->host &&
	       p->container_port == q->container && streq(p->vpc, v->id);
}

static int apply_save(struct netstate *ns, struct err *err)
{
	int r;

	if ((r = net_ports_apply(ns, false, err)) < 0)
		return r;
	return netstate_save(ns, err);
}

/* One port of the new spec: kept when unchanged, else (re)published. A mesh port is
 * the cluster's (net_cluster.c): its view publishes it, here it is left alone. */
static int publish_one(struct netstate *ns, struct net_vpc *v, const struct ag_port *q, struct err *err)
{
	struct net_port *p = netstate_port_find(ns, q->name);
	int r;

	if (p && (p->mesh || pub_same(p, q, v)))
		return 0;
	if (p && (r = netstate_port_remove(ns, q->name, err)) < 0)
		return r;
	if ((!p || p->host_port != q->host) && (r = net_port_probe(q->proto, q->host, err)) < 0)
		return r;
	return netstate_port_publish(ns, q->name, q->proto, q->host, v, q->container, NULL, err);
}

int ag_net_publish(const char *net_dir, const char *workload, json_t *spec, json_t *old,
		   struct err *err)
{
	_cleanup_state_ struct netstate *ns = NULL;
	struct net_vpc *v;
	struct ag_port q;
	int r;

	if (!pub_get(workload, spec, 0, &q) && (!old || !pub_get(workload, old, 0, &q)))
		return 0;
	if ((r = netstate_open(net_dir, true, &ns, err)) < 0 || (r = find_vpc(ns, spec, &v, err)) < 0)
		return r;
	/* ports the old spec had and the new one does not */
	for (size_t i = 0; old && pub_get(workload, old, i, &q); i++) {
		struct ag_port nq;
		struct net_port *p = netstate_port_find(ns, q.name);
		if (!pub_get(workload, spec, i, &nq) && p && !p->mesh &&
		    (r = netstate_port_remove(ns, q.name, err)) < 0)
			return r;
	}
	for (size_t i = 0; pub_get(workload, spec, i, &q); i++)
		if ((r = publish_one(ns, v, &q, err)) < 0) {
			/* in use is a conflict for the API (409), like a duplicate name */
			if (r == -EADDRINUSE)
				r = -(err->code = EEXIST);
			return r; /* nothing was saved or applied: nothing changed */
		}
	return apply_save(ns, err);
}

int ag_net_unpublish(const char *net_dir, const char *workload, json_t *spec, struct err *err)
{
	_cleanup_state_ struct netstate *ns = NULL;
	struct ag_port q;
	int r;

	if (!pub_get(workload, spec, 0, &q))
		return 0;
	if ((r = netstate_open(net_dir, true, &ns, err)) < 0)
		return r;
	for (size_t i = 0; pub_get(workload, spec, i, &q); i++) {
		struct net_port *p = netstate_port_find(ns, q.name);
		/* a mesh port answers on every node, replicas here or not */
		if (p && !p->mesh && (r = netstate_port_remove(ns, q.name, err)) < 0)
			return r;
	}
	return apply_save(ns, err);
}

int ag_net_backend(const char *net_dir, const char *workload, json_t *spec, const char *owner,
		   enum ag_backend state, struct err *err)
{
	_cleanup_state_ struct netstate *ns = NULL;
	struct ag_port q;
	bool changed = false;
	int r;

	if (!workload || !pub_get(workload, spec, 0, &q))
		return 0;
	if ((r = netstate_open(net_dir, true, &ns, err)) < 0)
		return r;
	for (size_t i = 0; pub_get(workload, spec, i, &q); i++) {
		struct net_port *p = netstate_port_find(ns, q.name);
		bool have = false, healthy = state == AG_BACKEND_HEALTHY;
		if (!p)
			continue;
		/* a mesh port's backends are the cluster's view: a replica enters it from there
		 * (net_cluster.c); going away or unhealthy is applied here at once, the view
		 * agrees a moment later */
		if (p->mesh && state == AG_BACKEND_HEALTHY)
			continue;
		for (size_t k = 0; k < p->n_backends && !have; k++)
			if (streq(p->backends[k].owner, owner)) {
				have = true;
				/* already as wanted: no ruleset to re-apply */
				if (state != AG_BACKEND_REMOVE && p->backends[k].healthy == healthy)
					goto next;
			}
		if (!have && (p->mesh || state == AG_BACKEND_REMOVE))
			continue;
		if (state == AG_BACKEND_REMOVE) {
			r = netstate_backend_remove(ns, p, owner, err);
		} else {
			r = netstate_backend_add(ns, p, owner, healthy, err);
		}
		if (r < 0)
			return err_wrap(err, "port '%s'", q.name), r;
		changed = true;
next:;
	}
	return changed ? apply_save(ns, err) : 0;
}
