# shellcheck shell=bash
# cluster.bash — a coop cluster on simulated hosts (tests/sim), shared by
# tests/integration/cluster.bats and bench/failover/run: bring hosts up, make the busybox
# image available on each (every host has its own /var/lib/coop), start `coop daemon`
# on a host with its pid recorded, read the cluster's JSON from any node, poll with a
# deadline, and clean up exactly what was started.
#
# The caller sets REPO, COOP (the coop binary), CL_DIR (a directory outside /run for
# logs, pid files and the image archive) and exports COOP_SIM (the run id) before cl_up.
# Plain bash: nothing here needs bats.

CL_SIM=$REPO/tests/sim
CL_UL=${SIM_UNDERLAY:-10.250.0} # tests/sim's underlay (SIM_UNDERLAY, default 10.250.0): host hI is $CL_UL.I
CL_IMAGE=coop-demo/httpd:1

# on hI CMD...: CMD on host hI; coop_on hI ARGS...: the coop CLI there (its local daemon)
on() { "$CL_SIM/run.sh" "$@"; }
coop_on() {
	local h=$1
	shift
	"$CL_SIM/run.sh" "$h" "$COOP" "$@"
}
cl_ip() { echo "$CL_UL.${1#h}"; }

# now_us: wall clock in microseconds (no fork)
now_us() { echo "${EPOCHREALTIME/./}"; }
# secs_since T0_US: seconds since T0 with two decimals
secs_since() { awk -v a="$1" -v b="$(now_us)" 'BEGIN { printf "%.2f", (b - a) / 1e6 }'; }

# cl_until SECONDS DESC CMD...: run CMD every 0.1 s until it succeeds. On timeout say
# what was awaited and what CMD printed the last time (predicates print what they saw).
cl_until() {
	local secs=$1 desc=$2 end out
	shift 2
	end=$(($(now_us) + secs * 1000000))
	while :; do
		out=$("$@" 2>&1) && return 0
		[ "$(now_us)" -lt "$end" ] || break
		sleep 0.1
	done
	printf 'timed out after %ss waiting for: %s\n  last seen (%s):\n' "$secs" "$desc" "$*" >&2
	printf '%s\n' "$out" | tail -n 30 | sed 's/^/    /' >&2
	return 1
}

# ---- hosts ------------------------------------------------------------------------

# cl_up N: hosts h1..hN (up.sh), each given the busybox image. (up.sh mounts a fresh
# sysfs over /sys, so each host's mountinfo lists every cgroup hierarchy twice: the
# runtime keeps the one in sight — src/runtime/cgroup.c.)
cl_up() {
	local i
	mkdir -p "$CL_DIR/pids"
	"$CL_SIM/up.sh" "$1" >"$CL_DIR/up.log" 2>&1 || {
		cat "$CL_DIR/up.log" >&2
		return 1
	}
	if [ ! -e "$CL_DIR/rootfs.tar" ]; then
		"$REPO/scripts/mkrootfs.sh" "$CL_DIR/rootfs" >/dev/null &&
			tar -C "$CL_DIR/rootfs" -cf "$CL_DIR/rootfs.tar" . || return 1
	fi
	for i in $(seq 1 "$1"); do
		coop_on "h$i" image import --rootfs --name "$CL_IMAGE" "$CL_DIR/rootfs.tar" >/dev/null ||
			{ echo "cl_up: image import on h$i failed" >&2; return 1; }
	done
}

# ---- daemons ----------------------------------------------------------------------

# cl_pid hI: the pid of the daemon cl_daemon last started on hI (empty if none)
cl_pid() { cat "$CL_DIR/pids/$1" 2>/dev/null; }
# cl_is_daemon PID: PID is alive (not a zombie) and is a `coop daemon`
cl_is_daemon() {
	local st
	[ -n "$1" ] || return 1
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st#Z}" = "$st" ] || return 1
	tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -q -- "$COOP daemon"
}

# cl_alive PID: PID exists and is not a zombie
cl_alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

