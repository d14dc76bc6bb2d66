/* seccomp_default: Docker's default seccomp profile, written as a table of syscall
 * groups and the capability (if any) that unlocks each, turned into an OCI
 * linux.seccomp object. Everything not listed fails with EPERM; notable denials are
 * keyrings, kexec, modules, mounts and namespaces, bpf, perf, userfaultfd, swap. */
#include "runtime/seccomp.h"

#include <linux/capability.h>
#include <sys/utsname.h>

#include "base/js.h"
#include "base/util.h"

#define ALWAYS (-1)

/* Names per gate, space separated; names unknown to the host's libseccomp are skipped
 * when the filter is built, so 32-bit variants cost nothing on 64-bit hosts. */
static const struct {
	int cap; /* ALWAYS, or the capability that allows the group */
	const char *names;
} groups[] = {
    {ALWAYS, /* files and descriptors */
     "access faccessat faccessat2 chdir fchdir getcwd chmod fchmod fchmodat fchmodat2 "
     "chown chown32 fchown fchown32 fchownat lchown lchown32 close close_range creat "
     "dup dup2 dup3 fcntl fcntl64 flock fsync fdatasync syncfs sync sync_file_range "
     "fadvise64 fadvise64_64 fallocate ftruncate ftruncate64 truncate truncate64 "
     "getdents getdents64 link linkat symlink symlinkat unlink unlinkat mkdir mkdirat "
     "mknod mknodat open openat openat2 rename renameat renameat2 rmdir readlink "
     "readlinkat stat stat64 lstat lstat64 fstat fstat64 fstatat64 newfstatat statx "
     "statfs statfs64 fstatfs fstatfs64 umask utime utimes utimensat utimensat_time64 "
     "futimesat copy_file_range lseek _llseek read readv pread64 preadv preadv2 write "
     "writev pwrite64 pwritev pwritev2 readahead sendfile sendfile64 splice tee "
     "vmsplice getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr setxattr "
     "lsetxattr fsetxattr removexattr lremovexattr fremovexattr ioctl fanotify_mark "
     "inotify_init inotify_init1 inotify_add_watch inotify_rm_watch memfd_create "
     "memfd_secret pipe pipe2 eventfd eventfd2 signalfd signalfd4 timerfd_create "
     "timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 cachestat"},
    {ALWAYS, /* polling and async I/O */
     "select _newselect pselect6 pselect6_time64 poll ppoll ppoll_time64 epoll_create "
     "epoll_create1 epoll_ctl epoll_ctl_old epoll_wait epoll_wait_old epoll_pwait "
     "epoll_pwait2 io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents "
     "io_pgetevents_time64 ioprio_get ioprio_set"},
    {ALWAYS, /* memory */
     "brk mmap mmap2 munmap mremap mprotect madvise mincore msync mlock mlock2 mlockall "
     "munlock munlockall membarrier remap_file_pages pkey_alloc pkey_free pkey_mprotect "
     "map_shadow_stack"},
    {ALWAYS, /* processes, threads, signals, scheduling */
     "execve execveat exit exit_group fork vfork wait4 waitid waitpid getpid getppid "
     "gettid getpgid getpgrp setpgid getsid setsid getpriority setpriority getrlimit "
     "ugetrlimit setrlimit prlimit64 getrusage times prctl arch_prctl capget capset "
     "getuid getuid32 geteuid geteuid32 getgid getgid32 getegid getegid32 getresuid "
     "getresuid32 getresgid getresgid32 getgroups getgroups32 setuid setuid32 setgid "
     "setgid32 setreuid setreuid32 setregid setregid32 setresuid setresuid32 setresgid "
     "setresgid32 setfsuid setfsuid32 setfsgid setfsgid32 setgroups setgroups32 "
     "set_tid_address set_robust_list get_robust_list set_thread_area get_thread_area "
     "rseq futex futex_time64 futex_waitv futex_wait futex_wake futex_requeue "
     "restart_syscall kill tkill tgkill pidfd_open pidfd_send_signal process_mrelease "
     "rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn "
     "rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sigaltstack "
     "sigprocmask sigreturn pause sched_getaffinity sched_setaffinity sched_getattr "
     "sched_setattr sched_getparam sched_setparam sched_getscheduler sched_setscheduler "
     "sched_get_priority_max sched_get_priority_min sched_rr_get_interval "
     "sched_rr_get_interval_time64 sched_yield getcpu seccomp landlock_create_ruleset "
     "landlock_add_rule landlock_restrict_self getrandom uname sysinfo"},
    {ALWAYS, /* time and timers (reading only; setting needs CAP_SYS_TIME) */
     "alarm getitimer setitimer clock_getres clock_getres_time64 clock_gettime "
     "clock_gettime64 clock_nanosleep clock_nanosleep_time64 nanosleep gettimeofday time "
     "timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 "
     "timer_settime timer_settime64"},
    {ALWAYS, /* sockets (socket itself is argument-filtered) and System V / POSIX IPC */
     "accept accept4 bind connect listen getpeername getsockname getsockopt setsockopt "
     "recv recvfrom recvmsg recvmmsg recvmmsg_time64 send sendto sendmsg sendmmsg "
     "shutdown socketpair socketcall ipc msgctl msgget msgrcv msgsnd semctl semget semop "
     "semtimedop semtimedop_time64 shmat shmctl shmdt shmget mq_open mq_unlink "
     "mq_getsetattr mq_notify mq_timedreceive mq_timedreceive_time64 mq_timedsend "
     "mq_timedsend_time64"},
#if defined(__x86_64__) || defined(__i386__)
    {ALWAYS, "modify_ldt"},
#elif defined(__aarch64__) || defined(__arm__)
    {ALWAYS, "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush "
	     "set_tls"},
#elif defined(__s390x__) || defined(__s390__)
    {ALWAYS, "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr"},
#elif defined(__riscv)
    {ALWAYS, "riscv_flush_icache"},
#endif
    {CAP_SYS_ADMIN,
     "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount "
     "mount_setattr move_mount open_tree perf_event_open pivot_root quotactl quotactl_fd "
     "setdomainname sethostname setns syslog umount umount2 unshare"},
    {CAP_DAC_READ_SEARCH, "open_by_handle_at name_to_handle_at"},
    {CAP_SYS_BOOT, "reboot"},
    {CAP_SYS_CHROOT, "chroot"},
    {CAP_SYS_MODULE, "init_module finit_module delete_module"},
    {CAP_SYS_PTRACE, "ptrace process_vm_readv process_vm_writev process_madvise kcmp "
		     "pidfd_getfd"},
    {CAP_SYS_PACCT, "acct"},
    {CAP_SYS_RAWIO, "iopl ioperm"},
    {CAP_SYS_TIME, "settimeofday stime clock_settime clock_settime64 adjtimex "
		   "clock_adjtime clock_adjtime64"},
    {CAP_SYS_TTY_CONFIG, "vhangup"},
    {CAP_SYS_NICE, "get_mempolicy mbind set_mempolicy set_mempolicy_home_node move_pages "
		   "migrate_pages"},
    {CAP_SYSLOG, "syslog"},
    {CAP_BPF, "bpf"},
    {CAP_PERFMON, "perf_event_open"},
};

