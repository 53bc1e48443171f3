/**
 * NO RESULT MAY BE LOST: the NATS server goes away and comes back while a bus publishes.
 * Every result must arrive in the stream, in order, exactly once.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { Bus } from '../../src/bus/bus.js';
import { startNatsServer } from '../../src/bus/server.js';
import type { Trigger } from '../../src/shared/types.js';
import { natsServer } from '../helpers/nats.js';
import { collect, openBus, sleep, until } from './fixture.js';

const trigger: Trigger = { policy: 'every-minute', kind: 'periodic' };

function publish(bus: Bus, i: number): Promise<unknown> {
  return bus.publishResult('ckpt', 'end', {
    job: 'seq',
    pid: 4242,
    trigger,
    image: `/var/lib/ckpt/seq/context.${i}`,
    bytes: i,
    duration_ms: 1,
    frozen_ms: 1,
  });
}

async function storedSequence(bus: Bus, node: string): Promise<number[]> {
  const entries = await collect(bus.history({ kinds: ['ckpt'], node, job: 'seq' }));
  return entries.map((e) => (e.data as { bytes: number }).bytes);
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

test.serial(
  'server stopped and restarted (same store) while publishing: all results arrive, in order, once',
  async (t) => {
    const server = await natsServer(t);
    const { bus, lines } = await openBus(t, server.url, {
      node: 'o1',
      ackTimeoutMs: 500,
      reconnectTimeWaitMs: 100,
    });
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) {
      acks.push(publish(bus, i));
      if (i % 10 === 0) await sleep(5);
    }
    await server.stop();
    await until(() => !bus.status().connected, 5_000, 'the bus to notice the outage');
    for (let i = 100; i < 150; i++) acks.push(publish(bus, i)); // published into the void
    await sleep(1_200); // several ack timeouts and retries
    t.true(bus.status().outbox.pending > 0, 'results wait in the outbox');
    await server.restart();
    for (let i = 150; i < 200; i++) acks.push(publish(bus, i));
    await Promise.all(acks);
    t.true(await bus.flush(10_000));

    t.deepEqual(await storedSequence(bus, 'o1'), range(0, 200));
    const s = bus.status();
    t.true(s.connected);
    t.true(s.disconnects >= 1);
    t.true(s.reconnects >= 1);
    t.true(s.outbox.failedAttempts > 0, 'there were retries');
    t.is(s.outbox.pending, 0);
    t.true(lines.some((l) => l.msg === 'NATS disconnected; reconnecting'));
    t.true(lines.some((l) => l.msg === 'NATS reconnected'));
  },
);

test.serial(
  'server replaced by one with an empty store: stream and bucket are recreated, nothing lost',
  async (t) => {
    const first = await natsServer(t);
    const { bus } = await openBus(t, first.url, {
      node: 'o2',
      ackTimeoutMs: 500,
      reconnectTimeWaitMs: 100,
    });
    await Promise.all(range(0, 10).map((i) => publish(bus, i)));
    await first.stop();
    const acks = range(10, 30).map((i) => publish(bus, i));
    await sleep(300);
    const second = await natsServer(t, { port: first.port }); // fresh store, same address
    acks.push(...range(30, 40).map((i) => publish(bus, i)));
    await Promise.all(acks);
    t.is(second.port, first.port);
    // the old store is gone: the new stream holds what was published since
    t.deepEqual(await storedSequence(bus, 'o2'), range(10, 40));
    await bus.catalog.put({
      job: 'seq',
      node: 'o2',
      path: '/x',
      bytes: 1,
      crc32c: 1,
      time: new Date().toISOString(),
      durationMs: 1,
      frozenMs: 1,
      trigger,
    });
    t.is((await bus.catalog.get('o2', 'seq'))?.path, '/x');
  },
);

test.serial(
  'with an outbox directory, results survive the daemon closing during an outage',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-outbox-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const server = await natsServer(t);
    const first = await openBus(t, server.url, {
      node: 'o3',
      outboxDir: dir,
      ackTimeoutMs: 300,
      reconnectTimeWaitMs: 100,
    });
    await Promise.all(range(0, 5).map((i) => publish(first.bus, i)));
    await server.stop();
    for (const i of range(5, 25)) void publish(first.bus, i);
    await first.bus.close({ timeoutMs: 300 }); // the daemon stops while NATS is down
    t.is(readdirSync(dir).filter((f) => f.endsWith('.json')).length, 20, 'pending results on disk');
    t.true(first.lines.some((l) => /stay in the outbox directory/.test(String(l.msg))));

    await server.restart();
    const second = await openBus(t, server.url, { node: 'o3', outboxDir: dir });
    t.is(second.bus.status().outbox.recovered, 20);
    const p = publish(second.bus, 25); // new results queue behind the recovered ones
    await p;
    t.true(await second.bus.flush(10_000));
    t.deepEqual(await storedSequence(second.bus, 'o3'), range(0, 26));
    t.deepEqual(readdirSync(dir), []);
  },
);

test.serial(
  'createBus fails fast with a clear error when NATS is unreachable or lacks JetStream',
  async (t) => {
    const plain = await natsServer(t, { jetstream: false });
    await t.throwsAsync(openBus(t, plain.url), {
      message: /JetStream is not available on nats:\/\/127\.0\.0\.1:\d+/,
    });
    const gone = await startNatsServer({ jetstream: false });
    await gone.stop();
    await t.throwsAsync(openBus(t, gone.url), {
      name: 'BusConnectionError',
      message: /cannot reach NATS at/,
    });
    await t.throwsAsync(openBus(t, plain.url, { node: 'a.b' }), { message: /node: got "a.b"/ });
    await t.throwsAsync(openBus(t, plain.url, { prefix: '$SYS' }), {
      message: /prefix: got "\$SYS"/,
    });
  },
);
