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
 * these registers, without that block): -516 becomes -EINTR, as a signal
 * would have made it. Returns 1 if the thread was in an interrupted syscall.
 */
int ckpt_regs_fixup_restart(struct user_regs_struct *r, int for_image);

/* waitpid(tid, __WALL) until it stops; *status gets the wait status. */
int ckpt_wait_stopped(pid_t tid, int *status, struct ckpt_err *e);

/* Address of a `syscall` (0f 05) instruction in the target's [vdso]. */
int ckpt_find_syscall_insn(pid_t pid, uint64_t *addr, struct ckpt_err *e);

/*
 * Run syscall `nr` with up to six arguments in stopped thread `tid`.
 * *ret gets the raw return value (-errno on failure, as the kernel returns
 * it). The call itself fails (returns -errno) only if ptrace does.
 */
int ckpt_inject_syscall(pid_t tid, uint64_t syscall_ip, long nr, const long args[6], long *ret,
			uint64_t *deferred_sigs, struct ckpt_err *e);

#endif
