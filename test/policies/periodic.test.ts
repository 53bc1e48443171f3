import test from 'ava';
import { periodicPolicy } from '../../src/policies/periodic.js';
import { cand, ctxOf, job, jobs, marbles, periodic } from './helpers.js';

const P = { policy: 'every10', kind: 'periodic' } as const;
const x = cand('j1', P);
const y = cand('j2', P);

test('never: no job list ever, no checkpoint', (t) => {
  marbles(t, ({ expectObservable }, s) => {
    expectObservable(periodicPolicy(periodic(), ctxOf(s)), '^ 100ms !').toBe('');
  });
});

test('empty: jobs$ completes at once, so does the policy', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    expectObservable(periodicPolicy(periodic(), ctxOf(s, { jobs$: cold('|') }))).toBe('|');
  });
});

test('one job: first checkpoint one interval after it appears, then every interval', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    expectObservable(periodicPolicy(periodic(), ctxOf(s, { jobs$ })), '^ 35ms !').toBe(
      '10ms x 9ms x 9ms x',
      { x },
    );
  });
});

test('many: jobs appearing and leaving start and stop their own timers', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    // j1 from 0 until 25; j2 from 15.
    const jobs$ = cold('a 14ms b 9ms c', { a: jobs('j1'), b: jobs('j1', 'j2'), c: jobs('j2') });
    expectObservable(periodicPolicy(periodic(), ctxOf(s, { jobs$ })), '^ 50ms !').toBe(
      '10ms x 9ms x 4ms y 9ms y 9ms y',
      { x, y },
    );
  });
});

test('a job that is stopped loses its timer; back to running, it starts afresh', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    const jobs$ = cold('a 11ms b 2ms c', {
      a: jobs('j1'),
      b: [job('j1', 'stopped')],
      c: [job('j1', 'running')],
    });
    // ticks at 10; stopped at 12; running again at 15 -> 25, 35
    expectObservable(periodicPolicy(periodic(), ctxOf(s, { jobs$ })), '^ 40ms !').toBe(
      '10ms x 14ms x 9ms x',
      { x },
    );
  });
});

test('checkpointing state keeps the timer; exited and unselected jobs get none', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    const jobs$ = cold('a 4ms b', {
      a: [job('j1', 'running'), job('j2', 'exited'), job('other', 'running')],
      b: [job('j1', 'checkpointing'), job('j2', 'exited'), job('other', 'running')],
    });
    const policy = periodic({ jobs: { ids: ['j1', 'j2'] } });
    expectObservable(periodicPolicy(policy, ctxOf(s, { jobs$ })), '^ 25ms !').toBe('10ms x 9ms x', {
      x,
    });
  });
});

test('error: an error of jobs$ ends the policy with that error', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    const jobs$ = cold('a 14ms #', { a: jobs('j1') }, new Error('jobs broke'));
    expectObservable(periodicPolicy(periodic(), ctxOf(s, { jobs$ }))).toBe(
      '10ms x 4ms #',
      { x },
      new Error('jobs broke'),
    );
  });
});

test('completion of jobs$ stops every timer and completes', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    const jobs$ = cold('a 14ms |', { a: jobs('j1', 'j2') });
    expectObservable(periodicPolicy(periodic(), ctxOf(s, { jobs$ }))).toBe('10ms (xy) 1ms |', {
      x,
      y,
    });
  });
});

test('early unsubscribe: timers and the jobs subscription end', (t) => {
  marbles(t, ({ cold, expectObservable, expectSubscriptions }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    expectObservable(periodicPolicy(periodic(), ctxOf(s, { jobs$ })), '^ 15ms !').toBe('10ms x', {
      x,
    });
    expectSubscriptions(jobs$.subscriptions).toBe('^ 15ms !');
  });
});

test('scope policy: one timer from the start; each tick checkpoints every selected job', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    // j2 joins at 5 (before the first tick), j1 leaves at 15.
    const jobs$ = cold('a 4ms b 9ms c', { a: jobs('j1'), b: jobs('j1', 'j2'), c: jobs('j2') });
    const policy = periodic({ scope: 'policy' });
    expectObservable(periodicPolicy(policy, ctxOf(s, { jobs$ })), '^ 25ms !').toBe(
      '10ms (xy) 6ms y',
      { x, y },
    );
  });
});

test('cooldown and after are carried on the candidate for arbitration', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1') });
    const policy = periodic({ after: 'stop', cooldownMs: 4 });
    expectObservable(periodicPolicy(policy, ctxOf(s, { jobs$ })), '^ 12ms !').toBe('10ms z', {
      z: cand('j1', P, 'stop', 4),
    });
  });
});
