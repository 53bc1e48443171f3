// SPDX-License-Identifier: BSD-3-Clause
/*
 * ckpt_checkpoint: the order of work. The destination is prepared first (an
 * unwritable directory fails before the target is touched), then the target
 * is frozen, its state collected and its memory copied into the image; with
 * after=CONT it runs again as soon as its memory is written to the file
 * (past the page cache: image_write.h), before the fsync. Other
 * after-actions wait for the image to be durable, so a failed write never
 * costs the job: on any failure the target is released as it was and the
 * previous image stays.
 */
#include "dump.h"
#include "ptrace.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

uint64_t dump_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int dump_check_deadline(struct dump *d, const char *during)
{
	if (!d->deadline_ns || dump_now_ns() < d->deadline_ns)
		return 0;
	return ckpt_fail(d->e, ETIMEDOUT,
			 "checkpoint of %d timed out after %u ms while %s (the process continues "
			 "untouched; any previous image is kept)",
			 d->pid, d->opts->timeout_ms, during);
}

void dump_progress(struct dump *d, uint64_t done, uint64_t total, uint32_t phase)
{
	struct ckpt_progress *p = d->opts->progress;
	if (!p)
		return;
	__atomic_store_n(&p->bytes_total, total, __ATOMIC_RELAXED);
	__atomic_store_n(&p->bytes_done, done, __ATOMIC_RELAXED);
	__atomic_store_n(&p->phase, phase, __ATOMIC_RELAXED);
}

static int check_opts(int32_t pid, const char *path, const struct ckpt_checkpoint_opts *o,
		      struct ckpt_err *e)
{
	if (pid <= 0)
		return ckpt_fail(e, EINVAL, "pid %d: expected a positive process id", pid);
	if ((!path || !*path) && o->fd < 0)
		return ckpt_fail(e, EINVAL, "no image path or descriptor given");
	if (o->flags & ~(CKPT_CP_NOSYNC | CKPT_CP_BACKUP | CKPT_CP_NOCLOBBER | CKPT_CP_NOATOMIC |
			  CKPT_CP_TCP_ESTABLISHED | CKPT_CP_OWNER))
		return ckpt_fail(e, EINVAL, "unknown checkpoint flags 0x%x", o->flags);
	if ((o->flags & CKPT_CP_NOCLOBBER) && (o->flags & CKPT_CP_BACKUP))
		return ckpt_fail(e, EINVAL, "no-clobber and backup contradict each other");
	if (o->after > CKPT_AFTER_ABORT)
		return ckpt_fail(e, EINVAL, "after-action %u: expected 0..5 (CKPT_AFTER_*)",
				 o->after);
	if (o->after == CKPT_AFTER_SIGNAL && (o->signal < 1 || o->signal > 64))
		return ckpt_fail(e, EINVAL, "signal %d: expected 1..64", o->signal);
	if (o->scope > CKPT_SCOPE_SID)
		return ckpt_fail(e, EINVAL, "scope %u: expected 0..3 (pid, tree, pgid, session)",
				 o->scope);
	if (o->backend > CKPT_BACKEND_KERNEL)
		return ckpt_fail(e, EINVAL, "backend %u: expected 0..2 (auto, user, kernel)",
				 o->backend);
	return 0;
}

/* Is pid stopped by job control? The module freezes a thread on its way
   back to user mode, which a stopped one does not take until SIGCONT. */
static int job_stopped(pid_t pid)
{
	return ckpt_proc_state(pid) == 'T';
}

/* auto: the module when /dev/ckpt answers our ABI, else the user engine;
   also the user engine for a process stopped by job control (a preempted
   job), which the module cannot freeze and ptrace can. */
