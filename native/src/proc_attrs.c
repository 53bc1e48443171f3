// SPDX-License-Identifier: BSD-3-Clause
/*
 * Process attributes that are neither memory nor descriptors: POSIX timers
 * (timer_create), scheduling (nice, policy and priority, I/O priority, timer
 * slack), oom_score_adj, the parent-death signal and the child-subreaper
 * flag, mlockall(MCL_FUTURE); and seccomp, which is refused. PROCX carries the attributes, the
 * TIMERS section the timers (docs/image-format.md).
 *
 * Checkpoint (either engine, the process frozen):
 * - from outside: sched_getattr (policy, priority, nice) and ioprio_get of
 *   every thread (a thread that differs from the leader is refused: the image
 *   has one value per process), /proc/PID/oom_score_adj, /proc/PID/timers
 *   (id, signal and value, notification, clock);
 * - the user engine injects PR_GET_TIMERSLACK into every thread (reading
 *   /proc/TID/timerslack_ns of another process needs CAP_SYS_NICE),
 *   PR_GET_PDEATHSIG and PR_GET_CHILD_SUBREAPER into the leader,
 *   timer_gettime for each timer (only the process itself can read its
 *   timers) and a probe mmap whose VmFlags tell mlockall(MCL_FUTURE) (the
 *   gadget unmaps it on its own: ptrace.h ckpt_heal_mmap_probe).
 *   The kernel engine has no injection: a process with POSIX timers
 *   is refused under it, naming them; the slack comes from /proc when the
 *   caller may read it; the prctl values come from ckpt.ko (kernel_dump.c;
 *   flags say what was recorded; what was not restores as the
 *   restarter's, or 0).
 * Refused, naming the process (and the thread or timer): a namespace that is
 * not the checkpointer's (pid, user, mount, network, UTS, IPC, cgroup,
 * time); SCHED_DEADLINE;
 * threads with different scheduling; a CPU-clock timer of another process;
 * seccomp strict mode, or seccomp filters the process has beyond the ones
 * the checkpointer itself runs under (a restarted process inherits the
 * restarter's filters, so a job inside the same container keeps its own;
 * one that installed a filter of its own would come back without it, with
 * more privilege than it had).
 *
 * Restart, once every thread exists: the attributes from outside or by
 * injection (each thread gets the process's values); timers created by
 * injection in the leader with their recorded ids (PR_TIMER_CREATE_RESTORE_IDS
 * on kernels that have it; before 6.17 ids are handed out in order from 0,
 * so the gaps are made and deleted again) and armed with the time they had
 * left. A value the restarter may not set (a nice below its own without
 * CAP_SYS_NICE, a real-time policy, a lower oom_score_adj) fails the restart
 * naming it: the image stays good for a restart with the privilege.
 */
#include "dump.h"
#include "json.h"
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct ckpt_img_procx) == 64, "PROCX is 64 bytes in format 2");
_Static_assert(sizeof(struct ckpt_img_ptimer) == 64, "a TIMERS record is 64 bytes");

#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif
#define SCHED_FLAG_RESET_ON_FORK_ 0x01
#define IOPRIO_WHO_PROCESS_ 1
#define PR_TIMER_CREATE_RESTORE_IDS_ 77
#define DUMP_MAX_TIMERS 65536
#define PROBE_HINT 0x100000L
/* the part of the leader's injection result area proc_injected leaves free
   (dump_state.c): timer values one by one, the prctl values after them
   (planned, so made before the timers are read) */
#define OUT_ATTRS 3584
#define OUT_PRCTL (OUT_ATTRS + 32)

struct sched_attr_ {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
	uint32_t sched_util_min, sched_util_max;
};

static int read_long(const char *path, long long *v)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int err = errno;
	close(fd);
	if (n <= 0)
		return n < 0 ? -err : -EIO;
	buf[n] = '\0';
	char *end;
	*v = strtoll(buf, &end, 10);
	return end == buf ? -EIO : 0;
}

/* "Seccomp:" and "Seccomp_filters:" of /proc/<path>/status */
static void seccomp_of(const char *path, long *mode, long *filters)
{
	char p[96], line[256];
	snprintf(p, sizeof(p), "/proc/%s/status", path);
	*mode = *filters = 0;
	FILE *f = fopen(p, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Seccomp:", 8))
			*mode = strtol(line + 8, NULL, 10);
		else if (!strncmp(line, "Seccomp_filters:", 16))
			*filters = strtol(line + 16, NULL, 10);
	}
	if (f)
		fclose(f);
}

pid_t dump_parent_of(pid_t pid)
{
	char p[64], buf[512];
	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *r = strrchr(buf, ')');
	int ppid = 0;
	if (!r || sscanf(r + 2, "%*c %d", &ppid) != 1)
		return 0;
	return ppid;
}

/* The nearest process that is an ancestor of both a and b (0: none). */
static pid_t common_ancestor(pid_t a, pid_t b)
{
	pid_t up[64];
	int n = 0;
	for (pid_t x = b; x > 0 && n < 64; x = dump_parent_of(x))
		up[n++] = x;
	for (pid_t x = a, k = 0; x > 0 && k < 64; x = dump_parent_of(x), k++)
		for (int i = 0; i < n; i++)
			if (up[i] == x)
				return x;
	return 0;
}

