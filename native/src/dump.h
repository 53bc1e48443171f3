/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The checkpoint side of libckpt (ckpt_checkpoint): what it collects from a
 * frozen process and how it writes the image.
 *
 * Split: dump.c (order of work, after-actions, result), dump_freeze.c
 * (seizing every thread until the set is stable, releasing them),
 * dump_state.c (registers, xstate, signals, credentials, injected syscalls),
 * dump_mm.c (VMAs from smaps, present pages from pagemap, reading memory),
 * fd.c and fd_*.c (open descriptors, by kind), image_write.c (the writer: atomic,
 * durable, pipelined).
 */
#ifndef CKPT_DUMP_H
#define CKPT_DUMP_H

#include <stdint.h>
#include <sys/types.h>

#include "ckpt.h"
#include "ckpt_image.h"
#include "err.h"
#include "fd.h"
#include "image_write.h"
#include "kernel_engine.h"
#include "ptrace.h"

#define DUMP_MAX_THREADS 4096
#define DUMP_MAX_PENDING 64 /* siginfo records kept per queue */

struct dump_thread {
	pid_t tid;
	int seized;
	int stopped; /* we hold it in a ptrace stop */
	struct ckpt_img_thread t;
	unsigned char *xstate; /* ckpt_xstate_max() bytes */
	struct ckpt_img_siginfo *pending; /* DUMP_MAX_PENDING */
	uint64_t saved_sigmask; /* to put back before release */
	int sigmask_changed;
	/* signals dequeued by a signal-delivery stop while freezing: recorded
	   as pending in the image and queued again before release */
	uint32_t nr_caught;
	struct ckpt_img_siginfo caught[4];
	/* signals whose delivery stop came while it ran an injected syscall,
	   suppressed there; SIGSTOP (the only one its blocked mask lets through
	   from outside) is sent again before release */
	uint64_t deferred;
	struct ckpt_heal heal; /* armed by its first dump_sys (ptrace.h) */
	/* calls queued ahead (dump_sys_plan) and run for every thread of the
	   job at once (dump_user_inject_all); dump_sys takes their results */
	struct ckpt_heal_call *calls;
	uint8_t *taken;
	uint32_t nr_calls, cap_calls, calls_done;
	/* kernel engine: its TPRCTL record as ckpt.ko reported it */
	struct ckpt_img_tprctl kprctl;
};

struct dump_vma {
	struct ckpt_img_vma v;
	char name[CKPT_PATH_MAX];
	uint64_t first_run; /* index into dump.runs */
	uint64_t nr_runs;
};

struct dump;

/*
 * How a process is stopped and what only a stopped thread tells: the one
 * step that differs between the engines. Everything else (VMAs, memory,
 * descriptors, credentials, limits, the image writer) is shared.
 *   user (dump_freeze.c, dump_state.c): ptrace seize + injected syscalls;
 *   kernel (kernel_dump.c): /dev/ckpt, no ptrace, nothing injected.
 */
struct dump_engine {
	const char *name;
	/* stop every thread; d->threads[0] the leader */
	int (*freeze)(struct dump *d);
	/* d->threads[i].t, .xstate, .pending */
	int (*threads_state)(struct dump *d);
	/* dispositions, shared pending, itimers, brk, dumpable, THP, xcomp_perm */
	int (*proc_state)(struct dump *d);
	/* the target's own signal masks back as soon as collecting is over */
	int (*unblock)(struct dump *d);
	/* let it run again, sig (0: none) acted on before its next instruction */
	int (*release)(struct dump *d, int sig);
};

extern const struct dump_engine dump_user_engine;
extern const struct dump_engine dump_kernel_engine;

struct dump {
	pid_t pid;
	const struct ckpt_checkpoint_opts *opts;
	struct ckpt_err *e;
	uint64_t deadline_ns; /* 0: none */

	struct dump_thread *threads;
	uint32_t nr_threads;
	int was_stopped; /* in group-stop before we came */
	uint64_t gadget; /* self-healing injection gadget in the target's [vdso] */
	int injected; /* dump_user_inject_all ran for it */
	struct ckpt_kfreeze *kf; /* the kernel engine's freeze (kernel_dump.c) */

	struct ckpt_img_proc proc;
	struct ckpt_img_siginfo *shared_pending; /* DUMP_MAX_PENDING */

