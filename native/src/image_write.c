// SPDX-License-Identifier: BSD-3-Clause
/* The v1 image writer: see image_write.h. */
#include "image_write.h"

#include "ckpt.h"
#include "crc32c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- the writer thread ------------------------------------------------------ */

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (k == 0)
			return EIO;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* O_DIRECT wants offset, length and buffer aligned to the device's logical
   block; a page covers every block size in use. */
#define DIO_ALIGN 4096u

static void end_direct(struct imgw *w)
{
	int fl = fcntl(w->fd, F_GETFL);
	if (fl >= 0)
		fcntl(w->fd, F_SETFL, fl & ~O_DIRECT);
	w->direct = 0;
}

/* A buffer, past the page cache while it can be: the first unaligned piece
   (the image's tail), or a file system that takes O_DIRECT at open but
   refuses the write (EINVAL, nothing written), ends it. */
static int write_direct(struct imgw *w, const unsigned char *p, size_t n)
{
	uint64_t off = w->written;
	while (n) {
		if (w->direct && (off % DIO_ALIGN || n % DIO_ALIGN))
			end_direct(w);
		ssize_t k = write(w->fd, p, n);
		if (k < 0 && errno == EINVAL && w->direct) {
			end_direct(w);
			continue;
		}
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (k == 0)
			return EIO;
		p += k;
		off += (uint64_t)k;
		n -= (size_t)k;
	}
	return 0;
}

/* CKPT_IMAGE_BUFFERED=1: through the page cache as before O_DIRECT was
   used (to compare, or for a disk much slower than memory: see
   image_write.h) */
static int buffered_asked(void)
{
	const char *v = getenv("CKPT_IMAGE_BUFFERED");
	return v && *v && strcmp(v, "0") != 0;
}

void imgw_direct(struct imgw *w)
{
	if (!w->own_fd || (w->flags & CKPT_CP_NOSYNC) || w->off || buffered_asked())
		return;
	int fl = fcntl(w->fd, F_GETFL);
	/* refused (EINVAL: no O_DIRECT on this file system): the page cache */
	if (fl >= 0 && fcntl(w->fd, F_SETFL, fl | O_DIRECT) == 0)
		w->direct = 1;
}

static void *writer_main(void *arg)
{
	struct imgw *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->q_len && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->q_len && w->stop)
			break;
		int b = w->queue[w->q_head];
		pthread_mutex_unlock(&w->mu);
		struct imgw_buf *buf = &w->bufs[b];
		int err = 0;
		if (!w->werr && w->direct) {
			err = write_direct(w, buf->data, buf->len);
		} else if (!w->werr) {
			err = write_all(w->fd, buf->data, buf->len);
			/* start writeback now: the final fsync then finds little to do,
			   so the disk works while we still copy memory */
			if (!err && w->own_fd && !(w->flags & CKPT_CP_NOSYNC))
				sync_file_range(w->fd, (off_t)w->written, (off_t)buf->len,
						SYNC_FILE_RANGE_WRITE);
		}
		pthread_mutex_lock(&w->mu);
		if (err && !w->werr)
			w->werr = err;
		w->written += buf->len;
		buf->len = 0;
		w->q_head = (w->q_head + 1) % IMGW_BUFS;
		w->q_len--;
		w->free_list[w->nr_free++] = b;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int werr_fail(struct imgw *w, int err)
{
	return ckpt_fail_errno(w->e, err, "write image %s", w->label);
}

/* Hand the current buffer to the writer and take a free one. */
static int flush_cur(struct imgw *w)
{
	pthread_mutex_lock(&w->mu);
	if (w->bufs[w->cur].len) {
		w->queue[(w->q_head + w->q_len) % IMGW_BUFS] = w->cur;
		w->q_len++;
		pthread_cond_broadcast(&w->cv);
		while (!w->nr_free && !w->werr)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->nr_free)
			w->cur = w->free_list[--w->nr_free];
		else
			w->cur = -1;
	}
	int err = w->werr;
	pthread_mutex_unlock(&w->mu);
	return err ? werr_fail(w, err) : 0;
}

