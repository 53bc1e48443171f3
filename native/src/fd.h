/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Descriptors and the kernel objects behind them, by kind.
 *
 * Each kind (regular file, pipe, eventfd, epoll, socket, ...) lives in its
 * own file fd_KIND.c holding both directions: what a checkpoint records of a
 * live descriptor, how a restart makes the object again, how ckpt_inspect
 * shows it. fd.c is the orchestrator of both directions and holds the table
 * of kinds (fd_kinds[]). Adding a kind: one file, one line in the table, one
 * object section (CKPT_SEC_OBJ_BASE + kind) and one entry in
 * docs/image-format.md.
 *
 * Checkpoint: every descriptor of the frozen process is probed (readlink,
 * stat, fdinfo, and a duplicate taken with pidfd_getfd) and offered to the
 * kinds in table order; the first that takes it records an object. A
 * descriptor no kind takes refuses the whole checkpoint before anything
 * changes, naming the process, the descriptor and the object: an image
 * never holds something a restart would have to replace.
 *
 * Restart (in the new process, before it runs any of its own code, see
 * restore_child.c): every object is made again (kind->open) and parked above
 * the image's descriptor numbers; then the table is laid out with dup3;
 * then kind->post runs for what needs the final numbers (epoll interest
 * lists, locks).
 */
#ifndef CKPT_FD_H
#define CKPT_FD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "ckpt_image.h"

struct dump;
struct rs_ctx;
struct json;

/* ---- checkpoint side ------------------------------------------------------ */

/* What is known of one descriptor before a kind is chosen. */
struct fd_probe {
	pid_t pid;
	int fd;
	char link[CKPT_PATH_MAX]; /* readlink of /proc/PID/fd/N */
	struct stat st; /* stat through the link (lstat of the link if none) */
	int has_stat; /* st is the object's, not the link's */
	char *fdinfo; /* whole /proc/PID/fdinfo/N text, NUL-terminated */
	uint32_t open_flags; /* "flags:" of fdinfo, without O_CLOEXEC */
	int cloexec;
	uint64_t pos; /* "pos:" of fdinfo */
	int local; /* our duplicate of the descriptor (pidfd_getfd), or -1 */
};

/* One object being recorded: the kind's struct and data, built with
   dump_obj_put(); the record header is added when the image is written. */
struct dump_obj {
	uint32_t id; /* 1-based */
	uint32_t kind; /* enum ckpt_obj_kind */
	uint32_t open_flags;
	int first_fd; /* lowest descriptor holding it (for kcmp and messages) */
	uint64_t dev, ino; /* of what the descriptor leads to: kcmp only on a match */
	unsigned char *body;
	size_t len, cap;
	int hold; /* a duplicate kept until the checkpoint ends (a TCP socket in
		     repair mode, see fd_inet.c), or -1 */
	/* a job (shared.c): the process whose slice of the image holds it
	   (index in creation order), and, when another process recorded the
	   same open file description first, that record (this one is dropped) */
	uint32_t owner;
	struct dump_obj *same;
	uint32_t gid; /* the id written to the image */
	int unread; /* a memfd only mapped, not readable here (no
		       CAP_CHECKPOINT_RESTORE): the body names the mapping; another
		       process's record of it must replace it (shared.c) */
	int locked; /* a network lock is held for it (netlock.c): */
	uint8_t lock_local[CKPT_OINET_ADDR_MAX], lock_peer[CKPT_OINET_ADDR_MAX];
};

struct dump_fd {
	struct ckpt_img_fd f;
	char link[CKPT_PATH_MAX]; /* for messages */
};

/* A new object no descriptor holds (a lock, a SysV segment), for dump_done:
   NULL with the message set. Pointers into d->objs are invalid after it. */
struct dump_obj *dump_obj_add(struct dump *d, uint32_t kind);
/* Append bytes to o's body. 0 or -ENOMEM (with the message set). */
int dump_obj_put(struct dump *d, struct dump_obj *o, const void *p, size_t n);
/* Append a NUL-terminated string (incl. NUL), return its length incl. NUL. */
int dump_obj_put_str(struct dump *d, struct dump_obj *o, const char *s, uint32_t *len);
/* The value after "key:" in fdinfo (first match), or NULL. */
const char *fd_info_field(const struct fd_probe *p, const char *key);
/* The first process holding a descriptor that leads to `link` (as
   readlink shows it: "pipe:[INO]"), or when link is NULL to the inode
   dev/ino: its pid, or 0. Never `skip`; with d, never a process of d's job
   nor the checkpointer itself. */
pid_t fd_find_holder(const struct dump *d, pid_t skip, const char *link, uint64_t dev,
		     uint64_t ino);
