/* test_fastpath: the overlay's tc program as coop embeds it, with and without the routing
 * mesh's part — libbpf (dlopened) opens each object and finds the entry points and the
 * maps with the layouts the loader writes, and neither has a global data section (libbpf
 * would make it a map that an instance's lookup does not know); and the container MAC the
 * program derives from an address. Loading it into the
 * kernel and the packets it redirects are tests/integration/overlay.bats' part (real
 * hosts in network namespaces). */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/dl_bpf.h"
#include "net/bpf/fastpath.h"
#include "net/fastpath.h"

static void test_mac(void **state)
{
	uint8_t mac[6];

	net_fastpath_mac(0x0a3c0102, mac); /* 10.60.1.2 */
	assert_memory_equal(mac, ((uint8_t[]){ 0x0a, 0x58, 0x0a, 0x3c, 0x01, 0x02 }), 6);
	net_fastpath_mac(0xffffffff, mac);
	assert_memory_equal(mac, ((uint8_t[]){ 0x0a, 0x58, 0xff, 0xff, 0xff, 0xff }), 6);
	/* locally administered (bit 1), unicast (bit 0 clear) */
	assert_int_equal(mac[0] & 3, 2);
}

/* Whether the ELF image [img, end) has a section called name. */
static bool has_section(const unsigned char *img, const unsigned char *end, const char *name)
{
	const Elf64_Ehdr *eh = (const void *)img;
	const Elf64_Shdr *sh, *strtab;

	assert_true((size_t)(end - img) > sizeof(*eh));
	assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
	assert_true(eh->e_shoff + (size_t)eh->e_shnum * sizeof(*sh) <= (size_t)(end - img));
	sh = (const void *)(img + eh->e_shoff);
	strtab = &sh[eh->e_shstrndx];
	for (unsigned i = 0; i < eh->e_shnum; i++)
		if (!strcmp((const char *)img + strtab->sh_offset + sh[i].sh_name, name))
			return true;
	return false;
}

static void check_object(const unsigned char *img, const unsigned char *end)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "coop_fastpath");
	static const char *const data[] = { ".rodata", ".data", ".bss" };
	struct bpf_object *obj;
	struct bpf_map *m;

	assert_true((uintptr_t)end > (uintptr_t)img);
	for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++)
		if (has_section(img, end, data[i]))
			fail_msg("the object has a %s section", data[i]);
	obj = bpf_object__open_mem(img, (size_t)(end - img), &oo);
	assert_non_null(obj);
	assert_non_null(bpf_object__find_program_by_name(obj, "coop_fastpath"));
	assert_non_null(bpf_object__find_program_by_name(obj, "coop_fastpath_ul"));
	assert_non_null(m = bpf_object__find_map_by_name(obj, "cfg"));
	assert_int_equal(bpf_map__value_size(m), sizeof(struct fp_cfg));
	assert_non_null(m = bpf_object__find_map_by_name(obj, "eps"));
	assert_int_equal(bpf_map__key_size(m), 4);
	assert_int_equal(bpf_map__value_size(m), sizeof(struct fp_ep));
	assert_non_null(m = bpf_object__find_map_by_name(obj, "peers"));
	assert_int_equal(bpf_map__value_size(m), sizeof(struct fp_peer));
	assert_non_null(m = bpf_object__find_map_by_name(obj, "stats"));
	assert_int_equal(bpf_map__max_entries(m), FP_STAT_N);
	bpf_object__close(obj);
}

static void test_embedded_objects(void **state)
{
	struct err err = { 0 };

	assert_int_equal(dl_load(&dl_bpf, &err), 0);
	check_object(coop_fastpath_obj, coop_fastpath_obj_end);
	check_object(coop_fastpath_mesh_obj, coop_fastpath_mesh_obj_end);
	/* the two differ: the mesh's part is there */
	assert_true(coop_fastpath_mesh_obj_end - coop_fastpath_mesh_obj >
		    coop_fastpath_obj_end - coop_fastpath_obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_embedded_objects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
