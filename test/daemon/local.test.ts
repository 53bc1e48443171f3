/**
 * A new user's path with the daemon's own nats-server (no bus URL anywhere):
 * every verb finds the local daemon through STATE-DIR/daemon.json, the server
 * keeps its port across daemon restarts (and says so when it cannot), `ckpt
 * run` registers even a program that exits at once and exits with its status,
 * resume/detach work, and a daemon of another node name does not take over
 * the jobs. Real bin/ckpt, real daemon, real nats-server, real processes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { type CliResult, isOneLineError, runCli } from '../cli/run-cli.js';
import { CKPT, lineCount, linesProgram, sleep, until } from './fixture.js';

interface Local {
  proc: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
  info(): { url: string; node: string; pid: number };
}

/** The environment of a user with nothing configured but the state directory. */
function userEnv(stateDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CKPT_STATE_DIR: stateDir };
  for (const k of ['CKPT_BUS_URL', 'CKPT_NODE', 'CKPT_BUS_PREFIX', 'CKPT_DEBUG']) delete env[k];
  return env;
}

/** `ckpt daemon --node NODE` with no bus URL; resolves once its daemon.json is written. */
async function startLocal(t: ExecutionContext, stateDir: string, node: string): Promise<Local> {
  const proc = spawn(CKPT, ['daemon', '--node', node, '--metrics-port', '-1'], {
    env: userEnv(stateDir),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr?.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const file = join(stateDir, 'daemon.json');
  const info = () => JSON.parse(readFileSync(file, 'utf8'));
  await Promise.race([
    until('daemon.json', () => existsSync(file) && info().pid === proc.pid, 30_000),
    exited.then((code) => {
      throw new Error(`daemon exited (${code}) at start: ${err}`);
    }),
  ]);
  return { proc, stderr: () => err, exited, info };
}

async function stopLocal(d: Local): Promise<void> {
  d.proc.kill('SIGTERM');
  await d.exited;
}

const ckpt = (stateDir: string, args: string[], timeoutMs = 30_000): Promise<CliResult> =>
  runCli('ckpt', args, { env: userEnv(stateDir) as Record<string, string>, timeoutMs });

interface JobView {
  id: string;
  node: string;
  pid: number;
  state: string;
}

async function jobsOf(stateDir: string, node?: string): Promise<JobView[]> {
  const r = await ckpt(stateDir, ['jobs', '--json', ...(node ? ['--node', node] : [])]);
  if (r.code !== 0) throw new Error(`ckpt jobs: ${r.code} ${r.stderr}`);
  return JSON.parse(r.stdout) as JobView[];
}

async function untilJob(stateDir: string, id: string, state: string): Promise<JobView> {
  const end = Date.now() + 15_000;
  for (;;) {
    const job = (await jobsOf(stateDir)).find((j) => j.id === id);
    if (job?.state === state) return job;
    if (Date.now() > end) throw new Error(`job ${id} not ${state}: ${JSON.stringify(job)}`);
    await sleep(200);
  }
}

test.serial(
  'every verb finds the local daemon with no --bus; ckpt run keeps the status',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-local-'));
    const d = await startLocal(t, dir, 'loc1');
    t.regex(d.info().url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    t.notRegex(d.stderr(), /pkill/, 'the banner suggests ckpt commands, not pkill');
    t.regex(d.stderr(), /bin\/ckpt checkpoint --job demo --kill/);

    // ckpt run: a program that exits at once is registered, then marked exited
    const ok = await ckpt(dir, ['run', '--job', 'quick', '--', '/bin/true']);
    t.is(ok.code, 0, ok.stderr);
    const seven = await ckpt(dir, ['run', '--job', 'seven', '--', 'sh', '-c', 'exit 7']);
    t.is(seven.code, 7, seven.stderr);
    t.like(await untilJob(dir, 'quick', 'exited'), { node: 'loc1' });
    t.like(await untilJob(dir, 'seven', 'exited'), { node: 'loc1' });
    const missing = await ckpt(dir, ['run', '--job', 'nope', '--', '/no/such/program']);
    t.is(missing.code, 127);
    t.true(isOneLineError(missing, 'ckpt'), missing.stderr);

    // a long job through `ckpt run`, then every daemon verb with --node and no --bus
    const lines = join(dir, 'lj.lines');
    const runner = spawn(CKPT, ['run', '--job', 'lj', '--', linesProgram(), lines], {
      env: userEnv(dir),
      stdio: 'ignore',
    });
    t.teardown(() => {
      if (runner.exitCode === null) runner.kill('SIGKILL');
    });
    await until('the job writes', () => lineCount(lines) > 5);
    const job = await untilJob(dir, 'lj', 'running');

    const jobs = await ckpt(dir, ['jobs', '--node', 'loc1']);
    t.is(jobs.code, 0, jobs.stderr);
    t.regex(jobs.stdout, /^lj\s+\d+\s+running/m);
    const status = await ckpt(dir, ['status', '--node', 'loc1']);
    t.is(status.code, 0, status.stderr);
    t.regex(status.stdout, /^node: loc1$/m);

    const cp = await ckpt(dir, ['checkpoint', '--node', 'loc1', '--job', 'lj', '--kill', '--json']);
    t.is(cp.code, 0, cp.stderr);
    const image = (JSON.parse(cp.stdout) as { image: string }).image;
    t.true(image.startsWith(join(dir, 'images', 'lj')), image);
    await untilJob(dir, 'lj', 'killed');
    const atKill = lineCount(lines);

    const rs = await ckpt(dir, ['restart', '--node', 'loc1', '--job', 'lj', '--json']);
    t.is(rs.code, 0, rs.stderr);
    t.like(JSON.parse(rs.stdout), { ok: true, pid: job.pid, image });
    await until('the restored job writes on', () => lineCount(lines) > atKill + 5);
    t.true(lineCount(lines) > 0, 'no gap, no repeat');

    // preempt (the default policy stops it), resume (SIGCONT), detach
    const pre = await ckpt(dir, ['checkpoint', '--preempt', '--job', 'lj', '--json']);
    t.is(pre.code, 0, pre.stderr);
    await untilJob(dir, 'lj', 'stopped');
    const stoppedAt = lineCount(lines);
    await sleep(300);
    t.is(lineCount(lines), stoppedAt, 'a stopped job writes nothing');
    const res = await ckpt(dir, ['resume', '--job', 'lj', '--json']);
    t.is(res.code, 0, res.stderr);
    t.like(JSON.parse(res.stdout), { ok: true, how: 'continued' });
    await until('the resumed job writes on', () => lineCount(lines) > stoppedAt + 5);
    const det = await ckpt(dir, ['detach', '--node', 'loc1', '--job', 'lj']);
    t.is(det.code, 0, det.stderr);
    t.regex(det.stdout, /^detached: lj$/m);
    t.false(
      (await jobsOf(dir)).some((j) => j.id === 'lj'),
      'detached: no longer listed',
    );
    const again = await ckpt(dir, ['resume', '--job', 'lj']);
    t.is(again.code, 1);
    t.regex(again.stderr, /job lj is not registered on loc1/);
    process.kill(job.pid, 'SIGKILL');
    await stopLocal(d);

    // with the daemon gone, a clear one-line error rather than a connection refused
    const gone = await ckpt(dir, ['jobs']);
    t.is(gone.code, 3);
    t.true(isOneLineError(gone, 'ckpt'), gone.stderr);
    t.regex(gone.stderr, /no local daemon found \(.*daemon\.json missing\)/);
  },
);

test.serial(
  'the local nats-server keeps its port across restarts, and says when it cannot',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-local-'));
    const first = await startLocal(t, dir, 'loc2');
    const url = first.info().url;
    await stopLocal(first);
    const second = await startLocal(t, dir, 'loc2');
    t.is(second.info().url, url, 'same URL after a restart');
    // the local bus needs credentials: a command copied from the banner finds the local
    // daemon's (root's) in daemon.json; without them the server refuses the connection
    const jobs = await runCli('ckpt', ['jobs', '--bus', url, '--node', 'loc2'], {
      env: userEnv(dir) as Record<string, string>,
    });
    t.is(jobs.code, 0, `a command copied from the first banner still works: ${jobs.stderr}`);
    const anon = await runCli('ckpt', ['jobs', '--bus', url, '--node', 'loc2'], {
      env: userEnv(mkdtempSync(join(tmpdir(), 'ckpt-nostate-'))) as Record<string, string>,
    });
    t.is(anon.code, 3, anon.stderr);
    t.regex(anon.stderr, /Authorization Violation/);
    const info = JSON.parse(readFileSync(join(dir, 'daemon.json'), 'utf8'));
    t.false(JSON.stringify(info).includes(readFileSync(info.auth.passwordFile, 'utf8').trim()));
    t.is(statSync(info.auth.passwordFile).mode & 0o777, 0o600);
    t.is(statSync(join(dir, 'bus')).mode & 0o777, 0o700);
    await stopLocal(second);

    // someone else took the port meanwhile: a new port, and the log says why
    const port = Number(new URL(url).port);
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen({ host: '127.0.0.1', port }, r));
    t.teardown(() => squatter.close());
    const third = await startLocal(t, dir, 'loc2');
    t.not(third.info().url, url);
    t.regex(third.stderr(), new RegExp(`port ${port} \\(kept in .*nats-port\\) is in use`));
    t.is((await ckpt(dir, ['jobs'])).code, 0, 'the CLI follows daemon.json to the new port');
    await stopLocal(third);

    // an explicit --local-port that is taken is an error naming it
    const explicit = await runCli(
      'ckpt',
      ['daemon', '--node', 'loc2', '--metrics-port', '-1', '--local-port', String(port)],
      { env: userEnv(dir) as Record<string, string> },
    );
    t.is(explicit.code, 3);
    t.regex(explicit.stderr, new RegExp(`local-port ${port} is in use by another program`));
  },
);

