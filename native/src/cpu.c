// SPDX-License-Identifier: BSD-3-Clause
/*
 * CPU facts that size buffers: never a constant, CPUs differ from one
 * machine to the next (2688 bytes of XSAVE area with AVX-512, 11008 with
 * AMX, more on CPUs yet to come).
 */
#include "cpu.h"

#include <cpuid.h>

uint32_t ckpt_xstate_max(void)
{
	unsigned a = 0, b = 0, c = 0, d = 0;
	if (__get_cpuid_max(0, 0) >= 0xd)
		__cpuid_count(0xd, 0, a, b, c, d);
	/* ecx: every feature the CPU supports; ebx: those XCR0 enables. The
	   kernel's NT_X86_XSTATE regset is never larger than either allows. */
	uint32_t n = c > b ? c : b;
	if (n < 4096)
		n = 4096;
	return (n + 63) & ~63u;
}

uint64_t ckpt_xcr0(void)
{
	unsigned a = 0, b = 0, c = 0, d = 0;
	__cpuid(1, a, b, c, d);
	if (!(c & (1u << 27))) /* OSXSAVE */
		return 0;
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}
