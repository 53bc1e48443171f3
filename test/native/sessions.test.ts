/**
 * Groups and sessions of a job (issue 11): restart with --restore-sid and
 * --restore-pgid. The sessions prog (test/native/progs/sessions.c) verifies
 * itself: a session leader with a group of two, a group whose leader exited
 * before the checkpoint and a session whose leader exited (both rebuilt
 * around a placeholder leader that the job never sees as a child). A session
 * that cannot be rejoined is refused before any process is made.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  AFTER,
  checkpoint,
  inspect,
  RS_NO_RESTORE_PID,
  RS_RESTORE_PGID,
  RS_RESTORE_SID,
  restart,
  SCOPE,
  wait,
} from '../../src/engine/libckpt.js';
import { forgeSections } from '../daemon/forge.js';
import { gone, launcher, PROGS, passes, sleep, until } from './harness.js';

const SEC_TREE = 8; // CKPT_SEC_TREE

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

/**
 * A shell's pipeline under job control: `producer | tr a-z A-Z | sha256sum > OUT`, three
 * commands in a group of their own whose parent (the shell) is outside it. The producer
 * writes a known stream of LINES lines slowly; the digest at the end is that of the whole
 * stream, so any byte lost or doubled across the restart shows.
 */
const LINES = 1500;
const PRODUCER = `import sys, time
for i in range(${LINES}):
    sys.stdout.write('line %05d of a stream that must arrive whole, once\\n' % i)
    sys.stdout.flush()
    time.sleep(0.002)
`;
const expected = () => {
  let text = '';
  for (let i = 0; i < LINES; i++)
    text += `line ${String(i).padStart(5, '0')} of a stream that must arrive whole, once\n`;
  return `${createHash('sha256').update(text.toUpperCase()).digest('hex')}  -\n`;
};

