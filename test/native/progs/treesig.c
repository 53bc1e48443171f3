/* Pending signals of every process of a tree: the parent and its child each
   block signals that are pending at checkpoint time, different ones in
   each, both kinds: process-wide (kill/sigqueue to the process) and private
   to the thread (pthread_sigqueue), with queued values. After the restart
   (SIGUSR1 to the parent, passed on) each checks its own are pending with
   their values and the other's are not; the child says what it found in its
   exit code (0, or a bit per missing signal), the parent prints PASS. */
#include "zdtm.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>

/* 0 if sig is pending (shared or private) with value val (val < 0: any),
   else bit. Takes it. */
static int take(int sig, int val, int bit)
{
	sigset_t pend, one;
	sigpending(&pend);
	if (!sigismember(&pend, sig))
		return bit;
	sigemptyset(&one);
	sigaddset(&one, sig);
	siginfo_t si;
	struct timespec zero = {0, 0};
	memset(&si, 0, sizeof(si));
	if (sigtimedwait(&one, &si, &zero) != sig)
		return bit;
	return val < 0 || si.si_value.sival_int == val ? 0 : bit;
}

static void block(const int *sigs, int n)
{
	sigset_t s;
	sigemptyset(&s);
	for (int i = 0; i < n; i++)
		sigaddset(&s, sigs[i]);
	sigprocmask(SIG_BLOCK, &s, NULL);
}

static int not_pending(int sig)
{
	sigset_t pend;
	sigpending(&pend);
	return !sigismember(&pend, sig);
}

int main(void)
{
	zdtm_init();
	pid_t me = getpid();
	/* the child's: SIGUSR2 (shared, from the parent), SIGRTMIN+1 = 11
	   (shared, queued by the parent), SIGRTMIN+2 = 22 (private) */
	int csigs[] = {SIGUSR2, SIGRTMIN + 1, SIGRTMIN + 2, SIGRTMIN + 3, SIGWINCH};
	block(csigs, 5);
	pid_t c = fork();
	if (c == 0) {
		zdtm_quiet();
		union sigval v = {.sival_int = 22};
		pthread_sigqueue(pthread_self(), SIGRTMIN + 2, v);
		zdtm_wait();
		int bad = take(SIGUSR2, -1, 1) | take(SIGRTMIN + 1, 11, 2) |
			  take(SIGRTMIN + 2, 22, 4);
		/* the parent's are not ours */
		if (!not_pending(SIGRTMIN + 3) || !not_pending(SIGWINCH))
			bad |= 8;
		_exit(getppid() == me ? bad : 16);
	}
	kill(c, SIGUSR2);
	union sigval v = {.sival_int = 11};
	sigqueue(c, SIGRTMIN + 1, v);
	/* the parent's: SIGRTMIN+3 = 33 (shared), SIGWINCH (private) */
	v.sival_int = 33;
	sigqueue(me, SIGRTMIN + 3, v);
	pthread_kill(pthread_self(), SIGWINCH);
	/* ready once the child's three are pending */
	for (int tries = 0; tries < 5000; tries++) {
		char p[64], buf[4096];
		snprintf(p, sizeof(p), "/proc/%d/status", c);
		int fd = open(p, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
		if (fd >= 0)
			close(fd);
		buf[n > 0 ? n : 0] = '\0';
		char *sh = strstr(buf, "ShdPnd:"), *pr = strstr(buf, "SigPnd:");
		unsigned long long s = sh ? strtoull(sh + 7, NULL, 16) : 0;
		unsigned long long q = pr ? strtoull(pr + 7, NULL, 16) : 0;
		unsigned long long want_s = (1ull << (SIGUSR2 - 1)) | (1ull << (SIGRTMIN + 1 - 1));
		if ((s & want_s) == want_s && (q & (1ull << (SIGRTMIN + 2 - 1))))
			break;
		usleep(1000);
	}
	zdtm_ready();
	zdtm_wait();
	ZDTM_CHECK(take(SIGRTMIN + 3, 33, 1) == 0, "parent: queued SIGRTMIN+3 (33) lost");
	ZDTM_CHECK(take(SIGWINCH, -1, 1) == 0, "parent: private SIGWINCH lost");
	ZDTM_CHECK(not_pending(SIGUSR2) && not_pending(SIGRTMIN + 1) && not_pending(SIGRTMIN + 2),
		   "parent: the child's signals are pending here");
	kill(c, SIGUSR1);
	int st;
	ZDTM_CHECK(waitpid(c, &st, 0) == c, "wait: %s", strerror(errno));
	ZDTM_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "child: status 0x%x (1 SIGUSR2, 2 SIGRTMIN+1, 4 private SIGRTMIN+2, 8 the "
		   "parent's, 16 parent)",
		   st);
	return zdtm_done();
}
