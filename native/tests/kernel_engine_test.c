// SPDX-License-Identifier: BSD-3-Clause
/*
 * The kernel engine (kmod/ckpt.ko through src/kernel_engine.c) against real
 * processes: bad ioctls are refused with the documented errno; a process with
 * threads spinning, sleeping and blocked in read() is frozen (its counters
 * stop) and thawed; every thread's registers and xstate equal what ptrace
 * reads from the same stop; a process under strace is frozen (ptrace could
 * not); the freezer SIGKILLed at random instants leaves the target running;
 * a job-control-stopped target gives ETIMEDOUT and runs on; a frozen target
 * dies of SIGKILL; syscall user dispatch is reported per thread. Needs
 * /dev/ckpt: on a host without it, it says skipped (scripts/vm/test runs it
 * in a guest, where a missing device fails).
 */
#include "err.h"
#include "kernel_engine.h"
#include "ptrace.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../kmod/include/uapi/linux/ckpt.h"
#include "expect.h"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#endif

#define NR_SPIN 3
#define NR_CNT (NR_SPIN + 2) /* spinners, a sleeper, the leader's read loop */
#define ALT_SIZE 65536

static volatile uint64_t *cnt; /* shared with the target */
static char msg[512];
static struct ckpt_err e;

static void *spin(void *arg)
{
	volatile uint64_t *c = arg;
	for (;;)
		(*c)++;
	return NULL;
}

static void *sleeper(void *arg)
{
	volatile uint64_t *c = arg;
	/* the alternate stack and mask this thread reports */
	static char alt[ALT_SIZE];
	stack_t ss = {.ss_sp = alt, .ss_size = sizeof(alt)};
	sigaltstack(&ss, NULL);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	for (;;) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
		(*c)++;
	}
	return NULL;
}

static void on_usr1(int s, siginfo_t *si, void *u) { (void)s, (void)si, (void)u; }

static pid_t spawn_target(void)
{
	memset((void *)cnt, 0, NR_CNT * sizeof(*cnt));
	pid_t pid = fork();
	if (pid)
		return pid;
	struct sigaction sa = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO | SA_RESTART};
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGUSR1, &sa, NULL);
	pthread_t t;
	for (int i = 0; i < NR_SPIN; i++)
		pthread_create(&t, NULL, spin, (void *)&cnt[i]);
	pthread_create(&t, NULL, sleeper, (void *)&cnt[NR_SPIN]);
	int p[2];
	if (pipe(p))
		_exit(1);
	for (;;) { /* blocked in read() with a 1 ms timeout through alarm-free poll */
		fd_set fds;
		FD_ZERO(&fds);
		FD_SET(p[0], &fds);
		struct timeval tv = {0, 2000};
		select(p[0] + 1, &fds, NULL, NULL, &tv);
		cnt[NR_SPIN + 1]++;
	}
}

static void snap(uint64_t *out)
{
	for (int i = 0; i < NR_CNT; i++)
		out[i] = cnt[i];
}

/* Every counter moved during ms milliseconds (1), none did (0), or mixed (-1). */
static int moving(int ms)
{
	uint64_t a[NR_CNT], b[NR_CNT];
	snap(a);
	usleep(ms * 1000);
	snap(b);
	int moved = 0;
	for (int i = 0; i < NR_CNT; i++)
		moved += a[i] != b[i];
	return moved == NR_CNT ? 1 : moved == 0 ? 0 : -1;
}

