/**
 * The daemon's command endpoints (docs/bus.md, docs/daemon.md): status, jobs,
 * attach, detach, checkpoint, preempt, resume, restart. checkpoint/preempt/
 * resume go through the policy engine (arbitration, cooldowns) unless a
 * checkpoint names its own timeout; restart goes straight to the executor.
 * Engine errors become CommandError replies with the bus's closed set of codes.
 */
import type { Logger } from 'pino';
import {
  type Bus,
  type Caller,
  CommandError,
  type CommandHandlers,
  type CommandMeta,
} from '../bus/index.js';
import { EngineError } from '../engine/errors.js';
import type { Executor } from '../engine/executor.js';
import {
  isAlive,
  type Job,
  type JobStore,
  processOwner,
  processStartTime,
} from '../engine/jobs.js';
import * as libckpt from '../engine/libckpt.js';
import type { CkptMetrics } from '../metrics/metrics.js';
import type { PolicyCommand, PolicySet } from '../policies/index.js';
import { type EngineChoice, engineStatus } from '../shared/engine-choice.js';
import type { CheckpointRequest, Trigger } from '../shared/types.js';
import { type Authz, userNameOf } from './authz.js';

export interface CommandContext {
  node: string;
  jobs: JobStore;
  executor: Executor;
  bus: Bus;
  logger: Logger;
  metrics: CkptMetrics;
  policies(): PolicySet;
  /** The configured engine (config `engine`): auto, user or kernel. */
  engine: EngineChoice;
  /** Processes no command may attach (the daemon itself, its nats-server). */
  protectedPids?(): number[];
  /** Who may act on what (src/daemon/authz.ts). */
  authz: Authz;
  /** Send a command through the policy engine; resolves with what it decided. */
  viaPolicies(cmd: PolicyCommand, skipped: string): Promise<object>;
}

/** Jobs one local user (not root, not the admin group) may have registered at once. */
export const MAX_JOBS_PER_USER = 64;

const COMMAND_CODES = new Set([
  'UNKNOWN_JOB',
  'JOB_EXISTS',
  'BUSY',
  'FORBIDDEN',
  'ENGINE',
  'UNAVAILABLE',
]);

/** Engine errors as command replies (unknown codes become ENGINE with the code in the text). */
export function asCommandError(err: unknown): Error {
  if (err instanceof CommandError) return err;
  if (err instanceof EngineError) {
    if (COMMAND_CODES.has(err.code))
      return new CommandError(err.code as 'BUSY', err.message, { cause: err });
    return new CommandError('ENGINE', `${err.code}: ${err.message}`, { cause: err });
  }
  return err as Error;
}

