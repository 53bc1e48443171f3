/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ckpt.ko: the ioctl ABI of /dev/ckpt, shared by kmod/ and native/.
 *
 * Every argument struct starts with its size in bytes, set by the caller to
 * sizeof() of the struct it was built with: the module refuses a size below
 * the struct's first version and a larger one whose bytes it does not know
 * are not zero (-EINVAL). Fields are only appended, each group with a bit in
 * an output flags word saying the module filled it, and CKPT_UAPI_VERSION
 * stays: an older caller passes its smaller size and gets what it knows. The
 * request numbers carry sizeof() too (_IOWR): the module matches a request
 * with an argument whatever size its number holds (the size field rules), so
 * an older caller's number still works; a module built before that knows
 * only its own numbers and answers a grown struct's with -ENOTTY. Only
 * fixed-width fields, explicit padding (which must be zero), pointers carried
 * in __u64.
 *
 * One open file of /dev/ckpt holds at most one freeze and at most one restore
 * session. Closing the file (or the death of its holder) thaws the process
 * and ends the session: both are owned by the file. An ioctl that finds
 * another one at work on the same file waits for it; a signal ends that
 * wait with EINTR.
 */
#ifndef _UAPI_LINUX_CKPT_H
#define _UAPI_LINUX_CKPT_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define CKPT_UAPI_VERSION 3
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
 * process is thawed again before the error returns; EAGAIN a thread exited,
 * or the process ran execve, while it was being frozen (nothing recorded
 * after an exec: it may be a set-id program's now; try again).
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
 * bytes 464..471: both exactly what PTRACE_GETREGSET gives. The struct may
 * be as short as CKPT_THREAD_ARGS_SIZE_VER1 or CKPT_THREAD_ARGS_SIZE_VER2
 * (then nothing appended after that size is given).
 * Errors: ENOENT no freeze on this file; EINVAL index out of range, bad size
 * or padding, a non-zero appended output; ENOSPC @xstate_size smaller than
 * the thread's xstate (the needed size is written back); EFAULT a bad pointer.
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
	/* appended (CKPT_THREAD_DISPATCH in flags says the four after it were
	   filled; a module without them leaves all five 0): */
	__u32 flags;             /* out: CKPT_THREAD_* */
	__u32 dispatch_mode;     /* out: syscall user dispatch, PR_SYS_DISPATCH_ON (1)
				    or PR_SYS_DISPATCH_OFF (0), as
				    PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG says */
	__u64 dispatch_selector; /* out: user address of its selector byte, or 0 */
	__u64 dispatch_offset;   /* out: the region whose syscalls are let through */
	__u64 dispatch_len;      /* out */
	/* appended (CKPT_THREAD_PRCTL in flags says the three after it were
	   filled): the thread's own prctl values, what it would read itself */
	__u32 securebits;        /* out: PR_GET_SECUREBITS (SECBIT_KEEP_CAPS: keepcaps) */
	__u32 mce_kill;          /* out: PR_MCE_KILL_GET, PR_MCE_KILL_LATE (0),
				    _EARLY (1) or _DEFAULT (2) */
	__u32 tsc;               /* out: PR_GET_TSC, PR_TSC_ENABLE (1) or _SIGSEGV (2) */
	__u32 __pad;             /* 0 */
};
#define CKPT_THREAD_ARGS_SIZE_VER1 296 /* up to rseq */
#define CKPT_THREAD_ARGS_SIZE_VER2 328 /* up to dispatch_len */

/* ckpt_thread_args.flags */
#define CKPT_THREAD_DISPATCH (1u << 0) /* dispatch_* filled */
#define CKPT_THREAD_PRCTL    (1u << 1) /* securebits, mce_kill and tsc filled */

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
#define CKPT_PROC_PRCTL (1u << 1) /* pdeath_signal, child_subreaper filled */
#define CKPT_PROC_MLOCK (1u << 2) /* mlock_future filled */

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
	/* appended (CKPT_PROC_PRCTL in flags says they were filled): */
	__u32 pdeath_signal;   /* out: the leader's PR_GET_PDEATHSIG */
	__u32 child_subreaper; /* out: PR_GET_CHILD_SUBREAPER */
	/* appended (CKPT_PROC_MLOCK in flags says it was filled): */
	__u32 mlock_future; /* out: mlockall's MCL_FUTURE (2) | MCL_ONFAULT (4) in
			       effect (the mm's default flags), or 0 */
	__u32 pad;          /* out: 0 */
};
#define CKPT_PROC_ARGS_SIZE_VER1 80 /* up to itimer_prof_interval_ns */


/*
 * Restart help (version 3): a restore session on an open file.
 *
 * CKPT_IOC_RESTORE_BEGIN reads the image at @image_fd (a regular file open
 * for reading; the module reads it with its own file position, the caller's
 * offset is not moved), checks it (magic, version, header, section headers,
 * the PROC, THREAD and TREE payloads and the END order checksum) and collects
 * every process and thread id and each process's credentials. Unless the
 * caller has CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN over its PID
 * namespace's owner (then every id is allowed: @privileged is 1), the
 * session is refused when any process's uids, gids, supplementary groups are
 * not exactly the caller's, or it holds a capability the caller does not:
 * EACCES, with @bad_pid and @bad_what saying which and what.
 * Errors: EBADF @image_fd not open for reading; EINVAL bad size, flags,
 * non-zero output field, not a regular file; EBADMSG the image is not valid
 * (@bad_offset: the file offset of the part that is wrong); E2BIG more
 * processes, threads or sections than the module reads (4096 processes,
 * 4096 threads a process, 65536 ids, 1 << 20 sections); EBUSY the file has a
 * session already; EINTR a fatal signal while reading.
 */
