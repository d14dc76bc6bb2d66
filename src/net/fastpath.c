/* fastpath: loads, finds and feeds the overlay's tc program through libbpf (dlopened: see
 * base/dl_bpf.h). The object is built from net/bpf/fastpath.bpf.c and embedded in coop
 * (fastpath_obj.S); an instance is found again through the tc filter on the VPC's VXLAN
 * device: filter -> program id -> its map ids -> maps by name. */
#include "net/fastpath.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/dl_bpf.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/util.h"
#include "net/bpf/fastpath.h"
#include "net/overlay.h"

/* The filter's place on every device it is attached to: coop's own handle and priority,
 * so a user's filters on those devices are left alone. */
#define FP_HANDLE 0xc0
#define FP_PRIO 1
/* On the underlay device, shared by the VPCs: one filter per VPC, told apart by VNI. */
#define FP_UL_HANDLE(vni) (0x1000000u | (vni))

/* One instance's file descriptors (-1: none); mesh: the object with the published ports'
 * part (FP_MESH), mesh_on: and that part is on (its cfg has a timeout). */
struct fp {
	int prog, ul, cfg, eps, peers, stats; /* ul: coop_fastpath_ul */
	bool mesh, mesh_on;
};
#define FP_NONE { -1, -1, -1, -1, -1, -1, false, false }

/* conntrack's settings in the node's network namespace, for the mesh's part */
#define CT_SYSCTL "/proc/sys/net/netfilter/nf_conntrack_tcp_"
#define CT_EST_DEFAULT_S 432000u /* the kernel's default: 5 days */

/* Its maps by the names the object gives them. */
static const struct {
	const char *name;
	size_t off;
} fp_maps[] = {
	{ "cfg", offsetof(struct fp, cfg) },
	{ "eps", offsetof(struct fp, eps) },
	{ "peers", offsetof(struct fp, peers) },
	{ "stats", offsetof(struct fp, stats) },
};

static int *fp_map(struct fp *fp, size_t i)
{
	return (int *)((char *)fp + fp_maps[i].off);
}

static void fp_close(struct fp *fp)
{
	int *fds[] = { &fp->prog, &fp->ul, &fp->cfg, &fp->eps, &fp->peers, &fp->stats };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (*fds[i] >= 0)
			close(*fds[i]), *fds[i] = -1;
}

void net_fastpath_mac(uint32_t ip, uint8_t mac[6])
{
	uint32_t be = htonl(ip);
	mac[0] = 0x0a;
	mac[1] = 0x58;
	memcpy(mac + 2, &be, 4);
}

/* COOP_NET_FASTPATH: off (or 0, no), nomesh (the program without the published ports'
 * part, and no conntrack setting), anything else on. */
enum fp_mode { FP_ON, FP_NOMESH, FP_OFF };

static enum fp_mode fp_mode(void)
{
	const char *v = getenv(NET_FASTPATH_ENV);

	if (v && (streq(v, "off") || streq(v, "0") || streq(v, "no")))
		return FP_OFF;
	return v && streq(v, "nomesh") ? FP_NOMESH : FP_ON;
}

static bool disabled(void)
{
	return fp_mode() == FP_OFF;
}

/* libbpf's own messages (the verifier's log among them) at debug level only: a refusal
 * is reported once, by the caller. */
static int lbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_DEBUG && log_level() >= LOG_DEBUG) {
		char line[512];
		vsnprintf(line, sizeof(line), fmt, ap);
		line[strcspn(line, "\n")] = 0;
		log_debug("libbpf: %s", line);
	}
	return 0;
}

static int lib_ready(struct err *err)
{
	static int printer;
	int r = dl_load(&dl_bpf, err);
	if (r == 0 && !__atomic_exchange_n(&printer, 1, __ATOMIC_ACQ_REL))
		libbpf_set_print(lbpf_print);
	return r;
}

static int hook_attach_h(int ifindex, uint32_t handle, int prog_fd, struct err *err)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = handle, .priority = FP_PRIO, .prog_fd = prog_fd,
		    .flags = BPF_TC_F_REPLACE);
	int r = bpf_tc_hook_create(&hook);

	if (r < 0 && r != -EEXIST)
		return err_msg(err, -r, "tc ingress of interface %d: %s", ifindex, strerror(-r));
	if ((r = bpf_tc_attach(&hook, &o)) < 0)
		return err_msg(err, -r, "attach to interface %d: %s", ifindex, strerror(-r));
	return 0;
}

