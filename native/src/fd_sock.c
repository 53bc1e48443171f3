// SPDX-License-Identifier: BSD-3-Clause
/*
 * Socket options and holders, shared by the socket kinds (fd_sock.h).
 *
 * Options come from one fixed list, integers and a few two-word structures
 * (timeouts as struct timeval, SO_LINGER): a checkpoint reads each that
 * applies with getsockopt on its duplicate of the descriptor; a restart sets
 * only options of that list (the image is not trusted to name others), and
 * only where the new socket's value differs, so a default stays a default
 * (setting SO_RCVBUF on TCP would switch its autotuning off).
 */
#include "fd_sock.h"
#include "dump.h"
#include "fd.h"
#include "json.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define ALL_INET (SOCKOPT_INET4 | SOCKOPT_INET6)

/* An option's value in the image: an int in `value`; a struct timeval as
   seconds (at most INT32_MAX) in `value` and microseconds in `value2`; a
   struct linger as l_onoff in `value` and l_linger in `value2`. */
enum { OPT_INT, OPT_TIMEVAL, OPT_LINGER };

static const struct sockopt_def {
	int level, name;
	const char *label;
	unsigned applies; /* SOCKOPT_* the option is for (a family AND a protocol) */
	int before_bind;
	int not_established; /* autotuned or meaningless on a live connection */
	int shape; /* how the value is held (OPT_*) */
} sockopts[] = {
	{SOL_SOCKET, SO_PASSCRED, "SO_PASSCRED", SOCKOPT_UNIX, 0, 0, OPT_INT},
	{SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF", SOCKOPT_UNIX | ALL_INET, 0, 1, OPT_INT},
	{SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF", SOCKOPT_UNIX | ALL_INET, 0, 1, OPT_INT},
	{SOL_SOCKET, SO_RCVLOWAT, "SO_RCVLOWAT", SOCKOPT_UNIX | ALL_INET, 0, 0, OPT_INT},
	{SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY", SOCKOPT_UNIX | ALL_INET, 0, 0, OPT_INT},
	{SOL_SOCKET, SO_PEEK_OFF, "SO_PEEK_OFF", SOCKOPT_UNIX | ALL_INET, 0, 0, OPT_INT},
	{SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", ALL_INET, 1, 0, OPT_INT},
	{SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", ALL_INET, 1, 0, OPT_INT},
	{SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", ALL_INET | SOCKOPT_TCP, 0, 0, OPT_INT},
	{SOL_SOCKET, SO_OOBINLINE, "SO_OOBINLINE", ALL_INET | SOCKOPT_TCP, 0, 0, OPT_INT},
	{SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST", ALL_INET | SOCKOPT_UDP, 0, 0, OPT_INT},
	{SOL_SOCKET, SO_RCVTIMEO, "SO_RCVTIMEO", SOCKOPT_UNIX | ALL_INET, 0, 0, OPT_TIMEVAL},
	{SOL_SOCKET, SO_SNDTIMEO, "SO_SNDTIMEO", SOCKOPT_UNIX | ALL_INET, 0, 0, OPT_TIMEVAL},
	{SOL_SOCKET, SO_LINGER, "SO_LINGER", SOCKOPT_UNIX | ALL_INET, 0, 0, OPT_LINGER},
	{IPPROTO_IP, IP_TOS, "IP_TOS", SOCKOPT_INET4, 0, 0, OPT_INT},
	{IPPROTO_IP, IP_TTL, "IP_TTL", SOCKOPT_INET4, 0, 0, OPT_INT},
	{IPPROTO_IP, IP_FREEBIND, "IP_FREEBIND", SOCKOPT_INET4, 1, 0, OPT_INT},
	{IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", SOCKOPT_INET6, 1, 0, OPT_INT},
	{IPPROTO_IPV6, IPV6_TCLASS, "IPV6_TCLASS", SOCKOPT_INET6, 0, 0, OPT_INT},
	{IPPROTO_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS", SOCKOPT_INET6, 0, 0, OPT_INT},
	{IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", ALL_INET | SOCKOPT_TCP, 0, 0, OPT_INT},
	{IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", ALL_INET | SOCKOPT_TCP, 0, 0, OPT_INT},
	{IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", ALL_INET | SOCKOPT_TCP, 0, 0, OPT_INT},
	{IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", ALL_INET | SOCKOPT_TCP, 0, 0, OPT_INT},
	{IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", ALL_INET | SOCKOPT_TCP, 0, 0, OPT_INT},
	{IPPROTO_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT", ALL_INET | SOCKOPT_TCP, 0, 0, OPT_INT},
	{IPPROTO_TCP, TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT", ALL_INET | SOCKOPT_TCP, 0, 0, OPT_INT},
};
#define NR_SOCKOPTS (sizeof(sockopts) / sizeof(sockopts[0]))

/* An option applies to a socket when its family matches and, where the
   option names protocols, its protocol is one of them. */
static int applies(const struct sockopt_def *s, unsigned what)
{
	unsigned fam = SOCKOPT_UNIX | ALL_INET, proto = SOCKOPT_TCP | SOCKOPT_UDP;
	if (!(s->applies & what & fam))
		return 0;
	if ((what & ALL_INET) && (s->applies & proto) && !(s->applies & what & proto))
		return 0;
	return !((what & SOCKOPT_ESTABLISHED) && s->not_established);
}

static const struct sockopt_def *find(int level, int name)
{
	for (size_t i = 0; i < NR_SOCKOPTS; i++)
		if (sockopts[i].level == level && sockopts[i].name == name)
			return &sockopts[i];
	return NULL;
}

/* The option's value from the socket, in the image's two words. */
static int get_opt(int fd, const struct sockopt_def *s, int32_t *v, int32_t *v2)
{
	union {
		int i;
		struct timeval tv;
		struct linger l;
	} u;
	memset(&u, 0, sizeof(u));
	socklen_t l = s->shape == OPT_TIMEVAL ? sizeof(u.tv)
		      : s->shape == OPT_LINGER ? sizeof(u.l)
					       : sizeof(u.i);
	if (getsockopt(fd, s->level, s->name, &u, &l) < 0)
		return -1;
	*v2 = 0;
	if (s->shape == OPT_TIMEVAL) {
		*v = u.tv.tv_sec > INT32_MAX ? INT32_MAX : (int32_t)u.tv.tv_sec;
		*v2 = (int32_t)u.tv.tv_usec;
	} else if (s->shape == OPT_LINGER) {
		*v = u.l.l_onoff;
		*v2 = u.l.l_linger;
	} else {
		*v = u.i;
	}
	return 0;
}

static int set_opt(int fd, const struct sockopt_def *s, int32_t v, int32_t v2)
{
	if (s->shape == OPT_TIMEVAL) {
		struct timeval tv = {.tv_sec = v, .tv_usec = v2};
		return setsockopt(fd, s->level, s->name, &tv, sizeof(tv));
	}
	if (s->shape == OPT_LINGER) {
		struct linger l = {.l_onoff = v, .l_linger = v2};
		return setsockopt(fd, s->level, s->name, &l, sizeof(l));
	}
	return setsockopt(fd, s->level, s->name, &v, sizeof(v));
}

int sock_dump_opts(struct dump *d, struct dump_obj *o, int fd, unsigned what, uint32_t *nr)
{
	*nr = 0;
	for (size_t i = 0; i < NR_SOCKOPTS; i++) {
		const struct sockopt_def *s = &sockopts[i];
		if (!applies(s, what))
			continue;
		struct ckpt_img_sockopt r = {.level = s->level, .name = s->name};
		if (get_opt(fd, s, &r.value, &r.value2) < 0)
			continue; /* not on this kernel or this socket */
		int rc = dump_obj_put(d, o, &r, sizeof(r));
		if (rc)
			return rc;
		(*nr)++;
	}
	return 0;
}

const char *sock_check_opts(const struct ckpt_img_sockopt *v, uint32_t nr, unsigned what)
{
	for (uint32_t i = 0; i < nr; i++) {
		const struct sockopt_def *s = find(v[i].level, v[i].name);
		if (!s || !applies(s, what & ~(unsigned)SOCKOPT_ESTABLISHED))
			return "socket option that this engine does not set on this kind of socket";
	}
	return NULL;
}

int sock_apply_opts(int fd, const struct ckpt_img_sockopt *v, uint32_t nr, int before_bind,
		    char *msg, size_t msglen)
{
	for (uint32_t i = 0; i < nr; i++) {
		const struct sockopt_def *s = find(v[i].level, v[i].name);
		if (!s || s->before_bind != before_bind)
			continue;
		int32_t now, now2, want = v[i].value;
		if (get_opt(fd, s, &now, &now2) == 0 && now == want && now2 == v[i].value2)
			continue;
		/* the kernel doubles buffer sizes it is given and reports the double */
		if (s->level == SOL_SOCKET && (s->name == SO_SNDBUF || s->name == SO_RCVBUF))
			want /= 2;
		if (set_opt(fd, s, want, v[i].value2) < 0) {
			if (s->shape == OPT_INT)
				snprintf(msg, msglen, "set %s to %d: %s", s->label, v[i].value,
					 strerror(errno));
			else
				snprintf(msg, msglen, "set %s to %d, %d: %s", s->label, v[i].value,
					 v[i].value2, strerror(errno));
			return -1;
		}
	}
	return 0;
}

pid_t sock_holder(pid_t self, uint64_t ino)
{
	char want[64];
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)ino);
	/* the caller counts (no job given): a test's server may hold it */
	return fd_find_holder(NULL, self, want, 0, 0);
}

int sock_holder_in(pid_t pid, uint64_t ino)
{
	char want[64], p[64];
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)ino);
	snprintf(p, sizeof(p), "/proc/%d/fd", pid);
	DIR *fds = opendir(p);
	struct dirent *fe;
	int found = 0;
	while (fds && !found && (fe = readdir(fds))) {
		char lp[320], link[64];
		snprintf(lp, sizeof(lp), "/proc/%d/fd/%s", pid, fe->d_name);
		ssize_t n = readlink(lp, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			found = !strcmp(link, want);
		}
	}
	if (fds)
		closedir(fds);
	return found;
}

void sock_inspect_opts(struct json *j, const struct ckpt_img_sockopt *v, uint32_t nr)
{
	json_key(j, "options");
	json_open(j, '{');
	for (uint32_t i = 0; i < nr; i++) {
		const struct sockopt_def *s = find(v[i].level, v[i].name);
		if (s && s->shape == OPT_TIMEVAL)
			json_int(j, s->label, (int64_t)v[i].value * 1000000 + v[i].value2);
		else if (s && s->shape == OPT_LINGER)
			json_int(j, s->label, v[i].value ? v[i].value2 : -1);
		else if (s)
			json_int(j, s->label, v[i].value);
	}
	json_close(j, '}');
}
