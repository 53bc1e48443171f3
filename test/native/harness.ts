/**
 * What the native acceptance tests share: where the built programs are,
 * waiting for a condition or a promise with a limit that names what did not
 * happen, starting a target detached and waiting for its READY line, and
 * the zdtm ending (SIGUSR1, exit 0, PASS).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { wait } from '../../src/engine/libckpt.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The zdtm-shaped programs, built dynamic and -static by native/Makefile. */
export const PROGS = join(REPO, 'native', 'build', 'progs');
/** Their sources (and the scripts: .py, .mjs, .sh). */
export const SRC = join(REPO, 'test', 'native', 'progs');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** No such process (any more): exited and reaped. */
export const gone = (pid: number) => !existsSync(`/proc/${pid}`);

/** The PID a pid file holds, or false while it is missing or empty. */
export const pidIn = (file: string): number | false =>
  existsSync(file) ? Number(readFileSync(file, 'utf8')) || false : false;

/** Poll fn every 20 ms until it returns something truthy; fail naming `what` after ms. */
export async function until<T>(
  what: string,
  fn: () => T | undefined | false,
  ms = 20_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** p, or an error naming `what` if it takes longer than ms. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    sleep(ms).then(() => {
      throw new Error(`${what} did not happen within ${ms} ms`);
    }),
  ]);
}

/**
 * Runs argv with only descriptors 0-2 open: those the test runner's
 * environment leaks would lead outside the job (a pipe to a process outside
 * it is rightly refused at checkpoint).
 */
export const CLOSE_FDS = [
  'python3',
  '-c',
  'import os, sys; os.closerange(3, 1024); os.execvp(sys.argv[1], sys.argv[1:])',
];

export interface LaunchOptions {
  /** Working directory (default: the launcher's folder). */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** stdout and stderr go here (default: NAME.out in the launcher's folder). */
  out?: string;
  /** The line that says it is ready, its pid the first group (default READY <pid>). */
  ready?: RegExp;
  /** Take the pid from this file once it holds one, instead of from a READY line. */
  pidFile?: string;
  /** The teardown kills its whole process group (a job), not only the pid. */
  group?: boolean;
  /** Start it with only descriptors 0-2 open (CLOSE_FDS). */
  closeFds?: boolean;
}

export interface Target {
  pid: number;
  /** Its stdout and stderr. */
  out: string;
  /** The ready line's match (empty when the pid came from a pid file). */
  ready: string[];
}

/**
 * A starter of targets whose files go to `dir`: each runs detached from this
 * process (setsid -f: not our child, so libckpt does not trace our children),
 * is waited for until it says it is ready, and is SIGKILLed at the test's end.
 */
export function launcher(dir: string, defaults: LaunchOptions = {}) {
  return async (
    t: ExecutionContext,
    name: string,
    argv: string[],
    options: LaunchOptions = {},
  ): Promise<Target> => {
    const o = { ...defaults, ...options };
    const out = o.out ?? join(dir, `${name}.out`);
    const fd = openSync(out, 'w');
    spawn('setsid', ['-f', ...(o.closeFds ? CLOSE_FDS : []), ...argv], {
      stdio: ['ignore', fd, fd],
      cwd: o.cwd ?? dir,
      env: o.env,
    });
    closeSync(fd);
    let ready: string[] = [];
    let pid: number;
    const pidFile = o.pidFile;
    if (pidFile) {
      pid = await until(`${name} started (its pid in ${pidFile})`, () => pidIn(pidFile));
    } else {
      const re = o.ready ?? /READY (\d+)/;
      ready = await until(`${name} READY`, () => re.exec(readFileSync(out, 'utf8')) ?? false);
      pid = Number(ready[1]);
    }
    t.teardown(() => {
      try {
        process.kill(o.group ? -pid : pid, 'SIGKILL');
      } catch {}
    });
    return { pid, out, ready };
  };
}

/**
 * The zdtm ending of a restored target: SIGUSR1 to pid, then the restorer
 * (waiterPid) reports exit status 0 within 30 s and the output (out) says
 * PASS and no FAIL. The output.
 */
export async function passes(
  t: ExecutionContext,
  restored: { pid: number; waiterPid: number },
  out: string,
): Promise<string> {
  process.kill(restored.pid, 'SIGUSR1');
  const code = await within(
    wait(restored.waiterPid),
    30_000,
    `exit of the restored ${restored.pid}`,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; its output: ${readFileSync(out, 'utf8')}`);
  });
  const text = readFileSync(out, 'utf8');
  t.is(code, 0, text);
  t.regex(text, /^PASS$/m, text);
  t.notRegex(text, /FAIL/);
  return text;
}
