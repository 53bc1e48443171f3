// SPDX-License-Identifier: BSD-3-Clause
#include "ptrace.h"

#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt.h"
#include "cpu.h"

#define PTRACE_GETSIGMASK_ 0x420a
#define PTRACE_SETSIGMASK_ 0x420b

int ckpt_getregs(pid_t tid, struct user_regs_struct *r, struct ckpt_err *e)
{
	if (ptrace(PTRACE_GETREGS, tid, 0, r) < 0)
		return ckpt_fail_errno(e, errno, "ptrace getregs %d", tid);
	return 0;
}

int ckpt_setregs(pid_t tid, const struct user_regs_struct *r, struct ckpt_err *e)
{
	if (ptrace(PTRACE_SETREGS, tid, 0, r) < 0)
		return ckpt_fail_errno(e, errno, "ptrace setregs %d", tid);
	return 0;
}

/*
 * Calls interrupted with -ERESTART_RESTARTBLOCK whose new task enters them
 * again rather than returning EINTR: poll(-1) (tail -f) and a sleep to an
 * absolute time come back exactly as they were; a relative timeout (poll,
 * nanosleep, a futex wait) starts again from its full length, which a
 * program sees as a longer wait, never as an error it may not handle.
 */
static int restart_block_reenters(long nr)
{
	return nr == SYS_poll || nr == SYS_nanosleep || nr == SYS_clock_nanosleep ||
	       nr == SYS_futex;
}

int ckpt_regs_fixup_restart(struct user_regs_struct *r, int for_image)
{
	if ((long)r->orig_rax < 0)
		return 0;
	switch ((long)r->rax) {
	case -CKPT_ERESTARTSYS:
	case -CKPT_ERESTARTNOINTR:
	case -CKPT_ERESTARTNOHAND:
		r->rax = r->orig_rax;
		r->rip -= 2;
		return 1;
	case -CKPT_ERESTART_RESTARTBLOCK:
		if (for_image && restart_block_reenters((long)r->orig_rax)) {
			/* a new task has no restart block: it enters the call again
			   with its original arguments (still in its registers) */
			r->rax = r->orig_rax;
			r->rip -= 2;
		} else if (for_image) {
			r->rax = (uint64_t)-EINTR;
		} else {
			r->rax = SYS_restart_syscall;
			r->rip -= 2;
		}
		return 1;
	}
	return 0;
}

int ckpt_wait_stopped(pid_t tid, int *status, struct ckpt_err *e)
{
	for (;;) {
		pid_t w = waitpid(tid, status, __WALL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return ckpt_fail_errno(e, errno, "waitpid %d", tid);
		}
		if (WIFSTOPPED(*status))
			return 0;
		if (WIFEXITED(*status))
			return ckpt_fail(e, ESRCH, "thread %d exited (status %d) while being traced",
					 tid, WEXITSTATUS(*status));
		if (WIFSIGNALED(*status))
			return ckpt_fail(e, ESRCH, "thread %d was killed by signal %d while traced",
					 tid, WTERMSIG(*status));
	}
}

int ckpt_find_syscall_insn(pid_t pid, uint64_t *addr, struct ckpt_err *e)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return ckpt_fail_errno(e, errno, "open %s", path);
	uint64_t lo = 0, hi = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "[vdso]")) {
			sscanf(line, "%lx-%lx", &lo, &hi);
			break;
		}
	}
	fclose(f);
	if (!lo)
		return ckpt_fail(e, ENOENT, "process %d has no [vdso] mapping", pid);
	size_t len = hi - lo;
	unsigned char *buf = malloc(len);
	if (!buf)
		return ckpt_fail(e, ENOMEM, "no memory for vdso copy");
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return ckpt_fail_errno(e, errno, "open %s", path);
	}
	ssize_t n = pread(fd, buf, len, (off_t)lo);
	int saved = errno;
	close(fd);
	if (n < 2) {
		free(buf);
		return ckpt_fail_errno(e, n < 0 ? saved : EIO, "read [vdso] of %d", pid);
	}
	for (ssize_t i = 0; i + 1 < n; i++) {
		if (buf[i] == 0x0f && buf[i + 1] == 0x05) {
			*addr = lo + i;
			free(buf);
			return 0;
		}
	}
	free(buf);
	return ckpt_fail(e, ENOENT, "no syscall instruction in [vdso] of %d", pid);
}

/* Continue with PTRACE_SYSCALL until a syscall stop (SIGTRAP|0x80). */
static int step_to_syscall_stop(pid_t tid, uint64_t *deferred, struct ckpt_err *e)
{
	int sig = 0;
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, tid, 0, sig) < 0)
			return ckpt_fail_errno(e, errno, "ptrace syscall %d", tid);
		sig = 0;
		int st;
		int r = ckpt_wait_stopped(tid, &st, e);
		if (r)
			return r;
		int s = WSTOPSIG(st);
		if (s == (SIGTRAP | 0x80))
			return 0;
		if (st >> 16) /* a ptrace event stop: nothing to deliver */
			continue;
		/* The injected instruction faulted (an unmapped or non-executable
		   syscall_ip): stepping again would fault forever. */
		if (s == SIGSEGV || s == SIGBUS || s == SIGILL || s == SIGFPE) {
			siginfo_t si;
			memset(&si, 0, sizeof(si));
			ptrace(PTRACE_GETSIGINFO, tid, 0, &si);
			if (si.si_code > 0)
				return ckpt_fail(e, EFAULT,
						 "injected syscall in %d faulted (signal %d at %p)",
						 tid, s, si.si_addr);
		}
		/* A signal-delivery stop: hold the signal back for the caller. */
		if (s > 0 && s <= 64 && deferred)
			*deferred |= 1ull << (s - 1);
	}
}