static int resolve_backend(pid_t pid, struct ckpt_checkpoint_opts *o, struct ckpt_err *e)
{
	if (o->backend == CKPT_BACKEND_USER)
		return 0;
	struct ckpt_err probe;
	char why[CKPT_MSG_MAX];
	ckpt_err_init(&probe, why, sizeof(why));
	int rc = ckpt_kernel_probe(&probe);
	if (!rc) {
		o->backend = o->backend == CKPT_BACKEND_AUTO && job_stopped(pid)
				     ? CKPT_BACKEND_USER
				     : CKPT_BACKEND_KERNEL;
		return 0;
	}
	if (o->backend == CKPT_BACKEND_AUTO) {
		o->backend = CKPT_BACKEND_USER;
		return 0;
	}
	return ckpt_fail(e, -rc, "kernel engine: %s; use the user engine or load ckpt.ko", why);
}

const struct dump_engine dump_user_engine = {
	.name = "user",
	.freeze = dump_user_freeze,
	.threads_state = dump_user_threads_state,
	.proc_state = dump_user_proc_state,
	.unblock = dump_user_unblock,
	.release = dump_user_release,
};

static const struct dump_engine *engine(struct dump *d)
{
	return d->opts->backend == CKPT_BACKEND_KERNEL ? &dump_kernel_engine : &dump_user_engine;
}

int dump_freeze(struct dump *d)
{
	return engine(d)->freeze(d);
}

int dump_threads_state(struct dump *d)
{
	return engine(d)->threads_state(d);
}

int dump_proc_state(struct dump *d)
{
	int rc = dump_proc_common(d);
	if (!rc)
		rc = engine(d)->proc_state(d);
	return rc ? rc : dump_proc_attrs(d, engine(d) == &dump_user_engine);
}

int dump_unblock(struct dump *d)
{
	return engine(d)->unblock(d);
}

int dump_release(struct dump *d, int sig)
{
	return engine(d)->release(d, sig);
}

void dump_fill_header(struct dump *d, struct ckpt_img_header *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, CKPT_IMG_MAGIC, 8);
	h->version = CKPT_IMG_VERSION;
	h->header_size = sizeof(*h);
	h->nr_processes = 1;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	struct utsname u;
	uname(&u);
	snprintf(h->kernel_release, sizeof(h->kernel_release), "%s", u.release);
	snprintf(h->machine, sizeof(h->machine), "%.14s", u.machine);
	snprintf(h->hostname, sizeof(h->hostname), "%.63s", u.nodename);
	unsigned a, b, c, dx;
	__cpuid(1, a, b, c, dx);
	h->cpuid_1_ecx = c;
	h->cpuid_1_edx = dx;
	__cpuid_count(7, 0, a, b, c, dx);
	h->cpuid_7_ebx = b;
	h->cpuid_7_ecx = c;
	h->cpuid_7_edx = dx;
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	h->xcr0 = ((uint64_t)hi << 32) | lo;
	h->xstate_size = d->threads[0].t.xstate_size;
	h->root_pid = d->pid;
	h->scope = d->opts->scope;
	if (d->opts->backend == CKPT_BACKEND_KERNEL)
		h->flags |= CKPT_IMG_F_KERNEL; /* informative: the format is the same */
}

/* VMAS: fixed struct, name, NUL, padding to 8. */
static uint32_t rec_size(size_t fixed, const char *name, uint32_t *len)
{
	*len = (uint32_t)strlen(name) + 1;
	return (uint32_t)((fixed + *len + 7) & ~7ul);
}

static int write_vmas(struct dump *d, struct imgw *w)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < d->nr_vmas; i++) {
		uint32_t len;
		total += rec_size(sizeof(struct ckpt_img_vma), d->vmas[i].name, &len);
	}
	int rc = imgw_begin(w, CKPT_SEC_VMAS, total, 0);
	for (uint32_t i = 0; !rc && i < d->nr_vmas; i++) {
		struct ckpt_img_vma *v = &d->vmas[i].v;
		const char *name = d->vmas[i].name;
		uint32_t rec = v->rec_size = rec_size(sizeof(*v), name, &v->name_len);
		rc = imgw_payload(w, v, sizeof(*v));
		size_t nl = strlen(name) + 1;
		if (!rc)
			rc = imgw_payload(w, name, nl);
		if (!rc)
			rc = imgw_zeros(w, rec - sizeof(*v) - nl);
	}
	return rc ? rc : imgw_end(w);
}

