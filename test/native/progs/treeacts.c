/* Signal actions of every process of a tree, and signals sent while the
   tree is checkpointed.

   treeacts: a parent, two children and a grandchild each give every signal
   an action of its own (SIG_DFL, SIG_IGN or a handler, with flags, a mask
   and a restorer that differ per process and signal; SIGCHLD SIG_DFL with
   SA_NOCLDSTOP, and SA_NOCLDWAIT in the leaves) and keep what the kernel
   reports back for all 64. After the restart (SIGUSR1 to the parent,
   passed on down) each compares all 64 actions with what it kept; a child
   says so in its exit code, the parent prints PASS or what differs.

   treeacts count N: a parent and two children count SIGRTMIN+4 by the
   value it carries; each prints "PID <pid>". On SIGUSR1 (passed on) each
   checks that it got every value 1..N exactly once.

   treeacts send N PID...: queues SIGRTMIN+4 with values 1..N to each PID in
   turn, a little apart, and exits 0 once all are queued. */
#include "zdtm.h"
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define SA_RESTORER_ 0x04000000

struct ksa { /* the kernel's struct sigaction on x86-64 */
	uintptr_t handler;
	unsigned long flags;
	uintptr_t restorer;
	uint64_t mask;
};

static struct ksa kept[65];
static volatile sig_atomic_t handled;

static void h(int s)
{
	(void)s;
	handled++;
}

static void hinfo(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)si;
	(void)uc;
	handled++;
}

static int get(int sig, struct ksa *k)
{
	return (int)syscall(SYS_rt_sigaction, sig, NULL, k, 8);
}

/* Process p's action for sig: a function of both, so no two processes
   hold the same table. */
static void set_actions(int p, int leaf)
{
	struct ksa usr1;
	get(SIGUSR1, &usr1); /* zdtm's handler, with glibc's restorer */
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33)
			continue; /* not settable, or glibc's own */
		uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(p * 65 + sig + 1);
		struct ksa k = {.mask = x ^ (x >> 29)};
		static const unsigned long bits[] = {SA_RESTART, SA_NODEFER, SA_ONSTACK,
						     SA_RESETHAND};
		for (int b = 0; b < 4; b++)
			if (x >> (40 + b) & 1)
				k.flags |= bits[b];
		int kind = (sig + p) % 3;
		if (sig == SIGUSR1) {
			k.handler = usr1.handler;
			k.flags &= ~(unsigned long)SA_RESETHAND;
		} else if (sig == SIGCHLD) {
			k.handler = (uintptr_t)SIG_DFL;
			k.flags = SA_NOCLDSTOP | (leaf ? SA_NOCLDWAIT : 0) | (k.flags & SA_RESTART);
		} else if (kind == 0) {
			k.handler = (uintptr_t)SIG_DFL;
		} else if (kind == 1) {
			k.handler = (uintptr_t)SIG_IGN;
		} else if (x >> 50 & 1) {
			k.handler = (uintptr_t)hinfo;
			k.flags |= SA_SIGINFO;
		} else {
			k.handler = (uintptr_t)h;
		}
		/* a handler needs glibc's restorer; the others keep any value */
		k.flags |= SA_RESTORER_;
		k.restorer = k.handler > 1 ? usr1.restorer : 0x100000 + p * 0x1000 + sig * 8;
		if (syscall(SYS_rt_sigaction, sig, &k, NULL, 8) < 0) {
			printf("FAIL: pid %d: rt_sigaction(%d): %s\n", getpid(), sig, strerror(errno));
			exit(1);
		}
	}
	for (int sig = 1; sig <= 64; sig++)
		get(sig, &kept[sig]);
}

/* What differs from kept: the number of signals, and the first one in msg. */
static int compare(char *msg, size_t len)
{
	int bad = 0;
	for (int sig = 1; sig <= 64; sig++) {
		struct ksa k;
		memset(&k, 0, sizeof(k));
		get(sig, &k);
		if (!memcmp(&k, &kept[sig], sizeof(k)))
			continue;
		if (!bad++)
			snprintf(msg, len,
				 "signal %d: handler %#lx flags %#lx restorer %#lx mask %#llx, was "
				 "%#lx %#lx %#lx %#llx",
				 sig, (unsigned long)k.handler, k.flags, (unsigned long)k.restorer,
				 (unsigned long long)k.mask, (unsigned long)kept[sig].handler,
				 kept[sig].flags, (unsigned long)kept[sig].restorer,
				 (unsigned long long)kept[sig].mask);
	}
	return bad;
}

static void pass_on(const pid_t *c, int n)
{
	for (int i = 0; i < n; i++)
		kill(c[i], SIGUSR1);
}

