# claynet — top-level entry points. Works unattended (CI=true) and on 2 cores.
#
#   make setup   install missing Debian packages and npm dependencies (quick when present)
#   make build   Release build into build/ (executables in build/bin/)
#   make test    all tests in build/, then the unit, transport, hostile, signaling, cluster, multiplayer,
#                network and cli tests and a few NAT lab cases (natsan) (not interop) under ASan+UBSan in
#                build-asan/,
#                then each libFuzzer target briefly (make fuzz)
#   make fuzz    build the libFuzzer targets with clang in build-fuzz/ and run each for FUZZ_SECONDS
#   make fuzz-soak  each libFuzzer target until 10^7 executions or 20 minutes; a table of
#                executions and crashes per target at the end
#   make test-tsan  unit, transport, hostile, multiplayer and network tests under ThreadSanitizer
#                (clang) in build-tsan/; not part of make test (see the README)
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
TSAN_DIR   ?= build-tsan
FUZZ_DIR   ?= build-fuzz
FUZZ_SECONDS ?= 15
FUZZ_SOAK_RUNS ?= 10000000
FUZZ_SOAK_SECONDS ?= 1200
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
# The sanitizer and fuzz trees build with -O1 -g1 instead of RelWithDebInfo's -O2 -g: ASan's own
# advice (-O1 for reasonable speed), line numbers in every report, and half the compile time
# (network.cpp: 109 s -> 57 s under ASan here), which is most of make test's time on 2 cores.
SAN_BUILD_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo \
                   -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
                   -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
SAN_ENV := ASAN_OPTIONS=detect_leaks=1$(ASAN_EXTRA) \
           LSAN_OPTIONS=suppressions=$(LSAN_SUPP):print_suppressions=0 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all setup configure build test test-asan asan-build test-tsan tsan-build fuzz fuzz-build \
        fuzz-soak demo bench clean sandbox

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
	$(CMAKE) -S . -B $(ASAN_DIR) $(SAN_BUILD_FLAGS) -DCLAYNET_WERROR=ON -DCLAYNET_SANITIZE=ON
	$(CMAKE) --build $(ASAN_DIR) -j$(JOBS)

test-asan: asan-build
	$(SAN_ENV) $(CTEST) --test-dir $(ASAN_DIR) -L 'unit|transport|hostile|signaling|cluster|multiplayer|network|cli|natsan' \
	  -LE interop --output-on-failure --no-tests=error

# ThreadSanitizer (clang, without -Werror: clang warns where GCC does not, and the Release build
# is the one held to -Werror): the tests where threads meet (the network thread, the application's
# thread, usrsctp's timers across runtimes). scripts/tsan.supp lists only what lies outside
# claynet, each entry with its reason. Not in `make test` (it would pass 40 minutes on 2 cores).
TSAN_ENV := TSAN_OPTIONS=suppressions=$(CURDIR)/scripts/tsan.supp:halt_on_error=1:second_deadlock_stack=1:history_size=4

tsan-build: setup
	CC=clang CXX=clang++ $(CMAKE) -S . -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCLAYNET_WERROR=OFF -DCLAYNET_TSAN=ON
	$(CMAKE) --build $(TSAN_DIR) -j$(JOBS)

test-tsan: tsan-build
	$(TSAN_ENV) $(CTEST) --test-dir $(TSAN_DIR) -L 'unit|transport|hostile|multiplayer|network' \
	  -LE interop --output-on-failure --no-tests=error

# libFuzzer targets (tests/fuzz/fuzz_*.cpp), built with clang: the parsers get ASan+UBSan and
# -fsanitize=fuzzer-no-link (coverage for libFuzzer), the targets -fsanitize=fuzzer.
# Each target runs FUZZ_SECONDS on a copy of its seed corpus (new inputs stay in $(FUZZ_DIR)); a
# crash, a sanitizer report or a leak stops make, and the input is saved as
# $(FUZZ_DIR)/artifacts/<target>-crash-... (replay it: $(FUZZ_DIR)/bin/<target> <file>).
FUZZ_FLAGS := -fsanitize=fuzzer-no-link

fuzz-build: setup
	CC=clang CXX=clang++ $(CMAKE) -S . -B $(FUZZ_DIR) $(SAN_BUILD_FLAGS) \
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
	  maxlen=$$(awk -v t=$$target '$$1 == t { print $$2 }' tests/fuzz/max_len.txt); \
	  echo "fuzz: $$target for $(FUZZ_SECONDS) s"; \
	  $(SAN_ENV) $(FUZZ_DIR)/bin/$$target -max_total_time=$(FUZZ_SECONDS) -max_len=$${maxlen:-65536} \
	    -timeout=10 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/artifacts/$$target- \
	    $(FUZZ_DIR)/corpus/$$target 2>$(FUZZ_DIR)/$$target.log \
	    || { tail -n 60 $(FUZZ_DIR)/$$target.log; echo "fuzz: $$target FAILED (log: $(FUZZ_DIR)/$$target.log)"; exit 1; }; \
	  grep -E '^stat::number_of_executed_units|^Done' $(FUZZ_DIR)/$$target.log | tr '\n' ' '; echo; \
	done

# Each target until FUZZ_SOAK_RUNS executions or FUZZ_SOAK_SECONDS, whichever comes first. A crash
# ends that target (its input is saved under $(FUZZ_DIR)/artifacts/) and the soak goes on with the
# next; make fails at the end if any target crashed.
fuzz-soak: fuzz-build
	mkdir -p $(FUZZ_DIR)/artifacts
	@summary=$(FUZZ_DIR)/fuzz-soak.txt; printf '%-26s %12s %8s %8s\n' target executions seconds crashes > $$summary; \
	failed=0; \
	for src in tests/fuzz/fuzz_*.cpp; do \
	  target=$$(basename $$src .cpp); \
	  mkdir -p $(FUZZ_DIR)/corpus/$$target; \
	  if [ -d tests/fuzz/corpus/$$target ]; then cp -n tests/fuzz/corpus/$$target/* $(FUZZ_DIR)/corpus/$$target/ || true; fi; \
	  maxlen=$$(awk -v t=$$target '$$1 == t { print $$2 }' tests/fuzz/max_len.txt); \
	  echo "fuzz-soak: $$target (up to $(FUZZ_SOAK_RUNS) executions or $(FUZZ_SOAK_SECONDS) s)"; \
	  start=$$(date +%s); crashes=0; \
	  $(SAN_ENV) $(FUZZ_DIR)/bin/$$target -runs=$(FUZZ_SOAK_RUNS) -max_total_time=$(FUZZ_SOAK_SECONDS) \
	    -max_len=$${maxlen:-65536} -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$$target- $(FUZZ_DIR)/corpus/$$target \
	    2>$(FUZZ_DIR)/$$target.soak.log || { crashes=1; failed=1; tail -n 40 $(FUZZ_DIR)/$$target.soak.log; }; \
	  runs=$$(awk '/^stat::number_of_executed_units/ { print $$NF }' $(FUZZ_DIR)/$$target.soak.log); \
	  printf '%-26s %12s %8s %8s\n' $$target "$${runs:-?}" $$(( $$(date +%s) - start )) $$crashes | tee -a $$summary; \
	done; \
	echo; cat $$summary; exit $$failed

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
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR)