/* Syscall nr with its six arguments in the registers the syscall
   instruction takes them from; orig_rax -1: the stop is not inside a
   syscall, so the kernel's restart handling leaves rip and rax alone. */
static void syscall_regs(struct user_regs_struct *r, long nr, const long args[6])
{
	r->rax = nr;
	r->orig_rax = (uint64_t)-1;
	r->rdi = args[0];
	r->rsi = args[1];
	r->rdx = args[2];
	r->r10 = args[3];
	r->r8 = args[4];
	r->r9 = args[5];
}

int ckpt_inject_syscall(pid_t tid, uint64_t syscall_ip, long nr, const long args[6], long *ret,
			uint64_t *deferred_sigs, struct ckpt_err *e)
{
	struct user_regs_struct saved, r;
	int rc = ckpt_getregs(tid, &saved, e);
	if (rc)
		return rc;
	r = saved;
	r.rip = syscall_ip;
	syscall_regs(&r, nr, args);
	rc = ckpt_setregs(tid, &r, e);
	if (rc)
		return rc;
	rc = step_to_syscall_stop(tid, deferred_sigs, e); /* entry */
	if (!rc)
		rc = step_to_syscall_stop(tid, deferred_sigs, e); /* exit */
	if (!rc) {
		rc = ckpt_getregs(tid, &r, e);
		if (!rc)
			*ret = (long)r.rax;
	}
	int rc2 = ckpt_setregs(tid, &saved, e);
	if (rc)
		ckpt_err_prefix(e, "inject syscall %ld into %d", nr, tid);
	return rc ? rc : rc2;
}

/* ---- self-healing injection (ptrace.h) ----------------------------------- */

/*
 * 0: syscall; 2: mov $15,%eax (rt_sigreturn); 7: syscall
 * 9: syscall (an injected mmap); 11: mov %rax,%rdi; 14: mov $11,%eax (munmap);
 *    19: syscall (munmap of what the mmap returned, rsi still its length);
 *    21: mov $15,%eax; 26: syscall (rt_sigreturn)
 * The second part maps something for the tracer to look at and unmaps it on
 * its own: a tracer that dies in between leaves nothing mapped.
 */
static const unsigned char gadget_code[112] = {
	0x0f, 0x05, 0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05,		  /* 0..8 */
	0x0f, 0x05, 0x48, 0x89, 0xc7, 0xb8, 0x0b, 0x00, 0x00, 0x00, 0x0f, 0x05, /* 9..20 */
	0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x00, 0x00, 0x00, 0x00,	  /* 21..31 */
	/* 32: mov (%r12),%rax; mov 8(%r12),%rdi; mov 16(%r12),%rsi;
	   mov 24(%r12),%rdx; mov 32(%r12),%r10; mov 40(%r12),%r8;
	   mov 48(%r12),%r9; syscall; mov %rax,56(%r12); add $64,%r12;
	   dec %r13; jnz 32 */
	0x49, 0x8b, 0x04, 0x24, 0x49, 0x8b, 0x7c, 0x24, 0x08, 0x49, 0x8b, 0x74, 0x24, 0x10,
	0x49, 0x8b, 0x54, 0x24, 0x18, 0x4d, 0x8b, 0x54, 0x24, 0x20, 0x4d, 0x8b, 0x44, 0x24,
	0x28, 0x4d, 0x8b, 0x4c, 0x24, 0x30, 0x0f, 0x05, 0x49, 0x89, 0x44, 0x24, 0x38, 0x49,
	0x83, 0xc4, 0x40, 0x49, 0xff, 0xcd, 0x75, 0xce,
	/* 82: mov $234,%eax (tgkill); mov %r14,%rdi; mov %r15,%rsi; mov %rbx,%rdx;
	   syscall; 98: mov $15,%eax; syscall (rt_sigreturn) */
	0xb8, 0xea, 0x00, 0x00, 0x00, 0x4c, 0x89, 0xf7, 0x4c, 0x89, 0xfe, 0x48, 0x89, 0xda,
	0x0f, 0x05, 0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05,
};
#define GADGET_RESUME 2 /* offset of the rt_sigreturn part */
#define GADGET_PROBE 9 /* the mmap that unmaps itself */
#define GADGET_PROBE_UNMAPPED 21 /* after the probe's munmap */
#define GADGET_BATCH 32 /* the loop over a table of calls (ckpt_heal_run) */
#define GADGET_BATCH_STOP 98 /* after its tgkill: its rt_sigreturn */
#define GADGET_V1_LEN 9 /* the first part alone: what checkpointers before the
			   probe wrote, in the last 16 bytes of [vdso] */
