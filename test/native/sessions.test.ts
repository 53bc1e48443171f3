/**
 * Groups and sessions of a job (issue 11): restart with --restore-sid and
 * --restore-pgid. The sessions prog (test/native/progs/sessions.c) verifies
 * itself: a session leader with a group of two, a group whose leader exited
 * before the checkpoint and a session whose leader exited (both rebuilt
 * around a placeholder leader that the job never sees as a child). A session
 * that cannot be rejoined is refused before any process is made.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  AFTER,
  checkpoint,
  inspect,
  RS_RESTORE_PGID,
  RS_RESTORE_SID,
  restart,
  SCOPE,
  wait,
} from '../../src/engine/libckpt.js';
import { gone, launcher, PROGS, passes, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-sessions-'));

/** pgid and sid of a live process, from /proc/PID/stat. */
function ids(pid: number) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), pgid: Number(f[2]), sid: Number(f[3]) };
}

const launch = launcher(scratch, { group: true });

test.serial(
  'a session leader with a group of two, a group and a session whose leaders are gone: --restore-sid --restore-pgid',
  async (t) => {
    const target = await launch(t, 'sessions', [join(PROGS, 'sessions')]);
    const line = /GROUPS ([\d ]+)/.exec(readFileSync(target.out, 'utf8'));
    const [a, b, g, m, l, n] = (line?.[1] ?? '').split(' ').map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    t.deepEqual(ids(b), { ppid: target.pid, pgid: a, sid: target.pid });
    t.deepEqual(ids(m), { ppid: target.pid, pgid: g, sid: target.pid });
    t.deepEqual(ids(n), { ppid: target.pid, pgid: l, sid: l });
    t.true(gone(g) && gone(l), 'the leaders of two of the groups are gone');
    const outside = ids(target.pid).ppid;
    const image = join(scratch, 'sessions.img');
    const r = await checkpoint(target.pid, image, { after: AFTER.kill, scope: SCOPE.tree });
    t.is(r.processes, 5, `the parent, A, B, M and N: ${JSON.stringify(r)}`);
    await until('killed and reaped', () => [target.pid, a, b, m, n].every(gone));
    // inspect shows the tree with each process's group and session
    const info = await inspect(image);
    t.deepEqual(
      (info.tree as Record<string, unknown>[]).map((r) => [r.pid, r.ppid, r.pgid, r.sid, r.state]),
      [
        [target.pid, outside, target.pid, target.pid, 'live'],
        [a, target.pid, a, target.pid, 'live'],
        [b, target.pid, a, target.pid, 'live'],
        [m, target.pid, g, target.pid, 'live'],
        [n, target.pid, l, l, 'live'],
      ],
    );
    t.is((info.processes as unknown[]).length, 5, 'every process described');
    // the restarter is in another session and group: everything is made again
    const rr = await restart(image, { flags: RS_RESTORE_SID | RS_RESTORE_PGID });
    t.is(rr.pid, target.pid, 'same pid');
    t.deepEqual(ids(b), { ppid: target.pid, pgid: a, sid: target.pid });
    t.deepEqual(ids(m), { ppid: target.pid, pgid: g, sid: target.pid });
    t.deepEqual(ids(n), { ppid: target.pid, pgid: l, sid: l });
    t.true(gone(g) && gone(l), 'no placeholder leader is left');
    await passes(t, rr, target.out);
  },
);

test.serial(
  'a session whose leader lives outside the job is refused with --restore-sid before anything is made',
  async (t) => {
    const target = await launch(t, 'outside', [
      'bash',
      '-c',
      'sleep 600 </dev/null >/dev/null 2>&1 & echo READY $!; wait',
    ]);
    const shell = ids(target.pid).ppid;
    const sid = ids(target.pid).sid;
    t.not(sid, target.pid, 'the sleep does not lead its session');
    t.teardown(() => {
      try {
        process.kill(-sid, 'SIGKILL');
      } catch {}
    });
    const image = join(scratch, 'outside.img');
    await checkpoint(target.pid, image, { after: AFTER.kill, scope: SCOPE.tree });
    await until('killed and reaped', () => gone(target.pid));
    t.false(gone(shell), 'the session leader (the shell) lives on');
    const err = await t.throwsAsync(restart(image, { flags: RS_RESTORE_SID }));
    t.regex(
      err?.message ?? '',
      new RegExp(`pid ${target.pid} is in session ${sid}, whose leader .* pid ${sid} is in use`),
    );
    t.true(gone(target.pid), 'no process was made');
    // without --restore-sid it comes back in the restarter's session
    const rr = await restart(image, {});
    t.is(rr.pid, target.pid);
    t.not(ids(rr.pid).sid, sid);
    process.kill(rr.pid, 'SIGKILL');
    await wait(rr.waiterPid);
  },
);

test.serial(
  'a process group of two whose parents are outside it (a pipeline of a shell) is refused at checkpoint; both run on',
  async (t) => {
    // the launcher: a shell outside the group, running `sleep | sleep` in a
    // group of their own (set -m: job control puts a pipeline in one group)
    const { pid: last } = await launch(t, 'pipeline', [
      'bash',
      '-c',
      'set -m; sleep 600 | sleep 600 & echo READY $!; wait',
    ]);
    const group = ids(last).pgid;
    t.not(group, last, 'the pipeline leader is the first sleep');
    const shell = ids(last).ppid;
    t.teardown(() => {
      try {
        process.kill(-ids(shell).sid, 'SIGKILL');
      } catch {}
    });
    t.is(ids(group).ppid, shell, 'both sleeps are children of the shell, outside the group');
    const image = join(scratch, 'pipeline.img');
    const err = await t.throwsAsync(
      checkpoint(group, image, { after: AFTER.kill, scope: SCOPE.pgid }),
    );
    t.regex(
      err?.message ?? '',
      new RegExp(
        `pid ${last} \\(sleep\\) of process group ${group}: its parent ${shell} is outside`,
      ),
    );
    t.false(existsSync(image), 'no image');
    t.false(gone(group), 'the first sleep runs on');
    t.false(gone(last), 'the second sleep runs on');
  },
);
