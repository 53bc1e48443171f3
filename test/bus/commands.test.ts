import { connect, type NatsConnection } from '@nats-io/transport-node';
import test from 'ava';
import { type BusClient, createBusClient } from '../../src/bus/client.js';
import type { CommandHandlers, CommandMeta } from '../../src/bus/commands.js';
import { CommandError } from '../../src/bus/errors.js';
import { useNatsServer } from '../helpers/nats.js';
import { collect, openBus, until } from './fixture.js';

const nats = useNatsServer(test);
let raw: NatsConnection;
let client: BusClient;
test.before(async () => {
  const { url } = await nats.ready();
  raw = await connect({ servers: url });
  client = await createBusClient({ url });
});
test.after.always(async () => {
  await client?.close();
  await raw?.close();
});

/** Handlers that record every call: a bad request must reach none of them. */
function recordingHandlers(
  calls: Array<{ verb: string; body: unknown; meta: CommandMeta }>,
): CommandHandlers {
  const rec =
    (verb: string, result: object = {}) =>
    async (body: unknown, meta: CommandMeta) => {
      calls.push({ verb, body, meta });
      return result;
    };
  return {
    status: rec('status', { jobs: 0, uptimeS: 1 }),
    jobs: rec('jobs', { jobs: [] }),
    checkpoint: async (body, meta) => {
      calls.push({ verb: 'checkpoint', body, meta });
      if (body.job === 'ghost') throw new CommandError('UNKNOWN_JOB', "no job 'ghost' on n1");
      if (body.job === 'boom') throw new Error('disk exploded');
      if (body.job === 'coded') throw Object.assign(new Error('busy busy'), { code: 'BUSY' });
      return { accepted: true, job: body.job };
    },
    restart: rec('restart', { accepted: true }),
    preempt: rec('preempt', { accepted: true }),
    resume: rec('resume', { accepted: true }),
    attach: rec('attach', { attached: true }),
    detach: rec('detach', { detached: true }),
  };
}

/** A reply or audit record as it travels (checked field by field in the tests). */
interface Wire {
  ok?: boolean;
  id?: string;
  stream?: string;
  error: { code: string; message: string };
  request?: unknown;
  reply: Wire;
}

async function rawRequest(subject: string, body: string | Uint8Array): Promise<Wire> {
  const m = await raw.request(subject, body, { timeout: 5_000 });
  return JSON.parse(m.string());
}

test.serial(
  'valid commands reach their handler with an id and get {ok:true, id, ...result}',
  async (t) => {
    const { bus } = await openBus(t, nats.url, { node: 'good' });
    const calls: Array<{ verb: string; body: unknown; meta: CommandMeta }> = [];
    await bus.serveCommands(recordingHandlers(calls));
    const cases: Array<[string, object]> = [
      ['status', {}],
      ['jobs', {}],
      ['jobs', { job: 'j1' }],
      ['checkpoint', { job: 'j1', after: 'stop', timeoutMs: 1000 }],
      ['restart', { job: 'j1', image: '/var/lib/ckpt/j1/context.1', restorePid: false }],
      ['preempt', { job: 'j1', after: 'kill' }],
      ['resume', { job: 'j1' }],
      [
        'attach',
        {
          job: 'j1',
          pid: 1234,
          owner: { uid: 1000, gid: 1000, user: 'alice' },
          command: ['sim', '-n', '4'],
          cwd: '/home/alice',
        },
      ],
      ['detach', { job: 'j1' }],
    ];
    for (const [verb, body] of cases) {
      const reply = await client.request('good', verb, body);
      t.true(reply.ok, verb);
      t.is(typeof reply.id, 'string');
      t.is(calls.at(-1)?.meta.id, reply.id, `${verb}: meta.id is the reply id`);
      t.deepEqual(calls.at(-1)?.body, body, verb);
      t.is(calls.at(-1)?.meta.verb as string, verb);
    }
    t.is(calls.length, cases.length);
    const status = await client.request('good', 'status', {});
    t.is(status.jobs, 0);
    // an empty body counts as {}
    const empty = await rawRequest('ft.cmd.good.status', '');
    t.true(empty.ok);
    // never a JetStream PubAck instead of the daemon's reply
    t.is(empty.stream, undefined);
  },
);

