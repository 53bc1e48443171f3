// SPDX-License-Identifier: BSD-3-Clause
/*
 * The dumped pages into the restored process, from an mmap of the image.
 *
 * Private anonymous VMAs (nearly all of a process's data) are filled with
 * userfaultfd's UFFDIO_COPY: the kernel allocates each page and copies into
 * it, with no page fault per page and no zeroing of the fresh page first.
 * Writing through process_vm_writev faults every page in and zeroes it before
 * the copy, which on these VMs costs twice the time (docs/benchmarks.md).
 * A userfaultfd binds to the mm of the process that creates it, so it is
 * created by a syscall injected into the target, fetched with pidfd_getfd,
 * registered (MISSING mode) over those VMAs for the fill only, then
 * unregistered and closed in both processes before anything else happens to
 * the target. It is created with UFFD_USER_MODE_ONLY, which needs no
 * privilege; a kernel that refuses it, or CKPT_RESTORE_NO_UFFD=1 in the
 * environment, leaves every page to process_vm_writev.
 *
 * Everything else (private file mappings' dirty pages, shared anonymous
 * memory) goes through process_vm_writev in large batches. Pages of MAP_SHARED
 * file mappings are never written: the file holds them. The copy runs on up
 * to four threads (one per CPU), each through its own contiguous share.
 * Each piece is checksummed just before it is copied (the PAGES section's
 * checksum, which the loader leaves to this pass: docs/image-format.md); a
 * mismatch fails the restart before the process has run.
 */
#include "ckpt.h"
#include "restore.h"
#include "crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#define BATCH_IOV 512

struct uffd {
	int fd; /* ours, from pidfd_getfd; -1: not used */
	long target_fd; /* the same file in the target */
	unsigned char *reg; /* per VMA: registered for the fill */
};

/* Whose pages a VMA's runs are: how fill_range writes them. */
enum { DEST_PVW, DEST_UFFD, DEST_SKIP };

static int uffd_eligible(const struct ckpt_img_vma *v)
{
	if (v->flags & CKPT_VMA_F_SHARED)
		return 0;
	return v->kind == CKPT_VMA_ANON ||
	       (v->kind == CKPT_VMA_FILE && (v->flags & CKPT_VMA_F_DELETED)); /* mapped anon */
}

/*
 * Create, fetch and register the userfaultfd. Returns non-zero only when the
 * target itself failed (an injection error); every refusal of userfaultfd
 * just leaves u->fd at -1.
 */
static int uffd_setup(struct rs_ctx *c, struct uffd *u)
{
	u->fd = -1;
	u->target_fd = -1;
	u->reg = NULL;
	const char *off = getenv("CKPT_RESTORE_NO_UFFD");
	if (off && *off && strcmp(off, "0") != 0)
		return 0;
	int want = 0;
	for (uint32_t i = 0; i < c->nr_vmas && !want; i++)
		want = uffd_eligible(c->vmas[i].v);
	if (!want)
		return 0;
	long tfd = -1;
	int rc = rs_sys(c, c->pid, "userfaultfd", 0, &tfd, SYS_userfaultfd,
			O_CLOEXEC | UFFD_USER_MODE_ONLY, 0, 0, 0, 0, 0);
	if (rc || tfd < 0)
		return rc;
	u->target_fd = tfd;
	int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (pidfd >= 0) {
		u->fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)tfd, 0);
		close(pidfd);
	}
	struct uffdio_api api = {.api = UFFD_API, .features = 0};
	if (u->fd >= 0 && ioctl(u->fd, UFFDIO_API, &api) != 0) {
		close(u->fd);
		u->fd = -1;
	}
	if (u->fd >= 0)
		u->reg = calloc(c->nr_vmas, 1);
	if (!u->reg && u->fd >= 0) {
		close(u->fd);
		u->fd = -1;
	}
	for (uint32_t i = 0; u->fd >= 0 && i < c->nr_vmas; i++) {
		const struct ckpt_img_vma *v = c->vmas[i].v;
		if (!uffd_eligible(v))
			continue;
		struct uffdio_register r = {
			.range = {.start = v->start, .len = v->end - v->start},
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		u->reg[i] = ioctl(u->fd, UFFDIO_REGISTER, &r) == 0;
	}
	if (u->fd < 0) /* not usable: do not leave it in the target */
		rc = rs_sys(c, c->pid, "close userfaultfd", 1, NULL, SYS_close, tfd, 0, 0, 0, 0,
			    0);
	return rc;
}

