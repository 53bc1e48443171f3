// SPDX-License-Identifier: BSD-3-Clause
/*
 * Syscall user dispatch (prctl PR_SET_SYSCALL_USER_DISPATCH), what Wine and
 * binary translators use: with the selector byte at BLOCK, every syscall
 * made outside the allowed region (here libc's text) raises SIGSYS instead.
 * zdtm shape: READY, SIGUSR1, PASS or what differs.
 *
 * argv[1] == "allow": dispatch on, selector ALLOW while waiting. A restart
 * that drops the dispatch makes the probe syscall after SIGUSR1 run instead
 * of raising SIGSYS.
 * "block": selector BLOCK while waiting: a syscall injected into the process
 * from [vdso] raises SIGSYS in it (a checkpointer that injects before
 * refusing kills it, or runs its handler).
 * "thread": only a second thread turns the dispatch on (it is per thread),
 * prints "SUD <its tid>" before READY and sleeps with the selector at ALLOW;
 * after SIGUSR1 the main thread's probe syscall must run (it never had the
 * dispatch) and the second thread's must raise SIGSYS (it still has it).
 */
#include "zdtm.h"

#include <linux/prctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#endif

static volatile char selector; /* SYSCALL_DISPATCH_FILTER_ALLOW */
static volatile sig_atomic_t sigsys_n, last_nr;
static unsigned long region, region_len; /* where syscalls are let through */

static void on_sys(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)uc;
	sigsys_n++;
	last_nr = si->si_syscall;
	selector = 0; /* the return from the handler is a syscall too */
}

/* getpid from outside libc's text with the selector at BLOCK: the SIGSYS
   the calling thread gets if it has the dispatch on */
static int probe(void)
{
	int before = sigsys_n;
	selector = 1; /* SYSCALL_DISPATCH_FILTER_BLOCK */
	asm volatile("mov $39, %%eax\n\tsyscall" ::: "rax", "rcx", "r11", "memory");
	selector = 0;
	return sigsys_n - before;
}

static volatile int worker_on, worker_go, worker_got = -1;

static void *worker(void *arg)
{
	(void)arg;
	if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, region, region_len,
		  &selector)) {
		perror("PR_SET_SYSCALL_USER_DISPATCH in a thread");
		exit(2);
	}
	printf("SUD %d\n", (int)syscall(SYS_gettid));
	worker_on = 1;
	while (!worker_go)
		usleep(1000); /* from libc's text: let through */
	worker_got = probe();
	return NULL;
}

int main(int argc, char **argv)
{
	zdtm_init();
	const char *mode = argc > 1 ? argv[1] : "";
	int block = !strcmp(mode, "block"), thread = !strcmp(mode, "thread");
	if (!block && !thread && strcmp(mode, "allow")) {
		fprintf(stderr, "usage: sud allow|block|thread\n");
		return 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sys;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
	/* the allowed region: the executable mapping holding libc's syscall() */
	unsigned long a = (unsigned long)&syscall, s = 0, e = 0, x, y;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &x, &y) == 2 && x <= a && a < y) {
			s = x;
			e = y;
		}
	if (f)
		fclose(f);
	region = s;
	region_len = e - s;
	pthread_t w;
	if (thread) {
		zdtm_threads_begin(); /* SIGUSR1 is the main thread's */
		if (!s || pthread_create(&w, NULL, worker, NULL)) {
			fprintf(stderr, "sud: no libc text or no thread\n");
			return 2;
		}
		zdtm_threads_end();
		while (!worker_on)
			usleep(1000);
	} else if (!s || prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, s, e - s,
			       &selector)) {
		perror("PR_SET_SYSCALL_USER_DISPATCH");
		return 2;
	}
	zdtm_ready();
	if (block)
		selector = 1; /* SYSCALL_DISPATCH_FILTER_BLOCK */
	zdtm_wait();
	selector = 0;
	int before = sigsys_n;
	ZDTM_CHECK(before == 0, "%d SIGSYS while waiting (last syscall %d): a syscall was "
		   "injected past the dispatch", before, (int)last_nr);
	if (thread) {
		int got = probe();
		ZDTM_CHECK(got == 0, "the main thread, which never turned the dispatch on, got "
			   "%d SIGSYS", got);
		worker_go = 1;
		pthread_join(w, NULL);
		ZDTM_CHECK(worker_got == 1, "the second thread's blocked syscall raised %d "
			   "SIGSYS, want 1 (its syscall user dispatch is gone)", worker_got);
		return zdtm_done();
	}
	/* getpid from outside libc's text: SIGSYS while the dispatch is on */
	int got = probe();
	ZDTM_CHECK(got == 1, "a blocked syscall raised %d SIGSYS, want 1 (the "
		   "syscall user dispatch is gone)", got);
	return zdtm_done();
}
