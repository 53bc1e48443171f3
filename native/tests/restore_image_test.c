// SPDX-License-Identifier: BSD-3-Clause
/*
 * Restart from an image file through the public API and the real helper
 * (ckpt_restart -> build/ckpt-restore -> ckpt_wait). The image (format v1,
 * include/ckpt_image.h) is written here from the test-side snapshot of
 * restore_snapshot.h, so this exercises the restart side on its own:
 *  - refusals before anything starts: a flipped byte in the header, in
 *    PROC, in page data and at the end; a truncated image; a file that is
 *    not an image; another kernel release; a CPU feature this machine lacks;
 *    a mapped file missing after --relocate; the PID in use; page runs
 *    outside every VMA or overlapping (checksums right);
 *  - the restored process (its output file moved, found with --relocate):
 *    same PID, 6 threads with their TIDs, lines
 *    continue with no gap or repeat, handlers, a futex waiter and pending
 *    signals kept, a thread asleep in read() of a stdin pipe resumes reading
 *    the restarter's stdin; the helper exits with its exit status (42).
 */
#include "restore_imgwriter.h"

#include <cpuid.h>
#include <limits.h>

static char msg[CKPT_MSG_MAX];

/* ---- refusals -------------------------------------------------------------- */

static off_t copy_image(const char *from, const char *to, off_t flip, off_t cut,
		       void (*edit)(struct ckpt_img_header *))
{
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct stat st;
	fstat(in, &st);
	char *b = malloc((size_t)st.st_size);
	ssize_t n = read(in, b, (size_t)st.st_size);
	if (flip >= 0 && flip < n)
		b[flip] ^= 0x10;
	if (cut >= 0 && cut < n)
		n = cut;
	if (edit) {
		struct ckpt_img_header *h = (void *)b;
		edit(h);
		h->crc32c = 0;
		h->crc32c = ckpt_crc32c(0, h, sizeof(*h));
	}
	if (write(out, b, (size_t)n) != n)
		fails++;
	free(b);
	close(in);
	close(out);
	return st.st_size;
}

static void other_kernel(struct ckpt_img_header *h)
{
	strcpy(h->kernel_release, "5.10.0-ancient");
}

static void needs_avx512(struct ckpt_img_header *h)
{
	h->cpuid_7_ebx |= 1u << 16;
}

static void expect_refused(const char *img, const char *what, const char *needle,
			   const char *reloc)
{
	struct ckpt_restart_opts o = {.size = sizeof(o), .fd = -1, .stdin_fd = -1,
				      .stdout_fd = -1, .stderr_fd = -1};
	const char *r[1] = {reloc};
	if (reloc) {
		o.relocate = r;
		o.nr_relocate = 1;
	}
	struct ckpt_restart_result res = {.size = sizeof(res)};
	int rc = ckpt_restart(img, &o, &res, msg, sizeof(msg));
	EXPECT(rc < 0, "%s: refused (rc %d)", what, rc);
	EXPECT(strstr(msg, needle), "%s: message has '%s': %s", what, needle, msg);
	EXPECT(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "%s: nothing started", what);
}

static void refusals(const char *img, const char *bad)
{
	off_t size = copy_image(img, bad, -1, -1, NULL);
	struct { off_t at; const char *what, *needle; } flips[] = {
		{0, "magic", "not a ckpt image"},
		{100, "header", "header at offset 0: checksum mismatch"},
		{sizeof(struct ckpt_img_header) + 40, "PROC", "section PROC at offset"},
		{size / 2, "page data", "section PAGES at offset"},
		{size - 1, "last byte", "checksum mismatch"},
	};
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		copy_image(img, bad, flips[i].at, -1, NULL);
		char what[64];
		snprintf(what, sizeof(what), "flipped byte %lld (%s)", (long long)flips[i].at,
			 flips[i].what);
		expect_refused(bad, what, flips[i].needle, NULL);
	}
	copy_image(img, bad, -1, size - 5000, NULL);
	expect_refused(bad, "truncated", "truncated", NULL);
	copy_image(img, bad, -1, -1, other_kernel);
	expect_refused(bad, "other kernel", "5.10.0-ancient", NULL);
	unsigned a, b, cx, d;
	__cpuid_count(7, 0, a, b, cx, d);
	if (!(b & (1u << 16))) {
		copy_image(img, bad, -1, -1, needs_avx512);
		expect_refused(bad, "AVX-512 image", "avx512f", NULL);
	} else {
		printf("skipped: AVX-512 refusal (this CPU has AVX-512)\n");
	}
	char reloc[PATH_MAX + 32], exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(reloc, sizeof(reloc), "%s=/nonexistent-dir", exe);
	expect_refused(img, "relocated away", "relocated from", reloc);
	int fd = open(bad, O_WRONLY | O_TRUNC);
	EXPECT(write(fd, "just text\n", 10) == 10, "write");
	close(fd);
	expect_refused(bad, "not an image", "not a ckpt image", NULL);
	/* the same through opts.fd: path is only a label then */
	struct ckpt_restart_opts o = {.size = sizeof(o), .fd = open(bad, O_RDONLY),
				      .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
	struct ckpt_restart_result r = {.size = sizeof(r)};
	int rc = ckpt_restart("label-for-fd", &o, &r, msg, sizeof(msg));
	close(o.fd);
	EXPECT(rc < 0 && strstr(msg, "label-for-fd is not a ckpt image"), "image fd: %d %s", rc,
	       msg);
}

