#!/usr/bin/env bats
# cluster-identity.bats — node identity on three simulated hosts (tests/sim; cluster.bash),
# on its own run id: h1 `coop init --cert-ttl 90s`s a cluster whose node certificates
# live 90 s, h2 and h3 join as agents. Then:
#   - every node renews its certificate when a third of its life is left (about a minute
#     in), and keeps working: the agent through POST /v1/cluster/renew, the server with
#     its own CA key; the new certificate is what the node's API listener presents, the
#     agent stays ready (its heartbeats get through with it), and Raft connections made
#     afterwards (the leader restarts) work with the new certificates;
#   - an agent's certificate speaks for that agent only: a heartbeat or a task report
#     for another node's name, or a CSR for another name, is refused (403, one message);
#   - `node rm h3` revokes h3's certificates: the API refuses them (403 "revoked"), and
#     h1's Raft transport refuses h3's connections (one warning line);
#   - h3 joins again with a new token: a new certificate, ready again; the old one stays
#     refused.
#
# The tests build on each other in order. Every wait is a poll with a deadline that says
# what it last saw. teardown_file stops the daemons it started (by pid) and runs down.sh.

load helpers
load cluster

COOP=${COOP:-$BUILD_DIR/coop}

setup_file() { cl_file_setup ci 3 curl openssl; }

teardown_file() { cl_file_teardown; }

setup() { cl_setup; }

teardown() { cl_restore; }

TTL=90

pki() { echo "$SIM_STATE/$1/fs/var/lib/coop/cluster/pki"; }
# serial hI: the serial of hI's node certificate (lowercase hex, as the model keys it)
serial() { openssl x509 -noout -serial -in "$(pki "$1")/node.crt" | sed 's/^serial=//' | tr 'A-F' 'a-f'; }
# renewed hI OLD: hI's certificate is no longer OLD (prints what it is)
renewed() {
	local s
	s=$(serial "$1")
	echo "$1: serial $s (was $2)"
	[ -n "$s" ] && [ "$s" != "$2" ]
}

# snap hI DIR: a copy of hI's ca.crt, node.crt and node.key that belong together (a
# renewal between two reads would pair a new key with an old certificate)
snap() {
	local src d=$2 a b
	src=$(pki "$1")
	mkdir -p "$d"
	for _ in $(seq 20); do
		cp "$src/ca.crt" "$src/node.crt" "$src/node.key" "$d/"
		a=$(openssl x509 -noout -pubkey -in "$d/node.crt")
		b=$(openssl pkey -pubout -in "$d/node.key")
		[ "$a" = "$b" ] && return 0
		sleep 0.2
	done
	echo "snap $1: node.crt and node.key never matched" >&2
	return 1
}

# api_as hI DIR METHOD PATH [BODY]: h1's API (the leader's) called from host hI with the
# certificate in DIR; prints the body, then a line "HTTP <code>"
api_as() {
	local h=$1 d=$2 m=$3 p=$4 body=${5:-}
	local args=(-sS -X "$m" --cacert "$d/ca.crt" --cert "$d/node.crt" --key "$d/node.key"
		-w '\nHTTP %{http_code}\n' --max-time 10)
	[ -z "$body" ] || args+=(-H 'Content-Type: application/json' --data "$body")
	on "$h" curl "${args[@]}" "https://$(cl_ip h1):7443$p"
}

# served_serial hI: the serial of the certificate hI's API listener presents (asked from h1)
served_serial() {
	on h1 sh -c "openssl s_client -connect $(cl_ip "$1"):7443 </dev/null 2>/dev/null |
		openssl x509 -noout -serial" | sed 's/^serial=//' | tr 'A-F' 'a-f'
}

