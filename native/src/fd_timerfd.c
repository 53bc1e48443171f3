// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_TIMERFD: a timerfd ("anon_inode:[timerfd]") with its clock, the
 * time left, the interval, the settime flags and the expirations not read
 * yet.
 *
 * Checkpoint: timerfd_gettime on our duplicate first. An interval timer that
 * expired is not re-armed by the kernel until it is read; gettime re-arms it
 * and adds the missed periods to the tick count, without taking any of it
 * (the target's next read sees the same count). Then fdinfo of the duplicate
 * gives ticks, clockid and settime flags.
 *
 * Restart: a relative timer gets the time it had left (the time the job was
 * down does not count); a TFD_TIMER_ABSTIME timer gets its absolute expiry
 * on its clock again (if that is past, it expires at once and the periods
 * missed are counted, as the kernel would have). Ticks come back with
 * TFD_IOC_SET_TICKS (CONFIG_CHECKPOINT_RESTORE).
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
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif
#define TFD_SETTIME_FLAGS (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)

static int timerfd_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	if (strcmp(p->link, "anon_inode:[timerfd]"))
		return 1;
	if (p->local < 0)
		return fd_refuse(d, p, EPERM, "timerfd: cannot take the descriptor (pidfd_getfd)");
	struct itimerspec its;
	if (timerfd_gettime(p->local, &its) < 0)
		return fd_refuse(d, p, errno, "timerfd: timerfd_gettime");
	/* fdinfo after gettime: the ticks it may have added */
	struct fd_probe me = *p;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", p->local);
	FILE *f = fopen(path, "re");
	if (!f)
		return fd_refuse(d, p, errno, "timerfd: read %s", path);
	char text[1024];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	me.fdinfo = text;
	struct ckpt_img_otimerfd t = {0};
	const char *ck = fd_info_field(&me, "clockid");
	const char *ti = fd_info_field(&me, "ticks");
	const char *fl = fd_info_field(&me, "settime flags");
	if (!ck || !ti || !fl)
		return fd_refuse(d, p, EINVAL, "timerfd: fdinfo lacks clockid, ticks or settime flags");
	t.clockid = atoi(ck);
	t.ticks = strtoull(ti, NULL, 10);
	t.settime_flags = (uint32_t)strtoul(fl, NULL, 8);
	if (t.settime_flags & ~(uint32_t)TFD_SETTIME_FLAGS)
		return fd_refuse(d, p, ENOTSUP, "timerfd: unknown settime flags %#o",
				 t.settime_flags);
	t.value_sec = its.it_value.tv_sec;
	t.value_nsec = its.it_value.tv_nsec;
	t.interval_sec = its.it_interval.tv_sec;
	t.interval_nsec = its.it_interval.tv_nsec;
	if ((t.settime_flags & TFD_TIMER_ABSTIME) && (t.value_sec || t.value_nsec)) {
		struct timespec now;
		if (clock_gettime(t.clockid, &now) < 0)
			return fd_refuse(d, p, errno, "timerfd: clock_gettime(%d)", t.clockid);
		t.abs_sec = now.tv_sec + t.value_sec;
		t.abs_nsec = now.tv_nsec + t.value_nsec;
		if (t.abs_nsec >= 1000000000) {
			t.abs_sec++;
			t.abs_nsec -= 1000000000;
		}
	}
	return dump_obj_put(d, o, &t, sizeof(t));
}

static const struct ckpt_img_otimerfd *otfd(const struct rs_obj *o)
{
	return (const void *)o->body;
}

static int bad_ts(int64_t s, int64_t ns)
{
	return s < 0 || ns < 0 || ns >= 1000000000;
}

