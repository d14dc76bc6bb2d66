/* The fast path's BPF object (fastpath.bpf.c built by clang -target bpf), embedded in coop
 * as coop_fastpath_obj .. coop_fastpath_obj_end; net/fastpath.c hands it to libbpf.
 * FASTPATH_OBJ is its path, given by the Makefile. */
	.section .rodata
	.balign 8
	.global coop_fastpath_obj
	.global coop_fastpath_obj_end
coop_fastpath_obj:
	.incbin FASTPATH_OBJ
coop_fastpath_obj_end:
	.section .note.GNU-stack,"",@progbits
