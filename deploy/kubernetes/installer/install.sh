#!/bin/sh
# cgfw-runc node installer, run by daemonset.yaml's init container with the host's / at $HOST.
#  1. installs /cgfw/cgfw-runc as $HOST/usr/local/bin/cgfw-runc (atomically: containerd may exec
#     it at any moment), after checking that it runs on the node (`chroot $HOST ... features`);
#  2. adds the "cgfw" runtime handler to containerd's config (idempotent, between markers), in
#     the file's layout (version 2: containerd 1.6/1.7, version 3: containerd 2.x), with
#     SystemdCgroup copied from the node's runc runtime;
#  3. restarts containerd if CGFW_RESTART_CONTAINERD=true and the config changed (running
#     containers survive a containerd restart: their shims keep running).
set -eu
HOST=${HOST:-/host}
SRC=${CGFW_SRC:-/cgfw} # the image's files (binary, containerd-cgfw.toml, containerd2-cgfw.toml)
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

# 2. containerd config. Two layouts (containerd's docs/cri/config.md):
#    version = 2 (containerd 1.6/1.7; 2.x still reads it, converting it to version 3):
#      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.NAME]
#    version = 3 (containerd 2.x only):
#      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.NAME]
#    Version 1 (no `version` line: containerd 1.x's oldest layout, which containerd 2.x no longer
#    reads) and unknown versions are left alone with a message: `containerd config migrate`
#    (2.x) or `containerd config default` (1.x) makes a current file.
f=$HOST$CONF
mkdir -p "$(dirname "$f")"

# config_version FILE: the top-level `version` (before the first table), empty if none.
config_version() {
	awk '/^[[:space:]]*\[/ { exit } /^[[:space:]]*version[[:space:]]*=/ { v = $0; sub(/^[^=]*=[[:space:]]*/, "", v); sub(/[[:space:]#].*$/, "", v); print v; exit }' "$1"
}
# fresh_version: the layout for a new file: 3 for the node's containerd 2.x, else 2 (which every
# containerd from 1.3 on reads). CONTAINERD_CONFIG_VERSION overrides.
fresh_version() {
	if [ -n "${CONTAINERD_CONFIG_VERSION:-}" ]; then
		echo "$CONTAINERD_CONFIG_VERSION"
		return
	fi
	# "containerd github.com/containerd/containerd v2.0.2 <commit>" (1.x: "1.6.20~ds1 ...").
	major=$(chroot "$HOST" containerd --version 2>/dev/null | awk '{ v = $3; sub(/^v/, "", v); sub(/\..*$/, "", v); print v }')
	case "$major" in
	[2-9] | [1-9][0-9]) echo 3 ;;
	*) echo 2 ;;
	esac
}
# table_value FILE TABLE KEY: the value of KEY in table [TABLE] (the header compared without
# blanks, either quote style), empty if absent.
table_value() {
	awk -v t="[$2]" -v k="$3" '
		function norm(s) { gsub(/[[:space:]]/, "", s); gsub(/\047/, "\"", s); return s }
		BEGIN { t = norm(t) }
		/^[[:space:]]*\[/ { in_t = (norm($0) == t); next }
		in_t && $0 ~ "^[[:space:]]*" k "[[:space:]]*=" { v = $0; sub(/^[^=]*=[[:space:]]*/, "", v); sub(/[[:space:]#].*$/, "", v); print v; exit }
	' "$1"
}
# has_table FILE TABLE: [TABLE] is defined (either quote style, any blanks).
has_table() {
	awk -v t="[$2]" '
		function norm(s) { gsub(/[[:space:]]/, "", s); gsub(/\047/, "\"", s); return s }
		BEGIN { t = norm(t) }
		/^[[:space:]]*\[/ && norm($0) == t { found = 1; exit }
		END { exit !found }
	' "$1"
}

# A missing file, or one with nothing but comments and blank lines, gets a version line.
if [ ! -f "$f" ] || ! grep -Eqv '^[[:space:]]*(#.*)?$' "$f"; then
	v=$(fresh_version)
	{ [ -f "$f" ] && cat "$f"; echo "version = $v"; } >"$f.cgfw-new" && mv -f "$f.cgfw-new" "$f"
	log "$CONF had no settings: started it as a version $v config"
fi
version=$(config_version "$f")
case "$version" in
2)
	plugin='plugins."io.containerd.grpc.v1.cri".containerd'
	snippet_file=$SRC/containerd-cgfw.toml
	;;
3)
	plugin='plugins."io.containerd.cri.v1.runtime".containerd'
	snippet_file=$SRC/containerd2-cgfw.toml
	;;
'' | 1)
	log "$CONF is a version 1 containerd config (no 'version = 2' or '3' line), which this installer does not edit and containerd 2.x no longer reads; migrate it ('containerd config migrate' on 2.x, 'containerd config default' on 1.x), or add deploy/kubernetes/containerd-cgfw.toml's handler by hand"
	exit 1
	;;
*)
	log "$CONF has config version '$version', which this installer does not know (2: containerd 1.6/1.7, 3: containerd 2.x); add the cgfw handler by hand"
	exit 1
	;;
esac
# SystemdCgroup as the node's runc runtime has it, in this layout's table (default false).
systemd=false
[ "$(table_value "$f" "$plugin.runtimes.runc.options" SystemdCgroup)" = true ] && systemd=true
snippet=$(sed "s/SystemdCgroup = true/SystemdCgroup = $systemd/" "$snippet_file" | grep -v '^#')
new=$(mktemp)
# Drop an earlier managed block, then append the current one.
awk -v b="$BEGIN" -v e="$END" '$0 == b {skip = 1} !skip {print} $0 == e {skip = 0}' "$f" >"$new"
if has_table "$new" "$plugin.runtimes.cgfw"; then
	rm -f "$new"
	log "$CONF already defines runtimes.cgfw outside our block; leaving it as it is"
	changed=false
else
	printf '%s\n%s\n%s\n' "$BEGIN" "$snippet" "$END" >>"$new"
	if cmp -s "$new" "$f"; then
		changed=false
		rm -f "$new"
		log "$CONF already has the current cgfw handler (config version $version)"
	else
		cp "$f" "$f.cgfw-backup"
		cat "$new" >"$f"
		rm -f "$new"
		changed=true
		log "added runtime handler cgfw to $CONF (config version $version, SystemdCgroup = $systemd; backup: $CONF.cgfw-backup)"
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
