#!/usr/bin/env bats
# cluster.bats — a coop cluster on five simulated hosts (tests/sim; cluster.bash):
# h1 `coop init`s it, h2 and h3 join as servers, bad tokens are refused on h5 with one
# line and nothing written, h4 joins as an agent-only node (a standby that never votes),
# h5 then joins with a token made by `coop token create`. A workload of 3 replicas gets
# one task per node and its containers run there; a killed host's task runs elsewhere
# within the failover target (the measured time is printed) and the host shows down; a
# host that comes back runs no duplicate; a killed leader is replaced and writes work
# again; writes on a follower and on an agent reach the leader; labels replicate; drain
# moves tasks off a node; a daemon restart keeps its containers and its tasks; node rm.
#
# The tests build on each other in order (one set of hosts for the file); each says
# what it waited for and what it saw when it fails. Every wait is a poll with a
# deadline. teardown_file stops the daemons it started (by pid) and runs down.sh.

load helpers
load cluster

COOP=${COOP:-$BUILD_DIR/coop}
SIM=$REPO/tests/sim
FAILOVER_MAX=5 # seconds: the target is 2 s (heartbeat 200 ms, down after 1 s); assert < 5

# (bats 1.8 cannot skip in setup_file: it says why in CL_SKIP and setup skips)
setup_file() { cl_file_setup cl 5; }

teardown_file() { cl_file_teardown; }

setup() { cl_setup; }

teardown() { cl_restore; }

# fails_cleanly CMD...: CMD fails (status 1) with exactly one line on stderr, "coop: ..."
fails_cleanly() {
	run --separate-stderr "$@"
	echo "status=$status stdout: $output"
	echo "stderr:"
	printf '  %s\n' "${stderr_lines[@]}"
	[ "$status" -eq 1 ] || fail "status $status, wanted 1"
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "${#stderr_lines[@]} lines on stderr, wanted 1"
	[[ "${stderr_lines[0]}" == coop:* ]] || fail "stderr does not start with 'coop:'"
}

# joins_nothing hI: hI has no cluster state and no daemon; the cluster does not list hI
joins_nothing() {
	local h=$1
	[ ! -e "$SIM_STATE/$h/fs/var/lib/coop/cluster" ] ||
		fail "$h: a refused join left $(find "$SIM_STATE/$h/fs/var/lib/coop/cluster" | head -20 | tr '\n' ' ')"
	! cl_is_daemon "$(cl_pid "$h")" || fail "$h: the refused daemon still runs"
	! cl_nodes h1 | jq -e --arg n "$h" 'any(.[]; .name == $n)' >/dev/null ||
		fail "the cluster lists $h after a refused join: $(cl_nodes h1)"
	! cl_status h1 | jq -e --arg n "$h" 'any(.members[]; .name == $n)' >/dev/null ||
		fail "Raft has $h as a member after a refused join: $(cl_status h1)"
}

