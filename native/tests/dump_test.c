// SPDX-License-Identifier: BSD-3-Clause
/*
 * The checkpoint side through the public API, on children of this test:
 *  - refusals before anything is touched: bad pid, no such process, a thread
 *    id, ourselves, a process already traced, bad options, a destination in a
 *    missing directory; the target keeps running;
 *  - a failure half way (timeout while copying memory) leaves the previous
 *    image byte for byte and no temp file, and the target running;
 *  - --backup keeps FILE.~1~, FILE.~2~; no-clobber refuses an existing file;
 *    an image written to a caller's fd is a valid image;
 *  - after-actions: STOP leaves it stopped, TERM delivers SIGTERM, CONT keeps
 *    it running; images are written past the page cache (O_DIRECT), the
 *    same bytes as through it (CKPT_IMAGE_BUFFERED=1); progress ends in DONE
 *    with the image size; inspect and probe describe it (and say how much
 *    room they need);
 *  - a disk that fills up mid-write: ENOSPC named, the previous image kept,
 *    no temp file, the target running.
 */
#include "ckpt.h"
#include "ckpt_image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"

static char dir[] = "/tmp/ckpt-dump-XXXXXX";
static char msg[CKPT_MSG_MAX];
static volatile long *shared; /* the children count here */

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static pid_t spawn_counter(size_t mib)
{
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		if (mib) {
			unsigned char *p = malloc(mib << 20);
			for (size_t i = 0; i < mib << 20; i += 4096)
				p[i] = (unsigned char)(i >> 12) | 1;
		}
		for (;;) {
			shared[0]++;
			msleep(1);
		}
	}
	msleep(mib ? 300 + (int)mib * 4 : 50);
	return pid;
}

/* The counter moves within 2 s (a loaded machine may not schedule it in 30 ms). */
static int running(void)
{
	long a = shared[0];
	for (int i = 0; i < 100; i++) {
		msleep(20);
		if (shared[0] > a)
			return 1;
	}
	return 0;
}

static char state_of(pid_t pid)
{
	char p[64], buf[512];
	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	FILE *f = fopen(p, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	char *r = strrchr(buf, ')');
	return r ? r[2] : 0;
}

static int cp(pid_t pid, const char *path, struct ckpt_checkpoint_opts *o, struct ckpt_result *r)
{
	struct ckpt_result tmp = {.size = sizeof(tmp)};
	if (!r)
		r = &tmp;
	r->size = sizeof(*r);
	o->size = sizeof(*o);
	return ckpt_checkpoint(pid, path, o, r, msg, sizeof(msg));
}

static void kill_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int temp_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)))
		n += strstr(de->d_name, ".tmp-") != NULL;
	if (d)
		closedir(d);
	return n;
}

