// SPDX-License-Identifier: BSD-3-Clause
/*
 * Per-process kernel state beyond memory and descriptors: thread names,
 * madvise/mlock state of VMAs, POSIX timers (ids
 * with a gap, a periodic one counting its signals, one aimed at a thread,
 * one with no notification), nice, scheduling policy, I/O priority, timer
 * slack, parent-death signal, child subreaper, oom_score_adj. It sets them,
 * prints READY, and after SIGUSR1 checks each is still what it set and the
 * timers still fire with their values.
 *
 * argv[1] == "seccomp": installs an allow-all seccomp filter first (the
 * checkpoint must refuse it: a restored process without its filter would
 * hold more privilege than it had). "perthread": its second thread has a
 * nice of its own (refused: the image holds one value per process).
 */
#include "zdtm.h"

#include <dirent.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_BE 2
#define IOPRIO_VALUE (IOPRIO_CLASS_BE << 13 | 6)
#define SLACK 123456ul

static volatile sig_atomic_t ticks, bad_value;
static void on_tick(int s, siginfo_t *si, void *u)
{
	(void)s;
	(void)u;
	if (si->si_code != SI_TIMER || si->si_value.sival_ptr != (void *)0x1234)
		bad_value = 1;
	ticks++;
}

static timer_t thread_timer;
static volatile int thread_got;
static void *waiter(void *arg)
{
	if (arg) /* "perthread": this thread alone gets another nice */
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 7);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN + 2);
	for (;;) {
		siginfo_t si;
		if (sigwaitinfo(&s, &si) == SIGRTMIN + 2 && si.si_code == SI_TIMER &&
		    si.si_value.sival_int == 77)
			thread_got++;
	}
	return NULL;
}

static int oom_adj(void)
{
	FILE *f = fopen("/proc/self/oom_score_adj", "re");
	int v = -9999;
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -9999;
		fclose(f);
	}
	return v;
}

/* Does the VMA holding addr have VmFlags token `flag` in /proc/self/smaps? */
static int vmflag(const void *addr, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	int in = 0, found = 0;
	unsigned long a = (unsigned long)addr;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = a >= lo && a < hi;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			char tok[4] = " xx";
			tok[1] = flag[0];
			tok[2] = flag[1];
			found = strstr(line + 8, tok) != NULL;
			break;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static char *region(size_t len, int advice, int fill)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || (advice >= 0 && madvise(p, len, advice))) {
		printf("mmap/madvise %d: %s\n", advice, strerror(errno));
		exit(2);
	}
	memset(p, fill, len);
	return p;
}