/* Unregister and close; the target never runs with it. */
static int uffd_teardown(struct rs_ctx *c, struct uffd *u)
{
	int rc = 0;
	if (u->fd >= 0) {
		for (uint32_t i = 0; i < c->nr_vmas; i++) {
			if (!u->reg[i])
				continue;
			const struct ckpt_img_vma *v = c->vmas[i].v;
			struct uffdio_range r = {.start = v->start, .len = v->end - v->start};
			if (ioctl(u->fd, UFFDIO_UNREGISTER, &r) != 0 && !rc)
				rc = ckpt_fail_errno(c->e, errno,
						     "userfaultfd unregister 0x%llx-0x%llx",
						     (unsigned long long)v->start,
						     (unsigned long long)v->end);
		}
		close(u->fd);
		u->fd = -1;
		int rc2 = rs_sys(c, c->pid, "close userfaultfd", 1, NULL, SYS_close, u->target_fd,
				 0, 0, 0, 0, 0);
		if (!rc)
			rc = rc2;
	}
	free(u->reg);
	u->reg = NULL;
	return rc;
}

/*
 * The work, cut into chunks of CHUNK bytes (a cut may fall inside a run), the
 * unit of progress and of checksumming. Each worker takes a contiguous share
 * of the chunks and goes through it in order: one sequential stream per
 * worker keeps the kernel's readahead working when the image is not cached
 * (chunks handed out in turn from a shared counter measured twice as slow
 * from a cold cache).
 */
#define CHUNK (16u << 20)
struct chunk {
	uint64_t run, skip; /* first run, bytes of it before this chunk */
	uint64_t off; /* data offset of the chunk's first byte */
	uint32_t crc; /* of the chunk's data, when verifying */
};

struct fill {
	struct rs_ctx *c;
	const struct uffd *u;
	const unsigned char *data;
	int verify; /* checksum the data as it goes */
	struct chunk *chunks; /* nr_chunks + 1: the last one is the end */
	uint64_t nr_chunks;
	uint64_t total, done; /* page bytes; done: atomic */
	uint64_t reported; /* atomic */
	int failed; /* atomic: stop taking chunks */
};

struct worker {
	struct fill *f;
	uint64_t k0, k1; /* its chunks */
	struct rs_ctx c; /* own copy: own error message */
	struct ckpt_err e;
	char msg[RS_LINE_MAX];
	int rc;
};

/* Where run [addr, addr+len) goes. Runs come in address order (the loader
   checked that each lies inside one VMA), so *vi only moves forward. */
static int dest_of(const struct rs_ctx *c, const struct uffd *u, uint32_t *vi, uint64_t addr)
{
	while (*vi < c->nr_vmas && c->vmas[*vi].v->end <= addr)
		(*vi)++;
	if (*vi >= c->nr_vmas)
		return DEST_PVW;
	const struct ckpt_img_vma *v = c->vmas[*vi].v;
	if (v->kind == CKPT_VMA_FILE && (v->flags & CKPT_VMA_F_SHARED) &&
	    !(v->flags & CKPT_VMA_F_DELETED))
		return DEST_SKIP;
	return u->fd >= 0 && u->reg[*vi] ? DEST_UFFD : DEST_PVW;
}

static int uffd_copy(struct worker *w, uint64_t dst, const unsigned char *src, uint64_t len)
{
	int stalls = 0;
	while (len) {
		struct uffdio_copy uc = {
			.dst = dst,
			.src = (uint64_t)(uintptr_t)src,
			.len = len,
			.mode = 0,
		};
		int r = ioctl(w->f->u->fd, UFFDIO_COPY, &uc);
		int err = r == 0 ? 0 : uc.copy < 0 ? (int)-uc.copy : errno;
		if (r == 0)
			uc.copy = (int64_t)len;
		if (uc.copy > 0) {
			dst += (uint64_t)uc.copy;
			src += uc.copy;
			len -= (uint64_t)uc.copy;
			stalls = 0;
			continue;
		}
		if ((err == EAGAIN || err == EINTR) && ++stalls < 1000)
			continue;
		return ckpt_fail_errno(w->c.e, err, "userfaultfd copy of %llu bytes to 0x%llx",
				       (unsigned long long)len, (unsigned long long)dst);
	}
	return 0;
}

static int pvw_batch(struct worker *w, struct iovec *lv, struct iovec *rv, int n, size_t bytes)
{
	if (!n)
		return 0;
	ssize_t got = process_vm_writev(w->c.pid, lv, (unsigned long)n, rv, (unsigned long)n, 0);
	if (got == (ssize_t)bytes)
		return 0;
	/* partial or refused: finish this batch run by run, with fallback */
	for (int k = 0; k < n; k++) {
		int rc = rs_write_mem(&w->c, (uint64_t)(uintptr_t)rv[k].iov_base, lv[k].iov_base,
				      lv[k].iov_len);
		if (rc)
			return rc;
	}
	return 0;
}