int imgw_drain(struct imgw *w)
{
	int rc = flush_cur(w);
	pthread_mutex_lock(&w->mu);
	while (w->q_len)
		pthread_cond_wait(&w->cv, &w->mu);
	int err = w->werr;
	pthread_mutex_unlock(&w->mu);
	return rc ? rc : err ? werr_fail(w, err) : 0;
}

static void stop_thread(struct imgw *w)
{
	if (!w->thread_started)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	w->thread_started = 0;
}

static void free_bufs(struct imgw *w)
{
	for (int i = 0; i < IMGW_BUFS; i++)
		if (w->bufs[i].data)
			munmap(w->bufs[i].data, IMGW_BUF_SIZE);
	memset(w->bufs, 0, sizeof(w->bufs));
}

static int backup_previous(struct imgw *w, int keep_in_place);

/* ---- temp files ------------------------------------------------------------- */

/*
 * The temp image is .NAME.tmp-XXXXXX beside NAME (6 of [A-Za-z0-9]), under
 * an exclusive flock for as long as it is written. It is made unnamed
 * (O_TMPFILE) and locked before it gets its name, so no other checkpoint can
 * ever see it unlocked; where the file system has no O_TMPFILE it is created
 * by name and locked at once. A checkpointer killed mid-write leaves its temp
 * file unlocked (the kernel drops the lock with the last descriptor): the
 * next checkpoint of that path removes it.
 */
static const char tmp_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
#define TMP_SUFFIX ".tmp-"
#define TMP_RAND 6

static void tmp_name(char *out, size_t len, const char *dir, const char *base)
{
	unsigned char r[TMP_RAND];
	if (syscall(SYS_getrandom, r, sizeof(r), 0) != (long)sizeof(r))
		for (int i = 0; i < TMP_RAND; i++)
			r[i] = (unsigned char)(rand() ^ (getpid() >> i));
	char suf[TMP_RAND + 1];
	for (int i = 0; i < TMP_RAND; i++)
		suf[i] = tmp_chars[r[i] % (sizeof(tmp_chars) - 1)];
	suf[TMP_RAND] = '\0';
	snprintf(out, len, "%.3800s/.%.200s" TMP_SUFFIX "%s", dir, base, suf);
}

static int create_locked_tmp(struct imgw *w, const char *dir, const char *base)
{
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (flock(fd, LOCK_EX) < 0) {
			int err = errno;
			close(fd);
			return err;
		}
		char self[64];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		for (int tries = 0; tries < 100; tries++) {
			tmp_name(w->tmp, sizeof(w->tmp), dir, base);
			if (linkat(AT_FDCWD, self, AT_FDCWD, w->tmp, AT_SYMLINK_FOLLOW) == 0) {
				w->fd = fd;
				return 0;
			}
			if (errno != EEXIST) {
				int err = errno;
				close(fd);
				return err;
			}
		}
		close(fd);
		return EEXIST;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return errno;
	/* no O_TMPFILE here: by name, locked right away */
	snprintf(w->tmp, sizeof(w->tmp), "%.3800s/.%.200s" TMP_SUFFIX "XXXXXX", dir, base);
	fd = mkostemp(w->tmp, O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (flock(fd, LOCK_EX) < 0) {
		int err = errno;
		unlink(w->tmp);
		close(fd);
		return err;
	}
	w->fd = fd;
	return 0;
}

static int is_tmp_of(const char *n, const char *base)
{
	size_t bl = strlen(base), sl = strlen(TMP_SUFFIX);
	if (n[0] != '.' || strncmp(n + 1, base, bl) || strncmp(n + 1 + bl, TMP_SUFFIX, sl))
		return 0;
	const char *r = n + 1 + bl + sl;
	if (strlen(r) != TMP_RAND)
		return 0;
	for (; *r; r++)
		if (!strchr(tmp_chars, *r))
			return 0;
	return 1;
}

/* Remove what killed checkpoints of this path left: only our own regular
   files of the temp pattern that nobody holds locked. Best effort: an
   error here never fails the checkpoint. */
static void sweep_stale(struct imgw *w, const char *dir, const char *base)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	const char *mine = strrchr(w->tmp, '/');
	mine = mine ? mine + 1 : w->tmp;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!is_tmp_of(de->d_name, base) || !strcmp(de->d_name, mine))
			continue;
		int fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct stat st, now;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    flock(fd, LOCK_EX | LOCK_NB) == 0 &&
		    fstatat(dfd, de->d_name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now.st_dev == st.st_dev && now.st_ino == st.st_ino)
			unlinkat(dfd, de->d_name, 0);
		close(fd);
	}
	closedir(d);
}