test.serial('a daemon of another node name does not take over the jobs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-local-'));
  const d = await startLocal(t, dir, 'owner');
  const r = await ckpt(dir, ['run', '--job', 'mine', '--', '/bin/true']);
  t.is(r.code, 0, r.stderr);
  await untilJob(dir, 'mine', 'exited');
  const before = readFileSync(join(dir, 'jobs.json'), 'utf8');

  // a second daemon on the same state dir, even with the same name, is refused
  const twin = await runCli('ckpt', ['daemon', '--node', 'owner', '--metrics-port', '-1'], {
    env: userEnv(dir) as Record<string, string>,
  });
  t.is(twin.code, 3);
  t.regex(twin.stderr, /another daemon \(pid \d+, node owner\) uses the state directory/);
  await stopLocal(d);

  const other = await runCli('ckpt', ['daemon', '--node', 'intruder', '--metrics-port', '-1'], {
    env: userEnv(dir) as Record<string, string>,
  });
  t.is(other.code, 3);
  t.true(isOneLineError(other, 'ckpt'), other.stderr);
  t.regex(
    other.stderr,
    /holds 1 job\(s\) of node 'owner' \(mine\), but this daemon is node 'intruder'/,
  );
  t.is(readFileSync(join(dir, 'jobs.json'), 'utf8'), before, 'the jobs are untouched');
  t.false(existsSync(join(dir, 'daemon.json')), 'nothing started');

  const back = await startLocal(t, dir, 'owner');
  t.like(
    (await jobsOf(dir)).find((j) => j.id === 'mine'),
    { node: 'owner', state: 'exited' },
  );
  await stopLocal(back);
});

test('ckpt run: a daemon that refuses the job leaves the program unstarted (exit 3)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-local-'));
  const d = await startLocal(t, dir, 'loc4');
  const lines = join(dir, 'dup.lines');
  const runner = spawn(CKPT, ['run', '--job', 'dup', '--', linesProgram(), lines], {
    env: userEnv(dir),
    stdio: 'ignore',
  });
  t.teardown(() => {
    if (runner.exitCode === null) runner.kill('SIGKILL');
  });
  await until('the first job writes', () => lineCount(lines) > 3);
  const marker = join(dir, 'ran');
  const r = await ckpt(dir, ['run', '--job', 'dup', '--', 'sh', '-c', `touch ${marker}`]);
  t.is(r.code, 3);
  t.true(isOneLineError(r, 'ckpt'), r.stderr);
  t.regex(r.stderr, /did not register job dup: .*registered and running.*; sh was not started/);
  t.false(existsSync(marker), 'the program never ran');
  runner.kill('SIGTERM');
  await stopLocal(d);
});
