/*
 * State a sweep of self-checking programs found lost silently at restart
 * (test/native/fidelity.test.ts). Modes:
 *   sigio-file, sigio-pipe, sigio-sock: O_ASYNC + F_SETOWN_EX + F_SETSIG on
 *     a file, a pipe's read end, a socket (refused at checkpoint);
 *   setown-sock: F_SETOWN only, on a socket (SIGURG's owner; refused);
 *   caps [UID GID] (as root): PR_SET_KEEPCAPS, no groups, ids to UID and GID
 *     (default 1000), capset keeping some
 *     capabilities, one raised ambient, one dropped from the bounding set;
 *   threadcaps (as root): a thread drops CAP_KILL from its effective set
 *     (refused: the image has one set per process);
 *   prctl: keepcaps (securebits), PR_MCE_KILL and PR_SET_TSC, with other
 *     values in a second thread;
 *   prctl-none: the same two threads with the defaults (a restarter with
 *     other values must not pass them on);
 *   bounding UID GID (as root): CAP_SYS_BOOT (or another it has) dropped
 *     from the bounding set, then ids to UID and GID with no capabilities;
 *   bounding-child UID GID: the same in a child only, both under UID/GID;
 *   nodump: PR_SET_DUMPABLE 0 (as ssh-agent and gpg-agent do).
 * After SIGUSR1 the process compares what it has with what it set.
 */
#include "zdtm.h"

#include <linux/capability.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif

#define CHECK ZDTM_CHECK

struct caps {
	uint64_t eff, prm, inh, amb, bnd;
};

static uint64_t status_hex(const char *name)
{
	char p[64], line[256];
	snprintf(p, sizeof(p), "/proc/self/task/%ld/status", (long)syscall(SYS_gettid));
	FILE *f = fopen(p, "r");
	uint64_t v = ~0ull;
	size_t n = strlen(name);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 16);
	if (f)
		fclose(f);
	return v;
}

static struct caps caps_now(void)
{
	struct caps c = {status_hex("CapEff"), status_hex("CapPrm"), status_hex("CapInh"),
			 status_hex("CapAmb"), status_hex("CapBnd")};
	return c;
}

/* ---- signal-driven I/O ---- */

static int sigio_fd(const char *mode, const char *dir)
{
	int fds[2];
	if (!strcmp(mode, "sigio-file")) {
		char p[256];
		snprintf(p, sizeof(p), "%s/fidelity-sigio", dir);
		return open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	}
	if (!strcmp(mode, "sigio-pipe"))
		return pipe(fds) ? -1 : fds[0];
	return socketpair(AF_UNIX, SOCK_STREAM, 0, fds) ? -1 : fds[0];
}

static int sigio(const char *mode, const char *dir)
{
	int fd = sigio_fd(mode, dir);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	if (!strcmp(mode, "setown-sock")) {
		if (fcntl(fd, F_SETOWN, getpid()) < 0)
			perror("F_SETOWN");
	} else {
		struct f_owner_ex o = {F_OWNER_PID, getpid()};
		if (fcntl(fd, F_SETOWN_EX, &o) < 0 || fcntl(fd, F_SETSIG, SIGRTMIN + 1) < 0 ||
		    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC) < 0)
			perror("fcntl");
	}
	/* a regular file takes no O_ASYNC (no fasync): its owner and signal stay */
	int async = fcntl(fd, F_GETFL) & O_ASYNC;
	zdtm_ready();
	zdtm_wait();
	struct f_owner_ex o = {0, 0};
	fcntl(fd, F_GETOWN_EX, &o);
	CHECK(o.pid == getpid(), "fd %d owner %d, expected %d", fd, o.pid, getpid());
	if (strcmp(mode, "setown-sock")) {
		CHECK(fcntl(fd, F_GETSIG) == SIGRTMIN + 1, "F_GETSIG %d", fcntl(fd, F_GETSIG));
		CHECK((fcntl(fd, F_GETFL) & O_ASYNC) == async, "O_ASYNC changed");
	}
	return 0;
}

/* ---- capabilities ---- */

#define BIT(c) (1ull << (c))

