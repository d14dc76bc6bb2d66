#!/usr/bin/env bats
# sim.bats — self-test of tests/sim, the multi-host harness the cluster and overlay
# tests run on: 3 simulated hosts for the whole file (one run id, $COOP_SIM, unique to
# this bats process), underlay reachability from inside the hosts, per-host private
# state for a daemon started with run.sh, every fault, and a down.sh that leaves
# nothing named after the run and touches nothing else. Traffic only ever flows
# between namespaces the harness made. teardown_file runs down.sh whatever happened.

load helpers

SIM=$REPO/tests/sim
UL=10.250.0

# (bats 1.8 cannot skip in setup_file: it says why in SIM_SKIP and setup skips)
setup_file() {
	export SIM_SKIP=""
	if [ "$(id -u)" != 0 ]; then
		SIM_SKIP="needs root"
	elif ! command -v busybox >/dev/null || ! command -v curl >/dev/null ||
		! command -v nsenter >/dev/null || ! command -v nft >/dev/null; then
		SIM_SKIP="needs busybox, curl, nsenter and nft"
	fi
	[ -z "$SIM_SKIP" ] || return 0
	COOP_SIM=cs$(printf '%x' "$$")t$(od -An -N2 -tx2 /dev/urandom | tr -d ' \n')
	export COOP_SIM SIM_STATE=/run/coop-sim/$COOP_SIM
	# the id is chosen before up.sh runs, so teardown_file can clean up a partial run
	"$SIM/up.sh" 3 >"$BATS_FILE_TMPDIR/up.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/up.log" >&2
		return 1
	}
}

teardown_file() {
	[ -n "${COOP_SIM:-}" ] || return 0
	"$SIM/down.sh"
}

setup() {
	[ -z "$SIM_SKIP" ] || skip "$SIM_SKIP"
	BG_PIDS=()
}

# every test undoes its faults and background processes, even when it fails
teardown() {
	local p
	for p in "${BG_PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -e "$SIM_STATE/config" ]; then
		"$SIM/fault.sh" heal
	fi
	return 0
}

on() { "$SIM/run.sh" "$@"; }
# reach FROM IP: one ping from host FROM to IP over the underlay (2 s timeout)
reach() { on "$1" busybox ping -c1 -W2 "$2" >/dev/null 2>&1; }
noreach() { ! reach "$@"; }
# get FROM URL: curl from host FROM
get() { on "$1" curl -sS --max-time 2 --connect-timeout 1 "$2"; }
# running PID: the process exists and is not a zombie
running() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}
listening() { on "$1" ss -Hltn "sport = :$2" | grep -q .; }
# daemon HOST: a busybox httpd on HOST:7000 serving the host's /var/lib/coop/www, its
# pid in the host's /run/coop/daemon.pid; the pid is kept in $BATS_FILE_TMPDIR/HOST.pid
daemon() {
	"$SIM/run.sh" "$1" sh -c 'mkdir -p /var/lib/coop/www && hostname >/var/lib/coop/www/index.html &&
		echo $$ >/run/coop/daemon.pid && exec busybox httpd -f -p 7000 -h /var/lib/coop/www' \
		</dev/null >/dev/null 2>&1 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/$1.pid"
	wait_for 5 listening "$1" 7000 || fail "daemon on $1 did not start"
}

@test "sim: up makes hosts h1..h3 (own netns, hostname, /sys; no route out) and is idempotent" {
	for n in ul h1 h2 h3; do
		ip netns list | grep -q "^$COOP_SIM$n\b" || fail "no netns $COOP_SIM$n"
	done
	for h in h1 h2 h3; do
		run on "$h" hostname
		[ "$output" = "$h" ]
	done
	run on h2 ls /sys/class/net
	[ "$(echo $output)" = "eth0 lo" ]
	run on h1 ip -4 -o addr show dev eth0
	[[ "$output" == *" $UL.1/24 "* ]]
	run on h1 ip route show default
	[ -z "$output" ]
	# nothing of the sim in the root netns
	[ -z "$(ip -o link | grep "$COOP_SIM")" ]
	[ -z "$(ip -4 -o addr | grep " $UL\.")" ]
	# a second up repairs/keeps the same run
	run --separate-stderr "$SIM/up.sh" 3
	[ "$status" -eq 0 ]
	[ "$output" = "COOP_SIM=$COOP_SIM" ]
	[ "$(ip netns list | grep -c "^$COOP_SIM")" -eq 4 ]
}

