/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ptrace helpers shared by checkpoint and restart: register access, waiting
 * for stops, and syscall injection into a stopped thread.
 *
 * Injection points the thread's rip at a `syscall` instruction the target
 * already has (its [vdso] has one; ckpt_find_syscall_insn finds it) with
 * orig_rax = -1 so the kernel's restart logic leaves it alone, steps it with
 * PTRACE_SYSCALL to the syscall-entry and -exit stops (the tracee must be
 * seized/attached with PTRACE_O_TRACESYSGOOD), reads rax and puts every
 * register back. ~10-14 us per call here.
 *
 * Block the thread's signals (PTRACE_SETSIGMASK) around a batch of
 * injections: a signal-delivery stop in the middle is suppressed and its
 * number reported in *deferred_sigs so the caller can re-deliver it.
 */
#ifndef CKPT_PTRACE_H
#define CKPT_PTRACE_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "err.h"

/* Interrupted-syscall codes the kernel keeps in rax while a thread is stopped. */
#define CKPT_ERESTARTSYS 512
#define CKPT_ERESTARTNOINTR 513
#define CKPT_ERESTARTNOHAND 514
#define CKPT_ERESTART_RESTARTBLOCK 516

int ckpt_getregs(pid_t tid, struct user_regs_struct *r, struct ckpt_err *e);
int ckpt_setregs(pid_t tid, const struct user_regs_struct *r, struct ckpt_err *e);

/*
 * Apply the kernel's syscall-restart fix-up to registers read from a thread
 * stopped inside a syscall, so that setting them back re-enters the syscall.
 * for_image = 0 (the live task resumes): -516 becomes restart_syscall, which
 * uses the task's kernel restart block. for_image = 1 (a new task will run
 * these registers, without that block): -516 re-enters poll, nanosleep,
 * clock_nanosleep and futex with their original arguments and becomes
 * -EINTR for any other call. Returns 1 if the thread was in an interrupted
 * syscall.
 */
int ckpt_regs_fixup_restart(struct user_regs_struct *r, int for_image);

/* waitpid(tid, __WALL) until it stops; *status gets the wait status. */
int ckpt_wait_stopped(pid_t tid, int *status, struct ckpt_err *e);

/* The state letter of /proc/PID/stat ('R', 'S', 'T', 'Z', 'X', ...), or 0
   when there is no such process (or its stat cannot be read). */
char ckpt_proc_state(pid_t pid);
char ckpt_task_state(pid_t pid, pid_t tid); /* of thread tid of pid; 0 if gone */

/* The start of a small file (a /proc one) into buf, NUL-terminated: its
   length, or -1 if it cannot be opened or is empty. */
ssize_t ckpt_read_small(const char *path, char *buf, size_t len);

/* Address of a `syscall` (0f 05) instruction in the target's [vdso]. */
int ckpt_find_syscall_insn(pid_t pid, uint64_t *addr, struct ckpt_err *e);

/*
 * Run syscall `nr` with up to six arguments in stopped thread `tid`.
 * *ret gets the raw return value (-errno on failure, as the kernel returns
 * it). The call itself fails (returns -errno) only if ptrace does.
 */
int ckpt_inject_syscall(pid_t tid, uint64_t syscall_ip, long nr, const long args[6], long *ret,
			uint64_t *deferred_sigs, struct ckpt_err *e);

/*
 * Self-healing injection, for a tracer that may die at any instant (the
 * daemon OOM-killed mid-checkpoint): the kernel then detaches the thread and
 * it runs on with whatever registers it holds, which with plain injection
 * is the injected context (a crash).
 *
 * A gadget `syscall; mov $15,%eax; syscall` (and a second part for probe
 * mappings, below) is written into the zero padding at the end of the
 * target's [vdso] (a private copy of that page; the bytes
 * are never executed by the target and are zeroed again afterwards). Before
 * the first injection into a thread, an rt_sigframe holding the thread's own
 * registers (restart fix-up applied), xstate (with the sw_reserved/magic2
 * the kernel requires, else it silently restores FX only) and sigmask is
 * written below its stack pointer's red zone, and the thread is parked at
 * the gadget's rt_sigreturn with rsp at the frame. Each syscall runs from
 * the gadget with that rsp. Whenever the tracer vanishes (before, during or
 * after a syscall, or between two), the thread continues into rt_sigreturn
 * and resumes exactly where it was frozen. Disarming puts the registers back
 * and the stack bytes under the frame as they were. No page is mapped in the
 * target: syscall results go to an area below the frame (ckpt_heal.out).
 *
 * Limits: the bytes below rsp - 128 must belong to the thread's stack (the
 * x86-64 ABI's promise, on which signal delivery relies as well): the frame
 * (a signal frame's size) plus the result area (out_len, 4 KiB for a
 * checkpoint) are written there, and stay written if the tracer dies, so a
 * thread on a stack with live data less than that far below sp (a small
 * coroutine stack) would have it overwritten; a
 * restart-block syscall (nanosleep) interrupted by the freeze returns EINTR
 * when the tracer dies, as after a signal handler.
 */
