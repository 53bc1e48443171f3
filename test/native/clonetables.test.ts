/**
 * Processes made by clone() that share an address space, a descriptor table
 * or fs information without being threads of one process: a restart would
 * give each its own, so the checkpoint refuses, naming both processes and
 * what they share, before anything changes (the job runs on and still
 * shares). A process inside vfork() (until its child execs or exits) cannot
 * be frozen: refused at once, naming the child, instead of waiting on it.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AFTER, checkpoint, SCOPE } from '../../src/engine/libckpt.js';
import { gone, launcher, PROGS, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-clonetables-'));
const launch = launcher(scratch);

for (const [mode, what] of [
  ['vm', 'one address space \\(clone CLONE_VM'],
  ['files', 'one descriptor table \\(clone CLONE_FILES\\)'],
  ['fs', 'one working directory, root and umask \\(clone CLONE_FS\\)'],
] as const) {
  for (const scope of ['tree', 'pid'] as const) {
    test.serial(`clone ${mode}, scope ${scope}: refused naming both`, async (t) => {
      const target = await launch(t, `clone-${mode}-${scope}`, [join(PROGS, 'clonetables'), mode], {
        ready: /READY (\d+) (\d+)/,
      });
      const child = Number(target.ready[2]);
      t.teardown(() => {
        try {
          process.kill(child, 'SIGKILL');
        } catch {}
      });
      const image = join(scratch, `clone-${mode}-${scope}.img`);
      const err = await t.throwsAsync(
        checkpoint(target.pid, image, { after: AFTER.kill, scope: SCOPE[scope] }),
      );
      t.regex(
        err.message,
        new RegExp(
          `processes (${target.pid} and ${child}|${child} and ${target.pid}) share ${what}`,
        ),
      );
      t.false(existsSync(image));
      t.false(gone(target.pid));
      t.false(gone(child));
      process.kill(target.pid, 'SIGUSR1');
      await until('PASS of the untouched job', () =>
        /^PASS$/m.test(readFileSync(target.out, 'utf8')),
      );
    });
  }
}

test.serial(
  'a process inside vfork() is refused at once naming its child, not waited for',
  async (t) => {
    const target = await launch(t, 'clone-vfork', [join(PROGS, 'clonetables'), 'vfork'], {
      group: true,
    });
    const image = join(scratch, 'clone-vfork.img');
    // the child is made right after READY: until then the tree is one process
    const child = await until('the vfork child', () => {
      const kids = readFileSync(`/proc/${target.pid}/task/${target.pid}/children`, 'utf8').trim();
      return kids ? Number(kids.split(' ')[0]) : false;
    });
    for (const scope of ['tree', 'pid'] as const) {
      const err = await t.throwsAsync(
        checkpoint(target.pid, image, {
          after: AFTER.kill,
          scope: SCOPE[scope],
          timeoutMs: 20_000,
        }),
      );
      t.regex(
        err.message,
        new RegExp(`process ${target.pid} is inside vfork\\(\\) until its child ${child}`),
      );
    }
    t.false(existsSync(image));
    t.false(gone(target.pid));
    t.false(gone(child));
  },
);
