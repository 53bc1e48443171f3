/**
 * Pending signals of every process of a tree (issue 11): the treesig prog
 * (test/native/progs/treesig.c) has a parent and a child, each with its own
 * blocked signals pending at checkpoint time (process-wide and private to
 * the thread, queued values); after the restart each finds its own, and
 * only its own.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AFTER, checkpoint, restart, SCOPE } from '../../src/engine/libckpt.js';
import { gone, launcher, PROGS, passes, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-treesig-'));
const launch = launcher(scratch, { group: true });

for (const kind of ['', '-static']) {
  test.serial(
    `a child with blocked signals pending at checkpoint sees them after restart${kind}`,
    async (t) => {
      const { pid, out } = await launch(t, `treesig${kind}`, [join(PROGS, `treesig${kind}`)]);
      const image = join(scratch, `treesig${kind}.img`);
      const r = await checkpoint(pid, image, { after: AFTER.kill, scope: SCOPE.tree });
      t.is(r.processes, 2);
      await until('killed and reaped', () => gone(pid));
      const rr = await restart(image, {});
      await passes(t, rr, out);
    },
  );
}
