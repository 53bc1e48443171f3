/**
 * Whole jobs (issue 11): a process tree checkpointed with --kill into one
 * image and restarted as the same tree. The tree prog (test/native/progs/
 * tree.c) verifies itself: a parent, three children (one a zombie at
 * checkpoint time) and a grandchild; links, exit codes and, unless "fresh",
 * the same pids.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  AFTER,
  checkpoint,
  RS_NO_RESTORE_PID,
  restart,
  SCOPE,
  wait,
} from '../../src/engine/libckpt.js';
import { PROGS, sleep, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-trees-'));
const gone = (pid: number) => !existsSync(`/proc/${pid}`);

/** Start the tree detached (setsid -f), stdio a file and /dev/null only. */
async function launch(t: ExecutionContext, name: string, args: string[]) {
  const out = join(scratch, `${name}.out`);
  const fd = openSync(out, 'w');
  spawn('setsid', ['-f', join(PROGS, 'tree'), ...args], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const m = await until(
    `${name} READY`,
    () => /READY (\d+)/.exec(readFileSync(out, 'utf8')) ?? false,
  );
  const pid = Number(m[1]);
  t.teardown(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  });
  return { pid, out };
}

for (const fresh of [false, true]) {
  test.serial(
    `a parent with three children (one a zombie) and a grandchild${fresh ? ', --no-restore-pid' : ''}`,
    async (t) => {
      const name = fresh ? 'tree-fresh' : 'tree';
      const target = await launch(t, name, fresh ? ['fresh'] : []);
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
      process.kill(rr.pid, 'SIGUSR1');
      const code = await wait(rr.waiterPid);
      const out = readFileSync(target.out, 'utf8');
      t.is(code, 0, out);
      t.regex(out, /^PASS$/m, out);
      t.notRegex(out, /FAIL/);
    },
  );
}

test.serial(
  'a UDP socket shared by two processes of the tree is refused naming both; the tree runs on',
  async (t) => {
    // shared descriptions come back shared (shared.test.ts), but not a
    // TCP/UDP socket held by two processes
    const out = join(scratch, 'shared.out');
    const fd = openSync(out, 'w');
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
    spawn('setsid', ['-f', 'python3', '-c', py], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const m = await until('READY', () => /READY (\d+)/.exec(readFileSync(out, 'utf8')) ?? false);
    const pid = Number(m[1]);
    t.teardown(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {}
    });
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
