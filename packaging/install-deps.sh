#!/bin/sh
# Installs the Debian 12 packages latch needs, skipping what is already there. Run as root, or
# as a user who may use sudo.
#   install-deps.sh            to build and run latchd
#   install-deps.sh --package  also to build the .deb (make deb)
#   install-deps.sh --test     also to run the whole test suite (make test)
#   install-deps.sh --ci       also the sanitizer and fuzzing builds (.ci/run)
#   install-deps.sh --bench    also to run bench/compare (rtpengine, gnuplot)
set -eu

# Build and run (catch2 too: the default build configures the tests; mimalloc is latchd's malloc;
# liburing gives the packet path io_uring; hiredis keeps call state in Redis; clang's BPF
# target, bpftool's skeleton and libbpf build the kernel path into latchd; libpcap writes
# recordings; libsystemd tells systemd when latchd is ready, and that it is alive).
pkgs="g++ cmake make pkg-config libuv1-dev nlohmann-json3-dev libfmt-dev prometheus-cpp-dev libmimalloc-dev liburing-dev libhiredis-dev catch2 clang bpftool libbpf-dev libpcap-dev libsystemd-dev"
# `make deb`: dpkg-buildpackage (which wants build-essential) with debhelper, scdoc for the
# manual pages, lintian to check the package (the tests check the pages against --help too).
package="dpkg-dev build-essential debhelper scdoc lintian"
# The interop tests place real calls through Kamailio with SIPp and baresip as the phones; the
# NAT lab builds its networks from namespaces and nftables; the Redis tests and the HA lab run
# redis-server, and the HA lab keepalived (with arping for its manual address moves); tshark
# reads the recordings back.
test="$package kamailio sip-tester baresip-core redis-server keepalived iputils-arping python3 iproute2 nftables conntrack util-linux tshark"
# bench/compare measures Debian's rtpengine beside latch and plots with gnuplot; bench/kernel
# builds its namespaces with iproute2.
bench="rtpengine-daemon gnuplot-nox python3 iproute2 util-linux"
case "${1:-}" in
  "") ;;
  --package) pkgs="$pkgs $package" ;;
  --test) pkgs="$pkgs $test" ;;
  --ci) pkgs="$pkgs $test clang libclang-rt-14-dev" ;;
  --bench) pkgs="$pkgs $bench" ;;
  *) echo "usage: $0 [--package|--test|--ci|--bench]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

echo "installing missing packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  echo "missing packages:$missing; install them as root (apt-get install$missing)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
