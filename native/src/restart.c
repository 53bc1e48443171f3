// SPDX-License-Identifier: BSD-3-Clause
/*
 * ckpt_restart() and ckpt_wait(): the caller's side of a restart.
 *
 * The caller may be Node with many threads, so it is never forked: the
 * helper build/ckpt-restore (found next to libckpt.so) is posix_spawned with
 * the caller's chosen stdio, the image fd if any, and a report pipe on fd 3.
 * The helper verifies the image, rebuilds the process as its own child,
 * writes one line "OK pid threads bytes" (or "ERR errno message") and then
 * waits for the restored process, exiting with its status (cr_restart).
 * Lines "P done total phase" before that are progress, "C pid" names the
 * process being restored as soon as it exists, "T pid" (just before OK)
 * each process the helper waits for when there are several (the top-level
 * processes of a group or session, ckpt_restart_result.roots).
 *
 * The report pipe's write end lives only in the helper (and, for a moment,
 * in the process it clones, which closes it): the caller's copies are
 * closed right after the spawn, so a helper that dies before reporting is
 * an end of file at once. The read also polls the helper's state, so even
 * a stray copy of the write end cannot make a dead helper a hang. Every
 * wait uses __WALL (a restored process's exit signal need not be SIGCHLD).
 */
#include "ckpt.h"
#include "err.h"
#include "ptrace.h"
#include "restore.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int helper_path(char *out, size_t len, struct ckpt_err *e)
{
	const char *env = getenv("CKPT_RESTORE_HELPER");
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return 0;
	}
	Dl_info info;
	if (!dladdr((void *)ckpt_restart, &info) || !info.dli_fname)
		return ckpt_fail(e, ENOENT, "cannot locate libckpt.so to find ckpt-restore");
	char lib[PATH_MAX - 32];
	if (!realpath(info.dli_fname, lib))
		snprintf(lib, sizeof(lib), "%s", info.dli_fname);
	char *slash = strrchr(lib, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(lib, sizeof(lib), ".");
	snprintf(out, len, "%s/ckpt-restore", lib);
	if (access(out, X_OK) < 0)
		return ckpt_fail_errno(e, errno, "restore helper %s (next to libckpt.so)", out);
	return 0;
}

/* Environment for the helper: ours plus glibc.pthread.rseq=0. */
static char **helper_env(void)
{
	size_t n = 0;
	while (environ && environ[n])
		n++;
	char **env = calloc(n + 2, sizeof(char *));
	if (!env)
		return NULL;
	size_t j = 0;
	const char *old = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(environ[i], "GLIBC_TUNABLES=", 15))
			old = environ[i] + 15;
		else
			env[j++] = environ[i];
	}
	char *t = malloc((old ? strlen(old) : 0) + 64);
	if (!t) {
		free(env);
		return NULL;
	}
	sprintf(t, "GLIBC_TUNABLES=%s%sglibc.pthread.rseq=0", old ? old : "",
		old && *old ? ":" : "");
	env[j++] = t;
	env[j] = NULL;
	return env;
}

/* Options with what an older (smaller) struct lacks set to the defaults. */
static void load_opts(const struct ckpt_restart_opts *in, struct ckpt_restart_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->fd = o->stdin_fd = o->stdout_fd = o->stderr_fd = -1;
	if (!in)
		return;
	size_t n = in->size < sizeof(*o) ? in->size : sizeof(*o);
	memcpy(o, in, n);
#define DEF(field, v) \
	if (n < offsetof(struct ckpt_restart_opts, field) + sizeof(o->field)) \
		o->field = v
	DEF(fd, -1);
	DEF(stdin_fd, -1);
	DEF(stdout_fd, -1);
	DEF(stderr_fd, -1);
#undef DEF
	o->size = sizeof(*o);
}

