#!/usr/bin/env bats
# image-registry: `coop image` against real registries on loopback — Debian's
# docker-registry over plain HTTP, HTTPS with a test CA, htpasswd Basic auth and token
# auth (tests/tools/tokenserver.py), with images packed by tests/tools/ocipack.py and
# pushed with skopeo. Shared registries live for the file (setup_file); tests that
# kill or tamper with a registry start their own. Each test has its own store, certs
# dir and docker config; everything started is killed by pid in teardown.

load helpers
load registry

# (bats 1.8 cannot skip from setup_file: it says why in REG_SKIP and setup skips)
setup_file() {
	export REG_SKIP=
	local t
	for t in docker-registry skopeo htpasswd openssl python3 jq; do
		command -v "$t" >/dev/null || { REG_SKIP="$t is not installed (scripts/deps.sh test)"; return 0; }
	done
	python3 -c 'import cryptography' 2>/dev/null ||
		{ REG_SKIP="python3-cryptography is not installed"; return 0; }
	[ -x "$COOP" ] || { REG_SKIP="$COOP not built"; return 0; }
	export FIX=$BATS_FILE_TMPDIR/fix
	export OCI=$FIX/oci
	local pids=$FIX/pids
	mkdir -p "$FIX"
	make_images "$OCI" || { echo "cannot build the test images" >&2; return 1; }
	reg_certs "$FIX/certs" || return 1
	# skopeo's certs dir layout for pushing to a registry that wants client certs
	mkdir -p "$FIX/certs/skopeo" && cp "$FIX/certs/ca.crt" "$FIX/certs/skopeo/" &&
		cp "$FIX/certs/client.crt" "$FIX/certs/skopeo/client.cert" &&
		cp "$FIX/certs/client.key" "$FIX/certs/skopeo/client.key" || return 1

	reg_start "$FIX/plain" "$pids" || return 1
	export PLAIN=127.0.0.1:$REG_PORT
	push "$OCI" multi:1 "$REG_PORT" test/multi:1 &&
		push "$OCI" multi:1 "$REG_PORT" test/multi-v2:1 --format v2s2 &&
		push "$OCI" multiarch:1 "$REG_PORT" test/multiarch:1 --all &&
		push "$OCI" big:1 "$REG_PORT" test/big:1 || return 1

	reg_start "$FIX/tls" "$pids" --tls "$FIX/certs" || return 1
	export TLS=127.0.0.1:$REG_PORT
	push "$OCI" multi:1 "$REG_PORT" test/multi:1 || return 1

	reg_start "$FIX/basic" "$pids" --htpasswd alice:s3cret || return 1
	export BASIC=127.0.0.1:$REG_PORT
	push "$OCI" multi:1 "$REG_PORT" test/multi:1 --dest-creds alice:s3cret || return 1

	token_start "$FIX/token" "$pids" "$FIX/certs" bob:pw || return 1
	reg_start "$FIX/tokreg" "$pids" --token "http://127.0.0.1:$TOKEN_PORT/token" "$FIX/certs" || return 1
	export TOKEN=127.0.0.1:$REG_PORT TOKEN_LOG=$FIX/token/token.log
	push "$OCI" multi:1 "$REG_PORT" test/multi:1 --dest-creds bob:pw || return 1

	export MULTI_DIGEST=$(digest_of "$OCI" multi:1) ARM_DIGEST=$(digest_of "$OCI" arm:1)
	export INDEX_DIGEST=$(digest_of "$OCI" multiarch:1)
}

teardown_file() {
	[ -n "${FIX:-}" ] && kill_pids "$FIX/pids"
	common_teardown_file
}

setup() {
	[ -z "$REG_SKIP" ] || skip "$REG_SKIP"
	common_setup
	export COOP_IMAGE_STORE=$BATS_TEST_TMPDIR/store
	export COOP_CERTS_DIR=$BATS_TEST_TMPDIR/certs.d
	export DOCKER_CONFIG=$BATS_TEST_TMPDIR/docker
	TEST_PIDS=$BATS_TEST_TMPDIR/pids
	MOUNTS=()
}

teardown() {
	local m
	kill_pids "$TEST_PIDS"
	for m in "${MOUNTS[@]}"; do
		mountpoint -q "$m" && coop image umount "$m"
	done
	common_teardown
}

