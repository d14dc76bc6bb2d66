#!/usr/bin/env bats
# cluster-faults.bats — faults and limits of a coop cluster on five simulated hosts
# (tests/sim; cluster.bash), on its own run id: h1 inits, h2 and h3 join as servers (3
# voters), h4 and h5 as agents. Then:
#   - 6 replicas constrained to the 3 tier=web nodes get exactly 2 per node; a replica
#     whose memory request exceeds every node's capacity stays unplaced, and the leader
#     keeps working;
#   - a leader killed in the middle of 30 acknowledged label writes loses none of them
#     (every surviving node shows each one); the time from the kill to the first
#     accepted write is printed;
#   - an isolated voter cannot write (one clear line, within seconds), the majority can,
#     and after the heal the voter's model converges (index, term, labels);
#   - `coop events -f` on a node whose daemon restarts (while writes go on elsewhere)
#     prints every change exactly once, in order.
#
# The tests build on each other in order (one set of hosts for the file). Every wait is
# a poll with a deadline that says what it last saw. teardown_file stops the daemons it
# started (by pid), heals the faults and runs down.sh.

load helpers
load cluster

COOP=${COOP:-$BUILD_DIR/coop}
SIM=$REPO/tests/sim

setup_file() { cl_file_setup cf 5; }

setup() { cl_setup; }

teardown_file() {
	[ -n "${COOP_SIM:-}" ] || return 0
	# a background `coop events` a test started and could not stop (by its pid, if it is
	# still that process)
	local p
	for p in $(cat "$CL_DIR/bgpids" 2>/dev/null); do
		tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -q -- "$COOP events" && kill "$p" 2>/dev/null
	done
	cl_file_teardown
}

teardown() { cl_restore; }

SERVERS="h1 h2 h3"
ALL="h1 h2 h3 h4 h5"

# a live voter (not NOT...) to read the cluster from
live_voter() {
	local h x skip
	for h in $SERVERS; do
		skip=
		for x in "$@"; do [ "$h" = "$x" ] && skip=1; done
		[ -z "$skip" ] && cl_is_daemon "$(cl_pid "$h")" && { echo "$h"; return 0; }
	done
	return 1
}

# the leader as the live servers see it (empty if none)
leader_now() {
	local h l
	for h in $SERVERS; do
		cl_is_daemon "$(cl_pid "$h")" || continue
		l=$(cl_leader "$h") && [ -n "$l" ] && { echo "$l"; return 0; }
	done
	return 1
}

# voters_ready hI N: hI's status has N voters, all ready, and a leader
voters_ready() {
	members "$1" && cl_status "$1" | jq -e --argjson n "$2" '.leader.name != null and
		([.members[] | select(.role == "voter" and .state == "ready")] | length) == $n' >/dev/null
}

# has_labels hI NODE JSON: hI's `coop nodes` shows NODE with every label of JSON (an object)
# (prints the labels it sees and which are missing or different)
has_labels() {
	local j
	j=$(cl_nodes "$1") || { echo "$j"; return 1; }
	echo "$j" | jq -c --arg n "$2" --argjson w "$3" '.[] | select(.name == $n) | .labels as $l |
		{node: .name, labels: ($l | length), missing: [$w | to_entries[] | select($l[.key] != .value) | "\(.key)=\(.value) (has \($l[.key]))"]}'
	echo "$j" | jq -e --arg n "$2" --argjson w "$3" \
		'any(.[]; .name == $n and (.labels as $l | all($w | to_entries[]; $l[.key] == .value)))' >/dev/null
}

@test "faults: init on h1, h2 and h3 join as servers, h4 and h5 as agents: 5 nodes, 3 voters" {
	local t0
	t0=$(now_us)
	cl_init h1
	keep SERVER_TOKEN "$SERVER_TOKEN"
	keep AGENT_TOKEN "$AGENT_TOKEN"
	cl_daemon h1
	cl_until 10 "h1 leading" has_leader h1
	cl_join h2 h1 "$SERVER_TOKEN"
	cl_join h3 h1 "$SERVER_TOKEN"
	cl_join h4 h2 "$AGENT_TOKEN"
	cl_join h5 h3 "$AGENT_TOKEN"
	cl_until 20 "5 nodes ready on h1" ready_count h1 5
	cl_until 10 "3 ready voters" voters_ready h1 3
	for h in $ALL; do
		cl_until 10 "5 nodes ready as $h sees them" ready_count "$h" 5
	done
	keep FORMED 1
	report "formed in $(secs_since "$t0") s: $(members h1)"
}