static void test_refusals(void)
{
	struct ckpt_checkpoint_opts o = {.fd = -1};
	char img[PATH_MAX];
	snprintf(img, sizeof(img), "%s/r.img", dir);
	EXPECT(cp(0, img, &o, NULL) == -EINVAL && strstr(msg, "positive"), "pid 0: %s", msg);
	EXPECT(cp(4000000, img, &o, NULL) == -ESRCH && strstr(msg, "no process"), "esrch: %s",
	       msg);
	EXPECT(cp(getpid(), img, &o, NULL) == -EINVAL && strstr(msg, "itself"), "self: %s", msg);
	pid_t pid = spawn_counter(0);
	o.after = 9;
	EXPECT(cp(pid, img, &o, NULL) == -EINVAL && strstr(msg, "after-action"), "after: %s",
	       msg);
	o.after = CKPT_AFTER_SIGNAL;
	o.signal = 99;
	EXPECT(cp(pid, img, &o, NULL) == -EINVAL && strstr(msg, "signal 99"), "signal: %s", msg);
	o = (struct ckpt_checkpoint_opts){.fd = -1, .scope = 7};
	EXPECT(cp(pid, img, &o, NULL) == -EINVAL && strstr(msg, "scope 7"), "scope: %s", msg);
	o = (struct ckpt_checkpoint_opts){.fd = -1};
	char missing[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/no/such/dir/x.img", dir);
	EXPECT(cp(pid, missing, &o, NULL) == -ENOENT && strstr(msg, "no/such/dir"),
	       "missing dir: %s", msg);
	EXPECT(cp(pid, dir, &o, NULL) == -EISDIR, "a directory as image: %s", msg);
	EXPECT(running(), "target still running after refusals");
	/* already traced (by us): named, and the target is left alone */
	EXPECT(ptrace(PTRACE_SEIZE, pid, 0, 0) == 0, "seize");
	int rc = cp(pid, img, &o, NULL);
	char want[64];
	snprintf(want, sizeof(want), "already traced by %d", getpid());
	EXPECT(rc == -EPERM && strstr(msg, want), "traced: rc %d %s", rc, msg);
	ptrace(PTRACE_DETACH, pid, 0, 0);
	EXPECT(running(), "target still running after a refused traced checkpoint");
	EXPECT(access(img, F_OK) != 0 && temp_files() == 0, "no image, no temp file left");
	kill_reap(pid);
}

static uint64_t file_crc_like(const char *path, size_t *size)
{
	int fd = open(path, O_RDONLY);
	uint64_t h = 1469598103934665603ull;
	unsigned char buf[65536];
	ssize_t n;
	*size = 0;
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 1099511628211ull;
		*size += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	return h;
}

static void test_failure_keeps_previous(void)
{
	char img[PATH_MAX];
	snprintf(img, sizeof(img), "%s/keep.img", dir);
	pid_t pid = spawn_counter(256);
	struct ckpt_checkpoint_opts o = {.fd = -1};
	EXPECT(cp(pid, img, &o, NULL) == 0, "first checkpoint: %s", msg);
	size_t s1, s2;
	uint64_t h1 = file_crc_like(img, &s1);
	o.timeout_ms = 1; /* 256 MiB cannot be copied in 1 ms */
	int rc = cp(pid, img, &o, NULL);
	EXPECT(rc == -ETIMEDOUT && strstr(msg, "timed out"), "timeout: rc %d %s", rc, msg);
	uint64_t h2 = file_crc_like(img, &s2);
	EXPECT(h1 == h2 && s1 == s2, "previous image untouched (%zu -> %zu bytes)", s1, s2);
	EXPECT(temp_files() == 0, "no temp file left");
	EXPECT(running() && state_of(pid) != 't', "target running, not traced-stopped");
	kill_reap(pid);
}

static void test_backup_noclobber_fd(void)
{
	char img[PATH_MAX], b1[PATH_MAX + 8], b2[PATH_MAX + 8], b3[PATH_MAX + 8];
	snprintf(img, sizeof(img), "%s/b.img", dir);
	snprintf(b1, sizeof(b1), "%s.~1~", img);
	snprintf(b2, sizeof(b2), "%s.~2~", img);
	snprintf(b3, sizeof(b3), "%s.~3~", img);
	pid_t pid = spawn_counter(0);
	struct ckpt_checkpoint_opts o = {.fd = -1, .flags = CKPT_CP_BACKUP};
	for (int i = 0; i < 3; i++)
		EXPECT(cp(pid, img, &o, NULL) == 0, "backup checkpoint %d: %s", i, msg);
	EXPECT(access(img, F_OK) == 0 && access(b1, F_OK) == 0 && access(b2, F_OK) == 0 &&
		       access(b3, F_OK) != 0,
	       "FILE, FILE.~1~, FILE.~2~ and no ~3~");
	static char js[1 << 16];
	size_t need = 0;
	EXPECT(ckpt_inspect(b1, CKPT_IN_VERIFY, js, sizeof(js), &need, msg, sizeof(msg)) > 0,
	       "backup is a valid image: %s", msg);
	o.flags = CKPT_CP_NOCLOBBER;
	EXPECT(cp(pid, img, &o, NULL) == -EEXIST && strstr(msg, "already exists"),
	       "no-clobber: %s", msg);
	char fdimg[PATH_MAX];
	snprintf(fdimg, sizeof(fdimg), "%s/fd.img", dir);
	int fd = open(fdimg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	o = (struct ckpt_checkpoint_opts){.fd = fd};
	struct ckpt_result r;
	EXPECT(cp(pid, "label-only", &o, &r) == 0, "to an fd: %s", msg);
	close(fd);
	struct stat st;
	stat(fdimg, &st);
	EXPECT((uint64_t)st.st_size == r.bytes && r.bytes > 0, "fd image has %llu bytes",
	       (unsigned long long)r.bytes);
	int n = ckpt_inspect(fdimg, CKPT_IN_VERIFY, js, sizeof(js), &need, msg, sizeof(msg));
	EXPECT(n > 0 && strstr(js, "\"checksum\":\"ok\""), "fd image verifies: %s", msg);
	EXPECT(ckpt_inspect(fdimg, 0, js, 10, &need, msg, sizeof(msg)) == -ENOSPC &&
		       need > 10,
	       "inspect reports the room it needs (%zu)", need);
	kill_reap(pid);
}

static void test_after_actions(void)
{
	char img[PATH_MAX];
	snprintf(img, sizeof(img), "%s/a.img", dir);
	pid_t pid = spawn_counter(0);
	struct ckpt_progress prog = {0};
	struct ckpt_checkpoint_opts o = {.fd = -1, .after = CKPT_AFTER_CONT, .progress = &prog};
	struct ckpt_result r;
	EXPECT(cp(pid, img, &o, &r) == 0, "cont: %s", msg);
	EXPECT(running(), "CONT: keeps running");
	EXPECT(prog.phase == CKPT_PHASE_DONE && prog.bytes_done == r.bytes &&
		       prog.bytes_total == r.bytes,
	       "progress ends DONE at the image size (%u %llu/%llu)", prog.phase,
	       (unsigned long long)prog.bytes_done, (unsigned long long)prog.bytes_total);
	EXPECT(r.threads == 1 && r.processes == 1 && r.vmas > 5 && r.pages > 0 &&
		       r.frozen_ns > 0 && r.frozen_ns <= r.wall_ns,
	       "result fields (threads %u vmas %u pages %llu)", r.threads, r.vmas,
	       (unsigned long long)r.pages);
	o.after = CKPT_AFTER_STOP;
	EXPECT(cp(pid, img, &o, NULL) == 0, "stop: %s", msg);
	msleep(50);
	EXPECT(state_of(pid) == 'T' && !running(), "STOP: stopped (state %c)", state_of(pid));
	kill(pid, SIGCONT);
	msleep(20);
	EXPECT(running(), "runs again after SIGCONT");
	o.after = CKPT_AFTER_TERM;
	EXPECT(cp(pid, img, &o, NULL) == 0, "term: %s", msg);
	int st = 0;
	waitpid(pid, &st, 0);
	EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "TERM: died of SIGTERM (%#x)", st);
	static char js[1024];
	int n = ckpt_probe(js, sizeof(js), msg, sizeof(msg));
	EXPECT(n > 0 && strstr(js, "\"imageFormat\":2") && strstr(js, "\"user\""), "probe: %s",
	       n > 0 ? js : msg);
	EXPECT(ckpt_probe(js, 8, msg, sizeof(msg)) == -ENOSPC, "probe: ENOSPC on a short buffer");
}

/* Pages of path in the page cache, of *total. */
static size_t cached_pages(const char *path, size_t *total)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	*total = 0;
	if (fd < 0 || fstat(fd, &st) < 0 || !st.st_size) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	size_t len = (size_t)st.st_size, n = (len + 4095) / 4096, in = 0;
	void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	unsigned char *v = malloc(n);
	if (m != MAP_FAILED && v && mincore(m, len, v) == 0)
		for (size_t i = 0; i < n; i++)
			in += v[i] & 1;
	if (m != MAP_FAILED)
		munmap(m, len);
	free(v);
	close(fd);
	*total = n;
	return in;
}

