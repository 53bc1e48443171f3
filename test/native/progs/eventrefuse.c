/*
 * Descriptors the event kinds must refuse, with the target left running:
 *   eventrefuse inotify DIR   an inotify with an event queued and not read
 *   eventrefuse epoll         an epoll entry for fd N whose file was closed
 *                             (a dup keeps it alive) and N reused by a pipe
 * After SIGUSR1 it checks the state is as it was and prints PASS.
 */
#include "zdtm.h"
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	zdtm_init();
	int fd = -1, extra = -1;
	if (!strcmp(argv[1], "inotify") && argc > 2) {
		mkdir(argv[2], 0755);
		fd = inotify_init1(IN_CLOEXEC);
		inotify_add_watch(fd, argv[2], IN_CREATE);
		char f[4096];
		snprintf(f, sizeof(f), "%s/queued", argv[2]);
		close(open(f, O_CREAT | O_WRONLY, 0644));
	} else if (!strcmp(argv[1], "epoll")) {
		fd = epoll_create1(0);
		int ev = eventfd(0, 0);
		struct epoll_event e = {.events = EPOLLIN, .data.u64 = 1};
		epoll_ctl(fd, EPOLL_CTL_ADD, ev, &e);
		extra = dup(ev); /* keeps the eventfd, and its epoll entry, alive */
		close(ev);
		int p[2];
		if (pipe(p) < 0) /* takes ev's number */
			return 2;
		printf("reused fd %d\n", p[0]);
	} else {
		return 2;
	}
	zdtm_ready();
	zdtm_wait();
	if (!strcmp(argv[1], "inotify")) {
		int q = 0;
		ioctl(fd, FIONREAD, &q);
		ZDTM_CHECK(q > 0, "the queued event is gone");
	} else {
		ZDTM_CHECK(fcntl(extra, F_GETFD) >= 0, "the eventfd's dup is gone");
	}
	return zdtm_done();
}
