#!/usr/bin/env bash
# containerd.sh: a private containerd with the CRI plugin for the Kubernetes-path tests.
#
#   containerd.sh up DIR WORLD IMAGES   start it (everything under DIR; pods join world netns
#                                       WORLD through our CNI plugin; IMAGES holds busybox.tar
#                                       and pause.tar from mkimages.sh) and import the images
#   containerd.sh down DIR              remove every pod through CRI, stop containerd and its
#                                       shims, force-delete leftovers, unmount, remove DIR.
#                                       Idempotent, also when half set up.
#
# Environment: RUNTIME (absolute path of cgfw-runc; default: the repo's target/release),
# CRI_CLIENT (default: cri-client next to this repo's build), RUNC (default: runc on PATH).
# Runtime handlers: "runc" (default, plain runc) and "cgfw" (cgfw-runc, pod_annotations
# cgfw.io/*), both io.containerd.runc.v2 with their own state roots under DIR. The cgfw-runc
# event logs and reports go to DIR/cgfw-logs (CGFW_LOG_DIR in containerd's environment,
# inherited by the shim and the runtime).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUNTIME=${RUNTIME:-$REPO/target/release/cgfw-runc}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
CRI_CLIENT=${CRI_CLIENT:-${CARGO_TARGET_DIR:-$REPO/target}/release/cri-client}

die() { echo "containerd.sh: $*" >&2; exit 1; }

config() {
	local d=$1
	cat <<-TOML
	version = 2
	root = "$d/root"
	state = "$d/state"
	disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
	  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
	  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

	[grpc]
	  address = "$d/containerd.sock"
	[ttrpc]
	  address = "$d/containerd.sock.ttrpc"
	[debug]
	  level = "debug"

	[plugins."io.containerd.internal.v1.opt"]
	  path = "$d/opt"
	[plugins."io.containerd.grpc.v1.cri"]
	  sandbox_image = "cgfw.test/pause:1"
	  disable_apparmor = true
	  # Cap oomScoreAdj at containerd's own: the sandbox asks for -998, which needs
	  # CAP_SYS_RESOURCE (absent in some CI sandboxes; runc fails on it as well).
	  restrict_oom_score_adj = true
	  stream_server_address = "127.0.0.1"
	  stream_server_port = "0"
	  [plugins."io.containerd.grpc.v1.cri".cni]
	    bin_dir = "$d/cni/bin"
	    conf_dir = "$d/cni/conf"
	    max_conf_num = 1
	  [plugins."io.containerd.grpc.v1.cri".registry]
	    config_path = "$d/certs.d"
	  [plugins."io.containerd.grpc.v1.cri".containerd]
	    snapshotter = "overlayfs"
	    default_runtime_name = "runc"
	    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
	      runtime_type = "io.containerd.runc.v2"
	      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
	        BinaryName = "$RUNC"
	        Root = "$d/runc-root"
	        SystemdCgroup = false
	    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.cgfw]
	      runtime_type = "io.containerd.runc.v2"
	      pod_annotations = ["cgfw.io/*"]
	      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.cgfw.options]
	        BinaryName = "$RUNTIME"
	        Root = "$d/cgfw-root"
	        SystemdCgroup = false
	TOML
}

cri() { timeout 70 "$CRI_CLIENT" --endpoint "$DIR/containerd.sock" "$@"; }

