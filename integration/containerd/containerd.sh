#!/usr/bin/env bash
# containerd.sh: a private containerd for tests, nothing shared with the host's.
#
#   containerd.sh start DIR   start containerd with root, state, socket, config and log in DIR
#                             (config: integration/containerd/config.toml.in, no CRI plugin);
#                             returns when it answers (bounded), prints the socket address
#   containerd.sh stop DIR    kill every task and container it knows, stop it, stop leftover
#                             shims started for it, unmount what it left under DIR;
#                             idempotent, also after a failed start
#   containerd.sh ctr DIR ARGS...   ctr --address DIR/containerd.sock ARGS...
#
# Tasks run through the runc v2 shim: ctr run --runtime io.containerd.runc.v2 --runc-binary R ...
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CTR_NS=${CTR_NS:-cgfw-test}

die() { echo "containerd.sh: $*" >&2; exit 1; }

ctr_() { timeout --kill-after=5 "${CTR_TIMEOUT:-30}" ctr --address "$DIR/containerd.sock" --namespace "$CTR_NS" "$@"; }

start() {
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	[ ${#DIR} -lt 80 ] || die "DIR path too long for a unix socket: $DIR"
	if [ -f "$DIR/containerd.pid" ] && kill -0 "$(cat "$DIR/containerd.pid")" 2>/dev/null; then
		die "already running (pid $(cat "$DIR/containerd.pid")) in $DIR"
	fi
	sed -e "s|@DIR@|$DIR|g" "$HERE/config.toml.in" >"$DIR/config.toml"
	containerd --config "$DIR/config.toml" </dev/null >"$DIR/containerd.log" 2>&1 &
	echo $! >"$DIR/containerd.pid"
	local i
	for i in $(seq 1 100); do
		if ! kill -0 "$(cat "$DIR/containerd.pid")" 2>/dev/null; then
			tail -20 "$DIR/containerd.log" >&2
			die "containerd exited during start"
		fi
		if timeout 2 ctr --address "$DIR/containerd.sock" version >/dev/null 2>&1; then
			echo "$DIR/containerd.sock"
			return 0
		fi
		sleep 0.1
	done
	tail -20 "$DIR/containerd.log" >&2
	stop
	die "containerd did not answer within 10s"
}

stop() {
	[ -d "$DIR" ] || return 0
	DIR=$(cd "$DIR" && pwd)
	local pid="" t c
	[ -f "$DIR/containerd.pid" ] && pid=$(cat "$DIR/containerd.pid")
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ -S "$DIR/containerd.sock" ]; then
		CTR_TIMEOUT=10
		for t in $(ctr_ tasks ls -q 2>/dev/null || true); do
			ctr_ tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
		done
		for t in $(ctr_ tasks ls -q 2>/dev/null || true); do
			for _ in 1 2 3 4 5 6 7 8 9 10; do
				ctr_ tasks delete -f "$t" >/dev/null 2>&1 && break
				sleep 0.2
			done
		done
		for c in $(ctr_ containers ls -q 2>/dev/null || true); do
			ctr_ containers delete "$c" >/dev/null 2>&1 || true
		done
	fi
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	# Shims outlive containerd by design; ours are the ones given our socket address.
	local p
	for p in /proc/[0-9]*; do
		[ -r "$p/cmdline" ] || continue
		if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "containerd-shim.* -address $DIR/containerd.sock"; then
			kill -9 "${p#/proc/}" 2>/dev/null || true
		fi
	done
	local m
	for m in $(awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -f "$DIR/containerd.pid"
}

[ $# -ge 2 ] || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
cmd=$1 DIR=$2
shift 2
case "$cmd" in
start) start ;;
stop) stop ;;
ctr) exec ctr --address "$(cd "$DIR" && pwd)/containerd.sock" --namespace "$CTR_NS" "$@" ;;
*) die "unknown command $cmd (start|stop|ctr)" ;;
esac
