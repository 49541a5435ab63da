# Helpers for the hardening suites (hardening.bats, hardening_long.bats: issue 7). Loaded
# after helpers.bash and firewall_helpers.bash, whose world, bundles and tools they reuse.
#
# Extra tools (integration/tools, compiled here into $FW_TOOLS, so every fwbundle has them):
#   rawsend   packets by every route: UDP sendto/connect, raw IP (IP_HDRINCL), raw ICMP,
#             raw ICMPv6 of any type, AF_PACKET frames
#   dnsx      DNS queries with hand-made names (case, escaped dots, over-long labels) and types
#   bpfpoke   bpf() from inside a container: detach links/programs, write the allow map
# World-side helpers (run in the world netns only, python3 stdlib):
#   evildns.py  a malicious DNS server on $HD_EVIL_DNS:53 (UDP+TCP), tricks chosen by the
#               first label of the query name; logs every query to $HD_EVIL_LOG
#   catch.py    records every UDP datagram / TCP connection / ICMP(v6) message that arrives

HD_EVIL_DNS=198.18.0.1 # the world's gateway address: dnsmasq is bound to .2 only
HD_PY=${HD_PY:-$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3)}
HD_TOOLS_SRC=$REPO_ROOT/integration/tools

# hd_setup_file [TAG]: world + tools (firewall_helpers' fw_setup_file), the extra tools, and
# the malicious DNS server.
hd_setup_file() {
	fw_setup_file "${1:-hd}"
	local t
	for t in rawsend dnsx bpfpoke; do
		gcc -O2 -Wall -static -o "$FW_TOOLS/$t" "$HD_TOOLS_SRC/$t.c"
	done
	export HD_DIR=$BATS_FILE_TMPDIR/hd
	mkdir -p "$HD_DIR"
	export HD_EVIL_LOG=$HD_DIR/evildns.log
	: >"$HD_EVIL_LOG"
	"$WORLD" world-exec "$FW_WORLD" "$HD_PY" "$HD_TOOLS_SRC/evildns.py" "$HD_EVIL_DNS" 53 "$HD_EVIL_LOG" \
		</dev/null >"$HD_DIR/evildns.out" 2>&1 3>&- &
	echo $! >"$HD_DIR/evildns.pid"
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q '^ready' "$HD_EVIL_LOG" && break
		sleep 0.1
	done
	grep -q '^ready' "$HD_EVIL_LOG" || { cat "$HD_DIR/evildns.out" >&2; return 1; }
	export HD_GWMAC
	HD_GWMAC=$(ip -n "$FW_WORLD" -j link show w0 | jq -r '.[0].address')
	export HD_DNSMASQ_LOG=${CGFW_WORLD_DIR:-${TMPDIR:-/tmp}/cgfw-world}/$FW_WORLD/dnsmasq.log
}

hd_teardown_file() {
	[ -f "${HD_DIR:-/nonexistent}/evildns.pid" ] && kill "$(cat "$HD_DIR/evildns.pid")" 2>/dev/null
	fw_teardown_file
}

# catch MODE ARGS...: start catch.py in the world netns (bounded by the test's teardown);
# sets CATCH_LOG. Waits until it listens.
CATCH_N=0
catch() {
	CATCH_N=$((CATCH_N + 1))
	CATCH_LOG=$TEST_DIR/catch.$CATCH_N.log
	: >"$CATCH_LOG"
	spawn "$WORLD" world-exec "$FW_WORLD" timeout 300 "$HD_PY" "$HD_TOOLS_SRC/catch.py" "$@" "$CATCH_LOG"
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q '^ready' "$CATCH_LOG" && return 0
		sleep 0.1
	done
	fail "catch.py $* did not start: $(cat "$SPAWN_OUT" "${SPAWN_OUT%.out}.err")"
}

# caught LOG: what arrived (the log without its "ready" line).
caught() { grep -v '^ready$' "$1" || true; }

# add_caps BUNDLE CAP...: add capabilities to every set of the bundle's process.
add_caps() {
	local b=$1 caps
	shift
	caps=$(printf '%s\n' "$@" | jq -R . | jq -sc .)
	spec_edit "$b" ".process.capabilities |= with_entries(.value = ((.value + $caps) | unique))"
}

# hd_sleeper BUNDLE-OPTIONS... -- : create + start $c from a fwbundle at $TEST_DIR/b whose
# init sleeps; extra fwbundle options (annotations) as arguments. HD_EDIT, if set, is a jq
# filter applied to config.json before create.
hd_sleeper() {
	fwbundle "$TEST_DIR/b" "$@" --args "sleep 600"
	[ -z "${HD_EDIT:-}" ] || spec_edit "$TEST_DIR/b" "$HD_EDIT"
	# shellcheck disable=SC2086
	[ -z "${HD_CAPS:-}" ] || add_caps "$TEST_DIR/b" $HD_CAPS
	frt create --bundle "$TEST_DIR/b" "$c" || fail "create failed"
	frt start "$c" || fail "start failed"
	wait_status "$c" running 10
}

# cx CMD...: run CMD in $c (exec, bounded).
cx() { frt exec "$c" timeout 8 "$@"; }

# container_cgroup_id ID: the inode (= cgroup id) of the cgroup v2 the firewall is attached to.
container_cgroup_id() {
	local d pid
	d=$(own_cgroup_dir "$1")
	if [ -z "$d" ]; then
		pid=$(rt state "$1" | jq .pid)
		d=$(cgroup_dirs_of_pid "$pid" | head -n1)
	fi
	stat -c %i "$d"
}

# attached_progs ID: number of BPF programs attached to the container's cgroup v2 (bpftool).
attached_progs() {
	local d pid
	d=$(own_cgroup_dir "$1")
	if [ -z "$d" ]; then
		pid=$(rt state "$1" | jq .pid)
		d=$(cgroup_dirs_of_pid "$pid" | head -n1)
	fi
	bpftool -j cgroup show "$d" 2>/dev/null | jq length
}

# dnsmasq_saw NAME: the world's dnsmasq was asked for NAME (its query log).
dnsmasq_saw() { grep -qiF "] $1 from" "$HD_DNSMASQ_LOG" 2>/dev/null; }

# evil_saw NAME: the malicious server was asked for NAME.
evil_saw() { grep -qiF " $1 " "$HD_EVIL_LOG"; }
