import test from 'ava';
import { automaticPolicy, conditionHolds } from '../../src/policies/automatic.js';
import type { HealthEvent } from '../../src/shared/types.js';
import { automatic, cand, ctxOf, event, job, jobs, marbles, rule } from './helpers.js';

const trig = (eventId: string) => ({ policy: 'auto', kind: 'automatic', eventId }) as const;

test('never: no event, no checkpoint', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    expectObservable(automaticPolicy(automatic(), ctxOf(s, { jobs$ })), '^ 100ms !').toBe('');
  });
});

test('empty: health$ completes at once, so does the policy', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    expectObservable(automaticPolicy(automatic(), ctxOf(s, { jobs$, health$: cold('|') }))).toBe(
      '|',
    );
  });
});

test('one matching event checkpoints every live job of the node, with the policy after', (t) => {
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('a', {
      a: [job('j1', 'running'), job('j2', 'stopped'), job('j3', 'exited')],
    });
    const health$ = hot('--e', { e: event('e1', 'node.failure.imminent', 'fatal') });
    const policy = automatic({ after: 'stop', cooldownMs: 7 });
    expectObservable(automaticPolicy(policy, ctxOf(s, { jobs$, health$ }))).toBe('--(xy)', {
      x: cand('j1', trig('e1'), 'stop', 7),
      y: cand('j2', trig('e1'), 'stop', 7),
    });
  });
});

test('rule filters: type glob, minimum severity, this node by default, node glob', (t) => {
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    const health$ = hot('-abcdef', {
      a: event('e1', 'node.thermal.hot', 'fatal'), // wrong type
      b: event('e2', 'node.failure.imminent', 'warning'), // too mild
      c: event('e3', 'node.failure.imminent', 'error', { node: 'n2' }), // other node
      d: event('e4', 'node.failure.imminent', 'error'), // yes
      e: event('e5', 'node.failure.x', 'fatal', { node: 'n3' }), // yes, by rule 2
      f: event('e6', 'node.failure.x', 'fatal', { node: 'm3' }), // node outside the glob
    });
    const policy = automatic({
      rules: [
        rule({ type: 'node.failure.*', severity: 'error' }),
        rule({ type: 'node.failure.?', severity: 'error', node: 'n[0-9]' }),
      ],
    });
    expectObservable(automaticPolicy(policy, ctxOf(s, { jobs$, health$ }))).toBe('----xy', {
      x: cand('j1', trig('e4')),
      y: cand('j1', trig('e5')),
    });
  });
});

test('many: count events within a sliding window fire once, then the count restarts', (t) => {
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    const ev = (id: string) => event(id, 'node.thermal.hot', 'warning', { data: { tempC: 97 } });
    // 0 and 5 are more than 10 ms before 20; 20, 22, 24 are three within 10 ms -> fire at 24;
    // 26 and 28 are only two after the reset.
    const health$ = hot('a----b--------------c-d-e-f-g', {
      a: ev('e0'),
      b: ev('e5'),
      c: ev('e20'),
      d: ev('e22'),
      e: ev('e24'),
      f: ev('e26'),
      g: ev('e28'),
    });
    const policy = automatic({
      rules: [rule({ type: 'node.thermal.*', severity: 'warning', count: 3, withinMs: 10 })],
    });
    expectObservable(automaticPolicy(policy, ctxOf(s, { jobs$, health$ }))).toBe(
      '------------------------x',
      { x: cand('j1', trig('e24')) },
    );
  });
});

test('data conditions: over a threshold matches; missing or wrong-typed values do not', (t) => {
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    const ev = (id: string, data?: Record<string, unknown>) =>
      event(id, 'node.thermal.hot', 'warning', data === undefined ? {} : { data });
    const health$ = hot('-abcdef', {
      a: ev('e1', { zone: { tempC: 90 } }),
      b: ev('e2', { zone: { tempC: '99' } }),
      c: ev('e3'),
      d: ev('e4', { zone: 'hot' }),
      e: ev('e5', { zone: { tempC: 95 } }),
      f: ev('e6', { zone: { tempC: Number.NaN } }),
    });
    const policy = automatic({
      rules: [rule({ severity: 'warning', where: [{ path: 'zone.tempC', op: '>=', value: 95 }] })],
    });
    expectObservable(automaticPolicy(policy, ctxOf(s, { jobs$, health$ }))).toBe('-----x', {
      x: cand('j1', trig('e5')),
    });
  });
});

