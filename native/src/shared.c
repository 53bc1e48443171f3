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
 * in the tree, its "owner", which is the process that makes it again. What
 * cannot come back that way is refused naming both processes: holders with
 * no common ancestor in the job, a TCP/UDP socket shared by two processes,
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
 * it runs any of its own code.
 */
#include "dump.h"
#include "fd.h"
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
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
	case CKPT_OBJ_MEMFD: {
		const struct ckpt_img_omemfd *m = (const void *)x->body, *n = (const void *)y->body;
		return m->dev == n->dev && m->ino == n->ino;
	}
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

static int maps_memfd(const struct dump *d, uint64_t dev, uint64_t ino)
{
	for (uint32_t i = 0; i < d->nr_vmas; i++)
		if (d->vmas[i].v.kind == CKPT_VMA_FILE && d->vmas[i].v.dev == dev &&
		    d->vmas[i].v.ino == ino && !strncmp(d->vmas[i].name, "/memfd:", 7))
			return 1;
	return 0;
}

/* A memfd in several processes: one record made again (the first held by a
   descriptor; records of mappings only are dropped), and the first process
   that maps it must be its maker (the others map the maker's mapping). */
static int one_memfd(struct ckpt_err *e, struct dump **live, uint32_t n, struct ent *en,
		     uint32_t ne, uint32_t r, const struct ent *other, uint32_t lca)
{
	struct dump_obj *keep = NULL;
	for (uint32_t i = r; i < ne && !keep; i++)
		if (root_of(en, i) == r && en[i].o->first_fd >= 0 && !en[i].o->same)
			keep = en[i].o;
	for (uint32_t i = r; i < ne && !keep; i++)
		if (root_of(en, i) == r)
			keep = en[i].o;
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
	const struct ckpt_img_omemfd *m = (const void *)keep->body;
	for (uint32_t p = 0; p < n; p++)
		if (maps_memfd(live[p], m->dev, m->ino)) {
			if (p != lca)
				return refuse(e, live, &en[r], other,
					      "a memfd is mapped first by a process that did not "
					      "hand it to the others");
			break;
		}
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
		return 0;
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
		if (lca < 0) {
			rc = refuse(e, live, &en[r], other,
				    "they have no common ancestor in the job to make it again "
				    "(checkpoint the tree that holds both)");
			break;
		}
		int fifo_data = 0;
		if (en[r].o->kind == CKPT_OBJ_MEMFD)
			rc = one_memfd(e, live, n, en, ne, r, other, (uint32_t)lca);
		for (uint32_t i = r; !rc && i < ne; i++) {
			if (root_of(en, i) != r)
				continue;
			struct dump_obj *o = en[i].o;
			if (o->kind == CKPT_OBJ_INET)
				rc = refuse(e, live, &en[r], other,
					    "a TCP/UDP socket shared between processes cannot be "
					    "restored yet");
			else if ((o->kind == CKPT_OBJ_FILE || o->kind == CKPT_OBJ_FIFO) &&
				 !same_creds(&live[lca]->proc, &live[en[i].p]->proc))
				rc = refuse(e, live, &en[r], other,
					    "the process that would open it again has other "
					    "filesystem credentials than a holder");
			else if (o->kind == CKPT_OBJ_EPOLL && en[i].p != (uint32_t)lca &&
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
			o->owner = (uint32_t)lca;
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
	return rc;
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
	for (uint32_t p = 0; p < n; p++)
		for (uint32_t k = 0; k < live[p]->nr_fds; k++) {
			struct dump_fd *f = &live[p]->fds[k];
			const struct dump_obj *o = &live[p]->objs[f->f.obj - 1];
			f->f.obj = o->same ? o->same->gid : o->gid;
		}
	return 0;
}

/* ---- restart -------------------------------------------------------------- */

void rs_share_plan(struct rs_ctx *job)
{
	int hi = rs_highest_fd();
	for (uint32_t i = 0; i < job->nr_procs; i++) {
		const struct rs_ctx *p = job->procs[i];
		for (uint32_t k = 0; k < p->nr_fds; k++)
			if (p->fdt[k].f->fd > hi)
				hi = p->fdt[k].f->fd;
	}
	job->shared_base = hi + 16;
}

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
	if (!maker) {
		ckpt_fail(c->e, EBADMSG, "image %s: pid %d: object %u is in the slice of no "
			  "process made before it", c->label, c->proc->pid, id);
		return NULL;
	}
	if ((o->h->kind == CKPT_OBJ_FILE || o->h->kind == CKPT_OBJ_FIFO) &&
	    !same_creds(maker->proc, c->proc)) {
		ckpt_fail(c->e, EPERM, "image %s: pid %d holds object %u, which pid %d makes "
			  "again with other filesystem credentials (%u/%u, not %u/%u): refused",
			  c->label, c->proc->pid, id, maker->proc->pid, maker->proc->fsuid,
			  maker->proc->fsgid, c->proc->fsuid, c->proc->fsgid);
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

void rs_share_close(const struct rs_ctx *c)
{
	int lo, hi;
	rs_share_region(c, &lo, &hi);
	if (lo >= 0 && hi >= lo)
		syscall(SYS_close_range, (unsigned)lo, (unsigned)hi, 0);
}

/* Shared memory with no file a restart can map: anonymous, or a file
   deleted since (a POSIX semaphore sem_open()ed and unlinked). */
static int share_like(const struct ckpt_img_vma *v)
{
	return (v->flags & CKPT_VMA_F_SHARED) && !(v->flags & CKPT_VMA_F_SYSV) && v->ino &&
	       (v->kind == CKPT_VMA_ANON ||
		(v->kind == CKPT_VMA_FILE && (v->flags & CKPT_VMA_F_DELETED)));
}

static int is_memfd(const struct rs_vma *rv)
{
	return rv->v->kind == CKPT_VMA_FILE && !strncmp(rv->name, "/memfd:", 7);
}

/*
 * MAP_SHARED anonymous memory two processes map (a counter a parent and its
 * child both write; a deleted file's shared mapping counts too): the first process of the job that maps it (creation
 * order, so its memory is restored first) makes it as an anonymous shared
 * mapping; each later one opens that mapping's object through
 * /proc/PID/map_files (as CRIU does; it needs CAP_SYS_ADMIN, as a restart
 * with the same pids does) and maps it at its own address and offset. The
 * pages are in the image for each process; they are the same bytes.
 * Returns 1 when v is not such a mapping or no earlier process maps it, 0
 * when mapped, or -errno with the message set.
 */
int rs_share_map(struct rs_ctx *c, const struct rs_vma *rv)
{
	const struct ckpt_img_vma *v = rv->v;
	struct rs_ctx *job = c->job;
	if (!job || !share_like(v))
		return 1;
	const struct rs_ctx *by = NULL;
	const struct ckpt_img_vma *e = NULL;
	for (uint32_t i = 0; i < job->nr_procs && job->procs[i] != c && !e; i++) {
		const struct rs_ctx *p = job->procs[i];
		for (uint32_t k = 0; k < p->nr_vmas && !e; k++) {
			const struct ckpt_img_vma *w = p->vmas[k].v;
			if (share_like(w) && w->kind == v->kind && w->dev == v->dev &&
			    w->ino == v->ino && is_memfd(&p->vmas[k]) == is_memfd(rv)) {
				e = w;
				by = p;
			}
		}
	}
	if (!e && is_memfd(rv))
		return ckpt_fail(c->e, EBADMSG,
				 "image %s: pid %d mapping 0x%llx-0x%llx (%s): a memfd of the job "
				 "that no earlier process maps nor this one holds",
				 c->label, c->proc->pid, (unsigned long long)v->start,
				 (unsigned long long)v->end, rv->name);
	if (!e)
		return 1;
	uint64_t len = v->end - v->start;
	/* a memfd is its own file: the same offsets; anonymous memory was made
	   from the maker's mapping, offset 0 at its start */
	uint64_t off = is_memfd(rv) ? v->pgoff : v->pgoff - e->pgoff;
	if (!is_memfd(rv) &&
	    (v->pgoff < e->pgoff || v->pgoff - e->pgoff + len > e->end - e->start))
		return ckpt_fail(c->e, ENOTSUP,
				 "pid %d mapping 0x%llx-0x%llx: shared memory it has in common with "
				 "pid %d lies outside that process's mapping 0x%llx-0x%llx of it",
				 c->proc->pid, (unsigned long long)v->start,
				 (unsigned long long)v->end, by->proc->pid,
				 (unsigned long long)e->start, (unsigned long long)e->end);
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", by->pid,
		 (unsigned long long)e->start, (unsigned long long)e->end);
	/* a memfd sealed against writes is mapped read-only, as it was */
	int ro = is_memfd(rv) && !(v->prot & PROT_WRITE);
	long fd = -1, r = 0;
	int rc = rs_write_mem(c, c->scratch, path, strlen(path) + 1);
	if (!rc)
		rc = rs_sys(c, c->pid, "open shared memory", 0, &fd, SYS_openat, AT_FDCWD,
			    (long)c->scratch, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0, 0, 0);
	if (!rc && fd < 0)
		return ckpt_fail_errno(c->e, (int)-fd,
				       "pid %d: open %s (the shared memory of 0x%llx-0x%llx, made "
				       "by pid %d)",
				       c->proc->pid, path, (unsigned long long)v->start,
				       (unsigned long long)v->end, by->proc->pid);
	if (!rc)
		rc = rs_sys(c, c->pid, "mmap shared memory", 0, &r, SYS_mmap, (long)v->start,
			    (long)len, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			    fd, (long)off);
	if (fd >= 0)
		rs_sys(c, c->pid, "close", 0, NULL, SYS_close, fd, 0, 0, 0, 0, 0);
	if (!rc && (uint64_t)r != v->start)
		rc = ckpt_fail_errno(c->e, r < 0 && r > -4096 ? (int)-r : EADDRINUSE,
				     "mmap 0x%llx-0x%llx of the memory shared with pid %d",
				     (unsigned long long)v->start, (unsigned long long)v->end,
				     by->proc->pid);
	return rc;
}
