/* Named FIFOs across a restart. argv[1]: a FIFO a writer outside the job
   holds open and has filled with 1000 lines "%05d\n"; this reader takes 100
   before the checkpoint and the rest, to EOF, after the restart (the buffer
   survives in the outside writer). argv[2]: a FIFO only this process holds
   (read and write ends): 1000 bytes written, 300 read before, the other 700
   after the restart (they come back from the image). */
#include "zdtm.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

static int readn(int fd, char *b, int n)
{
	int got = 0;
	while (got < n) {
		ssize_t r = read(fd, b + got, (size_t)(n - got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (int)r;
	}
	return got;
}

int main(int argc, char **argv)
{
	zdtm_init();
	if (argc != 3)
		return 2;
	int out = open(argv[1], O_RDONLY);
	int ir = open(argv[2], O_RDONLY | O_NONBLOCK);
	int iw = open(argv[2], O_WRONLY);
	if (out < 0 || ir < 0 || iw < 0)
		return 2;
	fcntl(ir, F_SETFL, 0);
	char b[8192];
	for (int i = 0; i < 1000; i++)
		b[i] = (char)('A' + i % 26);
	if (write(iw, b, 1000) != 1000 || readn(ir, b, 300) != 300)
		return 2;
	if (readn(out, b, 600) != 600 || memcmp(b, "00000\n", 6))
		return 2;
	zdtm_ready();
	zdtm_wait();
	int n = readn(ir, b, 700);
	ZDTM_CHECK(n == 700, "internal FIFO: %d of 700 bytes after restart", n);
	for (int i = 0; i < n; i++)
		if (b[i] != (char)('A' + (i + 300) % 26)) {
			ZDTM_CHECK(0, "internal FIFO: byte %d differs", i);
			break;
		}
	int lines = 100, bad = 0;
	for (;;) {
		char l[6];
		int k = readn(out, l, 6);
		if (k == 0)
			break;
		char want[16];
		snprintf(want, sizeof(want), "%05d\n", lines);
		if (k != 6 || memcmp(l, want, 6))
			bad++;
		lines++;
	}
	ZDTM_CHECK(lines == 1000 && !bad, "outside FIFO: read %d lines to EOF (%d wrong), "
		   "expected 1000", lines, bad);
	struct stat st;
	ZDTM_CHECK(fstat(out, &st) == 0 && S_ISFIFO(st.st_mode), "fd is not a FIFO");
	return zdtm_done();
}
