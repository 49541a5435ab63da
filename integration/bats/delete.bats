#!/usr/bin/env bats
# delete: stopped, created, running (fails), --force.

load helpers

setup() {
	setup_common
	B=$TEST_DIR/bundle
	mkbundle "$B"
	c=$(cid d)
}

teardown() { teardown_common; }

gone() {
	run -1 rt state "$1"
	[[ $output == *"does not exist"* ]] || fail "state after delete: $output"
	run -0 rt list -q
	[[ $output != *"$1"* ]] || fail "still listed: $output"
	[ ! -e "$ROOT/$1" ] || fail "state dir $ROOT/$1 left behind"
}

@test "delete: stopped container" {
	create_start "$c" "$B"
	run -0 rt kill "$c" KILL
	wait_status "$c" stopped 10
	run -0 rt delete "$c"
	[ -z "$output" ]
	gone "$c"
}

@test "delete: the container's cgroups are removed" {
	create_start "$c" "$B"
	pid=$(rt state "$c" | jq -r .pid)
	# every hierarchy's cgroup of the init (v1 controllers and/or the v2 one), as seen here
	local dirs=() line hier path mnt m
	while IFS= read -r line; do
		hier=${line#*:}
		hier=${hier%%:*}
		path=${line#*:*:}
		[ "$path" != / ] || continue
		if [ -z "$hier" ]; then
			mnt=$(awk '$9 == "cgroup2" { print $5 }' /proc/self/mountinfo)
		else
			mnt=$(awk -v h="$hier" '$9 == "cgroup" { n = split(h, hs, ","); if (index($NF, hs[1])) print $5 }' /proc/self/mountinfo)
		fi
		# mount points can be covered (hack/pure-v2.sh binds over /sys/fs/cgroup): keep what exists
		for m in $mnt; do
			if [ -d "$m$path" ]; then
				dirs+=("$m$path")
				break
			fi
		done
	done <"/proc/$pid/cgroup"
	[ ${#dirs[@]} -gt 0 ] || fail "no cgroup dir found for init $pid: $(cat "/proc/$pid/cgroup")"
	run -0 rt kill "$c" KILL
	wait_status "$c" stopped 10
	run -0 rt delete "$c"
	local d left=()
	for d in "${dirs[@]}"; do [ -d "$d" ] && left+=("$d"); done
	[ ${#left[@]} -eq 0 ] || fail "cgroups left after delete: ${left[*]}"
}

@test "delete: created (never started) container without --force (as runc)" {
	run -0 rt create --bundle "$B" "$c"
	pid=$(rt state "$c" | jq -r .pid)
	run -0 rt delete "$c"
	gone "$c"
	wait_pid_gone "$pid" 5
}

@test "delete: running container without --force fails, container keeps running" {
	create_start "$c" "$B"
	run -1 rt delete "$c"
	[[ $output == *"not stopped"* || $output == *"running"* ]] || fail "got: $output"
	[ "$(state_status "$c")" = running ]
}

@test "delete --force: running container" {
	create_start "$c" "$B"
	pid=$(rt state "$c" | jq -r .pid)
	run -0 rt delete --force "$c"
	gone "$c"
	wait_pid_gone "$pid" 5
}

@test "delete --force: paused container" {
	create_start "$c" "$B"
	run -0 rt pause "$c"
	run -0 rt delete --force "$c"
	gone "$c"
}

@test "delete: unknown container -> exit 1; with --force -> exit 0" {
	run -1 rt delete "$(cid nosuch)"
	[[ $output == *"does not exist"* ]] || fail "got: $output"
	run -0 rt delete --force "$(cid nosuch)"
}
