#!/usr/bin/env bats
# Image archives end to end: an OCI layout built by umoci from the busybox rootfs (two
# layers, the second deleting a file: a whiteout), the docker-save archive skopeo makes
# of it, and a rootfs tarball — imported into a private store with `coop image import`,
# mounted with `coop image mount` (img_rootfs_mount) and run by coop-runtime; `coop image
# save` in both formats read back by skopeo and by our own import.

load helpers

COOP=${COOP:-$BUILD_DIR/coop}

setup_file() {
	command -v umoci >/dev/null && command -v skopeo >/dev/null || return 0
	build_cache || return 1
	local d=$BATS_FILE_TMPDIR
	# layer 1: the busybox rootfs plus /marker and /etc/doomed; layer 2: removes doomed
	(
		set -e
		umoci init --layout "$d/layout"
		umoci new --image "$d/layout:bb"
		umoci unpack --image "$d/layout:bb" "$d/b1"
		cp -a "$CACHE/rootfs/." "$d/b1/rootfs/"
		echo from-image >"$d/b1/rootfs/marker"
		echo doomed >"$d/b1/rootfs/etc/doomed"
		umoci repack --image "$d/layout:bb" "$d/b1"
		umoci unpack --image "$d/layout:bb" "$d/b2"
		rm "$d/b2/rootfs/etc/doomed"
		umoci repack --image "$d/layout:bb" "$d/b2"
		umoci config --image "$d/layout:bb" --config.cmd /bin/sh
		rm -rf "$d/b1" "$d/b2"
		skopeo --insecure-policy copy -q "oci:$d/layout:bb" \
			"docker-archive:$d/docker.tar:test/bb:1"
	) >"$d/build.log" 2>&1 || { cat "$d/build.log" >&2; return 1; }
}

setup() {
	common_setup
	command -v umoci >/dev/null || skip "umoci not installed"
	command -v skopeo >/dev/null || skip "skopeo not installed"
	"$COOP" image import --help >/dev/null 2>&1 ||
		skip "the coop image CLI (import/mount) is not built yet: library-only"
	STORE=$BATS_TEST_TMPDIR/store
	MNTS=()
}

teardown() {
	local m
	for m in "${MNTS[@]}"; do
		"$COOP" image --store "$STORE" umount "$m" >/dev/null 2>&1 || umount -l "$m" 2>/dev/null
	done
	common_teardown
}

img() { "$COOP" image --store "$STORE" "$@"; }

# run_image REF SCRIPT: a container whose rootfs is REF mounted from the store; its
# output in $output.
run_image() {
	new_container
	rm -rf "$BUNDLE/rootfs"
	img mount "$1" "$BUNDLE/rootfs" || fail "mount $1"
	MNTS+=("$BUNDLE/rootfs")
	ROOTFS_IDS+=("$(stat -c %d:%i "$BUNDLE/rootfs")")
	sh_args "$2"
	run rt run --bundle "$BUNDLE" "$CID" </dev/null
}

