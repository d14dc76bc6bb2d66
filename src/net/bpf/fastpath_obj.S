/* The fast path's BPF objects (fastpath.bpf.c built by clang -target bpf), embedded in
 * coop: coop_fastpath_mesh_obj .. _end with the routing mesh's part (FP_MESH), and
 * coop_fastpath_obj .. _end without it; net/fastpath.c hands them to libbpf.
 * FASTPATH_OBJ and FASTPATH_MESH_OBJ are their paths, given by the Makefile. */
	.section .rodata
	.balign 8
	.global coop_fastpath_obj
	.global coop_fastpath_obj_end
coop_fastpath_obj:
	.incbin FASTPATH_OBJ
coop_fastpath_obj_end:
	.balign 8
	.global coop_fastpath_mesh_obj
	.global coop_fastpath_mesh_obj_end
coop_fastpath_mesh_obj:
	.incbin FASTPATH_MESH_OBJ
coop_fastpath_mesh_obj_end:
	.section .note.GNU-stack,"",@progbits
