// SPDX-License-Identifier: BSD-3-Clause
/*
 * Process and thread state of a frozen process: what ptrace and /proc give
 * (registers, xstate, sigmask, rseq, robust list, pending signals,
 * credentials, mm fields, limits) and what only the target itself can tell
 * (signal handlers, clear-tid address, sigaltstack, itimers, brk, dumpable):
 * those are syscalls injected into it, self-healing (ptrace.h: the target
 * survives our death at any instant), their results read back from an area
 * below each thread's injection frame on its own stack. Nothing is mapped
 * in the target.
 */
#include "dump.h"
#include "cpu.h"

#define ARCH_GET_XCOMP_PERM_ 0x1022
#include "ptrace.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#endif
#ifndef PTRACE_PEEKSIGINFO
#define PTRACE_PEEKSIGINFO 0x4209
#endif
#define PTRACE_GET_RSEQ_CONFIGURATION_ 0x420f
#define PEEKSIGINFO_SHARED 1

struct peeksiginfo_args_ {
	uint64_t off;
	uint32_t flags;
	int32_t nr;
};

struct rseq_conf_ {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};

static int peek_pending(struct dump *d, pid_t tid, uint32_t flags,
			struct ckpt_img_siginfo *out, uint32_t *count)
{
	struct peeksiginfo_args_ a = {.off = 0, .flags = flags, .nr = DUMP_MAX_PENDING};
	long n = ptrace(PTRACE_PEEKSIGINFO, tid, &a, out);
	if (n < 0)
		return ckpt_fail_errno(d->e, errno, "ptrace peeksiginfo %d", tid);
	*count = (uint32_t)n;
	return 0;
}

/* What ptrace tells without running anything in the thread. */
static int thread_plain(struct dump *d, struct dump_thread *t, int leader)
{
	struct ckpt_img_thread *it = &t->t;
	it->tid = t->tid;
	it->flags = leader ? CKPT_THR_F_LEADER : 0;
	struct user_regs_struct r;
	int rc = ckpt_getregs(t->tid, &r, d->e);
	if (rc)
		return rc;
	if (ckpt_regs_fixup_restart(&r, 1))
		it->flags |= CKPT_THR_F_IN_SYSCALL;
	memcpy(&it->regs, &r, sizeof(it->regs));
	uint32_t xmax = ckpt_xstate_max();
	t->xstate = calloc(1, xmax);
	t->pending = calloc(DUMP_MAX_PENDING + 4, sizeof(*t->pending));
	if (!t->xstate || !t->pending)
		return ckpt_fail(d->e, ENOMEM, "no memory for thread %d", t->tid);
	struct iovec iov = {t->xstate, xmax};
	if (ptrace(PTRACE_GETREGSET, t->tid, NT_X86_XSTATE, &iov) < 0)
		return ckpt_fail_errno(d->e, errno, "ptrace getregset xstate %d", t->tid);
	it->xstate_size = (uint32_t)iov.iov_len;
	if (ptrace(PTRACE_GETSIGMASK, t->tid, 8, &it->sigmask) < 0)
		return ckpt_fail_errno(d->e, errno, "ptrace getsigmask %d", t->tid);
	struct rseq_conf_ rq = {0};
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION_, t->tid, sizeof(rq), &rq) >= 0) {
		it->rseq_abi_pointer = rq.rseq_abi_pointer;
		it->rseq_abi_size = rq.rseq_abi_size;
		it->rseq_signature = rq.signature;
		it->rseq_flags = rq.flags;
	}
	uint64_t head = 0;
	size_t len = 0;
	if (syscall(SYS_get_robust_list, t->tid, &head, &len) == 0) {
		it->robust_list_head = head;
		it->robust_list_len = len;
	}
	uint32_t n = 0;
	if ((rc = peek_pending(d, t->tid, 0, t->pending, &n)))
		return rc;
	/* signals our freeze stop dequeued are still pending for the image */
	for (uint32_t k = 0; k < t->nr_caught && n < DUMP_MAX_PENDING + 4; k++)
		if (!dump_is_sync_fault(&t->caught[k]))
			t->pending[n++] = t->caught[k];
	it->pending_count = n;
	return 0;
}

