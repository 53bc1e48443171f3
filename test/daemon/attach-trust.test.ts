/**
 * Issue 12, item 2 (the bus side of attach): the owner of a job is what the kernel says
 * (/proc), never what the request declares; init, the daemon and its nats-server are never
 * jobs. Each refusal is a FORBIDDEN reply naming what was refused, changes nothing, and
 * leaves an audit record (the daemon's log line and an event on the audit subject).
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import test from 'ava';
import { natsServer } from '../helpers/nats.js';
import { commands, startDaemon, until } from './fixture.js';

test('attach: forged owners, init and the daemon itself are FORBIDDEN and audited', async (t) => {
  const server = await natsServer(t);
  const d = await startDaemon(t, { url: server.url, node: 'trust' });
  const audit: Array<{ subject: string; data: Record<string, unknown> }> = [];
  const nc = await connect({ servers: server.url });
  t.teardown(() => nc.close());
  nc.subscribe('ft.audit.cmd.trust.>', {
    callback: (_e, m) => {
      audit.push({ subject: m.subject, data: m.json() });
    },
  });
  await nc.flush();
  const { request } = await commands(t, d);

  // a process of another user (nobody), declared as root's
  const victim = spawn(
    'setpriv',
    ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', 'sleep', '60'],
    {
      stdio: 'ignore',
    },
  );
  t.teardown(() => victim.kill('SIGKILL'));
  const pid = victim.pid as number;
  await until('setpriv to exec sleep', () => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep';
    } catch {
      return false;
    }
  });

  const refusals: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'init',
      { job: 'init', pid: 1 },
      /attach init \(pid 1\) refused: pid 1 \(init\) is never a job/,
    ],
    ['self', { job: 'self', pid: d.proc.pid }, /refused: it is this daemon/],
    [
      'forged',
      { job: 'forged', pid, owner: { uid: 0, gid: 0 } },
      /declares owner uid 0 gid 0, but the process belongs to uid 65534 gid 65534/,
    ],
  ];
  for (const [name, body, says] of refusals) {
    const r = await request('attach', body);
    t.false(r.ok, name);
    const err = r.error as { code: string; message: string };
    t.is(err.code, 'FORBIDDEN', name);
    t.regex(err.message, says, name);
  }
  const jobs = await request('jobs', {});
  t.deepEqual(jobs.jobs, [], 'nothing was registered');

  // the same process without a forged owner: its owner comes from /proc
  const ok = await request('attach', { job: 'honest', pid });
  t.true(ok.ok, JSON.stringify(ok));
  t.deepEqual((ok.job as { owner: unknown }).owner, {
    uid: 65534,
    gid: 65534,
    groups: [],
    user: 'nobody',
  });

  await until('audit records of the refusals', () => audit.length >= 5);
  for (const [name] of refusals) {
    const rec = audit.find(
      (a) =>
        (a.data.request as { job?: string }).job === name &&
        a.subject === 'ft.audit.cmd.trust.attach',
    );
    t.truthy(rec, `audit record for ${name}`);
    t.is(
      (rec?.data.reply as { error?: { code: string } } | undefined)?.error?.code,
      'FORBIDDEN',
      name,
    );
  }
  await until(
    'log lines of the refusals',
    () => (d.stderr().match(/FORBIDDEN/g) ?? []).length >= 3,
  );
});

const procStatus = (pid: number, field: string) =>
  new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];

test('a job whose process later runs a set-id program (exec su) is never checkpointed', async (t) => {
  const server = await natsServer(t);
  const d = await startDaemon(t, { url: server.url, node: 'setid' });
  const { request } = await commands(t, d);
  // nobody's shell, attached while it is plain nobody; it then execs su (setuid root),
  // which waits for a password on a FIFO the process holds both ends of (nothing outside)
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-setid-'));
  chmodSync(dir, 0o755);
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', ['-m', '0666', fifo]);
  const p = spawn(
    'setpriv',
    [
      '--reuid',
      'nobody',
      '--regid',
      'nogroup',
      '--clear-groups',
      'sh',
      '-c',
      `read x <>${fifo}; exec su -c true root <>${fifo}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  t.teardown(() => p.kill('SIGKILL'));
  let said = '';
  p.stderr?.on('data', (x) => {
    said += x;
  });
  p.on('exit', (code) => t.log(`the shell ended (${code}): ${said}`));
  const pid = p.pid as number;
  await until('setpriv to exec sh', () => procStatus(pid, 'Uid')?.startsWith('65534'));
  const a = await request('attach', { job: 'later', pid });
  t.true(a.ok, JSON.stringify(a));
  // let the shell go on to exec su
  execFileSync('sh', ['-c', `echo go >${fifo}`]);
  await until(
    'su to run set-uid root',
    () => procStatus(pid, 'Name') === 'su' && procStatus(pid, 'Uid')?.split(/\s+/)[1] === '0',
  );
  const r = await request('checkpoint', { job: 'later', timeoutMs: 20_000 });
  t.false(r.ok, JSON.stringify(r));
  const err = r.error as { code: string; message: string };
  t.is(err.code, 'FORBIDDEN', err.message);
  t.regex(err.message, /checkpoint of job later refused: pid \d+ .*uid 65534\/0\/0\/0/);
  const images = join(d.stateDir, 'images', 'later');
  t.true(!existsSync(images) || readdirSync(images).length === 0, 'no image was written');
  t.is(procStatus(pid, 'Name'), 'su', 'the process was left alone');
});

test('a process holding capabilities is not attached as a job of a normal user', async (t) => {
  const server = await natsServer(t);
  const d = await startDaemon(t, { url: server.url, node: 'capjob' });
  const { request } = await commands(t, d);
  // nobody's sleep with CAP_NET_RAW as an ambient capability (as a service unit's
  // AmbientCapabilities= gives): nobody could not ptrace it, nor may the daemon take it
  const p = spawn(
    'setpriv',
    [
      '--reuid',
      'nobody',
      '--regid',
      'nogroup',
      '--clear-groups',
      '--inh-caps',
      '+net_raw',
      '--ambient-caps',
      '+net_raw',
      'sleep',
      '60',
    ],
    { stdio: 'ignore' },
  );
  t.teardown(() => p.kill('SIGKILL'));
  const pid = p.pid as number;
  await until('setpriv to exec sleep', () => procStatus(pid, 'Name') === 'sleep');
  t.not(procStatus(pid, 'CapPrm'), '0000000000000000', 'the sleeper holds a capability');
  const r = await request('attach', { job: 'capable', pid });
  t.false(r.ok, JSON.stringify(r));
  const err = r.error as { code: string; message: string };
  t.is(err.code, 'FORBIDDEN', err.message);
  t.regex(err.message, /attach capable \(pid \d+\) refused: .*capabilities/);
  t.deepEqual((await request('jobs', {})).jobs, [], 'nothing was registered');
});
