/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test support for the restart tests (header-only, included by
 * restore_live_test.c and restore_image_test.c): the program under test (a
 * glibc child with a counter line per tick, 3 counting threads, a futex
 * waiter, blocked pending signals, handlers) and a minimal test-side
 * snapshot of it, independent of libckpt's checkpointer (written out as an
 * image by restore_imgwriter.h).
 */
#ifndef CKPT_TEST_RESTORE_SNAPSHOT_H
#define CKPT_TEST_RESTORE_SNAPSHOT_H
#include "ckpt.h"
#include "cpu.h"
#include "crc32c.h"
#include "ptrace.h"
#include "restore.h"

#include <elf.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <cpuid.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"

#define MAXV 256
static struct ckpt_img_vma vmas[MAXV];
static struct rs_vma rvmas[MAXV];
static char names[MAXV][256];
static struct ckpt_img_pagerun runs[MAXV];
static struct ckpt_img_file files[16];
static struct rs_file rfiles[16];
static char fpaths[16][256];
static struct ckpt_img_proc proc;
#define MAXT 8 /* main, 3 counters, a futex waiter, a pipe reader */
static struct ckpt_img_thread thrs[MAXT];
static struct rs_thread rthrs[MAXT];
static unsigned char *xstates[MAXT]; /* ckpt_xstate_max() bytes each */
static pid_t tids[MAXT];
static int nthreads;

/* the child's threads: 3 counters and one waiter on a condition variable */
static volatile long counters[5];
static volatile long sigcheck[2]; /* queued SIGRTMIN value; SIGUSR2 still pending */
static volatile long readcheck; /* the byte a thread asleep in read(0) got */
static struct ckpt_img_siginfo shared_si[8], thread_si[8];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static volatile sig_atomic_t usr1;
static void on_usr1(int s)
{
	(void)s;
	usr1 = 1;
}

static void *counter_thread(void *arg)
{
	long i = (long)arg;
	for (;;) {
		counters[i]++;
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void *waiter_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!counters[4])
		pthread_cond_wait(&cv, &mu); /* futex wait at checkpoint time */
	pthread_mutex_unlock(&mu);
	counters[3] = 1;
	return NULL;
}

static void *reader_thread(void *arg)
{
	(void)arg;
	char ch;
	if (read(0, &ch, 1) == 1) /* asleep in a pipe read at checkpoint time */
		readcheck = ch;
	return NULL;
}

static volatile sig_atomic_t term;
static void on_term(int s)
{
	(void)s;
	term = 1;
}

static void __attribute__((noreturn)) child(const char *out)
{
	signal(SIGTERM, on_term);
	signal(SIGUSR1, on_usr1);
	sigset_t blk;
	sigemptyset(&blk);
	sigaddset(&blk, SIGUSR2);
	sigaddset(&blk, SIGRTMIN);
	pthread_sigmask(SIG_BLOCK, &blk, NULL); /* threads inherit it */
	pthread_t t;
	for (long i = 0; i < 3; i++)
		pthread_create(&t, NULL, counter_thread, (void *)i);
	pthread_create(&t, NULL, waiter_thread, NULL);
	pthread_create(&t, NULL, reader_thread, NULL);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	for (long i = 0; !term; i++) {
		if (usr1 && !counters[4]) {
			siginfo_t si;
			struct timespec zero = {0, 0};
			sigset_t rt, pend;
			sigemptyset(&rt);
			sigaddset(&rt, SIGRTMIN);
			if (sigtimedwait(&rt, &si, &zero) == SIGRTMIN)
				sigcheck[0] = si.si_value.sival_int;
			sigpending(&pend);
			sigcheck[1] = sigismember(&pend, SIGUSR2);
			pthread_mutex_lock(&mu);
			counters[4] = 1;
			pthread_cond_signal(&cv);
			pthread_mutex_unlock(&mu);
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now); /* through the vdso */
		dprintf(fd, "%ld\n", i);
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
	_exit(42);
}

/* Move our own [vvar]/[vvar_vclock]/[vdso] by delta so the restore (whose
   child is a copy of us) must put the block back where the image had it.
   After this we make no vDSO calls (glibc cached the old addresses). */
static __attribute__((unused)) int move_own_vdso(long delta)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[256];
	unsigned long part[3][2];
	int n = 0;
	while (f && fgets(line, sizeof(line), f) && n < 3)
		if (strstr(line, "[vvar]") || strstr(line, "[vvar_vclock]") || strstr(line, "[vdso]")) {
			sscanf(line, "%lx-%lx", &part[n][0], &part[n][1]);
			n++;
		}
	if (f)
		fclose(f);
	for (int i = n - 1; i >= 0; i--) /* upwards: top part first */
		if (syscall(SYS_mremap, part[i][0], part[i][1] - part[i][0],
			    part[i][1] - part[i][0], MREMAP_MAYMOVE | MREMAP_FIXED,
			    part[i][0] + delta) < 0)
			return -1;
	return n == 3 ? 0 : -1;
}

