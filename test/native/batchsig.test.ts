/**
 * The checkpointer's queries (handlers, itimers, prctl values, ...) run in
 * batches that end with a signal the process discards (ptrace.h,
 * dump_state.c batch_signal). Whichever signal that is, or none, the
 * process must see nothing of it: checkpointed three times while it runs on,
 * then with --kill and restarted, it checks that no handler ran, a blocked
 * SIGWINCH is still pending and no signal is pending that nobody sent.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AFTER, checkpoint, restart } from '../../src/engine/libckpt.js';
import { gone, launcher, PROGS, passes, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-batchsig-'));
const launch = launcher(scratch);

for (const mode of ['dfl', 'ign', 'none']) {
  test.serial(`batch signal, ${mode}: nothing the process sees`, async (t) => {
    const target = await launch(t, `batchsig-${mode}`, [join(PROGS, 'batchsig'), mode]);
    const image = join(scratch, `batchsig-${mode}.img`);
    for (let i = 0; i < 3; i++) await checkpoint(target.pid, image, { after: AFTER.cont });
    await checkpoint(target.pid, image, { after: AFTER.kill });
    await until('killed and reaped', () => gone(target.pid));
    const rr = await restart(image);
    t.is(rr.pid, target.pid);
    await passes(t, rr, target.out);
  });
}
