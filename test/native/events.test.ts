/**
 * Event-loop descriptors (issue 10, event kinds): each zdtm-shaped program is
 * started detached, checkpointed with after=kill and restarted (same PID)
 * twice in a row, then told to go on (SIGUSR1); its output must be the one
 * of an uninterrupted run of the same program. The refusals leave the target
 * running and name the descriptor.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { AFTER, checkpoint, inspect, restart, wait } from '../../src/engine/libckpt.js';
import { gone, launcher, PROGS, SRC, sleep, until, within } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-events-'));
const launch = launcher(scratch);

/** The output without the READY line (the pid differs between runs). */
const body = (out: string) => readFileSync(out, 'utf8').replace(/^READY \d+\n/m, '');

async function uninterrupted(t: ExecutionContext, name: string, argv: string[]) {
  const target = await launch(t, `${name}-plain`, argv);
  await sleep(300);
  process.kill(target.pid, 'SIGUSR1');
  await until(`${name} (uninterrupted) exits`, () => gone(target.pid));
  return body(target.out);
}

/** Checkpoint --kill and restart twice, then SIGUSR1: exit 0 and the output. */
async function twice(t: ExecutionContext, name: string, argv: string[]) {
  const target = await launch(t, name, argv);
  await sleep(300);
  let waiter = 0;
  for (let cycle = 1; cycle <= 2; cycle++) {
    const image = join(scratch, `${name}-${cycle}.img`);
    await checkpoint(target.pid, image, { after: AFTER.kill });
    if (waiter) t.is(await within(wait(waiter), 30_000, 'previous restorer exit'), 137);
    await until('killed and reaped', () => gone(target.pid));
    const rr = await restart(image);
    t.is(rr.pid, target.pid, 'same pid');
    waiter = rr.waiterPid;
    await sleep(100);
  }
  process.kill(target.pid, 'SIGUSR1');
  const code = await within(wait(waiter), 30_000, `exit of the restored ${name}`);
  const out = body(target.out);
  t.is(code, 0, out);
  return out;
}

async function same(t: ExecutionContext, name: string, argv: string[]) {
  const plain = await uninterrupted(t, name, argv);
  t.regex(plain, /^PASS$/m, plain);
  const restored = await twice(t, name, argv);
  t.is(restored, plain);
}

for (const kind of ['', '-static']) {
  test.serial(`epoll over eventfd, timerfd, signalfd, a pipe and an epoll${kind}`, async (t) => {
    await same(t, `events${kind}`, [join(PROGS, `events${kind}`)]);
    const info = JSON.stringify(await inspect(join(scratch, `events${kind}-2.img`)));
    for (const k of ['eventfd', 'epoll', 'timerfd', 'signalfd', 'pipe'])
      t.true(info.includes(`"kind":"${k}"`), `${k} in the image`);
  });
}

test.serial(
  'inotify: watches keep their wds and fire for a file written after restart',
  async (t) => {
    const plain = await uninterrupted(t, 'inotify', [join(PROGS, 'inotify'), join(scratch, 'in1')]);
    t.regex(plain, /event: wd 1 mask 0x100 name "after-restart.txt"/);
    t.regex(plain, /event: wd 3 mask 0x2 name ""/);
    const restored = await twice(t, 'inotify-r', [join(PROGS, 'inotify'), join(scratch, 'in2')]);
    t.is(restored, plain.replaceAll('in1', 'in2'));
  },
);

// asyncio's loop holds a socketpair (its self-wakeup channel) besides its
// epoll: the AF_UNIX kind (fd_unix.c) brings it back with what is queued.
test.serial('a python3 asyncio program with timers', async (t) => {
  await same(t, 'asyncio', ['python3', join(SRC, 'asyncio_timers.py')]);
});

test.serial('refused, target untouched: an inotify event queued and not read', async (t) => {
  const target = await launch(t, 'refuse-inotify', [
    join(PROGS, 'eventrefuse'),
    'inotify',
    join(scratch, 'rq'),
  ]);
  const err = await t.throwsAsync(
    checkpoint(target.pid, join(scratch, 'rq.img'), { after: AFTER.kill }),
  );
  t.regex(
    err?.message ?? '',
    new RegExp(
      `pid ${target.pid} fd 3 \\(anon_inode:inotify\\): inotify has 32 bytes of events queued`,
    ),
  );
  t.false(gone(target.pid), 'still running after --kill was refused');
  process.kill(target.pid, 'SIGUSR1');
  await until('exit', () => gone(target.pid));
  t.regex(readFileSync(target.out, 'utf8'), /^PASS$/m);
});

test.serial('refused, target untouched: an epoll entry whose fd number was reused', async (t) => {
  const target = await launch(t, 'refuse-epoll', [join(PROGS, 'eventrefuse'), 'epoll']);
  const err = await t.throwsAsync(
    checkpoint(target.pid, join(scratch, 're.img'), { after: AFTER.kill }),
  );
  t.regex(
    err?.message ?? '',
    new RegExp(
      `pid ${target.pid} fd 3 \\(anon_inode:\\[eventpoll\\]\\): epoll watches a file added as fd 4 .*fd 4 is now pipe:\\[\\d+\\], another file`,
    ),
  );
  t.false(gone(target.pid), 'still running after --kill was refused');
  process.kill(target.pid, 'SIGUSR1');
  await until('exit', () => gone(target.pid));
  t.regex(readFileSync(target.out, 'utf8'), /^PASS$/m);
});
