#!/usr/bin/env bats
# mesh.bats — networking across hosts in a coop cluster (tests/sim; cluster.bash): four
# simulated hosts form a cluster, a workload of 3 busybox httpd replicas publishes host
# port 8080. Its containers reach each other across hosts by IP (ping, TCP) and by name
# (the node's resolver answers the cluster's names); an MTU-sized DF ping passes the
# overlay; a second VPC's containers cannot reach the first's across hosts; the mesh
# port answers on the host that runs no replica and balances over all three; a killed
# host's backends vanish from every node and the port keeps answering without a failed
# request after the failover window. Clients run inside the sim hosts or inside
# containers' network namespaces, on addresses the harness made. The tests build on
# each other in order; teardown_file stops the daemons (by pid) and runs down.sh.

load helpers
load cluster

COOP=${COOP:-$BUILD_DIR/coop}
SIM=$REPO/tests/sim
PORT=8080

setup_file() { cl_file_setup ms 4 curl ping; }

teardown_file() { cl_file_teardown; }

setup() { cl_setup; }

# ctr hI WORKLOAD FIELD: FIELD (id, ip, pid, name) of hI's first running container of WORKLOAD
ctr() {
	coop_on "$1" ps -o json | jq -r --arg w "$2" --arg f "$3" \
		'[.[] | select(.workload == $w and .status == "running")][0][$f] // empty'
}
# cnet hI PID CMD...: CMD (a host tool) in that container's network namespace on hI
cnet() {
	local h=$1 pid=$2
	shift 2
	on "$h" nsenter -t "$pid" -n "$@"
}
# web_hosts: the hosts running a replica of web, one per line (from the tasks)
web_hosts() { cl_tasks h1 web | jq -r '.[] | select(.observed == "running") | .node' | sort; }
# fetch hI ADDR: one request to ADDR:PORT from host hI; prints the answer's text
fetch() { on "$1" curl -sS --max-time 2 "http://$2:$PORT/"; }
# propose hI CMD_JSON: a cluster command through hI's local API (admin on the socket)
propose() {
	on "$1" curl -sS --fail-with-body --unix-socket /run/coop/coop.sock -X POST \
		-H 'Content-Type: application/json' -d "$2" http://coop/v1/cluster/propose
}
# backends_on hI: the addresses hI's ruleset sends port PORT to
backends_on() {
	coop_on "$1" net rules | awk -v p="$PORT" '$0 ~ "chain pub-tcp-" p " " { getline; print; exit }' |
		grep -oE '10\.[0-9]+\.[0-9]+\.[0-9]+' | sort -u
}
# get hI CTR HOST: an HTTP GET of HOST:80 from inside container CTR on hI (busybox nc:
# the image's static busybox wget crashes); prints the body
get() {
	coop_on "$1" exec "$2" sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 $3 80" | tr -d '\r' |
		sed '1,/^$/d'
}
# has_vpc hI VPC: hI's network state has VPC (the cluster gave it a subnet there)
has_vpc() { coop_on "$1" vpc list 2>&1 | tee /dev/stderr | grep -qw "$2"; }
# rules_have hI IP...: hI balances PORT over exactly these addresses (prints them)
rules_have() {
	local h=$1 got want
	shift
	got=$(backends_on "$h" | tr '\n' ' ')
	want=$(printf '%s\n' "$@" | sort -u | tr '\n' ' ')
	echo "$h: $got (want $want)"
	[ "$got" = "$want" ]
}

web_bun() {
	cat >"$1" <<EOF
version: "1.0"
name: web
image:
  docker_image: $CL_IMAGE
command: ["sh", "-c", "mkdir -p /www && echo \"hello from \$(hostname)\" > /www/index.html && exec httpd -f -p 80 -h /www"]
ports:
  - container_port: 80
    host_port: $PORT
    protocol: tcp
healthcheck:
  path: /
  interval: 1s
  timeout: 1s
  retries: 2
replicas:
  min: 3
  max: 3
restart: always
EOF
}

