# daemon.bash — what the daemon suites share: where the coop binary is, and starting and
# stopping a real `coop daemon` with its --state/--run under the test's directory $D.

REPO=$(cd "$(dirname "$BATS_TEST_FILENAME")/../.." && pwd)
BUILD_DIR=${BUILD:-build}
[[ "$BUILD_DIR" == /* ]] || BUILD_DIR=$REPO/$BUILD_DIR
COOP=$BUILD_DIR/coop

start_daemon() {
	"$COOP" daemon --state "$D/state" --run "$D/run" "$@" >>"$D/daemon.log" 2>&1 &
	echo $! >"$D/daemon.pid"
	# `coop version` exits 0 without a daemon (a stale socket after kill -9): look for the
	# daemon's line
	for _ in $(seq 50); do
		[ -S "$D/run/coop.sock" ] && "$COOP" version 2>/dev/null | grep -q '^daemon version' &&
			return 0
		sleep 0.1
	done
	cat "$D/daemon.log" >&2
	return 1
}

# daemon_file_setup IMAGE: a suite's setup_file — $D under the file's temp dir, the
# busybox rootfs imported as IMAGE, the daemon started. Without a daemon in this coop it
# does nothing and leaves D unset (each test's setup skips then: bats 1.8 cannot skip in
# setup_file).
daemon_file_setup() {
	"$COOP" daemon --help >/dev/null 2>&1 || return 0
	export D=$BATS_FILE_TMPDIR/d
	mkdir -p "$D"
	export COOP_SOCKET=$D/run/coop.sock
	"$REPO/scripts/mkrootfs.sh" "$D/rootfs" >/dev/null
	tar -C "$D/rootfs" -cf "$D/rootfs.tar" .
	"$COOP" image --store "$D/state/images" import --rootfs --name "$1" "$D/rootfs.tar" >/dev/null
	start_daemon
}

stop_daemon() {
	local pid
	pid=$(cat "$D/daemon.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null && wait_gone "$pid"
	rm -f "$D/daemon.pid"
}

wait_gone() { for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }

# wait_until SECONDS CMD...: retry every 0.2 s.
wait_until() {
	local n=$(($1 * 5))
	shift
	until "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.2
	done
}

# status_of REF: the container's status (running, exited, ...); is_status REF STATUS
status_of() { "$COOP" inspect "$1" 2>/dev/null | jq -r '.[0].status'; }
is_status() { [ "$(status_of "$1")" = "$2" ]; }