#define GADGET_V2_LEN 32 /* the first two parts: before the batch part */
#define HEAL_TAB_SIZE 4096 /* a batch table: 64 calls of 64 bytes */

/* The mapping named `name` in pid's maps (or the one holding addr if name is
   NULL): start, end and whether it is writable (bit 0) and the main
   thread's stack, "[stack]" (bit 1). */
static int find_mapping(pid_t pid, const char *name, uint64_t addr, uint64_t *lo, uint64_t *hi,
			int *writable, struct ckpt_err *e)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return ckpt_fail_errno(e, errno, "open %s", path);
	int found = 0;
	while (!found && fgets(line, sizeof(line), f)) {
		uint64_t a, b;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3)
			continue;
		if (name ? strstr(line, name) != NULL : (addr >= a && addr < b)) {
			*lo = a;
			*hi = b;
			size_t n = strlen(line);
			while (n && line[n - 1] == '\n')
				n--;
			*writable = (perms[1] == 'w') |
				    (n >= 8 && !strncmp(line + n - 8, " [stack]", 8) ? 2 : 0);
			found = 1;
		}
	}
	fclose(f);
	if (!found && name)
		return ckpt_fail(e, ENOENT, "process %d has no %s mapping", pid, name);
	if (!found)
		return ckpt_fail(e, EFAULT, "no mapping of %d holds 0x%llx", pid,
				 (unsigned long long)addr);
	return 0;
}

/* /proc/PID/mem writes reach read-only pages too (a private copy of them). */
static int mem_rw(pid_t pid, int write, uint64_t addr, void *buf, size_t len, struct ckpt_err *e)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	int fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return ckpt_fail_errno(e, errno, "open %s", path);
	ssize_t n = write ? pwrite(fd, buf, len, (off_t)addr) : pread(fd, buf, len, (off_t)addr);
	int err = errno;
	close(fd);
	if (n != (ssize_t)len)
		return ckpt_fail_errno(e, n < 0 ? err : EIO, "%s %zu bytes at 0x%llx of %d",
				       write ? "write" : "read", len, (unsigned long long)addr, pid);
	return 0;
}

int ckpt_gadget_install(pid_t pid, uint64_t *addr, struct ckpt_err *e)
{
	uint64_t lo, hi;
	int w;
	int rc = find_mapping(pid, "[vdso]", 0, &lo, &hi, &w, e);
	if (rc)
		return rc;
	uint64_t at = hi - sizeof(gadget_code);
	unsigned char old[sizeof(gadget_code)];
	static const unsigned char zero[sizeof(gadget_code)];
	if ((rc = mem_rw(pid, 0, at, old, sizeof(old), e)))
		return rc;
	/* zero padding, or the gadget a checkpointer that died left there (this
	   one's, or an older one's: its first part in the last 16 bytes, or its
	   first two in the last 32) */
	const size_t n = sizeof(old);
	int v1 = !memcmp(old, zero, n - 16) && !memcmp(old + n - 16, gadget_code, GADGET_V1_LEN) &&
		 !memcmp(old + n - 16 + GADGET_V1_LEN, zero, 16 - GADGET_V1_LEN);
	int v2 = !memcmp(old, zero, n - GADGET_V2_LEN) &&
		 !memcmp(old + n - GADGET_V2_LEN, gadget_code, GADGET_V2_LEN);
	if (memcmp(old, zero, n) && memcmp(old, gadget_code, n) && !v1 && !v2)
		return ckpt_fail(e, ENOSPC,
				 "no zero padding for the injection gadget at the end of [vdso] of "
				 "%d (0x%llx): expected %zu zero bytes",
				 pid, (unsigned long long)at, sizeof(old));
	if ((rc = mem_rw(pid, 1, at, (void *)gadget_code, sizeof(gadget_code), e)))
		return rc;
	*addr = at;
	return 0;
}

int ckpt_gadget_remove(pid_t pid, uint64_t addr, struct ckpt_err *e)
{
	unsigned char zero[sizeof(gadget_code)] = {0};
	return mem_rw(pid, 1, addr, zero, sizeof(zero), e);
}

/* The kernel's struct sigcontext / ucontext / rt_sigframe for x86-64. */
struct heal_sigcontext {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2, fpstate, reserved1[8];
};
struct heal_frame {
	uint64_t pretcode;
	uint64_t uc_flags, uc_link;
	uint64_t ss_sp;
	int32_t ss_flags, ss_pad;
	uint64_t ss_size;
	struct heal_sigcontext mc;
	uint64_t uc_sigmask;
	unsigned char info[128];
};
_Static_assert(sizeof(struct heal_sigcontext) == 256, "struct sigcontext is 256 bytes");
_Static_assert(offsetof(struct heal_frame, uc_sigmask) == 304, "uc_sigmask at 304");

