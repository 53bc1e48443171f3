import test from 'ava';
import { NEVER, Observable, of, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  createPolicyEngine,
  defaultPolicySet,
  loadPolicyFiles,
  type PolicyDecision,
  PolicyEngineError,
  PolicyInputError,
  type PolicyInputs,
} from '../../src/policies/index.js';
import type { CheckpointOutcomeEvent, PolicyCommand } from '../../src/policies/types.js';
import type { HealthEvent } from '../../src/shared/types.js';
import { command, event, jobs, marbles, NODE, periodic, record } from './helpers.js';

type Inputs = Partial<PolicyInputs>;
const inputsOf = (i: Inputs): PolicyInputs => ({
  health$: i.health$ ?? NEVER,
  commands$: i.commands$ ?? NEVER,
  jobs$: i.jobs$ ?? NEVER,
  outcomes$: i.outcomes$ ?? NEVER,
});
const ckpt = (
  job: string,
  policy: string,
  kind: 'automatic' | 'preemptive' | 'command' | 'periodic',
  after: string,
  eventId?: string,
): PolicyDecision => ({
  kind: 'checkpoint',
  request: {
    job,
    trigger: eventId === undefined ? { policy, kind } : { policy, kind, eventId },
    priority: { periodic: 1, command: 2, preemptive: 3, automatic: 4 }[kind],
    after: after as 'continue',
  },
});

test('default set: a fatal event about this node checkpoints every job, which continues', (t) => {
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const jobs$ = cold('a', { a: jobs('j1', 'j2') });
    const health$ = hot('-abc', {
      a: event('e1', 'node.failure.imminent', 'error'), // not fatal
      b: event('e2', 'node.failure.imminent', 'fatal', { node: 'n9' }), // other node
      c: event('e3', 'node.thermal.critical', 'fatal'),
    });
    const out = createPolicyEngine(defaultPolicySet(), inputsOf({ jobs$, health$ }), {
      node: NODE,
      scheduler: s,
      collapseWindowMs: 5,
    });
    expectObservable(out, '^ 30ms !').toBe('--------(xy)', {
      x: ckpt('j1', 'fatal-event', 'automatic', 'continue', 'e3'),
      y: ckpt('j2', 'fatal-event', 'automatic', 'continue', 'e3'),
    });
  });
});

test('default set: preempt stops (or kills when asked), resume resumes, checkpoint commands', (t) => {
  marbles(t, ({ hot, expectObservable }, s) => {
    const commands$ = hot('-a-b-c', {
      a: command('preempt', 'j1', 'c1'),
      b: command('resume', 'j1', 'c2'),
      c: command('checkpoint', 'j2', 'c3', 'kill'),
    });
    const jobs$ = hot('a', { a: jobs('j1', 'j2') });
    const out = createPolicyEngine(defaultPolicySet(), inputsOf({ commands$, jobs$ }), {
      node: NODE,
      scheduler: s,
      collapseWindowMs: 10,
    });
    expectObservable(out, '^ 30ms !').toBe('---(xr)--------y', {
      x: ckpt('j1', 'preempt', 'preemptive', 'stop', 'c1'),
      r: {
        kind: 'resume',
        request: { job: 'j1', trigger: { policy: 'preempt', kind: 'resume', eventId: 'c2' } },
      },
      y: ckpt('j2', 'command', 'command', 'kill', 'c3'),
    });
  });
});

test('never, empty: no inputs no decisions; all inputs complete -> the engine completes', (t) => {
  marbles(t, ({ cold, expectObservable }, s) => {
    const opts = { node: NODE, scheduler: s };
    expectObservable(createPolicyEngine(defaultPolicySet(), inputsOf({}), opts), '^ 50ms !').toBe(
      '',
    );
    const done = inputsOf({ health$: cold('|'), commands$: cold('--|'), jobs$: cold('-|') });
    expectObservable(createPolicyEngine(defaultPolicySet(), done, opts)).toBe('--|');
  });
});

