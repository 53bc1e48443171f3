// SPDX-License-Identifier: BSD-3-Clause
/*
 * Reading an image (format v1, native/include/ckpt_image.h) for a restart
 * and for ckpt_inspect: the whole file is mapped read-only and checked
 * before anything changes (magic, version, header crc, every section's
 * header crc, payload crc and tail, bounds, END and its checksum over the
 * section order), then the views in struct rs_ctx point into the map.
 *
 * Images are hostile input: every length and count is checked before it is
 * used, sections must come in the order and number of the rules table below,
 * strings must be terminated inside their fields, and the header's uname
 * strings must be printable. The fuzz targets in native/fuzz/ drive this
 * file (built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, checksums then
 * do not stop them).
 */
#include "ckpt.h"
#include "crc32c.h"
#include "restore.h"
#include "fd.h"
#include "sanitize.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct rs_map {
	const unsigned char *base;
	size_t size;
};

#define RS_MAX_THREADS 4096 /* as DUMP_MAX_THREADS */
#define RS_MAX_PENDING 4096 /* siginfo records per thread or process */
#define RS_MAX_XSTATE (1u << 20) /* far above any CPU's XSAVE area */
#define RS_MAX_FD (1 << 20) /* the kernel's NR_OPEN */

/*
 * One rule per known section type, in the order the sections must come in
 * (per process; END alone closes the image): how many there may be and the
 * smallest payload, and the function that checks the payload and fills the
 * views. A new section type is one line here and one take_ function. An
 * unknown type is skipped when marked CKPT_SEC_F_OPTIONAL, refused otherwise.
 */
struct rs_section_rule {
	uint32_t type;
	const char *name;
	uint32_t min, max; /* sections of this type per process */
	uint64_t min_size; /* payload bytes at least */
	int (*take)(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		    uint32_t nth);
};

static int take_proc(struct rs_ctx *, const unsigned char *, uint64_t, uint64_t, uint32_t);
static int take_thread(struct rs_ctx *, const unsigned char *, uint64_t, uint64_t, uint32_t);
static int take_vmas(struct rs_ctx *, const unsigned char *, uint64_t, uint64_t, uint32_t);
static int take_files(struct rs_ctx *, const unsigned char *, uint64_t, uint64_t, uint32_t);
static int take_pages(struct rs_ctx *, const unsigned char *, uint64_t, uint64_t, uint32_t);
static int take_obj(struct rs_ctx *, const unsigned char *, uint64_t, uint64_t, uint32_t);
static int take_tree(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		     uint32_t nth)
{
	return rs_take_tree(c, p, size, off);
}

static int take_procx(struct rs_ctx *, const unsigned char *, uint64_t, uint64_t, uint32_t);
static int take_timers(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		       uint32_t nth)
{
	return rs_take_timers(c, p, size);
}
static int take_tcomm(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		      uint32_t nth)
{
	return rs_take_tcomm(c, p, size);
}
static int take_tprctl(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		       uint32_t nth)
{
	return rs_take_tprctl(c, p, size);
}
static int take_fds(struct rs_ctx *, const unsigned char *, uint64_t, uint64_t, uint32_t);
static int take_tree(struct rs_ctx *, const unsigned char *, uint64_t, uint64_t, uint32_t);

/* Object sections (v2: CKPT_SEC_OBJ_BASE + kind, each kind once, before the
   process) share one rule; version-specific sections (PROCX and FDS in v2,
   FILES in v1) have min 0 here and are required by version after the walk. */
