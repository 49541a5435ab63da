#!/usr/bin/env bash
# lifecycle.sh: container lifecycle benchmark, cgfw-runc vs youki vs runc, side by side.
#
#   hack/bench/lifecycle.sh [-n ROUNDS] [--policy] [--run] [--max-seconds S] [--no-install]
#
# One sample = create; start; poll `state` until "stopped"; delete, of a busybox `sh -c true`
# bundle (hack/mkbundle.sh), timed with $EPOCHREALTIME. The same method for every runtime.
# With --run a sample is one foreground `run` (which deletes the container when it exits)
# for cgfw-runc and runc; youki keeps the create/start/delete cycle, because youki 0.7's own
# `run` hangs on about half of short containers. Rounds are interleaved: each
# round runs every runtime once, in an order that rotates from round to round. Prints
# per-runtime median, p90 and mean in ms and the ratios cgfw-runc/youki and cgfw-runc/runc.
#
# --policy adds a row "cgfw-runc+policy": the same bundle (its own new, empty network
# namespace) with `cgfw.io/allow: allowed.test`, so every sample also spawns the firewall
# sidecar, loads/attaches/pins the BPF programs, and stops it and unpins on delete. No traffic
# is needed. The row is n/a (with the runtime's errors) if a warm-up cycle fails.
#
# Runtimes: CGFW_RUNC (default <repo>/target/release/cgfw-runc), RUNC (default runc on PATH),
# YOUKI (default <repo>/.tools/bin/youki, else youki on PATH; installed there with
# `cargo install --locked youki --version '~0.7' --features v1,v2,seccomp --root <repo>/.tools`
# if missing (the crate's default features have no cgroup v1/v2 support), unless
# --no-install). A runtime that is missing is reported and left out.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=30
POLICY=0
MODE=cycle
MAX_SECONDS=600
INSTALL=1
while [ $# -gt 0 ]; do
	case "$1" in
	-n | --rounds) ROUNDS=$2; shift 2 ;;
	--policy) POLICY=1; shift ;;
	--run) MODE=run; shift ;;
	--max-seconds) MAX_SECONDS=$2; shift 2 ;;
	--no-install) INSTALL=0; shift ;;
	-h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "lifecycle: unknown option $1" >&2; exit 2 ;;
	esac
done
[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 1 ] || { echo "lifecycle: -n wants a positive number" >&2; exit 2; }