/*
 * Where results land in a thread's injection result area (DUMP_OUT_SIZE
 * bytes): every call of a run is made before any result is read, so no two
 * may share bytes. The leader's: signal handlers 0..2047 (64 x 32), itimers
 * 2048..2143, xcomp permission 3072..3079, proc_attrs.c's from OUT_ATTRS
 * (3584) on. Every thread's clear-tid address and sigaltstack: OUT_THREAD.
 */
#define OUT_THREAD 2560

/* Per-thread state only the thread can report: clear-tid, sigaltstack. */
static int thread_injected(struct dump *d, uint32_t i)
{
	struct dump_thread *t = &d->threads[i];
	int rc = dump_inject_prepare(d, i);
	uint64_t s = t->heal.out + OUT_THREAD;
	if (!rc)
		rc = dump_sys(d, i, "prctl(PR_GET_TID_ADDRESS)", 1, NULL, SYS_prctl,
			      PR_GET_TID_ADDRESS, (long)s, 0, 0, 0, 0);
	if (!rc)
		rc = dump_sys(d, i, "sigaltstack", 1, NULL, SYS_sigaltstack, 0, (long)(s + 8), 0,
			      0, 0, 0);
	unsigned char buf[32];
	if (!rc)
		rc = dump_read_mem(d, s, buf, sizeof(buf));
	if (rc)
		return rc;
	stack_t ss;
	memcpy(&t->t.clear_tid_address, buf, 8);
	memcpy(&ss, buf + 8, sizeof(ss));
	t->t.altstack_sp = (uint64_t)ss.ss_sp;
	t->t.altstack_size = ss.ss_size;
	t->t.altstack_flags = (uint32_t)ss.ss_flags;
	return 0;
}

static int thread_plan(struct dump *d, uint32_t i)
{
	uint64_t s = d->threads[i].heal.out + OUT_THREAD;
	int rc = dump_sys_plan(d, i, SYS_prctl, PR_GET_TID_ADDRESS, (long)s, 0, 0, 0, 0);
	return rc ? rc : dump_sys_plan(d, i, SYS_sigaltstack, 0, (long)(s + 8), 0, 0, 0, 0);
}

static int proc_plan(struct dump *d);

/* A hex mask from a "Name:\tHEX" line of a status file. */
static int status_mask(const char *text, const char *name, uint64_t *v)
{
	const char *p = strstr(text, name);
	if (!p)
		return 0;
	*v = strtoull(p + strlen(name), NULL, 16);
	return 1;
}

