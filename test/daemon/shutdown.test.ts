/**
 * The daemon under service-manager-like supervision (issue 4): SIGTERM while a
 * checkpoint runs lets it finish and publishes its end; SIGKILL mid-checkpoint
 * leaves no half image in the catalog and no temp file after the next start;
 * either way the job stays restartable from a complete image.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import test, { type ExecutionContext } from 'ava';
import { inspect } from '../../src/engine/libckpt.js';
import { natsServer } from '../helpers/nats.js';
import {
  CKPT,
  collectResults,
  commands,
  type DaemonProc,
  REPO,
  sleep,
  startDaemon,
  until,
} from './fixture.js';

const MEMORY = join(REPO, 'native', 'build', 'progs', 'memory');

/** A 512 MiB job (its checkpoint takes a while) under `ckpt run`; resolves with its pid. */
async function bigJob(t: ExecutionContext, d: DaemonProc, id: string): Promise<number> {
  const out = join(d.stateDir, `${id}.out`);
  const fd = openSync(out, 'w');
  spawn(CKPT, ['run', '--job', id, '--bus', d.url, '--node', d.node, '--', MEMORY, '448'], {
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const pid = Number(
    (await until('READY', () => /READY (\d+)/.exec(readFileSync(out, 'utf8')) ?? false, 60_000))[1],
  );
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  });
  const c = await commands(t, d);
  for (let i = 0; i < 100 && !((await c.request('jobs', { job: id })).ok as boolean); i++)
    await sleep(50);
  return pid;
}

function tempFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.includes('.tmp-')) : [];
}

test.serial(
  'SIGTERM during a checkpoint: it finishes, end is published, the next daemon restarts the job',
  async (t) => {
    const server = await natsServer(t);
    const d1 = await startDaemon(t, { url: server.url, node: 'st' });
    const results = await collectResults(t, server.url, 'st');
    const pid = await bigJob(t, d1, 'big');
    const c1 = await commands(t, d1);
    const asked = c1.request('checkpoint', { job: 'big' });
    await until('begin', () => results.find('ckpt.st.big.begin')[0]);
    d1.proc.kill('SIGTERM');
    t.is(await d1.exited, 0, 'clean exit');
    await asked.catch(() => undefined);
    const end = await until('end', () => results.find('ckpt.st.big.end')[0]);
    const image = end.data.image as string;
    const info = (await inspect(image, { verify: true })) as { sections: { checksum: string }[] };
    t.true(
      info.sections.every((s) => s.checksum === 'ok'),
      'a complete, verified image',
    );
    const kv = await new Kvm(jetstream(results.nc)).open('ckpt_catalog');
    t.is(((await kv.get('st.big'))?.json() as { path: string } | undefined)?.path, image);
    const d2 = await startDaemon(t, { url: server.url, node: 'st', stateDir: d1.stateDir });
    const c2 = await commands(t, d2);
    process.kill(pid, 'SIGKILL');
    await until('gone', () => !existsSync(`/proc/${pid}`));
    const r = await c2.request('restart', { job: 'big' });
    t.true(r.ok, JSON.stringify(r));
    t.is(r.pid, pid);
    process.kill(pid, 'SIGUSR1'); // the memory program verifies its checksums and exits
    await until('restored job verified itself', () => {
      const log = join(d2.stateDir, 'big.out'); // its stdout at checkpoint time, reopened
      return (
        existsSync(log) && /PASS|FAIL/.test(readFileSync(log, 'utf8')) && readFileSync(log, 'utf8')
      );
    }).then((log) => t.regex(log as string, /PASS/));
  },
);

test.serial(
  'SIGKILL mid-checkpoint: no half image in the catalog, no temp file after restart, job restartable',
  async (t) => {
    const server = await natsServer(t);
    const d1 = await startDaemon(t, { url: server.url, node: 'sk' });
    const results = await collectResults(t, server.url, 'sk');
    const pid = await bigJob(t, d1, 'big');
    const c1 = await commands(t, d1);
    const first = await c1.request('checkpoint', { job: 'big' });
    t.true(first.ok, JSON.stringify(first));
    c1.request('checkpoint', { job: 'big', timeoutMs: 60_000 }).catch(() => undefined);
    await until('second begin', () => results.find('ckpt.sk.big.begin').length >= 2);
    await sleep(150);
    d1.proc.kill('SIGKILL');
    await d1.exited;
    // the killed daemon's checkpoint: the target must not stay frozen or traced
    await until('target released', () => {
      const st = readFileSync(`/proc/${pid}/status`, 'utf8');
      return /TracerPid:\s+0/.test(st) && !/State:\s+t/.test(st);
    });
    t.regex(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
      /SigBlk:\s+0+\n/,
      'no signal left blocked',
    );
    const kv = await new Kvm(jetstream(results.nc)).open('ckpt_catalog');
    const rec = (await kv.get('sk.big'))?.json() as { path: string } | undefined;
    t.is(rec?.path, first.image as string, 'the catalog still names the first, complete image');
    const dir = join(d1.stateDir, 'images', 'big');
    const d2 = await startDaemon(t, { url: server.url, node: 'sk', stateDir: d1.stateDir });
    t.deepEqual(tempFiles(dir), [], 'the half-written temp file is gone');
    const c2 = await commands(t, d2);
    process.kill(pid, 'SIGKILL');
    await until('gone', () => !existsSync(`/proc/${pid}`));
    const r = await c2.request('restart', { job: 'big' });
    t.true(r.ok, JSON.stringify(r));
    t.is(r.image, first.image);
  },
);
