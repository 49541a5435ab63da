#!/usr/bin/env bash
# dns.sh: DNS through the firewall's proxy vs straight to the resolver, side by side, and the
# sidecar's memory. Needs root, dnsperf, jq, nsenter, and the test world (hack/world-netns.sh).
#
#   hack/bench/dns.sh [-r ROUNDS] [-l SECONDS] [-L SECONDS] [-Q QPS] [-c CLIENTS] [-q OUTSTANDING]
#                     [-N IP]
#
# -N IP: a second nameserver in the container's resolv.conf, after 198.18.0.2 (the proxy then
# takes its failover path, failover.rs, with the first upstream alive); e.g. -N fd00:cf::2,
# the same dnsmasq over IPv6.
#
# Set-up: a test world (dnsmasq on 198.18.0.2, no cache, answers the test names), and a
# firewalled cgfw-runc container (`sleep`) in the world's client netns with
# `cgfw.io/allow: allowed.test, far.test` (log level default: blocked, so allowed queries write
# no event lines). Queries are only for allowed names (the proxy's full path: parse, match,
# forward upstream, check the answer, write the allow map, reply).
#
#   direct: dnsperf in the client netns (`ip netns exec`), to 198.18.0.2.
#   proxy:  the same dnsperf, same netns, but started in the container's cgroup v2 (a shell
#           writes itself into <cgroup>/cgroup.procs, then execs dnsperf): its port-53 traffic
#           is redirected by the container's connect4/sendmsg4 programs to the sidecar's proxy,
#           exactly as a process of the container. Checked: the proxy's query counter
#           (`cgfw-runc report`) must grow by what dnsperf sent, else the run is refused.
#
# Method (one run, phases interleaved A B B A per round so drift hits both sides alike):
#   latency:    dnsperf -v at a fixed, moderate rate (-Q, default 2000 qps, one client, -L s);
#               -v prints every response's latency (µs resolution). Per round, p50/p99 of each
#               side over its two phases; added latency = proxy - direct at each percentile.
#               The figure printed is the median over rounds of the per-round difference (a
#               round disturbed by other load on the machine moves one sample, not the
#               result); pooled percentiles over all rounds are shown too. dnsperf's own
#               summary gives only mean/stddev, and latency at saturation would measure
#               queueing, not the proxy's cost.
#   throughput: dnsperf without -v, unlimited rate, -c clients and -q outstanding queries for
#               -l s; "Queries per second" from the summary. Per round, the ratio of the
#               sides' summed qps (proxy/direct); the figure printed is the median of the
#               rounds' ratios (and their range).
#   proxy CPU:  the sidecar thread's CPU time over all phases (/proc/PID/schedstat) per query
#               the proxy counted: its own cost, less sensitive to other load than the ratios.
# Targets (DESIGN.md): +50 µs p50, +200 µs p99, >= 80 % qps, RSS <= 8 MiB.
#
# Everything is bounded (dnsperf -l/-n, timeouts) and torn down on exit (container, world).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
RUNTIME=${CGFW_RUNC:-$REPO/target/release/cgfw-runc}
ROUNDS=5
TP_SECONDS=5
LAT_SECONDS=3
LAT_QPS=2000
CLIENTS=4
OUTSTANDING=200
SECOND_NS=()
while [ $# -gt 0 ]; do
	case "$1" in
	-r) ROUNDS=$2; shift 2 ;;
	-l) TP_SECONDS=$2; shift 2 ;;
	-L) LAT_SECONDS=$2; shift 2 ;;
	-Q) LAT_QPS=$2; shift 2 ;;
	-c) CLIENTS=$2; shift 2 ;;
	-q) OUTSTANDING=$2; shift 2 ;;
	-N) SECOND_NS=(--nameserver "$2"); shift 2 ;;
	-h | --help) sed -n '2,42p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "dns.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
