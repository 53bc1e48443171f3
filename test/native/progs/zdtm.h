/*
 * The zdtm shape shared by the target programs: set up state, print
 * "READY <pid>" on stdout, wait for SIGUSR1 (the test sends it after the
 * restart), verify, print "PASS" or what differs, exit 0 or 1.
 */
#ifndef CKPT_ZDTM_H
#define CKPT_ZDTM_H
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t zdtm_go;
static void zdtm_on_usr1(int s)
{
	(void)s;
	zdtm_go = 1;
}

static void zdtm_init(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = zdtm_on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	setvbuf(stdout, NULL, _IONBF, 0);
}

/* Threads started between these two calls never take SIGUSR1: a
   process-directed signal may go to any thread that does not block it, and
   the main thread's pause() must be the one it ends. */
static __attribute__((unused)) void zdtm_threads_begin(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static __attribute__((unused)) void zdtm_threads_end(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

static void zdtm_ready(void)
{
	printf("READY %d\n", (int)getpid());
}

/* Sleep until SIGUSR1 (pause returns on the handler). */
static __attribute__((unused)) void zdtm_wait(void)
{
	while (!zdtm_go)
		pause();
}

static int zdtm_fails;
#define ZDTM_CHECK(c, ...) \
	do { \
		if (!(c)) { \
			zdtm_fails++; \
			printf("FAIL: "); \
			printf(__VA_ARGS__); \
			printf("\n"); \
		} \
	} while (0)

static int zdtm_done(void)
{
	if (!zdtm_fails)
		printf("PASS\n");
	return zdtm_fails ? 1 : 0;
}
#endif