static const struct rs_section_rule rules[] = {
	{CKPT_SEC_OBJ_BASE, "OBJ", 0, CKPT_OBJ_MAX, 0, take_obj},
	{CKPT_SEC_TREE, "TREE", 0, 1, sizeof(struct ckpt_img_task), take_tree},
	{CKPT_SEC_PROC, "PROC", 1, 1, sizeof(struct ckpt_img_proc), take_proc},
	{CKPT_SEC_PROCX, "PROCX", 0, 1, sizeof(struct ckpt_img_procx), take_procx},
	{CKPT_SEC_TIMERS, "TIMERS", 0, 1, sizeof(struct ckpt_img_ptimer), take_timers},
	{CKPT_SEC_TCOMM, "TCOMM", 0, 1, 16, take_tcomm},
	{CKPT_SEC_TPRCTL, "TPRCTL", 0, 1, sizeof(struct ckpt_img_tprctl), take_tprctl},
	{CKPT_SEC_THREAD, "THREAD", 1, RS_MAX_THREADS, sizeof(struct ckpt_img_thread),
	 take_thread},
	{CKPT_SEC_VMAS, "VMAS", 1, 1, 0, take_vmas},
	{CKPT_SEC_FILES, "FILES", 0, 1, 0, take_files},
	{CKPT_SEC_FDS, "FDS", 0, 1, 0, take_fds},
	{CKPT_SEC_PAGES, "PAGES", 1, 1, sizeof(struct ckpt_img_pages_head), take_pages},
};
#define NR_RULES (sizeof(rules) / sizeof(rules[0]))

static const struct rs_section_rule *rule_of(uint32_t type)
{
	if (type > CKPT_SEC_OBJ_BASE && type <= CKPT_SEC_OBJ_BASE + CKPT_OBJ_MAX)
		return fd_kind_of(type - CKPT_SEC_OBJ_BASE) ? &rules[0] : NULL;
	for (size_t i = 0; i < NR_RULES; i++)
		if (rules[i].type == type)
			return &rules[i];
	return NULL;
}

const char *rs_section_name(uint32_t t)
{
	if (t > CKPT_SEC_OBJ_BASE && t <= CKPT_SEC_OBJ_BASE + CKPT_OBJ_MAX) {
		static char names[CKPT_OBJ_MAX + 1][24];
		const struct fd_kind *k = fd_kind_of(t - CKPT_SEC_OBJ_BASE);
		if (!k)
			return "UNKNOWN";
		char *n = names[t - CKPT_SEC_OBJ_BASE];
		if (!n[0])
			snprintf(n, sizeof(names[0]), "OBJ_%s", k->name);
		return n;
	}
	const struct rs_section_rule *r = rule_of(t);
	if (r)
		return r->name;
	return t == CKPT_SEC_END ? "END" : "UNKNOWN";
}

static int bad(struct rs_ctx *c, uint64_t off, const char *sec, const char *what)
{
	return ckpt_fail(c->e, EBADMSG, "image %s: section %s at offset %llu: %s", c->label, sec,
			 (unsigned long long)off, what);
}

/* In a fuzzing build the checksums do not guard the code behind them. */
static int crc_differs(uint32_t computed, uint32_t stored)
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	(void)computed;
	(void)stored;
	return 0;
#else
	return computed != stored;
#endif
}

/* A fixed-size string field: NUL inside it, and (strict) nothing a
   terminal would act on. */
static int bad_string(const char *f, size_t len, int strict)
{
	if (!memchr(f, '\0', len))
		return 1;
	return strict && !ckpt_is_clean(f);
}

