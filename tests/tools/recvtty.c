/* recvtty SOCKET [INPUT] — the console-socket end of an OCI runtime, for the tests:
 * listens on a unix socket, receives one pty master fd via SCM_RIGHTS, writes INPUT
 * into it, copies everything that comes back to stdout until the other side hangs up
 * (EIO) or 10 s pass, then exits. Exit 0 only if a tty was received. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "recvtty: %s: %s\n", what, strerror(errno));
	return 1;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Returns the fd carried by one SCM_RIGHTS message, or -1. */
static int recv_fd(int conn)
{
	char name[256];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) < 0)
		return -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
		errno = EBADMSG;
		return -1;
	}
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

static void copy_out(int master)
{
	char buf[4096];
	time_t end = time(NULL) + 10;
	while (time(NULL) < end) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		if (poll(&p, 1, 500) <= 0)
			continue;
		ssize_t n = read(master, buf, sizeof(buf));
		if (n <= 0)
			return; /* EIO: every slave fd is closed */
		fwrite(buf, 1, (size_t)n, stdout);
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: recvtty SOCKET [INPUT]\n");
		return 2;
	}
	int lfd = listen_on(argv[1]);
	if (lfd < 0)
		return die(argv[1]);
	int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return die("accept");
	int master = recv_fd(conn);
	if (master < 0)
		return die("recvmsg");
	close(conn);
	close(lfd);
	if (!isatty(master)) {
		fprintf(stderr, "recvtty: received fd is not a tty\n");
		return 1;
	}
	if (argc == 3) {
		size_t len = strlen(argv[2]);
		if (write(master, argv[2], len) != (ssize_t)len)
			return die("write");
	}
	copy_out(master);
	return 0;
}
