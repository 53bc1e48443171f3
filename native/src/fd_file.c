// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_FILE: a descriptor reopened by its path with its open flags and
 * offset: regular files, directories, character and block devices. A
 * regular file unlinked while open keeps its content in the image and comes
 * back as an unlinked file with that content, in the same directory when it
 * still exists (O_TMPFILE), else in /tmp.
 * Not taken here (other kinds, or refused): memfd ("/memfd:"), named FIFOs,
 * sockets, anon inodes, anything without a path. Refused: a pty master, a
 * POSIX message queue, and a file whose path does not lead back to it from
 * the checkpointer (reopening it would open something else, or nothing).
 */
#include "dump.h"
#include "fd.h"
#include "json.h"
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define DELETED_SUFFIX " (deleted)"
#define MQUEUE_MAGIC_ 0x19800202

/* The pty multiplexer (/dev/ptmx, /dev/pts/ptmx): opening it makes a new
   pty, so a master reopened by its path would be another pty, with no
   process on the slave side. */
static int pty_master(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) == 5 && minor(st->st_rdev) == 2;
}

static int deleted(const char *link)
{
	size_t n = strlen(link), s = strlen(DELETED_SUFFIX);
	return n > s && !strcmp(link + n - s, DELETED_SUFFIX);
}

static int file_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	mode_t m = p->st.st_mode;
	if (!p->has_stat || p->link[0] != '/' || !strncmp(p->link, "/memfd:", 7))
		return 1;
	if (!S_ISREG(m) && !S_ISDIR(m) && !S_ISCHR(m) && !S_ISBLK(m))
		return 1;
	struct ckpt_img_ofile f = {.pos = p->pos,
				   .dev = (uint64_t)p->st.st_dev,
				   .ino = (uint64_t)p->st.st_ino,
				   .size = (uint64_t)p->st.st_size,
				   .mode = (uint32_t)m};
	if (pty_master(&p->st))
		return fd_refuse(d, p, ENOTSUP,
				 "pty master: a restart would open a new pty, not this one "
				 "(ptys are not restored)");
	struct statfs sf;
	if (p->local >= 0 && fstatfs(p->local, &sf) == 0 && sf.f_type == MQUEUE_MAGIC_)
		return fd_refuse(d, p, ENOTSUP,
				 "POSIX message queue: its messages and attributes are not "
				 "restored");
	char path[CKPT_PATH_MAX];
	snprintf(path, sizeof(path), "%s", p->link);
	struct stat here;
	if (!deleted(path) &&
	    (stat(path, &here) < 0 || here.st_dev != p->st.st_dev || here.st_ino != p->st.st_ino))
		return fd_refuse(d, p, ENOTSUP,
				 "its path leads elsewhere from the checkpointer (a file of a "
				 "filesystem mounted only for the process, or a pseudo "
				 "filesystem): a restart could not reopen it");
	if (deleted(path)) {
		if (!S_ISREG(m))
			return fd_refuse(d, p, ENOTSUP,
					 "a device or directory removed while open cannot be "
					 "reopened");
		if (p->local < 0)
			return fd_refuse(d, p, EPERM, "unlinked file: cannot take its descriptor "
					 "to read the content (pidfd_getfd)");
		path[strlen(path) - strlen(DELETED_SUFFIX)] = '\0';
		f.flags |= CKPT_OFILE_F_DELETED;
		f.data_len = f.size;
	}
	f.path_len = (uint32_t)strlen(path) + 1;
	int rc = dump_obj_put(d, o, &f, sizeof(f));
	if (!rc)
		rc = dump_obj_put(d, o, path, f.path_len);
	if (rc || !(f.flags & CKPT_OFILE_F_DELETED))
		return rc;
	/* the content, read through our duplicate (pread: its offset stays) */
	char buf[65536];
	for (uint64_t at = 0; at < f.data_len;) {
		size_t want = f.data_len - at < sizeof(buf) ? (size_t)(f.data_len - at) : sizeof(buf);
		ssize_t n = pread(p->local, buf, want, (off_t)at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fd_refuse(d, p, n < 0 ? errno : EIO,
					 "unlinked file: reading its content at %llu of %llu bytes "
					 "failed",
					 (unsigned long long)at, (unsigned long long)f.data_len);
		if ((rc = dump_obj_put(d, o, buf, (size_t)n)))
			return rc;
		at += (uint64_t)n;
	}
	return 0;
}

static const struct ckpt_img_ofile *ofile(const struct rs_obj *o)
{
	return (const void *)o->body;
}

