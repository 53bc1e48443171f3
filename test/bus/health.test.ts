import { connect, type NatsConnection } from '@nats-io/transport-node';
import test from 'ava';
import type { Rejection } from '../../src/bus/bus.js';
import type { HealthEvent } from '../../src/shared/types.js';
import { useNatsServer } from '../helpers/nats.js';
import { collect, healthEvent, openBus, sleep, until } from './fixture.js';

const nats = useNatsServer(test);
let url: string;
let raw: NatsConnection;
test.before(async () => {
  url = (await nats.ready()).url;
  raw = await connect({ servers: url });
});
test.after.always(() => raw?.close());

function send(subject: string, body: string | object): Promise<void> {
  raw.publish(subject, typeof body === 'string' ? body : JSON.stringify(body));
  return raw.flush();
}

test.serial(
  'valid events for this node flow; other nodes are not seen by a node-scoped bus',
  async (t) => {
    const { bus } = await openBus(t, url);
    const got: HealthEvent[] = [];
    bus.health$.subscribe((e) => got.push(e));
    const mine = healthEvent({ severity: 'warning', type: 'node.thermal.high' });
    const other = healthEvent({ node: 'n2' });
    await send('ft.health.n1.thermal', mine);
    await send('ft.health.n2.thermal', other);
    await until(() => got.length >= 1);
    await sleep(100);
    t.deepEqual(got, [mine]);
    const s = bus.status();
    t.is(s.counters.health.received, 1);
    t.is(s.counters.health.accepted, 1);
  },
);

test.serial('an all-nodes bus sees every node', async (t) => {
  const { bus } = await openBus(t, url, { healthScope: 'all' });
  const got: string[] = [];
  bus.health$.subscribe((e) => got.push(e.node));
  await send('ft.health.n1.edac', healthEvent());
  await send('ft.health.n7.edac', healthEvent({ node: 'n7' }));
  await until(() => got.length === 2);
  t.deepEqual(got.sort(), ['n1', 'n7']);
});

