#!/usr/bin/env bats
# Long transfers with real clients (issue 14, point 1): a download that outlives its DNS
# answer's allow window completes, as under runc; expiry still refuses new connections.
#
# Debian 12 rootfs (hack/mkrootfs-debian.sh): curl, GNU wget, python3 urllib, git clone over
# dumb HTTP, and a Go client, all fetching from integration/tools/slowhttp.py in the test world
# at allowed.test:8080. dnsmasq answers with TTL 0, so the proxy allows the address for
# MIN_ALLOW_TTL + ALLOW_GRACE (30 + 30 s) only; every transfer takes $SLOW_SECONDS (longer).
# The same script runs at the same time under plain runc (no firewall), which validates the
# set-up and gives the comparison figure printed in the test output.

load helpers
load firewall_helpers

SLOW_SECONDS=75 # > the 60 s allow window of a TTL-0 answer

setup_file() {
	fw_setup_file long
	export DEBIAN_ROOTFS
	DEBIAN_ROOTFS=$("$REPO_ROOT/hack/mkrootfs-debian.sh")
	# A git repository with a ~300 KiB pack, served over dumb HTTP (the pack comes slowly).
	local www=$BATS_FILE_TMPDIR/www work=$BATS_FILE_TMPDIR/work
	mkdir -p "$www" "$work"
	git init -q -b main "$work"
	head -c 300000 /dev/urandom >"$work/artifact.bin"
	git -C "$work" add artifact.bin
	git -C "$work" -c user.name=t -c user.email=t@t commit -qm artifact
	git clone -q --bare "$work" "$www/repo.git"
	git -C "$www/repo.git" gc -q
	git -C "$www/repo.git" update-server-info
	"$WORLD" world-exec "$FW_WORLD" python3 "$REPO_ROOT/integration/tools/slowhttp.py" \
		--bind "$FW_ALLOWED4" --bind "$FW_ALLOWED6" --port 8080 --root "$www" \
		--seconds "$SLOW_SECONDS" >"$BATS_FILE_TMPDIR/slowhttp.out" 2>"$BATS_FILE_TMPDIR/slowhttp.log" &
	echo $! >"$BATS_FILE_TMPDIR/slowhttp.pid"
	local i
	for i in $(seq 50); do grep -q ready "$BATS_FILE_TMPDIR/slowhttp.out" && break; sleep 0.1; done
	grep -q ready "$BATS_FILE_TMPDIR/slowhttp.out"
}

teardown_file() {
	[ -f "$BATS_FILE_TMPDIR/slowhttp.pid" ] && kill "$(cat "$BATS_FILE_TMPDIR/slowhttp.pid")" 2>/dev/null
	fw_teardown_file
}

setup() { fw_setup; }
teardown() { teardown_common; }

