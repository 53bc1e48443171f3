/**
 * CKPT_CP_OWNER (issue 12): the daemon checkpoints a user's job with the
 * owner's ids, and the engine checks every process again once all are
 * frozen (a frozen process cannot exec a set-id program any more). A
 * process whose ids differ (real nobody, effective root: what a set-id
 * program looks like) is refused naming it; nothing is written, the job
 * runs on.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { AFTER, CP_OWNER, checkpoint, SCOPE } from '../../src/engine/libckpt.js';
import { gone, launcher, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-owner-'));
const NOBODY = 65534;
const launch = launcher(scratch, { closeFds: true });

/** A root python that forks a child: the parent drops to nobody entirely,
    the child to real nobody / effective root when `setid`. */
async function job(t: ExecutionContext, name: string, setid: boolean) {
  const prog = `
import os, time, sys
pid = os.fork()
if pid == 0:
    os.setgroups([])
    os.setresgid(${NOBODY}, ${setid ? 0 : NOBODY}, ${setid ? 0 : NOBODY})
    os.setresuid(${NOBODY}, ${setid ? 0 : NOBODY}, ${setid ? 0 : NOBODY})
    time.sleep(600)
    sys.exit(0)
os.setgroups([])
os.setresgid(${NOBODY}, ${NOBODY}, ${NOBODY})
os.setresuid(${NOBODY}, ${NOBODY}, ${NOBODY})
print("READY", os.getpid(), pid, flush=True)
os.wait()
`;
  const { pid: parent, ready } = await launch(t, name, ['python3', '-c', prog], {
    ready: /READY (\d+) (\d+)/,
  });
  const child = Number(ready[2]);
  t.teardown(() => {
    try {
      process.kill(child, 'SIGKILL');
    } catch {}
  });
  // the child has dropped its ids once its status says so
  await until(`${name} child ids`, () =>
    /^Uid:\s+65534\b/m.test(readFileSync(`/proc/${child}/status`, 'utf8')),
  );
  return { parent, child };
}

test.serial(
  'a job of nobody with a set-id child is refused after the freeze, naming the child; it runs on',
  async (t) => {
    const { parent, child } = await job(t, 'setid', true);
    const image = join(scratch, 'setid.img');
    const err = await t.throwsAsync(
      checkpoint(parent, image, {
        after: AFTER.kill,
        scope: SCOPE.tree,
        flags: CP_OWNER,
        owner: { uid: NOBODY, gid: NOBODY },
      }),
    );
    t.regex(
      err?.message ?? '',
      new RegExp(`process ${child} does not hold exactly the job owner's ids`),
    );
    t.false(existsSync(image), 'no image');
    t.false(gone(parent), 'the parent runs on');
    t.false(gone(child), 'the child runs on');
    t.regex(readFileSync(`/proc/${child}/status`, 'utf8'), /^State:\s+S/m, 'not left stopped');
  },
);

test.serial('the same job without the set-id child is checkpointed for its owner', async (t) => {
  const { parent } = await job(t, 'plain', false);
  const image = join(scratch, 'plain.img');
  const r = await checkpoint(parent, image, {
    after: AFTER.cont,
    scope: SCOPE.tree,
    flags: CP_OWNER,
    owner: { uid: NOBODY, gid: NOBODY },
  });
  t.is(r.processes, 2);
  // and the same job is refused for another owner (root: its ids are not 0)
  const err = await t.throwsAsync(
    checkpoint(parent, join(scratch, 'plain-root.img'), {
      scope: SCOPE.tree,
      flags: CP_OWNER,
      owner: { uid: 0, gid: 0 },
    }),
  );
  t.regex(err?.message ?? '', /does not hold exactly the job owner's ids \(uid 0, gid 0\)/);
});