static int wait_running(void)
{
	for (int i = 0; i < 500; i++) {
		if (moving(10) == 1)
			return 1;
	}
	return 0;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_bad_ioctls(pid_t target)
{
	int fd = open(CKPT_KERNEL_DEV, O_RDWR);
	EXPECT(fd >= 0, "open: %s", strerror(errno));
	EXPECT(ioctl(fd, CKPT_IOC_VERSION) == CKPT_UAPI_VERSION, "version");
	EXPECT(ioctl(fd, _IO(CKPT_IOC_MAGIC, 99)) < 0 && errno == ENOTTY, "unknown: %d", errno);
	EXPECT(ioctl(fd, _IOWR('x', 1, int)) < 0 && errno == ENOTTY, "other magic: %d", errno);
	EXPECT(ioctl(fd, _IOR(CKPT_IOC_MAGIC, 0, int)) < 0 && errno == ENOTTY,
	       "VERSION with a size: %d", errno);
	EXPECT(ioctl(fd, _IOWR(CKPT_IOC_MAGIC, 4, int)) < 0 && errno == ENOTTY,
	       "THAW with a size: %d", errno);
	EXPECT(ioctl(fd, CKPT_IOC_FREEZE, NULL) < 0 && errno == EFAULT, "NULL: %d", errno);
	EXPECT(ioctl(fd, CKPT_IOC_FREEZE, (void *)8) < 0 && errno == EFAULT, "bad ptr: %d", errno);
	struct ckpt_freeze_args f = {.size = 0, .pid = (uint32_t)target};
	EXPECT(ioctl(fd, CKPT_IOC_FREEZE, &f) < 0 && errno == EINVAL, "size 0: %d", errno);
	f.size = 1 << 20;
	EXPECT(ioctl(fd, CKPT_IOC_FREEZE, &f) < 0 && errno == EINVAL, "size 1M: %d", errno);
	/* a bigger struct whose extra bytes are not zero: unknown fields refused */
	struct {
		struct ckpt_freeze_args a;
		uint64_t extra;
	} big = {.a = {.size = sizeof(big), .pid = (uint32_t)target}, .extra = 1};
	EXPECT(ioctl(fd, CKPT_IOC_FREEZE, &big) < 0 && errno == EINVAL, "extra: %d", errno);
	f = (struct ckpt_freeze_args){.size = sizeof(f), .flags = 1, .pid = (uint32_t)target};
	EXPECT(ioctl(fd, CKPT_IOC_FREEZE, &f) < 0 && errno == EINVAL, "flags: %d", errno);
	f = (struct ckpt_freeze_args){.size = sizeof(f), .pid = (uint32_t)getpid()};
	EXPECT(ioctl(fd, CKPT_IOC_FREEZE, &f) < 0 && errno == EINVAL, "self: %d", errno);
	f = (struct ckpt_freeze_args){.size = sizeof(f), .pid = 0x3fffff};
	EXPECT(ioctl(fd, CKPT_IOC_FREEZE, &f) < 0 && errno == ESRCH, "no pid: %d", errno);
	f = (struct ckpt_freeze_args){.size = sizeof(f), .pid = 2}; /* kthreadd */
	EXPECT(ioctl(fd, CKPT_IOC_FREEZE, &f) < 0 && errno == EPERM, "kthread: %d", errno);
	struct ckpt_thread_args t = {.size = sizeof(t)};
	EXPECT(ioctl(fd, CKPT_IOC_GET_THREAD, &t) < 0 && errno == ENOENT, "no freeze: %d", errno);
	EXPECT(ioctl(fd, CKPT_IOC_THAW) < 0 && errno == ENOENT, "thaw none: %d", errno);

	f = (struct ckpt_freeze_args){.size = sizeof(f), .pid = (uint32_t)target};
	EXPECT(ioctl(fd, CKPT_IOC_FREEZE, &f) == 0, "freeze: %d", errno);
	EXPECT(ioctl(fd, CKPT_IOC_FREEZE, &f) < 0 && errno == EINVAL, "dirty out fields: %d",
	       errno);
	uint32_t xsz = f.xstate_size;
	f.nr_threads = f.xstate_size = 0;
	EXPECT(ioctl(fd, CKPT_IOC_FREEZE, &f) < 0 && errno == EBUSY, "second: %d", errno);
	t = (struct ckpt_thread_args){.size = sizeof(t), .index = 1000};
	EXPECT(ioctl(fd, CKPT_IOC_GET_THREAD, &t) < 0 && errno == EINVAL, "index: %d", errno);
	t = (struct ckpt_thread_args){.size = sizeof(t), .xstate_size = 64};
	EXPECT(ioctl(fd, CKPT_IOC_GET_THREAD, &t) < 0 && errno == ENOSPC, "small: %d", errno);
	EXPECT(t.xstate_size == xsz, "needed %u, reported %u", t.xstate_size, xsz);
	t = (struct ckpt_thread_args){.size = sizeof(t), .xstate_size = xsz, .xstate = 0xdead0000};
	EXPECT(ioctl(fd, CKPT_IOC_GET_THREAD, &t) < 0 && errno == EFAULT, "bad xstate: %d",
	       errno);
	/* a caller built with an older header: GET_PROC's older numbers (_IOWR holds
	   sizeof: version 1, then with the prctl fields), with those sizes */
	for (uint32_t size = CKPT_PROC_ARGS_SIZE_VER1; size < sizeof(struct ckpt_proc_args);
	     size += 8) {
		struct ckpt_proc_args p = {.size = size};
		EXPECT(ioctl(fd, _IOC(_IOC_READ | _IOC_WRITE, CKPT_IOC_MAGIC, 6, size), &p) == 0,
		       "GET_PROC of size %u: %s", size, strerror(errno));
	}
	/* the direction still counts */
	t = (struct ckpt_thread_args){.size = sizeof(t), .xstate_size = xsz};
	EXPECT(ioctl(fd, _IOW(CKPT_IOC_MAGIC, 2, struct ckpt_thread_args), &t) < 0 &&
		       errno == ENOTTY,
	       "GET_THREAD as _IOW: %d", errno);
	struct ckpt_sigactions_args s = {.size = sizeof(s), .count = 10};
	EXPECT(ioctl(fd, CKPT_IOC_GET_SIGACTIONS, &s) < 0 && errno == EINVAL, "count: %d", errno);
	s.count = CKPT_NSIG;
	s.actions = 16;
	EXPECT(ioctl(fd, CKPT_IOC_GET_SIGACTIONS, &s) < 0 && errno == EFAULT, "actions: %d",
	       errno);
	EXPECT(ioctl(fd, CKPT_IOC_THAW) == 0, "thaw: %d", errno);
	EXPECT(wait_running(), "runs after thaw");
	close(fd);
}

/* Frozen: counters stop; thread records; sigactions; thawed: they move. */
static void test_freeze_state(pid_t target)
{
	struct ckpt_kfreeze kf;
	EXPECT(ckpt_kernel_freeze(&kf, target, 0, &e) == 0, "freeze: %s", msg);
	EXPECT(moving(50) == 0, "counters still move while frozen");
	EXPECT(kf.nr_threads == NR_SPIN + 2, "%u threads", kf.nr_threads);
	EXPECT(kf.xstate_size >= 576, "xstate %u bytes", kf.xstate_size);
	unsigned char *xs = malloc(kf.xstate_size);
	int leaders = 0, sleepers = 0;
	for (uint32_t i = 0; i < kf.nr_threads; i++) {
		struct ckpt_img_thread it;
		EXPECT(ckpt_kernel_thread(&kf, i, &it, xs, NULL, NULL, &e) == 0, "thread %u: %s", i,
		       msg);
		leaders += !!(it.flags & CKPT_THR_F_LEADER);
		EXPECT(it.xstate_size == kf.xstate_size, "xstate_size %u", it.xstate_size);
		EXPECT(it.rseq_abi_pointer != 0, "glibc registers rseq in every thread");
		char path[64], line[256];
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", target, it.tid);
		FILE *f = fopen(path, "r");
		EXPECT(f != NULL, "%s: tid from the module is no thread of the target", path);
		unsigned long long blk = ~0ULL;
		while (f && fgets(line, sizeof(line), f))
			sscanf(line, "SigBlk: %llx", &blk);
		if (f)
			fclose(f);
		EXPECT(blk == it.sigmask, "tid %d sigmask %llx vs SigBlk %llx", it.tid,
		       (unsigned long long)it.sigmask, blk);
		if (it.altstack_size) {
			sleepers++;
			EXPECT(it.altstack_size == ALT_SIZE && it.altstack_sp,
			       "altstack %llx+%llu", (unsigned long long)it.altstack_sp,
			       (unsigned long long)it.altstack_size);
			EXPECT(it.sigmask == 1ULL << (SIGUSR2 - 1), "sleeper mask %llx",
			       (unsigned long long)it.sigmask);
		}
	}
	EXPECT(leaders == 1 && sleepers == 1, "%d leaders, %d with an altstack", leaders,
	       sleepers);
	struct ckpt_img_sigaction sa[CKPT_NSIG];
	EXPECT(ckpt_kernel_sigactions(&kf, sa, &e) == 0, "sigactions: %s", msg);
	struct ckpt_img_sigaction *u1 = &sa[SIGUSR1 - 1];
	EXPECT(u1->handler == (uint64_t)(uintptr_t)on_usr1, "SIGUSR1 handler %llx",
	       (unsigned long long)u1->handler);
	EXPECT((u1->flags & (SA_SIGINFO | SA_RESTART)) == (SA_SIGINFO | SA_RESTART) &&
		       u1->restorer && u1->mask == 1ULL << (SIGUSR2 - 1),
	       "SIGUSR1 flags %llx mask %llx", (unsigned long long)u1->flags,
	       (unsigned long long)u1->mask);
	EXPECT(sa[SIGUSR2 - 1].handler == 0, "SIGUSR2 is SIG_DFL");
	ckpt_kernel_thaw(&kf);
	EXPECT(wait_running(), "runs after thaw");
	free(xs);
}

/* The module's records equal ptrace's view of the very same stop. */
static void test_same_as_ptrace(pid_t target)
{
	struct ckpt_kfreeze kf;
	EXPECT(ckpt_kernel_freeze(&kf, target, 0, &e) == 0, "freeze: %s", msg);
	uint32_t n = kf.nr_threads;
	struct ckpt_img_thread *it = calloc(n, sizeof(*it));
	unsigned char *xs = calloc(n, kf.xstate_size), *px = calloc(1, kf.xstate_size);
	for (uint32_t i = 0; i < n; i++) {
		EXPECT(ckpt_kernel_thread(&kf, i, &it[i], xs + (size_t)i * kf.xstate_size, NULL,
					  NULL, &e) == 0,
		       "thread %u: %s", i, msg);
		EXPECT(ptrace(PTRACE_SEIZE, it[i].tid, 0, 0) == 0, "seize %d: %s", it[i].tid,
		       strerror(errno));
		EXPECT(ptrace(PTRACE_INTERRUPT, it[i].tid, 0, 0) == 0, "interrupt");
	}
	/* the interrupt stops each thread as soon as it leaves the freeze */
	ckpt_kernel_thaw(&kf);
	for (uint32_t i = 0; i < n; i++) {
		int st;
		EXPECT(ckpt_wait_stopped(it[i].tid, &st, &e) == 0, "wait %d: %s", it[i].tid, msg);
		struct user_regs_struct r;
		EXPECT(ckpt_getregs(it[i].tid, &r, &e) == 0, "getregs: %s", msg);
		ckpt_regs_fixup_restart(&r, 1);
		EXPECT(memcmp(&r, &it[i].regs, sizeof(r)) == 0,
		       "tid %d registers differ: rip %llx/%llx rax %llx/%llx", it[i].tid, r.rip,
		       (unsigned long long)it[i].regs.rip, r.rax, (unsigned long long)it[i].regs.rax);
		struct iovec iov = {px, kf.xstate_size};
		EXPECT(ptrace(PTRACE_GETREGSET, it[i].tid, NT_X86_XSTATE, &iov) == 0 &&
			       iov.iov_len == kf.xstate_size,
		       "getregset: %s (%zu bytes)", strerror(errno), iov.iov_len);
		EXPECT(memcmp(px, xs + (size_t)i * kf.xstate_size, kf.xstate_size) == 0,
		       "tid %d xstate differs", it[i].tid);
	}
	for (uint32_t i = 0; i < n; i++)
		ptrace(PTRACE_DETACH, it[i].tid, 0, 0);
	EXPECT(wait_running(), "runs after detach");
	free(it), free(xs), free(px);
}

static int traced(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	int tracer = 0;
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "TracerPid: %d", &tracer);
	if (f)
		fclose(f);
	return tracer;
}

