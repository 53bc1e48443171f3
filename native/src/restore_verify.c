// SPDX-License-Identifier: BSD-3-Clause
/*
 * Everything a restart checks before it changes anything: the machine (same
 * kernel release, every CPU feature and xstate component the image may rely
 * on), the files the image needs (after --relocate), and the PID.
 * (Header, section checksums and truncation are checked by the reader.)
 */
#include "ckpt.h"
#include "restore.h"
#include "fd.h"
#include "ptrace.h"

#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

struct feature {
	int word; /* 0: 1.ecx 1: 1.edx 2: 7.ebx 3: 7.ecx 4: 7.edx */
	int bit;
	const char *name;
};

static const struct feature features[] = {
	{0, 0, "sse3"}, {0, 9, "ssse3"}, {0, 12, "fma"}, {0, 19, "sse4_1"}, {0, 20, "sse4_2"},
	{0, 22, "movbe"}, {0, 23, "popcnt"}, {0, 25, "aes"}, {0, 26, "xsave"}, {0, 28, "avx"},
	{0, 29, "f16c"}, {0, 30, "rdrand"}, {1, 25, "sse"}, {1, 26, "sse2"}, {2, 3, "bmi1"},
	{2, 5, "avx2"}, {2, 8, "bmi2"}, {2, 16, "avx512f"}, {2, 17, "avx512dq"},
	{2, 18, "rdseed"}, {2, 19, "adx"}, {2, 28, "avx512cd"}, {2, 29, "sha"},
	{2, 30, "avx512bw"}, {2, 31, "avx512vl"}, {3, 1, "avx512vbmi"}, {3, 6, "avx512vbmi2"},
	{3, 8, "gfni"}, {3, 9, "vaes"}, {3, 10, "vpclmulqdq"}, {3, 11, "avx512vnni"},
	{3, 14, "avx512vpopcntdq"}, {4, 8, "avx512vp2intersect"}, {4, 23, "avx512fp16"},
};

static const char *word_names[5] = {"cpuid.1.ecx", "cpuid.1.edx", "cpuid.7.ebx", "cpuid.7.ecx",
				    "cpuid.7.edx"};

static uint64_t read_xcr0(void)
{
	unsigned a, b, cx, d;
	__cpuid(1, a, b, cx, d);
	if (!(cx & (1u << 27))) /* OSXSAVE */
		return 3;
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

/* Append "name" of a missing bit to buf. */
static void add_missing(char *buf, size_t len, int word, int bit)
{
	const char *name = NULL;
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		if (features[i].word == word && features[i].bit == bit)
			name = features[i].name;
	size_t n = strlen(buf);
	if (n + 40 >= len)
		return;
	if (name)
		snprintf(buf + n, len - n, "%s%s", n ? ", " : "", name);
	else
		snprintf(buf + n, len - n, "%s%s bit %d", n ? ", " : "", word_names[word], bit);
}

int rs_verify_machine(struct rs_ctx *c)
{
	const struct ckpt_img_header *h = c->hdr;
	struct utsname u;
	uname(&u);
	if (strncmp(u.release, h->kernel_release, sizeof(h->kernel_release)) != 0)
		return ckpt_fail(c->e, EXDEV,
				 "image %s was taken on kernel %.65s; this machine runs %s: "
				 "restart it on a machine with the same kernel release",
				 c->label, h->kernel_release, u.release);
	if (strncmp(u.machine, h->machine, sizeof(h->machine) - 1) != 0)
		return ckpt_fail(c->e, EXDEV, "image %s is for %.15s; this machine is %s",
				 c->label, h->machine, u.machine);
	unsigned a, b, cx, d;
	uint32_t cur[5] = {0};
	__cpuid(1, a, b, cx, d);
	cur[0] = cx;
	cur[1] = d;
	if (__get_cpuid_max(0, NULL) >= 7) {
		__cpuid_count(7, 0, a, b, cx, d);
		cur[2] = b;
		cur[3] = cx;
		cur[4] = d;
	}
	uint32_t img[5] = {h->cpuid_1_ecx, h->cpuid_1_edx, h->cpuid_7_ebx, h->cpuid_7_ecx,
			   h->cpuid_7_edx};
	char missing[300] = "";
	for (int w = 0; w < 5; w++) {
		uint32_t lack = img[w] & ~cur[w];
		if (w == 0)
			lack &= ~(1u << 31 | 1u << 27); /* hypervisor, OSXSAVE: not features */
		for (int bit = 0; bit < 32; bit++)
			if (lack & (1u << bit))
				add_missing(missing, sizeof(missing), w, bit);
	}
	uint64_t xcr0 = read_xcr0();
	uint64_t xlack = h->xcr0 & ~xcr0;
	if (xlack) {
		size_t n = strlen(missing);
		snprintf(missing + n, sizeof(missing) - n, "%sxstate components 0x%llx%s",
			 n ? ", " : "", (unsigned long long)xlack,
			 xlack & 0xe0 ? " (AVX-512 registers)" : "");
	}
	if (missing[0])
		return ckpt_fail(c->e, ENOTSUP,
				 "image %s needs CPU features this machine lacks: %s", c->label,
				 missing);
	return 0;
}

int rs_check_file(struct rs_ctx *c, const char *what, const char *orig, const char *path,
		  int want_dir, uint64_t dev, uint64_t ino)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		if (strcmp(orig, path) != 0)
			return ckpt_fail_errno(c->e, errno,
					       "%s %s (relocated from %s) needed by image %s",
					       what, path, orig, c->label);
		return ckpt_fail_errno(c->e, errno,
				       "%s %s needed by image %s is missing (use --relocate "
				       "OLD=NEW if it moved)",
				       what, path, c->label);
	}
	if (want_dir == 1 && !S_ISDIR(st.st_mode))
		return ckpt_fail(c->e, ENOTDIR, "%s %s needed by image %s is not a directory",
				 what, path, c->label);
	if (want_dir == 0 && !S_ISREG(st.st_mode))
		return ckpt_fail(c->e, EINVAL, "%s %s needed by image %s is not a regular file",
				 what, path, c->label);
	static char last_warned[CKPT_PATH_MAX]; /* a library has several VMAs: warn once */
	if ((dev || ino) && (st.st_ino != ino || st.st_dev != dev) && !strcmp(orig, path) &&
	    strcmp(last_warned, path) != 0) {
		rs_warn(c, "%s %s was replaced since the checkpoint (inode %llu, was %llu)", what,
			path, (unsigned long long)st.st_ino, (unsigned long long)ino);
		snprintf(last_warned, sizeof(last_warned), "%s", path);
	}
	return 0;
}

