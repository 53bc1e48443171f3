/* SPDX-License-Identifier: BSD-3-Clause */
/* Prints the layout of every public struct of ckpt.h as JSON, for
   test/native/abi.test.ts to compare with the koffi definitions. */
#include "ckpt.h"

#include <stddef.h>
#include <stdio.h>

#define F(s, f) printf("%s\"%s\":%zu", first++ ? "," : "", #f, offsetof(struct s, f))
#define S(s, ...) \
	do { \
		int first = 0; \
		printf("%s\"%s\":{\"size\":%zu,\"fields\":{", n++ ? "," : "", #s, sizeof(struct s)); \
		__VA_ARGS__; \
		printf("}}"); \
	} while (0)

int main(void)
{
	int n = 0;
	printf("{");
	S(ckpt_progress, F(ckpt_progress, bytes_done); F(ckpt_progress, bytes_total);
	  F(ckpt_progress, phase); F(ckpt_progress, pad));
	S(ckpt_checkpoint_opts, F(ckpt_checkpoint_opts, size); F(ckpt_checkpoint_opts, flags);
	  F(ckpt_checkpoint_opts, after); F(ckpt_checkpoint_opts, signal);
	  F(ckpt_checkpoint_opts, scope); F(ckpt_checkpoint_opts, fd);
	  F(ckpt_checkpoint_opts, timeout_ms); F(ckpt_checkpoint_opts, backend);
	  F(ckpt_checkpoint_opts, progress); F(ckpt_checkpoint_opts, owner_uid);
	  F(ckpt_checkpoint_opts, owner_gid));
	S(ckpt_result, F(ckpt_result, size); F(ckpt_result, pid); F(ckpt_result, bytes);
	  F(ckpt_result, pages); F(ckpt_result, wall_ns); F(ckpt_result, frozen_ns);
	  F(ckpt_result, threads); F(ckpt_result, processes); F(ckpt_result, vmas);
	  F(ckpt_result, crc32c); F(ckpt_result, backend); F(ckpt_result, pad));
	S(ckpt_restart_opts, F(ckpt_restart_opts, size); F(ckpt_restart_opts, flags);
	  F(ckpt_restart_opts, after); F(ckpt_restart_opts, signal); F(ckpt_restart_opts, fd);
	  F(ckpt_restart_opts, stdin_fd); F(ckpt_restart_opts, stdout_fd);
	  F(ckpt_restart_opts, stderr_fd); F(ckpt_restart_opts, nr_relocate);
	  F(ckpt_restart_opts, pad); F(ckpt_restart_opts, relocate);
	  F(ckpt_restart_opts, progress); F(ckpt_restart_opts, backend);
	  F(ckpt_restart_opts, pad2));
	S(ckpt_restart_result, F(ckpt_restart_result, size); F(ckpt_restart_result, pid);
	  F(ckpt_restart_result, waiter_pid); F(ckpt_restart_result, threads);
	  F(ckpt_restart_result, bytes); F(ckpt_restart_result, wall_ns);
	  F(ckpt_restart_result, nr_roots); F(ckpt_restart_result, roots);
	  F(ckpt_restart_result, pad));
	printf("}\n");
	return 0;
}
