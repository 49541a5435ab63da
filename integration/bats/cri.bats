#!/usr/bin/env bats
# The Kubernetes path (issue 8): containerd's real CRI plugin, driven like the kubelet drives it,
# with RuntimeClass handler "cgfw" -> cgfw-runc and pod annotations as the policy.
#
# Per file: a test world netns (hack/world-netns.sh), offline images (integration/cri/mkimages.sh),
# a private containerd with CRI (integration/cri/containerd.sh: temp root/state/socket, handlers
# "cgfw" = our binary with pod_annotations ["cgfw.io/*"], and "runc" = plain runc, the default),
# pods wired to the world by our CNI plugin (integration/cri/cni/). The CRI client is
# integration/src/bin/cri-client.rs. Everything is torn down in teardown_file, also on failure.
#
#   bats integration/bats/cri.bats        (root; ~40 s once cgfw-runc and cri-client are built)

bats_require_minimum_version 1.5.0

REPO_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

setup_file() {
	[ "$(id -u)" = 0 ] || skip "needs root"
	local t
	for t in containerd ctr containerd-shim-runc-v2 runc umoci gcc jq nsenter; do
		command -v "$t" >/dev/null || skip "$t not installed (hack/install-deps.sh)"
	done
	export RUNTIME=${RUNTIME:-$REPO_ROOT/target/release/cgfw-runc}
	case "$RUNTIME" in /*) ;; *) RUNTIME=$REPO_ROOT/$RUNTIME ;; esac
	[ -x "$RUNTIME" ] || { echo "cgfw-runc not built: $RUNTIME" >&2; return 1; }
	local target=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
	export CRI_CLIENT=$target/release/cri-client
	(cd "$REPO_ROOT" && timeout 600 cargo build --release --locked -q -p integration --bin cri-client) >&2
	[ -x "$CRI_CLIENT" ] || { echo "cri-client not built: $CRI_CLIENT" >&2; return 1; }

	export CRI_TMP
	CRI_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cgfw-cri.XXXXXX")
	export CRI_DIR=$CRI_TMP/containerd
	export CRI_TAG=cri$(printf '%x' "$$")
	export CRI_WORLD=$CRI_TAG
	# Parent cgroup of every pod (as the kubelet's /kubepods/...): removed in teardown_file.
	export CRI_CGROUP_PARENT=/cgfw-$CRI_TAG
	export CGFW_WORLD_DIR=$CRI_TMP/world
	"$REPO_ROOT/hack/world-netns.sh" up "$CRI_WORLD" >&2
	"$REPO_ROOT/integration/cri/mkimages.sh" "$CRI_TMP/images" >&2
	"$REPO_ROOT/integration/cri/containerd.sh" up "$CRI_DIR" "$CRI_WORLD" "$CRI_TMP/images" >&2
	export CRI_LOGS=$CRI_DIR/cgfw-logs
}

teardown_file() {
	[ -n "${CRI_TMP:-}" ] || return 0
	# CRI_KEEP_LOG=FILE keeps containerd's debug log (shim and runtime errors) for a post-mortem.
	[ -z "${CRI_KEEP_LOG:-}" ] || cp "$CRI_DIR/containerd.log" "$CRI_KEEP_LOG" 2>/dev/null || true
	"$REPO_ROOT/integration/cri/containerd.sh" down "$CRI_DIR" >&2 || true
	"$REPO_ROOT/hack/world-netns.sh" down "$CRI_WORLD" >&2 || true
	local d
	for d in /sys/fs/cgroup/*/"${CRI_CGROUP_PARENT#/}" /sys/fs/cgroup/"${CRI_CGROUP_PARENT#/}"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	rm -rf "$CRI_TMP"
}

setup() {
	PODS=()
}

teardown() {
	local p
	for p in "${PODS[@]}"; do
		cri stopp "$p" >/dev/null 2>&1 || true
		cri rmp "$p" >/dev/null 2>&1 || true
	done
}