#define UC_FP_XSTATE_ 0x1
#define UC_SIGCONTEXT_SS_ 0x2
#define UC_STRICT_RESTORE_SS_ 0x4
#define FP_XSTATE_MAGIC1_ 0x46505853u
#define FP_XSTATE_MAGIC2_ 0x46505845u
#define XFEATURE_MASK_XTILE_DATA_ (1ull << 18) /* dynamic: needs a permission */

/* Bytes of a standard-format xsave area holding the features in mask. */
static uint32_t xsave_size(uint64_t mask)
{
	uint32_t size = 512 + 64;
	for (int i = 2; i < 63; i++) {
		if (!(mask & (1ull << i)))
			continue;
		unsigned a = 0, b = 0, c = 0, d = 0;
		__cpuid_count(0xd, i, a, b, c, d);
		if (b + a > size)
			size = b + a;
	}
	return size;
}

int ckpt_heal_arm(struct ckpt_heal *h, pid_t pid, pid_t tid, uint64_t gadget, size_t out_len,
		  struct ckpt_err *e)
{
	memset(h, 0, sizeof(*h));
	h->pid = pid;
	h->tid = tid;
	h->gadget = gadget;
	int rc = ckpt_getregs(tid, &h->regs, e);
	if (rc)
		return rc;
	uint64_t mask;
	if (ptrace(PTRACE_GETSIGMASK_, tid, 8, &mask) < 0)
		return ckpt_fail_errno(e, errno, "ptrace getsigmask %d", tid);
	uint32_t xmax = ckpt_xstate_max();
	unsigned char *xs = calloc(1, xmax);
	if (!xs)
		return ckpt_fail(e, ENOMEM, "no memory for the xstate of %d", tid);
	struct iovec iov = {xs, xmax};
	if (ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov) < 0) {
		free(xs);
		return ckpt_fail_errno(e, errno, "ptrace getregset xstate %d", tid);
	}
	/* What the kernel takes back from a signal frame: a thread without the
	   AMX permission has no room for tile data, so tile data goes in only if
	   the thread uses it (XSTATE_BV), which proves the permission. */
	uint64_t xcr0 = ckpt_xcr0(), feat = 0, bv = 0;
	uint32_t fsize = 512;
	if (xcr0 && iov.iov_len >= 512 + 64) {
		memcpy(&bv, xs + 512, 8);
		feat = (bv & XFEATURE_MASK_XTILE_DATA_) ? xcr0 : xcr0 & ~XFEATURE_MASK_XTILE_DATA_;
		fsize = xsave_size(feat);
		if (fsize > iov.iov_len)
			fsize = (uint32_t)iov.iov_len;
	}
	uint64_t top = h->regs.rsp - 128; /* below the red zone */
	uint64_t fp = (top - fsize - 4) & ~63ull;
	uint64_t frame = ((fp - sizeof(struct heal_frame)) & ~15ull) - 8;
	h->out = (frame - out_len) & ~63ull;
	h->tab = h->out - HEAL_TAB_SIZE;
	h->frame_sp = frame + 8;
	uint64_t vlo, vhi;
	int w;
	rc = find_mapping(pid, NULL, h->regs.rsp - 1, &vlo, &vhi, &w, e);
	/* the batch table only on the main thread's own stack ([stack]), and
	   where it has room: elsewhere sp may be on a stack a program carved
	   out of a larger mapping (a coroutine, a green thread) with live data
	   close below it, and the frame and result area, whose size a signal
	   frame's plus DUMP_OUT_SIZE, is all a thread there is asked to hold
	   (ptrace.h) */
	h->tab_cap = !rc && (w & 2) && h->tab >= vlo ? HEAL_TAB_SIZE / 64 : 0;
	h->lo = h->tab_cap ? h->tab : h->out;
	h->len = top - h->lo;
	if (!rc && (!(w & 1) || h->lo < vlo))
		rc = ckpt_fail(e, ENOSPC,
			       "thread %d: its stack mapping (0x%llx-0x%llx%s) has no room for the "
			       "%zu bytes the injection frame needs below sp 0x%llx",
			       tid, (unsigned long long)vlo, (unsigned long long)vhi,
			       (w & 1) ? "" : ", not writable", h->len + 128,
			       (unsigned long long)h->regs.rsp);
	unsigned char *img = rc ? NULL : calloc(1, h->len);
	h->saved = rc ? NULL : malloc(h->len);
	if (!rc && (!img || !h->saved))
		rc = ckpt_fail(e, ENOMEM, "no memory for the injection frame of %d", tid);
	if (!rc)
		rc = mem_rw(pid, 0, h->lo, h->saved, h->len, e);
	if (rc) {
		free(xs);
		free(img);
		free(h->saved);
		h->saved = NULL;
		return rc;
	}
	/* the frame: registers as the thread would resume them */
	struct user_regs_struct r = h->regs;
	ckpt_regs_fixup_restart(&r, 1);
	struct heal_frame f;
	memset(&f, 0, sizeof(f));
	f.uc_flags = UC_SIGCONTEXT_SS_ | UC_STRICT_RESTORE_SS_ | (feat ? UC_FP_XSTATE_ : 0);
	/* an invalid ss_flags: rt_sigreturn's sigaltstack call then fails
	   (ignored) and leaves the thread's alternate stack as it is */
	f.ss_flags = 3;
	struct heal_sigcontext *m = &f.mc;
	m->r8 = r.r8, m->r9 = r.r9, m->r10 = r.r10, m->r11 = r.r11;
	m->r12 = r.r12, m->r13 = r.r13, m->r14 = r.r14, m->r15 = r.r15;
	m->rdi = r.rdi, m->rsi = r.rsi, m->rbp = r.rbp, m->rbx = r.rbx;
	m->rdx = r.rdx, m->rax = r.rax, m->rcx = r.rcx, m->rsp = r.rsp;
	m->rip = r.rip, m->eflags = r.eflags;
	m->cs = (uint16_t)r.cs, m->ss = (uint16_t)r.ss;
	m->fpstate = fp;
	f.uc_sigmask = mask;
	memcpy(img + (frame - h->lo), &f, sizeof(f));
	unsigned char *fx = img + (fp - h->lo);
	memcpy(fx, xs, fsize);
	free(xs);
	memset(fx + 464, 0, 48);
	if (feat) {
		uint32_t magic1 = FP_XSTATE_MAGIC1_, ext = fsize + 4, magic2 = FP_XSTATE_MAGIC2_;
		memcpy(fx + 464, &magic1, 4);
		memcpy(fx + 468, &ext, 4);
		memcpy(fx + 472, &feat, 8);
		memcpy(fx + 480, &fsize, 4);
		memcpy(fx + fsize, &magic2, 4);
	}
	rc = mem_rw(pid, 1, h->lo, img, h->len, e);
	free(img);
	/* parked: should we vanish now, it runs rt_sigreturn */
	struct user_regs_struct p = h->regs;
	p.rip = gadget + GADGET_RESUME;
	p.rsp = h->frame_sp;
	p.orig_rax = (uint64_t)-1;
	if (!rc)
		rc = ckpt_setregs(tid, &p, e);
	if (rc) {
		mem_rw(pid, 1, h->lo, h->saved, h->len, e);
		free(h->saved);
		h->saved = NULL;
		return rc;
	}
	h->armed = 1;
	return 0;
}

