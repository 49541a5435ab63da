#!/usr/bin/env bats
# Issue 14, point 3: Kubernetes-aware events and reports.
# - Search-list expansions: a Debian container with Kubernetes' resolv.conf (search list of
#   three cluster domains, ndots:5) fetches an allowed name with real clients (curl, python3,
#   getent, the Go client with Go's and with glibc's resolver): the refused expansions are
#   counted apart, not in the report's domain list; real refused queries still are.
# - Workload identity: CRI annotations and podman's container name in events and report.
#
#   RUNTIME=target/release/cgfw-runc bats integration/bats/clients_k8s.bats

load helpers
load firewall_helpers

SEARCH="team-a.svc.cluster.local svc.cluster.local cluster.local"

setup_file() {
	fw_setup_file k8
	export DEBIAN_ROOTFS
	DEBIAN_ROOTFS=$("$REPO_ROOT/hack/mkrootfs-debian.sh") || {
		echo "hack/mkrootfs-debian.sh failed" >&2
		return 1
	}
}
teardown_file() { fw_teardown_file; }

setup() {
	fw_setup
	printf 'search %s\nnameserver %s\noptions ndots:5\n' "$SEARCH" "$FW_DNS4" >"$TEST_DIR/resolv.k8s"
}
teardown() { teardown_common; }

# debbundle DIR SCRIPT [mkbundle options]: a Debian-rootfs bundle in the world running
# sh -c SCRIPT with Kubernetes' resolv.conf.
debbundle() {
	local dir=$1 script=$2
	shift 2
	mkbundle "$dir" --rootfs-dir "$DEBIAN_ROOTFS" --net-ns "$FW_NETNS" --resolv-conf "$TEST_DIR/resolv.k8s" \
		--args "$(jq -nc --arg s "$script" '["sh", "-c", $s]')" "$@"
}

# report ID: the final report (the container was run and deleted).
report() { cat "$LOGS/$1.report.json"; }

CLIENTS='set -u
curl -sS -m 10 -o /dev/null -w "curl %{http_code}\n" http://allowed.test/
python3 -c "import urllib.request as u; print(\"python3\", u.urlopen(\"http://allowed.test/\", timeout=10).status)"
getent ahostsv4 allowed.test | head -n1 | sed "s/^/getent /"
goclient-purego get http://allowed.test/ >/dev/null && echo goclient-purego ok
goclient-cgo get http://allowed.test/ >/dev/null && echo goclient-cgo ok
getent hosts github.com || echo "github.com refused"
echo done'

@test "k8s search list: expansions of real lookups are counted apart; a real refused name still shows" {
	local c
	c=$(cid exp)
	debbundle "$TEST_DIR/b" "$CLIENTS" --annotation cgfw.io/allow=allowed.test --annotation cgfw.io/log=all
	run -0 frt run --bundle "$TEST_DIR/b" "$c"
	echo "$output"
	[[ $output == *"curl 200"* && $output == *"python3 200"* && $output == *"getent 198.18.0.10"* ]] || fail "clients: $output"
	[[ $output == *"goclient-purego ok"* && $output == *"goclient-cgo ok"* && $output == *"github.com refused"* ]] || fail "clients: $output"
	run -0 report "$c"
	local r=$output
	jq '{totals, search_expansions, domains: [.domains[] | {domain, verdict, count}]}' <<<"$r"
	# Not one expansion in the domain list; allowed.test allowed; github.com still blocked.
	jq -e '[.domains[] | select(.domain | endswith("cluster.local"))] | length == 0' <<<"$r" >/dev/null ||
		fail "expansions in the domain list"
	jq -e '[.domains[] | select(.verdict == "blocked") | .domain] == ["github.com"]' <<<"$r" >/dev/null ||
		fail "blocked domains are not exactly github.com"
	jq -e '(.domains[] | select(.domain == "allowed.test") | .verdict) == "allowed"' <<<"$r" >/dev/null || fail "allowed.test"
	# Counted apart: every client expanded allowed.test over the three domains (A and AAAA).
	local domain n
	for domain in $SEARCH; do
		n=$(jq --arg d "allowed.test.$domain" '[.search_expansions[] | select(.domain == $d) | .count] | add // 0' <<<"$r")
		# 5 clients (curl, python3, getent, two Go resolvers), A and/or AAAA each.
		[ "$n" -ge 5 ] || fail "allowed.test.$domain expansions: $n"
		n=$(jq --arg d "github.com.$domain" '[.search_expansions[] | select(.domain == $d) | .count] | add // 0' <<<"$r")
		[ "$n" -ge 1 ] || fail "github.com.$domain expansions: $n"
	done
	jq -e '.totals.search_expansions == ([.search_expansions[].count] | add) and .totals.search_expansions >= 20
		and .totals.dns_blocked == ([.domains[] | select(.verdict == "blocked") | .count] | add)' <<<"$r" >/dev/null ||
		fail "totals"
	# The event log (cgfw.io/log=all): expansions marked, the real refusal not.
	run -0 events "$c" '.kind == "dns" and .verdict == "blocked" and (.search_expansion | not)'
	[ -n "$output" ] && ! grep -q 'cluster.local' <<<"$output" || fail "unmarked blocked events: $output"
	grep -q '"domain":"github.com"' <<<"$output" || fail "no github.com event: $output"
	run -0 events "$c" '.search_expansion == true'
	[ "$(grep -c . <<<"$output")" -ge 20 ] || fail "marked expansions: $output"
	! grep -vq 'cluster.local' <<<"$output" || fail "a marked event is not an expansion: $output"
	# The table says so.
	run -0 frt report --format table "$c"
	[[ $output == *"search-list expansions refused"*"allowed.test.team-a.svc.cluster.local"* ]] || fail "table: $output"
}