/* personality(2) values Docker allows: PER_LINUX, PER_LINUX32, UNAME26 variants and the
 * query value 0xffffffff. */
static const uint64_t personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

/* Namespace flags of clone(2) (CLONE_NEWNS...CLONE_NEWNET plus CLONE_NEWCGROUP). */
#define CLONE_NS_MASK 0x7E020000ULL
#define AF_VSOCK_NR 40

#if defined(__s390x__) || defined(__s390__)
#define CLONE_FLAGS_ARG 1 /* s390 swaps clone's first two arguments */
#else
#define CLONE_FLAGS_ARG 0
#endif

static bool has_cap(uint64_t caps, int cap)
{
	return cap == ALWAYS || (cap < 64 && (caps >> cap) & 1);
}

/* Appends the names of `list` to `arr`, skipping those already in `seen`. */
static void add_names(json_t *arr, json_t *seen, const char *list)
{
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, " ");
		if (n > 0) {
			char name[64];
			snprintf(name, sizeof(name), "%.*s", (int)n, p);
			if (!json_object_get(seen, name)) {
				json_object_set_new(seen, name, json_true());
				json_array_append_new(arr, json_string(name));
			}
		}
		p += n;
		p += strspn(p, " ");
	}
}

static json_t *rule(const char *names, const char *action)
{
	json_t *arr = json_array();
	_cleanup_json_ json_t *seen = json_object();

	add_names(arr, seen, names);
	return json_pack("{s:o, s:s}", "names", arr, "action", action);
}

