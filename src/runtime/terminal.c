/* terminal: pty handling for process.terminal. */
#include "runtime/terminal.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>

#include "base/util.h"

int rt_console_connect(const char *path, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_msg(err, ENAMETOOLONG, "console socket path too long: '%s'", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(err, errno, "create socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return err_sys(err, e, "connect to console socket '%s'", path);
	}
	return fd;
}

int rt_pty_open(unsigned rows, unsigned cols, int *ret_master, int *ret_slave, struct err *err)
{
	_cleanup_close_ int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	int s;

	if (m < 0)
		return err_sys(err, errno, "open '/dev/ptmx'");
	if (unlockpt(m) < 0)
		return err_sys(err, errno, "unlock pty");
	s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (s < 0)
		return err_sys(err, errno, "open pty peer");
	if (rows && cols) {
		struct winsize ws = { .ws_row = rows, .ws_col = cols };
		ioctl(s, TIOCSWINSZ, &ws);
	}
	*ret_master = take_fd(m);
	*ret_slave = s;
	return 0;
}

int rt_pty_attach(int slave, struct err *err)
{
	if (setsid() < 0 && errno != EPERM)
		return err_sys(err, errno, "setsid");
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return err_sys(err, errno, "set controlling terminal");
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			return err_sys(err, errno, "dup pty to fd %d", i);
	if (slave > 2)
		close(slave);
	return 0;
}

int rt_fd_send(int sock, int fd, struct err *err)
{
	char data = 'F';
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(u.buf, 0, sizeof(u.buf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
		return err_sys(err, errno, "send terminal to console socket");
	return 0;
}

int rt_fd_recv(int sock, int *ret_fd, struct err *err)
{
	char data;
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) <= 0)
		return err_sys(err, errno ? errno : EPIPE, "receive terminal");
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return err_msg(err, EPROTO, "receive terminal: no descriptor");
	memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
	return 0;
}

static struct termios saved_tio;
static int tio_saved;

static void restore_tty(void)
{
	if (tio_saved)
		tcsetattr(0, TCSANOW, &saved_tio);
}

void rt_pty_proxy(int master)
{
	struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = master, .events = POLLIN } };
	char buf[8192];

	if (isatty(0) && tcgetattr(0, &saved_tio) == 0) {
		struct termios raw = saved_tio;
		struct winsize ws;
		cfmakeraw(&raw);
		tcsetattr(0, TCSANOW, &raw);
		tio_saved = 1;
		atexit(restore_tty);
		if (ioctl(0, TIOCGWINSZ, &ws) == 0)
			ioctl(master, TIOCSWINSZ, &ws);
	}
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(master, buf, sizeof(buf));
			if (n <= 0)
				break;
			if (write(1, buf, n) < 0)
				break;
		}
		if (p[0].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n <= 0)
				p[0].fd = -1; /* stdin closed: keep draining output */
			else if (write(master, buf, n) < 0)
				break;
		}
	}
	restore_tty();
}
