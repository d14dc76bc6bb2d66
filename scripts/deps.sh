#!/bin/sh
# Installs the Debian packages coop needs to build, run and test; installs only what
# is missing, so a second run is a no-op. Used by `make run` and `make test`.
set -eu
BUILD="gcc make pkg-config clang libbpf-dev libjansson-dev libseccomp-dev libcap-dev libyaml-dev libarchive-dev libcurl4-gnutls-dev libgnutls28-dev nettle-dev libmnl-dev libnftables-dev libuv1-dev libmicrohttpd-dev libraft-dev"
# libcurl3-gnutls, libarchive13, libnftables1, libbpf1: coop dlopens these on first use
# (src/base/dl.c), so no DT_NEEDED entry names them; the -dev packages pull them in too.
RUN="busybox-static iproute2 libbpf1 procps curl e2fsprogs libcurl3-gnutls libarchive13 libnftables1"
TEST="bats libcmocka-dev clang libclang-rt-14-dev runc crun podman uidmap jq libc6-dev docker-registry skopeo umoci apache2-utils openssl python3 python3-cryptography curl nftables iputils-ping util-linux wrk nginx-light ethtool iperf3"
want="$BUILD $RUN"
case "${1:-}" in test) want="$want $TEST" ;; esac
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "coop: missing packages:$missing; run as root or: apt-get install$missing" >&2
	exit 1
fi
echo "coop: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# podman's recommends pull in services we do not want started; keep installs minimal
apt-get install -y -qq --no-install-recommends $missing >/dev/null
