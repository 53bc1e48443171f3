// SPDX-License-Identifier: BSD-3-Clause
/*
 * Creating the process to restore into: clone3(set_tid = {pid}) of the
 * helper itself. The child, still running helper code, sets up what is
 * easiest from the inside (descriptors exactly as recorded, cwd, umask,
 * personality, session/group) and stops; from then on the helper drives it
 * with ptrace and injected syscalls (rs_sys) and never lets it run helper
 * code again.
 */
#include "ckpt.h"
#include "ptrace.h"
#include "restore.h"
#include "fd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/fsuid.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* In the child: report a failure over the error pipe and exit. */
static void __attribute__((noreturn, format(printf, 2, 3))) child_die(int errfd, const char *fmt,
								     ...)
{
	char buf[RS_LINE_MAX];
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 80, fmt, ap);
	va_end(ap);
	if (err && n > 0)
		snprintf(buf + n, sizeof(buf) - n, ": %s (%s)", ckpt_errno_name(err),
			 strerror(err));
	int32_t code = err ? err : EIO;
	if (write(errfd, &code, sizeof(code)) > 0) {
		ssize_t w = write(errfd, buf, strlen(buf));
		(void)w;
	}
	_exit(127);
}

/* A working directory removed while the process was in it: a directory made
   at its path (or next to it, when the path is taken again), entered and
   removed, so that the process is again in a directory that has no name. */
static void enter_removed_dir(int errfd, const char *path)
{
	char tmp[CKPT_PATH_MAX + 16];
	const char *made = path;
	if (mkdir(path, 0700) < 0) {
		if (errno != EEXIST)
			child_die(errfd, "mkdir %s (the removed working directory)", path);
		snprintf(tmp, sizeof(tmp), "%s.ckpt-XXXXXX", path);
		if (!mkdtemp(tmp))
			child_die(errfd, "mkdtemp %s (the removed working directory)", tmp);
		made = tmp;
	}
	if (chdir(made) < 0 || rmdir(made) < 0) {
		int err = errno;
		rmdir(made);
		errno = err;
		child_die(errfd, "enter and remove %s (the removed working directory)", made);
	}
}

int rs_highest_fd(void)
{
	int hi = 2;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 1024;
	struct dirent *de;
	while ((de = readdir(d)))
		if (atoi(de->d_name) > hi)
			hi = atoi(de->d_name);
	closedir(d);
	return hi;
}

/* In the child: make the fd table exactly the image's. Returns the new
   number of the error pipe; rs_warn goes to the restarter's --warn-fd. */
static int child_setup_fds(struct rs_ctx *c, int errfd)
{
	int maxfd = rs_highest_fd();
	for (uint32_t i = 0; i < c->nr_fds; i++)
		if (c->fdt[i].f->fd > maxfd)
			maxfd = c->fdt[i].f->fd;
	int slo, shi;
	rs_share_region(c, &slo, &shi);
	if (shi > maxfd)
		maxfd = shi; /* parked objects above the shared region */
	int base = maxfd + 1;
	/* stdio sources, the error pipe and the warning descriptor parked above
	   every number in use */
	int src[3];
	for (int i = 0; i < 3; i++) {
		src[i] = -1;
		if (!(c->no_stdio & (1u << i)) && fcntl(i, F_GETFD) >= 0 &&
		    dup3(i, base + i, O_CLOEXEC) >= 0)
			src[i] = base + i;
	}
	if (dup3(errfd, base + 3, O_CLOEXEC) < 0)
		child_die(errfd, "dup error pipe");
	errfd = base + 3;
	if (rs_warn_fd >= 0)
		rs_warn_fd = dup3(rs_warn_fd, base + 4, O_CLOEXEC) >= 0 ? base + 4 : -1;
	rs_kpid_park(base + 5); /* ckpt.ko's session, for the children it makes */
	/* the job's shared region, what the parent handed down, stays until
	   this process has made its children (shared.c) */
	int lo, hi;
	rs_share_region(c, &lo, &hi);
	if (lo >= 0 && rs_job_top(c->job, c->task) && !c->job->vroot)
		rs_share_close(c); /* a top-level process: nothing is handed down */
	if (lo >= 0 && lo < base) {
		syscall(SYS_close_range, 0, (unsigned)lo - 1, 0);
		if (hi + 1 <= base - 1)
			syscall(SYS_close_range, (unsigned)hi + 1, (unsigned)base - 1, 0);
	} else {
		syscall(SYS_close_range, 0, (unsigned)base - 1, 0);
	}
	syscall(SYS_close_range, (unsigned)base + 6, ~0u, 0);
	char msg[RS_LINE_MAX - 80];
	if (rs_fd_setup(c, base + 6, src, msg, sizeof(msg)) < 0) {
		errno = 0;
		child_die(errfd, "%s", msg);
	}
	for (int i = 0; i < 3; i++)
		if (src[i] >= 0)
			close(src[i]);
	/* errfd stays open until the child stops */
	return errfd;
}

