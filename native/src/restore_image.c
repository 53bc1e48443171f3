// SPDX-License-Identifier: BSD-3-Clause
/*
 * Reading an image (format v1, native/include/ckpt_image.h) for a restart:
 * the whole file is mapped read-only and checked before anything changes
 * (magic, version, header crc, every section's header crc, payload crc and
 * tail, bounds, END), then the views in struct rs_ctx point into the map.
 *
 * INTERIM: engineer N1 owns the image reader (native/src/image.[ch]); it had
 * not landed when the restart side needed one. Once it does, this file
 * becomes a thin adapter over it (see .helpers/README.md).
 */
#include "ckpt.h"
#include "crc32c.h"
#include "restore.h"
#include "fd.h"

#include <stdio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct rs_map {
	const unsigned char *base;
	size_t size;
};

const char *rs_section_name(uint32_t t)
{
	switch (t) {
	case CKPT_SEC_PROC: return "PROC";
	case CKPT_SEC_THREAD: return "THREAD";
	case CKPT_SEC_VMAS: return "VMAS";
	case CKPT_SEC_FILES: return "FILES";
	case CKPT_SEC_PAGES: return "PAGES";
	case CKPT_SEC_FDS: return "FDS";
	case CKPT_SEC_PROCX: return "PROCX";
	case CKPT_SEC_END: return "END";
	}
	if (t > CKPT_SEC_OBJ_BASE && t <= CKPT_SEC_OBJ_BASE + CKPT_OBJ_MAX) {
		static char names[CKPT_OBJ_MAX + 1][24];
		const struct fd_kind *k = fd_kind_of(t - CKPT_SEC_OBJ_BASE);
		if (k) {
			char *n = names[t - CKPT_SEC_OBJ_BASE];
			if (!n[0])
				snprintf(n, sizeof(names[0]), "OBJ_%s", k->name);
			return n;
		}
	}
	return "UNKNOWN";
}

static int bad(struct rs_ctx *c, uint64_t off, const char *sec, const char *what)
{
	return ckpt_fail(c->e, EBADMSG, "image %s: section %s at offset %llu: %s", c->label, sec,
			 (unsigned long long)off, what);
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
	if (h->header_size != sizeof(*h) || ckpt_crc32c(0, &copy, sizeof(copy)) != h->crc32c)
		return ckpt_fail(c->e, EBADMSG, "image %s: header at offset 0: checksum mismatch",
				 c->label);
	if (h->nr_processes != 1)
		return ckpt_fail(c->e, ENOTSUP,
				 "image %s holds %u processes; restart handles one process "
				 "(with all its threads) so far",
				 c->label, h->nr_processes);
	c->hdr = h;
	return 0;
}

/* Records of VMAS or FILES: fixed struct, then a NUL-terminated name. */
static int records(struct rs_ctx *c, const unsigned char *p, uint64_t size, size_t fixed,
		   uint64_t off, const char *sec, int is_vma)
{
	uint32_t n = 0;
	for (uint64_t at = 0; at < size; n++) {
		uint32_t rec = 0, nlen = 0;
		if (size - at < fixed)
			return bad(c, off, sec, "record cut short");
		if (is_vma) {
			const struct ckpt_img_vma *v = (const void *)(p + at);
			rec = v->rec_size;
			nlen = v->name_len;
		} else {
			const struct ckpt_img_file *f = (const void *)(p + at);
			rec = f->rec_size;
			nlen = f->path_len;
		}
		if (rec < fixed + nlen || rec > size - at || (nlen && p[at + fixed + nlen - 1]))
			return bad(c, off, sec, "malformed record");
		if (p) {
			if (is_vma && c->vmas) {
				c->vmas[n].v = (const void *)(p + at);
				c->vmas[n].name = nlen ? (const char *)(p + at + fixed) : "";
			} else if (!is_vma && c->files) {
				c->files[n].f = (const void *)(p + at);
				c->files[n].path = nlen ? (const char *)(p + at + fixed) : "";
			}
		}
		at += rec;
	}
	if (is_vma)
		c->nr_vmas = n;
	else
		c->nr_files = n;
	return 0;
}

static uint32_t h_version(const struct rs_ctx *c)
{
	return c->hdr->version;
}

