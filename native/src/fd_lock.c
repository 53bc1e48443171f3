// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_LOCK: file locks the process holds: flock(2), POSIX (fcntl
 * F_SETLK) and open-file-description (F_OFD_SETLK) locks, one record each.
 * Not a descriptor kind: after the walk (dump_done), the "lock:" lines of
 * /proc/PID/fdinfo/N of the first descriptor of each description are read
 * (they show the locks held through that description: flock and OFD locks
 * of the description, POSIX locks of this process set through it).
 * Leases, delegations and mandatory locks are refused.
 *
 * Restart: in the new process once every descriptor has its number (post),
 * before it runs any of its own code: each lock is taken again, without
 * waiting, through its descriptor. If another process took it meanwhile,
 * the restart is refused naming the file, the range and the holder.
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
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *type_name(uint32_t t)
{
	return t == CKPT_LOCK_FLOCK ? "flock" : t == CKPT_LOCK_POSIX ? "POSIX" : "OFD";
}

static int lock_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	(void)d;
	(void)p;
	(void)o;
	return 1; /* not a descriptor kind: see lock_dump_done */
}

/* One "lock:" line: "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF". */
static int parse(struct dump *d, const struct dump_fd *df, const char *l, struct ckpt_img_olock *k)
{
	char type[16], adv[16], rw[16], end[32];
	unsigned maj, min;
	unsigned long long ino, start;
	int pid;
	if (sscanf(l, "%*d: %15s %15s %15s %d %x:%x:%llu %llu %31s", type, adv, rw, &pid, &maj,
		   &min, &ino, &start, end) != 9)
		return ckpt_fail(d->e, EINVAL, "pid %d fd %d (%s): lock line not understood: %.80s",
				 d->pid, df->f.fd, df->link, l);
	memset(k, 0, sizeof(*k));
	k->fd = df->f.fd;
	if (!strcmp(type, "FLOCK"))
		k->type = CKPT_LOCK_FLOCK;
	else if (!strcmp(type, "POSIX"))
		k->type = CKPT_LOCK_POSIX;
	else if (!strcmp(type, "OFDLCK"))
		k->type = CKPT_LOCK_OFD;
	if (!k->type || strcmp(adv, "ADVISORY") || (strcmp(rw, "READ") && strcmp(rw, "WRITE")))
		return ckpt_fail(d->e, ENOTSUP,
				 "pid %d fd %d (%s): %s %s %s lock cannot be checkpointed (leases, "
				 "delegations and mandatory locks are not restored)",
				 d->pid, df->f.fd, df->link, type, adv, rw);
	k->write = !strcmp(rw, "WRITE");
	k->start = start;
	if (strcmp(end, "EOF")) {
		unsigned long long e = strtoull(end, NULL, 10);
		k->len = e >= start ? e - start + 1 : 0;
	}
	k->dev = makedev(maj, min);
	k->ino = ino;
	return 0;
}

static int lock_dump_done(struct dump *d)
{
	int rc = 0;
	for (uint32_t i = 0; !rc && i < d->nr_fds; i++) {
		const struct dump_fd *df = &d->fds[i];
		int first = 1;
		for (uint32_t j = 0; j < i; j++)
			first &= d->fds[j].f.obj != df->f.obj;
		if (!first)
			continue;
		char p[64], buf[16384];
		snprintf(p, sizeof(p), "/proc/%d/fdinfo/%d", d->pid, df->f.fd);
		FILE *f = fopen(p, "re");
		if (!f)
			return ckpt_fail_errno(d->e, errno, "open %s", p);
		while (!rc && fgets(buf, sizeof(buf), f)) {
			if (strncmp(buf, "lock:", 5))
				continue;
			struct ckpt_img_olock k;
			rc = parse(d, df, buf + 5 + strspn(buf + 5, " \t"), &k);
			struct dump_obj *o = rc ? NULL : dump_obj_add(d, CKPT_OBJ_LOCK);
			if (!rc && !o)
				rc = -ENOMEM;
			if (!rc) {
				o->first_fd = df->f.fd;
				rc = dump_obj_put(d, o, &k, sizeof(k));
			}
		}
		fclose(f);
	}
	return rc;
}

/* ---- restart ---- */

static const struct ckpt_img_olock *olock(const struct rs_obj *o)
{
	return (const void *)o->body;
}

static const char *lock_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_olock)))
		return "lock record cut short";
	const struct ckpt_img_olock *k = olock(o);
	if (k->type < CKPT_LOCK_FLOCK || k->type > CKPT_LOCK_OFD || k->write > 1 || k->fd < 0)
		return "unknown lock type or mode, or negative descriptor";
	if (k->start > INT64_MAX || k->len > INT64_MAX)
		return "lock range out of bounds";
	return NULL;
}

static int lock_verify(struct rs_ctx *c, struct rs_obj *o)
{
	const struct ckpt_img_olock *k = olock(o);
	for (uint32_t i = 0; i < c->nr_fds; i++)
		if (c->fdt[i].f->fd == k->fd)
			return 0;
	return ckpt_fail(c->e, EBADMSG, "image %s: %s lock (object %u) is held through fd %d, "
			 "which is not in the image", c->label, type_name(k->type), o->h->id, k->fd);
}