for v in ROUNDS TP_SECONDS LAT_SECONDS LAT_QPS CLIENTS OUTSTANDING; do
	[[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "dns.sh: $v must be a positive integer" >&2; exit 2; }
done
[ "$TP_SECONDS" -le 120 ] && [ "$LAT_SECONDS" -le 120 ] && [ "$ROUNDS" -le 10 ] || { echo "dns.sh: keep it bounded (-l/-L <= 120, -r <= 10)" >&2; exit 2; }
for t in dnsperf jq nsenter ip; do command -v "$t" >/dev/null || { echo "dns.sh: $t not found" >&2; exit 1; }; done
[ -x "$RUNTIME" ] || { echo "dns.sh: runtime $RUNTIME not built (cargo build --release -p cgfw-runc)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cgfw-dnsbench.XXXXXX")
WORLD=bd$(printf '%x' $$)
RT=("$RUNTIME" --root "$WORK/root" --cgfw-log-dir "$WORK/logs")
cleanup() {
	timeout 20 "${RT[@]}" delete --force "dnsbench-$$" >/dev/null 2>&1 || true
	timeout 20 "${RT[@]}" delete --force "dnsbench-mem-$$" >/dev/null 2>&1 || true
	"$REPO/hack/world-netns.sh" down "$WORLD" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$REPO/hack/world-netns.sh" up "$WORLD" >/dev/null
NETNS=/run/netns/$WORLD-c
DNS=198.18.0.2

"$REPO/hack/mkbundle.sh" "$WORK/bundle" --net-ns "$NETNS" --nameserver "$DNS" "${SECOND_NS[@]}" \
	--annotation "cgfw.io/allow=allowed.test, far.test" --args "sleep 3600" >/dev/null

# start_container ID: create+start; sets PID, SIDECAR, CGDIR.
start_container() {
	timeout 30 "${RT[@]}" create --bundle "$WORK/bundle" "$1" </dev/null >/dev/null
	timeout 30 "${RT[@]}" start "$1" </dev/null
	PID=$(timeout 10 "${RT[@]}" state "$1" | jq -r .pid)
	SIDECAR=$(pgrep -f -- "sidecar $1\$" | head -n1)
	[ -n "$SIDECAR" ] || { echo "dns.sh: no sidecar for $1" >&2; exit 1; }
	local cg
	cg=$(awk -F: '$1 == "0" { sub(/^0::/, ""); print }' "/proc/$PID/cgroup")
	if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then CGDIR=/sys/fs/cgroup$cg; else CGDIR=/sys/fs/cgroup/unified$cg; fi
	[ -w "$CGDIR/cgroup.procs" ] || { echo "dns.sh: container cgroup v2 $CGDIR not found" >&2; exit 1; }
}
ID=dnsbench-$$
MEM_ID=dnsbench-mem-$$
start_container "$ID"

printf '%s\n' "allowed.test A" "allowed.test AAAA" "far.test A" "www.allowed.test A" \
	"api.far.test AAAA" "x.y.allowed.test A" >"$WORK/queries"
for i in $(seq 1 10000); do echo "n$i.allowed.test A"; done >"$WORK/distinct"

# dnsperf_in WHERE ARGS...: run dnsperf in the client netns, directly or in the container's
# cgroup (redirected to the proxy). Bounded by a timeout on top of dnsperf's own -l / -n.
dnsperf_in() {
	local where=$1
	shift
	case "$where" in
	direct) timeout 200 ip netns exec "$WORLD-c" dnsperf "$@" ;;
	proxy) timeout 200 nsenter --net="/proc/$PID/ns/net" sh -c 'echo $$ >"$0/cgroup.procs" && exec dnsperf "$@"' "$CGDIR" "$@" ;;
	esac
}

proxy_queries() { timeout 10 "${RT[@]}" report "${1:-$ID}" | jq -r .totals.dns_queries; }
rss_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SIDECAR/status"; }

echo "dns.sh: world $WORLD, container $ID (init $PID), sidecar $SIDECAR, cgroup $CGDIR" >&2