int rs_verify_files(struct rs_ctx *c)
{
	int rc;
	char cwd[CKPT_PATH_MAX];
	snprintf(cwd, sizeof(cwd), "%s", c->proc->cwd);
	size_t n = strlen(cwd), sl = strlen(" (deleted)");
	c->cwd_deleted = n > sl && !strcmp(cwd + n - sl, " (deleted)");
	if (c->cwd_deleted) /* its parent must be there: the directory is made in it */
		cwd[n - sl] = '\0';
	rs_relocate(c, cwd, c->cwd);
	rs_relocate(c, c->proc->exe, c->exe);
	if (c->cwd_deleted) {
		char orig[CKPT_PATH_MAX], parent[CKPT_PATH_MAX];
		snprintf(orig, sizeof(orig), "%s", cwd);
		snprintf(parent, sizeof(parent), "%s", c->cwd);
		char *slash = strrchr(parent, '/');
		if (!slash || slash == parent)
			snprintf(parent, sizeof(parent), "/");
		else
			*slash = '\0';
		slash = strrchr(orig, '/');
		if (slash && slash != orig)
			*slash = '\0';
		rc = rs_check_file(c, "parent of the removed working directory", orig, parent, 1,
				   0, 0);
	} else {
		rc = rs_check_file(c, "working directory", c->proc->cwd, c->cwd, 1, 0, 0);
	}
	if (rc)
		return rc;
	for (uint32_t i = 0; i < c->nr_vmas; i++) {
		struct rs_vma *v = &c->vmas[i];
		if (v->v->kind != CKPT_VMA_FILE)
			continue;
		rs_relocate(c, v->name, v->path);
		if (v->v->flags & CKPT_VMA_F_DELETED)
			continue; /* restored from its dumped pages, see restore_mm.c */
		rc = rs_check_file(c, "mapped file", v->name, v->path, 0, v->v->dev, v->v->ino);
		if (rc)
			return rc;
		struct stat st;
		if (stat(v->path, &st) == 0 && (uint64_t)st.st_size <= v->v->pgoff &&
		    !(v->v->flags & CKPT_VMA_F_DUMPED))
			return ckpt_fail(c->e, EINVAL,
					 "mapped file %s is %lld bytes now, shorter than the mapping "
					 "at offset %llu in image %s",
					 v->path, (long long)st.st_size,
					 (unsigned long long)v->v->pgoff, c->label);
	}
	return rs_fd_verify(c);
}

/* Is this id held by a process that is already dead (a zombie, or with
   SIGKILL pending): one whose restore was cut short by a killed helper and
   that init has not reaped yet? */
static int held_by_dead(pid_t id)
{
	char s = ckpt_proc_state(id);
	if (s == 'Z' || s == 'X')
		return 1;
	char p[64], buf[2048];
	snprintf(p, sizeof(p), "/proc/%d/status", id);
	FILE *f = fopen(p, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	static const char *const pend[] = {"\nSigPnd:\t", "\nShdPnd:\t"};
	for (int i = 0; i < 2; i++) {
		const char *q = strstr(buf, pend[i]);
		if (q && (strtoull(q + 9, NULL, 16) & (1ull << (SIGKILL - 1))))
			return 1;
	}
	return 0;
}

/* 1 if no process or thread has this id. An id held by a dead process is
   waited for (init reaps orphans on its own schedule: up to 2 s on some
   machines), so a restart right after a killed one finds its PID free. */
static int id_free(pid_t id)
{
	char p[32];
	snprintf(p, sizeof(p), "/proc/%d", id);
	for (int i = 0; i < 1000; i++) {
		if (kill(id, 0) < 0 && errno == ESRCH && access(p, F_OK) < 0)
			return 1;
		if (!held_by_dead(id))
			return 0;
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

int rs_verify_pid(struct rs_ctx *c)
{
	if (c->flags & CKPT_RS_NO_RESTORE_PID)
		return 0;
	pid_t pid = c->proc->pid;
	if (!id_free(pid))
		return ckpt_fail(c->e, EBUSY,
				 "pid %d is in use; restart with --no-restore-pid "
				 "(cr_restart --no-restore-pid) to take a new one",
				 pid);
	for (uint32_t i = 1; i < c->nr_threads; i++) {
		pid_t tid = c->threads[i].t->tid;
		if (!id_free(tid))
			return ckpt_fail(c->e, EBUSY,
					 "thread id %d (of pid %d) is in use; restart with "
					 "--no-restore-pid (cr_restart --no-restore-pid) to take new ids",
					 tid, pid);
	}
	return 0;
}
