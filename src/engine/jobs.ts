/**
 * The jobs of this node: registered processes, their state and their images.
 * Kept in memory, persisted to one JSON file (written to a temp file, fsynced,
 * renamed) on every change so a restarted daemon knows them all, and published
 * as a BehaviorSubject of snapshots for the policy engine.
 *
 * A PID alone does not identify a process across time: each job also records
 * the process's start time (field 22 of /proc/PID/stat), so a recycled PID is
 * never mistaken for the job.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { BehaviorSubject } from 'rxjs';
import type { ImageRecord, JobInfo, JobState } from '../shared/types.js';
import { EngineError } from './errors.js';

export interface Job extends JobInfo {
  /** Start time of the process in clock ticks since boot, to tell a recycled PID. */
  startTime?: number;
  /** The restore helper waiting for a restarted job (a child of the daemon). */
  waiterPid?: number;
  /**
   * A job restarted from an image of a process group or session whose processes had
   * parents outside it (a shell's pipeline): every top-level process, each with its
   * start time. The job runs while any of them does; `pid` is the one whose status
   * the job ends with (the leader, else the first).
   */
  roots?: { pid: number; startTime?: number }[];
  /** Images of this job, oldest first (the last is lastImage). */
  images: ImageRecord[];
  /** Sequence number of the last image path handed out. */
  seq: number;
  restarts: number;
}

export interface JobSnapshot {
  id: string;
  state: JobState;
}

const FILE_VERSION = 1;

/** The process start time, or undefined when there is no such process. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/**
 * The credentials the kernel gives `pid` (real uid and gid, from /proc/PID/status; every
 * uid/gid field of the process, so a set-id process is seen with all its ids; its
 * supplementary groups, sorted), or
 * undefined when it is gone. Never taken from a request.
 */
export function processOwner(pid: number):
  | {
      uid: number;
      gid: number;
      uids: number[];
      gids: number[];
      groups: number[];
      /** Permitted capabilities (CapPrm), a bit mask. */
      capPrm: bigint;
      name: string;
    }
  | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const ids = (name: string) =>
    (new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(text)?.[1] ?? '')
      .trim()
      .split(/\s+/)
      .filter((x) => x !== '')
      .map(Number)
      .filter((n) => Number.isInteger(n) && n >= 0);
  const uids = ids('Uid');
  const gids = ids('Gid');
  if (uids.length < 4 || gids.length < 4) return undefined;
  const groups = [...new Set(ids('Groups'))].sort((a, b) => a - b);
  const cap = /^CapPrm:[ \t]*([0-9a-f]+)$/m.exec(text)?.[1];
  // no CapPrm line: count it as holding capabilities (never as holding none)
  const capPrm = cap ? BigInt(`0x${cap}`) : -1n;
  const name = /^Name:[ \t]*(.*)$/m.exec(text)?.[1] ?? '?';
  return { uid: uids[0] as number, gid: gids[0] as number, uids, gids, groups, capPrm, name };
}

/** `pid` and every descendant (each thread's children, from /proc), pid first. */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const seen = new Set<number>();
  const todo = [pid];
  while (todo.length && out.length < 100_000) {
    const p = todo.shift() as number;
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(p);
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(' ')) {
          if (/^\d+$/.test(c)) todo.push(Number(c));
        }
      } catch {
        // the thread ended
      }
    }
  }
  return out;
}

/**
 * Why `pid`'s process tree may not be checkpointed as a job of `owner`, or undefined if
 * it may: every process must still hold exactly the owner's ids (a process that ran a
 * set-id program since the attach does not), and, for an owner other than root, no
 * permitted capability (a file-capability program, ambient capabilities): the owner
 * could not ptrace such a process, the daemon does not copy or kill it for them, and a
 * restart could not give the capabilities back.
 */
export function treeCredsProblem(
  pid: number,
  owner: { uid: number; gid: number },
): string | undefined {
  for (const p of processTree(pid)) {
    const o = processOwner(p);
    if (!o) continue; // ended meanwhile
    if (o.uids.some((u) => u !== owner.uid) || o.gids.some((g) => g !== owner.gid)) {
      return `pid ${p} (${JSON.stringify(o.name).slice(1, -1)}) has uid ${o.uids.join('/')} gid ${o.gids.join('/')}, but the job's owner is uid ${owner.uid} gid ${owner.gid}: it ran a set-id program since the attach`;
    }
    if (owner.uid !== 0 && o.capPrm !== 0n) {
      return `pid ${p} (${JSON.stringify(o.name).slice(1, -1)}) holds capabilities (CapPrm ${o.capPrm < 0n ? 'unknown' : o.capPrm.toString(16)}) that its owner uid ${owner.uid} does not have`;
    }
  }
  return undefined;
}

/** 'T' while stopped, 'R'/'S'/... while alive, undefined when gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

function running(pid: number, startTime: number | undefined): boolean {
  if (pid <= 0) return false;
  const st = processStartTime(pid);
  return st !== undefined && (startTime === undefined || st === startTime);
}

function pgidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return undefined;
  }
}

/** What the daemon checkpoints for a job: one process's tree, or a process group. */
export type JobTarget =
  | { scope: 'tree' | 'pgid'; id: number; tops: number[] }
  | { problem: string };

