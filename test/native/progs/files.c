/* An open file read halfway continues from the same offset after the
   restart; the working directory and the environment are kept. argv[1]:
   a data file of 2 x 4096 bytes ('a' then 'b'); argv[2]: a directory. */
#include "zdtm.h"
#include <fcntl.h>

int main(int argc, char **argv)
{
	zdtm_init();
	if (argc != 3)
		return 2;
	int fd = open(argv[1], O_RDONLY);
	char buf[4096];
	if (fd < 0 || read(fd, buf, sizeof(buf)) != 4096 || buf[0] != 'a' || chdir(argv[2]))
		return 2;
	setenv("CKPT_TEST_VALUE", "kept-across-restart", 1);
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		return 2;
	zdtm_ready();
	zdtm_wait();
	ssize_t n = read(fd, buf, sizeof(buf));
	ZDTM_CHECK(n == 4096 && buf[0] == 'b' && buf[4095] == 'b', "second half not where it was");
	ZDTM_CHECK(lseek(fd, 0, SEEK_CUR) == 8192, "offset %lld", (long long)lseek(fd, 0, SEEK_CUR));
	char now[4096];
	ZDTM_CHECK(getcwd(now, sizeof(now)) && !strcmp(now, cwd), "cwd changed");
	const char *v = getenv("CKPT_TEST_VALUE");
	ZDTM_CHECK(v && !strcmp(v, "kept-across-restart"), "environment lost");
	return zdtm_done();
}
