#!/usr/bin/env bats
# The per-container monitor (`coop monitor`, the conmon role) run directly against a
# prepared container directory: an image imported into a private store, a container
# record written by hand (as the daemon writes it). The container runs from the image,
# its output lands in log.json as timestamped JSON lines per stream, rotated at the
# size limit; exit.json records how it ended; the rootfs, runtime state and cgroup are
# gone afterwards.

load helpers

COOP=${COOP:-$BUILD_DIR/coop}
CGROUP_PARENT=coop

setup_file() {
	build_cache || return 1
	local d=$BATS_FILE_TMPDIR
	tar -C "$CACHE/rootfs" -cf "$d/rootfs.tar" . &&
		"$COOP" image --store "$d/store" import --rootfs --name agenttest:1 "$d/rootfs.tar" >/dev/null
}

setup() {
	common_setup
	STATE=$BATS_TEST_TMPDIR/var
	RUN=$BATS_TEST_TMPDIR/run
	STATE_ROOT=$RUN/runtime
	mkdir -p "$STATE/containers" "$STATE_ROOT"
	MON_PIDS=()
}

teardown() {
	local p
	for p in "${MON_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "$STATE"/containers/*/bundle/rootfs; do
		mountpoint -q "$p" 2>/dev/null && { echo "LEAK: rootfs still mounted: $p" >&2; umount -l "$p"; return 1; }
	done
	common_teardown
}

teardown_file() { common_teardown_file; }

# new_record ID SPEC-JSON: the container record the daemon would write.
new_record() {
	CID=$1
	CONTAINERS+=("$CID")
	DIR=$STATE/containers/$CID
	mkdir -p "$DIR"
	jq -n --arg id "$CID" --argjson spec "$2" \
		'{id: $id, name: "web-1", workload: "web", replica: 1, image: $spec.image, spec: $spec}' \
		>"$DIR/config.json"
}

monitor() { "$COOP" monitor "$CID" --state "$STATE" --run "$RUN" --store "$BATS_FILE_TMPDIR/store" "$@"; }

# wait_file FILE
wait_file() { wait_for 10 test -e "$1" || fail "$1 never appeared"; }

spec() { jq -nc --argjson cmd "$(json_array "$@")" '{name: "web", image: "agenttest:1", command: $cmd}'; }

