// SPDX-License-Identifier: BSD-3-Clause
/*
 * libFuzzer target: ckpt_inspect on any bytes (through /proc/self/fd), with
 * and without CKPT_IN_VERIFY. Besides ASan/UBSan it checks what inspect
 * promises: on success the JSON holds no control character (strings from the
 * image are sanitized), on failure the message is set and has none either.
 */
#include "ckpt.h"

#include <errno.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void no_controls(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("image", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	static char msg[CKPT_MSG_MAX];
	static char json[1 << 20];
	for (uint32_t flags = 0; flags <= CKPT_IN_VERIFY; flags += CKPT_IN_VERIFY) {
		msg[0] = '\0';
		size_t need = 0;
		int rc = ckpt_inspect(path, flags, json, sizeof(json), &need, msg, sizeof(msg));
		if (rc >= 0) {
			if ((size_t)rc != strlen(json))
				abort();
			no_controls(json);
		} else if (rc != -ENOSPC) {
			if (!msg[0])
				abort();
			no_controls(msg);
		}
	}
	close(fd);
	return 0;
}
