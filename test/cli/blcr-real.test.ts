/**
 * Every BLCR option of docs/blcr-compatibility.md that blcr-engine.test.ts does
 * not already run, exercised on real processes (the parse-level checks are in
 * blcr-options.test.ts): what each one does to the target, the image, the
 * restored process and the exit status.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { BIN, isOneLineError, runCli } from './run-cli.js';
import { advancing, COUNTER, count, isImage, procState, sleep, startCounter } from './targets.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-blcr-real-'));

test.serial(
  'cr_checkpoint --atomic/--clobber/--sync/--nosync/--save-none/--run/--cont/-t/-q: an image, the target keeps running',
  async (t) => {
    const target = startCounter(join(scratch, 'opts'));
    t.teardown(() => target.proc.kill('SIGKILL'));
    await count(target.countFile);
    for (const opts of [
      ['--atomic'],
      ['--clobber'],
      ['--sync'],
      ['--nosync'],
      ['--save-none'],
      ['--run'],
      ['--cont'],
      ['-t', '30'],
      ['-q'],
    ]) {
      const file = join(scratch, 'opts', `ctx${opts.join('')}`);
      const r = await runCli('cr_checkpoint', [...opts, '-f', file, String(target.pid)]);
      t.is(r.code, 0, `${opts.join(' ')}: ${r.stderr}`);
      t.is(r.stdout + r.stderr, '', `${opts.join(' ')}: quiet on success`);
      t.true(isImage(file), opts.join(' '));
      t.true(await advancing(target.countFile), `${opts.join(' ')}: still running`);
    }
    const verbose = await runCli('cr_checkpoint', [
      '-v',
      '-f',
      join(scratch, 'opts', 'v'),
      String(target.pid),
    ]);
    t.is(verbose.code, 0, verbose.stderr);
    t.regex(verbose.stderr, /\d/, '-v reports size and times');
  },
);

test.serial(
  'cr_checkpoint -S/--signal, --term, --abort: the signal once the image is saved',
  async (t) => {
    for (const [opts, sig] of [
      [['-S', 'USR1'], 'SIGUSR1'],
      [['--signal', '12'], 'SIGUSR2'],
      [['--term'], 'SIGTERM'],
      [['--abort'], 'SIGABRT'],
    ] as const) {
      const target = startCounter(join(scratch, `sig${sig}`));
      t.teardown(() => target.proc.kill('SIGKILL'));
      await count(target.countFile);
      const file = join(scratch, `sig${sig}`, 'ctx');
      const r = await runCli('cr_checkpoint', [...opts, '-f', file, String(target.pid)]);
      t.is(r.code, 0, r.stderr);
      await target.exited;
      t.is(target.proc.signalCode, sig, opts.join(' '));
      t.true(isImage(file), `${opts.join(' ')}: the image was saved first`);
    }
  },
);

test.serial(
  'cr_checkpoint --ptraced-error/--ptracer-error (defaults): a traced target and its tracer are refused',
  async (t) => {
    const target = startCounter(join(scratch, 'traced'));
    t.teardown(() => target.proc.kill('SIGKILL'));
    await count(target.countFile);
    const tracer = spawn('strace', ['-q', '-o', '/dev/null', '-p', String(target.pid)], {
      stdio: 'ignore',
    });
    t.teardown(() => tracer.kill('SIGKILL'));
    for (
      let i = 0;
      i < 100 && !/TracerPid:\s+[1-9]/.test(readFileSync(`/proc/${target.pid}/status`, 'utf8'));
      i++
    )
      await sleep(20);
    for (const opts of [[], ['--ptraced-error']]) {
      const r = await runCli('cr_checkpoint', [
        ...opts,
        '-f',
        join(scratch, 'traced', 'ctx'),
        String(target.pid),
      ]);
      t.not(r.code, 0);
      t.true(isOneLineError(r, 'cr_checkpoint'), r.stderr);
      t.regex(r.stderr, new RegExp(`already (being )?traced by (process )?${tracer.pid}`));
    }
    t.false(existsSync(join(scratch, 'traced', 'ctx')));
    // --ptracer-error (default): the tracer itself is refused too, naming its tracee
    for (const opts of [[], ['--ptracer-error']]) {
      const r = await runCli('cr_checkpoint', [
        ...opts,
        '-f',
        join(scratch, 'traced', 'tracer'),
        String(tracer.pid),
      ]);
      t.not(r.code, 0);
      t.true(isOneLineError(r, 'cr_checkpoint'), r.stderr);
      t.regex(r.stderr, new RegExp(`is tracing process ${target.pid}`));
    }
    tracer.kill('SIGKILL');
    await new Promise((r) => tracer.on('exit', r));
    t.true(await advancing(target.countFile), 'the target runs on');
  },
);

test.serial(
  'cr_checkpoint -g/--pgid and -s/--sid reach the engine: a group or session with no process is named',
  async (t) => {
    for (const opt of ['-g', '--pgid', '-s', '--sid']) {
      const r = await runCli('cr_checkpoint', [opt, '-f', join(scratch, 'scope-ctx'), '3999999']);
      t.not(r.code, 0, opt);
      t.true(isOneLineError(r, 'cr_checkpoint'), r.stderr);
      t.regex(r.stderr, /no process in (process group|session) 3999999|no process 3999999/, opt);
    }
  },
);

test.serial(
  'cr_restart -f FILE, --restore-pgid/--restore-sid, --run/--cont, -S NUM, -q/-v',
  async (t) => {
    const dir = join(scratch, 'rs');
    const target = startCounter(dir, 100_000);
    t.teardown(() => target.proc.kill('SIGKILL'));
    await count(target.countFile);
    const file = join(dir, 'ctx');
    t.is((await runCli('cr_checkpoint', ['--kill', '-f', file, String(target.pid)])).code, 0);
    await target.exited;
    const recorded = target.pid; // the counter's pgid and sid are the test's
    const stat = (pid: number) =>
      readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ourPgid = Number(stat(process.pid)[2]);
    const ourSid = Number(stat(process.pid)[3]);
    // -f FILE, --restore-pgid, --restore-sid, --run, -v: restored, pgid/sid as recorded
    for (const opts of [['--restore-pgid'], ['--run'], ['--cont'], ['-q'], ['-v']]) {
      writeFileSync(join(dir, 'count'), '0\n'); // the restored counter rewrites it
      const child = spawn(`${BIN}/cr_restart`, [...opts, '--no-restore-pid', '-f', file], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      t.teardown(() => child.kill('SIGKILL'));
      let err = '';
      child.stderr?.on('data', (d) => {
        err += d;
      });
      const marker = join(dir, 'count');
      let before = 0;
      for (let i = 0; i < 200 && before === 0; i++) {
        before = await count(marker);
        if (before === 0) await sleep(20);
      }
      await sleep(300);
      t.true((await count(marker)) > before, `${opts.join(' ')}: restored and counting`);
      const pid = Number(execFileSync('pgrep', ['-n', '-f', marker]).toString().trim());
      const [, , pgid, sid] = stat(pid).map(Number);
      if (opts[0] === '--restore-pgid') t.is(pgid, ourPgid, '--restore-pgid: the recorded group');
      t.is(sid, ourSid, `${opts.join(' ')}: in the restarter's session`);
      process.kill(pid, 'SIGKILL');
      const code = await new Promise((r) => child.on('exit', (c) => r(c)));
      t.is(code, 137, `${opts.join(' ')}: cr_restart exits with the restored status`);
      if (opts[0] === '-q') t.is(err, '', '-q: nothing on stderr');
      if (opts[0] === '-v') t.not(err.trim(), '', '-v: says what it restored');
    }
    t.truthy(recorded);
    // --restore-sid: a session leader (started with setsid) comes back leading its session
    const leaderDir = join(scratch, 'leader');
    execFileSync('mkdir', ['-p', leaderDir]);
    const leaderCount = join(leaderDir, 'count');
    execFileSync('setsid', ['-f', COUNTER, leaderCount, '100000'], { stdio: 'ignore' });
    await count(leaderCount);
    const leader = Number(execFileSync('pgrep', ['-n', '-f', leaderCount]).toString().trim());
    t.is(stat(leader)[3], String(leader), 'a session leader before');
    const leaderImage = join(leaderDir, 'ctx');
    t.is((await runCli('cr_checkpoint', ['--kill', '-f', leaderImage, String(leader)])).code, 0);
    for (let i = 0; i < 200 && existsSync(`/proc/${leader}`); i++) await sleep(20);
    const sidChild = spawn(`${BIN}/cr_restart`, ['--restore-sid', leaderImage], {
      stdio: 'ignore',
    });
    t.teardown(() => sidChild.kill('SIGKILL'));
    for (let i = 0; i < 200 && !existsSync(`/proc/${leader}`); i++) await sleep(20);
    await sleep(200);
    t.is(stat(leader)[3], String(leader), '--restore-sid: it leads its own session again');
    process.kill(leader, 'SIGKILL');
    await new Promise((r) => sidChild.on('exit', r));
    // -S NUM: the signal once restored (USR1 ends the counter: 128+10)
    const sig = await runCli('cr_restart', ['-S', '10', '--no-restore-pid', file]);
    t.is(sig.code, 138, sig.stderr);
  },
);

test.serial(
  'cr_restart --run-on-fail-args/-temp/-env/-perm: the hook that matches the failure runs',
  async (t) => {
    const dir = join(scratch, 'fail');
    const target = startCounter(dir, 100_000);
    t.teardown(() => target.proc.kill('SIGKILL'));
    await count(target.countFile);
    const file = join(dir, 'ctx');
    t.is((await runCli('cr_checkpoint', ['-f', file, String(target.pid)])).code, 0);
    const corrupt = join(dir, 'corrupt');
    const bytes = readFileSync(file);
    bytes[300] = (bytes[300] as number) ^ 0xff;
    writeFileSync(corrupt, bytes);
    const hooks = (tag: string) => [
      `--run-on-fail-args=echo args > ${join(dir, tag)}`,
      `--run-on-fail-temp=echo temp > ${join(dir, tag)}`,
      `--run-on-fail-env=echo env > ${join(dir, tag)}`,
      `--run-on-fail-perm=echo perm > ${join(dir, tag)}`,
    ];
    const cases: [string, string[], string][] = [
      ['a', ['--no-such-option', file], 'args'],
      ['b', [file], 'temp'], // the original still runs: its PID is taken
      ['c', [join(dir, 'missing')], 'env'],
      ['d', [corrupt], 'perm'],
    ];
    for (const [tag, args, want] of cases) {
      const r = await runCli('cr_restart', [...hooks(tag), ...args]);
      t.not(r.code, 0, `${want}: fails`);
      t.is(readFileSync(join(dir, tag), 'utf8'), `${want}\n`, `${want}: ${r.stderr}`);
    }
    t.is(procState(target.pid) === 'T', false);
  },
);
