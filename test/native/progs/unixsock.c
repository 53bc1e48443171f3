/* Unix sockets come back with their state: socketpairs (stream, datagram,
   seqpacket) with data queued in both directions and message boundaries
   kept, a stream whose peer was closed (data, then EOF), a socketpair end on
   fd 0, a listening socket on a path and one on an abstract name (accepting
   again), a bound datagram socket with a queued datagram, SO_PASSCRED and
   O_NONBLOCK. argv[1]: a directory for the socket files.
   argv[2] == "scm": instead, leave a descriptor in flight (SCM_RIGHTS) in a
   socketpair's queue and wait (the checkpoint must refuse it). */
#include "zdtm.h"
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static socklen_t addr(struct sockaddr_un *sun, const char *name, int abstract)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	size_t n = strlen(name);
	memcpy(sun->sun_path + (abstract ? 1 : 0), name, n);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (abstract ? 1 : 1));
}

static void expect_msg(int fd, const char *want, const char *what)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	ZDTM_CHECK(n == (ssize_t)strlen(want) && !memcmp(buf, want, (size_t)n),
		   "%s: got %zd bytes '%.*s', expected '%s'", what, n, n > 0 ? (int)n : 0, buf,
		   want);
}

static void expect_empty(int fd, const char *what)
{
	char buf[16];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	ZDTM_CHECK(n < 0 && errno == EAGAIN, "%s: more data than queued (%zd)", what, n);
}

/* Connect to a listener, accept, exchange both ways. */
static void check_listener(int l, const struct sockaddr_un *sun, socklen_t sl, const char *what)
{
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	ZDTM_CHECK(connect(c, (const struct sockaddr *)sun, sl) == 0, "%s: connect: %s", what,
		   strerror(errno));
	int a = accept(l, NULL, NULL);
	ZDTM_CHECK(a >= 0, "%s: accept: %s", what, strerror(errno));
	if (a >= 0) {
		send(c, "hi", 2, 0);
		expect_msg(a, "hi", what);
		close(a);
	}
	close(c);
	struct sockaddr_un now;
	socklen_t nl = sizeof(now);
	ZDTM_CHECK(getsockname(l, (struct sockaddr *)&now, &nl) == 0 && nl == sl &&
			   !memcmp(now.sun_path, sun->sun_path, sl - offsetof(struct sockaddr_un,
									  sun_path)),
		   "%s: bound to another name", what);
}

int main(int argc, char **argv)
{
	zdtm_init();
	if (argc < 2)
		return 2;
	if (argc > 2 && !strcmp(argv[2], "scm")) {
		int sv[2], fd = open("/dev/null", O_RDONLY);
		socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
		char c = 'x', cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = {&c, 1};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
		if (sendmsg(sv[0], &mh, 0) != 1)
			return 2;
		close(fd);
		zdtm_ready();
		zdtm_wait();
		return zdtm_done();
	}
	int st[2], dg[2], sp[2], gone[2], io[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) || socketpair(AF_UNIX, SOCK_STREAM, 0, gone) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, io))
		return 2;
	/* data queued both ways */
	send(st[0], "to-one", 6, 0);
	send(st[1], "to-zero", 7, 0);
	send(dg[0], "m1", 2, 0);
	send(dg[0], "mm2", 3, 0);
	send(dg[0], "mmm3", 4, 0);
	send(dg[1], "back", 4, 0);
	send(sp[0], "rec-1", 5, 0);
	send(sp[0], "record-2", 8, 0);
	send(sp[1], "r", 1, 0);
	send(gone[1], "bye", 3, 0);
	close(gone[1]);
	int one = 1;
	setsockopt(st[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	fcntl(sp[1], F_SETFL, O_NONBLOCK);
	/* a socketpair of its own on fd 0 */
	if (dup2(io[0], 0) < 0)
		return 2;
	close(io[0]);
	/* listeners: a path (a stale socket file there is replaced at restart)
	   and an abstract name; a bound datagram socket with a datagram queued */
	char path[200], dpath[200], abs_name[64];
	snprintf(path, sizeof(path), "%s/listen.sock", argv[1]);
	snprintf(dpath, sizeof(dpath), "%s/dgram.sock", argv[1]);
	snprintf(abs_name, sizeof(abs_name), "ckpt-unixsock-%d", (int)getpid());
	unlink(path);
	unlink(dpath);
	struct sockaddr_un lsun, asun, dsun;
	socklen_t ll = addr(&lsun, path, 0), al = addr(&asun, abs_name, 1),
		  dl = addr(&dsun, dpath, 0);
	al = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(abs_name));
	int lp = socket(AF_UNIX, SOCK_STREAM, 0), la = socket(AF_UNIX, SOCK_STREAM, 0),
	    bd = socket(AF_UNIX, SOCK_DGRAM, 0), snd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (bind(lp, (struct sockaddr *)&lsun, ll) || listen(lp, 7) ||
	    bind(la, (struct sockaddr *)&asun, al) || listen(la, 3) ||
	    bind(bd, (struct sockaddr *)&dsun, dl) || chmod(dpath, 0600))
		return 2;
	sendto(snd, "queued-dgram", 12, 0, (struct sockaddr *)&dsun, dl);
	close(snd);
	zdtm_ready();
	zdtm_wait();

	expect_msg(st[1], "to-one", "stream pair, end 1");
	expect_msg(st[0], "to-zero", "stream pair, end 0");
	expect_empty(st[0], "stream pair, end 0");
	expect_msg(dg[1], "m1", "datagram 1");
	expect_msg(dg[1], "mm2", "datagram 2");
	expect_msg(dg[1], "mmm3", "datagram 3");
	expect_empty(dg[1], "datagram pair, end 1");
	expect_msg(dg[0], "back", "datagram the other way");
	expect_msg(sp[1], "rec-1", "seqpacket record 1");
	expect_msg(sp[1], "record-2", "seqpacket record 2");
	expect_msg(sp[0], "r", "seqpacket the other way");
	expect_msg(gone[0], "bye", "stream whose peer was closed");
	char b;
	ZDTM_CHECK(recv(gone[0], &b, 1, MSG_DONTWAIT) == 0, "no EOF after the closed peer's data");
	int v = 0;
	socklen_t vl = sizeof(v);
	getsockopt(st[0], SOL_SOCKET, SO_PASSCRED, &v, &vl);
	ZDTM_CHECK(v == 1, "SO_PASSCRED lost");
	ZDTM_CHECK(fcntl(sp[1], F_GETFL) & O_NONBLOCK, "O_NONBLOCK lost");
	/* still connected: a round trip each */
	send(st[0], "again", 5, 0);
	expect_msg(st[1], "again", "stream pair after restart");
	send(dg[1], "d", 1, 0);
	expect_msg(dg[0], "d", "datagram pair after restart");
	send(0, "fd0", 3, 0);
	expect_msg(io[1], "fd0", "socketpair end on fd 0");
	check_listener(lp, &lsun, ll, "listener on a path");
	check_listener(la, &asun, al, "listener on an abstract name");
	expect_msg(bd, "queued-dgram", "bound datagram socket's queue");
	int s2 = socket(AF_UNIX, SOCK_DGRAM, 0);
	sendto(s2, "new", 3, 0, (struct sockaddr *)&dsun, dl);
	expect_msg(bd, "new", "bound datagram socket after restart");
	struct stat sst;
	ZDTM_CHECK(stat(dpath, &sst) == 0 && S_ISSOCK(sst.st_mode) && (sst.st_mode & 0777) == 0600,
		   "datagram socket file mode");
	return zdtm_done();
}
