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

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: a nightly toolchain is required (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# Own target dir: never contend for the main workspace's build lock.
export CARGO_TARGET_DIR="${CARGO_FUZZ_TARGET_DIR:-$here/target}"
mkdir -p corpus/annotations
# Checked-in seeds are read as a second corpus directory; new inputs go to corpus/ (ignored).
cargo +nightly fuzz run annotations corpus/annotations seeds -- \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1
