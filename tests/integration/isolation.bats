#!/usr/bin/env bats
# Namespaces seen from inside: PID 1, hostname, mounts, network, user mapping.

load helpers

@test "the process is PID 1 in its own pid namespace" {
	new_container
	sh_args 'echo $$; cat /proc/1/cmdline | tr "\0" " "; echo; ls -d /proc/[0-9]* | wc -l'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 1 ]
	[[ "${lines[1]}" == "sh -c "* ]]
	# only sh and the ls itself (and the wc pipeline) exist, not the host's processes
	[ "${lines[2]}" -le 4 ]
}

@test "every namespace in the config differs from the host's" {
	new_container
	sh_args 'for n in pid net ipc uts mnt; do echo "$n $(readlink /proc/self/ns/$n)"; done'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 5 ]
	for l in "${lines[@]}"; do
		set -- $l
		[ -n "$2" ]
		[ "$2" != "$(readlink /proc/self/ns/$1)" ]
	done
}

@test "the container has its own hostname" {
	new_container
	cfg '.hostname = "coop-iso-host"'
	set_args hostname
	host_before=$(hostname)
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	[ "$output" = coop-iso-host ]
	[ "$(hostname)" = "$host_before" ]
}

@test "no host mounts are visible inside" {
	new_container
	set_args cat /proc/self/mountinfo
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	inside=$(echo "$output" | awk '{print $5}')
	# the container sees its rootfs as /, never under its bundle path
	! echo "$inside" | grep -qF "$BUNDLE"
	# host mount points outside the API filesystems must not appear
	n=0
	for m in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
		case "$m" in / | /proc* | /dev* | /sys*) continue ;; esac
		n=$((n + 1))
		! echo "$inside" | grep -qxF "$m" || fail "host mount $m visible inside"
	done
	echo "checked $n host mount points"
	echo "$inside" | grep -qx /proc
	echo "$inside" | grep -qx /
}

@test "a new network namespace has only lo" {
	new_container
	sh_args 'ls /sys/class/net; ip -o link | wc -l'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = lo ]
	[ "${lines[1]}" -eq 1 ]
}

@test "the host network namespace is shared when the config has none" {
	new_container
	cfg '.linux.namespaces |= map(select(.type != "network"))'
	set_args readlink /proc/self/ns/net
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	[ "$output" = "$(readlink /proc/self/ns/net)" ]
}

@test "a user namespace maps root to the configured host ids" {
	new_container
	cfg '.linux.namespaces += [{"type": "user"}]
	     | .linux.uidMappings = [{"containerID": 0, "hostID": 200000, "size": 65536}]
	     | .linux.gidMappings = [{"containerID": 0, "hostID": 200000, "size": 65536}]'
	# the rootfs must belong to the mapped root for the container to use it
	chown -R 200000:200000 "$BUNDLE/rootfs"
	# and reachable by it: bats makes its run dir 0700
	chmod o+x "$BATS_RUN_TMPDIR"
	sh_args 'cat /proc/self/uid_map /proc/self/gid_map; id; exec sleep 100'
	run_detached
	wait_for 5 grep -q uid= "$BUNDLE/out"
	run cat "$BUNDLE/out"
	[ "$(echo "${lines[0]}" | tr -s ' ' | sed 's/^ //')" = "0 200000 65536" ]
	[ "$(echo "${lines[1]}" | tr -s ' ' | sed 's/^ //')" = "0 200000 65536" ]
	[[ "${lines[2]}" == "uid=0(root) gid=0(root)"* ]]
	# seen from the host the process runs as the mapped ids
	pid=$(state_of "$CID" pid)
	[ "$(awk '/^Uid:/ {print $2}' /proc/$pid/status)" = 200000 ]
	[ "$(awk '/^Gid:/ {print $2}' /proc/$pid/status)" = 200000 ]
	[ "$(readlink /proc/$pid/ns/user)" != "$(readlink /proc/self/ns/user)" ]
}

@test "process.user sets uid, gid and additional groups" {
	new_container
	cfg '.process.user = {"uid": 1000, "gid": 1000, "additionalGids": [1001]}'
	set_args id
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	echo "$output"
	[[ "$output" == "uid=1000 gid=1000 groups="* ]]
	[[ "$output" == *1001* ]]
}
