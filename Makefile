# ktmon: one entry point.  `make help` lists the targets.
#
# Everything a target needs is installed by scripts/deps.sh (Debian 12),
# which the user-facing targets (test, demo, e2e, check, verify, fuzz, bench)
# call first; it is a no-op when every package is present.

.DEFAULT_GOAL := all
SHELL := /bin/bash

ifeq ($(origin CC),default)
CC := gcc
endif
PREFIX  ?= /usr/local
BUILD   ?= build
PYTHON  := /usr/bin/python3
KTMON_CACHE ?= $(HOME)/.cache/ktmon
export KTMON_CACHE

# V=1 shows full command lines.
ifeq ($(V),1)
Q :=
else
Q := @
endif

VERSION := $(shell sed -n 's/^\#define KTMON_VERSION_STRING "\(.*\)"/\1/p' include/ktmon/api.h)

# The project's warning set; both gcc and clang build clean with -Werror.
WARN := -Wall -Wextra -Werror -Wpedantic -Wshadow -Wconversion -Wsign-conversion \
        -Wvla -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition -Wformat=2 \
        -Wundef -Wdouble-promotion -Wnull-dereference -Wimplicit-fallthrough -Wcast-align \
        -Wpointer-arith -Wwrite-strings -Wswitch-default -Wredundant-decls -Wmissing-declarations \
        -Wno-declaration-after-statement
STD     := -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L
INC     := -Iinclude -I.
OPT     ?= -O2 -g
BASE_CFLAGS := $(STD) $(WARN) $(INC) -fvisibility=hidden -fPIC -fno-strict-aliasing
CFLAGS_ALL  := $(BASE_CFLAGS) $(OPT) $(CFLAGS)
LDLIBS_LIB  := -lelf -lbpf -lpthread

