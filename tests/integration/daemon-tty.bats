#!/usr/bin/env bats
# daemon-tty.bats — interactive exec through the daemon: `coop exec -it` driven through
# a pty (util-linux `script`), the process's terminal, exit code, resize and the local
# terminal restored; `-i` without a terminal; `-t` alone; the same over TCP+TLS with a
# token. `coop run -it` (the terminal held by the container's monitor, attach.sock),
# `coop attach` across a daemon restart, and the stop signal (the image's StopSignal,
# --stop-signal). A real daemon, set up as daemon.bats does.

bats_require_minimum_version 1.5.0

load daemon

# in_pty INPUT_SCRIPT COMMAND: runs COMMAND (a shell line) on a fresh pty of 20x70
# made by `script`; INPUT_SCRIPT (a shell line) writes the keystrokes. Output in
# $D/out, the command's exit status as script's.
in_pty() {
	command -v script >/dev/null || skip "util-linux script not installed"
	(eval "$1") | timeout 30 script -qec "stty rows 20 cols 70; $2" /dev/null >"$D/out"
}

setup() {
	[ -n "${D:-}" ] || skip "coop daemon not built"
}

setup_file() {
	daemon_file_setup coop-demo/httpd:1
	[ -n "${D:-}" ] || return 0
	"$COOP" run -d --image coop-demo/httpd:1 --name tty -- sleep 100000 >/dev/null
	for _ in $(seq 50); do
		[ "$("$COOP" inspect tty-1 2>/dev/null | jq -r '.[0].status')" = running ] && return 0
		sleep 0.2
	done
	return 1
}

