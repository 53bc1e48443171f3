/**
 * State an outside zdtm-style suite checks that was lost or made an image
 * no restart could use (test/native/progs/fsstate.c): a removed working
 * directory, private and shared mappings of /dev/zero, socket timeouts and
 * linger come back (same pid, the target checks itself: PASS); a pty
 * master, a POSIX message queue and a chrooted process are refused at
 * checkpoint naming the process (and the descriptor), the target running on
 * unchanged.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AFTER, checkpoint, restart } from '../../src/engine/libckpt.js';
import { gone, launcher, PROGS, passes, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-fsstate-'));
const launch = launcher(scratch, { closeFds: true });

for (const mode of ['cwddel', 'devzero', 'sockopts']) {
  for (const variant of ['fsstate', 'fsstate-static']) {
    test.serial(`${variant} ${mode}: comes back as it was (same pid)`, async (t) => {
      const target = await launch(t, `${variant}-${mode}`, [join(PROGS, variant), mode, scratch]);
      const image = join(scratch, `${variant}-${mode}.img`);
      await checkpoint(target.pid, image, { after: AFTER.kill });
      await until('killed', () => gone(target.pid));
      const rr = await restart(image);
      t.is(rr.pid, target.pid);
      await passes(t, rr, target.out);
    });
  }
}

for (const [mode, refusal] of [
  ['ptmx', /fd \d+ \(\/dev\/(pts\/)?ptmx\): pty master/],
  ['mqueue', /fd \d+ \(\/ckpt-fsstate-\d+\): POSIX message queue/],
  ['chroot', /its root directory is .*\/root, not the checkpointer's \(chroot\)/],
] as const) {
  test.serial(`${mode}: refused at checkpoint, the process runs on`, async (t) => {
    const root = join(scratch, 'root');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'fsstate-root-marker'), '');
    const target = await launch(t, mode, [join(PROGS, 'fsstate'), mode, root]);
    const image = join(scratch, `${mode}.img`);
    const err = await t.throwsAsync(checkpoint(target.pid, image, { after: AFTER.kill }));
    t.regex(err.message, new RegExp(`pid ${target.pid}`));
    t.regex(err.message, refusal);
    t.false(gone(target.pid));
    process.kill(target.pid, 'SIGUSR1');
    await until('PASS of the untouched process', () =>
      /^PASS$/m.test(readFileSync(target.out, 'utf8')),
    );
  });
}
