// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_FIFO: a named FIFO, reopened by its path with its access mode and
 * status flags, with the bytes buffered in it at checkpoint time.
 *
 * Checkpoint: the bytes are copied with tee(2) from a read description of
 * the FIFO (our duplicate if it reads, else a non-blocking read open of
 * /proc/PID/fd/N), which leaves them in the FIFO. They are stored once per
 * FIFO, with its first record. The FIFO is also looked for in processes
 * outside the job: if one holds it open, its buffer survives the job's end.
 *
 * Restart: a holder is opened O_RDWR (so neither end blocks nor fails with
 * ENXIO), then each description with its recorded mode, non-blocking, then
 * its recorded status flags. The rule for the bytes: they are written back
 * only if no process outside the job held the FIFO at checkpoint time and
 * the FIFO is empty now. A FIFO held outside kept its own buffer (whatever
 * the outside process did with it since is the truth); one that holds bytes
 * at restart was written to since (the original still running, or another
 * writer): our copy would duplicate them, so it is not written and a
 * warning says so. Each holder closes once the FIFO's last description is open.
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
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Is the FIFO dev/ino open in a process outside the job (and not us)? */
static int held_outside(const struct dump *d, uint64_t dev, uint64_t ino, int *who)
{
	*who = fd_find_holder(d, 0, NULL, dev, ino);
	return *who != 0;
}

/* Copy the buffered bytes (left in place) after the record. */
static int copy_data(struct dump *d, const struct fd_probe *p, struct dump_obj *o, size_t at)
{
	int rd = p->local, own = 0;
	if ((p->open_flags & O_ACCMODE) == O_WRONLY) {
		char self[64];
		snprintf(self, sizeof(self), "/proc/%d/fd/%d", p->pid, p->fd);
		rd = open(self, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (rd < 0)
			return fd_refuse(d, p, errno, "FIFO: open it for reading its buffered bytes");
		own = 1;
	}
	int avail = 0, rc = 0;
	if (ioctl(rd, FIONREAD, &avail) < 0)
		rc = fd_refuse(d, p, errno, "FIFO: FIONREAD");
	struct ckpt_img_ofifo *f = (void *)(o->body + at);
	if (!rc && avail > 0) {
		int tp[2];
		if (pipe2(tp, O_CLOEXEC | O_NONBLOCK) < 0) {
			rc = fd_refuse(d, p, errno, "FIFO: temporary pipe for tee");
		} else {
			if (fcntl(tp[1], F_SETPIPE_SZ, f->pipe_size) < 0)
				rc = fd_refuse(d, p, errno, "FIFO: size the tee pipe to %u",
					       f->pipe_size);
			ssize_t n = rc ? 0 : tee(rd, tp[1], (size_t)avail, SPLICE_F_NONBLOCK);
			if (!rc && n != avail)
				rc = fd_refuse(d, p, n < 0 ? errno : EIO,
					       "FIFO: tee copied %zd of %d buffered bytes", n, avail);
			char buf[65536];
			for (ssize_t left = rc ? 0 : n; !rc && left > 0;) {
				ssize_t r = read(tp[0], buf, (size_t)left < sizeof(buf) ? (size_t)left
											 : sizeof(buf));
				if (r <= 0) {
					rc = fd_refuse(d, p, r < 0 ? errno : EIO,
						       "FIFO: reading the tee copy");
					break;
				}
				rc = dump_obj_put(d, o, buf, (size_t)r);
				left -= r;
			}
			close(tp[0]);
			close(tp[1]);
			if (!rc) {
				f = (void *)(o->body + at);
				f->data_len = (uint32_t)avail;
			}
		}
	}
	if (own)
		close(rd);
	return rc;
}

static int fifo_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	if (!p->has_stat || !S_ISFIFO(p->st.st_mode) || p->link[0] != '/')
		return 1;
	if (strstr(p->link, " (deleted)"))
		return fd_refuse(d, p, ENOTSUP,
				 "named FIFO removed while open: it cannot be reopened by path");
	if (p->local < 0)
		return fd_refuse(d, p, EPERM, "FIFO: cannot take the descriptor (pidfd_getfd)");
	struct ckpt_img_ofifo f = {.dev = (uint64_t)p->st.st_dev,
				   .ino = (uint64_t)p->st.st_ino,
				   .mode = (uint32_t)p->st.st_mode};
	int sz = fcntl(p->local, F_GETPIPE_SZ);
	f.pipe_size = sz > 0 ? (uint32_t)sz : 65536;
	f.path_len = (uint32_t)strlen(p->link) + 1;
	int who = 0;
	if (held_outside(d, f.dev, f.ino, &who))
		f.flags |= CKPT_OFIFO_F_HELD_OUTSIDE;
	/* the bytes go with the first record of this FIFO */
	int first = 1;
	for (uint32_t i = 0; i < d->nr_objs; i++)
		if (d->objs[i].kind == CKPT_OBJ_FIFO && d->objs[i].dev == f.dev &&
		    d->objs[i].ino == f.ino)
			first = 0;
	size_t at = o->len;
	int rc = dump_obj_put(d, o, &f, sizeof(f));
	if (!rc)
		rc = dump_obj_put(d, o, p->link, f.path_len);
	if (!rc && first)
		rc = copy_data(d, p, o, at);
	return rc;
}