/* 0 when child c exited 0, else a message. */
static int reap(pid_t c, const char *who)
{
	int st;
	if (waitpid(c, &st, 0) != c) {
		printf("FAIL: %s %d: waitpid: %s\n", who, c, strerror(errno));
		return 1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("FAIL: %s %d: status %#x\n", who, c, st);
		return 1;
	}
	return 0;
}

static int actions(void)
{
	zdtm_init();
	int ready[2];
	if (pipe(ready))
		return 1;
	pid_t c[2];
	for (int i = 0; i < 2; i++) {
		c[i] = fork();
		if (c[i] == 0) {
			zdtm_quiet();
			close(ready[0]);
			pid_t g = 0;
			if (i == 1) { /* the grandchild */
				g = fork();
				if (g == 0) {
					set_actions(3, 1);
					if (write(ready[1], "g", 1) != 1)
						_exit(2);
					close(ready[1]);
					zdtm_wait();
					char m[256];
					_exit(compare(m, sizeof(m)) ? 1 : 0);
				}
			}
			set_actions(1 + i, i == 0);
			if (write(ready[1], "c", 1) != 1)
				_exit(2);
			close(ready[1]);
			zdtm_wait();
			char m[256];
			int bad = compare(m, sizeof(m));
			if (g) {
				pass_on(&g, 1);
				int st;
				bad |= waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st);
			}
			_exit(bad ? 1 : 0);
		}
	}
	close(ready[1]);
	char b[3];
	for (size_t got = 0; got < 3;) {
		ssize_t n = read(ready[0], b, 3 - got);
		if (n <= 0) {
			printf("FAIL: the children did not get ready\n");
			return 1;
		}
		got += (size_t)n;
	}
	close(ready[0]);
	set_actions(0, 0);
	zdtm_ready();
	zdtm_wait();
	pass_on(c, 2);
	char m[256] = "";
	int bad = compare(m, sizeof(m));
	ZDTM_CHECK(!bad, "parent: %d actions differ; %s", bad, m);
	ZDTM_CHECK(!reap(c[0], "child"), "a child's actions differ");
	ZDTM_CHECK(!reap(c[1], "child (with the grandchild)"),
		   "the actions of a child or of the grandchild differ");
	return zdtm_done();
}

#define MAXN 4096
static volatile uint8_t got[MAXN + 1];
static volatile sig_atomic_t stray;

static void counted(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)uc;
	int v = si->si_value.sival_int;
	if (v >= 1 && v <= MAXN && got[v] < 255)
		got[v]++;
	else
		stray++;
}

/* 0 when every value 1..n came exactly once, else a message on stdout. */
static int check_counts(int n, const char *who)
{
	int lost = 0, twice = 0, first = 0;
	for (int v = 1; v <= n; v++) {
		if (got[v] != 1 && !first)
			first = v;
		lost += got[v] == 0;
		twice += got[v] > 1;
	}
	if (!lost && !twice && !stray)
		return 0;
	printf("FAIL: %s %d: of %d signals %d lost, %d more than once (first: value %d, %d "
	       "times), %d stray\n",
	       who, getpid(), n, lost, twice, first, first ? got[first] : 0, (int)stray);
	return 1;
}

static int count(int n)
{
	if (n < 1 || n > MAXN)
		return 1;
	zdtm_init();
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = counted;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGRTMIN + 4, &sa, NULL);
	pid_t c[2];
	for (int i = 0; i < 2; i++) {
		c[i] = fork();
		if (c[i] == 0) {
			zdtm_wait();
			char who[32];
			snprintf(who, sizeof(who), "child %d", i);
			int bad = check_counts(n, who);
			fflush(stdout);
			_exit(bad);
		}
		printf("PID %d\n", c[i]);
	}
	printf("PID %d\n", getpid());
	zdtm_ready();
	zdtm_wait();
	pass_on(c, 2);
	ZDTM_CHECK(!check_counts(n, "parent"), "the parent's signals");
	ZDTM_CHECK(!reap(c[0], "child"), "a child's signals");
	ZDTM_CHECK(!reap(c[1], "child"), "a child's signals");
	return zdtm_done();
}

static int send(int n, char **pids, int np)
{
	struct timespec gap = {0, 200 * 1000};
	for (int v = 1; v <= n; v++) {
		for (int i = 0; i < np; i++) {
			union sigval val = {.sival_int = v};
			while (sigqueue(atoi(pids[i]), SIGRTMIN + 4, val) < 0)
				if (errno != EAGAIN) {
					fprintf(stderr, "sigqueue %s: %s\n", pids[i], strerror(errno));
					return 1;
				}
		}
		nanosleep(&gap, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "count"))
		return count(atoi(argv[2]));
	if (argc >= 4 && !strcmp(argv[1], "send"))
		return send(atoi(argv[2]), argv + 3, argc - 3);
	return actions();
}
