#!/usr/bin/env bash
# density.sh: many idle firewalled containers against as many plain ones (issue 13).
#
#   hack/bench/density.sh [--n N ...] [--runtime PATH] [--rounds R] [--spawn-count C]
#                         [--max-seconds S]
#
#   --n N          container count; repeatable, or a quoted list ("50 200", the default)
#   --runtime P    the cgfw-runc binary (default $RUNTIME, else <repo>/target/release/cgfw-runc)
#   --rounds R     plain+firewalled pairs per N (default 2: plain fw, then fw plain)
#   --spawn-count  fork+execs of /bin/true per spawn-rate sample (default 2000; 5 samples)
#   --max-seconds  the whole run's time limit (default 1200); exceeding it fails the run
#
# For each round and N, two batches, plain and firewalled, in an order that alternates from one
# batch pair to the next (A B B A ...) so both kinds see the same machine state; samples of all
# rounds are pooled. A batch:
#   1. creates and starts N idle containers (`sleep`, busybox bundles from hack/mkbundle.sh)
#      through cgfw-runc, one after the other, timing create+start of each ($EPOCHREALTIME).
#      Both kinds join the test world's client network namespaces (hack/world-netns.sh; 50
#      containers per client netns, `add-client` for more: a netns takes at most 64 firewalled
#      containers, the members of its boundary filter), so the only difference is the annotation: firewalled bundles
#      carry `cgfw.io/allow: allowed.test` (sidecar, BPF programs, DNS proxy with the world's
#      dnsmasq as upstream), plain ones none.
#   2. with all N running: the host's process-spawn rate: 5 samples of C fork+exec of
#      /bin/true from a subshell at nice -20, timed by bash's `time`: spawns per second of CPU
#      time (user+sys; median) and of wall clock (median, best sample). On a shared 2-core
#      machine both swing by 10-30 % from sample to sample, far more than the cost looked for,
#      so the loops also run with BPF run-time statistics on (hack/bench/bpfstats.py holds
#      BPF_ENABLE_STATS for that window only): the run time of this run's programs over the
#      loops, per spawn, added to the plain batch's CPU cost per spawn, gives the spawn rate
#      the programs imply (an upper bound on their cost: other processes' forks and execs
#      meanwhile run them too). BPF map memory (hack/bench/bpfmem.py:
#      `memlock` of every distinct map id held by any process's fd (/proc/*/fdinfo), plus maps
#      only pinned under /sys/fs/bpf/cgfw* or only used by a held or pinned program, each id
#      counted once; "ours" = reachable from this run's sidecars and pin dirs); the VmRSS of
#      every sidecar process (`... sidecar <id>`).
#   3. deletes them (timed) and checks that no sidecar or pin of theirs is left.
# Then prints, against the issue's targets, with PASS/MISS:
#   spawn rate firewalled/plain >= 0.95 (CPU time, implied by BPF run time, wall clock); create+start firewalled/plain <= 1.25 (mean and p50);
#   BPF map memory per container (firewalled minus plain host total, / N) <= 256 KiB;
#   sidecar RSS (max) <= 3 MiB.
# Host-wide map totals include whatever else runs on the machine (other suites' containers):
# the "ours" figure is the one attributable to this run.
#
# Root only. Packets only inside the test world's namespaces (no traffic is generated at all:
# the containers are idle). Everything is removed on exit (trap): containers, world, files.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
NS_LIST=()
RUNTIME=${RUNTIME:-${CGFW_RUNC:-$REPO/target/release/cgfw-runc}}
SPAWN_COUNT=2000
MAX_SECONDS=1200
ROUNDS=2
PER_NS=50
usage() { sed -n '2,45p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case "$1" in
	--n | -n) read -ra _ns <<<"$2"; NS_LIST+=("${_ns[@]}"); shift 2 ;;
	--runtime) RUNTIME=$2; shift 2 ;;
	--spawn-count) SPAWN_COUNT=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--max-seconds) MAX_SECONDS=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "density: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