static int hook_attach(int ifindex, int prog_fd, struct err *err)
{
	return hook_attach_h(ifindex, FP_HANDLE, prog_fd, err);
}

static void hook_detach_h(int ifindex, uint32_t handle)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = handle, .priority = FP_PRIO);
	bpf_tc_detach(&hook, &o);
}

static void hook_detach(int ifindex)
{
	hook_detach_h(ifindex, FP_HANDLE);
}

/* The program of the filter (handle) on ifindex's ingress, or -ENOENT. */
static int hook_prog(int ifindex, uint32_t handle)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = handle, .priority = FP_PRIO);
	int fd;

	if (bpf_tc_query(&hook, &o) < 0 || (fd = bpf_prog_get_fd_by_id(o.prog_id)) < 0)
		return -ENOENT;
	return fd;
}

/* The instance attached to vxlan_idx, when it is ours and of this version; with_ul: its
 * underlay filter too. */
static int fp_find(int vxlan_idx, bool with_ul, struct fp *fp)
{
	struct bpf_prog_info info = { 0 };
	uint32_t ids[8], len = sizeof(info), zero = 0;
	struct fp_cfg c;

	*fp = (struct fp)FP_NONE;
	if ((fp->prog = hook_prog(vxlan_idx, FP_HANDLE)) < 0)
		return -ENOENT;
	info.nr_map_ids = ARRAY_SIZE(ids);
	info.map_ids = (uint64_t)(uintptr_t)ids;
	if (bpf_obj_get_info_by_fd(fp->prog, &info, &len) < 0 || info.nr_map_ids > ARRAY_SIZE(ids))
		goto fail;
	for (uint32_t i = 0; i < info.nr_map_ids; i++) {
		struct bpf_map_info mi = { 0 };
		uint32_t mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]), *slot = NULL;

		if (fd < 0)
			goto fail;
		if (bpf_obj_get_info_by_fd(fd, &mi, &mlen) == 0)
			for (size_t k = 0; k < ARRAY_SIZE(fp_maps) && !slot; k++)
				if (streq(mi.name, fp_maps[k].name))
					slot = fp_map(fp, k);
		if (!slot || *slot >= 0) {
			close(fd);
			goto fail;
		}
		*slot = fd;
	}
	for (size_t k = 0; k < ARRAY_SIZE(fp_maps); k++)
		if (*fp_map(fp, k) < 0)
			goto fail;
	if (bpf_map_lookup_elem(fp->cfg, &zero, &c) < 0 || c.version != FP_VERSION ||
	    c.vxlan_ifindex != (uint32_t)vxlan_idx)
		goto fail;
	fp->mesh = c.mesh_obj != 0;
	fp->mesh_on = fp->mesh && c.ct_est_ms != 0;
	if (with_ul && (fp->ul = hook_prog((int)c.ul_ifindex, FP_UL_HANDLE(c.vni))) < 0)
		goto fail;
	return 0;
fail:
	fp_close(fp);
	return -ESTALE;
}

/* A new instance of the embedded object [img, img_end), eps sized for the node's subnet
 * of vpc. */
static int fp_load_obj(const struct net_vpc *vpc, const unsigned char *img,
		       const unsigned char *img_end, struct fp *fp, struct err *err)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "coop_fastpath");
	size_t size = (size_t)(img_end - img);
	unsigned bits = 32 - (unsigned)vpc->subnet.prefix;
	uint32_t n = bits >= 16 ? 65536 : bits <= 4 ? 16 : 1u << bits;
	struct bpf_object *obj;
	struct bpf_program *p, *pu;
	struct bpf_map *m;
	int r;

	*fp = (struct fp)FP_NONE;
	if (!(obj = bpf_object__open_mem(img, size, &oo)))
		return err_msg(err, errno, "open the embedded program: %s", strerror(errno));
	if (!(m = bpf_object__find_map_by_name(obj, "eps")) ||
	    !(p = bpf_object__find_program_by_name(obj, "coop_fastpath")) ||
	    !(pu = bpf_object__find_program_by_name(obj, "coop_fastpath_ul"))) {
		r = err_msg(err, ENOENT, "the embedded program lacks its map or entry point");
		goto out;
	}
	bpf_map__set_max_entries(m, n);
	if ((r = bpf_object__load(obj)) < 0) {
		err_msg(err, -r, "the kernel refused the program: %s", strerror(-r));
		goto out;
	}
	fp->prog = dup(bpf_program__fd(p));
	fp->ul = dup(bpf_program__fd(pu));
	r = fp->prog < 0 || fp->ul < 0;
	for (size_t k = 0; k < ARRAY_SIZE(fp_maps); k++)
		r |= (*fp_map(fp, k) = dup(bpf_map__fd(
			      bpf_object__find_map_by_name(obj, fp_maps[k].name)))) < 0;
	if (r) {
		r = err_sys(err, errno, "keep the program's descriptors");
		fp_close(fp);
	}
