// SPDX-License-Identifier: BSD-3-Clause
/*
 * Checkpoints by the kernel engine (ckpt_checkpoint with CKPT_BACKEND_KERNEL:
 * /dev/ckpt freezes, the shared dump code writes the one image format), on
 * real programs:
 *  - the native acceptance programs (counter, regs, threads, signals,
 *    sleepers, memory, files, python, bash): checkpoint with after=kill,
 *    restart with the same PID by ckpt_restart, SIGUSR1, PASS and exit 0;
 *  - cross-engine: one counter checkpointed by user, kernel, user, kernel
 *    engines in turn, each image restored, lines with no gap or repeat;
 *  - auto takes the module for a running process, ptrace for a stopped one;
 *  - what the module reports instead of injected syscalls equals what the
 *    user engine reads (dispositions, pending signals with their values,
 *    the three itimers, brk, dumpable, THP, xcomp permission, altstack,
 *    clear-tid) on the same process;
 *  - a process under strace: the user engine refuses, the kernel engine
 *    checkpoints it and the image restores;
 *  - the checkpointer SIGKILLed at random instants: the target runs on;
 *  - corrupted and truncated images: clear errors, nothing restored;
 *  - bad arguments to the new ioctls (GET_PENDING, GET_PROC).
 * Needs /dev/ckpt: on a host without it it says skipped; scripts/vm/test
 * runs it in a guest (CKPT_IN_VM=1), where a missing device fails.
 */
#include "ckpt.h"
#include "err.h"
#include "kernel_engine.h"
#include "ckpt_image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../kmod/include/uapi/linux/ckpt.h"
#include "expect.h"

static char dir[] = "/tmp/ckpt-kdump-XXXXXX";
static char msg[CKPT_MSG_MAX];
static char progs[2048], srcs[2048];

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return (int)(n > 0 ? n : 0);
}

static char state_of(pid_t pid)
{
	char p[64], buf[512];
	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	if (slurp(p, buf, sizeof(buf)) <= 0)
		return 0;
	char *r = strrchr(buf, ')');
	return r ? r[2] : 0;
}

/* Lines "0".."n-1" with no gap or repeat: n, or -1. */
static long lines(const char *file)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return 0;
	char l[64];
	long n = 0;
	while (fgets(l, sizeof(l), f)) {
		if (!strchr(l, '\n'))
			break; /* a partial last line */
		if (atol(l) != n) {
			fclose(f);
			return -1;
		}
		n++;
	}
	fclose(f);
	return n;
}

static int wait_lines(const char *file, long more_than)
{
	for (int i = 0; i < 1000; i++) {
		long n = lines(file);
		if (n < 0)
			return 0;
		if (n > more_than)
			return 1;
		msleep(20);
	}
	return 0;
}

