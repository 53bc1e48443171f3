/* SPDX-License-Identifier: BSD-3-Clause */
/* The C tests' one assertion: count a failure and say where and why. */
#ifndef CKPT_TEST_EXPECT_H
#define CKPT_TEST_EXPECT_H
#include <stdio.h>

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
