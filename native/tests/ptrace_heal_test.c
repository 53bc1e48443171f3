// SPDX-License-Identifier: BSD-3-Clause
/* Self-healing injection (ptrace.h): a tracer process that dies at each
 * stage of an injection (armed; signals blocked; after a syscall; inside a
 * syscall; while a probe mapping is there) leaves a target that continues
 * with its registers (general, SSE, AVX upper halves), sigmask and mappings
 * intact (the probe's page unmapped by the gadget on its own); a normal
 * arm/inject/probe/disarm leaves the stack bytes under the frame and the
 * mappings as they were. */
#include "err.h"
#include "ptrace.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"

struct shared {
	volatile uint64_t iters;
	volatile uint64_t bad;
	volatile uint64_t per[8]; /* iterations of each target of a batch */
};

static struct shared *sh;
static int has_avx;
static int slot; /* a target's index in sh->per */

/* Registers hold known values across a busy loop; any change is counted. */
static void spin(void)
{
	for (;;) {
		uint64_t bad = 0;
		if (has_avx)
			__asm__ volatile("mov $0x1111, %%r12\n\t"
					 "mov $0x2222, %%r13\n\t"
					 "mov $0x3333, %%r14\n\t"
					 "mov $0x4444, %%r15\n\t"
					 "movq %%r12, %%xmm8\n\t"
					 "vpcmpeqd %%ymm9, %%ymm9, %%ymm9\n\t"
					 "mov $3000000, %%ecx\n\t"
					 "1: dec %%ecx\n\t"
					 "jnz 1b\n\t"
					 "xor %0, %0\n\t"
					 "cmp $0x1111, %%r12\n\t"
					 "jne 2f\n\t"
					 "cmp $0x2222, %%r13\n\t"
					 "jne 2f\n\t"
					 "cmp $0x3333, %%r14\n\t"
					 "jne 2f\n\t"
					 "cmp $0x4444, %%r15\n\t"
					 "jne 2f\n\t"
					 "movq %%xmm8, %%rax\n\t"
					 "cmp $0x1111, %%rax\n\t"
					 "jne 2f\n\t"
					 "vextracti128 $1, %%ymm9, %%xmm10\n\t"
					 "movq %%xmm10, %%rax\n\t"
					 "cmp $-1, %%rax\n\t"
					 "jne 2f\n\t"
					 "jmp 3f\n\t"
					 "2: mov $1, %0\n\t"
					 "3:\n\t"
					 : "=&r"(bad)
					 :
					 : "rax", "rcx", "r12", "r13", "r14", "r15", "xmm8", "xmm9",
					   "xmm10", "cc");
		else
			__asm__ volatile("mov $0x1111, %%r12\n\t"
					 "movq %%r12, %%xmm8\n\t"
					 "mov $3000000, %%ecx\n\t"
					 "1: dec %%ecx\n\t"
					 "jnz 1b\n\t"
					 "xor %0, %0\n\t"
					 "movq %%xmm8, %%rax\n\t"
					 "cmp %%rax, %%r12\n\t"
					 "setne %b0\n\t"
					 : "=&r"(bad)
					 :
					 : "rax", "rcx", "r12", "xmm8", "cc");
		if (bad)
			sh->bad++;
		sh->iters++;
		sh->per[slot]++;
	}
}

static pid_t start_target(void)
{
	pid_t p = fork();
	if (p == 0) {
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGUSR2);
		sigprocmask(SIG_BLOCK, &s, NULL);
		spin();
	}
	return p;
}

static uint64_t sigblk(pid_t pid)
{
	char p[64], line[256];
	snprintf(p, sizeof(p), "/proc/%d/status", pid);
	FILE *f = fopen(p, "re");
	uint64_t v = ~0ull;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "SigBlk:", 7))
			v = strtoull(line + 7, NULL, 16);
	if (f)
		fclose(f);
	return v;
}

/* /proc/PID/maps as text (malloc'd; "" if unreadable) */
static char *maps_of(pid_t pid)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/maps", pid);
	FILE *f = fopen(p, "re");
	size_t cap = 1 << 16, n = 0;
	char *buf = calloc(1, cap);
	while (f && buf && n + 1 < cap) {
		size_t got = fread(buf + n, 1, cap - 1 - n, f);
		if (!got)
			break;
		n += got;
	}
	if (f)
		fclose(f);
	return buf;
}