@test "faults: 6 replicas constrained to 3 nodes get exactly 2 each; a replica too big for every node stays unplaced" {
	local h leader big n
	for h in h2 h4 h5; do
		run coop_on h1 node label "$h" tier=web
		[ "$status" -eq 0 ] || fail "node label $h tier=web: $output"
	done
	for h in $ALL; do
		cl_until 5 "tier=web on h2 h4 h5 as $h sees it" bash -c "'$SIM/run.sh' $h '$COOP' nodes -o json |
			jq -c '[.[] | {name, tier: .labels.tier}]' | tee /dev/stderr |
			jq -e '[.[] | select(.tier == \"web\") | .name] | sort == [\"h2\", \"h4\", \"h5\"]' >/dev/null"
	done
	bun "$CL_DIR/w6.bun" w6 6 'placement:
  constraints: ["tier==web"]'
	run coop_on h3 run -d "$CL_DIR/w6.bun"
	[ "$status" -eq 0 ] || fail "coop run w6: $output"
	two_each() {
		local j
		j=$(cl_tasks h1 w6) || { echo "$j"; return 1; }
		echo "$j" | jq -c '[.[] | "\(.id)@\(.node):\(.observed)"]'
		echo "$j" | jq -e 'length == 6 and all(.[]; .desired == "running" and .observed == "running") and
			(group_by(.node) | map({key: .[0].node, value: length}) | from_entries) == {h2: 2, h4: 2, h5: 2}' >/dev/null
	}
	cl_until 30 "w6: 6 tasks running, 2 on each of h2 h4 h5" two_each
	for h in h2 h4 h5; do
		n=$(local_running "$h" w6 | wc -l)
		[ "$n" -eq 2 ] || fail "$h runs $n containers of w6, wanted 2"
	done
	for h in h1 h3; do
		n=$(local_running "$h" w6 | wc -l)
		[ "$n" -eq 0 ] || fail "$h (not tier=web) runs $n containers of w6"
	done
	report "w6: $(cl_tasks h1 w6 | jq -c '[.[] | "\(.id)@\(.node)"]')"

	# more memory than any node has (capacity in coop nodes -o json)
	run cl_nodes h1
	big=$(echo "$output" | jq '[.[].capacity.memory] | max * 2')
	[ "$big" -gt 0 ] || fail "no memory capacity in: $output"
	report "capacities (memory): $(echo "$output" | jq -c '[.[] | "\(.name):\(.capacity.memory)"]'); asking $big"
	bun "$CL_DIR/big.bun" big 2 "resources:
  memory: $big"
	leader=$(leader_now)
	run coop_on h2 run -d "$CL_DIR/big.bun"
	[ "$status" -eq 0 ] || fail "coop run -d big (a workload that fits nowhere is accepted, its replicas wait): $output"
	# for 3 s (past a few scheduling passes) no task of big runs anywhere
	local end=$(($(now_us) + 3000000))
	while [ "$(now_us)" -lt "$end" ]; do
		run cl_tasks "$leader" big
		[ "$status" -eq 0 ] || fail "coop tasks big: $output"
		! echo "$output" | jq -e 'any(.[]; .observed == "running" or (.node // "") != "")' >/dev/null ||
			fail "a replica of big was placed though no node has $big bytes: $output"
		for h in $ALL; do
			[ -z "$(local_running "$h" big)" ] || fail "$h runs a container of big"
		done
		sleep 0.5
	done
	grep -h 'big' "$CL_DIR/$leader.log" | grep -i 'fit' | tail -1 | sed 's/^/# leader log: /' >&3 || true
	# the leader keeps working: a write, the other workload still running, same leader
	run coop_on h4 node label h4 after=big
	[ "$status" -eq 0 ] || fail "a write after big: $output"
	cl_until 5 "after=big on h4 (as $leader sees it)" has_labels "$leader" h4 '{"after":"big"}'
	two_each >/dev/null || fail "w6 changed: $(cl_tasks h1 w6)"
	[ "$(leader_now)" = "$leader" ] || fail "the leader changed from $leader to $(leader_now)"
	# clean up for the next tests
	coop_on h1 workload rm big >/dev/null
	coop_on h1 workload rm w6 >/dev/null
	cl_until 15 "w6 and big removed" bash -c "! '$SIM/run.sh' h1 '$COOP' tasks -o json | jq -e 'length > 0'"
}