static const char *file_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_ofile)))
		return "file record cut short";
	const struct ckpt_img_ofile *f = ofile(o);
	if (!rs_obj_str(o, sizeof(*f), f->path_len) || f->path_len > CKPT_PATH_MAX)
		return "file path not terminated or too long";
	if (f->flags & ~CKPT_OFILE_F_DELETED)
		return "unknown file flags";
	if (!rs_obj_has(o, sizeof(*f) + f->path_len, f->data_len) ||
	    (f->data_len && !(f->flags & CKPT_OFILE_F_DELETED)))
		return "file content cut short or unexpected";
	return NULL;
}

static int file_verify(struct rs_ctx *c, struct rs_obj *o)
{
	const struct ckpt_img_ofile *f = ofile(o);
	const char *path = (const char *)(f + 1);
	o->path = malloc(CKPT_PATH_MAX);
	if (!o->path)
		return ckpt_fail(c->e, ENOMEM, "no memory");
	rs_relocate(c, path, o->path);
	if (f->flags & CKPT_OFILE_F_DELETED)
		return 0; /* made again from its content */
	char what[64];
	snprintf(what, sizeof(what), "file (object %u)", o->h->id);
	return rs_check_file(c, what, path, o->path,
			     S_ISDIR(f->mode) ? 1 : S_ISREG(f->mode) ? 0 : -1, f->dev, f->ino);
}

/* An unlinked file with the image's content, at offset 0, read-write. */
static int make_unlinked(const struct rs_obj *o, char *msg, size_t msglen)
{
	const struct ckpt_img_ofile *f = ofile(o);
	char dir[CKPT_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", o->path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), "/");
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, f->mode & 07777);
	if (fd < 0)
		fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, f->mode & 07777);
	if (fd < 0) {
		snprintf(msg, msglen, "unlinked file %s: O_TMPFILE in %s and in /tmp: %s", o->path,
			 dir, strerror(errno));
		return -1;
	}
	const unsigned char *data = o->body + sizeof(*f) + f->path_len;
	for (uint64_t at = 0; at < f->data_len;) {
		ssize_t n = pwrite(fd, data + at, f->data_len - at, (off_t)at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(msg, msglen, "unlinked file %s: writing %llu bytes of content: %s",
				 o->path, (unsigned long long)f->data_len, strerror(errno));
			close(fd);
			return -1;
		}
		at += (uint64_t)n;
	}
	return fd;
}

static int file_open(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	const struct ckpt_img_ofile *f = ofile(o);
	int fl = (int)o->h->open_flags & ~(O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC | O_TMPFILE);
	if (S_ISDIR(f->mode))
		fl |= O_DIRECTORY;
	int fd;
	if (f->flags & CKPT_OFILE_F_DELETED) {
		int tmp = make_unlinked(o, msg, msglen);
		if (tmp < 0)
			return -1;
		/* a description with the recorded flags (read-only, append...) */
		char self[64];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", tmp);
		fd = open(self, fl | O_NOCTTY | O_CLOEXEC);
		close(tmp);
	} else {
		fd = open(o->path, fl | O_NOCTTY | O_CLOEXEC);
	}
	if (fd < 0) {
		snprintf(msg, msglen, "reopen %s: %s", o->path, strerror(errno));
		return -1;
	}
	if ((S_ISREG(f->mode) || S_ISDIR(f->mode) || S_ISBLK(f->mode)) && f->pos &&
	    lseek(fd, (off_t)f->pos, SEEK_SET) < 0) {
		snprintf(msg, msglen, "seek %s to %llu: %s", o->path, (unsigned long long)f->pos,
			 strerror(errno));
		close(fd);
		return -1;
	}
	(void)c;
	return fd;
}

static void file_inspect(struct json *j, const struct rs_obj *o)
{
	const struct ckpt_img_ofile *f = ofile(o);
	json_str(j, "path", (const char *)(f + 1));
	json_str(j, "type", S_ISDIR(f->mode) ? "directory" : S_ISCHR(f->mode) ? "chardev"
			    : S_ISBLK(f->mode)				? "blockdev"
									: "file");
	json_uint(j, "pos", f->pos);
	json_uint(j, "size", f->size);
	json_bool(j, "unlinked", !!(f->flags & CKPT_OFILE_F_DELETED));
	if (f->flags & CKPT_OFILE_F_DELETED)
		json_uint(j, "contentBytes", f->data_len);
}

static void file_describe(const struct rs_obj *o, char *buf, size_t len)
{
	const struct ckpt_img_ofile *f = ofile(o);
	snprintf(buf, len, "%s%s", (const char *)(f + 1),
		 (f->flags & CKPT_OFILE_F_DELETED) ? DELETED_SUFFIX : "");
}

const struct fd_kind fd_kind_file = {
	.kind = CKPT_OBJ_FILE,
	.name = "file",
	.dump = file_dump,
	.check = file_check,
	.verify = file_verify,
	.open = file_open,
	.inspect = file_inspect,
	.describe = file_describe,
	.on_restart = "reopened by path at its offset, or made again from its content if unlinked",
};
