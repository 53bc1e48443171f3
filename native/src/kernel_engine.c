// SPDX-License-Identifier: BSD-3-Clause
/*
 * The kernel backend of libckpt: see kernel_engine.h and docs/kernel-engine.md.
 */
#include "kernel_engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/user.h>
#include <unistd.h>

#include "../../kmod/include/uapi/linux/ckpt.h"
#include "ptrace.h"

_Static_assert(sizeof(struct user_regs_struct) == CKPT_NR_REGS * 8,
	       "NT_PRSTATUS is struct user_regs_struct");
_Static_assert(sizeof(struct ckpt_img_regs) == CKPT_NR_REGS * 8,
	       "image registers are NT_PRSTATUS");
_Static_assert(sizeof(struct ckpt_img_sigaction) == sizeof(struct ckpt_sigaction),
	       "image sigaction is the module's");
_Static_assert(CKPT_NSIG == 64, "64 signals on x86-64");
_Static_assert(sizeof(struct ckpt_img_siginfo) == CKPT_SIGINFO_SIZE, "siginfo records");
_Static_assert(CKPT_KERNEL_SHARED == CKPT_PENDING_SHARED, "shared queue index");
_Static_assert(offsetof(struct ckpt_thread_args, flags) == CKPT_THREAD_ARGS_SIZE_VER1,
	       "GET_THREAD's appended fields follow version 1");
_Static_assert(offsetof(struct ckpt_thread_args, securebits) == CKPT_THREAD_ARGS_SIZE_VER2,
	       "GET_THREAD's prctl values follow the dispatch");

/* sizeof(struct rseq) of the original ABI: 6.1 reports it to ptrace always. */
#define KERNEL_RSEQ_ABI_SIZE 32

/*
 * A request of ours that a module answering our ABI version does not know
 * (ENOTTY): a ckpt.ko built before its struct grew, which knew its number
 * only with the old size in it (uapi ckpt.h; modules since match requests
 * without the size). What it cannot report would be lost: refused, naming it.
 */
static int older_module(struct ckpt_err *e, const char *what, pid_t pid, const char *lacks)
{
	return ckpt_fail(e, EPROTO,
			 "%s of %d: %s does not know the request (a ckpt.ko older than this "
			 "libckpt, which cannot report %s): load the ckpt.ko of this version, "
			 "or use the user engine",
			 what, pid, CKPT_KERNEL_DEV, lacks);
}

int ckpt_kernel_open(struct ckpt_err *e)
{
	int fd = open(CKPT_KERNEL_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return ckpt_fail(e, ENOENT, "%s not present (ckpt.ko not loaded)",
					 CKPT_KERNEL_DEV);
		return ckpt_fail_errno(e, errno, "open %s", CKPT_KERNEL_DEV);
	}
	int v = ioctl(fd, CKPT_IOC_VERSION);
	if (v != CKPT_UAPI_VERSION) {
		close(fd);
		return ckpt_fail(e, EPROTO, "%s speaks ABI version %d, this libckpt version %d",
				 CKPT_KERNEL_DEV, v, CKPT_UAPI_VERSION);
	}
	return fd;
}

