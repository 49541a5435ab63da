#!/usr/bin/env bash
# world-netns.sh: the test "world" (DESIGN.md, Test topology).
#
#   world-netns.sh up NAME        build it (tears down a previous NAME first)
#   world-netns.sh down NAME      tear it down; idempotent, also when half set up
#   world-netns.sh add-client NAME N       another client netns NAME-cN (N 2..9), its own veth
#                                          wN/c0 to the world: 198.18.1N.100/24 fd00:cf:1N::100/64
#                                          (for more than 64 firewalled containers: a netns
#                                          takes at most 64 members of its boundary filter)
#   world-netns.sh exec NAME CMD...        run CMD in the client netns NAME-c
#   world-netns.sh world-exec NAME CMD...  run CMD in the world netns NAME
#   world-netns.sh env NAME       print shell variables describing the topology
#
# Topology (nothing is added to the host's network namespace):
#
#   netns NAME-c (client; containers join /run/netns/NAME-c)        netns NAME (world)
#     c0 198.18.0.100/24 fd00:cf::100/64  <--- veth --->  w0 198.18.0.1/24 fd00:cf::1/64
#     default via 198.18.0.1 / fd00:cf::1 (no other route)    + 198.18.0.2 fd00:cf::2    dnsmasq
#                                                              + 198.18.0.10 fd00:cf::10  allowed.test
#                                                              + 198.18.0.20 fd00:cf::20  github.com
#                                                              + 198.18.0.30 fd00:cf::30  evil.test
#                                                              lo: 198.19.0.40 fd00:cf:1::40 far.test
#                                                                  (reachable only via the default route)
#
# dnsmasq answers only the test names (and their subdomains), A and AAAA, with no upstream and
# no /etc/hosts; everything else gets REFUSED. busybox httpd serves on port 80 of every server
# address; GET / returns "<name>\n". Pid files, logs and web roots live in $CGFW_WORLD_DIR/NAME
# (default /tmp/cgfw-world/NAME).
set -euo pipefail

WORLD_DIR_BASE=${CGFW_WORLD_DIR:-${TMPDIR:-/tmp}/cgfw-world}
BUSYBOX=${BUSYBOX:-$(command -v busybox || echo /usr/bin/busybox)}
DNSMASQ=${DNSMASQ:-$(command -v dnsmasq || echo /usr/sbin/dnsmasq)}

DNS4=198.18.0.2
DNS6=fd00:cf::2
GW4=198.18.0.1
GW6=fd00:cf::1
CLIENT4=198.18.0.100
CLIENT6=fd00:cf::100
# name ip4 ip6 where
SERVERS=(
	"allowed.test 198.18.0.10 fd00:cf::10 w0"
	"github.com 198.18.0.20 fd00:cf::20 w0"
	"evil.test 198.18.0.30 fd00:cf::30 w0"
	"far.test 198.19.0.40 fd00:cf:1::40 lo"
)

die() { echo "world-netns: $*" >&2; exit 1; }

check_name() {
	[[ ${1:-} =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$ ]] || die "bad NAME '${1:-}' (letters, digits, _.-, <= 31 chars)"
}

# Kill every process whose network namespace is netns $1 (they are all ours: we made it).
kill_netns_pids() {
	local ns=$1 pids i
	[ -e "/run/netns/$ns" ] || return 0
	for i in 1 2 3 4 5 6 7 8 9 10; do
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		[ -n "$pids" ] || return 0
		if [ "$i" -le 5 ]; then
			# shellcheck disable=SC2086
			kill $pids 2>/dev/null || true
		else
			# shellcheck disable=SC2086
			kill -9 $pids 2>/dev/null || true
		fi
		sleep 0.1
	done
	echo "world-netns: processes still in netns $ns: $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')" >&2
}