enum stage { ARMED, BLOCKED, AFTER_SYSCALL, IN_SYSCALL, IN_PROBE, IN_LOOP, NR_STAGES };
static const char *stage_name[] = {"armed", "signals blocked", "after a syscall",
				   "inside a syscall", "while the probe page is mapped",
				   "inside a batch's loop"};

/* The probe's look(): the page is mapped; say so, then wait to be killed. */
static int probe_then_wait(void *arg, long addr)
{
	if (addr < 0 && addr > -4096)
		_exit(16);
	if (write(*(int *)arg, "x", 1) != 1)
		_exit(14);
	pause();
	return 0;
}

static const long probe_args[6] = {0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0};

/* The tracer: freeze, arm, go as far as `stage`, then die without cleanup. */
static void tracer(pid_t target, enum stage stage, int ready_fd)
{
	char msg[512];
	struct ckpt_err e;
	ckpt_err_init(&e, msg, sizeof(msg));
	int st;
	if (ptrace(PTRACE_SEIZE, target, 0, PTRACE_O_TRACESYSGOOD) < 0 ||
	    ptrace(PTRACE_INTERRUPT, target, 0, 0) < 0 || ckpt_wait_stopped(target, &st, &e))
		_exit(10);
	uint64_t g = 0;
	struct ckpt_heal h;
	if (ckpt_gadget_install(target, &g, &e) || ckpt_heal_arm(&h, target, target, g, 4096, &e)) {
		fprintf(stderr, "tracer: %s\n", msg);
		_exit(11);
	}
	if (stage >= BLOCKED) {
		uint64_t all = ~0ull;
		ptrace(0x420b /* PTRACE_SETSIGMASK */, target, 8, &all);
	}
	long args[6] = {0}, ret = 0;
	if (stage >= AFTER_SYSCALL && stage != IN_SYSCALL &&
	    (ckpt_heal_syscall(&h, SYS_getpid, args, &ret, NULL, &e) || ret != target))
		_exit(12);
	if (stage == IN_PROBE) {
		ckpt_heal_mmap_probe(&h, probe_args, probe_then_wait, &ready_fd, NULL, &e);
		_exit(15); /* killed before this */
	}
	if (stage == IN_LOOP) { /* getpid, nanosleep(300 ms), getppid, no stop between */
		struct timespec ts = {0, 300 * 1000000};
		struct iovec l = {&ts, sizeof(ts)}, r = {(void *)h.out, sizeof(ts)};
		if (process_vm_writev(target, &l, 1, &r, 1, 0) != sizeof(ts))
			_exit(13);
		struct ckpt_heal_call c[3] = {{.nr = SYS_getpid},
					      {.nr = SYS_nanosleep, .args = {(long)h.out}},
					      {.nr = SYS_getppid}};
		struct ckpt_heal_queue q = {.h = &h, .calls = c, .n = 3, .sig = SIGURG};
		if (!h.tab_cap || write(ready_fd, "x", 1) != 1)
			_exit(14);
		ckpt_heal_run(&q, 1, &e);
		_exit(15); /* killed before this */
	}
	if (stage == IN_SYSCALL) {
		struct timespec ts = {0, 300 * 1000000};
		struct iovec l = {&ts, sizeof(ts)}, r = {(void *)h.out, sizeof(ts)};
		if (process_vm_writev(target, &l, 1, &r, 1, 0) != sizeof(ts))
			_exit(13);
		args[0] = (long)h.out;
		if (write(ready_fd, "x", 1) != 1)
			_exit(14);
		ckpt_heal_syscall(&h, SYS_nanosleep, args, &ret, NULL, &e);
		_exit(15); /* killed before this */
	}
	if (write(ready_fd, "x", 1) != 1)
		_exit(14);
	pause(); /* SIGKILLed by the test */
	_exit(0);
}

static void wait_progress(pid_t target, uint64_t from, const char *what)
{
	for (int i = 0; i < 300 && sh->iters < from + 3; i++)
		usleep(10000);
	EXPECT(sh->iters >= from + 3, "%s: target %d made no progress", what, target);
}

