#!/usr/bin/env bats
# daemon-net.bats — the daemon's containers on the node network, end to end: a real
# `coop daemon` running in a network namespace the test makes (its "host"), a busybox
# httpd workload of two replicas published on host port 8080 and health-checked, fetched
# from a "client" namespace wired to the host (198.18.1.0/24, never 192.0.2.0/24). The
# daemon enters only the host's network namespace (nsenter --net): `ip netns exec` would
# remount /sys and hide the cgroup tree. Nothing is sent from the root namespace; teardown
# stops what the test started by PID and deletes its namespaces by name.

bats_require_minimum_version 1.5.0

load daemon # COOP, REPO; this file starts its daemon in a namespace of its own

wait_gone() { for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }

hx() { nsenter --net="/run/netns/$H" "$@"; }
get() { ip netns exec "$CL" curl -sS --max-time 3 --connect-timeout 2 "http://198.18.1.1:8080/"; }
ps_json() { "$COOP" ps -o json; }
health_of() { ps_json | jq -r --arg n "$1" '.[] | select(.name == $n) | .health'; }
restarts_of() { ps_json | jq -r --arg n "$1" '.[] | select(.name == $n) | .restarts'; }
both_healthy() { [ "$(health_of web-1)" = healthy ] && [ "$(health_of web-2)" = healthy ]; }
backends_are() { [ "$(backends)" = "$1" ]; }
restarted() { [ "$(restarts_of "$1")" -ge 1 ]; }
unhealthy_or_restarted() { backends_are web-2 || restarted web-1; }
no_containers() { [ -z "$("$COOP" ps -a -q)" ]; }
no_links() { [ -z "$(ip -n "$H" -br link | awk '$1 ~ /^(cb-|cv)/')" ]; }
backends() { "$COOP" port ls -o json | jq -r '.[] | select(.name == "web") | [.backends[] | select(.healthy) | .name] | sort | join(",")'; }

# fetch N: N GETs from the client, one body per line (errors as "ERR").
fetch() { for _ in $(seq "$1"); do get 2>/dev/null || echo ERR; done; }

start_daemon() {
	nsenter --net="/run/netns/$H" "$COOP" daemon --state "$D/state" --run "$D/run" >>"$D/daemon.log" 2>&1 &
	echo $! >"$D/daemon.pid"
	for _ in $(seq 50); do # (`coop version` exits 0 without a daemon: its line is the sign)
		[ -S "$COOP_SOCKET" ] && "$COOP" version 2>/dev/null | grep -q '^daemon version' &&
			return 0
		sleep 0.1
	done
	cat "$D/daemon.log" >&2
	return 1
}

setup() {
	[ -n "${D:-}" ] || skip "coop daemon not built"
}

setup_file() {
	"$COOP" daemon --help >/dev/null 2>&1 || return 0
	command -v nsenter >/dev/null && command -v curl >/dev/null || return 0
	export D=$BATS_FILE_TMPDIR/d H="dn$$h" CL="dn$$c"
	mkdir -p "$D"
	export COOP_SOCKET=$D/run/coop.sock COOP_NET_DIR=$D/state/net
	ip netns add "$H"
	ip netns add "$CL"
	ip -n "$H" link set lo up
	hx sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	ip -n "$H" link add c0 type veth peer name eth0 netns "$CL"
	ip -n "$H" addr add 198.18.1.1/24 dev c0
	ip -n "$H" link set c0 up
	ip -n "$CL" addr add 198.18.1.2/24 dev eth0
	ip -n "$CL" link set eth0 up
	ip -n "$CL" link set lo up
	ip -n "$CL" route add default via 198.18.1.1
	"$REPO/scripts/mkrootfs.sh" "$D/rootfs" >/dev/null
	tar -C "$D/rootfs" -cf "$D/rootfs.tar" .
	"$COOP" image --store "$D/state/images" import --rootfs --name coop-demo/httpd:1 "$D/rootfs.tar" >/dev/null
	cat >"$D/web.bun" <<'EOF'
version: "1.0"
name: web
image:
  docker_image: coop-demo/httpd:1
command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]
ports:
  - container_port: 80
    host_port: 8080
    protocol: tcp
healthcheck:
  path: /
  interval: 1s
  timeout: 1s
  retries: 2
replicas:
  min: 2
  max: 2
restart: always
EOF
	start_daemon
}