@test "monitor: the container runs; logs carry time and stream; exit.json; nothing left" {
	new_record c0ffee000001 "$(spec sh -c 'echo hello; echo oops >&2; printf tail; exit 3')"
	run monitor
	[ "$status" -eq 0 ] || fail "monitor: $output"
	# (the order between the two streams is the order the monitor read its pipes in)
	run jq -c '{s, l, p}' "$DIR/log.json"
	[ "$(grep stdout <<<"$output")" = '{"s":"stdout","l":"hello","p":null}
{"s":"stdout","l":"tail","p":true}' ] || fail "log: $output"
	[ "$(grep stderr <<<"$output")" = '{"s":"stderr","l":"oops","p":null}' ] || fail "log: $output"
	jq -e 'all(.t | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{9}Z$"))' -s "$DIR/log.json" >/dev/null ||
		fail "timestamps: $(cat "$DIR/log.json")"
	run jq -c '[.exit_code, .signal, .oom_killed, (.finished_at | length > 0)]' "$DIR/exit.json"
	[ "$output" = '[3,0,false,true]' ] || fail "exit.json: $output"
	jq -e '.pid > 0' "$DIR/started.json" >/dev/null || fail "started.json: $(cat "$DIR/started.json")"
	run jq -r '.hostname, .linux.cgroupsPath, .annotations["coop.workload"]' "$DIR/bundle/config.json"
	[ "$output" = "web-1
/coop/$CID
web" ] || fail "config: $output"
	! mountpoint -q "$DIR/bundle/rootfs" || fail "rootfs still mounted"
	[ -z "$(state_entries)" ] || fail "runtime state left: $(state_entries)"
}

@test "monitor: SIGTERM reaches the container; a signal death is recorded" {
	new_record c0ffee000002 "$(spec sh -c 'trap "echo got-term; exit 7" TERM; echo up; while :; do sleep 0.1; done')"
	monitor </dev/null >/dev/null 2>&1 &
	MON_PIDS+=($!)
	wait_file "$DIR/started.json"
	wait_for 5 grep -q up "$DIR/log.json" || fail "no output: $(cat "$DIR/log.json")"
	run jq -r .pid "$DIR/monitor.pid" 2>/dev/null
	read -r mpid _ <"$DIR/monitor.pid"
	# its own session: a test's (or daemon's) process group kill does not reach it
	[ "$(ps -o sid= -p "$mpid" | tr -d ' ')" = "$mpid" ] || fail "monitor not a session leader"
	kill -TERM "$mpid"
	wait_file "$DIR/exit.json"
	wait_for 5 sh -c "! kill -0 $mpid 2>/dev/null" || fail "monitor still running"
	run jq -c '[.exit_code, .signal]' "$DIR/exit.json"
	[ "$output" = '[7,0]' ] || fail "exit.json: $output"
	grep -q got-term "$DIR/log.json" || fail "log: $(cat "$DIR/log.json")"

	# SIGKILL of the init: exit code 137, signal 9
	new_record c0ffee000003 "$(spec sh -c 'echo up; while :; do sleep 0.1; done')"
	monitor </dev/null >/dev/null 2>&1 &
	MON_PIDS+=($!)
	wait_file "$DIR/started.json"
	rt kill "$CID" KILL
	wait_file "$DIR/exit.json"
	run jq -c '[.exit_code, .signal]' "$DIR/exit.json"
	[ "$output" = '[137,9]' ] || fail "exit.json: $output"
	wait_for 5 sh -c "[ -z \"\$(ls '$STATE_ROOT')\" ]" || fail "runtime state left"
}

@test "monitor: logs rotate at the limit, three files kept, no line lost or torn" {
	new_record c0ffee000004 "$(spec sh -c 'i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done')"
	run monitor --log-max 4000
	[ "$status" -eq 0 ] || fail "monitor: $output"
	[ -e "$DIR/log.json.1" ] && [ -e "$DIR/log.json.2" ] || fail "not rotated: $(ls "$DIR")"
	[ ! -e "$DIR/log.json.3" ] || fail "more than 3 files"
	for f in "$DIR"/log.json*; do
		[ "$(stat -c %s "$f")" -le 4000 ] || fail "$f is over the limit"
	done
	# what is kept is the newest output, contiguous, ending with the last line
	run sh -c "cat '$DIR/log.json.2' '$DIR/log.json.1' '$DIR/log.json' | jq -r .l"
	[ "${lines[-1]}" = line-399 ] || fail "last: ${lines[-1]}"
	first=${lines[0]#line-}
	[ "${#lines[@]}" -eq $((400 - first)) ] || fail "lines lost: ${#lines[@]} from $first"
}

@test "monitor: a container that cannot start leaves exit.json with the error and nothing else" {
	new_record c0ffee000005 '{"name":"web","image":"agenttest:1","command":["true"],"user":"nosuchuser"}'
	run monitor
	[ "$status" -ne 0 ] || fail "monitor succeeded"
	run jq -r '.exit_code, .error' "$DIR/exit.json"
	[ "${lines[0]}" = -1 ] || fail "exit.json: $output"
	[[ "${lines[1]}" == *nosuchuser* ]] || fail "error: $output"
	! mountpoint -q "$DIR/bundle/rootfs" || fail "rootfs still mounted"

	new_record c0ffee000006 '{"name":"web","image":"no/such:image"}'
	run monitor
	[ "$status" -ne 0 ] || fail "monitor succeeded"
	[[ "$(jq -r .error "$DIR/exit.json")" == *"no/such:image"*"not found"* ]] ||
		fail "error: $(cat "$DIR/exit.json")"
}

@test "monitor: named volumes are created and bind-mounted, resources reach the cgroup" {
	spec=$(jq -nc '{name: "web", image: "agenttest:1",
		command: ["sh", "-c", "echo data >/v/f; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"],
		volumes: [{source: "vol1", target: "/v", mode: "rw", named: true}],
		resources: {memory_limit: 67108864}}')
	new_record c0ffee000007 "$spec"
	run monitor
	[ "$status" -eq 0 ] || fail "monitor: $output"
	[ "$(cat "$STATE/volumes/vol1/f")" = data ] || fail "volume: $(ls -la "$STATE/volumes/vol1")"
	[ "$(jq -r .l "$DIR/log.json")" = 67108864 ] || fail "log: $(cat "$DIR/log.json")"
	jq -e '.exit_code == 0' "$DIR/exit.json" >/dev/null || fail "exit: $(cat "$DIR/exit.json")"
}
