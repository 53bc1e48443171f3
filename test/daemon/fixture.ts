/**
 * The daemon as the tests meet it: `bin/ckpt daemon` as a real child process
 * on a real nats-server, jobs started with `bin/ckpt run`, result events
 * collected from the bus, commands sent with the bus client.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { ExecutionContext } from 'ava';
import { createBusClient } from '../../src/bus/index.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CKPT = join(REPO, 'bin', 'ckpt');
const SRC = join(REPO, 'test', 'daemon', 'progs', 'lines.c');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let linesBin: string | undefined;
/** The line-writing test job, compiled once per test file. */
export function linesProgram(): string {
  if (!linesBin) {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-daemon-prog-'));
    linesBin = join(dir, 'lines');
    execFileSync('gcc', ['-O2', '-o', linesBin, SRC]);
  }
  return linesBin;
}

export async function until<T>(
  what: string,
  fn: () => T | undefined | false,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The lines file reads 0..n-1 with no gap or repeat: n, else -1. */
export function lineCount(file: string): number {
  if (!existsSync(file)) return 0;
  const lines = readFileSync(file, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (let i = 0; i < lines.length; i++)
    if (lines[i] !== String(i)) return i === lines.length - 1 ? i : -1;
  return lines.length;
}

/** All these commands are on the PATH (e.g. useradd to make the users a test needs). */
export function haveCommands(...names: string[]): boolean {
  try {
    execFileSync('sh', ['-c', names.map((n) => `command -v ${n}`).join(' && ')]);
    return true;
  } catch {
    return false;
  }
}

/** A user's uid (-u) or primary gid (-g). */
export { idOf } from '../helpers/users.js';

/** A group's gid, by its name. */
export const gidOfGroup = (group: string) =>
  Number(execFileSync('getent', ['group', group], { encoding: 'utf8' }).split(':')[2]);

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `ckpt ARGS` as `user` (its own group, plus the named `groups`) with no bus
 * in its environment: it reaches the daemon through the local socket.
 */
export function ckptAs(
  user: string,
  args: string[],
  opts: { groups?: string[]; cwd?: string } = {},
): Promise<CliResult> {
  const groups = opts.groups ?? [];
  const g = groups.length
    ? ['--groups', groups.map((x) => String(gidOfGroup(x))).join(',')]
    : ['--clear-groups'];
  return new Promise((resolve) => {
    const p = spawn('setpriv', ['--reuid', user, '--regid', user, ...g, CKPT, ...args], {
      cwd: opts.cwd ?? '/',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CKPT_BUS_URL: '', CKPT_NODE: '' },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface DaemonProc {
  proc: ChildProcess;
  stateDir: string;
  node: string;
  url: string;
  stderr(): string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startDaemon(
  t: ExecutionContext,
  opts: {
    url: string;
    node: string;
    stateDir?: string;
    args?: string[];
    policies?: string;
    env?: Record<string, string>;
  },
): Promise<DaemonProc> {
  const own = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'ckpt-daemon-'));
  const args = [
    'daemon',
    '--bus',
    opts.url,
    '--node',
    opts.node,
    '--state-dir',
    stateDir,
    '--metrics-port',
    '0',
  ];
  if (opts.policies !== undefined) {
    const file = join(stateDir, 'policies.yaml');
    writeFileSync(file, opts.policies);
    args.push('--policies', file);
  }
  args.push(...(opts.args ?? []));
  const info = join(stateDir, 'daemon.json');
  const proc = spawn(CKPT, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let err = '';
  proc.stderr?.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const d: DaemonProc = {
    proc,
    stateDir,
    node: opts.node,
    url: opts.url,
    stderr: () => err,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal);
      return exited;
    },
  };
  // the state dir it made goes at the end (images of hundreds of MiB each:
  // a full run filled the disk when they stayed)
  t.teardown(async () => {
    await d.stop('SIGKILL');
    if (own) rmSync(stateDir, { recursive: true, force: true });
  });
  await Promise.race([
    until(
      'daemon.json',
      () => existsSync(info) && JSON.parse(readFileSync(info, 'utf8')).pid === proc.pid,
    ),
    exited.then((code) => {
      throw new Error(`daemon exited (${code}) at start: ${err}`);
    }),
  ]);
  return d;
}

export interface Job {
  id: string;
  file: string;
  runner: ChildProcess;
  exited: Promise<number | null>;
  pid(): number;
}

/** `ckpt run --job ID -- lines FILE` against the daemon; resolves once attached. */
export async function runJob(t: ExecutionContext, d: DaemonProc, id: string): Promise<Job> {
  const file = join(d.stateDir, `${id}.lines`);
  const runner = spawn(
    CKPT,
    ['run', '--job', id, '--bus', d.url, '--node', d.node, '--', linesProgram(), file],
    {
      stdio: 'ignore',
    },
  );
  const exited = new Promise<number | null>((r) => runner.on('exit', (code) => r(code)));
  t.teardown(() => {
    try {
      execFileSync('pkill', ['-9', '-f', file]);
    } catch {}
  });
  const job: Job = {
    id,
    file,
    runner,
    exited,
    pid: () => Number(execFileSync('pgrep', ['-n', '-f', file]).toString().trim()),
  };
  await until(`job ${id} attached`, () => lineCount(file) > 3);
  const c = await commands(t, d);
  for (let i = 0; i < 100; i++) {
    const r = (await c.request('jobs', { job: id })) as { ok: boolean };
    if (r.ok) break;
    await sleep(50);
  }
  return job;
}

export async function commands(t: ExecutionContext, d: DaemonProc) {
  const client = await createBusClient({ url: d.url, timeoutMs: 20_000 });
  t.teardown(() => client.close());
  return {
    request: (verb: string, body: unknown) =>
      client.requestRaw(d.node, verb, body) as Promise<Record<string, unknown>>,
    client,
  };
}

export interface Collected {
  subject: string;
  data: Record<string, unknown>;
}

/** Every result event of a node, as they arrive. */
export async function collectResults(t: ExecutionContext, url: string, node: string) {
  const nc: NatsConnection = await connect({ servers: url });
  t.teardown(() => nc.close());
  const got: Collected[] = [];
  nc.subscribe(`ft.*.${node}.>`, {
    callback: (_e, m) => {
      if (m.subject.startsWith('ft.ckpt.') || m.subject.startsWith('ft.rstrt.')) {
        got.push({ subject: m.subject, data: m.json() as Record<string, unknown> });
      }
    },
  });
  await nc.flush();
  return {
    got,
    nc,
    find: (suffix: string) => got.filter((g) => g.subject.endsWith(suffix)),
  };
}
