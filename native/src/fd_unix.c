// SPDX-License-Identifier: BSD-3-Clause
/*
 * CKPT_OBJ_UNIX: an AF_UNIX socket ("socket:[INO]"), stream, datagram or
 * seqpacket, with what is queued for it to read.
 *
 * What comes back: pairs connected both ways whose two ends are in the job
 * (socketpair, or connect + accept inside the job: made again as a
 * socketpair, so they come back unnamed); a stream whose peer was closed
 * (the data, then EOF); listening sockets (accept queue empty) and bound
 * datagram sockets, bound again to the same name (a path or an abstract
 * name); a datagram socket connected to a bound socket of the job; plain
 * unconnected sockets. Options from fd_sock.c, O_NONBLOCK, shutdown state.
 *
 * Refused, naming pid, fd and the object: a peer outside the job (its holder
 * named when one is found), descriptors in flight (SCM_RIGHTS), connections
 * waiting in a listener's accept queue, a socket file that was removed or
 * replaced since bind, names relative to a directory.
 *
 * Checkpoint: the kernel's sock_diag interface (NETLINK_SOCK_DIAG, unix
 * family) gives the state, the peer's inode, queue lengths, shutdown and the
 * socket file's inode. Queued data is read with MSG_PEEK through our
 * duplicate of the descriptor, with SO_PEEK_OFF moving over it (set back to
 * the target's value afterwards): the target's data stays where it was, and
 * datagram and seqpacket boundaries are kept, one record per message.
 *
 * Restart: the first end of a pair made creates the socketpair and writes
 * both ends' queued data through the other end; the second end takes the
 * other half. A name still on disk from the dead original is replaced only
 * if it is a socket that nobody listens on (checked before anything is
 * created), never another kind of file.
 */
#include "dump.h"
#include "fd.h"
#include "fd_sock.h"
#include "json.h"
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define TCP_ESTABLISHED_ 1
#define TCP_CLOSE_ 7
#define TCP_LISTEN_ 10
#define UNIX_MAX_MSGS 65536

/* ---- sock_diag ---------------------------------------------------------- */

struct unix_info {
	uint8_t type, state;
	int has_peer;
	uint32_t peer;
	int has_rq;
	uint32_t rqueue, wqueue;
	uint8_t shutdown;
	int has_vfs;
	uint32_t vfs_ino, vfs_dev;
	char name[CKPT_OUNIX_NAME_MAX + 1];
	uint32_t name_len;
};

/* The kernel's view of socket `ino`. 0, or -errno. */
static int unix_diag(uint64_t ino, struct unix_info *ui)
{
	memset(ui, 0, sizeof(*ui));
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req = {
		.h = {.nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		      .nlmsg_flags = NLM_F_REQUEST},
		.r = {.sdiag_family = AF_UNIX, .udiag_states = ~0u, .udiag_ino = (uint32_t)ino,
		      .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER |
				    UDIAG_SHOW_RQLEN,
		      .udiag_cookie = {~0u, ~0u}},
	};
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	int rc = -EIO;
	if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out;
	}
	static __thread char buf[8192];
	ssize_t n = recv(nl, buf, sizeof(buf), 0);
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);
			rc = e->error ? e->error : -ENOENT;
			goto out;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
			continue;
		const struct unix_diag_msg *m = NLMSG_DATA(h);
		if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || m->udiag_ino != (uint32_t)ino)
			continue;
		ui->type = m->udiag_type;
		ui->state = m->udiag_state;
		size_t left = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
		for (struct nlattr *a = (void *)(m + 1); left >= sizeof(*a) &&
							 a->nla_len >= sizeof(*a) && a->nla_len <= left;) {
			const void *v = a + 1;
			size_t vl = a->nla_len - sizeof(*a);
			switch (a->nla_type) {
			case UNIX_DIAG_NAME:
				ui->name_len = vl > CKPT_OUNIX_NAME_MAX ? CKPT_OUNIX_NAME_MAX : (uint32_t)vl;
				memcpy(ui->name, v, ui->name_len);
				break;
			case UNIX_DIAG_VFS:
				if (vl >= sizeof(struct unix_diag_vfs)) {
					const struct unix_diag_vfs *f = v;
					ui->has_vfs = 1;
					ui->vfs_ino = f->udiag_vfs_ino;
					ui->vfs_dev = f->udiag_vfs_dev;
				}
				break;
			case UNIX_DIAG_PEER:
				if (vl >= 4) {
					ui->has_peer = 1;
					memcpy(&ui->peer, v, 4);
				}
				break;
			case UNIX_DIAG_RQLEN:
				if (vl >= sizeof(struct unix_diag_rqlen)) {
					const struct unix_diag_rqlen *q = v;
					ui->has_rq = 1;
					ui->rqueue = q->udiag_rqueue;
					ui->wqueue = q->udiag_wqueue;
				}
				break;
			case UNIX_DIAG_SHUTDOWN:
				if (vl >= 1)
					ui->shutdown = *(const uint8_t *)v;
				break;
			}
			size_t step = NLA_ALIGN(a->nla_len);
			if (step >= left)
				break;
			left -= step;
			a = (struct nlattr *)((char *)a + step);
		}
		rc = 0;
		goto out;
	}
	rc = -ENOENT;
