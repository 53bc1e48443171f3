// SPDX-License-Identifier: BSD-3-Clause
/*
 * The address space of the restored process, built by syscalls injected into
 * its (helper-copy) leader: drop the helper's mappings, put the vdso block
 * back where the image had it (glibc caches vdso pointers), map every VMA
 * read-write, copy the dumped pages in (restore_fill.c), then (late, after
 * threads exist) apply the recorded protections and seals and PR_SET_MM_MAP.
 */
#include "ckpt.h"
#include "restore.h"
#include "fd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/prctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TASK_SIZE_47 0x7ffffffff000ull
#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif
#define RSEQ_FLAG_UNREGISTER 1

struct rseq_conf {
	uint64_t ptr;
	uint32_t size, sig, flags, pad;
};

/* A hole of RS_SCRATCH_SIZE in the image's layout, above mmap_min_addr. */
uint64_t rs_scratch_at(const struct rs_ctx *c)
{
	uint64_t prev = 0x100000;
	for (uint32_t i = 0; i < c->nr_vmas; i++) {
		const struct ckpt_img_vma *v = c->vmas[i].v;
		if (v->start >= TASK_SIZE_47)
			break;
		if (v->start >= prev + RS_SCRATCH_SIZE + 0x1000)
			return prev + 0x1000;
		if (v->end > prev)
			prev = v->end;
	}
	return prev + RS_SCRATCH_SIZE + 0x1000 < TASK_SIZE_47 ? prev + 0x1000 : 0;
}

static int map_vmas(struct rs_ctx *c)
{
	long fd = -1;
	const char *open_path = NULL;
	int open_rw = 0, rc = 0;
	for (uint32_t i = 0; i < c->nr_vmas && !rc; i++) {
		const struct rs_vma *rv = &c->vmas[i];
		const struct ckpt_img_vma *v = rv->v;
		if (v->kind != CKPT_VMA_ANON && v->kind != CKPT_VMA_FILE)
			continue;
		/* SysV segments and memfds: their own objects (shm_sysv.c, fd_memfd.c) */
		int own = (v->flags & CKPT_VMA_F_SYSV) ? rs_sysvshm_map(c, rv) : rs_memfd_map(c, rv);
		if (own == 1) /* shared memory several VMAs of the job map (shared.c) */
			own = rs_share_map(c, rv);
		if (own <= 0) {
			rc = own;
			continue;
		}
		int shared = v->flags & CKPT_VMA_F_SHARED;
		int file = v->kind == CKPT_VMA_FILE && !(v->flags & CKPT_VMA_F_DELETED);
		long prot = PROT_READ | PROT_WRITE;
		long flags = MAP_FIXED | (shared ? MAP_SHARED : MAP_PRIVATE);
		int need_rw = shared && (v->prot & PROT_WRITE);
		if (file && shared && !need_rw)
			prot = PROT_READ;
		if (file && (!open_path || strcmp(open_path, rv->path) || open_rw != need_rw)) {
			if (fd >= 0)
				rs_sys(c, c->pid, "close", 0, NULL, SYS_close, fd, 0, 0, 0, 0, 0);
			fd = -1;
			rc = rs_write_mem(c, c->scratch, rv->path, strlen(rv->path) + 1);
			if (!rc)
				rc = rs_sys(c, c->pid, "open mapped file", 0, &fd, SYS_openat,
					    AT_FDCWD, (long)c->scratch,
					    (need_rw ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0, 0, 0);
			if (!rc && fd < 0) {
				rc = ckpt_fail_errno(c->e, (int)-fd, "open %s for its mapping",
						     rv->path);
				fd = -1;
			}
			open_path = rv->path;
			open_rw = need_rw;
		}
		if (!file) {
			flags |= MAP_ANONYMOUS;
			if (v->flags & CKPT_VMA_F_GROWSDOWN) /* the stack keeps growing */
				flags |= MAP_GROWSDOWN;
			if (v->kind == CKPT_VMA_FILE && !(v->flags & CKPT_VMA_F_DUMPED))
				rs_warn(c, "mapping of deleted file %s has no saved pages", rv->name);
		}
		long r = 0;
		if (!rc)
			rc = rs_sys(c, c->pid, "mmap", 0, &r, SYS_mmap, (long)v->start,
				    (long)(v->end - v->start), prot, flags, file ? fd : -1,
				    file ? (long)v->pgoff : 0);
		if (!rc && (uint64_t)r != v->start)
			rc = ckpt_fail_errno(c->e, r < 0 && r > -4096 ? (int)-r : EADDRINUSE,
					     "mmap 0x%llx-0x%llx %s",
					     (unsigned long long)v->start,
					     (unsigned long long)v->end, rv->name);
	}
	if (fd >= 0)
		rs_sys(c, c->pid, "close", 0, NULL, SYS_close, fd, 0, 0, 0, 0, 0);
	return rc;
}

/* Everything of the helper goes except the vdso block (and [vsyscall]) and
   the shared memory parked for this process's VMAs (shared.c). */
static int drop_helper(struct rs_ctx *c, const struct rs_special *cur)
{
	uint64_t from = 0, at, len, next;
	int rc = 0;
	for (;;) {
		/* the lowest kept range at or above from */
		at = TASK_SIZE_47;
		len = 0;
		if (cur->end > from) {
			at = cur->vvar;
			len = cur->end - cur->vvar;
		}
		uint64_t a, l;
		for (uint32_t k = 0; rs_share_parked(c, k, &a, &l); k++)
			if (a >= from && a < at) {
				at = a;
				len = l;
			}
		if (at > from)
			rc = rs_sys(c, c->pid, "munmap the helper's mappings", 1, NULL, SYS_munmap,
				    (long)from, (long)(at - from), 0, 0, 0, 0);
		next = at + len;
		if (rc || at >= TASK_SIZE_47)
			return rc;
		from = next;
	}
}

int rs_restore_mm(struct rs_ctx *c)
{
	struct rseq_conf rq = {0};
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, c->pid, sizeof(rq), &rq) > 0 && rq.ptr) {
		int rc = rs_sys(c, c->pid, "rseq unregister", 1, NULL, SYS_rseq, (long)rq.ptr,
				rq.size, RSEQ_FLAG_UNREGISTER, rq.sig, 0, 0);
		if (rc)
			return rc;
	}
	struct rs_special cur, img;
	int rc = rs_live_special(c, &cur);
	if (rc)
		return rc;
	rs_image_special(c, &img);
	rc = drop_helper(c, &cur);
	if (!rc)
		rc = rs_move_vdso(c, &cur, &img);
	if (rc)
		return rc;
	uint64_t at = rs_scratch_at(c);
	if (!at)
		return ckpt_fail(c->e, ENOMEM, "no room for a scratch page in the image's layout");
	long r;
	rc = rs_sys(c, c->pid, "mmap scratch", 1, &r, SYS_mmap, (long)at, RS_SCRATCH_SIZE,
		    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (rc)
		return rc;
	if ((uint64_t)r != at)
		return ckpt_fail(c->e, EADDRINUSE, "scratch page landed at 0x%lx, not 0x%llx", r,
				 (unsigned long long)at);
	c->scratch = at;
	rc = map_vmas(c);
	if (!rc)
		rc = rs_share_unpark(c);
	if (!rc)
		rc = rs_fill_pages(c);
	if (!rc)
		rc = rs_memfd_finish(c);
	return rc;
}

