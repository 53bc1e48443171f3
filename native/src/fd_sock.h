/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the socket kinds (fd_unix.c, fd_inet.c) share: the list of socket
 * options that are saved and set again, and finding who else holds a
 * socket (for refusals that name it).
 */
#ifndef CKPT_FD_SOCK_H
#define CKPT_FD_SOCK_H

#include <stdint.h>
#include <sys/types.h>

#include "ckpt_image.h"

struct dump;
struct dump_obj;
struct json;

/* Which sockets an option applies to (masks). */
#define SOCKOPT_UNIX (1u << 0)
#define SOCKOPT_INET4 (1u << 1)
#define SOCKOPT_INET6 (1u << 2)
#define SOCKOPT_TCP (1u << 3)
#define SOCKOPT_UDP (1u << 4)
#define SOCKOPT_ESTABLISHED (1u << 5) /* an established TCP connection */

/* The options of the socket `fd` that apply to `what`, appended to o's
   body; their count in *nr. 0 or -errno (message set). */
int sock_dump_opts(struct dump *d, struct dump_obj *o, int fd, unsigned what, uint32_t *nr);
/* Image check: every option is one this engine knows for `what`. NULL or
   what is wrong. */
const char *sock_check_opts(const struct ckpt_img_sockopt *v, uint32_t nr, unsigned what);
/* Set the options (before_bind: only those that must precede bind; else
   the others) where the new socket's value differs. 0 or -1 with msg. */
int sock_apply_opts(int fd, const struct ckpt_img_sockopt *v, uint32_t nr, int before_bind,
		    char *msg, size_t msglen);
/* A process other than `self` holding socket:[ino]: its pid, or 0. */
pid_t sock_holder(pid_t self, uint64_t ino);
/* Process `pid` holds socket:[ino]: 1, else 0. */
int sock_holder_in(pid_t pid, uint64_t ino);
/* fd_unix.c: p is a unix socket whose peer is another descriptor of the
   same process (a socketpair on fd 0-2 is the job's own, not stdio). */
struct fd_probe;
int unix_peer_in_process(const struct fd_probe *p);
/* The same for any process of the job (dump.h's d->job). */
struct dump;
int unix_peer_in_job(const struct dump *d, const struct fd_probe *p);
void sock_inspect_opts(struct json *j, const struct ckpt_img_sockopt *v, uint32_t nr);

#endif
