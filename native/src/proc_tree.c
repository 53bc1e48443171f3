// SPDX-License-Identifier: BSD-3-Clause
/*
 * Jobs of several processes: BLCR's scopes tree (-T, the process and all its
 * descendants), process group (-g) and session (-s).
 *
 * Checkpoint: the members are listed, each is frozen (dump_freeze), and the
 * list is taken again until it no longer changes: a member not yet frozen
 * may fork (its child joins) or exit (it leaves: reaped by its parent not
 * yet frozen, or seized as it exits; its children handed to a reaper
 * outside the tree leave with it). Zombies are members too:
 * their pid, links and wait status are recorded so that the restart makes
 * them again for their parent to reap. Then every live member's state is
 * collected as for one process, kinds telling "outside the job" by the
 * whole set (dump_in_job); objects several processes hold are recorded once,
 * in the slice of the process that makes them again (shared.c, which also
 * refuses, naming both holders, what cannot come back shared). The image
 * holds the object sections of all members (each process owns a range of
 * ids: the objects it makes again), the TREE section (one
 * struct ckpt_img_task per member, creation order) and PROC..PAGES of every
 * live member in the same order.
 *
 * Restart (restore_child.c, restore_main.c): each process is cloned by its
 * restored parent (clone3 with set_tid) in depth-first order; each takes its
 * session and group (--restore-sid/--restore-pgid: proc_ids.c, placeholder
 * leaders for those whose leader is gone) before it makes its children;
 * zombies exit at once with their status.
 *
 * A process group or session may hold several processes whose parents are
 * outside it (the commands of a shell's pipeline, children of the shell):
 * each is a top-level record (CKPT_TASK_F_TOPLEVEL), and the helper is
 * their common parent, a "virtual root": it makes what they share and no
 * process of the job makes (shared.c), then each of them in record order,
 * closes what it made, and waits for all of them, exiting with the status
 * of the one rs_job_status_task names. A top-level zombie (only its parent
 * outside could reap it) is refused at checkpoint.
 */
#include "dump.h"
#include "ptrace.h"
#include "restore.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define JOB_MAX 4096

/* on disk: comm took the place of 16 reserved bytes, same size and offsets */
_Static_assert(sizeof(struct ckpt_img_task) == 56 &&
		       offsetof(struct ckpt_img_task, comm) == 40,
	       "struct ckpt_img_task is 56 bytes, comm at 40");

int dump_in_job(const struct dump *d, pid_t pid)
{
	if (pid == d->pid)
		return 1;
	for (uint32_t i = 0; d->job && i < d->nr_job; i++)
		if (d->job[i] == pid)
			return 1;
	return 0;
}

struct member {
	pid_t pid, ppid, pgid, sid;
	char state;
	char comm[16];
	unsigned long long start;
	int exit_code, exit_signal;
	struct dump *d; /* NULL for a zombie */
};

/* Fields of /proc/PID/stat; 0 when the process is gone. */
static int read_stat(pid_t pid, struct member *m)
{
	char p[64], buf[1024];
	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	if (ckpt_read_small(p, buf, sizeof(buf)) < 0)
		return 0;
	char *r = strrchr(buf, ')');
	if (!r || r[1] != ' ')
		return 0;
	memset(m, 0, sizeof(*m));
	m->pid = pid;
	m->state = r[2];
	char *l = strchr(buf, '(');
	if (l && r > l + 1) {
		size_t cn = (size_t)(r - l - 1);
		memcpy(m->comm, l + 1, cn < sizeof(m->comm) - 1 ? cn : sizeof(m->comm) - 1);
	}
	/* field 3 is the state; count from field 4 */
	char *s = r + 4;
	for (int f = 4; f <= 52 && s && *s; f++) {
		long long v = strtoll(s, NULL, 10);
		switch (f) {
		case 4: m->ppid = (pid_t)v; break;
		case 5: m->pgid = (pid_t)v; break;
		case 6: m->sid = (pid_t)v; break;
		case 22: m->start = (unsigned long long)v; break;
		case 38: m->exit_signal = (int)v; break;
		case 52: m->exit_code = (int)v; break;
		}
		s = strchr(s, ' ');
		if (s)
			s++;
	}
	return 1;
}

struct job {
	pid_t root;
	uint32_t scope;
	struct member *m;
	uint32_t n;
	pid_t *pids; /* m[i].pid, for d->job */
	struct ckpt_err *e;
};

static int find_member(const struct job *j, pid_t pid)
{
	for (uint32_t i = 0; i < j->n; i++)
		if (j->m[i].pid == pid)
			return (int)i;
	return -1;
}

static int add(struct job *j, const struct member *m)
{
	if (find_member(j, m->pid) >= 0)
		return 0;
	if (j->n >= JOB_MAX)
		return ckpt_fail(j->e, E2BIG, "the job of %d has more than %d processes", j->root,
				 JOB_MAX);
	j->m[j->n] = *m;
	j->m[j->n].d = NULL;
	j->pids[j->n++] = m->pid;
	return 1;
}

/* Children of pid (every thread's), as listed by the kernel. */
static int add_children(struct job *j, pid_t pid, int *added)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/task", pid);
	DIR *dir = opendir(p);
	if (!dir)
		return 0; /* gone: the caller sees it at freeze */
	struct dirent *de;
	int rc = 0;
	while (!rc && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		char cp[320], buf[4096];
		snprintf(cp, sizeof(cp), "/proc/%d/task/%s/children", pid, de->d_name);
		int fd = open(cp, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		for (char *s = buf; !rc && *s;) {
			char *end;
			long c = strtol(s, &end, 10);
			if (end == s)
				break;
			s = end;
			struct member m;
			if (c > 0 && read_stat((pid_t)c, &m)) {
				int r = add(j, &m);
				if (r < 0)
					rc = r;
				*added += r > 0;
			}
		}
	}
	closedir(dir);
	return rc;
}