/*
 * A restarted process runs under the restarter's filters, never its own: a
 * process with filters is accepted only when they are the ones the
 * checkpointer runs under, inherited from a common ancestor (a job and
 * ckpt in one container, a systemd unit's filters). The filters themselves
 * cannot be compared (PTRACE_SECCOMP_GET_FILTER refuses a tracer under
 * seccomp), so: the same count here, in the target and in our nearest
 * common ancestor (filters only accumulate down a line of forks, so neither
 * side added one of its own since). Left: both sides adding as many
 * filters after the ancestor forked them.
 */
static int check_seccomp(struct dump *d, pid_t tid)
{
	char who[32];
	long mode, filters, own_mode, own_filters;
	snprintf(who, sizeof(who), "%d/task/%d", d->pid, tid);
	seccomp_of(who, &mode, &filters);
	seccomp_of("self", &own_mode, &own_filters);
	if (mode == 1)
		return ckpt_fail(d->e, EPERM,
				 "pid %d thread %d: seccomp strict mode cannot be checkpointed",
				 d->pid, tid);
	if (mode != 2)
		return 0;
	long anc_mode = 0, anc_filters = -1;
	pid_t anc = common_ancestor(d->pid, getpid());
	if (anc > 0) {
		char a[16];
		snprintf(a, sizeof(a), "%d", anc);
		seccomp_of(a, &anc_mode, &anc_filters);
	}
	if (own_mode != 2 || filters != own_filters || anc_mode != 2 || anc_filters != filters)
		return ckpt_fail(d->e, EPERM,
				 "pid %d thread %d: %ld seccomp filter(s), not shown to be the ones "
				 "the checkpointer runs under (%ld here, %ld in pid %d, the nearest "
				 "common ancestor): a restarted process would run under the "
				 "restarter's filters instead of its own, so it cannot be "
				 "checkpointed",
				 d->pid, tid, filters, own_filters, anc_filters < 0 ? 0 : anc_filters,
				 anc);
	return 0;
}

/* Every namespace of the process is the checkpointer's: a restart makes
   processes in the restarter's namespaces and cannot make namespaces, so a
   process in its own (a container, unshare, a private network) would come
   back in another world: other pids (getpid), other credentials, other
   mounts, network, hostname, clocks. */
static int check_namespaces(struct dump *d)
{
	static const struct {
		const char *file, *what;
	} ns[] = {
		{"pid", "PID"},
		{"pid_for_children", "PID (for its children)"},
		{"user", "user"},
		{"mnt", "mount"},
		{"net", "network"},
		{"uts", "UTS (hostname)"},
		{"ipc", "IPC"},
		{"cgroup", "cgroup"},
		{"time", "time"},
		{"time_for_children", "time (for its children)"},
	};
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		char p[64], q[64];
		struct stat a, b;
		snprintf(p, sizeof(p), "/proc/%d/ns/%s", d->pid, ns[i].file);
		snprintf(q, sizeof(q), "/proc/self/ns/%s", ns[i].file);
		if (stat(q, &b) < 0)
			continue; /* a kernel without this namespace */
		if (stat(p, &a) < 0)
			return ckpt_fail_errno(d->e, errno, "stat %s", p);
		if (a.st_ino != b.st_ino || a.st_dev != b.st_dev)
			return ckpt_fail(d->e, EPERM,
					 "pid %d: runs in another %s namespace (%s:[%llu]) than the "
					 "checkpointer (%s:[%llu]); a restart cannot make namespaces, "
					 "so it cannot be checkpointed (checkpoint from inside its "
					 "namespaces)",
					 d->pid, ns[i].what, ns[i].file, (unsigned long long)a.st_ino,
					 ns[i].file, (unsigned long long)b.st_ino);
	}
	return 0;
}

/* nice, policy, I/O priority, slack of thread index i */
static int sched_of(struct dump *d, uint32_t i, int can_inject, struct ckpt_img_procx *x)
{
	pid_t tid = d->threads[i].tid;
	struct sched_attr_ a;
	memset(&a, 0, sizeof(a));
	if (syscall(SYS_sched_getattr, tid, &a, sizeof(a), 0) < 0)
		return ckpt_fail_errno(d->e, errno, "sched_getattr of pid %d thread %d", d->pid,
				       tid);
	if (a.sched_policy == SCHED_DEADLINE)
		return ckpt_fail(d->e, EPERM,
				 "pid %d thread %d: SCHED_DEADLINE cannot be checkpointed", d->pid,
				 tid);
	x->sched_policy = a.sched_policy |
			  (a.sched_flags & SCHED_FLAG_RESET_ON_FORK_ ? CKPT_SCHED_RESET_ON_FORK : 0);
	x->sched_priority = a.sched_priority;
	x->nice = a.sched_nice;
	long io = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS_, tid);
	if (io < 0)
		return ckpt_fail_errno(d->e, errno, "ioprio_get of pid %d thread %d", d->pid, tid);
	x->ioprio = (uint32_t)io;
	/* only the thread itself, or CAP_SYS_NICE, may read its slack */
	long slack = 0;
	if (can_inject) {
		int rc = dump_sys(d, i, "prctl(PR_GET_TIMERSLACK)", 1, &slack, SYS_prctl,
				  PR_GET_TIMERSLACK, 0, 0, 0, 0, 0);
		if (rc)
			return rc;
	} else {
		char p[64];
		long long v;
		snprintf(p, sizeof(p), "/proc/%d/timerslack_ns", tid);
		int rc = read_long(p, &v);
		if (rc == -EPERM)
			return 0; /* not recorded: CKPT_PROCX_F_SLACK stays clear */
		if (rc)
			return ckpt_fail_errno(d->e, -rc, "read %s", p);
		slack = (long)v;
	}
	x->timerslack_ns = (uint64_t)slack;
	x->flags |= CKPT_PROCX_F_SLACK;
	return 0;
}

