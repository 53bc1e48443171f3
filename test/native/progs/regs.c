/* Integer, x87, SSE and AVX registers hold test patterns across a
   checkpoint: loaded once, then a spin loop that touches none of them
   until SIGUSR1, then stored and compared. AVX-512 state is not checked
   yet: the program says so ("skipped: ...") on every CPU. */
#include "zdtm.h"
#include <cpuid.h>
#include <stdint.h>

static volatile sig_atomic_t *stopp = &zdtm_go;

int main(void)
{
	zdtm_init();
	unsigned a, b, c, d;
	__cpuid_count(7, 0, a, b, c, d);
	int avx512 = !!(b & (1u << 16));
	__attribute__((aligned(32))) uint8_t pat[8][32], out[8][32];
	double fpat[8], fout[8];
	uint64_t ipat[4] = {0x1111222233334444ull, 0x5555666677778888ull, 0x9999aaaabbbbccccull,
			    0xddddeeeeffff0001ull},
		 iout[4];
	for (int r = 0; r < 8; r++) {
		for (int i = 0; i < 32; i++)
			pat[r][i] = (uint8_t)(r * 37 + i * 11 + 1);
		fpat[r] = 1.5 + r * 3.25;
	}
	zdtm_ready();
	__asm__ volatile(
		"vmovdqu 0(%[p]), %%ymm8\n\t"
		"vmovdqu 32(%[p]), %%ymm9\n\t"
		"vmovdqu 64(%[p]), %%ymm10\n\t"
		"vmovdqu 96(%[p]), %%ymm11\n\t"
		"vmovdqu 128(%[p]), %%ymm12\n\t"
		"vmovdqu 160(%[p]), %%ymm13\n\t"
		"vmovdqu 192(%[p]), %%ymm14\n\t"
		"vmovdqu 224(%[p]), %%ymm15\n\t"
		"fninit\n\t"
		"fldl 56(%[f])\n\tfldl 48(%[f])\n\tfldl 40(%[f])\n\tfldl 32(%[f])\n\t"
		"fldl 24(%[f])\n\tfldl 16(%[f])\n\tfldl 8(%[f])\n\tfldl 0(%[f])\n\t"
		"mov 0(%[i]), %%r12\n\tmov 8(%[i]), %%r13\n\tmov 16(%[i]), %%r14\n\tmov 24(%[i]), %%r15\n\t"
		"1:\n\t"
		"cmpl $0, (%[s])\n\t"
		"jne 2f\n\t"
		"pause\n\t"
		"jmp 1b\n\t"
		"2:\n\t"
		"vmovdqu %%ymm8, 0(%[o])\n\t"
		"vmovdqu %%ymm9, 32(%[o])\n\t"
		"vmovdqu %%ymm10, 64(%[o])\n\t"
		"vmovdqu %%ymm11, 96(%[o])\n\t"
		"vmovdqu %%ymm12, 128(%[o])\n\t"
		"vmovdqu %%ymm13, 160(%[o])\n\t"
		"vmovdqu %%ymm14, 192(%[o])\n\t"
		"vmovdqu %%ymm15, 224(%[o])\n\t"
		"fstpl 0(%[fo])\n\tfstpl 8(%[fo])\n\tfstpl 16(%[fo])\n\tfstpl 24(%[fo])\n\t"
		"fstpl 32(%[fo])\n\tfstpl 40(%[fo])\n\tfstpl 48(%[fo])\n\tfstpl 56(%[fo])\n\t"
		"mov %%r12, 0(%[io])\n\tmov %%r13, 8(%[io])\n\tmov %%r14, 16(%[io])\n\tmov %%r15, 24(%[io])\n\t"
		"vzeroupper\n\t"
		:
		: [p] "r"(pat), [f] "r"(fpat), [i] "r"(ipat), [s] "r"(stopp), [o] "r"(out),
		  [fo] "r"(fout), [io] "r"(iout)
		: "memory", "r12", "r13", "r14", "r15", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
		  "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)",
		  "st(6)", "st(7)");
	for (int r = 0; r < 8; r++) {
		ZDTM_CHECK(!memcmp(pat[r], out[r], 16), "xmm%d (SSE) differs", 8 + r);
		ZDTM_CHECK(!memcmp(pat[r] + 16, out[r] + 16, 16), "ymm%d upper half (AVX) differs",
			   8 + r);
		ZDTM_CHECK(fpat[r] == fout[r], "st(%d) (x87) is %g, want %g", r, fout[r], fpat[r]);
	}
	for (int r = 0; r < 4; r++)
		ZDTM_CHECK(ipat[r] == iout[r], "r%d is %#llx", 12 + r, (unsigned long long)iout[r]);
	if (!avx512)
		printf("skipped: no AVX-512 on this CPU\n");
	else
		printf("skipped: AVX-512 registers (zmm upper halves, zmm16-31, k0-7) are not "
		       "checked yet\n");
	return zdtm_done();
}