out:
	close(nl);
	return rc;
}

/* "@name" (abstract) or the path, for messages. */
static void show_name(const uint8_t *name, uint32_t len, char *out, size_t outlen)
{
	if (!len) {
		snprintf(out, outlen, "(unnamed)");
		return;
	}
	size_t k = 0;
	for (uint32_t i = 0; i < len && k + 1 < outlen; i++) {
		char ch = (char)name[i];
		if (i == 0 && ch == '\0')
			ch = '@';
		else if (ch == '\0' && i == len - 1)
			break;
		out[k++] = (ch >= 32 && ch < 127) ? ch : '?';
	}
	out[k] = '\0';
}

static const char *type_name(uint32_t type)
{
	return type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "datagram" : "seqpacket";
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

/* Queued messages, read with MSG_PEEK at a moving SO_PEEK_OFF; the target's
   own peek offset is put back. Appends records to o and counts them. */
static int copy_queue(struct dump *d, const struct fd_probe *p, struct dump_obj *o,
		      uint32_t type, uint32_t *nr, uint64_t *bytes)
{
	int old = -1, zero = 0;
	socklen_t l = sizeof(old);
	if (getsockopt(p->local, SOL_SOCKET, SO_PEEK_OFF, &old, &l) < 0 ||
	    setsockopt(p->local, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0)
		return fd_refuse(d, p, errno, "unix %s socket: SO_PEEK_OFF (needed to read the "
				 "queued data without taking it)", type_name(type));
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	int rc = buf ? 0 : fd_refuse(d, p, ENOMEM, "no memory for the queued data");
	*nr = 0;
	*bytes = 0;
	while (!rc) {
		char cbuf[CMSG_SPACE(sizeof(int) * 253)];
		struct iovec iov = {buf, cap};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		ssize_t n = recvmsg(p->local, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			rc = fd_refuse(d, p, errno, "unix socket: reading the queued data");
			break;
		}
		int fds_in_flight = 0;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			int *fds = (int *)CMSG_DATA(cm);
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++)
				close(fds[i]);
			fds_in_flight += (int)k;
		}
		if (fds_in_flight || (mh.msg_flags & MSG_CTRUNC)) {
			rc = fd_refuse(d, p, ENOTSUP,
				       "unix %s socket has descriptors in flight (SCM_RIGHTS) in its "
				       "queue; they cannot be checkpointed",
				       type_name(type));
			break;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			rc = fd_refuse(d, p, EMSGSIZE, "unix socket: a queued message is longer "
				       "than %zu bytes", cap);
			break;
		}
		if (n == 0 && type == SOCK_STREAM)
			break; /* EOF */
		if (++*nr > UNIX_MAX_MSGS) {
			rc = fd_refuse(d, p, E2BIG, "unix socket: more than %d queued messages",
				       UNIX_MAX_MSGS);
			break;
		}
		struct ckpt_img_sockmsg m = {.len = (uint32_t)n};
		static const char zeros[8];
		size_t padn = (8 - (size_t)n % 8) % 8;
		rc = dump_obj_put(d, o, &m, sizeof(m));
		if (!rc)
			rc = dump_obj_put(d, o, buf, (size_t)n);
		if (!rc)
			rc = dump_obj_put(d, o, zeros, padn);
		*bytes += sizeof(m) + (size_t)n + padn;
	}
	free(buf);
	if (setsockopt(p->local, SOL_SOCKET, SO_PEEK_OFF, &old, sizeof(old)) < 0 && !rc)
		rc = fd_refuse(d, p, errno, "unix socket: putting SO_PEEK_OFF back to %d", old);
	return rc;
}

