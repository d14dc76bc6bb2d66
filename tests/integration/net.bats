#!/usr/bin/env bats
# Node networking: VPCs, attaching namespaces, egress, published ports balanced over
# replicas, DNS — against real network namespaces. coop runs inside a "host" namespace
# made per test; containers are namespaces of their own (and one real coop-runtime
# container). See netns.bash for the layout and addresses.

load helpers
load netns

setup() {
	net_setup
	CONTAINERS=()
	ROOTFS_IDS=()
	BG_PIDS=()
}

teardown() {
	local rc=0
	if [ "${#CONTAINERS[@]}" -gt 0 ]; then
		common_teardown || rc=1
	fi
	net_teardown
	return $rc
}

# fails_cleanly CMD...: CMD exits 1 with exactly one line on stderr.
fails_cleanly() {
	run --separate-stderr "$@"
	echo "status=$status stderr:"
	printf '%s\n' "${stderr_lines[@]}"
	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "${stderr_lines[0]}" == coop:* ]]
}

# ping_ok NAME IP / ping_fails NAME IP
ping_ok() { cx "$1" busybox ping -c1 -W2 "$2" >/dev/null; }
ping_fails() { ! cx "$1" busybox ping -c1 -W1 "$2" >/dev/null 2>&1; }

@test "vpc: the default VPC exists; create, list, delete by id or name" {
	run coop vpc list -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.[0].name + " " + .[0].cidr + " " + .[0].subnet')" = \
		"default 10.213.0.0/16 10.213.0.0/24" ]
	id=$(coop vpc create --name backend --cidr 10.77.0.0/16)
	[[ "$id" =~ ^[0-9a-f]{12}$ ]]
	run coop vpc list
	[[ "$output" == *"backend"*"10.77.0.0/16"*"10.77.0.0/24"*"10.77.0.1"*"cb-${id:0:8}"* ]]
	small=$(coop vpc create --name small --cidr 10.78.0.0/29)
	[ "$(coop vpc list -o json | jq -r '.[] | select(.name == "small") | .subnet')" = 10.78.0.0/29 ]
	run coop vpc delete "$id" small
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$id" ] && [ "${lines[1]}" = "$small" ]
	# already gone: success, as `cc vpc delete` does
	coop vpc delete "$id"
	[ "$(coop vpc list -o json | jq length)" -eq 1 ]
}

@test "vpc: invalid and overlapping CIDRs, bad names, the default VPC are refused" {
	fails_cleanly coop vpc create --name b --cidr 10.213.4.0/24
	[ "$stderr" = "coop: VPC 'b' 10.213.4.0/24 overlaps VPC 'default' 10.213.0.0/16" ]
	fails_cleanly coop vpc create --name b --cidr 10.77.0.1/16
	[[ "$stderr" == *"host bits set (did you mean 10.77.0.0/16?)"* ]]
	fails_cleanly coop vpc create --name b --cidr 10.77.0.0
	fails_cleanly coop vpc create --name b --cidr 127.0.0.0/16
	fails_cleanly coop vpc create --name b --cidr 10.0.0.0/31
	fails_cleanly coop vpc create --name B_ --cidr 10.77.0.0/16
	fails_cleanly coop vpc create --name default --cidr 10.77.0.0/16
	fails_cleanly coop vpc delete default
	run --separate-stderr coop vpc create --name b
	[ "$status" -eq 2 ]
	[ "$(coop vpc list -o json | jq length)" -eq 1 ]
	[ -z "$(leftovers)" ]
}

