/**
 * Objects shared between processes of a job (issue 11): a parent and its
 * child share a pipe with 10 KiB in flight, a socketpair with data queued
 * both ways, a FIFO with buffered bytes, one open file description, an
 * eventfd, a MAP_SHARED anonymous counter (also moved by the child with
 * mremap), a SysV segment, a memfd (held by both, held by the parent and
 * only mapped by the child, only mapped by both), a POSIX shm object, an
 * O_APPEND description holding a flock, an epoll instance. Each is checkpointed with
 * --kill as a tree, restarted with the same pids, and checks itself
 * (test/native/progs/share.c).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AFTER, checkpoint, inspect, restart, SCOPE } from '../../src/engine/libckpt.js';
import { gone, launcher, PROGS, passes, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-shared-'));
const launch = launcher(scratch, { group: true });

const modes = [
  'pipe',
  'socketpair',
  'fifo',
  'ofd',
  'eventfd',
  'shm',
  'moved',
  'sysv',
  'memfd',
  'memfdmap',
  'memfdonly',
  'posix',
  'flock',
  'epoll',
];
for (const mode of modes) {
  test.serial(`a ${mode} shared by a parent and its child comes back shared`, async (t) => {
    const { pid, out } = await launch(t, mode, [join(PROGS, 'share'), mode, scratch]);
    const image = join(scratch, `${mode}.img`);
    const r = await checkpoint(pid, image, { after: AFTER.kill, scope: SCOPE.tree });
    t.is(r.processes, 2, JSON.stringify(r));
    if (!['shm', 'moved', 'sysv', 'posix', 'memfdmap', 'memfdonly'].includes(mode)) {
      // inspect names the child as a holder of an object the parent makes
      const shown = JSON.stringify(await inspect(image));
      const held = [...shown.matchAll(/"heldBy":\[([\d,]*)\]/g)].map((h) => h[1] ?? '');
      t.true(
        held.some((h) => h.split(',').some((p) => p !== String(pid))),
        `heldBy names the child: ${held.join(' | ')}`,
      );
    }
    await until('killed and reaped', () => gone(pid));
    const rr = await restart(image, {});
    t.is(rr.pid, pid, 'same pid');
    await passes(t, rr, out);
  });
}

test.serial(
  'a file a child holds after dropping to nobody is refused naming both; the job runs on',
  async (t) => {
    // its maker (the parent, root) would open it again for the child with
    // root's filesystem credentials
    const { pid } = await launch(t, 'creds', [join(PROGS, 'share'), 'creds', scratch]);
    const err = await t.throwsAsync(
      checkpoint(pid, join(scratch, 'creds.img'), { after: AFTER.kill, scope: SCOPE.tree }),
    );
    t.regex(
      err?.message ?? '',
      /pid \d+ fd \d+ \(\/.*\) and pid \d+ fd \d+ \(\/.*other filesystem credentials/,
    );
    t.false(gone(pid), 'the job keeps running after the refusal');
  },
);
