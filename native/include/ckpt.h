/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libckpt: transparent checkpoint/restart of unmodified Linux processes.
 *
 * The one public header. Every call returns 0 (or a non-negative value where
 * documented) on success and -errno on failure, and fills the caller's
 * message buffer with a sentence naming what failed, e.g.
 *   "ptrace seize 1234: EPERM (already traced by 987)".
 * Nothing depends on errno after a call: callers through an FFI (koffi runs
 * async calls on worker threads) read the return value and the message only.
 *
 * Option and result structs start with a `size` field the caller sets to
 * sizeof(struct); the library accepts older (smaller) structs and zero-fills
 * what they lack. All fields are fixed-width so TypeScript can mirror them
 * (see src/engine/libckpt.ts and test/native/abi.test.ts).
 */
#ifndef CKPT_H
#define CKPT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_API_VERSION 1
#define CKPT_MSG_MAX 512 /* a message buffer this long never truncates */

/* What happens to the target once its state is captured (BLCR --run etc.). */
enum ckpt_after {
	CKPT_AFTER_CONT = 0, /* keep running (BLCR --run / --cont) */
	CKPT_AFTER_STOP = 1, /* SIGSTOP */
	CKPT_AFTER_TERM = 2, /* SIGTERM */
	CKPT_AFTER_KILL = 3, /* SIGKILL */
	CKPT_AFTER_SIGNAL = 4, /* send opts.signal (BLCR -S N) */
	CKPT_AFTER_ABORT = 5, /* SIGABRT (BLCR --abort) */
};

/* Which processes a checkpoint covers (BLCR -p / -T / -g / -s). */
enum ckpt_scope {
	CKPT_SCOPE_PID = 0, /* one process with all its threads */
	CKPT_SCOPE_TREE = 1, /* the process and all its descendants */
	CKPT_SCOPE_PGID = 2, /* a process group */
	CKPT_SCOPE_SID = 3, /* a session */
};

enum ckpt_backend {
	CKPT_BACKEND_AUTO = 0, /* kernel module when loaded, else userspace */
	CKPT_BACKEND_USER = 1, /* ptrace + restorer, works everywhere */
	CKPT_BACKEND_KERNEL = 2, /* /dev/ckpt (kmod/ckpt.ko) */
};

/* ckpt_checkpoint_opts.flags */
#define CKPT_CP_NOSYNC (1u << 0) /* skip fsync of file and directory */
#define CKPT_CP_BACKUP (1u << 1) /* keep previous image as FILE.~N~ */
#define CKPT_CP_NOCLOBBER (1u << 2) /* fail with -EEXIST if FILE exists */
#define CKPT_CP_NOATOMIC (1u << 3) /* write FILE in place (BLCR --clobber) */
/* Established TCP connections are saved through TCP_REPAIR (needs
   CAP_NET_ADMIN at checkpoint and restart) instead of refusing the
   checkpoint; the peer sees nothing. */
#define CKPT_CP_TCP_ESTABLISHED (1u << 4)
/* Refuse, once every process is frozen (none can exec any more), a process
   whose real/effective/saved/filesystem uid or gid is not owner_uid/gid, or
   that holds capabilities while owner_uid is not 0: a daemon acting for a
   user never dumps a set-id program the job ran after it was checked. */
#define CKPT_CP_OWNER (1u << 5)

/*
 * Progress, shared with the caller: the library stores with relaxed atomics,
 * the caller may poll it from another thread while a call runs.
 */
struct ckpt_progress {
	uint64_t bytes_done;
	uint64_t bytes_total; /* 0 until known */
	uint32_t phase; /* enum ckpt_phase */
	uint32_t pad;
};

enum ckpt_phase {
	CKPT_PHASE_IDLE = 0,
	CKPT_PHASE_FREEZE = 1,
	CKPT_PHASE_STATE = 2,
	CKPT_PHASE_MEMORY = 3,
	CKPT_PHASE_SYNC = 4,
	CKPT_PHASE_VERIFY = 5,
	CKPT_PHASE_RESTORE = 6,
	CKPT_PHASE_DONE = 7,
};

struct ckpt_checkpoint_opts {
	uint32_t size; /* sizeof(struct ckpt_checkpoint_opts) */
	uint32_t flags; /* CKPT_CP_* */
	uint32_t after; /* enum ckpt_after */
	int32_t signal; /* for CKPT_AFTER_SIGNAL */
	uint32_t scope; /* enum ckpt_scope */
	int32_t fd; /* >= 0: write the image to this fd; path is then only a label */
	uint32_t timeout_ms; /* 0: none; else give up (target untouched) after this */
	uint32_t backend; /* enum ckpt_backend: which engine freezes and reads the
			     threads; the image is the same either way */
	struct ckpt_progress *progress; /* may be NULL */
	uint32_t owner_uid; /* with CKPT_CP_OWNER */
	uint32_t owner_gid;
};

struct ckpt_result {
	uint32_t size; /* sizeof(struct ckpt_result), set by the caller */
	int32_t pid; /* the target */
	uint64_t bytes; /* image size */
	uint64_t pages; /* memory pages written */
	uint64_t wall_ns; /* whole call */
	uint64_t frozen_ns; /* time the target was stopped */
	uint32_t threads;
	uint32_t processes;
	uint32_t vmas;
	uint32_t crc32c; /* checksum of the whole image file as written */
	uint32_t backend; /* enum ckpt_backend that did it: USER or KERNEL */
	uint32_t pad;
};