out:
	bpf_object__close(obj);
	return r;
}

/* The kernel refused the object with the mesh's part once: this process (the daemon)
 * does not try it again. */
static bool mesh_refused;

static bool mesh_wanted(void)
{
	return fp_mode() == FP_ON && !__atomic_load_n(&mesh_refused, __ATOMIC_RELAXED);
}

/* The object with the mesh's part, or, where the kernel refuses it (no conntrack kfuncs
 * or no BTF: kernels before 6.0 or built without them) or COOP_NET_FASTPATH=nomesh, the
 * one without. */
static int fp_load(const struct net_vpc *vpc, struct fp *fp, struct err *err)
{
	struct err e = { 0 };

	if (!mesh_wanted())
		return fp_load_obj(vpc, coop_fastpath_obj, coop_fastpath_obj_end, fp, err);
	if (fp_load_obj(vpc, coop_fastpath_mesh_obj, coop_fastpath_mesh_obj_end, fp, &e) == 0) {
		fp->mesh = true;
		return 0;
	}
	__atomic_store_n(&mesh_refused, true, __ATOMIC_RELAXED);
	log_info("fast path: the kernel refused its part for published ports (%s); their "
		 "connections stay on the kernel's path", e.msg);
	return fp_load_obj(vpc, coop_fastpath_obj, coop_fastpath_obj_end, fp, err);
}

/* conntrack's ESTABLISHED timeout here, in ms, which the mesh's part refreshes as
 * conntrack would; and its window checks made liberal (only out-of-window RSTs are
 * invalid), since conntrack no longer sees every segment of a connection the program
 * carries: without it, the segments it does see (FIN, RST, those the program passes on)
 * would be marked invalid and escape the translation. The setting is the network
 * namespace's, as kube-proxy's --conntrack-tcp-be-liberal sets it. */
static uint32_t ct_prepare(void)
{
	_cleanup_free_ char *t = NULL;
	unsigned long s = CT_EST_DEFAULT_S;
	struct err err = { 0 };

	if (fs_read(CT_SYSCTL "timeout_established", &t, NULL) == 0)
		s = strtoul(t, NULL, 10) ?: CT_EST_DEFAULT_S;
	if (s > UINT32_MAX / 1000) /* ms in the cfg's u32 */
		s = UINT32_MAX / 1000;
	free(t), t = NULL;
	if (fs_read(CT_SYSCTL "be_liberal", &t, &err) < 0) {
		/* no conntrack here (yet): nothing to carry, and nothing set */
		log_debug("published ports: not on the fast path (%s)", err.msg);
		return 0;
	}
	if (t[0] == '0') {
		if (fs_write(CT_SYSCTL "be_liberal", "1\n", &err) < 0) {
			log_warn("published ports: cannot set nf_conntrack_tcp_be_liberal (%s); "
				 "their connections stay on the kernel's path", err.msg);
			return 0;
		}
		log_info("published ports: set net.netfilter.nf_conntrack_tcp_be_liberal=1 for "
			 "the fast path (%s=nomesh leaves them to the kernel)", NET_FASTPATH_ENV);
	}
	return (uint32_t)(s * 1000);
}

static void cfg_fill(const struct net_vpc *vpc, int vxlan_idx, int ul_idx, struct in_addr local,
		     struct fp_cfg *c)
{
	*c = (struct fp_cfg){
		.version = FP_VERSION,
		.vxlan_ifindex = (uint32_t)vxlan_idx,
		.net = htonl(vpc->cidr.addr),
		.mask = htonl(vpc->cidr.prefix ? ~0u << (32 - vpc->cidr.prefix) : 0),
		.ul_ifindex = (uint32_t)ul_idx,
		.local = local.s_addr,
		.vni = vpc->vni,
	};
	net_fastpath_mac(vpc->gateway, c->gw_mac); /* the bridge's (net/attach.c sets it so) */
}

