// SPDX-License-Identifier: BSD-3-Clause
/*
 * The restore machinery on a hand-made image (no checkpointer involved):
 * a code page, a data page holding a pattern, a stack, a second thread, and
 * the vdso block recorded at an address different from ours. The restored
 * process must run under the requested PID, find [vdso] (ELF magic) at the
 * recorded address, its data page filled from the "image" file, its code
 * page read+exec only, its second thread alive with the requested TID, and
 * exit 42, with the upper half of ymm0 as recorded. Any step that goes wrong
 * makes it exit 1 or die by a signal.
 */
#include "ckpt.h"
#include "cpu.h"
#include "fd.h"
#include "restore.h"

#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "expect.h"

#define CODE 0x400000ull
#define DATA 0x401000ull
#define STACK 0x7ff000000000ull
static uint64_t VVAR; /* below our vdso in one case, above it in the other */
#define YMM_PATTERN 0xa5a55a5a12345678ull

/* A valid NT_X86_XSTATE image (from a traced child) with the upper half of
   ymm0 set to YMM_PATTERN: AVX state must survive the restore. */
static size_t make_xstate(unsigned char *buf, size_t len)
{
	pid_t p = fork();
	if (p == 0) {
		pause();
		_exit(0);
	}
	ptrace(PTRACE_SEIZE, p, 0, 0);
	ptrace(PTRACE_INTERRUPT, p, 0, 0);
	waitpid(p, NULL, __WALL);
	struct iovec iov = {buf, len};
	long r = ptrace(PTRACE_GETREGSET, p, NT_X86_XSTATE, &iov);
	kill(p, SIGKILL);
	waitpid(p, NULL, __WALL);
	if (r < 0)
		return 0;
	unsigned a, b, cx, d;
	__cpuid_count(0xd, 2, a, b, cx, d); /* b: offset of YMM_Hi128 */
	uint64_t pat = YMM_PATTERN, bv;
	memcpy(buf + b, &pat, 8);
	memcpy(&bv, buf + 512, 8);
	bv |= 6; /* SSE and AVX state present */
	memcpy(buf + 512, &bv, 8);
	return iov.iov_len;
}

static pid_t free_pid(void)
{
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	waitpid(p, NULL, 0);
	return p;
}

/* Leader: the stack grows below its restored VMA, getuid == uid, upper ymm0
   == YMM_PATTERN, getpid == want, *(u32*)VDSO == ELF magic, *(u64*)DATA == pattern,
   then wait (futex-free: loop on sched_yield) until the thread has written
   DATA+8, then exit_group(42). Thread: write 1 to DATA+8, then pause forever. */
