import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import test from 'ava';
import { CatalogError } from '../../src/bus/errors.js';
import type { ImageRecord } from '../../src/shared/types.js';
import { useNatsServer } from '../helpers/nats.js';
import { openBus } from './fixture.js';

const nats = useNatsServer(test);

function record(over: Partial<ImageRecord> = {}): ImageRecord {
  return {
    job: 'j1',
    node: 'n1',
    path: '/var/lib/ckpt/j1/context.1',
    bytes: 1 << 20,
    crc32c: 123456,
    time: new Date().toISOString(),
    durationMs: 40,
    frozenMs: 10,
    trigger: { policy: 'every-hour', kind: 'periodic' },
    ...over,
  };
}

test.serial('put/get/list/delete keyed by node and job; the latest put wins', async (t) => {
  const { url } = await nats.ready();
  const { bus } = await openBus(t, url);
  const c = bus.catalog;
  t.is(await c.get('n1', 'j1'), undefined);
  const a = record();
  await c.put(a);
  t.deepEqual(await c.get('n1', 'j1'), a);
  const newer = record({ path: '/var/lib/ckpt/j1/context.2', bytes: 2 << 20 });
  await c.put(newer);
  t.deepEqual(await c.get('n1', 'j1'), newer);
  await c.put(record({ job: 'j2' }));
  await c.put(record({ node: 'n2', job: 'j1' }));
  t.deepEqual(
    (await c.list('n1')).map((r) => r.job),
    ['j1', 'j2'],
  );
  t.deepEqual(
    (await c.list()).map((r) => `${r.node}.${r.job}`),
    ['n1.j1', 'n1.j2', 'n2.j1'],
  );
  await c.delete('n1', 'j2');
  t.is(await c.get('n1', 'j2'), undefined);
  t.deepEqual(
    (await c.list('n1')).map((r) => r.job),
    ['j1'],
  );

  // readable by anyone with KV access under key <node>.<job>
  const nc = await connect({ servers: url });
  t.teardown(() => nc.close());
  const kv = await new Kvm(jetstream(nc)).open('ckpt_catalog');
  const raw = await kv.get('n1.j1');
  t.deepEqual(raw?.json(), newer);
});

test.serial(
  'bad records and keys are refused with the field named, and nothing is stored',
  async (t) => {
    const { bus } = await openBus(t, nats.url, { node: 'n3' });
    const c = bus.catalog;
    const cases: Array<[ImageRecord, RegExp]> = [
      [record({ node: 'n3', job: 'bad job' }), /job: got "bad job"; expected a subject-safe token/],
      [record({ node: 'n3', path: 'relative' }), /path: got "relative"; expected an absolute path/],
      [record({ node: 'n3', bytes: -1 }), /bytes: got -1; expected a number >= 0/],
      [
        record({ node: 'n3', crc32c: 2 ** 32 }),
        /crc32c: got 4294967296; expected a number <= 4294967295/,
      ],
      [
        { ...record({ node: 'n3' }), extra: 1 } as ImageRecord,
        /extra: got 1; expected only job, node/,
      ],
      [record({ node: 'n3', trigger: { policy: 'x' } as never }), /trigger.kind: got nothing/],
    ];
    for (const [r, says] of cases) {
      const err = await t.throwsAsync(c.put(r), { instanceOf: CatalogError });
      t.is(err?.code, 'BAD_RECORD');
      t.regex(err?.message ?? '', says);
    }
    t.deepEqual(await c.list('n3'), []);
    const e1 = await t.throwsAsync(c.get('n.3', 'j1'), { instanceOf: CatalogError });
    t.is(e1?.code, 'BAD_TOKEN');
    await t.throwsAsync(c.list('*'), { message: /node: got "\*"/ });
    await t.throwsAsync(c.delete('n3', '>'), { message: /job: got ">"/ });
  },
);

test.serial('a corrupt entry written by someone else is reported, not returned', async (t) => {
  const { bus } = await openBus(t, nats.url, { node: 'n4' });
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const kv = await new Kvm(jetstream(nc)).open('ckpt_catalog');
  await kv.put('n4.j1', '{"job":"j1"}');
  await kv.put('n4.j2', 'not json');
  const e1 = await t.throwsAsync(bus.catalog.get('n4', 'j1'), { instanceOf: CatalogError });
  t.regex(e1?.message ?? '', /catalog entry n4.j1: node: got nothing/);
  const e2 = await t.throwsAsync(bus.catalog.get('n4', 'j2'), { instanceOf: CatalogError });
  t.regex(e2?.message ?? '', /catalog entry n4.j2 is not JSON/);
});
