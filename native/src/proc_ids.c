// SPDX-License-Identifier: BSD-3-Clause
/*
 * Process groups and sessions at restart (BLCR's --restore-sid and
 * --restore-pgid), for one process or a whole job (TREE section).
 *
 * A session is only ever entered by fork from one of its members or made by
 * setsid; a group is entered by setpgid from the same session while one of
 * its members lives. So before anything is made, rs_ids_plan walks the
 * processes in the order they will be made (depth first, as
 * rs_job_spawn_children makes them) and decides for each:
 *
 *  - it leads its session (setsid) or its group (setpgid(0, 0));
 *  - it inherits both from its restored parent (or the restarter);
 *  - it joins a group that an earlier-made process of the job is in, or
 *    one outside the job in the restarter's own session;
 *  - its session or group leader is gone (not in the image, pid free): a
 *    placeholder leader is cloned first, with the leader's pid, as a child
 *    of the process's parent; it calls setsid or setpgid(0, 0) and clones
 *    the process itself with CLONE_PARENT (so its parent is the right one),
 *    then exits. The parent reaps the placeholder before it goes on: no
 *    process of the restarted job ever sees it (as CRIU's helpers).
 *
 * Several top-level processes (a pipeline's group, proc_tree.c) are made by
 * the restarter in record order, each followed by what it makes; without
 * --restore-pgid/--restore-sid they are put in one new group, led by the
 * first, the others joining it (BLCR's restart made one new group). With
 * --restore-sid, a top-level process of a session that a top-level process
 * of the job leads is made by that leader (it alone is in the session), with
 * CLONE_PARENT: it is the restarter's child as the others.
 *
 * Anything else (a session whose leader is alive outside the job and is not
 * the restarter's, two processes of a gone session with different parents,
 * a group whose leader is made after its member, ...) is refused here,
 * naming the process and the id, before any process exists.
 */
#include "ckpt.h"
#include "restore.h"

#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ID_NONE, ID_SETSID, ID_LEADER, ID_JOIN };

struct rs_idplan {
	pid_t helper[2]; /* placeholders cloned before it (image pids), 0: none */
	uint8_t helper_op[2]; /* ID_SETSID or ID_LEADER */
	uint8_t sid_op; /* ID_NONE or ID_SETSID */
	uint8_t pgid_op; /* ID_NONE, ID_LEADER or ID_JOIN */
	int32_t join_ref; /* ID_JOIN: a task already in the group, -1: join_pgid */
	int32_t by_leader; /* a top-level process of the session led by this
			      top-level record: it clones it (CLONE_PARENT); -1 */
	pid_t join_pgid; /* ID_JOIN of a group outside the job */
};

struct rs_ids {
	const struct ckpt_img_task *t;
	uint32_t n;
	struct ckpt_img_task one; /* a single process's record */
	uint32_t *dfs; /* creation order: dfs[k] = index of the k-th made */
	uint32_t *pos; /* pos[i] = place of task i in dfs */
	struct rs_idplan *plan;
};

static int find_task(const struct rs_ids *s, pid_t pid)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (s->t[i].pid == pid)
			return (int)i;
	return -1;
}

static void walk(struct rs_ids *s, uint32_t i, uint32_t *k)
{
	s->pos[i] = *k;
	s->dfs[(*k)++] = i;
	for (uint32_t c = i + 1; c < s->n; c++)
		if (s->t[c].ppid == s->t[i].pid)
			walk(s, c, k);
}