static size_t gen_code(unsigned char *p, pid_t want, uint64_t vdso, uint32_t uid)
{
	unsigned char *s = p;
#define B(...) \
	do { \
		unsigned char t[] = {__VA_ARGS__}; \
		memcpy(p, t, sizeof(t)); \
		p += sizeof(t); \
	} while (0)
#define I32(v) do { uint32_t x = (uint32_t)(v); memcpy(p, &x, 4); p += 4; } while (0)
#define I64(v) do { uint64_t x = (uint64_t)(v); memcpy(p, &x, 8); p += 8; } while (0)
	B(0x48, 0xb8); I64(STACK - 0x3000); /* mov rax, below the stack VMA */
	B(0x48, 0xc7, 0x00, 0x01, 0x00, 0x00, 0x00); /* mov qword [rax], 1: it grows */
	B(0xb8); I32(102);             /* mov eax, getuid */
	B(0x0f, 0x05);                 /* syscall */
	B(0x3d); I32(uid);             /* cmp eax, uid */
	B(0x75, 0x6d);                 /* jne fail (+109) */
	B(0xc4, 0xe3, 0x7d, 0x39, 0xc1, 0x01); /* vextracti128 xmm1, ymm0, 1 */
	B(0x66, 0x48, 0x0f, 0x7e, 0xc8); /* movq rax, xmm1 */
	B(0x48, 0xb9); I64(YMM_PATTERN); /* mov rcx, pattern */
	B(0x48, 0x39, 0xc8);           /* cmp rax, rcx */
	B(0x75, 0x53);                 /* jne fail (+83) */
	B(0xb8); I32(39);              /* mov eax, getpid */
	B(0x0f, 0x05);                 /* syscall */
	if (want) {
		B(0x3d); I32(want);    /* cmp eax, want */
	} else {
		B(0x39, 0xc0, 0x90, 0x90, 0x90); /* cmp eax, eax (any pid) */
	}
	B(0x75, 0x45);                 /* jne fail (+69) */
	B(0x48, 0xbb); I64(vdso);      /* mov rbx, vdso */
	B(0x8b, 0x1b);                 /* mov ebx, [rbx] */
	B(0x81, 0xfb); I32(0x464c457f);/* cmp ebx, "\x7fELF" */
	B(0x75, 0x31);                 /* jne fail (+49) */
	B(0x48, 0xbb); I64(DATA);      /* mov rbx, DATA */
	B(0x48, 0x8b, 0x03);           /* mov rax, [rbx] */
	B(0x48, 0xb9); I64(0x1122334455667788ull); /* mov rcx, pattern */
	B(0x48, 0x39, 0xc8);           /* cmp rax, rcx */
	B(0x75, 0x15);                 /* jne fail (+21) */
	/* wait: */
	B(0xb8); I32(24);              /* mov eax, sched_yield */
	B(0x0f, 0x05);                 /* syscall */
	B(0x48, 0x83, 0x7b, 0x08, 0x00); /* cmp qword [rbx+8], 0 */
	B(0x74, 0xf2);                 /* je wait (-14) */
	B(0xbf); I32(42);              /* mov edi, 42 */
	B(0xeb, 0x05);                 /* jmp exit */
	/* fail: */
	B(0xbf); I32(1);               /* mov edi, 1 */
	/* exit: */
	B(0xb8); I32(231);             /* mov eax, exit_group */
	B(0x0f, 0x05);                 /* syscall */
	return (size_t)(p - s);
}

static size_t gen_thread(unsigned char *p)
{
	unsigned char *s = p;
	B(0x48, 0xbb); I64(DATA);      /* mov rbx, DATA */
	B(0x48, 0xc7, 0x43, 0x08, 0x01, 0x00, 0x00, 0x00); /* mov qword [rbx+8], 1 */
	/* loop: */
	B(0xb8); I32(34);              /* mov eax, pause */
	B(0x0f, 0x05);                 /* syscall */
	B(0xeb, 0xf7);                 /* jmp loop */
	return (size_t)(p - s);
}

static long fdinfo(pid_t pid, int fd, const char *key)
{
	char p[64], line[256];
	snprintf(p, sizeof(p), "/proc/%d/fdinfo/%d", pid, fd);
	FILE *f = fopen(p, "r");
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtol(line + strlen(key), NULL, 8 * (key[0] == 'f') + 10 * (key[0] != 'f'));
	if (f)
		fclose(f);
	return v;
}