static void die_at(enum stage stage)
{
	pid_t target = start_target();
	wait_progress(target, 0, "start");
	char *maps = maps_of(target);
	uint64_t blk = sigblk(target);
	int p[2];
	EXPECT(pipe(p) == 0, "pipe");
	pid_t tr = fork();
	if (tr == 0) {
		close(p[0]);
		tracer(target, stage, p[1]);
	}
	close(p[1]);
	char c;
	EXPECT(read(p[0], &c, 1) == 1, "%s: tracer got ready", stage_name[stage]);
	close(p[0]);
	if (stage == IN_SYSCALL || stage == IN_LOOP)
		usleep(50000); /* inside the injected nanosleep */
	if (stage == IN_PROBE) {
		char *now = maps_of(target);
		EXPECT(strcmp(now, maps), "%s: the probe page shows in the maps", stage_name[stage]);
		free(now);
	}
	uint64_t before = sh->iters;
	usleep(50000);
	EXPECT(sh->iters == before, "%s: target ran while frozen", stage_name[stage]);
	kill(tr, SIGKILL);
	int st;
	waitpid(tr, &st, 0);
	EXPECT(WIFSIGNALED(st), "%s: tracer ended by itself (status %x)", stage_name[stage], st);
	wait_progress(target, before, stage_name[stage]);
	EXPECT(waitpid(target, &st, WNOHANG) == 0, "%s: target died (status %x)",
	       stage_name[stage], st);
	EXPECT(sh->bad == 0, "%s: registers changed under the target (%llu times)",
	       stage_name[stage], (unsigned long long)sh->bad);
	EXPECT(sigblk(target) == blk, "%s: sigmask %llx, was %llx", stage_name[stage],
	       (unsigned long long)sigblk(target), (unsigned long long)blk);
	char *after = maps_of(target);
	EXPECT(!strcmp(after, maps), "%s: mappings now\n%s\nwere\n%s", stage_name[stage], after,
	       maps);
	free(after);
	free(maps);
	kill(target, SIGKILL);
	waitpid(target, &st, 0);
	sh->bad = 0;
	sh->iters = 0;
}

struct probe_seen {
	pid_t pid;
	long addr;
	int mapped;
};

/* The probe's look() in a clean round: is the page at addr in the maps? */
static int probe_look(void *arg, long addr)
{
	struct probe_seen *ps = arg;
	ps->addr = addr;
	char *m = maps_of(ps->pid);
	/* in a range of its own, or of a neighbour it merged with */
	for (char *l = m; l && *l && addr > 0;) {
		unsigned long lo, hi;
		if (sscanf(l, "%lx-%lx", &lo, &hi) == 2 && lo <= (unsigned long)addr &&
		    (unsigned long)addr < hi)
			ps->mapped = 1;
		l = strchr(l, '\n');
		l = l ? l + 1 : NULL;
	}
	free(m);
	return 7;
}

/* Arm, inject, probe, disarm, detach: registers, stack bytes and [vdso] as
   before. */
