/* SPDX-License-Identifier: BSD-3-Clause */
/* The C tests' one assertion: count a failure and say where and why. */
#ifndef CKPT_TEST_EXPECT_H
#define CKPT_TEST_EXPECT_H
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Every test starts from stdio alone: a descriptor inherited from whatever
   runs the tests (a CI harness's pipe) would reach the processes it
   checkpoints, which rightly refuse one leading outside themselves. */
__attribute__((constructor)) static void expect_close_inherited(void)
{
	syscall(SYS_close_range, 3, ~0u, 0);
}

static int fails;
#define EXPECT(c, ...) \
	do { \
		if (!(c)) { \
			fails++; \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
		} \
	} while (0)
#endif
