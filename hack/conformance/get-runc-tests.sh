#!/usr/bin/env bash
# get-runc-tests.sh [DIR]: get runc 1.1.5's own integration tests, from Debian's runc source
# package, into DIR (default ${CGFW_RUNC_TESTS:-/var/cache/cgfw-test/runc-1.1.5}) and make
# them runnable offline:
#   - `apt-get source runc=1.1.5+ds1-*` with a private deb-src list derived from this machine's
#     own apt sources (private sources dir, lists and cache under DIR/apt: nothing changes
#     system-wide);
#   - runc's test helpers (recvtty, sd-helper, seccompagent with -tags seccomp) built with
#     Debian's Go 1.19 in GOPATH mode against Debian's golang-*-dev packages
#     (hack/conformance/install-deps.sh installs them), into the paths helpers.bash expects;
#   - the images get-images.sh would download, made offline (hack/conformance/mkimages.sh) and
#     put where get-images.sh looks first, so it never reaches for the network.
# Prints the integration test dir (…/tests/integration) on stdout. Idempotent: a complete DIR
# (stamp file) is reused. Nothing here comes from a code host, nothing goes into the repo.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${1:-${CGFW_RUNC_TESTS:-/var/cache/cgfw-test/runc-1.1.5}}
UPSTREAM=1.1.5
STAMP_VERSION=4 # bump when what this script produces changes

log() { echo "get-runc-tests: $*" >&2; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
STAMP=$DIR/.complete
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_VERSION" ]; then
	src=$(cat "$DIR/src-dir")
	echo "$src/tests/integration"
	exit 0
fi
rm -f "$STAMP"

# --- private apt: deb-src entries derived from the machine's deb entries -----------------
APTD=$DIR/apt
rm -rf "$APTD/etc"
mkdir -p "$APTD/etc/sources.list.d" "$APTD/lists/partial" "$APTD/cache/archives/partial"
n=0
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
	# deb822: each stanza whose Types has "deb" gets a copy with Types: deb-src.
	awk '
		BEGIN { RS = ""; ORS = "\n\n" }
		{
			if ($0 ~ /(^|\n)[Ee]nabled:[ \t]*no/) next
			if (match($0, /(^|\n)Types:[^\n]*/)) {
				line = substr($0, RSTART, RLENGTH)
				if (line ~ /[ \t]deb([ \t]|$)/) {
					sub(/Types:[^\n]*/, "Types: deb-src")
					print
				}
			}
		}' "$f" >"$APTD/etc/sources.list.d/src-$(basename "$f")"
	[ -s "$APTD/etc/sources.list.d/src-$(basename "$f")" ] && n=$((n + 1))
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
	[ -f "$f" ] || continue
	out=$APTD/etc/sources.list.d/src-$(basename "$f" .list).list
	sed -n 's/^[[:space:]]*deb\([[:space:]]\)/deb-src\1/p' "$f" >"$out"
	[ -s "$out" ] && n=$((n + 1)) || rm -f "$out"
done
shopt -u nullglob
((n > 0)) || { log "no deb entries found in /etc/apt/sources.list{,.d} to derive deb-src from"; exit 1; }

APT_OPTS=(
	-o "Dir::Etc::SourceList=/dev/null"
	-o "Dir::Etc::SourceParts=$APTD/etc/sources.list.d"
	-o "Dir::State::Lists=$APTD/lists"
	-o "Dir::Cache=$APTD/cache"
	-o "Dir::Cache::pkgcache="
	-o "Dir::Cache::srcpkgcache="
	-o "APT::Sandbox::User=root" # private dirs are root's; don't drop to _apt for them
)
log "apt-get update (private deb-src lists in $APTD)"
apt-get "${APT_OPTS[@]}" -qq update >&2
version=$(apt-cache "${APT_OPTS[@]}" showsrc runc | sed -n 's/^Version: //p' | grep "^$UPSTREAM+" | sort -V | tail -1)
[ -n "$version" ] || { log "no runc $UPSTREAM source package in the derived deb-src lists"; exit 1; }
log "apt-get source runc=$version"
rm -rf "$DIR/src"
mkdir -p "$DIR/src"
(cd "$DIR/src" && apt-get "${APT_OPTS[@]}" -qq source "runc=$version" >&2)
src=$(find "$DIR/src" -mindepth 1 -maxdepth 1 -type d -name "runc-$UPSTREAM*" | head -1)
[ -n "$src" ] && [ -f "$src/tests/integration/helpers.bash" ] || { log "unpacked source has no tests/integration"; exit 1; }

# --- runc's Go test helpers: Debian Go 1.19, GOPATH mode, Debian's golang-*-dev ---------------
GO=${GO:-/usr/lib/go-1.19/bin/go}
[ -x "$GO" ] || { log "$GO missing (apt-get install golang-1.19-go; hack/conformance/install-deps.sh)"; exit 1; }
GP=$DIR/gopath
rm -rf "$GP"
mkdir -p "$GP/src/github.com/opencontainers"
ln -s "$src" "$GP/src/github.com/opencontainers/runc"
export GO111MODULE=off GOPATH=$GP:/usr/share/gocode GOCACHE=$DIR/gocache GOFLAGS= GOPROXY=off GOTOOLCHAIN=local
cd "$GP/src/github.com/opencontainers/runc"
for h in recvtty sd-helper seccompagent; do
	tags=()
	[ "$h" = seccompagent ] && tags=(-tags seccomp)
	log "go build $h"
	nice -n 10 "$GO" build "${tags[@]}" -o "contrib/cmd/$h/$h" "./contrib/cmd/$h"
done
cd "$DIR"

# --- offline images, where get-images.sh looks before downloading ----------------------------
arch=$(GO111MODULE=off "$GO" env GOARCH)
bash "$HERE/mkimages.sh" "$src/tests/integration/testdata/busybox-$arch.tar.xz" \
	"$src/tests/integration/testdata/debian-$arch.tar.xz" >&2
# get-images.sh must now find both and print their paths without fetching anything.
imgs=$(PATH=$HERE/no-download:$PATH "$src/tests/integration/get-images.sh")
grep -q "^BUSYBOX_IMAGE=$src/tests/integration/testdata/busybox-$arch.tar.xz$" <<<"$imgs"
grep -q "^DEBIAN_IMAGE=" <<<"$imgs"

echo "$src" >"$DIR/src-dir"
echo "$STAMP_VERSION" >"$STAMP"
log "ready: $src/tests/integration (runc source $version)"
echo "$src/tests/integration"
