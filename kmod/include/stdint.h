/* SPDX-License-Identifier: GPL-2.0 */
/*
 * native/include/ckpt_image.h (the image format, shared with libckpt)
 * includes <stdint.h>; in the kernel, linux/types.h has those types.
 */
#ifndef CKPT_KMOD_STDINT_H
#define CKPT_KMOD_STDINT_H
#include <linux/types.h>
#endif
