// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_SIGNALFD: a signalfd ("anon_inode:[signalfd]") with its mask
 * ("sigmask:" of fdinfo) and O_NONBLOCK. It holds no data of its own: the
 * signals it reads are the process's pending signals, restored with the
 * process.
 */
#include "dump.h"
#include "fd.h"
#include "json.h"
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static int signalfd_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	if (strcmp(p->link, "anon_inode:[signalfd]"))
		return 1;
	struct ckpt_img_osignalfd s = {0};
	const char *v = fd_info_field(p, "sigmask");
	char *end;
	errno = 0;
	if (!v || (s.sigmask = strtoull(v, &end, 16), errno) || end == v)
		return fd_refuse(d, p, EINVAL, "signalfd: no readable sigmask in fdinfo");
	return dump_obj_put(d, o, &s, sizeof(s));
}

static const struct ckpt_img_osignalfd *osig(const struct rs_obj *o)
{
	return (const void *)o->body;
}

static const char *signalfd_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_osignalfd)))
		return "signalfd record cut short";
	if (o->h->open_flags & ~(uint32_t)(O_ACCMODE | O_NONBLOCK))
		return "signalfd open flags other than O_RDWR and O_NONBLOCK";
	return NULL;
}

static int signalfd_open(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	(void)c;
	sigset_t set;
	sigemptyset(&set);
	uint64_t m = osig(o)->sigmask;
	for (int s = 1; s <= 64; s++)
		if ((m >> (s - 1)) & 1)
			sigaddset(&set, s); /* SIGKILL/SIGSTOP: ignored, as by the kernel */
	int fd = signalfd(-1, &set,
			  SFD_CLOEXEC | ((o->h->open_flags & O_NONBLOCK) ? SFD_NONBLOCK : 0));
	if (fd < 0)
		snprintf(msg, msglen, "signalfd (mask %#llx): %s", (unsigned long long)m,
			 strerror(errno));
	return fd;
}

static void signalfd_inspect(struct json *j, const struct rs_obj *o)
{
	json_hex(j, "sigmask", osig(o)->sigmask);
}

static void signalfd_describe(const struct rs_obj *o, char *buf, size_t len)
{
	snprintf(buf, len, "anon_inode:[signalfd] (mask %#llx)",
		 (unsigned long long)osig(o)->sigmask);
}

const struct fd_kind fd_kind_signalfd = {
	.kind = CKPT_OBJ_SIGNALFD,
	.name = "signalfd",
	.dump = signalfd_dump,
	.check = signalfd_check,
	.open = signalfd_open,
	.inspect = signalfd_inspect,
	.describe = signalfd_describe,
	.on_restart = "made again with its signal mask",
};
