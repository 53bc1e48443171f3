// SPDX-License-Identifier: BSD-3-Clause
/* crc32c: known vectors, incremental use, hardware vs software agreement. */
#include "crc32c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

static uint32_t slow(const unsigned char *p, size_t n)
{
	uint32_t c = ~0u;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

int main(void)
{
	EXPECT(ckpt_crc32c(0, "123456789", 9) == 0xe3069283u, "check value %08x",
	       ckpt_crc32c(0, "123456789", 9));
	EXPECT(ckpt_crc32c(0, "", 0) == 0, "empty");
	size_t n = 3 * 8192 * 5 + 77;
	unsigned char *buf = malloc(n);
	srand(42);
	for (size_t i = 0; i < n; i++)
		buf[i] = rand();
	uint32_t ref = slow(buf, n);
	EXPECT(ckpt_crc32c(0, buf, n) == ref, "large buffer %08x vs %08x", ckpt_crc32c(0, buf, n), ref);
	uint32_t inc = 0;
	for (size_t off = 0; off < n;) {
		size_t k = (off * 7 + 1000) % 30000 + 1;
		if (k > n - off)
			k = n - off;
		inc = ckpt_crc32c(inc, buf + off, k);
		off += k;
	}
	EXPECT(inc == ref, "incremental %08x vs %08x", inc, ref);
	/* pieces checksummed separately, then combined in order */
	uint32_t comb = 0;
	for (size_t off = 0; off < n;) {
		size_t k = (off * 13 + 5000) % 70000 + 1;
		if (k > n - off)
			k = n - off;
		comb = ckpt_crc32c_combine(comb, ckpt_crc32c(0, buf + off, k), k);
		off += k;
	}
	EXPECT(comb == ref, "combined %08x vs %08x", comb, ref);
	EXPECT(ckpt_crc32c_combine(ref, 0, 0) == ref, "combine with an empty piece");
	free(buf);
	printf("crc32c: %s\n", fails ? "FAIL" : "PASS");
	return fails != 0;
}
