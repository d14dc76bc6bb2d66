#!/bin/sh
# mkrootfs.sh DIR — a busybox rootfs from Debian's busybox-static: /bin/busybox plus one
# symlink per applet, and the few files programs expect (/etc/passwd, /etc/group).
# Used by the demo, the tests and the benchmarks; idempotent.
set -eu
dir=$1
bb=/bin/busybox
[ -x "$bb" ] || { echo "mkrootfs: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
command -v file >/dev/null && file -L "$bb" 2>/dev/null | grep -q 'dynamically linked' &&
	{ echo "mkrootfs: $bb is not static (install busybox-static)" >&2; exit 1; }
mkdir -p "$dir/bin" "$dir/sbin" "$dir/usr/bin" "$dir/usr/sbin" "$dir/etc" "$dir/proc" \
	"$dir/sys" "$dir/dev" "$dir/tmp" "$dir/root" "$dir/var" "$dir/home"
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
for app in $("$bb" --list-full); do
	case "$app" in bin/busybox) continue ;; esac
	[ -e "$dir/$app" ] || ln -s /bin/busybox "$dir/$app"
done
cat >"$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat >"$dir/etc/group" <<'G'
root:x:0:
daemon:x:1:
nogroup:x:65534:
G