/*
 * Checkpoint `pid` (a thread-group leader) to `path` (or opts->fd).
 * By default the write is atomic and durable: a temp file in the target
 * directory, fsync, rename, fsync of the directory. On failure any previous
 * image at `path` is untouched and the target keeps running untouched.
 */
int ckpt_checkpoint(int32_t pid, const char *path, const struct ckpt_checkpoint_opts *opts,
		    struct ckpt_result *res, char *msg, size_t msglen);

/* ckpt_restart_opts.flags */
#define CKPT_RS_NO_RESTORE_PID (1u << 0) /* restore under a fresh PID */
#define CKPT_RS_RESTORE_PGID (1u << 1) /* BLCR --restore-pgid */
#define CKPT_RS_RESTORE_SID (1u << 2) /* BLCR --restore-sid */
#define CKPT_RS_NO_VERIFY (1u << 3) /* skip checksum verification (not advised) */

struct ckpt_restart_opts {
	uint32_t size; /* sizeof(struct ckpt_restart_opts) */
	uint32_t flags; /* CKPT_RS_* */
	uint32_t after; /* enum ckpt_after: CONT (default) or STOP leaves it stopped
			   for a debugger; TERM/KILL/SIGNAL send that once restored */
	int32_t signal; /* for CKPT_AFTER_SIGNAL */
	int32_t fd; /* >= 0: read the image from this fd; path is then only a label */
	/* stdio for descriptors that were a terminal, pipe or socket and cannot
	   be reopened: -1 takes the caller's own 0/1/2 (BLCR behaviour) */
	int32_t stdin_fd;
	int32_t stdout_fd;
	int32_t stderr_fd;
	uint32_t nr_relocate; /* BLCR --relocate OLD=NEW, up to 16 */
	uint32_t pad;
	const char *const *relocate; /* nr_relocate strings "OLD=NEW" */
	struct ckpt_progress *progress; /* may be NULL */
	/* enum ckpt_backend: KERNEL asks ckpt.ko (a restore session) for what
	   the caller lacks CAP_CHECKPOINT_RESTORE for (its PIDs and thread ids,
	   the exe link); USER never does; AUTO does when /dev/ckpt is present. */
	uint32_t backend;
	uint32_t pad2;
};

#define CKPT_RESTART_ROOTS_MAX 32

struct ckpt_restart_result {
	uint32_t size; /* sizeof(struct ckpt_restart_result), set by the caller */
	int32_t pid; /* the restored process */
	/* The process that waits for the restored one and exits with its exit
	   status (BLCR cr_restart semantics); a child of the caller. Reap it
	   with ckpt_wait() or waitpid(). */
	int32_t waiter_pid;
	uint32_t threads;
	uint64_t bytes; /* image bytes read */
	uint64_t wall_ns;
	/* The processes waiter_pid waits for, each its child, in creation
	   order: the restored process, or every top-level process of a process
	   group or session whose processes' parents were outside it (a shell's
	   pipeline); it exits when all have ended, with the status of `pid`
	   (the group or session leader if it is one of them, else the first).
	   nr_roots may exceed the array: the first CKPT_RESTART_ROOTS_MAX. */
	uint32_t nr_roots;
	int32_t roots[CKPT_RESTART_ROOTS_MAX];
	uint32_t pad;
};

/*
 * Restart from an image. Verifies the header (magic, version, kernel, CPU
 * features) and every section checksum before the restored process runs any
 * of its own code; refuses with a clear message if a PID is taken (suggests
 * CKPT_RS_NO_RESTORE_PID) or a file it needs is missing.
 */
int ckpt_restart(const char *path, const struct ckpt_restart_opts *opts,
		 struct ckpt_restart_result *res, char *msg, size_t msglen);

/*
 * Wait for a child (e.g. res.waiter_pid) to exit. Returns its exit code
 * (0..255), or 128+N if killed by signal N, or -errno.
 */
int ckpt_wait(int32_t pid, char *msg, size_t msglen);

/* ckpt_inspect flags */
#define CKPT_IN_VERIFY (1u << 0) /* verify every checksum (reads all data) */

/*
 * Describe an image as JSON (header, kernel, cpu, processes, threads, VMAs
 * with sizes, files, sections with checksum status) into `json`. Returns the
 * JSON length; -ENOSPC if `jsonlen` is too small (then *needed, if not NULL,
 * holds the size required including the NUL).
 */
int ckpt_inspect(const char *path, uint32_t flags, char *json, size_t jsonlen, size_t *needed,
		 char *msg, size_t msglen);

/*
 * What this machine supports, as JSON: library and image format versions,
 * backends available (and why not), kernel release, XCR0, xstate size.
 * Returns the JSON length or -errno (-ENOSPC as for ckpt_inspect).
 */
int ckpt_probe(char *json, size_t jsonlen, char *msg, size_t msglen);

/* "MAJOR.MINOR.PATCH" of the library. */
const char *ckpt_version(void);

#ifdef __cplusplus
}
#endif

#endif /* CKPT_H */