@test "faults: a leader killed in the middle of 30 acknowledged writes loses none of them" {
	local leader writer i t0 tkill tfirst="" rc out acked=() failed=() obs
	leader=$(leader_now) || fail "no leader: $(members h1)"
	writer=h4 # an agent: it forwards every write to whoever leads
	keep KILLED "$leader"
	for i in $(seq 1 30); do
		if [ "$i" -eq 11 ]; then
			echo "$leader" >"$CL_DIR/restore"
			tkill=$(now_us)
			"$SIM/fault.sh" kill "$leader"
		fi
		t0=$(now_us)
		rc=0
		out=$(timeout -k 1 15 "$SIM/run.sh" "$writer" "$COOP" node label h5 "k$i=v$i" 2>&1) || rc=$?
		if [ "$rc" -eq 0 ]; then
			acked+=("$i")
			if [ "$i" -gt 10 ] && [ -z "$tfirst" ]; then
				tfirst=$(secs_since "$tkill")
				report "leader $leader killed: first accepted write (k$i) $tfirst s after the kill"
			fi
		else
			failed+=("$i")
			report "write k$i: status $rc after $(secs_since "$t0") s: $out"
			sleep 0.2
		fi
	done
	report "acknowledged ${#acked[@]} of 30 writes; failed: ${failed[*]:-none}"
	[ -n "$tfirst" ] || fail "no write accepted after the leader was killed"
	# every acknowledged write, on every surviving node
	local want
	want=$(for i in "${acked[@]}"; do echo "k$i"; done | jq -R . | jq -sc 'map({key: ., value: ("v" + .[1:])}) | from_entries')
	for h in $ALL; do
		[ "$h" = "$leader" ] && continue
		cl_until 10 "every acknowledged label on h5 as $h sees it" has_labels "$h" h5 "$want"
	done
	obs=$(live_voter "$leader")
	report "after the kill: $(members "$obs")"
	# the old leader comes back (the tests after need 3 voters), with every write too
	"$SIM/fault.sh" heal "$leader"
	cl_daemon "$leader"
	rm -f "$CL_DIR/restore"
	cl_until 15 "$leader ready again" node_is "$obs" "$leader" ready
	cl_until 15 "3 ready voters" voters_ready "$obs" 3
	cl_until 10 "every acknowledged label on h5 as the returned $leader sees it" has_labels "$leader" h5 "$want"
}

@test "faults: an isolated voter cannot write (one clear line, within seconds); the majority can; it converges after the heal" {
	local leader v t0 took k
	leader=$(leader_now) || fail "no leader: $(members h1)"
	cl_until 10 "3 ready voters" voters_ready "$leader" 3
	v=$(cl_status "$leader" | jq -r --arg l "$leader" '[.members[] | select(.role == "voter" and .name != $l) | .name][0]')
	[ -n "$v" ] && [ "$v" != null ] || fail "no follower voter: $(members "$leader")"
	echo "$v" >"$CL_DIR/restore"
	"$SIM/fault.sh" isolate "$v"
	local problems=()
	# (not $i: bats' run clobbers it)
	for k in 1 2; do
		t0=$(now_us)
		run --separate-stderr timeout -k 1 10 "$SIM/run.sh" "$v" "$COOP" node label "$v" "iso$k=1"
		took=$(secs_since "$t0")
		report "write $k on the isolated $v: status $status after $took s: ${stderr_lines[*]}"
		[ "$status" -eq 1 ] || problems+=("write $k on $v: status $status (124: no answer within 10 s), wanted 1")
		[ "${#stderr_lines[@]}" -eq 1 ] || problems+=("write $k on $v: ${#stderr_lines[@]} lines on stderr, wanted 1")
		[[ "${stderr_lines[0]:-}" == coop:* ]] || problems+=("write $k on $v: stderr does not start with 'coop:'")
		[[ "${stderr_lines[0]:-}" =~ leader|quorum|unavailable|timed\ out|reach ]] ||
			problems+=("write $k on $v: the error does not say the leader is out of reach")
	done
	# the majority writes
	for k in 1 2 3 4 5; do
		run timeout -k 1 10 "$SIM/run.sh" "$leader" "$COOP" node label h5 "maj$k=1"
		[ "$status" -eq 0 ] || problems+=("write maj$k on the majority side ($leader): status $status: $output")
	done
	run timeout -k 1 10 "$SIM/run.sh" h4 "$COOP" node label h4 maj=1
	[ "$status" -eq 0 ] || problems+=("write on the agent h4 (majority side): status $status: $output")
	report "while $v is isolated: $leader: $(members "$leader"); $v: $(members "$v")"
	t0=$(now_us)
	"$SIM/fault.sh" heal "$v"
	rm -f "$CL_DIR/restore"
	# converged: same leader, term, index and labels on $v as on a majority node
	same() {
		local a b l
		l=$(live_voter "$v")
		a=$(cl_status "$l" | jq -c '{leader: .leader.name, term, index}') &&
			b=$(cl_status "$v" | jq -c '{leader: .leader.name, term, index}') || return 1
		echo "$l: $a  $v: $b"
		[ "$a" = "$b" ] && [ "$(echo "$a" | jq -r .leader)" != null ] || return 1
		a=$(cl_nodes "$l" | jq -c 'map({name, labels}) | sort_by(.name)')
		b=$(cl_nodes "$v" | jq -c 'map({name, labels}) | sort_by(.name)')
		[ "$a" = "$b" ] || { echo "labels differ: $l: $a  $v: $b"; return 1; }
	}
	cl_until 30 "$v converged with the majority" same
	took=$(secs_since "$t0")
	has_labels "$v" h5 '{"maj1":"1","maj5":"1"}' >/dev/null || fail "$v lacks the majority's writes: $(has_labels "$v" h5 '{"maj1":"1","maj5":"1"}')"
	report "after the heal $v converged in $took s: $(members "$v")"
	cl_until 10 "3 ready voters" voters_ready "$v" 3
	[ "${#problems[@]}" -eq 0 ] || fail "$(printf '\n  %s' "${problems[@]}")"
}