@test "identity: init --cert-ttl 90s; h2 and h3 join as agents with 90-second certificates" {
	# a lifetime under a minute is refused with one line, and leaves nothing
	run --separate-stderr coop_on h3 init --address "$(cl_ip h3)" --name x --cert-ttl 10s \
		--state "/tmp/$COOP_SIM-bad"
	echo "status=$status stderr=${stderr_lines[*]}"
	[ "$status" -ne 0 ] || fail "--cert-ttl 10s was accepted"
	[ "${#stderr_lines[@]}" -eq 1 ] && [[ "${stderr_lines[0]}" == *"--cert-ttl"* ]] ||
		fail "wanted one line naming --cert-ttl, got: ${stderr_lines[*]}"
	[ ! -e "/tmp/$COOP_SIM-bad" ] && [ ! -e "$SIM_STATE/h3/fs/tmp/$COOP_SIM-bad" ] ||
		fail "a refused init left its state dir"

	cl_init h1 --cert-ttl "${TTL}s"
	keep AGENT_TOKEN "$AGENT_TOKEN"
	jq -e --argjson t "$TTL" '.cert_ttl_s == $t' "$SIM_STATE/h1/fs/var/lib/coop/cluster/cluster.json" ||
		fail "cluster.json: $(cat "$SIM_STATE/h1/fs/var/lib/coop/cluster/cluster.json")"
	cl_daemon h1
	cl_until 10 "h1 leads" has_leader h1
	cl_join h2 h1 "$AGENT_TOKEN"
	cl_join h3 h1 "$AGENT_TOKEN"
	cl_until 15 "3 nodes ready on h1" ready_count h1 3
	keep FORMED 1
	# what the leader signed: TTL seconds (plus a tenth backdated for clock skew)
	local h from to
	for h in h1 h2 h3; do
		from=$(date -d "$(openssl x509 -noout -startdate -in "$(pki "$h")/node.crt" | cut -d= -f2)" +%s)
		to=$(date -d "$(openssl x509 -noout -enddate -in "$(pki "$h")/node.crt" | cut -d= -f2)" +%s)
		[ $((to - from)) -eq $((TTL + TTL / 10)) ] || fail "$h: certificate valid $((to - from)) s"
		keep "SERIAL_$h" "$(serial "$h")"
	done
	jq -e --argjson t "$TTL" '.cert_ttl_s == $t' "$SIM_STATE/h2/fs/var/lib/coop/cluster/cluster.json" ||
		fail "the joiner did not learn the lifetime"
}

@test "identity: the agent and the server renew their certificates and keep working" {
	local t0
	t0=$(now_us)
	# due when a third of 99 s is left: about a minute after it was signed
	cl_until 80 "h2 renews its certificate" renewed h2 "$SERIAL_h2"
	report "h2 renewed its certificate $(secs_since "$t0") s into this test"
	cl_until 20 "h1 renews its own certificate" renewed h1 "$SERIAL_h1"
	local d=$BATS_TEST_TMPDIR/h2
	snap h2 "$d"
	run openssl verify -CAfile "$d/ca.crt" "$d/node.crt"
	[ "$status" -eq 0 ] || fail "the renewed certificate does not verify: $output"
	openssl x509 -noout -subject -in "$d/node.crt" | grep -q 'CN *= *h2' ||
		fail "renewed for: $(openssl x509 -noout -subject -in "$d/node.crt")"
	# node.pem (what the node's forwarded requests present) has the new pair too
	[ "$(openssl x509 -noout -serial -in "$(pki h2)/node.pem")" = \
		"$(openssl x509 -noout -serial -in "$(pki h2)/node.crt")" ] || fail "node.pem is not node.crt"
	[ "$(openssl pkey -pubout -in "$(pki h2)/node.pem")" = \
		"$(openssl x509 -noout -pubkey -in "$(pki h2)/node.pem")" ] || fail "node.pem: key and certificate differ"
	# h2's API listener presents the new certificate, without a restart
	local cur
	cur=$(serial h2)
	served_is() { local s; s=$(served_serial "$1"); echo "served $s, want $2"; [ "$s" = "$2" ]; }
	cl_until 5 "h2's API presents serial $cur" served_is h2 "$cur"
	# heartbeats go on (a node without them is down within 1 s), the model replicates
	sleep 2
	cl_until 5 "3 nodes ready" ready_count h1 3
	run coop_on h1 node label h2 renewed=yes
	[ "$status" -eq 0 ] || fail "label: $output"
	label_on() { cl_nodes "$1" | jq -e '.[] | select(.name == "h2") | .labels.renewed == "yes"'; }
	cl_until 10 "h2 sees its label" label_on h2
	# the renewed certificate authenticates to the leader's API
	run api_as h2 "$d" GET /v1/nodes
	[[ "$output" == *"HTTP 200"* ]] || fail "$output"
	# new Raft connections both ways present and accept the renewed certificates: the
	# leader restarts, the agent follows it again and sees new writes
	cl_stop h1
	cl_daemon h1
	cl_until 15 "h1 leads again with 3 nodes ready" ready_count h1 3
	run coop_on h1 node label h2 after=restart
	[ "$status" -eq 0 ] || fail "label after the restart: $output"
	after_on() { cl_nodes h2 | jq -e '.[] | select(.name == "h2") | .labels.after == "restart"'; }
	cl_until 10 "h2 sees the write made after h1's restart" after_on
}