# pull_plain ARGS...: pull from the plain HTTP registry.
pull_plain() { coop image pull -q --insecure "$PLAIN" "$@"; }

# mount_image REF DIR: `coop image mount`, remembered for teardown.
mount_image() {
	MOUNTS+=("$2")
	coop image mount "$1" "$2"
}

# blobs_in_store: how many blobs the store holds.
blobs_in_store() { find "$COOP_IMAGE_STORE/blobs" -type f | wc -l; }

@test "pull by tag: an OCI image with a whiteout and an opaque directory" {
	run pull_plain "$PLAIN/test/multi:1"
	[ "$status" -eq 0 ] || fail "$output"
	[ "$output" = "$PLAIN/test/multi:1" ]
	run coop image ls
	[[ "$output" == *"$PLAIN/test/multi "*" 1 "* ]] || fail "ls: $output"
	mount_image "$PLAIN/test/multi:1" "$BATS_TEST_TMPDIR/rootfs"
	local r=$BATS_TEST_TMPDIR/rootfs
	[ -x "$r/bin/busybox" ] || fail "no busybox"
	[ "$(cat "$r/etc/greeting")" = "hello from the image" ]
	[ -e "$r/etc/kept" ] || fail "lower file lost"
	[ ! -e "$r/etc/old" ] || fail "whiteout not applied: /etc/old is there"
	[ "$(ls "$r/data")" = new ] || fail "opaque dir: /data has $(ls "$r/data")"
	coop image umount "$r"
	! mountpoint -q "$r"
}

@test "pull by digest, and a Docker schema2 image" {
	run pull_plain "$PLAIN/test/multi@$MULTI_DIGEST"
	[ "$status" -eq 0 ] || fail "$output"
	run coop image inspect "$PLAIN/test/multi@$MULTI_DIGEST"
	[ "$status" -eq 0 ] || fail "$output"
	[ "$(jq -r '.[0].Digest' <<<"$output")" = "$MULTI_DIGEST" ]
	[ "$(jq -r '.[0].MediaType' <<<"$output")" = application/vnd.oci.image.manifest.v1+json ]
	# a digest that is not the registry's answer is refused
	run pull_plain "$PLAIN/test/multi@sha256:$(printf '%064d' 1)"
	[ "$status" -eq 1 ]
	[[ "$output" == *"(404)"* ]] || fail "$output"

	run pull_plain "$PLAIN/test/multi-v2:1"
	[ "$status" -eq 0 ] || fail "$output"
	run coop image inspect "$PLAIN/test/multi-v2:1"
	[ "$(jq -r '.[0].MediaType' <<<"$output")" = application/vnd.docker.distribution.manifest.v2+json ]
	[ "$(jq -r '.[0].Config.Cmd | join(" ")' <<<"$output")" = "cat greeting" ]
	[ "$(jq -r '.[0].Layers | length' <<<"$output")" = 2 ]
}

@test "multi-arch: the index resolves to this machine's platform, or --platform's" {
	[ "$(uname -m)" = x86_64 ] || skip "the test image's native entry is amd64"
	run pull_plain "$PLAIN/test/multiarch:1"
	[ "$status" -eq 0 ] || fail "$output"
	run coop image inspect -o json "$PLAIN/test/multiarch:1"
	[ "$(jq -r '.[0].Architecture' <<<"$output")" = amd64 ]
	[ "$(jq -r '.[0].Target' <<<"$output")" = "$INDEX_DIGEST" ]
	[ "$(jq -r '.[0].Digest' <<<"$output")" = "$MULTI_DIGEST" ]
	run pull_plain --platform linux/arm64 "$PLAIN/test/multiarch:1"
	[ "$status" -eq 0 ] || fail "$output"
	run coop image inspect "$PLAIN/test/multiarch:1"
	[ "$(jq -r '.[0].Architecture' <<<"$output")" = arm64 ]
	[ "$(jq -r '.[0].Digest' <<<"$output")" = "$ARM_DIGEST" ]
	run pull_plain --platform linux/s390x "$PLAIN/test/multiarch:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *s390x* && "$output" == *arm64* ]] || fail "$output"
	run -2 coop image pull --platform arm64 "$PLAIN/test/multiarch:1"
}

