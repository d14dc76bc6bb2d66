/* dl_bpf: libbpf, loaded on first use (see base/dl.h): the overlay's tc fast path
 * (net/fastpath.c) only, so nothing else maps it (nor libelf, which it needs).
 * net_fastpath_* call dl_load(&dl_bpf, err) first; a node without libbpf1 runs the
 * overlay on the normal path. */
#ifndef COOP_BASE_DL_BPF_H
#define COOP_BASE_DL_BPF_H

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "base/dl.h"

#define DL_BPF_SONAME "libbpf.so.1"
#define DL_BPF_PACKAGE "libbpf1"

/* The functions coop calls; adding a call to another one means adding it here. */
#define DL_BPF_FUNCS(X) \
	X(bpf_map__fd) X(bpf_map__key_size) X(bpf_map__max_entries) X(bpf_map__set_max_entries) \
	X(bpf_map__value_size) X(bpf_map_delete_elem) X(bpf_map_get_fd_by_id) \
	X(bpf_map_get_next_key) X(bpf_map_lookup_elem) X(bpf_map_update_elem) \
	X(bpf_obj_get_info_by_fd) X(bpf_object__close) X(bpf_object__find_map_by_name) \
	X(bpf_object__find_program_by_name) X(bpf_object__load) X(bpf_object__open_mem) \
	X(bpf_prog_get_fd_by_id) X(bpf_program__fd) X(bpf_tc_attach) X(bpf_tc_detach) \
	X(bpf_tc_hook_create) X(bpf_tc_query) X(libbpf_num_possible_cpus) X(libbpf_set_print)

struct dl_bpf_fns {
	DL_BPF_FUNCS(DL_MEMBER)
};
extern struct dl_lib dl_bpf;
extern struct dl_bpf_fns dl_bpf_fns;

#ifndef DL_IMPL
#define bpf_map__fd (DL_CALLS(bpf).bpf_map__fd)
#define bpf_map__key_size (DL_CALLS(bpf).bpf_map__key_size)
#define bpf_map__max_entries (DL_CALLS(bpf).bpf_map__max_entries)
#define bpf_map__set_max_entries (DL_CALLS(bpf).bpf_map__set_max_entries)
#define bpf_map__value_size (DL_CALLS(bpf).bpf_map__value_size)
#define bpf_map_delete_elem (DL_CALLS(bpf).bpf_map_delete_elem)
#define bpf_map_get_fd_by_id (DL_CALLS(bpf).bpf_map_get_fd_by_id)
#define bpf_map_get_next_key (DL_CALLS(bpf).bpf_map_get_next_key)
#define bpf_map_lookup_elem (DL_CALLS(bpf).bpf_map_lookup_elem)
#define bpf_map_update_elem (DL_CALLS(bpf).bpf_map_update_elem)
#define bpf_obj_get_info_by_fd (DL_CALLS(bpf).bpf_obj_get_info_by_fd)
#define bpf_object__close (DL_CALLS(bpf).bpf_object__close)
#define bpf_object__find_map_by_name (DL_CALLS(bpf).bpf_object__find_map_by_name)
#define bpf_object__find_program_by_name (DL_CALLS(bpf).bpf_object__find_program_by_name)
#define bpf_object__load (DL_CALLS(bpf).bpf_object__load)
#define bpf_object__open_mem (DL_CALLS(bpf).bpf_object__open_mem)
#define bpf_prog_get_fd_by_id (DL_CALLS(bpf).bpf_prog_get_fd_by_id)
#define bpf_program__fd (DL_CALLS(bpf).bpf_program__fd)
#define bpf_tc_attach (DL_CALLS(bpf).bpf_tc_attach)
#define bpf_tc_detach (DL_CALLS(bpf).bpf_tc_detach)
#define bpf_tc_hook_create (DL_CALLS(bpf).bpf_tc_hook_create)
#define bpf_tc_query (DL_CALLS(bpf).bpf_tc_query)
#define libbpf_num_possible_cpus (DL_CALLS(bpf).libbpf_num_possible_cpus)
#define libbpf_set_print (DL_CALLS(bpf).libbpf_set_print)
DL_BPF_FUNCS(DL_CHECK)
#endif

#endif
