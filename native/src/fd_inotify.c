// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_INOTIFY: an inotify instance ("anon_inode:inotify") with its
 * watches: wd, mask and the watched inode by path.
 *
 * Checkpoint: each "inotify wd:" line of fdinfo gives the inode (ino, sdev)
 * and a file handle; the handle is opened with open_by_handle_at on a mount
 * of that device (from the target's mountinfo) and the path read back from
 * the descriptor, then checked to lead to the same inode. Events already
 * queued cannot be put back into a new instance: if any are (FIONREAD on our
 * duplicate), the checkpoint is refused rather than lose them.
 *
 * Restart: watches are added in increasing wd order (IN_DONT_FOLLOW: the
 * path is the inode's own). The kernel gives wds cyclically, one after the
 * last given; a gap in the recorded numbers is skipped by adding and removing
 * a watch on an unwatched directory, and the IN_IGNORED events this makes are
 * read out before the process runs. So every watch keeps its wd. Events of
 * the watched paths between the checkpoint and the end of the restart are
 * not seen, as anything else that happens while the job is down.
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
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define INOTIFY_MAX_WD (1 << 16) /* wds a restart will skip up to */
#define INOTIFY_MASK_OK                                                                   \
	(IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK | IN_ONLYDIR | IN_DONT_FOLLOW | \
	 IN_MASK_ADD)

/* A path for the inode (dev, ino) with handle hex `hx`, via a mount of dev
   in the target's mount table. 0, or -errno with the message set. */
static int handle_path(struct dump *d, const struct fd_probe *p, dev_t dev, uint64_t ino,
		       unsigned int hbytes, int htype, const char *hx, char *out, size_t outlen)
{
	if (hbytes == 0 || hbytes > 128)
		return fd_refuse(d, p, ENOTSUP,
				 "inotify watches inode %llu on a filesystem that gives no file "
				 "handle: its path cannot be found",
				 (unsigned long long)ino);
	union {
		struct file_handle fh;
		unsigned char b[sizeof(struct file_handle) + 128];
	} h;
	h.fh.handle_bytes = hbytes;
	h.fh.handle_type = htype;
	for (unsigned int i = 0; i < hbytes; i++)
		if (sscanf(hx + 2 * i, "%2hhx", &h.b[sizeof(struct file_handle) + i]) != 1)
			return fd_refuse(d, p, EINVAL, "inotify: unreadable f_handle in fdinfo");
	char mi[64];
	snprintf(mi, sizeof(mi), "/proc/%d/mountinfo", p->pid);
	FILE *f = fopen(mi, "re");
	if (!f)
		return fd_refuse(d, p, errno, "inotify: read %s", mi);
	char line[4096];
	int rc = -ENOENT;
	while (rc && fgets(line, sizeof(line), f)) {
		unsigned int maj, mnr;
		char mp[CKPT_PATH_MAX];
		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &maj, &mnr, mp) != 3 ||
		    makedev(maj, mnr) != dev)
			continue;
		char root[CKPT_PATH_MAX + 32];
		snprintf(root, sizeof(root), "/proc/%d/root%s", p->pid, mp);
		int mfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* not O_PATH: EBADF */
		if (mfd < 0)
			continue;
		int fd = open_by_handle_at(mfd, &h.fh, O_PATH | O_CLOEXEC);
		close(mfd);
		if (fd < 0)
			continue;
		char self[64];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(self, out, outlen - 1);
		close(fd);
		if (n <= 0)
			continue;
		out[n] = '\0';
		struct stat st;
		if (stat(out, &st) == 0 && st.st_dev == dev && (uint64_t)st.st_ino == ino)
			rc = 0;
	}
	fclose(f);
	if (rc)
		return fd_refuse(d, p, ENOTSUP,
				 "inotify watches inode %llu (device %u:%u), which no path leads to "
				 "now (removed, or on a mount this engine cannot see): the watch "
				 "cannot be added again",
				 (unsigned long long)ino, major(dev), minor(dev));
	return 0;
}

