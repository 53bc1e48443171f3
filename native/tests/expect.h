/* SPDX-License-Identifier: BSD-3-Clause */
/* The C tests' one assertion: count a failure and say where and why. */
#ifndef CKPT_TEST_EXPECT_H
#define CKPT_TEST_EXPECT_H
#include <ftw.h>
#include <stdio.h>
#include <unistd.h>

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

/* Remove a test's scratch directory and everything in it (symlinks are not
 * followed): the VM guest's /tmp is a small tmpfs that the next test needs. */
static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (remove(path) && type != FTW_DNR)
		perror(path);
	return 0;
}
static inline void remove_tree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
#endif
