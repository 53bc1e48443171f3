/* File locks across a restart. "locks target A B C": flock LOCK_EX on A,
   a POSIX write lock on bytes 0-99 of B, an OFD read lock on bytes 10-19
   of C; after the restart they are still ours (released and taken again
   without error). "locks probe A B C": prints EXCLUDED if another process
   cannot take any of them, else what it could take. "locks hold A": takes
   flock on A and waits. */
#include "zdtm.h"
#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>

int main(int argc, char **argv)
{
	zdtm_init();
	if (argc == 3 && !strcmp(argv[1], "hold")) {
		int a = open(argv[2], O_RDWR);
		if (a < 0 || flock(a, LOCK_EX | LOCK_NB))
			return 2;
		zdtm_ready();
		zdtm_wait();
		return 0;
	}
	if (argc != 5)
		return 2;
	int a = open(argv[2], O_RDWR), b = open(argv[3], O_RDWR), c = open(argv[4], O_RDWR);
	if (a < 0 || b < 0 || c < 0)
		return 2;
	struct flock wr = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100};
	struct flock rd = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 10};
	if (!strcmp(argv[1], "probe")) {
		int free_a = flock(a, LOCK_EX | LOCK_NB) == 0;
		struct flock g = wr;
		int free_b = fcntl(b, F_GETLK, &g) == 0 && g.l_type == F_UNLCK;
		struct flock w2 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 15, .l_len = 1};
		int free_c = fcntl(c, F_OFD_SETLK, &w2) == 0;
		if (!free_a && !free_b && !free_c)
			printf("EXCLUDED holder %d\n", (int)g.l_pid);
		else
			printf("FREE flock=%d posix=%d ofd=%d\n", free_a, free_b, free_c);
		return 0;
	}
	if (flock(a, LOCK_EX | LOCK_NB) || fcntl(b, F_SETLK, &wr) || fcntl(c, F_OFD_SETLK, &rd))
		return 2;
	/* B is also mapped (as sqlite maps its -shm file): rebuilding the mapping
	   at restart opens and closes B, which drops the process's POSIX locks on
	   it unless they are taken again afterwards */
	if (ftruncate(b, 4096))
		return 2;
	char *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
	if (map == MAP_FAILED)
		return 2;
	map[0] = 'm';
	zdtm_ready();
	zdtm_wait();
	struct flock un = wr;
	un.l_type = F_UNLCK;
	ZDTM_CHECK(flock(a, LOCK_UN) == 0 && fcntl(b, F_SETLK, &un) == 0, "unlock failed");
	ZDTM_CHECK(flock(a, LOCK_EX | LOCK_NB) == 0, "flock again: %s", strerror(errno));
	return zdtm_done();
}
