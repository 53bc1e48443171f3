// SPDX-License-Identifier: BSD-3-Clause
/*
 * Hostile images (issue 12, item 7). A real image is made by the engine
 * (ckpt_checkpoint) of a child of this test with three threads, a comm and
 * an open file whose names hold terminal escape sequences; then crafted
 * copies with every checksum recomputed (so only the reader's own checks
 * stand between them and the restart):
 *  - a malformed record after the first (VMAS and FILES): this overflowed
 *    the heap before;
 *  - a second VMAS or FILES section (wrote into the first one's array);
 *  - the leader's THREAD section swapped with a worker's (gave the PID to a
 *    worker's registers);
 *  - two workers swapped without updating END (the order checksum);
 *  - PROCX with an mlockall mode no mlockall(2) call makes;
 *  - an escape sequence in the hostname, an unterminated kernel release,
 *    bytes after END;
 * each refused by ckpt_inspect and by ckpt_restart (nothing started) with a
 * message naming the section and what is wrong. The real image's escape
 * sequences never reach inspect's JSON or a message raw; an image with the
 * older 16-byte END is still read.
 * With --corpus DIR the images are also written there (the fuzz corpus).
 */
#include "ckpt.h"
#include "ckpt_image.h"
#include "crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"

static char dir[] = "/tmp/ckpt-crafted-XXXXXX";
static char msg[CKPT_MSG_MAX];
static const char *corpus;
#define ESC_NAME "esc-\x1b]0;pwned\x07-\x1b[31m"

/* ---- the image as a list of sections ----------------------------------------- */

struct sec {
	struct ckpt_img_section h;
	unsigned char *p; /* payload */
	uint64_t size;
};

struct img {
	struct ckpt_img_header h;
	struct sec s[64];
	int n; /* without END */
	struct ckpt_img_end end;
};

static unsigned char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	unsigned char *b = malloc((size_t)st.st_size);
	*len = (size_t)read(fd, b, (size_t)st.st_size);
	close(fd);
	return b;
}

static int parse(const char *path, struct img *im)
{
	size_t len;
	unsigned char *b = slurp(path, &len);
	if (!b)
		return -1;
	memset(im, 0, sizeof(*im));
	memcpy(&im->h, b, sizeof(im->h));
	size_t off = sizeof(im->h);
	for (;;) {
		struct ckpt_img_section h;
		memcpy(&h, b + off, sizeof(h));
		unsigned char *p = b + off + sizeof(h) + h.pad;
		if (h.type == CKPT_SEC_END) {
			memcpy(&im->end, p, sizeof(im->end));
			break;
		}
		struct sec *s = &im->s[im->n++];
		s->h = h;
		s->size = h.size;
		s->p = malloc(h.size ? h.size : 1);
		memcpy(s->p, p, h.size);
		off += sizeof(h) + h.pad + h.size + sizeof(struct ckpt_img_section_tail);
	}
	free(b);
	return 0;
}

/* Write im with every checksum recomputed: header, sections, END (count,
   size, order checksum). keep_end: END as parsed (stale). legacy: a 16-byte
   END. extra: bytes after END. */
enum { RESEAL = 0, KEEP_END = 1, LEGACY_END = 2, TRAILING = 4 };

static void emit(struct img *im, const char *path, int how)
{
	FILE *f = fopen(path, "w");
	struct ckpt_img_header h = im->h;
	h.crc32c = 0;
	h.crc32c = ckpt_crc32c(0, &h, sizeof(h));
	fwrite(&h, sizeof(h), 1, f);
	uint64_t off = sizeof(h);
	uint32_t order = 0;
	for (int i = 0; i < im->n; i++) {
		struct sec *s = &im->s[i];
		struct ckpt_img_section sh = s->h;
		sh.size = s->size;
		sh.pad = sh.type == CKPT_SEC_PAGES
				 ? (uint32_t)((4096 - (off + sizeof(sh)) % 4096) % 4096)
				 : 0;
		sh.hdr_crc32c = 0;
		sh.hdr_crc32c = ckpt_crc32c(0, &sh, sizeof(sh));
		struct ckpt_img_section_tail t = {ckpt_crc32c(0, s->p, s->size), CKPT_IMG_TAIL_MAGIC};
		order = ckpt_crc32c(order, &sh, sizeof(sh));
		order = ckpt_crc32c(order, &t, sizeof(t));
		fwrite(&sh, sizeof(sh), 1, f);
		static const char zero[4096];
		fwrite(zero, 1, sh.pad, f);
		fwrite(s->p, 1, s->size, f);
		fwrite(&t, sizeof(t), 1, f);
		off += sizeof(sh) + sh.pad + s->size + sizeof(t);
	}
	struct ckpt_img_end e = im->end;
	if (!(how & KEEP_END)) {
		e.nr_sections = (uint64_t)im->n;
		e.image_bytes = off;
		e.order_crc32c = order;
		e.flags = CKPT_END_F_ORDER_CRC;
	}
	uint64_t esize = (how & LEGACY_END) ? CKPT_IMG_END_V1_SIZE : sizeof(e);
	struct ckpt_img_section sh = {.type = CKPT_SEC_END, .size = esize};
	sh.hdr_crc32c = ckpt_crc32c(0, &sh, sizeof(sh));
	struct ckpt_img_section_tail t = {ckpt_crc32c(0, &e, esize), CKPT_IMG_TAIL_MAGIC};
	fwrite(&sh, sizeof(sh), 1, f);
	fwrite(&e, 1, esize, f);
	fwrite(&t, sizeof(t), 1, f);
	if (how & TRAILING)
		fwrite("junk", 1, 4, f);
	fclose(f);
}

