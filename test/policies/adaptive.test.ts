import test from 'ava';
import { adaptiveIntervalMs, adaptivePolicy } from '../../src/policies/adaptive.js';
import type { CheckpointOutcomeEvent } from '../../src/policies/types.js';
import type { HealthEvent, Trigger } from '../../src/shared/types.js';
import { adaptive, cand, ctxOf, event, jobs, marbles, outcome, record } from './helpers.js';

const A = { policy: 'yd', kind: 'adaptive' } as const;
const CMD: Trigger = { policy: 'command', kind: 'command' };
const x = cand('j1', A);
const y = cand('j2', A);
const MIN = 60_000;
const HOUR = 60 * MIN;
// Young with a fixed MTBF of 100 ms: cost 8 -> 40 ms, cost 2 -> 20 ms.
const young100 = adaptive({
  formula: 'young',
  mtbf: { priorMs: 100, severity: 'error', types: '*' },
});

test('never: no job list ever, no checkpoint', (t) => {
  marbles(t, ({ expectObservable }, s) => {
    expectObservable(adaptivePolicy(adaptive(), ctxOf(s)), '^ 100ms !').toBe('');
  });
});

test('empty: jobs$ completes at once, so does the policy', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    expectObservable(adaptivePolicy(adaptive(), ctxOf(s, { jobs$: cold('|') }))).toBe('|');
  });
});

test('one job, no cost measured yet: the initial interval, repeated', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    expectObservable(adaptivePolicy(adaptive(), ctxOf(s, { jobs$ })), '^ 65ms !').toBe(
      '30ms x 29ms x',
      { x },
    );
  });
});

test("a measured cost of the job's own checkpoints sets the interval from that checkpoint", (t) => {
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    // other job's outcome and a failed outcome at 2 and 3 change nothing; j1 cost 8 at 5
    const outcomes$ = hot('--bc-d', {
      b: outcome('j2', 1, CMD),
      c: outcome('j1', 1, CMD, false),
      d: outcome('j1', 8, CMD),
    });
    expectObservable(adaptivePolicy(young100, ctxOf(s, { jobs$, outcomes$ })), '^ 90ms !').toBe(
      '45ms x 39ms x',
      { x },
    );
  });
});

test('many: each job has its own cost and clock', (t) => {
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1', 'j2') });
    const outcomes$ = hot('-(bd)', { b: outcome('j1', 8, CMD), d: outcome('j2', 2, CMD) });
    expectObservable(adaptivePolicy(young100, ctxOf(s, { jobs$, outcomes$ })), '^ 85ms !').toBe(
      '21ms y 19ms (xy) 16ms y 19ms (xy)',
      { x, y },
    );
  });
});

test('the cost is the mean of the last costSamples checkpoints', (t) => {
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    // samples 50, 4, 12 with costSamples 2 -> mean(4, 12) = 8 -> 40 ms from frame 3
    const outcomes$ = hot('-bcd', {
      b: outcome('j1', 50, CMD),
      c: outcome('j1', 4, CMD),
      d: outcome('j1', 12, CMD),
    });
    const policy = { ...young100, costSamples: 2 };
    expectObservable(adaptivePolicy(policy, ctxOf(s, { jobs$, outcomes$ })), '^ 50ms !').toBe(
      '43ms x',
      { x },
    );
  });
});

test('MTBF estimated from failure events in a window shortens the pending wait', (t) => {
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    const outcomes$ = hot('-o', { o: outcome('j1', 8, CMD) });
    // Failures of this node (>= error) at 10 and 11; ignored: another node, a warning,
    // a type outside the glob.
    const health$ = hot('-----pqr--fg', {
      p: event('e1', 'node.failure.x', 'fatal', { node: 'n2' }),
      q: event('e2', 'node.failure.x', 'warning'),
      r: event('e3', 'job.note', 'fatal'),
      f: event('e4', 'node.failure.x', 'error'),
      g: event('e5', 'node.failure.x', 'fatal'),
    });
    const policy = adaptive({
      formula: 'young',
      mtbf: { priorMs: 100, windowMs: 20, severity: 'error', types: 'node.*' },
    });
    // at 11: M = (11 + 100) / 3 = 37 -> sqrt(16*37) = 24 -> due 1 + 24 = 25
    // at 25: M = (20 + 100) / 3 = 40 -> 25 -> due 50
    // at 50: both failures left the 20 ms window: M = 120 -> 44 -> due 94
    expectObservable(
      adaptivePolicy(policy, ctxOf(s, { jobs$, outcomes$, health$ })),
      '^ 100ms !',
    ).toBe('25ms x 24ms x 43ms x', { x });
  });
});

