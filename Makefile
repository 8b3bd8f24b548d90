# The two commands a new user runs (see README.md):
#   make run    installs what is missing, builds, starts gateway + hello on loopback
#   make test   installs what is missing, builds (release + ASan/UBSan), runs every test
BUILD      ?= build
ASAN_BUILD ?= build-asan
CMAKE_GEN  := -G Ninja
# ccache and precompiled headers work together only with these sloppiness settings.
export CCACHE_SLOPPINESS := pch_defines,time_macros,include_file_mtime,include_file_ctime
# Cache hits across checkouts in different directories (CI clones afresh every run).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps test-deps build build-asan run test unit fuzz bench clean

all: build

deps:
	@scripts/install-deps

test-deps:
	@scripts/install-deps --test

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DMCPGATE_SANITIZE=ON

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD)

build-asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD)

run: build
	@scripts/run-demo $(BUILD)/mcpgate

test: test-deps $(BUILD)/build.ninja $(ASAN_BUILD)/build.ninja
	cmake --build $(BUILD)
	cmake --build $(ASAN_BUILD)
	@scripts/run-tests $(BUILD) $(ASAN_BUILD)

fuzz: test-deps
	cmake -S . -B build-fuzz $(CMAKE_GEN) -DCMAKE_CXX_COMPILER=clang++-14 -DMCPGATE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build-fuzz --target fuzz_targets
	@scripts/run-fuzz build-fuzz

bench: build
	@scripts/install-deps --bench
	@bench/run $(BUILD)/mcpgate

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