static void clean_round(void)
{
	char msg[512];
	struct ckpt_err e;
	ckpt_err_init(&e, msg, sizeof(msg));
	pid_t target = start_target();
	wait_progress(target, 0, "start");
	int st;
	EXPECT(ptrace(PTRACE_SEIZE, target, 0, PTRACE_O_TRACESYSGOOD) == 0, "seize");
	EXPECT(ptrace(PTRACE_INTERRUPT, target, 0, 0) == 0, "interrupt");
	EXPECT(ckpt_wait_stopped(target, &st, &e) == 0, "wait: %s", msg);
	struct user_regs_struct r0, r1;
	EXPECT(ckpt_getregs(target, &r0, &e) == 0, "getregs: %s", msg);
	size_t n = 64 * 1024;
	unsigned char *before = malloc(n), *after = malloc(n);
	uint64_t lo = r0.rsp - 128 - n;
	struct iovec l = {before, n}, rr = {(void *)lo, n};
	ssize_t got = process_vm_readv(target, &l, 1, &rr, 1, 0);
	uint64_t g = 0;
	struct ckpt_heal h;
	EXPECT(ckpt_gadget_install(target, &g, &e) == 0, "gadget: %s", msg);
	EXPECT(ckpt_heal_arm(&h, target, target, g, 4096, &e) == 0, "arm: %s", msg);
	long args[6] = {0}, ret = 0;
	EXPECT(ckpt_heal_syscall(&h, SYS_getpid, args, &ret, NULL, &e) == 0 && ret == target,
	       "getpid through the gadget: %ld (%s)", ret, msg);
	EXPECT(ckpt_heal_syscall(&h, SYS_getppid, args, &ret, NULL, &e) == 0 && ret == getpid(),
	       "getppid through the gadget: %ld (%s)", ret, msg);
	char *maps = maps_of(target);
	struct probe_seen ps = {.pid = target};
	EXPECT(ckpt_heal_mmap_probe(&h, probe_args, probe_look, &ps, NULL, &e) == 7,
	       "probe through the gadget: look()'s value comes back (%s)", msg);
	EXPECT(ps.addr > 0 && ps.mapped, "the probe page at 0x%lx was in the maps while looked at",
	       ps.addr);
	char *now = maps_of(target);
	EXPECT(!strcmp(maps, now), "the probe page is gone after the probe:\n%s", now);
	free(now);
	free(maps);
	EXPECT(ckpt_heal_syscall(&h, SYS_getpid, args, &ret, NULL, &e) == 0 && ret == target,
	       "getpid through the gadget after the probe: %ld (%s)", ret, msg);
	EXPECT(ckpt_heal_disarm(&h, &e) == 0, "disarm: %s", msg);
	EXPECT(ckpt_gadget_remove(target, g, &e) == 0, "gadget remove: %s", msg);
	EXPECT(ckpt_getregs(target, &r1, &e) == 0 && !memcmp(&r0, &r1, sizeof(r0)),
	       "registers put back");
	l.iov_base = after;
	EXPECT(got > 0 && process_vm_readv(target, &l, 1, &rr, 1, 0) == got &&
		       !memcmp(before, after, (size_t)got),
	       "stack bytes under the frame put back");
	EXPECT(ptrace(PTRACE_DETACH, target, 0, 0) == 0, "detach");
	uint64_t from = sh->iters;
	wait_progress(target, from, "after detach");
	EXPECT(sh->bad == 0, "registers changed after a clean round");
	kill(target, SIGKILL);
	waitpid(target, &st, 0);
	free(before);
	free(after);
	sh->iters = 0;
}

/* ---- several threads at once (ckpt_heal_run) ------------------------------ */

#define NT 3 /* targets, each one process */

/* ckpt_heal_queue.sig of the runs below: 0 one call at a time, else the
   calls go in batches through the gadget's loop */
static int run_sig;

static void seize_all(const pid_t *t, struct ckpt_err *e)
{
	int st;
	for (int i = 0; i < NT; i++) {
		EXPECT(ptrace(PTRACE_SEIZE, t[i], 0, PTRACE_O_TRACESYSGOOD) == 0, "seize %d", t[i]);
		EXPECT(ptrace(PTRACE_INTERRUPT, t[i], 0, 0) == 0, "interrupt %d", t[i]);
		EXPECT(ckpt_wait_stopped(t[i], &st, e) == 0, "wait %d", t[i]);
	}
}

/* calls[k] of queue i: getpid, getppid or a 1-byte write to nowhere (EBADF) in
   turn, so each result tells which call and which thread it came from */
static void fill(struct ckpt_heal_call *c, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++) {
		memset(&c[k], 0, sizeof(c[k]));
		c[k].nr = k % 3 == 0 ? SYS_getpid : k % 3 == 1 ? SYS_getppid : SYS_write;
		c[k].args[0] = -1;
		c[k].ret = 12345;
	}
}

static long expected(uint32_t k, pid_t target)
{
	return k % 3 == 0 ? target : k % 3 == 1 ? getpid() : -EBADF;
}

/* Three processes, queues of different lengths (one empty), run at once:
   every result is the right call's in the right thread, in order; then
   disarmed, each runs on with its registers and stack bytes as before. */
