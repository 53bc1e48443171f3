/**
 * Issue 10, FIFOs / memfd / SysV shm / file locks / unlinked files: real
 * targets (test/native/progs) checkpointed with after=kill, restarted with
 * the same PID, checking themselves (PASS). Refusals are checked too: the
 * restart that cannot take a lock back says which file, range and holder.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { AFTER, checkpoint, restart } from '../../src/engine/libckpt.js';
import { gone, launcher, PROGS, passes, type Target, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-objects-'));
const launch = launcher(scratch);

async function killCheckpoint(t: ExecutionContext, target: Target, image: string) {
  const r = await checkpoint(target.pid, image, { after: AFTER.kill });
  t.true(r.bytes > 0, JSON.stringify(r));
  await until('killed and reaped', () => gone(target.pid));
}

/** Restart, run `between`, SIGUSR1, expect PASS and exit 0. */
async function restartAndPass(
  t: ExecutionContext,
  target: Target,
  image: string,
  between?: () => Promise<void> | void,
) {
  const rr = await restart(image);
  t.is(rr.pid, target.pid, 'same pid');
  await between?.();
  await passes(t, rr, target.out);
}

test.serial('named FIFOs: a reader restarted mid-stream reads to the end', async (t) => {
  const outside = join(scratch, 'outside.fifo');
  const inside = join(scratch, 'inside.fifo');
  spawnSync('mkfifo', [outside, inside]);
  // the writer outside the job: this process, holding the FIFO open
  const w = openSync(outside, 'r+');
  let all = '';
  for (let i = 0; i < 1000; i++) all += `${String(i).padStart(5, '0')}\n`;
  writeSync(w, all);
  const target = await launch(t, 'fifo', [join(PROGS, 'fifo'), outside, inside]);
  const image = join(scratch, 'fifo.img');
  await killCheckpoint(t, target, image);
  await restartAndPass(t, target, image, () => closeSync(w));
});

for (const variant of ['memfd', 'memfd-static']) {
  test.serial(`memfd (${variant}): content, seals, offset, shared and mapping-only`, async (t) => {
    const target = await launch(t, variant, [join(PROGS, variant)]);
    const image = join(scratch, `${variant}.img`);
    await killCheckpoint(t, target, image);
    await restartAndPass(t, target, image);
  });
}

function shmCleanup(id: number) {
  spawnSync('ipcrm', ['-m', String(id)]);
}

test.serial('SysV shm: attached again to the live segment, seen by another process', async (t) => {
  const key = `0x${(0x6b000000 + (process.pid & 0xffff)).toString(16)}`;
  const target = await launch(t, 'shm', [join(PROGS, 'shm'), 'target', key]);
  const id = Number(/SHMID (\d+)/.exec(readFileSync(target.out, 'utf8'))?.[1]);
  t.teardown(() => shmCleanup(id));
  const image = join(scratch, 'shm.img');
  await killCheckpoint(t, target, image);
  await restartAndPass(t, target, image, () => {
    const peer = spawnSync(join(PROGS, 'shm'), ['peer', String(id)]);
    t.is(peer.status, 0, `peer: ${peer.stderr}`);
  });
  const check = spawnSync(join(PROGS, 'shm'), ['check', String(id)]);
  t.is(check.status, 0, 'the restored process writes into the same segment');
});

test.serial('SysV shm: a removed segment is made again with its content and id', async (t) => {
  const key = `0x${(0x6c000000 + (process.pid & 0xffff)).toString(16)}`;
  const target = await launch(t, 'shm2', [join(PROGS, 'shm'), 'target', key]);
  const id = Number(/SHMID (\d+)/.exec(readFileSync(target.out, 'utf8'))?.[1]);
  const image = join(scratch, 'shm2.img');
  await killCheckpoint(t, target, image);
  shmCleanup(id);
  t.teardown(() => spawnSync('ipcrm', ['-M', key]));
  await restartAndPass(t, target, image, () => {
    const peer = spawnSync(join(PROGS, 'shm'), ['peer', String(id)]);
    t.is(peer.status, 0, `peer attaching id ${id}: ${peer.stderr}`);
  });
});

