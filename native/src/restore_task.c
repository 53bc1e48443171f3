// SPDX-License-Identifier: BSD-3-Clause
/*
 * Process and thread state of the restored process, by injected syscalls
 * (all run inside the target, so they act on the right task): name, signal
 * handlers, interval timers, rlimits, extra threads with their TIDs
 * (clone3 with set_tid in the leader), per-thread clear-tid/robust list/
 * rseq/altstack, pending signals, credentials; then masks, registers and
 * xstate through ptrace, and detach.
 *
 * Signals stay fully blocked in every thread until its recorded mask is set
 * right before detach, so re-queued pending signals are not delivered to a
 * half-built process.
 */
#include "ckpt.h"
#include "ptrace.h"
#include "restore.h"
#include "cpu.h"

#define ARCH_REQ_XCOMP_PERM_ 0x1023
#define XFEATURE_XTILEDATA_ 18

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

static int block_all(struct rs_ctx *c, pid_t tid)
{
	uint64_t all = ~0ull;
	if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(all), &all) < 0)
		return ckpt_fail_errno(c->e, errno, "ptrace setsigmask %d", tid);
	return 0;
}

int rs_restore_process_state(struct rs_ctx *c)
{
	const struct ckpt_img_proc *p = c->proc;
	int rc = block_all(c, c->pid);
	if (rc)
		return rc;
	char comm[17];
	memcpy(comm, p->comm, 16);
	comm[16] = '\0';
	rc = rs_write_mem(c, c->scratch, comm, sizeof(comm));
	if (!rc)
		rc = rs_sys(c, c->pid, "prctl(PR_SET_NAME)", 1, NULL, SYS_prctl, PR_SET_NAME,
			    (long)c->scratch, 0, 0, 0, 0);
	/* the child set PR_SET_PDEATHSIG for its setup; the restored process
	   must outlive its waiter like any process outlives its parent */
	if (!rc)
		rc = rs_sys(c, c->pid, "prctl(PR_SET_PDEATHSIG)", 1, NULL, SYS_prctl,
			    PR_SET_PDEATHSIG, 0, 0, 0, 0, 0);
	if (!rc && p->thp_disable)
		rs_sys(c, c->pid, "prctl(PR_SET_THP_DISABLE)", 0, NULL, SYS_prctl,
		       PR_SET_THP_DISABLE, 1, 0, 0, 0, 0);
	/* all handlers at once into scratch, one rt_sigaction each */
	if (!rc)
		rc = rs_write_mem(c, c->scratch, p->sigactions, sizeof(p->sigactions));
	for (int sig = 1; sig <= CKPT_NSIG && !rc; sig++) {
		const struct ckpt_img_sigaction *a = &p->sigactions[sig - 1];
		if (sig == SIGKILL || sig == SIGSTOP || (!a->handler && !a->flags && !a->mask))
			continue;
		char what[40];
		snprintf(what, sizeof(what), "rt_sigaction(%d)", sig);
		rc = rs_sys(c, c->pid, what, 1, NULL, SYS_rt_sigaction, sig,
			    (long)(c->scratch + (sig - 1) * sizeof(*a)), 0, 8, 0, 0);
	}
	for (int which = 0; which < 3 && !rc; which++) {
		const struct ckpt_img_itimer *t = &p->itimers[which];
		if (!t->value_sec && !t->value_usec)
			continue;
		struct itimerval v = {{(time_t)t->interval_sec, (suseconds_t)t->interval_usec},
				      {(time_t)t->value_sec, (suseconds_t)t->value_usec}};
		rc = rs_write_mem(c, c->scratch, &v, sizeof(v));
		if (!rc)
			rc = rs_sys(c, c->pid, "setitimer", 1, NULL, SYS_setitimer, which,
				    (long)c->scratch, 0, 0, 0, 0);
	}
	if (rc)
		return rc;
	/* rlimits from outside; a hard limit above ours needs CAP_SYS_RESOURCE */
	for (int r = 0; r < CKPT_RLIM_NLIMITS && r < RLIM_NLIMITS; r++) {
		struct rlimit want = {p->rlimits[r].cur, p->rlimits[r].max}, have;
		if (prlimit(c->pid, r, NULL, &have) < 0 ||
		    (have.rlim_cur == want.rlim_cur && have.rlim_max == want.rlim_max))
			continue;
		if (prlimit(c->pid, r, &want, NULL) == 0)
			continue;
		if (want.rlim_max > have.rlim_max) {
			want.rlim_max = have.rlim_max;
			if (want.rlim_cur > want.rlim_max)
				want.rlim_cur = want.rlim_max;
			rs_warn(c, "rlimit %d: hard limit %llu kept at %llu (no CAP_SYS_RESOURCE)",
				r, (unsigned long long)p->rlimits[r].max,
				(unsigned long long)have.rlim_max);
			prlimit(c->pid, r, &want, NULL);
		}
	}
	return 0;
}