CGFW_RUNC=${CGFW_RUNC:-$REPO/target/release/cgfw-runc}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
YOUKI=${YOUKI:-}
if [ -z "$YOUKI" ]; then
	if [ -x "$REPO/.tools/bin/youki" ]; then
		YOUKI=$REPO/.tools/bin/youki
	elif command -v youki >/dev/null; then
		YOUKI=$(command -v youki)
	elif [ "$INSTALL" = 1 ]; then
		echo "lifecycle: installing youki 0.7 into $REPO/.tools (cargo install, low priority)..." >&2
		# the crate's default features include no cgroup driver: ask for both.
		nice -n 19 cargo install --locked youki --version '~0.7' --features v1,v2,seccomp --root "$REPO/.tools" >&2 &&
			YOUKI=$REPO/.tools/bin/youki || echo "lifecycle: youki install failed" >&2
	fi
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cgfw-bench.XXXXXX")
cleanup() {
	local r id
	for r in "${NAMES[@]:-}"; do
		[ -n "$r" ] || continue
		for id in $(ls "$WORK/root-$r" 2>/dev/null); do
			timeout 10 "${BIN[$r]}" --root "$WORK/root-$r" delete --force "$id" >/dev/null 2>&1 || true
		done
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

"$REPO/hack/mkbundle.sh" "$WORK/bundle" --args "sh -c true" >/dev/null
declare -A BIN BUNDLE
NAMES=()
add() { # add NAME BINARY BUNDLE
	if [ -n "$2" ] && [ -x "$2" ]; then
		NAMES+=("$1")
		BIN[$1]=$2
		BUNDLE[$1]=$3
		mkdir -p "$WORK/root-$1"
	else
		echo "lifecycle: $1 not found (${2:-unset}); left out" >&2
	fi
}
add cgfw-runc "$CGFW_RUNC" "$WORK/bundle"
add youki "$YOUKI" "$WORK/bundle"
add runc "$RUNC" "$WORK/bundle"
if [ "$POLICY" = 1 ]; then
	"$REPO/hack/mkbundle.sh" "$WORK/bundle-policy" --args "sh -c true" \
		--annotation "cgfw.io/allow=allowed.test" >/dev/null
	add cgfw-runc+policy "$CGFW_RUNC" "$WORK/bundle-policy"
	# The sidecar's event log and report: a private dir, not /var/log/cgfw.
	export CGFW_LOG_DIR=$WORK/cgfw-logs
fi
[ ${#NAMES[@]} -ge 1 ] || { echo "lifecycle: no runtime to measure" >&2; exit 1; }

# cycle NAME ID: one sample; prints microseconds, or fails.
cycle() {
	local r=$1 id=$2 b=${BIN[$1]} root=$WORK/root-$1 t0 t1 st i
	t0=$EPOCHREALTIME
	if [ "$MODE" = run ] && [ "$r" != youki ]; then
		timeout 10 "$b" --root "$root" run --bundle "${BUNDLE[$r]}" "$id" </dev/null >/dev/null 2>>"$WORK/$r.err" || return 1
		t1=$EPOCHREALTIME
		echo $((10#${t1//[.,]/} - 10#${t0//[.,]/}))
		return 0
	fi
	timeout 10 "$b" --root "$root" create --bundle "${BUNDLE[$r]}" "$id" </dev/null >/dev/null 2>>"$WORK/$r.err" || return 1
	timeout 10 "$b" --root "$root" start "$id" </dev/null >/dev/null 2>>"$WORK/$r.err" || return 1
	st=""
	for ((i = 0; i < 500; i++)); do
		st=$(timeout 10 "$b" --root "$root" state "$id" 2>>"$WORK/$r.err" </dev/null | jq -r .status 2>/dev/null || true)
		[ "$st" = stopped ] && break
	done
	[ "$st" = stopped ] || return 1
	timeout 10 "$b" --root "$root" delete "$id" </dev/null >/dev/null 2>>"$WORK/$r.err" || return 1
	t1=$EPOCHREALTIME
	echo $((10#${t1//[.,]/} - 10#${t0//[.,]/}))
}

# Warm-up (page cache, first-run costs) and feasibility: one cycle each.
declare -A OK
for r in "${NAMES[@]}"; do
	if us=$(cycle "$r" "warm-$$-${r//+/-}"); then
		OK[$r]=1
	else
		OK[$r]=0
		echo "lifecycle: $r cannot run a container here; its row is n/a. Last errors:" >&2
		grep -m3 -i 'error' "$WORK/$r.err" >&2 || tail -3 "$WORK/$r.err" >&2 || true
		timeout 10 "${BIN[$r]}" --root "$WORK/root-$r" delete --force "warm-$$-${r//+/-}" >/dev/null 2>&1 || true
	fi
done

deadline=$((SECONDS + MAX_SECONDS))
n=${#NAMES[@]}
for ((round = 0; round < ROUNDS; round++)); do
	if [ "$SECONDS" -ge "$deadline" ]; then
		echo "lifecycle: time limit (${MAX_SECONDS}s) reached after $round rounds" >&2
		break
	fi
	for ((k = 0; k < n; k++)); do
		r=${NAMES[$(((round + k) % n))]}
		[ "${OK[$r]}" = 1 ] || continue
		id="b$$-$round-${r//+/-}"
		if us=$(cycle "$r" "$id"); then
			echo "$us" >>"$WORK/$r.samples"
		else
			echo "fail" >>"$WORK/$r.fails"
			timeout 10 "${BIN[$r]}" --root "$WORK/root-$r" delete --force "$id" >/dev/null 2>&1 || true
		fi
	done
done

# stats NAME -> "median p90 mean count" in ms
stats() {
	[ -s "$WORK/$1.samples" ] || { echo "n/a n/a n/a 0"; return; }
	sort -n "$WORK/$1.samples" | awk '
		{ v[NR] = $1; s += $1 }
		END {
			n = NR
			med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			i90 = int(0.9 * n + 0.999999); if (i90 < 1) i90 = 1
			printf "%.2f %.2f %.2f %d\n", med / 1000, v[i90] / 1000, s / n / 1000, n
		}'
}

echo
if [ "$MODE" = run ]; then
	echo "lifecycle: 'run' of 'sh -c true' (youki: create+start+wait+delete), $ROUNDS interleaved rounds"
else
	echo "lifecycle: create+start+wait(state poll)+delete of 'sh -c true', $ROUNDS interleaved rounds"
fi
echo "host: $(uname -r), $(nproc) cpus, cgroup: $(stat -fc %T /sys/fs/cgroup)"
printf '%-18s %10s %10s %10s %6s %6s\n' runtime median_ms p90_ms mean_ms n fails
declare -A MED P90
for r in "${NAMES[@]}"; do
	read -r med p90 mean cnt < <(stats "$r")
	MED[$r]=$med
	P90[$r]=$p90
	fails=0
	[ -f "$WORK/$r.fails" ] && fails=$(wc -l <"$WORK/$r.fails")
	printf '%-18s %10s %10s %10s %6s %6s\n' "$r" "$med" "$p90" "$mean" "$cnt" "$fails"
	[ -n "${BIN[$r]:-}" ] && echo "    ${BIN[$r]}" | sed 's/^/  /'
done
ratio() { # ratio A B (medians)
	local a=${MED[$1]:-n/a} b=${MED[$2]:-n/a}
	if [[ $a == n/a || $b == n/a || -z $a || -z $b ]]; then echo n/a; else awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }'; fi
}
echo
echo "ratio (median) cgfw-runc/youki: $(ratio cgfw-runc youki)   (target <= 1.0)"
echo "ratio (median) cgfw-runc/runc:  $(ratio cgfw-runc runc)"
if [ "$POLICY" = 1 ]; then
	echo "ratio (median) cgfw-runc+policy/cgfw-runc: $(ratio cgfw-runc+policy cgfw-runc)   (target <= 1.25)"
	echo "ratio (median) cgfw-runc+policy/youki: $(ratio cgfw-runc+policy youki)   (target <= 1.0)"
fi