@test "mesh: a cluster of 4 hosts; web's 3 replicas run, each host has the default VPC's overlay" {
	cl_init h1
	cl_daemon h1
	cl_until 10 "h1 leading" has_leader h1
	# one join at a time: a join during another membership change is refused
	cl_join h2 h1 "$SERVER_TOKEN"
	cl_until 20 "2 nodes ready" ready_count h1 2
	cl_join h3 h1 "$SERVER_TOKEN"
	cl_until 20 "3 nodes ready" ready_count h1 3
	cl_join h4 h1 "$SERVER_TOKEN"
	cl_until 20 "4 nodes ready" ready_count h1 4
	keep FORMED 1
	web_bun "$CL_DIR/web.bun"
	run coop_on h1 run "$CL_DIR/web.bun"
	[ "$status" -eq 0 ] || fail "coop run: $output"
	cl_until 40 "3 tasks of web running (healthy) on 3 nodes" tasks_running h1 web 3
	local hosts spare h
	hosts=$(web_hosts | tr '\n' ' ')
	for h in h1 h2 h3 h4; do [[ " $hosts" == *" $h "* ]] || spare=$h; done
	[ -n "$spare" ] || fail "every host runs web: $hosts"
	keep SPARE "$spare"
	keep HOSTS "$hosts"
	report "web runs on $hosts; $spare has no replica"
	# every host: one VXLAN device for the default VPC, its subnet and MTU 1450
	for h in h1 h2 h3 h4; do
		run on "$h" ip -d -o link show type vxlan
		[[ "$output" == *"vxlan id"* && "$output" == *"mtu 1450"* ]] || fail "$h: no overlay: $output"
	done
}

@test "mesh: containers reach each other across hosts by IP (ping, TCP) and by name" {
	local a b pa ipb nb
	read -r a b _ <<<"$HOSTS"
	pa=$(ctr "$a" web pid)
	ipb=$(ctr "$b" web ip)
	nb=$(ctr "$b" web name)
	[ -n "$pa" ] && [ -n "$ipb" ] && [ -n "$nb" ] || fail "no containers: $a pid '$pa', $b ip '$ipb' name '$nb'"
	cl_until 10 "$a's container pings $b's ($ipb)" cnet "$a" "$pa" ping -c1 -W1 "$ipb"
	run cnet "$a" "$pa" curl -sS --max-time 2 "http://$ipb:80/"
	[ "$status" -eq 0 ] && [ "$output" = "hello from $nb" ] || fail "TCP to $ipb: $output"
	# the daemon set up the overlay's tc fast path, and it carried that traffic
	run coop_on "$a" net overlay ls -o json
	echo "$output"
	[ "$(echo "$output" | jq -r '.[] | select(.vpc == "default") | .fastpath.on')" = true ]
	[ "$(echo "$output" | jq -r '.[] | select(.vpc == "default") | .fastpath | .encap + .out')" -gt 0 ]
	[ "$(echo "$output" | jq -r '.[] | select(.vpc == "default") | .fastpath.containers')" -ge 1 ]
	# by name, through the container's resolver (its gateway on its node)
	local ca
	ca=$(ctr "$a" web id)
	cl_until 10 "$a's container resolves $nb" coop_on "$a" exec "$ca" nslookup "$nb"
	run get "$a" "$ca" "$nb"
	[ "$status" -eq 0 ] && [ "$output" = "hello from $nb" ] || fail "GET http://$nb/: $output"
	# the workload's name has all three replicas (once each replica's address, reported
	# by its node, is in every node's replica of the model)
	three() {
		local out
		out=$(coop_on "$a" exec "$ca" nslookup web 2>&1)
		echo "$out"
		[ "$(echo "$out" | grep -cE '^Address: 10\.213\.[0-9.]+$')" -eq 3 ]
	}
	cl_until 10 "web resolving to its 3 replicas on $a" three
}

@test "mesh: a DF ping of the overlay's MTU passes between hosts, one byte more does not" {
	local a b pa ipb mtu
	read -r a b _ <<<"$HOSTS"
	pa=$(ctr "$a" web pid)
	ipb=$(ctr "$b" web ip)
	mtu=$(cnet "$a" "$pa" ip -o link show eth0 | grep -oE 'mtu [0-9]+' | cut -d' ' -f2)
	[ "$mtu" = 1450 ] || fail "container MTU $mtu, wanted 1450 (underlay 1500 - 50)"
	run cnet "$a" "$pa" ping -c1 -W2 -M do -s $((mtu - 28)) "$ipb"
	[ "$status" -eq 0 ] || fail "DF ping of $mtu bytes: $output"
	run cnet "$a" "$pa" ping -c1 -W1 -M do -s $((mtu - 27)) "$ipb"
	[ "$status" -ne 0 ] || fail "a DF ping of $((mtu + 1)) bytes passed: $output"
}