/* madvise and mlock state back on one VMA (before it is sealed) */
static int rs_restore_madv(struct rs_ctx *c, const struct ckpt_img_vma *v)
{
	static const struct {
		uint32_t bit;
		int advice;
		const char *name;
	} adv[] = {
		{CKPT_VMA_MADV_DONTFORK, MADV_DONTFORK, "MADV_DONTFORK"},
		{CKPT_VMA_MADV_WIPEONFORK, 18 /* MADV_WIPEONFORK */, "MADV_WIPEONFORK"},
		{CKPT_VMA_MADV_HUGEPAGE, MADV_HUGEPAGE, "MADV_HUGEPAGE"},
		{CKPT_VMA_MADV_NOHUGEPAGE, MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE"},
		{CKPT_VMA_MADV_RANDOM, MADV_RANDOM, "MADV_RANDOM"},
		{CKPT_VMA_MADV_SEQUENTIAL, MADV_SEQUENTIAL, "MADV_SEQUENTIAL"},
		{CKPT_VMA_MADV_MERGEABLE, MADV_MERGEABLE, "MADV_MERGEABLE"},
	};
	long len = (long)(v->end - v->start);
	int rc = 0;
	for (size_t k = 0; !rc && k < sizeof(adv) / sizeof(adv[0]); k++)
		if (v->madv & adv[k].bit) {
			char what[96];
			snprintf(what, sizeof(what), "madvise(%s) of 0x%llx-0x%llx", adv[k].name,
				 (unsigned long long)v->start, (unsigned long long)v->end);
			rc = rs_sys(c, c->pid, what, 1, NULL, SYS_madvise, (long)v->start, len,
				    adv[k].advice, 0, 0, 0);
		}
	if (!rc && (v->madv & (CKPT_VMA_MADV_LOCKED | CKPT_VMA_MADV_LOCKONFAULT))) {
		char what[96];
		snprintf(what, sizeof(what), "mlock2 of 0x%llx-0x%llx (RLIMIT_MEMLOCK)",
			 (unsigned long long)v->start, (unsigned long long)v->end);
		rc = rs_sys(c, c->pid, what, 1, NULL, SYS_mlock2, (long)v->start, len,
			    v->madv & CKPT_VMA_MADV_LOCKONFAULT ? 1 /* MLOCK_ONFAULT */ : 0, 0, 0,
			    0);
	}
	return rc;
}

int rs_restore_mm_late(struct rs_ctx *c)
{
	int rc = 0;
	for (uint32_t i = 0; i < c->nr_vmas && !rc; i++) {
		const struct ckpt_img_vma *v = c->vmas[i].v;
		if (v->kind != CKPT_VMA_ANON && v->kind != CKPT_VMA_FILE)
			continue;
		if (v->prot != (PROT_READ | PROT_WRITE))
			rc = rs_sys(c, c->pid, "mprotect", 1, NULL, SYS_mprotect, (long)v->start,
				    (long)(v->end - v->start), v->prot, 0, 0, 0);
		if (!rc && v->madv)
			rc = rs_restore_madv(c, v);
		if (!rc && (v->flags & CKPT_VMA_F_DONTDUMP))
			rc = rs_sys(c, c->pid, "madvise(MADV_DONTDUMP)", 1, NULL, SYS_madvise,
				    (long)v->start, (long)(v->end - v->start), MADV_DONTDUMP, 0, 0, 0);
		if (!rc && (v->flags & CKPT_VMA_F_SEALED))
			rc = rs_sys(c, c->pid, "mseal", 1, NULL, SYS_mseal, (long)v->start,
				    (long)(v->end - v->start), 0, 0, 0, 0);
	}
	if (rc)
		return rc;
	const struct ckpt_img_mm *mm = &c->proc->mm;
	struct prctl_mm_map map;
	memset(&map, 0, sizeof(map));
	map.start_code = mm->start_code;
	map.end_code = mm->end_code;
	map.start_data = mm->start_data;
	map.end_data = mm->end_data;
	map.start_brk = mm->start_brk;
	map.brk = mm->brk;
	map.start_stack = mm->start_stack;
	map.arg_start = mm->arg_start;
	map.arg_end = mm->arg_end;
	map.env_start = mm->env_start;
	map.env_end = mm->env_end;
	uint32_t words = mm->auxv_words < CKPT_AUXV_MAX ? mm->auxv_words : CKPT_AUXV_MAX;
	if (words * 8 > 448)
		words = 448 / 8;
	map.auxv = (__u64 *)(uintptr_t)(c->scratch + 1024);
	map.auxv_size = words * 8;
	long exe_fd = -1;
	rc = rs_write_mem(c, c->scratch, c->exe, strlen(c->exe) + 1);
	if (!rc)
		rc = rs_sys(c, c->pid, "open exe", 0, &exe_fd, SYS_openat, AT_FDCWD,
			    (long)c->scratch, O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (rc)
		return rc;
	map.exe_fd = exe_fd >= 0 ? (uint32_t)exe_fd : (uint32_t)-1;
	rc = rs_write_mem(c, c->scratch + 1024, mm->auxv, map.auxv_size);
	if (!rc)
		rc = rs_write_mem(c, c->scratch + 512, &map, sizeof(map));
	long r = 0;
	if (!rc)
		rc = rs_sys(c, c->pid, "prctl(PR_SET_MM_MAP)", 0, &r, SYS_prctl, PR_SET_MM,
			    PR_SET_MM_MAP, (long)(c->scratch + 512), sizeof(map), 0, 0);
	if (!rc && (r == -EBUSY || r == -EPERM) && exe_fd >= 0) {
		char why[RS_LINE_MAX / 2] = "";
		if (r == -EPERM && rs_kpid_active() &&
		    !rs_kpid_set_exe(c->pid, c->exe, why, sizeof(why)))
			; /* ckpt.ko set it */
		else if (why[0])
			rs_warn(c, "ckpt.ko refused the exe link (%s); /proc/%d/exe stays stale",
				why, c->pid);
		else
			rs_warn(c, "PR_SET_MM_MAP refused the exe link (%s); /proc/%d/exe stays "
				"stale", ckpt_errno_name((int)r), c->pid);
		map.exe_fd = (uint32_t)-1;
		rc = rs_write_mem(c, c->scratch + 512, &map, sizeof(map));
		if (!rc)
			rc = rs_sys(c, c->pid, "prctl(PR_SET_MM_MAP)", 0, &r, SYS_prctl, PR_SET_MM,
				    PR_SET_MM_MAP, (long)(c->scratch + 512), sizeof(map), 0, 0);
	}
	if (exe_fd >= 0)
		rs_sys(c, c->pid, "close exe", 0, NULL, SYS_close, exe_fd, 0, 0, 0, 0, 0);
	if (!rc && r < 0)
		rc = ckpt_fail_errno(c->e, (int)-r,
				     "prctl(PR_SET_MM_MAP) code 0x%llx-0x%llx brk 0x%llx-0x%llx",
				     (unsigned long long)map.start_code,
				     (unsigned long long)map.end_code,
				     (unsigned long long)map.start_brk, (unsigned long long)map.brk);
	return rc ? rc : rs_restore_mlockall(c);
}