# cl_daemon hI [ARGS...]: `coop daemon ARGS` on hI in the background (log appended to
# $CL_DIR/hI.log, pid in $CL_DIR/pids/hI); returns once its socket answers, or 1 with
# the log's tail if it exits or does not answer within 15 s.
cl_daemon() {
	local h=$1 pid end
	shift
	echo "=== $(date -u +%T.%N) coop daemon $*" >>"$CL_DIR/$h.log"
	# (a subshell that execs: $! is the daemon itself, and no fd of the caller's, such as
	# a $(...) pipe, stays open in a shell waiting for it)
	(exec "$CL_SIM/run.sh" "$h" "$COOP" daemon "$@") </dev/null >>"$CL_DIR/$h.log" 2>&1 3>&- 4>&- &
	pid=$!
	echo "$pid" >"$CL_DIR/pids/$h"
	end=$(($(now_us) + 15000000))
	while [ "$(now_us)" -lt "$end" ]; do
		# (until run.sh and nsenter have exec'd, the pid is alive but not yet
		# `coop daemon`: only a pid that is gone or a zombie has exited)
		if ! cl_is_daemon "$pid" && ! cl_alive "$pid"; then
			wait "$pid" 2>/dev/null
			echo "coop daemon on $h exited (status $?; >128: killed by signal N-128); its log:" >&2
			tail -n 20 "$CL_DIR/$h.log" | sed 's/^/    /' >&2
			return 1
		fi
		# (`coop version` exits 0 without a daemon: look for the daemon's line)
		coop_on "$h" version 2>/dev/null | grep -q '^daemon version' && return 0
		sleep 0.1
	done
	echo "coop daemon on $h does not answer after 15 s; its log:" >&2
	tail -n 20 "$CL_DIR/$h.log" | sed 's/^/    /' >&2
	return 1
}

# cl_stop hI [SIG]: stop the daemon cl_daemon started on hI (by its pid; TERM by
# default), wait up to 10 s for it to be gone. Containers stay.
cl_stop() {
	local pid
	pid=$(cl_pid "$1")
	cl_is_daemon "$pid" || return 0
	kill "-${2:-TERM}" "$pid" 2>/dev/null
	for _ in $(seq 100); do
		cl_is_daemon "$pid" || return 0
		sleep 0.1
	done
	echo "coop daemon on $1 (pid $pid) still runs 10 s after SIG${2:-TERM}" >&2
	return 1
}

