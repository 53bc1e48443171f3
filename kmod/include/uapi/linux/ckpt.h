/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ckpt.ko: the ioctl ABI of /dev/ckpt, shared by kmod/ and native/.
 *
 * Every argument struct starts with its size in bytes, set by the caller to
 * sizeof() of the struct it was built with: the module refuses sizes it does
 * not know (-EINVAL), so fields can only be appended in a later version with
 * a new CKPT_UAPI_VERSION. Only fixed-width fields, explicit padding (which
 * must be zero), pointers carried in __u64.
 *
 * One open file of /dev/ckpt holds at most one freeze. Closing the file (or
 * the death of its holder) thaws the process: the freeze is owned by the file.
 */
#ifndef _UAPI_LINUX_CKPT_H
#define _UAPI_LINUX_CKPT_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define CKPT_UAPI_VERSION 2
#define CKPT_IOC_MAGIC 0xCF

/* NT_PRSTATUS on x86-64: struct user_regs_struct, 27 registers. */
#define CKPT_NR_REGS 27

/*
 * CKPT_IOC_FREEZE: stop every thread of process @pid (a thread group id in
 * the caller's PID namespace) without ptrace. Each thread stops itself on its
 * way back to user mode, records its registers and xstate there and sleeps
 * until the file thaws it; a thread in a syscall is interrupted the way a
 * signal interrupts it (the syscall restarts after the thaw).
 * Errors: ESRCH no such process; EPERM not the caller's to freeze; EINVAL
 * bad size/flags/padding or pid is the caller's own process; EBUSY this file
 * already holds a freeze; ETIMEDOUT a thread did not stop within @timeout_ms
 * (stopped by a tracer or by job control, or in uninterruptible sleep): the
 * process is thawed again before the error returns.
 */
struct ckpt_freeze_args {
	__u32 size;        /* in: sizeof(struct ckpt_freeze_args) */
	__u32 flags;       /* in: 0 */
	__u32 pid;         /* in */
	__u32 timeout_ms;  /* in: 0 means 10000 */
	__u32 nr_threads;  /* out: threads frozen, indexed 0..nr_threads-1 */
	__u32 xstate_size; /* out: bytes of one thread's NT_X86_XSTATE (CPU-dependent) */
};

/*
 * CKPT_IOC_GET_THREAD: the state thread @index recorded when it stopped.
 * Registers are NT_PRSTATUS (struct user_regs_struct), the xstate is
 * NT_X86_XSTATE in the standard (non-compacted) XSAVE format with XCR0 in
 * bytes 464..471: both exactly what PTRACE_GETREGSET gives.
 * Errors: ENOENT no freeze on this file; EINVAL index out of range, bad size
 * or padding; ENOSPC @xstate_size smaller than the thread's xstate (the
 * needed size is written back); EFAULT a bad pointer.
 */
struct ckpt_thread_args {
	__u32 size;            /* in: sizeof(struct ckpt_thread_args) */
	__u32 index;           /* in */
	__u32 tid;             /* out: in the caller's PID namespace */
	__u32 xstate_size;     /* in: bytes at @xstate; out: bytes written */
	__u64 xstate;          /* in: user pointer */
	__u64 regs[CKPT_NR_REGS]; /* out */
	__u64 sigmask;         /* out: blocked signals, bit n-1 for signal n */
	__u64 clear_child_tid; /* out: set_tid_address / CLONE_CHILD_CLEARTID */
	__u64 robust_list;     /* out: set_robust_list head */
	__u64 sas_ss_sp;       /* out: sigaltstack */
	__u64 sas_ss_size;     /* out */
	__u32 sas_ss_flags;    /* out */
	__u32 rseq_sig;        /* out */
	__u64 rseq;            /* out: registered struct rseq, 0 when none */
};

/* One signal's disposition, as rt_sigaction(2) sees it on x86-64. */
struct ckpt_sigaction {
	__u64 handler;
	__u64 flags;
	__u64 restorer;
	__u64 mask;
};

#define CKPT_NSIG 64

/*
 * CKPT_IOC_GET_SIGACTIONS: the process's signal dispositions, recorded by
 * the first thread that stopped. @actions points at @count entries, entry
 * n-1 for signal n; @count must be at least CKPT_NSIG and is set to it.
 */
