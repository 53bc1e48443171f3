/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The restore helper (build/ckpt-restore) inside libckpt: verification of an
 * image, creation of the process with clone3(set_tid), and the ptrace-driven
 * rebuild of its address space, threads, files and signal state.
 *
 * Split: restore_main.c (arguments, report pipe, order of work, waiting),
 * restore_verify.c (everything checked before anything changes),
 * restore_child.c (clone3, the child's own fd/cwd/session setup, seize),
 * restore_mm.c (address space, pages, PR_SET_MM_MAP), restore_vdso.c,
 * restore_task.c (threads, per-thread state, signals, creds, detach).
 */
#ifndef CKPT_RESTORE_H
#define CKPT_RESTORE_H

#include <stdint.h>
#include <sys/types.h>

#include "ckpt_image.h"
#include "err.h"

#define RS_MAX_RELOCATE 16
/* rs_ctx.flags, internal: verify page data during the copy */
#define CKPT_RS__DEFER_PAGES_CRC (1u << 31)
#define RS_LINE_MAX 600 /* one report line: "ERR code message\n" */
#define RS_SCRATCH_SIZE (64 * 1024) /* scratch mapping inside the target */

struct rs_thread {
	const struct ckpt_img_thread *t;
	const void *xstate; /* t->xstate_size bytes */
	const struct ckpt_img_siginfo *pending; /* t->pending_count records */
	pid_t tid; /* live tid once created */
	int at_syscall; /* in one at checkpoint, its instruction at rip (rs_finish) */
	int stepped; /* detached inside its interrupted syscall (rs_settle) */
	unsigned long long run_ns; /* its time on a CPU then (schedstat) */
};

struct rs_vma {
	const struct ckpt_img_vma *v;
	const char *name; /* "" if none */
	char path[CKPT_PATH_MAX]; /* file path after --relocate */
};

struct rs_file {
	const struct ckpt_img_file *f;
	const char *path;
	char relocated[CKPT_PATH_MAX];
};

struct rs_ctx {
	/* options */
	const char *label; /* image path as given */
	int image_fd;
	uint32_t flags; /* CKPT_RS_* */
	uint32_t after;
	int signal;
	int report_fd; /* -1: print to stderr */
	uint32_t no_stdio; /* bit i: the restarter gave no fd i (stdio objects fail) */
	uint32_t backend; /* enum ckpt_backend: whether ckpt.ko helps (restore_kpid.c) */
	int nr_reloc;
	const char *reloc_old[RS_MAX_RELOCATE];
	const char *reloc_new[RS_MAX_RELOCATE];

	/* image, as read and verified */
	void *reader; /* image.c's reader state */
	const struct ckpt_img_header *hdr;
	const struct ckpt_img_proc *proc;
	const struct ckpt_img_siginfo *shared_pending;
	struct rs_thread *threads;
	uint32_t nr_threads;
	struct rs_vma *vmas;
	uint32_t nr_vmas;
	struct rs_file *files; /* v1 FILES records (see fd.c's adapter) */
	uint32_t nr_files;
	const struct ckpt_img_procx *procx; /* v2; NULL in a v1 image */
	const struct ckpt_img_ptimer *ptimers; /* TIMERS: procx->nr_posix_timers */
	uint32_t nr_ptimers;
	const char (*tcomm)[16]; /* TCOMM: proc->nr_threads names, or NULL */
	const struct ckpt_img_tprctl *tprctl; /* TPRCTL: one per thread, or NULL */
	/* v2 descriptors and objects (fd.h); a v1 image's FILES adapted */
	struct rs_obj *objs;
	uint32_t nr_objs, objs_cap;
	uint32_t obj_sections; /* kinds seen (bit per kind) */
	const struct ckpt_img_fd *fdt_raw;
	struct rs_fd *fdt;
	uint32_t nr_fds;
	uint32_t cur_sec_type; /* the section being read */
	struct ckpt_img_fd *v1_fds; /* owned, v1 only */
	unsigned char **v1_bodies;
	const struct ckpt_img_pagerun *runs;
	uint64_t nr_runs;
	uint64_t pages_data_off; /* file offset of the first run's data */
	/* With CKPT_RS__DEFER_PAGES_CRC the loader checks the PAGES section's
	   bytes around the page data only, and rs_fill_pages checks the data as
	   it copies it (before the process runs): */
	uint64_t pages_sec_off; /* for the message */
	uint32_t pages_crc; /* the section's checksum */
	uint32_t pages_head_crc; /* payload bytes before the data */
	uint32_t pages_tail_crc; /* payload bytes after the data */
	uint64_t pages_tail_len;
	int pages_crc_deferred; /* the above are set */
	uint64_t image_size;
	char exe[CKPT_PATH_MAX]; /* after --relocate */
	char cwd[CKPT_PATH_MAX]; /* a removed one: without " (deleted)" */
	int cwd_deleted; /* made again, entered and removed (restore_child.c) */

	/* a job of several processes (TREE section, proc_tree.c): the main
	   context holds every process's own context in creation order; each
	   of those points back at it */
	const struct ckpt_img_task *tasks;
	uint32_t nr_tasks;
	struct rs_ctx **procs; /* live (non-zombie) processes, TREE order */
	uint32_t nr_procs;
	struct rs_ctx *job; /* in a process's context: the main one */
	const struct ckpt_img_task *task; /* in a process's context: its record */
	pid_t *live_pids; /* shared memory: pid of every TREE record once made */
	struct rs_ids *ids; /* --restore-sid/-pgid: what each process does (proc_ids.c) */
	int shared_base; /* main context: the job's shared region (shared.c) */
	/* main context of a job with several top-level processes (records
	   CKPT_TASK_F_TOPLEVEL): the restarter makes each, and the objects
	   with ids from vobj_first on (no process's slice) in vroot, a context
	   of no process, opened with vcreds (the first holder's) */
	uint32_t nr_tops;
	uint32_t vobj_first;
	struct rs_ctx *vroot;
	const struct ckpt_img_proc *vcreds;
	struct rs_shm *shm; /* main context: shared memory its makers park */
	uint32_t nr_shm;
	int32_t *sysv_made; /* main context: pairs (recorded shmid, id made) */
	uint32_t nr_sysv_made;

	/* live process */
	pid_t pid;
	int child_alive;
	uint64_t syscall_ip; /* `syscall` in the target's [vdso] */
	uint64_t scratch; /* RS_SCRATCH_SIZE bytes in the target */
	uint64_t bytes_written; /* page bytes */
	struct ckpt_err *e;
};

/* restore_main.c */
extern int rs_warn_fd; /* where warnings go (the restarter's stderr) */
void rs_warn(struct rs_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rs_progress(struct rs_ctx *c, uint64_t done, uint64_t total, uint32_t phase);
/* Apply --relocate to path into out (CKPT_PATH_MAX). Returns 1 if rewritten. */
int rs_relocate(const struct rs_ctx *c, const char *path, char *out);

/* restore_image.c: read the image through image.c, fill the views above. */
int rs_load_image(struct rs_ctx *c);
/* "PROC", "THREAD", ... "UNKNOWN": for messages and ckpt_inspect. */
const char *rs_section_name(uint32_t type);
void rs_close_image(struct rs_ctx *c);

/* restore_verify.c */
int rs_verify_machine(struct rs_ctx *c);
/* A file the restart needs: exists (at path, after --relocate from orig),
   is a directory (want_dir 1), a regular file (0) or anything (-1); a
   different inode than dev/ino (when given) is warned about. */
int rs_check_file(struct rs_ctx *c, const char *what, const char *orig, const char *path,
		  int want_dir, uint64_t dev, uint64_t ino);
int rs_verify_files(struct rs_ctx *c);
int rs_verify_pid(struct rs_ctx *c);

/* proc_tree.c, restart side */
/* The reader: a TREE section; the process sections that follow it. */
int rs_take_tree(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off);
/* The process just read is complete: keep its context, start the next. */
int rs_job_next_proc(struct rs_ctx *c, int (*check)(struct rs_ctx *));
void rs_job_close(struct rs_ctx *c);
/* The whole job: verify, create, restore, let run. */
int rs_restore_job(struct rs_ctx *c);
/* Is record t made by the restarter itself (its parent is outside the
   image)? */
int rs_job_top(const struct rs_ctx *job, const struct ckpt_img_task *t);
/* The process whose exit status the restarter's becomes: the record the
   checkpoint named if the restarter makes it, else the first record. */
const struct ckpt_img_task *rs_job_status_task(const struct rs_ctx *job);
/* shared.c: objects other processes of the job hold. In the helper, before
   the root is made: place the shared region. In a process's context: is o
   in its own slice; object id of the whole job (marked shared); o's number
   in the shared region (-1: not a job); the region; closing it. */
int rs_share_plan(struct rs_ctx *job);
void rs_share_free(struct rs_ctx *job);
int rs_share_own(const struct rs_ctx *c, const struct rs_obj *o);
struct rs_obj *rs_share_find(struct rs_ctx *c, uint32_t id);
int rs_share_slot(const struct rs_ctx *c, const struct rs_obj *o);
void rs_share_region(const struct rs_ctx *c, int *lo, int *hi);
void rs_share_close(const struct rs_ctx *c);
/* In the helper, before the top-level processes are made: the objects no
   process of the job makes, made (in a short-lived child with the holders'
   filesystem credentials) and put at their numbers of the shared region;
   rs_share_close(job) once every top-level process is made. */
int rs_share_make_virtual(struct rs_ctx *job);
/* Shared memory several VMAs of the job map: in its maker (helper code,
   before it clones its children), map it parked (-1 with msg); in the
   helper, the k-th parked object c holds (0: no more); c's VMA mapped from
   it (1: not such a VMA, 0: mapped, <0: error with message); the parked
   mappings dropped once c's VMAs are mapped. */
struct rs_vma;
int rs_share_make(const struct rs_ctx *c, char *msg, size_t msglen);
/* rs_share_make(job) in the helper maps what top-level processes share
   (maker RS_SHM_VROOT); this drops the helper's copies once all are made */
#define RS_SHM_VROOT UINT32_MAX
void rs_share_unmap_virtual(struct rs_ctx *job);
int rs_share_parked(const struct rs_ctx *c, uint32_t k, uint64_t *at, uint64_t *len);
int rs_share_map(struct rs_ctx *c, const struct rs_vma *rv);
int rs_share_unpark(struct rs_ctx *c);
/* In a new process of the job (helper code): make its children. */
int rs_job_spawn_children(struct rs_ctx *c, int errfd, char *msg, size_t msglen);
/* In a top-level session leader (--restore-sid): make the top-level
   processes of its session for the restarter (CLONE_PARENT). */
int rs_job_spawn_session(struct rs_ctx *c, int errfd, char *msg, size_t msglen);

/* proc_ids.c: groups and sessions (--restore-sid, --restore-pgid) */
/* Before anything is made: decide, or refuse naming the process and id. */
int rs_ids_plan(struct rs_ctx *c);
void rs_ids_free(struct rs_ctx *c);
/* In the process of record i (job: the main context), before it makes
   children: note its pid, setsid / setpgid. -1 with msg on failure. */
int rs_ids_apply(const struct rs_ctx *job, uint32_t i, char *msg, size_t len);
/* The top-level record whose process makes top-level record i in its
   session (--restore-sid, CLONE_PARENT), or -1. */
int rs_ids_made_by(const struct rs_ctx *job, uint32_t i);
/* Make the process of record i (clone3, through placeholder leaders where
   its session or group leader is gone): its pid in the maker (placeholders
   reaped), 0 in the process, -1 with msg. */
long rs_ids_clone(const struct rs_ctx *job, uint32_t i, pid_t want, uint64_t exit_signal, int fresh,
		  char *msg, size_t len);

/* restore_child.c */
/* The child side of rs_create_child for a process of a job, cloned by its
   restored parent: set up, make its own children, stop. */
void rs_job_child_main(struct rs_ctx *c, int errfd) __attribute__((noreturn));
int rs_create_child(struct rs_ctx *c);
void rs_kill_child(struct rs_ctx *c);
/* The highest descriptor number open in this process (at least 2; 1024 if
   /proc/self/fd cannot be read). */
int rs_highest_fd(void);
/* Inject into tid; fails (with message) if ptrace fails or, when check is set,
   if the syscall returns an error. */
int rs_sys(struct rs_ctx *c, pid_t tid, const char *what, int check, long *ret, long nr, long a0,
	   long a1, long a2, long a3, long a4, long a5);
int rs_write_mem(struct rs_ctx *c, uint64_t addr, const void *buf, size_t len);

/* restore_mm.c */
int rs_restore_mm(struct rs_ctx *c);
int rs_restore_mm_late(struct rs_ctx *c); /* mprotect, mseal, PR_SET_MM_MAP */
/* Where the scratch page of c goes in its image's layout (0: no room). */
uint64_t rs_scratch_at(const struct rs_ctx *c);

/* restore_fill.c: every dumped page into the mapped VMAs */
int rs_fill_pages(struct rs_ctx *c);
/* The deferred page-data check, done at once: a refusal found before the copy
   names a corrupted image first. */
int rs_verify_pages_now(struct rs_ctx *c);

/* restore_vdso.c: the [vvar]/[vvar_vclock]/[vdso] block */
struct rs_special {
	uint64_t vvar, vclock, vdso, end; /* the block: vvar .. end */
	uint64_t vvar_len, vclock_len, vdso_len;
};
int rs_live_special(struct rs_ctx *c, struct rs_special *s);
void rs_image_special(const struct rs_ctx *c, struct rs_special *s);
int rs_move_vdso(struct rs_ctx *c, const struct rs_special *cur, const struct rs_special *img);

/* restore_task.c */
int rs_restore_process_state(struct rs_ctx *c); /* sigactions, itimers, comm, rlimits */
/* proc_attrs.c: the TIMERS section; scheduling, oom, prctl values and POSIX
   timers of the restored process once all its threads exist */
int rs_take_timers(struct rs_ctx *c, const unsigned char *p, uint64_t size);
int rs_take_tcomm(struct rs_ctx *c, const unsigned char *p, uint64_t size);
struct json;
/* creds.c: capabilities, securebits, PR_MCE_KILL, PR_SET_TSC (thread i) */
int rs_take_tprctl(struct rs_ctx *c, const unsigned char *p, uint64_t size);
int rs_check_caps(struct rs_ctx *c);
int rs_caps_before_setuid(struct rs_ctx *c, uint32_t i);
int rs_restore_caps(struct rs_ctx *c, uint32_t i);
int rs_restore_tprctl(struct rs_ctx *c);
void rs_tprctl_inspect(struct json *j, const struct rs_ctx *c, uint32_t i);
int rs_restore_attrs(struct rs_ctx *c);
int rs_restore_mlockall(struct rs_ctx *c);
struct json;
void rs_attrs_inspect(struct json *j, const struct rs_ctx *c);
int rs_restore_threads(struct rs_ctx *c);
int rs_finish(struct rs_ctx *c); /* creds, regs, masks, detach, after-action */
void rs_settle(struct rs_ctx *const *cs, uint32_t n); /* wait for rs_finish's threads to sleep again */
struct clone_args;
/* restore_kpid.c: ckpt.ko's restart help (docs/kernel-engine.md). */
/* Open a restore session on the verified image when the engine asks for it
   and the restarter lacks CAP_CHECKPOINT_RESTORE; refuses (naming why) an
   image the module will not give the ids of. */
int rs_kpid_begin(struct rs_ctx *c);
int rs_kpid_active(void);
/* clone3 of a process that must get pid want, through the session: the
   next id set, the id checked (a racing fork: the child exits, retried).
   As syscall(SYS_clone3): the child's 0, the pid, or -1 with errno. */
long rs_kpid_clone3(struct clone_args *ca, pid_t want);
/* Make want the next id handed out (for a thread injected next); -errno. */
int rs_kpid_next_pid(pid_t want);
/* Set the exe link of restored process pid to path; -errno, msg says why. */
int rs_kpid_set_exe(pid_t pid, const char *path, char *msg, size_t len);
void rs_kpid_end(void);
/* In a process being restored: keep the session at fd to (or drop it). */
void rs_kpid_park(int to);

/* Refuse an image whose uids, gids or groups the restarter could not take
   without privilege it lacks (CAP_SETUID/CAP_SETGID), naming them. */
int rs_check_creds(struct rs_ctx *c);

#endif
