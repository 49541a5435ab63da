#!/usr/bin/env bash
# mkbundle.sh DIR [options]: make an OCI bundle (DIR/config.json + DIR/rootfs) with a
# busybox-static rootfs. No image download: busybox comes from the host's busybox-static
# package, plus the few glibc files its resolver loads at run time (nslookup, wget by name).
#
# Options:
#   --net-ns PATH         join this network namespace (e.g. /run/netns/world-c) instead of a new one
#   --args 'cmd ...'      process args, parsed with shell quoting (default: sh). A JSON array
#                         (starting with '[') is taken as-is.
#   --annotation k=v      add an annotation (repeatable)
#   --terminal            process.terminal = true (default false)
#   --nameserver IP       add "nameserver IP" to the rootfs /etc/resolv.conf (repeatable;
#                         default: an empty resolv.conf, never the host's)
#   --resolv-conf FILE    use FILE's content as the rootfs /etc/resolv.conf
#   --rw                  writable rootfs (default read-only, as `runc spec`)
#   --env K=V             add an environment variable (repeatable)
#   --hostname NAME       hostname (default: runc, as `runc spec`)
#   --rootfs-dir DIR      use DIR (e.g. hack/mkrootfs-debian.sh's Debian rootfs) as the root,
#                         read-only and shared, instead of a busybox copy: root.path is DIR,
#                         /etc/resolv.conf is a bind mount of DIR-bundle/resolv.conf, /tmp,
#                         /root and /var/tmp are tmpfs (HOME for git, python, curl), and
#                         DIR-bundle/files is bind-mounted read-only on /mnt (test scripts)
#
# The rootfs template is built once per busybox/glibc version in a cache dir
# (${CGFW_ROOTFS_CACHE:-${TMPDIR:-/tmp}/cgfw-rootfs-cache}) and copied with cp -a.
set -euo pipefail

# json_array ARG...: print the arguments as a JSON array of strings (jq would eat "-c" etc.).
json_array() {
	local out='[' sep='' a
	for a in "$@"; do out+="$sep$(jq -nc --arg a "$a" '$a')"; sep=,; done
	echo "$out]"
}

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac
DIR=$1; shift

NETNS=""
ARGS_JSON='["sh"]'
TERMINAL=false
READONLY=true
HOSTNAME_=runc
ANNOTATIONS=()
NAMESERVERS=()
RESOLV_FILE=""
ENVS=()
ROOTFS_DIR=""

while [ $# -gt 0 ]; do
	case "$1" in
	--net-ns) NETNS=$2; shift 2 ;;
	--args)
		if [[ $2 =~ ^[[:space:]]*\[ ]]; then
			ARGS_JSON=$(jq -ce 'if type=="array" and length>0 then . else error("not a non-empty array") end' <<<"$2")
		else
			eval "argv=($2)"
			# shellcheck disable=SC2154
			[ ${#argv[@]} -gt 0 ] || { echo "mkbundle: --args is empty" >&2; exit 2; }
			ARGS_JSON=$(json_array "${argv[@]}")
		fi
		shift 2 ;;
	--annotation)
		[[ $2 == *=* ]] || { echo "mkbundle: --annotation needs k=v, got '$2'" >&2; exit 2; }
		ANNOTATIONS+=("$2"); shift 2 ;;
	--terminal) TERMINAL=true; shift ;;
	--nameserver) NAMESERVERS+=("$2"); shift 2 ;;
	--resolv-conf) RESOLV_FILE=$2; shift 2 ;;
	--rw) READONLY=false; shift ;;
	--env) ENVS+=("$2"); shift 2 ;;
	--hostname) HOSTNAME_=$2; shift 2 ;;
	--rootfs-dir)
		[ -d "$2/etc" ] || { echo "mkbundle: --rootfs-dir $2 is not a root filesystem (no etc/)" >&2; exit 2; }
		ROOTFS_DIR=$(cd "$2" && pwd); READONLY=true; shift 2 ;;
	-h|--help) usage ;;
	*) echo "mkbundle: unknown option '$1'" >&2; usage ;;
	esac
done