const BAD: Array<{ name: string; verb: string; body: string; code: string; says: RegExp }> = [
  {
    name: 'malformed JSON',
    verb: 'checkpoint',
    body: '{"job":',
    code: 'BAD_JSON',
    says: /\(body\): got "\{\\"job\\":"; expected a JSON object/,
  },
  {
    name: 'JSON but not an object',
    verb: 'checkpoint',
    body: '"j1"',
    code: 'BAD_REQUEST',
    says: /\(body\): got "j1"; expected an object/,
  },
  {
    name: 'null body',
    verb: 'resume',
    body: 'null',
    code: 'BAD_REQUEST',
    says: /expected an object/,
  },
  {
    name: 'unknown verb',
    verb: 'reboot',
    body: '{}',
    code: 'UNKNOWN_VERB',
    says: /verb: got "reboot"; expected one of status, jobs, checkpoint/,
  },
  {
    name: 'multi-token verb',
    verb: 'checkpoint.now',
    body: '{"job":"j1"}',
    code: 'UNKNOWN_VERB',
    says: /got "checkpoint.now"/,
  },
  {
    name: 'missing job',
    verb: 'checkpoint',
    body: '{}',
    code: 'BAD_REQUEST',
    says: /job: got nothing; expected the field 'job'/,
  },
  {
    name: 'bad job token',
    verb: 'checkpoint',
    body: '{"job":"j 1"}',
    code: 'BAD_TOKEN',
    says: /job: got "j 1"; expected a subject-safe token/,
  },
  {
    name: 'job with a dot',
    verb: 'resume',
    body: '{"job":"a.b"}',
    code: 'BAD_TOKEN',
    says: /job: got "a.b"/,
  },
  {
    name: 'job of the wrong type',
    verb: 'detach',
    body: '{"job":7}',
    code: 'BAD_REQUEST',
    says: /job: got 7; expected a string/,
  },
  {
    name: 'unknown after',
    verb: 'checkpoint',
    body: '{"job":"j1","after":"term"}',
    code: 'BAD_REQUEST',
    says: /after: got "term"; expected one of "continue", "stop", "terminate", "kill"/,
  },
  {
    name: 'preempt after continue',
    verb: 'preempt',
    body: '{"job":"j1","after":"continue"}',
    code: 'BAD_REQUEST',
    says: /after: got "continue"; expected one of "stop", "terminate", "kill"/,
  },
  {
    name: 'unknown field',
    verb: 'checkpoint',
    body: '{"job":"j1","path":"/etc/passwd"}',
    code: 'BAD_REQUEST',
    says: /path: got "\/etc\/passwd"; expected only job, after, timeoutMs/,
  },
  {
    name: 'relative image',
    verb: 'restart',
    body: '{"job":"j1","image":"ctx.1"}',
    code: 'BAD_REQUEST',
    says: /image: got "ctx.1"; expected an absolute path/,
  },
  {
    name: 'restorePid not boolean',
    verb: 'restart',
    body: '{"job":"j1","restorePid":"no"}',
    code: 'BAD_REQUEST',
    says: /restorePid: got "no"; expected a boolean/,
  },
  {
    name: 'attach without pid',
    verb: 'attach',
    body: '{"job":"j1"}',
    code: 'BAD_REQUEST',
    says: /pid: got nothing/,
  },
  {
    name: 'attach pid 0',
    verb: 'attach',
    body: '{"job":"j1","pid":0}',
    code: 'BAD_REQUEST',
    says: /pid: got 0; expected a number >= 1/,
  },
  {
    name: 'attach pid fraction',
    verb: 'attach',
    body: '{"job":"j1","pid":1.5}',
    code: 'BAD_REQUEST',
    says: /pid: got 1.5; expected an integer/,
  },
  {
    name: 'attach owner uid string',
    verb: 'attach',
    body: '{"job":"j1","pid":5,"owner":{"uid":"0","gid":0}}',
    code: 'BAD_REQUEST',
    says: /owner.uid: got "0"; expected an integer/,
  },
  {
    name: 'attach command not strings',
    verb: 'attach',
    body: '{"job":"j1","pid":5,"command":["a",3]}',
    code: 'BAD_REQUEST',
    says: /command\[1\]: got 3; expected a string/,
  },
  {
    name: 'status with junk',
    verb: 'status',
    body: '{"verbose":true}',
    code: 'BAD_REQUEST',
    says: /verbose: got true; expected no fields/,
  },
  {
    name: 'timeoutMs negative',
    verb: 'checkpoint',
    body: '{"job":"j1","timeoutMs":-5}',
    code: 'BAD_REQUEST',
    says: /timeoutMs: got -5; expected a number >= 1/,
  },
];

