/**
 * rt10 red team: self-healing must leave a thread's neighbours' memory as it
 * was when the checkpointer dies. test/native/progs/rt10coro runs on a
 * coroutine stack carved out of a larger mapping (ucontext; green threads,
 * goroutine-style runtimes do the same) with its sp 10 KiB above that
 * stack's base and live data (a canary) below it. The checkpointer
 * (bin/ckpt checkpoint) is SIGKILLed 0-20 ms after it froze the target, 30
 * times; the target then checks its canary (PASS: unchanged).
 *
 * With b110131's batch table (4 KiB more under the injection frame, within
 * the mapping that holds sp, not within the thread's stack) about half the
 * kills left 1152 bytes under the coroutine stack changed; the checkpointer
 * before it (39ce531: frame and result area only) left none in 30 kills.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { launcher, PROGS, REPO, sleep } from './harness.js';

const CKPT = join(REPO, 'bin', 'ckpt');
const KILLS = Number(process.env.RT10_KILLS ?? 30);
const scratch = mkdtempSync(join(tmpdir(), 'ckpt-rt10coro-'));
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

const tracer = (pid: number) =>
  /^TracerPid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];

test.serial('checkpointer killed: the memory under a coroutine stack is as it was', async (t) => {
  t.timeout(10 * 60_000);
  const { pid, out } = await launcher(scratch)(t, 'coro', [join(PROGS, 'rt10coro'), '10240'], {
    closeFds: true,
  });
  const image = join(scratch, 'coro.img');
  for (let k = 0; k < KILLS; k++) {
    const child = spawn(process.execPath, [CKPT, 'checkpoint', '-f', image, String(pid)], {
      stdio: 'ignore',
    });
    const exited = new Promise((r) => child.on('exit', r));
    const end = Date.now() + 30_000;
    while (Date.now() < end && tracer(pid) === '0') {}
    const until = Date.now() + Math.random() * 20;
    while (Date.now() < until) {}
    child.kill('SIGKILL');
    await exited;
    for (let i = 0; i < 200 && tracer(pid) !== '0'; i++) await sleep(5);
  }
  await sleep(200);
  process.kill(pid, 'SIGUSR1');
  for (let i = 0; i < 500 && existsSync(`/proc/${pid}`); i++) await sleep(20);
  const said = readFileSync(out, 'utf8');
  t.regex(said, /^PASS$/m, said);
});