static int cmp_timer(const void *a, const void *b)
{
	int32_t x = ((const struct ckpt_img_ptimer *)a)->id;
	int32_t y = ((const struct ckpt_img_ptimer *)b)->id;
	return (x > y) - (x < y);
}

/* Is this a thread (or the process) of the one being dumped? */
static int ours(const struct dump *d, pid_t id)
{
	if (id == d->pid)
		return 1;
	for (uint32_t i = 0; i < d->nr_threads; i++)
		if (d->threads[i].tid == id)
			return 1;
	return 0;
}

/* /proc/PID/timers: ID, signal: SIG/VALUE, notify: KIND/{pid,tid}.N, ClockID */
static int timers_list(struct dump *d)
{
	char p[64], line[256];
	snprintf(p, sizeof(p), "/proc/%d/timers", d->pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return ckpt_fail_errno(d->e, errno, "open %s", p);
	uint32_t cap = 0;
	struct ckpt_img_ptimer *t = NULL;
	int rc = 0;
	while (!rc && fgets(line, sizeof(line), f)) {
		int id;
		if (sscanf(line, "ID: %d", &id) == 1) {
			if (d->nr_ptimers >= DUMP_MAX_TIMERS) {
				rc = ckpt_fail(d->e, E2BIG, "pid %d: more than %d POSIX timers",
					       d->pid, DUMP_MAX_TIMERS);
				break;
			}
			if (d->nr_ptimers == cap) {
				cap = cap ? cap * 2 : 8;
				void *n = realloc(d->ptimers, cap * sizeof(*d->ptimers));
				if (!n) {
					rc = ckpt_fail(d->e, ENOMEM, "no memory");
					break;
				}
				d->ptimers = n;
			}
			t = &d->ptimers[d->nr_ptimers++];
			memset(t, 0, sizeof(*t));
			t->id = id;
			continue;
		}
		if (!t) {
			rc = ckpt_fail(d->e, EIO, "%s: a line before the first ID: %s", p, line);
			break;
		}
		int sig, n;
		unsigned long long val;
		char kind[16], whom[8];
		if (sscanf(line, "signal: %d/%llx", &sig, &val) == 2) {
			t->signo = sig;
			t->sigval = val;
		} else if (sscanf(line, "notify: %15[a-z]/%7[a-z].%d", kind, whom, &n) == 3) {
			if (!strcmp(kind, "signal"))
				t->notify = SIGEV_SIGNAL;
			else if (!strcmp(kind, "none"))
				t->notify = SIGEV_NONE;
			else
				rc = ckpt_fail(d->e, EINVAL,
					       "pid %d: POSIX timer %d notifies by '%s', which cannot "
					       "be checkpointed", d->pid, t->id, kind);
			if (!strcmp(whom, "tid"))
				t->notify |= CKPT_PTIMER_NOTIFY_THREAD;
			t->tid = n;
			if (!rc && !ours(d, n))
				rc = ckpt_fail(d->e, EINVAL,
					       "pid %d: POSIX timer %d signals %s %d outside the "
					       "process", d->pid, t->id, whom, n);
		} else if (sscanf(line, "ClockID: %d", &n) == 1) {
			t->clock = n;
			/* CPU clocks: ~(pid << 3) | kind; pid 0 is the caller */
			pid_t of = n < 0 ? (pid_t) ~(n >> 3) : 0;
			if (of && !ours(d, of))
				rc = ckpt_fail(d->e, EINVAL,
					       "pid %d: POSIX timer %d runs on the CPU clock of pid "
					       "%d, another process", d->pid, t->id, of);
		}
	}
	fclose(f);
	if (!rc && d->nr_ptimers)
		qsort(d->ptimers, d->nr_ptimers, sizeof(*d->ptimers), cmp_timer);
	return rc;
}

/* time left and interval of every timer: only the process can tell */
static int timers_values(struct dump *d)
{
	uint64_t s = d->threads[0].heal.out + OUT_ATTRS;
	for (uint32_t i = 0; i < d->nr_ptimers; i++) {
		struct ckpt_img_ptimer *t = &d->ptimers[i];
		char what[48];
		snprintf(what, sizeof(what), "timer_gettime(%d)", t->id);
		struct timespec v[2]; /* interval, value */
		int rc = dump_sys(d, 0, what, 1, NULL, SYS_timer_gettime, t->id, (long)s, 0, 0, 0, 0);
		if (!rc)
			rc = dump_read_mem(d, s, v, sizeof(v));
		if (rc)
			return rc;
		t->interval_sec = v[0].tv_sec;
		t->interval_nsec = v[0].tv_nsec;
		t->value_sec = v[1].tv_sec;
		t->value_nsec = v[1].tv_nsec;
	}
	return 0;
}

static int prctl_values(struct dump *d)
{
	uint64_t s = d->threads[0].heal.out + OUT_PRCTL;
	int v[2] = {0, 0};
	int rc = dump_sys(d, 0, "prctl(PR_GET_PDEATHSIG)", 1, NULL, SYS_prctl, PR_GET_PDEATHSIG,
			  (long)s, 0, 0, 0, 0);
	if (!rc)
		rc = dump_sys(d, 0, "prctl(PR_GET_CHILD_SUBREAPER)", 1, NULL, SYS_prctl,
			      PR_GET_CHILD_SUBREAPER, (long)(s + 4), 0, 0, 0, 0);
	if (!rc)
		rc = dump_read_mem(d, s, v, sizeof(v));
	if (rc)
		return rc;
	d->procx.pdeath_signal = (uint32_t)v[0];
	d->procx.child_subreaper = (uint32_t)v[1];
	d->procx.flags |= CKPT_PROCX_F_PRCTL;
	return 0;
}

/* What the probe page showed: VmFlags of the VMA holding it, or the mmap's
   error. */
struct mlock_look {
	pid_t pid;
	int err; /* the mmap's errno */
	int read_err; /* errno of reading /proc/PID/smaps */
	int found;
	uint32_t mode;
};

static int look_vmflags(void *arg, long at)
{
	struct mlock_look *l = arg;
	if (at < 0 && at > -4096) {
		l->err = (int)-at;
		return 0;
	}
	char p[64], line[512];
	snprintf(p, sizeof(p), "/proc/%d/smaps", l->pid);
	FILE *f = fopen(p, "re");
	if (!f) {
		l->read_err = errno;
		return 0;
	}
	int in = 0;
	while (!l->found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char c;
		if (sscanf(line, "%lx-%lx%c", &lo, &hi, &c) == 3 && c == ' ')
			in = lo <= (unsigned long)at && (unsigned long)at < hi;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			/* the page may have merged with a neighbour of the same flags */
			l->found = 1;
			if (strstr(line, " lo"))
				l->mode |= MCL_FUTURE;
			if (strstr(line, " lf"))
				l->mode |= MCL_FUTURE | MCL_ONFAULT;
		}
	}
	fclose(f);
	return 0;
}

