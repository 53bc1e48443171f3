/* The signal that ends the checkpointer's batches of queries (ptrace.h,
   dump_state.c batch_signal) must change nothing the process sees. Modes:
   dfl:  SIGURG caught, SIGWINCH blocked and pending, SIGCHLD default and
         unblocked (the batches end with SIGCHLD);
   ign:  SIGURG, SIGWINCH and SIGCHLD caught, SIGPIPE ignored (with SIGPIPE);
   none: those three caught and every other signal blocked (no signal can
         end a batch: one call at a time).
   Across checkpoints that let it run on, and a restart: no handler ran,
   SIGWINCH is still pending where it was, the dispositions are as set. */
#include "zdtm.h"

#include <errno.h>

static volatile sig_atomic_t ran[65];
static void count(int s)
{
	ran[s]++;
}

static void catch(int s)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = count;
	sa.sa_flags = SA_RESTART;
	sigaction(s, &sa, NULL);
}

static int handler_is(int s, void (*h)(int))
{
	struct sigaction sa;
	sigaction(s, NULL, &sa);
	return sa.sa_handler == h;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "dfl";
	zdtm_init();
	catch(SIGURG);
	sigset_t blk;
	sigemptyset(&blk);
	if (!strcmp(mode, "dfl")) {
		sigaddset(&blk, SIGWINCH);
		sigprocmask(SIG_BLOCK, &blk, NULL);
		raise(SIGWINCH);
	} else {
		catch(SIGWINCH);
		catch(SIGCHLD);
		signal(SIGPIPE, SIG_IGN);
	}
	if (!strcmp(mode, "none")) {
		sigfillset(&blk);
		sigdelset(&blk, SIGUSR1);
		sigprocmask(SIG_BLOCK, &blk, NULL);
	}
	zdtm_ready();
	zdtm_wait();
	for (int s = 1; s <= 64; s++)
		ZDTM_CHECK(!ran[s] || s == SIGUSR1, "a handler of signal %d ran %d times", s,
			   (int)ran[s]);
	sigset_t pend;
	sigpending(&pend);
	if (!strcmp(mode, "dfl")) {
		ZDTM_CHECK(sigismember(&pend, SIGWINCH), "SIGWINCH no longer pending");
		ZDTM_CHECK(handler_is(SIGCHLD, SIG_DFL), "SIGCHLD no longer SIG_DFL");
	} else {
		ZDTM_CHECK(!sigismember(&pend, SIGWINCH), "SIGWINCH pending");
		ZDTM_CHECK(handler_is(SIGCHLD, count) && handler_is(SIGWINCH, count),
			   "SIGCHLD or SIGWINCH handler lost");
		ZDTM_CHECK(handler_is(SIGPIPE, SIG_IGN), "SIGPIPE no longer ignored");
	}
	ZDTM_CHECK(!sigismember(&pend, SIGCHLD) && !sigismember(&pend, SIGPIPE) &&
			   !sigismember(&pend, SIGURG),
		   "a signal is pending that was not sent");
	ZDTM_CHECK(handler_is(SIGURG, count), "SIGURG handler lost");
	return zdtm_done();
}
