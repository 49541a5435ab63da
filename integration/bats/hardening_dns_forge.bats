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
# Two independent layers stop this: the egress filter's anti-spoofing (forged packets never
# reach the proxy's socket) and the proxy's upstream side (a socket per query on a random port,
# random id, DNS 0x20 case checked on the answer). The test passes with either layer alone:
# it asserts only what the attacker gets, not which layer stopped it.
#
# Validation: plain runc has no DNS proxy (nothing to forge against), so the attack was
# validated against the runtime built from main before this change (159ed9b, fixed upstream
# ports, id-only matching): the forged answer was taken within seconds, the container's answers
# carried 198.18.0.30 and the TCP connection reached the catcher, so the test failed there.
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

@test "DNS forge (CAP_NET_RAW): answers forged from the resolver's address to the proxy's upstream ports never open a forbidden host" {
	catch tcp "$FW_EVIL4" 8081
	local evil_catch=$CATCH_LOG
	HD_CAPS=CAP_NET_RAW hd_sleeper --annotation cgfw.io/allow=allowed.test
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
	run frt exec "$c" timeout 20 dnsforge "$FW_DNS4" allowed.test "$FW_EVIL4" 10
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
	# Which layer stopped it, for the reader (not asserted: either alone must hold).
	local warnings
	warnings=$(frt report "$c" | jq -r '.warnings[]?' | grep -i forged || true)
	echo "# report: ${warnings:-no refused-answer warning (the forged packets did not reach the proxy)}" >&3
}