static int find(struct img *im, uint32_t type, int nth)
{
	for (int i = 0; i < im->n; i++)
		if (im->s[i].h.type == type && nth-- == 0)
			return i;
	return -1;
}

static void insert_copy(struct img *im, int at)
{
	memmove(&im->s[at + 1], &im->s[at], (size_t)(im->n - at) * sizeof(im->s[0]));
	im->n++;
	struct sec *s = &im->s[at + 1];
	unsigned char *p = malloc(s->size ? s->size : 1);
	memcpy(p, s->p, s->size);
	s->p = p;
}

static void swap(struct img *im, int a, int b)
{
	struct sec t = im->s[a];
	im->s[a] = im->s[b];
	im->s[b] = t;
}

static struct img *copy_of(const struct img *src)
{
	struct img *im = malloc(sizeof(*im));
	*im = *src;
	for (int i = 0; i < im->n; i++) {
		im->s[i].p = malloc(src->s[i].size ? src->s[i].size : 1);
		memcpy(im->s[i].p, src->s[i].p, src->s[i].size);
	}
	return im;
}

static void drop(struct img *im)
{
	for (int i = 0; i < im->n; i++)
		free(im->s[i].p);
	free(im);
}

/* ---- checks ------------------------------------------------------------------- */

static int has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

static char *inspect(const char *path, int *rc)
{
	size_t need = 0;
	*rc = ckpt_inspect(path, CKPT_IN_VERIFY, NULL, 0, &need, msg, sizeof(msg));
	if (*rc != -ENOSPC)
		return NULL;
	char *json = malloc(need);
	*rc = ckpt_inspect(path, CKPT_IN_VERIFY, json, need, NULL, msg, sizeof(msg));
	return json;
}

/* PAGES without pages: an empty run table and one page of padding. */
static void strip_pages(struct img *im)
{
	int i = find(im, CKPT_SEC_PAGES, 0);
	if (i < 0)
		return;
	struct ckpt_img_pages_head h = {.nr_runs = 0, .nr_pages = 0, .data_offset = 4096};
	free(im->s[i].p);
	im->s[i].p = calloc(1, 4096);
	memcpy(im->s[i].p, &h, sizeof(h));
	im->s[i].size = 4096;
}

static struct img *copy_of(const struct img *src);
static void drop(struct img *im);

/* The corpus keeps one whole image; the others without their page data, so
   the fuzzer mutates what the reader parses rather than memory contents. */
static void save_small(struct img *im, int how, const char *name)
{
	if (!corpus)
		return;
	char to[PATH_MAX];
	snprintf(to, sizeof(to), "%s/%s", corpus, name);
	struct img *c = copy_of(im);
	strip_pages(c);
	emit(c, to, how);
	drop(c);
}

static void save_corpus(const char *path, const char *name)
{
	if (!corpus)
		return;
	char to[PATH_MAX];
	snprintf(to, sizeof(to), "%s/%s", corpus, name);
	size_t len;
	unsigned char *b = slurp(path, &len);
	FILE *f = fopen(to, "w");
	if (f && b)
		fwrite(b, 1, len, f);
	if (f)
		fclose(f);
	free(b);
}

static void expect_refused(struct img *im, int how, const char *name, const char *needle)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s.img", dir, name);
	emit(im, path, how);
	save_small(im, how, name);
	int rc;
	char *json = inspect(path, &rc);
	EXPECT(rc < 0 && rc != -ENOSPC, "%s: inspect refuses (rc %d)", name, rc);
	EXPECT(strstr(msg, needle), "%s: inspect says '%s': %s", name, needle, msg);
	EXPECT(!has_control(msg), "%s: the message holds no control character", name);
	free(json);
	struct ckpt_restart_opts o = {.size = sizeof(o), .fd = -1, .stdin_fd = -1,
				      .stdout_fd = -1, .stderr_fd = -1};
	struct ckpt_restart_result r = {.size = sizeof(r)};
	rc = ckpt_restart(path, &o, &r, msg, sizeof(msg));
	EXPECT(rc < 0 && strstr(msg, needle), "%s: restart refuses with '%s': rc %d %s", name,
	       needle, rc, msg);
	EXPECT(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "%s: nothing started", name);
	printf("image_crafted: %s refused: %s\n", name, msg);
}