/* ---- restart ---- */

static const struct ckpt_img_ofifo *ofifo(const struct rs_obj *o)
{
	return (const void *)o->body;
}

static const char *fifo_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_ofifo)))
		return "FIFO record cut short";
	const struct ckpt_img_ofifo *f = ofifo(o);
	if (!rs_obj_str(o, sizeof(*f), f->path_len) || f->path_len > CKPT_PATH_MAX)
		return "FIFO path not terminated or too long";
	if (f->flags & ~CKPT_OFIFO_F_HELD_OUTSIDE)
		return "unknown FIFO flags";
	if (!rs_obj_has(o, sizeof(*f) + f->path_len, f->data_len) || f->data_len > f->pipe_size ||
	    f->pipe_size > (1u << 30))
		return "FIFO data longer than the record or than the FIFO";
	return NULL;
}

static int fifo_verify(struct rs_ctx *c, struct rs_obj *o)
{
	const struct ckpt_img_ofifo *f = ofifo(o);
	const char *path = (const char *)(f + 1);
	o->path = malloc(CKPT_PATH_MAX);
	if (!o->path)
		return ckpt_fail(c->e, ENOMEM, "no memory");
	rs_relocate(c, path, o->path);
	struct stat st;
	if (stat(o->path, &st) < 0)
		return ckpt_fail_errno(c->e, errno, "named FIFO %s (object %u) to reopen", o->path,
				       o->h->id);
	if (!S_ISFIFO(st.st_mode))
		return ckpt_fail(c->e, ENOTSUP, "%s (object %u) was a named FIFO and is not one now",
				 o->path, o->h->id);
	return 0;
}

/* In the new process: one O_RDWR holder per FIFO while its descriptions
   are made. */
#define RS_MAX_FIFOS 256
static struct {
	uint64_t dev, ino;
	int holder;
} fifos[RS_MAX_FIFOS];
static int nr_fifos;