/* argv in a new session, stdout and stderr to out; its pid once READY. */
static pid_t launch(const char *out, char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (chdir(dir)) {
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	char buf[4096];
	for (int i = 0; i < 1500; i++) {
		if (slurp(out, buf, sizeof(buf)) > 0 && strstr(buf, "READY "))
			return pid;
		msleep(20);
	}
	fprintf(stderr, "%s did not say READY: %s\n", argv[0], buf);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static int cp(pid_t pid, const char *img, uint32_t backend, uint32_t after,
	      struct ckpt_result *r)
{
	struct ckpt_checkpoint_opts o = {
		.size = sizeof(o), .fd = -1, .after = after, .backend = backend};
	struct ckpt_result tmp;
	if (!r)
		r = &tmp;
	memset(r, 0, sizeof(*r));
	r->size = sizeof(*r);
	int rc = ckpt_checkpoint(pid, img, &o, r, msg, sizeof(msg));
	if (!rc && r->backend != backend) {
		snprintf(msg, sizeof(msg), "result says backend %u, asked %u", r->backend, backend);
		return -EPROTO;
	}
	return rc;
}

static int rs(const char *img, struct ckpt_restart_result *rr)
{
	struct ckpt_restart_opts o = {
		.size = sizeof(o), .fd = -1, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
	memset(rr, 0, sizeof(*rr));
	rr->size = sizeof(*rr);
	return ckpt_restart(img, &o, rr, msg, sizeof(msg));
}

/* "TID STATE SYSCALL-LINE" for every thread of pid: what a failure report
   shows of a restored process that did not go on. */
static void task_states(pid_t pid, char *out, size_t len)
{
	char p[128], st[512], sc[256];
	size_t n = 0;
	out[0] = '\0';
	snprintf(p, sizeof(p), "/proc/%d/task", pid);
	DIR *d = opendir(p);
	struct dirent *de;
	while (d && (de = readdir(d)) && n + 300 < len) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/%d/task/%.16s/stat", pid, de->d_name);
		slurp(p, st, sizeof(st));
		char *r = strrchr(st, ')');
		snprintf(p, sizeof(p), "/proc/%d/task/%.16s/syscall", pid, de->d_name);
		slurp(p, sc, sizeof(sc));
		sc[strcspn(sc, "\n")] = '\0';
		n += (size_t)snprintf(out + n, len - n, "  %s %c %.80s\n", de->d_name,
				      r && r[1] ? r[2] : '?', sc);
	}
	if (d)
		closedir(d);
}

/* Checkpoint with `backend` (kill), restart same PID, SIGUSR1: PASS, exit 0. */
static void cycle(const char *name, pid_t pid, const char *out, uint32_t backend)
{
	char img[PATH_MAX];
	snprintf(img, sizeof(img), "%s/%s.img", dir, name);
	struct ckpt_result r;
	int rc = cp(pid, img, backend, CKPT_AFTER_KILL, &r);
	EXPECT(rc == 0 && r.bytes > 0 && r.threads >= 1, "%s: checkpoint: %d %s", name, rc, msg);
	if (rc) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return;
	}
	int st;
	EXPECT(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	       "%s: killed after the checkpoint", name);
	struct ckpt_restart_result rr;
	rc = rs(img, &rr);
	EXPECT(rc == 0 && rr.pid == pid, "%s: restart: %d pid %d (want %d): %s", name, rc, rr.pid,
	       pid, msg);
	if (rc)
		return;
	msleep(100);
	static char tasks[4096];
	task_states(pid, tasks, sizeof(tasks));
	kill(pid, SIGUSR1);
	int code = ckpt_wait(rr.waiter_pid, msg, sizeof(msg));
	char buf[8192];
	slurp(out, buf, sizeof(buf));
	EXPECT(code == 0 && strstr(buf, "PASS\n") && !strstr(buf, "FAIL"),
	       "%s (%s engine): exit %d, output:\n%s\nits threads 100 ms after the restart "
	       "(tid state syscall):\n%s",
	       name, backend == CKPT_BACKEND_KERNEL ? "kernel" : "user", code, buf, tasks);
	printf("kernel_dump: %s: %s\n", name, code == 0 ? "PASS" : "FAIL");
}

static void test_acceptance(void)
{
	char data[PATH_MAX], work[PATH_MAX], file[PATH_MAX], out[PATH_MAX];
	snprintf(data, sizeof(data), "%s/data.bin", dir);
	snprintf(work, sizeof(work), "%s/work", dir);
	mkdir(work, 0755);
	int fd = open(data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char ab[8192];
	memset(ab, 'a', 4096);
	memset(ab + 4096, 'b', 4096);
	EXPECT(fd >= 0 && write(fd, ab, sizeof(ab)) == (ssize_t)sizeof(ab), "data file");
	close(fd);

	const char *simple[] = {"regs", "threads", "signals", "sleepers"};
	/* CKPT_KDUMP_PROGS=threads: only those; CKPT_KDUMP_ENGINE=user: the same
	   cycles with the user engine (to tell an engine's bug from the restorer's) */
	const char *progs_only = getenv("CKPT_KDUMP_PROGS");
	uint32_t backend = getenv("CKPT_KDUMP_ENGINE") && !strcmp(getenv("CKPT_KDUMP_ENGINE"), "user")
				   ? CKPT_BACKEND_USER
				   : CKPT_BACKEND_KERNEL;
	for (size_t i = 0; i < sizeof(simple) / sizeof(*simple); i++) {
		if (progs_only && !strstr(progs_only, simple[i]))
			continue;
		char exe[PATH_MAX];
		snprintf(exe, sizeof(exe), "%s/%s", progs, simple[i]);
		snprintf(out, sizeof(out), "%s/%s.out", dir, simple[i]);
		char *argv[] = {exe, NULL};
		pid_t pid = launch(out, argv);
		EXPECT(pid > 0, "%s started", simple[i]);
		if (pid > 0) {
			msleep(100);
			cycle(simple[i], pid, out, backend);
		}
	}
	if (progs_only)
		return;

	char exe[PATH_MAX];
	snprintf(exe, sizeof(exe), "%s/memory", progs);
	snprintf(out, sizeof(out), "%s/memory.out", dir);
	char *mem[] = {exe, "32", NULL};
	pid_t pid = launch(out, mem);
	EXPECT(pid > 0, "memory started");
	if (pid > 0)
		cycle("memory", pid, out, CKPT_BACKEND_KERNEL);

	snprintf(exe, sizeof(exe), "%s/files", progs);
	snprintf(out, sizeof(out), "%s/files.out", dir);
	char *files[] = {exe, data, work, NULL};
	pid = launch(out, files);
	EXPECT(pid > 0, "files started");
	if (pid > 0)
		cycle("files", pid, out, CKPT_BACKEND_KERNEL);

	const char *interp[][2] = {{"python3", "counter.py"}, {"bash", "loop.sh"}};
	for (int i = 0; i < 2; i++) {
		char script[PATH_MAX];
		snprintf(script, sizeof(script), "%s/%s", srcs, interp[i][1]);
		snprintf(file, sizeof(file), "%s/%s.lines", dir, interp[i][0]);
		snprintf(out, sizeof(out), "%s/%s.out", dir, interp[i][0]);
		char *argv[] = {(char *)interp[i][0], script, file, NULL};
		pid = launch(out, argv);
		EXPECT(pid > 0, "%s started", interp[i][0]);
		if (pid <= 0)
			continue;
		EXPECT(wait_lines(file, 3), "%s writes lines", interp[i][0]);
		cycle(interp[i][0], pid, out, CKPT_BACKEND_KERNEL);
		EXPECT(lines(file) > 3, "%s: lines with no gap or repeat (%ld)", interp[i][0],
		       lines(file));
	}
}

/* One counter through user, kernel, user, kernel checkpoints, each image
   restored by ckpt_restart: an image of either engine restores. */
static void test_cross_engine(void)
{
	char exe[PATH_MAX], file[PATH_MAX], out[PATH_MAX], img[PATH_MAX];
	snprintf(exe, sizeof(exe), "%s/counter", progs);
	snprintf(file, sizeof(file), "%s/cross.lines", dir);
	snprintf(out, sizeof(out), "%s/cross.out", dir);
	char *argv[] = {exe, file, NULL};
	pid_t pid = launch(out, argv), waiter = 0;
	EXPECT(pid > 0, "counter started");
	if (pid <= 0)
		return;
	const uint32_t order[] = {CKPT_BACKEND_USER, CKPT_BACKEND_KERNEL, CKPT_BACKEND_USER,
				  CKPT_BACKEND_KERNEL};
	for (int i = 0; i < 4; i++) {
		long before = lines(file);
		EXPECT(wait_lines(file, before + 3), "round %d: counting", i);
		snprintf(img, sizeof(img), "%s/cross-%d.img", dir, i);
		int rc = cp(pid, img, order[i], CKPT_AFTER_KILL, NULL);
		EXPECT(rc == 0, "round %d (%s): %s", i, order[i] == CKPT_BACKEND_USER ? "user" : "kernel",
		       msg);
		if (rc)
			break;
		if (waiter)
			EXPECT(ckpt_wait(waiter, msg, sizeof(msg)) == 128 + SIGKILL,
			       "the previous restorer reports the kill");
		else
			waitpid(pid, NULL, 0);
		long at = lines(file);
		struct ckpt_restart_result rr;
		rc = rs(img, &rr);
		EXPECT(rc == 0 && rr.pid == pid, "round %d restart: %s", i, msg);
		if (rc)
			return;
		waiter = rr.waiter_pid;
		EXPECT(wait_lines(file, at + 3), "round %d: lines continue after %ld", i, at);
	}
	kill(pid, SIGUSR1);
	EXPECT(ckpt_wait(waiter, msg, sizeof(msg)) == 0, "counter exits 0 after SIGUSR1");
	EXPECT(lines(file) > 12, "no gap or repeat: %ld", lines(file));
}

/* ---- the module's answers equal the user engine's ------------------------ */

struct shared_info {
	uint64_t brk;
	volatile int ready;
	int tid;
};

static volatile struct shared_info *info;

static void on_usr1(int s) { (void)s; }

/* A process with a handler, blocked signals pending (one queued to a thread
   with a value, three RT ones to the process), all three itimers armed, THP
   off, a sigaltstack: then it sleeps in pause(). */
static pid_t spawn_rich(void)
{
	pid_t pid = fork();
	if (pid)
		return pid;
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART | SA_ONSTACK};
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	sigaddset(&m, SIGRTMIN);
	sigaddset(&m, SIGALRM);
	sigprocmask(SIG_BLOCK, &m, NULL);
	static char alt[65536];
	stack_t ss = {.ss_sp = alt, .ss_size = sizeof(alt)};
	sigaltstack(&ss, NULL);
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	struct itimerval it = {{5, 0}, {100, 0}};
	setitimer(ITIMER_REAL, &it, NULL);
	setitimer(ITIMER_PROF, &it, NULL);
	struct itimerval virt = {{3, 0}, {50, 0}};
	setitimer(ITIMER_VIRTUAL, &virt, NULL);
	siginfo_t si = {0};
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = 42;
	si.si_signo = SIGUSR2;
	syscall(SYS_rt_tgsigqueueinfo, getpid(), getpid(), SIGUSR2, &si);
	for (int i = 0; i < 3; i++) {
		si.si_signo = SIGRTMIN;
		si.si_value.sival_int = 100 + i;
		syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN, &si);
	}
	info->brk = (uint64_t)sbrk(0);
	info->tid = getpid();
	info->ready = 1;
	for (;;)
		pause();
}