static void test_under_strace(pid_t target)
{
	if (access("/usr/bin/strace", X_OK)) {
		fprintf(stderr, "kernel_engine_test: strace missing (scripts/setup installs it)\n");
		fails++;
		return;
	}
	pid_t st = fork();
	if (st == 0) {
		char p[16];
		snprintf(p, sizeof(p), "%d", target);
		execl("/usr/bin/strace", "strace", "-f", "-qq", "-o", "/dev/null", "-p", p, NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && traced(target) != st; i++)
		usleep(10000);
	EXPECT(traced(target) == st, "strace did not attach");
	EXPECT(ptrace(PTRACE_SEIZE, target, 0, 0) < 0 && errno == EPERM,
	       "ptrace of a traced process: %s", strerror(errno));
	EXPECT(wait_running(), "runs under strace");
	struct ckpt_kfreeze kf;
	EXPECT(ckpt_kernel_freeze(&kf, target, 5000, &e) == 0, "freeze under strace: %s", msg);
	EXPECT(moving(50) == 0, "counters move while frozen under strace");
	ckpt_kernel_thaw(&kf);
	EXPECT(wait_running(), "runs after thaw under strace");
	kill(st, SIGTERM);
	waitpid(st, NULL, 0);
	EXPECT(kill(target, 0) == 0 && wait_running(), "target survives strace's detach");
}

/* A freezer killed anywhere: before, during or after the freeze. */
static void test_freezer_killed(pid_t target)
{
	srand((unsigned)time(NULL));
	for (int round = 0; round < 25; round++) {
		pid_t fr = fork();
		if (fr == 0) {
			for (;;) {
				struct ckpt_kfreeze kf;
				if (ckpt_kernel_freeze(&kf, target, 0, &e) == 0) {
					struct ckpt_img_thread it;
					unsigned char *xs = malloc(kf.xstate_size);
					for (uint32_t i = 0; xs && i < kf.nr_threads; i++)
						ckpt_kernel_thread(&kf, i, &it, xs, NULL, NULL, &e);
					free(xs);
					ckpt_kernel_thaw(&kf);
				}
			}
		}
		usleep(rand() % 20000);
		kill(fr, SIGKILL);
		waitpid(fr, NULL, 0);
		EXPECT(wait_running(), "round %d: target stuck after its freezer died", round);
	}
}

static void test_stopped_target(pid_t target)
{
	kill(target, SIGSTOP);
	int still = 0;
	for (int i = 0; i < 100 && !still; i++)
		still = moving(20) == 0;
	EXPECT(still, "SIGSTOP did not stop the target");
	struct ckpt_kfreeze kf;
	int rc = ckpt_kernel_freeze(&kf, target, 300, &e);
	EXPECT(rc == -ETIMEDOUT, "freeze of a stopped process: %d %s", rc, msg);
	kill(target, SIGCONT);
	EXPECT(wait_running(), "runs after SIGCONT");
}

/*
 * Syscall user dispatch, per thread (GET_THREAD's appended fields): a target
 * whose second thread alone turned it on (selector at ALLOW, so that its own
 * syscalls go through). The module reports it on for that thread with its
 * selector and region, off for the leader; a caller of version 1's size gets
 * nothing past rseq; a non-zero appended output is EINVAL.
 */
static volatile char sud_selector;
static volatile int *sud_tid; /* shared: the thread that turned it on */
#define SUD_OFFSET 0x10000ul
#define SUD_LEN 0x3000ul

static void *sud_thread(void *arg)
{
	volatile uint64_t *c = arg;
	if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, SUD_OFFSET, SUD_LEN,
		  &sud_selector))
		_exit(3);
	*sud_tid = (int)syscall(SYS_gettid);
	for (;;) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
		(*c)++;
	}
	return NULL;
}