static long count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	long want = 0, v;
	while (f && fscanf(f, "%ld", &v) == 1) {
		if (v != want) {
			fprintf(stderr, "  line %ld is %ld\n", want, v);
			fclose(f);
			return -1;
		}
		want++;
	}
	if (f)
		fclose(f);
	return want;
}

static void snap_maps(pid_t pid, struct rs_ctx *c, int img, int memfd)
{
	char p[64], line[512];
	snprintf(p, sizeof(p), "/proc/%d/maps", pid);
	FILE *f = fopen(p, "r");
	uint64_t off = 0;
	static unsigned char buf[1 << 20];
	while (fgets(line, sizeof(line), f) && c->nr_vmas < MAXV) {
		unsigned long lo, hi, pg, ino;
		char perms[8], dev[16];
		int n = 0;
		sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &lo, &hi, perms, &pg, dev, &ino, &n);
		char *name = line + n;
		name[strcspn(name, "\n")] = '\0';
		struct ckpt_img_vma *v = &vmas[c->nr_vmas];
		v->start = lo;
		v->end = hi;
		v->pgoff = pg;
		v->ino = ino;
		unsigned maj = 0, min = 0;
		sscanf(dev, "%x:%x", &maj, &min);
		v->dev = makedev(maj, min);
		v->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			  (perms[2] == 'x' ? PROT_EXEC : 0);
		v->flags = perms[3] == 's' ? CKPT_VMA_F_SHARED : 0;
		if (!strcmp(name, "[vdso]"))
			v->kind = CKPT_VMA_VDSO;
		else if (!strcmp(name, "[vvar]"))
			v->kind = CKPT_VMA_VVAR;
		else if (!strcmp(name, "[vvar_vclock]")) {
			v->kind = CKPT_VMA_VVAR;
			v->flags |= CKPT_VMA_F_VVAR_VCLOCK;
		} else if (!strcmp(name, "[vsyscall]"))
			v->kind = CKPT_VMA_VSYSCALL;
		else if (strstr(name, " (deleted)") &&
			 (!strncmp(name, "/dev/zero", 9) || !strncmp(name, "/SYSV", 5)))
			v->kind = CKPT_VMA_ANON; /* shared anonymous memory */
		else if (name[0] == '/')
			v->kind = CKPT_VMA_FILE;
		else
			v->kind = CKPT_VMA_ANON;
		if (!strcmp(name, "[stack]"))
			v->flags |= CKPT_VMA_F_STACK | CKPT_VMA_F_GROWSDOWN;
		if (!strcmp(name, "[heap]"))
			v->flags |= CKPT_VMA_F_HEAP;
		if (v->kind == CKPT_VMA_FILE && strstr(name, " (deleted)"))
			v->flags |= CKPT_VMA_F_DELETED;
		snprintf(names[c->nr_vmas], sizeof(names[0]), "%s", name);
		rvmas[c->nr_vmas].v = v;
		rvmas[c->nr_vmas].name = names[c->nr_vmas];
		snprintf(rvmas[c->nr_vmas].path, CKPT_PATH_MAX, "%s", name);
		c->nr_vmas++;
		if (v->kind != CKPT_VMA_ANON && v->kind != CKPT_VMA_FILE)
			continue;
		if ((v->flags & CKPT_VMA_F_SHARED) && v->kind == CKPT_VMA_FILE)
			continue;
		/* every page, also PROT_NONE ones /proc/PID/mem can read */
		uint64_t len = hi - lo, done = 0;
		int ok = 1;
		while (done < len && ok) {
			size_t chunk = len - done < sizeof(buf) ? len - done : sizeof(buf);
			ok = pread(memfd, buf, chunk, (off_t)(lo + done)) == (ssize_t)chunk &&
			     pwrite(img, buf, chunk, (off_t)(off + done)) == (ssize_t)chunk;
			done += chunk;
		}
		if (!ok)
			continue;
		runs[c->nr_runs].addr = lo;
		runs[c->nr_runs].nr_pages = len / 4096;
		c->nr_runs++;
		v->flags |= CKPT_VMA_F_DUMPED;
		off += len;
	}
	fclose(f);
}

