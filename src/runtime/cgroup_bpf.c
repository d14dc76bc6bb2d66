/* cgroup_bpf: the devices-controller emulator and the v2 device filter program.
 * The emulator follows the kernel's devcgroup_update_access(): an "a" rule resets the
 * default and drops all exceptions; any other rule adds to or removes access from the
 * exception with the same type/major/minor. The program then checks exactly what the
 * v1 controller checks: under default-deny an exception must cover every requested
 * access bit; under default-allow an exception denies when it shares any bit. */
#include "runtime/cgroup_bpf.h"

#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/util.h"

#define MAX_PROGS 64
#define VLOG_SIZE (256 * 1024)

static bool is_total(const struct rt_dev_rule *r)
{
	return r->type == 'a' && r->major == RES_DEV_WILDCARD && r->minor == RES_DEV_WILDCARD &&
	       r->access == RT_DEV_RWM;
}

static struct rt_dev_rule *ex_find(struct rt_dev_state *st, const struct rt_dev_rule *r)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->ex[i].type == r->type && st->ex[i].major == r->major &&
		    st->ex[i].minor == r->minor)
			return &st->ex[i];
	return NULL;
}

static void ex_add(struct rt_dev_state *st, const struct rt_dev_rule *r)
{
	struct rt_dev_rule *e = ex_find(st, r);

	if (e) {
		e->access |= r->access;
		return;
	}
	st->ex = xrealloc(st->ex, (st->n + 1) * sizeof(*st->ex));
	st->ex[st->n] = *r;
	st->ex[st->n++].allow = !st->allow_default;
}

static void ex_rm(struct rt_dev_state *st, const struct rt_dev_rule *r)
{
	struct rt_dev_rule *e = ex_find(st, r);

	if (!e)
		return;
	e->access &= ~r->access;
	if (e->access == 0) {
		size_t i = e - st->ex;
		memmove(e, e + 1, (st->n - i - 1) * sizeof(*e));
		st->n--;
	}
}

static void apply_rule(struct rt_dev_state *st, const struct rt_dev_rule *r)
{
	if (is_total(r)) {
		st->allow_default = r->allow;
		st->n = 0;
		return;
	}
	/* a rule of type 'a' with numbers or partial access stands for both c and b */
	if (r->type == 'a') {
		struct rt_dev_rule c = *r, b = *r;
		c.type = 'c';
		b.type = 'b';
		apply_rule(st, &c);
		apply_rule(st, &b);
		return;
	}
	if (r->allow == st->allow_default)
		ex_rm(st, r);
	else
		ex_add(st, r);
}

void rt_dev_emulate(const struct rt_dev_rule *rules, size_t n, bool with_defaults,
		    struct rt_dev_state *ret)
{
	struct rt_dev_state st = {.allow_default = false};

	for (size_t i = 0; i < n; i++)
		apply_rule(&st, &rules[i]);
	for (size_t i = 0; with_defaults && i < rt_n_default_devices; i++)
		apply_rule(&st, &rt_default_devices[i]);
	*ret = st;
}

void rt_dev_state_clear(struct rt_dev_state *st)
{
	free(st->ex);
	st->ex = NULL;
	st->n = 0;
}

static bool ex_matches(const struct rt_dev_rule *e, char type, unsigned major, unsigned minor)
{
	return e->type == type && (e->major == RES_DEV_WILDCARD || (unsigned)e->major == major) &&
	       (e->minor == RES_DEV_WILDCARD || (unsigned)e->minor == minor);
}

int rt_dev_check(const struct rt_dev_state *st, char type, unsigned major, unsigned minor,
		 unsigned access)
{
	for (size_t i = 0; i < st->n; i++) {
		const struct rt_dev_rule *e = &st->ex[i];
		if (!ex_matches(e, type, major, minor))
			continue;
		if (!st->allow_default && (access & ~e->access) == 0)
			return 1;
		if (st->allow_default && (access & e->access) != 0)
			return 0;
	}
	return st->allow_default;
}

void rt_dev_format(const struct rt_dev_rule *r, char *buf, size_t len)
{
	char maj[24] = "*", min[24] = "*", acc[4];
	int n = 0;

	if (r->major != RES_DEV_WILDCARD)
		snprintf(maj, sizeof(maj), "%lld", (long long)r->major);
	if (r->minor != RES_DEV_WILDCARD)
		snprintf(min, sizeof(min), "%lld", (long long)r->minor);
	if (r->access & RT_DEV_READ)
		acc[n++] = 'r';
	if (r->access & RT_DEV_WRITE)
		acc[n++] = 'w';
	if (r->access & RT_DEV_MKNOD)
		acc[n++] = 'm';
	acc[n] = '\0';
	snprintf(buf, len, "%c %s:%s %s", r->type, maj, min, acc);
}

