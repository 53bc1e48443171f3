/* memfd across a restart: name, content, size, seals, offset; a MAP_SHARED
   mapping of it still maps it (a write through the mapping is read through
   the descriptor); a second memfd held only by its mapping (descriptor
   closed after mmap) comes back mapped, with its content. */
#include "zdtm.h"
#include <fcntl.h>
#include <sys/mman.h>

#define SZ 8192

int main(void)
{
	zdtm_init();
	int fd = memfd_create("ckpt-test", MFD_ALLOW_SEALING);
	int m2 = memfd_create("maponly", 0);
	if (fd < 0 || m2 < 0 || ftruncate(fd, SZ) || ftruncate(m2, SZ))
		return 2;
	char *p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *q = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, m2, 0);
	if (p == MAP_FAILED || q == MAP_FAILED)
		return 2;
	close(m2);
	for (int i = 0; i < SZ; i++) {
		p[i] = (char)(i % 251);
		q[i] = (char)(i % 13);
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) || lseek(fd, 1234, SEEK_SET) != 1234)
		return 2;
	zdtm_ready();
	zdtm_wait();
	char link[256] = "";
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(self, link, sizeof(link) - 1);
	if (n > 0)
		link[n] = 0;
	ZDTM_CHECK(!strcmp(link, "/memfd:ckpt-test (deleted)"), "link is %s", link);
	ZDTM_CHECK(lseek(fd, 0, SEEK_CUR) == 1234, "offset lost");
	ZDTM_CHECK(fcntl(fd, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW), "seals 0x%x",
		   fcntl(fd, F_GET_SEALS));
	ZDTM_CHECK(ftruncate(fd, 10) < 0, "shrink allowed despite F_SEAL_SHRINK");
	int bad = 0;
	for (int i = 0; i < SZ; i++)
		bad += p[i] != (char)(i % 251) || q[i] != (char)(i % 13);
	ZDTM_CHECK(!bad, "%d bytes of content differ", bad);
	p[100] = 'X';
	char c = 0;
	ZDTM_CHECK(pread(fd, &c, 1, 100) == 1 && c == 'X',
		   "a write through the mapping is not in the memfd (mapping detached)");
	FILE *maps = fopen("/proc/self/maps", "r");
	char l[512], want[32];
	int mapped = 0;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)q);
	while (maps && fgets(l, sizeof(l), maps))
		if (!strncmp(l, want, strlen(want)) && strstr(l, "/memfd:maponly"))
			mapped = 1;
	ZDTM_CHECK(mapped, "mapping-only memfd is not mapped as /memfd:maponly");
	return zdtm_done();
}
