/**
 * The executor: runs the checkpoints and restarts the policies decide, through
 * libckpt, and reports each one on the bus.
 *
 * - A queue ordered by priority (automatic > preemptive/resume > command >
 *   periodic), first come first served within a priority, and a per-node
 *   concurrency limit.
 * - A request for a job already queued or being checkpointed joins it: the
 *   caller gets the same outcome; a stronger after-action (continue < stop <
 *   terminate < kill) replaces the queued one, or is applied once the running
 *   one is done.
 * - Each checkpoint gets a fresh path (<imageDir>/<job>/<job>.<seq>.ckpt), so
 *   a failed one never touches the last good image; the catalog is updated
 *   only after libckpt returned (the image is fsynced and renamed by then);
 *   older images beyond `retain` are deleted.
 * - begin/end/error for every checkpoint and restart on the bus.
 */
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type {
  AfterCheckpoint,
  CheckpointRequest,
  ImageRecord,
  RestartRequest,
  Trigger,
} from '../shared/types.js';
import { EngineError } from './errors.js';
import { dirProblem, ImageTrust } from './image-trust.js';
import {
  isAlive,
  type Job,
  type JobStore,
  jobTarget,
  processStartTime,
  processState,
  treeCredsProblem,
} from './jobs.js';
import * as libckpt from './libckpt.js';

/** What the executor uses of libckpt (src/engine/libckpt.ts). */
export interface Engine {
  checkpoint: typeof libckpt.checkpoint;
  restart: typeof libckpt.restart;
  wait: typeof libckpt.wait;
}

/** What the executor uses of the bus. */
export interface ResultSink {
  readonly node: string;
  publishResult(kind: 'ckpt' | 'rstrt', phase: 'begin' | 'end' | 'error', payload: object): unknown;
  catalog: {
    put(record: ImageRecord): Promise<void>;
    get(node: string, job: string): Promise<ImageRecord | undefined>;
  };
}

export interface ExecutorHooks {
  checkpointDone?(o: {
    job: string;
    ok: boolean;
    durationMs: number;
    trigger: Trigger;
    bytes?: number;
    frozenMs?: number;
    result: 'ok' | 'error' | 'timeout' | 'cancelled';
  }): void;
  restartDone?(o: {
    job: string;
    ok: boolean;
    durationMs: number;
    trigger: Trigger;
    bytes?: number;
  }): void;
  queueDepth?(n: number): void;
}

export interface ExecutorOptions {
  engine: Engine;
  jobs: JobStore;
  bus: ResultSink;
  imageDir: string;
  /** Where restarted jobs' stdout/stderr go (<logDir>/<job>.log). */
  logDir: string;
  concurrency: number;
  timeoutMs: number;
  /** libckpt.BACKEND: which engine checkpoints (config `engine`); default auto. */
  backend?: number;
  retain: number;
  logger: Logger;
  hooks?: ExecutorHooks;
  /**
   * Signs every image written and checks every image restarted (image-trust.ts): inside
   * the image directory, signed by this daemon for this job, matching its record, with
   * the job owner's credentials. The daemon always gives one.
   */
  trust?: ImageTrust;
  /** How to read an image's description (default libckpt.inspect). */
  inspect?: typeof libckpt.inspect;
}

export interface RestartOptions {
  restorePid?: boolean;
  after?: 'continue' | 'stop';
}

const AFTER_ORDER: AfterCheckpoint[] = ['continue', 'stop', 'terminate', 'kill'];
const AFTER_CODE: Record<AfterCheckpoint, number> = {
  continue: libckpt.AFTER.cont,
  stop: libckpt.AFTER.stop,
  terminate: libckpt.AFTER.term,
  kill: libckpt.AFTER.kill,
};
const AFTER_SIGNAL: Record<AfterCheckpoint, NodeJS.Signals | undefined> = {
  continue: undefined,
  stop: 'SIGSTOP',
  terminate: 'SIGTERM',
  kill: 'SIGKILL',
};

interface Pending {
  req: CheckpointRequest;
  seq: number; // arrival order
  promise: Promise<ImageRecord>;
  resolve: (r: ImageRecord) => void;
  reject: (e: Error) => void;
  started: boolean;
  /** A stronger after-action asked for while it ran. */
  lateAfter?: AfterCheckpoint;
}

