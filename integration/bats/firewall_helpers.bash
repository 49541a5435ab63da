# Helpers for the firewall end-to-end tests (firewall.bats, podman_firewall.bats,
# containerd_firewall.bats). Loaded after helpers.bash.
#
# One test world per file (hack/world-netns.sh, DESIGN.md "Test topology"): containers join
# its client netns /run/netns/$FW_WORLD-c, whose only route leads to the world netns with
# dnsmasq (198.18.0.2 / fd00:cf::2) and HTTP servers. Nothing reaches the host network.
#
#   allowed.test 198.18.0.10 fd00:cf::10    github.com 198.18.0.20 fd00:cf::20
#   evil.test    198.18.0.30 fd00:cf::30    far.test   198.19.0.40 fd00:cf:1::40
#
# Test programs (integration/tools, compiled once per file into $FW_TOOLS and copied into
# every firewall bundle's /usr/local/bin): dnsq (raw DNS over udp / unconnected sendto / tcp),
# getconn-musl and getconn-glibc (getaddrinfo + connect + HTTP GET with each C library).

FW_DNS4=198.18.0.2
FW_DNS6=fd00:cf::2
FW_ALLOWED4=198.18.0.10
FW_ALLOWED6=fd00:cf::10
FW_GITHUB4=198.18.0.20
FW_EVIL4=198.18.0.30
FW_EVIL6=fd00:cf::30
FW_FAR4=198.19.0.40
FW_PIN_ROOT=/sys/fs/bpf/cgfw

# fw_setup_file [TAG]: call from setup_file(). Builds the tools and brings the world up
# (named TAG<pid>; default TAG fw; one world per file, so files may run in parallel).
fw_setup_file() {
	require_runtime
	export FW_TOOLS=$BATS_FILE_TMPDIR/tools
	"$REPO_ROOT/integration/tools/build.sh" "$FW_TOOLS"
	# <= 31 chars, unique per run; interfaces live inside the world's own namespaces.
	export FW_WORLD=${1:-fw}$(printf '%x' "$$")
	"$WORLD" up "$FW_WORLD" >/dev/null
	export FW_NETNS=/run/netns/$FW_WORLD-c
}

# fw_teardown_file: call from teardown_file(). Idempotent, also after a failed set-up.
fw_teardown_file() {
	[ -n "${FW_WORLD:-}" ] && "$WORLD" down "$FW_WORLD" >/dev/null 2>&1 || true
}

# fw_setup: call from setup(). Per-test state dir, ids and event-log dir ($LOGS).
fw_setup() {
	setup_common
	LOGS=$TEST_DIR/logs
	mkdir -p "$LOGS"
}

# frt ARGS...: the runtime (rt) with this test's event-log dir.
frt() { rt --cgfw-log-dir "$LOGS" "$@"; }

