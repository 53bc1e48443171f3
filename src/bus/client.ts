/**
 * The requester's side of the bus, for the CLI, schedulers' glue and tests: send a command
 * to a node's daemon and get its parsed reply, publish a health event. Short-lived: no
 * reconnect loop, every failure a BusRequestError with a code (NO_RESPONDERS, TIMEOUT,
 * BAD_REPLY, CONNECT, or the daemon's own error code with remote = true).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { HealthEvent } from '../shared/types.js';
import { authOptions, type BusAuth, BusAuthError, redactUrl } from './auth.js';
import type { CommandReply } from './commands.js';
import { BusRequestError } from './errors.js';
import {
  checkPrefix,
  checkToken,
  commandSubject,
  DEFAULT_PREFIX,
  healthSubject,
} from './subjects.js';
import { assertValid } from './validate.js';

export interface BusClientOptions {
  /** NATS URL(s); credentials in a URL are used when `auth` gives none. */
  url: string | string[];
  auth?: BusAuth;
  prefix?: string;
  name?: string;
  /** Connect timeout (default 5 s). */
  timeoutMs?: number;
}

export interface BusClient {
  /**
   * Send `verb` with `body` to the daemon of `node`; resolves with the reply when it is
   * `{ok:true}`, rejects with BusRequestError(code = the daemon's error code, remote = true)
   * when it is `{ok:false}`.
   */
  request(
    node: string,
    verb: string,
    body: unknown,
    timeoutMs?: number,
  ): Promise<CommandReply & { ok: true }>;
  /** Like request, but resolves with error replies too (for tests and tools that show them). */
  requestRaw(node: string, verb: string, body: unknown, timeoutMs?: number): Promise<CommandReply>;
  /**
   * Validate and publish a health event on `<prefix>.health.<event.node>.<source>`
   * (`source` default: 'cli'); resolves when the server has it.
   */
  publishHealth(event: HealthEvent, source?: string): Promise<void>;
  close(): Promise<void>;
}

export async function createBusClient(opts: BusClientOptions): Promise<BusClient> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  checkPrefix(prefix);
  let nc: NatsConnection;
  try {
    nc = await connect({
      ...authOptions(opts.url, opts.auth),
      name: opts.name ?? `ckpt-client-${process.pid}`,
      reconnect: false,
      timeout: opts.timeoutMs ?? 5_000,
    });
  } catch (err) {
    if (err instanceof BusAuthError) throw err;
    throw new BusRequestError(
      'CONNECT',
      `cannot reach NATS at ${redactUrl(opts.url)}: ${(err as Error).message}`,
      false,
      {
        cause: err,
      },
    );
  }

  const requestRaw = async (
    node: string,
    verb: string,
    body: unknown,
    timeoutMs = 10_000,
  ): Promise<CommandReply> => {
    checkToken('node', node);
    const subject = commandSubject(prefix, node, verb);
    const payload =
      typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body ?? {});
    let text: string;
    try {
      const msg = await nc.request(subject, payload, { timeout: timeoutMs });
      text = msg.string();
    } catch (err) {
      const all = `${(err as Error).message} ${String((err as Error).cause ?? '')} ${(err as Error).name}`;
      if (/no responders|503/i.test(all)) {
        throw new BusRequestError(
          'NO_RESPONDERS',
          `no daemon is serving node '${node}' (${subject})`,
          false,
          {
            cause: err,
          },
        );
      }
      if (/timeout/i.test(all)) {
        throw new BusRequestError(
          'TIMEOUT',
          `the daemon of node '${node}' did not answer '${verb}' within ${timeoutMs} ms`,
          false,
          { cause: err },
        );
      }
      throw new BusRequestError(
        'REQUEST',
        `request ${subject} failed: ${(err as Error).message}`,
        false,
        {
          cause: err,
        },
      );
    }
    let reply: unknown;
    try {
      reply = JSON.parse(text);
      assertValid('command-reply', reply);
    } catch (err) {
      throw new BusRequestError(
        'BAD_REPLY',
        `the reply to ${subject} is not a valid reply: ${(err as Error).message}`,
        false,
        {
          cause: err,
        },
      );
    }
    return reply as CommandReply;
  };

  return {
    requestRaw,
    async request(node, verb, body, timeoutMs) {
      const reply = await requestRaw(node, verb, body, timeoutMs);
      if (!reply.ok) {
        const e = new BusRequestError(reply.error.code, reply.error.message, true);
        throw Object.assign(e, { reply });
      }
      return reply;
    },
    async publishHealth(event, source = 'cli') {
      assertValid('health-event', event);
      checkToken('source', source);
      nc.publish(healthSubject(prefix, event.node, source), JSON.stringify(event));
      await nc.flush();
    },
    async close() {
      if (nc.isClosed()) return;
      // drain() waits for the server; do not hang when it is gone
      const timer = new Promise<void>((r) => setTimeout(r, 2_000).unref());
      await Promise.race([nc.drain().catch(() => {}), timer]);
      await nc.close().catch(() => {});
    },
  };
}