static int check_header(struct rs_ctx *c, const struct rs_map *m)
{
	const struct ckpt_img_header *h = (const void *)m->base;
	if (m->size < 8 || memcmp(h->magic, CKPT_IMG_MAGIC, 8) != 0)
		return ckpt_fail(c->e, EBADMSG, "%s is not a ckpt image (no CKPTIMG magic)",
				 c->label);
	if (m->size < sizeof(*h))
		return ckpt_fail(c->e, EBADMSG, "image %s is truncated inside its header (%zu bytes)",
				 c->label, m->size);
	if (h->version < CKPT_IMG_VERSION_MIN || h->version > CKPT_IMG_VERSION)
		return ckpt_fail(c->e, ENOTSUP,
				 "image %s has format version %u; this restart reads %d to %d",
				 c->label, h->version, CKPT_IMG_VERSION_MIN, CKPT_IMG_VERSION);
	struct ckpt_img_header copy = *h;
	copy.crc32c = 0;
	if (h->header_size != sizeof(*h) || crc_differs(ckpt_crc32c(0, &copy, sizeof(copy)),
							h->crc32c))
		return ckpt_fail(c->e, EBADMSG, "image %s: header at offset 0: checksum mismatch",
				 c->label);
	if (!h->nr_processes || h->nr_processes > 4096 ||
	    (h->nr_processes > 1 && h->version < 2))
		return ckpt_fail(c->e, EBADMSG, "image %s: header: %u processes (expected 1..4096, "
				 "several only in format 2)", c->label, h->nr_processes);
	/* uname strings cannot hold control characters: one that does is forged */
	if (bad_string(h->kernel_release, sizeof(h->kernel_release), 1) ||
	    bad_string(h->machine, sizeof(h->machine), 1) ||
	    bad_string(h->hostname, sizeof(h->hostname), 1))
		return ckpt_fail(c->e, EBADMSG,
				 "image %s: header: kernel release, machine or hostname is not a "
				 "terminated string of printable characters",
				 c->label);
	if (h->flags & ~CKPT_IMG_F_KERNEL)
		return ckpt_fail(c->e, EBADMSG, "image %s: header: unknown flags 0x%x", c->label,
				 h->flags & ~CKPT_IMG_F_KERNEL);
	if (h->scope > CKPT_SCOPE_SID)
		return ckpt_fail(c->e, EBADMSG, "image %s: header: scope %u is not 0..3", c->label,
				 h->scope);
	c->hdr = h;
	return 0;
}

static int take_proc(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		     uint32_t nth)
{
	const struct ckpt_img_proc *pr = (const void *)p;
	if (pr->pending_shared_count > RS_MAX_PENDING ||
	    size != sizeof(*pr) + pr->pending_shared_count * sizeof(struct ckpt_img_siginfo))
		return bad(c, off, "PROC", "size does not match its pending signals");
	if (!pr->nr_threads || pr->nr_threads > RS_MAX_THREADS)
		return bad(c, off, "PROC", "thread count out of range 1..4096");
	if (pr->pid <= 0 || pr->exit_signal < 0 || pr->exit_signal > CKPT_NSIG)
		return bad(c, off, "PROC", "pid or exit signal out of range");
	if (pr->ngroups > CKPT_NGROUPS_MAX || pr->mm.auxv_words > CKPT_AUXV_MAX)
		return bad(c, off, "PROC", "group or auxv count out of range");
	if (bad_string(pr->comm, sizeof(pr->comm), 0) || bad_string(pr->exe, sizeof(pr->exe), 0) ||
	    bad_string(pr->cwd, sizeof(pr->cwd), 0) || bad_string(pr->root, sizeof(pr->root), 0))
		return bad(c, off, "PROC", "comm, exe, cwd or root is not a terminated string");
	c->proc = pr;
	c->procx = NULL;
	c->ptimers = NULL;
	c->nr_ptimers = 0;
	c->tcomm = NULL;
	c->tprctl = NULL;
	c->shared_pending = (const void *)(p + sizeof(*pr));
	c->threads = calloc(pr->nr_threads, sizeof(*c->threads));
	return c->threads ? 0 : ckpt_fail(c->e, ENOMEM, "no memory");
}