/* Take the list again: new members join. Frozen members cannot exit; one
   not frozen yet may, and its parent may reap it: the freeze loop drops
   it then. Returns the number added or -errno. */
static int collect(struct job *j)
{
	int added = 0, rc = 0;
	if (j->scope == CKPT_SCOPE_TREE) {
		struct member r;
		if (!j->n) {
			if (!read_stat(j->root, &r))
				return ckpt_fail(j->e, ESRCH, "no process %d", j->root);
			added += add(j, &r);
		}
		for (uint32_t i = 0; !rc && i < j->n; i++) /* j->n grows: breadth first */
			rc = add_children(j, j->m[i].pid, &added);
		return rc ? rc : added;
	}
	DIR *proc = opendir("/proc");
	if (!proc)
		return ckpt_fail_errno(j->e, errno, "list /proc");
	struct dirent *de;
	while (!rc && (de = readdir(proc))) {
		pid_t pid = (pid_t)atoi(de->d_name);
		struct member m;
		if (pid <= 0 || pid == getpid() || !read_stat(pid, &m))
			continue;
		pid_t id = j->scope == CKPT_SCOPE_PGID ? m.pgid : m.sid;
		if (id != j->root)
			continue;
		int r = add(j, &m);
		if (r < 0)
			rc = r;
		added += r > 0;
	}
	closedir(proc);
	if (!rc && !j->n)
		return ckpt_fail(j->e, ESRCH, "no process in %s %d",
				 j->scope == CKPT_SCOPE_PGID ? "process group" : "session", j->root);
	return rc ? rc : added;
}

/* Creation order: a parent before its children, else by start time. */
static void order(struct job *j)
{
	for (uint32_t a = 0; a < j->n; a++)
		for (uint32_t b = a + 1; b < j->n; b++) {
			struct member *x = &j->m[a], *y = &j->m[b];
			if (y->start < x->start || (y->start == x->start && y->pid < x->pid)) {
				struct member t = *x;
				*x = *y;
				*y = t;
			}
		}
	/* a parent that started in the same tick as its child may sort after it */
	for (int moved = 1, guard = 0; moved && guard < 64; guard++) {
		moved = 0;
		for (uint32_t i = 0; i < j->n; i++) {
			int p = find_member(j, j->m[i].ppid);
			if (p > (int)i) {
				struct member t = j->m[p];
				memmove(&j->m[i + 1], &j->m[i], (size_t)(p - (int)i) * sizeof(t));
				j->m[i] = t;
				moved = 1;
			}
		}
	}
	for (uint32_t i = 0; i < j->n; i++)
		j->pids[i] = j->m[i].pid;
}

/* 'Z' (or 'X') if the member is a zombie now, 0 if it is gone (reaped,
   or its pid is another process's already), else its state. */
static int member_now(const struct member *m, struct member *now)
{
	if (!read_stat(m->pid, now) || now->start != m->start)
		return 0;
	return now->state == 'X' ? 'Z' : now->state;
}

/* Take member i out of the set (it exited and was reaped while the job was
   being frozen; its parent was not frozen yet). */
static void drop(struct job *j, uint32_t i)
{
	struct member *m = &j->m[i];
	if (m->d) {
		dump_release(m->d, 0);
		dump_free(m->d);
		free(m->d);
	}
	memmove(&j->m[i], &j->m[i + 1], (size_t)(j->n - i - 1) * sizeof(*m));
	memmove(&j->pids[i], &j->pids[i + 1], (size_t)(j->n - i - 1) * sizeof(*j->pids));
	j->n--;
}

/* Members (other than the root) whose parent now is no member: their
   parent exited before it was frozen and they were reparented outside the
   tree; they are let go, with what they hold (the objects they share with
   the job are then outside it, and refused or not as any other). Returns
   the number let go. */
static int left_tree(struct job *j)
{
	int gone = 0;
	for (int again = 1; again;) {
		again = 0;
		for (uint32_t i = 1; i < j->n; i++) {
			struct member now;
			int st = member_now(&j->m[i], &now);
			if (st && find_member(j, now.ppid) >= 0) {
				j->m[i].ppid = now.ppid;
				continue;
			}
			drop(j, i--);
			gone++;
			again = 1;
		}
	}
	return gone;
}

static int freeze_member(struct job *j, struct member *m, const struct ckpt_checkpoint_opts *o,
			 uint64_t deadline)
{
	struct dump *d = calloc(1, sizeof(*d));
	if (!d)
		return ckpt_fail(j->e, ENOMEM, "no memory");
	d->pid = m->pid;
	d->opts = o;
	d->e = j->e;
	d->deadline_ns = deadline;
	d->job = j->pids;
	d->shared_pending = calloc(DUMP_MAX_PENDING, sizeof(*d->shared_pending));
	m->d = d;
	if (!d->shared_pending)
		return ckpt_fail(j->e, ENOMEM, "no memory");
	return dump_freeze(d);
}

