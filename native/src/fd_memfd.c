// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_MEMFD: a memfd ("/memfd:NAME (deleted)") with its name, size,
 * content, mode, offset and seals, whether a descriptor holds it or only a
 * mapping does (the descriptor closed after mmap: it is then read through
 * /proc/PID/map_files, which takes CAP_CHECKPOINT_RESTORE; without it, in a
 * job, a record naming the mapping stands in until shared.c finds another
 * process's descriptor of the same memfd, and refuses the job if none).
 *
 * Restart: the child makes it with memfd_create(MFD_ALLOW_SEALING), writes
 * the content, and keeps its parked descriptor open (keep_parked); the
 * helper maps every VMA of it from there (restore_mm.c calls
 * rs_memfd_map: MAP_SHARED writes reach the restored file, not anonymous
 * memory), then adds the seals (after the mappings: F_SEAL_WRITE forbids a
 * writable shared mapping) and closes the parked descriptors. A memfd made
 * without MFD_ALLOW_SEALING had F_SEAL_SEAL: it gets it back with the rest.
 * In a job, the holders' common ancestor makes it (shared.c); every other
 * process that maps it keeps it from the shared region until the helper has
 * mapped its VMAs from there (a read-only shared mapping from a read-only
 * description: the maker, restored first, may have sealed it already).
 * Refused: hugetlbfs memfds.
 */
#include "dump.h"
#include "fd.h"
#include "json.h"
#include "restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MEMFD_PREFIX "/memfd:"
#define DELETED_SUFFIX " (deleted)"
#define HUGETLBFS_MAGIC_ 0x958458f6

/* NAME of "/memfd:NAME (deleted)" into out; 0 if not a memfd link. */
static int memfd_name(const char *link, char *out, size_t len)
{
	size_t pl = strlen(MEMFD_PREFIX), sl = strlen(DELETED_SUFFIX), n = strlen(link);
	if (strncmp(link, MEMFD_PREFIX, pl) || n < pl + sl || strcmp(link + n - sl, DELETED_SUFFIX))
		return 0;
	snprintf(out, len, "%.*s", (int)(n - pl - sl), link + pl);
	return 1;
}

/* Record the memfd read through fd (pread: its offset stays). */
static int record(struct dump *d, struct dump_obj *o, int fd, const char *name, uint64_t pos,
		  uint32_t flags, char *why, size_t whylen)
{
	struct stat st;
	struct statfs sf;
	if (fstat(fd, &st) < 0 || fstatfs(fd, &sf) < 0) {
		snprintf(why, whylen, "memfd: stat: %s", strerror(errno));
		return -errno;
	}
	if ((unsigned long)sf.f_type == HUGETLBFS_MAGIC_) {
		snprintf(why, whylen, "memfd on hugetlbfs (MFD_HUGETLB) cannot be checkpointed");
		return -ENOTSUP;
	}
	int seals = fcntl(fd, F_GET_SEALS);
	struct ckpt_img_omemfd m = {.pos = pos,
				    .size = (uint64_t)st.st_size,
				    .dev = (uint64_t)st.st_dev,
				    .ino = (uint64_t)st.st_ino,
				    .seals = seals > 0 ? (uint32_t)seals : 0,
				    .flags = flags,
				    .mode = (uint32_t)st.st_mode & 07777,
				    .name_len = (uint32_t)strlen(name) + 1,
				    .data_len = (uint64_t)st.st_size};
	o->dev = m.dev;
	o->ino = m.ino;
	int rc = dump_obj_put(d, o, &m, sizeof(m));
	if (!rc)
		rc = dump_obj_put(d, o, name, m.name_len);
	/* on the heap: checkpoints run on koffi's worker threads, whose stacks
	   are small (the daemon crashed with 64 KiB here plus its callers') */
	enum { CHUNK = 65536 };
	char *buf = rc ? NULL : malloc(CHUNK);
	if (!rc && !buf)
		rc = ckpt_fail(d->e, ENOMEM, "no memory");
	for (uint64_t at = 0; !rc && at < m.data_len;) {
		size_t want = m.data_len - at < CHUNK ? (size_t)(m.data_len - at) : CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;
			snprintf(why, whylen, "memfd: reading its content at %llu of %llu bytes: %s",
				 (unsigned long long)at, (unsigned long long)m.data_len,
				 n < 0 ? strerror(err) : "short");
			free(buf);
			return -err;
		}
		rc = dump_obj_put(d, o, buf, (size_t)n);
		at += (uint64_t)n;
	}
	free(buf);
	return rc;
}