/* Is pid (or a group with that id) taken on this machine? */
static int pid_taken(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

static int group_exists(pid_t pgid)
{
	return kill(-pgid, 0) == 0 || errno == EPERM;
}

static int exit_signal_of(const struct rs_ctx *c, const struct ckpt_img_task *t)
{
	for (uint32_t k = 0; c->procs && k < c->nr_procs; k++)
		if (c->procs[k]->task == t)
			return c->procs[k]->proc->exit_signal;
	return -1;
}

/* The top-level record that leads the session of top-level record i, made
   before it and live, with the same exit signal (a CLONE_PARENT child gets
   its maker's): it can make i in its session. -1 if none. */
static int by_leader(const struct rs_ctx *c, const struct rs_ids *s, uint32_t i)
{
	const struct ckpt_img_task *t = &s->t[i];
	int l = find_task(s, t->sid);
	if (l < 0 || find_task(s, s->t[l].ppid) >= 0 || s->pos[l] >= s->pos[i] ||
	    s->t[l].sid != s->t[l].pid || (s->t[l].flags & CKPT_TASK_F_ZOMBIE) ||
	    s->plan[l].sid_op != ID_SETSID)
		return -1;
	int a = exit_signal_of(c, &s->t[l]), b = exit_signal_of(c, t);
	if (a <= 0)
		a = SIGCHLD;
	if (b <= 0)
		b = SIGCHLD;
	return a == b ? l : -1;
}

static int plan_one(struct rs_ctx *c, struct rs_ids *s, uint32_t i)
{
	const struct ckpt_img_task *t = &s->t[i];
	struct rs_idplan *p = &s->plan[i];
	int fresh = !!(c->flags & CKPT_RS_NO_RESTORE_PID);
	int parent = find_task(s, t->ppid);
	pid_t sid_then = parent >= 0 ? s->t[parent].sid : getsid(0);
	pid_t pgid_then = parent >= 0 ? s->t[parent].pgid : getpgrp();
	int nh = 0;
	if (!(c->flags & CKPT_RS_RESTORE_SID)) {
		sid_then = t->sid; /* sessions are not compared */
	} else if (t->sid == t->pid) {
		if (t->pgid != t->pid)
			return ckpt_fail(c->e, EBADMSG, "image %s: pid %d leads session %d but is "
					 "in process group %d (a session leader leads its group)",
					 c->label, t->pid, t->sid, t->pgid);
		p->sid_op = ID_SETSID;
		sid_then = pgid_then = t->pid;
	} else if (t->sid != sid_then && parent < 0 && by_leader(c, s, i) >= 0) {
		/* a top-level process of a session a top-level process of the
		   job leads: that leader, in its session, makes it with
		   CLONE_PARENT (its parent is the restarter, as for the others) */
		int l = by_leader(c, s, i);
		p->by_leader = l;
		sid_then = t->sid;
		pgid_then = s->t[l].pgid;
	} else if (t->sid != sid_then) {
		if (find_task(s, t->sid) >= 0)
			return ckpt_fail(c->e, ENOTSUP, "--restore-sid: pid %d is in session %d "
					 "(pid %d of the job leads it) but its parent %d is not: "
					 "it cannot be made in that session again", t->pid, t->sid,
					 t->sid, t->ppid);
		for (uint32_t o = 0; o < s->n; o++)
			if (s->plan[o].helper[0] == t->sid || s->plan[o].helper[1] == t->sid)
				return ckpt_fail(c->e, ENOTSUP, "--restore-sid: pids %d and %d are in "
						 "session %d, whose leader is gone, %s (%d and %d): "
						 "one placeholder leader cannot make both",
						 s->t[o].pid, t->pid, t->sid,
						 parent < 0 && find_task(s, s->t[o].ppid) < 0
							 ? "and both are made by the restarter (their "
							   "parents are outside the image)"
							 : "under different parents",
						 s->t[o].ppid, t->ppid);
		if (!fresh && pid_taken(t->sid))
			return ckpt_fail(c->e, EBUSY, "--restore-sid: pid %d is in session %d, whose "
					 "leader is not in the image and whose pid %d is in use on "
					 "this machine (%s): restart without --restore-sid",
					 t->pid, t->sid, t->sid,
					 parent < 0 ? "not the restarter's session" : "by another process");
		p->helper[nh] = t->sid;
		p->helper_op[nh++] = ID_SETSID;
		sid_then = pgid_then = t->sid;
	}
	if (!(c->flags & (CKPT_RS_RESTORE_PGID | CKPT_RS_RESTORE_SID)) && c->nr_tops > 1 &&
	    parent < 0) {
		/* several top-level processes without --restore-pgid: one new
		   group for all of them, led by the first (as BLCR's restart
		   puts a restarted group in one new group) */
		int first = -1;
		for (uint32_t x = 0; x < s->n && first < 0; x++)
			if (find_task(s, s->t[x].ppid) < 0)
				first = (int)x;
		p->pgid_op = first == (int)i ? ID_LEADER : ID_JOIN;
		p->join_ref = first;
		return 0;
	}
	if (!(c->flags & CKPT_RS_RESTORE_PGID) || t->pgid == pgid_then)
		return 0;
	if (t->pgid == t->pid) {
		p->pgid_op = ID_LEADER;
		return 0;
	}
	/* a process made before it in the group (its leader or first member) */
	for (uint32_t k = 0; k < s->pos[i]; k++) {
		uint32_t o = s->dfs[k];
		if (s->t[o].pgid == t->pgid && s->t[o].sid == t->sid) {
			p->pgid_op = ID_JOIN;
			p->join_ref = (int32_t)o;
			return 0;
		}
	}
	int k = find_task(s, t->pgid);
	if (k >= 0)
		return ckpt_fail(c->e, ENOTSUP, "--restore-pgid: pid %d is in process group %d, "
				 "whose leader (pid %d of the job, session %d) is made after it or "
				 "is in another session: the group cannot be rejoined", t->pid,
				 t->pgid, t->pgid, s->t[k].sid);
	if (group_exists(t->pgid)) {
		if ((c->flags & CKPT_RS_RESTORE_SID) && t->sid != getsid(0))
			return ckpt_fail(c->e, ENOTSUP, "--restore-pgid: pid %d is in process group "
					 "%d, which exists outside the job but not in the session "
					 "the process is made in: restart without --restore-pgid",
					 t->pid, t->pgid);
		p->pgid_op = ID_JOIN;
		p->join_ref = -1;
		p->join_pgid = t->pgid;
		return 0;
	}
	if (!fresh && pid_taken(t->pgid))
		return ckpt_fail(c->e, EBUSY, "--restore-pgid: pid %d is in process group %d, whose "
				 "leader is not in the image and whose pid %d is in use on this "
				 "machine: restart without --restore-pgid", t->pid, t->pgid,
				 t->pgid);
	p->helper[nh] = t->pgid;
	p->helper_op[nh++] = ID_LEADER;
	return 0;
}

void rs_ids_free(struct rs_ctx *c)
{
	struct rs_ids *s = c->ids;
	if (!s)
		return;
	free(s->dfs);
	free(s->pos);
	free(s->plan);
	free(s);
	c->ids = NULL;
}

int rs_ids_plan(struct rs_ctx *c)
{
	if (!(c->flags & (CKPT_RS_RESTORE_SID | CKPT_RS_RESTORE_PGID)) && c->nr_tops < 2)
		return 0;
	struct rs_ids *s = calloc(1, sizeof(*s));
	if (!s)
		return ckpt_fail(c->e, ENOMEM, "no memory");
	c->ids = s;
	if (c->tasks) {
		s->t = c->tasks;
		s->n = c->nr_tasks;
	} else {
		s->one.pid = c->proc->pid;
		s->one.ppid = c->proc->ppid;
		s->one.pgid = c->proc->pgid;
		s->one.sid = c->proc->sid;
		s->t = &s->one;
		s->n = 1;
	}
	s->dfs = calloc(s->n, sizeof(*s->dfs));
	s->pos = calloc(s->n, sizeof(*s->pos));
	s->plan = calloc(s->n, sizeof(*s->plan));
	if (!s->dfs || !s->pos || !s->plan) {
		rs_ids_free(c);
		return ckpt_fail(c->e, ENOMEM, "no memory");
	}
	for (uint32_t i = 0; i < s->n; i++)
		s->plan[i].by_leader = -1;
	/* each process the restarter makes (the first record, or every
	   top-level one in record order), each followed by what it makes */
	uint32_t k = 0;
	for (uint32_t i = 0; i < s->n; i++)
		if (!i || find_task(s, s->t[i].ppid) < 0)
			walk(s, i, &k);
	int rc = 0;
	for (uint32_t x = 0; !rc && x < k; x++)
		rc = plan_one(c, s, s->dfs[x]);
	if (rc)
		rs_ids_free(c);
	return rc;
}

/* In process i itself (live or about to end as a zombie), before it makes
   children: record its pid for the others, then setsid / setpgid. */
int rs_ids_apply(const struct rs_ctx *job, uint32_t i, char *msg, size_t len)
{
	const struct rs_ids *s = job->ids;
	if (job->live_pids)
		__atomic_store_n(&job->live_pids[i], getpid(), __ATOMIC_RELEASE);
	if (!s)
		return 0;
	const struct rs_idplan *p = &s->plan[i];
	const struct ckpt_img_task *t = &s->t[i];
	if (p->sid_op == ID_SETSID && setsid() < 0) {
		snprintf(msg, len, "--restore-sid: setsid in pid %d: %s", t->pid, strerror(errno));
		return -1;
	}
	pid_t to = 0;
	if (p->pgid_op == ID_JOIN && p->join_ref < 0) {
		to = p->join_pgid;
	} else if (p->pgid_op == ID_JOIN) {
		pid_t ref = job->live_pids ? __atomic_load_n(&job->live_pids[p->join_ref],
							     __ATOMIC_ACQUIRE)
					   : 0;
		to = ref > 0 ? getpgid(ref) : -1;
		if (to < 0) {
			snprintf(msg, len, "--restore-pgid: group %d of pid %d: its member pid %d "
				 "is not there", t->pgid, t->pid, s->t[p->join_ref].pid);
			return -1;
		}
	}
	if ((p->pgid_op == ID_JOIN || p->pgid_op == ID_LEADER) && setpgid(0, to) < 0) {
		snprintf(msg, len, "--restore-pgid: pid %d cannot %s process group %d: %s", t->pid,
			 p->pgid_op == ID_LEADER ? "lead" : "join", t->pgid, strerror(errno));
		return -1;
	}
	return 0;
}

int rs_ids_made_by(const struct rs_ctx *job, uint32_t i)
{
	return job->ids ? job->ids->plan[i].by_leader : -1;
}

/* What the placeholders tell the process that made them. */
struct made {
	pid_t pid[3]; /* helpers, then the process */
	char msg[240];
};

static long clone_with(pid_t want, uint64_t flags, uint64_t exit_signal, int fresh)
{
	struct clone_args ca;
	memset(&ca, 0, sizeof(ca));
	ca.flags = flags;
	ca.exit_signal = exit_signal;
	if (!fresh && rs_kpid_active())
		return rs_kpid_clone3(&ca, want); /* ckpt.ko sets the next pid */
	if (!fresh) {
		ca.set_tid = (uint64_t)(uintptr_t)&want;
		ca.set_tid_size = 1;
	}
	return syscall(SYS_clone3, &ca, CLONE_ARGS_SIZE_VER2);
}

long rs_ids_clone(const struct rs_ctx *job, uint32_t i, pid_t want, uint64_t exit_signal, int fresh,
		  char *msg, size_t len)
{
	const struct rs_ids *s = job->ids;
	const struct rs_idplan *p = s ? &s->plan[i] : NULL;
	if (!p || !p->helper[0]) {
		/* made by its session leader for the restarter: the restarter's
		   child, with the leader's exit signal; not a clone event of the
		   leader the restarter traces (it is seized once set up) */
		int cp = p && p->by_leader >= 0;
		long r = clone_with(want, cp ? CLONE_PARENT | CLONE_UNTRACED : 0, cp ? 0 : exit_signal,
				    fresh);
		if (r < 0)
			snprintf(msg, len, "clone3 of pid %d: %s%s", want, strerror(errno),
				 errno == EEXIST ? " (the pid is in use; restart with "
						   "--no-restore-pid)"
						 : "");
		return r;
	}
	struct made *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			      -1, 0);
	if (m == MAP_FAILED) {
		snprintf(msg, len, "mmap: %s", strerror(errno));
		return -1;
	}
	memset(m, 0, sizeof(*m));
	uint32_t nh = p->helper[1] ? 2 : 1;
	long r = clone_with(p->helper[0], 0, exit_signal, fresh);
	for (uint32_t h = 0; r == 0 && h <= nh; h++) {
		/* in placeholder h (h == nh: the process itself) */
		if (h == nh) {
			munmap(m, sizeof(*m));
			return 0;
		}
		m->pid[h] = getpid();
		const char *what = p->helper_op[h] == ID_SETSID ? "session" : "process group";
		if ((p->helper_op[h] == ID_SETSID ? setsid() : setpgid(0, 0)) < 0) {
			snprintf(m->msg, sizeof(m->msg), "placeholder leader %d of %s %d: %s",
				 p->helper[h], what, p->helper[h], strerror(errno));
			_exit(1);
		}
		pid_t next = h + 1 < nh ? p->helper[h + 1] : want;
		r = clone_with(next, CLONE_PARENT, 0, fresh);
		if (r < 0) {
			snprintf(m->msg, sizeof(m->msg), "clone3 of pid %d by the placeholder leader "
				 "of %s %d: %s", next, what, p->helper[h], strerror(errno));
			_exit(1);
		}
		if (r > 0) {
			m->pid[h + 1] = (pid_t)r;
			_exit(0);
		}
	}
	if (r < 0) {
		snprintf(msg, len, "clone3 of placeholder leader %d (for pid %d): %s%s",
			 p->helper[0], want, strerror(errno),
			 errno == EEXIST ? " (the pid is in use)" : "");
		munmap(m, sizeof(*m));
		return -1;
	}
	/* the maker: reap the placeholders (each is our child); then the
	   process, also our child, is known */
	m->pid[0] = (pid_t)r;
	int bad = 0;
	for (uint32_t h = 0; h < nh; h++) {
		/* placeholder h-1 wrote placeholder h's pid before it exited */
		int st = 0;
		pid_t hp = __atomic_load_n(&m->pid[h], __ATOMIC_ACQUIRE), w = -1;
		while (hp > 0 && (w = waitpid(hp, &st, __WALL)) < 0 && errno == EINTR)
			;
		if (w != hp || !WIFEXITED(st) || WEXITSTATUS(st)) {
			bad = 1;
			break;
		}
	}
	long out = m->pid[nh];
	if (bad || out <= 0) {
		snprintf(msg, len, "%s", m->msg[0] ? m->msg : "a placeholder leader failed");
		out = -1;
	}
	munmap(m, sizeof(*m));
	return out;
}
