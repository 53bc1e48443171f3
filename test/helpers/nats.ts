/**
 * A real nats-server per test file (random port, JetStream in a temp store), stopped and
 * its store removed at teardown. Usage:
 *   const server = await natsServer(test);          // in test.before, shared by the file
 *   const server = await natsServer(t);             // inside one test, stopped by t.teardown
 */
import { rmSync } from 'node:fs';
import type { TestFn } from 'ava';
import {
  type NatsServerHandle,
  type NatsServerOptions,
  startNatsServer,
} from '../../src/bus/server.js';

export type { NatsServerHandle } from '../../src/bus/server.js';

interface TeardownTarget {
  teardown(fn: () => unknown): void;
}

/**
 * Start a server and register its teardown: with an ava `test` function, via
 * test.after.always (file-wide); with an execution context `t`, via t.teardown.
 */
export async function natsServer(
  owner: TestFn<unknown> | TeardownTarget,
  opts: NatsServerOptions = {},
): Promise<NatsServerHandle> {
  const ownStore = opts.storeDir === undefined;
  const server = await startNatsServer({ jetstream: true, ...opts });
  const cleanup = async (): Promise<void> => {
    await server.stop();
    if (ownStore && server.storeDir) rmSync(server.storeDir, { recursive: true, force: true });
  };
  if ('after' in owner && typeof owner.after === 'function') owner.after.always(cleanup);
  else (owner as TeardownTarget).teardown(cleanup);
  return server;
}
