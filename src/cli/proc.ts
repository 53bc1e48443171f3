/**
 * What the CLI checks about a target process before handing it to libckpt, so
 * the common mistakes get a clear one-line answer and the target is not touched:
 * no such process, someone else's process, already being traced.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { CliError } from './errors.js';

export interface ProcessInfo {
  pid: number;
  uid: number; // real uid
  tracerPid: number;
  state: string; // R, S, T, Z ...
  name: string;
}

export function readProcessInfo(pid: number): ProcessInfo | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1] ?? '';
  return {
    pid,
    uid: Number(field('Uid').split(/\s+/)[0]),
    tracerPid: Number(field('TracerPid')),
    state: field('State').charAt(0),
    name: field('Name'),
  };
}

/** Direct children of every thread of `pid`. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    } catch {
      // the thread exited meanwhile
    }
  }
  return out;
}

export function processCwd(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch (err) {
    throw new CliError(
      `cannot read the working directory of process ${pid}: ${(err as NodeJS.ErrnoException).code}`,
      1,
      {
        cause: err,
      },
    );
  }
}

/** Throw a clear error if `pid` cannot be checkpointed by us at all. */
export function checkTarget(pid: number, options: { allowTraced?: boolean } = {}): ProcessInfo {
  const info = readProcessInfo(pid);
  if (!info) throw new CliError(`no such process: ${pid}`);
  if (info.state === 'Z')
    throw new CliError(`process ${pid} (${info.name}) is a zombie: nothing to checkpoint`);
  const me = process.getuid?.() ?? 0;
  if (me !== 0 && info.uid !== me) {
    throw new CliError(
      `permission denied: process ${pid} belongs to uid ${info.uid}, you are uid ${me} (run as its owner or root)`,
    );
  }
  if (info.tracerPid !== 0 && !options.allowTraced) {
    throw new CliError(`process ${pid} is already being traced by process ${info.tracerPid}`);
  }
  if (pid === process.pid) throw new CliError('cannot checkpoint this command itself');
  return info;
}