/* ---- opening ---------------------------------------------------------------- */

static void split_path(const char *path, char *dir, char *base)
{
	char a[4096], b[4096];
	snprintf(a, sizeof(a), "%s", path);
	snprintf(b, sizeof(b), "%s", path);
	snprintf(dir, 4096, "%s", dirname(a));
	snprintf(base, 256, "%s", basename(b));
}

int imgw_open(struct imgw *w, const char *path, int fd, uint32_t flags, struct ckpt_err *e)
{
	memset(w, 0, sizeof(*w));
	w->e = e;
	w->flags = flags;
	w->label = path && *path ? path : "(fd)";
	w->fd = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (fd >= 0) {
		w->fd = fd;
	} else {
		if (!path || !*path)
			return ckpt_fail(e, EINVAL, "no image path or fd given");
		if (strlen(path) >= sizeof(w->path) - 32)
			return ckpt_fail(e, ENAMETOOLONG, "image path too long: %.80s...", path);
		snprintf(w->path, sizeof(w->path), "%s", path);
		struct stat st;
		if ((flags & CKPT_CP_NOCLOBBER) && lstat(path, &st) == 0)
			return ckpt_fail(e, EEXIST, "image %s already exists (no-clobber asked)",
					 path);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return ckpt_fail(e, EISDIR, "image %s is a directory; expected a file path",
					 path);
		if (flags & CKPT_CP_NOATOMIC) {
			int rc = (flags & CKPT_CP_BACKUP) ? backup_previous(w, 0) : 0;
			if (rc)
				return rc;
			w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (w->fd < 0)
				return ckpt_fail_errno(e, errno, "create image %s", path);
		} else {
			char dir[4096], base[256];
			split_path(path, dir, base);
			int err = create_locked_tmp(w, dir, base);
			if (err) {
				w->tmp[0] = '\0';
				return ckpt_fail_errno(e, err, "create image %s (temp file in %s)",
						       path, dir);
			}
			sweep_stale(w, dir, base);
		}
		w->own_fd = 1;
	}
	for (int i = 0; i < IMGW_BUFS; i++) {
		void *p = mmap(NULL, IMGW_BUF_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			imgw_abort(w);
			return ckpt_fail_errno(e, errno, "image buffers");
		}
		w->bufs[i].data = p;
		if (i)
			w->free_list[w->nr_free++] = i;
	}
	w->cur = 0;
	int err = pthread_create(&w->thread, NULL, writer_main, w);
	if (err) {
		imgw_abort(w);
		return ckpt_fail_errno(e, err, "image writer thread");
	}
	w->thread_started = 1;
	return 0;
}

/* ---- sections ----------------------------------------------------------------- */

static const unsigned char zero_page[CKPT_IMG_PAGE_SIZE];

/* Raw bytes into the stream (no section accounting); crc is theirs (of n
   zeros when p is NULL), folded into the file's checksum without reading
   them again. */
