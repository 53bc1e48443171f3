/**
 * Issue 11 item 4 through the daemon: a normal user's job of a parent and its child
 * sharing memory (a MAP_SHARED anonymous counter; a memfd the child only maps) is
 * attached, checkpointed with --kill and restarted by that user through the local
 * socket; the tree comes back with the same PIDs and checks itself
 * (test/native/progs/share.c prints PASS). Before, the daemon's restart (run with the
 * owner's filesystem ids) failed opening the first holder's /proc/PID/map_files (EACCES).
 * The memfd the child only maps is read at checkpoint in the daemon's process, on a koffi
 * worker thread with a small stack (a crash there kills the daemon: SIGSEGV).
 */
import { spawn } from 'node:child_process';
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
import { natsServer } from '../helpers/nats.js';
import { idOf, useTestUser } from '../helpers/users.js';
import { ckptAs, REPO, startDaemon, until } from './fixture.js';

const SHARE = join(REPO, 'native', 'build', 'progs', 'share');
const USER = useTestUser(test, 'ckptd');

test("a user's job sharing memory between parent and child comes back shared through the daemon", async (t) => {
  const server = await natsServer(t);
  const d = await startDaemon(t, { url: server.url, node: 'ushare' });
  const sd = ['--state-dir', d.stateDir];
  for (const mode of ['shm', 'memfdmap']) {
    const dir = mkdtempSync(join(tmpdir(), `ckpt-dshare-${mode}-`));
    chmodSync(dir, 0o755);
    chownSync(dir, idOf('-u', USER), idOf('-g', USER));
    const out = join(dir, 'share.out');
    const fd = openSync(out, 'w');
    chownSync(out, idOf('-u', USER), idOf('-g', USER));
    spawn(
      'setsid',
      ['-f', 'setpriv', '--reuid', USER, '--regid', USER, '--clear-groups', SHARE, mode, dir],
      { stdio: ['ignore', fd, fd], cwd: dir },
    );
    closeSync(fd);
    const pid = await until(`${mode} READY`, () => {
      const m = /READY (\d+)/.exec(readFileSync(out, 'utf8'));
      return m ? Number(m[1]) : undefined;
    });
    t.teardown(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {}
    });
    const job = `s${mode}`;
    const a = await ckptAs(USER, ['attach', '--job', job, ...sd, String(pid)]);
    t.is(a.code, 0, a.stderr);
    const cp = await ckptAs(USER, ['checkpoint', '--job', job, '--kill', '--json', ...sd]);
    t.is(cp.code, 0, `${cp.stderr}\n${d.stderr().slice(-1500)}`);
    await until(`${mode} gone`, () => !existsSync(`/proc/${pid}`));
    const rs = await ckptAs(USER, ['restart', '--job', job, '--json', ...sd]);
    t.is(rs.code, 0, rs.stderr);
    t.is(JSON.parse(rs.stdout).pid, pid, 'the same PID');
    process.kill(pid, 'SIGUSR1');
    const text = await until(`${mode} checked itself`, () => {
      const s = readFileSync(out, 'utf8');
      return /^(PASS|FAIL.*)$/m.test(s) ? s : undefined;
    });
    t.regex(text, /^PASS$/m, `${mode}: ${text}`);
    t.notRegex(text, /FAIL/, mode);
  }
});
