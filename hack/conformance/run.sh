#!/usr/bin/env bash
# run.sh [--runtime PATH] [--filter REGEX] [--files 'a.bats b.bats'] [--expected FILE]
#        [--out DIR] [--tests DIR]
# Runs runc 1.1.5's own integration tests (hack/conformance/get-runc-tests.sh gets and prepares
# them outside the repo) against a runtime, one .bats file at a time, and prints per-test results
# as TAP (each name prefixed with its file) and totals.
#
#   --runtime PATH   the runtime under test (default: target/release/cgfw-runc); runc's
#                    helpers.bash takes it from $RUNC
#   --filter REGEX   only tests whose name matches (bats --filter)
#   --files LIST     only these .bats files (names, space-separated; default: all 36)
#   --expected FILE  tests expected to fail (default integration/conformance/expected-failures.txt;
#                    'none' for no list: every failure counts)
#   --out DIR        keep raw TAP, per-file times and the summary here (default: a temp dir)
#   --tests DIR      the prepared runc tree's cache (default as get-runc-tests.sh)
#
# Exit status: 0 when every failing test is on the expected list; 1 otherwise. Tests on the list
# that pass are reported (take them off the list). Each test runs under BATS_TEST_TIMEOUT (default
# 120 s; not events.bats), each file under a timeout (900 s) in a pseudo-terminal (script(1)); a
# watchdog thaws the tests' cgroups frozen > 60 s and kills a recvtty a failed test left behind;
# after each file, cgroups and mounts the suite left behind are removed (and reported).
# curl, wget and git are shadowed: nothing in these tests may download.
# The closing line is "conformance: N passed, N failed, N skipped".
set -uo pipefail
ROOT_DIR=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT_DIR/hack/conformance

RUNTIME=$ROOT_DIR/target/release/cgfw-runc
FILTER=""
FILES=""
EXPECTED=$ROOT_DIR/integration/conformance/expected-failures.txt
OUT=""
TESTS_CACHE=${CGFW_RUNC_TESTS:-/var/cache/cgfw-test/runc-1.1.5}
usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--runtime) RUNTIME=$2; shift 2 ;;
	--filter) FILTER=$2; shift 2 ;;
	--files) FILES=$2; shift 2 ;;
	--expected) EXPECTED=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--tests) TESTS_CACHE=$2; shift 2 ;;
	-h | --help) usage ;;
	*) echo "run.sh: unknown argument '$1'" >&2; usage ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "conformance: needs root" >&2; exit 2; }
RUNTIME=$(readlink -f "$RUNTIME")
[ -x "$RUNTIME" ] || { echo "conformance: runtime $RUNTIME not found (make build)" >&2; exit 2; }
[ "$EXPECTED" = none ] || [ -f "$EXPECTED" ] || { echo "conformance: $EXPECTED missing" >&2; exit 2; }

INTEG=$(bash "$HERE/get-runc-tests.sh" "$TESTS_CACHE") || { echo "conformance: could not prepare runc's tests" >&2; exit 2; }
if [ -z "$OUT" ]; then OUT=$(mktemp -d /tmp/cgfw-conformance.XXXXXX); fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "$OUT/tap" "$OUT/tmp"
mkdir -p "$OUT/tap" "$OUT/tmp"
: >"$OUT/results.tsv"
: >"$OUT/cleanup.log"
: >"$OUT/times"

if [ -n "$FILES" ]; then
	read -ra files <<<"$FILES"