const stronger = (a: AfterCheckpoint, b: AfterCheckpoint) =>
  AFTER_ORDER.indexOf(a) > AFTER_ORDER.indexOf(b);

export class Executor {
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Map<string, Pending>();
  private readonly restarting = new Set<string>();
  private arrivals = 0;
  private closed = false;

  constructor(private readonly o: ExecutorOptions) {}

  /** Results never throw into the executor: a bad payload or a closed bus is logged. */
  private publish(kind: 'ckpt' | 'rstrt', phase: 'begin' | 'end' | 'error', payload: object): void {
    try {
      Promise.resolve(this.o.bus.publishResult(kind, phase, payload)).catch((err: Error) =>
        this.o.logger.error({ err: err.message, kind, phase }, 'result not published'),
      );
    } catch (err) {
      this.o.logger.error(
        { err: (err as Error).message, kind, phase },
        'result refused by the bus',
      );
    }
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  get running(): number {
    return this.inFlight.size;
  }

  /** Checkpoint a job (joins an equal request already queued or running). */
  checkpoint(req: CheckpointRequest): Promise<ImageRecord> {
    if (this.closed) {
      return Promise.reject(new EngineError('UNAVAILABLE', 'the daemon is shutting down'));
    }
    const job = this.o.jobs.get(req.job);
    if (!job) {
      return Promise.reject(
        new EngineError('UNKNOWN_JOB', `job ${req.job} is not registered on ${this.o.bus.node}`),
      );
    }
    const running = this.inFlight.get(req.job);
    if (running) {
      if (stronger(req.after, running.lateAfter ?? running.req.after))
        running.lateAfter = req.after;
      return running.promise;
    }
    const queued = this.queue.find((p) => p.req.job === req.job);
    if (queued) {
      if (stronger(req.after, queued.req.after)) queued.req = { ...queued.req, after: req.after };
      if (req.priority > queued.req.priority) {
        queued.req = { ...queued.req, priority: req.priority, trigger: req.trigger };
        this.sort();
      }
      return queued.promise;
    }
    let resolve!: (r: ImageRecord) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<ImageRecord>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {}); // callers that do not wait must not crash the daemon
    this.queue.push({ req, seq: this.arrivals++, promise, resolve, reject, started: false });
    this.sort();
    this.o.hooks?.queueDepth?.(this.queue.length);
    this.pump();
    return promise;
  }

  private sort(): void {
    this.queue.sort((a, b) => b.req.priority - a.req.priority || a.seq - b.seq);
  }

  private pump(): void {
    while (this.inFlight.size < this.o.concurrency && this.queue.length) {
      const next = this.queue.shift() as Pending;
      next.started = true;
      this.inFlight.set(next.req.job, next);
      this.o.hooks?.queueDepth?.(this.queue.length);
      this.runCheckpoint(next)
        .then(next.resolve, next.reject)
        .finally(() => {
          this.inFlight.delete(next.req.job);
          this.pump();
        });
    }
  }

