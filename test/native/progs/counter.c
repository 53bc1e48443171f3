/* A line every 50 ms to FILE (argv[1]) through one descriptor at its offset:
   after a restart the lines continue with no gap and no repeat. */
#include "zdtm.h"
#include <fcntl.h>
#include <time.h>

int main(int argc, char **argv)
{
	zdtm_init();
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 2;
	zdtm_ready();
	for (long i = 0; !zdtm_go; i++) {
		dprintf(fd, "%ld\n", i);
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return zdtm_done();
}
