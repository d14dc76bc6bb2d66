#!/usr/bin/env bats
# Container lifecycle through the CLI: create/start/state/kill/delete, run (foreground
# and detached), list, ps, pid files, and the errors of misuse.

load helpers

@test "create, start, kill, delete walk through the states" {
	new_container
	set_args sleep 100
	create_container
	[ "$(state_of "$CID" status)" = created ]
	pid=$(state_of "$CID" pid)
	[ "$pid" -gt 0 ]
	[ -d "/proc/$pid" ]
	rt start "$CID"
	wait_status "$CID" running
	[ "$(state_of "$CID" pid)" = "$pid" ]
	rt kill "$CID" KILL
	wait_status "$CID" stopped
	rt delete "$CID"
	run rt state "$CID"
	[ "$status" -ne 0 ]
	wait_for 5 eval '[ ! -e /proc/$pid ] || grep -q "^State:.*Z" /proc/$pid/status'
}

@test "state JSON has ociVersion, id, status, pid and bundle" {
	new_container
	set_args sleep 100
	create_container
	run rt state "$CID"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e --arg id "$CID" --arg b "$BUNDLE" '
		(.ociVersion | test("^1\\.")) and .id == $id and .status == "created"
		and (.pid | type == "number" and . > 0) and .bundle == $b'
}

@test "run in the foreground returns the process exit code" {
	new_container
	sh_args 'echo hello; exit 42'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 42 ]
	[ "${lines[0]}" = hello ]
	run rt state "$CID"
	[ "$status" -ne 0 ]
}

@test "run in the foreground: death by signal exits 128+N" {
	new_container
	# no pid namespace: a shell that is PID 1 ignores the signals it does not handle
	cfg '.linux.namespaces |= map(select(.type != "pid"))'
	sh_args 'kill -TERM $$; sleep 5'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 143 ]
}

@test "run in the foreground: killed from outside exits 137" {
	new_container
	set_args sleep 100
	rt run --bundle "$BUNDLE" "$CID" </dev/null >"$BUNDLE/out" 2>&1 3>&- &
	runpid=$!
	BG_PIDS+=("$runpid")
	wait_status "$CID" running
	rt kill "$CID" KILL
	rc=0
	wait "$runpid" || rc=$?
	[ "$rc" -eq 137 ]
}

@test "run -d leaves a running container" {
	new_container
	sh_args 'echo started; exec sleep 100'
	run_detached
	[ "$(state_of "$CID" status)" = running ]
	wait_for 5 grep -q started "$BUNDLE/out"
	rt kill "$CID" KILL
	wait_status "$CID" stopped
	rt delete "$CID"
}

@test "list shows containers as a table and as JSON; -q shows ids" {
	new_container a
	set_args sleep 100
	run_detached
	a=$CID
	new_container b
	set_args sleep 100
	create_container
	b=$CID
	run rt list
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == ID* ]]
	echo "$output" | grep -E "^$a +[0-9]+ +running"
	echo "$output" | grep -E "^$b +[0-9]+ +created"
	run rt list -f json
	[ "$status" -eq 0 ]
	echo "$output" | jq -e --arg a "$a" --arg b "$b" '
		length == 2 and (map({(.id): .status}) | add) == {($a): "running", ($b): "created"}'
	run rt list -q
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "${lines[@]}" | sort | tr '\n' ' ')" = "$(printf '%s\n' "$a" "$b" | sort | tr '\n' ' ')" ]
}

@test "list of an empty root is empty JSON" {
	run rt list -f json
	[ "$status" -eq 0 ]
	echo "$output" | jq -e 'length == 0'
}

@test "ps lists the container's processes" {
	new_container
	sh_args 'sleep 100 & exec sleep 101'
	run_detached
	pid=$(state_of "$CID" pid)
	wait_for 5 eval '[ "$(rt ps -f json "$CID" | jq length)" -eq 2 ]'
	run rt ps -f json "$CID"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e --argjson p "$pid" 'index($p) != null'
	run rt ps "$CID"
	[ "$status" -eq 0 ]
	echo "$output" | grep -E "^[^ ]+ +$pid .*sleep 101"
}

