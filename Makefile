# claynet — top-level entry points. Works unattended (CI=true) and on 2 cores.
#
#   make setup   install missing Debian packages and npm dependencies (quick when present)
#   make build   Release build into build/ (executables in build/bin/)
#   make test    all tests in build/, then unit+transport tests under ASan+UBSan in build-asan/
#   make demo    run the transport demo
#   make bench   transport benchmark against headless Chromium, in the same run
#   make clean   remove build trees

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
.DELETE_ON_ERROR:

JOBS       ?= 2
BUILD_DIR  ?= build
ASAN_DIR   ?= build-asan
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

.PHONY: all setup configure build test test-asan asan-build demo bench clean

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

asan-build: setup
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLAYNET_WERROR=ON -DCLAYNET_SANITIZE=ON
	$(CMAKE) --build $(ASAN_DIR) -j$(JOBS)

test-asan: asan-build
	$(SAN_ENV) $(CTEST) --test-dir $(ASAN_DIR) -L 'unit|transport' --output-on-failure --no-tests=error

demo: build
	$(BUILD_DIR)/bin/claynet bench transport

bench: build
	$(BUILD_DIR)/bin/claynet bench transport --vs chromium

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
