/**
 * What the red team found real programs lose at a restart (progs/rtreal.c):
 * seccomp filters of its own behind an equal count (refused now), thread
 * and process names holding a newline (cut at it), mlockall's
 * MCL_FUTURE (mappings made after the restart were not locked), and a normal
 * user restarting with their pids and no way to get them (a bare
 * 'clone3 ... Operation not permitted' instead of what to do).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AFTER, checkpoint, inspect, restart } from '../../src/engine/libckpt.js';
import { BIN, runCli } from '../cli/run-cli.js';
import { useTestUser } from '../helpers/users.js';
import { CLOSE_FDS, gone, launcher, PROGS, passes, sleep, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-rtreal-'));
const launch = launcher(scratch, { closeFds: true });
const userDirs: string[] = [];
const USER = useTestUser(test, 'ckptr');

test.after.always(() => {
  // the images (tens of MiB with a user's) do not outlive the run
  rmSync(scratch, { recursive: true, force: true });
  for (const d of userDirs) rmSync(d, { recursive: true, force: true });
});

for (const mode of ['names']) {
  test.serial(`${mode} come back`, async (t) => {
    const target = await launch(t, mode, [join(PROGS, 'rtreal'), mode]);
    const image = join(scratch, `${mode}.ckpt`);
    await checkpoint(target.pid, image, { after: AFTER.kill });
    await until('killed', () => gone(target.pid));
    const rr = await restart(image);
    t.is(rr.pid, target.pid);
    await passes(t, rr, target.out);
  });
}

test.serial(
  'a normal user restarting with pids they cannot have is told before anything is made',
  async (t) => {
    const uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-rtreal-user-'));
    userDirs.push(dir);
    chmodSync(dir, 0o700);
    chownSync(dir, uid, uid);
    const out = join(dir, 'mine.out');
    const fd = openSync(out, 'w');
    chownSync(out, uid, uid);
    spawn(
      'setsid',
      [
        '-f',
        'setpriv',
        '--reuid',
        USER,
        '--regid',
        USER,
        '--clear-groups',
        join(PROGS, 'rtreal'),
        'mclfuture',
      ],
      { stdio: ['ignore', fd, fd], cwd: dir },
    );
    closeSync(fd);
    const pid = Number(
      (await until('READY', () => /READY (\d+)/.exec(readFileSync(out, 'utf8')) ?? false))[1],
    );
    t.teardown(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    });
    const image = join(dir, 'mine.ckpt');
    const cp = await runCli('cr_checkpoint', ['--kill', '-f', image, String(pid)], {
      asUser: USER,
    });
    t.is(cp.code, 0, cp.stderr);
    await until('killed', () => gone(pid));
    const rs = await runCli('cr_restart', [image], { asUser: USER, cwd: dir });
    t.is(rs.code, 1, rs.stderr);
    t.regex(rs.stderr, new RegExp(`giving pid ${pid} back needs CAP_CHECKPOINT_RESTORE`));
    t.regex(rs.stderr, /restart with --no-restore-pid/);
    // nothing was made: no process of the user, and the pid is still free
    const left = spawnSync('pgrep', ['-u', USER], { encoding: 'utf8' });
    t.is(left.stdout.trim(), '', 'processes of the user after the refused restart');
    t.true(gone(pid));
  },
);

// The check counts filters here, in the target and in their nearest common
// ancestor: a checkpointer under one filter (a container, a systemd unit)
// refuses a process with one filter of its own (the restart would give it the
// restarter's instead: uname, which its filter denied, would work again), and
// accepts one whose filter is the one they both inherited.
test('a checkpointer under a filter refuses a process with as many filters of its own', async (t) => {
  const target = await launch(t, 'denyuname', [join(PROGS, 'rtreal'), 'denyuname']);
  const image = join(scratch, 'denyuname.ckpt');
  const cp = spawnSync(
    join(PROGS, 'rtreal'),
    ['filter-exec', join(BIN, 'ckpt'), 'checkpoint', '--kill', '-f', image, String(target.pid)],
    { encoding: 'utf8' },
  );
  t.is(cp.status, 1, cp.stderr);
  t.regex(cp.stderr, new RegExp(`pid ${target.pid} thread \\d+: .*seccomp filter`));
  t.false(existsSync(image));
  t.false(gone(target.pid));
});

// A filter of the process's own that kills it on a syscall the checkpointer
// injects (getitimer, to read its itimers): the refusal must come before any
// injection, or the checkpoint kills the job it was refusing.
test('a process whose own seccomp filter kills on an injected syscall is refused and lives on', async (t) => {
  const target = await launch(t, 'killgetitimer', [join(PROGS, 'rtreal'), 'killgetitimer']);
  const image = join(scratch, 'killgetitimer.ckpt');
  const cp = await runCli('ckpt', ['checkpoint', '--kill', '-f', image, String(target.pid)]);
  t.is(cp.code, 1, cp.stderr);
  t.regex(cp.stderr, new RegExp(`pid ${target.pid} thread \\d+: .*seccomp filter`));
  t.false(existsSync(image));
  await sleep(200);
  t.false(gone(target.pid), 'the target lives on');
});

// mlockall(MCL_FUTURE) (the mm's default flags, which /proc does not show):
// the user engine tells it from a probe page the injection gadget unmaps on
// its own (killstorm: a checkpointer killed in between leaves nothing mapped).
test('mlockall(MCL_FUTURE) comes back: a mapping made after the restart is locked', async (t) => {
  const target = await launch(t, 'mclfuture', [join(PROGS, 'rtreal'), 'mclfuture']);
  const image = join(scratch, 'mclfuture.ckpt');
  await checkpoint(target.pid, image, { after: AFTER.kill });
  await until('killed', () => gone(target.pid));
  t.regex(JSON.stringify(await inspect(image)), /"mlockall":"future"/);
  const rr = await restart(image);
  await passes(t, rr, target.out);
});

test('a process without mlockall is recorded as such, and runs on unlocked', async (t) => {
  const target = await launch(t, 'nolock', [join(PROGS, 'rtreal'), 'names']);
  const image = join(scratch, 'nolock.ckpt');
  await checkpoint(target.pid, image, { after: AFTER.cont });
  t.regex(JSON.stringify(await inspect(image)), /"mlockall":"none"/);
  const maps = readFileSync(`/proc/${target.pid}/smaps`, 'utf8');
  t.notRegex(maps, /^VmFlags:.* (lo|lf)\b/m, 'the probe left nothing locked');
});

test('a process under the filter the checkpointer inherited too is checkpointed', (t) => {
  const image = join(scratch, 'inherited.ckpt');
  const script = `sleep 100 & p=$!; sleep 0.3; ${join(BIN, 'ckpt')} checkpoint -f ${image} $p; r=$?; kill $p; exit $r`;
  const [closer = 'python3', ...closing] = CLOSE_FDS;
  const cp = spawnSync(
    closer,
    [...closing, join(PROGS, 'rtreal'), 'filter-exec', 'bash', '-c', script],
    { encoding: 'utf8' },
  );
  t.is(cp.status, 0, cp.stderr);
  t.true(existsSync(image));
});