down() {
	local name=$1 dir=$WORLD_DIR_BASE/$1 f
	# Our daemons by pid file first, then anything left in either namespace.
	if [ -d "$dir" ]; then
		for f in "$dir"/*.pid; do
			[ -e "$f" ] || continue
			local pid
			pid=$(cat "$f" 2>/dev/null || true)
			[[ $pid =~ ^[0-9]+$ ]] && kill "$pid" 2>/dev/null || true
		done
	fi
	local extra
	for extra in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E "^$name-c[2-9]\$" || true); do
		kill_netns_pids "$extra"
		ip netns del "$extra" 2>/dev/null || true
	done
	kill_netns_pids "$name-c"
	kill_netns_pids "$name"
	ip netns del "$name-c" 2>/dev/null || true
	ip netns del "$name" 2>/dev/null || true
	rm -rf "$dir"
}

up() {
	local name=$1 dir=$WORLD_DIR_BASE/$1
	down "$name"
	mkdir -p "$dir/www"
	trap 'echo "world-netns: up failed, tearing down" >&2; down "$name"' ERR

	ip netns add "$name"
	ip netns add "$name-c"
	local W=(ip -n "$name") C=(ip -n "$name-c")
	ip netns exec "$name" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip netns exec "$name-c" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	# Ping from unprivileged users in containers (busybox ping uses a datagram socket if it may).
	ip netns exec "$name-c" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
	"${W[@]}" link set lo up
	"${C[@]}" link set lo up
	"${W[@]}" link add w0 type veth peer name c0 netns "$name-c"
	"${W[@]}" addr add "$GW4/24" dev w0
	"${W[@]}" addr add "$GW6/64" dev w0 nodad
	"${W[@]}" addr add "$DNS4/32" dev w0
	"${W[@]}" addr add "$DNS6/128" dev w0 nodad
	local s n a4 a6 dev
	for s in "${SERVERS[@]}"; do
		read -r n a4 a6 dev <<<"$s"
		if [ "$dev" = lo ]; then
			"${W[@]}" addr add "$a4/32" dev lo
			"${W[@]}" addr add "$a6/128" dev lo nodad
		else
			"${W[@]}" addr add "$a4/32" dev w0
			"${W[@]}" addr add "$a6/128" dev w0 nodad
		fi
	done
	"${W[@]}" link set w0 up
	"${C[@]}" addr add "$CLIENT4/24" dev c0
	"${C[@]}" addr add "$CLIENT6/64" dev c0 nodad
	"${C[@]}" link set c0 up
	"${C[@]}" route add default via "$GW4" dev c0
	"${C[@]}" -6 route add default via "$GW6" dev c0

	# DNS: only the test names; no upstream, no hosts file, only in the world netns.
	local dargs=(--keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces
		--listen-address="$DNS4" --listen-address="$DNS6" --except-interface=lo
		--pid-file="$dir/dnsmasq.pid" --dhcp-leasefile="$dir/dnsmasq.leases"
		--log-facility="$dir/dnsmasq.log" --log-queries --user=nobody --group=nogroup
		--cache-size=0 --local-ttl=5)
	for s in "${SERVERS[@]}"; do
		read -r n a4 a6 dev <<<"$s"
		dargs+=(--address="/$n/$a4" --address="/$n/$a6")
	done
	ip netns exec "$name" "$DNSMASQ" "${dargs[@]}" </dev/null >"$dir/dnsmasq.out" 2>&1 &

	# HTTP servers, one per address, foreground processes we track by pid.
	for s in "${SERVERS[@]}"; do
		read -r n a4 a6 dev <<<"$s"
		mkdir -p "$dir/www/$n"
		echo "$n" >"$dir/www/$n/index.html"
		ip netns exec "$name" "$BUSYBOX" httpd -f -p "$a4:80" -h "$dir/www/$n" </dev/null >/dev/null 2>&1 &
		echo $! >"$dir/httpd-$n-4.pid"
		ip netns exec "$name" "$BUSYBOX" httpd -f -p "[$a6]:80" -h "$dir/www/$n" </dev/null >/dev/null 2>&1 &
		echo $! >"$dir/httpd-$n-6.pid"
	done

	# Ready when DNS answers from the client side and HTTP serves (bounded: ~10 s).
	local i ok="" deadline=$((SECONDS + 15))
	for i in $(seq 1 50); do
		[ "$SECONDS" -lt "$deadline" ] || break
		if ip netns exec "$name-c" timeout 2 "$BUSYBOX" nslookup allowed.test "$DNS4" 2>/dev/null | grep -q 198.18.0.10 &&
			ip netns exec "$name-c" timeout 2 "$BUSYBOX" wget -q -O - "http://198.18.0.10/" 2>/dev/null | grep -q allowed.test &&
			ip netns exec "$name-c" timeout 2 "$BUSYBOX" wget -q -O - "http://[fd00:cf:1::40]/" 2>/dev/null | grep -q far.test; then
			ok=1
			break
		fi
		sleep 0.2
	done
	trap - ERR
	if [ -z "$ok" ]; then
		echo "world-netns: world $name did not become ready; dnsmasq said:" >&2
		cat "$dir/dnsmasq.out" >&2 || true
		down "$name"
		exit 1
	fi
	env_ "$name" >"$dir/env"
	echo "world-netns: $name up (client netns /run/netns/$name-c, DNS $DNS4 / $DNS6)"
}

add_client() {
	local name=$1 n=$2 cn="$1-c$2"
	[[ $n =~ ^[2-9]$ ]] || die "add-client: N must be 2..9"
	[ -e "/run/netns/$name" ] || die "world $name is not up"
	[ ! -e "/run/netns/$cn" ] || die "client $cn exists"
	ip netns add "$cn"
	ip netns exec "$cn" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip netns exec "$cn" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
	ip -n "$cn" link set lo up
	ip -n "$name" link add "w$n" type veth peer name c0 netns "$cn"
	ip -n "$name" addr add "198.18.1$n.1/24" dev "w$n"
	ip -n "$name" addr add "fd00:cf:1$n::1/64" dev "w$n" nodad
	ip -n "$name" link set "w$n" up
	ip -n "$cn" addr add "198.18.1$n.100/24" dev c0
	ip -n "$cn" addr add "fd00:cf:1$n::100/64" dev c0 nodad
	ip -n "$cn" link set c0 up
	ip -n "$cn" route add default via "198.18.1$n.1" dev c0
	ip -n "$cn" -6 route add default via "fd00:cf:1$n::1" dev c0
	local i
	for i in $(seq 1 50); do
		ip netns exec "$cn" timeout 2 "$BUSYBOX" wget -q -O - "http://198.18.0.10/" 2>/dev/null | grep -q allowed.test && {
			echo "world-netns: client $cn up"
			return 0
		}
		sleep 0.1
	done
	die "client $cn cannot reach the world"
}

env_() {
	local name=$1
	cat <<-EOF
		WORLD_NAME=$name
		WORLD_NETNS=/run/netns/$name
		WORLD_CLIENT_NETNS=/run/netns/$name-c
		WORLD_DNS4=$DNS4
		WORLD_DNS6=$DNS6
		WORLD_CLIENT4=$CLIENT4
		WORLD_CLIENT6=$CLIENT6
		WORLD_DIR=$WORLD_DIR_BASE/$name
	EOF
	local s n a4 a6 dev v
	for s in "${SERVERS[@]}"; do
		read -r n a4 a6 dev <<<"$s"
		v=$(echo "${n%%.*}" | tr 'a-z' 'A-Z')
		echo "WORLD_${v}_IP4=$a4"
		echo "WORLD_${v}_IP6=$a6"
	done
}

cmd=${1:-}
[ $# -ge 2 ] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
name=$2
check_name "$name"
shift 2
case "$cmd" in
up) up "$name" ;;
add-client) add_client "$name" "${1:-}" ;;
down) down "$name" ;;
env) env_ "$name" ;;
exec)
	[ $# -ge 1 ] || die "exec needs a command"
	[ -e "/run/netns/$name-c" ] || die "world $name is not up"
	exec ip netns exec "$name-c" "$@" ;;
world-exec)
	[ $# -ge 1 ] || die "world-exec needs a command"
	[ -e "/run/netns/$name" ] || die "world $name is not up"
	exec ip netns exec "$name" "$@" ;;
*) die "unknown command '$cmd' (up|down|exec|world-exec|env)" ;;
esac
