# registry.bash — fixtures for the image tests: Debian's docker-registry on loopback
# (plain HTTP, HTTPS with a test CA, htpasswd Basic auth, token auth with our token
# server, the redirect storage middleware), deterministic OCI images packed from
# busybox-static by tests/tools/ocipack.py and pushed with skopeo, and `coop image`
# with a store, certs dir and docker config of the test's own.
#
# Every process started here is recorded in a pid file and killed by its pid
# (reg_kill_all); everything lives under the test's (or the file's) temp dir.

TOOLS_DIR=$REPO/tests/tools
COOP=${COOP:-$BUILD_DIR/coop}

# coop ARGS...: the CLI under test.
coop() { "$COOP" "$@"; }

# free_port: a random TCP port that no socket uses, in any state, below the kernel's
# ephemeral range: a port inside it can be the local port of some outgoing connection
# by the time a server binds it (EADDRINUSE), which ss -l does not show.
free_port() {
	local p used lo
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	[ "$lo" -gt 21024 ] || lo=32768
	used=$(ss -Htan | awk '{print $4}' | sed 's/.*://' | sort -u)
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % (lo - 20000)))
		grep -qx "$p" <<<"$used" || { echo "$p"; return 0; }
	done
	return 1
}

# reg_certs DIR: a test CA and a server certificate for 127.0.0.1 (and localhost)
# signed by it: DIR/{ca.crt,ca.key,server.crt,server.key}; a self-signed token signing
# pair DIR/{token.crt,token.key}; a client certificate DIR/{client.crt,client.key}.
reg_certs() {
	local d=$1
	mkdir -p "$d"
	[ -e "$d/server.crt" ] && return 0
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=coop test CA" \
		-keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null || return 1
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$d/ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/ext" -out "$d/server.crt" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=coop test client" \
		-keyout "$d/client.key" -out "$d/client.csr" 2>/dev/null || return 1
	printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
	openssl x509 -req -in "$d/client.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/client.ext" -out "$d/client.crt" 2>/dev/null || return 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=coop test token signer" \
		-keyout "$d/token.key" -out "$d/token.crt" 2>/dev/null
}

# bg_start PIDFILE LOG CMD...: CMD in the background, its pid appended to PIDFILE.
bg_start() {
	local pidfile=$1 log=$2
	shift 2
	"$@" </dev/null >>"$log" 2>&1 3>&- &
	echo $! >>"$pidfile"
	LAST_PID=$!
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s).
wait_port() {
	local n=100
	until (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

# reg_start DIR PIDFILE [--port P] [--tls CERTDIR [--client-ca]] [--htpasswd USER:PASS]
#           [--token REALM CERTDIR] [--redirect BASEURL]
# A registry with its config, storage and log in DIR; sets REG_PORT and REG_PID.
# --client-ca: TLS clients must show a certificate signed by CERTDIR/ca.crt.
reg_start() {
	local dir=$1 pidfile=$2 port="" tls="" htp="" realm="" tcerts="" redirect="" cca=""
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--port) port=$2; shift 2 ;;
		--tls) tls=$2; shift 2 ;;
		--client-ca) cca=1; shift ;;
		--htpasswd) htp=$2; shift 2 ;;
		--token) realm=$2; tcerts=$3; shift 3 ;;
		--redirect) redirect=$2; shift 2 ;;
		*) echo "reg_start: unknown option $1" >&2; return 1 ;;
		esac
	done
	[ -n "$port" ] || port=$(free_port) || return 1
	mkdir -p "$dir/data"
	{
		echo "version: 0.1"
		echo "log: {level: info, accesslog: {disabled: false}}"
		echo "storage:"
		echo "  filesystem: {rootdirectory: $dir/data}"
		echo "  delete: {enabled: true}"
		echo "  maintenance: {uploadpurging: {enabled: false}}"
		echo "http:"
		echo "  addr: 127.0.0.1:$port"
		echo "  secret: coop-test-secret"
		[ -n "$tls" ] && echo "  tls: {certificate: $tls/server.crt, key: $tls/server.key${cca:+, clientcas: [$tls/ca.crt]}}"
		if [ -n "$htp" ]; then
			htpasswd -Bbn "${htp%%:*}" "${htp#*:}" >"$dir/htpasswd" || return 1
			echo "auth: {htpasswd: {realm: coop-test, path: $dir/htpasswd}}"
		fi
		if [ -n "$realm" ]; then
			echo "auth: {token: {realm: \"$realm\", service: coop-registry, issuer: coop-test-issuer, rootcertbundle: $tcerts/token.crt}}"
		fi
		if [ -n "$redirect" ]; then
			echo "middleware:"
			echo "  storage:"
			echo "    - name: redirect"
			echo "      options: {baseurl: \"$redirect\"}"
		fi
	} >"$dir/config.yml"
	bg_start "$pidfile" "$dir/log" docker-registry serve "$dir/config.yml"
	REG_PID=$LAST_PID
	REG_PORT=$port
	wait_port "$port" || { cat "$dir/log" >&2; return 1; }
}