#define CKPT_RESTORE_BAD_UIDS   1 /* real, effective, saved or fs uid */
#define CKPT_RESTORE_BAD_GIDS   2 /* real, effective, saved or fs gid */
#define CKPT_RESTORE_BAD_GROUPS 3 /* supplementary groups */
#define CKPT_RESTORE_BAD_CAPS   4 /* a capability the caller does not have */

struct ckpt_restore_args {
	__u32 size;       /* in: sizeof(struct ckpt_restore_args) */
	__u32 flags;      /* in: 0 */
	__u32 image_fd;   /* in */
	__u32 nr_procs;   /* out: processes with a PROC section */
	__u32 nr_ids;     /* out: ids the session allows (pids, tids, pgids, sids) */
	__u32 privileged; /* out: 1 when every free id is allowed */
	__u32 bad_pid;    /* out, EACCES: the image's process whose credentials differ */
	__u32 bad_what;   /* out, EACCES: CKPT_RESTORE_BAD_* */
	__u64 bad_offset; /* out, EBADMSG: file offset of what is wrong */
};

/*
 * CKPT_IOC_NEXT_PID: make @pid the next id the caller's active PID namespace
 * hands out (what a write to /proc/sys/kernel/ns_last_pid does with
 * CAP_CHECKPOINT_RESTORE), so the caller's next clone, of a process or of a
 * thread, gets it unless another fork takes it first: the caller must check
 * the id it got. Errors: ENOENT no session; EPERM @pid is not an id of the
 * session's image, or (unprivileged) is below 300 (RESERVED_PIDS, the ids
 * of early system daemons), or the caller may not use the session (below);
 * EBUSY @pid is in use (a process, thread, group or session); EINVAL bad
 * size or padding, @pid 0 or above PID_MAX_LIMIT.
 *
 * Who may use a session (NEXT_PID and SET_EXE; EPERM otherwise): a caller in
 * the PID namespace RESTORE_BEGIN ran in; with every id when it has
 * CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN over that namespace's owner now
 * (not when the session began); without, only with the uids, gids and
 * groups of the session's beginner, and never a session begun with the
 * capability.
 */
struct ckpt_next_pid_args {
	__u32 size; /* in: sizeof(struct ckpt_next_pid_args) */
	__u32 pid;  /* in */
};

/*
 * CKPT_IOC_SET_EXE: replace the /proc/PID/exe link of process @pid by the
 * file open at @exe_fd, what PR_SET_MM_MAP's exe_fd does with
 * CAP_CHECKPOINT_RESTORE. @pid must be a process of the session's image
 * that the caller traces (the restorer) or is the parent of and
 * (unprivileged) the caller's own: its real, effective and saved uids and
 * gids the caller's real ones, and dumpable; the file must
 * be the one the image recorded (the same path), a regular file the caller
 * may execute, on a mount that allows exec, and (unprivileged) neither
 * set-user-id nor set-group-id.
 * Errors: ENOENT no session; ESRCH no such process; EPERM @pid is not a
 * process of the image, or the caller neither traces it nor is its parent,
 * or it is not the caller's own, or the caller may not use the session;
 * EBADF @exe_fd; EXDEV not the file the image recorded; EACCES not
 * executable by the caller, not a regular file, a noexec mount or set-id;
 * ETXTBSY the file is open for writing; EBUSY the old exe is still mapped
 * in the process; EINVAL bad size or padding.
 */
struct ckpt_set_exe_args {
	__u32 size;   /* in: sizeof(struct ckpt_set_exe_args) */
	__u32 pid;    /* in */
	__u32 exe_fd; /* in */
	__u32 pad;    /* in: 0 */
};

#define CKPT_IOC_FREEZE         _IOWR(CKPT_IOC_MAGIC, 1, struct ckpt_freeze_args)
#define CKPT_IOC_GET_THREAD     _IOWR(CKPT_IOC_MAGIC, 2, struct ckpt_thread_args)
#define CKPT_IOC_GET_SIGACTIONS _IOWR(CKPT_IOC_MAGIC, 3, struct ckpt_sigactions_args)
#define CKPT_IOC_GET_PENDING    _IOWR(CKPT_IOC_MAGIC, 5, struct ckpt_pending_args)
#define CKPT_IOC_GET_PROC       _IOWR(CKPT_IOC_MAGIC, 6, struct ckpt_proc_args)
#define CKPT_IOC_RESTORE_BEGIN  _IOWR(CKPT_IOC_MAGIC, 7, struct ckpt_restore_args)
#define CKPT_IOC_NEXT_PID       _IOW(CKPT_IOC_MAGIC, 8, struct ckpt_next_pid_args)
#define CKPT_IOC_SET_EXE        _IOW(CKPT_IOC_MAGIC, 9, struct ckpt_set_exe_args)
/* Thaw now; the same as closing the file. ENOENT when nothing is frozen. */
#define CKPT_IOC_THAW           _IO(CKPT_IOC_MAGIC, 4)
/* Returns CKPT_UAPI_VERSION. */
#define CKPT_IOC_VERSION        _IO(CKPT_IOC_MAGIC, 0)

#endif /* _UAPI_LINUX_CKPT_H */
