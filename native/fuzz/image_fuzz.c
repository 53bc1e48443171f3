// SPDX-License-Identifier: BSD-3-Clause
/*
 * libFuzzer target: the image reader (restore_image.c) as the restore helper
 * drives it, on any bytes: rs_load_image with the page data's checksum
 * deferred, then the deferred check (restore_fill.c), then close. Built with
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION so checksums do not hide the
 * parsing behind them; ASan and UBSan report what goes wrong.
 * Seeds: native/fuzz/corpus (made by tests/image_crafted_test --corpus).
 */
#include "ckpt.h"
#include "restore.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("image", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	static char msg[CKPT_MSG_MAX];
	struct ckpt_err e;
	ckpt_err_init(&e, msg, sizeof(msg));
	struct rs_ctx c;
	memset(&c, 0, sizeof(c));
	c.label = "fuzz";
	c.image_fd = fd;
	c.report_fd = -1;
	c.e = &e;
	c.flags = CKPT_RS__DEFER_PAGES_CRC;
	int rc = rs_load_image(&c);
	if (!rc) {
		/* what the restart reads next: every view the reader filled */
		for (uint32_t i = 0; i < c.nr_threads; i++)
			if (!c.threads[i].t || (c.threads[i].t->xstate_size && !c.threads[i].xstate))
				abort();
		for (uint32_t i = 0; i < c.nr_vmas; i++)
			if (strlen(c.vmas[i].name) >= CKPT_PATH_MAX)
				abort();
		for (uint32_t i = 0; i < c.nr_files; i++)
			if (strlen(c.files[i].path) >= CKPT_PATH_MAX)
				abort();
		rs_verify_pages_now(&c);
	}
	if (rc && e.code == 0)
		abort(); /* a refusal always says why */
	rs_close_image(&c);
	return 0;
}