/* ---- the real image ----------------------------------------------------------- */

static void *worker(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* The target: this program again (--target DIR FD), with an empty
   environment so the image (and the corpus made from it) holds nothing of
   the machine's environment. */
static void __attribute__((noreturn)) target_main(const char *d, int ready)
{
	char file[256];
	snprintf(file, sizeof(file), "%s/" ESC_NAME, d);
	int fd = open(file, O_RDWR | O_CREAT, 0600);
	dup2(fd, 7);
	close(fd);
	fd = open("/dev/null", O_RDONLY); /* a second file object */
	dup2(fd, 8);
	close(fd);
	prctl(PR_SET_NAME, "\x1b[2Jcomm");
	pthread_t t;
	pthread_create(&t, NULL, worker, NULL);
	pthread_create(&t, NULL, worker, NULL);
	struct timespec ts = {0, 50000000};
	nanosleep(&ts, NULL);
	if (write(ready, "r", 1) != 1)
		_exit(1);
	close(ready);
	for (;;)
		pause();
}

static pid_t start_target(void)
{
	int p[2];
	if (pipe(p))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		char fd[16];
		snprintf(fd, sizeof(fd), "%d", p[1]);
		char *argv[] = {"image_crafted_test", "--target", dir, fd, NULL};
		char *envp[] = {NULL};
		execve("/proc/self/exe", argv, envp);
		_exit(127);
	}
	close(p[1]);
	char c;
	if (read(p[0], &c, 1) != 1)
		pid = -1;
	close(p[0]);
	return pid;
}

