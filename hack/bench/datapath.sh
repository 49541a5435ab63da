#!/usr/bin/env bash
# Datapath overhead of the cgfw BPF programs: TCP throughput (iperf3) and connect() rate
# between two test network namespaces, from a cgroup v2 with the programs attached (the
# destination allowed) vs the same cgroup with nothing attached. Rounds alternate so both
# sides see the same machine state. Prints the ratios. Root only; test addresses only
# (198.18.0.0/24 inside namespaces this script creates); everything is removed on exit.
#
#   hack/bench/datapath.sh [ROUNDS=3] [SECONDS=5] [CONNECTS=3000]
set -euo pipefail
ROUNDS=${1:-3}
SECS=${2:-5}
CONNECTS=${3:-3000}
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-ebpf}
cargo build -q --release -p ebpf --example attach --example connect_loop
BIN=$CARGO_TARGET_DIR/release/examples

if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then CGROOT=/sys/fs/cgroup; else CGROOT=/sys/fs/cgroup/unified; fi
ID=$$
C=cgfwb-c-$ID; W=cgfwb-w-$ID; CG=$CGROOT/cgfw-bench-$ID; PIN=/sys/fs/bpf/cgfw-bench-$ID
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$PIN" 2>/dev/null || true
  if [ -d "$CG" ]; then
    for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    sleep 0.2; rmdir "$CG" 2>/dev/null || true
  fi
  ip netns del "$C" 2>/dev/null || true
  ip netns del "$W" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$C"; ip netns add "$W"
ip link add "bc$ID" netns "$C" type veth peer name "bw$ID" netns "$W"
ip -n "$C" link set lo up; ip -n "$C" link set "bc$ID" up; ip -n "$C" addr add 198.18.0.1/24 dev "bc$ID"
ip -n "$W" link set lo up; ip -n "$W" link set "bw$ID" up; ip -n "$W" addr add 198.18.0.2/24 dev "bw$ID"
mkdir "$CG"

ip netns exec "$W" iperf3 -s -p 5201 >/dev/null 2>&1 & PIDS+=($!)
ip netns exec "$W" "$BIN/connect_loop" serve 198.18.0.2:9000 3600 & PIDS+=($!)
sleep 0.5

# Join the cgroup first: `ip netns exec` remounts /sys, hiding the cgroup mounts.
in_cg() { sh -c 'echo $$ > "$0/cgroup.procs" && exec ip netns exec "$@"' "$CG" "$C" "$@"; }
attach() { "$BIN/attach" "$CG" --allow-ip 198.18.0.2 --pin "$PIN" --exit >/dev/null; }
detach() { rm -rf "$PIN"; }   # removing the pins detaches (nothing else holds the links)
tput_gbps() { in_cg iperf3 -c 198.18.0.2 -p 5201 -t "$SECS" -J | grep -m1 -A8 '"sum_received"' | sed -n 's/.*"bits_per_second":[[:space:]]*\([0-9.e+]*\).*/\1/p' | awk '{printf "%.3f", $1/1e9}'; }
crate() { in_cg "$BIN/connect_loop" run 198.18.0.2:9000 "$CONNECTS" | awk '{print $1}'; }

# sanity: with programs attached, a non-allowed address is refused.
attach
if in_cg "$BIN/connect_loop" run 198.18.0.3:9000 1 | grep -q ' 1$'; then echo "firewall not enforcing" >&2; exit 1; fi
detach

declare -a T0 T1 R0 R1
for r in $(seq 1 "$ROUNDS"); do
  T0+=("$(tput_gbps)"); R0+=("$(crate)")
  attach; T1+=("$(tput_gbps)"); R1+=("$(crate)"); detach
  echo "round $r: throughput none ${T0[-1]} Gbit/s, cgfw ${T1[-1]} Gbit/s; connects/s none ${R0[-1]}, cgfw ${R1[-1]}"
done
mean() { printf '%s\n' "$@" | awk '{s+=$1} END {printf "%.3f", s/NR}'; }
mt0=$(mean "${T0[@]}"); mt1=$(mean "${T1[@]}"); mr0=$(mean "${R0[@]}"); mr1=$(mean "${R1[@]}")
echo "throughput: none $mt0 Gbit/s, cgfw $mt1 Gbit/s, ratio $(awk -v a="$mt1" -v b="$mt0" 'BEGIN{printf "%.3f", a/b}') (target >= 0.97)"
echo "connect():  none $mr0 /s, cgfw $mr1 /s, ratio $(awk -v a="$mr1" -v b="$mr0" 'BEGIN{printf "%.3f", a/b}')"