@test "k8s search list: at log level 'blocked' expansions are not written, only counted" {
	local c
	c=$(cid lvl)
	debbundle "$TEST_DIR/b" 'curl -sS -m 10 -o /dev/null -w "curl %{http_code}\n" http://allowed.test/' \
		--annotation cgfw.io/allow=allowed.test
	run -0 frt run --bundle "$TEST_DIR/b" "$c"
	[[ $output == *"curl 200"* ]] || fail "$output"
	run -0 events "$c" '.kind == "dns"'
	[ -z "$output" ] || fail "dns events written: $output"
	jq -e '.totals.search_expansions >= 3 and .totals.dns_blocked == 0 and ([.domains[].domain] == ["allowed.test"])' \
		"$LOGS/$c.report.json" >/dev/null || fail "report: $(report "$c")"
}

@test "k8s search list: what is not an expansion of a lookup by the same process stays a blocked event" {
	local c
	c=$(cid not)
	# dig asks exactly the name given (no search list): a lone expansion-shaped name, a name under
	# a domain not in the list, and an expansion whose stem another process (a second dig) asks.
	debbundle "$TEST_DIR/b" 'set -u
for n in lone.team-a.svc.cluster.local x.other.example x.cluster.local.evil.test secret.svc.cluster.local; do
	dig +short +tries=1 +time=3 "$n" A >/dev/null; echo "asked $n"
done
dig +short +tries=1 +time=3 secret A >/dev/null; echo "asked secret"' --annotation cgfw.io/allow=allowed.test
	run -0 frt run --bundle "$TEST_DIR/b" "$c"
	echo "$output"
	[[ $output == *"asked secret"* ]] || fail "$output"
	run -0 report "$c"
	local r=$output
	jq '{totals, search_expansions, domains: [.domains[] | {domain, verdict}]}' <<<"$r"
	local n
	for n in lone.team-a.svc.cluster.local x.other.example x.cluster.local.evil.test secret.svc.cluster.local secret; do
		jq -e --arg n "$n" '(.domains[] | select(.domain == $n) | .verdict) == "blocked"' <<<"$r" >/dev/null ||
			fail "$n is not a blocked domain in the report"
	done
	jq -e '.totals.search_expansions == 0 and (.search_expansions | not)' <<<"$r" >/dev/null || fail "labelled something"
	run -0 events "$c" '.kind == "dns" and .verdict == "blocked"'
	[ "$(grep -c . <<<"$output")" -eq 5 ] || fail "blocked events: $output"
}

@test "k8s search list: in audit mode expansions were forwarded, so they stay ordinary would-block queries" {
	local c
	c=$(cid aud)
	debbundle "$TEST_DIR/b" 'curl -sS -m 10 -o /dev/null -w "curl %{http_code}\n" http://allowed.test/' \
		--annotation cgfw.io/allow=allowed.test --annotation cgfw.io/mode=audit
	run -0 frt run --bundle "$TEST_DIR/b" "$c"
	[[ $output == *"curl 200"* ]] || fail "$output"
	jq -e '.totals.search_expansions == 0
		and ([.domains[] | select(.domain | endswith("cluster.local")) | .verdict] | length >= 1 and all(. == "would_block"))' \
		"$LOGS/$c.report.json" >/dev/null || fail "report: $(report "$c")"
	run -0 events "$c" '.kind == "dns" and .verdict == "would_block"'
	[ "$(grep -c 'cluster.local' <<<"$output")" -ge 1 ] || fail "events: $output"
}

SANDBOX=5f3c9d0e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d