@test "mesh: a second VPC's containers reach each other across hosts, not the first's" {
	run propose h1 '{"op": "vpc.create", "name": "blue", "cidr": "10.214.0.0/16"}'
	[ "$status" -eq 0 ] || fail "vpc.create: $output"
	# (placement does not wait for a node's subnet of the VPC: wait here)
	for h in h1 h2 h3 h4; do cl_until 10 "VPC blue on $h" has_vpc "$h" blue; done
	bun "$CL_DIR/blu.bun" blu 2 'vpc: blue'
	run coop_on h1 run "$CL_DIR/blu.bun"
	[ "$status" -eq 0 ] || fail "coop run: $output"
	cl_until 40 "2 tasks of blu running" tasks_running h1 blu 2
	local x y px ipy h ipw
	read -r x y <<<"$(cl_tasks h1 blu | jq -r '[.[].node] | join(" ")')"
	px=$(ctr "$x" blu pid)
	ipy=$(ctr "$y" blu ip)
	[[ "$ipy" == 10.214.* ]] || fail "blu on $y has address '$ipy'"
	cl_until 10 "blue on $x pings blue on $y" cnet "$x" "$px" ping -c1 -W1 "$ipy"
	# every web replica on another host: unreachable from blue (ICMP and TCP)
	for h in $HOSTS; do
		[ "$h" != "$x" ] || continue
		ipw=$(ctr "$h" web ip)
		run cnet "$x" "$px" ping -c1 -W1 "$ipw"
		[ "$status" -ne 0 ] || fail "blue on $x reached web on $h ($ipw): $output"
		run cnet "$x" "$px" curl -sS --max-time 1 "http://$ipw:80/"
		[ "$status" -ne 0 ] || fail "blue on $x reached web on $h ($ipw) by TCP: $output"
	done
}

@test "mesh: port $PORT answers on the host with no replica and balances over all 3" {
	local h seen=() c out i
	# from each other host to the spare host's address, and on the spare host itself
	for c in h1 h2 h3 h4; do
		cl_until 15 "$c gets an answer from $SPARE:$PORT" fetch "$c" "$(cl_ip "$SPARE")"
	done
	out=$(for i in $(seq 30); do fetch "$([ "$SPARE" = h1 ] && echo h2 || echo h1)" "$(cl_ip "$SPARE")"; done)
	echo "$out" | sort | uniq -c
	[ "$(echo "$out" | grep -c '^hello from ')" -eq 30 ] || fail "not every request answered: $out"
	[ "$(echo "$out" | grep '^hello from ' | sort -u | wc -l)" -eq 3 ] || fail "answers: $(echo "$out" | sort | uniq -c)"
	report "through $SPARE: $(echo "$out" | sort | uniq -c | awk '{print $4 "=" $1}' | tr '\n' ' ')"
	# every host balances over the same three addresses
	local ips
	ips=$(for h in $HOSTS; do ctr "$h" web ip; done)
	for h in h1 h2 h3 h4; do
		cl_until 5 "$h balances over web's 3 addresses" rules_have "$h" $ips
	done
}

# mesh_fp hI FIELD: FIELD of hI's fast path of the default VPC (overlay ls -o json)
mesh_fp() {
	coop_on "$1" net overlay ls -o json | jq -r --arg f "$2" '.[] | select(.vpc == "default") | .fastpath[$f]'
}
# closed_on hI: hI's conntrack has no entry for port PORT left ESTABLISHED (prints those)
closed_on() {
	local t
	t=$(on "$1" cat /proc/net/nf_conntrack) || return 1
	! grep "dport=$PORT " <<<"$t" | grep ESTABLISHED
}