done
[ ${#NS_LIST[@]} -gt 0 ] || NS_LIST=(50 200)
for n in "${NS_LIST[@]}"; do
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le $((8 * PER_NS)) ] ||
		{ echo "density: N must be 1..$((8 * PER_NS)) (8 client netns of $PER_NS), got '$n'" >&2; exit 2; }
done
[[ $SPAWN_COUNT =~ ^[0-9]+$ ]] && [ "$SPAWN_COUNT" -ge 100 ] && [ "$SPAWN_COUNT" -le 20000 ] ||
	{ echo "density: --spawn-count must be 100..20000" >&2; exit 2; }
[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 5 ] ||
	{ echo "density: --rounds must be 1..5" >&2; exit 2; }
[[ $MAX_SECONDS =~ ^[0-9]+$ ]] && [ "$MAX_SECONDS" -ge 60 ] && [ "$MAX_SECONDS" -le 7200 ] ||
	{ echo "density: --max-seconds must be 60..7200" >&2; exit 2; }

[ "$(id -u)" = 0 ] || { echo "density: run as root" >&2; exit 1; }
for t in jq python3 ip pgrep busybox dnsmasq; do
	command -v "$t" >/dev/null || { echo "density: $t not found (hack/install-deps.sh)" >&2; exit 1; }
done
[ -x "$RUNTIME" ] || { echo "density: runtime $RUNTIME not found (cargo build --release -p cgfw-runc, or --runtime)" >&2; exit 1; }
RUNTIME=$(readlink -f "$RUNTIME")

# Limits. Every process this script starts inherits them (the runtime, and through it the
# sidecars). nofile: the runtime and sidecars need few fds each; bpfmem.py closes every fd it
# opens, so 1024 is enough, but take the hard limit if the soft one is lower. memlock: since
# Linux 5.11 BPF memory is charged to the memory cgroup, not RLIMIT_MEMLOCK; before that
# N firewalled containers' maps would have to fit in it (per user).
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -Sn)
MEMLOCK="$(ulimit -Sl)/$(ulimit -Hl)"
KVER=$(uname -r)
if [ "$(printf '%s\n' 5.11 "${KVER%%-*}" | sort -V | head -n1)" != 5.11 ]; then
	echo "density: kernel $KVER < 5.11: BPF maps are charged to RLIMIT_MEMLOCK ($MEMLOCK KiB); large N may fail" >&2
fi
[ "$NOFILE" = unlimited ] || [ "$NOFILE" -ge 1024 ] || { echo "density: nofile soft limit $NOFILE < 1024" >&2; exit 1; }

