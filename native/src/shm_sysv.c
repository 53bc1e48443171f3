// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_SYSVSHM: a SysV shared memory segment attached by the process (a
 * mapping, not a descriptor: its VMA is "/SYSV<key> (deleted)" with the
 * shmid as inode, marked CKPT_VMA_F_SYSV by dump_mm.c, which saves no pages
 * of it). The object holds key, id, size, mode, owner and the whole content,
 * read through our own read-only attach.
 *
 * Restart (in the helper, from restore_mm.c's map_vmas): if a segment with
 * the recorded id still exists with the same key and size, the process is
 * attached to it and its content is left alone (another process may be
 * using it: what it holds now is the truth). Otherwise it is created again
 * (the same id where /proc/sys/kernel/shm_next_id can ask for it, the same
 * key, mode and owner) with the recorded content; a segment that was
 * IPC_RMID'd at checkpoint is removed again once attached. A key that now
 * names another segment refuses the restart. The attach is injected into
 * the restored process (shmat at the recorded address); protections are
 * applied later with the other VMAs'.
 * Refused at checkpoint: a partial attach (shmat of a segment then munmap of
 * part of it), a process in another IPC namespace than the checkpointer.
 */
#include "dump.h"
#include "fd.h"
#include "json.h"
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE_ 4096ull

static int shm_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	(void)d;
	(void)p;
	(void)o;
	return 1; /* not a descriptor kind */
}

static int same_ipc_ns(pid_t pid)
{
	char p[64];
	struct stat a, b;
	snprintf(p, sizeof(p), "/proc/%d/ns/ipc", pid);
	if (stat(p, &a) < 0 || stat("/proc/self/ns/ipc", &b) < 0)
		return 1; /* no namespaces to compare */
	return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

static int record(struct dump *d, int shmid, unsigned long lo, unsigned long hi,
		  unsigned long pgoff)
{
	for (uint32_t i = 0; i < d->nr_objs; i++)
		if (d->objs[i].kind == CKPT_OBJ_SYSVSHM && d->objs[i].ino == (uint64_t)shmid)
			return 0; /* another VMA of the same segment */
	struct shmid_ds ds;
	if (shmctl(shmid, IPC_STAT, &ds) < 0)
		return ckpt_fail_errno(d->e, errno, "pid %d mapping 0x%lx-0x%lx (SysV shm id %d): "
				       "IPC_STAT", d->pid, lo, hi, shmid);
	uint64_t size = ds.shm_segsz, mapped = (size + PAGE_ - 1) & ~(PAGE_ - 1);
	if (pgoff || hi - lo != mapped)
		return ckpt_fail(d->e, ENOTSUP,
				 "pid %d mapping 0x%lx-0x%lx (SysV shm id %d, %llu bytes): only part "
				 "of the segment is attached (offset %lu); it cannot be attached "
				 "again so", d->pid, lo, hi, shmid, (unsigned long long)size, pgoff);
	struct ckpt_img_oshm s = {.key = (int32_t)ds.shm_perm.__key,
				  .shmid = shmid,
				  .size = size,
				  .mode = ds.shm_perm.mode & 0777,
				  .flags = (ds.shm_perm.mode & SHM_DEST) ? CKPT_OSHM_F_DEST : 0,
				  .uid = ds.shm_perm.uid,
				  .gid = ds.shm_perm.gid,
				  .data_len = size};
	void *at = shmat(shmid, NULL, SHM_RDONLY);
	if (at == (void *)-1)
		return ckpt_fail_errno(d->e, errno, "pid %d mapping 0x%lx-0x%lx (SysV shm id %d): "
				       "attach to read its content", d->pid, lo, hi, shmid);
	struct dump_obj *o = dump_obj_add(d, CKPT_OBJ_SYSVSHM);
	int rc = o ? 0 : -ENOMEM;
	if (o) {
		o->ino = (uint64_t)shmid;
		rc = dump_obj_put(d, o, &s, sizeof(s));
		if (!rc)
			rc = dump_obj_put(d, o, at, size);
	}
	shmdt(at);
	return rc;
}

static int shm_dump_done(struct dump *d)
{
	char p[64], line[CKPT_PATH_MAX + 128];
	snprintf(p, sizeof(p), "/proc/%d/maps", d->pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return ckpt_fail_errno(d->e, errno, "open %s", p);
	int rc = 0, checked_ns = 0;
	while (!rc && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, pg, ino;
		unsigned maj, min;
		char perms[8];
		int n = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &lo, &hi, perms, &pg, &maj, &min,
			   &ino, &n) < 7 || n <= 0 || strncmp(line + n, "/SYSV", 5))
			continue;
		if (!checked_ns && !same_ipc_ns(d->pid)) {
			rc = ckpt_fail(d->e, ENOTSUP,
				       "pid %d mapping 0x%lx-0x%lx (SysV shm id %lu): the process is "
				       "in another IPC namespace than the checkpointer",
				       d->pid, lo, hi, ino);
			break;
		}
		checked_ns = 1;
		rc = record(d, (int)ino, lo, hi, pg);
	}
	fclose(f);
	return rc;
}

