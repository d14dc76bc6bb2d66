# helpers.bash — shared setup for the runtime's bats suite: a busybox rootfs and the test
# tools built once per run, one bundle and state root per test, and a teardown that
# deletes what the test made and fails the test if anything (state, mounts, cgroups,
# processes) is left behind. Works against any runc-compatible $RUNTIME.

bats_require_minimum_version 1.5.0

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD:-build}
[[ "$BUILD_DIR" == /* ]] || BUILD_DIR=$REPO/$BUILD_DIR
RUNTIME=${RUNTIME:-$BUILD_DIR/coop-runtime}
CACHE=$BATS_RUN_TMPDIR/cache
TOOLS=$CACHE/tools
CGROUP_PARENT=cooptest

# is_runc: the runtime under test is runc (used to skip coop-only behaviour).
is_runc() { [ "$(basename "$RUNTIME")" = runc ]; }

fail() {
	echo "FAIL: $*" >&2
	return 1
}

# build_cache: the rootfs and tools, built once per bats run (flock: files may run in
# parallel with --jobs). Static helpers go into the rootfs as /usr/local/bin/NAME.
build_cache() {
	mkdir -p "$CACHE"
	(
		flock 9
		[ -e "$CACHE/done" ] && exit 0
		# (set -e does not apply under the caller's ||: check each step)
		rm -rf "$CACHE/rootfs" "$TOOLS"
		"$REPO/scripts/mkrootfs.sh" "$CACHE/rootfs" >&2 || exit 1
		mkdir -p "$CACHE/rootfs/usr/local/bin" "$TOOLS" || exit 1
		for src in "$REPO"/tests/tools/static/*.c; do
			[ -e "$src" ] || continue
			gcc -static -O2 -Wall -Wextra -Werror -o \
				"$CACHE/rootfs/usr/local/bin/$(basename "$src" .c)" "$src" || exit 1
		done
		# host-side tools: reuse `make tools` output when it is current
		for src in "$REPO"/tests/tools/*.c; do
			[ -e "$src" ] || continue
			name=$(basename "$src" .c)
			built=$BUILD_DIR/tools/$name
			if [ -x "$built" ] && [ "$built" -nt "$src" ]; then
				cp "$built" "$TOOLS/$name"
			else
				gcc -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE \
					-o "$TOOLS/$name" "$src" || exit 1
			fi
		done
		touch "$CACHE/done" || exit 1
	) 9>"$CACHE.lock"
}

# rt ARGS...: the runtime with this test's state root.
rt() { "$RUNTIME" --root "$STATE_ROOT" "$@"; }

common_setup() {
	[ -x "$RUNTIME" ] || skip "runtime $RUNTIME not built"
	build_cache || fail "cannot build rootfs/tools cache"
	STATE_ROOT=$BATS_TEST_TMPDIR/state
	mkdir -p "$STATE_ROOT"
	CONTAINERS=()
	ROOTFS_IDS=()
	BG_PIDS=()
}

# new_container [NAME]: a fresh bundle in $BUNDLE with id $CID, config from
# `$RUNTIME spec` with terminal off, a writable root, a known cgroupsPath and `true`
# as the process.
# Every container made here is force-deleted and checked by teardown.
new_container() {
	local name=${1:-c}
	CID=cooptest-$BATS_TEST_NUMBER-$name-$$
	BUNDLE=$BATS_TEST_TMPDIR/$name
	mkdir -p "$BUNDLE"
	cp -a "$CACHE/rootfs" "$BUNDLE/rootfs"
	(cd "$BUNDLE" && "$RUNTIME" spec) || fail "$RUNTIME spec failed"
	CONTAINERS+=("$CID")
	ROOTFS_IDS+=("$(stat -c %d:%i "$BUNDLE/rootfs")")
	cfg ".process.terminal = false | .process.args = [\"true\"] | .root.readonly = false
	     | .linux.cgroupsPath = \"/$CGROUP_PARENT/$CID\""
}

# cfg JQ-FILTER [jq options...]: (options after the file, so --args works) edit $BUNDLE/config.json in place.
cfg() {
	local filter=$1
	shift
	jq "$filter" "$BUNDLE/config.json" "$@" >"$BUNDLE/config.json.new" &&
		mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"
}

# set_args ARG...: the container process's argv.
set_args() { cfg '.process.args = $a' --argjson a "$(json_array "$@")"; }

# json_array WORD...: the words as a JSON array of strings (jq's --args would take
# words like "-c" as its own options).
json_array() { jq -nc '$ARGS.positional' --args -- "$@"; }

# sh_args SCRIPT: run SCRIPT with the rootfs's sh.
sh_args() { set_args sh -c "$1"; }

# run_detached ID: `run -d` with the container's stdio on files in the bundle, so no
# pipe of bats's stays open. Output of the container: $BUNDLE/out, $BUNDLE/err.
run_detached() {
	rt run -d --bundle "$BUNDLE" "$@" "$CID" <"/dev/null" >"$BUNDLE/out" 2>"$BUNDLE/err" 3>&-
}

# create_container [OPTS]: `create` the same way.
create_container() {
	rt create --bundle "$BUNDLE" "$@" "$CID" </dev/null >"$BUNDLE/out" 2>"$BUNDLE/err" 3>&-
}

# state_of ID FIELD: one field of `state` (empty if the container is unknown).
state_of() { rt state "$1" 2>/dev/null | jq -r ".$2"; }

# wait_for SECONDS CMD...: retry CMD every 0.1 s until it succeeds.
wait_for() {
	local n=$(($1 * 10))
	shift
	while ! "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

status_is() { [ "$(state_of "$1" status)" = "$2" ]; }

# wait_status ID STATUS
wait_status() { wait_for 10 status_is "$1" "$2" || fail "$1 not $2: $(rt state "$1" 2>&1)"; }

# in_container ID CMD...: exec CMD and capture its output with bats `run`.
in_container() { run rt exec "$@" </dev/null; }

# cg_dirs ID: cgroup directories named after ID, in any hierarchy.
cg_dirs() {
	local d
	[ -n "$1" ] || return 0
	for d in /sys/fs/cgroup/*/"$CGROUP_PARENT/$1"; do
		[ -d "$d" ] && echo "$d"
	done
	return 0
}

# leaked_pids: processes whose root is one of this test's rootfs, or that sit in one
# of its cgroups — i.e. processes this test started and the runtime did not reap.
leaked_pids() {
	local p id d
	[ "${#ROOTFS_IDS[@]}" -eq 0 ] && return 0
	for p in /proc/[0-9]*; do
		id=$(stat -L -c %d:%i "$p/root" 2>/dev/null) || continue
		for d in "${ROOTFS_IDS[@]}"; do
			[ "$id" = "$d" ] && echo "${p#/proc/}"
		done
	done
	for id in "${CONTAINERS[@]}"; do
		for d in $(cg_dirs "$id"); do
			cat "$d/cgroup.procs" 2>/dev/null
		done
	done | sort -u
}

# state_entries: container entries in this test's state root. Dot-entries are the
# runtime's own files (coop keeps a compiled-seccomp cache there), not containers.
state_entries() { ls "$STATE_ROOT" 2>/dev/null; }

our_mounts() {
	[ -n "${BATS_TEST_TMPDIR:-}" ] || return 0
	awk -v t="$BATS_TEST_TMPDIR" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo
}

# rm_cgroup DIR: remove a cgroup subtree depth-first (rmdir only; cgroups hold no files).
rm_cgroup() {
	find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
	return 0
}

# common_teardown: delete every container by id, then check that nothing is left;
# clean up by hand what the runtime left (so the host stays clean) and fail if it did.
common_teardown() {
	local id p m d left problems=()
	for p in "${BG_PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for id in "${CONTAINERS[@]}"; do
		rt delete --force "$id" >/dev/null 2>&1
	done
	left=$(state_entries)
	if [ -n "$left" ]; then
		problems+=("state root not empty: $(echo $left)")
		# the root is this test's own: whatever is in it, this test made
		for id in $left; do
			rt delete --force "$id" >/dev/null 2>&1
			CONTAINERS+=("$id")
		done
	fi
	p=$(leaked_pids)
	if [ -n "$p" ]; then
		problems+=("processes left: $(echo $p)")
		kill -9 $p 2>/dev/null
		sleep 0.2
	fi
	m=$(our_mounts)
	if [ -n "$m" ]; then
		problems+=("mounts left: $(echo $m)")
		for d in $(echo "$m" | sort -r); do umount -l "$d" 2>/dev/null; done
	fi
	for id in "${CONTAINERS[@]}"; do
		d=$(cg_dirs "$id")
		[ -z "$d" ] && continue
		problems+=("cgroups left: $(echo $d)")
		for m in $d; do rm_cgroup "$m"; done
	done
	[ "${#problems[@]}" -eq 0 ] && return 0
	printf 'LEAK: %s\n' "${problems[@]}" >&2
	return 1
}

# common_teardown_file: drop the shared cgroup parent if it is empty (it was created by
# the runtime for our cgroupsPath values; rmdir fails harmlessly while in use).
common_teardown_file() {
	rmdir /sys/fs/cgroup/*/"$CGROUP_PARENT" 2>/dev/null
	return 0
}

setup() { common_setup; }
teardown() { common_teardown; }
teardown_file() { common_teardown_file; }