static int check_opts(const char *path, const struct ckpt_restart_opts *o, struct ckpt_err *e)
{
	if ((!path || !*path) && o->fd < 0)
		return ckpt_fail(e, EINVAL, "restart: no image path and no image fd given");
	if (o->after > CKPT_AFTER_ABORT)
		return ckpt_fail(e, EINVAL, "restart: after=%u is not a known action (0..5)",
				 o->after);
	if (o->after == CKPT_AFTER_SIGNAL && (o->signal < 1 || o->signal > 64))
		return ckpt_fail(e, EINVAL, "restart: signal %d out of range 1..64", o->signal);
	if (o->backend > CKPT_BACKEND_KERNEL)
		return ckpt_fail(e, EINVAL, "restart: backend %u is not auto, user or kernel (0..2)",
				 o->backend);
	if (o->nr_relocate > RS_MAX_RELOCATE)
		return ckpt_fail(e, EINVAL, "restart: %u relocations, at most %d", o->nr_relocate,
				 RS_MAX_RELOCATE);
	for (uint32_t i = 0; i < o->nr_relocate; i++) {
		const char *r = o->relocate ? o->relocate[i] : NULL;
		if (!r || !strchr(r, '=') || r[0] == '=')
			return ckpt_fail(e, EINVAL,
					 "restart: relocation %u '%s' is not OLD=NEW", i,
					 r ? r : "(null)");
	}
	int fds[4] = {o->fd, o->stdin_fd, o->stdout_fd, o->stderr_fd};
	const char *names[4] = {"image fd", "stdin_fd", "stdout_fd", "stderr_fd"};
	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0 && fcntl(fds[i], F_GETFD) < 0)
			return ckpt_fail_errno(e, errno, "restart: %s %d", names[i], fds[i]);
	return 0;
}

/* The helper's exit status once it has exited (not reaped: the caller
   reaps), or 0 while it runs. */
static int helper_exited(pid_t helper, int *status)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)helper, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0 ||
	    si.si_pid != helper)
		return 0;
	*status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8 : si.si_status & 0x7f;
	return 1;
}

static void reap(pid_t pid, int *status)
{
	int st = 0;
	while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
		;
	if (status)
		*status = st;
}

static int helper_died(pid_t helper, int st, struct ckpt_err *e)
{
	if (WIFSIGNALED(st))
		return ckpt_fail(e, EIO, "restore helper %d was killed by signal %d before reporting",
				 helper, WTERMSIG(st));
	return ckpt_fail(e, EIO, "restore helper %d exited with status %d without reporting",
			 helper, WEXITSTATUS(st));
}

/* A zombie (or gone): its PID only waits for its parent to reap it. */
static int dead(pid_t pid)
{
	char s = ckpt_proc_state(pid);
	return !s || s == 'Z' || s == 'X';
}

/* After the helper died, the process it had begun to restore is killed
   (PTRACE_O_EXITKILL, PR_SET_PDEATHSIG) and later reaped by init: wait up
   to half a second until it is dead, so the caller never sees it run. The
   next restart waits for init to free its PID. (After an ERR report the
   helper has killed and reaped it itself.) */
static void wait_gone(pid_t pid)
{
	if (pid <= 0)
		return;
	for (int i = 0; i < 100 && !dead(pid); i++) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
}

/* Read the helper's report; 0 with *r filled, or -errno with the message.
   *child gets the PID being restored once the helper names it; *gone is set
   when the helper ended without a report. */