cri() { timeout 70 "$CRI_CLIENT" --endpoint "$CRI_DIR/containerd.sock" "$@"; }

# NamespaceMode: 0 POD, 1 CONTAINER. The kubelet's default for a v1 pod: network and IPC per pod,
# PID per container; `shareProcessNamespace: true` makes PID per pod. PID_MODE overrides.
PID_MODE=1

# pod_json NAME [ANNOTATIONS_JSON]: a PodSandboxConfig as the kubelet makes it for a pod whose
# resolv.conf names the world's DNS server (DnsConfig), written to $BATS_TEST_TMPDIR/NAME.pod.json.
pod_json() {
	local name=$1 ann=${2:-'{}'} f=$BATS_TEST_TMPDIR/$1.pod.json
	mkdir -p "$CRI_DIR/pods/$name"
	jq -n --arg name "$name" --arg uid "uid-$name-$BATS_TEST_NUMBER" --arg logdir "$CRI_DIR/pods/$name" \
		--arg cg "$CRI_CGROUP_PARENT/pod-$name" --argjson ann "$ann" --argjson pid "$PID_MODE" '{
		metadata: {name: $name, namespace: "default", uid: $uid, attempt: 0},
		hostname: $name, log_directory: $logdir,
		dns_config: {servers: ["198.18.0.2"]},
		labels: {app: $name}, annotations: $ann,
		linux: {cgroup_parent: $cg,
			security_context: {namespace_options: {network: 0, pid: $pid, ipc: 0}}}
	}' >"$f"
	echo "$f"
}

# ctr_json POD NAME SCRIPT [ANNOTATIONS_JSON]: a ContainerConfig running sh -c SCRIPT.
ctr_json() {
	local f=$BATS_TEST_TMPDIR/$1-$2.ctr.json ann=${4:-}
	[ -n "$ann" ] || ann='{}'
	jq -n --arg name "$2" --arg script "$3" --argjson ann "$ann" --argjson pid "$PID_MODE" '{
		metadata: {name: $name}, image: {image: "cgfw.test/busybox:1"},
		command: ["sh", "-c", $script], log_path: ($name + ".log"), annotations: $ann,
		linux: {security_context: {namespace_options: {network: 0, pid: $pid, ipc: 0}}}
	}' >"$f"
	echo "$f"
}

