#!/bin/sh
# demo.sh — what `make run` shows: a single-node coop on its embedded defaults. It starts
# `coop daemon` in the background (unless one already answers on /run/coop/coop.sock),
# builds a busybox demo image locally (no internet), runs examples/web.bun — two
# health-checked replicas of busybox httpd published on host port 8080 — prints
# `coop ps` and fetches the page through the published port. The daemon and the
# workload stay up for you to explore; the last lines say how to remove them.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
coop="$top/build/coop"
state=/var/lib/coop
run=/run/coop
image=coop-demo/httpd:1
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# A single node is a one-voter cluster (docs/cluster.md): `coop init` once, on the
# address other hosts would reach this one at. No such address (no network at all):
# the daemon runs as a plain node agent instead.
addr=$(ip -4 route get 192.0.2.254 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -1)
[ -n "$addr" ] || addr=$(ip -4 -o addr show scope global 2>/dev/null | awk '{sub("/.*", "", $4); print $4; exit}')
if [ ! -e "$state/cluster/cluster.json" ] && [ -n "$addr" ]; then
	say "coop init --address $addr (a one-node cluster; more hosts join with a token)"
	"$coop" init --state "$state" --address "$addr" --name "$(hostname | tr 'A-Z_' 'a-z-' | cut -c1-63)"
fi

say "coop daemon"
if "$coop" version >/dev/null 2>&1 && "$coop" ps >/dev/null 2>&1; then
	echo "a daemon already answers on $run/coop.sock: using it"
else
	mkdir -p "$run" "$state"
	nohup "$coop" daemon --state "$state" --run "$run" >>"$run/daemon.log" 2>&1 &
	echo "started (pid $!, log $run/daemon.log)"
	i=0
	until "$coop" ps >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "the daemon did not come up; see $run/daemon.log" >&2; exit 1; }
		sleep 0.1
	done
fi

say "building the demo image $image from Debian's busybox-static"
work=$(mktemp -d /tmp/coop-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$top/scripts/mkrootfs.sh" "$work/rootfs"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"$coop" image --store "$state/images" import --rootfs --name "$image" "$work/rootfs.tar"

say "coop run examples/web.bun"
"$coop" workload rm web >/dev/null 2>&1 || true
"$coop" run "$top/examples/web.bun"

say "waiting for both replicas to be running and healthy"
i=0
while :; do
	healthy=$("$coop" ps -o json | grep -o '"health": *"healthy"' | wc -l)
	[ "$healthy" -ge 2 ] && break
	i=$((i + 1))
	[ $i -lt 300 ] || { echo "replicas not healthy after 30 s:" >&2; "$coop" ps >&2; exit 1; }
	sleep 0.1
done
"$coop" ps

say "curl http://127.0.0.1:8080/ (balanced over the replicas by the kernel)"
for n in 1 2 3 4; do
	curl -s --max-time 5 http://127.0.0.1:8080/
done

say "done — coop is running"
cat <<MSG
  coop ps                  the replicas, their IPs and health
  coop logs web-1          what a replica printed
  coop events --since 0    everything that happened
  coop workload rm web     stop and remove the demo
  kill \$(cat $run/daemon.lock)   stop the daemon (containers keep running until removed)
MSG