/* One chunk: each piece checksummed (when verifying), then copied while it is
   still in the CPU's cache: uffd pieces at once, the rest in process_vm_writev
   batches. */
#define PIECE (1u << 20)
static int fill_chunk(struct worker *w, struct chunk *ch, const struct chunk *end)
{
	const struct rs_ctx *c = &w->c;
	const unsigned char *data = w->f->data;
	struct iovec lv[BATCH_IOV], rv[BATCH_IOV];
	int n = 0, rc = 0;
	size_t bytes = 0;
	uint32_t vi = 0, crc = 0;
	uint64_t off = ch->off, skip = ch->skip;
	for (uint64_t i = ch->run; i < c->nr_runs && off < end->off && !rc; i++, skip = 0) {
		uint64_t len = c->runs[i].nr_pages * CKPT_IMG_PAGE_SIZE - skip;
		if (len > end->off - off)
			len = end->off - off;
		uint64_t addr = c->runs[i].addr + skip;
		int dest = dest_of(c, w->f->u, &vi, addr);
		if (dest == DEST_UFFD) {
			for (uint64_t at = 0; at < len && !rc; at += PIECE) {
				uint64_t part = len - at < PIECE ? len - at : PIECE;
				if (w->f->verify)
					crc = ckpt_crc32c(crc, data + off + at, part);
				rc = uffd_copy(w, addr + at, data + off + at, part);
			}
		} else {
			if (w->f->verify)
				crc = ckpt_crc32c(crc, data + off, len);
			if (dest == DEST_PVW) {
				lv[n].iov_base = (void *)(data + off);
				lv[n].iov_len = len;
				rv[n].iov_base = (void *)(uintptr_t)addr;
				rv[n].iov_len = len;
				bytes += len;
				if (++n == BATCH_IOV) {
					rc = pvw_batch(w, lv, rv, n, bytes);
					n = 0;
					bytes = 0;
				}
			} /* DEST_SKIP: the file holds these pages: never write it */
		}
		off += len;
	}
	if (!rc)
		rc = pvw_batch(w, lv, rv, n, bytes);
	ch->crc = crc;
	return rc;
}

/* The image's page data, mapped read-only: every run's bytes, in table order. */
struct page_data {
	unsigned char *map;
	size_t map_len;
	const unsigned char *data;
	uint64_t total;
};

static int map_page_data(struct rs_ctx *c, struct page_data *pd)
{
	pd->total = 0;
	for (uint64_t i = 0; i < c->nr_runs; i++)
		pd->total += c->runs[i].nr_pages * CKPT_IMG_PAGE_SIZE;
	uint64_t map_off = c->pages_data_off & ~(uint64_t)(CKPT_IMG_PAGE_SIZE - 1);
	pd->map_len = (size_t)(c->pages_data_off - map_off + pd->total);
	pd->map = mmap(NULL, pd->map_len, PROT_READ, MAP_SHARED, c->image_fd, (off_t)map_off);
	if (pd->map == MAP_FAILED)
		return ckpt_fail_errno(c->e, errno, "mmap image %s pages", c->label);
	pd->data = pd->map + (c->pages_data_off - map_off);
	return 0;
}

static int crc_result(struct rs_ctx *c, uint32_t crc)
{
	crc = ckpt_crc32c_combine(crc, c->pages_tail_crc, c->pages_tail_len);
	if (crc != c->pages_crc)
		return ckpt_fail(c->e, EBADMSG, "image %s: section PAGES at offset %llu: checksum "
				 "mismatch",
				 c->label, (unsigned long long)c->pages_sec_off);
	return 0;
}

/* The page data's checksum, from the chunks', against the PAGES section's. */
static int check_crc(struct rs_ctx *c, const struct fill *f)
{
	if (!c->pages_crc_deferred)
		return 0;
	uint32_t crc = c->pages_head_crc;
	for (uint64_t k = 0; k < f->nr_chunks; k++)
		crc = ckpt_crc32c_combine(crc, f->chunks[k].crc,
					  f->chunks[k + 1].off - f->chunks[k].off);
	return crc_result(c, crc);
}