test('bounds: the interval is clamped to minInterval and maxInterval', (t) => {
  t.is(adaptiveIntervalMs(young100, [8], 100), 40);
  t.is(adaptiveIntervalMs({ ...young100, maxIntervalMs: 30 }, [8], 100), 30);
  t.is(adaptiveIntervalMs({ ...young100, minIntervalMs: 50 }, [8], 100), 50);
  t.is(adaptiveIntervalMs({ ...young100, initialIntervalMs: 77 }, [], 100), 77);
});

test('anchor: 5 min checkpoints, MTBF 24 h -> next checkpoint 117 min after the last one', (t) => {
  const policy = adaptive({
    initialIntervalMs: 30 * MIN,
    minIntervalMs: MIN,
    maxIntervalMs: 24 * HOUR,
    mtbf: { priorMs: 24 * HOUR, severity: 'error', types: '*' },
  });
  let log: ReturnType<typeof record> | undefined;
  marbles(t, ({ cold, hot }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    const outcomes$ = hot('35m o', { o: outcome('j1', 5 * MIN, A) });
    log = record(s, adaptivePolicy(policy, ctxOf(s, { jobs$, outcomes$ })), 3 * HOUR);
  });
  const times = log!.values.map(([at]) => at);
  t.is(times.length, 2);
  t.is(times[0], 30 * MIN); // initial interval, no cost yet
  const interval = times[1]! - 35 * MIN;
  t.is(Math.round(interval / MIN), 117);
  t.is(interval, 7_001_389); // Daly, whole ms
});

test('anchor: MTBF estimated at 6 h (prior 18 h, two failures) -> 57 min', (t) => {
  const policy = adaptive({
    initialIntervalMs: 30 * MIN,
    minIntervalMs: MIN,
    maxIntervalMs: 24 * HOUR,
    mtbf: { priorMs: 18 * HOUR, windowMs: 48 * HOUR, severity: 'error', types: '*' },
  });
  let log: ReturnType<typeof record> | undefined;
  marbles(t, ({ cold, hot }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    const health$ = hot('-ab', {
      a: event('e1', 'node.failure.imminent', 'error'),
      b: event('e2', 'node.failure.imminent', 'fatal'),
    });
    const outcomes$ = hot('---o', { o: outcome('j1', 5 * MIN, A) });
    log = record(s, adaptivePolicy(policy, ctxOf(s, { jobs$, health$, outcomes$ })), 2 * HOUR);
  });
  const first = log!.values[0]![0] - 3;
  t.is(Math.round(first / MIN), 57);
  t.true(Math.abs(first - 3_402_778) <= 2, `interval ${first} ms`);
});

test('error: an error of jobs$ or health$ ends the policy with that error', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    const jobs$ = cold('a 34ms #', { a: jobs('j1') }, new Error('jobs broke'));
    expectObservable(adaptivePolicy(adaptive(), ctxOf(s, { jobs$ }))).toBe(
      '30ms x 4ms #',
      { x },
      new Error('jobs broke'),
    );
  });
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    const health$ = hot<HealthEvent>('-----#', {}, new Error('health broke'));
    expectObservable(adaptivePolicy(adaptive(), ctxOf(s, { jobs$, health$ }))).toBe(
      '-----#',
      {},
      new Error('health broke'),
    );
  });
});

test('completion of jobs$ completes the policy; early unsubscribe ends every input', (t) => {
  marbles(t, ({ cold, hot, expectObservable, expectSubscriptions }, s) => {
    const jobs$ = cold('a 39ms |', { a: jobs('j1') });
    const health$ = hot<HealthEvent>('-');
    expectObservable(adaptivePolicy(adaptive(), ctxOf(s, { jobs$, health$ }))).toBe(
      '30ms x 9ms |',
      { x },
    );
    expectSubscriptions(health$.subscriptions).toBe('^ 39ms !');
  });
  marbles(t, ({ cold, hot, expectObservable, expectSubscriptions }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    const outcomes$ = hot<CheckpointOutcomeEvent>('-');
    expectObservable(adaptivePolicy(adaptive(), ctxOf(s, { jobs$, outcomes$ })), '^ 31ms !').toBe(
      '30ms x',
      { x },
    );
    expectSubscriptions(jobs$.subscriptions).toBe('^ 31ms !');
    expectSubscriptions(outcomes$.subscriptions).toBe('^ 31ms !');
  });
});
