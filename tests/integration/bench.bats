#!/usr/bin/env bats
# bench.bats — the benches still run. No bench is part of `make test` otherwise, and a
# bench nobody runs rots. bench/overlay runs one short round in its "one" arrangement
# (two simulated hosts, the overlay with and without its fast path, the underlay,
# iperf3) and must print a throughput above zero for each path, the target line and the
# RTT line, and leave none of its namespaces or state behind. bench/mesh/run runs one
# short round (a five-host cluster, three nginx replicas, wrk) and must report
# requests/s for each target, the target line, and that all three replicas answered
# through the mesh, with its cluster removed. Bad options to either are refused with one
# line and exit 2 before anything is made. The figures are not judged: speed targets
# live in the benches, never in timed tests.

load helpers

COOP=${COOP:-$BUILD_DIR/coop}

setup() {
	[ "$(id -u)" = 0 ] || skip "needs root"
	[ -x "$COOP" ] || skip "coop $COOP not built"
	command -v iperf3 >/dev/null || skip "needs iperf3"
	command -v jq >/dev/null || skip "needs jq"
}

# gbit ROW-PATTERN: the median Gbit/s column of the report's "one" row matching it
gbit() { grep -F "| one | " <<<"$output" | grep -F "$1" | cut -d'|' -f4 | tr -d ' '; }

@test "bench/overlay: one short round reports every path and removes its hosts" {
	local id g p
	id=bo$(printf '%x' "$$")t$(od -An -N2 -tx2 /dev/urandom | tr -d ' \n')
	id=${id:0:12} # tests/sim's run ids are at most 12 characters
	run --separate-stderr env COOP="$COOP" COOP_SIM="$id" SIM_UNDERLAY=10.250.0 \
		"$REPO/bench/overlay" --rounds 1 --duration 1 --modes one --len 256K
	echo "$stderr"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"writes of 256K, 1 rounds x 1 s"* ]]
	for p in "over the overlay" "fast path off" "over the underlay"; do
		g=$(gbit "$p")
		[ -n "$g" ]
		awk -v g="$g" 'BEGIN { exit !(g > 0) }'
	done
	[[ "$output" == *"one CPUs: overlay / underlay **"*"x** (target >= 0.9x: "* ]]
	[[ "$output" == *"- RTT (200 pings, shared CPUs): overlay "*" ms"* ]]
	[ -z "$(ip netns list | grep "^$id")" ]
	[ ! -e "/run/coop-sim/$id" ]
}

@test "bench/overlay: bad options are refused with one line, nothing made" {
	local id=bx$(printf '%x' "$$")
	export COOP_SIM=$id
	run --separate-stderr "$REPO/bench/overlay" --len 1X
	[ "$status" -eq 2 ]
	[ "$stderr" = "overlay: --len '1X' is not a size like 128K or 1M" ]
	run --separate-stderr "$REPO/bench/overlay" --rounds 0
	[ "$status" -eq 2 ]
	[[ "$stderr" == "overlay: --rounds"* ]]
	run --separate-stderr "$REPO/bench/overlay" --modes "one two"
	[ "$status" -eq 2 ]
	[ "$stderr" = "overlay: unknown mode 'two' (one, shared, split)" ]
	run --separate-stderr "$REPO/bench/overlay" --cc nosuchcc
	[ "$status" -eq 1 ]
	[[ "$stderr" == "overlay: TCP congestion control 'nosuchcc' not available"* ]]
	run --separate-stderr "$REPO/bench/overlay" --frobnicate
	[ "$status" -eq 2 ]
	[ -z "$(ip netns list | grep "^$id")" ]
	[ ! -e "/run/coop-sim/$id" ]
}

@test "bench/mesh/run: one short round reports every target and removes its cluster" {
	local id g p
	command -v wrk >/dev/null && command -v nginx >/dev/null || skip "needs wrk and nginx-light"
	id=bm$(printf '%x' "$$")t$(od -An -N2 -tx2 /dev/urandom | tr -d ' \n')
	id=${id:0:12} # tests/sim's run ids are at most 12 characters
	run --separate-stderr env COOP="$COOP" COOP_SIM="$id" SIM_UNDERLAY=10.250.0 \
		"$REPO/bench/mesh/run" --rounds 1 --duration 1
	echo "$stderr"
	echo "$output"
	[ "$status" -eq 0 ]
	for p in "mesh port on h4" "mesh port on h1" "the replicas directly"; do
		g=$(grep -F "| $p" <<<"$output" | cut -d'|' -f3 | tr -d ' ')
		[ -n "$g" ]
		awk -v g="$g" 'BEGIN { exit !(g > 0) }'
	done
	[[ "$output" == *"Mesh via a host with no replica / direct: **"*"×** (target ≥ 0.8×: "* ]]
	[[ "$output" == *"3 of 3 replicas answered"* ]]
	[ -z "$(ip netns list | grep "^$id")" ]
	[ ! -e "/run/coop-sim/$id" ]
}

@test "bench/mesh/run: bad options are refused with one line" {
	run --separate-stderr "$REPO/bench/mesh/run" --rounds x
	[ "$status" -eq 2 ]
	[ "$stderr" = "mesh: --rounds, --duration and --conns take positive integers" ]
	run --separate-stderr "$REPO/bench/mesh/run" --conns 2
	[ "$status" -eq 2 ]
	[ "$stderr" = "mesh: --conns must be at least 3 (one per replica)" ]
	run --separate-stderr "$REPO/bench/mesh/run" --frobnicate
	[ "$status" -eq 2 ]
	[ "$stderr" = "mesh: unknown option '--frobnicate'" ]
}
