/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libckpt's kernel backend: drives /dev/ckpt (kmod/, uapi/linux/ckpt.h) to
 * freeze a process without ptrace and read each thread's state into the
 * same image records the ptrace engine writes (struct ckpt_img_thread,
 * struct ckpt_img_sigaction). Memory, VMAs, files and credentials are read
 * from /proc by the shared dump code while the process is frozen.
 */
#ifndef CKPT_KERNEL_ENGINE_H
#define CKPT_KERNEL_ENGINE_H

#include <stdint.h>
#include <sys/types.h>

#include "ckpt_image.h"
#include "err.h"

#define CKPT_KERNEL_DEV "/dev/ckpt"

struct ckpt_kfreeze {
	int fd; /* the freeze lives as long as this file */
	pid_t pid;
	uint32_t nr_threads;
	uint32_t xstate_size; /* bytes of one thread's NT_X86_XSTATE on this CPU */
};

/* /dev/ckpt opened (O_CLOEXEC) and its ABI version checked; -errno and why not. */
int ckpt_kernel_open(struct ckpt_err *e);
/* 0 when /dev/ckpt is there and speaks our ABI version; -errno and why not. */
int ckpt_kernel_probe(struct ckpt_err *e);
/* Freeze every thread of pid; timeout_ms 0: the module's default. */
int ckpt_kernel_freeze(struct ckpt_kfreeze *kf, pid_t pid, uint32_t timeout_ms,
		       struct ckpt_err *e);
/* Syscall user dispatch of one thread, as the module recorded it. */
struct ckpt_kdispatch {
	int known; /* the module reported it (one older than this libckpt does not) */
	uint32_t mode; /* PR_SYS_DISPATCH_ON (1) or off (0) */
	uint64_t selector, offset, len;
};
/* A thread's own prctl values, as the module recorded them. */
struct ckpt_ktprctl {
	int known; /* the module reported them (one older than this libckpt does not) */
	uint32_t securebits; /* PR_GET_SECUREBITS */
	uint32_t mce_kill; /* PR_MCE_KILL_GET */
	uint32_t tsc; /* PR_GET_TSC */
};
/*
 * Thread i as an image record: registers with the syscall restart applied as
 * the ptrace engine does, xstate into xstate[kf->xstate_size]. The leader is
 * the thread whose tid is the pid. sud (may be NULL): its syscall user
 * dispatch, which the image cannot hold. tp (may be NULL): its securebits,
 * machine-check kill policy and TSC mode (the image's TPRCTL record).
 */
int ckpt_kernel_thread(struct ckpt_kfreeze *kf, uint32_t i, struct ckpt_img_thread *it,
		       unsigned char *xstate, struct ckpt_kdispatch *sud, struct ckpt_ktprctl *tp,
		       struct ckpt_err *e);
/* The process's CKPT_NSIG signal dispositions. */
int ckpt_kernel_sigactions(struct ckpt_kfreeze *kf, struct ckpt_img_sigaction *out,
			   struct ckpt_err *e);
/*
 * Pending signals of thread i, or with i CKPT_KERNEL_SHARED of the process,
 * as image records into out[max]; *count: records written. A queue longer
 * than the module keeps is refused (-E2BIG) rather than cut short.
 */
#define CKPT_KERNEL_SHARED 0xffffffffu
int ckpt_kernel_pending(struct ckpt_kfreeze *kf, uint32_t i, struct ckpt_img_siginfo *out,
			uint32_t max, uint32_t *count, struct ckpt_err *e);
/* Process-wide state: brk, dumpable, THP, xcomp permission, the three
   itimers in the image's order (REAL, VIRTUAL, PROF). */
struct ckpt_kproc {
	uint64_t brk;
	uint32_t dumpable;
	uint32_t thp_disable;
	uint64_t xcomp_perm;
	struct ckpt_img_itimer itimers[3];
	int have_prctl; /* the module filled the two below */
	uint32_t pdeath_signal, child_subreaper;
	int have_mlock; /* the module filled mlock_future */
	uint32_t mlock_future; /* MCL_FUTURE | MCL_ONFAULT, or 0 */
};
int ckpt_kernel_proc(struct ckpt_kfreeze *kf, struct ckpt_kproc *out, struct ckpt_err *e);
/* Thaw and close; safe to call twice. */
void ckpt_kernel_thaw(struct ckpt_kfreeze *kf);

#endif