test('every comparison operator', (t) => {
  const data = { v: 5, s: 'hot', b: true };
  t.true(conditionHolds(data, { path: 'v', op: '>', value: 4 }));
  t.false(conditionHolds(data, { path: 'v', op: '>', value: 5 }));
  t.true(conditionHolds(data, { path: 'v', op: '>=', value: 5 }));
  t.true(conditionHolds(data, { path: 'v', op: '<', value: 6 }));
  t.false(conditionHolds(data, { path: 'v', op: '<', value: 5 }));
  t.true(conditionHolds(data, { path: 'v', op: '<=', value: 5 }));
  t.true(conditionHolds(data, { path: 's', op: '==', value: 'hot' }));
  t.false(conditionHolds(data, { path: 's', op: '==', value: 'cold' }));
  t.true(conditionHolds(data, { path: 'b', op: '!=', value: false }));
  t.false(conditionHolds(data, { path: 'missing', op: '!=', value: 1 }));
  t.false(conditionHolds(undefined, { path: 'v', op: '>', value: 0 }));
  t.false(conditionHolds({ v: { toString: 1 } }, { path: 'v.toString.x', op: '==', value: 1 }));
  t.false(conditionHolds({}, { path: 'constructor', op: '!=', value: 1 }));
});

test('target event: only the job named in data.job, and only if it is ours and selected', (t) => {
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('a', { a: [...jobs('j1', 'j2'), job('j3', 'exited')] });
    const ev = (id: string, data: Record<string, unknown>) =>
      event(id, 'job.at-risk', 'warning', { data, node: 'other' });
    const health$ = hot('-abcd', {
      a: ev('e1', { job: 'j2' }),
      b: ev('e2', { job: 'nope' }),
      c: ev('e3', { job: 42 }),
      d: ev('e4', { job: 'j3' }),
    });
    const policy = automatic({
      rules: [rule({ type: 'job.*', severity: 'warning', node: '*', target: 'event' })],
    });
    expectObservable(automaticPolicy(policy, ctxOf(s, { jobs$, health$ }))).toBe('-x', {
      x: cand('j2', trig('e1')),
    });
  });
});

test('the job selector limits the targets; no jobs known yet means no checkpoint', (t) => {
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('--a', { a: jobs('mpi-1', 'web-1', 'mpi-2') });
    const health$ = hot('-e-f', {
      e: event('e1', 'x', 'fatal'),
      f: event('e2', 'x', 'fatal'),
    });
    const policy = automatic({ jobs: { glob: 'mpi-*' } });
    expectObservable(automaticPolicy(policy, ctxOf(s, { jobs$, health$ }))).toBe('---(xy)', {
      x: cand('mpi-1', trig('e2')),
      y: cand('mpi-2', trig('e2')),
    });
  });
});

test('error: an error of health$ or jobs$ ends the policy with that error', (t) => {
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    const health$ = hot<HealthEvent>('-e-#', { e: event('e1', 'x', 'fatal') }, new Error('bad'));
    expectObservable(automaticPolicy(automatic(), ctxOf(s, { jobs$, health$ }))).toBe(
      '-x-#',
      { x: cand('j1', trig('e1')) },
      new Error('bad'),
    );
  });
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('a-#', { a: jobs('j1') }, new Error('jobs'));
    const health$ = hot<HealthEvent>('-');
    expectObservable(automaticPolicy(automatic(), ctxOf(s, { jobs$, health$ }))).toBe(
      '--#',
      {},
      new Error('jobs'),
    );
  });
});

test('early unsubscribe ends the health and jobs subscriptions', (t) => {
  marbles(t, ({ cold, hot, expectObservable, expectSubscriptions }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    const health$ = hot('-e---e', { e: event('e1', 'x', 'fatal') });
    expectObservable(automaticPolicy(automatic(), ctxOf(s, { jobs$, health$ })), '^ 3ms !').toBe(
      '-x',
      { x: cand('j1', trig('e1')) },
    );
    expectSubscriptions(health$.subscriptions).toBe('^ 3ms !');
    expectSubscriptions(jobs$.subscriptions).toBe('^ 3ms !');
  });
});
