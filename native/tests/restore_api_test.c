// SPDX-License-Identifier: BSD-3-Clause
/*
 * ckpt_restart()/ckpt_wait() at the API edge: bad options are refused with a
 * message naming the option, a missing helper or image is a clear error and
 * leaves no child behind, ckpt_wait reports exit codes and 128+signal.
 */
#include "ckpt.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "expect.h"

static void set_helper(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 32);
	exe[n > 0 ? n : 0] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	strcat(exe, "/../ckpt-restore"); /* build/tests/.. */
	setenv("CKPT_RESTORE_HELPER", exe, 1);
}

static int no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

int main(void)
{
	char msg[CKPT_MSG_MAX];
	set_helper();
	struct ckpt_restart_opts o = {.size = sizeof(o), .fd = -1, .stdin_fd = -1,
				      .stdout_fd = -1, .stderr_fd = -1};
	struct ckpt_restart_result r = {.size = sizeof(r)};

	o.after = 9;
	int rc = ckpt_restart("/tmp/x", &o, &r, msg, sizeof(msg));
	EXPECT(rc == -EINVAL && strstr(msg, "after=9"), "after=9 refused: %d %s", rc, msg);
	o.after = CKPT_AFTER_SIGNAL;
	o.signal = 99;
	rc = ckpt_restart("/tmp/x", &o, &r, msg, sizeof(msg));
	EXPECT(rc == -EINVAL && strstr(msg, "signal 99"), "signal 99 refused: %d %s", rc, msg);
	o.after = 0;
	const char *bad[] = {"nothing-to-replace"};
	o.relocate = bad;
	o.nr_relocate = 1;
	rc = ckpt_restart("/tmp/x", &o, &r, msg, sizeof(msg));
	EXPECT(rc == -EINVAL && strstr(msg, "OLD=NEW"), "bad relocation refused: %d %s", rc, msg);
	o.nr_relocate = 0;
	o.stdout_fd = 987;
	rc = ckpt_restart("/tmp/x", &o, &r, msg, sizeof(msg));
	EXPECT(rc == -EBADF && strstr(msg, "stdout_fd 987"), "closed stdout_fd refused: %d %s", rc,
	       msg);
	o.stdout_fd = -1;
	rc = ckpt_restart(NULL, &o, &r, msg, sizeof(msg));
	EXPECT(rc == -EINVAL && strstr(msg, "no image"), "no path no fd: %d %s", rc, msg);

	/* through the helper: a missing image is its error, reported back */
	rc = ckpt_restart("/nonexistent/ckpt-image", &o, &r, msg, sizeof(msg));
	EXPECT(rc < 0 && strstr(msg, "/nonexistent/ckpt-image"),
	       "missing image names the file: %d %s", rc, msg);
	EXPECT(no_children(), "no helper or restored process left behind");

	char *keep = strdup(getenv("CKPT_RESTORE_HELPER"));
	setenv("CKPT_RESTORE_HELPER", "/nonexistent/ckpt-restore", 1);
	rc = ckpt_restart("/tmp/x", &o, &r, msg, sizeof(msg));
	EXPECT(rc == -ENOENT && strstr(msg, "/nonexistent/ckpt-restore"),
	       "missing helper: %d %s", rc, msg);
	setenv("CKPT_RESTORE_HELPER", keep, 1);
	free(keep);

	/* ckpt_wait */
	pid_t p = fork();
	if (p == 0)
		_exit(7);
	EXPECT(ckpt_wait(p, msg, sizeof(msg)) == 7, "exit 7");
	p = fork();
	if (p == 0) {
		pause();
		_exit(0);
	}
	kill(p, SIGTERM);
	EXPECT(ckpt_wait(p, msg, sizeof(msg)) == 128 + SIGTERM, "killed by SIGTERM -> 143");
	rc = ckpt_wait(1, msg, sizeof(msg));
	EXPECT(rc == -ECHILD && strstr(msg, "not a child"), "pid 1: %d %s", rc, msg);
	rc = ckpt_wait(0, msg, sizeof(msg));
	EXPECT(rc == -EINVAL, "pid 0: %d %s", rc, msg);

	printf("restore_api: %s\n", fails ? "FAIL" : "PASS");
	return fails != 0;
}
