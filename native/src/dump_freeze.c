// SPDX-License-Identifier: BSD-3-Clause
/*
 * Freezing a process for a checkpoint: PTRACE_SEIZE + PTRACE_INTERRUPT of
 * every thread, repeated over /proc/PID/task until the set is stable (a
 * thread may clone while we seize), and the way back: sigmasks restored,
 * signals a freeze stop had dequeued queued again, every thread detached.
 */
#include "dump.h"
#include "ptrace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#define PTRACE_SETSIGMASK 0x420b
#endif

/* "TracerPid:" etc. from /proc/PID/status; -1 if absent. */
static long status_field(pid_t pid, const char *key)
{
	char p[64], line[256];
	snprintf(p, sizeof(p), "/proc/%d/status", pid);
	FILE *f = fopen(p, "re");
	long v = -1;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl)) {
			v = strtol(line + kl, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return v;
}

static struct dump_thread *find(struct dump *d, pid_t tid)
{
	for (uint32_t i = 0; i < d->nr_threads; i++)
		if (d->threads[i].tid == tid)
			return &d->threads[i];
	return NULL;
}

static int seize(struct dump *d, pid_t tid)
{
	if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD) < 0) {
		int err = errno;
		if (err == ESRCH && tid != d->pid)
			return 1; /* the thread exited meanwhile */
		if (err == ESRCH)
			return ckpt_fail(d->e, ESRCH, "process %d exited while being frozen",
					 d->pid);
		long tracer = status_field(tid, "TracerPid:");
		if (err == EPERM && tracer > 0)
			return ckpt_fail(d->e, EPERM,
					 "ptrace seize %d: EPERM (already traced by %ld; detach "
					 "the debugger first)",
					 tid, tracer);
		return ckpt_fail_errno(d->e, err, "ptrace seize %d", tid);
	}
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0 && errno != ESRCH)
		return ckpt_fail_errno(d->e, errno, "ptrace interrupt %d", tid);
	return 0;
}

/* Wait for thread t's first stop after the interrupt. */
static int wait_frozen(struct dump *d, struct dump_thread *t)
{
	for (;;) {
		int st;
		pid_t w = waitpid(t->tid, &st, __WALL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return ckpt_fail_errno(d->e, errno, "waitpid %d", t->tid);
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (t->tid == d->pid)
				return ckpt_fail(d->e, ESRCH, "process %d exited while being frozen",
						 d->pid);
			t->seized = 0; /* gone: dropped by the caller */
			return 1;
		}
		if (!WIFSTOPPED(st))
			continue;
		t->stopped = 1;
		int sig = WSTOPSIG(st);
		if ((st >> 16) == 0 && sig != (SIGTRAP | 0x80) && t->nr_caught < 4) {
			/* A signal-delivery stop: the signal is dequeued. Keep it. */
			siginfo_t si;
			if (ptrace(PTRACE_GETSIGINFO, t->tid, 0, &si) == 0)
				memcpy(t->caught[t->nr_caught++].raw, &si, sizeof(si));
		}
		return 0;
	}
}

static int list_tasks(struct dump *d, int *added)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/task", d->pid);
	DIR *dir = opendir(p);
	if (!dir)
		return ckpt_fail_errno(d->e, errno, "list threads of %d (%s)", d->pid, p);
	struct dirent *de;
	int rc = 0;
	while (!rc && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		pid_t tid = atoi(de->d_name);
		if (find(d, tid))
			continue;
		if (d->nr_threads >= DUMP_MAX_THREADS) {
			rc = ckpt_fail(d->e, E2BIG, "process %d has more than %d threads", d->pid,
				       DUMP_MAX_THREADS);
			break;
		}
		int r = seize(d, tid);
		if (r < 0) {
			rc = r;
			break;
		}
		if (r > 0)
			continue;
		struct dump_thread *t = &d->threads[d->nr_threads++];
		memset(t, 0, sizeof(*t));
		t->tid = tid;
		t->seized = 1;
		(*added)++;
	}
	closedir(dir);
	return rc;
}

static int is_one_of(long pid, const pid_t *pids, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (pids[i] == pid)
			return 1;
	return 0;
}

/* Is a thread of one of pids tracing some process? Its tracees would be
   left behind, or frozen with it (BLCR's --ptracer-error, the default).
   Every process's TracerPid is read once, whatever n is. */
