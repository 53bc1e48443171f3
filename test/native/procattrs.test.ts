/**
 * Process attributes beyond memory and descriptors (native/src/proc_attrs.c):
 * POSIX timers (ids with a gap, periodic, aimed at a thread, SIGEV_NONE),
 * nice, policy, I/O priority, timer slack, parent-death signal, child
 * subreaper, oom_score_adj come back; the target checks them itself after
 * the restart (PASS). A seccomp filter of its own and per-thread scheduling
 * are refused naming the process and thread, and the target runs on.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AFTER, checkpoint, RS_NO_RESTORE_PID, restart } from '../../src/engine/libckpt.js';
import { gone, launcher, PROGS, passes, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-procattrs-'));
const launch = launcher(scratch);

for (const variant of ['procattrs', 'procattrs-static']) {
  test.serial(`${variant}: timers and scheduling come back (same pid)`, async (t) => {
    const target = await launch(t, variant, [join(PROGS, variant)]);
    const image = join(scratch, `${variant}.ckpt`);
    await checkpoint(target.pid, image, { after: AFTER.kill });
    await until('killed', () => gone(target.pid));
    const rr = await restart(image);
    t.is(rr.pid, target.pid);
    const timers = readFileSync(`/proc/${rr.pid}/timers`, 'utf8');
    t.deepEqual(
      [...timers.matchAll(/^ID: (\d+)$/gm)].map((m) => Number(m[1])).sort(),
      [0, 1, 3],
      timers,
    );
    await passes(t, rr, target.out);
  });
}

test.serial('fresh pids: a timer aimed at a thread follows the new tid', async (t) => {
  const target = await launch(t, 'fresh', [join(PROGS, 'procattrs')]);
  const image = join(scratch, 'fresh.ckpt');
  await checkpoint(target.pid, image, { after: AFTER.kill });
  await until('killed', () => gone(target.pid));
  const rr = await restart(image, { flags: RS_NO_RESTORE_PID });
  t.teardown(() => {
    try {
      process.kill(rr.pid, 'SIGKILL');
    } catch {}
  });
  t.not(rr.pid, target.pid);
  const timers = readFileSync(`/proc/${rr.pid}/timers`, 'utf8');
  const tid = /notify: signal\/tid\.(\d+)/.exec(timers)?.[1];
  const tids = readdirSync(`/proc/${rr.pid}/task`);
  t.true(tid !== undefined && tids.includes(tid) && tid !== String(rr.pid), `${timers} ${tids}`);
  await passes(t, rr, target.out);
});

test.serial('a seccomp filter of its own is refused, the process runs on', async (t) => {
  const target = await launch(t, 'seccomp', [join(PROGS, 'procattrs'), 'seccomp']);
  const image = join(scratch, 'seccomp.ckpt');
  const err = await t.throwsAsync(checkpoint(target.pid, image, { after: AFTER.kill }));
  t.regex(err.message, new RegExp(`pid ${target.pid} thread \\d+: 1 seccomp filter`));
  t.false(existsSync(image));
  t.false(gone(target.pid));
  process.kill(target.pid, 'SIGUSR1');
  await until('PASS of the untouched process', () =>
    /^PASS$/m.test(readFileSync(target.out, 'utf8')),
  );
});

test.serial('a thread with its own nice is refused naming it', async (t) => {
  const target = await launch(t, 'perthread', [join(PROGS, 'procattrs'), 'perthread']);
  const image = join(scratch, 'perthread.ckpt');
  const err = await t.throwsAsync(checkpoint(target.pid, image, { after: AFTER.kill }));
  t.regex(err.message, new RegExp(`pid ${target.pid} thread \\d+: scheduling \\(nice 7`));
  t.false(existsSync(image));
  t.false(gone(target.pid));
});

for (const [flag, what] of [
  ['-u', 'UTS \\(hostname\\)'],
  ['-n', 'network'],
] as const) {
  test.serial(`a process in its own ${what.split(' ')[0]} namespace is refused`, async (t) => {
    const target = await launch(t, `ns${flag}`, ['unshare', flag, join(PROGS, 'procattrs')]);
    const image = join(scratch, `ns${flag}.ckpt`);
    const err = await t.throwsAsync(checkpoint(target.pid, image, { after: AFTER.kill }));
    t.regex(err.message, new RegExp(`pid ${target.pid}: runs in another ${what} namespace`));
    t.false(existsSync(image));
    t.false(gone(target.pid));
  });
}