static void snap_files(pid_t pid, struct rs_ctx *c)
{
	for (int fd = 0; fd < 16; fd++) {
		char p[64], info[64], line[128];
		snprintf(p, sizeof(p), "/proc/%d/fd/%d", pid, fd);
		struct stat st;
		if (stat(p, &st) < 0)
			continue;
		struct ckpt_img_file *f = &files[c->nr_files];
		f->fd = fd;
		f->shared_with = -1;
		ssize_t n = readlink(p, fpaths[c->nr_files], sizeof(fpaths[0]) - 1);
		fpaths[c->nr_files][n > 0 ? n : 0] = '\0';
		f->kind = S_ISREG(st.st_mode)	 ? CKPT_FILE_REG
			  : S_ISDIR(st.st_mode)	 ? CKPT_FILE_DIR
			  : S_ISCHR(st.st_mode)	 ? CKPT_FILE_CHR
			  : S_ISFIFO(st.st_mode) ? CKPT_FILE_FIFO
						 : CKPT_FILE_SOCK;
		if (fd <= 2 && !S_ISREG(st.st_mode))
			f->flags |= CKPT_FILE_F_STDIO; /* the restarter's stdio */
		snprintf(info, sizeof(info), "/proc/%d/fdinfo/%d", pid, fd);
		FILE *fi = fopen(info, "r");
		while (fi && fgets(line, sizeof(line), fi)) {
			if (!strncmp(line, "pos:", 4))
				f->pos = strtoull(line + 4, NULL, 10);
			if (!strncmp(line, "flags:", 6))
				f->open_flags = (uint32_t)strtoul(line + 6, NULL, 8);
		}
		if (fi)
			fclose(fi);
		if (f->open_flags & O_CLOEXEC)
			f->flags |= CKPT_FILE_F_CLOEXEC;
		rfiles[c->nr_files].f = f;
		rfiles[c->nr_files].path = fpaths[c->nr_files];
		snprintf(rfiles[c->nr_files].relocated, CKPT_PATH_MAX, "%s", fpaths[c->nr_files]);
		c->nr_files++;
	}
}