#define INSN(c, d, s, o, i)                                                                        \
	((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

/* One block per exception: every test jumps to the block's end when it fails; the
 * block's last two instructions return the exception's verdict. */
static size_t emit_exception(struct bpf_insn *p, const struct rt_dev_rule *e, bool allow_default)
{
	struct bpf_insn blk[8];
	size_t n = 0;

	if (e->type != 'a')
		blk[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0,
				e->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
	if (!allow_default && e->access != RT_DEV_RWM) {
		/* allow only if no requested bit is outside the exception's access */
		blk[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, 3, 0, 0);
		blk[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, 1, 0, 0, ~e->access & RT_DEV_RWM);
		blk[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 1, 0, 0, 0);
	} else if (allow_default && e->access != RT_DEV_RWM) {
		/* deny if any requested bit is in the exception's access */
		blk[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, 3, 0, 0);
		blk[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, 1, 0, 0, e->access);
		blk[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0, 0);
	}
	if (e->major != RES_DEV_WILDCARD)
		blk[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, (int32_t)e->major);
	if (e->minor != RES_DEV_WILDCARD)
		blk[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, (int32_t)e->minor);
	blk[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, allow_default ? 0 : 1);
	blk[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	for (size_t i = 0; i < n; i++) {
		if (BPF_CLASS(blk[i].code) == BPF_JMP && BPF_OP(blk[i].code) != BPF_EXIT)
			blk[i].off = (int16_t)(n - i - 1);
		p[i] = blk[i];
	}
	return n;
}

void rt_devbpf_build(const struct rt_dev_state *st, struct bpf_insn **ret, size_t *ret_n)
{
	struct bpf_insn *p = xcalloc(6 + st->n * 8 + 2, sizeof(*p));
	size_t n = 0;

	/* r2 = type, r3 = access, r4 = major, r5 = minor (struct bpf_cgroup_dev_ctx) */
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, 3, 2, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, 2, 0, 0, 0xffff);
	p[n++] = INSN(BPF_ALU64 | BPF_RSH | BPF_K, 3, 0, 0, 16);
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 4, 1, 4, 0);
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 5, 1, 8, 0);
	for (size_t i = 0; i < st->n; i++)
		n += emit_exception(p + n, &st->ex[i], st->allow_default);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, st->allow_default ? 1 : 0);
	p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	*ret = p;
	*ret_n = n;
}

static int sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/* The verifier's log lists the instructions, then the reason, then statistics. */
static const char *verifier_reason(char *vlog)
{
	const char *reason = "rejected by the verifier";
	char *save = NULL;

	for (char *l = strtok_r(vlog, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (!(l[0] >= '0' && l[0] <= '9') && strncmp(l, "processed ", 10) != 0 &&
		    strncmp(l, "verification time", 17) != 0)
			reason = l;
	return reason;
}

int rt_devbpf_load(const struct bpf_insn *insns, size_t n, int *ret_fd, struct err *err)
{
	_cleanup_free_ char *vlog = NULL;
	union bpf_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uintptr_t)insns;
	attr.insn_cnt = n;
	attr.license = (uintptr_t) "GPL";
	fd = sys_bpf(BPF_PROG_LOAD, &attr);
	if (fd < 0 && errno == EINVAL) {
		/* load again with the verifier's log so the error says why */
		vlog = xcalloc(1, VLOG_SIZE);
		attr.log_buf = (uintptr_t)vlog;
		attr.log_size = VLOG_SIZE;
		attr.log_level = 1;
		fd = sys_bpf(BPF_PROG_LOAD, &attr);
		if (fd < 0 && (errno == EINVAL || errno == ENOSPC))
			return err_msg(err, EINVAL, "load device filter: %s",
				       verifier_reason(vlog));
	}
	if (fd < 0)
		return err_sys(err, errno, "load device filter");
	*ret_fd = fd;
	return 0;
}

static int query_progs(int cgfd, uint32_t *ids, uint32_t *ret_n, struct err *err)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.query.target_fd = cgfd;
	attr.query.attach_type = BPF_CGROUP_DEVICE;
	attr.query.prog_ids = (uintptr_t)ids;
	attr.query.prog_cnt = MAX_PROGS;
	if (sys_bpf(BPF_PROG_QUERY, &attr) < 0)
		return err_sys(err, errno, "query device filters");
	*ret_n = attr.query.prog_cnt;
	return 0;
}

static int detach_prog(int cgfd, uint32_t id, struct err *err)
{
	union bpf_attr attr;
	_cleanup_close_ int fd = -1;

	memset(&attr, 0, sizeof(attr));
	attr.prog_id = id;
	fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
	if (fd < 0)
		return errno == ENOENT ? 0 : err_sys(err, errno, "get device filter %u", id);
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = cgfd;
	attr.attach_bpf_fd = fd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	if (sys_bpf(BPF_PROG_DETACH, &attr) < 0 && errno != ENOENT)
		return err_sys(err, errno, "detach device filter %u", id);
	return 0;
}

int rt_devbpf_attach(int cgfd, int prog_fd, bool replace, struct err *err)
{
	uint32_t old[MAX_PROGS];
	uint32_t n_old = 0;
	union bpf_attr attr;
	int r;

	if (replace && (r = query_progs(cgfd, old, &n_old, err)) < 0)
		return r;
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = cgfd;
	attr.attach_bpf_fd = prog_fd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	attr.attach_flags = BPF_F_ALLOW_MULTI;
	if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0)
		return err_sys(err, errno, "attach device filter");
	for (uint32_t i = 0; i < n_old && i < MAX_PROGS; i++)
		if ((r = detach_prog(cgfd, old[i], err)) < 0)
			return r;
	return 0;
}
