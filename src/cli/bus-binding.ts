/**
 * The CLI's bus connection: a plain NATS client on the subjects the bus defines
 * (docs/bus.md): health events on `<prefix>.health.<node>.<source>`, commands as
 * requests on `<prefix>.cmd.<node>.<verb>` with a JSON body and a JSON reply.
 * Kept to what a short-lived command needs: connect once, no reconnect loop,
 * every failure one clear line (unreachable, no daemon, timeout, bad reply).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { HealthEvent } from '../shared/types.js';
import type { BusSettings, CliBus } from './bus-client.js';
import { CliError, EXIT } from './errors.js';

export const DEFAULT_PREFIX = 'ft';

export function healthSubject(prefix: string, event: HealthEvent): string {
  return `${prefix}.health.${event.node}.${event.source}`;
}

export function commandSubject(prefix: string, node: string, verb: string): string {
  return `${prefix}.cmd.${node}.${verb}`;
}

function errorText(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? String(err);
}

export async function createCliBus(settings: BusSettings): Promise<CliBus> {
  const prefix = settings.prefix ?? DEFAULT_PREFIX;
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) {
    throw new CliError(`--prefix must be dot-separated words, got '${prefix}'`, EXIT.usage);
  }
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: settings.url,
      name: `ckpt-cli-${process.pid}`,
      reconnect: false,
      timeout: Math.min(settings.timeoutMs, 10_000),
    });
  } catch (err) {
    throw new CliError(
      `cannot reach the bus at ${settings.url}: ${errorText(err)}`,
      EXIT.unavailable,
      {
        cause: err,
      },
    );
  }
  return {
    async publishHealth(event) {
      const subject = healthSubject(prefix, event);
      try {
        nc.publish(subject, JSON.stringify(event));
        await nc.flush(); // the server has it before we report success
      } catch (err) {
        throw new CliError(`publishing on ${subject} failed: ${errorText(err)}`, EXIT.failure, {
          cause: err,
        });
      }
    },
    async request(node, verb, body, timeoutMs) {
      const subject = commandSubject(prefix, node, verb);
      let reply: { string(): string };
      try {
        reply = await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs });
      } catch (err) {
        const text = errorText(err);
        if (/503|no responders/i.test(`${text} ${(err as Error).message}`)) {
          throw new CliError(
            `no daemon is listening for node '${node}' (${subject})`,
            EXIT.unavailable,
            {
              cause: err,
            },
          );
        }
        if (/timeout/i.test(`${text} ${(err as Error).message}`)) {
          throw new CliError(
            `the daemon on node '${node}' did not answer '${verb}' within ${timeoutMs / 1000} s`,
            EXIT.timeout,
            { cause: err },
          );
        }
        throw new CliError(`request ${subject} failed: ${text}`, EXIT.failure, { cause: err });
      }
      const text = reply.string();
      try {
        return text === '' ? {} : JSON.parse(text);
      } catch (err) {
        throw new CliError(
          `the daemon on node '${node}' sent a reply that is not JSON: ${text.slice(0, 80)}`,
          1,
          {
            cause: err,
          },
        );
      }
    },
    async close() {
      await nc.drain().catch(() => nc.close());
    },
  };
}
