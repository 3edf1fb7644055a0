# nusa — offline-first ledger sync for cooperatives.
#   make          build build/nusactl and build/nusad
#   make deps     install missing build and test packages (Debian, as root)
#   make test     build with ASan+UBSan and run unit, integration and fuzz
#   make fuzz     run each fuzzer longer (FUZZ_SECONDS, default 60)
#   make demo     build and run build/nusad --demo (boxes syncing on loopback)
#   make bench    ingest and sync benchmarks (BENCH_ENTRIES, default 100000)
#   make man      man pages nusactl(1), nusad(8), nusad.conf(5) in build/man
#   make deb      build/nusa_VERSION-1_ARCH.deb (packaging/mkdeb.sh)
#   make CROSS=aarch64-linux-gnu [deb]  the Raspberry Pi (arm64) build in
#                 build/aarch64-linux-gnu/ (and its .deb); make deps-cross
#                 installs the cross tools, make test-cross runs its unit
#                 tests under qemu-user (make test does when they are there)
# V=1 shows commands; PREFIX and DESTDIR apply to install.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
CLANG   ?= clang
PKG_CONFIG ?= pkg-config

# Libraries the code links against, and what make deps installs.
LIB_PKGS  := libsodium lmdb jansson libzmq avahi-client inih libzstd \
	libmicrohttpd
TEST_PKGS := cmocka
APT_PKGS  := build-essential pkg-config python3 clang libclang-rt-14-dev \
	libsodium-dev liblmdb-dev lmdb-utils libzmq3-dev libavahi-client-dev \
	libinih-dev libjansson-dev libcmocka-dev libcsv-dev libzstd-dev zstd \
	dbus avahi-daemon iproute2 procps systemd pandoc man-db dpkg-dev \
	libmicrohttpd-dev curl

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
	clean deps-arm64 test-arm64 man deb deps-cross test-cross test-cross-run

VERSION := $(shell cat VERSION 2>/dev/null || git describe --tags --always)

ifneq ($(CROSS),)
all: build/$(CROSS)/nusactl build/$(CROSS)/nusad
else
all: build/nusactl build/nusad
endif

# The browser test (tests/integration/web_e2e.sh) needs Debian's chromium,
# node (20 on these machines; Debian's nodejs when missing) and the
# playwright-core pinned in tests/e2e/package-lock.json.
deps:
	@missing=""; \
	for p in $(LIB_PKGS) $(TEST_PKGS); do \
		$(PKG_CONFIG) --exists $$p 2>/dev/null || missing="$$missing $$p"; \
	done; \
	for c in cc make python3 $(CLANG) mdb_stat $(PKG_CONFIG) dbus-daemon \
		avahi-daemon ip ps systemd-analyze pandoc groff man \
		dpkg-shlibdeps zstd curl; do \
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
	@need=""; sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	command -v chromium >/dev/null 2>&1 || need="$$need chromium"; \
	command -v node >/dev/null 2>&1 || need="$$need nodejs"; \
	if [ -n "$$need" ]; then echo "deps: missing:$$need; installing"; \
		$$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive \
		$$sudo apt-get install -y -q $$need </dev/null; fi; \
	command -v npm >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive \
		$$sudo apt-get install -y -q npm </dev/null; \
	[ -d tests/e2e/node_modules/playwright-core ] || \
		npm ci --prefix tests/e2e --no-audit --no-fund </dev/null

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

# The fuzzers share one instrumented build of the library objects.
FUZZ_CFLAGS = $(CSTD) $(INCS) $(PKG_CFLAGS) -g -O1 -MMD -MP
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=build/fuzz/obj/%.o) \
	$(TOOL_SRCS:%.c=build/fuzz/obj/%.o)

build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC-FUZZ $<")
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
		-c $< -o $@

build/fuzz/fuzz_%: build/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(Q)$(CLANG) -fsanitize=fuzzer,address,undefined $^ -o $@ $(PKG_LIBS)

test: deps
	$(Q)$(MAKE) --no-print-directory unit integration fuzz-smoke test-cross

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

build/test/crashshim.so: tests/integration/crashshim.c
	@mkdir -p $(@D)
	$(Q)$(CC) -shared -fPIC -O1 $< -o $@ -ldl

