// SPDX-License-Identifier: BSD-3-Clause
/*
 * ckpt-restore's main: arguments, the report pipe, the order of work, and
 * afterwards waiting for the restored process (its exit status becomes ours:
 * N, or 128+SIG if it was killed by SIG). A job with several top-level
 * processes (proc_tree.c): all are our children; we wait for every one and
 * take the status of the group or session leader if it is one of them, else
 * of the first.
 *
 * Report protocol on --report-fd (see restart.c): "P done total phase",
 * "C pid", then exactly one of "OK pid threads bytes" (after one "T pid"
 * per top-level process when there are several) or "ERR errno message".
 * Without --report-fd the pid goes to stdout and errors to stderr.
 */
#include "ckpt.h"
#include "fd.h"
#include "restore.h"
#include "sanitize.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_RESTORE_FAILED 125 /* nothing was restored */

int rs_warn_fd = 2; /* --warn-fd: the restarting command's stderr */

void rs_warn(struct rs_ctx *c, const char *fmt, ...)
{
	(void)c;
	char buf[RS_LINE_MAX], safe[RS_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (rs_warn_fd >= 0) /* paths from the image: sanitized */
		dprintf(rs_warn_fd, "ckpt-restore: warning: %s\n",
			ckpt_sanitize(safe, sizeof(safe), buf));
}

void rs_progress(struct rs_ctx *c, uint64_t done, uint64_t total, uint32_t phase)
{
	if (c->report_fd >= 0)
		dprintf(c->report_fd, "P %llu %llu %u\n", (unsigned long long)done,
			(unsigned long long)total, phase);
}

int rs_relocate(const struct rs_ctx *c, const char *path, char *out)
{
	/* The longest matching OLD wins; OLD matches whole path components. */
	int best = -1;
	size_t best_len = 0;
	for (int i = 0; i < c->nr_reloc; i++) {
		size_t n = strlen(c->reloc_old[i]);
		if (strncmp(path, c->reloc_old[i], n) != 0)
			continue;
		if (path[n] != '\0' && path[n] != '/' && c->reloc_old[i][n - 1] != '/')
			continue;
		if (n > best_len) {
			best = i;
			best_len = n;
		}
	}
	if (best < 0) {
		snprintf(out, CKPT_PATH_MAX, "%s", path);
		return 0;
	}
	snprintf(out, CKPT_PATH_MAX, "%s%s", c->reloc_new[best], path + best_len);
	return 1;
}

static int usage(void)
{
	dprintf(2, "usage: ckpt-restore [--no-restore-pid] [--restore-pgid] [--restore-sid]\n"
		   "                    [--stop|--term|--kill|--signal N] [--relocate OLD=NEW]...\n"
		   "                    [--no-verify] FILE\n");
	return 2;
}

static int parse_args(struct rs_ctx *c, int argc, char **argv)
{
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (!strncmp(a, "--report-fd=", 12)) {
			c->report_fd = atoi(a + 12);
		} else if (!strncmp(a, "--image-fd=", 11)) {
			c->image_fd = atoi(a + 11);
		} else if (!strncmp(a, "--warn-fd=", 10)) {
			rs_warn_fd = atoi(a + 10);
		} else if (!strncmp(a, "--engine=", 9)) {
			c->backend = (uint32_t)strtoul(a + 9, NULL, 0);
			if (c->backend > CKPT_BACKEND_KERNEL) {
				dprintf(2, "ckpt-restore: bad --engine '%s' (0 auto, 1 user, 2 kernel)\n",
					a + 9);
				return -1;
			}
		} else if (!strncmp(a, "--no-stdio=", 11)) {
			c->no_stdio = (uint32_t)strtoul(a + 11, NULL, 0) & 7;
		} else if (!strcmp(a, "--flags") && next) {
			c->flags = (uint32_t)strtoul(next, NULL, 0);
			i++;
		} else if (!strcmp(a, "--after") && next) {
			c->after = (uint32_t)strtoul(next, NULL, 0);
			i++;
		} else if (!strcmp(a, "--signal") && next) {
			c->signal = atoi(next);
			if (c->signal)
				c->after = CKPT_AFTER_SIGNAL;
			i++;
		} else if (!strcmp(a, "--relocate") && next) {
			const char *eq = strchr(next, '=');
			if (!eq || eq == next || c->nr_reloc >= RS_MAX_RELOCATE) {
				dprintf(2, "ckpt-restore: bad --relocate '%s' (OLD=NEW, at most %d)\n",
					next, RS_MAX_RELOCATE);
				return -1;
			}
			c->reloc_old[c->nr_reloc] = strndup(next, (size_t)(eq - next));
			c->reloc_new[c->nr_reloc++] = eq + 1;
			i++;
		} else if (!strcmp(a, "--no-restore-pid")) {
			c->flags |= CKPT_RS_NO_RESTORE_PID;
		} else if (!strcmp(a, "--restore-pgid")) {
			c->flags |= CKPT_RS_RESTORE_PGID;
		} else if (!strcmp(a, "--restore-sid")) {
			c->flags |= CKPT_RS_RESTORE_SID;
		} else if (!strcmp(a, "--no-verify")) {
			c->flags |= CKPT_RS_NO_VERIFY;
		} else if (!strcmp(a, "--stop")) {
			c->after = CKPT_AFTER_STOP;
		} else if (!strcmp(a, "--term")) {
			c->after = CKPT_AFTER_TERM;
		} else if (!strcmp(a, "--kill")) {
			c->after = CKPT_AFTER_KILL;
		} else if (a[0] == '-') {
			dprintf(2, "ckpt-restore: unknown option '%s'\n", a);
			return -1;
		} else {
			break;
		}
	}
	if (i != argc - 1)
		return -1;
	c->label = argv[i];
	return 0;
}

