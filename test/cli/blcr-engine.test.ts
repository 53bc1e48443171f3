/**
 * The BLCR-compatible commands on real processes, through libckpt (built by the
 * test command's set-up; these tests are not skipped when it is missing).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { BIN, isOneLineError, runCli } from './run-cli.js';
import { advancing, count, isImage, procState, sleep, startCounter } from './targets.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-blcr-'));

const engineTest = test.serial;

// ---------------------------------------------------------------- cr_run

test('cr_run runs the program under its own PID with its stdio and exits with its status', async (t) => {
  const child = spawn(
    `${BIN}/cr_run`,
    ['sh', '-c', 'echo "pid $$"; read line; echo "got $line" >&2; exit 5'],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  child.stdin.end('hello\n');
  const code = await new Promise((resolve) => child.on('close', resolve));
  t.is(code, 5);
  t.is(out, `pid ${child.pid}\n`, "the program has cr_run's PID (exec, not a child)");
  t.is(err, 'got hello\n');
});

test('cr_run passes inherited descriptors and default signal dispositions on', async (t) => {
  const file = join(scratch, 'fd3.txt');
  const fd = openSync(file, 'w');
  const r = await runCli('cr_run', ['sh', '-c', 'echo via-fd3 >&3; grep SigIgn /proc/$$/status'], {
    stdio3: fd,
  });
  t.is(r.code, 0, r.stderr);
  t.is(readFileSync(file, 'utf8'), 'via-fd3\n');
  t.regex(r.stdout, /^SigIgn:\s+0+$/m, 'Node ignores SIGPIPE/SIGXFSZ; the program must not');
});

test('cr_run: a program killed by a signal, options after the program, not found', async (t) => {
  const killed = await runCli('cr_run', ['sh', '-c', 'kill -TERM $$']);
  t.is(killed.signal, 'SIGTERM');
  const opts = await runCli('cr_run', ['sh', '-c', 'echo "$@"', 'sh', '--help', '-x']);
  t.is(opts.stdout, '--help -x\n', 'options after PROGRAM belong to it');
  const missing = await runCli('cr_run', ['no-such-program-here']);
  t.is(missing.code, 127);
  t.true(isOneLineError(missing, 'cr_run'), missing.stderr);
});

// ---------------------------------------------------------------- checkpoint/restart

engineTest('cr_checkpoint -f FILE: an image, the process keeps running', async (t) => {
  const target = startCounter(join(scratch, 'f'));
  t.teardown(() => target.proc.kill('SIGKILL'));
  await count(target.countFile);
  const file = join(scratch, 'f', 'ctx');
  const r = await runCli('cr_checkpoint', ['-f', file, String(target.pid)]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout + r.stderr, '', 'BLCR prints nothing on success');
  t.true(isImage(file));
  t.true(await advancing(target.countFile));
});

engineTest('cr_checkpoint --backup twice keeps FILE.~1~ and FILE.~2~', async (t) => {
  const target = startCounter(join(scratch, 'b'));
  t.teardown(() => target.proc.kill('SIGKILL'));
  const file = join(scratch, 'b', 'ctx');
  for (let i = 0; i < 3; i++) {
    const r = await runCli('cr_checkpoint', ['--backup', '-f', file, String(target.pid)]);
    t.is(r.code, 0, r.stderr);
  }
  t.true(isImage(file));
  t.true(isImage(`${file}.~1~`));
  t.true(isImage(`${file}.~2~`));
  t.false(existsSync(`${file}.~3~`));
  const named = await runCli('cr_checkpoint', [
    `--backup=${join(scratch, 'b', 'old')}`,
    '-f',
    file,
    String(target.pid),
  ]);
  t.is(named.code, 0, named.stderr);
  t.true(isImage(join(scratch, 'b', 'old')));
});

engineTest('cr_checkpoint --stop leaves the process stopped; --kill kills it', async (t) => {
  const target = startCounter(join(scratch, 's'));
  t.teardown(() => target.proc.kill('SIGKILL'));
  await count(target.countFile);
  const stop = await runCli('cr_checkpoint', [
    '--stop',
    '-f',
    join(scratch, 's', 'ctx'),
    String(target.pid),
  ]);
  t.is(stop.code, 0, stop.stderr);
  t.is(procState(target.pid), 'T');
  t.false(await advancing(target.countFile));
  process.kill(target.pid, 'SIGCONT');
  t.true(await advancing(target.countFile));
  const kill = await runCli('cr_checkpoint', [
    '--kill',
    '-f',
    join(scratch, 's', 'ctx2'),
    String(target.pid),
  ]);
  t.is(kill.code, 0, kill.stderr);
  t.is(await target.exited, -1, 'killed by a signal');
  t.true(isImage(join(scratch, 's', 'ctx2')));
});

engineTest("cr_checkpoint -F FD and -c (context.PID in the target's cwd)", async (t) => {
  const dir = join(scratch, 'c');
  const target = startCounter(dir);
  t.teardown(() => target.proc.kill('SIGKILL'));
  const viaFd = join(scratch, 'via-fd');
  const fd = openSync(viaFd, 'w');
  const r = await runCli('cr_checkpoint', ['-F', '3', String(target.pid)], { stdio3: fd });
  t.is(r.code, 0, r.stderr);
  t.true(isImage(viaFd));
  const c = await runCli('cr_checkpoint', ['-c', String(target.pid)], { cwd: '/' });
  t.is(c.code, 0, c.stderr);
  t.true(isImage(join(dir, `context.${target.pid}`)));
  const dflt = await runCli('cr_checkpoint', ['-p', String(target.pid)], { cwd: scratch });
  t.is(dflt.code, 0, dflt.stderr);
  t.true(isImage(join(scratch, `context.${target.pid}`)));
});

engineTest(
  'cr_restart restores the PID, continues the count and exits with its status',
  async (t) => {
    const target = startCounter(join(scratch, 'r'), 150);
    const file = join(scratch, 'r', 'ctx');
    await count(target.countFile);
    const r = await runCli('cr_checkpoint', ['--kill', '-f', file, String(target.pid)]);
    t.is(r.code, 0, r.stderr);
    await target.exited;
    const at = await count(target.countFile);
    const restart = await runCli('cr_restart', [file]);
    t.is(restart.code, 7, restart.stderr);
    t.is(await count(target.countFile), 150);
    t.true(at < 150);
  },
);

engineTest('cr_restart --no-restore-pid while the original still runs', async (t) => {
  const target = startCounter(join(scratch, 'n'), 100_000);
  t.teardown(() => target.proc.kill('SIGKILL'));
  const file = join(scratch, 'n', 'ctx');
  t.is((await runCli('cr_checkpoint', ['-f', file, String(target.pid)])).code, 0);
  const taken = await runCli('cr_restart', [file]);
  t.not(taken.code, 0);
  t.true(isOneLineError(taken, 'cr_restart'), taken.stderr);
  t.regex(taken.stderr, /PID|pid/);
  const child = spawn(`${BIN}/cr_restart`, ['--no-restore-pid', '--kill', file], {
    stdio: 'ignore',
  });
  const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
  t.is(code, 137, 'restored, then killed by --kill: 128+9');
});

engineTest('cr_restart --relocate OLD=NEW reopens the file at its new path', async (t) => {
  const dirA = join(scratch, 'relocA');
  const dirB = join(scratch, 'relocB');
  const target = startCounter(dirA, 200);
  await count(target.countFile);
  const file = join(scratch, 'reloc.ctx');
  t.is((await runCli('cr_checkpoint', ['--kill', '-f', file, String(target.pid)])).code, 0);
  await target.exited;
  renameSync(dirA, dirB);
  const restart = await runCli('cr_restart', ['--relocate', `${dirA}=${dirB}`, file]);
  t.is(restart.code, 7, restart.stderr);
  t.is(await count(join(dirB, 'count')), 200);
  t.false(existsSync(dirA));
});

engineTest('cr_restart --stop, --run-on-success and --run-on-failure', async (t) => {
  const target = startCounter(join(scratch, 'h'), 100_000);
  t.teardown(() => target.proc.kill('SIGKILL'));
  const file = join(scratch, 'h', 'ctx');
  t.is((await runCli('cr_checkpoint', ['-f', file, String(target.pid)])).code, 0);
  const marker = join(scratch, 'h', 'success');
  const child = spawn(
    `${BIN}/cr_restart`,
    ['--no-restore-pid', '--stop', `--run-on-success=echo $CR_RESTART_PID > ${marker}`, file],
    {
      stdio: 'ignore',
    },
  );
  t.teardown(() => child.kill('SIGKILL'));
  for (let i = 0; i < 200 && !existsSync(marker); i++) await sleep(20);
  const pid = Number(readFileSync(marker, 'utf8'));
  t.is(procState(pid), 'T', '--stop leaves the restored process stopped');
  process.kill(pid, 'SIGKILL');
  const failed = join(scratch, 'h', 'failed');
  const r = await runCli('cr_restart', [
    `--run-on-failure=echo "$CR_RESTART_FAILURE" > ${failed}`,
    join(scratch, 'h', 'missing'),
  ]);
  t.not(r.code, 0);
  t.is(readFileSync(failed, 'utf8'), 'env\n');
});

engineTest('ckpt checkpoint / inspect / restart round trip', async (t) => {
  const target = startCounter(join(scratch, 'k'), 120);
  const file = join(scratch, 'k', 'ctx');
  await count(target.countFile);
  const cp = await runCli('ckpt', [
    'checkpoint',
    '--kill',
    '--json',
    '-f',
    file,
    String(target.pid),
  ]);
  t.is(cp.code, 0, cp.stderr);
  const summary = JSON.parse(cp.stdout);
  t.is(summary.image, file);
  t.is(summary.bytes, statSync(file).size);
  await target.exited;
  const text = await runCli('ckpt', ['inspect', file]);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /checksums: all \d+ verified ok/);
  const json = await runCli('ckpt', ['inspect', '--json', file]);
  t.is(json.code, 0);
  t.is(typeof JSON.parse(json.stdout), 'object');
  const rs = await runCli('ckpt', ['restart', file]);
  t.is(rs.code, 7, rs.stderr);
  t.is(await count(target.countFile), 120);
});