static int read_image(const char *img, struct ckpt_img_proc *p, struct ckpt_img_procx *px,
		      struct ckpt_img_thread *t, struct ckpt_img_siginfo *tpend,
		      struct ckpt_img_siginfo *spend)
{
	/* One process, one thread: walk the sections by their headers. */
	int fd = open(img, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	fstat(fd, &st);
	unsigned char *m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -errno;
	const struct ckpt_img_header *h = (const void *)m;
	uint64_t off = h->header_size;
	int found = 0;
	while (off + sizeof(struct ckpt_img_section) <= (uint64_t)st.st_size) {
		const struct ckpt_img_section *s = (const void *)(m + off);
		const unsigned char *pl = m + off + sizeof(*s) + s->pad;
		if (s->type == CKPT_SEC_PROC) {
			memcpy(p, pl, sizeof(*p));
			memcpy(spend, pl + sizeof(*p), p->pending_shared_count * 128);
			found |= 1;
		} else if (s->type == CKPT_SEC_PROCX) {
			memcpy(px, pl, sizeof(*px));
			found |= 2;
		} else if (s->type == CKPT_SEC_THREAD) {
			memcpy(t, pl, sizeof(*t));
			uint64_t xs = (t->xstate_size + 7ull) & ~7ull;
			memcpy(tpend, pl + sizeof(*t) + xs, t->pending_count * 128);
			found |= 4;
		} else if (s->type == CKPT_SEC_END) {
			break;
		}
		off += sizeof(*s) + s->pad + s->size + sizeof(struct ckpt_img_section_tail);
	}
	munmap(m, st.st_size);
	return found == 7 ? 0 : -EPROTO;
}

static void test_same_as_user(void)
{
	pid_t pid = spawn_rich();
	for (int i = 0; i < 500 && !info->ready; i++)
		msleep(10);
	EXPECT(info->ready, "rich target ready");
	msleep(50);
	char ui[PATH_MAX], ki[PATH_MAX];
	snprintf(ui, sizeof(ui), "%s/same-user.img", dir);
	snprintf(ki, sizeof(ki), "%s/same-kernel.img", dir);
	EXPECT(cp(pid, ui, CKPT_BACKEND_USER, CKPT_AFTER_CONT, NULL) == 0, "user: %s", msg);
	EXPECT(cp(pid, ki, CKPT_BACKEND_KERNEL, CKPT_AFTER_CONT, NULL) == 0, "kernel: %s", msg);
	static struct ckpt_img_proc up, kp;
	struct ckpt_img_procx ux, kx;
	struct ckpt_img_thread ut, kt;
	static struct ckpt_img_siginfo utp[70], ktp[70], usp[70], ksp[70];
	EXPECT(read_image(ui, &up, &ux, &ut, utp, usp) == 0, "read user image");
	EXPECT(read_image(ki, &kp, &kx, &kt, ktp, ksp) == 0, "read kernel image");
	EXPECT(!memcmp(up.sigactions, kp.sigactions, sizeof(up.sigactions)), "dispositions");
	EXPECT(up.sigactions[SIGUSR1 - 1].handler == (uint64_t)(uintptr_t)on_usr1,
	       "SIGUSR1 handler recorded");
	EXPECT(up.mm.brk == kp.mm.brk && kp.mm.brk == info->brk, "brk %llx %llx %llx",
	       (unsigned long long)up.mm.brk, (unsigned long long)kp.mm.brk,
	       (unsigned long long)info->brk);
	EXPECT(up.dumpable == kp.dumpable && kp.dumpable == 1, "dumpable %u %u", up.dumpable,
	       kp.dumpable);
	EXPECT(up.thp_disable == kp.thp_disable && kp.thp_disable == 1, "thp %llu %llu",
	       (unsigned long long)up.thp_disable, (unsigned long long)kp.thp_disable);
	EXPECT(ux.xcomp_perm == kx.xcomp_perm, "xcomp_perm %llx %llx",
	       (unsigned long long)ux.xcomp_perm, (unsigned long long)kx.xcomp_perm);
	const struct ckpt_img_itimer *a = &up.itimers[0], *b = &kp.itimers[0];
	EXPECT(a->interval_sec == 5 && b->interval_sec == 5 && !b->interval_usec,
	       "ITIMER_REAL interval");
	EXPECT(b->value_sec <= a->value_sec && b->value_sec + 5 >= a->value_sec &&
		       b->value_sec > 80,
	       "ITIMER_REAL value %llu then %llu", (unsigned long long)a->value_sec,
	       (unsigned long long)b->value_sec);
	/* CPU time: the user engine's injected syscalls cost the target a little */
	for (int w = 1; w < 3; w++) {
		a = &up.itimers[w];
		b = &kp.itimers[w];
		uint64_t ua = a->value_sec * 1000000 + a->value_usec;
		uint64_t ka = b->value_sec * 1000000 + b->value_usec;
		uint64_t want = w == 1 ? 50000000 : 100000000;
		EXPECT(a->interval_sec == (w == 1 ? 3u : 5u) && !memcmp(a, b, 16),
		       "itimer %d interval %llu/%llu", w, (unsigned long long)a->interval_sec,
		       (unsigned long long)b->interval_sec);
		/* setitimer rounds up to a tick: up to 10 ms above what was asked */
		EXPECT(ka <= ua && ka + 1000000 > ua && ua <= want + 10000 && ua + 1000000 > want,
		       "itimer %d value user %llu us, kernel %llu us", w, (unsigned long long)ua,
		       (unsigned long long)ka);
	}
	EXPECT(up.pending_shared_count == 3 && kp.pending_shared_count == 3,
	       "shared pending %llu %llu", (unsigned long long)up.pending_shared_count,
	       (unsigned long long)kp.pending_shared_count);
	EXPECT(!memcmp(usp, ksp, 3 * 128), "shared siginfo records equal");
	EXPECT(ut.pending_count == 1 && kt.pending_count == 1, "thread pending %u %u",
	       ut.pending_count, kt.pending_count);
	siginfo_t si;
	memcpy(&si, ktp[0].raw, sizeof(si));
	EXPECT(si.si_signo == SIGUSR2 && si.si_value.sival_int == 42, "SIGUSR2 value %d",
	       si.si_value.sival_int);
	EXPECT(!memcmp(utp, ktp, 128), "thread siginfo record equal");
	EXPECT(ut.sigmask == kt.sigmask && ut.altstack_sp == kt.altstack_sp &&
		       ut.altstack_size == kt.altstack_size &&
		       ut.altstack_flags == kt.altstack_flags &&
		       ut.clear_tid_address == kt.clear_tid_address &&
		       ut.robust_list_head == kt.robust_list_head &&
		       ut.rseq_abi_pointer == kt.rseq_abi_pointer,
	       "thread fields equal");
	EXPECT(!memcmp(&ut.regs, &kt.regs, sizeof(ut.regs)), "registers equal (in pause)");
	EXPECT(strcmp(up.exe, kp.exe) == 0 && up.uid == kp.uid, "shared /proc part");
	EXPECT(state_of(pid) == 'S', "runs on after both checkpoints (%c)", state_of(pid));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* auto: the module for a running process, ptrace for a stopped one (which
   the module cannot freeze: asked explicitly, it refuses by name). */
static void test_auto(void)
{
	info->ready = 0;
	pid_t pid = spawn_rich();
	for (int i = 0; i < 500 && !info->ready; i++)
		msleep(10);
	char img[PATH_MAX];
	snprintf(img, sizeof(img), "%s/auto.img", dir);
	struct ckpt_checkpoint_opts o = {.size = sizeof(o), .fd = -1, .backend = CKPT_BACKEND_AUTO};
	struct ckpt_result r = {.size = sizeof(r)};
	int rc = ckpt_checkpoint(pid, img, &o, &r, msg, sizeof(msg));
	EXPECT(rc == 0 && r.backend == CKPT_BACKEND_KERNEL, "auto, running: %d backend %u %s", rc,
	       r.backend, msg);
	kill(pid, SIGSTOP);
	char s = 0;
	for (int i = 0; i < 200 && (s = state_of(pid)) != 'T'; i++)
		msleep(10);
	EXPECT(s == 'T', "stopped (%c)", s);
	rc = cp(pid, img, CKPT_BACKEND_KERNEL, CKPT_AFTER_CONT, NULL);
	EXPECT(rc == -EBUSY && strstr(msg, "stopped"), "kernel, stopped: %d %s", rc, msg);
	r = (struct ckpt_result){.size = sizeof(r)};
	rc = ckpt_checkpoint(pid, img, &o, &r, msg, sizeof(msg));
	EXPECT(rc == 0 && r.backend == CKPT_BACKEND_USER, "auto, stopped: %d backend %u %s", rc,
	       r.backend, msg);
	EXPECT(state_of(pid) == 'T', "still stopped after the checkpoint (%c)", state_of(pid));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- strace, killed checkpointer, corrupted images, bad ioctls ----------- */

static int traced(pid_t pid)
{
	char p[64], buf[2048];
	snprintf(p, sizeof(p), "/proc/%d/status", pid);
	slurp(p, buf, sizeof(buf));
	char *t = strstr(buf, "TracerPid:");
	return t && atoi(t + 10) > 0;
}

static void test_under_strace(void)
{
	char exe[PATH_MAX], file[PATH_MAX], out[PATH_MAX], img[PATH_MAX];
	snprintf(exe, sizeof(exe), "%s/counter", progs);
	snprintf(file, sizeof(file), "%s/strace.lines", dir);
	snprintf(out, sizeof(out), "%s/strace.out", dir);
	snprintf(img, sizeof(img), "%s/strace.img", dir);
	char *argv[] = {exe, file, NULL};
	pid_t pid = launch(out, argv);
	EXPECT(pid > 0, "counter started");
	if (pid <= 0)
		return;
	char spid[16];
	snprintf(spid, sizeof(spid), "%d", pid);
	pid_t st = fork();
	if (st == 0) {
		int nul = open("/dev/null", O_WRONLY);
		dup2(nul, 2);
		execlp("strace", "strace", "-f", "-o", "/dev/null", "-p", spid, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !traced(pid); i++)
		msleep(10);
	EXPECT(traced(pid), "strace attached");
	int rc = cp(pid, img, CKPT_BACKEND_USER, CKPT_AFTER_CONT, NULL);
	EXPECT(rc == -EPERM && strstr(msg, "already traced"), "user engine refuses: %d %s", rc,
	       msg);
	rc = cp(pid, img, CKPT_BACKEND_KERNEL, CKPT_AFTER_CONT, NULL);
	EXPECT(rc == 0, "kernel engine under strace: %s", msg);
	long n = lines(file);
	EXPECT(wait_lines(file, n + 3), "runs on under strace after the checkpoint");
	kill(st, SIGKILL);
	waitpid(st, NULL, 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* the image made under strace restores (without strace) */
	struct ckpt_restart_result rr;
	rc = rs(img, &rr);
	EXPECT(rc == 0 && rr.pid == pid, "restart of the image made under strace: %s", msg);
	if (rc)
		return;
	EXPECT(wait_lines(file, lines(file) + 3) || lines(file) > 0, "counts again");
	kill(pid, SIGUSR1);
	EXPECT(ckpt_wait(rr.waiter_pid, msg, sizeof(msg)) == 0, "exit 0");
}

static void test_checkpointer_killed(void)
{
	char exe[PATH_MAX], file[PATH_MAX], out[PATH_MAX], img[PATH_MAX];
	snprintf(exe, sizeof(exe), "%s/counter", progs);
	snprintf(file, sizeof(file), "%s/storm.lines", dir);
	snprintf(out, sizeof(out), "%s/storm.out", dir);
	snprintf(img, sizeof(img), "%s/storm.img", dir);
	char *argv[] = {exe, file, NULL};
	pid_t pid = launch(out, argv);
	EXPECT(pid > 0, "counter started");
	if (pid <= 0)
		return;
	srand((unsigned)time(NULL));
	int completed = 0;
	for (int round = 0; round < 20; round++) {
		pid_t c = fork();
		if (c == 0) {
			for (;;)
				if (cp(pid, img, CKPT_BACKEND_KERNEL, CKPT_AFTER_CONT, NULL))
					_exit(1);
		}
		msleep(rand() % 60);
		kill(c, SIGKILL);
		int st;
		waitpid(c, &st, 0);
		completed += WIFSIGNALED(st);
		long n = lines(file);
		char s = state_of(pid);
		EXPECT(s == 'S' || s == 'R', "round %d: target state %c", round, s);
		EXPECT(wait_lines(file, n + 1), "round %d: the target counts on", round);
	}
	EXPECT(completed == 20, "every round ended by SIGKILL (%d)", completed);
	kill(pid, SIGUSR1);
	int st;
	waitpid(pid, &st, 0);
	EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "target exits 0 after the storm");
	/* the last complete image, if any, is intact */
	if (access(img, F_OK) == 0) {
		static char json[1 << 16];
		int rc = ckpt_inspect(img, CKPT_IN_VERIFY, json, sizeof(json), NULL, msg,
				      sizeof(msg));
		EXPECT(rc > 0, "the image the storm left verifies: %s", msg);
	}
}

static void corrupt_copy(const char *from, const char *to, off_t at, long truncate_to)
{
	int in = open(from, O_RDONLY), o = open(to, O_RDWR | O_CREAT | O_TRUNC, 0644);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(o, buf, n) != n)
			break;
	close(in);
	if (truncate_to >= 0) {
		if (ftruncate(o, truncate_to)) {
		}
	} else {
		unsigned char b;
		if (pread(o, &b, 1, at) == 1) {
			b ^= 0x5a;
			if (pwrite(o, &b, 1, at) != 1) {
			}
		}
	}
	close(o);
}

static void test_corrupted(void)
{
	char exe[PATH_MAX], out[PATH_MAX], img[PATH_MAX], bad[PATH_MAX];
	snprintf(exe, sizeof(exe), "%s/threads", progs);
	snprintf(out, sizeof(out), "%s/corrupt.out", dir);
	snprintf(img, sizeof(img), "%s/corrupt.img", dir);
	snprintf(bad, sizeof(bad), "%s/bad.img", dir);
	char *argv[] = {exe, NULL};
	pid_t pid = launch(out, argv);
	EXPECT(pid > 0, "threads started");
	if (pid <= 0)
		return;
	EXPECT(cp(pid, img, CKPT_BACKEND_KERNEL, CKPT_AFTER_KILL, NULL) == 0, "%s", msg);
	waitpid(pid, NULL, 0);
	struct stat st;
	stat(img, &st);
	const off_t at[] = {3, 40, 300, 5000, st.st_size / 2, st.st_size - 20};
	for (size_t i = 0; i < sizeof(at) / sizeof(*at); i++) {
		corrupt_copy(img, bad, at[i], -1);
		struct ckpt_restart_result rr;
		msg[0] = '\0';
		int rc = rs(bad, &rr);
		EXPECT(rc < 0 && strlen(msg) > 10 && !strstr(msg, "restore helper"),
		       "byte %lld flipped: %d %s", (long long)at[i], rc, msg);
		printf("kernel_dump: byte %lld flipped: %s\n", (long long)at[i], msg);
		EXPECT(kill(pid, 0) < 0, "nothing restored (byte %lld)", (long long)at[i]);
		if (rc == 0) {
			kill(rr.pid, SIGKILL);
			ckpt_wait(rr.waiter_pid, msg, sizeof(msg));
		}
	}
	corrupt_copy(img, bad, 0, st.st_size / 3);
	struct ckpt_restart_result rr;
	int rc = rs(bad, &rr);
	EXPECT(rc < 0 && strlen(msg) > 10 && !strstr(msg, "restore helper"), "truncated: %d %s", rc,
	       msg);
	printf("kernel_dump: a truncated image: %s\n", msg);
}

static void test_new_ioctls(void)
{
	info->ready = 0;
	pid_t pid = spawn_rich();
	for (int i = 0; i < 500 && !info->ready; i++)
		msleep(10);
	int fd = open(CKPT_KERNEL_DEV, O_RDWR);
	EXPECT(fd >= 0, "open %s", CKPT_KERNEL_DEV);
	static unsigned char recs[CKPT_MAX_PENDING][CKPT_SIGINFO_SIZE];
	struct ckpt_pending_args pa = {
		.size = sizeof(pa), .count = CKPT_MAX_PENDING, .siginfo = (uintptr_t)recs};
	struct ckpt_proc_args pr = {.size = sizeof(pr)};
	EXPECT(ioctl(fd, CKPT_IOC_GET_PENDING, &pa) < 0 && errno == ENOENT, "pending, no freeze");
	EXPECT(ioctl(fd, CKPT_IOC_GET_PROC, &pr) < 0 && errno == ENOENT, "proc, no freeze");
	struct ckpt_freeze_args fa = {.size = sizeof(fa), .pid = (uint32_t)pid};
	EXPECT(ioctl(fd, CKPT_IOC_FREEZE, &fa) == 0, "freeze: %s", strerror(errno));
	pa.index = 7;
	EXPECT(ioctl(fd, CKPT_IOC_GET_PENDING, &pa) < 0 && errno == EINVAL, "bad index");
	pa.index = CKPT_PENDING_SHARED;
	pa.lost = 1;
	EXPECT(ioctl(fd, CKPT_IOC_GET_PENDING, &pa) < 0 && errno == EINVAL, "output field set");
	pa.lost = 0;
	pa.count = 1;
	EXPECT(ioctl(fd, CKPT_IOC_GET_PENDING, &pa) < 0 && errno == ENOSPC && pa.count == 3,
	       "ENOSPC with the count (%u)", pa.count);
	pa.count = CKPT_MAX_PENDING;
	pa.siginfo = 16;
	EXPECT(ioctl(fd, CKPT_IOC_GET_PENDING, &pa) < 0 && errno == EFAULT, "bad pointer");
	EXPECT(ioctl(fd, CKPT_IOC_GET_PENDING, (void *)8) < 0 && errno == EFAULT, "bad args");
	pa.siginfo = (uintptr_t)recs;
	pa.size = 4;
	EXPECT(ioctl(fd, CKPT_IOC_GET_PENDING, &pa) < 0 && errno == EINVAL, "small size");
	pa.size = sizeof(pa);
	EXPECT(ioctl(fd, CKPT_IOC_GET_PENDING, &pa) == 0 && pa.count == 3, "shared: %u", pa.count);
	pa.index = 0;
	EXPECT(ioctl(fd, CKPT_IOC_GET_PENDING, &pa) == 0 && pa.count == 1, "thread: %u", pa.count);
	pr.brk = 1;
	EXPECT(ioctl(fd, CKPT_IOC_GET_PROC, &pr) < 0 && errno == EINVAL, "proc output set");
	memset(&pr, 0, sizeof(pr));
	pr.size = sizeof(pr);
	EXPECT(ioctl(fd, CKPT_IOC_GET_PROC, &pr) == 0 && pr.brk == info->brk &&
		       pr.itimer_real_interval_ns == 5000000000ull,
	       "proc: brk %llx", (unsigned long long)pr.brk);
	EXPECT(ioctl(fd, CKPT_IOC_GET_PROC, (void *)8) < 0 && errno == EFAULT, "bad proc args");
	close(fd);
	char s = 0;
	for (int i = 0; i < 100 && (s = state_of(pid)) != 'S'; i++)
		msleep(10);
	EXPECT(s == 'S', "thawed by close: back in pause() (%c)", s);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
	(void)argc;
	struct ckpt_err e;
	char why[256];
	ckpt_err_init(&e, why, sizeof(why));
	if (ckpt_kernel_probe(&e)) {
		if (getenv("CKPT_IN_VM")) {
			fprintf(stderr, "kernel_dump: FAIL: in the VM but %s\n", why);
			return 1;
		}
		printf("kernel_dump: skipped (%s)\n", why);
		return 0;
	}
	/* native/build/tests/kernel_dump_test -> native/build/progs, test/native/progs */
	char self[1536];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	(void)argv;
	*strrchr(self, '/') = '\0';
	snprintf(progs, sizeof(progs), "%s/../progs", self);
	snprintf(srcs, sizeof(srcs), "%s/../../../test/native/progs", self);
	char helper[2048];
	snprintf(helper, sizeof(helper), "%s/../ckpt-restore", self);
	if (!getenv("CKPT_RESTORE_HELPER"))
		setenv("CKPT_RESTORE_HELPER", helper, 1);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	info = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	signal(SIGPIPE, SIG_IGN);
	const char *only = getenv("CKPT_KDUMP_ONLY");
#define RUN(name, fn) \
	do { \
		if (!only || strstr(only, name)) { \
			fn(); \
			printf("kernel_dump: %s done (%d failures so far)\n", name, fails); \
		} \
	} while (0)
	RUN("ioctls", test_new_ioctls);
	RUN("same", test_same_as_user);
	RUN("auto", test_auto);
	RUN("acceptance", test_acceptance);
	RUN("cross", test_cross_engine);
	RUN("strace", test_under_strace);
	RUN("storm", test_checkpointer_killed);
	RUN("corrupt", test_corrupted);
	if (!fails)
		remove_tree(dir); /* kept for a look when something failed */
	printf("kernel_dump: %s\n", fails ? "FAIL" : "PASS");
	return fails ? 1 : 0;
}