# no_tasks hI WORKLOAD: hI's `coop tasks WORKLOAD` lists none (what it lists otherwise)
no_tasks() {
	local j
	j=$(cl_tasks "$1" "$2") || { echo "$j"; return 1; }
	echo "$j" | jq -c '[.[] | {id, node, desired, observed}]'
	echo "$j" | jq -e 'length == 0' >/dev/null
}
# no_container hI WORKLOAD: hI runs no container of WORKLOAD
no_container() {
	local ids
	ids=$(local_running "$1" "$2")
	echo "$ids"
	[ -z "$ids" ]
}

@test "faults: a deleted workload's task on an unreachable node leaves the model (garbage collection); the node stops its container once back" {
	local leader t0 took
	leader=$(leader_now) || fail "no leader: $(members h1)"
	bun "$CL_DIR/gcw.bun" gcw 1 'placement:
  constraints: ["node.name==h5"]'
	run coop_on h1 run -d "$CL_DIR/gcw.bun"
	[ "$status" -eq 0 ] || fail "coop run -d gcw: $output"
	cl_until 20 "gcw.0 running" tasks_up "$leader" gcw 1
	[ -n "$(local_running h5 gcw)" ] || fail "h5 runs no container of gcw: $(coop_on h5 ps -a)"
	echo h5 >"$CL_DIR/restore"
	"$SIM/fault.sh" isolate h5
	cl_until 5 "h5 down (as $leader sees it)" node_is "$leader" h5 down
	run coop_on h1 workload rm gcw
	[ "$status" -eq 0 ] || fail "coop workload rm gcw: $output"
	t0=$(now_us)
	# h5 cannot report the task stopped: only the leader's sweep removes it
	cl_until 10 "gcw's task removed while h5 is unreachable" no_tasks "$leader" gcw
	took=$(secs_since "$t0")
	report "gcw.0 (stopped, on the unreachable h5) left the model $took s after workload rm"
	"$SIM/fault.sh" heal h5
	rm -f "$CL_DIR/restore"
	cl_until 10 "h5 ready again" node_is "$leader" h5 ready
	cl_until 10 "h5 stopped its container of gcw" no_container h5 gcw
}

