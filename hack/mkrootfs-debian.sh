#!/usr/bin/env bash
# mkrootfs-debian.sh: print the path of a Debian 12 root filesystem for the real-client tests,
# building it first if the cache has none for this script's version.
#
# The rootfs is what a deploy script's image holds: curl, GNU wget, python3, git, dig/host/
# nslookup, plus two builds of a Go client (integration/tools/goclient): goclient-purego
# (CGO_ENABLED=0: Go's own resolver) and goclient-cgo (glibc's resolver through cgo).
# Built with mmdebstrap from the package registry the machine's apt uses (a few minutes), kept
# in ${CGFW_DEBIAN_ROOTFS_CACHE:-/var/cache/cgfw-test} (never in the repository) and used
# read-only: bundles point root.path at it (hack/mkbundle.sh --rootfs-dir), nothing copies it.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CGFW_DEBIAN_ROOTFS_CACHE:-/var/cache/cgfw-test}
PACKAGES=curl,wget,python3,git,bind9-dnsutils,ca-certificates,iproute2,procps
KEY=$( { cat "$0" "$REPO/integration/tools/goclient/main.go"; echo "$PACKAGES"; go version; } | sha256sum | cut -c1-16)
ROOTFS=$CACHE/debian-bookworm-$KEY

die() { echo "mkrootfs-debian: $*" >&2; exit 1; }

if [ -x "$ROOTFS/usr/local/bin/goclient-cgo" ]; then
	echo "$ROOTFS"
	exit 0
fi
command -v mmdebstrap >/dev/null || die "mmdebstrap not found (apt-get install mmdebstrap; hack/install-deps.sh does)"
command -v go >/dev/null || die "go not found (apt-get install golang-go; hack/install-deps.sh does)"
mkdir -p "$CACHE"
exec 9>"$CACHE/.debian.lock"
flock 9 # one build at a time; a second caller waits and then finds it built
if [ -x "$ROOTFS/usr/local/bin/goclient-cgo" ]; then
	echo "$ROOTFS"
	exit 0
fi

build=$(mktemp -d "$CACHE/.build.XXXXXX")
trap 'rm -rf "$build"' EXIT
echo "mkrootfs-debian: building a Debian 12 rootfs ($PACKAGES) into $ROOTFS (a few minutes)" >&2
# The mirror is the one the machine's own apt sources name (a fresh machine's registry).
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
mmdebstrap --quiet --variant=apt --include="$PACKAGES" \
	--customize-hook='rm -f "$1/etc/resolv.conf" && : >"$1/etc/resolv.conf"' \
	--customize-hook='echo cgfw >"$1/etc/hostname"' \
	bookworm "$build/rootfs" "$mirror" >&2 || die "mmdebstrap failed"

gotmp=$build/go
mkdir -p "$gotmp"
src=$REPO/integration/tools/goclient/main.go
GOCACHE=$gotmp/cache GOPATH=$gotmp/path GO111MODULE=off GOFLAGS= CGO_ENABLED=0 \
	go build -trimpath -o "$build/rootfs/usr/local/bin/goclient-purego" "$src" || die "go build (pure Go) failed"
GOCACHE=$gotmp/cache GOPATH=$gotmp/path GO111MODULE=off GOFLAGS= CGO_ENABLED=1 \
	go build -trimpath -tags netcgo -o "$build/rootfs/usr/local/bin/goclient-cgo" "$src" || die "go build (cgo) failed"
rm -rf "$gotmp"
mv -T "$build/rootfs" "$ROOTFS"
echo "$ROOTFS"
