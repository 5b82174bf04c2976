# claynet — top-level entry points. Works unattended (CI=true) and on 2 cores.
#
#   make setup   install missing Debian packages and npm dependencies (quick when present)
#   make build   Release build into build/ (executables in build/bin/)
#   make test    all tests in build/, then the unit, transport, signaling, cluster, multiplayer, network
#                and cli tests and a few NAT lab cases (natsan) (not interop) under ASan+UBSan in
#                build-asan/,
#                then each libFuzzer target briefly (make fuzz)
#   make fuzz    build the libFuzzer targets with clang in build-fuzz/ and run each for FUZZ_SECONDS
#   make demo    claynet demo: a host and 3 joiners, each its own process, on 127.0.0.1, chatting
#                and sending 60 Hz state in Star then Mesh, under a live table; ends with a summary
#   make bench   transport benchmark against headless Chromium, in the same run
#   make sandbox the Qt Quick sandbox window; `make sandbox ARGS=pair`: two windows that connect
#   make clean   remove build trees

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
.DELETE_ON_ERROR:

JOBS       ?= 2
BUILD_DIR  ?= build
ASAN_DIR   ?= build-asan
FUZZ_DIR   ?= build-fuzz
FUZZ_SECONDS ?= 15
CMAKE      ?= cmake
CTEST      ?= ctest

LSAN_SUPP  := $(CURDIR)/scripts/lsan.supp

# Sanitizer settings for the build-asan test run. Leaks are errors; scripts/lsan.supp lists only
# one-time allocations inside system libraries (glib, libnice, ...), never claynet frames.
# Debian's GLib has no frame pointers, so with ASan's default fast unwinder a leak allocated through
# g_malloc shows only two frames. For the full stack (and for lsan.supp's GLib entries to match),
#   make test-asan ASAN_EXTRA=:fast_unwind_on_malloc=0
# which is several times slower (seen here: a transport stress test 3.8 s -> 22-40 s).
ASAN_EXTRA ?=
SAN_ENV := ASAN_OPTIONS=detect_leaks=1$(ASAN_EXTRA) \
           LSAN_OPTIONS=suppressions=$(LSAN_SUPP):print_suppressions=0 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all setup configure build test test-asan asan-build fuzz fuzz-build demo bench clean sandbox

all: build

setup:
	bash scripts/setup.sh

configure: setup
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DCLAYNET_WERROR=ON

build: configure
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS)

# All labels in the Release tree first; a failure there stops make before the sanitizer build.
test: build
	$(CTEST) --test-dir $(BUILD_DIR) --output-on-failure --no-tests=error
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory fuzz

asan-build: setup
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLAYNET_WERROR=ON -DCLAYNET_SANITIZE=ON
	$(CMAKE) --build $(ASAN_DIR) -j$(JOBS)

test-asan: asan-build
	$(SAN_ENV) $(CTEST) --test-dir $(ASAN_DIR) -L 'unit|transport|signaling|cluster|multiplayer|network|cli|natsan' \
	  -LE interop --output-on-failure --no-tests=error

# libFuzzer targets (tests/fuzz/fuzz_*.cpp), built with clang: the parsers get ASan+UBSan and
# -fsanitize=fuzzer-no-link (coverage for libFuzzer), the targets -fsanitize=fuzzer.
# Each target runs FUZZ_SECONDS on a copy of its seed corpus (new inputs stay in $(FUZZ_DIR)); a
# crash, a sanitizer report or a leak stops make, and the input is saved as
# $(FUZZ_DIR)/artifacts/<target>-crash-... (replay it: $(FUZZ_DIR)/bin/<target> <file>).
FUZZ_FLAGS := -fsanitize=fuzzer-no-link

fuzz-build: setup
	CC=clang CXX=clang++ $(CMAKE) -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCLAYNET_SANITIZE=ON -DCLAYNET_FUZZ=ON -DBUILD_TESTING=ON \
	  -DCMAKE_C_FLAGS="$(FUZZ_FLAGS)" -DCMAKE_CXX_FLAGS="$(FUZZ_FLAGS)"
	$(CMAKE) --build $(FUZZ_DIR) --target claynet_fuzz -j$(JOBS)

fuzz: fuzz-build
	mkdir -p $(FUZZ_DIR)/artifacts
	@for src in tests/fuzz/fuzz_*.cpp; do \
	  target=$$(basename $$src .cpp); \
	  if [ ! -x $(FUZZ_DIR)/bin/$$target ]; then echo "fuzz: $$target was not built (see the cmake output)"; exit 1; fi; \
	  mkdir -p $(FUZZ_DIR)/corpus/$$target; \
	  if [ -d tests/fuzz/corpus/$$target ]; then cp -n tests/fuzz/corpus/$$target/* $(FUZZ_DIR)/corpus/$$target/ || true; fi; \
	  echo "fuzz: $$target for $(FUZZ_SECONDS) s"; \
	  $(SAN_ENV) $(FUZZ_DIR)/bin/$$target -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -timeout=10 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/artifacts/$$target- \
	    $(FUZZ_DIR)/corpus/$$target 2>$(FUZZ_DIR)/$$target.log \
	    || { tail -n 60 $(FUZZ_DIR)/$$target.log; echo "fuzz: $$target FAILED (log: $(FUZZ_DIR)/$$target.log)"; exit 1; }; \
	  grep -E '^stat::number_of_executed_units|^Done' $(FUZZ_DIR)/$$target.log | tr '\n' ' '; echo; \
	done

# ARGS=pair opens two windows (host and joiner on loopback); other ARGS go to claynet-sandbox
# (--help lists them).
sandbox: configure
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS) --target claynet-sandbox
	examples/sandbox/run-sandbox.sh $(BUILD_DIR)/bin/claynet-sandbox $(ARGS)

demo: build
	$(BUILD_DIR)/bin/claynet demo

bench: build
	$(BUILD_DIR)/bin/claynet bench transport --vs chromium

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)
