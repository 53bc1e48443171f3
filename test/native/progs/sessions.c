/* Groups and sessions of a job (restart with --restore-sid --restore-pgid).
   The parent leads its session (started by setsid) and is a subreaper.
   Children A and B form a process group of two (led by A); M is in the
   group of G, which exited before the checkpoint (a group whose leader is
   gone); N is in the session and group of L, which made N and exited (a
   session whose leader is gone; N was handed to the parent as subreaper).
   At checkpoint time the job is the parent, A, B, M and N. After the
   restart (SIGUSR1 to the parent, passed on) each checks its pid, parent,
   group and session and exits 0 (else 10 + the check that failed); the
   parent checks its own, collects exactly those four (no placeholder leader
   shows up as a child) and prints PASS. */
#include "zdtm.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static pid_t me;

/* In a child: wait for the restart, then check what it was. */
static void __attribute__((noreturn)) child(pid_t pgid, pid_t sid)
{
	pid_t self = getpid();
	zdtm_quiet();
	zdtm_wait();
	if (getpid() != self)
		_exit(10);
	if (getppid() != me)
		_exit(11);
	if (getpgid(0) != pgid)
		_exit(12);
	if (getsid(0) != sid)
		_exit(13);
	_exit(0);
}

/* Its stdio is its own /dev/null by now (nothing shared with the parent). */
static int is_quiet(pid_t pid)
{
	char p[64], t[64];
	snprintf(p, sizeof(p), "/proc/%d/fd/2", pid);
	ssize_t n = readlink(p, t, sizeof(t) - 1);
	return n == 9 && !memcmp(t, "/dev/null", 9);
}

int main(void)
{
	zdtm_init();
	me = getpid();
	if (getsid(0) != me) {
		printf("FAIL: start me with setsid (session %d, pid %d)\n", getsid(0), me);
		return 1;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	pid_t a = fork();
	if (a == 0) {
		setpgid(0, 0);
		child(getpid(), me);
	}
	setpgid(a, a);
	pid_t b = fork();
	if (b == 0) {
		setpgid(0, a);
		child(a, me);
	}
	setpgid(b, a);
	/* G leads a group, M joins it, G exits */
	int gp[2];
	if (pipe(gp) < 0)
		return 1;
	pid_t g = fork();
	if (g == 0) {
		setpgid(0, 0);
		char c;
		close(gp[1]);
		if (read(gp[0], &c, 1) < 0)
			_exit(2);
		_exit(0);
	}
	close(gp[0]);
	setpgid(g, g);
	pid_t m = fork();
	if (m == 0) {
		close(gp[1]);
		setpgid(0, g);
		child(g, me);
	}
	setpgid(m, g);
	close(gp[1]); /* G ends */
	int st;
	waitpid(g, &st, 0);
	/* L leads a session, makes N, exits: N comes to us */
	pid_t l = fork();
	if (l == 0) {
		setsid();
		pid_t n = fork();
		if (n == 0) {
			zdtm_quiet();
			/* L is gone once we are the parent's */
			while (getppid() != me)
				usleep(1000);
			child(getsid(0), getsid(0));
		}
		_exit(0);
	}
	waitpid(l, &st, 0);
	pid_t kids[8], n = 0;
	for (int tries = 0; !n && tries < 5000; tries++) {
		int k = zdtm_children(kids, 8);
		for (int i = 0; i < k; i++)
			if (kids[i] != a && kids[i] != b && kids[i] != m)
				n = kids[i];
		if (!n)
			usleep(1000);
	}
	for (int tries = 0; tries < 5000 && !(is_quiet(a) && is_quiet(b) && is_quiet(m) &&
					       n && is_quiet(n));
	     tries++)
		usleep(1000);
	if (!n || getpgid(b) != a || getpgid(m) != g || getsid(n) != l || getpgid(n) != l) {
		printf("FAIL: setup (n %d, b in %d, m in %d, n in %d/%d)\n", n, getpgid(b),
		       getpgid(m), getsid(n), getpgid(n));
		return 1;
	}
	printf("GROUPS %d %d %d %d %d %d %d %d\n", a, b, g, m, l, n, me, me);
	zdtm_ready();
	zdtm_wait();
	ZDTM_CHECK(getpid() == me, "pid %d, was %d", getpid(), me);
	ZDTM_CHECK(getsid(0) == me, "session %d, was %d", getsid(0), me);
	ZDTM_CHECK(getpgid(0) == me, "group %d, was %d", getpgid(0), me);
	int k = zdtm_children(kids, 8);
	ZDTM_CHECK(k == 4, "%d children, expected 4 (A, B, M, N)", k);
	for (int i = 0; i < k; i++)
		kill(kids[i], SIGUSR1);
	int seen = 0;
	for (;;) {
		pid_t w = wait(&st);
		if (w < 0) {
			ZDTM_CHECK(errno == ECHILD, "wait: %s", strerror(errno));
			break;
		}
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		ZDTM_CHECK(w == a || w == b || w == m || w == n, "unexpected child %d", w);
		ZDTM_CHECK(code == 0, "child %d exited %d (10 pid, 11 parent, 12 group, 13 session)",
			   w, code);
		seen++;
	}
	ZDTM_CHECK(seen == 4, "collected %d children, expected 4", seen);
	return zdtm_done();
}