# The transfers, all at once, each bounded (a stalled one is killed and counted as failed).
# Prints "client rc bytes seconds" lines, then the direct-address check after the window.
transfer_script() {
	cat <<-EOF
		#!/bin/sh
		cd /tmp
		url=http://allowed.test:8080
		t0=\$(date +%s)
		run() { name=\$1; shift; s=\$(date +%s); timeout $((SLOW_SECONDS * 2)) "\$@" >/tmp/\$name.out 2>/tmp/\$name.err; echo "\$name \$? \$(( \$(date +%s) - s ))" >/tmp/\$name.rc; }
		run curl curl -sS -o /tmp/curl.body \$url/stream/$SLOW_SECONDS &
		run wget wget -q -O /tmp/wget.body \$url/stream/$SLOW_SECONDS &
		run python3 python3 -c 'import urllib.request; open("/tmp/python3.body", "wb").write(urllib.request.urlopen("'\$url'/stream/$SLOW_SECONDS").read())' &
		run git git clone -q \$url/repo.git /tmp/repo &
		run go env GOCLIENT_TIMEOUT=$((SLOW_SECONDS * 2))s sh -c "goclient-purego get \$url/stream/$SLOW_SECONDS >/tmp/go.body" &
		wait
		for n in curl wget python3 go; do set -- \$(cat /tmp/\$n.rc); echo "\$1 \$2 \$(wc -c </tmp/\$n.body 2>/dev/null || echo 0) \$3"; done
		set -- \$(cat /tmp/git.rc); echo "git \$2 \$(wc -c </tmp/repo/artifact.bin 2>/dev/null || echo 0) \$3"
		cat /tmp/*.err
		# After the window: the address itself is refused to a new connection (EPERM at once),
		# and allowed again once the name is resolved again.
		python3 - <<-'PY'
			import socket, time
			s = socket.socket()
			t = time.monotonic()
			try:
			    s.connect(("$FW_ALLOWED4", 8080))
			    print("direct connected")
			except OSError as e:
			    print("direct errno %d after %.3fs" % (e.errno, time.monotonic() - t))
		PY
		curl -sS -o /dev/null -w 'again %{http_code}\n' \$url/stream/1
		echo "total \$(( \$(date +%s) - t0 ))"
	EOF
}

@test "downloads longer than the DNS answer's allow window complete (curl, wget, python3, git, Go), as under runc" {
	local b=$TEST_DIR/b r=$TEST_DIR/r id
	id=$(cid long)
	fwbundle_debian() {
		"$MKBUNDLE" "$1" --rootfs-dir "$DEBIAN_ROOTFS" --net-ns "$FW_NETNS" --nameserver "$FW_DNS4" \
			--args 'sh /mnt/transfer.sh' "${@:2}" >/dev/null
		transfer_script >"$1/files/transfer.sh"
	}
	fwbundle_debian "$b" --annotation cgfw.io/allow=allowed.test
	fwbundle_debian "$r"
	# Plain runc, same script, same time: validates the set-up, and is the figure to compare.
	(cd "$r" && timeout $((SLOW_SECONDS * 3)) runc --root "$TEST_DIR/runc-root" run "$id-runc" >"$TEST_DIR/runc.out" 2>&1) &
	local runc_pid=$!
	cd "$b"
	run -0 timeout $((SLOW_SECONDS * 3)) "$RUNTIME" --root "$ROOT" --cgfw-log-dir "$LOGS" run "$id"
	local fw_out=$output
	wait "$runc_pid" || true
	echo "# runc:" >&3; sed 's/^/#   /' "$TEST_DIR/runc.out" >&3
	echo "# cgfw-runc:" >&3; sed 's/^/#   /' <<<"$fw_out" >&3
	local name expect
	for out in "$(cat "$TEST_DIR/runc.out")" "$fw_out"; do
		for name in curl wget python3 go; do
			expect=$((SLOW_SECONDS * 1024))
			grep -qx "$name 0 $expect [0-9]*" <<<"$out" || fail "$name did not complete: $(grep "^$name " <<<"$out")"
		done
		grep -qx "git 0 300000 [0-9]*" <<<"$out" || fail "git clone did not complete: $(grep '^git ' <<<"$out")"
		grep -qx "again 200" <<<"$out" || fail "resolving again did not allow the address"
	done
	# Under the firewall the address itself was refused once the window had passed; no
	# transfer saw a refusal: the only blocked event about allowed.test's addresses is the
	# direct connect. (git also asks for the container's own hostname, which is refused.)
	grep -Eq "^direct errno 1 after 0\.[0-9]+s$" <<<"$fw_out" || fail "direct connect after the window not refused with EPERM"
	run -0 events "$id" '.verdict == "blocked" and (.domain == "allowed.test" or .ip == "'"$FW_ALLOWED4"'" or .ip == "'"$FW_ALLOWED6"'")'
	[ "$(wc -l <<<"$output")" -eq 1 ] || fail "unexpected blocked events: $output"
	jq -e '.kind == "connect" and .ip == "'"$FW_ALLOWED4"'" and .port == 8080 and .rule == "address from an expired DNS answer"' <<<"$output" >/dev/null
}

@test "a TCP connection whose packets the firewall drops fails at once (ECONNABORTED), not after minutes of retransmits" {
	local b=$TEST_DIR/b id
	id=$(cid cut)
	"$MKBUNDLE" "$b" --rootfs-dir "$DEBIAN_ROOTFS" --net-ns "$FW_NETNS" --nameserver "$FW_DNS4" \
		--args 'python3 /mnt/cut.py' >/dev/null
	# CAP_NET_RAW, as Docker, containerd and podman grant by default: SO_BINDTODEVICE.
	spec_edit "$b" '.process.capabilities |= with_entries(.value += ["CAP_NET_RAW"])'
	# connect() to 127.0.0.1 passes the connect check (loopback), but bound to the veth the
	# SYN leaves the namespace, and the egress filter drops it (loopback off lo). TCP alone
	# retries a SYN for about two minutes: under runc this times out (nothing answers
	# 127.0.0.1 out there); under the firewall the sidecar aborts the connection at once.
	cat >"$b/files/cut.py" <<-'PY'
		import errno, socket, time
		s = socket.socket()
		s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"c0")
		s.settimeout(10)
		t = time.monotonic()
		try:
		    s.connect(("127.0.0.1", 80))
		    print("connected")
		except socket.timeout:
		    print("timed out after %.0fs" % (time.monotonic() - t))
		except OSError as e:
		    print("%s after %.1fs" % (errno.errorcode.get(e.errno, e.errno), time.monotonic() - t))
	PY
	cd "$b"
	run -0 timeout 60 runc --root "$TEST_DIR/runc-root" run "$id-runc"
	echo "# runc: $output" >&3
	[[ $output == "timed out after"* ]] || fail "validation under runc: expected a timeout, got: $output"

	spec_edit "$b" '.annotations = {"cgfw.io/allow": "allowed.test"}'
	run -0 timeout 60 "$RUNTIME" --root "$ROOT" --cgfw-log-dir "$LOGS" run "$id"
	echo "# cgfw-runc: $output" >&3
	[[ $output == "ECONNABORTED after"* ]] || fail "expected ECONNABORTED, got: $output"
	wait_event "$id" '.kind == "packet" and .verdict == "blocked" and .proto == "tcp" and .ip == "127.0.0.1"' >/dev/null
}