static int write_image(struct dump *d, struct imgw *w)
{
	struct ckpt_img_header h;
	dump_fill_header(d, &h);
	int rc = imgw_header(w, &h);
	if (!rc)
		rc = dump_write_objs(d, w);
	return rc ? rc : dump_write_process(d, w);
}

int dump_write_process(struct dump *d, struct imgw *w)
{
	int rc = 0;
	uint64_t np = d->proc.pending_shared_count;
	if (!rc)
		rc = imgw_begin(w, CKPT_SEC_PROC, sizeof(d->proc) + np * 128, 0);
	if (!rc)
		rc = imgw_payload(w, &d->proc, sizeof(d->proc));
	if (!rc)
		rc = imgw_payload(w, d->shared_pending, np * 128);
	if (!rc)
		rc = imgw_end(w);
	if (!rc)
		rc = imgw_begin(w, CKPT_SEC_PROCX, sizeof(d->procx), 0);
	if (!rc)
		rc = imgw_payload(w, &d->procx, sizeof(d->procx));
	if (!rc)
		rc = imgw_end(w);
	if (!rc && d->nr_ptimers)
		rc = imgw_begin(w, CKPT_SEC_TIMERS, d->nr_ptimers * sizeof(*d->ptimers), 0);
	if (!rc && d->nr_ptimers)
		rc = imgw_payload(w, d->ptimers, d->nr_ptimers * sizeof(*d->ptimers));
	if (!rc && d->nr_ptimers)
		rc = imgw_end(w);
	if (!rc && d->tcomm && d->nr_threads > 1)
		rc = imgw_begin(w, CKPT_SEC_TCOMM, d->nr_threads * 16ull, IMGW_OPTIONAL);
	if (!rc && d->tcomm && d->nr_threads > 1)
		rc = imgw_payload(w, d->tcomm, d->nr_threads * 16ull);
	if (!rc && d->tcomm && d->nr_threads > 1)
		rc = imgw_end(w);
	/* not optional: a reader that cannot set them must refuse */
	if (!rc && d->tprctl)
		rc = imgw_begin(w, CKPT_SEC_TPRCTL, d->nr_threads * sizeof(*d->tprctl), 0);
	if (!rc && d->tprctl)
		rc = imgw_payload(w, d->tprctl, d->nr_threads * sizeof(*d->tprctl));
	if (!rc && d->tprctl)
		rc = imgw_end(w);
	for (uint32_t i = 0; !rc && i < d->nr_threads; i++) {
		struct dump_thread *t = &d->threads[i];
		uint64_t xs = (t->t.xstate_size + 7ull) & ~7ull;
		rc = imgw_begin(w, CKPT_SEC_THREAD, sizeof(t->t) + xs + t->t.pending_count * 128ull,
				0);
		if (!rc)
			rc = imgw_payload(w, &t->t, sizeof(t->t));
		if (!rc)
			rc = imgw_payload(w, t->xstate, t->t.xstate_size);
		if (!rc)
			rc = imgw_zeros(w, xs - t->t.xstate_size);
		if (!rc)
			rc = imgw_payload(w, t->pending, t->t.pending_count * 128ull);
		if (!rc)
			rc = imgw_end(w);
	}
	if (!rc)
		rc = write_vmas(d, w);
	if (!rc)
		rc = dump_write_fds(d, w);
	if (!rc)
		rc = dump_pages(d, w);
	return rc;
}

