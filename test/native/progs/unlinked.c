/* A file unlinked while open: after the restart its content reads back
   (offset kept) and it is still unlinked. argv[1]: a path to create. */
#include "zdtm.h"
#include <fcntl.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
	zdtm_init();
	if (argc != 2)
		return 2;
	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
	char b[10000];
	for (int i = 0; i < (int)sizeof(b); i++)
		b[i] = (char)('a' + i % 23);
	if (fd < 0 || write(fd, b, sizeof(b)) != (ssize_t)sizeof(b) || unlink(argv[1]) ||
	    lseek(fd, 4000, SEEK_SET) != 4000)
		return 2;
	zdtm_ready();
	zdtm_wait();
	char r[6000];
	ssize_t n = read(fd, r, sizeof(r));
	ZDTM_CHECK(n == 6000 && !memcmp(r, b + 4000, 6000), "content after restart: %zd bytes",
		   n);
	struct stat st;
	ZDTM_CHECK(fstat(fd, &st) == 0 && st.st_nlink == 0, "file is linked again");
	ZDTM_CHECK(access(argv[1], F_OK) != 0, "%s exists again", argv[1]);
	return zdtm_done();
}