static int ep_set(const struct fp *fp, uint32_t ip, int veth_idx, struct err *err)
{
	uint32_t key = htonl(ip);
	struct fp_ep ep = { .ifindex = (uint32_t)veth_idx };
	int r;

	if ((r = hook_attach(veth_idx, fp->prog, err)) < 0)
		return r;
	if (bpf_map_update_elem(fp->eps, &key, &ep, BPF_ANY) < 0)
		return err_sys(err, errno, "add %08x to the container map", ip);
	return 0;
}

/* The veth of each lease of vpc (0 when it has none here). */
static int lease_veth(struct net_nl *nl, const struct net_lease *l)
{
	char veth[16];
	int idx;

	netstate_veth_name(l->owner, veth);
	idx = net_link_index(nl, veth, NULL);
	return idx > 0 ? idx : 0;
}

static void veths_detach(struct net_nl *nl, const struct net_vpc *vpc)
{
	for (size_t i = 0; i < vpc->n_leases; i++) {
		int idx = lease_veth(nl, &vpc->leases[i]);
		if (idx > 0)
			hook_detach(idx);
	}
}

/* Deletes the keys of map_fd (u32 addresses) not among want[0..n): containers removed
 * while no coop process ran, peers that left. */
static void map_prune(int map_fd, const uint32_t *want, size_t n)
{
	uint32_t key, *prev = NULL, gone[64];
	size_t k = 0;

	while (k < ARRAY_SIZE(gone) && bpf_map_get_next_key(map_fd, prev, &key) == 0) {
		bool keep = false;
		for (size_t i = 0; i < n && !keep; i++)
			keep = want[i] == key;
		if (!keep)
			gone[k++] = key;
		prev = &key;
	}
	for (size_t i = 0; i < k; i++)
		bpf_map_delete_elem(map_fd, &gone[i]);
}

/* The peers map: each peer's VXLAN address (its subnet's .0) -> its underlay address. */
static int peers_set(const struct fp *fp, const struct net_overlay_peer *peers, size_t n,
		     struct err *err)
{
	_cleanup_free_ uint32_t *keys = xcalloc(n + 1, sizeof(*keys));

	for (size_t i = 0; i < n; i++) {
		struct fp_peer v = { .underlay = peers[i].underlay.s_addr };
		keys[i] = htonl(peers[i].subnet.addr);
		if (bpf_map_update_elem(fp->peers, &keys[i], &v, BPF_ANY) < 0)
			return err_sys(err, errno, "add peer '%s' to the peer map", peers[i].node);
	}
	map_prune(fp->peers, keys, n);
	return 0;
}

bool net_fastpath_sync(struct net_nl *nl, const struct net_vpc *vpc, int vxlan_idx, int ul_idx,
		       struct in_addr local, const struct net_overlay_peer *peers, size_t n_peers)
{
	_cleanup_free_ uint32_t *ips = xcalloc(vpc->n_leases + 1, sizeof(*ips));
	struct fp fp = FP_NONE;
	struct fp_cfg c;
	struct err err = { 0 };
	uint32_t zero = 0;
	bool fresh = false;
	int r;

	if (disabled()) {
		if (lib_ready(NULL) == 0) {
			veths_detach(nl, vpc);
			hook_detach(vxlan_idx);
			hook_detach_h(ul_idx, FP_UL_HANDLE(vpc->vni));
		}
		log_info("overlay of VPC '%s': fast path off (%s=off)", vpc->name, NET_FASTPATH_ENV);
		return false;
	}
	if ((r = lib_ready(&err)) < 0)
		goto warn;
	/* an instance with the mesh's part or without is replaced by the other kind when
	 * that is wanted (COOP_NET_FASTPATH=nomesh, or not, and the kernel takes it) */
	if (fp_find(vxlan_idx, true, &fp) < 0 || fp.mesh != mesh_wanted()) {
		fp_close(&fp);
		if ((r = fp_load(vpc, &fp, &err)) < 0)
			goto warn;
		fresh = true;
	}
	cfg_fill(vpc, vxlan_idx, ul_idx, local, &c);
	c.mesh_obj = fp.mesh;
	if (fp.mesh)
		c.ct_est_ms = ct_prepare();
	if (bpf_map_update_elem(fp.cfg, &zero, &c, BPF_ANY) < 0) {
		r = err_sys(&err, errno, "write its configuration");
		goto warn;
	}
	for (size_t i = 0; i < vpc->n_leases; i++) {
		const struct net_lease *l = &vpc->leases[i];
		int idx = lease_veth(nl, l);
		if (idx > 0 && (r = ep_set(&fp, l->ip, idx, &err)) < 0)
			goto warn;
	}
	for (size_t i = 0; i < vpc->n_leases; i++)
		ips[i] = htonl(vpc->leases[i].ip);
	map_prune(fp.eps, ips, vpc->n_leases);
	if ((r = peers_set(&fp, peers, n_peers, &err)) < 0)
		goto warn;
	/* the devices last: a replaced instance keeps working until the new one is complete */
	if ((r = hook_attach(vxlan_idx, fp.prog, &err)) < 0 ||
	    (r = hook_attach_h(ul_idx, FP_UL_HANDLE(vpc->vni), fp.ul, &err)) < 0)
		goto warn;
	log_debug("overlay of VPC '%s': fast path %s, %zu containers", vpc->name,
		  fresh ? "loaded" : "adopted", vpc->n_leases);
	fp_close(&fp);
	return true;
warn:
	log_warn("overlay of VPC '%s': no fast path (%s); the normal path carries it", vpc->name,
		 err.msg);
	if (fp.prog >= 0) {
		veths_detach(nl, vpc);
		hook_detach(vxlan_idx);
		hook_detach_h(ul_idx, FP_UL_HANDLE(vpc->vni));
	}
	fp_close(&fp);
	return false;
}

