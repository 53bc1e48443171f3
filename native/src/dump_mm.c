// SPDX-License-Identifier: BSD-3-Clause
/*
 * The address space of a frozen process: VMAs from /proc/PID/smaps (kinds,
 * VmFlags for growsdown, sealed, dontdump), the pages worth saving from
 * /proc/PID/pagemap, and their contents, read with process_vm_readv (or
 * /proc/PID/mem for regions the target cannot read itself) straight into
 * the image writer's buffers.
 *
 * Pages saved: present or swapped pages of anonymous mappings (private or
 * shared) and the private copies (anonymous pages) inside private file
 * mappings. Not saved: untouched pages (zero, or the file's own contents),
 * MAP_SHARED file mappings (the file holds them), [vdso]/[vvar] (the kernel
 * provides them), guard regions (pagemap bits 58+62).
 */
#include "dump.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define PM_PRESENT (1ull << 63)
#define PM_SWAP (1ull << 62)
#define PM_FILE (1ull << 61)
#define PM_GUARD (1ull << 58)
#define PAGE 4096ull

static void classify(struct dump_vma *dv, const char *perms)
{
	struct ckpt_img_vma *v = &dv->v;
	const char *name = dv->name;
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
	{
		v->kind = CKPT_VMA_ANON; /* shared anonymous memory */
		if (!strncmp(name, "/SYSV", 5)) /* its content: CKPT_OBJ_SYSVSHM */
			v->flags |= CKPT_VMA_F_SYSV;
	}
	else if (!strcmp(name, "/dev/zero") && !(v->flags & CKPT_VMA_F_SHARED))
		v->kind = CKPT_VMA_ANON; /* a private mapping of /dev/zero is anonymous
					    memory that names the device */
	else if (name[0] == '/')
		v->kind = CKPT_VMA_FILE;
	else
		v->kind = CKPT_VMA_ANON;
	if (!strcmp(name, "[stack]"))
		v->flags |= CKPT_VMA_F_STACK;
	if (!strcmp(name, "[heap]"))
		v->flags |= CKPT_VMA_F_HEAP;
	if (v->kind == CKPT_VMA_FILE && strstr(name, " (deleted)"))
		v->flags |= CKPT_VMA_F_DELETED;
}

static const struct {
	char name[3];
	uint32_t bit;
} madv_flags[] = {
	{"dc", CKPT_VMA_MADV_DONTFORK},	  {"wf", CKPT_VMA_MADV_WIPEONFORK},
	{"hg", CKPT_VMA_MADV_HUGEPAGE},	  {"nh", CKPT_VMA_MADV_NOHUGEPAGE},
	{"rr", CKPT_VMA_MADV_RANDOM},	  {"sr", CKPT_VMA_MADV_SEQUENTIAL},
	{"mg", CKPT_VMA_MADV_MERGEABLE},  {"lo", CKPT_VMA_MADV_LOCKED},
	{"lf", CKPT_VMA_MADV_LOCKONFAULT},
};

static void vmflags(struct ckpt_img_vma *v, const char *s)
{
	for (const char *p = s; p[0] && p[1]; p++) {
		if (p != s && p[-1] != ' ')
			continue;
		for (size_t k = 0; k < sizeof(madv_flags) / sizeof(madv_flags[0]); k++)
			if (!strncmp(p, madv_flags[k].name, 2) &&
			    (p[2] == ' ' || p[2] == '\n' || !p[2]))
				v->madv |= madv_flags[k].bit;
		if (!strncmp(p, "gd", 2) && (p[2] == ' ' || p[2] == '\n' || !p[2]))
			v->flags |= CKPT_VMA_F_GROWSDOWN;
		if (!strncmp(p, "sl", 2) && (p[2] == ' ' || p[2] == '\n' || !p[2]))
			v->flags |= CKPT_VMA_F_SEALED;
		if (!strncmp(p, "dd", 2) && (p[2] == ' ' || p[2] == '\n' || !p[2]))
			v->flags |= CKPT_VMA_F_DONTDUMP;
	}
}

static int add_run(struct dump *d, uint64_t addr, uint64_t n)
{
	if (d->nr_runs == d->runs_cap) {
		uint64_t cap = d->runs_cap ? d->runs_cap * 2 : 256;
		void *p = realloc(d->runs, cap * sizeof(*d->runs));
		if (!p)
			return ckpt_fail(d->e, ENOMEM, "no memory for the page table");
		d->runs = p;
		d->runs_cap = cap;
	}
	d->runs[d->nr_runs].addr = addr;
	d->runs[d->nr_runs].nr_pages = n;
	d->nr_runs++;
	d->nr_pages += n;
	return 0;
}

