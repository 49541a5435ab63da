#!/usr/bin/env bats
# Error cases: message fragments and exit codes as runc 1.1 (exit 1), --log/--log-format json.

load helpers

setup() {
	setup_common
	mkbundle "$TEST_DIR/b"
	c=$(cid x)
}

teardown() { teardown_common; }

not_created() {
	run -0 rt list -q
	[[ $output != *"$1"* ]] || fail "container $1 exists after a failed create: $output"
	[ ! -e "$ROOT/$1" ] || fail "state dir $ROOT/$1 left after a failed create"
}

@test "error: missing bundle directory -> exit 1, 'no such file or directory'" {
	run -1 rt create --bundle "$TEST_DIR/nonexistent" "$c"
	[[ ${output,,} == *"no such file or directory"* ]] || fail "got: $output"
	not_created "$c"
}

@test "error: bundle without config.json -> exit 1, mentions config.json" {
	mkdir "$TEST_DIR/empty"
	run -1 rt create --bundle "$TEST_DIR/empty" "$c"
	[[ $output == *"config.json"* ]] || fail "got: $output"
	not_created "$c"
}

@test "error: malformed config.json -> exit 1, nothing created" {
	cp -a "$TEST_DIR/b" "$TEST_DIR/bad"
	echo '{bad' >"$TEST_DIR/bad/config.json"
	run -1 rt create --bundle "$TEST_DIR/bad" "$c"
	[ -n "$output" ]
	not_created "$c"
	run -1 rt run --bundle "$TEST_DIR/bad" "$c"
	not_created "$c"
}

@test "error: config.json of the wrong shape (process.args a string) -> exit 1" {
	cp -a "$TEST_DIR/b" "$TEST_DIR/bad"
	jq '.process.args = "sh"' "$TEST_DIR/b/config.json" >"$TEST_DIR/bad/config.json"
	run -1 rt create --bundle "$TEST_DIR/bad" "$c"
	not_created "$c"
}

@test "error: duplicate id -> exit 1, 'already exists', first container untouched" {
	run -0 rt create --bundle "$TEST_DIR/b" "$c"
	pid=$(rt state "$c" | jq -r .pid)
	run -1 rt create --bundle "$TEST_DIR/b" "$c"
	[[ $output == *"already exists"* ]] || fail "got: $output"
	run -0 rt state "$c"
	[ "$(jq -r .pid <<<"$output")" = "$pid" ]
	[ "$(jq -r .status <<<"$output")" = created ]
	run -1 rt run --detach --bundle "$TEST_DIR/b" "$c"
	[[ $output == *"already exists"* ]] || fail "got: $output"
}

@test "error: unknown id -> exit 1, 'container does not exist' (state start kill delete pause resume ps events)" {
	u=$(cid nosuch)
	for cmd in state start "kill $u KILL" delete pause resume ps "events --stats"; do
		if [[ $cmd == kill* ]]; then
			run -1 rt kill "$u" KILL
		else
			# shellcheck disable=SC2086
			run -1 rt $cmd "$u"
		fi
		[[ $output == *"does not exist"* ]] || fail "$cmd: $output"
	done
}

@test "error: invalid container ids are refused (exit 1, 'invalid container ID')" {
	for bad in "../x" "a/b" "." ".." "x y" "x\ty" ""; do
		run rt create --bundle "$TEST_DIR/b" -- "$bad"
		[ "$status" -ne 0 ] || fail "id '$bad' accepted"
		[ "$status" -eq 1 ] || fail "id '$bad': exit $status"
	done
	for bad in "../x" "a/b" "x y"; do
		run -1 rt create --bundle "$TEST_DIR/b" "$bad"
		[[ ${output,,} == *"invalid container id"* ]] || fail "id '$bad': $output"
	done
	run -1 rt state "../x"
	[ ! -e "$TEST_DIR/x" ]
	run -0 rt list -q
	[ -z "$output" ]
}

@test "error: no id given -> exit 1" {
	run -1 rt create --bundle "$TEST_DIR/b"
	run -1 rt state
}

@test "error: unknown command -> non-zero" {
	run rt no-such-command
	[ "$status" -ne 0 ]
}

@test "--log FILE --log-format json: error as a JSON line with level, msg, time" {
	run -1 timeout 10 "$RUNTIME" --root "$ROOT" --log "$TEST_DIR/log.json" --log-format json state "$(cid nosuch)"
	[ -s "$TEST_DIR/log.json" ]
	run -0 jq -e -s 'length >= 1 and any(.[]; .level == "error" and (.msg | test("does not exist"))
		and (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")))' "$TEST_DIR/log.json"
	# every line is one JSON object
	while IFS= read -r l; do jq -e 'type == "object" and has("level") and has("msg") and has("time")' <<<"$l" >/dev/null || fail "line: $l"; done <"$TEST_DIR/log.json"
}

@test "--log FILE: appends, does not truncate" {
	echo '{"level":"info","msg":"before","time":"2020-01-01T00:00:00Z"}' >"$TEST_DIR/log.json"
	run -1 timeout 10 "$RUNTIME" --root "$ROOT" --log "$TEST_DIR/log.json" --log-format json kill "$(cid nosuch)" KILL
	run -0 head -1 "$TEST_DIR/log.json"
	[[ $output == *before* ]]
	[ "$(wc -l <"$TEST_DIR/log.json")" -ge 2 ]
}

@test "--root: a new directory is created on demand and containers are scoped to it" {
	run -0 rt create --bundle "$TEST_DIR/b" "$c"
	run -0 timeout 10 "$RUNTIME" --root "$TEST_DIR/other-root" list -q
	[ -z "$output" ]
	run -1 timeout 10 "$RUNTIME" --root "$TEST_DIR/other-root" state "$c"
}