/* The thread parked at the gadget's rt_sigreturn, on its frame. */
static void park_regs(const struct ckpt_heal *h, struct user_regs_struct *p)
{
	*p = h->regs;
	p->rip = h->gadget + GADGET_RESUME;
	p->rsp = h->frame_sp;
	p->orig_rax = (uint64_t)-1;
}

/* Queue q's next call: registers at the gadget's `syscall`, on to its
   syscall-entry stop. */
/* Queue q's next calls as a batch (ptrace.h): the table written, the
   sigmask every signal but q->sig, on into the gadget's loop. */
static int batch_start(struct ckpt_heal_queue *q, struct ckpt_err *e)
{
	struct ckpt_heal *h = q->h;
	uint32_t k = q->n - q->done;
	if (k > h->tab_cap)
		k = h->tab_cap;
	uint64_t tab[HEAL_TAB_SIZE / 8];
	for (uint32_t i = 0; i < k; i++) {
		const struct ckpt_heal_call *c = &q->calls[q->done + i];
		tab[i * 8] = (uint64_t)c->nr;
		for (int a = 0; a < 6; a++)
			tab[i * 8 + 1 + a] = (uint64_t)c->args[a];
		tab[i * 8 + 7] = 0;
	}
	int rc = mem_rw(h->pid, 1, h->tab, tab, k * 64, e);
	if (rc)
		return rc;
	if (!q->mask_set) {
		if (ptrace(PTRACE_GETSIGMASK_, h->tid, 8, &q->mask) < 0)
			return ckpt_fail_errno(e, errno, "ptrace getsigmask %d", h->tid);
		uint64_t m = ~(1ull << (q->sig - 1));
		if (ptrace(PTRACE_SETSIGMASK_, h->tid, 8, &m) < 0)
			return ckpt_fail_errno(e, errno, "ptrace setsigmask %d", h->tid);
		q->mask_set = 1;
	}
	struct user_regs_struct r = h->regs;
	r.rip = h->gadget + GADGET_BATCH;
	r.rsp = h->frame_sp;
	r.orig_rax = (uint64_t)-1;
	r.r12 = h->tab;
	r.r13 = k;
	r.r14 = (uint64_t)h->pid;
	r.r15 = (uint64_t)h->tid;
	r.rbx = (uint64_t)q->sig;
	if ((rc = ckpt_setregs(h->tid, &r, e)))
		return rc;
	if (ptrace(PTRACE_CONT, h->tid, 0, 0) < 0)
		return ckpt_fail_errno(e, errno, "ptrace cont %d", h->tid);
	q->batch = k;
	q->phase = 3;
	return 0;
}

/* The batch's own sigmask off again. */
static int batch_unmask(struct ckpt_heal_queue *q, struct ckpt_err *e)
{
	if (!q->mask_set)
		return 0;
	q->mask_set = 0;
	if (ptrace(PTRACE_SETSIGMASK_, q->h->tid, 8, &q->mask) < 0)
		return ckpt_fail_errno(e, errno, "ptrace setsigmask %d", q->h->tid);
	return 0;
}

