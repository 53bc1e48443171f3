/**
 * The scheduler glue in contrib/ and the systemd unit, run for real: bad
 * arguments, the never-fail rule of Slurm prolog/epilog, ckpt-preempt sending
 * the preempt command to a NATS responder, and `systemd-analyze verify`.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import test from 'ava';
import { natsServer } from '../helpers/nats.js';
import { REPO } from './run-cli.js';

function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const torque = (name: string) => join(REPO, 'contrib', 'torque', name);
const slurm = (name: string) => join(REPO, 'contrib', 'slurm', name);

test('torque scripts: usage errors and a session that does not exist', async (t) => {
  const few = await run(torque('checkpoint_script'), ['1', 'job']);
  t.is(few.code, 2);
  t.regex(few.stderr, /^usage: .*checkpoint_script session_id job_id/m);
  const bad = await run(torque('checkpoint_script'), [
    'x',
    '1.srv',
    'u',
    'g',
    tmpdir(),
    'ck',
    '0',
    '1',
  ]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /session id 'x' is not a PID/);
  const gone = await run(torque('checkpoint_script'), [
    '4194000',
    '1.srv',
    'root',
    'root',
    tmpdir(),
    'ck',
    '0',
    '1',
  ]);
  t.is(gone.code, 1);
  t.regex(gone.stderr, /cr_checkpoint: no such process: 4194000/);
  t.regex(gone.stderr, /checkpoint of session 4194000 failed \(exit 1\); the job is untouched/);
  const noImage = await run(torque('restart_script'), [
    '1',
    '1.srv',
    'root',
    'root',
    tmpdir(),
    'missing.ck',
  ]);
  t.is(noImage.code, 1);
  t.regex(noImage.stderr, /no image .*missing\.ck/);
});

test('slurm prolog and epilog never fail', async (t) => {
  t.is((await run(slurm('prolog'), [], { SLURM_JOB_ID: '' })).code, 0);
  t.is((await run(slurm('epilog'), [], { SLURM_JOB_ID: 'junk' })).code, 0);
  const runDir = join(tmpdir(), `ckpt-run-${process.pid}`);
  const env = {
    SLURM_JOB_ID: '991',
    CKPT_RUN_DIR: runDir,
    CKPT_CGROUP_ROOT: join(tmpdir(), 'no-cgroups-here'),
    CKPT_REGISTER_TIMEOUT: '30',
  };
  t.is((await run(slurm('prolog'), [], env)).code, 0);
  const helper = Number(readFileSync(join(runDir, 'slurm', 'register-991.pid'), 'utf8'));
  t.notThrows(
    () => process.kill(helper, 0),
    'the registration helper is waiting for the batch step',
  );
  t.is((await run(slurm('epilog'), [], env)).code, 0);
  // bash acts on the TERM once its `sleep 1` returns; a zombie counts as gone
  const alive = () => {
    try {
      return !/^State:\s+Z/m.test(readFileSync(`/proc/${helper}/status`, 'utf8'));
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
  t.false(alive(), 'the epilog stopped it');
});

test('ckpt-preempt sends the preempt command for slurm-<jobid> to this node', async (t) => {
  const nats = await natsServer(t);
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const sub = nc.subscribe('ft.cmd.nodeA.preempt', { max: 1 });
  const got = (async () => {
    for await (const m of sub) {
      m.respond(JSON.stringify({ ok: true, id: 'c1', image: '/ckpt/slurm-77/3.ckpt' }));
      return m.json();
    }
    return undefined;
  })();
  await nc.flush();
  const r = await run(slurm('ckpt-preempt'), [], {
    SLURM_JOB_ID: '77',
    CKPT_NODE: 'nodeA',
    CKPT_BUS_URL: nats.url,
  });
  t.is(r.code, 0, r.stderr);
  t.deepEqual(await got, { after: 'kill', job: 'slurm-77' });
  t.regex(r.stdout, /image: \/ckpt\/slurm-77\/3\.ckpt/);
  const outside = await run(slurm('ckpt-preempt'), [], { SLURM_JOB_ID: '' });
  t.not(outside.code, 0);
  t.regex(outside.stderr, /runs inside a Slurm job/);
});

test('the systemd unit verifies and keeps what ptrace and restore need', async (t) => {
  const unit = readFileSync(join(REPO, 'config', 'systemd', 'ckpt.service'), 'utf8');
  for (const cap of [
    'CAP_SYS_PTRACE',
    'CAP_CHECKPOINT_RESTORE',
    'CAP_SYS_ADMIN',
    'CAP_SETUID',
    'CAP_KILL',
  ]) {
    t.regex(unit, new RegExp(`^CapabilityBoundingSet=.*\\b${cap}\\b`, 'm'), cap);
  }
  t.regex(unit, /^KillMode=process$/m, 'stopping the daemon must not kill restored jobs');
  for (const inherited of [
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    'ProtectSystem=',
    'MemoryDenyWriteExecute=yes',
    'SystemCallFilter=',
  ]) {
    t.false(new RegExp(`^${inherited}`, 'm').test(unit), `${inherited} would be inherited by jobs`);
  }
  const copy = join(tmpdir(), `ckpt-${process.pid}.service`);
  writeFileSync(copy, unit.replace('/opt/ckpt/bin/ckpt', join(REPO, 'bin', 'ckpt')));
  const r = await run('systemd-analyze', ['verify', copy]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr.trim(), '');
});