static int create_thread(struct rs_ctx *c, struct rs_thread *t)
{
	struct clone_args ca;
	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
		   CLONE_SYSVSEM;
	pid_t want = t->t->tid;
	int kpid = !(c->flags & CKPT_RS_NO_RESTORE_PID) && rs_kpid_active();
	if (!kpid && !(c->flags & CKPT_RS_NO_RESTORE_PID)) {
		ca.set_tid = c->scratch + 256;
		ca.set_tid_size = 1;
	}
	int rc = rs_write_mem(c, c->scratch + 256, &want, sizeof(want));
	if (!rc)
		rc = rs_write_mem(c, c->scratch, &ca, sizeof(ca));
	long tid = 0;
	if (!rc && kpid) {
		/* ckpt.ko: the next id is the thread's, right before the clone */
		int k = rs_kpid_next_pid(want);
		if (k)
			return ckpt_fail_errno(c->e, -k, "ckpt.ko: thread id %d of pid %d", want,
					       c->pid);
	}
	if (!rc)
		rc = rs_sys(c, c->pid, "clone3 thread", 0, &tid, SYS_clone3, (long)c->scratch,
			    CLONE_ARGS_SIZE_VER2, 0, 0, 0, 0);
	if (rc)
		return rc;
	if (tid == -EEXIST)
		return ckpt_fail(c->e, EBUSY,
				 "thread id %d is in use; restart with --no-restore-pid "
				 "(cr_restart --no-restore-pid) to take new ids",
				 want);
	if (tid < 0)
		return ckpt_fail_errno(c->e, (int)-tid, "clone3 of thread %d", want);
	t->tid = (pid_t)tid;
	if (kpid && tid != want)
		return ckpt_fail(c->e, EBUSY,
				 "thread id %d: another process's fork took it while it was being "
				 "restored (the thread got %ld); restart again",
				 want, tid);
	int st;
	rc = ckpt_wait_stopped(t->tid, &st, c->e);
	if (rc)
		return rc;
	if ((st >> 16) != PTRACE_EVENT_STOP && WSTOPSIG(st) != SIGSTOP)
		return ckpt_fail(c->e, EIO, "new thread %d: unexpected first stop 0x%x", t->tid,
				 st);
	return block_all(c, t->tid);
}

static int queue_signals(struct rs_ctx *c, pid_t tid, const struct ckpt_img_siginfo *si,
			 uint64_t n, int shared)
{
	for (uint64_t i = 0; i < n; i++) {
		int sig;
		memcpy(&sig, si[i].raw, sizeof(sig));
		if (sig < 1 || sig > CKPT_NSIG)
			continue;
		int rc = rs_write_mem(c, c->scratch, si[i].raw, sizeof(si[i].raw));
		if (!rc && shared)
			rc = rs_sys(c, tid, "rt_sigqueueinfo", 1, NULL, SYS_rt_sigqueueinfo, c->pid,
				    sig, (long)c->scratch, 0, 0, 0);
		else if (!rc)
			rc = rs_sys(c, tid, "rt_tgsigqueueinfo", 1, NULL, SYS_rt_tgsigqueueinfo,
				    c->pid, tid, sig, (long)c->scratch, 0, 0);
		if (rc)
			return rc;
	}
	return 0;
}

