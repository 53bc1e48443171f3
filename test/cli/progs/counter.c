/*
 * Test target for the CLI's checkpoint/restart tests: counts in a file it keeps
 * open (argv[1]), one tick every 20 ms, and exits with status 7 once the count
 * reaches argv[2]. A restored process continues the count where it stopped and
 * keeps writing through its restored descriptor (so --relocate is visible).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: counter FILE LIMIT\n");
		return 2;
	}
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	long limit = strtol(argv[2], NULL, 10);
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	char buf[32];
	for (long i = 1;; i++) {
		int n = snprintf(buf, sizeof(buf), "%ld\n", i);
		if (pwrite(fd, buf, n, 0) != n || ftruncate(fd, n) != 0)
			return 3;
		if (i >= limit)
			return 7;
		nanosleep(&tick, NULL);
	}
}
