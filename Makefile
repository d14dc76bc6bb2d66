# coop — one binary (build/coop); build/coop-runtime is a symlink to it.
#   make          build
#   make run      install dependencies, build, run the demo
#   make test     install dependencies, build, run unit + integration tests
#   make test SANITIZE=1   unit tests under ASan+UBSan
#   make fuzz     build the libFuzzer targets (clang)
CC      ?= gcc
PKGS    := jansson libseccomp libcap libarchive libcurl gnutls libmnl libnftables libbpf yaml-0.1 libuv libmicrohttpd raft
# sha256 for image digests (image/digest.c) without loading GnuTLS
PKGS    += nettle
BUILD   ?= build
ifeq ($(SANITIZE),1)
BUILD   := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE -Isrc \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(SANFLAGS)
# Loaded on first use (src/base/dl.c), not linked: headers only. Their Debian runtime
# packages are in scripts/deps.sh's RUN list.
DLPKGS  := libarchive libcurl libnftables libbpf
LDLIBS  += $(shell pkg-config --libs $(filter-out $(DLPKGS),$(PKGS)) 2>/dev/null)
# GnuTLS and libmicrohttpd are dlopened too (base/dl_gnutls.h, dl_mhd.h) but stay in LDLIBS:
# with --as-needed, build/coop names neither (nothing calls them directly), while a test
# that does (test_pki) still links.
LDFLAGS += -Wl,--as-needed
LDFLAGS += $(SANFLAGS)

LIB_SRC := $(sort $(wildcard src/base/*.c src/runtime/*.c src/image/*.c src/net/*.c src/state/*.c src/sched/*.c src/cluster/*.c src/agent/*.c src/api/*.c src/cli/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
# The overlay's tc program (src/net/bpf/fastpath.bpf.c), built for the kernel's BPF VM by
# clang and embedded in coop by an assembler .incbin (src/net/bpf/fastpath_obj.S): once
# with the routing mesh's part (FP_MESH: conntrack kfuncs, CO-RE), once without, for
# kernels that lack those.
BPF_CC  ?= clang
BPF_OBJ := $(BUILD)/bpf/fastpath.bpf.o $(BUILD)/bpf/fastpath_mesh.bpf.o
BPF_DEFS := -DFASTPATH_OBJ='"$(BUILD)/bpf/fastpath.bpf.o"' \
	    -DFASTPATH_MESH_OBJ='"$(BUILD)/bpf/fastpath_mesh.bpf.o"'
LIB_OBJ += $(BUILD)/obj/src/net/bpf/fastpath_obj.o
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOLS_SRC := $(sort $(wildcard tests/tools/*.c))
TOOLS_BIN := $(TOOLS_SRC:tests/tools/%.c=$(BUILD)/tools/%)
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))

all: $(BUILD)/coop $(BUILD)/coop-runtime

deps:
	@scripts/deps.sh

$(BUILD)/coop: $(LIB_OBJ) $(BUILD)/obj/src/main.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/coop-runtime: $(BUILD)/coop
	ln -sf coop $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/bpf/fastpath%bpf.o: src/net/bpf/fastpath.bpf.c src/net/bpf/fastpath.h
	@mkdir -p $(dir $@)
	$(BPF_CC) -O2 -g -target bpf $(if $(findstring _mesh,$@),-DFP_MESH) -Isrc \
	    -I/usr/include/$(shell $(CC) -dumpmachine) -c -o $@ $<

$(BUILD)/obj/src/net/bpf/fastpath_obj.o: src/net/bpf/fastpath_obj.S $(BPF_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -c $(BPF_DEFS) -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

unit: $(UNIT_BIN)
tools: $(TOOLS_BIN)

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory all unit tools
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh

fuzz: $(BPF_OBJ)
	@mkdir -p build/fuzz
	for f in $(FUZZ_SRC); do \
	  clang -std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined \
	    $$(pkg-config --cflags $(PKGS)) -o build/fuzz/$$(basename $$f .c) $$f \
	    $(filter-out src/cli/%,$(LIB_SRC)) src/net/bpf/fastpath_obj.S \
	    $(BPF_DEFS) $(LDLIBS) || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

.PHONY: all deps run test unit tools fuzz format clean
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
