#!/usr/bin/env bash
# up.sh N — simulated hosts h1..hN for one test run (see lib.sh for the layout).
#
#   export "$(tests/sim/up.sh 3)"           # prints COOP_SIM=<new run id>
#   COOP_SIM=cs42 tests/sim/up.sh 3         # or choose the id (set it before up.sh, so
#                                           # that down.sh can clean up even if up fails)
#   tests/sim/run.sh h1 build/coop daemon &   # a command "on" h1 ($! = its pid)
#   tests/sim/run.sh h3 curl -s http://h1:7443/   # hosts resolve h1..hN (/etc/hosts)
#   tests/sim/fault.sh cut h1 h3; tests/sim/fault.sh heal
#   tests/sim/down.sh                       # everything of the run; rc 1 if any is left
#
# Idempotent for one id: running it again repairs the run, or grows it to more hosts.
# Needs root; uses iproute2, util-linux, nftables (for SIM_BRIDGE=1) and procps.
# Every namespace, mount and cgroup it makes is named after the id or recorded under
# $SIM_BASE/<id> before it is made, so down.sh can remove exactly that.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

NEW=${1:?usage: up.sh N}
[[ "$NEW" =~ ^[0-9]+$ ]] && [ "$NEW" -ge 1 ] && [ "$NEW" -le 250 ] || die "N must be 1..250"
[ "$(id -u)" = 0 ] || die "must run as root"
for t in ip nsenter unshare mountpoint findmnt ps; do
	command -v "$t" >/dev/null || die "$t not installed (iproute2, util-linux, procps)"
done
[ -n "${COOP_SIM:-}" ] || COOP_SIM=cs$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
sim_load

