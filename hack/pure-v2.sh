#!/usr/bin/env bash
# pure-v2.sh CMD [ARGS...]: run CMD where /sys/fs/cgroup is the cgroup2 hierarchy alone, as on a
# pure cgroup v2 host. On a hybrid host (v1 controllers under /sys/fs/cgroup/*, cgroup2 at
# /sys/fs/cgroup/unified) this bind-mounts the unified hierarchy over /sys/fs/cgroup in a private
# mount namespace; nothing changes for the rest of the machine. On a host that is already pure
# v2 it just runs CMD. Exits with CMD's exit code. Needs root.
#
#   hack/pure-v2.sh bats integration/bats
#   RUNTIME=/usr/sbin/runc hack/pure-v2.sh bats integration/bats
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

CG2_MAGIC=63677270
fstype() { stat -f -c %t "$1" 2>/dev/null || echo none; }

if [ "$(fstype /sys/fs/cgroup)" = "$CG2_MAGIC" ]; then
	exec "$@"
fi
[ "$(fstype /sys/fs/cgroup/unified)" = "$CG2_MAGIC" ] || {
	echo "pure-v2: no cgroup2 mount at /sys/fs/cgroup/unified" >&2
	exit 1
}
export CGFW_PURE_V2=1
exec unshare -m --propagation private bash -c '
	set -e
	mount --make-rprivate /
	mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup
	exec "$@"' pure-v2 "$@"
