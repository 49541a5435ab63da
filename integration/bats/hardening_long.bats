#!/usr/bin/env bats
# hardening, long (issue 7 "Faults and load"): 200 firewalled containers at once, and 1000
# create/start/delete cycles with leak counts. Gated: CGFW_LONG=1.
#
#   CGFW_LONG=1 bats integration/bats/hardening_long.bats
#   CGFW_LOAD_N=200 CGFW_LOAD_ITER=3 CGFW_SOAK_N=1000   (defaults; lower them on a slow machine)
#
# Numbers are printed to fd 3 (bats shows them): times, sidecar RSS max/median, leak counts.

load helpers
load firewall_helpers
load hardening_helpers

setup_file() {
	[ "${CGFW_LONG:-}" = 1 ] || return 0
	hd_setup_file hl
}
teardown_file() { hd_teardown_file; }

setup() {
	[ "${CGFW_LONG:-}" = 1 ] || skip "set CGFW_LONG=1"
	fw_setup
	# Generous: hundreds of containers on 2 cores make single calls slow.
	RT_TIMEOUT=60
}

teardown() {
	[ -n "${TEST_DIR:-}" ] || return 0
	teardown_common
}

@test "load: N firewalled containers at once, each resolving and connecting in a bounded loop: every verdict right, events counted, sidecar RSS" {
	local n=${CGFW_LOAD_N:-200} iter=${CGFW_LOAD_ITER:-3} k id deadline=$((SECONDS + 900))
	# At most 64 firewalled containers share one network namespace (the members its boundary
	# filter decides for, CGFW_NETNS_MEMBERS): 50 per client netns of the world.
	local per_ns=50 groups g
	groups=$(((n + per_ns - 1) / per_ns))
	for ((g = 0; g < groups; g++)); do
		if ((g == 0)); then
			fwbundle "$TEST_DIR/b0" --annotation cgfw.io/allow=allowed.test --args "sleep 900"
		else
			"$WORLD" add-client "$FW_WORLD" $((g + 1)) >/dev/null
			FW_NETNS=/run/netns/$FW_WORLD-c$((g + 1)) fwbundle "$TEST_DIR/b$g" --annotation cgfw.io/allow=allowed.test --args "sleep 900"
		fi
	done
	local t0=$SECONDS ids=()
	for ((k = 1; k <= n; k++)); do
		[ "$SECONDS" -lt "$deadline" ] || fail "creating took too long: $k after $((SECONDS - t0))s"
		id=$(cid "l$k")
		ids+=("$id")
		frt create --bundle "$TEST_DIR/b$(((k - 1) / per_ns))" "$id" >/dev/null || fail "create $k failed"
		frt start "$id" || fail "start $k failed"
	done
	local t_create=$((SECONDS - t0))
	[ "$(pgrep -fc -- " sidecar ${ID_PREFIX}-l" || true)" -eq "$n" ] || fail "want $n sidecars"
	# The loop in every container at once (in batches, so 2 cores are not drowned in forks).
	local script="ok=0 bad=0 blk=0 leak=0
		for i in \$(seq 1 $iter); do
			if getconn-musl allowed.test >/dev/null; then ok=\$((ok+1)); else bad=\$((bad+1)); fi
			if getconn-musl x\$i.evil.test >/dev/null 2>&1; then leak=\$((leak+1)); else blk=\$((blk+1)); fi
			if getconn-musl $FW_EVIL4 >/dev/null 2>&1; then leak=\$((leak+1)); else blk=\$((blk+1)); fi
		done
		echo ok=\$ok bad=\$bad blocked=\$blk leaked=\$leak"
	t0=$SECONDS
	local batch=25 pids=() j
	for ((k = 0; k < n; k += batch)); do
		pids=()
		for ((j = k; j < k + batch && j < n; j++)); do
			timeout 300 "$RUNTIME" --root "$ROOT" --cgfw-log-dir "$LOGS" exec "${ids[$j]}" sh -c "$script" \
				</dev/null >"$TEST_DIR/load.$j.out" 2>&1 3>&- &
			pids+=($!)
		done
		for j in "${pids[@]}"; do wait "$j" || true; done
	done
	local t_loop=$((SECONDS - t0))
	local want="ok=$iter bad=0 blocked=$((2 * iter)) leaked=0" good
	good=$(cat "$TEST_DIR"/load.*.out | grep -cx "$want" || true)
	# RSS of every sidecar, while all are up.
	local rss
	rss=$(for p in $(pgrep -f -- " sidecar ${ID_PREFIX}-l"); do awk '/^VmRSS/ { print $2 }' "/proc/$p/status"; done | sort -n)
	local rmax rmed
	rmax=$(tail -n1 <<<"$rss")
	rmed=$(awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }' <<<"$rss")
	# Events: per container, every refused connect is either logged or counted as suppressed.
	frt kill --all "${ids[0]}" KILL >/dev/null 2>&1 || true
	local lost=0 logged supp t_check=$SECONDS
	for id in "${ids[@]}"; do
		frt report "$id" >"$TEST_DIR/rep.json" 2>/dev/null || { lost=$((lost + 1)); continue; }
		logged=$(events "$id" ".kind == \"connect\" and .ip == \"$FW_EVIL4\"" | wc -l)
		supp=$(jq '.totals.events_suppressed' "$TEST_DIR/rep.json")
		[ $((logged + supp)) -ge "$iter" ] || { lost=$((lost + 1)); echo "$id: logged=$logged suppressed=$supp" >&3; }
		[ "$(events "$id" '.kind == "dns" and .verdict == "blocked"' | wc -l)" -ge "$iter" ] ||
			{ lost=$((lost + 1)); echo "$id: dns events $(events "$id" '.kind == "dns"' | wc -l)" >&3; }
	done
	echo "# load: $n containers created+started in ${t_create}s; loops ($iter x allowed/blocked name/blocked IP) in ${t_loop}s" >&3
	echo "# load: verdicts right in $good/$n containers; containers with uncounted events: $lost" >&3
	echo "# load: sidecar RSS KiB max=$rmax median=$rmed" >&3
	echo "# load: events of $n containers checked in $((SECONDS - t_check))s" >&3
	t0=$SECONDS
	for id in "${ids[@]}"; do frt delete --force "$id" >/dev/null 2>&1 || true; done
	echo "# load: $n deletes in $((SECONDS - t0))s" >&3
	[ "$good" -eq "$n" ] || fail "wrong verdicts: $(cat "$TEST_DIR"/load.*.out | sort | uniq -c)"
	[ "$lost" -eq 0 ] || fail "$lost containers lost events"
	for id in "${ids[@]}"; do [ -z "$(fw_leftovers "$id")" ] || fail "$id left: $(fw_leftovers "$id")"; done
}