static int unix_dump(struct dump *d, const struct fd_probe *p, struct dump_obj *o)
{
	uint64_t ino;
	int dom = 0, type = 0;
	socklen_t l = sizeof(dom);
	if (!sock_ino(p->link, &ino))
		return 1;
	if (p->local < 0)
		return fd_refuse(d, p, EPERM, "socket: cannot take the descriptor (pidfd_getfd)");
	if (getsockopt(p->local, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0 || dom != AF_UNIX)
		return 1;
	l = sizeof(type);
	if (getsockopt(p->local, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
		return fd_refuse(d, p, errno, "unix socket: SO_TYPE");
	if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
		return fd_refuse(d, p, ENOTSUP, "unix socket of type %d", type);
	struct unix_info ui;
	int rc = unix_diag(ino, &ui);
	if (rc)
		return fd_refuse(d, p, -rc, "unix socket: the kernel's sock_diag does not describe "
				 "it (CONFIG_UNIX_DIAG?)");
	struct ckpt_img_ounix u = {.ino = ino, .type = (uint32_t)type, .shutdown = ui.shutdown};
	struct sockaddr_un sun;
	socklen_t sl = sizeof(sun);
	memset(&sun, 0, sizeof(sun));
	if (getsockname(p->local, (struct sockaddr *)&sun, &sl) < 0)
		return fd_refuse(d, p, errno, "unix socket: getsockname");
	if (sl > offsetof(struct sockaddr_un, sun_path)) {
		u.name_len = sl - (uint32_t)offsetof(struct sockaddr_un, sun_path);
		memcpy(u.name, sun.sun_path, u.name_len);
	}
	char nm[CKPT_OUNIX_NAME_MAX + 8];
	show_name(u.name, u.name_len, nm, sizeof(nm));
	if (u.name_len && u.name[0] != '\0') { /* a path: still the same file? */
		if (u.name[0] != '/')
			return fd_refuse(d, p, ENOTSUP, "unix socket bound to the relative path "
					 "'%s': the directory it is relative to is not known", nm);
		char path[CKPT_OUNIX_NAME_MAX + 1];
		memcpy(path, u.name, u.name_len);
		path[u.name_len] = '\0';
		struct stat st;
		if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || !ui.has_vfs ||
		    st.st_ino != ui.vfs_ino)
			return fd_refuse(d, p, ENOTSUP, "unix socket bound to %s: that file was "
					 "removed or replaced since; binding it again would make "
					 "a name that was gone", nm);
		u.file_mode = st.st_mode & 07777;
		u.file_uid = st.st_uid;
		u.file_gid = st.st_gid;
	}
	if (ui.state == TCP_LISTEN_) {
		u.state = CKPT_OUNIX_LISTEN;
		u.backlog = ui.wqueue;
		if (ui.rqueue)
			return fd_refuse(d, p, ENOTSUP, "unix %s socket listening on %s has %u "
					 "connection(s) waiting in its accept queue; accept them "
					 "first or checkpoint later", type_name(u.type), nm, ui.rqueue);
	} else if (ui.has_peer && ui.peer) {
		/* PAIR or CONNECTED: dump_done checks the peer is in the job */
		u.state = CKPT_OUNIX_PAIR;
		u.peer_ino = ui.peer;
	} else if (ui.has_peer || (type != SOCK_DGRAM && ui.state == TCP_ESTABLISHED_)) {
		if (type == SOCK_DGRAM)
			return fd_refuse(d, p, ENOTSUP, "unix datagram socket connected to a socket "
					 "that was closed since");
		u.state = CKPT_OUNIX_PEER_GONE;
	} else {
		u.state = CKPT_OUNIX_UNCONNECTED;
	}
	rc = dump_obj_put(d, o, &u, sizeof(u));
	uint32_t nr_opts = 0, nr_msgs = 0;
	uint64_t bytes = 0;
	if (!rc)
		rc = sock_dump_opts(d, o, p->local, SOCKOPT_UNIX, &nr_opts);
	if (!rc && u.state != CKPT_OUNIX_LISTEN)
		rc = copy_queue(d, p, o, u.type, &nr_msgs, &bytes);
	if (rc)
		return rc;
	struct ckpt_img_ounix *w = (struct ckpt_img_ounix *)o->body;
	w->nr_opts = nr_opts;
	w->nr_msgs = nr_msgs;
	w->data_len = bytes;
	return 0;
}

int unix_peer_in_process(const struct fd_probe *p)
{
	uint64_t ino;
	struct unix_info ui;
	if (!sock_ino(p->link, &ino) || unix_diag(ino, &ui) || !ui.has_peer || !ui.peer)
		return 0;
	return sock_holder_in(p->pid, ui.peer);
}

int unix_peer_in_job(const struct dump *d, const struct fd_probe *p)
{
	uint64_t ino;
	struct unix_info ui;
	if (!sock_ino(p->link, &ino) || unix_diag(ino, &ui) || !ui.has_peer || !ui.peer)
		return 0;
	if (sock_holder_in(p->pid, ui.peer))
		return 1;
	for (uint32_t i = 0; d->job && i < d->nr_job; i++)
		if (d->job[i] != p->pid && sock_holder_in(d->job[i], ui.peer))
			return 1;
	return 0;
}

static const struct ckpt_img_ounix *ounix_of(const struct dump_obj *o)
{
	return (const void *)o->body;
}

static struct dump_obj *find_dumped(struct dump *d, uint64_t ino)
{
	for (uint32_t i = 0; i < d->nr_objs; i++)
		if (d->objs[i].kind == CKPT_OBJ_UNIX && ounix_of(&d->objs[i])->ino == ino)
			return &d->objs[i];
	return NULL;
}

/* Every peer is in the job: a pair both ways, or a datagram socket connected
   to a bound one. */
static int unix_dump_done(struct dump *d)
{
	for (uint32_t i = 0; i < d->nr_objs; i++) {
		struct dump_obj *o = &d->objs[i];
		if (o->kind != CKPT_OBJ_UNIX || ounix_of(o)->state != CKPT_OUNIX_PAIR)
			continue;
		struct ckpt_img_ounix *u = (struct ckpt_img_ounix *)o->body;
		struct dump_obj *q = find_dumped(d, u->peer_ino);
		if (q && ounix_of(q)->peer_ino == u->ino)
			continue; /* both ways */
		if (q && u->type == SOCK_DGRAM && ounix_of(q)->name_len) {
			if (u->nr_msgs)
				return ckpt_fail(d->e, ENOTSUP,
						 "pid %d fd %d (socket:[%llu]): unix datagram socket "
						 "connected to another socket of the job has %u queued "
						 "message(s) whose senders cannot be made again",
						 d->pid, o->first_fd, (unsigned long long)u->ino,
						 u->nr_msgs);
			u->state = CKPT_OUNIX_CONNECTED;
			continue;
		}
		struct unix_info pi;
		char pn[CKPT_OUNIX_NAME_MAX + 8] = "(unnamed)";
		if (!unix_diag(u->peer_ino, &pi))
			show_name((const uint8_t *)pi.name, pi.name_len, pn, sizeof(pn));
		pid_t who = sock_holder(d->pid, u->peer_ino);
		char whos[48] = "no process found";
		if (who)
			snprintf(whos, sizeof(whos), "pid %d", who);
		if (who && d->job && dump_in_job(d, who))
			continue; /* another process of the job: shared.c pairs them */
		return ckpt_fail(d->e, ENOTSUP,
				 "pid %d fd %d (socket:[%llu]): unix %s socket connected to "
				 "socket:[%llu] %s, held by %s, outside what is checkpointed; the "
				 "connection cannot come back (checkpoint the whole job)",
				 d->pid, o->first_fd, (unsigned long long)u->ino, type_name(u->type),
				 (unsigned long long)u->peer_ino, pn, whos);
	}
	return 0;
}

/* ---- restart ---------------------------------------------------------- */

static const struct ckpt_img_ounix *ounix(const struct rs_obj *o)
{
	return (const void *)o->body;
}

static const struct ckpt_img_sockopt *uopts(const struct rs_obj *o)
{
	return (const void *)(o->body + sizeof(struct ckpt_img_ounix));
}

static const unsigned char *umsgs(const struct rs_obj *o)
{
	return o->body + sizeof(struct ckpt_img_ounix) +
	       ounix(o)->nr_opts * sizeof(struct ckpt_img_sockopt);
}

static const char *unix_check(const struct rs_obj *o)
{
	if (!rs_obj_has(o, 0, sizeof(struct ckpt_img_ounix)))
		return "unix socket record cut short";
	const struct ckpt_img_ounix *u = ounix(o);
	if (u->type != SOCK_STREAM && u->type != SOCK_DGRAM && u->type != SOCK_SEQPACKET)
		return "unix socket of an unknown type";
	if (u->state > CKPT_OUNIX_CONNECTED || u->name_len > CKPT_OUNIX_NAME_MAX ||
	    u->shutdown > 3)
		return "unix socket state, name length or shutdown out of range";
	if ((u->state == CKPT_OUNIX_PAIR || u->state == CKPT_OUNIX_CONNECTED) != !!u->peer_ino)
		return "unix socket peer does not fit its state";
	if (u->state == CKPT_OUNIX_LISTEN && (!u->name_len || u->type == SOCK_DGRAM || u->nr_msgs))
		return "listening unix socket without a name, of datagram type or with data";
	if (u->name_len && u->name[0] != '\0') {
		const uint8_t *nul = memchr(u->name, '\0', u->name_len);
		if (u->name[0] != '/' || (nul && nul != u->name + u->name_len - 1))
			return "unix socket path not absolute or with a NUL inside";
	}
	if (u->nr_opts > 64 ||
	    !rs_obj_has(o, sizeof(*u), (uint64_t)u->nr_opts * sizeof(struct ckpt_img_sockopt)))
		return "unix socket options longer than the record";
	const char *why = sock_check_opts(uopts(o), u->nr_opts, SOCKOPT_UNIX);
	if (why)
		return why;
	uint64_t at = (uint64_t)(umsgs(o) - o->body);
	if (!rs_obj_has(o, at, u->data_len) || u->nr_msgs > UNIX_MAX_MSGS)
		return "unix socket data longer than the record";
	uint64_t end = at + u->data_len;
	for (uint32_t i = 0; i < u->nr_msgs; i++) {
		if (end - at < sizeof(struct ckpt_img_sockmsg))
			return "unix socket message cut short";
		const struct ckpt_img_sockmsg *m = (const void *)(o->body + at);
		uint64_t n = sizeof(*m) + ((m->len + 7ull) & ~7ull);
		if (n > end - at)
			return "unix socket message longer than the record";
		at += n;
	}
	if (at != end)
		return "unix socket data does not match its messages";
	if (u->type == SOCK_STREAM && u->nr_msgs > 1)
		return "unix stream socket with more than one data record";
	return NULL;
}

static const struct rs_obj *find_unix(const struct rs_ctx *c, uint64_t ino)
{
	for (uint32_t i = 0; i < c->nr_objs; i++)
		if (c->objs[i].h->kind == CKPT_OBJ_UNIX && ounix(&c->objs[i])->ino == ino)
			return &c->objs[i];
	return NULL;
}

static void sun_of(const struct ckpt_img_ounix *u, struct sockaddr_un *sun, socklen_t *len)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, u->name, u->name_len);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + u->name_len);
}

