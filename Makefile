# SPDX-License-Identifier: MIT
#
# gort: one Makefile for the shim (lib/), the tools, the module and the tests.
#
#   make                 libgort.a, libgort.so, gort.pc, the tools
#   make deps            install the missing Debian packages (idempotent)
#   make check           deps, build, every test (host, sanitizers, qemu on each kernel)
#   make demo            build and run the showcase
#   make bench           build tools/bench/gort-bench; make bench-compare runs it beside Go
#   make modules         gort.ko for KDIR (default: the running kernel, else the newest headers)
#   make load / unload   insmod / rmmod the module built for the running kernel
#   make checkpatch      the kernel's checkpatch.pl over kmod/ and uapi/
#   make install         PREFIX=/usr/local DESTDIR=  (headers, libs, gort.pc, tools, dkms source)
#
# VARIANT=asan|tsan builds the library and its tests with sanitizers into build/VARIANT/.

.DEFAULT_GOAL := all
SHELL := /bin/bash
TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

VERSION := 0.1.0
SOVERSION := 0
ARCH ?= $(shell uname -m)
BUILD ?= $(TOP)/build
PREFIX ?= /usr/local
LIBDIR_INSTALL ?= $(PREFIX)/lib
INCDIR_INSTALL ?= $(PREFIX)/include
CC ?= gcc
ifeq ($(CC),cc)
CC := gcc
endif

VARIANT ?=
ifeq ($(VARIANT),asan)
OUT := $(BUILD)/asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
else ifeq ($(VARIANT),tsan)
OUT := $(BUILD)/tsan
SANFLAGS := -fsanitize=thread
else ifeq ($(VARIANT),)
OUT := $(BUILD)
SANFLAGS :=
else
$(error VARIANT must be empty, asan or tsan)
endif

WARNFLAGS := -Wall -Wextra -Werror
# EXTRA_CFLAGS: e.g. -DGORT_NO_PROBES, with which tools/gort-trace/overhead.sh
# --noprobes builds a gort-bench without probe sites into its own BUILD.
EXTRA_CFLAGS ?=
BASE_CFLAGS := -std=gnu11 -O2 -g -fno-omit-frame-pointer -pthread -D_GNU_SOURCE $(WARNFLAGS) $(SANFLAGS) \
	$(EXTRA_CFLAGS)
LIB_CFLAGS := $(BASE_CFLAGS) -fPIC -fvisibility=hidden -I$(TOP)/lib/include -I$(TOP)/lib -I$(TOP)/uapi
LIB_LDLIBS := -lurcu-common -pthread