@test "soak: N create/start/delete cycles with a policy leave no sidecar, pin, map, cgroup, netns, fd or log handle" {
	local n=${CGFW_SOAK_N:-1000} cyc id deadline=$((SECONDS + 1200))
	fwbundle "$TEST_DIR/b" --no-net --annotation cgfw.io/allow=allowed.test --args "true"
	count_state() {
		echo "sidecars=$(pgrep -fc -- " sidecar ${ID_PREFIX}-" || true)"
		echo "pins=$(find "$FW_PIN_ROOT" -mindepth 1 -maxdepth 1 -name "${ID_PREFIX}-*" 2>/dev/null | wc -l)"
		echo "cgroups=$(find /sys/fs/cgroup -maxdepth 3 -name "*${ID_PREFIX}-*" 2>/dev/null | wc -l)"
		echo "state_dirs=$(find "$ROOT" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
		echo "logs_open=$(find /proc/[0-9]*/fd -lname "$LOGS/*" 2>/dev/null | wc -l)"
	}
	# Host-wide figures (other suites running meanwhile would disturb them: printed, compared
	# with a tolerance).
	host_state() {
		echo "$(bpftool map list 2>/dev/null | grep -c 'name cgfw_') $(lsns -n -t net 2>/dev/null | wc -l) $(ls /proc/[0-9]*/fd 2>/dev/null | wc -l) $(bpftool link list 2>/dev/null | grep -c '^[0-9]')"
	}
	local before after hb ha
	before=$(count_state)
	hb=$(host_state)
	local t0=$SECONDS
	for ((cyc = 1; cyc <= n; cyc++)); do
		[ "$SECONDS" -lt "$deadline" ] || fail "cycles too slow: $cyc after $((SECONDS - t0))s"
		id=${ID_PREFIX}-s$cyc
		frt create --bundle "$TEST_DIR/b" "$id" >/dev/null || fail "cycle $cyc: create"
		frt start "$id" || fail "cycle $cyc: start"
		wait_status "$id" stopped 20 || fail "cycle $cyc: not stopped"
		frt delete "$id" || fail "cycle $cyc: delete"
		if ((cyc % 50 == 0)); then
			[ -z "$(fw_leftovers "$id")" ] || fail "cycle $cyc left: $(fw_leftovers "$id")"
		fi
	done
	local dt=$((SECONDS - t0))
	sleep 1
	after=$(count_state)
	ha=$(host_state)
	echo "# soak: $n cycles in ${dt}s" >&3
	echo "# soak: mine before: $(tr '\n' ' ' <<<"$before")" >&3
	echo "# soak: mine after:  $(tr '\n' ' ' <<<"$after")" >&3
	echo "# soak: host (cgfw maps, netns, fds, bpf links) before: $hb after: $ha" >&3
	[ "$before" = "$after" ] || fail "leaked:"$'\n'"before: $before"$'\n'"after:  $after"
	local mb ma nb na
	read -r mb nb _ _ <<<"$hb"
	read -r ma na _ _ <<<"$ha"
	# Tolerance for other suites' containers coming and going meanwhile (each ~12 maps).
	[ "$ma" -le $((mb + 24)) ] || fail "cgfw maps grew: $mb -> $ma"
	[ "$na" -le $((nb + 4)) ] || fail "netns grew: $nb -> $na"
	run -0 rt list -q
	[ -z "$output" ] || fail "listed: $output"
}
