#!/usr/bin/env bats
# daemon-tty.bats — interactive exec through the daemon: `coop exec -it` driven through
# a pty (util-linux `script`), the process's terminal, exit code, resize and the local
# terminal restored; `-i` without a terminal; `-t` alone; the same over TCP+TLS with a
# token. A real daemon, set up as daemon.bats does.

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
	"$COOP" daemon --help >/dev/null 2>&1 || return 0
	export D=$BATS_FILE_TMPDIR/d
	mkdir -p "$D"
	export COOP_SOCKET=$D/run/coop.sock
	"$REPO/scripts/mkrootfs.sh" "$D/rootfs" >/dev/null
	tar -C "$D/rootfs" -cf "$D/rootfs.tar" .
	"$COOP" image --store "$D/state/images" import --rootfs --name coop-demo/httpd:1 "$D/rootfs.tar" >/dev/null
	start_daemon
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
	run "$COOP" run --image coop-demo/httpd:1 -it -- sh
	[ "$status" -eq 1 ]
	[[ "$output" == *"not supported yet"* ]]
}

@test "exec -i: a client that goes away hangs the process up, nothing leaks" {
	local before after pid
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