int dump_refuse_tracers(const pid_t *pids, uint32_t n, struct ckpt_err *e)
{
	DIR *proc = opendir("/proc");
	if (!proc)
		return 0;
	struct dirent *de;
	int rc = 0;
	while (!rc && (de = readdir(proc))) {
		pid_t p = atoi(de->d_name);
		if (p <= 0)
			continue;
		long tracer = status_field(p, "TracerPid:");
		if (tracer <= 0)
			continue;
		long tgid = is_one_of(tracer, pids, n) ? tracer : status_field((pid_t)tracer, "Tgid:");
		if (tgid > 0 && is_one_of(tgid, pids, n) && tgid != p)
			rc = ckpt_fail(e, EBUSY,
				       "process %ld is tracing process %d (a debugger or strace?): "
				       "checkpointing a tracer is not supported; detach it first",
				       tgid, p);
	}
	closedir(proc);
	return rc;
}

/* ---- what processes share that a restart would give each its own -------- */

#define KCMP_VM_ 1
#define KCMP_FILES_ 2
#define KCMP_FS_ 3

static const struct {
	int type;
	const char *what;
} shared_kind[] = {
	{KCMP_VM_, "one address space (clone CLONE_VM without CLONE_THREAD)"},
	{KCMP_FILES_, "one descriptor table (clone CLONE_FILES)"},
	{KCMP_FS_, "one working directory, root and umask (clone CLONE_FS)"},
};

static int kcmp_order(const void *a, const void *b, void *type)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	long r = syscall(SYS_kcmp, x, y, *(int *)type, 0, 0);
	if (r == 1)
		return -1;
	if (r == 2)
		return 1;
	if (r == 0)
		return 0;
	return x < y ? -1 : x > y; /* cannot tell: by pid */
}

/* Is parent asleep in the clone/vfork that made child with CLONE_VFORK (a
   vfork or posix_spawn not yet past its exec)? The child runs in its own
   copy of the memory after a restart, as after a fork, which a vfork child
   that only execs or exits cannot tell. */
static pid_t vfork_child(pid_t pid);

static int in_vfork(pid_t parent, pid_t child)
{
	/* any thread of the parent (vfork_child looks at each) */
	return dump_parent_of(child) == parent && vfork_child(parent) == child;
}

static int refuse_pair(pid_t a, pid_t b, int k, struct ckpt_err *e)
{
	if (syscall(SYS_kcmp, a, b, shared_kind[k].type, 0, 0) != 0)
		return 0;
	if (shared_kind[k].type == KCMP_VM_ && (in_vfork(a, b) || in_vfork(b, a)))
		return 0;
	return ckpt_fail(e, ENOTSUP,
			 "processes %d and %d share %s: a restart would give each its own, so "
			 "they cannot be checkpointed",
			 a, b, shared_kind[k].what);
}

int dump_refuse_shared_tables(const pid_t *pids, uint32_t n, struct ckpt_err *e)
{
	pid_t *s = n > 1 ? malloc(n * sizeof(*s)) : NULL;
	if (n > 1 && !s)
		return ckpt_fail(e, ENOMEM, "no memory");
	int rc = 0;
	for (int k = 0; !rc && k < (int)(sizeof(shared_kind) / sizeof(shared_kind[0])); k++) {
		/* among themselves: sorted by kcmp's order, equal ones adjacent */
		if (n > 1) {
			memcpy(s, pids, n * sizeof(*s));
			int type = shared_kind[k].type;
			qsort_r(s, n, sizeof(*s), kcmp_order, &type);
			for (uint32_t i = 1; !rc && i < n; i++)
				rc = refuse_pair(s[i - 1], s[i], k, e);
		}
		/* with a parent or child outside them */
		for (uint32_t i = 0; !rc && i < n; i++) {
			pid_t pp = dump_parent_of(pids[i]);
			int inside = 0;
			for (uint32_t x = 0; x < n && pp > 0; x++)
				inside |= pids[x] == pp;
			if (pp > 1 && !inside)
				rc = refuse_pair(pp, pids[i], k, e);
			char path[64];
			snprintf(path, sizeof(path), "/proc/%d/task", pids[i]);
			DIR *dir = opendir(path);
			struct dirent *de;
			while (!rc && dir && (de = readdir(dir))) {
				if (de->d_name[0] == '.')
					continue;
				char cp[320], buf[4096];
				snprintf(cp, sizeof(cp), "/proc/%d/task/%s/children", pids[i],
					 de->d_name);
				int fd = open(cp, O_RDONLY | O_CLOEXEC);
				ssize_t got = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
				if (fd >= 0)
					close(fd);
				buf[got > 0 ? got : 0] = '\0';
				for (char *c = buf, *end; !rc && *c; c = end) {
					long ch = strtol(c, &end, 10);
					if (end == c)
						break;
					int member = 0;
					for (uint32_t x = 0; x < n; x++)
						member |= pids[x] == ch;
					if (!member)
						rc = refuse_pair(pids[i], (pid_t)ch, k, e);
				}
			}
			if (dir)
				closedir(dir);
		}
	}
	free(s);
	return rc;
}