/** The pipeline, started by `bash -c 'set -m; ...'` (or by `script`); its pids in order. */
async function pipeline(t: ExecutionContext, name: string, shell: string) {
  const out = join(scratch, `${name}.sum`);
  const log = join(scratch, `${name}.log`);
  const prog = join(scratch, `${name}.py`);
  writeFileSync(prog, PRODUCER);
  const fd = openSync(log, 'w');
  // the interpreter itself, not a version manager's shell wrapper around it
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const cmd = `${python} ${prog} | tr a-z A-Z | sha256sum > ${out}`;
  spawn('setsid', ['-f', 'bash', '-c', shell.replace('PIPELINE', cmd)], {
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const ready = Number(
    (await until(`${name} READY`, () => /READY (\d+)/.exec(readFileSync(log, 'utf8')) ?? false))[1],
  );
  // the three stages: the processes of the session running the commands, oldest first
  const sid = ids(ready).sid;
  const stages = await until(`${name}: three stages`, () => {
    const s = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .filter((p) => {
        try {
          const comm = readFileSync(`/proc/${p}/comm`, 'utf8').trim();
          return ids(p).sid === sid && ['python3', 'tr', 'sha256sum'].includes(comm);
        } catch {
          return false;
        }
      })
      .sort((a, b) => a - b);
    return s.length === 3 ? s : false;
  });
  t.teardown(() => {
    for (const p of [...stages, ready, sid]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {}
    }
  });
  return { out, log, ready, stages, group: ids(ready).pgid, sid, shell: ids(ready).ppid };
}

test.serial(
  "a shell's pipeline under job control (-g): checkpointed mid-stream with --kill, restarted with the same pids and group, its output is that of an uninterrupted run",
  async (t) => {
    const p = await pipeline(t, 'pipe-g', 'set -m; PIPELINE & echo READY $!; wait');
    const [a, b, c] = p.stages as [number, number, number];
    t.is(p.group, a, 'the producer leads the group');
    for (const s of p.stages) t.is(ids(s).ppid, p.shell, 'each stage is a child of the shell');
    await sleep(700); // mid-stream
    const image = join(scratch, 'pipe-g.img');
    const r = await checkpoint(p.group, image, { after: AFTER.kill, scope: SCOPE.pgid });
    await until('killed and reaped', () => p.stages.every(gone));
    const info = await inspect(image);
    t.is(r.processes, 3, JSON.stringify(info.tree));
    t.false(existsSync(p.out) && readFileSync(p.out, 'utf8').length > 0, 'not finished');
    t.deepEqual(info.roots, [a, b, c], 'inspect names the three top-level processes');
    const rr = await restart(image, { flags: RS_RESTORE_PGID });
    t.is(rr.pid, a, 'the status is the group leader');
    t.deepEqual(rr.roots, [a, b, c], 'the restart reports every top-level process');
    for (const s of p.stages)
      t.deepEqual(
        { ...ids(s) },
        { ppid: rr.waiterPid, pgid: a, sid: ids(s).sid },
        'each stage is a child of the restarter, in the same group',
      );
    const code = await wait(rr.waiterPid);
    t.is(code, 0, readFileSync(p.log, 'utf8'));
    t.is(readFileSync(p.out, 'utf8'), expected(), 'the digest of the whole stream');
  },
);

test.serial(
  'the same pipeline restarted with --no-restore-pid: new pids, the three in one new group under the restarter, the same output',
  async (t) => {
    const p = await pipeline(t, 'pipe-fresh', 'set -m; PIPELINE & echo READY $!; wait');
    await sleep(700);
    const image = join(scratch, 'pipe-fresh.img');
    await checkpoint(p.group, image, { after: AFTER.kill, scope: SCOPE.pgid });
    await until('killed and reaped', () => p.stages.every(gone));
    const rr = await restart(image, { flags: RS_NO_RESTORE_PID });
    t.is(rr.roots.length, 3);
    t.is(rr.pid, rr.roots[0] as number, 'the status is the first (the group leader, new pid)');
    for (const s of rr.roots) {
      t.false(p.stages.includes(s), `${s} is a new pid`);
      t.deepEqual(
        { ppid: ids(s).ppid, pgid: ids(s).pgid },
        { ppid: rr.waiterPid, pgid: rr.roots[0] },
        'a child of the restarter, in one new group led by the first',
      );
    }
    t.not(ids(rr.roots[0] as number).pgid, ids(process.pid).pgid, 'not the restarter’s group');
    t.is(await wait(rr.waiterPid), 0, readFileSync(p.log, 'utf8'));
    t.is(readFileSync(p.out, 'utf8'), expected());
  },
);

test.serial(
  'a session (-s) whose leader is in the job and whose pipeline commands are children of a process outside it: all come back under the restarter, in their session again with --restore-sid (the leader makes them); its status is the leader’s',
  async (t) => {
    // the leader (sleep, after exec) runs the pipeline through a subshell that
    // exits at once: the commands are handed to a reaper outside the session
    const p = await pipeline(t, 'pipe-s', '(PIPELINE &); echo READY $$; exec sleep 600');
    t.is(p.sid, p.ready, 'the shell leads its session');
    for (const s of p.stages) t.not(ids(s).ppid, p.ready, 'a stage is not the leader’s child');
    await sleep(700);
    const image = join(scratch, 'pipe-s.img');
    const r = await checkpoint(p.sid, image, { after: AFTER.kill, scope: SCOPE.sid });
    t.is(r.processes, 4);
    await until('killed and reaped', () => [p.ready, ...p.stages].every(gone));
    const info = await inspect(image);
    t.deepEqual(info.roots, [p.ready, ...p.stages]);
    // twice from the same image: in the session and group again, then in the restarter's
    for (const flags of [RS_RESTORE_SID | RS_RESTORE_PGID, 0]) {
      const rr = await restart(image, { flags });
      t.is(rr.pid, p.ready, 'the status is the session leader');
      t.deepEqual(rr.roots, [p.ready, ...p.stages]);
      for (const s of [p.ready, ...p.stages]) {
        t.is(ids(s).ppid, rr.waiterPid, `${s} is a child of the restarter`);
        if (flags) t.deepEqual([ids(s).sid, ids(s).pgid], [p.sid, p.ready], `${s}: ids`);
        else t.not(ids(s).sid, p.sid, `${s}: in the restarter's session`);
      }
      await until('the pipeline ends', () => p.stages.every(gone), 30_000);
      t.is(readFileSync(p.out, 'utf8'), expected());
      t.false(gone(p.ready), 'the leader runs on after the pipeline ended');
      process.kill(p.ready, 'SIGTERM');
      t.is(await wait(rr.waiterPid), 128 + 15, 'the leader’s status');
    }
  },
);

test.serial(
  'an epoll instance two processes of a group share with no common ancestor in it is refused at checkpoint, naming both; they run on',
  async (t) => {
    // the parent (outside the group) makes the epoll instance, forks A and B into a
    // group of their own and closes its copy: only A and B hold it
    const prog = join(scratch, 'epollpair.py');
    writeFileSync(
      prog,
      `import os, select, time
ep = select.epoll()
kids = []
for i in range(2):
    pid = os.fork()
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    kids.append(pid)
os.setpgid(kids[0], kids[0])
os.setpgid(kids[1], kids[0])
ep.close()
print('READY', kids[0], kids[1], flush=True)
time.sleep(600)
`,
    );
    const out = join(scratch, 'epollpair.out');
    const fd = openSync(out, 'w');
    const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    spawn('setsid', ['-f', python, prog], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const m = await until(
      'epollpair READY',
      () => /READY (\d+) (\d+)/.exec(readFileSync(out, 'utf8')) ?? false,
    );
    const [a, b] = [Number(m[1]), Number(m[2])];
    const parent = ids(a).ppid;
    t.teardown(() => {
      for (const p of [a, b, parent]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {}
      }
    });
    const image = join(scratch, 'epollpair.img');
    const err = await t.throwsAsync(checkpoint(a, image, { after: AFTER.kill, scope: SCOPE.pgid }));
    t.regex(
      err?.message ?? '',
      new RegExp(
        `pid ${a} fd \\d+ \\(anon_inode:\\[eventpoll\\]\\) and pid ${b} fd \\d+ .*no common ancestor in the job.*only pipes, FIFOs, unix sockets, files and eventfds`,
      ),
    );
    t.false(existsSync(image), 'no image');
    t.false(gone(a) || gone(b), 'both run on');
  },
);

test.serial(
  'a crafted TREE is refused before anything is made: a record whose parent is outside without the top-level flag, the flag on one top-level record, an unknown flag',
  async (t) => {
    const src = join(scratch, 'pipe-g.img');
    t.true(existsSync(src), "the pipeline test's image");
    const roots = (await inspect(src)).roots as number[];
    const REC = 56; // struct ckpt_img_task
    const FLAGS = 16; // pid, ppid, pgid, sid, flags
    const cases: [string, (p: Buffer) => void, RegExp][] = [
      [
        'unflagged',
        (p) => p.writeUInt32LE(p.readUInt32LE(REC + FLAGS) & ~4, REC + FLAGS),
        /record 1 \(pid \d+\) has its parent \d+ outside the image but is not a live record flagged top-level/,
      ],
      [
        'one-flagged',
        (p) => {
          // records 1 and 2 become children of record 0: one top-level record, still flagged
          p.writeInt32LE(p.readInt32LE(0), REC + 4);
          p.writeInt32LE(p.readInt32LE(0), 2 * REC + 4);
          for (const r of [1, 2]) p.writeUInt32LE(0, r * REC + FLAGS);
        },
        /1 records flagged top-level, 1 with their parent outside the image/,
      ],
      [
        'unknown-flag',
        (p) => p.writeUInt32LE(p.readUInt32LE(FLAGS) | 8, FLAGS),
        /record 0 \(pid \d+\): bad pid, parent order, flags or object range/,
      ],
    ];
    for (const [name, edit, want] of cases) {
      const img = join(scratch, `tree-${name}.img`);
      copyFileSync(src, img);
      t.is(forgeSections(img, SEC_TREE, edit), 1, name);
      const err = await t.throwsAsync(restart(img, {}), undefined, name);
      t.regex(err?.message ?? '', want, name);
      t.true(roots.every(gone), `${name}: no process was made`);
    }
  },
);