teardown_file() {
	[ -n "${D:-}" ] || return 0
	"$COOP" ps -a -q 2>/dev/null | while read -r id; do "$COOP" rm -f "$id" >/dev/null 2>&1; done
	local pid
	pid=$(cat "$D/daemon.pid" 2>/dev/null) && kill "$pid" 2>/dev/null && wait_gone "$pid"
	for f in "$D"/state/containers/*/monitor.pid; do
		[ -e "$f" ] && kill -9 "$(cut -d' ' -f1 "$f")" 2>/dev/null
	done
	grep -o " $D[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
	ip netns del "$CL" 2>/dev/null
	ip netns del "$H" 2>/dev/null
	rm -rf "$D"
}

@test "daemon-net: a published workload answers from another host, over both replicas" {
	run "$COOP" run "$D/web.bun"
	[ "$status" -eq 0 ] || { echo "$output"; cat "$D/daemon.log"; false; }
	wait_until 30 both_healthy || { ps_json; cat "$D/daemon.log"; false; }
	# ps shows each replica's address in the default VPC
	run "$COOP" ps
	[[ "$output" == *web-1*10.213.* ]] || { echo "$output"; false; }
	[[ "$output" == *web-2*10.213.* ]] || { echo "$output"; false; }
	# the container sees its own address and its /etc files
	run "$COOP" exec web-1 sh -c 'ip -4 -o addr show eth0; cat /etc/hostname /etc/resolv.conf'
	[ "$status" -eq 0 ]
	[[ "$output" == *10.213.* ]] && [[ "$output" == *web-1* ]] && [[ "$output" == *nameserver* ]]
	wait_until 10 backends_are web-1,web-2 || { "$COOP" port ls; false; }
	run fetch 20
	[[ "$output" == *web-1* ]] || { echo "$output"; false; }
	[[ "$output" == *web-2* ]] || { echo "$output"; false; }
	[[ "$output" != *ERR* ]] || { echo "$output"; false; }
}

@test "daemon-net: the daemon's resolver answers container and workload names in the VPC" {
	wait_until 30 both_healthy
	local ip1 ip2
	ip1=$(ps_json | jq -r '.[] | select(.name == "web-1") | .ip')
	ip2=$(ps_json | jq -r '.[] | select(.name == "web-2") | .ip')
	# the resolver binds on the gateway within a tick of the first attach
	wait_until 10 "$COOP" exec web-1 nslookup web-2 || { cat "$D/daemon.log"; false; }
	run "$COOP" exec web-1 nslookup web-2
	[[ "$output" == *"$ip2"* ]] || { echo "$output"; false; }
	run "$COOP" exec web-2 nslookup web.coop
	[[ "$output" == *"$ip1"* ]] && [[ "$output" == *"$ip2"* ]] || { echo "$output"; false; }
	run "$COOP" exec web-1 nslookup nosuch
	[ "$status" -ne 0 ]
	# and the replicas reach each other directly
	run "$COOP" exec web-1 wget -qO- http://$ip2/
	[ "$output" = web-2 ] || { echo "$output"; false; }
}

@test "daemon-net: a host port in use is a 409 conflict, and nothing of the workload is made" {
	sed 's/^name: web$/name: web2/' "$D/web.bun" >"$D/web2.bun"
	run "$COOP" run "$D/web2.bun"
	[ "$status" -ne 0 ]
	[[ "$output" == *8080* ]] || { echo "$output"; false; }
	run "$COOP" workload ls -o json
	[ "$(echo "$output" | jq '[.[] | select(.name == "web2")] | length')" = 0 ]
	# the API says 409 with the error JSON
	run curl -s -w ' %{http_code}' --unix-socket "$COOP_SOCKET" -X POST -H 'Content-Type: application/json' \
		-d '{"name":"web3","image":"coop-demo/httpd:1","ports":[{"container_port":80,"host_port":8080}],"replicas":{"min":1,"max":1}}' \
		http://coop/v1/workloads
	[[ "$output" == *'"code"'*' 409' ]] || { echo "$output"; false; }
}

@test "daemon-net: an unhealthy replica leaves the backend set and is restarted" {
	wait_until 30 both_healthy
	"$COOP" exec web-1 rm /www/index.html
	# within retries x interval it is unhealthy: out of the backends, then restarted
	wait_until 10 unhealthy_or_restarted ||
		{ "$COOP" port ls; ps_json; false; }
	# from now on the broken page is never served (a restarted web-1 makes a new one)
	run fetch 10
	[[ "$output" != *404* ]] || { echo "$output"; false; }
	[[ "$output" != *ERR* ]] || { echo "$output"; false; }
	wait_until 15 restarted web-1 || { ps_json; false; }
	wait_until 30 both_healthy || { ps_json; false; }
	wait_until 10 backends_are web-1,web-2 || { "$COOP" port ls; false; }
	run fetch 20
	[[ "$output" == *web-1* ]] && [[ "$output" == *web-2* ]] || { echo "$output"; false; }
	"$COOP" events --since 0 --filter name=web-1 >"$D/ev" 2>&1 || true
	grep -q "health_status: unhealthy" "$D/ev" || { cat "$D/ev"; false; }
}

@test "daemon-net: removing the workload leaves no links, nft tables, leases or ports" {
	run "$COOP" workload rm web
	[ "$status" -eq 0 ]
	wait_until 20 no_containers || { ps_json; false; }
	wait_until 10 no_links ||
		{ ip -n "$H" -br link; false; }
	[ -z "$(hx nft list tables)" ] || { hx nft list tables; false; }
	[ "$("$COOP" net ls -o json | jq length)" = 0 ]
	[ "$("$COOP" port ls -o json | jq length)" = 0 ]
	# the client gets refused, not a hang
	run get
	[ "$status" -ne 0 ]
}
