#!/usr/bin/env bats
# `cgfw-runc metrics` (issue 14, point 4): the firewall's figures in the Prometheus text format,
# read back by a real parser (the Python client's prometheus_client.parser, Debian package
# python3-prometheus-client) and checked against what real clients in a Debian rootfs did in
# the test world: curl and python3 fetching allowed and blocked names and addresses, in enforce
# and audit mode; a killed sidecar; a corrupt report; --output's atomic write.
#
#   RUNTIME=... bats integration/bats/metrics.bats      (root; ~30 s, the rootfs cached)
#
# Needs what firewall.bats needs, hack/mkrootfs-debian.sh's rootfs (built once, cached) and
# /usr/bin/python3 with prometheus_client.

load helpers
load firewall_helpers

PY=/usr/bin/python3

setup_file() {
	"$PY" -c 'import prometheus_client.parser' 2>/dev/null ||
		skip "python3-prometheus-client not installed (hack/install-deps.sh)"
	fw_setup_file met
	export DEBIAN_ROOTFS
	DEBIAN_ROOTFS=$("$REPO_ROOT/hack/mkrootfs-debian.sh")
}
teardown_file() { fw_teardown_file; }

setup() { fw_setup; }
teardown() { teardown_common; }

# dbundle DIR [mkbundle.sh options]: a bundle on the Debian rootfs in the world's client netns.
dbundle() {
	local dir=$1
	shift
	mkbundle "$dir" --rootfs-dir "$DEBIAN_ROOTFS" --net-ns "$FW_NETNS" --nameserver "$FW_DNS4" "$@"
}

# metrics [ARGS]: run `cgfw-runc metrics`, parse stdout with the Prometheus client's parser and
# leave the samples in $SAMPLES (JSON: [{name, labels, value}]); stderr in $METRICS_ERR. The
# parser's checks: every family has HELP and a type; counters' samples end in _total.
metrics() {
	frt metrics "$@" >"$TEST_DIR/metrics.prom" 2>"$TEST_DIR/metrics.err"
	METRICS_ERR=$(cat "$TEST_DIR/metrics.err")
	SAMPLES=$(parse_metrics "$TEST_DIR/metrics.prom")
}

# parse_metrics FILE: the samples of an exposition as JSON, after the parser's checks.
parse_metrics() {
	"$PY" - "$1" <<-'PY'
		import json, sys
		from prometheus_client.parser import text_string_to_metric_families
		samples = []
		for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
		    assert fam.name.startswith("cgfw_"), fam.name
		    assert fam.documentation, f"{fam.name} has no HELP"
		    assert fam.type in ("counter", "gauge"), f"{fam.name}: type {fam.type}"
		    for s in fam.samples:
		        if fam.type == "counter":
		            assert s.name == fam.name + "_total", s.name
		        samples.append({"name": s.name, "labels": s.labels, "value": s.value})
		print(json.dumps(samples))
	PY
}

# value NAME CONTAINER [EXTRA-LABEL=VALUE]: the sample's value (empty if none), e.g.
# value cgfw_dns_queries_total "$c" verdict=blocked. CONTAINER "" for node-wide series.
value() {
	local extra=${3:-=}
	jq -r --arg n "$1" --arg c "$2" --arg k "${extra%%=*}" --arg v "${extra#*=}" '
		[.[] | select(.name == $n and (($c == "" and (.labels.container_id == null)) or .labels.container_id == $c)
			and ($k == "" or .labels[$k] == $v))] | if length == 1 then .[0].value | floor else empty end
	' <<<"$SAMPLES"
}

# want NAME CONTAINER EXTRA EXPECTED: value NAME ... == EXPECTED, else fail with the samples.
want() {
	local got
	got=$(value "$1" "$2" "$3")
	[ "$got" = "$4" ] || fail "$1{container_id=$2,$3} = '$got', want $4; metrics:"$'\n'"$(cat "$TEST_DIR/metrics.prom")"
}

# log_count ID JQ-SELECT: event-log lines of ID matching.
log_count() { events "$1" "$2" | wc -l; }

# wait_log_count ID JQ-SELECT N: until the event log has at least N matching lines (5 s).
wait_log_count() {
	local i
	for ((i = 0; i < 50; i++)); do
		(($(log_count "$1" "$2") >= $3)) && return 0
		sleep 0.1
	done
	fail "fewer than $3 lines ($2) in $(evlog "$1"): $(cat "$(evlog "$1")")"
}