# token_start DIR PIDFILE CERTDIR USER:PASS [--expires S]: our token server; sets
# TOKEN_PORT. Its log (one line per token) is DIR/token.log.
token_start() {
	local dir=$1 pidfile=$2 certs=$3 cred=$4
	shift 4
	mkdir -p "$dir"
	TOKEN_PORT=$(free_port) || return 1
	bg_start "$pidfile" "$dir/token.out" python3 "$TOOLS_DIR/tokenserver.py" token "$TOKEN_PORT" \
		--key "$certs/token.key" --cert "$certs/token.crt" --issuer coop-test-issuer \
		--service coop-registry --user "${cred%%:*}" --password "${cred#*:}" \
		--log "$dir/token.log" "$@"
	wait_port "$TOKEN_PORT" || { cat "$dir/token.out" >&2; return 1; }
}

# files_start DIR ROOT PIDFILE: a file server over ROOT (Range aware); sets FILES_PORT;
# its request log is DIR/files.log.
files_start() {
	local dir=$1 root=$2 pidfile=$3
	mkdir -p "$dir"
	FILES_PORT=$(free_port) || return 1
	bg_start "$pidfile" "$dir/files.out" python3 "$TOOLS_DIR/tokenserver.py" files "$FILES_PORT" \
		"$root" --log "$dir/files.log"
	wait_port "$FILES_PORT" || { cat "$dir/files.out" >&2; return 1; }
}

# kill_pids PIDFILE: SIGKILL everything recorded there (by pid), reap, forget.
kill_pids() {
	local p
	[ -f "$1" ] || return 0
	for p in $(cat "$1"); do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -f "$1"
	return 0
}

# ---- images ----

# make_images LAYOUT: the test images, built once per file:
#   multi:1  two layers; the upper deletes /etc/old (whiteout) and replaces /data
#            (opaque: /data/old/a disappears, /data/new appears); Cmd prints a file
#   arm:1    the same rootfs with an arm64 config
#   multiarch:1  an index of multi:1 (linux/amd64) and arm:1 (linux/arm64/v8)
#   big:1    busybox plus an 24 MB uncompressed layer of random bytes
make_images() {
	local out=$1 w=$1.work
	[ -e "$out/index.json" ] && return 0
	rm -rf "$w" && mkdir -p "$w" || return 1
	"$REPO/scripts/mkrootfs.sh" "$w/base" >/dev/null || return 1
	mkdir -p "$w/base/data/old" "$w/base/etc" && echo gone >"$w/base/etc/old" &&
		echo a >"$w/base/data/old/a" && echo keep >"$w/base/etc/kept" || return 1
	mkdir -p "$w/upper/etc" "$w/upper/data" && touch "$w/upper/etc/.wh.old" \
		"$w/upper/data/.wh..wh..opq" && echo new >"$w/upper/data/new" &&
		echo "hello from the image" >"$w/upper/etc/greeting" || return 1
	mkdir -p "$w/bigl" && head -c 24000000 /dev/urandom >"$w/bigl/blob" || return 1
	local pack=(python3 "$TOOLS_DIR/ocipack.py" "$out")
	"${pack[@]}" image multi:1 --cmd '["cat","greeting"]' --workdir /etc \
		--env GREETING=hi "$w/base" "$w/upper" &&
		"${pack[@]}" image arm:1 --arch arm64 --variant v8 --cmd '["cat","greeting"]' \
			"$w/base" "$w/upper" &&
		"${pack[@]}" index multiarch:1 multi:1 arm:1 &&
		"${pack[@]}" image big:1 --plain --cmd '["true"]' "$w/base" "$w/bigl" || return 1
	rm -rf "$w"
}

# push LAYOUT TAG PORT REPO:TAG [skopeo options...]
push() {
	local layout=$1 tag=$2 port=$3 dest=$4
	shift 4
	skopeo copy -q --dest-tls-verify=false "$@" "oci:$layout:$tag" \
		"docker://127.0.0.1:$port/$dest" >/dev/null
}

# digest_of LAYOUT TAG: the manifest (or index) digest of an image in the layout.
digest_of() {
	jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
		"$1/index.json"
}

# blob_file REGDIR DIGEST: where the registry keeps a blob.
blob_file() {
	local hex=${2#sha256:}
	echo "$1/data/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}

# layer_digest LAYOUT TAG N: the Nth (0-based) layer of an image.
layer_digest() {
	local m
	m=$(digest_of "$1" "$2")
	jq -r ".layers[$3].digest" "$1/blobs/sha256/${m#sha256:}"
}