/* Process state that needs injection: handlers, brk; read back through mem. */
static void snap_injected(pid_t pid, pid_t tid, struct ckpt_img_thread *thr, int memfd)
{
	uint64_t ip;
	char m[256];
	struct ckpt_err e;
	ckpt_err_init(&e, m, sizeof(m));
	ckpt_find_syscall_insn(pid, &ip, &e);
	struct user_regs_struct r;
	ckpt_getregs(tid, &r, &e);
	uint64_t buf = (r.rsp - 4096) & ~63ull; /* below the red zone, in the stack */
	for (int sig = 1; sig <= 64 && tid == pid; sig++) {
		long a[6] = {sig, 0, (long)buf, 8, 0, 0}, ret;
		ckpt_inject_syscall(pid, ip, SYS_rt_sigaction, a, &ret, NULL, &e);
		if (ret == 0 && pread(memfd, &proc.sigactions[sig - 1], 32, (off_t)buf) != 32)
			fails++;
	}
	long a[6] = {0}, brk;
	if (tid == pid) {
		ckpt_inject_syscall(pid, ip, SYS_brk, a, &brk, NULL, &e);
		proc.mm.brk = (uint64_t)brk;
	}
	long t[6] = {PR_GET_TID_ADDRESS, (long)buf, 0, 0, 0, 0}, ret;
	ckpt_inject_syscall(tid, ip, SYS_prctl, t, &ret, NULL, &e);
	if (pread(memfd, &thr->clear_tid_address, 8, (off_t)buf) != 8)
		fails++;
}

static void snap_proc(pid_t pid)
{
	char p[64], buf[4096];
	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	int fd = open(p, O_RDONLY);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	char *s = strrchr(buf, ')') + 2;
	unsigned long long v[60] = {0};
	int i = 3; /* field 3 is state */
	for (char *tok = strtok(s, " "); tok && i < 60; tok = strtok(NULL, " "), i++)
		v[i] = strtoull(tok, NULL, 10);
	proc.mm.start_code = v[26];
	proc.mm.end_code = v[27];
	proc.mm.start_stack = v[28];
	proc.mm.start_data = v[45];
	proc.mm.end_data = v[46];
	proc.mm.start_brk = v[47];
	proc.mm.arg_start = v[48];
	proc.mm.arg_end = v[49];
	proc.mm.env_start = v[50];
	proc.mm.env_end = v[51];
	snprintf(p, sizeof(p), "/proc/%d/auxv", pid);
	fd = open(p, O_RDONLY);
	n = read(fd, proc.mm.auxv, sizeof(proc.mm.auxv));
	close(fd);
	proc.mm.auxv_words = n > 0 ? (uint32_t)(n / 8) : 0;
	snprintf(p, sizeof(p), "/proc/%d/exe", pid);
	n = readlink(p, proc.exe, sizeof(proc.exe) - 1);
	snprintf(p, sizeof(p), "/proc/%d/cwd", pid);
	n = readlink(p, proc.cwd, sizeof(proc.cwd) - 1);
	for (int r = 0; r < CKPT_RLIM_NLIMITS && r < RLIM_NLIMITS; r++) {
		struct rlimit l;
		prlimit(pid, r, NULL, &l);
		proc.rlimits[r].cur = l.rlim_cur;
		proc.rlimits[r].max = l.rlim_max;
	}
	proc.umask = 022;
	proc.dumpable = 1;
	proc.exit_signal = SIGCHLD;
	memcpy(proc.comm, "restore_live", 13);
}

/* Wait (up to 10 s) until child() has made its threads: a fixed pause was
   too short on a loaded machine (the snapshot then saw one thread). */
static void wait_threads(pid_t pid)
{
	char tp[64];
	snprintf(tp, sizeof(tp), "/proc/%d/task", pid);
	for (int k = 0; k < 1000; k++) {
		int n = 0;
		DIR *d = opendir(tp);
		struct dirent *de;
		while (d && (de = readdir(d)))
			n += de->d_name[0] != '.';
		if (d)
			closedir(d);
		if (n >= 6)
			break;
		usleep(10000);
	}
	usleep(50000); /* and the reader asleep in read(0) */
}

/* Freeze every thread of pid and record it into c (pages go to img, one run
   per dumped VMA); the process stays traced and stopped. */
