#!/usr/bin/env bats
# The Kubernetes node installer (deploy/kubernetes/installer/install.sh) against containerd
# config fixtures in both layouts: version 2 (containerd 1.6/1.7) and version 3 (containerd 2.x),
# fresh, existing, already installed, with a handler of the user's own, and the layouts it
# refuses (version 1, unknown). Each result is parsed as TOML (python3 tomllib) and its tables
# checked; a version 2 result is loaded by the real containerd 1.6 here (a private one, as
# integration/containerd/containerd.sh runs it, with the CRI plugin on). containerd 2.x is not
# installable here (Debian 12 ships 1.6): the version 3 results are checked as TOML only.
#
# HOST (the node's / as the DaemonSet mounts it) is an overlay of this machine's / with a
# per-test upper dir: the installer's `chroot $HOST cgfw-runc features` runs for real, and
# what it writes (binary, config) lands in the upper dir, never on this machine.
#
#   RUNTIME=... bats integration/bats/installer.bats     (root; a few seconds)

load helpers

INSTALL=$REPO_ROOT/deploy/kubernetes/installer/install.sh
CONF=/etc/cgfw-installer-test/containerd/config.toml
V3="plugins.'io.containerd.cri.v1.runtime'.containerd"

setup_file() {
	[ "$(id -u)" = 0 ] || skip "needs root (overlay mount, chroot)"
	require_runtime
	export PY=/usr/bin/python3
	"$PY" -c 'import tomllib' 2>/dev/null || skip "python3 >= 3.11 (tomllib) not installed"
}

setup() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/cgfw-inst.XXXXXX")
	mkdir -p "$T/upper" "$T/work" "$T/host" "$T/src" "$T/bin"
	mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/host"
	HOST=$T/host
	F=$HOST$CONF
	cp "$RUNTIME" "$T/src/cgfw-runc"
	cp "$REPO_ROOT"/deploy/kubernetes/containerd-cgfw.toml "$REPO_ROOT"/deploy/kubernetes/containerd2-cgfw.toml "$T/src/"
	# The installer image (debian:12-slim) has mawk as its awk, and dash as /bin/sh.
	ln -s "$(command -v mawk || command -v awk)" "$T/bin/awk"
	mkdir -p "$(dirname "$F")"
}

teardown() {
	[ -n "${T:-}" ] || return 0
	[ -n "${CTRD:-}" ] && "$REPO_ROOT/integration/containerd/containerd.sh" stop "$CTRD" >/dev/null 2>&1 || true
	umount "$T/host" 2>/dev/null || umount -l "$T/host" 2>/dev/null || true
	rm -rf "$T"
}

# install [ENV=VALUE...]: run the installer as the DaemonSet does (sh, HOST, CGFW_SRC).
install() {
	run env PATH="$T/bin:$PATH" HOST="$HOST" CGFW_SRC="$T/src" CONTAINERD_CONFIG="$CONF" "$@" sh "$INSTALL"
	echo "install.sh (status $status): $output"
}

# toml EXPR: parse the result as TOML and print the Python expression EXPR over it (`c`).
toml() {
	"$PY" -c 'import sys, tomllib, json
c = tomllib.load(open(sys.argv[1], "rb"))
print(json.dumps(eval(sys.argv[2])))' "$F" "$1"
}

# cgfw_table LAYOUT: the cgfw handler's table of that layout, as JSON (null if none).
cgfw_table() {
	case $1 in
	2) toml 'c.get("plugins", {}).get("io.containerd.grpc.v1.cri", {}).get("containerd", {}).get("runtimes", {}).get("cgfw")' ;;
	3) toml 'c.get("plugins", {}).get("io.containerd.cri.v1.runtime", {}).get("containerd", {}).get("runtimes", {}).get("cgfw")' ;;
	esac
}

# assert_handler LAYOUT SYSTEMD: the handler is there, complete, with SystemdCgroup = SYSTEMD,
# and not in the other layout's tables.
assert_handler() {
	local t other=$((5 - $1))
	t=$(cgfw_table "$1")
	echo "handler ($1): $t"
	[ "$(jq -r .runtime_type <<<"$t")" = io.containerd.runc.v2 ]
	[ "$(jq -c .pod_annotations <<<"$t")" = '["cgfw.io/*"]' ]
	[ "$(jq -r .options.BinaryName <<<"$t")" = /usr/local/bin/cgfw-runc ]
	[ "$(jq -r .options.SystemdCgroup <<<"$t")" = "$2" ]
	[ "$(cgfw_table "$other")" = null ]
	[ "$(toml 'c["version"]')" = "$1" ]
	[ "$(grep -c '^# BEGIN cgfw-runc' "$F")" = 1 ]
}

