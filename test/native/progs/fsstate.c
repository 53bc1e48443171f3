// SPDX-License-Identifier: BSD-3-Clause
/*
 * State of the outside suite's shape found lost or unusable at a restart
 * (zdtm shape: READY, SIGUSR1 after the restart, PASS or what differs).
 * argv[1] names the case; argv[2] is a scratch directory.
 *
 * "cwddel": the working directory was removed while the process was in it;
 * after the restart it is still in a removed directory of that name (the
 * checkpoint used to succeed and every restart fail: cwd missing).
 * "devzero": a MAP_PRIVATE and a MAP_SHARED mapping of /dev/zero with data;
 * the shared one is still shared with a child made after the restart (the
 * private one used to be taken for a file mapping of the device, which no
 * restart could map).
 * "sockopts": SO_RCVTIMEO, SO_SNDTIMEO and SO_LINGER on a TCP socket and a
 * Unix socketpair come back (they used to come back zero).
 * "ptmx": holds a pty master and its slave with bytes queued (refused: a
 * restart would open another pty). "mqueue": a POSIX message queue with
 * messages (refused: its path names the queue only inside mqueue).
 * "chroot": runs chrooted in DIR (refused: it would come back with the
 * restarter's root). After a refusal the state is checked as it was.
 */
#include "zdtm.h"

#include <errno.h>
#include <mqueue.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

static const char *mode;
static char dir[4096];

/* the socket options of "sockopts", as the kernel reports them back */
static int tcp, pair[2];
static struct timeval rcv, snd;
static struct linger lin;

static void sockopts_set(void)
{
	tcp = socket(AF_INET, SOCK_STREAM, 0);
	if (tcp < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, pair))
		exit(2);
	struct timeval r = {7, 500000}, s = {3, 250000};
	struct linger l = {1, 9};
	socklen_t n = sizeof(rcv);
	if (setsockopt(tcp, SOL_SOCKET, SO_RCVTIMEO, &r, sizeof(r)) ||
	    setsockopt(pair[1], SOL_SOCKET, SO_SNDTIMEO, &s, sizeof(s)) ||
	    setsockopt(tcp, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) ||
	    getsockopt(tcp, SOL_SOCKET, SO_RCVTIMEO, &rcv, &n) ||
	    getsockopt(pair[1], SOL_SOCKET, SO_SNDTIMEO, &snd, &n))
		exit(2);
	n = sizeof(lin);
	if (getsockopt(tcp, SOL_SOCKET, SO_LINGER, &lin, &n))
		exit(2);
}

static void sockopts_check(void)
{
	struct timeval tv;
	struct linger l;
	socklen_t n = sizeof(tv);
	getsockopt(tcp, SOL_SOCKET, SO_RCVTIMEO, &tv, &n);
	ZDTM_CHECK(tv.tv_sec == rcv.tv_sec && tv.tv_usec == rcv.tv_usec,
		   "TCP SO_RCVTIMEO %ld.%06ld, was %ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec,
		   (long)rcv.tv_sec, (long)rcv.tv_usec);
	n = sizeof(tv);
	getsockopt(pair[1], SOL_SOCKET, SO_SNDTIMEO, &tv, &n);
	ZDTM_CHECK(tv.tv_sec == snd.tv_sec && tv.tv_usec == snd.tv_usec,
		   "unix SO_SNDTIMEO %ld.%06ld, was %ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec,
		   (long)snd.tv_sec, (long)snd.tv_usec);
	n = sizeof(l);
	getsockopt(tcp, SOL_SOCKET, SO_LINGER, &l, &n);
	ZDTM_CHECK(l.l_onoff == lin.l_onoff && l.l_linger == lin.l_linger,
		   "SO_LINGER %d %d, was %d %d", l.l_onoff, l.l_linger, lin.l_onoff, lin.l_linger);
}

