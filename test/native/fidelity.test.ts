/**
 * State a sweep of self-checking programs found lost silently at restart
 * (test/native/progs/fidelity.c): signal-driven I/O (O_ASYNC, F_SETOWN_EX,
 * F_SETSIG on a file, a pipe, a socket; F_SETOWN alone on a socket, SIGURG's
 * owner) is refused at checkpoint naming the process and descriptor, the
 * target running on unchanged; capabilities kept across setresuid (with the
 * bounding and ambient sets and keepcaps) and per-thread prctl values
 * (keepcaps, PR_MCE_KILL, PR_SET_TSC) come back (same pid, the target checks
 * itself: PASS); restarted by the user it runs as, who lacks those
 * capabilities, the same image is refused (a restart never gives more than
 * its caller has). A restarter's own PR_MCE_KILL does not reach a process
 * whose image has the default; a user's restart of an image whose bounding
 * set is smaller than the user's own (which only CAP_SETPCAP can drop) is
 * refused before anything runs, and root's restart of it drops to it. Run
 * as root.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { AFTER, checkpoint, restart, SCOPE } from '../../src/engine/libckpt.js';
import { BIN, runCli } from '../cli/run-cli.js';
import { idOf, useTestUser } from '../helpers/users.js';
import { gone, launcher, PROGS, passes, pidIn, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-fidelity-'));
const launch = launcher(scratch, { closeFds: true });
const USER = useTestUser(test, 'ckptf');

/** progs/fidelity MODE told to become USER (its uid and gid as arguments). */
const asUserArgv = (mode: string) => [
  join(PROGS, 'fidelity'),
  mode,
  String(idOf('-u', USER)),
  String(idOf('-g', USER)),
];

/**
 * A process of USER's started by argv, checkpointed by root with --kill into
 * NAME.img: the image and the output file readable and writable by USER.
 */
async function checkpointedForUser(
  t: ExecutionContext,
  name: string,
  argv: string[],
  scope: (typeof SCOPE)[keyof typeof SCOPE] = SCOPE.pid,
) {
  const target = await launch(t, name, argv);
  chmodSync(scratch, 0o755);
  chmodSync(target.out, 0o666);
  const image = join(scratch, `${name}.img`);
  await checkpoint(target.pid, image, { after: AFTER.kill, scope });
  await until('killed', () => gone(target.pid));
  chmodSync(image, 0o644);
  return { target, image };
}

const userRestart = (image: string) =>
  runCli('cr_restart', ['--no-restore-pid', image], { asUser: USER, cwd: '/' });

for (const [mode, what] of [
  ['sigio-file', /fidelity-sigio/],
  ['sigio-pipe', /pipe:\[\d+\]/],
  ['sigio-sock', /socket:\[\d+\]/],
  ['setown-sock', /socket:\[\d+\]/],
] as const) {
  test.serial(`${mode}: refused at checkpoint, the process runs on`, async (t) => {
    const target = await launch(t, mode, [join(PROGS, 'fidelity'), mode, scratch]);
    const image = join(scratch, `${mode}.img`);
    const err = await t.throwsAsync(checkpoint(target.pid, image, { after: AFTER.kill }));
    t.regex(err.message, new RegExp(`pid ${target.pid} fd \\d+ \\(`));
    t.regex(err.message, what);
    t.regex(err.message, /signal-driven I\/O \(O_ASYNC\/F_SETOWN\/F_SETSIG\)/);
    t.false(gone(target.pid));
    process.kill(target.pid, 'SIGUSR1');
    await until('PASS of the untouched process', () =>
      /^PASS$/m.test(readFileSync(target.out, 'utf8')),
    );
  });
}

test.serial('threadcaps: a thread with capabilities of its own is refused naming it', async (t) => {
  const target = await launch(t, 'threadcaps', [join(PROGS, 'fidelity'), 'threadcaps']);
  const image = join(scratch, 'threadcaps.img');
  const err = await t.throwsAsync(checkpoint(target.pid, image, { after: AFTER.kill }));
  t.regex(
    err.message,
    new RegExp(`pid ${target.pid} thread \\d+: its capabilities .* differ from the leader's`),
  );
  t.false(gone(target.pid));
  process.kill(target.pid, 'SIGUSR1');
  await until('PASS of the untouched process', () =>
    /^PASS$/m.test(readFileSync(target.out, 'utf8')),
  );
});

for (const mode of ['caps', 'prctl']) {
  for (const variant of ['fidelity', 'fidelity-static']) {
    test.serial(`${variant} ${mode}: comes back as it was (same pid)`, async (t) => {
      const target = await launch(t, `${variant}-${mode}`, [join(PROGS, variant), mode]);
      // uid 1000 reopens its stdout at restart, as it could have
      chmodSync(scratch, 0o755);
      chmodSync(target.out, 0o666);
      const image = join(scratch, `${variant}-${mode}.img`);
      await checkpoint(target.pid, image, { after: AFTER.kill });
      await until('killed', () => gone(target.pid));
      const rr = await restart(image);
      t.is(rr.pid, target.pid);
      await passes(t, rr, target.out);
    });
  }
}

