/* rt10 red team: a thread whose stack pointer is on a stack the program
   carved out of a larger mapping (a coroutine, ucontext style; goroutine
   stacks and green threads are the same), with live data just below that
   stack: a canary area. The coroutine spins with its sp `room` bytes above
   its stack's base (argv[1], default 10240) and checks the canary after
   each round: should the checkpointer die while its injection frame (and
   batch table) are written under that sp, bytes of the canary stay changed.
   Prints "CLOBBERED lo hi" (offsets below the coroutine stack's base) at
   each detection, repairs the canary, counts. On SIGUSR1: PASS if the
   canary never changed. */
#include "zdtm.h"

#include <stdint.h>
#include <sys/mman.h>
#include <ucontext.h>

#define CANARY (256 * 1024)
#define STACK (64 * 1024)
static unsigned char *region, *canary, *stack;
static long room = 10240;
static volatile long clobbered, rounds;
static ucontext_t main_uc, co_uc;

static void check(void)
{
	long lo = -1, hi = -1;
	for (long i = 0; i < CANARY; i++)
		if (canary[i] != (unsigned char)(i * 7 + 3)) {
			if (lo < 0)
				lo = i;
			hi = i;
			canary[i] = (unsigned char)(i * 7 + 3);
		}
	if (lo >= 0) {
		clobbered++;
		/* offsets counted down from the stack's base; no printf here:
		   glibc's unbuffered stdout takes 8 KiB of this small stack */
		static char msg[96];
		char *q = msg + sizeof(msg);
		*--q = '\n';
		for (long v = CANARY - lo, k = 0; k < 2; k++, v = CANARY - hi) {
			do
				*--q = (char)('0' + v % 10);
			while ((v /= 10));
			*--q = ' ';
		}
		static const char w[] = "CLOBBERED (bytes below the coroutine stack, lowest/highest)";
		q -= sizeof(w) - 1;
		memcpy(q, w, sizeof(w) - 1);
		if (write(1, q, (size_t)(msg + sizeof(msg) - q)) < 0)
			clobbered++;
	}
}

static __attribute__((noinline)) void spin(void)
{
	while (!zdtm_go) {
		for (volatile int k = 0; k < 20000; k++)
			;
		check();
		rounds++;
	}
	swapcontext(&co_uc, &main_uc);
}

static void co(void)
{
	unsigned char here;
	long used = (long)(&here - stack);
	/* move sp down to stack + room */
	volatile unsigned char *p = __builtin_alloca(used > room ? used - room : 16);
	p[0] = 1;
	spin();
}

int main(int argc, char **argv)
{
	if (argc > 1)
		room = atol(argv[1]);
	zdtm_init();
	region = mmap(NULL, CANARY + STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	canary = region;
	stack = region + CANARY;
	for (long i = 0; i < CANARY; i++)
		canary[i] = (unsigned char)(i * 7 + 3);
	getcontext(&co_uc);
	co_uc.uc_stack.ss_sp = stack;
	co_uc.uc_stack.ss_size = STACK;
	co_uc.uc_link = &main_uc;
	makecontext(&co_uc, co, 0);
	zdtm_ready();
	swapcontext(&main_uc, &co_uc);
	printf("COUNT clobbered %ld rounds %ld\n", clobbered, rounds);
	ZDTM_CHECK(!clobbered, "the canary under the coroutine stack changed %ld times",
		   clobbered);
	return zdtm_done();
}
