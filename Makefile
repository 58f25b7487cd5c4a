# Convenience wrapper around CMake: `make run` builds and starts latchd in the foreground,
# `make test` builds and runs the whole test suite, `make deb` builds the Debian package,
# `make bench` compares latchd with rtpengine. Each installs the Debian packages it is missing
# first (make run only what building needs).
BUILD ?= build
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
LATCHD_ARGS ?=

.PHONY: all build run test deb bench clean deps test-deps package-deps bench-deps

all: build

deps:
	@sh packaging/install-deps.sh

test-deps:
	@sh packaging/install-deps.sh --test

package-deps:
	@sh packaging/install-deps.sh --package

bench-deps:
	@sh packaging/install-deps.sh --bench

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target latchd latchctl
	exec $(BUILD)/control/latchd $(LATCHD_ARGS)

test: test-deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

# The Debian package (binaries, systemd unit, config, documentation) in $(BUILD)/.
deb: package-deps build
	cd $(BUILD) && cpack -G DEB

# latchd against rtpengine and ref-relay, side by side (bench/README.md); about 30 minutes.
bench: bench-deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target latchd latch-bench ref-relay
	bench/compare --build $(BUILD) $(COMPARE_ARGS)

clean:
	rm -rf $(BUILD)