static void test_dispatch(void)
{
	memset((void *)cnt, 0, NR_CNT * sizeof(*cnt));
	sud_tid = (volatile int *)&cnt[NR_CNT];
	*sud_tid = 0;
	pid_t target = fork();
	if (target == 0) {
		pthread_t t;
		pthread_create(&t, NULL, sud_thread, (void *)&cnt[0]);
		for (;;) {
			usleep(1000);
			cnt[1]++;
		}
	}
	for (int i = 0; i < 500 && !(*sud_tid && cnt[0] && cnt[1]); i++)
		usleep(10000);
	EXPECT(*sud_tid && cnt[0] && cnt[1], "the dispatch target did not start (%d)", *sud_tid);
	struct ckpt_kfreeze kf;
	EXPECT(ckpt_kernel_freeze(&kf, target, 0, &e) == 0, "freeze: %s", msg);
	EXPECT(kf.nr_threads == 2, "%u threads", kf.nr_threads);
	unsigned char *xs = malloc(kf.xstate_size);
	int on = 0;
	for (uint32_t i = 0; i < kf.nr_threads; i++) {
		struct ckpt_img_thread it;
		struct ckpt_kdispatch sud;
		memset(&sud, 0xa5, sizeof(sud));
		EXPECT(ckpt_kernel_thread(&kf, i, &it, xs, &sud, NULL, &e) == 0, "thread %u: %s", i,
		       msg);
		EXPECT(sud.known, "tid %d: the module did not report syscall user dispatch", it.tid);
		if (it.tid == *sud_tid) {
			on++;
			EXPECT(sud.mode == PR_SYS_DISPATCH_ON &&
				       sud.selector == (uint64_t)(uintptr_t)&sud_selector &&
				       sud.offset == SUD_OFFSET && sud.len == SUD_LEN,
			       "tid %d: dispatch mode %u selector %llx (want %p) region %llx+%llx",
			       it.tid, sud.mode, (unsigned long long)sud.selector,
			       (void *)&sud_selector, (unsigned long long)sud.offset,
			       (unsigned long long)sud.len);
		} else {
			EXPECT(!sud.mode && !sud.selector && !sud.offset && !sud.len,
			       "tid %d never turned it on: mode %u selector %llx", it.tid, sud.mode,
			       (unsigned long long)sud.selector);
		}
	}
	EXPECT(on == 1, "%d threads with tid %d", on, *sud_tid);

	/* a caller built before the fields: version 1's size, in the struct and in
	   the request number (_IOWR holds sizeof); nothing past rseq written */
	int fd = kf.fd;
	unsigned long get_thread_v1 =
		_IOC(_IOC_READ | _IOC_WRITE, CKPT_IOC_MAGIC, 2, CKPT_THREAD_ARGS_SIZE_VER1);
	EXPECT(get_thread_v1 != CKPT_IOC_GET_THREAD, "the number did not change");
	for (int num = 0; num < 2; num++) {
		struct ckpt_thread_args a;
		memset(&a, 0x5a, sizeof(a));
		a.size = CKPT_THREAD_ARGS_SIZE_VER1;
		a.index = 0;
		a.xstate_size = kf.xstate_size;
		a.xstate = (uint64_t)(uintptr_t)xs;
		EXPECT(ioctl(fd, num ? CKPT_IOC_GET_THREAD : get_thread_v1, &a) == 0,
		       "version 1 size (%s number): %s", num ? "current" : "version 1",
		       strerror(errno));
		EXPECT(a.tid == (uint32_t)target || a.tid == (uint32_t)*sud_tid,
		       "version 1 tid %u", a.tid);
		const unsigned char *tail = (const unsigned char *)&a + CKPT_THREAD_ARGS_SIZE_VER1;
		int untouched = 1;
		for (size_t k = 0; k < sizeof(a) - CKPT_THREAD_ARGS_SIZE_VER1; k++)
			untouched &= tail[k] == 0x5a;
		EXPECT(untouched, "bytes past a version 1 struct were written");
	}
	struct ckpt_thread_args a = {.size = CKPT_THREAD_ARGS_SIZE_VER1 - 8};
	EXPECT(ioctl(fd, CKPT_IOC_GET_THREAD, &a) < 0 && errno == EINVAL, "short: %d", errno);
	/* the appended fields are outputs */
	a = (struct ckpt_thread_args){.size = sizeof(a), .xstate_size = kf.xstate_size,
				      .xstate = (uint64_t)(uintptr_t)xs, .flags = 1};
	EXPECT(ioctl(fd, CKPT_IOC_GET_THREAD, &a) < 0 && errno == EINVAL, "flags in: %d", errno);
	a = (struct ckpt_thread_args){.size = sizeof(a), .xstate_size = kf.xstate_size,
				      .xstate = (uint64_t)(uintptr_t)xs, .dispatch_len = 1};
	EXPECT(ioctl(fd, CKPT_IOC_GET_THREAD, &a) < 0 && errno == EINVAL, "dispatch in: %d",
	       errno);
	ckpt_kernel_thaw(&kf);
	uint64_t c0 = cnt[0];
	for (int i = 0; i < 500 && cnt[0] == c0; i++)
		usleep(10000);
	EXPECT(cnt[0] != c0, "the dispatch thread does not run after the thaw");
	reap(target);
	free(xs);
}