static int thread_state(struct rs_ctx *c, struct rs_thread *t)
{
	const struct ckpt_img_thread *it = t->t;
	int rc = rs_sys(c, t->tid, "set_tid_address", 0, NULL, SYS_set_tid_address,
			(long)it->clear_tid_address, 0, 0, 0, 0, 0);
	if (!rc)
		rc = rs_sys(c, t->tid, "set_robust_list", 1, NULL, SYS_set_robust_list,
			    (long)it->robust_list_head,
			    it->robust_list_len ? (long)it->robust_list_len : 24, 0, 0, 0, 0);
	if (!rc && it->rseq_abi_pointer)
		rc = rs_sys(c, t->tid, "rseq", 1, NULL, SYS_rseq, (long)it->rseq_abi_pointer,
			    it->rseq_abi_size, 0, it->rseq_signature, 0, 0);
	if (!rc && !(it->altstack_flags & SS_DISABLE) && it->altstack_size) {
		stack_t ss = {(void *)(uintptr_t)it->altstack_sp,
			      (int)(it->altstack_flags & ~(unsigned)SS_ONSTACK),
			      (size_t)it->altstack_size};
		rc = rs_write_mem(c, c->scratch, &ss, sizeof(ss));
		if (!rc)
			rc = rs_sys(c, t->tid, "sigaltstack", 1, NULL, SYS_sigaltstack,
				    (long)c->scratch, 0, 0, 0, 0, 0);
	}
	if (!rc)
		rc = queue_signals(c, t->tid, t->pending, it->pending_count, 0);
	return rc;
}

int rs_restore_threads(struct rs_ctx *c)
{
	c->threads[0].tid = c->pid;
	int rc = 0;
	for (uint32_t i = 1; i < c->nr_threads && !rc; i++)
		rc = create_thread(c, &c->threads[i]);
	for (uint32_t i = 0; i < c->nr_threads && !rc; i++)
		rc = thread_state(c, &c->threads[i]);
	if (!rc)
		rc = queue_signals(c, c->pid, c->shared_pending, c->proc->pending_shared_count, 1);
	return rc ? rc : rs_restore_attrs(c);
}

/* Does this process hold capability `cap` (CapEff of /proc/self/status)? */
static int has_cap(int cap)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long eff = 0;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7))
			eff = strtoull(line + 7, NULL, 16);
	if (f)
		fclose(f);
	return (eff >> cap) & 1;
}

/* The image's supplementary groups are exactly the restarter's own. */
static int same_groups(const struct ckpt_img_proc *p)
{
	gid_t own[CKPT_NGROUPS_MAX];
	int n = getgroups(CKPT_NGROUPS_MAX, own);
	uint32_t ng = p->ngroups < CKPT_NGROUPS_MAX ? p->ngroups : CKPT_NGROUPS_MAX;
	if (n < 0 || (uint32_t)n != ng)
		return 0;
	for (uint32_t i = 0; i < ng; i++) {
		int found = 0;
		for (int k = 0; k < n && !found; k++)
			found = own[k] == p->groups[i];
		if (!found)
			return 0;
	}
	return 1;
}

/* An id the restarter may take without privilege: one of its own. */
static int own_id(uint32_t id, uint32_t r, uint32_t e, uint32_t s)
{
	return id == r || id == e || id == s;
}

/*
 * A restart never gives credentials the restarter does not already have:
 * without CAP_SETUID/CAP_SETGID every uid and gid of the image must be one
 * of the restarter's and its groups must be the restarter's own (setgroups
 * is then skipped). Refused naming what differs.
 */
