/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef CKPT_CRC32C_H
#define CKPT_CRC32C_H
#include <stddef.h>
#include <stdint.h>
/* CRC-32C (Castagnoli), as in iSCSI/ext4: crc32c(0, "123456789", 9) == 0xe3069283.
 * Incremental: pass the previous return value as crc. Uses SSE4.2 when present. */
uint32_t ckpt_crc32c(uint32_t crc, const void *buf, size_t len);
#endif