/**
 * The tree of the job's process; for a job restarted with several top-level processes
 * of which another one runs (a pipeline), their process group (the restart puts them in
 * one new group), provided every running one and all its descendants are in it: never a
 * part of the job reported as the whole.
 */
export function jobTarget(job: Pick<Job, 'pid' | 'startTime' | 'roots'>): JobTarget {
  const live = (job.roots ?? []).filter((r) => running(r.pid, r.startTime)).map((r) => r.pid);
  if (live.length === 0 || (live.length === 1 && live[0] === job.pid)) {
    return { scope: 'tree', id: job.pid, tops: [job.pid] };
  }
  const group = pgidOf(live[0] as number) as number;
  for (const top of live) {
    for (const p of processTree(top)) {
      const g = pgidOf(p);
      if (g !== undefined && g !== group) {
        return {
          problem: `pid ${p} (of the job's top-level process ${top}) is in process group ${g}, not in the job's group ${group} with its other top-level processes ${live.join(', ')}: the daemon cannot checkpoint them all as one group`,
        };
      }
    }
  }
  return { scope: 'pgid', id: group, tops: live };
}

/** The job's process runs, or (a job with several top-level processes) any of them. */
export function isAlive(job: Pick<Job, 'pid' | 'startTime' | 'roots'>): boolean {
  return (
    running(job.pid, job.startTime) || (job.roots ?? []).some((r) => running(r.pid, r.startTime))
  );
}

export class JobStore {
  private readonly jobs = new Map<string, Job>();
  readonly snapshots$: BehaviorSubject<JobSnapshot[]>;

  private constructor(
    readonly file: string,
    readonly node: string,
  ) {
    this.snapshots$ = new BehaviorSubject<JobSnapshot[]>([]);
  }

  /**
   * Load the state file (missing: no jobs); jobs whose process is gone become
   * exited. Jobs belong to a node name: a file holding another node's jobs is
   * refused (naming both), never adopted.
   */
  static load(file: string, node: string): JobStore {
    const store = new JobStore(file, node);
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new EngineError('STATE', `cannot read job state ${file}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    if (text !== undefined) {
      let data: { version?: number; jobs?: Job[] };
      try {
        data = JSON.parse(text) as typeof data;
      } catch (err) {
        throw new EngineError(
          'STATE',
          `job state ${file} is not JSON (${(err as Error).message}); move it away to start empty`,
          { cause: err },
        );
      }
      if (data.version !== FILE_VERSION || !Array.isArray(data.jobs)) {
        throw new EngineError(
          'STATE',
          `job state ${file}: expected {"version":${FILE_VERSION},"jobs":[...]}`,
        );
      }
      const foreign = data.jobs.filter((j) => j?.node !== node);
      if (foreign.length) {
        const other = foreign[0]?.node;
        const ids = foreign.map((j) => j?.id).slice(0, 5);
        throw new EngineError(
          'STATE',
          `job state ${file} holds ${foreign.length} job(s) of node '${String(other)}' (${ids.join(', ')}${foreign.length > 5 ? ', ...' : ''}), ` +
            `but this daemon is node '${node}': start it as --node ${String(other)}, ` +
            `or give node '${node}' its own --state-dir`,
        );
      }
      for (const job of data.jobs) {
        const live = ['running', 'stopped', 'checkpointing', 'restarting'].includes(job.state);
        if (live && !isAlive(job)) job.state = 'exited';
        else if (job.state === 'checkpointing' || job.state === 'restarting') job.state = 'running';
        // a restarted job's waiter was the old daemon's child: from now on poll() watches it
        job.waiterPid = undefined;
        store.jobs.set(job.id, job);
      }
    }
    store.emit();
    return store;
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  list(): Job[] {
    return [...this.jobs.values()];
  }

  add(job: Job): void {
    this.jobs.set(job.id, job);
    this.changed();
  }

  update(id: string, patch: Partial<Job>): Job {
    const job = this.jobs.get(id);
    if (!job) throw new EngineError('UNKNOWN_JOB', `job ${id} is not registered on ${this.node}`);
    Object.assign(job, patch);
    this.changed();
    return job;
  }

  remove(id: string): void {
    this.jobs.delete(id);
    this.changed();
  }

  /** Persist and tell the policy engine. */
  changed(): void {
    this.save();
    this.emit();
  }

  private emit(): void {
    this.snapshots$.next(this.list().map((j) => ({ id: j.id, state: j.state })));
  }

  private save(): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify({ version: FILE_VERSION, jobs: this.list() }, null, 1)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  /**
   * Notice jobs that ended or stopped without us (attached processes are not our
   * children). Returns the ids that changed.
   */
  poll(): string[] {
    const changed: string[] = [];
    for (const job of this.jobs.values()) {
      if (job.waiterPid) continue; // a restarted job: its waiter tells us
      if (job.state !== 'running' && job.state !== 'stopped') continue;
      if (!isAlive(job)) {
        job.state = 'exited';
        changed.push(job.id);
        continue;
      }
      const stopped = processState(job.pid) === 'T';
      if (stopped !== (job.state === 'stopped')) {
        job.state = stopped ? 'stopped' : 'running';
        changed.push(job.id);
      }
    }
    if (changed.length) this.changed();
    return changed;
  }
}