static int take_section(struct rs_ctx *c, uint32_t type, const unsigned char *p, uint64_t size,
			uint64_t off, uint32_t *nthr)
{
	const char *sec = rs_section_name(type);
	switch (type) {
	case CKPT_SEC_PROC:
		if (size < sizeof(struct ckpt_img_proc) || c->proc)
			return bad(c, off, sec, "wrong size or repeated");
		c->proc = (const void *)p;
		if ((size - sizeof(struct ckpt_img_proc)) / sizeof(struct ckpt_img_siginfo) <
		    c->proc->pending_shared_count)
			return bad(c, off, sec, "pending signals cut short");
		c->shared_pending = (const void *)(p + sizeof(struct ckpt_img_proc));
		if (!c->proc->nr_threads || c->proc->nr_threads > 4096)
			return bad(c, off, sec, "thread count out of range");
		c->threads = calloc(c->proc->nr_threads, sizeof(*c->threads));
		return c->threads ? 0 : ckpt_fail(c->e, ENOMEM, "no memory");
	case CKPT_SEC_THREAD: {
		if (!c->proc || *nthr >= c->proc->nr_threads || size < sizeof(struct ckpt_img_thread))
			return bad(c, off, sec, "unexpected thread");
		const struct ckpt_img_thread *t = (const void *)p;
		uint64_t xs = ((uint64_t)t->xstate_size + 7) & ~7ull;
		if (sizeof(*t) + xs + (uint64_t)t->pending_count * 128 > size)
			return bad(c, off, sec, "xstate or pending signals cut short");
		struct rs_thread *rt = &c->threads[(*nthr)++];
		rt->t = t;
		rt->xstate = p + sizeof(*t);
		rt->pending = (const void *)(p + sizeof(*t) + xs);
		return 0;
	}
	case CKPT_SEC_VMAS:
		records(c, p, size, sizeof(struct ckpt_img_vma), off, sec, 1);
		c->vmas = calloc(c->nr_vmas + 1, sizeof(*c->vmas));
		if (!c->vmas)
			return ckpt_fail(c->e, ENOMEM, "no memory");
		return records(c, p, size, sizeof(struct ckpt_img_vma), off, sec, 1);
	case CKPT_SEC_PROCX:
		if (h_version(c) < 2 || size < sizeof(struct ckpt_img_procx) || c->procx || !c->proc)
			return bad(c, off, sec, "wrong size, repeated or out of place");
		c->procx = (const void *)p;
		return 0;
	case CKPT_SEC_FILES:
		if (h_version(c) >= 2)
			return bad(c, off, sec, "FILES in a version 2 image (FDS replaced it)");
		records(c, p, size, sizeof(struct ckpt_img_file), off, sec, 0);
		c->files = calloc(c->nr_files + 1, sizeof(*c->files));
		if (!c->files)
			return ckpt_fail(c->e, ENOMEM, "no memory");
		return records(c, p, size, sizeof(struct ckpt_img_file), off, sec, 0);
	case CKPT_SEC_PAGES: {
		const struct ckpt_img_pages_head *h = (const void *)p;
		if (size < sizeof(*h) || h->nr_runs > (size - sizeof(*h)) / 16 ||
		    h->data_offset > size ||
		    h->nr_pages > (size - h->data_offset) / CKPT_IMG_PAGE_SIZE)
			return bad(c, off, sec, "page table does not fit");
		c->runs = (const void *)(p + sizeof(*h));
		c->nr_runs = h->nr_runs;
		uint64_t pages = 0;
		for (uint64_t i = 0; i < h->nr_runs; i++)
			pages += c->runs[i].nr_pages;
		if (pages != h->nr_pages)
			return bad(c, off, sec, "page runs do not add up");
		c->pages_data_off = (uint64_t)(p - (const unsigned char *)c->hdr) + h->data_offset;
		return 0;
	}
	}
	int known;
	int rc = rs_fd_take_section(c, type, p, size, off, &known);
	return rc;
}

/* The PAGES section's bytes before and after the page data; the data itself
   is checked by rs_fill_pages as it is copied. */
static void defer_pages_crc(struct rs_ctx *c, const unsigned char *p, uint64_t size,
			    uint64_t sec_off, uint32_t crc)
{
	const struct ckpt_img_pages_head *h = (const void *)p;
	uint64_t data = h->nr_pages * CKPT_IMG_PAGE_SIZE; /* fits: take_section checked */
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
	uint64_t off = sizeof(struct ckpt_img_header), nsec = 0;
	uint32_t nthr = 0;
	int ended = 0;
	while (!rc && !ended) {
		const struct ckpt_img_section *s = (const void *)(m.base + off);
		if (off + sizeof(*s) > m.size)
			return bad(c, off, "?", "image is truncated (no END section)");
		struct ckpt_img_section sc = *s;
		sc.hdr_crc32c = 0;
		const char *name = rs_section_name(s->type);
		if (ckpt_crc32c(0, &sc, sizeof(sc)) != s->hdr_crc32c)
			return bad(c, off, name, "header checksum mismatch");
		uint64_t poff = off + sizeof(*s) + s->pad;
		if (poff > m.size || s->size > m.size - poff ||
		    sizeof(struct ckpt_img_section_tail) > m.size - poff - s->size)
			return bad(c, off, name, "image is truncated");
		const unsigned char *p = m.base + poff;
		const struct ckpt_img_section_tail *t = (const void *)(p + s->size);
		int skip_crc = s->type == CKPT_SEC_PAGES &&
			       (c->flags & (CKPT_RS_NO_VERIFY | CKPT_RS__DEFER_PAGES_CRC));
		if (t->magic != CKPT_IMG_TAIL_MAGIC ||
		    (!skip_crc && ckpt_crc32c(0, p, s->size) != t->crc32c))
			return bad(c, off, name, "checksum mismatch");
		if (s->type == CKPT_SEC_END) {
			const struct ckpt_img_end *e = (const void *)p;
			if (s->size < sizeof(*e) || e->nr_sections != nsec || e->image_bytes != off)
				return bad(c, off, name, "section count or size does not match");
			ended = 1;
		} else if (!strcmp(name, "UNKNOWN") && !(s->flags & CKPT_SEC_F_OPTIONAL)) {
			return bad(c, off, name, "unknown section type not marked optional");
		} else {
			rc = take_section(c, s->type, p, s->size, off, &nthr);
			if (!rc && s->type == CKPT_SEC_PAGES && skip_crc &&
			    !(c->flags & CKPT_RS_NO_VERIFY))
				defer_pages_crc(c, p, s->size, off, t->crc32c);
		}
		nsec++;
		off = poff + s->size + sizeof(*t);
	}
	if (rc)
		return rc;
	if (!c->proc || nthr != c->proc->nr_threads || !c->vmas)
		return ckpt_fail(c->e, EBADMSG, "image %s: PROC, THREAD or VMAS section missing",
				 c->label);
	c->nr_threads = nthr;
	rc = rs_fd_finish_load(c);
	return rc ? rc : check_layout(c);
}

void rs_close_image(struct rs_ctx *c)
{
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
