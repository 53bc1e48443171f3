/* A tree of N processes (the parent and N-1 children) each holding MIB MiB of
   dirty anonymous memory (a pseudo-random pattern): the bench's target
   (bench/tree.ts; N = 1 is one process holding it all). Prints READY once
   every process has filled its memory; the children have their own
   /dev/null as stdio. Exits on SIGUSR1 after checking its own memory. */
#include "zdtm.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

static uint64_t *mem;
static size_t words;

static uint64_t fill(uint64_t seed)
{
	uint64_t x = seed | 1, sum = 0;
	for (size_t i = 0; i < words; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		mem[i] = x;
		sum = sum * 31 + x;
	}
	return sum;
}

static int same(uint64_t want)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < words; i++)
		sum = sum * 31 + mem[i];
	return sum == want;
}

static long rss_kib(pid_t pid)
{
	char p[64], buf[4096];
	snprintf(p, sizeof(p), "/proc/%d/status", pid);
	int fd = open(p, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	char *r = strstr(buf, "VmRSS:");
	return r ? atol(r + 6) : 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 16;
	long mib = argc > 2 ? atol(argv[2]) : 64;
	if (n < 1 || n > 256 || mib < 1) {
		fprintf(stderr, "usage: memtree [N 1..256] [MIB]\n");
		return 2;
	}
	zdtm_init();
	words = (size_t)mib << 17;
	pid_t kids[256];
	for (int i = 1; i < n; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			zdtm_quiet();
			mem = mmap(NULL, words * 8, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			uint64_t s = fill((uint64_t)getpid());
			zdtm_wait();
			_exit(same(s) ? 0 : 1);
		}
	}
	mem = mmap(NULL, words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t s = fill((uint64_t)getpid());
	for (int i = 1; i < n; i++)
		while (rss_kib(kids[i]) < mib * 1024)
			usleep(10000);
	zdtm_ready();
	zdtm_wait();
	int bad = !same(s);
	for (int i = 1; i < n; i++) {
		int st;
		kill(kids[i], SIGUSR1);
		bad |= waitpid(kids[i], &st, 0) != kids[i] || !WIFEXITED(st) || WEXITSTATUS(st);
	}
	ZDTM_CHECK(!bad, "memory differs");
	return zdtm_done();
}
