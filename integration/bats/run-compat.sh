#!/usr/bin/env bash
# run-compat.sh [--pure-v2] [--with-long] [BATS_ARGS...]: the runc-compatibility suite
# (its own files in integration/bats; not the firewall/CRI suites) against $RUNTIME
# (default <repo>/target/release/cgfw-runc; RUNTIME=/usr/sbin/runc validates the suite itself).
#   --pure-v2    run it inside hack/pure-v2.sh (cgroup2-only view of a hybrid host)
#   --with-long  also the long leak test (CGFW_LONG=1)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WRAP=()
while [ $# -gt 0 ]; do
	case "$1" in
	--pure-v2) WRAP=("$REPO/hack/pure-v2.sh"); shift ;;
	--with-long) export CGFW_LONG=1; shift ;;
	*) break ;;
	esac
done
# The compat suite's own files (other *.bats here belong to the firewall/CRI suites).
files=()
for f in create kill delete run exec tty ps pause list events features errors podman containerd leak; do
	files+=("$HERE/$f.bats")
done
cd "$REPO"
exec "${WRAP[@]}" bats "$@" "${files[@]}"
