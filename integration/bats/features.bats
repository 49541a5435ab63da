#!/usr/bin/env bats
# features and spec.

load helpers

setup() { setup_common; }
teardown() { teardown_common; }

@test "features: valid JSON with ociVersionMin/Max, hooks, mountOptions, linux" {
	run -0 --separate-stderr rt features
	jq -e '
		(.ociVersionMin | test("^1\\.[0-9]+\\.[0-9]+"))
		and (.ociVersionMax | test("^1\\.[0-9]+\\.[0-9]+"))
		and (.hooks | type == "array" and index("prestart") != null)
		and (.mountOptions | type == "array" and index("bind") != null)
		and (.linux.namespaces | type == "array" and index("network") != null and index("pid") != null)
		and (.linux.capabilities | type == "array" and index("CAP_NET_ADMIN") != null)
		and (.linux.cgroup | type == "object")
	' <<<"$output" || fail "features: $output"
}

@test "spec: writes config.json in the current directory" {
	cd "$TEST_DIR"
	run -0 rt spec
	[ -s config.json ]
	jq -e '(.ociVersion | type == "string") and .root.path == "rootfs" and (.process.args | type == "array")
		and (.linux.namespaces | map(.type) | index("mount") != null)' config.json
}

@test "spec: the same starting configuration as runc spec (terminal, hostname, devices, namespaces, capabilities)" {
	command -v runc >/dev/null || skip "runc not installed"
	mkdir "$TEST_DIR/ours" "$TEST_DIR/runc"
	run -0 rt spec --bundle "$TEST_DIR/ours"
	(cd "$TEST_DIR/runc" && runc spec)
	diff <(jq -S . "$TEST_DIR/runc/config.json") <(jq -S . "$TEST_DIR/ours/config.json") || fail "spec differs from runc's"
}

@test "spec --bundle DIR: writes DIR/config.json" {
	mkdir "$TEST_DIR/sb"
	run -0 rt spec --bundle "$TEST_DIR/sb"
	jq -e '.ociVersion' "$TEST_DIR/sb/config.json"
}

@test "spec: refuses to overwrite an existing config.json (exit 1)" {
	cd "$TEST_DIR"
	echo '{"mine": true}' >config.json
	run -1 rt spec
	[[ $output == *"exists"* ]] || fail "got: $output"
	[ "$(jq -c . config.json)" = '{"mine":true}' ]
}