teardown_file() {
	[ -n "${D:-}" ] || return 0
	"$COOP" ps -a -q 2>/dev/null | while read -r id; do "$COOP" rm -f "$id" >/dev/null 2>&1; done
	stop_daemon
	for f in "$D"/state/containers/*/monitor.pid; do
		[ -e "$f" ] && kill -9 "$(cut -d' ' -f1 "$f")" 2>/dev/null
	done
	grep -o " $D[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$D"
}

@test "exec -it: a terminal inside, output back, the exit code out" {
	run in_pty "sleep 1; printf 'tty; echo hi; exit 3\r'; sleep 1" "'$COOP' exec -it tty-1 sh"
	[ "$status" -eq 3 ]
	grep -q '^/dev/pts/[0-9]' "$D/out"
	grep -q '^hi' "$D/out"
	# the pty had our size from the start
	run in_pty "sleep 1; printf 'stty size; exit\r'; sleep 1" "'$COOP' exec -it tty-1 sh"
	[ "$status" -eq 0 ]
	grep -q '^20 70' "$D/out"
}

@test "exec -it: a resize of our terminal reaches the process" {
	# stty on our pty in the background resizes it; the kernel sends coop SIGWINCH
	run in_pty "sleep 1; printf 'stty size\r'; sleep 2; printf 'stty size; exit\r'; sleep 1" \
		"(sleep 2; stty rows 40 cols 120 </dev/tty) & '$COOP' exec -it tty-1 sh"
	[ "$status" -eq 0 ]
	grep -q '^20 70' "$D/out"
	grep -q '^40 120' "$D/out"
}

@test "exec -it: the local terminal is restored afterwards" {
	run in_pty "sleep 1; printf 'exit 0\r'; sleep 1" \
		"stty -a >'$D/before'; '$COOP' exec -it tty-1 sh; stty -a >'$D/after'"
	[ "$status" -eq 0 ]
	diff "$D/before" "$D/after"
	# and when coop is killed mid-session
	run in_pty "sleep 3" \
		"stty -a >'$D/before'; '$COOP' exec -it tty-1 sleep 100 & sleep 1; kill \$!; wait; stty -a >'$D/after'"
	diff "$D/before" "$D/after"
}

@test "exec -i: stdin is piped without a terminal" {
	run bash -c "echo hello | '$COOP' exec -i tty-1 cat"
	[ "$status" -eq 0 ]
	[ "$output" = hello ]
	run bash -c "seq 1 20000 | '$COOP' exec -i tty-1 wc -l"
	[ "$output" = 20000 ]
	run bash -c "'$COOP' exec -i tty-1 sh -c 'echo out; echo err >&2; exit 5' </dev/null 2>'$D/err'"
	[ "$status" -eq 5 ]
	[ "$output" = out ]
	[ "$(cat "$D/err")" = err ]
}

@test "exec -t: a terminal without our stdin" {
	run "$COOP" exec -t tty-1 sh -c 'tty; exit 4'
	[ "$status" -eq 4 ]
	[[ "$output" == /dev/pts/* ]]
	# processes that are gone before the daemon looks: the exit code still comes
	for _ in 1 2 3 4 5; do
		run "$COOP" exec -t tty-1 true
		[ "$status" -eq 0 ]
		run bash -c "'$COOP' exec -i tty-1 false </dev/null"
		[ "$status" -eq 1 ]
	done
}

@test "exec -it: errors are one line" {
	run bash -c "'$COOP' exec -i no-such cat </dev/null"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not found"* ]]
	run bash -c "echo x | '$COOP' exec -it tty-1 sh"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a terminal"* ]]
	# an upgrade is required for tty/stdin
	run curl -s --unix-socket "$COOP_SOCKET" -X POST -d '{"argv":["sh"],"tty":true}' http://coop/v1/containers/tty-1/exec
	[[ "$output" == *'"field":"tty"'* ]]
	run bash -c "'$COOP' run --image coop-demo/httpd:1 -i -- cat </dev/null"
	[ "$status" -eq 1 ]
	[[ "$output" == *"run -i without -t is not supported"* ]]
	run bash -c "echo x | '$COOP' run --image coop-demo/httpd:1 -it -- sh"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a terminal"* ]]
	# attach needs a container with a terminal
	run "$COOP" attach tty-1
	[ "$status" -eq 1 ]
	[[ "$output" == *"has no terminal"* ]]
	run curl -s --unix-socket "$COOP_SOCKET" -X POST http://coop/v1/containers/tty-1/attach
	[[ "$output" == *'Upgrade: tcp'* ]]
}

@test "run -it: a shell as the main process, its output, its exit code; --rm leaves nothing" {
	run in_pty "sleep 1.5; printf 'tty; echo hi; cat /proc/1/cmdline; echo; exit 3\r'; sleep 1.5" \
		"'$COOP' run -it --rm --name itrm --image coop-demo/httpd:1 -- sh"
	[ "$status" -eq 3 ]
	grep -q '^/ # ' "$D/out" # the first prompt, written before we attached
	grep -q '^/dev/pts/0' "$D/out"
	grep -q '^hi' "$D/out"
	grep -q '^sh' "$D/out" # pid 1 is the shell
	# --rm: no container, no workload, no directory left
	run "$COOP" inspect itrm-1
	[ "$status" -ne 0 ]
	! "$COOP" ps -a | grep -q itrm
	[ -z "$(grep -l '"itrm"' "$D"/state/containers/*/config.json 2>/dev/null)" ]
	# -t alone: a terminal, no keys; a quick process is followed through its log
	run "$COOP" run -t --rm --image coop-demo/httpd:1 -- sh -c 'sleep 0.5; tty; exit 4'
	[ "$status" -eq 4 ]
	[[ "$output" == /dev/pts/0* ]]
	run "$COOP" run -t --rm --image coop-demo/httpd:1 -- sh -c 'tty; exit 5'
	[ "$status" -eq 5 ]
	[[ "$output" == /dev/pts/0* ]]
}

@test "run -it: the size and its changes reach the container; the log keeps the output" {
	run in_pty "sleep 1.5; printf 'stty size\r'; sleep 2; printf 'stty size; exit\r'; sleep 1" \
		"(sleep 2.5; stty rows 40 cols 120 </dev/tty) & '$COOP' run -it --name itsz --image coop-demo/httpd:1 -- sh"
	[ "$status" -eq 0 ]
	grep -q '^20 70' "$D/out"
	grep -q '^40 120' "$D/out"
	run "$COOP" logs itsz-1
	[[ "$output" == *"40 120"* ]]
	"$COOP" rm itsz-1 >/dev/null
}