int dump_task_sigsets(pid_t pid, pid_t tid, struct dump_sigsets *ss)
{
	char p[64], buf[4096];
	snprintf(p, sizeof(p), "/proc/%d/task/%d/status", pid, tid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return status_mask(buf, "\nSigPnd:", &ss->pnd) && status_mask(buf, "\nShdPnd:", &ss->shd) &&
		       status_mask(buf, "\nSigIgn:", &ss->ign) && status_mask(buf, "\nSigCgt:", &ss->cgt)
		   ? 0
		   : -1;
}

/*
 * The signal that ends thread t's batches (ckpt_heal_run in ptrace.h), or 0
 * for one call at a time: one the process discards on arrival, so that the
 * batch's own copy, or one someone else sends meanwhile, changes nothing it
 * would see. Not caught; SIG_IGN, or SIG_DFL where that ignores (SIGURG,
 * SIGWINCH, SIGCHLD); never SIGCONT or a stop signal (sending those drops
 * other pending signals); not blocked by the thread (a blocked signal stays
 * pending, visible to sigpending and signalfd); not pending already.
 */
static int batch_signal(struct dump *d, const struct dump_thread *t)
{
	struct dump_sigsets ss;
	if (dump_task_sigsets(d->pid, t->tid, &ss))
		return 0;
	uint64_t no = ss.pnd | ss.shd | ss.cgt | t->saved_sigmask, ign = ss.ign;
	const int dfl[] = {SIGURG, SIGWINCH, SIGCHLD};
	for (unsigned i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++)
		if (!(no & (1ull << (dfl[i] - 1))))
			return dfl[i];
	for (int sig = 1; sig <= 64; sig++) {
		uint64_t b = 1ull << (sig - 1);
		if ((ign & b) && !(no & b) && sig != SIGCONT && sig != SIGTSTP && sig != SIGTTIN &&
		    sig != SIGTTOU && sig != SIGKILL && sig != SIGSTOP)
			return sig;
	}
	return 0;
}

/* One process's part of dump_user_inject_all up to the run: its queues
   appended to q (room for all its threads). */
static int inject_prepare(struct dump *d, struct ckpt_heal_queue *q, uint32_t *nq)
{
	int rc = dump_proc_refusals(d);
	for (uint32_t i = 0; !rc && i < d->nr_threads; i++)
		rc = thread_plain(d, &d->threads[i], i == 0);
	if (!rc)
		rc = ckpt_gadget_install(d->pid, &d->gadget, d->e);
	for (uint32_t i = 0; !rc && i < d->nr_threads; i++)
		rc = dump_inject_prepare(d, i);
	for (uint32_t i = 0; !rc && i < d->nr_threads; i++)
		rc = thread_plan(d, i);
	if (!rc)
		rc = proc_plan(d);
	if (!rc)
		rc = dump_proc_attrs_plan(d);
	if (!rc)
		rc = dump_tprctl_plan(d);
	for (uint32_t i = 0; !rc && i < d->nr_threads; i++) {
		struct dump_thread *t = &d->threads[i];
		/* more than one call: a batch (two stops instead of two a call) */
		q[(*nq)++] = (struct ckpt_heal_queue){.h = &t->heal, .calls = t->calls,
						      .n = t->nr_calls,
						      .sig = t->nr_calls > 1 ? batch_signal(d, t) : 0};
	}
	return rc;
}

int dump_user_inject_all(struct dump **ds, uint32_t n)
{
	uint32_t total = 0, nq = 0;
	for (uint32_t k = 0; k < n; k++)
		if (ds[k]->opts->backend != CKPT_BACKEND_KERNEL)
			total += ds[k]->nr_threads;
	if (!total)
		return 0;
	struct ckpt_heal_queue *q = calloc(total, sizeof(*q));
	if (!q)
		return ckpt_fail(ds[0]->e, ENOMEM, "no memory for %u injection queues", total);
	int rc = 0;
	for (uint32_t k = 0; !rc && k < n; k++) {
		if (ds[k]->opts->backend == CKPT_BACKEND_KERNEL)
			continue;
		ds[k]->injected = 1;
		rc = inject_prepare(ds[k], q, &nq);
	}
	if (!rc)
		rc = ckpt_heal_run(q, nq, ds[0]->e);
	/* what ran is there to take, whatever failed */
	for (uint32_t x = 0; x < nq; x++) {
		struct dump_thread *t = (void *)((char *)q[x].h - offsetof(struct dump_thread, heal));
		t->calls_done = q[x].done;
		t->deferred |= q[x].deferred;
	}
	free(q);
	return rc;
}

int dump_user_threads_state(struct dump *d)
{
	int rc = d->injected ? 0 : dump_user_inject_all(&d, 1);
	for (uint32_t i = 0; !rc && i < d->nr_threads; i++)
		rc = thread_injected(d, i);
	return rc;
}

int dump_heal_end(struct dump *d)
{
	int rc = 0;
	for (uint32_t i = 0; d->threads && i < d->nr_threads; i++) {
		struct dump_thread *t = &d->threads[i];
		int r = ckpt_heal_disarm(&t->heal, d->e);
		if (r && !rc)
			rc = r;
		free(t->calls);
		free(t->taken);
		t->calls = NULL;
		t->taken = NULL;
		t->nr_calls = t->cap_calls = t->calls_done = 0;
	}
	if (d->gadget) {
		int r = ckpt_gadget_remove(d->pid, d->gadget, d->e);
		if (r && !rc)
			rc = r;
		d->gadget = 0;
	}
	return rc;
}

/* ---- process ------------------------------------------------------------- */

static int read_small(struct dump *d, const char *what, void *buf, size_t len, ssize_t *got)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/%s", d->pid, what);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ckpt_fail_errno(d->e, errno, "open %s", p);
	ssize_t n = read(fd, buf, len);
	int err = errno;
	close(fd);
	if (n < 0)
		return ckpt_fail_errno(d->e, err, "read %s", p);
	*got = n;
	return 0;
}