static void batch_round(void)
{
	char msg[512];
	struct ckpt_err e;
	ckpt_err_init(&e, msg, sizeof(msg));
	pid_t t[NT];
	for (int i = 0; i < NT; i++)
		t[i] = start_target();
	wait_progress(t[0], 0, "batch start");
	seize_all(t, &e);
	static const uint32_t len[NT] = {200, 0, 77};
	struct ckpt_heal h[NT];
	struct ckpt_heal_call *c[NT];
	struct ckpt_heal_queue q[NT];
	struct user_regs_struct r0[NT], r1;
	uint64_t g[NT];
	for (int i = 0; i < NT; i++) {
		EXPECT(ckpt_getregs(t[i], &r0[i], &e) == 0, "getregs: %s", msg);
		EXPECT(ckpt_gadget_install(t[i], &g[i], &e) == 0, "gadget: %s", msg);
		EXPECT(ckpt_heal_arm(&h[i], t[i], t[i], g[i], 4096, &e) == 0, "arm: %s", msg);
		c[i] = calloc(len[i] + 1, sizeof(*c[i]));
		fill(c[i], len[i]);
		q[i] = (struct ckpt_heal_queue){.h = &h[i], .calls = c[i], .n = len[i],
						.sig = run_sig};
	}
	EXPECT(ckpt_heal_run(q, NT, &e) == 0, "run: %s", msg);
	for (int i = 0; i < NT; i++) {
		EXPECT(!run_sig || h[i].tab_cap, "queue %d: no room for a batch table", i);
		EXPECT(q[i].done == len[i], "queue %d: %u of %u calls done", i, q[i].done, len[i]);
		uint32_t wrong = 0;
		for (uint32_t k = 0; k < len[i]; k++)
			wrong += c[i][k].ret != expected(k, t[i]);
		EXPECT(wrong == 0, "queue %d: %u of %u results wrong", i, wrong, len[i]);
		EXPECT(ckpt_heal_disarm(&h[i], &e) == 0, "disarm: %s", msg);
		EXPECT(ckpt_gadget_remove(t[i], g[i], &e) == 0, "gadget remove: %s", msg);
		EXPECT(ckpt_getregs(t[i], &r1, &e) == 0 && !memcmp(&r0[i], &r1, sizeof(r1)),
		       "queue %d: registers put back", i);
		EXPECT(ptrace(PTRACE_DETACH, t[i], 0, 0) == 0, "detach");
		free(c[i]);
	}
	uint64_t from = sh->iters;
	wait_progress(t[0], from, "after a batch");
	EXPECT(sh->bad == 0, "registers changed after a batch");
	for (int i = 0; i < NT; i++) {
		int st;
		EXPECT(waitpid(t[i], &st, WNOHANG) == 0, "target %d died after a batch", t[i]);
		kill(t[i], SIGKILL);
		waitpid(t[i], &st, 0);
	}
	sh->iters = 0;
}

/* One target is killed in the middle of a run: the run fails naming it, the
   other threads complete their current call and stay parked (disarm works,
   they run on). */
static void batch_member_dies(void)
{
	char msg[512];
	struct ckpt_err e;
	ckpt_err_init(&e, msg, sizeof(msg));
	pid_t t[NT];
	for (int i = 0; i < NT; i++)
		t[i] = start_target();
	wait_progress(t[0], 0, "batch start");
	seize_all(t, &e);
	struct ckpt_heal h[NT];
	struct ckpt_heal_call *c[NT];
	struct ckpt_heal_queue q[NT];
	uint64_t g[NT];
	const uint32_t n = 200000; /* long enough to be killed in the middle */
	for (int i = 0; i < NT; i++) {
		EXPECT(ckpt_gadget_install(t[i], &g[i], &e) == 0, "gadget: %s", msg);
		EXPECT(ckpt_heal_arm(&h[i], t[i], t[i], g[i], 4096, &e) == 0, "arm: %s", msg);
		c[i] = calloc(n, sizeof(*c[i]));
		fill(c[i], n);
		q[i] = (struct ckpt_heal_queue){.h = &h[i], .calls = c[i], .n = n,
						.sig = run_sig};
	}
	pid_t killer = fork();
	if (killer == 0) {
		usleep(30000);
		kill(t[1], SIGKILL);
		_exit(0);
	}
	int rc = ckpt_heal_run(q, NT, &e);
	/* seen dead when it stops (its wait status), or by a ptrace request
	   made between its stop and its death: either way named, ESRCH */
	char want[64], or_want[64];
	snprintf(want, sizeof(want), "thread %d was killed by signal 9", t[1]);
	snprintf(or_want, sizeof(or_want), " %d: ESRCH", t[1]);
	EXPECT(rc == -ESRCH && (strstr(msg, want) || strstr(msg, or_want)),
	       "run with a member killed: %d (%s)", rc, msg);
	EXPECT(q[0].done < n && q[2].done < n, "the others stopped early (%u, %u of %u)",
	       q[0].done, q[2].done, n);
	int st;
	waitpid(killer, &st, 0);
	for (int i = 0; i < NT; i += 2) {
		uint32_t wrong = 0;
		for (uint32_t k = 0; k < q[i].done; k++)
			wrong += c[i][k].ret != expected(k, t[i]);
		EXPECT(wrong == 0, "queue %d: %u of %u results wrong", i, wrong, q[i].done);
		EXPECT(ckpt_heal_disarm(&h[i], &e) == 0, "disarm after a failed run: %s", msg);
		EXPECT(ckpt_gadget_remove(t[i], g[i], &e) == 0, "gadget remove: %s", msg);
		EXPECT(ptrace(PTRACE_DETACH, t[i], 0, 0) == 0, "detach");
	}
	uint64_t from = sh->iters;
	wait_progress(t[0], from, "after a failed batch");
	EXPECT(sh->bad == 0, "registers changed after a failed batch");
	for (int i = 0; i < NT; i++) {
		if (i != 1)
			EXPECT(waitpid(t[i], &st, WNOHANG) == 0, "target %d died", t[i]);
		kill(t[i], SIGKILL);
		waitpid(t[i], &st, 0);
		free(c[i]);
	}
	sh->iters = 0;
}