struct ckpt_heal {
	pid_t pid, tid;
	int armed;
	uint64_t gadget; /* the gadget's first `syscall` */
	struct user_regs_struct regs; /* the thread's own, as frozen (raw) */
	uint64_t frame_sp; /* rsp while injecting: frame address + 8 */
	uint64_t out; /* out_len bytes for syscall results, below the frame */
	uint64_t tab; /* batch table below the result area (ckpt_heal_run) */
	uint32_t tab_cap; /* its entries; 0 when the stack has no room for it */
	uint64_t lo; /* stack bytes [lo, lo + len) overwritten, saved here */
	size_t len;
	unsigned char *saved;
};

/* Write the gadget into pid's [vdso]; *addr gets its address. */
int ckpt_gadget_install(pid_t pid, uint64_t *addr, struct ckpt_err *e);
/* Zero the gadget's bytes again (they were zero padding). */
int ckpt_gadget_remove(pid_t pid, uint64_t addr, struct ckpt_err *e);
/* Frame and park stopped thread tid (of process pid) for self-healing
   injections; out_len bytes of result area below the frame. */
int ckpt_heal_arm(struct ckpt_heal *h, pid_t pid, pid_t tid, uint64_t gadget, size_t out_len,
		  struct ckpt_err *e);
/* ckpt_inject_syscall's contract, through the gadget; the thread stays
   parked at rt_sigreturn afterwards. ckpt_heal_run with one call. */
int ckpt_heal_syscall(struct ckpt_heal *h, long nr, const long args[6], long *ret,
		      uint64_t *deferred_sigs, struct ckpt_err *e);
/* An mmap (args) injected through the gadget's second part, which unmaps
   what it returned on its own once the thread runs on: look(arg, its return
   value) is called while the mapping exists (its return value is this
   call's, unless the injection failed). A tracer that dies at any instant
   leaves nothing mapped. The thread stays parked at rt_sigreturn. */
int ckpt_heal_mmap_probe(struct ckpt_heal *h, const long args[6],
			 int (*look)(void *arg, long addr), void *arg, uint64_t *deferred_sigs,
			 struct ckpt_err *e);

/* One call of a queue: nr and args from the caller, ret (the raw return
   value, -errno as the kernel returns it) from ckpt_heal_run. */
struct ckpt_heal_call {
	long nr;
	long args[6];
	long ret;
};

/* The calls to make in one armed thread, in this order. */
struct ckpt_heal_queue {
	struct ckpt_heal *h;
	struct ckpt_heal_call *calls;
	uint32_t n;
	/* set by ckpt_heal_run */
	uint32_t done; /* calls[0..done) completed, their ret valid */
	uint64_t deferred; /* signal-delivery stops suppressed meanwhile */
	/* from the caller: a signal that ends a batch, or 0 (below) */
	int sig;
	int failed;
	int phase; /* 0 parked, 1 before its syscall-entry stop, 2 before the exit,
		      3 running a batch */
	uint32_t batch; /* calls in the batch under way */
	int mask_set; /* its sigmask is the batch's: put `mask` back */
	uint64_t mask;
	uint64_t since; /* order in which the threads were last resumed */
};

/*
 * The queues of several armed threads, of one process or many, at once:
 * each thread's calls in order, the threads concurrently. Every thread is
 * resumed into its first call, then each one that stops is handled and
 * resumed into its next call while the others run, so their ptrace stops
 * (two per call, each waiting for a CPU for the target) overlap instead of
 * adding up. Self-healing holds throughout: each thread only ever runs the
 * gadget from its own frame. 0 when every call ran; else -errno with the
 * message of the first failure (thread and call named): no new call is
 * started after it, the calls under way complete, and every thread ends
 * parked; queues[i].done tells what ran.
 *
 * Batches: with queues[i].sig set (and the thread on the main thread's own
 * stack, [stack], with room for the table below the result area: anywhere
 * else sp may be on a stack carved out of a larger mapping, with live data
 * just below, so no more than the frame and result area is written there),
 * up to tab_cap calls are written into the table under the frame
 * and run by the gadget's loop part with no stop between them, ending with
 * tgkill(sig) to the thread itself, whose delivery stop tells the tracer
 * they are done (two stops for the batch instead of two per call). The
 * thread's sigmask during the batch is every signal but sig. Should the
 * tracer vanish meanwhile, the loop ends, the signal is discarded and the
 * thread runs rt_sigreturn as ever: so only calls that change nothing (the
 * checkpoint's queries) may be batched, and sig must be one the process
 * discards on arrival: not caught, ignored (SIG_IGN, or SIG_DFL of SIGCHLD,
 * SIGURG, SIGWINCH; never SIGCONT or a stop signal, whose sending alone
 * changes other pending signals), not blocked by the thread, and not
 * pending (the caller's choice: dump_state.c). A copy of sig sent by
 * someone else meanwhile is discarded, as the process would have.
 */
int ckpt_heal_run(struct ckpt_heal_queue *queues, uint32_t n, struct ckpt_err *e);
/* The thread's own registers back, then the stack bytes under the frame.
   Put the thread's sigmask back before (the frame holds it meanwhile). */
int ckpt_heal_disarm(struct ckpt_heal *h, struct ckpt_err *e);

#endif