const BAD: Array<{
  name: string;
  subject: string;
  body: string | object;
  reason: string;
  says: RegExp;
}> = [
  {
    name: 'malformed JSON',
    subject: 'ft.health.n1.x',
    body: '{"specversion":"1.0",',
    reason: 'json',
    says: /expected CloudEvents structured JSON/,
  },
  {
    name: 'not JSON at all',
    subject: 'ft.health.n1.x',
    body: 'disk on fire',
    reason: 'json',
    says: /got "disk on fire"/,
  },
  {
    name: 'a JSON array',
    subject: 'ft.health.n1.x',
    body: '[1,2]',
    reason: 'schema',
    says: /\(body\): got \[1,2\]; expected an object/,
  },
  {
    name: 'missing severity',
    subject: 'ft.health.n1.x',
    body: (({ severity: _s, ...r }) => r)(healthEvent()),
    reason: 'schema',
    says: /severity: got nothing; expected the field 'severity'/,
  },
  {
    name: 'unknown severity',
    subject: 'ft.health.n1.x',
    body: healthEvent({ severity: 'panic' as 'fatal' }),
    reason: 'schema',
    says: /severity: got "panic"; expected one of "info", "warning", "error", "fatal"/,
  },
  {
    name: 'wrong specversion',
    subject: 'ft.health.n1.x',
    body: { ...healthEvent(), specversion: '0.3' },
    reason: 'schema',
    says: /specversion: got "0.3"; expected "1.0"/,
  },
  {
    name: 'wrong type of id',
    subject: 'ft.health.n1.x',
    body: { ...healthEvent(), id: 42 },
    reason: 'schema',
    says: /id: got 42; expected a string/,
  },
  {
    name: 'bad time',
    subject: 'ft.health.n1.x',
    body: healthEvent({ time: 'tomorrow' }),
    reason: 'schema',
    says: /time: got "tomorrow"; expected an RFC 3339 date-time/,
  },
  {
    name: 'data not an object',
    subject: 'ft.health.n1.x',
    body: { ...healthEvent(), data: 'hot' },
    reason: 'schema',
    says: /data: got "hot"; expected an object/,
  },
  {
    name: 'misspelt attribute',
    subject: 'ft.health.n1.x',
    body: { ...healthEvent(), Severity: 'fatal' },
    reason: 'schema',
    says: /Severity: got "fatal"; expected only specversion/,
  },
  {
    name: 'bad node token in the event',
    subject: 'ft.health.n1.x',
    body: healthEvent({ node: 'n1 ' }),
    reason: 'token',
    says: /node: got "n1 "; expected a subject-safe token/,
  },
  {
    name: 'node mismatch',
    subject: 'ft.health.n1.x',
    body: healthEvent({ node: 'n2' }),
    reason: 'node',
    says: /node: got "n2"; expected the node of the subject \('n1'/,
  },
  {
    name: 'extra subject tokens',
    subject: 'ft.health.n1.x.y',
    body: healthEvent(),
    reason: 'subject',
    says: /subject: got "ft.health.n1.x.y"/,
  },
  {
    name: 'too big',
    subject: 'ft.health.n1.x',
    body: healthEvent({ data: { blob: 'x'.repeat(70_000) } }),
    reason: 'size',
    says: /expected at most 65536 bytes/,
  },
];

test.serial(
  'every kind of bad event is rejected with its reason, logged once, counted, and emits nothing',
  async (t) => {
    const { bus, lines } = await openBus(t, url);
    const got: HealthEvent[] = [];
    const rejections: Rejection[] = [];
    bus.health$.subscribe((e) => got.push(e));
    bus.rejected$.subscribe((r) => rejections.push(r));
    for (const bad of BAD) await send(bad.subject, bad.body);
    await until(() => rejections.length === BAD.length, 5_000, 'all rejections');
    await sleep(100);
    t.deepEqual(got, []);
    for (const [i, bad] of BAD.entries()) {
      const r = rejections[i] as Rejection;
      t.is(r.reason, bad.reason, bad.name);
      t.regex(r.message, bad.says, bad.name);
      t.is(r.subject, bad.subject, bad.name);
    }
    const warned = lines.filter((l) => l.msg === 'health event rejected');
    t.is(warned.length, BAD.length, 'one log line per rejected event');
    t.true(warned.every((l) => typeof l.reason === 'string' && typeof l.problem === 'string'));
    const c = bus.status().counters.health;
    t.is(c.received, BAD.length);
    t.is(c.accepted, 0);
    t.deepEqual(c.rejected, { json: 2, schema: 8, token: 1, node: 1, subject: 1, size: 1 });

    // and the bus still works afterwards
    const good = healthEvent();
    await send('ft.health.n1.x', good);
    await until(() => got.length === 1);
    t.deepEqual(got, [good]);
  },
);

test.serial('an all-nodes bus rejects a bad node token in the subject', async (t) => {
  const { bus } = await openBus(t, url, { healthScope: 'all' });
  const rejections: Rejection[] = [];
  bus.rejected$.subscribe((r) => rejections.push(r));
  await send('ft.health.n@1.x', healthEvent());
  await until(() => rejections.length === 1);
  t.is(rejections[0]?.reason, 'token');
  t.regex(rejections[0]?.message ?? '', /subject node: got "n@1"/);
});

test.serial('health events (valid and invalid) are kept in the history stream', async (t) => {
  const { bus } = await openBus(t, url, { node: 'hist' });
  const ev = healthEvent({ node: 'hist' });
  await send('ft.health.hist.edac', ev);
  await send('ft.health.hist.edac', 'garbage');
  const entries = await collect(bus.history({ kinds: ['health'], node: 'hist' }));
  t.is(entries.length, 2);
  t.deepEqual(entries[0]?.data, ev);
  t.true(entries[0]?.valid);
  t.is(entries[0]?.source, 'edac');
  t.false(entries[1]?.valid);
  t.is(entries[1]?.rejected, 'json');
  t.is(entries[1]?.raw, 'garbage');
});

test.serial('health$ completes on close', async (t) => {
  const { bus } = await openBus(t, url);
  let completed = false;
  bus.health$.subscribe({ complete: () => (completed = true) });
  await bus.close();
  t.true(completed);
  t.false(bus.status().connected);
});