# The probe every app container runs: one line per name, then a marker.
PROBE='for n in allowed.test github.com; do
	if out=$(timeout 5 wget -q -O - http://$n/ 2>&1); then echo "reach $n: $out"; else echo "fail $n: $out"; fi
done; echo probe-done'

# run_pod NAME HANDLER ANNOTATIONS_JSON: RunPodSandbox; sets POD (also recorded for teardown).
run_pod() {
	local cfg
	cfg=$(pod_json "$1" "$3")
	if [ -n "$2" ]; then
		POD=$(cri runp --runtime "$2" "$cfg")
	else
		POD=$(cri runp "$cfg")
	fi
	[ -n "$POD" ]
	PODS+=("$POD")
}

# start_ctr POD_NAME NAME SCRIPT [ANNOTATIONS_JSON]: CreateContainer + StartContainer in $POD; sets CID.
start_ctr() {
	CID=$(cri create "$POD" "$(ctr_json "$1" "$2" "$3" "${4:-}")" "$BATS_TEST_TMPDIR/$1.pod.json")
	[ -n "$CID" ]
	cri start "$CID"
}

# ctr_log POD_NAME NAME: the container's output (CRI log format "TIME STREAM TAG text" stripped).
ctr_log() { cut -d' ' -f4- "$CRI_DIR/pods/$1/$2.log" 2>/dev/null || true; }

# wait_log POD_NAME NAME TEXT: until the container printed TEXT (<= 20 s).
wait_log() {
	local i
	for i in $(seq 1 100); do
		ctr_log "$1" "$2" | grep -qF -- "$3" && return 0
		sleep 0.2
	done
	echo "container $2 of pod $1 never printed '$3'; log:" >&2
	ctr_log "$1" "$2" >&2
	return 1
}

# sidecar_pid ID: the pid of cgfw-runc's sidecar for container ID, or nothing.
sidecar_pid() {
	local p
	for p in /proc/[0-9]*; do
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qE -- " sidecar $1( |\$)" && echo "${p#/proc/}"
	done
	return 0
}

# assert_firewalled ID: sidecar running, BPF pinned, our cgroup v2 exists.
assert_firewalled() {
	[ -n "$(sidecar_pid "$1")" ] || { echo "no sidecar for $1" >&2; return 1; }
	[ -d "/sys/fs/bpf/cgfw/$1" ] || { echo "no pins for $1" >&2; return 1; }
	local cg=/sys/fs/cgroup/unified/cgfw/$1
	is_pure_v2 && return 0
	[ -d "$cg" ] || { echo "no cgroup $cg" >&2; return 1; }
}

# assert_gone ID: nothing of cgfw-runc is left for ID.
assert_gone() {
	[ -z "$(sidecar_pid "$1")" ] || { echo "sidecar of $1 still running: $(sidecar_pid "$1")" >&2; return 1; }
	[ ! -e "/sys/fs/bpf/cgfw/$1" ] || { echo "pins of $1 left" >&2; return 1; }
	[ ! -e "/sys/fs/cgroup/unified/cgfw/$1" ] || { echo "cgroup of $1 left" >&2; return 1; }
	[ ! -e "$CRI_DIR/cgfw-root/k8s.io/$1" ] || { echo "runtime state of $1 left" >&2; return 1; }
}

is_pure_v2() { [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; }

# pod_netns POD_ID: the pod's network namespace path (from the verbose sandbox status).
pod_netns() {
	cri inspectp "$1" | jq -r '.info.info' | jq -r '.runtimeSpec.linux.namespaces[] | select(.type == "network") | .path'
}

@test "cri: containerd's CRI plugin is up with our images and CNI" {
	run -0 cri status
	[ "$(jq '[.status.conditions[] | select(.status)] | length' <<<"$output")" = 2 ]
	run -0 cri images
	[[ $output == *'cgfw.test/busybox:1'* ]]
	[[ $output == *'cgfw.test/pause:1'* ]]
}

@test "cri: pod with handler cgfw and cgfw.io/block: github.com is firewalled, then fully cleaned up" {
	run_pod fw cgfw '{"cgfw.io/block": "github.com"}'
	local netns
	netns=$(pod_netns "$POD")
	[ -e "$netns" ]
	run -0 cri inspectp "$POD"
	[ "$(jq -r .status.runtime_handler <<<"$output")" = cgfw ]
	[ "$(jq -r .status.network.ip <<<"$output")" != "" ]
	# The sandbox (pause) container carries the pod annotations too: it is firewalled itself.
	assert_firewalled "$POD"

	start_ctr fw app "$PROBE; sleep 60"
	wait_log fw app probe-done
	run ctr_log fw app
	echo "$output"
	[[ $output == *"reach allowed.test: allowed.test"* ]]
	[[ $output == *"fail github.com: wget: bad address 'github.com'"* ]]
	[[ $output != *"reach github.com"* ]]
	assert_firewalled "$CID"
	[ "$(sidecar_pid "$CID")" != "$(sidecar_pid "$POD")" ]

	# Event log: the blocked query, attributed to wget, under the app container's id.
	run -0 jq -c 'select(.domain == "github.com")' "$CRI_LOGS/$CID.jsonl"
	[[ $output == *'"verdict":"blocked"'* ]]
	[[ $output == *'"kind":"dns"'* ]]
	[[ $output == *'"comm":"wget"'* ]]
	[[ $output == *'"rule":"block github.com"'* ]]
	# ... naming the pod and container the CRI gave (issue 14).
	jq -se 'length >= 1 and all(.[]; .workload == {namespace: "default", pod: "fw", container: "app"})' <<<"$output" >/dev/null
	# Live report through the runtime, as an admin would read it on the node.
	run -0 timeout 20 "$RUNTIME" --root "$CRI_DIR/cgfw-root/k8s.io" --cgfw-log-dir "$CRI_LOGS" report "$CID"
	jq -e --arg pod "$POD" '.workload == {namespace: "default", pod: "fw", container: "app", sandbox_id: $pod}' <<<"$output" >/dev/null
	[ "$(jq -r '.domains[] | select(.domain == "github.com") | .verdict' <<<"$output")" = blocked ]
	[ "$(jq -r '.domains[] | select(.domain == "allowed.test") | .verdict' <<<"$output")" = allowed ]

	# Stop and remove the pod as the kubelet does; nothing may be left.
	cri stopp "$POD"
	cri rmp "$POD"
	PODS=()
	run -0 cri pods
	[ "$(jq '.items | length' <<<"$output")" = 0 ]
	assert_gone "$CID"
	assert_gone "$POD"
	# The final report was flushed at delete.
	[ "$(jq -r '.domains[] | select(.domain == "github.com") | .verdict' "$CRI_LOGS/$CID.report.json")" = blocked ]
	[ "$(jq -r '.totals.dns_blocked' "$CRI_LOGS/$CID.report.json")" -ge 1 ]
	# Network: netns gone, world end of the veth gone, address released.
	[ ! -e "$netns" ]
	run -0 ip -n "$CRI_WORLD" -o link show
	! grep -qE '^[0-9]+: c[0-9a-f]{12}@' <<<"$output"
	run ls "$CRI_DIR/cni/state"
	[[ $output != *198.18.1.* ]]
	# No pod cgroup left in any hierarchy.
	run find /sys/fs/cgroup -maxdepth 3 -path "*${CRI_CGROUP_PARENT}/pod-fw/*" -type d
	[ -z "$output" ]
}

@test "cri: every container of a pod gets its own sidecar and proxy port in the shared netns" {
	run_pod multi cgfw '{"cgfw.io/block": "github.com"}'
	local a b
	start_ctr multi one "$PROBE; sleep 60"
	a=$CID
	start_ctr multi two "$PROBE; sleep 60"
	b=$CID
	wait_log multi one probe-done
	wait_log multi two probe-done
	local n
	for n in one two; do
		run ctr_log multi "$n"
		[[ $output == *"reach allowed.test: allowed.test"* ]]
		[[ $output == *"fail github.com"* ]]
	done
	assert_firewalled "$POD"
	assert_firewalled "$a"
	assert_firewalled "$b"
	# Three sidecars (sandbox + 2 apps), each with its own log, each serving DNS on its own
	# loopback port inside the one pod netns.
	local pids
	pids=$(printf '%s\n' "$(sidecar_pid "$POD")" "$(sidecar_pid "$a")" "$(sidecar_pid "$b")" | sort -u | wc -l)
	[ "$pids" = 3 ]
	[ -s "$CRI_LOGS/$a.jsonl" ]
	[ -s "$CRI_LOGS/$b.jsonl" ]
	run -0 nsenter --net="$(pod_netns "$POD")" ss -Hlnu
	echo "$output"
	[ "$(grep -c '127\.0\.0\.1:' <<<"$output")" -ge 3 ]
	[ "$(awk '{print $4}' <<<"$output" | grep '^127\.0\.0\.1:' | sort -u | wc -l)" -ge 3 ]
	cri stopp "$POD"
	cri rmp "$POD"
	PODS=()
	assert_gone "$a"
	assert_gone "$b"
	assert_gone "$POD"
}

@test "cri: containers sharing the pod's PID namespace (shareProcessNamespace) are firewalled" {
	# BUG (runtime, libcontainer 0.7.0 src/rootfs/mount.rs mount_cgroup_v1): a container that joins
	# an existing PID namespace gets getppid() == 0 and falls back to its namespace-local pid N,
	# then reads the HOST's /proc/N/cgroup: "failed to mount cgroup v1: procfs failed",
	# err=Mount(Procfs(NotFound(Some("/proc/9")))) when no host pid N exists (and the wrong
	# process's cgroups when one does). Only cgroup v1/hybrid hosts (spec mounts /sys/fs/cgroup
	# type cgroup); runc 1.1.5 runs the same pod. CGFW_CRI_BUGS=1 runs this test anyway.
	if [ "${CGFW_CRI_BUGS:-0}" != 1 ] && ! is_pure_v2; then
		skip "BUG: cgfw-runc cannot join a pod PID namespace on cgroup v1 hosts (libcontainer mount_cgroup_v1 reads host /proc/<ns-local pid>)"
	fi
	PID_MODE=0
	run_pod shared cgfw '{"cgfw.io/block": "github.com"}'
	local n ids=()
	# Several containers: the namespace-local pids grow past the low host pids that happen to exist.
	for n in c1 c2 c3 c4 c5 c6; do
		start_ctr shared "$n" "$PROBE; sleep 60"
		ids+=("$CID")
	done
	for n in c1 c2 c3 c4 c5 c6; do
		wait_log shared "$n" probe-done
		run ctr_log shared "$n"
		[[ $output == *"reach allowed.test: allowed.test"* ]]
		[[ $output == *"fail github.com"* ]]
	done
	for n in "${ids[@]}"; do assert_firewalled "$n"; done
	cri stopp "$POD"
	cri rmp "$POD"
	PODS=()
	for n in "${ids[@]}" "$POD"; do assert_gone "$n"; done
}

@test "cri: container-level annotations do not set a policy (only pod annotations are passed)" {
	run_pod ctrann cgfw '{}'
	start_ctr ctrann app "$PROBE" '{"cgfw.io/block": "github.com"}'
	wait_log ctrann app probe-done
	run ctr_log ctrann app
	[[ $output == *"reach github.com: github.com"* ]]
	[ -z "$(sidecar_pid "$CID")" ]
	[ -z "$(sidecar_pid "$POD")" ]
	[ ! -e "$CRI_LOGS/$CID.jsonl" ]
}

@test "cri: a malformed pod policy fails RunPodSandbox with the annotation named" {
	run cri runp --runtime cgfw "$(pod_json badpol '{"cgfw.io/block": "github.com, bad..example"}')"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"cgfw.io/block"* ]]
	[[ $output == *"bad..example"* ]]
	# containerd keeps the failed sandbox's name reserved until it is removed (kubelet does too).
	local p
	for p in $(cri pods | jq -r '.items[] | select(.metadata.name == "badpol") | .id'); do
		cri stopp "$p" || true
		cri rmp "$p"
	done
}

@test "cri: the same pod without the handler runs under plain runc and is not firewalled" {
	run_pod plain "" '{"cgfw.io/block": "github.com"}'
	run -0 cri inspectp "$POD"
	[ "$(jq -r .status.runtime_handler <<<"$output")" = "" ]
	start_ctr plain app "$PROBE"
	run -0 cri wait "$CID" 40
	[ "$output" = 0 ]
	run ctr_log plain app
	echo "$output"
	[[ $output == *"reach allowed.test: allowed.test"* ]]
	[[ $output == *"reach github.com: github.com"* ]]
	[ -z "$(sidecar_pid "$CID")" ]
	[ ! -e "/sys/fs/bpf/cgfw/$CID" ]
	[ ! -e "$CRI_LOGS/$CID.jsonl" ]
	[ ! -e "$CRI_LOGS/$POD.jsonl" ]
	# It ran under runc's state root, not ours.
	[ -d "$CRI_DIR/runc-root/k8s.io/$POD" ]
	[ ! -e "$CRI_DIR/cgfw-root/k8s.io/$POD" ]
}
