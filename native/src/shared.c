// SPDX-License-Identifier: BSD-3-Clause
/*
 * Objects shared between the processes of a job (issue 11): one open file
 * description held by several processes (a log file a shell's children
 * inherit, an eventfd across fork), and objects that are several
 * descriptions made together (both ends of a pipe, a socketpair, the ends
 * of a FIFO) held by different processes (a shell pipeline).
 *
 * Checkpoint (dump_share, after every member's descriptors are recorded):
 * the objects of all members are put in classes: two records of one open
 * file description (same kind and inode, kcmp KCMP_FILE across the two
 * pids) are one object, the later record dropped and its descriptors
 * pointed at the first; records that are made together (a pipe's ends, a
 * socket and its peer, one FIFO) are one class. A class held by several
 * processes goes to the slice of the image of their lowest common ancestor
 * in the tree, its "owner", which is the process that makes it again.
 * Holders with no common ancestor in the job (the stages of a pipeline,
 * whose parent, the shell, is outside the group) have the restarter as
 * owner: such objects get ids after every process's slice (proc_tree.c's
 * top-level records). What cannot come back is refused naming both
 * processes: such holders of an object the restarter does not make (only
 * pipes, FIFOs, unix sockets, files and eventfds) or with different
 * filesystem credentials, a TCP/UDP socket shared by two processes,
 * an epoll instance whose owner is not the process it was recorded from
 * (its interest list names that process's descriptors).
 *
 * Restart: the owner makes its whole slice as a single process does
 * (kinds find their peers in it), lays out its own table, then moves each
 * object other processes hold to a fixed number of the job's "shared
 * region", shared_base + id - 1, above every descriptor number of the job.
 * Its children are cloned after that and inherit the region; each process
 * takes its descriptors of objects outside its slice from there, keeps the
 * region while it clones its own children, then closes all of it before
 * it runs any of its own code, except the memfds of other slices it maps,
 * which the helper maps from there and then closes (fd_memfd.c).
 * The restarter's objects are made the same
 * way by a short-lived child of the helper (with the first holder's
 * filesystem credentials; the kinds' state, such as a pipe's spare ends,
 * stays in it) and passed to the helper over SCM_RIGHTS into the region,
 * which the top-level processes inherit; the helper closes it once they
 * are all made.
 *
 * Memory several processes map, with no privilege (no /proc/PID/map_files,
 * so a normal user restarts their own job):
 * - a memfd (held by descriptors, or only mapped by some or all): one
 *   object in its holders' common ancestor's slice, handed to every
 *   process that maps it through the shared region as above; each maps its
 *   own VMAs from its descriptor. Reading a memfd at checkpoint that no
 *   process of the job holds by a descriptor takes map_files and so
 *   CAP_CHECKPOINT_RESTORE: refused without it, naming the mapping.
 * - shared anonymous memory (and a deleted file's shared mapping: a
 *   sem_open()ed and unlinked POSIX semaphore): made by its holders' common
 *   ancestor before it clones them and inherited, as fork made it; see
 *   rs_share_plan below for how each holder keeps it and why that is
 *   chosen over a memfd handed on (a memfd would show as "/memfd:..." in
 *   /proc/PID/maps, and a checkpoint of the restarted job by a normal user
 *   could then not read it back).
 * - a SysV segment: made (or found) once for the job and attached by each
 *   (shm_sysv.c); a POSIX shm object that still has its name: the file.
 */
#include "dump.h"
#include "fd.h"
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KCMP_FILE_ 0

/* ---- checkpoint ----------------------------------------------------------- */

/* The object is opened by its maker with the maker's filesystem
   credentials (restore_child.c): a holder whose own differ would get what
   it could not open itself (a forged image naming a file only the maker may
   read), so such an image is refused. */
static int same_creds(const struct ckpt_img_proc *a, const struct ckpt_img_proc *b)
{
	if (a->fsuid != b->fsuid || a->fsgid != b->fsgid || a->ngroups != b->ngroups)
		return 0;
	for (uint32_t i = 0; i < a->ngroups && i < CKPT_NGROUPS_MAX; i++)
		if (a->groups[i] != b->groups[i])
			return 0;
	return 1;
}


/* What the restarter can make for processes with no common ancestor in
   the job: objects that need nothing of the process that makes them. */
static int virtual_kind(uint32_t kind)
{
	return kind == CKPT_OBJ_PIPE || kind == CKPT_OBJ_FIFO || kind == CKPT_OBJ_UNIX ||
	       kind == CKPT_OBJ_FILE || kind == CKPT_OBJ_EVENTFD;
}

struct ent {
	uint32_t p; /* process index */
	struct dump_obj *o;
	uint32_t up; /* union-find parent */
};

static uint32_t root_of(struct ent *e, uint32_t i)
{
	while (e[i].up != i) {
		e[i].up = e[e[i].up].up;
		i = e[i].up;
	}
	return i;
}

static void unite(struct ent *e, uint32_t a, uint32_t b)
{
	a = root_of(e, a);
	b = root_of(e, b);
	if (a < b)
		e[b].up = a;
	else if (b < a)
		e[a].up = b;
}