int rs_verify_pages_now(struct rs_ctx *c)
{
	if (!c->pages_crc_deferred)
		return 0;
	uint32_t crc = c->pages_head_crc;
	if (c->nr_runs) {
		struct page_data pd;
		int rc = map_page_data(c, &pd);
		if (rc)
			return rc;
		crc = ckpt_crc32c_combine(crc, ckpt_crc32c(0, pd.data, pd.total), pd.total);
		munmap(pd.map, pd.map_len);
	}
	return crc_result(c, crc);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct fill *f = w->f;
	for (uint64_t k = w->k0; k < w->k1; k++) {
		if (__atomic_load_n(&f->failed, __ATOMIC_RELAXED))
			break;
		w->rc = fill_chunk(w, &f->chunks[k], &f->chunks[k + 1]);
		if (w->rc) {
			__atomic_store_n(&f->failed, 1, __ATOMIC_RELAXED);
			break;
		}
		uint64_t len = f->chunks[k + 1].off - f->chunks[k].off;
		uint64_t done = __atomic_add_fetch(&f->done, len, __ATOMIC_RELAXED);
		uint64_t last = __atomic_load_n(&f->reported, __ATOMIC_RELAXED);
		if (done - last >= (32u << 20) &&
		    __atomic_compare_exchange_n(&f->reported, &last, done, 0, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			rs_progress(&w->c, done, f->total, CKPT_PHASE_RESTORE);
	}
	return NULL;
}

/* Cut the runs into chunks; data offsets are relative to the first run. */
static struct chunk *make_chunks(const struct rs_ctx *c, uint64_t total, uint64_t *nr)
{
	uint64_t cap = total / CHUNK + 2, n = 0, off = 0;
	struct chunk *ch = calloc(cap, sizeof(*ch));
	if (!ch)
		return NULL;
	ch[n++] = (struct chunk){.run = 0, .skip = 0, .off = 0};
	for (uint64_t i = 0; i < c->nr_runs; i++) {
		uint64_t len = c->runs[i].nr_pages * CKPT_IMG_PAGE_SIZE, at = 0;
		/* off: data offset of byte `at` of run i. Cut CHUNK after the last
		   cut while that falls strictly inside the rest of this run. */
		while (ch[n - 1].off + CHUNK < off + (len - at) && n < cap - 1) {
			uint64_t step = ch[n - 1].off + CHUNK - off;
			at += step;
			off += step;
			ch[n++] = (struct chunk){.run = i, .skip = at, .off = off};
		}
		off += len - at;
	}
	ch[n] = (struct chunk){.run = c->nr_runs, .skip = 0, .off = off};
	*nr = n;
	return ch;
}

int rs_fill_pages(struct rs_ctx *c)
{
	if (!c->nr_runs) {
		struct fill none = {.nr_chunks = 0};
		return check_crc(c, &none);
	}
	struct page_data pd;
	int rc = map_page_data(c, &pd);
	if (rc)
		return rc;
	uint64_t total = pd.total;
	struct fill f = {
		.c = c,
		.data = pd.data,
		.verify = c->pages_crc_deferred,
		.total = total,
	};
	f.chunks = make_chunks(c, total, &f.nr_chunks);
	if (!f.chunks) {
		munmap(pd.map, pd.map_len);
		return ckpt_fail(c->e, ENOMEM, "no memory for the page copy plan");
	}
	struct uffd u;
	rc = uffd_setup(c, &u);
	f.u = &u;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int nw = total <= CHUNK ? 1 : cpus < 2 ? 1 : cpus > 4 ? 4 : (int)cpus;
	struct worker w[4];
	pthread_t t[4];
	int started[4] = {0};
	for (int k = 0; k < nw && !rc; k++) {
		w[k].f = &f;
		w[k].k0 = f.nr_chunks * (uint64_t)k / (uint64_t)nw;
		w[k].k1 = f.nr_chunks * (uint64_t)(k + 1) / (uint64_t)nw;
		w[k].c = *c;
		ckpt_err_init(&w[k].e, w[k].msg, sizeof(w[k].msg));
		w[k].c.e = &w[k].e;
		w[k].rc = 0;
		if (k)
			started[k] = pthread_create(&t[k], NULL, worker_run, &w[k]) == 0;
	}
	if (!rc)
		worker_run(&w[0]);
	for (int k = 1; k < nw && !rc; k++) {
		if (started[k])
			pthread_join(t[k], NULL);
		else
			worker_run(&w[k]); /* no thread for it: its share here */
	}
	munmap(pd.map, pd.map_len);
	if (!rc)
		c->bytes_written = f.done;
	int rc2 = uffd_teardown(c, &u);
	for (int k = 0; k < nw && !rc; k++)
		if (w[k].rc)
			rc = ckpt_fail(c->e, -w[k].rc, "%s", w[k].msg);
	if (!rc)
		rc = check_crc(c, &f);
	free(f.chunks);
	return rc ? rc : rc2;
}