static int fifo_open(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	const struct ckpt_img_ofifo *f = ofifo(o);
	int h = -1;
	for (int i = 0; i < nr_fifos; i++)
		if (fifos[i].dev == f->dev && fifos[i].ino == f->ino)
			h = fifos[i].holder;
	if (h < 0) {
		if (nr_fifos == RS_MAX_FIFOS) {
			snprintf(msg, msglen, "more than %d named FIFOs", RS_MAX_FIFOS);
			return -1;
		}
		h = open(o->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (h < 0) {
			snprintf(msg, msglen, "named FIFO %s: open: %s", o->path, strerror(errno));
			return -1;
		}
		fifos[nr_fifos].dev = f->dev;
		fifos[nr_fifos].ino = f->ino;
		fifos[nr_fifos++].holder = h;
		if (f->pipe_size)
			(void)fcntl(h, F_SETPIPE_SZ, f->pipe_size); /* EBUSY: smaller than held */
	}
	/* the bytes, by the rule in the header comment */
	const struct ckpt_img_ofifo *data = NULL;
	for (uint32_t i = 0; i < c->nr_objs; i++) {
		const struct rs_obj *q = &c->objs[i];
		if (q->h->kind == CKPT_OBJ_FIFO && ofifo(q)->dev == f->dev &&
		    ofifo(q)->ino == f->ino && ofifo(q)->data_len && q == o)
			data = ofifo(q);
	}
	if (data && !(data->flags & CKPT_OFIFO_F_HELD_OUTSIDE)) {
		int now = 0;
		if (ioctl(h, FIONREAD, &now) < 0)
			now = 0;
		if (now > 0) {
			rs_warn(c, "named FIFO %s holds %d bytes at restart: the %u bytes it held at "
				"checkpoint are not written again", o->path, now, data->data_len);
		} else {
			const unsigned char *b = (const unsigned char *)(data + 1) + data->path_len;
			for (uint32_t at = 0; at < data->data_len;) {
				ssize_t n = write(h, b + at, data->data_len - at);
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0) {
					snprintf(msg, msglen,
						 "named FIFO %s: writing %u buffered bytes back: %s",
						 o->path, data->data_len, strerror(errno));
					return -1;
				}
				at += (uint32_t)n;
			}
		}
	}
	int acc = (int)o->h->open_flags & O_ACCMODE;
	int fd = open(o->path, acc | O_NONBLOCK | O_CLOEXEC);
	/* the holder goes with the FIFO's last description: its number may be
	   one the table takes later, so it cannot wait for post */
	int left = 0, seen = 0;
	for (uint32_t i = 0; i < c->nr_objs; i++) {
		const struct rs_obj *q = &c->objs[i];
		if (q->h->kind != CKPT_OBJ_FIFO || ofifo(q)->dev != f->dev || ofifo(q)->ino != f->ino)
			continue;
		left += seen;
		seen |= q == o;
	}
	for (int i = 0; !left && fd >= 0 && i < nr_fifos; i++)
		if (fifos[i].holder == h) {
			close(h);
			fifos[i].holder = -1;
		}
	if (fd < 0 || fcntl(fd, F_SETFL, (int)o->h->open_flags & ~O_ACCMODE) < 0) {
		snprintf(msg, msglen, "named FIFO %s: reopen (%s): %s", o->path,
			 acc == O_RDONLY ? "read" : acc == O_WRONLY ? "write" : "read-write",
			 strerror(errno));
		return -1;
	}
	return fd;
}

static void fifo_inspect(struct json *j, const struct rs_obj *o)
{
	const struct ckpt_img_ofifo *f = ofifo(o);
	json_str(j, "path", (const char *)(f + 1));
	json_uint(j, "inode", f->ino);
	json_uint(j, "pipeSize", f->pipe_size);
	json_uint(j, "bufferedBytes", f->data_len);
	json_bool(j, "heldOutside", !!(f->flags & CKPT_OFIFO_F_HELD_OUTSIDE));
}

static void fifo_describe(const struct rs_obj *o, char *buf, size_t len)
{
	const struct ckpt_img_ofifo *f = ofifo(o);
	int acc = (int)o->h->open_flags & O_ACCMODE;
	snprintf(buf, len, "%s (named FIFO, %s%s)", (const char *)(f + 1),
		 acc == O_RDONLY ? "read" : acc == O_WRONLY ? "write" : "read-write",
		 f->data_len ? ", with buffered bytes" : "");
}

const struct fd_kind fd_kind_fifo = {
	.kind = CKPT_OBJ_FIFO,
	.name = "fifo",
	.dump = fifo_dump,
	.check = fifo_check,
	.verify = fifo_verify,
	.open = fifo_open,
	.inspect = fifo_inspect,
	.describe = fifo_describe,
	.on_restart = "reopened by path; its bytes written back unless its buffer survived",
};
