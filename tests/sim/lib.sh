# shellcheck shell=bash
# lib.sh — shared by tests/sim/{up,run,fault,down}.sh: the simulated-hosts harness
# (adapted from the team's simhosts recipe). One "run" = one id, $COOP_SIM (e.g.
# cs1a2b3c); everything a run makes is named after it or recorded in its state dir,
# and down.sh removes exactly that — never anything found by a looser name match.
#
#   netns ${ID}ul        the underlay switch: bridge br0 (no IP), one port "hI" per host,
#                        br_netfilter off; fault injection = nft table in this netns
#   netns ${ID}hI        host I: eth0 = $UL.I/24 (veth to port hI), no default route
#   mnt+uts of host I    persistent, bound at $STATE/hI/{mnt,uts}: hostname hI, its
#                        own /sys, /etc/hosts (h1..hN), and private /run (so
#                        /run/coop, /run/coop-runtime, /run/netns), /var/lib/coop,
#                        /etc/coop; seen from the root at $STATE/hI/fs/...
#   cgroup               $CG/hI (v1 freezer, else v2): run.sh puts its command there,
#                        for fault.sh freeze/kill and down.sh
#
# Knobs (env, read by up.sh and recorded in $STATE/config for the other scripts):
#   SIM_UNDERLAY=10.250.0   the underlay /24 (host I = .I)
#   SIM_BRIDGE=0            1: a container bridge cbr0 $SIM_BRIDGE_NET.I.1/24 per host,
#   SIM_BRIDGE_NET=10.251     with masquerade to the underlay
#   SIM_DIRS="..."          more private per-host directories (absolute paths)
#   SIM_BASE=/run/coop-sim  where run state lives ($STATE = $SIM_BASE/$COOP_SIM)

SIM_BASE=${SIM_BASE:-/run/coop-sim}

log() { printf '[sim] %s\n' "$*" >&2; }
die() {
	printf '[sim] error: %s\n' "$*" >&2
	exit 1
}

# sim_load: validate $COOP_SIM, set ID/STATE and load the run's recorded config.
sim_load() {
	ID=${COOP_SIM:-}
	[ -n "$ID" ] || die "COOP_SIM is not set (export the line up.sh printed: COOP_SIM=<id>)"
	[[ "$ID" =~ ^[a-z][a-z0-9]{1,11}$ ]] || die "bad run id '$ID' (lowercase letters and digits, 2-12)"
	STATE=$SIM_BASE/$ID
	# shellcheck disable=SC2034 # used by the scripts that source this
	ULNS=${ID}ul
	N=0
	if [ -r "$STATE/config" ]; then
		# shellcheck disable=SC1091
		. "$STATE/config"
	fi
}

# hostns hI: the netns name of host hI.
hostns() { echo "$ID$1"; }

