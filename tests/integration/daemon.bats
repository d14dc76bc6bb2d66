#!/usr/bin/env bats
# daemon.bats — `coop daemon` and the commands that talk to it, end to end: a real
# daemon (own --state/--run under the test's temp dir, COOP_SOCKET pointing at it) with
# a busybox image imported into its store; run/ps/stop/logs/exec/metrics/events,
# kill -9 and live restore, token auth over TCP+TLS, and the bad .bun corpus.

bats_require_minimum_version 1.5.0

load daemon



# (bats 1.8 cannot skip in setup_file: setup skips each test instead)
setup() {
	[ -n "${D:-}" ] || skip "coop daemon not built (no agent yet)"
}

setup_file() {
	daemon_file_setup coop-demo/httpd:1
}

teardown_file() {
	[ -n "${D:-}" ] || return 0
	"$COOP" ps -a -q 2>/dev/null | while read -r id; do "$COOP" rm -f "$id" >/dev/null 2>&1; done
	stop_daemon
	# anything left: monitors by their pid files, mounts under our dir
	for f in "$D"/state/containers/*/monitor.pid; do
		[ -e "$f" ] && kill -9 "$(cut -d' ' -f1 "$f")" 2>/dev/null
	done
	grep -o " $D[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$D"
}

@test "daemon: version, info, socket root only" {
	run "$COOP" version
	[ "$status" -eq 0 ]
	[[ "$output" == *"daemon version"* ]]
	[ "$(stat -c %a "$COOP_SOCKET")" = 600 ]
	run "$COOP" daemon --state "$D/state" --run "$D/run"
	[ "$status" -eq 1 ]
	[[ "$output" == *"another coop daemon runs"* ]]
}

@test "run: foreground prints output and returns the exit code; --rm removes it" {
	run "$COOP" run --rm --image coop-demo/httpd:1 --name fg -- sh -c 'echo hello; exit 3'
	[ "$status" -eq 3 ]
	[[ "$output" == *hello* ]]
	# gone when run returns, as with docker run --rm (and its workload with it)
	run "$COOP" ps -a
	[[ "$output" != *" fg-1 "* ]] || fail "still listed: $output"
	run "$COOP" workload ls
	[[ "$output" != *fg* ]] || fail "workload left: $output"
	# the same for a process that is over at once (the daemon's own --rm races ours)
	for i in 1 2 3; do
		"$COOP" run --rm --image coop-demo/httpd:1 --name fast -- true
		run "$COOP" ps -a
		[[ "$output" != *" fast-1 "* ]] || fail "round $i: still listed: $output"
	done
}

@test "run -d, ps, logs, exec, metrics, stop, rm" {
	run "$COOP" run -d --image coop-demo/httpd:1 --name bg -- sh -c 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done'
	[ "$status" -eq 0 ]
	[ "$output" = bg ]
	wait_until 10 is_status bg-1 running
	run "$COOP" ps
	[[ "$output" == *"CONTAINER ID"*bg-1* ]]
	"$COOP" ps -o json | jq -e '.[] | select(.name == "bg-1")' >/dev/null
	wait_until 10 bash -c "'$COOP' logs bg-1 | grep -q 'tick 2'"
	run "$COOP" logs --tail 1 bg-1
	[ "${#lines[@]}" -eq 1 ]
	run "$COOP" exec bg-1 sh -c 'echo out; echo err >&2; exit 4'
	[ "$status" -eq 4 ]
	[[ "$output" == *out* ]]
	run "$COOP" metrics bg-1
	[ "$status" -eq 0 ]
	[[ "$output" == *"MEM USAGE"* ]]
	run "$COOP" stop --timeout 2s bg-1
	[ "$status" -eq 0 ]
	is_status bg-1 exited
	run "$COOP" rm bg-1
	[ "$status" -eq 0 ]
	run "$COOP" status bg-1
	[ "$status" -eq 1 ]
}

@test "errors: one line, exit 1; usage errors exit 2" {
	run "$COOP" stop nosuch
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "coop: "* ]]
	run "$COOP" run --image coop-demo/httpd:1 --name 'bad/name' -d
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a valid name"* ]]
	run "$COOP" run --image coop-demo/httpd:1 --disk 1x -d
	[ "$status" -eq 1 ]
	[ "$output" = "coop: --disk: expected a size like 512M or 1G, got '1x'" ]
	run "$COOP" ps --bogus
	[ "$status" -eq 2 ]
	COOP_SOCKET=$D/nothing.sock run "$COOP" ps
	[ "$status" -eq 1 ]
	[ "$output" = "coop: cannot reach the coop daemon at $D/nothing.sock: is \`coop daemon\` running?" ]
}

@test "events: replay --since, filters, follow" {
	"$COOP" run --rm --image coop-demo/httpd:1 --name ev -- true
	run "$COOP" events -o json
	[ "$status" -eq 0 ]
	local n last
	n=$(printf '%s\n' "${lines[@]}" | jq -s length)
	last=$(printf '%s\n' "${lines[@]}" | jq -s '.[-1].seq')
	[ "$n" -gt 2 ]
	run "$COOP" events --since $((last - 1)) -o json
	[ "${#lines[@]}" -eq 1 ]
	run "$COOP" events --filter type=workload -o json
	printf '%s\n' "${lines[@]}" | jq -se 'all(.type == "workload")'
	# follow sees a new event exactly once, after the replay
	("$COOP" events -f --since "$last" --filter type=workload -o json >"$D/ev.out" 2>&1 &
	 echo $! >"$D/ev.pid")
	"$COOP" run --rm --image coop-demo/httpd:1 --name ev2 -- true
	wait_until 10 grep -q '"ev2"' "$D/ev.out"
	kill "$(cat "$D/ev.pid")"
	[ "$(jq -s '[.[].seq] | unique | length' "$D/ev.out")" -eq "$(jq -s length "$D/ev.out")" ]
}

@test "kill -9 the daemon: containers keep running, a new daemon adopts them, logs go on" {
	"$COOP" run -d --image coop-demo/httpd:1 --name survivor -- sh -c 'i=0; while true; do echo n $i; i=$((i+1)); sleep 0.2; done'
	wait_until 10 is_status survivor-1 running
	local pid
	pid=$("$COOP" inspect survivor-1 | jq -r '.[0].pid')
	kill -9 "$(cat "$D/daemon.pid")"
	wait_gone "$(cat "$D/daemon.pid")"
	sleep 0.5
	kill -0 "$pid"
	start_daemon
	run "$COOP" ps
	[[ "$output" == *survivor-1* ]]
	local before after
	before=$("$COOP" logs survivor-1 | wc -l)
	sleep 1
	after=$("$COOP" logs survivor-1 | wc -l)
	[ "$after" -gt "$before" ]
	"$COOP" rm -f survivor-1
}

# gone or a zombie (PID 1 here reaps orphans late)
ended() { ! kill -0 "$1" 2>/dev/null || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]; }

@test "a spare monitor: started ahead after a start, runs the next container, goes with the daemon" {
	local dpid spare mon id
	dpid=$(cat "$D/daemon.pid")
	"$COOP" run --rm --image coop-demo/httpd:1 --name sp0 -- true
	# one spare, a child of the daemon, waiting for its container's id
	wait_until 5 pgrep -P "$dpid" -f -- 'coop monitor --spare'
	spare=$(pgrep -P "$dpid" -f -- 'coop monitor --spare')
	[ "$(echo "$spare" | wc -w)" -eq 1 ] || fail "spares: $spare"
	"$COOP" run -d --image coop-demo/httpd:1 --name sp1 -- sleep 100
	wait_until 10 is_status sp1-1 running
	id=$("$COOP" inspect sp1-1 | jq -r '.[0].id')
	mon=$(cut -d' ' -f1 "$D/state/containers/$id/monitor.pid")
	[ "$mon" = "$spare" ] || fail "sp1-1's monitor is $mon, the spare was $spare"
	[[ "$(tr '\0' ' ' <"/proc/$mon/cmdline")" == "coop monitor $id"* ]] ||
		fail "title: $(tr '\0' ' ' <"/proc/$mon/cmdline")"
	# the next spare comes; stopping the daemon closes its pipe and it exits
	wait_until 5 pgrep -P "$dpid" -f -- 'coop monitor --spare'
	spare=$(pgrep -P "$dpid" -f -- 'coop monitor --spare')
	"$COOP" rm -f sp1-1
	stop_daemon
	wait_until 5 ended "$spare" || fail "spare $spare outlived the daemon"
	start_daemon
}

@test "token auth over TCP+TLS: none, wrong secret, read token writing are refused" {
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
		-addext subjectAltName=IP:127.0.0.1 -keyout "$D/key.pem" -out "$D/cert.pem" 2>/dev/null
	stop_daemon
	start_daemon --listen 127.0.0.1:17443 --tls-cert "$D/cert.pem" --tls-key "$D/key.pem"
	local admin acc sec racc rsec
	admin=$("$COOP" token create --role admin --name t-admin -o json)
	acc=$(jq -r .access_token <<<"$admin")
	sec=$(jq -r .secret_key <<<"$admin")
	run "$COOP" token ls
	[[ "$output" == *t-admin* ]]
	! grep -q "$sec" "$D/state/tokens.json"
	export COOP_ENDPOINT=https://127.0.0.1:17443 COOP_CA=$D/cert.pem
	COOP_ACCESS_TOKEN=$acc COOP_SECRET_KEY=$sec run "$COOP" ps
	[ "$status" -eq 0 ]
	COOP_ACCESS_TOKEN=$acc COOP_SECRET_KEY=wrong run "$COOP" ps
	[ "$status" -eq 1 ]
	[[ "$output" == *"invalid access token or secret key"* ]]
	run curl -s --cacert "$D/cert.pem" https://127.0.0.1:17443/v1/containers
	[[ "$output" == *'"code":"unauthorized"'* ]]
	read -r racc rsec < <(COOP_ACCESS_TOKEN=$acc COOP_SECRET_KEY=$sec "$COOP" token create --role read -o json | jq -r '"\(.access_token) \(.secret_key)"')
	COOP_ACCESS_TOKEN=$racc COOP_SECRET_KEY=$rsec run "$COOP" ps
	[ "$status" -eq 0 ]
	COOP_ACCESS_TOKEN=$racc COOP_SECRET_KEY=$rsec run "$COOP" run -d --image coop-demo/httpd:1 -- true
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot change anything"* ]]
	run curl -s --cacert "$D/cert.pem" -H "Authorization: Bearer $racc:$rsec" https://127.0.0.1:17443/v1/version
	[[ "$output" == *'"api":"v1"'* ]]
	unset COOP_ENDPOINT COOP_CA
	"$COOP" token rm t-admin
	COOP_ENDPOINT=https://127.0.0.1:17443 COOP_CA=$D/cert.pem COOP_ACCESS_TOKEN=$acc COOP_SECRET_KEY=$sec run "$COOP" ps
	[ "$status" -eq 1 ]
}

@test "API: oversized and malformed bodies get 4xx error JSON" {
	run curl -s --unix-socket "$COOP_SOCKET" -X POST -H 'Content-Type: application/json' \
		--data-binary '{"image":' http://coop/v1/containers
	[[ "$output" == *'"code":"bad_request"'* ]]
	head -c 2000000 /dev/zero | tr '\0' ' ' >"$D/big.json"
	run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$COOP_SOCKET" -X POST \
		--data-binary @"$D/big.json" http://coop/v1/workloads
	[ "$output" = 413 ]
	run curl -s -w ' %{http_code}' --unix-socket "$COOP_SOCKET" http://coop/v1/nope
	[[ "$output" == *'"not_found"'*404 ]]
}

@test "every bad .bun gives its documented error through coop run" {
	local f want
	for f in "$REPO"/tests/bun/bad/*.bun; do
		want=$(head -1 "$f" | sed -n 's/^# error: //p')
		run "$COOP" run "$f"
		[ "$status" -eq 1 ] || { echo "$f: status $status"; return 1; }
		[[ "$output" == *"$want"* ]] || { echo "$f: got '$output', want '$want'"; return 1; }
	done
}
