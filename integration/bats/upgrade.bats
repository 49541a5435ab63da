#!/usr/bin/env bats
# Upgrades: a firewalled container made by an older build keeps working beside one made by
# this build, and this build deletes both cleanly. The older build is
# $CGFW_OLD_RUNTIME (integration/run.sh builds it with hack/build-at.sh from the last commit
# before program sets, whose containers carry their own programs and maps in their pins).

load helpers
load firewall_helpers

setup_file() {
	[ -x "${CGFW_OLD_RUNTIME:-}" ] || {
		echo "set CGFW_OLD_RUNTIME to an older build (hack/build-at.sh REV; integration/run.sh does it)" >&2
		return 1
	}
	fw_setup_file up
}
teardown_file() { fw_teardown_file; }

setup() { fw_setup; }
teardown() { teardown_common; }

# fetch ID URL: busybox wget inside the running container, bounded by timeout (wget -T
# segfaults in busybox-static).
fetch() { rt exec "$1" timeout 5 wget -q -O- "$2"; }

# works ID: the container reaches allowed.test by name and not evil.test by address.
works() {
	run fetch "$1" http://allowed.test/
	[ "$status" -eq 0 ] && [[ $output == *allowed.test* ]] || fail "$1: allowed.test not fetched: $output"
	run fetch "$1" "http://$FW_EVIL4/"
	[ "$status" -ne 0 ] || fail "$1: reached evil.test by address: $output"
}

@test "upgrade: a container of the older build keeps working beside one of this build; this build deletes both" {
	local old new set_dir
	old=$(cid old)
	new=$(cid new)
	fwbundle "$TEST_DIR/old" --annotation cgfw.io/allow=allowed.test
	fwbundle "$TEST_DIR/new" --annotation cgfw.io/allow=allowed.test
	RUNTIME=$CGFW_OLD_RUNTIME frt create --bundle "$TEST_DIR/old" "$old"
	RUNTIME=$CGFW_OLD_RUNTIME frt start "$old"
	wait_status "$old" running
	[ -e "$FW_PIN_ROOT/$old/cgfw_config" ] || fail "the older build's pins are not the layout this test expects: $(ls "$FW_PIN_ROOT/$old")"
	frt create --bundle "$TEST_DIR/new" "$new"
	frt start "$new"
	wait_status "$new" running
	set_dir=$(ls -d "$FW_PIN_ROOT/$new"/set-* 2>/dev/null) || fail "no program set named in $FW_PIN_ROOT/$new"
	set_dir=/sys/fs/bpf/cgfw-programs/${set_dir##*/set-}
	[ -d "$set_dir" ] || fail "program set $set_dir missing"
	# Both enforce their policy, side by side, through this build's exec.
	works "$old"
	works "$new"
	# This build deletes the older build's container: its programs, maps, sidecar, cgroup go.
	frt delete --force "$old"
	assert_clean "$old"
	works "$new"
	frt delete --force "$new"
	assert_clean "$new"
	# This build's set stays loaded for the next create.
	[ -d "$set_dir" ] || fail "this build's program set was removed"
}
