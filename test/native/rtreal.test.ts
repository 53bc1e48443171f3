/**
 * What the red team found real programs lose at a restart (progs/rtreal.c):
 * thread and process names holding a newline (cut at it), mlockall's
 * MCL_FUTURE (mappings made after the restart were not locked).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AFTER, checkpoint, restart } from '../../src/engine/libckpt.js';
import { gone, launcher, PROGS, passes, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-rtreal-'));
const launch = launcher(scratch, { closeFds: true });

for (const mode of ['names', 'mclfuture']) {
  test.serial(`${mode} come back`, async (t) => {
    const target = await launch(t, mode, [join(PROGS, 'rtreal'), mode]);
    const image = join(scratch, `${mode}.ckpt`);
    await checkpoint(target.pid, image, { after: AFTER.kill });
    await until('killed', () => gone(target.pid));
    const rr = await restart(image);
    t.is(rr.pid, target.pid);
    await passes(t, rr, target.out);
  });
}
