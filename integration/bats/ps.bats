#!/usr/bin/env bats
# ps: table and JSON pid list.

load helpers

setup() {
	setup_common
	mkbundle "$TEST_DIR/b"
	c=$(cid p)
	create_start "$c" "$TEST_DIR/b"
	pid=$(rt state "$c" | jq -r .pid)
}

teardown() { teardown_common; }

@test "ps: table with a header and the container's processes" {
	run -0 rt ps "$c"
	[[ ${lines[0]} =~ PID ]] && [[ ${lines[0]} =~ CMD ]] || fail "header: ${lines[0]}"
	[[ $output == *"sleep 600"* ]] || fail "no sleep in: $output"
	# the init pid (a host pid) is in the PID column
	awk 'NR > 1 { print $2 }' <<<"$output" | grep -qx "$pid"
}

@test "ps -f json: array of host pids incl. init" {
	run -0 rt ps -f json "$c"
	jq -e 'type == "array" and length >= 2 and all(.[]; type == "number")' <<<"$output"
	jq -e --argjson p "$pid" 'index($p) != null' <<<"$output"
	for p in $(jq -r '.[]' <<<"$output"); do pid_alive "$p"; done
}

@test "ps: ps options are passed through (-o pid,comm)" {
	run -0 rt ps "$c" -o pid,comm
	[[ ${lines[0]} =~ PID ]] && [[ ${lines[0]} =~ COMMAND ]] || fail "header: ${lines[0]}"
	[[ $output == *sleep* ]]
}

@test "ps: unknown container -> exit 1" {
	run -1 rt ps "$(cid nosuch)"
	[[ $output == *"does not exist"* ]] || fail "got: $output"
}