T_START=$SECONDS
DEADLINE=$((SECONDS + MAX_SECONDS))
check_time() {
	[ "$SECONDS" -lt "$DEADLINE" ] || { echo "density: time limit (${MAX_SECONDS}s) exceeded during $*" >&2; exit 1; }
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cgfw-density.XXXXXX")
WORLD_NAME=dn$(printf '%x' $$)
WORLD_SH=$REPO/hack/world-netns.sh
PREFIX=dn$$
PIN_ROOT=/sys/fs/bpf/cgfw
RT=("$RUNTIME" --root "$WORK/root" --cgfw-log-dir "$WORK/logs")
CLIENTS=1 # client netns of the world: $WORLD_NAME-c, then -c2 ...

cleanup() {
	local rc=$? id
	trap - EXIT INT TERM
	stats_off
	if [ -d "$WORK/root" ]; then
		for id in $(ls "$WORK/root" 2>/dev/null); do
			timeout 30 "${RT[@]}" delete --force "$id" >/dev/null 2>&1 || true
		done
	fi
	"$WORLD_SH" down "$WORLD_NAME" >/dev/null 2>&1 || true
	local left
	left=$(pgrep -f -- " sidecar $PREFIX-" || true)
	[ -z "$left" ] || echo "density: sidecars left after cleanup: $left" >&2
	left=$(ls -d "$PIN_ROOT/$PREFIX-"* 2>/dev/null || true)
	[ -z "$left" ] || echo "density: pins left after cleanup: $left" >&2
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$WORLD_SH" up "$WORLD_NAME" >/dev/null
netns_of() { # netns_of GROUP (0-based)
	if [ "$1" -eq 0 ]; then echo "/run/netns/$WORLD_NAME-c"; else echo "/run/netns/$WORLD_NAME-c$(($1 + 1))"; fi
}
# ensure_bundles N: client netns and bundles (plain and firewalled) for N containers.
ensure_bundles() {
	local groups=$((($1 + PER_NS - 1) / PER_NS)) g ns
	for ((g = 0; g < groups; g++)); do
		if ((g >= CLIENTS)); then
			"$WORLD_SH" add-client "$WORLD_NAME" $((g + 1)) >/dev/null
			CLIENTS=$((g + 1))
		fi
		ns=$(netns_of "$g")
		[ -d "$WORK/plain-$g" ] ||
			"$REPO/hack/mkbundle.sh" "$WORK/plain-$g" --net-ns "$ns" --nameserver 198.18.0.2 --args "sleep 7200" >/dev/null
		[ -d "$WORK/fw-$g" ] ||
			"$REPO/hack/mkbundle.sh" "$WORK/fw-$g" --net-ns "$ns" --nameserver 198.18.0.2 --args "sleep 7200" \
				--annotation cgfw.io/allow=allowed.test >/dev/null
	done
}

# stats_on / stats_off: BPF run-time statistics (hack/bench/bpfstats.py holds the enabling fd;
# it gives up by itself after 300 s). STATS_STATE: "ok" or the error.
STATS_PID=""
STATS_STATE="not tried"
stats_on() {
	rm -f "$WORK/stats.ready"
	python3 "$REPO/hack/bench/bpfstats.py" "$WORK/stats.ready" 300 </dev/null >/dev/null 2>&1 &
	STATS_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do [ -e "$WORK/stats.ready" ] && break; sleep 0.05; done
	STATS_STATE=$(cat "$WORK/stats.ready" 2>/dev/null || echo "bpfstats.py did not start")
}
stats_off() {
	[ -n "$STATS_PID" ] || return 0
	kill "$STATS_PID" 2>/dev/null || true
	wait "$STATS_PID" 2>/dev/null || true
	STATS_PID=""
}

us_now() { local t=$EPOCHREALTIME; echo $((10#${t//[.,]/})); }

# spawn_rate: SPAWN_SAMPLES samples of SPAWN_COUNT fork+exec of /bin/true from a subshell at
# nice -20 (so builds at nice 0..10 disturb it less), each timed by bash's `time` (wall clock,
# and user+sys CPU time of the subshell and its children). Prints one line per sample:
# "wall_rate cpu_rate" in spawns per second.
SPAWN_SAMPLES=5
spawn_rate() {
	local s i TIMEFORMAT='%3R %3U %3S'
	for ((s = 0; s < SPAWN_SAMPLES; s++)); do
		{ time (
			renice -n -20 -p "$BASHPID" >/dev/null 2>&1 || true
			for ((i = 0; i < SPAWN_COUNT; i++)); do /bin/true; done
		); } 2>&1
	done | awk -v n="$SPAWN_COUNT" '{ printf "%.1f %.1f\n", n / $1, n / ($2 + $3) }'
}
# spawn_summary FILE: "cpu_median wall_median wall_best samples". Wall-clock rates swing with
# whatever else runs on the machine (other load only ever slows a sample down, so the best
# sample is the least disturbed); CPU time per spawn moves less, and it is where a BPF
# program run at fork or exec is paid (in the task's own context).
spawn_summary() {
	local c w
	c=$(cut -d' ' -f2 "$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	w=$(cut -d' ' -f1 "$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)], v[NR], NR }')
	echo "$c $w"
}

# stats FILE -> "mean p50 max count" (values as in the file)
stats() {
	sort -g "$1" | awk '
		{ v[NR] = $1; s += $1 }
		END {
			if (NR == 0) { print "n/a n/a n/a 0"; exit }
			p50 = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.3f %.3f %.3f %d\n", s / NR, p50, v[NR], NR
		}'
}

# sidecar_pids ID...: pids whose command line ends in `sidecar ID`.
sidecar_pids_of() {
	local id
	for id in "$@"; do pgrep -f -- " sidecar $id\$" || true; done
}

# batch KIND N ROUND: one batch (see the header); samples appended to $WORK/KIND-N.*
batch() {
	local kind=$1 n=$2 round=$3 k id g t0 t1 t2 ids=() out=$WORK/$kind-$n
	ensure_bundles "$n"
	for ((k = 0; k < n; k++)); do
		check_time "$kind batch of $n (container $k)"
		g=$((k / PER_NS))
		id=$PREFIX-${kind:0:1}$n-r$round-$k
		t0=$(us_now)
		if ! timeout 60 "${RT[@]}" create --bundle "$WORK/$kind-$g" "$id" </dev/null >/dev/null 2>"$WORK/err"; then
			echo "density: create of $kind container $k/$n failed: $(tail -3 "$WORK/err")" >&2
			exit 1
		fi
		t1=$(us_now)
		if ! timeout 60 "${RT[@]}" start "$id" </dev/null >/dev/null 2>"$WORK/err"; then
			echo "density: start of $kind container $k/$n failed: $(tail -3 "$WORK/err")" >&2
			exit 1
		fi
		t2=$(us_now)
		ids+=("$id")
		echo "$(((t2 - t0) / 1000)).$(printf '%03d' $(((t2 - t0) % 1000)))" >>"$out.cs"
		echo "$(((t1 - t0) / 1000))" >>"$out.create"
		echo "$(((t2 - t1) / 1000))" >>"$out.start"
	done
	# Let the last sidecars finish starting and return their load-time memory.
	sleep 2
	local pids=() p
	mapfile -t pids < <(sidecar_pids_of "${ids[@]}")
	local want=0
	[ "$kind" = fw ] && want=$n
	[ "${#pids[@]}" -eq "$want" ] || { echo "density: $kind batch of $n: ${#pids[@]} sidecars, want $want" >&2; exit 1; }

	local args=()
	for p in "${pids[@]}"; do args+=(--ours-pid "$p"); done
	for id in "${ids[@]}"; do args+=(--ours-pin "$PIN_ROOT/$id"); done
	check_time "$kind batch of $n (spawn rate)"
	# Spawn rate, with BPF run-time statistics on for just this window (both kinds alike):
	# the programs' run time before and after is what the loop cost them.
	stats_on
	timeout 120 python3 "$REPO/hack/bench/bpfmem.py" --pin-prefix "$PIN_ROOT" "${args[@]}" >"$out.pre.$round"
	spawn_rate >>"$out.spawn"
	timeout 120 python3 "$REPO/hack/bench/bpfmem.py" --pin-prefix "$PIN_ROOT" "${args[@]}" >"$out.maps.$round"
	stats_off
	jq -n --slurpfile a "$out.pre.$round" --slurpfile b "$out.maps.$round" --argjson n $((SPAWN_SAMPLES * SPAWN_COUNT)) \
		'[$b[0].prog_stats.ours.run_time_ns - $a[0].prog_stats.ours.run_time_ns, $b[0].prog_stats.ours.run_cnt - $a[0].prog_stats.ours.run_cnt, $n] | @tsv' -r \
		>>"$out.bpfrun"

	for p in "${pids[@]}"; do
		awk '/^VmRSS:/ { printf "%.3f\n", $2 / 1024 }' "/proc/$p/status" >>"$out.rss" 2>/dev/null || true
	done

	# A failed delete is retried (up to 3 more times, 0.5 s apart) and counted: on cgroup v1
	# an rmdir right after the kill can find the cgroup still busy. Its time is the first try's.
	local try
	for id in "${ids[@]}"; do
		check_time "$kind batch of $n (delete)"
		t0=$(us_now)
		for ((try = 0; try < 4; try++)); do
			timeout 60 "${RT[@]}" delete --force "$id" </dev/null >/dev/null 2>"$WORK/err" && break
			[ "$try" -gt 0 ] || { t1=$(us_now); echo "$(((t1 - t0) / 1000))" >>"$out.delete"; }
			echo "$id: $(tail -1 "$WORK/err")" >>"$out.delfail"
			sleep 0.5
		done
		[ "$try" -lt 4 ] || { echo "density: delete $id failed 4 times: $(tail -3 "$WORK/err")" >&2; exit 1; }
		[ "$try" -gt 0 ] || { t1=$(us_now); echo "$(((t1 - t0) / 1000))" >>"$out.delete"; }
	done
	local left
	left=$(sidecar_pids_of "${ids[@]}")
	[ -z "$left" ] || { echo "density: sidecars left after deleting the $kind batch: $left" >&2; exit 1; }
	left=$(ls -d "$PIN_ROOT/$PREFIX-${kind:0:1}$n-r$round-"* 2>/dev/null || true)
	[ -z "$left" ] || { echo "density: pins left after deleting the $kind batch: $left" >&2; exit 1; }
	echo "density: round $round: $kind x$n done at $((SECONDS - T_START))s" >&2
}

# Warm-up: one container of each kind (page cache, first-run costs), not counted.
ensure_bundles 1
for kind in plain fw; do
	id=$PREFIX-warm-$kind
	timeout 60 "${RT[@]}" create --bundle "$WORK/$kind-0" "$id" </dev/null >/dev/null 2>"$WORK/err" &&
		timeout 60 "${RT[@]}" start "$id" </dev/null >/dev/null 2>>"$WORK/err" ||
		{ echo "density: warm-up $kind container failed: $(tail -3 "$WORK/err")" >&2; exit 1; }
	timeout 60 "${RT[@]}" delete --force "$id" >/dev/null 2>&1
done
spawn_rate >"$WORK/idle.spawn"
IDLE_SPAWN=$(spawn_summary "$WORK/idle.spawn")
IDLE_MAPS=$(timeout 120 python3 "$REPO/hack/bench/bpfmem.py" --pin-prefix "$PIN_ROOT")

pair=0
for ((round = 1; round <= ROUNDS; round++)); do
	for n in "${NS_LIST[@]}"; do
		if ((pair % 2 == 0)); then order=(plain fw); else order=(fw plain); fi
		for kind in "${order[@]}"; do batch "$kind" "$n" "$round"; done
		pair=$((pair + 1))
	done
done

# ---- report ----
pf() { # pf VALUE OP TARGET -> PASS/MISS
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
		if (v == "n/a") { print "n/a"; exit }
		ok = (op == ">=") ? (v >= t) : (v <= t); print ok ? "PASS" : "MISS" }'
}
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.3f}" 'BEGIN { if (b == 0) print "n/a"; else printf f "\n", a / b }'; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }

echo
CGV=$(stat -fc %T /sys/fs/cgroup)
[ "$CGV" = cgroup2fs ] || CGV="hybrid/v1 ($(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null || echo no) at unified)"
echo "density: $(uname -r), $(nproc) cpus, cgroup $CGV, nofile $NOFILE, memlock $MEMLOCK KiB"
echo "runtime: $RUNTIME"
echo "method: N idle 'sleep' containers created+started one by one, in the test world's client netns ($PER_NS per netns);"
echo "        spawn rate = $SPAWN_COUNT fork+exec of /bin/true from the host shell, $SPAWN_SAMPLES samples: per CPU second"
echo "        (user+sys of the loop and its children; median) and per wall-clock second (median, best);"
echo "        $ROUNDS round(s); plain and firewalled batches alternate in order (A B B A ...); run took $((SECONDS - T_START))s"
read -r isp_cpu isp_med isp_best _ <<<"$IDLE_SPAWN"
echo "no containers: spawn $isp_cpu /CPU-s, $isp_med /s (best $isp_best); host BPF maps $(jq -r '"\(.total.maps) maps, \(.total.bytes) B"' <<<"$IDLE_MAPS")"
for n in "${NS_LIST[@]}"; do
	P=$WORK/plain-$n F=$WORK/fw-$n
	read -r pcs_mean pcs_p50 pcs_max _ < <(stats "$P.cs")
	read -r fcs_mean fcs_p50 fcs_max _ < <(stats "$F.cs")
	read -r pc_mean _ _ _ < <(stats "$P.create")
	read -r fc_mean _ _ _ < <(stats "$F.create")
	read -r ps_mean _ _ _ < <(stats "$P.start")
	read -r fs_mean _ _ _ < <(stats "$F.start")
	read -r pd_mean _ _ _ < <(stats "$P.delete")
	read -r fd_mean _ _ _ < <(stats "$F.delete")
	read -r psp_cpu psp_med psp psp_n < <(spawn_summary "$P.spawn")
	read -r fsp_cpu fsp_med fsp _ < <(spawn_summary "$F.spawn")
	read -r rss_mean _ rss_max rss_n < <(stats "$F.rss")
	# Maps: the host-wide firewalled-minus-plain difference of each round, averaged; this run's
	# own maps: the largest round. The table shows the last round.
	deltas=() fours=0
	for ((r = 1; r <= ROUNDS; r++)); do
		ptot=$(jq .total.bytes "$P.maps.$r") ftot=$(jq .total.bytes "$F.maps.$r")
		deltas+=($((ftot - ptot)))
		o=$(jq .ours.bytes "$F.maps.$r")
		[ "$o" -le "$fours" ] || fours=$o
	done
	delta=$(printf '%s\n' "${deltas[@]}" | awk '{ s += $1 } END { printf "%.0f", s / NR }')
	pm=$(cat "$P.maps.$ROUNDS") fm=$(cat "$F.maps.$ROUNDS")
	r_spawn=$(div "$fsp" "$psp")
	r_spawn_med=$(div "$fsp_med" "$psp_med")
	r_spawn_cpu=$(div "$fsp_cpu" "$psp_cpu")
	# BPF run time of this run's programs during the firewalled loops: per spawn, per run, and
	# the spawn rate it implies (the plain rate per CPU second, each spawn dearer by that much).
	read -r bpf_ns bpf_cnt bpf_spawns < <(awk '{ t += $1; c += $2; n += $3 } END { print t + 0, c + 0, n + 0 }' "$F.bpfrun")
	bpf_us_spawn=$(div "$bpf_ns" "$((bpf_spawns * 1000))")
	bpf_ns_run=$(div "$bpf_ns" "$bpf_cnt" "%.0f")
	r_spawn_bpf=$(awk -v ns="$bpf_ns" -v n="$bpf_spawns" -v r="$psp_cpu" 'BEGIN { if (n == 0 || ns == 0) print "n/a"; else printf "%.3f\n", 1 / (1 + ns / n * r / 1e9) }')
	r_csm=$(div "$fcs_mean" "$pcs_mean")
	r_csp=$(div "$fcs_p50" "$pcs_p50")
	per=$(div "$delta" "$n" "%.0f")
	per_ours=$(div "$fours" "$n" "%.0f")
	echo
	echo "== N = $n =="
	printf '%-34s %14s %14s\n' "" plain firewalled
	printf '%-34s %14s %14s\n' "create+start mean ms" "$pcs_mean" "$fcs_mean"
	printf '%-34s %14s %14s\n' "create+start p50 ms" "$pcs_p50" "$fcs_p50"
	printf '%-34s %14s %14s\n' "create+start max ms" "$pcs_max" "$fcs_max"
	printf '%-34s %14s %14s\n' "  create mean ms" "$pc_mean" "$fc_mean"
	printf '%-34s %14s %14s\n' "  start mean ms" "$ps_mean" "$fs_mean"
	printf '%-34s %14s %14s\n' "delete --force mean ms" "$pd_mean" "$fd_mean"
	printf '%-34s %14s %14s\n' "delete failures (retried)" "$(cat "$P.delfail" 2>/dev/null | wc -l)" "$(cat "$F.delfail" 2>/dev/null | wc -l)"
	for f in "$P.delfail" "$F.delfail"; do [ ! -s "$f" ] || sed 's/^/    /' "$f" | head -3; done
	printf '%-34s %14s %14s\n' "spawn rate /CPU-s, median of $psp_n" "$psp_cpu" "$fsp_cpu"
	printf '%-34s %14s %14s\n' "spawn rate /s wall, median" "$psp_med" "$fsp_med"
	printf '%-34s %14s %14s\n' "spawn rate /s wall, best" "$psp" "$fsp"
	printf '%-34s %14s %14s\n' "BPF run time µs/spawn (ours)" "-" "$bpf_us_spawn"
	echo "  (firewalled loops: $bpf_cnt runs of this run's programs, $bpf_ns_run ns each, over $bpf_spawns spawns; BPF stats: $STATS_STATE)"
	for f in total fd pinned_only prog_only ours; do
		printf '%-34s %14s %14s\n' "BPF maps $f (count/KiB)" \
			"$(jq -r ".$f.maps" <<<"$pm")/$(kib "$(jq ".$f.bytes" <<<"$pm")")" \
			"$(jq -r ".$f.maps" <<<"$fm")/$(kib "$(jq ".$f.bytes" <<<"$fm")")"
	done
	printf '%-34s %14s %14s\n' "sidecars / RSS mean MiB" "0 / -" "$rss_n / $rss_mean"
	echo "  host map KiB, firewalled minus plain, per round: $(for d in "${deltas[@]}"; do printf '%s ' "$(kib "$d")"; done)"
	echo "  maps of this run's firewalled containers by name (count, KiB):" \
		"$(jq -r '.ours_by_name | to_entries | map("\(.key) \(.value.maps) \(.value.bytes / 1024 | floor)") | join("; ")' <<<"$fm")"
	echo "  firewalled progs: $(jq -r '"\(.progs.held) held by fds, \(.progs.pinned) behind pins; \(.pins_walked) pins walked"' <<<"$fm")"
	errs=$(jq -r '.errors_count' <<<"$fm")
	[ "$errs" = 0 ] || echo "  bpfmem errors ($errs): $(jq -r '.errors | join("; ")' <<<"$fm")"
	echo "ratios (firewalled / plain, same run), against issue 13's targets:"
	printf '  %-46s %10s  target %-10s %s\n' "spawn rate per CPU second (medians)" "$r_spawn_cpu" ">= 0.95" "$(pf "$r_spawn_cpu" '>=' 0.95)"
	printf '  %-46s %10s  target %-10s %s\n' "spawn rate implied by BPF run time per spawn" "$r_spawn_bpf" ">= 0.95" "$(pf "$r_spawn_bpf" '>=' 0.95)"
	printf '  %-46s %10s  target %-10s %s\n' "spawn rate wall clock (best samples)" "$r_spawn" ">= 0.95" "$(pf "$r_spawn" '>=' 0.95)"
	printf '  %-46s %10s  target %-10s %s\n' "spawn rate wall clock (medians)" "$r_spawn_med" ">= 0.95" "$(pf "$r_spawn_med" '>=' 0.95)"
	printf '  %-46s %10s  target %-10s %s\n' "create+start, mean" "$r_csm" "<= 1.25" "$(pf "$r_csm" '<=' 1.25)"
	printf '  %-46s %10s  target %-10s %s\n' "create+start, p50" "$r_csp" "<= 1.25" "$(pf "$r_csp" '<=' 1.25)"
	printf '  %-46s %10s  target %-10s %s\n' "BPF map KiB/container (host total fw-plain)/N" "$(kib "$per")" "<= 256" "$(pf "$(kib "$per")" '<=' 256)"
	printf '  %-46s %10s  target %-10s %s\n' "BPF map KiB/container (this run's maps)/N" "$(kib "$per_ours")" "<= 256" "$(pf "$(kib "$per_ours")" '<=' 256)"
	printf '  %-46s %10s  target %-10s %s\n' "  host total / N (last firewalled batch)" "$(kib "$(div "$ftot" "$n" "%.0f")")" "" ""
	printf '  %-46s %10s  target %-10s %s\n' "sidecar RSS max MiB" "$rss_max" "<= 3" "$(pf "$rss_max" '<=' 3)"
	printf '  %-46s %10s  target %-10s %s\n' "sidecar RSS mean MiB" "$rss_mean" "<= 3" "$(pf "$rss_mean" '<=' 3)"
done
