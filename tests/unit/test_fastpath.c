/* test_fastpath: the overlay's tc program as coop embeds it — libbpf (dlopened) opens
 * the object and finds the entry point and the three maps with the layouts the loader
 * writes; and the container MAC the program derives from an address. Loading it into the
 * kernel and the packets it redirects are tests/integration/overlay.bats' part (real
 * hosts in network namespaces). */
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

static void test_embedded_object(void **state)
{
	struct err err = { 0 };
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "coop_fastpath");
	struct bpf_object *obj;
	struct bpf_map *m;

	assert_int_equal(dl_load(&dl_bpf, &err), 0);
	assert_true((uintptr_t)coop_fastpath_obj_end > (uintptr_t)coop_fastpath_obj);
	obj = bpf_object__open_mem(coop_fastpath_obj,
				   (size_t)(coop_fastpath_obj_end - coop_fastpath_obj), &oo);
	assert_non_null(obj);
	assert_non_null(bpf_object__find_program_by_name(obj, "coop_fastpath"));
	assert_non_null(m = bpf_object__find_map_by_name(obj, "cfg"));
	assert_int_equal(bpf_map__value_size(m), sizeof(struct fp_cfg));
	assert_non_null(m = bpf_object__find_map_by_name(obj, "eps"));
	assert_int_equal(bpf_map__key_size(m), 4);
	assert_int_equal(bpf_map__value_size(m), sizeof(struct fp_ep));
	assert_non_null(m = bpf_object__find_map_by_name(obj, "stats"));
	assert_int_equal(bpf_map__max_entries(m), FP_STAT_N);
	bpf_object__close(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_embedded_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
