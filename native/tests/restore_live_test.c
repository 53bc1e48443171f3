// SPDX-License-Identifier: BSD-3-Clause
/*
 * The restore machinery on a real glibc process, independent of the image
 * format: a child of this (dynamic) test counts in memory, writes one line
 * per tick to a file and sleeps in nanosleep; a minimal test-side snapshot
 * (maps, every readable page via /proc/PID/mem, registers with the restart
 * fix-up, xstate, rseq, robust list, mask, handlers, fds) is taken, the child
 * is killed and reaped, and the rs_* steps rebuild it under the same PID.
 * Pass: the lines continue with no gap and no repeat (so the vdso-cached
 * clock_gettime, TLS, rseq, an interrupted nanosleep and the file offset all
 * survived, the vdso block being moved back from where our copy had it),
 * then SIGTERM runs the child's handler, which exits 42.
 */
#include "restore_snapshot.h"
#include "fd.h"

int main(void)
{
	char dir[] = "/tmp/ckpt-live-XXXXXX", out[128], imgp[128];
	mkdtemp(dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(imgp, sizeof(imgp), "%s/pages", dir);
	int in[2];
	if (pipe(in))
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0); /* a thread sleeps in read(0) */
		close(in[0]);
		close(in[1]);
		child(out);
	}
	wait_threads(pid);
	struct timespec ts = {0, 100000000};

	union sigval val = {.sival_int = 7};
	sigqueue(pid, SIGRTMIN, val); /* shared pending, blocked */
	syscall(SYS_tgkill, pid, pid, SIGUSR2); /* leader's own pending, blocked */
	static struct rs_ctx c;
	char msg[CKPT_MSG_MAX];
	struct ckpt_err e;
	ckpt_err_init(&e, msg, sizeof(msg));
	c.e = &e;
	c.label = "live";
	c.report_fd = -1;
	int img = open(imgp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	snapshot(pid, &c, img);
	/* the test's v1 descriptor records, as the image reader would take them */
	EXPECT(rs_fd_finish_load(&c) == 0 && rs_fd_verify(&c) == 0, "descriptors: %s", msg);
	char tp[64], memp[64];
	snprintf(memp, sizeof(memp), "/proc/%d/mem", pid);
	int memfd;
	long lines_at_kill = count_lines(out);
	snap_kill(pid);
	int st;
	c.after = CKPT_AFTER_STOP; /* --stop: left stopped for a debugger */
	EXPECT(move_own_vdso(1l << 32) == 0, "move our own vdso block up by 4 GiB");
	int in2[2]; /* the restored stdin (ours): a pipe nobody writes to */
	if (pipe(in2) || dup2(in2[0], 0) < 0)
		fails++;
	int rc = rs_create_child(&c);
	EXPECT(rc == 0 && c.pid == pid, "create: %s", msg);
	if (!rc)
		rc = rs_restore_mm(&c);
	if (!rc)
		rc = rs_restore_process_state(&c);
	if (!rc)
		rc = rs_restore_threads(&c);
	if (!rc)
		rc = rs_restore_mm_late(&c);
	if (!rc)
		rc = rs_finish(&c);
	EXPECT(rc == 0, "restore: %s", msg);
	if (rc) {
		rs_kill_child(&c);
	} else {
		nanosleep(&ts, NULL);
		long stopped_lines = count_lines(out);
		char stp[64], sbuf[256] = "";
		snprintf(stp, sizeof(stp), "/proc/%d/stat", pid);
		int sfd = open(stp, O_RDONLY);
		EXPECT(read(sfd, sbuf, sizeof(sbuf) - 1) > 0, "read stat");
		close(sfd);
		char *state = strrchr(sbuf, ')');
		EXPECT(state && state[2] == 'T', "--stop leaves it stopped (state %c)",
		       state ? state[2] : '?');
		EXPECT(stopped_lines == lines_at_kill, "no lines while stopped (%ld, %ld)",
		       stopped_lines, lines_at_kill);
		kill(pid, SIGCONT);
		long now = 0;
		for (int i = 0; i < 100 && (now = count_lines(out)) >= 0 && now < lines_at_kill + 20;
		     i++)
			nanosleep(&ts, NULL);
		EXPECT(now >= lines_at_kill + 20,
		       "lines continue with no gap or repeat (%ld at kill, %ld now)", lines_at_kill,
		       now);
		for (int i = 1; i < nthreads; i++) {
			snprintf(tp, sizeof(tp), "/proc/%d/task/%d", pid, tids[i]);
			EXPECT(access(tp, F_OK) == 0, "thread %d back with its TID", tids[i]);
		}
		long a[5], b[5];
		memfd = open(memp, O_RDONLY);
		EXPECT(pread(memfd, a, sizeof(a), (off_t)(uintptr_t)counters) == sizeof(a), "read");
		kill(pid, SIGUSR1); /* main wakes the futex waiter */
		nanosleep(&ts, NULL);
		EXPECT(pread(memfd, b, sizeof(b), (off_t)(uintptr_t)counters) == sizeof(b), "read");
		close(memfd);
		for (int i = 0; i < 3; i++)
			EXPECT(b[i] > a[i], "thread %d advances (%ld -> %ld)", i, a[i], b[i]);
		EXPECT(a[3] == 0 && b[3] == 1, "futex waiter resumed and woke (%ld -> %ld)", a[3],
		       b[3]);
		long sc[2] = {0, 0};
		memfd = open(memp, O_RDONLY);
		EXPECT(pread(memfd, sc, sizeof(sc), (off_t)(uintptr_t)sigcheck) == sizeof(sc), "rd");
		close(memfd);
		EXPECT(sc[0] == 7, "queued SIGRTMIN kept with its value (got %ld)", sc[0]);
		EXPECT(sc[1] == 1, "blocked SIGUSR2 still pending on the leader");
		kill(pid, SIGTERM);
		waitpid(pid, &st, 0);
		EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 42,
		       "SIGTERM handler ran and exited 42 (status 0x%x)", st);
	}
	close(img);
	unlink(out);
	unlink(imgp);
	rmdir(dir);
	printf("restore_live: %s\n", fails ? "FAIL" : "PASS");
	return fails != 0;
}
