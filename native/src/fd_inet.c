// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_INET: a TCP or UDP socket, IPv4 or IPv6 ("socket:[INO]"), and the
 * refusal of every other socket family (netlink, packet, raw, ...).
 *
 * What comes back: listening TCP sockets (bound again to the same address
 * and port, same backlog and options; refused while connections wait in the
 * accept queue), bound or connected UDP sockets (refused while datagrams
 * wait: their senders cannot be made again), sockets not yet bound, and
 * established TCP connections when the checkpoint was asked for them
 * (CKPT_CP_TCP_ESTABLISHED, `--tcp-established`); without it they refuse the
 * checkpoint naming both ends. Other TCP states (SYN_SENT, FIN_WAIT...) are
 * refused.
 *
 * Established connections go through the kernel's TCP repair mode
 * (TCP_REPAIR, needs CAP_NET_ADMIN), as CRIU does. Checkpoint: repair mode is
 * switched on through our duplicate of the socket (it is one socket with the
 * target's), then the sequence numbers of both queues, MSS, window scale,
 * SACK and timestamp options, the window, and the bytes of both queues
 * (MSG_PEEK in repair mode) are read. The socket stays in repair mode until
 * the checkpoint ends (the hold in struct dump_obj): if the target is then
 * killed, the kernel closes it without a FIN or RST, so the peer sees
 * nothing; in every other case (failure, --cont, --stop, other signals)
 * repair mode is switched off again and the connection carries on.
 * Restart: a new socket in repair mode is bound to the same local address
 * and port, given the sequence numbers, "connected" (no handshake), given
 * the options, the received and the sent-but-unacknowledged bytes and the
 * window; repair mode off; the bytes not sent yet are then sent normally.
 * Between the checkpoint and the restart a network lock (netlock.c) drops the
 * connection's packets both ways: taken before repair mode, released when
 * the target carries on, else kept until the restart has the new socket out
 * of repair mode (inet_restored). Without it the peer's next segment (data
 * the frozen process received but had not acknowledged yet is retransmitted
 * after about 200 ms) meets no socket once the target is killed, and the
 * kernel answers with a RST.
 */
#include "dump.h"
#include "fd.h"
#include "fd_sock.h"
#include "json.h"
#include "netlock.h"
#include "restore.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define INET_MAX_QUEUE (64u << 20)

static const char *const tcp_states[] = {
	"?",	     "ESTABLISHED", "SYN_SENT", "SYN_RECV",   "FIN_WAIT1", "FIN_WAIT2",
	"TIME_WAIT", "CLOSE",	    "CLOSE_WAIT", "LAST_ACK", "LISTEN",	   "CLOSING",
};

static const char *family_name(int fam)
{
	switch (fam) {
	case AF_NETLINK: return "netlink";
	case AF_PACKET: return "packet";
	case AF_INET: return "IPv4";
	case AF_INET6: return "IPv6";
	case AF_BLUETOOTH: return "bluetooth";
	case AF_VSOCK: return "vsock";
	case AF_ALG: return "crypto (AF_ALG)";
	case AF_XDP: return "XDP";
	}
	return "unknown";
}

/* "127.0.0.1:5432", "[::1]:5432", "*:0" for nothing. */
static void show_addr(const uint8_t *sa, uint32_t len, char *out, size_t outlen)
{
	char a[INET6_ADDRSTRLEN] = "?";
	const struct sockaddr *s = (const void *)sa;
	if (len >= sizeof(struct sockaddr_in6) && s->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, outlen, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else if (len >= sizeof(struct sockaddr_in) && s->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, outlen, "%s:%u", a, ntohs(s4->sin_port));
	} else {
		snprintf(out, outlen, "*:0");
	}
}

static uint16_t port_of(const uint8_t *sa, uint32_t len)
{
	const struct sockaddr *s = (const void *)sa;
	if (!len)
		return 0;
	return ntohs(s->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port
					      : ((const struct sockaddr_in *)(const void *)sa)->sin_port);
}

static const char *proto_name(uint32_t proto)
{
	return proto == IPPROTO_TCP ? "TCP" : "UDP";
}

/* ---- checkpoint ----------------------------------------------------------- */

static int sock_ino(const char *link, uint64_t *ino)
{
	unsigned long long v;
	if (sscanf(link, "socket:[%llu]", &v) != 1)
		return 0;
	*ino = v;
	return 1;
}

