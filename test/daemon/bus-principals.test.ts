/**
 * Issue 12 item 2, the bus side: who may send what, decided by the daemon as well as by
 * the server. On the daemon's own nats-server a normal user has no credentials at all (the
 * bus refuses them: they use the Unix socket); the scheduler principal sends checkpoint,
 * preempt, resume, restart, status and jobs, and the daemon refuses it attach and detach
 * even on a server whose permissions would let them through (FORBIDDEN, audited with the
 * principal); health publishers publish health events and reach no command.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import test, { type ExecutionContext } from 'ava';
import { createBusClient } from '../../src/bus/index.js';
import { natsServer } from '../helpers/nats.js';
import { CKPT, haveCommands, REPO, startDaemon, until } from './fixture.js';

const USER = `ckptp${process.pid % 100000}`;
const haveUseradd = haveCommands('useradd', 'userdel');
test.before(() => {
  if (haveUseradd)
    execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
});
test.after.always(() => {
  if (haveUseradd)
    try {
      execFileSync('userdel', [USER]);
    } catch {}
});

function env(stateDir: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, CKPT_STATE_DIR: stateDir };
  for (const k of ['CKPT_BUS_URL', 'CKPT_NODE', 'CKPT_BUS_PREFIX', 'CKPT_DEBUG']) delete e[k];
  return e;
}

/** The daemon with its own nats-server (no --bus); its daemon.json. */
async function startLocal(t: ExecutionContext, stateDir: string, node: string) {
  const proc = spawn(CKPT, ['daemon', '--node', node, '--metrics-port', '-1'], {
    env: env(stateDir),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr?.on('data', (d) => {
    err += d;
  });
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const file = join(stateDir, 'daemon.json');
  await until(
    `daemon.json (${err})`,
    () => existsSync(file) && JSON.parse(readFileSync(file, 'utf8')).pid === proc.pid,
    30_000,
  );
  return { info: JSON.parse(readFileSync(file, 'utf8')) as { url: string }, stderr: () => err };
}

const password = (dir: string, p: string) =>
  readFileSync(join(dir, 'bus', `${p}.password`), 'utf8').trim();

function sleeper(t: ExecutionContext): number {
  const p = spawn('sleep', ['600'], { stdio: 'ignore', detached: true });
  t.teardown(() => p.kill('SIGKILL'));
  return p.pid as number;
}

test("the daemon's own bus: users have no credentials; the scheduler sends its verbs only, health publishers no command", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-principals-'));
  const d = await startLocal(t, dir, 'prin');
  const url = d.info.url;

  if (haveUseradd) {
    // a normal user: the bus refuses them (root's credentials are not theirs to read) ...
    const r = execFileSync(
      'sh',
      [
        '-c',
        `setpriv --reuid ${USER} --regid nogroup --clear-groups ${CKPT} jobs --bus ${url} --node prin 2>&1; echo "exit $?"`,
      ],
      { encoding: 'utf8', cwd: REPO, env: env(dir) },
    );
    t.regex(r, /Authorization Violation|permission denied|EACCES/i, r);
    t.regex(r, /exit [1-9]/);
    // ... and the socket serves them (no jobs of theirs)
    const s = execFileSync(
      'setpriv',
      ['--reuid', USER, '--regid', 'nogroup', '--clear-groups', CKPT, 'jobs', '--json'],
      { encoding: 'utf8', cwd: REPO, env: env(dir) },
    );
    t.deepEqual(JSON.parse(s), []);
  } else {
    t.log('useradd missing: the normal-user part is skipped');
  }

  const admin = await createBusClient({
    url,
    auth: { user: 'ckpt-admin', password: password(dir, 'ckpt-admin') },
    timeoutMs: 10_000,
  });
  t.teardown(() => admin.close());
  const sched = await createBusClient({
    url,
    auth: { user: 'ckpt-scheduler', password: password(dir, 'ckpt-scheduler') },
    timeoutMs: 3_000,
  });
  t.teardown(() => sched.close());

  const pid = sleeper(t);
  const attached = await admin.requestRaw('prin', 'attach', { job: 'j', pid });
  t.true(attached.ok, JSON.stringify(attached));
  const listed = await sched.requestRaw('prin', 'jobs', {});
  t.true(listed.ok, JSON.stringify(listed));
  t.deepEqual(
    ((listed as unknown as { jobs: Array<{ id: string }> }).jobs ?? []).map((j) => j.id),
    ['j'],
  );
  // the server refuses the scheduler's attach/detach before the daemon sees them
  await t.throwsAsync(sched.requestRaw('prin', 'detach', { job: 'j' }));
  const still = await admin.requestRaw('prin', 'jobs', {});
  t.is((still as unknown as { jobs: unknown[] }).jobs.length, 1, 'still registered');

  // health publishers: events yes, commands no
  const health = await connect({
    servers: url,
    user: 'ckpt-health',
    pass: password(dir, 'ckpt-health'),
  });
  t.teardown(() => health.close());
  await t.throwsAsync(health.request('ft.cmd.prin.jobs', '{}', { timeout: 2000 }));
  await t.throwsAsync(health.request('ft.sched.cmd.prin.detach', '{}', { timeout: 2000 }));
  t.is((await admin.requestRaw('prin', 'jobs', {})).ok, true);
});

test('the scheduler is refused attach and detach by the daemon itself, whatever the server lets through', async (t) => {
  // a cluster server laid out like the daemon's own, but whose operator let the scheduler
  // publish every command
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-principals-'));
  const gen = await startLocal(t, dir, 'gen');
  t.truthy(gen.info.url);
  const conf = readFileSync(join(dir, 'bus', 'nats-server.conf'), 'utf8');
  const loose = conf.replace(
    /(user: "ckpt-scheduler", password: "[^"]+", permissions: )\{[^\n]*\} \}/,
    '$1{ publish: ">", subscribe: ["_INBOX.>"] } }',
  );
  t.not(loose, conf, 'the scheduler line was found');
  const confFile = join(mkdtempSync(join(tmpdir(), 'ckpt-loose-')), 'nats.conf');
  writeFileSync(confFile, loose, { mode: 0o600 });
  const server = await natsServer(t, { configFile: confFile });
  const d = await startDaemon(t, {
    url: server.url,
    node: 'loose',
    args: [
      '--bus-user',
      'ckpt-daemon',
      '--bus-password-file',
      join(dir, 'bus', 'ckpt-daemon.password'),
    ],
  });
  const audit: Array<Record<string, unknown>> = [];
  const watch = await connect({
    servers: server.url,
    user: 'ckpt-daemon',
    pass: password(dir, 'ckpt-daemon'),
  });
  t.teardown(() => watch.close());
  watch.subscribe('ft.audit.cmd.loose.>', {
    callback: (_e, m) => {
      audit.push(m.json());
    },
  });
  await watch.flush();

  const admin = await createBusClient({
    url: server.url,
    auth: { user: 'ckpt-admin', password: password(dir, 'ckpt-admin') },
  });
  t.teardown(() => admin.close());
  const sched = await createBusClient({
    url: server.url,
    auth: { user: 'ckpt-scheduler', password: password(dir, 'ckpt-scheduler') },
  });
  t.teardown(() => sched.close());

  const pid = sleeper(t);
  const refused = await sched.requestRaw('loose', 'attach', { job: 's', pid });
  t.false(refused.ok);
  t.like(refused, { error: { code: 'FORBIDDEN' } });
  t.regex(
    (refused as { error: { message: string } }).error.message,
    /attach refused: the scheduler principal may send checkpoint, preempt, resume, restart, status, jobs only/,
  );
  t.true((await admin.requestRaw('loose', 'attach', { job: 'a', pid })).ok);
  const det = await sched.requestRaw('loose', 'detach', { job: 'a' });
  t.like(det, { ok: false, error: { code: 'FORBIDDEN' } });
  const jobs = await sched.requestRaw('loose', 'jobs', {});
  t.true(jobs.ok, 'the scheduler may list');
  t.deepEqual(
    (jobs as unknown as { jobs: Array<{ id: string }> }).jobs.map((j) => j.id),
    ['a'],
    'nothing changed: s never registered, a still is',
  );
  await until('audit records', () => audit.length >= 4);
  const forbidden = audit.filter(
    (a) => (a.reply as { error?: { code: string } }).error?.code === 'FORBIDDEN',
  );
  t.is(forbidden.length, 2);
  for (const a of forbidden) t.deepEqual(a.caller, { via: 'bus', principal: 'scheduler' });
  t.regex(d.stderr(), /command refused/);
});