@test "workload identity: CRI annotations name the pod in events, report and table; a bad value is dropped with a warning" {
	local c
	c=$(cid cri)
	debbundle "$TEST_DIR/b" 'getent hosts github.com; echo done' \
		--annotation cgfw.io/allow=allowed.test \
		--annotation io.kubernetes.cri.container-type=container \
		--annotation io.kubernetes.cri.sandbox-namespace=team-a \
		--annotation io.kubernetes.cri.sandbox-name=deploy-7f9c4-x2kq \
		--annotation io.kubernetes.cri.container-name=deploy \
		--annotation io.kubernetes.cri.sandbox-id=$SANDBOX
	run -0 frt run --bundle "$TEST_DIR/b" "$c"
	run -0 events "$c" '.domain == "github.com"'
	echo "$output"
	jq -se --arg c "$c" 'length >= 1 and all(.[]; .container == $c
		and .workload == {namespace: "team-a", pod: "deploy-7f9c4-x2kq", container: "deploy"})' <<<"$output" >/dev/null ||
		fail "events: $output"
	jq -e --arg s "$SANDBOX" '.workload == {namespace: "team-a", pod: "deploy-7f9c4-x2kq", container: "deploy", sandbox_id: $s}
		and (.warnings | length == 0)' "$LOGS/$c.report.json" >/dev/null || fail "report: $(report "$c")"
	run -0 frt report --format table "$c"
	[[ $output == *"workload: pod team-a/deploy-7f9c4-x2kq, container deploy, sandbox $SANDBOX"* ]] || fail "table: $output"
	run -0 frt report --pod team-a/deploy-7f9c4-x2kq
	jq -e --arg c "$c" 'length == 1 and .[0].container == $c' <<<"$output" >/dev/null || fail "--pod: $output"
	run -1 frt report --pod team-a/nosuchpod

	# A value with a control character (and JSON in it) is dropped, said in the report and the
	# runtime's log; the rest is kept and the container runs.
	c=$(cid bad)
	debbundle "$TEST_DIR/b2" 'getent hosts github.com; echo done' \
		--annotation cgfw.io/allow=allowed.test \
		--annotation io.kubernetes.cri.sandbox-namespace=team-a
	# (jq: mkbundle.sh takes no newline in an annotation)
	spec_edit "$TEST_DIR/b2" '.annotations["io.kubernetes.cri.sandbox-name"] = "evil\n{\"verdict\":\"allowed\"}"'
	run -0 frt run --bundle "$TEST_DIR/b2" "$c"
	[[ $output == *done* ]] || fail "$output"
	[[ $output == *"sandbox-name dropped"* ]] || fail "no warning on the runtime's stderr: $output"
	run -0 events "$c" '.domain == "github.com"'
	jq -se 'length >= 1 and all(.[]; .workload == {namespace: "team-a"} and .verdict == "blocked")' <<<"$output" >/dev/null ||
		fail "events: $output"
	[ "$(wc -l <"$LOGS/$c.jsonl")" -eq "$(jq -c . "$LOGS/$c.jsonl" | wc -l)" ] || fail "a log line is not one JSON object"
	jq -e '.workload == {namespace: "team-a"}
		and (.warnings | any(contains("io.kubernetes.cri.sandbox-name dropped") and contains("evil\\n{\\\"verdict")))' \
		"$LOGS/$c.report.json" >/dev/null || fail "report: $(report "$c")"
	# Nothing known: no workload object at all.
	c=$(cid none)
	debbundle "$TEST_DIR/b3" 'getent hosts github.com; echo done' --annotation cgfw.io/allow=allowed.test
	run -0 frt run --bundle "$TEST_DIR/b3" "$c"
	jq -e 'has("workload") | not' "$LOGS/$c.report.json" >/dev/null || fail "report: $(report "$c")"
	run -0 events "$c" 'has("workload")'
	[ -z "$output" ] || fail "events: $output"
}

@test "workload identity: podman's container name in events and report" {
	command -v podman >/dev/null || skip "podman not installed"
	local rt_root=$TEST_DIR/rtroot name
	name=$(cid podname)
	fwbundle "$TEST_DIR/pb" --args sh
	# podman 4.3's clean-up process drops --runtime-flag: global flags go in a wrapper.
	cat >"$TEST_DIR/runtime" <<-EOF2
		#!/bin/sh
		exec "$RUNTIME" --root "$rt_root" --cgfw-log-dir "$LOGS" "\$@"
	EOF2
	chmod +x "$TEST_DIR/runtime"
	local podman=(podman --root "$TEST_DIR/storage" --runroot "$TEST_DIR/runroot" --tmpdir "$TEST_DIR/ptmp"
		--cgroup-manager cgroupfs --events-backend file --runtime "$TEST_DIR/runtime")
	run -0 timeout --kill-after=5 60 "${podman[@]}" run --rm --name "$name" --cidfile "$TEST_DIR/cid" \
		--annotation cgfw.io/block=github.com --network "ns:$FW_NETNS" --dns "$FW_DNS4" --no-hosts \
		--ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --rootfs "$TEST_DIR/pb/rootfs" \
		sh -c 'timeout 5 wget -q -O- http://github.com/; echo rc=$?' </dev/null
	echo "$output"
	local id
	id=$(cat "$TEST_DIR/cid")
	run -0 events "$id" '.domain == "github.com"'
	jq -se --arg n "$name" 'length >= 1 and all(.[]; .workload == {name: $n})' <<<"$output" >/dev/null || fail "events: $output"
	jq -e --arg n "$name" '.workload == {name: $n}' "$LOGS/$id.report.json" >/dev/null || fail "report: $(report "$id")"
	timeout 60 "${podman[@]}" rm -a -f -t 0 >/dev/null 2>&1 || true
	local m
	for m in $(awk -v d="$TEST_DIR" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
}