/* Find the pages of one VMA worth saving; append them as runs. */
static int scan_pages(struct dump *d, struct dump_vma *dv, int pm)
{
	struct ckpt_img_vma *v = &dv->v;
	dv->first_run = d->nr_runs;
	if (v->kind != CKPT_VMA_ANON && v->kind != CKPT_VMA_FILE)
		return 0;
	/* a shared mapping of a file deleted since (a POSIX semaphore or shm
	   object unlinked after mmap) has no file to map again: its pages are
	   saved as shared anonymous memory's (memfds have their own object) */
	int gone = v->kind == CKPT_VMA_FILE && (v->flags & CKPT_VMA_F_SHARED) &&
		   (v->flags & CKPT_VMA_F_DELETED) && strncmp(dv->name, "/memfd:", 7) != 0;
	if ((v->kind == CKPT_VMA_FILE && (v->flags & CKPT_VMA_F_SHARED) && !gone) ||
	    (v->flags & CKPT_VMA_F_SYSV))
		return 0;
	int anon = v->kind == CKPT_VMA_ANON || gone;
	static __thread uint64_t ent[8192];
	uint64_t npages = (v->end - v->start) / PAGE, run_start = 0, run_len = 0;
	for (uint64_t done = 0; done < npages;) {
		uint64_t k = npages - done < 8192 ? npages - done : 8192;
		off_t off = (off_t)((v->start / PAGE + done) * 8);
		ssize_t got = pread(pm, ent, k * 8, off);
		if (got != (ssize_t)(k * 8))
			return ckpt_fail_errno(d->e, got < 0 ? errno : EIO,
					       "read /proc/%d/pagemap at 0x%llx", d->pid,
					       (unsigned long long)(v->start + done * PAGE));
		for (uint64_t i = 0; i < k; i++) {
			uint64_t e = ent[i];
			int guard = (e & PM_GUARD) && (e & PM_SWAP);
			/* a deleted file's pages: every one (those this process has
			   not touched are in the file's page cache only) */
			int keep = gone || (!guard && ((e & PM_SWAP) ||
						       ((e & PM_PRESENT) && (anon || !(e & PM_FILE)))));
			uint64_t addr = v->start + (done + i) * PAGE;
			if (keep && run_len && run_start + run_len * PAGE == addr) {
				run_len++;
			} else if (keep) {
				if (run_len && add_run(d, run_start, run_len))
					return -ENOMEM;
				run_start = addr;
				run_len = 1;
			}
		}
		done += k;
	}
	if (run_len && add_run(d, run_start, run_len))
		return -ENOMEM;
	dv->nr_runs = d->nr_runs - dv->first_run;
	if (dv->nr_runs)
		v->flags |= CKPT_VMA_F_DUMPED;
	return 0;
}

static int parse_smaps(struct dump *d, FILE *f)
{
	char line[CKPT_PATH_MAX + 256];
	struct dump_vma *cur = NULL;
	uint32_t cap = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, pg, ino;
		char perms[8], dev[16];
		int n = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &lo, &hi, perms, &pg, dev, &ino,
			   &n) >= 6 &&
		    n > 0) {
			if (d->nr_vmas == cap) {
				cap = cap ? cap * 2 : 128;
				void *p = realloc(d->vmas, cap * sizeof(*d->vmas));
				if (!p)
					return ckpt_fail(d->e, ENOMEM, "no memory for VMAs");
				d->vmas = p;
			}
			cur = &d->vmas[d->nr_vmas++];
			memset(cur, 0, sizeof(*cur));
			char *name = line + n;
			name[strcspn(name, "\n")] = '\0';
			snprintf(cur->name, sizeof(cur->name), "%s", name);
			cur->v.start = lo;
			cur->v.end = hi;
			cur->v.pgoff = pg;
			cur->v.ino = ino;
			unsigned maj = 0, min = 0;
			sscanf(dev, "%x:%x", &maj, &min);
			cur->v.dev = makedev(maj, min);
			classify(cur, perms);
		} else if (cur && !strncmp(line, "VmFlags:", 8)) {
			vmflags(&cur->v, line + 9);
		}
	}
	return 0;
}

int dump_vmas(struct dump *d)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/smaps", d->pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return ckpt_fail_errno(d->e, errno, "open %s", p);
	int rc = parse_smaps(d, f);
	fclose(f);
	if (rc)
		return rc;
	if (!d->nr_vmas)
		return ckpt_fail(d->e, ESRCH, "process %d has no address space (a kernel thread?)",
				 d->pid);
	snprintf(p, sizeof(p), "/proc/%d/pagemap", d->pid);
	int pm = open(p, O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		return ckpt_fail_errno(d->e, errno, "open %s", p);
	for (uint32_t i = 0; !rc && i < d->nr_vmas; i++)
		rc = scan_pages(d, &d->vmas[i], pm);
	close(pm);
	return rc;
}

/* The PAGES section: head, run table, padding to a page, then the data. */
int dump_pages(struct dump *d, struct imgw *w)
{
	struct ckpt_img_pages_head h = {.nr_runs = d->nr_runs, .nr_pages = d->nr_pages};
	uint64_t table = sizeof(h) + d->nr_runs * sizeof(*d->runs);
	h.data_offset = (table + PAGE - 1) & ~(PAGE - 1);
	int rc = imgw_begin(w, CKPT_SEC_PAGES, h.data_offset + d->nr_pages * PAGE, IMGW_PAGE_ALIGN);
	if (!rc)
		rc = imgw_payload(w, &h, sizeof(h));
	if (!rc)
		rc = imgw_payload(w, d->runs, d->nr_runs * sizeof(*d->runs));
	if (!rc)
		rc = imgw_zeros(w, h.data_offset - table);
	/* progress in image bytes: what is written of what the image will be */
	uint64_t total = w->off + d->nr_pages * PAGE + 64;
	for (uint64_t r = 0; !rc && r < d->nr_runs; r++) {
		uint64_t addr = d->runs[r].addr, left = d->runs[r].nr_pages * PAGE;
		while (!rc && left) {
			size_t room = left;
			void *buf = imgw_reserve(w, &room);
			if (!buf)
				return ckpt_fail(d->e, EIO, "image writer stopped");
			room &= ~(PAGE - 1);
			rc = dump_read_mem(d, addr, buf, room);
			if (!rc)
				rc = imgw_commit_reserved(w, room);
			addr += room;
			left -= room;
			dump_progress(d, w->off, total, CKPT_PHASE_MEMORY);
			if (!rc)
				rc = dump_check_deadline(d, "copying memory");
		}
	}
	if (!rc)
		rc = imgw_end(w);
	return rc;
}

void dump_free_mm(struct dump *d)
{
	free(d->vmas);
	free(d->runs);
	d->vmas = NULL;
	d->runs = NULL;
}
