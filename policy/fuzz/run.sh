#!/usr/bin/env bash
# Run the annotation-parser fuzz target for a bounded time.
# Usage: policy/fuzz/run.sh [SECONDS]   (default 60; CI uses 60)
# Needs a nightly toolchain (cargo +nightly); installs cargo-fuzz if missing.
set -euo pipefail

seconds="${1:-60}"
case "$seconds" in
    ''|*[!0-9]*) echo "usage: $0 SECONDS" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# shellcheck source=../../hack/fuzz-prepare.sh
. "$here/../../hack/fuzz-prepare.sh"
mkdir -p corpus/annotations
# Checked-in seeds are read as a second corpus directory; new inputs go to corpus/ (ignored).
cargo +nightly fuzz run annotations corpus/annotations seeds -- \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1
