#!/bin/sh
# Installs the Debian 12 packages latch needs to build and test (with --ci, also what the sanitizer builds need),
# skipping what is already there. Run as root, or as a user who may use sudo.
set -eu

pkgs="g++ cmake make pkg-config libuv1-dev nlohmann-json3-dev libfmt-dev catch2 prometheus-cpp-dev"
# The interop tests place real calls through Kamailio with SIPp as the phones.
pkgs="$pkgs kamailio sip-tester python3"
# The NAT lab builds its networks from namespaces and nftables.
pkgs="$pkgs iproute2 nftables conntrack"
# `make deb` (CPack) reads the binaries' library dependencies with dpkg-shlibdeps.
pkgs="$pkgs dpkg-dev"
case "${1:-}" in
  --ci) pkgs="$pkgs clang libclang-rt-14-dev" ;;
  "") ;;
  *) echo "usage: $0 [--ci]" >&2; exit 2 ;;
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
