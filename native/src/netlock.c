// SPDX-License-Identifier: BSD-3-Clause
/*
 * Network lock for established TCP connections (--tcp-established), through
 * nftables as CRIU does: one table, "inet ckpt-netlock", with a set of
 * locked connections per IP version (local address . port . peer address .
 * port) and a chain on the input and on the output hook that drops every
 * packet of a connection in the set. A lock is an element of a set, so
 * taking and releasing one is one atomic nftables command, and locks of
 * different checkpoints never touch each other's.
 *
 * The checkpoint takes the lock before the socket enters repair mode (from
 * then on nothing the peer sends changes the socket being read) and releases
 * it when the target carries on; when the target is killed the lock stays,
 * and the restart releases it once the new socket is out of repair mode.
 * Meanwhile the peer's segments are dropped, not answered: it retransmits
 * (with backoff) until the restored socket acknowledges them.
 *
 * libnftables is loaded when a lock is first needed (dlopen), so that
 * libckpt works without it for everything else; without it, an established
 * connection refuses the checkpoint naming the library.
 */
#include "netlock.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define NFT_LIB "libnftables.so.1"

static struct {
	typeof(nft_ctx_new) *ctx_new;
	typeof(nft_ctx_free) *ctx_free;
	typeof(nft_ctx_buffer_output) *buffer_output;
	typeof(nft_ctx_buffer_error) *buffer_error;
	typeof(nft_ctx_get_error_buffer) *error_buffer;
	typeof(nft_run_cmd_from_buffer) *run;
	char why[256];
} nft;

static pthread_once_t nft_once = PTHREAD_ONCE_INIT;

static void nft_load(void)
{
	void *h = dlopen(NFT_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(nft.why, sizeof(nft.why), "%s", dlerror());
		return;
	}
	nft.ctx_new = (typeof(nft.ctx_new))dlsym(h, "nft_ctx_new");
	nft.ctx_free = (typeof(nft.ctx_free))dlsym(h, "nft_ctx_free");
	nft.buffer_output = (typeof(nft.buffer_output))dlsym(h, "nft_ctx_buffer_output");
	nft.buffer_error = (typeof(nft.buffer_error))dlsym(h, "nft_ctx_buffer_error");
	nft.error_buffer = (typeof(nft.error_buffer))dlsym(h, "nft_ctx_get_error_buffer");
	nft.run = (typeof(nft.run))dlsym(h, "nft_run_cmd_from_buffer");
	if (!nft.ctx_new || !nft.ctx_free || !nft.buffer_output || !nft.buffer_error ||
	    !nft.error_buffer || !nft.run) {
		snprintf(nft.why, sizeof(nft.why), "%s lacks the libnftables API", NFT_LIB);
		nft.run = NULL;
	}
}

/* Run one nftables command batch (atomic). 0, or -1 with msg filled. */
static int nft_run(const char *cmd, char *msg, size_t msglen)
{
	pthread_once(&nft_once, nft_load);
	if (!nft.run) {
		snprintf(msg, msglen, "the network lock needs libnftables (%s; Debian package "
			 "libnftables1, installed by scripts/setup)", nft.why);
		errno = ENOSYS;
		return -1;
	}
	struct nft_ctx *ctx = nft.ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		snprintf(msg, msglen, "nftables: no context");
		errno = ENOMEM;
		return -1;
	}
	nft.buffer_output(ctx);
	nft.buffer_error(ctx);
	int rc = nft.run(ctx, cmd);
	if (rc) {
		const char *e = nft.error_buffer(ctx);
		char first[200] = "";
		/* nftables' first line says what (the rest repeats the command) */
		if (e)
			snprintf(first, sizeof(first), "%.*s", (int)strcspn(e, "\n"), e);
		snprintf(msg, msglen, "nftables: %s", first[0] ? first : "command failed");
		errno = EPERM;
		rc = -1;
	}
	nft.ctx_free(ctx);
	return rc;
}

