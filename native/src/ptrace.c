// SPDX-License-Identifier: BSD-3-Clause
#include "ptrace.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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
		if (for_image) {
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

int ckpt_inject_syscall(pid_t tid, uint64_t syscall_ip, long nr, const long args[6], long *ret,
			uint64_t *deferred_sigs, struct ckpt_err *e)
{
	struct user_regs_struct saved, r;
	int rc = ckpt_getregs(tid, &saved, e);
	if (rc)
		return rc;
	r = saved;
	r.rip = syscall_ip;
	r.rax = nr;
	r.orig_rax = (uint64_t)-1;
	r.rdi = args[0];
	r.rsi = args[1];
	r.rdx = args[2];
	r.r10 = args[3];
	r.r8 = args[4];
	r.r9 = args[5];
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
