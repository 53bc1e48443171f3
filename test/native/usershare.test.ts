/**
 * Issue 11 item 4 for a normal user (made here with useradd, no capability):
 * memory a parent and its child share comes back shared when that user
 * checkpoints and restarts their own job with `ckpt checkpoint` / `ckpt
 * restart --no-restore-pid` (a normal user cannot ask for pids). Each mode of
 * test/native/progs/share.c checks itself after the restart: a MAP_SHARED
 * anonymous counter (still "/dev/zero (deleted)" in /proc/self/maps), the same
 * counter moved by the child with mremap, a memfd both hold, a memfd the child
 * only maps, a POSIX shm object, a SysV segment removed with IPC_RMID. A
 * Python multiprocessing Pool(2) (its SemLock is a deleted /dev/shm file all
 * three processes map) finishes with the output of an uninterrupted run. A
 * memfd no process holds by a descriptor cannot be read without
 * CAP_CHECKPOINT_RESTORE: refused, named, the job runs on.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { runCli } from '../cli/run-cli.js';
import { idOf, useTestUser } from '../helpers/users.js';
import { PROGS, SRC, sleep, until } from './harness.js';

const USER = useTestUser(test, 'ckpts');
const gone = (pid: number) => !existsSync(`/proc/${pid}`);

/** A directory only USER may use. */
function userDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `ckpt-ushare-${name}-`));
  chmodSync(dir, 0o700);
  chownSync(dir, idOf('-u', USER), idOf('-u', USER));
  return dir;
}

/** Run argv as USER in a new session, stdout and stderr to `out` (USER's); the session id. */
async function startAsUser(
  t: ExecutionContext,
  dir: string,
  out: string,
  argv: string[],
  ready: () => number | false,
): Promise<number> {
  const fd = openSync(out, 'w');
  chownSync(out, idOf('-u', USER), idOf('-u', USER));
  spawn('setsid', ['-f', 'setpriv', '--reuid', USER, '--regid', USER, '--clear-groups', ...argv], {
    stdio: ['ignore', fd, fd],
    cwd: dir,
  });
  closeSync(fd);
  const pid = await until(`${argv[0]} started`, ready);
  t.teardown(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  });
  return pid;
}

/** ckpt restart --no-restore-pid as USER; resolves with its exit once the root is signalled. */
async function restartAsUser(dir: string, image: string, signal?: NodeJS.Signals) {
  const pidFile = join(dir, 'restored.pid');
  const done = runCli('ckpt', ['restart', '--no-restore-pid', '--pid-file', pidFile, image], {
    asUser: USER,
    cwd: dir,
    timeoutMs: 120_000,
  });
  if (signal) {
    const pid = await until('the restored pid', () =>
      existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) || false : false,
    );
    process.kill(pid, signal);
  }
  return done;
}

const modes = ['shm', 'moved', 'memfd', 'memfdmap', 'posix', 'sysv'];
for (const mode of modes) {
  test.serial(
    `a normal user's ${mode} shared by a parent and its child comes back shared`,
    async (t) => {
      const dir = userDir(mode);
      const out = join(dir, 'share.out');
      const pid = await startAsUser(t, dir, out, [join(PROGS, 'share'), mode, dir], () => {
        const m = /READY (\d+)/.exec(readFileSync(out, 'utf8'));
        return m ? Number(m[1]) : false;
      });
      const image = join(dir, 'share.img');
      const cp = await runCli('ckpt', ['checkpoint', '--kill', '-f', image, String(pid)], {
        asUser: USER,
        cwd: dir,
      });
      t.is(cp.code, 0, cp.stderr);
      t.regex(cp.stdout, /checkpointed/);
      await until('killed and reaped', () => gone(pid));
      const rs = await restartAsUser(dir, image, 'SIGUSR1');
      const text = readFileSync(out, 'utf8');
      t.is(rs.code, 0, `${rs.stderr}\n${text}`);
      t.regex(text, /^PASS$/m, text);
      t.notRegex(text, /FAIL/);
    },
  );
}

test.serial(
  "a normal user's memfd that no process holds by a descriptor is refused, named; the job runs on",
  async (t) => {
    const dir = userDir('memfdonly');
    const out = join(dir, 'share.out');
    const pid = await startAsUser(t, dir, out, [join(PROGS, 'share'), 'memfdonly', dir], () => {
      const m = /READY (\d+)/.exec(readFileSync(out, 'utf8'));
      return m ? Number(m[1]) : false;
    });
    const cp = await runCli(
      'ckpt',
      ['checkpoint', '--kill', '-f', join(dir, 'share.img'), String(pid)],
      { asUser: USER, cwd: dir },
    );
    t.not(cp.code, 0);
    t.regex(
      cp.stderr,
      /pid \d+ mapping 0x[0-9a-f]+-0x[0-9a-f]+ \(\/memfd:share \(deleted\)\).*by no descriptor.*CAP_CHECKPOINT_RESTORE/,
    );
    t.false(existsSync(join(dir, 'share.img')), 'no image');
    await sleep(100);
    t.false(gone(pid), 'the job keeps running after the refusal');
  },
);

test.serial(
  "a normal user's Python multiprocessing Pool(2), interrupted, same output",
  async (t) => {
    const script = join(SRC, 'pool.py');
    const ref = execFileSync('python3', [script, '3000'], { encoding: 'utf8' });
    const dir = userDir('pool');
    const out = join(dir, 'pool.out');
    const pidFile = join(dir, 'pool.pid');
    // stdout alone in `out`: with new pids, multiprocessing's atexit hook finds its
    // recorded parent pid changed and says so on stderr (not memory: see below)
    const pid = await startAsUser(
      t,
      dir,
      join(dir, 'pool.err'),
      ['bash', '-c', `echo $$ > ${pidFile}; exec python3 ${script} 3000 > ${out}`],
      () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) || false : false),
    );
    await until('the pool under way', () => existsSync(out) && readFileSync(out).length > 4096);
    const image = join(dir, 'pool.img');
    const cp = await runCli('ckpt', ['checkpoint', '--kill', '-f', image, String(pid)], {
      asUser: USER,
      cwd: dir,
    });
    t.is(cp.code, 0, cp.stderr);
    await until('killed and reaped', () => gone(pid));
    const shown = await runCli('ckpt', ['inspect', '--json', image], { asUser: USER, cwd: dir });
    t.is(shown.code, 0, shown.stderr);
    const sem = shown.stdout.match(/\/dev\/shm\/sem\.[^"]* \(deleted\)/g) ?? [];
    t.true(sem.length >= 3, `the SemLock is mapped by the parent and both workers: ${sem.length}`);
    const rs = await restartAsUser(dir, image);
    const got = readFileSync(out, 'utf8');
    t.is(rs.code, 0, `${rs.stderr}\n${readFileSync(join(dir, 'pool.err'), 'utf8')}`);
    t.true(
      got.length > 0 && got === ref,
      `output differs (${got.length} bytes, want ${ref.length})`,
    );
    t.log(
      `stderr of the restarted pool: ${readFileSync(join(dir, 'pool.err'), 'utf8').slice(-200)}`,
    );
  },
);