int rs_check_creds(struct rs_ctx *c)
{
	const struct ckpt_img_proc *p = c->proc;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	if (!has_cap(7 /* CAP_SETUID */)) {
		const uint32_t ids[4] = {p->uid, p->euid, p->suid, p->fsuid};
		for (int i = 0; i < 4; i++)
			if (!own_id(ids[i], ru, eu, su))
				return ckpt_fail(c->e, EPERM,
						 "the image's uid %u (real %u, effective %u, saved %u) "
						 "is not the restarting user's (%u); a restart never "
						 "gives credentials the caller does not have",
						 ids[i], p->uid, p->euid, p->suid, (unsigned)eu);
	}
	if (!has_cap(6 /* CAP_SETGID */)) {
		const uint32_t ids[4] = {p->gid, p->egid, p->sgid, p->fsgid};
		for (int i = 0; i < 4; i++)
			if (!own_id(ids[i], rg, eg, sg))
				return ckpt_fail(c->e, EPERM,
						 "the image's gid %u (real %u, effective %u, saved %u) "
						 "is not the restarting user's (%u); a restart never "
						 "gives credentials the caller does not have",
						 ids[i], p->gid, p->egid, p->sgid, (unsigned)eg);
		if (!same_groups(p))
			return ckpt_fail(c->e, EPERM,
					 "the image's %u supplementary groups are not the restarting "
					 "user's own; a restart never gives credentials the caller "
					 "does not have",
					 p->ngroups);
	}
	return rs_check_caps(c);
}

/* Raw set*id syscalls change only the calling thread: run them in each. */
static int thread_creds(struct rs_ctx *c, uint32_t i)
{
	pid_t tid = c->threads[i].tid;
	const struct ckpt_img_proc *p = c->proc;
	uint32_t ng = p->ngroups < CKPT_NGROUPS_MAX ? p->ngroups : CKPT_NGROUPS_MAX;
	int rc = 0;
	if (!same_groups(p)) /* unchanged: nothing to ask (and no privilege needed) */
		rc = rs_write_mem(c, c->scratch, p->groups, ng * sizeof(uint32_t) + 4);
	if (!rc && !same_groups(p))
		rc = rs_sys(c, tid, "setgroups", 1, NULL, SYS_setgroups, ng, (long)c->scratch, 0,
			    0, 0, 0);
	if (!rc)
		rc = rs_sys(c, tid, "setresgid", 1, NULL, SYS_setresgid, p->gid, p->egid, p->sgid,
			    0, 0, 0);
	if (!rc && p->fsgid != p->egid)
		rc = rs_sys(c, tid, "setfsgid", 0, NULL, SYS_setfsgid, p->fsgid, 0, 0, 0, 0, 0);
	/* the uid change must not clear the permitted set rs_restore_caps sets */
	if (!rc)
		rc = rs_caps_before_setuid(c, i);
	if (!rc)
		rc = rs_sys(c, tid, "setresuid", 1, NULL, SYS_setresuid, p->uid, p->euid, p->suid,
			    0, 0, 0);
	if (!rc && p->fsuid != p->euid)
		rc = rs_sys(c, tid, "setfsuid", 0, NULL, SYS_setfsuid, p->fsuid, 0, 0, 0, 0, 0);
	return rc;
}