/* The tracer dies at some instant of a long run over three processes: each
   runs on with its registers, sigmask and mappings intact. */
static void batch_tracer_dies(int delay_us)
{
	pid_t t[NT];
	char *maps[NT];
	uint64_t blk[NT];
	for (int i = 0; i < NT; i++) {
		slot = i;
		t[i] = start_target();
	}
	slot = 0;
	for (int k = 0; k < 300 && !(sh->per[0] && sh->per[1] && sh->per[2]); k++)
		usleep(10000); /* each one spinning, its sigmask set */
	for (int i = 0; i < NT; i++) {
		EXPECT(sh->per[i], "batch: target %d did not start", t[i]);
		maps[i] = maps_of(t[i]);
		blk[i] = sigblk(t[i]);
	}
	int p[2];
	EXPECT(pipe(p) == 0, "pipe");
	pid_t tr = fork();
	if (tr == 0) {
		char msg[512];
		struct ckpt_err e;
		ckpt_err_init(&e, msg, sizeof(msg));
		close(p[0]);
		seize_all(t, &e);
		struct ckpt_heal h[NT];
		struct ckpt_heal_queue q[NT];
		const uint32_t n = 1000000;
		for (int i = 0; i < NT; i++) {
			uint64_t g;
			struct ckpt_heal_call *c = calloc(n, sizeof(*c));
			if (!c || ckpt_gadget_install(t[i], &g, &e) ||
			    ckpt_heal_arm(&h[i], t[i], t[i], g, 4096, &e))
				_exit(11);
			uint64_t all = ~0ull;
			ptrace(0x420b /* PTRACE_SETSIGMASK */, t[i], 8, &all);
			fill(c, n);
			q[i] = (struct ckpt_heal_queue){.h = &h[i], .calls = c, .n = n,
							.sig = run_sig};
		}
		if (write(p[1], "x", 1) != 1)
			_exit(14);
		ckpt_heal_run(q, NT, &e);
		_exit(15); /* killed before this */
	}
	close(p[1]);
	char ch;
	EXPECT(read(p[0], &ch, 1) == 1, "batch tracer got ready");
	close(p[0]);
	usleep(delay_us);
	kill(tr, SIGKILL);
	int st;
	waitpid(tr, &st, 0);
	EXPECT(WIFSIGNALED(st), "batch tracer ended by itself (status %x)", st);
	/* every target runs on: each one has been through its rt_sigreturn
	   before its sigmask is looked at (until it is scheduled, the mask is
	   the injection's; under load that took long enough to be seen) */
	uint64_t per[NT];
	for (int i = 0; i < NT; i++)
		per[i] = sh->per[i];
	for (int k = 0; k < 300; k++) {
		int all = 1;
		for (int i = 0; i < NT; i++)
			all &= sh->per[i] >= per[i] + 3;
		if (all)
			break;
		usleep(10000);
	}
	for (int i = 0; i < NT; i++)
		EXPECT(sh->per[i] >= per[i] + 3, "batch, tracer killed after %d us: target %d "
		       "made no progress", delay_us, t[i]);
	for (int i = 0; i < NT; i++) {
		EXPECT(waitpid(t[i], &st, WNOHANG) == 0, "batch, tracer killed after %d us: target "
		       "%d died (status %x)", delay_us, t[i], st);
		EXPECT(sigblk(t[i]) == blk[i], "batch: sigmask of %d %llx, was %llx", t[i],
		       (unsigned long long)sigblk(t[i]), (unsigned long long)blk[i]);
		char *now = maps_of(t[i]);
		EXPECT(!strcmp(now, maps[i]), "batch: mappings now\n%s\nwere\n%s", now, maps[i]);
		free(now);
		free(maps[i]);
	}
	EXPECT(sh->bad == 0, "batch: registers changed under a target (%llu times)",
	       (unsigned long long)sh->bad);
	for (int i = 0; i < NT; i++) {
		kill(t[i], SIGKILL);
		waitpid(t[i], &st, 0);
	}
	sh->bad = 0;
	sh->iters = 0;
	memset((void *)sh->per, 0, sizeof(sh->per));
}

