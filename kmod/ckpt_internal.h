/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ckpt.ko internals: the freeze object shared by ckpt_main.c (the device and
 * its ioctls) and ckpt_freeze.c (stopping threads without ptrace).
 */
#ifndef CKPT_INTERNAL_H
#define CKPT_INTERNAL_H

#include <linux/kref.h>
#include <linux/sched.h>
#include <linux/signal.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include "uapi/linux/ckpt.h"

struct file;

/* One thread of the frozen process: what it recorded when it stopped. */
struct ckpt_thread {
	struct callback_head work;
	struct ckpt_freeze *fz;
	struct task_struct *task; /* reference held */
	pid_t tid;                /* in the freezer's PID namespace */
	bool queued;              /* work queued: it holds a freeze and module reference */
	bool arrived;             /* it ran the work (stopped, or exiting) */
	bool exiting;             /* it ran the work on its way out of do_exit */
	int err;                  /* recording its state failed */

	__u64 regs[CKPT_NR_REGS];
	void *xstate;             /* fz->xstate_size bytes */
	unsigned int xstate_len;  /* bytes the regset wrote */
	__u64 sigmask;
	__u64 clear_child_tid;
	__u64 robust_list;
	__u64 sas_ss_sp;
	__u64 sas_ss_size;
	__u32 sas_ss_flags;
	__u32 rseq_sig;
	__u64 rseq;
	__u32 dispatch_mode;      /* syscall user dispatch: PR_SYS_DISPATCH_* */
	__u64 dispatch_selector;
	__u64 dispatch_offset;
	__u64 dispatch_len;
	__u32 securebits;         /* PR_GET_SECUREBITS */
	__u32 mce_kill;           /* PR_MCE_KILL_GET */
	__u32 tsc;                /* PR_GET_TSC */

	u8 (*pending)[CKPT_SIGINFO_SIZE]; /* CKPT_MAX_PENDING records */
	unsigned int nr_pending, lost_pending;
};

/*
 * A freeze is owned by the file that made it. Every queued work holds a
 * reference too, because a thread can run its work after the file is gone
 * (task_work_cancel is not exported to modules): then it sees @thawed and
 * returns at once.
 */
struct ckpt_freeze {
	struct kref ref;
	spinlock_t lock;            /* nr_arrived, thread->arrived */
	wait_queue_head_t wq;       /* arrivals (the freezer waits) and the thaw (threads wait) */
	bool thawed;
	bool complete;              /* every thread stopped: readable */

	pid_t pid;
	u64 exec_id;                /* the leader's self_exec_id when permission was checked */
	unsigned int xstate_size;
	unsigned int nr_threads, cap;
	unsigned int nr_arrived;
	struct ckpt_thread **threads;

	bool have_actions;          /* and the rest the first thread records: */
	struct ckpt_sigaction actions[CKPT_NSIG];
	struct ckpt_proc_args proc;
	u8 (*shared)[CKPT_SIGINFO_SIZE]; /* CKPT_MAX_PENDING records */
	unsigned int nr_shared, lost_shared;
};

/* A restore session (ckpt_restore.c): what the image allows its file's holder. */
struct ckpt_rs_proc;
struct cred;
struct pid_namespace;
struct ckpt_restore {
	bool privileged;            /* CAP_CHECKPOINT_RESTORE: every free id */
	struct pid_namespace *pid_ns; /* the beginner's active one (reference held) */
	const struct cred *cred;    /* the beginner's (reference held) */
	pid_t *ids;                 /* sorted: pids, tids, pgids, sids of the image */
	u32 nr_ids;
	struct ckpt_rs_proc *procs; /* processes with a PROC section */
	u32 nr_procs;
	pid_t bad_pid;              /* why a session was refused */
	u32 bad_what;
};

/* ckpt_restore.c */
int ckpt_restore_begin(struct file *image, struct ckpt_restore_args *a,
		       struct ckpt_restore **out);
int ckpt_restore_next_pid(struct ckpt_restore *rs, pid_t pid);
int ckpt_restore_set_exe(struct ckpt_restore *rs, pid_t pid, unsigned int fd);
void ckpt_restore_free(struct ckpt_restore *rs);

/* ckpt_freeze.c */
int ckpt_freeze_process(pid_t pid, unsigned int timeout_ms, struct ckpt_freeze **out);
void ckpt_thaw(struct ckpt_freeze *fz);
void ckpt_freeze_put(struct ckpt_freeze *fz);

#endif