else
	files=()
	for f in "$INTEG"/*.bats; do files+=("$(basename "$f")"); done
fi

# --- leftovers ------------------------------------------------------------------------------
# Container names runc's tests use; cgroups of theirs (at the hierarchy roots: no cgroupsPath,
# under runc-cgroups-integration-test: set_cgroups_path, under unified/cgfw: our hybrid cgroup)
# that appear during a file and survive it are removed. Nothing else is touched.
NAME_RE='^(runc-cgroups-integration-test|test[_a-z0-9-]*|ct[0-9]+|detached|testbusyboxdelete)$'
cgroup_candidates() {
	local root d
	for root in /sys/fs/cgroup/* /sys/fs/cgroup/unified/cgfw /sys/fs/cgroup; do
		[ -d "$root" ] || continue
		for d in "$root"/*/; do
			d=${d%/}
			[[ $(basename "$d") =~ $NAME_RE ]] && [ -f "$d/cgroup.procs" ] && echo "$d"
		done
	done | sort -u
}
kill_cgroup_tree() { # thaw, kill every process, rmdir deepest first
	local cg=$1 sub p
	while read -r sub; do
		[ -f "$sub/freezer.state" ] && echo THAWED >"$sub/freezer.state" 2>/dev/null
		[ -f "$sub/cgroup.freeze" ] && echo 0 >"$sub/cgroup.freeze" 2>/dev/null
	done < <(find "$cg" -type d 2>/dev/null)
	[ -f "$cg/cgroup.kill" ] && echo 1 >"$cg/cgroup.kill" 2>/dev/null
	for p in $(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$cg" ] || return 0
		sleep 0.2
	done
	return 1
}
cleanup_after() { # $1 = file name, $2 = cgroup snapshot before it
	local f=$1 before=$2 cg m n=0
	while read -r cg; do
		grep -qxF "$cg" "$before" && continue
		n=$((n + 1))
		if kill_cgroup_tree "$cg"; then
			echo "$f: removed leftover cgroup $cg" >>"$OUT/cleanup.log"
		else
			echo "$f: COULD NOT remove leftover cgroup $cg" >>"$OUT/cleanup.log"
		fi
	done < <(cgroup_candidates)
	# Mounts under this run's private TMPDIR (the tests' bundles and state live there).
	while read -r m; do
		n=$((n + 1))
		umount -l "$m" 2>/dev/null && echo "$f: unmounted leftover $m" >>"$OUT/cleanup.log"
	done < <(awk -v p="$OUT/tmp/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
	rm -rf "${OUT:?}/tmp/"* 2>/dev/null
	((n == 0)) || echo "# cleanup after $f: $n leftover(s), see $OUT/cleanup.log"
}

# A runtime stuck in a frozen cgroup (e.g. started into a pre-frozen one) would hang the suite
# until someone thaws it: thaw the tests' freezer cgroups that stay frozen for more than 60 s
# (the tests' own pauses last seconds), and say so in the cleanup log.
watchdog() {
	local fz key pid
	declare -A since=()
	while sleep 5; do
		# A recvtty that a failed test never killed (update.bats starts one of its own) keeps
		# bats' output open and the file never ends: none lives longer than a test may.
		for pid in $(pgrep -x recvtty 2>/dev/null); do
			[ "$(readlink -f "/proc/$pid/exe")" = "$RECVTTY_BIN" ] || continue
			if (($(ps -o etimes= -p "$pid" 2>/dev/null || echo 0) > BATS_TEST_TIMEOUT + 30)); then
				kill -9 "$pid" 2>/dev/null &&
					echo "watchdog: killed recvtty $pid, left running by a test for > $((BATS_TEST_TIMEOUT + 30)) s" >>"$OUT/cleanup.log"
			fi
		done
		for fz in /sys/fs/cgroup/freezer/*/freezer.state /sys/fs/cgroup/freezer/runc-cgroups-integration-test/*/freezer.state \
			/sys/fs/cgroup/freezer/runc-cgroups-integration-test/*/*/freezer.state; do
			[ -f "$fz" ] || continue
			key=${fz%/freezer.state}
			[[ $(basename "$key") =~ $NAME_RE || $key == */runc-cgroups-integration-test/* ]] || continue
			if [ "$(cat "$fz" 2>/dev/null)" != FROZEN ]; then
				unset "since[$key]"
				continue
			fi
			[ -n "${since[$key]:-}" ] || since[$key]=$SECONDS
			if ((SECONDS - since[$key] > 60)); then
				echo THAWED >"$fz" 2>/dev/null
				echo "watchdog: thawed $key: frozen for > 60 s (pids: $(tr '\n' ' ' <"$key/cgroup.procs"))" >>"$OUT/cleanup.log"
				unset "since[$key]"
			fi
		done
	done
}

# --- expected failures -------------------------------------------------------------------------
# Line format: "<file>.bats :: <test name> :: <reason>"; '#' starts a comment line.
declare -A expected=()
if [ "$EXPECTED" != none ]; then
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		key=${line%% :: *}
		rest=${line#* :: }
		name=${rest%% :: *}
		reason=${rest#* :: }
		[ "$name" != "$rest" ] || { echo "conformance: bad line in $EXPECTED: $line" >&2; exit 2; }
		expected["$key :: $name"]=$reason
	done <"$EXPECTED"
fi

export RUNC=$RUNTIME
export PATH=$HERE/no-download:$PATH # curl, wget, git: refuse (spec.bats clones from the internet)
export GOPROXY=off GOFLAGS=-mod=mod GONOSUMDB='*' GOTOOLCHAIN=local
export TMPDIR=$OUT/tmp
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-120}
FILE_TIMEOUT=${CONFORMANCE_FILE_TIMEOUT:-900}
filter_args=()
[ -n "$FILTER" ] && filter_args=(--filter "$FILTER")

echo "# conformance: $(basename "$(dirname "$(dirname "$INTEG")")") integration tests against $RUNTIME"
echo "# ($("$RUNTIME" --version 2>&1 | head -1)); results in $OUT"
RECVTTY_BIN=$(readlink -f "$INTEG/../../contrib/cmd/recvtty/recvtty")
watchdog &
WATCHDOG=$!
trap 'kill $WATCHDOG 2>/dev/null' EXIT

pass=0 fail=0 skip=0
unexpected=() fixed=() expfail=()
start_all=$SECONDS
for f in "${files[@]}"; do
	[ -f "$INTEG/$f" ] || { echo "conformance: no $f in $INTEG" >&2; exit 2; }
	snap=$OUT/tap/${f%.bats}.cgroups-before
	cgroup_candidates >"$snap"
	t0=$SECONDS
	# Under a pseudo-terminal (script(1)): tests that run a container with a terminal in the
	# foreground need a controlling tty, as in runc's own CI.
	# events.bats waits for its subshells with a bare `wait`, which would also wait for bats'
	# own per-test timeout timer: it runs with the file timeout alone.
	tt=(env BATS_TEST_TIMEOUT="$BATS_TEST_TIMEOUT")
	[ "$f" = events.bats ] && tt=(env -u BATS_TEST_TIMEOUT)
	cmd=$(printf '%q ' "${tt[@]}" bats --tap "${filter_args[@]}" "$f")
	(cd "$INTEG" && timeout -k 30 "$FILE_TIMEOUT" script -qefc "$cmd >$(printf %q "$OUT/tap/$f.tap") 2>&1" /dev/null) </dev/null >/dev/null 2>&1
	rc=$?
	echo "$f $((SECONDS - t0)) $rc" >>"$OUT/times"
	((rc == 124 || rc == 137)) && echo "# $f: TIMED OUT after $FILE_TIMEOUT s" | tee -a "$OUT/cleanup.log"
	# Parse TAP: "ok N name", "ok N name # skip (reason)", "not ok N name" + "# ..." diagnostics.
	cur=""
	while IFS= read -r l; do
		if [[ $l =~ ^(not\ ok|ok)\ [0-9]+\ (.*)$ ]]; then
			res=${BASH_REMATCH[1]} name=${BASH_REMATCH[2]} detail=""
			if [ "$res" = ok ] && [[ $name =~ ^(.*)\ \#\ skip(\ (.*))?$ ]]; then
				name=${BASH_REMATCH[1]} st=skip detail=${BASH_REMATCH[3]}
			elif [ "$res" = ok ]; then st=pass; else st=fail; fi
			cur="$f :: $name"
			printf '%s\t%s\t%s\t%s\n' "$st" "$f" "$name" "$detail" >>"$OUT/results.tsv"
			case $st in
			pass)
				pass=$((pass + 1))
				echo "ok $f :: $name"
				[ -n "${expected[$cur]+x}" ] && fixed+=("$cur")
				;;
			skip)
				skip=$((skip + 1))
				echo "ok $f :: $name # skip ${detail}"
				;;
			fail)
				fail=$((fail + 1))
				if [ -n "${expected[$cur]+x}" ]; then
					echo "not ok $f :: $name # expected: ${expected[$cur]}"
					expfail+=("$cur")
				else
					echo "not ok $f :: $name"
					unexpected+=("$cur")
				fi
				;;
			esac
		fi
	done <"$OUT/tap/$f.tap"
	# A file that crashed before its plan (setup_file, helpers) counts as one failure.
	if ! grep -qE '^1\.\.[0-9]+' "$OUT/tap/$f.tap" || ((rc == 124 || rc == 137)); then
		fail=$((fail + 1))
		unexpected+=("$f :: (file did not complete: rc=$rc)")
		echo "not ok $f :: (file did not complete: rc=$rc)"
		printf 'fail\t%s\t%s\t\n' "$f" "(file did not complete: rc=$rc)" >>"$OUT/results.tsv"
	fi
	cleanup_after "$f" "$snap"
done
total_s=$((SECONDS - start_all))

echo
echo "# wall time: ${total_s} s for ${#files[@]} files"
if ((${#fixed[@]})); then
	echo "# on the expected-failure list but PASSED now (take them off the list):"
	printf '#   %s\n' "${fixed[@]}"
fi
if ((${#unexpected[@]})); then
	echo "# FAILED and not on the expected-failure list:"
	printf '#   %s\n' "${unexpected[@]}"
fi
echo "# expected failures: ${#expfail[@]}; unexpected failures: ${#unexpected[@]}; expected but passed: ${#fixed[@]}"
echo "conformance: $pass passed, $fail failed, $skip skipped"
{
	echo "runtime=$RUNTIME"
	echo "pass=$pass fail=$fail skip=$skip wall=${total_s}s unexpected=${#unexpected[@]} expected=${#expfail[@]} fixed=${#fixed[@]}"
} >"$OUT/summary"
((${#unexpected[@]} == 0))