/* Records that a restart makes together although they are different
   descriptions. */
static int made_together(const struct dump_obj *x, const struct dump_obj *y)
{
	if (x->kind != y->kind)
		return 0;
	switch (x->kind) {
	case CKPT_OBJ_PIPE:
		return ((const struct ckpt_img_opipe *)x->body)->ino ==
		       ((const struct ckpt_img_opipe *)y->body)->ino;
	case CKPT_OBJ_FIFO:
		return x->dev == y->dev && x->ino == y->ino;
	case CKPT_OBJ_MEMFD: /* also a mapping's record not read (fd.h) */
		return x->dev == y->dev && x->ino == y->ino;
	case CKPT_OBJ_UNIX: {
		const struct ckpt_img_ounix *u = (const void *)x->body, *v = (const void *)y->body;
		return (u->peer_ino && u->peer_ino == v->ino) || (v->peer_ino && v->peer_ino == u->ino);
	}
	default:
		return 0;
	}
}

static const struct dump_fd *fd_of(const struct dump *d, const struct dump_obj *o)
{
	for (uint32_t i = 0; i < d->nr_fds; i++)
		if (d->fds[i].f.obj == o->id)
			return &d->fds[i];
	return NULL;
}

static int refuse(struct ckpt_err *e, struct dump **live, const struct ent *a,
		  const struct ent *b, const char *why)
{
	const struct dump_fd *fa = fd_of(live[a->p], a->o), *fb = fd_of(live[b->p], b->o);
	return ckpt_fail(e, ENOTSUP,
			 "pid %d fd %d (%s) and pid %d fd %d (%s) are one kernel object held by "
			 "two processes of the job: %s",
			 live[a->p]->pid, fa ? fa->f.fd : -1, fa ? fa->link : "?", live[b->p]->pid,
			 fb ? fb->f.fd : -1, fb ? fb->link : "?", why);
}

/* Is a an ancestor of b (or b itself)? parent[i]: index of i's parent, or -1. */
static int ancestor(const int *parent, uint32_t a, uint32_t b)
{
	for (int i = (int)b; i >= 0; i = parent[i])
		if ((uint32_t)i == a)
			return 1;
	return 0;
}

/* A memfd in several processes: one record made again (the first held by a
   descriptor; records of mappings only are dropped), by the common ancestor
   of its holders, which hands it to the others (each maps its own VMAs of
   it, fd_memfd.c). */
static int one_memfd(struct ckpt_err *e, struct dump **live, struct ent *en, uint32_t ne,
		     uint32_t r)
{
	struct dump_obj *keep = NULL;
	for (uint32_t i = r; i < ne && !keep; i++)
		if (root_of(en, i) == r && en[i].o->first_fd >= 0 && !en[i].o->same)
			keep = en[i].o;
	for (uint32_t i = r; i < ne && !keep; i++)
		if (root_of(en, i) == r && !en[i].o->unread)
			keep = en[i].o;
	if (!keep)
		return ckpt_fail(e, EPERM, "%s: a memfd held by mappings only and by no "
				 "descriptor of the job: reading it needs CAP_CHECKPOINT_RESTORE",
				 (const char *)en[r].o->body);
	for (uint32_t i = r; i < ne; i++) {
		struct dump_obj *o = en[i].o;
		if (root_of(en, i) != r || o == keep || o->same)
			continue;
		if (o->first_fd >= 0)
			return refuse(e, live, &en[r], &en[i],
				      "two open file descriptions of one memfd in two processes "
				      "cannot be restored yet");
		o->same = keep;
	}
	return 0;
}

/* A memfd mapping no record of the job could read (unread, see fd.h) and
   no other took the place of. */
static int unread_left(struct dump **live, uint32_t n, struct ckpt_err *e)
{
	for (uint32_t p = 0; p < n; p++)
		for (uint32_t k = 0; k < live[p]->nr_objs; k++)
			if (live[p]->objs[k].unread && !live[p]->objs[k].same)
				return ckpt_fail(e, EPERM, "%s: a memfd held by mappings only and "
						 "by no descriptor of the job: reading it needs "
						 "CAP_CHECKPOINT_RESTORE",
						 (const char *)live[p]->objs[k].body);
	return 0;
}