/* "tcp4 { 127.0.0.1 . 5000 . 127.0.0.1 . 80 }" */
static int element(const uint8_t *local, const uint8_t *peer, char *out, size_t outlen)
{
	const struct sockaddr *l = (const void *)local, *p = (const void *)peer;
	char la[INET6_ADDRSTRLEN], pa[INET6_ADDRSTRLEN];
	unsigned lport, pport;
	int v4;
	if (l->sa_family == AF_INET && p->sa_family == AF_INET) {
		const struct sockaddr_in *l4 = (const void *)local, *p4 = (const void *)peer;
		inet_ntop(AF_INET, &l4->sin_addr, la, sizeof(la));
		inet_ntop(AF_INET, &p4->sin_addr, pa, sizeof(pa));
		lport = ntohs(l4->sin_port);
		pport = ntohs(p4->sin_port);
		v4 = 1;
	} else if (l->sa_family == AF_INET6 && p->sa_family == AF_INET6) {
		const struct sockaddr_in6 *l6 = (const void *)local, *p6 = (const void *)peer;
		v4 = IN6_IS_ADDR_V4MAPPED(&l6->sin6_addr) && IN6_IS_ADDR_V4MAPPED(&p6->sin6_addr);
		if (v4) { /* on the wire it is IPv4 */
			inet_ntop(AF_INET, &l6->sin6_addr.s6_addr[12], la, sizeof(la));
			inet_ntop(AF_INET, &p6->sin6_addr.s6_addr[12], pa, sizeof(pa));
		} else {
			inet_ntop(AF_INET6, &l6->sin6_addr, la, sizeof(la));
			inet_ntop(AF_INET6, &p6->sin6_addr, pa, sizeof(pa));
		}
		lport = ntohs(l6->sin6_port);
		pport = ntohs(p6->sin6_port);
	} else {
		return -1;
	}
	snprintf(out, outlen, "%s { %s . %u . %s . %u }", v4 ? "tcp4" : "tcp6", la, lport, pa,
		 pport);
	return 0;
}

void ckpt_netlock_cmd(const uint8_t *local, const uint8_t *peer, char *out, size_t outlen)
{
	char el[200];
	if (element(local, peer, el, sizeof(el)) < 0)
		snprintf(el, sizeof(el), "?");
	snprintf(out, outlen, "nft delete element %s %s", CKPT_NETLOCK_TABLE, el);
}

/* The table, its sets and chains; "create table" fails if it exists, so the
   whole batch does: whoever comes first makes it, once. */
static const char table_def[] =
	"create table " CKPT_NETLOCK_TABLE "\n"
	"add set " CKPT_NETLOCK_TABLE " tcp4 { type ipv4_addr . inet_service . ipv4_addr . "
	"inet_service; }\n"
	"add set " CKPT_NETLOCK_TABLE " tcp6 { type ipv6_addr . inet_service . ipv6_addr . "
	"inet_service; }\n"
	"add chain " CKPT_NETLOCK_TABLE " in { type filter hook input priority -300; }\n"
	"add chain " CKPT_NETLOCK_TABLE " out { type filter hook output priority -300; }\n"
	"add rule " CKPT_NETLOCK_TABLE " in ip daddr . tcp dport . ip saddr . tcp sport @tcp4 "
	"drop\n"
	"add rule " CKPT_NETLOCK_TABLE " in ip6 daddr . tcp dport . ip6 saddr . tcp sport @tcp6 "
	"drop\n"
	"add rule " CKPT_NETLOCK_TABLE " out ip saddr . tcp sport . ip daddr . tcp dport @tcp4 "
	"drop\n"
	"add rule " CKPT_NETLOCK_TABLE " out ip6 saddr . tcp sport . ip6 daddr . tcp dport @tcp6 "
	"drop\n";

int ckpt_netlock_tcp(const uint8_t *local, const uint8_t *peer, char *msg, size_t msglen)
{
	char el[200], cmd[sizeof(table_def) + 256];
	if (element(local, peer, el, sizeof(el)) < 0) {
		snprintf(msg, msglen, "network lock: addresses of different families");
		errno = EINVAL;
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "add element %s %s\n", CKPT_NETLOCK_TABLE, el);
	if (nft_run(cmd, msg, msglen) == 0)
		return 0;
	if (errno == ENOSYS)
		return -1;
	/* no table yet: make it with the element (or, if another checkpoint
	   made it meanwhile, add the element to it) */
	snprintf(cmd, sizeof(cmd), "%sadd element %s %s\n", table_def, CKPT_NETLOCK_TABLE, el);
	if (nft_run(cmd, msg, msglen) == 0)
		return 0;
	snprintf(cmd, sizeof(cmd), "add element %s %s\n", CKPT_NETLOCK_TABLE, el);
	return nft_run(cmd, msg, msglen);
}

int ckpt_netunlock_tcp(const uint8_t *local, const uint8_t *peer, int *absent, char *msg,
		       size_t msglen)
{
	char el[200], cmd[256];
	*absent = 0;
	if (element(local, peer, el, sizeof(el)) < 0) {
		snprintf(msg, msglen, "network lock: addresses of different families");
		errno = EINVAL;
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "delete element %s %s\n", CKPT_NETLOCK_TABLE, el);
	if (nft_run(cmd, msg, msglen) == 0)
		return 0;
	if (errno == ENOSYS)
		return -1;
	char why[256];
	snprintf(cmd, sizeof(cmd), "get element %s %s\n", CKPT_NETLOCK_TABLE, el);
	if (nft_run(cmd, why, sizeof(why)) < 0) {
		*absent = 1; /* nothing to release */
		return 0;
	}
	return -1;
}
