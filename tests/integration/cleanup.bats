#!/usr/bin/env bats
# After kill + delete nothing is left: state, mounts, cgroups, processes. The common
# teardown checks the same after every test; here it is the subject of the test.

load helpers

# assert_gone ID PIDS...: no trace of container ID and none of PIDS alive.
assert_gone() {
	local id=$1 p
	shift
	run rt state "$id"
	[ "$status" -ne 0 ]
	[ ! -e "$STATE_ROOT/$id" ]
	[ -z "$(cg_dirs "$id")" ] || fail "cgroups left: $(cg_dirs "$id")"
	[ -z "$(our_mounts)" ] || fail "mounts left: $(our_mounts)"
	for p; do
		wait_for 5 eval "[ ! -e /proc/$p ] || grep -q '^State:.*Z' /proc/$p/status" ||
			fail "process $p left"
	done
	[ -z "$(leaked_pids)" ] || fail "processes left: $(leaked_pids)"
}

container_pids() { rt ps -f json "$1" | jq -r '.[]'; }

@test "kill + delete of a container with children leaves nothing" {
	new_container
	cfg '.mounts += [{"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"}]'
	mkdir -p "$BUNDLE/rootfs/mnt"
	sh_args 'sleep 100 & sleep 101 & sh -c "sleep 102 & wait" & exec sleep 103'
	run_detached
	wait_for 5 eval '[ "$(container_pids "$CID" | wc -l)" -ge 5 ]'
	pids=$(container_pids "$CID")
	[ "$(cg_dirs "$CID" | wc -l)" -ge 5 ]
	rt kill "$CID" KILL
	wait_status "$CID" stopped
	rt delete "$CID"
	assert_gone "$CID" $pids
}

@test "delete --force without a pid namespace kills every process" {
	new_container
	cfg '.linux.namespaces |= map(select(.type != "pid"))'
	sh_args 'sleep 100 & sleep 101 & exec sleep 102'
	run_detached
	wait_for 5 eval '[ "$(container_pids "$CID" | wc -l)" -eq 3 ]'
	pids=$(container_pids "$CID")
	rt delete --force "$CID"
	assert_gone "$CID" $pids
}

@test "a foreground run cleans up after itself" {
	new_container
	sh_args 'sleep 0.2 & echo $$'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	assert_gone "$CID"
}

@test "a created, never started container is removed by delete --force" {
	new_container
	set_args sleep 100
	create_container
	pid=$(state_of "$CID" pid)
	rt delete --force "$CID"
	assert_gone "$CID" "$pid"
}

@test "a container whose process exited is removed by delete" {
	new_container
	set_args true
	run_detached
	wait_status "$CID" stopped
	rt delete "$CID"
	assert_gone "$CID"
}

@test "ten containers at once, then all deleted" {
	ids=()
	for i in $(seq 10); do
		new_container "n$i"
		set_args sleep 100
		run_detached
		ids+=("$CID")
	done
	[ "$(rt list -q | wc -l)" -eq 10 ]
	for id in "${ids[@]}"; do rt delete --force "$id"; done
	[ "$(rt list -q | wc -l)" -eq 0 ]
	for id in "${ids[@]}"; do assert_gone "$id"; done
}
