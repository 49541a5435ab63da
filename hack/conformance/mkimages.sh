#!/usr/bin/env bash
# mkimages.sh BUSYBOX_TARBALL [DEBIAN_TARBALL]: the rootfs tarballs runc's integration tests
# unpack (their get-images.sh would download a busybox and a Debian "buster-slim" image), made
# offline from this machine's packages:
#   - busybox: Debian's busybox-static (glibc-linked: hack/mkbundle.sh's rootfs, which copies the
#     loader, libc, libnss_dns/files and libresolv), with the /etc/passwd and /etc/group entries
#     of the busybox image (root, daemon, bin, sys, …, nobody/nogroup 65534) and, as in it, no
#     /proc or /sys directory;
#   - debian (stand-in): the same rootfs plus the host's static ldconfig and /etc/ld.so.conf,
#     which is all the one test using it (hooks.bats: `ldconfig -p`) needs from Debian.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUSYBOX_TARBALL [DEBIAN_TARBALL]" >&2; exit 2; }
BB_OUT=$1
DEB_OUT=${2:-}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash "$HERE/../mkbundle.sh" "$tmp/b" >/dev/null
r=$tmp/b/rootfs
cat >"$r/etc/passwd" <<-'P'
	root:x:0:0:root:/root:/bin/sh
	daemon:x:1:1:daemon:/usr/sbin:/bin/false
	bin:x:2:2:bin:/bin:/bin/false
	sys:x:3:3:sys:/dev:/bin/false
	sync:x:4:100:sync:/bin:/bin/sync
	mail:x:8:8:mail:/var/spool/mail:/bin/false
	www-data:x:33:33:www-data:/var/www:/bin/false
	operator:x:37:37:Operator:/var:/bin/false
	nobody:x:65534:65534:nobody:/home:/bin/false
P
cat >"$r/etc/group" <<-'G'
	root:x:0:
	daemon:x:1:
	bin:x:2:
	sys:x:3:
	adm:x:4:
	tty:x:5:
	disk:x:6:
	lp:x:7:
	mail:x:8:
	kmem:x:9:
	wheel:x:10:root
	cdrom:x:11:
	dialout:x:18:
	floppy:x:19:
	video:x:28:
	audio:x:29:
	tape:x:32:
	www-data:x:33:
	operator:x:37:
	utmp:x:43:
	plugdev:x:46:
	staff:x:50:
	lock:x:54:
	netdev:x:82:
	users:x:100:
	nogroup:x:65534:
G
: >"$r/etc/hostname"
# Like the busybox image, no /proc and /sys directories: the runtime makes the mount points
# (mask.bats replaces them with symlinks and expects the runtime to refuse those).
rmdir "$r/proc" "$r/sys"
mkdir -p "$(dirname "$BB_OUT")"
tar --numeric-owner -C "$r" -cJf "$BB_OUT.tmp" . && mv "$BB_OUT.tmp" "$BB_OUT"
echo "mkimages: $BB_OUT" >&2

if [ -n "$DEB_OUT" ]; then
	LDCONFIG=$(command -v ldconfig || echo /sbin/ldconfig)
	# static(-pie): no program interpreter to bring along
	readelf -l "$LDCONFIG" | grep -q 'Requesting program interpreter' && { echo "mkimages: $LDCONFIG is not static" >&2; exit 1; }
	mkdir -p "$r/sbin" "$r/etc/ld.so.conf.d"
	rm -f "$r/sbin/ldconfig"
	cp "$LDCONFIG" "$r/sbin/ldconfig"
	printf 'include /etc/ld.so.conf.d/*.conf\n' >"$r/etc/ld.so.conf"
	printf '/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n' >"$r/etc/ld.so.conf.d/multiarch.conf"
	tar --numeric-owner -C "$r" -cJf "$DEB_OUT.tmp" . && mv "$DEB_OUT.tmp" "$DEB_OUT"
	echo "mkimages: $DEB_OUT (stand-in: busybox + ldconfig)" >&2
fi