/* A path name: still there from the dead original? Only a socket nobody
   answers on may be replaced. 0, 1 (free), or -1 with msg. */
static int path_free(const struct ckpt_img_ounix *u, char *msg, size_t msglen)
{
	char path[CKPT_OUNIX_NAME_MAX + 1];
	memcpy(path, u->name, u->name_len);
	path[u->name_len] = '\0';
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 1 : 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(msg, msglen, "unix socket name %s exists and is not a socket; it is "
			 "not replaced", path);
		return -1;
	}
	int s = socket(AF_UNIX, (int)u->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return 0;
	struct sockaddr_un sun;
	socklen_t sl;
	sun_of(u, &sun, &sl);
	int r = connect(s, (struct sockaddr *)&sun, sl);
	int err = errno;
	close(s);
	if (r == 0 || err == EAGAIN) {
		snprintf(msg, msglen, "unix socket name %s is in use by a live socket; it is "
			 "not replaced", path);
		return -1;
	}
	return 0;
}

static int unix_verify(struct rs_ctx *c, struct rs_obj *o)
{
	const struct ckpt_img_ounix *u = ounix(o);
	char msg[300];
	if (u->name_len && u->name[0] == '/' && path_free(u, msg, sizeof(msg)) < 0)
		return ckpt_fail(c->e, EADDRINUSE, "image %s: %s", c->label, msg);
	if (u->state != CKPT_OUNIX_PAIR && u->state != CKPT_OUNIX_CONNECTED)
		return 0;
	const struct rs_obj *q = find_unix(c, u->peer_ino);
	if (!q || ounix(q)->type != u->type ||
	    (u->state == CKPT_OUNIX_PAIR &&
	     (ounix(q)->state != CKPT_OUNIX_PAIR || ounix(q)->peer_ino != u->ino)) ||
	    (u->state == CKPT_OUNIX_CONNECTED && !ounix(q)->name_len))
		return ckpt_fail(c->e, EBADMSG, "image %s: unix socket:[%llu] is connected to "
				 "socket:[%llu], which the image does not hold as its peer",
				 c->label, (unsigned long long)u->ino,
				 (unsigned long long)u->peer_ino);
	return 0;
}