# latency_phase WHERE ROUND HALF: per-response latencies (µs) appended to $WORK/lat.WHERE (all
# rounds) and $WORK/lat.WHERE.ROUND (this round).
latency_phase() {
	local out=$WORK/lat.$1.$2$3.out
	dnsperf_in "$1" -s "$DNS" -d "$WORK/queries" -l "$LAT_SECONDS" -Q "$LAT_QPS" -c 1 -t 2 -v >"$out" 2>&1 || true
	awk '$1 == ">" && $2 == "NOERROR" { printf "%d\n", $NF * 1000000 + 0.5 }' "$out" | tee -a "$WORK/lat.$1.$2" >>"$WORK/lat.$1"
	awk '$1 == ">" && $2 != "NOERROR"' "$out" | wc -l >>"$WORK/errors.$1"
}
# throughput_phase WHERE ROUND HALF: qps appended to $WORK/qps.WHERE and $WORK/qps.WHERE.ROUND.
throughput_phase() {
	local out=$WORK/tp.$1.$2$3.out
	dnsperf_in "$1" -s "$DNS" -d "$WORK/queries" -l "$TP_SECONDS" -c "$CLIENTS" -q "$OUTSTANDING" -t 2 >"$out" 2>&1 || true
	awk '/Queries per second:/ { print $4 }' "$out" | tee -a "$WORK/qps.$1.$2" >>"$WORK/qps.$1"
	awk '/Queries lost:/ { print $3 }' "$out" >>"$WORK/lost.$1"
}

# CPU time the sidecar's thread spent (ns, /proc/PID/schedstat): per query, the proxy's cost
# on its own, whatever else the machine runs.
cpu_ns() { awk '{ print $1 }' "/proc/$SIDECAR/schedstat"; }
q0=$(proxy_queries)
# warm-up, both sides
dnsperf_in direct -s "$DNS" -d "$WORK/queries" -l 1 -Q 1000 >/dev/null 2>&1 || true
dnsperf_in proxy -s "$DNS" -d "$WORK/queries" -l 1 -Q 1000 >/dev/null 2>&1 || true
cpu0=$(cpu_ns)
for ((r = 1; r <= ROUNDS; r++)); do
	echo "dns.sh: round $r/$ROUNDS" >&2
	latency_phase direct "$r" a; latency_phase proxy "$r" a; latency_phase proxy "$r" b; latency_phase direct "$r" b
	throughput_phase direct "$r" a; throughput_phase proxy "$r" a; throughput_phase proxy "$r" b; throughput_phase direct "$r" b
done
cpu1=$(cpu_ns)
sleep 1.2
q1=$(proxy_queries)
RSS_END=$(rss_kib VmRSS)
HWM_END=$(rss_kib VmHWM)

# Memory: a fresh container, 10k queries for 10k distinct names through its proxy (and the
# proof that it is the proxy that answered them).
start_container "$MEM_ID"
echo "dns.sh: memory container $MEM_ID, sidecar $SIDECAR" >&2
RSS_START=$(rss_kib VmRSS) ANON_START=$(rss_kib RssAnon) FILE_START=$(rss_kib RssFile)
m0=$(proxy_queries "$MEM_ID")
dnsperf_in proxy -s "$DNS" -d "$WORK/distinct" -n 1 -Q 5000 -c 1 -t 2 >"$WORK/distinct.out" 2>&1
sleep 1.2 # the report is rewritten once a second
m1=$(proxy_queries "$MEM_ID")
sent=$(awk '/Queries sent:/ { print $3 }' "$WORK/distinct.out")
if [ $((m1 - m0)) -lt $((sent * 9 / 10)) ] || [ "$sent" -lt 10000 ]; then
	echo "dns.sh: the proxy counted $((m1 - m0)) queries of $sent sent: traffic not redirected; refusing to report" >&2
	cat "$WORK/distinct.out" >&2
	exit 1
fi
RSS_10K=$(rss_kib VmRSS) ANON_10K=$(rss_kib RssAnon) FILE_10K=$(rss_kib RssFile) HWM_10K=$(rss_kib VmHWM)