static void __attribute__((noreturn)) child_main(struct rs_ctx *c, int errfd, int syncfd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int top = syncfd >= 0; /* made by the helper, which seizes it */
	char b;
	if (syncfd >= 0 && read(syncfd, &b, 1) != 1) /* the parent has seized us */
		_exit(127);
	if (syncfd >= 0)
		close(syncfd);
	const struct ckpt_img_proc *p = c->proc;
	/* Room for the image's fd numbers and our parked ones; the recorded
	   limits themselves are applied later (prlimit from the helper). */
	struct rlimit cur;
	getrlimit(RLIMIT_NOFILE, &cur);
	uint64_t want = p->rlimits[RLIMIT_NOFILE].cur;
	if (c->job && c->job->shared_base) /* the shared region, then our parking */
		want = want > (uint64_t)c->job->shared_base + c->job->nr_objs + c->nr_objs + 64
			       ? want
			       : (uint64_t)c->job->shared_base + c->job->nr_objs + c->nr_objs + 64;
	if (want > cur.rlim_cur) {
		cur.rlim_cur = want < cur.rlim_max ? want : cur.rlim_max;
		setrlimit(RLIMIT_NOFILE, &cur);
	}
	/* Every file this process opens from here on (its descriptors, its cwd,
	   later its mapped files and exe through injected calls) is opened with
	   the image's filesystem credentials, never the restarter's: an image
	   naming /etc/shadow gets what its own user would get. (setfsuid to a
	   non-zero id drops the DAC override capabilities too.) */
	if (geteuid() == 0 && (p->fsuid || p->fsgid || p->ngroups)) {
		gid_t groups[CKPT_NGROUPS_MAX];
		uint32_t ng = p->ngroups < CKPT_NGROUPS_MAX ? p->ngroups : CKPT_NGROUPS_MAX;
		for (uint32_t i = 0; i < ng; i++)
			groups[i] = p->groups[i];
		if (setgroups(ng, groups) < 0)
			child_die(errfd, "setgroups to the image's %u groups", ng);
		setfsgid(p->fsgid);
		setfsuid(p->fsuid);
		if ((uint32_t)setfsuid((uid_t)-1) != p->fsuid ||
		    (uint32_t)setfsgid((gid_t)-1) != p->fsgid)
			child_die(errfd, "filesystem ids %u/%u of the image", p->fsuid, p->fsgid);
	}
	errfd = child_setup_fds(c, errfd);
	if (c->cwd_deleted)
		enter_removed_dir(errfd, c->cwd);
	else if (chdir(c->cwd) < 0)
		child_die(errfd, "chdir %s", c->cwd);
	umask(p->umask);
	personality(p->personality);
	{
		/* session and group (proc_ids.c), before any child is made */
		const struct rs_ctx *job = c->job ? c->job : c;
		char m[RS_LINE_MAX - 80];
		errno = 0;
		if (rs_ids_apply(job, c->job ? (uint32_t)(c->task - c->job->tasks) : 0, m,
				 sizeof(m)) < 0) {
			errno = 0;
			child_die(errfd, "%s", m);
		}
	}
	/* default dispositions: only the image's own handlers are installed
	   later (restore_task.c skips an image's all-zero entries). The raw
	   call: glibc's sigaction refuses its own signals 32 and 33, and its
	   posix_spawn leaves them SIG_IGN in the helper, which survives exec */
	struct ckpt_img_sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	for (int sig = 1; sig <= CKPT_NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8);
	if (c->job) {
		/* a job: this process makes its children before it stops */
		char m[RS_LINE_MAX - 80];
		/* shared memory its children inherit (shared.c) first */
		if (rs_share_make(c, m, sizeof(m)) < 0 ||
		    rs_job_spawn_children(c, errfd, m, sizeof(m)) < 0 ||
		    rs_job_spawn_session(c, errfd, m, sizeof(m)) < 0) {
			errno = 0;
			child_die(errfd, "%s", m);
		}
		rs_share_close(c); /* the children have what they hold */
	}
	close(errfd);
	rs_kpid_end(); /* the restored process never holds it */
	if (rs_warn_fd >= 0)
		close(rs_warn_fd);
	if (c->job && !top) {
		/* a process of a job below the root: wait, every signal blocked,
		   until the helper seizes it (a SIGSTOP would leave it in a group
		   stop after the detach) */
		sigset_t all;
		sigfillset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		__atomic_store_n(&c->job->live_pids[c->job->nr_tasks + (c->task - c->job->tasks)], 1,
				 __ATOMIC_RELEASE);
		for (;;)
			pause();
	}
	raise(SIGSTOP);
	_exit(127); /* never reached: the tracer takes over at the stop */
}

void rs_job_child_main(struct rs_ctx *c, int errfd)
{
	child_main(c, errfd, -1);
}