static void check_files(pid_t pid, const char *inp)
{
	EXPECT(fdinfo(pid, 1, "pos:") == 5, "fd 1 at offset 5 (got %ld)", fdinfo(pid, 1, "pos:"));
	EXPECT((fdinfo(pid, 1, "flags:") & O_APPEND) != 0, "fd 1 O_APPEND");
	EXPECT(syscall(SYS_kcmp, pid, pid, 0 /* KCMP_FILE */, 1, 2) == 0,
	       "fd 2 shares fd 1's open file description");
	EXPECT(fdinfo(pid, 7, "pos:") == 3, "fd 7 at offset 3");
	EXPECT((fdinfo(pid, 7, "flags:") & O_CLOEXEC) != 0, "fd 7 close-on-exec");
	EXPECT(fdinfo(pid, 3, "pos:") == -1, "fd 3 closed");
	char mine[256] = "", theirs[256] = "", p0[64];
	snprintf(p0, sizeof(p0), "/proc/%d/fd/0", pid);
	ssize_t a = readlink("/proc/self/fd/0", mine, sizeof(mine) - 1);
	ssize_t b = readlink(p0, theirs, sizeof(theirs) - 1);
	EXPECT(a > 0 && a == b && !strcmp(mine, theirs),
	       "fd 0 (a pipe at checkpoint) is the restarter's stdin: %s vs %s", theirs, mine);
	char p[64], l[256] = "";
	snprintf(p, sizeof(p), "/proc/%d/fd/7", pid);
	ssize_t n = readlink(p, l, sizeof(l) - 1);
	EXPECT(n > 0 && !strncmp(l, inp, (size_t)n), "fd 7 is %s", inp);
	snprintf(p, sizeof(p), "/proc/%d/cwd", pid);
	n = readlink(p, l, sizeof(l) - 1);
	EXPECT(n == 4 && !strncmp(l, "/tmp", 4), "cwd /tmp");
	snprintf(p, sizeof(p), "/proc/%d/status", pid);
	FILE *f = fopen(p, "r");
	int umask_ok = 0;
	while (f && fgets(l, sizeof(l), f))
		if (!strncmp(l, "Umask:\t0027", 11))
			umask_ok = 1;
	if (f)
		fclose(f);
	EXPECT(umask_ok, "umask 027");
}

struct vma_rec {
	struct ckpt_img_vma v;
	char name[16];
};

