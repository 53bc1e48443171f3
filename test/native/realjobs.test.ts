/**
 * Shapes of real jobs found by trying shell pipelines and Python/Perl
 * programs (issue 11), each checkpointed with --kill as a tree, restarted
 * with the same pids and compared with what an uninterrupted run gives.
 *
 * A pipe on a process's stdin whose writer has already exited (the first
 * stage of `cat file | { sleep; cat; }` done, a here-document, Python's
 * communicate() having written and closed, `done < <(...)`) holds the bytes
 * the reader has not read yet; no process outside the job holds it, so it
 * is the job's own pipe, not a way outside to be replaced by the
 * restarter's stdin.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  AFTER,
  checkpoint,
  inspect,
  RS_RESTORE_PGID,
  restart,
  SCOPE,
  wait,
} from '../../src/engine/libckpt.js';
import { CLOSE_FDS, gone, launcher, REPO, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-realjobs-'));
const launch = launcher(scratch, { group: true, closeFds: true });
const children = (pid: number) =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean);

test.serial(
  'a stdin pipe whose writer exited keeps its unread bytes across a restart',
  async (t) => {
    const dir = mkdtempSync(join(scratch, 'stdin-'));
    let text = '';
    for (let i = 0; i < 800; i++) text += `line ${i} ${'x'.repeat(i % 13)}\n`; // ~14 KiB: fits the pipe
    writeFileSync(join(dir, 'in.txt'), text);
    const log = join(dir, 'log');
    // the second stage reads nothing until `go` exists; the first has exited by then
    const script =
      'echo $$ > pid; { cat in.txt; touch written; } | ' +
      '{ while [ ! -e go ]; do sleep 0.05; done; cat > out.txt; }';
    // descriptors > 2 the test runner's environment leaks would be a pipe to
    // a process outside the job, rightly refused: the job starts without them
    // (the launcher's closeFds)
    const { pid } = await launch(t, 'job', ['bash', '-c', `cd ${dir} && ${script}`], {
      out: log,
      pidFile: join(dir, 'pid'),
    });
    await until(
      'the writer wrote and exited',
      () => existsSync(join(dir, 'written')) && children(pid).length === 1,
    );
    const image = join(dir, 'img');
    const r = await checkpoint(pid, image, { after: AFTER.kill, scope: SCOPE.tree });
    t.true(r.processes >= 2, JSON.stringify(r));
    await until('killed and reaped', () => gone(pid));
    const rr = await restart(image, {});
    t.is(rr.pid, pid, 'same pid');
    writeFileSync(join(dir, 'go'), '');
    const code = await wait(rr.waiterPid);
    t.is(code, 0, readFileSync(log, 'utf8'));
    const got = readFileSync(join(dir, 'out.txt'), 'utf8');
    t.is(got.length, text.length, 'every unread byte of the pipe came back');
    t.true(got === text, 'the same bytes');
  },
);

test.serial(
  'a job forking short-lived children (xargs -P2, gzip | gunzip) is checkpointed every time',
  async (t) => {
    // a child that exits and is reaped between the listing and its freeze
    // left the job; one exiting as it is seized (EPERM) is a zombie or left
    const dir = mkdtempSync(join(scratch, 'churn-'));
    const log = join(dir, 'log');
    const script =
      'echo $$ > pid; n=0; while [ ! -e stop ]; do /bin/true; sh -c true & wait; n=$((n+1)); done; ' +
      'echo "ran $n"';
    const { pid } = await launch(t, 'job', ['bash', '-c', `cd ${dir} && ${script}`], {
      out: log,
      pidFile: join(dir, 'pid'),
    });
    const image = join(dir, 'img');
    const failures: string[] = [];
    for (let i = 0; i < 25; i++) {
      try {
        await checkpoint(pid, image, { after: AFTER.cont, scope: SCOPE.tree });
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    t.deepEqual(failures, [], 'every checkpoint of the churning job succeeded');
    t.false(gone(pid), 'the job runs on');
    await checkpoint(pid, image, { after: AFTER.kill, scope: SCOPE.tree });
    await until('killed and reaped', () => gone(pid));
    const rr = await restart(image, {});
    t.is(rr.pid, pid, 'same pid');
    writeFileSync(join(dir, 'stop'), '');
    const code = await wait(rr.waiterPid);
    t.is(code, 0, readFileSync(log, 'utf8'));
    t.regex(readFileSync(log, 'utf8'), /^ran \d+$/m);
  },
);

test.serial(
  '--no-restore-pid of a tree warns that a parent waiting by pid loses its child',
  async (t) => {
    // bash's `wait $p` after the restart asks for the recorded pid: 127, not
    // the child's status; the restarter must say so, not leave it silent
    const dir = mkdtempSync(join(scratch, 'newpids-'));
    const log = join(dir, 'log');
    const script = 'echo $$ > pid; (sleep 1.5; exit 3) & p=$!; wait $p; echo "status $?"';
    const { pid } = await launch(t, 'job', ['bash', '-c', `cd ${dir} && ${script}`], {
      out: log,
      pidFile: join(dir, 'pid'),
    });
    await until('the child started', () => children(pid).length > 0);
    const image = join(dir, 'img');
    await checkpoint(pid, image, { after: AFTER.kill, scope: SCOPE.tree });
    await until('killed and reaped', () => gone(pid));
    const r = spawnSync(join(REPO, 'bin', 'ckpt'), ['restart', '--no-restore-pid', image], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    t.log(readFileSync(log, 'utf8'));
    t.regex(r.stderr, /--no-restore-pid: the \d+ processes of the job get new pids/, r.stderr);
  },
);

test.serial(
  '-g of a process group whose leader exited reaches its members; restarted with --restore-pgid they come back in that group around a placeholder leader and finish',
  async (t) => {
    // the leader forks two members and exits: -g PGID must not stop at
    // "no process PGID"; the members, reparented outside the group, have no
    // parent in it: the restarter makes both
    const dir = mkdtempSync(join(scratch, 'pgleader-'));
    const prog =
      'import os, time\n' +
      'if os.fork() == 0:\n' +
      '    os.setpgid(0, 0)\n' +
      '    for i in range(2):\n' +
      '        if os.fork() == 0:\n' +
      '            while not os.path.exists("go"):\n' +
      '                time.sleep(0.05)\n' +
      '            open("member%d" % i, "w").write("done")\n' +
      '            os._exit(0)\n' +
      '    open("pgid", "w").write(str(os.getpid()))\n' +
      '    os._exit(0)\n';
    spawn('setsid', ['-f', ...CLOSE_FDS, 'python3', '-c', prog], {
      cwd: dir,
      stdio: 'ignore',
    });
    const pgidfile = join(dir, 'pgid');
    const pgid = await until('group made', () =>
      existsSync(pgidfile) ? Number(readFileSync(pgidfile, 'utf8')) || false : false,
    );
    await until('leader gone', () => gone(pgid));
    t.teardown(() => {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {}
    });
    const image = join(dir, 'img');
    const r = await checkpoint(pgid, image, { after: AFTER.kill, scope: SCOPE.pgid });
    t.is(r.processes, 2, 'both members');
    const info = await inspect(image);
    const roots = info.roots as number[];
    t.is(roots.length, 2, 'both are top-level: their parent is outside the group');
    await until('killed and reaped', () => roots.every(gone));
    t.false(existsSync(join(dir, 'member0')) || existsSync(join(dir, 'member1')), 'not done');
    const rr = await restart(image, { flags: RS_RESTORE_PGID });
    t.deepEqual(rr.roots, roots, 'same pids');
    for (const m of roots) {
      const stat = readFileSync(`/proc/${m}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      t.deepEqual([Number(f[1]), Number(f[2])], [rr.waiterPid, pgid], 'in the old group');
    }
    t.true(gone(pgid), 'the placeholder leader is gone');
    writeFileSync(join(dir, 'go'), ''); // the members finish now
    t.is(await wait(rr.waiterPid), 0);
    t.true(existsSync(join(dir, 'member0')) && existsSync(join(dir, 'member1')), 'both done');
  },
);