/* Is there a 2-byte syscall instruction (syscall or int $0x80) at ip? */
static int syscall_insn_at(pid_t pid, uint64_t ip)
{
	char p[64];
	unsigned char b[2] = {0, 0};
	snprintf(p, sizeof(p), "/proc/%d/mem", pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = pread(fd, b, 2, (off_t)ip);
	close(fd);
	return n == 2 && ((b[0] == 0x0f && b[1] == 0x05) || (b[0] == 0xcd && b[1] == 0x80));
}

/*
 * A thread that was inside an interrupted syscall (pause, poll, read...) has
 * rip on the syscall instruction and rax = its number in the image. Rather
 * than let it re-execute that instruction in user mode after detach (a
 * signal arriving in between would run its handler and then the syscall
 * would start again: a lost wake-up for pause()-style waits), it is stepped
 * to the syscall-entry stop here, with every signal still blocked; detached
 * there, the kernel goes straight into the syscall, which sees a signal
 * sent right after the restart like any other.
 *
 * Not quite: PTRACE_DETACH wakes the thread with TIF_SIGPENDING set
 * (ptrace_signal_wake_up), so the call it enters returns at once with
 * -ERESTARTNOHAND, finds no signal, and is restarted from user mode. A
 * signal arriving in those few instructions (the thread preempted there,
 * seen once in 60-200 restarts on a loaded machine) still runs its handler
 * before the call starts again. The kernel has the same window after any
 * stop and continue; what we can do is not report the restart before the
 * window is over (rs_settle), so that whoever restarted the job and then
 * signals it cannot hit it.
 */
static int step_into_syscall(struct rs_ctx *c, pid_t tid, long nr)
{
	for (int i = 0; i < 16; i++) {
		if (ptrace(PTRACE_SYSCALL, tid, 0, 0) < 0)
			return ckpt_fail_errno(c->e, errno, "ptrace syscall %d", tid);
		int st;
		int rc = ckpt_wait_stopped(tid, &st, c->e);
		if (rc)
			return rc;
		if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			struct user_regs_struct r;
			if ((rc = ckpt_getregs(tid, &r, c->e)))
				return rc;
			if ((long)r.orig_rax != nr)
				return ckpt_fail(c->e, EPROTO,
						 "thread %d entered syscall %lld instead of %ld", tid,
						 (long long)r.orig_rax, nr);
			return 0;
		}
		if (!(st >> 16)) /* a signal-delivery stop: nothing can be pending here */
			return ckpt_fail(c->e, EPROTO, "thread %d stopped by signal %d on its way back "
					 "into syscall %ld", tid, WSTOPSIG(st), nr);
	}
	return ckpt_fail(c->e, EPROTO, "thread %d did not reach syscall %ld", tid, nr);
}

/*
 * The kernel takes an NT_X86_XSTATE write only of exactly this CPU's regset
 * size, which differs between CPUs (2688 bytes with AVX-512, 11008 with AMX).
 * The standard (non-compacted) XSAVE layout puts each component at the same
 * offset whatever the size, so the image's area is laid into a buffer of the
 * size the restored thread reports: components past the image's size stay in
 * their init state (their xstate_bv bits are clear), and components past this
 * CPU's size were refused by rs_verify_machine if the image uses them.
 */
static int thread_xstate(struct rs_ctx *c, const struct rs_thread *t)
{
	const struct ckpt_img_thread *it = t->t;
	uint32_t max = ckpt_xstate_max();
	unsigned char *buf = calloc(1, max);
	if (!buf)
		return ckpt_fail(c->e, ENOMEM, "no memory for xstate of thread %d", t->tid);
	struct iovec iov = {buf, max};
	int rc = 0;
	if (ptrace(PTRACE_GETREGSET, t->tid, NT_X86_XSTATE, &iov) < 0) {
		rc = ckpt_fail_errno(c->e, errno, "ptrace getregset xstate thread %d", t->tid);
		goto out;
	}
	size_t live = iov.iov_len;
	if (it->xstate_size < 576 || live < 576) {
		rc = ckpt_fail(c->e, EINVAL,
			       "thread %d: xstate of %u bytes in the image, %zu on this CPU: "
			       "expected at least 576 (legacy area and XSAVE header)",
			       t->tid, it->xstate_size, live);
		goto out;
	}
	memset(buf, 0, live);
	memcpy(buf, t->xstate, it->xstate_size < live ? it->xstate_size : live);
	uint64_t bv;
	memcpy(&bv, buf + 512, 8);
	bv &= ckpt_xcr0();
	memcpy(buf + 512, &bv, 8);
	iov.iov_base = buf;
	iov.iov_len = live;
	if (ptrace(PTRACE_SETREGSET, t->tid, NT_X86_XSTATE, &iov) < 0)
		rc = ckpt_fail_errno(c->e, errno,
				     "ptrace setregset xstate (%zu bytes for this CPU, %u in the "
				     "image) thread %d",
				     live, it->xstate_size, t->tid);
out:
	free(buf);
	return rc;
}