	struct dump_vma *vmas;
	uint32_t nr_vmas;
	struct ckpt_img_pagerun *runs;
	uint64_t nr_runs, runs_cap;
	uint64_t nr_pages;

	struct ckpt_img_procx procx;
	struct ckpt_img_ptimer *ptimers; /* procx.nr_posix_timers, in id order */
	uint32_t nr_ptimers;
	char (*tcomm)[16]; /* nr_threads names, in thread order */
	struct ckpt_img_tprctl *tprctl; /* nr_threads, or NULL: all defaults */

	struct dump_fd *fds; /* fd.h */
	uint32_t nr_fds;
	struct dump_obj *objs;
	uint32_t nr_objs;

	/* A job of several processes (proc_tree.c): every pid being
	   checkpointed, so that kinds tell "outside the job" from another
	   process of it. NULL: just d->pid. */
	const pid_t *job;
	uint32_t nr_job;
};

/* Is pid d->pid or another process of the job? */
int dump_in_job(const struct dump *d, pid_t pid);

uint64_t dump_now_ns(void);
/* -ETIMEDOUT with a message when opts->timeout_ms has passed. */
int dump_check_deadline(struct dump *d, const char *during);
void dump_progress(struct dump *d, uint64_t done, uint64_t total, uint32_t phase);

/* dump.c, shared with proc_tree.c */
void dump_fill_header(struct dump *d, struct ckpt_img_header *h);
/* PROC, PROCX, THREAD..., VMAS, FDS, PAGES of one process. */
int dump_write_process(struct dump *d, struct imgw *w);
int dump_after_signal(const struct ckpt_checkpoint_opts *o);
void dump_wait_dead(pid_t pid);
void dump_free(struct dump *d);

/* proc_tree.c: scopes tree, pgid and session (every process frozen
   together, one image). */
int dump_job(pid_t pid, const char *path, const struct ckpt_checkpoint_opts *o,
	     struct ckpt_result *res, struct ckpt_err *e, uint64_t t0);

/* shared.c: objects held by several processes of a job. live: the live
   members in creation order, ppid[i] the parent of live[i]. dump_share
   puts each object in the slice of the process that makes it again (or
   refuses, naming both holders); dump_share_ids numbers them for the image
   (all->objs: room for every object), each process's slice in first[i],
   count[i], and points every descriptor at its object's id. */
int dump_share(struct dump **live, const pid_t *ppid, uint32_t n, struct ckpt_err *e);
int dump_share_ids(struct dump **live, uint32_t n, struct dump *all, uint32_t *first,
		   uint32_t *count);
/* The engine's steps (dump.c picks d->opts->backend's engine). */
int dump_freeze(struct dump *d);
/* CKPT_CP_OWNER: a frozen process holds exactly the owner's ids (ckpt.h). */
int dump_check_owner(const struct ckpt_checkpoint_opts *o, pid_t pid, struct ckpt_err *e);
int dump_threads_state(struct dump *d);
/* /proc's part (dump_state.c), then the engine's. */
int dump_proc_state(struct dump *d);
int dump_unblock(struct dump *d);
int dump_release(struct dump *d, int sig);

/* dump_freeze.c: the user engine */
/* Is the process tracing another one (BLCR's --ptracer-error)? A member
   of a job is not looked at here: dump_job asks once for all its members
   (dump_refuse_tracers), one walk of /proc instead of one per process. */
int dump_refuse_tracer(struct dump *d);
/* The parent of pid from /proc/PID/stat (0 when unknown). proc_attrs.c */
pid_t dump_parent_of(pid_t pid);
/* A thread's signal sets from /proc/PID/task/TID/status: pending (its own
   and the process's), ignored, caught. 0, or -1 when unreadable. dump_state.c */
struct dump_sigsets {
	uint64_t pnd, shd, ign, cgt;
};
int dump_task_sigsets(pid_t pid, pid_t tid, struct dump_sigsets *ss);
/* Is one of pids[0..n) tracing some process? One walk of /proc. */
int dump_refuse_tracers(const pid_t *pids, uint32_t n, struct ckpt_err *e);
/* Do two of pids[0..n), or one of them and its parent or a child outside
   them, share an address space, a descriptor table or fs information
   (clone without CLONE_THREAD)? A restart would give each its own: refused
   naming both (kcmp; a parent asleep in vfork is not refused). */
int dump_refuse_shared_tables(const pid_t *pids, uint32_t n, struct ckpt_err *e);
/* What both engines refuse first: no such process, a thread id, ourself, a
   zombie. Sets *state (the /proc state letter). */
