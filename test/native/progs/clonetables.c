/* A child made by clone() sharing one kernel table with its parent, not as
   a thread: a restart would give each its own, so the checkpoint refuses
   naming both. Modes: vm (CLONE_VM), files (CLONE_FILES), fs (CLONE_FS);
   vfork: a vfork child asleep before its exec (its parent asleep in vfork),
   which is checkpointed and restarted like any child. The parent prints
   "READY <pid> <child>", and on SIGUSR1 checks what it shares still works
   (the child's descriptor or cwd change seen by the parent) and says PASS. */
#include "zdtm.h"

#include <errno.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static volatile int child_fd = -1;
static char dir[] = "/tmp/ckpt-clonetables-XXXXXX";

static int child(void *arg)
{
	const char *mode = arg;
	if (!strcmp(mode, "files"))
		child_fd = open("/dev/null", O_RDONLY); /* lands in the parent's table */
	if (!strcmp(mode, "fs") && chdir(dir) < 0)
		return 2;
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "vm";
	zdtm_init();
	(void)zdtm_ready; /* READY names the child too */
	if (!mkdtemp(dir))
		return 1;
	pid_t c;
	if (!strcmp(mode, "vfork")) {
		printf("READY %d\n", (int)getpid()); /* the child sleeps first */
		c = vfork();
		if (c == 0) {
			struct timespec ts = {1000000, 0};
			nanosleep(&ts, NULL);
			_exit(0);
		}
		return 1; /* not reached while the test runs */
	}
	static char stack[1 << 16];
	int flags = !strcmp(mode, "vm")	   ? CLONE_VM
		    : !strcmp(mode, "files") ? CLONE_FILES
					     : CLONE_FS;
	c = clone(child, stack + sizeof(stack), flags | SIGCHLD, (void *)mode);
	if (c < 0)
		return 1;
	struct timespec ts = {0, 100000000};
	nanosleep(&ts, NULL);
	printf("READY %d %d\n", (int)getpid(), (int)c);
	zdtm_wait();
	char cwd[256];
	if (!strcmp(mode, "files"))
		ZDTM_CHECK(fcntl(3, F_GETFD) >= 0, "the child's descriptor is not in our table");
	if (!strcmp(mode, "fs"))
		ZDTM_CHECK(getcwd(cwd, sizeof(cwd)) && !strcmp(cwd, dir),
			   "the child's chdir is not ours (%s)", cwd);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	rmdir(dir);
	return zdtm_done();
}