  private async runCheckpoint(p: Pending): Promise<ImageRecord> {
    const { req } = p;
    const job = this.o.jobs.get(req.job);
    const log = this.o.logger.child({ job: req.job, trigger: req.trigger });
    const started = Date.now();
    const fail = (err: EngineError, pid: number, image?: string): never => {
      this.publish('ckpt', 'error', {
        job: req.job,
        pid,
        trigger: req.trigger,
        code: err.code,
        message: err.message,
        ...(image ? { image } : {}),
      });
      this.o.hooks?.checkpointDone?.({
        job: req.job,
        ok: false,
        durationMs: Date.now() - started,
        trigger: req.trigger,
        result:
          err.code === 'TIMEOUT' ? 'timeout' : err.code === 'CANCELLED' ? 'cancelled' : 'error',
      });
      log.warn({ code: err.code, err: err.message }, 'checkpoint failed');
      throw err;
    };
    if (!job) return fail(new EngineError('UNKNOWN_JOB', `job ${req.job} is gone`), 0);
    if (!isAlive(job)) {
      return fail(
        new EngineError('NOT_RUNNING', `job ${job.id} has no running process (state ${job.state})`),
        job.pid,
      );
    }
    // the owner recorded at attach must still be who the tree is: a process that ran a
    // set-id program (su, passwd) or gained capabilities since is not frozen, copied or
    // killed for them
    const target = jobTarget(job);
    if ('problem' in target) {
      return fail(
        new EngineError('FORBIDDEN', `checkpoint of job ${job.id} refused: ${target.problem}`),
        job.pid,
      );
    }
    const problem = target.tops
      .map((top) => treeCredsProblem(top, job.owner))
      .find((p) => p !== undefined);
    if (problem) {
      return fail(
        new EngineError('FORBIDDEN', `checkpoint of job ${job.id} refused: ${problem}`),
        job.pid,
      );
    }
    const seq = job.seq + 1;
    const dir = join(this.o.imageDir, job.id);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      return fail(
        new EngineError('ENGINE', `cannot make ${dir}: ${(err as Error).message}`),
        job.pid,
      );
    }
    const dirBad = dirProblem(dir);
    if (dirBad) {
      return fail(
        new EngineError('FORBIDDEN', `checkpoint of job ${job.id} refused: ${dirBad}`),
        job.pid,
      );
    }
    const image = join(dir, `${job.id}.${seq}.ckpt`);
    const before = job.state;
    this.publish('ckpt', 'begin', {
      job: job.id,
      pid: job.pid,
      trigger: req.trigger,
      image,
      after: req.after,
    });
    // Let the begin event reach the socket before the synchronous disk work below (the
    // job state's fsync): NATS flushes what was published in a microtask, which would
    // otherwise wait for it. Measured by bench/daemon-latency.ts.
    await new Promise<void>((resolve) => setImmediate(resolve));
    log.info({ pid: job.pid, image, after: req.after }, 'checkpoint begins');
    this.o.jobs.update(job.id, { seq, state: 'checkpointing' });
    let r: libckpt.CheckpointResultJs;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      r = await this.o.engine.checkpoint(target.id, image, {
        after: AFTER_CODE[req.after],
        timeoutMs: this.o.timeoutMs,
        backend: this.o.backend ?? libckpt.BACKEND.auto,
        // a job is its process tree (or the group of its top-level processes): never
        // its top process alone
        scope: libckpt.SCOPE[target.scope],
        // checked again by the engine once all is frozen: a process of the
        // job that exec'ed a set-id program after treeCredsProblem is refused
        flags: libckpt.CP_OWNER,
        owner: { uid: job.owner.uid, gid: job.owner.gid },
      });
    } catch (err) {
      this.o.jobs.update(job.id, { state: isAlive(job) ? before : 'exited' });
      const e = err as libckpt.LibckptError;
      const code = e.code === 'ETIMEDOUT' ? 'TIMEOUT' : 'ENGINE';
      return fail(new EngineError(code, e.message, { cause: err, errno: e.code }), job.pid, image);
    }
    if (this.o.trust) {
      try {
        await this.o.trust.sign(image, { node: this.o.bus.node, job: job.id, crc32c: r.crc32c });
      } catch (err) {
        // an unsigned image cannot be restarted through the daemon: the checkpoint failed
        rmSync(image, { force: true });
        this.o.jobs.update(job.id, { state: isAlive(job) ? before : 'exited' });
        return fail(
          new EngineError('ENGINE', `signing ${image} failed: ${(err as Error).message}`, {
            cause: err,
          }),
          job.pid,
          image,
        );
      }
    }
    const record: ImageRecord = {
      job: job.id,
      node: this.o.bus.node,
      path: image,
      bytes: r.bytes,
      crc32c: r.crc32c,
      time: new Date().toISOString(),
      durationMs: r.wallNs / 1e6,
      frozenMs: r.frozenNs / 1e6,
      trigger: req.trigger,
    };
    const state =
      req.after === 'continue'
        ? before === 'stopped'
          ? 'stopped'
          : 'running'
        : req.after === 'stop'
          ? 'stopped'
          : 'killed';
    const images = [...job.images, record];
    const dropped = images.splice(0, Math.max(0, images.length - this.o.retain));
    this.o.jobs.update(job.id, { state, images, lastImage: record });
    this.publish('ckpt', 'end', {
      job: job.id,
      pid: job.pid,
      trigger: req.trigger,
      image,
      bytes: r.bytes,
      duration_ms: record.durationMs,
      frozen_ms: record.frozenMs,
      crc32c: r.crc32c,
      after: req.after,
    });
    // the bus queues it after the end event (its outbox survives an outage): not awaited, so
    // a NATS outage never holds the executor
    this.o.bus.catalog.put(record).catch((err: Error) => {
      log.error(
        { err: err.message },
        'catalog update failed (the image is on disk and in the job state)',
      );
    });
    for (const old of dropped) {
      rmSync(old.path, { force: true });
      rmSync(`${old.path}.sig`, { force: true });
    }
    this.o.hooks?.checkpointDone?.({
      job: job.id,
      ok: true,
      durationMs: record.durationMs,
      trigger: req.trigger,
      bytes: r.bytes,
      frozenMs: record.frozenMs,
      result: 'ok',
    });
    log.info(
      { bytes: r.bytes, ms: record.durationMs, frozenMs: record.frozenMs },
      'checkpoint done',
    );
    if (p.lateAfter && stronger(p.lateAfter, req.after)) this.applyAfter(job, p.lateAfter);
    return record;
  }

  private applyAfter(job: Job, after: AfterCheckpoint): void {
    const sig = AFTER_SIGNAL[after];
    if (!sig || !isAlive(job)) return;
    process.kill(job.pid, sig);
    this.o.jobs.update(job.id, { state: after === 'stop' ? 'stopped' : 'killed' });
  }

  /** Resume a preempted job: SIGCONT if it is still stopped, else restart from its image. */
  async resume(req: RestartRequest): Promise<{ pid: number; how: 'continued' | 'restarted' }> {
    const job = this.requireJob(req.job);
    if (isAlive(job)) {
      if (processState(job.pid) === 'T' || job.state === 'stopped') {
        process.kill(job.pid, 'SIGCONT');
        this.o.jobs.update(job.id, { state: 'running' });
        return { pid: job.pid, how: 'continued' };
      }
      throw new EngineError('BUSY', `job ${job.id} is running (pid ${job.pid}); nothing to resume`);
    }
    const r = await this.restart(req);
    return { pid: r.pid, how: 'restarted' };
  }

  private requireJob(id: string): Job {
    const job = this.o.jobs.get(id);
    if (!job)
      throw new EngineError('UNKNOWN_JOB', `job ${id} is not registered on ${this.o.bus.node}`);
    return job;
  }

  /** Restart a job from an image (default: its latest good one). */
  async restart(
    req: RestartRequest,
    opts: RestartOptions = {},
  ): Promise<{ pid: number; image: string }> {
    if (this.closed) throw new EngineError('UNAVAILABLE', 'the daemon is shutting down');
    const job = this.requireJob(req.job);
    if (this.restarting.has(job.id) || this.inFlight.has(job.id)) {
      throw new EngineError('BUSY', `job ${job.id} is being checkpointed or restarted`);
    }
    const restorePid = opts.restorePid ?? true;
    if (isAlive(job) && restorePid) {
      throw new EngineError(
        'BUSY',
        `job ${job.id} is still running as pid ${job.pid}: preempt or stop it first (ckpt checkpoint --preempt --job ${job.id}), or restart it under a new PID (ckpt restart --no-restore-pid --job ${job.id}; restorePid: false on the bus)`,
      );
    }
    // taken before the first await: a second restart meanwhile is BUSY, not a second copy
    this.restarting.add(job.id);
    let image: string;
    try {
      // the image and the record it came through (the request's path: the job's own
      // record of that path, if any)
      const record: ImageRecord | undefined = req.image
        ? job.images.find((i) => i.path === req.image)
        : (job.lastImage ?? (await this.o.bus.catalog.get(this.o.bus.node, job.id)));
      const named = req.image ?? record?.path;
      if (!named) throw new EngineError('NO_IMAGE', `job ${job.id} has no checkpoint image yet`);
      image = this.o.trust ? await this.trusted(job, named, record) : named;
    } catch (err) {
      this.restarting.delete(job.id);
      throw err;
    }
    const started = Date.now();
    this.publish('rstrt', 'begin', { job: job.id, pid: job.pid, trigger: req.trigger, image });
    const log = this.o.logger.child({ job: job.id, trigger: req.trigger });
    mkdirSync(this.o.logDir, { recursive: true, mode: 0o700 });
    const out = openSync(join(this.o.logDir, `${job.id}.log`), 'a', 0o600);
    const nul = openSync('/dev/null', 'r');
    try {
      const r = await this.o.engine.restart(image, {
        flags: restorePid ? 0 : libckpt.RS_NO_RESTORE_PID,
        after: opts.after === 'stop' ? libckpt.AFTER.stop : libckpt.AFTER.cont,
        stdinFd: nul,
        stdoutFd: out,
        stderrFd: out,
      });
      this.o.jobs.update(job.id, {
        pid: r.pid,
        startTime: processStartTime(r.pid),
        // several top-level processes (a pipeline's group): the job runs while any does
        roots:
          r.roots.length > 1
            ? r.roots.map((pid) => ({ pid, startTime: processStartTime(pid) }))
            : undefined,
        waiterPid: r.waiterPid,
        state: opts.after === 'stop' ? 'stopped' : 'running',
        restarts: job.restarts + 1,
        exitStatus: undefined,
      });
      this.o.engine.wait(r.waiterPid).then(
        (code) => {
          const j = this.o.jobs.get(job.id);
          if (!j || j.waiterPid !== r.waiterPid) return;
          this.o.jobs.update(job.id, {
            state: code > 128 ? 'killed' : 'exited',
            exitStatus: code,
            waiterPid: undefined,
          });
          log.info({ pid: r.pid, status: code }, 'restarted job ended');
        },
        (err: Error) => log.error({ err: err.message }, 'cannot wait for a restarted job'),
      );
      const durationMs = Date.now() - started;
      this.publish('rstrt', 'end', {
        job: job.id,
        pid: r.pid,
        trigger: req.trigger,
        image,
        duration_ms: durationMs,
        bytes: r.bytes,
      });
      this.o.hooks?.restartDone?.({
        job: job.id,
        ok: true,
        durationMs,
        trigger: req.trigger,
        bytes: r.bytes,
      });
      log.info({ pid: r.pid, image, ms: durationMs }, 'job restarted');
      return { pid: r.pid, image };
    } catch (err) {
      const e = err as libckpt.LibckptError;
      this.publish('rstrt', 'error', {
        job: job.id,
        pid: 0,
        trigger: req.trigger,
        code: 'ENGINE',
        message: e.message,
        image,
      });
      this.o.hooks?.restartDone?.({
        job: job.id,
        ok: false,
        durationMs: Date.now() - started,
        trigger: req.trigger,
      });
      throw new EngineError('ENGINE', e.message, { cause: err, errno: e.code });
    } finally {
      closeSync(out);
      closeSync(nul);
      this.restarting.delete(job.id);
    }
  }

  /**
   * The image's real path if a restart of `job` may use it (image-trust.ts), else an
   * EngineError FORBIDDEN naming what did not hold.
   */
  private async trusted(job: Job, image: string, record?: ImageRecord): Promise<string> {
    const trust = this.o.trust as ImageTrust;
    const real = await trust.inside(image);
    await trust.verify(real, { node: this.o.bus.node, id: job.id }, record);
    const inspect = this.o.inspect ?? libckpt.inspect;
    let described: Record<string, unknown>;
    try {
      described = await inspect(real);
    } catch (err) {
      throw new EngineError('ENGINE', `reading ${image}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    ImageTrust.checkCreds(image, described, job.owner);
    return real;
  }

  /** Stop taking work; wait (bounded) for running checkpoints; fail queued ones as cancelled. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) {
      p.reject(
        new EngineError(
          'CANCELLED',
          `checkpoint of ${p.req.job} cancelled: the daemon is shutting down`,
        ),
      );
      this.publish('ckpt', 'error', {
        job: p.req.job,
        pid: this.o.jobs.get(p.req.job)?.pid ?? 0,
        trigger: p.req.trigger,
        code: 'CANCELLED',
        message: 'cancelled before it started: the daemon is shutting down',
      });
    }
    const running = [...this.inFlight.values()].map((p) => p.promise.catch(() => undefined));
    await Promise.race([
      Promise.all(running),
      new Promise((r) => setTimeout(r, timeoutMs).unref()),
    ]);
  }
}
