/**
 * periodic: checkpoint every `interval`. scope 'job': each selected job has its own timer,
 * started when the job appears (first checkpoint one interval later) and stopped when it goes.
 * scope 'policy': one timer from subscription; each tick checkpoints every selected job.
 * Completes when jobs$ completes.
 */
import {
  connect,
  distinctUntilChanged,
  endWith,
  ignoreElements,
  interval,
  map,
  mergeMap,
  type Observable,
  takeUntil,
  withLatestFrom,
} from 'rxjs';
import { type Candidate, checkpointCandidate, type PolicyContext } from './candidate.js';
import { perJobLifetime } from './lifetimes.js';
import { jobMatcher, timedJobIds } from './select.js';
import type { PeriodicPolicy } from './types.js';

export function periodicPolicy(policy: PeriodicPolicy, ctx: PolicyContext): Observable<Candidate> {
  const matches = jobMatcher(policy.jobs);
  const trigger = { policy: policy.name, kind: 'periodic' } as const;
  const candidate = (job: string) =>
    checkpointCandidate(job, trigger, policy.after, policy.cooldownMs);
  const ids$ = ctx.jobs$.pipe(
    map((jobs) => timedJobIds(jobs, matches)),
    distinctUntilChanged(sameIds),
  );

  if (policy.scope === 'job') {
    return ids$.pipe(
      perJobLifetime((job) =>
        interval(policy.intervalMs, ctx.scheduler).pipe(map(() => candidate(job))),
      ),
    );
  }
  return ids$.pipe(
    connect((shared$) =>
      interval(policy.intervalMs, ctx.scheduler).pipe(
        withLatestFrom(shared$),
        mergeMap(([, ids]) => ids.map(candidate)),
        takeUntil(shared$.pipe(ignoreElements(), endWith(null))),
      ),
    ),
  );
}

export function sameIds(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}