int dump_refuse_tracer(struct dump *d)
{
	if (d->job)
		return 0;
	int rc = dump_refuse_tracers(&d->pid, 1, d->e);
	return rc ? rc : dump_refuse_shared_tables(&d->pid, 1, d->e);
}

/* A thread of pid asleep in vfork (clone with CLONE_VFORK) until its child
   execs or exits: the child (sharing the memory), or 0. Such a thread does
   not stop for a tracer, and a freeze would wait as long as the child. */
static pid_t vfork_child(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *dir = opendir(path);
	struct dirent *de;
	pid_t found = 0;
	while (!found && dir && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		char p[320], buf[4096];
		snprintf(p, sizeof(p), "/proc/%d/task/%s/syscall", pid, de->d_name);
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, 63);
		if (fd >= 0)
			close(fd);
		buf[n > 0 ? n : 0] = '\0';
		long nr = n > 0 ? strtol(buf, NULL, 10) : -1;
		if (nr != SYS_clone && nr != SYS_vfork && nr != 435 /* clone3 */)
			continue;
		snprintf(p, sizeof(p), "/proc/%d/task/%s/children", pid, de->d_name);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		buf[n > 0 ? n : 0] = '\0';
		for (char *c = buf, *end; !found && *c; c = end) {
			long ch = strtol(c, &end, 10);
			if (end == c)
				break;
			if (syscall(SYS_kcmp, pid, (pid_t)ch, KCMP_VM_, 0, 0) == 0)
				found = (pid_t)ch;
		}
	}
	if (dir)
		closedir(dir);
	return found;
}

int dump_check_target(struct dump *d, char *state)
{
	long tgid = status_field(d->pid, "Tgid:");
	if (tgid < 0)
		return ckpt_fail(d->e, ESRCH, "no process %d", d->pid);
	if (tgid != d->pid)
		return ckpt_fail(d->e, EINVAL,
				 "%d is a thread of process %ld; checkpoint the process (%ld)", d->pid,
				 tgid, tgid);
	if (d->pid == getpid())
		return ckpt_fail(d->e, EINVAL, "a process cannot checkpoint itself (pid %d)",
				 d->pid);
	*state = ckpt_proc_state(d->pid);
	if (*state == 'Z' || *state == 'X')
		return ckpt_fail(d->e, ESRCH, "process %d is a zombie (exited, not yet reaped)",
				 d->pid);
	pid_t vc = vfork_child(d->pid);
	if (vc)
		return ckpt_fail(d->e, EBUSY,
				 "process %d is inside vfork() until its child %d execs or exits, "
				 "and cannot be frozen there; retry once it has",
				 d->pid, vc);
	return 0;
}

int dump_user_freeze(struct dump *d)
{
	char state;
	int rc0 = dump_check_target(d, &state);
	if (rc0)
		return rc0;
	d->was_stopped = state == 'T';
	rc0 = dump_refuse_tracer(d);
	if (rc0)
		return rc0;
	d->threads = calloc(DUMP_MAX_THREADS, sizeof(*d->threads));
	if (!d->threads)
		return ckpt_fail(d->e, ENOMEM, "no memory for threads");
	for (int round = 0;; round++) {
		int added = 0;
		int rc = list_tasks(d, &added);
		if (rc)
			return rc;
		for (uint32_t i = 0; i < d->nr_threads; i++) {
			struct dump_thread *t = &d->threads[i];
			if (t->seized && !t->stopped && (rc = wait_frozen(d, t)) < 0)
				return rc;
		}
		/* drop threads that exited while we froze them */
		uint32_t k = 0;
		for (uint32_t i = 0; i < d->nr_threads; i++)
			if (d->threads[i].seized)
				d->threads[k++] = d->threads[i];
		d->nr_threads = k;
		if (!added)
			break;
		if (round > 1000)
			return ckpt_fail(d->e, EAGAIN, "threads of %d kept appearing while freezing",
					 d->pid);
	}
	return dump_leader_first(d);
}

