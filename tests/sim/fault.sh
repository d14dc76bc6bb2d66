#!/usr/bin/env bash
# fault.sh — failure injection for run $COOP_SIM. Drops are nftables rules (bridge
# family) in the underlay switch's netns, so hosts and the root netns are untouched
# (this kernel has no netem and no tc drop action).
#
#   fault.sh cut hI hJ       drop everything between hI and hJ (both ways)
#   fault.sh cut1 hI hJ      drop frames from hI to hJ only
#   fault.sh isolate hI      drop everything to and from hI (its processes keep running)
#   fault.sh kill hI         power off: hI's switch port down, every process of hI
#                            SIGKILLed (namespaces kept: start it again with run.sh
#                            after `fault.sh heal hI`)
#   fault.sh freeze hI       hang hI: its processes frozen (cgroup freezer; SIGSTOP for
#                            any that left the cgroup)
#   fault.sh thaw hI         resume them
#   fault.sh heal [hI]       undo every fault (of hI only): rules, port down, freeze
#   fault.sh show            the fault rules and switch ports
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
sim_load
[ -r "$STATE/config" ] || die "run $ID is not up"
cmd=${1:-show}
shift || true
unft() { ip netns exec "$ULNS" nft "$@"; }

table() {
	touch "$STATE/faults"
	unft list table bridge faults >/dev/null 2>&1 && return 0
	unft -f - <<'NFT'
table bridge faults {
	set iso { type ifname; }
	set cut { type ifname . ifname; }
	chain forward {
		type filter hook forward priority -200; policy accept;
		iifname @iso counter drop
		oifname @iso counter drop
		iifname . oifname @cut counter drop
	}
}
NFT
}

# escapees hI: processes of hI that are not in its cgroup (SIGSTOP/SIGCONT for them)
escapees() {
	local in
	in=" $(cg_procs "$1" | tr '\n' ' ') "
	host_pids "$1" | while read -r p; do
		[[ "$in" == *" $p "* ]] || echo "$p"
	done
}
freeze() {
	touch "$STATE/$1/frozen"
	cg_freeze "$1" 1
	# shellcheck disable=SC2046
	kill -STOP $(escapees "$1") 2>/dev/null || true
}
thaw() {
	if [ -e "$STATE/$1/frozen" ]; then
		# shellcheck disable=SC2046
		kill -CONT $(escapees "$1") 2>/dev/null || true
		rm -f "$STATE/$1/frozen"
	fi
	cg_freeze "$1" 0
}

heal_host() {
	local j
	if [ -e "$STATE/faults" ]; then
		unft delete element bridge faults iso "{ \"$1\" }" 2>/dev/null || true
		for j in $(seq 1 "$N"); do
			unft delete element bridge faults cut "{ \"$1\" . \"h$j\" }" 2>/dev/null || true
			unft delete element bridge faults cut "{ \"h$j\" . \"$1\" }" 2>/dev/null || true
		done
	fi
	ip -n "$ULNS" link set "$1" up
	thaw "$1"
}

case $cmd in
cut | cut1)
	need_host "${1:-}"
	need_host "${2:-}"
	[ "$1" != "$2" ] || die "cut: two different hosts"
	table
	if [ "$cmd" = cut ]; then
		unft add element bridge faults cut "{ \"$1\" . \"$2\", \"$2\" . \"$1\" }"
	else
		unft add element bridge faults cut "{ \"$1\" . \"$2\" }"
	fi
	;;
isolate)
	need_host "${1:-}"
	table
	unft add element bridge faults iso "{ \"$1\" }"
	;;
kill)
	need_host "${1:-}"
	ip -n "$ULNS" link set "$1" down
	kill_hosts "$1" || die "kill $1: processes left: $(host_pids "$1" | tr '\n' ' ')"
	;;
freeze)
	need_host "${1:-}"
	freeze "$1"
	;;
thaw)
	need_host "${1:-}"
	thaw "$1"
	;;
heal)
	if [ $# -gt 0 ]; then
		need_host "$1"
		heal_host "$1"
	else
		for i in $(seq 1 "$N"); do heal_host "h$i"; done
		unft delete table bridge faults 2>/dev/null || true
		rm -f "$STATE/faults"
	fi
	;;
show)
	unft list table bridge faults 2>/dev/null || echo "(no fault rules)"
	ip -n "$ULNS" -br link show master br0
	;;
*)
	sed -n '2,18p' "$0" >&2
	exit 2
	;;
esac