pct() { sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { i = int(p / 100 * NR + 0.999999); if (i < 1) i = 1; print v[i] }'; }
mean() { awk '{ s += $1; n++ } END { printf "%.0f", n ? s / n : 0 }' "$1"; }
sum() { awk '{ s += $1 } END { print s + 0 }' "$1"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }

for w in direct proxy; do
	for ((r = 1; r <= ROUNDS; r++)); do
		[ -s "$WORK/lat.$w.$r" ] || { echo "dns.sh: no latency samples for $w in round $r; dnsperf said:" >&2; tail -5 "$WORK"/lat."$w".$r*.out >&2; exit 1; }
		[ -s "$WORK/qps.$w.$r" ] || { echo "dns.sh: no throughput for $w in round $r; dnsperf said:" >&2; tail -5 "$WORK"/tp."$w".$r*.out >&2; exit 1; }
	done
done
if [ $((q1 - q0)) -lt 1000 ]; then
	echo "dns.sh: the proxy counted only $((q1 - q0)) queries during the proxy phases: not redirected; refusing to report" >&2
	exit 1
fi
# Per round: added p50, added p99, qps ratio (proxy/direct, the sides' phases summed).
for ((r = 1; r <= ROUNDS; r++)); do
	echo "$(($(pct "$WORK/lat.proxy.$r" 50) - $(pct "$WORK/lat.direct.$r" 50))) $(($(pct "$WORK/lat.proxy.$r" 99) - $(pct "$WORK/lat.direct.$r" 99))) $(awk -v a="$(sum "$WORK/qps.proxy.$r")" -v b="$(sum "$WORK/qps.direct.$r")" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')"
done >"$WORK/rounds"
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$1" '{ print $c }' "$WORK/rounds"; }
ADD50=$(col 1 | median) ADD99=$(col 2 | median) RATIO=$(col 3 | median)

echo
echo "dns: dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ { print $2 }'), $ROUNDS rounds (ABBA), host $(uname -r), $(nproc) cpus"
echo "  latency phase: ${LAT_QPS} qps x ${LAT_SECONDS}s x $((2 * ROUNDS)) per side, 1 client; per-response latencies (dnsperf -v)"
printf '  %-8s %8s %8s %8s %10s %8s\n' side p50_us p99_us mean_us responses errors
for w in direct proxy; do
	printf '  %-8s %8s %8s %8s %10s %8s\n' "$w" "$(pct "$WORK/lat.$w" 50)" "$(pct "$WORK/lat.$w" 99)" \
		"$(mean "$WORK/lat.$w")" "$(wc -l <"$WORK/lat.$w")" "$(sum "$WORK/errors.$w")"
done
echo "  throughput phase: unlimited rate, -c $CLIENTS -q $OUTSTANDING, ${TP_SECONDS}s x $((2 * ROUNDS)) per side"
printf '  %-8s %10s %12s %10s\n' side mean_qps runs_qps lost
for w in direct proxy; do
	printf '  %-8s %10s %12s %10s\n' "$w" "$(mean "$WORK/qps.$w")" "$(awk '{ printf "%s%.0f", s, $1; s = "/" }' "$WORK/qps.$w")" "$(sum "$WORK/lost.$w")"
done
echo "  proxy counted $((q1 - q0)) queries during the phases; sidecar CPU $(((cpu1 - cpu0) / 1000000)) ms, $(((cpu1 - cpu0) / (q1 - q0 > 0 ? q1 - q0 : 1))) ns per query (both phases)"
echo
echo "  per round (added p50 us, added p99 us, qps ratio): $(awk '{ printf "%s[%s %s %s]", s, $1, $2, $3; s = " " }' "$WORK/rounds")"
echo
echo "added latency p50: $ADD50 us   (median of $ROUNDS rounds; range $(col 1 | sort -g | sed -n '1p;$p' | paste -sd/); target <= +50 us)"
echo "added latency p99: $ADD99 us   (median of $ROUNDS rounds; range $(col 2 | sort -g | sed -n '1p;$p' | paste -sd/); target <= +200 us)"
echo "throughput ratio proxy/direct: $RATIO   (median of $ROUNDS rounds; range $(col 3 | sort -g | sed -n '1p;$p' | paste -sd/); target >= 0.80)"
echo "sidecar VmRSS after 10k queries (10k distinct names, fresh sidecar): $(mib "$RSS_10K") MiB (anon $(mib "$ANON_10K"), file $(mib "$FILE_10K")), peak VmHWM $(mib "$HWM_10K") MiB   (target <= 8 MiB)"
echo "  same sidecar at start: $(mib "$RSS_START") MiB (anon $(mib "$ANON_START"), file $(mib "$FILE_START"))"
echo "  perf sidecar after all phases ($((q1 - q0)) queries): VmRSS $(mib "$RSS_END") MiB, VmHWM $(mib "$HWM_END") MiB"
