#!/usr/bin/env bats
# containerd (private instance, runc v2 shim) + cgfw-runc with cgfw.io/* OCI annotations
# (ctr run --annotation): right verdicts, events logged, nothing left. The task joins the test
# world's client netns only. The shim runs the runtime with its own --root; the log dir is set
# by a wrapper given as --runc-binary (the shim does not pass our environment through).
#
#   bats integration/bats/containerd_firewall.bats

load helpers
load firewall_helpers

setup_file() {
	command -v containerd >/dev/null && command -v ctr >/dev/null || {
		echo "containerd/ctr not installed" >&2
		return 1
	}
	fw_setup_file fc
	CTD_DIR=$(mktemp -d /tmp/cgfw-ctdfw.XXXXXX)
	export CTD_DIR
	"$REPO_ROOT/integration/containerd/containerd.sh" start "$CTD_DIR" >/dev/null
}

teardown_file() {
	if [ -n "${CTD_DIR:-}" ]; then
		"$REPO_ROOT/integration/containerd/containerd.sh" stop "$CTD_DIR" || true
		rm -rf "$CTD_DIR"
	fi
	fw_teardown_file
}

setup() {
	fw_setup
	fwbundle "$TEST_DIR/b" --args "sh"
	ROOTFS=$TEST_DIR/b/rootfs
	RT_ROOT=$TEST_DIR/rtroot
	cat >"$TEST_DIR/runtime" <<-EOF2
		#!/bin/sh
		exec "$RUNTIME" --cgfw-log-dir "$LOGS" "\$@"
	EOF2
	chmod +x "$TEST_DIR/runtime"
	NAME=$(cid cf)
	# flags before --rootfs
	CTR_RUN=(run --runtime io.containerd.runc.v2 --runc-binary "$TEST_DIR/runtime" --runc-root "$RT_ROOT"
		--env PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --with-ns "network:$FW_NETNS")
}

teardown() {
	local t
	for t in $(c tasks ls -q 2>/dev/null); do c tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
	sleep 0.2
	for t in $(c tasks ls -q 2>/dev/null); do c tasks delete -f "$t" >/dev/null 2>&1 || true; done
	for t in $(c containers ls -q 2>/dev/null); do c containers delete "$t" >/dev/null 2>&1 || true; done
	ROOT=$RT_ROOT/cgfw-test teardown_common
}

c() { timeout --kill-after=5 60 ctr --address "$CTD_DIR/containerd.sock" --namespace cgfw-test "$@" </dev/null; }

nothing_left() {
	run -0 c tasks ls -q
	[ -z "$output" ] || fail "tasks left: $output"
	run -0 c containers ls -q
	[ -z "$output" ] || fail "containers left: $output"
	local k left
	for k in $(seq 1 50); do
		left="$(ls -A "$RT_ROOT"/cgfw-test 2>/dev/null || true)$(ROOT=$RT_ROOT/cgfw-test fw_leftovers "$1")"
		[ -z "$left" ] && return 0
		sleep 0.2
	done
	fail "left behind: $left"
}

@test "containerd: ctr run --rm, block github.com: allowed.test fetched, github.com NXDOMAIN, event + report" {
	run -0 c "${CTR_RUN[@]}" --rm --annotation cgfw.io/block=github.com --rootfs "$ROOTFS" "$NAME" \
		sh -c 'wget -q -O- http://allowed.test/; echo rc1=$?; timeout 5 wget -q -O- http://github.com/; echo rc2=$?'
	[[ $output == *allowed.test*rc1=0* ]] || fail "allowed.test: $output"
	[[ $output =~ rc2=[1-9] && $output == *"bad address 'github.com'"* ]] || fail "github.com: $output"
	run -0 events "$NAME" '.kind == "dns" and .domain == "github.com"'
	jq -se --arg id "$NAME" 'length >= 1 and all(.[]; .verdict == "blocked" and .cmdline == "wget -q -O- http://github.com/"
		and .container == $id)' <<<"$output" >/dev/null || fail "events: $output"
	jq -e '([.domains[] | select(.domain == "allowed.test")][0].verdict == "allowed")
		and ([.domains[] | select(.domain == "github.com")][0].verdict == "blocked")' "$LOGS/$NAME.report.json" >/dev/null ||
		fail "report: $(cat "$LOGS/$NAME.report.json" 2>&1)"
	nothing_left "$NAME"
}

@test "containerd: ctr run -d, allow list: task exec hardcoded IP EPERM (logged); kill + delete cleans up" {
	run -0 c "${CTR_RUN[@]}" -d --annotation cgfw.io/allow=allowed.test --rootfs "$ROOTFS" "$NAME" sleep 600
	[ -n "$(sidecar_pids "$NAME")" ] || fail "no sidecar"
	run -0 c tasks exec --exec-id e1 "$NAME" getconn-musl allowed.test
	[[ $output == *"body: allowed.test"* ]] || fail "got: $output"
	run -3 c tasks exec --exec-id e2 "$NAME" getconn-musl "$FW_EVIL4"
	[[ $output == *"Operation not permitted"* ]] || fail "got: $output"
	run -2 c tasks exec --exec-id e3 "$NAME" getconn-musl github.com
	run -0 wait_event "$NAME" ".kind == \"connect\" and .ip == \"$FW_EVIL4\" and .verdict == \"blocked\""
	run -0 wait_event "$NAME" '.kind == "dns" and .domain == "github.com" and .verdict == "blocked" and .cmdline == "getconn-musl github.com"'
	run -0 c tasks kill -s SIGKILL "$NAME"
	local k st=""
	for k in $(seq 1 50); do
		st=$(c tasks ls | awk -v n="$NAME" '$1 == n { print $3 }')
		[ "$st" = STOPPED ] && break
		sleep 0.2
	done
	[ "$st" = STOPPED ] || fail "status after KILL: $st"
	run -0 c tasks delete "$NAME"
	run -0 c containers delete "$NAME"
	nothing_left "$NAME"
	[ -f "$LOGS/$NAME.report.json" ] || fail "no report"
}
