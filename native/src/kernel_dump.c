// SPDX-License-Identifier: BSD-3-Clause
/*
 * The kernel engine's part of a checkpoint (struct dump_engine, dump.h):
 * the process is frozen by /dev/ckpt (kernel_engine.c) instead of ptrace,
 * and what the user engine learns by injecting syscalls (clear-tid address,
 * sigaltstack, dispositions, itimers, brk, dumpable, THP, xcomp permission)
 * and by PTRACE_PEEKSIGINFO (pending signals) comes from the module. No
 * ptrace relation is made and nothing runs inside the target, so a process
 * under gdb or strace can be checkpointed and our death at any instant
 * thaws it untouched (the freeze belongs to the /dev/ckpt file). Syscall
 * user dispatch, which the user engine sees through ptrace, comes from the
 * module too and is refused as each thread is read; each thread's
 * securebits, PR_MCE_KILL policy and PR_SET_TSC mode come from it into the
 * user engine's TPRCTL section.
 */
#include "dump.h"
#include "kernel_engine.h"
#include "ptrace.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

_Static_assert(DUMP_MAX_PENDING == 64, "the module keeps 64 records per queue");

static uint32_t freeze_timeout(struct dump *d)
{
	if (!d->deadline_ns)
		return 0; /* the module's default */
	uint64_t now = dump_now_ns();
	uint64_t left = d->deadline_ns > now ? (d->deadline_ns - now) / 1000000ull : 1;
	return left ? (uint32_t)(left < 0xffffffffull ? left : 0xffffffffull) : 1;
}

/*
 * Syscall user dispatch, which no restart can set again: refused as the user
 * engine refuses it, as each thread's record is read (before descriptors,
 * memory or the image are touched; the freeze is thawed). A module older than this
 * libckpt does not report it (the same ABI version: fields are appended), and
 * then nothing says whether it is on: refused too, naming the module, since a
 * checkpoint that goes on could come back without it (docs/kernel-engine.md).
 */
static int kernel_check_dispatch(struct dump *d, pid_t tid, const struct ckpt_kdispatch *sud)
{
	if (!sud->known)
		return ckpt_fail(d->e, EPROTO,
				 "pid %d thread %d: %s does not report syscall user dispatch (a "
				 "ckpt.ko older than this libckpt), so whether it is on cannot be "
				 "told and it cannot be checkpointed: load the ckpt.ko of this "
				 "version, or use the user engine",
				 d->pid, tid, CKPT_KERNEL_DEV);
	return sud->mode ? dump_refuse_dispatch(d, tid, sud->selector) : 0;
}

/*
 * Securebits (keepcaps), the machine-check kill policy and the TSC mode,
 * which only the thread can read (the user engine injects the getters): the
 * module reports them as each thread stops, into the TPRCTL record the user
 * engine writes. A module older than this libckpt does not, and then nothing
 * tells whether they are the defaults: refused naming the module, as for the
 * dispatch, since a restart would bring back the defaults silently.
 */
static int kernel_take_tprctl(struct dump *d, struct dump_thread *t,
			      const struct ckpt_ktprctl *tp)
{
	if (!tp->known)
		return ckpt_fail(d->e, EPROTO,
				 "pid %d thread %d: %s does not report securebits, PR_MCE_KILL "
				 "or PR_SET_TSC (a ckpt.ko older than this libckpt), so they "
				 "cannot be checkpointed: load the ckpt.ko of this version, or "
				 "use the user engine",
				 d->pid, t->t.tid, CKPT_KERNEL_DEV);
	t->kprctl = (struct ckpt_img_tprctl){.tid = t->t.tid,
					     .securebits = tp->securebits,
					     .mce_kill = (int32_t)tp->mce_kill,
					     .tsc = tp->tsc};
	return 0;
}

/* The TPRCTL section, in the threads' final order, when a value is not the
   default (as the user engine writes it: dump_tprctl). */
static int kernel_tprctl(struct dump *d)
{
	int any = 0;
	for (uint32_t i = 0; i < d->nr_threads; i++) {
		const struct ckpt_img_tprctl *v = &d->threads[i].kprctl;
		any |= v->securebits || v->mce_kill != PR_MCE_KILL_DEFAULT ||
		       v->tsc != PR_TSC_ENABLE;
	}
	if (!any)
		return 0;
	d->tprctl = calloc(d->nr_threads, sizeof(*d->tprctl));
	if (!d->tprctl)
		return ckpt_fail(d->e, ENOMEM, "no memory");
	for (uint32_t i = 0; i < d->nr_threads; i++)
		d->tprctl[i] = d->threads[i].kprctl;
	return 0;
}