int ckpt_kernel_probe(struct ckpt_err *e)
{
	int fd = ckpt_kernel_open(e);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int ckpt_kernel_freeze(struct ckpt_kfreeze *kf, pid_t pid, uint32_t timeout_ms,
		       struct ckpt_err *e)
{
	memset(kf, 0, sizeof(*kf));
	kf->fd = -1;
	if (pid <= 0)
		return ckpt_fail(e, EINVAL, "pid %d: expected a positive process id", pid);
	int fd = ckpt_kernel_open(e);
	if (fd < 0)
		return fd;
	struct ckpt_freeze_args a = {
		.size = sizeof(a), .pid = (uint32_t)pid, .timeout_ms = timeout_ms};
	if (ioctl(fd, CKPT_IOC_FREEZE, &a) < 0) {
		int err = errno;
		close(fd);
		switch (err) {
		case ESRCH:
			return ckpt_fail(e, ESRCH, "freeze %d: no such process", pid);
		case EPERM:
			return ckpt_fail(e, EPERM,
					 "freeze %d: not allowed (needs the same uid and gid and a "
					 "dumpable process, or CAP_SYS_PTRACE)",
					 pid);
		case ETIMEDOUT:
			return ckpt_fail(e, ETIMEDOUT,
					 "freeze %d: a thread did not stop within %u ms (stopped by "
					 "a tracer or job control, or in an uninterruptible sleep); "
					 "the process runs on",
					 pid, timeout_ms ? timeout_ms : 10000);
		case EAGAIN:
			return ckpt_fail(e, EAGAIN, "freeze %d: a thread exited while freezing",
					 pid);
		default:
			return ckpt_fail_errno(e, err, "freeze %d through %s", pid,
					       CKPT_KERNEL_DEV);
		}
	}
	kf->fd = fd;
	kf->pid = pid;
	kf->nr_threads = a.nr_threads;
	kf->xstate_size = a.xstate_size;
	return 0;
}

int ckpt_kernel_thread(struct ckpt_kfreeze *kf, uint32_t i, struct ckpt_img_thread *it,
		       unsigned char *xstate, struct ckpt_kdispatch *sud, struct ckpt_ktprctl *tp,
		       struct ckpt_err *e)
{
	struct ckpt_thread_args a = {
		.size = sizeof(a),
		.index = i,
		.xstate_size = kf->xstate_size,
		.xstate = (uint64_t)(uintptr_t)xstate,
	};
	if (ioctl(kf->fd, CKPT_IOC_GET_THREAD, &a) < 0) {
		if (errno == ENOTTY)
			return older_module(e, "thread state", kf->pid,
					    "syscall user dispatch");
		return ckpt_fail_errno(e, errno, "thread %u of %d through %s", i, kf->pid,
				       CKPT_KERNEL_DEV);
	}

	struct user_regs_struct r;
	memcpy(&r, a.regs, sizeof(r));
	memset(it, 0, sizeof(*it));
	it->tid = (int32_t)a.tid;
	it->flags = a.tid == (uint32_t)kf->pid ? CKPT_THR_F_LEADER : 0;
	if (ckpt_regs_fixup_restart(&r, 1))
		it->flags |= CKPT_THR_F_IN_SYSCALL;
	memcpy(&it->regs, &r, sizeof(it->regs));
	it->sigmask = a.sigmask;
	it->clear_tid_address = a.clear_child_tid;
	it->robust_list_head = a.robust_list;
	/* get_robust_list(2) always reports the only length set_robust_list takes */
	it->robust_list_len = 24;
	it->rseq_abi_pointer = a.rseq;
	it->rseq_abi_size = KERNEL_RSEQ_ABI_SIZE; /* as 6.1's ptrace reports it */
	it->rseq_signature = a.rseq_sig;
	it->altstack_sp = a.sas_ss_sp;
	it->altstack_size = a.sas_ss_size;
	it->altstack_flags = a.sas_ss_flags;
	it->xstate_size = a.xstate_size;
	if (sud)
		*sud = (struct ckpt_kdispatch){.known = !!(a.flags & CKPT_THREAD_DISPATCH),
					       .mode = a.dispatch_mode,
					       .selector = a.dispatch_selector,
					       .offset = a.dispatch_offset,
					       .len = a.dispatch_len};
	if (tp)
		*tp = (struct ckpt_ktprctl){.known = !!(a.flags & CKPT_THREAD_PRCTL),
					    .securebits = a.securebits,
					    .mce_kill = a.mce_kill,
					    .tsc = a.tsc};
	return 0;
}

int ckpt_kernel_sigactions(struct ckpt_kfreeze *kf, struct ckpt_img_sigaction *out,
			   struct ckpt_err *e)
{
	struct ckpt_sigactions_args a = {
		.size = sizeof(a), .count = CKPT_NSIG, .actions = (uint64_t)(uintptr_t)out};
	if (ioctl(kf->fd, CKPT_IOC_GET_SIGACTIONS, &a) < 0)
		return ckpt_fail_errno(e, errno, "signal actions of %d through %s", kf->pid,
				       CKPT_KERNEL_DEV);
	return 0;
}

int ckpt_kernel_pending(struct ckpt_kfreeze *kf, uint32_t i, struct ckpt_img_siginfo *out,
			uint32_t max, uint32_t *count, struct ckpt_err *e)
{
	char which[32];
	if (i == CKPT_KERNEL_SHARED)
		snprintf(which, sizeof(which), "process");
	else
		snprintf(which, sizeof(which), "thread %u", i);
	struct ckpt_pending_args a = {
		.size = sizeof(a), .index = i, .count = max, .siginfo = (uint64_t)(uintptr_t)out};
	if (ioctl(kf->fd, CKPT_IOC_GET_PENDING, &a) < 0) {
		if (errno == ENOSPC)
			return ckpt_fail(e, E2BIG,
					 "%s of %d has %u pending signals, more than the %u an "
					 "image keeps",
					 which, kf->pid, a.count, max);
		return ckpt_fail_errno(e, errno, "pending signals of %s of %d through %s", which,
				       kf->pid, CKPT_KERNEL_DEV);
	}
	if (a.lost)
		return ckpt_fail(e, E2BIG,
				 "%s of %d has more than %u pending signals queued (%u more): "
				 "refusing rather than dropping them",
				 which, kf->pid, a.count, a.lost);
	*count = a.count;
	return 0;
}

static void itimer_from_ns(struct ckpt_img_itimer *it, uint64_t value, uint64_t interval)
{
	it->value_sec = value / 1000000000ull;
	it->value_usec = value % 1000000000ull / 1000;
	it->interval_sec = interval / 1000000000ull;
	it->interval_usec = interval % 1000000000ull / 1000;
}

int ckpt_kernel_proc(struct ckpt_kfreeze *kf, struct ckpt_kproc *out, struct ckpt_err *e)
{
	struct ckpt_proc_args a = {.size = sizeof(a)};
	if (ioctl(kf->fd, CKPT_IOC_GET_PROC, &a) < 0) {
		if (errno == ENOTTY)
			return older_module(e, "process state", kf->pid,
					    "mlockall(MCL_FUTURE)");
		return ckpt_fail_errno(e, errno, "process state of %d through %s", kf->pid,
				       CKPT_KERNEL_DEV);
	}
	if (a.flags & CKPT_PROC_ITIMER_CPU_UNREAD)
		return ckpt_fail(e, ENOTSUP,
				 "process %d has ITIMER_VIRTUAL or ITIMER_PROF armed but the module "
				 "could not read its CPU-time sample (use the user engine)",
				 kf->pid);
	memset(out, 0, sizeof(*out));
	out->brk = a.brk;
	out->dumpable = a.dumpable;
	out->thp_disable = a.thp_disable;
	out->xcomp_perm = a.xcomp_perm;
	itimer_from_ns(&out->itimers[0], a.itimer_real_value_ns, a.itimer_real_interval_ns);
	itimer_from_ns(&out->itimers[1], a.itimer_virt_value_ns, a.itimer_virt_interval_ns);
	itimer_from_ns(&out->itimers[2], a.itimer_prof_value_ns, a.itimer_prof_interval_ns);
	out->have_prctl = !!(a.flags & CKPT_PROC_PRCTL);
	out->pdeath_signal = a.pdeath_signal;
	out->child_subreaper = a.child_subreaper;
	out->have_mlock = !!(a.flags & CKPT_PROC_MLOCK);
	out->mlock_future = a.mlock_future;
	return 0;
}

void ckpt_kernel_thaw(struct ckpt_kfreeze *kf)
{
	if (kf->fd >= 0)
		close(kf->fd);
	kf->fd = -1;
}