/* A stop of q's thread in its batch: the end (its own signal at the
   gadget's last part, the loop done) gives the results and parks it; any
   other is let go on (a signal's stop suppressed and, unless it is the
   batch's, remembered). */
static int batch_stop(struct ckpt_heal_queue *q, int st, struct ckpt_err *e)
{
	struct ckpt_heal *h = q->h;
	int s = WSTOPSIG(st);
	if (!(st >> 16) && s == q->sig) {
		struct user_regs_struct r;
		int rc = ckpt_getregs(h->tid, &r, e);
		if (rc)
			return rc;
		if (r.rip == h->gadget + GADGET_BATCH_STOP && r.rsp == h->frame_sp && !r.r13) {
			uint64_t tab[HEAL_TAB_SIZE / 8];
			rc = mem_rw(h->pid, 0, h->tab, tab, q->batch * 64, e);
			for (uint32_t i = 0; !rc && i < q->batch; i++)
				q->calls[q->done + i].ret = (long)tab[i * 8 + 7];
			if (rc)
				return rc;
			q->done += q->batch;
			q->batch = 0;
			if (q->done == q->n && (rc = batch_unmask(q, e)))
				return rc;
			park_regs(h, &r);
			/* still in flight until here: a failure (the thread killed
			   meanwhile) is counted off by run_fail */
			if (!(rc = ckpt_setregs(h->tid, &r, e)))
				q->phase = 0;
			return rc;
		}
	} else if (!(st >> 16)) {
		if (s == SIGSEGV || s == SIGBUS || s == SIGILL || s == SIGFPE) {
			siginfo_t si;
			memset(&si, 0, sizeof(si));
			ptrace(PTRACE_GETSIGINFO, h->tid, 0, &si);
			if (si.si_code > 0)
				return ckpt_fail(e, EFAULT,
						 "injected syscall in %d faulted (signal %d at %p)",
						 h->tid, s, si.si_addr);
		}
		if (s > 0 && s <= 64)
			q->deferred |= 1ull << (s - 1);
	}
	if (ptrace(PTRACE_CONT, h->tid, 0, 0) < 0)
		return ckpt_fail_errno(e, errno, "ptrace cont %d", h->tid);
	return 0;
}

static int queue_start(struct ckpt_heal_queue *q, struct ckpt_err *e)
{
	struct ckpt_heal *h = q->h;
	if (!h->armed)
		return ckpt_fail(e, EINVAL, "internal: injection into %d before it was armed", h->tid);
	if (q->sig > 0 && q->sig <= 64 && h->tab_cap)
		return batch_start(q, e);
	struct user_regs_struct r = h->regs;
	r.rip = h->gadget;
	r.rsp = h->frame_sp;
	syscall_regs(&r, q->calls[q->done].nr, q->calls[q->done].args);
	int rc = ckpt_setregs(h->tid, &r, e);
	if (rc)
		return rc;
	if (ptrace(PTRACE_SYSCALL, h->tid, 0, 0) < 0)
		return ckpt_fail_errno(e, errno, "ptrace syscall %d", h->tid);
	q->phase = 1;
	return 0;
}

/*
 * One stop of q's thread (wait status st). Returns 0 and sets *moved when
 * the thread was resumed again (it is still running a call); 0 with q->phase
 * 0 when its current call is complete (it is parked at the resume part);
 * -errno when it cannot go on. The checks are step_to_syscall_stop's.
 */
static int queue_stop(struct ckpt_heal_queue *q, int st, struct ckpt_err *e)
{
	pid_t tid = q->h->tid;
	if (WIFEXITED(st))
		return ckpt_fail(e, ESRCH, "thread %d exited (status %d) while being traced", tid,
				 WEXITSTATUS(st));
	if (WIFSIGNALED(st))
		return ckpt_fail(e, ESRCH, "thread %d was killed by signal %d while traced", tid,
				 WTERMSIG(st));
	if (!WIFSTOPPED(st))
		return 0; /* not a stop (a continued report): keep waiting */
	if (q->phase == 3)
		return batch_stop(q, st, e);
	int s = WSTOPSIG(st);
	if (s == (SIGTRAP | 0x80) && q->phase == 1) { /* entry: on to the exit */
		q->phase = 2;
	} else if (s == (SIGTRAP | 0x80)) { /* exit: at the resume part */
		struct user_regs_struct r;
		int rc = ckpt_getregs(tid, &r, e);
		if (rc)
			return rc;
		if (r.rip != q->h->gadget + GADGET_RESUME || r.rsp != q->h->frame_sp)
			return ckpt_fail(e, EPROTO, "thread %d left the gadget (rip 0x%llx)", tid,
					 (unsigned long long)r.rip);
		q->calls[q->done++].ret = (long)r.rax;
		q->phase = 0;
		return 0;
	} else if (!(st >> 16)) { /* not an event stop: a signal-delivery stop */
		/* The injected instruction faulted (an unmapped or non-executable
		   gadget): stepping again would fault forever. */
		if (s == SIGSEGV || s == SIGBUS || s == SIGILL || s == SIGFPE) {
			siginfo_t si;
			memset(&si, 0, sizeof(si));
			ptrace(PTRACE_GETSIGINFO, tid, 0, &si);
			if (si.si_code > 0)
				return ckpt_fail(e, EFAULT,
						 "injected syscall in %d faulted (signal %d at %p)",
						 tid, s, si.si_addr);
		}
		/* held back for the caller, suppressed here */
		if (s > 0 && s <= 64)
			q->deferred |= 1ull << (s - 1);
	}
	if (ptrace(PTRACE_SYSCALL, tid, 0, 0) < 0)
		return ckpt_fail_errno(e, errno, "ptrace syscall %d", tid);
	return 0;
}

