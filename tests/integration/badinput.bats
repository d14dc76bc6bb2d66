#!/usr/bin/env bats
# Bad input: every failure is one line on stderr, a non-zero exit, and nothing left
# behind (the common teardown checks state, mounts, cgroups and processes).

load helpers

# fails_cleanly CMD...: CMD exits non-zero with exactly one line on stderr.
fails_cleanly() {
	run --separate-stderr "$@"
	echo "status=$status stderr:"
	printf '%s\n' "${stderr_lines[@]}"
	[ "$status" -ne 0 ]
	[ "$status" -ne 127 ] # a shell "command not found" is not an answer
	[ "${#stderr_lines[@]}" -eq 1 ]
	[ -n "${stderr_lines[0]}" ]
}

# create_fails: both create and run refuse the bundle, leaving no container.
create_fails() {
	fails_cleanly rt create --bundle "$BUNDLE" "$CID" </dev/null
	run rt state "$CID"
	[ "$status" -ne 0 ]
	fails_cleanly rt run --bundle "$BUNDLE" "$CID" </dev/null
	run rt state "$CID"
	[ "$status" -ne 0 ]
	[ -z "$(state_entries)" ]
	[ -z "$(cg_dirs "$CID")" ]
}

@test "malformed config.json" {
	new_container
	echo '{"ociVersion": "1.0.2", "process": {' >"$BUNDLE/config.json"
	create_fails
}

@test "truncated config.json" {
	new_container
	head -c 300 "$BUNDLE/config.json" >"$BUNDLE/c" && mv "$BUNDLE/c" "$BUNDLE/config.json"
	create_fails
}

@test "config.json of the wrong shape" {
	new_container
	cfg '.process.args = "sh -c true"'
	create_fails
}

@test "missing config.json and missing bundle" {
	new_container
	rm "$BUNDLE/config.json"
	create_fails
	fails_cleanly rt create --bundle "$BATS_TEST_TMPDIR/nonexistent" "$CID" </dev/null
	[ -z "$(state_entries)" ]
}

@test "missing rootfs" {
	new_container
	rm -rf "$BUNDLE/rootfs"
	create_fails
}

@test "missing process binary" {
	new_container
	set_args /no/such/binary
	fails_cleanly rt run --bundle "$BUNDLE" "$CID" </dev/null
	run rt state "$CID"
	[ "$status" -ne 0 ]
	[ -z "$(state_entries)" ]
}

@test "unknown namespace type" {
	new_container
	cfg '.linux.namespaces += [{"type": "bogus"}]'
	create_fails
}

@test "bad mount option" {
	new_container
	cfg '.mounts += [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
	                  "options": ["size=notanumber"]}]'
	create_fails
	[ -z "$(our_mounts)" ]
}

@test "mount of an unknown filesystem type" {
	new_container
	cfg '.mounts += [{"destination": "/tmp", "type": "nosuchfs", "source": "none"}]'
	create_fails
}

@test "duplicate id" {
	new_container
	set_args sleep 100
	run_detached
	fails_cleanly rt create --bundle "$BUNDLE" "$CID" </dev/null
	[ "$(state_of "$CID" status)" = running ]
}

@test "unknown signal" {
	new_container
	set_args sleep 100
	run_detached
	fails_cleanly rt kill "$CID" SIGBOGUS
	[ "$(state_of "$CID" status)" = running ]
}

@test "unknown container for state, start, kill, delete, exec, pause, ps" {
	for verb in state start kill delete pause resume ps; do
		fails_cleanly rt "$verb" cooptest-none-$$
	done
	fails_cleanly rt exec cooptest-none-$$ true
}

@test "an id that is a path is refused" {
	new_container
	for id in ../escape-$$ a/b "" .; do
		fails_cleanly rt create --bundle "$BUNDLE" "$id" </dev/null
	done
	[ ! -e "$BATS_TEST_TMPDIR/escape-$$" ]
	[ -z "$(state_entries)" ]
}

@test "an unknown verb and a missing argument" {
	fails_cleanly rt frobnicate
	fails_cleanly rt start
}

@test "ociVersion 1.3.0 is accepted (any 1.x)" {
	new_container
	cfg '.ociVersion = "1.3.0"'
	set_args sh -c 'echo ok'
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
}
