#!/usr/bin/env bash
# demo.sh: the seed scenario, end to end, on this machine. A "deploy script" runs in a container
# started by cgfw-runc with `cgfw.io/block: github.com`; it fetches an internal name (allowed)
# and github.com (blocked). Everything it talks to is a test network namespace made here
# (hack/world-netns.sh: dnsmasq + HTTP servers on 198.18.0.0/15), torn down at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/target/release/cgfw-runc
[ -x "$BIN" ] || { echo "demo: build first (make build)" >&2; exit 1; }
WORLD=cgfwdemo$$
TMP=$(mktemp -d /tmp/cgfw-demo.XXXXXX)
ID=deploy-$$
cleanup() {
	"$BIN" --root "$TMP/root" --cgfw-log-dir "$TMP/log" delete --force "$ID" >/dev/null 2>&1 || true
	bash hack/world-netns.sh down "$WORLD" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

bash hack/world-netns.sh up "$WORLD" >/dev/null
cat >"$TMP/deploy.sh" <<'SCRIPT'
echo "deploy: fetching build info from allowed.test"
timeout 5 wget -q -O- http://allowed.test/ && echo "deploy: allowed.test OK"
echo "deploy: pushing to github.com"
start=$(date +%s)
timeout 5 wget -q -O- http://github.com/ || echo "deploy: github.com refused after $(( $(date +%s) - start ))s"
echo "deploy: trying github.com's address directly"
timeout 5 wget -q -O- http://198.18.0.20/ || true
SCRIPT
bash hack/mkbundle.sh "$TMP/bundle" --net-ns "/run/netns/$WORLD-c" --nameserver 198.18.0.2 \
	--annotation cgfw.io/allow=allowed.test --args 'sh /deploy.sh' >/dev/null
cp "$TMP/deploy.sh" "$TMP/bundle/rootfs/deploy.sh"

echo "### policy"
"$BIN" policy check "$TMP/bundle" --query allowed.test --query github.com | sed -n '1,/^{/p' | sed '$d'
echo
echo "### cgfw-runc run (policy: cgfw.io/allow=allowed.test, default deny)"
"$BIN" --root "$TMP/root" --cgfw-log-dir "$TMP/log" run --bundle "$TMP/bundle" "$ID" || true
echo
echo "### event log ($TMP/log/$ID.jsonl)"
cat "$TMP/log/$ID.jsonl"
echo
echo "### audit report (cgfw-runc report $ID --format table)"
"$BIN" --root "$TMP/root" --cgfw-log-dir "$TMP/log" report "$ID" --format table