static int inotify_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	if (strcmp(p->link, "anon_inode:inotify"))
		return 1;
	if (p->local < 0)
		return fd_refuse(d, p, EPERM, "inotify: cannot take the descriptor (pidfd_getfd)");
	int queued = 0;
	if (ioctl(p->local, FIONREAD, &queued) < 0)
		return fd_refuse(d, p, errno, "inotify: FIONREAD");
	if (queued > 0)
		return fd_refuse(d, p, ENOTSUP,
				 "inotify has %d bytes of events queued and not read; they cannot "
				 "be put back into a new instance (checkpoint again once the "
				 "program has read them)",
				 queued);
	struct ckpt_img_oinotify h = {0};
	int rc = dump_obj_put(d, o, &h, sizeof(h));
	/* fdinfo lists marks newest first: collect, then write in wd order */
	int last = 0;
	for (;;) {
		int best = 0;
		const char *bl = NULL;
		for (const char *l = p->fdinfo; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l) {
			unsigned int wd;
			if (strncmp(l, "inotify wd:", 11) || sscanf(l, "inotify wd:%x", &wd) != 1)
				continue;
			if ((int)wd > last && (!best || (int)wd < best)) {
				best = (int)wd;
				bl = l;
			}
		}
		if (rc || !bl)
			break;
		last = best;
		unsigned int wd, sdev, mask, ign, hbytes;
		int htype;
		unsigned long long ino;
		char hx[300];
		int got = sscanf(bl,
				 "inotify wd:%x ino:%llx sdev:%x mask:%x ignored_mask:%x "
				 "fhandle-bytes:%x fhandle-type:%x f_handle:%299s",
				 &wd, &ino, &sdev, &mask, &ign, &hbytes, &htype, hx);
		if (got < 5)
			return fd_refuse(d, p, EINVAL, "inotify: unreadable fdinfo line \"%.60s\"", bl);
		if (got < 8)
			hbytes = 0;
		if (wd > INOTIFY_MAX_WD)
			return fd_refuse(d, p, ENOTSUP,
					 "inotify watch descriptor %u is above %d, which a restart "
					 "can give back",
					 wd, INOTIFY_MAX_WD);
		dev_t dev = makedev(sdev >> 20, sdev & 0xfffff);
		char path[CKPT_PATH_MAX];
		rc = handle_path(d, p, dev, ino, hbytes, htype, hx, path, sizeof(path));
		if (rc)
			return rc;
		struct ckpt_img_inotify_watch w = {.wd = (int32_t)wd,
						   .mask = mask & INOTIFY_MASK_OK,
						   .dev = (uint64_t)dev,
						   .ino = ino,
						   .path_len = (uint32_t)strlen(path) + 1};
		static const char zero[8];
		rc = dump_obj_put(d, o, &w, sizeof(w));
		if (!rc)
			rc = dump_obj_put(d, o, path, w.path_len);
		if (!rc && w.path_len % 8)
			rc = dump_obj_put(d, o, zero, 8 - w.path_len % 8);
		h.nr_watches++;
	}
	if (!rc)
		memcpy(o->body, &h, sizeof(h));
	return rc;
}

/* ---- restart ---- */

static const struct ckpt_img_oinotify *oin(const struct rs_obj *o)
{
	return (const void *)o->body;
}

/* The i-th watch (the caller walks them in order); NULL if malformed. */
static const struct ckpt_img_inotify_watch *next_watch(const struct rs_obj *o, uint64_t *at,
						       const char **path)
{
	if (!rs_obj_has(o, *at, sizeof(struct ckpt_img_inotify_watch)))
		return NULL;
	const struct ckpt_img_inotify_watch *w = (const void *)(o->body + *at);
	*path = rs_obj_str(o, *at + sizeof(*w), w->path_len);
	if (!*path || w->path_len > CKPT_PATH_MAX)
		return NULL;
	*at += sizeof(*w) + ((w->path_len + 7) & ~7u);
	return w;
}

static const char *inotify_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_oinotify)))
		return "inotify record cut short";
	uint64_t at = sizeof(struct ckpt_img_oinotify);
	int last = 0;
	for (uint32_t i = 0; i < oin(o)->nr_watches; i++) {
		const char *path;
		const struct ckpt_img_inotify_watch *w = next_watch(o, &at, &path);
		if (!w)
			return "inotify watch cut short or its path not terminated";
		if (w->wd <= last || w->wd > INOTIFY_MAX_WD)
			return "inotify watch descriptors out of order or out of range";
		if (w->mask & ~(uint32_t)INOTIFY_MASK_OK)
			return "inotify watch mask has unknown bits";
		last = w->wd;
	}
	if (o->h->open_flags & ~(uint32_t)(O_ACCMODE | O_NONBLOCK))
		return "inotify open flags other than O_RDONLY and O_NONBLOCK";
	return NULL;
}

