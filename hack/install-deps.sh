#!/usr/bin/env bash
# Installs, idempotently, everything the build, tests, demo and benchmarks need on a fresh
# Debian 12 machine. Safe to run again: already-present packages and tools are skipped.
set -euo pipefail

APT_PACKAGES=(
  # build
  build-essential pkg-config libseccomp-dev clang-19 llvm-19 libbpf-dev linux-libc-dev
  # runtimes and container tooling the tests compare with or drive
  runc podman containerd conmon umoci skopeo uidmap fuse-overlayfs
  # test topology and tools
  busybox-static dnsmasq-base bind9-dnsutils iproute2 iputils-ping bats jq curl procps psmisc
  nftables # copied into a test rootfs: the CAP_NET_ADMIN attack (hardening_caps.bats)
  bpftool dnsperf iperf3 hyperfine util-linux
  # static test programs (musl and glibc resolvers) built by integration/tools/build.sh
  musl-tools
  # the real-client tests' Debian rootfs (hack/mkrootfs-debian.sh) and its Go client
  mmdebstrap golang-go
  # a real Prometheus text-format parser for the metrics tests
  python3-prometheus-client
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install-deps: apt installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends keeps the system dnsmasq service (and other daemons) off the machine.
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The packaged containerd starts a system service on install; our tests run their own private
# containerd, so the system one is not needed. Leave it as the admin set it up otherwise.

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo not found; install a Rust toolchain (rustup) first" >&2
  exit 1
fi
