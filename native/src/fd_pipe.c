// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_PIPE: an end of an anonymous pipe ("pipe:[INO]"), with the bytes
 * in flight. Both ends must be in the job, or the missing end held by no
 * process at all (a reader whose writers are gone gets the data, then EOF;
 * a writer whose readers are gone gets EPIPE, as before). An end held by a
 * process outside the job refuses the checkpoint: its data and its peer
 * cannot come back (fds 0-2 are taken by fd_stdio.c first).
 *
 * Checkpoint: the buffered bytes are copied with tee(2) from our duplicate of
 * a read end, which leaves them in the pipe. Restart: the first end of an
 * inode made creates the pipe (its size, O_DIRECT packet mode) and writes
 * the bytes in; every further description of the same end is a new open of
 * /proc/self/fd/N, as a FIFO open would be.
 */
#include "dump.h"
#include "fd.h"
#include "json.h"
#include "restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int pipe_ino(const char *link, uint64_t *ino)
{
	unsigned long long v;
	if (sscanf(link, "pipe:[%llu]", &v) != 1)
		return 0;
	*ino = v;
	return 1;
}

/* The buffered bytes of the pipe, left in place. */
static int copy_data(struct dump *d, const struct fd_probe *p, struct dump_obj *o,
		     struct ckpt_img_opipe *pp)
{
	int avail = 0;
	if (ioctl(p->local, FIONREAD, &avail) < 0)
		return fd_refuse(d, p, errno, "pipe: FIONREAD");
	if (avail <= 0)
		return 0;
	int tp[2];
	if (pipe2(tp, O_CLOEXEC | O_NONBLOCK) < 0)
		return fd_refuse(d, p, errno, "pipe: temporary pipe for tee");
	int rc = 0;
	if (fcntl(tp[1], F_SETPIPE_SZ, pp->pipe_size) < 0)
		rc = fd_refuse(d, p, errno, "pipe: size the tee pipe to %u", pp->pipe_size);
	size_t off = o->len;
	uint32_t got = 0;
	while (!rc && got < (uint32_t)avail) {
		ssize_t n = tee(p->local, tp[1], (size_t)avail - got, SPLICE_F_NONBLOCK);
		if (n <= 0) {
			rc = fd_refuse(d, p, n < 0 ? errno : EIO,
				       "pipe: copying %d buffered bytes with tee", avail);
			break;
		}
		/* tee copies from the start of the pipe every time: take it once */
		char buf[65536];
		size_t left = (size_t)n;
		while (!rc && left) {
			ssize_t r = read(tp[0], buf, left < sizeof(buf) ? left : sizeof(buf));
			if (r <= 0) {
				rc = fd_refuse(d, p, r < 0 ? errno : EIO, "pipe: reading the tee copy");
				break;
			}
			rc = dump_obj_put(d, o, buf, (size_t)r);
			left -= (size_t)r;
		}
		got += (uint32_t)n;
		break; /* one tee of up to the whole pipe */
	}
	close(tp[0]);
	close(tp[1]);
	if (!rc && got != (uint32_t)avail)
		rc = fd_refuse(d, p, EIO, "pipe: tee copied %u of %d buffered bytes", got, avail);
	if (!rc) {
		pp = (struct ckpt_img_opipe *)(o->body + off - sizeof(*pp));
		pp->data_len = got;
	}
	return rc;
}

static int pipe_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	struct ckpt_img_opipe pp = {0};
	if (!pipe_ino(p->link, &pp.ino))
		return 1;
	if (p->local < 0)
		return fd_refuse(d, p, EPERM, "pipe: cannot take the descriptor (pidfd_getfd)");
	int sz = fcntl(p->local, F_GETPIPE_SZ);
	pp.pipe_size = sz > 0 ? (uint32_t)sz : 65536;
	int rc = dump_obj_put(d, o, &pp, sizeof(pp));
	if (!rc && (p->open_flags & O_ACCMODE) == O_RDONLY)
		rc = copy_data(d, p, o, &pp);
	return rc;
}

static const struct ckpt_img_opipe *opipe_of(const struct dump_obj *o)
{
	return (const void *)o->body;
}