int dump_after_signal(const struct ckpt_checkpoint_opts *o)
{
	switch (o->after) {
	case CKPT_AFTER_STOP: return SIGSTOP;
	case CKPT_AFTER_TERM: return SIGTERM;
	case CKPT_AFTER_KILL: return SIGKILL;
	case CKPT_AFTER_SIGNAL: return o->signal;
	case CKPT_AFTER_ABORT: return SIGABRT;
	}
	return 0;
}

/* The four ids of a "Uid:"/"Gid:" line of /proc/PID/status all equal to
   want, and CapPrm. -1 when unreadable. */
static int ids_are(const char *status, const char *key, unsigned long want)
{
	const char *l = strstr(status, key);
	if (!l)
		return -1;
	l += strlen(key);
	for (int i = 0; i < 4; i++) {
		char *end;
		unsigned long v = strtoul(l, &end, 10);
		if (end == l)
			return -1;
		if (v != want)
			return 0;
		l = end;
	}
	return 1;
}

int dump_check_owner(const struct ckpt_checkpoint_opts *o, pid_t pid, struct ckpt_err *e)
{
	if (!(o->flags & CKPT_CP_OWNER))
		return 0;
	char p[64], buf[4096];
	snprintf(p, sizeof(p), "/proc/%d/status", pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return ckpt_fail(e, ESRCH, "process %d: its credentials cannot be read", pid);
	buf[n] = '\0';
	int u = ids_are(buf, "\nUid:", o->owner_uid), g = ids_are(buf, "\nGid:", o->owner_gid);
	const char *cap = strstr(buf, "\nCapPrm:");
	unsigned long long prm = cap ? strtoull(cap + 8, NULL, 16) : ~0ull;
	if (u != 1 || g != 1)
		return ckpt_fail(e, EPERM,
				 "process %d does not hold exactly the job owner's ids (uid %u, "
				 "gid %u): a set-id program; refused",
				 pid, o->owner_uid, o->owner_gid);
	if (o->owner_uid != 0 && prm)
		return ckpt_fail(e, EPERM,
				 "process %d holds capabilities (CapPrm %llx) its owner uid %u "
				 "does not have; refused",
				 pid, prm, o->owner_uid);
	return 0;
}

/* After SIGKILL: wait (briefly) until the process is dead, so a caller can
   restart it right away once its parent has reaped it. */
void dump_wait_dead(pid_t pid)
{
	for (int i = 0; i < 200; i++) {
		char s = ckpt_proc_state(pid);
		if (!s || s == 'Z' || s == 'X')
			return;
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
}

void dump_free(struct dump *d)
{
	if (d->threads)
		for (uint32_t i = 0; i < d->nr_threads; i++) {
			free(d->threads[i].xstate);
			free(d->threads[i].pending);
		}
	free(d->threads);
	free(d->shared_pending);
	free(d->ptimers);
	free(d->tcomm);
	free(d->tprctl);
	if (d->kf) {
		ckpt_kernel_thaw(d->kf);
		free(d->kf);
		d->kf = NULL;
	}
	dump_free_fds(d);
	dump_free_mm(d);
}

CKPT_EXPORT int ckpt_checkpoint(int32_t pid, const char *path,
				const struct ckpt_checkpoint_opts *uopts, struct ckpt_result *res,
				char *msg, size_t msglen)
{
	struct ckpt_err e;
	ckpt_err_init(&e, msg, msglen);
	uint64_t t0 = dump_now_ns();
	struct ckpt_checkpoint_opts o;
	memset(&o, 0, sizeof(o));
	o.fd = -1;
	if (uopts) {
		size_t n = uopts->size && uopts->size < sizeof(o) ? uopts->size : sizeof(o);
		memcpy(&o, uopts, n);
		if (n < offsetof(struct ckpt_checkpoint_opts, timeout_ms))
			o.fd = -1;
	}
	int rc = check_opts(pid, path, &o, &e);
	if (!rc)
		rc = resolve_backend(pid, &o, &e);
	if (rc)
		return rc;
	/* -g/-s name a group or session: its leader may be gone while its
	   members run (dump_job says when none is left) */
	if (o.scope != CKPT_SCOPE_PGID && o.scope != CKPT_SCOPE_SID && kill(pid, 0) < 0 &&
	    errno == ESRCH)
		return ckpt_fail(&e, ESRCH, "no process %d", pid);
	if (o.scope != CKPT_SCOPE_PID) {
		rc = dump_job(pid, path, &o, res, &e, t0);
		if (!rc && res && (!res->size || res->size >= offsetof(struct ckpt_result, pad)))
			res->backend = o.backend;
		return rc;
	}

	struct dump d;
	memset(&d, 0, sizeof(d));
	d.pid = pid;
	d.opts = &o;
	d.e = &e;
	d.deadline_ns = o.timeout_ms ? t0 + o.timeout_ms * 1000000ull : 0;
	d.shared_pending = calloc(DUMP_MAX_PENDING, sizeof(*d.shared_pending));
	if (!d.shared_pending)
		return ckpt_fail(&e, ENOMEM, "no memory");
	struct imgw w;
	rc = imgw_open(&w, path, o.fd, o.flags, &e);
	if (rc) {
		dump_free(&d);
		return rc;
	}
	/* past the page cache: memory copied once (image_write.h); with --cont
	   it runs again once its memory is written, before the fsync */
	imgw_direct(&w);
	dump_progress(&d, 0, 0, CKPT_PHASE_FREEZE);
	uint64_t t_freeze = dump_now_ns(), frozen_ns = 0;
	int released = 0;
	rc = dump_freeze(&d);
	if (!rc)
		rc = dump_check_owner(&o, d.pid, &e);
	/* descriptors first: what cannot be saved refuses before any syscall
	   is injected into the target */
	if (!rc)
		rc = dump_fds(&d);
	if (!rc) {
		dump_progress(&d, 0, 0, CKPT_PHASE_STATE);
		rc = dump_threads_state(&d);
	}
	if (!rc)
		rc = dump_proc_state(&d);
	if (!rc)
		rc = dump_unblock(&d);
	if (!rc)
		rc = dump_check_deadline(&d, "collecting state");
	if (!rc)
		rc = dump_vmas(&d);
	if (!rc)
		rc = write_image(&d, &w);
	if (!rc)
		rc = imgw_drain(&w);
	if (!rc && o.after == CKPT_AFTER_CONT) {
		dump_fds_release(&d, 0);
		rc = dump_release(&d, 0);
		frozen_ns = dump_now_ns() - t_freeze;
		released = 1;
	}
	uint64_t bytes = 0;
	uint32_t crc = 0;
	if (!rc) {
		dump_progress(&d, w.off, w.off, CKPT_PHASE_SYNC);
		rc = imgw_commit(&w, &bytes, &crc);
	}
	if (rc) {
		dump_fds_release(&d, 0);
		if (!released)
			dump_release(&d, 0);
		imgw_abort(&w);
		dump_free(&d);
		return rc;
	}
	if (!released) {
		int sig = dump_after_signal(&o);
		dump_fds_release(&d, sig == SIGKILL);
		rc = dump_release(&d, sig);
		frozen_ns = dump_now_ns() - t_freeze;
		if (sig == SIGKILL)
			dump_wait_dead(pid);
	}
	dump_progress(&d, bytes, bytes, CKPT_PHASE_DONE);
	if (res) {
		uint32_t size = res->size ? res->size : sizeof(*res);
		struct ckpt_result r = {.size = size,
					.pid = pid,
					.bytes = bytes,
					.pages = d.nr_pages,
					.wall_ns = dump_now_ns() - t0,
					.frozen_ns = frozen_ns,
					.threads = d.nr_threads,
					.processes = 1,
					.vmas = d.nr_vmas,
					.crc32c = crc,
					.backend = o.backend};
		memcpy(res, &r, size < sizeof(r) ? size : sizeof(r));
	}
	dump_free(&d);
	return rc;
}
