#!/usr/bin/env bats
# process.terminal with --console-socket: the runtime makes a pty and sends its master
# to the socket (tests/tools/recvtty.c), and the process gets the slave as its tty.

load helpers

# start_recvtty INPUT: listen on $SOCK in the background; its output goes to $TTY_OUT.
start_recvtty() {
	SOCK=$BATS_TEST_TMPDIR/tty.sock
	TTY_OUT=$BATS_TEST_TMPDIR/tty.out
	"$TOOLS/recvtty" "$SOCK" "$1" >"$TTY_OUT" 2>&1 </dev/null 3>&- &
	RECV_PID=$!
	BG_PIDS+=("$RECV_PID")
	wait_for 5 test -S "$SOCK"
}

# wait_recvtty: wait for recvtty (not under `run`: a subshell cannot wait for it);
# sets $status (0: it got a tty and the other side hung up) and $output.
wait_recvtty() {
	status=0
	wait "$RECV_PID" || status=$?
	output=$(tr -d '\r' <"$TTY_OUT")
	echo "$output"
}

INPUT='tty; echo marker-$((6*7)); stty size; exit
'

@test "create --console-socket hands the pty master to the socket" {
	new_container
	cfg '.process.terminal = true | .process.consoleSize = {"height": 33, "width": 99}'
	set_args sh
	start_recvtty "$INPUT"
	rt create --console-socket "$SOCK" --bundle "$BUNDLE" "$CID" </dev/null >"$BUNDLE/out" 2>&1 3>&-
	rt start "$CID"
	wait_recvtty
	[ "$status" -eq 0 ]
	echo "$output" | grep -qx '/dev/pts/[0-9]*'
	echo "$output" | grep -qx 'marker-42'
	echo "$output" | grep -qx '33 99'
	wait_status "$CID" stopped
}

@test "run -d --console-socket works too" {
	new_container
	cfg '.process.terminal = true'
	set_args sh
	start_recvtty "$INPUT"
	rt run -d --console-socket "$SOCK" --bundle "$BUNDLE" "$CID" </dev/null >"$BUNDLE/out" 2>&1 3>&-
	wait_recvtty
	[ "$status" -eq 0 ]
	echo "$output" | grep -qx 'marker-42'
}

@test "exec -t --console-socket gives the exec'd process its own tty" {
	new_container
	set_args sleep 100
	run_detached
	start_recvtty "$INPUT"
	rt exec -t -d --console-socket "$SOCK" "$CID" sh </dev/null >"$BUNDLE/out" 2>&1 3>&-
	wait_recvtty
	[ "$status" -eq 0 ]
	echo "$output" | grep -qx '/dev/pts/[0-9]*'
	echo "$output" | grep -qx 'marker-42'
}

@test "terminal without a console socket is refused for create" {
	new_container
	cfg '.process.terminal = true'
	set_args sh
	run rt create --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -ne 0 ]
	run rt state "$CID"
	[ "$status" -ne 0 ]
}
