/**
 * The CLI's view of the bus: send a command to a node's daemon, publish a health
 * event. Loaded on first use like the engine, so the local verbs never
 * load NATS. Which server and prefix: local-daemon.ts.
 */
import type { BusAuth } from '../bus/auth.js';
import type { HealthEvent } from '../shared/types.js';

// a type only: erased from the JavaScript, so it loads nothing of the bus
export type { BusAuth };

export interface CliBus {
  request(node: string, verb: string, body: unknown, timeoutMs: number): Promise<unknown>;
  publishHealth(event: HealthEvent): Promise<void>;
  close(): Promise<void>;
}

export interface BusSettings {
  url: string;
  /**
   * The local daemon's Unix socket: set when the verb talks to the local daemon found
   * through daemon.json (no --bus, $CKPT_BUS_URL or bus credentials given); then the
   * request goes there instead of the bus (local-daemon.ts).
   */
  socket?: string;
  auth?: BusAuth;
  prefix?: string;
  timeoutMs: number;
}

/** Connect (bus-binding.ts, loaded only by the verbs that talk to the bus). */
export async function connectBus(settings: BusSettings): Promise<CliBus> {
  if (settings.socket) {
    const { socketBus } = await import('./socket-client.js');
    return socketBus(settings.socket);
  }
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
