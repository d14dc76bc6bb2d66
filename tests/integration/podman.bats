#!/usr/bin/env bats
# podman drives the runtime (through conmon): run --rm, run -d + exec + stop + rm.
# podman is confined to a directory of this file's own: storage (vfs, so no mounts of
# its own), run dirs, events, network config; the image is imported from the busybox
# rootfs, so no network is used.

load helpers

# podman 4.3 and the `podman container cleanup` that conmon starts (without our
# CONTAINERS_CONF) create fixed host paths whatever the config says: /run/libpod,
# /run/containers, /run/<runtime>, /var/lib/containers/cache, /etc/containers/networks.
# So every podman call runs in a private mount namespace where those places are bind
# mounts of directories under $P; conmon, the runtime and the cleanup inherit it.
# (bats 1.8 cannot skip from setup_file: it says why in PODMAN_SKIP and setup skips)
setup_file() {
	export PODMAN_SKIP=
	if ! command -v podman >/dev/null; then
		PODMAN_SKIP="podman is not installed (scripts/deps.sh test installs it)"
		return 0
	fi
	[ -x "$RUNTIME" ] || { PODMAN_SKIP="runtime $RUNTIME not built"; return 0; }
	build_cache
	P=$BATS_FILE_TMPDIR/podman
	mkdir -p "$P"
	cat >"$P/containers.conf" <<-EOC
		[containers]
		default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
		netns = "none"
		[engine]
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		events_logfile_path = "$P/events.log"
		tmp_dir = "$P/tmp"
		static_dir = "$P/static"
		volume_path = "$P/volumes"
		[network]
		network_config_dir = "$P/net"
	EOC
	cat >"$P/storage.conf" <<-EOC
		[storage]
		driver = "vfs"
		graphroot = "$P/root"
		runroot = "$P/runroot"
	EOC
	export CONTAINERS_CONF=$P/containers.conf CONTAINERS_STORAGE_CONF=$P/storage.conf
	export P
	mkdir -p "$P/run" "$P/varlib" "$P/etc"
	cp -a /etc/containers/. "$P/etc/"
	tar -C "$CACHE/rootfs" -c . | pm import - localhost/busybox:test >/dev/null
}

# pm ARGS...: podman confined to this file's directory, driving $RUNTIME.
pm() {
	unshare -m --propagation private sh -c '
		mount --bind "$P/run" /run && mount --bind "$P/varlib" /var/lib &&
		mount --bind "$P/etc" /etc/containers || exit 125
		exec "$@"' pm \
		podman --root "$P/root" --runroot "$P/runroot" --storage-driver vfs \
		--cgroup-manager cgroupfs --events-backend file --runtime "$RUNTIME" "$@"
}

# podman_dir_ok: $P is this file's directory. Guards every match on "$P/": with an
# empty $P that would match every process and mount on the host.
podman_dir_ok() { [ -n "${P:-}" ] && [[ "$P" == "$BATS_RUN_TMPDIR"/?* ]]; }

# processes this file started through podman: anything whose command line names $P
podman_pids() {
	local p
	podman_dir_ok || return 0
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF "$P/" && echo "${p#/proc/}"
	done
	return 0
}

# pmrun CMD...: `podman run --rm` under bats `run`, noting the container id for teardown.
pmrun() {
	rm -f "$BATS_TEST_TMPDIR/cid"
	run pm run --rm --cidfile "$BATS_TEST_TMPDIR/cid" --network none localhost/busybox:test "$@"
	echo "$output"
	[ -s "$BATS_TEST_TMPDIR/cid" ] && PM_IDS+=("$(cat "$BATS_TEST_TMPDIR/cid")")
	return 0
}

podman_mounts() {
	podman_dir_ok || return 0
	awk -v t="$P/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo
}

setup() {
	[ -z "${PODMAN_SKIP:-}" ] || skip "${PODMAN_SKIP}"
	common_setup
	PM_IDS=()
}

# teardown: remove this test's podman containers, then check nothing of them is left.
teardown() {
	local problems=() id d
	[ -z "${PODMAN_SKIP:-}" ] && podman_dir_ok || return 0
	pm rm -f -t 0 -a >/dev/null 2>&1
	[ -z "$(pm ps -aq)" ] || problems+=("podman containers left: $(pm ps -aq)")
	for id in "${PM_IDS[@]}"; do
		[ -n "$id" ] || continue
		for d in /sys/fs/cgroup/*/libpod_parent/libpod-"$id"; do
			[ -d "$d" ] || continue
			problems+=("cgroup left: $d")
			# what is still in the container's own cgroup is the container's
			kill -9 $(cat "$d/cgroup.procs") 2>/dev/null || true
		done
	done
	sleep 0.2
	for id in "${PM_IDS[@]}"; do
		[ -n "$id" ] || continue
		for d in /sys/fs/cgroup/*/libpod_parent/libpod-"$id"; do
			[ -d "$d" ] && rm_cgroup "$d"
		done
	done
	d=$(podman_mounts)
	[ -n "$d" ] && problems+=("mounts left: $(echo $d)")
	d=$(podman_pids)
	[ -n "$d" ] && problems+=("processes left: $(echo $d)") && kill -9 $d
	common_teardown || problems+=("common teardown failed")
	[ "${#problems[@]}" -eq 0 ] && return 0
	printf 'LEAK: %s\n' "${problems[@]}" >&2
	return 1
}

# teardown_file: (bats runs it under set -e: every step may fail without stopping it)
teardown_file() {
	if [ -n "${PODMAN_SKIP:-}" ] || ! podman_dir_ok; then return 0; fi
	pm rm -f -t 0 -a >/dev/null 2>&1 || true
	pm rmi -af >/dev/null 2>&1 || true
	for m in $(podman_mounts | sort -r); do umount -l "$m" || true; done
	for p in $(podman_pids); do kill -9 "$p" || true; done
	for d in /sys/fs/cgroup/*/libpod_parent; do rm_cgroup "$d"; done
	common_teardown_file
}

@test "podman run --rm prints and exits 0" {
	pmrun echo hi
	[ "$status" -eq 0 ]
	[ "$output" = hi ]
	[ -z "$(pm ps -aq)" ]
}

@test "podman run passes the exit code back" {
	pmrun sh -c 'exit 3'
	[ "$status" -eq 3 ]
}

@test "podman run -d, exec, stop, rm" {
	run pm run -d --network none --name "cooptest-pm-$$" localhost/busybox:test sleep 100
	echo "$output"
	[ "$status" -eq 0 ]
	id=${lines[-1]}
	PM_IDS+=("$id")
	[ "$(pm inspect -f '{{.State.Status}}' "$id")" = running ]
	pid=$(pm inspect -f '{{.State.Pid}}' "$id")
	[ -d "/proc/$pid" ]
	run pm exec "$id" sh -c 'echo inside $$; hostname'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "inside "* ]]
	run pm exec "$id" sh -c 'exit 5'
	[ "$status" -eq 5 ]
	run pm stop -t 1 "$id"
	[ "$status" -eq 0 ]
	[ "$(pm inspect -f '{{.State.Status}}' "$id")" = exited ]
	wait_for 5 eval '[ ! -e /proc/$pid ]'
	run pm rm "$id"
	[ "$status" -eq 0 ]
	[ -z "$(pm ps -aq)" ]
}

@test "podman ulimits from containers.conf reach the container" {
	pmrun sh -c 'ulimit -n; ulimit -u'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 1024 ]
	[ "${lines[1]}" = 4096 ]
}
