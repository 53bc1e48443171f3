/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test support: write the snapshot of restore_snapshot.h as a v1 image
 * (include/ckpt_image.h), the restart side's reading of the format: header
 * crc over the header with its crc field zero, per section a header crc, the
 * payload (PAGES page-aligned in the file) and a tail with the payload crc.
 */
#ifndef CKPT_TEST_RESTORE_IMGWRITER_H
#define CKPT_TEST_RESTORE_IMGWRITER_H

#include "restore_snapshot.h"

/* ---- writing a v1 image ---------------------------------------------------- */

struct writer {
	int fd;
	uint64_t off;
	uint32_t nsec;
	uint32_t crc;
	uint32_t order_crc; /* END's checksum over section headers and tails */
};

static void put(struct writer *w, const void *p, size_t n)
{
	if (pwrite(w->fd, p, n, (off_t)w->off) != (ssize_t)n)
		fails++;
	w->off += n;
}

static void payload(struct writer *w, const void *p, size_t n)
{
	w->crc = ckpt_crc32c(w->crc, p, n);
	put(w, p, n);
}

static void begin(struct writer *w, uint32_t type, uint64_t size, int page_align)
{
	struct ckpt_img_section s = {.type = type, .size = size};
	if (page_align)
		s.pad = (uint32_t)((4096 - (w->off + sizeof(s)) % 4096) % 4096);
	s.hdr_crc32c = ckpt_crc32c(0, &s, sizeof(s));
	if (type != CKPT_SEC_END)
		w->order_crc = ckpt_crc32c(w->order_crc, &s, sizeof(s));
	put(w, &s, sizeof(s));
	static const char zero[4096];
	put(w, zero, s.pad);
	w->crc = 0;
}

static void end(struct writer *w)
{
	struct ckpt_img_section_tail t = {w->crc, CKPT_IMG_TAIL_MAGIC};
	w->order_crc = ckpt_crc32c(w->order_crc, &t, sizeof(t));
	put(w, &t, sizeof(t));
	w->nsec++;
}

static void record(struct writer *w, void *fixed, size_t fsize, uint32_t *rec, uint32_t *len,
		   const char *name, int emit)
{
	*len = (uint32_t)strlen(name) + 1;
	*rec = (uint32_t)((fsize + *len + 7) & ~7ul);
	if (!emit)
		return;
	static const char zero[8];
	payload(w, fixed, fsize);
	payload(w, name, *len);
	payload(w, zero, *rec - fsize - *len);
}

static uint64_t records_size(struct rs_ctx *c, int vmas, struct writer *w, int emit)
{
	uint64_t total = 0;
	uint32_t n = vmas ? c->nr_vmas : c->nr_files;
	for (uint32_t i = 0; i < n; i++) {
		if (vmas) {
			struct ckpt_img_vma v = *c->vmas[i].v;
			record(w, &v, sizeof(v), &v.rec_size, &v.name_len, c->vmas[i].name, emit);
			total += v.rec_size;
		} else {
			struct ckpt_img_file f = *c->files[i].f;
			record(w, &f, sizeof(f), &f.rec_size, &f.path_len, c->files[i].path, emit);
			total += f.rec_size;
		}
	}
	return total;
}

static void write_image(const char *path, struct rs_ctx *c, int pagesfd)
{
	struct writer w = {.fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)};
	struct ckpt_img_header h = {.magic = CKPT_IMG_MAGIC, .version = 1 /* the v1 layout: restarts still read it */,
				    .header_size = sizeof(h), .nr_processes = 1};
	struct utsname u;
	uname(&u);
	snprintf(h.kernel_release, sizeof(h.kernel_release), "%s", u.release);
	memcpy(h.machine, u.machine, strnlen(u.machine, sizeof(h.machine) - 1));
	unsigned a, b, cx, d;
	__cpuid(1, a, b, cx, d);
	h.cpuid_1_ecx = cx;
	h.cpuid_1_edx = d;
	__cpuid_count(7, 0, a, b, cx, d);
	h.cpuid_7_ebx = b;
	h.cpuid_7_ecx = cx;
	h.cpuid_7_edx = d;
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	h.xcr0 = ((uint64_t)hi << 32) | lo;
	h.xstate_size = c->threads[0].t->xstate_size;
	h.root_pid = c->proc->pid;
	h.crc32c = ckpt_crc32c(0, &h, sizeof(h));
	put(&w, &h, sizeof(h));

	uint64_t np = c->proc->pending_shared_count;
	begin(&w, CKPT_SEC_PROC, sizeof(*c->proc) + np * 128, 0);
	payload(&w, c->proc, sizeof(*c->proc));
	payload(&w, c->shared_pending, np * 128);
	end(&w);
	for (uint32_t i = 0; i < c->nr_threads; i++) {
		const struct ckpt_img_thread *t = c->threads[i].t;
		uint64_t xs = (t->xstate_size + 7ul) & ~7ul;
		begin(&w, CKPT_SEC_THREAD, sizeof(*t) + xs + t->pending_count * 128ul, 0);
		payload(&w, t, sizeof(*t));
		payload(&w, c->threads[i].xstate, t->xstate_size);
		static const char zero[8];
		payload(&w, zero, xs - t->xstate_size);
		payload(&w, c->threads[i].pending, t->pending_count * 128ul);
		end(&w);
	}
	begin(&w, CKPT_SEC_VMAS, records_size(c, 1, &w, 0), 0);
	records_size(c, 1, &w, 1);
	end(&w);
	begin(&w, CKPT_SEC_FILES, records_size(c, 0, &w, 0), 0);
	records_size(c, 0, &w, 1);
	end(&w);
	struct ckpt_img_pages_head ph = {.nr_runs = c->nr_runs};
	for (uint64_t i = 0; i < c->nr_runs; i++)
		ph.nr_pages += c->runs[i].nr_pages;
	ph.data_offset = (sizeof(ph) + c->nr_runs * 16 + 4095) & ~4095ul;
	begin(&w, CKPT_SEC_PAGES, ph.data_offset + ph.nr_pages * 4096, 1);
	payload(&w, &ph, sizeof(ph));
	payload(&w, c->runs, c->nr_runs * 16);
	static char buf[1 << 20];
	memset(buf, 0, 4096);
	payload(&w, buf, ph.data_offset - sizeof(ph) - c->nr_runs * 16);
	for (uint64_t done = 0; done < ph.nr_pages * 4096;) {
		uint64_t n = ph.nr_pages * 4096 - done;
		n = n < sizeof(buf) ? n : sizeof(buf);
		if (pread(pagesfd, buf, n, (off_t)done) != (ssize_t)n)
			fails++;
		payload(&w, buf, n);
		done += n;
	}
	end(&w);
	struct ckpt_img_end e = {.nr_sections = w.nsec, .image_bytes = w.off,
				 .order_crc32c = w.order_crc, .flags = CKPT_END_F_ORDER_CRC};
	begin(&w, CKPT_SEC_END, sizeof(e), 0);
	payload(&w, &e, sizeof(e));
	end(&w);
	close(w.fd);
}

#endif