integration: build/test/nusactl build/nusactl build/test/crashshim.so \
		build/test/nusad build/nusad build/test/rogue build/linkemu \
		build/test/discover_probe
	@set -e; for t in tests/integration/*.sh; do \
		echo "== $$t"; s=$$(date +%s); NUSACTL=$(CURDIR)/build/test/nusactl \
		CRASHSHIM=$(CURDIR)/build/test/crashshim.so \
		NUSAD=$(CURDIR)/build/test/nusad \
		NUSAD_FAST=$(CURDIR)/build/nusad NUSACTL_FAST=$(CURDIR)/build/nusactl \
		ROGUE=$(CURDIR)/build/test/rogue LINKEMU=$(CURDIR)/build/linkemu \
		DISCOVER_PROBE=$(CURDIR)/build/test/discover_probe \
		SHARED=$(CURDIR)/../shared bash $$t; \
		echo "== $$t: $$(($$(date +%s) - s)) s"; done

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

# The Raspberry Pi build (arm64): Debian's cross gcc and the arm64
# multiarch libraries (make deps-cross, not part of make deps: CI skips
# it). make CROSS=aarch64-linux-gnu builds nusad and nusactl into
# build/aarch64-linux-gnu/ (and, with deb, the arm64 package); test-cross
# builds the unit tests the same way and runs them under qemu-user.
# Timing under emulation says nothing about a real Pi.
ARM_CROSS := aarch64-linux-gnu
ARM_PKGS  := gcc-aarch64-linux-gnu qemu-user libsodium-dev:arm64 \
	liblmdb-dev:arm64 libjansson-dev:arm64 libcmocka-dev:arm64 \
	libcsv-dev:arm64 libzmq3-dev:arm64 libavahi-client-dev:arm64 \
	libinih-dev:arm64 libzstd-dev:arm64 libmicrohttpd-dev:arm64
XCROSS     := $(or $(CROSS),$(ARM_CROSS))
XDIR       := build/$(XCROSS)
XCC        := $(XCROSS)-gcc
XPC        := PKG_CONFIG_LIBDIR=/usr/lib/$(XCROSS)/pkgconfig $(PKG_CONFIG)
XRUN       := qemu-$(firstword $(subst -, ,$(XCROSS))) -L /usr/$(XCROSS)
XCFLAGS     = $(CSTD) $(WARN) $(INCS) \
	$(shell $(XPC) --cflags $(LIB_PKGS) 2>/dev/null) $(CFLAGS) -MMD -MP
XLIBS       = $(shell $(XPC) --libs $(LIB_PKGS) 2>/dev/null) -lcsv
XLIB_OBJS  := $(LIB_SRCS:%.c=$(XDIR)/obj/%.o) $(TOOL_SRCS:%.c=$(XDIR)/obj/%.o)
XUNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(XDIR)/test/%)
HAVE_CROSS  = command -v $(XCC) >/dev/null 2>&1 && \
	command -v $(firstword $(XRUN)) >/dev/null 2>&1 && \
	$(XPC) --exists $(LIB_PKGS) $(TEST_PKGS) 2>/dev/null

$(XDIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  XCC     $<")
	$(Q)$(XCC) $(XCFLAGS) -c $< -o $@

$(XDIR)/nusactl: $(XDIR)/obj/tools/nusactl.o $(XLIB_OBJS)
	@$(if $(Q),echo "  XLD     $@")
	$(Q)$(XCC) $(CFLAGS) $^ -o $@ $(XLIBS)

$(XDIR)/nusad: $(XDIR)/obj/daemon/main.o $(XLIB_OBJS)
	@$(if $(Q),echo "  XLD     $@")
	$(Q)$(XCC) $(CFLAGS) $^ -o $@ $(XLIBS)

$(XDIR)/test/test_%: $(XDIR)/obj/tests/unit/test_%.o \
		$(XDIR)/obj/tests/unit/testutil.o $(XLIB_OBJS)
	@mkdir -p $(@D)
	$(Q)$(XCC) $(CFLAGS) $^ -o $@ $(XLIBS) \
		$$($(XPC) --libs $(TEST_PKGS))

deps-cross:
	@$(HAVE_CROSS) || { sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo dpkg --add-architecture arm64 && \
		$$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive \
		$$sudo apt-get install -y -q $(ARM_PKGS) </dev/null; }

test-cross:
	@if $(HAVE_CROSS); then \
		$(MAKE) --no-print-directory test-cross-run; \
	else \
		echo "test-cross: skipped: aarch64 cross tools or arm64 libraries not installed (make deps-cross)"; \
	fi

# The unit tests, then the CLI test with the arm64 nusactl. Tests of
# threads or processes sharing a store skip themselves under emulation
# (testutil_need_native() says why); each test binary gets 5 minutes.
test-cross-run: $(XUNIT_BINS) $(XDIR)/nusactl
	@set -e; for t in $(XUNIT_BINS); do echo "== $(XCROSS) $${t##*/}"; \
		NUSA_TEST_EMULATED=1 timeout 300 $(XRUN) $$t; done
	@printf '#!/bin/sh\nexec $(XRUN) $(CURDIR)/$(XDIR)/nusactl "$$@"\n' \
		>$(XDIR)/nusactl.qemu && chmod +x $(XDIR)/nusactl.qemu
	@echo "== $(XCROSS) tests/integration/cli.sh"
	$(Q)NUSACTL=$(CURDIR)/$(XDIR)/nusactl.qemu \
		SHARED=$(CURDIR)/../shared bash tests/integration/cli.sh

# The names these targets had before.
deps-arm64: deps-cross
test-arm64: deps-cross
	$(Q)$(MAKE) --no-print-directory test-cross

# Man pages, each from one source (docs/man/build.sh says which).
MAN_SRCS := docs/cli.md systemd/nusad.conf $(wildcard docs/man/*)
build/man/nusactl.1: $(MAN_SRCS) VERSION
	$(Q)sh docs/man/build.sh build/man $(VERSION)
build/man/nusad.8 build/man/nusad.conf.5: build/man/nusactl.1
man: build/man/nusactl.1

# The Debian package, for this machine or for CROSS:
# build/nusa_VERSION-REVISION_ARCH.deb.
DEB_REVISION ?= 1
ifneq ($(CROSS),)
DEB_BIN  := $(XDIR)
DEB_ARCH := $(shell dpkg-architecture -t$(CROSS) -qDEB_HOST_ARCH 2>/dev/null)
else
DEB_BIN  := build
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
endif
deb: $(DEB_BIN)/nusad $(DEB_BIN)/nusactl man
	$(Q)sh packaging/mkdeb.sh $(DEB_BIN) build/man build $(DEB_ARCH) \
		$(VERSION)-$(DEB_REVISION)

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
