/**
 * Who is at the other end of a Unix socket connection, as the kernel saw them when they
 * connected: SO_PEERCRED (pid, uid, gid) and SO_PEERGROUPS (supplementary groups).
 *
 * Node has no API for either. This calls getsockopt(2) on the connection's descriptor
 * through koffi, the FFI the engine already uses (src/engine/libckpt.ts loads libc the same
 * way): no C to build, no new dependency, and it is the plain libc call, so nothing here
 * parses or trusts what the peer sends. The descriptor comes from the socket's libuv handle
 * (`_handle.fd`), which Node fills on Linux for every pipe-backed net.Socket.
 */
import type { Socket } from 'node:net';
import koffi from 'koffi';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const SO_PEERGROUPS = 59;
const ERANGE = 34;

const libc = koffi.load('libc.so.6');
const getsockopt = libc.func(
  'int getsockopt(int fd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)',
) as (fd: number, level: number, name: number, val: Buffer, len: number[]) => number;
const errnoLocation = libc.func('int *__errno_location(void)') as () => unknown;
const errno = () => koffi.decode(errnoLocation(), 'int') as number;

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
  /** Supplementary groups (SO_PEERGROUPS). */
  groups: number[];
}

export class PeerCredError extends Error {
  override name = 'PeerCredError';
}

/** The connection's file descriptor (a Unix socket accepted by a net.Server). */
export function socketFd(sock: Socket): number {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new PeerCredError('the connection has no file descriptor to ask the kernel about');
  }
  return fd;
}

export function peerCred(fd: number): PeerCred {
  const cred = Buffer.alloc(12);
  const len = [cred.length];
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len) !== 0 || len[0] !== 12) {
    throw new PeerCredError(`getsockopt(SO_PEERCRED) on fd ${fd} failed (errno ${errno()})`);
  }
  const out: PeerCred = {
    pid: cred.readInt32LE(0),
    uid: cred.readUInt32LE(4),
    gid: cred.readUInt32LE(8),
    groups: [],
  };
  // the group list has no fixed size: ask with room for 64, then the size the kernel names
  let size = 64 * 4;
  for (let attempt = 0; attempt < 3; attempt++) {
    const buf = Buffer.alloc(size);
    const glen = [size];
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, buf, glen) === 0) {
      const n = Math.floor((glen[0] ?? 0) / 4);
      for (let i = 0; i < n; i++) out.groups.push(buf.readUInt32LE(i * 4));
      return out;
    }
    const e = errno();
    if (e !== ERANGE || (glen[0] ?? 0) <= size) {
      throw new PeerCredError(`getsockopt(SO_PEERGROUPS) on fd ${fd} failed (errno ${e})`);
    }
    size = glen[0] as number;
  }
  throw new PeerCredError(`getsockopt(SO_PEERGROUPS) on fd ${fd}: the group list kept growing`);
}