static void report_error(struct rs_ctx *c)
{
	char *m = c->e->msg;
	for (char *p = m; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (c->report_fd >= 0)
		dprintf(c->report_fd, "ERR %d %s\n", -c->e->code, m);
	else
		dprintf(2, "ckpt-restore: %s\n", m);
}

static void report_child(struct rs_ctx *c, pid_t pid)
{
	if (c->report_fd >= 0)
		dprintf(c->report_fd, "C %d\n", pid);
}

/* The restored process is our child and tells us of its end with its own
   exit signal (clone's exit_signal, SIGCHLD for most): one that would kill
   or stop us is ignored here (it is not SIGCHLD, so no auto-reaping) and
   the wait below uses __WALL. The child resets every disposition. */
static int take_exit_signal_of(struct rs_ctx *c, const struct ckpt_img_proc *proc)
{
	int sig = proc->exit_signal;
	if (sig <= 0 || sig == SIGCHLD)
		return 0;
	if (sig == SIGKILL || sig == SIGSTOP)
		return ckpt_fail(c->e, EINVAL,
				 "image %s: exit signal %d of process %d cannot be given to a "
				 "restored process (SIGKILL/SIGSTOP)",
				 c->label, sig, proc->pid);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(sig, &sa, NULL) < 0)
		return ckpt_fail_errno(c->e, errno, "ignore exit signal %d", sig);
	return 0;
}

/* Every process the helper makes itself: the root, or each top-level
   process of a group or session. */
static int take_exit_signal(struct rs_ctx *c)
{
	int rc = take_exit_signal_of(c, c->proc);
	for (uint32_t i = 0; !rc && c->procs && i < c->nr_procs; i++)
		if (rs_job_top(c, c->procs[i]->task))
			rc = take_exit_signal_of(c, c->procs[i]->proc);
	return rc;
}

/* After the report: wait for every process the helper made (the root, or
   each top-level process) and exit with the status of the one
   rs_job_status_task names (c->pid): N, or 128+SIG. */
static uint32_t nr_made_here(const struct rs_ctx *c)
{
	uint32_t n = c->procs ? 0 : 1;
	for (uint32_t i = 0; c->procs && i < c->nr_procs; i++)
		n += rs_job_top(c, c->procs[i]->task);
	return n;
}