static const char *timerfd_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_otimerfd)))
		return "timerfd record cut short";
	const struct ckpt_img_otimerfd *t = otfd(o);
	if (t->settime_flags & ~(uint32_t)TFD_SETTIME_FLAGS)
		return "timerfd settime flags unknown";
	if (bad_ts(t->value_sec, t->value_nsec) || bad_ts(t->interval_sec, t->interval_nsec) ||
	    bad_ts(t->abs_sec, t->abs_nsec))
		return "timerfd time negative or nanoseconds out of range";
	switch (t->clockid) {
	case CLOCK_REALTIME:
	case CLOCK_MONOTONIC:
	case CLOCK_BOOTTIME:
	case CLOCK_REALTIME_ALARM:
	case CLOCK_BOOTTIME_ALARM:
		break;
	default:
		return "timerfd clock is not one timerfd_create accepts";
	}
	if (o->h->open_flags & ~(uint32_t)(O_ACCMODE | O_NONBLOCK))
		return "timerfd open flags other than O_RDWR and O_NONBLOCK";
	return NULL;
}

static int timerfd_open(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	(void)c;
	const struct ckpt_img_otimerfd *t = otfd(o);
	int fd = timerfd_create(t->clockid, TFD_CLOEXEC |
						    ((o->h->open_flags & O_NONBLOCK) ? TFD_NONBLOCK : 0));
	if (fd < 0) {
		snprintf(msg, msglen, "timerfd_create(clock %d): %s", t->clockid, strerror(errno));
		return -1;
	}
	struct itimerspec its = {
		.it_interval = {.tv_sec = t->interval_sec, .tv_nsec = t->interval_nsec},
		.it_value = {.tv_sec = t->value_sec, .tv_nsec = t->value_nsec},
	};
	int armed = t->value_sec || t->value_nsec;
	if (armed && (t->settime_flags & TFD_TIMER_ABSTIME)) {
		its.it_value.tv_sec = t->abs_sec;
		its.it_value.tv_nsec = t->abs_nsec;
	}
	int fl = armed ? (int)t->settime_flags : 0;
	if (timerfd_settime(fd, fl, &its, NULL) < 0) {
		snprintf(msg, msglen, "timerfd (clock %d): timerfd_settime: %s", t->clockid,
			 strerror(errno));
		close(fd);
		return -1;
	}
	if (t->ticks) {
		uint64_t ticks = t->ticks;
		if (ioctl(fd, TFD_IOC_SET_TICKS, &ticks) < 0) {
			snprintf(msg, msglen,
				 "timerfd (clock %d): setting %llu expirations not yet read "
				 "(TFD_IOC_SET_TICKS needs CONFIG_CHECKPOINT_RESTORE): %s",
				 t->clockid, (unsigned long long)ticks, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void timerfd_inspect(struct json *j, const struct rs_obj *o)
{
	const struct ckpt_img_otimerfd *t = otfd(o);
	json_int(j, "clockid", t->clockid);
	json_hex(j, "settimeFlags", t->settime_flags);
	json_uint(j, "ticks", t->ticks);
	json_uint(j, "valueNs", (uint64_t)t->value_sec * 1000000000ull + (uint64_t)t->value_nsec);
	json_uint(j, "intervalNs",
		  (uint64_t)t->interval_sec * 1000000000ull + (uint64_t)t->interval_nsec);
}

static void timerfd_describe(const struct rs_obj *o, char *buf, size_t len)
{
	const struct ckpt_img_otimerfd *t = otfd(o);
	snprintf(buf, len, "anon_inode:[timerfd] (clock %d, %s, next in %lld.%09lld s, every %lld.%09lld s)",
		 t->clockid, (t->settime_flags & TFD_TIMER_ABSTIME) ? "absolute" : "relative",
		 (long long)t->value_sec, (long long)t->value_nsec, (long long)t->interval_sec,
		 (long long)t->interval_nsec);
}

const struct fd_kind fd_kind_timerfd = {
	.kind = CKPT_OBJ_TIMERFD,
	.name = "timerfd",
	.dump = timerfd_dump,
	.check = timerfd_check,
	.open = timerfd_open,
	.inspect = timerfd_inspect,
	.describe = timerfd_describe,
	.on_restart = "made again: time left, interval and expirations not read",
};