/* THREAD sections: exactly PROC's count, the leader (tid = pid) first. */
static int take_thread(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		       uint32_t nth)
{
	const struct ckpt_img_thread *t = (const void *)p;
	if (nth >= c->proc->nr_threads)
		return bad(c, off, "THREAD", "more THREAD sections than PROC's thread count");
	uint64_t xs = ((uint64_t)t->xstate_size + 7) & ~7ull;
	if (t->xstate_size > RS_MAX_XSTATE || t->pending_count > RS_MAX_PENDING ||
	    size != sizeof(*t) + xs + (uint64_t)t->pending_count * sizeof(struct ckpt_img_siginfo))
		return bad(c, off, "THREAD", "size does not match its xstate and pending signals");
	int leader = !!(t->flags & CKPT_THR_F_LEADER);
	if (leader != (nth == 0) || (leader && t->tid != c->proc->pid) || t->tid <= 0)
		return bad(c, off, "THREAD",
			   "thread order: the leader (tid = pid) comes first, and only it");
	for (uint32_t i = 0; i < nth; i++)
		if (c->threads[i].t->tid == t->tid)
			return bad(c, off, "THREAD", "thread id repeated");
	struct rs_thread *rt = &c->threads[nth];
	rt->t = t;
	rt->xstate = p + sizeof(*t);
	rt->pending = (const void *)(p + sizeof(*t) + xs);
	c->nr_threads = nth + 1;
	return 0;
}

/*
 * Records of VMAS or FILES: fixed struct, then a NUL-terminated name,
 * padded to 8. Every record is checked in a first pass, then the array is
 * allocated for exactly that count and filled in a second. (One pass would
 * have to grow the array as it goes, or size it for the most records the
 * section could hold: an entry carries a CKPT_PATH_MAX buffer, 64 times a
 * record's least size, so a crafted section would ask for 64 times itself.)
 */
struct rec {
	uint32_t rec_size, name_len;
};

static struct rec rec_at(const unsigned char *p, int is_vma)
{
	struct rec r;
	if (is_vma) {
		const struct ckpt_img_vma *v = (const void *)p;
		r.rec_size = v->rec_size;
		r.name_len = v->name_len;
	} else {
		const struct ckpt_img_file *f = (const void *)p;
		r.rec_size = f->rec_size;
		r.name_len = f->path_len;
	}
	return r;
}

static int records(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		   int is_vma, uint32_t *count)
{
	const char *sec = is_vma ? "VMAS" : "FILES";
	size_t fixed = is_vma ? sizeof(struct ckpt_img_vma) : sizeof(struct ckpt_img_file);
	uint32_t n = 0;
	for (uint64_t at = 0; at < size; n++) {
		char what[96];
		if (size - at < fixed) {
			snprintf(what, sizeof(what), "record %u cut short", n);
			return bad(c, off, sec, what);
		}
		struct rec r = rec_at(p + at, is_vma);
		if (r.rec_size < fixed + r.name_len || r.rec_size > size - at || r.rec_size % 8 ||
		    r.name_len > CKPT_PATH_MAX ||
		    (r.name_len && strnlen((const char *)p + at + fixed, r.name_len) !=
					   r.name_len - 1)) {
			snprintf(what, sizeof(what),
				 "malformed record %u (size %u, name %u bytes, at +%llu)", n,
				 r.rec_size, r.name_len, (unsigned long long)at);
			return bad(c, off, sec, what);
		}
		at += r.rec_size;
	}
	*count = n;
	return 0;
}

static int take_vmas(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		     uint32_t nth)
{
	uint32_t n = 0;
	int rc = records(c, p, size, off, 1, &n);
	if (rc)
		return rc;
	c->vmas = calloc(n + 1, sizeof(*c->vmas));
	if (!c->vmas)
		return ckpt_fail(c->e, ENOMEM, "no memory");
	uint64_t at = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct ckpt_img_vma *v = (const void *)(p + at);
		c->vmas[i].v = v;
		c->vmas[i].name = v->name_len ? (const char *)(v + 1) : "";
		at += v->rec_size;
	}
	c->nr_vmas = n;
	return 0;
}