function lockFiles(tag: string): string[] {
  return ['a', 'b', 'c'].map((n) => {
    const p = join(scratch, `${tag}-${n}.lock`);
    writeFileSync(p, 'x'.repeat(200));
    return p;
  });
}

test.serial('flock, POSIX and OFD locks are held and exclude others after restart', async (t) => {
  const files = lockFiles('held');
  const target = await launch(t, 'locks', [join(PROGS, 'locks'), 'target', ...files]);
  const before = spawnSync(join(PROGS, 'locks'), ['probe', ...files], { encoding: 'utf8' });
  t.regex(before.stdout, /^EXCLUDED holder \d+/m, 'locks held before the checkpoint');
  const image = join(scratch, 'locks.img');
  await killCheckpoint(t, target, image);
  const free = spawnSync(join(PROGS, 'locks'), ['probe', ...files], { encoding: 'utf8' });
  t.regex(free.stdout, /^FREE flock=1 posix=1 ofd=1/m, 'the original is gone with its locks');
  await restartAndPass(t, target, image, () => {
    const after = spawnSync(join(PROGS, 'locks'), ['probe', ...files], { encoding: 'utf8' });
    t.is(after.stdout.trim(), `EXCLUDED holder ${target.pid}`, after.stdout);
  });
});

test.serial('a lock taken by another process meanwhile refuses the restart', async (t) => {
  const files = lockFiles('taken');
  const target = await launch(t, 'locks2', [join(PROGS, 'locks'), 'target', ...files]);
  const image = join(scratch, 'locks2.img');
  await killCheckpoint(t, target, image);
  const first = files[0] ?? '';
  const holder = await launch(t, 'holder', [join(PROGS, 'locks'), 'hold', first]);
  const err = await t.throwsAsync(restart(image));
  t.regex(
    err?.message ?? '',
    new RegExp(`${first}.*flock write lock \\(whole file\\).*held now by pid ${holder.pid}`),
  );
  t.true(gone(target.pid), 'nothing left running');
});

test.serial('a file unlinked while open reads back after restart and stays unlinked', async (t) => {
  const path = join(scratch, 'unlinked.data');
  const target = await launch(t, 'unlinked', [join(PROGS, 'unlinked'), path]);
  const image = join(scratch, 'unlinked.img');
  await killCheckpoint(t, target, image);
  await restartAndPass(t, target, image);
});

// Every descriptor kind this machine can make is either restored as the same
// kind or refused at checkpoint naming the fd (and the target left running);
// never replaced. Written to stay true as kinds are added.
const KINDS = [
  'eventfd',
  'epoll',
  'timerfd',
  'signalfd',
  'inotify',
  'fanotify',
  'pidfd',
  'userfaultfd',
  'io_uring',
  'perf_event',
  'memfd',
  'fifo',
  'pipe',
  'devnull',
  'directory',
  'tty',
  'blockdev',
  'unix-pair',
  'tcp-listen',
  'udp',
  'udp6',
  'netlink',
  'packet',
];
for (const kind of KINDS) {
  test.serial(`fd kind ${kind}: restored as itself or refused by name`, async (t) => {
    const fifo = join(scratch, `kinds-${kind}.fifo`);
    spawnSync('mkfifo', [fifo]);
    const target = await launch(t, `kinds-${kind}`, [join(PROGS, 'fdkinds'), kind, fifo]);
    const text = readFileSync(target.out, 'utf8');
    if (/^skipped: /m.test(text)) {
      t.log(text.trim());
      t.pass();
      return;
    }
    const fd = Number(/^FD (\d+) /m.exec(text)?.[1]);
    const image = join(scratch, `kinds-${kind}.img`);
    let refused: Error | undefined;
    try {
      await checkpoint(target.pid, image, { after: AFTER.kill });
    } catch (err) {
      refused = err as Error;
    }
    if (refused) {
      t.regex(refused.message, new RegExp(`fd ${fd}\\b`), 'the refusal names the descriptor');
      t.false(gone(target.pid), 'a refused checkpoint leaves the target running');
      t.log(`refused: ${refused.message}`);
      return;
    }
    await until('killed and reaped', () => gone(target.pid));
    await restartAndPass(t, target, image);
  });
}