@test "delete of a running container fails without --force" {
	new_container
	set_args sleep 100
	run_detached
	run rt delete "$CID"
	[ "$status" -ne 0 ]
	[ "$(state_of "$CID" status)" = running ]
	pid=$(state_of "$CID" pid)
	rt delete --force "$CID"
	run rt state "$CID"
	[ "$status" -ne 0 ]
	wait_for 5 eval '[ ! -e /proc/$pid ]'
}

@test "delete of a created container fails without --force, --force removes it" {
	is_runc && skip "runc deletes a created container without --force"
	new_container
	set_args sleep 100
	create_container
	run rt delete "$CID"
	[ "$status" -ne 0 ]
	rt delete --force "$CID"
	run rt state "$CID"
	[ "$status" -ne 0 ]
}

@test "a duplicate id is refused and the first container is untouched" {
	new_container
	set_args sleep 100
	run_detached
	pid=$(state_of "$CID" pid)
	run rt run -d --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -ne 0 ]
	run rt create --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -ne 0 ]
	[ "$(state_of "$CID" status)" = running ]
	[ "$(state_of "$CID" pid)" = "$pid" ]
}

@test "kill by name, by SIG-name and by number" {
	new_container
	# the shell reports which signal arrived, then exits
	sh_args 'trap "echo got USR1" USR1; trap "echo got HUP" HUP; trap "echo got TERM; exit 0" TERM;
		echo ready; while :; do sleep 0.1; done'
	run_detached
	wait_for 5 grep -q ready "$BUNDLE/out"
	rt kill "$CID" USR1
	wait_for 5 grep -q "got USR1" "$BUNDLE/out"
	rt kill "$CID" SIGHUP
	wait_for 5 grep -q "got HUP" "$BUNDLE/out"
	rt kill "$CID" 15
	wait_for 5 grep -q "got TERM" "$BUNDLE/out"
	wait_status "$CID" stopped
}

@test "kill with an unknown signal fails and the container keeps running" {
	new_container
	set_args sleep 100
	run_detached
	run rt kill "$CID" SIGNOPE
	[ "$status" -ne 0 ]
	run rt kill "$CID" 99999
	[ "$status" -ne 0 ]
	[ "$(state_of "$CID" status)" = running ]
}

@test "kill --all signals every process of the container" {
	new_container
	cfg '.linux.namespaces |= map(select(.type != "pid"))'
	sh_args 'sleep 100 & exec sleep 101'
	run_detached
	wait_for 5 eval '[ "$(rt ps -f json "$CID" | jq length)" -eq 2 ]'
	pids=$(rt ps -f json "$CID" | jq -r '.[]')
	rt kill --all "$CID" KILL
	wait_status "$CID" stopped
	for p in $pids; do wait_for 5 eval '[ ! -e /proc/$p ] || grep -q "^State:.*Z" /proc/$p/status'; done
}

@test "create and run write the pid file" {
	new_container
	set_args sleep 100
	create_container --pid-file "$BUNDLE/pid"
	[ "$(cat "$BUNDLE/pid")" = "$(state_of "$CID" pid)" ]
	new_container b
	set_args sleep 100
	run_detached --pid-file "$BATS_TEST_TMPDIR/b.pid"
	[ "$(cat "$BATS_TEST_TMPDIR/b.pid")" = "$(state_of "$CID" pid)" ]
	[ -d "/proc/$(cat "$BATS_TEST_TMPDIR/b.pid")" ]
}

@test "start of a running container and state of an unknown one fail" {
	new_container
	set_args sleep 100
	run_detached
	run rt start "$CID"
	[ "$status" -ne 0 ]
	run rt state cooptest-nonexistent-$$
	[ "$status" -ne 0 ]
}

@test "the container's stdout and exit code reach the caller with run" {
	new_container
	sh_args 'echo out; echo err >&2; exit 3'
	run --separate-stderr rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 3 ]
	[ "$output" = out ]
	[ "$stderr" = err ]
}