static int collect_state(struct job *j)
{
	int rc = 0;
	for (uint32_t i = 0; !rc && i < j->n; i++) {
		struct dump *d = j->m[i].d;
		if (!d)
			continue;
		d->nr_job = j->n;
		rc = dump_fds(d);
	}
	if (!rc) { /* every member's injected calls at once: their stops overlap */
		struct dump **ds = calloc(j->n, sizeof(*ds));
		uint32_t n = 0;
		for (uint32_t i = 0; ds && i < j->n; i++)
			if (j->m[i].d)
				ds[n++] = j->m[i].d;
		if (!ds)
			rc = ckpt_fail(j->e, ENOMEM, "no memory");
		else if (n)
			rc = dump_user_inject_all(ds, n);
		free(ds);
	}
	for (uint32_t i = 0; !rc && i < j->n; i++) {
		struct dump *d = j->m[i].d;
		if (!d)
			continue;
		rc = dump_threads_state(d);
		if (!rc)
			rc = dump_proc_state(d);
		if (!rc)
			rc = dump_unblock(d);
		if (!rc)
			rc = dump_check_deadline(d, "collecting state");
		if (!rc)
			rc = dump_vmas(d);
	}
	if (!rc) { /* objects and memory held by several processes: shared.c */
		struct dump **live = calloc(j->n, sizeof(*live));
		pid_t *ppid = calloc(j->n, sizeof(*ppid));
		uint32_t n = 0;
		for (uint32_t i = 0; live && ppid && i < j->n; i++)
			if (j->m[i].d) {
				ppid[n] = j->m[i].ppid;
				live[n++] = j->m[i].d;
			}
		rc = live && ppid ? dump_share(live, ppid, n, j->e)
				  : ckpt_fail(j->e, ENOMEM, "no memory");
		free(live);
		free(ppid);
	}
	return rc;
}

static int write_job(struct job *j, struct imgw *w, uint32_t *live)
{
	struct dump *first = NULL;
	uint32_t nobj = 0;
	*live = 0;
	for (uint32_t i = 0; i < j->n; i++)
		if (j->m[i].d) {
			first = first ? first : j->m[i].d;
			nobj += j->m[i].d->nr_objs;
			(*live)++;
		}
	struct ckpt_img_header h;
	dump_fill_header(first, &h);
	h.nr_processes = *live;
	h.root_pid = j->m[0].pid;
	for (uint32_t i = 0; i < j->n; i++)
		if (j->m[i].pid == j->root)
			h.root_pid = j->root;
	int rc = imgw_header(w, &h);
	/* every member's objects in one table, each process's slice holding
	   what it makes again (shared.c) */
	struct dump all;
	memset(&all, 0, sizeof(all));
	all.e = j->e;
	all.objs = calloc(nobj + 1, sizeof(*all.objs));
	struct dump **lv = calloc(j->n, sizeof(*lv));
	uint32_t *slice = calloc(j->n, sizeof(*slice)), *count = calloc(j->n, sizeof(*count));
	if (!all.objs || !lv || !slice || !count) {
		free(all.objs);
		free(lv);
		free(slice);
		free(count);
		return ckpt_fail(j->e, ENOMEM, "no memory");
	}
	uint32_t nl = 0;
	for (uint32_t i = 0; i < j->n; i++)
		if (j->m[i].d)
			lv[nl++] = j->m[i].d;
	dump_share_ids(lv, nl, &all, slice, count);
	if (!rc)
		rc = dump_write_objs(&all, w);
	free(all.objs); /* bodies stay with their process */
	free(lv);
	struct ckpt_img_task *t = calloc(j->n, sizeof(*t));
	if (!t) {
		free(slice);
		free(count);
		return ckpt_fail(j->e, ENOMEM, "no memory");
	}
	uint32_t tops = 0;
	for (uint32_t i = 0; i < j->n; i++)
		tops += find_member(j, j->m[i].ppid) < 0;
	nl = 0;
	for (uint32_t i = 0; i < j->n; i++) {
		const struct member *m = &j->m[i];
		t[i].pid = m->pid;
		t[i].ppid = m->ppid;
		t[i].pgid = m->pgid;
		t[i].sid = m->sid;
		t[i].flags = (m->d ? 0 : CKPT_TASK_F_ZOMBIE) |
			     (m->pid == h.root_pid ? CKPT_TASK_F_ROOT : 0) |
			     (tops > 1 && find_member(j, m->ppid) < 0 ? CKPT_TASK_F_TOPLEVEL : 0);
		t[i].exit_status = m->d ? 0 : m->exit_code;
		t[i].exit_signal = m->exit_signal;
		memcpy(t[i].comm, m->comm, sizeof(t[i].comm));
		if (m->d) {
			t[i].obj_first = slice[nl];
			t[i].obj_count = count[nl++];
		}
	}
	free(slice);
	free(count);
	if (!rc)
		rc = imgw_begin(w, CKPT_SEC_TREE, j->n * sizeof(*t), 0);
	if (!rc)
		rc = imgw_payload(w, t, j->n * sizeof(*t));
	if (!rc)
		rc = imgw_end(w);
	free(t);
	for (uint32_t i = 0; !rc && i < j->n; i++)
		if (j->m[i].d)
			rc = dump_write_process(j->m[i].d, w);
	return rc;
}

static void release_all(struct job *j, int sig)
{
	for (uint32_t i = 0; i < j->n; i++) {
		struct dump *d = j->m[i].d;
		if (!d)
			continue;
		dump_fds_release(d, sig == SIGKILL);
		dump_release(d, sig);
	}
	if (sig == SIGKILL)
		for (uint32_t i = 0; i < j->n; i++)
			if (j->m[i].d)
				dump_wait_dead(j->m[i].pid);
}