/* Descriptors in increasing order, each shared_with naming an earlier one. */
static int take_files(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		      uint32_t nth)
{
	uint32_t n = 0;
	int rc = records(c, p, size, off, 0, &n);
	if (rc)
		return rc;
	if (c->hdr->version >= 2)
		return bad(c, off, "FILES", "in a version 2 image (FDS replaced it)");
	c->files = calloc(n + 1, sizeof(*c->files));
	if (!c->files)
		return ckpt_fail(c->e, ENOMEM, "no memory");
	uint64_t at = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct ckpt_img_file *f = (const void *)(p + at);
		int shared_ok = f->shared_with == -1;
		for (uint32_t k = 0; k < i && !shared_ok; k++)
			shared_ok = c->files[k].f->fd == f->shared_with;
		if (f->fd < 0 || f->fd >= RS_MAX_FD || (i && f->fd <= c->files[i - 1].f->fd) ||
		    !shared_ok) {
			char what[96];
			snprintf(what, sizeof(what),
				 "record %u: fd %d out of order or range, or shares an unknown "
				 "fd %d",
				 i, f->fd, f->shared_with);
			return bad(c, off, "FILES", what);
		}
		c->files[i].f = f;
		c->files[i].path = f->path_len ? (const char *)(f + 1) : "";
		at += f->rec_size;
	}
	c->nr_files = n;
	return 0;
}

/* v2 sections: objects and descriptors are read by fd.c, PROCX here. */
static int take_obj(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		    uint32_t nth)
{
	return rs_fd_take_section(c, c->cur_sec_type, p, size, off);
}

static int take_fds(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		    uint32_t nth)
{
	return rs_fd_take_section(c, CKPT_SEC_FDS, p, size, off);
}

static int take_procx(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		      uint32_t nth)
{
	if (c->hdr->version < 2 || size != sizeof(struct ckpt_img_procx))
		return bad(c, off, "PROCX", "in a version 1 image, or of a wrong size");
	const struct ckpt_img_procx *x = (const void *)p;
	uint32_t ml = x->mlock_future;
	if ((x->flags & CKPT_PROCX_F_MLOCKALL) && ml && ml != MCL_FUTURE &&
	    ml != (MCL_FUTURE | MCL_ONFAULT))
		return bad(c, off, "PROCX", "an mlock_future other than 0, MCL_FUTURE or "
				      "MCL_FUTURE|MCL_ONFAULT");
	c->procx = x;
	return 0;
}

static int take_pages(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		      uint32_t nth)
{
	const struct ckpt_img_pages_head *h = (const void *)p;
	uint64_t table = sizeof(*h) + h->nr_runs * sizeof(struct ckpt_img_pagerun);
	if (h->nr_runs > (size - sizeof(*h)) / sizeof(struct ckpt_img_pagerun) ||
	    h->data_offset < table || h->data_offset > size ||
	    h->data_offset % CKPT_IMG_PAGE_SIZE ||
	    h->nr_pages != (size - h->data_offset) / CKPT_IMG_PAGE_SIZE ||
	    (size - h->data_offset) % CKPT_IMG_PAGE_SIZE)
		return bad(c, off, "PAGES", "page table and data do not fill the section");
	uint64_t data_off = (uint64_t)(p - (const unsigned char *)c->hdr) + h->data_offset;
	if (data_off % CKPT_IMG_PAGE_SIZE)
		return bad(c, off, "PAGES", "page data is not page-aligned in the file");
	c->runs = (const void *)(p + sizeof(*h));
	c->nr_runs = h->nr_runs;
	uint64_t pages = 0;
	for (uint64_t i = 0; i < h->nr_runs; i++) {
		if (c->runs[i].nr_pages > h->nr_pages - pages)
			return bad(c, off, "PAGES", "page runs do not add up");
		pages += c->runs[i].nr_pages;
	}
	if (pages != h->nr_pages)
		return bad(c, off, "PAGES", "page runs do not add up");
	c->pages_data_off = data_off;
	return 0;
}

/* The PAGES section's bytes before and after the page data; the data itself
   is checked by rs_fill_pages as it is copied. */
