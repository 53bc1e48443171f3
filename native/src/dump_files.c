// SPDX-License-Identifier: BSD-3-Clause
/*
 * Open descriptors of a frozen process: path, kind, open flags and offset
 * from /proc/PID/fd and /proc/PID/fdinfo, and which descriptors share one
 * open file description (2>&1, dup) via kcmp(KCMP_FILE), so a restart dups
 * them instead of opening twice (which would split their offset).
 */
#include "dump.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KCMP_FILE_ 0

static int isatty_path(const char *p)
{
	return !strncmp(p, "/dev/pts/", 9) || !strncmp(p, "/dev/tty", 8) ||
	       !strcmp(p, "/dev/console");
}

static int cmp_fd(const void *a, const void *b)
{
	const struct dump_file *x = a, *y = b;
	return x->f.fd - y->f.fd;
}

static void fdinfo(struct dump *d, struct ckpt_img_file *f)
{
	char p[64], line[256];
	snprintf(p, sizeof(p), "/proc/%d/fdinfo/%d", d->pid, f->fd);
	FILE *fi = fopen(p, "re");
	while (fi && fgets(line, sizeof(line), fi)) {
		if (!strncmp(line, "pos:", 4))
			f->pos = strtoull(line + 4, NULL, 10);
		else if (!strncmp(line, "flags:", 6))
			f->open_flags = (uint32_t)strtoul(line + 6, NULL, 8);
	}
	if (fi)
		fclose(fi);
	if (f->open_flags & O_CLOEXEC)
		f->flags |= CKPT_FILE_F_CLOEXEC;
}

static int one_fd(struct dump *d, int fd, struct dump_file *df)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/fd/%d", d->pid, fd);
	struct stat st;
	if (stat(p, &st) < 0) {
		/* a socket or anon inode has no path to stat through: lstat the link */
		if (lstat(p, &st) < 0)
			return errno == ENOENT ? 1 : ckpt_fail_errno(d->e, errno, "stat %s", p);
		st.st_mode = 0;
	}
	memset(df, 0, sizeof(*df));
	struct ckpt_img_file *f = &df->f;
	f->fd = fd;
	f->shared_with = -1;
	ssize_t n = readlink(p, df->path, sizeof(df->path) - 1);
	if (n < 0)
		return errno == ENOENT ? 1 : ckpt_fail_errno(d->e, errno, "readlink %s", p);
	df->path[n] = '\0';
	f->mode = st.st_mode;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = (uint64_t)st.st_size;
	f->kind = S_ISREG(st.st_mode)	 ? CKPT_FILE_REG
		  : S_ISDIR(st.st_mode)	 ? CKPT_FILE_DIR
		  : S_ISCHR(st.st_mode)	 ? CKPT_FILE_CHR
		  : S_ISFIFO(st.st_mode) ? CKPT_FILE_FIFO
		  : S_ISSOCK(st.st_mode) ? CKPT_FILE_SOCK
					 : CKPT_FILE_OTHER;
	if (!strncmp(df->path, "socket:", 7))
		f->kind = CKPT_FILE_SOCK;
	else if (!strncmp(df->path, "pipe:", 5))
		f->kind = CKPT_FILE_FIFO;
	else if (!strncmp(df->path, "anon_inode:", 11))
		f->kind = CKPT_FILE_OTHER;
	size_t pl = strlen(df->path);
	if (pl > 10 && !strcmp(df->path + pl - 10, " (deleted)"))
		f->flags |= CKPT_FILE_F_DELETED;
	if (f->kind == CKPT_FILE_CHR && isatty_path(df->path))
		f->flags |= CKPT_FILE_F_TTY;
	/* what cannot be reopened by path comes from the restarter (BLCR) */
	if (fd <= 2 && f->kind != CKPT_FILE_REG && f->kind != CKPT_FILE_DIR &&
	    strcmp(df->path, "/dev/null"))
		f->flags |= CKPT_FILE_F_STDIO;
	fdinfo(d, f);
	return 0;
}

int dump_files(struct dump *d)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/fd", d->pid);
	DIR *dir = opendir(p);
	if (!dir)
		return ckpt_fail_errno(d->e, errno, "list %s", p);
	uint32_t cap = 0;
	int rc = 0;
	struct dirent *de;
	while (!rc && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (d->nr_files == cap) {
			cap = cap ? cap * 2 : 64;
			void *np = realloc(d->files, cap * sizeof(*d->files));
			if (!np) {
				rc = ckpt_fail(d->e, ENOMEM, "no memory for descriptors");
				break;
			}
			d->files = np;
		}
		int r = one_fd(d, atoi(de->d_name), &d->files[d->nr_files]);
		if (r < 0)
			rc = r;
		else if (r == 0)
			d->nr_files++;
	}
	closedir(dir);
	if (rc)
		return rc;
	qsort(d->files, d->nr_files, sizeof(*d->files), cmp_fd);
	/* descriptors sharing one open file description: point at the lowest */
	for (uint32_t i = 0; i < d->nr_files; i++) {
		struct ckpt_img_file *f = &d->files[i].f;
		for (uint32_t j = 0; j < i; j++) {
			struct ckpt_img_file *g = &d->files[j].f;
			if (g->shared_with >= 0 || g->dev != f->dev || g->ino != f->ino)
				continue;
			if (syscall(SYS_kcmp, d->pid, d->pid, KCMP_FILE_, g->fd, f->fd) == 0) {
				f->shared_with = g->fd;
				break;
			}
		}
	}
	return 0;
}
