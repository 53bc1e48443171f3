/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ckpt image format, version 2: the contract between the checkpointers
 * (libckpt's userspace backend, the kernel module) and the restarters.
 * Documented in docs/image-format.md; keep the two in step.
 *
 * Layout (all integers little-endian, x86-64 only):
 *
 *   struct ckpt_img_header                     (fixed size, own crc)
 *   section*                                   (in the order below)
 *     struct ckpt_img_section                  (type, payload size, padding)
 *     pad[hdr.pad] zero bytes                  (PAGES: payload starts page-aligned)
 *     payload[hdr.size]
 *     struct ckpt_img_section_tail             (crc32c of payload, magic)
 *
 * Version 2: first the kernel objects the processes hold (one section per
 * kind, each at most once: OBJ_FILE, OBJ_PIPE, OBJ_EVENTFD, ...), then per
 * process, in this order:
 *   PROC, PROCX, THREAD (one per thread, leader first), VMAS, FDS, PAGES
 * then after all processes a single END section. Descriptors (FDS) refer to
 * objects by id; two descriptors with the same id share one open file
 * description (dup, 2>&1, fork).
 * Version 1 (still read): per process PROC, THREAD..., VMAS, FILES, PAGES;
 * no object sections. A v1 FILES record that v2 cannot restore faithfully
 * (a socket, an anon inode, a pipe to another process) refuses the restart.
 *
 * A reader refuses: wrong magic, a version it does not know, a header or
 * section whose checksum does not match, an unknown section type whose
 * CKPT_SEC_F_OPTIONAL flag is clear, a file that ends before END or goes on
 * after it, sections out of this order or repeated (but THREAD), and an END
 * whose order checksum does not match.
 *
 * Only fixed-width fields; every struct is padded explicitly to 8 bytes and
 * its size is checked with static_assert in image.c.
 */
#ifndef CKPT_IMAGE_H
#define CKPT_IMAGE_H

#include <stdint.h>

#define CKPT_IMG_MAGIC "CKPTIMG" /* 8 bytes with the NUL */
#define CKPT_IMG_VERSION 2
#define CKPT_IMG_VERSION_MIN 1 /* oldest version a restart still reads */
#define CKPT_IMG_TAIL_MAGIC 0x4c494154u /* "TAIL" */
#define CKPT_IMG_PAGE_SIZE 4096u

/* ckpt_img_header.flags */
#define CKPT_IMG_F_KERNEL (1u << 0) /* written by the kernel module */

struct ckpt_img_header {
	char magic[8]; /* CKPT_IMG_MAGIC */
	uint32_t version; /* CKPT_IMG_VERSION */
	uint32_t header_size; /* sizeof(struct ckpt_img_header) */
	uint32_t flags; /* CKPT_IMG_F_* */
	uint32_t nr_processes;
	uint64_t created_ns; /* CLOCK_REALTIME */
	char kernel_release[65]; /* uname -r */
	char machine[15]; /* uname -m, truncated */
	char hostname[64]; /* uname -n, truncated */
	uint64_t xcr0; /* XCR0 of the checkpointing CPU */
	uint32_t xstate_size; /* NT_X86_XSTATE regset size in bytes */
	uint32_t cpuid_1_ecx; /* CPU features the restored code may rely on */
	uint32_t cpuid_1_edx;
	uint32_t cpuid_7_ebx;
	uint32_t cpuid_7_ecx;
	uint32_t cpuid_7_edx;
	int32_t root_pid; /* the pid the checkpoint was asked for */
	uint32_t scope; /* enum ckpt_scope */
	uint64_t reserved[4];
	uint32_t pad;
	uint32_t crc32c; /* of this struct with this field zero */
};

enum ckpt_img_section_type {
	CKPT_SEC_PROC = 1,
	CKPT_SEC_THREAD = 2,
	CKPT_SEC_VMAS = 3,
	CKPT_SEC_FILES = 4,
	CKPT_SEC_PAGES = 5,
	CKPT_SEC_FDS = 6, /* v2: the descriptor table, struct ckpt_img_fd each */
	CKPT_SEC_PROCX = 7, /* v2: struct ckpt_img_procx */
	CKPT_SEC_TIMERS = 9, /* v2: struct ckpt_img_ptimer each, after PROCX */
	CKPT_SEC_TCOMM = 10, /* v2, optional: each thread's name (char[16]) in THREAD
				order, after TIMERS, in processes of several threads */
	CKPT_SEC_TPRCTL = 11, /* v2: struct ckpt_img_tprctl per thread in THREAD
				 order, after TCOMM; only when a thread has a
				 value other than the default (older readers
				 refuse it: not optional) */
	CKPT_SEC_TREE = 8, /* v2, images of several processes: struct ckpt_img_task
			      each, after the object sections, before the first PROC */
	/* v2 object sections, one per kind (enum ckpt_obj_kind): records of
	   struct ckpt_img_obj + the kind's struct + variable data */
	CKPT_SEC_OBJ_BASE = 0x100, /* section type = CKPT_SEC_OBJ_BASE + kind */
	CKPT_SEC_END = 0x7fffffff,
};

#define CKPT_SEC_F_OPTIONAL (1u << 0) /* readers may skip it if unknown */

struct ckpt_img_section {
	uint32_t type; /* enum ckpt_img_section_type */
	uint32_t flags; /* CKPT_SEC_F_* */
	uint64_t size; /* payload bytes */
	uint32_t pad; /* zero bytes between this struct and the payload */
	uint32_t hdr_crc32c; /* of this struct with this field zero */
};

struct ckpt_img_section_tail {
	uint32_t crc32c; /* of the payload */
	uint32_t magic; /* CKPT_IMG_TAIL_MAGIC */
};

/* ---- PROC: one per process ---------------------------------------------- */

#define CKPT_RLIM_NLIMITS 16
#define CKPT_NSIG 64
#define CKPT_AUXV_MAX 64 /* uint64 words; PR_SET_MM_MAP takes at most 448 bytes */
#define CKPT_NGROUPS_MAX 64
#define CKPT_PATH_MAX 4096

struct ckpt_img_sigaction { /* kernel struct sigaction layout (x86-64) */
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

struct ckpt_img_rlimit {
	uint64_t cur;
	uint64_t max;
};

/* The fields of struct prctl_mm_map (PR_SET_MM_MAP) and brk. */
struct ckpt_img_mm {
	uint64_t start_code, end_code;
	uint64_t start_data, end_data;
	uint64_t start_brk, brk;
	uint64_t start_stack;
	uint64_t arg_start, arg_end;
	uint64_t env_start, env_end;
	uint32_t auxv_words; /* used entries of auxv[] */
	uint32_t pad;
	uint64_t auxv[CKPT_AUXV_MAX];
};

struct ckpt_img_itimer {
	uint64_t interval_sec, interval_usec;
	uint64_t value_sec, value_usec;
};

struct ckpt_img_proc {
	int32_t pid;
	int32_t ppid;
	int32_t pgid;
	int32_t sid;
	uint32_t nr_threads;
	uint32_t umask;
	uint32_t personality;
	uint32_t flags; /* CKPT_PROC_F_* */
	char comm[16];
	int32_t exit_signal; /* usually SIGCHLD */
	uint32_t ngroups;
	uint32_t uid, euid, suid, fsuid;
	uint32_t gid, egid, sgid, fsgid;
	uint32_t groups[CKPT_NGROUPS_MAX];
	uint64_t cap_inheritable, cap_permitted, cap_effective, cap_bset, cap_ambient;
	uint32_t no_new_privs;
	uint32_t dumpable;
	uint64_t thp_disable;
	struct ckpt_img_rlimit rlimits[CKPT_RLIM_NLIMITS];
	struct ckpt_img_sigaction sigactions[CKPT_NSIG]; /* index = signal - 1 */
	struct ckpt_img_itimer itimers[3]; /* ITIMER_REAL, VIRTUAL, PROF */
	uint64_t pending_shared_count; /* siginfo records of shared pending signals
					  that follow this struct in the payload */
	struct ckpt_img_mm mm;
	char exe[CKPT_PATH_MAX]; /* /proc/PID/exe target */
	char cwd[CKPT_PATH_MAX];
	char root[CKPT_PATH_MAX];
	/* followed by: pending_shared_count * struct ckpt_img_siginfo */
};

#define CKPT_PROC_F_STOPPED (1u << 0) /* was in group-stop at checkpoint */

struct ckpt_img_siginfo {
	uint8_t raw[128]; /* siginfo_t as from PTRACE_PEEKSIGINFO */
};

/* ---- THREAD: one per thread, the thread-group leader first --------------- */

/* struct user_regs_struct (x86-64), in kernel order */
struct ckpt_img_regs {
	uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
	uint64_t rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss;
	uint64_t fs_base, gs_base, ds, es, fs, gs;
};

struct ckpt_img_thread {
	int32_t tid;
	uint32_t flags; /* CKPT_THR_F_* */
	struct ckpt_img_regs regs; /* syscall restart already applied (see docs) */
	uint64_t sigmask; /* blocked signals */
	uint64_t clear_tid_address; /* set_tid_address / CLONE_CHILD_CLEARTID */
	uint64_t robust_list_head;
	uint64_t robust_list_len;
	uint64_t rseq_abi_pointer; /* 0: no rseq registered */
	uint32_t rseq_abi_size;
	uint32_t rseq_flags;
	uint32_t rseq_signature;
	uint32_t altstack_flags;
	uint64_t altstack_sp;
	uint64_t altstack_size;
	uint32_t xstate_size; /* bytes of NT_X86_XSTATE that follow */
	uint32_t pending_count; /* per-thread pending siginfo records after it */
	/* followed by: xstate[xstate_size], padded to 8, then
	   pending_count * struct ckpt_img_siginfo */
};

/* ---- TPRCTL (v2): per-thread prctl values, one record per thread ----------
 * Written by the user engine only when some thread has a value other than
 * the default (securebits 0, mce_kill PR_MCE_KILL_DEFAULT, tsc
 * PR_TSC_ENABLE), so images of ordinary processes stay readable by readers
 * that predate it; such a reader refuses an image that has it. */
struct ckpt_img_tprctl {
	int32_t tid;
	uint32_t securebits; /* PR_GET_SECUREBITS (SECBIT_KEEP_CAPS = keepcaps) */
	int32_t mce_kill; /* PR_MCE_KILL_GET: 0 late, 1 early, 2 default */
	uint32_t tsc; /* PR_GET_TSC: 1 enable, 2 SIGSEGV */
};

#define CKPT_THR_F_LEADER (1u << 0)
#define CKPT_THR_F_IN_SYSCALL (1u << 1) /* was inside a syscall (informative) */

/* ---- VMAS: the address space, in address order --------------------------- */

enum ckpt_vma_kind {
	CKPT_VMA_ANON = 1, /* private or shared anonymous, incl. heap and stack */
	CKPT_VMA_FILE = 2, /* file-backed (private or shared) */
	CKPT_VMA_VDSO = 3, /* [vdso] */
	CKPT_VMA_VVAR = 4, /* [vvar] and [vvar_vclock]: placed, never dumped */
	CKPT_VMA_VSYSCALL = 5, /* [vsyscall]: left alone */
};

/* ckpt_img_vma.flags */
#define CKPT_VMA_F_SHARED (1u << 0) /* MAP_SHARED */
#define CKPT_VMA_F_HEAP (1u << 1) /* [heap] */
#define CKPT_VMA_F_STACK (1u << 2) /* [stack] */
#define CKPT_VMA_F_GROWSDOWN (1u << 3)
#define CKPT_VMA_F_SEALED (1u << 4) /* mseal()ed: re-seal after restore */
#define CKPT_VMA_F_DELETED (1u << 5) /* backing file was unlinked */
#define CKPT_VMA_F_DONTDUMP (1u << 6)
#define CKPT_VMA_F_DUMPED (1u << 7) /* some pages are in PAGES */
#define CKPT_VMA_F_VVAR_VCLOCK (1u << 8) /* the [vvar_vclock] part */
#define CKPT_VMA_F_SYSV (1u << 9) /* a SysV shm attach: ino is the shmid, its
				     content is in the CKPT_OBJ_SYSVSHM object,
				     no pages in PAGES */

/* madvise and mlock state of a VMA (smaps VmFlags in parentheses) */
#define CKPT_VMA_MADV_DONTFORK (1u << 0) /* dc */
#define CKPT_VMA_MADV_WIPEONFORK (1u << 1) /* wf */
#define CKPT_VMA_MADV_HUGEPAGE (1u << 2) /* hg */
#define CKPT_VMA_MADV_NOHUGEPAGE (1u << 3) /* nh */
#define CKPT_VMA_MADV_RANDOM (1u << 4) /* rr */
#define CKPT_VMA_MADV_SEQUENTIAL (1u << 5) /* sr */
#define CKPT_VMA_MADV_MERGEABLE (1u << 6) /* mg */
#define CKPT_VMA_MADV_LOCKED (1u << 7) /* lo: mlock */
#define CKPT_VMA_MADV_LOCKONFAULT (1u << 8) /* lf: mlock2(MLOCK_ONFAULT) */

struct ckpt_img_vma {
	uint64_t start;
	uint64_t end;
	uint64_t pgoff; /* file offset in bytes */
	uint64_t dev; /* makedev(major, minor) of the backing file */
	uint64_t ino;
	uint32_t prot; /* PROT_* */
	uint32_t kind; /* enum ckpt_vma_kind */
	uint32_t flags; /* CKPT_VMA_F_* */
	uint32_t madv; /* CKPT_VMA_MADV_*: madvise/mlock state from VmFlags
			  (0 in images before it was recorded) */
	uint32_t rec_size; /* bytes of this record incl. name and padding (8-aligned) */
	uint32_t name_len; /* bytes of name that follow, incl. NUL; 0: none */
	/* followed by: name (path, or "[heap]" etc.), NUL, padding to 8 */
};

/* ---- FILES: open descriptors --------------------------------------------- */

enum ckpt_file_kind {
	CKPT_FILE_REG = 1,
	CKPT_FILE_DIR = 2,
	CKPT_FILE_CHR = 3, /* character device, incl. terminals */
	CKPT_FILE_FIFO = 4, /* pipe or FIFO */
	CKPT_FILE_SOCK = 5,
	CKPT_FILE_OTHER = 6, /* anon inodes (eventfd, epoll, ...) */
};

/* ckpt_img_file.flags */
#define CKPT_FILE_F_CLOEXEC (1u << 0)
#define CKPT_FILE_F_DELETED (1u << 1)
#define CKPT_FILE_F_TTY (1u << 2)
#define CKPT_FILE_F_STDIO (1u << 3) /* cannot be reopened: take from restarter */

struct ckpt_img_file {
	int32_t fd;
	int32_t shared_with; /* lower fd sharing this open file description, or -1 */
	uint32_t kind; /* enum ckpt_file_kind */
	uint32_t flags; /* CKPT_FILE_F_* */
	uint32_t open_flags; /* O_* from /proc/PID/fdinfo */
	uint32_t mode; /* st_mode */
	uint64_t pos;
	uint64_t dev;
	uint64_t ino;
	uint64_t size; /* st_size at checkpoint */
	uint32_t rec_size; /* bytes incl. path and padding (8-aligned) */
	uint32_t path_len; /* bytes of path that follow, incl. NUL */
	/* followed by: path (readlink of /proc/PID/fd/N), NUL, padding to 8 */
};

/* ---- PAGES: memory contents ---------------------------------------------- */

/*
 * Payload: nr_runs * struct ckpt_img_pagerun, zero padding up to the next
 * CKPT_IMG_PAGE_SIZE boundary of the *file*, then the data of every run in
 * table order (run i: nr_pages * 4096 bytes). The section's pad field makes
 * the payload itself start page-aligned, so the data does too.
 */
struct ckpt_img_pages_head {
	uint64_t nr_runs;
	uint64_t nr_pages;
	uint64_t data_offset; /* from the start of the payload, page-aligned */
};

struct ckpt_img_pagerun {
	uint64_t addr;
	uint64_t nr_pages;
};

/* ---- PROCX (v2): per-process state added after v1 ------------------------- */

struct ckpt_img_procx {
	uint64_t xcomp_perm; /* arch_prctl(ARCH_GET_XCOMP_PERM): dynamic xfeatures
				(AMX tile data, bit 18) the process may use */
	/* Scheduling and process attributes (proc_attrs.c). Every thread had
	   the same per-thread values (nice, policy, I/O priority, timer slack)
	   or the checkpoint was refused. Images before these were recorded have
	   flags 0 here (the field was reserved) and restore as they did. */
	uint32_t flags; /* CKPT_PROCX_F_*: which groups below were recorded */
	int32_t nice; /* -20..19 */
	uint32_t sched_policy; /* SCHED_* | CKPT_SCHED_RESET_ON_FORK */
	uint32_t sched_priority; /* SCHED_FIFO/RR: 1..99 */
	uint32_t ioprio; /* ioprio_get(IOPRIO_WHO_PROCESS) */
	int32_t oom_score_adj; /* -1000..1000 */
	uint64_t timerslack_ns; /* PR_GET_TIMERSLACK */
	uint32_t pdeath_signal; /* PR_GET_PDEATHSIG: 0 none */
	uint32_t child_subreaper; /* PR_GET_CHILD_SUBREAPER */
	uint32_t nr_posix_timers; /* records in this process's TIMERS section */
	uint32_t mlock_future; /* with CKPT_PROCX_F_MLOCKALL: 0, or mlockall's
				  MCL_FUTURE (2) | MCL_ONFAULT (4) in effect */
	uint64_t reserved[1];
};

#define CKPT_PROCX_F_SCHED (1u << 0) /* nice, policy, priority, ioprio, oom */
#define CKPT_PROCX_F_PRCTL (1u << 1) /* pdeath_signal, child_subreaper */
#define CKPT_PROCX_F_SLACK (1u << 2) /* timerslack_ns */
#define CKPT_PROCX_F_MLOCKALL (1u << 3) /* mlock_future */
#define CKPT_SCHED_RESET_ON_FORK 0x40000000u

/* ---- TIMERS (v2): the POSIX timers of one process, after its PROCX ---------
 * Present only when nr_posix_timers > 0 (so a reader that predates it refuses
 * such an image as an unknown section, never drops the timers silently). One
 * record per timer in id order. The value is the time left when the process
 * was frozen, re-armed relative at restart (an absolute CLOCK_REALTIME
 * timer becomes relative: see docs/image-format.md). */
#define CKPT_PTIMER_NOTIFY_THREAD 4 /* SIGEV_THREAD_ID: `tid` is a thread */

struct ckpt_img_ptimer {
	int32_t id; /* the timer_t the process holds */
	int32_t clock; /* clockid_t; CPU clocks of the process itself only */
	uint32_t notify; /* SIGEV_SIGNAL or SIGEV_NONE, | CKPT_PTIMER_NOTIFY_THREAD */
	int32_t signo;
	int32_t tid; /* NOTIFY_THREAD: the thread, else the process */
	uint32_t pad;
	uint64_t sigval; /* sigev_value */
	int64_t value_sec, value_nsec; /* left; 0 0: disarmed */
	int64_t interval_sec, interval_nsec;
};

/* ---- TREE (v2): the processes of a job ------------------------------------
 * Present when the image holds more than one process (or a zombie): one
 * record per process in creation order (a parent before its children).
 * Every record but a zombie's has its PROC..PAGES sections after TREE, in
 * the same order. A process's descriptors refer to objects with ids
 * obj_first .. obj_first + obj_count - 1 (the objects it makes again), to
 * objects of an ancestor's slice, or (CKPT_TASK_F_TOPLEVEL) to objects after
 * every slice, which the restarter makes.
 */
#define CKPT_TASK_F_ZOMBIE (1u << 0) /* exited, not reaped: no sections follow */
#define CKPT_TASK_F_ROOT (1u << 1) /* the process the checkpoint named */
/* Several records have their parent outside the image (a process group or
   session whose processes are children of an outside shell): each of them
   carries this flag, and the restarter itself makes every one ("virtual
   root") with the objects they share and no process of the job makes (ids
   after every record's slice). An older reader refuses the unknown flag. */
#define CKPT_TASK_F_TOPLEVEL (1u << 2)

struct ckpt_img_task {
	int32_t pid;
	int32_t ppid; /* a pid of an earlier record, or outside the image */
	int32_t pgid;
	int32_t sid;
	uint32_t flags; /* CKPT_TASK_F_* */
	int32_t exit_status; /* ZOMBIE: the wait status its parent will collect */
	int32_t exit_signal; /* ZOMBIE: the signal its parent is told with */
	uint32_t obj_first; /* first object id of this process (0: none) */
	uint32_t obj_count;
	uint32_t pad;
	char comm[16]; /* its command (/proc/PID/comm), NUL-padded; zero in images
			  before it was recorded (it was reserved) */
};

/* ---- FDS (v2): one per process -------------------------------------------- */

#define CKPT_FD_F_CLOEXEC (1u << 0)

struct ckpt_img_fd {
	int32_t fd;
	uint32_t flags; /* CKPT_FD_F_* */
	uint32_t obj; /* id of the open file description (an object record) */
	uint32_t pad;
};

/* ---- Objects (v2) ------------------------------------------------------------
 * Every open file description (and, later, other shared kernel objects) is
 * one record in the section of its kind. A record is struct ckpt_img_obj,
 * then the kind's fixed struct, then the kind's variable data, padded to 8;
 * rec_size covers all of it. Ids are unique in the image, 1-based.
 */
enum ckpt_obj_kind {
	CKPT_OBJ_FILE = 1, /* reopened by path: regular file, directory, character
			      device, named FIFO; an unlinked file with its content */
	CKPT_OBJ_PIPE = 2, /* one end of an anonymous pipe, with the bytes in it */
	CKPT_OBJ_STDIO = 3, /* fd 0-2 leading outside the job (terminal, pipe,
			       socket): taken from the restarting command (BLCR) */
	CKPT_OBJ_EVENTFD = 4,
	CKPT_OBJ_EPOLL = 5,
	CKPT_OBJ_TIMERFD = 6,
	CKPT_OBJ_SIGNALFD = 7,
	CKPT_OBJ_INOTIFY = 8,
	CKPT_OBJ_UNIX = 9, /* AF_UNIX socket */
	CKPT_OBJ_INET = 10, /* AF_INET/AF_INET6 TCP or UDP socket */
	CKPT_OBJ_MEMFD = 11,
	CKPT_OBJ_FIFO = 12, /* named FIFO, reopened by path, with its buffered bytes */
	CKPT_OBJ_SYSVSHM = 13, /* SysV shm segment a VMA attaches (no descriptor) */
	CKPT_OBJ_LOCK = 14, /* a flock, POSIX or OFD lock held (no descriptor) */
	CKPT_OBJ_MAX = 31, /* kinds fit in a 32-bit mask */
};

#define CKPT_OBJ_F_NONE 0u

struct ckpt_img_obj {
	uint32_t id;
	uint32_t kind; /* enum ckpt_obj_kind; equals the section's kind */
	uint32_t rec_size; /* whole record, 8-aligned */
	uint32_t open_flags; /* f_flags of the description (O_*), from fdinfo */
	/* followed by the kind's struct and data */
};

/* CKPT_OBJ_FILE */
#define CKPT_OFILE_F_DELETED (1u << 0) /* unlinked while open: content follows */

struct ckpt_img_ofile {
	uint64_t pos;
	uint64_t dev; /* makedev() of st_dev, to check it is the same file */
	uint64_t ino;
	uint64_t size; /* st_size at checkpoint */
	uint32_t mode; /* st_mode */
	uint32_t flags; /* CKPT_OFILE_F_* */
	uint32_t path_len; /* incl. NUL */
	uint32_t pad;
	uint64_t data_len; /* content bytes after the path (unlinked files) */
	/* followed by: path, NUL, then data_len bytes */
};

/* CKPT_OBJ_PIPE: the pipe's buffered bytes are stored with one of its ends
   (data_len > 0 on at most one record per inode). */
struct ckpt_img_opipe {
	uint64_t ino; /* the pipe inode: ends with the same ino are one pipe */
	uint32_t pipe_size; /* F_GETPIPE_SZ */
	uint32_t data_len; /* bytes buffered at checkpoint, following */
};

/* CKPT_OBJ_STDIO */
struct ckpt_img_ostdio {
	int32_t fd; /* 0, 1 or 2: which of the restarter's descriptors */
	uint32_t what_len; /* incl. NUL: what it was ("/dev/pts/3", "pipe:[..]") */
	/* followed by: what, NUL */
};

/* CKPT_OBJ_EVENTFD (fd_eventfd.c) */
#define CKPT_OEVENTFD_F_SEMAPHORE (1u << 0) /* EFD_SEMAPHORE */

struct ckpt_img_oeventfd {
	uint64_t count; /* the counter (0 .. 2^64-2) */
	uint32_t flags; /* CKPT_OEVENTFD_F_* */
	uint32_t pad;
};


/* CKPT_OBJ_EPOLL (fd_epoll.c): the interest list, re-added once every
   descriptor has its number. The ready list is not stored: it follows from
   the restored objects' state when the entries are added again. */
struct ckpt_img_oepoll {
	uint32_t nr_items; /* struct ckpt_img_epoll_item that follow */
	uint32_t pad;
};

struct ckpt_img_epoll_item {
	int32_t tfd; /* the watched descriptor's number */
	uint32_t events; /* EPOLL* incl. EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE */
	uint64_t data; /* epoll_data as registered */
};


/* CKPT_OBJ_TIMERFD (fd_timerfd.c) */
struct ckpt_img_otimerfd {
	int32_t clockid; /* CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, ..._ALARM */
	uint32_t settime_flags; /* TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET */
	uint64_t ticks; /* expirations not read yet */
	int64_t value_sec, value_nsec; /* time left (0, 0: disarmed) */
	int64_t interval_sec, interval_nsec;
	int64_t abs_sec, abs_nsec; /* ABSTIME: the expiry on clockid's clock */
};


/* CKPT_OBJ_SIGNALFD (fd_signalfd.c) */
struct ckpt_img_osignalfd {
	uint64_t sigmask; /* bit n-1: signal n */
};


/* CKPT_OBJ_INOTIFY (fd_inotify.c): watches by path, in increasing wd order;
   a restart gives each watch its recorded wd. */
struct ckpt_img_oinotify {
	uint32_t nr_watches; /* struct ckpt_img_inotify_watch that follow */
	uint32_t pad;
};

struct ckpt_img_inotify_watch {
	int32_t wd;
	uint32_t mask; /* IN_* as added, incl. IN_ONESHOT, IN_EXCL_UNLINK, ... */
	uint64_t dev; /* makedev() of the watched inode's st_dev */
	uint64_t ino;
	uint32_t path_len; /* incl. NUL, padded to 8 in the record */
	uint32_t pad;
	/* followed by: path, NUL, zeros to 8 */
};


/* Socket options of CKPT_OBJ_UNIX and CKPT_OBJ_INET, from a fixed list
   (fd_sock.c); a restart sets only those it knows, and only where the new
   socket's value differs. Integer options use `value` (value2 is 0);
   SO_RCVTIMEO/SO_SNDTIMEO hold seconds (at most INT32_MAX) and
   microseconds, SO_LINGER l_onoff and l_linger. */
struct ckpt_img_sockopt {
	int32_t level; /* SOL_SOCKET, IPPROTO_TCP, IPPROTO_IPV6 */
	int32_t name; /* SO_*, TCP_*, IPV6_* */
	int32_t value;
	int32_t value2;
};

/* A queued message (datagram, seqpacket record or a stream's bytes). */
struct ckpt_img_sockmsg {
	uint32_t len; /* bytes that follow, padded to 8 */
	uint32_t pad;
};

/* CKPT_OBJ_UNIX (fd_unix.c) */
enum ckpt_ounix_state {
	CKPT_OUNIX_UNCONNECTED = 0, /* socket(), maybe bound (a datagram socket) */
	CKPT_OUNIX_LISTEN = 1, /* bound and listening, accept queue empty */
	CKPT_OUNIX_PAIR = 2, /* connected both ways to peer_ino, also in the image */
	CKPT_OUNIX_PEER_GONE = 3, /* stream/seqpacket whose peer was closed */
	CKPT_OUNIX_CONNECTED = 4, /* datagram connected to peer_ino (bound, in the image) */
};

#define CKPT_OUNIX_NAME_MAX 108 /* sizeof(sun_path) */

struct ckpt_img_ounix {
	uint64_t ino; /* socket inode ("socket:[INO]") */
	uint64_t peer_ino; /* PAIR, CONNECTED: the peer's inode; else 0 */
	uint32_t type; /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	uint32_t state; /* enum ckpt_ounix_state */
	uint32_t backlog; /* LISTEN: listen()'s backlog */
	uint32_t shutdown; /* 1: no more reads, 2: no more writes */
	uint32_t name_len; /* bytes of name used (abstract: starts with NUL); 0: unnamed */
	uint32_t file_mode; /* bound to a path: the socket file's permission bits */
	uint32_t file_uid, file_gid;
	uint8_t name[CKPT_OUNIX_NAME_MAX]; /* sun_path as getsockname returned it */
	uint32_t nr_opts;
	uint32_t nr_msgs; /* messages queued for reading (stream: one record) */
	uint32_t pad;
	uint64_t data_len; /* bytes of the message records after the options */
	/* followed by: nr_opts * struct ckpt_img_sockopt, then nr_msgs *
	   (struct ckpt_img_sockmsg + bytes padded to 8) */
};



/* CKPT_OBJ_INET (fd_inet.c) */
enum ckpt_oinet_state {
	CKPT_OINET_FRESH = 0, /* socket(), neither bound nor connected */
	CKPT_OINET_BOUND = 1, /* bound (UDP: maybe also connected, see peer_len) */
	CKPT_OINET_LISTEN = 2, /* TCP listening, accept queue empty */
	CKPT_OINET_ESTABLISHED = 3, /* TCP connection, through TCP_REPAIR */
};

#define CKPT_OINET_ADDR_MAX 128 /* sizeof(struct sockaddr_storage) */

struct ckpt_img_oinet {
	uint64_t ino; /* socket inode */
	uint32_t family; /* AF_INET, AF_INET6 */
	uint32_t type; /* SOCK_STREAM, SOCK_DGRAM */
	uint32_t protocol; /* IPPROTO_TCP, IPPROTO_UDP */
	uint32_t state; /* enum ckpt_oinet_state */
	uint32_t backlog; /* LISTEN */
	uint32_t local_len; /* bytes of local used; 0: unbound */
	uint32_t peer_len; /* bytes of peer used; 0: unconnected */
	uint32_t nr_opts;
	uint8_t local[CKPT_OINET_ADDR_MAX]; /* struct sockaddr_in or _in6 */
	uint8_t peer[CKPT_OINET_ADDR_MAX];
	/* ESTABLISHED: the TCP_REPAIR state */
	uint32_t snd_seq; /* TCP_QUEUE_SEQ of the send queue (next byte written) */
	uint32_t rcv_seq; /* TCP_QUEUE_SEQ of the receive queue (next byte expected) */
	uint32_t outq_len; /* bytes in the send queue (sent and unsent) */
	uint32_t unsent_len; /* of which not sent yet (SIOCOUTQNSD) */
	uint32_t inq_len; /* bytes received, not read yet */
	uint32_t mss; /* TCP_MAXSEG in repair mode: the MSS clamp */
	uint32_t timestamp; /* TCP_TIMESTAMP */
	uint32_t tcpi_options; /* TCPI_OPT_* negotiated */
	uint32_t snd_wscale, rcv_wscale;
	uint32_t has_window; /* TCP_REPAIR_WINDOW below is valid */
	uint32_t snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup; /* struct tcp_repair_window */
	uint32_t pad;
	/* followed by: nr_opts * struct ckpt_img_sockopt, then inq_len bytes
	   (receive queue), then outq_len bytes (send queue), padded to 8 */
};



/* CKPT_OBJ_MEMFD (fd_memfd.c): the file with its content; VMAs whose
   dev/ino are the record's map the restored memfd. */
#define CKPT_OMEMFD_F_MAPONLY (1u << 0) /* held by mappings only, no descriptor */

struct ckpt_img_omemfd {
	uint64_t pos;
	uint64_t size; /* st_size */
	uint64_t dev, ino; /* of the checkpointed memfd: its VMAs match them */
	uint32_t seals; /* F_GET_SEALS, applied after the mappings */
	uint32_t flags; /* CKPT_OMEMFD_F_* */
	uint32_t mode; /* st_mode & 07777 */
	uint32_t name_len; /* incl. NUL: the name given to memfd_create */
	uint64_t data_len; /* content bytes that follow the name (== size) */
	/* followed by: name, NUL, data */
};

/* CKPT_OBJ_FIFO (fd_fifo.c): the buffered bytes are stored with the first
   record of the FIFO, and written back only when the FIFO was held by no
   process outside the job at checkpoint and is empty at restart. */
#define CKPT_OFIFO_F_HELD_OUTSIDE (1u << 0) /* its buffer survived the job */

struct ckpt_img_ofifo {
	uint64_t dev, ino;
	uint32_t mode; /* st_mode */
	uint32_t flags; /* CKPT_OFIFO_F_* */
	uint32_t pipe_size; /* F_GETPIPE_SZ */
	uint32_t path_len; /* incl. NUL */
	uint32_t data_len; /* buffered bytes after the path */
	uint32_t pad;
	/* followed by: path, NUL, data */
};

/* CKPT_OBJ_SYSVSHM (shm_sysv.c) */
#define CKPT_OSHM_F_DEST (1u << 0) /* IPC_RMID'd, alive while attached */

struct ckpt_img_oshm {
	int32_t key;
	int32_t shmid;
	uint64_t size; /* shm_segsz */
	uint32_t mode; /* shm_perm.mode & 0777 */
	uint32_t flags; /* CKPT_OSHM_F_* */
	uint32_t uid, gid; /* owner */
	uint64_t data_len; /* content bytes that follow (== size) */
	/* followed by: data */
};

/* CKPT_OBJ_LOCK (fd_lock.c) */
enum ckpt_lock_type {
	CKPT_LOCK_FLOCK = 1,
	CKPT_LOCK_POSIX = 2,
	CKPT_LOCK_OFD = 3,
};

struct ckpt_img_olock {
	int32_t fd; /* descriptor it is held through (number in FDS) */
	uint32_t type; /* enum ckpt_lock_type */
	uint32_t write; /* 1: write (exclusive), 0: read (shared) */
	uint32_t pad;
	uint64_t start; /* byte range; flock: 0 */
	uint64_t len; /* 0: to the end of the file */
	uint64_t dev, ino; /* the file */
};

/* ---- END ------------------------------------------------------------------ */

/*
 * The END payload. Images written before the order checksum existed have a
 * 16-byte END (nr_sections and image_bytes only); readers accept both sizes.
 * order_crc32c: crc32c over every section before END, in file order, of its
 * struct ckpt_img_section as stored followed by its struct
 * ckpt_img_section_tail as stored (the payload crc): sections reordered,
 * repeated or dropped no longer match it even when each checks out alone.
 */
#define CKPT_IMG_END_V1_SIZE 16 /* END without order_crc32c and flags */
#define CKPT_END_F_ORDER_CRC (1u << 0) /* order_crc32c is set */

struct ckpt_img_end {
	uint64_t nr_sections; /* not counting END */
	uint64_t image_bytes; /* file size up to the start of END */
	uint32_t order_crc32c; /* see above */
	uint32_t flags; /* CKPT_END_F_* */
};

#endif /* CKPT_IMAGE_H */