# host_ok hI: hI is a host of this run (by number, against the recorded N).
host_ok() {
	[[ "$1" =~ ^h([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] && [ "${BASH_REMATCH[1]}" -le "$N" ]
}
need_host() { host_ok "${1:-}" || die "no host '${1:-}' in run $ID (hosts h1..h$N)"; }

# ns_ok NAME: a live named netns (an nsfs bind mount; a bare file is a stale leftover).
ns_ok() { mountpoint -q "/run/netns/$1" 2>/dev/null; }
ns_ino() { stat -L -c %i "$1" 2>/dev/null; }

# --- address ranges -----------------------------------------------------------------
ip2int() {
	local IFS=.
	# shellcheck disable=SC2086
	set -- $1
	echo $((($1 << 24) | ($2 << 16) | ($3 << 8) | $4))
}
# cidr_overlap A/LEN B/LEN
cidr_overlap() {
	local a=${1%/*} al=${1#*/} b=${2%/*} bl=${2#*/} l m
	l=$((al < bl ? al : bl))
	[ "$l" -eq 0 ] && return 0
	m=$(((0xffffffff << (32 - l)) & 0xffffffff))
	[ $(($(ip2int "$a") & m)) -eq $(($(ip2int "$b") & m)) ]
}
# root_prefixes: every IPv4 destination the root netns routes (all tables), except
# default routes, as A.B.C.D/LEN.
root_prefixes() {
	ip -4 -o route show table all 2>/dev/null | awk '
		{ d = $1
		  if (d ~ /^(unicast|local|broadcast|multicast|unreachable|prohibit|blackhole|throw|nat|anycast)$/) d = $2
		  if (d == "default" || d == "0.0.0.0/0") next
		  if (d !~ /\//) d = d "/32"
		  if (d ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+\/[0-9]+$/) print d }' | sort -u
}
# check_ranges CIDR...: refuse ranges the root netns routes (the sim must never be
# reachable from, or shadow, the machine's own network) and 192.0.2.0/24 (this VM's).
check_ranges() {
	local c r
	for c in "$@"; do
		cidr_overlap "$c" 192.0.2.0/24 && die "$c overlaps 192.0.2.0/24, this machine's own network"
		for r in $(root_prefixes); do
			cidr_overlap "$c" "$r" && die "$c overlaps $r, which the root netns routes; choose another SIM_UNDERLAY/SIM_BRIDGE_NET"
		done
	done
	return 0
}

# --- cgroup used to track (and freeze) each host's processes --------------------------
# v1 freezer if mounted, else the v2 hierarchy; CG="" if neither is writable.
cg_root() {
	if [ -w /sys/fs/cgroup/freezer/cgroup.procs ]; then
		echo "/sys/fs/cgroup/freezer/coopsim-$ID"
	elif [ -w /sys/fs/cgroup/cgroup.procs ] && [ -e /sys/fs/cgroup/cgroup.controllers ]; then
		echo "/sys/fs/cgroup/coopsim-$ID"
	elif [ -w /sys/fs/cgroup/unified/cgroup.procs ]; then
		echo "/sys/fs/cgroup/unified/coopsim-$ID"
	fi
}
cg_join() { # hI PID
	[ -n "$CG" ] && [ -d "$CG/$1" ] || return 0
	echo "$2" >"$CG/$1/cgroup.procs"
}
cg_procs() { # hI: every pid in the host's cgroup subtree
	[ -n "$CG" ] && [ -d "$CG/$1" ] || return 0
	find "$CG/$1" -name cgroup.procs -exec cat {} + 2>/dev/null
	return 0
}
cg_freeze() { # hI 1|0
	local d=$CG/$1 want
	[ -n "$CG" ] && [ -d "$d" ] || return 0
	if [ -e "$d/freezer.state" ]; then
		want=THAWED
		[ "$2" = 1 ] && want=FROZEN
		echo "$want" >"$d/freezer.state"
		for _ in $(seq 50); do
			[ "$(cat "$d/freezer.state")" = "$want" ] && return 0
			sleep 0.1
		done
	elif [ -e "$d/cgroup.freeze" ]; then
		echo "$2" >"$d/cgroup.freeze"
		for _ in $(seq 50); do
			grep -qx "frozen $2" "$d/cgroup.events" && return 0
			sleep 0.1
		done
	else
		return 0
	fi
	log "cgroup $d did not reach freeze=$2"
	return 1
}

# host_pids hI [hJ...]: the live processes of these hosts — members of their cgroups,
# processes in their netns, mount ns or UTS ns (exact "type:[inode]" matches), and
# their descendants. Never listed: PID 1 and 2, this shell and its ancestors,
# processes whose namespace links cannot be read (PID 1 here, zombies), anything in
# the caller's (root) netns. One pass over /proc for all the hosts.
host_pids() {
	local h f ino keys=() rootnet a protect
	for h in "$@"; do
		ns_ok "$(hostns "$h")" && ino=$(ns_ino "/run/netns/$(hostns "$h")") && keys+=("net:[$ino]")
		for f in mnt uts; do
			mountpoint -q "$STATE/$h/$f" 2>/dev/null || continue
			ino=$(ns_ino "$STATE/$h/$f") && keys+=("$f:[$ino]")
		done
	done
	rootnet=$(readlink /proc/self/ns/net) || return 0
	protect=" 1 2 $$ $BASHPID "
	a=$BASHPID
	while [ "$a" -gt 1 ] 2>/dev/null; do
		a=$(awk '/^PPid:/ { print $2 }' "/proc/$a/status" 2>/dev/null) || break
		[ -n "$a" ] || break
		protect="$protect$a "
	done
	{
		ps -e -o pid=,ppid= | awk '{ print "P", $1, $2 }'
		for h in "$@"; do cg_procs "$h"; done | awk '{ print "C", $1 }'
		find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/*' \
			\( -name net -o -name mnt -o -name uts \) -printf 'N %p %l\n' 2>/dev/null || true
	} | awk -v keys="${keys[*]}" -v rootnet="$rootnet" -v protect="$protect" '
		BEGIN { nk = split(keys, k, " "); for (i = 1; i <= nk; i++) key[k[i]] = 1
			np = split(protect, q, " "); for (i = 1; i <= np; i++) prot[q[i]] = 1 }
		$1 == "P" { par[$2] = $3; next }
		$1 == "C" { hit[$2] = 1; next }
		$1 == "N" && NF == 3 { split($2, f, "/"); pid = f[3]; t = f[5]
			nread[pid]++; if (t == "net") net[pid] = $3
			if ($3 in key) hit[pid] = 1 }
		END {
			for (p in par) if ((p in hit) && nread[p] == 3) keep[p] = 1
			do { ch = 0
				for (p in par) if (!(p in keep) && (par[p] in keep) && nread[p] == 3) { keep[p] = 1; ch = 1 }
			} while (ch)
			for (p in keep) if (!(p in prot) && (p in net) && net[p] != rootnet) print p
		}' | sort -n
}

# alive PID...: those of the PIDs that still run (not gone, not zombies).
alive() {
	[ $# -gt 0 ] || return 0
	ps -o pid=,stat= -p "$(echo "$@" | tr ' ' ',')" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }'
}

# wait_gone SECONDS PID...: poll until none of the PIDs runs; 1 if some still do.
wait_gone() {
	local n=$(($1 * 10))
	shift
	while [ -n "$(alive "$@")" ]; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

# signal_hosts SIG hI...: send SIG to every process of these hosts (their cgroups are
# thawed first, so that the signal takes effect now); prints the pids signalled.
signal_hosts() {
	local sig=$1 h pids
	shift
	for h in "$@"; do cg_freeze "$h" 0; done
	pids=$(host_pids "$@" | tr '\n' ' ')
	[ -n "${pids// /}" ] || return 0
	# shellcheck disable=SC2086
	kill -"$sig" $pids 2>/dev/null || true
	# shellcheck disable=SC2086
	[ "$sig" = TERM ] && kill -CONT $pids 2>/dev/null # stopped ones too
	echo "$pids"
}

# kill_hosts hI...: SIGKILL until no process of these hosts is left (a forking
# process can race one round). Returns 1 if some are still there.
kill_hosts() {
	local pids
	for _ in 1 2 3 4 5; do
		pids=$(signal_hosts KILL "$@")
		[ -z "$pids" ] && return 0
		# shellcheck disable=SC2086
		wait_gone 2 $pids
	done
	[ -z "$(host_pids "$@")" ]
}
