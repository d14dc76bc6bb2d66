#!/usr/bin/env bash
# run.sh hI CMD [ARG...] — run CMD "on" simulated host hI of run $COOP_SIM: in its
# netns, mount ns (private /run, /var/lib/coop, /etc/coop, its own /sys and
# /etc/hosts) and UTS ns (hostname hI), in its tracking cgroup (fault.sh freeze/kill,
# down.sh). It execs, so for `run.sh h1 daemon ... &` $! is the daemon's pid. CMD runs
# in the caller's working directory and gets SIM_HOST=hI. Without CMD: a shell.
# Network-only clients may also use `ip netns exec ${COOP_SIM}hI CMD`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
sim_load
h=${1:-}
need_host "$h"
shift
[ $# -gt 0 ] || set -- /bin/sh
ns=$(hostns "$h")
ns_ok "$ns" && mountpoint -q "$STATE/$h/mnt" || die "host $h of run $ID is not up (run up.sh)"
cg_join "$h" $$
export SIM_HOST=$h
wd=$PWD
case $wd in /run | /run/*) wd=/ ;; esac # the host has its own /run
exec nsenter --net="/run/netns/$ns" --mount="$STATE/$h/mnt" --uts="$STATE/$h/uts" --wd="$wd" -- "$@"