static int kernel_freeze(struct dump *d)
{
	char state;
	int rc = dump_check_target(d, &state);
	if (rc)
		return rc;
	/* a tracer stop under strace lasts while strace prints a line: wait
	   it out (2 s at most, or to the deadline); a debugger's lasts */
	for (int ms = 0; state == 't' && ms < 2000; ms += 2) {
		if (d->deadline_ns && dump_now_ns() >= d->deadline_ns)
			break;
		usleep(2000);
		state = ckpt_proc_state(d->pid);
	}
	if (!state)
		return ckpt_fail(d->e, ESRCH, "no process %d", d->pid);
	if (state == 'T' || state == 't')
		return ckpt_fail(d->e, EBUSY,
				 "process %d is stopped (%s): the kernel engine freezes a thread on "
				 "its way back to user mode, which a stopped one never takes; "
				 "continue it or use the user engine",
				 d->pid, state == 'T' ? "job control" : "in a tracer's stop for 2 s");
	rc = dump_refuse_tracer(d);
	if (rc)
		return rc;
	d->kf = calloc(1, sizeof(*d->kf));
	if (!d->kf)
		return ckpt_fail(d->e, ENOMEM, "no memory");
	d->kf->fd = -1;
	rc = ckpt_kernel_freeze(d->kf, d->pid, freeze_timeout(d), d->e);
	if (rc)
		return rc;
	if (d->kf->nr_threads > DUMP_MAX_THREADS)
		return ckpt_fail(d->e, E2BIG, "process %d has more than %d threads", d->pid,
				 DUMP_MAX_THREADS);
	d->threads = calloc(d->kf->nr_threads, sizeof(*d->threads));
	if (!d->threads)
		return ckpt_fail(d->e, ENOMEM, "no memory for threads");
	for (uint32_t i = 0; i < d->kf->nr_threads; i++) {
		struct dump_thread *t = &d->threads[i];
		t->xstate = calloc(1, d->kf->xstate_size);
		t->pending = calloc(DUMP_MAX_PENDING, sizeof(*t->pending));
		d->nr_threads++;
		if (!t->xstate || !t->pending)
			return ckpt_fail(d->e, ENOMEM, "no memory for thread %u", i);
		struct ckpt_kdispatch sud;
		struct ckpt_ktprctl tp;
		rc = ckpt_kernel_thread(d->kf, i, &t->t, t->xstate, &sud, &tp, d->e);
		if (!rc)
			rc = kernel_check_dispatch(d, t->t.tid, &sud);
		if (!rc)
			rc = kernel_take_tprctl(d, t, &tp);
		if (rc)
			return rc;
		t->tid = t->t.tid;
		uint32_t n = 0;
		rc = ckpt_kernel_pending(d->kf, i, t->pending, DUMP_MAX_PENDING, &n, d->e);
		if (rc)
			return rc;
		t->t.pending_count = n;
	}
	rc = dump_leader_first(d);
	return rc ? rc : kernel_tprctl(d);
}

/* Everything was read with the freeze (the module recorded it as each
   thread stopped). */
static int kernel_threads_state(struct dump *d)
{
	(void)d;
	return 0;
}

static int kernel_proc_state(struct dump *d)
{
	struct ckpt_img_proc *p = &d->proc;
	int rc = ckpt_kernel_sigactions(d->kf, p->sigactions, d->e);
	uint32_t n = 0;
	if (!rc)
		rc = ckpt_kernel_pending(d->kf, CKPT_KERNEL_SHARED, d->shared_pending,
					 DUMP_MAX_PENDING, &n, d->e);
	p->pending_shared_count = n;
	struct ckpt_kproc k;
	if (!rc)
		rc = ckpt_kernel_proc(d->kf, &k, d->e);
	if (rc)
		return rc;
	p->mm.brk = k.brk;
	p->dumpable = k.dumpable;
	p->thp_disable = k.thp_disable;
	memcpy(p->itimers, k.itimers, sizeof(p->itimers));
	d->procx.xcomp_perm = k.xcomp_perm;
	if (k.have_prctl) {
		d->procx.pdeath_signal = k.pdeath_signal;
		d->procx.child_subreaper = k.child_subreaper;
		d->procx.flags |= CKPT_PROCX_F_PRCTL;
	}
	if (k.have_mlock) {
		d->procx.mlock_future = k.mlock_future;
		d->procx.flags |= CKPT_PROCX_F_MLOCKALL;
	}
	return 0;
}

/* Nothing was blocked: the target's masks were never touched. */
static int kernel_unblock(struct dump *d)
{
	(void)d;
	return 0;
}

/*
 * A signal sent while frozen is pending when the threads leave the module's
 * work, and acted on before any user instruction (SIGKILL wakes the frozen
 * threads at once, they sleep killably).
 */
static int kernel_release(struct dump *d, int sig)
{
	int rc = 0;
	if (sig > 0 && d->kf && d->kf->fd >= 0 && kill(d->pid, sig) < 0 && errno != ESRCH)
		rc = ckpt_fail_errno(d->e, errno, "kill(%d, %d)", d->pid, sig);
	if (d->kf)
		ckpt_kernel_thaw(d->kf);
	return rc;
}

const struct dump_engine dump_kernel_engine = {
	.name = "kernel",
	.freeze = kernel_freeze,
	.threads_state = kernel_threads_state,
	.proc_state = kernel_proc_state,
	.unblock = kernel_unblock,
	.release = kernel_release,
};
