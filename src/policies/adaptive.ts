/**
 * adaptive: per job, checkpoint after the Young/Daly optimal interval computed from the
 * measured cost of this job's checkpoints (mean duration of its last `costSamples` successful
 * checkpoints, any trigger) and the MTBF (configured, or estimated from failure events of this
 * node seen in a sliding window, with the configured value as prior).
 *
 * The interval counts from the job's appearance, from each successful checkpoint of the job
 * (whatever triggered it: a checkpoint by another policy pushes the next adaptive one back) and
 * from each adaptive tick. A new cost sample or failure event recomputes the pending wait.
 * Failure times are arrival times on the scheduler's clock (event clocks are not trusted).
 * Until a cost is measured, initialInterval is used. Always clamped to [minInterval, maxInterval].
 * Completes when jobs$ completes.
 */
import {
  connect,
  defer,
  distinctUntilChanged,
  endWith,
  filter,
  ignoreElements,
  map,
  merge,
  type Observable,
  repeat,
  share,
  startWith,
  switchMap,
  takeUntil,
  tap,
  timer,
} from 'rxjs';
import { SEVERITIES } from '../shared/types.js';
import { type Candidate, checkpointCandidate, type PolicyContext } from './candidate.js';
import { globMatcher } from './glob.js';
import { clamp, dalyInterval, estimateMtbf, youngInterval } from './interval.js';
import { perJobLifetime } from './lifetimes.js';
import { sameIds } from './periodic.js';
import { jobMatcher, timedJobIds } from './select.js';
import type { AdaptivePolicy } from './types.js';

/**
 * The interval (ms) the policy uses for a job with these recent checkpoint costs (ms) under
 * this MTBF (ms): initialInterval without costs, else the formula, clamped, whole ms.
 */
export function adaptiveIntervalMs(policy: AdaptivePolicy, costsMs: number[], mtbfMs: number) {
  if (costsMs.length === 0) return policy.initialIntervalMs;
  const cost = costsMs.reduce((a, b) => a + b, 0) / costsMs.length;
  const raw = policy.formula === 'young' ? youngInterval(cost, mtbfMs) : dalyInterval(cost, mtbfMs);
  return Math.max(1, Math.round(clamp(raw, policy.minIntervalMs, policy.maxIntervalMs)));
}

export function adaptivePolicy(policy: AdaptivePolicy, ctx: PolicyContext): Observable<Candidate> {
  return defer(() => {
    const { scheduler } = ctx;
    const matches = jobMatcher(policy.jobs);
    const isFailureType = globMatcher(policy.mtbf.types);
    const minSeverity = SEVERITIES.indexOf(policy.mtbf.severity);
    const trigger = { policy: policy.name, kind: 'adaptive' } as const;
    const startedAt = scheduler.now();
    const failures: number[] = []; // arrival times (scheduler clock) of failure events
    const costs = new Map<string, number[]>();

    const mtbfMs = (): number => {
      const { priorMs, windowMs } = policy.mtbf;
      if (windowMs === undefined) return priorMs;
      const now = scheduler.now();
      while (failures.length > 0 && failures[0]! <= now - windowMs) failures.shift();
      return estimateMtbf(priorMs, failures.length, Math.min(windowMs, now - startedAt));
    };

    // Failure events of this node, counted once (share) whatever the number of jobs.
    const failure$ = ctx.health$.pipe(
      filter(
        (ev) =>
          ev.node === ctx.node &&
          SEVERITIES.indexOf(ev.severity) >= minSeverity &&
          isFailureType(ev.type),
      ),
      tap(() => failures.push(scheduler.now())),
      share(),
    );

    const perJob = (job: string): Observable<Candidate> =>
      defer(() => {
        let anchor = scheduler.now(); // the job's last checkpoint (or its appearance)
        const checkpointed$ = ctx.outcomes$.pipe(
          filter(
            (o) => o.job === job && o.ok && Number.isFinite(o.durationMs) && o.durationMs >= 0,
          ),
          tap((o) => {
            const list = costs.get(job) ?? [];
            list.push(o.durationMs);
            if (list.length > policy.costSamples) list.shift();
            costs.set(job, list);
            anchor = scheduler.now();
          }),
        );
        // Wait until anchor + interval; a new cost or failure recomputes the wait.
        const due = () =>
          Math.max(
            0,
            anchor + adaptiveIntervalMs(policy, costs.get(job) ?? [], mtbfMs()) - scheduler.now(),
          );
        return merge(checkpointed$, failure$).pipe(
          startWith(null),
          switchMap(() =>
            defer(() => timer(due(), scheduler)).pipe(
              tap(() => {
                anchor = scheduler.now();
              }),
              repeat(),
            ),
          ),
          map(() => checkpointCandidate(job, trigger, policy.after, policy.cooldownMs)),
        );
      });

    const ids$ = ctx.jobs$.pipe(
      map((jobs) => timedJobIds(jobs, matches)),
      distinctUntilChanged(sameIds),
    );
    return ids$.pipe(
      connect((shared$) =>
        merge(
          failure$.pipe(ignoreElements(), takeUntil(shared$.pipe(ignoreElements(), endWith(null)))),
          shared$.pipe(perJobLifetime(perJob)),
        ),
      ),
    );
  });
}
