/**
 * Pending signals of every process of a tree (issue 11): the treesig prog
 * (test/native/progs/treesig.c) has a parent and a child, each with its own
 * blocked signals pending at checkpoint time (process-wide and private to
 * the thread, queued values); after the restart each finds its own, and
 * only its own.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AFTER, checkpoint, restart, SCOPE, wait } from '../../src/engine/libckpt.js';
import { PROGS, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-treesig-'));
const gone = (pid: number) => !existsSync(`/proc/${pid}`);

for (const kind of ['', '-static']) {
  test.serial(
    `a child with blocked signals pending at checkpoint sees them after restart${kind}`,
    async (t) => {
      const out = join(scratch, `treesig${kind}.out`);
      const fd = openSync(out, 'w');
      spawn('setsid', ['-f', join(PROGS, `treesig${kind}`)], { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      const m = await until('READY', () => /READY (\d+)/.exec(readFileSync(out, 'utf8')) ?? false);
      const pid = Number(m[1]);
      t.teardown(() => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {}
      });
      const image = join(scratch, `treesig${kind}.img`);
      const r = await checkpoint(pid, image, { after: AFTER.kill, scope: SCOPE.tree });
      t.is(r.processes, 2);
      await until('killed and reaped', () => gone(pid));
      const rr = await restart(image, {});
      process.kill(rr.pid, 'SIGUSR1');
      const code = await wait(rr.waiterPid);
      const text = readFileSync(out, 'utf8');
      t.is(code, 0, text);
      t.regex(text, /^PASS$/m);
    },
  );
}