@test "faults: coop events -f sees every change exactly once, in order, across a restart of its node's daemon" {
	local e=h4 w writer_pid ev_pid since n=24 i last
	w=$(live_voter) || fail "no server"
	since=$(coop_on "$e" events -o json | tail -n 1 | jq .seq)
	[[ "$since" =~ ^[0-9]+$ ]] || fail "no last seq from coop events on $e: $since"
	# (exec: $! is `coop events` itself; fd 3 closed so bats does not wait for it)
	(exec "$SIM/run.sh" "$e" "$COOP" events -f -o json --since "$since") </dev/null \
		>"$CL_DIR/events.out" 2>"$CL_DIR/events.err" 3>&- &
	ev_pid=$!
	echo "$ev_pid" >>"$CL_DIR/bgpids"
	: >"$CL_DIR/acked"
	# the writes, on $w, every 0.1 s
	(
		for i in $(seq 1 "$n"); do
			if timeout -k 1 10 "$SIM/run.sh" "$w" "$COOP" node label h5 "ev=$i" >/dev/null 2>>"$CL_DIR/writes.err"; then
				echo "$i" >>"$CL_DIR/acked"
			fi
			sleep 0.1
		done
	) </dev/null >/dev/null 2>&1 3>&- &
	writer_pid=$!
	cl_until 10 "5 writes acknowledged" bash -c "cat '$CL_DIR/acked' | tr '\n' ' '; [ \$(wc -l <'$CL_DIR/acked') -ge 5 ]"
	cl_until 5 "the events of the first writes in the output" bash -c "jq -c '[.seq, .action, .object.name]' '$CL_DIR/events.out' | tail -3; grep -q '\"ev\":\"3\"' '$CL_DIR/events.out'"
	local t0
	t0=$(now_us)
	cl_stop "$e"
	report "$e's daemon stopped (SIGTERM) after $(secs_since "$t0") s, with $(wc -l <"$CL_DIR/acked") writes acknowledged"
	cl_daemon "$e"
	report "$e's daemon answers again $(secs_since "$t0") s after the SIGTERM; $(wc -l <"$CL_DIR/acked") writes acknowledged"
	wait "$writer_pid"
	local acked
	acked=$(tr '\n' ' ' <"$CL_DIR/acked")
	report "acknowledged writes: $(wc -l <"$CL_DIR/acked") of $n${CL_DIR:+; write errors: $(sort -u "$CL_DIR/writes.err" 2>/dev/null | head -3 | tr '\n' ' ')}"
	last=$(tail -n 1 "$CL_DIR/acked")
	[ -n "$last" ] || fail "no write acknowledged"
	cl_until 20 "the event of the last write (ev=$last) in $e's coop events -f" bash -c "
		jq -c '[.seq, .action, .object.name, .object.labels.ev]' '$CL_DIR/events.out' | tail -3
		cat '$CL_DIR/events.err'
		jq -e 'select(.action == \"label\" and .object.name == \"h5\" and .object.labels.ev == \"$last\")' '$CL_DIR/events.out' >/dev/null"
	sleep 0.5 # anything printed twice after the last one would show by now
	kill "$ev_pid" 2>/dev/null
	wait "$ev_pid" 2>/dev/null || true
	report "coop events said on stderr: $(tr '\n' ' ' <"$CL_DIR/events.err")"
	local out="$CL_DIR/events.out"
	jq -e . "$out" >/dev/null || fail "not one JSON object per line: $(head -c 2000 "$out")"
	# seqs: strictly increasing and without a gap from $since + 1
	local seqs
	seqs=$(jq -r .seq "$out" | tr '\n' ' ')
	jq -se --argjson s "$since" '[.[].seq] as $q | $q == [range($s + 1; $s + 1 + ($q | length))]' "$out" >/dev/null ||
		fail "seqs after $since are not $((since + 1)), $((since + 2)), ... once each: $seqs"
	# the same events, in the same order, as a node that was not restarted keeps
	local ref lastseq
	lastseq=$(tail -n 1 "$out" | jq .seq)
	ref=$(coop_on "$w" events -o json --since "$since" | jq -c "select(.seq <= $lastseq)" | jq -sc .)
	[ "$(jq -sc . "$out")" = "$ref" ] || fail "$e's stream differs from $w's events:
  $e: $(jq -c '[.seq, .type, .action, .object.name]' "$out" | tr '\n' ' ')
  $w: $(echo "$ref" | jq -c '.[] | [.seq, .type, .action, .object.name]' | tr '\n' ' ')"
	# each acknowledged write exactly once, in the order written; the others at most once
	local evs
	evs=$(jq -r 'select(.type == "node" and .action == "label" and .object.name == "h5" and .object.labels.ev != null) | .object.labels.ev' "$out" | tr '\n' ' ')
	echo "ev values in the stream: $evs"
	for i in $acked; do
		[ "$(jq -r 'select(.type == "node" and .action == "label" and .object.name == "h5") | .object.labels.ev' "$out" | grep -cx "$i")" -eq 1 ] ||
			fail "the event of write ev=$i is not in the stream exactly once: $evs"
	done
	[ "$(echo "$evs" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')" = "$evs" ] || fail "the writes' events are out of order: $evs"
	[ "$(echo "$evs" | tr ' ' '\n' | grep . | sort -u | wc -l)" -eq "$(echo "$evs" | wc -w)" ] || fail "an event twice: $evs"
	rm -f "$CL_DIR/bgpids"
	report "events: $(wc -l <"$out") lines, seq $((since + 1))..$lastseq, the $(echo "$acked" | wc -w) writes once each"
}
