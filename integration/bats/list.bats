#!/usr/bin/env bats
# list: table, -q, --format json.

load helpers

setup() {
	setup_common
	mkbundle "$TEST_DIR/b"
}

teardown() { teardown_common; }

@test "list: empty root -> header only / [] / nothing" {
	run -0 rt list
	[ "${#lines[@]}" -eq 1 ]
	[[ ${lines[0]} =~ ^ID\ +PID\ +STATUS\ +BUNDLE\ +CREATED\ +OWNER ]] || fail "header: ${lines[0]}"
	run -0 rt list -q
	[ -z "$output" ]
	run -0 rt list --format json
	# runc 1.1 prints "null" for no containers
	[[ $output == "null" || $output == "[]" ]] || fail "got: $output"
}

@test "list: table, quiet and json with running and created containers" {
	c1=$(cid l1)
	c2=$(cid l2)
	create_start "$c1" "$TEST_DIR/b"
	run -0 rt create --bundle "$TEST_DIR/b" "$c2"

	run -0 rt list
	[ "${#lines[@]}" -eq 3 ]
	[[ ${lines[0]} =~ ^ID\ +PID\ +STATUS\ +BUNDLE\ +CREATED\ +OWNER ]] || fail "header: ${lines[0]}"
	[[ ${lines[1]} =~ ^$c1\ +[0-9]+\ +running\ +$TEST_DIR/b\ +[0-9]{4}-.*\ +root$ ]] || fail "line 1: ${lines[1]}"
	[[ ${lines[2]} =~ ^$c2\ +[0-9]+\ +created\ +$TEST_DIR/b\ +[0-9]{4}-.*\ +root$ ]] || fail "line 2: ${lines[2]}"

	run -0 rt list -q
	[ "$output" = "$(printf '%s\n%s' "$c1" "$c2")" ]

	run -0 rt list --format json
	jq -e --arg c1 "$c1" --arg c2 "$c2" --arg b "$TEST_DIR/b" '
		length == 2
		and ([.[].id] == [$c1, $c2])
		and ([.[].status] == ["running", "created"])
		and all(.[]; .bundle == $b and .rootfs == ($b + "/rootfs") and (.pid > 0)
			and (.ociVersion | type == "string") and (.created | type == "string")
			and .owner == "root")
	' <<<"$output" || fail "json: $output"
}

@test "list --format table is the default" {
	c1=$(cid l1)
	create_start "$c1" "$TEST_DIR/b"
	run -0 rt list
	a=$output
	run -0 rt list --format table
	[ "$a" = "$output" ]
}

@test "list: stopped container shows status stopped and pid 0" {
	c1=$(cid l1)
	create_start "$c1" "$TEST_DIR/b"
	run -0 rt kill "$c1" KILL
	wait_status "$c1" stopped 10
	run -0 rt list --format json
	jq -e '.[0].status == "stopped" and .[0].pid == 0' <<<"$output" || fail "json: $output"
}
