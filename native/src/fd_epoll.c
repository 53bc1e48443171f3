// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_EPOLL: an epoll instance ("anon_inode:[eventpoll]") with its
 * interest list: for each entry the watched descriptor's number, the events
 * (with EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE, EPOLLWAKEUP) and the data word,
 * from the "tfd:" lines of fdinfo.
 *
 * An entry belongs to a file, not to a number: a descriptor closed after it
 * was added while a dup of it lives on leaves the entry behind, and its
 * number may since have been reused. Every entry is checked with
 * kcmp(KCMP_EPOLL_TFD) (and the inode the line names): if its number no
 * longer leads to the watched file, the checkpoint is refused naming it.
 *
 * Restart: the entries are added again in `post`, once every descriptor of
 * the process has its final number (an epoll may watch another epoll). The
 * ready list is not stored: EPOLL_CTL_ADD polls each file, so what is ready
 * follows from the restored objects' state (an edge-triggered entry whose
 * file is ready gets one event again; a fired EPOLLONESHOT entry stays
 * disabled, its events being empty).
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
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define KCMP_EPOLL_TFD_ 7
struct kcmp_epoll_slot_ {
	uint32_t efd, tfd, toff;
};

/* An entry's file is the one its number leads to in the target now. */
static int item_same_file(struct dump *d, const struct fd_probe *p, int tfd, uint64_t ino,
			  uint32_t sdev, uint32_t toff)
{
	char path[64], link[CKPT_PATH_MAX];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", p->pid, tfd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return fd_refuse(d, p, ENOTSUP,
				 "epoll watches a file added as fd %d (inode %llu), but fd %d is "
				 "closed now: the watched file cannot be found again to re-add it",
				 tfd, (unsigned long long)ino, tfd);
	link[n] = '\0';
	struct stat st;
	int same_ino = stat(path, &st) == 0 && (uint64_t)st.st_ino == ino &&
		       st.st_dev == makedev(sdev >> 20, sdev & 0xfffff);
	struct kcmp_epoll_slot_ slot = {.efd = (uint32_t)p->fd, .tfd = (uint32_t)tfd, .toff = toff};
	long k = same_ino ? syscall(SYS_kcmp, p->pid, p->pid, KCMP_EPOLL_TFD_, tfd, &slot) : 1;
	if (k < 0)
		return fd_refuse(d, p, errno, "epoll: kcmp of its entry for fd %d", tfd);
	if (k != 0)
		return fd_refuse(d, p, ENOTSUP,
				 "epoll watches a file added as fd %d (inode %llu), but fd %d is now "
				 "%s, another file (closed and the number reused): the watched file "
				 "cannot be found again to re-add it",
				 tfd, (unsigned long long)ino, tfd, link);
	return 0;
}

static int epoll_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	if (strcmp(p->link, "anon_inode:[eventpoll]"))
		return 1;
	struct ckpt_img_oepoll h = {0};
	int rc = dump_obj_put(d, o, &h, sizeof(h));
	for (const char *l = p->fdinfo; !rc && l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l) {
		if (strncmp(l, "tfd:", 4))
			continue;
		int tfd;
		unsigned int ev, sdev;
		unsigned long long data, ino;
		long long pos;
		if (sscanf(l, "tfd: %d events: %x data: %llx pos:%lli ino:%llx sdev:%x", &tfd, &ev,
			   &data, &pos, &ino, &sdev) != 6 ||
		    tfd < 0)
			return fd_refuse(d, p, EINVAL, "epoll: unreadable fdinfo line \"%.60s\"", l);
		/* toff: earlier entries with the same number (kcmp's index) */
		uint32_t toff = 0;
		const struct ckpt_img_epoll_item *it = (const void *)(o->body + sizeof(h));
		for (uint32_t i = 0; i < h.nr_items; i++)
			toff += it[i].tfd == tfd;
		rc = item_same_file(d, p, tfd, ino, sdev, toff);
		if (rc)
			return rc;
		struct ckpt_img_epoll_item item = {.tfd = tfd, .events = ev, .data = data};
		rc = dump_obj_put(d, o, &item, sizeof(item));
		h.nr_items++;
	}
	if (!rc)
		memcpy(o->body, &h, sizeof(h));
	return rc;
}

