#!/usr/bin/env bats
# disk.bats — `coop run --disk SIZE` and `.bun` resources.disk end to end: a real
# daemon (own --state/--run under the test's temp dir) limits a container's writable
# layer; writes past the limit fail inside the container, within it they work; the
# limit survives kill -9 of the daemon and a restart of the container; removal leaves
# no loop device, mount or file; bad sizes and hosts that cannot enforce a limit are
# refused with one line and nothing made. The project-quota path runs on an ext4 made
# with -O quota,project and mounted prjquota as the daemon's state dir, where the
# kernel can mount one.

bats_require_minimum_version 1.5.0

load daemon

IMG=coop-demo/httpd:1

id_of() { "$COOP" inspect "$1" | jq -r '.[0].id'; }
# what of container id $1 is left on the host: loop devices, mounts, its directory
loops_of() { losetup -a | grep -F "/containers/$1/" || true; }
mounts_of() { grep -F "/containers/$1/" /proc/self/mounts || true; }
no_loops() { [ -z "$(loops_of "$1")" ]; }
n_containers() { ls "$D/state/containers" | wc -l; }
# pids of other mount namespaces holding a mount whose path has $1: a namespace made
# (private) while the container ran keeps its copy, and the loop device with it, until
# it ends — theirs, not a leak of ours
foreign_holders() {
	local self p
	self=$(readlink /proc/self/ns/mnt)
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/mnt" 2>/dev/null)" != "$self" ] || continue
		grep -qF "$1" "$p/mountinfo" 2>/dev/null && echo "${p#/proc/}"
	done | head -3 | tr '\n' ' '
}
# within 10 s no loop device of container $1 is left (or only one another namespace holds)
loop_released() {
	local h
	wait_until 10 no_loops "$1" && return 0
	h=$(foreign_holders "/containers/$1/")
	[ -n "$h" ] || { echo "loop device left, held by nobody: $(loops_of "$1")"; return 1; }
	echo "# note: $(loops_of "$1") held by other mount namespaces (pids $h)" >&3
}
# after removal: nothing of container $1 in our namespace, its directory gone, no loop
removed_clean() {
	wait_until 10 bash -c "[ ! -e '$D/state/containers/$1' ]" || { echo "dir left"; return 1; }
	[ -z "$(mounts_of "$1")" ] || { echo "mounts left: $(mounts_of "$1")"; return 1; }
	loop_released "$1"
}

setup() {
	[ -n "${D:-}" ] || skip "coop daemon not built"
}

setup_file() {
	daemon_file_setup "$IMG"
}

# the daemon of a test that needs its own (state dir $1, socket under it)
start_other() {
	local dir=$1
	shift
	"$@" "$COOP" daemon --state "$dir/state" --run "$dir/run" >>"$dir/daemon.log" 2>&1 &
	echo $! >"$dir/daemon.pid"
	for _ in $(seq 50); do
		# (`coop version` exits 0 without a daemon: its line says it answered)
		[ -S "$dir/run/coop.sock" ] && COOP_SOCKET=$dir/run/coop.sock "$COOP" version 2>/dev/null |
			grep -q '^daemon version' && return 0
		sleep 0.1
	done
	cat "$dir/daemon.log" >&2
	return 1
}