/*
 * Is mlockall(MCL_FUTURE) in effect (the mm's default flags, which /proc does
 * not show)? Every mapping the process makes gets them: one PROT_NONE page is
 * mapped by injection through the gadget's probe part, which unmaps it on its
 * own (a checkpointer killed in between leaves nothing mapped), and the
 * VmFlags of that page are read meanwhile (the hint is not honoured when
 * something is mapped there: the kernel then places it elsewhere, and smaps
 * is read up to wherever that is). EAGAIN from the mmap is
 * RLIMIT_MEMLOCK, which only a locked mapping meets (then MCL_ONFAULT cannot
 * be told: MCL_FUTURE is recorded).
 */
static int mlock_future_of(struct dump *d)
{
	int rc = dump_inject_prepare(d, 0);
	if (rc)
		return rc;
	struct mlock_look l = {.pid = d->pid};
	/* a hint low in the address space, where nothing usually is: the
	   page is then the first VMA, and smaps is read no further (its
	   walk of a large mapping before it took ~8 ms per GiB) */
	long args[6] = {PROBE_HINT, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0};
	rc = ckpt_heal_mmap_probe(&d->threads[0].heal, args, look_vmflags, &l,
				  &d->threads[0].deferred, d->e);
	if (rc) {
		ckpt_err_prefix(d->e, "pid %d: mlockall probe", d->pid);
		return rc;
	}
	if (l.err == EAGAIN)
		l.mode = MCL_FUTURE;
	else if (l.err)
		return ckpt_fail_errno(d->e, l.err, "pid %d: mmap of a page (mlockall probe)",
				       d->pid);
	else if (l.read_err)
		return ckpt_fail_errno(d->e, l.read_err, "read /proc/%d/smaps", d->pid);
	else if (!l.found)
		return ckpt_fail(d->e, EIO, "/proc/%d/smaps: no VmFlags for the mlockall probe page",
				 d->pid);
	d->procx.mlock_future = l.mode;
	d->procx.flags |= CKPT_PROCX_F_MLOCKALL;
	return 0;
}

