/* A job of four processes: a parent with three children and a grandchild.
   Child 1 has exited (a zombie at checkpoint time, exit code 11); child 2
   waits for its own child (the grandchild, exit code 33) and exits 22;
   child 3 exits 44. After the restart (SIGUSR1 to the parent) the parent
   passes the signal on to its children (found in /proc, so the program
   also holds with --no-restore-pid), each checks its parent is the one it
   had, and the parent collects the three exit codes. The children close
   their stdio: they share nothing with the parent. */
#include "zdtm.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>

static void pass_on(void)
{
	pid_t c[8];
	int n = zdtm_children(c, 8);
	for (int i = 0; i < n; i++)
		kill(c[i], SIGUSR1);
}

static int same_parent(pid_t was)
{
	return getppid() == was;
}

int main(int argc, char **argv)
{
	int fresh = argc > 1 && !strcmp(argv[1], "fresh"); /* pids may change */
	zdtm_init();
	pid_t me = getpid();
	pid_t c1 = fork();
	if (c1 == 0) {
		zdtm_quiet();
		_exit(11);
	}
	pid_t c2 = fork();
	if (c2 == 0) {
		zdtm_quiet();
		pid_t self = getpid();
		pid_t g = fork();
		if (g == 0) {
			zdtm_quiet();
			zdtm_wait();
			_exit(getppid() == self || fresh ? 33 : 90);
		}
		zdtm_wait();
		pass_on();
		int st;
		if (waitpid(fresh ? -1 : g, &st, 0) <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 33)
			_exit(91);
		_exit(same_parent(me) || fresh ? 22 : 92);
	}
	pid_t c3 = fork();
	if (c3 == 0) {
		zdtm_quiet();
		zdtm_wait();
		_exit(same_parent(me) || fresh ? 44 : 94);
	}
	/* ready when child 1 is a zombie and child 2 has its child */
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	waitid(P_PID, c1, &si, WEXITED | WNOWAIT);
	for (;;) {
		char p[64], b[64];
		snprintf(p, sizeof(p), "/proc/%d/task/%d/children", c2, c2);
		int fd = open(p, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, b, sizeof(b)) : 0;
		if (fd >= 0)
			close(fd);
		if (n > 0)
			break;
		usleep(10000);
	}
	zdtm_ready();
	zdtm_wait();
	ZDTM_CHECK(fresh || getpid() == me, "pid %d, was %d", getpid(), me);
	pass_on();
	int seen[3] = {0, 0, 0};
	for (int i = 0; i < 3; i++) {
		int st;
		pid_t w = wait(&st);
		ZDTM_CHECK(w > 0, "wait: %s", strerror(errno));
		if (w <= 0)
			break;
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		ZDTM_CHECK(code == 11 || code == 22 || code == 44, "child %d: status %d", w, code);
		if (code == 11)
			seen[0]++;
		if (code == 22)
			seen[1]++;
		if (code == 44)
			seen[2]++;
		ZDTM_CHECK(fresh || (code == 11 && w == c1) || (code == 22 && w == c2) ||
				   (code == 44 && w == c3),
			   "child %d exited %d: not the pid it had", w, code);
	}
	ZDTM_CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 1, "exit codes 11/22/44 seen %d/%d/%d",
		   seen[0], seen[1], seen[2]);
	return zdtm_done();
}