static void defer_pages_crc(struct rs_ctx *c, const unsigned char *p, uint64_t size,
			    uint64_t sec_off, uint32_t crc)
{
	const struct ckpt_img_pages_head *h = (const void *)p;
	uint64_t data = h->nr_pages * CKPT_IMG_PAGE_SIZE; /* fits: take_pages checked */
	c->pages_crc_deferred = 1;
	c->pages_sec_off = sec_off;
	c->pages_crc = crc;
	c->pages_head_crc = ckpt_crc32c(0, p, h->data_offset);
	c->pages_tail_len = size - h->data_offset - data;
	c->pages_tail_crc = ckpt_crc32c(0, p + h->data_offset + data, c->pages_tail_len);
}

/* VMAs in address order without overlap; every page run inside one VMA and
   after the previous run (restore fills VMA by VMA in one pass). */
static int check_layout(struct rs_ctx *c)
{
	uint64_t prev_end = 0;
	for (uint32_t i = 0; i < c->nr_vmas; i++) {
		const struct ckpt_img_vma *v = c->vmas[i].v;
		if (v->start >= v->end || v->start < prev_end ||
		    ((v->start | v->end) & (CKPT_IMG_PAGE_SIZE - 1)))
			return ckpt_fail(c->e, EBADMSG,
					 "image %s: VMA %u (0x%llx-0x%llx) is empty, unaligned or "
					 "out of order",
					 c->label, i, (unsigned long long)v->start,
					 (unsigned long long)v->end);
		prev_end = v->end;
	}
	uint32_t vi = 0;
	prev_end = 0;
	for (uint64_t i = 0; i < c->nr_runs; i++) {
		uint64_t a = c->runs[i].addr, n = c->runs[i].nr_pages;
		while (vi < c->nr_vmas && c->vmas[vi].v->end <= a)
			vi++;
		const struct ckpt_img_vma *v = vi < c->nr_vmas ? c->vmas[vi].v : NULL;
		if (!n || a < prev_end || !v || a < v->start ||
		    n > (v->end - a) / CKPT_IMG_PAGE_SIZE)
			return ckpt_fail(c->e, EBADMSG,
					 "image %s: page run %llu (0x%llx, %llu pages) is not inside "
					 "one VMA in address order",
					 c->label, (unsigned long long)i, (unsigned long long)a,
					 (unsigned long long)n);
		prev_end = a + n * CKPT_IMG_PAGE_SIZE;
	}
	return 0;
}

/* END: the last section, ending the file; it counts the sections before
   it and (format v1, 24-byte END) carries a checksum over their headers and
   tails in file order, so sections cannot be reordered, dropped or
   repeated without it noticing. */
static int take_end(struct rs_ctx *c, const unsigned char *p, uint64_t size, uint64_t off,
		    uint64_t nsec, uint32_t order_crc, uint64_t file_size)
{
	const struct ckpt_img_end *e = (const void *)p;
	if ((size != CKPT_IMG_END_V1_SIZE && size != sizeof(*e)) || e->nr_sections != nsec ||
	    e->image_bytes != off)
		return bad(c, off, "END", "section count or size does not match");
	uint64_t end = off + sizeof(struct ckpt_img_section) + size +
		       sizeof(struct ckpt_img_section_tail);
	if (end != file_size)
		return bad(c, off, "END", "bytes follow the END section");
	if (size == sizeof(*e)) {
		if (e->flags & ~CKPT_END_F_ORDER_CRC)
			return bad(c, off, "END", "unknown flags");
		if ((e->flags & CKPT_END_F_ORDER_CRC) && crc_differs(order_crc, e->order_crc32c))
			return bad(c, off, "END",
				   "section order checksum mismatch (sections reordered, dropped "
				   "or repeated)");
	}
	return 0;
}

/* Every section of one process read: what its format requires is there,
   descriptors lead to objects, VMAs and pages are in order. */