/*
 * Per-thread prctl values (GET_THREAD's second appended group,
 * CKPT_THREAD_PRCTL): a target whose second thread alone set keepcaps,
 * PR_MCE_KILL early and PR_TSC_SIGSEGV (it makes no vDSO call after: rdtsc
 * would fault) and whose leader set PR_MCE_KILL late. The module reports each
 * thread's own values; a caller of version 2's size (up to the dispatch) gets
 * nothing past it and no CKPT_THREAD_PRCTL; a non-zero value in is EINVAL.
 */
static volatile int *tp_tid; /* shared: the thread that set them */

static void *tp_thread(void *arg)
{
	volatile uint64_t *c = arg;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) ||
	    prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0) ||
	    prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0))
		_exit(3);
	*tp_tid = (int)syscall(SYS_gettid);
	for (;;) {
		struct timespec ts = {0, 1000000};
		syscall(SYS_nanosleep, &ts, NULL);
		(*c)++;
	}
	return NULL;
}

static void test_tprctl(void)
{
	memset((void *)cnt, 0, NR_CNT * sizeof(*cnt));
	tp_tid = (volatile int *)&cnt[NR_CNT];
	*tp_tid = 0;
	pid_t target = fork();
	if (target == 0) {
		if (prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_LATE, 0, 0))
			_exit(3);
		pthread_t t;
		pthread_create(&t, NULL, tp_thread, (void *)&cnt[0]);
		for (;;) {
			usleep(1000);
			cnt[1]++;
		}
	}
	for (int i = 0; i < 500 && !(*tp_tid && cnt[0] && cnt[1]); i++)
		usleep(10000);
	EXPECT(*tp_tid && cnt[0] && cnt[1], "the prctl target did not start (%d)", *tp_tid);
	struct ckpt_kfreeze kf;
	EXPECT(ckpt_kernel_freeze(&kf, target, 0, &e) == 0, "freeze: %s", msg);
	EXPECT(kf.nr_threads == 2, "%u threads", kf.nr_threads);
	unsigned char *xs = malloc(kf.xstate_size);
	int set = 0;
	for (uint32_t i = 0; i < kf.nr_threads; i++) {
		struct ckpt_img_thread it;
		struct ckpt_ktprctl tp;
		memset(&tp, 0xa5, sizeof(tp));
		EXPECT(ckpt_kernel_thread(&kf, i, &it, xs, NULL, &tp, &e) == 0, "thread %u: %s",
		       i, msg);
		EXPECT(tp.known, "tid %d: the module did not report the prctl values", it.tid);
		if (it.tid == *tp_tid) {
			set++;
			EXPECT(tp.securebits == (1u << 4) && tp.mce_kill == PR_MCE_KILL_EARLY &&
				       tp.tsc == PR_TSC_SIGSEGV,
			       "tid %d: securebits %#x mce_kill %u tsc %u (want 0x10 1 2)", it.tid,
			       tp.securebits, tp.mce_kill, tp.tsc);
		} else {
			EXPECT(it.tid == target && !tp.securebits &&
				       tp.mce_kill == PR_MCE_KILL_LATE && tp.tsc == PR_TSC_ENABLE,
			       "leader %d: securebits %#x mce_kill %u tsc %u (want 0 0 1)", it.tid,
			       tp.securebits, tp.mce_kill, tp.tsc);
		}
	}
	EXPECT(set == 1, "%d threads with tid %d", set, *tp_tid);

	/* a caller built before them: version 2's size, nothing past dispatch_len */
	int fd = kf.fd;
	unsigned long get_thread_v2 =
		_IOC(_IOC_READ | _IOC_WRITE, CKPT_IOC_MAGIC, 2, CKPT_THREAD_ARGS_SIZE_VER2);
	for (uint32_t i = 0; i < kf.nr_threads; i++) {
		struct ckpt_thread_args a;
		memset(&a, 0x5a, sizeof(a));
		a.size = CKPT_THREAD_ARGS_SIZE_VER2;
		a.index = i;
		a.xstate_size = kf.xstate_size;
		a.xstate = (uint64_t)(uintptr_t)xs;
		memset((unsigned char *)&a + CKPT_THREAD_ARGS_SIZE_VER1, 0,
		       CKPT_THREAD_ARGS_SIZE_VER2 - CKPT_THREAD_ARGS_SIZE_VER1);
		EXPECT(ioctl(fd, get_thread_v2, &a) == 0, "version 2 size: %s", strerror(errno));
		EXPECT(a.flags == CKPT_THREAD_DISPATCH, "version 2 flags %#x", a.flags);
		const unsigned char *tail = (const unsigned char *)&a + CKPT_THREAD_ARGS_SIZE_VER2;
		int untouched = 1;
		for (size_t k = 0; k < sizeof(a) - CKPT_THREAD_ARGS_SIZE_VER2; k++)
			untouched &= tail[k] == 0x5a;
		EXPECT(untouched, "bytes past a version 2 struct were written");
	}
	struct ckpt_thread_args a = {.size = sizeof(a), .xstate_size = kf.xstate_size,
				     .xstate = (uint64_t)(uintptr_t)xs, .securebits = 1};
	EXPECT(ioctl(fd, CKPT_IOC_GET_THREAD, &a) < 0 && errno == EINVAL, "securebits in: %d",
	       errno);
	a = (struct ckpt_thread_args){.size = sizeof(a), .xstate_size = kf.xstate_size,
				      .xstate = (uint64_t)(uintptr_t)xs, .__pad = 1};
	EXPECT(ioctl(fd, CKPT_IOC_GET_THREAD, &a) < 0 && errno == EINVAL, "pad in: %d", errno);
	ckpt_kernel_thaw(&kf);
	uint64_t c0 = cnt[0];
	for (int i = 0; i < 500 && cnt[0] == c0; i++)
		usleep(10000);
	EXPECT(cnt[0] != c0, "the prctl thread does not run after the thaw");
	reap(target);
	free(xs);
}