/* Refuse a descriptor: -ENOTSUP (or err) with "pid P fd N (LINK): why". */
int fd_refuse(struct dump *d, const struct fd_probe *p, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- restart side --------------------------------------------------------- */

struct rs_obj {
	const struct ckpt_img_obj *h;
	const unsigned char *body; /* the kind's struct and data */
	uint64_t body_len;
	char *path; /* CKPT_OBJ_FILE: after --relocate (owned) */
	int fd; /* in the new process: where the object is parked, or -1 */
	int shared; /* a job: a descriptor of another process leads to it (shared.c) */
};

struct rs_fd {
	const struct ckpt_img_fd *f;
	struct rs_obj *obj;
};

/* ---- the kinds ------------------------------------------------------------ */

struct fd_kind {
	uint32_t kind; /* enum ckpt_obj_kind */
	const char *name; /* "file", "pipe", "eventfd", ... */
	/* Checkpoint: record the descriptor as an object of this kind. Returns
	   1 if the descriptor is not of this kind, 0 when recorded, -errno to
	   refuse the checkpoint (message set, naming pid, fd and object). */
	int (*dump)(struct dump *d, const struct fd_probe *p, struct dump_obj *o);
	/* After every descriptor is recorded (e.g. both ends of a pipe known):
	   check the whole; 0 or -errno. May be NULL. */
	int (*dump_done)(struct dump *d);
	/* The checkpoint is over (or failed): put back what dump changed in
	   the live object (o->hold). target_dies: it is about to be SIGKILLed.
	   May be NULL. */
	void (*release)(struct dump *d, struct dump_obj *o, int target_dies);
	/* Image reader: the body is well formed (lengths inside body_len,
	   strings terminated). 0 or a static description of what is wrong. */
	const char *(*check)(const struct rs_obj *o);
	/* Restart, before anything is created: what must hold on this machine
	   (a file to reopen exists and is the same). May be NULL. */
	int (*verify)(struct rs_ctx *c, struct rs_obj *o);
	/* Restart, in the new process: make the object; returns a descriptor
	   (any number) or -1 with msg filled. */
	int (*open)(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen);
	/* Restart, in the new process, once every descriptor has its number:
	   0 or -1 with msg filled. May be NULL. */
	int (*post)(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen);
	/* Restart, in the helper, once every object is made and the process is
	   about to run: release what the checkpoint kept for it outside the
	   process (the network lock of a TCP connection); trouble is a warning
	   (rs_warn), the process is restored. May be NULL. */
	void (*restored)(struct rs_ctx *c, struct rs_obj *o);
	/* ckpt_inspect: the fields of the kind's struct; a one-line description
	   for the descriptor list; what a restart does with it. */
	void (*inspect)(struct json *j, const struct rs_obj *o);
	void (*describe)(const struct rs_obj *o, char *buf, size_t len);
	const char *on_restart;
	/* The object's parked descriptor stays open in the new process after
	   the table is laid out, in object order above every image number, for
	   the helper to map (memfd); the helper closes it. */
	int keep_parked;
};

const struct fd_kind *fd_kind_of(uint32_t kind);

/* fd_lock.c, in the helper after the address space is rebuilt: POSIX
   locks taken again (closing a mapped file's descriptor dropped them). */
int rs_locks_after_mm(struct rs_ctx *c);
/* fd.c, restart: every object's kind->restored, in the helper. */
void rs_objs_restored(struct rs_ctx *c);

/* fd.c, checkpoint: every descriptor of d->pid, recorded or refused. */
int dump_fds(struct dump *d);
/* Write the object sections (before PROC) and the FDS section. */
struct imgw;
int dump_write_objs(struct dump *d, struct imgw *w);
int dump_write_fds(struct dump *d, struct imgw *w);
void dump_free_fds(struct dump *d);
/* Every kind's release hook, then held duplicates closed (see fd_kind). */
void dump_fds_release(struct dump *d, int target_dies);

/* fd.c, restart: reader hooks */
int rs_fd_take_section(struct rs_ctx *c, uint32_t type, const unsigned char *p, uint64_t size,
		       uint64_t off);
int rs_fd_finish_load(struct rs_ctx *c); /* link descriptors to objects; v1 adapter */
void rs_fd_close(struct rs_ctx *c);
int rs_fd_verify(struct rs_ctx *c);
/* In the new process: lay out the descriptor table. Returns 0 or -1 with
   msg filled. park: first free number above everything in use. */
int rs_fd_setup(struct rs_ctx *c, int park, const int stdio[3], char *msg, size_t msglen);
void rs_fd_inspect(struct json *j, const struct rs_ctx *c);

/* In the new process, in post: a descriptor of o (its parked copy is gone
   by then): the lowest table number holding it, or -1. */
int rs_obj_fd(const struct rs_ctx *c, const struct rs_obj *o);

/* Helpers for kinds */
/* In the new process: move a descriptor a kind keeps between open and post
   (not an object's own) above every number rs_fd_setup lays out or parks, so
   laying out the table cannot overwrite it. Returns the new number (the old
   one is closed) or -1 with errno set. */
int rs_fd_scratch(int fd);
int rs_obj_has(const struct rs_obj *o, uint64_t off, uint64_t len);
/* A NUL-terminated string of len bytes (incl. NUL) at off in the body. */
const char *rs_obj_str(const struct rs_obj *o, uint64_t off, uint32_t len);

/* The kinds (fd_*.c) */
extern const struct fd_kind fd_kind_file, fd_kind_pipe, fd_kind_stdio;
/* event kinds */
extern const struct fd_kind fd_kind_eventfd, fd_kind_epoll, fd_kind_timerfd, fd_kind_signalfd,
	fd_kind_inotify;
/* sockets */
extern const struct fd_kind fd_kind_unix, fd_kind_inet;
/* memfd, FIFOs, locks, SysV shared memory */
extern const struct fd_kind fd_kind_memfd, fd_kind_fifo, fd_kind_lock, fd_kind_sysvshm;

/* fd_memfd.c, shm_sysv.c: in the helper, mapping the VMAs of a restored
   memfd or SysV segment (restore_mm.c). 1: not such a VMA; 0: mapped;
   <0: error with message. */
struct rs_vma;
int rs_memfd_map(struct rs_ctx *c, const struct rs_vma *rv);
int rs_memfd_finish(struct rs_ctx *c); /* seals, then the parked fds closed */
/* In the helper before the job is made: memfds a process maps that another
   one makes are handed on (marked shared). Does c map memfd object o? */
void rs_memfd_plan(struct rs_ctx *job);
int rs_memfd_maps(const struct rs_ctx *c, const struct rs_obj *o);
int rs_sysvshm_map(struct rs_ctx *c, const struct rs_vma *rv);

#endif