static int finish_proc(struct rs_ctx *c)
{
	for (size_t k = 0; k < NR_RULES; k++)
		if (rules[k].min && rules[k].type != CKPT_SEC_OBJ_BASE) {
			int have = rules[k].type == CKPT_SEC_PROC     ? !!c->proc
				   : rules[k].type == CKPT_SEC_THREAD ? c->nr_threads > 0
				   : rules[k].type == CKPT_SEC_VMAS   ? !!c->vmas
				   : rules[k].type == CKPT_SEC_PAGES  ? !!c->runs || c->pages_data_off
								      : 1;
			if (!have)
				return ckpt_fail(c->e, EBADMSG, "image %s: %s section missing",
						 c->label, rules[k].name);
		}
	const char *need = c->hdr->version >= 2 ? (!c->procx ? "PROCX" : !c->fdt_raw ? "FDS" : NULL)
						: (!c->files ? "FILES" : NULL);
	if (!need && c->procx && c->procx->nr_posix_timers != c->nr_ptimers)
		need = "TIMERS";
	if (need)
		return ckpt_fail(c->e, EBADMSG, "image %s: %s section missing (format %u)", c->label,
				 need, c->hdr->version);
	if (c->nr_threads != c->proc->nr_threads)
		return ckpt_fail(c->e, EBADMSG,
				 "image %s: %u THREAD sections, PROC says %u threads", c->label,
				 c->nr_threads, c->proc->nr_threads);
	int rc = rs_fd_finish_load(c);
	return rc ? rc : check_layout(c);
}