static int repair_queue(int fd, int q)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q));
}

/* The bytes of one queue (repair mode, that queue selected), appended. */
static int peek_queue(struct dump *d, const struct fd_probe *p, struct dump_obj *o, int q,
		      uint32_t len, const char *what)
{
	if (!len)
		return 0;
	char *buf = malloc(len);
	if (!buf)
		return fd_refuse(d, p, ENOMEM, "no memory for the %s", what);
	int rc = 0;
	ssize_t n = -1;
	if (repair_queue(p->local, q) == 0)
		n = recv(p->local, buf, len, MSG_PEEK | MSG_DONTWAIT);
	if (n != (ssize_t)len)
		rc = fd_refuse(d, p, n < 0 ? errno : EIO, "TCP repair: reading the %s (%u bytes, "
			       "got %zd)", what, len, n);
	if (!rc)
		rc = dump_obj_put(d, o, buf, len);
	free(buf);
	return rc;
}

static int dump_established(struct dump *d, const struct fd_probe *p, struct dump_obj *o,
			    struct ckpt_img_oinet *in, const char *conn)
{
	char why[300];
	if (ckpt_netlock_tcp(in->local, in->peer, why, sizeof(why)) < 0)
		return fd_refuse(d, p, errno, "TCP connection %s: network lock: %s", conn, why);
	int on = TCP_REPAIR_ON;
	if (setsockopt(p->local, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) < 0) {
		int err = errno;
		int absent;
		ckpt_netunlock_tcp(in->local, in->peer, &absent, why, sizeof(why));
		return fd_refuse(d, p, err, "TCP connection %s: TCP_REPAIR%s", conn,
				 err == EPERM ? " needs CAP_NET_ADMIN" : "");
	}
	o->hold = dup(p->local);
	if (o->hold < 0) {
		int err = errno, absent;
		int off = TCP_REPAIR_OFF_NO_WP;
		setsockopt(p->local, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
		ckpt_netunlock_tcp(in->local, in->peer, &absent, why, sizeof(why));
		return fd_refuse(d, p, err, "TCP connection %s: dup", conn);
	}
	o->locked = 1;
	memcpy(o->lock_local, in->local, sizeof(o->lock_local));
	memcpy(o->lock_peer, in->peer, sizeof(o->lock_peer));
	int outq = 0, unsent = 0, inq = 0;
	uint32_t seq = 0;
	socklen_t l = sizeof(seq);
	if (ioctl(p->local, SIOCOUTQ, &outq) < 0 || ioctl(p->local, SIOCOUTQNSD, &unsent) < 0 ||
	    ioctl(p->local, SIOCINQ, &inq) < 0)
		return fd_refuse(d, p, errno, "TCP connection %s: queue lengths", conn);
	in->outq_len = (uint32_t)outq;
	in->unsent_len = (uint32_t)unsent;
	in->inq_len = (uint32_t)inq;
	if (in->outq_len > INET_MAX_QUEUE || in->inq_len > INET_MAX_QUEUE ||
	    in->unsent_len > in->outq_len)
		return fd_refuse(d, p, E2BIG, "TCP connection %s: queues of %u and %u bytes", conn,
				 in->inq_len, in->outq_len);
	if (repair_queue(p->local, TCP_RECV_QUEUE) < 0 ||
	    getsockopt(p->local, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, &l) < 0)
		return fd_refuse(d, p, errno, "TCP connection %s: receive sequence", conn);
	in->rcv_seq = seq;
	l = sizeof(seq);
	if (repair_queue(p->local, TCP_SEND_QUEUE) < 0 ||
	    getsockopt(p->local, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, &l) < 0)
		return fd_refuse(d, p, errno, "TCP connection %s: send sequence", conn);
	in->snd_seq = seq;
	repair_queue(p->local, TCP_NO_QUEUE);
	int mss = 0;
	l = sizeof(mss);
	if (getsockopt(p->local, IPPROTO_TCP, TCP_MAXSEG, &mss, &l) < 0)
		return fd_refuse(d, p, errno, "TCP connection %s: TCP_MAXSEG", conn);
	in->mss = (uint32_t)mss;
	l = sizeof(in->timestamp);
	if (getsockopt(p->local, IPPROTO_TCP, TCP_TIMESTAMP, &in->timestamp, &l) < 0)
		return fd_refuse(d, p, errno, "TCP connection %s: TCP_TIMESTAMP", conn);
	struct tcp_info ti;
	memset(&ti, 0, sizeof(ti));
	l = sizeof(ti);
	if (getsockopt(p->local, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
		return fd_refuse(d, p, errno, "TCP connection %s: TCP_INFO", conn);
	in->tcpi_options = ti.tcpi_options;
	in->snd_wscale = ti.tcpi_snd_wscale;
	in->rcv_wscale = ti.tcpi_rcv_wscale;
	struct tcp_repair_window w;
	l = sizeof(w);
	if (getsockopt(p->local, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &l) == 0) {
		in->has_window = 1;
		in->snd_wl1 = w.snd_wl1;
		in->snd_wnd = w.snd_wnd;
		in->max_window = w.max_window;
		in->rcv_wnd = w.rcv_wnd;
		in->rcv_wup = w.rcv_wup;
	}
	return 0;
}

/* The queues of an established connection, after the options. */
static int dump_queues(struct dump *d, const struct fd_probe *p, struct dump_obj *o,
		       const struct ckpt_img_oinet *in)
{
	int rc = peek_queue(d, p, o, TCP_RECV_QUEUE, in->inq_len, "receive queue");
	if (!rc)
		rc = peek_queue(d, p, o, TCP_SEND_QUEUE, in->outq_len, "send queue");
	repair_queue(p->local, TCP_NO_QUEUE);
	return rc;
}

static int inet_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	uint64_t ino;
	int fam = 0, type = 0, proto = 0;
	socklen_t l = sizeof(fam);
	if (!sock_ino(p->link, &ino))
		return 1;
	if (p->local < 0)
		return fd_refuse(d, p, EPERM, "socket: cannot take the descriptor (pidfd_getfd)");
	if (getsockopt(p->local, SOL_SOCKET, SO_DOMAIN, &fam, &l) < 0)
		return fd_refuse(d, p, errno, "socket: SO_DOMAIN");
	if (fam == AF_UNIX)
		return 1;
	l = sizeof(type);
	getsockopt(p->local, SOL_SOCKET, SO_TYPE, &type, &l);
	l = sizeof(proto);
	getsockopt(p->local, SOL_SOCKET, SO_PROTOCOL, &proto, &l);
	if (fam != AF_INET && fam != AF_INET6)
		return fd_refuse(d, p, ENOTSUP, "%s socket (family %d, type %d, protocol %d) "
				 "cannot be checkpointed by this engine", family_name(fam), fam,
				 type, proto);
	if (!(type == SOCK_STREAM && proto == IPPROTO_TCP) &&
	    !(type == SOCK_DGRAM && proto == IPPROTO_UDP))
		return fd_refuse(d, p, ENOTSUP, "%s socket of type %d, protocol %d (not TCP or "
				 "UDP) cannot be checkpointed by this engine",
				 family_name(fam), type, proto);
	struct ckpt_img_oinet in = {.ino = ino, .family = (uint32_t)fam, .type = (uint32_t)type,
				    .protocol = (uint32_t)proto};
	l = sizeof(in.local);
	if (getsockname(p->local, (struct sockaddr *)in.local, &l) < 0)
		return fd_refuse(d, p, errno, "socket: getsockname");
	in.local_len = l;
	l = sizeof(in.peer);
	if (getpeername(p->local, (struct sockaddr *)in.peer, &l) == 0)
		in.peer_len = l;
	else if (errno != ENOTCONN)
		return fd_refuse(d, p, errno, "socket: getpeername");
	char la[80], ra[80], conn[200];
	show_addr(in.local, in.local_len, la, sizeof(la));
	show_addr(in.peer, in.peer_len, ra, sizeof(ra));
	snprintf(conn, sizeof(conn), "%s -> %s", la, ra);
	unsigned what = (fam == AF_INET ? SOCKOPT_INET4 : SOCKOPT_INET6) |
			(proto == IPPROTO_TCP ? SOCKOPT_TCP : SOCKOPT_UDP);
	int established = 0;
	if (proto == IPPROTO_TCP) {
		struct tcp_info ti;
		memset(&ti, 0, sizeof(ti));
		l = sizeof(ti);
		if (getsockopt(p->local, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
			return fd_refuse(d, p, errno, "TCP socket: TCP_INFO");
		if (ti.tcpi_state == 10) { /* LISTEN */
			in.state = CKPT_OINET_LISTEN;
			in.backlog = ti.tcpi_sacked; /* sk_max_ack_backlog */
			if (ti.tcpi_unacked) /* sk_ack_backlog */
				return fd_refuse(d, p, ENOTSUP, "TCP socket listening on %s has %u "
						 "connection(s) waiting in its accept queue; they "
						 "cannot be checkpointed (accept them first or "
						 "checkpoint later)", la, ti.tcpi_unacked);
		} else if (ti.tcpi_state == 7) { /* CLOSE: not connected */
			in.state = port_of(in.local, in.local_len) ? CKPT_OINET_BOUND
								   : CKPT_OINET_FRESH;
			in.peer_len = 0;
		} else if (ti.tcpi_state == 1) { /* ESTABLISHED */
			if (!(d->opts->flags & CKPT_CP_TCP_ESTABLISHED))
				return fd_refuse(d, p, ENOTSUP, "TCP connection %s cannot be "
						 "checkpointed; use --tcp-established", conn);
			in.state = CKPT_OINET_ESTABLISHED;
			established = 1;
			what |= SOCKOPT_ESTABLISHED;
			int rc = dump_established(d, p, o, &in, conn);
			if (rc)
				return rc;
		} else {
			return fd_refuse(d, p, ENOTSUP, "TCP connection %s in state %s cannot be "
					 "checkpointed (only listening sockets and, with "
					 "--tcp-established, established connections)",
					 conn, ti.tcpi_state < 12 ? tcp_states[ti.tcpi_state] : "?");
		}
	} else {
		int inq = 0;
		if (ioctl(p->local, SIOCINQ, &inq) < 0)
			return fd_refuse(d, p, errno, "UDP socket: SIOCINQ");
		if (inq > 0)
			return fd_refuse(d, p, ENOTSUP, "UDP socket %s has datagrams waiting to be "
					 "read (%d bytes in the first); their senders cannot be "
					 "made again", la, inq);
		in.state = port_of(in.local, in.local_len) ? CKPT_OINET_BOUND : CKPT_OINET_FRESH;
	}
	if (in.state == CKPT_OINET_FRESH)
		in.local_len = 0;
	int rc = dump_obj_put(d, o, &in, sizeof(in));
	uint32_t nr = 0;
	if (!rc)
		rc = sock_dump_opts(d, o, p->local, what, &nr);
	if (!rc && established)
		rc = dump_queues(d, p, o, &in);
	static const char zeros[8];
	if (!rc)
		rc = dump_obj_put(d, o, zeros, (8 - o->len % 8) % 8);
	if (!rc)
		((struct ckpt_img_oinet *)o->body)->nr_opts = nr;
	return rc;
}

/* The checkpoint is over. The target carries on: the connection leaves
   repair mode (a window probe tells the peer the window again) and its
   network lock is released. The target is about to be killed: both stay,
   closing a socket in repair mode sends nothing, and the lock keeps the
   peer's segments from meeting no socket until the restart releases it. */
static void inet_release(struct dump *d, struct dump_obj *o, int target_dies)
{
	int q = TCP_NO_QUEUE, off = TCP_REPAIR_OFF;
	setsockopt(o->hold, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q));
	if (target_dies || !o->locked)
		return;
	setsockopt(o->hold, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
	char why[300];
	int absent;
	if (ckpt_netunlock_tcp(o->lock_local, o->lock_peer, &absent, why, sizeof(why)) < 0)
		fprintf(stderr, "ckpt: warning: the network lock of a TCP connection of pid %d "
			"stays (its packets are dropped): %s\n", (int)d->pid, why);
	o->locked = 0;
}

/* ---- restart ---------------------------------------------------------- */

static const struct ckpt_img_oinet *oinet(const struct rs_obj *o)
{
	return (const void *)o->body;
}

static const struct ckpt_img_sockopt *iopts(const struct rs_obj *o)
{
	return (const void *)(o->body + sizeof(struct ckpt_img_oinet));
}

static const unsigned char *iqueues(const struct rs_obj *o)
{
	return (const unsigned char *)(iopts(o) + oinet(o)->nr_opts);
}

static unsigned what_of(const struct ckpt_img_oinet *in)
{
	return (in->family == AF_INET ? SOCKOPT_INET4 : SOCKOPT_INET6) |
	       (in->protocol == IPPROTO_TCP ? SOCKOPT_TCP : SOCKOPT_UDP);
}

static int addr_ok(const uint8_t *sa, uint32_t len, uint32_t fam)
{
	if (!len)
		return 1;
	const struct sockaddr *s = (const void *)sa;
	return s->sa_family == fam &&
	       len == (fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
}

static const char *inet_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_oinet)))
		return "inet socket record cut short";
	const struct ckpt_img_oinet *in = oinet(o);
	if ((in->family != AF_INET && in->family != AF_INET6) ||
	    !((in->type == SOCK_STREAM && in->protocol == IPPROTO_TCP) ||
	      (in->type == SOCK_DGRAM && in->protocol == IPPROTO_UDP)))
		return "inet socket neither TCP nor UDP over IPv4 or IPv6";
	if (in->state > CKPT_OINET_ESTABLISHED ||
	    (in->protocol == IPPROTO_UDP && in->state >= CKPT_OINET_LISTEN))
		return "inet socket state out of range";
	if (in->local_len > CKPT_OINET_ADDR_MAX || in->peer_len > CKPT_OINET_ADDR_MAX ||
	    !addr_ok(in->local, in->local_len, in->family) ||
	    !addr_ok(in->peer, in->peer_len, in->family))
		return "inet socket address of the wrong family or size";
	if ((in->state != CKPT_OINET_FRESH) != !!in->local_len ||
	    (in->state == CKPT_OINET_ESTABLISHED && !in->peer_len) ||
	    (in->protocol == IPPROTO_TCP && in->state != CKPT_OINET_ESTABLISHED && in->peer_len))
		return "inet socket addresses do not fit its state";
	if (in->nr_opts > 64 ||
	    !rs_obj_has(o, sizeof(*in), (uint64_t)in->nr_opts * sizeof(struct ckpt_img_sockopt)))
		return "inet socket options longer than the record";
	const char *why = sock_check_opts(iopts(o), in->nr_opts, what_of(in));
	if (why)
		return why;
	if (in->state == CKPT_OINET_ESTABLISHED) {
		if (in->inq_len > INET_MAX_QUEUE || in->outq_len > INET_MAX_QUEUE ||
		    in->unsent_len > in->outq_len ||
		    !rs_obj_has(o, (uint64_t)(iqueues(o) - o->body),
				(uint64_t)in->inq_len + in->outq_len))
			return "TCP queues longer than the record";
		if (in->snd_wscale > 14 || in->rcv_wscale > 14 || !in->mss || in->mss > 65535)
			return "TCP options out of range";
	}
	return NULL;
}

static int fail(char *msg, size_t msglen, const struct ckpt_img_oinet *in, const char *what)
{
	char la[80], ra[80];
	show_addr(in->local, in->local_len, la, sizeof(la));
	show_addr(in->peer, in->peer_len, ra, sizeof(ra));
	snprintf(msg, msglen, "%s socket %s%s%s: %s: %s", proto_name(in->protocol), la,
		 in->peer_len ? " -> " : "", in->peer_len ? ra : "", what, strerror(errno));
	return -1;
}

static int setint(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v));
}

