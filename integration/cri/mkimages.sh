#!/usr/bin/env bash
# mkimages.sh OUTDIR: build the two images the CRI tests need, offline, as OCI archives:
#   OUTDIR/busybox.tar  -> import as cgfw.test/busybox:1 (rootfs of hack/mkbundle.sh: busybox-static
#                          + the glibc resolver files it loads; empty /etc/resolv.conf)
#   OUTDIR/pause.tar    -> import as cgfw.test/pause:1 (our integration/cri/pause.c, static)
# Import:  ctr -n k8s.io images import --base-name cgfw.test/NAME OUTDIR/NAME.tar   (tag "1")
# Needs umoci, gcc (static libc: libc6-dev), tar. No registry access.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${1:?usage: mkimages.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cgfw-cri-img.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# image NAME ROOTFS_DIR CMD_JSON: OCI layout with one layer holding ROOTFS_DIR, tag "1".
image() {
	local name=$1 rootfs=$2 cmd=$3 layout=$WORK/$1-layout bundle=$WORK/$1-bundle
	umoci init --layout "$layout"
	umoci new --image "$layout:1"
	umoci unpack --rootless=false --image "$layout:1" "$bundle" >/dev/null
	cp -a "$rootfs/." "$bundle/rootfs/"
	umoci repack --image "$layout:1" "$bundle" >/dev/null
	local -a cfg=(--config.workingdir / --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	local c
	while IFS= read -r c; do cfg+=(--config.cmd "$c"); done < <(jq -r '.[]' <<<"$cmd")
	umoci config --image "$layout:1" --os linux --architecture amd64 "${cfg[@]}"
	umoci gc --layout "$layout"
	tar -C "$layout" -cf "$OUT/$name.tar.tmp" .
	mv "$OUT/$name.tar.tmp" "$OUT/$name.tar"
}

# busybox: the same rootfs as the bats bundles.
"$REPO/hack/mkbundle.sh" "$WORK/bb" >/dev/null
image busybox "$WORK/bb/rootfs" '["sh"]'

# pause: one static binary.
mkdir -p "$WORK/pause-rootfs"
gcc -static -O2 -Wall -Wextra -o "$WORK/pause-rootfs/pause" "$HERE/pause.c"
strip "$WORK/pause-rootfs/pause"
image pause "$WORK/pause-rootfs" '["/pause"]'
# umoci config sets Cmd; the pause image uses Entrypoint in upstream, either works for CRI.
echo "mkimages: $OUT/busybox.tar $OUT/pause.tar"
