#!/usr/bin/env bash
# Builds cgfw-runc as it was at git revision REV and prints the binary's path. For the upgrade
# test (integration/bats/upgrade.bats): a container made by an older build must keep working
# and be deleted cleanly by this one. The old tree is a detached worktree under target/, built
# in its own target dir (the current build's target/release is left alone); a second call
# reuses it.
#   hack/build-at.sh REV
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: hack/build-at.sh REV}
if ! sha=$(git rev-parse --verify --quiet "$rev^{commit}"); then
	# A shallow clone may lack it: ask the origin for that commit once.
	git fetch --quiet origin "$rev" >&2 2>/dev/null || true
	sha=$(git rev-parse --verify --quiet "$rev^{commit}") || {
		echo "build-at: revision $rev is not in this clone (shallow?) and could not be fetched" >&2
		exit 3
	}
fi
tree=$PWD/target/at-${sha:0:12}
bin=$tree/target/release/cgfw-runc
if [ ! -x "$bin" ]; then
	if [ ! -d "$tree/.git" ] && [ ! -f "$tree/.git" ]; then
		rm -rf "$tree"
		git worktree add --detach "$tree" "$sha" >&2
	fi
	(cd "$tree" && nice -n 5 cargo build --release --locked -p cgfw-runc >&2)
fi
echo "$bin"