static int read_report(int rfd, pid_t helper, struct ckpt_progress *prog,
		       struct ckpt_restart_result *r, pid_t *child, int *gone,
		       struct ckpt_err *e)
{
	char buf[RS_LINE_MAX * 2];
	size_t have = 0;
	int st = 0;
	for (;;) {
		char *nl;
		while ((nl = memchr(buf, '\n', have))) {
			*nl = '\0';
			unsigned long long a, b, c;
			int pid, code, off = 0;
			if (sscanf(buf, "P %llu %llu %llu", &a, &b, &c) == 3) {
				if (prog) {
					__atomic_store_n(&prog->bytes_done, a, __ATOMIC_RELAXED);
					__atomic_store_n(&prog->bytes_total, b, __ATOMIC_RELAXED);
					__atomic_store_n(&prog->phase, (uint32_t)c, __ATOMIC_RELAXED);
				}
			} else if (sscanf(buf, "C %d", &pid) == 1 && pid > 0) {
				*child = pid;
			} else if (sscanf(buf, "T %d", &pid) == 1 && pid > 0) {
				if (r->nr_roots < CKPT_RESTART_ROOTS_MAX)
					r->roots[r->nr_roots] = pid;
				r->nr_roots++;
			} else if (sscanf(buf, "OK %d %llu %llu", &pid, &a, &b) == 3) {
				if (!r->nr_roots) /* one process: the restored one */
					r->roots[r->nr_roots++] = pid;
				r->pid = pid;
				r->threads = (uint32_t)a;
				r->bytes = b;
				return 0;
			} else if (sscanf(buf, "ERR %d %n", &code, &off) == 1 && off) {
				return ckpt_fail(e, code, "%s", buf + off);
			}
			size_t used = (size_t)(nl - buf) + 1;
			memmove(buf, nl + 1, have - used);
			have -= used;
		}
		if (have == sizeof(buf) - 1)
			have = 0; /* an absurd line: drop it */
		struct pollfd pfd = {.fd = rfd, .events = POLLIN};
		int pr = poll(&pfd, 1, 200);
		if (pr < 0 && errno != EINTR)
			return ckpt_fail_errno(e, errno, "restart: poll the helper's report");
		if (pr <= 0) {
			if (helper_exited(helper, &st)) {
				*gone = 1;
				return helper_died(helper, st, e);
			}
			continue;
		}
		ssize_t n = read(rfd, buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return ckpt_fail_errno(e, errno, "restart: read the helper's report");
		if (n == 0)
			break;
		have += (size_t)n;
	}
	reap(helper, &st);
	*gone = 1;
	return helper_died(helper, st, e);
}

CKPT_EXPORT int ckpt_restart(const char *path, const struct ckpt_restart_opts *opts,
			     struct ckpt_restart_result *res, char *msg, size_t msglen)
{
	struct ckpt_err e;
	ckpt_err_init(&e, msg, msglen);
	uint64_t t0 = now_ns();
	struct ckpt_restart_opts o;
	load_opts(opts, &o);
	int rc = check_opts(path, &o, &e);
	if (rc)
		return rc;
	char helper[PATH_MAX];
	rc = helper_path(helper, sizeof(helper), &e);
	if (rc)
		return rc;
	if (o.progress)
		__atomic_store_n(&o.progress->phase, CKPT_PHASE_VERIFY, __ATOMIC_RELAXED);

