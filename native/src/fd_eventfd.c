// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_EVENTFD: an eventfd ("anon_inode:[eventfd]") with its counter and
 * semaphore mode. Checkpoint reads both from fdinfo ("eventfd-count:" in hex,
 * "eventfd-semaphore:" on 6.x kernels); nothing is read from the descriptor
 * (a read would take the count). Restart: eventfd(0) with the flags, then
 * the count written in (eventfd's initval is only 32 bits wide).
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
#include <sys/eventfd.h>
#include <unistd.h>

static int eventfd_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	if (strcmp(p->link, "anon_inode:[eventfd]"))
		return 1;
	struct ckpt_img_oeventfd e = {0};
	const char *v = fd_info_field(p, "eventfd-count");
	char *end;
	errno = 0;
	if (!v || (e.count = strtoull(v, &end, 16), errno) || end == v)
		return fd_refuse(d, p, EINVAL, "eventfd: no readable eventfd-count in fdinfo");
	v = fd_info_field(p, "eventfd-semaphore");
	if (!v)
		return fd_refuse(d, p, ENOTSUP,
				 "eventfd: this kernel does not show eventfd-semaphore in fdinfo; "
				 "its semaphore mode cannot be known");
	if (atoi(v))
		e.flags |= CKPT_OEVENTFD_F_SEMAPHORE;
	return dump_obj_put(d, o, &e, sizeof(e));
}

static const struct ckpt_img_oeventfd *oev(const struct rs_obj *o)
{
	return (const void *)o->body;
}

static const char *eventfd_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_oeventfd)))
		return "eventfd record cut short";
	if (oev(o)->flags & ~CKPT_OEVENTFD_F_SEMAPHORE)
		return "eventfd record has unknown flags";
	if (oev(o)->count == UINT64_MAX)
		return "eventfd count out of range (2^64-1)";
	if (o->h->open_flags & ~(uint32_t)(O_ACCMODE | O_NONBLOCK))
		return "eventfd open flags other than O_RDWR and O_NONBLOCK";
	return NULL;
}

static int eventfd_open(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	(void)c;
	const struct ckpt_img_oeventfd *e = oev(o);
	int fl = EFD_CLOEXEC | ((e->flags & CKPT_OEVENTFD_F_SEMAPHORE) ? EFD_SEMAPHORE : 0) |
		 ((o->h->open_flags & O_NONBLOCK) ? EFD_NONBLOCK : 0);
	int fd = eventfd(0, fl);
	if (fd < 0) {
		snprintf(msg, msglen, "eventfd: %s", strerror(errno));
		return -1;
	}
	if (e->count && write(fd, &e->count, sizeof(e->count)) != sizeof(e->count)) {
		snprintf(msg, msglen, "eventfd: setting its count to %llu: %s",
			 (unsigned long long)e->count, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void eventfd_inspect(struct json *j, const struct rs_obj *o)
{
	json_uint(j, "count", oev(o)->count);
	json_bool(j, "semaphore", !!(oev(o)->flags & CKPT_OEVENTFD_F_SEMAPHORE));
}

static void eventfd_describe(const struct rs_obj *o, char *buf, size_t len)
{
	snprintf(buf, len, "anon_inode:[eventfd] (count %llu%s)",
		 (unsigned long long)oev(o)->count,
		 (oev(o)->flags & CKPT_OEVENTFD_F_SEMAPHORE) ? ", semaphore" : "");
}

const struct fd_kind fd_kind_eventfd = {
	.kind = CKPT_OBJ_EVENTFD,
	.name = "eventfd",
	.dump = eventfd_dump,
	.check = eventfd_check,
	.open = eventfd_open,
	.inspect = eventfd_inspect,
	.describe = eventfd_describe,
	.on_restart = "made again with its count and semaphore mode",
};