static int send_all(int fd, const unsigned char *p, uint32_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int open_established(int fd, const struct ckpt_img_oinet *in, const unsigned char *q,
			    char *msg, size_t msglen)
{
	if (setint(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON) < 0)
		return fail(msg, msglen, in,
			    errno == EPERM ? "TCP_REPAIR (restoring an established connection "
					     "needs CAP_NET_ADMIN)"
					   : "TCP_REPAIR");
	if (bind(fd, (const struct sockaddr *)in->local, in->local_len) < 0)
		return fail(msg, msglen, in, "bind (repair mode)");
	if (setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 ||
	    setint(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, (int)(in->snd_seq - in->outq_len)) < 0 ||
	    setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0 ||
	    setint(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, (int)(in->rcv_seq - in->inq_len)) < 0)
		return fail(msg, msglen, in, "sequence numbers");
	if ((in->tcpi_options & TCPI_OPT_TIMESTAMPS) &&
	    setint(fd, IPPROTO_TCP, TCP_TIMESTAMP, (int)in->timestamp) < 0)
		return fail(msg, msglen, in, "TCP_TIMESTAMP");
	if (connect(fd, (const struct sockaddr *)in->peer, in->peer_len) < 0)
		return fail(msg, msglen, in, "connect (repair mode)");
	struct tcp_repair_opt opts[4];
	int n = 0;
	opts[n++] = (struct tcp_repair_opt){TCPOPT_MAXSEG, in->mss};
	if (in->tcpi_options & TCPI_OPT_WSCALE)
		opts[n++] = (struct tcp_repair_opt){TCPOPT_WINDOW,
						    in->snd_wscale | (in->rcv_wscale << 16)};
	if (in->tcpi_options & TCPI_OPT_SACK)
		opts[n++] = (struct tcp_repair_opt){TCPOPT_SACK_PERMITTED, 0};
	if (in->tcpi_options & TCPI_OPT_TIMESTAMPS)
		opts[n++] = (struct tcp_repair_opt){TCPOPT_TIMESTAMP, 0};
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts, (socklen_t)(n * sizeof(opts[0]))) <
	    0)
		return fail(msg, msglen, in, "TCP_REPAIR_OPTIONS");
	uint32_t sent = in->outq_len - in->unsent_len;
	if (setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0 ||
	    send_all(fd, q, in->inq_len) < 0)
		return fail(msg, msglen, in, "writing the receive queue back");
	if (setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 ||
	    send_all(fd, q + in->inq_len, sent) < 0)
		return fail(msg, msglen, in, "writing the sent, unacknowledged bytes back");
	setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE);
	if (in->has_window) {
		struct tcp_repair_window w = {.snd_wl1 = in->snd_wl1,
					      .snd_wnd = in->snd_wnd,
					      .max_window = in->max_window,
					      .rcv_wnd = in->rcv_wnd,
					      .rcv_wup = in->rcv_wup};
		if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)) < 0)
			return fail(msg, msglen, in, "TCP_REPAIR_WINDOW");
	}
	return 0;
}

