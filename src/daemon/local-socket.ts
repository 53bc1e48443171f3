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

export type LocalDispatch = (
  verb: string,
  body: Uint8Array,
  caller: Caller,
) => Promise<CommandReply>;

export interface LocalSocket {
  readonly path: string;
  close(): Promise<void>;
}

function refuse(socket: Socket, message: string): void {
  const reply = { ok: false, id: '', error: { code: 'BAD_REQUEST', message } };
  socket.end(`${JSON.stringify(reply)}\n`);
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
  // half-open: a client may send its request and end its side; the reply still goes out
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.setTimeout(IDLE_MS, () => socket.destroy());
    let caller: Caller;
    try {
      const c = peerCred(socketFd(socket));
      caller = { via: 'socket', pid: c.pid, uid: c.uid, gid: c.gid, groups: c.groups };
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'local socket: peer credentials unknown');
      refuse(
        socket,
        err instanceof PeerCredError
          ? `the daemon cannot tell who you are: ${err.message}`
          : String(err),
      );
      return;
    }
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    socket.on('end', () => {
      void chain.then(() => socket.end());
    });
    let refused = false;
    const refuseOnce = (message: string) => {
      refused = true;
      buf = Buffer.alloc(0);
      void chain.then(() => refuse(socket, message));
    };
    socket.on('data', (chunk: Buffer) => {
      if (refused) return;
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const nl = buf.indexOf(0x0a);
        if (nl < 0) break;
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
        chain = chain.then(async () => {
          const reply = await dispatch(verb, body, caller).catch(
            (err: Error): CommandReply => ({
              ok: false,
              id: '',
              error: { code: 'UNAVAILABLE', message: err.message },
            }),
          );
          if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`);
        });
      }
      if (buf.length > MAX_LINE && !socket.destroyed) {
        refuse(
          socket,
          `request of more than ${MAX_LINE} bytes without a newline: at most ${MAX_LINE} per line`,
        );
      }
    });
  });
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
