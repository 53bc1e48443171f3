// SPDX-License-Identifier: GPL-2.0
/*
 * Freezing a process without ptrace.
 *
 * Each thread of the target gets a task_work queued with TWA_SIGNAL: the
 * thread runs it on its own way back to user mode (a syscall in progress is
 * interrupted like by a signal and restarts later). Running as the thread,
 * the work records its registers and xstate through the same regsets ptrace
 * and core dumps use, then sleeps until the freeze is thawed. No ptrace
 * relation is made, so a process under gdb or strace can be frozen and its
 * tracer sees nothing but a restarted syscall.
 *
 * The freeze belongs to a /dev/ckpt file: its release thaws, whatever
 * instant the holder dies at.
 */
#include <linux/cred.h>
#include <linux/hrtimer.h>
#include <linux/sched/signal.h>
#include <linux/signal_types.h>
#include <asm/fpu/types.h>
#include <asm/fpu/xstate.h>
#include <linux/elf.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/prctl.h>
#include <linux/regset.h>
#include <linux/sched/coredump.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/task_work.h>

#include "ckpt_internal.h"

#define CKPT_MAX_THREADS 65536

static const struct user_regset *ckpt_regset(unsigned int note)
{
	const struct user_regset_view *view = task_user_regset_view(current);
	unsigned int i;

	for (i = 0; i < view->n; i++)
		if (view->regsets[i].core_note_type == note)
			return &view->regsets[i];
	return NULL;
}

static void ckpt_freeze_release(struct kref *ref)
{
	struct ckpt_freeze *fz = container_of(ref, struct ckpt_freeze, ref);
	unsigned int i;

	for (i = 0; i < fz->nr_threads; i++) {
		struct ckpt_thread *t = fz->threads[i];

		put_task_struct(t->task);
		kvfree(t->xstate);
		kvfree(t->pending);
		kfree(t);
	}
	kvfree(fz->threads);
	kvfree(fz->shared);
	kfree(fz);
}

void ckpt_freeze_put(struct ckpt_freeze *fz)
{
	kref_put(&fz->ref, ckpt_freeze_release);
}

void ckpt_thaw(struct ckpt_freeze *fz)
{
	WRITE_ONCE(fz->thawed, true);
	wake_up_all(&fz->wq);
}

static void ckpt_record_queue(struct sigpending *q, u8 (*out)[CKPT_SIGINFO_SIZE],
			      unsigned int *nr, unsigned int *lost);

/*
 * Syscall user dispatch (prctl PR_SET_SYSCALL_USER_DISPATCH), read the way
 * PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG (6.4) reads it: on while the
 * thread's SYSCALL_USER_DISPATCH work bit is set. Like the other fields of
 * ckpt_record_self it needs no lock: only the thread itself changes it (the
 * prctl acts on the caller; 6.4's ptrace setter needs a tracee in a ptrace
 * stop, which a frozen thread is not), so what it reads here holds until the
 * thaw. Without CONFIG_GENERIC_ENTRY the prctl fails: always off.
 */
static void ckpt_record_dispatch(struct ckpt_thread *t)
{
#ifdef CONFIG_GENERIC_ENTRY
	struct syscall_user_dispatch *sd = &current->syscall_dispatch;

	if (!test_syscall_work(SYSCALL_USER_DISPATCH))
		return;
	t->dispatch_mode = PR_SYS_DISPATCH_ON;
	t->dispatch_selector = (unsigned long)sd->selector;
	t->dispatch_offset = sd->offset;
	t->dispatch_len = sd->len;
#endif
}

/*
 * The thread's own prctl values, what its PR_GET_SECUREBITS, PR_MCE_KILL_GET
 * and PR_GET_TSC would return (security/commoncap.c, kernel/sys.c,
 * arch/x86/kernel/process.c). No lock, as for the dispatch: each is changed
 * only by the thread itself (its credentials by commit_creds, which acts on
 * current; PF_MCE_* and TIF_NOTSC by the prctls, on the caller), so what it
 * reads here holds until the thaw.
 */
static void ckpt_record_prctl(struct ckpt_thread *t)
{
	t->securebits = current_cred()->securebits;
	if (current->flags & PF_MCE_PROCESS)
		t->mce_kill = (current->flags & PF_MCE_EARLY) ? PR_MCE_KILL_EARLY :
								PR_MCE_KILL_LATE;
	else
		t->mce_kill = PR_MCE_KILL_DEFAULT;
#ifdef TIF_NOTSC
	t->tsc = test_thread_flag(TIF_NOTSC) ? PR_TSC_SIGSEGV : PR_TSC_ENABLE;
#else
	t->tsc = PR_TSC_ENABLE;
#endif
}

