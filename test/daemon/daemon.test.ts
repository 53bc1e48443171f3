/**
 * The node daemon end to end: real nats-server, `bin/ckpt daemon` as a child
 * process, jobs under `bin/ckpt run`, checkpoints and restarts through libckpt.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import test from 'ava';
import { natsServer } from '../helpers/nats.js';
import {
  collectResults,
  commands,
  lineCount,
  runJob,
  sleep,
  startDaemon,
  until,
} from './fixture.js';

function isGone(pid: number): boolean {
  return !existsSync(`/proc/${pid}`);
}

test.serial(
  'fatal event -> begin/end, image, catalog; killed job restarted by command continues with no gap',
  async (t) => {
    const server = await natsServer(t);
    const d = await startDaemon(t, { url: server.url, node: 'e2e' });
    const results = await collectResults(t, server.url, 'e2e');
    const job = await runJob(t, d, 'count');
    const pid = job.pid();
    const cmd = await commands(t, d);
    // a fatal health event for this node, as a monitor would publish it
    const ev = {
      specversion: '1.0',
      id: 'ev-1',
      source: 'test',
      type: 'node.failure.imminent',
      severity: 'fatal',
      node: 'e2e',
    };
    results.nc.publish('ft.health.e2e.test', JSON.stringify(ev));
    const end = await until('ckpt end', () => results.find('.count.end')[0]);
    const begin = results.find('ckpt.e2e.count.begin')[0];
    t.truthy(begin, 'begin published');
    t.is((begin?.data.trigger as { eventId?: string } | undefined)?.eventId, 'ev-1');
    const image = end.data.image as string;
    t.true(existsSync(image), image);
    t.is(end.data.pid, pid);
    t.true((end.data.bytes as number) > 0 && (end.data.frozen_ms as number) > 0);
    const kv = await new Kvm(jetstream(results.nc)).open('ckpt_catalog');
    const entry = await kv.get('e2e.count');
    t.is((entry?.json() as { path: string } | undefined)?.path, image, 'the catalog has it');
    // the job dies; the restart command brings it back from the image
    const atKill = lineCount(job.file);
    process.kill(pid, 'SIGKILL');
    t.is(await job.exited, 137, 'ckpt run exits with the killed status');
    await until('pid free', () => isGone(pid));
    const r = await cmd.request('restart', { job: 'count' });
    t.true(r.ok, JSON.stringify(r));
    t.is(r.pid, pid, 'same pid');
    await until('lines continue', () => lineCount(job.file) > atKill + 10);
    t.true(lineCount(job.file) > 0, 'no gap, no repeat');
    t.truthy(results.find('rstrt.e2e.count.end')[0], 'rstrt end published');
    // the Prometheus endpoint counts what happened
    const info = JSON.parse(readFileSync(join(d.stateDir, 'daemon.json'), 'utf8')) as {
      metrics: string;
    };
    const text = await (await fetch(`${info.metrics}/metrics`)).text();
    t.regex(text, /ckpt_checkpoints_total\{result="ok",trigger="automatic"\} 1/);
    t.regex(text, /ckpt_restarts_total\{result="ok",trigger="command"\} 1/);
    t.regex(text, /ckpt_events_received_total\{severity="fatal"\} 1/);
    t.regex(text, /ckpt_jobs 1/);
  },
);

test.serial(
  'preempt then resume: stopped -> SIGCONT, killed -> restart from the image',
  async (t) => {
    const server = await natsServer(t);
    const d = await startDaemon(t, { url: server.url, node: 'pre' });
    const job = await runJob(t, d, 'p1');
    const cmd = await commands(t, d);
    const pid = job.pid();
    const stopped = await cmd.request('preempt', { job: 'p1', after: 'stop' });
    t.true(stopped.ok, JSON.stringify(stopped));
    await until('stopped', () =>
      readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('T'),
    );
    const n = lineCount(job.file);
    await sleep(200);
    t.is(lineCount(job.file), n, 'no progress while preempted');
    const resumed = await cmd.request('resume', { job: 'p1' });
    t.is(resumed.how, 'continued', JSON.stringify(resumed));
    await until('advancing', () => lineCount(job.file) > n + 5);
    const killed = await cmd.request('preempt', { job: 'p1', after: 'kill' });
    t.true(killed.ok, JSON.stringify(killed));
    await until('gone', () => isGone(pid));
    const m = lineCount(job.file);
    const back = await cmd.request('resume', { job: 'p1' });
    t.is(back.how, 'restarted', JSON.stringify(back));
    await until('advancing after restart', () => lineCount(job.file) > m + 5);
  },
);

test.serial('periodic and adaptive policies checkpoint in real time', async (t) => {
  const server = await natsServer(t);
  const policies = `version: 1
policies:
  - name: fast
    kind: periodic
    jobs: 'per-*'
    interval: 700ms
  - name: daly
    kind: adaptive
    jobs: 'ada-*'
    initialInterval: 500ms
    minInterval: 300ms
    maxInterval: 2s
    mtbf: 10s
`;
  const d = await startDaemon(t, { url: server.url, node: 'pol', policies });
  const results = await collectResults(t, server.url, 'pol');
  await runJob(t, d, 'per-1');
  await runJob(t, d, 'ada-1');
  await until('3 periodic ends', () => results.find('.per-1.end').length >= 3, 20_000);
  await until('2 adaptive ends', () => results.find('.ada-1.end').length >= 2, 20_000);
  const per = results.find('.per-1.end').map((e) => (e.data.trigger as { policy: string }).policy);
  const ada = results.find('.ada-1.end').map((e) => (e.data.trigger as { policy: string }).policy);
  t.deepEqual([...new Set(per)], ['fast']);
  t.deepEqual([...new Set(ada)], ['daly']);
  // retention: 3 images per job by default
  const images = readFileSync(join(d.stateDir, 'jobs.json'), 'utf8');
  const perJob = (JSON.parse(images).jobs as { id: string; images: unknown[] }[]).find(
    (j) => j.id === 'per-1',
  );
  t.true((perJob?.images.length ?? 0) <= 3);
});

test.serial(
  'a daemon restarted mid-life knows its jobs and their images and restarts them',
  async (t) => {
    const server = await natsServer(t);
    const d1 = await startDaemon(t, { url: server.url, node: 'mid' });
    const job = await runJob(t, d1, 'm1');
    const c1 = await commands(t, d1);
    const cp = await c1.request('checkpoint', { job: 'm1' });
    t.true(cp.ok, JSON.stringify(cp));
    t.is(await d1.stop('SIGTERM'), 0, 'clean stop on SIGTERM');
    const d2 = await startDaemon(t, { url: server.url, node: 'mid', stateDir: d1.stateDir });
    const c2 = await commands(t, d2);
    const jobs = await c2.request('jobs', {});
    const m1 = (jobs.jobs as { id: string; lastImage?: { path: string } }[]).find(
      (j) => j.id === 'm1',
    );
    t.is(m1?.lastImage?.path, cp.image as string);
    const pid = job.pid();
    process.kill(pid, 'SIGKILL');
    await until('gone', () => isGone(pid));
    const n = lineCount(job.file);
    const r = await c2.request('restart', { job: 'm1' });
    t.true(r.ok, JSON.stringify(r));
    await until('advancing', () => lineCount(job.file) > n + 5);
  },
);

test.serial(
  'bad input on every command and on the health subject: clear errors, the daemon stays up',
  async (t) => {
    const server = await natsServer(t);
    const d = await startDaemon(t, { url: server.url, node: 'bad' });
    const cmd = await commands(t, d);
    const cases: [string, unknown, string][] = [
      ['checkpoint', { job: 'nope' }, 'UNKNOWN_JOB'],
      ['checkpoint', { job: 'a.b' }, 'BAD_TOKEN'],
      ['checkpoint', {}, 'BAD_REQUEST'],
      ['checkpoint', { job: 'x', after: 'explode' }, 'BAD_REQUEST'],
      ['restart', { job: 'nope' }, 'UNKNOWN_JOB'],
      ['restart', { job: 'x', image: 'relative/path' }, 'BAD_REQUEST'],
      ['preempt', { job: 'nope' }, 'UNKNOWN_JOB'],
      ['resume', { job: 'nope' }, 'UNKNOWN_JOB'],
      ['attach', { job: 'j', pid: 999999999 }, 'BAD_REQUEST'],
      ['attach', { job: 'j', pid: 3999999 }, 'UNKNOWN_JOB'],
      ['detach', { job: 'nope' }, 'UNKNOWN_JOB'],
      ['jobs', { job: 'nope' }, 'UNKNOWN_JOB'],
      ['status', { extra: 1 }, 'BAD_REQUEST'],
    ];
    for (const [verb, body, code] of cases) {
      const r = await cmd.request(verb, body);
      t.false(r.ok, `${verb} ${JSON.stringify(body)}`);
      t.is(
        (r.error as { code: string }).code,
        code,
        `${verb} ${JSON.stringify(body)}: ${JSON.stringify(r)}`,
      );
    }
    const { connect } = await import('@nats-io/transport-node');
    const nc = await connect({ servers: server.url });
    t.teardown(() => nc.close());
    const raw = await nc.request('ft.cmd.bad.checkpoint', 'not json{', { timeout: 5000 });
    t.is((raw.json() as { error: { code: string } }).error.code, 'BAD_JSON');
    nc.publish('ft.health.bad.x', 'garbage');
    nc.publish(
      'ft.health.bad.x',
      JSON.stringify({
        specversion: '1.0',
        id: 'e',
        source: 's',
        type: 't',
        severity: 'apocalyptic',
        node: 'bad',
      }),
    );
    await nc.flush();
    await sleep(300);
    const status = await cmd.request('status', {});
    t.true(status.ok);
    const rejected = (status.bus as { counters: { health: { rejected: Record<string, number> } } })
      .counters.health.rejected;
    t.true((rejected.json ?? 0) >= 1 && (rejected.schema ?? 0) >= 1, JSON.stringify(rejected));
    t.is(d.proc.exitCode, null, 'still running');
  },
);

test.serial(
  'a malformed policy file is refused at start; SIGHUP with a bad file keeps the old policies',
  async (t) => {
    const server = await natsServer(t);
    const bad = `version: 1
policies:
  - name: p
    kind: periodic
    interval: soon
`;
    await t.throwsAsync(startDaemon(t, { url: server.url, node: 'pf', policies: bad }), {
      message: /policies\.yaml:\d+:\d+: policies\[0\]\.interval/,
    });
    const good = 'version: 1\npolicies:\n  - name: p\n    kind: periodic\n    interval: 1h\n';
    const d = await startDaemon(t, { url: server.url, node: 'pf2', policies: good });
    writeFileSync(join(d.stateDir, 'policies.yaml'), bad);
    d.proc.kill('SIGHUP');
    await until('reload refused', () => d.stderr().includes('policy reload refused'));
    const cmd = await commands(t, d);
    const status = await cmd.request('status', {});
    t.deepEqual(status.policies, [{ name: 'p', kind: 'periodic' }]);
    // config `engine` defaults to auto; without /dev/ckpt it falls back to the user engine
    const engine = status.engine as { configured: string; inUse: string; why: string };
    t.is(engine.configured, 'auto');
    t.is(engine.inUse, existsSync('/dev/ckpt') ? 'kernel' : 'user', engine.why);
    t.regex(engine.why, /^auto: /);
  },
);

test.serial(
  'NATS stopped and started while the daemon runs: it reconnects and no result is lost',
  async (t) => {
    const server = await natsServer(t);
    const policies =
      'version: 1\npolicies:\n  - name: tick\n    kind: periodic\n    interval: 400ms\n';
    const d = await startDaemon(t, { url: server.url, node: 'out', policies });
    const results = await collectResults(t, server.url, 'out');
    await runJob(t, d, 'o1');
    await until('a first end', () => results.find('.o1.end').length > 0);
    await server.stop();
    const downAt = Date.now();
    await sleep(1500);
    await server.restart();
    const upAt = Date.now();
    // every checkpoint made during the outage reaches a subscriber once the bus is back (an
    // in-flight publish waits out its 5 s ack timeout before the outbox retries it)
    const during = () =>
      results.find('.o1.end').filter((e) => {
        const x = Date.parse(e.data.time as string);
        return x > downAt && x < upAt;
      });
    await until('an end event made during the outage', () => during().length > 0, 30_000);
    const n = results.find('.o1.end').length;
    await until('later ones too', () => results.find('.o1.end').length > n, 10_000);
    t.pass(`${during().length} end events made during the outage were delivered`);
    t.is(d.proc.exitCode, null, 'the daemon stayed up');
  },
);