@test "an OCI layout directory imports and runs, whiteouts applied" {
	run img import "$BATS_FILE_TMPDIR/layout"
	[ "$status" -eq 0 ] || fail "$output"
	run img ls
	[[ "$output" == *bb*latest* ]] || fail "ls: $output"
	run_image bb 'cat /marker; test -e /etc/doomed && echo still-there; echo ok'
	[ "$status" -eq 0 ] || fail "$output"
	[ "$output" = "from-image
ok" ] || fail "output: $output"
}

@test "an OCI layout as a tar imports under the name given" {
	tar -C "$BATS_FILE_TMPDIR/layout" -cf "$BATS_TEST_TMPDIR/layout.tar" .
	run img import --name mine/bb:2 "$BATS_TEST_TMPDIR/layout.tar"
	[ "$status" -eq 0 ] || fail "$output"
	run_image mine/bb:2 'cat /marker'
	[ "$status" -eq 0 ] && [ "$output" = from-image ] || fail "$output"
}

@test "a docker-save archive (skopeo, gzipped) imports and runs" {
	gzip -c "$BATS_FILE_TMPDIR/docker.tar" >"$BATS_TEST_TMPDIR/docker.tar.gz"
	run img import "$BATS_TEST_TMPDIR/docker.tar.gz"
	[ "$status" -eq 0 ] || fail "$output"
	run_image test/bb:1 'cat /marker; ls /etc/doomed 2>/dev/null; true'
	[ "$status" -eq 0 ] && [ "$output" = from-image ] || fail "$output"
}

@test "a rootfs tarball imports as a one-layer image" {
	tar -C "$CACHE/rootfs" -cJf "$BATS_TEST_TMPDIR/rootfs.tar.xz" .
	run img import --rootfs "$BATS_TEST_TMPDIR/rootfs.tar.xz"
	[ "$status" -ne 0 ] # a name is required
	run img import --rootfs --name base:1 "$BATS_TEST_TMPDIR/rootfs.tar.xz"
	[ "$status" -eq 0 ] || fail "$output"
	run_image base:1 'echo $((6 * 7))'
	[ "$status" -eq 0 ] && [ "$output" = 42 ] || fail "$output"
}

@test "save writes archives skopeo reads and import reads back" {
	img import "$BATS_FILE_TMPDIR/layout"
	img save -o "$BATS_TEST_TMPDIR/d.tar" --format docker bb
	img save -o "$BATS_TEST_TMPDIR/o.tar" --format oci bb
	run skopeo --insecure-policy inspect --config "docker-archive:$BATS_TEST_TMPDIR/d.tar"
	[ "$status" -eq 0 ] || fail "skopeo docker-archive: $output"
	echo "$output" | jq -e '.rootfs.diff_ids | length == 2'
	run skopeo --insecure-policy inspect --config "oci-archive:$BATS_TEST_TMPDIR/o.tar"
	[ "$status" -eq 0 ] || fail "skopeo oci-archive: $output"
	echo "$output" | jq -e '.rootfs.diff_ids | length == 2'
	id=$(img inspect bb | jq -r '.[0].Id')
	digest=$(img inspect bb | jq -r '.[0].Digest')
	STORE=$BATS_TEST_TMPDIR/store2
	img import "$BATS_TEST_TMPDIR/o.tar"
	# the OCI archive carries the manifest itself: the very same image comes back
	[ "$(img inspect bb | jq -r '.[0].Digest')" = "$digest" ]
	img import --name again:1 "$BATS_TEST_TMPDIR/d.tar"
	# the docker archive keeps the config (same image id); the manifest is made anew
	[ "$(img inspect again:1 | jq -r '.[0].Id')" = "$id" ]
	run_image again:1 'cat /marker'
	[ "$output" = from-image ] || fail "$output"
}

@test "archives that try to leave their directory are refused" {
	mkdir -p "$BATS_TEST_TMPDIR/evil"
	echo '[{"Config":"../../../../etc/passwd","RepoTags":["evil:1"],"Layers":[]}]' \
		>"$BATS_TEST_TMPDIR/evil/manifest.json"
	tar -C "$BATS_TEST_TMPDIR/evil" -cf "$BATS_TEST_TMPDIR/evil.tar" manifest.json
	run img import "$BATS_TEST_TMPDIR/evil.tar"
	[ "$status" -ne 0 ]
	[ "${#lines[@]}" -eq 1 ] || fail "not one line: $output"
	[[ "$output" == *etc/passwd* ]] || fail "$output"
	run img ls
	[[ "$output" != *evil* ]] || fail "$output"
}

@test "without libarchive, import is one line naming the package, and nothing is left" {
	# libarchive is loaded on first use (src/base/dl.c); hide it from one command by
	# mounting /dev/null over it in a private mount namespace
	local lib
	lib=$(ldconfig -p | awk '$1 == "libarchive.so.13" { print $NF; exit }')
	[ -n "$lib" ] || skip "libarchive.so.13 is not in the linker cache"
	tar -C "$CACHE/rootfs" -cf "$BATS_TEST_TMPDIR/rootfs.tar" .
	run unshare -m --propagation private sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' \
		sh "$lib" "$COOP" image --store "$STORE" import --rootfs --name h3dl:1 "$BATS_TEST_TMPDIR/rootfs.tar"
	[ "$status" -ne 0 ] || fail "import without libarchive succeeded: $output"
	[ "${#lines[@]}" -eq 1 ] || fail "not one line: $output"
	[[ "$output" == *"libarchive (libarchive.so.13)"*"install the Debian package libarchive13"* ]] ||
		fail "$output"
	run img ls
	[[ "$output" != *h3dl* ]] || fail "left behind: $output"
	# the same command with the library there works
	run img import --rootfs --name h3dl:1 "$BATS_TEST_TMPDIR/rootfs.tar"
	[ "$status" -eq 0 ] || fail "$output"
}