/* Runs as the stopping thread: record what only it (or a tracer) can see. */
static void ckpt_record_self(struct ckpt_freeze *fz, struct ckpt_thread *t)
{
	const struct user_regset *rs;
	int n;

	rs = ckpt_regset(NT_PRSTATUS);
	n = rs ? regset_get(current, rs, sizeof(t->regs), t->regs) : -EOPNOTSUPP;
	if (n != sizeof(t->regs)) {
		t->err = n < 0 ? n : -EIO;
		return;
	}
	rs = ckpt_regset(NT_X86_XSTATE);
	n = rs ? regset_get(current, rs, fz->xstate_size, t->xstate) : -EOPNOTSUPP;
	if (n < 0) {
		t->err = n;
		return;
	}
	t->xstate_len = n;

	t->sigmask = current->blocked.sig[0];
	t->clear_child_tid = (unsigned long)current->clear_child_tid;
	t->robust_list = (unsigned long)current->robust_list;
	t->sas_ss_sp = current->sas_ss_sp;
	t->sas_ss_size = current->sas_ss_size;
	t->sas_ss_flags = current->sas_ss_flags;
	spin_lock_irq(&current->sighand->siglock);
	ckpt_record_queue(&current->pending, t->pending, &t->nr_pending, &t->lost_pending);
	spin_unlock_irq(&current->sighand->siglock);
#ifdef CONFIG_RSEQ
	t->rseq = (unsigned long)current->rseq;
	t->rseq_sig = current->rseq_sig;
#endif
	ckpt_record_dispatch(t);
	ckpt_record_prctl(t);
}

/*
 * A pending queue as siginfo records, the queued ones first, then the
 * signals of the set that have no queued siginfo. Called under siglock.
 */
static void ckpt_record_queue(struct sigpending *q, u8 (*out)[CKPT_SIGINFO_SIZE],
			      unsigned int *nr, unsigned int *lost)
{
	struct sigqueue *sq;
	unsigned long seen = 0;
	int sig;

	*nr = 0;
	*lost = 0;
	list_for_each_entry(sq, &q->list, list) {
		sig = sq->info.si_signo;
		if (sig >= 1 && sig <= CKPT_NSIG)
			seen |= 1ul << (sig - 1);
		if (*nr == CKPT_MAX_PENDING) {
			(*lost)++;
			continue;
		}
		BUILD_BUG_ON(sizeof(sq->info) > CKPT_SIGINFO_SIZE);
		memset(out[*nr], 0, CKPT_SIGINFO_SIZE);
		memcpy(out[*nr], &sq->info, sizeof(sq->info));
		(*nr)++;
	}
	for (sig = 1; sig <= CKPT_NSIG; sig++) {
		kernel_siginfo_t info;

		if (!sigismember(&q->signal, sig) || (seen & (1ul << (sig - 1))))
			continue;
		if (*nr == CKPT_MAX_PENDING) {
			(*lost)++;
			continue;
		}
		memset(&info, 0, sizeof(info));
		info.si_signo = sig;
		info.si_code = SI_KERNEL;
		memset(out[*nr], 0, CKPT_SIGINFO_SIZE);
		memcpy(out[*nr], &info, sizeof(info));
		(*nr)++;
	}
}

/*
 * ITIMER_PROF (clock 0) or ITIMER_VIRTUAL (clock 1) as getitimer(2) reports
 * it: the expiry against the group's CPU-time sample, which the kernel keeps
 * (timers_active) whenever one is armed. Called under siglock.
 */
static u64 ckpt_cpu_itimer(struct signal_struct *sig, int clock, bool *unread)
{
	struct task_cputime_atomic *at = &sig->cputimer.cputime_atomic;
	u64 val = sig->it[clock].expires, t;

	if (!val)
		return 0;
	if (!READ_ONCE(sig->posix_cputimers.timers_active)) {
		*unread = true;
		return 0;
	}
	t = atomic64_read(&at->utime);
	if (clock == 0)
		t += atomic64_read(&at->stime);
	return val < t ? TICK_NSEC : val - t; /* due: getitimer says one tick */
}

