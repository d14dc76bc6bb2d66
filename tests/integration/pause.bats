#!/usr/bin/env bats
# pause/resume: the freezer stops every process of the container and lets it go again.

load helpers

# The count is replaced by a rename, never rewritten in place: a reader (or a freeze)
# between the truncation and the write of `echo >` would see an empty file.
COUNTER='i=0; while :; do i=$((i+1)); echo $i >/tmp/count.new; mv /tmp/count.new /tmp/count; usleep 50000; done'

count() { cat "$BUNDLE/rootfs/tmp/count" 2>/dev/null; }
counting() { local a=$(count); sleep 0.3; [ "$(count)" != "$a" ]; }

@test "pause freezes the process, resume lets it go on" {
	new_container
	sh_args "$COUNTER"
	run_detached
	wait_for 5 counting
	rt pause "$CID"
	[ "$(state_of "$CID" status)" = paused ]
	[ "$(cat "/sys/fs/cgroup/freezer/$CGROUP_PARENT/$CID/freezer.state")" = FROZEN ]
	a=$(count)
	sleep 1
	[ "$(count)" = "$a" ]
	rt resume "$CID"
	[ "$(state_of "$CID" status)" = running ]
	wait_for 5 counting
	[ "$(count)" -gt "$a" ]
}

@test "pause freezes child processes too" {
	new_container
	sh_args "sh -c '$COUNTER' & exec sleep 100"
	run_detached
	wait_for 5 counting
	rt pause "$CID"
	a=$(count)
	sleep 1
	[ "$(count)" = "$a" ]
	rt resume "$CID"
	wait_for 5 counting
}

@test "pause of a stopped container and resume of a running one fail" {
	new_container
	set_args sleep 100
	run_detached
	run rt resume "$CID"
	[ "$status" -ne 0 ]
	[ "$(state_of "$CID" status)" = running ]
	rt kill "$CID" KILL
	wait_status "$CID" stopped
	run rt pause "$CID"
	[ "$status" -ne 0 ]
	[ "$(state_of "$CID" status)" = stopped ]
}

@test "a paused container can be force-deleted" {
	new_container
	sh_args "$COUNTER"
	run_detached
	pid=$(state_of "$CID" pid)
	rt pause "$CID"
	rt delete --force "$CID"
	run rt state "$CID"
	[ "$status" -ne 0 ]
	wait_for 5 eval '[ ! -e /proc/$pid ]'
}
