/**
 * Whole jobs (issue 11): a process tree checkpointed with --kill into one
 * image and restarted as the same tree. The tree prog (test/native/progs/
 * tree.c) verifies itself: a parent, three children (one a zombie at
 * checkpoint time) and a grandchild; links, exit codes and, unless "fresh",
 * the same pids.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AFTER, checkpoint, RS_NO_RESTORE_PID, restart, SCOPE } from '../../src/engine/libckpt.js';
import { gone, launcher, PROGS, passes, sleep, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-trees-'));

const launch = launcher(scratch, { group: true });

for (const fresh of [false, true]) {
  test.serial(
    `a parent with three children (one a zombie) and a grandchild${fresh ? ', --no-restore-pid' : ''}`,
    async (t) => {
      const name = fresh ? 'tree-fresh' : 'tree';
      const target = await launch(t, name, [join(PROGS, 'tree'), ...(fresh ? ['fresh'] : [])]);
      const image = join(scratch, `${name}.img`);
      const r = await checkpoint(target.pid, image, { after: AFTER.kill, scope: SCOPE.tree });
      t.is(
        r.processes,
        4,
        `the parent, two live children and the grandchild: ${JSON.stringify(r)}`,
      );
      await until('killed and reaped', () => gone(target.pid));
      const rr = await restart(image, fresh ? { flags: RS_NO_RESTORE_PID } : {});
      if (!fresh) t.is(rr.pid, target.pid, 'same pid');
      await passes(t, rr, target.out);
    },
  );
}

test.serial(
  'a UDP socket shared by two processes of the tree is refused naming both; the tree runs on',
  async (t) => {
    // shared descriptions come back shared (shared.test.ts), but not a
    // TCP/UDP socket held by two processes
    const py = [
      'import os, socket, time',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      "s.bind(('127.0.0.1', 0))",
      'if os.fork() == 0:',
      '    time.sleep(600)',
      '    os._exit(0)',
      "print('READY', os.getpid(), flush=True)",
      'time.sleep(600)',
    ].join('\n');
    const { pid } = await launch(t, 'shared', ['python3', '-c', py]);
    await sleep(100);
    const err = await t.throwsAsync(
      checkpoint(pid, join(scratch, 'shared.img'), { after: AFTER.kill, scope: SCOPE.tree }),
    );
    t.regex(
      err?.message ?? '',
      /pid \d+ fd \d+ \(socket:.* and pid \d+ fd \d+ .* held by two processes.*TCP\/UDP/,
    );
    t.false(gone(pid), 'the job keeps running after the refusal');
  },
);