static void run_case(uint32_t flags)
{
	char msg[CKPT_MSG_MAX];
	struct ckpt_err e;
	ckpt_err_init(&e, msg, sizeof(msg));
	static struct rs_ctx c;
	static struct ckpt_img_proc proc;
	memset(&c, 0, sizeof(c));
	memset(&proc, 0, sizeof(proc));
	c.flags = flags;
	int fresh = (flags & CKPT_RS_NO_RESTORE_PID) != 0;
	struct ckpt_img_thread th[2];
	struct rs_thread rth[2];
	memset(th, 0, sizeof(th));
	memset(rth, 0, sizeof(rth));
	c.e = &e;
	c.label = "machinery";
	c.report_fd = -1;

	/* --no-restore-pid: ask for our own pid, which is certainly taken */
	pid_t want = fresh ? getpid() : free_pid(), want_tid = fresh ? getpid() : free_pid();
	proc.pid = want;
	proc.nr_threads = 2;
	proc.umask = 022;
	proc.dumpable = 1;
	if (fresh) { /* credentials: restored as nobody, in every thread */
		proc.uid = proc.euid = proc.suid = proc.fsuid = 65534;
		proc.gid = proc.egid = proc.sgid = proc.fsgid = 65534;
		proc.ngroups = 1;
		proc.groups[0] = 65534;
	}
	proc.exit_signal = SIGCHLD;
	memcpy(proc.comm, "machinery", 10);
	for (int r = 0; r < CKPT_RLIM_NLIMITS && r < RLIM_NLIMITS; r++) {
		struct rlimit l;
		getrlimit(r, &l);
		proc.rlimits[r].cur = l.rlim_cur;
		proc.rlimits[r].max = l.rlim_max;
	}
	proc.rlimits[RLIMIT_NOFILE].cur = 1024;
	proc.rlimits[RLIMIT_NOFILE].max = 4096;
	proc.mm = (struct ckpt_img_mm){.start_code = CODE, .end_code = CODE + 4096,
				       .start_data = DATA, .end_data = DATA + 4096,
				       .start_brk = DATA + 4096, .brk = DATA + 4096,
				       .start_stack = STACK + 0x8000, .arg_start = STACK + 0x8000,
				       .arg_end = STACK + 0x8000, .env_start = STACK + 0x8000,
				       .env_end = STACK + 0x8000};
	strcpy(proc.cwd, "/");
	if (readlink("/proc/self/exe", proc.exe, sizeof(proc.exe) - 1) < 0)
		strcpy(proc.exe, "/bin/true");
	strcpy(c.cwd, proc.cwd);
	strcpy(c.exe, proc.exe);
	c.proc = &proc;

	for (int i = 0; i < 2; i++) {
		struct ckpt_img_regs *r = &th[i].regs;
		r->cs = 0x33;
		r->ss = 0x2b;
		r->eflags = 0x246;
		r->rsp = STACK + 0x8000 - 0x1000 * (i + 1);
		th[i].robust_list_len = 24;
		th[i].altstack_flags = SS_DISABLE;
		rth[i].t = &th[i];
	}
	unsigned char *xs = calloc(1, ckpt_xstate_max());
	th[0].xstate_size = (uint32_t)make_xstate(xs, ckpt_xstate_max());
	EXPECT(th[0].xstate_size >= 832, "xstate template: %u bytes", th[0].xstate_size);
	if (fresh) {
		/* as from a CPU whose XSAVE area ends after AVX (832 bytes): the
		   restorer lays it into this CPU's size, the AVX state survives */
		uint64_t bv;
		memcpy(&bv, xs + 512, 8);
		bv &= 7;
		memcpy(xs + 512, &bv, 8);
		th[0].xstate_size = 832;
	}
	rth[0].xstate = xs;
	th[0].tid = want;
	th[0].flags = CKPT_THR_F_LEADER;
	th[0].regs.rip = CODE;
	th[1].tid = want_tid;
	th[1].regs.rip = CODE + 2048;
	c.threads = rth;
	c.nr_threads = 2;

	struct vma_rec vr[6];
	memset(vr, 0, sizeof(vr));
	uint64_t spec[6][4] = {
		/* start, end, kind, prot */
		{CODE, CODE + 4096, CKPT_VMA_ANON, PROT_READ | PROT_EXEC},
		{DATA, DATA + 4096, CKPT_VMA_ANON, PROT_READ | PROT_WRITE},
		{VVAR, VVAR + 0x4000, CKPT_VMA_VVAR, PROT_READ},
		{VVAR + 0x4000, VVAR + 0x6000, CKPT_VMA_VVAR, PROT_READ},
		{VVAR + 0x6000, VVAR + 0x8000, CKPT_VMA_VDSO, PROT_READ | PROT_EXEC},
		{STACK, STACK + 0x8000, CKPT_VMA_ANON, PROT_READ | PROT_WRITE},
	};
	struct rs_vma rv[6];
	memset(rv, 0, sizeof(rv));
	for (int i = 0; i < 6; i++) {
		vr[i].v.start = spec[i][0];
		vr[i].v.end = spec[i][1];
		vr[i].v.kind = (uint32_t)spec[i][2];
		vr[i].v.prot = (uint32_t)spec[i][3];
		rv[i].v = &vr[i].v;
		rv[i].name = "";
	}
	vr[3].v.flags = CKPT_VMA_F_VVAR_VCLOCK;
	vr[5].v.flags = CKPT_VMA_F_GROWSDOWN | CKPT_VMA_F_STACK;
	vr[0].v.flags = CKPT_VMA_F_SEALED;
	c.vmas = rv;
	c.nr_vmas = 6;

	/* the "image": two pages (code, data) in a temp file */
	char path[] = "/tmp/ckpt-machinery-XXXXXX";
	int fd = mkstemp(path);
	unlink(path);
	static unsigned char pages[8192];
	gen_code(pages, fresh ? 0 : want, VVAR + 0x6000, proc.uid);
	gen_thread(pages + 2048);
	uint64_t pat = 0x1122334455667788ull;
	memcpy(pages + 4096, &pat, 8);
	EXPECT(write(fd, pages, sizeof(pages)) == (ssize_t)sizeof(pages), "write image");
	struct ckpt_img_pagerun runs[1] = {{CODE, 2}};
	c.runs = runs;
	c.nr_runs = 1;
	c.pages_data_off = 0;
	c.image_fd = fd;

	/* files: fd 0 a pipe (taken from our stdin), fd 1 a log opened for append
	   at 5, fd 2 = 2>&1, fd 7 a read-only file at offset 3 (close-on-exec),
	   fd 9 a directory */
	char logp[] = "/tmp/ckpt-machinery-log-XXXXXX", inp[] = "/tmp/ckpt-machinery-in-XXXXXX";
	int lf = mkstemp(logp), inf = mkstemp(inp);
	EXPECT(write(lf, "hello", 5) == 5 && write(inf, "abcdef", 6) == 6, "write files");
	close(lf);
	close(inf);
	struct ckpt_img_file fr[5];
	memset(fr, 0, sizeof(fr));
	fr[4] = (struct ckpt_img_file){.fd = 0, .shared_with = -1, .kind = CKPT_FILE_FIFO,
				       .flags = CKPT_FILE_F_STDIO, .open_flags = O_RDONLY};
	fr[0] = (struct ckpt_img_file){.fd = 1, .shared_with = -1, .kind = CKPT_FILE_REG,
				       .open_flags = O_WRONLY | O_APPEND, .pos = 5};
	fr[1] = (struct ckpt_img_file){.fd = 2, .shared_with = 1, .kind = CKPT_FILE_REG,
				       .open_flags = O_WRONLY | O_APPEND, .pos = 5};
	fr[2] = (struct ckpt_img_file){.fd = 7, .shared_with = -1, .kind = CKPT_FILE_REG,
				       .flags = CKPT_FILE_F_CLOEXEC, .open_flags = O_RDONLY,
				       .pos = 3};
	fr[3] = (struct ckpt_img_file){.fd = 9, .shared_with = -1, .kind = CKPT_FILE_DIR,
				       .open_flags = O_RDONLY | O_DIRECTORY};
	struct rs_file rf[5];
	memset(rf, 0, sizeof(rf));
	const char *fpaths[5] = {"pipe:[1]", logp, logp, inp, "/tmp"};
	struct ckpt_img_file order[5] = {fr[4], fr[0], fr[1], fr[2], fr[3]};
	memcpy(fr, order, sizeof(fr));
	for (int i = 0; i < 5; i++) {
		rf[i].f = &fr[i];
		rf[i].path = fpaths[i];
		strcpy(rf[i].relocated, fpaths[i]);
	}
	c.files = rf;
	c.nr_files = 5;
	/* the v1 records, as the image reader takes them */
	EXPECT(rs_fd_finish_load(&c) == 0 && rs_fd_verify(&c) == 0, "descriptors: %s", msg);
	strcpy(c.cwd, "/tmp");
	proc.umask = 027;
	if (fresh) {
		/* the files are reopened as the image's user (nobody), not as the
		   restarter (root): root's 0600 files are refused, named... */
		int rc0 = rs_create_child(&c);
		EXPECT(rc0 < 0 && strstr(msg, logp) && strstr(msg, "Permission denied"),
		       "a root-only file reopened as nobody is refused: %d %s", rc0, msg);
		if (!rc0)
			rs_kill_child(&c);
		/* ...and nobody's own are reopened */
		EXPECT(chown(logp, 65534, 65534) == 0 && chown(inp, 65534, 65534) == 0,
		       "chown the files to nobody");
		ckpt_err_init(&e, msg, sizeof(msg));
	}

	int rc = rs_create_child(&c);
	if (!rc)
		check_files(c.pid, inp);
	EXPECT(rc == 0 && (fresh ? c.pid != want : c.pid == want),
	       "create child: %s (pid %d, want %s%d)", msg, c.pid, fresh ? "not " : "", want);
	if (!rc)
		rc = rs_restore_mm(&c);
	EXPECT(rc == 0, "restore mm: %s", msg);
	if (!rc)
		rc = rs_restore_process_state(&c);
	EXPECT(rc == 0, "process state: %s", msg);
	if (!rc)
		rc = rs_restore_threads(&c);
	EXPECT(rc == 0 && (fresh ? rth[1].tid != want_tid : rth[1].tid == want_tid),
	       "threads: %s (tid %d want %s%d)", msg, rth[1].tid, fresh ? "not " : "", want_tid);
	if (!rc)
		rc = rs_restore_mm_late(&c);
	EXPECT(rc == 0, "mm late: %s", msg);
	if (!rc) {
		char maps[64], line[256];
		snprintf(maps, sizeof(maps), "/proc/%d/maps", c.pid);
		FILE *f = fopen(maps, "r");
		int code_ok = 0, vdso_ok = 0;
		while (f && fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "00400000-00401000 r-xp", 22))
				code_ok = 1;
			char want_vdso[64];
			snprintf(want_vdso, sizeof(want_vdso), "%llx-%llx",
				 (unsigned long long)VVAR + 0x6000, (unsigned long long)VVAR + 0x8000);
			if (strstr(line, "[vdso]") && !strncmp(line, want_vdso, strlen(want_vdso)))
				vdso_ok = 1;
		}
		if (f)
			fclose(f);
		EXPECT(code_ok, "code page 0x400000 is r-xp");
		EXPECT(vdso_ok, "[vdso] moved to 0x%llx", (unsigned long long)VVAR + 0x6000);
		/* mseal re-applied: smaps shows "sl" in the code page's VmFlags */
		snprintf(maps, sizeof(maps), "/proc/%d/smaps", c.pid);
		f = fopen(maps, "r");
		int in_code = 0, sealed = 0;
		while (f && fgets(line, sizeof(line), f)) {
			if (strchr(line, '-') && strchr(line, ' ') < strchr(line, '-') + 20 &&
			    !strncmp(line, "00400000-", 9))
				in_code = 1;
			else if (!strncmp(line, "VmFlags:", 8)) {
				if (in_code && strstr(line, " sl"))
					sealed = 1;
				in_code = 0;
			}
		}
		if (f)
			fclose(f);
		EXPECT(sealed, "code page sealed again (mseal)");
	}
	if (!rc)
		rc = rs_finish(&c);
	EXPECT(rc == 0, "finish: %s", msg);
	if (rc) {
		rs_kill_child(&c);
	} else {
		int st = 0;
		waitpid(c.pid, &st, 0);
		EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 42,
		       "restored process exits 42 (status 0x%x: %s %d)", st,
		       WIFSIGNALED(st) ? "signal" : "exit",
		       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	}
	unlink(logp);
	unlink(inp);
	close(fd);
}