@test "an unknown image: manifest unknown (404), nothing stored" {
	run pull_plain "$PLAIN/test/nosuch:1"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ] || fail "more than one line: $output"
	[[ "$output" == "coop: pull $PLAIN/test/nosuch:1: "*"manifest unknown (404)" ]] || fail "$output"
	run coop image ls -q
	[ -z "$output" ]
	# nobody listening: said at once, not after retries
	local port
	port=$(free_port)
	SECONDS=0
	run coop image pull -q "127.0.0.1:$port/test/multi:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"127.0.0.1:$port: cannot connect"* ]] || fail "$output"
	[ "$SECONDS" -lt 5 ]
}

@test "TLS: the registry's CA from the certs dir; without it a clear error" {
	run coop image pull -q "$TLS/test/multi:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"certificate not trusted"*"$COOP_CERTS_DIR/$TLS/ca.crt"* ]] || fail "$output"
	mkdir -p "$COOP_CERTS_DIR/$TLS"
	cp "$FIX/certs/ca.crt" "$COOP_CERTS_DIR/$TLS/ca.crt"
	run coop image pull -q "$TLS/test/multi:1"
	[ "$status" -eq 0 ] || fail "$output"
	# --insecure: no verification (Docker's semantics for insecure registries)
	rm -rf "$COOP_CERTS_DIR" "$COOP_IMAGE_STORE"
	run coop image pull -q --insecure "$TLS" "$TLS/test/multi:1"
	[ "$status" -eq 0 ] || fail "$output"
	# a plain HTTP registry is not spoken to without --insecure
	run coop image pull -q "$PLAIN/test/multi:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"TLS handshake failed"*"--insecure $PLAIN"* ]] || fail "$output"
}

@test "TLS client certificates from the certs dir (client.cert, client.key)" {
	local d=$BATS_TEST_TMPDIR/reg
	reg_start "$d" "$TEST_PIDS" --tls "$FIX/certs" --client-ca
	local reg=127.0.0.1:$REG_PORT
	push "$OCI" multi:1 "$REG_PORT" test/multi:1 --dest-cert-dir "$FIX/certs/skopeo"
	mkdir -p "$COOP_CERTS_DIR/$reg"
	cp "$FIX/certs/ca.crt" "$COOP_CERTS_DIR/$reg/ca.crt"
	run coop image pull -q "$reg/test/multi:1"
	[ "$status" -eq 1 ] || fail "pulled without a client certificate"
	cp "$FIX/certs/client.crt" "$COOP_CERTS_DIR/$reg/client.cert"
	cp "$FIX/certs/client.key" "$COOP_CERTS_DIR/$reg/client.key"
	run coop image pull -q "$reg/test/multi:1"
	[ "$status" -eq 0 ] || fail "$output"
}

@test "Basic auth: no, wrong and right credentials; --password-stdin" {
	run coop image pull -q --insecure "$BASIC" "$BASIC/test/multi:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"unauthorized"*"--username/--password"*"(401)"* ]] || fail "$output"
	run coop image pull -q --insecure "$BASIC" -u alice --password wrong "$BASIC/test/multi:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"unauthorized"*"(401)"* ]] || fail "$output"
	run coop image pull -q --insecure "$BASIC" -u alice --password-stdin "$BASIC/test/multi:1" <<<"s3cret"
	[ "$status" -eq 0 ] || fail "$output"
	run -2 coop image pull --password x "$BASIC/test/multi:1"
}

@test "token auth: anonymous is denied, credentials get a token" {
	run coop image pull -q --insecure "$TOKEN" "$TOKEN/test/multi:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"unauthorized"*"(401)"* ]] || fail "$output"
	run coop image pull -q --insecure "$TOKEN" -u bob --password nope "$TOKEN/test/multi:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"token server refused the credentials"* ]] || fail "$output"
	local before
	before=$(grep -c "user=bob scope=repository:test/multi:pull granted=1" "$TOKEN_LOG" || true)
	run coop image pull -q --insecure "$TOKEN" -u bob --password pw "$TOKEN/test/multi:1"
	[ "$status" -eq 0 ] || fail "$output"
	# one token serves the whole pull (it lasts 300 s)
	[ "$(grep -c "user=bob scope=repository:test/multi:pull granted=1" "$TOKEN_LOG")" -eq $((before + 1)) ]
}