/* ---- restart ---- */

static const struct ckpt_img_oshm *oshm(const struct rs_obj *o)
{
	return (const void *)o->body;
}

static const char *shm_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_oshm)))
		return "SysV shm record cut short";
	const struct ckpt_img_oshm *s = oshm(o);
	if (s->flags & ~CKPT_OSHM_F_DEST)
		return "unknown SysV shm flags";
	if (s->shmid < 0 || s->data_len != s->size || !rs_obj_has(o, sizeof(*s), s->data_len))
		return "SysV shm content cut short or not its size";
	return NULL;
}

static const struct rs_obj *shm_of(const struct rs_ctx *c, uint64_t shmid)
{
	for (uint32_t i = 0; i < c->nr_objs; i++)
		if (c->objs[i].h->kind == CKPT_OBJ_SYSVSHM &&
		    (uint64_t)oshm(&c->objs[i])->shmid == shmid)
			return &c->objs[i];
	return NULL;
}

/* A job: the segment made (or found) for an earlier process that had the
   same one attached, whose id need not be the recorded one (only root
   asks for an id), and which may be removed (IPC_RMID) since; or -1. */
static int made_for_job(const struct rs_ctx *c, int32_t shmid)
{
	const struct rs_ctx *job = c->job;
	for (uint32_t i = 0; job && i < job->nr_sysv_made; i++)
		if (job->sysv_made[2 * i] == shmid)
			return job->sysv_made[2 * i + 1];
	return -1;
}

static int note_made(struct rs_ctx *c, int32_t shmid, int id)
{
	struct rs_ctx *job = c->job;
	if (!job || made_for_job(c, shmid) >= 0)
		return id;
	int32_t *n = realloc(job->sysv_made, (job->nr_sysv_made + 1) * 2 * sizeof(*n));
	if (!n)
		return ckpt_fail(c->e, ENOMEM, "no memory"), -1;
	n[2 * job->nr_sysv_made] = shmid;
	n[2 * job->nr_sysv_made + 1] = id;
	job->sysv_made = n;
	job->nr_sysv_made++;
	return id;
}

/* The segment to attach: the one made for an earlier process of the job,
   the same one if alive, else a new one with the content. Returns its id
   or -1 with the message set. */