export function commandHandlers(ctx: CommandContext): CommandHandlers {
  const known = (id: string): Job => {
    const job = ctx.jobs.get(id);
    if (!job) throw new CommandError('UNKNOWN_JOB', `job ${id} is not registered on ${ctx.node}`);
    return job;
  };
  /** The job, if the caller may act on it (its owner, root, the admin group, the bus). */
  const mine = (id: string, caller: Caller, verb: string): Job => {
    const job = known(id);
    ctx.authz.requireOwner(caller, job.owner.uid, `${verb} of job ${id}`);
    return job;
  };
  const view = (j: Job) => ({
    id: j.id,
    node: j.node,
    pid: j.pid,
    state: j.state,
    owner: j.owner,
    command: j.command,
    cwd: j.cwd,
    registeredAt: j.registeredAt,
    exitStatus: j.exitStatus,
    restarts: j.restarts,
    lastImage: j.lastImage,
  });

  const handlers: CommandHandlers = {
    status: async () => ({
      node: ctx.node,
      pid: process.pid,
      jobs: ctx.jobs.list().length,
      queue: ctx.executor.queueDepth,
      running: ctx.executor.running,
      policies: ctx.policies().policies.map((p) => ({ name: p.name, kind: p.kind })),
      bus: ctx.bus.status(),
      engine: await libckpt
        .probe()
        .then((p) => {
          const probe = p as unknown as Record<string, unknown>;
          return { ...engineStatus(ctx.engine, probe), probe };
        })
        .catch((e: Error) => ({ configured: ctx.engine, error: e.message })),
    }),
    jobs: async (body, meta) => {
      if (body.job) return { jobs: [view(mine(body.job, meta.caller, 'jobs'))] };
      const all = ctx.jobs.list();
      const caller = meta.caller;
      // a local user sees their own jobs; root, the admin group and the bus see all
      if (ctx.authz.privileged(caller) || caller.via !== 'socket') return { jobs: all.map(view) };
      return { jobs: all.filter((j) => j.owner.uid === caller.uid).map(view) };
    },
    attach: async (body, meta) => {
      const prev = ctx.jobs.get(body.job);
      // a job id that names someone else's job is theirs (its images stay theirs)
      if (prev) {
        ctx.authz.requireOwner(
          meta.caller,
          prev.owner.uid,
          `attach ${body.job} (pid ${body.pid}) over the registered job`,
        );
      }
      if (ctx.jobs.get(body.job) && isAlive(ctx.jobs.get(body.job) as Job)) {
        throw new CommandError(
          'JOB_EXISTS',
          `job ${body.job} is registered and running (pid ${ctx.jobs.get(body.job)?.pid})`,
        );
      }
      const startTime = processStartTime(body.pid);
      if (startTime === undefined)
        throw new CommandError('UNKNOWN_JOB', `no process ${body.pid} on ${ctx.node}`);
      const forbid = (why: string): never => {
        throw new CommandError('FORBIDDEN', `attach ${body.job} (pid ${body.pid}) refused: ${why}`);
      };
      if (body.pid === 1) forbid('pid 1 (init) is never a job');
      if (body.pid === process.pid) forbid('it is this daemon');
      if (ctx.protectedPids?.().includes(body.pid)) forbid("it is this daemon's nats-server");
      // the owner is what the kernel says, never what the request declares
      const owner = processOwner(body.pid);
      if (!owner) throw new CommandError('UNKNOWN_JOB', `no process ${body.pid} on ${ctx.node}`);
      if (new Set(owner.uids).size > 1 || new Set(owner.gids).size > 1) {
        forbid(
          `its real, effective, saved and filesystem ids differ (uid ${owner.uids.join('/')}, gid ${owner.gids.join('/')}): a set-id process is never a job`,
        );
      }
      if (owner.uid !== 0 && owner.capPrm !== 0n) {
        forbid(
          `it holds capabilities (CapPrm ${owner.capPrm < 0n ? 'unknown' : owner.capPrm.toString(16)}) its owner uid ${owner.uid} does not have: the owner could not ptrace it, and a restart could not give them back`,
        );
      }
      ctx.authz.requireOwner(meta.caller, owner.uid, `attach ${body.job} (pid ${body.pid})`);
      if (body.owner && (body.owner.uid !== owner.uid || body.owner.gid !== owner.gid)) {
        forbid(
          `the request declares owner uid ${body.owner.uid} gid ${body.owner.gid}, but the process belongs to uid ${owner.uid} gid ${owner.gid}`,
        );
      }
      // each job may hold images on the daemon's disk and a line in jobs.json: a user
      // holds a bounded number (root, the admin group and the bus are not limited)
      if (!prev && !ctx.authz.privileged(meta.caller)) {
        const held = ctx.jobs.list().filter((j) => j.owner.uid === owner.uid).length;
        if (held >= MAX_JOBS_PER_USER) {
          throw new CommandError(
            'FORBIDDEN',
            `attach ${body.job} (pid ${body.pid}) refused: uid ${owner.uid} has ${held} jobs on ${ctx.node}: at most ${MAX_JOBS_PER_USER} per user (root and the admin group are not limited); detach some first`,
          );
        }
      }
      // the owner's name too is what the system says of the uid, never what the request says
      const user = userNameOf(owner.uid);
      if (body.owner?.user !== undefined && body.owner.user !== user) {
        forbid(
          `the request declares user ${JSON.stringify(body.owner.user).slice(1, -1)}, but uid ${owner.uid} is ${user ?? 'a uid without a name'}`,
        );
      }
      const inherit = prev && prev.owner.uid === owner.uid && prev.owner.gid === owner.gid;
      const job: Job = {
        id: body.job,
        node: ctx.node,
        pid: body.pid,
        startTime,
        owner: {
          uid: owner.uid,
          gid: owner.gid,
          groups: owner.groups,
          ...(user ? { user } : {}),
        },
        command: body.command,
        cwd: body.cwd,
        state: 'running',
        registeredAt: new Date().toISOString(),
        images: inherit ? prev.images : [],
        lastImage: inherit ? prev.lastImage : undefined,
        seq: prev?.seq ?? 0,
        restarts: 0,
      };
      ctx.jobs.add(job);
      ctx.metrics.setJobs(ctx.jobs.list().length);
      ctx.logger.info({ job: job.id, pid: job.pid, owner: job.owner }, 'job attached');
      return { job: view(job) };
    },
    detach: async (body, meta) => {
      mine(body.job, meta.caller, 'detach');
      ctx.jobs.remove(body.job);
      ctx.metrics.setJobs(ctx.jobs.list().length);
      return { detached: body.job };
    },
    checkpoint: async (body, meta) => {
      mine(body.job, meta.caller, 'checkpoint');
      if (body.timeoutMs !== undefined) {
        // a per-request timeout goes straight to the executor (no policy changes it)
        const req: CheckpointRequest = {
          job: body.job,
          trigger: { policy: 'command', kind: 'command', eventId: meta.id },
          priority: 2,
          after: body.after ?? 'continue',
        };
        const r = await ctx.executor.checkpoint(req).catch((e) => {
          throw asCommandError(e);
        });
        return { image: r.path, bytes: r.bytes, durationMs: r.durationMs, frozenMs: r.frozenMs };
      }
      return ctx.viaPolicies(
        { verb: 'checkpoint', job: body.job, id: meta.id, after: body.after },
        'a stronger or recent checkpoint of this job covers it',
      );
    },
    preempt: async (body, meta) => {
      mine(body.job, meta.caller, 'preempt');
      return ctx.viaPolicies(
        { verb: 'preempt', job: body.job, id: meta.id, after: body.after },
        'no preemptive policy selects this job',
      );
    },
    resume: async (body, meta) => {
      mine(body.job, meta.caller, 'resume');
      return ctx.viaPolicies(
        { verb: 'resume', job: body.job, id: meta.id },
        'no preemptive policy selects this job',
      );
    },
    restart: async (body, meta) => {
      mine(body.job, meta.caller, 'restart');
      const trigger: Trigger = { policy: 'command', kind: 'command', eventId: meta.id };
      const r = await ctx.executor
        .restart(
          { job: body.job, trigger, image: body.image },
          { restorePid: body.restorePid, after: body.after },
        )
        .catch((e) => {
          throw asCommandError(e);
        });
      return { pid: r.pid, image: r.image };
    },
  };
  // every verb: first whether this caller may send it at all
  const guarded: Record<string, unknown> = {};
  for (const [verb, fn] of Object.entries(handlers) as Array<
    [string, (b: unknown, m: CommandMeta) => Promise<object>]
  >) {
    guarded[verb] = async (body: unknown, meta: CommandMeta) => {
      ctx.authz.requireVerb(meta.caller, verb);
      return fn(body, meta);
    };
  }
  return guarded as CommandHandlers;
}