/* Images whose checksums are right but whose page runs do not fit the VMAs. */
static void bad_layouts(struct rs_ctx *c, int pagesfd, const char *bad)
{
	const struct ckpt_img_pagerun *orig = c->runs;
	size_t size = c->nr_runs * sizeof(*orig);
	struct ckpt_img_pagerun *r = malloc(size);
	c->runs = r;
	memcpy(r, orig, size);
	r[0].addr = 0x1000; /* below every VMA, still in address order */
	write_image(bad, c, pagesfd);
	expect_refused(bad, "page run outside every VMA", "is not inside one VMA", NULL);
	if (c->nr_runs > 1) {
		memcpy(r, orig, size);
		r[1].addr = r[0].addr; /* overlaps the run before it */
		write_image(bad, c, pagesfd);
		expect_refused(bad, "overlapping page runs", "is not inside one VMA in address order",
			       NULL);
	}
	c->runs = orig;
	free(r);
}

int main(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 32);
	exe[n > 0 ? n : 0] = '\0';
	*strrchr(exe, '/') = '\0';
	strcat(exe, "/../ckpt-restore");
	setenv("CKPT_RESTORE_HELPER", exe, 1);

	char dir[] = "/tmp/ckpt-imgtest-XXXXXX", out[128], pages[128], img[128], bad[128];
	if (!mkdtemp(dir))
		return 1;
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(pages, sizeof(pages), "%s/pages", dir);
	snprintf(img, sizeof(img), "%s/ctx.img", dir);
	snprintf(bad, sizeof(bad), "%s/bad.img", dir);
	int in1[2], in2[2];
	if (pipe(in1) || pipe(in2))
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in1[0], 0); /* a pipe on stdin, read by a thread */
		close(in1[0]);
		close(in1[1]);
		close(in2[0]);
		close(in2[1]);
		child(out);
	}
	close(in1[0]);
	wait_threads(pid);
	struct timespec ts = {0, 100000000};
	union sigval val = {.sival_int = 7};
	sigqueue(pid, SIGRTMIN, val);
	syscall(SYS_tgkill, pid, pid, SIGUSR2);
	static struct rs_ctx c;
	struct ckpt_err e;
	ckpt_err_init(&e, msg, sizeof(msg));
	c.e = &e;
	int pfd = open(pages, O_RDWR | O_CREAT | O_TRUNC, 0600);
	snapshot(pid, &c, pfd);
	write_image(img, &c, pfd);
	close(pfd);
	long at_kill = count_lines(out);
	snap_kill(pid);

	refusals(img, bad);
	pfd = open(pages, O_RDONLY);
	bad_layouts(&c, pfd, bad);
	close(pfd);
	unlink(pages);

	/* the restored process's stdin: a new pipe (the old one cannot be reopened) */
	struct ckpt_restart_opts o = {.size = sizeof(o), .fd = -1, .stdin_fd = in2[0],
				      .stdout_fd = -1, .stderr_fd = -1};
	/* --relocate: the output file moved to another directory meanwhile */
	char moved[160], reloc[300];
	snprintf(moved, sizeof(moved), "%s/moved", dir);
	mkdir(moved, 0700);
	strcat(moved, "/out");
	EXPECT(rename(out, moved) == 0, "move %s", out);
	snprintf(reloc, sizeof(reloc), "%s=%s", out, moved);
	const char *relocs[1] = {reloc};
	o.relocate = relocs;
	o.nr_relocate = 1;
	strcpy(out, moved);
	struct ckpt_progress prog = {0};
	o.progress = &prog;
	struct ckpt_restart_result r = {.size = sizeof(r)};
	int rc = ckpt_restart(img, &o, &r, msg, sizeof(msg));
	o.progress = NULL;
	EXPECT(prog.phase == CKPT_PHASE_DONE && prog.bytes_total > 0 && r.bytes > 0 &&
	       r.wall_ns > 0,
	       "progress: phase %u, %llu of %llu bytes; result %llu bytes in %llu ns", prog.phase,
	       (unsigned long long)prog.bytes_done, (unsigned long long)prog.bytes_total,
	       (unsigned long long)r.bytes, (unsigned long long)r.wall_ns);
	close(in2[0]);
	o.stdin_fd = -1;
	EXPECT(rc == 0 && r.pid == pid && r.threads == 6 && r.waiter_pid > 0,
	       "restart: rc %d pid %d (want %d) threads %u: %s", rc, r.pid, pid, r.threads, msg);
	if (rc) {
		printf("restore_image: FAIL\n");
		return 1;
	}
	long now = 0;
	for (int i = 0; i < 100 && (now = count_lines(out)) >= 0 && now < at_kill + 20; i++)
		nanosleep(&ts, NULL);
	EXPECT(now >= at_kill + 20, "lines continue with no gap or repeat (%ld at kill, %ld now)",
	       at_kill, now);
	for (int i = 1; i < nthreads; i++) {
		char tp[64];
		snprintf(tp, sizeof(tp), "/proc/%d/task/%d", pid, tids[i]);
		EXPECT(access(tp, F_OK) == 0, "thread %d back with its TID", tids[i]);
	}
	char needle[64];
	snprintf(needle, sizeof(needle), "pid %d is in use", pid);
	struct ckpt_restart_result r2 = {.size = sizeof(r2)};
	rc = ckpt_restart(img, &o, &r2, msg, sizeof(msg));
	EXPECT(rc == -EBUSY && strstr(msg, needle) && strstr(msg, "--no-restore-pid"),
	       "pid in use: %d %s", rc, msg);
	kill(pid, SIGUSR1);
	EXPECT(write(in2[1], "z", 1) == 1, "write to the new stdin");
	nanosleep(&ts, NULL);
	long sc[2] = {0, 0}, cnt[5] = {0}, rd = 0;
	char memp[64];
	snprintf(memp, sizeof(memp), "/proc/%d/mem", pid);
	int memfd = open(memp, O_RDONLY);
	EXPECT(pread(memfd, sc, sizeof(sc), (off_t)(uintptr_t)sigcheck) == sizeof(sc), "read");
	EXPECT(pread(memfd, cnt, sizeof(cnt), (off_t)(uintptr_t)counters) == sizeof(cnt), "read");
	EXPECT(pread(memfd, &rd, sizeof(rd), (off_t)(uintptr_t)&readcheck) == sizeof(rd), "rd");
	close(memfd);
	EXPECT(rd == 'z', "the thread asleep in read(0) resumes on the restarter's stdin (%ld)",
	       rd);
	EXPECT(sc[0] == 7 && sc[1] == 1, "pending signals kept (%ld, %ld)", sc[0], sc[1]);
	EXPECT(cnt[3] == 1, "futex waiter resumed");
	kill(pid, SIGTERM);
	int code = ckpt_wait(r.waiter_pid, msg, sizeof(msg));
	EXPECT(code == 42, "helper exits with the restored process's status 42 (got %d)", code);
	/* after=KILL: restored, then killed before it runs: the waiter says 137 */
	o.after = CKPT_AFTER_KILL;
	rc = ckpt_restart(img, &o, &r, msg, sizeof(msg));
	EXPECT(rc == 0 && r.pid == pid, "restart with after=KILL: %d %s", rc, msg);
	if (!rc) {
		code = ckpt_wait(r.waiter_pid, msg, sizeof(msg));
		EXPECT(code == 128 + SIGKILL, "after=KILL: waiter exits 137 (got %d)", code);
	}
	if (!fails) {
		unlink(out);
		*strrchr(out, '/') = '\0';
		rmdir(out);
		unlink(img);
		unlink(bad);
		rmdir(dir);
	}
	printf("restore_image: %s\n", fails ? "FAIL" : "PASS");
	return fails != 0;
}
