/**
 * The outbox on its own, with a publish function under the test's control: a message is
 * sent as soon as it is queued even while earlier ones wait for their acks; acks are taken
 * in order; a failed ack sends that message and every later one again, in order; a
 * directory keeps what was not acked for the next outbox.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import pino from 'pino';
import { Outbox, type OutboxMessage } from '../../src/bus/outbox.js';

const logger = pino({ level: 'silent' });
const tick = () => new Promise((r) => setImmediate(r));

/** A publish whose acks the test settles by hand, recording every attempt. */
function manual() {
  const sent: string[] = [];
  const waiting: { data: string; ok: () => void; fail: (e: Error) => void }[] = [];
  const publish = (m: OutboxMessage) =>
    new Promise<void>((ok, fail) => {
      sent.push(m.data);
      waiting.push({ data: m.data, ok, fail });
    });
  const settle = (data: string, err?: Error) => {
    const i = waiting.findIndex((w) => w.data === data);
    if (i < 0) throw new Error(`${data} is not in flight`);
    const [w] = waiting.splice(i, 1);
    if (err) w?.fail(err);
    else w?.ok();
  };
  return { sent, waiting, publish, settle };
}

test('a message is sent at once, without waiting for the acks of earlier ones', async (t) => {
  const m = manual();
  const box = new Outbox({ publish: m.publish, logger });
  const a = box.enqueue('s.a', 'a');
  const b = box.enqueue('s.b', 'b');
  await tick();
  const c = box.enqueue('s.c', 'c');
  t.deepEqual(m.sent, ['a', 'b', 'c'], 'all three on the wire before any ack');
  let cDone = false;
  void c.then(() => (cDone = true));
  m.settle('c');
  await tick();
  t.false(cDone, 'c is not acknowledged to its caller before a and b');
  m.settle('a');
  m.settle('b');
  await Promise.all([a, b, c]);
  t.true(cDone);
  t.is(box.pending, 0);
  t.true(await box.idle(100));
});

test('a failed ack sends that message and every later one again, in order', async (t) => {
  const m = manual();
  const box = new Outbox({ publish: m.publish, logger, retryMinMs: 5, retryMaxMs: 5 });
  const done = ['a', 'b', 'c'].map((x) => box.enqueue(`s.${x}`, x));
  await tick();
  m.settle('a');
  m.settle('b', new Error('no responders'));
  m.settle('c'); // stored, but b before it was not: sent again (the stream drops the copy)
  await new Promise((r) => setTimeout(r, 30));
  t.deepEqual(m.sent, ['a', 'b', 'c', 'b', 'c']);
  m.settle('b');
  m.settle('c');
  await Promise.all(done);
  t.is(box.getStats().failedAttempts, 1);
  t.is(box.getStats().published, 3);
});

test('what is not acked stays on disk for the next outbox; acked files are removed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-outbox-'));
  const m = manual();
  const first = new Outbox({ publish: m.publish, logger, dir });
  const a = first.enqueue('s.a', 'a');
  first.enqueue('s.b', 'b');
  m.settle('a');
  await a;
  t.is(readdirSync(dir).filter((f) => f.endsWith('.json')).length, 1, 'only b is left');
  first.close();
  const again = manual();
  const second = new Outbox({ publish: again.publish, logger, dir });
  await tick();
  t.deepEqual(again.sent, ['b'], 'the next outbox sends b');
  again.settle('b');
  t.true(await second.idle(1000));
  t.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.json')),
    [],
  );
});

test('a publish that throws synchronously is a failed attempt, retried', async (t) => {
  let calls = 0;
  const box = new Outbox({
    publish: () => {
      calls++;
      if (calls === 1) throw new Error('not connected');
      return Promise.resolve();
    },
    logger,
    retryMinMs: 5,
  });
  await box.enqueue('s.a', 'a');
  t.is(calls, 2);
  t.is(box.getStats().failedAttempts, 1);
});