@test "installer: a node without a containerd config (containerd 1.6 here) gets a version 2 file with the handler, and the binary" {
	install
	[ "$status" -eq 0 ]
	[[ $output == *"version 2"* ]]
	assert_handler 2 false
	cmp "$HOST/usr/local/bin/cgfw-runc" "$RUNTIME"
	[ ! -e /usr/local/bin/.cgfw-runc.new ]
}

@test "installer: a fresh config for containerd 2.x is version 3" {
	install CONTAINERD_CONFIG_VERSION=3
	[ "$status" -eq 0 ]
	assert_handler 3 false
}

@test "installer: an existing version 2 config keeps its settings; SystemdCgroup comes from its runc runtime" {
	cat >"$F" <<-'EOF'
		version = 2
		oom_score = -999
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "registry.k8s.io/pause:3.9"
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        SystemdCgroup = true
	EOF
	install
	[ "$status" -eq 0 ]
	assert_handler 2 true
	[ "$(toml 'c["oom_score"]')" = -999 ]
	[ "$(toml 'c["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"]')" = true ]
	cmp "$F.cgfw-backup" <(sed -n '1,/SystemdCgroup = true/p' "$F")
}

@test "installer: SystemdCgroup is read from the layout's runc table only" {
	# version 2 file whose only SystemdCgroup = true belongs to another runtime: false.
	cat >"$F" <<-'EOF'
		version = 2
		[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		  SystemdCgroup = false
		[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata.options]
		  SystemdCgroup = true
	EOF
	install
	[ "$status" -eq 0 ]
	assert_handler 2 false
}

@test "installer: an existing version 3 config (containerd 2.x's layout, single quotes) gets the version 3 handler" {
	cat >"$F" <<-'EOF'
		version = 3
		[plugins]
		  [plugins.'io.containerd.cri.v1.images']
		    snapshotter = 'overlayfs'
		  [plugins.'io.containerd.cri.v1.runtime']
		    enable_cdi = true
		    [plugins.'io.containerd.cri.v1.runtime'.containerd]
		      default_runtime_name = 'runc'
		      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes]
		        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
		          runtime_type = 'io.containerd.runc.v2'
		          [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
		            BinaryName = ''
		            SystemdCgroup = true
		  [plugins.'io.containerd.grpc.v1.cri']
		    stream_server_address = '127.0.0.1'
	EOF
	install
	[ "$status" -eq 0 ]
	[[ $output == *"config version 3"* ]]
	assert_handler 3 true
	[ "$(toml 'c["plugins"]["io.containerd.cri.v1.images"]["snapshotter"]')" = '"overlayfs"' ]
	# The version 2 layout's runc SystemdCgroup does not count in a version 3 file.
	sed -i 's/SystemdCgroup = true/SystemdCgroup = false/' "$F"
	printf '%s\n' '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]' '  SystemdCgroup = true' >>"$F"
	install
	[ "$status" -eq 0 ]
	[ "$(jq -r .options.SystemdCgroup <<<"$(cgfw_table 3)")" = false ]
}

@test "installer: running it again changes nothing (both layouts); a changed runc driver replaces the block" {
	local v before
	for v in 2 3; do
		rm -f "$F" "$F.cgfw-backup"
		install CONTAINERD_CONFIG_VERSION=$v
		[ "$status" -eq 0 ]
		before=$(sha256sum <"$F")
		install CONTAINERD_CONFIG_VERSION=$v
		[ "$status" -eq 0 ]
		[[ $output == *"already has the current cgfw handler"* ]]
		[[ $output != *"containerd must be restarted"* ]]
		[ "$(sha256sum <"$F")" = "$before" ]
		assert_handler "$v" false
	done
	# The node's runc (version 3 file) switches to the systemd driver: one block, now true.
	printf '%s\n' "[$V3.runtimes.runc.options]" '  SystemdCgroup = true' >>"$F"
	install
	[ "$status" -eq 0 ]
	[[ $output == *"added runtime handler cgfw"* ]]
	assert_handler 3 true
}

@test "installer: a cgfw handler of the user's own is left alone (both layouts)" {
	cat >"$F" <<-'EOF'
		version = 2
		[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.cgfw]
		  runtime_type = "io.containerd.runc.v2"
		  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.cgfw.options]
		    BinaryName = "/opt/cgfw/cgfw-runc"
	EOF
	cp "$F" "$T/orig"
	install
	[ "$status" -eq 0 ]
	[[ $output == *"already defines runtimes.cgfw outside our block"* ]]
	cmp "$F" "$T/orig"
	cat >"$F" <<-'EOF'
		version = 3
		[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.cgfw]
		  runtime_type = 'io.containerd.runc.v2'
	EOF
	cp "$F" "$T/orig"
	install
	[ "$status" -eq 0 ]
	[[ $output == *"already defines runtimes.cgfw outside our block"* ]]
	cmp "$F" "$T/orig"
}

