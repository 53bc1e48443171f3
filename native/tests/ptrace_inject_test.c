// SPDX-License-Identifier: BSD-3-Clause
/* Syscall injection into a real, seized child that sits in pause(): the
 * injected getpid/getppid answer correctly, and after the restart fix-up and
 * detach the child's pause() is still in progress (a signal ends it normally). */
#include "err.h"
#include "ptrace.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "expect.h"

static void on_usr1(int s) { (void)s; }

int main(void)
{
	char msg[512];
	struct ckpt_err e;
	ckpt_err_init(&e, msg, sizeof(msg));
	pid_t child = fork();
	if (child == 0) {
		signal(SIGUSR1, on_usr1);
		int r = pause();
		/* pause returns -1/EINTR after the handler ran: exit 42 proves it */
		_exit(r == -1 && errno == EINTR ? 42 : 1);
	}
	usleep(100000);
	EXPECT(ptrace(PTRACE_SEIZE, child, 0, PTRACE_O_TRACESYSGOOD) == 0, "seize");
	EXPECT(ptrace(PTRACE_INTERRUPT, child, 0, 0) == 0, "interrupt");
	int st;
	EXPECT(ckpt_wait_stopped(child, &st, &e) == 0, "wait: %s", msg);
	struct user_regs_struct r;
	EXPECT(ckpt_getregs(child, &r, &e) == 0, "getregs: %s", msg);
	EXPECT(r.orig_rax == SYS_pause && (long)r.rax == -CKPT_ERESTARTNOHAND,
	       "in pause: orig_rax %llu rax %lld", r.orig_rax, (long long)r.rax);
	EXPECT(ckpt_regs_fixup_restart(&r, 0) == 1, "fixup");
	EXPECT(ckpt_setregs(child, &r, &e) == 0, "setregs: %s", msg);
	uint64_t ip = 0;
	EXPECT(ckpt_find_syscall_insn(child, &ip, &e) == 0, "find syscall: %s", msg);
	long args[6] = {0}, ret = 0;
	uint64_t deferred = 0;
	EXPECT(ckpt_inject_syscall(child, ip, SYS_getpid, args, &ret, &deferred, &e) == 0,
	       "inject: %s", msg);
	EXPECT(ret == child, "getpid in child gave %ld, want %d", ret, child);
	EXPECT(ckpt_inject_syscall(child, ip, SYS_getppid, args, &ret, &deferred, &e) == 0,
	       "inject: %s", msg);
	EXPECT(ret == getpid(), "getppid in child gave %ld, want %d", ret, getpid());
	struct user_regs_struct after;
	ckpt_getregs(child, &after, &e);
	EXPECT(after.rip == r.rip && after.rsp == r.rsp, "registers put back");
	EXPECT(ptrace(PTRACE_DETACH, child, 0, 0) == 0, "detach");
	usleep(100000);
	EXPECT(waitpid(child, &st, WNOHANG) == 0, "child still paused after detach");
	kill(child, SIGUSR1);
	waitpid(child, &st, 0);
	EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 42, "child pause() ended by signal, status %x",
	       st);
	printf("ptrace_inject: %s\n", fails ? "FAIL" : "PASS");
	return fails != 0;
}