int dump_share(struct dump **live, const pid_t *ppid, uint32_t n, struct ckpt_err *e)
{
	uint32_t total = 0;
	for (uint32_t p = 0; p < n; p++)
		for (uint32_t k = 0; k < live[p]->nr_objs; k++) {
			live[p]->objs[k].owner = p;
			live[p]->objs[k].same = NULL;
			total++;
		}
	if (n < 2 || !total)
		return unread_left(live, n, e);
	struct ent *en = calloc(total, sizeof(*en));
	int *parent = calloc(n, sizeof(*parent));
	if (!en || !parent) {
		free(en);
		free(parent);
		return ckpt_fail(e, ENOMEM, "no memory");
	}
	uint32_t ne = 0;
	for (uint32_t p = 0; p < n; p++) {
		parent[p] = -1;
		for (uint32_t q = 0; q < p; q++)
			if (live[q]->pid == ppid[p])
				parent[p] = (int)q;
		for (uint32_t k = 0; k < live[p]->nr_objs; k++) {
			struct dump_obj *o = &live[p]->objs[k];
			if ((o->first_fd < 0 && o->kind != CKPT_OBJ_MEMFD) ||
			    o->kind == CKPT_OBJ_STDIO || o->kind == CKPT_OBJ_LOCK ||
			    o->kind == CKPT_OBJ_SYSVSHM)
				continue; /* held by no descriptor (a memfd by a mapping
					     is), or the restarter's */
			en[ne].p = p;
			en[ne].o = o;
			en[ne].up = ne;
			ne++;
		}
	}
	int rc = 0;
	for (uint32_t i = 0; i < ne; i++)
		for (uint32_t k = i + 1; k < ne; k++) {
			struct dump_obj *x = en[i].o, *y = en[k].o;
			if (en[i].p != en[k].p && x->kind == y->kind && x->dev == y->dev &&
			    x->ino == y->ino && !y->same &&
			    syscall(SYS_kcmp, live[en[i].p]->pid, live[en[k].p]->pid, KCMP_FILE_,
				    x->first_fd, y->first_fd) == 0) {
				y->same = x->same ? x->same : x;
				unite(en, i, k);
			} else if (made_together(x, y)) {
				unite(en, i, k);
			}
		}
	/* each class held by several processes goes to their common ancestor */
	for (uint32_t r = 0; !rc && r < ne; r++) {
		if (root_of(en, r) != r)
			continue;
		int lca = (int)en[r].p, several = 0;
		const struct ent *other = NULL;
		for (uint32_t i = r + 1; i < ne; i++) {
			if (root_of(en, i) != r || en[i].p == en[r].p)
				continue;
			several = 1;
			other = other ? other : &en[i];
			while (lca >= 0 && !ancestor(parent, (uint32_t)lca, en[i].p))
				lca = parent[lca];
		}
		if (!several)
			continue;
		/* no common ancestor (the commands of a pipeline, children of a
		   shell outside the group): the restarter makes it, for the kinds
		   that need nothing of a process to be made */
		uint32_t owner = lca < 0 ? n : (uint32_t)lca;
		int fifo_data = 0;
		if (en[r].o->kind == CKPT_OBJ_MEMFD)
			rc = lca < 0 ? refuse(e, live, &en[r], other,
					      "they have no common ancestor in the job to make it "
					      "again (checkpoint the tree that holds both)")
				     : one_memfd(e, live, en, ne, r);
		for (uint32_t i = r; !rc && i < ne; i++) {
			if (root_of(en, i) != r)
				continue;
			struct dump_obj *o = en[i].o;
			if (lca < 0 && !virtual_kind(o->kind))
				rc = refuse(e, live, &en[r], other,
					    "they have no common ancestor in the job to make it "
					    "again, and the restarter makes only pipes, FIFOs, unix "
					    "sockets, files and eventfds for processes without one "
					    "(checkpoint the tree that holds both)");
			else if (lca < 0 && (o->kind == CKPT_OBJ_FILE || o->kind == CKPT_OBJ_FIFO) &&
				 !same_creds(&live[en[r].p]->proc, &live[en[i].p]->proc))
				rc = refuse(e, live, &en[r], other,
					    "the restarter would open it again once for holders "
					    "with different filesystem credentials");
			else if (o->kind == CKPT_OBJ_INET)
				rc = refuse(e, live, &en[r], other,
					    "a TCP/UDP socket shared between processes cannot be "
					    "restored yet");
			else if (lca >= 0 &&
				 (o->kind == CKPT_OBJ_FILE || o->kind == CKPT_OBJ_FIFO) &&
				 !same_creds(&live[lca]->proc, &live[en[i].p]->proc))
				rc = refuse(e, live, &en[r], other,
					    "the process that would open it again has other "
					    "filesystem credentials than a holder");
			else if (o->kind == CKPT_OBJ_EPOLL && en[i].p != owner &&
				 !o->same)
				rc = refuse(e, live, &en[r], other,
					    "an epoll instance whose interest list was recorded in "
					    "a process that did not hand it to the others cannot be "
					    "restored (its entries name that process's descriptors)");
			else if (o->kind == CKPT_OBJ_FIFO) {
				struct ckpt_img_ofifo *f = (struct ckpt_img_ofifo *)o->body;
				if (fifo_data && f->data_len) { /* the bytes once, with the first */
					f->data_len = 0;
					o->len = sizeof(*f) + f->path_len;
				}
				fifo_data |= !!f->data_len;
			}
			o->owner = owner;
		}
	}
	/* the restarter opens its files and FIFOs with the filesystem
	   credentials of the first process that holds any of its objects */
	uint32_t vfirst = n;
	for (uint32_t i = 0; !rc && i < ne; i++)
		if (en[i].o->owner == n && en[i].p < vfirst)
			vfirst = en[i].p;
	for (uint32_t i = 0; !rc && i < ne; i++) {
		const struct dump_obj *o = en[i].o;
		if (o->owner == n && (o->kind == CKPT_OBJ_FILE || o->kind == CKPT_OBJ_FIFO) &&
		    !same_creds(&live[vfirst]->proc, &live[en[i].p]->proc)) {
			const struct dump_fd *f = fd_of(live[en[i].p], o);
			rc = ckpt_fail(e, ENOTSUP,
				       "pid %d fd %d (%s): the restarter makes it for processes "
				       "with no common ancestor in the job, with the filesystem "
				       "credentials of pid %d, which differ from this process's",
				       live[en[i].p]->pid, f ? f->f.fd : -1, f ? f->link : "?",
				       live[vfirst]->pid);
		}
	}
	/* a socket pair's peer in another process must be in the job too */
	for (uint32_t i = 0; !rc && i < ne; i++) {
		const struct dump_obj *o = en[i].o;
		if (o->kind != CKPT_OBJ_UNIX)
			continue;
		const struct ckpt_img_ounix *u = (const void *)o->body;
		if (u->state != CKPT_OUNIX_PAIR && u->state != CKPT_OUNIX_CONNECTED)
			continue;
		int found = 0;
		for (uint32_t k = 0; k < ne && !found; k++) {
			const struct ckpt_img_ounix *v = (const void *)en[k].o->body;
			found = en[k].o->kind == CKPT_OBJ_UNIX && v->ino == u->peer_ino &&
				(u->state == CKPT_OUNIX_CONNECTED || v->peer_ino == u->ino);
		}
		if (!found)
			rc = ckpt_fail(e, ENOTSUP,
				       "pid %d fd %d (socket:[%llu]): unix socket connected to "
				       "socket:[%llu], which no process of the job holds connected "
				       "back to it (a datagram socket connected to another "
				       "process's socket cannot be restored yet)",
				       live[en[i].p]->pid, o->first_fd, (unsigned long long)u->ino,
				       (unsigned long long)u->peer_ino);
	}
	free(en);
	free(parent);
	return rc ? rc : unread_left(live, n, e);
}