@test "token auth: a short-lived token is renewed during the pull" {
	local d=$BATS_TEST_TMPDIR/reg
	token_start "$d" "$TEST_PIDS" "$FIX/certs" bob:pw --expires 1
	reg_start "$d" "$TEST_PIDS" --token "http://127.0.0.1:$TOKEN_PORT/token" "$FIX/certs"
	push "$OCI" multi:1 "$REG_PORT" test/multi:1 --dest-creds bob:pw
	: >"$d/token.log"
	run coop image pull -q --insecure "127.0.0.1:$REG_PORT" -u bob --password pw \
		"127.0.0.1:$REG_PORT/test/multi:1"
	[ "$status" -eq 0 ] || fail "$output"
	# manifest, config and two layers: more than one token
	[ "$(grep -c 'user=bob .*granted=1' "$d/token.log")" -ge 3 ] || fail "$(cat "$d/token.log")"
}

@test "credentials from docker config.json auths (host:port and URL keys)" {
	mkdir -p "$DOCKER_CONFIG"
	printf '{"auths":{"%s":{"auth":"%s"},"http://%s/v2/":{"auth":"%s"}}}\n' \
		"$TOKEN" "$(printf bob:pw | base64)" "$BASIC" "$(printf alice:s3cret | base64)" \
		>"$DOCKER_CONFIG/config.json"
	run coop image pull -q --insecure "$TOKEN" "$TOKEN/test/multi:1"
	[ "$status" -eq 0 ] || fail "$output"
	run coop image pull -q --insecure "$BASIC" "$BASIC/test/multi:1"
	[ "$status" -eq 0 ] || fail "$output"
	echo '{"auths": [' >"$DOCKER_CONFIG/config.json"
	run coop image pull -q --insecure "$BASIC" "$BASIC/test/multi:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$DOCKER_CONFIG/config.json"* ]] || fail "$output"
}

@test "two concurrent pulls of one image both succeed; the store holds one copy" {
	export COOP_PULL_LIMIT_RATE=20000000
	pull_plain "$PLAIN/test/big:1" >"$BATS_TEST_TMPDIR/a.out" 2>&1 &
	local a=$!
	echo "$a" >>"$TEST_PIDS"
	pull_plain "$PLAIN/test/big:1" >"$BATS_TEST_TMPDIR/b.out" 2>&1 &
	local b=$!
	echo "$b" >>"$TEST_PIDS"
	wait "$a" || fail "first pull: $(cat "$BATS_TEST_TMPDIR/a.out")"
	wait "$b" || fail "second pull: $(cat "$BATS_TEST_TMPDIR/b.out")"
	# manifest + config + 2 layers, once each; no partials left behind
	[ "$(blobs_in_store)" -eq 4 ] || fail "$(find "$COOP_IMAGE_STORE/blobs" -type f)"
	[ -z "$(find "$COOP_IMAGE_STORE/ingest" -name '*.partial' 2>/dev/null)" ]
	run coop image ls -q
	[ "${#lines[@]}" -eq 1 ]
}

@test "registry killed mid-pull, restarted: the pull resumes with a Range request" {
	local d=$BATS_TEST_TMPDIR/reg
	reg_start "$d" "$TEST_PIDS"
	local port=$REG_PORT pid=$REG_PID
	push "$OCI" big:1 "$port" test/big:1
	: >"$d/log"
	COOP_PULL_LIMIT_RATE=4000000 coop image pull --insecure "127.0.0.1:$port" \
		"127.0.0.1:$port/test/big:1" >"$BATS_TEST_TMPDIR/pull.out" 2>&1 &
	local puller=$!
	echo "$puller" >>"$TEST_PIDS"
	# wait for a few MB of the big layer, then kill the registry
	wait_for 20 partial_over 3000000 || fail "no partial download: $(cat "$BATS_TEST_TMPDIR/pull.out")"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	sleep 1
	reg_start "$d" "$TEST_PIDS" --port "$port"
	wait "$puller" || fail "pull failed: $(cat "$BATS_TEST_TMPDIR/pull.out")"
	grep -q 'retrying' "$BATS_TEST_TMPDIR/pull.out"
	grep -q '"GET /v2/test/big/blobs/sha256:[0-9a-f]* HTTP/1.1" 206 ' "$d/log" ||
		fail "no 206 in the registry log"
	run coop image inspect "127.0.0.1:$port/test/big:1"
	[ "$status" -eq 0 ]
}