static int thread_regs(struct rs_ctx *c, struct rs_thread *t)
{
	const struct ckpt_img_thread *it = t->t;
	uint64_t mask = it->sigmask & ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
	if (it->xstate_size) {
		int rc = thread_xstate(c, t);
		if (rc)
			return rc;
	}
	struct user_regs_struct r;
	_Static_assert(sizeof(r) == sizeof(it->regs), "regs layout");
	memcpy(&r, &it->regs, sizeof(r));
	r.orig_rax = (unsigned long long)-1; /* the restart fix-up is already in rip/rax */
	int rc = ckpt_setregs(t->tid, &r, c->e);
	long nr = (long)it->regs.orig_rax;
	if (!rc && t->at_syscall) {
		rc = step_into_syscall(c, t->tid, nr);
		t->stepped = !rc;
	}
	/* the recorded mask last: until here every signal stays blocked */
	if (!rc && ptrace(PTRACE_SETSIGMASK, t->tid, sizeof(mask), &mask) < 0)
		rc = ckpt_fail_errno(c->e, errno, "ptrace setsigmask %d", t->tid);
	return rc;
}

/* Time thread tid has been on a CPU in ns (schedstat), or 0 if unknown. */
static unsigned long long run_ns(pid_t pid, pid_t tid)
{
	char p[64], b[96];
	snprintf(p, sizeof(p), "/proc/%d/task/%d/schedstat", pid, tid);
	return ckpt_read_small(p, b, sizeof(b)) < 0 ? 0 : strtoull(b, NULL, 10);
}

/* Is thread t past its restart window: not runnable (asleep in its call
   again, stopped, gone), or run for long enough to be past it? */
static int settled(pid_t pid, const struct rs_thread *t)
{
	if (ckpt_task_state(pid, t->tid) != 'R')
		return 1;
	unsigned long long now = run_ns(pid, t->tid);
	return t->run_ns && now > t->run_ns + 2000000ull;
}

/*
 * Until every thread rs_finish detached inside an interrupted call has gone
 * back to sleep in it (or run on past it, or 2 s have passed: a restart is
 * not held up for a thread that never sleeps again), see step_into_syscall.
 */
void rs_settle(struct rs_ctx *const *cs, uint32_t n)
{
	struct timespec pause_for = {0, 50000}, start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	const long long bound_ns = 2000000000ll;
	for (;;) {
		int waiting = 0;
		for (uint32_t k = 0; k < n; k++)
			for (uint32_t i = 0; i < cs[k]->nr_threads; i++) {
				struct rs_thread *t = &cs[k]->threads[i];
				if (t->stepped && settled(cs[k]->pid, t))
					t->stepped = 0;
				waiting |= t->stepped;
			}
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long spent = (now.tv_sec - start.tv_sec) * 1000000000ll +
				  (now.tv_nsec - start.tv_nsec);
		if (!waiting || spent >= bound_ns)
			return;
		nanosleep(&pause_for, NULL);
		if (pause_for.tv_nsec < 5000000)
			pause_for.tv_nsec *= 2;
	}
}