int dump_share_ids(struct dump **live, uint32_t n, struct dump *all, uint32_t *first,
		   uint32_t *count)
{
	uint32_t next = 0;
	for (uint32_t i = 0; i < n; i++) {
		first[i] = next + 1;
		for (uint32_t p = 0; p < n; p++)
			for (uint32_t k = 0; k < live[p]->nr_objs; k++) {
				struct dump_obj *o = &live[p]->objs[k];
				if (o->same || o->owner != i)
					continue;
				o->gid = ++next;
				all->objs[all->nr_objs] = *o;
				all->objs[all->nr_objs++].id = o->gid;
			}
		count[i] = next + 1 - first[i];
		if (!count[i])
			first[i] = 0;
	}
	/* what the restarter makes (owner n): after every process's slice */
	for (uint32_t p = 0; p < n; p++)
		for (uint32_t k = 0; k < live[p]->nr_objs; k++) {
			struct dump_obj *o = &live[p]->objs[k];
			if (o->same || o->owner != n)
				continue;
			o->gid = ++next;
			all->objs[all->nr_objs] = *o;
			all->objs[all->nr_objs++].id = o->gid;
		}
	for (uint32_t p = 0; p < n; p++)
		for (uint32_t k = 0; k < live[p]->nr_fds; k++) {
			struct dump_fd *f = &live[p]->fds[k];
			const struct dump_obj *o = &live[p]->objs[f->f.obj - 1];
			f->f.obj = o->same ? o->same->gid : o->gid;
		}
	return 0;
}

/* ---- restart -------------------------------------------------------------- */

int rs_share_own(const struct rs_ctx *c, const struct rs_obj *o)
{
	return o >= c->objs && o < c->objs + c->nr_objs;
}

struct rs_obj *rs_share_find(struct rs_ctx *c, uint32_t id)
{
	struct rs_ctx *job = c->job;
	struct rs_obj *o = NULL;
	for (uint32_t i = 0; job && i < job->nr_objs && !o; i++)
		if (job->objs[i].h->id == id)
			o = &job->objs[i];
	if (!o)
		return NULL;
	const struct rs_ctx *maker = NULL;
	for (uint32_t i = 0; i < job->nr_procs && !maker; i++)
		if (job->procs[i] != c && rs_share_own(job->procs[i], o))
			maker = job->procs[i];
	const struct ckpt_img_proc *creds = maker ? maker->proc : NULL;
	if (!maker && job->vobj_first && id >= job->vobj_first) {
		/* the restarter's: opened with the first holder's credentials */
		if (!job->vcreds)
			job->vcreds = c->proc;
		creds = job->vcreds;
	}
	if (!creds) {
		ckpt_fail(c->e, EBADMSG, "image %s: pid %d: object %u is in the slice of no "
			  "process made before it", c->label, c->proc->pid, id);
		return NULL;
	}
	if ((o->h->kind == CKPT_OBJ_FILE || o->h->kind == CKPT_OBJ_FIFO) &&
	    !same_creds(creds, c->proc)) {
		ckpt_fail(c->e, EPERM, "image %s: pid %d holds object %u, which %s %d "
			  "makes again with other filesystem credentials (%u/%u, not %u/%u): "
			  "refused", c->label, c->proc->pid, id,
			  maker ? "pid" : "the restarter, with the credentials of pid", creds->pid,
			  creds->fsuid, creds->fsgid, c->proc->fsuid, c->proc->fsgid);
		return NULL;
	}
	o->shared = 1;
	return o;
}

