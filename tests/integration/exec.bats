#!/usr/bin/env bats
# exec: a new process inside a running container, in all its namespaces and cgroup,
# with its own cwd/env/user, detached or not, and its exit code passed back.

load helpers

setup() {
	common_setup
	new_container
	cfg '.linux.namespaces += [{"type": "cgroup"}] | .linux.namespaces |= unique_by(.type)'
	set_args sleep 100
	run_detached
	PID1=$(state_of "$CID" pid)
}

@test "exec joins every namespace of the container" {
	rt exec -d --pid-file "$BUNDLE/exec.pid" "$CID" sleep 50 </dev/null >/dev/null 2>&1 3>&-
	epid=$(cat "$BUNDLE/exec.pid")
	[ "$epid" -gt 0 ]
	[ "$epid" != "$PID1" ]
	n=0
	for ns in pid net ipc uts mnt cgroup user; do
		[ -e "/proc/$PID1/ns/$ns" ] || continue
		[ "$(readlink "/proc/$epid/ns/$ns")" = "$(readlink "/proc/$PID1/ns/$ns")" ]
		n=$((n + 1))
	done
	[ "$n" -ge 6 ]
	# and not the host's
	[ "$(readlink "/proc/$epid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]
	[ "$(readlink "/proc/$epid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]
}

@test "exec joins the container's cgroup" {
	rt exec -d --pid-file "$BUNDLE/exec.pid" "$CID" sleep 50 </dev/null >/dev/null 2>&1 3>&-
	epid=$(cat "$BUNDLE/exec.pid")
	diff <(sort "/proc/$PID1/cgroup") <(sort "/proc/$epid/cgroup")
	grep -q ":pids:/$CGROUP_PARENT/$CID\$" "/proc/$epid/cgroup"
	grep -qx "$epid" "/sys/fs/cgroup/pids/$CGROUP_PARENT/$CID/cgroup.procs"
	# seen from inside, too
	in_container "$CID" sh -c 'diff /proc/1/cgroup /proc/self/cgroup && echo same'
	[ "$status" -eq 0 ]
	[ "$output" = same ]
}

@test "exec output and exit code reach the caller" {
	in_container "$CID" sh -c 'echo from-exec; exit 7'
	[ "$status" -eq 7 ]
	[ "$output" = from-exec ]
	in_container "$CID" sh -c 'echo $$'
	[ "$status" -eq 0 ]
	[ "$output" -gt 1 ]
}

@test "exec --cwd, --env and --user" {
	in_container --cwd /tmp --env FOO=bar --env X=1 --user 1000:1001 "$CID" \
		sh -c 'pwd; echo "$FOO $X"; id -u; id -g'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = /tmp ]
	[ "${lines[1]}" = "bar 1" ]
	[ "${lines[2]}" = 1000 ]
	[ "${lines[3]}" = 1001 ]
}

@test "exec --process runs the process described in a file" {
	jq -n '{terminal: false, user: {uid: 0, gid: 0}, cwd: "/etc",
	        env: ["PATH=/bin:/usr/bin", "WHO=procfile"],
	        args: ["sh", "-c", "pwd; echo $WHO; exit 3"]}' >"$BUNDLE/process.json"
	in_container --process "$BUNDLE/process.json" "$CID"
	[ "$status" -eq 3 ]
	[ "${lines[0]}" = /etc ]
	[ "${lines[1]}" = procfile ]
}

@test "exec -d returns at once and the process keeps running" {
	start=$(date +%s%N)
	rt exec -d --pid-file "$BUNDLE/exec.pid" "$CID" sh -c 'sleep 2; echo done >/tmp/marker' \
		</dev/null >/dev/null 2>&1 3>&-
	[ $((($(date +%s%N) - start) / 1000000)) -lt 1500 ]
	epid=$(cat "$BUNDLE/exec.pid")
	[ -d "/proc/$epid" ]
	wait_for 10 test -e "$BUNDLE/rootfs/tmp/marker"
	[ "$(cat "$BUNDLE/rootfs/tmp/marker")" = done ]
}

@test "exec --cap adds a capability to the exec'd process only" {
	in_container --cap CAP_SYS_ADMIN "$CID" grep CapEff /proc/self/status
	[ "$status" -eq 0 ]
	with=$(echo "$output" | awk '{print $2}')
	[ $((0x$with & (1 << 21))) -ne 0 ]
	[ $((0x$(awk '/^CapEff/ {print $2}' "/proc/$PID1/status") & (1 << 21))) -eq 0 ]
}

@test "exec of a missing binary fails, exec into a stopped container fails" {
	in_container "$CID" /no/such/binary
	[ "$status" -ne 0 ]
	[ "$(state_of "$CID" status)" = running ]
	rt kill "$CID" KILL
	wait_status "$CID" stopped
	in_container "$CID" true
	[ "$status" -ne 0 ]
}