/* The name of thread tid: its comm file holds up to 15 bytes, any of which
   may be a newline (prctl(PR_SET_NAME) takes any byte but NUL), and then one
   newline of its own: only that last one is dropped. */
int dump_read_comm(struct dump *d, pid_t tid, char name[16])
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/task/%d/comm", d->pid, tid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ckpt_fail_errno(d->e, errno, "open %s", p);
	memset(name, 0, 16);
	ssize_t n = read(fd, name, 16);
	int err = errno;
	close(fd);
	if (n < 0)
		return ckpt_fail_errno(d->e, err, "read %s", p);
	if (n > 0 && name[n - 1] == '\n')
		name[n - 1] = '\0';
	name[15] = '\0';
	return 0;
}

static int stat_fields(struct dump *d)
{
	char buf[4096];
	ssize_t n;
	int rc = read_small(d, "stat", buf, sizeof(buf) - 1, &n);
	if (rc)
		return rc;
	buf[n] = '\0';
	char *r = strrchr(buf, ')');
	if (!r)
		return ckpt_fail(d->e, EPROTO, "cannot parse /proc/%d/stat", d->pid);
	unsigned long long v[64] = {0};
	int i = 3; /* field 3 is the state */
	char *save = NULL;
	for (char *tok = strtok_r(r + 2, " ", &save); tok && i < 64;
	     tok = strtok_r(NULL, " ", &save), i++)
		v[i] = strtoull(tok, NULL, 10);
	struct ckpt_img_proc *p = &d->proc;
	p->ppid = (int32_t)v[4];
	p->pgid = (int32_t)v[5];
	p->sid = (int32_t)v[6];
	p->exit_signal = (int32_t)v[38];
	struct ckpt_img_mm *mm = &p->mm;
	mm->start_code = v[26];
	mm->end_code = v[27];
	mm->start_stack = v[28];
	mm->start_data = v[45];
	mm->end_data = v[46];
	mm->start_brk = v[47];
	mm->arg_start = v[48];
	mm->arg_end = v[49];
	mm->env_start = v[50];
	mm->env_end = v[51];
	return 0;
}

static void ids(const char *s, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *e)
{
	unsigned long x[4] = {0};
	sscanf(s, "%lu %lu %lu %lu", &x[0], &x[1], &x[2], &x[3]);
	*a = (uint32_t)x[0];
	*b = (uint32_t)x[1];
	*c = (uint32_t)x[2];
	*e = (uint32_t)x[3];
}

static int status_fields(struct dump *d)
{
	char p[64], line[1024];
	snprintf(p, sizeof(p), "/proc/%d/status", d->pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return ckpt_fail_errno(d->e, errno, "open %s", p);
	struct ckpt_img_proc *pr = &d->proc;
	while (fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ':');
		if (!v)
			continue;
		*v++ = '\0';
		if (!strcmp(line, "Uid"))
			ids(v, &pr->uid, &pr->euid, &pr->suid, &pr->fsuid);
		else if (!strcmp(line, "Gid"))
			ids(v, &pr->gid, &pr->egid, &pr->sgid, &pr->fsgid);
		else if (!strcmp(line, "Umask"))
			pr->umask = (uint32_t)strtoul(v, NULL, 8);
		else if (!strcmp(line, "CapInh"))
			pr->cap_inheritable = strtoull(v, NULL, 16);
		else if (!strcmp(line, "CapPrm"))
			pr->cap_permitted = strtoull(v, NULL, 16);
		else if (!strcmp(line, "CapEff"))
			pr->cap_effective = strtoull(v, NULL, 16);
		else if (!strcmp(line, "CapBnd"))
			pr->cap_bset = strtoull(v, NULL, 16);
		else if (!strcmp(line, "CapAmb"))
			pr->cap_ambient = strtoull(v, NULL, 16);
		else if (!strcmp(line, "NoNewPrivs"))
			pr->no_new_privs = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(line, "Groups")) {
			char *s = v, *end;
			for (pr->ngroups = 0; pr->ngroups < CKPT_NGROUPS_MAX; pr->ngroups++) {
				unsigned long g = strtoul(s, &end, 10);
				if (end == s)
					break;
				pr->groups[pr->ngroups] = (uint32_t)g;
				s = end;
			}
		}
	}
	fclose(f);
	return 0;
}