@test "attach: two containers on one VPC reach each other by IP and by name" {
	container web --workload site --etc "$BATS_TEST_TMPDIR/etc-web"
	[ "$IP" = 10.213.0.2 ]
	container db
	[ "$IP" = 10.213.0.3 ]
	run coop net ls
	[[ "$output" == *"web"*"default"*"10.213.0.2"*"site"* ]]
	# inside: eth0 with the address, lo up, default route via the gateway
	[[ "$(cx web ip -br addr show eth0)" == *"10.213.0.2/24"* ]]
	[[ "$(cx web ip route show default)" == "default via 10.213.0.1 dev eth0"* ]]
	ping_ok web "$IP_db"
	ping_ok db "$IP_web"
	ping_ok web 127.0.0.1
	grep -q "^10.213.0.2	web web.coop$" "$BATS_TEST_TMPDIR/etc-web/hosts"
	[ "$(cat "$BATS_TEST_TMPDIR/etc-web/hostname")" = web ]
	[ "$(cat "$BATS_TEST_TMPDIR/etc-web/resolv.conf")" = "$(printf 'nameserver 10.213.0.1\nsearch coop')" ]
	# by name, through the VPC's resolver on its gateway
	ip netns exec "$H" "$COOP" dns serve --upstream "" </dev/null >"$BATS_TEST_TMPDIR/dns.log" 2>&1 3>&- &
	BG_PIDS+=($!)
	wait_for 5 eval 'hx ss -Hlun "sport = :53" | grep -q 10.213.0.1' || fail "resolver not up"
	run cx web busybox nslookup db 10.213.0.1
	[[ "$output" == *"Address"*"10.213.0.3"* ]] || fail "$output"
	run cx db busybox nslookup web.coop 10.213.0.1
	[[ "$output" == *"10.213.0.2"* ]] || fail "$output"
	run cx db busybox nslookup site 10.213.0.1
	[[ "$output" == *"10.213.0.2"* ]] || fail "$output"
	run cx db busybox nslookup nosuch 10.213.0.1
	[[ "$output" == *"NXDOMAIN"* ]] || fail "$output"
	# a container attached later is found without restarting the resolver
	container cache --workload site
	wait_for 3 eval 'cx web busybox nslookup cache 10.213.0.1 | grep -q 10.213.0.4' ||
		fail "new container not resolved"
	run cx web busybox nslookup site 10.213.0.1
	[[ "$output" == *"10.213.0.2"* && "$output" == *"10.213.0.4"* ]] || fail "$output"
}

@test "attach: containers on two VPCs cannot reach each other" {
	coop vpc create --name other --cidr 10.77.0.0/16 >/dev/null
	container a
	container b --vpc other
	[ "$IP_b" = 10.77.0.2 ]
	container a2
	ping_ok a "$IP_a2"
	ping_fails a "$IP_b"
	ping_fails b "$IP_a"
	ping_fails b "$IP_a2"
	# the VPC in use cannot go
	fails_cleanly coop vpc delete other
	[ "$stderr" = "coop: VPC 'other' is in use by 1 container: b" ]
}

@test "egress: masqueraded to the host's address, reaching an outside namespace" {
	outside
	httpd "$H-out" outside
	container c1
	run get "$H-c1" http://198.18.0.2/
	[ "$output" = outside ] || fail "$output"
	# the outside saw the host, not the container
	run get "$H-c1" http://198.18.0.2/cgi-bin/ip
	[[ "$output" == *198.18.0.1* ]] || fail "source seen outside: $output"
}

@test "ports: a published port answers another host, the host itself and its containers (hairpin)" {
	client
	container web
	httpd "$H-web" hello-web
	container other
	coop port publish -p 8080:80 --name web
	coop port backend add web web
	run coop port ls
	[[ "$output" == *"web"*"8080:80/tcp"*"default"*"web=10.213.0.2"* ]]
	run get "$H-cl" http://198.18.1.1:8080/
	[ "$output" = hello-web ] || fail "from another host: $output"
	run get "$H" http://198.18.1.1:8080/
	[ "$output" = hello-web ] || fail "from the host: $output"
	run get "$H" http://127.0.0.1:8080/
	[ "$output" = hello-web ] || fail "from the host's loopback: $output"
	run get "$H-other" http://198.18.1.1:8080/
	[ "$output" = hello-web ] || fail "from a container: $output"
	run get "$H-web" http://198.18.1.1:8080/
	[ "$output" = hello-web ] || fail "from the backend itself (hairpin): $output"
	# no healthy backend: refused, not black-holed
	coop port backend health web web --unhealthy
	run get "$H-cl" http://198.18.1.1:8080/
	[ "$status" -ne 0 ]
	[[ "$output" == *"refused"* || "$output" == *"Couldn't connect"* ]] || fail "$output"
	coop port rm web
	[ "$(coop port ls -o json)" = "[]" ]
}

