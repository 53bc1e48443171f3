/*
 * Test job for the daemon tests: writes "0\n", "1\n", ... to FILE, one line
 * every 20 ms, through one descriptor at its own offset (no O_APPEND). A
 * process restored from an image rewrites the lines after its checkpoint at
 * the same offsets, so the file always reads 0..N with no gap and no repeat.
 * With COUNT it stops after COUNT lines and exits 0.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: lines FILE [COUNT]\n");
		return 2;
	}
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	struct timespec tick = {0, 20 * 1000 * 1000};
	long count = argc == 3 ? atol(argv[2]) : -1;
	for (long i = 0; count < 0 || i < count; i++) {
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "%ld\n", i);
		if (write(fd, buf, (size_t)n) != n)
			return 3;
		nanosleep(&tick, NULL);
	}
	return 0;
}