BUSYBOX=${BUSYBOX:-$(command -v busybox || true)}
[ -n "$BUSYBOX" ] && [ -x "$BUSYBOX" ] || { echo "mkbundle: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
if ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
	# `file` may be missing; fall back to ldd.
	if ldd "$BUSYBOX" >/dev/null 2>&1; then
		echo "mkbundle: $BUSYBOX is not statically linked (install busybox-static)" >&2; exit 1
	fi
fi

# glibc files the static busybox's resolver dlopen()s (NSS) plus the loader they need.
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
LIBS=()
for f in /lib64/ld-linux-x86-64.so.2 /lib/ld-linux-aarch64.so.1 \
	"/lib/$MULTIARCH/libc.so.6" "/lib/$MULTIARCH/libnss_dns.so.2" \
	"/lib/$MULTIARCH/libnss_files.so.2" "/lib/$MULTIARCH/libresolv.so.2"; do
	[ -e "$f" ] && LIBS+=("$f")
done

CACHE=${CGFW_ROOTFS_CACHE:-${TMPDIR:-/tmp}/cgfw-rootfs-cache}
KEY=$( { cat "$BUSYBOX"; for l in "${LIBS[@]}"; do readlink -f "$l"; stat -Lc '%s %Y' "$l"; done; echo v3; } | sha256sum | cut -c1-16)
TEMPLATE=$CACHE/busybox-$KEY

build_template() {
	mkdir -p "$CACHE"
	local t
	t=$(mktemp -d "$CACHE/.build.XXXXXX")
	local r=$t/rootfs
	mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,tmp,root,run,var/tmp,var/log,home,lib,lib64}
	chmod 1777 "$r/tmp" "$r/var/tmp"
	cp "$BUSYBOX" "$r/bin/busybox"
	# --install -s wants /proc/self/exe to be the rootfs's busybox; make the links ourselves.
	local applet
	for applet in $("$BUSYBOX" --list-full); do
		[ "$applet" = bin/busybox ] && continue
		[ -e "$r/$applet" ] || ln -s /bin/busybox "$r/$applet"
	done
	local l real
	for l in "${LIBS[@]}"; do
		real=$(readlink -f "$l")
		mkdir -p "$r$(dirname "$real")" "$r$(dirname "$l")"
		cp -L "$l" "$r$real"
		[ "$real" = "$l" ] || [ -e "$r$l" ] || ln -s "$real" "$r$l"
	done
	cat >"$r/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		daemon:x:1:1:daemon:/usr/sbin:/bin/false
		nobody:x:65534:65534:nobody:/nonexistent:/bin/false
	EOF
	cat >"$r/etc/group" <<-'EOF'
		root:x:0:
		daemon:x:1:
		tty:x:5:
		nogroup:x:65534:
	EOF
	cat >"$r/etc/hosts" <<-'EOF'
		127.0.0.1	localhost
		::1	localhost ip6-localhost ip6-loopback
	EOF
	cat >"$r/etc/nsswitch.conf" <<-'EOF'
		passwd: files
		group: files
		hosts: files dns
	EOF
	: >"$r/etc/resolv.conf"
	echo cgfw >"$r/etc/hostname"
	if ! mv -T "$t" "$TEMPLATE" 2>/dev/null; then
		rm -rf "$t" # another mkbundle won the race
	fi
}

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ -e "$DIR/rootfs" ]; then
	echo "mkbundle: $DIR/rootfs already exists" >&2; exit 1
fi
if [ -n "$ROOTFS_DIR" ]; then
	# Shared read-only root: the container's resolv.conf is the bundle's, bind-mounted.
	RESOLV=$DIR/resolv.conf
	ROOT_PATH=$ROOTFS_DIR
	mkdir -p "$DIR/files"
else
	[ -x "$TEMPLATE/rootfs/bin/busybox" ] || build_template
	cp -a "$TEMPLATE/rootfs" "$DIR/rootfs"
	RESOLV=$DIR/rootfs/etc/resolv.conf
	ROOT_PATH=rootfs
fi
: >"$RESOLV"
if [ -n "$RESOLV_FILE" ]; then
	cat "$RESOLV_FILE" >"$RESOLV"
fi
if [ ${#NAMESERVERS[@]} -gt 0 ]; then
	printf 'nameserver %s\n' "${NAMESERVERS[@]}" >"$RESOLV"
fi

ANN_JSON=$(json_array "${ANNOTATIONS[@]}" | jq -c '[.[] | capture("^(?<k>[^=]+)=(?<v>.*)$"; "s") | {(.k): .v}] | add // {}')
ENV_JSON=$(json_array "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "${ENVS[@]}")
if [ "$TERMINAL" = true ]; then ENV_JSON=$(jq -c '. + ["TERM=xterm"]' <<<"$ENV_JSON"); fi

# Defaults mirror `runc spec` (runc 1.1), written here so no runtime's `spec` is needed.
jq -n \
	--argjson args "$ARGS_JSON" \
	--argjson terminal "$TERMINAL" \
	--argjson readonly "$READONLY" \
	--argjson env "$ENV_JSON" \
	--argjson ann "$ANN_JSON" \
	--arg hostname "$HOSTNAME_" \
	--arg rootpath "$ROOT_PATH" \
	--arg shared "$ROOTFS_DIR" \
	--arg resolv "$RESOLV" \
	--arg files "$DIR/files" \
	--arg netns "$NETNS" '
{
  ociVersion: "1.0.2-dev",
  process: {
    terminal: $terminal,
    user: {uid: 0, gid: 0},
    args: $args,
    env: $env,
    cwd: "/",
    capabilities: (["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"] as $c
      | {bounding: $c, effective: $c, permitted: $c, ambient: $c}),
    rlimits: [{type: "RLIMIT_NOFILE", hard: 1024, soft: 1024}],
    noNewPrivileges: true
  },
  root: {path: $rootpath, readonly: $readonly},
  hostname: $hostname,
  mounts: [
    {destination: "/proc", type: "proc", source: "proc"},
    {destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]},
    {destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]},
    {destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    {destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777", "size=65536k"]}
  ],
  linux: {
    resources: {devices: [{allow: false, access: "rwm"}]},
    namespaces: [
      {type: "pid"},
      (if $netns == "" then {type: "network"} else {type: "network", path: $netns} end),
      {type: "ipc"}, {type: "uts"}, {type: "mount"}
    ],
    maskedPaths: ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
      "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
| if ($ann | length) > 0 then .annotations = $ann else . end
| if $shared == "" then . else .mounts += [
    {destination: "/etc/resolv.conf", type: "bind", source: $resolv, options: ["rbind", "ro"]},
    {destination: "/mnt", type: "bind", source: $files, options: ["rbind", "ro"]},
    {destination: "/root", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=700", "size=65536k"]},
    {destination: "/var/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777", "size=65536k"]}
  ] end
' >"$DIR/config.json"