# partial_over N: some partial download in the store is larger than N bytes.
partial_over() {
	local f
	for f in "$COOP_IMAGE_STORE"/ingest/*.partial; do
		[ -f "$f" ] && [ "$(stat -c %s "$f")" -gt "$1" ] && return 0
	done
	return 1
}

@test "a corrupted blob: digest mismatch naming the layer, nothing committed" {
	local d=$BATS_TEST_TMPDIR/reg
	reg_start "$d" "$TEST_PIDS"
	push "$OCI" multi:1 "$REG_PORT" test/multi:1
	local layer f
	layer=$(layer_digest "$OCI" multi:1 1)
	f=$(blob_file "$d" "$layer")
	[ -f "$f" ] || fail "no blob file $f"
	# same size, different bytes
	printf 'X' | dd of="$f" bs=1 seek=20 conv=notrunc 2>/dev/null
	run coop image pull -q --insecure "127.0.0.1:$REG_PORT" "127.0.0.1:$REG_PORT/test/multi:1"
	[ "$status" -eq 1 ] || fail "pull of a corrupted blob: $output"
	[[ "$output" == *"layer 2/2 sha256:${layer:7:12}"*"mismatch"* ]] || fail "$output"
	[ ! -e "$COOP_IMAGE_STORE/blobs/sha256/${layer#sha256:}" ] || fail "bad blob stored"
	run coop image ls -q
	[ -z "$output" ]
}

@test "blob redirects are followed; credentials stay with the registry" {
	local d=$BATS_TEST_TMPDIR/reg
	mkdir -p "$d/data"
	files_start "$d" "$d/data" "$TEST_PIDS"
	reg_start "$d" "$TEST_PIDS" --htpasswd alice:s3cret --redirect "http://127.0.0.1:$FILES_PORT/"
	push "$OCI" multi:1 "$REG_PORT" test/multi:1 --dest-creds alice:s3cret
	run coop image pull -q --insecure "127.0.0.1:$REG_PORT" -u alice --password s3cret \
		"127.0.0.1:$REG_PORT/test/multi:1"
	[ "$status" -eq 0 ] || fail "$output"
	grep -q '^GET /docker/registry/v2/blobs/sha256/.*/data auth=no' "$d/files.log" ||
		fail "no redirected blob GET: $(cat "$d/files.log")"
	! grep -q 'auth=yes' "$d/files.log" || fail "credentials sent to another host"
}

@test "ls, inspect, tag, rm and prune" {
	pull_plain "$PLAIN/test/multi:1" >/dev/null
	run coop image tag "$PLAIN/test/multi:1" local/copy:2
	[ "$status" -eq 0 ] || fail "$output"
	run coop image ls -o json
	[ "$(jq length <<<"$output")" -eq 2 ]
	[ "$(jq -r '[.[].tag] | sort | join(",")' <<<"$output")" = "1,2" ]
	local id
	id=$(jq -r '.[0].id' <<<"$output")
	[ "$(jq -r '.[1].id' <<<"$output")" = "$id" ]
	run coop image ls -q
	[ "${lines[0]}" = "${id:7:12}" ]
	# by ID prefix, by name
	run coop image inspect "${id:7:12}"
	[ "$status" -eq 0 ] || fail "$output"
	[ "$(jq -r '.[0].Id' <<<"$output")" = "$id" ]
	[ "$(jq -r '.[0].Os + "/" + .[0].Architecture' <<<"$output")" = linux/amd64 ]
	[ "$(jq -r '.[0].Size' <<<"$output")" -gt 1000000 ]
	run coop image rm nosuch:1
	[ "$status" -eq 1 ]
	[[ "$output" == *"image 'nosuch:1' not found"* ]] || fail "$output"
	run coop image rm local/copy:2
	[ "$status" -eq 0 ]
	run coop image prune
	[ "$status" -eq 0 ]
	[ "$output" = "freed 0 blobs, 0 B" ] || fail "prune freed what a name still reaches: $output"
	run coop image rm "$PLAIN/test/multi:1"
	[ "$status" -eq 0 ]
	run coop image prune -o json
	[ "$status" -eq 0 ] || fail "$output"
	[ "$(jq .blobs <<<"$output")" -eq 4 ] || fail "$output"
	[ "$(blobs_in_store)" -eq 0 ]
	run coop image ls -q
	[ -z "$output" ]
}