static void free_job(struct job *j)
{
	for (uint32_t i = 0; j->m && i < j->n; i++)
		if (j->m[i].d) {
			dump_free(j->m[i].d);
			free(j->m[i].d);
		}
	free(j->m);
	free(j->pids);
}

int dump_job(pid_t pid, const char *path, const struct ckpt_checkpoint_opts *o,
	     struct ckpt_result *res, struct ckpt_err *e, uint64_t t0)
{
	struct job j = {.root = pid, .scope = o->scope, .e = e};
	j.m = calloc(JOB_MAX, sizeof(*j.m));
	j.pids = calloc(JOB_MAX, sizeof(*j.pids));
	if (!j.m || !j.pids) {
		free_job(&j);
		return ckpt_fail(e, ENOMEM, "no memory");
	}
	uint64_t deadline = o->timeout_ms ? t0 + o->timeout_ms * 1000000ull : 0;
	struct imgw w;
	int rc = imgw_open(&w, path, o->fd, o->flags, e);
	if (rc) {
		free_job(&j);
		return rc;
	}
	imgw_direct(&w); /* as for one process (dump.c) */
	uint64_t t_freeze = dump_now_ns(), frozen_ns = 0;
	/* freeze until the set is stable */
	for (int round = 0; !rc; round++) {
		int added = collect(&j);
		if (added < 0) {
			rc = added;
			break;
		}
		int froze = 0;
		for (uint32_t i = 0; !rc && i < j.n; i++) {
			struct member *m = &j.m[i];
			if (m->d || m->state == 'Z' || m->state == 'X')
				continue;
			struct member now;
			int st = member_now(m, &now);
			if (st == 'Z') {
				m->exit_code = now.exit_code;
				m->state = 'Z';
				continue;
			}
			if (!st && m->pid != pid) { /* exited and reaped: it left */
				drop(&j, i--);
				continue;
			}
			froze++;
			rc = freeze_member(&j, m, o, deadline);
			/* it exited before we seized it (an exiting process refuses
			   PTRACE_SEIZE with EPERM): a zombie member, or gone */
			if ((rc == -ESRCH || rc == -EPERM) && m->pid != pid &&
			    ((st = member_now(m, &now)) == 'Z' || !st)) {
				dump_release(m->d, 0);
				dump_free(m->d);
				free(m->d);
				m->d = NULL;
				m->state = 'Z';
				ckpt_err_init(e, e->msg, e->len);
				rc = 0;
				if (!st)
					drop(&j, i--);
			}
		}
		/* a member whose parent left before it was frozen was handed to
		   a reaper outside the tree: it left too (a daemon's double fork) */
		if (!rc && j.scope == CKPT_SCOPE_TREE)
			added += left_tree(&j);
		if (!rc && !added && !froze)
			break;
		if (!rc && round > 1000)
			rc = ckpt_fail(e, EAGAIN, "processes of the job of %d kept appearing while "
					 "freezing", pid);
	}
	if (!rc) {
		/* zombies: their status now (every parent in the job is frozen:
		   nobody reaps). One its parent reaped before it was frozen is
		   gone (or its pid is another process's now): not a member. */
		for (uint32_t i = 0; i < j.n; i++)
			if (!j.m[i].d) {
				struct member now;
				if (member_now(&j.m[i], &now) == 'Z')
					j.m[i].exit_code = now.exit_code;
				else
					drop(&j, i--);
			}
		order(&j);
		if (!j.n || (o->scope == CKPT_SCOPE_TREE && !j.m[0].d))
			rc = ckpt_fail(e, ESRCH, "process %d is a zombie (exited, not yet reaped)",
				       pid);
		/* a group or session may hold several processes whose parents are
		   outside it (the commands of a shell's pipeline): the restarter
		   makes each of them; one that is a zombie could only be reaped
		   by its parent outside the job */
		const char *what = o->scope == CKPT_SCOPE_PGID ? "process group" : "session";
		for (uint32_t i = 0; !rc && i < j.n; i++)
			if (find_member(&j, j.m[i].ppid) < 0 && !j.m[i].d)
				rc = ckpt_fail(e, ENOTSUP,
					       "pid %d (%.16s) of %s %d has exited and its parent "
					       "%d, outside the %s, has not reaped it yet: a zombie "
					       "only its parent outside the job can reap cannot be "
					       "restarted; retry once it is reaped",
					       j.m[i].pid, j.m[i].comm, what, pid, j.m[i].ppid, what);
	}
	/* every member frozen: none can start tracing now; one walk of /proc
	   for all of them (per member, 16 walks took 0.1-0.2 s of frozen time) */
	if (!rc)
		rc = dump_refuse_tracers(j.pids, j.n, e);
	if (!rc)
		rc = dump_refuse_shared_tables(j.pids, j.n, e);
	for (uint32_t i = 0; !rc && i < j.n; i++)
		if (j.m[i].d) /* frozen: none can exec a set-id program now */
			rc = dump_check_owner(o, j.m[i].pid, e);
	if (!rc)
		rc = collect_state(&j);
	uint32_t live = 0;
	if (!rc)
		rc = write_job(&j, &w, &live);
	if (!rc)
		rc = imgw_drain(&w);
	int released = 0;
	if (!rc && o->after == CKPT_AFTER_CONT) {
		release_all(&j, 0);
		frozen_ns = dump_now_ns() - t_freeze;
		released = 1;
	}
	uint64_t bytes = 0;
	uint32_t crc = 0;
	if (!rc)
		rc = imgw_commit(&w, &bytes, &crc);
	if (rc) {
		if (!released)
			release_all(&j, 0);
		imgw_abort(&w);
		free_job(&j);
		return rc;
	}
	if (!released) {
		release_all(&j, dump_after_signal(o));
		frozen_ns = dump_now_ns() - t_freeze;
	}
	if (res) {
		uint32_t size = res->size ? res->size : sizeof(*res);
		struct ckpt_result r = {.size = size,
					.pid = pid,
					.bytes = bytes,
					.wall_ns = dump_now_ns() - t0,
					.frozen_ns = frozen_ns,
					.processes = live,
					.crc32c = crc};
		for (uint32_t i = 0; i < j.n; i++)
			if (j.m[i].d) {
				r.pages += j.m[i].d->nr_pages;
				r.threads += j.m[i].d->nr_threads;
				r.vmas += j.m[i].d->nr_vmas;
			}
		memcpy(res, &r, size < sizeof(r) ? size : sizeof(r));
	}
	free_job(&j);
	return 0;
}