/* Is an end of pipe `ino` held by a process outside the job? 1 yes (its
   pid in *who), 0 no. */
static int held_elsewhere(const struct dump *d, uint64_t ino, int *who)
{
	char want[64];
	snprintf(want, sizeof(want), "pipe:[%llu]", (unsigned long long)ino);
	*who = fd_find_holder(d, 0, want, 0, 0);
	return *who != 0;
}

static int pipe_dump_done(struct dump *d)
{
	for (uint32_t i = 0; i < d->nr_objs; i++) {
		const struct dump_obj *o = &d->objs[i];
		if (o->kind != CKPT_OBJ_PIPE)
			continue;
		uint64_t ino = opipe_of(o)->ino;
		int rd = 0, wr = 0;
		for (uint32_t j = 0; j < d->nr_objs; j++) {
			const struct dump_obj *q = &d->objs[j];
			if (q->kind != CKPT_OBJ_PIPE || opipe_of(q)->ino != ino)
				continue;
			rd |= (q->open_flags & O_ACCMODE) == O_RDONLY;
			wr |= (q->open_flags & O_ACCMODE) == O_WRONLY;
		}
		int who = 0;
		if ((!rd || !wr) && held_elsewhere(d, ino, &who))
			return ckpt_fail(d->e, ENOTSUP,
					 "pid %d fd %d (pipe:[%llu]): its %s end is held by pid %d, "
					 "outside what is checkpointed; the bytes in flight and the "
					 "peer cannot come back (checkpoint the whole job)",
					 d->pid, o->first_fd, (unsigned long long)ino,
					 rd ? "write" : "read", who);
	}
	return 0;
}

/* ---- restart ---- */

static const struct ckpt_img_opipe *opipe(const struct rs_obj *o)
{
	return (const void *)o->body;
}

static const char *pipe_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_opipe)))
		return "pipe record cut short";
	const struct ckpt_img_opipe *p = opipe(o);
	if (!rs_obj_has(o, sizeof(*p), p->data_len) || p->data_len > p->pipe_size ||
	    p->pipe_size > (1u << 30))
		return "pipe data longer than the record or than the pipe";
	int acc = (int)o->h->open_flags & O_ACCMODE;
	if (acc != O_RDONLY && acc != O_WRONLY)
		return "pipe end neither read nor write";
	return NULL;
}

/* In the new process: one live pipe per inode. */
#define RS_MAX_PIPES 1024
static struct live_pipe {
	uint64_t ino;
	int end[2]; /* the ends pipe2 made, until both are handed out */
	int used[2];
} pipes[RS_MAX_PIPES];
static int nr_pipes;

static struct live_pipe *make_pipe(struct rs_ctx *c, const struct rs_obj *o, char *msg,
				   size_t msglen)
{
	uint64_t ino = opipe(o)->ino;
	for (int i = 0; i < nr_pipes; i++)
		if (pipes[i].ino == ino)
			return &pipes[i];
	if (nr_pipes == RS_MAX_PIPES) {
		snprintf(msg, msglen, "more than %d pipes", RS_MAX_PIPES);
		return NULL;
	}
	/* the data, the size and packet mode, from whichever end has them */
	const struct ckpt_img_opipe *data = NULL;
	int direct = 0;
	uint32_t size = opipe(o)->pipe_size;
	for (uint32_t i = 0; i < c->nr_objs; i++) {
		const struct rs_obj *q = &c->objs[i];
		if (q->h->kind != CKPT_OBJ_PIPE || opipe(q)->ino != ino)
			continue;
		direct |= !!(q->h->open_flags & O_DIRECT);
		if (opipe(q)->data_len)
			data = opipe(q);
	}
	struct live_pipe *lp = &pipes[nr_pipes];
	/* the ends stay open until post: above what the table lays out */
	if (pipe2(lp->end, O_CLOEXEC | (direct ? O_DIRECT : 0)) < 0 ||
	    (lp->end[0] = rs_fd_scratch(lp->end[0])) < 0 ||
	    (lp->end[1] = rs_fd_scratch(lp->end[1])) < 0) {
		snprintf(msg, msglen, "pipe:[%llu]: pipe2: %s", (unsigned long long)ino,
			 strerror(errno));
		return NULL;
	}
	if (size && fcntl(lp->end[1], F_SETPIPE_SZ, size) < 0 && errno != EBUSY) {
		snprintf(msg, msglen, "pipe:[%llu]: set its size to %u: %s",
			 (unsigned long long)ino, size, strerror(errno));
		return NULL;
	}
	const unsigned char *bytes = data ? (const unsigned char *)(data + 1) : NULL;
	for (uint32_t at = 0; data && at < data->data_len;) {
		ssize_t n = write(lp->end[1], bytes + at, data->data_len - at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(msg, msglen, "pipe:[%llu]: writing %u buffered bytes back: %s",
				 (unsigned long long)ino, data->data_len, strerror(errno));
			return NULL;
		}
		at += (uint32_t)n;
	}
	lp->ino = ino;
	nr_pipes++;
	return lp;
}

