import test from 'ava';
import { NEVER, type Observable } from 'rxjs';
import { arbitrate } from '../../src/policies/arbitrate.js';
import type { Candidate } from '../../src/policies/candidate.js';
import type { CheckpointOutcomeEvent, PolicyDecision } from '../../src/policies/types.js';
import type { AfterCheckpoint, Trigger } from '../../src/shared/types.js';
import { cand, marbles, outcome } from './helpers.js';

const PER: Trigger = { policy: 'hourly', kind: 'periodic' };
const AUTO: Trigger = { policy: 'auto', kind: 'automatic', eventId: 'e1' };
const PRE: Trigger = { policy: 'pre', kind: 'preemptive', eventId: 'c1' };
const CMD: Trigger = { policy: 'command', kind: 'command', eventId: 'c2' };
const RES: Trigger = { policy: 'pre', kind: 'resume', eventId: 'c3' };

/** The decision a candidate becomes once it won. */
function dec(c: Candidate, after?: AfterCheckpoint): PolicyDecision {
  if (c.kind === 'resume') return c;
  return { kind: 'checkpoint', request: { ...c.request, after: after ?? c.request.after } };
}
const resume = (job: string): Candidate => ({ kind: 'resume', request: { job, trigger: RES } });

function arb(
  s: Parameters<Parameters<typeof marbles>[1]>[1],
  windowMs: number,
  outcomes$: Observable<CheckpointOutcomeEvent> = NEVER,
) {
  return arbitrate({ scheduler: s, collapseWindowMs: windowMs, outcomes$ });
}

test('never and empty', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    expectObservable(cold<Candidate>('-').pipe(arb(s, 5)), '^ 50ms !').toBe('');
    expectObservable(cold<Candidate>('|').pipe(arb(s, 5))).toBe('|');
  });
});

test('one: a candidate is decided when its collapse window closes', (t) => {
  const p = cand('j1', PER);
  marbles(t, ({ hot, expectObservable }, s) => {
    expectObservable(hot('-a', { a: p }).pipe(arb(s, 5))).toBe('------x', { x: dec(p) });
  });
});

test('many: same-job requests in a window collapse to the highest priority, strongest after', (t) => {
  const per = cand('j1', PER, 'continue');
  const auto = cand('j1', AUTO, 'stop');
  const pre = cand('j1', PRE, 'kill');
  const cmd = cand('j1', CMD, 'terminate');
  const other = cand('j2', PER);
  marbles(t, ({ hot, expectObservable }, s) => {
    // j1: periodic, automatic(stop), preemptive(kill), command(terminate) within 10 ms
    // -> one automatic decision that kills; j2 is decided on its own.
    const c$ = hot('-abcde', { a: per, b: auto, c: other, d: pre, e: cmd });
    expectObservable(c$.pipe(arb(s, 10))).toBe('-----------x-y', {
      x: dec(auto, 'kill'),
      y: dec(other),
    });
  });
});

test('equal priorities keep the first trigger; after a window closes a new one opens', (t) => {
  const a = cand('j1', { policy: 'p1', kind: 'periodic' });
  const b = cand('j1', { policy: 'p2', kind: 'adaptive' }, 'stop');
  const c = cand('j1', CMD);
  marbles(t, ({ hot, expectObservable }, s) => {
    expectObservable(hot('ab---c', { a, b, c }).pipe(arb(s, 3))).toBe('---x----y', {
      x: dec(a, 'stop'),
      y: dec(c),
    });
  });
});

test('cooldown: a periodic request right after a checkpoint of the job is skipped', (t) => {
  const auto = cand('j1', AUTO);
  const per = cand('j1', PER, 'continue', 20);
  marbles(t, ({ hot, expectObservable }, s) => {
    // automatic decided at 2; periodic at 10 (8 ms later, cooldown 20) skipped;
    // periodic at 30 (28 ms later) decided at 32.
    const c$ = hot('a---------p-------------------p', { a: auto, p: per });
    expectObservable(c$.pipe(arb(s, 2))).toBe('--x-----------------------------y', {
      x: dec(auto),
      y: dec(per),
    });
  });
});

