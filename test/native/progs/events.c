/*
 * An event loop's descriptors across checkpoint/restart: epoll over two
 * eventfds (one edge-triggered with a count above 32 bits, one semaphore),
 * a pipe with bytes in it, three timerfds (expired and not read, armed for an
 * hour, absolute on CLOCK_REALTIME) plus one that fires after the restart, a
 * signalfd, and a second epoll (watched by the first) holding a fired
 * EPOLLONESHOT entry. After SIGUSR1 the loop runs until the late timer fires
 * and prints what each descriptor gave, in a fixed order: the output is the
 * same with or without checkpoints in between.
 */
#include "zdtm.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

#define TAG(n) (0x5eed000000000000ull | (n))
enum { T_EV = 1, T_SEM, T_PIPE, T_TDONE, T_TLONG, T_TTICK, T_SIG, T_INNER, T_MAX };
static const char *const names[T_MAX] = {"", "eventfd", "semaphore", "pipe", "expired timer",
					 "hour timer", "late timer", "signalfd", "inner epoll"};

static void add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event e = {.events = events, .data.u64 = data};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
		perror("epoll_ctl");
		exit(2);
	}
}

static void arm(int fd, int flags, time_t s, long ns, time_t is)
{
	struct itimerspec t = {.it_value = {s, ns}, .it_interval = {is, 0}};
	if (timerfd_settime(fd, flags, &t, NULL) < 0) {
		perror("timerfd_settime");
		exit(2);
	}
}

int main(void)
{
	zdtm_init();
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_BLOCK, &usr2, NULL);

	int ev = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint64_t big = 5000000000ull;
	if (write(ev, &big, 8) != 8)
		return 2;
	int sem = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
	int p[2];
	if (pipe2(p, O_NONBLOCK) < 0 || write(p[1], "hello", 5) != 5)
		return 2;
	int tdone = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	int tlong = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	int tabs = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	int ttick = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	arm(tdone, 0, 0, 1000000, 0);
	arm(tlong, 0, 3600, 0, 7);
	arm(tabs, TFD_TIMER_ABSTIME, now.tv_sec + 3600, 0, 0);
	arm(ttick, 0, 0, 800000000, 0);
	int sfd = signalfd(-1, &usr2, SFD_NONBLOCK);
	int inner = epoll_create1(EPOLL_CLOEXEC);
	add(inner, p[1], EPOLLOUT | EPOLLONESHOT, 42);
	add(inner, sem, EPOLLIN, 43);
	int ep = epoll_create1(0);
	add(ep, ev, EPOLLIN | EPOLLET, TAG(T_EV));
	add(ep, sem, EPOLLIN, TAG(T_SEM));
	add(ep, p[0], EPOLLIN, TAG(T_PIPE));
	add(ep, tdone, EPOLLIN, TAG(T_TDONE));
	add(ep, tlong, EPOLLIN, TAG(T_TLONG));
	add(ep, ttick, EPOLLIN, TAG(T_TTICK));
	add(ep, sfd, EPOLLIN, TAG(T_SIG));
	add(ep, inner, EPOLLIN, TAG(T_INNER));
	struct epoll_event got[8];
	int n = epoll_wait(inner, got, 8, 1000); /* the oneshot fires now */
	ZDTM_CHECK(n == 2, "inner epoll before: %d events", n);
	usleep(20000); /* tdone has expired */

	zdtm_ready();
	zdtm_wait();

	kill(getpid(), SIGUSR2);
	char said[T_MAX][96];
	int seen[T_MAX] = {0};
	memset(said, 0, sizeof(said));
	while (!seen[T_TTICK]) {
		n = epoll_wait(ep, got, 8, 5000);
		if (n <= 0) {
			ZDTM_CHECK(0, "epoll_wait: %d (%s), late timer never fired", n,
				   n < 0 ? strerror(errno) : "timeout");
			break;
		}
		/* handle in tag order: the semaphore before the inner epoll */
		for (int tag = 1; tag < T_MAX; tag++) {
			int hit = 0;
			for (int i = 0; i < n; i++)
				hit |= got[i].data.u64 == TAG(tag);
			for (int i = 0; i < n; i++)
				ZDTM_CHECK((got[i].data.u64 >> 48) == 0x5eed, "data word %#llx",
					   (unsigned long long)got[i].data.u64);
			if (!hit)
				continue;
			seen[tag]++;
			uint64_t v = 0;
			char b[16] = {0};
			struct signalfd_siginfo si;
			switch (tag) {
			case T_EV:
				ZDTM_CHECK(read(ev, &v, 8) == 8, "eventfd read");
				snprintf(said[tag], 96, "%llu", (unsigned long long)v);
				break;
			case T_SEM: {
				int k = 0;
				while (read(sem, &v, 8) == 8 && v == 1)
					k++;
				snprintf(said[tag], 96, "%d reads of 1, then %s", k,
					 errno == EAGAIN ? "EAGAIN" : strerror(errno));
				break;
			}
			case T_PIPE:
				ZDTM_CHECK(read(p[0], b, sizeof(b) - 1) == 5, "pipe read");
				snprintf(said[tag], 96, "\"%s\"", b);
				break;
			case T_TDONE:
			case T_TTICK:
			case T_TLONG:
				ZDTM_CHECK(read(tag == T_TDONE ? tdone : tag == T_TTICK ? ttick : tlong, &v,
						8) == 8,
					   "timer read");
				snprintf(said[tag], 96, "%llu expiration(s)", (unsigned long long)v);
				break;
			case T_SIG:
				ZDTM_CHECK(read(sfd, &si, sizeof(si)) == sizeof(si), "signalfd read");
				snprintf(said[tag], 96, "signal %s",
					 si.ssi_signo == SIGUSR2 ? "SIGUSR2" : "other");
				break;
			case T_INNER: {
				struct epoll_event in[4];
				int m = epoll_wait(inner, in, 4, 0);
				snprintf(said[tag], 96, "ready, then %d events inside (oneshot spent)",
					 m);
				break;
			}
			}
		}
	}
	for (int tag = 1; tag < T_MAX; tag++)
		printf("%s: %s (reported %d time%s)\n", names[tag], seen[tag] ? said[tag] : "nothing",
		       seen[tag], seen[tag] == 1 ? "" : "s");
	n = epoll_wait(ep, got, 8, 50);
	printf("after: %d events\n", n);
	struct itimerspec t;
	timerfd_gettime(tlong, &t);
	ZDTM_CHECK(t.it_value.tv_sec > 3000 && t.it_value.tv_sec < 3600 && t.it_interval.tv_sec == 7,
		   "hour timer: %lld s left, every %lld s", (long long)t.it_value.tv_sec,
		   (long long)t.it_interval.tv_sec);
	timerfd_gettime(tabs, &t);
	clock_gettime(CLOCK_REALTIME, &now);
	ZDTM_CHECK(t.it_value.tv_sec > 3000 && t.it_value.tv_sec < 3600,
		   "absolute timer: %lld s left", (long long)t.it_value.tv_sec);
	printf("timers: hour timer and absolute timer still armed\n");
	ZDTM_CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK, "pipe lost O_NONBLOCK");
	ZDTM_CHECK(fcntl(ev, F_GETFD) & FD_CLOEXEC, "eventfd lost FD_CLOEXEC");
	return zdtm_done();
}