static void set_helper(void)
{
	if (getenv("CKPT_RESTORE_HELPER"))
		return;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 32);
	exe[n > 0 ? n : 0] = '\0';
	*strrchr(exe, '/') = '\0';
	strcat(exe, "/../ckpt-restore");
	setenv("CKPT_RESTORE_HELPER", exe, 1);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--target"))
		target_main(argv[2], atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "--corpus"))
		corpus = argv[2];
	set_helper();
	if (!mkdtemp(dir))
		return 1;
	char img[128];
	snprintf(img, sizeof(img), "%s/real.img", dir);
	pid_t pid = start_target();
	struct ckpt_checkpoint_opts co = {.size = sizeof(co), .fd = -1, .after = CKPT_AFTER_KILL};
	struct ckpt_result cr = {.size = sizeof(cr)};
	int rc = ckpt_checkpoint(pid, img, &co, &cr, msg, sizeof(msg));
	waitpid(pid, NULL, 0);
	EXPECT(rc == 0 && cr.threads == 3, "checkpoint of the 3-thread target: %s", msg);
	if (rc) {
		printf("image_crafted: FAIL\n");
		return 1;
	}
	save_corpus(img, "valid.img");

	/* inspect of the real image: escape sequences arrive as text */
	char *json = inspect(img, &rc);
	EXPECT(rc > 0 && json, "inspect the real image: %s", msg);
	if (json) {
		EXPECT(!has_control(json), "inspect's JSON holds no control character");
		EXPECT(strstr(json, "\"comm\":\"\\\\x1b[2Jcomm\""), "comm shown as \\x1b text");
		EXPECT(strstr(json, "esc-\\\\x1b]0;pwned\\\\x07-\\\\x1b[31m"),
		       "path shown with \\x1b and \\x07 as text");
		EXPECT(strstr(json, "\"sectionOrder\":\"ok\""), "section order checksum recorded");
		free(json);
	}
	static struct img orig;
	EXPECT(parse(img, &orig) == 0, "parse %s", img);
	save_small(&orig, RESEAL, "valid-nopages.img");

	/* the escape sequences in a message: a restart whose file is missing */
	char file[256];
	snprintf(file, sizeof(file), "%s/" ESC_NAME, dir);
	unlink(file);
	struct ckpt_restart_opts o = {.size = sizeof(o), .fd = -1, .stdin_fd = -1,
				      .stdout_fd = -1, .stderr_fd = -1};
	struct ckpt_restart_result r = {.size = sizeof(r)};
	rc = ckpt_restart(img, &o, &r, msg, sizeof(msg));
	EXPECT(rc < 0 && strstr(msg, "\\x1b]0;pwned\\x07") && !has_control(msg),
	       "missing file named in the refusal, sanitized: %s", msg);

	struct img *im;
	/* a malformed record after the first */
	im = copy_of(&orig);
	int v = find(im, CKPT_SEC_VMAS, 0);
	struct ckpt_img_vma *v0 = (void *)im->s[v].p;
	struct ckpt_img_vma *v1 = (void *)(im->s[v].p + v0->rec_size);
	v1->rec_size = 3;
	expect_refused(im, RESEAL, "vmas-bad-second-record", "section VMAS at offset");
	EXPECT(strstr(msg, "malformed record 1"), "names record 1: %s", msg);
	drop(im);
	im = copy_of(&orig);
	int f = find(im, CKPT_SEC_OBJ_BASE + CKPT_OBJ_FILE, 0);
	EXPECT(f >= 0, "the image has an OBJ_file section");
	struct ckpt_img_obj *f0 = (void *)im->s[f].p;
	struct ckpt_img_obj *f1 = (void *)(im->s[f].p + f0->rec_size);
	f1->rec_size = 3;
	expect_refused(im, RESEAL, "files-bad-second-record", "malformed record");
	drop(im);

	/* a second VMAS, a second FILES */
	im = copy_of(&orig);
	insert_copy(im, find(im, CKPT_SEC_VMAS, 0));
	expect_refused(im, RESEAL, "vmas-twice", "section VMAS at offset");
	EXPECT(strstr(msg, "out of order or repeated"), "says repeated: %s", msg);
	drop(im);
	im = copy_of(&orig);
	insert_copy(im, find(im, CKPT_SEC_FDS, 0));
	expect_refused(im, RESEAL, "fds-twice", "out of order or repeated");
	drop(im);
	im = copy_of(&orig);
	insert_copy(im, find(im, CKPT_SEC_OBJ_BASE + CKPT_OBJ_FILE, 0));
	expect_refused(im, RESEAL, "objects-twice", "repeated");
	drop(im);
	/* FDS before VMAS */
	im = copy_of(&orig);
	swap(im, find(im, CKPT_SEC_VMAS, 0), find(im, CKPT_SEC_FDS, 0));
	expect_refused(im, RESEAL, "fds-before-vmas", "comes before the required VMAS");
	drop(im);

	/* the leader's THREAD swapped with a worker's, checksums all right */
	im = copy_of(&orig);
	swap(im, find(im, CKPT_SEC_THREAD, 0), find(im, CKPT_SEC_THREAD, 1));
	expect_refused(im, RESEAL, "leader-swapped", "thread order");
	drop(im);
	/* two workers swapped, END left as it was: the order checksum */
	im = copy_of(&orig);
	swap(im, find(im, CKPT_SEC_THREAD, 1), find(im, CKPT_SEC_THREAD, 2));
	expect_refused(im, KEEP_END, "workers-swapped", "section order checksum mismatch");
	drop(im);

	/* PROCX: an mlockall mode no mlockall(2) call makes */
	im = copy_of(&orig);
	int px = find(im, CKPT_SEC_PROCX, 0);
	EXPECT(px >= 0, "the image has a PROCX section");
	struct ckpt_img_procx *x = (void *)im->s[px].p;
	x->flags |= CKPT_PROCX_F_MLOCKALL;
	x->mlock_future = 4; /* MCL_ONFAULT alone */
	expect_refused(im, RESEAL, "procx-mlock-onfault-alone", "mlock_future");
	drop(im);

	/* header strings, and what follows END */
	im = copy_of(&orig);
	snprintf(im->h.hostname, sizeof(im->h.hostname), "host\x1b]0;pwned\x07");
	expect_refused(im, RESEAL, "hostname-escape", "hostname is not a terminated string");
	drop(im);
	im = copy_of(&orig);
	memset(im->h.kernel_release, 'x', sizeof(im->h.kernel_release));
	expect_refused(im, RESEAL, "kernel-release-unterminated", "kernel release");
	drop(im);
	im = copy_of(&orig);
	expect_refused(im, RESEAL | TRAILING, "bytes-after-end", "bytes follow the END section");
	drop(im);

	/* an image with the 16-byte END of older writers is still read */
	char legacy[128];
	snprintf(legacy, sizeof(legacy), "%s/legacy.img", dir);
	emit(&orig, legacy, LEGACY_END);
	save_small(&orig, LEGACY_END, "legacy-end.img");
	json = inspect(legacy, &rc);
	EXPECT(rc > 0 && json && strstr(json, "\"sectionOrder\":\"not recorded"),
	       "16-byte END accepted, order not recorded: %s", msg);
	free(json);

	if (!fails) {
		char cmd[160];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			fails++;
	}
	printf("image_crafted: %s\n", fails ? "FAIL" : "PASS");
	return fails != 0;
}
