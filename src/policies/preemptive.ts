/**
 * preemptive: a `preempt` command for a selected job checkpoints it, then stops/terminates/
 * kills it (the command's `after`, else the policy's). A `resume` command for a selected job
 * becomes a resume decision (the engine sends SIGCONT if the job is still stopped, restarts it
 * from its latest good image otherwise). Completes when commands$ completes.
 *
 * Also here: explicit `checkpoint` commands, which need no policy (trigger kind 'command').
 */
import { filter, map, mergeMap, type Observable } from 'rxjs';
import { type Candidate, checkpointCandidate, type PolicyContext } from './candidate.js';
import { jobMatcher } from './select.js';
import type { PreemptivePolicy } from './types.js';

export function preemptivePolicy(
  policy: PreemptivePolicy,
  ctx: PolicyContext,
): Observable<Candidate> {
  const matches = jobMatcher(policy.jobs);
  return ctx.commands$.pipe(
    filter((cmd) => (cmd.verb === 'preempt' || cmd.verb === 'resume') && matches(cmd.job)),
    mergeMap((cmd): Candidate[] => {
      if (cmd.verb === 'resume') {
        return [
          {
            kind: 'resume',
            request: {
              job: cmd.job,
              trigger: { policy: policy.name, kind: 'resume', eventId: cmd.id },
            },
          },
        ];
      }
      const trigger = { policy: policy.name, kind: 'preemptive', eventId: cmd.id } as const;
      return [checkpointCandidate(cmd.job, trigger, cmd.after ?? policy.after, policy.cooldownMs)];
    }),
  );
}

/** Operator `checkpoint` commands: always honoured, never cooled down. */
export function commandCheckpoints(ctx: PolicyContext): Observable<Candidate> {
  return ctx.commands$.pipe(
    filter((cmd) => cmd.verb === 'checkpoint'),
    map((cmd) =>
      checkpointCandidate(
        cmd.job,
        { policy: 'command', kind: 'command', eventId: cmd.id },
        cmd.after ?? 'continue',
        0,
      ),
    ),
  );
}
