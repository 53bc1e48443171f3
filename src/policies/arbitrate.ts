/**
 * Arbitration between policies, per job, as one pure operator (state lives per subscription,
 * time comes from the injected scheduler):
 *
 * 1. Cooldown. A checkpoint candidate with cooldownMs > 0 is dropped when the job had a
 *    checkpoint less than cooldownMs ago whose priority is at least the candidate's and whose
 *    `after` is at least as strong. So periodic/adaptive requests are skipped right after any
 *    checkpoint, while an automatic one is never suppressed by a lower-priority checkpoint, and
 *    a request that would stop or kill the job is never suppressed by one that only continued.
 *    "Had a checkpoint" = a checkpoint decision emitted here, or a successful outcome (outcomes$,
 *    which also covers checkpoints made outside the policies). A failed outcome clears it.
 * 2. Collapse. The first candidate for a job opens a window of collapseWindowMs; candidates for
 *    the job within it merge into one request: the highest priority's trigger (the earliest
 *    among equals), with the strongest `after` of all (kill > terminate > stop > continue).
 *    The merged request is emitted when the window closes.
 * 3. Resume. A resume candidate first flushes the job's open window (so a preempt followed by a
 *    resume stays in that order), then is emitted at once; a second resume of the job within
 *    collapseWindowMs with no checkpoint in between is a duplicate and dropped.
 *
 * On completion or error of the source, open windows are flushed before completing/erroring,
 * so no decision already taken is lost. outcomes$ is only read; its completion changes nothing.
 */
import { Observable, type OperatorFunction, type SchedulerLike, Subscription } from 'rxjs';
import { type AfterCheckpoint, type CheckpointRequest, PRIORITY } from '../shared/types.js';
import { AFTER_RANK, type Candidate, strongerAfter } from './candidate.js';
import type { CheckpointOutcomeEvent, PolicyDecision } from './types.js';

export interface ArbitrateOptions {
  scheduler: SchedulerLike;
  collapseWindowMs: number;
  outcomes$: Observable<CheckpointOutcomeEvent>;
}

interface LastCheckpoint {
  at: number;
  priority: number;
  after: AfterCheckpoint;
  policy: string;
  kind: string;
}

export function arbitrate(opts: ArbitrateOptions): OperatorFunction<Candidate, PolicyDecision> {
  const { scheduler, collapseWindowMs } = opts;
  return (source) =>
    new Observable<PolicyDecision>((subscriber) => {
      const last = new Map<string, LastCheckpoint>();
      const lastResumeAt = new Map<string, number>();
      const pending = new Map<string, { request: CheckpointRequest; timer: Subscription }>();

      const flush = (job: string): void => {
        const open = pending.get(job);
        if (open === undefined) return;
        pending.delete(job);
        open.timer.unsubscribe();
        const { request } = open;
        last.set(job, {
          at: scheduler.now(),
          priority: request.priority,
          after: request.after,
          policy: request.trigger.policy,
          kind: request.trigger.kind,
        });
        lastResumeAt.delete(job);
        subscriber.next({ kind: 'checkpoint', request });
      };
      const flushAll = (): void => {
        for (const job of [...pending.keys()]) flush(job);
      };

      const coolingDown = (request: CheckpointRequest, cooldownMs: number): boolean => {
        const prev = last.get(request.job);
        if (cooldownMs <= 0 || prev === undefined) return false;
        return (
          scheduler.now() - prev.at < cooldownMs &&
          prev.priority >= request.priority &&
          AFTER_RANK[prev.after] >= AFTER_RANK[request.after]
        );
      };

      const onCheckpoint = (request: CheckpointRequest, cooldownMs: number): void => {
        if (coolingDown(request, cooldownMs)) return;
        const open = pending.get(request.job);
        if (open !== undefined) {
          const winner = request.priority > open.request.priority ? request : open.request;
          open.request = { ...winner, after: strongerAfter(open.request.after, request.after) };
          return;
        }
        if (collapseWindowMs === 0) {
          // no window: decide now (a timer of 0 would still cost a turn of the event loop)
          pending.set(request.job, { request, timer: Subscription.EMPTY });
          flush(request.job);
          return;
        }
        const timer = scheduler.schedule(() => flush(request.job), collapseWindowMs);
        pending.set(request.job, { request, timer });
      };

      const onResume = (candidate: Extract<Candidate, { kind: 'resume' }>): void => {
        const { job } = candidate.request;
        flush(job);
        const prev = lastResumeAt.get(job);
        const now = scheduler.now();
        if (prev !== undefined && now - prev < collapseWindowMs) return;
        lastResumeAt.set(job, now);
        subscriber.next({ kind: 'resume', request: candidate.request });
      };

      const onOutcome = (o: CheckpointOutcomeEvent): void => {
        const prev = last.get(o.job);
        const same =
          prev !== undefined && prev.policy === o.trigger.policy && prev.kind === o.trigger.kind;
        if (!o.ok) {
          if (same) last.delete(o.job);
          return;
        }
        const kind = o.trigger.kind;
        last.set(o.job, {
          at: scheduler.now(),
          priority: PRIORITY[kind] ?? PRIORITY.periodic,
          after: same ? prev.after : 'continue',
          policy: o.trigger.policy,
          kind,
        });
      };

      const outcomesSub = opts.outcomes$.subscribe({
        next: onOutcome,
        error: (err) => {
          flushAll();
          subscriber.error(err);
        },
      });
      const sourceSub = source.subscribe({
        next: (c) => (c.kind === 'resume' ? onResume(c) : onCheckpoint(c.request, c.cooldownMs)),
        error: (err) => {
          flushAll();
          subscriber.error(err);
        },
        complete: () => {
          flushAll();
          subscriber.complete();
        },
      });
      return () => {
        outcomesSub.unsubscribe();
        sourceSub.unsubscribe();
        for (const open of pending.values()) open.timer.unsubscribe();
        pending.clear();
      };
    });
}
