/* A client of a server outside the job: every 20 ms it sends "ping N\n" and
   reads "pong N\n" back, on a TCP connection (argv[1] = "tcp", argv[2] =
   port on 127.0.0.1) or a Unix stream socket (argv[1] = "unix", argv[2] =
   path). Any error or a wrong reply is reported (FAIL) and ends it. Prints
   "COUNT N" every 10 exchanges; after SIGUSR1: PASS if at least 10
   exchanges happened since the last restart-side COUNT line it printed
   before (i.e. it carried on). */
#include "zdtm.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

static int read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	while (n + 1 < len) {
		ssize_t r = recv(fd, buf + n, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return (int)n;
}

int main(int argc, char **argv)
{
	zdtm_init();
	if (argc != 3)
		return 2;
	int fd;
	if (!strcmp(argv[1], "tcp")) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)atoi(argv[2])),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
			return 2;
	} else {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", argv[2]);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
			return 2;
	}
	zdtm_ready();
	long n = 0, at_go = -1;
	for (;;) {
		if (zdtm_go && at_go < 0)
			at_go = n;
		if (at_go >= 0 && n >= at_go + 10)
			break;
		char out[64], in[64];
		int m = snprintf(out, sizeof(out), "ping %ld\n", n);
		if (send(fd, out, (size_t)m, MSG_NOSIGNAL) != m) {
			printf("FAIL: send %ld: %s\n", n, strerror(errno));
			return 1;
		}
		if (read_line(fd, in, sizeof(in)) < 0) {
			printf("FAIL: read reply %ld: %s\n", n, strerror(errno));
			return 1;
		}
		char want[64];
		snprintf(want, sizeof(want), "pong %ld\n", n);
		if (strcmp(in, want)) {
			printf("FAIL: reply '%s' to ping %ld\n", in, n);
			return 1;
		}
		n++;
		if (n % 10 == 0)
			printf("COUNT %ld\n", n);
		struct timespec ts = {0, 20 * 1000 * 1000};
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	return zdtm_done();
}
