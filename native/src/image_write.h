/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Writing a v1 image (include/ckpt_image.h): the header, then sections of
 * struct ckpt_img_section + padding + payload + tail (payload crc32c).
 *
 * Atomic and durable by default (BLCR --atomic --sync): the image goes to a
 * temp file next to the destination, is fsynced, renamed over it, and the
 * directory is fsynced; a failure before imgw_commit() leaves any previous
 * image untouched. Writes are pipelined: the caller fills 4 MiB buffers
 * (imgw_payload, or imgw_reserve + imgw_commit_reserved to read memory
 * straight into them) while a writer thread writes full ones to the file.
 */
#ifndef CKPT_IMAGE_WRITE_H
#define CKPT_IMAGE_WRITE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt_image.h"
#include "err.h"

#define IMGW_BUFS 4
#define IMGW_BUF_SIZE (4u << 20)

struct imgw_buf {
	unsigned char *data;
	size_t len;
};

struct imgw {
	struct ckpt_err *e;
	uint32_t flags; /* CKPT_CP_* */
	const char *label; /* as the caller named it */
	char path[4096]; /* destination (absolute or as given) */
	char tmp[4096]; /* temp file while atomic; "" otherwise */
	int fd;
	int own_fd;

	uint64_t off; /* bytes handed to the writer so far */
	uint32_t nsec; /* sections ended */
	uint32_t order_crc; /* over section headers and tails: END's order_crc32c */
	int in_end; /* writing END (not part of order_crc) */
	uint32_t sec_crc;
	uint64_t sec_left; /* payload bytes the open section still expects */
	int in_section;

	/* pipeline: cur is filled by the caller; full ones queue for the writer */
	struct imgw_buf bufs[IMGW_BUFS];
	int cur;
	int queue[IMGW_BUFS], q_head, q_len;
	int free_list[IMGW_BUFS], nr_free;
	pthread_t thread;
	int thread_started;
	int stop;
	int werr; /* errno of the writer's first failure */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* of every byte handed to the writer, by the caller's thread: each byte
	   is checksummed once, for its section and the file (combined) */
	uint32_t file_crc;
	uint64_t written;
	int direct; /* the file is open with O_DIRECT (imgw_direct) */
};

/* Prepare the destination (temp file, or path/fd as asked) and the writer. */
int imgw_open(struct imgw *w, const char *path, int fd, uint32_t flags, struct ckpt_err *e);
/* Write the image past the page cache (O_DIRECT): memory is copied once,
   out of the target into the writer's buffers, and the disk takes it from
   there; through the page cache every byte is copied a second time, into
   fresh page cache pages (most of a checkpoint's CPU time), and 1 GiB of
   cache is pushed out for an image nobody reads soon. For every
   after-action, cont too: there the target waits until its memory is in
   the file (imgw_drain), which on these machines is sooner past the page
   cache than through it (docs/benchmarks.md, Whole jobs). Only for a file
   the writer made itself, synced; a file system that refuses O_DIRECT, and
   the unaligned tail of the image, are written through the page cache
   (the bytes are the same either way). CKPT_IMAGE_BUFFERED=1 in the
   environment keeps the page cache for every image: for a disk much
   slower than memory, where a --cont target would wait for the disk. */
void imgw_direct(struct imgw *w);
/* Fill the header's checksum and write it. */
int imgw_header(struct imgw *w, struct ckpt_img_header *h);
/* Open a section whose payload is exactly `size` bytes; page_align pads so
   the payload starts at a multiple of CKPT_IMG_PAGE_SIZE in the file. */
/* how: IMGW_PAGE_ALIGN (payload starts page-aligned), IMGW_OPTIONAL
   (CKPT_SEC_F_OPTIONAL: a reader that does not know the type may skip it) */
#define IMGW_PAGE_ALIGN 1
#define IMGW_OPTIONAL 2
int imgw_begin(struct imgw *w, uint32_t type, uint64_t size, int how);
int imgw_payload(struct imgw *w, const void *p, size_t n);
int imgw_zeros(struct imgw *w, size_t n);
/* Room for up to *n bytes of payload in the current buffer (at least one
   page); fill it, then imgw_commit_reserved() with what was filled. */
void *imgw_reserve(struct imgw *w, size_t *n);
int imgw_commit_reserved(struct imgw *w, size_t n);
int imgw_end(struct imgw *w);
/* Every byte so far handed to the kernel (written past the page cache, or
   into it): the target's memory is in the file and it may run again. */
int imgw_drain(struct imgw *w);
/* END section, drain, fsync (unless NOSYNC), backup, rename, fsync of the
   directory. Returns 0 and the size and crc of the whole file. */
int imgw_commit(struct imgw *w, uint64_t *bytes, uint32_t *crc);
/* Drop a failed image: the temp file goes, the destination is untouched. */
void imgw_abort(struct imgw *w);

#endif
