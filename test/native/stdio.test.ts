/**
 * BLCR's stdio rule on real programs (issue 10): descriptors 0-2 that lead
 * outside the job (here pipes of a shell pipeline) come back from the
 * restarting command's own 0-2, and a restart's warnings go to the restarting
 * command's stderr, never into the restored program's own stderr (its log).
 *
 * The job is the middle `cat` of `tail -f /dev/null | cat | cat`, holding a
 * file open on fd 3 and its stderr in a log file. After `ckpt checkpoint
 * --kill`, the file is replaced (a warning at restart) and the job is
 * restarted inside `printf ... | ckpt restart IMG | cat > OUT`: the restored
 * cat must copy the new producer's bytes to the new consumer and end with it.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { REPO, until } from './harness.js';

const CKPT = join(REPO, 'bin', 'ckpt');
const run = promisify(execFile);

test('stdin and stdout pipes come from the restarting command; warnings go to its stderr', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-stdio-'));
  const held = join(dir, 'held');
  const joblog = join(dir, 'job.log');
  const pidfile = join(dir, 'pid');
  const img = join(dir, 'cat.ckpt');
  writeFileSync(held, 'old\n');
  const pipeline = `tail -f /dev/null | bash -c 'echo $$ > ${pidfile}; exec 3<${held} 2>${joblog}; exec cat' | cat > /dev/null`;
  spawn('setsid', ['-f', 'bash', '-c', pipeline], { stdio: 'ignore' });
  const pid = await until('the job pid', () => {
    const s = existsSync(pidfile) ? readFileSync(pidfile, 'utf8').trim() : '';
    return s && existsSync(`/proc/${s}/fd/3`) ? Number(s) : false;
  });
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  });

  const cp = await run(CKPT, ['checkpoint', '--kill', '-f', img, String(pid)]);
  t.regex(cp.stdout + cp.stderr, /checkpointed/);
  const info = JSON.parse((await run(CKPT, ['inspect', '--json', img])).stdout);
  const files = info.processes[0].files as { fd: number; kind: string }[];
  t.deepEqual(
    files.filter((f) => f.fd <= 1).map((f) => f.kind),
    ['stdio', 'stdio'],
    'fds 0 and 1 (pipes to other processes) are recorded as the restarter’s',
  );
  await until('the original gone', () => !existsSync(`/proc/${pid}`));

  // the held file is replaced: the restart warns (and reopens the new one)
  // (made before the old one goes, so it cannot get the old inode number)
  writeFileSync(`${held}.new`, 'new\n');
  renameSync(`${held}.new`, held);
  const out = join(dir, 'out');
  const err = join(dir, 'restart.err');
  const r = await run(
    'bash',
    [
      '-c',
      `printf 'hello\\nworld\\n' | ${CKPT} restart ${img} 2>${err} | cat > ${out}; echo "\${PIPESTATUS[1]}"`,
    ],
    { timeout: 30_000 },
  );
  t.is(r.stdout.trim(), '0', 'ckpt restart exits with the restored cat’s status');
  t.is(readFileSync(out, 'utf8'), 'hello\nworld\n', 'the restored cat copied the new stdin');
  const restartErr = readFileSync(err, 'utf8');
  t.regex(restartErr, /warning: .*held.* was replaced since the checkpoint/);
  t.notRegex(readFileSync(joblog, 'utf8'), /warning/, 'nothing of the restart in the job’s log');
});

test('stdout and stderr into one pipe (2>&1 | tee): both are the restarter’s, not refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-stdio2-'));
  const pidfile = join(dir, 'pid');
  const img = join(dir, 'cat.ckpt');
  const pipeline = `tail -f /dev/null | bash -c 'echo $$ > ${pidfile}; exec cat 2>&1' | cat > /dev/null`;
  spawn('setsid', ['-f', 'bash', '-c', pipeline], { stdio: 'ignore' });
  const pid = await until('the job pid', () => {
    const s = existsSync(pidfile) ? readFileSync(pidfile, 'utf8').trim() : '';
    return s && existsSync(`/proc/${s}/fd/2`) ? Number(s) : false;
  });
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  });
  await run(CKPT, ['checkpoint', '-f', img, String(pid)]);
  const info = JSON.parse((await run(CKPT, ['inspect', '--json', img])).stdout);
  const files = info.processes[0].files as { fd: number; kind: string; sharedWith?: number }[];
  t.deepEqual(
    files.filter((f) => f.fd <= 2).map((f) => [f.fd, f.kind, f.sharedWith ?? null]),
    [
      [0, 'stdio', null],
      [1, 'stdio', null],
      [2, 'stdio', 1],
    ],
  );
});