# join_refused CASE hI TOKEN [SEED]: `coop daemon --join` on hI with TOKEN exits 1 within
# 20 s with one line on stderr and leaves nothing. Prints the case and what was said;
# what is wrong goes to PROBLEMS (the test fails at its end, after every case ran).
join_refused() {
	local what=$1 h=$2 tok=$3 seed=${4:-h1} out
	run --separate-stderr timeout -k 2 20 "$SIM/run.sh" "$h" "$COOP" daemon --join "$(cl_ip "$seed")" \
		--token "$tok" --address "$(cl_ip "$h")" --name "$h"
	REFUSAL=${stderr_lines[${#stderr_lines[@]}-1]:-}
	report "$what: status $status: $(printf '%s | ' "${stderr_lines[@]}")"
	[ "$status" -eq 1 ] || PROBLEMS+=("$what: status $status (124: still running after 20 s), wanted 1")
	[ "${#stderr_lines[@]}" -eq 1 ] || PROBLEMS+=("$what: ${#stderr_lines[@]} lines on stderr, wanted 1")
	[[ "${stderr_lines[0]:-}" == coop:* ]] || PROBLEMS+=("$what: stderr does not start with 'coop:'")
	out=$(joins_nothing "$h" 2>&1) || PROBLEMS+=("$what: $out")
	[ "$status" -ne 124 ] || cl_until 5 "the joiner gone" bash -c "! pgrep -f -- '--name $h\$' >/dev/null" || true
	return 0
}

# retoken TOKEN [ROLE] [SECRET]: TOKEN with another role and/or secret and a correct check
# (the first 4 bytes of SHA-256 over everything before "-<check>")
retoken() {
	local IFS=- p
	read -r -a p <<<"$1"
	local fp=${p[1]} role=${2:-${p[2]}} secret=${3:-${p[3]}} head sum
	head="COOP1-$fp-$role-$secret"
	sum=$(printf '%s' "$head" | sha256sum | cut -c1-8)
	echo "$head-$sum"
}

# host_of NODE: the sim host of a node name (nodes are named after their hosts)
host_of() { echo "$1"; }

# a live server that is not NODE (to read the cluster from)
other_server() {
	local h
	for h in h1 h2 h3 h5; do
		[ "$h" = "$1" ] || [ "$h" = "${2:-}" ] && continue
		cl_is_daemon "$(cl_pid "$h")" && { echo "$h"; return 0; }
	done
	return 1
}

@test "cluster: init on h1, h2 and h3 join as servers: 3 nodes ready, 3 voters, one leader" {
	cl_init h1
	keep SERVER_TOKEN "$SERVER_TOKEN"
	keep AGENT_TOKEN "$AGENT_TOKEN"
	[[ "$SERVER_TOKEN" =~ ^COOP1-[0-9a-f]{64}-server-[A-Z2-7]{32}-[0-9a-f]{8}$ ]] || fail "server token: $SERVER_TOKEN"
	[[ "$AGENT_TOKEN" =~ ^COOP1-[0-9a-f]{64}-agent-[A-Z2-7]{32}-[0-9a-f]{8}$ ]] || fail "agent token: $AGENT_TOKEN"
	[ -e "$SIM_STATE/h1/fs/var/lib/coop/cluster/cluster.json" ]
	# a second init on the same state is refused
	fails_cleanly coop_on h1 init --address "$(cl_ip h1)" --name h1
	cl_daemon h1
	cl_until 10 "h1 ready, leading a one-voter cluster" has_leader h1
	[ "$(cl_leader h1)" = h1 ]
	cl_join h2 h1 "$SERVER_TOKEN"
	cl_join h3 h1 "$SERVER_TOKEN"
	cl_until 15 "3 nodes ready on h1" ready_count h1 3
	for h in h2 h3; do
		cl_until 10 "3 nodes ready as $h sees them" ready_count "$h" 3
	done
	keep FORMED 1 # the tests after this one need these three
	run cl_nodes h2
	echo "$output" | jq -e 'all(.[]; .role == "server")' >/dev/null || fail "roles: $output"
	echo "$output" | jq -e '[.[].name] | sort == ["h1", "h2", "h3"]' >/dev/null || fail "names: $output"
	echo "$output" | jq -e --arg a "$(cl_ip h2)" 'any(.[]; .name == "h2" and (.address | startswith($a)))' \
		>/dev/null || fail "h2's address: $output"
	# three voters (the leader grows 1 -> 3), and every node names the same leader
	voters() {
		members "$1" && cl_status "$1" | jq -e '[.members[] | select(.role == "voter")] | length == 3' >/dev/null
	}
	cl_until 10 "3 voters" voters h1
	run cl_status h3
	echo "$output" | jq -e '[.members[].name] | sort == ["h1", "h2", "h3"]' >/dev/null || fail "$output"
	local l1 l2 l3
	l1=$(cl_leader h1) l2=$(cl_leader h2) l3=$(cl_leader h3)
	[ -n "$l1" ] && [ "$l1" = "$l2" ] && [ "$l2" = "$l3" ] || fail "leaders: h1 says '$l1', h2 '$l2', h3 '$l3'"
	echo "$output" | jq -e '.term >= 1 and .index >= 1' >/dev/null || fail "$output"
	# servers hold the CA key; the API and Raft listen on 7443 and 7444
	[ -e "$SIM_STATE/h2/fs/var/lib/coop/cluster/pki/ca.key" ] || fail "server h2 has no ca.key"
	run on h2 ss -Hltn
	[[ "$output" == *":7443 "* && "$output" == *":7444 "* ]] || fail "h2 listens on: $output"
}

@test "cluster: bad join tokens are refused with one line and leave nothing on the joiner" {
	local tok other secret
	[ "$(retoken "$SERVER_TOKEN")" = "$SERVER_TOKEN" ] ||
		fail "the token's check is not the first 4 bytes of SHA-256 of its head (src/cluster/join.h): $SERVER_TOKEN"
	PROBLEMS=()
	# a wrong secret (well formed, correct check): the server refuses it
	secret=$(head -c 20 /dev/urandom | base32 | tr -d '=' | cut -c1-32)
	join_refused "wrong secret" h5 "$(retoken "$SERVER_TOKEN" server "$secret")"
	[[ "$REFUSAL" =~ [Tt]oken ]] || PROBLEMS+=("wrong secret: the refusal does not mention the token")
	# the agent token's secret presented as a server token
	join_refused "agent secret as a server token" h5 "$(retoken "$AGENT_TOKEN" server)"
	# a token of another cluster (its CA fingerprint is not h1's)
	other=$(coop_on h5 init --state "/tmp/$COOP_SIM-other" --address "$(cl_ip h5)" --name other)
	rm -rf "/tmp/$COOP_SIM-other"
	tok=$(printf '%s\n' "$other" | grep -o 'COOP1-[0-9a-f]*-server-[A-Z2-7]*-[0-9a-f]*' | head -1)
	[[ "$tok" == COOP1-* ]] || fail "no token from the other init: $other"
	join_refused "another cluster's token" h5 "$tok"
	[[ "$REFUSAL" =~ cluster|CA|fingerprint|certificate ]] || PROBLEMS+=("another cluster: the refusal does not say why")
	# a typo (the check no longer matches) and a truncated token: refused locally
	local c=X
	[ "${SERVER_TOKEN:80:1}" != X ] || c=Y
	join_refused "typo" h5 "${SERVER_TOKEN:0:80}$c${SERVER_TOKEN:81}"
	join_refused "truncated" h5 "${SERVER_TOKEN:0:100}"
	join_refused "not a token" h5 "hello"
	# an unreachable seed
	join_refused "unreachable seed" h5 "$SERVER_TOKEN" h9
	# an expired token, if tokens can be made with a lifetime
	if coop_on h1 token create --help 2>&1 | grep -q -- --ttl; then
		tok=$(coop_on h1 token create --join server --ttl 1s | grep -o 'COOP1-[A-Za-z0-9-]*' | head -1)
		sleep 2
		join_refused "expired" h5 "$tok"
	fi
	# the cluster is as it was
	cl_until 5 "3 nodes ready" ready_count h1 3
	[ "${#PROBLEMS[@]}" -eq 0 ] || fail "$(printf '\n  %s' "${PROBLEMS[@]}")"
}

@test "cluster: an agent-only node joins as a standby with its labels, holds no CA key, never votes" {
	local problem="" tok
	if ! cl_join h4 h2 "$AGENT_TOKEN" --label tier=edge --label zone=a; then
		# (go on with a fresh agent token, so the tests after this one can run)
		problem="the agent token coop init printed was refused: $(grep '^coop:' "$CL_DIR/h4.log" | tail -1)"
		tok=$(coop_on h1 token create --join agent | grep -o 'COOP1-[A-Za-z0-9-]*' | head -1)
		cl_join h4 h2 "$tok" --label tier=edge --label zone=a
	fi
	cl_until 10 "h4 ready (as h1 sees it)" node_is h1 h4 ready
	run cl_nodes h3
	echo "$output" | jq -e 'any(.[]; .name == "h4" and .role == "agent")' >/dev/null || fail "$output"
	echo "$output" | jq -e 'any(.[]; .name == "h4" and .labels.tier == "edge" and .labels.zone == "a")' \
		>/dev/null || fail "h4's labels: $output"
	standby() { members "$1" && cl_status "$1" | jq -e 'any(.members[]; .name == "h4" and .role == "standby")' >/dev/null; }
	cl_until 10 "h4 a standby member" standby h1
	[ "$(cl_status h4 | jq '[.members[] | select(.role == "voter")] | length')" -eq 3 ]
	[ ! -e "$SIM_STATE/h4/fs/var/lib/coop/cluster/pki/ca.key" ] || fail "agent h4 got the CA key"
	[ -e "$SIM_STATE/h4/fs/var/lib/coop/cluster/pki/node.crt" ]
	# the agent reads the model locally
	run cl_nodes h4
	[ "$(echo "$output" | jq length)" -eq 4 ] || fail "$output"
	[ -z "$problem" ] || fail "$problem"
}

@test "cluster: coop token create makes a server token; h5 joins with it as a server" {
	local tok
	run coop_on h3 token create --join server
	[ "$status" -eq 0 ] || fail "token create: $output"
	tok=$(echo "$output" | grep -o 'COOP1-[A-Za-z0-9-]*' | head -1)
	[[ "$tok" =~ -server- ]] || fail "no server token in: $output"
	[ "$tok" != "$SERVER_TOKEN" ]
	cl_join h5 h3 "$tok"
	cl_until 10 "5 nodes ready" ready_count h1 5
	run cl_status h5
	echo "$output" | jq -e 'any(.members[]; .name == "h5" and (.role == "standby" or .role == "voter"))' \
		>/dev/null || fail "$output"
	# an odd number of voters, never the agent
	echo "$output" | jq -e '[.members[] | select(.role == "voter")] | length | . % 2 == 1' >/dev/null || fail "$output"
	report "members with h5: $(echo "$output" | jq -c '[.members[] | "\(.name):\(.role)"]')"
}

@test "cluster: a workload of 3 replicas gets one task per node and its containers run there" {
	bun "$CL_DIR/web.bun" web 3
	run coop_on h1 run "$CL_DIR/web.bun"
	[ "$status" -eq 0 ] || fail "coop run: $output"
	cl_until 20 "3 tasks of web running on 3 nodes" tasks_running h1 web 3
	run cl_tasks h2 web
	echo "$output" | jq -e '[.[].id] | sort == ["web.1", "web.2", "web.3"]' >/dev/null || fail "$output"
	local t node ctr n=0
	for t in $(echo "$output" | jq -r '.[] | "\(.node),\(.container)"'); do
		node=${t%,*} ctr=${t#*,}
		[ "$ctr" != null ] || fail "task on $node has no container: $output"
		runs_container "$(host_of "$node")" web "$ctr" || fail "$node does not run its task's container"
	done
	# nothing of web anywhere else, and exactly 3 containers in all
	for h in h1 h2 h3 h4 h5; do
		n=$((n + $(local_running "$h" web | wc -l)))
	done
	[ "$n" -eq 3 ] || fail "$n containers of web run across the hosts, wanted 3"
	report "placement: $(echo "$output" | jq -c '[.[] | "\(.id)@\(.node)"]')"
}

@test "cluster: a write on a follower server and on an agent reaches the leader" {
	local leader follower before
	leader=$(cl_leader h1)
	[ -n "$leader" ] || fail "no leader: $(cl_status h1)"
	follower=$(other_server "$leader")
	before=$(cl_status "$leader" | jq .index)
	bun "$CL_DIR/fw.bun" fw 1
	run coop_on "$follower" run "$CL_DIR/fw.bun"
	[ "$status" -eq 0 ] || fail "coop run on follower $follower: $output"
	cl_until 15 "fw running (as the leader $leader sees it)" tasks_running "$leader" fw 1
	[ "$(cl_status "$leader" | jq .index)" -gt "$before" ]
	# an agent (a standby) forwards too
	bun "$CL_DIR/fa.bun" fa 1
	run coop_on h4 run "$CL_DIR/fa.bun"
	[ "$status" -eq 0 ] || fail "coop run on agent h4: $output"
	cl_until 15 "fa running (as the leader $leader sees it)" tasks_running "$leader" fa 1
	# and a name taken is refused wherever it is written
	fails_cleanly coop_on h4 run "$CL_DIR/fw.bun"
}

@test "cluster: coop run --image is a standalone container on the node asked: output, exit code, -t, --init, --stop-signal, -p" {
	# as `docker run` on a Swarm node: it runs here, outside the scheduler
	run coop_on h4 run --rm --name fg4 --image "$CL_IMAGE" -- sh -c 'echo hello from fg4; exit 3'
	[ "$status" -eq 3 ] || fail "run on h4: status $status: $output"
	[[ "$output" == *"hello from fg4"* ]] || fail "$output"
	! coop_on h4 ps -a | grep -q fg4 || fail "fg4 left behind: $(coop_on h4 ps -a)"
	cl_tasks h1 | jq -e 'all(.[]; .workload != "fg4")' >/dev/null || fail "fg4 became a task"
	# -t without our stdin: a terminal in the container
	run coop_on h5 run -t --rm --image "$CL_IMAGE" -- sh -c 'tty; exit 5'
	[ "$status" -eq 5 ] || fail "run -t on h5: status $status: $output"
	[[ "$output" == /dev/pts/0* ]] || fail "$output"
	# detached, with an init and a stop signal: sleep gets SIGTERM at once
	run coop_on h5 run -d --init --stop-signal SIGTERM --name pin5 --image "$CL_IMAGE" -- sleep 1000
	[ "$status" -eq 0 ] || fail "run -d on h5: $output"
	up5() { coop_on h5 inspect pin5-1 | jq -e '.[0].status == "running"' >/dev/null; }
	cl_until 20 "pin5 running on h5" up5
	local t0 took
	t0=$(now_us)
	run coop_on h5 stop --timeout 20s pin5-1
	[ "$status" -eq 0 ] || fail "stop: $output"
	took=$(secs_since "$t0")
	report "stop with --init: ${took}s"
	awk -v t="$took" 'BEGIN { exit !(t < 5) }' || fail "stop took ${took}s: the signal did not reach sleep"
	coop_on h5 rm pin5-1 >/dev/null
	# a published port answers on its node, next to the cluster's routing mesh
	run coop_on h5 run -d --name pub5 -p 18089:8080 --image "$CL_IMAGE" -- httpd -f -p 8080 -h /etc
	[ "$status" -eq 0 ] || fail "run -p on h5: $output"
	answers() { on h5 wget -qO- -T 2 "http://$(cl_ip h5):18089/hostname"; }
	cl_until 20 "pub5 answering on h5:18089" answers
	coop_on h5 rm -f pub5-1 >/dev/null
}

@test "cluster: node labels replicate; placement constraints follow them" {
	run coop_on h2 node label h3 zone=b
	[ "$status" -eq 0 ] || fail "node label: $output"
	label_is() {
		cl_nodes "$1" | jq -c '[.[] | {name, labels}]' && cl_nodes "$1" | jq -e --arg n "$2" --arg v "$3" 'any(.[]; .name == $n and .labels.zone == $v)' >/dev/null
	}
	cl_until 5 "h3 zone=b as h4 sees it" label_is h4 h3 b
	cl_until 5 "h3 zone=b as h1 sees it" label_is h1 h3 b
	fails_cleanly coop_on h2 node label nosuch zone=b
	bun "$CL_DIR/zb.bun" zb 2 'placement:
  constraints: ["zone==b"]'
	run --separate-stderr coop_on h1 run -d "$CL_DIR/zb.bun"
	if [[ "$stderr" == *"unknown field 'placement'"* ]]; then
		coop_on h1 workload rm zb >/dev/null
		skip "this coop's .bun parser has no placement field: constraints untested"
	fi
	[ "$status" -eq 0 ] || fail "coop run zb: $output $stderr"
	onlyb() { cl_tasks h1 zb | jq -c '[.[] | "\(.id)@\(.node)"]' && cl_tasks h1 zb | jq -e 'length == 2 and all(.[]; .node == "h3")' >/dev/null; }
	cl_until 10 "both zb tasks on h3 (the only zone=b node)" onlyb
}

@test "cluster: a killed host's task runs on another node within the failover target; the host shows down" {
	local leader victim task t0 took j new ctr
	leader=$(cl_leader h1)
	[ -n "$leader" ] || fail "no leader: $(cl_status h1)"
	cl_until 10 "web running on 3 nodes" tasks_running "$leader" web 3
	j=$(cl_tasks "$leader" web)
	# the victim: a node with a task of web, not the leader; an agent first (no vote lost)
	victim=$(echo "$j" | jq -r --arg l "$leader" '[.[] | select(.node != $l) | .node] | sort_by(if . == "h4" then 0 else 1 end) | .[0]')
	task=$(echo "$j" | jq -r --arg v "$victim" '.[] | select(.node == $v) | .id')
	[ -n "$victim" ] && [ -n "$task" ] || fail "no victim in $j"
	keep VICTIM "$victim"
	t0=$(now_us)
	"$SIM/fault.sh" kill "$victim"
	moved() {
		cl_tasks "$leader" web | jq -c '[.[] | "\(.id)@\(.node):\(.observed)"]' && cl_tasks "$leader" web |
			jq -e --arg t "$task" --arg v "$victim" 'any(.[]; .id == $t and .node != $v and .node != null and .observed == "running")' >/dev/null
	}
	cl_until 20 "$task off $victim and running elsewhere" moved
	took=$(secs_since "$t0")
	new=$(cl_tasks "$leader" web | jq -r --arg t "$task" '.[] | select(.id == $t) | .node')
	ctr=$(cl_tasks "$leader" web | jq -r --arg t "$task" '.[] | select(.id == $t) | .container')
	report "failover: $task from $victim to $new, running after ${took} s (target 2 s, asserted < $FAILOVER_MAX s)"
	keep FAILOVER_S "$took"
	cl_until 5 "$victim down (as $leader sees it)" node_is "$leader" "$victim" down
	cl_until 5 "$new runs $task's container" runs_container "$(host_of "$new")" web "$ctr"
	cl_until 5 "web: 3 tasks running, none on $victim" tasks_running "$leader" web 3 "$victim"
	awk -v t="$took" -v m="$FAILOVER_MAX" 'BEGIN { exit !(t < m) }' ||
		fail "failover took $took s (>= $FAILOVER_MAX s)"
}

@test "cluster: the killed host comes back ready, runs no duplicate of its moved task, and runs new tasks" {
	[ -n "${VICTIM:-}" ] || skip "no host was killed"
	local leader n h
	leader=$(cl_leader h1)
	"$SIM/fault.sh" heal "$VICTIM"
	cl_daemon "$VICTIM"
	cl_until 10 "$VICTIM ready again" node_is "$leader" "$VICTIM" ready
	sleep 1.5 # a heartbeat window or so: a duplicate would show by now
	cl_until 5 "web: 3 tasks running" tasks_up "$leader" web 3
	n=0
	for h in h1 h2 h3 h4 h5; do
		n=$((n + $(local_running "$h" web | wc -l)))
	done
	[ "$n" -eq 3 ] || fail "$n containers of web run across the hosts after $VICTIM came back, wanted 3; on $VICTIM: $(coop_on "$VICTIM" ps -a)"
	# and it runs what is placed on it now: 5 replicas over the 5 nodes
	bun "$CL_DIR/back.bun" back 5
	run coop_on h2 run -d "$CL_DIR/back.bun"
	[ "$status" -eq 0 ] || fail "coop run back: $output"
	local problem=""
	if ! cl_until 20 "back: 5 replicas running" tasks_up "$leader" back 5; then
		problem="back's replicas do not all run (a task placed on the returned $VICTIM?): $(cl_tasks "$leader" back | jq -c '[.[] | "\(.id)@\(.node):\(.observed)"]')"
	elif ! tasks_running "$leader" back 5 >/dev/null; then
		problem="5 replicas, 5 ready nodes, but not one per node: $(cl_tasks "$leader" back | jq -c '[.[] | "\(.id)@\(.node)"]'); nodes: $(cl_nodes "$leader" | jq -c '[.[] | "\(.name):\(.state)"]')"
	fi
	coop_on h2 workload rm back >/dev/null
	cl_until 10 "back removed" bash -c "! '$SIM/run.sh' h2 '$COOP' tasks back -o json | jq -e 'length > 0' >/dev/null"
	[ -z "$problem" ] || fail "$problem"
}

@test "cluster: a killed leader is replaced; writes work again; the agent stays a standby" {
	local old new t0 took obs
	old=$(cl_leader h1)
	[ -n "$old" ] || fail "no leader: $(cl_status h1)"
	obs=$(other_server "$old" h5) # a voter (h5 may be a standby)
	keep OLD_LEADER "$old"
	t0=$(now_us)
	echo "$old" >"$CL_DIR/restore"
	"$SIM/fault.sh" kill "$old"
	cl_until 15 "a leader other than $old (as $obs sees it)" has_leader "$obs" "$old"
	took=$(secs_since "$t0")
	new=$(cl_leader "$obs")
	report "leader: $old killed, $new elected after ${took} s; $(members "$obs")"
	# writes work again: a new workload from another node, and a label
	bun "$CL_DIR/after.bun" after 1
	run coop_on "$obs" run "$CL_DIR/after.bun"
	[ "$status" -eq 0 ] || fail "coop run after the election: $output"
	cl_until 15 "after running" tasks_running "$new" after 1 "$old"
	run coop_on h4 node label h4 after=election
	[ "$status" -eq 0 ] || fail "node label after the election: $output"
	# the old leader's tasks run elsewhere too, one per node (4 nodes are left)
	cl_until 10 "web: 3 tasks running, none on $old" tasks_up "$new" web 3 "$old"
	local spread=""
	tasks_running "$new" web 3 "$old" >/dev/null ||
		spread="web's tasks share a node though 4 nodes are ready: $(cl_tasks "$new" web | jq -c '[.[] | "\(.id)@\(.node)"]')"
	cl_until 5 "$old down" node_is "$new" "$old" down
	# the dead voter is replaced by the standby server h5: 3 ready voters again
	ready_voters() {
		members "$1" && cl_status "$1" |
			jq -e '[.members[] | select(.role == "voter" and .state == "ready")] | length == 3' >/dev/null
	}
	local problems=()
	cl_until 5 "the new leader $new ready in its own model" node_is "$obs" "$new" ready ||
		problems+=("the new leader $new is not ready in the model: $(members "$obs")")
	cl_until 10 "3 ready voters (h5 promoted in place of $old)" ready_voters "$obs" ||
		problems+=("no 3 ready voters 10 s after the election: $(members "$obs")")
	run cl_status "$obs"
	echo "$output" | jq -e 'any(.members[]; .name == "h4" and .role == "standby")' >/dev/null ||
		fail "the agent h4 is not a standby any more: $output"
	[ "$(echo "$output" | jq -r .leader.name)" != h4 ]
	# the old leader comes back as a member (the cluster of 5 needs it for the tests after)
	"$SIM/fault.sh" heal "$old"
	cl_daemon "$old"
	cl_until 10 "$old ready again" node_is "$new" "$old" ready
	cl_until 5 "$old sees a leader" has_leader "$old"
	rm -f "$CL_DIR/restore"
	[ -z "$spread" ] || problems+=("$spread")
	[ "${#problems[@]}" -eq 0 ] || fail "$(printf '\n  %s' "${problems[@]}")"
}

@test "cluster: node drain moves tasks off the node" {
	local leader node j t0
	leader=$(cl_leader h1)
	[ -n "$leader" ] || leader=$(cl_leader h2)
	cl_until 10 "web: 3 tasks running" tasks_up "$leader" web 3
	j=$(cl_tasks "$leader" web)
	report "before the drain: $(echo "$j" | jq -c '[.[] | "\(.id)@\(.node)"]')"
	node=$(echo "$j" | jq -r --arg l "$leader" '[.[] | select(.node != $l and .node != "h4") | .node][0] // empty')
	[ -n "$node" ] || node=$(echo "$j" | jq -r --arg l "$leader" '[.[] | select(.node != $l) | .node][0]')
	keep DRAINED "$node"
	t0=$(now_us)
	run coop_on "$leader" node drain "$node"
	[ "$status" -eq 0 ] || fail "drain $node: $output"
	cl_until 5 "$node draining" node_is "$leader" "$node" draining
	cl_until 15 "web: 3 tasks running, none on $node" tasks_up "$leader" web 3 "$node"
	report "drain: $node's tasks running elsewhere after $(secs_since "$t0") s"
	none_left() {
		local ids
		ids=$(coop_on "$node" ps -o json | jq -r '[.[] | select(.status == "running" and .workload != null)] | map(.name) | join(" ")')
		echo "running on $node: $ids"
		[ -z "$ids" ]
	}
	cl_until 15 "no workload container running on $node" none_left
	report "drain: no container left running on $node after $(secs_since "$t0") s"
	run cl_tasks "$leader"
	! echo "$output" | jq -e --arg n "$node" 'any(.[]; .node == $n and .desired == "running")' >/dev/null ||
		fail "tasks still desired running on $node: $output"
}

@test "cluster: a daemon restart keeps its containers and its tasks, and duplicates nothing" {
	local leader node before after ids_before ids_after n h t0 stopped
	leader=$(cl_leader h1)
	[ -n "$leader" ] || leader=$(cl_leader h2)
	cl_until 10 "web: 3 tasks running" tasks_up "$leader" web 3
	node=$(cl_tasks "$leader" web | jq -r --arg l "$leader" '[.[] | select(.node != $l) | .node][0]')
	before=$(cl_tasks "$leader" | jq -c 'map({id, node, generation, container}) | sort_by(.id)')
	ids_before=$(local_running "$node" web | sort | tr '\n' ' ')
	[ -n "$ids_before" ] || fail "$node runs no container of web"
	t0=$(now_us)
	cl_stop "$node"
	stopped=$(secs_since "$t0")
	cl_daemon "$node"
	report "restart of $node's daemon: stopped after $stopped s, answering again after $(secs_since "$t0") s (down after 1 s without heartbeats)"
	cl_until 10 "$node ready" node_is "$leader" "$node" ready
	sleep 1.5 # past the down threshold: a move or a duplicate would show by now
	ids_after=$(local_running "$node" web | sort | tr '\n' ' ')
	[ "$ids_after" = "$ids_before" ] || fail "$node's web containers were '$ids_before', now '$ids_after'"
	after=$(cl_tasks "$leader" | jq -c 'map({id, node, generation, container}) | sort_by(.id)')
	[ "$after" = "$before" ] || fail "tasks changed across the restart of $node:
  before: $before
  after:  $after"
	n=0
	for h in h1 h2 h3 h4 h5; do
		n=$((n + $(local_running "$h" web | wc -l)))
	done
	[ "$n" -eq 3 ] || fail "$n containers of web run across the hosts, wanted 3"
}

@test "cluster: node rm removes a drained node from the nodes and from Raft" {
	[ -n "${DRAINED:-}" ] || skip "no node was drained"
	local leader
	leader=$(cl_leader h1)
	[ -n "$leader" ] || leader=$(cl_leader h2)
	[ "$leader" != "$DRAINED" ] || skip "the drained node leads now"
	run coop_on "$leader" node rm "$DRAINED"
	[ "$status" -eq 0 ] || fail "node rm $DRAINED: $output"
	gone() {
		local j
		j=$(cl_nodes "$leader") && echo "$j" | jq -c '[.[].name]' &&
			! echo "$j" | jq -e --arg n "$DRAINED" 'any(.[]; .name == $n)' >/dev/null &&
			! cl_status "$leader" | jq -e --arg n "$DRAINED" 'any(.members[]; .name == $n)' >/dev/null
	}
	cl_until 10 "$DRAINED gone from nodes and members" gone
	fails_cleanly coop_on "$leader" node rm nosuch
	cl_until 10 "web still running" tasks_up "$leader" web 3
}
