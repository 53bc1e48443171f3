/*
 * The zdtm shape shared by the target programs: set up state, print
 * "READY <pid>" on stdout, wait for SIGUSR1 (the test sends it after the
 * restart), verify, print "PASS" or what differs, exit 0 or 1.
 */
#ifndef CKPT_ZDTM_H
#define CKPT_ZDTM_H
#include <fcntl.h>
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

/* In a child of the job: stdio of its own (an open description of
   /dev/null, not its parent's), so that it shares nothing with the parent. */
static __attribute__((unused)) void zdtm_quiet(void)
{
	for (int i = 0; i < 3; i++) {
		close(i);
		open("/dev/null", O_RDWR);
	}
}

/* This process's children (from /proc, so that it also holds with
   --no-restore-pid): up to max of them into out, their number. */
static __attribute__((unused)) int zdtm_children(pid_t *out, int max)
{
	char p[64], buf[512];
	snprintf(p, sizeof(p), "/proc/%d/task/%d/children", getpid(), getpid());
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	int k = 0;
	for (char *s = buf, *e; k < max; s = e) {
		long v = strtol(s, &e, 10);
		if (e == s)
			break;
		out[k++] = (pid_t)v;
	}
	return k;
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