up() {
	local world=$1 images=$2
	[ -x "$RUNTIME" ] || die "runtime $RUNTIME not built"
	[ -x "$CRI_CLIENT" ] || die "cri client $CRI_CLIENT not built (cargo build --release -p integration --bin cri-client)"
	[ -e "/run/netns/$world" ] || die "world netns $world is not up"
	[ -f "$images/busybox.tar" ] && [ -f "$images/pause.tar" ] || die "images missing in $images"
	mkdir -p "$DIR"/{root,state,opt,cni/bin,cni/conf,cni/state,runc-root,cgfw-root,cgfw-logs,certs.d,pods}
	install -m 0755 "$HERE/cni/cgfw-test-world" "$HERE/cni/loopback" "$DIR/cni/bin/"
	jq -n --arg world "$world" --arg state "$DIR/cni/state" '{
		cniVersion: "1.0.0", name: "cgfw-test-world",
		plugins: [{type: "cgfw-test-world", world: $world, state_dir: $state}]
	}' >"$DIR/cni/conf/10-cgfw-test-world.conflist"
	config "$DIR" >"$DIR/config.toml"
	# setsid: containerd and its shims are not in the test's process group or session.
	CGFW_LOG_DIR=$DIR/cgfw-logs setsid containerd --config "$DIR/config.toml" \
		</dev/null >"$DIR/containerd.log" 2>&1 &
	echo $! >"$DIR/containerd.pid"
	local i
	for i in $(seq 1 100); do
		[ -S "$DIR/containerd.sock" ] && cri version >/dev/null 2>&1 && break
		kill -0 "$(cat "$DIR/containerd.pid")" 2>/dev/null || { tail -20 "$DIR/containerd.log" >&2; die "containerd exited"; }
		sleep 0.1
	done
	cri version >/dev/null || { tail -20 "$DIR/containerd.log" >&2; die "CRI not answering"; }
	local name
	for name in busybox pause; do
		timeout 60 ctr --address "$DIR/containerd.sock" -n k8s.io images import \
			--base-name "cgfw.test/$name" "$images/$name.tar" >/dev/null
	done
	# Ready: runtime and network conditions true (CNI config loaded), images visible to CRI.
	for i in $(seq 1 50); do
		if cri status | jq -e '[.status.conditions[] | .status] | all' >/dev/null 2>&1 &&
			cri images | jq -e '[.images[].repo_tags[]] | (index("cgfw.test/busybox:1") != null) and (index("cgfw.test/pause:1") != null)' >/dev/null 2>&1; then
			echo "containerd.sh: up at $DIR/containerd.sock"
			return 0
		fi
		sleep 0.2
	done
	cri status >&2 || true
	cri images >&2 || true
	die "CRI not ready"
}

pids_of_ours() {
	# Processes whose command line names our DIR: containerd, its shims (-address DIR/...).
	local p
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" != "$$" ] || continue
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$DIR/" && echo "${p#/proc/}"
	done
	return 0
}

down() {
	[ -d "$DIR" ] || return 0
	local pid p i ids
	# 1. Through CRI, as the kubelet would: stop and remove every pod (this runs CNI DEL).
	if [ -S "$DIR/containerd.sock" ] && cri version >/dev/null 2>&1; then
		for p in $(cri pods 2>/dev/null | jq -r '.items[].id' 2>/dev/null); do
			cri stopp "$p" || true
			cri rmp "$p" || true
		done
	fi
	# 2. containerd, then any shim left.
	pid=$(cat "$DIR/containerd.pid" 2>/dev/null || true)
	if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	for i in 1 2 3; do
		for pid in $(pids_of_ours); do kill -9 "$pid" 2>/dev/null || true; done
		sleep 0.2
	done
	# 3. Containers the shims left behind, in both runtimes' roots.
	for ids in "$RUNC:$DIR/runc-root/k8s.io" "$RUNTIME:$DIR/cgfw-root/k8s.io"; do
		local bin=${ids%%:*} root=${ids#*:} c
		[ -d "$root" ] || continue
		for c in $(ls "$root" 2>/dev/null); do
			timeout 20 "$bin" --root "$root" delete --force "$c" >/dev/null 2>&1 || true
		done
	done
	# 4. Mounts under DIR (rootfs overlays, shm, sandbox files), deepest first.
	local m
	for i in 1 2 3; do
		m=$(awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)
		[ -n "$m" ] || break
		for p in $m; do umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null || true; done
	done
	rm -rf "$DIR"
}

cmd=${1:-}
DIR=${2:-}
[ -n "$DIR" ] || die "usage: containerd.sh up DIR WORLD IMAGES | down DIR"
case "$DIR" in /*) ;; *) DIR=$PWD/$DIR ;; esac
case "$cmd" in
up) [ $# -eq 4 ] || die "usage: containerd.sh up DIR WORLD IMAGES"; up "$3" "$4" ;;
down) down ;;
*) die "unknown command '$cmd'" ;;
esac
