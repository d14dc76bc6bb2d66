/* hooks: fork+exec of hook programs with the container state on stdin. */
#include "runtime/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "base/util.h"

const char *rt_hook_kind_name(enum rt_hook_kind kind)
{
	static const char *const names[] = { "prestart", "createRuntime", "createContainer",
					     "startContainer", "poststart", "poststop" };
	return names[kind];
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Waits for pid, killing it after timeout seconds (0 = forever); returns its status. */
static int wait_timeout(pid_t pid, int timeout, int *ret_status)
{
	_cleanup_close_ int pfd = timeout > 0 ? pidfd_open_(pid) : -1;

	if (pfd >= 0) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		int r;
		do
			r = poll(&p, 1, timeout * 1000);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, ret_status, 0);
			return -ETIMEDOUT;
		}
	}
	while (waitpid(pid, ret_status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int run_one(const struct rt_hook *h, const char *state_json, struct err *err)
{
	int in[2], status = 0, r;
	char *const def_args[] = { h->path, NULL };
	char *const empty_env[] = { NULL };
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0)
		return err_sys(err, errno, "create pipe for hook '%s'", h->path);
	pid = fork();
	if (pid < 0) {
		close(in[0]);
		close(in[1]);
		return err_sys(err, errno, "fork hook '%s'", h->path);
	}
	if (pid == 0) {
		dup2(in[0], 0);
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		execve(h->path, h->args ? h->args : def_args, h->env ? h->env : empty_env);
		dprintf(2, "exec hook '%s': %s\n", h->path, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	/* a hook that does not read its stdin must not make us fail or block */
	signal(SIGPIPE, SIG_IGN);
	if (write(in[1], state_json, strlen(state_json)) < 0 && errno != EPIPE) {
		/* reported through its exit status if it matters */
	}
	close(in[1]);
	r = wait_timeout(pid, h->timeout, &status);
	if (r == -ETIMEDOUT)
		return err_msg(err, ETIMEDOUT, "hook '%s' timed out after %d s", h->path, h->timeout);
	if (r < 0)
		return err_sys(err, -r, "wait for hook '%s'", h->path);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		return err_msg(err, ECANCELED, "hook '%s' killed by signal %d", h->path,
			       WTERMSIG(status));
	return err_msg(err, ECANCELED, "hook '%s' exited with status %d", h->path,
		       WEXITSTATUS(status));
}

int rt_hooks_run(const struct rt_hooks *hooks, enum rt_hook_kind kind, const char *state_json,
		 struct err *err)
{
	for (size_t i = 0; i < hooks->n[kind]; i++) {
		int r = run_one(&hooks->hook[kind][i], state_json, err);
		if (r < 0)
			return err_wrap(err, "%s hook", rt_hook_kind_name(kind));
	}
	return 0;
}