static json_t *arg_rule(const char *name, int index, uint64_t value, uint64_t value2,
			const char *op)
{
	json_t *r = rule(name, "SCMP_ACT_ALLOW");
	json_object_set_new(r, "args",
			    json_pack("[{s:i, s:I, s:I, s:s}]", "index", index, "value",
				      (json_int_t)value, "valueTwo", (json_int_t)value2, "op", op));
	return r;
}

/* Docker allows ptrace to everyone from 4.8 on, where it no longer bypasses seccomp. */
static bool kernel_at_least_4_8(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major > 4 || (major == 4 && minor >= 8);
}

static json_t *architectures(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return json_pack("[s,s,s]", "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32");
#elif defined(__aarch64__) || defined(__arm__)
	return json_pack("[s,s]", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM");
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return json_pack("[s]", "SCMP_ARCH_PPC64LE");
#elif defined(__s390x__) || defined(__s390__)
	return json_pack("[s,s]", "SCMP_ARCH_S390X", "SCMP_ARCH_S390");
#elif defined(__riscv) && __riscv_xlen == 64
	return json_pack("[s]", "SCMP_ARCH_RISCV64");
#else
	return json_array(); /* native only */
#endif
}

json_t *rt_seccomp_default_profile(uint64_t caps)
{
	json_t *allowed = json_array(), *syscalls = json_array();
	_cleanup_json_ json_t *seen = json_object();

	for (size_t i = 0; i < ARRAY_SIZE(groups); i++)
		if (has_cap(caps, groups[i].cap))
			add_names(allowed, seen, groups[i].names);
	if (kernel_at_least_4_8())
		add_names(allowed, seen, "ptrace process_vm_readv process_vm_writev");
	json_array_append_new(
	    syscalls, json_pack("{s:o, s:s}", "names", allowed, "action", "SCMP_ACT_ALLOW"));

	for (size_t i = 0; i < ARRAY_SIZE(personalities); i++)
		json_array_append_new(
		    syscalls, arg_rule("personality", 0, personalities[i], 0, "SCMP_CMP_EQ"));
	json_array_append_new(syscalls, arg_rule("socket", 0, AF_VSOCK_NR, 0, "SCMP_CMP_NE"));
	if (!has_cap(caps, CAP_SYS_ADMIN)) {
		json_array_append_new(syscalls, arg_rule("clone", CLONE_FLAGS_ARG, CLONE_NS_MASK, 0,
							 "SCMP_CMP_MASKED_EQ"));
		/* clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libc
		 * fall back to clone, which is filtered above. */
		json_t *c3 = rule("clone3", "SCMP_ACT_ERRNO");
		json_object_set_new(c3, "errnoRet", json_integer(ENOSYS));
		json_array_append_new(syscalls, c3);
	}
	return json_pack("{s:s, s:i, s:o, s:o}", "defaultAction", "SCMP_ACT_ERRNO",
			 "defaultErrnoRet", EPERM, "architectures", architectures(), "syscalls",
			 syscalls);
}