@test "ports: three replicas behind one port all receive traffic; an unhealthy one stops at once" {
	client
	coop port publish -p 8080:80 --name web
	for i in 1 2 3; do
		container "r$i" --workload web
		httpd "$H-r$i" "replica-$i"
		coop port backend add web "r$i"
	done
	declare -A seen=()
	for i in $(seq 30); do
		out=$(get "$H-cl" http://198.18.1.1:8080/) || fail "request $i failed"
		seen[$out]=$((${seen[$out]:-0} + 1))
	done
	echo "${!seen[@]} / ${seen[*]}"
	[ "${#seen[@]}" -eq 3 ]
	coop port backend health web r2 --unhealthy
	[ "$(coop port ls -o json | jq -r '.[0].backends[] | select(.healthy | not) | .name')" = r2 ]
	for i in $(seq 20); do
		out=$(get "$H-cl" http://198.18.1.1:8080/) || fail "request $i failed"
		[ "$out" != replica-2 ] || fail "unhealthy replica got request $i"
	done
	coop port backend health web r2 --healthy
	seen=()
	for i in $(seq 15); do
		out=$(get "$H-cl" http://198.18.1.1:8080/)
		seen[$out]=1
	done
	[ -n "${seen[replica-2]:-}" ]
	# a detached replica leaves the backends
	coop net detach r3
	[ "$(coop port ls -o json | jq -r '[.[0].backends[].name] | join(",")')" = r1,r2 ]
}

@test "cleanup: deleting everything leaves no links, addresses, nft tables or leases" {
	coop vpc create --name other --cidr 10.77.0.0/16 >/dev/null
	container a
	container b --vpc other
	coop port publish -p 8080:80 --name web
	coop port publish -p 5353:53/udp --name dns
	coop port backend add web a
	[ -n "$(leftovers)" ]
	hx nft list table inet coop >/dev/null
	coop port rm web dns
	coop net detach a b
	coop vpc delete other
	run leftovers
	[ -z "$output" ] || fail "left behind: $output"
	[ "$(jq '[.vpcs[].leases | length] | add' "$COOP_NET_DIR/state.json")" -eq 0 ]
}

@test "state: leases and bridges are re-adopted after a restart, never duplicated" {
	container a
	container b
	# a fresh process reads the lease log; sync adopts the bridge and re-applies rules
	coop net sync
	[ "$(ip -n "$H" -br link | grep -c '^cb-')" -eq 1 ]
	run coop net ls -o json
	[ "$(echo "$output" | jq -r '[.[].ip] | join(",")')" = 10.213.0.2,10.213.0.3 ]
	# a flushed ruleset comes back
	hx nft delete table inet coop
	coop net sync
	hx nft list table inet coop >/dev/null
	# the next address is not a reused one
	coop net detach b
	container c
	[ "$IP" = 10.213.0.4 ]
	fails_cleanly coop net attach --name a "/run/netns/$H-c"
	[[ "$stderr" == *"'a' is already attached to VPC 'default' (10.213.0.2)"* ]]
}

@test "bad input: an exhausted pool, a busy host port, a name collision leave nothing half-built" {
	coop vpc create --name tiny --cidr 10.77.0.0/29 >/dev/null
	for i in 1 2 3 4 5; do container "t$i" --vpc tiny; done
	mk_netns "$H-t6"
	fails_cleanly coop net attach --vpc tiny --name t6 "/run/netns/$H-t6"
	[ "$stderr" = "coop: VPC 'tiny': subnet 10.77.0.0/29 is full (5 addresses leased)" ]
	[ "$(ip -n "$H-t6" -br link | wc -l)" -eq 1 ] # lo only
	# an eth0 already in the namespace: the veth cannot be made; lease and links undone
	mk_netns "$H-x"
	ip -n "$H-x" link add eth0 type veth peer name eth1
	links_before=$(ip -n "$H" -br link | wc -l)
	fails_cleanly coop net attach --name x "/run/netns/$H-x"
	[[ "$stderr" == *"eth0"*"exists"* ]]
	[ "$(ip -n "$H" -br link | wc -l)" -eq "$links_before" ]
	[ "$(coop net ls -o json | jq '[.[] | select(.name == "x")] | length')" -eq 0 ]
	# a first container whose attach fails takes the bridge it made along
	coop vpc create --name empty --cidr 10.78.0.0/16 >/dev/null
	fails_cleanly coop net attach --vpc empty --name x "/run/netns/$H-x"
	[ -z "$(ip -n "$H" -br link | grep "^cb-$(coop vpc list -o json | jq -r '.[] | select(.name == "empty") | .id[:8]')")" ]
	# a namespace that does not exist
	fails_cleanly coop net attach --name y /run/netns/nonexistent-$$
	fails_cleanly coop net attach --name y 999999999
	# host ports: ours, and one something on the host listens on
	coop port publish -p 8080:80 --vpc tiny --name web
	fails_cleanly coop port publish -p 8080:81 --name web2
	[ "$stderr" = "coop: host port 8080/tcp is already published by 'web'" ]
	ip netns exec "$H" busybox nc -l -p 9090 </dev/null >/dev/null 2>&1 3>&- &
	BG_PIDS+=($!)
	wait_for 5 listening "$H" 9090
	fails_cleanly coop port publish -p 9090:80 --name web3
	[ "$stderr" = "coop: host port 9090/tcp is in use on this host" ]
	fails_cleanly coop port publish -p 70000:80 --name web4
	fails_cleanly coop port backend add web nobody
	fails_cleanly coop vpc delete tiny
	[[ "$stderr" == *"VPC 'tiny' is in use by 5 containers: t1, t2, t3, t4, t5"* ]]
	[ "$(coop port ls -o json | jq length)" -eq 1 ]
	coop port rm web
	coop net detach t1 t2 t3 t4 t5
	coop vpc delete tiny empty
	[ -z "$(leftovers)" ]
}

@test "runtime: a coop-runtime container with its own netns is attached by PID" {
	[ -x "$RUNTIME" ] || skip "runtime not built"
	common_setup
	new_container web
	sh_args 'echo runtime-web >/tmp/index.html; exec httpd -f -p 80 -h /tmp'
	run_detached || fail "run failed: $(cat "$BUNDLE/err")"
	pid=$(state_of "$CID" pid)
	[ -n "$pid" ] && [ "$pid" -gt 0 ]
	rtip=$(coop net attach --name rt-web --etc "$BUNDLE/rootfs/etc" "$pid")
	[ "$rtip" = 10.213.0.2 ]
	in_container "$CID" cat /etc/resolv.conf
	[[ "$output" == *"nameserver 10.213.0.1"* ]]
	container peer
	ping_ok peer "$rtip"
	run get "$H-peer" "http://$rtip/"
	[ "$output" = runtime-web ] || fail "$output"
	in_container "$CID" ping -c1 -W2 "$IP_peer"
	[ "$status" -eq 0 ]
	coop net detach rt-web peer
	rt delete --force "$CID"
	run leftovers
	[ -z "$output" ] || fail "left behind: $output"

}