# fwbundle DIR [mkbundle.sh options]: a bundle in the world's client netns with the test
# programs in /usr/local/bin. Without --nameserver the rootfs resolv.conf names 198.18.0.2;
# with --no-net a new empty netns is used instead of the world (and no nameserver is set).
fwbundle() {
	local dir=$1 opts=() net=world ns=""
	shift
	while [ $# -gt 0 ]; do
		case "$1" in
		--no-net) net=none; shift ;;
		--nameserver) ns=1; opts+=("$1" "$2"); shift 2 ;;
		--no-nameserver) ns=0; shift ;;
		*) opts+=("$1"); shift ;;
		esac
	done
	if [ "$net" = world ]; then
		opts+=(--net-ns "$FW_NETNS")
		[ -n "$ns" ] || opts+=(--nameserver "$FW_DNS4")
	fi
	mkbundle "$dir" "${opts[@]}"
	mkdir -p "$dir/rootfs/usr/local/bin"
	cp "$FW_TOOLS"/* "$dir/rootfs/usr/local/bin/"
}

# put_script BUNDLE PATH: write stdin to PATH inside the bundle's rootfs, executable.
put_script() {
	mkdir -p "$(dirname "$1/rootfs$2")"
	cat >"$1/rootfs$2"
	chmod 755 "$1/rootfs$2"
}

# spec_edit BUNDLE JQ-FILTER: edit config.json in place.
spec_edit() {
	local f=$1/config.json
	jq "$2" "$f" >"$f.new" && mv "$f.new" "$f"
}

# evlog ID: the event log path.
evlog() { echo "$LOGS/$1.jsonl"; }

# events ID JQ-SELECT: print the event log lines matching `select(JQ-SELECT)`, compact.
events() {
	local f
	f=$(evlog "$1")
	[ -f "$f" ] || return 0
	jq -c "select($2)" "$f"
}

# wait_event ID JQ-SELECT [SECONDS]: poll the event log until a line matches (kernel events
# reach the log asynchronously). Prints the first match; on timeout prints the whole log.
wait_event() {
	local id=$1 sel=$2 secs=${3:-5} i got
	for ((i = 0; i < secs * 10; i++)); do
		got=$(events "$id" "$sel" | head -n1)
		if [ -n "$got" ]; then
			echo "$got"
			return 0
		fi
		sleep 0.1
	done
	echo "no event matching ($sel) in $(evlog "$id") after ${secs}s; log:" >&2
	cat "$(evlog "$id")" >&2 2>/dev/null || echo "(no log file)" >&2
	return 1
}

# sidecar_pids ID: pids of the container's firewall sidecar (`cgfw-runc ... sidecar ID`).
sidecar_pids() { pgrep -f -- "sidecar $1\$" || true; }

# own_cgroup_dir ID: where the runtime's own cgroup v2 for ID is on a hybrid host
# (<unified>/cgfw/ID). Empty on pure v2 (the container's own cgroup is used there).
own_cgroup_dir() {
	if [ -d /sys/fs/cgroup/unified ] && ! is_cgroup2_only; then
		echo "/sys/fs/cgroup/unified/cgfw/$1"
	elif [ -d /sys/fs/cgroup/cgfw ]; then
		echo "/sys/fs/cgroup/cgfw/$1"
	fi
}

# cgroup_dirs_of_pid PID: every cgroup directory (v1 and v2) the process is in, one a line.
cgroup_dirs_of_pid() {
	local pid=$1 line hier ctrl path
	while IFS= read -r line; do
		hier=${line%%:*}
		line=${line#*:}
		ctrl=${line%%:*}
		path=${line#*:}
		if [ -z "$ctrl" ]; then
			if is_cgroup2_only; then echo "/sys/fs/cgroup$path"; else echo "/sys/fs/cgroup/unified$path"; fi
		else
			ctrl=${ctrl#name=}
			[ -d "/sys/fs/cgroup/$ctrl" ] && echo "/sys/fs/cgroup/$ctrl$path"
		fi
		: "$hier"
	done <"/proc/$pid/cgroup"
}

# v1_cgroup_file PID CONTROLLER FILE: path of FILE in the v1 CONTROLLER cgroup of PID.
v1_cgroup_file() {
	local path
	# Lines are ID:CONTROLLERS:PATH, and PATH may itself contain ':' (":youki:ID").
	path=$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) { sub(/^[^:]*:[^:]*:/, ""); print } }' "/proc/$1/cgroup" | head -n1)
	[ -n "$path" ] || return 1
	# The hierarchy may be mounted as cpu,cpuacct or separately.
	local m
	for m in /sys/fs/cgroup/$2 /sys/fs/cgroup/*"$2"*; do
		if [ -e "$m$path/$3" ]; then
			echo "$m$path/$3"
			return 0
		fi
	done
	return 1
}

# fw_leftovers ID: print everything of container ID still on the machine (empty = clean):
# sidecar processes, pins, our cgroup v2, v1 cgroups named after it, the state dir.
fw_leftovers() {
	local id=$1 p d
	for p in $(sidecar_pids "$id"); do echo "sidecar process $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"; done
	[ -e "$FW_PIN_ROOT/$id" ] && echo "pins: $FW_PIN_ROOT/$id: $(ls "$FW_PIN_ROOT/$id" 2>/dev/null | tr '\n' ' ')"
	d=$(own_cgroup_dir "$id")
	[ -n "$d" ] && [ -e "$d" ] && echo "cgroup: $d"
	for d in /sys/fs/cgroup/*/:*:"$id" /sys/fs/cgroup/*/*/"$id" /sys/fs/cgroup/:*:"$id" /sys/fs/cgroup/*/"$id"; do
		[ -e "$d" ] && echo "cgroup: $d"
	done
	[ -e "$ROOT/$id" ] && echo "state dir: $ROOT/$id"
	return 0
}

# assert_clean ID: nothing of ID is left (see fw_leftovers), and `list` does not show it.
assert_clean() {
	local left
	left=$(fw_leftovers "$1")
	[ -z "$left" ] || fail "container $1 left behind:"$'\n'"$left"
	run -0 rt list -q
	[[ $output != *"$1"* ]] || fail "container $1 still listed: $output"
}

# elapsed_lt T0 T1 MAX: T1-T0 < MAX (seconds, decimals allowed; /proc/uptime values).
elapsed_lt() {
	awk -v a="$1" -v b="$2" -v m="$3" 'BEGIN { exit !((b - a) < m) }'
}
