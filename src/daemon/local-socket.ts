/**
 * The daemon's Unix socket for local users (docs/security.md): STATE-DIR/ckpt.sock, mode
 * 0666 (every local user may connect; the state directory is 0711 so they can reach it
 * without listing it). Who connected is what the kernel says (SO_PEERCRED, SO_PEERGROUPS:
 * peercred.ts), never what a request declares; the daemon's handlers decide what that user
 * may do (src/daemon/authz.ts).
 *
 * Protocol: the bus's commands, one per line: `VERB JSON-BODY\n` (the body exactly as it
 * would be published on <prefix>.cmd.<node>.VERB; an empty body is {}), answered by one line
 * holding the same JSON reply the bus gives ({ok, id, ...} or {ok:false, id, error}). A line
 * longer than 64 KiB (plus the verb) is refused and the connection closed; requests on one
 * connection are answered in order. Every request is audited like a bus command, with the
 * caller's ids.
 */
import { chmodSync, lstatSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { MAX_JSON_BYTES } from '../bus/bounded-json.js';
import type { Caller, CommandReply } from '../bus/index.js';
import { PeerCredError, peerCred, socketFd } from './peercred.js';

export const SOCKET_NAME = 'ckpt.sock';
/** Longest request line: a body at the bus's limit plus a verb. */
export const MAX_LINE = MAX_JSON_BYTES + 64;
const IDLE_MS = 60_000;
/** Connections one user (not root) may hold open at once. */
export const MAX_PER_UID = 16;
/** Connections all users but root may hold open together. */
export const MAX_OTHERS = 256;

export type LocalDispatch = (
  verb: string,
  body: Uint8Array,
  caller: Caller,
) => Promise<CommandReply>;

export interface LocalSocket {
  readonly path: string;
  close(): Promise<void>;
}

/** Answer with an error and close; nothing more is read from this connection. */
function refuse(socket: Socket, message: string, code = 'BAD_REQUEST'): void {
  const reply = { ok: false, id: '', error: { code, message } };
  socket.pause();
  socket.end(`${JSON.stringify(reply)}\n`);
  setTimeout(() => socket.destroy(), 1000).unref();
}

export async function startLocalSocket(
  path: string,
  dispatch: LocalDispatch,
  logger: Logger,
): Promise<LocalSocket> {
  // a stale socket of a daemon that did not stop cleanly (refuseSecondDaemon ran before):
  // only a socket is removed, never a file someone put there
  try {
    if (lstatSync(path).isSocket()) rmSync(path, { force: true });
  } catch {
    // missing
  }
  const sockets = new Set<Socket>();
  /** Open connections per uid (root's are not limited). */
  const perUid = new Map<number, number>();
  let others = 0;
  // half-open: a client may send its request and end its side; the reply still goes out
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.setTimeout(IDLE_MS, () => socket.destroy());
    let caller: Caller;
    try {
      const c = peerCred(socketFd(socket));
      caller = { via: 'socket', pid: c.pid, uid: c.uid, gid: c.gid, groups: c.groups };
    } catch (err) {
      socket.on('close', () => sockets.delete(socket));
      logger.error({ err: (err as Error).message }, 'local socket: peer credentials unknown');
      refuse(
        socket,
        err instanceof PeerCredError
          ? `the daemon cannot tell who you are: ${err.message}`
          : String(err),
      );
      return;
    }
    // every connection holds one of the daemon's descriptors: a user may hold a few, all
    // users together a bounded number, root any (so root is always answered)
    const uid = caller.uid;
    if (uid !== 0) {
      const mine = perUid.get(uid) ?? 0;
      if (mine >= MAX_PER_UID || others >= MAX_OTHERS) {
        socket.on('close', () => sockets.delete(socket));
        const what =
          mine >= MAX_PER_UID
            ? `uid ${uid} has ${mine} connections open to the daemon: at most ${MAX_PER_UID} per user`
            : `users other than root have ${others} connections open to the daemon: at most ${MAX_OTHERS}`;
        logger.warn(
          { uid, pid: caller.pid, open: mine, others },
          'local socket: connection refused',
        );
        refuse(socket, `${what}; close some and try again`, 'BUSY');
        return;
      }
      perUid.set(uid, mine + 1);
      others++;
    }
    socket.on('close', () => {
      sockets.delete(socket);
      if (uid === 0) return;
      const n = (perUid.get(uid) ?? 1) - 1;
      if (n > 0) perUid.set(uid, n);
      else perUid.delete(uid);
      others--;
    });
    // One request at a time per connection, and nothing more is read until its reply has
    // left for the kernel: a client that writes and never reads fills its own socket
    // buffers, not the daemon's memory (nor its audit outbox).
    let buf: Buffer = Buffer.alloc(0);
    let busy = false;
    let ended = false;
    let refused = false;
    const refuseOnce = (message: string) => {
      refused = true;
      buf = Buffer.alloc(0);
      refuse(socket, message);
    };
    const next = (): void => {
      if (busy || refused || socket.destroyed) return;
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > MAX_LINE) {
          refuseOnce(
            `request of more than ${MAX_LINE} bytes without a newline: at most ${MAX_LINE} per line`,
          );
        } else if (ended) {
          socket.end();
        } else {
          socket.resume();
        }
        return;
      }
      const line = buf.subarray(0, nl);
      buf = buf.subarray(nl + 1);
      if (line.length > MAX_LINE) {
        refuseOnce(`request of ${line.length} bytes: at most ${MAX_LINE} per line`);
        return;
      }
      const sp = line.indexOf(0x20);
      const verb = line.subarray(0, sp < 0 ? line.length : sp).toString('latin1');
      const body = sp < 0 ? new Uint8Array(0) : line.subarray(sp + 1);
      if (!/^[a-z]{1,32}$/.test(verb)) {
        refuseOnce(
          `request line starts with ${JSON.stringify(verb.slice(0, 40))}: expected 'VERB JSON-BODY' (a verb such as status, jobs, attach, checkpoint)`,
        );
        return;
      }
      busy = true;
      socket.pause();
      void dispatch(verb, Buffer.from(body), caller)
        .catch(
          (err: Error): CommandReply => ({
            ok: false,
            id: '',
            error: { code: 'UNAVAILABLE', message: err.message },
          }),
        )
        .then((reply) => {
          if (socket.destroyed) return;
          socket.write(`${JSON.stringify(reply)}\n`, () => {
            busy = false;
            next();
          });
        });
    };
    socket.on('end', () => {
      ended = true;
      next();
    });
    socket.on('data', (chunk: Buffer) => {
      if (refused) return;
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      next();
    });
  });
  // accept(2) failing (EMFILE, ENFILE) must never stop the daemon
  server.on('error', (err) => logger.error({ err: err.message }, 'local socket: accept failed'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o666);
  logger.info({ path }, 'serving local users on a Unix socket');
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        rmSync(path, { force: true });
      }),
  };
}
