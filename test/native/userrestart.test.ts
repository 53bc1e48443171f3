/**
 * Issue 12 item 4: a normal user (made here with useradd) checkpoints and
 * restarts their own counter with --no-restore-pid, without any privilege;
 * the restored process has exactly the user's credentials. The same user
 * restarting root's image is refused, naming the uid it would have gained.
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
import test from 'ava';
import { runCli } from '../cli/run-cli.js';
import { idOf, useTestUser } from '../helpers/users.js';
import { REPO, sleep } from './harness.js';

const COUNTER = join(REPO, 'native', 'build', 'progs', 'counter');
const USER = useTestUser(test, 'ckptu');

function idsOf(pid: number): { Uid: string; Gid: string; Groups: string } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string) => new RegExp(`^${k}:[ \\t]*(.*)$`, 'm').exec(s)?.[1]?.trim() ?? '';
  return { Uid: get('Uid'), Gid: get('Gid'), Groups: get('Groups') };
}

/** Start the counter as `user` (or root), detached; its pid. */
async function startCounter(dir: string, name: string, user?: string): Promise<number> {
  const out = join(dir, `${name}.out`);
  const fd = openSync(out, 'w');
  if (user) chownSync(out, idOf('-u', user), idOf('-u', user));
  const pre = user ? ['setpriv', '--reuid', user, '--regid', user, '--clear-groups'] : [];
  spawn('setsid', ['-f', ...pre, COUNTER, join(dir, `${name}.lines`)], {
    stdio: ['ignore', fd, fd],
    cwd: dir,
  });
  closeSync(fd);
  for (let i = 0; i < 500; i++) {
    const m = /READY (\d+)/.exec(readFileSync(out, 'utf8'));
    if (m) return Number(m[1]);
    await sleep(20);
  }
  throw new Error(`${name} never printed READY: ${readFileSync(out, 'utf8')}`);
}

test.serial('a normal user checkpoints and restarts their own counter (fresh PID)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-user-'));
  chmodSync(dir, 0o700);
  chownSync(dir, idOf('-u', USER), idOf('-u', USER));
  const pid = await startCounter(dir, 'mine', USER);
  const before = idsOf(pid);
  const uid = String(idOf('-u', USER));
  t.is(before.Uid, [uid, uid, uid, uid].join('\t'));
  const image = join(dir, 'mine.img');
  const cp = await runCli('cr_checkpoint', ['--kill', '-f', image, String(pid)], {
    asUser: USER,
    cwd: dir,
  });
  t.is(cp.code, 0, cp.stderr);
  for (let i = 0; i < 200 && existsSync(`/proc/${pid}`); i++) await sleep(10);
  const done = runCli('cr_restart', ['--no-restore-pid', image], {
    asUser: USER,
    cwd: dir,
    timeoutMs: 60_000,
  });
  let restored = 0;
  for (let i = 0; i < 500 && !restored; i++) {
    await sleep(20);
    try {
      const found = execFileSync('pgrep', ['-u', USER, '-x', 'counter'], { encoding: 'utf8' });
      restored = Number(found.trim().split('\n')[0]);
    } catch {}
  }
  t.true(restored > 0, 'the restored counter runs');
  if (restored) {
    const after = idsOf(restored);
    t.deepEqual(after, before, "the restored process has exactly the user's credentials");
    process.kill(restored, 'SIGUSR1');
  }
  const rs = await done;
  t.is(rs.code, 0, rs.stderr);
  t.regex(readFileSync(join(dir, 'mine.out'), 'utf8'), /^PASS$/m);
});

test.serial("a normal user restarting root's image is refused, naming the uid", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-user-root-'));
  chmodSync(dir, 0o755);
  const pid = await startCounter(dir, 'roots');
  const image = join(dir, 'roots.img');
  const cp = await runCli('cr_checkpoint', ['--kill', '-f', image, String(pid)]);
  t.is(cp.code, 0, cp.stderr);
  chmodSync(image, 0o644);
  for (let i = 0; i < 200 && existsSync(`/proc/${pid}`); i++) await sleep(10);
  const rs = await runCli('cr_restart', ['--no-restore-pid', image], { asUser: USER, cwd: '/' });
  t.not(rs.code, 0);
  t.regex(rs.stderr, /uid 0 .*not the restarting user's/, rs.stderr);
  t.false(existsSync(`/proc/${pid}`), 'nothing of root runs again');
});
