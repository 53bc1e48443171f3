// SPDX-License-Identifier: BSD-3-Clause
/* CRC-32C: hardware path (SSE4.2 crc32 instruction, three interleaved
 * streams merged with a shift table) and a table-driven fallback. */
#include "crc32c.h"

#include <cpuid.h>
#include <pthread.h>
#include <string.h>

#define POLY 0x82f63b78u /* reflected Castagnoli */

static uint32_t table[8][256];
static int have_sse42;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
	unsigned a, b, c, d;
	if (__get_cpuid(1, &a, &b, &c, &d))
		have_sse42 = !!(c & bit_SSE4_2);
}

static uint32_t crc_sw(uint32_t crc, const unsigned char *p, size_t len)
{
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		v ^= crc;
		crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^ table[5][(v >> 16) & 0xff] ^
		      table[4][(v >> 24) & 0xff] ^ table[3][(v >> 32) & 0xff] ^
		      table[2][(v >> 40) & 0xff] ^ table[1][(v >> 48) & 0xff] ^
		      table[0][(v >> 56) & 0xff];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

/* Multiply a crc by x^(8*n) mod P: used to merge interleaved streams. */
static uint32_t gf2_mul(uint32_t a, uint32_t b)
{
	uint32_t r = 0;
	for (int i = 0; i < 32; i++) {
		if (b & 0x80000000u)
			r ^= a;
		b <<= 1;
		a = a & 1 ? (a >> 1) ^ POLY : a >> 1;
	}
	return r;
}

static uint32_t xpow8n(size_t n) /* x^(8n) mod P, reflected */
{
	uint32_t r = 0x80000000u, x = 0x00800000u; /* x^0, x^8 */
	while (n) {
		if (n & 1)
			r = gf2_mul(r, x);
		x = gf2_mul(x, x);
		n >>= 1;
	}
	return r;
}

#define BLK 8192 /* bytes per stream per round */
static uint32_t shift_blk; /* x^(8*BLK) */
static pthread_once_t once_hw = PTHREAD_ONCE_INIT;
static void init_hw(void) { shift_blk = xpow8n(BLK); }

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p,
							   size_t len)
{
	uint64_t c0 = crc;
	if (len >= 3 * BLK) {
		pthread_once(&once_hw, init_hw);
		while (len >= 3 * BLK) {
			uint64_t c1 = 0, c2 = 0;
			const unsigned char *p1 = p + BLK, *p2 = p + 2 * BLK;
			for (size_t i = 0; i < BLK; i += 8) {
				uint64_t v0, v1, v2;
				memcpy(&v0, p + i, 8);
				memcpy(&v1, p1 + i, 8);
				memcpy(&v2, p2 + i, 8);
				c0 = __builtin_ia32_crc32di(c0, v0);
				c1 = __builtin_ia32_crc32di(c1, v1);
				c2 = __builtin_ia32_crc32di(c2, v2);
			}
			/* crc(A||B||C) = shift(shift(cA) ^ cB) ^ cC with zero-initialised B, C */
			c0 = gf2_mul((uint32_t)c0, shift_blk) ^ (uint32_t)c1;
			c0 = gf2_mul((uint32_t)c0, shift_blk) ^ (uint32_t)c2;
			p += 3 * BLK;
			len -= 3 * BLK;
		}
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c0 = __builtin_ia32_crc32di(c0, v);
		p += 8;
		len -= 8;
	}
	uint32_t c = (uint32_t)c0;
	while (len--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}

uint32_t ckpt_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&once, init);
	crc = ~crc;
	crc = have_sse42 ? crc_hw(crc, buf, len) : crc_sw(crc, buf, len);
	return ~crc;
}

uint32_t ckpt_crc32c_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b)
{
	pthread_once(&once, init);
	return gf2_mul(crc_a, xpow8n(len_b)) ^ crc_b;
}
