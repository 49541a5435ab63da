#!/usr/bin/env bash
# metrics.sh: how long `cgfw-runc metrics` takes on a node with N firewalled containers
# (issue 14, point 4: node_exporter's textfile collector may be fed every 15 s).
#
#   hack/bench/metrics.sh [--n N] [--runs R] [--runtime PATH] [--max-seconds S]
#
#   --n N          firewalled containers (default 50; at most 64: one client netns)
#   --runs R       timed runs per figure (default 20; median and max printed)
#   --runtime P    the cgfw-runc binary (default $RUNTIME, else <repo>/target/release/cgfw-runc)
#   --max-seconds  the whole run's time limit (default 600); exceeding it fails the run
#
# Creates and starts N idle firewalled containers (busybox bundles, `cgfw.io/allow:
# allowed.test`, in the test world's client netns), each of which resolves allowed.test and
# github.com once so its report has content. Then times, in the same run:
#   1. `cgfw-runc list` (reads every container's state: the reference),
#   2. `cgfw-runc metrics` with the sidecars' own reports (small),
#   3. `cgfw-runc metrics` with every report replaced by one at the report's caps (4096
#      domains and 4096 blocked destinations, ~2 MB: the worst a sidecar writes; the idle
#      sidecars leave it in place),
# and prints medians, maxima and the ratio metrics/list. Root only. Packets only inside the
# test world's namespaces. Everything is removed on exit (trap).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
RUNTIME=${RUNTIME:-$REPO/target/release/cgfw-runc}
N=50
RUNS=20
MAX_SECONDS=600
while [ $# -gt 0 ]; do
	case "$1" in
	--n) N=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--runtime) RUNTIME=$2; shift 2 ;;
	--max-seconds) MAX_SECONDS=$2; shift 2 ;;
	*) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
((N >= 1 && N <= 64)) || { echo "metrics.sh: --n must be 1..64" >&2; exit 2; }
[ -x "$RUNTIME" ] || { echo "metrics.sh: $RUNTIME not built" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cgfw-metrics-bench.XXXXXX")
WORLD=mb$(printf '%x' "$$")
ROOT=$TMP/root
LOGS=$TMP/logs
IDS=()
rt() { timeout 30 "$RUNTIME" --root "$ROOT" --cgfw-log-dir "$LOGS" "$@"; }
cleanup() {
	local id
	for id in "${IDS[@]}"; do rt delete -f "$id" >/dev/null 2>&1 || true; done
	"$REPO/hack/world-netns.sh" down "$WORLD" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT
# The time limit: the whole script is killed past it (cleanup still runs).
(sleep "$MAX_SECONDS" && echo "metrics.sh: over $MAX_SECONDS s" >&2 && kill -TERM $$) 2>/dev/null &
WATCHDOG=$!
trap 'kill $WATCHDOG 2>/dev/null; cleanup' EXIT
trap 'exit 1' TERM INT

CGFW_WORLD_DIR=$TMP/world "$REPO/hack/world-netns.sh" up "$WORLD" >/dev/null
mkdir -p "$ROOT" "$LOGS"
"$REPO/hack/mkbundle.sh" "$TMP/bundle" --net-ns "/run/netns/$WORLD-c" --nameserver 198.18.0.2 \
	--annotation cgfw.io/allow=allowed.test --args 'sh -c "nslookup allowed.test; nslookup github.com; exec sleep 3600"' >/dev/null
echo "creating $N firewalled containers ..."
for i in $(seq 1 "$N"); do
	id=mb$$-$i
	IDS+=("$id")
	rt run -d --bundle "$TMP/bundle" "$id" </dev/null >/dev/null 2>&1
done
sleep 2 # their lookups done and reported (the sidecars rewrite reports about once a second)

# times_ms CMD...: run CMD $RUNS times (output discarded), print the wall times in ms, sorted.
times_ms() {
	local i t0 t1
	for ((i = 0; i < RUNS; i++)); do
		t0=$EPOCHREALTIME
		"$@" >/dev/null
		t1=$EPOCHREALTIME
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", (b - a) * 1000 }'
	done | sort -n
}
median() { awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

rt metrics >"$TMP/sample.prom"
series=$(grep -vc '^#' "$TMP/sample.prom")
list=$(times_ms rt list)
small=$(times_ms rt metrics)
report_bytes=$(stat -c %s "$LOGS/${IDS[0]}.report.json")

# Reports at the caps, written where the sidecars write theirs.
python3 - "$TMP/big.json" <<-'PY'
	import json, sys
	doms = [{"domain": f"d{i}.blocked.example", "verdict": "blocked", "rule": "default deny (not in cgfw.io/allow)",
	         "count": 3, "ips": [], "pids": [1000 + i % 32], "first_seen": "2026-01-01T00:00:00.000000Z",
	         "last_seen": "2026-01-01T00:00:01.000000Z"} for i in range(4096)]
	dests = [{"ip": f"10.{i // 256}.{i % 256}.1", "port": 443, "proto": "tcp", "domain": None, "verdict": "blocked",
	          "rule": "default deny (not in cgfw.io/allow)", "count": 2, "pids": [2000 + i % 32],
	          "cmdlines": [f"curl -sS https://10.{i // 256}.{i % 256}.1/ --retry 3"],
	          "first_seen": "2026-01-01T00:00:00.000000Z", "last_seen": "2026-01-01T00:00:01.000000Z"} for i in range(4096)]
	report = {"container": "x", "mode": "enforce", "started": "2026-01-01T00:00:00.000000Z", "updated": "2026-01-01T00:00:01.000000Z",
	          "domains": doms, "blocked_destinations": dests,
	          "totals": {"dns_queries": 12288, "dns_blocked": 12288, "connects_blocked": 8192}}
	json.dump(report, open(sys.argv[1], "w"), indent=2)
PY
for id in "${IDS[@]}"; do cp "$TMP/big.json" "$LOGS/$id.report.json"; done
big_bytes=$(stat -c %s "$TMP/big.json")
big=$(times_ms rt metrics)

m_list=$(median <<<"$list")
m_small=$(median <<<"$small")
m_big=$(median <<<"$big")
echo
echo "cgfw-runc metrics, $N firewalled containers, $series series, $RUNS runs each (wall ms: median / max)"
printf '  %-44s %8s / %s\n' "list (reference)" "$m_list" "$(tail -n1 <<<"$list")"
printf '  %-44s %8s / %s   metrics/list %.2f\n' "metrics, sidecars' reports (${report_bytes} B)" "$m_small" "$(tail -n1 <<<"$small")" \
	"$(awk -v a="$m_small" -v b="$m_list" 'BEGIN { print a / b }')"
printf '  %-44s %8s / %s   metrics/list %.2f\n' "metrics, reports at the caps ($((big_bytes / 1024)) KiB)" "$m_big" "$(tail -n1 <<<"$big")" \
	"$(awk -v a="$m_big" -v b="$m_list" 'BEGIN { print a / b }')"