# --- configuration: recorded on the first up, kept afterwards ----------------------
if [ ! -r "$STATE/config" ]; then
	UL=${SIM_UNDERLAY:-10.250.0}
	BRIDGE=${SIM_BRIDGE:-0}
	BRNET=${SIM_BRIDGE_NET:-10.251}
	DIRS="/var/lib/coop /etc/coop ${SIM_DIRS:-}"
	[[ "$UL" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "SIM_UNDERLAY must be A.B.C (a /24)"
	[[ "$BRNET" =~ ^[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "SIM_BRIDGE_NET must be A.B (a /16)"
	for d in $DIRS; do
		[[ "$d" == /* ]] && [[ "$d" != *..* ]] && [ "$d" != / ] || die "SIM_DIRS: '$d' is not an absolute path"
	done
fi
ranges=("$UL.0/24")
[ "$BRIDGE" = 1 ] && ranges+=("$BRNET.0.0/16")
check_ranges "${ranges[@]}"
[ "$NEW" -gt "$N" ] && N=$NEW
CG=$(cg_root)

# the state dir is a private bind mount: a persistent mount-ns handle (unshare
# --mount=FILE) must not live on a shared mount
mkdir -p "$STATE"
mountpoint -q "$STATE" || mount --bind "$STATE" "$STATE"
mount --make-private "$STATE"
cat >"$STATE/config" <<EOF
N=$N
UL='$UL'
BRIDGE='$BRIDGE'
BRNET='$BRNET'
DIRS='$DIRS'
CG='$CG'
EOF

# --- mount points outside /run: made in the root fs only if missing, shared by all runs
# (under a lock; the last run's down.sh removes the ones a run made) ----------------------
(
	while :; do
		exec 9>>"$SIM_BASE/.lock"
		flock 9
		[ "$(stat -c %i "$SIM_BASE/.lock" 2>/dev/null)" = "$(stat -L -c %i /proc/self/fd/9)" ] && break
		exec 9>&-
		mkdir -p "$SIM_BASE"
	done
	for d in $DIRS; do
		case $d in /run | /run/*) continue ;; esac
		if [ ! -d "$d" ]; then
			mkdir -p "$d"
			echo "$d" >>"$SIM_BASE/.created-dirs"
		fi
	done
)

sysns() { ip netns exec "$1" sysctl -qw "${@:2}" >/dev/null; }
mkns() {
	ns_ok "$1" && return 0
	rm -f "/run/netns/$1" 2>/dev/null || true
	ip netns add "$1"
}

# --- the underlay switch ---------------------------------------------------------------
mkns "$ULNS"
ip -n "$ULNS" link set lo up
# br_netfilter is built in: turn it off in the switch's own netns, so underlay frames
# never meet a firewall of the root netns or of the hosts
sysns "$ULNS" net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 \
	net.bridge.bridge-nf-call-arptables=0 net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$ULNS" link show br0 >/dev/null 2>&1 || ip -n "$ULNS" link add br0 type bridge stp_state 0 mcast_snooping 0
ip -n "$ULNS" link set br0 up

[ -z "$CG" ] || mkdir -p "$CG"

# --- hosts --------------------------------------------------------------------------------
for i in $(seq 1 "$N"); do
	h=h$i ns=$(hostns "h$i")
	mkns "$ns"
	sysns "$ns" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
		net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	ip -n "$ns" link set lo up
	if ! ip -n "$ULNS" link show "$h" >/dev/null 2>&1; then
		ip -n "$ns" link del eth0 2>/dev/null || true
		ip -n "$ULNS" link add "$h" type veth peer name eth0 netns "$ns"
	fi
	ip -n "$ULNS" link set "$h" master br0 mtu 1500 up
	# shellcheck disable=SC2086 # the octets of $UL as words
	ip -n "$ns" link set eth0 address "$(printf '02:00:%02x:%02x:%02x:%02x' ${UL//./ } "$i")" mtu 1500 up
	ip -n "$ns" addr replace "$UL.$i/24" dev eth0

	if [ "$BRIDGE" = 1 ]; then
		ip -n "$ns" link show cbr0 >/dev/null 2>&1 || ip -n "$ns" link add cbr0 type bridge stp_state 0
		ip -n "$ns" link set cbr0 up
		ip -n "$ns" addr replace "$BRNET.$i.1/24" dev cbr0
		ip netns exec "$ns" nft -f - <<EOF
table ip coopsim
delete table ip coopsim
table ip coopsim {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr $BRNET.$i.0/24 ip daddr != $BRNET.0.0/16 oifname "eth0" masquerade
	}
}
EOF
	fi

	# the host's "OS": a persistent mount + UTS namespace
	mkdir -p "$STATE/$h/fs/run" "$STATE/$h/cg"
	for d in $DIRS; do mkdir -p "$STATE/$h/fs$d"; done
	{
		printf '127.0.0.1 localhost\n'
		for j in $(seq 1 "$N"); do printf '%s.%s h%s\n' "$UL" "$j" "$j"; done
	} >"$STATE/$h/hosts.new"
	touch "$STATE/$h/hosts"
	cat "$STATE/$h/hosts.new" >"$STATE/$h/hosts" # same inode: it is bind-mounted
	rm -f "$STATE/$h/hosts.new"
	[ -z "$CG" ] || mkdir -p "$CG/$h"

	# (re)made if missing, or if netns $ns was re-created since (its /sys would be stale)
	netino=$(ns_ino "/run/netns/$ns")
	if mountpoint -q "$STATE/$h/mnt" && [ "$(cat "$STATE/$h/netino" 2>/dev/null)" != "$netino" ]; then
		umount "$STATE/$h/mnt" "$STATE/$h/uts" 2>/dev/null || true
	fi
	if ! mountpoint -q "$STATE/$h/mnt"; then
		touch "$STATE/$h/mnt" "$STATE/$h/uts"
		echo "$netino" >"$STATE/$h/netino"
		# shellcheck disable=SC2016,SC2086 # the script is for sh; $DIRS are words
		nsenter --net="/run/netns/$ns" \
			unshare --mount="$STATE/$h/mnt" --uts="$STATE/$h/uts" --propagation slave \
			/bin/sh -ec '
			h=$1 hs=$2
			shift 2
			# namespace handles copied from the root would pin other namespaces
			findmnt -rn -t nsfs -o TARGET | sort -r | while read -r m; do umount "$m" 2>/dev/null || true; done
			hostname "$h"
			for d in "$@"; do
				case $d in /run/*) ;; *) mount --bind "$hs/fs$d" "$d" ;; esac
			done
			mount --bind "$hs/hosts" /etc/hosts
			# a sysfs of this netns (/sys/class/net), keeping the cgroup mounts
			mount --rbind /sys/fs/cgroup "$hs/cg"
			mount -t sysfs sysfs /sys
			mount --move "$hs/cg" /sys/fs/cgroup
			# a private /run last (it covers the state dir)
			mount --bind "$hs/fs/run" /run
			mkdir -p /run/lock /run/netns /run/coop /run/coop-runtime
			for d in "$@"; do case $d in /run/*) mkdir -p "$d" ;; esac; done
		' sh "$h" "$STATE/$h" $DIRS
	fi
done
log "up: run $ID, hosts h1..h$N on $UL.0/24 (state $STATE${CG:+, cgroup $CG})"
echo "COOP_SIM=$ID"