static void test_kill_frozen(pid_t target)
{
	struct ckpt_kfreeze kf;
	EXPECT(ckpt_kernel_freeze(&kf, target, 0, &e) == 0, "freeze: %s", msg);
	kill(target, SIGKILL);
	int st = 0;
	pid_t w = 0;
	for (int i = 0; i < 300 && w == 0; i++) {
		w = waitpid(target, &st, WNOHANG);
		if (!w)
			usleep(10000);
	}
	EXPECT(w == target && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	       "frozen target did not die of SIGKILL");
	ckpt_kernel_thaw(&kf);
}

int main(void)
{
	ckpt_err_init(&e, msg, sizeof(msg));
	if (access(CKPT_KERNEL_DEV, F_OK)) {
		if (getenv("CKPT_IN_VM")) {
			fprintf(stderr, "kernel_engine_test: %s missing in the VM\n", CKPT_KERNEL_DEV);
			return 1;
		}
		printf("kernel_engine_test: skipped: no %s here (scripts/vm/test runs it)\n",
		       CKPT_KERNEL_DEV);
		return 0;
	}
	EXPECT(ckpt_kernel_probe(&e) == 0, "probe: %s", msg);
	cnt = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t t = spawn_target();
	EXPECT(wait_running(), "target never ran");
	test_bad_ioctls(t);
	test_freeze_state(t);
	test_same_as_ptrace(t);
	test_under_strace(t);
	test_freezer_killed(t);
	test_stopped_target(t);
	test_kill_frozen(t);
	reap(t);
	test_dispatch();
	test_tprctl();
	printf("kernel_engine_test: %s\n", fails ? "FAILED" : "ok");
	return fails ? 1 : 0;
}