static void snapshot(pid_t pid, struct rs_ctx *c, int img)
{
	char tp[64];
	snprintf(tp, sizeof(tp), "/proc/%d/task", pid);
	DIR *d = opendir(tp);
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && nthreads < MAXT) {
			pid_t t = atoi(de->d_name);
			if (t == pid) { /* leader first */
				tids[nthreads] = tids[0];
				tids[0] = t;
			} else {
				tids[nthreads] = t;
			}
			nthreads++;
		}
	closedir(d);
	EXPECT(nthreads == 6, "6 threads (%d)", nthreads);
	int st;
	for (int i = 0; i < nthreads; i++) {
		EXPECT(ptrace(PTRACE_SEIZE, tids[i], 0, PTRACE_O_TRACESYSGOOD) == 0, "seize");
		ptrace(PTRACE_INTERRUPT, tids[i], 0, 0);
		waitpid(tids[i], &st, __WALL);
	}
	int npend_shared = 0, npend_thread = 0;
	struct { uint64_t off; uint32_t flags; int32_t nr; } pa = {0, 1 /* SHARED */, 8};
	npend_shared = (int)ptrace(0x4209 /* PEEKSIGINFO */, pid, &pa, shared_si);
	pa.flags = 0;
	npend_thread = (int)ptrace(0x4209, pid, &pa, thread_si);
	EXPECT(npend_shared == 1 && npend_thread == 1, "pending before: %d shared, %d thread",
	       npend_shared, npend_thread);
	struct ckpt_err *ep = c->e;
	char memp[64];
	snprintf(memp, sizeof(memp), "/proc/%d/mem", pid);
	int memfd = open(memp, O_RDWR);
	for (int i = 0; i < nthreads; i++) {
		struct ckpt_img_thread *thr = &thrs[i];
		pid_t tid = tids[i];
		struct user_regs_struct r;
		ckpt_getregs(tid, &r, ep);
		ckpt_regs_fixup_restart(&r, 1);
		memcpy(&thr->regs, &r, sizeof(r));
		if (!xstates[i])
			xstates[i] = calloc(1, ckpt_xstate_max());
		struct iovec iov = {xstates[i], ckpt_xstate_max()};
		ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov);
		thr->xstate_size = (uint32_t)iov.iov_len;
		ptrace(PTRACE_GETSIGMASK, tid, 8, &thr->sigmask);
		struct { uint64_t ptr; uint32_t size, sig, flags, pad; } rq = {0};
		ptrace(0x420f, tid, sizeof(rq), &rq);
		thr->rseq_abi_pointer = rq.ptr;
		thr->rseq_abi_size = rq.size;
		thr->rseq_signature = rq.sig;
		size_t rlen;
		syscall(SYS_get_robust_list, tid, &thr->robust_list_head, &rlen);
		thr->robust_list_len = rlen;
		thr->altstack_flags = SS_DISABLE;
		thr->tid = tid;
		thr->flags = i == 0 ? CKPT_THR_F_LEADER : 0;
		snap_injected(pid, tid, thr, memfd);
		rthrs[i].t = thr;
		rthrs[i].xstate = xstates[i];
	}
	snap_proc(pid);
	proc.pid = pid;
	snap_maps(pid, c, img, memfd);
	snap_files(pid, c);
	close(memfd);
	proc.pending_shared_count = npend_shared > 0 ? (uint64_t)npend_shared : 0;
	c->shared_pending = shared_si;
	thrs[0].pending_count = npend_thread > 0 ? (uint32_t)npend_thread : 0;
	rthrs[0].pending = thread_si;
	c->proc = &proc;
	c->threads = rthrs;
	c->nr_threads = (uint32_t)nthreads;
	proc.nr_threads = (uint32_t)nthreads;
	c->vmas = rvmas;
	c->files = rfiles;
	c->runs = runs;
	c->image_fd = img;
	strcpy(c->cwd, proc.cwd);
	strcpy(c->exe, proc.exe);
}

/* Kill a snapshotted (traced) process and reap every thread. */
static void snap_kill(pid_t pid)
{
	int st;
	kill(pid, SIGKILL);
	for (int i = nthreads - 1; i >= 0; i--)
		waitpid(tids[i], &st, __WALL);
}

#endif
