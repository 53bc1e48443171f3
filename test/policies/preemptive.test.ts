import test from 'ava';
import type { Candidate } from '../../src/policies/candidate.js';
import { commandCheckpoints, preemptivePolicy } from '../../src/policies/preemptive.js';
import type { PolicyCommand } from '../../src/policies/types.js';
import { cand, command, ctxOf, marbles, preemptive } from './helpers.js';

const pre = (id: string) => ({ policy: 'pre', kind: 'preemptive', eventId: id }) as const;
const resume = (job: string, id: string): Candidate => ({
  kind: 'resume',
  request: { job, trigger: { policy: 'pre', kind: 'resume', eventId: id } },
});

test('never: no command, nothing', (t) => {
  marbles(t, ({ expectObservable }, s) => {
    expectObservable(preemptivePolicy(preemptive(), ctxOf(s)), '^ 50ms !').toBe('');
    expectObservable(commandCheckpoints(ctxOf(s)), '^ 50ms !').toBe('');
  });
});

test('empty: commands$ completes at once, so does the policy', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    expectObservable(preemptivePolicy(preemptive(), ctxOf(s, { commands$: cold('|') }))).toBe('|');
    expectObservable(commandCheckpoints(ctxOf(s, { commands$: cold('|') }))).toBe('|');
  });
});

test('one preempt: checkpoint then the policy default (stop)', (t) => {
  marbles(t, ({ hot, expectObservable }, s) => {
    const commands$ = hot('-p', { p: command('preempt', 'j1', 'c1') });
    expectObservable(preemptivePolicy(preemptive(), ctxOf(s, { commands$ }))).toBe('-x', {
      x: cand('j1', pre('c1'), 'stop'),
    });
  });
});

test('many: command after overrides the default; resume; selector; checkpoint verb ignored', (t) => {
  marbles(t, ({ hot, expectObservable }, s) => {
    const commands$ = hot('-abcde', {
      a: command('preempt', 'batch-1', 'c1', 'kill'),
      b: command('preempt', 'web-1', 'c2'), // not selected
      c: command('checkpoint', 'batch-1', 'c3'), // not this policy's business
      d: command('resume', 'batch-1', 'c4'),
      e: command('resume', 'web-1', 'c5'), // not selected
    });
    const policy = preemptive({ jobs: { glob: 'batch-*' }, after: 'terminate' });
    expectObservable(preemptivePolicy(policy, ctxOf(s, { commands$ }))).toBe('-x--r', {
      x: cand('batch-1', pre('c1'), 'kill'),
      r: resume('batch-1', 'c4'),
    });
  });
});

test('checkpoint commands: trigger kind command, after default continue, no cooldown', (t) => {
  marbles(t, ({ hot, expectObservable }, s) => {
    const commands$ = hot('-abc', {
      a: command('checkpoint', 'j1', 'c1'),
      b: command('checkpoint', 'j2', 'c2', 'kill'),
      c: command('preempt', 'j1', 'c3'),
    });
    const trig = (id: string) => ({ policy: 'command', kind: 'command', eventId: id }) as const;
    expectObservable(commandCheckpoints(ctxOf(s, { commands$ }))).toBe('-xy', {
      x: cand('j1', trig('c1'), 'continue', 0),
      y: cand('j2', trig('c2'), 'kill', 0),
    });
  });
});

test('error: an error of commands$ ends the policy with that error', (t) => {
  marbles(t, ({ hot, expectObservable }, s) => {
    const commands$ = hot<PolicyCommand>('-p-#', { p: command('resume', 'j1', 'c1') }, 'boom');
    expectObservable(preemptivePolicy(preemptive(), ctxOf(s, { commands$ }))).toBe(
      '-r-#',
      { r: resume('j1', 'c1') },
      'boom',
    );
    expectObservable(commandCheckpoints(ctxOf(s, { commands$ }))).toBe('---#', {}, 'boom');
  });
});

test('early unsubscribe ends the commands subscription', (t) => {
  marbles(t, ({ hot, expectObservable, expectSubscriptions }, s) => {
    const commands$ = hot('-p--p', { p: command('preempt', 'j1', 'c1') });
    expectObservable(preemptivePolicy(preemptive(), ctxOf(s, { commands$ })), '^ 2ms !').toBe(
      '-x',
      { x: cand('j1', pre('c1'), 'stop') },
    );
    expectSubscriptions(commands$.subscriptions).toBe('^ 2ms !');
  });
});