@test "metrics: curl and python3 in enforce and audit mode, counted per container as the event log has them" {
	local e a p t
	e=$(cid enf)
	a=$(cid aud)
	p=$(cid plain)
	# CRI annotations name the workload (their labels appear once the report carries them).
	dbundle "$TEST_DIR/e" --annotation cgfw.io/allow=allowed.test --annotation cgfw.io/log=all \
		--annotation io.kubernetes.cri.sandbox-namespace=team-a --annotation io.kubernetes.cri.sandbox-name=web-0 \
		--annotation io.kubernetes.cri.container-name=app
	dbundle "$TEST_DIR/a" --annotation cgfw.io/allow=allowed.test --annotation cgfw.io/mode=audit --annotation cgfw.io/log=all
	dbundle "$TEST_DIR/p"
	for t in e a p; do
		local id
		id=$(eval echo "\$$t")
		frt create --bundle "$TEST_DIR/$t" "$id"
		frt start "$id"
	done

	# Enforce: an allowed fetch; a blocked name (curl, python3); three connects to an address
	# no allowed name resolved to (python3); one raw query of a blocked name (dig, one try).
	run -0 frt exec "$e" curl -sS -m 5 http://allowed.test/
	[ "$output" = allowed.test ]
	run -6 frt exec "$e" curl -sS -m 5 http://github.com/
	run -0 frt exec "$e" python3 -c '
import socket
try:
    socket.getaddrinfo("evil.test", 80, type=socket.SOCK_STREAM)
    raise SystemExit("evil.test resolved")
except socket.gaierror:
    pass
refused = 0
for _ in range(3):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(("198.18.0.30", 80))
    except PermissionError:
        refused += 1
    s.close()
assert refused == 3, refused
print("ok")'
	run frt exec "$e" dig +tries=1 +time=2 +short A far.test
	# Audit (same allow list): github.com is fetched (would block), and an address no allowed
	# name resolved to is connected to (would block).
	run -0 frt exec "$a" curl -sS -m 5 http://github.com/
	[ "$output" = github.com ]
	run -0 frt exec "$a" python3 -c '
import socket
s = socket.create_connection(("198.18.0.30", 80), timeout=3)
s.close()
print("ok")'

	# Refused connects reach the sidecar asynchronously (kernel events; the log is flushed
	# about once a second): wait for them, then a fresh report from each sidecar (`report`
	# asks for one, flushing the log too), then the metrics.
	wait_log_count "$e" '.kind == "connect" and .verdict == "blocked"' 3
	wait_log_count "$a" '.kind != "dns" and .verdict == "would_block"' 1
	frt report "$e" >/dev/null
	frt report "$a" >/dev/null
	metrics
	[ -z "$METRICS_ERR" ] || fail "warnings: $METRICS_ERR"

	# What the run did, as the event logs have it (log=all: every event is a line; no line
	# was suppressed at this rate, which the metrics say too).
	local blocked allowed
	blocked=$(log_count "$e" '.kind == "dns" and .verdict == "blocked"')
	allowed=$(log_count "$e" '.kind == "dns" and .verdict == "allowed"')
	# curl github.com and python3 evil.test: A and AAAA each at least; dig: one more.
	((blocked >= 5)) || fail "only $blocked blocked queries logged: $(cat "$(evlog "$e")")"
	((allowed >= 2)) || fail "only $allowed allowed queries logged"
	want cgfw_dns_queries_total "$e" verdict=blocked "$blocked"
	want cgfw_dns_queries_total "$e" verdict=allowed "$allowed"
	want cgfw_dns_queries_total "$e" verdict=would_block 0
	want cgfw_connects_refused_total "$e" "" 3
	want cgfw_connects_refused_total "$e" "" "$(log_count "$e" '.kind == "connect" and .verdict == "blocked"')"
	want cgfw_would_block_total "$e" "" 0
	want cgfw_log_lines_suppressed_total "$e" "" 0
	want cgfw_events_suppressed_total "$e" "" 0
	want cgfw_allow_map_full_total "$e" "" 0
	want cgfw_sidecar_up "$e" "" 1
	want cgfw_audit_mode "$e" "" 0
	# Audit: github.com's queries would block; the direct connect would block; nothing refused.
	local wb
	wb=$(log_count "$a" '.kind == "dns" and .verdict == "would_block"')
	((wb >= 1)) || fail "no would_block query logged: $(cat "$(evlog "$a")")"
	want cgfw_dns_queries_total "$a" verdict=would_block "$wb"
	want cgfw_dns_queries_total "$a" verdict=blocked 0
	want cgfw_would_block_total "$a" "" "$(log_count "$a" '.kind != "dns" and .verdict == "would_block"')"
	[ "$(value cgfw_would_block_total "$a")" -ge 1 ] || fail "the direct connect was not counted"
	want cgfw_connects_refused_total "$a" "" 0
	want cgfw_audit_mode "$a" "" 1
	# The container without a policy has no series; node-wide figures.
	[ "$(jq --arg p "$p" '[.[] | select(.labels.container_id == $p)] | length' <<<"$SAMPLES")" = 0 ]
	want cgfw_firewalled_containers "" "" 2
	want cgfw_sidecars "" state=running 2
	want cgfw_sidecars "" state=dead 0
	want cgfw_reports_unreadable "" "" 0
	# Labels: the container id and the report's workload (empty where it names none), nothing else.
	local wl
	wl=$(frt report "$e" | jq -c '.workload // {}')
	jq -e --arg e "$e" --argjson w "$wl" '
		[.[] | select(.labels.container_id == $e)] | length > 10 and all(.[];
			(.labels | del(.verdict) | keys) == ["container", "container_id", "namespace", "pod"]
			and .labels.namespace == ($w.namespace // "") and .labels.pod == ($w.pod // "")
			and .labels.container == ($w.container // ""))
	' <<<"$SAMPLES" >/dev/null || fail "labels of $e wrong (workload $wl): $SAMPLES"
	# The sample for the closing note.
	{
		echo "# metrics of $e (enforce) and $a (audit):"
		grep -v '^#' "$TEST_DIR/metrics.prom" | sed 's/^/#   /'
	} >&3
}

@test "metrics: a killed sidecar shows as dead; a corrupt report keeps the container's liveness series, warns, and does not stop the others" {
	local k o pid
	k=$(cid kill)
	o=$(cid ok)
	mkbundle "$TEST_DIR/k" --net-ns "$FW_NETNS" --nameserver "$FW_DNS4" --annotation cgfw.io/allow=allowed.test
	mkbundle "$TEST_DIR/o" --net-ns "$FW_NETNS" --nameserver "$FW_DNS4" --annotation cgfw.io/allow=allowed.test
	frt run -d --bundle "$TEST_DIR/k" "$k"
	frt run -d --bundle "$TEST_DIR/o" "$o"
	run frt exec "$k" nslookup github.com 198.18.0.2
	frt report "$k" >/dev/null
	metrics
	want cgfw_sidecar_up "$k" "" 1
	want cgfw_sidecars "" state=running 2
	local blocked
	blocked=$(value cgfw_dns_queries_total "$k" verdict=blocked)
	((blocked >= 1)) || fail "no blocked query counted: $SAMPLES"

	pid=$(sidecar_pids "$k")
	[ -n "$pid" ]
	kill -9 $pid
	for _ in $(seq 1 50); do [ -z "$(sidecar_pids "$k")" ] && break; sleep 0.1; done
	metrics
	[ -z "$METRICS_ERR" ] || fail "warnings: $METRICS_ERR"
	want cgfw_sidecar_up "$k" "" 0
	want cgfw_sidecar_up "$o" "" 1
	want cgfw_sidecars "" state=running 1
	want cgfw_sidecars "" state=dead 1
	want cgfw_firewalled_containers "" "" 2
	# Its counters stay: the report the sidecar left.
	want cgfw_dns_queries_total "$k" verdict=blocked "$blocked"

	echo '{"totals": {"dns_queries": ' >"$LOGS/$k.report.json"
	metrics
	[[ $METRICS_ERR == *"$k"*"unreadable"* ]] || fail "no warning naming $k: $METRICS_ERR"
	want cgfw_sidecar_up "$k" "" 0
	want cgfw_sidecars "" state=dead 1
	want cgfw_reports_unreadable "" "" 1
	[ -z "$(value cgfw_dns_queries_total "$k" verdict=blocked)" ] || fail "counters from a corrupt report"
	want cgfw_dns_queries_total "$o" verdict=blocked 0
	rm "$LOGS/$k.report.json"
	metrics
	[[ $METRICS_ERR == *"$k"*"no report"* ]] || fail "no warning naming $k: $METRICS_ERR"
	want cgfw_sidecar_up "$k" "" 0
	want cgfw_reports_unreadable "" "" 1
	{
		echo "# metrics with $k's sidecar killed and its report removed:"
		grep -E '^cgfw_(sidecar|reports|firewalled)' "$TEST_DIR/metrics.prom" | sed 's/^/#   /'
	} >&3
}

@test "metrics --output: written atomically, 0644, what stdout prints; nothing left on failure" {
	local c
	c=$(cid out)
	mkbundle "$TEST_DIR/b" --net-ns "$FW_NETNS" --nameserver "$FW_DNS4" --annotation cgfw.io/allow=allowed.test
	frt run -d --bundle "$TEST_DIR/b" "$c"
	mkdir "$TEST_DIR/textfile"
	(umask 077 && frt metrics --output "$TEST_DIR/textfile/cgfw.prom")
	[ "$(stat -c %a "$TEST_DIR/textfile/cgfw.prom")" = 644 ]
	[ "$(ls -A "$TEST_DIR/textfile")" = cgfw.prom ] || fail "left: $(ls -A "$TEST_DIR/textfile")"
	SAMPLES=$(parse_metrics "$TEST_DIR/textfile/cgfw.prom")
	want cgfw_sidecar_up "$c" "" 1
	frt metrics >"$TEST_DIR/stdout.prom"
	cmp "$TEST_DIR/stdout.prom" "$TEST_DIR/textfile/cgfw.prom"
	run -1 frt metrics --output "$TEST_DIR/missing/cgfw.prom"
	[[ $output == *"writing $TEST_DIR/missing/cgfw.prom"* ]] || fail "$output"
	# The rename fails (a directory is in the way): its temporary file is removed.
	mkdir -p "$TEST_DIR/textfile/dir.prom/x"
	run -1 frt metrics --output "$TEST_DIR/textfile/dir.prom"
	[ "$(ls -A "$TEST_DIR/textfile" | tr '\n' ' ')" = "cgfw.prom dir.prom " ] || fail "left: $(ls -A "$TEST_DIR/textfile")"
}
