// SPDX-License-Identifier: BSD-3-Clause
/*
 * A restart never hangs and never orphans what it restored (issue 12, item 6):
 *  - a process whose exit signal is SIGUSR1 (clone with exit_signal SIGUSR1,
 *    so waitpid without __WALL does not see it) is checkpointed, restarted
 *    with its PID and waited for: the helper exits with its status (42);
 *  - the restore helper is SIGKILLed at random instants of a restart of an
 *    80 MiB image (build/progs/memory): every ckpt_restart returns within 1 s
 *    of the kill with an error naming the dead helper (or succeeds if the kill
 *    came after the report), and the same image restarts at once afterwards
 *    with its PID; the last one verifies its memory (PASS).
 * CKPT_KILL_ROUNDS sets the number of kills (default 12; each may wait up to 2 s here for init to reap).
 */
#include "ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"

static char dir[] = "/tmp/ckpt-robust-XXXXXX";
static char msg[CKPT_MSG_MAX];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
	nanosleep(&ts, NULL);
}

static char build[PATH_MAX]; /* native/build */

static void set_helper(void)
{
	ssize_t n = readlink("/proc/self/exe", build, sizeof(build) - 32);
	build[n > 0 ? n : 0] = '\0';
	*strrchr(build, '/') = '\0';
	*strrchr(build, '/') = '\0'; /* build/tests -> build */
	char helper[PATH_MAX + 32];
	snprintf(helper, sizeof(helper), "%s/ckpt-restore", build);
	if (!getenv("CKPT_RESTORE_HELPER"))
		setenv("CKPT_RESTORE_HELPER", helper, 1);
}

static int restart(const char *img, int stdout_fd, struct ckpt_restart_result *r)
{
	/* the memory program's fds beyond stdio (inherited) cannot be reopened:
	   the helper's warnings about them go to the same place as its stdout */
	struct ckpt_restart_opts o = {.size = sizeof(o), .fd = -1, .stdin_fd = -1,
				      .stdout_fd = stdout_fd, .stderr_fd = stdout_fd};
	memset(r, 0, sizeof(*r));
	r->size = sizeof(*r);
	return ckpt_restart(img, &o, r, msg, sizeof(msg));
}

static void wait_gone(pid_t pid)
{
	for (int i = 0; i < 400 && kill(pid, 0) == 0; i++)
		sleep_ns(5000000);
}

/* ---- a process whose exit signal is SIGUSR1 ----------------------------------- */

static volatile sig_atomic_t leave;
static void on_usr2(int s)
{
	(void)s;
	leave = 1;
}

static int usr1_child(void *arg)
{
	(void)arg;
	signal(SIGUSR2, on_usr2);
	while (!leave)
		pause();
	_exit(42);
}

