/**
 * The bus verbs against a real nats-server: a NATS responder on the daemon's
 * command subjects records what the CLI sent and answers; a subscriber checks
 * what `ckpt publish` publishes.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import test from 'ava';
import type { HealthEvent, JobInfo } from '../../src/shared/types.js';
import { useNatsServer } from '../helpers/nats.js';
import { isOneLineError, runCli } from './run-cli.js';

const server = useNatsServer(test);
let nats: { url: string };
let nc: NatsConnection;
const received: { subject: string; body: unknown }[] = [];

const JOB: JobInfo = {
  id: 'mpi-42',
  node: 'n1',
  pid: 4242,
  owner: { uid: 1000, gid: 1000, user: 'alice' },
  command: ['./solver', '--grid', '512'],
  state: 'running',
  registeredAt: '2026-01-01T00:00:00.000Z',
};

test.before(async () => {
  nats = await server.ready();
  nc = await connect({ servers: nats.url });
  const sub = nc.subscribe('ft.cmd.n1.*');
  (async () => {
    for await (const m of sub) {
      const body = m.data.length ? m.json() : undefined;
      received.push({ subject: m.subject, body });
      const verb = m.subject.split('.').at(-1);
      const b = body as Record<string, unknown>;
      if (verb === 'jobs') m.respond(JSON.stringify({ ok: true, id: 'c1', jobs: [JOB] }));
      else if (verb === 'status')
        m.respond(JSON.stringify({ ok: true, id: 'c1', node: 'n1', jobs: 1, queue: 0 }));
      else if (verb === 'checkpoint' && b.job === 'nope')
        m.respond(
          JSON.stringify({
            ok: false,
            error: { code: 'UNKNOWN_JOB', message: 'unknown job nope' },
          }),
        );
      else if (verb === 'checkpoint')
        m.respond(
          JSON.stringify({ ok: true, id: 'c1', image: '/var/lib/ckpt/mpi-42/1.ckpt', bytes: 123 }),
        );
      else if (verb === 'restart') m.respond('this is not json');
      else if (verb === 'preempt') m.respond(JSON.stringify({ ok: true, id: 'c1', queued: true }));
      // anything else: no answer (a hung daemon)
    }
  })();
  await nc.flush();
});

test.after.always(async () => {
  await nc?.close();
});

const last = (verb: string) =>
  [...received].reverse().find((r) => r.subject === `ft.cmd.n1.${verb}`)?.body;

test.serial('jobs: table and JSON', async (t) => {
  const r = await runCli('ckpt', ['jobs', '--node', 'n1', '--bus', nats.url]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^JOB\s+PID\s+STATE\s+OWNER\s+LAST IMAGE\s+COMMAND$/m);
  t.regex(r.stdout, /^mpi-42\s+4242\s+running\s+alice\s+-\s+\.\/solver --grid 512$/m);
  const j = await runCli('ckpt', ['jobs', '--node', 'n1', '--bus', nats.url, '--json']);
  t.deepEqual(JSON.parse(j.stdout), [JOB]);
});

test.serial('checkpoint through the daemon sends the job and the after-action', async (t) => {
  const bus = ['--node', 'n1', '--bus', nats.url];
  const r = await runCli('ckpt', ['checkpoint', ...bus, '--job', 'mpi-42', '--kill', '-t', '90']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(last('checkpoint'), { after: 'kill', job: 'mpi-42', timeoutMs: 90_000 });
  t.regex(r.stdout, /image: \/var\/lib\/ckpt\/mpi-42\/1\.ckpt/);
  const term = await runCli('ckpt', ['checkpoint', ...bus, '--job', 'mpi-42', '--term', '--json']);
  t.is(term.code, 0, term.stderr);
  t.deepEqual(last('checkpoint'), { after: 'terminate', job: 'mpi-42' });
  t.like(JSON.parse(term.stdout), { ok: true, bytes: 123 });
});

test.serial('checkpoint through the daemon: what only a local checkpoint takes', async (t) => {
  const bus = ['--node', 'n1', '--bus', nats.url];
  const cases: [string[], RegExp][] = [
    [['4242'], /needs --job JOB \(register PID 4242 first: ckpt attach --job JOB 4242\)/],
    [['--job', 'a', '4242'], /give --job JOB or a PID, not both/],
    [['--job', 'a', '-f', '/x.ckpt'], /-f\/--file is for local checkpoints/],
    [['--job', 'a', '-S', 'USR1'], /takes --cont, --stop, --term, --kill .*not --signal/],
    [['--job', 'a', '--abort'], /not --abort/],
  ];
  const before = received.length;
  for (const [args, says] of cases) {
    const r = await runCli('ckpt', ['checkpoint', ...bus, ...args]);
    t.is(r.code, 2, args.join(' '));
    t.true(isOneLineError(r, 'ckpt'), r.stderr);
    t.regex(r.stderr, says);
  }
  t.is(received.length, before, 'nothing was sent');
});

test.serial("--preempt sends the preempt command; no after-action: the policy's", async (t) => {
  const r = await runCli('ckpt', [
    'checkpoint',
    '--preempt',
    '--node',
    'n1',
    '--bus',
    nats.url,
    '--job',
    'slurm-7',
  ]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(last('preempt'), { job: 'slurm-7' }, 'no after: the preemptive policy decides');
  t.regex(r.stdout, /^queued: true$/m);
  const stop = await runCli('ckpt', [
    'checkpoint',
    '--preempt',
    '--stop',
    '--node',
    'n1',
    '--bus',
    nats.url,
    '--job',
    'slurm-7',
  ]);
  t.is(stop.code, 0, stop.stderr);
  t.deepEqual(last('preempt'), { after: 'stop', job: 'slurm-7' });
  const noDaemon = await runCli('ckpt', ['checkpoint', '--preempt', '--job', 'slurm-7'], {
    env: { CKPT_STATE_DIR: '/nonexistent/ckpt-state', CKPT_BUS_URL: '', CKPT_NODE: '' },
  });
  t.is(noDaemon.code, 3);
  t.true(isOneLineError(noDaemon, 'ckpt'), noDaemon.stderr);
  t.regex(
    noDaemon.stderr,
    /no local daemon found \(\/nonexistent\/ckpt-state\/daemon\.json missing\)/,
  );
});

test.serial('a refusal from the daemon is one line and exit 1', async (t) => {
  const r = await runCli('ckpt', [
    'checkpoint',
    '--node',
    'n1',
    '--bus',
    nats.url,
    '--job',
    'nope',
  ]);
  t.is(r.code, 1);
  t.true(isOneLineError(r, 'ckpt'), r.stderr);
  t.regex(r.stderr, /checkpoint failed on the daemon: unknown job nope/);
});

test.serial('restart through the daemon; a reply that is not JSON is an error', async (t) => {
  const bus = ['--node', 'n1', '--bus', nats.url];
  const r = await runCli('ckpt', [
    'restart',
    ...bus,
    '--job',
    'mpi-42',
    '--no-restore-pid',
    '/img',
  ]);
  t.deepEqual(last('restart'), { job: 'mpi-42', image: '/img', restorePid: false });
  t.is(r.code, 1);
  t.true(isOneLineError(r, 'ckpt'), r.stderr);
  t.regex(r.stderr, /not a valid reply: .*this is not json|not a valid reply/);
  await runCli('ckpt', ['restart', ...bus, '--job', 'mpi-42', 'images/j.ckpt'], { cwd: '/tmp' });
  t.deepEqual(
    last('restart'),
    { job: 'mpi-42', image: '/tmp/images/j.ckpt' },
    "a relative image is the caller's",
  );
  const reloc = await runCli('ckpt', ['restart', ...bus, '--job', 'a', '--relocate', '/a=/b']);
  t.is(reloc.code, 2);
  t.regex(reloc.stderr, /--relocate is for local restarts/);
});

test.serial('status of a daemon', async (t) => {
  const r = await runCli('ckpt', ['status', '--node', 'n1', '--bus', nats.url]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^node: n1$/m);
  t.regex(r.stdout, /^jobs: 1$/m);
});

test.serial(
  'no daemon for a node (exit 3) and a daemon that does not answer (exit 4)',
  async (t) => {
    const none = await runCli('ckpt', ['jobs', '--node', 'n2', '--bus', nats.url]);
    t.is(none.code, 3);
    t.true(isOneLineError(none, 'ckpt'), none.stderr);
    t.regex(none.stderr, /no daemon is serving node 'n2' \(ft\.cmd\.n2\.jobs\)/);
    // n1 answers nothing for 'attach'-like unknown verbs: simulate with status on a hung subject
    const sub = nc.subscribe('ft.cmd.n3.jobs'); // subscribed, never answers
    await nc.flush();
    const hung = await runCli('ckpt', [
      'jobs',
      '--node',
      'n3',
      '--bus',
      nats.url,
      '--request-timeout',
      '0.5',
    ]);
    sub.unsubscribe();
    t.is(hung.code, 4);
    t.true(isOneLineError(hung, 'ckpt'), hung.stderr);
    t.regex(hung.stderr, /did not answer 'jobs' within 500 ms/);
  },
);

test.serial('publish: a CloudEvent on ft.health.<node>.<source>', async (t) => {
  const sub = nc.subscribe('ft.health.>', { max: 1 });
  await nc.flush();
  const got = (async () => {
    for await (const m of sub) return { subject: m.subject, event: m.json<HealthEvent>() };
    return undefined;
  })();
  const r = await runCli('ckpt', [
    'publish',
    '--bus',
    nats.url,
    '--node',
    'n1',
    '--type',
    'node.failure.imminent',
    '--severity',
    'fatal',
    '--source',
    'nhc',
    '--subject',
    'dimm-b2',
    '--data',
    '{"reason":"ECC storm"}',
  ]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, '');
  const msg = await got;
  t.is(msg?.subject, 'ft.health.n1.nhc');
  const e = msg?.event as HealthEvent;
  t.like(e, {
    specversion: '1.0',
    type: 'node.failure.imminent',
    severity: 'fatal',
    node: 'n1',
    source: 'nhc',
    subject: 'dimm-b2',
    datacontenttype: 'application/json',
    data: { reason: 'ECC storm' },
  });
  t.regex(e.id, /^[0-9a-f-]{36}$/);
  t.false(Number.isNaN(Date.parse(e.time ?? '')));
});
