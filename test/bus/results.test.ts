import { connect } from '@nats-io/transport-node';
import test from 'ava';
import { BusValidationError } from '../../src/bus/errors.js';
import type { Trigger } from '../../src/shared/types.js';
import { useNatsServer } from '../helpers/nats.js';
import { collect, openBus, sleep } from './fixture.js';

const nats = useNatsServer(test);
const trigger: Trigger = { policy: 'fatal-events', kind: 'automatic', eventId: 'ev-1' };

test.serial(
  'results are published on their subjects, stored in the stream, and replayable in order',
  async (t) => {
    const { url } = await nats.ready();
    const { bus } = await openBus(t, url, { node: 'r1' });
    const sub = await connect({ servers: url });
    t.teardown(() => sub.close());
    const live: string[] = [];
    sub.subscribe('ft.*.r1.>', {
      callback: (_e, m) => {
        live.push(m.subject);
      },
    });
    await sub.flush();

    const begin = await bus.publishResult('ckpt', 'begin', { job: 'j1', pid: 100, trigger });
    const end = await bus.publishResult('ckpt', 'end', {
      job: 'j1',
      pid: 100,
      trigger,
      image: '/var/lib/ckpt/j1/context.100',
      bytes: 4096,
      duration_ms: 12.5,
      frozen_ms: 3,
      crc32c: 0xdeadbeef,
    });
    await bus.publishResult('rstrt', 'begin', {
      job: 'j1',
      pid: 100,
      trigger: { policy: 'command', kind: 'command' },
    });
    await bus.publishResult('rstrt', 'error', {
      job: 'j1',
      pid: 0,
      trigger: { policy: 'command', kind: 'command' },
      code: 'EBUSY',
      message: 'PID 100 is taken',
      errno: 16,
    });
    t.is(begin.subject, 'ft.ckpt.r1.j1.begin');
    t.is(end.subject, 'ft.ckpt.r1.j1.end');

    const entries = await collect(bus.history({ node: 'r1' }));
    t.deepEqual(
      entries.map((e) => e.subject),
      ['ft.ckpt.r1.j1.begin', 'ft.ckpt.r1.j1.end', 'ft.rstrt.r1.j1.begin', 'ft.rstrt.r1.j1.error'],
    );
    const endMsg = entries[1]?.data as Record<string, unknown>;
    t.like(endMsg, {
      id: end.id,
      kind: 'ckpt',
      phase: 'end',
      node: 'r1',
      job: 'j1',
      pid: 100,
      trigger,
      image: '/var/lib/ckpt/j1/context.100',
      bytes: 4096,
      duration_ms: 12.5,
      frozen_ms: 3,
    });
    t.is(typeof endMsg.time, 'string');
    t.is(entries[1]?.job, 'j1');
    t.is(entries[1]?.phase, 'end');
    t.deepEqual(
      live,
      entries.map((e) => e.subject),
      'plain subscribers see them too',
    );

    // filters: one kind, one job, since a sequence number
    const ckpts = await collect(bus.history({ kinds: ['ckpt'], node: 'r1', job: 'j1' }));
    t.is(ckpts.length, 2);
    const fromThird = await collect(bus.history({ node: 'r1' }, entries[2]?.seq));
    t.deepEqual(
      fromThird.map((e) => e.phase),
      ['begin', 'error'],
    );
    const future = await collect(bus.history({ node: 'r1' }, new Date(Date.now() + 60_000)));
    t.deepEqual(future, []);
    const none = await collect(bus.history({ node: 'nobody' }));
    t.deepEqual(none, []);
  },
);

test.serial('a replay is complete for more entries than one fetch batch', async (t) => {
  const { bus } = await openBus(t, nats.url, { node: 'many' });
  const n = 600;
  const acks: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    acks.push(bus.publishResult('ckpt', 'begin', { job: `j${i}`, pid: i + 1, trigger }));
  }
  await Promise.all(acks);
  const entries = await collect(bus.history({ node: 'many', kinds: ['ckpt'] }));
  t.is(entries.length, n);
  t.deepEqual(
    entries.map((e) => e.job),
    Array.from({ length: n }, (_, i) => `j${i}`),
  );
});