static int link_of(struct dump *d, const char *what, char *out)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/%s", d->pid, what);
	ssize_t n = readlink(p, out, CKPT_PATH_MAX - 1);
	if (n < 0)
		return ckpt_fail_errno(d->e, errno, "readlink %s", p);
	out[n] = '\0';
	return 0;
}

/* proc_injected's calls, the same ones: planned ahead. */
static int proc_plan(struct dump *d)
{
	uint64_t s = d->threads[0].heal.out;
	int rc = 0;
	for (int sig = 1; !rc && sig <= CKPT_NSIG; sig++)
		rc = dump_sys_plan(d, 0, SYS_rt_sigaction, sig, 0, (long)(s + (sig - 1) * 32), 8, 0,
				   0);
	for (int w = 0; !rc && w < 3; w++)
		rc = dump_sys_plan(d, 0, SYS_getitimer, w, (long)(s + 2048 + w * 32), 0, 0, 0, 0);
	if (!rc)
		rc = dump_sys_plan(d, 0, SYS_brk, 0, 0, 0, 0, 0, 0);
	if (!rc)
		rc = dump_sys_plan(d, 0, SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0, 0);
	if (!rc)
		rc = dump_sys_plan(d, 0, SYS_prctl, PR_GET_THP_DISABLE, 0, 0, 0, 0, 0);
	if (!rc)
		rc = dump_sys_plan(d, 0, SYS_arch_prctl, ARCH_GET_XCOMP_PERM_, (long)(s + 3072),
				   0, 0, 0, 0);
	return rc;
}

/* Handlers, itimers, brk, dumpable, THP: injected into the leader. */
static int proc_injected(struct dump *d)
{
	struct ckpt_img_proc *p = &d->proc;
	uint64_t s = d->threads[0].heal.out; /* armed by dump_user_inject_all */
	int rc = 0;
	for (int sig = 1; !rc && sig <= CKPT_NSIG; sig++)
		rc = dump_sys(d, 0, "rt_sigaction", 1, NULL, SYS_rt_sigaction, sig, 0,
			      (long)(s + (sig - 1) * 32), 8, 0, 0);
	for (int w = 0; !rc && w < 3; w++)
		rc = dump_sys(d, 0, "getitimer", 1, NULL, SYS_getitimer, w,
			      (long)(s + 2048 + w * 32), 0, 0, 0, 0);
	if (!rc)
		rc = dump_read_mem(d, s, p->sigactions, sizeof(p->sigactions));
	if (!rc)
		rc = dump_read_mem(d, s + 2048, p->itimers, sizeof(p->itimers));
	long v = 0;
	if (!rc)
		rc = dump_sys(d, 0, "brk", 0, &v, SYS_brk, 0, 0, 0, 0, 0, 0);
	p->mm.brk = (uint64_t)v;
	if (!rc)
		rc = dump_sys(d, 0, "prctl(PR_GET_DUMPABLE)", 1, &v, SYS_prctl, PR_GET_DUMPABLE, 0,
			      0, 0, 0, 0);
	p->dumpable = (uint32_t)v;
	if (!rc)
		rc = dump_sys(d, 0, "prctl(PR_GET_THP_DISABLE)", 1, &v, SYS_prctl,
			      PR_GET_THP_DISABLE, 0, 0, 0, 0, 0);
	p->thp_disable = (uint64_t)v;
	/* dynamic xfeatures the process may use (AMX tile data): a restarted
	   process must hold the permission before its xstate is written. A
	   kernel without the call (EINVAL) has none to give. */
	if (!rc)
		rc = dump_sys(d, 0, "arch_prctl(ARCH_GET_XCOMP_PERM)", 0, &v, SYS_arch_prctl,
			      ARCH_GET_XCOMP_PERM_, (long)(s + 3072), 0, 0, 0, 0);
	if (!rc && v == 0)
		rc = dump_read_mem(d, s + 3072, &d->procx.xcomp_perm, sizeof(d->procx.xcomp_perm));
	return rc;
}