test.serial(
  'every bad request gets a structured error naming the field, and reaches no handler',
  async (t) => {
    const { bus, lines } = await openBus(t, nats.url, { node: 'bad' });
    const calls: Array<{ verb: string; body: unknown; meta: CommandMeta }> = [];
    await bus.serveCommands(recordingHandlers(calls));
    for (const bad of BAD) {
      const reply = await rawRequest(`ft.cmd.bad.${bad.verb}`, bad.body);
      t.false(reply.ok, bad.name);
      t.is(reply.error.code, bad.code, bad.name);
      t.regex(reply.error.message, bad.says, bad.name);
      t.is(typeof reply.id, 'string', bad.name);
    }
    // a large bad body is not echoed back whole
    const big = await rawRequest('ft.cmd.bad.checkpoint', `{"job": "${'x'.repeat(5000)}`);
    t.is(big.error.code, 'BAD_JSON');
    t.true(JSON.stringify(big).length < 1000, 'reply stays small');
    // binary garbage
    const bin = await rawRequest('ft.cmd.bad.status', new Uint8Array([0xff, 0xfe, 0x00]));
    t.is(bin.error.code, 'BAD_JSON');
    t.deepEqual(calls, [], 'no handler ran');
    const failed = bus.status().counters.commands.failed;
    t.is(failed.BAD_JSON, 3);
    t.is(failed.UNKNOWN_VERB, 2);
    t.is(bus.status().counters.commands.ok, 0);
    t.is(lines.filter((l) => l.msg === 'command refused').length, BAD.length + 2);
    // still serving
    t.true((await client.request('bad', 'status', {})).ok);
  },
);

test.serial(
  'handler failures become error replies: CommandError code, .code on errors, INTERNAL otherwise',
  async (t) => {
    const { bus, lines } = await openBus(t, nats.url, { node: 'fail' });
    await bus.serveCommands(recordingHandlers([]));
    const ghost = await client.requestRaw('fail', 'checkpoint', { job: 'ghost' });
    t.deepEqual(ghost.ok ? undefined : ghost.error, {
      code: 'UNKNOWN_JOB',
      message: "no job 'ghost' on n1",
    });
    const coded = await client.requestRaw('fail', 'checkpoint', { job: 'coded' });
    t.is(coded.ok ? undefined : coded.error.code, 'BUSY');
    const boom = await client.requestRaw('fail', 'checkpoint', { job: 'boom' });
    t.deepEqual(boom.ok ? undefined : boom.error, { code: 'INTERNAL', message: 'disk exploded' });
    t.is(
      lines.filter((l) => l.msg === 'command handler failed').length,
      1,
      'INTERNAL is logged as an error',
    );
    // request() turns {ok:false} into a BusRequestError with the daemon's code
    const err = await t.throwsAsync(client.request('fail', 'checkpoint', { job: 'ghost' }));
    t.is((err as { code?: string }).code, 'UNKNOWN_JOB');
    t.is((err as { remote?: boolean }).remote, true);
  },
);

test.serial(
  'a verb without a handler is UNAVAILABLE; a handler returning a non-object is INTERNAL',
  async (t) => {
    const { bus } = await openBus(t, nats.url, { node: 'partial' });
    await bus.serveCommands({ status: async () => [1, 2] as unknown as object });
    const jobs = await client.requestRaw('partial', 'jobs', {});
    t.is(jobs.ok ? undefined : jobs.error.code, 'UNAVAILABLE');
    const status = await client.requestRaw('partial', 'status', {});
    t.is(status.ok ? undefined : status.error.code, 'INTERNAL');
    t.regex(status.ok ? '' : status.error.message, /returned an array, not an object/);
  },
);