static int caps(uid_t uid, gid_t gid)
{
	if (getuid() != 0) {
		printf("FAIL: caps needs root\n");
		return 1;
	}
	if (prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0) < 0)
		perror("PR_CAPBSET_DROP");
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
	    setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		perror("keepcaps/setresuid");
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	uint64_t prm = BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_KILL) | BIT(CAP_NET_RAW);
	uint64_t eff = BIT(CAP_KILL) | BIT(CAP_NET_BIND_SERVICE);
	uint64_t inh = BIT(CAP_NET_BIND_SERVICE);
	d[0].permitted = (uint32_t)prm;
	d[1].permitted = (uint32_t)(prm >> 32);
	d[0].effective = (uint32_t)eff;
	d[1].effective = (uint32_t)(eff >> 32);
	d[0].inheritable = (uint32_t)inh;
	d[1].inheritable = (uint32_t)(inh >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		perror("capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) < 0)
		perror("ambient raise");
	struct caps before = caps_now();
	int keep = prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0);
	CHECK(before.prm == prm && before.eff == eff, "setup: prm %llx eff %llx",
	      (unsigned long long)before.prm, (unsigned long long)before.eff);
	zdtm_ready();
	zdtm_wait();
	struct caps after = caps_now();
	uid_t r, e, s;
	getresuid(&r, &e, &s);
	CHECK(r == uid && e == uid && s == uid, "uids %u %u %u", r, e, s);
	CHECK(after.eff == before.eff, "CapEff %llx, was %llx", (unsigned long long)after.eff,
	      (unsigned long long)before.eff);
	CHECK(after.prm == before.prm, "CapPrm %llx, was %llx", (unsigned long long)after.prm,
	      (unsigned long long)before.prm);
	CHECK(after.inh == before.inh, "CapInh %llx, was %llx", (unsigned long long)after.inh,
	      (unsigned long long)before.inh);
	CHECK(after.amb == before.amb, "CapAmb %llx, was %llx", (unsigned long long)after.amb,
	      (unsigned long long)before.amb);
	CHECK(after.bnd == before.bnd, "CapBnd %llx, was %llx", (unsigned long long)after.bnd,
	      (unsigned long long)before.bnd);
	CHECK(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) == keep, "keepcaps %d, was %d",
	      prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), keep);
	return 0;
}

/* A capability in this process's bounding set (CAP_SYS_BOOT where it is). */
static int droppable(void)
{
	uint64_t bnd = caps_now().bnd;
	if (bnd & BIT(CAP_SYS_BOOT))
		return CAP_SYS_BOOT;
	for (int cap = 63; cap >= 0; cap--)
		if (bnd & BIT(cap))
			return cap;
	return -1;
}

static int bounding(uid_t uid, gid_t gid, int in_child)
{
	pid_t child = in_child ? fork() : 0;
	if (child < 0)
		return 1;
	if ((!in_child || !child) && prctl(PR_CAPBSET_DROP, droppable(), 0, 0, 0) < 0)
		perror("PR_CAPBSET_DROP");
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		perror("bounding setup");
	if (child) { /* the parent of bounding-child: its child is the one */
		zdtm_ready();
		zdtm_wait();
		kill(child, SIGUSR1);
		int st = 0;
		waitpid(child, &st, 0);
		return !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	struct caps before = caps_now();
	CHECK(!before.prm && before.bnd != ~0ull, "setup: prm %llx bnd %llx",
	      (unsigned long long)before.prm, (unsigned long long)before.bnd);
	if (!in_child)
		zdtm_ready();
	zdtm_wait();
	struct caps after = caps_now();
	CHECK(after.bnd == before.bnd, "CapBnd %llx, was %llx", (unsigned long long)after.bnd,
	      (unsigned long long)before.bnd);
	CHECK(after.prm == before.prm, "CapPrm %llx, was %llx", (unsigned long long)after.prm,
	      (unsigned long long)before.prm);
	return 0;
}

static int nodump(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		perror("PR_SET_DUMPABLE");
	zdtm_ready();
	zdtm_wait();
	CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0, "dumpable %d, was 0",
	      prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
	return 0;
}

/* ---- capabilities of one thread only ---- */

static pthread_barrier_t bar;

static void *drop_kill(void *arg)
{
	(void)arg;
	/* capset changes the calling thread only */
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	syscall(SYS_capget, &h, d);
	d[0].effective &= ~(1u << CAP_KILL);
	if (syscall(SYS_capset, &h, d) < 0)
		perror("capset");
	pthread_barrier_wait(&bar);
	for (;;)
		pause();
	return NULL;
}

static int threadcaps(void)
{
	pthread_barrier_init(&bar, NULL, 2);
	pthread_t th;
	zdtm_threads_begin();
	pthread_create(&th, NULL, drop_kill, NULL);
	zdtm_threads_end();
	pthread_barrier_wait(&bar);
	uint64_t eff = status_hex("CapEff");
	zdtm_ready();
	zdtm_wait();
	CHECK(status_hex("CapEff") == eff, "leader's CapEff changed");
	return 0;
}

/* ---- per-thread prctl values ---- */

struct tvals {
	int keep, mce, tsc;
};

static struct tvals tvals_now(void)
{
	struct tvals v = {prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), prctl(PR_MCE_KILL_GET, 0, 0, 0, 0),
			  -1};
	prctl(PR_GET_TSC, &v.tsc, 0, 0, 0);
	return v;
}