static int memfd_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	char name[CKPT_PATH_MAX];
	if (!memfd_name(p->link, name, sizeof(name)) || !p->has_stat || !S_ISREG(p->st.st_mode))
		return 1;
	if (p->local < 0)
		return fd_refuse(d, p, EPERM, "memfd: cannot take the descriptor (pidfd_getfd)");
	char why[300];
	int rc = record(d, o, p->local, name, p->pos, 0, why, sizeof(why));
	if (rc && why[0] && rc != -ENOMEM)
		return fd_refuse(d, p, -rc, "%s", why);
	return rc;
}

/* Memfds held by a mapping only (their descriptor closed after mmap). */
static int memfd_dump_done(struct dump *d)
{
	char p[64], line[CKPT_PATH_MAX + 128];
	snprintf(p, sizeof(p), "/proc/%d/maps", d->pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return ckpt_fail_errno(d->e, errno, "open %s", p);
	int rc = 0;
	while (!rc && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, pg, ino;
		unsigned maj, min;
		char perms[8], name[CKPT_PATH_MAX];
		int n = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &lo, &hi, perms, &pg, &maj, &min,
			   &ino, &n) < 7 || n <= 0)
			continue;
		char *link = line + n;
		link[strcspn(link, "\n")] = '\0';
		if (!memfd_name(link, name, sizeof(name)))
			continue;
		/* the device and inode /proc/PID/maps shows are the memfd's: one a
		   descriptor of this process holds is recorded already */
		uint64_t dev = (uint64_t)makedev(maj, min);
		int known = 0;
		for (uint32_t i = 0; i < d->nr_objs; i++)
			if (d->objs[i].kind == CKPT_OBJ_MEMFD && d->objs[i].dev == dev &&
			    d->objs[i].ino == (uint64_t)ino)
				known = 1;
		if (known)
			continue;
		char mf[128];
		snprintf(mf, sizeof(mf), "/proc/%d/map_files/%lx-%lx", d->pid, lo, hi);
		int fd = open(mf, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && (errno == EPERM || errno == EACCES) && d->nr_job > 1) {
			/* without CAP_CHECKPOINT_RESTORE: another process of the job
			   may hold a descriptor of it (shared.c then takes that
			   record; it refuses the job if none does) */
			struct dump_obj *o = dump_obj_add(d, CKPT_OBJ_MEMFD);
			if (!o) {
				rc = -ENOMEM;
				break;
			}
			o->dev = dev;
			o->ino = (uint64_t)ino;
			o->unread = 1;
			char head[96];
			int hl = snprintf(head, sizeof(head), "pid %d mapping 0x%lx-0x%lx (", d->pid,
					  lo, hi);
			rc = dump_obj_put(d, o, head, (size_t)hl);
			if (!rc)
				rc = dump_obj_put(d, o, link, strlen(link));
			if (!rc)
				rc = dump_obj_put(d, o, ")", 2);
			continue;
		}
		if (fd < 0) {
			rc = ckpt_fail_errno(d->e, errno,
					     "pid %d mapping 0x%lx-0x%lx (%s): a memfd held by mappings "
					     "only and by no descriptor of the job: reading it through "
					     "%s needs CAP_CHECKPOINT_RESTORE",
					     d->pid, lo, hi, link, mf);
			break;
		}
		struct dump_obj *o = dump_obj_add(d, CKPT_OBJ_MEMFD);
		char why[300] = "";
		if (!o)
			rc = -ENOMEM;
		else
			rc = record(d, o, fd, name, 0, CKPT_OMEMFD_F_MAPONLY, why, sizeof(why));
		if (rc && why[0])
			rc = ckpt_fail(d->e, -rc, "pid %d mapping 0x%lx-0x%lx (%s): %s", d->pid, lo, hi,
				       link, why);
		close(fd);
	}
	fclose(f);
	return rc;
}

/* ---- restart ---- */

static const struct ckpt_img_omemfd *omemfd(const struct rs_obj *o)
{
	return (const void *)o->body;
}

#define KNOWN_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | \
		     F_SEAL_FUTURE_WRITE | 0x20 /* F_SEAL_EXEC */)