int main(int argc, char **argv)
{
	zdtm_init();
	if (argc < 3)
		return 2;
	mode = argv[1];
	char *zp = NULL, *zs = NULL;
	int master = -1, slave = -1;
	mqd_t mq = (mqd_t)-1;
	char mqname[64];
	snprintf(mqname, sizeof(mqname), "/ckpt-fsstate-%d", (int)getpid());
	if (!strcmp(mode, "cwddel")) {
		snprintf(dir, sizeof(dir), "%s/cwd-%d", argv[2], (int)getpid());
		if (mkdir(dir, 0700) || chdir(dir) || rmdir(dir))
			return 2;
	} else if (!strcmp(mode, "devzero")) {
		int z = open("/dev/zero", O_RDWR);
		zp = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, z, 0);
		zs = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, z, 0);
		if (z < 0 || zp == MAP_FAILED || zs == MAP_FAILED)
			return 2;
		close(z);
		strcpy(zp + 4096, "private");
		strcpy(zs, "shared");
	} else if (!strcmp(mode, "sockopts")) {
		sockopts_set();
	} else if (!strcmp(mode, "ptmx")) {
		master = posix_openpt(O_RDWR | O_NOCTTY);
		if (master < 0 || grantpt(master) || unlockpt(master))
			return 2;
		slave = open(ptsname(master), O_RDWR | O_NOCTTY);
		if (slave < 0 || write(slave, "out\n", 4) != 4)
			return 2;
	} else if (!strcmp(mode, "mqueue")) {
		struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 32};
		mq = mq_open(mqname, O_RDWR | O_CREAT | O_NONBLOCK, 0600, &a);
		if (mq == (mqd_t)-1 || mq_send(mq, "queued", 6, 5))
			return 2;
	} else if (!strcmp(mode, "chroot")) {
		if (chroot(argv[2]) || chdir("/"))
			return 2;
	} else {
		return 2;
	}
	zdtm_ready();
	zdtm_wait();
	if (!strcmp(mode, "cwddel")) {
		char now[4200], want[4200];
		ssize_t n = readlink("/proc/self/cwd", now, sizeof(now) - 1);
		now[n > 0 ? n : 0] = '\0';
		snprintf(want, sizeof(want), "%s (deleted)", dir);
		ZDTM_CHECK(!strcmp(now, want), "cwd '%s', want '%s'", now, want);
		int fd = open("new", O_CREAT | O_WRONLY, 0600);
		ZDTM_CHECK(fd < 0 && errno == ENOENT, "a file made in the removed directory (%s)",
			   fd < 0 ? strerror(errno) : "created");
	} else if (!strcmp(mode, "devzero")) {
		ZDTM_CHECK(!strcmp(zp + 4096, "private") && !strcmp(zs, "shared"),
			   "content '%s' '%s'", zp + 4096, zs);
		pid_t c = fork();
		if (!c) {
			strcpy(zs, "child");
			strcpy(zp + 4096, "child");
			_exit(0);
		}
		waitpid(c, NULL, 0);
		ZDTM_CHECK(!strcmp(zs, "child"), "MAP_SHARED /dev/zero not shared with a child");
		ZDTM_CHECK(!strcmp(zp + 4096, "private"), "MAP_PRIVATE /dev/zero shared");
	} else if (!strcmp(mode, "sockopts")) {
		sockopts_check();
	} else if (!strcmp(mode, "ptmx")) {
		char b[8] = "";
		ZDTM_CHECK(read(master, b, 4) == 4 && !memcmp(b, "out", 3), "pty master read '%s'",
			   b);
	} else if (!strcmp(mode, "mqueue")) {
		char b[32];
		unsigned prio = 0;
		ssize_t n = mq_receive(mq, b, sizeof(b), &prio);
		ZDTM_CHECK(n == 6 && prio == 5 && !memcmp(b, "queued", 6), "mq_receive %zd", n);
		mq_unlink(mqname);
	} else if (!strcmp(mode, "chroot")) {
		struct stat st;
		ZDTM_CHECK(stat("/fsstate-root-marker", &st) == 0, "root is not the chroot any more");
	}
	return zdtm_done();
}