/* ---- restart ---- */

static const struct ckpt_img_oepoll *oep(const struct rs_obj *o)
{
	return (const void *)o->body;
}

static const struct ckpt_img_epoll_item *items(const struct rs_obj *o)
{
	return (const void *)(o->body + sizeof(struct ckpt_img_oepoll));
}

static const char *epoll_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_oepoll)))
		return "epoll record cut short";
	uint32_t n = oep(o)->nr_items;
	if (n > (1u << 24) ||
	    !rs_obj_has(o, sizeof(struct ckpt_img_oepoll), (uint64_t)n * sizeof(*items(o))))
		return "epoll entries longer than the record";
	for (uint32_t i = 0; i < n; i++)
		if (items(o)[i].tfd < 0)
			return "epoll entry with a negative descriptor";
	if (o->h->open_flags & ~(uint32_t)(O_ACCMODE | O_NONBLOCK))
		return "epoll open flags other than O_RDWR and O_NONBLOCK";
	return NULL;
}

/* Every watched number is a descriptor of the image. */
static int epoll_verify(struct rs_ctx *c, struct rs_obj *o)
{
	for (uint32_t i = 0; i < oep(o)->nr_items; i++) {
		int tfd = items(o)[i].tfd, found = 0;
		for (uint32_t j = 0; !found && j < c->nr_fds; j++)
			found = c->fdt[j].f->fd == tfd;
		if (!found)
			return ckpt_fail(c->e, EBADMSG,
					 "image %s: epoll object %u watches fd %d, which the image "
					 "does not hold",
					 c->label, o->h->id, tfd);
	}
	return 0;
}

static int epoll_open(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	(void)c;
	int fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0 || ((o->h->open_flags & O_NONBLOCK) && fcntl(fd, F_SETFL, O_NONBLOCK) < 0)) {
		snprintf(msg, msglen, "epoll_create1: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int epoll_post(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	int efd = rs_obj_fd(c, o);
	for (uint32_t i = 0; i < oep(o)->nr_items; i++) {
		const struct ckpt_img_epoll_item *it = &items(o)[i];
		struct epoll_event ev = {.events = it->events, .data.u64 = it->data};
		if (epoll_ctl(efd, EPOLL_CTL_ADD, it->tfd, &ev) < 0) {
			snprintf(msg, msglen, "epoll object %u: re-adding fd %d (events %#x): %s",
				 o->h->id, it->tfd, it->events, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void epoll_inspect(struct json *j, const struct rs_obj *o)
{
	json_key(j, "interest");
	json_open(j, '[');
	for (uint32_t i = 0; i < oep(o)->nr_items; i++) {
		json_open(j, '{');
		json_int(j, "fd", items(o)[i].tfd);
		json_hex(j, "events", items(o)[i].events);
		json_hex(j, "data", items(o)[i].data);
		json_close(j, '}');
	}
	json_close(j, ']');
}

static void epoll_describe(const struct rs_obj *o, char *buf, size_t len)
{
	snprintf(buf, len, "anon_inode:[eventpoll] (%u watched)", oep(o)->nr_items);
}

const struct fd_kind fd_kind_epoll = {
	.kind = CKPT_OBJ_EPOLL,
	.name = "epoll",
	.dump = epoll_dump,
	.check = epoll_check,
	.verify = epoll_verify,
	.open = epoll_open,
	.post = epoll_post,
	.inspect = epoll_inspect,
	.describe = epoll_describe,
	.on_restart = "made again; its interest list re-added once every descriptor is in place",
};