@test "installer: version 1 and unknown versions are refused, the file untouched" {
	cat >"$F" <<-'EOF'
		[plugins.cri.containerd]
		  snapshotter = "overlayfs"
	EOF
	cp "$F" "$T/orig"
	install
	[ "$status" -eq 1 ]
	[[ $output == *"version 1 containerd config"* ]]
	cmp "$F" "$T/orig"
	printf 'version = 4\n' >"$F"
	install
	[ "$status" -eq 1 ]
	[[ $output == *"config version '4'"* ]]
	[ "$(cat "$F")" = "version = 4" ]
	# A `version` key inside a table is not the file's version.
	printf '[plugins.x]\nversion = 2\n' >"$F"
	install
	[ "$status" -eq 1 ]
	[[ $output == *"version 1 containerd config"* ]]
}

@test "installer: containerd 1.6 loads the version 2 result, with the cgfw handler in its CRI config" {
	command -v containerd >/dev/null && command -v ctr >/dev/null || skip "containerd not installed"
	CTRD=$T/ctrd
	mkdir -p "$CTRD"
	# A private containerd (as integration/containerd/config.toml.in), the CRI plugin enabled.
	cat >"$F" <<-EOF
		version = 2
		root = "$CTRD/root"
		state = "$CTRD/state"
		[grpc]
		  address = "$CTRD/containerd.sock"
		[ttrpc]
		  address = "$CTRD/containerd.sock.ttrpc"
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$CTRD/opt"
		[plugins."io.containerd.grpc.v1.cri"]
		  stream_server_address = "127.0.0.1"
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    conf_dir = "$CTRD/cni"
		[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		  runtime_type = "io.containerd.runc.v2"
		  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		    SystemdCgroup = false
	EOF
	install
	[ "$status" -eq 0 ]
	assert_handler 2 false
	# containerd's own reading of the file.
	containerd --config "$F" config dump >"$T/dump.toml"
	"$PY" - "$T/dump.toml" <<-'PY'
		import sys, tomllib
		c = tomllib.load(open(sys.argv[1], "rb"))
		h = c["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["cgfw"]
		print("containerd config dump:", h)
		assert h["runtime_type"] == "io.containerd.runc.v2", h
		assert h["pod_annotations"] == ["cgfw.io/*"], h
		assert h["options"]["BinaryName"] == "/usr/local/bin/cgfw-runc", h
	PY
	# And it starts with it, the CRI plugin loaded.
	containerd --config "$F" </dev/null >"$CTRD/containerd.log" 2>&1 &
	echo $! >"$CTRD/containerd.pid"
	local i up=0
	for i in $(seq 1 100); do
		if timeout 2 ctr --address "$CTRD/containerd.sock" plugins ls 2>/dev/null | grep -E 'io\.containerd\.grpc\.v1[[:space:]]+cri[[:space:]].*ok'; then
			up=1
			break
		fi
		kill -0 "$(cat "$CTRD/containerd.pid")" || break
		sleep 0.1
	done
	((up)) || { tail -20 "$CTRD/containerd.log"; false; }
	# (No CNI config in the private dir: the CRI plugin says so, and that is all it may say.)
	if grep -Ei 'level=(error|fatal)' "$CTRD/containerd.log" | grep -vi 'cni'; then
		fail "containerd logged errors"
	fi
}