static int inet_open(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	(void)c;
	const struct ckpt_img_oinet *in = oinet(o);
	int fd = socket((int)in->family, (int)in->type | SOCK_CLOEXEC, (int)in->protocol);
	if (fd < 0)
		return fail(msg, msglen, in, "socket");
	if (sock_apply_opts(fd, iopts(o), in->nr_opts, 1, msg, msglen) < 0)
		goto fail_close;
	if (in->state == CKPT_OINET_ESTABLISHED) {
		if (open_established(fd, in, iqueues(o), msg, msglen) < 0 ||
		    sock_apply_opts(fd, iopts(o), in->nr_opts, 0, msg, msglen) < 0)
			goto fail_close;
		if (setint(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF) < 0) {
			fail(msg, msglen, in, "leaving repair mode");
			goto fail_close;
		}
		uint32_t sent = in->outq_len - in->unsent_len;
		if (send_all(fd, iqueues(o) + in->inq_len + sent, in->unsent_len) < 0) {
			fail(msg, msglen, in, "sending the bytes not sent yet");
			goto fail_close;
		}
	} else {
		/* Connections of the dead original in TIME_WAIT that had
		   SO_REUSEADDR do not block the port if we set it too: for
		   bind and listen only, put back afterwards (as CRIU does).
		   Without it on their side, bind fails until they expire (the
		   error names the address). */
		int reuse = 0;
		socklen_t l = sizeof(reuse);
		getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, &l);
		if (in->protocol == IPPROTO_TCP && in->local_len && !reuse)
			setint(fd, SOL_SOCKET, SO_REUSEADDR, 1);
		if (in->local_len && bind(fd, (const struct sockaddr *)in->local, in->local_len) < 0) {
			fail(msg, msglen, in, "bind");
			goto fail_close;
		}
		if (in->state == CKPT_OINET_LISTEN && listen(fd, (int)in->backlog) < 0) {
			fail(msg, msglen, in, "listen");
			goto fail_close;
		}
		if (in->protocol == IPPROTO_TCP && in->local_len && !reuse)
			setint(fd, SOL_SOCKET, SO_REUSEADDR, 0);
		if (in->peer_len && connect(fd, (const struct sockaddr *)in->peer, in->peer_len) < 0) {
			fail(msg, msglen, in, "connect");
			goto fail_close;
		}
		if (sock_apply_opts(fd, iopts(o), in->nr_opts, 0, msg, msglen) < 0)
			goto fail_close;
	}
	if (fcntl(fd, F_SETFL, (int)o->h->open_flags & O_NONBLOCK) < 0) {
		fail(msg, msglen, in, "O_NONBLOCK");
		goto fail_close;
	}
	return fd;