test.serial(
  'a bad result payload is refused at once, names the field, and publishes nothing',
  async (t) => {
    const { bus } = await openBus(t, nats.url, { node: 'r2' });
    const bad: Array<[() => unknown, RegExp]> = [
      [
        () => bus.publishResult('ckpt', 'begin', { job: 'j 1', pid: 1, trigger }),
        /job: got "j 1"; expected a subject-safe token/,
      ],
      [
        () => bus.publishResult('ckpt', 'begin', { job: 'j1', pid: -1, trigger }),
        /pid: got -1; expected a number >= 0/,
      ],
      [
        () =>
          bus.publishResult('ckpt', 'begin', {
            job: 'j1',
            pid: 1,
            trigger: { policy: 'p', kind: 'sometimes' as 'periodic' },
          }),
        /trigger.kind: got "sometimes"; expected one of/,
      ],
      [
        () =>
          bus.publishResult('ckpt', 'end', {
            job: 'j1',
            pid: 1,
            trigger,
            image: 'rel/path',
            bytes: 1,
            duration_ms: 1,
            frozen_ms: 1,
          }),
        /image: got "rel\/path"; expected an absolute path/,
      ],
      [
        () =>
          bus.publishResult('ckpt', 'end', { job: 'j1', pid: 1, trigger, image: '/x' } as never),
        /bytes: got nothing/,
      ],
      [
        () =>
          bus.publishResult('ckpt', 'error', {
            job: 'j1',
            pid: 1,
            trigger,
            code: 'oops',
            message: 'x',
          }),
        /code: got "oops"; expected an UPPER_SNAKE_CASE code/,
      ],
      [
        () =>
          bus.publishResult('rstrt', 'end', {
            job: 'j1',
            pid: 1,
            trigger,
            image: '/x',
            duration_ms: 'slow' as unknown as number,
          }),
        /duration_ms: got "slow"; expected a number/,
      ],
      [
        () => bus.publishResult('ckpt', 'begin', { job: 'j1', pid: 1, trigger, time: 'now' }),
        /time: got "now"; expected an RFC 3339/,
      ],
    ];
    for (const [call, says] of bad) {
      const err = t.throws(call, { instanceOf: BusValidationError });
      t.regex(err?.message ?? '', says);
    }
    await sleep(100);
    t.deepEqual(await collect(bus.history({ node: 'r2' })), []);
    t.is(bus.status().outbox.pending, 0);
  },
);

test.serial(
  'the history stream is created with the configured limits and kept on a second bus',
  async (t) => {
    const { bus } = await openBus(t, nats.url, {
      node: 'cfg',
      prefix: 'site.ft',
      history: { maxAgeMs: 3_600_000, maxBytes: 1_000_000 },
    });
    t.is(bus.stream, 'SITE_FT_HISTORY');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const nc = await connect({ servers: nats.url });
    t.teardown(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info('SITE_FT_HISTORY');
    t.deepEqual(info.config.subjects, [
      'site.ft.health.>',
      'site.ft.ckpt.>',
      'site.ft.rstrt.>',
      'site.ft.audit.>',
    ]);
    t.is(info.config.max_age, 3_600_000 * 1e6);
    t.is(info.config.max_bytes, 1_000_000);
    // a second daemon with other limits updates them instead of failing
    await openBus(t, nats.url, {
      node: 'cfg2',
      prefix: 'site.ft',
      history: { maxBytes: 2_000_000 },
    });
    t.is((await jsm.streams.info('SITE_FT_HISTORY')).config.max_bytes, 2_000_000);
  },
);

test.serial('bad history filters are refused with the field named', async (t) => {
  const { bus } = await openBus(t, nats.url, { node: 'r3' });
  await t.throwsAsync(collect(bus.history({ node: 'a.b' })), { message: /node: got "a.b"/ });
  await t.throwsAsync(collect(bus.history({ kinds: ['cmd' as 'audit'] })), {
    message: /kinds\[0\]: got "cmd"/,
  });
  await t.throwsAsync(collect(bus.history({}, 'last tuesday')), {
    message: /since: got "last tuesday"/,
  });
});