/* Who holds a conflicting lock on dev/ino now (from /proc/locks), or 0. */
static int holder(uint64_t dev, uint64_t ino, char *what, size_t len)
{
	FILE *f = fopen("/proc/locks", "re");
	char l[512];
	int pid = 0;
	while (f && !pid && fgets(l, sizeof(l), f)) {
		char type[16], rw[16];
		unsigned maj, min;
		unsigned long long i;
		int p;
		if (strstr(l, "->") ||
		    sscanf(l, "%*d: %15s %*s %15s %d %x:%x:%llu", type, rw, &p, &maj, &min, &i) != 6)
			continue;
		if (makedev(maj, min) == dev && i == ino && p != getpid()) {
			pid = p ? p : -1;
			snprintf(what, len, "%s %s", type, rw);
		}
	}
	if (f)
		fclose(f);
	return pid;
}

static int lock_post(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	(void)c;
	const struct ckpt_img_olock *k = olock(o);
	int r;
	if (k->type == CKPT_LOCK_FLOCK) {
		r = flock(k->fd, (k->write ? LOCK_EX : LOCK_SH) | LOCK_NB);
	} else {
		struct flock fl = {.l_type = k->write ? F_WRLCK : F_RDLCK,
				   .l_whence = SEEK_SET,
				   .l_start = (off_t)k->start,
				   .l_len = (off_t)k->len};
		r = fcntl(k->fd, k->type == CKPT_LOCK_POSIX ? F_SETLK : F_OFD_SETLK, &fl);
	}
	if (!r)
		return 0;
	int err = errno;
	char path[CKPT_PATH_MAX] = "?", self[64], range[64], what[64] = "";
	snprintf(self, sizeof(self), "/proc/self/fd/%d", k->fd);
	ssize_t n = readlink(self, path, sizeof(path) - 1);
	if (n > 0)
		path[n] = '\0';
	if (k->type == CKPT_LOCK_FLOCK)
		snprintf(range, sizeof(range), "whole file");
	else if (k->len)
		snprintf(range, sizeof(range), "bytes %llu-%llu", (unsigned long long)k->start,
			 (unsigned long long)(k->start + k->len - 1));
	else
		snprintf(range, sizeof(range), "bytes %llu-EOF", (unsigned long long)k->start);
	int who = (err == EAGAIN || err == EACCES || err == EWOULDBLOCK)
			  ? holder(k->dev, k->ino, what, sizeof(what))
			  : 0;
	char by[96] = "";
	if (who > 0)
		snprintf(by, sizeof(by), ": held now by pid %d (%s)", who, what);
	else if (who < 0)
		snprintf(by, sizeof(by), ": held now through another open file description (%s)",
			 what);
	snprintf(msg, msglen, "fd %d (%s): cannot take its %s %s lock (%s) again: %s%s", k->fd,
		 path, type_name(k->type), k->write ? "write" : "read", range, strerror(err), by);
	return -1;
}

static void lock_inspect(struct json *j, const struct rs_obj *o)
{
	const struct ckpt_img_olock *k = olock(o);
	json_int(j, "fd", k->fd);
	json_str(j, "type", type_name(k->type));
	json_str(j, "mode", k->write ? "write" : "read");
	json_uint(j, "start", k->start);
	json_uint(j, "len", k->len);
	json_uint(j, "inode", k->ino);
}

static void lock_describe(const struct rs_obj *o, char *buf, size_t len)
{
	const struct ckpt_img_olock *k = olock(o);
	snprintf(buf, len, "%s %s lock through fd %d", type_name(k->type),
		 k->write ? "write" : "read", k->fd);
}

/*
 * POSIX locks belong to the process and go when it closes ANY descriptor of
 * the file: rebuilding the address space opens and closes a file the
 * process maps (a sqlite -shm file is both locked and mapped), which drops
 * the lock taken in post. So, in the helper once the address space is done,
 * every POSIX lock is taken again by the process itself (injected fcntl;
 * taking a lock one already holds is a no-op).
 */
int rs_locks_after_mm(struct rs_ctx *c)
{
	for (uint32_t i = 0; i < c->nr_objs; i++) {
		struct rs_obj *o = &c->objs[i];
		if (o->h->kind != CKPT_OBJ_LOCK || olock(o)->type != CKPT_LOCK_POSIX)
			continue;
		const struct ckpt_img_olock *k = olock(o);
		struct flock fl = {.l_type = k->write ? F_WRLCK : F_RDLCK,
				   .l_whence = SEEK_SET,
				   .l_start = (off_t)k->start,
				   .l_len = (off_t)k->len};
		int rc = rs_write_mem(c, c->scratch, &fl, sizeof(fl));
		long r = 0;
		if (!rc)
			rc = rs_sys(c, c->pid, "fcntl(F_SETLK) again after the address space", 0, &r,
				    SYS_fcntl, k->fd, F_SETLK, (long)c->scratch, 0, 0, 0);
		if (!rc && r < 0)
			rc = ckpt_fail(c->e, (int)-r,
				       "POSIX lock on fd %d (bytes %llu, length %llu) could not be "
				       "taken again after the address space was rebuilt: %s",
				       k->fd, (unsigned long long)k->start, (unsigned long long)k->len,
				       strerror((int)-r));
		if (rc)
			return rc;
	}
	return 0;
}

const struct fd_kind fd_kind_lock = {
	.kind = CKPT_OBJ_LOCK,
	.name = "lock",
	.dump = lock_dump,
	.dump_done = lock_dump_done,
	.check = lock_check,
	.verify = lock_verify,
	.post = lock_post,
	.inspect = lock_inspect,
	.describe = lock_describe,
	.on_restart = "taken again before the process runs; refused if someone else holds it",
};
