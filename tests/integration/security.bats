#!/usr/bin/env bats
# Confinement: capabilities, seccomp, masked and read-only paths, no_new_privs,
# read-only root, rlimits. Each check has a control where the protection is off, so
# the check cannot pass by accident.

load helpers

# A deny-list shaped like Docker's answer for the calls under test (EPERM). Used only
# when `$RUNTIME spec` has no seccomp profile of its own (runc); coop's spec ships
# Docker's default profile, which must give the same answers.
SECCOMP='{"defaultAction": "SCMP_ACT_ALLOW",
  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  "syscalls": [{"names": ["keyctl", "add_key", "request_key", "kexec_load",
                          "kexec_file_load", "unshare"],
                "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}'

with_seccomp() { cfg '.linux.seccomp //= ($p | fromjson)' --arg p "$SECCOMP"; }
without_seccomp() { cfg 'del(.linux.seccomp)'; }

# set_caps CAP...: the same set in every capability list (ambient too, as spec does).
set_caps() {
	cfg '.process.capabilities = {bounding: $c, effective: $c, permitted: $c, ambient: $c}
	     | del(.process.capabilities.inheritable)' --argjson c "$(json_array "$@")"
}

# capmask N...: the /proc/PID/status hex mask for capability numbers N...
capmask() {
	local m=0 n
	for n; do m=$((m | (1 << n))); done
	printf '%016x\n' "$m"
}

@test "CapEff/CapBnd inside match the configured capabilities" {
	new_container
	set_caps CAP_KILL CAP_NET_BIND_SERVICE CAP_AUDIT_WRITE CAP_CHOWN
	sh_args 'grep -E "^Cap(Eff|Bnd|Prm):" /proc/self/status'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	want=$(capmask 5 10 29 0)
	echo "$output" | grep -qx "CapEff:	$want"
	echo "$output" | grep -qx "CapBnd:	$want"
	echo "$output" | grep -qx "CapPrm:	$want"
}

@test "mount fails without CAP_SYS_ADMIN and works with it" {
	new_container
	set_caps CAP_KILL CAP_NET_BIND_SERVICE CAP_AUDIT_WRITE
	without_seccomp
	sh_args 'mount -t tmpfs none /tmp 2>&1; echo rc=$?'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *"rc=255"* || "$output" == *"rc=1"* ]]
	[[ "$output" == *"ermission denied"* || "$output" == *"not permitted"* ]]
	new_container b
	set_caps CAP_KILL CAP_SYS_ADMIN
	without_seccomp
	sh_args 'mount -t tmpfs none /tmp 2>&1; echo rc=$?'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	[ "$output" = "rc=0" ]
}

@test "seccomp: keyctl, add_key and kexec_load fail with EPERM" {
	new_container
	with_seccomp
	sh_args 'for s in keyctl add_key kexec_load getpid; do sysc $s; done'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "${lines[0]}" = "keyctl errno=1 (Operation not permitted)" ]
	[ "${lines[1]}" = "add_key errno=1 (Operation not permitted)" ]
	[ "${lines[2]}" = "kexec_load errno=1 (Operation not permitted)" ]
	[ "${lines[3]}" = "getpid ok" ]
}

@test "seccomp control: without a profile the kernel answers keyctl itself" {
	new_container
	without_seccomp
	sh_args 'sysc keyctl; sysc kexec_load'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[[ "${lines[0]}" == "keyctl errno="* ]]
	[[ "${lines[0]}" != "keyctl errno=1 "* ]]
	[[ "${lines[1]}" != "kexec_load errno=1 "* ]]
}

@test "seccomp: unshare is refused (Operation not permitted)" {
	new_container
	with_seccomp
	sh_args 'unshare -U true 2>&1; echo rc=$?; sysc unshare'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[[ "${lines[0]}" == *"Operation not permitted"* ]]
	[ "${lines[1]}" != rc=0 ]
	[ "${lines[2]}" = "unshare errno=1 (Operation not permitted)" ]
	# control: without seccomp an unprivileged user namespace can be made
	new_container b
	without_seccomp
	sh_args 'unshare -U true 2>&1; echo rc=$?'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$output" = rc=0 ]
}

@test "masked paths read empty" {
	new_container
	# /proc/kcore only where the kernel has it (not on this host's kernel)
	files=/proc/timer_list
	[ -e /proc/kcore ] && files="$files /proc/kcore"
	sh_args "for f in $files; do wc -c <\$f; done; ls /sys/firmware | wc -l"
	cfg '.linux.maskedPaths |= (. + ["/proc/kcore", "/proc/timer_list", "/sys/firmware"] | unique)'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq "$(($(echo $files | wc -w) + 1))" ]
	for l in "${lines[@]}"; do [ "$l" -eq 0 ]; done
	# control: on the host they are not empty
	[ "$(wc -c </proc/timer_list)" -gt 0 ]
	[ "$(ls /sys/firmware | wc -l)" -gt 0 ]
}

@test "read-only paths refuse writes; without them the write works" {
	new_container
	cfg '.linux.readonlyPaths |= (. + ["/proc/sys"] | unique)'
	sh_args 'echo inside >/proc/sys/kernel/hostname 2>&1; echo rc=$?; hostname'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *"Read-only file system"* ]]
	[[ "$output" != *"rc=0"* ]]
	[ "${lines[-1]}" != inside ]
	# control: the same write in a container without the protection (own uts ns)
	new_container b
	cfg '.linux.readonlyPaths |= map(select(. != "/proc/sys"))'
	sh_args 'echo inside >/proc/sys/kernel/hostname; echo rc=$?; hostname'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "${lines[0]}" = rc=0 ]
	[ "${lines[1]}" = inside ]
	[ "$(hostname)" != inside ]
}

@test "noNewPrivileges sets NoNewPrivs" {
	new_container
	cfg '.process.noNewPrivileges = true'
	set_args grep NoNewPrivs /proc/self/status
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$output" = "NoNewPrivs:	1" ]
	new_container b
	cfg '.process.noNewPrivileges = false'
	set_args grep NoNewPrivs /proc/self/status
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$output" = "NoNewPrivs:	0" ]
}

@test "a read-only root refuses writes outside mounts" {
	new_container
	cfg '.root.readonly = true'
	sh_args 'touch /newfile 2>&1; echo rc=$?'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[[ "$output" == *"Read-only file system"* ]]
	[ ! -e "$BUNDLE/rootfs/newfile" ]
}

@test "rlimits are applied to the process" {
	new_container
	cfg '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
	                         {"type": "RLIMIT_NPROC", "soft": 77, "hard": 77}]'
	sh_args 'ulimit -n; ulimit -Hn; ulimit -u'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 321 ]
	[ "${lines[1]}" = 654 ]
	[ "${lines[2]}" = 77 ]
}

@test "only the configured devices exist in /dev" {
	new_container
	sh_args 'echo $(ls /dev); cat /dev/null; echo x >/dev/null; head -c 4 /dev/urandom | wc -c'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	for d in null zero full random urandom tty; do [[ " ${lines[0]} " == *" $d "* ]]; done
	[[ " ${lines[0]} " != *" sda "* && " ${lines[0]} " != *" vda "* && " ${lines[0]} " != *" mem "* ]]
	[ "${lines[1]}" -eq 4 ]
}
