/**
 * createPolicyEngine: every policy of a set, plus operator checkpoint commands, merged and
 * arbitrated into one stream of decisions for this node. Pure: the only effects are timers on
 * the injected scheduler. See docs/policies.md.
 */
import {
  asyncScheduler,
  catchError,
  connectable,
  defer,
  merge,
  Observable,
  Subject,
  throwError,
} from 'rxjs';
import { isToken } from '../shared/types.js';
import { adaptivePolicy } from './adaptive.js';
import { arbitrate } from './arbitrate.js';
import { automaticPolicy } from './automatic.js';
import type { Candidate, PolicyContext } from './candidate.js';
import { PolicyEngineError, PolicyInputError } from './errors.js';
import { periodicPolicy } from './periodic.js';
import { commandCheckpoints, preemptivePolicy } from './preemptive.js';
import type {
  Policy,
  PolicyDecision,
  PolicyEngineOptions,
  PolicyInputs,
  PolicySet,
} from './types.js';

export const DEFAULT_COLLAPSE_WINDOW_MS = 100;

/** The candidate stream of one policy. */
export function policyCandidates(policy: Policy, ctx: PolicyContext): Observable<Candidate> {
  switch (policy.kind) {
    case 'periodic':
      return periodicPolicy(policy, ctx);
    case 'adaptive':
      return adaptivePolicy(policy, ctx);
    case 'automatic':
      return automaticPolicy(policy, ctx);
    case 'preemptive':
      return preemptivePolicy(policy, ctx);
  }
}

/**
 * Decisions for node `opts.node` from its health events, commands, jobs and checkpoint
 * outcomes. Inputs are subscribed once each (multicast to the policies) when the result is
 * subscribed, after every policy is listening. The result completes when health$, commands$
 * and jobs$ have completed; it errors with PolicyInputError when an input errors.
 */
export function createPolicyEngine(
  set: PolicySet,
  inputs: PolicyInputs,
  opts: PolicyEngineOptions,
): Observable<PolicyDecision> {
  if (!isToken(opts?.node))
    throw new PolicyEngineError(
      `node ${JSON.stringify(opts?.node)} is not a node name; expected 1-64 of A-Z a-z 0-9 _ -`,
    );
  const collapseWindowMs = opts.collapseWindowMs ?? DEFAULT_COLLAPSE_WINDOW_MS;
  if (!(Number.isFinite(collapseWindowMs) && collapseWindowMs >= 0))
    throw new PolicyEngineError(
      `collapseWindowMs ${collapseWindowMs} is not usable; expected a number of milliseconds >= 0`,
    );
  const scheduler = opts.scheduler ?? asyncScheduler;

  return defer(() => {
    const multicast = <T>(name: keyof PolicyInputs, input: Observable<T>) =>
      connectable(
        input.pipe(catchError((err: unknown) => throwError(() => new PolicyInputError(name, err)))),
        { connector: () => new Subject<T>(), resetOnDisconnect: false },
      );
    const health$ = multicast('health$', inputs.health$);
    const commands$ = multicast('commands$', inputs.commands$);
    const jobs$ = multicast('jobs$', inputs.jobs$);
    const outcomes$ = multicast('outcomes$', inputs.outcomes$);
    const ctx: PolicyContext = { health$, commands$, jobs$, outcomes$, node: opts.node, scheduler };

    const candidates$ = merge(
      commandCheckpoints(ctx),
      ...set.policies.map((p) => policyCandidates(p, ctx)),
    );
    const decisions$ = candidates$.pipe(arbitrate({ scheduler, collapseWindowMs, outcomes$ }));
    return new Observable<PolicyDecision>((subscriber) => {
      const sub = decisions$.subscribe(subscriber);
      for (const input of [outcomes$, jobs$, health$, commands$]) {
        if (sub.closed) break;
        sub.add(input.connect());
      }
      return sub;
    });
  });
}
