#!/usr/bin/env bash
# Run the DNS proxy fuzz targets (dns_query, dns_answer) for a bounded time each.
# Usage: runtime/fuzz/run.sh [SECONDS] [TARGET...]   (default 60 s; both targets)
# Needs a nightly toolchain (cargo +nightly); installs cargo-fuzz if missing. The targets
# compile runtime/src/sidecar/dns.rs by path (the runtime has no lib target yet).
set -euo pipefail

seconds="${1:-60}"
case "$seconds" in
    ''|*[!0-9]*) echo "usage: $0 SECONDS [TARGET...]" >&2; exit 2 ;;
esac
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(dns_query dns_answer)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# shellcheck source=../../hack/fuzz-prepare.sh
. "$here/../../hack/fuzz-prepare.sh"
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    # Checked-in seeds are a second corpus directory; new inputs go to corpus/ (ignored).
    # -rss_limit_mb: "no unbounded memory" (a 64 KiB input must not need more).
    cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=1024 -print_final_stats=1
done