int rs_share_slot(const struct rs_ctx *c, const struct rs_obj *o)
{
	if (!c->job || !c->job->shared_base)
		return -1;
	return c->job->shared_base + (int)o->h->id - 1;
}

void rs_share_region(const struct rs_ctx *c, int *lo, int *hi)
{
	*lo = *hi = -1;
	if (!c->job || !c->job->shared_base)
		return;
	*lo = c->job->shared_base;
	*hi = c->job->shared_base + (int)c->job->nr_objs - 1;
}

/* Memfds of other slices this process maps stay until the helper has
   mapped them (rs_memfd_finish closes them). */
void rs_share_close(const struct rs_ctx *c)
{
	int lo, hi;
	rs_share_region(c, &lo, &hi);
	if (lo < 0 || hi < lo)
		return;
	int from = lo;
	for (uint32_t i = 0; i < c->job->nr_objs; i++) {
		const struct rs_obj *o = &c->job->objs[i];
		int slot = rs_share_slot(c, o);
		if (rs_share_own(c, o) || slot < from || slot > hi || !rs_memfd_maps(c, o))
			continue;
		if (slot > from)
			syscall(SYS_close_range, (unsigned)from, (unsigned)slot - 1, 0);
		from = slot + 1;
	}
	if (from <= hi)
		syscall(SYS_close_range, (unsigned)from, (unsigned)hi, 0);
}

/* One object handed from the maker to the helper (with its descriptor), or
   the end (id 0: err 0 done, else the failure). */
struct vmsg {
	int32_t err;
	uint32_t id;
	char msg[RS_LINE_MAX - 80];
};