/* A target whose memory stays as it is while it is checkpointed: private
   anonymous memory with holes (every third page never touched), shared
   anonymous memory, private copies of pages inside a private file mapping
   (the rest of it only in the file); then it waits in pause(). Kept on one
   CPU: the kernel writes the CPU a thread runs on into its rseq area (glibc
   registers one per thread), which would differ between two checkpoints. */
static pid_t spawn_still(void)
{
	char f[PATH_MAX];
	snprintf(f, sizeof(f), "%s/still.data", dir);
	int fd = open(f, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int p[2];
	if (fd < 0 || ftruncate(fd, 4 << 20) < 0 || pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		cpu_set_t cpus, one;
		CPU_ZERO(&one);
		if (sched_getaffinity(0, sizeof(cpus), &cpus) < 0)
			_exit(1);
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &cpus)) {
				CPU_SET(c, &one);
				break;
			}
		if (sched_setaffinity(0, sizeof(one), &one) < 0)
			_exit(1);
		size_t n = 40 << 20;
		unsigned char *a = mmap(NULL, n, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		unsigned char *sh = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		unsigned char *fm = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		if (a == MAP_FAILED || sh == MAP_FAILED || fm == MAP_FAILED)
			_exit(1);
		for (size_t i = 0; i < n; i += 4096)
			if ((i >> 12) % 3)
				for (size_t k = 0; k < 4096; k += 64)
					a[i + k] = (unsigned char)((i >> 12) * 7 + k);
		for (size_t i = 0; i < 4 << 20; i++)
			sh[i] = (unsigned char)(i * 13 + 1);
		for (size_t i = 0; i < 4 << 20; i += 8192)
			fm[i + 100] = (unsigned char)(i >> 13);
		close(p[0]);
		close(fd);
		if (write(p[1], "R", 1) != 1)
			_exit(1);
		close(p[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	close(fd);
	char c = 0;
	ssize_t k = read(p[0], &c, 1);
	close(p[0]);
	return k == 1 && c == 'R' ? pid : -1;
}

/* The image from byte `from` on, in memory (NULL if unreadable). */
static unsigned char *slurp(const char *path, size_t from, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	unsigned char *b = NULL;
	*len = 0;
	if (fd >= 0 && fstat(fd, &st) == 0 && (size_t)st.st_size > from) {
		b = malloc((size_t)st.st_size - from);
		if (b && pread(fd, b, (size_t)st.st_size - from, (off_t)from) ==
				 st.st_size - (off_t)from)
			*len = (size_t)st.st_size - from;
	}
	if (fd >= 0)
		close(fd);
	return b;
}

/* Images are written past the page cache (O_DIRECT), for every after-action,
   --cont too: memory is copied once, out of the target, and the disk takes
   it from the writer's buffers; the file's pages are not cached afterwards,
   except the unaligned tail. CKPT_IMAGE_BUFFERED=1 writes through the page
   cache as before. Both ways write the same bytes: everything after the
   header (its creation time differs) is equal, byte for byte, for a target
   whose memory has holes, shared and private anonymous and private file
   pages. tmpfs keeps every file in memory: no residency to see. */
static void test_direct_write(void)
{
	char img[PATH_MAX], old[PATH_MAX];
	snprintf(img, sizeof(img), "%s/direct.img", dir);
	snprintf(old, sizeof(old), "%s/buffered.img", dir);
	struct statfs sf;
	int tmpfs = statfs(dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
	if (tmpfs)
		printf("dump: %s is tmpfs: page cache residency not checked\n", dir);
	static char js[1 << 16];
	size_t total, in;
	static const uint32_t afters[] = {CKPT_AFTER_STOP, CKPT_AFTER_CONT};
	static const char *names[] = {"STOP", "CONT"};
	for (int i = 0; i < 2; i++) {
		pid_t pid = spawn_still();
		EXPECT(pid > 0, "target with varied memory started");
		if (pid <= 0)
			return;
		struct ckpt_checkpoint_opts o = {.fd = -1, .after = afters[i]};
		EXPECT(cp(pid, img, &o, NULL) == 0, "%s: %s", names[i], msg);
		if (afters[i] == CKPT_AFTER_STOP)
			kill(pid, SIGCONT);
		in = cached_pages(img, &total);
		EXPECT(total > 8192, "the image holds the 40 MiB (%zu pages)", total);
		if (!tmpfs)
			EXPECT(in < total / 16, "after=%s: image written past the page cache "
			       "(%zu of %zu pages cached)", names[i], in, total);
		EXPECT(ckpt_inspect(img, CKPT_IN_VERIFY, js, sizeof(js), NULL, msg,
				    sizeof(msg)) > 0,
		       "after=%s image verifies: %s", names[i], msg);
		setenv("CKPT_IMAGE_BUFFERED", "1", 1);
		EXPECT(cp(pid, old, &o, NULL) == 0, "%s, buffered: %s", names[i], msg);
		unsetenv("CKPT_IMAGE_BUFFERED");
		if (afters[i] == CKPT_AFTER_STOP)
			kill(pid, SIGCONT);
		in = cached_pages(old, &total);
		if (!tmpfs)
			EXPECT(in > total / 2, "after=%s, CKPT_IMAGE_BUFFERED=1: image through the "
			       "page cache (%zu of %zu pages cached)", names[i], in, total);
		size_t la, lb;
		unsigned char *a = slurp(img, sizeof(struct ckpt_img_header), &la);
		unsigned char *b = slurp(old, sizeof(struct ckpt_img_header), &lb);
		size_t at = 0;
		while (a && b && at < la && at < lb && a[at] == b[at])
			at++;
		EXPECT(a && b && la == lb && at == la,
		       "after=%s: direct and buffered images hold the same bytes (%zu and %zu "
		       "bytes after the header, first difference at %zu)",
		       names[i], la, lb, at);
		free(a);
		free(b);
		kill_reap(pid);
	}
}

/* A disk that fills up mid-write (a 64 MiB ext4 on a loop device, or a
   64 MiB tmpfs where no loop device can be had; a 128 MiB target): the
   checkpoint fails naming the write and ENOSPC, for --cont as for an
   after-action that waits for the disk; the previous image there stays as
   it was, no temp file is left, and the target runs on. */
static void test_disk_full(void)
{
	char mnt[PATH_MAX], fs[PATH_MAX], img[PATH_MAX + 16], cmd[4 * PATH_MAX + 128];
	snprintf(mnt, sizeof(mnt), "%s/small", dir);
	snprintf(fs, sizeof(fs), "%s/small.ext4", dir);
	snprintf(img, sizeof(img), "%s/full.img", mnt);
	EXPECT(mkdir(mnt, 0700) == 0, "mkdir %s: %s", mnt, strerror(errno));
	snprintf(cmd, sizeof(cmd),
		 "truncate -s 64M %s && mkfs.ext4 -q -F %s >/dev/null 2>&1 && "
		 "mount -o loop %s %s 2>/dev/null",
		 fs, fs, fs, mnt);
	const char *kind = "ext4 on a loop device";
	if (system(cmd) != 0) {
		kind = "tmpfs";
		if (mount("tmpfs", mnt, "tmpfs", 0, "size=64m") < 0) {
			EXPECT(0, "mount a 64 MiB ext4 (loop) or tmpfs at %s: %s", mnt,
			       strerror(errno));
			return;
		}
	}
	printf("dump: disk full on a 64 MiB %s\n", kind);
	pid_t small = spawn_counter(0);
	struct ckpt_checkpoint_opts o = {.fd = -1};
	EXPECT(cp(small, img, &o, NULL) == 0, "a small image fits: %s", msg);
	kill_reap(small);
	size_t s1, s2;
	uint64_t h1 = file_crc_like(img, &s1), h2;
	pid_t pid = spawn_counter(128);
	static const uint32_t afters[] = {CKPT_AFTER_CONT, CKPT_AFTER_STOP};
	for (int i = 0; i < 2; i++) {
		o = (struct ckpt_checkpoint_opts){.fd = -1, .after = afters[i]};
		int rc = cp(pid, img, &o, NULL);
		EXPECT(rc == -ENOSPC && strstr(msg, "write image") && strstr(msg, img),
		       "%s, after=%u: rc %d (expected -ENOSPC) %s", kind, afters[i], rc, msg);
		h2 = file_crc_like(img, &s2);
		EXPECT(h1 == h2 && s1 == s2, "previous image untouched (%zu -> %zu bytes)", s1,
		       s2);
		DIR *d = opendir(mnt);
		struct dirent *de;
		int tmp = 0;
		while (d && (de = readdir(d)))
			tmp += strstr(de->d_name, ".tmp-") != NULL;
		if (d)
			closedir(d);
		EXPECT(tmp == 0, "no temp file left on the full disk");
		EXPECT(running() && state_of(pid) != 't' && state_of(pid) != 'T',
		       "target running after the failed checkpoint (state %c)", state_of(pid));
	}
	kill_reap(pid);
	EXPECT(umount2(mnt, 0) == 0 || umount2(mnt, MNT_DETACH) == 0, "umount %s: %s", mnt,
	       strerror(errno));
	unlink(fs);
}

/* Another user's process: its limits come from /proc/PID/limits where
   prlimit needs CAP_SYS_RESOURCE (absent on some machines, even for root). */
static void test_other_user(void)
{
	char img[PATH_MAX];
	snprintf(img, sizeof(img), "%s/nobody.img", dir);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit l = {123, 456};
		setrlimit(RLIMIT_CORE, &l);
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(1);
		for (;;) {
			shared[0]++;
			msleep(1);
		}
	}
	msleep(100);
	struct ckpt_checkpoint_opts o = {.fd = -1};
	EXPECT(cp(pid, img, &o, NULL) == 0, "checkpoint of a nobody process: %s", msg);
	static char js[1 << 16];
	int n = ckpt_inspect(img, 0, js, sizeof(js), NULL, msg, sizeof(msg));
	EXPECT(n > 0 && strstr(js, "\"uid\":65534"), "the image holds uid 65534: %s",
	       n > 0 ? "(no)" : msg);
	kill_reap(pid);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	test_refusals();
	test_failure_keeps_previous();
	test_backup_noclobber_fd();
	test_after_actions();
	test_direct_write();
	test_disk_full();
	test_other_user();
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (!fails && system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
	printf("dump: %s\n", fails ? "FAIL" : "PASS");
	return fails != 0;
}
