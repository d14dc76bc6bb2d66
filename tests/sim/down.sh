#!/usr/bin/env bash
# down.sh — remove everything run $COOP_SIM made: its hosts' processes (TERM, then
# KILL), cgroups, mount-ns handles, network namespaces (with every link, address and
# nft table in them), the state dir, and the mount-point dirs it had to create (when no
# other run still uses them). Only what the run recorded or named after its id is
# touched. Idempotent; exits non-zero, naming them, if anything is left.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
sim_load
CG=${CG:-}
hosts=$(seq -f 'h%g' 1 "$N")
left=()

# 1. processes: TERM, 2 s grace, then KILL
# shellcheck disable=SC2046,SC2086
[ -z "$hosts" ] || wait_gone 2 $(signal_hosts TERM $hosts) || true
# shellcheck disable=SC2086
[ -z "$hosts" ] || kill_hosts $hosts || left+=("processes: $(host_pids $hosts | tr '\n' ' ')")

# 2. cgroups (rmdir only, deepest first; they empty as killed tasks exit)
if [ -n "$CG" ] && [ -d "$CG" ]; then
	for _ in $(seq 30); do
		find "$CG" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$CG" ] || break
		sleep 0.1
	done
fi

# 3. mount-ns handles, then the network namespaces (the switch last)
for h in $hosts; do
	for f in "$STATE/$h/mnt" "$STATE/$h/uts"; do
		mountpoint -q "$f" 2>/dev/null && { umount "$f" || umount -l "$f"; }
	done
done
for ns in $(for h in $hosts; do hostns "$h"; done) "$ULNS"; do
	if ns_ok "$ns"; then
		ip netns del "$ns" || umount -l "/run/netns/$ns"
	fi
	[ -e "/run/netns/$ns" ] && rm -f "/run/netns/$ns"
done

# 4. the state dir: unmounted, then removed only if nothing is mounted under it
if [ -d "$STATE" ]; then
	findmnt -rn -o TARGET | awk -v s="$STATE" 'index($0, s) == 1' | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	if findmnt -rn -o TARGET | awk -v s="$STATE" 'index($0, s) == 1' | grep -q .; then
		left+=("mounts under $STATE")
	else
		rm -rf --one-file-system "$STATE"
	fi
fi

# 5. mount points made in the root fs, once no run uses them
if [ -d "$SIM_BASE" ] && [ -e "$SIM_BASE/.lock" ]; then
	(
		exec 9>>"$SIM_BASE/.lock"
		flock 9
		[ -n "$(ls "$SIM_BASE")" ] && exit 0 # another run is up
		if [ -r "$SIM_BASE/.created-dirs" ]; then
			sort -ru "$SIM_BASE/.created-dirs" | while read -r d; do rmdir "$d" 2>/dev/null; done
		fi
		rm -f "$SIM_BASE/.created-dirs" "$SIM_BASE/.lock"
		rmdir "$SIM_BASE" 2>/dev/null
	)
fi

# 6. check: nothing named after the run is left
ns_left=$(ip netns list 2>/dev/null | awk -v id="$ID" 'index($1, id) == 1 { print $1 }')
[ -z "$ns_left" ] || left+=("netns: $(echo "$ns_left" | tr "\n" " ")")
links=$(ip -o link show 2>/dev/null | awk -F': ' -v id="$ID" 'index($2, id) { print $2 }')
[ -z "$links" ] || left+=("links: $(echo "$links" | tr "\n" " ")")
mnts=$(awk -v id="$ID" -v s="$STATE" 'index($5, s) == 1 || index($4, "coopsim-" id) { print $5 }' /proc/self/mountinfo)
[ -z "$mnts" ] || left+=("mounts: $(echo "$mnts" | tr "\n" " ")")
[ -n "$CG" ] && [ -d "$CG" ] && left+=("cgroup: $CG")
[ -e "$STATE" ] && left+=("state: $STATE")
if [ "${#left[@]}" -gt 0 ]; then
	printf '[sim] down: left behind: %s\n' "${left[@]}" >&2
	exit 1
fi
log "down: run $ID removed"
