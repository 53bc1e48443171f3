/** Shared builders and marble helpers for the policy tests. */
import type { ExecutionContext } from 'ava';
import { NEVER, type Observable } from 'rxjs';
import { type RunHelpers, TestScheduler } from 'rxjs/testing';
import type { Candidate, PolicyContext } from '../../src/policies/candidate.js';
import type {
  AdaptivePolicy,
  AutomaticPolicy,
  AutomaticRule,
  CheckpointOutcomeEvent,
  JobSnapshot,
  PeriodicPolicy,
  PolicyCommand,
  PreemptivePolicy,
} from '../../src/policies/types.js';
import {
  type AfterCheckpoint,
  type HealthEvent,
  type JobState,
  PRIORITY,
  type Severity,
  type Trigger,
} from '../../src/shared/types.js';

export const NODE = 'n1';

/** Run a marble test; a mismatch fails the ava test with both message lists shown. */
export function marbles(
  t: ExecutionContext,
  body: (h: RunHelpers, scheduler: TestScheduler) => void,
): void {
  const scheduler = new TestScheduler((actual, expected) => t.deepEqual(actual, expected));
  scheduler.run((h) => body(h, scheduler));
}

export function ctxOf(
  scheduler: TestScheduler,
  inputs: Partial<Omit<PolicyContext, 'node' | 'scheduler'>> = {},
): PolicyContext {
  return {
    health$: inputs.health$ ?? NEVER,
    commands$: inputs.commands$ ?? NEVER,
    jobs$: inputs.jobs$ ?? NEVER,
    outcomes$: inputs.outcomes$ ?? NEVER,
    node: NODE,
    scheduler,
  };
}

export function jobs(...ids: string[]): JobSnapshot[] {
  return ids.map((id) => ({ id, state: 'running' }));
}

export function job(id: string, state: JobState): JobSnapshot {
  return { id, state };
}

export function event(
  id: string,
  type: string,
  severity: Severity,
  extra: Partial<HealthEvent> = {},
): HealthEvent {
  return { specversion: '1.0', id, source: 'test', type, severity, node: NODE, ...extra };
}

export function command(
  verb: PolicyCommand['verb'],
  job: string,
  id: string,
  after?: AfterCheckpoint,
): PolicyCommand {
  return after === undefined ? { verb, job, id } : { verb, job, id, after };
}

export function outcome(
  job: string,
  durationMs: number,
  trigger: Trigger,
  ok = true,
): CheckpointOutcomeEvent {
  return { job, durationMs, ok, trigger };
}

/** The candidate a policy emits (cooldown included). */
export function cand(
  job: string,
  trigger: Trigger,
  after: AfterCheckpoint = 'continue',
  cooldownMs = 0,
): Candidate {
  return {
    kind: 'checkpoint',
    request: { job, trigger, priority: PRIORITY[trigger.kind], after },
    cooldownMs,
  };
}

export function periodic(over: Partial<PeriodicPolicy> = {}): PeriodicPolicy {
  return {
    kind: 'periodic',
    name: 'every10',
    origin: 'test',
    jobs: { glob: '*' },
    after: 'continue',
    cooldownMs: 0,
    intervalMs: 10,
    scope: 'job',
    ...over,
  };
}

export function adaptive(over: Partial<AdaptivePolicy> = {}): AdaptivePolicy {
  return {
    kind: 'adaptive',
    name: 'yd',
    origin: 'test',
    jobs: { glob: '*' },
    after: 'continue',
    cooldownMs: 0,
    formula: 'daly',
    initialIntervalMs: 30,
    minIntervalMs: 1,
    maxIntervalMs: 86_400_000,
    costSamples: 3,
    mtbf: { priorMs: 86_400_000, severity: 'error', types: '*' },
    ...over,
  };
}

export function rule(over: Partial<AutomaticRule> = {}): AutomaticRule {
  return {
    type: '*',
    severity: 'error',
    where: [],
    count: 1,
    withinMs: 0,
    target: 'node',
    ...over,
  };
}

export function automatic(over: Partial<AutomaticPolicy> = {}): AutomaticPolicy {
  return {
    kind: 'automatic',
    name: 'auto',
    origin: 'test',
    jobs: { glob: '*' },
    after: 'continue',
    cooldownMs: 0,
    rules: [rule()],
    ...over,
  };
}

export function preemptive(over: Partial<PreemptivePolicy> = {}): PreemptivePolicy {
  return {
    kind: 'preemptive',
    name: 'pre',
    origin: 'test',
    jobs: { glob: '*' },
    after: 'stop',
    cooldownMs: 0,
    ...over,
  };
}

/** Subscribe under virtual time until `untilMs`, recording [time, value] and the end. */
export function record<T>(
  scheduler: TestScheduler,
  source: Observable<T>,
  untilMs: number,
): { values: [number, T][]; error?: unknown; completedAt?: number } {
  const log: { values: [number, T][]; error?: unknown; completedAt?: number } = { values: [] };
  scheduler.run(() => {
    const sub = source.subscribe({
      next: (v) => log.values.push([scheduler.now(), v]),
      error: (e) => {
        log.error = e;
      },
      complete: () => {
        log.completedAt = scheduler.now();
      },
    });
    scheduler.schedule(() => sub.unsubscribe(), untilMs);
  });
  return log;
}
