#!/usr/bin/env bats
# overlay.bats — a VPC across three simulated hosts (tests/sim): each host takes its own
# /24 of VPC app (10.60.0.0/16), gets `coop net overlay apply` with the other two as
# peers, and attaches a container namespace; containers then reach each other by ping
# and TCP, a DF packet of the overlay's MTU passes and one byte more does not, a peer
# dropped from the list is unreachable with its FDB/neighbour/route entries gone, VPCs
# stay isolated across hosts, the tc fast path carries container traffic (and the
# normal path does with it off), and bad peer lists are refused with one error line and
# nothing programmed. Traffic only flows between namespaces the harness made (underlay
# 10.250.0.0/24). Tests build on each other in order; teardown_file runs down.sh.

load helpers

SIM=$REPO/tests/sim
COOP=${COOP:-$BUILD_DIR/coop}
UL=10.250.0

setup_file() {
	export SIM_SKIP=""
	if [ "$(id -u)" != 0 ]; then
		SIM_SKIP="needs root"
	elif [ ! -x "$COOP" ]; then
		SIM_SKIP="coop $COOP not built"
	elif ! command -v busybox >/dev/null || ! command -v curl >/dev/null ||
		! command -v nsenter >/dev/null || ! command -v nft >/dev/null ||
		! ping -V >/dev/null 2>&1; then
		SIM_SKIP="needs busybox, curl, nsenter, nft and iputils ping"
	fi
	[ -z "$SIM_SKIP" ] || return 0
	COOP_SIM=co$(printf '%x' "$$")t$(od -An -N2 -tx2 /dev/urandom | tr -d ' \n')
	export COOP_SIM SIM_STATE=/run/coop-sim/$COOP_SIM
	"$SIM/up.sh" 3 >"$BATS_FILE_TMPDIR/up.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/up.log" >&2
		return 1
	}
}

teardown_file() {
	[ -n "${COOP_SIM:-}" ] || return 0
	"$SIM/down.sh"
}

setup() {
	[ -z "$SIM_SKIP" ] || skip "$SIM_SKIP"
}

on() { "$SIM/run.sh" "$@"; }
# coop_on hI ARGS...: the coop CLI on host hI (its own /var/lib/coop/net)
coop_on() {
	local h=$1
	shift
	on "$h" "$COOP" "$@"
}
# cx hI NAME CMD...: CMD in container NAME on host hI
cx() {
	local h=$1 n=$2
	shift 2
	on "$h" ip netns exec "$n" "$@"
}
ping_ok() { cx "$1" "$2" ping -c1 -W2 "$3" >/dev/null; }
ping_fails() { ! cx "$1" "$2" ping -c1 -W1 "$3" >/dev/null 2>&1; }

# peers FILE VPCNET HOST...: a peer list of these hosts (hI: underlay .I, subnet VPCNET.I.0/24)
peers() {
	local f=$1 net=$2 sep="" h
	shift 2
	{
		printf '['
		for h in "$@"; do
			printf '%s{"node": "%s", "underlay": "%s.%s", "subnet": "%s.%s.0/24"}' \
				"$sep" "$h" "$UL" "${h#h}" "$net" "${h#h}"
			sep=", "
		done
		printf ']\n'
	} >"$f"
}

# apply hI VPC VNI FILE: the overlay of VPC on hI
apply() {
	coop_on "$1" net overlay apply --vpc "$2" --vni "$3" --underlay-dev eth0 \
		--local "$UL.${1#h}" --peers "$4"
}

