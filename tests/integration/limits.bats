#!/usr/bin/env bats
# Resource limits from linux.resources, checked by their effect: OOM kill, fork
# failure, CPU throttling; and `update` changing them on a running container.

load helpers

# cg CONTROLLER: the container's cgroup directory in a v1 hierarchy.
cg() { echo "/sys/fs/cgroup/$1/$CGROUP_PARENT/$CID"; }

# a shell that grows without bound: the command substitution is held in sh itself
HOG='x=$(head -c 400000000 /dev/zero | tr "\0" a); echo survived ${#x}'

@test "memory limit: a process that exceeds it is OOM-killed (exit 137)" {
	new_container
	cfg '.linux.resources.memory = {"limit": 33554432, "swap": 33554432}'
	sh_args "$HOG"
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 137 ]
	[[ "$output" != *survived* ]]
}

@test "memory limit: the cgroup records the OOM kill" {
	new_container
	cfg '.linux.resources.memory = {"limit": 33554432, "swap": 33554432}'
	# the hog runs in a child that makes itself the OOM killer's first choice (CI once
	# saw the killer take PID 1 too: oom_kill 2, the container stopped); PID 1 survives
	# and waits so the cgroup can be read
	sh_args "sh -c 'echo 1000 >/proc/self/oom_score_adj; $HOG'; echo hog-exit \$?; exec sleep 100"
	run_detached
	[ "$(cat "$(cg memory)/memory.limit_in_bytes")" -eq 33554432 ]
	# generous: a loaded 2-core CI machine reclaims slowly before the memcg gives up
	wait_for 120 grep -q hog-exit "$BUNDLE/out" ||
		fail "hog still running: out=$(cat "$BUNDLE/out") oom=$(tr '\n' ' ' <"$(cg memory)/memory.oom_control") usage=$(cat "$(cg memory)/memory.usage_in_bytes") failcnt=$(cat "$(cg memory)/memory.failcnt") state=$(rt state "$CID" 2>&1 | tr -d '\n') procs=$(cat "$(cg memory)/cgroup.procs" | tr '\n' ' ')"
	grep -q "hog-exit 137" "$BUNDLE/out" || fail "hog not OOM-killed: $(cat "$BUNDLE/out")"
	[ "$(awk '/^oom_kill / {print $2}' "$(cg memory)/memory.oom_control")" -ge 1 ]
	[ "$(state_of "$CID" status)" = running ]
}

@test "pids limit stops a fork bomb" {
	new_container
	cfg '.linux.resources.pids = {"limit": 10}'
	# ash gives up at the first failed fork: run the bomb in a child shell
	sh_args 'sh -c "i=0; while [ \$i -lt 30 ]; do sleep 100 & i=\$((i+1)); done" 2>&1; echo bomb-exit $?; exec sleep 100'
	run_detached
	wait_for 10 grep -q bomb-exit "$BUNDLE/out"
	cat "$BUNDLE/out"
	! grep -q "bomb-exit 0" "$BUNDLE/out"
	[ "$(cat "$(cg pids)/pids.max")" -eq 10 ]
	[ "$(cat "$(cg pids)/pids.current")" -le 10 ]
	grep -q "can't fork" "$BUNDLE/out"
	[ "$(grep -Eo '^max [0-9]+' "$(cg pids)/pids.events" | awk '{print $2}')" -ge 1 ]
}

@test "cpu quota throttles a busy loop" {
	new_container
	cfg '.linux.resources.cpu = {"quota": 10000, "period": 100000}'
	set_args sh -c 'while :; do :; done'
	run_detached
	cpu=$(cg cpu)
	[ "$(cat "$cpu/cpu.cfs_quota_us")" -eq 10000 ]
	acct=$(cg cpuacct)
	u0=$(cat "$acct/cpuacct.usage")
	sleep 1.5
	u1=$(cat "$acct/cpuacct.usage")
	grep nr_throttled "$cpu/cpu.stat"
	[ "$(awk '/^nr_throttled/ {print $2}' "$cpu/cpu.stat")" -gt 0 ]
	# 10% of one CPU over 1.5 s is 0.15 s; allow slack but not an unthrottled second
	echo "used $(((u1 - u0) / 1000000)) ms"
	[ $((u1 - u0)) -lt 500000000 ]
	[ $((u1 - u0)) -gt 0 ]
}

@test "cpu shares and cpuset reach the cgroup" {
	new_container
	cfg '.linux.resources.cpu = {"shares": 512, "cpus": "0", "mems": "0"}'
	set_args sleep 100
	run_detached
	[ "$(cat "$(cg cpu)/cpu.shares")" -eq 512 ]
	[ "$(cat "$(cg cpuset)/cpuset.cpus")" = 0 ]
	pid=$(state_of "$CID" pid)
	[ "$(taskset -p "$pid" | awk '{print $NF}')" = 1 ]
}

@test "update changes memory, pids and cpu limits of a running container" {
	new_container
	cfg '.linux.resources.memory = {"limit": 67108864} | .linux.resources.pids = {"limit": 50}'
	set_args sleep 100
	run_detached
	rt update --memory 50331648 --pids-limit 20 --cpu-quota 20000 --cpu-period 100000 "$CID"
	[ "$(cat "$(cg memory)/memory.limit_in_bytes")" -eq 50331648 ]
	[ "$(cat "$(cg pids)/pids.max")" -eq 20 ]
	[ "$(cat "$(cg cpu)/cpu.cfs_quota_us")" -eq 20000 ]
	echo '{"pids": {"limit": 7}}' >"$BUNDLE/res.json"
	rt update -r "$BUNDLE/res.json" "$CID"
	[ "$(cat "$(cg pids)/pids.max")" -eq 7 ]
}

is_stopped() { [ "$(state_of "$CID" status)" = stopped ]; }

@test "memory limit: an OOM-killed init shows as stopped with oomKilled in state" {
	is_runc && skip "oomKilled is coop's addition to the state"
	new_container
	cfg '.linux.resources.memory = {"limit": 33554432, "swap": 33554432}'
	sh_args "$HOG"
	run_detached
	wait_for 40 is_stopped
	[ "$(state_of "$CID" oomKilled)" = true ]
}
