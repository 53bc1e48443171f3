/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef CKPT_CRC32C_H
#define CKPT_CRC32C_H
#include <stddef.h>
#include <stdint.h>
/* CRC-32C (Castagnoli), as in iSCSI/ext4: crc32c(0, "123456789", 9) == 0xe3069283.
 * Incremental: pass the previous return value as crc. Uses SSE4.2 when present. */
uint32_t ckpt_crc32c(uint32_t crc, const void *buf, size_t len);
/* The crc of A||B from crc(A), crc(B) and B's length (each computed from 0):
 * lets pieces of one checksummed range be verified in parallel. */
uint32_t ckpt_crc32c_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b);
#endif