LIB_SRCS := $(wildcard $(TOP)/lib/*.c) $(wildcard $(TOP)/lib/arch/$(ARCH)/*.c)
LIB_ASMS := $(wildcard $(TOP)/lib/arch/$(ARCH)/*.S)
LIB_OBJS := $(patsubst $(TOP)/%.c,$(OUT)/obj/%.o,$(LIB_SRCS)) \
	    $(patsubst $(TOP)/%.S,$(OUT)/obj/%.o,$(LIB_ASMS))
LIB_HDRS := $(wildcard $(TOP)/lib/*.h $(TOP)/lib/include/*.h $(TOP)/uapi/linux/*.h)

LIBA := $(OUT)/lib/libgort.a
LIBSO_REAL := $(OUT)/lib/libgort.so.$(VERSION)
LIBSO := $(OUT)/lib/libgort.so
PCFILE := $(OUT)/lib/pkgconfig/gort.pc

# Tools link the static library: no rpath games, and the VM runner copies
# only what ldd reports.
TOOL_CFLAGS := $(BASE_CFLAGS) -I$(TOP)/lib/include
TOOL_LDLIBS := $(LIBA) $(LIB_LDLIBS)
TOOLS := $(OUT)/tools/gort-demo $(OUT)/tools/gort-bench $(OUT)/tools/gort-echo \
	 $(OUT)/tools/gort-httphello
# gort-trace (BPF): adds itself to TOOLS when clang/bpftool/libbpf/BTF exist.
include $(TOP)/tools/gort-trace/gort-trace.mk

# Kernel side.
LINUX_SRC_TAR ?= /usr/src/linux-source-6.1.tar.xz
LINUX_SRC := $(BUILD)/linux-src
KSFT_DIR := $(LINUX_SRC)/tools/testing/selftests
CHECKPATCH := $(LINUX_SRC)/scripts/checkpatch.pl
KMOD_SRCS := $(TOP)/Kbuild $(wildcard $(TOP)/kmod/*.c $(TOP)/kmod/*.h) $(TOP)/uapi/linux/gort.h
KDIR ?= $(shell $(TOP)/tools/kernels --default-kdir 2>/dev/null)
KVER = $(shell $(TOP)/tools/kernels --kver-of "$(KDIR)" 2>/dev/null)

.PHONY: all lib tools deps check bench bench-compare demo modules load unload checkpatch \
	install uninstall clean ksft selftests vm-check vm-bench

all: lib tools

lib: $(LIBA) $(LIBSO) $(PCFILE)

# V=1 shows the commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

$(OUT)/obj/%.o: $(TOP)/%.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $(patsubst $(TOP)/%,%,$<)")
	$(Q)$(CC) $(LIB_CFLAGS) -c $< -o $@

$(OUT)/obj/%.o: $(TOP)/%.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $(patsubst $(TOP)/%,%,$<)")
	$(Q)$(CC) $(LIB_CFLAGS) -c $< -o $@

$(LIBA): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $(patsubst $(TOP)/%,%,$@)")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBSO_REAL): $(LIB_OBJS) $(TOP)/lib/libgort.map
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $(patsubst $(TOP)/%,%,$@)")
	$(Q)$(CC) $(SANFLAGS) -shared -Wl,-soname,libgort.so.$(SOVERSION) \
		-Wl,--version-script=$(TOP)/lib/libgort.map -Wl,-z,noexecstack \
		-o $@ $(LIB_OBJS) $(LIB_LDLIBS)

$(LIBSO): $(LIBSO_REAL)
	$(Q)ln -sf libgort.so.$(VERSION) $(OUT)/lib/libgort.so.$(SOVERSION)
	$(Q)ln -sf libgort.so.$(SOVERSION) $@

$(PCFILE): $(TOP)/lib/gort.pc.in $(TOP)/Makefile
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR_INSTALL)|g' \
	    -e 's|@INCDIR@|$(INCDIR_INSTALL)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

tools: $(TOOLS) $(OUT)/tools/xcpu-latency $(OUT)/tools/first-touch

$(OUT)/tools/gort-demo: $(wildcard $(TOP)/tools/demo/*.c) $(LIBA)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $(patsubst $(TOP)/%,%,$@)")
	$(Q)$(CC) $(TOOL_CFLAGS) -o $@ $(filter %.c,$^) $(TOOL_LDLIBS)

# gort-bench's httphello workload runs gort-httphello's server in-process.
$(OUT)/tools/gort-bench: $(wildcard $(TOP)/tools/bench/*.c $(TOP)/tools/bench/*.h) \
		$(TOP)/tools/httphello/http_server.c $(TOP)/tools/httphello/http.h $(LIBA)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $(patsubst $(TOP)/%,%,$@)")
	$(Q)$(CC) $(TOOL_CFLAGS) -I$(TOP)/tools/httphello -o $@ $(filter %.c,$^) $(TOOL_LDLIBS) -lm

# Not a gort program: compare's probe of the machine's cross-CPU cache-line time.
$(OUT)/tools/xcpu-latency: $(TOP)/tools/bench/xcpu/xcpu-latency.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $(patsubst $(TOP)/%,%,$@)")
	$(Q)$(CC) $(BASE_CFLAGS) -o $@ $<

# Not a gort program either: the machine's cost of a fresh page, by how much
# memory is already touched (what decides spawn.parked here).
$(OUT)/tools/first-touch: $(TOP)/tools/bench/pagecost/first-touch.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $(patsubst $(TOP)/%,%,$@)")
	$(Q)$(CC) $(BASE_CFLAGS) -o $@ $<

$(OUT)/tools/gort-echo: $(wildcard $(TOP)/tools/echo/*.c $(TOP)/tools/echo/*.h) $(LIBA)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $(patsubst $(TOP)/%,%,$@)")
	$(Q)$(CC) $(TOOL_CFLAGS) -o $@ $(filter %.c,$^) $(TOOL_LDLIBS)

$(OUT)/tools/gort-httphello: $(wildcard $(TOP)/tools/httphello/*.c $(TOP)/tools/httphello/*.h) $(LIBA)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $(patsubst $(TOP)/%,%,$@)")
	$(Q)$(CC) $(TOOL_CFLAGS) -o $@ $(filter %.c,$^) $(TOOL_LDLIBS)

# ---- set-up ----

deps:
	@$(TOP)/tools/deps

# kselftest harness and checkpatch, from Debian's linux-source-6.1 (never committed).
ksft: $(KSFT_DIR)/lib.mk
$(KSFT_DIR)/lib.mk:
	@test -f $(LINUX_SRC_TAR) || { echo "missing $(LINUX_SRC_TAR): run 'make deps' (package linux-source-6.1)"; exit 1; }
	mkdir -p $(LINUX_SRC)
	tar -xf $(LINUX_SRC_TAR) -C $(LINUX_SRC) --strip-components=1 --wildcards \
		'linux-source-6.1/tools/testing/selftests/lib.mk' \
		'linux-source-6.1/tools/testing/selftests/kselftest*' \
		'linux-source-6.1/scripts/checkpatch.pl' \
		'linux-source-6.1/scripts/spelling.txt' \
		'linux-source-6.1/scripts/const_structs.checkpatch'
	touch $@

# ---- the module ----

# The module is built in build/kmod/KVER/ from a copy of Kbuild, kmod/ and
# uapi/, so that builds for several kernels never share object files.
define build_module
	@test -d "$(1)" || { echo "no kernel build tree at '$(1)': run 'make deps' or pass KDIR=..."; exit 1; }
	rm -rf $(BUILD)/kmod/$(2)/kmod $(BUILD)/kmod/$(2)/uapi
	mkdir -p $(BUILD)/kmod/$(2)
	cp -r $(TOP)/Kbuild $(TOP)/kmod $(TOP)/uapi $(BUILD)/kmod/$(2)/
	$(MAKE) -C $(1) M=$(BUILD)/kmod/$(2) modules
endef

modules:
	$(call build_module,$(KDIR),$(KVER))
	@echo "built $(BUILD)/kmod/$(KVER)/gort.ko for $(KVER)"

load:
	@if [ ! -e /proc/modules ]; then \
		echo "make load: the running kernel $$(uname -r) cannot load modules (no /proc/modules); use 'make check' to test in qemu"; exit 1; fi
	$(MAKE) modules KDIR=/lib/modules/$$(uname -r)/build
	insmod $(BUILD)/kmod/$$(uname -r)/gort.ko
	@ls -l /dev/gort

unload:
	@if [ ! -e /proc/modules ]; then \
		echo "make unload: the running kernel $$(uname -r) cannot load modules"; exit 1; fi
	rmmod gort

# LINUX_VERSION_CODE is ignored: an out-of-tree module built for 6.1 and 6.12
# needs version checks where the kernel APIs differ.
checkpatch: ksft
	perl $(CHECKPATCH) --no-tree --strict --terse --ignore LINUX_VERSION_CODE -f $(wildcard $(TOP)/kmod/*.c $(TOP)/kmod/*.h) $(TOP)/uapi/linux/gort.h

# ---- tests ----

selftests: lib ksft
	$(MAKE) -C $(TOP)/selftests VARIANT=$(VARIANT)

check: deps
	@$(TOP)/tools/check

# Module selftests in qemu, once per kernel (KERNELS="kver ..." overrides).
vm-check: ksft
	@$(TOP)/tools/check --only vm

# ---- benchmarks and demo ----

# Kernel-assist benchmark in qemu, once per kernel (KERNELS="kver ..." overrides):
# SWITCH vs FUTEX_WAKE+FUTEX_WAIT round trips, RESULT lines per kernel.
vm-bench: ksft
	@$(TOP)/tools/vm/vm-bench

bench: $(OUT)/tools/gort-bench $(OUT)/tools/xcpu-latency $(OUT)/tools/first-touch
	@echo "built $<; run: $< WORKLOAD (spawn yield syscall ...)"

bench-compare: $(OUT)/tools/gort-bench $(OUT)/tools/xcpu-latency
	@$(TOP)/tools/bench/compare $(WORKLOADS)

demo: deps
	$(MAKE) --no-print-directory $(OUT)/tools/gort-demo $(OUT)/tools/gort-echo
	$(OUT)/tools/gort-demo
	$(OUT)/tools/gort-echo -demo -n 50 -d 3

# ---- install ----

# The gdb extension (tools/gdb/), named after the library's real file.
GDB_SCRIPT := libgort.so.$(VERSION)-gdb.py
GDB_AUTOLOAD ?= /usr/share/gdb/auto-load

install: all
	install -d $(DESTDIR)$(INCDIR_INSTALL) $(DESTDIR)$(LIBDIR_INSTALL)/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(TOP)/lib/include/gort.h $(DESTDIR)$(INCDIR_INSTALL)/gort.h
	install -d $(DESTDIR)$(INCDIR_INSTALL)/linux
	install -m 644 $(TOP)/uapi/linux/gort.h $(DESTDIR)$(INCDIR_INSTALL)/linux/gort.h
	install -m 644 $(LIBA) $(DESTDIR)$(LIBDIR_INSTALL)/libgort.a
	install -m 755 $(LIBSO_REAL) $(DESTDIR)$(LIBDIR_INSTALL)/libgort.so.$(VERSION)
	ln -sf libgort.so.$(VERSION) $(DESTDIR)$(LIBDIR_INSTALL)/libgort.so.$(SOVERSION)
	ln -sf libgort.so.$(SOVERSION) $(DESTDIR)$(LIBDIR_INSTALL)/libgort.so
	install -m 644 $(PCFILE) $(DESTDIR)$(LIBDIR_INSTALL)/pkgconfig/gort.pc
	# gdb auto-loads OBJFILE-gdb.py next to the library (when LIBDIR is in its
	# auto-load safe-path) and from its own data directory (always trusted).
	install -m 644 $(TOP)/tools/gdb/libgort.so-gdb.py $(DESTDIR)$(LIBDIR_INSTALL)/$(GDB_SCRIPT)
	install -d $(DESTDIR)$(GDB_AUTOLOAD)$(LIBDIR_INSTALL)
	install -m 644 $(TOP)/tools/gdb/libgort.so-gdb.py $(DESTDIR)$(GDB_AUTOLOAD)$(LIBDIR_INSTALL)/$(GDB_SCRIPT)
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)/usr/src/gort-$(VERSION)/kmod $(DESTDIR)/usr/src/gort-$(VERSION)/uapi/linux
	install -m 644 $(TOP)/Kbuild $(TOP)/dkms.conf $(DESTDIR)/usr/src/gort-$(VERSION)/
	install -m 644 $(wildcard $(TOP)/kmod/*.c $(TOP)/kmod/*.h) $(DESTDIR)/usr/src/gort-$(VERSION)/kmod/
	install -m 644 $(TOP)/uapi/linux/gort.h $(DESTDIR)/usr/src/gort-$(VERSION)/uapi/linux/

uninstall:
	rm -f $(DESTDIR)$(INCDIR_INSTALL)/gort.h $(DESTDIR)$(INCDIR_INSTALL)/linux/gort.h
	rm -f $(DESTDIR)$(LIBDIR_INSTALL)/libgort.a $(DESTDIR)$(LIBDIR_INSTALL)/libgort.so*
	rm -f $(DESTDIR)$(LIBDIR_INSTALL)/pkgconfig/gort.pc
	rm -f $(DESTDIR)$(GDB_AUTOLOAD)$(LIBDIR_INSTALL)/$(GDB_SCRIPT)
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(TOOLS)))
	rm -rf $(DESTDIR)/usr/src/gort-$(VERSION)

clean:
	rm -rf $(BUILD)