/* A failure after clone3 (a mapped file gone between verification and
   mapping): clear error, and the half-built process is killed and reaped. */
static void failing_case(void)
{
	char msg[CKPT_MSG_MAX];
	struct ckpt_err e;
	ckpt_err_init(&e, msg, sizeof(msg));
	static struct rs_ctx c;
	static struct ckpt_img_proc proc;
	memset(&c, 0, sizeof(c));
	memset(&proc, 0, sizeof(proc));
	c.e = &e;
	c.label = "failing";
	c.report_fd = -1;
	c.image_fd = -1;
	proc.pid = free_pid();
	proc.exit_signal = SIGCHLD;
	strcpy(c.cwd, "/");
	c.proc = &proc;
	struct ckpt_img_vma v = {.start = CODE, .end = CODE + 4096, .kind = CKPT_VMA_FILE,
				 .prot = PROT_READ | PROT_EXEC};
	struct rs_vma rv = {.v = &v, .name = "/nonexistent/libgone.so"};
	strcpy(rv.path, rv.name);
	c.vmas = &rv;
	c.nr_vmas = 1;
	int rc = rs_create_child(&c);
	EXPECT(rc == 0, "create: %s", msg);
	pid_t pid = c.pid;
	if (!rc)
		rc = rs_restore_mm(&c);
	EXPECT(rc == -ENOENT && strstr(msg, "/nonexistent/libgone.so"),
	       "missing mapped file named: %d %s", rc, msg);
	rs_kill_child(&c);
	EXPECT(kill(pid, 0) < 0 && errno == ESRCH, "half-built process %d is gone", pid);
	EXPECT(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "and reaped");
}

int main(void)
{
	failing_case();
	VVAR = 0x500000000000ull; /* the block moves down */
	run_case(0);
	VVAR = 0x7fffe0000000ull; /* up: the vdso itself moves first */
	run_case(CKPT_RS_NO_RESTORE_PID);
	printf("restore_machinery: %s\n", fails ? "FAIL" : "PASS");
	return fails != 0;
}
