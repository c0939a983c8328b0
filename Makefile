# ait-llm: thin wrapper over CMake. `make demo` and `make test` work on a fresh Debian 12
# machine: both install what is missing first (scripts/install-deps.sh). Both builds treat
# compiler warnings as errors (AIT_WERROR), so a new warning fails `make test` and CI.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
PYTHON     := .venv/bin/python
FUZZ_SECONDS ?= 15
# ccache (scripts/install-deps.sh installs it) compiles the Release build through a cache that
# tests/python/test_install.py's `pip install` of a copy of the repository then hits: paths
# under the repository are hashed relative to it, so the copy's objects are these.
CCACHE = $(shell command -v ccache 2>/dev/null)
export CCACHE_BASEDIR := $(CURDIR)

.PHONY: all deps build test unit-test python-test sanitize-test fuzz-test demo demo-llamacpp bench calibrate clean help

all: build

help:
	@echo "make demo   install deps, build, dump the HF golden and the engine with a planted fault, compare: the root cause"
	@echo "make demo-llamacpp  the same question for llama.cpp: a Q4_0 GGUF vs the HF golden, then a planted fault"
	@echo "make test   install deps, build, run every test (unit, python, sanitizers, fuzz)"
	@echo "make build  build only; the program lands at $(BUILD)/bin/ait"
	@echo "make bench  run the benchmarks; results go to docs/PERFORMANCE.md by hand"
	@echo "make calibrate  planted-fault suite of the root-cause analysis; its table goes into docs/ROOT_CAUSE.md"

deps:
	@bash scripts/install-deps.sh

# Both build folders are configured again when this Makefile changes, so one made before
# takes its current flags (AIT_WERROR) too.
$(BUILD)/build.ninja: Makefile | deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DAIT_WERROR=ON \
	  $(if $(CCACHE),-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache) >/dev/null

build: deps $(BUILD)/build.ninja
	@cmake --build $(BUILD) -j $(JOBS)

# ait_unit_tests: core library and CLI; engine_unit_tests: the reference engine (engine/);
# probe_unit_tests: libait_probe (src/probe, tests/probe).
unit-test: build
	@$(BUILD)/bin/ait_unit_tests --gtest_brief=1
	@$(BUILD)/bin/engine_unit_tests --gtest_brief=1
	@$(BUILD)/bin/probe_unit_tests --gtest_brief=1

python-test: build
	@AIT_BUILD_DIR=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/python

$(ASAN_BUILD)/build.ninja: Makefile
	@CC=clang-14 CXX=clang++-14 cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DAIT_SANITIZE=ON -DAIT_FUZZ=ON -DAIT_BENCH=OFF -DAIT_PYTHON=OFF -DAIT_WERROR=ON >/dev/null

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer, then every fuzz target
# for FUZZ_SECONDS each.
sanitize-test: deps $(ASAN_BUILD)/build.ninja
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@$(ASAN_BUILD)/bin/ait_unit_tests --gtest_brief=1
	@$(ASAN_BUILD)/bin/engine_unit_tests --gtest_brief=1
	@$(ASAN_BUILD)/bin/probe_unit_tests --gtest_brief=1
	@bash scripts/run-fuzz.sh $(ASAN_BUILD) $(FUZZ_SECONDS)

test: build sanitize-test unit-test python-test

demo: build
	@bash scripts/demo.sh $(BUILD)

demo-llamacpp: build
	@bash scripts/demo_llama_cpp.sh $(BUILD)

bench: build
	@bash scripts/bench.sh $(BUILD)

# The default grid takes ~10 minutes on 2 cores; CALIBRATE_ARGS=--full runs the whole grid (hours),
# CALIBRATE_ARGS=--quick the reduced suite of tests/python/test_calibration.py.
calibrate: build
	@$(PYTHON) scripts/calibrate.py --build $(BUILD) --write-docs $(CALIBRATE_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