int dump_leader_first(struct dump *d)
{
	for (uint32_t i = 1; i < d->nr_threads; i++)
		if (d->threads[i].tid == d->pid) {
			struct dump_thread t = d->threads[0];
			d->threads[0] = d->threads[i];
			d->threads[i] = t;
		}
	if (!d->nr_threads || d->threads[0].tid != d->pid)
		return ckpt_fail(d->e, ESRCH, "process %d has no live leader thread", d->pid);
	return 0;
}

int dump_inject_prepare(struct dump *d, uint32_t i)
{
	struct dump_thread *t = &d->threads[i];
	if (t->sigmask_changed)
		return 0;
	/* framed and parked first: from here on the thread survives our death
	   at any instant (ptrace.h), its sigmask included */
	int rc = ckpt_heal_arm(&t->heal, d->pid, t->tid, d->gadget, DUMP_OUT_SIZE, d->e);
	if (rc)
		return rc;
	/* no signal may be delivered (and lost) while we step it */
	if (ptrace(PTRACE_GETSIGMASK, t->tid, 8, &t->saved_sigmask) < 0)
		return ckpt_fail_errno(d->e, errno, "ptrace getsigmask %d", t->tid);
	uint64_t all = ~0ull;
	if (ptrace(PTRACE_SETSIGMASK, t->tid, 8, &all) < 0)
		return ckpt_fail_errno(d->e, errno, "ptrace setsigmask %d", t->tid);
	t->sigmask_changed = 1;
	return 0;
}

int dump_sys_plan(struct dump *d, uint32_t i, long nr, long a0, long a1, long a2, long a3,
		  long a4, long a5)
{
	struct dump_thread *t = &d->threads[i];
	if (t->nr_calls == t->cap_calls) {
		uint32_t cap = t->cap_calls ? 2 * t->cap_calls : 16;
		struct ckpt_heal_call *c = realloc(t->calls, cap * sizeof(*c));
		if (c)
			t->calls = c;
		uint8_t *k = c ? realloc(t->taken, cap) : NULL;
		if (!k)
			return ckpt_fail(d->e, ENOMEM, "no memory for the calls into %d", t->tid);
		t->taken = k;
		t->cap_calls = cap;
	}
	struct ckpt_heal_call *c = &t->calls[t->nr_calls];
	long args[6] = {a0, a1, a2, a3, a4, a5};
	c->nr = nr;
	memcpy(c->args, args, sizeof(args));
	c->ret = 0;
	t->taken[t->nr_calls++] = 0;
	return 0;
}

/* The result of a planned call with these nr and args that ran and was not
   taken yet: 1 and *r, else 0. */
static int planned_result(struct dump_thread *t, long nr, const long args[6], long *r)
{
	for (uint32_t k = 0; k < t->calls_done; k++)
		if (!t->taken[k] && t->calls[k].nr == nr &&
		    !memcmp(t->calls[k].args, args, sizeof(t->calls[k].args))) {
			t->taken[k] = 1;
			*r = t->calls[k].ret;
			return 1;
		}
	return 0;
}

int dump_sys(struct dump *d, uint32_t i, const char *what, int check, long *ret, long nr,
	     long a0, long a1, long a2, long a3, long a4, long a5)
{
	struct dump_thread *t = &d->threads[i];
	long args[6] = {a0, a1, a2, a3, a4, a5}, r = 0;
	int rc = 0;
	if (!planned_result(t, nr, args, &r)) {
		if ((rc = dump_inject_prepare(d, i)))
			return rc;
		if ((rc = ckpt_heal_syscall(&t->heal, nr, args, &r, &t->deferred, d->e))) {
			ckpt_err_prefix(d->e, "%s", what);
			return rc;
		}
	}
	if (check && r < 0 && r > -4096)
		return ckpt_fail_errno(d->e, (int)-r, "%s in %d", what, t->tid);
	if (ret)
		*ret = r;
	return 0;
}