LIB_SRCS  := $(sort $(wildcard modules/*/*.c hal/*/*.c))
CLI_SRCS  := $(sort $(wildcard cli/*.c))
UNIT_SRCS := $(sort $(wildcard tests/unit/*.c))
BENCH_SRCS:= $(sort $(wildcard tests/bench/*.c))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))

# ---------------------------------------------------------------- release build
OBJDIR   := $(BUILD)/obj
LIB_OBJS := $(patsubst %.c,$(OBJDIR)/%.o,$(LIB_SRCS))
CLI_OBJS := $(patsubst %.c,$(OBJDIR)/%.o,$(CLI_SRCS))
LIB_A    := $(BUILD)/libktmon.a
LIB_SO   := $(BUILD)/libktmon.so
KTMON    := $(BUILD)/ktmon

.PHONY: all lib cli deps test unit tsan check verify e2e guest fuzz fuzz-short bench install demo \
        clean help clang-build
all: $(LIB_A) $(LIB_SO) $(KTMON)
lib: $(LIB_A) $(LIB_SO)
cli: $(KTMON)

$(OBJDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC($(notdir $(CC))) $<"
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(LIB_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) -shared -Wl,-soname,libktmon.so.0 -Wl,-z,defs -o $@ $^ $(LDLIBS_LIB)

$(KTMON): $(CLI_OBJS) $(LIB_A)
	@echo "  LD      $@"
	$(Q)$(CC) -o $@ $(CLI_OBJS) $(LIB_A) $(LDLIBS_LIB) -lm

# A second compiler with the same flags (the rules require gcc and clang).
clang-build:
	$(MAKE) --no-print-directory CC=clang BUILD=$(BUILD)/clang all

# ---------------------------------------------------------------- unit tests
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_DIR   := $(BUILD)/asan
ASAN_LIB_OBJS := $(patsubst %.c,$(ASAN_DIR)/%.o,$(LIB_SRCS))
ASAN_UNIT_OBJS:= $(patsubst %.c,$(ASAN_DIR)/%.o,$(UNIT_SRCS))
UNIT_BIN   := $(ASAN_DIR)/ktmon-unit

$(ASAN_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC(asan) $<"
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(ASAN_FLAGS) -Itests/unit -MMD -MP -c $< -o $@

$(UNIT_BIN): $(ASAN_LIB_OBJS) $(ASAN_UNIT_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ -lcriterion $(LDLIBS_LIB)

unit: $(UNIT_BIN)
	@mkdir -p $(BUILD)/reports
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(UNIT_BIN) --jobs 2 --tap=$(BUILD)/reports/unit.tap

# ---------------------------------------------------------------- analysis and proofs
check: deps
	bash scripts/check.sh

verify: deps
	bash scripts/verify.sh

# ---------------------------------------------------------------- real-kernel rig
guest: deps
	$(MAKE) -C tests/guest

e2e: deps all guest
	$(PYTHON) -m pytest -v -rs tests/e2e

# ---------------------------------------------------------------- fuzzing and benchmarks
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 300
$(FUZZ_DIR)/%: tests/fuzz/%.c $(LIB_SRCS)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)clang $(STD) $(INC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -o $@ $< $(LIB_SRCS) $(LDLIBS_LIB)

# ThreadSanitizer run of the watchpoint slot table's concurrent stress test (cannot share ASan's build).
tsan:
	bash tests/tsan/run.sh

fuzz-short: $(FUZZ_BINS)
	bash scripts/fuzz.sh short $(FUZZ_BINS)

fuzz: deps $(FUZZ_BINS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh long $(FUZZ_BINS)

BENCH_BIN := $(BUILD)/bench/ktmon-bench
$(BENCH_BIN): $(BENCH_SRCS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(INC) -O2 -g -o $@ $(BENCH_SRCS) $(LIB_A) $(LDLIBS_LIB) -lm

bench: deps all $(BENCH_BIN)
	bash scripts/bench.sh $(BENCH_BIN)

# ---------------------------------------------------------------- the whole suite
# Each stage is timed (scripts/stage.sh); builds use every core.
JOBS  ?= $(shell nproc)
STAGE := STAGE_TIMES=$(BUILD)/stage-times.txt bash scripts/stage.sh
# build (gcc and clang), unit tests under ASan+UBSan, static analysis, proofs,
# short fuzz runs, real-kernel e2e.  The unit synthesis line is repeated last.
test: deps
	@mkdir -p $(BUILD) && rm -f $(BUILD)/stage-times.txt
	$(STAGE) build-gcc $(MAKE) --no-print-directory -j$(JOBS) all
	$(STAGE) build-clang $(MAKE) --no-print-directory -j$(JOBS) clang-build
	$(STAGE) unit bash -o pipefail -c '$(MAKE) --no-print-directory -j$(JOBS) unit 2>&1 | tee $(BUILD)/unit.log'
	$(STAGE) tsan $(MAKE) --no-print-directory tsan
	$(STAGE) check $(MAKE) --no-print-directory check
	$(STAGE) verify $(MAKE) --no-print-directory verify
	$(STAGE) fuzz-short $(MAKE) --no-print-directory -j$(JOBS) fuzz-short
	$(STAGE) e2e $(MAKE) --no-print-directory e2e
	@echo "== make test: all stages passed ($$(awk '{s += $$2; printf "%s%s %d s", (NR > 1 ? ", " : ""), $$1, $$2} END {printf "; %d s in all", s}' $(BUILD)/stage-times.txt))"
	@grep -a 'Synthesis:' $(BUILD)/unit.log | tail -n 1

demo: deps all guest
	bash scripts/demo.sh

# ---------------------------------------------------------------- install
install: all
	install -d $(DESTDIR)$(PREFIX)/include/ktmon $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	           $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 include/ktmon/*.h $(DESTDIR)$(PREFIX)/include/ktmon/
	install -m 0644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libktmon.so.$(VERSION)
	ln -sf libktmon.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libktmon.so.0
	ln -sf libktmon.so.0 $(DESTDIR)$(PREFIX)/lib/libktmon.so
	install -m 0755 $(KTMON) $(DESTDIR)$(PREFIX)/bin/ktmon
	install -m 0644 docs/ktmon.1 $(DESTDIR)$(PREFIX)/share/man/man1/ktmon.1
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' ktmon.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ktmon.pc

deps:
	@bash scripts/deps.sh

clean:
	rm -rf $(BUILD)

help:
	@echo "make demo     boot the sched_ext test guest and watch it end to end"
	@echo "make test     everything: build (gcc+clang), unit, check, verify, fuzz-short, e2e"
	@echo "make all      libktmon.a, libktmon.so, ktmon"
	@echo "make unit     Criterion unit tests under ASan+UBSan"
	@echo "make check    cppcheck MISRA C:2012, gcc -fanalyzer, clang-tidy, layering"
	@echo "make verify   Frama-C WP proofs and spin models"
	@echo "make guest    fetch kernels (cache: \$$KTMON_CACHE) and build the test initramfs"
	@echo "make e2e      real-kernel tests under QEMU"
	@echo "make fuzz     long libFuzzer runs (FUZZ_SECONDS per target)"
	@echo "make bench    performance table (never part of make test)"
	@echo "make install  PREFIX=/usr/local"

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(ASAN_LIB_OBJS:.o=.d) $(ASAN_UNIT_OBJS:.o=.d)