test.serial(
  'every command and its reply is recorded on the audit subject, replayable from history',
  async (t) => {
    const { bus } = await openBus(t, nats.url, { node: 'aud' });
    await bus.serveCommands(recordingHandlers([]));
    const ok = await client.request('aud', 'checkpoint', { job: 'j9', after: 'continue' });
    const bad = await client.requestRaw('aud', 'checkpoint', { job: 'j 9' });
    const unknown = await client.requestRaw('aud', 'selfdestruct', {});
    await bus.flush(5_000);
    const entries = await collect(bus.history({ kinds: ['audit'], node: 'aud' }));
    t.is(entries.length, 3);
    const [a, b, c] = entries.map((e) => e.data as Wire);
    t.is(a?.id, ok.id);
    t.deepEqual(a?.request, { job: 'j9', after: 'continue' });
    t.deepEqual(a?.reply, ok);
    t.is(entries[0]?.subject, 'ft.audit.cmd.aud.checkpoint');
    t.is(b?.id, bad.id);
    t.is(b?.reply.error.code, 'BAD_TOKEN');
    t.is(c?.id, unknown.id);
    t.is(entries[2]?.subject, 'ft.audit.cmd.aud.selfdestruct');
    // commands themselves are not in the stream (their PubAck would race the reply)
    const all = await collect(bus.history({ node: 'aud' }));
    t.false(all.some((e) => e.subject.startsWith('ft.cmd.')));
  },
);

test.serial('serveCommands twice is refused; stop() ends serving', async (t) => {
  const { bus } = await openBus(t, nats.url, { node: 'twice' });
  const server = await bus.serveCommands({ status: async () => ({}) });
  await t.throwsAsync(bus.serveCommands({}), { message: /already called/ });
  await server.stop();
  const err = await t.throwsAsync(client.request('twice', 'status', {}, 2_000));
  t.is((err as { code?: string }).code, 'NO_RESPONDERS');
});

test.serial(
  'the client refuses a bad node token before sending and reports a timeout',
  async (t) => {
    await t.throwsAsync(client.request('n 1', 'status', {}), { message: /node: got "n 1"/ });
    const { bus } = await openBus(t, nats.url, { node: 'slow' });
    await bus.serveCommands({
      status: () => new Promise((r) => setTimeout(() => r({}), 1_500)),
    });
    const err = await t.throwsAsync(client.request('slow', 'status', {}, 300));
    t.is((err as { code?: string }).code, 'TIMEOUT');
    await until(() => bus.status().counters.commands.ok === 1, 3_000);
  },
);

test.serial(
  'a body nested 100,000 levels deep, a deep small one and an oversize one each get a reply and an audit record',
  async (t) => {
    const { bus } = await openBus(t, nats.url, { node: 'deep' });
    const calls: Array<{ verb: string; body: unknown; meta: CommandMeta }> = [];
    await bus.serveCommands(recordingHandlers(calls));
    const n = 100_000;
    const huge = `{"job":${'['.repeat(n)}${']'.repeat(n)}}`;
    const r1 = await rawRequest('ft.cmd.deep.checkpoint', huge);
    t.false(r1.ok);
    t.is(r1.error.code, 'BAD_REQUEST');
    t.regex(r1.error.message, /at most 65536 bytes/);
    // small enough, but deeper than the bound: refused before the validator sees it
    const deep = `{"job":"j","x":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`;
    const r2 = await rawRequest('ft.cmd.deep.checkpoint', deep);
    t.false(r2.ok);
    t.is(r2.error.code, 'BAD_REQUEST');
    t.regex(r2.error.message, /nested at most 32 levels/);
    // brackets inside strings do not count
    const r3 = await rawRequest('ft.cmd.deep.checkpoint', `{"job":"j${'['.repeat(100)}"}`);
    t.is(r3.error.code, 'BAD_TOKEN');
    t.deepEqual(calls, [], 'no handler ran');
    await bus.flush(5_000);
    const entries = await collect(bus.history({ kinds: ['audit'], node: 'deep' }));
    t.is(entries.length, 3);
    const ids = entries.map((e) => (e.data as Wire).id);
    t.deepEqual(ids, [r1.id, r2.id, r3.id]);
    t.true(JSON.stringify(entries[0]?.data).length < 4096, 'the audit record stays small');
    // and the daemon still serves
    t.true((await client.request('deep', 'status', {})).ok);
  },
);