/* each thread's name (/proc/PID/task/TID/comm) */
static int thread_names(struct dump *d)
{
	if (d->nr_threads < 2)
		return 0;
	d->tcomm = calloc(d->nr_threads, sizeof(*d->tcomm));
	if (!d->tcomm)
		return ckpt_fail(d->e, ENOMEM, "no memory");
	for (uint32_t i = 0; i < d->nr_threads; i++) {
		int rc = dump_read_comm(d, d->threads[i].tid, d->tcomm[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int dump_proc_attrs_plan(struct dump *d)
{
	uint64_t s = d->threads[0].heal.out + OUT_PRCTL;
	int rc = 0;
	for (uint32_t i = 0; !rc && i < d->nr_threads; i++)
		rc = dump_sys_plan(d, i, SYS_prctl, PR_GET_TIMERSLACK, 0, 0, 0, 0, 0);
	if (!rc)
		rc = dump_sys_plan(d, 0, SYS_prctl, PR_GET_PDEATHSIG, (long)s, 0, 0, 0, 0);
	if (!rc)
		rc = dump_sys_plan(d, 0, SYS_prctl, PR_GET_CHILD_SUBREAPER, (long)(s + 4), 0, 0, 0,
				   0);
	return rc;
}

/* Syscall user dispatch (PR_SET_SYSCALL_USER_DISPATCH: Wine, emulators) is
   per thread and a restart has no way to set it for a thread again; with its
   selector at BLOCK an injected syscall would raise SIGSYS. The one refusal
   of both engines. */
int dump_refuse_dispatch(struct dump *d, pid_t tid, uint64_t selector)
{
	return ckpt_fail(d->e, EPERM,
			 "pid %d thread %d: syscall user dispatch is on (selector at 0x%llx): a "
			 "restart cannot set it again, so it cannot be checkpointed",
			 d->pid, tid, (unsigned long long)selector);
}

/* The user engine reads it through ptrace (the thread is stopped under us;
   Linux 6.4+: on an older kernel the request fails and it cannot be seen).
   The kernel engine, which does not ptrace, asks ckpt.ko (kernel_dump.c). */
static int check_dispatch(struct dump *d, pid_t tid)
{
	struct {
		uint64_t mode, selector, offset, len;
	} cfg = {0};
	if (ptrace(0x4211 /* PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG (0x4210 SETs it) */, tid,
		   (void *)sizeof(cfg), &cfg) < 0 || !cfg.mode)
		return 0;
	return dump_refuse_dispatch(d, tid, cfg.selector);
}

int dump_proc_refusals(struct dump *d)
{
	int rc = check_namespaces(d);
	for (uint32_t i = 0; !rc && i < d->nr_threads; i++)
		rc = check_seccomp(d, d->threads[i].tid);
	for (uint32_t i = 0; !rc && i < d->nr_threads; i++)
		rc = check_dispatch(d, d->threads[i].tid);
	return rc;
}

int dump_proc_attrs(struct dump *d, int can_inject)
{
	struct ckpt_img_procx *x = &d->procx;
	int rc = dump_proc_refusals(d); /* again: the kernel engine has no injection before */
	if (!rc)
		rc = thread_names(d);
	for (uint32_t i = 0; !rc && i < d->nr_threads; i++) {
		pid_t tid = d->threads[i].tid;
		if (i == 0) {
			rc = sched_of(d, i, can_inject, x);
			continue;
		}
		struct ckpt_img_procx y;
		memset(&y, 0, sizeof(y));
		rc = sched_of(d, i, can_inject, &y);
		if (!rc && (y.nice != x->nice || y.sched_policy != x->sched_policy ||
			    y.sched_priority != x->sched_priority || y.ioprio != x->ioprio ||
			    y.timerslack_ns != x->timerslack_ns))
			rc = ckpt_fail(d->e, EPERM,
				       "pid %d thread %d: scheduling (nice %d, policy %u prio %u, "
				       "ioprio %#x, slack %llu ns) differs from the leader's (nice %d, "
				       "policy %u prio %u, ioprio %#x, slack %llu ns): per-thread "
				       "scheduling cannot be checkpointed",
				       d->pid, tid, y.nice, y.sched_policy, y.sched_priority,
				       y.ioprio, (unsigned long long)y.timerslack_ns, x->nice,
				       x->sched_policy, x->sched_priority, x->ioprio,
				       (unsigned long long)x->timerslack_ns);
	}
	char p[64];
	long long oom = 0;
	snprintf(p, sizeof(p), "/proc/%d/oom_score_adj", d->pid);
	if (!rc && (rc = read_long(p, &oom)))
		rc = ckpt_fail_errno(d->e, -rc, "read %s", p);
	if (rc)
		return rc;
	x->oom_score_adj = (int32_t)oom;
	x->flags |= CKPT_PROCX_F_SCHED;
	rc = timers_list(d);
	if (!rc && d->nr_ptimers && !can_inject)
		rc = ckpt_fail(d->e, EOPNOTSUPP,
			       "pid %d: %u POSIX timer(s) (ids %d..%d): the kernel engine cannot "
			       "read their time left; use the user engine (--engine user)",
			       d->pid, d->nr_ptimers, d->ptimers[0].id,
			       d->ptimers[d->nr_ptimers - 1].id);
	if (!rc && can_inject)
		rc = timers_values(d);
	if (!rc && can_inject)
		rc = prctl_values(d);
	if (!rc && can_inject)
		rc = mlock_future_of(d);
	if (!rc)
		rc = dump_caps_check(d);
	if (!rc && can_inject)
		rc = dump_tprctl(d);
	x->nr_posix_timers = d->nr_ptimers;
	return rc;
}

/* ---- restart ------------------------------------------------------------ */

int rs_take_timers(struct rs_ctx *c, const unsigned char *p, uint64_t size)
{
	const struct ckpt_img_procx *x = c->procx;
	if (!x || !x->nr_posix_timers || size != x->nr_posix_timers * (uint64_t)sizeof(*c->ptimers))
		return ckpt_fail(c->e, EBADMSG,
				 "image %s: TIMERS section of %llu bytes, PROCX says %u timers",
				 c->label, (unsigned long long)size, x ? x->nr_posix_timers : 0);
	const struct ckpt_img_ptimer *t = (const void *)p;
	for (uint32_t i = 0; i < x->nr_posix_timers; i++) {
		uint32_t kind = t[i].notify & ~CKPT_PTIMER_NOTIFY_THREAD;
		if (t[i].id < 0 || (i && t[i].id <= t[i - 1].id) ||
		    (kind != SIGEV_SIGNAL && kind != SIGEV_NONE) || t[i].signo < 0 ||
		    t[i].signo > CKPT_NSIG || t[i].value_nsec < 0 || t[i].value_nsec >= 1000000000 ||
		    t[i].interval_nsec < 0 || t[i].interval_nsec >= 1000000000 ||
		    t[i].value_sec < 0 || t[i].interval_sec < 0)
			return ckpt_fail(c->e, EBADMSG,
					 "image %s: POSIX timer record %u (id %d) out of range", c->label,
					 i, t[i].id);
	}
	c->ptimers = t;
	c->nr_ptimers = x->nr_posix_timers;
	return 0;
}

int rs_take_tcomm(struct rs_ctx *c, const unsigned char *p, uint64_t size)
{
	if (size != c->proc->nr_threads * 16ull)
		return ckpt_fail(c->e, EBADMSG, "image %s: TCOMM section of %llu bytes for %u threads",
				 c->label, (unsigned long long)size, c->proc->nr_threads);
	const char(*names)[16] = (const void *)p;
	for (uint32_t i = 0; i < c->proc->nr_threads; i++)
		if (!memchr(names[i], '\0', 16))
			return ckpt_fail(c->e, EBADMSG, "image %s: thread %u's name is not terminated",
					 c->label, i);
	c->tcomm = names;
	return 0;
}

/* the live tid of recorded tid `tid` of this process */
static pid_t live_tid(const struct rs_ctx *c, pid_t tid)
{
	if (tid == c->proc->pid)
		return c->pid;
	for (uint32_t i = 0; i < c->nr_threads; i++)
		if (c->threads[i].t->tid == tid)
			return c->threads[i].tid;
	return 0;
}

static int make_timer(struct rs_ctx *c, const struct ckpt_img_ptimer *t, int with_id, int *got)
{
	struct sigevent ev;
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = (int)(t->notify & ~CKPT_PTIMER_NOTIFY_THREAD);
	ev.sigev_signo = t->signo;
	ev.sigev_value.sival_ptr = (void *)(uintptr_t)t->sigval;
	if (t->notify & CKPT_PTIMER_NOTIFY_THREAD) {
		ev.sigev_notify |= SIGEV_THREAD_ID;
		ev._sigev_un._tid = live_tid(c, t->tid);
		if (!ev._sigev_un._tid)
			return ckpt_fail(c->e, EBADMSG,
					 "image %s: POSIX timer %d signals thread %d, not one of "
					 "pid %d's", c->label, t->id, t->tid, c->proc->pid);
	}
	clockid_t clk = t->clock;
	pid_t of = clk < 0 ? (pid_t) ~(clk >> 3) : 0;
	if (of) {
		pid_t now = live_tid(c, of);
		if (!now)
			return ckpt_fail(c->e, EBADMSG,
					 "image %s: POSIX timer %d on the CPU clock of %d, not one of "
					 "pid %d's", c->label, t->id, of, c->proc->pid);
		clk = (clockid_t)((~(uint32_t)now << 3) | ((uint32_t)clk & 7));
	}
	int32_t id = with_id ? t->id : -1;
	int rc = rs_write_mem(c, c->scratch, &ev, sizeof(ev));
	if (!rc)
		rc = rs_write_mem(c, c->scratch + 128, &id, sizeof(id));
	char what[48];
	snprintf(what, sizeof(what), "timer_create(id %d)", t->id);
	if (!rc)
		rc = rs_sys(c, c->pid, what, 1, NULL, SYS_timer_create, clk, (long)c->scratch,
			    (long)(c->scratch + 128), 0, 0, 0);
	struct iovec l = {&id, sizeof(id)}, r = {(void *)(uintptr_t)(c->scratch + 128), sizeof(id)};
	if (!rc && process_vm_readv(c->pid, &l, 1, &r, 1, 0) != sizeof(id))
		rc = ckpt_fail_errno(c->e, errno, "read timer id back from %d", c->pid);
	*got = id;
	return rc;
}

static int arm_timer(struct rs_ctx *c, const struct ckpt_img_ptimer *t)
{
	if (!t->value_sec && !t->value_nsec)
		return 0;
	struct timespec its[2] = {{(time_t)t->interval_sec, (long)t->interval_nsec},
				  {(time_t)t->value_sec, (long)t->value_nsec}};
	int rc = rs_write_mem(c, c->scratch, its, sizeof(its));
	char what[48];
	snprintf(what, sizeof(what), "timer_settime(%d)", t->id);
	return rc ? rc
		  : rs_sys(c, c->pid, what, 1, NULL, SYS_timer_settime, t->id, 0,
			   (long)c->scratch, 0, 0, 0);
}

static int restore_timers(struct rs_ctx *c)
{
	if (!c->nr_ptimers)
		return 0;
	long r = 0;
	int rc = rs_sys(c, c->pid, "prctl(PR_TIMER_CREATE_RESTORE_IDS)", 0, &r, SYS_prctl,
			PR_TIMER_CREATE_RESTORE_IDS_, 1, 0, 0, 0, 0);
	int with_id = !rc && r == 0;
	for (uint32_t i = 0, next = 0; !rc && i < c->nr_ptimers; i++) {
		const struct ckpt_img_ptimer *t = &c->ptimers[i];
		int got = -1;
		if (!with_id) {
			/* ids come in order from 0: make the gaps as fillers */
			struct ckpt_img_ptimer filler = {.notify = SIGEV_NONE, .clock = CLOCK_MONOTONIC};
			for (; !rc && (int32_t)next < t->id; next++) {
				filler.id = (int32_t)next;
				rc = make_timer(c, &filler, 0, &got);
				if (!rc && got != (int32_t)next)
					rc = ckpt_fail(c->e, EEXIST,
						       "pid %d: timer id %d came out as %d",
						       c->proc->pid, next, got);
			}
		}
		if (!rc)
			rc = make_timer(c, t, with_id, &got);
		if (!rc && got != t->id)
			rc = ckpt_fail(c->e, EEXIST,
				       "pid %d: POSIX timer %d came back as id %d (this kernel hands "
				       "out ids in order and has no PR_TIMER_CREATE_RESTORE_IDS)",
				       c->proc->pid, t->id, got);
		next = (uint32_t)t->id + 1;
	}
	if (with_id && !rc)
		rc = rs_sys(c, c->pid, "prctl(PR_TIMER_CREATE_RESTORE_IDS, off)", 1, NULL, SYS_prctl,
			    PR_TIMER_CREATE_RESTORE_IDS_, 0, 0, 0, 0, 0);
	/* the fillers go again */
	for (uint32_t i = 0, next = 0; !with_id && !rc && i < c->nr_ptimers; i++) {
		for (; !rc && (int32_t)next < c->ptimers[i].id; next++)
			rc = rs_sys(c, c->pid, "timer_delete(filler)", 1, NULL, SYS_timer_delete,
				    next, 0, 0, 0, 0, 0);
		next = (uint32_t)c->ptimers[i].id + 1;
	}
	for (uint32_t i = 0; !rc && i < c->nr_ptimers; i++)
		rc = arm_timer(c, &c->ptimers[i]);
	return rc;
}

static int sched_set(struct rs_ctx *c, pid_t tid, const struct ckpt_img_procx *x)
{
	struct sched_attr_ a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.sched_policy = x->sched_policy & ~CKPT_SCHED_RESET_ON_FORK;
	a.sched_flags = x->sched_policy & CKPT_SCHED_RESET_ON_FORK ? SCHED_FLAG_RESET_ON_FORK_ : 0;
	a.sched_nice = x->nice;
	a.sched_priority = x->sched_priority;
	if (syscall(SYS_sched_setattr, tid, &a, 0) < 0)
		return ckpt_fail_errno(c->e, errno,
				       "pid %d thread %d: set policy %u priority %u nice %d "
				       "(a higher priority than the restarter's needs CAP_SYS_NICE)",
				       c->proc->pid, tid, a.sched_policy, a.sched_priority, x->nice);
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS_, tid, x->ioprio) < 0)
		return ckpt_fail_errno(c->e, errno, "pid %d thread %d: ioprio_set %#x",
				       c->proc->pid, tid, x->ioprio);
	if (!(x->flags & CKPT_PROCX_F_SLACK))
		return 0;
	return rs_sys(c, tid, "prctl(PR_SET_TIMERSLACK)", 1, NULL, SYS_prctl, PR_SET_TIMERSLACK,
		      (long)x->timerslack_ns, 0, 0, 0, 0);
}

static int oom_set(struct rs_ctx *c, int32_t v)
{
	char p[64], buf[16];
	snprintf(p, sizeof(p), "/proc/%d/oom_score_adj", c->pid);
	int fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return ckpt_fail_errno(c->e, errno, "open %s", p);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		if (strtol(buf, NULL, 10) == v) {
			close(fd);
			return 0;
		}
	}
	int len = snprintf(buf, sizeof(buf), "%d\n", v);
	int ok = pwrite(fd, buf, (size_t)len, 0) == len;
	int err = errno;
	close(fd);
	return ok ? 0
		  : ckpt_fail_errno(c->e, err,
				    "pid %d: oom_score_adj %d (lower than the restarter's needs "
				    "CAP_SYS_RESOURCE)", c->proc->pid, v);
}

/* mlockall(MCL_FUTURE) again, once every mapping of the image is back (with
   its own mlock state): only mappings made from now on are locked by it. */
int rs_restore_mlockall(struct rs_ctx *c)
{
	const struct ckpt_img_procx *x = c->procx;
	if (!x || !(x->flags & CKPT_PROCX_F_MLOCKALL) || !x->mlock_future)
		return 0;
	return rs_sys(c, c->pid, "mlockall(MCL_FUTURE)", 1, NULL, SYS_mlockall,
		      x->mlock_future & (MCL_FUTURE | MCL_ONFAULT), 0, 0, 0, 0, 0);
}

int rs_restore_attrs(struct rs_ctx *c)
{
	int rc = 0;
	/* names of the threads but the leader (PROC has the process's) */
	for (uint32_t i = 1; c->tcomm && !rc && i < c->nr_threads; i++) {
		rc = rs_write_mem(c, c->scratch, c->tcomm[i], 16);
		if (!rc)
			rc = rs_sys(c, c->threads[i].tid, "prctl(PR_SET_NAME) of a thread", 1, NULL,
				    SYS_prctl, PR_SET_NAME, (long)c->scratch, 0, 0, 0, 0);
	}
	const struct ckpt_img_procx *x = c->procx;
	if (rc || !x)
		return rc;
	if (x->flags & CKPT_PROCX_F_SCHED) {
		for (uint32_t i = 0; !rc && i < c->nr_threads; i++)
			rc = sched_set(c, c->threads[i].tid, x);
		if (!rc)
			rc = oom_set(c, x->oom_score_adj);
	}
	if (!rc && (x->flags & CKPT_PROCX_F_PRCTL)) {
		if (x->pdeath_signal)
			rc = rs_sys(c, c->pid, "prctl(PR_SET_PDEATHSIG)", 1, NULL, SYS_prctl,
				    PR_SET_PDEATHSIG, x->pdeath_signal, 0, 0, 0, 0);
		if (!rc && x->child_subreaper)
			rc = rs_sys(c, c->pid, "prctl(PR_SET_CHILD_SUBREAPER)", 1, NULL, SYS_prctl,
				    PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0, 0);
	}
	return rc ? rc : restore_timers(c);
}

/* ---- inspect ------------------------------------------------------------ */

void rs_attrs_inspect(struct json *j, const struct rs_ctx *c)
{
	const struct ckpt_img_procx *x = c->procx;
	if (!x)
		return;
	if (x->flags & CKPT_PROCX_F_SCHED) {
		json_key(j, "sched");
		json_open(j, '{');
		json_int(j, "nice", x->nice);
		json_uint(j, "policy", x->sched_policy & ~CKPT_SCHED_RESET_ON_FORK);
		json_bool(j, "resetOnFork", !!(x->sched_policy & CKPT_SCHED_RESET_ON_FORK));
		json_uint(j, "priority", x->sched_priority);
		json_hex(j, "ioprio", x->ioprio);
		if (x->flags & CKPT_PROCX_F_SLACK)
			json_uint(j, "timerslackNs", x->timerslack_ns);
		json_int(j, "oomScoreAdj", x->oom_score_adj);
		json_close(j, '}');
	}
	if (x->flags & CKPT_PROCX_F_MLOCKALL)
		json_str(j, "mlockall",
			 !x->mlock_future			 ? "none"
			 : x->mlock_future & MCL_ONFAULT ? "future,onfault"
							 : "future");
	if (x->flags & CKPT_PROCX_F_PRCTL) {
		json_uint(j, "pdeathSignal", x->pdeath_signal);
		json_bool(j, "childSubreaper", !!x->child_subreaper);
	}
	if (!c->nr_ptimers)
		return;
	json_key(j, "timers");
	json_open(j, '[');
	for (uint32_t i = 0; i < c->nr_ptimers; i++) {
		const struct ckpt_img_ptimer *t = &c->ptimers[i];
		uint32_t kind = t->notify & ~CKPT_PTIMER_NOTIFY_THREAD;
		json_open(j, '{');
		json_int(j, "id", t->id);
		json_int(j, "clock", t->clock);
		json_str(j, "notify",
			 kind == SIGEV_NONE ? "none"
			 : t->notify & CKPT_PTIMER_NOTIFY_THREAD ? "thread"
								  : "signal");
		json_int(j, "signal", t->signo);
		json_int(j, "tid", t->tid);
		json_hex(j, "value", t->sigval);
		json_uint(j, "leftNs", (uint64_t)t->value_sec * 1000000000ull + (uint64_t)t->value_nsec);
		json_uint(j, "intervalNs",
			  (uint64_t)t->interval_sec * 1000000000ull + (uint64_t)t->interval_nsec);
		json_close(j, '}');
	}
	json_close(j, ']');
}
