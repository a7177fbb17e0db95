# SPDX-License-Identifier: MIT
#
# gort-trace (libbpf CO-RE), included by the top-level Makefile. Built into
# $(OUT)/tools/gort-trace when clang, bpftool, libbpf and kernel BTF are
# present (tools/deps installs the packages); otherwise skipped with a note,
# so `make` stays green on machines without BPF tooling. GORT_TRACE=0 skips it.
#   vmlinux.h   bpftool btf dump file /sys/kernel/btf/vmlinux format c (build/, never committed)
#   .bpf.o      clang -target bpf -g -O2
#   .skel.h     bpftool gen skeleton

GT_SRC := $(TOP)/tools/gort-trace
GT_OUT := $(OUT)/gort-trace
GT_VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
BPF_CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
GT_ARCH := $(patsubst x86_64,x86,$(patsubst aarch64,arm64,$(ARCH)))

GORT_TRACE ?= $(shell command -v $(BPF_CLANG) >/dev/null && test -x $(BPFTOOL) && \
	test -r $(GT_VMLINUX_BTF) && pkg-config --exists libbpf && echo 1 || echo 0)

ifeq ($(GORT_TRACE),1)
TOOLS += $(OUT)/tools/gort-trace
tools: $(GT_OUT)/target $(GT_OUT)/target-so $(GT_OUT)/vm_test.sh
endif

.PHONY: gort-trace
gort-trace: $(OUT)/tools/gort-trace $(GT_OUT)/target $(GT_OUT)/target-so $(GT_OUT)/vm_test.sh

# The VM test (tools/check, stage vm), copied so that gort-vm names it
# "gort-trace: vm_test.sh" (a test's collection is its directory's name).
$(GT_OUT)/vm_test.sh: $(GT_SRC)/test/vm.sh
	@mkdir -p $(dir $@)
	$(Q)cp $< $@ && chmod 755 $@

$(GT_OUT)/vmlinux.h:
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GEN     $(patsubst $(TOP)/%,%,$@)")
	$(Q)$(BPFTOOL) btf dump file $(GT_VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(GT_OUT)/gort_trace.bpf.o: $(GT_SRC)/gort_trace.bpf.c $(GT_SRC)/gort_trace.h $(GT_OUT)/vmlinux.h
	@$(if $(Q),echo "  BPF     $(patsubst $(TOP)/%,%,$@)")
	$(Q)$(BPF_CLANG) -target bpf -g -O2 -Wall -Werror -D__TARGET_ARCH_$(GT_ARCH) \
		-I/usr/include/$(shell $(CC) -dumpmachine) -I$(GT_OUT) -I$(GT_SRC) -c $< -o $@

$(GT_OUT)/gort_trace.skel.h: $(GT_OUT)/gort_trace.bpf.o
	@$(if $(Q),echo "  SKEL    $(patsubst $(TOP)/%,%,$@)")
	$(Q)$(BPFTOOL) gen skeleton $< name gort_trace > $@.tmp && mv $@.tmp $@

# lib/snapshot.h: the layout of the runtime's gort:sched__stats snapshot.
$(OUT)/tools/gort-trace: $(GT_SRC)/gort-trace.c $(GT_SRC)/gort_trace.h $(GT_OUT)/gort_trace.skel.h \
		$(TOP)/lib/snapshot.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $(patsubst $(TOP)/%,%,$@)")
	$(Q)$(CC) -std=gnu11 -O2 -g $(WARNFLAGS) -I$(GT_OUT) -I$(GT_SRC) -iquote $(TOP)/lib \
		$(shell pkg-config --cflags libbpf) \
		-o $@ $< $(shell pkg-config --libs libbpf) -lelf -lz

# The test target links libgort statically (its probes live in the executable);
# its --kswitch mode drives /dev/gort directly (<linux/gort.h> from uapi/).
$(GT_OUT)/target: $(GT_SRC)/test/target.c $(LIBA) $(TOP)/uapi/linux/gort.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $(patsubst $(TOP)/%,%,$@)")
	$(Q)$(CC) $(TOOL_CFLAGS) -I$(TOP)/uapi -o $@ $< $(TOOL_LDLIBS)

# The same, linked with libgort.so: the probes are found through /proc/PID/maps.
$(GT_OUT)/target-so: $(GT_SRC)/test/target.c $(LIBSO) $(TOP)/uapi/linux/gort.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $(patsubst $(TOP)/%,%,$@)")
	$(Q)$(CC) $(TOOL_CFLAGS) -I$(TOP)/uapi -o $@ $< -L$(OUT)/lib -lgort -Wl,-rpath,$(OUT)/lib -pthread