# stops the daemon of $1 and everything it left (containers, mounts); then the mount
# at $1/.. if the test made one
stop_other() {
	local dir=$1 pid f
	[ -d "$dir" ] || return 0
	COOP_SOCKET=$dir/run/coop.sock "$COOP" ps -a -q 2>/dev/null | while read -r id; do
		COOP_SOCKET=$dir/run/coop.sock "$COOP" rm -f "$id" >/dev/null 2>&1
	done
	pid=$(cat "$dir/daemon.pid" 2>/dev/null) && kill "$pid" 2>/dev/null && wait_gone "$pid"
	for f in "$dir"/state/containers/*/monitor.pid; do
		[ -e "$f" ] && kill -9 "$(cut -d' ' -f1 "$f")" 2>/dev/null
	done
	grep -o " $dir/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
	return 0
}

teardown_file() {
	[ -n "${D:-}" ] || return 0
	stop_other "$D"
	for m in "$D/q" "$D/nomkfs" "$D/noloop"; do
		stop_other "$m"
		mountpoint -q "$m" && umount -l "$m"
	done
	rm -rf "$D"
}

@test "disk: a write past --disk fails inside the container, one within it works" {
	run "$COOP" run --rm --image "$IMG" --disk 32M -- sh -c '
		dd if=/dev/zero of=/big bs=1M count=64 2>&1; echo "big=$?"; rm -f /big
		dd if=/dev/zero of=/ok bs=1M count=8 2>/dev/null; echo "ok=$?"; df -k / | tail -1'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"No space left on device"* ]]
	[[ "$output" == *"big=1"* ]]
	[[ "$output" == *"ok=0"* ]]
	# the container sees its limit as the size of /
	size=$(echo "$output" | tail -1 | awk '{print $2}')
	[ "$size" -le 32768 ] && [ "$size" -ge 16384 ]
	wait_until 10 bash -c "[ \$(ls '$D/state/containers' | wc -l) -eq 0 ]"
	[ -z "$(grep -F "$D/state/containers/" /proc/self/mounts)" ]
	wait_until 10 bash -c "[ -z \"\$(losetup -a | grep -F '$D/state/containers/')\" ]" ||
		[ -n "$(foreign_holders "$D/state/containers/")" ]
}

@test "disk: the limit survives kill -9 of the daemon; stop frees the device; rm leaves nothing" {
	run "$COOP" run -d --image "$IMG" --name dk --disk 48M -- sleep 1000
	[ "$status" -eq 0 ]
	wait_until 10 is_status dk-1 running
	id=$(id_of dk-1)
	"$COOP" inspect dk-1 | jq -e '.[0].disk | .limit == 50331648 and .kind == "loop" and .used >= 0'
	[ -n "$(loops_of "$id")" ]
	[ -n "$(mounts_of "$id")" ]

	kill -9 "$(cat "$D/daemon.pid")"
	wait_gone "$(cat "$D/daemon.pid")"
	start_daemon
	is_status dk-1 running
	[ -n "$(loops_of "$id")" ]
	run "$COOP" exec dk-1 sh -c 'dd if=/dev/zero of=/f bs=1M count=80 2>&1; echo "dd=$?"'
	[[ "$output" == *"No space left on device"* ]]
	[[ "$output" == *"dd=1"* ]]
	used=$("$COOP" inspect dk-1 | jq '.[0].disk.used')
	[ "$used" -gt $((30 << 20)) ] && [ "$used" -le $((48 << 20)) ]

	# a stopped container holds no loop device; its layer stays (rw.img)
	"$COOP" stop --timeout 1s dk-1
	wait_until 10 is_status dk-1 exited
	[ -z "$(mounts_of "$id")" ]
	loop_released "$id"
	[ -f "$D/state/containers/$id/rw.img" ]

	"$COOP" rm dk-1
	removed_clean "$id"
}

@test "disk: a container that cannot start leaves no loop device or mount" {
	run "$COOP" run -d --image "$IMG" --name dkf --disk 32M -- /no/such/program
	[ "$status" -eq 0 ]
	wait_until 10 is_status dkf-1 exited
	id=$(id_of dkf-1)
	"$COOP" inspect dkf-1 | jq -e '.[0].exit_code != 0'
	[ -z "$(mounts_of "$id")" ]
	loop_released "$id"
	[ -f "$D/state/containers/$id/rw.img" ] # made before the start failed; kept until rm
	"$COOP" rm dkf-1
	removed_clean "$id"
}

@test "disk: .bun resources.disk; a restarted container gets its layer back, still limited" {
	cat >"$D/dkb.bun" <<-EOF
	version: "1.0"
	name: dkb
	image: {docker_image: $IMG}
	restart: on-failure:3
	command: ["sh", "-c", "if [ -e /mark ]; then echo second run; dd if=/dev/zero of=/f bs=1M count=40 2>&1; sleep 1000; else touch /mark; echo first run; exit 1; fi"]
	resources:
	  disk: 24M
	EOF
	run "$COOP" run -d "$D/dkb.bun"
	[ "$status" -eq 0 ]
	wait_until 20 bash -c "'$COOP' logs dkb-1 2>/dev/null | grep -q 'No space left'"
	run "$COOP" logs dkb-1
	[[ "$output" == *"first run"*"second run"* ]]
	id=$(id_of dkb-1)
	[ -n "$(loops_of "$id")" ]
	"$COOP" workload rm dkb
	removed_clean "$id"
}

@test "disk: bad --disk and resources.disk values: one line, exit 1, nothing made" {
	local before n
	before=$(n_containers)
	for v in 1x 4M 15m 9T '' -1G; do
		run "$COOP" run --image "$IMG" --disk "$v" -- true
		[ "$status" -eq 1 ] || { echo "--disk '$v': status $status"; return 1; }
		[ "${#lines[@]}" -eq 1 ] || { echo "--disk '$v': $output"; return 1; }
		[[ "$output" == "coop: --disk: "* ]]
	done
	run "$COOP" run --image "$IMG" --disk 4M -- true
	[ "$output" = "coop: --disk: 4M is below the 16 MiB minimum" ]
	for f in disk disk-small; do
		run "$COOP" run "$REPO/tests/bun/bad/$f.bun"
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == *"resources.disk: "* ]]
	done
	# past the CLI, the API checks again
	run curl -s --unix-socket "$COOP_SOCKET" -X POST -d '{"image":"'"$IMG"'","disk":"2k"}' http://coop/v1/containers
	[[ "$output" == *"below the 16 MiB minimum"*'"field":"disk"'* ]]
	run curl -s --unix-socket "$COOP_SOCKET" -X POST -d '{"name":"x","image":"'"$IMG"'","resources":{"disk":1}}' http://coop/v1/workloads
	[[ "$output" == *"resources.disk"* ]]
	n=$(n_containers)
	[ "$n" -eq "$before" ]
	run "$COOP" workload ls
	[[ "$output" != *" x "* ]]
}

@test "disk: refused with one line naming what is missing where no way to limit works" {
	local o=$D/nomkfs
	mkdir -p "$o"
	"$COOP" image --store "$o/state/images" import --rootfs --name "$IMG" "$D/rootfs.tar" >/dev/null
	# no mkfs.ext4 in the daemon's PATH, on a filesystem without project quotas
	start_other "$o" env PATH=/nonexistent
	export COOP_SOCKET=$o/run/coop.sock
	run "$COOP" run --image "$IMG" --disk 1G -- true
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"--disk/resources.disk cannot be enforced here"*"does not enforce project quotas"*"mkfs.ext4 is not in PATH (install e2fsprogs)"* ]]
	[ -z "$(ls "$o/state/containers")" ]
	[ "$("$COOP" workload ls -o json | jq length)" -eq 0 ]
	# without --disk the same daemon runs containers
	run "$COOP" run --rm --image "$IMG" -- echo fine
	[ "$output" = fine ]
	stop_other "$o"
}

@test "disk: refused with one line where there are no loop devices" {
	local o=$D/noloop
	mkdir -p "$o/nodev"
	"$COOP" image --store "$o/state/images" import --rootfs --name "$IMG" "$D/rootfs.tar" >/dev/null
	# the daemon sees a /dev of its own without loop-control (as in a container)
	start_other "$o" env NODEV="$o/nodev" unshare -m --propagation private sh -c '
		mount -t tmpfs tmpfs "$NODEV" || exit 1
		for n in null zero full random urandom tty; do
			touch "$NODEV/$n" && mount --bind "/dev/$n" "$NODEV/$n" || exit 1
		done
		mount --bind "$NODEV" /dev && exec "$@"' sh
	export COOP_SOCKET=$o/run/coop.sock
	run "$COOP" run --image "$IMG" --disk 64M -- true
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"cannot be enforced here"*"open /dev/loop-control: No such file or directory" ]]
	[ -z "$(ls "$o/state/containers")" ]
	stop_other "$o"
}

@test "disk: project quotas on an ext4 with -O quota,project mounted prjquota" {
	local q=$D/q
	mkdir -p "$q"
	truncate -s 256M "$D/q.img"
	mkfs.ext4 -q -I 256 -O quota,project "$D/q.img"
	if ! mount -o loop,prjquota "$D/q.img" "$q" 2>"$D/q.err"; then
		why=$(dmesg 2>/dev/null | grep -i 'EXT4-fs (loop' | tail -1 | sed 's/^\[[^]]*\] //')
		skip "this kernel cannot mount an ext4 with project quotas: ${why:-$(cat "$D/q.err")}"
	fi
	mkdir -p "$q/d"
	"$COOP" image --store "$q/d/state/images" import --rootfs --name "$IMG" "$D/rootfs.tar" >/dev/null
	start_other "$q/d"
	export COOP_SOCKET=$q/d/run/coop.sock
	run "$COOP" run -d --image "$IMG" --name pq --disk 32M -- sleep 1000
	[ "$status" -eq 0 ]
	wait_until 10 is_status pq-1 running
	"$COOP" inspect pq-1 | jq -e '.[0].disk | .kind == "prjquota" and .limit == 33554432'
	id=$(id_of pq-1)
	[ -z "$(loops_of "$id")" ] # the quota, not a loop device
	run "$COOP" exec pq-1 sh -c 'dd if=/dev/zero of=/f bs=1M count=64 2>&1; echo "dd=$?"'
	[[ "$output" == *"Disk quota exceeded"* ]]
	[[ "$output" == *"dd=1"* ]]
	run "$COOP" exec pq-1 sh -c 'rm /f; dd if=/dev/zero of=/g bs=1M count=8 2>&1; echo "dd=$?"'
	[[ "$output" == *"dd=0"* ]]
	"$COOP" rm -f pq-1
	wait_until 10 bash -c "[ ! -e '$q/d/state/containers/$id' ]"
	# the id is free again: the next container gets it
	run "$COOP" run --rm --image "$IMG" --disk 16M -- true
	[ "$status" -eq 0 ]
	stop_other "$q/d"
	umount "$q"
}