static int inotify_verify(struct rs_ctx *c, struct rs_obj *o)
{
	uint64_t at = sizeof(struct ckpt_img_oinotify);
	for (uint32_t i = 0; i < oin(o)->nr_watches; i++) {
		const char *path;
		const struct ckpt_img_inotify_watch *w = next_watch(o, &at, &path);
		char real[CKPT_PATH_MAX], what[64];
		rs_relocate(c, path, real);
		snprintf(what, sizeof(what), "inotify watch %d (object %u)", w->wd, o->h->id);
		int rc = rs_check_file(c, what, path, real, -1, w->dev, w->ino);
		if (rc)
			return rc;
	}
	return 0;
}

/* A directory no watch is on, to skip watch descriptors with. */
static const char *spare_dir(const struct rs_obj *o)
{
	static const char *const cand[] = {"/", "/proc", "/dev", "/sys", "/tmp"};
	for (size_t k = 0; k < sizeof(cand) / sizeof(cand[0]); k++) {
		struct stat st;
		if (stat(cand[k], &st) < 0)
			continue;
		int used = 0;
		uint64_t at = sizeof(struct ckpt_img_oinotify);
		for (uint32_t i = 0; !used && i < oin(o)->nr_watches; i++) {
			const char *path;
			const struct ckpt_img_inotify_watch *w = next_watch(o, &at, &path);
			used = w->ino == (uint64_t)st.st_ino && w->dev == (uint64_t)st.st_dev;
		}
		if (!used)
			return cand[k];
	}
	return NULL;
}

static int inotify_open(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0) {
		snprintf(msg, msglen, "inotify_init1: %s", strerror(errno));
		return -1;
	}
	uint64_t at = sizeof(struct ckpt_img_oinotify);
	int last = 0, skipped = 0;
	const char *spare = NULL;
	for (uint32_t i = 0; i < oin(o)->nr_watches; i++) {
		const char *path;
		const struct ckpt_img_inotify_watch *w = next_watch(o, &at, &path);
		while (last < w->wd - 1) {
			if (!spare && !(spare = spare_dir(o))) {
				snprintf(msg, msglen, "inotify: no unwatched directory to skip wd %d with",
					 last + 1);
				goto fail;
			}
			int s = inotify_add_watch(fd, spare, IN_DELETE_SELF | IN_ONLYDIR);
			if (s < 0 || s >= w->wd || inotify_rm_watch(fd, s) < 0) {
				snprintf(msg, msglen, "inotify: skipping wd %d with a watch on %s: %s",
					 last + 1, spare, s < 0 ? strerror(errno) : "wrong number");
				goto fail;
			}
			last = s;
			skipped = 1;
		}
		char real[CKPT_PATH_MAX];
		rs_relocate(c, path, real);
		int wd = inotify_add_watch(fd, real, w->mask | IN_DONT_FOLLOW);
		if (wd != w->wd) {
			snprintf(msg, msglen, "inotify: watch on %s (mask %#x): %s%d, wanted wd %d",
				 real, w->mask, wd < 0 ? strerror(errno) : "got wd ", wd < 0 ? 0 : wd,
				 w->wd);
			goto fail;
		}
		last = wd;
	}
	if (skipped) { /* the IN_IGNORED events of the skipping watches */
		char buf[4096];
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	}
	if (!(o->h->open_flags & O_NONBLOCK) && fcntl(fd, F_SETFL, 0) < 0) {
		snprintf(msg, msglen, "inotify: clear O_NONBLOCK: %s", strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

static void inotify_inspect(struct json *j, const struct rs_obj *o)
{
	json_key(j, "watches");
	json_open(j, '[');
	uint64_t at = sizeof(struct ckpt_img_oinotify);
	for (uint32_t i = 0; i < oin(o)->nr_watches; i++) {
		const char *path;
		const struct ckpt_img_inotify_watch *w = next_watch(o, &at, &path);
		json_open(j, '{');
		json_int(j, "wd", w->wd);
		json_hex(j, "mask", w->mask);
		json_str(j, "path", path);
		json_close(j, '}');
	}
	json_close(j, ']');
}

static void inotify_describe(const struct rs_obj *o, char *buf, size_t len)
{
	snprintf(buf, len, "anon_inode:inotify (%u watches)", oin(o)->nr_watches);
}

const struct fd_kind fd_kind_inotify = {
	.kind = CKPT_OBJ_INOTIFY,
	.name = "inotify",
	.dump = inotify_dump,
	.check = inotify_check,
	.verify = inotify_verify,
	.open = inotify_open,
	.inspect = inotify_inspect,
	.describe = inotify_describe,
	.on_restart = "made again with its watches by path, each with its wd",
};
