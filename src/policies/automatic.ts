/**
 * automatic: health events matching a rule (type glob, minimum severity, node glob or this
 * node, conditions on data, `count` matches within `within`) checkpoint the affected jobs:
 * every selected live job of this node (target 'node') or the job named in event.data.job
 * (target 'event', only if it is a selected live job of this node). After firing, a rule's
 * count starts again from zero. Events that do not fit (missing data, wrong types) simply do
 * not match. Completes when health$ completes.
 */
import { defer, map, mergeMap, type Observable, startWith, withLatestFrom } from 'rxjs';
import { type HealthEvent, SEVERITIES } from '../shared/types.js';
import { type Candidate, checkpointCandidate, type PolicyContext } from './candidate.js';
import { globMatcher } from './glob.js';
import { jobMatcher, liveJobIds } from './select.js';
import type { AutomaticPolicy, AutomaticRule, DataCondition, JobSnapshot } from './types.js';

/** The value at a dot-separated path inside event data, or undefined. */
export function dataAt(data: unknown, path: string): unknown {
  let cur: unknown = data;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (!Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

export function conditionHolds(data: unknown, cond: DataCondition): boolean {
  const actual = dataAt(data, cond.path);
  switch (cond.op) {
    case '==':
      return actual === cond.value;
    case '!=':
      return actual !== undefined && actual !== cond.value;
    default: {
      if (typeof actual !== 'number' || typeof cond.value !== 'number') return false;
      if (!Number.isFinite(actual)) return false;
      if (cond.op === '>') return actual > cond.value;
      if (cond.op === '>=') return actual >= cond.value;
      if (cond.op === '<') return actual < cond.value;
      return actual <= cond.value;
    }
  }
}

/** A rule with its sliding-window state: offer(event, now) says whether the rule fires. */
function ruleTracker(rule: AutomaticRule, thisNode: string) {
  const typeMatches = globMatcher(rule.type);
  const nodeMatches =
    rule.node === undefined ? (n: string) => n === thisNode : globMatcher(rule.node);
  const minSeverity = SEVERITIES.indexOf(rule.severity);
  const seen: number[] = [];
  return (ev: HealthEvent, now: number): boolean => {
    if (!typeMatches(ev.type) || !nodeMatches(ev.node)) return false;
    if (SEVERITIES.indexOf(ev.severity) < minSeverity) return false;
    if (!rule.where.every((c) => conditionHolds(ev.data, c))) return false;
    seen.push(now);
    while (seen.length > 0 && seen[0]! < now - rule.withinMs) seen.shift();
    if (seen.length < rule.count) return false;
    seen.length = 0;
    return true;
  };
}

export function automaticPolicy(
  policy: AutomaticPolicy,
  ctx: PolicyContext,
): Observable<Candidate> {
  return defer(() => {
    const matches = jobMatcher(policy.jobs);
    const trackers = policy.rules.map((rule) => ({ rule, offer: ruleTracker(rule, ctx.node) }));
    const targets = (ev: HealthEvent, jobs: JobSnapshot[]): string[] => {
      const live = liveJobIds(jobs, matches);
      const now = ctx.scheduler.now();
      const out = new Set<string>();
      for (const { rule, offer } of trackers) {
        if (!offer(ev, now)) continue;
        if (rule.target === 'node') for (const id of live) out.add(id);
        else {
          const job = dataAt(ev.data, 'job');
          if (typeof job === 'string' && live.includes(job)) out.add(job);
        }
      }
      return [...out];
    };
    return ctx.health$.pipe(
      withLatestFrom(ctx.jobs$.pipe(startWith([] as JobSnapshot[]))),
      mergeMap(([ev, jobs]) => targets(ev, jobs).map((job) => ({ ev, job }))),
      map(({ ev, job }) =>
        checkpointCandidate(
          job,
          { policy: policy.name, kind: 'automatic', eventId: ev.id },
          policy.after,
          policy.cooldownMs,
        ),
      ),
    );
  });
}
