// SPDX-License-Identifier: BSD-3-Clause
/*
 * Descriptors, both directions: the table of kinds, the checkpoint walk over
 * /proc/PID/fd (probe, share detection with kcmp, a kind for each or a
 * refusal), the object and FDS sections, the image reader's part for them
 * (with the adapter for v1 FILES sections), the descriptor table laid out in
 * a new process, and ckpt_inspect's view. See fd.h.
 */
#include "fd.h"
#include "dump.h"
#include "image_write.h"
#include "json.h"
#include "restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#define KCMP_FILE_ 0

/* Table order is the order kinds are offered a descriptor: the most
   specific first; fd_kind_file takes what is left that has a path. */
static const struct fd_kind *const fd_kinds[] = {
	&fd_kind_stdio,
	&fd_kind_pipe,

	/* event kinds */
	&fd_kind_eventfd,
	&fd_kind_epoll,
	&fd_kind_timerfd,
	&fd_kind_signalfd,
	&fd_kind_inotify,

	/* sockets */
	&fd_kind_unix,
	&fd_kind_inet,

	/* memfd, FIFOs */
	&fd_kind_memfd,
	&fd_kind_fifo,
	&fd_kind_lock, /* takes no descriptor: records the locks (dump_done) */
	&fd_kind_sysvshm, /* takes no descriptor: SysV segments of the VMAs */

	&fd_kind_file,
};
#define NR_KINDS (sizeof(fd_kinds) / sizeof(fd_kinds[0]))

const struct fd_kind *fd_kind_of(uint32_t kind)
{
	for (size_t i = 0; i < NR_KINDS; i++)
		if (fd_kinds[i]->kind == kind)
			return fd_kinds[i];
	return NULL;
}

/* ---- checkpoint --------------------------------------------------------- */

int dump_obj_put(struct dump *d, struct dump_obj *o, const void *p, size_t n)
{
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		while (cap < o->len + n)
			cap *= 2;
		unsigned char *b = realloc(o->body, cap);
		if (!b)
			return ckpt_fail(d->e, ENOMEM, "no memory for descriptor %d", o->first_fd);
		o->body = b;
		o->cap = cap;
	}
	memcpy(o->body + o->len, p, n);
	o->len += n;
	return 0;
}

int dump_obj_put_str(struct dump *d, struct dump_obj *o, const char *s, uint32_t *len)
{
	size_t n = strlen(s) + 1;
	if (len)
		*len = (uint32_t)n;
	return dump_obj_put(d, o, s, n);
}