int dump_check_target(struct dump *d, char *state);
/* Both engines, once the threads are listed: the leader's first, as the
   image wants it; refused when the process has no live leader thread. */
int dump_leader_first(struct dump *d);
int dump_user_freeze(struct dump *d);
int dump_user_unblock(struct dump *d);
int dump_user_release(struct dump *d, int sig);
/* A signal a freeze stop dequeued that the instruction raises again by
   itself when it runs (a fault): neither kept as pending nor re-queued. */
int dump_is_sync_fault(const struct ckpt_img_siginfo *si);
/* Frame and park thread index i for injection, its signals blocked
   (dump_sys does it on first use; afterwards t->heal.out is its result area). */
int dump_inject_prepare(struct dump *d, uint32_t i);
/* Inject a syscall into thread index i (signals of that thread blocked
   first). check: fail with a message when the syscall itself fails. */
int dump_sys(struct dump *d, uint32_t i, const char *what, int check, long *ret, long nr,
	     long a0, long a1, long a2, long a3, long a4, long a5);
/* Queue the same call for thread index i, to run with every other thread's
   (dump_user_inject_all); dump_sys with the same nr and arguments then
   takes its result instead of injecting it. Only for calls that change
   nothing (getters): the result is taken later than it was made. */
int dump_sys_plan(struct dump *d, uint32_t i, long nr, long a0, long a1, long a2, long a3,
		  long a4, long a5);
int dump_read_mem(struct dump *d, uint64_t addr, void *buf, size_t len);
/* dump_user_unblock: put back the sigmasks dump_sys blocked, as soon as
   injecting is over: if we die later (the daemon killed mid-copy), the kernel
   detaches the threads and they must not run on with every signal blocked.
   dump_user_release: put sigmasks back, queue caught signals again, detach
   every thread. sig: sent to the process before detaching (0: none) so it
   acts on it before running any of its own instructions. */

/* dump_state.c */
int dump_user_threads_state(struct dump *d);
/* What the user engine injects into the processes ds[0..n) (a job's
   members, or one process), run at once so that their ptrace stops overlap
   (ckpt_heal_run): what ptrace tells of every thread first, before any is
   armed; then each gadget, every thread armed, the calls of
   dump_user_threads_state, dump_user_proc_state and dump_proc_attrs planned
   and run. Those steps then take the results. Processes of the kernel
   engine are left out. */
int dump_user_inject_all(struct dump **ds, uint32_t n);
/* Bytes of result area below each thread's injection frame. */
#define DUMP_OUT_SIZE 4096
/* Every armed thread back on its own registers (sigmasks put back first),
   then the gadget out of the [vdso]. */
int dump_heal_end(struct dump *d);
/* What /proc tells of a process, whatever the engine. */
int dump_proc_common(struct dump *d);
/* thread tid's name as prctl(PR_SET_NAME) set it, NUL-terminated */
int dump_read_comm(struct dump *d, pid_t tid, char name[16]);
int dump_user_proc_state(struct dump *d);

/* proc_attrs.c: scheduling, timer slack, oom, prctl values, POSIX timers;
   refuses seccomp and what the image cannot hold. can_inject: the user
   engine (timers and prctl values need injection). */
int dump_proc_attrs(struct dump *d, int can_inject);
/* What refuses a process whatever its state (a namespace not the
   checkpointer's, a seccomp filter of its own): checked before anything is
   injected, since its own filter may kill it for an injected syscall. */
int dump_proc_refusals(struct dump *d);
/* The refusal of a thread with syscall user dispatch on, naming it (-EPERM). */
int dump_refuse_dispatch(struct dump *d, pid_t tid, uint64_t selector);
/* The calls dump_proc_attrs injects that can be planned (dump_sys_plan). */
int dump_proc_attrs_plan(struct dump *d);

/* creds.c: every thread holds the leader's capabilities (else refused);
   the per-thread prctl values (user engine: planned, then taken) */
int dump_caps_check(struct dump *d);
int dump_tprctl_plan(struct dump *d);
int dump_tprctl(struct dump *d);

/* dump_mm.c */
int dump_vmas(struct dump *d);
/* Write the PAGES section: the run table, then the data of every run. */
int dump_pages(struct dump *d, struct imgw *w);
void dump_free_mm(struct dump *d);


#endif
