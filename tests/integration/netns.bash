# netns.bash — fixtures for the node-networking suite: a "host" network namespace per
# test in which coop runs (`ip netns exec`), containers as further namespaces (or real
# coop-runtime containers), an "outside" namespace for egress and a "client" one for
# published ports. Traffic only ever flows inside namespaces the test made; nothing is
# sent from the root namespace. Teardown deletes every namespace by name and kills the
# processes the test started by PID.
#
# Addresses: VPCs use 10.213.0.0/16 (default) and 10.77.0.0/16; the outside link is
# 198.18.0.0/24 (host .1, outside .2), the client link 198.18.1.0/24 (host .1, client
# .2) — never 192.0.2.0/24, this VM's own network.

COOP=${COOP:-$BUILD_DIR/coop}

# net_setup: the host namespace $H with lo up, forwarding on, rp_filter off (as a node
# would be), and coop's state under the test's tmpdir.
net_setup() {
	[ -x "$COOP" ] || skip "coop $COOP not built"
	command -v busybox >/dev/null || skip "busybox not installed"
	NS_PREFIX="cn${BATS_TEST_NUMBER}x$$"
	H=$NS_PREFIX
	NETNS=()
	export COOP_NET_DIR=$BATS_TEST_TMPDIR/net
	mk_netns "$H" || fail "cannot create netns $H"
	ip -n "$H" link set lo up
	hx sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

# mk_netns NAME: a named network namespace, deleted by teardown.
mk_netns() {
	ip netns add "$1" || return 1
	NETNS+=("$1")
}

# hx CMD...: run CMD in the host namespace.
hx() { ip netns exec "$H" "$@"; }
# coop ARGS...: the coop CLI on the host.
coop() { ip netns exec "$H" "$COOP" "$@"; }
# cx NAME CMD...: run CMD in container NAME's namespace.
cx() {
	local n=$1
	shift
	ip netns exec "$H-$n" "$@"
}

# container NAME [ATTACH-OPTIONS...]: a namespace $H-NAME attached as NAME; sets $IP.
container() {
	local n=$1
	shift
	mk_netns "$H-$n" || fail "cannot create netns $H-$n"
	IP=$(coop net attach --name "$n" "$@" "/run/netns/$H-$n") || fail "attach $n failed"
	eval "IP_${n//-/_}=$IP"
}

# outside: a namespace $H-out reached from the host over o0 (198.18.0.1 <-> .2), with
# no route back to any VPC: only masqueraded traffic can be answered.
outside() {
	mk_netns "$H-out" || fail "cannot create netns $H-out"
	ip -n "$H" link add o0 type veth peer name eth0 netns "$H-out" || return 1
	ip -n "$H" addr add 198.18.0.1/24 dev o0
	ip -n "$H" link set o0 up
	ip -n "$H-out" addr add 198.18.0.2/24 dev eth0
	ip -n "$H-out" link set eth0 up
	ip -n "$H-out" link set lo up
}

# client: a namespace $H-cl that sees the host as 198.18.1.1 (another machine's view).
client() {
	mk_netns "$H-cl" || fail "cannot create netns $H-cl"
	ip -n "$H" link add c0 type veth peer name eth0 netns "$H-cl" || return 1
	ip -n "$H" addr add 198.18.1.1/24 dev c0
	ip -n "$H" link set c0 up
	ip -n "$H-cl" addr add 198.18.1.2/24 dev eth0
	ip -n "$H-cl" link set eth0 up
	ip -n "$H-cl" link set lo up
	ip -n "$H-cl" route add default via 198.18.1.1
}

# httpd NETNS BODY [PORT]: busybox httpd in NETNS serving BODY at /, and /cgi-bin/ip
# printing the client's address as the server saw it. Started in the background.
httpd() {
	local ns=$1 body=$2 port=${3:-80} dir=$BATS_TEST_TMPDIR/www-$1-${3:-80}
	mkdir -p "$dir/cgi-bin"
	echo "$body" >"$dir/index.html"
	printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%%s\\n" "$REMOTE_ADDR"\n' \
		>"$dir/cgi-bin/ip"
	chmod +x "$dir/cgi-bin/ip"
	ip netns exec "$ns" busybox httpd -f -p "$port" -h "$dir" </dev/null >/dev/null 2>&1 3>&- &
	BG_PIDS+=($!)
	wait_for 5 listening "$ns" "$port" || fail "httpd in $ns did not start"
}

# listening NETNS PORT: something listens on tcp PORT in NETNS.
listening() { ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q .; }

# get NETNS URL: curl from NETNS, short timeouts, body on stdout.
get() { ip netns exec "$1" curl -sS --max-time 3 --connect-timeout 2 "$2"; }

# leftovers: what coop made that is still in the host namespace (links, nft tables,
# leases), one per line; empty when clean.
leftovers() {
	ip -n "$H" -br link | awk '$1 ~ /^(cb-|cv)/ { print "link " $1 }'
	ip -n "$H" -br addr | awk '/10\.213\.|10\.77\./ { print "address " $0 }'
	hx nft list tables 2>/dev/null | sed 's/^/nft /'
	if [ -f "$COOP_NET_DIR/state.json" ]; then
		coop net ls -o json | jq -r '.[] | "lease " + .name + " " + .ip'
	fi
}

# net_teardown: kill what the test started, delete its namespaces (which takes every
# link, address and rule coop made in them along), remove the state.
net_teardown() {
	local p n
	for p in "${BG_PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	BG_PIDS=()
	for ((n = ${#NETNS[@]} - 1; n >= 0; n--)); do
		ip netns del "${NETNS[$n]}" 2>/dev/null
	done
	NETNS=()
	return 0
}