fail_close:
	close(fd);
	return -1;
}

/* The restored connection is out of repair mode: let its packets through
   again. No lock is a warning only (released by hand, or the checkpoint was
   taken on another machine: that one's lock is not ours to release). */
static void inet_restored(struct rs_ctx *c, struct rs_obj *o)
{
	const struct ckpt_img_oinet *in = oinet(o);
	if (in->state != CKPT_OINET_ESTABLISHED)
		return;
	char why[300], cmd[300], la[80], ra[80];
	int absent;
	show_addr(in->local, in->local_len, la, sizeof(la));
	show_addr(in->peer, in->peer_len, ra, sizeof(ra));
	if (ckpt_netunlock_tcp(in->local, in->peer, &absent, why, sizeof(why)) < 0) {
		ckpt_netlock_cmd(in->local, in->peer, cmd, sizeof(cmd));
		rs_warn(c, "TCP connection %s -> %s: its network lock could not be released "
			"(%s); its packets are dropped until `%s`", la, ra, why, cmd);
	} else if (absent) {
		rs_warn(c, "TCP connection %s -> %s: no network lock was held on this machine "
			"(released already, or the checkpoint was taken elsewhere)", la, ra);
	}
}

static const char *state_name(uint32_t s)
{
	static const char *const n[] = {"unbound", "bound", "listening", "established"};
	return s <= CKPT_OINET_ESTABLISHED ? n[s] : "?";
}

