/**
 * The daemon's log reader goes away (`ckpt daemon 2>&1 | head`, a log
 * collector that died): found by the red team (session 9) hanging for good.
 * Every log line was retried on the broken pipe, and SIGTERM never ended it:
 * the daemon and its nats-server stayed until SIGKILL.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CKPT, sleep } from './fixture.js';

test('SIGTERM stops a daemon whose log reader is gone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-logpipe-'));
  const d = spawn(CKPT, ['daemon', '--state-dir', dir, '--metrics-port', '-1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  const pid = d.pid as number;
  t.teardown(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  });
  const exited = new Promise<number | null>((resolve) => d.on('exit', (code) => resolve(code)));
  // two log lines (as `| head -2` takes them), then the reader goes
  let text = '';
  await new Promise<void>((resolve) =>
    d.stderr?.on('data', (b: Buffer) => {
      text += b.toString();
      if (text.split('\n').length > 2) resolve();
    }),
  );
  d.stderr?.destroy();
  await sleep(3000);
  process.kill(pid, 'SIGTERM');
  const code = await Promise.race([exited, sleep(15_000).then(() => 'hung' as const)]);
  t.not(code, 'hung', 'the daemon still runs 15 s after SIGTERM');
});
