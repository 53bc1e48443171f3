/**
 * Issue 12 item 5: the target survives the checkpointer's death at any
 * instant. A 128 MiB target (test/native/progs/memory: 64 MiB heap + 64 MiB
 * mapping, checksummed) is checkpointed by the real CLI (bin/ckpt checkpoint),
 * which is SIGKILLed over and over: half the kills land 0-10 ms after the
 * freeze begins (the target's TracerPid is polled to see it), half at a random
 * instant of a whole checkpoint's duration. After each kill the target is
 * alive, untraced, with its sigmask and mappings as before, the image of the
 * last complete checkpoint still verifies, and at most the killed run's own
 * temp file is there. A complete checkpoint at the end leaves no temp file;
 * then the target verifies its memory checksums itself (PASS).
 *
 * KILLSTORM_KILLS sets the number of kills (60 by default; 200 by hand).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { inspect } from '../../src/engine/libckpt.js';
import { runCli } from '../cli/run-cli.js';
import { launcher, PROGS, REPO, sleep } from './harness.js';

const CKPT = join(REPO, 'bin', 'ckpt');
const KILLS = Number(process.env.KILLSTORM_KILLS ?? 60);
const scratch = mkdtempSync(join(tmpdir(), 'ckpt-killstorm-'));
// its images go when the file's tests are done
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

function status(pid: number): Record<string, string> | undefined {
  try {
    const out: Record<string, string> = {};
    for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
    }
    return out;
  } catch {
    return undefined;
  }
}

const mappings = (pid: number) => readFileSync(`/proc/${pid}/maps`, 'utf8').trim().split('\n');
const temps = () =>
  readdirSync(scratch).filter((f) => /^\.storm\.img\.tmp-[A-Za-z0-9]{6}$/.test(f));

function busyWait(ms: number) {
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  while (process.hrtime.bigint() < end) {}
}

/** Poll (busy) until the target is traced: the checkpointer's freeze began. */
function waitTraced(pid: number, ms: number): boolean {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const s = status(pid);
    if (s && s.TracerPid !== '0') return true;
  }
  return false;
}

test.serial(`kill storm: ${KILLS} SIGKILLs of the checkpointer, the target lives on`, async (t) => {
  t.timeout(20 * 60_000);
  const { pid, out } = await launcher(scratch)(t, 'storm', [join(PROGS, 'memory'), '64']);
  const image = join(scratch, 'storm.img');
  const blocked = status(pid)?.SigBlk;
  const maps = mappings(pid);

  const t0 = Date.now();
  const first = await runCli('ckpt', ['checkpoint', '-f', image, String(pid)]);
  t.is(first.code, 0, first.stderr);
  const whole = Date.now() - t0; // launcher start to end of a complete checkpoint
  const good = (await inspect(image, { verify: true })) as { crc32c?: unknown };
  t.truthy(good, 'the first image verifies');

  let afterFreeze = 0;
  let completed = 0;
  for (let k = 0; k < KILLS; k++) {
    const early = k % 2 === 0;
    const child = spawn(process.execPath, [CKPT, 'checkpoint', '-f', image, String(pid)], {
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    let frozen = false;
    if (early) {
      frozen = waitTraced(pid, 30_000);
      t.true(frozen, `kill ${k}: the checkpointer never froze the target`);
      busyWait(Math.random() * 10);
    } else {
      await sleep(Math.random() * whole * 1.2);
      frozen = status(pid)?.TracerPid !== '0';
    }
    child.kill('SIGKILL');
    const code = await exited;
    if (code === 0) completed++;
    if (frozen) afterFreeze++;
    // the kernel detaches the target when its tracer dies
    let s = status(pid);
    for (let i = 0; i < 200 && s && s.TracerPid !== '0'; i++) {
      await sleep(5);
      s = status(pid);
    }
    t.truthy(s, `kill ${k}: the target is gone`);
    if (!s) break;
    t.is(s.TracerPid, '0', `kill ${k}: still traced`);
    t.regex(s.State ?? '', /^[SR]/, `kill ${k}: target state ${s.State}`);
    // a thread parked on its healing frame gets its own mask back by its
    // rt_sigreturn, which runs when it is next scheduled: on a loaded
    // machine that can be a while after the tracer is gone
    for (let i = 0; i < 400 && s && s.SigBlk !== blocked; i++) {
      await sleep(5);
      s = status(pid);
    }
    t.truthy(s, `kill ${k}: the target is gone`);
    if (!s) break;
    t.is(s.SigBlk, blocked, `kill ${k}: sigmask changed`);
    t.deepEqual(mappings(pid), maps, `kill ${k}: mappings changed`);
    const v = await inspect(image, { verify: true }).catch((e: Error) => e);
    t.false(v instanceof Error, `kill ${k}: the previous image no longer verifies: ${v}`);
    const left = temps();
    t.true(
      left.length <= (frozen ? 1 : 2),
      `kill ${k}: temp files ${left.join(' ')} (the next checkpoint must remove a killed one)`,
    );
  }
  const last = await runCli('ckpt', ['checkpoint', '-f', image, String(pid)]);
  t.is(last.code, 0, last.stderr);
  t.deepEqual(temps(), [], 'a complete checkpoint leaves no temp file');
  await inspect(image, { verify: true });
  process.kill(pid, 'SIGUSR1');
  for (let i = 0; i < 500 && existsSync(`/proc/${pid}`); i++) await sleep(20);
  const said = readFileSync(out, 'utf8');
  t.regex(said, /^PASS$/m, said);
  t.log(
    `${KILLS} kills (${afterFreeze} after the freeze began, ${completed} checkpoints completed ` +
      `before the kill); a complete checkpoint took ${whole} ms from the launcher's start`,
  );
});
