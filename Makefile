# nusa — offline-first ledger sync for cooperatives.
#   make          build build/nusactl and build/nusad
#   make deps     install missing build and test packages (Debian, as root)
#   make test     build with ASan+UBSan and run unit, integration and fuzz
#   make fuzz     run each fuzzer longer (FUZZ_SECONDS, default 60)
#   make demo     build and run build/nusad --demo (boxes syncing on loopback)
#   make bench    ingest and sync benchmarks (BENCH_ENTRIES, default 100000)
#   make test-arm64  the Raspberry Pi build under qemu-user
# V=1 shows commands; PREFIX and DESTDIR apply to install.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
CLANG   ?= clang
PKG_CONFIG ?= pkg-config

# Libraries the code links against, and what make deps installs.
LIB_PKGS  := libsodium lmdb jansson libzmq avahi-client inih
TEST_PKGS := cmocka
APT_PKGS  := build-essential pkg-config python3 clang libclang-rt-14-dev \
	libsodium-dev liblmdb-dev lmdb-utils libzmq3-dev libavahi-client-dev \
	libinih-dev libjansson-dev libcmocka-dev libcsv-dev dbus avahi-daemon \
	iproute2 procps systemd

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Werror
CSTD    := -std=c11 -D_GNU_SOURCE
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(LIB_PKGS) 2>/dev/null)
PKG_LIBS   = $(shell $(PKG_CONFIG) --libs $(LIB_PKGS) 2>/dev/null) -lcsv
INCS    := -Icrdt -Itransport -Itools -Idaemon
CFLAGS  ?= -O2 -g
ALL_CFLAGS = $(CSTD) $(WARN) $(INCS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP

SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
TEST_CFLAGS = $(CSTD) $(WARN) $(INCS) $(PKG_CFLAGS) -O1 -g $(SAN) -MMD -MP

LIB_SRCS  := $(wildcard crdt/*.c transport/*.c) \
	$(filter-out daemon/main.c,$(wildcard daemon/*.c))
TOOL_SRCS := $(filter-out tools/nusactl.c,$(wildcard tools/*.c))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)

LIB_OBJS      := $(LIB_SRCS:%.c=build/obj/%.o) $(TOOL_SRCS:%.c=build/obj/%.o)
TEST_LIB_OBJS := $(LIB_SRCS:%.c=build/test/obj/%.o) \
	$(TOOL_SRCS:%.c=build/test/obj/%.o)
UNIT_BINS     := $(UNIT_SRCS:tests/unit/%.c=build/test/%)
FUZZ_BINS     := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)

ifeq ($(V),1)
Q :=
else
Q := @
endif

.SECONDARY:
.PHONY: all deps test unit integration fuzz-smoke fuzz demo demo-bundles bench \
	install \
	clean deps-arm64 test-arm64

all: build/nusactl build/nusad

deps:
	@missing=""; \
	for p in $(LIB_PKGS) $(TEST_PKGS); do \
		$(PKG_CONFIG) --exists $$p 2>/dev/null || missing="$$missing $$p"; \
	done; \
	for c in cc make python3 $(CLANG) mdb_stat $(PKG_CONFIG) dbus-daemon \
		avahi-daemon ip ps systemd-analyze; do \
		command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; \
	done; \
	[ -f /usr/include/csv.h ] || missing="$$missing csv.h"; \
	ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a \
		>/dev/null 2>&1 || missing="$$missing libFuzzer"; \
	if [ -n "$$missing" ]; then \
		echo "deps: missing:$$missing; installing with apt-get"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q \
			$(APT_PKGS) </dev/null; \
	fi

build/obj/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

build/nusactl: build/obj/tools/nusactl.o $(LIB_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(PKG_LIBS)

build/nusad: build/obj/daemon/main.o $(LIB_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(PKG_LIBS)

# The sanitizer build: every object again, the tools and the unit tests.
build/test/obj/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC-SAN  $<")
	$(Q)$(CC) $(TEST_CFLAGS) -c $< -o $@

build/test/nusactl: build/test/obj/tools/nusactl.o $(TEST_LIB_OBJS)
	$(Q)$(CC) $(SAN) $^ -o $@ $(PKG_LIBS)

build/test/nusad: build/test/obj/daemon/main.o $(TEST_LIB_OBJS)
	$(Q)$(CC) $(SAN) $^ -o $@ $(PKG_LIBS)

build/test/rogue: build/test/obj/tests/tools/rogue.o $(TEST_LIB_OBJS)
	$(Q)$(CC) $(SAN) $^ -o $@ $(PKG_LIBS)

build/test/discover_probe: build/test/obj/tests/tools/discover_probe.o \
		$(TEST_LIB_OBJS)
	$(Q)$(CC) $(SAN) $^ -o $@ $(PKG_LIBS)

build/linkemu: tests/tools/linkemu.c
	@mkdir -p $(@D)
	$(Q)$(CC) $(CSTD) $(WARN) -O2 -g $< -o $@

build/test/test_%: build/test/obj/tests/unit/test_%.o \
		build/test/obj/tests/unit/testutil.o $(TEST_LIB_OBJS)
	$(Q)$(CC) $(SAN) $^ -o $@ $(PKG_LIBS) \
		$$($(PKG_CONFIG) --libs $(TEST_PKGS))

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRCS) $(TOOL_SRCS)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(CSTD) $(INCS) $(PKG_CFLAGS) -g -O1 \
		-fsanitize=fuzzer,address,undefined $^ -o $@ $(PKG_LIBS)

test: deps
	$(Q)$(MAKE) --no-print-directory unit integration fuzz-smoke

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

build/test/crashshim.so: tests/integration/crashshim.c
	@mkdir -p $(@D)
	$(Q)$(CC) -shared -fPIC -O1 $< -o $@ -ldl

integration: build/test/nusactl build/nusactl build/test/crashshim.so \
		build/test/nusad build/nusad build/test/rogue build/linkemu \
		build/test/discover_probe
	@set -e; for t in tests/integration/*.sh; do \
		echo "== $$t"; NUSACTL=$(CURDIR)/build/test/nusactl \
		CRASHSHIM=$(CURDIR)/build/test/crashshim.so \
		NUSAD=$(CURDIR)/build/test/nusad \
		NUSAD_FAST=$(CURDIR)/build/nusad NUSACTL_FAST=$(CURDIR)/build/nusactl \
		ROGUE=$(CURDIR)/build/test/rogue LINKEMU=$(CURDIR)/build/linkemu \
		DISCOVER_PROBE=$(CURDIR)/build/test/discover_probe \
		SHARED=$(CURDIR)/../shared bash $$t; done

# Each fuzzer replays its seed corpus and then mutates for a few seconds:
# enough to catch a regression; make fuzz runs them for longer.
FUZZ_SECONDS ?= 60
fuzz-smoke: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do n=$${f##*/}; echo "== $$f"; \
		mkdir -p build/fuzz/corpus/$$n; \
		$$f -max_total_time=8 -print_final_stats=0 \
			build/fuzz/corpus/$$n tests/fuzz/corpus/$$n \
			2>build/fuzz/$$n.log || { tail -40 build/fuzz/$$n.log; \
			exit 1; }; done

fuzz: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do n=$${f##*/}; \
		mkdir -p build/fuzz/corpus/$$n; \
		$$f -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus/$$n \
			tests/fuzz/corpus/$$n; done

BENCH_ENTRIES ?= 100000
build/bench_ingest: build/obj/bench/bench_ingest.o $(LIB_OBJS)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(PKG_LIBS)

bench: build/bench_ingest build/nusad build/nusactl build/linkemu
	build/bench_ingest $$(($(BENCH_ENTRIES) / 10))
	build/bench_ingest $(BENCH_ENTRIES)
	BENCH_ENTRIES=$(BENCH_ENTRIES) SHARED=$(CURDIR)/../shared \
		bash bench/sync.sh
	SHARED=$(CURDIR)/../shared bash bench/slowlink.sh

# The Raspberry Pi build (arm64), cross-compiled and run under qemu-user:
# unit tests and the integration test. Not part of make test (it needs
# the arm64 libraries: make deps-arm64). Timing under emulation says
# nothing about a real Pi.
ARM_CC   := aarch64-linux-gnu-gcc
ARM_PC   := PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig $(PKG_CONFIG)
ARM_RUN  := qemu-aarch64 -L /usr/aarch64-linux-gnu
ARM_SRCS := $(LIB_SRCS) $(TOOL_SRCS)
ARM_PKGS := libsodium-dev:arm64 liblmdb-dev:arm64 libjansson-dev:arm64 \
	libcmocka-dev:arm64 libcsv-dev:arm64 libzmq3-dev:arm64 \
	libavahi-client-dev:arm64 libinih-dev:arm64
ARM_LIBS := libsodium lmdb jansson libzmq avahi-client inih

deps-arm64:
	@command -v $(ARM_CC) >/dev/null && command -v qemu-aarch64 \
		>/dev/null && $(ARM_PC) --exists $(ARM_LIBS) cmocka \
		|| { dpkg --add-architecture arm64 && apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		gcc-aarch64-linux-gnu qemu-user $(ARM_PKGS) </dev/null; }

test-arm64: deps-arm64
	@mkdir -p build/arm64
	$(Q)$(ARM_CC) $(CSTD) $(WARN) $(INCS) -O1 -g tools/nusactl.c \
		$(ARM_SRCS) -o build/arm64/nusactl.bin \
		$$($(ARM_PC) --libs $(ARM_LIBS)) -lcsv
	@set -e; for t in $(UNIT_SRCS); do n=$$(basename $$t .c); \
		$(ARM_CC) $(CSTD) $(WARN) $(INCS) -O1 -g $$t \
		tests/unit/testutil.c $(ARM_SRCS) -o build/arm64/$$n \
		$$($(ARM_PC) --libs $(ARM_LIBS) cmocka) -lcsv; \
		echo "== arm64 $$n"; $(ARM_RUN) build/arm64/$$n; done
	@printf '#!/bin/sh\nexec $(ARM_RUN) $(CURDIR)/build/arm64/nusactl.bin "$$@"\n' \
		>build/arm64/nusactl && chmod +x build/arm64/nusactl
	NUSACTL=$(CURDIR)/build/arm64/nusactl SHARED=$(CURDIR)/../shared \
		bash tests/integration/cli.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	build/nusad --demo

# The same boxes carried by bundles on a USB stick, without a daemon.
demo-bundles: deps build/nusactl
	bash tools/demo.sh build/nusactl

install: build/nusactl build/nusad
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 build/nusactl $(DESTDIR)$(PREFIX)/bin/nusactl
	install -m 0755 build/nusad $(DESTDIR)$(PREFIX)/sbin/nusad

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
