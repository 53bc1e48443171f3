/* Signal state across a checkpoint: a handler installed before (SIGUSR1,
   the zdtm one, runs after the restart and ends the pause), SIGUSR2 blocked
   and pending, a queued SIGRTMIN with its value blocked and pending, SIGHUP
   ignored, and the blocked mask itself. */
#include "zdtm.h"

int main(void)
{
	zdtm_init();
	signal(SIGHUP, SIG_IGN);
	sigset_t blk;
	sigemptyset(&blk);
	sigaddset(&blk, SIGUSR2);
	sigaddset(&blk, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &blk, NULL);
	raise(SIGUSR2);
	union sigval v = {.sival_int = 4242};
	sigqueue(getpid(), SIGRTMIN, v);
	zdtm_ready();
	zdtm_wait(); /* pause() interrupted by the handler after restart */
	sigset_t pend, cur;
	sigpending(&pend);
	ZDTM_CHECK(sigismember(&pend, SIGUSR2), "SIGUSR2 no longer pending");
	ZDTM_CHECK(sigismember(&pend, SIGRTMIN), "SIGRTMIN no longer pending");
	sigprocmask(SIG_BLOCK, NULL, &cur);
	ZDTM_CHECK(sigismember(&cur, SIGUSR2) && sigismember(&cur, SIGRTMIN), "mask lost");
	struct sigaction sa;
	sigaction(SIGHUP, NULL, &sa);
	ZDTM_CHECK(sa.sa_handler == SIG_IGN, "SIGHUP no longer ignored");
	siginfo_t si;
	struct timespec zero = {0, 0};
	sigset_t rt;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	ZDTM_CHECK(sigtimedwait(&rt, &si, &zero) == SIGRTMIN && si.si_value.sival_int == 4242,
		   "queued SIGRTMIN value lost (%d)", si.si_value.sival_int);
	return zdtm_done();
}