static void exit_signal_usr1(void)
{
	/* SIGUSR1 would kill this test when the child ends: take it. */
	signal(SIGUSR1, SIG_IGN);
	size_t stack = 256 * 1024;
	char *st = malloc(stack);
	pid_t pid = clone(usr1_child, st + stack, SIGUSR1, NULL);
	EXPECT(pid > 0, "clone with exit signal SIGUSR1");
	if (pid <= 0)
		return;
	sleep_ns(50000000);
	char img[128];
	snprintf(img, sizeof(img), "%s/usr1.img", dir);
	struct ckpt_checkpoint_opts co = {.size = sizeof(co), .fd = -1, .after = CKPT_AFTER_KILL};
	struct ckpt_result cr = {.size = sizeof(cr)};
	int rc = ckpt_checkpoint(pid, img, &co, &cr, msg, sizeof(msg));
	EXPECT(rc == 0, "checkpoint of the SIGUSR1 child: %s", msg);
	int st_ = 0;
	EXPECT(waitpid(pid, &st_, __WALL) == pid && WIFSIGNALED(st_), "reaped after the kill");
	free(st);
	if (rc)
		return;
	struct ckpt_restart_result r;
	rc = restart(img, -1, &r);
	EXPECT(rc == 0 && r.pid == pid, "restart of the SIGUSR1 child (pid %d): rc %d %s", pid,
	       rc, msg);
	if (rc)
		return;
	char stat[64], buf[1024] = "";
	snprintf(stat, sizeof(stat), "/proc/%d/stat", pid);
	FILE *f = fopen(stat, "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	/* field 38 is exit_signal */
	char *p = strrchr(buf, ')');
	int field = 2, exit_sig = -1;
	for (; p && *p; p++)
		if (*p == ' ' && ++field == 38) {
			exit_sig = atoi(p + 1);
			break;
		}
	EXPECT(exit_sig == SIGUSR1, "restored process's exit signal is SIGUSR1 (%d)", exit_sig);
	sleep_ns(20000000);
	kill(pid, SIGUSR2);
	uint64_t t0 = now_ns();
	int code = ckpt_wait(r.waiter_pid, msg, sizeof(msg));
	EXPECT(code == 42, "the helper waited for it and exits with its status 42 (got %d: %s)",
	       code, code < 0 ? msg : "");
	EXPECT(now_ns() - t0 < 5000000000ull, "and promptly");
	EXPECT(kill(pid, 0) < 0 && errno == ESRCH, "nothing left running under init");
	signal(SIGUSR1, SIG_DFL);
}

/* ---- the helper killed at random points ---------------------------------------- */

struct killer {
	uint64_t delay_ns;
	uint64_t killed_at; /* 0: no helper found */
	pid_t helper;
};

static pid_t find_helper(void)
{
	char path[64], line[4096];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", getpid(), getpid());
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	line[n] = '\0';
	for (char *s = strtok(line, " \n"); s; s = strtok(NULL, " \n")) {
		char comm[64] = "", cp[64];
		snprintf(cp, sizeof(cp), "/proc/%s/comm", s);
		int cfd = open(cp, O_RDONLY);
		if (cfd < 0)
			continue;
		ssize_t k = read(cfd, comm, sizeof(comm) - 1);
		close(cfd);
		if (k > 0 && !strncmp(comm, "ckpt-restore", 12))
			return atoi(s);
	}
	return 0;
}

static void *killer_main(void *arg)
{
	struct killer *k = arg;
	uint64_t t0 = now_ns();
	pid_t h = 0;
	while (!(h = find_helper()) && now_ns() - t0 < 2000000000ull)
		sched_yield();
	k->helper = h;
	if (!h)
		return NULL;
	uint64_t spent = now_ns() - t0;
	if (k->delay_ns > spent)
		sleep_ns(k->delay_ns - spent);
	if (kill(h, SIGKILL) == 0)
		k->killed_at = now_ns();
	return NULL;
}

static pid_t start_memory(int *out)
{
	char prog[PATH_MAX + 32];
	snprintf(prog, sizeof(prog), "%s/progs/memory", build);
	int p[2];
	if (pipe(p))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl(prog, prog, "16", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*out = p[0];
	return pid;
}

static int read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	while (n + 1 < len && now_ns() < end) {
		ssize_t k = read(fd, buf + n, 1);
		if (k <= 0)
			break;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return (int)n;
}

static void helper_killed(void)
{
	int out = -1;
	pid_t pid = start_memory(&out);
	char line[128];
	read_line(out, line, sizeof(line), 20000);
	EXPECT(!strncmp(line, "READY", 5), "memory program ready: '%s'", line);
	char img[128];
	snprintf(img, sizeof(img), "%s/memory.img", dir);
	struct ckpt_checkpoint_opts co = {.size = sizeof(co), .fd = -1, .after = CKPT_AFTER_KILL};
	struct ckpt_result cr = {.size = sizeof(cr)};
	int rc = ckpt_checkpoint(pid, img, &co, &cr, msg, sizeof(msg));
	EXPECT(rc == 0, "checkpoint of the memory program: %s", msg);
	waitpid(pid, NULL, 0);
	close(out);
	if (rc)
		return;

	/* One undisturbed restart tells how long a restart takes here. */
	struct ckpt_restart_result r;
	int devnull = open("/dev/null", O_WRONLY);
	uint64_t t0 = now_ns();
	rc = restart(img, devnull, &r);
	uint64_t full = now_ns() - t0;
	EXPECT(rc == 0 && r.pid == pid, "first restart: %s", msg);
	if (rc)
		return;
	kill(pid, SIGKILL);
	ckpt_wait(r.waiter_pid, msg, sizeof(msg));
	wait_gone(pid);

	const char *env = getenv("CKPT_KILL_ROUNDS");
	int rounds = env ? atoi(env) : 12, errors = 0, late = 0, worst_ms = 0;
	unsigned seed = (unsigned)now_ns();
	printf("restart_robust: %d helper kills over 0..%llu ms (one restart takes %llu ms), "
	       "seed %u\n",
	       rounds, (unsigned long long)(full * 12 / 10 / 1000000),
	       (unsigned long long)(full / 1000000), seed);
	srand(seed);
	for (int i = 0; i < rounds; i++) {
		struct killer k = {.delay_ns = (uint64_t)((double)rand() / RAND_MAX * full * 1.2)};
		pthread_t th;
		pthread_create(&th, NULL, killer_main, &k);
		rc = restart(img, devnull, &r);
		uint64_t back = now_ns();
		pthread_join(th, NULL);
		EXPECT(k.killed_at, "round %d: the helper was found and killed", i);
		if (!k.killed_at) {
			if (!rc) {
				kill(r.pid, SIGKILL);
				ckpt_wait(r.waiter_pid, msg, sizeof(msg));
			}
			continue;
		}
		int ms = back > k.killed_at ? (int)((back - k.killed_at) / 1000000) : 0;
		worst_ms = ms > worst_ms ? ms : worst_ms;
		if (rc == 0) {
			/* killed after its report: the restored process runs on */
			late++;
			EXPECT(r.pid == pid, "round %d: restored with pid %d", i, r.pid);
			kill(pid, SIGKILL);
			ckpt_wait(r.waiter_pid, msg, sizeof(msg));
			wait_gone(pid);
		} else {
			errors++;
			EXPECT(ms < 1000, "round %d: error %d ms after the kill (< 1000)", i, ms);
			EXPECT(strstr(msg, "restore helper") && strstr(msg, "killed by signal 9"),
			       "round %d: the error names the killed helper: %s", i, msg);
		}
		/* the same image again at once, undisturbed */
		rc = restart(img, devnull, &r);
		EXPECT(rc == 0 && r.pid == pid, "round %d: restart right after the kill: rc %d %s", i,
		       rc, msg);
		if (!rc) {
			kill(pid, SIGKILL);
			int code = ckpt_wait(r.waiter_pid, msg, sizeof(msg));
			EXPECT(code == 128 + SIGKILL, "round %d: waiter says 137 (%d)", i, code);
			wait_gone(pid);
		}
	}
	printf("restart_robust: %d kills before the report (error), %d after it; slowest error "
	       "%d ms after its kill\n",
	       errors, late, worst_ms);
	close(devnull);

	/* The image is intact: a last restart verifies the memory. */
	int p[2];
	if (pipe(p))
		return;
	rc = restart(img, p[1], &r);
	close(p[1]);
	EXPECT(rc == 0, "last restart: %s", msg);
	if (!rc) {
		sleep_ns(20000000);
		kill(pid, SIGUSR1);
		read_line(p[0], line, sizeof(line), 20000);
		EXPECT(!strncmp(line, "PASS", 4), "memory verified after the storm: '%s'", line);
		int code = ckpt_wait(r.waiter_pid, msg, sizeof(msg));
		EXPECT(code == 0, "exit 0 (%d)", code);
	}
	close(p[0]);
}

int main(void)
{
	set_helper();
	if (!mkdtemp(dir))
		return 1;
	exit_signal_usr1();
	helper_killed();
	if (!fails) {
		char p[160];
		snprintf(p, sizeof(p), "%s/usr1.img", dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/memory.img", dir);
		unlink(p);
		rmdir(dir);
	}
	printf("restart_robust: %s\n", fails ? "FAIL" : "PASS");
	return fails != 0;
}
