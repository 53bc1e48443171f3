/**
 * The CLI's view of the bus: send a command to a node's daemon, publish a health
 * event. Loaded on first use like the engine, so the local verbs never
 * load NATS. `--bus URL` (or CKPT_BUS_URL) names the server, `--prefix` (or
 * CKPT_BUS_PREFIX) the subject prefix when a site changed it.
 */
import type { HealthEvent } from '../shared/types.js';
import { UsageError } from './errors.js';
import type { OptionSpec, ParsedArgs } from './options.js';
import { last, parseNumber } from './options.js';

export interface CliBus {
  request(node: string, verb: string, body: unknown, timeoutMs: number): Promise<unknown>;
  publishHealth(event: HealthEvent): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_BUS_URL = 'nats://127.0.0.1:4222';

export const BUS_OPTION_SPECS: readonly OptionSpec[] = [
  { long: 'bus', arg: 'required', argName: 'URL' },
  { long: 'prefix', arg: 'required', argName: 'PREFIX' },
  { long: 'request-timeout', arg: 'required', argName: 'SEC' },
];

export const BUS_OPTIONS_HELP = `Bus:
      --bus URL             NATS server of the bus (default: $CKPT_BUS_URL or ${DEFAULT_BUS_URL})
      --prefix PREFIX       subject prefix (default: $CKPT_BUS_PREFIX or the bus default, ft)
      --request-timeout SEC how long to wait for the daemon's answer (default 30)`;

export interface BusSettings {
  url: string;
  prefix?: string;
  timeoutMs: number;
}

export function busSettings(parsed: ParsedArgs): BusSettings {
  const url = last(parsed, 'bus') ?? process.env.CKPT_BUS_URL ?? DEFAULT_BUS_URL;
  if (!/^(nats|tls|ws|wss):\/\/[^\s]+$/.test(url) && !/^[\w.-]+:\d+$/.test(url)) {
    throw new UsageError(`--bus must be a NATS URL like nats://host:4222, got '${url}'`);
  }
  const settings: BusSettings = {
    url,
    timeoutMs:
      parseNumber(last(parsed, 'request-timeout') ?? '30', '--request-timeout', 0.1, 3600) * 1000,
  };
  const prefix = last(parsed, 'prefix') ?? process.env.CKPT_BUS_PREFIX;
  if (prefix !== undefined) settings.prefix = prefix;
  return settings;
}

/** Connect (bus-binding.ts, loaded only by the verbs that talk to the bus). */
export async function connectBus(settings: BusSettings): Promise<CliBus> {
  const { createCliBus } = await import('./bus-binding.js');
  return createCliBus(settings);
}

/** Connect, run `fn`, always close. */
export async function withBus<T>(
  settings: BusSettings,
  fn: (bus: CliBus) => Promise<T>,
): Promise<T> {
  const bus = await connectBus(settings);
  try {
    return await fn(bus);
  } finally {
    await bus.close().catch(() => {});
  }
}
