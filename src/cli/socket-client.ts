/**
 * The local daemon's Unix socket (src/daemon/local-socket.ts) as a CliBus: one
 * `VERB JSON-BODY` line out, one JSON reply line back. The daemon knows who we are from
 * the kernel (SO_PEERCRED), so this needs no credentials: it is how a normal user's `ckpt`
 * reaches the daemon (the bus's credentials are root's).
 */
import { connect } from 'node:net';
import type { CliBus } from './bus-client.js';
import { CliError, EXIT } from './errors.js';

const MAX_REPLY = 16 * 1024 * 1024;

export function socketRequest(
  path: string,
  verb: string,
  body: unknown,
  timeoutMs: number,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | undefined, value?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(
      () =>
        finish(
          new CliError(
            `request ${verb} to the local daemon (${path}): no answer within ${timeoutMs / 1000} s`,
            EXIT.timeout,
          ),
        ),
      timeoutMs,
    );
    sock.on('connect', () => sock.write(`${verb} ${JSON.stringify(body ?? {})}\n`));
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > MAX_REPLY)
          finish(new CliError(`the local daemon's reply is over ${MAX_REPLY} bytes`, EXIT.failure));
        return;
      }
      try {
        finish(undefined, JSON.parse(buf.subarray(0, nl).toString('utf8')));
      } catch (err) {
        finish(
          new CliError(
            `the local daemon's reply is not JSON: ${(err as Error).message}`,
            EXIT.failure,
          ),
        );
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? 'is the daemon running? (ckpt daemon), or give --bus URL'
          : err.code === 'EACCES'
            ? 'permission denied on the socket or its directory'
            : err.message;
      finish(new CliError(`cannot reach the local daemon at ${path}: ${why}`, EXIT.unavailable));
    });
    sock.on('close', () =>
      finish(
        new CliError(
          `the local daemon (${path}) closed the connection without a reply`,
          EXIT.unavailable,
        ),
      ),
    );
  });
}

export function socketBus(path: string): CliBus {
  return {
    request: (_node, verb, body, timeoutMs) => socketRequest(path, verb, body, timeoutMs),
    async publishHealth() {
      throw new CliError(
        'health events go on the bus, not the local socket: give --bus URL',
        EXIT.usage,
      );
    },
    close: async () => {},
  };
}