test.serial('caps: its own user, without those capabilities, is refused the restart', async (t) => {
  const { target, image } = await checkpointedForUser(t, 'caps-user', asUserArgv('caps'));
  const rs = await userRestart(image);
  t.not(rs.code, 0, rs.stderr);
  t.regex(rs.stderr, /permitted capabilities 2420 are not all the restarting user's \(0\)/);
  t.notRegex(readFileSync(target.out, 'utf8'), /PASS|FAIL/, 'nothing of it ran again');
});

/** Exec argv with PR_MCE_KILL set to early in the calling thread first. */
const MCE_EARLY_EXEC = `import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(33, 1, 1, 0, 0):  # PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY
    raise OSError(ctypes.get_errno(), "PR_MCE_KILL")
os.execv(sys.argv[1], sys.argv[1:])`;

test.serial("prctl-none: a restarter's PR_MCE_KILL is not passed on", async (t) => {
  const target = await launch(t, 'prctl-none', [join(PROGS, 'fidelity'), 'prctl-none']);
  const image = join(scratch, 'prctl-none.img');
  await checkpoint(target.pid, image, { after: AFTER.kill });
  await until('killed', () => gone(target.pid));
  const child = spawn('python3', ['-c', MCE_EARLY_EXEC, join(BIN, 'cr_restart'), image], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  t.teardown(() => child.kill('SIGKILL'));
  await until(`restored ${target.pid} back in pause() (${stderr})`, () => {
    try {
      const status = readFileSync(`/proc/${target.pid}/status`, 'utf8');
      const call = readFileSync(`/proc/${target.pid}/syscall`, 'utf8');
      return /^TracerPid:\s+0$/m.test(status) && call.startsWith('34 ');
    } catch {
      return false;
    }
  });
  process.kill(target.pid, 'SIGUSR1');
  t.is(await exited, 0, `${readFileSync(target.out, 'utf8')}${stderr}`);
  t.regex(readFileSync(target.out, 'utf8'), /^PASS$/m);
});

test.serial(
  "bounding: a user's restart of a smaller bounding set is refused; root's drops to it",
  async (t) => {
    const { target, image } = await checkpointedForUser(t, 'bounding', asUserArgv('bounding'));
    const rs = await userRestart(image);
    t.not(rs.code, 0, rs.stderr);
    t.regex(
      rs.stderr,
      /capability bounding set [0-9a-f]+ lacks capabilities this restart's \([0-9a-f]+\) holds \([0-9a-f]+\), and only a holder of CAP_SETPCAP can drop them/,
    );
    t.notRegex(readFileSync(target.out, 'utf8'), /PASS|FAIL/, 'nothing of it ran again');
    t.false(existsSync(`/proc/${target.pid}`));
    const rr = await restart(image);
    t.is(rr.pid, target.pid);
    await passes(t, rr, target.out);
  },
);

test.serial(
  "bounding-child: a user's restart of a job whose child has a smaller bounding set is refused before anything is made",
  async (t) => {
    const { target, image } = await checkpointedForUser(
      t,
      'bounding-child',
      asUserArgv('bounding-child'),
      SCOPE.tree,
    );
    const rs = await userRestart(image);
    t.not(rs.code, 0, rs.stderr);
    t.regex(rs.stderr, /capability bounding set [0-9a-f]+ lacks capabilities this restart's/);
    // refused up front: not by capset in a half-made process
    t.notRegex(rs.stderr, /capset|PR_CAPBSET_DROP/);
    t.notRegex(readFileSync(target.out, 'utf8'), /PASS|FAIL/, 'nothing of it ran again');
  },
);

test.serial(
  "nodump: a user restarts their own non-dumpable process (root's checkpoint)",
  async (t) => {
    const [uid, gid] = [idOf('-u', USER), idOf('-g', USER)];
    const { target, image } = await checkpointedForUser(t, 'nodump', [
      'setpriv',
      `--reuid=${uid}`,
      `--regid=${gid}`,
      '--clear-groups',
      join(PROGS, 'fidelity'),
      'nodump',
    ]);
    chmodSync(scratch, 0o777); // USER's restart writes its pid file here
    const pidFile = join(scratch, 'nodump.pid');
    const rs = runCli('ckpt', ['restart', '--no-restore-pid', '--pid-file', pidFile, image], {
      asUser: USER,
      cwd: '/',
    });
    const pid = await until('restored (its pid file)', () => pidIn(pidFile));
    t.true(readFileSync(`/proc/${pid}/status`, 'utf8').includes(`Uid:\t${uid}\t`));
    process.kill(pid, 'SIGUSR1');
    const r = await rs;
    t.is(r.code, 0, `${r.stderr}${readFileSync(target.out, 'utf8')}`);
    t.regex(readFileSync(target.out, 'utf8'), /^PASS$/m);
  },
);