/* /proc/PID/limits: one line per RLIMIT_* in their order, "Max ... SOFT
   HARD [units]" where a value is a number or "unlimited". */
static int limits_from_proc(struct dump *d)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/limits", d->pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return ckpt_fail_errno(d->e, errno, "read %s (prlimit was refused)", path);
	int r = -1;
	while (fgets(line, sizeof(line), f) && r < CKPT_RLIM_NLIMITS) {
		if (r++ < 0 || r - 1 >= RLIM_NLIMITS)
			continue; /* the heading */
		if (strlen(line) < 26)
			break;
		char soft[32], hard[32];
		if (sscanf(line + 26, "%31s %31s", soft, hard) != 2)
			break;
		d->proc.rlimits[r - 1].cur =
			strcmp(soft, "unlimited") ? strtoull(soft, NULL, 10) : RLIM_INFINITY;
		d->proc.rlimits[r - 1].max =
			strcmp(hard, "unlimited") ? strtoull(hard, NULL, 10) : RLIM_INFINITY;
	}
	fclose(f);
	int want = RLIM_NLIMITS < CKPT_RLIM_NLIMITS ? RLIM_NLIMITS : CKPT_RLIM_NLIMITS;
	if (r < want)
		return ckpt_fail(d->e, EIO, "%s: %d limits read, %d expected", path, r, want);
	return 0;
}

int dump_user_proc_state(struct dump *d)
{
	uint32_t np = 0;
	int rc = peek_pending(d, d->pid, PEEKSIGINFO_SHARED, d->shared_pending, &np);
	d->proc.pending_shared_count = np;
	return rc ? rc : proc_injected(d);
}

int dump_proc_common(struct dump *d)
{
	struct ckpt_img_proc *p = &d->proc;
	p->pid = d->pid;
	p->nr_threads = d->nr_threads;
	p->flags = d->was_stopped ? CKPT_PROC_F_STOPPED : 0;
	int rc = stat_fields(d);
	if (!rc)
		rc = status_fields(d);
	ssize_t n = 0;
	char buf[64];
	if (!rc && !(rc = read_small(d, "personality", buf, sizeof(buf) - 1, &n))) {
		buf[n] = '\0';
		p->personality = (uint32_t)strtoul(buf, NULL, 16);
	}
	if (!rc)
		rc = dump_read_comm(d, d->pid, p->comm);
	if (!rc && !(rc = read_small(d, "auxv", p->mm.auxv, sizeof(p->mm.auxv), &n)))
		p->mm.auxv_words = (uint32_t)(n / 8);
	if (!rc)
		rc = link_of(d, "exe", p->exe);
	if (!rc)
		rc = link_of(d, "cwd", p->cwd);
	if (!rc)
		rc = link_of(d, "root", p->root);
	/* a restart opens its files by the checkpointer's paths and does not
	   chroot: the process would come back with the restarter's root */
	if (!rc && strcmp(p->root, "/") != 0)
		return ckpt_fail(d->e, ENOTSUP,
				 "pid %d: its root directory is %s, not the checkpointer's "
				 "(chroot): not restored",
				 d->pid, p->root);
	for (int r = 0; !rc && r < CKPT_RLIM_NLIMITS && r < RLIM_NLIMITS; r++) {
		struct rlimit l;
		if (prlimit(d->pid, r, NULL, &l) < 0) {
			/* another user's process without CAP_SYS_RESOURCE: the
			   same numbers, from /proc/PID/limits */
			if (errno == EPERM && !(rc = limits_from_proc(d)))
				break;
			return rc ? rc : ckpt_fail_errno(d->e, errno, "prlimit %d of %d", r, d->pid);
		}
		p->rlimits[r].cur = l.rlim_cur;
		p->rlimits[r].max = l.rlim_max;
	}
	return rc;
}
