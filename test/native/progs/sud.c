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

static void on_sys(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)uc;
	sigsys_n++;
	last_nr = si->si_syscall;
	selector = 0; /* the return from the handler is a syscall too */
}

int main(int argc, char **argv)
{
	zdtm_init();
	const char *mode = argc > 1 ? argv[1] : "";
	int block = !strcmp(mode, "block");
	if (!block && strcmp(mode, "allow")) {
		fprintf(stderr, "usage: sud allow|block\n");
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
	if (!s || prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, s, e - s, &selector)) {
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
	/* getpid from outside libc's text: SIGSYS while the dispatch is on */
	selector = 1;
	asm volatile("mov $39, %%eax\n\tsyscall" ::: "rax", "rcx", "r11", "memory");
	selector = 0;
	ZDTM_CHECK(sigsys_n - before == 1, "a blocked syscall raised %d SIGSYS, want 1 (the "
		   "syscall user dispatch is gone)", (int)sigsys_n - before);
	return zdtm_done();
}