/* The next report of q's thread: non-blocking when nohang (0: none yet). */
static int queue_wait(struct ckpt_heal_queue *q, int nohang, int *st, struct ckpt_err *e)
{
	for (;;) {
		pid_t w = waitpid(q->h->tid, st, __WALL | (nohang ? WNOHANG : 0));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return ckpt_fail_errno(e, errno, "waitpid %d", q->h->tid);
		return w > 0;
	}
}

/* The first failure of a run: its message in e, later ones dropped. */
struct run_state {
	struct ckpt_err *e, spare;
	char spare_msg[CKPT_MSG_MAX];
	int rc;
	struct ckpt_heal_queue *failed; /* the queue rc is about */
};

/* Where the next message goes: e until something failed. */
static struct ckpt_err *run_err(struct run_state *s)
{
	if (!s->rc)
		return s->e;
	ckpt_err_init(&s->spare, s->spare_msg, sizeof(s->spare_msg));
	return &s->spare;
}

/* q cannot go on: it stops being waited for; it is parked again at the end. */
static void run_fail(struct run_state *s, struct ckpt_heal_queue *q, int rc, uint32_t *busy)
{
	if (!s->rc) {
		s->rc = rc;
		s->failed = q;
	}
	q->failed = 1;
	if (q->phase)
		(*busy)--;
	q->phase = 0;
}

/* Report st of q's thread: on into its call, its next call, or done. */
static void run_report(struct run_state *s, struct ckpt_heal_queue *q, int st, uint32_t *busy,
		       uint64_t *seq)
{
	int r = queue_stop(q, st, run_err(s));
	if (!r && q->phase)
		return; /* still in its call */
	/* its call is over: the next one, unless a thread failed (then every
	   thread ends parked after its current call) */
	if (!r && !s->rc && q->done < q->n) {
		r = queue_start(q, run_err(s));
		if (!r) {
			q->since = (*seq)++;
			return;
		}
	}
	if (r) {
		run_fail(s, q, r, busy);
		return;
	}
	q->phase = 0;
	(*busy)--;
}

/*
 * Sleep until a child of this process has something to report, without
 * taking the report (WNOWAIT): the busy queue whose thread it is (its
 * waitpid then returns at once). NULL when it is someone else's, a child of
 * the calling program (node's, in the daemon) whose report must stay for
 * its owner: the caller then waits for one thread of its own. Never
 * waitpid(-1), which would take it.
 */
static struct ckpt_heal_queue *report_pending(struct ckpt_heal_queue *q, uint32_t nq)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	while (waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | WNOWAIT | __WALL) < 0)
		if (errno != EINTR)
			return NULL;
	for (uint32_t i = 0; i < nq; i++)
		if (q[i].phase && q[i].h->tid == si.si_pid)
			return &q[i];
	return NULL;
}

int ckpt_heal_run(struct ckpt_heal_queue *q, uint32_t nq, struct ckpt_err *e)
{
	struct run_state s = {.e = e};
	uint32_t busy = 0;
	uint64_t seq = 0;
	for (uint32_t i = 0; i < nq; i++) {
		q[i].done = 0;
		q[i].phase = 0;
		q[i].failed = 0;
		q[i].deferred = 0;
		q[i].batch = 0;
		q[i].mask_set = 0;
	}
	/* every thread's first call at once */
	for (uint32_t i = 0; !s.rc && i < nq; i++) {
		if (!q[i].n)
			continue;
		int r = queue_start(&q[i], run_err(&s));
		if (r) {
			run_fail(&s, &q[i], r, &busy);
			break;
		}
		q[i].since = seq++;
		busy++;
	}
	while (busy) {
		/* the one that has stopped; if that cannot be told, the one
		   that runs longest */
		struct ckpt_heal_queue *got = nq > 1 ? report_pending(q, nq) : NULL;
		for (uint32_t i = 0; !got && i < nq; i++)
			if (q[i].phase && (!got || q[i].since < got->since))
				got = &q[i];
		if (!got) { /* cannot happen: busy counts the queues in flight */
			if (!s.rc) {
				s.rc = ckpt_fail(e, EPROTO, "internal: %u injection queues busy, "
						 "none in flight", busy);
				s.failed = &q[0];
			}
			break;
		}
		int st = 0, r = queue_wait(got, 0, &st, run_err(&s));
		if (r < 0)
			run_fail(&s, got, r, &busy);
		else
			run_report(&s, got, st, &busy, &seq);
	}
	/* a failed thread parked again, if it can still be stopped there */
	for (uint32_t i = 0; i < nq; i++) {
		if (q[i].mask_set) {
			struct ckpt_err spare;
			char m[CKPT_MSG_MAX];
			ckpt_err_init(&spare, m, sizeof(m));
			int r = batch_unmask(&q[i], s.rc ? &spare : e);
			if (r && !s.rc) {
				s.rc = r;
				s.failed = &q[i];
			}
		}
		if (!q[i].failed)
			continue;
		struct user_regs_struct p;
		park_regs(q[i].h, &p);
		ptrace(PTRACE_SETREGS, q[i].h->tid, 0, &p);
	}
	if (s.rc && s.failed && s.failed->n) {
		struct ckpt_heal_queue *f = s.failed;
		ckpt_err_prefix(e, "inject syscall %ld into %d",
				f->calls[f->done < f->n ? f->done : f->n - 1].nr, f->h->tid);
	}
	return s.rc;
}

