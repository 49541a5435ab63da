#!/usr/bin/env bats
# hardening (issue 12, class 1): forged upstream DNS answers must not poison the allow map.
# Root with CAP_NET_RAW inside a firewalled container reads its namespace's /proc/net/udp for
# the DNS proxy's upstream sockets and sprays them with raw answers "allowed.test A
# <evil.test's address>" from the resolver's address:53, every id, while the container asks
# for allowed.test; then it tries the forbidden host. Checked on the receiving side (a catcher
# on evil.test's address in the world netns) and in every answer the container got.
#
#   bats integration/bats/hardening_dns_forge.bats
#
# Two independent layers stop this: the egress filter's anti-spoofing (a forged packet from the
# container's cgroup never leaves its socket) and the proxy's upstream side (a socket per query
# on a random port, random id, DNS 0x20 case checked on the answer, TCP after a refusal). The
# first test runs the forger inside the container: it passes with either layer (not asserted
# which). The second runs the same forger in the container's netns but outside its cgroup, so
# its packets reach the proxy's sockets whatever the egress filter does: it proves the proxy's
# side alone, and asserts the proxy refused forged answers (else it proved nothing).
#
# Validation (plain runc has no DNS proxy, so nothing to forge against: runc validation does
# not apply; the attack was validated against builds without each layer instead):
#   - main at 159ed9b (neither layer): both tests fail, the forged answer is taken within
#     seconds, the container's answers carry 198.18.0.30 and a TCP connection with "GET /"
#     reaches the catcher on 198.18.0.30.
#   - main at de27610 (anti-spoofing, old upstream side): the first passes (the forger's
#     sendto is refused: 0 packets), the second fails the same way as above.
#   - this branch before merging the anti-spoofing: the first passes (the forger found the
#     sockets, sent 4,096 to 77,824 answers in five runs, the proxy refused them and moved
#     to TCP).
#   - this branch with both: both pass.
#
# Needs root, gcc, musl-gcc, jq, dnsmasq, busybox-static, iproute2, python3.

load helpers
load firewall_helpers
load hardening_helpers

setup_file() {
	hd_setup_file hf
	gcc -O2 -Wall -static -o "$FW_TOOLS/dnsforge" "$HD_TOOLS_SRC/dnsforge.c"
}
teardown_file() { hd_teardown_file; }

setup() {
	fw_setup
	c=$(cid hf)
}

teardown() { teardown_common; }

# forge_attack FORGER...: while three loops in $c ask the proxy for allowed.test, run FORGER
# (a dnsforge command line: inside the container, or in its netns from outside its cgroup) for
# 10 s; then check on the receiving side that the forbidden host got nothing, and that no answer
# the container got carried its address. Sets FORGE_WARNING to the report's refused-answer
# warning (empty if the proxy refused nothing).
forge_attack() {
	catch tcp "$FW_EVIL4" 8081
	local evil_catch=$CATCH_LOG
	# Before the attack the forbidden host is refused (so a connection later is the attack's).
	run -3 cx getconn-musl "$FW_EVIL4" 8081

	# The victim: three loops asking the proxy for allowed.test for 12 s (queries in flight for
	# the forger to hit), every answer kept.
	spawn "$RUNTIME" --root "$ROOT" --cgfw-log-dir "$LOGS" exec "$c" timeout 20 sh -c '
		end=$(($(date +%s) + 12))
		ask() { while [ "$(date +%s)" -lt "$end" ]; do dnsq udp '"$FW_DNS4"' allowed.test; done; }
		ask & ask & ask & wait'
	local asker=$BG_PID asked=$SPAWN_OUT
	# The attacker: 10 s of forged answers to every upstream socket it finds.
	run "$@" "$FW_DNS4" allowed.test "$FW_EVIL4" 10
	local forged=$output
	echo "# forger: $(tail -n1 <<<"$forged")" >&3
	[[ $forged =~ ports\ ([0-9]+)\ packets ]] || fail "dnsforge did not finish: $forged"
	# It found the proxy's upstream sockets (connected to the resolver) while they were live.
	[ "${BASH_REMATCH[1]}" -ge 1 ] || fail "the forger never saw an upstream socket: $forged"
	wait "$asker" || true

	# The forbidden host stays closed: nothing arrived there, and the connect was refused.
	run cx getconn-musl "$FW_EVIL4" 8081
	local connect="rc=$status $output"
	sleep 0.5
	[ -z "$(caught "$evil_catch")" ] || fail "the forbidden host got: $(caught "$evil_catch") (connect: $connect)"
	[ "$status" -eq 3 ] || fail "connect to $FW_EVIL4:8081 after the attack: $connect"
	# The proxy kept answering, and never with the forged address.
	grep -q "A $FW_ALLOWED4" "$asked" || fail "no real answer during the attack: $(head -c 2000 "$asked")"
	! grep -q "A $FW_EVIL4" "$asked" || fail "a forged answer reached the container: $(grep -c "A $FW_EVIL4" "$asked") answers with $FW_EVIL4"
	FORGE_WARNING=$(frt report "$c" | jq -r '.warnings[]?' | grep -i forged || true)
	echo "# report: ${FORGE_WARNING:-no refused-answer warning (the forged packets did not reach the proxy)}" >&3
}

@test "DNS forge (CAP_NET_RAW): answers forged from the resolver's address to the proxy's upstream ports never open a forbidden host" {
	HD_CAPS=CAP_NET_RAW hd_sleeper --annotation cgfw.io/allow=allowed.test
	# Either layer may stop it (the egress filter refuses the forged packets, or the proxy
	# refuses them): not asserted which.
	forge_attack frt exec "$c" timeout 20 dnsforge
}

@test "DNS forge past the egress filter: forged answers that reach the proxy's sockets are refused by the proxy alone" {
	hd_sleeper --annotation cgfw.io/allow=allowed.test
	# The same forger, as a process in the container's network namespace but outside its
	# cgroup: the cgroup egress filter never sees its packets, so this proves the proxy's
	# upstream side on its own ("even if a packet gets through").
	forge_attack timeout 20 nsenter --net="/proc/$(rt state "$c" | jq .pid)/ns/net" "$FW_TOOLS/dnsforge"
	# The forged answers did reach the proxy's sockets, and it refused them.
	[ -n "$FORGE_WARNING" ] || fail "the proxy refused nothing: the forged answers never reached it, so this test proved nothing"
}