struct ckpt_sigactions_args {
	__u32 size;    /* in: sizeof(struct ckpt_sigactions_args) */
	__u32 count;   /* in: entries at @actions; out: CKPT_NSIG */
	__u64 actions; /* in: user pointer to struct ckpt_sigaction[count] */
};

/* A pending signal: siginfo_t as rt_sigqueueinfo(2) and PTRACE_PEEKSIGINFO see it. */
#define CKPT_SIGINFO_SIZE 128
/* Records kept per queue (each thread's, and the process's shared one). */
#define CKPT_MAX_PENDING 64
#define CKPT_PENDING_SHARED 0xffffffffu

/*
 * CKPT_IOC_GET_PENDING: the signals pending when thread @index stopped
 * (its own queue), or with @index CKPT_PENDING_SHARED the process's shared
 * queue. A signal in the pending set with no queued siginfo (the kernel
 * queues none when it cannot allocate one) is reported with si_code
 * SI_KERNEL. @count is in: records of room at @siginfo, out: records written.
 * @lost: out, records that did not fit in CKPT_MAX_PENDING (the caller
 * should refuse the checkpoint rather than drop signals).
 * Errors: ENOENT no freeze; EINVAL bad index, size, padding; ENOSPC @count
 * smaller than the records there are (the number is written back).
 */
struct ckpt_pending_args {
	__u32 size;    /* in: sizeof(struct ckpt_pending_args) */
	__u32 index;   /* in: thread index or CKPT_PENDING_SHARED */
	__u32 count;   /* in/out */
	__u32 lost;    /* out */
	__u64 siginfo; /* in: user pointer to count * CKPT_SIGINFO_SIZE bytes */
};

#define CKPT_ITIMER_REAL 0
#define CKPT_ITIMER_VIRTUAL 1
#define CKPT_ITIMER_PROF 2

/* ckpt_proc_args.flags */
/* ITIMER_VIRTUAL or _PROF armed while the group's CPU-time sample is not kept
   (never seen: arming one starts it); their values are then not given. */
#define CKPT_PROC_ITIMER_CPU_UNREAD (1u << 0)

/*
 * CKPT_IOC_GET_PROC: process-wide state the first stopped thread recorded,
 * that userspace otherwise reads only by running syscalls inside the target:
 * brk, dumpable, THP disable, the dynamic xfeatures permitted
 * (ARCH_GET_XCOMP_PERM) and ITIMER_REAL (value and interval in ns, as
 * getitimer(2) reports it), ITIMER_VIRTUAL and ITIMER_PROF (the same, against
 * the thread group's CPU time as the kernel's timers sample it).
 */
struct ckpt_proc_args {
	__u32 size;     /* in: sizeof(struct ckpt_proc_args) */
	__u32 flags;    /* out: CKPT_PROC_* */
	__u64 brk;      /* out */
	__u32 dumpable; /* out: SUID_DUMP_* */
	__u32 thp_disable; /* out: PR_GET_THP_DISABLE */
	__u64 xcomp_perm;  /* out */
	__u64 itimer_real_value_ns;    /* out: 0 when disarmed */
	__u64 itimer_real_interval_ns; /* out */
	__u64 itimer_virt_value_ns;    /* out */
	__u64 itimer_virt_interval_ns; /* out */
	__u64 itimer_prof_value_ns;    /* out */
	__u64 itimer_prof_interval_ns; /* out */
};

#define CKPT_IOC_FREEZE         _IOWR(CKPT_IOC_MAGIC, 1, struct ckpt_freeze_args)
#define CKPT_IOC_GET_THREAD     _IOWR(CKPT_IOC_MAGIC, 2, struct ckpt_thread_args)
#define CKPT_IOC_GET_SIGACTIONS _IOWR(CKPT_IOC_MAGIC, 3, struct ckpt_sigactions_args)
#define CKPT_IOC_GET_PENDING    _IOWR(CKPT_IOC_MAGIC, 5, struct ckpt_pending_args)
#define CKPT_IOC_GET_PROC       _IOWR(CKPT_IOC_MAGIC, 6, struct ckpt_proc_args)
/* Thaw now; the same as closing the file. ENOENT when nothing is frozen. */
#define CKPT_IOC_THAW           _IO(CKPT_IOC_MAGIC, 4)
/* Returns CKPT_UAPI_VERSION. */
#define CKPT_IOC_VERSION        _IO(CKPT_IOC_MAGIC, 0)

#endif /* _UAPI_LINUX_CKPT_H */
