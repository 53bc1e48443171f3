/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef CKPT_CPU_H
#define CKPT_CPU_H

#include <stdint.h>

/* Bytes enough for this CPU's whole NT_X86_XSTATE regset (CPUID leaf 0xD),
   64-byte aligned, never less than 4096. Size every xstate buffer with it. */
uint32_t ckpt_xstate_max(void);
/* XCR0 of this CPU (0 without OSXSAVE). */
uint64_t ckpt_xcr0(void);

#endif
