/* 256 MiB of heap and 64 MiB of mmap'd data with a pseudo-random pattern,
   checksummed before the checkpoint and verified after the restart. */
#include "zdtm.h"
#include <stdint.h>
#include <sys/mman.h>

static uint64_t fill(uint64_t *p, size_t words, uint64_t seed)
{
	uint64_t x = seed, sum = 0;
	for (size_t i = 0; i < words; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
		sum = sum * 31 + x;
	}
	return sum;
}

static uint64_t sum_of(const uint64_t *p, size_t words)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < words; i++)
		sum = sum * 31 + p[i];
	return sum;
}

int main(int argc, char **argv)
{
	zdtm_init();
	size_t heap = (size_t)(argc > 1 ? atol(argv[1]) : 256) << 20, map = 64u << 20;
	uint64_t *h = malloc(heap);
	uint64_t *m = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!h || m == MAP_FAILED)
		return 2;
	uint64_t hs = fill(h, heap / 8, 88172645463325252ull);
	uint64_t ms = fill(m, map / 8, 1234567ull);
	zdtm_ready();
	zdtm_wait();
	ZDTM_CHECK(sum_of(h, heap / 8) == hs, "heap checksum differs");
	ZDTM_CHECK(sum_of(m, map / 8) == ms, "mmap checksum differs");
	return zdtm_done();
}