/* The three itimers as getitimer(2) reports them. Called under siglock. */
static void ckpt_record_itimers(struct ckpt_freeze *fz)
{
	bool unread = false;
	struct signal_struct *sig = current->signal;
	struct hrtimer *tmr = &sig->real_timer;
	ktime_t rem = 0;

	if (hrtimer_active(tmr)) {
		rem = hrtimer_expires_remaining(tmr);
		if (rem <= 0)
			rem = NSEC_PER_USEC; /* due: getitimer says 1 us */
	}
	fz->proc.itimer_real_value_ns = rem;
	fz->proc.itimer_real_interval_ns = sig->it_real_incr;
	fz->proc.itimer_prof_value_ns = ckpt_cpu_itimer(sig, 0, &unread);
	fz->proc.itimer_prof_interval_ns = sig->it[0].incr;
	fz->proc.itimer_virt_value_ns = ckpt_cpu_itimer(sig, 1, &unread);
	fz->proc.itimer_virt_interval_ns = sig->it[1].incr;
	if (unread)
		fz->proc.flags |= CKPT_PROC_ITIMER_CPU_UNREAD;
}

/*
 * What the whole process shares, recorded once by the first thread to stop:
 * dispositions, the shared pending queue, itimers, mm fields.
 */
static void ckpt_record_process(struct ckpt_freeze *fz)
{
	struct k_sigaction *ka = current->sighand->action;
	struct mm_struct *mm = current->mm;
	vm_flags_t def;
	unsigned int i;

	spin_lock_irq(&current->sighand->siglock);
	for (i = 0; i < CKPT_NSIG; i++) {
		fz->actions[i].handler = (unsigned long)ka[i].sa.sa_handler;
		fz->actions[i].flags = ka[i].sa.sa_flags;
		fz->actions[i].restorer = (unsigned long)ka[i].sa.sa_restorer;
		fz->actions[i].mask = ka[i].sa.sa_mask.sig[0];
	}
	ckpt_record_queue(&current->signal->shared_pending, fz->shared, &fz->nr_shared,
			  &fz->lost_shared);
	ckpt_record_itimers(fz);
	spin_unlock_irq(&current->sighand->siglock);

	fz->proc.size = sizeof(fz->proc);
	fz->proc.xcomp_perm = READ_ONCE(current->group_leader->thread.fpu.perm.__state_perm) &
			      XFEATURE_MASK_USER_SUPPORTED;
	fz->proc.pdeath_signal = READ_ONCE(current->group_leader->pdeath_signal);
	fz->proc.child_subreaper = current->signal->is_child_subreaper;
	fz->proc.flags |= CKPT_PROC_PRCTL;
	if (mm) {
		fz->proc.brk = READ_ONCE(mm->brk);
		fz->proc.dumpable = get_dumpable(mm);
		fz->proc.thp_disable = test_bit(MMF_DISABLE_THP, &mm->flags) ? 1 : 0;
		/* mlockall(MCL_FUTURE[|MCL_ONFAULT]): the default flags of new mappings */
		def = READ_ONCE(mm->def_flags);
		if (def & VM_LOCKED)
			fz->proc.mlock_future = MCL_FUTURE | (def & VM_LOCKONFAULT ? MCL_ONFAULT : 0);
		fz->proc.flags |= CKPT_PROC_MLOCK;
	}
}

static void ckpt_thread_work(struct callback_head *cb)
{
	struct ckpt_thread *t = container_of(cb, struct ckpt_thread, work);
	struct ckpt_freeze *fz = t->fz;
	bool first;

	if (READ_ONCE(fz->thawed))
		goto out;
	/*
	 * An exec since the permission check (its work runs on the way out
	 * of execve): the process may now be a set-id program's, not the
	 * caller's to read. Nothing is recorded; the freeze fails (EAGAIN)
	 * and a retry checks permission again.
	 */
	if (current->flags & PF_EXITING || READ_ONCE(current->self_exec_id) != fz->exec_id)
		t->exiting = true;
	else
		ckpt_record_self(fz, t);

	spin_lock(&fz->lock);
	first = !fz->have_actions && !t->exiting;
	if (first)
		fz->have_actions = true; /* claimed; written before arriving */
	spin_unlock(&fz->lock);
	if (first)
		ckpt_record_process(fz);

	spin_lock(&fz->lock);
	t->arrived = true;
	fz->nr_arrived++;
	spin_unlock(&fz->lock);
	wake_up_all(&fz->wq);

	if (!t->exiting)
		wait_event_killable(fz->wq, READ_ONCE(fz->thawed));
out:
	ckpt_freeze_put(fz);
	module_put(THIS_MODULE);
}