static void tvals_check(const char *who, struct tvals a, struct tvals b)
{
	CHECK(a.keep == b.keep, "%s: keepcaps %d, was %d", who, a.keep, b.keep);
	CHECK(a.mce == b.mce, "%s: PR_MCE_KILL_GET %d, was %d", who, a.mce, b.mce);
	CHECK(a.tsc == b.tsc, "%s: PR_GET_TSC %d, was %d", who, a.tsc, b.tsc);
}

static struct tvals thr_before, thr_after;
static int set_thread_values;

static void *thread_main(void *arg)
{
	(void)arg;
	/* other values than the leader's: these are per thread */
	if (set_thread_values)
		prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_LATE, 0, 0);
	thr_before = tvals_now();
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar); /* after the restart */
	thr_after = tvals_now();
	return NULL;
}

static int prctls(int set)
{
	pthread_barrier_init(&bar, NULL, 2);
	if (set && (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0) < 0 ||
	    prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) < 0))
		perror("prctl");
	set_thread_values = set;
	pthread_t th;
	zdtm_threads_begin();
	pthread_create(&th, NULL, thread_main, NULL);
	zdtm_threads_end();
	pthread_barrier_wait(&bar);
	struct tvals before = tvals_now();
	if (set) {
		CHECK(before.keep == 1 && before.mce == PR_MCE_KILL_EARLY &&
			      before.tsc == PR_TSC_SIGSEGV,
		      "setup: keep %d mce %d tsc %d", before.keep, before.mce, before.tsc);
		CHECK(thr_before.mce == PR_MCE_KILL_LATE, "setup: thread mce %d", thr_before.mce);
	}
	zdtm_ready();
	zdtm_wait();
	pthread_barrier_wait(&bar);
	pthread_join(th, NULL);
	tvals_check("leader", tvals_now(), before);
	tvals_check("thread", thr_after, thr_before);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s MODE [DIR]\n", argv[0]);
		return 2;
	}
	zdtm_init();
	const char *mode = argv[1];
	int rc;
	if (!strncmp(mode, "sigio-", 6) || !strcmp(mode, "setown-sock"))
		rc = sigio(mode, argc > 2 ? argv[2] : "/tmp");
	else if (!strcmp(mode, "caps"))
		rc = caps(argc > 2 ? (uid_t)atoi(argv[2]) : 1000,
			  argc > 3 ? (gid_t)atoi(argv[3]) : 1000);
	else if (!strcmp(mode, "threadcaps"))
		rc = threadcaps();
	else if (!strcmp(mode, "prctl") || !strcmp(mode, "prctl-none"))
		rc = prctls(!strcmp(mode, "prctl"));
	else if (!strcmp(mode, "nodump"))
		rc = nodump();
	else if ((!strcmp(mode, "bounding") || !strcmp(mode, "bounding-child")) && argc > 3)
		rc = bounding((uid_t)atoi(argv[2]), (gid_t)atoi(argv[3]), !strcmp(mode, "bounding-child"));
	else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	return rc ? 1 : zdtm_done();
}
