// SPDX-License-Identifier: BSD-3-Clause
/*
 * ckpt.ko's restart help for the restorer (docs/kernel-engine.md, "Restart
 * through the module"). clone3's set_tid and PR_SET_MM_MAP's exe_fd need
 * CAP_CHECKPOINT_RESTORE; a normal user restarting their own processes asks
 * the module instead: a restore session on /dev/ckpt reads the verified
 * image, checks its credentials equal ours, and then sets the next PID of
 * our namespace to an id of the image (CKPT_IOC_NEXT_PID) and the exe link
 * of a process we restored (CKPT_IOC_SET_EXE).
 *
 * The next PID is namespace-wide: another fork between the ioctl and our
 * clone takes it. A process cloned with the wrong pid exits at once and the
 * clone is tried again, a bounded number of times; a thread (cloned inside
 * the restored process by an injected clone3) with the wrong id fails the
 * restart, naming it.
 *
 * With the capability the restorer needs none of this (set_tid works), and
 * registers and xstate of restored threads go through PTRACE_SETREGSET: the
 * restorer is the tracer of what it restores, the module adds nothing there.
 */
#include "ckpt.h"
#include "kernel_engine.h"
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../kmod/include/uapi/linux/ckpt.h"

#define KPID_TRIES 8 /* clones of one pid lost to racing forks before giving up */
#define KPID_WRONG_PID 126 /* exit status of a child that got another pid */
#define KPID_MIN 300 /* the module refuses lower ids to a normal user */

static int kpid_fd = -1; /* the session's file; -1: no session */

int rs_kpid_active(void)
{
	return kpid_fd >= 0;
}

/* Does this process hold CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN (effective)? */
static int may_restore_ids(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return 0;
	uint64_t eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	return !!(eff & (1ull << CAP_CHECKPOINT_RESTORE | 1ull << CAP_SYS_ADMIN));
}

static const char *bad_what(uint32_t w)
{
	switch (w) {
	case CKPT_RESTORE_BAD_UIDS:
		return "uids (real, effective, saved, filesystem)";
	case CKPT_RESTORE_BAD_GIDS:
		return "gids (real, effective, saved, filesystem)";
	case CKPT_RESTORE_BAD_GROUPS:
		return "supplementary groups";
	case CKPT_RESTORE_BAD_CAPS:
		return "capabilities (ones this user does not hold)";
	}
	return "credentials";
}

static int begin(struct rs_ctx *c);

int rs_kpid_begin(struct rs_ctx *c)
{
	int rc = begin(c);
	if (rc && c->backend == CKPT_BACKEND_AUTO && (c->flags & CKPT_RS_NO_RESTORE_PID)) {
		/* only the exe link was asked of it: go on without, as before it */
		rs_warn(c, "%s; restoring without ckpt.ko (the exe link stays stale)", c->e->msg);
		ckpt_err_init(c->e, c->e->msg, c->e->len);
		return 0;
	}
	return rc;
}