static int segment(struct rs_ctx *c, const struct rs_obj *o)
{
	const struct ckpt_img_oshm *s = oshm(o);
	struct shmid_ds ds;
	int made = made_for_job(c, s->shmid);
	if (made >= 0)
		return made;
	if (shmctl(s->shmid, IPC_STAT, &ds) == 0 && ds.shm_segsz == s->size &&
	    (ds.shm_perm.__key == s->key || (ds.shm_perm.mode & SHM_DEST)))
		return note_made(c, s->shmid, s->shmid); /* still there: its content is
							   the truth */
	if (s->key != IPC_PRIVATE && !(s->flags & CKPT_OSHM_F_DEST)) {
		int other = shmget(s->key, 0, 0);
		if (other >= 0)
			return ckpt_fail(c->e, EEXIST,
					 "SysV shm key 0x%x: the image's segment (id %d, %llu bytes) "
					 "is gone and the key now names segment %d; remove it "
					 "(ipcrm -m %d) to restart", (unsigned)s->key, s->shmid,
					 (unsigned long long)s->size, other, other), -1;
	}
	/* ask for the same id (root in the IPC namespace's owner only) */
	int nid = open("/proc/sys/kernel/shm_next_id", O_WRONLY | O_CLOEXEC);
	if (nid >= 0) {
		dprintf(nid, "%d", s->shmid);
		close(nid);
	}
	key_t key = (s->flags & CKPT_OSHM_F_DEST) ? IPC_PRIVATE : s->key;
	int id = shmget(key, s->size, IPC_CREAT | IPC_EXCL | (int)(s->mode & 0777));
	nid = open("/proc/sys/kernel/shm_next_id", O_WRONLY | O_CLOEXEC);
	if (nid >= 0) { /* back to the default: the next id is the kernel's choice */
		dprintf(nid, "-1");
		close(nid);
	}
	if (id < 0)
		return ckpt_fail_errno(c->e, errno, "SysV shm key 0x%x (id %d, %llu bytes): create",
				       (unsigned)s->key, s->shmid, (unsigned long long)s->size), -1;
	if (id != s->shmid)
		rs_warn(c, "SysV shm key 0x%x: made again with id %d, not %d", (unsigned)s->key, id,
			s->shmid);
	void *at = shmat(id, NULL, 0);
	if (at == (void *)-1) {
		int err = errno;
		shmctl(id, IPC_RMID, NULL);
		return ckpt_fail_errno(c->e, err, "SysV shm id %d: attach to fill it", id), -1;
	}
	memcpy(at, s + 1, s->size);
	shmdt(at);
	if (shmctl(id, IPC_STAT, &ds) == 0) {
		ds.shm_perm.uid = s->uid;
		ds.shm_perm.gid = s->gid;
		ds.shm_perm.mode = s->mode & 0777;
		if (shmctl(id, IPC_SET, &ds) < 0)
			rs_warn(c, "SysV shm id %d: owner %u:%u not restored: %s", id, s->uid, s->gid,
				strerror(errno));
	}
	return note_made(c, s->shmid, id);
}

int rs_sysvshm_map(struct rs_ctx *c, const struct rs_vma *rv)
{
	const struct ckpt_img_vma *v = rv->v;
	const struct rs_obj *o = shm_of(c, v->ino);
	if (!o)
		return ckpt_fail(c->e, EBADMSG, "image %s: mapping 0x%llx-0x%llx (%s) has no SysV "
				 "shm object for id %llu", c->label, (unsigned long long)v->start,
				 (unsigned long long)v->end, rv->name, (unsigned long long)v->ino);
	int id = segment(c, o);
	if (id < 0)
		return c->e->code < 0 ? c->e->code : -EIO;
	long flags = (v->prot & PROT_WRITE) ? 0 : SHM_RDONLY;
	if (v->prot & PROT_EXEC)
		flags |= SHM_EXEC;
	long r = 0;
	int rc = rs_sys(c, c->pid, "shmat", 0, &r, SYS_shmat, id, (long)v->start, flags, 0, 0, 0);
	if (!rc && (uint64_t)r != v->start)
		rc = ckpt_fail_errno(c->e, r < 0 && r > -4096 ? (int)-r : EADDRINUSE,
				     "shmat SysV shm id %d at 0x%llx", id,
				     (unsigned long long)v->start);
	if (!rc && (oshm(o)->flags & CKPT_OSHM_F_DEST))
		shmctl(id, IPC_RMID, NULL);
	return rc;
}

static void shm_inspect(struct json *j, const struct rs_obj *o)
{
	const struct ckpt_img_oshm *s = oshm(o);
	json_hex(j, "key", (uint32_t)s->key);
	json_int(j, "shmid", s->shmid);
	json_uint(j, "size", s->size);
	json_hex(j, "mode", s->mode);
	json_uint(j, "uid", s->uid);
	json_uint(j, "gid", s->gid);
	json_bool(j, "removed", !!(s->flags & CKPT_OSHM_F_DEST));
}

static void shm_describe(const struct rs_obj *o, char *buf, size_t len)
{
	const struct ckpt_img_oshm *s = oshm(o);
	snprintf(buf, len, "SysV shm key 0x%x id %d (%llu bytes)", (unsigned)s->key, s->shmid,
		 (unsigned long long)s->size);
}

const struct fd_kind fd_kind_sysvshm = {
	.kind = CKPT_OBJ_SYSVSHM,
	.name = "sysvshm",
	.dump = shm_dump,
	.dump_done = shm_dump_done,
	.check = shm_check,
	.inspect = shm_inspect,
	.describe = shm_describe,
	.on_restart = "attached again at its address (the live segment if it still exists)",
};