int dump_read_mem(struct dump *d, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = {buf, len}, r = {(void *)addr, len};
	ssize_t n = process_vm_readv(d->pid, &l, 1, &r, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/mem", d->pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ckpt_fail_errno(d->e, errno, "open %s", p);
	n = pread(fd, buf, len, (off_t)addr);
	int err = errno;
	close(fd);
	if (n != (ssize_t)len)
		return ckpt_fail_errno(d->e, n < 0 ? err : EIO, "read %zu bytes at 0x%llx of %d",
				       len, (unsigned long long)addr, d->pid);
	return 0;
}

int dump_user_unblock(struct dump *d)
{
	int rc = 0;
	for (uint32_t i = 0; i < d->nr_threads; i++) {
		struct dump_thread *t = &d->threads[i];
		if (!t->sigmask_changed)
			continue;
		if (ptrace(PTRACE_SETSIGMASK, t->tid, 8, &t->saved_sigmask) < 0 && !rc)
			rc = ckpt_fail_errno(d->e, errno, "ptrace setsigmask %d", t->tid);
		t->sigmask_changed = 0;
	}
	int rc2 = dump_heal_end(d);
	return rc ? rc : rc2;
}

int dump_is_sync_fault(const struct ckpt_img_siginfo *raw)
{
	siginfo_t si;
	memcpy(&si, raw->raw, sizeof(si));
	int s = si.si_signo;
	return si.si_code > 0 &&
	       (s == SIGSEGV || s == SIGBUS || s == SIGILL || s == SIGFPE || s == SIGTRAP);
}

/* Is SIGCONT pending for thread tid (its own queue or the process's)? */
static int sigcont_pending(pid_t pid, pid_t tid)
{
	struct dump_sigsets ss;
	return !dump_task_sigsets(pid, tid, &ss) &&
	       ((ss.pnd | ss.shd) & (1ull << (SIGCONT - 1)));
}

/* Queue a signal a freeze stop dequeued again (not a fault: see above). */
static void requeue(struct dump *d, struct dump_thread *t)
{
	for (uint32_t k = 0; k < t->nr_caught; k++) {
		siginfo_t si;
		memcpy(&si, t->caught[k].raw, sizeof(si));
		int s = si.si_signo;
		if (dump_is_sync_fault(&t->caught[k]))
			continue;
		if (si.si_code < 0 && si.si_code != SI_TKILL &&
		    syscall(SYS_rt_tgsigqueueinfo, d->pid, t->tid, s, &si) == 0)
			continue;
		syscall(SYS_tgkill, d->pid, t->tid, s);
	}
	t->nr_caught = 0;
	/* only SIGSTOP: every other signal was blocked, so a delivery stop of
	   another one was forced by the injected instruction itself (SIGSYS
	   from a seccomp trap or syscall user dispatch), not sent to the job.
	   Not when a SIGCONT is pending: it came after the stop (a stop
	   signal's arrival drops pending SIGCONTs), so the stop is over. */
	if ((t->deferred & (1ull << (SIGSTOP - 1))) && !sigcont_pending(d->pid, t->tid))
		syscall(SYS_tgkill, d->pid, t->tid, SIGSTOP);
	t->deferred = 0;
}

int dump_user_release(struct dump *d, int sig)
{
	int rc = 0;
	if (!d->threads)
		return 0;
	for (uint32_t i = 0; i < d->nr_threads; i++) {
		struct dump_thread *t = &d->threads[i];
		if (!t->seized)
			continue;
		if (t->sigmask_changed &&
		    ptrace(PTRACE_SETSIGMASK, t->tid, 8, &t->saved_sigmask) < 0 && !rc)
			rc = ckpt_fail_errno(d->e, errno, "ptrace setsigmask %d", t->tid);
		t->sigmask_changed = 0;
		requeue(d, t);
	}
	int rc2 = dump_heal_end(d);
	if (!rc)
		rc = rc2;
	/* Pending while traced: acted on before any user instruction runs.
	   SIGKILL would end the threads while still traced (zombies only we could
	   reap), so it goes after the detach, a pending SIGSTOP holding them. */
	if (sig > 0)
		kill(d->pid, sig == SIGKILL ? SIGSTOP : sig);
	for (uint32_t i = 0; i < d->nr_threads; i++) {
		struct dump_thread *t = &d->threads[i];
		if (t->seized && ptrace(PTRACE_DETACH, t->tid, 0, 0) < 0 && errno != ESRCH && !rc)
			rc = ckpt_fail_errno(d->e, errno, "ptrace detach %d", t->tid);
		t->seized = 0;
		t->stopped = 0;
	}
	if (sig == SIGKILL)
		kill(d->pid, SIGKILL);
	return rc;
}
