#!/usr/bin/env bash
# Conformance-only dependencies (make test-conformance): what get-runc-tests.sh needs to get and
# build runc's test helpers (dpkg-source, Debian's Go 1.19 and the golang-*-dev packages the
# helpers import, GOPATH mode), and what runc's integration tests call (gawk, gcc -static,
# iproute2, jq, bats). All from Debian's archive. Idempotent.
set -euo pipefail
APT_PACKAGES=(
	dpkg-dev xz-utils golang-1.19-go
	golang-github-containerd-console-dev golang-github-urfave-cli-dev
	golang-github-sirupsen-logrus-dev golang-golang-x-sys-dev golang-github-opencontainers-specs-dev
	golang-github-cyphar-filepath-securejoin-dev golang-github-seccomp-libseccomp-golang-dev
	golang-github-cilium-ebpf-dev golang-dbus-dev golang-github-coreos-go-systemd-dev
	golang-github-moby-sys-dev golang-github-docker-go-units-dev libseccomp-dev
	bats jq gawk bsdutils gcc libc6-dev iproute2 util-linux busybox-static binutils runc
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
	echo "conformance deps: apt installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