int ckpt_heal_syscall(struct ckpt_heal *h, long nr, const long args[6], long *ret,
		      uint64_t *deferred_sigs, struct ckpt_err *e)
{
	struct ckpt_heal_call c = {.nr = nr};
	memcpy(c.args, args, sizeof(c.args));
	struct ckpt_heal_queue q = {.h = h, .calls = &c, .n = 1};
	int rc = ckpt_heal_run(&q, 1, e);
	if (deferred_sigs)
		*deferred_sigs |= q.deferred;
	if (!rc)
		*ret = c.ret;
	return rc;
}

/* Park the thread at the gadget's rt_sigreturn on the frame, if it can
   still be stopped there (after a failure, or the probe's munmap). */
static void heal_park(struct ckpt_heal *h)
{
	struct user_regs_struct p;
	park_regs(h, &p);
	ptrace(PTRACE_SETREGS, h->tid, 0, &p);
}

int ckpt_heal_mmap_probe(struct ckpt_heal *h, const long args[6],
			 int (*look)(void *arg, long addr), void *arg, uint64_t *deferred_sigs,
			 struct ckpt_err *e)
{
	if (!h->armed)
		return ckpt_fail(e, EINVAL, "internal: injection into %d before it was armed", h->tid);
	struct user_regs_struct r = h->regs;
	r.rip = h->gadget + GADGET_PROBE;
	r.rsp = h->frame_sp;
	syscall_regs(&r, SYS_mmap, args);
	int rc = ckpt_setregs(h->tid, &r, e);
	if (!rc)
		rc = step_to_syscall_stop(h->tid, deferred_sigs, e); /* mmap entry */
	if (!rc)
		rc = step_to_syscall_stop(h->tid, deferred_sigs, e); /* mmap exit */
	if (!rc)
		rc = ckpt_getregs(h->tid, &r, e);
	if (!rc && (r.rip != h->gadget + GADGET_PROBE + 2 || r.rsp != h->frame_sp))
		rc = ckpt_fail(e, EPROTO, "thread %d left the gadget (rip 0x%llx)", h->tid,
			       (unsigned long long)r.rip);
	int looked = 0;
	if (!rc)
		looked = look(arg, (long)r.rax);
	/* the gadget unmaps it (munmap of an error value fails harmlessly) */
	if (!rc)
		rc = step_to_syscall_stop(h->tid, deferred_sigs, e); /* munmap entry */
	if (!rc)
		rc = step_to_syscall_stop(h->tid, deferred_sigs, e); /* munmap exit */
	if (!rc)
		rc = ckpt_getregs(h->tid, &r, e);
	if (!rc && (r.rip != h->gadget + GADGET_PROBE_UNMAPPED || r.rsp != h->frame_sp))
		rc = ckpt_fail(e, EPROTO, "thread %d left the gadget (rip 0x%llx)", h->tid,
			       (unsigned long long)r.rip);
	heal_park(h);
	if (rc)
		ckpt_err_prefix(e, "inject a probe mmap into %d", h->tid);
	return rc ? rc : looked;
}

int ckpt_heal_disarm(struct ckpt_heal *h, struct ckpt_err *e)
{
	if (!h->armed)
		return 0;
	int rc = ckpt_setregs(h->tid, &h->regs, e);
	/* only once it is off the frame: the bytes under it back as they were */
	if (!rc)
		rc = mem_rw(h->pid, 1, h->lo, h->saved, h->len, e);
	free(h->saved);
	h->saved = NULL;
	h->armed = 0;
	return rc;
}

ssize_t ckpt_read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return n;
}

static char stat_state(const char *p)
{
	char buf[512];
	if (ckpt_read_small(p, buf, sizeof(buf)) < 0)
		return 0;
	const char *r = strrchr(buf, ')');
	return r && r[1] == ' ' ? r[2] : 0;
}

char ckpt_proc_state(pid_t pid)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	return stat_state(p);
}

char ckpt_task_state(pid_t pid, pid_t tid)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/task/%d/stat", pid, tid);
	return stat_state(p);
}
