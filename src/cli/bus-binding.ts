/**
 * The CLI's bus connection, on src/bus's client (the one requester the bus
 * defines: docs/bus.md). Kept to what a short-lived command needs: connect
 * once, no reconnect loop, every failure one clear line with the CLI's exit
 * code (unreachable or no daemon: unavailable; no answer: timeout).
 */
import { BusError, BusValidationError, createBusClient, redactUrl } from '../bus/index.js';
import { isToken } from '../shared/types.js';
import type { BusSettings, CliBus } from './bus-client.js';
import { CliError, EXIT } from './errors.js';

const EXIT_FOR: Record<string, number> = {
  CONNECT: EXIT.unavailable,
  NO_RESPONDERS: EXIT.unavailable,
  TIMEOUT: EXIT.timeout,
  AUTH_CONFIG: EXIT.usage,
};

function cliError(err: unknown, what: string): CliError {
  if (err instanceof BusError) {
    const code =
      err instanceof BusValidationError ? EXIT.usage : (EXIT_FOR[err.code] ?? EXIT.failure);
    return new CliError(err.message, code, { cause: err });
  }
  return new CliError(`${what}: ${(err as Error).message ?? String(err)}`, EXIT.failure, {
    cause: err,
  });
}

export async function createCliBus(settings: BusSettings): Promise<CliBus> {
  const client = await createBusClient({
    url: settings.url,
    ...(settings.auth ? { auth: settings.auth } : {}),
    name: `ckpt-cli-${process.pid}`,
    timeoutMs: Math.min(settings.timeoutMs, 10_000),
    ...(settings.prefix !== undefined ? { prefix: settings.prefix } : {}),
  }).catch((err: unknown) => {
    throw cliError(err, `cannot reach the bus at ${redactUrl(settings.url)}`);
  });
  return {
    async publishHealth(event) {
      // The subject's source token: the event's own source when it is a token
      // (`ckpt publish --source`), else the CLI's.
      const source = isToken(event.source) ? event.source : 'ckpt-cli';
      await client.publishHealth(event, source).catch((err: unknown) => {
        throw cliError(err, 'publishing the health event failed');
      });
    },
    async request(node, verb, body, timeoutMs) {
      // Error replies ({ok:false}) come back as values: the verbs print them.
      return client.requestRaw(node, verb, body, timeoutMs).catch((err: unknown) => {
        throw cliError(err, `request ${verb} to node '${node}' failed`);
      });
    },
    close: () => client.close(),
  };
}
