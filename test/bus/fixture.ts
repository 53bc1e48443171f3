/** Shared pieces of the bus tests: a capturing pino logger, a bus on a real server, waits. */
import { pino } from 'pino';
import type { Bus, BusOptions } from '../../src/bus/bus.js';
import { createBus } from '../../src/bus/bus.js';
import type { HealthEvent } from '../../src/shared/types.js';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export function captureLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(s: string) {
        lines.push(JSON.parse(s) as LogLine);
      },
    },
  );
  return { logger, lines };
}

export async function openBus(
  t: { teardown(fn: () => unknown): void },
  url: string,
  extra: Partial<BusOptions> = {},
): Promise<{ bus: Bus; lines: LogLine[] }> {
  const { logger, lines } = captureLogger();
  const bus = await createBus({
    url,
    name: 'test-bus',
    node: 'n1',
    logger,
    ...extra,
  });
  t.teardown(() => bus.close({ timeoutMs: 1_000 }));
  return { bus, lines };
}

export function healthEvent(over: Partial<HealthEvent> = {}): HealthEvent {
  return {
    specversion: '1.0',
    id: `ev-${Math.random().toString(36).slice(2)}`,
    source: '/test/monitor',
    type: 'node.failure.imminent',
    time: new Date().toISOString(),
    severity: 'fatal',
    node: 'n1',
    data: { reason: 'test' },
    ...over,
  };
}

export async function until(
  cond: () => boolean,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