/*
 * May the caller freeze and read @task? The checks of __ptrace_may_access in
 * PTRACE_MODE_ATTACH_REALCREDS mode that modules can make (ptrace_may_access
 * itself and the LSM hook are not exported): same real uid and gid as all of
 * the target's, a dumpable mm, or CAP_SYS_PTRACE over the target's user
 * namespace.
 */
static bool ckpt_may_freeze(struct task_struct *task)
{
	const struct cred *cred = current_cred(), *tcred;
	struct mm_struct *mm;
	bool ok;

	tcred = get_task_cred(task);
	ok = uid_eq(cred->uid, tcred->euid) && uid_eq(cred->uid, tcred->suid) &&
	     uid_eq(cred->uid, tcred->uid) && gid_eq(cred->gid, tcred->egid) &&
	     gid_eq(cred->gid, tcred->sgid) && gid_eq(cred->gid, tcred->gid);
	if (!ok)
		ok = ns_capable(tcred->user_ns, CAP_SYS_PTRACE);
	put_cred(tcred);
	if (!ok)
		return false;

	mm = get_task_mm(task);
	if (!mm)
		return false; /* a kernel thread, or exiting */
	ok = get_dumpable(mm) == SUID_DUMP_USER || ns_capable(mm->user_ns, CAP_SYS_PTRACE);
	mmput(mm);
	return ok;
}

static bool ckpt_known(struct ckpt_freeze *fz, struct task_struct *task)
{
	unsigned int i;

	for (i = 0; i < fz->nr_threads; i++)
		if (fz->threads[i]->task == task)
			return true;
	return false;
}

/*
 * Add the threads of @leader not yet in @fz, allocating their records first
 * (nothing can be allocated under RCU). Returns how many were added.
 */
static int ckpt_collect(struct ckpt_freeze *fz, struct task_struct *leader)
{
	struct ckpt_thread **spare = NULL, **grown;
	struct task_struct *t;
	unsigned int n = 0, want, i, used = 0, added = 0;
	int ret = 0;

	rcu_read_lock();
	for_each_thread(leader, t)
		n++;
	rcu_read_unlock();
	if (fz->nr_threads + n > CKPT_MAX_THREADS)
		return -E2BIG;

	want = fz->nr_threads + n;
	if (want > fz->cap) {
		grown = kvrealloc(fz->threads, fz->cap * sizeof(*grown), want * sizeof(*grown),
				  GFP_KERNEL);
		if (!grown)
			return -ENOMEM;
		fz->threads = grown;
		fz->cap = want;
	}
	spare = kcalloc(n, sizeof(*spare), GFP_KERNEL);
	if (!spare)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		spare[i] = kzalloc(sizeof(**spare), GFP_KERNEL);
		if (!spare[i]) {
			ret = -ENOMEM;
			goto out_free_spare;
		}
		spare[i]->xstate = kvzalloc(fz->xstate_size, GFP_KERNEL);
		spare[i]->pending = kvcalloc(CKPT_MAX_PENDING, CKPT_SIGINFO_SIZE, GFP_KERNEL);
		if (!spare[i]->xstate || !spare[i]->pending) {
			ret = -ENOMEM;
			goto out_free_spare;
		}
	}

	rcu_read_lock();
	for_each_thread(leader, t) {
		struct ckpt_thread *ct;

		if (used == n)
			break; /* more threads appeared: the next pass takes them */
		if (t->flags & PF_EXITING || ckpt_known(fz, t))
			continue;
		ct = spare[used++];
		get_task_struct(t);
		ct->task = t;
		ct->fz = fz;
		ct->tid = task_pid_vnr(t);
		fz->threads[fz->nr_threads++] = ct;
		added++;
	}
	rcu_read_unlock();
	ret = added;

out_free_spare:
	for (i = used; i < n; i++) {
		if (spare[i]) {
			kvfree(spare[i]->xstate);
			kvfree(spare[i]->pending);
		}
		kfree(spare[i]);
	}
	kfree(spare);
	return ret;
}