test('many: policies of a set compete; arbitration picks one decision per job and window', (t) => {
  marbles(t, ({ cold, hot, expectObservable }, s) => {
    const set = {
      files: [],
      policies: [
        periodic({ name: 'p10', intervalMs: 10, cooldownMs: 5 }),
        ...defaultPolicySet().policies,
      ],
    };
    const jobs$ = cold('a', { a: jobs('j1') });
    // fatal at 9: automatic decided at 10 (window 1) -> periodic tick at 10 falls in the window
    // and loses; tick at 20 is 10 ms after, past the 5 ms cooldown -> decided at 21.
    const health$ = hot('---------f', { f: event('e1', 'x', 'fatal') });
    const out = createPolicyEngine(set, inputsOf({ jobs$, health$ }), {
      node: NODE,
      scheduler: s,
      collapseWindowMs: 1,
    });
    expectObservable(out, '^ 25ms !').toBe('----------a----------p', {
      a: ckpt('j1', 'fatal-event', 'automatic', 'continue', 'e1'),
      p: ckpt('j1', 'p10', 'periodic', 'continue'),
    });
  });
});

test('error: a failing input surfaces as PolicyInputError naming the input', (t) => {
  for (const name of ['health$', 'commands$', 'jobs$', 'outcomes$'] as const) {
    const s = new TestScheduler(t.deepEqual.bind(t));
    const failing: Observable<never> = new Observable((sub) => {
      sub.error(new Error(`${name} is down`));
    });
    const log = record(
      s,
      createPolicyEngine(defaultPolicySet(), inputsOf({ [name]: failing }), {
        node: NODE,
        scheduler: s,
      }),
      10,
    );
    t.true(log.error instanceof PolicyInputError, name);
    t.is((log.error as PolicyInputError).input, name);
    t.is((log.error as Error).message, `policy input ${name} failed: ${name} is down`);
    t.is(((log.error as Error).cause as Error).message, `${name} is down`);
  }
});

test('early unsubscribe: every input subscription ends with it', (t) => {
  marbles(t, ({ hot, expectObservable, expectSubscriptions }, s) => {
    const health$ = hot<HealthEvent>('-');
    const commands$ = hot<PolicyCommand>('-');
    const jobs$ = hot('a', { a: jobs('j1') });
    const outcomes$ = hot<CheckpointOutcomeEvent>('-');
    const set = { files: [], policies: [periodic(), ...defaultPolicySet().policies] };
    const out = createPolicyEngine(
      set,
      { health$, commands$, jobs$, outcomes$ },
      {
        node: NODE,
        scheduler: s,
        collapseWindowMs: 0,
      },
    );
    expectObservable(out, '^ 12ms !').toBe('----------x', {
      x: ckpt('j1', 'every10', 'periodic', 'continue'),
    });
    for (const input of [health$, commands$, jobs$, outcomes$])
      expectSubscriptions(input.subscriptions).toBe('^ 12ms !');
  });
});

test('inputs are subscribed once each, however many policies read them', (t) => {
  let subscriptions = 0;
  const health$ = new Observable<HealthEvent>(() => {
    subscriptions++;
  });
  const set = loadPolicyFiles([
    'config/policies/automatic.example.yaml',
    'config/policies/default.yaml',
  ]);
  const sub = createPolicyEngine(set, inputsOf({ health$ }), { node: NODE }).subscribe();
  sub.unsubscribe();
  t.is(subscriptions, 1);
});

test('with real time (asyncScheduler): a hot Subject drives a decision', async (t) => {
  const health = new Subject<HealthEvent>();
  const out = createPolicyEngine(
    defaultPolicySet(),
    inputsOf({ health$: health, jobs$: of(jobs('j1')) }),
    {
      node: NODE,
      collapseWindowMs: 0,
    },
  );
  const decided = new Promise<PolicyDecision>((resolve) => {
    const sub = out.subscribe((d) => {
      resolve(d);
      sub.unsubscribe();
    });
  });
  health.next(event('e1', 'node.failure.imminent', 'fatal'));
  t.deepEqual(await decided, ckpt('j1', 'fatal-event', 'automatic', 'continue', 'e1'));
});

test('bad options are refused with what was expected', (t) => {
  const set = defaultPolicySet();
  t.throws(() => createPolicyEngine(set, inputsOf({}), { node: 'bad node' }), {
    instanceOf: PolicyEngineError,
    message: 'node "bad node" is not a node name; expected 1-64 of A-Z a-z 0-9 _ -',
  });
  t.throws(() => createPolicyEngine(set, inputsOf({}), { node: 'n1', collapseWindowMs: -1 }), {
    instanceOf: PolicyEngineError,
    message: 'collapseWindowMs -1 is not usable; expected a number of milliseconds >= 0',
  });
});