/* Is a thread other than the main one called `name`? */
static int thread_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int found = 0;
	while (d && (e = readdir(d)) && !found) {
		char p[300], buf[32] = "";
		if (e->d_name[0] == '.' || atoi(e->d_name) == getpid())
			continue;
		snprintf(p, sizeof(p), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(p, "re");
		if (f && fgets(buf, sizeof(buf), f))
			found = !strncmp(buf, name, strlen(name)) && buf[strlen(name)] == '\n';
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

/* the child of a fork reads p[0]: its exit code, or 100 + the signal */
static int child_reads(const char *p)
{
	pid_t c = fork();
	if (c == 0)
		_exit(p[0]);
	int st;
	waitpid(c, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static timer_t mk(clockid_t clk, int notify, int sig, long value, pid_t tid)
{
	struct sigevent ev;
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = notify;
	ev.sigev_signo = sig;
	ev.sigev_value.sival_ptr = (void *)value;
	if (notify == SIGEV_THREAD_ID)
		ev._sigev_un._tid = tid;
	timer_t t;
	if (timer_create(clk, &ev, &t)) {
		printf("timer_create: %s\n", strerror(errno));
		exit(2);
	}
	return t;
}

static void arm(timer_t t, long first_ns, long every_ns)
{
	struct itimerspec its = {{0, every_ns}, {first_ns / 1000000000, first_ns % 1000000000}};
	if (timer_settime(t, 0, &its, NULL)) {
		printf("timer_settime: %s\n", strerror(errno));
		exit(2);
	}
}

int main(int argc, char **argv)
{
	zdtm_init();
	if (argc > 1 && !strcmp(argv[1], "seccomp")) {
		struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog prog = {1, &allow};
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
			printf("seccomp: %s\n", strerror(errno));
			return 2;
		}
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_tick;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGRTMIN + 1, &sa, NULL);

	/* madvise and mlock state of VMAs (one of each) */
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char *dontfork = region(4 * pg, MADV_DONTFORK, 0x5a);
	char *wipe = region(4 * pg, MADV_WIPEONFORK, 0x6b);
	char *huge = region(4 << 20, MADV_HUGEPAGE, 1);
	char *nohuge = region(4 * pg, MADV_NOHUGEPAGE, 2);
	char *rnd = region(4 * pg, MADV_RANDOM, 3);
	char *seq = region(4 * pg, MADV_SEQUENTIAL, 4);
	char *locked = region(2 * pg, -1, 5);
	char *onfault = region(2 * pg, -1, 6);
	if (mlock(locked, 2 * pg) || syscall(SYS_mlock2, onfault, 2 * pg, 1 /* ONFAULT */)) {
		printf("mlock: %s\n", strerror(errno));
		return 2;
	}

	/* before the thread: it inherits them (one value per process) */
	setpriority(PRIO_PROCESS, 0, 5);
	struct sched_param sp = {0};
	sched_setscheduler(0, SCHED_BATCH, &sp);
	syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_VALUE);
	prctl(PR_SET_TIMERSLACK, SLACK, 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGURG, 0, 0, 0);
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	FILE *f = fopen("/proc/self/oom_score_adj", "we");
	if (f) {
		fprintf(f, "300\n");
		fclose(f);
	}
	zdtm_threads_begin();
	sigset_t rt2;
	sigemptyset(&rt2);
	sigaddset(&rt2, SIGRTMIN + 2);
	pthread_sigmask(SIG_BLOCK, &rt2, NULL);
	pthread_t th;
	int perthread = argc > 1 && !strcmp(argv[1], "perthread");
	pthread_create(&th, NULL, waiter, perthread ? &th : NULL);
	pthread_setname_np(th, "tmr-waiter");
	char pname[16] = "";
	prctl(PR_GET_NAME, pname, 0, 0, 0);
	zdtm_threads_end();
	/* the waiter's tid: ask the kernel which thread is not us */
	pid_t wtid = 0;
	char path[64];
	for (int tries = 0; !wtid && tries < 1000; tries++) {
		for (pid_t t = getpid() + 1; t < getpid() + 64 && !wtid; t++) {
			snprintf(path, sizeof(path), "/proc/self/task/%d", t);
			if (!access(path, F_OK))
				wtid = t;
		}
		usleep(1000);
	}

	/* ids 0 1 2 3, 2 deleted: a gap the restart must keep */
	timer_t tick = mk(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 1, 0x1234, 0);
	timer_t idle = mk(CLOCK_REALTIME, SIGEV_NONE, 0, 0, 0);
	timer_t gone = mk(CLOCK_BOOTTIME, SIGEV_NONE, 0, 0, 0);
	thread_timer = mk(CLOCK_MONOTONIC, SIGEV_THREAD_ID, SIGRTMIN + 2, 77, wtid);
	timer_delete(gone);
	arm(tick, 20000000, 20000000);
	arm(idle, 0, 0);
	struct itimerspec far = {{0, 0}, {1000, 0}};
	timer_settime(idle, 0, &far, NULL);
	arm(thread_timer, 30000000, 30000000);

	while (ticks < 3 || thread_got < 2)
		usleep(1000);
	zdtm_ready();
	zdtm_wait();

	int before = ticks, tbefore = thread_got;
	for (int i = 0; i < 400 && (ticks < before + 3 || thread_got < tbefore + 2); i++)
		usleep(5000);
	ZDTM_CHECK(ticks >= before + 3, "periodic timer: %d ticks after restart", ticks - before);
	ZDTM_CHECK(!bad_value, "periodic timer delivered a wrong siginfo");
	ZDTM_CHECK(thread_got >= tbefore + 2, "thread timer: %d after restart",
		   thread_got - tbefore);
	struct itimerspec now;
	ZDTM_CHECK(!timer_gettime(idle, &now) && now.it_value.tv_sec > 0 &&
			   now.it_value.tv_sec <= 1000 && now.it_interval.tv_sec == 0,
		   "SIGEV_NONE timer: %ld s left", (long)now.it_value.tv_sec);
	ZDTM_CHECK(timer_gettime(gone, &now) && errno == EINVAL,
		   "deleted timer id 2 exists after restart");
	ZDTM_CHECK(!timer_gettime(tick, &now) && now.it_interval.tv_nsec == 20000000,
		   "periodic timer interval %ld ns", (long)now.it_interval.tv_nsec);
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, 0);
	ZDTM_CHECK(nice == 5 && !errno, "nice %d, want 5", nice);
	ZDTM_CHECK(sched_getscheduler(0) == SCHED_BATCH, "policy %d, want SCHED_BATCH",
		   sched_getscheduler(0));
	long io = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
	ZDTM_CHECK(io == IOPRIO_VALUE, "ioprio %#lx, want %#x", io, IOPRIO_VALUE);
	long slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	ZDTM_CHECK(slack == (long)SLACK, "timer slack %ld, want %lu", slack, SLACK);
	int pd = 0;
	prctl(PR_GET_PDEATHSIG, &pd, 0, 0, 0);
	ZDTM_CHECK(pd == SIGURG, "pdeathsig %d, want %d", pd, SIGURG);
	int sr = 0;
	prctl(PR_GET_CHILD_SUBREAPER, &sr, 0, 0, 0);
	ZDTM_CHECK(sr == 1, "child subreaper %d, want 1", sr);
	ZDTM_CHECK(oom_adj() == 300, "oom_score_adj %d, want 300", oom_adj());
	/* by /proc/self/task: under --no-restore-pid glibc's cached tid of the
	   thread (pthread_getname_np) is the old one */
	char pnow[16] = "";
	prctl(PR_GET_NAME, pnow, 0, 0, 0);
	ZDTM_CHECK(!strcmp(pnow, pname), "process name '%s', want '%s'", pnow, pname);
	ZDTM_CHECK(thread_named("tmr-waiter"), "no thread named tmr-waiter after restart");
	ZDTM_CHECK(vmflag(dontfork, "dc"), "MADV_DONTFORK region lost its flag");
	ZDTM_CHECK(child_reads(dontfork) == 100 + SIGSEGV, "a child sees the DONTFORK region");
	ZDTM_CHECK(vmflag(wipe, "wf"), "MADV_WIPEONFORK region lost its flag");
	ZDTM_CHECK(child_reads(wipe) == 0 && wipe[0] == 0x6b,
		   "WIPEONFORK: child read %d, parent has %d", child_reads(wipe), wipe[0]);
	ZDTM_CHECK(vmflag(huge, "hg"), "MADV_HUGEPAGE lost");
	ZDTM_CHECK(vmflag(nohuge, "nh"), "MADV_NOHUGEPAGE lost");
	ZDTM_CHECK(vmflag(rnd, "rr"), "MADV_RANDOM lost");
	ZDTM_CHECK(vmflag(seq, "sr"), "MADV_SEQUENTIAL lost");
	ZDTM_CHECK(vmflag(locked, "lo") && !vmflag(locked, "lf"), "mlock lost");
	ZDTM_CHECK(vmflag(onfault, "lo") && vmflag(onfault, "lf"), "mlock2(MLOCK_ONFAULT) lost");
	ZDTM_CHECK(huge[0] == 1 && nohuge[0] == 2 && rnd[0] == 3 && seq[0] == 4 && locked[0] == 5 &&
			   onfault[0] == 6 && dontfork[0] == 0x5a,
		   "region contents changed");
	return zdtm_done();
}