static void vsend(int sock, int32_t err, uint32_t id, int fd, const char *msg)
{
	struct vmsg m;
	memset(&m, 0, sizeof(m));
	m.err = err;
	m.id = id;
	snprintf(m.msg, sizeof(m.msg), "%s", msg ? msg : "");
	struct iovec iov = {&m, sizeof(m)};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* The maker (a child of the helper): with the first holder's filesystem
   credentials, make every object as a process makes its slice (the kinds'
   own state, a pipe's spare ends, stays in this child), then send each
   one handed to a top-level process to the helper. */
static void __attribute__((noreturn)) make_virtual(struct rs_ctx *v, int sock)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	const struct ckpt_img_proc *p = v->proc;
	char msg[RS_LINE_MAX - 80];
	if (geteuid() == 0 && (p->fsuid || p->fsgid || p->ngroups)) {
		gid_t groups[CKPT_NGROUPS_MAX];
		uint32_t ng = p->ngroups < CKPT_NGROUPS_MAX ? p->ngroups : CKPT_NGROUPS_MAX;
		for (uint32_t i = 0; i < ng; i++)
			groups[i] = p->groups[i];
		setfsgid(p->fsgid);
		if (setgroups(ng, groups) < 0 || (setfsuid(p->fsuid), 0) ||
		    (uint32_t)setfsuid((uid_t)-1) != p->fsuid ||
		    (uint32_t)setfsgid((gid_t)-1) != p->fsgid) {
			snprintf(msg, sizeof(msg), "the filesystem ids %u/%u of pid %d", p->fsuid,
				 p->fsgid, p->pid);
			vsend(sock, EPERM, 0, -1, msg);
			_exit(1);
		}
	}
	int lo, hi;
	rs_share_region(v, &lo, &hi);
	int park = rs_highest_fd();
	park = (park > hi ? park : hi) + 1;
	const int nostdio[3] = {-1, -1, -1};
	if (rs_fd_setup(v, park, nostdio, msg, sizeof(msg)) < 0) {
		vsend(sock, EIO, 0, -1, msg);
		_exit(1);
	}
	for (uint32_t i = 0; i < v->nr_objs; i++) {
		int slot = rs_share_slot(v, &v->objs[i]);
		if (v->objs[i].shared && fcntl(slot, F_GETFD) >= 0)
			vsend(sock, 0, v->objs[i].h->id, slot, NULL);
	}
	vsend(sock, 0, 0, -1, NULL);
	_exit(0);
}

int rs_share_make_virtual(struct rs_ctx *job)
{
	struct rs_ctx *v = job->vroot;
	if (!v || !v->nr_objs)
		return 0;
	int lo, hi;
	rs_share_region(v, &lo, &hi);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < (rlim_t)hi + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)hi + 64 ? rl.rlim_max : (rlim_t)hi + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return ckpt_fail_errno(job->e, errno, "socketpair");
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(sp[0]);
		make_virtual(v, sp[1]);
	}
	int err = errno;
	close(sp[1]);
	if (pid < 0) {
		close(sp[0]);
		return ckpt_fail_errno(job->e, err, "fork");
	}
	int rc = 0, done = 0;
	while (!rc && !done) {
		struct vmsg m;
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov = {&m, sizeof(m)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = u.buf,
				    .msg_controllen = sizeof(u.buf)};
		ssize_t n = recvmsg(sp[0], &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		int fd = -1;
		struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
		if (cm && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		if (n != (ssize_t)sizeof(m)) {
			rc = ckpt_fail(job->e, EIO, "the objects the restarter makes for the "
				       "top-level processes: their maker ended early");
		} else if (m.err || !m.id) {
			m.msg[sizeof(m.msg) - 1] = '\0';
			done = 1;
			if (m.err)
				rc = ckpt_fail(job->e, m.err, "the objects the restarter makes for "
					       "the top-level processes: %s", m.msg);
		} else {
			const struct rs_obj *o = NULL;
			for (uint32_t i = 0; i < v->nr_objs && !o; i++)
				if (v->objs[i].h->id == m.id)
					o = &v->objs[i];
			int slot = o ? rs_share_slot(v, o) : -1;
			if (fd < 0 || slot < 0 || dup3(fd, slot, O_CLOEXEC) < 0)
				rc = ckpt_fail_errno(job->e, fd < 0 || slot < 0 ? EIO : errno,
						     "object %u the restarter makes: put it at %d",
						     m.id, slot);
		}
		if (fd >= 0)
			close(fd);
	}
	close(sp[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (rc)
		rs_share_close(v);
	return rc;
}

/* ---- restart: shared memory ---------------------------------------------- */

#define PAGE_ 4096ull
#define TASK_SIZE_47_ 0x7ffffffff000ull
#define PARK_FROM 0x10000000000ull /* 1 TiB: far from where mmap puts things */

/* Shared memory with no file a restart can map: anonymous, or a file
   deleted since (a POSIX semaphore sem_open()ed and unlinked). Memfds are
   their own objects (fd_memfd.c). */
static int share_like(const struct rs_vma *rv)
{
	const struct ckpt_img_vma *v = rv->v;
	return (v->flags & CKPT_VMA_F_SHARED) && !(v->flags & CKPT_VMA_F_SYSV) && v->ino &&
	       (v->kind == CKPT_VMA_ANON ||
		(v->kind == CKPT_VMA_FILE && (v->flags & CKPT_VMA_F_DELETED) &&
		 strncmp(rv->name, "/memfd:", 7)));
}

/* One object of shared memory mapped by several VMAs of the job. */
struct rs_shm {
	uint32_t kind;
	uint64_t dev, ino;
	uint64_t size; /* the furthest byte any VMA maps (its offset + length) */
	uint64_t at; /* where its maker maps it, and its descendants inherit it */
	uint32_t maker; /* index in job->procs */
	uint32_t nr_vmas;
};

static struct rs_shm *shm_of(const struct rs_ctx *job, const struct rs_vma *rv)
{
	const struct ckpt_img_vma *v = rv->v;
	for (uint32_t i = 0; job && i < job->nr_shm; i++)
		if (job->shm[i].kind == v->kind && job->shm[i].dev == v->dev &&
		    job->shm[i].ino == v->ino)
			return &job->shm[i];
	return NULL;
}

static int holds(const struct rs_ctx *c, const struct rs_shm *s)
{
	for (uint32_t k = 0; k < c->nr_vmas; k++)
		if (share_like(&c->vmas[k]) && shm_of(c->job, &c->vmas[k]) == s)
			return 1;
	return 0;
}

static int parent_of(const struct rs_ctx *job, uint32_t i)
{
	for (uint32_t k = 0; k < i; k++) /* a parent is made first (TREE order) */
		if (job->procs[k]->task->pid == job->procs[i]->task->ppid)
			return (int)k;
	return -1;
}

struct span {
	uint64_t lo, hi;
};

static int cmp_span(const void *a, const void *b)
{
	uint64_t x = ((const struct span *)a)->lo, y = ((const struct span *)b)->lo;
	return (x > y) - (x < y);
}

/* Everything a parked object must stay clear of: every VMA and scratch page
   of every process of the job (their restore moves each holder's part out
   of the parked object with MREMAP_FIXED, which must not land on it), and
   the helper's own mappings, which the maker inherits. */
static struct span *busy_spans(const struct rs_ctx *job, uint32_t *n)
{
	uint32_t cap = 64, k = 0;
	for (uint32_t i = 0; i < job->nr_procs; i++)
		cap += job->procs[i]->nr_vmas + 1;
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	for (; f && fgets(line, sizeof(line), f);)
		cap++;
	struct span *s = calloc(cap + job->nr_shm, sizeof(*s));
	if (!s) {
		if (f)
			fclose(f);
		return NULL;
	}
	for (uint32_t i = 0; i < job->nr_procs; i++) {
		const struct rs_ctx *p = job->procs[i];
		for (uint32_t v = 0; v < p->nr_vmas; v++)
			s[k++] = (struct span){p->vmas[v].v->start, p->vmas[v].v->end};
		uint64_t at = rs_scratch_at(p);
		if (at)
			s[k++] = (struct span){at, at + RS_SCRATCH_SIZE};
	}
	if (f) {
		rewind(f);
		unsigned long lo, hi;
		while (k < cap && fgets(line, sizeof(line), f))
			if (sscanf(line, "%lx-%lx", &lo, &hi) == 2)
				s[k++] = (struct span){lo, hi};
		fclose(f);
	}
	*n = k;
	return s;
}

/*
 * Shared anonymous memory (and a deleted file's shared mapping) that
 * several VMAs of the job map: a parent and its child writing one counter
 * mapped before the fork, the child's part moved with mremap, a
 * multiprocessing semaphore. The lowest common ancestor of its holders
 * makes it, as one MAP_SHARED|MAP_ANONYMOUS mapping of its whole size at a
 * parked address clear of every layout of the job, before it clones its
 * children (rs_share_make); they inherit it as fork does. Each holder's
 * address-space restore keeps the parked mapping through its sweep, maps
 * each of its own VMAs from it (mremap with old size 0: a second mapping of
 * the same object at the VMA's address and offset) and then unmaps the
 * parked one; processes that do not hold it drop it with the rest of the
 * helper's mappings. No /proc/PID/map_files, no privilege: /proc/PID/maps
 * shows "/dev/zero (deleted)" at the recorded offsets, as before the
 * checkpoint, and fork, mremap, madvise and munmap behave as on the
 * original (it is the same kind of object). A deleted file's mapping
 * comes back as shared anonymous memory of the same size and content.
 */
int rs_share_plan(struct rs_ctx *job)
{
	int hi = rs_highest_fd();
	for (uint32_t i = 0; i < job->nr_procs; i++) {
		const struct rs_ctx *p = job->procs[i];
		for (uint32_t k = 0; k < p->nr_fds; k++)
			if (p->fdt[k].f->fd > hi)
				hi = p->fdt[k].f->fd;
	}
	job->shared_base = hi + 16;
	rs_memfd_plan(job);
	uint32_t cap = 0;
	for (uint32_t i = 0; i < job->nr_procs; i++)
		cap += job->procs[i]->nr_vmas;
	job->shm = calloc(cap + 1, sizeof(*job->shm));
	if (!job->shm)
		return ckpt_fail(job->e, ENOMEM, "no memory");
	job->nr_shm = 0;
	for (uint32_t i = 0; i < job->nr_procs; i++) {
		const struct rs_ctx *p = job->procs[i];
		for (uint32_t k = 0; k < p->nr_vmas; k++) {
			const struct rs_vma *rv = &p->vmas[k];
			if (!share_like(rv))
				continue;
			const struct ckpt_img_vma *v = rv->v;
			struct rs_shm *s = shm_of(job, rv);
			if (!s) {
				s = &job->shm[job->nr_shm++];
				*s = (struct rs_shm){.kind = v->kind, .dev = v->dev, .ino = v->ino,
						     .maker = i};
			}
			uint64_t end = v->pgoff + (v->end - v->start);
			if (end < v->pgoff || end > TASK_SIZE_47_)
				return ckpt_fail(job->e, EBADMSG, "image %s: pid %d mapping "
						 "0x%llx-0x%llx: offset 0x%llx out of range",
						 job->label, p->proc->pid,
						 (unsigned long long)v->start,
						 (unsigned long long)v->end,
						 (unsigned long long)v->pgoff);
			if (end > s->size)
				s->size = end;
			s->nr_vmas++;
			/* the maker: the lowest common ancestor of the holders */
			int m = (int)s->maker;
			for (;;) {
				int a = (int)i;
				while (a >= 0 && a != m)
					a = parent_of(job, (uint32_t)a);
				if (a == m || m < 0)
					break;
				m = parent_of(job, (uint32_t)m);
			}
			if (m < 0 && job->nr_tops < 2)
				return ckpt_fail(job->e, EBADMSG, "image %s: pid %d mapping "
						 "0x%llx-0x%llx: shared memory whose holders have "
						 "no common ancestor in the job", job->label,
						 p->proc->pid, (unsigned long long)v->start,
						 (unsigned long long)v->end);
			/* top-level processes without one: the restarter makes it
			   before it makes them, and they inherit it */
			s->maker = m < 0 ? RS_SHM_VROOT : (uint32_t)m;
		}
	}
	/* one VMA of it in the whole job: mapped where it is, as any other */
	uint32_t n = 0;
	for (uint32_t i = 0; i < job->nr_shm; i++)
		if (job->shm[i].nr_vmas > 1)
			job->shm[n++] = job->shm[i];
	job->nr_shm = n;
	if (!n)
		return 0;
	uint32_t nb = 0;
	struct span *b = busy_spans(job, &nb);
	if (!b)
		return ckpt_fail(job->e, ENOMEM, "no memory");
	int rc = 0;
	for (uint32_t i = 0; !rc && i < n; i++) {
		struct rs_shm *s = &job->shm[i];
		s->size = (s->size + PAGE_ - 1) & ~(PAGE_ - 1);
		qsort(b, nb, sizeof(*b), cmp_span);
		uint64_t at = PARK_FROM;
		for (uint32_t k = 0; k < nb; k++) {
			if (b[k].hi + PAGE_ <= at)
				continue;
			if (b[k].lo >= at + s->size + PAGE_)
				break;
			at = (b[k].hi + 2 * PAGE_ - 1) & ~(PAGE_ - 1);
		}
		if (at + s->size > TASK_SIZE_47_)
			rc = ckpt_fail(job->e, ENOMEM, "no room of %llu bytes for the shared memory "
				       "of pid %d in the job's layouts",
				       (unsigned long long)s->size,
				       s->maker == RS_SHM_VROOT ? 0 : job->procs[s->maker]->proc->pid);
		s->at = at;
		b[nb++] = (struct span){at, at + s->size};
	}
	free(b);
	return rc;
}

void rs_share_unmap_virtual(struct rs_ctx *job)
{
	for (uint32_t i = 0; i < job->nr_shm; i++)
		if (job->shm[i].maker == RS_SHM_VROOT)
			munmap((void *)(uintptr_t)job->shm[i].at, job->shm[i].size);
}

void rs_share_free(struct rs_ctx *job)
{
	free(job->shm);
	job->shm = NULL;
	job->nr_shm = 0;
	free(job->sysv_made);
	job->sysv_made = NULL;
	job->nr_sysv_made = 0;
}

int rs_share_make(const struct rs_ctx *c, char *msg, size_t msglen)
{
	const struct rs_ctx *job = c->job ? c->job : c; /* c: a process, or the job (the helper) */
	for (uint32_t i = 0; i < job->nr_shm; i++) {
		const struct rs_shm *s = &job->shm[i];
		if (s->maker == RS_SHM_VROOT ? c != job : c == job || job->procs[s->maker] != c)
			continue;
		void *r = mmap((void *)(uintptr_t)s->at, s->size, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (r != (void *)(uintptr_t)s->at) {
			char who[48];
			if (c == job)
				snprintf(who, sizeof(who), "the top-level processes");
			else
				snprintf(who, sizeof(who), "pid %d's children", c->proc->pid);
			snprintf(msg, msglen, "shared memory of %llu bytes for %s at 0x%llx: %s",
				 (unsigned long long)s->size, who, (unsigned long long)s->at,
				 r == MAP_FAILED ? strerror(errno) : "placed elsewhere");
			if (r != MAP_FAILED)
				munmap(r, s->size);
			return -1;
		}
	}
	return 0;
}

int rs_share_parked(const struct rs_ctx *c, uint32_t k, uint64_t *at, uint64_t *len)
{
	const struct rs_ctx *job = c->job;
	for (uint32_t i = 0; job && i < job->nr_shm; i++) {
		if (!holds(c, &job->shm[i]) || k--)
			continue;
		*at = job->shm[i].at;
		*len = job->shm[i].size;
		return 1;
	}
	return 0;
}

int rs_share_unpark(struct rs_ctx *c)
{
	uint64_t at, len;
	int rc = 0;
	for (uint32_t k = 0; !rc && rs_share_parked(c, k, &at, &len); k++)
		rc = rs_sys(c, c->pid, "munmap parked shared memory", 1, NULL, SYS_munmap,
			    (long)at, (long)len, 0, 0, 0, 0);
	return rc;
}

/* 1: not such a VMA; 0: mapped; -errno with the message set. */
int rs_share_map(struct rs_ctx *c, const struct rs_vma *rv)
{
	const struct ckpt_img_vma *v = rv->v;
	const struct rs_shm *s = share_like(rv) ? shm_of(c->job, rv) : NULL;
	if (!s)
		return 1;
	uint64_t len = v->end - v->start;
	long r = 0;
	int rc = rs_sys(c, c->pid, "mremap shared memory", 0, &r, SYS_mremap,
			(long)(s->at + v->pgoff), 0, (long)len, MREMAP_MAYMOVE | MREMAP_FIXED,
			(long)v->start, 0);
	if (!rc && (uint64_t)r != v->start)
		rc = ckpt_fail_errno(c->e, r < 0 && r > -4096 ? (int)-r : EADDRINUSE,
				     "pid %d: map 0x%llx-0x%llx (%s, offset 0x%llx) from the shared "
				     "memory pid %d made at 0x%llx", c->proc->pid,
				     (unsigned long long)v->start, (unsigned long long)v->end, rv->name,
				     (unsigned long long)v->pgoff,
				     s->maker == RS_SHM_VROOT ? 0 : c->job->procs[s->maker]->proc->pid,
				     (unsigned long long)s->at);
	return rc;
}
