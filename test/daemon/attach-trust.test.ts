/**
 * Issue 12, item 2 (the bus side of attach): the owner of a job is what the kernel says
 * (/proc), never what the request declares; init, the daemon and its nats-server are never
 * jobs. Each refusal is a FORBIDDEN reply naming what was refused, changes nothing, and
 * leaves an audit record (the daemon's log line and an event on the audit subject).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
  t.deepEqual((ok.job as { owner: unknown }).owner, { uid: 65534, gid: 65534, groups: [] });

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