static void inet_inspect(struct json *j, const struct rs_obj *o)
{
	const struct ckpt_img_oinet *in = oinet(o);
	char a[80];
	json_uint(j, "inode", in->ino);
	json_str(j, "protocol", proto_name(in->protocol));
	json_str(j, "family", in->family == AF_INET ? "IPv4" : "IPv6");
	json_str(j, "state", state_name(in->state));
	show_addr(in->local, in->local_len, a, sizeof(a));
	json_str(j, "local", a);
	if (in->peer_len) {
		show_addr(in->peer, in->peer_len, a, sizeof(a));
		json_str(j, "peer", a);
	}
	if (in->state == CKPT_OINET_LISTEN)
		json_uint(j, "backlog", in->backlog);
	if (in->state == CKPT_OINET_ESTABLISHED) {
		json_uint(j, "sendSeq", in->snd_seq);
		json_uint(j, "recvSeq", in->rcv_seq);
		json_uint(j, "sendQueue", in->outq_len);
		json_uint(j, "unsent", in->unsent_len);
		json_uint(j, "recvQueue", in->inq_len);
		json_uint(j, "mss", in->mss);
	}
	sock_inspect_opts(j, iopts(o), in->nr_opts);
}

static void inet_describe(const struct rs_obj *o, char *buf, size_t len)
{
	const struct ckpt_img_oinet *in = oinet(o);
	char la[80], ra[80];
	show_addr(in->local, in->local_len, la, sizeof(la));
	show_addr(in->peer, in->peer_len, ra, sizeof(ra));
	snprintf(buf, len, "socket:[%llu] (%s %s %s%s%s)", (unsigned long long)in->ino,
		 proto_name(in->protocol), state_name(in->state), la, in->peer_len ? " -> " : "",
		 in->peer_len ? ra : "");
}

const struct fd_kind fd_kind_inet = {
	.kind = CKPT_OBJ_INET,
	.name = "inet",
	.dump = inet_dump,
	.release = inet_release,
	.check = inet_check,
	.open = inet_open,
	.restored = inet_restored,
	.inspect = inet_inspect,
	.describe = inet_describe,
	.on_restart = "bound again to its address (listening, UDP); an established TCP "
		      "connection through TCP_REPAIR",
};
