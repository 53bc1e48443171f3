/**
 * Run the real launchers (bin/ckpt, bin/cr_*) as child processes and collect
 * their output, optionally as another user (setpriv) to test permission errors.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = join(REPO, 'bin');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  asUser?: string; // run through setpriv as this user (and its group)
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  input?: string;
  stdio3?: number; // a descriptor to pass as fd 3
}

export function runCli(program: string, args: string[], opts: RunOptions = {}): Promise<CliResult> {
  let cmd = join(BIN, program);
  let argv = args;
  if (opts.asUser) {
    argv = [
      '--reuid',
      opts.asUser,
      '--regid',
      opts.asUser === 'nobody' ? 'nogroup' : opts.asUser,
      '--clear-groups',
      cmd,
      ...args,
    ];
    cmd = 'setpriv';
  }
  return new Promise((resolve, reject) => {
    const stdio: ('pipe' | number)[] = ['pipe', 'pipe', 'pipe'];
    if (opts.stdio3 !== undefined) stdio.push(opts.stdio3);
    const child = spawn(cmd, argv, {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, CKPT_DEBUG: '', ...opts.env },
      stdio,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin?.end(opts.input ?? '');
  });
}

/** Exactly one line on stderr, starting with `program: `, and no stack trace. */
export function isOneLineError(r: CliResult, program: string): boolean {
  const lines = r.stderr.trimEnd().split('\n');
  return (
    lines.length === 1 &&
    (lines[0] ?? '').startsWith(`${program}: `) &&
    !/\n\s+at /.test(r.stderr) &&
    r.code !== 0
  );
}