int rs_finish(struct rs_ctx *c)
{
	int rc = 0;
	const struct ckpt_img_proc *p = c->proc;
	int need_creds = p->uid || p->euid || p->suid || p->gid || p->egid || p->sgid ||
			 p->ngroups || getuid() != 0;
	/* read while its memory is ours to read: an image's dumpable 0, set
	   below, closes /proc/PID/mem to a restarter without CAP_SYS_PTRACE */
	for (uint32_t i = 0; i < c->nr_threads; i++) {
		struct rs_thread *t = &c->threads[i];
		long nr = (long)t->t->regs.orig_rax;
		t->at_syscall = (t->t->flags & CKPT_THR_F_IN_SYSCALL) && nr >= 0 &&
				(long)t->t->regs.rax == nr && syscall_insn_at(c->pid, t->t->regs.rip);
	}
	for (uint32_t i = 0; i < c->nr_threads && !rc && need_creds; i++)
		rc = thread_creds(c, i);
	for (uint32_t i = 0; i < c->nr_threads && !rc; i++)
		rc = rs_restore_caps(c, i);
	if (!rc)
		rc = rs_restore_tprctl(c);
	/* The image's dumpable setting, after everything that reads or writes
	   the process's memory (0 closes /proc/PID/mem and process_vm_writev
	   to a restarter without CAP_SYS_PTRACE), and after ids that changed
	   (root restarting a user's process) made it non-dumpable
	   (suid_dumpable): its own user could no longer read or checkpoint it. */
	if (!rc && p->dumpable <= 1 && (need_creds || p->dumpable != 1))
		rc = rs_sys(c, c->pid, "prctl(PR_SET_DUMPABLE)", 1, NULL, SYS_prctl,
			    PR_SET_DUMPABLE, p->dumpable, 0, 0, 0, 0);
	for (uint32_t i = 0; i < c->nr_threads && !rc && p->no_new_privs; i++)
		rc = rs_sys(c, c->threads[i].tid, "prctl(PR_SET_NO_NEW_PRIVS)", 1, NULL, SYS_prctl,
			    PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
	if (!rc)
		rc = rs_sys(c, c->pid, "munmap scratch", 1, NULL, SYS_munmap, (long)c->scratch,
			    RS_SCRATCH_SIZE, 0, 0, 0, 0);
	/* dynamic xfeatures (AMX tile data) before any xstate that may use them:
	   the permission is the process's, asked for once */
	uint64_t perm = c->procx ? c->procx->xcomp_perm : 0;
	if (!rc && (perm & (1ull << XFEATURE_XTILEDATA_)))
		rc = rs_sys(c, c->pid, "arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA)", 1, NULL,
			    SYS_arch_prctl, ARCH_REQ_XCOMP_PERM_, XFEATURE_XTILEDATA_, 0, 0, 0, 0);
	for (uint32_t i = 0; i < c->nr_threads && !rc; i++)
		rc = thread_regs(c, &c->threads[i]);
	if (rc)
		return rc;
	int sig = 0;
	switch (c->after) {
	case CKPT_AFTER_STOP: sig = SIGSTOP; break;
	case CKPT_AFTER_TERM: sig = SIGTERM; break;
	case CKPT_AFTER_KILL: sig = SIGKILL; break;
	case CKPT_AFTER_ABORT: sig = SIGABRT; break;
	case CKPT_AFTER_SIGNAL: sig = c->signal; break;
	}
	if (!sig && (p->flags & CKPT_PROC_F_STOPPED))
		sig = SIGSTOP;
	/* SIGSTOP is queued while every thread is still traced: each thread
	   checks its signals on detach before running any of its own code.
	   Other signals go after detach (a traced process killed here could
	   not be detached any more). */
	if (sig == SIGSTOP && kill(c->pid, sig) < 0)
		return ckpt_fail_errno(c->e, errno, "kill %d with signal %d", c->pid, sig);
	for (uint32_t i = 0; i < c->nr_threads; i++)
		if (c->threads[i].stepped)
			c->threads[i].run_ns = run_ns(c->pid, c->threads[i].tid);
	for (uint32_t i = c->nr_threads; i-- > 0;)
		if (ptrace(PTRACE_DETACH, c->threads[i].tid, 0, 0) < 0)
			return ckpt_fail_errno(c->e, errno, "ptrace detach %d", c->threads[i].tid);
	c->child_alive = 0; /* it is the restored process now, not ours to kill */
	if (sig && sig != SIGSTOP && kill(c->pid, sig) < 0)
		rs_warn(c, "restored %d, but signal %d could not be sent: %s", c->pid, sig,
			strerror(errno));
	return 0;
}