@test "run -dit, then attach: detach keys, a daemon restart, attach again, the exit code" {
	"$COOP" run -d -it --name box --image coop-demo/httpd:1 -- sh >/dev/null
	for _ in $(seq 50); do
		[ "$("$COOP" inspect box-1 2>/dev/null | jq -r '.[0].status')" = running ] && break
		sleep 0.1
	done
	local dir
	dir=$(dirname "$(grep -l '"box-1"' "$D"/state/containers/*/config.json)")
	[ "$(stat -c %a "$dir/attach.sock")" = 600 ]
	# Ctrl-P Ctrl-Q leaves it running
	run in_pty "sleep 1; printf 'echo first\r'; sleep 1; printf '\020\021'; sleep 1" "'$COOP' attach box-1"
	[ "$status" -eq 0 ]
	grep -q '^first' "$D/out"
	grep -q 'detached from box-1' "$D/out"
	[ "$("$COOP" inspect box-1 | jq -r '.[0].status')" = running ]
	# the daemon goes and comes back: the container, its monitor and its terminal stay
	local mon
	mon=$(cut -d' ' -f1 "$dir/monitor.pid")
	stop_daemon
	kill -0 "$mon"
	start_daemon
	run in_pty "sleep 1; printf 'echo again; exit 7\r'; sleep 1.5" "'$COOP' attach box-1"
	[ "$status" -eq 7 ]
	grep -q '^again' "$D/out"
	[ "$("$COOP" inspect box-1 | jq -r '.[0].exit_code')" = 7 ]
	[ ! -e "$dir/attach.sock" ]
	run "$COOP" attach box-1
	[ "$status" -eq 1 ]
	[[ "$output" == *"not running"* ]]
	"$COOP" rm box-1 >/dev/null
}

@test "stop sends --stop-signal, or the image's StopSignal, before SIGKILL" {
	local trap='trap "echo got USR1; exit 42" USR1; trap "echo got HUP; exit 43" HUP; trap "echo got TERM; exit 44" TERM; while :; do sleep 0.1; done'
	"$COOP" run -d --name sighup --stop-signal SIGHUP --image coop-demo/httpd:1 -- sh -c "$trap" >/dev/null
	"$COOP" run -d --name sigterm --image coop-demo/httpd:1 -- sh -c "$trap" >/dev/null
	sleep 1.5
	"$COOP" stop sighup-1 sigterm-1 >/dev/null
	[ "$("$COOP" inspect sighup-1 | jq -r '.[0].exit_code')" = 43 ]
	[ "$("$COOP" logs sighup-1)" = "got HUP" ]
	[ "$("$COOP" inspect sigterm-1 | jq -r '.[0].exit_code')" = 44 ]
	run "$COOP" run -d --stop-signal BOGUS --image coop-demo/httpd:1 -- true
	[ "$status" -eq 1 ]
	[[ "$output" == *"stop_signal: expected a signal"* ]]
	"$COOP" rm sighup-1 >/dev/null
	"$COOP" rm sigterm-1 >/dev/null
	# an image whose config says StopSignal SIGUSR1 (umoci sets it)
	command -v umoci >/dev/null || skip "umoci not installed"
	umoci init --layout "$D/oci"
	umoci new --image "$D/oci:sig"
	umoci unpack --image "$D/oci:sig" "$D/ub" >/dev/null
	cp -a "$D/rootfs/." "$D/ub/rootfs/"
	umoci repack --image "$D/oci:sig" "$D/ub"
	umoci config --image "$D/oci:sig" --config.stopsignal SIGUSR1
	"$COOP" image --store "$D/state/images" import --name coop-demo/sig:1 "$D/oci" >/dev/null
	"$COOP" run -d --name sigimg --image coop-demo/sig:1 -- sh -c "$trap" >/dev/null
	sleep 1.5
	"$COOP" stop sigimg-1 >/dev/null
	[ "$("$COOP" inspect sigimg-1 | jq -r '.[0].exit_code')" = 42 ]
	[ "$("$COOP" logs sigimg-1)" = "got USR1" ]
	"$COOP" rm sigimg-1 >/dev/null
}

