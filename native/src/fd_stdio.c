// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_STDIO: BLCR's one substitution. Descriptors 0, 1 and 2 that lead
 * outside the job (a terminal, a pipe or socket whose other end the job does
 * not hold) cannot come back as they were; the restarted process gets the
 * restarting command's own 0, 1 and 2 instead (cr_restart's terminal, the
 * pipes of the shell that runs it). A pipe that only the job holds (its
 * other end closed by everyone) is not a way outside. Every other descriptor is either
 * restored by its kind or refuses the checkpoint.
 */
#include "dump.h"
#include "fd.h"
#include "fd_sock.h"
#include "json.h"
#include "restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int is_tty(const struct fd_probe *p)
{
	if (!S_ISCHR(p->st.st_mode))
		return 0;
	unsigned maj = major(p->st.st_rdev);
	/* 136-143: pty slaves; 4: virtual consoles and serial; 5: /dev/tty, console, ptmx */
	return (maj >= 136 && maj <= 143) || maj == 4 || maj == 5 ||
	       !strncmp(p->link, "/dev/pts/", 9) || !strncmp(p->link, "/dev/tty", 8);
}

/* A descriptor of process pid on the other end of this pipe ("pipe:[INO]"):
   the same link with the opposite access mode. A descriptor on the same end
   (2>&1 into one pipe, a dup of stdout, a child that inherited it) proves
   nothing: the job's stdout pipe is still a way outside. */
static int other_end_held_by(pid_t pid, const struct fd_probe *p)
{
	char dp[64];
	snprintf(dp, sizeof(dp), "/proc/%d/fd", pid);
	DIR *dir = opendir(dp);
	if (!dir)
		return 0;
	int acc = (int)(p->open_flags & O_ACCMODE);
	struct dirent *de;
	int found = 0;
	while (!found && (de = readdir(dir))) {
		if (de->d_name[0] == '.' || (pid == p->pid && atoi(de->d_name) == p->fd))
			continue;
		char lp[320], link[CKPT_PATH_MAX];
		snprintf(lp, sizeof(lp), "%s/%s", dp, de->d_name);
		ssize_t n = readlink(lp, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, p->link))
			continue;
		snprintf(lp, sizeof(lp), "/proc/%d/fdinfo/%s", pid, de->d_name);
		FILE *f = fopen(lp, "re");
		char line[128];
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "flags:", 6)) {
				found = ((int)strtoul(line + 6, NULL, 8) & O_ACCMODE) != acc;
				break;
			}
		if (f)
			fclose(f);
	}
	closedir(dir);
	return found;
}

/* No description of the pipe's other end is open anywhere (the kernel's
   count, so the checkpointing process itself counts when it holds it, as a
   program that reads its child's stdout and checkpoints it through libckpt
   does): a read end polls POLLHUP without writers, a write end POLLERR
   without readers. Our duplicate (p->local) is of this end, not that one. */
static int other_end_gone(const struct fd_probe *p)
{
	if (p->local < 0)
		return 0;
	int rd = (p->open_flags & O_ACCMODE) == O_RDONLY;
	struct pollfd pf = {.fd = p->local, .events = rd ? POLLIN : POLLOUT};
	if (poll(&pf, 1, 0) < 0)
		return 0;
	return !!(pf.revents & (rd ? POLLHUP : POLLERR));
}

/* The pipe's other end is in the process or another process of the job:
   the job's own pipe, not a way outside. So is a pipe whose other end no
   process holds at all: it is gone (the first stage of
   `cat file | reader` has exited, a here-document, communicate() has
   written and closed), and its unread bytes are the job's (fd_pipe.c
   brings them back, then EOF). */
static int other_end_in_job(const struct dump *d, const struct fd_probe *p)
{
	if (other_end_held_by(p->pid, p))
		return 1;
	for (uint32_t i = 0; d->job && i < d->nr_job; i++)
		if (d->job[i] != p->pid && other_end_held_by(d->job[i], p))
			return 1;
	return other_end_gone(p);
}

static int stdio_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	if (p->fd > 2)
		return 1;
	int pipe = !strncmp(p->link, "pipe:", 5), sock = !strncmp(p->link, "socket:", 7);
	if (!is_tty(p) && !(pipe && !other_end_in_job(d, p)) && !sock)
		return 1;
	if (sock && unix_peer_in_job(d, p))
		return 1; /* a socketpair of the job's own: fd_unix.c */
	struct ckpt_img_ostdio s = {.fd = p->fd};
	int rc = dump_obj_put(d, o, &s, sizeof(s));
	uint32_t len;
	if (!rc)
		rc = dump_obj_put_str(d, o, p->link, &len);
	if (!rc)
		((struct ckpt_img_ostdio *)o->body)->what_len = len;
	return rc;
}

static const char *stdio_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_ostdio)))
		return "stdio record cut short";
	const struct ckpt_img_ostdio *s = (const void *)o->body;
	if (s->fd < 0 || s->fd > 2)
		return "stdio descriptor not 0, 1 or 2";
	if (!rs_obj_str(o, sizeof(*s), s->what_len) || s->what_len > CKPT_PATH_MAX)
		return "stdio description not terminated";
	return NULL;
}

static void stdio_inspect(struct json *j, const struct rs_obj *o)
{
	const struct ckpt_img_ostdio *s = (const void *)o->body;
	json_int(j, "restarterFd", s->fd);
	json_str(j, "was", (const char *)(s + 1));
}

static void stdio_describe(const struct rs_obj *o, char *buf, size_t len)
{
	const struct ckpt_img_ostdio *s = (const void *)o->body;
	snprintf(buf, len, "%s", (const char *)(s + 1));
}

const struct fd_kind fd_kind_stdio = {
	.kind = CKPT_OBJ_STDIO,
	.name = "stdio",
	.dump = stdio_dump,
	.check = stdio_check,
	.inspect = stdio_inspect,
	.describe = stdio_describe,
	.on_restart = "the restarting command's own descriptor (BLCR)",
};
