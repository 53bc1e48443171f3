/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The network lock of an established TCP connection (see netlock.c): its
 * packets are dropped, both ways, from the checkpoint until the restart has
 * the connection's socket back. Without it the peer's next segment (a
 * retransmission of data the frozen process had not acknowledged yet, new
 * data, a keepalive) meets no socket once the process is killed, and the
 * kernel answers it with a RST: the connection is lost.
 */
#ifndef CKPT_NETLOCK_H
#define CKPT_NETLOCK_H

#include <stddef.h>
#include <stdint.h>

/* The nftables table holding every lock of this machine. */
#define CKPT_NETLOCK_TABLE "inet ckpt-netlock"

/* local and peer are struct sockaddr_in or sockaddr_in6 (an IPv4-mapped
   IPv6 pair is locked as the IPv4 connection it is on the wire). 0, or -1
   with msg filled (what failed and nftables' own words). */
int ckpt_netlock_tcp(const uint8_t *local, const uint8_t *peer, char *msg, size_t msglen);
/* Release a lock; *absent is set when there was none (already released,
   or taken on another machine). 0, or -1 with msg filled. */
int ckpt_netunlock_tcp(const uint8_t *local, const uint8_t *peer, int *absent, char *msg,
		       size_t msglen);
/* The nft command that releases that lock by hand, for messages. */
void ckpt_netlock_cmd(const uint8_t *local, const uint8_t *peer, char *out, size_t outlen);

#endif