@test "--init: PID 1 passes SIGTERM on to a shell, reaps orphans, exits with its status" {
	# without --init a shell as PID 1 ignores SIGTERM: stop waits out its timeout
	"$COOP" run -d --name noinit --image coop-demo/httpd:1 -- sh -c 'sleep 1000' >/dev/null
	# (sleep 0.2 &) leaves an orphan that PID 1 must reap
	"$COOP" run -d --init --name withinit --image coop-demo/httpd:1 -- sh -c '(sleep 0.2 &); sleep 1000' >/dev/null
	sleep 1
	run "$COOP" exec withinit-1 ps -o pid,stat,args
	[[ "$output" != *" Z "* ]]
	[[ "$output" != *"sleep 0.2"* ]]
	run "$COOP" exec withinit-1 ps -o pid,args
	[[ "$output" == *" 1 coop-init"* ]]
	[[ "$output" == *" 2 sleep 1000"* ]] # the process, PID 1's child (sh exec'd its last command)
	local t0=${EPOCHREALTIME/./} t1 t2   # microseconds
	"$COOP" stop --timeout 3s noinit-1 >/dev/null
	t1=${EPOCHREALTIME/./}
	"$COOP" stop --timeout 30s withinit-1 >/dev/null
	t2=${EPOCHREALTIME/./}
	[ $((t1 - t0)) -ge 2900000 ] # the timeout ran out: SIGKILL
	[ $((t2 - t1)) -lt 2000000 ] # the shell took SIGTERM at once
	[ "$("$COOP" inspect withinit-1 | jq -r '.[0].exit_code')" = 143 ]
	"$COOP" rm noinit-1 withinit-1 >/dev/null
	# the exit code of the process is PID 1's; a bad annotation value is one line
	run "$COOP" run --rm --init --image coop-demo/httpd:1 -- sh -c 'exit 7'
	[ "$status" -eq 7 ]
}

@test "exec -i: a client that goes away hangs the process up, nothing leaks" {
	local before after pid
	# a spare monitor comes 50 ms after a container's start, with two pipes of the
	# daemon's: counted once it is there (an exec starts no container)
	sleep 0.3
	before=$(ls /proc/"$(cat "$D/daemon.pid")"/fd | wc -l)
	"$COOP" exec -i tty-1 sleep 1234 < <(sleep 30) &
	pid=$!
	sleep 1
	pgrep -f "sleep 1234" >/dev/null
	kill -9 "$pid"
	for _ in $(seq 50); do pgrep -f "sleep 1234" >/dev/null || break; sleep 0.1; done
	! pgrep -f "sleep 1234"
	after=$(ls /proc/"$(cat "$D/daemon.pid")"/fd | wc -l)
	[ "$after" -le "$before" ]
	[ -z "$(ls "$D/run/exec")" ]
}

@test "exec -i/-t over TCP+TLS with a token" {
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
		-addext subjectAltName=IP:127.0.0.1 -keyout "$D/key.pem" -out "$D/cert.pem" 2>/dev/null
	stop_daemon
	start_daemon --listen 127.0.0.1:17444 --tls-cert "$D/cert.pem" --tls-key "$D/key.pem"
	local tok
	tok=$("$COOP" token create --role admin --name tty-admin -o json)
	export COOP_ENDPOINT=https://127.0.0.1:17444 COOP_CA=$D/cert.pem
	export COOP_ACCESS_TOKEN=$(jq -r .access_token <<<"$tok") COOP_SECRET_KEY=$(jq -r .secret_key <<<"$tok")
	run bash -c "seq 1 5000 | '$COOP' exec -i tty-1 wc -l"
	[ "$status" -eq 0 ]
	[ "$output" = 5000 ]
	run in_pty "sleep 1; printf 'tty; exit 6\r'; sleep 1" "'$COOP' exec -it tty-1 sh"
	[ "$status" -eq 6 ]
	grep -q '^/dev/pts/' "$D/out"
	COOP_SECRET_KEY=wrong run bash -c "'$COOP' exec -i tty-1 true </dev/null"
	[ "$status" -eq 1 ]
	[[ "$output" == *"invalid access token or secret key"* ]]
}

@test "stopping the daemon ends its sessions: the process is hung up, the client told" {
	"$COOP" exec -i tty-1 sleep 4321 < <(sleep 30) 2>"$D/err" &
	local pid=$!
	sleep 1
	pgrep -f "sleep 4321" >/dev/null
	stop_daemon
	run wait "$pid"
	[ "$status" -eq 1 ]
	grep -q "without an exit code" "$D/err"
	for _ in $(seq 50); do pgrep -f "sleep 4321" >/dev/null || break; sleep 0.1; done
	! pgrep -f "sleep 4321"
	start_daemon
}