@test "identity: an agent's certificate speaks only for its own node" {
	local d=$BATS_TEST_TMPDIR/h2
	snap h2 "$d"
	run api_as h2 "$d" POST /v1/cluster/heartbeat '{"name":"h2"}'
	[[ "$output" == *"HTTP 200"* ]] || fail "own heartbeat: $output"
	run api_as h2 "$d" POST /v1/cluster/heartbeat '{"name":"h3"}'
	echo "$output"
	[[ "$output" == *"HTTP 403"* ]] || fail "a heartbeat for h3 with h2's certificate was not refused"
	[[ "$output" == *"heartbeat for node 'h3' sent with the certificate of node 'h2'"* ]] ||
		fail "message: $output"
	run api_as h2 "$d" POST /v1/cluster/propose \
		'{"op":"task.status","reports":[{"task":"x.1","generation":1,"node":"h3","state":"running"}]}'
	echo "$output"
	[[ "$output" == *"HTTP 403"* && "$output" == *"task report for node 'h3'"* ]] ||
		fail "a task report for h3 with h2's certificate: $output"
	# a CSR for another name is not signed
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=h3 \
		-keyout "$d/other.key" -out "$d/other.csr" 2>/dev/null
	run api_as h2 "$d" POST /v1/cluster/renew "$(jq -n --rawfile c "$d/other.csr" '{csr: $c}')"
	echo "$output"
	[[ "$output" == *"HTTP 403"* && "$output" == *"is for 'h3', not 'h2'"* ]] ||
		fail "a CSR for h3 with h2's certificate: $output"
	# one JSON error object
	echo "$output" | head -1 | jq -e '.error.code == "forbidden"' >/dev/null || fail "not the error JSON"
}

@test "identity: node rm revokes the node's certificate for the API and for Raft" {
	# h3 has renewed since it joined: the certificate to revoke is one a server signed
	# through POST /v1/cluster/renew
	cl_until 60 "h3 renews" renewed h3 "$SERIAL_h3"
	local d=$CL_DIR/h3-old
	snap h3 "$d"
	run api_as h3 "$d" GET /v1/nodes
	[[ "$output" == *"HTTP 200"* ]] || fail "before rm: $output"
	local before
	# (h3's Raft connections: open ones are dropped, new ones refused)
	before=$(grep -cE "raft transport: .*(refused|dropping).*'h3'" "$CL_DIR/h1.log" || true)
	run coop_on h1 node rm h3
	[ "$status" -eq 0 ] || fail "node rm h3: $output"
	revoked() {
		local out
		out=$(api_as h3 "$d" GET /v1/nodes)
		echo "$out"
		[[ "$out" == *"HTTP 403"* && "$out" == *"revoked"* ]]
	}
	cl_until 10 "h3's certificate refused by the API" revoked
	# h3's daemon still runs: h1's Raft transport drops h3's connections and refuses new
	# ones (a warning line, not one per retry)
	refused() {
		local n
		n=$(grep -cE "raft transport: .*(refused|dropping).*'h3'" "$CL_DIR/h1.log" || true)
		echo "lines about h3 in h1's log: $n (before: $before)"
		[ "$n" -gt "$before" ]
	}
	cl_until 15 "h1's Raft transport refuses h3" refused
	grep -E "raft transport: .*(refused|dropping).*'h3'" "$CL_DIR/h1.log" | tail -3
	sleep 3
	local n
	n=$(grep -cE "raft transport: .*(refused|dropping).*'h3'" "$CL_DIR/h1.log" || true)
	[ $((n - before)) -le 6 ] || fail "$((n - before)) lines about h3 in h1's log: not throttled"
	cl_status h1 | jq -e 'all(.members[]; .name != "h3")' >/dev/null || fail "h3 is still a member: $(cl_status h1)"
	cl_nodes h1 | jq -e 'all(.[]; .name != "h3")' >/dev/null || fail "h3 is still a node"
	keep OLD_H3 "$d"
}

@test "identity: the removed node joins again with a new token and works; its old certificate stays refused" {
	[ -n "${OLD_H3:-}" ] || skip "h3 was not removed"
	local tok
	tok=$(coop_on h1 token create --join agent | grep -o 'COOP1-[^ ]*' | head -1)
	[[ "$tok" == COOP1-* ]] || fail "no token: $tok"
	cl_stop h3
	rm -rf "$SIM_STATE/h3/fs/var/lib/coop/cluster"
	cl_join h3 h1 "$tok"
	cl_until 15 "3 nodes ready" ready_count h1 3
	local d=$BATS_TEST_TMPDIR/h3
	snap h3 "$d"
	[ "$(serial h3)" != "$(openssl x509 -noout -serial -in "$OLD_H3/node.crt" | sed 's/^serial=//' | tr 'A-F' 'a-f')" ] ||
		fail "the same certificate again"
	run api_as h3 "$d" GET /v1/nodes
	[[ "$output" == *"HTTP 200"* ]] || fail "new certificate: $output"
	run api_as h3 "$OLD_H3" GET /v1/nodes
	[[ "$output" == *"HTTP 403"* && "$output" == *"revoked"* ]] || fail "old certificate: $output"
	# it takes part in the cluster: a write on h1 reaches its replica
	run coop_on h1 node label h3 back=yes
	[ "$status" -eq 0 ] || fail "label: $output"
	back_on() { cl_nodes h3 | jq -e '.[] | select(.name == "h3") | .labels.back == "yes"'; }
	cl_until 10 "h3 sees its label" back_on
}