/* ---- restart ------------------------------------------------------------ */

int rs_take_tree(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off)
{
	const struct ckpt_img_task *t = (const void *)p;
	uint32_t n = (uint32_t)(size / sizeof(*t)), live = 0, roots = 0;
	if (size % sizeof(*t) || !n || n > JOB_MAX)
		return ckpt_fail(c->e, EBADMSG, "image %s: section TREE at offset %llu: size is "
				 "not a whole number of 1..%d records", c->label,
				 (unsigned long long)off, JOB_MAX);
	for (uint32_t i = 0; i < n; i++) {
		int parent_ok = 1;
		for (uint32_t k = 0; k < n; k++)
			if (t[k].pid == t[i].ppid && k > i)
				parent_ok = 0; /* a parent comes first */
		for (uint32_t k = 0; k < i; k++)
			if (t[k].pid == t[i].pid)
				parent_ok = 0;
		if (t[i].pid <= 0 || t[i].ppid < 0 || !parent_ok ||
		    (t[i].flags & ~(CKPT_TASK_F_ZOMBIE | CKPT_TASK_F_ROOT | CKPT_TASK_F_TOPLEVEL)) ||
		    t[i].exit_signal < 0 || t[i].exit_signal > CKPT_NSIG ||
		    (t[i].obj_count && t[i].obj_first == 0))
			return ckpt_fail(c->e, EBADMSG, "image %s: section TREE at offset %llu: "
					 "record %u (pid %d): bad pid, parent order, flags or "
					 "object range", c->label, (unsigned long long)off, i,
					 t[i].pid);
		live += !(t[i].flags & CKPT_TASK_F_ZOMBIE);
		roots += !!(t[i].flags & CKPT_TASK_F_ROOT);
	}
	if (live != c->hdr->nr_processes || roots != 1 || (t[0].flags & CKPT_TASK_F_ZOMBIE))
		return ckpt_fail(c->e, EBADMSG, "image %s: section TREE: %u live processes and "
				 "%u roots (header: %u processes; exactly one root, the first "
				 "record live)", c->label, live, roots, c->hdr->nr_processes);
	/* records whose parent is outside: the first, or several, each flagged
	   and live (the restarter makes them; it cannot make a zombie) */
	uint32_t tops = 0, flagged = 0, vfirst = 1;
	for (uint32_t i = 0; i < n; i++) {
		int top = 1;
		for (uint32_t k = 0; k < i && top; k++)
			top = t[k].pid != t[i].ppid;
		tops += top;
		flagged += !!(t[i].flags & CKPT_TASK_F_TOPLEVEL);
		if (top && i && (!(t[i].flags & CKPT_TASK_F_TOPLEVEL) ||
				 (t[i].flags & CKPT_TASK_F_ZOMBIE)))
			return ckpt_fail(c->e, EBADMSG, "image %s: section TREE: record %u (pid "
					 "%d) has its parent %d outside the image but is not a live "
					 "record flagged top-level", c->label, i, t[i].pid,
					 t[i].ppid);
		if (t[i].obj_count && t[i].obj_first + t[i].obj_count > vfirst)
			vfirst = t[i].obj_first + t[i].obj_count;
	}
	if (tops > 1 ? flagged != tops : flagged)
		return ckpt_fail(c->e, EBADMSG, "image %s: section TREE: %u records flagged "
				 "top-level, %u with their parent outside the image (the flag is "
				 "on every such record when there are several, else on none)",
				 c->label, flagged, tops);
	c->nr_tops = tops;
	c->vobj_first = tops > 1 ? vfirst : 0;
	c->tasks = t;
	c->nr_tasks = n;
	c->procs = calloc(live, sizeof(*c->procs));
	return c->procs ? 0 : ckpt_fail(c->e, ENOMEM, "no memory");
}

static int cmp_obj_id(const void *a, const void *b)
{
	uint32_t x = ((const struct rs_obj *)a)->h->id, y = ((const struct rs_obj *)b)->h->id;
	return (x > y) - (x < y);
}

/* The views one process's sections set in the main context. */
static void take_view(struct rs_ctx *dst, const struct rs_ctx *src)
{
	dst->proc = src->proc;
	dst->shared_pending = src->shared_pending;
	dst->threads = src->threads;
	dst->nr_threads = src->nr_threads;
	dst->vmas = src->vmas;
	dst->nr_vmas = src->nr_vmas;
	dst->procx = src->procx;
	dst->ptimers = src->ptimers;
	dst->nr_ptimers = src->nr_ptimers;
	dst->tcomm = src->tcomm;
	dst->fdt_raw = src->fdt_raw;
	dst->fdt = src->fdt;
	dst->nr_fds = src->nr_fds;
	dst->runs = src->runs;
	dst->nr_runs = src->nr_runs;
	dst->pages_data_off = src->pages_data_off;
	dst->pages_sec_off = src->pages_sec_off;
	dst->pages_crc = src->pages_crc;
	dst->pages_head_crc = src->pages_head_crc;
	dst->pages_tail_crc = src->pages_tail_crc;
	dst->pages_tail_len = src->pages_tail_len;
	dst->pages_crc_deferred = src->pages_crc_deferred;
}