/* Queue the work on every thread that has none yet. */
static void ckpt_queue(struct ckpt_freeze *fz)
{
	unsigned int i;

	for (i = 0; i < fz->nr_threads; i++) {
		struct ckpt_thread *t = fz->threads[i];

		if (t->queued)
			continue;
		init_task_work(&t->work, ckpt_thread_work);
		kref_get(&fz->ref);
		__module_get(THIS_MODULE);
		t->queued = true;
		if (task_work_add(t->task, &t->work, TWA_SIGNAL)) {
			/* exiting: it will never run the work */
			module_put(THIS_MODULE);
			kref_put(&fz->ref, ckpt_freeze_release); /* never the last */
			spin_lock(&fz->lock);
			t->arrived = true;
			t->exiting = true;
			fz->nr_arrived++;
			spin_unlock(&fz->lock);
		}
	}
}

static bool ckpt_all_arrived(struct ckpt_freeze *fz)
{
	bool all;

	spin_lock(&fz->lock);
	all = fz->nr_arrived == fz->nr_threads;
	spin_unlock(&fz->lock);
	return all;
}

int ckpt_freeze_process(pid_t pid, unsigned int timeout_ms, struct ckpt_freeze **out)
{
	const struct user_regset *rs;
	struct ckpt_freeze *fz;
	struct task_struct *leader;
	unsigned long left = msecs_to_jiffies(timeout_ms);
	unsigned int i;
	u64 exec_id;
	bool ok;
	long w;
	int ret;

	leader = get_pid_task(find_vpid(pid), PIDTYPE_TGID);
	if (!leader)
		return -ESRCH;
	ret = -EINVAL;
	if (same_thread_group(leader, current))
		goto out_put_leader;
	ret = -EPERM;
	if (leader->flags & PF_KTHREAD)
		goto out_put_leader;
	/*
	 * Credentials, mm and exec count read together (an exec changes them
	 * under exec_update_lock): the works compare the count, so a set-id
	 * exec between this check and their run is not recorded.
	 */
	ret = down_read_killable(&leader->signal->exec_update_lock);
	if (ret)
		goto out_put_leader;
	exec_id = READ_ONCE(leader->self_exec_id);
	ok = ckpt_may_freeze(leader);
	up_read(&leader->signal->exec_update_lock);
	ret = -EPERM;
	if (!ok)
		goto out_put_leader;

	ret = -ENOMEM;
	fz = kzalloc(sizeof(*fz), GFP_KERNEL);
	if (!fz)
		goto out_put_leader;
	kref_init(&fz->ref);
	spin_lock_init(&fz->lock);
	init_waitqueue_head(&fz->wq);
	fz->pid = pid;
	fz->exec_id = exec_id;
	fz->shared = kvcalloc(CKPT_MAX_PENDING, CKPT_SIGINFO_SIZE, GFP_KERNEL);
	if (!fz->shared)
		goto out_put_fz;
	rs = ckpt_regset(NT_X86_XSTATE);
	ret = -EOPNOTSUPP; /* a CPU without XSAVE */
	if (!rs || !rs->active || rs->active(current, rs) <= 0)
		goto out_put_fz;
	fz->xstate_size = rs->n * rs->size;

	/* Until a pass finds no new thread once all known ones have stopped. */
	for (;;) {
		ret = ckpt_collect(fz, leader);
		if (ret < 0)
			goto out_thaw;
		if (ret == 0 && ckpt_all_arrived(fz))
			break;
		ckpt_queue(fz);
		w = wait_event_interruptible_timeout(fz->wq, ckpt_all_arrived(fz), left);
		if (w < 0) {
			ret = -EINTR;
			goto out_thaw;
		}
		if (w == 0) {
			ret = -ETIMEDOUT;
			goto out_thaw;
		}
		left = w;
	}

	ret = -ESRCH;
	if (!fz->nr_threads)
		goto out_thaw;
	ret = -EAGAIN; /* a thread exited meanwhile: the caller may try again */
	for (i = 0; i < fz->nr_threads; i++) {
		if (fz->threads[i]->exiting)
			goto out_thaw;
		if (fz->threads[i]->err) {
			ret = fz->threads[i]->err;
			goto out_thaw;
		}
	}
	fz->complete = true;
	put_task_struct(leader);
	*out = fz;
	return 0;

out_thaw:
	ckpt_thaw(fz);
out_put_fz:
	ckpt_freeze_put(fz);
out_put_leader:
	put_task_struct(leader);
	return ret;
}