static const char *memfd_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_omemfd)))
		return "memfd record cut short";
	const struct ckpt_img_omemfd *m = omemfd(o);
	if (!rs_obj_str(o, sizeof(*m), m->name_len) || m->name_len > 250)
		return "memfd name not terminated or longer than 249 bytes";
	if (m->flags & ~CKPT_OMEMFD_F_MAPONLY)
		return "unknown memfd flags";
	if (m->seals & ~(uint32_t)KNOWN_SEALS)
		return "unknown memfd seals";
	if (m->data_len != m->size || !rs_obj_has(o, sizeof(*m) + m->name_len, m->data_len))
		return "memfd content cut short or not its size";
	return NULL;
}

static int memfd_open(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	(void)c;
	const struct ckpt_img_omemfd *m = omemfd(o);
	const char *name = (const char *)(m + 1);
	int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		snprintf(msg, msglen, "memfd %s: memfd_create: %s", name, strerror(errno));
		return -1;
	}
	const unsigned char *data = (const unsigned char *)name + m->name_len;
	if (ftruncate(fd, (off_t)m->size) < 0 || fchmod(fd, m->mode) < 0) {
		snprintf(msg, msglen, "memfd %s: size %llu: %s", name, (unsigned long long)m->size,
			 strerror(errno));
		close(fd);
		return -1;
	}
	for (uint64_t at = 0; at < m->data_len;) {
		ssize_t n = pwrite(fd, data + at, m->data_len - at, (off_t)at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(msg, msglen, "memfd %s: writing %llu bytes: %s", name,
				 (unsigned long long)m->data_len, strerror(errno));
			close(fd);
			return -1;
		}
		at += (uint64_t)n;
	}
	int acc = (int)o->h->open_flags & O_ACCMODE;
	if (acc != O_RDWR && !(m->flags & CKPT_OMEMFD_F_MAPONLY)) {
		/* a description with the recorded access */
		char self[64];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		int fd2 = open(self, acc | O_CLOEXEC);
		close(fd);
		fd = fd2;
		if (fd < 0) {
			snprintf(msg, msglen, "memfd %s: reopen %s: %s", name,
				 acc == O_RDONLY ? "read-only" : "write-only", strerror(errno));
			return -1;
		}
	}
	int fl = (int)o->h->open_flags & (O_APPEND | O_NONBLOCK | O_NOATIME);
	if ((fl && fcntl(fd, F_SETFL, fl) < 0) ||
	    (m->pos && lseek(fd, (off_t)m->pos, SEEK_SET) < 0)) {
		snprintf(msg, msglen, "memfd %s: flags or offset %llu: %s", name,
			 (unsigned long long)m->pos, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- restart, in the helper ---- */

/* The parked descriptors the child kept (every keep_parked object, in object
   order): the memfds in the child above every image descriptor. Only memfd
   is keep_parked today; another such kind extends the filter. */
static int kept_fds(struct rs_ctx *c, int *out, uint32_t max)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/fd", c->pid);
	DIR *dir = opendir(p);
	if (!dir)
		return ckpt_fail_errno(c->e, errno, "list %s", p);
	int n = 0, hi = -1;
	for (uint32_t i = 0; i < c->nr_fds; i++)
		if (c->fdt[i].f->fd > hi)
			hi = c->fdt[i].f->fd;
	int slo, shi;
	rs_share_region(c, &slo, &shi); /* memfds of other slices kept there */
	struct dirent *de;
	while ((de = readdir(dir))) {
		char lp[320], link[64];
		snprintf(lp, sizeof(lp), "%s/%s", p, de->d_name);
		ssize_t l = readlink(lp, link, sizeof(link) - 1);
		/* a file map_vmas has open for its mapping is not one */
		if (l <= 0 || strncmp(link, MEMFD_PREFIX, strlen(MEMFD_PREFIX)))
			continue;
		int fd = atoi(de->d_name);
		if (fd > hi && (fd < slo || fd > shi) && (uint32_t)n < max)
			out[n++] = fd;
	}
	closedir(dir);
	for (int i = 1; i < n; i++) /* insertion sort: few */
		for (int j = i; j > 0 && out[j] < out[j - 1]; j--) {
			int t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

/* The child's parked number of memfd object o, or -1. */
static int parked_fd(struct rs_ctx *c, const struct rs_obj *o)
{
	static int fds[1024];
	int nr = kept_fds(c, fds, 1024);
	if (nr < 0)
		return nr;
	int k = 0;
	for (uint32_t i = 0; i < c->nr_objs; i++) {
		const struct fd_kind *kind = fd_kind_of(c->objs[i].h->kind);
		if (!kind->keep_parked)
			continue;
		if (&c->objs[i] == o)
			return k < nr ? fds[k] : -1;
		k++;
	}
	return -1;
}

static int is_memfd_of(const struct rs_obj *o, const struct ckpt_img_vma *v)
{
	return o->h->kind == CKPT_OBJ_MEMFD && omemfd(o)->dev == v->dev &&
	       omemfd(o)->ino == v->ino;
}

static int memfd_vma(const struct rs_vma *rv)
{
	return rv->v->kind == CKPT_VMA_FILE &&
	       !strncmp(rv->name, MEMFD_PREFIX, strlen(MEMFD_PREFIX));
}

/* The memfd object mapping v maps: c's own (made in c), else, in a job, the
   one another process makes and hands on through the shared region. */
static struct rs_obj *memfd_of_vma(const struct rs_ctx *c, const struct ckpt_img_vma *v)
{
	const struct rs_ctx *in = c->job ? c->job : c;
	for (uint32_t i = 0; i < c->nr_objs; i++)
		if (is_memfd_of(&c->objs[i], v))
			return &c->objs[i];
	for (uint32_t i = 0; c->job && i < in->nr_objs; i++)
		if (is_memfd_of(&in->objs[i], v))
			return &in->objs[i];
	return NULL;
}

int rs_memfd_maps(const struct rs_ctx *c, const struct rs_obj *o)
{
	for (uint32_t k = 0; k < c->nr_vmas; k++)
		if (memfd_vma(&c->vmas[k]) && is_memfd_of(o, c->vmas[k].v))
			return 1;
	return 0;
}

/* A memfd a process maps (with or without a descriptor of it) and another
   one makes, its maker being the common ancestor of every holder
   (shared.c): handed down through the shared region, where the mapper keeps
   it until the helper has mapped it (rs_share_close). */
void rs_memfd_plan(struct rs_ctx *job)
{
	for (uint32_t i = 0; i < job->nr_procs; i++) {
		struct rs_ctx *p = job->procs[i];
		for (uint32_t k = 0; k < p->nr_vmas; k++) {
			struct rs_obj *o = memfd_vma(&p->vmas[k]) ? memfd_of_vma(p, p->vmas[k].v)
								  : NULL;
			if (o && !rs_share_own(p, o))
				o->shared = 1;
		}
	}
}

/* In the restored process: the number holding memfd object o for the
   helper to map, or -1 with the message set. */
static int memfd_at(struct rs_ctx *c, const struct rs_obj *o)
{
	if (!c->job || rs_share_own(c, o)) {
		int kfd = parked_fd(c, o);
		if (kfd < 0)
			ckpt_fail(c->e, EIO, "memfd object %u is not parked in the restored "
				  "process", o->h->id);
		return kfd;
	}
	int slot = rs_share_slot(c, o);
	char p[64], link[64] = "";
	snprintf(p, sizeof(p), "/proc/%d/fd/%d", c->pid, slot);
	ssize_t l = slot >= 0 ? readlink(p, link, sizeof(link) - 1) : -1;
	if (l <= 0 || strncmp(link, MEMFD_PREFIX, strlen(MEMFD_PREFIX)))
		return ckpt_fail(c->e, EIO, "pid %d: memfd object %u, made by another process of "
				 "the job, was not handed down to it (fd %d)", c->proc->pid,
				 o->h->id, slot), -1;
	return slot;
}

int rs_memfd_map(struct rs_ctx *c, const struct rs_vma *rv)
{
	const struct ckpt_img_vma *v = rv->v;
	if (!memfd_vma(rv))
		return 1;
	const struct rs_obj *o = memfd_of_vma(c, v);
	if (!o && c->job)
		return ckpt_fail(c->e, EBADMSG,
				 "image %s: pid %d mapping 0x%llx-0x%llx (%s): a memfd no process "
				 "of the job makes", c->label, c->proc->pid,
				 (unsigned long long)v->start, (unsigned long long)v->end, rv->name);
	if (!o)
		return 1; /* an older image: mapped as before */
	int kfd = memfd_at(c, o);
	if (kfd < 0)
		return c->e->code ? c->e->code : -EIO;
	int shared = !!(v->flags & CKPT_VMA_F_SHARED);
	/* a shared mapping without write access is made from a read-only
	   description, as a memfd sealed against writes allows (its maker may
	   have sealed it already) */
	int ro = shared && !(v->prot & PROT_WRITE);
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", kfd);
	long fd = -1, r = 0;
	int rc = rs_write_mem(c, c->scratch, self, strlen(self) + 1);
	if (!rc)
		rc = rs_sys(c, c->pid, "open memfd for its mapping", 1, &fd, SYS_openat, AT_FDCWD,
			    (long)c->scratch, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0, 0, 0);
	if (!rc)
		rc = rs_sys(c, c->pid, "mmap memfd", 0, &r, SYS_mmap, (long)v->start,
			    (long)(v->end - v->start), ro ? PROT_READ : PROT_READ | PROT_WRITE,
			    MAP_FIXED | (shared ? MAP_SHARED : MAP_PRIVATE), fd, (long)v->pgoff);
	if (fd >= 0)
		rs_sys(c, c->pid, "close", 0, NULL, SYS_close, fd, 0, 0, 0, 0, 0);
	if (!rc && (uint64_t)r != v->start)
		rc = ckpt_fail_errno(c->e, r < 0 && r > -4096 ? (int)-r : EADDRINUSE,
				     "mmap 0x%llx-0x%llx %s", (unsigned long long)v->start,
				     (unsigned long long)v->end, rv->name);
	return rc;
}

int rs_memfd_finish(struct rs_ctx *c)
{
	int rc = 0;
	for (uint32_t i = 0; !rc && i < c->nr_objs; i++) {
		const struct rs_obj *o = &c->objs[i];
		if (o->h->kind != CKPT_OBJ_MEMFD)
			continue;
		int kfd = parked_fd(c, o);
		if (kfd < 0)
			return ckpt_fail(c->e, EIO, "memfd object %u is not parked in the restored "
					 "process", o->h->id);
		long r = 0;
		if (omemfd(o)->seals) {
			rc = rs_sys(c, c->pid, "memfd F_ADD_SEALS", 0, &r, SYS_fcntl, kfd,
				    F_ADD_SEALS, (long)omemfd(o)->seals, 0, 0, 0);
			if (!rc && r < 0)
				rc = ckpt_fail_errno(c->e, (int)-r, "memfd %s (object %u): seals 0x%x",
						     (const char *)(omemfd(o) + 1), o->h->id,
						     omemfd(o)->seals);
		}
	}
	/* the memfds of other slices it kept to map */
	for (uint32_t i = 0; !rc && c->job && i < c->job->nr_objs; i++) {
		const struct rs_obj *o = &c->job->objs[i];
		if (o->h->kind == CKPT_OBJ_MEMFD && !rs_share_own(c, o) && rs_memfd_maps(c, o))
			rc = rs_sys(c, c->pid, "close handed-down memfd", 1, NULL, SYS_close,
				    rs_share_slot(c, o), 0, 0, 0, 0, 0);
	}
	/* every parked descriptor goes (other kinds may keep some too) */
	for (uint32_t i = 0; !rc && i < c->nr_objs; i++) {
		const struct rs_obj *o = &c->objs[i];
		if (!fd_kind_of(o->h->kind)->keep_parked)
			continue;
		int kfd = parked_fd(c, o);
		if (kfd >= 0)
			rc = rs_sys(c, c->pid, "close parked", 1, NULL, SYS_close, kfd, 0, 0, 0, 0,
				    0);
	}
	return rc;
}

static void memfd_inspect(struct json *j, const struct rs_obj *o)
{
	const struct ckpt_img_omemfd *m = omemfd(o);
	json_str(j, "name", (const char *)(m + 1));
	json_uint(j, "size", m->size);
	json_uint(j, "pos", m->pos);
	json_hex(j, "seals", m->seals);
	json_bool(j, "mappingOnly", !!(m->flags & CKPT_OMEMFD_F_MAPONLY));
}

static void memfd_describe(const struct rs_obj *o, char *buf, size_t len)
{
	const struct ckpt_img_omemfd *m = omemfd(o);
	snprintf(buf, len, "memfd:%s (%llu bytes%s)", (const char *)(m + 1),
		 (unsigned long long)m->size, m->seals ? ", sealed" : "");
}

const struct fd_kind fd_kind_memfd = {
	.kind = CKPT_OBJ_MEMFD,
	.name = "memfd",
	.dump = memfd_dump,
	.dump_done = memfd_dump_done,
	.check = memfd_check,
	.open = memfd_open,
	.inspect = memfd_inspect,
	.describe = memfd_describe,
	.on_restart = "made again with its content; its mappings map it; sealed after them",
	.keep_parked = 1,
};