/* Every process is read: the objects after every slice are the
   restarter's (several top-level processes), in a context of their own. */
static int virtual_ctx(struct rs_ctx *c)
{
	if (!c->vobj_first)
		return 0;
	uint32_t first = 0;
	while (first < c->nr_objs && c->objs[first].h->id < c->vobj_first)
		first++;
	if (first == c->nr_objs)
		return 0;
	struct rs_ctx *v = calloc(1, sizeof(*v));
	if (!v)
		return ckpt_fail(c->e, ENOMEM, "no memory");
	*v = *c;
	take_view(v, &(struct rs_ctx){0});
	v->procs = NULL;
	v->nr_procs = 0;
	v->job = c;
	v->task = NULL;
	v->vroot = NULL;
	v->objs_cap = 0;
	v->objs = c->objs + first;
	v->nr_objs = c->nr_objs - first;
	v->proc = c->vcreds;
	c->vroot = v;
	if (!c->vcreds)
		return ckpt_fail(c->e, EBADMSG, "image %s: objects %u..%u are made by the "
				 "restarter but no process holds them", c->label, c->vobj_first,
				 v->objs[v->nr_objs - 1].h->id);
	return 0;
}

int rs_job_next_proc(struct rs_ctx *c, int (*check)(struct rs_ctx *))
{
	uint32_t k = 0, idx = 0;
	while (k < c->nr_procs)
		k++;
	if (k == 0) /* every object is read by now: ids in order, for the slices */
		qsort(c->objs, c->nr_objs, sizeof(*c->objs), cmp_obj_id);
	/* the k-th live record */
	for (uint32_t seen = 0; idx < c->nr_tasks; idx++)
		if (!(c->tasks[idx].flags & CKPT_TASK_F_ZOMBIE) && seen++ == k)
			break;
	if (idx >= c->nr_tasks || !c->proc || c->tasks[idx].pid != c->proc->pid)
		return ckpt_fail(c->e, EBADMSG, "image %s: process %u (pid %d) does not match "
				 "the TREE record in that place", c->label, k,
				 c->proc ? c->proc->pid : 0);
	const struct ckpt_img_task *t = &c->tasks[idx];
	struct rs_ctx *p = malloc(sizeof(*p));
	if (!p)
		return ckpt_fail(c->e, ENOMEM, "no memory");
	*p = *c;
	p->procs = NULL;
	p->nr_procs = 0;
	p->job = c;
	p->task = t;
	p->objs_cap = 0;
	p->objs = NULL;
	p->nr_objs = 0;
	if (t->obj_count) {
		uint32_t first = t->obj_first - 1;
		if (first >= c->nr_objs || t->obj_count > c->nr_objs - first ||
		    c->objs[first].h->id != t->obj_first ||
		    c->objs[first + t->obj_count - 1].h->id != t->obj_first + t->obj_count - 1) {
			free(p);
			return ckpt_fail(c->e, EBADMSG, "image %s: process %d: objects %u..%u are "
					 "not in the image", c->label, t->pid, t->obj_first,
					 t->obj_first + t->obj_count - 1);
		}
		p->objs = c->objs + first;
		p->nr_objs = t->obj_count;
	}
	c->procs[c->nr_procs++] = p;
	int rc = check(p);
	if (rc)
		return rc;
	struct rs_ctx empty;
	memset(&empty, 0, sizeof(empty));
	take_view(c, &empty);
	if (c->nr_procs == c->hdr->nr_processes) {
		take_view(c, c->procs[0]); /* the main context shows the root */
		return virtual_ctx(c);
	}
	return 0;
}

int rs_job_top(const struct rs_ctx *job, const struct ckpt_img_task *t)
{
	for (const struct ckpt_img_task *k = job->tasks; k < t; k++)
		if (k->pid == t->ppid)
			return 0;
	return 1;
}

const struct ckpt_img_task *rs_job_status_task(const struct rs_ctx *job)
{
	for (uint32_t i = 0; i < job->nr_tasks; i++)
		if ((job->tasks[i].flags & CKPT_TASK_F_ROOT) &&
		    !(job->tasks[i].flags & CKPT_TASK_F_ZOMBIE) && rs_job_top(job, &job->tasks[i]))
			return &job->tasks[i];
	return job->tasks;
}

void rs_job_close(struct rs_ctx *c)
{
	if (!c->procs)
		return;
	for (uint32_t i = 0; i < c->nr_procs; i++) {
		free(c->procs[i]->threads);
		free(c->procs[i]->vmas);
		free(c->procs[i]->fdt);
		free(c->procs[i]);
	}
	free(c->procs);
	free(c->vroot);
	c->vroot = NULL;
	rs_share_free(c);
	c->procs = NULL;
	c->nr_procs = 0;
	c->threads = NULL;
	c->vmas = NULL;
	c->fdt = NULL;
}

static struct rs_ctx *proc_of(struct rs_ctx *job, const struct ckpt_img_task *t)
{
	for (uint32_t i = 0; i < job->nr_procs; i++)
		if (job->procs[i]->task == t)
			return job->procs[i];
	return NULL;
}

