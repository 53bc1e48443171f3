/* One descriptor of the kind named by argv[1] (besides stdio). Prints
   "FD n LINK" before READY; after the restart checks that fd n is there and
   leads to the same kind of object (the link's kind part: "anon_inode:[x]",
   "socket:[", "pipe:[", or the same path), else FAIL: a descriptor replaced.
   "skipped: ..." if this machine cannot make the kind. */
#include "zdtm.h"
#include <fcntl.h>
#include <linux/netlink.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <netinet/in.h>
#include <linux/perf_event.h>

static void kind_of(const char *link, char *out, size_t n)
{
	const char *b = strchr(link, '[');
	if (link[0] == '/' || !b)
		snprintf(out, n, "%s", link);
	else if (!strncmp(link, "anon_inode:", 11))
		snprintf(out, n, "%s", link); /* anon_inode:[eventfd] */
	else
		snprintf(out, n, "%.*s", (int)(b - link), link); /* socket:, pipe: */
}

int main(int argc, char **argv)
{
	zdtm_init();
	if (argc != 3)
		return 2;
	const char *k = argv[1];
	int fd = -1, p[2];
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (!strcmp(k, "eventfd"))
		fd = eventfd(3, 0);
	else if (!strcmp(k, "epoll"))
		fd = epoll_create1(0);
	else if (!strcmp(k, "timerfd"))
		fd = timerfd_create(CLOCK_MONOTONIC, 0);
	else if (!strcmp(k, "signalfd"))
		fd = signalfd(-1, &m, 0);
	else if (!strcmp(k, "inotify"))
		fd = inotify_init1(0);
	else if (!strcmp(k, "fanotify"))
		fd = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY);
	else if (!strcmp(k, "pidfd"))
		fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	else if (!strcmp(k, "userfaultfd"))
		fd = (int)syscall(SYS_userfaultfd, 0);
	else if (!strcmp(k, "io_uring")) {
		char params[120] = {0};
		fd = (int)syscall(425, 4, params);
	} else if (!strcmp(k, "perf_event")) {
		struct perf_event_attr pa = {.type = PERF_TYPE_SOFTWARE,
					     .size = sizeof(pa),
					     .config = PERF_COUNT_SW_TASK_CLOCK,
					     .exclude_kernel = 1};
		fd = (int)syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0);
	} else if (!strcmp(k, "memfd"))
		fd = (int)syscall(SYS_memfd_create, "kinds", 0);
	else if (!strcmp(k, "fifo")) {
		fd = open(argv[2], O_RDWR);
	} else if (!strcmp(k, "pipe")) {
		if (pipe(p) == 0) {
			fd = p[0];
			close(p[1]);
		}
	} else if (!strcmp(k, "devnull"))
		fd = open("/dev/null", O_RDWR);
	else if (!strcmp(k, "directory"))
		fd = open("/", O_RDONLY | O_DIRECTORY);
	else if (!strcmp(k, "tty"))
		fd = open("/dev/ptmx", O_RDWR | O_NOCTTY);
	else if (!strcmp(k, "blockdev"))
		fd = open("/dev/loop0", O_RDONLY);
	else if (!strcmp(k, "unix-pair")) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) == 0)
			fd = p[0];
	} else if (!strcmp(k, "tcp-listen")) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && (bind(fd, (void *)&a, sizeof(a)) || listen(fd, 1)))
			fd = -1;
	} else if (!strcmp(k, "udp"))
		fd = socket(AF_INET, SOCK_DGRAM, 0);
	else if (!strcmp(k, "udp6"))
		fd = socket(AF_INET6, SOCK_DGRAM, 0);
	else if (!strcmp(k, "netlink"))
		fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	else if (!strcmp(k, "packet"))
		fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		printf("skipped: %s cannot be made here\n", k);
		return 0;
	}
	char self[64], link[4096] = "", was[4096], now[4096] = "";
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(self, link, sizeof(link) - 1);
	if (n > 0)
		link[n] = 0;
	kind_of(link, was, sizeof(was));
	printf("FD %d %s\n", fd, link);
	zdtm_ready();
	zdtm_wait();
	n = readlink(self, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = 0;
		kind_of(link, now, sizeof(now));
	}
	ZDTM_CHECK(n > 0 && !strcmp(was, now), "fd %d was %s, is %s after restart", fd, was,
		   n > 0 ? now : "closed");
	return zdtm_done();
}
