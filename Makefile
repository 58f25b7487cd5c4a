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

# The Debian package (debian/: binaries, systemd unit, config, manual pages, examples), built
# by dpkg-buildpackage and moved from the parent directory, where it puts them, into $(BUILD)/.
deb: package-deps
	dpkg-buildpackage -b -us -uc -j$(JOBS)
	mkdir -p $(BUILD)
	v=$$(dpkg-parsechangelog -S Version) && a=$$(dpkg-architecture -q DEB_HOST_ARCH) && \
	  mv ../latch_$${v}_$$a.deb ../latch_$${v}_$$a.buildinfo ../latch_$${v}_$$a.changes $(BUILD)/ && \
	  for f in ../latch-dbgsym_$${v}_$$a.*deb; do [ ! -e "$$f" ] || mv "$$f" $(BUILD)/; done && \
	  echo "lintian $(BUILD)/latch_$${v}_$$a.deb:" && \
	  lintian --fail-on error,warning --display-info $(BUILD)/latch_$${v}_$$a.deb && echo "lintian: clean"

# latchd against rtpengine and ref-relay, side by side (bench/README.md); about 30 minutes.
bench: bench-deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target latchd latch-bench ref-relay
	bench/compare --build $(BUILD) $(COMPARE_ARGS)

clean:
	rm -rf $(BUILD)