/* vpc's instance, when its overlay device is here and carries one. */
static int fp_of(struct net_nl *nl, const struct net_vpc *vpc, struct fp *fp)
{
	char dev[16];
	int idx;

	*fp = (struct fp)FP_NONE;
	if (disabled())
		return -ENOENT;
	net_overlay_dev_name(vpc, dev);
	if ((idx = net_link_index(nl, dev, NULL)) <= 0 || lib_ready(NULL) < 0)
		return -ENOENT;
	return fp_find(idx, false, fp);
}

void net_fastpath_add(struct net_nl *nl, const struct net_vpc *vpc, int veth_idx, uint32_t ip)
{
	struct fp fp;
	struct err err = { 0 };

	if (fp_of(nl, vpc, &fp) < 0)
		return;
	if (ep_set(&fp, ip, veth_idx, &err) < 0)
		log_warn("fast path of VPC '%s': %s; the normal path carries it", vpc->name, err.msg);
	fp_close(&fp);
}

void net_fastpath_del(struct net_nl *nl, const struct net_vpc *vpc, uint32_t ip)
{
	struct fp fp;
	uint32_t key = htonl(ip);

	if (fp_of(nl, vpc, &fp) < 0)
		return;
	bpf_map_delete_elem(fp.eps, &key);
	fp_close(&fp);
}

void net_fastpath_off(struct net_nl *nl, const struct net_vpc *vpc)
{
	struct fp fp;
	struct fp_cfg c;
	uint32_t zero = 0;

	if (fp_of(nl, vpc, &fp) == 0) {
		if (bpf_map_lookup_elem(fp.cfg, &zero, &c) == 0)
			hook_detach_h((int)c.ul_ifindex, FP_UL_HANDLE(c.vni));
		fp_close(&fp);
	}
	if (lib_ready(NULL) == 0)
		veths_detach(nl, vpc);
}

void net_fastpath_read(struct net_nl *nl, const struct net_vpc *vpc,
		       struct net_fastpath_stats *ret)
{
	struct fp fp;
	int ncpu;
	uint32_t key, *prev = NULL;

	memset(ret, 0, sizeof(*ret));
	if (fp_of(nl, vpc, &fp) < 0)
		return;
	ret->on = true;
	ret->mesh = fp.mesh_on;
	if ((ncpu = libbpf_num_possible_cpus()) > 0) {
		_cleanup_free_ uint64_t *v = xcalloc((size_t)ncpu, sizeof(*v));
		uint64_t *sums[] = { [FP_STAT_OUT] = &ret->out,
				     [FP_STAT_IN] = &ret->in,
				     [FP_STAT_DECAP] = &ret->decap,
				     [FP_STAT_ENCAP] = &ret->encap,
				     [FP_STAT_MESH_OUT] = &ret->mesh_out,
				     [FP_STAT_MESH_BACK] = &ret->mesh_back };
		for (uint32_t k = 0; k < FP_STAT_N; k++)
			if (bpf_map_lookup_elem(fp.stats, &k, v) == 0)
				for (int i = 0; i < ncpu; i++)
					*sums[k] += v[i];
	}
	while (bpf_map_get_next_key(fp.eps, prev, &key) == 0)
		ret->eps++, prev = &key;
	fp_close(&fp);
}