static int wait_all(const struct rs_ctx *c, uint32_t left)
{
	int code = EXIT_RESTORE_FAILED;
	while (left) {
		int st;
		pid_t w = waitpid(-1, &st, __WALL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		if (!WIFEXITED(st) && !WIFSIGNALED(st))
			continue;
		left--;
		if (w == c->pid)
			code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	return code;
}

static int restore(struct rs_ctx *c)
{
	/* The page data is checksummed while it is copied (the restored process
	   never runs if it does not match); every other section before anything
	   starts. */
	c->flags |= CKPT_RS__DEFER_PAGES_CRC;
	int rc = rs_load_image(c);
	if (!rc)
		rc = rs_verify_machine(c);
	if (!rc)
		rc = rs_verify_files(c);
	if (!rc)
		rc = rs_verify_pid(c);
	if (rc && c->pages_crc_deferred) {
		/* A corrupted image is reported as such, whatever else is wrong. */
		struct ckpt_err kept = *c->e;
		char keep[CKPT_MSG_MAX] = "";
		if (c->e->len)
			snprintf(keep, sizeof(keep), "%s", c->e->msg);
		ckpt_err_init(c->e, c->e->msg, c->e->len);
		if (rs_verify_pages_now(c))
			return c->e->code;
		*c->e = kept;
		if (c->e->len)
			snprintf(c->e->msg, c->e->len, "%s", keep);
	}
	if (rc)
		return rc;
	rs_progress(c, 0, c->image_size, CKPT_PHASE_RESTORE);
	rc = rs_check_creds(c); /* before anything is made: of every process of a job */
	for (uint32_t i = 1; !rc && c->procs && i < c->nr_procs; i++)
		rc = rs_check_creds(c->procs[i]);
	if (!rc)
		rc = rs_kpid_begin(c); /* ckpt.ko's session, when it is needed */
	if (!rc)
		rc = rs_ids_plan(c);
	if (!rc)
		rc = take_exit_signal(c);
	/* The PID the restart will hold, named before it exists: should this
	   helper die, the caller waits until that PID is free again. */
	if (!rc && !(c->flags & CKPT_RS_NO_RESTORE_PID))
		report_child(c, c->proc->pid);
	if (!rc && c->procs)
		return rs_restore_job(c);
	if (!rc)
		rc = rs_create_child(c);
	if (!rc)
		report_child(c, c->pid);
	if (!rc)
		rc = rs_restore_mm(c);
	if (!rc)
		rc = rs_restore_process_state(c);
	if (!rc)
		rc = rs_restore_threads(c);
	if (!rc)
		rc = rs_restore_mm_late(c);
	if (!rc)
		rc = rs_locks_after_mm(c);
	if (!rc) /* the network lock of TCP connections, now theirs again */
		rs_objs_restored(c);
	if (!rc)
		rc = rs_finish(c);
	if (rc)
		rs_kill_child(c);
	else
		rs_settle(&c, 1);
	return rc;
}

CKPT_EXPORT int ckpt__restore_main(int argc, char **argv)
{
	static char msg[CKPT_MSG_MAX];
	struct ckpt_err e;
	ckpt_err_init(&e, msg, sizeof(msg));
	static struct rs_ctx ctx;
	struct rs_ctx *c = &ctx;
	c->image_fd = -1;
	c->report_fd = -1;
	c->e = &e;
	if (parse_args(c, argc, argv))
		return usage();
	int warn_given = 0;
	for (int i = 1; i < argc; i++)
		warn_given |= !strncmp(argv[i], "--warn-fd=", 10);
	if (c->report_fd >= 0 && !warn_given)
		rs_warn_fd = -1; /* the restarter has no stderr: fd 2 is the job's */
	signal(SIGPIPE, SIG_IGN);
	/* 0-2 the restarter did not give are held by /dev/null, so that nothing
	   opened here (the image) takes their numbers */
	for (int i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0) {
			int fd = open("/dev/null", O_RDWR);
			if (fd >= 0 && fd != i) {
				dup2(fd, i);
				close(fd);
			}
			c->no_stdio |= 1u << i;
		}
	if (rs_warn_fd >= 0)
		fcntl(rs_warn_fd, F_SETFD, FD_CLOEXEC);
	if (c->report_fd >= 0)
		fcntl(c->report_fd, F_SETFD, FD_CLOEXEC);
	if (c->image_fd >= 0)
		fcntl(c->image_fd, F_SETFD, FD_CLOEXEC);
	if (restore(c)) {
		report_error(c);
		return EXIT_RESTORE_FAILED;
	}
	if (c->report_fd >= 0) {
		/* every process the helper waits for ("T pid", creation order),
		   then the one whose status it exits with */
		for (uint32_t i = 0; c->procs && c->nr_tops > 1 && i < c->nr_procs; i++)
			if (rs_job_top(c, c->procs[i]->task))
				dprintf(c->report_fd, "T %d\n", c->procs[i]->pid);
		dprintf(c->report_fd, "OK %d %u %llu\n", c->pid, c->nr_threads,
			(unsigned long long)c->image_size);
		close(c->report_fd);
	}
	uint32_t made = nr_made_here(c);
	rs_close_image(c);
	rs_kpid_end();
	return wait_all(c, made);
}