static int pipe_open(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	struct live_pipe *lp = make_pipe(c, o, msg, msglen);
	if (!lp)
		return -1;
	int w = ((int)o->h->open_flags & O_ACCMODE) == O_WRONLY;
	int fd;
	if (!lp->used[w]) {
		fd = dup(lp->end[w]);
		lp->used[w] = 1;
	} else { /* another description of the same end */
		char self[64];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", lp->end[w]);
		fd = open(self, (w ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	}
	if (fd < 0 || fcntl(fd, F_SETFL, (int)o->h->open_flags & (O_NONBLOCK | O_DIRECT)) < 0) {
		snprintf(msg, msglen, "pipe:[%llu] %s end: %s", (unsigned long long)opipe(o)->ino,
			 w ? "write" : "read", strerror(errno));
		return -1;
	}
	/* the ends pipe2 made go with the pipe's last description: their
	   numbers may be ones the table takes later (closed in post, they
	   closed the restored fd 0 or 1) */
	int later = 0, seen = 0;
	for (uint32_t i = 0; i < c->nr_objs; i++) {
		const struct rs_obj *q = &c->objs[i];
		if (q->h->kind != CKPT_OBJ_PIPE || opipe(q)->ino != opipe(o)->ino)
			continue;
		later += seen;
		seen |= q == o;
	}
	for (int e = 0; !later && e < 2; e++)
		if (lp->end[e] >= 0) {
			close(lp->end[e]);
			lp->end[e] = -1;
		}
	return fd;
}

/* Every end is parked: the ends pipe2 made go (an end the image does not
   hold is closed now, as it was at checkpoint time). */
static int pipe_post(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	(void)c;
	(void)o;
	(void)msg;
	(void)msglen;
	for (int i = 0; i < nr_pipes; i++)
		for (int e = 0; e < 2; e++)
			if (pipes[i].end[e] >= 0) {
				close(pipes[i].end[e]);
				pipes[i].end[e] = -1;
			}
	return 0;
}

static void pipe_inspect(struct json *j, const struct rs_obj *o)
{
	json_uint(j, "inode", opipe(o)->ino);
	json_str(j, "end", ((int)o->h->open_flags & O_ACCMODE) == O_WRONLY ? "write" : "read");
	json_uint(j, "pipeSize", opipe(o)->pipe_size);
	json_uint(j, "bufferedBytes", opipe(o)->data_len);
}

static void pipe_describe(const struct rs_obj *o, char *buf, size_t len)
{
	snprintf(buf, len, "pipe:[%llu] (%s end%s)", (unsigned long long)opipe(o)->ino,
		 ((int)o->h->open_flags & O_ACCMODE) == O_WRONLY ? "write" : "read",
		 opipe(o)->data_len ? ", with buffered bytes" : "");
}

const struct fd_kind fd_kind_pipe = {
	.kind = CKPT_OBJ_PIPE,
	.name = "pipe",
	.dump = pipe_dump,
	.dump_done = pipe_dump_done,
	.check = pipe_check,
	.open = pipe_open,
	.post = pipe_post,
	.inspect = pipe_inspect,
	.describe = pipe_describe,
	.on_restart = "made again with the bytes it held",
};