const char *fd_info_field(const struct fd_probe *p, const char *key)
{
	size_t kl = strlen(key);
	for (const char *l = p->fdinfo; l && *l;) {
		if (!strncmp(l, key, kl) && l[kl] == ':') {
			l += kl + 1;
			while (*l == ' ' || *l == '\t')
				l++;
			return l;
		}
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	return NULL;
}

int fd_refuse(struct dump *d, const struct fd_probe *p, int err, const char *fmt, ...)
{
	char why[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return ckpt_fail(d->e, err, "pid %d fd %d (%s): %s", p->pid, p->fd, p->link, why);
}

static char *read_all(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);
	while (b) {
		if (len + 1 >= cap) {
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, b + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (b)
		b[len] = '\0';
	return b;
}

/* 1: the descriptor went away meanwhile (not possible while frozen, but a
   thread may sit in close()); 0: probed; <0: error. */
static int probe(struct dump *d, int pidfd, int fd, struct fd_probe *p)
{
	char path[64];
	memset(p, 0, sizeof(*p));
	p->pid = d->pid;
	p->fd = fd;
	p->local = -1;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", d->pid, fd);
	ssize_t n = readlink(path, p->link, sizeof(p->link) - 1);
	if (n < 0)
		return errno == ENOENT ? 1 : ckpt_fail_errno(d->e, errno, "readlink %s", path);
	p->link[n] = '\0';
	if (stat(path, &p->st) == 0)
		p->has_stat = 1;
	else if (lstat(path, &p->st) < 0)
		return errno == ENOENT ? 1 : ckpt_fail_errno(d->e, errno, "stat %s", path);
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", d->pid, fd);
	p->fdinfo = read_all(path);
	if (!p->fdinfo)
		return errno == ENOENT ? 1 : ckpt_fail_errno(d->e, errno ? errno : ENOMEM, "read %s", path);
	const char *v = fd_info_field(p, "flags");
	uint32_t fl = v ? (uint32_t)strtoul(v, NULL, 8) : 0;
	p->cloexec = !!(fl & O_CLOEXEC);
	p->open_flags = fl & ~(uint32_t)O_CLOEXEC;
	v = fd_info_field(p, "pos");
	p->pos = v ? strtoull(v, NULL, 10) : 0;
	p->local = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	return 0;
}

static void unprobe(struct fd_probe *p)
{
	free(p->fdinfo);
	p->fdinfo = NULL;
	if (p->local >= 0)
		close(p->local);
	p->local = -1;
}

struct dump_obj *dump_obj_add(struct dump *d, uint32_t kind)
{
	/* d->objs holds one slot per descriptor; objects without one grow it */
	struct dump_obj *n = realloc(d->objs, (d->nr_objs + 1) * sizeof(*n));
	if (!n) {
		ckpt_fail(d->e, ENOMEM, "no memory for objects");
		return NULL;
	}
	d->objs = n;
	struct dump_obj *o = &d->objs[d->nr_objs];
	memset(o, 0, sizeof(*o));
	o->id = ++d->nr_objs;
	o->kind = kind;
	o->first_fd = -1;
	o->hold = -1; /* 0 would be the caller's stdin, closed at release */
	return o;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static int list_fds(struct dump *d, int **out, uint32_t *nr)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/fd", d->pid);
	DIR *dir = opendir(p);
	if (!dir)
		return ckpt_fail_errno(d->e, errno, "list %s", p);
	uint32_t n = 0, cap = 64;
	int *v = malloc(cap * sizeof(int));
	struct dirent *de;
	while (v && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			int *nv = realloc(v, 2 * cap * sizeof(int));
			if (!nv) {
				free(v);
				v = NULL;
				break;
			}
			v = nv;
			cap *= 2;
		}
		v[n++] = atoi(de->d_name);
	}
	closedir(dir);
	if (!v)
		return ckpt_fail(d->e, ENOMEM, "no memory for descriptors");
	qsort(v, n, sizeof(int), cmp_int);
	*out = v;
	*nr = n;
	return 0;
}

/*
 * Signal-driven I/O belongs to the open file description: O_ASYNC, the
 * owner (F_SETOWN/F_SETOWN_EX: who gets SIGIO, and SIGURG on a socket's
 * out-of-band data) and the signal (F_SETSIG). No kind makes them again, and
 * open() ignores O_ASYNC: refused, read on our duplicate of the descriptor.
 * A descriptor the restart takes from its caller (stdio) is not the job's
 * own: an owner outside the job there is someone else's business.
 */
static int check_sigio(struct dump *d, const struct fd_probe *p, uint32_t kind)
{
	struct f_owner_ex own = {0, 0};
	int sig = 0;
	if (p->local >= 0) {
		if (fcntl(p->local, F_GETOWN_EX, &own) < 0)
			own.pid = 0;
		sig = fcntl(p->local, F_GETSIG);
		if (sig < 0)
			sig = 0;
	}
	int async = !!(p->open_flags & O_ASYNC);
	int owner = own.pid > 0 && (kind != CKPT_OBJ_STDIO || dump_in_job(d, own.pid));
	if (!async && !owner && !sig)
		return 0;
	const char *type = own.type == F_OWNER_TID	? "thread"
			   : own.type == F_OWNER_PGRP ? "process group"
						       : "process";
	char who[64] = "none";
	if (own.pid > 0)
		snprintf(who, sizeof(who), "%s %d", type, own.pid);
	return fd_refuse(d, p, ENOTSUP,
			 "signal-driven I/O (O_ASYNC/F_SETOWN/F_SETSIG) is set (O_ASYNC %s, owner "
			 "%s, signal %d): a restart cannot set it again, so it cannot be "
			 "checkpointed",
			 async ? "on" : "off", who, sig);
}

/* The object an earlier descriptor already recorded for this description. */
static struct dump_obj *shared_obj(struct dump *d, const struct fd_probe *p)
{
	for (uint32_t i = 0; i < d->nr_objs; i++) {
		struct dump_obj *o = &d->objs[i];
		if (o->dev != (uint64_t)p->st.st_dev || o->ino != (uint64_t)p->st.st_ino)
			continue;
		if (syscall(SYS_kcmp, d->pid, d->pid, KCMP_FILE_, o->first_fd, p->fd) == 0)
			return o;
	}
	return NULL;
}

int dump_fds(struct dump *d)
{
	int *fds = NULL;
	uint32_t n = 0;
	int rc = list_fds(d, &fds, &n);
	if (rc)
		return rc;
	int pidfd = (int)syscall(SYS_pidfd_open, d->pid, 0);
	if (pidfd < 0) {
		free(fds);
		return ckpt_fail_errno(d->e, errno, "pidfd_open %d", d->pid);
	}
	d->fds = calloc(n ? n : 1, sizeof(*d->fds));
	d->objs = calloc(n ? n : 1, sizeof(*d->objs));
	if (!d->fds || !d->objs)
		rc = ckpt_fail(d->e, ENOMEM, "no memory for descriptors");
	struct fd_probe pr;
	memset(&pr, 0, sizeof(pr));
	pr.local = -1;
	for (uint32_t i = 0; !rc && i < n; i++) {
		int r = probe(d, pidfd, fds[i], &pr);
		if (r) {
			rc = r < 0 ? r : 0;
			unprobe(&pr);
			continue;
		}
		struct dump_fd *df = &d->fds[d->nr_fds];
		df->f.fd = pr.fd;
		df->f.flags = pr.cloexec ? CKPT_FD_F_CLOEXEC : 0;
		snprintf(df->link, sizeof(df->link), "%s", pr.link);
		struct dump_obj *o = shared_obj(d, &pr);
		if (o) {
			df->f.obj = o->id;
			d->nr_fds++;
			unprobe(&pr);
			continue;
		}
		o = &d->objs[d->nr_objs];
		memset(o, 0, sizeof(*o));
		o->id = d->nr_objs + 1;
		o->open_flags = pr.open_flags;
		o->first_fd = pr.fd;
		o->hold = -1;
		o->dev = (uint64_t)pr.st.st_dev;
		o->ino = (uint64_t)pr.st.st_ino;
		r = 1;
		for (size_t k = 0; r == 1 && k < NR_KINDS; k++) {
			o->kind = fd_kinds[k]->kind;
			o->len = 0;
			r = fd_kinds[k]->dump(d, &pr, o);
		}
		if (r == 1)
			r = fd_refuse(d, &pr, ENOTSUP,
				      "this kind of descriptor cannot be checkpointed by this "
				      "engine (no kind in native/src/fd_*.c takes it)");
		if (r == 0)
			r = check_sigio(d, &pr, o->kind);
		if (r < 0) {
			free(o->body);
			o->body = NULL;
			if (o->hold >= 0) { /* a kind refused after changing it */
				const struct fd_kind *k = fd_kind_of(o->kind);
				if (k && k->release)
					k->release(d, o, 0);
				close(o->hold);
			}
			rc = r;
		} else {
			df->f.obj = o->id;
			d->nr_objs++;
			d->nr_fds++;
		}
		unprobe(&pr);
	}
	for (size_t k = 0; !rc && k < NR_KINDS; k++)
		if (fd_kinds[k]->dump_done)
			rc = fd_kinds[k]->dump_done(d);
	close(pidfd);
	free(fds);
	return rc;
}

pid_t fd_find_holder(const struct dump *d, pid_t skip, const char *link, uint64_t dev,
		     uint64_t ino)
{
	DIR *proc = opendir("/proc");
	if (!proc)
		return 0;
	struct dirent *pe;
	pid_t found = 0;
	while (!found && (pe = readdir(proc))) {
		pid_t pid = (pid_t)atoi(pe->d_name);
		if (pid <= 0 || pid == skip || (d && (dump_in_job(d, pid) || pid == getpid())))
			continue;
		char p[64];
		snprintf(p, sizeof(p), "/proc/%d/fd", pid);
		DIR *fds = opendir(p);
		struct dirent *fe;
		while (fds && !found && (fe = readdir(fds))) {
			if (fe->d_name[0] == '.')
				continue;
			char lp[320], l[CKPT_PATH_MAX];
			snprintf(lp, sizeof(lp), "/proc/%d/fd/%s", pid, fe->d_name);
			if (link) {
				ssize_t n = readlink(lp, l, sizeof(l) - 1);
				if (n > 0) {
					l[n] = '\0';
					found = strcmp(l, link) ? 0 : pid;
				}
			} else {
				struct stat st;
				if (stat(lp, &st) == 0 && (uint64_t)st.st_dev == dev &&
				    (uint64_t)st.st_ino == ino)
					found = pid;
			}
		}
		if (fds)
			closedir(fds);
	}
	closedir(proc);
	return found;
}

static uint32_t obj_rec_size(const struct dump_obj *o)
{
	return (uint32_t)((sizeof(struct ckpt_img_obj) + o->len + 7) & ~(size_t)7);
}

int dump_write_objs(struct dump *d, struct imgw *w)
{
	int rc = 0;
	for (uint32_t kind = 1; !rc && kind <= CKPT_OBJ_MAX; kind++) {
		uint64_t total = 0;
		for (uint32_t i = 0; i < d->nr_objs; i++)
			if (d->objs[i].kind == kind)
				total += obj_rec_size(&d->objs[i]);
		if (!total)
			continue;
		rc = imgw_begin(w, CKPT_SEC_OBJ_BASE + kind, total, 0);
		for (uint32_t i = 0; !rc && i < d->nr_objs; i++) {
			struct dump_obj *o = &d->objs[i];
			if (o->kind != kind)
				continue;
			struct ckpt_img_obj h = {.id = o->id,
						 .kind = o->kind,
						 .rec_size = obj_rec_size(o),
						 .open_flags = o->open_flags};
			rc = imgw_payload(w, &h, sizeof(h));
			if (!rc && o->len)
				rc = imgw_payload(w, o->body, o->len);
			if (!rc)
				rc = imgw_zeros(w, h.rec_size - sizeof(h) - o->len);
		}
		if (!rc)
			rc = imgw_end(w);
	}
	return rc;
}

int dump_write_fds(struct dump *d, struct imgw *w)
{
	int rc = imgw_begin(w, CKPT_SEC_FDS, (uint64_t)d->nr_fds * sizeof(struct ckpt_img_fd), 0);
	for (uint32_t i = 0; !rc && i < d->nr_fds; i++)
		rc = imgw_payload(w, &d->fds[i].f, sizeof(d->fds[i].f));
	return rc ? rc : imgw_end(w);
}

void rs_objs_restored(struct rs_ctx *c)
{
	for (uint32_t i = 0; i < c->nr_objs; i++) {
		const struct fd_kind *k = fd_kind_of(c->objs[i].h->kind);
		if (k && k->restored)
			k->restored(c, &c->objs[i]);
	}
}

void dump_fds_release(struct dump *d, int target_dies)
{
	for (uint32_t i = 0; d->objs && i < d->nr_objs; i++) {
		struct dump_obj *o = &d->objs[i];
		if (o->hold < 0)
			continue;
		const struct fd_kind *k = fd_kind_of(o->kind);
		if (k && k->release)
			k->release(d, o, target_dies);
		close(o->hold);
		o->hold = -1;
	}
}

void dump_free_fds(struct dump *d)
{
	dump_fds_release(d, 0);
	for (uint32_t i = 0; d->objs && i < d->nr_objs; i++)
		free(d->objs[i].body);
	free(d->objs);
	free(d->fds);
	d->objs = NULL;
	d->fds = NULL;
}

/* ---- restart: reading ----------------------------------------------------- */

int rs_obj_has(const struct rs_obj *o, uint64_t off, uint64_t len)
{
	return off <= o->body_len && len <= o->body_len - off;
}

const char *rs_obj_str(const struct rs_obj *o, uint64_t off, uint32_t len)
{
	if (!len || !rs_obj_has(o, off, len) || o->body[off + len - 1] != '\0' ||
	    memchr(o->body + off, '\0', len) != (const void *)(o->body + off + len - 1))
		return NULL;
	return (const char *)o->body + off;
}

static int bad(struct rs_ctx *c, uint64_t off, uint32_t type, const char *what)
{
	const struct fd_kind *k =
		type > CKPT_SEC_OBJ_BASE ? fd_kind_of(type - CKPT_SEC_OBJ_BASE) : NULL;
	return ckpt_fail(c->e, EBADMSG, "image %s: section %s%s at offset %llu: %s", c->label,
			 k ? "OBJ_" : "FDS", k ? k->name : "", (unsigned long long)off, what);
}

static int add_obj(struct rs_ctx *c, const struct ckpt_img_obj *h, const unsigned char *body,
		   uint64_t len)
{
	if (c->nr_objs == c->objs_cap) {
		uint32_t cap = c->objs_cap ? 2 * c->objs_cap : 64;
		struct rs_obj *n = realloc(c->objs, cap * sizeof(*n));
		if (!n)
			return ckpt_fail(c->e, ENOMEM, "no memory");
		c->objs = n;
		c->objs_cap = cap;
	}
	struct rs_obj *o = &c->objs[c->nr_objs++];
	memset(o, 0, sizeof(*o));
	o->h = h;
	o->body = body;
	o->body_len = len;
	o->fd = -1;
	return 0;
}

int rs_fd_take_section(struct rs_ctx *c, uint32_t type, const unsigned char *p, uint64_t size,
		       uint64_t off)
{
	if (type == CKPT_SEC_FDS) {
		if (c->hdr->version < 2 || c->fdt_raw || size % sizeof(struct ckpt_img_fd) ||
		    size / sizeof(struct ckpt_img_fd) > 1u << 20)
			return bad(c, off, type, "repeated, in a v1 image, or of a wrong size");
		c->fdt_raw = (const void *)p;
		c->nr_fds = (uint32_t)(size / sizeof(struct ckpt_img_fd));
		return 0;
	}
	/* the reader hands over only object sections of the kinds it knows */
	uint32_t kind = type - CKPT_SEC_OBJ_BASE;
	const struct fd_kind *k = NULL;
	if (type > CKPT_SEC_OBJ_BASE && kind <= CKPT_OBJ_MAX)
		k = fd_kind_of(kind);
	if (!k)
		return bad(c, off, type, "not an object section of a known kind");
	if (c->hdr->version < 2 || (c->obj_sections & (1u << kind)) || c->proc)
		return bad(c, off, type, "repeated, after a process, or in a v1 image");
	c->obj_sections |= 1u << kind;
	for (uint64_t at = 0; at < size;) {
		const struct ckpt_img_obj *h = (const void *)(p + at);
		if (size - at < sizeof(*h))
			return bad(c, off, type, "record cut short");
		if (h->rec_size < sizeof(*h) || h->rec_size % 8 || h->rec_size > size - at ||
		    h->kind != kind || !h->id)
			return bad(c, off, type, "malformed record");
		int rc = add_obj(c, h, p + at + sizeof(*h), h->rec_size - sizeof(*h));
		if (rc)
			return rc;
		const char *why = k->check ? k->check(&c->objs[c->nr_objs - 1]) : NULL;
		if (why) {
			char m[200];
			snprintf(m, sizeof(m), "object %u: %s", h->id, why);
			return bad(c, off, type, m);
		}
		at += h->rec_size;
	}
	return 0;
}

/* v1 FILES records as v2 objects: what v1 reopened by path (regular files,
   directories, character devices), the restarter's stdio, and self-pipes
   (their data was not kept). Anything else v1 replaced by /dev/null: such
   an image is refused. */
static int v1_adapt(struct rs_ctx *c)
{
	c->fdt = calloc(c->nr_files + 1, sizeof(*c->fdt));
	c->v1_fds = calloc(c->nr_files + 1, sizeof(*c->v1_fds));
	c->v1_bodies = calloc(c->nr_files + 1, sizeof(*c->v1_bodies));
	if (!c->fdt || !c->v1_fds || !c->v1_bodies)
		return ckpt_fail(c->e, ENOMEM, "no memory");
	for (uint32_t i = 0; i < c->nr_files; i++) {
		const struct ckpt_img_file *f = c->files[i].f;
		const char *path = c->files[i].path;
		struct ckpt_img_fd *fd = &c->v1_fds[i];
		fd->fd = f->fd;
		fd->flags = (f->flags & CKPT_FILE_F_CLOEXEC) ? CKPT_FD_F_CLOEXEC : 0;
		if (f->shared_with >= 0) {
			fd->obj = 0; /* resolved below */
			continue;
		}
		size_t pl = strlen(path) + 1;
		size_t len = sizeof(struct ckpt_img_obj) + sizeof(struct ckpt_img_ofile) + pl + 8;
		unsigned char *b = calloc(1, len);
		if (!b)
			return ckpt_fail(c->e, ENOMEM, "no memory");
		c->v1_bodies[i] = b;
		struct ckpt_img_obj *h = (void *)b;
		h->id = i + 1;
		h->open_flags = f->open_flags & ~(uint32_t)O_CLOEXEC;
		h->rec_size = (uint32_t)len;
		unsigned long ino = 0;
		int stdio = (f->flags & (CKPT_FILE_F_STDIO | CKPT_FILE_F_TTY)) && f->fd <= 2;
		if (stdio) {
			h->kind = CKPT_OBJ_STDIO;
			struct ckpt_img_ostdio *s = (void *)(b + sizeof(*h));
			s->fd = f->fd;
			s->what_len = (uint32_t)pl;
			memcpy(s + 1, path, pl);
		} else if (f->kind == CKPT_FILE_REG || f->kind == CKPT_FILE_DIR ||
			   f->kind == CKPT_FILE_CHR) {
			h->kind = CKPT_OBJ_FILE;
			struct ckpt_img_ofile *o = (void *)(b + sizeof(*h));
			o->pos = f->pos;
			o->dev = f->dev;
			o->ino = f->ino;
			o->size = f->size;
			/* v1 restored by kind; the type bits follow it */
			o->mode = (f->mode & 07777) | (f->kind == CKPT_FILE_REG   ? S_IFREG
						       : f->kind == CKPT_FILE_DIR ? S_IFDIR
										  : S_IFCHR);
			o->flags = (f->flags & CKPT_FILE_F_DELETED) ? CKPT_OFILE_F_DELETED : 0;
			o->path_len = (uint32_t)pl;
			memcpy(o + 1, path, pl);
		} else if (f->kind == CKPT_FILE_FIFO && sscanf(path, "pipe:[%lu]", &ino) == 1) {
			h->kind = CKPT_OBJ_PIPE;
			struct ckpt_img_opipe *o = (void *)(b + sizeof(*h));
			o->ino = ino;
		} else {
			return ckpt_fail(c->e, ENOTSUP,
					 "image %s (format 1): fd %d (%s) was not saved faithfully by "
					 "the version that wrote it (it would come back as /dev/null); "
					 "checkpoint the job again with this version",
					 c->label, f->fd, path);
		}
		const struct fd_kind *k = fd_kind_of(h->kind);
		int rc = add_obj(c, h, b + sizeof(*h), len - sizeof(*h));
		if (rc)
			return rc;
		const char *why = k->check ? k->check(&c->objs[c->nr_objs - 1]) : NULL;
		if (why)
			return ckpt_fail(c->e, EBADMSG, "image %s: fd %d: %s", c->label, f->fd, why);
		fd->obj = h->id;
	}
	for (uint32_t i = 0; i < c->nr_files; i++) {
		const struct ckpt_img_file *f = c->files[i].f;
		if (f->shared_with < 0)
			continue;
		for (uint32_t j = 0; j < c->nr_files; j++)
			if (c->files[j].f->fd == f->shared_with)
				c->v1_fds[i].obj = c->v1_fds[j].obj;
		if (!c->v1_fds[i].obj)
			return ckpt_fail(c->e, EBADMSG, "image %s: fd %d shares fd %d, which is not there",
					 c->label, f->fd, f->shared_with);
	}
	c->fdt_raw = c->v1_fds;
	c->nr_fds = c->nr_files;
	return 0;
}

static struct rs_obj *find_obj(struct rs_ctx *c, uint32_t id)
{
	for (uint32_t i = 0; i < c->nr_objs; i++)
		if (c->objs[i].h->id == id)
			return &c->objs[i];
	return NULL;
}

int rs_fd_finish_load(struct rs_ctx *c)
{
	if (!c->hdr || c->hdr->version < 2) { /* no header: a test's v1 records */
		int rc = v1_adapt(c);
		if (rc)
			return rc;
	} else {
		if (!c->fdt_raw && c->proc)
			return ckpt_fail(c->e, EBADMSG, "image %s: FDS section missing", c->label);
		c->fdt = calloc(c->nr_fds + 1, sizeof(*c->fdt));
		if (!c->fdt)
			return ckpt_fail(c->e, ENOMEM, "no memory");
	}
	for (uint32_t i = 0; i < c->nr_objs; i++)
		for (uint32_t j = 0; j < i; j++)
			if (c->objs[i].h->id == c->objs[j].h->id)
				return ckpt_fail(c->e, EBADMSG, "image %s: object id %u is used twice",
						 c->label, c->objs[i].h->id);
	for (uint32_t i = 0; i < c->nr_fds; i++) {
		const struct ckpt_img_fd *f = &c->fdt_raw[i];
		if (f->fd < 0 || (i && f->fd <= c->fdt_raw[i - 1].fd) || (f->flags & ~CKPT_FD_F_CLOEXEC))
			return ckpt_fail(c->e, EBADMSG,
					 "image %s: descriptor %u (fd %d) is negative, out of order "
					 "or has unknown flags",
					 c->label, i, f->fd);
		c->fdt[i].f = f;
		c->fdt[i].obj = find_obj(c, f->obj);
		if (!c->fdt[i].obj && c->job) { /* made by an ancestor (shared.c) */
			c->fdt[i].obj = rs_share_find(c, f->obj);
			if (!c->fdt[i].obj && c->e->code)
				return c->e->code;
		}
		if (!c->fdt[i].obj)
			return ckpt_fail(c->e, EBADMSG, "image %s: fd %d refers to object %u, which is "
					 "not in the image", c->label, f->fd, f->obj);
	}
	return 0;
}

void rs_fd_close(struct rs_ctx *c)
{
	for (uint32_t i = 0; c->objs && i < c->nr_objs; i++)
		free(c->objs[i].path);
	for (uint32_t i = 0; c->v1_bodies && i < c->nr_files; i++)
		free(c->v1_bodies[i]);
	free(c->objs);
	free(c->fdt);
	free(c->v1_fds);
	free(c->v1_bodies);
	c->objs = NULL;
	c->fdt = NULL;
	c->v1_fds = NULL;
	c->v1_bodies = NULL;
	c->nr_objs = c->objs_cap = 0;
}

int rs_fd_verify(struct rs_ctx *c)
{
	for (uint32_t i = 0; i < c->nr_objs; i++) {
		const struct fd_kind *k = fd_kind_of(c->objs[i].h->kind);
		int rc = k->verify ? k->verify(c, &c->objs[i]) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- restart: in the new process ------------------------------------------ */

/*
 * Every number below park + nr_objs holds a placeholder while the objects
 * are made, so that a descriptor a kind creates, and may keep from one
 * open() to another (the other end of a pipe or socketpair), lands above all
 * of them and no dup3 of the table or of the parking lands on it.
 */
static int fill_placeholders(int upto, char *msg, size_t msglen)
{
	int ph = open("/", O_PATH | O_CLOEXEC);
	if (ph < 0) {
		snprintf(msg, msglen, "placeholder descriptor: %s", strerror(errno));
		return -1;
	}
	for (int fd = 0; fd < upto; fd++) {
		if (fd == ph || fcntl(fd, F_GETFD) >= 0)
			continue;
		if (dup3(ph, fd, O_CLOEXEC) < 0) {
			snprintf(msg, msglen, "placeholder descriptor %d: %s", fd, strerror(errno));
			return -1;
		}
	}
	if (ph >= upto)
		close(ph);
	return 0;
}

static int scratch_min = 1024;

int rs_fd_scratch(int fd)
{
	int n = fcntl(fd, F_DUPFD_CLOEXEC, scratch_min);
	int err = errno;
	close(fd);
	errno = err;
	return n;
}

int rs_obj_fd(const struct rs_ctx *c, const struct rs_obj *o)
{
	if (o->fd >= 0)
		return o->fd;
	for (uint32_t i = 0; i < c->nr_fds; i++)
		if (c->fdt[i].obj == o)
			return c->fdt[i].f->fd;
	int slot = o->shared ? rs_share_slot(c, o) : -1; /* handed to others only */
	return slot >= 0 && fcntl(slot, F_GETFD) >= 0 ? slot : -1;
}

int rs_fd_setup(struct rs_ctx *c, int park, const int stdio[3], char *msg, size_t msglen)
{
	int top = park + (int)c->nr_objs;
	scratch_min = top;
	if (fill_placeholders(top, msg, msglen) < 0)
		return -1;
	/* objects, parked above every number the image uses */
	for (uint32_t i = 0; i < c->nr_objs; i++) {
		struct rs_obj *o = &c->objs[i];
		const struct fd_kind *k = fd_kind_of(o->h->kind);
		int fd;
		if (!k->open && o->h->kind != CKPT_OBJ_STDIO)
			continue; /* held by no descriptor (a lock, a SysV segment) */
		if (o->h->kind == CKPT_OBJ_STDIO) {
			const struct ckpt_img_ostdio *s = (const void *)o->body;
			fd = stdio[s->fd] >= 0 ? dup(stdio[s->fd]) : -1;
			if (fd < 0) {
				snprintf(msg, msglen,
					 "fd %d was %s, to be taken from the restarting command, "
					 "which has no fd %d open",
					 s->fd, (const char *)(s + 1), s->fd);
				return -1;
			}
		} else {
			fd = k->open(c, o, msg, msglen);
			if (fd < 0)
				return -1;
		}
		if (dup3(fd, park + (int)i, O_CLOEXEC) < 0) {
			snprintf(msg, msglen, "object %u (%s): park at %d: %s", o->h->id, k->name,
				 park + (int)i, strerror(errno));
			return -1;
		}
		close(fd);
		o->fd = park + (int)i;
	}
	/* the table */
	for (uint32_t i = 0; i < c->nr_fds; i++) {
		const struct rs_fd *f = &c->fdt[i];
		int cl = (f->f->flags & CKPT_FD_F_CLOEXEC) ? O_CLOEXEC : 0;
		int from = f->obj->fd;
		if (!rs_share_own(c, f->obj)) { /* from the ancestor that made it */
			from = rs_share_slot(c, f->obj);
			if (from < 0 || fcntl(from, F_GETFD) < 0) {
				snprintf(msg, msglen,
					 "fd %d: object %u (%s), made by another process of the "
					 "job, was not handed down to this one",
					 f->f->fd, f->obj->h->id, fd_kind_of(f->obj->h->kind)->name);
				return -1;
			}
		}
		if (dup3(from, f->f->fd, cl) < 0) {
			snprintf(msg, msglen, "fd %d: dup3 from object %u: %s", f->f->fd,
				 f->obj->h->id, strerror(errno));
			return -1;
		}
	}
	/* objects other processes of the job hold: into the shared region for
	   the children cloned next (shared.c) */
	for (uint32_t i = 0; i < c->nr_objs; i++) {
		struct rs_obj *o = &c->objs[i];
		int slot = o->shared && o->fd >= 0 ? rs_share_slot(c, o) : -1;
		if (slot >= 0 && dup3(o->fd, slot, O_CLOEXEC) < 0) {
			snprintf(msg, msglen, "object %u (%s): hand it on at %d: %s", o->h->id,
				 fd_kind_of(o->h->kind)->name, slot, strerror(errno));
			return -1;
		}
	}
	/* the parked copies go before post: closing any descriptor of a file
	   drops the POSIX locks the process holds on it (fd_lock.c) */
	for (uint32_t i = 0; i < c->nr_objs; i++) {
		if (c->objs[i].fd < 0 || fd_kind_of(c->objs[i].h->kind)->keep_parked)
			continue;
		close(c->objs[i].fd);
		c->objs[i].fd = -1;
	}
	/* the placeholders the table did not replace */
	struct stat root;
	if (stat("/", &root) == 0)
		for (int fd = 0, t = 0; fd < top; fd++) {
			while (t < (int)c->nr_fds && c->fdt[t].f->fd < fd)
				t++;
			if (t < (int)c->nr_fds && c->fdt[t].f->fd == fd)
				continue;
			struct stat st;
			int fl = fcntl(fd, F_GETFL);
			if (fl >= 0 && (fl & O_PATH) && fstat(fd, &st) == 0 &&
			    st.st_dev == root.st_dev && st.st_ino == root.st_ino)
				close(fd);
		}
	for (uint32_t i = 0; i < c->nr_objs; i++) {
		struct rs_obj *o = &c->objs[i];
		const struct fd_kind *k = fd_kind_of(o->h->kind);
		if (k->post && k->post(c, o, msg, msglen) < 0)
			return -1;
	}
	return 0;
}

/* ---- ckpt_inspect ------------------------------------------------------- */

void rs_fd_inspect(struct json *j, const struct rs_ctx *c)
{
	json_key(j, "files");
	json_open(j, '[');
	for (uint32_t i = 0; i < c->nr_fds; i++) {
		const struct rs_fd *f = &c->fdt[i];
		const struct fd_kind *k = fd_kind_of(f->obj->h->kind);
		char what[CKPT_PATH_MAX + 64];
		k->describe(f->obj, what, sizeof(what));
		json_open(j, '{');
		json_int(j, "fd", f->f->fd);
		json_str(j, "kind", k->name);
		json_str(j, "path", what);
		json_uint(j, "object", f->obj->h->id);
		json_hex(j, "openFlags", f->obj->h->open_flags);
		json_bool(j, "cloexec", !!(f->f->flags & CKPT_FD_F_CLOEXEC));
		for (uint32_t s = 0; s < i; s++)
			if (c->fdt[s].obj == f->obj) {
				json_int(j, "sharedWith", c->fdt[s].f->fd);
				break;
			}
		json_str(j, "onRestart", k->on_restart);
		json_close(j, '}');
	}
	json_close(j, ']');
	json_key(j, "objects");
	json_open(j, '[');
	for (uint32_t i = 0; i < c->nr_objs; i++) {
		const struct rs_obj *o = &c->objs[i];
		const struct fd_kind *k = fd_kind_of(o->h->kind);
		json_open(j, '{');
		json_uint(j, "id", o->h->id);
		json_str(j, "kind", k->name);
		json_hex(j, "openFlags", o->h->open_flags);
		/* a job's object that processes other than its maker hold: which */
		const struct rs_ctx *job = c->job ? c->job : c->procs ? c : NULL;
		if (job && o->shared) {
			json_key(j, "heldBy");
			json_open(j, '[');
			for (uint32_t p = 0; p < job->nr_procs; p++) {
				const struct rs_ctx *q = job->procs[p];
				for (uint32_t f = 0; f < q->nr_fds; f++)
					if (q->fdt[f].obj == o) {
						json_int(j, NULL, q->proc->pid);
						break;
					}
			}
			json_close(j, ']');
		}
		if (k->inspect)
			k->inspect(j, o);
		json_close(j, '}');
	}
	json_close(j, ']');
}