@test "mesh: the fast path carries established mesh connections, bulk included, via either kind of host" {
	local client rep f sum h pid out0 back0 i got t
	client=$([ "$SPARE" = h1 ] && echo h2 || echo h1)
	for h in $HOSTS; do [ "$h" != "$client" ] && rep=$h; done
	# the same 3 MB random file in every replica's /www
	f=$CL_DIR/big
	head -c 3000000 /dev/urandom >"$f"
	sum=$(sha256sum <"$f" | cut -d' ' -f1)
	for h in $HOSTS; do
		pid=$(ctr "$h" web pid)
		[ -n "$pid" ] || fail "no web container on $h"
		on "$h" sh -c "cat '$f' > /proc/$pid/root/www/big"
	done
	# $SPARE sends every connection over the overlay (DNAT and masquerade), $rep a third
	# of them into its own replica (DNAT only)
	# a kernel without conntrack's BPF functions gets the program without this part
	# (the daemon says so); anything else must have it
	if [ "$(mesh_fp "$SPARE" mesh)" != true ] && grep -q "the kernel refused its part" "$CL_DIR/$SPARE.log"; then
		skip "this kernel refuses the program's part for published ports: $(grep -m1 'the kernel refused its part' "$CL_DIR/$SPARE.log")"
	fi
	[ -r /proc/net/nf_conntrack ] || skip "no /proc/net/nf_conntrack to read conntrack's view from"
	for t in "$SPARE" "$rep"; do
		[ "$(mesh_fp "$t" mesh)" = true ] || fail "$t: the fast path has no mesh part: $(coop_on "$t" net overlay ls -o json)"
		[ "$(on "$t" cat /proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal)" = 1 ]
		out0=$(mesh_fp "$t" mesh_out) back0=$(mesh_fp "$t" mesh_back)
		# downloads: the answer's bulk (GSO) takes the kernel's path or the program's,
		# its ACKs and the requests the program's, in one connection
		for i in 1 2 3 4 5 6; do
			got=$(on "$client" curl -sS --max-time 20 "http://$(cl_ip "$t"):$PORT/big" | sha256sum | cut -d' ' -f1)
			[ "$got" = "$sum" ] || fail "download $i through $t: sha256 $got, want $sum"
		done
		for i in $(seq 20); do
			[[ "$(fetch "$client" "$(cl_ip "$t")")" == "hello from "* ]] || fail "request $i through $t failed"
		done
		[ "$(mesh_fp "$t" mesh_out)" -gt $((out0 + 20)) ] || fail "$t: mesh_out $(mesh_fp "$t" mesh_out), was $out0"
		[ "$(mesh_fp "$t" mesh_back)" -gt $((back0 + 20)) ] || fail "$t: mesh_back $(mesh_fp "$t" mesh_back), was $back0"
		report "$t's program translated $(($(mesh_fp "$t" mesh_out) - out0)) segments out, $(($(mesh_fp "$t" mesh_back) - back0)) back"
		# conntrack saw every connection close (FIN and RST stay on its path)
		cl_until 5 "no connection to $PORT left ESTABLISHED on $t" closed_on "$t"
	done
}

@test "mesh: a killed host's backends vanish everywhere; the port keeps answering" {
	local victim client h ip t0 out fails
	# a replica host that is neither h1 (the leader) nor the spare
	for h in $HOSTS; do [ "$h" != h1 ] && [ "$h" != "$SPARE" ] && victim=$h; done
	client=h1
	ip=$(ctr "$victim" web ip)
	[ -n "$ip" ] || fail "no web container on $victim"
	t0=$(now_us)
	"$SIM/fault.sh" kill "$victim"
	gone() {
		local h
		for h in h1 h2 h3 h4; do
			[ "$h" != "$victim" ] || continue
			backends_on "$h" | grep -qx "$ip" && { echo "$h still balances over $ip"; return 1; }
		done
		return 0
	}
	cl_until 15 "$victim's backend $ip gone from every host" gone
	report "backend of $victim gone everywhere after $(secs_since "$t0") s"
	sleep 1
	fails=0
	for i in $(seq 50); do
		out=$(fetch "$client" "$(cl_ip "$SPARE")") || fails=$((fails + 1))
		[[ "$out" == "hello from "* ]] || fails=$((fails + 1))
	done
	[ "$fails" -eq 0 ] || fail "$fails of 50 requests through $SPARE failed after the failover"
}
