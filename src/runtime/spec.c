/* spec: the default config.json written by `coop-runtime spec` — the same shape runc's
 * has, plus what Docker users expect by default: its capability set and its seccomp
 * profile. */
#include <unistd.h>

#include "base/util.h"
#include "runtime/caps.h"
#include "runtime/config.h"
#include "runtime/seccomp.h"

static json_t *mount_entry(const char *dest, const char *type, const char *src,
			   const char *opts)
{
	json_t *o = json_array();
	_cleanup_free_ char *copy = xstrdup(opts);
	char *save = NULL;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(o, json_string(t));
	return json_pack("{s:s,s:s,s:s,s:o}", "destination", dest, "type", type, "source", src,
			 "options", o);
}

static json_t *strings(const char *const *v)
{
	json_t *a = json_array();
	for (; *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static json_t *default_mounts(bool rootless)
{
	json_t *m = json_array();

	json_array_append_new(m, mount_entry("/proc", "proc", "proc", "nosuid,noexec,nodev"));
	json_array_append_new(m, mount_entry("/dev", "tmpfs", "tmpfs",
					     "nosuid,strictatime,mode=755,size=65536k"));
	json_array_append_new(m, mount_entry("/dev/pts", "devpts", "devpts",
					     rootless ? "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620"
						      : "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"));
	json_array_append_new(m, mount_entry("/dev/shm", "tmpfs", "shm",
					     "nosuid,noexec,nodev,mode=1777,size=65536k"));
	json_array_append_new(m, mount_entry("/dev/mqueue", "mqueue", "mqueue",
					     "nosuid,noexec,nodev"));
	if (rootless)
		json_array_append_new(m, mount_entry("/sys", "none", "/sys",
						     "rbind,nosuid,noexec,nodev,ro"));
	else
		json_array_append_new(m, mount_entry("/sys", "sysfs", "sysfs",
						     "nosuid,noexec,nodev,ro"));
	json_array_append_new(m, mount_entry("/sys/fs/cgroup", "cgroup", "cgroup",
					     "nosuid,noexec,nodev,relatime,ro"));
	return m;
}

json_t *rt_config_default(bool rootless)
{
	static const char *const env[] = {
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm",
		NULL,
	};
	static const char *const masked[] = {
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap", NULL,
	};
	static const char *const readonly[] = {
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
	};
	static const char *const nss[] = { "pid", "network", "ipc", "uts", "mount", "cgroup" };
	struct rt_caps caps = { .present = true };
	uint64_t mask = rt_caps_default_mask();
	json_t *ns = json_array(), *lin, *proc;

	caps.set[RT_CAP_BOUNDING] = caps.set[RT_CAP_EFFECTIVE] = caps.set[RT_CAP_PERMITTED] = mask;
	for (size_t i = 0; i < ARRAY_SIZE(nss); i++)
		json_array_append_new(ns, json_pack("{s:s}", "type", nss[i]));
	if (rootless)
		json_array_append_new(ns, json_pack("{s:s}", "type", "user"));
	proc = json_pack("{s:b,s:{s:i,s:i},s:[s],s:o,s:s,s:o,s:[{s:s,s:i,s:i}],s:b}",
			 "terminal", 1, "user", "uid", 0, "gid", 0, "args", "sh", "env",
			 strings(env), "cwd", "/", "capabilities", rt_caps_to_json(&caps),
			 "rlimits", "type", "RLIMIT_NOFILE", "hard", 1024, "soft", 1024,
			 "noNewPrivileges", 1);
	lin = json_pack("{s:{s:[{s:b,s:s}]},s:o,s:o,s:o,s:o}", "resources", "devices", "allow", 0,
			"access", "rwm", "namespaces", ns, "maskedPaths", strings(masked),
			"readonlyPaths", strings(readonly), "seccomp",
			rt_seccomp_default_profile(mask));
	if (rootless) {
		json_object_set_new(lin, "uidMappings",
				    json_pack("[{s:i,s:i,s:i}]", "containerID", 0, "hostID",
					      (int)getuid(), "size", 1));
		json_object_set_new(lin, "gidMappings",
				    json_pack("[{s:i,s:i,s:i}]", "containerID", 0, "hostID",
					      (int)getgid(), "size", 1));
		json_object_del(json_object_get(lin, "resources"), "devices");
	}
	return json_pack("{s:s,s:o,s:{s:s,s:b},s:s,s:o,s:o}", "ociVersion", "1.2.0", "process",
			 proc, "root", "path", "rootfs", "readonly", 1, "hostname", "coop",
			 "mounts", default_mounts(rootless), "linux", lin);
}
