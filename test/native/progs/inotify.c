/*
 * inotify across checkpoint/restart: watches on a directory (wd 1) and a
 * file (wd 3: wd 2 was added and removed before, so the numbers have a gap).
 * After SIGUSR1 the program writes a new file in the directory and appends
 * to the watched file, then expects exactly those two events with their wds.
 * Usage: inotify DIR
 */
#include "zdtm.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	zdtm_init();
	char file[PATH_MAX], other[PATH_MAX], fresh[PATH_MAX];
	snprintf(file, sizeof(file), "%s/watched.txt", argv[1]);
	snprintf(other, sizeof(other), "%s/other", argv[1]);
	snprintf(fresh, sizeof(fresh), "%s/after-restart.txt", argv[1]);
	mkdir(argv[1], 0755);
	mkdir(other, 0755);
	close(open(file, O_CREAT | O_WRONLY | O_TRUNC, 0644));
	unlink(fresh);
	int in = inotify_init1(IN_CLOEXEC);
	int wd_dir = inotify_add_watch(in, argv[1], IN_CREATE);
	int wd_gone = inotify_add_watch(in, other, IN_CREATE);
	inotify_rm_watch(in, wd_gone);
	int wd_file = inotify_add_watch(in, file, IN_MODIFY);
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n = read(in, buf, sizeof(buf)); /* the IN_IGNORED of wd_gone */
	ZDTM_CHECK(n > 0 && ((struct inotify_event *)buf)->mask == IN_IGNORED, "IN_IGNORED first");
	printf("wds: %d %d\n", wd_dir, wd_file);

	zdtm_ready();
	zdtm_wait();

	int fd = open(fresh, O_CREAT | O_WRONLY, 0644);
	close(fd);
	fd = open(file, O_WRONLY | O_APPEND);
	ZDTM_CHECK(write(fd, "x", 1) == 1, "append");
	close(fd);
	int events = 0;
	struct pollfd pf = {.fd = in, .events = POLLIN};
	while (events < 2 && poll(&pf, 1, 5000) == 1) {
		n = read(in, buf, sizeof(buf));
		for (char *p = buf; n > 0 && p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			printf("event: wd %d mask %#x name \"%s\"\n", e->wd, e->mask,
			       e->len ? e->name : "");
			events++;
			p += sizeof(*e) + e->len;
		}
	}
	ZDTM_CHECK(events == 2, "%d events, not 2", events);
	return zdtm_done();
}
