/* Listening TCP sockets (IPv4 127.0.0.1 and IPv6 ::1 with IPV6_V6ONLY) and a
   bound UDP socket come back on the same ports, backlog and options, and
   serve again: each TCP connection gets its line back as "echo:LINE" and is
   closed by us, each datagram is echoed. Prints "PORTS tcp4 tcp6 udp".
   argv[1] == "backlog": never accept (a connection waits in the accept
   queue; the checkpoint must refuse). */
#include "zdtm.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

static int port(int fd)
{
	struct sockaddr_in6 a;
	socklen_t l = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &l);
	return ntohs(a.sin6_port); /* same offset in sockaddr_in */
}

static void serve(int l)
{
	int c = accept(l, NULL, NULL);
	if (c < 0)
		return;
	char buf[256];
	ssize_t n = recv(c, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		char out[300];
		int m = snprintf(out, sizeof(out), "echo:%.*s", (int)n, buf);
		send(c, out, (size_t)m, MSG_NOSIGNAL);
		/* the client closes first: TIME_WAIT stays on its side, not
		   on our port (we have no SO_REUSEADDR on IPv4) */
		while (recv(c, buf, sizeof(buf), 0) > 0)
			;
	}
	close(c);
}

static int getint(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);
	getsockopt(fd, level, name, &v, &l);
	return v;
}

int main(int argc, char **argv)
{
	zdtm_init();
	int one = 1;
	int t4 = socket(AF_INET, SOCK_STREAM, 0), t6 = socket(AF_INET6, SOCK_STREAM, 0),
	    u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	setsockopt(t6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(t4, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(t6, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(t4, (struct sockaddr *)&a4, sizeof(a4)) || listen(t4, 17) ||
	    bind(t6, (struct sockaddr *)&a6, sizeof(a6)) || listen(t6, 5) ||
	    bind(u, (struct sockaddr *)&a4, sizeof(a4)))
		return 2;
	int p4 = port(t4), p6 = port(t6), pu = port(u);
	printf("PORTS %d %d %d\n", p4, p6, pu);
	zdtm_ready();
	int hold = argc > 1 && !strcmp(argv[1], "backlog");
	while (!zdtm_go) {
		struct pollfd pf[3] = {{t4, POLLIN, 0}, {t6, POLLIN, 0}, {u, POLLIN, 0}};
		if (hold) {
			pause();
			continue;
		}
		if (poll(pf, 3, -1) <= 0)
			continue;
		if (pf[0].revents)
			serve(t4);
		if (pf[1].revents)
			serve(t6);
		if (pf[2].revents) {
			char buf[256];
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(u, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			if (n > 0)
				sendto(u, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
		}
	}
	ZDTM_CHECK(port(t4) == p4 && port(t6) == p6 && port(u) == pu, "ports changed");
	ZDTM_CHECK(getint(t4, SOL_SOCKET, SO_ACCEPTCONN) == 1, "IPv4 socket no longer listening");
	ZDTM_CHECK(getint(t4, IPPROTO_TCP, TCP_NODELAY) == 1, "TCP_NODELAY lost");
	ZDTM_CHECK(getint(t6, IPPROTO_IPV6, IPV6_V6ONLY) == 1, "IPV6_V6ONLY lost");
	ZDTM_CHECK(getint(t6, SOL_SOCKET, SO_REUSEADDR) == 1, "SO_REUSEADDR lost");
	ZDTM_CHECK(getint(t4, SOL_SOCKET, SO_REUSEADDR) == 0, "SO_REUSEADDR set where it was not");
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	getsockopt(t4, IPPROTO_TCP, TCP_INFO, &ti, &tl);
	ZDTM_CHECK(ti.tcpi_sacked == 17, "backlog %u, expected 17", ti.tcpi_sacked);
	return zdtm_done();
}