static int begin(struct rs_ctx *c)
{
	if (may_restore_ids())
		return 0;
	int no_module = c->backend == CKPT_BACKEND_USER ||
			(c->backend == CKPT_BACKEND_AUTO && access(CKPT_KERNEL_DEV, F_OK) < 0);
	if (no_module && !(c->flags & CKPT_RS_NO_RESTORE_PID))
		/* clone3 with set_tid would fail with EPERM once processes are
		   being made: say why before anything is made */
		return ckpt_fail(c->e, EPERM,
				 "image %s: giving pid %d back needs CAP_CHECKPOINT_RESTORE, "
				 "which this user does not hold, or ckpt.ko (%s; %s): restart with "
				 "--no-restore-pid (cr_restart --no-restore-pid) for new pids, or "
				 "as root",
				 c->label, c->proc->pid,
				 c->backend == CKPT_BACKEND_USER ? "--engine user does not use it"
								 : CKPT_KERNEL_DEV " is not present",
				 "see docs/kernel-engine.md");
	if (no_module)
		return 0;
	if (!(c->flags & CKPT_RS_NO_RESTORE_PID)) {
		/* the module gives a user no id below 300 (kernel/pid.c's RESERVED_PIDS) */
		pid_t low = c->proc->pid;
		for (uint32_t i = 0; i < c->nr_threads; i++)
			if (c->threads[i].t->tid < low)
				low = c->threads[i].t->tid;
		for (uint32_t i = 0; i < c->nr_tasks; i++)
			if (c->tasks[i].pid < low)
				low = c->tasks[i].pid;
		if (low < KPID_MIN)
			return ckpt_fail(c->e, EPERM,
					 "image %s: id %d is below %d: ckpt.ko does not give a "
					 "normal user the ids of early system daemons (restart with "
					 "--no-restore-pid, or as root)",
					 c->label, low, KPID_MIN);
	}
	int fd = ckpt_kernel_open(c->e);
	if (fd < 0) {
		ckpt_err_prefix(c->e, "restart with the kernel engine");
		return fd;
	}
	struct ckpt_restore_args a = {.size = sizeof(a), .image_fd = (uint32_t)c->image_fd};
	if (ioctl(fd, CKPT_IOC_RESTORE_BEGIN, &a) < 0) {
		int err = errno;
		close(fd);
		switch (err) {
		case EACCES:
			return ckpt_fail(c->e, EACCES,
					 "image %s: process %u has other %s than this user: ckpt.ko "
					 "gives a user the ids of their own processes only (restart "
					 "as their user, or as root)",
					 c->label, a.bad_pid, bad_what(a.bad_what));
		case EBADMSG:
			return ckpt_fail(c->e, EBADMSG,
					 "image %s: ckpt.ko finds it invalid at offset %llu",
					 c->label, (unsigned long long)a.bad_offset);
		case E2BIG:
			return ckpt_fail(c->e, E2BIG,
					 "image %s: more processes, threads or sections than ckpt.ko "
					 "reads (4096 processes, 65536 ids)",
					 c->label);
		}
		return ckpt_fail_errno(c->e, err, "ckpt.ko restore session on image %s", c->label);
	}
	/* far above the numbers the restored descriptors take */
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, 900);
	if (hi >= 0) {
		close(fd);
		fd = hi;
	}
	kpid_fd = fd;
	return 0;
}

void rs_kpid_end(void)
{
	if (kpid_fd >= 0)
		close(kpid_fd);
	kpid_fd = -1;
}

void rs_kpid_park(int to)
{
	if (kpid_fd < 0 || kpid_fd == to)
		return;
	kpid_fd = dup3(kpid_fd, to, O_CLOEXEC) >= 0 ? to : -1;
}

int rs_kpid_next_pid(pid_t want)
{
	struct ckpt_next_pid_args a = {.size = sizeof(a), .pid = (uint32_t)want};
	if (kpid_fd < 0)
		return -ENOENT;
	if (ioctl(kpid_fd, CKPT_IOC_NEXT_PID, &a) < 0)
		return errno == EBUSY ? -EEXIST : -errno;
	return 0;
}

long rs_kpid_clone3(struct clone_args *ca, pid_t want)
{
	ca->set_tid = 0;
	ca->set_tid_size = 0;
	for (int i = 0; i < KPID_TRIES; i++) {
		int rc = rs_kpid_next_pid(want);
		if (rc) {
			errno = -rc;
			return -1;
		}
		long r = syscall(SYS_clone3, ca, CLONE_ARGS_SIZE_VER2);
		if (r == 0 && getpid() != want)
			_exit(KPID_WRONG_PID);
		if (r <= 0 || r == want)
			return r;
		/* another fork took it between the ioctl and the clone */
		if (!(ca->flags & CLONE_PARENT))
			while (waitpid((pid_t)r, NULL, __WALL) < 0 && errno == EINTR)
				;
	}
	errno = EAGAIN; /* the callers name the pid */
	return -1;
}

int rs_kpid_set_exe(pid_t pid, const char *path, char *msg, size_t len)
{
	if (kpid_fd < 0)
		return -ENOENT;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		snprintf(msg, len, "open %s: %s", path, strerror(err));
		return -err;
	}
	struct ckpt_set_exe_args a = {.size = sizeof(a), .pid = (uint32_t)pid,
				      .exe_fd = (uint32_t)fd};
	int rc = ioctl(kpid_fd, CKPT_IOC_SET_EXE, &a) < 0 ? -errno : 0;
	close(fd);
	switch (-rc) {
	case 0:
		break;
	case EXDEV:
		snprintf(msg, len, "%s is not the file the image recorded", path);
		break;
	case EACCES:
		snprintf(msg, len, "%s is not a regular file this user may execute, or is set-id",
			 path);
		break;
	case EBUSY:
		snprintf(msg, len, "the old executable is still mapped in %d", pid);
		break;
	default:
		snprintf(msg, len, "ckpt.ko SET_EXE: %s", strerror(-rc));
	}
	return rc;
}