int rs_create_child(struct rs_ctx *c)
{
	int errp[2], syncp[2];
	if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(syncp, O_CLOEXEC) < 0)
		return ckpt_fail_errno(c->e, errno, "pipe");
	pid_t want = c->proc->pid;
	uint64_t es = c->proc->exit_signal > 0 ? (uint64_t)c->proc->exit_signal : SIGCHLD;
	char cmsg[RS_LINE_MAX - 80] = "";
	fflush(NULL);
	long r = rs_ids_clone(c->job ? c->job : c, c->job ? (uint32_t)(c->task - c->job->tasks) : 0,
			      want, es,
			      !!(c->flags & CKPT_RS_NO_RESTORE_PID), cmsg, sizeof(cmsg));
	if (r == 0) {
		close(errp[0]);
		close(syncp[1]);
		child_main(c, errp[1], syncp[0]);
	}
	int err = errno;
	close(errp[1]);
	close(syncp[0]);
	if (r < 0) {
		close(errp[0]);
		close(syncp[1]);
		if (err == EEXIST && !strstr(cmsg, "placeholder"))
			return ckpt_fail(c->e, EBUSY,
					 "pid %d is in use; restart with --no-restore-pid "
					 "(cr_restart --no-restore-pid) to take a new one",
					 want);
		return ckpt_fail(c->e, err ? err : EIO, "%s", cmsg);
	}
	c->pid = (pid_t)r;
	c->child_alive = 1;
	int rc = 0;
	if (ptrace(PTRACE_SEIZE, c->pid, 0,
		   PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL) < 0)
		rc = ckpt_fail_errno(c->e, errno, "ptrace seize %d", c->pid);
	char go = 1;
	if (!rc && write(syncp[1], &go, 1) != 1)
		rc = ckpt_fail_errno(c->e, errno, "start child %d", c->pid);
	close(syncp[1]);
	int st = 0;
	if (!rc) {
		while (waitpid(c->pid, &st, __WALL) < 0 && errno == EINTR)
			;
		if (!WIFSTOPPED(st)) {
			c->child_alive = 0;
			int32_t code = EIO;
			char m[RS_LINE_MAX] = "";
			ssize_t n = read(errp[0], &code, sizeof(code));
			ssize_t k = n == sizeof(code) ? read(errp[0], m, sizeof(m) - 1) : 0;
			if (k > 0)
				m[k] = '\0';
			rc = ckpt_fail(c->e, code, "restored process %d: %s", c->pid,
				       m[0] ? m : "setup failed");
		} else if (WSTOPSIG(st) != SIGSTOP) {
			rc = ckpt_fail(c->e, EIO, "restored process %d stopped by signal %d, not SIGSTOP",
				       c->pid, WSTOPSIG(st));
		}
	}
	close(errp[0]);
	if (!rc)
		rc = ckpt_find_syscall_insn(c->pid, &c->syscall_ip, c->e);
	return rc;
}

void rs_kill_child(struct rs_ctx *c)
{
	if (!c->child_alive)
		return;
	kill(c->pid, SIGKILL);
	/* We trace every thread: collect each one's exit (any order) until the
	   leader itself is reaped. */
	for (;;) {
		int st;
		pid_t w = waitpid(-1, &st, __WALL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 || (w == c->pid && (WIFEXITED(st) || WIFSIGNALED(st))))
			break;
	}
	c->child_alive = 0;
}

int rs_sys(struct rs_ctx *c, pid_t tid, const char *what, int check, long *ret, long nr, long a0,
	   long a1, long a2, long a3, long a4, long a5)
{
	long args[6] = {a0, a1, a2, a3, a4, a5};
	long r = 0;
	uint64_t deferred = 0;
	int rc = ckpt_inject_syscall(tid, c->syscall_ip, nr, args, &r, &deferred, c->e);
	if (rc) {
		ckpt_err_prefix(c->e, "%s", what);
		return rc;
	}
	if (ret)
		*ret = r;
	if (check && r < 0 && r > -4096)
		return ckpt_fail_errno(c->e, (int)-r, "%s in restored process %d", what, tid);
	return 0;
}

int rs_write_mem(struct rs_ctx *c, uint64_t addr, const void *buf, size_t len)
{
	struct iovec l = {(void *)buf, len}, r = {(void *)(uintptr_t)addr, len};
	ssize_t n = process_vm_writev(c->pid, &l, 1, &r, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	char p[32];
	snprintf(p, sizeof(p), "/proc/%d/mem", c->pid);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return ckpt_fail_errno(c->e, errno, "open %s", p);
	n = pwrite(fd, buf, len, (off_t)addr);
	int err = errno;
	close(fd);
	if (n != (ssize_t)len)
		return ckpt_fail_errno(c->e, n < 0 ? err : EIO, "write %zu bytes at 0x%llx in %d",
				       len, (unsigned long long)addr, c->pid);
	return 0;
}
