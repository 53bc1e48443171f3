// SPDX-License-Identifier: BSD-3-Clause
/*
 * What real programs do that the red team found lost at a restart (zdtm
 * shape: READY, SIGUSR1 after the restart, PASS or what differs).
 *
 * argv[1] == "names": the process and a thread take names holding a
 * newline and a tab (prctl(PR_SET_NAME) takes any byte but NUL; /proc's comm
 * file shows them raw and adds one newline of its own).
 * "mclfuture": mlockall(MCL_FUTURE) (what `mlockall` in a database or a
 * real-time program does): a mapping made after the restart is locked too.
 * "denyuname": a seccomp filter of its own (seccomp(2), no prctl) makes
 * uname fail with EPERM; after the restart it still must.
 * "killgetitimer": a seccomp filter of its own kills the process on
 * getitimer (which it never calls; a checkpointer that injects it before
 * refusing the filter kills it).
 * "filter-exec CMD...": runs CMD under an allow-all seccomp filter (a
 * checkpointer inside a container or a systemd unit with filters).
 */
#include "zdtm.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

static const char proc_name[] = "rt\nproc\tname";
static const char thread_name[] = "w2\n\tthread";

static void *idle(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), thread_name);
	for (;;)
		pause();
	return NULL;
}

/* VmFlags of the mapping at addr holds flag ("lo") */
static int vma_has(void *addr, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	int in = 0, has = -1;
	unsigned long a = (unsigned long)addr;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = s <= a && a < e;
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			char want[8];
			snprintf(want, sizeof(want), " %s", flag);
			has = strstr(line, want) != NULL;
			break;
		}
	}
	if (f)
		fclose(f);
	return has;
}

/* A filter that allows everything (nr < 0), or gives syscall nr `action`. */
static int install_filter(long nr, unsigned action)
{
	struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_filter deny[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = nr >= 0 ? 4 : 1, .filter = nr >= 0 ? deny : allow};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
		perror("seccomp");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	zdtm_init();
	const char *mode = argc > 1 ? argv[1] : "";
	pthread_t th;
	if (!strcmp(mode, "filter-exec") && argc > 2) {
		if (install_filter(-1, 0))
			return 2;
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		return 127;
	}
	struct utsname u;
	if (!strcmp(mode, "denyuname")) {
		if (install_filter(SYS_uname, SECCOMP_RET_ERRNO | EPERM))
			return 2;
	} else if (!strcmp(mode, "killgetitimer")) {
		if (install_filter(SYS_getitimer, SECCOMP_RET_KILL_PROCESS))
			return 2;
	} else if (!strcmp(mode, "names")) {
		prctl(PR_SET_NAME, proc_name, 0, 0, 0);
		zdtm_threads_begin();
		pthread_create(&th, NULL, idle, NULL);
		zdtm_threads_end();
	} else if (!strcmp(mode, "mclfuture")) {
		if (mlockall(MCL_FUTURE)) {
			perror("mlockall");
			return 2;
		}
	} else {
		fprintf(stderr, "usage: rtreal names|mclfuture|denyuname|killgetitimer|filter-exec CMD...\n");
		return 2;
	}
	zdtm_ready();
	zdtm_wait();
	if (!strcmp(mode, "names")) {
		char now[16] = "";
		prctl(PR_GET_NAME, now, 0, 0, 0);
		ZDTM_CHECK(!strcmp(now, proc_name), "process name '%s', want '%s'", now, proc_name);
		pthread_getname_np(th, now, sizeof(now));
		ZDTM_CHECK(!strcmp(now, thread_name), "thread name '%s', want '%s'", now,
			   thread_name);
	} else if (!strcmp(mode, "denyuname")) {
		errno = 0;
		int r = uname(&u);
		ZDTM_CHECK(r < 0 && errno == EPERM,
			   "uname returned %d (errno %d): the process's own seccomp filter is gone", r,
			   errno);
	} else if (!strcmp(mode, "mclfuture")) {
		void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			       0);
		ZDTM_CHECK(m != MAP_FAILED, "mmap");
		if (m != MAP_FAILED)
			ZDTM_CHECK(vma_has(m, "lo") == 1,
				   "a mapping made after the restart is not locked (mlockall "
				   "MCL_FUTURE lost)");
	}
	return zdtm_done();
}
