/* Integer, x87, SSE, AVX and AVX-512 registers hold test patterns across a
   checkpoint: loaded once, then a spin loop that touches none of them
   until SIGUSR1, then stored and compared. AVX-512 (the upper half of zmm7,
   zmm16-31 and the k0-7 masks) only where the CPU and the kernel enable it;
   elsewhere the program says "skipped: ...". */
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
	__cpuid(1, a, b, c, d);
	if (avx512 && (c & (1u << 27))) { /* OSXSAVE: is the state enabled in XCR0? */
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		avx512 = (lo & 0xe6) == 0xe6; /* SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM */
	} else {
		avx512 = 0;
	}
	/* zmm7, zmm16..zmm31 patterns, then their copies; k0-7 patterns, copies */
	struct {
		uint8_t zpat[17][64], zout[17][64];
		uint16_t kpat[8], kout[8];
	} __attribute__((aligned(64))) z;
	for (int r = 0; r < 17; r++)
		for (int i = 0; i < 64; i++)
			z.zpat[r][i] = (uint8_t)(r * 53 + i * 7 + 3);
	for (int r = 0; r < 8; r++)
		z.kpat[r] = (uint16_t)(0x1234 * (r + 1) ^ 0xa5a5);
	memset(z.zout, 0, sizeof(z.zout));
	memset(z.kout, 0, sizeof(z.kout));
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
		"cmpl $0, %[a5]\n\t"
		"je 1f\n\t"
		"vmovdqu64 0(%[z]), %%zmm7\n\t"
		"vmovdqu64 64(%[z]), %%zmm16\n\t"
		"vmovdqu64 128(%[z]), %%zmm17\n\t"
		"vmovdqu64 192(%[z]), %%zmm18\n\t"
		"vmovdqu64 256(%[z]), %%zmm19\n\t"
		"vmovdqu64 320(%[z]), %%zmm20\n\t"
		"vmovdqu64 384(%[z]), %%zmm21\n\t"
		"vmovdqu64 448(%[z]), %%zmm22\n\t"
		"vmovdqu64 512(%[z]), %%zmm23\n\t"
		"vmovdqu64 576(%[z]), %%zmm24\n\t"
		"vmovdqu64 640(%[z]), %%zmm25\n\t"
		"vmovdqu64 704(%[z]), %%zmm26\n\t"
		"vmovdqu64 768(%[z]), %%zmm27\n\t"
		"vmovdqu64 832(%[z]), %%zmm28\n\t"
		"vmovdqu64 896(%[z]), %%zmm29\n\t"
		"vmovdqu64 960(%[z]), %%zmm30\n\t"
		"vmovdqu64 1024(%[z]), %%zmm31\n\t"
		"kmovw 2176(%[z]), %%k0\n\t"
		"kmovw 2178(%[z]), %%k1\n\t"
		"kmovw 2180(%[z]), %%k2\n\t"
		"kmovw 2182(%[z]), %%k3\n\t"
		"kmovw 2184(%[z]), %%k4\n\t"
		"kmovw 2186(%[z]), %%k5\n\t"
		"kmovw 2188(%[z]), %%k6\n\t"
		"kmovw 2190(%[z]), %%k7\n\t"
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
		"cmpl $0, %[a5]\n\t"
		"je 3f\n\t"
		"vmovdqu64 %%zmm7, 1088(%[z])\n\t"
		"vmovdqu64 %%zmm16, 1152(%[z])\n\t"
		"vmovdqu64 %%zmm17, 1216(%[z])\n\t"
		"vmovdqu64 %%zmm18, 1280(%[z])\n\t"
		"vmovdqu64 %%zmm19, 1344(%[z])\n\t"
		"vmovdqu64 %%zmm20, 1408(%[z])\n\t"
		"vmovdqu64 %%zmm21, 1472(%[z])\n\t"
		"vmovdqu64 %%zmm22, 1536(%[z])\n\t"
		"vmovdqu64 %%zmm23, 1600(%[z])\n\t"
		"vmovdqu64 %%zmm24, 1664(%[z])\n\t"
		"vmovdqu64 %%zmm25, 1728(%[z])\n\t"
		"vmovdqu64 %%zmm26, 1792(%[z])\n\t"
		"vmovdqu64 %%zmm27, 1856(%[z])\n\t"
		"vmovdqu64 %%zmm28, 1920(%[z])\n\t"
		"vmovdqu64 %%zmm29, 1984(%[z])\n\t"
		"vmovdqu64 %%zmm30, 2048(%[z])\n\t"
		"vmovdqu64 %%zmm31, 2112(%[z])\n\t"
		"kmovw %%k0, 2192(%[z])\n\t"
		"kmovw %%k1, 2194(%[z])\n\t"
		"kmovw %%k2, 2196(%[z])\n\t"
		"kmovw %%k3, 2198(%[z])\n\t"
		"kmovw %%k4, 2200(%[z])\n\t"
		"kmovw %%k5, 2202(%[z])\n\t"
		"kmovw %%k6, 2204(%[z])\n\t"
		"kmovw %%k7, 2206(%[z])\n\t"
		"3:\n\t"
		"vzeroupper\n\t"
		:
		: [p] "r"(pat), [f] "r"(fpat), [i] "r"(ipat), [s] "r"(stopp), [o] "r"(out),
		  [fo] "r"(fout), [io] "r"(iout), [z] "r"(&z), [a5] "m"(avx512)
		: "memory", "r12", "r13", "r14", "r15", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
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
	if (avx512) {
		for (int r = 0; r < 17; r++)
			ZDTM_CHECK(!memcmp(z.zpat[r], z.zout[r], 64), "zmm%d (AVX-512) differs",
				   r ? 15 + r : 7);
		for (int r = 0; r < 8; r++)
			ZDTM_CHECK(z.kpat[r] == z.kout[r], "k%d (AVX-512 mask) is %#x, want %#x", r,
				   z.kout[r], z.kpat[r]);
		printf("AVX-512 checked: zmm7 (all 512 bits), zmm16-31, k0-7\n");
	} else {
		printf("skipped: AVX-512 (not enabled on this CPU or by this kernel)\n");
	}
	return zdtm_done();
}