int rs_load_image(struct rs_ctx *c)
{
	if (c->image_fd < 0) {
		c->image_fd = open(c->label, O_RDONLY | O_CLOEXEC);
		if (c->image_fd < 0)
			return ckpt_fail_errno(c->e, errno, "open image %s", c->label);
	}
	struct stat st;
	if (fstat(c->image_fd, &st) < 0)
		return ckpt_fail_errno(c->e, errno, "stat image %s", c->label);
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		return ckpt_fail(c->e, EBADMSG, "%s is not a ckpt image (%s)", c->label,
				 S_ISREG(st.st_mode) ? "empty file" : "not a regular file");
	struct rs_map m = {NULL, (size_t)st.st_size};
	void *base = mmap(NULL, m.size, PROT_READ, MAP_SHARED, c->image_fd, 0);
	if (base == MAP_FAILED)
		return ckpt_fail_errno(c->e, errno, "mmap image %s", c->label);
	m.base = base;
	c->reader = base;
	c->image_size = m.size;
	madvise(base, m.size, MADV_SEQUENTIAL);
	int rc = check_header(c, &m);
	if (rc)
		return rc;
	uint64_t off = sizeof(struct ckpt_img_header), nsec = 0;
	uint32_t counts[NR_RULES] = {0}, order_crc = 0;
	size_t at_rule = 0; /* rules before this one are done */
	for (;;) {
		const uint64_t soff = off;
		const struct ckpt_img_section *s = (const void *)(m.base + off);
		if (sizeof(*s) > m.size - off)
			return bad(c, off, "?", "image is truncated (no END section)");
		struct ckpt_img_section sc = *s;
		sc.hdr_crc32c = 0;
		const char *name = rs_section_name(s->type);
		if (crc_differs(ckpt_crc32c(0, &sc, sizeof(sc)), s->hdr_crc32c))
			return bad(c, off, name, "header checksum mismatch");
		if ((s->size | s->pad) % 8) /* every struct in the image is 8-aligned */
			return bad(c, off, name, "size or padding is not a multiple of 8");
		if (s->pad > m.size - off - sizeof(*s))
			return bad(c, off, name, "image is truncated");
		uint64_t poff = off + sizeof(*s) + s->pad;
		if (s->size > m.size - poff ||
		    sizeof(struct ckpt_img_section_tail) > m.size - poff - s->size)
			return bad(c, off, name, "image is truncated");
		const unsigned char *p = m.base + poff;
		const struct ckpt_img_section_tail *t = (const void *)(p + s->size);
		int skip_crc = s->type == CKPT_SEC_PAGES &&
			       (c->flags & (CKPT_RS_NO_VERIFY | CKPT_RS__DEFER_PAGES_CRC));
		if (t->magic != CKPT_IMG_TAIL_MAGIC ||
		    (!skip_crc && crc_differs(ckpt_crc32c(0, p, s->size), t->crc32c)))
			return bad(c, off, name, "checksum mismatch");
		if (s->type == CKPT_SEC_END) {
			rc = take_end(c, p, s->size, off, nsec, order_crc, m.size);
			if (rc)
				return rc;
			break;
		}
		order_crc = ckpt_crc32c(order_crc, s, sizeof(*s));
		order_crc = ckpt_crc32c(order_crc, t, sizeof(*t));
		nsec++;
		off = poff + s->size + sizeof(*t);
		const struct rs_section_rule *r = rule_of(s->type);
		if (!r) {
			if (!(s->flags & CKPT_SEC_F_OPTIONAL))
				return bad(c, soff, name, "unknown section type not marked optional");
			continue;
		}
		size_t ri = (size_t)(r - rules);
		if (s->type == CKPT_SEC_PROC && counts[ri] && c->tasks) {
			/* the next process of a job */
			for (size_t k = ri; k < NR_RULES; k++)
				if (counts[k] < rules[k].min)
					return bad(c, soff, name, "a process before it is incomplete");
			rc = rs_job_next_proc(c, finish_proc);
			if (rc)
				return rc;
			for (size_t k = ri; k < NR_RULES; k++)
				counts[k] = 0;
			at_rule = ri;
		}
		if (ri < at_rule || counts[ri] >= r->max)
			return bad(c, soff, name,
				   "out of order or repeated (sections come in the order PROC, "
				   "THREAD (one per thread), VMAS, FILES, PAGES, END; format 2: OBJ_* "
				   "sections first, PROCX (and TIMERS) after PROC, FDS instead of FILES)");
		for (size_t k = at_rule; k < ri; k++)
			if (counts[k] < rules[k].min) {
				char what[96];
				snprintf(what, sizeof(what), "comes before the required %s section",
					 rules[k].name);
				return bad(c, soff, name, what);
			}
		at_rule = ri;
		if (s->size < r->min_size)
			return bad(c, soff, name, "payload too short");
		c->cur_sec_type = s->type;
		rc = r->take(c, p, s->size, soff, counts[ri]);
		if (rc)
			return rc;
		counts[ri]++;
		if (s->type == CKPT_SEC_PAGES && skip_crc && !(c->flags & CKPT_RS_NO_VERIFY))
			defer_pages_crc(c, p, s->size, soff, t->crc32c);
	}
	for (size_t k = 0; k < NR_RULES; k++)
		if (counts[k] < rules[k].min)
			return ckpt_fail(c->e, EBADMSG, "image %s: %s section missing", c->label,
					 rules[k].name);
	if (c->hdr->nr_processes > 1 && !c->tasks)
		return ckpt_fail(c->e, EBADMSG, "image %s: %u processes but no TREE section",
				 c->label, c->hdr->nr_processes);
	if (c->tasks)
		return rs_job_next_proc(c, finish_proc);
	return finish_proc(c);
}

void rs_close_image(struct rs_ctx *c)
{
	rs_job_close(c);
	if (c->reader)
		munmap(c->reader, c->image_size);
	c->reader = NULL;
	free(c->threads);
	free(c->vmas);
	rs_fd_close(c);
	free(c->files);
	c->threads = NULL;
	c->vmas = NULL;
	c->files = NULL;
	if (c->image_fd >= 0)
		close(c->image_fd);
	c->image_fd = -1;
}