# dev hI VPC: the VPC's overlay device on hI
dev() {
	echo "cx-$(coop_on "$1" vpc list -o json | jq -r --arg v "$2" '.[] | select(.name == $v) | .id[0:8]')"
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

# entries hI DEV: the FDB, neighbour and route entries of DEV, one per line
entries() {
	on "$1" bridge fdb show dev "$2" | grep dst
	on "$1" ip neigh show dev "$2"
	on "$1" ip route show dev "$2"
}

@test "overlay: three hosts, one VPC, each its own /24; containers ping and talk TCP across hosts" {
	local i others
	for i in 1 2 3; do
		coop_on "h$i" vpc create --name app --cidr 10.60.0.0/16 --subnet "10.60.$i.0/24" >/dev/null
		others=$(printf 'h%s ' 1 2 3 | sed "s/h$i //")
		# shellcheck disable=SC2086
		peers "$BATS_FILE_TMPDIR/app-h$i.json" 10.60 $others
		run apply "h$i" app 42 "$BATS_FILE_TMPDIR/app-h$i.json"
		[ "$status" -eq 0 ] || fail "$output"
		[[ "$output" == "cx-"*": 2 peers, 6 changes" ]] || fail "$output"
		on "h$i" ip netns add c1
		run coop_on "h$i" net attach --vpc app --name "c$i" /run/netns/c1
		[ "$output" = "10.60.$i.2" ] || fail "attach on h$i: $output"
	done
	# the device: VNI 42, port 4789, no learning, MTU 1450, vtep .0/32 and the derived MAC
	d=$(dev h1 app)
	run on h1 ip -d link show "$d"
	[[ "$output" == *"mtu 1450 "* && "$output" == *"vxlan id 42 local $UL.1 dev eth0"* ]] || fail "$output"
	[[ "$output" == *"dstport 4789 nolearning"* ]] || fail "$output"
	[[ "$(on h1 ip -4 -br addr show dev "$d")" == *"10.60.1.0/32"* ]]
	# GRO off on the device (what arrives was merged by the NIC's tunnel GRO already)
	if command -v ethtool >/dev/null; then
		run on h1 ethtool -k "$d"
		[[ "$output" == *"generic-receive-offload: off"* ]] || fail "$output"
	fi
	# bridge and container follow the overlay's MTU
	[[ "$(coop_on h1 vpc list -o json | jq -r '.[] | select(.name == "app") | .mtu')" = 1450 ]]
	[[ "$(cx h1 c1 ip link show eth0)" == *" mtu 1450 "* ]]
	[[ "$(on h1 ip link show "cb-${d#cx-}")" == *" mtu 1450 "* ]]
	# the peers as the kernel has them
	run coop_on h1 net overlay ls -o json
	[ "$(echo "$output" | jq -r '.[0].peers | map(.subnet + "@" + .underlay) | join(" ")')" = \
		"10.60.2.0/24@$UL.2 10.60.3.0/24@$UL.3" ] || fail "$output"
	# every pair, both ways
	ping_ok h1 c1 10.60.2.2
	ping_ok h1 c1 10.60.3.2
	ping_ok h2 c1 10.60.3.2
	ping_ok h3 c1 10.60.1.2
	# TCP: busybox httpd in h3's container, curl from the other two
	mkdir -p "$BATS_FILE_TMPDIR/www"
	echo "hello from h3" >"$BATS_FILE_TMPDIR/www/index.html"
	cx h3 c1 busybox httpd -p 8080 -h "$BATS_FILE_TMPDIR/www" </dev/null >/dev/null 2>&1 3>&-
	wait_for 5 eval 'cx h3 c1 ss -Hltn "sport = :8080" | grep -q .' || fail "httpd did not start"
	[ "$(cx h1 c1 curl -sS --max-time 3 http://10.60.3.2:8080/)" = "hello from h3" ]
	[ "$(cx h2 c1 curl -sS --max-time 3 http://10.60.3.2:8080/)" = "hello from h3" ]
	# a second apply of the same list changes nothing
	run apply h1 app 42 "$BATS_FILE_TMPDIR/app-h1.json"
	[[ "$output" == *": 2 peers, 0 changes" ]] || fail "$output"
}

@test "overlay: a DF packet of the overlay's MTU passes across hosts, one byte more does not" {
	cx h1 c1 ping -c1 -W2 -M do -s 1422 10.60.2.2 >/dev/null
	cx h2 c1 ping -c1 -W2 -M do -s 1422 10.60.3.2 >/dev/null
	run cx h1 c1 ping -c1 -W2 -M do -s 1423 10.60.2.2
	[ "$status" -ne 0 ]
	[[ "$output" == *"mtu=1450"* ]] || fail "$output"
}

@test "overlay: a peer left out of the list is unreachable and its entries are gone; back in, it is reachable" {
	local d
	d=$(dev h1 app)
	peers "$BATS_FILE_TMPDIR/h1-only-h2.json" 10.60 h2
	run apply h1 app 42 "$BATS_FILE_TMPDIR/h1-only-h2.json"
	[[ "$output" == *": 1 peer, 3 changes" ]] || fail "$output"
	ping_fails h1 c1 10.60.3.2
	ping_ok h1 c1 10.60.2.2
	run entries h1 "$d"
	[[ "$output" != *"$UL.3"* && "$output" != *"10.60.3."* ]] || fail "h3's entries left: $output"
	[[ "$output" == *"dst $UL.2"* && "$output" == *"10.60.2.0/24 via 10.60.2.0"* ]] || fail "$output"
	run apply h1 app 42 "$BATS_FILE_TMPDIR/app-h1.json"
	[[ "$output" == *": 2 peers, 3 changes" ]] || fail "$output"
	ping_ok h1 c1 10.60.3.2
}

@test "overlay: different VPCs stay isolated across hosts" {
	local i
	for i in 1 2; do
		coop_on "h$i" vpc create --name other --cidr 10.61.0.0/16 --subnet "10.61.$i.0/24" >/dev/null
		# attached before the overlay: the container's MTU follows it
		on "h$i" ip netns add b1
		coop_on "h$i" net attach --vpc other --name "b$i" /run/netns/b1 >/dev/null
		[[ "$(cx "h$i" b1 ip link show eth0)" == *" mtu 1500 "* ]]
		peers "$BATS_FILE_TMPDIR/other-h$i.json" 10.61 "h$((3 - i))"
		apply "h$i" other 43 "$BATS_FILE_TMPDIR/other-h$i.json" >/dev/null
		[[ "$(cx "h$i" b1 ip link show eth0)" == *" mtu 1450 "* ]]
	done
	# VPC other works across hosts ...
	ping_ok h2 b1 10.61.1.2
	# ... but reaches nothing of VPC app, on another host or its own, nor the reverse
	ping_fails h2 b1 10.60.1.2
	ping_fails h2 b1 10.60.3.2
	ping_fails h2 b1 10.60.2.2
	ping_fails h1 c1 10.61.2.2
	ping_fails h3 c1 10.61.1.2
	ping_ok h1 c1 10.60.2.2
}

# fp hI VPC FIELD: the fast path's FIELD (on, mesh, containers, out, in, encap, decap) for VPC
# on hI; "sent": out + encap (from containers, to the VXLAN device or encapsulated),
# "delivered": in + decap (into containers, from the VXLAN device or decapsulated)
fp() {
	coop_on "$1" net overlay ls -o json | jq -r --arg v "$2" --arg f "$3" \
		'.[] | select(.vpc == $v) | .fastpath
		| if $f == "sent" then .out + .encap elif $f == "delivered" then .in + .decap
		  else .[$f] end'
}

@test "overlay: the tc fast path carries containers' traffic across hosts; off, the normal path does" {
	local d o1 i2 veth
	[ "$(fp h1 app on)" = true ] ||
		skip "this kernel or sandbox cannot load coop's tc program: $(apply h1 app 42 "$BATS_FILE_TMPDIR/app-h1.json" 2>&1)"
	d=$(dev h1 app)
	# containers get 0a:58 and their address as MAC: the program needs none per container
	[[ "$(cx h1 c1 ip link show eth0)" == *"link/ether 0a:58:0a:3c:01:02 "* ]]
	# and the bridge one from its gateway address (what the program writes as source)
	[[ "$(on h1 ip link show "cb-${d#cx-}")" == *"link/ether 0a:58:0a:3c:01:01 "* ]]
	[ "$(fp h1 app containers)" = 1 ]
	# the program on the VXLAN device and on the container's host veth, once each
	veth=$(on h1 ip -o link show master "cb-${d#cx-}" | awk -F': ' '{ print $2 }' | cut -d@ -f1)
	[ "$(on h1 tc filter show dev "$d" ingress | grep -c coop_fastpath)" = 1 ]
	[ "$(on h1 tc filter show dev "$veth" ingress | grep -c coop_fastpath)" = 1 ]
	o1=$(fp h1 app sent) i2=$(fp h2 app delivered)
	cx h1 c1 ping -c3 -i 0.2 -W2 10.60.2.2 >/dev/null
	[ "$(fp h1 app sent)" -ge $((o1 + 3)) ] || fail "h1 sent $(fp h1 app sent) (before $o1)"
	[ "$(fp h2 app delivered)" -ge $((i2 + 3)) ] || fail "h2 delivered $(fp h2 app delivered) (before $i2)"
	# with the program at both ends it en- and decapsulates itself (no VXLAN device)
	[ "$(fp h1 app encap)" -ge 3 ] && [ "$(fp h2 app decap)" -ge 3 ]
	# one filter per VPC on the underlay device, its handle from the VNI (app: 42)
	[ "$(on h2 tc filter show dev eth0 ingress | grep -c 'coop_fastpath_u:')" = 2 ]
	[ "$(on h2 tc filter show dev eth0 ingress | grep -c 'handle 0x100002a .*coop_fastpath_u:')" = 1 ]
	# bulk TCP arrives intact (64 KB GSO packets through the decapsulation)
	head -c 3000000 /dev/urandom >"$BATS_FILE_TMPDIR/www/big"
	i2=$(fp h1 app decap)
	cx h1 c1 curl -sS --max-time 10 http://10.60.3.2:8080/big | cmp - "$BATS_FILE_TMPDIR/www/big"
	[ "$(fp h1 app decap)" -ge $((i2 + 20)) ]
	[ "$(cx h1 c1 curl -sS --max-time 3 http://10.60.3.2:8080/)" = "hello from h3" ]
	[ "$(cx h1 c1 curl -sS --max-time 3 http://10.60.3.2:8080/)" = "hello from h3" ]
	# another VPC's container is not delivered to by app's program, nor reaches app
	i2=$(fp h2 app delivered)
	ping_fails h1 b1 10.60.2.2
	[ "$(fp h2 app delivered)" = "$i2" ]
	# a re-apply adopts what is attached: no second filter, the same containers
	apply h1 app 42 "$BATS_FILE_TMPDIR/app-h1.json" >/dev/null
	[ "$(on h1 tc filter show dev "$d" ingress | grep -c coop_fastpath)" = 1 ]
	[ "$(fp h1 app containers)" = 1 ]
	# a second container joins the map and leaves it with its detach
	on h1 ip netns add c2
	[ "$(coop_on h1 net attach --vpc app --name c2x /run/netns/c2)" = 10.60.1.3 ]
	[ "$(fp h1 app containers)" = 2 ]
	o1=$(fp h1 app sent)
	cx h1 c2 ping -c2 -i 0.2 -W2 10.60.2.2 >/dev/null
	[ "$(fp h1 app sent)" -ge $((o1 + 2)) ]
	coop_on h1 net detach c2x
	on h1 ip netns del c2
	[ "$(fp h1 app containers)" = 1 ]
	# off: detached everywhere, and the normal path (bridge, forward, nft) carries it
	COOP_NET_FASTPATH=off apply h1 app 42 "$BATS_FILE_TMPDIR/app-h1.json" >/dev/null
	[ "$(fp h1 app on)" = false ]
	[ "$(on h1 tc filter show dev "$d" ingress | grep -c coop_fastpath)" = 0 ]
	[ "$(on h1 tc filter show dev "$veth" ingress | grep -c coop_fastpath)" = 0 ]
	[ "$(on h1 tc filter show dev eth0 ingress | grep -c 'handle 0x100002a .*coop_fastpath_u:')" = 0 ]
	[ "$(on h1 tc filter show dev eth0 ingress | grep -c 'coop_fastpath_u:')" = 1 ] # VPC other's
	# h1's kernel VXLAN device takes what h2's and h3's programs encapsulate, and the reverse
	ping_ok h1 c1 10.60.2.2
	ping_ok h3 c1 10.60.1.2
	cx h1 c1 curl -sS --max-time 10 http://10.60.3.2:8080/big | cmp - "$BATS_FILE_TMPDIR/www/big"
	# nomesh: the program without its published ports' part (the one a kernel without
	# conntrack's BPF functions gets) still carries the overlay
	COOP_NET_FASTPATH=nomesh apply h1 app 42 "$BATS_FILE_TMPDIR/app-h1.json" >/dev/null
	[ "$(fp h1 app on)" = true ] && [ "$(fp h1 app mesh)" = false ] && [ "$(fp h1 app containers)" = 1 ]
	[ "$(on h1 tc filter show dev "$d" ingress | grep -c coop_fastpath)" = 1 ]
	o1=$(fp h1 app encap) i2=$(fp h1 app decap)
	cx h1 c1 curl -sS --max-time 10 http://10.60.3.2:8080/big | cmp - "$BATS_FILE_TMPDIR/www/big"
	[ "$(fp h1 app encap)" -gt "$o1" ] && [ "$(fp h1 app decap)" -ge $((i2 + 20)) ]
	# and on again, with it
	apply h1 app 42 "$BATS_FILE_TMPDIR/app-h1.json" >/dev/null
	[ "$(fp h1 app on)" = true ] && [ "$(fp h1 app containers)" = 1 ]
	[ "$(fp h1 app mesh)" = true ]
	[ "$(on h1 tc filter show dev "$d" ingress | grep -c coop_fastpath)" = 1 ]
	o1=$(fp h1 app sent)
	ping_ok h1 c1 10.60.3.2
	[ "$(fp h1 app sent)" -gt "$o1" ]
}

@test "overlay: bad peer lists and a VNI clash are refused with one line, nothing programmed" {
	local before
	before=$(entries h1 "$(dev h1 app)")
	echo '[{"node": "h2", "underlay": "10.250.0.2", "subnet": "10.60.2.0/24"},
	       {"node": "h3", "underlay": "10.250.0.2", "subnet": "10.60.3.0/24"}]' >"$BATS_FILE_TMPDIR/dup.json"
	fails_cleanly apply h1 app 42 "$BATS_FILE_TMPDIR/dup.json"
	[ "$stderr" = "coop: underlay address 10.250.0.2 is claimed by h2 and h3" ]
	echo '[{"node": "h2", "underlay": "10.250.0.1", "subnet": "10.60.2.0/24"}]' >"$BATS_FILE_TMPDIR/self.json"
	fails_cleanly apply h1 app 42 "$BATS_FILE_TMPDIR/self.json"
	[ "$stderr" = "coop: underlay address 10.250.0.1 is claimed by h1 (this node) and h2" ]
	echo '[{"node": "h2", "underlay": "10.250.0.2", "subnet": "10.60.2.0/24"},
	       {"node": "h3", "underlay": "10.250.0.3", "subnet": "10.60.2.0/23"}]' >"$BATS_FILE_TMPDIR/overlap.json"
	fails_cleanly apply h1 app 42 "$BATS_FILE_TMPDIR/overlap.json"
	[ "$stderr" = "coop: subnet 10.60.2.0/23 of h3 overlaps 10.60.2.0/24 of h2" ]
	fails_cleanly apply h1 app 43 "$BATS_FILE_TMPDIR/app-h1.json"
	[ "$stderr" = "coop: VNI 43 is already used by VPC 'other' on this node" ]
	fails_cleanly coop_on h1 net overlay apply --vpc app --vni 42 --underlay-dev eth0 \
		--local "$UL.1" --subnet 10.60.9.0/24 --peers "$BATS_FILE_TMPDIR/app-h1.json"
	[[ "$stderr" == *"subnet 10.60.9.0/24 is not VPC 'app''s subnet on this node"* ]]
	[ "$(entries h1 "$(dev h1 app)")" = "$before" ]
	[[ "$(on h1 ip -d link show "$(dev h1 app)")" == *"vxlan id 42 "* ]]
	# a VPC without an overlay yet: no device is left behind by a refused apply
	coop_on h1 vpc create --name third --cidr 10.62.0.0/16 --subnet 10.62.1.0/24 >/dev/null
	fails_cleanly apply h1 third 42 "$BATS_FILE_TMPDIR/app-h1.json"
	[ "$stderr" = "coop: VNI 42 is already used by VPC 'app' on this node" ]
	fails_cleanly apply h1 third 44 "$BATS_FILE_TMPDIR/dup.json"
	run on h1 ip link show "$(dev h1 third)"
	[ "$status" -ne 0 ]
	# and the overlay still carries traffic
	ping_ok h1 c1 10.60.3.2
}

@test "overlay: rm deletes the device and its entries; the isolation table goes with the last one" {
	local d
	d=$(dev h3 app)
	coop_on h3 net overlay rm app
	run on h3 ip link show "$d"
	[ "$status" -ne 0 ]
	run on h3 nft list table ip coop_overlay
	[ "$status" -ne 0 ]
	[ "$(coop_on h3 net overlay ls -o json | jq length)" -eq 0 ]
	ping_fails h1 c1 10.60.3.2
	# removing again is fine; the VPC and its container stay
	coop_on h3 net overlay rm app
	[ "$(coop_on h3 net ls -o json | jq -r '.[0].ip')" = 10.60.3.2 ]
	# h1 keeps its overlays and table
	on h1 nft list table ip coop_overlay >/dev/null
}
