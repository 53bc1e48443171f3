/**
 * A real nats-server for tests (random port, JetStream in a temp store), stopped and its
 * store removed at teardown. Two ways:
 *
 *   const nats = useNatsServer(test);        // top level of a test file: one server per file
 *   test('x', (t) => { nats.url ... });      // started in test.before, stopped in after.always
 *
 *   const server = await natsServer(t);      // inside one test: stopped by t.teardown
 */
import { rmSync } from 'node:fs';
import type { TestFn } from 'ava';
import {
  type NatsServerHandle,
  type NatsServerOptions,
  startNatsServer,
} from '../../src/bus/server.js';

export type { NatsServerHandle } from '../../src/bus/server.js';

async function start(opts: NatsServerOptions): Promise<{
  server: NatsServerHandle;
  cleanup: () => Promise<void>;
}> {
  const ownStore = opts.storeDir === undefined;
  const server = await startNatsServer({ jetstream: true, ...opts });
  const cleanup = async (): Promise<void> => {
    await server.stop();
    if (ownStore && server.storeDir) rmSync(server.storeDir, { recursive: true, force: true });
  };
  return { server, cleanup };
}

/** A server for one test, stopped (and its temp store removed) by t.teardown. */
export async function natsServer(
  t: { teardown(fn: () => unknown): void },
  opts: NatsServerOptions = {},
): Promise<NatsServerHandle> {
  const { server, cleanup } = await start(opts);
  t.teardown(cleanup);
  return server;
}

/**
 * A server for the whole file: call at the top level. `await nats.ready()` in hooks or tests
 * (ava runs before-hooks concurrently); `.server` / `.url` once it is ready.
 */
export function useNatsServer(
  test: TestFn<unknown>,
  opts: NatsServerOptions = {},
): { ready(): Promise<NatsServerHandle>; readonly server: NatsServerHandle; readonly url: string } {
  let starting: ReturnType<typeof start> | undefined;
  let started: Awaited<ReturnType<typeof start>> | undefined;
  const ready = async (): Promise<NatsServerHandle> => {
    starting ??= start(opts);
    started = await starting;
    return started.server;
  };
  test.before(async () => {
    await ready();
  });
  test.after.always(async () => {
    if (starting) await (await starting).cleanup();
  });
  const get = (): NatsServerHandle => {
    if (!started) throw new Error('useNatsServer: not ready yet (await nats.ready() first)');
    return started.server;
  };
  return {
    ready,
    get server() {
      return get();
    },
    get url() {
      return get().url;
    },
  };
}
