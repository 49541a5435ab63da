#!/usr/bin/env bats
# clients_failover: real clients (glibc's getent, python3, curl, Go's own resolver, dig) in a
# Debian rootfs, with a dead first nameserver and the test world's dnsmasq second (issue 14,
# point 2). The proxy must fail over at least as well as the resolver it replaces.
#
#   bats integration/bats/clients_failover.bats
#   RUNTIME=/usr/sbin/runc bats integration/bats/clients_failover.bats   # the reference
#
# Two dead nameservers, made inside the test world's own netns (never the host's):
#   198.19.0.53  an address on the world's lo where nothing listens on port 53: every query
#                gets ICMP port unreachable (the world's ICMP rate limit is turned off, so
#                every one does)
#   198.19.0.54  a blackhole route in the world: queries vanish, nothing comes back
# Each case runs every client once, in that order, in one container (cgfw.io/allow=allowed.test;
# plain runc ignores it), and prints each client's resolution time (resolution + HTTP for
# curl); `bats --show-output-of-passing-tests` or the .out files in $FAILOVER_TIMES show them.
# Assertions: each client resolves allowed.test (and curl fetches it) within its own timeout;
# never timings.
#
# Needs root, jq, dnsmasq, busybox-static, iproute2, and the Debian rootfs
# (hack/mkrootfs-debian.sh: mmdebstrap and go, the first time).

load helpers
load firewall_helpers

DEAD_REFUSING=198.19.0.53
DEAD_SILENT=198.19.0.54
GOOD=198.18.0.2

setup_file() {
	local rootfs
	rootfs=$("$REPO_ROOT/hack/mkrootfs-debian.sh") || {
		export FAILOVER_SKIP="no Debian rootfs (hack/mkrootfs-debian.sh failed: mmdebstrap or go missing?)"
		return 0
	}
	export FAILOVER_ROOTFS=$rootfs
	fw_setup_file fo
	"$WORLD" world-exec "$FW_WORLD" ip addr add "$DEAD_REFUSING/32" dev lo
	"$WORLD" world-exec "$FW_WORLD" ip route add blackhole "$DEAD_SILENT/32"
	"$WORLD" world-exec "$FW_WORLD" sysctl -qw net.ipv4.icmp_ratelimit=0
	export FAILOVER_TIMES=${FAILOVER_TIMES:-$BATS_FILE_TMPDIR/times}
	mkdir -p "$FAILOVER_TIMES"
}

teardown_file() { fw_teardown_file; }

setup() {
	[ -z "${FAILOVER_SKIP:-}" ] || skip "$FAILOVER_SKIP"
	fw_setup
	c=$(cid fo)
}

teardown() { teardown_common; }

# The clients, one after the other. Each line: "client=NAME rc=RC ms=MS out=...".
clients_script() {
	cat <<-'EOF'
		#!/bin/sh
		ms() { echo $(( $(date +%s%N) / 1000000 )); }
		one() {
			name=$1; shift
			t0=$(ms)
			out=$(timeout 30 "$@" 2>&1); rc=$?
			t1=$(ms)
			echo "client=$name rc=$rc ms=$((t1 - t0)) out=$(echo "$out" | tr '\n' ' ' | cut -c1-300)"
		}
		one getent getent hosts allowed.test
		one python3 python3 -c 'import socket; print(sorted({a[4][0] for a in socket.getaddrinfo("allowed.test", 80)}))'
		one curl curl -sS http://allowed.test/
		one goclient-purego goclient-purego lookup allowed.test
		one dig dig +short allowed.test A
		one getent-again getent hosts allowed.test
	EOF
}

# run_case NAME DEAD OPTIONS: a container whose resolv.conf names DEAD then the good server
# (with OPTIONS, if any); every client must resolve allowed.test.
run_case() {
	local name=$1 dead=$2 options=$3 b=$TEST_DIR/b
	{
		echo "nameserver $dead"
		echo "nameserver $GOOD"
		[ -z "$options" ] || echo "options $options"
	} >"$TEST_DIR/resolv.conf"
	clients_script >"$TEST_DIR/clients.sh"
	mkbundle "$b" --rootfs-dir "$FAILOVER_ROOTFS" --net-ns "$FW_NETNS" --resolv-conf "$TEST_DIR/resolv.conf" \
		--annotation cgfw.io/allow=allowed.test --args "sh -c 'cat >/tmp/c.sh && sh /tmp/c.sh'"
	# The script goes in on stdin: the rootfs is shared and read-only.
	local rc=0 logs=()
	# Plain runc has no event log option.
	[[ $(basename "$RUNTIME") != cgfw* ]] || logs=(--cgfw-log-dir "$LOGS")
	timeout 310 "$RUNTIME" --root "$ROOT" "${logs[@]}" run --bundle "$b" "$c" \
		<"$TEST_DIR/clients.sh" >"$TEST_DIR/out" 2>"$TEST_DIR/err" || rc=$?
	output=$(cat "$TEST_DIR/out")
	[ "$rc" = 0 ] || fail "container exited $rc: $output $(cat "$TEST_DIR/err")"
	local runtime
	runtime=$(basename "$RUNTIME")
	{
		echo "# $runtime, $name: resolv.conf nameserver $dead, nameserver $GOOD${options:+, options $options}"
		grep '^client=' <<<"$output" | sed 's/ out=.*//'
	} | tee "$FAILOVER_TIMES/$runtime-$name.out" >&3
	local want client line
	for client in getent python3 curl goclient-purego dig getent-again; do
		line=$(grep "^client=$client " <<<"$output") || fail "no line for $client: $output"
		[[ $line == *" rc=0 "* ]] || fail "$client failed: $line"
		case $client in
		curl) want='out=allowed.test' ;;
		*) want='198\.18\.0\.10|fd00:cf::10' ;;
		esac
		grep -Eq "$want" <<<"$line" || fail "$client did not resolve allowed.test: $line"
	done
}

@test "dead (ICMP-refusing) first nameserver, options timeout:1 attempts:1: every client resolves" {
	run_case refusing-t1 "$DEAD_REFUSING" "timeout:1 attempts:1"
}

@test "dead (silent) first nameserver, options timeout:1 attempts:1: every client resolves" {
	run_case silent-t1 "$DEAD_SILENT" "timeout:1 attempts:1"
}

@test "dead (ICMP-refusing) first nameserver, default options: every client resolves" {
	run_case refusing-default "$DEAD_REFUSING" ""
}

@test "dead (silent) first nameserver, default options: every client resolves" {
	run_case silent-default "$DEAD_SILENT" ""
}