/* A gadget left in [vdso] by a checkpointer that died (this one's, or the
   32-byte one of checkpointers before the batch part) is taken over; any
   other non-zero byte there is refused, naming the lack of padding. */
static void leftovers(void)
{
	char msg[512];
	struct ckpt_err e;
	ckpt_err_init(&e, msg, sizeof(msg));
	pid_t target = start_target();
	wait_progress(target, 0, "leftovers start");
	int st;
	EXPECT(ptrace(PTRACE_SEIZE, target, 0, PTRACE_O_TRACESYSGOOD) == 0, "seize");
	EXPECT(ptrace(PTRACE_INTERRUPT, target, 0, 0) == 0, "interrupt");
	EXPECT(ckpt_wait_stopped(target, &st, &e) == 0, "wait: %s", msg);
	uint64_t g = 0, g2 = 0;
	EXPECT(ckpt_gadget_install(target, &g, &e) == 0, "gadget: %s", msg);
	EXPECT(ckpt_gadget_install(target, &g2, &e) == 0 && g2 == g,
	       "this checkpointer's own gadget left there is taken over: %s", msg);
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/mem", target);
	int fd = open(p, O_RDWR);
	EXPECT(fd >= 0, "open %s", p);
	unsigned char buf[112];
	EXPECT(pread(fd, buf, sizeof(buf), (off_t)g) == sizeof(buf), "read the gadget");
	uint64_t end = g + sizeof(buf);
	/* the 32-byte gadget of older checkpointers, at the very end */
	static const unsigned char v2[32] = {
		0x0f, 0x05, 0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x0f, 0x05,
		0x48, 0x89, 0xc7, 0xb8, 0x0b, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xb8,
		0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
	unsigned char old[112] = {0};
	memcpy(old + sizeof(old) - 32, v2, 32);
	EXPECT(pwrite(fd, old, sizeof(old), (off_t)g) == sizeof(old), "write an old gadget");
	EXPECT(ckpt_gadget_install(target, &g2, &e) == 0 && g2 == g,
	       "an older checkpointer's gadget is taken over: %s", msg);
	EXPECT(pread(fd, old, sizeof(old), (off_t)g) == sizeof(old) && !memcmp(old, buf, 112),
	       "the current gadget replaces it");
	unsigned char x = 0x90;
	EXPECT(pwrite(fd, &x, 1, (off_t)(end - 60)) == 1, "write a stray byte");
	ckpt_err_init(&e, msg, sizeof(msg));
	memset(old, 0, sizeof(old));
	EXPECT(pwrite(fd, old, 40, (off_t)g) == 40, "clear the start");
	EXPECT(ckpt_gadget_install(target, &g2, &e) == -ENOSPC && strstr(msg, "zero padding"),
	       "a stray byte refuses: %s", msg);
	EXPECT(ckpt_gadget_remove(target, g, &e) == 0, "gadget remove: %s", msg);
	close(fd);
	EXPECT(ptrace(PTRACE_DETACH, target, 0, 0) == 0, "detach");
	kill(target, SIGKILL);
	waitpid(target, &st, 0);
	sh->iters = 0;
}

int main(void)
{
	sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	has_avx = __builtin_cpu_supports("avx2");
	clean_round();
	leftovers();
	for (int round = 0; round < 2; round++)
		for (int s = 0; s < NR_STAGES; s++)
			die_at((enum stage)s);
	for (int b = 0; b < 2; b++) {
		run_sig = b ? SIGURG : 0;
		batch_round();
		batch_member_dies();
		for (int d = 0; d < 5; d++)
			batch_tracer_dies(1000 + d * 7919);
	}
	printf("ptrace_heal: %s\n", fails ? "FAIL" : "PASS");
	return fails != 0;
}