@test "sim: up refuses ranges the root netns routes, and makes nothing" {
	local other=${COOP_SIM}x
	run env COOP_SIM="$other" SIM_UNDERLAY=192.0.2 "$SIM/up.sh" 1
	[ "$status" -ne 0 ]
	[[ "$output" == *"192.0.2.0/24"* ]]
	# a range of the root's own routes, whatever this machine has
	r=$(ip -4 -o route show | awk '$1 ~ /^[0-9.]+\/(8|16|24)$/ { print $1; exit }')
	if [ -n "$r" ]; then
		run env COOP_SIM="$other" SIM_UNDERLAY="$(echo "${r%/*}" | cut -d. -f1-3)" "$SIM/up.sh" 1
		[ "$status" -ne 0 ]
		[[ "$output" == *overlaps* ]]
	fi
	[ -z "$(ip netns list | grep "^$other")" ]
	[ ! -e "/run/coop-sim/$other" ]
}

@test "sim: hosts reach each other over the underlay, by address and by name" {
	reach h1 "$UL.2"
	reach h1 "$UL.3"
	reach h3 "$UL.1"
	reach h2 h3
	run on h1 getent hosts h3
	[[ "$output" == "$UL.3 "* ]]
}

@test "sim: a daemon started with run.sh has its own /var/lib/coop, /run/coop and hostname" {
	daemon h1
	daemon h2
	# each answers as its own host, on the same port and the same paths
	[ "$(get h3 "http://h1:7000/")" = h1 ]
	[ "$(get h3 "http://$UL.2:7000/")" = h2 ]
	# pid files: same path, per host, and the pid is run.sh's $! (it execs)
	[ "$(on h1 cat /run/coop/daemon.pid)" = "$(cat "$BATS_FILE_TMPDIR/h1.pid")" ]
	[ "$(on h2 cat /run/coop/daemon.pid)" = "$(cat "$BATS_FILE_TMPDIR/h2.pid")" ]
	# the root sees the hosts' files only under the run's state dir
	[ "$(cat "$SIM_STATE/h1/fs/var/lib/coop/www/index.html")" = h1 ]
	[ ! -e /var/lib/coop/www ]
	[ ! -e /run/coop/daemon.pid ]
	run on h3 ls /var/lib/coop
	[ -z "$output" ]
	# /etc/coop is private too
	on h1 sh -c 'echo x >/etc/coop/marker'
	[ ! -e /etc/coop/marker ]
	run on h2 ls /etc/coop
	[ -z "$output" ]
}

@test "sim: cut h1-h3 stops their traffic only; heal restores it" {
	"$SIM/fault.sh" cut h1 h3
	noreach h1 "$UL.3"
	noreach h3 "$UL.1"
	reach h1 "$UL.2"
	reach h2 "$UL.3"
	"$SIM/fault.sh" heal
	reach h1 "$UL.3"
	reach h3 "$UL.1"
}

@test "sim: isolate cuts a host off; freeze hangs its processes and thaw resumes them" {
	"$SIM/fault.sh" isolate h2
	noreach h1 "$UL.2"
	reach h1 "$UL.3"
	"$SIM/fault.sh" heal h2
	reach h1 "$UL.2"

	"$SIM/fault.sh" freeze h1
	run get h3 "http://h1:7000/"
	[ "$status" -ne 0 ]
	"$SIM/fault.sh" thaw h1
	[ "$(get h3 "http://h1:7000/")" = h1 ]
}

@test "sim: kill stops every process of a host, even one that escaped into new namespaces" {
	local d1 d2 orphan
	d1=$(cat "$BATS_FILE_TMPDIR/h1.pid")
	d2=$(cat "$BATS_FILE_TMPDIR/h2.pid")
	running "$d2"
	# an orphan (PPID 1) in a fresh net+mnt+uts ns: found through the cgroup
	on h2 sh -c "unshare -nmu sh -c 'sleep 600 </dev/null >/dev/null 2>&1 & echo \$! >/var/lib/coop/orphan.pid'"
	orphan=$(cat "$SIM_STATE/h2/fs/var/lib/coop/orphan.pid")
	running "$orphan"
	"$SIM/fault.sh" kill h2
	wait_for 3 bash -c "! ps -o stat= -p $d2 | grep -qv Z" || fail "daemon on h2 still runs"
	wait_for 3 bash -c "! ps -o stat= -p $orphan | grep -qv Z" || fail "orphan on h2 still runs"
	noreach h1 "$UL.2" # its port is down
	running "$d1"
	[ "$(get h3 "http://h1:7000/")" = h1 ]
	"$SIM/fault.sh" heal h2
	reach h1 "$UL.2"
	run get h1 "http://h2:7000/"
	[ "$status" -ne 0 ]
}

@test "sim: down removes everything of the run and nothing else" {
	local d1 decoy cg
	d1=$(cat "$BATS_FILE_TMPDIR/h1.pid")
	running "$d1"
	# a process of the root netns whose command line names the run: not down's business
	bash -c "exec -a 'decoy $COOP_SIM ${COOP_SIM}h1 coopsim-$COOP_SIM' sleep 60" </dev/null >/dev/null 2>&1 3>&- &
	decoy=$!
	BG_PIDS+=("$decoy")
	"$SIM/fault.sh" cut h1 h2
	"$SIM/fault.sh" freeze h3

	run "$SIM/down.sh"
	[ "$status" -eq 0 ] || fail "down: $output"
	[ -z "$(ip netns list | grep "^$COOP_SIM")" ] || fail "netns left: $(ip netns list | grep "^$COOP_SIM")"
	[ -z "$(ip -o link | grep "$COOP_SIM")" ] || fail "links left"
	[ -z "$(grep -e "$COOP_SIM" /proc/self/mountinfo)" ] || fail "mounts left: $(grep -e "$COOP_SIM" /proc/self/mountinfo)"
	for cg in /sys/fs/cgroup/*/coopsim-"$COOP_SIM" /sys/fs/cgroup/coopsim-"$COOP_SIM"; do
		[ ! -e "$cg" ] || fail "cgroup left: $cg"
	done
	[ ! -e "$SIM_STATE" ]
	wait_for 3 bash -c "! ps -o stat= -p $d1 | grep -qv Z" || fail "daemon on h1 still runs"
	running "$decoy" || fail "down killed a process that was not the run's"
	# a second down finds nothing to do
	run "$SIM/down.sh"
	[ "$status" -eq 0 ]
}