test('cooldown: an automatic request is never suppressed by a lower-priority checkpoint', (t) => {
  const per = cand('j1', PER);
  const auto = cand('j1', AUTO, 'continue', 50);
  marbles(t, ({ hot, expectObservable }, s) => {
    expectObservable(hot('p---a', { p: per, a: auto }).pipe(arb(s, 1))).toBe('-x---y', {
      x: dec(per),
      y: dec(auto),
    });
  });
});

test("cooldown: automatic after automatic is skipped unless it asks a stronger 'after'", (t) => {
  const a1 = cand('j1', AUTO, 'continue', 50);
  const a2 = cand('j1', { ...AUTO, eventId: 'e2' }, 'continue', 50);
  const a3 = cand('j1', { ...AUTO, eventId: 'e3' }, 'stop', 50);
  marbles(t, ({ hot, expectObservable }, s) => {
    expectObservable(hot('a---b---c', { a: a1, b: a2, c: a3 }).pipe(arb(s, 1))).toBe('-x-------y', {
      x: dec(a1),
      y: dec(a3),
    });
  });
});

test('cooldown from outcomes: a successful checkpoint made elsewhere counts, a failed one not', (t) => {
  const per = cand('j1', PER, 'continue', 20);
  marbles(t, ({ hot, expectObservable }, s) => {
    const outcomes$ = hot('-o--------f', {
      o: outcome('j1', 3, CMD), // ok at 1: periodic at 5 skipped
      f: outcome('j1', 3, CMD, false), // the command checkpoint failed at 10: cooldown cleared
    });
    const c$ = hot('-----p------p', { p: per });
    expectObservable(c$.pipe(arb(s, 1, outcomes$))).toBe('-------------x', { x: dec(per) });
  });
});

test('resume: flushes the pending preempt first, duplicates within the window dropped', (t) => {
  const pre = cand('j1', PRE, 'stop');
  marbles(t, ({ hot, expectObservable }, s) => {
    // preempt at 1 (window 10), resume at 3 (x2), second resume at 20 is a new one.
    const c$ = hot('-p-(rr)---------------r', { p: pre, r: resume('j1') });
    expectObservable(c$.pipe(arb(s, 10))).toBe('---(xr)---------------r', {
      x: dec(pre),
      r: resume('j1'),
    });
  });
});

test('completion flushes open windows; error flushes them too, then errors', (t) => {
  const p = cand('j1', PER);
  marbles(t, ({ hot, expectObservable }, s) => {
    expectObservable(hot('-a-|', { a: p }).pipe(arb(s, 10))).toBe('---(x|)', { x: dec(p) });
  });
  marbles(t, ({ hot, expectObservable }, s) => {
    expectObservable(hot<Candidate>('-a-#', { a: p }, 'boom').pipe(arb(s, 10))).toBe(
      '---(x#)',
      { x: dec(p) },
      'boom',
    );
  });
  marbles(t, ({ hot, expectObservable }, s) => {
    const outcomes$ = hot<CheckpointOutcomeEvent>('--#', {}, 'outcomes broke');
    expectObservable(hot('-a', { a: p }).pipe(arb(s, 10, outcomes$))).toBe(
      '--(x#)',
      { x: dec(p) },
      'outcomes broke',
    );
  });
});

test('early unsubscribe: pending windows are dropped, inputs unsubscribed', (t) => {
  const p = cand('j1', PER);
  marbles(t, ({ hot, expectObservable, expectSubscriptions }, s) => {
    const c$ = hot('-a', { a: p });
    const outcomes$ = hot<CheckpointOutcomeEvent>('-');
    expectObservable(c$.pipe(arb(s, 10, outcomes$)), '^ 5ms !').toBe('');
    expectSubscriptions(c$.subscriptions).toBe('^ 5ms !');
    expectSubscriptions(outcomes$.subscriptions).toBe('^ 5ms !');
  });
});