	int rep[2];
	if (pipe2(rep, O_CLOEXEC) < 0)
		return ckpt_fail_errno(&e, errno, "restart: pipe");
	/* Sources duplicated above every target number so the dup2s cannot clash.
	   stdio not given is the caller's own 0/1/2, passed explicitly (a caller
	   such as Node marks them close-on-exec); warnings of the restart go to
	   the caller's own stderr (fd 5), never to the restored process's. */
	int src[6] = {-1, -1, -1, -1, -1, -1}; /* stdin, stdout, stderr, report, image, warn */
	int want[6] = {o.stdin_fd >= 0 ? o.stdin_fd : 0, o.stdout_fd >= 0 ? o.stdout_fd : 1,
		       o.stderr_fd >= 0 ? o.stderr_fd : 2, rep[1], o.fd, 2};
	unsigned no_stdio = 0;
	for (int i = 0; i < 6; i++) {
		if (want[i] < 0)
			continue;
		if (i != 3 && i != 4 && fcntl(want[i], F_GETFD) < 0) {
			if (i < 3)
				no_stdio |= 1u << i; /* closed in the caller: none to give */
			continue;
		}
		src[i] = fcntl(want[i], F_DUPFD_CLOEXEC, 10);
		if (src[i] < 0) {
			rc = ckpt_fail_errno(&e, errno, "restart: dup fd %d", want[i]);
			goto out;
		}
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i < 6; i++)
		if (src[i] >= 0)
			posix_spawn_file_actions_adddup2(&fa, src[i], i);
	char flags[16], after[16], sig[16], nostdio[32], engine[32];
	snprintf(engine, sizeof(engine), "--engine=%u", o.backend);
	snprintf(nostdio, sizeof(nostdio), "--no-stdio=%u", no_stdio);
	snprintf(flags, sizeof(flags), "%u", o.flags);
	snprintf(after, sizeof(after), "%u", o.after);
	snprintf(sig, sizeof(sig), "%d", o.signal);
	const char *argv[16 + 2 * RS_MAX_RELOCATE];
	int ac = 0;
	argv[ac++] = "ckpt-restore";
	argv[ac++] = "--report-fd=3";
	argv[ac++] = "--flags";
	argv[ac++] = flags;
	argv[ac++] = "--signal"; /* before --after: --signal N alone implies after=SIGNAL */
	argv[ac++] = sig;
	argv[ac++] = "--after";
	argv[ac++] = after;
	if (o.fd >= 0)
		argv[ac++] = "--image-fd=4";
	argv[ac++] = nostdio;
	argv[ac++] = engine;
	if (src[5] >= 0)
		argv[ac++] = "--warn-fd=5";
	for (uint32_t i = 0; i < o.nr_relocate; i++) {
		argv[ac++] = "--relocate";
		argv[ac++] = o.relocate[i];
	}
	argv[ac++] = "--";
	argv[ac++] = path && *path ? path : "(fd)";
	argv[ac] = NULL;
	/* The helper starts clean: no inherited signal mask or ignored signals
	   (a caller's SIG_IGN would otherwise reach the restored process). */
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	char **env = helper_env();
	pid_t helper_pid = -1;
	int sp = env ? posix_spawn(&helper_pid, helper, &fa, &at, (char *const *)argv, env)
		     : ENOMEM;
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (env) {
		for (char **p = env; *p; p++)
			if (!strncmp(*p, "GLIBC_TUNABLES=", 15))
				free(*p);
		free(env);
	}
	/* From here only the helper holds the report pipe's write end. */
	for (int i = 0; i < 5; i++)
		if (src[i] >= 0)
			close(src[i]);
	memset(src, -1, sizeof(src));
	close(rep[1]);
	rep[1] = -1;
	if (sp) {
		rc = ckpt_fail_errno(&e, sp, "restart: spawn %s", helper);
		goto out;
	}
	struct ckpt_restart_result r = {0};
	pid_t child = 0;
	int helper_gone = 0;
	rc = read_report(rep[0], helper_pid, o.progress, &r, &child, &helper_gone, &e);
	if (rc) {
		/* The helper exits right after an error report (or has died): reap
		   it, and let the process it had begun go away. */
		reap(helper_pid, NULL);
		if (helper_gone)
			wait_gone(child);
		goto out;
	}
	r.waiter_pid = helper_pid;
	r.wall_ns = now_ns() - t0;
	if (o.progress) {
		__atomic_store_n(&o.progress->bytes_done, r.bytes, __ATOMIC_RELAXED);
		__atomic_store_n(&o.progress->phase, CKPT_PHASE_DONE, __ATOMIC_RELAXED);
	}
	if (res && res->size) {
		r.size = res->size;
		size_t n = res->size < sizeof(r) ? res->size : sizeof(r);
		memcpy(res, &r, n);
	}
out:
	for (int i = 0; i < 6; i++)
		if (src[i] >= 0)
			close(src[i]);
	close(rep[0]);
	if (rep[1] >= 0)
		close(rep[1]);
	return rc;
}

CKPT_EXPORT int ckpt_wait(int32_t pid, char *msg, size_t msglen)
{
	struct ckpt_err e;
	ckpt_err_init(&e, msg, msglen);
	if (pid <= 0)
		return ckpt_fail(&e, EINVAL, "wait: pid %d is not a process id", pid);
	int st;
	for (;;) {
		pid_t w = waitpid(pid, &st, __WALL);
		if (w >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == ECHILD)
			return ckpt_fail_errno(&e, ECHILD, "wait %d: not a child of this process",
					       pid);
		return ckpt_fail_errno(&e, errno, "wait %d", pid);
	}
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}