/* In process c (helper code, before it stops): clone each child in creation
   order; a zombie exits at once with its status, a live child sets itself up,
   makes its own children and stops. Waits for each (never reaping). */
int rs_job_spawn_children(struct rs_ctx *c, int errfd, char *msg, size_t msglen)
{
	struct rs_ctx *job = c->job;
	sigset_t chld, old;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	for (uint32_t i = 0; i < job->nr_tasks; i++) {
		const struct ckpt_img_task *t = &job->tasks[i];
		if (t->ppid != c->task->pid || t == c->task)
			continue;
		struct rs_ctx *q = proc_of(job, t);
		pid_t want = t->pid;
		int es = q ? q->proc->exit_signal : t->exit_signal;
		long r = rs_ids_clone(job, i, want, es > 0 ? (uint64_t)es : SIGCHLD,
				      !!(job->flags & CKPT_RS_NO_RESTORE_PID), msg, msglen);
		if (r == 0) {
			sigprocmask(SIG_SETMASK, &old, NULL);
			if (q)
				rs_job_child_main(q, errfd);
			/* a zombie: in its session and group, end as it ended */
			char m[256];
			if (rs_ids_apply(job, i, m, sizeof(m)) < 0) {
				int32_t code = EPERM;
				if (write(errfd, &code, sizeof(code)) > 0) {
					ssize_t w = write(errfd, m, strlen(m));
					(void)w;
				}
				_exit(127);
			}
			int st = t->exit_status;
			if (WIFSIGNALED(st)) {
				prctl(PR_SET_DUMPABLE, 0);
				struct rlimit no = {0, 0};
				setrlimit(RLIMIT_CORE, &no);
				signal(WTERMSIG(st), SIG_DFL);
				sigset_t all;
				sigemptyset(&all);
				sigprocmask(SIG_SETMASK, &all, NULL);
				raise(WTERMSIG(st));
			}
			_exit(WEXITSTATUS(st));
		}
		if (r < 0) {
			char why[RS_LINE_MAX];
			snprintf(why, sizeof(why), "%s", msg);
			snprintf(msg, msglen, "%s (child of %d)", why, c->task->pid);
			return -1;
		}
		job->live_pids[i] = (pid_t)r;
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (!q) {
			while (waitid(P_PID, (id_t)r, &si, WEXITED | WNOWAIT | __WALL) < 0 &&
			       errno == EINTR)
				;
			if (si.si_code == CLD_EXITED && si.si_status == 127 &&
			    !(WIFEXITED(t->exit_status) && WEXITSTATUS(t->exit_status) == 127)) {
				snprintf(msg, msglen, "zombie %d (child of %d) could not take its "
					 "session %d or process group %d", want, c->task->pid,
					 t->sid, t->pgid);
				return -1;
			}
			continue;
		}
		/* a live child says when it (and its own children) are made */
		while (!__atomic_load_n(&job->live_pids[job->nr_tasks + i], __ATOMIC_ACQUIRE)) {
			if (waitid(P_PID, (id_t)r, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0 &&
			    si.si_pid == (pid_t)r) {
				snprintf(msg, msglen, "process %d (child of %d) failed while being "
					 "made", want, c->task->pid);
				return -1;
			}
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL);
		}
	}
	/* the notices of the children's stops and ends are ours, not the
	   restored process's */
	struct timespec zero = {0, 0};
	while (sigtimedwait(&chld, NULL, &zero) > 0)
		;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}

/* In a top-level session leader (helper code, --restore-sid): make the
   top-level processes of its session (proc_ids.c) with CLONE_PARENT, so that
   they are the restarter's children in this session; each sets itself up
   and waits to be seized as a process below the root does. */
int rs_job_spawn_session(struct rs_ctx *c, int errfd, char *msg, size_t msglen)
{
	struct rs_ctx *job = c->job;
	uint32_t me = (uint32_t)(c->task - job->tasks);
	for (uint32_t i = 0; i < job->nr_tasks; i++) {
		if (rs_ids_made_by(job, i) != (int)me)
			continue;
		const struct ckpt_img_task *t = &job->tasks[i];
		struct rs_ctx *q = proc_of(job, t);
		if (!q) {
			snprintf(msg, msglen, "record %u (pid %d) of session %d is not live", i,
				 t->pid, t->sid);
			return -1;
		}
		long r = rs_ids_clone(job, i, t->pid, 0, !!(job->flags & CKPT_RS_NO_RESTORE_PID), msg,
				      msglen);
		if (r == 0)
			rs_job_child_main(q, errfd);
		if (r < 0) {
			char why[RS_LINE_MAX];
			snprintf(why, sizeof(why), "%s", msg);
			snprintf(msg, msglen, "%s (made by its session leader %d)", why, c->task->pid);
			return -1;
		}
		/* not our child (CLONE_PARENT): watch its state, not its exit */
		while (!__atomic_load_n(&job->live_pids[job->nr_tasks + i], __ATOMIC_ACQUIRE)) {
			char st = ckpt_proc_state((pid_t)r);
			if (!st || st == 'Z' || st == 'X') {
				snprintf(msg, msglen, "process %d (made by its session leader %d) failed "
					 "while being made", t->pid, c->task->pid);
				return -1;
			}
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL);
		}
	}
	return 0;
}

