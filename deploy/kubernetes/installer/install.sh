#!/bin/sh
# cgfw-runc node installer, run by daemonset.yaml's init container with the host's / at $HOST.
#  1. installs /cgfw/cgfw-runc as $HOST/usr/local/bin/cgfw-runc (atomically: containerd may exec
#     it at any moment), after checking that it runs on the node (`chroot $HOST ... features`);
#  2. adds the "cgfw" runtime handler to containerd's config (idempotent, between markers),
#     with SystemdCgroup copied from the node's runc runtime;
#  3. restarts containerd if CGFW_RESTART_CONTAINERD=true and the config changed (running
#     containers survive a containerd restart: their shims keep running).
set -eu
HOST=${HOST:-/host}
SRC=${CGFW_SRC:-/cgfw} # the image's files (binary, containerd-cgfw.toml)
CONF=${CONTAINERD_CONFIG:-/etc/containerd/config.toml}
BEGIN="# BEGIN cgfw-runc (managed by the cgfw-runc installer DaemonSet)"
END="# END cgfw-runc"

log() { echo "cgfw-install: $*"; }

# 1. Binary.
install -D -m 0755 "$SRC/cgfw-runc" "$HOST/usr/local/bin/.cgfw-runc.new"
if ! chroot "$HOST" /usr/local/bin/.cgfw-runc.new features >/dev/null; then
	rm -f "$HOST/usr/local/bin/.cgfw-runc.new"
	log "cgfw-runc does not run on this node (glibc/libseccomp2 missing or too old); not installed"
	exit 1
fi
mv -f "$HOST/usr/local/bin/.cgfw-runc.new" "$HOST/usr/local/bin/cgfw-runc"
log "installed /usr/local/bin/cgfw-runc"

# 2. containerd config.
f=$HOST$CONF
mkdir -p "$(dirname "$f")"
[ -f "$f" ] || echo "version = 2" >"$f"
if ! grep -Eq '^[[:space:]]*version[[:space:]]*=[[:space:]]*2' "$f"; then
	log "$CONF is not a containerd 1.6/1.7 'version = 2' config; add deploy/kubernetes/containerd-cgfw.toml by hand"
	exit 1
fi
systemd=false
grep -Eq '^[[:space:]]*SystemdCgroup[[:space:]]*=[[:space:]]*true' "$f" && systemd=true
snippet=$(sed "s/SystemdCgroup = true/SystemdCgroup = $systemd/" "$SRC/containerd-cgfw.toml" | grep -v '^#')
new=$(mktemp)
# Drop an earlier managed block, then append the current one.
awk -v b="$BEGIN" -v e="$END" '$0 == b {skip = 1} !skip {print} $0 == e {skip = 0}' "$f" >"$new"
if grep -q 'containerd.runtimes.cgfw\]' "$new"; then
	rm -f "$new"
	log "$CONF already defines runtimes.cgfw outside our block; leaving it as it is"
	changed=false
else
	printf '%s\n%s\n%s\n' "$BEGIN" "$snippet" "$END" >>"$new"
	if cmp -s "$new" "$f"; then
		changed=false
		rm -f "$new"
	else
		cp "$f" "$f.cgfw-backup"
		cat "$new" >"$f"
		rm -f "$new"
		changed=true
		log "added runtime handler cgfw to $CONF (SystemdCgroup = $systemd; backup: $CONF.cgfw-backup)"
	fi
fi

# 3. Restart.
if [ "$changed" = true ]; then
	if [ "${CGFW_RESTART_CONTAINERD:-false}" = true ]; then
		log "restarting containerd"
		nsenter -t 1 -m -u -i -n -p -- systemctl restart containerd
	else
		log "containerd must be restarted to load the handler: systemctl restart containerd"
	fi
fi
log "done"
