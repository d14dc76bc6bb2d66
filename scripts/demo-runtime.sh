#!/bin/sh
# demo.sh — what `make run` shows: a busybox image packed from Debian's busybox-static,
# run by coop-runtime as a real container (own PID, mount, network, UTS, IPC and cgroup
# namespaces, a memory and pids limit, Docker's default capabilities and seccomp
# profile), then a detached one driven through its lifecycle. Leaves nothing behind.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
rt="$top/build/coop-runtime"
work=$(mktemp -d /tmp/coop-demo.XXXXXX)
root="$work/state"
id="coop-demo-$$"
cleanup() {
	"$rt" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
	"$rt" --root "$root" delete --force "$id-fg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "packing a busybox image from Debian's busybox-static"
"$top/scripts/mkrootfs.sh" "$work/bundle/rootfs"
"$rt" spec --bundle "$work/bundle"
# a writable root, no tty, limits, and a script that looks around
cfg="$work/bundle/config.json"
python3 - "$cfg" "$id" <<'PY' 2>/dev/null || sed -i 's/"terminal": true/"terminal": false/' "$cfg"
import json, sys
p, cid = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["process"]["terminal"] = False
c["root"]["readonly"] = False
c["hostname"] = "demo"
c["linux"]["cgroupsPath"] = "/coop-demo/" + cid
c["linux"]["resources"].update({"memory": {"limit": 64 << 20}, "pids": {"limit": 64}})
c["process"]["args"] = ["sh", "-c",
  "echo \"hostname: $(hostname)   my pid: $$   user: $(id -un)\"; "
  "echo \"network interfaces: $(ls /sys/class/net | tr '\\n' ' ')\"; "
  "echo \"memory limit: $(( $(cat /sys/fs/cgroup/memory/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes) / 1048576 )) MiB\"; "
  "echo \"processes visible: $(ls -d /proc/[0-9]* | wc -l)\"; "
  "unshare -m true 2>/dev/null && echo 'unshare: allowed?!' || echo 'unshare: denied by seccomp, as in Docker'"]
json.dump(c, open(p, "w"), indent=2)
PY

say "coop-runtime run (foreground: exit code and signals pass through)"
"$rt" --root "$root" run --bundle "$work/bundle" "$id-fg"
echo "exit code: $?"

say "a detached container: create, start, exec, pause, resume, kill, delete"
python3 - "$cfg" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["process"]["args"] = ["sleep", "300"]
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
"$rt" --root "$root" create --bundle "$work/bundle" "$id"
"$rt" --root "$root" list
"$rt" --root "$root" start "$id"
"$rt" --root "$root" exec "$id" sh -c 'echo "exec sees pid 1 as: $(cat /proc/1/comm)"'
"$rt" --root "$root" pause "$id"
"$rt" --root "$root" state "$id" | grep '"status"'
"$rt" --root "$root" resume "$id"
"$rt" --root "$root" kill "$id" KILL
sleep 0.2
"$rt" --root "$root" state "$id" | grep '"status"'
"$rt" --root "$root" delete "$id"
say "done: the container, its cgroup and its state are gone"
