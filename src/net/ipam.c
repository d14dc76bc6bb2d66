/* ipam: CIDR arithmetic, subnet carving and address leases (pure). */
#include "net/ipam.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define MAX_POOL_BITS 16 /* pools are at most /16: 65536 addresses, an 8 KiB bitmap */

static uint32_t mask_of(int prefix)
{
	return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

int net_ipam_cidr_parse(const char *s, struct net_cidr *ret, struct err *err)
{
	char buf[32], *slash, *end;
	struct in_addr a;
	long prefix;

	if (!s || strlen(s) >= sizeof(buf))
		return err_msg(err, EINVAL, "invalid CIDR '%s': expected A.B.C.D/N", s ? s : "");
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return err_msg(err, EINVAL, "invalid CIDR '%s': missing /prefix", s);
	*slash = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return err_msg(err, EINVAL, "invalid CIDR '%s': bad address", s);
	prefix = strtol(slash + 1, &end, 10);
	if (!slash[1] || *end || prefix < 0 || prefix > 32)
		return err_msg(err, EINVAL, "invalid CIDR '%s': prefix must be 0..32", s);
	ret->addr = ntohl(a.s_addr);
	ret->prefix = (int)prefix;
	if (ret->addr & ~mask_of(ret->prefix)) {
		char fixed[20];
		struct net_cidr c = { ret->addr & mask_of(ret->prefix), ret->prefix };
		return err_msg(err, EINVAL, "invalid CIDR '%s': host bits set (did you mean %s?)", s,
			       net_ipam_cidr_fmt(&c, fixed));
	}
	return 0;
}

char *net_ipam_addr_fmt(uint32_t addr, char *buf)
{
	snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255,
		 addr & 255);
	return buf;
}

char *net_ipam_cidr_fmt(const struct net_cidr *c, char *buf)
{
	char a[16];
	snprintf(buf, 19, "%s/%d", net_ipam_addr_fmt(c->addr, a), c->prefix);
	return buf;
}

bool net_ipam_overlap(const struct net_cidr *a, const struct net_cidr *b)
{
	int p = a->prefix < b->prefix ? a->prefix : b->prefix;
	return ((a->addr ^ b->addr) & mask_of(p)) == 0;
}

bool net_ipam_contains(const struct net_cidr *c, uint32_t addr)
{
	return ((addr ^ c->addr) & mask_of(c->prefix)) == 0;
}

uint32_t net_ipam_capacity(const struct net_cidr *c)
{
	uint64_t n = 1ull << (32 - c->prefix);
	return n > 3 ? (uint32_t)(n - 3) : 0;
}

uint32_t net_ipam_gateway(const struct net_cidr *subnet)
{
	return subnet->addr + 1;
}

int net_ipam_subnet_alloc(const struct net_cidr *c, int sub_prefix, const struct net_cidr *taken,
			  size_t n, struct net_cidr *ret, struct err *err)
{
	char cs[20];
	uint64_t count, step;

	if (sub_prefix < c->prefix || sub_prefix > 30)
		return err_msg(err, EINVAL, "subnet size /%d does not fit network %s", sub_prefix,
			       net_ipam_cidr_fmt(c, cs));
	count = 1ull << (sub_prefix - c->prefix);
	step = 1ull << (32 - sub_prefix);
	for (uint64_t i = 0; i < count; i++) {
		struct net_cidr cand = { (uint32_t)(c->addr + i * step), sub_prefix };
		bool free = true;
		for (size_t t = 0; t < n && free; t++)
			free = !net_ipam_overlap(&cand, &taken[t]);
		if (free) {
			*ret = cand;
			return 0;
		}
	}
	return err_msg(err, ENOSPC, "network %s has no free /%d left (%llu in use)",
		       net_ipam_cidr_fmt(c, cs), sub_prefix, (unsigned long long)count);
}

int net_ipam_pool_init(struct net_ipam_pool *p, const struct net_cidr *subnet, struct err *err)
{
	char cs[20];

	if (subnet->prefix < 32 - MAX_POOL_BITS || subnet->prefix > 30)
		return err_msg(err, EINVAL, "subnet %s: size must be between /%d and /30",
			       net_ipam_cidr_fmt(subnet, cs), 32 - MAX_POOL_BITS);
	p->subnet = *subnet;
	p->size = 1u << (32 - subnet->prefix);
	p->bits = xcalloc((p->size + 7) / 8, 1);
	p->next = 2;
	/* network, gateway, broadcast */
	p->bits[0] |= 3;
	p->bits[(p->size - 1) / 8] |= 1u << ((p->size - 1) % 8);
	return 0;
}

void net_ipam_pool_free(struct net_ipam_pool *p)
{
	free(p->bits);
	p->bits = NULL;
}

static bool bit(const struct net_ipam_pool *p, uint32_t i)
{
	return p->bits[i / 8] & (1u << (i % 8));
}

bool net_ipam_in_use(const struct net_ipam_pool *p, uint32_t addr)
{
	return !net_ipam_contains(&p->subnet, addr) || bit(p, addr - p->subnet.addr);
}

int net_ipam_lease(struct net_ipam_pool *p, uint32_t *ret, struct err *err)
{
	for (uint32_t k = 0; k < p->size; k++) {
		uint32_t i = (p->next + k) % p->size;
		if (bit(p, i))
			continue;
		p->bits[i / 8] |= 1u << (i % 8);
		p->next = (i + 1) % p->size;
		*ret = p->subnet.addr + i;
		return 0;
	}
	char cs[20];
	return err_msg(err, ENOSPC, "subnet %s is full (%u addresses leased)",
		       net_ipam_cidr_fmt(&p->subnet, cs), net_ipam_capacity(&p->subnet));
}

int net_ipam_reserve(struct net_ipam_pool *p, uint32_t addr, struct err *err)
{
	char a[16], cs[20];

	if (!net_ipam_contains(&p->subnet, addr))
		return err_msg(err, EINVAL, "address %s is outside subnet %s",
			       net_ipam_addr_fmt(addr, a), net_ipam_cidr_fmt(&p->subnet, cs));
	if (bit(p, addr - p->subnet.addr))
		return err_msg(err, EEXIST, "address %s is already leased",
			       net_ipam_addr_fmt(addr, a));
	p->bits[(addr - p->subnet.addr) / 8] |= 1u << ((addr - p->subnet.addr) % 8);
	return 0;
}

void net_ipam_release(struct net_ipam_pool *p, uint32_t addr)
{
	uint32_t i;

	if (!net_ipam_contains(&p->subnet, addr))
		return;
	i = addr - p->subnet.addr;
	/* network, gateway and broadcast stay reserved */
	if (i < 2 || i == p->size - 1)
		return;
	p->bits[i / 8] &= ~(1u << (i % 8));
}