static void kill_job(struct rs_ctx *c)
{
	for (uint32_t i = 0; i < c->nr_procs; i++) {
		const struct rs_ctx *p = c->procs[i];
		pid_t pid = p->child_alive ? p->pid
			    : c->live_pids ? c->live_pids[p->task - c->tasks] : 0;
		if (pid > 0)
			kill(pid, SIGKILL);
	}
	for (uint32_t i = 0; i < c->nr_procs; i++) /* the helper's own children */
		if (rs_job_top(c, c->procs[i]->task))
			rs_kill_child(c->procs[i]);
}

/* Seize a process of the job its parent made and stopped. */
static int seize_stopped(struct rs_ctx *p)
{
	if (ptrace(PTRACE_SEIZE, p->pid, 0,
		   PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL) < 0)
		return ckpt_fail_errno(p->e, errno, "ptrace seize %d", p->pid);
	if (ptrace(PTRACE_INTERRUPT, p->pid, 0, 0) < 0)
		return ckpt_fail_errno(p->e, errno, "ptrace interrupt %d", p->pid);
	int st = 0;
	while (waitpid(p->pid, &st, __WALL) < 0)
		if (errno != EINTR)
			return ckpt_fail_errno(p->e, errno, "waitpid %d", p->pid);
	if (!WIFSTOPPED(st))
		return ckpt_fail(p->e, EIO, "restored process %d ended before it was restored",
				 p->pid);
	p->child_alive = 1;
	return ckpt_find_syscall_insn(p->pid, &p->syscall_ip, p->e);
}

int rs_restore_job(struct rs_ctx *c)
{
	int rc = 0;
	for (uint32_t i = 0; !rc && i < c->nr_procs; i++) {
		struct rs_ctx *p = c->procs[i];
		rc = rs_verify_files(p);
		if (!rc)
			rc = rs_verify_pid(p);
	}
	for (uint32_t i = 0; !rc && i < c->nr_tasks && !(c->flags & CKPT_RS_NO_RESTORE_PID); i++)
		if ((c->tasks[i].flags & CKPT_TASK_F_ZOMBIE) && kill(c->tasks[i].pid, 0) == 0)
			rc = ckpt_fail(c->e, EBUSY, "pid %d (a zombie of the job) is in use; restart "
				       "with --no-restore-pid to take new pids", c->tasks[i].pid);
	if (rc)
		return rc;
	if ((c->flags & CKPT_RS_NO_RESTORE_PID) && c->nr_tasks > 1)
		rs_warn(c, "--no-restore-pid: the %u processes of the job get new pids; a "
			   "parent that waits for or signals a child by the pid it recorded "
			   "(waitpid(pid), bash's wait $!, Python's subprocess and "
			   "multiprocessing) will not find it (ECHILD, exit status 127)",
			c->nr_tasks);
	c->live_pids = mmap(NULL, 2 * c->nr_tasks * sizeof(pid_t), PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c->live_pids == MAP_FAILED) {
		c->live_pids = NULL;
		return ckpt_fail_errno(c->e, errno, "mmap");
	}
	rc = rs_share_plan(c);
	if (!rc && c->vroot)
		rc = rs_fd_verify(c->vroot);
	if (!rc) /* what the top-level processes share and none of them makes */
		rc = rs_share_make_virtual(c);
	char m[RS_LINE_MAX];
	if (!rc && rs_share_make(c, m, sizeof(m)) < 0) /* memory shared by top-level ones */
		rc = ckpt_fail(c->e, ENOMEM, "%s", m);
	if (rc)
		return rc;
	/* each top-level process (the root, or several) is the helper's own
	   child; each makes its own children */
	for (uint32_t i = 0; !rc && i < c->nr_procs; i++) {
		struct rs_ctx *p = c->procs[i];
		if (!rs_job_top(c, p->task) || rs_ids_made_by(c, (uint32_t)(p->task - c->tasks)) >= 0)
			continue; /* made by its parent, or by its session's leader */
		p->live_pids = c->live_pids;
		rc = rs_create_child(p);
		if (!rc)
			c->live_pids[p->task - c->tasks] = p->pid;
	}
	if (c->vroot) /* the helper keeps none of what they share */
		rs_share_close(c->vroot);
	rs_share_unmap_virtual(c);
	if (rc) {
		kill_job(c);
		return rc;
	}
	for (uint32_t i = 1; !rc && i < c->nr_procs; i++) {
		struct rs_ctx *p = c->procs[i];
		if (p->child_alive)
			continue; /* a top-level one, made and seized above */
		p->pid = c->live_pids[p->task - c->tasks];
		rc = p->pid > 0 ? seize_stopped(p)
				: ckpt_fail(c->e, EIO, "process %d was not made", p->task->pid);
	}
	for (uint32_t i = 0; !rc && i < c->nr_procs; i++) {
		struct rs_ctx *p = c->procs[i];
		rc = rs_restore_mm(p);
		if (!rc)
			rc = rs_restore_process_state(p);
		if (!rc)
			rc = rs_restore_threads(p);
		if (!rc)
			rc = rs_restore_mm_late(p);
		if (!rc)
			rc = rs_locks_after_mm(p);
	}
	/* children first: a parent that runs finds every child as it was */
	for (uint32_t i = c->nr_procs; !rc && i-- > 0;)
		rc = rs_finish(c->procs[i]);
	if (rc) {
		kill_job(c);
		return rc;
	}
	rs_settle(c->procs, c->nr_procs);
	c->pid = c->live_pids[rs_job_status_task(c) - c->tasks];
	c->nr_threads = 0;
	for (uint32_t i = 0; i < c->nr_procs; i++)
		c->nr_threads += c->procs[i]->nr_threads;
	return 0;
}