# cl_stop_all: every daemon cl_daemon started (TERM, then KILL), by recorded pid only.
cl_stop_all() {
	local f pid
	for f in "$CL_DIR"/pids/*; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		cl_is_daemon "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for f in "$CL_DIR"/pids/*; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		for _ in $(seq 30); do cl_is_daemon "$pid" || break; sleep 0.1; done
		cl_is_daemon "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	return 0
}

# cl_container_cgroups: the cgroupsPath of every container the hosts' daemons made
# (their bundles), to remove the empty cgroups a killed host leaves behind.
cl_container_cgroups() {
	local c
	for c in "/run/coop-sim/$COOP_SIM"/h*/fs/var/lib/coop/containers/*/bundle/config.json; do
		[ -e "$c" ] && jq -r '.linux.cgroupsPath // empty' "$c" 2>/dev/null
	done | sort -u
}

# cl_down: stop our daemons, down.sh (every process, netns and mount of the run), then
# rmdir the containers' (now empty) cgroups. rc of down.sh.
cl_down() {
	local cgs rc=0 p d
	[ -n "${COOP_SIM:-}" ] || return 0
	cl_stop_all
	cgs=$(cl_container_cgroups)
	"$CL_SIM/down.sh" || rc=$?
	for p in $cgs; do
		[[ "$p" == /* && "$p" != *..* ]] || continue
		for d in /sys/fs/cgroup/*"$p"; do
			[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		done
	done
	return "$rc"
}

# ---- cluster ----------------------------------------------------------------------

# cl_init hI [ARGS...]: `coop init ARGS` on hI (name hI, its underlay address); sets
# SERVER_TOKEN and AGENT_TOKEN from its "server token: " and "agent token: " lines (or,
# failing those, the COOP1 tokens it prints, told apart by their role field).
cl_init() {
	local out
	out=$(coop_on "$1" init --address "$(cl_ip "$1")" --name "$1" "${@:2}" 2>&1) || {
		echo "coop init on $1 failed: $out" >&2
		return 1
	}
	SERVER_TOKEN=$(printf '%s\n' "$out" | sed -n 's/^server token: //p')
	AGENT_TOKEN=$(printf '%s\n' "$out" | sed -n 's/^agent token: //p')
	# (any other layout: the tokens by their role field)
	[ -n "$SERVER_TOKEN" ] || SERVER_TOKEN=$(printf '%s\n' "$out" | grep -o 'COOP1-[0-9a-f]*-server-[A-Za-z2-7]*-[0-9a-f]*' | head -1)
	[ -n "$AGENT_TOKEN" ] || AGENT_TOKEN=$(printf '%s\n' "$out" | grep -o 'COOP1-[0-9a-f]*-agent-[A-Za-z2-7]*-[0-9a-f]*' | head -1)
	if [[ "$SERVER_TOKEN" != COOP1-* || "$AGENT_TOKEN" != COOP1-* ]]; then
		echo "coop init on $1: no 'server token: COOP1-...' and 'agent token: COOP1-...' lines in:" >&2
		printf '%s\n' "$out" >&2
		return 1
	fi
}

# cl_join hI SEED TOKEN [ARGS...]: start hI's daemon joining through SEED (hJ).
cl_join() {
	local h=$1 seed=$2 tok=$3
	shift 3
	cl_daemon "$h" --join "$(cl_ip "$seed")" --token "$tok" --address "$(cl_ip "$h")" --name "$h" "$@"
}

# JSON views, read on host hI (the node's replica of the model)
cl_nodes() { coop_on "$1" nodes -o json; }
cl_status() { coop_on "$1" cluster status -o json; }
cl_tasks() { coop_on "$1" tasks ${2:+"$2"} -o json; }
cl_leader() { cl_status "$1" 2>/dev/null | jq -r '.leader.name // empty'; }
# members hI: hI's cluster status in one line (leader, term, index, name:role:state)
members() {
	local j
	j=$(cl_status "$1") || { echo "$j"; return 1; }
	echo "$j" | jq -c '{leader: .leader.name, term, index, members: [.members[]? | "\(.name):\(.role):\(.state // "-")"]}'
}

# node_is hI NODE STATE: hI's `coop nodes` shows NODE in STATE (prints the list)
node_is() {
	local j
	j=$(cl_nodes "$1") || { echo "$j"; return 1; }
	echo "$j" | jq -c '[.[] | {name, role, state}]'
	echo "$j" | jq -e --arg n "$2" --arg s "$3" 'any(.[]; .name == $n and .state == $s)' >/dev/null
}

# ready_count hI N: hI's `coop nodes` shows exactly N nodes, all ready
ready_count() {
	local j
	j=$(cl_nodes "$1") || { echo "$j"; return 1; }
	echo "$j" | jq -c '[.[] | {name, role, state}]'
	echo "$j" | jq -e --argjson n "$2" 'length == $n and all(.[]; .state == "ready")' >/dev/null
}

# has_leader hI [NOT]: hI's cluster status names a leader (other than NOT)
has_leader() {
	local j
	j=$(cl_status "$1") || { echo "$j"; return 1; }
	echo "$j" | jq -c '{leader: .leader.name, term, index, members: [.members[]? | "\(.name):\(.role):\(.state // "-")"]}'
	echo "$j" | jq -e --arg not "${2:-}" '(.leader.name // "") as $l | $l != "" and $l != $not' >/dev/null
}

# tasks_running hI WORKLOAD N [EXCLUDE_NODE]: exactly N tasks of WORKLOAD, each desired and
# observed running, on N different nodes, none on EXCLUDE_NODE (prints the tasks)
tasks_running() {
	local j
	j=$(cl_tasks "$1" "$2") || { echo "$j"; return 1; }
	echo "$j" | jq -c '[.[] | {id, node, desired, observed, generation, container}]'
	echo "$j" | jq -e --argjson n "$3" --arg x "${4:-}" '
		length == $n and all(.[]; .desired == "running" and .observed == "running" and .node != $x)
		and ([.[].node] | unique | length) == $n' >/dev/null
}

# tasks_up hI WORKLOAD N [EXCLUDE_NODE]: as tasks_running, the nodes not necessarily different
tasks_up() {
	local j
	j=$(cl_tasks "$1" "$2") || { echo "$j"; return 1; }
	echo "$j" | jq -c '[.[] | {id, node, desired, observed, generation, container}]'
	echo "$j" | jq -e --argjson n "$3" --arg x "${4:-}" '
		length == $n and all(.[]; .desired == "running" and .observed == "running" and .node != $x)' >/dev/null
}

# local_running hI WORKLOAD: the ids of hI's running containers of WORKLOAD (coop ps)
local_running() {
	coop_on "$1" ps -o json | jq -r --arg w "$2" '.[] | select(.workload == $w and .status == "running") | .id'
}
# runs_container hI WORKLOAD CONTAINER: hI's coop ps shows that container running (ids
# compared by prefix: either side may be the short form)
runs_container() {
	local id
	for id in $(local_running "$1" "$2"); do
		[[ "$id" == "$3"* || "$3" == "$id"* ]] && return 0
	done
	echo "$1 runs these containers of $2: $(local_running "$1" "$2" | tr '\n' ' ') (wanted $3)"
	coop_on "$1" ps -a 2>&1
	return 1
}

# CL_CMD: the replicas' command: sleeps, and ends at once on SIGTERM (a bare `sleep` as
# PID 1 ignores it, and every stop would wait for the SIGKILL fallback)
CL_CMD="trap 'exit 0' TERM; sleep 1000000 & wait"
# bun FILE NAME REPLICAS [EXTRA YAML]: a workload of REPLICAS replicas of $CL_CMD
bun() {
	cat >"$1" <<EOF
version: "1.0"
name: $2
image:
  docker_image: $CL_IMAGE
command: ["sh", "-c", "$CL_CMD"]
replicas:
  min: $3
  max: $3
${4:-}
EOF
}

# ---- a bats file's hosts ------------------------------------------------------------

# cl_file_setup PREFIX N [CMD...]: setup_file of a cluster suite. (bats 1.8 cannot skip
# in setup_file: the reason goes to CL_SKIP and each test's setup skips.) Needs root,
# the coop under test with cluster mode, jq, nsenter, busybox and every CMD given; then
# N hosts under a run id made of PREFIX and this bats process (chosen before up.sh runs,
# so cl_file_teardown cleans up a partial run too).
cl_file_setup() {
	local prefix=$1 n=$2 c
	shift 2
	export CL_SKIP=""
	if [ "$(id -u)" != 0 ]; then
		CL_SKIP="needs root"
	elif [ ! -x "$COOP" ]; then
		CL_SKIP="coop $COOP not built"
	elif ! "$COOP" init --help >/dev/null 2>&1; then
		CL_SKIP="coop init is not built yet (no cluster mode)"
	else
		for c in jq nsenter busybox "$@"; do
			command -v "$c" >/dev/null || CL_SKIP="needs $c"
		done
	fi
	[ -z "$CL_SKIP" ] || return 0
	COOP_SIM=$prefix$(printf '%x' "$$")t$(od -An -N2 -tx2 /dev/urandom | tr -d ' \n')
	COOP_SIM=${COOP_SIM:0:12}
	export COOP_SIM SIM_STATE=/run/coop-sim/$COOP_SIM CL_DIR=$BATS_FILE_TMPDIR/cl COOP
	mkdir -p "$CL_DIR"
	cl_up "$n"
}

# cl_file_teardown: teardown_file of a cluster suite — CL_LOGS=DIR keeps the daemons'
# logs (and *.out files), faults are healed, everything of the run goes (cl_down).
cl_file_teardown() {
	[ -n "${COOP_SIM:-}" ] || return 0
	[ -z "${CL_LOGS:-}" ] || { mkdir -p "$CL_LOGS" && cp "$CL_DIR"/*.log "$CL_DIR"/*.out "$CL_LOGS"/ 2>/dev/null; }
	"$CL_SIM/fault.sh" heal >/dev/null 2>&1
	cl_down
}

# ---- each test of a cluster suite ---------------------------------------------------

# cl_setup: a test's setup — skip when setup_file could not make the hosts, load what
# earlier tests learned (keep), skip when the first test did not form the cluster
cl_setup() {
	[ -z "$CL_SKIP" ] || skip "$CL_SKIP"
	[ -e "$CL_DIR/vars" ] && . "$CL_DIR/vars"
	if [ "$BATS_TEST_NUMBER" -gt 1 ] && [ -z "${FORMED:-}" ]; then
		skip "no cluster: the first test did not form it"
	fi
	return 0
}

# cl_restore: a test's teardown — hosts a test killed or isolated and did not bring back
# (it failed before; listed in $CL_DIR/restore) come back for the next tests
cl_restore() {
	local h
	[ -s "${CL_DIR:-/nonexistent}/restore" ] || return 0
	for h in $(cat "$CL_DIR/restore"); do
		"$CL_SIM/fault.sh" heal "$h"
		cl_is_daemon "$(cl_pid "$h")" || cl_daemon "$h" || true
	done
	rm -f "$CL_DIR/restore"
}

# keep NAME VALUE: NAME=VALUE for the later tests (cl_setup loads it)
keep() { printf '%s=%q\n' "$1" "$2" >>"$CL_DIR/vars"; }
# report: a line in the TAP output whether the test passes or not
report() { echo "# $*" >&3; }