/* In the new process: the other halves of socketpairs until their object
   is opened. */
#define RS_MAX_PAIRS 1024
static struct {
	uint64_t ino;
	int fd;
} halves[RS_MAX_PAIRS];
static int nr_halves;

static int fail(char *msg, size_t msglen, const struct ckpt_img_ounix *u, const char *what)
{
	char nm[CKPT_OUNIX_NAME_MAX + 8];
	show_name(u->name, u->name_len, nm, sizeof(nm));
	snprintf(msg, msglen, "unix %s socket:[%llu] %s: %s: %s", type_name(u->type),
		 (unsigned long long)u->ino, nm, what, strerror(errno));
	return -1;
}

/* The messages queued for o, written by `from` (its peer, or a helper). */
static int put_queue(const struct rs_obj *o, int from, const struct sockaddr_un *to,
		     socklen_t tolen, char *msg, size_t msglen)
{
	const struct ckpt_img_ounix *u = ounix(o);
	const unsigned char *at = umsgs(o);
	for (uint32_t i = 0; i < u->nr_msgs; i++) {
		const struct ckpt_img_sockmsg *m = (const void *)at;
		const unsigned char *data = (const unsigned char *)(m + 1);
		uint32_t done = 0;
		do {
			ssize_t n = sendto(from, data + done, m->len - done, MSG_DONTWAIT | MSG_NOSIGNAL,
					   (const struct sockaddr *)to, to ? tolen : 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return fail(msg, msglen, u, "writing its queued data back");
			done += (uint32_t)n;
		} while (done < m->len && u->type == SOCK_STREAM);
		at += sizeof(*m) + ((m->len + 7ull) & ~7ull);
	}
	return 0;
}

static int set_shutdown(int fd, const struct ckpt_img_ounix *u)
{
	if ((u->shutdown & 2) && shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN)
		return -1;
	if ((u->shutdown & 1) && shutdown(fd, SHUT_RD) < 0 && errno != ENOTCONN)
		return -1;
	return 0;
}

static int open_pair(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	const struct ckpt_img_ounix *u = ounix(o);
	for (int i = 0; i < nr_halves; i++)
		if (halves[i].ino == u->ino && halves[i].fd >= 0) {
			int fd = halves[i].fd;
			halves[i].fd = -1;
			return fd;
		}
	if (nr_halves == RS_MAX_PAIRS) {
		snprintf(msg, msglen, "more than %d unix socket pairs", RS_MAX_PAIRS);
		return -1;
	}
	int sv[2];
	if (socketpair(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0, sv) < 0)
		return fail(msg, msglen, u, "socketpair");
	const struct rs_obj *q = u->state == CKPT_OUNIX_PAIR ? find_unix(c, u->peer_ino) : NULL;
	if (sock_apply_opts(sv[0], uopts(o), u->nr_opts, 0, msg, msglen) < 0 ||
	    (q && sock_apply_opts(sv[1], uopts(q), ounix(q)->nr_opts, 0, msg, msglen) < 0))
		return -1;
	if (put_queue(o, sv[1], NULL, 0, msg, msglen) < 0 ||
	    (q && put_queue(q, sv[0], NULL, 0, msg, msglen) < 0))
		return -1;
	if (!q) { /* the peer was closed: EOF after the data, as before */
		close(sv[1]);
	} else {
		if (set_shutdown(sv[1], ounix(q)) < 0)
			return fail(msg, msglen, ounix(q), "shutdown");
		halves[nr_halves].ino = u->peer_ino;
		halves[nr_halves].fd = sv[1];
		nr_halves++;
	}
	if (set_shutdown(sv[0], u) < 0)
		return fail(msg, msglen, u, "shutdown");
	return sv[0];
}

static int unix_open(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	const struct ckpt_img_ounix *u = ounix(o);
	int fd;
	if (u->state == CKPT_OUNIX_PAIR || u->state == CKPT_OUNIX_PEER_GONE) {
		fd = open_pair(c, o, msg, msglen);
		if (fd < 0)
			return -1;
	} else {
		fd = socket(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return fail(msg, msglen, u, "socket");
		if (sock_apply_opts(fd, uopts(o), u->nr_opts, 0, msg, msglen) < 0)
			return -1;
		struct sockaddr_un sun;
		socklen_t sl;
		sun_of(u, &sun, &sl);
		if (u->name_len) {
			if (u->name[0] == '/') {
				int fr = path_free(u, msg, msglen);
				if (fr < 0)
					return -1;
				if (!fr && unlink(sun.sun_path) < 0 && errno != ENOENT)
					return fail(msg, msglen, u, "removing the dead original's "
						    "socket file");
			}
			if (bind(fd, (struct sockaddr *)&sun, sl) < 0)
				return fail(msg, msglen, u, "bind");
			if (u->name[0] == '/' &&
			    (chmod(sun.sun_path, u->file_mode) < 0 ||
			     (geteuid() == 0 && lchown(sun.sun_path, u->file_uid, u->file_gid) < 0)))
				return fail(msg, msglen, u, "mode and owner of the socket file");
		}
		if (u->state == CKPT_OUNIX_LISTEN && listen(fd, (int)u->backlog) < 0)
			return fail(msg, msglen, u, "listen");
		if (u->nr_msgs) { /* datagrams queued for a bound socket */
			int h = socket(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0);
			if (h < 0)
				return fail(msg, msglen, u, "socket for its queued data");
			int r = put_queue(o, h, &sun, sl, msg, msglen);
			close(h);
			if (r < 0)
				return -1;
		}
	}
	if (fcntl(fd, F_SETFL, (int)o->h->open_flags & O_NONBLOCK) < 0)
		return fail(msg, msglen, u, "O_NONBLOCK");
	return fd;
}

/* Every socket exists and has its number: datagram sockets connect to their
   bound peers; halves nobody took are closed. */
static int unix_post(struct rs_ctx *c, struct rs_obj *o, char *msg, size_t msglen)
{
	const struct ckpt_img_ounix *u = ounix(o);
	if (u->state == CKPT_OUNIX_CONNECTED) {
		const struct rs_obj *q = find_unix(c, u->peer_ino);
		struct sockaddr_un sun;
		socklen_t sl;
		sun_of(ounix(q), &sun, &sl);
		if (connect(rs_obj_fd(c, o), (struct sockaddr *)&sun, sl) < 0)
			return fail(msg, msglen, u, "connect to its peer");
	}
	for (int i = 0; i < nr_halves; i++)
		if (halves[i].fd >= 0) {
			close(halves[i].fd);
			halves[i].fd = -1;
		}
	return 0;
}

static const char *state_name(uint32_t s)
{
	static const char *const n[] = {"unconnected", "listening", "pair", "peer-closed",
					"connected"};
	return s <= CKPT_OUNIX_CONNECTED ? n[s] : "?";
}

static void unix_inspect(struct json *j, const struct rs_obj *o)
{
	const struct ckpt_img_ounix *u = ounix(o);
	char nm[CKPT_OUNIX_NAME_MAX + 8];
	show_name(u->name, u->name_len, nm, sizeof(nm));
	json_uint(j, "inode", u->ino);
	json_str(j, "type", type_name(u->type));
	json_str(j, "state", state_name(u->state));
	if (u->name_len)
		json_str(j, "name", nm);
	if (u->peer_ino)
		json_uint(j, "peerInode", u->peer_ino);
	if (u->state == CKPT_OUNIX_LISTEN)
		json_uint(j, "backlog", u->backlog);
	json_uint(j, "queuedMessages", u->nr_msgs);
	json_uint(j, "shutdown", u->shutdown);
	sock_inspect_opts(j, uopts(o), u->nr_opts);
}

static void unix_describe(const struct rs_obj *o, char *buf, size_t len)
{
	const struct ckpt_img_ounix *u = ounix(o);
	char nm[CKPT_OUNIX_NAME_MAX + 8];
	show_name(u->name, u->name_len, nm, sizeof(nm));
	snprintf(buf, len, "socket:[%llu] (unix %s, %s%s%s%s)", (unsigned long long)u->ino,
		 type_name(u->type), state_name(u->state), u->name_len ? " " : "",
		 u->name_len ? nm : "", u->nr_msgs ? ", with queued data" : "");
}

const struct fd_kind fd_kind_unix = {
	.kind = CKPT_OBJ_UNIX,
	.name = "unix",
	.dump = unix_dump,
	.dump_done = unix_dump_done,
	.check = unix_check,
	.verify = unix_verify,
	.open = unix_open,
	.post = unix_post,
	.inspect = unix_inspect,
	.describe = unix_describe,
	.on_restart = "made again (pair, name, options) with the data queued for it",
};