static int put_crc(struct imgw *w, const void *p, size_t n, uint32_t crc)
{
	w->file_crc = ckpt_crc32c_combine(w->file_crc, crc, n);
	const unsigned char *s = p;
	while (n) {
		if (w->cur < 0)
			return werr_fail(w, w->werr ? w->werr : EIO);
		struct imgw_buf *b = &w->bufs[w->cur];
		size_t room = IMGW_BUF_SIZE - b->len, k = n < room ? n : room;
		if (s)
			memcpy(b->data + b->len, s, k);
		else
			memset(b->data + b->len, 0, k);
		b->len += k;
		w->off += k;
		n -= k;
		if (s)
			s += k;
		if (b->len == IMGW_BUF_SIZE) {
			int rc = flush_cur(w);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* Headers, tails and padding (less than a page of zeros). */
static int put(struct imgw *w, const void *p, size_t n)
{
	return put_crc(w, p, n, ckpt_crc32c(0, p ? p : zero_page, n));
}

int imgw_header(struct imgw *w, struct ckpt_img_header *h)
{
	h->crc32c = 0;
	h->crc32c = ckpt_crc32c(0, h, sizeof(*h));
	return put(w, h, sizeof(*h));
}

int imgw_begin(struct imgw *w, uint32_t type, uint64_t size, int how)
{
	struct ckpt_img_section s = {.type = type, .size = size};
	if (how & IMGW_OPTIONAL)
		s.flags = CKPT_SEC_F_OPTIONAL;
	if (how & IMGW_PAGE_ALIGN)
		s.pad = (uint32_t)((CKPT_IMG_PAGE_SIZE - (w->off + sizeof(s)) % CKPT_IMG_PAGE_SIZE) %
				   CKPT_IMG_PAGE_SIZE);
	s.hdr_crc32c = ckpt_crc32c(0, &s, sizeof(s));
	if (type != CKPT_SEC_END)
		w->order_crc = ckpt_crc32c(w->order_crc, &s, sizeof(s));
	int rc = put(w, &s, sizeof(s));
	if (!rc)
		rc = put(w, NULL, s.pad);
	w->sec_crc = 0;
	w->sec_left = size;
	w->in_section = 1;
	return rc;
}

static int overflow(struct imgw *w, size_t n)
{
	return ckpt_fail(w->e, EOVERFLOW,
			 "internal: section payload longer than announced (%zu > %llu bytes left)",
			 n, (unsigned long long)w->sec_left);
}

int imgw_payload(struct imgw *w, const void *p, size_t n)
{
	if (n > w->sec_left)
		return overflow(w, n);
	uint32_t crc = ckpt_crc32c(0, p, n);
	w->sec_crc = ckpt_crc32c_combine(w->sec_crc, crc, n);
	w->sec_left -= n;
	return put_crc(w, p, n, crc);
}

int imgw_zeros(struct imgw *w, size_t n)
{
	while (n) {
		size_t k = n < sizeof(zero_page) ? n : sizeof(zero_page);
		int rc = imgw_payload(w, zero_page, k);
		if (rc)
			return rc;
		n -= k;
	}
	return 0;
}

void *imgw_reserve(struct imgw *w, size_t *n)
{
	if (w->cur < 0)
		return NULL;
	struct imgw_buf *b = &w->bufs[w->cur];
	if (IMGW_BUF_SIZE - b->len < CKPT_IMG_PAGE_SIZE && flush_cur(w))
		return NULL;
	if (w->cur < 0)
		return NULL;
	b = &w->bufs[w->cur];
	size_t room = IMGW_BUF_SIZE - b->len;
	if (*n > room)
		*n = room;
	return b->data + b->len;
}

int imgw_commit_reserved(struct imgw *w, size_t n)
{
	if (n > w->sec_left)
		return overflow(w, n);
	struct imgw_buf *b = &w->bufs[w->cur];
	uint32_t crc = ckpt_crc32c(0, b->data + b->len, n);
	w->sec_crc = ckpt_crc32c_combine(w->sec_crc, crc, n);
	w->file_crc = ckpt_crc32c_combine(w->file_crc, crc, n);
	w->sec_left -= n;
	b->len += n;
	w->off += n;
	return b->len == IMGW_BUF_SIZE ? flush_cur(w) : 0;
}

int imgw_end(struct imgw *w)
{
	if (w->sec_left)
		return ckpt_fail(w->e, EIO,
				 "internal: section ended %llu bytes short of its announced size",
				 (unsigned long long)w->sec_left);
	struct ckpt_img_section_tail t = {w->sec_crc, CKPT_IMG_TAIL_MAGIC};
	if (!w->in_end)
		w->order_crc = ckpt_crc32c(w->order_crc, &t, sizeof(t));
	w->in_section = 0;
	w->nsec++;
	return put(w, &t, sizeof(t));
}

/* ---- committing ------------------------------------------------------------- */

static int fsync_dir(struct imgw *w)
{
	char dir[4096], base[256];
	split_path(w->path, dir, base);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return ckpt_fail_errno(w->e, errno, "open directory %s to sync it", dir);
	int rc = fsync(dfd) < 0 ? ckpt_fail_errno(w->e, errno, "fsync directory %s", dir) : 0;
	close(dfd);
	return rc;
}

/* GNU-style numbered backup: FILE.~N~ with N one above the highest there. */
static int backup_previous(struct imgw *w, int keep_in_place)
{
	struct stat st;
	if (lstat(w->path, &st) < 0)
		return errno == ENOENT ? 0 : ckpt_fail_errno(w->e, errno, "stat %s", w->path);
	char dir[4096], base[256];
	split_path(w->path, dir, base);
	DIR *d = opendir(dir);
	if (!d)
		return ckpt_fail_errno(w->e, errno, "list %s for backups", dir);
	unsigned long top = 0;
	size_t bl = strlen(base);
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (strncmp(n, base, bl) || strncmp(n + bl, ".~", 2))
			continue;
		char *endp;
		unsigned long k = strtoul(n + bl + 2, &endp, 10);
		if (endp != n + bl + 2 && !strcmp(endp, "~") && k > top)
			top = k;
	}
	closedir(d);
	char bak[4200];
	snprintf(bak, sizeof(bak), "%s.~%lu~", w->path, top + 1);
	/* A hard link keeps FILE in place until the rename replaces it. */
	if (keep_in_place && link(w->path, bak) == 0)
		return 0;
	if (rename(w->path, bak) == 0)
		return 0;
	return ckpt_fail_errno(w->e, errno, "keep previous image %s as %s", w->path, bak);
}

static int install(struct imgw *w)
{
	if (w->flags & CKPT_CP_NOCLOBBER) {
		if (syscall(SYS_renameat2, AT_FDCWD, w->tmp, AT_FDCWD, w->path, 1 /* NOREPLACE */) == 0)
			return 0;
		if (errno == EEXIST)
			return ckpt_fail(w->e, EEXIST, "image %s appeared meanwhile (no-clobber asked)",
					 w->path);
		return ckpt_fail_errno(w->e, errno, "rename %s to %s", w->tmp, w->path);
	}
	if (rename(w->tmp, w->path) < 0)
		return ckpt_fail_errno(w->e, errno, "rename %s to %s", w->tmp, w->path);
	return 0;
}

int imgw_commit(struct imgw *w, uint64_t *bytes, uint32_t *crc)
{
	struct ckpt_img_end end = {.nr_sections = w->nsec,
				   .image_bytes = w->off,
				   .order_crc32c = w->order_crc,
				   .flags = CKPT_END_F_ORDER_CRC};
	w->in_end = 1;
	int rc = imgw_begin(w, CKPT_SEC_END, sizeof(end), 0);
	if (!rc)
		rc = imgw_payload(w, &end, sizeof(end));
	if (!rc)
		rc = imgw_end(w);
	if (!rc)
		rc = imgw_drain(w);
	stop_thread(w);
	if (rc)
		return rc;
	int sync = !(w->flags & CKPT_CP_NOSYNC);
	if (sync && fsync(w->fd) < 0 && (w->own_fd || (errno != EINVAL && errno != EROFS)))
		return ckpt_fail_errno(w->e, errno, "fsync image %s", w->label);
	if (w->tmp[0]) {
		if ((w->flags & CKPT_CP_BACKUP) && (rc = backup_previous(w, 1)))
			return rc;
		if ((rc = install(w)))
			return rc;
		w->tmp[0] = '\0';
	}
	if (sync && w->own_fd && (rc = fsync_dir(w)))
		return rc;
	*bytes = w->off;
	*crc = w->file_crc;
	if (w->own_fd)
		close(w->fd);
	w->fd = -1;
	free_bufs(w);
	return 0;
}

void imgw_abort(struct imgw *w)
{
	stop_thread(w);
	if (w->own_fd && w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (w->tmp[0])
		unlink(w->tmp);
	w->tmp[0] = '\0';
	free_bufs(w);
}