@test "save and import round trips (docker and OCI archives, rootfs tarballs)" {
	pull_plain "$PLAIN/test/multi:1" >/dev/null
	local id t=$BATS_TEST_TMPDIR
	id=$(coop image inspect "$PLAIN/test/multi:1" | jq -r '.[0].Id')
	run coop image save -o "$t/d.tar" "$PLAIN/test/multi:1"
	[ "$status" -eq 0 ] || fail "$output"
	run coop image save --format oci -o "$t/o.tar" "$PLAIN/test/multi:1"
	[ "$status" -eq 0 ] || fail "$output"
	run -2 coop image save "$PLAIN/test/multi:1"
	coop image rm "$PLAIN/test/multi:1" >/dev/null
	coop image prune >/dev/null
	run coop image import "$t/d.tar"
	[ "$status" -eq 0 ] || fail "$output"
	[ "$output" = "$PLAIN/test/multi:1" ] || fail "$output"
	[ "$(coop image inspect "$PLAIN/test/multi:1" | jq -r '.[0].Id')" = "$id" ]
	run coop image import --name again:1 "$t/o.tar"
	[ "$status" -eq 0 ] || fail "$output"
	[ "$(coop image inspect again:1 | jq -r '.[0].Id')" = "$id" ]
	tar -C "$CACHE/rootfs" -czf "$t/rootfs.tgz" .
	run -2 coop image import --rootfs "$t/rootfs.tgz"
	run coop image import --rootfs --name base:1 "$t/rootfs.tgz"
	[ "$status" -eq 0 ] || fail "$output"
	[ "$(coop image inspect base:1 | jq -r '.[0].Layers | length')" -eq 1 ]
	run coop image import "$t/nosuch.tar"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
}

@test "a container runs the pulled image's Cmd through coop-runtime" {
	pull_plain "$PLAIN/test/multi:1" >/dev/null
	local b=$BATS_TEST_TMPDIR/bundle
	mount_image "$PLAIN/test/multi:1" "$b/rootfs"
	run coop image config --bundle "$b" "$PLAIN/test/multi:1"
	[ "$status" -eq 0 ] || fail "$output"
	[ "$(jq -r '.process.cwd' "$b/config.json")" = /etc ]
	[ "$(jq -r '.process.env[] | select(startswith("GREETING="))' "$b/config.json")" = GREETING=hi ]
	BUNDLE=$b
	CID=cooptest-$BATS_TEST_NUMBER-img-$$
	CONTAINERS+=("$CID")
	ROOTFS_IDS+=("$(stat -c %d:%i "$b/rootfs")")
	cfg ".linux.cgroupsPath = \"/$CGROUP_PARENT/$CID\""
	run rt run --bundle "$b" "$CID"
	[ "$status" -eq 0 ] || fail "$output"
	[ "$output" = "hello from the image" ]
	# a command of our own instead of the image's Cmd
	run coop image config --bundle "$b" "$PLAIN/test/multi:1" sh -c 'echo $GREETING; pwd'
	[ "$status" -eq 0 ] || fail "$output"
	cfg ".linux.cgroupsPath = \"/$CGROUP_PARENT/$CID\""
	run rt run --bundle "$b" "$CID"
	[ "$output" = "$(printf 'hi\n/etc')" ] || fail "$output"
	coop image umount "$b/rootfs"
}

@test "usage errors exit 2; --help teaches with an example" {
	run -2 coop image pull
	[[ "$output" == *"missing image reference"* ]]
	run -2 coop image frobnicate
	run -2 coop image ls -o yaml
	run -0 coop image pull --help
	[[ "$output" == *Example* ]]
	run -0 coop image --help
	[[ "$output" == *mount* && "$output" == *prune* ]]
	run -1 coop image pull "bad ref!"
	[ "${#lines[@]}" -eq 1 ]
}
